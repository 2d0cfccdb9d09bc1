//! Body capture over real HTTP: what reaches `request_body` and
//! `response_body`, redacted and bounded, without holding a body back.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use common::{Client, LOGGING, WAIT, relayer, serve, the_record};
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use relayer_axum::{CUT, RelayerLayer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The bound of the tests that cut; odd, so that it falls inside an `é`.
const MAX_BYTES: usize = 1001;

/// A body of 1 MiB.
const LARGE: usize = 1024 * 1024;

/// Echoes the request body with its `Content-Type` and `Content-Encoding`.
async fn echo(headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::builder();
    for name in [CONTENT_TYPE, CONTENT_ENCODING] {
        if let Some(value) = headers.get(&name) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(body)).unwrap()
}

fn echo_app(layer: RelayerLayer) -> Router {
    Router::new().route("/echo", post(echo)).layer(layer)
}

/// Sends `body` to `/echo` with these headers and returns the echo.
async fn send_echo(client: &Client, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Bytes {
    let mut request = client.request("POST", "/echo");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client
        .send(request.body(Full::new(body.into())).unwrap())
        .await
        .body
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// The record's captured field `name` as a string.
fn captured<'r>(record: &'r Value, name: &str) -> &'r str {
    record[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is a string: {record}"))
}

#[tokio::test]
async fn secret_keys_are_redacted_at_any_depth_in_both_bodies() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/login",
            post(|axum::Json(sent): axum::Json<Value>| async move {
                axum::Json(json!({
                    "received": sent,
                    "account": { "items": [{ "Token": "tok-S3CR", "id": 2 }], "API_KEY": 42 },
                }))
            }),
        )
        .layer(
            RelayerLayer::new(relayer)
                .capture_bodies(4096)
                .redact_body_key("SSN"),
        );
    let client = Client::new(serve(app).await);
    let sent = json!({
        "user": "ann",
        "profile": {
            "password": { "old": "pw-S3CR", "new": ["pw2-S3CR"] },
            "ssn": "ssn-S3CR",
            "items": [{ "Token": "tok-S3CR", "id": 1 }, { "id": 3 }],
        },
    });
    let request = client
        .request("POST", "/login")
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::from(sent.to_string()))
        .unwrap();
    let reply = client.send(request).await;
    assert!(reply.text().contains("pw-S3CR"), "the client gets it all");

    let record = the_record(&mock).await;
    let request_body: Value = serde_json::from_str(captured(&record, "request_body")).unwrap();
    let redacted_profile = json!({
        "password": "[redacted]",
        "ssn": "[redacted]",
        "items": [{ "Token": "[redacted]", "id": 1 }, { "id": 3 }],
    });
    assert_eq!(
        request_body,
        json!({ "user": "ann", "profile": redacted_profile })
    );
    let response_body: Value = serde_json::from_str(captured(&record, "response_body")).unwrap();
    assert_eq!(
        response_body,
        json!({
            "received": { "user": "ann", "profile": redacted_profile },
            "account": { "items": [{ "Token": "[redacted]", "id": 2 }], "API_KEY": "[redacted]" },
        })
    );
    assert!(!record.to_string().contains("S3CR"), "{record}");
}

/// The response of `/stream`: text chunks as the test sends them.
fn streaming_app(layer: RelayerLayer) -> (Router, mpsc::Sender<Bytes>) {
    let (chunks, receiver) = mpsc::channel::<Bytes>(1);
    let receiver = Arc::new(Mutex::new(Some(receiver)));
    let app = Router::new()
        .route(
            "/stream",
            get(move || async move {
                let receiver = receiver.lock().unwrap().take().expect("one request");
                let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
                    let chunk = receiver.recv().await?;
                    Some((Ok::<_, Infallible>(chunk), receiver))
                });
                (
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    Body::from_stream(stream),
                )
            }),
        )
        .layer(layer);
    (app, chunks)
}

/// Has `/stream` make its `first` chunk, and returns the response's body,
/// unread.
async fn open_stream(
    client: &Client,
    chunks: &mpsc::Sender<Bytes>,
    first: Bytes,
) -> hyper::body::Incoming {
    chunks.send(first).await.unwrap();
    let request = client.request("GET", "/stream").body(Full::default());
    client.open(request.unwrap()).await.into_body()
}

#[tokio::test]
async fn a_large_streamed_response_is_cut_and_not_delayed() {
    let (mock, relayer) = relayer();
    let (app, chunks) = streaming_app(RelayerLayer::new(relayer).capture_bodies(MAX_BYTES));
    let client = Client::new(serve(app).await);
    // 16 chunks of 64 KiB of "é" (2 bytes each).
    let chunk = Bytes::from("é".repeat(LARGE / 16 / 2));

    let mut body = open_stream(&client, &chunks, chunk.clone()).await;
    let mut received = Vec::new();
    // A layer that held the body back would never let this end.
    tokio::time::timeout(WAIT, async {
        while received.len() < chunk.len() {
            let frame = body.frame().await.expect("a frame").expect("no error");
            received.extend_from_slice(frame.data_ref().expect("data"));
        }
    })
    .await
    .expect("the first chunk before the handler made the others");
    // The first chunk is out while the handler has not made the others.
    assert!(mock.messages(LOGGING).is_empty());

    let rest = tokio::spawn(async move {
        for _ in 1..16 {
            chunks.send(chunk.clone()).await.unwrap();
        }
    });
    while let Some(frame) = body.frame().await {
        received.extend_from_slice(frame.expect("no error").data_ref().expect("data"));
    }
    rest.await.unwrap();
    assert_eq!(received.len(), LARGE);
    assert_eq!(received, "é".repeat(LARGE / 2).as_bytes());

    let record = the_record(&mock).await;
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["content_length"], LARGE);
    // 1001 bytes end inside an "é": the cut backs off to 1000.
    assert_eq!(
        captured(&record, "response_body"),
        format!("{}{CUT}", "é".repeat(500))
    );
    assert!(record.get("request_body").is_none(), "a GET sends no body");
}

#[tokio::test]
async fn a_large_request_body_is_cut_and_still_redacted() {
    let (mock, relayer) = relayer();
    let client = Client::new(
        serve(echo_app(
            RelayerLayer::new(relayer).capture_bodies(MAX_BYTES),
        ))
        .await,
    );
    let head = r#"{"password":"pw-S3CR","items":["#;
    let mut document = String::from(head);
    while document.len() < LARGE - 100 {
        document.push_str(r#""0123456789","#);
    }
    document.push_str(r#""end"]}"#);

    let echoed = send_echo(&client, &[JSON], document.clone()).await;
    assert_eq!(echoed, document.as_bytes());

    let record = the_record(&mock).await;
    assert_eq!(record["request_bytes"], document.len());
    let kept = &document[r#"{"password":"pw-S3CR","#.len()..MAX_BYTES];
    let redacted = format!(r#"{{"password":"[redacted]",{kept}"#);
    // The bound holds as written in the record, where a quote takes two bytes.
    let written = |text: &str| serde_json::to_string(text).unwrap().len() - 2;
    let end = (0..=redacted.len())
        .rev()
        .find(|&end| written(&redacted[..end]) <= MAX_BYTES)
        .unwrap();
    let expected = format!("{}{CUT}", &redacted[..end]);
    assert_eq!(captured(&record, "request_body"), expected);
    assert_eq!(captured(&record, "response_body"), expected);
}

#[tokio::test]
async fn binary_and_encoded_bodies_are_recorded_by_size_only() {
    let (mock, relayer) = relayer();
    let client =
        Client::new(serve(echo_app(RelayerLayer::new(relayer).capture_bodies(4096))).await);
    let binary: Vec<u8> = (0..=255).cycle().take(5_000).collect();
    send_echo(
        &client,
        &[("content-type", "application/octet-stream")],
        binary,
    )
    .await;
    // Bytes in gzip's format: the layer never decodes them, the header is what counts.
    let gzipped = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xabV*H,..\xcf/JQ\xb2R\x02\x00";
    send_echo(&client, &[JSON, ("content-encoding", "gzip")], &gzipped[..]).await;
    send_echo(
        &client,
        &[("content-type", "multipart/form-data; boundary=x")],
        "password=pw",
    )
    .await;
    send_echo(&client, &[], "no type").await;

    let records = common::records(&mock, 4).await;
    let sizes: Vec<_> = records
        .iter()
        .map(|record| {
            assert!(record.get("request_body").is_none(), "{record}");
            assert!(record.get("response_body").is_none(), "{record}");
            (&record["request_bytes"], &record["content_length"])
        })
        .collect();
    assert_eq!(
        sizes,
        [
            (&json!(5_000), &json!(5_000)),
            (&json!(gzipped.len()), &json!(gzipped.len())),
            (&json!(11), &json!(11)),
            (&json!(7), &json!(7)),
        ]
    );
}

#[tokio::test]
async fn bodies_are_not_captured_by_default() {
    let (mock, relayer) = relayer();
    let client = Client::new(serve(echo_app(RelayerLayer::new(relayer))).await);
    send_echo(&client, &[JSON], r#"{"a":1}"#).await;
    let record = the_record(&mock).await;
    assert!(record.get("request_body").is_none(), "{record}");
    assert!(record.get("response_body").is_none(), "{record}");
    assert_eq!(record["request_bytes"], 7);
}

#[tokio::test]
async fn a_body_within_the_bound_is_kept_whole() {
    let (mock, relayer) = relayer();
    let client = Client::new(
        serve(echo_app(
            RelayerLayer::new(relayer).capture_bodies(MAX_BYTES),
        ))
        .await,
    );
    let text = "é".repeat(MAX_BYTES / 2);
    send_echo(&client, &[("content-type", "text/plain")], text.clone()).await;
    send_echo(
        &client,
        &[("content-type", "application/problem+json")],
        r#"{"a":[1,2]}"#,
    )
    .await;

    let records = common::records(&mock, 2).await;
    assert_eq!(captured(&records[0], "request_body"), text);
    assert_eq!(captured(&records[0], "response_body"), text);
    assert_eq!(captured(&records[1], "request_body"), r#"{"a":[1,2]}"#);
    assert_eq!(captured(&records[1], "response_body"), r#"{"a":[1,2]}"#);
}

#[tokio::test]
async fn a_request_body_never_read_is_not_in_the_record() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/ignore", post(|| async { "ignored" }))
        .layer(RelayerLayer::new(relayer).capture_bodies(MAX_BYTES));
    let client = Client::new(serve(app).await);
    let request = client
        .request("POST", "/ignore")
        .header("content-type", "application/json")
        .body(Full::from(r#"{"a":1}"#))
        .unwrap();
    client.send(request).await;

    let record = the_record(&mock).await;
    assert!(record.get("request_body").is_none(), "{record}");
    assert_eq!(record["request_bytes"], 0);
    assert_eq!(captured(&record, "response_body"), "ignored");
}

#[tokio::test]
async fn a_client_gone_mid_response_leaves_what_was_sent() {
    let (mock, relayer) = relayer();
    let (app, chunks) = streaming_app(RelayerLayer::new(relayer).capture_bodies(MAX_BYTES));
    let client = Client::new(serve(app).await);

    let mut body = open_stream(&client, &chunks, Bytes::from("first chunk;")).await;
    body.frame().await.expect("a frame").expect("no error");
    drop(body);

    // The server notices on a later write and drops the body, and with it
    // the handler's stream.
    tokio::time::timeout(WAIT, async {
        while chunks.send(Bytes::from("more;")).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server dropped the body");

    let record = the_record(&mock).await;
    assert_eq!(record["outcome"], "cancelled");
    let response_body = captured(&record, "response_body");
    assert!(response_body.starts_with("first chunk;"), "{response_body}");
    assert!(
        response_body
            .trim_start_matches("first chunk;")
            .split_terminator("more;")
            .all(str::is_empty),
        "{response_body}"
    );
}
