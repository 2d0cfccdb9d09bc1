//! Real process deaths. A child process (this test binary again) sends
//! numbered, keyed events through a relayer with a spool to a real broker
//! (tansu) of the test's own. The broker is frozen (SIGSTOP), and the child
//! killed with SIGKILL at a random moment: during the outage, during the
//! replay once the broker is back, or during its shutdown (after SIGTERM);
//! the next child starts on the same spool. An independent consumer then
//! reads every event from the beginning:
//!
//! - every event that was in a spool segment when a child was killed
//!   arrives (read from the segment files by the test, CRC-checked);
//! - every event a child had sent more than `spool_after` and a second
//!   before it was killed arrives (the child logs what it sent, and when);
//! - the first arrivals of each key are in the order sent;
//! - events arrive twice at most as often as the documented bound allows:
//!   per kill, what replay had in flight and what was acknowledged since
//!   the ledger's last write.
//!
//! `RELAYER_DEATH_SEED` reruns the moments of a run (each run prints its
//! seed).

#[path = "support/child.rs"]
mod child;
#[path = "support/own_broker.rs"]
mod own_broker;
#[path = "support/segment.rs"]
mod segment;
#[path = "support/skip.rs"]
mod skip;
#[path = "support/wait.rs"]
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use child::Child;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relayer::Relayer;
use relayer_test::Consumer;

const TIMEOUT: Duration = Duration::from_secs(120);
/// The default: what users run.
const SPOOL_AFTER: Duration = relayer::producer::DEFAULT_SPOOL_AFTER;
/// Beyond `spool_after`: the supervisor's look (every 100 ms), the purge,
/// and the writer.
const MARGIN: Duration = Duration::from_secs(1);
/// What one kill may send twice, as documented: replay's records in
/// flight, and the acknowledgements the ledger records at once.
const TWICE_PER_KILL: usize = 10_000 + 1_000;
const KILLS: u64 = 6;
/// The numbers of child `i` start at `i * CHILD_NUMBERS`.
const CHILD_NUMBERS: u64 = 10_000_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The child: sends events (key `n % 4`) as fast as a busy service would,
/// logging every 50th number with the time `emit` returned, until killed;
/// on SIGTERM it shuts down as a service does.
#[test]
#[allow(clippy::exit, reason = "the child exits once shut down")]
fn death_child() {
    let Ok(config) = std::env::var("RELAYER_DEATH_CHILD") else {
        return;
    };
    let [brokers, dir, log, first]: [&str; 4] =
        config.split('|').collect::<Vec<_>>().try_into().unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(brokers)
        .spool(dir, 1 << 30)
        .build()
        .unwrap();
    let terminated = Arc::new(AtomicBool::new(false));
    let flag = terminated.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            signal(SignalKind::terminate()).unwrap().recv().await;
        });
        flag.store(true, Ordering::Release);
    });
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    println!("READY");
    let mut n: u64 = first.parse().unwrap();
    loop {
        if terminated.load(Ordering::Acquire) {
            println!("SHUTTING DOWN");
            let stats = relayer.shutdown(Duration::from_secs(5));
            println!("SHUT DOWN {stats:?}");
            std::process::exit(0);
        }
        let key = format!("key-{}", n % 4);
        relayer
            .emit_with_key("order", "created", &n, key.as_str())
            .unwrap();
        if n.is_multiple_of(50) {
            writeln!(log, "{n} {}", now_ms()).unwrap();
        }
        n += 1;
        std::thread::sleep(Duration::from_micros(250));
    }
}

/// When a child dies: in the ...
#[derive(Debug, Clone, Copy)]
enum Death {
    /// Killed while the broker is frozen.
    Outage,
    /// Killed once the broker is back, while the spool is replayed.
    Replay,
    /// Killed while shutting down (SIGTERM) with the broker frozen.
    Shutdown,
}

/// A kill: when, and the numbers in the spool's segments then.
struct Kill {
    child: u64,
    death: Death,
    at_ms: u64,
    on_disk: BTreeSet<u64>,
}

/// What the children logged: for each number logged, when `emit` returned.
fn sent(log: &Path) -> BTreeMap<u64, u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (n, ms) = line.split_once(' ')?;
            Some((n.parse().ok()?, ms.parse().ok()?))
        })
        .collect()
}

/// The numbers in the spool's segment files now.
fn on_disk(dir: &Path) -> BTreeSet<u64> {
    segment::files(dir)
        .iter()
        .flat_map(|path| segment::payloads(path))
        .map(|payload| {
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            json["payload"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn a_process_killed_at_random_moments_loses_only_its_last_moments() {
    let Some(mut broker) = own_broker::OwnBroker::start() else {
        return;
    };
    broker.create_topics(&["order", "logging"], 3);
    let spool = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("sent.log");
    let seed = std::env::var("RELAYER_DEATH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_ms);
    println!("seed {seed} (RELAYER_DEATH_SEED={seed} reruns these moments)");
    let mut rng = StdRng::seed_from_u64(seed);
    let random = |rng: &mut StdRng, from_ms: u64, to_ms: u64| {
        Duration::from_millis(rng.random_range(from_ms..to_ms))
    };
    let mut kills = Vec::new();
    for child_number in 0..KILLS {
        let first = child_number * CHILD_NUMBERS;
        let config = format!(
            "{}|{}|{}|{first}",
            broker.address(),
            spool.path().display(),
            log.display()
        );
        let child = Child::start("death_child", "RELAYER_DEATH_CHILD", &config);
        child.said("READY");
        // Sending, and delivering, for a while before the fault: long
        // enough for some of what it sends to be safe at any moment.
        let a_while = (SPOOL_AFTER + MARGIN).as_millis() as u64 + 500;
        wait::until("the child sends for a while", TIMEOUT, || {
            let first_sent = sent(&log).range(first..).next().map(|(_, ms)| *ms);
            first_sent.is_some_and(|ms| ms + a_while < now_ms())
        });
        let death = [Death::Outage, Death::Replay, Death::Shutdown][child_number as usize % 3];
        broker.freeze();
        match death {
            Death::Outage => std::thread::sleep(random(&mut rng, 200, 3_000)),
            Death::Replay => {
                std::thread::sleep(random(&mut rng, 1_200, 2_500));
                broker.thaw();
                std::thread::sleep(random(&mut rng, 0, 1_500));
            }
            Death::Shutdown => {
                std::thread::sleep(random(&mut rng, 200, 2_000));
                child.signal("-TERM");
                child.said("SHUTTING DOWN");
                std::thread::sleep(random(&mut rng, 0, 1_500));
            }
        }
        drop(child);
        let at_ms = now_ms();
        let on_disk = on_disk(spool.path());
        println!(
            "child {child_number} killed {death:?}: {} events in the spool",
            on_disk.len()
        );
        kills.push(Kill {
            child: child_number,
            death,
            at_ms,
            on_disk,
        });
        broker.thaw();
    }

    // A last process sends what is left.
    let last = Relayer::builder("logging")
        .brokers(broker.address())
        .spool(spool.path(), 1 << 30)
        .build()
        .unwrap();
    let left = last.stats().produced;
    last.flush(TIMEOUT).unwrap();
    let stats = last.shutdown(TIMEOUT);
    assert_eq!((stats.delivered, stats.queued), (left, 0), "{stats:?}");

    let consumer = Consumer::new(&broker.address()).unwrap();
    let all = consumer
        .read_all("order", Duration::from_secs(3), TIMEOUT)
        .unwrap();
    let mut arrivals: BTreeMap<u64, usize> = BTreeMap::new();
    let mut first_order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for message in &all {
        let n = message.json()["payload"].as_u64().unwrap();
        let count = arrivals.entry(n).or_default();
        *count += 1;
        if *count == 1 {
            let key = message.key_str().unwrap().to_owned();
            first_order.entry(key).or_default().push(n);
        }
    }
    let sent = sent(&log);
    let twice = all.len() - arrivals.len();
    println!(
        "{} events arrived, {} distinct, {twice} more than once; {} logged as sent",
        all.len(),
        arrivals.len(),
        sent.len() * 50
    );

    for kill in &kills {
        let missing: Vec<&u64> = kill
            .on_disk
            .iter()
            .filter(|n| !arrivals.contains_key(n))
            .collect();
        assert!(
            missing.is_empty(),
            "child {} ({:?}): {} events in the spool at the kill never arrived, e.g. {:?}",
            kill.child,
            kill.death,
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        // Sent long enough before the kill: safe.
        let first = kill.child * CHILD_NUMBERS;
        let safe_before = kill.at_ms - (SPOOL_AFTER + MARGIN).as_millis() as u64;
        let last_safe = sent
            .range(first..first + CHILD_NUMBERS)
            .filter(|(_, ms)| **ms < safe_before)
            .map(|(n, _)| *n)
            .next_back();
        let lost: Vec<u64> = (first..=last_safe.unwrap_or(first))
            .filter(|n| !arrivals.contains_key(n))
            .collect();
        let last_sent = sent.range(first..first + CHILD_NUMBERS).next_back();
        println!(
            "child {} ({:?}): safe up to {last_safe:?}, sent up to {last_sent:?}, {} in the spool",
            kill.child,
            kill.death,
            kill.on_disk.len()
        );
        assert!(
            last_safe.is_some(),
            "child {} sent for a while before it was killed",
            kill.child
        );
        assert!(
            lost.is_empty(),
            "child {} ({:?}): {} events sent more than {:?} before the kill lost, e.g. {:?}",
            kill.child,
            kill.death,
            lost.len(),
            SPOOL_AFTER + MARGIN,
            &lost[..lost.len().min(5)]
        );
    }
    assert!(
        twice <= kills.len() * TWICE_PER_KILL,
        "{twice} arrived twice for {} kills",
        kills.len()
    );
    for (key, numbers) in &first_order {
        if let Some(at) = numbers.windows(2).position(|pair| pair[0] > pair[1]) {
            panic!("{key}: {} arrived before {}", numbers[at], numbers[at + 1]);
        }
    }
}
