//! Shared by the integration tests: a relayer on a mock producer, a real
//! HTTP server and client on loopback, and record helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::panic;
use std::sync::Once;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relayer::Relayer;
use relayer_test::MockProducer;
use serde_json::Value;
use tokio::net::TcpListener;

/// The logging topic of [`relayer`]: the Python tests' prefix and suffix.
pub(crate) const LOGGING: &str = "test_logging_topic";

/// How long a test waits for a record before failing.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A relayer on a fresh mock, configured like the Python relayer's tests:
/// logging topic `logging`, prefix `test_`, suffix `_topic`.
pub(crate) fn relayer() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .topic_prefix("test_")
        .topic_suffix("_topic")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    (mock, relayer)
}

/// Waits for `count` records and returns them as JSON.
pub(crate) async fn records(mock: &MockProducer, count: usize) -> Vec<Value> {
    mock.wait_for(LOGGING, count, WAIT)
        .await
        .iter()
        .map(relayer_test::Message::json)
        .collect()
}

/// Waits for exactly one record (none before it, none after it so far).
pub(crate) async fn the_record(mock: &MockProducer) -> Value {
    let records = records(mock, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    records.into_iter().next().unwrap()
}

/// Serves `app` on 127.0.0.1 over real TCP, with the peer address as
/// `ConnectInfo<SocketAddr>`, until the test's runtime stops.
pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// An HTTP/1 client over real TCP (hyper-util's pooled client).
#[derive(Clone)]
pub(crate) struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub(crate) fn request_id(&self) -> &str {
        self.headers["x-request-id"].to_str().unwrap()
    }
}

impl Client {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let inner = HyperClient::builder(TokioExecutor::new()).build_http();
        Self { inner, addr }
    }

    /// A request to `path` on the server, to complete and send.
    pub(crate) fn request(&self, method: &str, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(self.request("GET", path).body(Full::default()).unwrap())
            .await
    }

    /// Sends `request` and reads the whole response.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        let response = self.inner.request(request).await.expect("a response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a whole body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends `request` and returns the response with its body unread.
    pub(crate) async fn open(
        &self,
        request: Request<Full<Bytes>>,
    ) -> http::Response<hyper::body::Incoming> {
        self.inner.request(request).await.expect("a response")
    }
}

/// Panics whose message contains this are expected by a test: the panic
/// hook stays quiet about them.
pub(crate) const EXPECTED_PANIC: &str = "expected panic";

/// Keeps the default panic hook from printing the tests' expected panics
/// (their messages contain [`EXPECTED_PANIC`]); other panics print as usual.
pub(crate) fn quiet_expected_panics() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or_default();
            if !message.contains(EXPECTED_PANIC) {
                default(info);
            }
        }));
    });
}

/// The `lines` of a record.
pub(crate) fn lines(record: &Value) -> &Vec<Value> {
    record["lines"].as_array().expect("lines is an array")
}

/// The sorted keys of a JSON object.
pub(crate) fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
