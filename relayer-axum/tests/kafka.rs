//! Through the real rdkafka producer to the embedded broker (librdkafka's
//! mock cluster on 127.0.0.1), read back with a real Kafka consumer: what a
//! log pipeline would see.

mod common;

use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use common::{Client, serve};
use http_body_util::Full;
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use relayer_test::EmbeddedBroker;
use serde_json::{Value, json};

async fn create(relayer: Relayer, Json(thing): Json<Value>) -> Json<Value> {
    relayer
        .emit_with_key("thing", "created", &thing, "thing-1")
        .unwrap();
    relayer.info("created a thing").unwrap();
    Json(json!({ "created": thing }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_reaches_kafka_and_reads_back() {
    let broker = EmbeddedBroker::start().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .topic_prefix("it_")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/things", post(create))
        .layer(RelayerLayer::new(relayer.clone()).redact_query_param("token"));
    let client = Client::new(serve(app).await);

    let request = client
        .request("POST", "/things?token=s3cret")
        .header("content-type", "application/json")
        .header("x-request-id", "kafka-1")
        .body(Full::from(r#"{"name":"chair"}"#))
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.request_id(), "kafka-1");

    // The record was queued when the body ended; wait for its delivery.
    let flushed = relayer.clone();
    tokio::task::spawn_blocking(move || flushed.flush(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    let servers = broker.bootstrap_servers();
    let (records, events) = tokio::task::spawn_blocking(move || {
        let consumer = relayer_test::Consumer::new(&servers).unwrap();
        let records = consumer
            .read("it_logging", 1, Duration::from_secs(20))
            .unwrap();
        let events = consumer
            .read("it_thing", 1, Duration::from_secs(20))
            .unwrap();
        (records, events)
    })
    .await
    .unwrap();

    assert_eq!(records[0].key, None);
    let record = records[0].json();
    assert_eq!(record["request_id"], "kafka-1");
    assert_eq!(record["logging_topic"], "it_logging");
    assert_eq!(record["method"], "POST");
    assert_eq!(record["path"], "/things");
    assert_eq!(record["query_string"], "token=[redacted]");
    assert_eq!(record["status"], 200);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["remote_addr"], "127.0.0.1");
    assert_eq!(record["content_length"], reply.body.len());
    let lines = record["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["payload"], json!({"name": "chair"}));
    assert_eq!(lines[1]["payload"], "created a thing");

    assert_eq!(events[0].key_str(), Some("thing-1"));
    assert_eq!(events[0].json()["request_id"], "kafka-1");
    assert_eq!(relayer.stats().delivered, 2);
}
