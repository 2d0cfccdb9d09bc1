use super::Timestamp;

/// How records are written: relayer's own form (the default), or exactly
/// what the Python relayer 1.0 wrote, for consumers that parse records
/// strictly.
///
/// | record field | `Standard` | `Python1` |
/// |---|---|---|
/// | `date` | `2026-11-23T10:00:00.123456Z` | `2026-11-23T10:00:00.123456` (no zone; no fraction when it is zero) |
/// | `logging_topic` | with prefix and suffix | as configured, without them |
/// | `request_id` (HTTP) | `X-Request-ID`, else a generated UUID | `X-Request-ID`, else `null` |
/// | `query_string` (HTTP) | `null` when there is none | `""` when there is none |
/// | `path` (HTTP) | as sent (percent-encoded) | percent-decoded, as WSGI's `PATH_INFO` |
/// | `request_time`, `service_time` | milliseconds | milliseconds, rounded to 3 decimals |
/// | `service` (RPC) | `Greeter::say_hello` | `Greeter.say_hello` |
///
/// Events, raw events and log lines are the same in both forms. Every
/// record still goes to the logging topic with prefix and suffix, and
/// fields that the Python relayer did not write (`outcome`, `timestamp`,
/// ...) are written in both forms.
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
}

impl WireFormat {
    /// A record's `date` in this form.
    pub fn date(self, at: Timestamp) -> RecordDate {
        match self {
            Self::Standard => RecordDate::Utc(at),
            Self::Python1 => RecordDate::Naive(at),
        }
    }

    /// A duration in milliseconds (`request_time`, `service_time`) in this
    /// form: as measured, or rounded to 3 decimals like the Python relayer.
    ///
    /// ```
    /// use relayer::WireFormat;
    /// assert_eq!(WireFormat::Python1.milliseconds(0.354_219), 0.354);
    /// assert_eq!(WireFormat::Standard.milliseconds(0.354_219), 0.354_219);
    /// ```
    pub fn milliseconds(self, ms: f64) -> f64 {
        match self {
            Self::Standard => ms,
            Self::Python1 => (ms * 1000.0).round() / 1000.0,
        }
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
            Self::Standard => service.into(),
            Self::Python1 => service.replace("::", ".").into(),
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
