//! A request that one of axum's extractors refuses before the handler runs
//! (a JSON body without a required field): what its record says. The
//! status is the rejection's and the outcome is `ok`, since the request
//! completed; the reason reaches the record only where the application
//! asks for it: a captured response body, or axum's `axum::rejection`
//! events let through the tracing bridge's filter.
//!
//! Every test installs its own subscriber for its own thread
//! (`set_default`); `#[tokio::test]` runs on the test's thread.

#![cfg(feature = "tracing")]

use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use http::Request;
use relayer::{Relayer, TracingBridge};
use relayer_axum::RelayerLayer;
use relayer_test::{MockProducer, Record};
use serde::Deserialize;
use tower::ServiceExt;
use tracing::subscriber::set_default;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// What serde says of the body below, in axum's rejection.
const REASON: &str = "missing field `name`";

#[derive(Deserialize)]
struct NewThing {
    name: String,
}

async fn create(relayer: Relayer, Json(thing): Json<NewThing>) -> String {
    let _ = relayer.info("created a thing");
    thing.name
}

/// Sends `POST /things` with a body the `Json<NewThing>` extractor refuses,
/// reads the whole response, and returns its status and the record.
async fn refused(layer: RelayerLayer, mock: &MockProducer) -> (u16, String, Record) {
    let app = Router::new().route("/things", post(create)).layer(layer);
    let request = Request::post("/things")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"nam": "chair"}"#))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let records = mock.wait_for("logging", 1, Duration::from_secs(10)).await;
    assert_eq!(records.len(), 1, "one record");
    (status, body, Record::new(records[0].json()))
}

fn relayer() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    (mock, relayer)
}

#[tokio::test]
async fn by_default_the_record_has_the_status_and_outcome_ok_but_not_the_reason() {
    let _subscriber = set_default(tracing_subscriber::registry().with(relayer::tracing_bridge()));
    let (mock, relayer) = relayer();

    let (status, body, record) = refused(RelayerLayer::new(relayer), &mock).await;

    assert_eq!(status, 422);
    assert!(body.contains(REASON), "the client gets the reason: {body}");
    assert_eq!(record.request().status(), 422);
    assert_eq!(record.outcome(), "ok", "the request completed");
    assert!(
        record.lines().is_empty(),
        "the handler never ran: {record:?}"
    );
    assert!(record.get("response_body").is_none());
    assert!(
        !record.json().to_string().contains(REASON),
        "no reason anywhere: {record:?}"
    );
}

#[tokio::test]
async fn a_captured_response_body_carries_the_reason() {
    let (mock, relayer) = relayer();

    let layer = RelayerLayer::new(relayer).capture_bodies(4096);
    let (status, _, record) = refused(layer, &mock).await;

    assert_eq!(status, 422);
    let response_body = record.get("response_body").and_then(|body| body.as_str());
    assert!(
        response_body.is_some_and(|body| body.contains(REASON)),
        "{record:?}"
    );
}

#[tokio::test]
async fn the_tracing_bridge_records_axums_rejection_event_when_its_filter_lets_it_through() {
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("axum::rejection", LevelFilter::TRACE);
    let bridge = TracingBridge::new().with_filter(filter);
    let _subscriber = set_default(tracing_subscriber::registry().with(bridge));
    let (mock, relayer) = relayer();

    let (status, _, record) = refused(RelayerLayer::new(relayer), &mock).await;

    assert_eq!(status, 422);
    let lines = record.lines_of_level("trace");
    assert_eq!(lines.len(), 1, "{record:?}");
    let line = lines[0];
    assert_eq!(line["target"], "axum::rejection");
    assert_eq!(line["payload"]["message"], "rejecting request");
    assert_eq!(line["payload"]["status"], 422);
    let reason = line["payload"]["body"].as_str().unwrap_or_default();
    assert!(reason.contains(REASON), "{line}");
}
