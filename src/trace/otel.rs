//! With the `opentelemetry` feature: a scope opened while an OpenTelemetry
//! span is current (through `tracing-opentelemetry`) takes that span's
//! trace id and span id, so its record joins the trace in Jaeger or Tempo.

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{SpanId, TraceContext, TraceId};

/// The current `tracing` span's OpenTelemetry context, when it is valid,
/// as this scope's trace and span; the parent is kept from `continued`
/// when it belongs to the same trace.
pub(crate) fn current(continued: &TraceContext) -> Option<TraceContext> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    if !span.is_valid() {
        return None;
    }
    let trace_id = TraceId(span.trace_id().to_bytes());
    let parent_span_id = continued
        .parent_span_id
        .filter(|_| continued.trace_id == trace_id);
    Some(TraceContext {
        trace_id,
        span_id: SpanId(span.span_id().to_bytes()),
        parent_span_id,
        flags: span.trace_flags().to_u8() & super::DEFINED_FLAGS,
        tracestate: continued.tracestate.clone(),
    })
}
