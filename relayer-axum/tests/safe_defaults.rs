//! Safe by default, over real HTTP: secrets the way they really arrive
//! (OAuth responses, camelCase keys, JSON sent as text, signed URLs, a
//! client error quoting its URL) stay out of the record without any
//! configuration; client addresses from headers are believed only from
//! trusted proxies; what a client sends stays within its bound.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{any, get, post};
use bytes::Bytes;
use common::{Client, LOGGING, WAIT, serve, the_record};
use http::HeaderMap;
use http_body_util::Full;
use relayer::{Relayer, WireFormat};
use relayer_axum::{CUT, PropagateLayer, RelayerLayer};
use relayer_test::MockProducer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// Every secret value of these tests contains this.
const SECRET: &str = "S3CR";

fn relayer_with(format: WireFormat) -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .topic_prefix("test_")
        .topic_suffix("_topic")
        .wire_format(format)
        .producer(mock.clone())
        .build()
        .unwrap();
    (mock, relayer)
}

fn relayer() -> (MockProducer, Relayer) {
    relayer_with(WireFormat::Standard)
}

/// Echoes the request body with its `Content-Type`.
async fn echo(
    headers: HeaderMap,
    body: Bytes,
) -> ([(http::HeaderName, http::HeaderValue); 1], Bytes) {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    ([(http::header::CONTENT_TYPE, content_type)], body)
}

/// Serves `/echo` behind a layer capturing 4 KiB of each body, sends
/// `body` with `content_type`, and returns the record.
async fn echoed_record(content_type: &str, body: impl Into<Bytes>) -> Value {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/echo", post(echo))
        .layer(RelayerLayer::new(relayer).capture_bodies(4096));
    let client = Client::new(serve(app).await);
    let request = client
        .request("POST", "/echo")
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.status, 200);
    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    record
}

/// No message on the logging topic holds any part of a secret.
fn assert_no_secret(mock: &MockProducer) {
    for message in mock.messages(LOGGING) {
        let text = String::from_utf8_lossy(&message.value);
        assert!(!text.contains(SECRET), "a secret in {text}");
    }
}

fn body_field(record: &Value, name: &str) -> Value {
    let text = record[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {record}"));
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{name} {text}: {error}"))
}

#[tokio::test]
async fn an_oauth_token_response_and_camel_case_keys_are_redacted() {
    let sent = json!({
        "access_token": "at-S3CR", "refresh_token": "rt-S3CR", "id_token": "it-S3CR",
        "client_secret": "cs-S3CR", "newPassword": "np-S3CR", "apiKey": "ak-S3CR",
        "passwd": "pw-S3CR", "private_key": "pk-S3CR", "X-Api-Key": "xk-S3CR",
        "sessionId": "si-S3CR", "card_number": "4111-S3CR", "user_ssn": "078-S3CR",
        "token_type": "Bearer", "expires_in": 3600, "business_name": "ACME",
    });
    let record = echoed_record("application/json", sent.to_string()).await;
    let captured = body_field(&record, "request_body");
    for (key, value) in captured.as_object().unwrap() {
        let kept = ["expires_in", "business_name"].contains(&key.as_str());
        if kept {
            assert_eq!(value, &sent[key], "{key}");
        } else {
            assert_eq!(value, "[redacted]", "{key}");
        }
    }
    assert_eq!(body_field(&record, "response_body"), captured);
}

#[tokio::test]
async fn json_sent_as_text_is_redacted() {
    for content_type in ["text/plain;charset=UTF-8", "text/json", "text/plain"] {
        let record = echoed_record(
            content_type,
            "\n  {\"user\":\"ann\",\"password\":\"pw-S3CR\"}",
        )
        .await;
        assert_eq!(
            body_field(&record, "request_body"),
            json!({"user": "ann", "password": "[redacted]"}),
            "{content_type}"
        );
    }
    // Text that is not JSON is kept as it is.
    let record = echoed_record("text/plain", "password: plain text").await;
    assert_eq!(record["request_body"], "password: plain text");
}

#[tokio::test]
async fn json_inside_a_json_string_is_redacted() {
    let inner = json!({"user": "ann", "password": "pw-S3CR", "list": [{"token": "t-S3CR"}]});
    let sent =
        json!({"data": inner.to_string(), "items": [inner.to_string()], "note": "{not json"});
    let record = echoed_record("application/json", sent.to_string()).await;
    let captured = body_field(&record, "request_body");
    let redacted_inner =
        json!({"user": "ann", "password": "[redacted]", "list": [{"token": "[redacted]"}]});
    let data: Value = serde_json::from_str(captured["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, redacted_inner);
    let item: Value = serde_json::from_str(captured["items"][0].as_str().unwrap()).unwrap();
    assert_eq!(item, redacted_inner);
    assert_eq!(captured["note"], "{not json");
}

#[tokio::test]
async fn form_bodies_are_captured_with_their_secrets_masked() {
    let record = echoed_record(
        "application/x-www-form-urlencoded",
        "grant_type=password&username=ann&password=pw-S3CR&client_secret=cs-S3CR&scope=read",
    )
    .await;
    assert_eq!(
        record["request_body"],
        "grant_type=password&username=ann&password=[redacted]&client_secret=[redacted]&scope=read"
    );
}

/// A client that answers `200` to any request, behind [`PropagateLayer`].
fn propagating_client() -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<relayer_axum::CallBody<String>>,
    Error = relayer_axum::BoxError,
    Future: Send,
> + Clone {
    ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(service_fn(|_request: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }))
}

#[tokio::test]
async fn query_parameters_are_masked_by_default_in_the_query_and_the_calls() {
    let (mock, relayer) = relayer();
    let query = "page=2&access_token=at-S3CR&api_key=ak-S3CR&X-Amz-Signature=sig-S3CR\
                 &X-Amz-Security-Token=st-S3CR&X-Amz-Credential=cr-S3CR&sig=az-S3CR&tokenCount=7";
    let app = Router::new()
        .route(
            "/search",
            get(move || async move {
                let url = format!("http://api.example.com/v1/things?{query}");
                let request = http::Request::get(url).body(()).unwrap();
                propagating_client().oneshot(request).await.unwrap();
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    client.get(&format!("/search?{query}")).await;

    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    let masked = "page=2&access_token=[redacted]&api_key=[redacted]&X-Amz-Signature=[redacted]\
                  &X-Amz-Security-Token=[redacted]&X-Amz-Credential=[redacted]&sig=[redacted]\
                  &tokenCount=[redacted]";
    assert_eq!(record["query_string"], masked);
    assert_eq!(
        record["calls"][0]["url"],
        format!("http://api.example.com/v1/things?{masked}")
    );
}

/// An error like reqwest's, which ends with the URL it was sending to.
#[derive(Debug)]
struct ClientError(String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error sending request for url ({})", self.0)
    }
}

impl std::error::Error for ClientError {}

#[tokio::test]
async fn a_call_error_quoting_its_url_is_redacted_like_the_url() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/",
            get(|relayer: Relayer| async move {
                for url in [
                    "https://me:pw-S3CR@api.example.com/x?token=t-S3CR&page=2",
                    "//me:pw-S3CR@api.example.com/x?token=t-S3CR",
                    "https://me:p?w#d-S3CR@api.example.com/x",
                ] {
                    let mut call = relayer.outgoing_call("GET", url).unwrap();
                    call.set_error(&ClientError(url.to_owned()));
                    call.finish();
                }
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    client.get("/").await;

    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    let calls: Vec<(&str, &str)> = record["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| {
            (
                call["url"].as_str().unwrap(),
                call["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                "https://api.example.com/x?token=[redacted]&page=2",
                "error sending request for url (https://api.example.com/x?token=[redacted]&page=2)"
            ),
            (
                "//api.example.com/x?token=[redacted]",
                "error sending request for url (//api.example.com/x?token=[redacted])"
            ),
            (
                "https://api.example.com/x",
                "error sending request for url (https://api.example.com/x)"
            ),
        ]
    );
}

/// A client's request that fails, its error quoting `url`.
fn fetch(url: &str) -> Result<&'static str, ClientError> {
    Err(ClientError(url.to_owned()))
}

/// A handler that unwraps a client's error quoting a signed URL panics
/// with that URL: the panic line, and the error of the ECS and OTLP forms,
/// have it redacted like a call's error.
#[tokio::test]
async fn a_panic_quoting_a_url_is_redacted_like_a_call_error() {
    for format in [WireFormat::Standard, WireFormat::Ecs, WireFormat::OtlpJson] {
        let (mock, relayer) = relayer_with(format);
        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    // As a handler unwraps a client's result.
                    fetch("https://me:pw-S3CR@api.example.com/x?token=t-S3CR").unwrap()
                }),
            )
            .layer(RelayerLayer::new(relayer));
        let client = Client::new(serve(app).await);
        assert_eq!(client.get("/").await.status, 500);
        let records = mock.wait_for(LOGGING, 1, WAIT).await;
        let text = String::from_utf8_lossy(&records[0].value).into_owned();
        assert!(
            text.contains("https://api.example.com/x?token=[redacted]"),
            "{format:?}: the panic is recorded, redacted: {text}"
        );
        assert_no_secret(&mock);
    }
}

/// Serves `app` with every request seeming to come from `peer`, as if the
/// server were on the internet.
async fn serve_from(peer: SocketAddr, app: Router) -> SocketAddr {
    let app = app.layer(axum::middleware::map_request(
        move |mut request: axum::extract::Request| async move {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        },
    ));
    serve(app).await
}

async fn remote_addr(
    format: WireFormat,
    peer: Option<SocketAddr>,
    headers: &[(&str, &str)],
) -> Value {
    remote_addr_with(format, peer, headers, |layer| layer).await
}

/// The `remote_addr` of a request from `peer` (else loopback) with these
/// headers, through the layer as `configure` makes it.
async fn remote_addr_with(
    format: WireFormat,
    peer: Option<SocketAddr>,
    headers: &[(&str, &str)],
    configure: fn(RelayerLayer) -> RelayerLayer,
) -> Value {
    let (mock, relayer) = relayer_with(format);
    let app = Router::new()
        .route("/", any(|| async { "ok" }))
        .layer(configure(RelayerLayer::new(relayer)));
    let addr = match peer {
        Some(peer) => serve_from(peer, app).await,
        None => serve(app).await,
    };
    let client = Client::new(addr);
    let mut request = client.request("GET", "/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client.send(request.body(Full::default()).unwrap()).await;
    the_record(&mock).await["remote_addr"].clone()
}

#[tokio::test]
async fn a_client_on_the_internet_cannot_choose_its_address() {
    let internet: SocketAddr = "198.51.100.20:50000".parse().unwrap();
    let forged = [
        ("x-real-ip", "203.0.113.9"),
        ("x-forwarded-for", "203.0.113.9"),
    ];
    for format in [WireFormat::Standard, WireFormat::Python1] {
        assert_eq!(
            remote_addr(format, Some(internet), &forged).await,
            "198.51.100.20",
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() {
    // The peer is 127.0.0.1: loopback is trusted by default.
    let chain = [("x-forwarded-for", "192.0.2.1, 203.0.113.9, 10.0.0.3")];
    assert_eq!(
        remote_addr(WireFormat::Standard, None, &chain).await,
        "203.0.113.9"
    );
    // The Python relayer's behaviour, from a trusted proxy: X-Real-IP as sent.
    let real_ip = [("x-real-ip", "203.0.113.7")];
    assert_eq!(
        remote_addr(WireFormat::Python1, None, &real_ip).await,
        "203.0.113.7"
    );
}

#[tokio::test]
async fn the_trusted_proxies_can_be_set_or_none() {
    let balancer: SocketAddr = "198.51.100.20:50000".parse().unwrap();
    let chain = [
        ("x-forwarded-for", "192.0.2.1, 203.0.113.9, 198.51.100.5"),
        ("x-real-ip", "192.0.2.1"),
    ];
    let in_front = |layer: RelayerLayer| layer.trusted_proxies(["198.51.100.0/24"]);
    assert_eq!(
        remote_addr_with(WireFormat::Standard, Some(balancer), &chain, in_front).await,
        "203.0.113.9"
    );
    // Loopback is no longer trusted.
    assert_eq!(
        remote_addr_with(WireFormat::Standard, None, &chain, in_front).await,
        "127.0.0.1"
    );
    for format in [WireFormat::Standard, WireFormat::Python1] {
        let none = |layer: RelayerLayer| layer.no_trusted_proxies();
        assert_eq!(
            remote_addr_with(format, None, &chain, none).await,
            "127.0.0.1",
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn names_the_rule_catches_can_be_kept_and_others_added() {
    let (mock, relayer) = relayer();
    let app = Router::new().route("/echo", post(echo)).layer(
        RelayerLayer::new(relayer)
            .capture_bodies(4096)
            .record_all_headers()
            .keep_body_key("max_tokens")
            .redact_body_key("date_of_birth")
            .keep_query_param("token_count")
            .redact_query_param("code")
            .keep_header("x-session-region")
            .redact_header("x-tenant")
            .keep_header("authorization"),
    );
    let client = Client::new(serve(app).await);
    let request = client
        .request(
            "POST",
            "/echo?tokenCount=7&code=oc-S3CR&token=t-S3CR&page=1",
        )
        .header("content-type", "application/json")
        .header("x-session-region", "eu")
        .header("x-tenant", "acme-S3CR")
        .header("authorization", "Bearer b-S3CR")
        .body(Full::from(
            r#"{"maxTokens":256,"dateOfBirth":"1970-S3CR","token":"t-S3CR"}"#,
        ))
        .unwrap();
    client.send(request).await;

    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    assert_eq!(
        record["query_string"],
        "tokenCount=7&code=[redacted]&token=[redacted]&page=1"
    );
    assert_eq!(
        body_field(&record, "request_body"),
        json!({"maxTokens": 256, "dateOfBirth": "[redacted]", "token": "[redacted]"})
    );
    let headers = &record["headers"];
    assert_eq!(headers["x-session-region"], "eu");
    assert_eq!(headers["x-tenant"], "[redacted]");
    assert_eq!(headers["authorization"], "[redacted]", "never kept");
}

#[tokio::test]
async fn a_captured_body_is_bounded_as_written_in_the_record() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/echo", post(echo))
        .layer(RelayerLayer::new(relayer).capture_bodies(8 * 1024));
    let client = Client::new(serve(app).await);
    // Each byte is six when written as JSON (`\u0001`).
    let request = client
        .request("POST", "/echo")
        .header("content-type", "text/plain")
        .body(Full::from(vec![1_u8; 8 * 1024]))
        .unwrap();
    client.send(request).await;

    let record = the_record(&mock).await;
    let message = &mock.messages(LOGGING)[0].value;
    for name in ["request_body", "response_body"] {
        let written = serde_json::to_string(&record[name]).unwrap();
        // Without its quotes, and the cut mark.
        let length = written.len() - 2 - CUT.len();
        assert!(length <= 8 * 1024, "{name}: {length} bytes written");
        assert!(
            written.ends_with(&format!("{CUT}\"")),
            "{name} is marked as cut"
        );
    }
    assert!(message.len() < 20 * 1024, "{} bytes", message.len());
    assert_eq!(record["status"], 200);
}

#[tokio::test]
async fn a_huge_method_is_cut_like_other_client_values() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", any(|| async { "ok" }))
        .layer(RelayerLayer::new(relayer));
    let addr = serve(app).await;
    let method = "M".repeat(200 * 1024);
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            format!("{method} / HTTP/1.1\r\nhost: relayer.test\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, socket.read_to_end(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response[..40])
    );

    let record = the_record(&mock).await;
    let recorded = record["method"].as_str().unwrap();
    assert!(recorded.ends_with(CUT), "{}", &recorded[..20]);
    assert!(recorded.len() <= relayer_axum::DEFAULT_MAX_VALUE_BYTES + CUT.len());
    assert_eq!(
        (&record["path"], &record["status"]),
        (&json!("/"), &json!(200))
    );
}
