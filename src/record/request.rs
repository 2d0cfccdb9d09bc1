use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;

use super::{Line, Outcome, RecordDate};
use crate::Resource;
use crate::trace::{SpanId, TraceId};

/// `fields` as a JSON object of its names.
pub(crate) fn fields_as_object<S: Serializer>(
    fields: &&[(&str, &RawValue)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(fields.len()))?;
    for (name, value) in fields.iter() {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// The one record written to the logging topic when a request or call ends,
/// in the standard [form](super::WireFormat): the fields every scope has,
/// the `details` of its kind ([`HttpDetails`] or [`RpcDetails`]), and its
/// lines in call order.
#[derive(Debug, Serialize)]
pub struct Record<'a, D> {
    /// As configured; by default the logging topic.
    pub source: &'a str,
    /// The logging topic, prefix and suffix included (as configured, without
    /// them, in [`WireFormat::Python1`](super::WireFormat::Python1)).
    pub logging_topic: &'a str,
    /// When the request or call started.
    pub date: RecordDate,
    /// The request id, shared by every event of the request; `null` only in
    /// [`WireFormat::Python1`](super::WireFormat::Python1), for a request
    /// whose client sent none.
    pub request_id: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// The trace of the request, across services.
    pub trace_id: TraceId,
    /// This scope's span.
    pub span_id: SpanId,
    /// The caller's span, or the enclosing scope's; absent for a new trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// Who wrote it: the [resource](crate::Resource)'s attributes, when
    /// the builder or the environment set any; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<&'a Resource>,
    /// The fields set with [`Relayer::field`](crate::Relayer::field) and on
    /// the builder, by name; absent when there are none.
    #[serde(
        skip_serializing_if = "<[_]>::is_empty",
        serialize_with = "fields_as_object"
    )]
    pub fields: &'a [(&'a str, &'a RawValue)],
    /// What is specific to HTTP requests or RPC calls.
    #[serde(flatten)]
    pub details: D,
    /// The outgoing calls the request made ([`CallEntry`](super::CallEntry)
    /// JSON), in order of start; absent when there are none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub calls: &'a [&'a RawValue],
    /// How many outgoing calls are not in `calls`: past the record's
    /// maximum size, calls are counted, not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_calls: Option<usize>,
    /// Every emitted event envelope and log line, in call order. The last
    /// field: a scope writes its lines into it as they were kept.
    pub lines: &'a [Line],
}

/// The fields of an HTTP request record.
#[derive(Debug, Default, Serialize)]
pub struct HttpDetails<'a> {
    /// The request method, e.g. `GET`.
    pub method: &'a str,
    /// The request path, without the query string.
    pub path: &'a str,
    /// The query string without `?`, with redacted parameters masked.
    pub query_string: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// `X-Real-IP`, else the peer address when known.
    pub remote_addr: Option<&'a str>,
    /// The `X-Forwarded-For` header.
    pub x_forwarded_for: Option<&'a str>,
    /// The response status code.
    pub status: u16,
    /// `Content-Length` of the response, else the body bytes actually sent.
    pub content_length: u64,
    /// The bytes of the request body the service read.
    pub request_bytes: u64,
    /// Milliseconds from the start of the request to the end of its body.
    #[serde(serialize_with = "super::milliseconds::serialize")]
    pub request_time: f64,
    /// Extra request headers chosen by configuration (lowercase names).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<&'a str, &'a str>,
    /// The matched route template, e.g. `/things/{id}`, when the router
    /// tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'a str>,
    /// The gRPC status code of a gRPC response (0 is OK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<i32>,
    /// The gRPC status message, percent-decoded, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_message: Option<&'a str>,
    /// The first bytes of the request body as text, secrets redacted, when
    /// body capture is on and the body is JSON or text; always a string, so
    /// the field has one type in a log pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<&'a str>,
    /// The first bytes of the response body, as for `request_body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<&'a str>,
    /// The URI's scheme when the request has one (HTTP/2's `:scheme`, a
    /// request in absolute form); `http` is assumed otherwise. Written
    /// by the ECS and OTLP forms (`url.scheme`), not the standard one.
    #[serde(skip)]
    pub scheme: Option<&'a str>,
    /// The host the client asked for, from the URI's authority or the
    /// `Host` header, without its port (`server.address` in the ECS and
    /// OTLP forms, not in the standard one).
    #[serde(skip)]
    pub server_address: Option<&'a str>,
    /// The port of the `Host` header or authority, when it names one
    /// (`server.port` in the ECS and OTLP forms).
    #[serde(skip)]
    pub server_port: Option<u16>,
    /// The HTTP version: `1.0`, `1.1`, `2` or `3` (`http.version` in the
    /// ECS form, `network.protocol.version` in the OTLP form).
    #[serde(skip)]
    pub protocol_version: Option<&'a str>,
    /// A panic's message, for a record with outcome `panicked` (the
    /// standard form has it in an `error` line; the ECS and OTLP forms
    /// write it as the error's message).
    #[serde(skip)]
    pub error: Option<&'a str>,
}

/// The fields of an RPC call record.
#[derive(Debug, Default, Serialize)]
pub struct RpcDetails<'a> {
    /// The qualified name of the service method, e.g. `Greeter::say_hello`.
    pub service: &'a str,
    /// Milliseconds the call took.
    #[serde(serialize_with = "super::milliseconds::serialize")]
    pub service_time: f64,
    /// The error's text when the function returned `Err`.
    pub error: Option<&'a str>,
}
