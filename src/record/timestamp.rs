use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

/// A UTC instant written as RFC 3339 with microseconds and a `Z`,
/// e.g. `2026-11-23T10:00:00.123456Z`, as the Python relayer wrote it.
///
/// ```
/// use relayer::record::Timestamp;
/// let t = Timestamp::from(chrono::DateTime::from_timestamp(0, 1_000).unwrap());
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#""1970-01-01T00:00:00.000001Z""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(instant: DateTime<Utc>) -> Self {
        Self(instant)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}
