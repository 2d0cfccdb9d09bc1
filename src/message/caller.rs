//! What the producer of a Kafka message sent along: the headers
//! `x-request-id`, `traceparent` and `tracestate`.

use rdkafka::message::{Headers, Message};

use crate::trace::{REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER};
use crate::{Caller, DEFAULT_MAX_REQUEST_ID_BYTES};

/// The caller of a message's scope, from its headers; what is missing or
/// invalid is left out (a new request id, a new trace).
pub(super) fn from_headers<M: Message>(message: &M) -> Caller {
    let header = |name: &str| {
        let headers = message.headers()?;
        let value = headers.iter().find(|header| header.key == name)?.value?;
        std::str::from_utf8(value).ok()
    };
    Caller::from_headers(
        header(REQUEST_ID_HEADER),
        header(TRACEPARENT_HEADER),
        header(TRACESTATE_HEADER),
        DEFAULT_MAX_REQUEST_ID_BYTES,
    )
}
