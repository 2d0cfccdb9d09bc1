//! With the `opentelemetry` feature, a record opened inside an
//! OpenTelemetry span (through `tracing-opentelemetry`) carries that span's
//! trace id and span id (run with
//! `cargo test --features opentelemetry --test opentelemetry`).

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use relayer::record::{Outcome, RpcDetails};
use relayer::trace::TraceParent;
use relayer::{Caller, Relayer, Scope};
use relayer_test::MockProducer;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

#[test]
fn a_scope_inside_an_opentelemetry_span_takes_its_ids() {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
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
