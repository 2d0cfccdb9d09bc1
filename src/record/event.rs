use serde::Serialize;

use super::Timestamp;

/// The envelope of an emitted event, sent to the topic named after its type.
///
/// ```
/// use relayer::record::{Event, Timestamp};
/// let event = Event {
///     source: "logging",
///     event_type: "order",
///     event_subtype: "created",
///     payload: &serde_json::json!({"id": 7}),
///     timestamp: Timestamp::now(),
///     request_id: None,
/// };
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["payload"]["id"], 7);
/// assert!(json.get("request_id").is_none());
/// ```
#[derive(Debug, Serialize)]
pub struct Event<'a, P: ?Sized> {
    /// Who sent it (by default the logging topic, prefix and suffix included).
    pub source: &'a str,
    /// The event type; also the topic name, before prefix and suffix.
    pub event_type: &'a str,
    /// The event subtype.
    pub event_subtype: &'a str,
    /// The application's payload, any JSON.
    pub payload: &'a P,
    /// When it was emitted.
    pub timestamp: Timestamp,
    /// The request or call it was emitted in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}
