//! What the producer of a Kafka message sent along: the headers
//! `x-request-id`, `traceparent` and `tracestate`.

use rdkafka::message::{Headers, Message};

use crate::Caller;
use crate::trace::{REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceParent};

/// The longest request id and `tracestate` taken from a message's headers,
/// like the bounds on HTTP requests.
const MAX_REQUEST_ID_BYTES: usize = 128;
const MAX_TRACESTATE_BYTES: usize = 512;

/// The caller of a message's scope, from its headers; what is missing or
/// invalid is left out (a new request id, a new trace).
pub(super) fn from_headers<M: Message>(message: &M) -> Caller {
    let mut caller = Caller::default();
    let Some(headers) = message.headers() else {
        return caller;
    };
    for header in headers.iter() {
        let Some(value) = header
            .value
            .and_then(|value| std::str::from_utf8(value).ok())
        else {
            continue;
        };
        match header.key {
            REQUEST_ID_HEADER
                if value.len() <= MAX_REQUEST_ID_BYTES
                    && !value.is_empty()
                    && value.bytes().all(|byte| byte.is_ascii_graphic()) =>
            {
                caller.request_id = Some(value.to_owned());
            }
            TRACEPARENT_HEADER => caller.traceparent = TraceParent::parse(value),
            TRACESTATE_HEADER if value.len() <= MAX_TRACESTATE_BYTES => {
                caller.tracestate = Some(value.to_owned());
            }
            _ => {}
        }
    }
    caller
}
