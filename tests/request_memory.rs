//! A request's memory is bounded while it runs: lines past what one record
//! can carry (the maximum message size) are counted, not kept. Measured with
//! a counting allocator; this binary has a single test so that nothing else
//! allocates while it measures.

use std::alloc::System;

use cap::Cap;
use relayer::record::{Outcome, RpcDetails};
use relayer::{DEFAULT_MAX_MESSAGE_BYTES, Relayer, Scope};
use relayer_test::MockProducer;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const LINES: usize = 1_000_000;

#[test]
fn a_million_lines_hold_about_one_record_and_none_after_the_record() {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    let max = DEFAULT_MAX_MESSAGE_BYTES;

    let scope = Scope::new(&relayer, None);
    let handle = scope.relayer().clone();
    let before = ALLOCATOR.allocated();
    let mut peak = 0;
    for n in 0..LINES {
        handle.log("info", &n).unwrap();
        if n % 1_000 == 0 {
            peak = peak.max(ALLOCATOR.allocated().saturating_sub(before));
        }
    }
    println!(
        "{LINES} lines logged: at most {peak} bytes held ({:.2} x the maximum message size of {max})",
        peak as f64 / max as f64
    );
    // The lines themselves stay under `max`; their index (a pointer and a
    // length each, in a vector that doubles) adds a fraction of it.
    assert!(peak <= max + max / 2, "{peak} bytes held for {LINES} lines");

    let service_time = scope.elapsed_ms();
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "memory",
            service_time,
            error: None,
        },
    );
    let record = mock.messages("logging")[0].json();
    let lines = record["lines"].as_array().unwrap();
    let dropped = lines.last().unwrap()["payload"]["dropped_lines"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(
        lines.len() - 1 + dropped,
        LINES,
        "every line is kept or counted"
    );
    assert_eq!(lines[0]["payload"], 0, "the first lines are the ones kept");

    // A handle that outlives its request keeps nothing more.
    let after_record = ALLOCATOR.allocated();
    for n in 0..100_000 {
        handle.log("info", &n).unwrap();
    }
    let grown = ALLOCATOR.allocated().saturating_sub(after_record);
    assert!(
        grown < 64 * 1024,
        "{grown} bytes kept by lines after the record"
    );
    assert_eq!(mock.messages("logging").len(), 1, "and no second record");
}
