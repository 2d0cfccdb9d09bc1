//! The real rdkafka producer against a real Kafka-compatible broker.
//!
//! Runs when `RELAYER_TEST_BROKERS` holds a bootstrap address, e.g.
//! `RELAYER_TEST_BROKERS=localhost:9092 cargo test --test real_broker`;
//! otherwise every test prints a notice and passes without checking anything.
//! Topics are created by the tests, with names unique to the run, because
//! such a broker (like most production clusters) does not create topics on
//! first use.

#[path = "support/skip.rs"]
mod skip;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::Consumer;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn brokers() -> Option<String> {
    let brokers = std::env::var("RELAYER_TEST_BROKERS")
        .ok()
        .filter(|b| !b.is_empty());
    if brokers.is_none() {
        skip::skip(
            "RELAYER_TEST_BROKERS is not set (set it to a Kafka-compatible broker, e.g. localhost:9092)",
        );
    }
    brokers
}

/// A topic prefix no other run of the suite uses.
fn unique_prefix() -> String {
    format!("rt{}_", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn create_topics(brokers: &str, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(admin.create_topics(&new_topics, &options))
        .unwrap();
    for result in results {
        result.unwrap_or_else(|(topic, err)| panic!("could not create {topic}: {err}"));
    }
}

#[test]
fn events_and_records_reach_a_real_broker_and_read_back_field_by_field() {
    let Some(brokers) = brokers() else { return };
    let prefix = unique_prefix();
    create_topics(
        &brokers,
        &[format!("{prefix}order"), format!("{prefix}logging")],
    );
    let relayer = Relayer::builder("logging")
        .brokers(&brokers)
        .topic_prefix(&prefix)
        .build()
        .unwrap();

    let scope = Scope::new(&relayer, Some("real-1".into()));
    scope
        .relayer()
        .emit_with_key(
            "order",
            "created",
            &json!({"id": 7, "total": 12.5}),
            "order-7",
        )
        .unwrap();
    scope
        .relayer()
        .log("info", &json!({"step": "saved"}))
        .unwrap();
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "orders::create",
            service_time: 1.5,
            error: None,
        },
    );
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.failed),
        (2, 2, 0),
        "{stats:?}"
    );

    let consumer = Consumer::new(&brokers).unwrap();
    let event = consumer
        .read(&format!("{prefix}order"), 1, TIMEOUT)
        .unwrap()
        .remove(0);
    assert_eq!(event.key.as_deref(), Some(&b"order-7"[..]));
    let event = event.json();
    assert_eq!(event["source"], format!("{prefix}logging"));
    assert_eq!(event["event_type"], "order");
    assert_eq!(event["event_subtype"], "created");
    assert_eq!(event["payload"], json!({"id": 7, "total": 12.5}));
    assert_eq!(event["request_id"], "real-1");

    let record = consumer
        .read(&format!("{prefix}logging"), 1, TIMEOUT)
        .unwrap()
        .remove(0)
        .json();
    assert_eq!(record["source"], format!("{prefix}logging"));
    assert_eq!(record["logging_topic"], format!("{prefix}logging"));
    assert_eq!(record["request_id"], "real-1");
    assert_eq!(record["service"], "orders::create");
    assert_eq!(record["service_time"], 1.5);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["error"], serde_json::Value::Null);
    assert_eq!(record["lines"][0], event);
    assert_eq!(record["lines"][1]["payload"], json!({"step": "saved"}));
}

#[test]
fn a_topic_the_broker_does_not_have_is_a_counted_failed_delivery() {
    let Some(brokers) = brokers() else { return };
    let prefix = unique_prefix();
    create_topics(&brokers, &[format!("{prefix}known")]);
    let relayer = Relayer::builder("logging")
        .brokers(&brokers)
        .topic_prefix(&prefix)
        // Give up on a missing topic after 2 s instead of librdkafka's 30 s.
        .option("topic.metadata.propagation.max.ms", "2000")
        .build()
        .unwrap();

    relayer.emit("unknown", "s", &1).unwrap();
    relayer.emit("known", "s", &2).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.failed),
        (2, 1, 1),
        "{stats:?}"
    );
    let unknown = format!("{prefix}unknown");
    assert!(stats.last_errors.contains_key(&unknown), "{stats:?}");
    let received = Consumer::new(&brokers)
        .unwrap()
        .read(&format!("{prefix}known"), 1, TIMEOUT)
        .unwrap();
    assert_eq!(
        received[0].json()["payload"],
        2,
        "the other message is not lost"
    );
}
