//! The shape of a record in each [`WireFormat`]: one file per form, each
//! writing the same [`Finished`] scope.
//!
//! - `standard`: relayer's own form, the serde form of [`Record`](super::Record).
//! - `python1`: what the Python relayer 1.0 wrote.
//! - `ecs`: an Elastic Common Schema document.
//! - `otlp`: an OTLP/JSON `ExportLogsServiceRequest`.
//!
//! `facts` holds what the ECS and OTLP forms derive alike (the level, the
//! summary, the error's class). Only records take a form: events and raw
//! events keep their envelope in every one.

mod ecs;
mod facts;
mod otlp;
mod python1;
mod standard;

use std::time::Duration;

use serde_json::value::RawValue;

use super::{Details, Outcome, Timestamp, WireFormat};
use crate::Resource;
use crate::trace::TraceContext;

/// A scope that ended, as every form reads it: what its record says,
/// before any form gives it a shape.
#[derive(Clone, Copy)]
pub(crate) struct Finished<'a> {
    pub(crate) source: &'a str,
    /// The logging topic, prefix and suffix included.
    pub(crate) logging_topic: &'a str,
    /// The logging topic as configured.
    pub(crate) logging_topic_name: &'a str,
    pub(crate) resource: &'a Resource,
    /// When the scope opened.
    pub(crate) start: Timestamp,
    /// How long it took: its details' duration, else until it was dropped.
    pub(crate) duration: Duration,
    pub(crate) request_id: &'a str,
    /// Whether the request id was made here, not given by a caller.
    pub(crate) generated_id: bool,
    pub(crate) outcome: Outcome,
    pub(crate) trace: &'a TraceContext,
    pub(crate) fields: &'a [(&'a str, &'a RawValue)],
    /// `None` for a scope dropped before it was finished.
    pub(crate) details: Option<&'a Details<'a>>,
    /// The size of the record that did not fit, instead of its details,
    /// fields and calls.
    pub(crate) too_large: Option<usize>,
    /// The outgoing calls' entries, as this form embeds them.
    pub(crate) calls: &'a [&'a RawValue],
    /// Calls not in `calls`.
    pub(crate) dropped_calls: usize,
}

impl WireFormat {
    /// Writes `record` in this form into `json`, emptied first. `lines` is
    /// the inside of its lines' array: each line as this form
    /// [embeds](Self::embed) it, separated by commas, copied as it is.
    pub(crate) fn write(
        self,
        record: &Finished<'_>,
        lines: &[u8],
        json: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        json.clear();
        match self {
            Self::Standard => standard::write(record, lines, json),
            Self::Python1 => python1::write(record, lines, json),
            Self::Ecs => ecs::write(record, lines, json),
            Self::OtlpJson => otlp::write(record, lines, json),
        }
    }

    /// Whether lines and call entries go into this form's records as the
    /// JSON they are; else [`embed`](Self::embed) converts them.
    pub(crate) fn embeds_json(self) -> bool {
        !matches!(self, Self::OtlpJson)
    }

    /// Appends `value` (a line, a call entry) as this form's records embed
    /// it: the JSON itself, or (OTLP) an `AnyValue`.
    pub(crate) fn embed(self, value: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::OtlpJson => otlp::any_value(value, out),
            Self::Standard | Self::Python1 | Self::Ecs => out.extend_from_slice(value),
        }
    }
}

/// Puts `lines` into the empty array that ends `json`, the last field of
/// the record (nothing but closing brackets after it): the lines are
/// copied once, not serialized again.
fn splice_lines(json: &mut Vec<u8>, lines: &[u8]) {
    let at = json
        .windows(2)
        .rposition(|pair| pair == b"[]")
        .expect("a record ends with its lines' array");
    assert!(
        json[at + 2..]
            .iter()
            .all(|byte| matches!(byte, b'}' | b']')),
        "the lines are the last field of a record"
    );
    let tail_len = json.len() - at - 1;
    let mut tail = [0; 8];
    tail[..tail_len].copy_from_slice(&json[at + 1..]);
    json.truncate(at + 1);
    json.extend_from_slice(lines);
    json.extend_from_slice(&tail[..tail_len]);
}

#[cfg(test)]
mod tests {
    use super::splice_lines;

    #[test]
    fn lines_go_into_the_last_empty_array() {
        let mut json = br#"{"a":[],"relayer":{"lines":[]}}"#.to_vec();
        splice_lines(&mut json, b"1,{\"b\":[]}");
        assert_eq!(json, br#"{"a":[],"relayer":{"lines":[1,{"b":[]}]}}"#);
    }
}
