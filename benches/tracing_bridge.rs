//! What the tracing bridge costs.
//!
//! - outside any request: `tracing::info!` with the bridge installed, against
//!   the same subscriber without it and with a layer that does nothing; and
//!   the same next to a `fmt` layer writing to a sink;
//! - inside a request: `tracing::info!` through the bridge, against
//!   `relayer.log` of the same fields (a `json!` value and a derived struct).
//!
//! `cargo bench --bench tracing_bridge -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use relayer::{Relayer, Scope};
use relayer_test::MockProducer;
use serde::Serialize;
use tracing_subscriber::prelude::*;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

/// The event every benchmark writes: a message and five fields of five types.
macro_rules! event {
    () => {
        tracing::info!(
            user_id = black_box(42_u64),
            attempt = black_box(-1_i64),
            elapsed_ms = black_box(1.5_f64),
            cached = black_box(true),
            peer = %black_box(PEER),
            "loaded user"
        )
    };
}

#[derive(Serialize)]
struct Loaded {
    message: &'static str,
    user_id: u64,
    attempt: i64,
    elapsed_ms: f64,
    cached: bool,
    peer: IpAddr,
}

/// A layer that does nothing, to tell the cost of any layer from the bridge's.
struct Nothing;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Nothing {}

fn fmt_to_sink<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::sink)
}

fn relayer() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    (mock, relayer)
}

/// Times `iters` runs of `body` inside a fresh scope; the record is written
/// and forgotten outside the timing, so lines never pile up.
fn in_scope(
    relayer: &Relayer,
    mock: &MockProducer,
    iters: u64,
    body: impl Fn(&Relayer),
) -> Duration {
    let scope = Scope::new(relayer, None);
    let bound = scope.relayer().clone();
    let start = Instant::now();
    bound.in_scope(|| {
        for _ in 0..iters {
            body(&bound);
        }
    });
    let elapsed = start.elapsed();
    drop(scope);
    mock.clear();
    elapsed
}

fn outside_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("outside a request");
    {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
        group.bench_function("info!, bridge not installed", |b| b.iter(|| event!()));
    }
    {
        // What any layer costs: the dispatch to it, doing nothing.
        let subscriber = tracing_subscriber::registry().with(Nothing);
        let _default = tracing::subscriber::set_default(subscriber);
        group.bench_function("info!, a layer that does nothing", |b| b.iter(|| event!()));
    }
    {
        let subscriber = tracing_subscriber::registry().with(relayer::tracing_bridge());
        let _default = tracing::subscriber::set_default(subscriber);
        group.bench_function("info!, bridge installed", |b| b.iter(|| event!()));
    }
    // The same, next to a real layer: `fmt` writing to a sink.
    {
        let subscriber = tracing_subscriber::registry().with(fmt_to_sink());
        let _default = tracing::subscriber::set_default(subscriber);
        group.bench_function("info!, fmt, bridge not installed", |b| b.iter(|| event!()));
    }
    {
        let subscriber = tracing_subscriber::registry()
            .with(fmt_to_sink())
            .with(relayer::tracing_bridge());
        let _default = tracing::subscriber::set_default(subscriber);
        group.bench_function("info!, fmt, bridge installed", |b| b.iter(|| event!()));
    }
    group.finish();
}

fn inside_a_request(c: &mut Criterion) {
    let (mock, relayer) = relayer();
    let subscriber = tracing_subscriber::registry().with(relayer::tracing_bridge());
    let _default = tracing::subscriber::set_default(subscriber);
    let mut group = c.benchmark_group("inside a request");
    group.bench_function("info! through the bridge", |b| {
        b.iter_custom(|iters| in_scope(&relayer, &mock, iters, |_| event!()))
    });
    group.bench_function("relayer.log of json!", |b| {
        b.iter_custom(|iters| {
            in_scope(&relayer, &mock, iters, |relayer| {
                let payload = serde_json::json!({
                    "message": "loaded user",
                    "user_id": black_box(42_u64),
                    "attempt": black_box(-1_i64),
                    "elapsed_ms": black_box(1.5_f64),
                    "cached": black_box(true),
                    "peer": black_box(PEER).to_string(),
                });
                relayer.log("info", &payload).expect("serializable");
            })
        })
    });
    group.bench_function("relayer.log of a struct", |b| {
        b.iter_custom(|iters| {
            in_scope(&relayer, &mock, iters, |relayer| {
                let payload = Loaded {
                    message: "loaded user",
                    user_id: black_box(42),
                    attempt: black_box(-1),
                    elapsed_ms: black_box(1.5),
                    cached: black_box(true),
                    peer: black_box(PEER),
                };
                relayer.log("info", &payload).expect("serializable");
            })
        })
    });
    group.finish();
}

criterion_group!(benches, outside_requests, inside_a_request);
criterion_main!(benches);
