//! W3C Trace Context: every record of one request, in every service, is
//! joinable by `trace_id`, and its causal chain is visible through
//! `span_id` and `parent_span_id`.
//!
//! A scope continues the trace of the `traceparent` its caller sent (an
//! HTTP or gRPC request, a Kafka message), or of the scope it is nested in,
//! with a span of its own; without a valid `traceparent` it starts a new
//! trace. [`Relayer::outgoing_headers`](crate::Relayer::outgoing_headers)
//! gives what to send on to the next service.

mod ids;
#[cfg(feature = "opentelemetry")]
mod otel;
mod traceparent;
pub(crate) mod tracestate;

pub(crate) use ids::encode_hex;
pub use ids::{SpanId, TraceId};
pub(crate) use traceparent::TRACEPARENT_LEN;
pub use traceparent::TraceParent;

/// The default header (HTTP) and Kafka message header that carries the
/// request id; another can be set with
/// [`Builder::request_id_header`](crate::Builder::request_id_header).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The W3C header that carries the caller's trace and span.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The W3C header of vendor trace state, passed on when valid.
pub const TRACESTATE_HEADER: &str = "tracestate";

/// The "sampled" trace flag: the caller may have recorded its span.
pub const SAMPLED: u8 = 0x01;

/// The "random" trace flag of W3C Trace Context Level 2: the low 56 bits of
/// the trace id are random, so samplers may decide on them.
pub const RANDOM: u8 = 0x02;

/// The trace context of one scope: its trace, its own span, its parent span
/// (absent for a new trace), and the caller's `tracestate`.
///
/// ```
/// use relayer::trace::{TraceContext, TraceParent};
///
/// let caller = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let context = TraceContext::continuing(caller, None);
/// assert_eq!(context.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(context.parent_span_id.unwrap().to_string(), "00f067aa0ba902b7");
///
/// // What goes to the next service: this scope's span is its parent.
/// let next = context.traceparent();
/// assert_eq!(next.parent_id, context.span_id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace of the whole request, across services.
    pub trace_id: TraceId,
    /// This scope's own span.
    pub span_id: SpanId,
    /// The caller's span, or the enclosing scope's; `None` for a new trace.
    pub parent_span_id: Option<SpanId>,
    /// The trace flags: the caller's [`SAMPLED`] and [`RANDOM`] flags, the
    /// others (undefined) zero; [`SAMPLED`] and [`RANDOM`] for a new trace.
    pub flags: u8,
    /// The caller's `tracestate`, valid by W3C Trace Context (see
    /// [`Caller::from_headers`](crate::Caller::from_headers)).
    pub tracestate: Option<String>,
}

/// The flags W3C Trace Context defines; the others are zeroed on what is
/// sent on, as the specification asks.
pub(crate) const DEFINED_FLAGS: u8 = SAMPLED | RANDOM;

impl TraceContext {
    /// A new trace, with no parent: a random trace id, flagged
    /// [`RANDOM`] and [`SAMPLED`].
    pub fn new_trace() -> Self {
        Self {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            flags: SAMPLED | RANDOM,
            tracestate: None,
        }
    }

    /// A new span in the caller's trace, or a new trace when there is no
    /// valid caller (its `tracestate` is then dropped with it).
    pub fn continuing(caller: Option<TraceParent>, tracestate: Option<String>) -> Self {
        match caller {
            Some(caller) => Self {
                trace_id: caller.trace_id,
                span_id: SpanId::random(),
                parent_span_id: Some(caller.parent_id),
                flags: caller.flags & DEFINED_FLAGS,
                tracestate,
            },
            None => Self::new_trace(),
        }
    }

    /// A new span, child of this one: for a scope nested in this one.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_span_id: Some(self.span_id),
            flags: self.flags,
            tracestate: self.tracestate.clone(),
        }
    }

    /// With the `opentelemetry` feature, the current OpenTelemetry span's
    /// trace and span instead of `self`, when there is one.
    pub(crate) fn or_current_otel_span(self) -> Self {
        #[cfg(feature = "opentelemetry")]
        if let Some(current) = otel::current(&self) {
            return current;
        }
        self
    }

    /// The `traceparent` to send to the next service: this trace, this
    /// scope's span as its parent.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: self.flags,
        }
    }
}

/// Whether `name` is a lower-case HTTP header name (an RFC 9110 token), so
/// it can name a request id header on HTTP and Kafka alike.
pub(crate) fn is_header_name(name: &str) -> bool {
    const PUNCTUATION: &[u8] = b"!#$%&'*+-.^_`|~";
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || PUNCTUATION.contains(&c))
}
