//! With the `metrics` feature, delivery figures go through the `metrics`
//! facade (run with `cargo test --features metrics --test metrics`).

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use relayer::record::{Outcome, RpcDetails};
use relayer::{Error, Relayer, Scope};
use relayer_test::{EmbeddedBroker, MockProducer};

#[test]
fn counters_and_queue_depth_follow_the_stats() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mock = MockProducer::new();

    let stats = metrics::with_local_recorder(&recorder, || {
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

    let values: HashMap<String, DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
        .collect();
    let counter = |name: &str| match values.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter("relayer_messages_produced_total"), stats.produced);
    assert_eq!(counter("relayer_messages_delivered_total"), stats.delivered);
    assert_eq!(counter("relayer_messages_dropped_total"), stats.dropped);
    assert_eq!((stats.produced, stats.delivered, stats.dropped), (3, 2, 1));
    match values.get("relayer_queue_depth") {
        Some(DebugValue::Gauge(depth)) => assert_eq!(depth.into_inner(), 0.0, "all delivered"),
        other => panic!("relayer_queue_depth: {other:?}"),
    }
}

#[test]
fn sampled_out_records_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mock = MockProducer::new();

    let stats = metrics::with_local_recorder(&recorder, || {
        let relayer = Relayer::builder("logging")
            .producer(mock.clone())
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
    let sampled_out = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == "relayer_records_sampled_out_total")
        .map(|(.., value)| value);
    assert_eq!(sampled_out, Some(DebugValue::Counter(5)));
}

/// The values of every metric `snapshotter` has seen, by name.
fn values(snapshotter: &metrics_util::debugging::Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
        .collect()
}

fn gauge(values: &HashMap<String, DebugValue>, name: &str) -> f64 {
    match values.get(name) {
        Some(DebugValue::Gauge(value)) => value.into_inner(),
        other => panic!("{name}: {other:?}"),
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
    let stats = relayer.stats();
    let during = values(&snapshotter);
    assert_eq!(stats.spooled, 90, "{stats:?}");
    assert_eq!(gauge(&during, "relayer_spool_depth"), 90.0);
    assert_eq!(
        gauge(&during, "relayer_spool_bytes"),
        stats.spool_bytes as f64
    );
    assert_eq!(gauge(&during, "relayer_queue_depth"), 100.0);

    broker.up().unwrap();
    relayer.flush(Duration::from_secs(60)).unwrap();
    // A snapshot takes the values it reads: the second holds the changes.
    let after = values(&snapshotter);
    for name in [
        "relayer_spool_depth",
        "relayer_spool_bytes",
        "relayer_queue_depth",
    ] {
        assert_eq!(gauge(&during, name) + gauge(&after, name), 0.0, "{name}");
    }
}
