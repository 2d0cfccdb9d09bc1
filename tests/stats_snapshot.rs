//! Every read of the stats satisfies
//! `produced = delivered + failed + dropped + queued`, also while many
//! threads send and the broker acknowledges, refuses and drops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use relayer::Relayer;
use relayer_test::EmbeddedBroker;

const SENDERS: usize = 8;

#[test]
fn every_snapshot_under_concurrent_load_satisfies_the_identity() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 2).unwrap();
    broker.set_latency(Duration::from_millis(20)).unwrap();
    // A small queue: some messages are delivered, some queued, some dropped.
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("queue.buffering.max.messages", "2000")
        .build()
        .unwrap();
    let stop_sending = AtomicBool::new(false);
    let stop_reading = AtomicBool::new(false);
    let all_seen = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let (reads, seen) = std::thread::scope(|threads| {
        for _ in 0..SENDERS {
            threads.spawn(|| {
                let mut n = 0u64;
                while !stop_sending.load(Ordering::Acquire) {
                    let _ = relayer.emit("order", "created", &n);
                    n += 1;
                }
                sent.fetch_add(n, Ordering::AcqRel);
            });
        }
        let reader = threads.spawn(|| {
            let mut reads = 0u64;
            // Seen: delivered while others were queued, dropped, queued.
            let mut seen = (false, false, false);
            while !stop_reading.load(Ordering::Acquire) {
                let stats = relayer.stats();
                assert_eq!(
                    stats.produced,
                    stats.delivered + stats.failed + stats.dropped + stats.queued,
                    "read {reads}: {stats:?}"
                );
                seen.0 |= stats.delivered > 0 && stats.queued > 0;
                seen.1 |= stats.dropped > 0;
                seen.2 |= stats.queued > 0;
                all_seen.store(seen == (true, true, true), Ordering::Release);
                reads += 1;
            }
            (reads, seen)
        });
        // Send for a second at least, until the reader has seen every
        // outcome (or gives up after 30 s, and fails below).
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(1)
            || (!all_seen.load(Ordering::Acquire) && started.elapsed() < Duration::from_secs(30))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop_sending.store(true, Ordering::Release);
        stop_reading.store(true, Ordering::Release);
        reader.join().unwrap()
    });
    println!("{reads} consistent reads");
    // The figure of docs/operations.md.
    assert!(reads > 100_000, "{reads}");
    assert_eq!(seen, (true, true, true), "the load mixed every outcome");
    relayer.flush(Duration::from_secs(60)).unwrap();
    let stats = relayer.stats();
    let sent = sent.load(Ordering::Acquire);
    assert_eq!(stats.produced, sent);
    assert_eq!(stats.delivered + stats.dropped, sent, "{stats:?}");
}
