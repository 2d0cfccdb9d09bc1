//! The relayer built at startup, used inside a request without the handle
//! the layer hands out (router state, a closure), acts for that request, as
//! the Python relayer's object did. A relayer of another configuration
//! never writes into a foreign request's record.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use common::{Client, LOGGING, lines, records, relayer, serve, the_record};
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::json;

/// What the handlers reach: the app-wide relayer, and one built apart.
#[derive(Clone)]
struct AppState {
    relayer: Relayer,
    other: Relayer,
}

async fn through_state(State(state): State<AppState>, Path(n): Path<u32>) -> &'static str {
    state.relayer.info(&json!({ "n": n })).unwrap();
    state
        .relayer
        .emit("order", "created", &json!({ "n": n }))
        .unwrap();
    state.other.info("not for this request").unwrap();
    state.other.emit("audit", "seen", &n).unwrap();
    "ok"
}

fn app(relayer: Relayer, other: Relayer) -> Router {
    let captured = relayer.clone();
    Router::new()
        .route("/state/{n}", get(through_state))
        .route(
            "/closure",
            get(move || async move {
                captured
                    .emit_raw("raw", &json!({"from": "closure"}))
                    .unwrap();
                "ok"
            }),
        )
        .with_state(AppState {
            relayer: relayer.clone(),
            other,
        })
        .layer(RelayerLayer::new(relayer))
}

fn other_relayer() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let other = Relayer::builder("other_logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    (mock, other)
}

#[tokio::test]
async fn the_app_wide_relayer_writes_into_the_current_request() {
    let (mock, relayer) = relayer();
    let (other_mock, other) = other_relayer();
    let client = Client::new(serve(app(relayer, other)).await);

    let reply = client.get("/state/7").await;
    let record = the_record(&mock).await;
    let kept = lines(&record);
    assert_eq!(kept.len(), 2, "its line and its event: {kept:#?}");
    assert_eq!(kept[0]["payload"], json!({"n": 7}));
    assert_eq!(kept[1]["event_type"], "order");
    let event = &mock.json("test_order_topic")[0];
    assert_eq!(
        event["request_id"],
        reply.request_id(),
        "the event carries the request id"
    );

    let audit = &other_mock.json("audit")[0];
    assert!(
        audit.get("request_id").is_none(),
        "a foreign relayer's event: {audit}"
    );
    assert!(
        other_mock.json("other_logging").is_empty(),
        "no record for the foreign relayer"
    );

    client.get("/closure").await;
    let record = &records(&mock, 2).await[1];
    assert_eq!(
        lines(record),
        &[json!({"from": "closure"})],
        "a captured clone too"
    );
}

#[tokio::test]
async fn concurrent_requests_through_the_app_wide_relayer_stay_apart() {
    let (mock, relayer) = relayer();
    let (_other_mock, other) = other_relayer();
    let client = Client::new(serve(app(relayer, other)).await);

    let requests = (0..50).map(|n| {
        let client = client.clone();
        tokio::spawn(async move { (n, client.get(&format!("/state/{n}")).await) })
    });
    let mut ids = std::collections::HashMap::new();
    for request in requests {
        let (n, reply) = request.await.unwrap();
        ids.insert(reply.request_id().to_owned(), n);
    }
    for record in records(&mock, 50).await {
        let n = ids[record["request_id"].as_str().unwrap()];
        let kept = lines(&record);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0]["payload"], json!({ "n": n }));
        assert_eq!(kept[1]["payload"], json!({ "n": n }));
        assert_eq!(kept[1]["request_id"], record["request_id"]);
    }
    assert_eq!(mock.messages(LOGGING).len(), 50);
}

#[tokio::test]
async fn outside_a_request_the_app_wide_relayer_keeps_no_line() {
    let (mock, relayer) = relayer();
    let app_wide = Arc::new(relayer.clone());
    let (_other_mock, other) = other_relayer();
    let client = Client::new(serve(app(relayer, other)).await);
    client.get("/state/1").await;
    the_record(&mock).await;

    app_wide.info("after every request").unwrap();
    app_wide.emit("order", "late", &0).unwrap();
    let late = &mock.json("test_order_topic")[1];
    assert!(late.get("request_id").is_none(), "no request: {late}");
    assert_eq!(app_wide.request_id(), None);
    assert_eq!(mock.messages(LOGGING).len(), 1);
}
