//! Scale: what relayer holds per request in flight, that it gives it all
//! back, and that a request with 10,000 lines still gets its record.
//!
//! 1. Memory per in-flight request: 10,000 concurrent requests to a handler
//!    that emits 2 events, logs 3 lines, then sleeps 2 s; bare axum against
//!    `RelayerLayer` on the real rdkafka producer (embedded broker). Requests
//!    are driven in-process (`tower::ServiceExt::oneshot`), without sockets,
//!    so that the figures are the app's and the layer's, not hyper's
//!    connection buffers. Live heap bytes come from a counting global
//!    allocator (Rust allocations; librdkafka's queue is C heap and shows
//!    in RSS), RSS from `/proc/self/status` after `malloc_trim`.
//! 2. Record size: one request logging 10,000 lines of ~400 bytes (4 MB)
//!    on the real producer: its record is truncated to the maximum message
//!    size with a marker line, and delivered, not failed.
//!
//! `cargo bench --bench scale`

// Live heap bytes come from a counting global allocator; memory figures
// are read through libc (support/usage.rs).
#![allow(unsafe_code)]

// Shared with benches/load.rs, which uses all of them.
#[allow(dead_code)]
#[path = "support/app.rs"]
mod app;
#[path = "support/payload.rs"]
mod payload;
#[allow(dead_code)]
#[path = "support/usage.rs"]
mod usage;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use relayer::{DEFAULT_MAX_MESSAGE_BYTES, Relayer};
use relayer_axum::RelayerLayer;
use relayer_test::EmbeddedBroker;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use app::{Bare, SLOW, router};
use payload::Order;
use usage::MIB;

const IN_FLIGHT: usize = 10_000;
const LINES: usize = 10_000;
const FLUSH: Duration = Duration::from_secs(60);

/// The global allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counts are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size, Relaxed);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let broker = EmbeddedBroker::start().expect("an embedded broker");
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()
        .expect("a relayer on the embedded broker");
    let app = router::<Relayer>().layer(RelayerLayer::new(relayer.clone()));
    // Warm up both apps (lazy statics, connections to the broker).
    in_flight(&runtime, router::<Bare>(), 100, None);
    in_flight(&runtime, app.clone(), 100, Some(&relayer));

    println!("\n#### Memory per in-flight request ({IN_FLIGHT} concurrent requests)\n");
    println!(
        "| configuration | heap bytes/request | RSS bytes/request | heap after − before (bytes) | RSS after − before (MiB) |"
    );
    println!("|---|--:|--:|--:|--:|");
    let bare = in_flight(&runtime, router::<Bare>(), IN_FLIGHT, None);
    bare.print("bare axum");
    let relayed = in_flight(&runtime, app, IN_FLIGHT, Some(&relayer));
    relayed.print("RelayerLayer, rdkafka");
    println!(
        "\nrelayer holds {:.0} heap bytes per request in flight ({:.0} RSS bytes)",
        relayed.heap_per_request() - bare.heap_per_request(),
        relayed.rss_per_request() - bare.rss_per_request(),
    );
    let stats = relayer.stats();
    println!(
        "delivered {} of {} messages, {} failed, {} dropped",
        stats.delivered, stats.produced, stats.failed, stats.dropped
    );

    big_record(&runtime, &broker);
}

/// Heap (counted) and resident bytes at one moment.
#[derive(Clone, Copy)]
struct Memory {
    heap: usize,
    rss: u64,
}

impl Memory {
    fn now() -> Self {
        usage::trim_heap();
        Self {
            heap: LIVE.load(Relaxed),
            rss: usage::rss().0,
        }
    }
}

/// Memory before, while `requests` requests were in flight, and after.
struct InFlight {
    requests: usize,
    before: Memory,
    during: Memory,
    after: Memory,
}

impl InFlight {
    fn heap_per_request(&self) -> f64 {
        (self.during.heap as f64 - self.before.heap as f64) / self.requests as f64
    }

    fn rss_per_request(&self) -> f64 {
        (self.during.rss as f64 - self.before.rss as f64) / self.requests as f64
    }

    fn print(&self, name: &str) {
        println!(
            "| {name} | {:.0} | {:.0} | {:+} | {:+.1} |",
            self.heap_per_request(),
            self.rss_per_request(),
            self.after.heap as i64 - self.before.heap as i64,
            (self.after.rss as f64 - self.before.rss as f64) / MIB,
        );
    }
}

/// Sends `requests` concurrent requests to the slow route, measures memory
/// halfway through their sleep, waits for them all (and for the relayer's
/// records to be delivered), and measures again.
fn in_flight(
    runtime: &Runtime,
    app: Router,
    requests: usize,
    relayer: Option<&Relayer>,
) -> InFlight {
    let before = Memory::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..requests)
        .map(|i| {
            let request = Request::get(format!("/slow/{i}"))
                .body(Body::empty())
                .expect("a request");
            runtime.spawn(app.clone().oneshot(request))
        })
        .collect();
    drop(app);
    std::thread::sleep((SLOW / 2).saturating_sub(started.elapsed()));
    let during = Memory::now();
    assert!(
        tasks.iter().all(|task| !task.is_finished()),
        "every request still in flight when measured"
    );
    runtime.block_on(async {
        for task in tasks {
            let response = task.await.expect("a task").expect("a response");
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
        }
    });
    if let Some(relayer) = relayer {
        relayer.flush(FLUSH).expect("records delivered");
    }
    InFlight {
        requests,
        before,
        during,
        after: Memory::now(),
    }
}

/// One request logging `LINES` lines of the order payload.
async fn many_lines(relayer: Relayer) -> &'static str {
    let order = Order::new(42);
    for _ in 0..LINES {
        relayer.info(&order).expect("kept");
    }
    "ok"
}

fn big_record(runtime: &Runtime, broker: &EmbeddedBroker) {
    let relayer = Relayer::builder("big_records")
        .brokers(broker.bootstrap_servers())
        .build()
        .expect("a relayer on the embedded broker");
    let app = Router::new()
        .route("/lines", get(many_lines))
        .layer(RelayerLayer::new(relayer.clone()));
    let started = Instant::now();
    runtime.block_on(async {
        let request = Request::get("/lines")
            .body(Body::empty())
            .expect("a request");
        let response = app.oneshot(request).await.expect("a response");
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
    });
    let served = started.elapsed();
    relayer
        .flush(FLUSH)
        .expect("the record delivered or failed");
    let stats = relayer.stats();
    let record = broker
        .consumer()
        .expect("a consumer")
        .read("big_records", 1, FLUSH)
        .expect("the record read back")
        .remove(0);
    let json = record.json();
    let lines = json["lines"].as_array().expect("lines");
    let marker = &lines.last().expect("a marker line")["payload"];
    let line_bytes = serde_json::to_string(&lines[0]).expect("a line").len();
    println!("\n#### A request with {LINES} log lines (real producer, embedded broker)\n");
    println!("| | |\n|---|--:|");
    println!(
        "| lines logged | {LINES} × {line_bytes} bytes = {:.1} MiB |",
        (LINES * line_bytes) as f64 / MIB
    );
    println!(
        "| record size | {} bytes (max {DEFAULT_MAX_MESSAGE_BYTES}) |",
        record.value.len()
    );
    println!("| lines kept | {} + 1 marker |", lines.len() - 1);
    println!(
        "| marker | {} |",
        marker["message"].as_str().unwrap_or("none")
    );
    println!(
        "| delivered / failed | {} / {} |",
        stats.delivered, stats.failed
    );
    println!(
        "| request served in | {:.1} ms |",
        served.as_secs_f64() * 1e3
    );
    assert!(
        record.value.len() <= DEFAULT_MAX_MESSAGE_BYTES,
        "the record fits"
    );
    assert_eq!(stats.failed, 0, "nothing failed");
    assert_eq!(
        marker["dropped_lines"].as_u64(),
        Some((LINES - (lines.len() - 1)) as u64)
    );
}
