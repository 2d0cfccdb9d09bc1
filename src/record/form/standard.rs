//! relayer's own form: the fields of [`Record`], the kind's details
//! flattened in, `resource` only when one was configured.

use serde::{Serialize, Serializer};

use super::{Finished, splice_lines};
use crate::record::{Details, Record, RecordDate};

/// Writes `record` in the standard form.
pub(super) fn write(
    record: &Finished<'_>,
    lines: &[u8],
    json: &mut Vec<u8>,
) -> serde_json::Result<()> {
    serialize(&fields(record), lines, json)
}

/// The record's fields in the standard form, for the Python 1.0 form to
/// change what it writes otherwise.
pub(super) fn fields<'a>(record: &'a Finished<'a>) -> Record<'a, Specific<'a>> {
    Record {
        source: record.source,
        logging_topic: record.logging_topic,
        date: RecordDate::Utc(record.start),
        request_id: Some(record.request_id),
        outcome: record.outcome,
        trace_id: record.trace.trace_id,
        span_id: record.trace.span_id,
        parent_span_id: record.trace.parent_span_id,
        resource: record.resource.is_configured().then_some(record.resource),
        fields: record.fields,
        details: Specific {
            details: record.details,
            too_large: record.too_large,
        },
        calls: record.calls,
        dropped_calls: (record.dropped_calls > 0).then_some(record.dropped_calls),
        lines: &[],
    }
}

/// Serializes `record` with `lines` in its `lines` array.
pub(super) fn serialize<D: Serialize>(
    record: &Record<'_, D>,
    lines: &[u8],
    json: &mut Vec<u8>,
) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *json, record)?;
    splice_lines(json, lines);
    Ok(())
}

/// The fields of the kind of scope, flattened into the record: its
/// details, none for a scope dropped unfinished, or `record_too_large`.
pub(super) struct Specific<'a> {
    pub(super) details: Option<&'a Details<'a>>,
    pub(super) too_large: Option<usize>,
}

#[derive(Serialize)]
struct TooLarge {
    record_too_large: usize,
}

#[derive(Serialize)]
struct NoDetails {}

impl Serialize for Specific<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.too_large, self.details) {
            (Some(record_too_large), _) => TooLarge { record_too_large }.serialize(serializer),
            (None, Some(details)) => details.serialize(serializer),
            (None, None) => NoDetails {}.serialize(serializer),
        }
    }
}
