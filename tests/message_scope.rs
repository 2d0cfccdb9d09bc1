//! One record per consumed Kafka message, continuing the request and the
//! trace of the service that produced it; also on error, panic and
//! cancellation.

use std::future::pending;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use rdkafka::Timestamp;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use relayer::Relayer;
use relayer_test::MockProducer;
use serde_json::Value;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn message(key: Option<&[u8]>, headers: &[(&str, &str)]) -> OwnedMessage {
    let headers = headers
        .iter()
        .fold(OwnedHeaders::new(), |all, (key, value)| {
            all.insert(Header {
                key,
                value: Some(value.as_bytes()),
            })
        });
    OwnedMessage::new(
        Some(b"{\"id\":1}".to_vec()),
        key.map(<[u8]>::to_vec),
        "orders".to_owned(),
        Timestamp::NotAvailable,
        3,
        42,
        Some(headers),
    )
}

fn setup() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    (mock, relayer)
}

fn only_record(mock: &MockProducer) -> Value {
    let records = mock.json("logging");
    assert_eq!(records.len(), 1, "{records:#?}");
    records.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_message_continues_the_producers_request_and_trace() {
    let (mock, relayer) = setup();
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let message = message(
        Some(b"order-1"),
        &[
            ("x-request-id", "req-7"),
            ("traceparent", &traceparent),
            ("other", "x"),
        ],
    );

    let handled = relayer
        .handle_message(&message, |relayer| async move {
            relayer.info("charging")?;
            Relayer::current().unwrap().field("amount", &12)?;
            tokio::task::yield_now().await;
            Ok::<_, relayer::Error>("charged")
        })
        .await;
    assert_eq!(handled.unwrap(), "charged");

    let record = only_record(&mock);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["request_id"], "req-7");
    assert_eq!(record["trace_id"], TRACE);
    assert_eq!(record["parent_span_id"], PARENT);
    assert_eq!(
        (
            &record["topic"],
            &record["partition"],
            &record["offset"],
            &record["key"]
        ),
        (
            &Value::from("orders"),
            &Value::from(3),
            &Value::from(42),
            &Value::from("order-1")
        )
    );
    assert!(record["processing_time"].is_f64());
    assert_eq!(record["lines"][0]["payload"], "charging");
    assert_eq!(record["fields"]["amount"], 12);
}

#[tokio::test]
async fn without_headers_a_message_starts_a_request_and_a_trace() {
    let (mock, relayer) = setup();
    let binary_key: &[u8] = &[0xde, 0xad, 0xbe, 0xef];
    let message = message(Some(binary_key), &[("traceparent", "not a traceparent")]);
    relayer
        .handle_message(&message, |_| async { Ok::<_, relayer::Error>(()) })
        .await
        .unwrap();
    let record = only_record(&mock);
    assert!(uuid::Uuid::parse_str(record["request_id"].as_str().unwrap()).is_ok());
    assert_eq!(record["trace_id"].as_str().unwrap().len(), 32);
    assert!(record.get("parent_span_id").is_none());
    assert_eq!(record["key"], "deadbeef", "a binary key as hex");
}

#[tokio::test]
async fn an_error_a_panic_and_a_cancellation_each_give_one_record() {
    let (mock, relayer) = setup();
    let message = message(None, &[]);

    let failed = relayer
        .handle_message(&message, |_| async { Err::<(), _>("card declined") })
        .await;
    assert_eq!(failed, Err("card declined"));

    let panicked = AssertUnwindSafe(relayer.handle_message(&message, |_| async {
        panic!("the handler broke");
        #[allow(unreachable_code)]
        Ok::<(), relayer::Error>(())
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());

    let cancelled = relayer.handle_message(&message, |_| pending::<Result<(), relayer::Error>>());
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), cancelled)
            .await
            .is_err()
    );

    let records = mock.json("logging");
    let outcomes: Vec<_> = records.iter().map(|r| r["outcome"].clone()).collect();
    assert_eq!(outcomes, ["error", "panicked", "cancelled"]);
    assert_eq!(records[0]["error"], "card declined");
    assert!(records[0]["key"].is_null());
}

#[test]
fn events_in_a_scope_carry_the_request_in_kafka_headers() {
    let (mock, relayer) = setup();
    let scope = relayer::Scope::new(&relayer, Some("req-9".into()));
    scope.relayer().emit("order", "created", &1).unwrap();
    scope.relayer().emit_raw("audit", &"raw").unwrap();
    let traceparent = scope.trace().traceparent().to_string();
    drop(scope);
    relayer.emit("order", "outside", &2).unwrap();

    for event in [&mock.messages("order")[0], &mock.messages("audit")[0]] {
        assert_eq!(event.header("x-request-id"), Some("req-9"));
        assert_eq!(event.header("traceparent"), Some(traceparent.as_str()));
    }
    assert!(
        mock.messages("order")[1].headers.is_empty(),
        "outside a request"
    );
    assert!(
        mock.messages("logging")[0].headers.is_empty(),
        "records have none"
    );

    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .kafka_headers(false)
        .build()
        .unwrap();
    let scope = relayer::Scope::new(&relayer, None);
    scope.relayer().emit("order", "created", &1).unwrap();
    assert!(mock.messages("order")[0].headers.is_empty(), "turned off");
}

#[tokio::test]
async fn the_request_id_header_and_tracestate_travel_through_kafka() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .request_id_header("x-correlation-id")
        .build()
        .unwrap();
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let consumed = message(
        None,
        &[
            ("X-Correlation-ID", "corr-7"),
            ("traceparent", &traceparent),
            ("tracestate", "rojo=1"),
            ("tracestate", "congo=2"),
        ],
    );
    let scope = relayer::message::MessageScope::new(&relayer, &consumed);
    scope.relayer().emit("shipment", "created", &1).unwrap();
    let span = scope.scope().trace().span_id;
    drop(scope);

    let event = &mock.messages("shipment")[0];
    assert_eq!(event.header("x-correlation-id"), Some("corr-7"));
    assert_eq!(event.header("x-request-id"), None);
    assert_eq!(
        event.header("traceparent"),
        Some(format!("00-{TRACE}-{span}-01").as_str())
    );
    assert_eq!(event.header("tracestate"), Some("rojo=1,congo=2"));
    assert_eq!(only_record(&mock)["request_id"], "corr-7");
}

#[tokio::test]
async fn two_traceparents_on_a_message_start_a_new_trace() {
    let (mock, relayer) = setup();
    let consumed = message(
        None,
        &[
            ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
            ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
            ("tracestate", "rojo=1"),
        ],
    );
    let scope = relayer::message::MessageScope::new(&relayer, &consumed);
    scope.relayer().emit("shipment", "created", &1).unwrap();
    drop(scope);
    let record = only_record(&mock);
    assert_ne!(record["trace_id"], TRACE);
    assert!(record.get("parent_span_id").is_none());
    assert_eq!(mock.messages("shipment")[0].header("tracestate"), None);
}
