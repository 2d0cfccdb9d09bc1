//! The OpenTelemetry form: each record one OTLP/JSON
//! `ExportLogsServiceRequest` (opentelemetry-proto,
//! `collector/logs/v1/logs_service.proto`) with one resource (the
//! [`Resource`](crate::Resource)), one scope (`relayer` and its version)
//! and one log record, encoded as `docs/specification.md`, "JSON Protobuf
//! Encoding", says: camelCase field names, trace and span ids as hex, enum
//! values as numbers, 64-bit integers as decimal strings.
//!
//! Attributes have the stable names of the OpenTelemetry semantic
//! conventions for an HTTP server (`docs/http/http-spans.md`, "HTTP server
//! span"); what relayer has that they have no stable name for is under
//! `relayer.`, with its standard-form name. Lines and call entries are
//! arrays of `AnyValue`s (key-value lists), not JSON text.
//!
//! The JSON is written by hand: its shape is fixed, and the lines (already
//! `AnyValue`s) go into the middle of it as they are.

mod any_value;

use std::fmt::Display;
use std::io::Write;

pub(super) use any_value::any_value;

use super::Finished;
use super::facts::{Level, Summary, error_type};
use crate::record::milliseconds;
use crate::record::{Details, HttpDetails, Timestamp};

/// The semantic conventions the attribute names follow.
const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.44.0";

/// HTTP methods the semantic conventions know (RFC 9110's, PATCH and
/// QUERY); any other is `_OTHER`, the method sent in
/// `http.request.method_original`.
const KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// Writes `record` as an `ExportLogsServiceRequest`.
pub(super) fn write(
    record: &Finished<'_>,
    lines: &[u8],
    json: &mut Vec<u8>,
) -> serde_json::Result<()> {
    json.extend_from_slice(b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[");
    let mut resource = Attributes::new(json);
    for (key, value) in record.resource.iter() {
        resource.string(key, value);
    }
    json.extend_from_slice(b"]},\"scopeLogs\":[{\"scope\":{\"name\":\"relayer\",\"version\":\"");
    json.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    json.extend_from_slice(b"\"},\"logRecords\":[{");
    let start = unix_nanos(record.start);
    let end = start.saturating_add(u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX));
    let (number, text) = match Level::of(record) {
        Level::Info => (9, "INFO"),
        Level::Warn => (13, "WARN"),
        Level::Error => (17, "ERROR"),
    };
    let _ = write!(
        json,
        "\"timeUnixNano\":\"{start}\",\"observedTimeUnixNano\":\"{end}\",\
         \"severityNumber\":{number},\"severityText\":\"{text}\",\"body\":{{\"stringValue\":"
    );
    serde_json::to_writer(&mut *json, &Summary(record))?;
    json.extend_from_slice(b"},\"attributes\":[");
    attributes(record, lines, &mut Attributes::new(json));
    let trace = record.trace;
    let _ = write!(
        json,
        "],\"flags\":{},\"traceId\":\"{}\",\"spanId\":\"{}\"}}],\"schemaUrl\":\"{SCHEMA_URL}\"}}],\
         \"schemaUrl\":\"{SCHEMA_URL}\"}}]}}",
        trace.flags, trace.trace_id, trace.span_id
    );
    Ok(())
}

/// Nanoseconds since the Unix epoch; 0 (unknown, for OTLP) past 2262.
fn unix_nanos(at: Timestamp) -> u64 {
    at.0.timestamp_nanos_opt()
        .and_then(|nanos| u64::try_from(nanos).ok())
        .unwrap_or(0)
}

/// The log record's attributes: the semantic conventions', then relayer's.
fn attributes(record: &Finished<'_>, lines: &[u8], out: &mut Attributes<'_>) {
    let details = record.details.filter(|_| record.too_large.is_none());
    if let Some(Details::Http(http)) = details {
        http_attributes(http, out);
    }
    if let Some(error) = error_type(record) {
        out.string("error.type", error);
    }
    if let Some(message) = details.and_then(Details::error) {
        out.string("exception.message", message);
    }
    out.string("relayer.request_id", record.request_id);
    out.string("relayer.outcome", record.outcome.as_str());
    out.string("relayer.source", record.source);
    out.string("relayer.logging_topic", record.logging_topic);
    if let Some(parent) = record.trace.parent_span_id {
        out.string("relayer.parent_span_id", parent);
    }
    for (name, value) in record.fields {
        out.any(
            format_args!("relayer.fields.{name}"),
            value.get().as_bytes(),
        );
    }
    match details {
        Some(Details::Http(http)) => {
            if let Some(x_forwarded_for) = http.x_forwarded_for {
                out.string("relayer.x_forwarded_for", x_forwarded_for);
            }
            out.int("relayer.content_length", http.content_length);
            out.int("relayer.request_bytes", http.request_bytes);
            out.double(
                "relayer.request_time",
                milliseconds::rounded(http.request_time),
            );
            if let Some(code) = http.grpc_status {
                out.int("relayer.grpc_status", code);
            }
            if let Some(message) = http.grpc_message {
                out.string("relayer.grpc_message", message);
            }
            if let Some(body) = http.request_body {
                out.string("relayer.request_body", body);
            }
            if let Some(body) = http.response_body {
                out.string("relayer.response_body", body);
            }
        }
        Some(Details::Rpc(rpc)) => {
            out.string("relayer.service", rpc.service);
            out.double(
                "relayer.service_time",
                milliseconds::rounded(rpc.service_time),
            );
        }
        Some(Details::Message(message)) => {
            out.string("relayer.topic", message.topic);
            out.int("relayer.partition", message.partition);
            out.int("relayer.offset", message.offset);
            if let Some(key) = message.key {
                out.string("relayer.key", key);
            }
            out.double(
                "relayer.processing_time",
                milliseconds::rounded(message.processing_time),
            );
        }
        None => {}
    }
    if let Some(size) = record.too_large {
        out.int("relayer.record_too_large", size);
    }
    if !record.calls.is_empty() {
        out.array("relayer.calls", |json| {
            for (index, call) in record.calls.iter().enumerate() {
                if index > 0 {
                    json.push(b',');
                }
                json.extend_from_slice(call.get().as_bytes());
            }
        });
    }
    if record.dropped_calls > 0 {
        out.int("relayer.dropped_calls", record.dropped_calls);
    }
    out.array("relayer.lines", |json| json.extend_from_slice(lines));
}

/// The stable HTTP server attributes.
fn http_attributes(http: &HttpDetails<'_>, out: &mut Attributes<'_>) {
    if KNOWN_METHODS.contains(&http.method) {
        out.string("http.request.method", http.method);
    } else {
        out.string("http.request.method", "_OTHER");
        out.string("http.request.method_original", http.method);
    }
    out.string("url.scheme", http.scheme.unwrap_or("http"));
    out.string("url.path", http.path);
    if let Some(query) = http.query_string.filter(|query| !query.is_empty()) {
        out.string("url.query", query);
    }
    if let Some(route) = http.route {
        out.string("http.route", route);
    }
    out.int("http.response.status_code", http.status);
    if let Some(address) = http.remote_addr {
        out.string("client.address", address);
    }
    if let Some(user_agent) = http.user_agent {
        out.string("user_agent.original", user_agent);
    }
    if let Some(address) = http.server_address {
        out.string("server.address", address);
        if let Some(port) = http.server_port {
            out.int("server.port", port);
        }
    }
    if let Some(version) = http.protocol_version {
        out.string("network.protocol.version", version);
    }
    for (name, value) in &http.headers {
        // A single-item array of the values joined with commas, as the
        // conventions allow.
        out.array(format_args!("http.request.header.{name}"), |json| {
            any_value::string_value(value, json);
        });
    }
}

/// Writes a list of OTLP `KeyValue`s.
struct Attributes<'j> {
    json: &'j mut Vec<u8>,
    first: bool,
}

impl<'j> Attributes<'j> {
    fn new(json: &'j mut Vec<u8>) -> Self {
        Self { json, first: true }
    }

    /// Starts an attribute: `{"key":"...","value":`.
    fn key(&mut self, key: impl Display) -> &mut Vec<u8> {
        if !self.first {
            self.json.push(b',');
        }
        self.first = false;
        self.json.extend_from_slice(b"{\"key\":");
        text(key, self.json);
        self.json.extend_from_slice(b",\"value\":");
        self.json
    }

    fn string(&mut self, key: impl Display, value: impl Display) {
        let json = self.key(key);
        json.extend_from_slice(b"{\"stringValue\":");
        text(value, json);
        json.extend_from_slice(b"}}");
    }

    /// An `intValue`: an int64, written as a decimal string.
    fn int(&mut self, key: impl Display, value: impl Into<Int>) {
        let json = self.key(key);
        let _ = write!(json, "{{\"intValue\":\"{}\"}}}}", value.into().0);
    }

    fn double(&mut self, key: impl Display, value: f64) {
        let json = self.key(key);
        json.extend_from_slice(b"{\"doubleValue\":");
        serde_json::to_writer(&mut *json, &value).expect("a number is JSON");
        json.extend_from_slice(b"}}");
    }

    /// A JSON value, as an `AnyValue`.
    fn any(&mut self, key: impl Display, value: &[u8]) {
        let json = self.key(key);
        any_value(value, json);
        json.push(b'}');
    }

    /// An `arrayValue` whose values (`AnyValue`s, separated by commas)
    /// `values` writes.
    fn array(&mut self, key: impl Display, values: impl FnOnce(&mut Vec<u8>)) {
        let json = self.key(key);
        json.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
        values(json);
        json.extend_from_slice(b"]}}}");
    }
}

/// Appends `value`'s text as a JSON string.
fn text(value: impl Display, json: &mut Vec<u8>) {
    serde_json::to_writer(json, &format_args!("{value}")).expect("text is JSON");
}

/// An integer attribute's value; sizes past int64 are written as its
/// largest value.
struct Int(i64);

macro_rules! int_from {
    ($($type:ty),*) => {$(
        impl From<$type> for Int {
            fn from(value: $type) -> Self {
                Self(i64::try_from(value).unwrap_or(i64::MAX))
            }
        }
    )*};
}

int_from!(u16, i32, i64, u64, usize);
