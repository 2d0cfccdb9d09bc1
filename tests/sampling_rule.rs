//! The ratio rule is OpenTelemetry's consistent probability sampling: for
//! the same trace id and ratio, relayer decides as OpenTelemetry's sampler
//! does (`fixtures/otel-consistent-sampling.jsonl`, written by the Python
//! SDK's threshold sampler, including trace ids right at the threshold and
//! a ratio whose threshold is a rounding tie).

use relayer::Sampling;
use relayer::trace::TraceParent;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    ratio: f64,
    trace_id: String,
    sampled: bool,
}

#[test]
fn decisions_are_opentelemetrys() {
    let cases: Vec<Case> = include_str!("fixtures/otel-consistent-sampling.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(cases.len() > 1_000, "{}", cases.len());
    let mut differ = Vec::new();
    for case in &cases {
        let traceparent = format!("00-{}-00f067aa0ba902b7-01", case.trace_id);
        let trace_id = TraceParent::parse(&traceparent).unwrap().trace_id;
        if Sampling::sampled_in(trace_id, case.ratio) != case.sampled {
            differ.push(format!("{} at {}", case.trace_id, case.ratio));
        }
    }
    assert!(differ.is_empty(), "decided otherwise: {differ:#?}");
}
