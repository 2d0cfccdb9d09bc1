//! A real broker (tansu with in-memory storage) killed with `kill -9` and
//! restarted on the same port: it has lost its topics and every producer's
//! state. Delivery must resume within seconds, without a new relayer, and
//! every record sent once the broker is back must be on the topic.
//!
//! Each test runs a broker of its own (`support/own_broker.rs`).

#[path = "support/own_broker.rs"]
mod own_broker;
#[path = "support/skip.rs"]
mod skip;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use own_broker::OwnBroker;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::Consumer;

const TIMEOUT: Duration = Duration::from_secs(60);
/// How soon after the restart records must be delivered again: the stall
/// is recognised 5 s after the last delivery at the earliest (librdkafka's
/// statistics come every second), and a new client needs a moment.
const RESUME_WITHIN: Duration = Duration::from_secs(15);

/// One request: an event and its record, with the id `id`.
fn request(relayer: &Relayer, id: String) {
    let scope = Scope::new(relayer, Some(id));
    // Refusals are counted in the stats; the request itself never fails.
    let _ = scope.relayer().emit("order", "created", &1);
    scope.finish(Outcome::Ok, RpcDetails::default());
}

/// Waits until everything sent is delivered (or failed), and returns how
/// long that took `since`.
fn resumed(relayer: &Relayer, since: Instant) -> Duration {
    loop {
        if relayer.flush(Duration::from_millis(200)).is_ok() {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < RESUME_WITHIN,
            "delivery did not resume: {:?}",
            relayer.stats()
        );
    }
}

/// How many ids of `expected` are not on the logging topic, read from the
/// beginning until it is quiet.
fn missing_on_topic(address: &str, expected: &BTreeSet<String>) -> usize {
    let records = Consumer::new(address)
        .unwrap()
        .read_all("logging", Duration::from_secs(2), TIMEOUT)
        .unwrap();
    let found: BTreeSet<String> = records
        .iter()
        .map(|r| r.json()["request_id"].as_str().unwrap().to_owned())
        .collect();
    expected.difference(&found).count()
}

/// Reads the logging topic until every id in `expected` is found; fails
/// when some never arrive.
fn assert_on_topic(address: &str, expected: &BTreeSet<String>) {
    let missing = missing_on_topic(address, expected);
    assert_eq!(missing, 0, "records missing of {}", expected.len());
}

/// A broker of its own, its topics, and a relayer on it.
fn broker_and_relayer() -> Option<(OwnBroker, Relayer)> {
    let broker = OwnBroker::start()?;
    broker.create_topics(&["order", "logging"], 3);
    let relayer = Relayer::builder("logging")
        .brokers(broker.address())
        .build()
        .unwrap();
    Some((broker, relayer))
}

#[test]
fn after_a_kill_under_load_delivery_resumes_and_every_later_record_arrives() {
    let Some((mut broker, relayer)) = broker_and_relayer() else {
        return;
    };

    let stop = AtomicBool::new(false);
    let restarted = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let after_restart = std::thread::scope(|threads| {
        let _stop = wait::SetOnDrop(&stop);
        let load = threads.spawn(|| {
            let mut after = BTreeSet::new();
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                let id = format!("req-{n}");
                // Topics are back: this request must reach them.
                if restarted.load(Ordering::Acquire) {
                    after.insert(id.clone());
                }
                request(&relayer, id);
                sent.store(n, Ordering::Release);
                std::thread::sleep(Duration::from_micros(500));
            }
            after
        });
        wait::until("2,000 requests sent", TIMEOUT, || {
            sent.load(Ordering::Acquire) >= 2_000
        });
        broker.kill_and_restart();
        broker.create_topics(&["order", "logging"], 3);
        restarted.store(true, Ordering::Release);
        let back = Instant::now();
        let at_restart = sent.load(Ordering::Acquire);
        wait::until("2,000 requests sent after the restart", TIMEOUT, || {
            sent.load(Ordering::Acquire) >= at_restart + 2_000
        });
        stop.store(true, Ordering::Release);
        let after = load.join().unwrap();
        let took = resumed(&relayer, back);
        println!("kill -9 under load: delivery resumed {took:?} after the restart");
        after
    });
    let stats = relayer.stats();
    println!(
        "kill -9 under load: {} records sent after the restart; {stats:?}",
        after_restart.len()
    );
    assert_eq!(
        stats.produced,
        stats.delivered + stats.failed + stats.dropped + stats.queued
    );
    assert_eq!(
        stats.replacements, 1,
        "the stalled client was replaced: {stats:?}"
    );
    // Either the client stalls (the broker refuses its requests), or a
    // batch retried across the restart meets the broker that lost the
    // producer first and librdkafka raises a fatal error: either way, what
    // the client held is sent again by the next one.
    assert_eq!((stats.failed, stats.dropped), (0, 0), "{stats:?}");
    assert_on_topic(&broker.address(), &after_restart);
}

#[test]
fn after_a_kill_with_nothing_in_flight_delivery_resumes() {
    let Some((mut broker, relayer)) = broker_and_relayer() else {
        return;
    };
    for n in 0..100 {
        request(&relayer, format!("before-{n}"));
    }
    relayer.flush(TIMEOUT).unwrap();

    // Idle producer, broker gone and back without its state.
    broker.kill();
    std::thread::sleep(Duration::from_secs(1));
    broker.restart();
    broker.create_topics(&["order", "logging"], 3);
    let back = Instant::now();
    let mut after = BTreeSet::new();
    for n in 0..100 {
        let id = format!("after-{n}");
        request(&relayer, id.clone());
        after.insert(id);
    }
    let took = resumed(&relayer, back);
    let stats = relayer.stats();
    println!("kill -9 while idle: delivery resumed {took:?} after the restart; {stats:?}");
    assert_eq!(
        stats.replacements, 1,
        "the stalled client was replaced: {stats:?}"
    );
    assert_eq!((stats.delivered, stats.failed), (400, 0), "{stats:?}");
    assert_on_topic(&broker.address(), &after);
}
