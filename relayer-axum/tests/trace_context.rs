//! W3C Trace Context over real HTTP: a request continues its caller's
//! trace, nested scopes get spans of their own, and `PropagateLayer`
//! carries the request on to the next service, one span per call, with
//! what the specification lets through.

mod common;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::{Client, records, relayer, serve, the_record};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use relayer::{Relayer, relayed};
use relayer_axum::{PropagateLayer, RelayerLayer};
use relayer_test::MockProducer;
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

/// Calls `url` through `PropagateLayer` and returns the body.
async fn call(url: String) -> String {
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(HyperClient::builder(TokioExecutor::new()).build_http());
    let request = http::Request::get(url)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn each_call_through_propagate_layer_is_a_span_of_its_own() {
    // Service B: records its requests.
    let (mock_b, relayer_b) = relayer();
    let b = Router::new()
        .route("/b", get(|| async { "from b" }))
        .layer(RelayerLayer::new(relayer_b));
    let b_addr = serve(b).await;

    // Service A: calls B three times.
    let (mock_a, relayer_a) = relayer();
    let a = Router::new()
        .route(
            "/a",
            get(move |relayer: Relayer| async move {
                relayer.info("calling b").unwrap();
                let mut replies = Vec::new();
                for _ in 0..3 {
                    replies.push(call(format!("http://{b_addr}/b")).await);
                }
                replies.join(", ")
            }),
        )
        .layer(RelayerLayer::new(relayer_a));
    let client = Client::new(serve(a).await);

    let reply = client.get("/a").await;
    assert_eq!(reply.text(), "from b, from b, from b");
    let record_a = the_record(&mock_a).await;
    let records_b = records(&mock_b, 3).await;
    let mut parents = std::collections::HashSet::new();
    for record_b in &records_b {
        assert_eq!(record_b["request_id"], record_a["request_id"]);
        assert_eq!(record_b["trace_id"], record_a["trace_id"]);
        assert!(is_hex(&record_b["parent_span_id"], 16), "{record_b}");
        assert_ne!(
            record_b["parent_span_id"], record_a["span_id"],
            "B's parent is A's call, not A itself"
        );
        parents.insert(record_b["parent_span_id"].to_string());
    }
    assert_eq!(parents.len(), 3, "one span per call: {parents:?}");
    // A's record holds each call, under the span B received as its parent.
    let calls: std::collections::HashSet<String> = record_a["calls"]
        .as_array()
        .expect("A's record has its calls")
        .iter()
        .map(|call| call["span_id"].to_string())
        .collect();
    assert_eq!(
        calls, parents,
        "each call's span_id is a parent-id B received"
    );
    assert!(
        record_a.get("parent_span_id").is_none(),
        "A started the trace"
    );
}

/// A service without relayer that answers the trace headers it received,
/// one `name: value` line each.
async fn echo() -> std::net::SocketAddr {
    let app = Router::new().route(
        "/",
        get(|headers: http::HeaderMap| async move {
            let mut lines = Vec::new();
            for name in [
                "x-request-id",
                "x-correlation-id",
                "traceparent",
                "tracestate",
            ] {
                for value in headers.get_all(name) {
                    lines.push(format!("{name}: {}", value.to_str().unwrap()));
                }
            }
            lines.join("\n")
        }),
    );
    serve(app).await
}

/// A service whose `/` calls `echo` and answers what it received.
async fn calling_echo(layer: impl Fn(Relayer) -> RelayerLayer) -> (MockProducer, Client) {
    let (mock, relayer) = relayer();
    let echo = echo().await;
    let app = Router::new()
        .route(
            "/",
            get(move |relayer: Relayer| async move {
                relayer.emit("called", "v1", &1).unwrap();
                call(format!("http://{echo}/")).await
            }),
        )
        .layer(layer(relayer));
    (mock, Client::new(serve(app).await))
}

/// What the callee received for a request with these headers.
async fn sent_on(client: &Client, headers: &[(&str, &str)]) -> Vec<String> {
    let mut request = client.request("GET", "/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = client.send(request.body(Full::default()).unwrap()).await;
    reply.text().lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn what_is_sent_on_follows_w3c_trace_context() {
    let (_, client) = calling_echo(RelayerLayer::new).await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let received = |lines: &[String], name: &str| -> Vec<String> {
        let prefix = format!("{name}: ");
        lines
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    };

    // tracestate lines are combined, spaces and empty members dropped.
    let sent = sent_on(
        &client,
        &[
            ("traceparent", &traceparent),
            ("tracestate", "foo=1 , bar=2"),
            ("tracestate", ""),
            ("tracestate", "baz=3"),
        ],
    )
    .await;
    assert_eq!(received(&sent, "tracestate"), ["foo=1,bar=2,baz=3"]);
    let [parent] = &received(&sent, "traceparent")[..] else {
        panic!("one traceparent: {sent:?}")
    };
    assert!(parent.starts_with(&format!("00-{TRACE}-")), "{parent}");
    assert!(!parent.contains(PARENT), "a span of this service: {parent}");

    // A member with an illegal key drops the whole list; 33 members too.
    let thirty_three = (1..=33).map(|i| format!("k{i}=v")).collect::<Vec<_>>();
    for invalid in ["foo=1,BAR=2".to_owned(), thirty_three.join(",")] {
        let sent = sent_on(
            &client,
            &[("traceparent", &traceparent), ("tracestate", &invalid)],
        )
        .await;
        assert_eq!(
            received(&sent, "tracestate"),
            Vec::<String>::new(),
            "{invalid}"
        );
        assert_eq!(received(&sent, "traceparent").len(), 1);
    }

    // Undefined flags are zeroed; sampled and random are passed on.
    let all_flags = format!("00-{TRACE}-{PARENT}-ff");
    let sent = sent_on(&client, &[("traceparent", &all_flags)]).await;
    assert!(
        received(&sent, "traceparent")[0].ends_with("-03"),
        "{sent:?}"
    );
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    let sent = sent_on(&client, &[("traceparent", &unsampled)]).await;
    assert!(
        received(&sent, "traceparent")[0].ends_with("-00"),
        "{sent:?}"
    );

    // Two traceparents are none: a new trace, without the tracestate.
    let sent = sent_on(
        &client,
        &[
            ("traceparent", &traceparent),
            ("traceparent", &traceparent),
            ("tracestate", "foo=1"),
        ],
    )
    .await;
    let parent = &received(&sent, "traceparent")[0];
    assert!(!parent.contains(TRACE), "{parent}");
    assert!(received(&sent, "tracestate").is_empty(), "{sent:?}");
}

#[tokio::test]
async fn the_configured_request_id_header_is_sent_on() {
    let (mock, client) =
        calling_echo(|relayer| RelayerLayer::new(relayer).request_id_header("x-correlation-id"))
            .await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let sent = sent_on(
        &client,
        &[
            ("x-correlation-id", "corr-1"),
            ("traceparent", &traceparent),
            ("tracestate", "rojo=1"),
        ],
    )
    .await;
    assert!(
        sent.contains(&"x-correlation-id: corr-1".to_owned()),
        "{sent:?}"
    );
    assert!(
        !sent.iter().any(|line| line.starts_with("x-request-id")),
        "{sent:?}"
    );

    // The event the request emitted carries the same on Kafka.
    let event = &mock.messages("test_called_topic")[0];
    assert_eq!(event.header("x-correlation-id"), Some("corr-1"));
    assert_eq!(event.header("x-request-id"), None);
    assert_eq!(event.header("tracestate"), Some("rojo=1"));
}

#[tokio::test]
async fn the_relayers_request_id_header_is_the_layers_by_default() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .request_id_header("x-correlation-id")
        .build()
        .unwrap();
    let echo = echo().await;
    let app = Router::new()
        .route("/", get(move || call(format!("http://{echo}/"))))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    let sent = sent_on(&client, &[("x-correlation-id", "corr-2")]).await;
    assert!(
        sent.contains(&"x-correlation-id: corr-2".to_owned()),
        "{sent:?}"
    );
    assert_eq!(mock.json("logging")[0]["request_id"], "corr-2");
}

#[tokio::test]
async fn outside_a_request_nothing_is_propagated() {
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(tower::service_fn(|request: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(http::Response::new(request.headers().len()))
        }));
    let response = client.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(*response.body().get_ref(), 0, "no header set");
}
