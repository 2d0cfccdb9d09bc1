use serde::{Serialize, Serializer};

use super::{HttpDetails, RpcDetails};
use crate::message::MessageDetails;

/// What is specific to one kind of scope, for its record: an HTTP request,
/// an RPC call, or a consumed Kafka message. Each [record
/// form](super::WireFormat) writes it in its own way; [`Scope::finish`]
/// takes any of the three (`scope.finish(outcome, RpcDetails { .. })`).
///
/// [`Scope::finish`]: crate::Scope::finish
///
/// ```
/// use relayer::record::{Details, RpcDetails};
///
/// let details = Details::from(RpcDetails { service: "jobs::nightly", service_time: 2.5, error: None });
/// assert_eq!(details.duration_ms(), 2.5);
/// assert_eq!(serde_json::to_value(&details)?["service"], "jobs::nightly");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
// Made once per record, on the stack: boxing the HTTP details would cost
// every request an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Details<'a> {
    /// An HTTP request.
    Http(HttpDetails<'a>),
    /// An RPC call, or any other unit of work.
    Rpc(RpcDetails<'a>),
    /// The handling of a consumed Kafka message.
    Message(MessageDetails<'a>),
}

impl Details<'_> {
    /// How long it took, in milliseconds: `request_time`, `service_time`
    /// or `processing_time`.
    pub fn duration_ms(&self) -> f64 {
        match self {
            Self::Http(http) => http.request_time,
            Self::Rpc(rpc) => rpc.service_time,
            Self::Message(message) => message.processing_time,
        }
    }

    /// The error's text, when it ended with one (a panic's message for an
    /// HTTP request).
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Http(http) => http.error,
            Self::Rpc(rpc) => rpc.error,
            Self::Message(message) => message.error,
        }
    }
}

/// The fields of the kind, as the standard form writes them.
impl Serialize for Details<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Http(http) => http.serialize(serializer),
            Self::Rpc(rpc) => rpc.serialize(serializer),
            Self::Message(message) => message.serialize(serializer),
        }
    }
}

impl<'a> From<HttpDetails<'a>> for Details<'a> {
    fn from(details: HttpDetails<'a>) -> Self {
        Self::Http(details)
    }
}

impl<'a> From<RpcDetails<'a>> for Details<'a> {
    fn from(details: RpcDetails<'a>) -> Self {
        Self::Rpc(details)
    }
}

impl<'a> From<MessageDetails<'a>> for Details<'a> {
    fn from(details: MessageDetails<'a>) -> Self {
        Self::Message(details)
    }
}
