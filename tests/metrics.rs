//! With the `metrics` feature, delivery figures go through the `metrics`
//! facade, labelled per relayer (run with `cargo test --features metrics
//! --test metrics`).

use std::collections::HashMap;
use std::time::Duration;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use relayer::producer::DeliveryCounters;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Error, Relayer, Scope};
use relayer_test::{EmbeddedBroker, MockProducer};

/// What a snapshot holds of one metric.
struct Metric {
    unit: Option<Unit>,
    value: DebugValue,
}

/// Every metric `snapshotter` has seen, by name and labels, e.g.
/// `relayer_queue_depth{client_id=relayer}`. A snapshot takes the values
/// it reads: the next one holds the changes since.
fn metrics(snapshotter: &Snapshotter) -> HashMap<String, Metric> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, _, value)| {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.key().name(), labels.join(","));
            (name, Metric { unit, value })
        })
        .collect()
}

fn counter(metrics: &HashMap<String, Metric>, name: &str) -> u64 {
    match metrics.get(name).map(|metric| &metric.value) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}; have {:?}", metrics.keys()),
    }
}

fn gauge(metrics: &HashMap<String, Metric>, name: &str) -> f64 {
    match metrics.get(name).map(|metric| &metric.value) {
        Some(DebugValue::Gauge(value)) => value.into_inner(),
        other => panic!("{name}: {other:?}; have {:?}", metrics.keys()),
    }
}

#[test]
fn counters_and_queue_depth_follow_the_stats() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    // The handles are registered when the producer is created: with the
    // recorder of that moment.
    let stats = metrics::with_local_recorder(&recorder, || {
        let mock = MockProducer::with_client_id("orders-api");
        let relayer = Relayer::builder("logging")
            .producer(mock.clone())
            .build()
            .unwrap();
        let scope = Scope::new(&relayer, None);
        scope.relayer().emit("order", "created", &1).unwrap();
        mock.fail_next(1, |topic| Error::QueueFull {
            topic: topic.to_owned(),
        });
        assert!(scope.relayer().emit("order", "created", &2).is_err());
        scope.finish(Outcome::Ok, RpcDetails::default());
        relayer.stats()
    });

    let metrics = metrics(&snapshotter);
    assert_eq!((stats.produced, stats.delivered, stats.dropped), (3, 2, 1));
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_produced_total{client_id=orders-api}"
        ),
        stats.produced
    );
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_delivered_total{client_id=orders-api}"
        ),
        stats.delivered
    );
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_dropped_total{client_id=orders-api,topic=order}"
        ),
        stats.dropped
    );
    assert_eq!(
        gauge(&metrics, "relayer_queue_depth{client_id=orders-api}"),
        0.0,
        "all delivered"
    );
    let unit = |name: &str| metrics[name].unit;
    assert_eq!(
        unit("relayer_messages_produced_total{client_id=orders-api}"),
        Some(Unit::Count)
    );
    assert_eq!(
        unit("relayer_spool_bytes{client_id=orders-api}"),
        Some(Unit::Bytes)
    );
}

#[test]
fn failures_and_drops_are_counted_per_topic() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    let stats = metrics::with_local_recorder(&recorder, || {
        let counters = DeliveryCounters::new("billing");
        for _ in 0..4 {
            counters.produced();
        }
        counters.failed("invoices", &"broker down");
        counters.failed("invoices", &"broker down");
        counters.failed("payments", &"too large");
        counters.delivered();
        counters.dropped("invoices");
        counters.snapshot()
    });

    let metrics = metrics(&snapshotter);
    assert_eq!((stats.produced, stats.failed, stats.dropped), (5, 3, 1));
    let failed = |topic: &str| {
        counter(
            &metrics,
            &format!("relayer_messages_failed_total{{client_id=billing,topic={topic}}}"),
        )
    };
    assert_eq!((failed("invoices"), failed("payments")), (2, 1));
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_dropped_total{client_id=billing,topic=invoices}"
        ),
        1
    );
    assert!(
        !metrics.contains_key("relayer_messages_dropped_total{client_id=billing,topic=payments}"),
        "a topic is labelled at its first count"
    );
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_produced_total{client_id=billing}"
        ),
        5
    );
    assert_eq!(
        gauge(&metrics, "relayer_queue_depth{client_id=billing}"),
        0.0
    );
}

#[test]
fn sampled_out_records_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    let stats = metrics::with_local_recorder(&recorder, || {
        let relayer = Relayer::builder("logging")
            .producer(MockProducer::with_client_id("sampled"))
            .sampling(relayer::Sampling::ratio(0.0))
            .build()
            .unwrap();
        for _ in 0..5 {
            Scope::new(&relayer, None).finish(Outcome::Ok, RpcDetails::default());
        }
        Scope::new(&relayer, None).finish(Outcome::Error, RpcDetails::default());
        relayer.stats()
    });

    assert_eq!(
        (stats.sampled_out, stats.produced),
        (5, 1),
        "the error is kept"
    );
    let metrics = metrics(&snapshotter);
    assert_eq!(
        counter(
            &metrics,
            "relayer_records_sampled_out_total{client_id=sampled}"
        ),
        5
    );
}

#[test]
fn two_relayers_have_their_own_gauges() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();

    // Delivery reports come on librdkafka's threads: they count with the
    // handles registered here, with this thread's recorder.
    let (orders, billing) = metrics::with_local_recorder(&recorder, || {
        let build = |client_id: &str| {
            Relayer::builder("logging")
                .brokers(broker.bootstrap_servers())
                .option("client.id", client_id)
                .build()
                .unwrap()
        };
        (build("orders-api"), build("billing"))
    });
    broker.down().unwrap();
    for n in 0..3 {
        orders.emit("order", "created", &n).unwrap();
    }
    for n in 0..5 {
        billing.emit("order", "created", &n).unwrap();
    }
    let during = metrics(&snapshotter);
    assert_eq!(
        gauge(&during, "relayer_queue_depth{client_id=orders-api}"),
        3.0
    );
    assert_eq!(
        gauge(&during, "relayer_queue_depth{client_id=billing}"),
        5.0
    );
    assert_eq!(orders.stats().queued, 3);

    broker.up().unwrap();
    orders.flush(Duration::from_secs(60)).unwrap();
    billing.flush(Duration::from_secs(60)).unwrap();
    let after = metrics(&snapshotter);
    for (client_id, sent) in [("orders-api", 3), ("billing", 5)] {
        let depth = format!("relayer_queue_depth{{client_id={client_id}}}");
        assert_eq!(gauge(&during, &depth) + gauge(&after, &depth), 0.0);
        let delivered = format!("relayer_messages_delivered_total{{client_id={client_id}}}");
        assert_eq!(counter(&after, &delivered), sent);
    }
}

#[test]
fn spool_depth_and_bytes_follow_the_stats() {
    // The spool thread counts too: a recorder for every thread.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("queue.buffering.max.messages", "10")
        .spool(dir.path(), 1 << 30)
        .build()
        .unwrap();
    broker.down().unwrap();
    for n in 0..100 {
        relayer.emit("order", "created", &n).unwrap();
    }
    // The spool's writer thread writes them in the background: wait until
    // it is done (the figures stop moving) before the one snapshot.
    let mut stats = relayer.stats();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = relayer.stats();
        if now == stats {
            break;
        }
        stats = now;
    }
    let during = metrics(&snapshotter);
    assert_eq!(stats.spooled, 90, "{stats:?}");
    assert_eq!(
        gauge(&during, "relayer_spool_depth{client_id=relayer}"),
        90.0
    );
    assert_eq!(
        gauge(&during, "relayer_spool_bytes{client_id=relayer}"),
        stats.spool_bytes as f64
    );
    assert_eq!(
        gauge(&during, "relayer_queue_depth{client_id=relayer}"),
        100.0
    );

    broker.up().unwrap();
    relayer.flush(Duration::from_secs(60)).unwrap();
    let after = metrics(&snapshotter);
    for name in [
        "relayer_spool_depth{client_id=relayer}",
        "relayer_spool_bytes{client_id=relayer}",
        "relayer_queue_depth{client_id=relayer}",
    ] {
        assert_eq!(gauge(&during, name) + gauge(&after, name), 0.0, "{name}");
    }
}

#[test]
fn each_of_several_sinks_is_labelled_sink() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.jsonl");

    let stats = metrics::with_local_recorder(&recorder, || {
        let relayer = Relayer::builder("logging")
            // Nobody listens: the Kafka copy stays queued.
            .brokers("127.0.0.1:9")
            .option("client.id", "orders-api")
            .sink(relayer::sink::Sink::kafka())
            .sink(relayer::sink::Sink::file(&path))
            .build()
            .unwrap();
        relayer.emit("order", "created", &1).unwrap();
        let file = format!("file:{}", path.display());
        while relayer.stats().sinks[&file].delivered == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let stats = relayer.stats();
        relayer.shutdown(Duration::ZERO);
        stats
    });

    let metrics = metrics(&snapshotter);
    let file = format!("file:{}", path.display());
    assert_eq!(
        (stats.sinks["kafka"].queued, stats.sinks[&file].delivered),
        (1, 1)
    );
    assert_eq!(
        counter(
            &metrics,
            "relayer_messages_produced_total{client_id=orders-api,sink=kafka}"
        ),
        1
    );
    assert_eq!(
        counter(
            &metrics,
            &format!("relayer_messages_delivered_total{{client_id=orders-api,sink={file}}}")
        ),
        1
    );
    assert!(
        !metrics.contains_key("relayer_messages_produced_total{client_id=orders-api}"),
        "no unlabelled figures beside the sinks': {:?}",
        metrics.keys()
    );
}
