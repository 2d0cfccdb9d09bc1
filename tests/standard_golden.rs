//! The standard form does not move: the records of an HTTP request over
//! real TCP (a traceparent, a user agent, a query, a field, a log line, an
//! event, a 404), of an RPC call that failed, and of a record too large
//! for the maximum message size are byte for byte what relayer wrote
//! before the ECS and OTLP forms came (`tests/fixtures/standard-records.jsonl`,
//! written by this test on that code with `RELAYER_WRITE_GOLDEN=1`), once
//! the values of the clock and of the random span ids are replaced by
//! placeholders. No resource is configured, so none is written.

#[path = "support/orders.rs"]
mod orders;

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::MockProducer;
use serde_json::Value;

const GOLDEN: &str = "tests/fixtures/standard-records.jsonl";

/// The record's JSON with what the clock and chance decide replaced by
/// placeholders: `date`, `span_id`, a new trace's id, the times, the
/// lines' timestamps.
fn normalized(raw: &[u8]) -> String {
    let mut text = String::from_utf8(raw.to_vec()).unwrap();
    let record: Value = serde_json::from_slice(raw).unwrap();
    for key in ["request_time", "service_time"] {
        // The number as written: serde_json does not read floats back
        // to the same digits.
        let field = format!("\"{key}\":");
        if let Some(start) = text.find(&field).map(|at| at + field.len()) {
            let end = start + text[start..].find([',', '}']).unwrap();
            text.replace_range(start..end, &format!("\"<{key}>\""));
        }
    }
    let mut replace = |value: &Value, placeholder: &str| {
        if !value.is_null() {
            let json = value.to_string();
            assert!(text.contains(&json), "{json} in {text}");
            text = text.replace(&json, placeholder);
        }
    };
    replace(&record["date"], "\"<date>\"");
    replace(&record["span_id"], "\"<span_id>\"");
    if record.get("parent_span_id").is_none() {
        // A new trace: a random id.
        replace(&record["trace_id"], "\"<trace_id>\"");
    }
    for line in record["lines"].as_array().unwrap() {
        replace(&line["timestamp"], "\"<timestamp>\"");
    }
    text
}

#[tokio::test]
async fn the_standard_form_is_byte_identical_to_before() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    orders::lookup_missing_order(relayer.clone(), &mock).await;

    let scope = Scope::new(&relayer, Some("rpc-1".into()));
    scope.relayer().warning("card declined").unwrap();
    scope.finish(
        Outcome::Error,
        RpcDetails {
            service: "Greeter::say_hello",
            service_time: 1.5,
            error: Some("no greeting today"),
        },
    );

    let small = Relayer::builder("logging")
        .producer(mock.clone())
        .max_message_bytes(400)
        .build()
        .unwrap();
    let scope = Scope::new(&small, Some("big-1".into()));
    scope.relayer().field("blob", &"x".repeat(500)).unwrap();
    scope.relayer().info("kept?").unwrap();
    scope.finish(Outcome::Ok, RpcDetails::default());

    let records: Vec<String> = mock
        .messages("logging")
        .iter()
        .map(|message| normalized(&message.value))
        .collect();
    assert_eq!(records.len(), 3);
    let produced = records.join("\n") + "\n";
    if std::env::var_os("RELAYER_WRITE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &produced).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    for (produced, golden) in produced.lines().zip(golden.lines()) {
        assert_eq!(produced, golden);
    }
    assert_eq!(produced, golden);
}
