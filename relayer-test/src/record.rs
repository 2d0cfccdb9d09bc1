//! Typed views of the records relayer writes to the logging topic.

use std::ops::{Deref, Index};

use serde_json::{Map, Value};

/// A record written to the logging topic, decoded: one request, RPC call
/// or other scope, with its fields and its lines.
///
/// Get them from [`MockProducer::records`](crate::MockProducer::records)
/// and [`MockProducer::record`](crate::MockProducer::record), or from any
/// JSON with [`Record::new`]. Accessors panic, with the record, when a
/// field relayer always writes is missing: in a test, that is a failure.
///
/// ```
/// use relayer::{Relayer, Scope, record::{Outcome, RpcDetails}};
/// use relayer_test::MockProducer;
///
/// let mock = MockProducer::new();
/// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
/// let scope = Scope::new(&relayer, Some("req-1".into()));
/// scope.relayer().info("started")?;
/// scope.relayer().emit("order", "created", &serde_json::json!({"id": 1}))?;
/// scope.relayer().error("payment declined")?;
/// scope.finish(Outcome::Ok, RpcDetails { service: "orders::create", ..Default::default() });
///
/// let record = mock.record("req-1");
/// assert_eq!(record.outcome(), "ok");
/// assert_eq!(record.lines().len(), 3);
/// assert_eq!(record.payloads_of_level("error"), ["payment declined"]);
/// assert_eq!(record.events()[0]["event_type"], "order");
/// assert_eq!(record.rpc().service(), "orders::create");
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    json: Value,
}

impl Record {
    /// A view of `json`, which must be a record: an object with
    /// `request_id`, `outcome` and `lines`.
    pub fn new(json: Value) -> Self {
        assert!(
            Self::is_record(&json),
            "not a record (no request_id, outcome and lines): {json}"
        );
        Self { json }
    }

    /// Whether `json` has the shape of a record.
    pub(crate) fn is_record(json: &Value) -> bool {
        json.get("request_id").is_some_and(Value::is_string)
            && json.get("outcome").is_some_and(Value::is_string)
            && json.get("lines").is_some_and(Value::is_array)
    }

    /// The whole record as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The field `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.json.get(name)
    }

    /// Every field of the record, `lines` included, by name.
    pub fn object(&self) -> &Map<String, Value> {
        self.json.as_object().expect("a record is an object")
    }

    /// Every field of the record, `lines` included: the whole record, not
    /// its `fields`.
    #[deprecated(
        since = "0.1.1",
        note = "the whole record is `object()`; the fields set with `Relayer::field` are `field(name)` and `wide_fields()`"
    )]
    pub fn fields(&self) -> &Map<String, Value> {
        self.object()
    }

    /// The field `name` set with [`Relayer::field`](relayer::Relayer::field)
    /// (or on the builder): the record's `fields.name`.
    ///
    /// ```
    /// use relayer::{Relayer, Scope};
    ///
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let scope = Scope::new(&relayer, Some("req-1".into()));
    /// scope.relayer().field("user_id", &42)?;
    /// drop(scope);
    /// assert_eq!(mock.record("req-1").field("user_id"), Some(&serde_json::json!(42)));
    /// assert_eq!(mock.record("req-1").field("tenant"), None);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.json.get("fields")?.get(name)
    }

    /// The record's `fields` object (the fields set with
    /// [`Relayer::field`](relayer::Relayer::field) and on the builder);
    /// empty when there are none.
    pub fn wide_fields(&self) -> Map<String, Value> {
        self.json
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// The trace id: 32 lower-case hex digits, shared by every record of
    /// the trace, across services.
    pub fn trace_id(&self) -> &str {
        self.str("trace_id")
    }

    /// This record's span id: 16 lower-case hex digits.
    pub fn span_id(&self) -> &str {
        self.str("span_id")
    }

    /// The caller's span id; `None` for the first record of a trace.
    pub fn parent_span_id(&self) -> Option<&str> {
        self.optional_str("parent_span_id")
    }

    /// The entries of the outgoing calls the request made, in order of start.
    pub fn calls(&self) -> &[Value] {
        self.json
            .get("calls")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        self.str("request_id")
    }

    /// How it ended: `"ok"`, `"error"`, `"panicked"`, `"cancelled"` or
    /// `"body_error"`.
    pub fn outcome(&self) -> &str {
        self.str("outcome")
    }

    /// Every emitted event envelope and log line, in call order.
    pub fn lines(&self) -> &[Value] {
        self.json["lines"].as_array().expect("lines is an array")
    }

    /// The log lines (not the events) whose `log_level` is `level`.
    pub fn lines_of_level(&self, level: &str) -> Vec<&Value> {
        self.lines()
            .iter()
            .filter(|line| line.get("log_level").is_some_and(|l| l == level))
            .collect()
    }

    /// The payloads of every line, events and log lines, in call order.
    pub fn payloads(&self) -> Vec<&Value> {
        self.lines().iter().map(|line| &line["payload"]).collect()
    }

    /// The payloads of the log lines of `level`, in call order.
    pub fn payloads_of_level(&self, level: &str) -> Vec<&Value> {
        self.lines_of_level(level)
            .into_iter()
            .map(|line| &line["payload"])
            .collect()
    }

    /// The event envelopes among the lines, in call order.
    pub fn events(&self) -> Vec<&Value> {
        self.lines()
            .iter()
            .filter(|line| line.get("event_type").is_some())
            .collect()
    }

    /// The event envelopes of `event_type` (as emitted, without the topic's
    /// prefix and suffix) among the lines, in call order.
    ///
    /// ```
    /// use relayer::{Relayer, Scope};
    ///
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = Relayer::builder("logging").topic_prefix("prod_").producer(mock.clone()).build()?;
    /// let scope = Scope::new(&relayer, Some("req-1".into()));
    /// scope.relayer().emit("order", "created", &serde_json::json!({"id": 1}))?;
    /// scope.relayer().emit("invoice", "sent", &serde_json::json!({"id": 2}))?;
    /// drop(scope);
    /// let record = mock.record("req-1");
    /// assert_eq!(record.events_of_type("order")[0]["payload"]["id"], 1);
    /// assert!(record.events_of_type("refund").is_empty());
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn events_of_type(&self, event_type: &str) -> Vec<&Value> {
        self.events()
            .into_iter()
            .filter(|event| event["event_type"] == event_type)
            .collect()
    }

    /// The fields of an HTTP request record. Panics when it is not one.
    pub fn request(&self) -> RequestRecord<'_> {
        assert!(
            self.get("method").is_some(),
            "not an HTTP request record: {}",
            self.json
        );
        RequestRecord { record: self }
    }

    /// The fields of an RPC call record. Panics when it is not one.
    pub fn rpc(&self) -> RpcRecord<'_> {
        assert!(
            self.get("service").is_some(),
            "not an RPC record: {}",
            self.json
        );
        RpcRecord { record: self }
    }

    fn str(&self, name: &str) -> &str {
        self.json[name]
            .as_str()
            .unwrap_or_else(|| panic!("no string {name} in {}", self.json))
    }

    fn number(&self, name: &str) -> f64 {
        self.json[name]
            .as_f64()
            .unwrap_or_else(|| panic!("no number {name} in {}", self.json))
    }

    fn optional_str(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(Value::as_str)
    }
}

/// `record["status"]`: the field, or `null` when the record lacks it.
impl Index<&str> for Record {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        &self.json[name]
    }
}

/// The fields of an HTTP request record; see [`Record::request`]. The
/// common fields and lines are the [`Record`]'s.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    record: &'a Record,
}

impl<'a> RequestRecord<'a> {
    /// The request method, e.g. `"GET"`.
    pub fn method(&self) -> &'a str {
        self.record.str("method")
    }

    /// The request path, without the query string.
    pub fn path(&self) -> &'a str {
        self.record.str("path")
    }

    /// The query string without `?`, `None` when there was none.
    pub fn query_string(&self) -> Option<&'a str> {
        self.record.optional_str("query_string")
    }

    /// The response status code.
    pub fn status(&self) -> u16 {
        let status = self.record.number("status");
        u16::try_from(status as u64).expect("a status code")
    }

    /// The response's `Content-Length`, else the body bytes sent.
    pub fn content_length(&self) -> u64 {
        self.record.number("content_length") as u64
    }

    /// Milliseconds from the start of the request to the end of its body.
    pub fn request_time(&self) -> f64 {
        self.record.number("request_time")
    }

    /// The matched route template, e.g. `"/things/{id}"`; `None` when the
    /// router did not tell one (no route matched: a 404).
    pub fn route(&self) -> Option<&'a str> {
        self.record.optional_str("route")
    }

    /// The client's address, as the record tells it (see the record guide
    /// for which headers are believed).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.record.optional_str("remote_addr")
    }

    /// The gRPC status code of a gRPC response.
    pub fn grpc_status(&self) -> Option<i64> {
        self.record.get("grpc_status").and_then(Value::as_i64)
    }
}

impl Deref for RequestRecord<'_> {
    type Target = Record;

    fn deref(&self) -> &Record {
        self.record
    }
}

/// The fields of an RPC call record; see [`Record::rpc`]. The common
/// fields and lines are the [`Record`]'s.
#[derive(Debug, Clone, Copy)]
pub struct RpcRecord<'a> {
    record: &'a Record,
}

impl<'a> RpcRecord<'a> {
    /// The qualified name of the call, e.g. `"Greeter::say_hello"`.
    pub fn service(&self) -> &'a str {
        self.record.str("service")
    }

    /// Milliseconds the call took.
    pub fn service_time(&self) -> f64 {
        self.record.number("service_time")
    }

    /// The error's text when the function returned `Err`.
    pub fn error(&self) -> Option<&'a str> {
        self.record.optional_str("error")
    }
}

impl Deref for RpcRecord<'_> {
    type Target = Record;

    fn deref(&self) -> &Record {
        self.record
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn http_record() -> Record {
        Record::new(json!({
            "source": "logging", "logging_topic": "logging",
            "date": "2026-11-23T10:00:00.000000Z", "request_id": "r-1", "outcome": "ok",
            "method": "GET", "path": "/things", "query_string": null,
            "status": 201, "content_length": 5, "request_time": 1.5,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "fields": {"user_id": 42}, "route": "/things",
            "calls": [{"method": "GET", "url": "http://inventory/stock", "status": 200}],
            "lines": [
                {"log_level": "info", "payload": "one", "timestamp": "t"},
                {"event_type": "thing", "event_subtype": "created", "payload": {"id": 1}},
                {"log_level": "error", "payload": {"code": 7}, "timestamp": "t"},
                {"log_level": "info", "payload": "two", "timestamp": "t"},
            ],
        }))
    }

    #[test]
    fn a_request_record_reads_as_typed_fields_and_lines() {
        let record = http_record();
        let request = record.request();
        assert_eq!(request.method(), "GET");
        assert_eq!(request.path(), "/things");
        assert_eq!(request.query_string(), None);
        assert_eq!(request.status(), 201);
        assert_eq!(request.content_length(), 5);
        assert_eq!(request.request_time(), 1.5);
        assert_eq!(request.request_id(), "r-1");
        assert_eq!(record.payloads_of_level("info"), ["one", "two"]);
        assert_eq!(record.lines_of_level("error")[0]["payload"]["code"], 7);
        assert_eq!(record.events().len(), 1);
        assert_eq!(record.events_of_type("thing").len(), 1);
        assert!(record.events_of_type("other").is_empty());
        assert_eq!(record.field("user_id"), Some(&json!(42)));
        assert_eq!(
            record.field("status"),
            None,
            "a record field is not a wide field"
        );
        assert_eq!(record.wide_fields().len(), 1);
        assert_eq!(record.object()["status"], 201);
        assert_eq!(record.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(record.span_id(), "00f067aa0ba902b7");
        assert_eq!(record.parent_span_id(), None);
        assert_eq!(record.calls()[0]["status"], 200);
        assert_eq!(request.route(), Some("/things"));
        assert_eq!(request.grpc_status(), None);
        assert_eq!(record["status"], 201);
        assert!(record["no such field"].is_null());
    }

    #[test]
    #[should_panic(expected = "not an RPC record")]
    fn a_request_record_is_not_an_rpc_record() {
        let _ = http_record().rpc();
    }

    #[test]
    #[should_panic(expected = "not a record")]
    fn an_event_is_not_a_record() {
        let _ = Record::new(json!({"event_type": "thing", "payload": 1}));
    }
}
