//! A real Kafka-compatible broker out of the bench's process: tansu started
//! on a port of its own with `../shared/kafka/broker.sh cmd PORT` (or the
//! script at `RELAYER_BROKER_SH`), or the
//! broker at `LOAD_BROKERS` (its process id in `LOAD_BROKER_PID` for its CPU
//! time). The broker's CPU time is read from `/proc/PID/stat`; the bytes
//! sent to it are those the broker acknowledged on this process's TCP
//! connections to it (`TCP_INFO`'s `tcpi_bytes_acked`).

use std::env;
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The port of the broker this bench starts (the range 19500-19599 is the
/// bench's; 19092 is the shared test broker's).
const DEFAULT_PORT: u16 = 19_500;
const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A broker in another process, and that process when it is known.
pub(crate) struct RealBroker {
    bootstrap: String,
    pid: Option<u32>,
    /// The broker this bench started, killed when dropped.
    child: Option<Child>,
}

/// What the broker process spent so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BrokerUsage {
    /// User + system CPU time of all its threads.
    pub cpu: Duration,
    /// Bytes this process sent to it over TCP (Kafka requests, headers
    /// of TCP and IP not included), on the connections open now.
    pub sent_bytes: u64,
}

impl BrokerUsage {
    pub(crate) fn since(&self, earlier: &Self) -> Self {
        Self {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            sent_bytes: self.sent_bytes.saturating_sub(earlier.sent_bytes),
        }
    }
}

impl std::ops::AddAssign for BrokerUsage {
    fn add_assign(&mut self, other: Self) {
        self.cpu += other.cpu;
        self.sent_bytes += other.sent_bytes;
    }
}

impl RealBroker {
    /// The broker at `LOAD_BROKERS`, else a tansu of our own; `None`, with
    /// a notice saying why, when neither is available.
    pub(crate) fn start(topics: &[&str]) -> Option<Self> {
        let broker = match env::var("LOAD_BROKERS") {
            Ok(bootstrap) if !bootstrap.is_empty() => Self {
                bootstrap,
                pid: env::var("LOAD_BROKER_PID")
                    .ok()
                    .and_then(|p| p.parse().ok()),
                child: None,
            },
            _ => match Self::spawn() {
                Ok(broker) => broker,
                Err(why) => {
                    eprintln!(
                        "NOTICE: no real broker ({why}); the real-broker configurations are skipped. \
                         Install tansu with `../shared/kafka/broker.sh install`, or set LOAD_BROKERS=host:port \
                         (and LOAD_BROKER_PID for its CPU time)."
                    );
                    return None;
                }
            },
        };
        if let Err(why) = create_topics(&broker.bootstrap, topics) {
            eprintln!(
                "NOTICE: topics could not be created on {} ({why}); the real-broker configurations are skipped.",
                broker.bootstrap
            );
            return None;
        }
        if broker.pid.is_none() {
            eprintln!(
                "NOTICE: the process of {} is unknown (LOAD_BROKER_PID): its CPU time and bytes are not reported.",
                broker.bootstrap
            );
        }
        Some(broker)
    }

    /// Starts tansu on `LOAD_BROKER_PORT` (default 19500) with the command
    /// line `broker.sh cmd PORT` prints.
    fn spawn() -> Result<Self, String> {
        // Beside the repository, unless said otherwise.
        let script = env::var_os("RELAYER_BROKER_SH").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kafka/broker.sh"),
            std::path::PathBuf::from,
        );
        if !script.exists() {
            return Err(format!("{} not found", script.display()));
        }
        let port = env::var("LOAD_BROKER_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_PORT);
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Err(format!(
                "port {port} is taken; set LOAD_BROKER_PORT to a free one"
            ));
        }
        let output = Command::new("bash")
            .arg(&script)
            .args(["cmd", &port.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        let line = String::from_utf8_lossy(&output.stdout);
        let mut words = line.split_whitespace();
        let program = words
            .next()
            .filter(|_| output.status.success())
            .ok_or("`broker.sh cmd` gave no command line")?;
        let child = Command::new(program)
            .args(words)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let broker = Self {
            bootstrap: format!("127.0.0.1:{port}"),
            pid: Some(child.id()),
            child: Some(child),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > TIMEOUT {
                return Err(format!("tansu did not listen on port {port}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!("tansu started on {}", broker.bootstrap);
        Ok(broker)
    }

    pub(crate) fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topics` (a broker given in `LOAD_BROKERS` may have them).
    #[allow(dead_code, reason = "not every bench creates topics later")]
    pub(crate) fn create_topics(&self, topics: &[&str]) -> Result<(), String> {
        create_topics(&self.bootstrap, topics)
    }

    /// Sends `signal` (`-STOP` freezes it, `-CONT` thaws it) to the broker
    /// this bench started; false for one given in `LOAD_BROKERS`, which
    /// may be shared.
    #[allow(dead_code, reason = "not every bench freezes the broker")]
    pub(crate) fn signal(&self, signal: &str) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// What the broker process spent so far (zero when it is unknown).
    pub(crate) fn usage(&self) -> BrokerUsage {
        let stat = self
            .pid
            .and_then(|pid| fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .unwrap_or_default();
        let port = self
            .bootstrap
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or(0);
        BrokerUsage {
            cpu: crate::usage::stat_cpu(&stat),
            sent_bytes: bytes_sent_to(port),
        }
    }
}

impl Drop for RealBroker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn create_topics(bootstrap: &str, topics: &[&str]) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| e.to_string())?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(admin.create_topics(&new_topics, &options))
        .map_err(|e| e.to_string())?;
    for result in results {
        match result {
            // A broker given in LOAD_BROKERS may have them from an earlier run.
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, error)) => return Err(format!("{topic}: {error}")),
        }
    }
    Ok(())
}

/// The bytes acknowledged by the peer on this process's TCP connections to
/// `port`: what was sent to the broker, on the connections open now.
fn bytes_sent_to(port: u16) -> u64 {
    let Ok(fds) = fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| fd.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&fd| peer_port(fd) == Some(port))
        .map(bytes_acked)
        .sum()
}

fn peer_port(fd: i32) -> Option<u16> {
    // SAFETY: an all-zero sockaddr_storage is valid; getpeername writes at
    // most `len` bytes into it and fails on what is not a socket.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe { libc::getpeername(fd, (&raw mut addr).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    match i32::from(addr.ss_family) {
        // SAFETY: the family says which sockaddr it is.
        libc::AF_INET => {
            let addr: &libc::sockaddr_in = unsafe { &*(&raw const addr).cast() };
            Some(u16::from_be(addr.sin_port))
        }
        libc::AF_INET6 => {
            let addr: &libc::sockaddr_in6 = unsafe { &*(&raw const addr).cast() };
            Some(u16::from_be(addr.sin6_port))
        }
        _ => None,
    }
}

/// `tcpi_bytes_acked` of a TCP socket (Linux 4.1 and later): at byte 120 of
/// `struct tcp_info`, after 8 one-byte fields, 24 `u32`s and two `u64`s.
fn bytes_acked(fd: i32) -> u64 {
    const OFFSET: usize = 120;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 || (len as usize) < OFFSET + 8 {
        return 0;
    }
    u64::from_ne_bytes(info[OFFSET..OFFSET + 8].try_into().expect("8 bytes"))
}
