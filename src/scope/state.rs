use std::mem;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::SecretNames;
use crate::record::Line;
use crate::trace::TRACEPARENT_LEN;
use crate::trace::TraceContext;

/// The shared, mutable part of a scope: its request id, and what it keeps
/// for its record.
///
/// Handles bound to the scope (clones moved into spawned tasks included)
/// write to the same record; a mutex keeps lines in call order.
pub(crate) struct ScopeState {
    request_id: String,
    /// The header the request id goes on in, on calls and events.
    request_id_header: Arc<str>,
    trace: TraceContext,
    /// `trace` as the `traceparent` that goes on, written once, inline:
    /// every event of the scope carries it.
    traceparent: OnceLock<[u8; TRACEPARENT_LEN]>,
    started: Instant,
    /// Masked in the URLs of the scope's outgoing calls and their errors.
    secret_params: SecretNames,
    /// How many outgoing calls started: their order in the record.
    calls_started: AtomicU64,
    /// What lines, fields and calls may add up to: more could never fit into the
    /// record, so keeping them would only grow the request's memory.
    max_bytes: usize,
    kept: Mutex<Buffer>,
}

/// What a scope keeps for its record.
#[derive(Default)]
pub(crate) struct Kept {
    pub(crate) lines: Lines,
    /// Lines and fields not kept because the record's bound was reached.
    pub(crate) not_kept: usize,
    /// The outgoing calls' entries, each with its order of start.
    pub(crate) calls: Vec<(u64, Line)>,
    /// What `calls` adds to the record: each entry and a separator.
    pub(crate) call_bytes: usize,
    /// Calls not kept because the record's bound was reached.
    pub(crate) dropped_calls: usize,
    /// The record's fields, by name, each serialized once; the last write
    /// of a name wins.
    pub(crate) fields: Vec<(String, Line)>,
    /// The JSON bytes of `fields`: what they add to the record.
    pub(crate) field_bytes: usize,
    /// The handler asked for the record to be kept, whatever the sampling.
    pub(crate) forced: bool,
}

impl Kept {
    /// What the lines, fields and calls kept add to the record.
    fn used(&self) -> usize {
        self.lines.bytes() + self.field_bytes + self.call_bytes
    }
}

/// While the scope is open, and after its record was written.
enum Buffer {
    Open(Kept),
    /// The record was written: later lines and fields are not kept.
    Closed,
}

impl ScopeState {
    pub(crate) fn new(
        request_id: String,
        request_id_header: Arc<str>,
        trace: TraceContext,
        secret_params: SecretNames,
        max_bytes: usize,
        lines_hint: &LinesHint,
    ) -> Self {
        Self {
            request_id,
            request_id_header,
            trace,
            traceparent: OnceLock::new(),
            started: Instant::now(),
            secret_params,
            calls_started: AtomicU64::new(0),
            max_bytes,
            kept: Mutex::new(Buffer::Open(Kept {
                lines: Lines::with_hint(lines_hint.get()),
                ..Kept::default()
            })),
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    pub(crate) fn request_id_header(&self) -> &Arc<str> {
        &self.request_id_header
    }

    pub(crate) fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// When the scope was opened.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    pub(crate) fn secret_params(&self) -> &SecretNames {
        &self.secret_params
    }

    /// The order of start of a new outgoing call.
    pub(crate) fn next_call(&self) -> u64 {
        self.calls_started.fetch_add(1, Relaxed)
    }

    /// The `traceparent` to send on: this scope's trace, its span the parent.
    pub(crate) fn traceparent(&self) -> &str {
        let text = self
            .traceparent
            .get_or_init(|| self.trace.traceparent().encode());
        std::str::from_utf8(text).expect("hex digits and dashes")
    }

    /// Appends a line (its JSON), unless the record was already written or
    /// the lines and fields kept so far already fill a record.
    pub(crate) fn keep(&self, line: &[u8]) {
        let mut buffer = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let Buffer::Open(kept) = &mut *buffer else {
            return self.too_late(&String::from_utf8_lossy(line));
        };
        if kept.used() + line.len() + 1 > self.max_bytes {
            kept.not_kept += 1;
            return;
        }
        kept.lines.push(line);
    }

    /// Keeps the entry of the outgoing call started `order`th, unless the
    /// record was already written or is full: then it is counted.
    pub(crate) fn keep_call(&self, order: u64, entry: Line) {
        let mut buffer = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let Buffer::Open(kept) = &mut *buffer else {
            return self.too_late(entry.get());
        };
        let size = entry.get().len() + 1;
        if kept.used() + size > self.max_bytes {
            kept.dropped_calls += 1;
            return;
        }
        kept.call_bytes += size;
        kept.calls.push((order, entry));
    }

    /// Sets the field `name`; a field wins over lines for the record's room.
    pub(crate) fn set_field(&self, name: &str, value: Line) {
        let mut buffer = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let Buffer::Open(kept) = &mut *buffer else {
            return self.too_late(value.get());
        };
        // `"name":value,`
        let size = |value: &Line| name.len() + value.get().len() + 4;
        let index = kept.fields.iter().position(|(kept, _)| kept == name);
        let replaced = index.map_or(0, |index| size(&kept.fields[index].1));
        if kept.field_bytes - replaced + size(&value) > self.max_bytes {
            kept.not_kept += 1;
            return;
        }
        kept.field_bytes = kept.field_bytes - replaced + size(&value);
        match index {
            Some(index) => kept.fields[index].1 = value,
            None => kept.fields.push((name.to_owned(), value)),
        }
    }

    /// Keeps the record whatever the sampling policy says.
    pub(crate) fn force_keep(&self) {
        let mut buffer = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Buffer::Open(kept) = &mut *buffer {
            kept.forced = true;
        }
    }

    /// A task outlived its request; its record is gone already.
    fn too_late(&self, what: &str) {
        tracing::debug!(target: "relayer", request_id = %self.request_id, line = what, "line after the end of its request, not recorded");
    }

    /// Takes what was kept for the record; later lines are not kept.
    pub(crate) fn close(&self) -> Kept {
        let mut buffer = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match mem::replace(&mut *buffer, Buffer::Closed) {
            Buffer::Open(kept) => kept,
            Buffer::Closed => Kept::default(),
        }
    }
}

/// The lines of a record, in call order: their JSON one after the other,
/// separated by commas, in one buffer (no allocation per line), written
/// into the record as they are.
#[derive(Default)]
pub(crate) struct Lines {
    json: Vec<u8>,
    /// Where each line ends in `json`.
    ends: Vec<usize>,
    /// The room reserved at the first line.
    hint: Room,
}

/// Room for lines: their bytes and how many.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Room {
    pub(crate) bytes: usize,
    pub(crate) count: usize,
}

/// The room the lines of recent records took, so that a new scope reserves
/// it at once instead of growing its buffers line by line: it follows the
/// largest recent records, and shrinks slowly when they get smaller.
#[derive(Debug, Default)]
pub(crate) struct LinesHint {
    bytes: AtomicUsize,
    count: AtomicUsize,
}

impl LinesHint {
    /// Past this, lines grow their buffers as they come.
    const MAX_BYTES: usize = 64 * 1024;

    pub(crate) fn get(&self) -> Room {
        Room {
            bytes: self.bytes.load(Relaxed),
            count: self.count.load(Relaxed),
        }
    }

    /// Learns from the lines of a record.
    pub(crate) fn learn(&self, lines: &Lines) {
        let follow = |hint: &AtomicUsize, size: usize| {
            let old = hint.load(Relaxed);
            let new = size.max(old - old / 16);
            if new != old {
                hint.store(new, Relaxed);
            }
        };
        if lines.bytes() <= Self::MAX_BYTES {
            follow(&self.bytes, lines.bytes());
            follow(&self.count, lines.len());
        }
    }
}

impl Lines {
    pub(crate) fn with_hint(hint: Room) -> Self {
        Self {
            hint,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, line: &[u8]) {
        if self.ends.is_empty() {
            if self.json.capacity() == 0 {
                self.json.reserve(self.hint.bytes.max(line.len()));
                self.ends.reserve(self.hint.count.max(1));
            }
        } else {
            self.json.push(b',');
        }
        self.json.extend_from_slice(line);
        self.ends.push(self.json.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// What the lines add to a record: each line's JSON and a separator.
    pub(crate) fn bytes(&self) -> usize {
        self.ends.last().map_or(0, |end| end + 1)
    }

    /// The lines' JSON, separated by commas: the inside of a JSON array.
    pub(crate) fn json(&self) -> &[u8] {
        &self.json
    }

    /// Keeps the first `count` lines.
    pub(crate) fn truncate(&mut self, count: usize) {
        if count < self.len() {
            self.ends.truncate(count);
            self.json.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// The lines, each converted by `convert` (which appends what it
    /// makes of a line's JSON).
    pub(crate) fn map(&self, mut convert: impl FnMut(&[u8], &mut Vec<u8>)) -> Self {
        let mut converted = Self::default();
        let mut start = 0;
        for &end in &self.ends {
            if !converted.ends.is_empty() {
                converted.json.push(b',');
            }
            convert(&self.json[start..end], &mut converted.json);
            converted.ends.push(converted.json.len());
            // Past the line and its comma.
            start = end + 1;
        }
        converted
    }

    /// How many of the first lines fit in `budget` bytes (as [`bytes`](Self::bytes) counts them).
    pub(crate) fn within(&self, budget: usize) -> usize {
        self.ends.partition_point(|end| *end < budget)
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn lines_are_joined_counted_and_cut_at_line_ends() {
        let mut lines = Lines::default();
        assert_eq!((lines.len(), lines.bytes(), lines.within(100)), (0, 0, 0));
        for line in [&b"{\"a\":1}"[..], b"[2]", b"\"three\""] {
            lines.push(line);
        }
        assert_eq!(lines.json(), b"{\"a\":1},[2],\"three\"");
        // Each line and a separator: 8 + 4 + 8.
        assert_eq!(lines.bytes(), 20);
        assert_eq!(lines.within(11), 1);
        assert_eq!(lines.within(12), 2);
        assert_eq!(lines.within(20), 3);
        lines.truncate(2);
        assert_eq!((lines.len(), lines.json()), (2, &b"{\"a\":1},[2]"[..]));
        let doubled = lines.map(|line, out| {
            out.extend_from_slice(line);
            out.extend_from_slice(line);
        });
        assert_eq!(doubled.json(), b"{\"a\":1}{\"a\":1},[2][2]");
        assert_eq!(doubled.within(17), 1);
        lines.truncate(0);
        lines.push(b"null");
        assert_eq!(lines.json(), b"null");
    }
}
