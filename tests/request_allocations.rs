//! What a request costs the allocator: a request with 2 emits, 3 log lines
//! and its record, through the tower layer and the real Kafka producer (to
//! the embedded broker), allocates a fixed number of times on the request
//! path, whatever its id and payloads. Counted per thread by a counting
//! allocator; the request runs on the test's own thread (a current-thread
//! runtime), so librdkafka's threads and the broker are not counted.
//!
//! `RELAYER_ALLOCATIONS=trace cargo test --test request_allocations -- --nocapture`
//! prints a backtrace of each allocation, to find them.

// A global allocator is an unsafe trait; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use relayer::Relayer;
use relayer_axum::{RelayerService, RequestBody};
use relayer_test::EmbeddedBroker;
use serde::Serialize;
use tower::{Service, ServiceExt, service_fn};

/// The most allocations a request may make on the request path: its id,
/// its scope, its request body counter, its request's URI, the relayer in
/// its extensions (3: the map, the value and the map's table), its lines'
/// two buffers, the request id on the response, and rdkafka's copy of each
/// message's topic name as a C string (3, one per message).
const MAX_ALLOCATIONS: usize = 14;

struct Counting;

/// Whether each allocation's backtrace is printed (`RELAYER_ALLOCATIONS`).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Allocations on this thread while counting; `None` when not counting.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded to the system allocator as it is.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn count(size: usize) {
    let _ = COUNT.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
            if TRACE.load(Relaxed) {
                trace(n + 1, size);
            }
        }
    });
}

/// Prints where allocation `n` happened, not counting what that allocates.
fn trace(n: usize, size: usize) {
    if TRACING.with(|tracing| tracing.replace(true)) {
        return;
    }
    let saved = COUNT.with(|count| count.replace(None));
    let backtrace = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = backtrace
        .lines()
        .filter(|line| line.contains("relayer") && !line.contains("request_allocations"))
        .take(6)
        .collect();
    eprintln!("allocation {n}: {size} bytes\n{}", frames.join("\n"));
    COUNT.with(|count| count.set(saved));
    TRACING.with(|tracing| tracing.set(false));
}

/// Runs `f` without counting its allocations: the handler's own work.
fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    let saved = COUNT.with(|count| count.replace(None));
    let result = f();
    COUNT.with(|count| count.set(saved));
    result
}

/// Runs `f`, counting the allocations of this thread.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|count| count.set(Some(0)));
    let result = f();
    let allocations = COUNT.with(|count| count.replace(None)).unwrap_or(0);
    (result, allocations)
}

/// What the handler emits; it allocates nothing of its own, so that
/// what is counted is relayer's.
#[derive(Serialize)]
struct Order {
    id: u64,
    customer: &'static str,
    items: [u32; 3],
}

#[derive(Serialize)]
struct Step {
    message: &'static str,
    order_id: u64,
}

/// The handler: 2 emits and 3 lines, like the load bench's.
fn handle(relayer: &Relayer, id: u64) {
    let step = |message| Step {
        message,
        order_id: id,
    };
    let order = Order {
        id,
        customer: "ann",
        items: [1, 2, 3],
    };
    relayer.info(&step("loading order")).unwrap();
    relayer.emit("order", "viewed", &order).unwrap();
    relayer.info(&step("order loaded")).unwrap();
    relayer.emit("audit", "read", &order).unwrap();
    relayer.debug(&step("responding")).unwrap();
}

/// The allocations of 400 requests through the layer, one by one: the
/// first 200 with the handler's 3 lines, the others with 100 more.
fn allocations_per_request(relayer: &Relayer) -> Vec<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let service = RelayerService::new(
        service_fn(|request: http::Request<RequestBody<String>>| async move {
            let relayer = request.extensions().get::<Relayer>().unwrap().clone();
            let id = request.uri().path()[1..].parse().unwrap_or(0);
            // `?xxx`: as many more lines as there are `x`s.
            let extra_lines = request.uri().query().map_or(0, str::len);
            handle(&relayer, id);
            for n in 0..extra_lines {
                relayer.info(&n).unwrap();
            }
            // As a framework answers: with a content type.
            let response = uncounted(|| {
                http::Response::builder()
                    .header(http::header::CONTENT_TYPE, "text/plain")
                    .body(Full::new(Bytes::from_static(b"ok")))
                    .unwrap()
            });
            Ok::<_, Infallible>(response)
        }),
        relayer.clone(),
    );
    let request = |id: u64, extra_lines: usize| {
        http::Request::get(format!("/{id}?{}", "x".repeat(extra_lines)))
            .header("x-request-id", format!("req-{id}"))
            .body(String::new())
            .unwrap()
    };
    let mut counts = Vec::new();
    runtime.block_on(async {
        for id in 0..400u64 {
            let extra_lines = if id < 200 { 0 } else { 100 };
            let request = request(id * 7919, extra_lines);
            let mut service = service.clone();
            let ready = service.ready().await.unwrap();
            let ((), allocations) = counted(|| {
                futures_util::FutureExt::now_or_never(async {
                    let mut body = ready.call(request).await.unwrap().into_body();
                    // Read as a server sends it, frame by frame.
                    while body.frame().await.is_some() {}
                })
                .expect("nothing on the request path waits");
            });
            counts.push(allocations);
        }
    });
    relayer.flush(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(relayer.stats().delivered, 400 * 3);
    counts
}

/// The most allocations of the requests in `counts`.
fn most(counts: &[usize]) -> usize {
    *counts.iter().max().unwrap()
}

#[test]
fn a_request_allocates_a_fixed_number_of_times() {
    TRACE.store(std::env::var_os("RELAYER_ALLOCATIONS").is_some(), Relaxed);
    let broker = EmbeddedBroker::start().unwrap();
    let relayer = |kafka_headers| {
        Relayer::builder("logging")
            .brokers(broker.bootstrap_servers())
            .kafka_headers(kafka_headers)
            .build()
            .unwrap()
    };
    let counts = allocations_per_request(&relayer(true));
    // After the first requests (buffers growing to their size), each
    // request allocates the same, with 3 lines or with 103: no allocation
    // per line.
    let (few, many) = (&counts[10..200], &counts[210..]);
    println!(
        "allocations per request: first {}, then at most {} (3 lines) and {} (103 lines)",
        counts[0],
        most(few),
        most(many)
    );
    assert!(most(few) <= MAX_ALLOCATIONS, "{few:?}");
    assert!(most(many) <= MAX_ALLOCATIONS, "{many:?}");

    // The Kafka headers of events (request id, `traceparent`) cost no
    // allocation of relayer's: librdkafka makes its own, in C.
    let without_headers = allocations_per_request(&relayer(false));
    assert_eq!(most(&without_headers[10..200]), most(few));
}
