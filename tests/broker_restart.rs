//! A real broker (tansu with in-memory storage) killed with `kill -9` and
//! restarted on the same port: it has lost its topics and every producer's
//! state. Delivery must resume within seconds, without a new relayer, and
//! every record sent once the broker is back must be on the topic.
//!
//! Each test runs a broker of its own, from the command line that
//! `../shared/kafka/broker.sh cmd PORT` prints. Like the rest of the
//! real-broker suite, it runs when `RELAYER_TEST_BROKERS` is set (CI starts
//! a broker and sets it) and prints a notice and passes otherwise.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::Consumer;

const TIMEOUT: Duration = Duration::from_secs(60);
/// How soon after the restart records must be delivered again.
const RESUME_WITHIN: Duration = Duration::from_secs(30);

/// A broker of this test's own.
struct OwnBroker {
    command: Vec<String>,
    port: u16,
    child: Child,
}

impl OwnBroker {
    /// Starts one on a free port, or says why not (and the test skips).
    fn start() -> Option<Self> {
        if std::env::var("RELAYER_TEST_BROKERS").is_err() {
            println!("skipping: RELAYER_TEST_BROKERS is not set (no real broker installed)");
            return None;
        }
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kafka/broker.sh");
        let output = Command::new(&script)
            .args(["cmd", &port.to_string()])
            .output();
        let command: Vec<String> = match output {
            Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            other => {
                println!(
                    "skipping: no broker command from {}: {other:?}",
                    script.display()
                );
                return None;
            }
        };
        let child = spawn(&command, port);
        Some(Self {
            command,
            port,
            child,
        })
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kill -9`, then the same command on the same port: memory storage,
    /// so topics and producer state are gone.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(&self.command, self.port);
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn restart(&mut self) {
        self.child = spawn(&self.command, self.port);
    }

    /// Creates topics as `broker.sh topic` does, on this broker's port.
    fn create_topics(&self, topics: &[&str]) {
        for topic in topics {
            let status = Command::new(&self.command[0])
                .args(["topic", "create", topic, "--broker"])
                .arg(format!("tcp://{}", self.address()))
                .args(["--partitions", "3"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "topic {topic} created");
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of the range kept for such brokers (19300–19399) that nothing
/// listens on: several tests, and runs of the suite, can share a machine.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let first = (std::process::id() as u16).wrapping_mul(7) + NEXT.fetch_add(31, Ordering::Relaxed);
    (0..100)
        .map(|n| 19_300 + first.wrapping_add(n) % 100)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port in 19300-19399")
}

fn spawn(command: &[String], port: u16) -> Child {
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "port {port} was taken by another broker"
    );
    child
}

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

/// Reads the logging topic until every id in `expected` is found; fails
/// when some never arrive.
fn assert_on_topic(address: &str, expected: &BTreeSet<String>) {
    let consumer = Consumer::new(address).unwrap();
    let mut count = expected.len();
    loop {
        let records = consumer
            .read("logging", count, TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}: records missing of {} expected", expected.len()));
        let found: BTreeSet<String> = records
            .iter()
            .map(|r| r.json()["request_id"].as_str().unwrap().to_owned())
            .collect();
        let missing = expected.difference(&found).count();
        if missing == 0 {
            return;
        }
        count += missing;
    }
}

/// A broker of its own, its topics, and a relayer on it.
fn broker_and_relayer() -> Option<(OwnBroker, Relayer)> {
    let broker = OwnBroker::start()?;
    broker.create_topics(&["order", "logging"]);
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
        while sent.load(Ordering::Acquire) < 2_000 {
            std::thread::sleep(Duration::from_millis(10));
        }
        broker.kill_and_restart();
        broker.create_topics(&["order", "logging"]);
        restarted.store(true, Ordering::Release);
        let back = Instant::now();
        let at_restart = sent.load(Ordering::Acquire);
        while sent.load(Ordering::Acquire) < at_restart + 2_000 {
            std::thread::sleep(Duration::from_millis(10));
        }
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
    broker.create_topics(&["order", "logging"]);
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
    assert_on_topic(&broker.address(), &after);
}
