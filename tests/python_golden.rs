//! The promise to teams moving from the Python relayer: replays every case
//! that the Python relayer 1.0.0 really produced (`tests/fixtures/`) through
//! `RelayerLayer` over real HTTP, or through `#[relayed]`, with
//! `WireFormat::Python1`, and compares every message produced.
//!
//! Same topics, same order per topic, same key bytes, and every field that
//! Python wrote present with the same value; `date`, `request_time` and
//! `service_time` depend on the clock, so their type and format are
//! compared. Fields that relayer adds (`outcome`, `timestamp`, ...) are
//! allowed. The views and the RPC method act through the relayer built at
//! startup, as Python code does, not through a handle they were given.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::{Relayer, WireFormat, relayed};
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/python-relayer-1.0.jsonl");

fn cases() -> Vec<Value> {
    FIXTURES
        .lines()
        .map(|line| serde_json::from_str(line).expect("a fixture line is JSON"))
        .collect()
}

/// The relayer of a case's `config`, in the Python form, on a mock.
fn relayer(config: &Value) -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let text = |key: &str| config[key].as_str().map(str::to_owned);
    let mut builder = Relayer::builder(text("logging_topic").expect("a logging topic"))
        .wire_format(WireFormat::Python1)
        .producer(mock.clone());
    if let Some(prefix) = text("topic_prefix") {
        builder = builder.topic_prefix(prefix);
    }
    if let Some(suffix) = text("topic_suffix") {
        builder = builder.topic_suffix(suffix);
    }
    if let Some(source) = text("source") {
        builder = builder.source(source);
    }
    (mock, builder.build().expect("a relayer on a mock"))
}

/// Does what the Python view or method did, with the app-wide relayer.
fn act(relayer: &Relayer, actions: &Value) {
    for action in actions.as_array().expect("actions is an array") {
        let action = action.as_array().expect("an action is an array");
        let text = |index: usize| action[index].as_str().expect("a string");
        match text(0) {
            "emit" => match key(&action[4]) {
                None => relayer.emit(text(1), text(2), &action[3]),
                Some(key) => relayer.emit_with_key(text(1), text(2), &action[3], key),
            },
            "emit_raw" => match key(&action[3]) {
                None => relayer.emit_raw(text(1), &action[2]),
                Some(key) => relayer.emit_raw_with_key(text(1), &action[2], key),
            },
            "log" => relayer.log(text(1), &action[2]),
            other => panic!("unknown action {other}"),
        }
        .expect("the action is accepted");
    }
}

/// A key as Python sent it: a UUID as its 16 bytes, any other string as
/// its UTF-8 bytes.
fn key(key: &Value) -> Option<Vec<u8>> {
    let key = key.as_str()?;
    Some(match uuid::Uuid::parse_str(key) {
        Ok(uuid) => uuid.as_bytes().to_vec(),
        Err(_) => key.as_bytes().to_vec(),
    })
}

/// Replays an `http` case over real TCP.
async fn replay_http(case: &Value, relayer: Relayer) {
    let actions = Arc::new(case["actions"].clone());
    let status = case["status"].as_u64().unwrap_or(200) as u16;
    let app_wide = relayer.clone();
    let view = move || {
        act(&app_wide, &actions);
        let status = StatusCode::from_u16(status).expect("a status");
        async move { (status, "done") }
    };
    let app = Router::new()
        .fallback(view)
        .layer(RelayerLayer::new(relayer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });

    let request = &case["request"];
    let query = request["query"].as_str().unwrap();
    let path = request["path"].as_str().unwrap();
    let uri: Uri = match query {
        "" => format!("http://{addr}{path}"),
        query => format!("http://{addr}{path}?{query}"),
    }
    .parse()
    .unwrap();
    let mut builder = http::Request::builder()
        .method(Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap())
        .uri(uri);
    for (name, value) in request["headers"].as_object().unwrap() {
        builder = builder.header(name, value.as_str().unwrap());
    }
    let body = request["body"].as_str().unwrap_or_default().to_owned();
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.expect("a response");
    assert_eq!(response.status().as_u16(), status);
    response.into_body().collect().await.expect("the body");
}

/// Python's `Greeter.say_hello(self, name)` behind its RPC decorator.
struct Greeter {
    relayer: Relayer,
    actions: Value,
}

impl Greeter {
    #[relayed(with = self.relayer)]
    fn say_hello(&self, name: &str) -> String {
        act(&self.relayer, &self.actions);
        format!("hello {name}")
    }
}

#[tokio::test]
async fn every_case_produces_what_python_produced() {
    let cases = cases();
    assert_eq!(cases.len(), 9, "every case of the fixture is replayed");
    for case in &cases {
        let name = case["case"].as_str().unwrap();
        let (mock, relayer) = relayer(&case["config"]);
        match case["kind"].as_str().unwrap() {
            "http" => replay_http(case, relayer).await,
            "rpc" => {
                let greeter = Greeter {
                    relayer,
                    actions: case["actions"].clone(),
                };
                assert_eq!(greeter.say_hello("ada"), "hello ada");
            }
            kind => panic!("unknown kind {kind}"),
        }
        let expected = case["produced"].as_array().unwrap();
        let logging = expected.last().unwrap()["topic"].as_str().unwrap();
        mock.wait_for(logging, 1, std::time::Duration::from_secs(10))
            .await;
        compare(name, expected, &mock);
    }
}

/// The messages `mock` holds against what Python produced.
fn compare(case: &str, expected: &[Value], mock: &MockProducer) {
    let mut by_topic: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for message in expected {
        by_topic
            .entry(message["topic"].as_str().unwrap())
            .or_default()
            .push(message);
    }
    let mut topics = mock.topics();
    topics.sort_unstable();
    assert_eq!(
        topics,
        by_topic.keys().copied().collect::<Vec<_>>(),
        "{case}: the same topics"
    );
    for (topic, expected) in by_topic {
        let produced = mock.messages(topic);
        assert_eq!(
            produced.len(),
            expected.len(),
            "{case}: messages to {topic}"
        );
        for (index, (produced, expected)) in produced.iter().zip(expected).enumerate() {
            let at = format!("{case}: {topic}[{index}]");
            let key_hex = produced.key.as_deref().map(hex);
            assert_eq!(
                key_hex.as_deref(),
                expected["key_hex"].as_str(),
                "{at}: key"
            );
            same(&at, &produced.json(), &expected["value"]);
        }
    }
}

/// `ours` has every field of `python` with the same value, recursively;
/// clock-dependent fields have the same type and format.
fn same(at: &str, ours: &Value, python: &Value) {
    match (ours, python) {
        (Value::Object(ours), Value::Object(python)) => {
            for (field, value) in python {
                let at = format!("{at}.{field}");
                let Some(our) = ours.get(field) else {
                    panic!("{at}: missing; Python wrote {value}");
                };
                match field.as_str() {
                    "date" => assert!(
                        is_python_date(our.as_str().unwrap_or_default()),
                        "{at}: {our} is not in the form of {value}"
                    ),
                    "request_time" | "service_time" => assert!(
                        our.is_f64() && value.is_f64(),
                        "{at}: {our} is not a float like {value}"
                    ),
                    _ => same(&at, our, value),
                }
            }
        }
        (Value::Array(ours), Value::Array(python)) => {
            assert_eq!(ours.len(), python.len(), "{at}: length of {ours:?}");
            for (index, (our, value)) in ours.iter().zip(python).enumerate() {
                same(&format!("{at}[{index}]"), our, value);
            }
        }
        _ => assert_eq!(ours, python, "{at}"),
    }
}

/// `datetime.utcnow().isoformat()`: `YYYY-MM-DDTHH:MM:SS`, then `.ffffff`
/// unless the microseconds are zero; no zone.
fn is_python_date(date: &str) -> bool {
    let seconds = chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok();
    let micros = date.len() == 26
        && date.as_bytes()[19] == b'.'
        && chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S%.6f").is_ok();
    (date.len() == 19 && seconds) || micros
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_date_check_tells_the_python_form() {
    assert!(is_python_date("2026-11-27T11:09:20.825992"));
    assert!(is_python_date("2026-11-27T11:09:20"));
    assert!(!is_python_date("2026-11-27T11:09:20.825992Z"));
    assert!(!is_python_date("2026-11-27T11:09:20.825"));
}

#[test]
fn the_comparison_finds_a_missing_or_different_field() {
    let python = serde_json::json!({"a": 1, "lines": [{"b": "x"}]});
    same(
        "ok",
        &serde_json::json!({"a": 1, "extra": 2, "lines": [{"b": "x", "t": 0}]}),
        &python,
    );
    for wrong in [
        serde_json::json!({"lines": [{"b": "x"}]}),
        serde_json::json!({"a": 2, "lines": [{"b": "x"}]}),
        serde_json::json!({"a": 1, "lines": [{"b": "y"}]}),
        serde_json::json!({"a": 1, "lines": []}),
    ] {
        let result = std::panic::catch_unwind(|| same("wrong", &wrong, &python));
        assert!(result.is_err(), "{wrong} differs from {python}");
    }
}
