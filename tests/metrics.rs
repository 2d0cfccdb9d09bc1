//! With the `metrics` feature, delivery figures go through the `metrics`
//! facade (run with `cargo test --features metrics --test metrics`).

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use relayer::record::{Outcome, RpcDetails};
use relayer::{Error, Relayer, Scope};
use relayer_test::MockProducer;

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
