//! The spool under the faults it exists for, on the embedded broker: a
//! process killed while the spool is replayed, a cursor left by a drained
//! spool, a record damaged while appends go on, a full disk, a shutdown
//! during a producer replacement. Every message is accounted for.

#[path = "support/child.rs"]
mod child;
#[path = "support/segment.rs"]
mod segment;
#[path = "support/skip.rs"]
mod skip;
#[path = "support/small_disk.rs"]
mod small_disk;
#[path = "support/stats.rs"]
mod stats;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use child::Child;
use relayer::producer::{KafkaProducer, Message, Producer};
use relayer::{Error, KAFKA_DEFAULTS, Relayer};
use relayer_test::EmbeddedBroker;
use small_disk::SmallDisk;

const TIMEOUT: Duration = Duration::from_secs(120);

/// A relayer with a spool in `dir` and an in-memory queue of `queue`
/// messages: a small one spools at once, a large one replays everything
/// into memory.
fn spooled_relayer(brokers: &str, dir: &Path, queue: u32) -> Relayer {
    Relayer::builder("logging")
        .brokers(brokers)
        .option("queue.buffering.max.messages", queue.to_string())
        .spool(dir, 1 << 30)
        .build()
        .unwrap()
}

/// The payloads on `topic`, in the order the broker has them.
fn payloads(broker: &EmbeddedBroker, topic: &str, count: usize) -> Vec<String> {
    broker
        .consumer()
        .unwrap()
        .read(topic, count, TIMEOUT)
        .unwrap()
        .iter()
        .map(|m| m.json()["payload"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_drained_spool_leaves_no_cursor_that_a_later_spool_trips_on() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap_servers();

    // A first process spools during an outage, delivers it all, and stops.
    let first = spooled_relayer(&brokers, dir.path(), 10);
    broker.down().unwrap();
    for n in 0..100 {
        first
            .emit("order", "created", &format!("a-{n:03}"))
            .unwrap();
    }
    broker.up().unwrap();
    first.flush(TIMEOUT).unwrap();
    assert_eq!(first.shutdown(TIMEOUT).delivered, 100);
    drop(first);
    let left = segment::files(dir.path());
    assert!(
        left.is_empty(),
        "a drained spool leaves no segment: {left:?}"
    );

    // A second one spools as many records of the same size, and stops.
    broker.down().unwrap();
    let second = spooled_relayer(&brokers, dir.path(), 10);
    for n in 0..100 {
        second
            .emit("order", "created", &format!("b-{n:03}"))
            .unwrap();
    }
    let stopped = second.shutdown(Duration::from_millis(500));
    assert_eq!(stopped.spooled, 100, "{stopped:?}");
    drop(second);

    // A third one sends all of them.
    broker.up().unwrap();
    let third = spooled_relayer(&brokers, dir.path(), 10);
    assert_eq!(third.stats().produced, 100);
    third.flush(TIMEOUT).unwrap();
    assert_eq!(third.stats().delivered, 100);
    let expected: Vec<String> = (0..100)
        .map(|n| format!("a-{n:03}"))
        .chain((0..100).map(|n| format!("b-{n:03}")))
        .collect();
    assert_eq!(payloads(&broker, "order", 200), expected, "all, in order");
}

/// The child of the kill test: replays a spool into an in-memory queue
/// large enough for all of it, with the broker down, and waits to be
/// killed.
#[test]
fn replaying_child() {
    let Ok(config) = std::env::var("RELAYER_SPOOL_CHILD") else {
        return;
    };
    let (brokers, dir) = config.split_once(' ').unwrap();
    let relayer = spooled_relayer(brokers, Path::new(dir), 100_000);
    // The moment of the fault: replay hands the whole spool to librdkafka
    // within milliseconds of the start, and the kill comes a second later,
    // with all of it in memory (and still in the spool: handed over is not
    // delivered).
    std::thread::sleep(Duration::from_secs(1));
    println!("REPLAYED {:?}", relayer.stats());
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_process_killed_while_replaying_loses_nothing_and_order_is_kept() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap_servers();
    const MESSAGES: usize = 5_000;

    // Spooled during an outage; at the shutdown, what was in librdkafka's
    // queue (the oldest) is spooled too.
    broker.down().unwrap();
    let first = spooled_relayer(&brokers, dir.path(), 1_000);
    for n in 0..MESSAGES {
        first.emit("order", "created", &format!("{n:05}")).unwrap();
    }
    let stopped = first.shutdown(Duration::from_secs(2));
    assert_eq!(stopped.spooled, MESSAGES as u64, "{stopped:?}");
    drop(first);

    // The next process moves the whole spool into librdkafka's memory
    // while the broker is still down, and is killed.
    let replaying = Child::start(
        "replaying_child",
        "RELAYER_SPOOL_CHILD",
        &format!("{brokers} {}", dir.path().display()),
    );
    println!("killed while replaying: {}", replaying.said("REPLAYED "));
    drop(replaying);

    broker.up().unwrap();
    let last = spooled_relayer(&brokers, dir.path(), 1_000);
    assert_eq!(last.stats().produced, MESSAGES as u64, "{:?}", last.stats());
    last.flush(TIMEOUT).unwrap();
    let expected: Vec<String> = (0..MESSAGES).map(|n| format!("{n:05}")).collect();
    assert_eq!(payloads(&broker, "order", MESSAGES), expected);
}

#[test]
fn a_record_damaged_while_appends_go_on_keeps_every_count_right() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relayer = spooled_relayer(&broker.bootstrap_servers(), dir.path(), 1_000);
    broker.down().unwrap();
    for n in 0..3_000 {
        relayer.emit("order", "created", &n).unwrap();
    }
    wait::until("the spool written", TIMEOUT, || {
        segment::records(dir.path()) == relayer.stats().spooled
    });

    // A flipped bit in the middle of the segment still being written.
    let segment = segment::files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = segment::record_start(&bytes, 1_000) + 20;
    bytes[at] ^= 0x10;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &bytes[at..=at], at as u64).unwrap();

    broker.up().unwrap();
    // Appends go on while the damage is found, and after.
    let found_at = std::thread::scope(|threads| {
        let sending = threads.spawn(|| {
            let mut found_at = None;
            for n in 3_000.. {
                relayer.emit("order", "created", &n).unwrap();
                std::thread::sleep(Duration::from_micros(200));
                if found_at.is_none() && relayer.stats().failed > 0 {
                    found_at = Some(n + 1);
                }
                if found_at.is_some_and(|at| n >= at + 1_000) {
                    return found_at.unwrap();
                }
            }
            unreachable!()
        });
        while !sending.is_finished() {
            let stats = relayer.stats();
            stats::assert_identity(&stats);
            assert!(stats.failed <= stats.produced, "{stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        sending.join().unwrap()
    });
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    println!("damaged record while appending, found before message {found_at}: {stats:?}");
    let sent = found_at + 1_001;
    assert_eq!(stats.produced, sent, "{stats:?}");
    assert_eq!(
        (stats.queued, stats.spooled, stats.dropped),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.failed >= 1, "the damaged record is lost: {stats:?}");
    assert_eq!(stats.delivered + stats.failed, sent, "{stats:?}");
    let received = broker
        .consumer()
        .unwrap()
        .read("order", stats.delivered as usize, TIMEOUT)
        .unwrap();
    let distinct: BTreeSet<u64> = received
        .iter()
        .map(|m| m.json()["payload"].as_u64().unwrap())
        .collect();
    assert_eq!(distinct.len() as u64, stats.delivered, "what was counted");
    assert!(
        (found_at..sent).all(|n| distinct.contains(&n)),
        "appends after the damage was found arrive"
    );
}

/// Segment files this process has open in `dir` (other tests run beside
/// this one).
fn open_segments_in(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| {
            target.starts_with(dir) && target.extension().is_some_and(|e| e == "spool")
        })
        .count()
}

#[test]
fn a_full_disk_refuses_and_counts_without_a_file_per_message() {
    let Some(disk) = SmallDisk::mount("256k") else {
        return;
    };
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = spooled_relayer(&broker.bootstrap_servers(), disk.path(), 100);
    broker.down().unwrap();
    let payload = "x".repeat(200);
    let mut refused = 0;
    for _ in 0..20_000 {
        match relayer.emit("order", "created", &payload) {
            Ok(()) => {}
            Err(Error::SpoolFull { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
        std::thread::sleep(Duration::from_micros(20));
    }
    // What the writer took is written, or failed.
    wait::until("the spool written", TIMEOUT, || {
        segment::records(disk.path()) == relayer.stats().spooled
    });
    let stats = relayer.stats();
    println!("disk full: {refused} refused; {stats:?}");
    let segments = segment::files(disk.path()).len();
    assert!(segments <= 2, "{segments} segment files");
    let open = open_segments_in(disk.path());
    assert!(open <= 2, "{open} segment files open in the spool");
    stats::assert_identity(&stats);
    assert_eq!(stats.dropped, refused, "every refusal counted: {stats:?}");
    assert!(refused > 0, "the disk filled: {stats:?}");

    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    stats::assert_identity(&stats);
    assert_eq!((stats.queued, stats.spooled), (0, 0), "{stats:?}");
    assert!(stats.delivered > 0, "{stats:?}");
}

/// The child of the shutdown test: sends keyed messages through a spooled
/// producer until its replacement is under way, shuts down in the middle
/// of it, says what it counted, and exits at once.
#[test]
#[allow(
    clippy::exit,
    reason = "a process that exits at once, without destructors"
)]
fn replaced_child() {
    let Ok(config) = std::env::var("RELAYER_SPOOL_CHILD") else {
        return;
    };
    let (brokers, dir) = config.split_once(' ').unwrap();
    let mut kafka = rdkafka::ClientConfig::new();
    for (key, value) in KAFKA_DEFAULTS {
        kafka.set(*key, *value);
    }
    kafka.set("bootstrap.servers", brokers);
    let producer = KafkaProducer::with_spool(&kafka, dir, 1 << 30).unwrap();
    let send = |n: u64| {
        let payload = format!("{n:06}");
        producer
            .send(Message {
                topic: "order",
                key: Some(b"one-key"),
                headers: &[],
                payload: payload.as_bytes(),
            })
            .unwrap();
    };
    send(0);
    producer.flush(TIMEOUT).unwrap();
    println!("READY");
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 1.. {
        send(n);
        let replacing = format!("{producer:?}").contains("generation: None");
        if replacing || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = producer.shutdown(Duration::from_secs(2));
    let stats = producer.stats();
    println!(
        "SHUTDOWN {} {} {} {} {}",
        stats.produced, stats.delivered, stats.failed, stats.dropped, stats.queued
    );
    eprintln!("replaced child: {stats:?}");
    std::process::exit(0);
}

#[test]
fn a_shutdown_during_a_replacement_spools_what_the_old_producer_held() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap_servers();
    let mut replaced = Child::start(
        "replaced_child",
        "RELAYER_SPOOL_CHILD",
        &format!("{brokers} {}", dir.path().display()),
    );
    replaced.said("READY");
    // The broker forgets the producer again and again: after 5 s of
    // epoch bumps without a delivery, the stalled client is replaced, with
    // thousands of messages in its queue, and the shutdown comes then.
    let unknown = rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID;
    broker.fail_produce_requests(&[unknown; 200]);
    let counts: Vec<u64> = replaced
        .said("SHUTDOWN ")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    replaced.process.wait().unwrap();
    let [produced, delivered, failed, dropped, queued] = counts[..] else {
        panic!("{counts:?}")
    };
    println!(
        "shutdown during a replacement: produced {produced}, delivered {delivered}, \
         failed {failed}, dropped {dropped}, queued {queued}"
    );
    assert_eq!(dropped, 0);
    assert_eq!(produced, delivered + failed + queued);

    let next = spooled_relayer(&brokers, dir.path(), 1_000);
    assert_eq!(
        next.stats().produced,
        queued,
        "every message still queued at the shutdown is in the spool"
    );
    next.flush(TIMEOUT).unwrap();
    let received = broker
        .consumer()
        .unwrap()
        .read("order", (delivered + queued) as usize, TIMEOUT)
        .unwrap();
    let numbers: Vec<u64> = received
        .iter()
        .map(|m| std::str::from_utf8(&m.value).unwrap().parse().unwrap())
        .collect();
    // One key: in order, across both processes.
    if let Some(at) = numbers.windows(2).position(|pair| pair[0] > pair[1]) {
        panic!("out of order: {} then {}", numbers[at], numbers[at + 1]);
    }
}

#[test]
fn a_spool_with_a_producer_of_ones_own_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let built = Relayer::builder("logging")
        .spool(dir.path(), 1 << 20)
        .producer(relayer_test::MockProducer::new())
        .build();
    assert!(matches!(built, Err(Error::Config(_))), "{built:?}");
}

#[test]
fn a_spool_directory_that_cannot_be_opened_says_why() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let built = Relayer::builder("logging")
        .brokers("127.0.0.1:9")
        .spool(file.path().join("spool"), 1 << 20)
        .build();
    let Err(error @ Error::Spool { .. }) = built else {
        panic!("{built:?}")
    };
    let source = std::error::Error::source(&error).expect("the io::Error");
    assert!(
        source.downcast_ref::<std::io::Error>().is_some(),
        "{source:?}"
    );
    assert!(error.to_string().contains("spool"), "{error}");
}
