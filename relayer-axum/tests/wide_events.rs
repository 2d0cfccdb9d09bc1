//! The record as a wide event, over real HTTP: fields set from everywhere a
//! request's relayer is reached, builder fields, the size bound, tail
//! sampling, the matched route, sensitive headers.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use common::{Client, LOGGING, WAIT, lines, records, relayer, serve, the_record};
use http_body_util::Full;
use relayer::{Relayer, Sampling};
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::json;

/// Code that is handed nothing: it reaches the request through `current`.
fn third_party_code() {
    Relayer::current()
        .unwrap()
        .field("from_current", &true)
        .unwrap();
}

async fn everywhere(State(app_wide): State<Relayer>, relayer: Relayer) -> &'static str {
    relayer.field("user_id", &42).unwrap();
    relayer.field("plan", "free").unwrap();
    third_party_code();
    let task = relayer.bind(async {
        Relayer::current()
            .unwrap()
            .field("from_task", &json!({"ok": 1}))
            .unwrap();
    });
    tokio::spawn(task).await.unwrap();
    app_wide.field("from_app_wide", &[1, 2]).unwrap();
    relayer.field("plan", "pro").unwrap(); // the last write wins
    relayer.field("region", "eu-2").unwrap(); // over the builder's
    "ok"
}

fn builder(mock: &MockProducer) -> relayer::Builder {
    Relayer::builder("logging")
        .topic_prefix("test_")
        .topic_suffix("_topic")
        .producer(mock.clone())
}

#[tokio::test]
async fn fields_from_every_place_land_on_the_record() {
    let mock = MockProducer::new();
    let relayer = builder(&mock)
        .field("service", "billing")
        .field("region", "eu-1")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(everywhere))
        .route("/plain", get(|| async { "ok" }))
        .with_state(relayer.clone())
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    client.get("/").await;
    let record = the_record(&mock).await;
    assert_eq!(
        record["fields"],
        json!({
            "service": "billing",
            "user_id": 42,
            "plan": "pro",
            "from_current": true,
            "from_task": {"ok": 1},
            "from_app_wide": [1, 2],
            "region": "eu-2",
        })
    );
    assert!(lines(&record).is_empty(), "fields are not lines");

    client.get("/plain").await;
    let plain = &records(&mock, 2).await[1];
    assert_eq!(
        plain["fields"],
        json!({"service": "billing", "region": "eu-1"}),
        "builder fields are on every record"
    );
}

#[tokio::test]
async fn without_fields_the_record_has_no_fields_object() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer));
    Client::new(serve(app).await).get("/").await;
    assert!(the_record(&mock).await.get("fields").is_none());
}

#[tokio::test]
async fn a_record_that_must_shrink_drops_lines_before_fields() {
    let mock = MockProducer::new();
    let relayer = builder(&mock).max_message_bytes(20_000).build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|relayer: Relayer| async move {
                relayer.field("cart", &"c".repeat(8_000)).unwrap();
                for n in 0..1_000 {
                    relayer.info(&json!({ "n": n })).unwrap();
                }
                relayer.field("error_code", "E42").unwrap();
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer));
    Client::new(serve(app).await).get("/").await;

    let sent = mock.wait_for(LOGGING, 1, WAIT).await;
    assert!(sent[0].value.len() <= 20_000);
    let record = sent[0].json();
    assert_eq!(record["fields"]["cart"].as_str().unwrap().len(), 8_000);
    assert_eq!(
        record["fields"]["error_code"], "E42",
        "set after the lines filled the record"
    );
    let lines = lines(&record);
    let dropped = lines.last().unwrap()["payload"]["dropped_lines"]
        .as_u64()
        .unwrap();
    assert_eq!(lines.len() as u64 - 1 + dropped, 1_000);
}

/// A server whose records are sampled by `sampling`; `/fail` answers 500,
/// `/slow` takes 30 ms, `/keep` forces its record.
async fn sampled(mock: &MockProducer, sampling: Sampling) -> (Client, Relayer) {
    let relayer = builder(mock).sampling(sampling).build().unwrap();
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
        .layer(RelayerLayer::new(relayer.clone()));
    (Client::new(serve(app).await), relayer)
}

/// Sends `count` requests to `path` with the request ids `{prefix}{n}`,
/// 16 at a time.
async fn send(client: &Client, path: &str, prefix: &str, count: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let client = client.clone();
        let (path, prefix) = (path.to_owned(), prefix.to_owned());
        tasks.spawn(async move {
            for n in (worker..count).step_by(16) {
                let request = client
                    .request("GET", &path)
                    .header("x-request-id", format!("{prefix}{n}"))
                    .body(Full::default())
                    .unwrap();
                client.send(request).await;
            }
        });
    }
    tasks.join_all().await;
}

fn kept_ids(mock: &MockProducer) -> BTreeSet<String> {
    mock.json(LOGGING)
        .iter()
        .map(|record| record["request_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_keeps_the_ratio_and_every_error_slow_and_forced_record() {
    let mock = MockProducer::new();
    let (client, relayer) = sampled(&mock, Sampling::ratio(0.1)).await;

    send(&client, "/ok", "ok-", 10_000).await;
    // Every record is written or counted when its response has been read.
    let settled = |mock: &MockProducer, relayer: &Relayer, total: u64| {
        mock.messages(LOGGING).len() as u64 + relayer.stats().sampled_out == total
    };
    wait_until(|| settled(&mock, &relayer, 10_000)).await;
    let kept = mock.messages(LOGGING).len();
    // Binomial(10,000, 0.1): mean 1,000, standard deviation 30; ±5 sd.
    assert!(
        (850..=1_150).contains(&kept),
        "{kept} of 10,000 kept at 0.1"
    );
    assert_eq!(relayer.stats().sampled_out, 10_000 - kept as u64);
    for id in kept_ids(&mock) {
        assert!(
            Sampling::sampled_in(&id, 0.1),
            "{id} is kept by the ratio rule"
        );
    }

    // A threshold no ordinary request reaches, even on a loaded machine,
    // would make this slow; so the slow requests get a server of their own.
    mock.clear();
    for path in ["/fail", "/keep"] {
        send(&client, path, &format!("{path}-"), 20).await;
    }
    let slow = Sampling::ratio(0.0).keep_slower_than(Duration::from_millis(20));
    let (slow_client, _) = sampled(&mock, slow).await;
    send(&slow_client, "/slow", "/slow-", 20).await;
    wait_until(|| mock.messages(LOGGING).len() == 60).await;
    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 60, "all 20 of each are kept");
    assert_eq!(records.iter().filter(|r| r["status"] == 500).count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_keep_the_same_request_ids() {
    let (mock_a, mock_b) = (MockProducer::new(), MockProducer::new());
    let (client_a, relayer_a) = sampled(&mock_a, Sampling::ratio(0.3)).await;
    let (client_b, relayer_b) = sampled(&mock_b, Sampling::ratio(0.3)).await;
    send(&client_a, "/ok", "shared-", 500).await;
    send(&client_b, "/ok", "shared-", 500).await;
    wait_until(|| {
        mock_a.messages(LOGGING).len() as u64 + relayer_a.stats().sampled_out == 500
            && mock_b.messages(LOGGING).len() as u64 + relayer_b.stats().sampled_out == 500
    })
    .await;
    let kept = kept_ids(&mock_a);
    assert!(!kept.is_empty() && kept.len() < 500);
    assert_eq!(
        kept,
        kept_ids(&mock_b),
        "the same request's records, kept or dropped together"
    );
}

/// Records are written a moment after the client has read the response.
async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_route_template_is_recorded_behind_nested_routers() {
    let (mock, relayer) = relayer();
    let api = Router::new().route("/things/{id}", get(|| async { "thing" }));
    let app = Router::new()
        .nest("/api/v1", api)
        .route("/health", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    client.get("/api/v1/things/42").await;
    client.get("/health").await;
    client.get("/nowhere").await;
    let records = records(&mock, 3).await;
    assert_eq!(records[0]["path"], "/api/v1/things/42");
    assert_eq!(records[0]["route"], "/api/v1/things/{id}");
    assert_eq!(records[1]["route"], "/health");
    assert!(
        records[2].get("route").is_none(),
        "no route matched: {}",
        records[2]
    );
}

#[tokio::test]
async fn headers_marked_sensitive_are_redacted() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer).record_all_headers())
        .layer(
            tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                http::HeaderName::from_static("x-api-token"),
            ]),
        );
    let client = Client::new(serve(app).await);
    let request = client
        .request("GET", "/")
        .header("x-api-token", "s3cret")
        .header("x-tenant", "acme")
        .body(Full::default())
        .unwrap();
    client.send(request).await;
    let record = the_record(&mock).await;
    assert_eq!(record["headers"]["x-api-token"], relayer_axum::REDACTED);
    assert_eq!(record["headers"]["x-tenant"], "acme");
    assert!(!record.to_string().contains("s3cret"));
}

#[tokio::test]
async fn the_request_id_header_can_be_renamed() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer).request_id_header("x-correlation-id"));
    let client = Client::new(serve(app).await);
    let request = client
        .request("GET", "/")
        .header("x-correlation-id", "corr-1")
        .body(Full::default())
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.headers["x-correlation-id"], "corr-1");
    assert!(!reply.headers.contains_key("x-request-id"));
    assert_eq!(the_record(&mock).await["request_id"], "corr-1");
}
