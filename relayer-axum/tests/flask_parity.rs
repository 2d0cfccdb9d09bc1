//! The Python relayer's Flask tests, ported: the same app, the same topics
//! (`test_` prefix, `_topic` suffix), the same assertions, and the record's
//! fields and lines. Served over real TCP.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Client, LOGGING, keys, lines, relayer, serve, the_record};
use http_body_util::Full;
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use serde_json::json;

fn app(relayer: Relayer) -> Router {
    Router::new()
        .route(
            "/test",
            get(|relayer: Relayer| async move {
                relayer.emit("type", "subtype", "payload").unwrap();
                relayer.log("info", "message").unwrap();
                "ok"
            }),
        )
        .route(
            "/test_raw",
            get(|relayer: Relayer| async move {
                relayer.emit_raw("raw", "message").unwrap();
                "ok"
            }),
        )
        .route(
            "/test_flush",
            get(|relayer: Relayer| async move {
                relayer.log("info", "message").unwrap();
                relayer.flush(Duration::from_secs(1)).unwrap();
                "ok"
            }),
        )
        .route("/lines", get(many_lines))
        .layer(RelayerLayer::new(relayer))
}

/// Events and log lines from the handler, from code it calls, and from a
/// task it spawns.
async fn many_lines(relayer: Relayer) -> &'static str {
    relayer.emit("order", "created", &json!({"id": 1})).unwrap();
    relayer.info("after the first event").unwrap();
    third_party_code();
    let handle = relayer.clone();
    tokio::spawn(async move { handle.log("debug", "from a spawned task").unwrap() })
        .await
        .unwrap();
    relayer
        .emit_with_key("order", "shipped", &json!({"id": 1}), "order-1")
        .unwrap();
    relayer.error(&json!({"code": 7})).unwrap();
    "ok"
}

/// Code that is not handed a relayer.
fn third_party_code() {
    Relayer::current()
        .expect("the request's relayer is current")
        .warning(&json!({"deep": true}))
        .unwrap();
}

async fn start() -> (relayer_test::MockProducer, Client) {
    let (mock, relayer) = relayer();
    let addr = serve(app(relayer)).await;
    (mock, Client::new(addr))
}

#[tokio::test]
async fn request_works_fine() {
    let (_mock, client) = start().await;
    let reply = client.get("/test").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "ok");
}

#[tokio::test]
async fn emitted_messages_go_to_the_prefixed_and_suffixed_topic() {
    let (mock, client) = start().await;
    client.get("/test").await;
    let record = the_record(&mock).await;

    let messages = mock.json("test_type_topic");
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["event_type"], "type");
    assert_eq!(message["event_subtype"], "subtype");
    assert_eq!(message["payload"], "payload");
    assert_eq!(message["source"], LOGGING);
    assert_eq!(message["request_id"], record["request_id"]);
    assert_eq!(mock.messages("test_type_topic")[0].key, None);
}

#[tokio::test]
async fn emitted_raw_messages_have_no_envelope_and_are_kept_in_the_record() {
    let (mock, client) = start().await;
    client.get("/test_raw").await;
    let record = the_record(&mock).await;

    assert_eq!(mock.json("test_raw_topic"), [json!("message")]);
    assert_eq!(
        lines(&record),
        &[json!("message")],
        "as the Python relayer keeps it"
    );
}

#[tokio::test]
async fn flush_reaches_the_producer() {
    let (mock, client) = start().await;
    client.get("/test_flush").await;
    the_record(&mock).await;
    assert_eq!(mock.flushed(), 1);
}

#[tokio::test]
async fn x_request_id_is_kept_on_the_record_the_events_and_the_response() {
    let (mock, client) = start().await;
    let request = client
        .request("GET", "/test")
        .header("X-Request-ID", "abc-123")
        .body(Full::default())
        .unwrap();
    let reply = client.send(request).await;
    let record = the_record(&mock).await;

    assert_eq!(reply.request_id(), "abc-123");
    assert_eq!(record["request_id"], "abc-123");
    assert_eq!(mock.json("test_type_topic")[0]["request_id"], "abc-123");
    assert_eq!(lines(&record)[0]["request_id"], "abc-123");
}

#[tokio::test]
async fn a_missing_request_id_is_a_new_uuid_on_the_record_and_the_response() {
    let (mock, client) = start().await;
    let first = client.get("/test").await;
    let second = client.get("/test").await;
    let records = common::records(&mock, 2).await;

    let id = first.request_id();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_ne!(id, second.request_id());
    assert_eq!(records[0]["request_id"], id);
    assert_eq!(records[1]["request_id"], second.request_id());
}

#[tokio::test]
async fn x_forwarded_for_and_x_real_ip_are_recorded() {
    let (mock, client) = start().await;
    let request = client
        .request("GET", "/test")
        .header("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
        .header("X-Real-IP", "203.0.113.7")
        .body(Full::default())
        .unwrap();
    client.send(request).await;
    let record = the_record(&mock).await;

    assert_eq!(record["x_forwarded_for"], "203.0.113.7, 10.0.0.1");
    assert_eq!(record["remote_addr"], "203.0.113.7");
}

#[tokio::test]
async fn every_record_field_is_present_with_its_value() {
    let (mock, client) = start().await;
    let request = client
        .request("GET", "/test?a=1&b=two")
        .header("User-Agent", "parity-test/1.0")
        .header("X-Request-ID", "fields-1")
        .body(Full::default())
        .unwrap();
    client.send(request).await;
    let record = the_record(&mock).await;

    assert_eq!(
        keys(&record),
        [
            "content_length",
            "date",
            "lines",
            "logging_topic",
            "method",
            "outcome",
            "path",
            "query_string",
            "remote_addr",
            "request_bytes",
            "request_id",
            "request_time",
            "route",
            "source",
            "span_id",
            "status",
            "trace_id",
            "user_agent",
            "x_forwarded_for",
        ]
    );
    assert_eq!(record["source"], LOGGING);
    assert_eq!(record["logging_topic"], LOGGING);
    let date = record["date"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
    assert!(date.ends_with('Z'), "{date}");
    assert_eq!(record["user_agent"], "parity-test/1.0");
    assert_eq!(record["method"], "GET");
    assert_eq!(record["path"], "/test");
    assert_eq!(record["query_string"], "a=1&b=two");
    assert_eq!(record["remote_addr"], "127.0.0.1");
    assert_eq!(record["x_forwarded_for"], serde_json::Value::Null);
    assert_eq!(record["request_id"], "fields-1");
    assert_eq!(record["status"], 200);
    assert_eq!(record["content_length"], 2);
    assert_eq!(record["request_bytes"], 0);
    assert!(record["request_time"].as_f64().unwrap() >= 0.0);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(lines(&record).len(), 2);
}

#[tokio::test]
async fn absent_query_string_and_headers_are_null() {
    let (mock, client) = start().await;
    client.get("/test").await;
    let record = the_record(&mock).await;

    assert_eq!(record["query_string"], serde_json::Value::Null);
    assert_eq!(record["user_agent"], serde_json::Value::Null);
    assert_eq!(record["x_forwarded_for"], serde_json::Value::Null);
}

#[tokio::test]
async fn lines_are_in_call_order_with_their_shapes() {
    let (mock, client) = start().await;
    client.get("/lines").await;
    let record = the_record(&mock).await;
    let lines = lines(&record);

    let event_keys = [
        "event_subtype",
        "event_type",
        "payload",
        "request_id",
        "source",
        "timestamp",
    ];
    let log_keys = ["log_level", "payload", "timestamp"];
    let shapes: Vec<Vec<&str>> = lines.iter().map(keys).collect();
    assert_eq!(
        shapes,
        [
            &event_keys[..],
            &log_keys,
            &log_keys,
            &log_keys,
            &event_keys,
            &log_keys
        ]
    );

    assert_eq!(lines[0]["event_subtype"], "created");
    assert_eq!(lines[0]["payload"], json!({"id": 1}));
    assert_eq!(lines[1]["log_level"], "info");
    assert_eq!(lines[1]["payload"], "after the first event");
    assert_eq!(lines[2]["log_level"], "warning");
    assert_eq!(lines[2]["payload"], json!({"deep": true}));
    assert_eq!(lines[3]["log_level"], "debug");
    assert_eq!(lines[3]["payload"], "from a spawned task");
    assert_eq!(lines[4]["event_subtype"], "shipped");
    assert_eq!(lines[5]["log_level"], "error");
    assert_eq!(lines[5]["payload"], json!({"code": 7}));

    // Timestamps go forward from the request's start.
    let mut previous = record["date"].as_str().unwrap();
    for line in lines {
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(previous <= timestamp, "{previous} > {timestamp}");
        previous = timestamp;
    }

    // The events went to their topic too, keyed when asked.
    let sent = mock.messages("test_order_topic");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].key, None);
    assert_eq!(sent[1].key_str(), Some("order-1"));
}

#[tokio::test]
async fn client_errors_are_recorded_with_their_status() {
    let (mock, client) = start().await;
    let reply = client.get("/nowhere").await;
    let record = the_record(&mock).await;

    assert_eq!(reply.status, 404);
    assert_eq!(record["status"], 404);
    assert_eq!(record["path"], "/nowhere");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["request_id"], reply.request_id());
}
