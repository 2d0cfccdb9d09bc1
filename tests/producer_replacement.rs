//! A producer that librdkafka declares dead (a fatal error of the
//! idempotent producer) is replaced by a new one: delivery resumes without
//! a new relayer, and every message is accounted for.

#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::types::RDKafkaRespErr;
use relayer::producer::{KafkaProducer, Message, Producer, Stats};
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
    let mut accepted = BTreeSet::from([0]);
    let mut n = 0;
    let mut delivered_at_fatal = None;
    // Keep sending, as a service would, until a message sent after the
    // replacement is delivered.
    loop {
        n += 1;
        let sent = match relayer.emit("order", "created", &n) {
            Ok(()) => accepted.insert(n as i64),
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
        if delivered_at_fatal.is_none() && stats.replacements > 0 {
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
    // The batch the broker refused is sent again by the new producer.
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.replacements, 1, "{stats:?}");
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
    // The broker wrote nothing of the batch it refused: nothing twice.
    assert_eq!(payloads.len(), received.len(), "no duplicates");
    assert_eq!(payloads, accepted, "every message accepted arrives");
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
    let before = relayer.stats().replacements;

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
    // The batch in flight at the fatal error is sent again, not failed.
    assert_eq!(stats.delivered, sent + 1, "{stats:?}");
    // With a spool, a new client slow to deliver may be taken for an
    // outage and replaced once more.
    assert!(stats.replacements >= 1, "{stats:?}");

    let received = broker
        .consumer()
        .unwrap()
        .read_all("order", Duration::from_secs(2), TIMEOUT)
        .unwrap();
    let payloads: Vec<i64> = received
        .iter()
        .map(|m| m.json()["payload"].as_i64().unwrap())
        .collect();
    let mut seen = BTreeSet::new();
    let first: Vec<i64> = payloads
        .iter()
        .copied()
        .filter(|n| seen.insert(*n))
        .collect();
    assert_eq!(
        first,
        (0..=sent as i64).collect::<Vec<_>>(),
        "all, in order"
    );
    // The refused batch is not written twice. Only a client taken for an
    // outage (a slow warm-up, a slow new client) has what it held in
    // flight purged, which may arrive twice (at least once).
    if before == 0 && stats.replacements == 1 {
        assert_eq!(payloads.len(), first.len(), "no duplicates");
    }
}

/// A fault under load: `workers` threads send keyed, numbered messages
/// for `sending` (pausing 1 ms every `burst` messages) while `fault` runs
/// on this thread. Returns the stats after a flush and the payloads on the
/// topic, `(worker, number)`. The relayers given have one request in
/// flight per broker: the embedded broker does not refuse the batches
/// behind one it failed, as a real one does, and librdkafka's retry of the
/// failed one would land after them.
fn under_load(
    relayer: &Relayer,
    broker: &EmbeddedBroker,
    (workers, sending, burst): (u64, Duration, u64),
    fault: impl FnOnce(),
) -> (Stats, Vec<(u64, u64)>) {
    relayer.emit("order", "warm-up", &(99, 0)).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    std::thread::scope(|threads| {
        for worker in 0..workers {
            threads.spawn(move || {
                let started = Instant::now();
                let mut n = 0;
                while started.elapsed() < sending {
                    n += 1;
                    let key = format!("worker-{worker}");
                    match relayer.emit_with_key("order", "created", &(worker, n), key.as_str()) {
                        Ok(())
                        | Err(Error::ProducerUnavailable { .. } | Error::QueueFull { .. }) => {}
                        Err(other) => panic!("{other}"),
                    }
                    if n % burst == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
        fault();
    });
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    let received = broker
        .consumer()
        .unwrap()
        .read("order", stats.delivered as usize, TIMEOUT)
        .unwrap();
    let payloads = received
        .iter()
        .map(|m| {
            let payload = &m.json()["payload"];
            (payload[0].as_u64().unwrap(), payload[1].as_u64().unwrap())
        })
        .collect();
    (stats, payloads)
}

/// Four threads at a high rate while the producer is replaced twice, the
/// second time after a backoff.
fn replaced_twice_under_load(
    relayer: &Relayer,
    broker: &EmbeddedBroker,
) -> (Stats, Vec<(u64, u64)>) {
    let load = (4, Duration::from_secs(3), 20);
    under_load(relayer, broker, load, || {
        wait::until("the load under way", TIMEOUT, || {
            relayer.stats().delivered > 1_000
        });
        // Two in a row: the second replacement follows the first closely
        // and waits out a backoff while messages keep coming.
        let fatal = RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        for replacements in 1..=2 {
            broker.fail_produce_requests(&[fatal]);
            wait::until("the producer replaced", TIMEOUT, || {
                relayer.stats().replacements >= replacements
            });
        }
    })
}

/// Two threads for 12 s while the broker keeps forgetting the producer:
/// librdkafka bumps the epoch and retries, without a fatal error and
/// without delivering, until relayer sees the stall and replaces the
/// client.
fn stalled_under_load(relayer: &Relayer, broker: &EmbeddedBroker) -> (Stats, Vec<(u64, u64)>) {
    let load = (2, Duration::from_secs(12), 1);
    under_load(relayer, broker, load, || {
        let unknown = RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID;
        broker.fail_produce_requests(&[unknown; 200]);
    })
}

/// Per worker (key), the numbers arrive in increasing order, but for
/// messages sent again (at least once: in flight when a producer was
/// purged, the broker may have written them); returns how many those are.
fn assert_order_per_key(payloads: &[(u64, u64)]) -> usize {
    let mut last = std::collections::BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut again = 0;
    for (worker, n) in payloads {
        if !seen.insert((*worker, *n)) {
            again += 1;
            continue;
        }
        if let Some(previous) = last.insert(*worker, *n) {
            assert!(previous < *n, "worker {worker}: {previous} then {n}");
        }
    }
    again
}

#[test]
fn two_replacements_at_a_high_rate_keep_order_per_key_without_a_spool() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 4).unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("max.in.flight.requests.per.connection", "1")
        .build()
        .unwrap();
    let (stats, payloads) = replaced_twice_under_load(&relayer, &broker);
    println!("two replacements, no spool: {stats:?}");
    println!("sent again: {}", assert_order_per_key(&payloads));
    assert_eq!(stats.replacements, 2, "{stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    // In flight at each fatal error: sent again by the next client. Sent
    // during the backoff, past the bound of what is held for the next
    // client: dropped, counted.
    assert_eq!(stats.failed, 0, "{stats:?}");
}

#[test]
fn two_replacements_at_a_high_rate_keep_order_per_key_with_a_spool() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("max.in.flight.requests.per.connection", "1")
        .spool(dir.path(), 1 << 30)
        .build()
        .unwrap();
    let (stats, payloads) = replaced_twice_under_load(&relayer, &broker);
    println!("two replacements, spool: {stats:?}");
    println!("sent again: {}", assert_order_per_key(&payloads));
    assert!(stats.replacements >= 2, "{stats:?}");
    assert_eq!((stats.queued, stats.dropped), (0, 0), "{stats:?}");
}

#[test]
fn messages_held_during_a_replacement_are_bounded_by_bytes() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let mut config = rdkafka::ClientConfig::new();
    for (key, value) in relayer::KAFKA_DEFAULTS {
        config.set(*key, *value);
    }
    config
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("queue.buffering.max.kbytes", "1024")
        // Each error fails one request of its own.
        .set("max.in.flight.requests.per.connection", "1");
    // The producer itself: its Debug tells when no client is live.
    let producer = KafkaProducer::new(&config).unwrap();
    let send = |payload: &[u8]| {
        producer.send(Message {
            topic: "order",
            key: None,
            headers: &[],
            payload,
        })
    };
    send(b"0").unwrap();
    producer.flush(TIMEOUT).unwrap();
    // Two fatal errors: the first replacement is immediate; the second,
    // right after it, waits out a backoff with no client live, and
    // messages are held meanwhile.
    let fatal = RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    broker.fail_produce_requests(&[fatal, fatal]);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let debug = format!("{producer:?}");
        if debug.contains("generation: Some(1)") {
            break;
        }
        let _ = send(b"1");
        std::thread::sleep(Duration::from_millis(2));
        assert!(Instant::now() < deadline, "no first replacement: {debug}");
    }
    while !format!("{producer:?}").contains("generation: None") {
        let _ = send(b"2");
        std::thread::sleep(Duration::from_millis(2));
        assert!(Instant::now() < deadline, "no second replacement");
    }
    let before = producer.stats();
    let payload = [b'x'; 50 * 1024];
    let (mut held, mut refused) = (0, 0);
    for _ in 0..100 {
        match send(&payload) {
            Ok(()) => held += 1,
            Err(Error::ProducerUnavailable { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    let stats = producer.stats();
    println!("held {held} of 100 messages of 50 KiB, refused {refused}; {stats:?}");
    assert!(held <= 20, "1 MiB holds 20 messages of 50 KiB, not {held}");
    assert!(held > 0, "some are held");
    assert_eq!(stats.dropped - before.dropped, refused, "{stats:?}");
    producer.flush(TIMEOUT).unwrap();
    let stats = producer.stats();
    assert_eq!((stats.queued, stats.replacements), (0, 2), "{stats:?}");
}

#[test]
fn a_stalled_producer_replaced_under_load_keeps_order_per_key() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 2).unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("max.in.flight.requests.per.connection", "1")
        .build()
        .unwrap();
    let (stats, payloads) = stalled_under_load(&relayer, &broker);
    println!("stalled producer replaced, no spool: {stats:?}");
    println!("sent again: {}", assert_order_per_key(&payloads));
    assert!(stats.replacements >= 1, "{stats:?}");
    assert_eq!(
        (stats.queued, stats.dropped, stats.failed),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_stalled_producer_replaced_under_load_keeps_order_per_key_with_a_spool() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("max.in.flight.requests.per.connection", "1")
        .option("queue.buffering.max.messages", "2000")
        .spool(dir.path(), 1 << 30)
        .build()
        .unwrap();
    let (stats, payloads) = stalled_under_load(&relayer, &broker);
    println!("stalled producer replaced, spool: {stats:?}");
    println!("sent again: {}", assert_order_per_key(&payloads));
    assert!(stats.replacements >= 1, "{stats:?}");
    assert_eq!(
        (stats.queued, stats.dropped, stats.failed),
        (0, 0, 0),
        "{stats:?}"
    );
}
