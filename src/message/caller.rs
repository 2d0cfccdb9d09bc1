//! What the producer of a Kafka message sent along: the headers of the
//! request id, `traceparent` and `tracestate`.

use std::borrow::Cow;

use rdkafka::message::{Headers, Message};

use crate::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
use crate::{Caller, DEFAULT_MAX_REQUEST_ID_BYTES};

/// The caller of a message's scope, from its headers; what is missing or
/// invalid is left out (a new request id, a new trace). Header keys are
/// compared as HTTP header names, ignoring ASCII case.
pub(super) fn from_headers<M: Message>(message: &M, request_id_header: &str) -> Caller {
    // Two `traceparent`s are no `traceparent`.
    let traceparent = match values(message, TRACEPARENT_HEADER).collect::<Vec<_>>()[..] {
        [one] => one,
        _ => None,
    };
    let mut lines = values(message, TRACESTATE_HEADER).flatten();
    let tracestate: Option<Cow<'_, str>> = lines.next().map(|first| match lines.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let all = [first, second].into_iter().chain(lines);
            Cow::Owned(all.collect::<Vec<_>>().join(","))
        }
    });
    Caller::from_headers(
        values(message, request_id_header).next().flatten(),
        traceparent,
        tracestate.as_deref(),
        DEFAULT_MAX_REQUEST_ID_BYTES,
    )
}

/// The values of the headers named `name`, in order; `None` for a value
/// that is absent or not UTF-8.
fn values<'a, M: Message>(message: &'a M, name: &'a str) -> impl Iterator<Item = Option<&'a str>> {
    message
        .headers()
        .into_iter()
        .flat_map(Headers::iter)
        .filter(move |header| header.key.eq_ignore_ascii_case(name))
        .map(|header| {
            header
                .value
                .and_then(|value| std::str::from_utf8(value).ok())
        })
}
