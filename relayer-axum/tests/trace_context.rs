//! W3C Trace Context over real HTTP: a request continues its caller's
//! trace, nested scopes get spans of their own, and `PropagateLayer`
//! carries the request on to the next service.

mod common;

use axum::Router;
use axum::routing::get;
use common::{Client, records, relayer, serve, the_record};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use relayer::{Relayer, relayed};
use relayer_axum::{PropagateLayer, RelayerLayer};
use tower::{ServiceBuilder, ServiceExt};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn is_hex(value: &serde_json::Value, len: usize) -> bool {
    value.as_str().is_some_and(|id| {
        id.len() == len
            && id
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

async fn get_with(client: &Client, traceparent: Option<&str>) {
    let mut request = client.request("GET", "/");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    client.send(request.body(Full::default()).unwrap()).await;
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_and_an_invalid_one_starts_a_new_trace() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    get_with(&client, Some(&format!("00-{TRACE}-{PARENT}-01"))).await;
    let record = the_record(&mock).await;
    assert_eq!(record["trace_id"], TRACE);
    assert_eq!(record["parent_span_id"], PARENT);
    assert!(is_hex(&record["span_id"], 16));
    assert_ne!(record["span_id"], PARENT, "a span of its own");

    let invalid = [
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("00-{}-{PARENT}-01", &TRACE[1..]),
        format!("00-{TRACE}-{PARENT}-01-extra"),
        "garbage".to_owned(),
    ];
    mock.clear();
    for traceparent in &invalid {
        get_with(&client, Some(traceparent)).await;
    }
    get_with(&client, None).await;
    let records = records(&mock, invalid.len() + 1).await;
    let mut traces = std::collections::HashSet::new();
    for record in &records {
        assert!(is_hex(&record["trace_id"], 32), "{record}");
        assert_ne!(record["trace_id"], TRACE);
        assert!(
            record.get("parent_span_id").is_none(),
            "a new trace: {record}"
        );
        traces.insert(record["trace_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(traces.len(), records.len(), "each a trace of its own");

    // A later version is read as version 00.
    mock.clear();
    get_with(&client, Some(&format!("cc-{TRACE}-{PARENT}-01-later"))).await;
    assert_eq!(the_record(&mock).await["trace_id"], TRACE);
}

#[relayed]
fn nested_call() -> u32 {
    7
}

#[tokio::test]
async fn a_nested_call_gets_its_own_span_under_the_request() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { nested_call().to_string() }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    get_with(&client, Some(&format!("00-{TRACE}-{PARENT}-01"))).await;

    let records = records(&mock, 2).await;
    let (call, request) = (&records[0], &records[1]);
    assert_eq!(call["service"], "nested_call");
    assert_eq!(call["trace_id"], TRACE);
    assert_eq!(call["parent_span_id"], request["span_id"]);
    assert_eq!(request["parent_span_id"], PARENT);
    assert_eq!(call["request_id"], request["request_id"]);
}

#[tokio::test]
async fn propagate_layer_carries_the_request_to_the_next_service() {
    // Service B: records its request.
    let (mock_b, relayer_b) = relayer();
    let b = Router::new()
        .route("/b", get(|| async { "from b" }))
        .layer(RelayerLayer::new(relayer_b));
    let b_addr = serve(b).await;

    // Service A: calls B through a client with the propagation layer.
    let (mock_a, relayer_a) = relayer();
    let a = Router::new()
        .route(
            "/a",
            get(move |relayer: Relayer| async move {
                relayer.info("calling b").unwrap();
                let client = ServiceBuilder::new()
                    .layer(PropagateLayer::new())
                    .service(HyperClient::builder(TokioExecutor::new()).build_http());
                let request = http::Request::get(format!("http://{b_addr}/b"))
                    .body(Full::<bytes::Bytes>::default())
                    .unwrap();
                let response = client.oneshot(request).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8(body.to_vec()).unwrap()
            }),
        )
        .layer(RelayerLayer::new(relayer_a));
    let client = Client::new(serve(a).await);

    let reply = client.get("/a").await;
    assert_eq!(reply.text(), "from b");
    let record_a = the_record(&mock_a).await;
    let record_b = the_record(&mock_b).await;
    assert_eq!(record_b["request_id"], record_a["request_id"]);
    assert_eq!(record_b["trace_id"], record_a["trace_id"]);
    assert_eq!(
        record_b["parent_span_id"], record_a["span_id"],
        "B is a child of A"
    );
    assert!(
        record_a.get("parent_span_id").is_none(),
        "A started the trace"
    );
}

#[tokio::test]
async fn outside_a_request_nothing_is_propagated() {
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(tower::service_fn(|request: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(request.headers().clone())
        }));
    let sent = client.oneshot(http::Request::new(())).await.unwrap();
    assert!(sent.is_empty());
}
