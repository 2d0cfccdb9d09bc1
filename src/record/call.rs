use serde::Serialize;

use crate::trace::SpanId;

/// One entry of a record's `calls` array: an outgoing call the request made
/// (an [`OutgoingCall`](crate::OutgoingCall)), in order of start.
///
/// ```
/// use relayer::record::CallEntry;
/// # let span_id = relayer::trace::SpanId::random();
/// let entry = CallEntry {
///     method: "GET",
///     url: "http://prices:8080/price?sku=7",
///     span_id,
///     start_ms: 1.5,
///     duration_ms: 3.25,
///     status: Some(200),
///     grpc_status: None,
///     content_length: Some(4),
///     error: None,
/// };
/// let json = serde_json::to_value(&entry)?;
/// assert_eq!(json["status"], 200);
/// assert!(json.get("error").is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Serialize)]
pub struct CallEntry<'a> {
    /// The request method, e.g. `GET`; `POST` for gRPC.
    pub method: &'a str,
    /// Scheme, host, port and path, and the query string with the request's
    /// redacted parameters masked; without user information and fragment.
    pub url: &'a str,
    /// The call's span: the parent-id the called service received.
    pub span_id: SpanId,
    /// Milliseconds from the start of the request to the start of the call.
    #[serde(serialize_with = "super::milliseconds::serialize")]
    pub start_ms: f64,
    /// Milliseconds from the start of the call to the end of its response
    /// (its body read to the end or dropped), or to its failure.
    #[serde(serialize_with = "super::milliseconds::serialize")]
    pub duration_ms: f64,
    /// The response's HTTP status; absent when no response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The gRPC status code (0 is OK), from the response headers or
    /// trailers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<i32>,
    /// The response's `Content-Length`, else the body bytes read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// Why the call failed: the client's error, or `cancelled` when it was
    /// dropped before its response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}
