//! Is relayer cheap enough to leave on for every request? An axum service
//! on 127.0.0.1, driven over real TCP by a load generator in the same
//! process (hyper, keep-alive, a fixed number of connections), these
//! configurations in one run:
//!
//! 1. bare axum: the same handler doing the same work, recording nothing
//!    (the ceiling);
//! 2. `RelayerLayer`, 2 emits and 3 logs per request, the real rdkafka
//!    producer to the embedded broker (librdkafka's mock cluster, a thread
//!    of the bench's own process);
//! 3. the same on the `MockProducer` (cleared every 10 ms);
//! 4. tower-http's `TraceLayer` and a `tracing_subscriber` JSON layer
//!    writing the same events and lines through `tracing_appender`'s
//!    non-blocking writer to `io::sink()` (what users pick instead);
//! 5. configuration 2 while the embedded broker is down;
//! 6. configuration 2 producing to a real broker in another process: tansu,
//!    started on port `LOAD_BROKER_PORT` (default 19500) with
//!    `../shared/kafka/broker.sh cmd PORT`, or the broker at `LOAD_BROKERS`
//!    (`LOAD_BROKER_PID` its process, for its CPU time). Without either,
//!    a notice says so and the real-broker configurations are skipped;
//! 7. configuration 2 with the standard-output sink's writer (JSON lines)
//!    instead of Kafka, writing to `/dev/null`: what a service logging to
//!    standard output for a log agent spends (its writer thread counts
//!    among the other threads).
//!
//! and, on the real broker, when asked for:
//!
//! - `LOAD_LINES=1,10,100,1000`: for each count, bare axum and relayer
//!   with a handler that only logs that many lines (`/lines/{n}/{id}`);
//! - `LOAD_KAFKA_VARIANTS='linger.ms=0;compression.type=lz4,linger.ms=20'`:
//!   configuration 6 with each set of producer options (`;` between sets,
//!   `,` between options of one set).
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
//! CPU time is split by thread (`/proc/self/task/*/stat`): the servers'
//! runtimes (the request path), librdkafka's threads (`rdk:*` and the
//! producer's polling thread), the load generator, the embedded broker;
//! the real broker's CPU time comes from `/proc/PID/stat`, and the bytes
//! sent to it from the TCP connections to it (`TCP_INFO`, bytes acked).
//! After each slice the producer is drained, and what librdkafka and the
//! broker spend on the slice's messages until then is counted in the slice.
//!
//! The broker of configuration 5 is a second embedded broker, taken down
//! after the first warm-up and kept down to the end: the producer's queue
//! fills (100,000 messages), then messages are dropped and counted.
//!
//! `LOAD_CONFIGS=1,6` runs only some of configurations 1-7 (for profiling;
//! `LOAD_CONFIGS=1` with `LOAD_LINES` runs only the lines table);
//! `LOAD_KAFKA_OPTIONS=linger.ms=20` overrides producer options of 2, 5, 6
//! and the lines configurations.
//!
//! `cargo bench --bench load` (`LOAD_SECONDS=1` for a smoke run)

// CPU time, memory and socket figures are read through libc
// (support/usage.rs, support/broker.rs).
#![allow(unsafe_code)]

#[path = "support/app.rs"]
mod app;
#[path = "support/broker.rs"]
mod broker;
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
use relayer::sink::Sink;
use relayer_axum::RelayerLayer;
use relayer_test::{EmbeddedBroker, MockProducer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::time::{Interval, MissedTickBehavior};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::{Dispatch, Level};

use app::{Bare, Traced, router};
use broker::{BrokerUsage, RealBroker};
use usage::{CpuSnapshot, CpuSpent, MIB, Who};

const PATH: &str = "/orders/42";
/// Threads of each server's runtime, and of the load generator's.
const THREADS: usize = 2;
const LOADGEN: &str = "loadgen";
const TOPICS: [&str; 3] = ["order", "audit", "logging"];
/// The warm-up at the start of every slice.
const SLICE_WARMUP: Duration = Duration::from_millis(100);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

type MakeConfiguration = fn(&Brokers) -> Option<Configuration<'_>>;

const CONFIGURATIONS: [MakeConfiguration; 7] = [
    bare,
    relayer_on_broker,
    relayer_on_mock,
    tracing_json,
    relayer_broker_down,
    relayer_on_real_broker,
    relayer_on_writer_sink,
];

fn main() {
    // `cargo bench` passes `--bench`; this harness has no options.
    let load = Load::from_env();
    println!("{}", load.describe());
    let brokers = Brokers::start(&load);
    let loadgen = runtime(LOADGEN, None);
    let mut configurations: Vec<Configuration<'_>> = load
        .selected
        .iter()
        .filter_map(|&n| CONFIGURATIONS[n - 1](&brokers))
        .collect();
    configurations.extend(line_configurations(&brokers, &load.lines));
    configurations.extend(variant_configurations(&brokers, &load.variants));
    let mut servers: Vec<Server<'_>> = configurations
        .into_iter()
        .map(|configuration| Server::start(configuration, &loadgen, &load))
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
    servers.sort_by_key(|server| server.configuration.order);
    let rows: Vec<Row> = servers.into_iter().map(Server::finish).collect();
    let (main, extra): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|row| row.order.0 == 0);
    if !main.is_empty() {
        print_tables(&main, &load);
        print_targets(&main);
    }
    print_lines(&extra);
    print_variants(&main, &extra, &load);
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
    /// Lines per request of the lines configurations.
    lines: Vec<u64>,
    /// Sets of producer options, each a configuration on the real broker.
    variants: Vec<String>,
}

impl Load {
    fn from_env() -> Self {
        let seconds = env_or("LOAD_SECONDS", 5.0);
        let rounds = env_or("LOAD_ROUNDS", 5.0).max(1.0) as u32;
        let numbers = |key: &str| -> Option<Vec<u64>> {
            env::var(key).ok().map(|list| {
                list.split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
        };
        let selected: Vec<usize> = numbers("LOAD_CONFIGS")
            .map(|list| list.into_iter().map(|n| n as usize).collect())
            .unwrap_or_else(|| (1..=CONFIGURATIONS.len()).collect());
        assert!(
            selected
                .iter()
                .all(|n| (1..=CONFIGURATIONS.len()).contains(n)),
            "LOAD_CONFIGS: numbers from 1 to {}",
            CONFIGURATIONS.len()
        );
        let variants = env::var("LOAD_KAFKA_VARIANTS")
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|variant| !variant.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            connections: env_or("LOAD_CONNECTIONS", 32.0) as usize,
            rate: env_or("LOAD_RATE", 5_000.0),
            rounds,
            slice: Duration::from_secs_f64(seconds / f64::from(rounds)),
            warmup: Duration::from_secs_f64(seconds.min(1.0)),
            selected,
            lines: numbers("LOAD_LINES").unwrap_or_default(),
            variants,
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
             worker threads each; {} CPUs; handler work {} µs; producer options {:?}",
            self.rounds,
            self.slice,
            self.connections,
            self.rate,
            self.connections,
            self.warmup,
            thread::available_parallelism().map_or(0, |n| n.get()),
            env_or("LOAD_WORK_US", 0.0),
            env::var("LOAD_KAFKA_OPTIONS").unwrap_or_default(),
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

/// The brokers the selected configurations need: embedded ones (one up,
/// one for the outage) and a real one out of process.
struct Brokers {
    up: Option<EmbeddedBroker>,
    outage: Option<EmbeddedBroker>,
    real: Option<RealBroker>,
}

impl Brokers {
    fn start(load: &Load) -> Self {
        let embedded = |n: usize| {
            load.selected.contains(&n).then(|| {
                let broker = EmbeddedBroker::start().expect("an embedded broker");
                for topic in TOPICS {
                    broker.create_topic(topic, 4).expect("topic created");
                }
                broker
            })
        };
        let real_wanted =
            load.selected.contains(&6) || !load.lines.is_empty() || !load.variants.is_empty();
        Self {
            up: embedded(2),
            outage: embedded(5),
            real: real_wanted.then(|| RealBroker::start(&TOPICS)).flatten(),
        }
    }
}

/// One configuration: its app and what it needs around the measurement.
struct Configuration<'a> {
    name: String,
    /// Where it goes in the tables: (group, position); group 0 are the
    /// numbered configurations.
    order: (u8, u64),
    app: Router,
    /// The request every connection sends.
    path: String,
    /// The `tracing` subscriber of the server's threads.
    dispatch: Option<Dispatch>,
    /// The relayer, drained after each slice and counted at the end.
    relayer: Option<Relayer>,
    /// A broker to take down after the warm-up, and up at the end.
    outage: Option<&'a EmbeddedBroker>,
    /// The broker out of process this configuration produces to (for bare
    /// axum, the broker it measures idle).
    real: Option<&'a RealBroker>,
    /// Kept alive during the run (a writer's guard, the mock's cleaner).
    _alive: Option<Box<dyn Any>>,
}

impl Configuration<'_> {
    fn new(name: impl Into<String>, order: (u8, u64), app: Router) -> Self {
        Self {
            name: name.into(),
            order,
            app,
            path: PATH.to_owned(),
            dispatch: None,
            relayer: None,
            outage: None,
            real: None,
            _alive: None,
        }
    }

    fn with_relayer(name: impl Into<String>, order: (u8, u64), relayer: Relayer) -> Self {
        let app = router::<Relayer>().layer(RelayerLayer::new(relayer.clone()));
        Self {
            relayer: Some(relayer),
            ..Self::new(name, order, app)
        }
    }
}

/// With a real broker, measures it too: what it spends idle.
fn bare(brokers: &Brokers) -> Option<Configuration<'_>> {
    Some(Configuration {
        real: brokers.real.as_ref(),
        ..Configuration::new("1. bare axum", (0, 1), router::<Bare>())
    })
}

/// A relayer on the real producer, with relayer's defaults, the options in
/// `LOAD_KAFKA_OPTIONS` (e.g. `linger.ms=20,batch.size=100000`), then
/// `options` (in the same form).
fn kafka_relayer(bootstrap: &str, options: &str) -> Relayer {
    let options = env::var("LOAD_KAFKA_OPTIONS").unwrap_or_default() + "," + options;
    options
        .split(',')
        .filter_map(|option| option.split_once('='))
        .fold(Relayer::builder("logging"), |builder, (key, value)| {
            builder.option(key.trim(), value.trim())
        })
        .brokers(bootstrap)
        .build()
        .expect("a relayer on a broker")
}

fn relayer_on_broker(brokers: &Brokers) -> Option<Configuration<'_>> {
    let broker = brokers.up.as_ref()?;
    Some(Configuration::with_relayer(
        "2. relayer, rdkafka, embedded broker",
        (0, 2),
        kafka_relayer(&broker.bootstrap_servers(), ""),
    ))
}

fn relayer_on_mock(_: &Brokers) -> Option<Configuration<'_>> {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    let cleaner = Periodic::every(Duration::from_millis(10), move || mock.clear());
    Some(Configuration {
        _alive: Some(Box::new(cleaner)),
        ..Configuration::with_relayer("3. relayer, MockProducer", (0, 3), relayer)
    })
}

fn tracing_json(_: &Brokers) -> Option<Configuration<'_>> {
    let (writer, guard) = tracing_appender::non_blocking(io::sink());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_max_level(Level::INFO)
        .finish();
    let trace = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    Some(Configuration {
        dispatch: Some(Dispatch::new(subscriber)),
        _alive: Some(Box::new(guard)),
        ..Configuration::new(
            "4. TraceLayer + tracing JSON",
            (0, 4),
            router::<Traced>().layer(trace),
        )
    })
}

fn relayer_broker_down(brokers: &Brokers) -> Option<Configuration<'_>> {
    let broker = brokers.outage.as_ref()?;
    let relayer = kafka_relayer(&broker.bootstrap_servers(), "");
    Some(Configuration {
        outage: Some(broker),
        ..Configuration::with_relayer("5. relayer, rdkafka, embedded broker down", (0, 5), relayer)
    })
}

fn relayer_on_real_broker(brokers: &Brokers) -> Option<Configuration<'_>> {
    let broker = brokers.real.as_ref()?;
    Some(Configuration {
        real: Some(broker),
        ..Configuration::with_relayer(
            "6. relayer, rdkafka, real broker (tansu)",
            (0, 6),
            kafka_relayer(broker.bootstrap_servers(), ""),
        )
    })
}

fn relayer_on_writer_sink(_: &Brokers) -> Option<Configuration<'_>> {
    // The stdout sink is this writer on file descriptor 1; the bench's
    // own tables go there, so the same writer goes to /dev/null instead.
    let relayer = Relayer::builder("logging")
        .sink(Sink::file("/dev/null"))
        .build()
        .expect("a relayer on a writer sink");
    Some(Configuration::with_relayer(
        "7. relayer, stdout sink's writer to /dev/null",
        (0, 7),
        relayer,
    ))
}

/// For each count of lines, bare axum and relayer on the real broker with a
/// handler that logs that many lines.
fn line_configurations<'a>(brokers: &'a Brokers, lines: &[u64]) -> Vec<Configuration<'a>> {
    let Some(broker) = brokers.real.as_ref() else {
        return Vec::new();
    };
    lines
        .iter()
        .flat_map(|&n| {
            let path = format!("/lines/{n}/42");
            let bare = Configuration {
                path: path.clone(),
                real: Some(broker),
                ..Configuration::new(
                    format!("bare axum, {n} lines"),
                    (1, 2 * n),
                    router::<Bare>(),
                )
            };
            let relayer = Configuration {
                path,
                real: Some(broker),
                ..Configuration::with_relayer(
                    format!("relayer, real broker, {n} lines"),
                    (1, 2 * n + 1),
                    kafka_relayer(broker.bootstrap_servers(), ""),
                )
            };
            [bare, relayer]
        })
        .collect()
}

/// Configuration 6 with each set of producer options.
fn variant_configurations<'a>(brokers: &'a Brokers, variants: &[String]) -> Vec<Configuration<'a>> {
    let Some(broker) = brokers.real.as_ref() else {
        return Vec::new();
    };
    variants
        .iter()
        .enumerate()
        .map(|(i, options)| Configuration {
            real: Some(broker),
            ..Configuration::with_relayer(
                options.clone(),
                (2, i as u64),
                kafka_relayer(broker.bootstrap_servers(), options),
            )
        })
        .collect()
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
        let path = configuration.path.clone();
        loadgen.block_on(drive(addr, &path, load.connections, load.warmup, None));
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
        let path = &self.configuration.path;
        loadgen.block_on(drive(self.addr, path, connections, SLICE_WARMUP, pace));
        self.drain();
        usage::trim_heap();
        let (rss_before, _) = usage::rss();
        let before = (CpuSnapshot::now(), self.broker_usage());
        let mut measured = loadgen.block_on(drive(self.addr, path, connections, load.slice, pace));
        self.rss_growth += usage::rss().0 as i64 - rss_before as i64;
        // What librdkafka and the broker do for the slice's messages.
        self.drain();
        measured.cpu = CpuSnapshot::now().since(&before.0);
        measured.broker = self.broker_usage().since(&before.1);
        self.measured[kind.index()].merge(&measured);
    }

    fn broker_usage(&self) -> BrokerUsage {
        self.configuration
            .real
            .map_or_else(BrokerUsage::default, RealBroker::usage)
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
            order: self.configuration.order,
            real: self.configuration.real.is_some(),
            measured: self.measured,
            rss_growth: self.rss_growth,
            stats,
        }
    }
}

/// What one configuration measured.
struct Row {
    name: String,
    order: (u8, u64),
    /// With a real broker: its CPU time and bytes are measured.
    real: bool,
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
    broker: BrokerUsage,
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
            broker: BrokerUsage::default(),
        }
    }

    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latency.add(&other.latency).expect("same bounds");
        self.cpu += other.cpu;
        self.broker += other.broker;
    }

    fn per_request(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.requests as f64
    }

    /// CPU microseconds per request: the process's, and by who spent it
    /// (in the order of [`Who::ALL`]).
    fn cpu_per_request(&self) -> (f64, [f64; 5]) {
        (
            self.per_request(self.cpu.process),
            Who::ALL.map(|who| self.per_request(self.cpu.of(who))),
        )
    }

    /// The server's CPU µs per request: the process's, less the load
    /// generator's and the embedded broker's.
    fn server_cpu(&self) -> f64 {
        self.per_request(
            self.cpu
                .process
                .saturating_sub(self.cpu.of(Who::LoadGenerator))
                .saturating_sub(self.cpu.of(Who::Broker)),
        )
    }

    /// The real broker's CPU µs per request.
    fn broker_cpu(&self) -> f64 {
        self.per_request(self.broker.cpu)
    }

    /// Bytes sent to the real broker per request.
    fn wire_bytes(&self) -> f64 {
        self.broker.sent_bytes as f64 / self.requests as f64
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
    path: &str,
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
            tokio::spawn(connection(addr, path.to_owned(), deadline, ticker))
        })
        .collect();
    let mut total = Measured::new();
    for task in tasks {
        total.merge(&task.await.expect("a connection's task"));
    }
    total.elapsed = start.elapsed();
    total
}

async fn connection(
    addr: SocketAddr,
    path: String,
    deadline: Instant,
    mut ticker: Option<Interval>,
) -> Measured {
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
        let request = Request::get(&path)
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
        println!(
            "| {} | {:+.1} | {}",
            row.name,
            row.rss_growth as f64 / MIB,
            counts(row)
        );
    }
}

fn counts(row: &Row) -> String {
    row.stats.as_ref().map_or("| | | |".to_owned(), |s| {
        format!(
            "{} | {} | {} | {} |",
            s.produced, s.delivered, s.failed, s.dropped
        )
    })
}

/// One table: each configuration against the first, for slices of `kind`.
fn print_table(kind: Kind, rows: &[Row], load: &Load) {
    let base = rows[0].at(kind);
    println!("\n#### {}\n", kind.title(load));
    println!(
        "| configuration | req/s | × bare | p50 µs | p99 µs | p99.9 µs | p50 − bare | p99 − bare | \
         CPU µs/req | × bare | server threads | librdkafka threads | other threads | load generator | \
         embedded broker | real broker | bytes to broker/req |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let measured = row.at(kind);
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:+.0} | {:+.0} | {} | {} |",
            row.name,
            measured.throughput(),
            measured.throughput() / base.throughput(),
            measured.micros(0.50),
            measured.micros(0.99),
            measured.micros(0.999),
            measured.micros(0.50) - base.micros(0.50),
            measured.micros(0.99) - base.micros(0.99),
            cpu_columns(measured, base),
            real_broker_columns(row, measured),
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

/// The real broker's CPU µs and the bytes it read, per request.
fn real_broker_columns(row: &Row, measured: &Measured) -> String {
    if row.real {
        format!(
            "{:.1} | {:.0}",
            measured.broker_cpu(),
            measured.wire_bytes()
        )
    } else {
        " | ".to_owned()
    }
}

fn print_targets(rows: &[Row]) {
    let find = |n: u64| rows.iter().find(|row| row.order == (0, n));
    let check = |ok: bool| if ok { "met" } else { "MISSED" };
    let throughput = |row: &Row| row.at(Kind::Saturation).throughput();
    let p99 = |row: &Row, kind| row.at(kind).micros(0.99);
    let Some(bare) = find(1) else { return };
    if [2, 4, 5, 6].iter().all(|&n| find(n).is_none()) {
        return;
    }
    println!("\n#### Targets\n");
    if let Some(real) = find(6) {
        let ratio = throughput(real) / throughput(bare);
        let target = if env_or("LOAD_WORK_US", 0.0) >= 100.0 {
            0.92
        } else {
            0.75
        };
        println!(
            "- (6) throughput ≥ {target} × (1): {ratio:.2} × — {}",
            check(ratio >= target)
        );
        for kind in [Kind::Saturation, Kind::FixedRate] {
            let added = real.at(kind).server_cpu() - bare.at(kind).server_cpu();
            println!(
                "- (6) server CPU ≤ (1) + 6 µs/request, {kind:?}: {added:+.1} µs — {}",
                check(added <= 6.0)
            );
        }
    }
    if let Some(tracing) = find(4) {
        for (n, row) in [(2, find(2)), (6, find(6))] {
            if let Some(row) = row {
                let ratio = throughput(row) / throughput(tracing);
                println!(
                    "- ({n}) throughput ≥ (4): {ratio:.2} × — {}",
                    check(ratio >= 1.0)
                );
            }
        }
    }
    if let (Some(kafka), Some(down)) = (find(2), find(5)) {
        for kind in [Kind::OneConnection, Kind::FixedRate, Kind::Saturation] {
            let ratio = p99(down, kind) / p99(kafka, kind);
            println!(
                "- (5) p99 ≤ 1.2 × (2) p99, {kind:?}: {ratio:.2} × — {}",
                check(ratio <= 1.2)
            );
        }
    }
}

/// The lines table: relayer against bare axum with the same count of lines.
fn print_lines(rows: &[Row]) {
    let lines: Vec<&[Row]> = rows
        .chunks(2)
        .filter(|pair| pair.len() == 2 && pair[0].order.0 == 1)
        .collect();
    if lines.is_empty() {
        return;
    }
    for kind in [Kind::Saturation, Kind::FixedRate] {
        println!("\n#### Lines per request, real broker, {kind:?}\n");
        println!(
            "| lines | req/s | × bare | server CPU µs/req (− bare) | request path | librdkafka | \
             broker CPU µs/req (− bare) | bytes to broker/req | produced | delivered | failed | dropped |"
        );
        println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for pair in &lines {
            let (bare, relayer) = (pair[0].at(kind), pair[1].at(kind));
            println!(
                "| {} | {:.0} | {:.2} | {} | {:.1} | {:.1} | {} | {:.0} | {}",
                pair[1].order.1 / 2,
                relayer.throughput(),
                relayer.throughput() / bare.throughput(),
                above(relayer.server_cpu(), bare.server_cpu()),
                relayer.per_request(relayer.cpu.of(Who::Server)),
                relayer.per_request(relayer.cpu.of(Who::Librdkafka)),
                above(relayer.broker_cpu(), bare.broker_cpu()),
                relayer.wire_bytes(),
                counts(&pair[1]),
            );
        }
    }
}

/// The producer options table: configuration 6 and its variants, against
/// bare axum (what the other producers and the broker spend idle).
fn print_variants(main: &[Row], variants: &[Row], load: &Load) {
    let variants: Vec<&Row> = variants.iter().filter(|row| row.order.0 == 2).collect();
    let Some(bare) = main.iter().find(|row| row.order == (0, 1)) else {
        return;
    };
    if variants.is_empty() {
        return;
    }
    let rows = main
        .iter()
        .filter(|row| row.order == (0, 6))
        .chain(variants);
    println!(
        "\n#### Producer options, real broker: at saturation ({} connections) | at {} requests/s\n",
        load.connections, load.rate
    );
    println!(
        "| options | req/s | × bare | server CPU µs/req (− bare) | librdkafka | broker CPU (− bare) | bytes/req | \
         server CPU µs/req (− bare) | librdkafka | broker CPU (− bare) | bytes/req | dropped |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let columns = |kind: Kind| {
            let (m, base) = (row.at(kind), bare.at(kind));
            format!(
                "{} | {:.1} | {} | {:.0}",
                above(m.server_cpu(), base.server_cpu()),
                m.per_request(m.cpu.of(Who::Librdkafka)),
                above(m.broker_cpu(), base.broker_cpu()),
                m.wire_bytes()
            )
        };
        let saturation = row.at(Kind::Saturation).throughput();
        println!(
            "| {} | {saturation:.0} | {:.2} | {} | {} | {} |",
            row.name,
            saturation / bare.at(Kind::Saturation).throughput(),
            columns(Kind::Saturation),
            columns(Kind::FixedRate),
            row.stats.as_ref().map_or(0, |s| s.dropped),
        );
    }
}

/// `value`, and in parentheses how much it is above `base`.
fn above(value: f64, base: f64) -> String {
    format!("{value:.1} ({:+.1})", value - base)
}
