//! The behaviour of the Python relayer 1.x test suite, on the MockProducer.

use std::collections::HashMap;
use std::time::Duration;

use relayer::{Error, Relayer, Scope};
use relayer_test::MockProducer;
use serde_json::{Value, json};
use uuid::Uuid;

fn relayer_with(mock: &MockProducer) -> Relayer {
    Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a producer is enough configuration")
}

fn is_timestamp(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|_| value.as_str().unwrap().ends_with('Z'))
}

#[test]
fn emit_sends_the_envelope_to_the_event_type_topic() {
    let mock = MockProducer::new();
    relayer_with(&mock)
        .emit("user_created", "v1", &json!({"name": "ada", "age": 36}))
        .unwrap();

    let sent = mock.json("user_created");
    assert_eq!(sent.len(), 1);
    let event = &sent[0];
    assert_eq!(event["source"], "logging");
    assert_eq!(event["event_type"], "user_created");
    assert_eq!(event["event_subtype"], "v1");
    assert_eq!(event["payload"], json!({"name": "ada", "age": 36}));
    assert!(is_timestamp(&event["timestamp"]), "{}", event["timestamp"]);
    assert!(
        event.get("request_id").is_none(),
        "no request, no request id"
    );
    assert_eq!(mock.messages("user_created")[0].key, None);
}

#[test]
fn emit_inside_a_scope_carries_the_request_id() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, Some("req-1".into()));
    scope.relayer().emit("user_created", "v1", &1).unwrap();
    assert_eq!(mock.json("user_created")[0]["request_id"], "req-1");
}

#[test]
fn emit_raw_sends_the_message_without_envelope() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    relayer
        .emit_raw("raw_topic", &json!({"anything": [1, 2, 3]}))
        .unwrap();
    relayer
        .emit_raw_with_key("raw_topic", "plain", "k")
        .unwrap();

    assert_eq!(
        mock.json("raw_topic"),
        vec![json!({"anything": [1, 2, 3]}), json!("plain")]
    );
    assert_eq!(
        mock.messages("raw_topic")[1].key.as_deref(),
        Some(&b"k"[..])
    );
}

#[test]
fn keys_are_sent_as_their_exact_bytes() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let id = Uuid::parse_str("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap();
    relayer.emit_with_key("keyed", "s", &1, "text-key").unwrap();
    relayer
        .emit_with_key("keyed", "s", &2, String::from("ünï"))
        .unwrap();
    relayer.emit_with_key("keyed", "s", &3, id).unwrap();
    relayer
        .emit_with_key("keyed", "s", &4, &[0_u8, 255, 7][..])
        .unwrap();
    relayer
        .emit_with_key("keyed", "s", &5, vec![1_u8, 2])
        .unwrap();

    let keys: Vec<Option<Vec<u8>>> = mock.messages("keyed").into_iter().map(|m| m.key).collect();
    assert_eq!(
        keys,
        vec![
            Some(b"text-key".to_vec()),
            Some("ünï".as_bytes().to_vec()),
            Some(id.as_bytes().to_vec()),
            Some(vec![0, 255, 7]),
            Some(vec![1, 2]),
        ]
    );
    assert_eq!(
        keys[2].as_ref().unwrap().len(),
        16,
        "a UUID key is its 16 raw bytes"
    );
}

#[test]
fn prefix_and_suffix_apply_to_every_topic() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .topic_prefix("pre_")
        .topic_suffix("_suf")
        .producer(mock.clone())
        .build()
        .unwrap();
    relayer.emit("event", "s", &1).unwrap();
    relayer.emit_raw("raw", &2).unwrap();
    let scope = Scope::new(&relayer, None);
    scope.finish(
        relayer::record::Outcome::Ok,
        relayer::record::RpcDetails::default(),
    );

    assert_eq!(
        mock.topics(),
        vec!["pre_event_suf", "pre_logging_suf", "pre_raw_suf"]
    );
    assert_eq!(relayer.logging_topic(), "pre_logging_suf");
    assert_eq!(mock.json("pre_event_suf")[0]["source"], "pre_logging_suf");
    assert_eq!(
        mock.json("pre_logging_suf")[0]["logging_topic"],
        "pre_logging_suf"
    );
}

#[test]
fn source_defaults_to_the_logging_topic_and_can_be_set() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .topic_prefix("p_")
        .source("billing-service")
        .producer(mock.clone())
        .build()
        .unwrap();
    relayer.emit("event", "s", &1).unwrap();
    assert_eq!(mock.json("p_event")[0]["source"], "billing-service");
    assert_eq!(relayer.source(), "billing-service");
}

#[test]
fn flush_reaches_the_producer() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    assert_eq!(mock.flushed(), 0);
    relayer.flush(Duration::from_secs(1)).unwrap();
    assert_eq!(mock.flushed(), 1);
}

#[test]
fn a_non_serializable_payload_is_a_typed_error_and_sends_nothing() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, None);
    scope.relayer().log("info", "before").unwrap();

    // JSON object keys must be strings; a map keyed by byte vectors is not JSON.
    let not_json: HashMap<Vec<u8>, u8> = HashMap::from([(vec![1], 1)]);
    let err = scope.relayer().emit("event", "s", &not_json).unwrap_err();
    assert!(matches!(err, Error::NotSerializable(_)), "{err:?}");
    assert!(
        err.to_string().contains("not serializable to JSON"),
        "{err}"
    );
    let err = scope.relayer().log("info", &not_json).unwrap_err();
    assert!(matches!(err, Error::NotSerializable(_)), "{err:?}");

    scope.relayer().log("info", "after").unwrap();
    scope.finish(
        relayer::record::Outcome::Ok,
        relayer::record::RpcDetails::default(),
    );

    assert!(mock.messages("event").is_empty(), "nothing half-sent");
    let record = &mock.json("logging")[0];
    let payloads: Vec<&Value> = record["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["payload"])
        .collect();
    assert_eq!(
        payloads,
        vec!["before", "after"],
        "the request's other lines are intact"
    );
}

#[test]
fn missing_brokers_is_a_configuration_error() {
    // Nothing in the test suite sets KAFKA_BROKERS.
    assert!(
        std::env::var(relayer::BROKERS_ENV).is_err(),
        "run without KAFKA_BROKERS"
    );
    let err = Relayer::builder("logging").build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("KAFKA_BROKERS"), "{err}");
}

#[test]
fn a_log_line_has_level_payload_and_timestamp() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, None);
    scope
        .relayer()
        .log("custom-level", &json!({"k": [true, null]}))
        .unwrap();
    scope.relayer().info("i").unwrap();
    scope.relayer().warning("w").unwrap();
    scope.relayer().error("e").unwrap();
    scope.relayer().debug("d").unwrap();
    scope.finish(
        relayer::record::Outcome::Ok,
        relayer::record::RpcDetails::default(),
    );

    let lines = mock.json("logging")[0]["lines"].as_array().unwrap().clone();
    let first = lines[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["log_level", "payload", "timestamp"]);
    assert_eq!(first["log_level"], "custom-level");
    assert_eq!(first["payload"], json!({"k": [true, null]}));
    assert!(is_timestamp(&first["timestamp"]));
    let levels: Vec<&str> = lines
        .iter()
        .map(|l| l["log_level"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels,
        vec!["custom-level", "info", "warning", "error", "debug"]
    );
}

#[test]
fn an_invalid_topic_name_is_a_typed_error() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let err = relayer.emit("no spaces allowed", "s", &1).unwrap_err();
    assert!(
        matches!(err, Error::InvalidTopic { ref topic, .. } if topic == "no spaces allowed"),
        "{err:?}"
    );
    assert!(relayer.emit_raw("", &1).is_err());
    assert!(mock.topics().is_empty());

    let err = Relayer::builder("bad/logging")
        .producer(mock)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTopic { .. }), "{err:?}");
}

#[test]
fn an_oversized_message_is_a_typed_error_and_sends_nothing() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .max_message_bytes(1_000)
        .producer(mock.clone())
        .build()
        .unwrap();
    let err = relayer.emit("big", "s", &"x".repeat(2_000)).unwrap_err();
    assert!(
        matches!(err, Error::MessageTooLarge { size, max: 1_000, .. } if size > 2_000),
        "{err:?}"
    );
    relayer.emit("big", "s", &"x".repeat(100)).unwrap();
    assert_eq!(mock.messages("big").len(), 1);
    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.dropped),
        (2, 1, 1),
        "the refusal is counted"
    );
}

#[test]
fn a_full_queue_is_a_typed_error_and_is_counted() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    mock.fail_next(1, |topic| Error::QueueFull {
        topic: topic.to_owned(),
    });
    let scope = Scope::new(&relayer, None);
    let err = scope.relayer().emit("event", "s", &1).unwrap_err();
    assert!(
        matches!(err, Error::QueueFull { ref topic } if topic == "event"),
        "{err:?}"
    );
    scope.relayer().emit("event", "s", &2).unwrap();
    scope.finish(
        relayer::record::Outcome::Ok,
        relayer::record::RpcDetails::default(),
    );

    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.dropped),
        (3, 2, 1),
        "{stats:?}"
    );
    let record = &mock.json("logging")[0];
    assert_eq!(
        record["lines"].as_array().unwrap().len(),
        1,
        "only the event that was sent is in the record"
    );
    assert_eq!(record["lines"][0]["payload"], 2);
}
