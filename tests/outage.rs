//! With a spool, nothing stays only in memory during an outage: once the
//! producer has been silent for `spool_after` while messages wait,
//! everything librdkafka holds (in flight included) goes to the spool and
//! new messages follow it there; a shutdown with the broker not answering
//! spools what is in flight too. Every message arrives once the broker is
//! back; only what was in flight may arrive twice. On the embedded broker
//! (down: connections refused; slow) and on tansu (frozen with SIGSTOP).

#[path = "support/own_broker.rs"]
mod own_broker;
#[path = "support/skip.rs"]
mod skip;
#[path = "support/stats.rs"]
mod stats;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::types::RDKafkaRespErr;
use relayer::{Error, Relayer};
use relayer_test::{Consumer, EmbeddedBroker};

const TIMEOUT: Duration = Duration::from_secs(60);
const SPOOL_AFTER: Duration = Duration::from_millis(500);

/// The embedded broker, with the topic `order` of `partitions`, and a
/// spool directory.
fn broker(partitions: i32) -> (EmbeddedBroker, tempfile::TempDir) {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", partitions).unwrap();
    (broker, tempfile::tempdir().unwrap())
}

/// A relayer with a spool in `dir`, used after `SPOOL_AFTER` of silence,
/// and these producer options.
fn spooled(brokers: &str, dir: &Path, options: &[(&str, &str)]) -> Relayer {
    options
        .iter()
        .fold(
            Relayer::builder("logging").brokers(brokers),
            |builder, (key, value)| builder.option(*key, *value),
        )
        .spool(dir, 1 << 30)
        .spool_after(SPOOL_AFTER)
        .build()
        .unwrap()
}

/// Sends `n` as an event keyed by one of four keys.
fn send(relayer: &Relayer, n: u64) {
    let key = format!("key-{}", n % 4);
    relayer
        .emit_with_key("order", "created", &n, key.as_str())
        .unwrap();
}

/// Every message on `topic`, by number: how many times each arrived, and
/// the numbers in the order of their first arrival per key.
fn arrivals(
    consumer: &Consumer,
    at_least: usize,
) -> (BTreeMap<u64, u32>, BTreeMap<String, Vec<u64>>) {
    let received = consumer.read("order", at_least, TIMEOUT).unwrap();
    assert_eq!(received.len(), at_least);
    let all = consumer
        .read_all("order", Duration::from_secs(2), TIMEOUT)
        .unwrap();
    let mut counts = BTreeMap::new();
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for message in &all {
        let n = message.json()["payload"].as_u64().unwrap();
        let count = counts.entry(n).or_insert(0);
        *count += 1;
        if *count == 1 {
            let key = message.key_str().unwrap().to_owned();
            order.entry(key).or_default().push(n);
        }
    }
    (counts, order)
}

fn assert_in_order(order: &BTreeMap<String, Vec<u64>>) {
    for (key, numbers) in order {
        if let Some(at) = numbers.windows(2).position(|pair| pair[0] > pair[1]) {
            panic!("{key}: {} arrived before {}", numbers[at], numbers[at + 1]);
        }
    }
}

#[test]
fn after_spool_after_of_silence_everything_queued_is_on_disk_and_arrives() {
    let (broker, dir) = broker(2);
    let relayer = spooled(&broker.bootstrap_servers(), dir.path(), &[]);
    send(&relayer, 0);
    relayer.flush(TIMEOUT).unwrap();

    // A slow first delivery may have been taken for an outage already.
    let before = relayer.stats().replacements;
    broker.down().unwrap();
    let down_at = Instant::now();
    for n in 1..=2_000 {
        send(&relayer, n);
    }
    // librdkafka holds them; after SPOOL_AFTER without a report, they go
    // to the spool, and the client is replaced.
    let took = wait::until("everything queued is spooled", TIMEOUT, || {
        let stats = relayer.stats();
        stats.replacements == before + 1 && stats.spooled == 2_000 && stats.queued == 2_000
    });
    let since_down = down_at.elapsed();
    println!(
        "outage: all 2,000 spooled {since_down:?} after the broker went down (waited {took:?})"
    );
    assert!(
        since_down >= SPOOL_AFTER,
        "not before spool_after: {since_down:?}"
    );
    assert!(
        since_down < SPOOL_AFTER + Duration::from_secs(2),
        "within spool_after and two seconds: {since_down:?}"
    );
    // Until delivery resumes, new messages go to the spool too.
    for n in 2_001..=2_100 {
        send(&relayer, n);
    }
    let stats = relayer.stats();
    stats::assert_identity(&stats);
    assert_eq!((stats.spooled, stats.queued), (2_100, 2_100), "{stats:?}");

    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped, stats.queued),
        (2_101, 0, 0, 0),
        "{stats:?}"
    );
    let (counts, order) = arrivals(&broker.consumer().unwrap(), 2_101);
    assert_eq!(counts.len(), 2_101, "every message");
    // Refused connections: nothing was written, nothing arrives twice; but
    // the first message, when its slow delivery was taken for an outage
    // (purged in flight, at least once).
    let twice: Vec<u64> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    let may_be_twice: &[u64] = if before > 0 { &[0] } else { &[] };
    assert!(
        twice.iter().all(|n| may_be_twice.contains(n)) && counts.values().all(|&c| c <= 2),
        "sent twice: {twice:?}, with {before} replacement(s) before the outage"
    );
    assert_in_order(&order);
}

#[test]
fn without_a_spool_an_outage_keeps_messages_in_memory_and_replaces_nothing() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()
        .unwrap();
    send(&relayer, 0);
    relayer.flush(TIMEOUT).unwrap();
    broker.down().unwrap();
    for n in 1..=100 {
        send(&relayer, n);
    }
    // Three times the default spool_after: nothing happens.
    let start = Instant::now();
    while start.elapsed() < 3 * relayer::producer::DEFAULT_SPOOL_AFTER {
        let stats = relayer.stats();
        assert_eq!((stats.queued, stats.replacements), (100, 0), "{stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(relayer.stats().delivered, 101);
}

/// A real broker frozen (SIGSTOP) under load: it keeps its connections
/// and answers nothing. What was in flight may have been written: it may
/// arrive twice, nothing else.
#[test]
fn a_frozen_broker_under_load_loses_nothing_and_duplicates_only_what_was_in_flight() {
    let Some(mut broker) = own_broker::OwnBroker::start() else {
        return;
    };
    broker.create_topics(&["order", "logging"], 3);
    let dir = tempfile::tempdir().unwrap();
    let relayer = spooled(&broker.address(), dir.path(), &[]);
    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let (frozen_stats, thawed_at) = std::thread::scope(|threads| {
        let _stop = wait::SetOnDrop(&stop);
        threads.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                send(&relayer, n);
                n += 1;
                sent.store(n, Ordering::Release);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        wait::until("delivering under load", TIMEOUT, || {
            relayer.stats().delivered > 2_000
        });
        broker.freeze();
        let frozen_at = Instant::now();
        // Once the silence is recognised (or at once, when the load went
        // through the spool already), everything queued is on disk.
        wait::until("more queued, all of it spooled", TIMEOUT, || {
            let stats = relayer.stats();
            stats.spooled == stats.queued && stats.queued > 1_000
        });
        let took = frozen_at.elapsed();
        assert!(
            took < SPOOL_AFTER + Duration::from_secs(2),
            "all on disk {took:?} after the freeze"
        );
        let frozen = relayer.stats();
        std::thread::sleep(Duration::from_secs(2));
        let during = relayer.stats();
        // Frozen: what is sent piles up, nothing goes out.
        assert!(during.queued > frozen.queued + 1_000, "frozen: {during:?}");
        assert_eq!(
            during.spooled, during.queued,
            "still all on disk: {during:?}"
        );
        println!("frozen broker: all on disk {took:?} after the freeze");
        broker.thaw();
        let thawed_at = sent.load(Ordering::Acquire);
        wait::until("load after the thaw", TIMEOUT, || {
            sent.load(Ordering::Acquire) > thawed_at + 2_000
        });
        stop.store(true, Ordering::Release);
        (frozen, thawed_at)
    });
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    let sent = sent.load(Ordering::Acquire);
    println!(
        "frozen broker: {sent} sent, {thawed_at} before the thaw; when frozen: {frozen_stats:?}; after: {stats:?}"
    );
    stats::assert_identity(&stats);
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped),
        (sent, 0, 0),
        "{stats:?}"
    );
    let (counts, order) = arrivals(&Consumer::new(&broker.address()).unwrap(), sent as usize);
    assert_eq!(counts.len() as u64, sent, "every message arrives");
    let twice = counts.values().filter(|&&c| c > 1).count();
    println!("frozen broker: {twice} arrived twice");
    assert!(counts.values().all(|&c| c <= 2));
    // At most what was in librdkafka's hands at the freeze: sent, not yet
    // delivered, and not yet spooled.
    let in_memory = frozen_stats.queued;
    assert!(
        twice as u64 <= in_memory,
        "{twice} twice, {in_memory} queued at the freeze"
    );
    assert_in_order(&order);
}

/// Shutdown with the broker slow to answer: what is in flight is spooled
/// (at least once), not failed, and sent at the next start.
#[test]
fn a_shutdown_spools_what_is_in_flight_and_the_next_start_sends_it() {
    let (broker, dir) = broker(1);
    let relayer = spooled(&broker.bootstrap_servers(), dir.path(), &[]);
    send(&relayer, 0);
    relayer.flush(TIMEOUT).unwrap();
    // Answers come after 5 s: sent, written, not yet acknowledged.
    broker.set_latency(Duration::from_secs(5)).unwrap();
    for n in 1..=1_000 {
        send(&relayer, n);
    }
    let started = Instant::now();
    let stats = relayer.shutdown(Duration::from_millis(400));
    let took = started.elapsed();
    drop(relayer);
    println!("shutdown with 1,000 in flight: {took:?}, {stats:?}");
    assert!(took <= Duration::from_millis(400), "took {took:?}");
    assert_eq!(
        (stats.delivered, stats.failed, stats.queued, stats.spooled),
        (1, 0, 1_000, 1_000),
        "in flight: spooled, not failed: {stats:?}"
    );
    broker.set_latency(Duration::ZERO).unwrap();
    let next = spooled(&broker.bootstrap_servers(), dir.path(), &[]);
    assert_eq!(next.stats().produced, 1_000);
    next.flush(TIMEOUT).unwrap();
    assert_eq!(next.stats().delivered, 1_000);
    let (counts, _) = arrivals(&broker.consumer().unwrap(), 1_001);
    assert_eq!(counts.len(), 1_001, "every message");
    // The broker wrote the batches it got; they were sent again.
    let twice = counts.values().filter(|&&c| c == 2).count();
    println!("sent again after the shutdown: {twice}");
    assert!(counts.values().all(|&c| c <= 2));
}

/// A replayed message that times out is sent again, and what its client
/// holds with it, in order: later messages of its key are not delivered
/// before it.
#[test]
fn replayed_messages_that_time_out_are_sent_again_in_order() {
    let (broker, dir) = broker(2);
    let options = [("message.timeout.ms", "2000")];
    let relayer = spooled(&broker.bootstrap_servers(), dir.path(), &options);
    send(&relayer, 0);
    relayer.flush(TIMEOUT).unwrap();
    let before = relayer.stats().replacements;
    broker.down().unwrap();
    for n in 1..=1_000 {
        send(&relayer, n);
    }
    // Spooled after SPOOL_AFTER, replayed into a new client, timed out
    // there after 2 s: that client is replaced too.
    wait::until("a replayed message timed out", TIMEOUT, || {
        relayer.stats().replacements >= before + 2
    });
    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.queued),
        (1_001, 0, 0),
        "{stats:?}"
    );
    let (counts, order) = arrivals(&broker.consumer().unwrap(), 1_001);
    assert_eq!(counts.len(), 1_001);
    assert_in_order(&order);
}

/// A replayed message the broker refuses for itself fails once, counted,
/// instead of being sent again for ever.
#[test]
fn a_replayed_message_the_broker_refuses_for_itself_fails_once() {
    let (broker, dir) = broker(1);
    let options = [("queue.buffering.max.messages", "10")];
    let relayer = spooled(&broker.bootstrap_servers(), dir.path(), &options);
    send(&relayer, 0);
    relayer.flush(TIMEOUT).unwrap();
    broker.down().unwrap();
    for n in 1..=100 {
        send(&relayer, n);
    }
    wait::until("spooled", TIMEOUT, || relayer.stats().spooled > 0);
    broker.fail_produce_requests(&[RDKafkaRespErr::RD_KAFKA_RESP_ERR_POLICY_VIOLATION]);
    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    println!("policy violation: {stats:?}");
    assert!(stats.failed > 0, "the refused batch failed: {stats:?}");
    assert!(
        stats.last_errors["order"].contains("PolicyViolation"),
        "{stats:?}"
    );
    assert_eq!(
        (stats.delivered + stats.failed, stats.queued, stats.spooled),
        (101, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn delivery_reports_only_for_errors_are_refused() {
    let built = Relayer::builder("logging")
        .brokers("127.0.0.1:9")
        .option("delivery.report.only.error", "true")
        .build();
    let Err(Error::Config(message)) = built else {
        panic!("{built:?}")
    };
    assert!(message.contains("delivery.report.only.error"), "{message}");
}
