//! The standard form does not move: the records of an HTTP request over
//! real TCP (a traceparent, a user agent, a query, a field, a log line, an
//! event, a 404), of an RPC call that failed, and of a record too large
//! for the maximum message size are byte for byte what relayer wrote
//! before the ECS and OTLP forms came (`tests/fixtures/standard-records.jsonl`,
//! written by this test on that code with `RELAYER_WRITE_GOLDEN=1`), once
//! the values of the clock and of the random span ids are replaced by
//! placeholders. No resource is configured, so none is written.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::{Value, json};

const GOLDEN: &str = "tests/fixtures/standard-records.jsonl";

async fn orders(relayer: Relayer, Path(id): Path<String>) -> (StatusCode, &'static str) {
    relayer
        .field("customer", &json!({"id": "c-42", "tier": 2}))
        .unwrap();
    relayer
        .info(&json!({"looked_up": id, "attempts": 3, "ratio": 0.5}))
        .unwrap();
    relayer
        .emit("order_lookups", "missed", &json!({ "id": id }))
        .unwrap();
    (StatusCode::NOT_FOUND, "no such order")
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

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
    let app = Router::new()
        .route("/orders/{id}", get(orders))
        .layer(RelayerLayer::new(relayer.clone()));
    let addr = serve(app).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{addr}/orders/missing?page=2&sort=new"))
        .header("x-request-id", "req-404")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("user-agent", "orders-client/2.1")
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 404);
    response.into_body().collect().await.unwrap();
    mock.wait_for("logging", 1, std::time::Duration::from_secs(10))
        .await;

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
