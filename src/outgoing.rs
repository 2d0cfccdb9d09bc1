//! One outgoing call of a request: a client span of its own, and the
//! headers that carry the request on to the called service.

use std::sync::Arc;

use crate::Relayer;
use crate::trace::{SpanId, TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceContext};

/// An outgoing call (HTTP, gRPC) made inside a request: its own span, a
/// child of the request's, sent as the parent-id of the call's
/// `traceparent`, so the called service's record points at this exact call
/// and several calls of one request are told apart.
///
/// Made by [`Relayer::outgoing_call`]; `relayer_axum::PropagateLayer`
/// makes one per request on tower clients.
///
/// ```
/// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
/// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
/// let call = scope.relayer().outgoing_call().unwrap();
/// assert_eq!(call.trace().parent_span_id, Some(scope.trace().span_id));
/// for (name, value) in call.headers() {
///     println!("{name}: {value}"); // x-request-id: req-1, traceparent: 00-…-{call's span}-01
/// }
/// assert_ne!(call.span_id(), scope.relayer().outgoing_call().unwrap().span_id());
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    trace: TraceContext,
    request_id: String,
    request_id_header: Arc<str>,
    traceparent: String,
}

impl OutgoingCall {
    /// The call's span: the parent-id of its `traceparent`.
    pub fn span_id(&self) -> SpanId {
        self.trace.span_id
    }

    /// The call's trace context: the request's trace, the call's span, the
    /// request's span as its parent, the request's flags and `tracestate`.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The headers to send with the call: the request id (in the header
    /// the request uses, `x-request-id` unless configured), `traceparent`,
    /// and `tracestate` when the request has one.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        [
            Some((&*self.request_id_header, self.request_id.as_str())),
            Some((TRACEPARENT_HEADER, self.traceparent.as_str())),
            self.trace
                .tracestate
                .as_deref()
                .map(|state| (TRACESTATE_HEADER, state)),
        ]
        .into_iter()
        .flatten()
    }
}

impl Relayer {
    /// A new outgoing call of the current request (the one this relayer is
    /// bound to, or the current request of this relayer), with a span of
    /// its own; `None` outside a request. Make one per call, and send its
    /// [`headers`](OutgoingCall::headers) with it.
    pub fn outgoing_call(&self) -> Option<OutgoingCall> {
        let scope = self.scope()?;
        let trace = scope.trace().child();
        Some(OutgoingCall {
            traceparent: trace.traceparent().to_string(),
            trace,
            request_id: scope.request_id().to_owned(),
            request_id_header: scope.request_id_header().clone(),
        })
    }

    /// The headers of a new [outgoing call](Self::outgoing_call) of the
    /// current request: its request id, `traceparent` (this request's
    /// trace, the call's own span as the parent) and `tracestate` when the
    /// caller sent one. Empty outside a request. For HTTP clients that are
    /// not tower services (reqwest); call it once per call.
    /// `relayer_axum::PropagateLayer` sets them on tower clients.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
    /// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
    /// let headers = scope.relayer().outgoing_headers();
    /// assert_eq!(headers[0], ("x-request-id".to_owned(), "req-1".to_owned()));
    /// assert_eq!(headers[1].0, "traceparent");
    /// assert!(headers[1].1.contains(&scope.trace().trace_id.to_string()));
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn outgoing_headers(&self) -> Vec<(String, String)> {
        self.outgoing_call().map_or_else(Vec::new, |call| {
            call.headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
    }
}
