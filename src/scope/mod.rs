//! The scope of one request or RPC call: its request id, start, lines, and
//! the one record written when it ends.

mod current;
mod state;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::value::to_raw_value;

pub use current::Bound;
pub(crate) use state::ScopeState;

use crate::Relayer;
use crate::record::{Line, LogLine, Outcome, Record, Timestamp};

/// Room kept for the marker line when lines are dropped to fit a record
/// into the maximum message size.
const MARKER_ROOM: usize = 256;

/// What a record needs beyond its lines (the common fields and the details
/// of an HTTP request), so its buffer is allocated once.
const RECORD_HEAD_ROOM: usize = 1024;

/// One request or RPC call: it hands out a [`Relayer`] bound to it, and
/// writes exactly one record to the logging topic when it ends.
///
/// The tower layer and `#[relayed]` open and finish scopes for you; use a
/// `Scope` directly to aggregate any other unit of work (a queue consumer's
/// message, a batch job):
///
/// ```
/// use relayer::{Relayer, Scope, record::{Outcome, RpcDetails}};
///
/// # async fn run(relayer: Relayer) -> relayer::Result<()> {
/// let scope = Scope::new(&relayer, None);
/// scope.relayer().bind(async {
///     Relayer::current().unwrap().info("working")?;
///     Ok::<_, relayer::Error>(())
/// }).await?;
/// let service_time = scope.elapsed_ms();
/// scope.finish(Outcome::Ok, RpcDetails { service: "jobs::nightly", service_time, error: None });
/// # Ok(()) }
/// ```
///
/// A scope dropped without [`finish`](Scope::finish) still writes its record,
/// with outcome `cancelled`.
#[must_use = "a scope writes its record when dropped: dropped at once, it is a `cancelled` record with no lines"]
pub struct Scope {
    relayer: Relayer,
    date: Timestamp,
    started: Instant,
    finished: bool,
}

/// The details of a record whose scope was dropped unfinished.
#[derive(Serialize)]
struct NoDetails {}

impl Scope {
    /// Opens a scope. Its request id is `request_id` when given, else the
    /// current scope's (a nested call joins its outer request), else a new
    /// UUID.
    pub fn new(relayer: &Relayer, request_id: Option<String>) -> Self {
        let request_id = request_id
            .or_else(|| Relayer::current_scope_state().map(|outer| outer.request_id().to_owned()))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self {
            relayer: relayer.bound(Arc::new(ScopeState::new(request_id))),
            date: Timestamp::now(),
            started: Instant::now(),
            finished: false,
        }
    }

    /// The relayer bound to this scope; clone it freely.
    pub fn relayer(&self) -> &Relayer {
        &self.relayer
    }

    /// The scope's request id.
    pub fn request_id(&self) -> &str {
        self.state().request_id()
    }

    /// When the scope was opened.
    pub fn date(&self) -> Timestamp {
        self.date
    }

    /// Milliseconds since the scope was opened.
    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Writes the scope's one record: the common fields, `details`, and the
    /// lines kept so far. Lines logged after this are not recorded.
    ///
    /// Never blocks and never fails the caller: a record the producer
    /// refuses is counted in [`Relayer::stats`] and reported through
    /// `tracing::warn!`.
    pub fn finish<D: Serialize>(mut self, outcome: Outcome, details: D) {
        self.write(outcome, &details);
    }

    fn state(&self) -> &ScopeState {
        self.relayer
            .scope_state()
            .expect("a scope's relayer is bound to it")
    }

    fn write<D: Serialize>(&mut self, outcome: Outcome, details: &D) {
        self.finished = true;
        let mut lines = self.state().close();
        let shared = self.relayer.shared();
        let record = |lines: &[Line], lines_bytes: usize| {
            let mut json = Vec::with_capacity(lines_bytes + RECORD_HEAD_ROOM);
            serde_json::to_writer(
                &mut json,
                &Record {
                    source: &shared.source,
                    logging_topic: &shared.logging_topic,
                    date: self.date,
                    request_id: self.request_id(),
                    outcome,
                    details,
                    lines,
                },
            )
            .map(|()| json)
        };
        let mut json = record(&lines.lines, lines.bytes);
        if let Ok(full) = &json
            && full.len() > shared.max_message_bytes
        {
            let budget = shared
                .max_message_bytes
                .saturating_sub(full.len() - lines.bytes + MARKER_ROOM);
            truncate(&mut lines.lines, budget);
            json = record(&lines.lines, budget);
        }
        let result = json
            .map_err(crate::Error::from)
            .and_then(|json| self.relayer.send(&shared.logging_topic, None, &json));
        if let Err(error) = result {
            tracing::warn!(target: "relayer", request_id = self.request_id(), %error, "request record not sent");
        }
    }
}

/// Keeps the first lines that fit in `budget` bytes and appends a marker
/// line saying how many were dropped.
fn truncate(lines: &mut Vec<Line>, budget: usize) {
    let mut used = 0;
    let kept = lines
        .iter()
        .take_while(|line| {
            used += line.get().len() + 1;
            used <= budget
        })
        .count();
    let dropped = lines.len() - kept;
    lines.truncate(kept);
    let message =
        format!("{dropped} lines dropped to fit the record into the maximum message size");
    let marker = to_raw_value(&LogLine {
        log_level: "warning",
        payload: &serde_json::json!({ "message": message, "dropped_lines": dropped }),
        timestamp: Timestamp::now(),
    });
    lines.extend(marker.ok());
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.finished {
            self.write(Outcome::Cancelled, &NoDetails {});
        }
    }
}
