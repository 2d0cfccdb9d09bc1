//! Tail sampling over real HTTP: the ratio is fair whatever the request ids,
//! decided on the trace id the same way in every service, and errors, slow
//! and forced records are always kept.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::{Client, LOGGING, WAIT, serve};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use relayer::trace::{SpanId, TraceId, TraceParent};
use relayer::{Relayer, Sampling};
use relayer_axum::{PropagateLayer, RelayerLayer};
use relayer_test::MockProducer;
use tower::{ServiceBuilder, ServiceExt};

/// A server whose records are sampled by `sampling`; `/fail` answers 500,
/// `/slow` takes 30 ms, `/keep` forces its record, `/call` calls `echo`
/// through `PropagateLayer` and answers what it answered.
async fn sampled(
    mock: &MockProducer,
    sampling: Sampling,
    echo: Option<SocketAddr>,
) -> (Client, Relayer) {
    let relayer = Relayer::builder("logging")
        .topic_prefix("test_")
        .topic_suffix("_topic")
        .producer(mock.clone())
        .sampling(sampling)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                "slow"
            }),
        )
        .route(
            "/keep",
            get(|relayer: Relayer| async move {
                relayer.keep();
                "kept"
            }),
        )
        .route("/call", get(move || call(echo.unwrap())))
        .layer(RelayerLayer::new(relayer.clone()));
    (Client::new(serve(app).await), relayer)
}

/// Calls `echo` through `PropagateLayer`, and answers what it answered.
async fn call(echo: SocketAddr) -> String {
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(HyperClient::builder(TokioExecutor::new()).build_http());
    let request = http::Request::get(format!("http://{echo}/"))
        .body(Full::<bytes::Bytes>::default())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// A service without relayer that answers the `traceparent` it received.
async fn echo() -> SocketAddr {
    let app = Router::new().route(
        "/",
        get(
            |headers: HeaderMap| async move { headers["traceparent"].to_str().unwrap().to_owned() },
        ),
    );
    serve(app).await
}

/// Sends one request to `path` per request id, with its `traceparent` when
/// given, 16 at a time; returns each request id with the body answered.
async fn send(
    client: &Client,
    path: &str,
    requests: Vec<(String, Option<String>)>,
) -> Vec<(String, String)> {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in requests.chunks(requests.len().div_ceil(16)) {
        let (client, path, chunk) = (client.clone(), path.to_owned(), chunk.to_vec());
        tasks.spawn(async move {
            let mut answered = Vec::new();
            for (id, traceparent) in chunk {
                let mut request = client.request("GET", &path).header("x-request-id", &id);
                if let Some(traceparent) = traceparent {
                    request = request.header("traceparent", traceparent);
                }
                let reply = client.send(request.body(Full::default()).unwrap()).await;
                answered.push((id, reply.text().to_owned()));
            }
            answered
        });
    }
    tasks.join_all().await.into_iter().flatten().collect()
}

/// The request ids `{prefix}0` to `{prefix}{count - 1}`, without
/// `traceparent`: each request starts a trace.
fn ids(prefix: &str, count: usize) -> Vec<(String, Option<String>)> {
    (0..count).map(|n| (format!("{prefix}{n}"), None)).collect()
}

/// Waits until each of `count` requests has its record written or counted
/// as sampled out, then returns the records written.
async fn settled(mock: &MockProducer, relayer: &Relayer, count: u64) -> Vec<serde_json::Value> {
    wait_until(|| mock.messages(LOGGING).len() as u64 + relayer.stats().sampled_out == count).await;
    mock.json(LOGGING)
}

fn field(records: &[serde_json::Value], name: &str) -> BTreeSet<String> {
    records
        .iter()
        .map(|record| record[name].as_str().unwrap().to_owned())
        .collect()
}

fn trace_id(hex: &str) -> TraceId {
    TraceParent::parse(&format!("00-{hex}-00f067aa0ba902b7-01"))
        .unwrap()
        .trace_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_request_ids_are_sampled_at_the_ratio() {
    for (ratio, count, expected) in [(0.5, 200, 70..=130), (0.01, 10_000, 60..=140)] {
        let mock = MockProducer::new();
        let (client, relayer) = sampled(&mock, Sampling::ratio(ratio), None).await;
        send(&client, "/ok", ids("samp-", count)).await;
        let kept = settled(&mock, &relayer, count as u64).await.len();
        // Binomial: 100 ± 7 of 200 at 0.5, 100 ± 10 of 10,000 at 0.01;
        // the bounds are 4 standard deviations away.
        println!("ratio {ratio}: {kept} of {count} kept");
        assert!(
            expected.contains(&kept),
            "{kept} of samp-0..samp-{} kept at {ratio}",
            count - 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_keeps_the_ratio_and_every_error_slow_and_forced_record() {
    let mock = MockProducer::new();
    let (client, relayer) = sampled(&mock, Sampling::ratio(0.1), None).await;

    send(&client, "/ok", ids("ok-", 10_000)).await;
    let records = settled(&mock, &relayer, 10_000).await;
    let kept = records.len();
    // Binomial(10,000, 0.1): mean 1,000, standard deviation 30; ±5 sd.
    assert!(
        (850..=1_150).contains(&kept),
        "{kept} of 10,000 kept at 0.1"
    );
    assert_eq!(relayer.stats().sampled_out, 10_000 - kept as u64);
    for trace in field(&records, "trace_id") {
        assert!(
            Sampling::sampled_in(trace_id(&trace), 0.1),
            "{trace} is kept by the ratio rule"
        );
    }

    // A threshold no ordinary request reaches, even on a loaded machine,
    // would make this slow; so the slow requests get a server of their own.
    mock.clear();
    for path in ["/fail", "/keep"] {
        send(&client, path, ids(&format!("{path}-"), 20)).await;
    }
    let slow = Sampling::ratio(0.0).keep_slower_than(Duration::from_millis(20));
    let (slow_client, _) = sampled(&mock, slow, None).await;
    send(&slow_client, "/slow", ids("/slow-", 20)).await;
    wait_until(|| mock.messages(LOGGING).len() == 60).await;
    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 60, "all 20 of each are kept");
    assert_eq!(records.iter().filter(|r| r["status"] == 500).count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_given_the_same_traceparent_keep_or_drop_together() {
    let (mock_a, mock_b) = (MockProducer::new(), MockProducer::new());
    let (client_a, relayer_a) = sampled(&mock_a, Sampling::ratio(0.3), None).await;
    let (client_b, relayer_b) = sampled(&mock_b, Sampling::ratio(0.3), None).await;
    let requests: Vec<_> = (0..500)
        .map(|n| {
            let parent = TraceParent {
                trace_id: TraceId::random(),
                parent_id: SpanId::random(),
                flags: 1,
            };
            (format!("shared-{n}"), Some(parent.to_string()))
        })
        .collect();
    send(&client_a, "/ok", requests.clone()).await;
    send(&client_b, "/ok", requests).await;
    let kept_a = field(&settled(&mock_a, &relayer_a, 500).await, "trace_id");
    let kept_b = field(&settled(&mock_b, &relayer_b, 500).await, "trace_id");
    assert!(!kept_a.is_empty() && kept_a.len() < 500, "{}", kept_a.len());
    assert_eq!(
        kept_a, kept_b,
        "the same traces' records, kept or dropped together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_started_here_is_flagged_sampled_when_the_ratio_keeps_it() {
    let mock = MockProducer::new();
    let (client, relayer) = sampled(&mock, Sampling::ratio(0.5), Some(echo().await)).await;
    let answers = send(&client, "/call", ids("flag-", 200)).await;
    let kept = field(&settled(&mock, &relayer, 200).await, "request_id");
    let flagged: BTreeSet<String> = answers
        .into_iter()
        .filter(|(_, traceparent)| traceparent.ends_with("-03"))
        .map(|(id, _)| id)
        .collect();
    assert!(!kept.is_empty() && kept.len() < 200, "{}", kept.len());
    assert_eq!(flagged, kept, "sampled (and random) exactly when kept");
}

/// Records are written a moment after the client has read the response.
async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
