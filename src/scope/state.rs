use std::mem;
use std::sync::Mutex;

use crate::record::Line;

/// The shared, mutable part of a scope: its request id and its lines.
///
/// Handles bound to the scope (clones moved into spawned tasks included)
/// append to the same lines; a mutex keeps them in call order.
pub(crate) struct ScopeState {
    request_id: String,
    lines: Mutex<Lines>,
}

#[derive(Default)]
pub(crate) struct Lines {
    pub(crate) lines: Vec<Line>,
    /// The JSON bytes of `lines` with their separators: what they add to the record.
    pub(crate) bytes: usize,
    closed: bool,
}

impl ScopeState {
    pub(crate) fn new(request_id: String) -> Self {
        Self {
            request_id,
            lines: Mutex::default(),
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Appends a line, unless the record was already written.
    pub(crate) fn keep(&self, line: Line) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.closed {
            // A task outlived its request; its record is gone already.
            tracing::debug!(target: "relayer", request_id = %self.request_id, line = line.get(), "line after the end of its request, not recorded");
            return;
        }
        lines.bytes += line.get().len() + 1;
        lines.lines.push(line);
    }

    /// Takes the lines for the record; later lines are not recorded.
    pub(crate) fn close(&self) -> Lines {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.closed = true;
        mem::take(&mut *lines)
    }
}
