//! One outgoing call of a request: a client span of its own, the headers
//! that carry the request on to the called service, and the entry the call
//! adds to the request's record.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::record::CallEntry;
use crate::scope::ScopeState;
use crate::trace::{SpanId, TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceContext};
use crate::{DEFAULT_MAX_VALUE_BYTES, Relayer};

/// An outgoing call (HTTP, gRPC) made inside a request.
///
/// It has its own span, a child of the request's, sent as the parent-id of
/// the call's `traceparent`: the called service's record points at this
/// exact call, and several calls of one request are told apart. When it
/// ends (on [`finish`](Self::finish), or when dropped) it adds an entry to
/// the request's `calls` ([`CallEntry`]): method, URL (query parameters
/// masked as in the request's own query string), span, status, duration
/// and error.
///
/// `relayer_axum::PropagateLayer` makes one per request of a tower client
/// (hyper-util, tonic); make one yourself for other clients (reqwest):
///
/// ```
/// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
/// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
/// let mut call = scope.relayer().outgoing_call("GET", "http://prices/price?sku=7").unwrap();
/// assert_eq!(call.trace().parent_span_id, Some(scope.trace().span_id));
/// for (name, value) in call.headers() {
///     println!("{name}: {value}"); // x-request-id: req-1, traceparent: 00-…-{call's span}-01
/// }
/// // … send the request with these headers, then:
/// call.set_status(200);
/// call.finish();
/// # Ok::<(), relayer::Error>(())
/// ```
///
/// A call dropped before [`finish`](Self::finish) with no status and no
/// error set is recorded with the error `cancelled`: its future was dropped
/// (a timeout, the client went away).
#[derive(Debug)]
pub struct OutgoingCall {
    trace: TraceContext,
    request_id: String,
    request_id_header: Arc<str>,
    traceparent: String,
    /// `None` for a call that only gives headers.
    entry: Option<Pending>,
}

/// What a call's entry needs, gathered while the call runs.
struct Pending {
    scope: Arc<ScopeState>,
    order: u64,
    method: String,
    url: String,
    started: Instant,
    start_ms: f64,
    status: Option<u16>,
    grpc_status: Option<i32>,
    content_length: Option<u64>,
    error: Option<String>,
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

    /// The response's HTTP status.
    pub fn set_status(&mut self, status: u16) {
        if let Some(entry) = &mut self.entry {
            entry.status = Some(status);
        }
    }

    /// The call's gRPC status code (0 is OK).
    pub fn set_grpc_status(&mut self, code: i32) {
        if let Some(entry) = &mut self.entry {
            entry.grpc_status = Some(code);
        }
    }

    /// The size of the response's body.
    pub fn set_content_length(&mut self, bytes: u64) {
        if let Some(entry) = &mut self.entry {
            entry.content_length = Some(bytes);
        }
    }

    /// The call failed: `error`'s text, and the texts of its sources, go
    /// into the entry, every URL in them written as the call's `url` is
    /// (user information dropped, secret query parameters masked).
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
    /// # let scope = relayer::Scope::new(&relayer, None);
    /// let mut call = scope.relayer().outgoing_call("GET", "http://127.0.0.1:1/").unwrap();
    /// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// call.set_error(&refused);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn set_error(&mut self, error: &(dyn std::error::Error + 'static)) {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Many errors repeat their source's text in their own.
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        self.set_error_text(text);
    }

    /// The call failed with `error`, a text; the URLs in it are written
    /// as the call's `url` is.
    pub fn set_error_text(&mut self, error: impl fmt::Display) {
        if let Some(entry) = &mut self.entry {
            entry.error = Some(error.to_string());
        }
    }

    /// Ends the call: its entry goes into the request's record (when the
    /// request's record is not written yet).
    pub fn finish(mut self) {
        self.record(None);
    }

    fn record(&mut self, default_error: Option<&str>) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let no_answer = entry.status.is_none() && entry.grpc_status.is_none();
        let error = entry
            .error
            .as_deref()
            .or(default_error.filter(|_| no_answer));
        let url = cut(&entry.url);
        // The URLs an error quotes (reqwest's end with theirs) hold the
        // secrets that `url` masks.
        let error = error.map(|error| entry.scope.secret_params().urls_in(error));
        let error = error.as_deref().map(cut);
        let json = serde_json::value::to_raw_value(&CallEntry {
            method: &entry.method,
            url: &url,
            span_id: self.trace.span_id,
            start_ms: entry.start_ms,
            duration_ms: entry.started.elapsed().as_secs_f64() * 1000.0,
            status: entry.status,
            grpc_status: entry.grpc_status,
            content_length: entry.content_length,
            error: error.as_deref(),
        });
        match json {
            Ok(json) => entry.scope.keep_call(entry.order, json),
            Err(error) => tracing::debug!(target: "relayer", %error, "call entry not serialized"),
        }
    }
}

impl Drop for OutgoingCall {
    fn drop(&mut self) {
        self.record(Some("cancelled"));
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("status", &self.status)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A URL or error text as a call entry keeps it: within the bound of any
/// text value of a record.
fn cut(text: &str) -> Cow<'_, str> {
    crate::cut(Cow::Borrowed(text), DEFAULT_MAX_VALUE_BYTES)
}

impl Relayer {
    /// A new outgoing call of the current request (the one this relayer is
    /// bound to, or the current request of this relayer), to `method` and
    /// `url`, with a span of its own; `None` outside a request. Make one per
    /// call, send its [`headers`](OutgoingCall::headers) with it, and set
    /// its outcome: the call adds an entry to the request's `calls` when it
    /// ends.
    pub fn outgoing_call(&self, method: &str, url: &str) -> Option<OutgoingCall> {
        let scope = self.scope()?;
        let mut call = Self::call_of(&scope);
        let started = Instant::now();
        call.entry = Some(Pending {
            order: scope.next_call(),
            method: method.to_owned(),
            url: scope.secret_params().url(url).into_owned(),
            started,
            start_ms: started
                .saturating_duration_since(scope.started())
                .as_secs_f64()
                * 1000.0,
            status: None,
            grpc_status: None,
            content_length: None,
            error: None,
            scope: scope.into_owned(),
        });
        Some(call)
    }

    /// The headers of a new outgoing call of the current request: its
    /// request id, `traceparent` (this request's trace, the call's own span
    /// as the parent) and `tracestate` when the caller sent one. Empty
    /// outside a request. The call gets no entry in the record: to have
    /// one, use [`outgoing_call`](Self::outgoing_call).
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
        self.scope().map_or_else(Vec::new, |scope| {
            Self::call_of(&scope)
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
    }

    /// A call of `scope` that only gives headers.
    fn call_of(scope: &ScopeState) -> OutgoingCall {
        let trace = scope.trace().child();
        OutgoingCall {
            traceparent: trace.traceparent().to_string(),
            trace,
            request_id: scope.request_id().to_owned(),
            request_id_header: scope.request_id_header().clone(),
            entry: None,
        }
    }
}
