//! One request over real TCP to an app behind `RelayerLayer`: a lookup of
//! an order that does not exist, with a traceparent, a user agent and a
//! query; the handler sets a field, logs a line and emits an event, and
//! answers 404.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::json;

pub(crate) const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(crate) const PARENT_ID: &str = "00f067aa0ba902b7";
pub(crate) const USER_AGENT: &str = "orders-client/2.1";
pub(crate) const REQUEST_ID: &str = "req-404";

async fn lookup(relayer: Relayer, Path(id): Path<String>) -> (StatusCode, &'static str) {
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

/// Serves the app with `relayer` on 127.0.0.1, sends the request, and
/// waits for its record on `mock`'s topic `logging`; returns the
/// server's address and the record's bytes.
pub(crate) async fn lookup_missing_order(
    relayer: Relayer,
    mock: &MockProducer,
) -> (SocketAddr, Vec<u8>) {
    let app = Router::new()
        .route("/orders/{id}", get(lookup))
        .layer(RelayerLayer::new(relayer));
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
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{addr}/orders/missing?page=2&sort=new"))
        .header("x-request-id", REQUEST_ID)
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .header("user-agent", USER_AGENT)
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 404);
    response.into_body().collect().await.unwrap();
    let records = mock.wait_for("logging", 1, Duration::from_secs(10)).await;
    (addr, records[0].value.clone())
}
