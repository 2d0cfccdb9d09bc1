//! The record as a wide event, over real HTTP: fields set from everywhere a
//! request's relayer is reached, builder fields, the size bound, the
//! matched route, sensitive headers.

mod common;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::{Client, LOGGING, WAIT, lines, records, relayer, serve, the_record};
use http_body_util::Full;
use relayer::Relayer;
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
