//! A real broker (tansu, in-memory storage) of a test's own, from the
//! command line that `../shared/kafka/broker.sh cmd PORT` (or the script at
//! `RELAYER_BROKER_SH`) prints, on a free
//! port: killed with `kill -9` and restarted on the same port (topics and
//! producer state are gone then), or frozen with `SIGSTOP` and thawed.
//!
//! Processes are started through `relayer_test::without_broker_restarts`:
//! an embedded broker of another test may be going down meanwhile.
//!
//! Like the rest of the real-broker suite, it runs when
//! `RELAYER_TEST_BROKERS` is set (CI starts a broker and sets it), and
//! skips otherwise, loudly, failing under CI.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use super::skip::skip;

/// A broker of a test's own.
pub(crate) struct OwnBroker {
    command: Vec<String>,
    port: u16,
    child: Child,
    frozen: bool,
}

#[allow(dead_code, reason = "each test uses the faults it needs")]
impl OwnBroker {
    /// Starts one on a free port, or says why not (and the test skips).
    pub(crate) fn start() -> Option<Self> {
        if std::env::var("RELAYER_TEST_BROKERS").is_err() {
            skip("RELAYER_TEST_BROKERS is not set (no real broker installed)");
            return None;
        }
        let port = free_port();
        // Beside the repository, unless said otherwise.
        let script = std::env::var_os("RELAYER_BROKER_SH").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kafka/broker.sh"),
            PathBuf::from,
        );
        let mut cmd = Command::new(&script);
        cmd.args(["cmd", &port.to_string()]);
        let output = relayer_test::without_broker_restarts(|| cmd.output());
        let command: Vec<String> = match output {
            Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            other => {
                skip(&format!(
                    "no broker command from {}: {other:?}",
                    script.display()
                ));
                return None;
            }
        };
        let child = spawn(&command, port);
        Some(Self {
            command,
            port,
            child,
            frozen: false,
        })
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kill -9`, then the same command on the same port: memory storage,
    /// so topics and producer state are gone.
    pub(crate) fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.frozen = false;
    }

    pub(crate) fn restart(&mut self) {
        self.child = spawn(&self.command, self.port);
    }

    /// `SIGSTOP`: the broker keeps its connections and its port, and
    /// answers nothing, like a broker stuck in a long pause.
    pub(crate) fn freeze(&mut self) {
        self.signal("-STOP");
        self.frozen = true;
    }

    /// `SIGCONT`: the frozen broker goes on where it stopped.
    pub(crate) fn thaw(&mut self) {
        self.signal("-CONT");
        self.frozen = false;
    }

    fn signal(&self, signal: &str) {
        let mut kill = Command::new("kill");
        kill.args([signal, &self.child.id().to_string()]);
        let status = relayer_test::without_broker_restarts(|| kill.status()).unwrap();
        assert!(status.success(), "kill {signal} {}", self.child.id());
    }

    /// Creates topics as `broker.sh topic` does, on this broker's port,
    /// with `partitions` partitions each.
    pub(crate) fn create_topics(&self, topics: &[&str], partitions: u32) {
        for topic in topics {
            let mut create = Command::new(&self.command[0]);
            create
                .args(["topic", "create", topic, "--broker"])
                .arg(format!("tcp://{}", self.address()))
                .args(["--partitions", &partitions.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let status = relayer_test::without_broker_restarts(|| create.status()).unwrap();
            assert!(status.success(), "topic {topic} created");
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
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
    let mut broker = Command::new(&command[0]);
    broker
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = relayer_test::without_broker_restarts(|| broker.spawn()).unwrap();
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
