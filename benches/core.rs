//! What relayer costs per call, against what it wraps.
//!
//! - `emit`: `relayer.emit` of a 382-byte payload (a 502-byte envelope),
//!   against a raw rdkafka `ThreadedProducer::send` of the same envelope
//!   bytes, already serialized, to the same embedded broker with the same
//!   librdkafka options (relayer's `KAFKA_DEFAULTS`); against the same raw
//!   send with the envelope serialized by hand (what an application without
//!   relayer writes); and on the `MockProducer` (no librdkafka).
//! - `log`: `relayer.log` of the same payload inside a request.
//! - `finish`: writing a request's record with 0, 5 and 50 lines (lines are
//!   embedded as they are, not serialized again).
//! - `forms`: the same record (an HTTP request, 5 lines, a field) in each
//!   record form, on the `MockProducer`: what the form costs, printed as
//!   ratios against the standard form at the end of the group.
//!
//! Sends are timed in chunks; between chunks, outside the timing, the
//! producer's queue is drained (or the mock cleared), so librdkafka's queue
//! never fills. Each producer is warmed up (connected, topic known) first.
//!
//! Times are the CPU time of the calling thread (the request path), so other
//! processes on a shared machine do not inflate them; librdkafka's own
//! threads (batching, network) are off the request path and not counted
//! here: the load bench counts them. `CORE_CLOCK=wall` times wall-clock.
//!
//! `cargo bench --bench core -- --warm-up-time 1 --measurement-time 3`

// The thread CPU clock is read through libc.
#![allow(unsafe_code)]

#[path = "support/payload.rs"]
mod payload;

use std::env;
use std::hint::black_box;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use relayer::record::{Event, HttpDetails, Outcome, Timestamp};
use relayer::{KAFKA_DEFAULTS, Relayer, Sampling, Scope, WireFormat};
use relayer_test::{EmbeddedBroker, MockProducer};

use payload::Order;

const TOPIC: &str = "order";
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Sends per timed chunk: far below librdkafka's queue bound.
const SEND_CHUNK: u64 = 5_000;
/// Records per timed chunk (a 50-line record is about 20 KB).
const RECORD_CHUNK: u64 = 1_000;

/// A relayer and how to empty what it sent, outside the timing.
struct Target {
    name: &'static str,
    relayer: Relayer,
    settle: Box<dyn Fn()>,
}

fn kafka_target(broker: &EmbeddedBroker) -> Target {
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()
        .expect("a relayer on the embedded broker");
    let queued = relayer.clone();
    let settle = move || drain(|| queued.stats().queued);
    // An event to the events' topic, a record to the logging topic.
    let both_topics = || {
        Scope::new(&relayer, None)
            .relayer()
            .emit(TOPIC, "warm-up", "")
    };
    warm_up(|| both_topics().expect("sent"), &settle);
    Target {
        name: "rdkafka",
        relayer,
        settle: Box::new(settle),
    }
}

fn mock_target() -> Target {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    Target {
        name: "mock",
        relayer,
        settle: Box::new(move || mock.clear()),
    }
}

/// A raw librdkafka producer with relayer's default options.
fn raw_producer(broker: &EmbeddedBroker) -> ThreadedProducer<DefaultProducerContext> {
    let mut config = ClientConfig::new();
    for (key, value) in KAFKA_DEFAULTS {
        config.set(*key, *value);
    }
    config
        .set("bootstrap.servers", broker.bootstrap_servers())
        .create()
        .expect("a raw producer")
}

/// Waits until `queued` is 0: every message delivered. (`flush` would do,
/// but rdkafka's flush polls in steps of 100 ms.)
fn drain(queued: impl Fn() -> u64) {
    let start = Instant::now();
    while queued() > 0 {
        assert!(start.elapsed() < DRAIN_TIMEOUT, "delivered in time");
        thread::sleep(Duration::from_micros(200));
    }
}

/// Connects a producer and makes its topic known, before any timing.
fn warm_up(send: impl Fn(), drain: &dyn Fn()) {
    for _ in 0..SEND_CHUNK {
        send();
    }
    drain();
}

/// Benchmarks `run` in chunks of at most `chunk` runs: `prepare` builds a
/// chunk's input and `settle` empties the producer, both untimed; `run` does
/// the chunk's runs and returns what is dropped untimed.
fn bench<S, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: impl Into<String>,
    chunk: u64,
    mut prepare: impl FnMut(u64) -> S,
    mut run: impl FnMut(S, u64) -> R,
    settle: &dyn Fn(),
) {
    group.bench_function(id.into(), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(chunk);
                let input = prepare(n);
                let start = now();
                let output = run(input, n);
                timed += now() - start;
                drop(output);
                settle();
                left -= n;
            }
            timed
        })
    });
}

/// The clock of every timing: this thread's CPU time, or the wall clock
/// with `CORE_CLOCK=wall`.
fn now() -> Duration {
    static WALL: OnceLock<Option<Instant>> = OnceLock::new();
    let wall =
        WALL.get_or_init(|| (env::var("CORE_CLOCK").as_deref() == Ok("wall")).then(Instant::now));
    match wall {
        Some(origin) => origin.elapsed(),
        None => thread_cpu_time(),
    }
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The envelope relayer sends for an emit outside a request.
fn envelope(order: &Order) -> Vec<u8> {
    serde_json::to_vec(&Event {
        source: "logging",
        event_type: TOPIC,
        event_subtype: "created",
        payload: order,
        timestamp: Timestamp::now(),
        request_id: None,
    })
    .expect("serializable")
}

fn raw_send(producer: &ThreadedProducer<DefaultProducerContext>, bytes: &[u8]) {
    let record = BaseRecord::<[u8], [u8]>::to(TOPIC).payload(bytes);
    producer.send(record).map_err(|(e, _)| e).expect("queued");
}

fn emit_n(relayer: &Relayer, order: &Order, n: u64) {
    for _ in 0..n {
        relayer
            .emit(TOPIC, "created", black_box(order))
            .expect("sent");
    }
}

fn emit(c: &mut Criterion) {
    let broker = EmbeddedBroker::start().expect("an embedded broker");
    broker.create_topic(TOPIC, 1).expect("topic created");
    let order = Order::new(42);
    let bytes = envelope(&order);
    let payload = serde_json::to_vec(&order).expect("serializable");
    println!(
        "payload: {} bytes of JSON; envelope: {} bytes",
        payload.len(),
        bytes.len()
    );

    let raw = raw_producer(&broker);
    let drain_raw = || drain(|| raw.in_flight_count() as u64);
    warm_up(|| raw_send(&raw, &bytes), &drain_raw);
    let none = |_| ();
    let mut group = c.benchmark_group("emit");
    let send_bytes = |(), n| (0..n).for_each(|_| raw_send(&raw, black_box(&bytes)));
    bench(
        &mut group,
        "raw rdkafka send of the envelope bytes",
        SEND_CHUNK,
        none,
        send_bytes,
        &drain_raw,
    );
    let serialize_send = |(), n| (0..n).for_each(|_| raw_send(&raw, &envelope(black_box(&order))));
    bench(
        &mut group,
        "raw rdkafka serialize + send",
        SEND_CHUNK,
        none,
        serialize_send,
        &drain_raw,
    );
    let serialize = |(), n| (0..n).for_each(|_| drop(black_box(envelope(black_box(&order)))));
    bench(
        &mut group,
        "serde_json envelope only",
        SEND_CHUNK,
        none,
        serialize,
        &|| (),
    );
    for target in [kafka_target(&broker), mock_target()] {
        let relayer = &target.relayer;
        let id = format!("{} relayer.emit", target.name);
        bench(
            &mut group,
            id,
            SEND_CHUNK,
            none,
            |(), n| emit_n(relayer, &order, n),
            &target.settle,
        );
        let open = |_| Scope::new(relayer, None);
        let in_request = |scope: Scope, n| {
            emit_n(scope.relayer(), &order, n);
            scope
        };
        let id = format!("{} relayer.emit in a request", target.name);
        bench(&mut group, id, SEND_CHUNK, open, in_request, &target.settle);
    }
    group.finish();
}

fn log(c: &mut Criterion) {
    let target = mock_target();
    let order = Order::new(42);
    let mut group = c.benchmark_group("log");
    let open = |_| Scope::new(&target.relayer, None);
    let log = |scope: Scope, n| {
        for _ in 0..n {
            scope
                .relayer()
                .log("info", black_box(&order))
                .expect("kept");
        }
        scope
    };
    bench(
        &mut group,
        "relayer.log in a request",
        SEND_CHUNK,
        open,
        log,
        &target.settle,
    );
    group.finish();
}

/// A scope with `lines` log lines of the payload, ready to finish.
fn scope_with_lines(relayer: &Relayer, lines: usize) -> Scope {
    let scope = Scope::new(relayer, None);
    let order = Order::new(42);
    for _ in 0..lines {
        scope.relayer().log("info", &order).expect("kept");
    }
    scope
}

fn finish_http(scope: Scope) {
    let request_time = scope.elapsed_ms();
    scope.finish(
        Outcome::Ok,
        HttpDetails {
            method: "GET",
            path: "/orders/42",
            user_agent: Some("hyper/1"),
            remote_addr: Some("127.0.0.1"),
            status: 200,
            content_length: 372,
            request_time,
            ..Default::default()
        },
    );
}

fn finish(c: &mut Criterion) {
    let broker = EmbeddedBroker::start().expect("an embedded broker");
    let mut group = c.benchmark_group("finish");
    for target in [kafka_target(&broker), mock_target()] {
        for lines in [0, 5, 50] {
            let id = format!("{} {lines} lines", target.name);
            let prepare = |n| {
                (0..n)
                    .map(|_| scope_with_lines(&target.relayer, lines))
                    .collect()
            };
            let run = |scopes: Vec<Scope>, _| scopes.into_iter().for_each(finish_http);
            bench(&mut group, id, RECORD_CHUNK, prepare, run, &target.settle);
        }
    }
    group.finish();
}

/// A whole request (2 emits, 3 log lines, the record) with every record
/// kept, and with 1 % kept: what tail sampling saves on the request path.
fn sampling(c: &mut Criterion) {
    let broker = EmbeddedBroker::start().expect("an embedded broker");
    let mut group = c.benchmark_group("sampling");
    let kept_1 = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .sampling(Sampling::ratio(0.01))
        .build()
        .expect("a sampling relayer");
    let all = kafka_target(&broker);
    let targets = [
        ("keep all", all.relayer.clone()),
        ("keep 1 %", kept_1.clone()),
    ];
    let settle = move || {
        drain(|| all.relayer.stats().queued);
        drain(|| kept_1.stats().queued);
    };
    let order = Order::new(42);
    for (name, relayer) in targets {
        let run = |(), n| {
            for _ in 0..n {
                let scope = Scope::new(&relayer, None);
                let handle = scope.relayer();
                handle
                    .emit(TOPIC, "created", black_box(&order))
                    .expect("sent");
                handle.emit(TOPIC, "paid", black_box(&order)).expect("sent");
                for _ in 0..3 {
                    handle.log("info", black_box(&order)).expect("kept");
                }
                finish_http(scope);
            }
        };
        bench(&mut group, name, RECORD_CHUNK, |_| (), run, &settle);
    }
    group.finish();
}

/// The same record in each form, on the mock: the form's own cost.
fn forms(c: &mut Criterion) {
    const FORMS: [(&str, WireFormat); 4] = [
        ("standard", WireFormat::Standard),
        ("python1", WireFormat::Python1),
        ("ecs", WireFormat::Ecs),
        ("otlp_json", WireFormat::OtlpJson),
    ];
    let mut group = c.benchmark_group("forms");
    for (id, format) in FORMS {
        let mock = MockProducer::new();
        let relayer = Relayer::builder("logging")
            .producer(mock.clone())
            .wire_format(format)
            .service("orders")
            .build()
            .expect("a relayer on a mock");
        let prepare = |n| {
            (0..n)
                .map(|_| {
                    let scope = scope_with_lines(&relayer, 5);
                    scope.relayer().field("customer", &42).expect("kept");
                    scope
                })
                .collect()
        };
        let run = |scopes: Vec<Scope>, _| scopes.into_iter().for_each(finish_http);
        bench(&mut group, id, RECORD_CHUNK, prepare, run, &|| mock.clear());
    }
    group.finish();
    let ids: Vec<&str> = FORMS.iter().map(|(id, _)| *id).collect();
    print_ratios("forms", &ids);
}

/// Prints each benchmark's time in `group` (criterion's slope estimate,
/// else its mean) as a ratio against the first's, from the estimates
/// criterion has just written.
fn print_ratios(group: &str, ids: &[&str]) {
    let target = env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let home = env::var("CRITERION_HOME").unwrap_or_else(|_| format!("{target}/criterion"));
    let mean = |id: &str| -> Option<f64> {
        let path = format!("{home}/{group}/{id}/new/estimates.json");
        let estimates: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        let estimate = match &estimates["slope"] {
            serde_json::Value::Null => &estimates["mean"],
            slope => slope,
        };
        estimate["point_estimate"].as_f64()
    };
    let Some(baseline) = mean(ids[0]) else {
        println!("{group}: no estimates under {home} to compare");
        return;
    };
    for id in ids {
        if let Some(mean) = mean(id) {
            println!(
                "{group}/{id}: {:.2} µs per record, {:.2} × {}",
                mean / 1000.0,
                mean / baseline,
                ids[0]
            );
        }
    }
}

criterion_group!(benches, emit, log, finish, sampling, forms);
criterion_main!(benches);
