use super::Timestamp;

/// How records are written: relayer's own form (the default), exactly
/// what the Python relayer 1.0 wrote, or the schemas log pipelines already
/// index: Elastic Common Schema and OpenTelemetry's OTLP/JSON.
///
/// Only the records of the logging topic take a form. Events and raw
/// events are domain messages for other services: they keep their envelope
/// in every form, and so do the lines inside records.
///
/// | record field | `Standard` | `Python1` |
/// |---|---|---|
/// | `date` | `2026-11-23T10:00:00.123456Z` | `2026-11-23T10:00:00.123456` (no zone; no fraction when it is zero) |
/// | `logging_topic` | with prefix and suffix | as configured, without them |
/// | `request_id` (HTTP) | `X-Request-ID`, else a generated UUID | `X-Request-ID`, else `null` |
/// | `query_string` (HTTP) | `null` when there is none | `""` when there is none |
/// | `path` (HTTP) | as sent (percent-encoded) | percent-decoded, as WSGI's `PATH_INFO` |
/// | `service` (RPC) | `Greeter::say_hello` | `Greeter.say_hello` |
/// | `resource` | the [resource](crate::Resource), when one was configured | never |
///
/// Every record still goes to the logging topic with prefix and suffix,
/// and fields that the Python relayer did not write (`outcome`,
/// `trace_id`, ...) are written in both forms.
///
/// [`Ecs`](Self::Ecs) and [`OtlpJson`](Self::OtlpJson) write the same
/// facts under the names of those schemas, and relayer's own (lines,
/// calls, fields, route, bodies, ...) under `relayer.`; the JSON Schemas
/// of the JSON forms are in the repository's `schema/` folder
/// ([`json_schema`](Self::json_schema)).
///
/// ```
/// use relayer::{Relayer, WireFormat};
///
/// let relayer = Relayer::builder("logging")
///     .brokers("localhost:9092")
///     .wire_format(WireFormat::Python1)
///     .build()?;
/// assert_eq!(relayer.wire_format(), WireFormat::Python1);
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// relayer's form: RFC 3339 dates with `Z`, full topic names, a
    /// request id on every record.
    #[default]
    Standard,
    /// The Python relayer 1.0's form, for a migration that must not touch
    /// the consumers of the logging topic.
    Python1,
    /// An Elastic Common Schema document per record, as Elastic's
    /// ecs-logging libraries write them: `@timestamp`, `log.level`,
    /// `message` and `ecs.version` first, ECS fields as nested objects
    /// (`http.response.status_code`, `url.path`, `event.duration` in
    /// nanoseconds, `trace.id`, `service.name`, ...), and what ECS has no
    /// field for under `relayer.*`. For Logstash and Elasticsearch, and
    /// Kibana's dashboards.
    Ecs,
    /// One OTLP/JSON `ExportLogsServiceRequest` per record: the
    /// [resource](crate::Resource), the scope `relayer`, and one log
    /// record whose attributes have the stable OpenTelemetry semantic
    /// conventions' names (`http.request.method`, `url.path`,
    /// `http.response.status_code`, ...), relayer's own under `relayer.`.
    /// For an OpenTelemetry Collector reading the logging topic with its
    /// Kafka receiver (`encoding: otlp_json`).
    OtlpJson,
}

impl WireFormat {
    /// The JSON Schema of this form's records (`schema/*.schema.json` in
    /// the repository), to check records or to make index mappings from;
    /// `None` for [`OtlpJson`](Self::OtlpJson), whose definition is
    /// OpenTelemetry's protobuf.
    ///
    /// ```
    /// use relayer::WireFormat;
    /// let schema: serde_json::Value = serde_json::from_str(WireFormat::Ecs.json_schema().unwrap())?;
    /// assert_eq!(schema["title"], "relayer record, ECS form");
    /// assert!(WireFormat::OtlpJson.json_schema().is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json_schema(self) -> Option<&'static str> {
        match self {
            Self::Standard => Some(include_str!("../../schema/standard.schema.json")),
            Self::Python1 => Some(include_str!("../../schema/python1.schema.json")),
            Self::Ecs => Some(include_str!("../../schema/ecs.schema.json")),
            Self::OtlpJson => None,
        }
    }

    /// A record's `date` in this form.
    pub fn date(self, at: Timestamp) -> RecordDate {
        match self {
            Self::Python1 => RecordDate::Naive(at),
            Self::Standard | Self::Ecs | Self::OtlpJson => RecordDate::Utc(at),
        }
    }

    /// A duration in milliseconds (`request_time`, `service_time`) as
    /// every form writes it: rounded to the microsecond (3 decimals), as
    /// the Python relayer did, without float noise.
    ///
    /// ```
    /// use relayer::WireFormat;
    /// assert_eq!(WireFormat::Python1.milliseconds(0.354_219), 0.354);
    /// assert_eq!(WireFormat::Standard.milliseconds(0.081_100_999_999_999_99), 0.081);
    /// ```
    pub fn milliseconds(self, ms: f64) -> f64 {
        super::milliseconds::rounded(ms)
    }

    /// An RPC record's `service` (`Type::method`) in this form.
    ///
    /// ```
    /// use relayer::WireFormat;
    /// assert_eq!(WireFormat::Python1.service("Greeter::say_hello"), "Greeter.say_hello");
    /// assert_eq!(WireFormat::Standard.service("Greeter::say_hello"), "Greeter::say_hello");
    /// ```
    pub fn service(self, service: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Python1 => service.replace("::", ".").into(),
            Self::Standard | Self::Ecs | Self::OtlpJson => service.into(),
        }
    }
}

/// A record's `date`, written as its [`WireFormat`] says.
///
/// ```
/// use relayer::{WireFormat, record::Timestamp};
///
/// let at = Timestamp::from(chrono::DateTime::from_timestamp(0, 1_000).unwrap());
/// let json = |format: WireFormat| serde_json::to_string(&format.date(at)).unwrap();
/// assert_eq!(json(WireFormat::Standard), r#""1970-01-01T00:00:00.000001Z""#);
/// assert_eq!(json(WireFormat::Python1), r#""1970-01-01T00:00:00.000001""#);
///
/// let whole_second = Timestamp::from(chrono::DateTime::from_timestamp(0, 0).unwrap());
/// assert_eq!(serde_json::to_string(&WireFormat::Python1.date(whole_second)).unwrap(), r#""1970-01-01T00:00:00""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordDate {
    /// RFC 3339 with microseconds and `Z`.
    Utc(Timestamp),
    /// Python's `datetime.utcnow().isoformat()`: no zone, microseconds
    /// unless they are zero.
    Naive(Timestamp),
}

impl serde::Serialize for RecordDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Utc(at) => at.serialize(serializer),
            Self::Naive(at) => serializer.collect_str(&at.naive()),
        }
    }
}
