//! Every read of the stats satisfies
//! `produced = delivered + failed + dropped + queued`, also while many
//! threads send and the broker acknowledges, refuses and drops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use relayer::Relayer;
use relayer_test::EmbeddedBroker;

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
    let done = AtomicBool::new(false);
    let (reads, kinds) = std::thread::scope(|threads| {
        let senders: Vec<_> = (0..8)
            .map(|_| {
                threads.spawn(|| {
                    for n in 0..20_000 {
                        let _ = relayer.emit("order", "created", &n);
                    }
                })
            })
            .collect();
        let reader = threads.spawn(|| {
            let mut reads = 0u64;
            let mut kinds = (false, false, false);
            while !done.load(Ordering::Relaxed) {
                let stats = relayer.stats();
                assert_eq!(
                    stats.produced,
                    stats.delivered + stats.failed + stats.dropped + stats.queued,
                    "read {reads}: {stats:?}"
                );
                kinds.0 |= stats.delivered > 0 && stats.queued > 0;
                kinds.1 |= stats.dropped > 0;
                kinds.2 |= stats.queued > 0;
                reads += 1;
            }
            (reads, kinds)
        });
        for sender in senders {
            sender.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    println!("{reads} consistent reads");
    assert!(reads > 1_000, "{reads}");
    assert_eq!(kinds, (true, true, true), "the load mixed every outcome");
    relayer.flush(Duration::from_secs(60)).unwrap();
    let stats = relayer.stats();
    assert_eq!(stats.produced, 160_000);
    assert_eq!(stats.delivered + stats.dropped, 160_000, "{stats:?}");
}
