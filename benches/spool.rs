//! What the disk spool costs, against baselines of the same run:
//!
//! - the request path (`emit` of a 502-byte event) with the spool on and
//!   the broker up, against the spool off: the spool must cost nothing
//!   while Kafka keeps up. Rounds alternate between the two; the ratio of
//!   their medians and of their fastest rounds is printed with the spread
//!   of single rounds (the noise);
//! - `emit` while the broker is down and messages go to the spool: its
//!   cost per call and the spool's write rate in MB/s;
//! - the replay rate once the broker is back (from its first delivery, and
//!   behind the messages librdkafka queued), in MB/s and messages/s,
//!   against the rate at which librdkafka delivers a full in-memory queue
//!   to the same broker (messages/s);
//! - both against the disk's sequential write rate, measured here in the
//!   same directory (writes of 1 MiB, then `fdatasync`);
//! - opening a spool left by a previous process (`build()` reads and checks
//!   every record) against reading its files.
//!
//! `cargo bench --bench spool` (about a minute; `SPOOL_BENCH_MB` sets the
//! volume spooled, 100 by default).

#[path = "support/payload.rs"]
mod payload;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use relayer::Relayer;
use relayer_test::EmbeddedBroker;

use payload::Order;

const TOPIC: &str = "order";
const ROUNDS: usize = 15;
const CALLS_PER_ROUND: u64 = 20_000;
const MB: f64 = 1_000_000.0;

fn relayer(broker: &EmbeddedBroker, spool: Option<&Path>) -> Relayer {
    let builder = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .option("queue.buffering.max.messages", "100000");
    let builder = match spool {
        Some(dir) => builder.spool(dir, 1 << 34),
        None => builder,
    };
    builder.build().expect("a relayer on the embedded broker")
}

fn drain(relayer: &Relayer) {
    relayer
        .flush(Duration::from_secs(120))
        .expect("delivered in time");
}

/// Nanoseconds per `emit`, over one round; the queue is drained untimed.
fn round(relayer: &Relayer, orders: &[Order]) -> f64 {
    let start = Instant::now();
    for order in orders {
        relayer.emit(TOPIC, "created", order).expect("sent");
    }
    let per_call = start.elapsed().as_nanos() as f64 / orders.len() as f64;
    drain(relayer);
    per_call
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// MB/s of writing `bytes` sequentially to a new file in `dir`, synced.
fn disk_rate(dir: &Path, bytes: usize) -> f64 {
    let path = dir.join("disk-rate");
    let chunk = vec![0x5a_u8; 1 << 20];
    let start = Instant::now();
    let mut file = File::create(&path).expect("a file");
    for _ in 0..bytes / chunk.len() {
        file.write_all(&chunk).expect("written");
    }
    file.sync_data().expect("synced");
    let rate = bytes as f64 / MB / start.elapsed().as_secs_f64();
    std::fs::remove_file(path).expect("removed");
    rate
}

/// Messages per second at which librdkafka delivers a queue of 100,000
/// messages to the broker, without a spool.
fn delivery_rate(broker: &EmbeddedBroker, orders: &[Order]) -> f64 {
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()
        .expect("a relayer");
    round(&relayer, orders);
    let messages = 100_000;
    let start = Instant::now();
    for n in 0..messages {
        relayer
            .emit(TOPIC, "created", &orders[n % orders.len()])
            .expect("queued");
    }
    drain(&relayer);
    messages as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let megabytes: usize = std::env::var("SPOOL_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory");
    let broker = EmbeddedBroker::start().expect("an embedded broker");
    broker.create_topic(TOPIC, 3).expect("a topic");
    let orders: Vec<Order> = (0..CALLS_PER_ROUND).map(Order::new).collect();

    // The request path with the broker up: spool off against spool on.
    let off = relayer(&broker, None);
    let on = relayer(&broker, Some(&dir.path().join("spool")));
    for target in [&off, &on] {
        round(target, &orders);
    }
    let (mut times_off, mut times_on) = (Vec::new(), Vec::new());
    // Alternating which goes first, so that neither gains from its place.
    for n in 0..ROUNDS {
        if n % 2 == 0 {
            times_off.push(round(&off, &orders));
            times_on.push(round(&on, &orders));
        } else {
            times_on.push(round(&on, &orders));
            times_off.push(round(&off, &orders));
        }
    }
    let ratios: Vec<f64> = times_on
        .iter()
        .zip(&times_off)
        .map(|(on, off)| on / off)
        .collect();
    let (mut low, mut high) = (f64::MAX, 0.0_f64);
    for ratio in &ratios {
        low = low.min(*ratio);
        high = high.max(*ratio);
    }
    let (off_ns, on_ns) = (median(&mut times_off), median(&mut times_on));
    // Sorted by `median`: the fastest rounds, the least disturbed by the
    // other processes of a shared machine.
    let (off_best, on_best) = (times_off[0], times_on[0]);
    println!(
        "emit, broker up: spool off {off_ns:.0} ns, spool on {on_ns:.0} ns (medians); \
         ratio on/off {:.3}, of the fastest rounds {:.3}, single rounds {low:.3}..{high:.3}",
        on_ns / off_ns,
        on_best / off_best
    );
    assert_eq!(
        on.stats().spooled,
        0,
        "nothing spooled while the broker keeps up"
    );
    drop(off);
    let delivery = delivery_rate(&broker, &orders);

    // Spooling: the broker is down, the queue fills, the spool takes over.
    let disk = disk_rate(dir.path(), megabytes << 20);
    broker.down().expect("down");
    let payload_bytes = serde_json::to_vec(&orders[0]).expect("json").len();
    while on.stats().spooled == 0 {
        on.emit(TOPIC, "created", &orders[0]).expect("sent");
    }
    let before = on.stats();
    let target_bytes = (megabytes as u64) << 20;
    let start = Instant::now();
    let (mut calls, mut refused) = (0u64, 0u64);
    while on.stats().spool_bytes - before.spool_bytes < target_bytes {
        for order in &orders {
            match on.emit(TOPIC, "created", order) {
                Ok(()) => {}
                // The writer's queue is full: the disk is slower than
                // the calls.
                Err(relayer::Error::SpoolFull { .. }) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        calls += orders.len() as u64;
    }
    let took = start.elapsed();
    let written = on.stats().spool_bytes - before.spool_bytes;
    let write_rate = written as f64 / MB / took.as_secs_f64();
    println!(
        "emit, broker down, into the spool: {:.0} ns per call ({payload_bytes}-byte payload), \
         spool write {write_rate:.0} MB/s; {refused} of {calls} calls refused (writer behind)",
        took.as_nanos() as f64 / calls as f64
    );

    // Replay: the broker is back.
    let (spooled, messages) = (on.stats().spool_bytes, on.stats().spooled);
    let delivered = on.stats().delivered;
    broker.up().expect("up");
    // From the first delivery on: librdkafka's reconnection backoff is not
    // the spool's doing.
    while on.stats().delivered == delivered {
        thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    while on.stats().spooled > 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let took = start.elapsed().as_secs_f64();
    let replay_rate = spooled as f64 / MB / took;
    let replay_messages = messages as f64 / took;
    drain(&on);
    println!(
        "replay {replay_rate:.0} MB/s ({:.1} MB, {replay_messages:.0} messages/s), \
         librdkafka delivering its queue {delivery:.0} messages/s; \
         disk sequential write {disk:.0} MB/s; spool write / disk {:.2}, \
         replay / delivery {:.2}",
        spooled as f64 / MB,
        write_rate / disk,
        replay_messages / delivery
    );
    drop(on);
    opening(&broker, &orders, &dir.path().join("left"), target_bytes);
}

/// Leaves a spool of `bytes` in `dir` (the broker down), then times
/// opening it again, against reading its files.
fn opening(broker: &EmbeddedBroker, orders: &[Order], dir: &Path, bytes: u64) {
    broker.down().expect("down");
    let left = relayer(broker, Some(dir));
    while left.stats().spool_bytes < bytes {
        for order in orders {
            let _ = left.emit(TOPIC, "created", order);
        }
    }
    let stats = left.shutdown(Duration::from_secs(5));
    drop(left);
    let start = Instant::now();
    let mut read = 0;
    for entry in std::fs::read_dir(dir).expect("the spool") {
        read += std::fs::read(entry.expect("a file").path())
            .expect("read")
            .len();
    }
    let reading = start.elapsed();
    let start = Instant::now();
    let again = relayer(broker, Some(dir));
    let opening = start.elapsed();
    assert_eq!(again.stats().produced, stats.spooled, "all found");
    println!(
        "opening a spool of {:.1} MB ({} messages): build() {opening:.2?}, \
         reading its files {reading:.2?}; ratio {:.2}",
        read as f64 / MB,
        stats.spooled,
        opening.as_secs_f64() / reading.as_secs_f64()
    );
    broker.up().expect("up");
    drain(&again);
}
