//! The disk spool on the embedded broker: an outage at full speed loses
//! nothing, the size cap drops and counts, a crashed process's spool is
//! sent at the next start, and torn or corrupt records are skipped.

#[path = "support/child.rs"]
mod child;
#[path = "support/segment.rs"]
mod segment;
#[path = "support/stats.rs"]
mod stats;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use child::Child;
use relayer::producer::Stats;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::EmbeddedBroker;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

/// A relayer with a spool in `dir` and a small in-memory queue, so that the
/// spool is used at once.
fn spooled_relayer(broker: &str, dir: &Path, max_bytes: u64) -> Relayer {
    Relayer::builder("logging")
        .brokers(broker)
        .option("queue.buffering.max.messages", "1000")
        .spool(dir, max_bytes)
        .build()
        .unwrap()
}

/// The stats once the spool's writer thread has written what it took: the
/// records in the spool's files are the spooled messages (the broker is
/// down: none leaves).
fn written(relayer: &Relayer, dir: &Path) -> Stats {
    let mut stats = relayer.stats();
    wait::until("the spool written", TIMEOUT, || {
        stats = relayer.stats();
        segment::records(dir) == stats.spooled
    });
    stats
}

/// One request of worker `worker`: a keyed event numbered `n`, and the
/// request's record.
fn request(relayer: &Relayer, worker: usize, n: u64) {
    let scope = Scope::new(relayer, Some(format!("{worker}-{n}")));
    scope
        .relayer()
        .emit_with_key(
            "order",
            "created",
            &json!({"n": n}),
            format!("worker-{worker}").as_str(),
        )
        .unwrap();
    scope.finish(Outcome::Ok, RpcDetails::default());
}

#[test]
fn an_outage_at_full_speed_loses_nothing_and_keeps_order_per_key() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 4).unwrap();
    broker.create_topic("logging", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir.path(), 1 << 30);
    request(&relayer, 99, 0);
    relayer.flush(TIMEOUT).unwrap();
    // A slow first delivery taken for an outage: the warm-up was purged in
    // flight, and may arrive twice (at least once).
    let warm_up_replaced = relayer.stats().replacements > 0;

    const WORKERS: usize = 4;
    const REQUESTS: u64 = 5_000;
    broker.down().unwrap();
    let down_at = Instant::now();
    std::thread::scope(|threads| {
        for worker in 0..WORKERS {
            let relayer = &relayer;
            threads.spawn(move || {
                for n in 1..=REQUESTS {
                    request(relayer, worker, n);
                }
            });
        }
    });
    let sending = down_at.elapsed();
    let during = relayer.stats();
    stats::assert_identity(&during);
    assert_eq!(during.dropped, 0, "{during:?}");
    assert!(during.spooled > 0, "{during:?}");
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed()));
    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let after = relayer.stats();
    println!(
        "outage: {} requests in {sending:?} with the broker down; during: {during:?}; after: {after:?}",
        WORKERS as u64 * REQUESTS
    );
    let total = 1 + WORKERS as u64 * REQUESTS;
    assert_eq!(
        (
            after.produced,
            after.delivered,
            after.failed,
            after.dropped,
            after.queued
        ),
        (2 * total, 2 * total, 0, 0, 0),
        "{after:?}"
    );
    assert_eq!((after.spooled, after.spool_bytes), (0, 0), "{after:?}");

    let consumer = broker.consumer().unwrap();
    let reading = Instant::now();
    let quiet = Duration::from_secs(2);
    let records = consumer.read_all("logging", quiet, TIMEOUT).unwrap();
    println!("read {} records in {:?}", records.len(), reading.elapsed());
    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    for record in &records {
        let id = record.json()["request_id"].as_str().unwrap().to_owned();
        *ids.entry(id).or_default() += 1;
    }
    assert_eq!(ids.len() as u64, total, "every record");
    let may_be_twice = |id: &str| warm_up_replaced && id == "99-0";
    for (id, count) in &ids {
        assert!(
            *count == 1 || *count == 2 && may_be_twice(id),
            "record {id} {count} times"
        );
    }
    let events = consumer.read_all("order", quiet, TIMEOUT).unwrap();
    // Each event once (order per key is strict below), but the warm-up.
    let extra = events.len() as u64 - total;
    assert!(
        extra == 0 || warm_up_replaced && extra == 1,
        "{extra} events twice"
    );
    let mut last: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for event in &events {
        let n = event.json()["payload"]["n"].as_u64().unwrap();
        let worker = event.key_str().unwrap().trim_start_matches("worker-");
        let request_id = format!("{worker}-{n}");
        if may_be_twice(&request_id) && last.contains_key(event.key.as_ref().unwrap()) {
            continue;
        }
        assert_eq!(
            event.header("x-request-id"),
            Some(request_id.as_str()),
            "spooled or not, an event keeps its headers"
        );
        assert!(event.header("traceparent").is_some());
        let previous = last.insert(event.key.clone().unwrap(), n);
        assert!(
            previous.is_none_or(|p| p < n),
            "order per key: {previous:?} then {n}"
        );
    }
    assert_eq!(last.len(), WORKERS + 1);
}

#[test]
fn past_the_size_cap_messages_are_dropped_and_counted() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cap = 256 * 1024;
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir.path(), cap);
    broker.down().unwrap();
    let mut refused = 0;
    for n in 0..10_000 {
        if relayer.emit("order", "created", &n).is_err() {
            refused += 1;
        }
    }
    let stats = written(&relayer, dir.path());
    stats::assert_identity(&stats);
    assert_eq!(stats.dropped, refused, "{stats:?}");
    assert!(refused > 0, "{stats:?}");
    assert!(stats.spool_bytes <= cap, "{stats:?}");
    let on_disk: u64 = segment::files(dir.path())
        .iter()
        .map(|path| path.metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, stats.spool_bytes);

    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.delivered, stats.queued, stats.failed),
        (10_000 - refused, 0, 0),
        "{stats:?}"
    );
    broker
        .consumer()
        .unwrap()
        .read("order", stats.delivered as usize, TIMEOUT)
        .unwrap();
}

/// The child process of the crash test: spools messages for a broker that
/// is down (past librdkafka's queue of 1,000: the outage is not waited
/// for), says how many once they are on disk, and waits to be killed.
#[test]
fn crash_child() {
    let Ok(config) = std::env::var("RELAYER_SPOOL_CHILD") else {
        return;
    };
    let (brokers, dir) = config.split_once(' ').unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(brokers)
        .option("queue.buffering.max.messages", "1000")
        .spool(dir, 1 << 30)
        .spool_after(Duration::from_secs(600))
        .build()
        .unwrap();
    for n in 0..5_000 {
        relayer.emit("order", "created", &n).unwrap();
    }
    // On disk once the spool's writer thread has written it.
    let spooled = written(&relayer, Path::new(dir)).spooled;
    println!("SPOOLED {spooled}");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_spool_left_by_a_killed_process_is_sent_at_the_next_start() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    broker.down().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = Child::start(
        "crash_child",
        "RELAYER_SPOOL_CHILD",
        &format!("{} {}", broker.bootstrap_servers(), dir.path().display()),
    );
    let spooled: u64 = child.said("SPOOLED ").parse().unwrap();
    drop(child);
    assert!(spooled >= 3_000, "past the in-memory queue: {spooled}");

    broker.up().unwrap();
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir.path(), 1 << 30);
    let found = relayer.stats();
    assert_eq!(found.produced, spooled, "counted at start: {found:?}");
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(stats.delivered, spooled, "{stats:?}");
    // The messages past the in-memory queue, in order.
    let received = broker
        .consumer()
        .unwrap()
        .read("order", spooled as usize, TIMEOUT)
        .unwrap();
    let payloads: Vec<u64> = received
        .iter()
        .map(|m| m.json()["payload"].as_u64().unwrap())
        .collect();
    assert_eq!(payloads, (5_000 - spooled..5_000).collect::<Vec<_>>());
}

/// Spools `count` messages for a broker that is down and shuts down: they
/// are all in the spool's files.
fn spool_for_later(broker: &EmbeddedBroker, dir: &Path, count: u64) {
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir, 1 << 30);
    for n in 0..count {
        relayer.emit("order", "created", &n).unwrap();
    }
    let stats = relayer.shutdown(Duration::from_millis(500));
    assert_eq!((stats.queued, stats.spooled), (count, count), "{stats:?}");
}

fn segment(dir: &Path) -> std::path::PathBuf {
    let mut files = segment::files(dir);
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

#[test]
fn a_torn_or_corrupt_spool_is_skipped_and_counted() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    broker.down().unwrap();
    let dir = tempfile::tempdir().unwrap();
    spool_for_later(&broker, dir.path(), 100);

    // A torn last record (a crash of the machine in the middle of a
    // write), and a flipped bit in record 60 (a damaged disk).
    let path = segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let sixtieth = segment::record_start(&bytes, 60);
    bytes.truncate(bytes.len() - 3);
    bytes[sixtieth + 20] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();

    broker.up().unwrap();
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir.path(), 1 << 30);
    let found = relayer.stats();
    assert_eq!(
        found.produced, 60,
        "the records before the damage: {found:?}"
    );
    assert_eq!(
        found.spool_skipped_bytes,
        (bytes.len() - sixtieth) as u64,
        "{found:?}"
    );
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!((stats.delivered, stats.queued), (60, 0), "{stats:?}");
    let received = broker
        .consumer()
        .unwrap()
        .read("order", 60, TIMEOUT)
        .unwrap();
    let payloads: Vec<u64> = received
        .iter()
        .map(|m| m.json()["payload"].as_u64().unwrap())
        .collect();
    assert_eq!(payloads, (0..60).collect::<Vec<_>>());
    relayer.emit("order", "created", &"after").unwrap();
    relayer.flush(TIMEOUT).unwrap();
}
