//! What a process death costs, with the spool on. An HTTP service (axum,
//! `RelayerLayer`, the load bench's handler: two events and the record per
//! request) runs in a process of its own; this process drives it at full
//! speed over `DURABILITY_CONNECTIONS` (default 64) keep-alive connections,
//! every request with an id of its own, and notes when each was answered.
//! With `DURABILITY_RATE`, the connections send that many requests per
//! second in all instead: a rate the broker keeps up with, so that
//! librdkafka, not the spool, holds the messages when the freeze comes.
//! The service produces to a real broker: tansu, started here on
//! `LOAD_BROKER_PORT` (default 19500) with `../shared/kafka/broker.sh cmd
//! PORT`, frozen with SIGSTOP for the faults. For each fault, with a fresh
//! spool and topics of its own:
//!
//! 0. none: 10 s of load, then SIGTERM (the baseline: all back, once);
//! 1. `kill -9` 7 s into a broker freeze;
//! 2. SIGTERM (a 3 s shutdown) 7 s into a freeze;
//! 3. `kill -9` 1.5 s into the replay after a 10 s freeze.
//!
//! The broker is then thawed, the service started again on the same spool
//! without load, to send what was left, until its stats say nothing is
//! queued; and an independent consumer reads the three topics from the
//! beginning. Per fault: the requests answered; of them, those read back
//! whole (their record, and both events, by request id), also among those
//! answered more than 1 s before the fault; and the messages read more
//! than once.
//!
//! `cargo bench --bench durability` (a few minutes).

// The broker's figures are read through libc (support/broker.rs).
#![allow(unsafe_code)]

#[path = "support/app.rs"]
#[allow(dead_code, reason = "shared with the load bench")]
mod app;
#[path = "support/broker.rs"]
#[allow(dead_code, reason = "shared with the load bench")]
mod broker;
#[path = "support/payload.rs"]
mod payload;
#[path = "support/usage.rs"]
#[allow(dead_code, reason = "shared with the load bench")]
mod usage;

use std::collections::{BTreeMap, HashMap};
use std::env;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use relayer_test::Consumer;
use tokio::net::TcpStream;

use broker::RealBroker;

const TOPICS: [&str; 3] = ["order", "audit", "logging"];
const DRAIN_WITHIN: Duration = Duration::from_secs(600);

/// The faults, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    KillInFreeze,
    ShutdownInFreeze,
    KillInReplay,
}

impl Fault {
    const ALL: [Self; 4] = [
        Self::None,
        Self::KillInFreeze,
        Self::ShutdownInFreeze,
        Self::KillInReplay,
    ];

    fn describe(self) -> &'static str {
        match self {
            Self::None => "none (SIGTERM after 10 s, broker up)",
            Self::KillInFreeze => "service `kill -9` 7 s into a broker freeze",
            Self::ShutdownInFreeze => "SIGTERM (shutdown 3 s) 7 s into a freeze",
            Self::KillInReplay => "`kill -9` 1.5 s into the replay after a 10 s freeze",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

fn main() {
    if let Ok(config) = env::var("DURABILITY_SERVICE") {
        service(&config);
        return;
    }
    let topics: Vec<String> = Fault::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, _)| TOPICS.iter().map(move |t| format!("d{i}_{t}")))
        .collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let Some(broker) = RealBroker::start(&names) else {
        return;
    };
    if !broker.signal("-CONT") {
        eprintln!(
            "NOTICE: the broker in LOAD_BROKERS is not frozen by this bench; start it without."
        );
        return;
    }
    let number = |name: &str| env::var(name).ok().and_then(|n| n.parse().ok());
    let load = Load {
        connections: number("DURABILITY_CONNECTIONS").unwrap_or(64),
        rate: number("DURABILITY_RATE"),
    };
    println!(
        "{} cores; tansu at {}; {} connections, {}\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        broker.bootstrap_servers(),
        load.connections,
        load.rate.map_or("at full speed".to_owned(), |rate| format!(
            "{rate} requests/s"
        ))
    );
    let mut rows = Vec::new();
    for (i, fault) in Fault::ALL.into_iter().enumerate() {
        let row = measure(&broker, fault, &format!("d{i}_"), load);
        println!("{}", row.line());
        rows.push(row);
    }
    println!(
        "\n| fault | requests answered | read back | of those answered > 1 s before the fault | messages read twice | what happened |"
    );
    println!("|---|--:|--:|--:|--:|---|");
    for row in &rows {
        println!("{}", row.table_line());
    }
}

/// How the service is driven.
#[derive(Debug, Clone, Copy)]
struct Load {
    connections: usize,
    /// Requests per second in all; full speed without.
    rate: Option<usize>,
}

/// One fault's figures.
struct Row {
    fault: Fault,
    answered: usize,
    read_back: usize,
    before: usize,
    before_read_back: usize,
    messages: usize,
    twice: usize,
    note: String,
}

impl Row {
    fn percent(part: usize, whole: usize) -> f64 {
        if whole == 0 {
            return 100.0;
        }
        100.0 * part as f64 / whole as f64
    }

    fn line(&self) -> String {
        format!(
            "{:?}: {} answered, {} read back ({:.3} %); answered > 1 s before the fault: {} read back of {} ({:.3} %); {} of {} messages read twice ({:.3} %); {}",
            self.fault,
            self.answered,
            self.read_back,
            Self::percent(self.read_back, self.answered),
            self.before_read_back,
            self.before,
            Self::percent(self.before_read_back, self.before),
            self.twice,
            self.messages,
            Self::percent(self.twice, self.messages),
            self.note
        )
    }

    fn table_line(&self) -> String {
        format!(
            "| {} | {} | {:.3} % | {:.3} % ({} of {}) | {} ({:.3} %) | {} |",
            self.fault.describe(),
            self.answered,
            Self::percent(self.read_back, self.answered),
            Self::percent(self.before_read_back, self.before),
            self.before_read_back,
            self.before,
            self.twice,
            Self::percent(self.twice, self.messages),
            self.note
        )
    }
}

fn measure(broker: &RealBroker, fault: Fault, prefix: &str, load: Load) -> Row {
    let spool = tempfile::tempdir().expect("a spool directory");
    let config = format!(
        "{}|{}|{prefix}",
        broker.bootstrap_servers(),
        spool.path().display()
    );
    let mut service = Service::start(&config);
    let answered = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (addr, answered, stop) = (service.addr, answered.clone(), stop.clone());
        let prefix = prefix.to_owned();
        std::thread::spawn(move || drive(addr, load, &prefix, &answered, &stop))
    };
    std::thread::sleep(Duration::from_secs(3));
    let (fault_ms, note) = match fault {
        Fault::None => {
            std::thread::sleep(Duration::from_secs(7));
            (now_ms(), service.terminate())
        }
        Fault::KillInFreeze => {
            broker.signal("-STOP");
            std::thread::sleep(Duration::from_secs(7));
            let stats = service.stats();
            let at = now_ms();
            service.kill();
            (at, format!("at the kill: {stats}"))
        }
        Fault::ShutdownInFreeze => {
            broker.signal("-STOP");
            std::thread::sleep(Duration::from_secs(7));
            (now_ms(), service.terminate())
        }
        Fault::KillInReplay => {
            broker.signal("-STOP");
            std::thread::sleep(Duration::from_secs(10));
            let stats = service.stats();
            broker.signal("-CONT");
            std::thread::sleep(Duration::from_millis(1_500));
            let at = now_ms();
            service.kill();
            (at, format!("at the thaw: {stats}"))
        }
    };
    stop.store(true, Ordering::Release);
    load.join().expect("the load");
    broker.signal("-CONT");

    // What the service left in its spool, sent by the next one.
    let mut next = Service::start(&config);
    let started = Instant::now();
    let left = next.stats();
    while !next.stats().starts_with("queued 0 ") {
        assert!(
            started.elapsed() < DRAIN_WITHIN,
            "the spool drains: {}",
            next.stats()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let drained = started.elapsed();
    next.terminate();
    let note = format!("{note}; left in the spool: {left}, sent again in {drained:.1?}");

    let consumer = Consumer::new(broker.bootstrap_servers()).expect("a consumer");
    let mut messages = 0;
    let mut seen: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for (topic_index, topic) in TOPICS.iter().enumerate() {
        let all = consumer
            .read_all(
                &format!("{prefix}{topic}"),
                Duration::from_secs(5),
                DRAIN_WITHIN,
            )
            .expect("the topic read back");
        messages += all.len();
        for message in all {
            let id = if *topic == "logging" {
                message.json()["request_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                message
                    .header("x-request-id")
                    .unwrap_or_default()
                    .to_owned()
            };
            *seen.entry((topic_index, id)).or_default() += 1;
        }
    }
    let twice = seen.values().map(|count| count - 1).sum();
    let whole = |id: &String| (0..TOPICS.len()).all(|t| seen.contains_key(&(t, id.clone())));
    let answered = answered.lock().expect("the answers");
    let before: Vec<&String> = answered
        .iter()
        .filter(|(_, ms)| **ms + 1_000 < fault_ms)
        .map(|(id, _)| id)
        .collect();
    Row {
        fault,
        answered: answered.len(),
        read_back: answered.keys().filter(|id| whole(id)).count(),
        before: before.len(),
        before_read_back: before.iter().filter(|id| whole(id)).count(),
        messages,
        twice,
        note,
    }
}

/// The service in a process of its own: this bench again.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    fn start(config: &str) -> Self {
        let mut child = Command::new(env::current_exe().expect("this bench"))
            .env("DURABILITY_SERVICE", config)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the service started");
        let stdout = BufReader::new(child.stdout.take().expect("its output"));
        let port = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("LISTENING ").map(str::to_owned))
            .expect("the service listens");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port.parse().expect("a port"))),
        }
    }

    /// Its counts, from `GET /stats`.
    fn stats(&self) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let Ok(stream) = TcpStream::connect(self.addr).await else {
                return "no answer".to_owned();
            };
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("an HTTP/1 connection");
            tokio::spawn(connection);
            let request = Request::get("/stats")
                .header(header::HOST, "127.0.0.1")
                .body(Empty::<Bytes>::new())
                .expect("a request");
            let response = sender.send_request(request).await.expect("an answer");
            let body = response.into_body().collect().await.expect("a body");
            String::from_utf8_lossy(&body.to_bytes()).into_owned()
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and what it said about its shutdown.
    fn terminate(&mut self) -> String {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        format!("shut down in {:.1?}", started.elapsed())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Drives `load.connections` keep-alive connections, at full speed or at
/// `load.rate` requests per second in all, until `stop` (or the service is
/// gone), noting when each request was answered.
fn drive(
    addr: SocketAddr,
    load: Load,
    prefix: &str,
    answered: &Mutex<HashMap<String, u64>>,
    stop: &Arc<AtomicBool>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let next = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let pace = load
            .rate
            .map(|rate| Duration::from_secs_f64(load.connections as f64 / rate as f64));
        let tasks: Vec<_> = (0..load.connections)
            .map(|_| {
                let (prefix, next, stop) = (prefix.to_owned(), next.clone(), stop.clone());
                tokio::spawn(async move { connection(addr, &prefix, &next, &stop, pace).await })
            })
            .collect();
        for task in tasks {
            let notes = task.await.expect("a connection's task");
            answered.lock().expect("the answers").extend(notes);
        }
    });
}

async fn connection(
    addr: SocketAddr,
    prefix: &str,
    next: &AtomicU64,
    stop: &AtomicBool,
    pace: Option<Duration>,
) -> Vec<(String, u64)> {
    let mut notes = Vec::new();
    let Ok(stream) = TcpStream::connect(addr).await else {
        return notes;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return notes;
    };
    tokio::spawn(connection);
    let mut ticker = pace.map(|pace| {
        let mut ticker = tokio::time::interval(pace);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    while !stop.load(Ordering::Acquire) {
        if let Some(ticker) = &mut ticker {
            ticker.tick().await;
        }
        let n = next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{prefix}r-{n}");
        let request = Request::get(format!("/orders/{n}"))
            .header(header::HOST, "127.0.0.1")
            .header("x-request-id", &id)
            .body(Empty::<Bytes>::new())
            .expect("a request");
        let Ok(response) = sender.send_request(request).await else {
            break;
        };
        if response.status() != StatusCode::OK || response.into_body().collect().await.is_err() {
            break;
        }
        notes.push((id, now_ms()));
    }
    notes
}

/// The service: the load bench's handler behind `RelayerLayer`, a spool,
/// `GET /stats`; on SIGTERM, it stops serving and shuts the relayer down
/// within 3 s.
fn service(config: &str) {
    let [brokers, dir, prefix]: [&str; 3] = config
        .split('|')
        .collect::<Vec<_>>()
        .try_into()
        .expect("brokers|dir|prefix");
    let relayer = Relayer::builder("logging")
        .brokers(brokers)
        .topic_prefix(prefix)
        .spool(dir, 1 << 34)
        .build()
        .expect("a relayer");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        println!("LISTENING {}", listener.local_addr().expect("bound").port());
        let counts = relayer.clone();
        let app = app::router::<Relayer>()
            .route(
                "/stats",
                get(move || async move {
                    let stats = counts.stats();
                    format!(
                        "queued {} spooled {} delivered {} failed {} dropped {} replacements {}",
                        stats.queued,
                        stats.spooled,
                        stats.delivered,
                        stats.failed,
                        stats.dropped,
                        stats.replacements
                    )
                }),
            )
            .layer(RelayerLayer::new(relayer.clone()).skip_path("/stats"));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                use tokio::signal::unix::{SignalKind, signal};
                signal(SignalKind::terminate())
                    .expect("a SIGTERM handler")
                    .recv()
                    .await;
            })
            .await
            .expect("served");
    });
    relayer.shutdown(Duration::from_secs(3));
}
