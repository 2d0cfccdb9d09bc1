use serde::Serialize;

use super::Timestamp;

/// One log line of a request, kept for its record.
///
/// ```
/// use relayer::record::{LogLine, Timestamp};
/// let line = LogLine { log_level: "info", payload: "started", timestamp: Timestamp::now() };
/// let json = serde_json::to_value(&line).unwrap();
/// assert_eq!(json["log_level"], "info");
/// assert_eq!(json["payload"], "started");
/// ```
#[derive(Debug, Serialize)]
pub struct LogLine<'a, P: ?Sized> {
    /// A free string such as `"info"`, `"warning"` or `"error"`.
    pub log_level: &'a str,
    /// Any JSON.
    pub payload: &'a P,
    /// When it was logged.
    pub timestamp: Timestamp,
}
