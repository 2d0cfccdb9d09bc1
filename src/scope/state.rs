use std::mem;
use std::sync::Mutex;

use crate::record::Line;

/// The shared, mutable part of a scope: its request id and its lines.
///
/// Handles bound to the scope (clones moved into spawned tasks included)
/// append to the same lines; a mutex keeps them in call order.
pub(crate) struct ScopeState {
    request_id: String,
    /// What the lines may add up to: more could never fit into the record,
    /// so keeping them would only grow the request's memory.
    max_bytes: usize,
    lines: Mutex<Buffer>,
}

/// The lines kept for a record.
#[derive(Default)]
pub(crate) struct Lines {
    pub(crate) lines: Vec<Line>,
    /// The JSON bytes of `lines` with their separators: what they add to the record.
    pub(crate) bytes: usize,
    /// Lines not kept because the kept ones had reached the record's bound.
    pub(crate) not_kept: usize,
}

/// The lines while the scope is open, and after its record was written.
enum Buffer {
    Open(Lines),
    /// The record was written: later lines are not kept.
    Closed,
}

impl ScopeState {
    pub(crate) fn new(request_id: String, max_bytes: usize) -> Self {
        Self {
            request_id,
            max_bytes,
            lines: Mutex::new(Buffer::Open(Lines::default())),
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Appends a line, unless the record was already written or the lines
    /// kept so far already fill a record.
    pub(crate) fn keep(&self, line: Line) {
        let mut buffer = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let Buffer::Open(lines) = &mut *buffer else {
            // A task outlived its request; its record is gone already.
            tracing::debug!(target: "relayer", request_id = %self.request_id, line = line.get(), "line after the end of its request, not recorded");
            return;
        };
        let size = line.get().len() + 1;
        if lines.bytes + size > self.max_bytes {
            lines.not_kept += 1;
            return;
        }
        lines.bytes += size;
        lines.lines.push(line);
    }

    /// Takes the lines for the record; later lines are not kept.
    pub(crate) fn close(&self) -> Lines {
        let mut buffer = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        match mem::replace(&mut *buffer, Buffer::Closed) {
            Buffer::Open(lines) => lines,
            Buffer::Closed => Lines::default(),
        }
    }
}
