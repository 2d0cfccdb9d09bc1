//! `Relayer::shutdown(timeout)` and dropping the relayer together take at
//! most `timeout`, also with the broker down: a process has a termination
//! grace period. What is not delivered by then is spooled, or failed.

#[path = "support/wait.rs"]
mod wait;

use std::time::{Duration, Instant};

use relayer::Relayer;
use relayer_test::EmbeddedBroker;

const MESSAGES: u64 = 10_000;
const GRACE: Duration = Duration::from_secs(2);

/// Queues `MESSAGES` for a broker that is down, then shuts down and drops
/// the relayer; returns the final stats, how long it all took, and whether
/// the warm-up's slow delivery was taken for an outage (with a spool: it
/// was purged in flight, and may arrive twice).
fn shut_down_with_the_broker_down(
    broker: &EmbeddedBroker,
    builder: relayer::Builder,
) -> (relayer::producer::Stats, Duration, bool) {
    let relayer = builder.brokers(broker.bootstrap_servers()).build().unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(Duration::from_secs(30)).unwrap();
    let warm_up_replaced = relayer.stats().replacements > 0;
    broker.down().unwrap();
    for n in 0..MESSAGES {
        relayer.emit("order", "created", &n).unwrap();
    }
    let started = Instant::now();
    let stats = relayer.shutdown(GRACE);
    drop(relayer);
    (stats, started.elapsed(), warm_up_replaced)
}

#[test]
fn without_a_spool_the_undelivered_fail_within_the_timeout() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let (stats, took, _) = shut_down_with_the_broker_down(&broker, Relayer::builder("logging"));
    println!("shutdown without a spool: {took:?}, {stats:?}");
    assert!(took <= GRACE, "took {took:?} for {GRACE:?}");
    assert_eq!(
        (stats.delivered, stats.failed, stats.queued),
        (1, MESSAGES, 0),
        "{stats:?}"
    );
}

#[test]
fn with_a_spool_the_undelivered_are_spooled_within_the_timeout_and_sent_at_next_start() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let builder = Relayer::builder("logging").spool(dir.path(), 1 << 30);
    let (stats, took, warm_up_replaced) = shut_down_with_the_broker_down(&broker, builder);
    println!("shutdown with a spool: {took:?}, {stats:?}");
    assert!(took <= GRACE, "took {took:?} for {GRACE:?}");
    assert_eq!(
        (stats.delivered, stats.failed, stats.queued, stats.spooled),
        (1, 0, MESSAGES, MESSAGES),
        "{stats:?}"
    );

    broker.up().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .spool(dir.path(), 1 << 30)
        .build()
        .unwrap();
    relayer.flush(Duration::from_secs(60)).unwrap();
    let replay = relayer.stats();
    assert_eq!(replay.delivered, MESSAGES, "{replay:?}");
    let received = broker
        .consumer()
        .unwrap()
        .read_all("order", Duration::from_secs(1), Duration::from_secs(60))
        .unwrap();
    let (warm_up, created): (Vec<_>, Vec<_>) = received
        .iter()
        .map(|m| m.json())
        .partition(|event| event["event_subtype"] == "warm-up");
    assert!(
        warm_up.len() == 1 || warm_up.len() == 2 && warm_up_replaced,
        "the warm-up, delivered before the stop: {} times",
        warm_up.len()
    );
    let payloads: Vec<u64> = created
        .iter()
        .map(|event| event["payload"].as_u64().unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let first_arrivals: Vec<u64> = payloads
        .iter()
        .copied()
        .filter(|n| seen.insert(*n))
        .collect();
    assert_eq!(
        first_arrivals,
        (0..MESSAGES).collect::<Vec<_>>(),
        "all, in order"
    );
    // At least once: a replayed message is sent twice only when its client
    // was purged (replaced) while the broker had written it.
    let twice = payloads.len() - first_arrivals.len();
    println!("replayed: {replay:?}, {twice} twice");
    if replay.replacements == 0 {
        assert_eq!(twice, 0, "no client replaced, none sent twice");
    }
}

#[test]
fn a_shutdown_during_replay_loses_nothing_and_sends_again_only_what_was_in_flight() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        Relayer::builder("logging")
            .brokers(broker.bootstrap_servers())
            .option("queue.buffering.max.messages", "500")
            .spool(dir.path(), 1 << 30)
            .build()
            .unwrap()
    };
    let relayer = build();
    broker.down().unwrap();
    for n in 0..MESSAGES {
        relayer.emit("order", "created", &n).unwrap();
    }
    // The broker is back but slow: the spool is being replayed into
    // librdkafka's queue when the shutdown comes.
    broker.set_latency(Duration::from_millis(500)).unwrap();
    broker.up().unwrap();
    let spooled = relayer.stats().spooled;
    wait::until("replay delivering", Duration::from_secs(60), || {
        relayer.stats().spooled < spooled
    });
    let stats = relayer.shutdown(Duration::from_millis(300));
    drop(relayer);
    println!("shutdown during replay: {stats:?}");
    assert_eq!(stats.failed, 0, "still in the spool: {stats:?}");
    assert_eq!(stats.delivered + stats.queued, MESSAGES, "{stats:?}");

    broker.set_latency(Duration::ZERO).unwrap();
    let relayer = build();
    let found = relayer.stats();
    assert_eq!(found.produced, stats.queued, "counted once: {found:?}");
    relayer.flush(Duration::from_secs(60)).unwrap();
    let after = relayer.stats();
    assert_eq!(
        (after.delivered, after.failed),
        (stats.queued, 0),
        "{stats:?} then {after:?}"
    );
    // Every message arrives; only those in flight at the shutdown (at
    // most the in-memory queue of 500) may arrive twice.
    let consumer = broker.consumer().unwrap();
    let received = match consumer.read("order", MESSAGES as usize + 501, Duration::from_secs(5)) {
        Err(relayer_test::ReadError::Timeout { got, .. }) => got,
        other => panic!("more than was sent and in flight: {other:?}"),
    };
    let received = consumer
        .read("order", received, Duration::from_secs(60))
        .unwrap();
    let mut payloads: Vec<u64> = received
        .iter()
        .map(|m| m.json()["payload"].as_u64().unwrap())
        .collect();
    payloads.sort_unstable();
    payloads.dedup();
    assert_eq!(payloads, (0..MESSAGES).collect::<Vec<_>>(), "all of them");
    println!(
        "sent again after the shutdown: {}",
        received.len() as u64 - MESSAGES
    );
}
