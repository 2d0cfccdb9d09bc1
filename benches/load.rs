//! Is relayer cheap enough to leave on for every request? An axum service
//! on 127.0.0.1, driven over real TCP by a load generator in the same
//! process (hyper, keep-alive, a fixed number of connections), five
//! configurations in one run:
//!
//! 1. bare axum: the same handler doing the same work, recording nothing
//!    (the ceiling);
//! 2. `RelayerLayer`, 2 emits and 3 logs per request, the real rdkafka
//!    producer to the embedded broker (librdkafka's mock cluster);
//! 3. the same on the `MockProducer` (cleared every 10 ms);
//! 4. tower-http's `TraceLayer` and a `tracing_subscriber` JSON layer
//!    writing the same events and lines through `tracing_appender`'s
//!    non-blocking writer to `io::sink()` (what users pick instead);
//! 5. configuration 2 while the broker is down.
//!
//! The configurations run side by side, each on its own server (port and
//! tokio runtime), and are measured in interleaved rounds: in each of
//! `LOAD_ROUNDS` (default 5) rounds, every configuration gets a slice of
//! each kind, one configuration after the other:
//!
//! - saturation: `LOAD_CONNECTIONS` (default 32) connections each sending
//!   its next request as soon as it has the answer: throughput (latency is
//!   mostly queueing there);
//! - 1 connection: latency without queueing, the service time;
//! - fixed rate: `LOAD_RATE` (default 5,000) requests/s over the same
//!   connections: CPU per request at equal load, latency at a moderate load
//!   (tokio's timer ticks every millisecond, so requests come in bursts).
//!
//! `LOAD_SECONDS` (default 5) is the total per configuration and kind; each
//! slice starts with a short warm-up. Interleaving spreads the noise of a
//! shared machine over all configurations alike, and every figure is also
//! given against configuration 1 of the same run: the load generator shares
//! the cores with the servers, so absolute figures move from run to run and
//! ratios are what to compare. `LOAD_WORK_US` makes the handler spin that
//! many microseconds in every configuration, like a handler with real work.
//!
//! The broker of configuration 5 is a second embedded broker, taken down
//! after the first warm-up and kept down to the end: the producer's queue
//! fills (100,000 messages), then messages are dropped and counted.
//!
//! `LOAD_CONFIGS=1,3` runs only some configurations (for profiling);
//! `LOAD_KAFKA_OPTIONS=linger.ms=20` overrides producer options of 2 and 5.
//!
//! `cargo bench --bench load` (`LOAD_SECONDS=1` for a smoke run)

// CPU time and memory are read through libc (support/usage.rs).
#![allow(unsafe_code)]

#[path = "support/app.rs"]
mod app;
#[path = "support/payload.rs"]
mod payload;
#[path = "support/usage.rs"]
mod usage;

use std::any::Any;
use std::env;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use axum::Router;
use hdrhistogram::Histogram;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use relayer::Relayer;
use relayer::producer::Stats;
use relayer_axum::RelayerLayer;
use relayer_test::{EmbeddedBroker, MockProducer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::time::{Interval, MissedTickBehavior};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::{Dispatch, Level};

use app::{Bare, Traced, router};
use usage::{CpuSnapshot, CpuSpent, MIB, Who};

const PATH: &str = "/orders/42";
/// Threads of each server's runtime, and of the load generator's.
const THREADS: usize = 2;
const LOADGEN: &str = "loadgen";
const TOPICS: [&str; 3] = ["order", "audit", "logging"];
/// The warm-up at the start of every slice.
const SLICE_WARMUP: Duration = Duration::from_millis(100);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

type MakeConfiguration = fn(&Brokers) -> Configuration<'_>;

const CONFIGURATIONS: [MakeConfiguration; 5] = [
    bare,
    relayer_on_broker,
    relayer_on_mock,
    tracing_json,
    relayer_broker_down,
];

fn main() {
    // `cargo bench` passes `--bench`; this harness has no options.
    let load = Load::from_env();
    println!("{}", load.describe());
    let brokers = Brokers::start();
    let loadgen = runtime(LOADGEN, None);
    let mut servers: Vec<Server<'_>> = load
        .selected
        .iter()
        .map(|&n| Server::start(CONFIGURATIONS[n - 1](&brokers), &loadgen, &load))
        .collect();
    for round in 0..load.rounds {
        for kind in Kind::ALL {
            // Each configuration in turn goes first: no order effect.
            servers.rotate_left(1);
            for server in &mut servers {
                server.slice(kind, &loadgen, &load);
            }
        }
        eprintln!("round {}/{} done", round + 1, load.rounds);
    }
    servers.sort_by_key(|server| server.configuration.name);
    let rows: Vec<Row> = servers.into_iter().map(Server::finish).collect();
    print_tables(&rows, &load);
    if load.selected == [1, 2, 3, 4, 5] {
        print_targets(&rows);
    }
}

/// How long and how hard each configuration is driven.
struct Load {
    connections: usize,
    /// Requests per second of the paced slices, over all connections.
    rate: f64,
    rounds: u32,
    /// The length of one slice.
    slice: Duration,
    warmup: Duration,
    /// The configurations to run, numbered from 1.
    selected: Vec<usize>,
}

impl Load {
    fn from_env() -> Self {
        let seconds = env_or("LOAD_SECONDS", 5.0);
        let rounds = env_or("LOAD_ROUNDS", 5.0).max(1.0) as u32;
        let selected = env::var("LOAD_CONFIGS")
            .ok()
            .map(|list| {
                list.split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| (1..=CONFIGURATIONS.len()).collect::<Vec<usize>>());
        assert!(
            selected
                .iter()
                .all(|n| (1..=CONFIGURATIONS.len()).contains(n)),
            "LOAD_CONFIGS: numbers from 1 to {}",
            CONFIGURATIONS.len()
        );
        Self {
            connections: env_or("LOAD_CONNECTIONS", 32.0) as usize,
            rate: env_or("LOAD_RATE", 5_000.0),
            rounds,
            slice: Duration::from_secs_f64(seconds / f64::from(rounds)),
            warmup: Duration::from_secs_f64(seconds.min(1.0)),
            selected,
        }
    }

    /// The interval between two requests of one connection in paced slices.
    fn pace(&self) -> Duration {
        Duration::from_secs_f64(self.connections as f64 / self.rate)
    }

    fn describe(&self) -> String {
        format!(
            "{} rounds; per round and configuration, a {:?} slice at saturation ({} connections), \
             at 1 connection, at {} requests/s ({} connections), each after a {SLICE_WARMUP:?} warm-up; \
             a {:?} warm-up per configuration first; servers and load generator: {THREADS} tokio \
             worker threads each; {} CPUs",
            self.rounds,
            self.slice,
            self.connections,
            self.rate,
            self.connections,
            self.warmup,
            thread::available_parallelism().map_or(0, |n| n.get()),
        )
    }
}

fn env_or(key: &str, default: f64) -> f64 {
    env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runtime(name: &str, dispatch: Option<Dispatch>) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .thread_name(name)
        .on_thread_start(move || {
            if let Some(dispatch) = &dispatch {
                // This runtime's threads keep this subscriber until they end.
                #[allow(clippy::mem_forget)]
                mem::forget(tracing::dispatcher::set_default(dispatch));
            }
        })
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The embedded brokers: one up, one for the outage.
struct Brokers {
    up: EmbeddedBroker,
    outage: EmbeddedBroker,
}

impl Brokers {
    fn start() -> Self {
        let start = || {
            let broker = EmbeddedBroker::start().expect("an embedded broker");
            for topic in TOPICS {
                broker.create_topic(topic, 4).expect("topic created");
            }
            broker
        };
        Self {
            up: start(),
            outage: start(),
        }
    }
}

/// One configuration: its app and what it needs around the measurement.
struct Configuration<'a> {
    name: &'static str,
    app: Router,
    /// The `tracing` subscriber of the server's threads.
    dispatch: Option<Dispatch>,
    /// The relayer, drained after each slice and counted at the end.
    relayer: Option<Relayer>,
    /// A broker to take down after the warm-up, and up at the end.
    outage: Option<&'a EmbeddedBroker>,
    /// Kept alive during the run (a writer's guard, the mock's cleaner).
    _alive: Option<Box<dyn Any>>,
}

impl Configuration<'_> {
    fn new(name: &'static str, app: Router) -> Self {
        Self {
            name,
            app,
            dispatch: None,
            relayer: None,
            outage: None,
            _alive: None,
        }
    }

    fn with_relayer(name: &'static str, relayer: Relayer) -> Self {
        let app = router::<Relayer>().layer(RelayerLayer::new(relayer.clone()));
        Self {
            relayer: Some(relayer),
            ..Self::new(name, app)
        }
    }
}

fn bare(_: &Brokers) -> Configuration<'_> {
    Configuration::new("1. bare axum", router::<Bare>())
}

/// A relayer on the real producer, with relayer's defaults and the options
/// in `LOAD_KAFKA_OPTIONS` (e.g. `linger.ms=20,batch.size=100000`).
fn kafka_relayer(broker: &EmbeddedBroker) -> Relayer {
    let options = env::var("LOAD_KAFKA_OPTIONS").unwrap_or_default();
    options
        .split(',')
        .filter_map(|option| option.split_once('='))
        .fold(Relayer::builder("logging"), |builder, (key, value)| {
            builder.option(key.trim(), value.trim())
        })
        .brokers(broker.bootstrap_servers())
        .build()
        .expect("a relayer on the embedded broker")
}

fn relayer_on_broker(brokers: &Brokers) -> Configuration<'_> {
    Configuration::with_relayer("2. relayer, rdkafka", kafka_relayer(&brokers.up))
}

fn relayer_on_mock(_: &Brokers) -> Configuration<'_> {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    let cleaner = Periodic::every(Duration::from_millis(10), move || mock.clear());
    Configuration {
        _alive: Some(Box::new(cleaner)),
        ..Configuration::with_relayer("3. relayer, MockProducer", relayer)
    }
}

fn tracing_json(_: &Brokers) -> Configuration<'_> {
    let (writer, guard) = tracing_appender::non_blocking(io::sink());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_max_level(Level::INFO)
        .finish();
    let trace = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    Configuration {
        dispatch: Some(Dispatch::new(subscriber)),
        _alive: Some(Box::new(guard)),
        ..Configuration::new(
            "4. TraceLayer + tracing JSON",
            router::<Traced>().layer(trace),
        )
    }
}

fn relayer_broker_down(brokers: &Brokers) -> Configuration<'_> {
    let relayer = kafka_relayer(&brokers.outage);
    Configuration {
        outage: Some(&brokers.outage),
        ..Configuration::with_relayer("5. relayer, rdkafka, broker down", relayer)
    }
}

/// Runs `task` every `period` on a thread of its own, until dropped.
struct Periodic {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Periodic {
    fn every(period: Duration, task: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                thread::sleep(period);
                task();
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How a slice drives a server.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Every connection sends its next request as soon as it has the answer:
    /// throughput, and latency that is mostly queueing.
    Saturation,
    /// One connection: latency without queueing (the service time).
    OneConnection,
    /// A fixed request rate over all connections: CPU per request at equal
    /// load, and latency at a moderate load.
    FixedRate,
}

impl Kind {
    const ALL: [Self; 3] = [Self::Saturation, Self::OneConnection, Self::FixedRate];

    fn index(self) -> usize {
        self as usize
    }

    fn connections(self, load: &Load) -> usize {
        match self {
            Self::OneConnection => 1,
            Self::Saturation | Self::FixedRate => load.connections,
        }
    }

    fn pace(self, load: &Load) -> Option<Duration> {
        matches!(self, Self::FixedRate).then(|| load.pace())
    }

    fn title(self, load: &Load) -> String {
        match self {
            Self::Saturation => format!("At saturation ({} connections)", load.connections),
            Self::OneConnection => "At 1 connection (no queueing)".to_owned(),
            Self::FixedRate => format!(
                "At {} requests/s ({} connections)",
                load.rate, load.connections
            ),
        }
    }
}

/// A configuration being served, and what was measured of it so far.
struct Server<'a> {
    configuration: Configuration<'a>,
    runtime: Runtime,
    addr: SocketAddr,
    /// By [`Kind`].
    measured: [Measured; 3],
    rss_growth: i64,
}

impl<'a> Server<'a> {
    /// Serves `configuration` on a port of 127.0.0.1 and warms it up.
    fn start(configuration: Configuration<'a>, loadgen: &Runtime, load: &Load) -> Self {
        let runtime = runtime("server", configuration.dispatch.clone());
        let app = configuration.app.clone();
        let addr = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let addr = listener.local_addr().expect("an address");
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move { axum::serve(listener, service).await });
            addr
        });
        loadgen.block_on(drive(addr, load.connections, load.warmup, None));
        if let Some(broker) = configuration.outage {
            broker.down().expect("broker down");
        }
        let server = Self {
            configuration,
            runtime,
            addr,
            measured: Kind::ALL.map(|_| Measured::new()),
            rss_growth: 0,
        };
        server.drain();
        server
    }

    /// One slice of `kind`: a short warm-up, then the measurement.
    fn slice(&mut self, kind: Kind, loadgen: &Runtime, load: &Load) {
        let (connections, pace) = (kind.connections(load), kind.pace(load));
        loadgen.block_on(drive(self.addr, connections, SLICE_WARMUP, pace));
        usage::trim_heap();
        let (rss_before, _) = usage::rss();
        let before = CpuSnapshot::now();
        let mut measured = loadgen.block_on(drive(self.addr, connections, load.slice, pace));
        measured.cpu = CpuSnapshot::now().since(&before);
        self.rss_growth += usage::rss().0 as i64 - rss_before as i64;
        self.measured[kind.index()].merge(&measured);
        self.drain();
    }

    /// Waits until the relayer's producer has delivered what it queued, so
    /// that its background work does not run into the next slice. (With
    /// the broker down, nothing can be delivered: no wait.)
    fn drain(&self) {
        let Some(relayer) = &self.configuration.relayer else {
            return;
        };
        if self.configuration.outage.is_some() {
            return;
        }
        let start = Instant::now();
        while relayer.stats().queued > 0 && start.elapsed() < DRAIN_TIMEOUT {
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(self) -> Row {
        self.runtime.shutdown_timeout(Duration::from_secs(1));
        if let Some(broker) = self.configuration.outage {
            broker.up().expect("broker up");
        }
        let stats = self.configuration.relayer.as_ref().map(|relayer| {
            let _ = relayer.flush(DRAIN_TIMEOUT);
            relayer.stats()
        });
        Row {
            name: self.configuration.name,
            measured: self.measured,
            rss_growth: self.rss_growth,
            stats,
        }
    }
}

/// What one configuration measured.
struct Row {
    name: &'static str,
    /// By [`Kind`].
    measured: [Measured; 3],
    rss_growth: i64,
    stats: Option<Stats>,
}

/// Requests answered, their latencies (nanoseconds), the CPU time spent.
struct Measured {
    requests: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    cpu: CpuSpent,
}

impl Row {
    fn at(&self, kind: Kind) -> &Measured {
        &self.measured[kind.index()]
    }
}

impl Measured {
    fn new() -> Self {
        Self {
            requests: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)
                .expect("histogram bounds"),
            cpu: CpuSpent::default(),
        }
    }

    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latency.add(&other.latency).expect("same bounds");
        self.cpu += other.cpu;
    }

    /// CPU microseconds per request: the process's, and by who spent it
    /// (in the order of [`Who::ALL`]).
    fn cpu_per_request(&self) -> (f64, [f64; 4]) {
        let per_request = |d: Duration| d.as_secs_f64() * 1e6 / self.requests as f64;
        (
            per_request(self.cpu.process),
            Who::ALL.map(|who| per_request(self.cpu.of(who))),
        )
    }

    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at `quantile`, in microseconds.
    fn micros(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1_000.0
    }
}

/// Drives `connections` keep-alive connections to `addr` for `duration`,
/// each sending its next request when the previous answer has been read,
/// and with a `pace`, not before `pace` after the previous request (the
/// connections staggered over the interval).
async fn drive(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    pace: Option<Duration>,
) -> Measured {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let ticker = pace.map(|pace| {
                let first = start + pace.mul_f64(i as f64 / connections as f64);
                let mut ticker = tokio::time::interval_at(first.into(), pace);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                ticker
            });
            tokio::spawn(connection(addr, deadline, ticker))
        })
        .collect();
    let mut total = Measured::new();
    for task in tasks {
        total.merge(&task.await.expect("a connection's task"));
    }
    total.elapsed = start.elapsed();
    total
}

async fn connection(addr: SocketAddr, deadline: Instant, mut ticker: Option<Interval>) -> Measured {
    let stream = TcpStream::connect(addr).await.expect("connected");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1 connection");
    tokio::spawn(connection);
    let mut measured = Measured::new();
    loop {
        if let Some(ticker) = &mut ticker {
            ticker.tick().await;
        }
        if Instant::now() >= deadline {
            break;
        }
        let request = Request::get(PATH)
            .header(header::HOST, "127.0.0.1")
            .body(Empty::<Bytes>::new())
            .expect("a request");
        let sent = Instant::now();
        let response = sender.send_request(request).await.expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body().collect().await.expect("a body");
        measured
            .latency
            .saturating_record(sent.elapsed().as_nanos() as u64);
        measured.requests += 1;
    }
    measured
}

fn print_tables(rows: &[Row], load: &Load) {
    for kind in Kind::ALL {
        print_table(kind, rows, load);
    }
    let (rss, peak) = usage::rss();
    println!(
        "\n#### Memory and delivery (process RSS now {:.0} MiB, peak {:.0} MiB)\n",
        rss as f64 / MIB,
        peak as f64 / MIB
    );
    println!(
        "| configuration | RSS growth in its slices MiB | produced | delivered | failed | dropped |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    for row in rows {
        let counts = row.stats.as_ref().map_or("| | | |".to_owned(), |s| {
            format!(
                "{} | {} | {} | {} |",
                s.produced, s.delivered, s.failed, s.dropped
            )
        });
        println!(
            "| {} | {:+.1} | {counts}",
            row.name,
            row.rss_growth as f64 / MIB
        );
    }
}

/// One table: each configuration against the first, for slices of `kind`.
fn print_table(kind: Kind, rows: &[Row], load: &Load) {
    let base = rows[0].at(kind);
    println!("\n#### {}\n", kind.title(load));
    println!(
        "| configuration | req/s | × bare | p50 µs | p99 µs | p99.9 µs | p50 − bare | p99 − bare | \
         CPU µs/req | × bare | server threads | background threads | load generator | embedded broker |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let measured = row.at(kind);
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:+.0} | {:+.0} | {} |",
            row.name,
            measured.throughput(),
            measured.throughput() / base.throughput(),
            measured.micros(0.50),
            measured.micros(0.99),
            measured.micros(0.999),
            measured.micros(0.50) - base.micros(0.50),
            measured.micros(0.99) - base.micros(0.99),
            cpu_columns(measured, base),
        );
    }
}

/// CPU µs per request, its ratio to `base`, and who spent it.
fn cpu_columns(measured: &Measured, base: &Measured) -> String {
    let (cpu, by_who) = measured.cpu_per_request();
    let by_who: Vec<String> = by_who.iter().map(|us| format!("{us:.1}")).collect();
    format!(
        "{cpu:.1} | {:.2} | {}",
        cpu / base.cpu_per_request().0,
        by_who.join(" | ")
    )
}

fn print_targets(rows: &[Row]) {
    let [bare, kafka, _, tracing, down] = rows else {
        return;
    };
    let check = |ok: bool| if ok { "met" } else { "MISSED" };
    let throughput = |row: &Row| row.at(Kind::Saturation).throughput();
    let p99 = |row: &Row, kind| row.at(kind).micros(0.99);
    println!("\n#### Targets\n");
    let ratio = throughput(kafka) / throughput(bare);
    println!(
        "- (2) throughput ≥ 0.85 × (1): {ratio:.2} × — {}",
        check(ratio >= 0.85)
    );
    for kind in [Kind::OneConnection, Kind::FixedRate, Kind::Saturation] {
        let added = p99(kafka, kind) - p99(bare, kind);
        println!(
            "- (2) p99 ≤ (1) p99 + 50 µs, {kind:?}: {added:+.0} µs — {}",
            check(added <= 50.0)
        );
    }
    let ratio = throughput(kafka) / throughput(tracing);
    println!(
        "- (2) throughput ≥ (4): {ratio:.2} × — {}",
        check(ratio >= 1.0)
    );
    for kind in [Kind::OneConnection, Kind::FixedRate, Kind::Saturation] {
        let ratio = p99(down, kind) / p99(kafka, kind);
        println!(
            "- (5) p99 ≤ 1.2 × (2) p99, {kind:?}: {ratio:.2} × — {}",
            check(ratio <= 1.2)
        );
    }
}
