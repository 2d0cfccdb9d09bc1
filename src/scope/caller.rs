//! What the caller of a scope sent (HTTP headers, Kafka message headers),
//! kept only when it is valid and small: client input is bounded.

use std::sync::Arc;

use crate::SecretNames;
use crate::trace::{TraceParent, tracestate};

/// The longest request id taken from a caller, by default.
pub const DEFAULT_MAX_REQUEST_ID_BYTES: usize = 128;

/// What the caller of a scope sent: its request id and its trace context,
/// each when it sent a valid one.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The caller's request id (`X-Request-ID`, or the Kafka header
    /// `x-request-id`).
    pub request_id: Option<String>,
    /// The caller's `traceparent`.
    pub traceparent: Option<TraceParent>,
    /// The caller's `tracestate`, passed on with its `traceparent`.
    pub tracestate: Option<String>,
    /// The header the caller's request id came in, where the scope sends it
    /// on (outgoing calls, events' Kafka headers); `None` for the enclosing
    /// scope's, else the relayer's
    /// ([`Builder::request_id_header`](crate::Builder::request_id_header)).
    pub request_id_header: Option<Arc<str>>,
    /// The query parameters masked in the URLs of the scope's outgoing
    /// calls and in the URLs their errors quote: the rules the request's
    /// own query string was recorded with (the tower layer gives its own).
    /// `None` for the enclosing scope's, else the defaults.
    pub secret_params: Option<SecretNames>,
}

impl Caller {
    /// The caller of a request or message, from the values of its request
    /// id, `traceparent` and `tracestate` headers. What is invalid is left
    /// out, so the scope makes its own (a new id, a new trace), by the rules
    /// of W3C Trace Context:
    ///
    /// - a request id must be at most `max_request_id_bytes` of visible
    ///   ASCII (surrounding spaces trimmed);
    /// - a `traceparent` must be valid; a caller that sent it twice sent
    ///   none (give `None`);
    /// - `tracestate` is the caller's header lines joined with `,`; it is
    ///   kept only with a valid `traceparent`, and only when each of its
    ///   members has a legal key and value and there are at most 32 of
    ///   them. Spaces around members, empty members and repeated keys are
    ///   dropped; past 512 bytes, members longer than 128 bytes go first,
    ///   then the last ones.
    ///
    /// ```
    /// use relayer::Caller;
    ///
    /// let caller = Caller::from_headers(Some(" req-1 "), Some("not a traceparent"), None, 128);
    /// assert_eq!(caller.request_id.as_deref(), Some("req-1"));
    /// assert!(caller.traceparent.is_none());
    /// let huge = "x".repeat(400_000);
    /// assert!(Caller::from_headers(Some(&huge), None, None, 128).request_id.is_none());
    ///
    /// let traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// let state = |lines: &str| Caller::from_headers(None, traceparent, Some(lines), 128).tracestate;
    /// assert_eq!(state("rojo=1 , congo=2,,rojo=3").as_deref(), Some("rojo=1,congo=2"));
    /// assert_eq!(state("rojo=1,Congo=2"), None, "upper case is illegal in keys");
    /// ```
    pub fn from_headers(
        request_id: Option<&str>,
        traceparent: Option<&str>,
        tracestate: Option<&str>,
        max_request_id_bytes: usize,
    ) -> Self {
        let traceparent = traceparent.and_then(TraceParent::parse);
        Self {
            request_id: request_id
                .map(str::trim)
                .filter(|id| is_request_id(id, max_request_id_bytes))
                .map(str::to_owned),
            tracestate: tracestate
                .filter(|_| traceparent.is_some())
                .and_then(tracestate::parse),
            traceparent,
            request_id_header: None,
            secret_params: None,
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
    fn a_tracestate_is_kept_only_with_a_valid_traceparent() {
        let state = |traceparent: &str| {
            Caller::from_headers(None, Some(traceparent), Some("vendor=1"), 128).tracestate
        };
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(state(valid).as_deref(), Some("vendor=1"));
        assert_eq!(state("garbage"), None);
        let blank = Caller::from_headers(None, Some(valid), Some(" "), 128);
        assert_eq!(blank.tracestate, None);
    }
}
