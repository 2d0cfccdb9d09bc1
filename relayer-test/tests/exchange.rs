//! `MockProducer::send` on an axum app behind relayer's layer: the
//! response, its body and the request's record, as a service's own test
//! would get them.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Request, StatusCode};
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The error of the app's handlers: a relayer error answers 500.
struct AppError(relayer::Error);

impl From<relayer::Error> for AppError {
    fn from(error: relayer::Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

fn app(mock: &MockProducer, layer: impl FnOnce(RelayerLayer) -> RelayerLayer) -> Router {
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    Router::new()
        .route(
            "/orders",
            post(|relayer: Relayer, Json(order): Json<Value>| async move {
                relayer.emit("order", "created", &order)?;
                relayer.info("order created")?;
                relayer.field("items", &order["items"])?;
                Ok::<_, AppError>((StatusCode::CREATED, Json(json!({"id": 7}))))
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer(RelayerLayer::new(relayer)))
}

fn post_order() -> Request<Body> {
    Request::post("/orders")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"items":3}"#))
        .unwrap()
}

#[tokio::test]
async fn a_request_gives_its_response_body_and_record() {
    let mock = MockProducer::new();
    let mut app = app(&mock, |layer| layer);

    let exchange = mock.send(&mut app, post_order()).await;

    assert_eq!(exchange.status(), StatusCode::CREATED);
    assert_eq!(exchange.json(), json!({"id": 7}));
    let record = &exchange.record;
    assert_eq!(record.outcome(), "ok", "the body was read: not cancelled");
    assert_eq!(record.request().status(), 201);
    assert_eq!(record.request().route(), Some("/orders"));
    assert_eq!(record.field("items"), Some(&json!(3)));
    assert_eq!(record.events_of_type("order")[0]["payload"]["items"], 3);
    assert_eq!(record.payloads_of_level("info"), ["order created"]);
    let written = record["request_time"].to_string();
    let decimals = written
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    assert!(decimals <= 3, "rounded to the microsecond: {written}");
    assert_eq!(
        exchange.parts.headers["x-request-id"],
        record.request_id(),
        "the record is the one of this response"
    );
}

#[tokio::test]
async fn a_not_found_has_its_record_without_a_route() {
    let mock = MockProducer::new();
    let mut app = app(&mock, |layer| layer);
    let exchange = mock
        .send(
            &mut app,
            Request::get("/missing").body(Body::empty()).unwrap(),
        )
        .await;
    assert_eq!(exchange.status(), StatusCode::NOT_FOUND);
    // A 404 completed: the outcome tells how the request ended, not the status.
    assert_eq!(exchange.record.outcome(), "ok");
    assert_eq!(exchange.record.request().route(), None);
}

#[tokio::test]
async fn each_send_gets_its_own_record_even_with_a_repeated_request_id() {
    let mock = MockProducer::new();
    let mut app = app(&mock, |layer| layer);
    for round in 0..3 {
        let request = Request::get("/health")
            .header("x-request-id", "same-id")
            .body(Body::empty())
            .unwrap();
        let exchange = mock.send(&mut app, request).await;
        assert_eq!(exchange.record.request_id(), "same-id");
        assert_eq!(mock.records().len(), round + 1);
    }
}

#[tokio::test]
async fn another_request_id_header_still_finds_the_record() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .request_id_header("x-correlation-id")
        .build()
        .unwrap();
    let mut app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer));
    let request = Request::get("/health")
        .header("x-correlation-id", "corr-1")
        .body(Body::empty())
        .unwrap();
    let exchange = mock.send(&mut app, request).await;
    assert!(exchange.parts.headers.get("x-request-id").is_none());
    assert_eq!(exchange.record.request_id(), "corr-1");
}

/// The trap `send` avoids: a response dropped unread is a client gone away.
#[tokio::test]
async fn a_response_dropped_unread_is_recorded_as_cancelled() {
    let mock = MockProducer::new();
    let app = app(&mock, |layer| layer);
    let response = app.oneshot(post_order()).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    drop(response);
    assert_eq!(mock.records()[0].outcome(), "cancelled");
}

#[tokio::test]
#[should_panic(expected = "no HTTP record")]
async fn a_skipped_path_has_no_record_and_send_says_so() {
    let mock = MockProducer::new();
    let mut app = app(&mock, |layer| layer.skip_path("/health"));
    tokio::time::pause();
    let _ = mock
        .send(
            &mut app,
            Request::get("/health").body(Body::empty()).unwrap(),
        )
        .await;
}
