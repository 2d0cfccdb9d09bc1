//! The real rdkafka producer against librdkafka's mock cluster: produce,
//! consume back with an independent consumer, compare bytes and counts.

use std::time::Duration;

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::EmbeddedBroker;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn relayer_for(broker: &EmbeddedBroker) -> Relayer {
    Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .topic_prefix("it_")
        .build()
        .unwrap()
}

#[test]
fn events_and_records_arrive_with_their_json_and_key_bytes() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("it_order", 1).unwrap();
    broker.create_topic("it_logging", 1).unwrap();
    let relayer = relayer_for(&broker);
    let id = uuid::Uuid::new_v4();

    let scope = Scope::new(&relayer, Some("req-42".into()));
    scope
        .relayer()
        .emit_with_key("order", "created", &json!({"id": 1}), "order-1")
        .unwrap();
    scope
        .relayer()
        .emit_with_key("order", "paid", &json!({"id": 1}), id)
        .unwrap();
    scope
        .relayer()
        .emit("order", "viewed", &json!({"id": 1}))
        .unwrap();
    scope.relayer().log("info", "done").unwrap();
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "orders::create",
            ..Default::default()
        },
    );
    relayer.flush(TIMEOUT).unwrap();

    let consumer = broker.consumer().unwrap();
    let events = consumer.read("it_order", 3, TIMEOUT).unwrap();
    assert_eq!(events[0].key.as_deref(), Some(&b"order-1"[..]));
    assert_eq!(events[1].key.as_deref(), Some(&id.as_bytes()[..]));
    assert_eq!(events[2].key, None);
    let subtypes: Vec<_> = events
        .iter()
        .map(|e| e.json()["event_subtype"].clone())
        .collect();
    assert_eq!(
        subtypes,
        vec!["created", "paid", "viewed"],
        "one partition keeps the order"
    );
    assert!(events.iter().all(|e| e.json()["request_id"] == "req-42"));

    let record = consumer.read("it_logging", 1, TIMEOUT).unwrap()[0].json();
    assert_eq!(record["service"], "orders::create");
    assert_eq!(record["logging_topic"], "it_logging");
    assert_eq!(record["lines"].as_array().unwrap().len(), 4);
    assert_eq!(
        record["lines"][0],
        events[0].json(),
        "the record embeds the event as sent"
    );
}

#[test]
fn delivery_stats_match_what_the_broker_received() {
    let broker = EmbeddedBroker::start().unwrap();
    let relayer = relayer_for(&broker);
    for i in 0..200 {
        relayer.emit("counted", "s", &i).unwrap();
    }
    relayer.flush(TIMEOUT).unwrap();

    let stats = relayer.stats();
    assert_eq!(stats.produced, 200, "{stats:?}");
    assert_eq!(stats.delivered, 200, "{stats:?}");
    assert_eq!(
        (stats.failed, stats.dropped, stats.queued),
        (0, 0, 0),
        "{stats:?}"
    );
    let received = broker
        .consumer()
        .unwrap()
        .read("it_counted", 200, TIMEOUT)
        .unwrap();
    let mut payloads: Vec<i64> = received
        .iter()
        .map(|m| m.json()["payload"].as_i64().unwrap())
        .collect();
    payloads.sort();
    assert_eq!(
        payloads,
        (0..200).collect::<Vec<_>>(),
        "each message exactly once"
    );
}

#[test]
fn a_flush_with_the_broker_down_times_out_and_delivers_after_recovery() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("it_outage", 1).unwrap();
    let relayer = relayer_for(&broker);
    relayer.emit("outage", "s", &"warm-up").unwrap();
    relayer.flush(TIMEOUT).unwrap();

    broker.down().unwrap();
    relayer.emit("outage", "s", &"queued while down").unwrap();
    let err = relayer.flush(Duration::from_millis(500)).unwrap_err();
    assert!(
        matches!(err, relayer::Error::FlushTimeout { pending: 1, .. }),
        "{err:?}"
    );
    assert_eq!(relayer.stats().queued, 1);

    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.failed),
        (2, 2, 0),
        "{stats:?}"
    );
    let received = broker
        .consumer()
        .unwrap()
        .read("it_outage", 2, TIMEOUT)
        .unwrap();
    assert_eq!(received[1].json()["payload"], "queued while down");
}
