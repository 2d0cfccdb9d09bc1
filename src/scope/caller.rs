//! What the caller of a scope sent (HTTP headers, Kafka message headers),
//! kept only when it is valid and small: client input is bounded.

use crate::trace::TraceParent;

/// The longest request id taken from a caller, by default.
pub const DEFAULT_MAX_REQUEST_ID_BYTES: usize = 128;

/// The longest `tracestate` passed on: what W3C Trace Context asks every
/// vendor to propagate at least.
const MAX_TRACESTATE_BYTES: usize = 512;

/// What the caller of a scope sent: its request id and its trace context,
/// each when it sent a valid one.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The caller's request id (`X-Request-ID`, or the Kafka header
    /// `x-request-id`).
    pub request_id: Option<String>,
    /// The caller's `traceparent`.
    pub traceparent: Option<TraceParent>,
    /// The caller's `tracestate`, passed on unchanged.
    pub tracestate: Option<String>,
}

impl Caller {
    /// The caller of a request or message, from the values of its request
    /// id, `traceparent` and `tracestate` headers. What is invalid is left
    /// out, so the scope makes its own (a new id, a new trace): a request id
    /// must be at most `max_request_id_bytes` of visible ASCII (surrounding
    /// spaces trimmed), a `traceparent` valid by W3C Trace Context, a
    /// `tracestate` at most 512 bytes.
    ///
    /// ```
    /// use relayer::Caller;
    ///
    /// let caller = Caller::from_headers(Some(" req-1 "), Some("not a traceparent"), None, 128);
    /// assert_eq!(caller.request_id.as_deref(), Some("req-1"));
    /// assert!(caller.traceparent.is_none());
    /// let huge = "x".repeat(400_000);
    /// assert!(Caller::from_headers(Some(&huge), None, None, 128).request_id.is_none());
    /// ```
    pub fn from_headers(
        request_id: Option<&str>,
        traceparent: Option<&str>,
        tracestate: Option<&str>,
        max_request_id_bytes: usize,
    ) -> Self {
        Self {
            request_id: request_id
                .map(str::trim)
                .filter(|id| is_request_id(id, max_request_id_bytes))
                .map(str::to_owned),
            traceparent: traceparent.and_then(TraceParent::parse),
            tracestate: tracestate
                .filter(|state| state.len() <= MAX_TRACESTATE_BYTES && !state.trim().is_empty())
                .map(str::to_owned),
        }
    }
}

/// Whether `id` may serve as a request id: short, and visible ASCII only,
/// so it is safe in headers, events and log queries.
fn is_request_id(id: &str, max_bytes: usize) -> bool {
    !id.is_empty() && id.len() <= max_bytes && id.bytes().all(|byte| byte.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_visible_ascii() {
        let accepts = |id: &str| is_request_id(id, DEFAULT_MAX_REQUEST_ID_BYTES);
        assert!(accepts("req-42_a.b:c/d"));
        assert!(accepts(&"x".repeat(128)));
        assert!(!accepts(&"x".repeat(129)));
        assert!(!accepts(""));
        assert!(!accepts("has space"));
        assert!(!accepts("tab\there"));
        assert!(!accepts("é"));
    }

    #[test]
    fn an_oversized_or_blank_tracestate_is_left_out() {
        let state = |value: &str| Caller::from_headers(None, None, Some(value), 128).tracestate;
        assert_eq!(state("vendor=1").as_deref(), Some("vendor=1"));
        assert_eq!(state(" "), None);
        assert_eq!(state(&"v".repeat(513)), None);
    }
}
