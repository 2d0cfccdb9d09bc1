//! A producer that librdkafka declares dead (a fatal error of the
//! idempotent producer) is replaced by a new one: delivery resumes without
//! a new relayer, and every message is accounted for.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::types::RDKafkaRespErr;
use relayer::{Error, Relayer};
use relayer_test::EmbeddedBroker;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn a_fatal_error_replaces_the_producer_and_delivery_resumes() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()
        .unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    // A head-of-line sequence error: librdkafka cannot go on without
    // risking duplicates or gaps, and raises a fatal error.
    broker.fail_produce_requests(&[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER]);
    let deadline = Instant::now() + TIMEOUT;
    let mut refused = 0;
    let mut n = 0;
    let mut delivered_at_fatal = None;
    // Keep sending, as a service would, until a message sent after the
    // fatal error is delivered.
    loop {
        n += 1;
        let sent = match relayer.emit("order", "created", &n) {
            Ok(()) => true,
            Err(Error::ProducerUnavailable { .. }) => {
                refused += 1;
                false
            }
            Err(other) => panic!("unexpected error: {other}"),
        };
        let stats = relayer.stats();
        assert_eq!(
            stats.produced,
            stats.delivered + stats.failed + stats.dropped + stats.queued,
            "{stats:?}"
        );
        if delivered_at_fatal.is_none() && stats.failed + stats.dropped > 0 {
            delivered_at_fatal = Some(stats.delivered);
        }
        if let Some(before) = delivered_at_fatal
            && sent
            && relayer.flush(Duration::from_millis(200)).is_ok()
            && relayer.stats().delivered > before
        {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    }

    let stats = relayer.stats();
    println!("fatal error without a spool: {stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert_eq!(
        stats.dropped, refused,
        "every refusal is counted: {stats:?}"
    );
    assert_eq!(stats.produced, n + 1, "{stats:?}");
    assert!(
        stats.failed + stats.dropped > 0,
        "the fatal error cost messages: {stats:?}"
    );
    // What the broker has is exactly what was counted as delivered.
    let consumer = broker.consumer().unwrap();
    let received = consumer
        .read("order", stats.delivered as usize, TIMEOUT)
        .unwrap();
    match consumer.read(
        "order",
        stats.delivered as usize + 1,
        Duration::from_secs(2),
    ) {
        Err(relayer_test::ReadError::Timeout { .. }) => {}
        other => panic!("more messages than delivered: {other:?}"),
    }
    let payloads: BTreeSet<i64> = received
        .iter()
        .map(|m| m.json()["payload"].as_i64().unwrap())
        .collect();
    assert_eq!(payloads.len(), received.len(), "no duplicates");
    assert!(
        payloads.contains(&(n as i64)),
        "the last one went through the new producer"
    );
}

#[test]
fn with_a_spool_nothing_is_dropped_while_the_producer_is_replaced() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .spool(dir.path(), 1 << 30)
        .build()
        .unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    broker.fail_produce_requests(&[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER]);
    let sent = 2_000;
    for n in 1..=sent {
        relayer
            .emit("order", "created", &n)
            .expect("spooled, never refused");
        std::thread::sleep(Duration::from_micros(500));
    }
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    println!("fatal error with a spool: {stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.produced, sent + 1, "{stats:?}");
    assert_eq!((stats.queued, stats.spooled), (0, 0), "{stats:?}");
    assert!(
        stats.failed > 0,
        "the batch in flight at the fatal error: {stats:?}"
    );
    assert_eq!(stats.delivered + stats.failed, sent + 1);

    let consumer = broker.consumer().unwrap();
    let received = consumer
        .read("order", stats.delivered as usize, TIMEOUT)
        .unwrap();
    let payloads: Vec<i64> = received
        .iter()
        .map(|m| m.json()["payload"].as_i64().unwrap())
        .collect();
    let mut sorted = payloads.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), payloads.len(), "no duplicates");
    assert_eq!(sorted, payloads, "in order");
}
