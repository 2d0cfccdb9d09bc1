//! The layer in front of an axum app served over real TCP (`axum::serve`
//! with `ConnectInfo`), driven by a real HTTP client or a raw socket.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::response::AppendHeaders;
use axum::routing::get;
use bytes::Bytes;
use common::{
    Client, EXPECTED_PANIC, LOGGING, WAIT, lines, quiet_expected_panics, records, relayer, serve,
    the_record,
};
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, oneshot};

#[tokio::test]
async fn remote_addr_is_the_peer_address() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);
    client.get("/").await;
    let record = the_record(&mock).await;
    assert_eq!(record["remote_addr"], "127.0.0.1");
}

/// The delay before each chunk of a stream but the first.
const CHUNK_DELAY: Duration = Duration::from_millis(30);
const CHUNK: &[u8] = b"0123456789";

/// A stream of `count` chunks (or endless), `CHUNK_DELAY` apart; the last
/// one waits for `gate`. Each chunk logs into the request's record through
/// `Relayer::current`, as the body is polled with it current.
fn chunks(
    count: Option<u32>,
    gate: Option<oneshot::Receiver<()>>,
    on_drop: Option<DropSignal>,
) -> Body {
    let state = (1_u32, gate, on_drop);
    Body::from_stream(futures_util::stream::unfold(
        state,
        move |(n, mut gate, on_drop)| async move {
            if count.is_some_and(|count| n > count) {
                return None;
            }
            if n > 1 {
                tokio::time::sleep(CHUNK_DELAY).await;
            }
            if count == Some(n)
                && let Some(gate) = gate.take()
            {
                gate.await.expect("the test opens the gate");
            }
            Relayer::current()
                .expect("the body is polled with the request's relayer current")
                .info(&json!({ "chunk": n }))
                .unwrap();
            let chunk = Ok::<_, Infallible>(Bytes::from_static(CHUNK));
            Some((chunk, (n + 1, gate, on_drop)))
        },
    ))
}

/// Says when it is dropped.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(signal) = self.0.take() {
            let _ = signal.send(());
        }
    }
}

/// Hands a value to the one request that takes it.
fn once<T>(value: T) -> Arc<Mutex<Option<T>>> {
    Arc::new(Mutex::new(Some(value)))
}

#[tokio::test]
async fn a_streaming_body_is_recorded_after_its_last_chunk() {
    let (mock, relayer) = relayer();
    let (go, gate) = oneshot::channel();
    let gate = once(gate);
    let app = Router::new()
        .route(
            "/stream",
            get(move |relayer: Relayer| async move {
                relayer.info("stream starts").unwrap();
                chunks(Some(3), gate.lock().unwrap().take(), None)
            }),
        )
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    let response = client
        .open(
            client
                .request("GET", "/stream")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body = response.into_body();
    let mut received = 0;
    while received < 2 * CHUNK.len() {
        let frame = body.frame().await.expect("a frame").expect("no error");
        received += frame.data_ref().map_or(0, Bytes::len);
    }
    // Two chunks are out, the third waits: the body has not ended, so
    // there is no record yet.
    assert!(mock.messages(LOGGING).is_empty());

    go.send(()).unwrap();
    while let Some(frame) = body.frame().await {
        received += frame.expect("no error").data_ref().map_or(0, Bytes::len);
    }
    assert_eq!(received, 3 * CHUNK.len());

    let record = the_record(&mock).await;
    assert_eq!(record["request_id"], request_id);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["status"], 200);
    assert_eq!(record["content_length"], 3 * CHUNK.len());
    let request_time = record["request_time"].as_f64().unwrap();
    let delays = (2 * CHUNK_DELAY).as_secs_f64() * 1000.0;
    assert!(request_time >= delays, "{request_time} < {delays}");
    let payloads: Vec<&Value> = lines(&record).iter().map(|line| &line["payload"]).collect();
    assert_eq!(
        payloads,
        [
            &json!("stream starts"),
            &json!({"chunk": 1}),
            &json!({"chunk": 2}),
            &json!({"chunk": 3})
        ]
    );
}

async fn panics(relayer: Relayer) -> &'static str {
    relayer.info("before the panic").unwrap();
    panic!("{EXPECTED_PANIC}: boom")
}

#[tokio::test]
async fn a_panic_is_a_500_and_a_panicked_record() {
    quiet_expected_panics();
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/panic", get(panics))
        .route("/fine", get(|| async { "fine" }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    let reply = client.get("/panic").await;
    assert_eq!(reply.status, 500);
    assert!(reply.body.is_empty());
    let record = the_record(&mock).await;
    assert_eq!(record["request_id"], reply.request_id());
    assert_eq!(record["outcome"], "panicked");
    assert_eq!(record["status"], 500);
    assert_eq!(record["content_length"], 0);
    let lines = lines(&record);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["payload"], "before the panic");
    assert_eq!(lines[1]["log_level"], "error");
    assert_eq!(
        lines[1]["payload"],
        json!({"message": "handler panicked", "panic": format!("{EXPECTED_PANIC}: boom")})
    );

    // The server goes on serving.
    assert_eq!(client.get("/fine").await.text(), "fine");
    assert_eq!(records(&mock, 2).await[1]["outcome"], "ok");
}

#[tokio::test]
async fn a_body_that_panics_while_streaming_gives_a_panicked_record() {
    quiet_expected_panics();
    let (mock, relayer) = relayer();
    let stream = || async {
        let chunks = futures_util::stream::unfold(0, |n| async move {
            if n == 2 {
                // The status and the first chunks are on the wire by now.
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("{EXPECTED_PANIC}: the stream broke");
            }
            Some((Ok::<_, Infallible>(Bytes::from_static(b"chunk")), n + 1))
        });
        Body::from_stream(chunks)
    };
    let app = Router::new()
        .route("/stream", get(stream))
        .route("/fine", get(|| async { "fine" }))
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    let response = client
        .open(
            client
                .request("GET", "/stream")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.status(),
        200,
        "the status went out before the body"
    );
    assert!(
        response.into_body().collect().await.is_err(),
        "the body breaks off"
    );

    let record = the_record(&mock).await;
    assert_eq!(
        record["outcome"], "panicked",
        "not `cancelled`: the client did not go away"
    );
    assert_eq!(record["status"], 200, "the status as sent");
    let lines = lines(&record);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["log_level"], "error");
    assert_eq!(
        lines[0]["payload"],
        json!({"message": "response body panicked", "panic": format!("{EXPECTED_PANIC}: the stream broke")})
    );
    assert_eq!(
        client.get("/fine").await.text(),
        "fine",
        "the server goes on"
    );
    assert_eq!(records(&mock, 2).await.len(), 2, "one record each");
}

#[tokio::test]
async fn an_oversized_request_id_is_replaced_and_never_copied() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/emit",
            get(|relayer: Relayer| async move {
                relayer.emit("order", "created", &1).unwrap();
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    let huge = "x".repeat(380 * 1024);
    for bad in [huge.as_str(), "has spaces", "tab\there"] {
        let request = client
            .request("GET", "/emit")
            .header("x-request-id", bad)
            .body(Full::default())
            .unwrap();
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200);
        let id = reply.request_id().to_owned();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a new id instead of {bad:.20}"
        );
        let record = records(&mock, 1).await.pop().unwrap();
        assert_eq!(record["request_id"], id.as_str());
        assert_eq!(mock.json("test_order_topic")[0]["request_id"], id.as_str());
        for message in mock.topics().iter().flat_map(|topic| mock.messages(topic)) {
            assert!(
                message.value.len() < 2048,
                "no message carries the client's id"
            );
        }
        mock.clear();
    }

    let at_the_bound = "r".repeat(relayer_axum::DEFAULT_MAX_REQUEST_ID_BYTES);
    let request = client
        .request("GET", "/emit")
        .header("x-request-id", &at_the_bound)
        .body(Full::default())
        .unwrap();
    assert_eq!(
        client.send(request).await.request_id(),
        at_the_bound,
        "a long but valid id is kept"
    );
}

#[tokio::test]
async fn oversized_headers_are_cut_and_the_record_still_fits() {
    let mock = relayer_test::MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .max_message_bytes(100_000)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|relayer: Relayer| async move {
                relayer.info(&"y".repeat(40_000)).unwrap();
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer.clone()).record_all_headers());
    let client = Client::new(serve(app).await);

    // Within what hyper accepts (about 400 KB of headers in all).
    let big = "u".repeat(40 * 1024);
    let request = client
        .request("GET", "/?q=1")
        .header("user-agent", "u".repeat(150 * 1024))
        .header("x-forwarded-for", &big)
        .header("x-real-ip", &big)
        .header("x-one", &big)
        .header("x-two", &big)
        .header("x-three", &big)
        .body(Full::default())
        .unwrap();
    let reply = client.send(request).await;
    assert_eq!(reply.status, 200);

    let sent = mock.wait_for("logging", 1, WAIT).await;
    assert_eq!(sent.len(), 1, "one record");
    assert!(
        sent[0].value.len() <= 100_000,
        "within the maximum message size"
    );
    let record = sent[0].json();
    let cut = |value: &Value| {
        let text = value.as_str().unwrap();
        assert!(text.ends_with(relayer_axum::CUT), "marked as cut");
        assert!(text.len() <= relayer_axum::DEFAULT_MAX_VALUE_BYTES + relayer_axum::CUT.len());
    };
    cut(&record["user_agent"]);
    cut(&record["x_forwarded_for"]);
    assert_eq!(
        record["remote_addr"], "127.0.0.1",
        "neither header holds an address: the peer's"
    );
    cut(&record["headers"]["x-one"]);
    // Eight cut values (the recorded headers and the record's own fields)
    // leave no room for the line.
    let lines = lines(&record);
    assert_eq!(lines.last().unwrap()["payload"]["dropped_lines"], 1);
    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.dropped),
        (1, 1, 0),
        "counted"
    );
}

#[tokio::test]
async fn a_record_whose_own_fields_cannot_fit_is_written_small_not_lost() {
    let mock = relayer_test::MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .max_message_bytes(4_000)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|relayer: Relayer| async move {
                relayer.info("a line").unwrap();
                "ok"
            }),
        )
        .layer(RelayerLayer::new(relayer.clone()));
    let client = Client::new(serve(app).await);

    let request = client
        .request("GET", "/")
        .header("user-agent", "u".repeat(6_000))
        .header("x-request-id", "req-small")
        .body(Full::default())
        .unwrap();
    client.send(request).await;

    let sent = mock.wait_for("logging", 1, WAIT).await;
    assert!(sent[0].value.len() <= 4_000);
    let record = sent[0].json();
    assert_eq!(record["request_id"], "req-small");
    assert_eq!(record["outcome"], "ok");
    assert!(
        record["record_too_large"].as_u64().unwrap() > 4_000,
        "says why: {record}"
    );
    assert!(record.get("user_agent").is_none());
    assert_eq!(lines(&record)[0]["payload"]["dropped_lines"], 1);
    assert_eq!(
        relayer.stats().delivered,
        1,
        "counted as a delivered record"
    );
}

#[tokio::test]
async fn a_client_gone_mid_stream_gives_one_cancelled_record() {
    let (mock, relayer) = relayer();
    let (dropped, stream_dropped) = oneshot::channel();
    let on_drop = once(DropSignal(Some(dropped)));
    let app = Router::new()
        .route(
            "/forever",
            get(move || async move { chunks(None, None, on_drop.lock().unwrap().take()) }),
        )
        .layer(RelayerLayer::new(relayer));
    let addr = serve(app).await;

    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /forever HTTP/1.1\r\nhost: relayer.test\r\n\r\n")
        .await
        .unwrap();
    // Read the head and the first chunk, then go away.
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !String::from_utf8_lossy(&received).contains("0123456789") {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the server closed first");
        received.extend_from_slice(&buffer[..read]);
    }
    assert!(received.starts_with(b"HTTP/1.1 200 OK"));
    drop(socket);

    // The server notices on a later write and drops the body.
    tokio::time::timeout(WAIT, stream_dropped)
        .await
        .expect("the server dropped the body")
        .unwrap();
    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["status"], 200);
    let sent = record["content_length"].as_u64().unwrap();
    assert!(
        sent >= CHUNK.len() as u64 && sent % CHUNK.len() as u64 == 0,
        "{sent}"
    );
    assert_eq!(lines(record).len() as u64, sent / CHUNK.len() as u64);
}

/// How many requests run at once in the isolation test.
const CONCURRENT: usize = 1_000;

/// Logs three lines and emits an event, each carrying `n`, from the handler,
/// from code that only knows `Relayer::current`, and from a spawned task;
/// waits in the middle until every request is in flight.
async fn work(relayer: Relayer, Path(n): Path<usize>, barrier: Arc<Barrier>) -> String {
    relayer.info(&json!({ "n": n, "step": "handler" })).unwrap();
    barrier.wait().await;
    Relayer::current()
        .unwrap()
        .info(&json!({ "n": n, "step": "current" }))
        .unwrap();
    let task = relayer.bind(async move {
        tokio::task::yield_now().await;
        Relayer::current()
            .unwrap()
            .info(&json!({ "n": n, "step": "task" }))
            .unwrap();
    });
    tokio::spawn(task).await.unwrap();
    relayer.emit("work", "done", &json!({ "n": n })).unwrap();
    n.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_never_mix_their_lines() {
    let (mock, relayer) = relayer();
    let barrier = Arc::new(Barrier::new(CONCURRENT));
    let app = Router::new()
        .route(
            "/work/{n}",
            get(move |relayer: Relayer, n: Path<usize>| work(relayer, n, barrier.clone())),
        )
        .layer(RelayerLayer::new(relayer));
    let client = Client::new(serve(app).await);

    let requests: Vec<_> = (0..CONCURRENT)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = client
                    .request("GET", &format!("/work/{n}"))
                    .header("x-request-id", format!("req-{n}"))
                    .body(Full::default())
                    .unwrap();
                let reply = client.send(request).await;
                assert_eq!(reply.text(), n.to_string());
                assert_eq!(reply.request_id(), format!("req-{n}"));
            })
        })
        .collect();
    for request in requests {
        tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .expect("every request is answered")
            .unwrap();
    }

    let records = records(&mock, CONCURRENT).await;
    assert_eq!(records.len(), CONCURRENT);
    let mut seen = vec![false; CONCURRENT];
    for record in &records {
        let request_id = record["request_id"].as_str().unwrap();
        let n: usize = request_id.strip_prefix("req-").unwrap().parse().unwrap();
        assert!(!seen[n], "two records for {request_id}");
        seen[n] = true;
        let lines = lines(record);
        let steps: Vec<Option<&str>> = lines
            .iter()
            .map(|line| line["payload"]["step"].as_str())
            .collect();
        let event = None;
        assert_eq!(
            steps,
            [Some("handler"), Some("current"), Some("task"), event],
            "{record:#}"
        );
        for line in lines {
            assert_eq!(
                line["payload"]["n"], n,
                "a foreign line in {request_id}: {line}"
            );
        }
        assert_eq!(lines[3]["request_id"], request_id);
    }
    for event in mock.json("test_work_topic") {
        let n = event["payload"]["n"].as_u64().unwrap();
        assert_eq!(event["request_id"], format!("req-{n}"));
    }
}

#[tokio::test]
async fn skipped_paths_have_no_scope_and_no_record() {
    let (mock, relayer) = relayer();
    let has_relayer = |relayer: Option<Relayer>| async move {
        format!("{}", relayer.is_some() || Relayer::current().is_some())
    };
    let app = Router::new()
        .route("/health", get(has_relayer))
        .route("/static/app.js", get(has_relayer))
        .route("/work", get(has_relayer))
        .layer(
            RelayerLayer::new(relayer)
                .skip_path("/health")
                .skip_path_prefix("/static/"),
        );
    let client = Client::new(serve(app).await);

    for path in ["/health", "/static/app.js"] {
        let reply = client.get(path).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "false", "{path}");
        assert!(!reply.headers.contains_key("x-request-id"), "{path}");
    }
    assert_eq!(client.get("/work").await.text(), "true");

    let record = the_record(&mock).await;
    assert_eq!(record["path"], "/work");
    assert_eq!(mock.topics(), [LOGGING]);
}

/// Secrets the client sends or the app answers; none may reach a record.
const SECRETS: [&str; 6] = [
    "Bearer s3cret-authorization",
    "s3cret-cookie",
    "s3cret-api-key",
    "s3cret-token",
    "s3cret-set-cookie",
    "s3cret-proxy",
];

async fn echo_authorization(
    headers: HeaderMap,
) -> (AppendHeaders<[(&'static str, String); 1]>, String) {
    let authorization = headers["authorization"].to_str().unwrap().to_owned();
    let set_cookie = format!("session={}", SECRETS[4]);
    (AppendHeaders([("set-cookie", set_cookie)]), authorization)
}

async fn send_secrets(client: &Client) -> common::Reply {
    let request = client
        .request(
            "GET",
            &format!("/secret?page=2&token={}&Token=x", SECRETS[3]),
        )
        .header("authorization", SECRETS[0])
        .header("cookie", format!("session={}", SECRETS[1]))
        .header("x-api-key", SECRETS[2])
        .header("proxy-authorization", SECRETS[5])
        .header("x-tenant", "acme")
        .body(Full::default())
        .unwrap();
    client.send(request).await
}

fn assert_no_secret(mock: &relayer_test::MockProducer) {
    for message in mock.messages(LOGGING) {
        let text = String::from_utf8(message.value).unwrap();
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn secrets_never_reach_a_record_and_configured_ones_are_redacted() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/secret", get(echo_authorization))
        .layer(
            RelayerLayer::new(relayer)
                .record_header("X-Tenant")
                .record_header("authorization")
                .record_header("cookie")
                .record_header("x-api-key")
                .record_header("x-absent")
                .redact_header("x-api-key")
                .redact_query_param("token"),
        );
    let client = Client::new(serve(app).await);

    let reply = send_secrets(&client).await;
    // The app itself still sees the secrets.
    assert_eq!(reply.text(), SECRETS[0]);
    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    assert_eq!(
        record["query_string"],
        "page=2&token=[redacted]&Token=[redacted]"
    );
    let headers: BTreeMap<String, String> =
        serde_json::from_value(record["headers"].clone()).unwrap();
    assert_eq!(
        headers,
        BTreeMap::from([
            ("authorization".to_owned(), "[redacted]".to_owned()),
            ("cookie".to_owned(), "[redacted]".to_owned()),
            ("x-api-key".to_owned(), "[redacted]".to_owned()),
            ("x-tenant".to_owned(), "acme".to_owned()),
        ])
    );
}

#[tokio::test]
async fn recording_all_headers_still_hides_the_secret_ones() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/secret", get(echo_authorization))
        .layer(
            RelayerLayer::new(relayer)
                .record_all_headers()
                .redact_header("x-api-key")
                .redact_query_param("token"),
        );
    let client = Client::new(serve(app).await);

    send_secrets(&client).await;
    let record = the_record(&mock).await;
    assert_no_secret(&mock);
    let headers = &record["headers"];
    assert_eq!(headers["x-tenant"], "acme");
    assert!(headers["host"].as_str().unwrap().starts_with("127.0.0.1:"));
    for hidden in [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
    ] {
        assert_eq!(headers[hidden], "[redacted]", "{hidden}");
    }
}

#[tokio::test]
async fn request_bytes_are_the_body_bytes_received() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/upload",
            axum::routing::post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route("/", get(|| async { "no body" }))
        .layer(RelayerLayer::new(relayer));
    let addr = serve(app).await;
    let client = Client::new(addr);

    // A body with a length.
    let upload = client
        .request("POST", "/upload")
        .body(Full::from(vec![b'x'; 100_000]))
        .unwrap();
    assert_eq!(client.send(upload).await.text(), "100000");
    // A chunked body, over a raw socket.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            b"POST /upload HTTP/1.1\r\nhost: relayer.test\r\ntransfer-encoding: chunked\r\n\
              connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.ends_with("11"), "{response}");
    // No body.
    client.get("/").await;

    let records = records(&mock, 3).await;
    let sizes: Vec<_> = records
        .iter()
        .map(|record| {
            (
                &record["path"],
                &record["request_bytes"],
                &record["content_length"],
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            (&json!("/upload"), &json!(100_000), &json!(6)),
            (&json!("/upload"), &json!(11), &json!(2)),
            (&json!("/"), &json!(0), &json!(7)),
        ]
    );
}
