//! With the `opentelemetry` feature, a record opened inside an
//! OpenTelemetry span (through `tracing-opentelemetry`) carries that span's
//! trace id and span id, and is sampled on that trace id (run with
//! `cargo test --features opentelemetry --test opentelemetry`).

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use relayer::record::{Outcome, RpcDetails};
use relayer::trace::{TraceId, TraceParent};
use relayer::{Caller, Relayer, Sampling, Scope};
use relayer_test::MockProducer;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

/// A subscriber that makes OpenTelemetry spans of `tracing` spans, and
/// the provider that must outlive it.
fn opentelemetry_subscriber() -> (SdkTracerProvider, impl tracing::Subscriber + Send + Sync) {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    (provider, subscriber)
}

#[test]
fn a_scope_inside_an_opentelemetry_span_takes_its_ids() {
    let (_provider, subscriber) = opentelemetry_subscriber();
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();

    let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("handle_order");
        let _entered = span.enter();
        let otel = span.context().span().span_context().clone();
        Scope::new(&relayer, None).finish(Outcome::Ok, RpcDetails::default());
        (otel.trace_id().to_string(), otel.span_id().to_string())
    });
    let record = &mock.json("logging")[0];
    assert_eq!(record["trace_id"], trace_id.as_str());
    assert_eq!(record["span_id"], span_id.as_str());

    // Without a current span, the W3C context of the caller as usual.
    let caller = Caller {
        traceparent: TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ..Caller::default()
    };
    Scope::continuing(&relayer, caller).finish(Outcome::Ok, RpcDetails::default());
    assert_eq!(
        mock.json("logging")[1]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[test]
fn inside_opentelemetry_spans_sampling_decides_on_their_trace_ids() {
    let (_provider, subscriber) = opentelemetry_subscriber();
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .sampling(Sampling::ratio(0.5))
        .build()
        .unwrap();

    let kept_by_the_rule: Vec<String> = tracing::subscriber::with_default(subscriber, || {
        (0..200)
            .filter_map(|_| {
                let span = tracing::info_span!("handle_order");
                let _entered = span.enter();
                let otel = span.context().span().span_context().trace_id();
                Scope::new(&relayer, None).finish(Outcome::Ok, RpcDetails::default());
                let kept = Sampling::sampled_in(TraceId(otel.to_bytes()), 0.5);
                kept.then(|| otel.to_string())
            })
            .collect()
    });
    let kept: Vec<String> = mock
        .json("logging")
        .iter()
        .map(|record| record["trace_id"].as_str().unwrap().to_owned())
        .collect();
    assert!((50..150).contains(&kept.len()), "{}", kept.len());
    assert_eq!(
        kept, kept_by_the_rule,
        "the OpenTelemetry traces the rule keeps"
    );
}
