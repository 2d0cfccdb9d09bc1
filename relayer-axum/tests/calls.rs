//! Outgoing calls in the record: bounded by the record's size, cancelled
//! and unread calls, concurrent calls in order of start, and calls made
//! with a client that is not a tower service.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Client, serve};
use http_body_util::BodyExt;
use relayer::{DEFAULT_MAX_MESSAGE_BYTES, Relayer};
use relayer_axum::{PropagateLayer, RelayerLayer};
use relayer_test::MockProducer;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// A client that answers `200` with the path it was asked, after `delay`.
fn client_after(
    delay: Duration,
) -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<relayer_axum::CallBody<String>>,
    Error = relayer_axum::BoxError,
    Future: Send,
> + Clone {
    ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(service_fn(move |request: http::Request<()>| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(http::Response::new(request.uri().path().to_owned()))
        }))
}

fn get_request(url: &str) -> http::Request<()> {
    http::Request::get(url).body(()).unwrap()
}

/// Serves `handler` at `/` behind the layer, calls it once over HTTP, and
/// returns its record.
async fn record_of<H, T>(relayer: Relayer, mock: &MockProducer, handler: H) -> Value
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    let app = Router::new()
        .route("/", get(handler))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    client.get("/").await;
    mock.wait_for("logging", 1, common::WAIT).await[0].json()
}

fn relayer(max_message_bytes: usize) -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .max_message_bytes(max_message_bytes)
        .build()
        .unwrap();
    (mock, relayer)
}

#[tokio::test]
async fn ten_thousand_calls_stay_within_the_record_and_are_counted() {
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let record = record_of(relayer, &mock, || async {
        let client = client_after(Duration::ZERO);
        for n in 0..10_000 {
            let url = format!("http://items/item/{n}");
            let response = client.clone().oneshot(get_request(&url)).await.unwrap();
            drop(response);
        }
        Relayer::current().unwrap().info("after the calls").unwrap();
    })
    .await;

    let size = mock.messages("logging")[0].value.len();
    assert!(size <= DEFAULT_MAX_MESSAGE_BYTES, "{size} bytes");
    let calls = record["calls"].as_array().unwrap();
    let dropped = record["dropped_calls"].as_u64().unwrap();
    assert_eq!(calls.len() as u64 + dropped, 10_000);
    assert!(calls.len() > 1_000, "most of a megabyte holds calls");
    // The first calls are kept, in order.
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(call["url"], format!("http://items/item/{n}"));
    }
}

#[tokio::test]
async fn calls_give_way_to_lines_and_fields_when_the_record_is_full() {
    // Lines take most of a small record; calls fill what is left, then the
    // record shrinks to its bound.
    let (mock, relayer) = relayer(16 * 1024);
    let record = record_of(relayer, &mock, || async {
        let relayer = Relayer::current().unwrap();
        relayer.field("tenant", "acme").unwrap();
        for n in 0..100 {
            relayer
                .info(&format!("line {n} {}", "x".repeat(100)))
                .unwrap();
        }
        let client = client_after(Duration::ZERO);
        for n in 0..100 {
            let url = format!("http://items/item/{n}");
            client.clone().oneshot(get_request(&url)).await.unwrap();
        }
    })
    .await;
    assert!(mock.messages("logging")[0].value.len() <= 16 * 1024);
    assert_eq!(record["fields"]["tenant"], "acme");
    let kept = record["calls"].as_array().map_or(0, Vec::len) as u64;
    assert_eq!(kept + record["dropped_calls"].as_u64().unwrap(), 100);
    assert!(record.get("record_too_large").is_none(), "{record}");
}

#[tokio::test]
async fn concurrent_calls_are_in_order_of_start() {
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let record = record_of(relayer, &mock, || async {
        let slow = client_after(Duration::from_millis(100));
        let fast = client_after(Duration::ZERO);
        // Each call ends when its body is read: the fast one first.
        let read = |response: http::Response<relayer_axum::CallBody<String>>| async {
            response.into_body().collect().await.unwrap()
        };
        tokio::join!(
            async { read(slow.oneshot(get_request("http://slow/")).await.unwrap()).await },
            async { read(fast.oneshot(get_request("http://fast/")).await.unwrap()).await },
        );
    })
    .await;
    let calls = record["calls"].as_array().unwrap();
    let urls: Vec<&str> = calls
        .iter()
        .map(|call| call["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["http://slow/", "http://fast/"]);
    assert!(calls[0]["duration_ms"].as_f64().unwrap() >= 100.0);
    assert!(calls[1]["duration_ms"].as_f64().unwrap() < 100.0);
}

#[tokio::test]
async fn a_call_cut_short_by_a_timeout_is_recorded_as_cancelled() {
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let record = record_of(relayer, &mock, || async {
        let slow = client_after(Duration::from_secs(60));
        let call = slow.oneshot(get_request("http://slow/"));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), call)
                .await
                .is_err()
        );
    })
    .await;
    let call = &record["calls"][0];
    assert_eq!(call["error"], "cancelled");
    assert!(call.get("status").is_none(), "{call}");
    let duration = call["duration_ms"].as_f64().unwrap();
    assert!((20.0..60_000.0).contains(&duration), "{duration}");
}

#[tokio::test]
async fn an_answer_whose_body_is_not_read_is_recorded_with_its_status() {
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let record = record_of(relayer, &mock, || async {
        let response = client_after(Duration::ZERO)
            .oneshot(get_request("http://items/unread"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    })
    .await;
    let call = &record["calls"][0];
    assert_eq!(
        (&call["status"], call.get("error")),
        (&Value::from(200), None)
    );
}

#[tokio::test]
async fn a_call_that_outlives_its_request_adds_nothing() {
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let (sent, outlived) = tokio::sync::oneshot::channel();
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Some(sent)));
    let record = record_of(relayer, &mock, move || {
        let sent = sent.lock().unwrap().take().unwrap();
        async move {
            let call = Relayer::current()
                .unwrap()
                .outgoing_call("GET", "http://late/")
                .unwrap();
            let _ = sent.send(call);
        }
    })
    .await;
    // Ended after the record was written: nothing changes, nothing fails.
    let mut call = outlived.await.unwrap();
    call.set_status(200);
    call.finish();
    assert!(record.get("calls").is_none(), "{record}");
    assert_eq!(mock.messages("logging").len(), 1);
}

#[tokio::test]
async fn a_call_made_by_hand_is_an_entry_too() {
    // As with reqwest: send the call's headers, then say how it ended.
    let (mock, relayer) = relayer(DEFAULT_MAX_MESSAGE_BYTES);
    let record = record_of(relayer, &mock, || async {
        let relayer = Relayer::current().unwrap();
        let mut call = relayer
            .outgoing_call("PUT", "https://me:s3cret@api.example.com/things/1")
            .unwrap();
        assert!(call.headers().any(|(name, _)| name == "traceparent"));
        call.set_status(503);
        call.set_error_text("service unavailable");
        call.finish();
    })
    .await;
    let call = &record["calls"][0];
    assert_eq!(
        call["url"], "https://api.example.com/things/1",
        "no password"
    );
    assert_eq!(
        (&call["method"], &call["status"]),
        (&Value::from("PUT"), &Value::from(503))
    );
    assert_eq!(call["error"], "service unavailable");
    assert_eq!(call["span_id"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn outside_a_request_a_call_is_neither_propagated_nor_recorded() {
    let response = client_after(Duration::ZERO)
        .oneshot(get_request("http://items/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let relayer = relayer(DEFAULT_MAX_MESSAGE_BYTES).1;
    assert!(relayer.outgoing_call("GET", "http://items/").is_none());
}
