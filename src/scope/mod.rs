//! The scope of one request or RPC call: its request id, start, lines, and
//! the one record written when it ends.

mod caller;
mod current;
mod state;

use std::sync::Arc;
use std::time::Duration;

pub use caller::{Caller, DEFAULT_MAX_REQUEST_ID_BYTES};
pub use current::Bound;
pub(crate) use state::{LinesHint, ScopeState};

use std::sync::atomic::Ordering::Relaxed;

use serde_json::value::RawValue;

use crate::record::{
    Details, Finished, Line, LogLine, Outcome, Timestamp, WireFormat, with_buffer,
};
use crate::sampling::Ending;
use crate::trace::{self, TraceContext};
use crate::{Relayer, SecretNames};

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
    /// Whether the request id was made here (no caller or outer request
    /// gave one): [`WireFormat::Python1`] records then write `null`.
    generated_id: bool,
    /// The response status, for the sampling policy.
    status: Option<u16>,
    finished: bool,
}

impl Scope {
    /// Opens a scope. Its request id is `request_id` when given, else the
    /// current scope's (a nested call joins its outer request), else a new
    /// UUID. Its span is a child of the current scope's, else the first of
    /// a new trace.
    pub fn new(relayer: &Relayer, request_id: Option<String>) -> Self {
        Self::continuing(
            relayer,
            Caller {
                request_id,
                ..Caller::default()
            },
        )
    }

    /// Opens a scope that continues what its caller sent: the request id,
    /// and the caller's trace (a new span whose parent is the caller's).
    /// What the caller left out comes from the current scope, as with
    /// [`new`](Self::new).
    ///
    /// ```
    /// use relayer::{Caller, Scope, trace::TraceParent};
    /// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build().unwrap();
    /// let caller = Caller {
    ///     request_id: Some("req-1".into()),
    ///     traceparent: TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ///     ..Caller::default()
    /// };
    /// let scope = Scope::continuing(&relayer, caller);
    /// assert_eq!(scope.trace().trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    pub fn continuing(relayer: &Relayer, caller: Caller) -> Self {
        let outer = Relayer::current_scope_state();
        let request_id = caller
            .request_id
            .or_else(|| outer.as_ref().map(|outer| outer.request_id().to_owned()));
        let generated_id = request_id.is_none();
        let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let shared = relayer.shared();
        let request_id_header = caller
            .request_id_header
            .or_else(|| {
                outer
                    .as_ref()
                    .map(|outer| outer.request_id_header().clone())
            })
            .unwrap_or_else(|| shared.request_id_header.clone());
        let secret_params = caller
            .secret_params
            .or_else(|| outer.as_ref().map(|outer| outer.secret_params().clone()))
            .unwrap_or_default();
        let trace = match (caller.traceparent, &outer) {
            (Some(parent), _) => TraceContext::continuing(Some(parent), caller.tracestate),
            (None, Some(outer)) => outer.trace().child(),
            (None, None) => {
                let mut new = TraceContext::new_trace();
                // The trace starts here: its sampled flag tells what the
                // ratio will decide for its records.
                if let Some(sampling) = &shared.sampling
                    && !sampling.keeps_trace(new.trace_id)
                {
                    new.flags &= !trace::SAMPLED;
                }
                new
            }
        }
        .or_current_otel_span();
        let state = ScopeState::new(
            request_id,
            request_id_header,
            trace,
            secret_params,
            shared.max_message_bytes,
            &shared.lines_hint,
        );
        Self {
            relayer: relayer.bound(Arc::new(state)),
            date: Timestamp::now(),
            generated_id,
            status: None,
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

    /// The scope's trace context: its trace, its span, its parent span.
    pub fn trace(&self) -> &TraceContext {
        self.state().trace()
    }

    /// When the scope was opened.
    pub fn date(&self) -> Timestamp {
        self.date
    }

    /// Milliseconds since the scope was opened.
    pub fn elapsed_ms(&self) -> f64 {
        self.state().started().elapsed().as_secs_f64() * 1000.0
    }

    /// Tells the [sampling policy](crate::Sampling) the response status of
    /// this request: a record whose status is at or above its threshold is
    /// always kept. The tower layer sets it.
    pub fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// Writes the scope's one record: the common fields, `details`, and the
    /// lines kept so far, unless the [sampling policy](crate::Sampling)
    /// leaves it out. Lines logged after this are not recorded.
    ///
    /// Never blocks and never fails the caller: a record the producer
    /// refuses is counted in [`Relayer::stats`] and reported through
    /// `tracing::warn!`.
    pub fn finish<'a>(mut self, outcome: Outcome, details: impl Into<Details<'a>>) {
        self.write(outcome, Some(&details.into()));
    }

    /// The rules for secret query parameters of the scope's URLs.
    pub(crate) fn secret_params(&self) -> &SecretNames {
        self.state().secret_params()
    }

    fn state(&self) -> &ScopeState {
        self.relayer
            .scope_state()
            .expect("a scope's relayer is bound to it")
    }

    fn write(&mut self, outcome: Outcome, details: Option<&Details<'_>>) {
        self.finished = true;
        let mut kept = self.state().close();
        let shared = self.relayer.shared();
        if let Some(sampling) = &shared.sampling {
            let ending = Ending {
                trace_id: self.trace().trace_id,
                outcome,
                status: self.status,
                elapsed: self.state().started().elapsed(),
                forced: kept.forced,
            };
            if !sampling.keeps(&ending) {
                shared.sampled_out.fetch_add(1, Relaxed);
                #[cfg(feature = "metrics")]
                shared.sampled_out_total.increment(1);
                return;
            }
        }
        shared.lines_hint.learn(&kept.lines);
        let format = shared.wire_format;
        if !format.embeds_json() {
            // Lines and calls become what this form embeds, before their
            // sizes decide what fits.
            kept.lines = kept.lines.map(|line, out| format.embed(line, out));
            for (_, call) in &mut kept.calls {
                *call = embedded(format, call);
            }
        }
        let fields = fields(&shared.fields, &kept.fields);
        kept.calls.sort_by_key(|(order, _)| *order);
        let calls: Vec<&RawValue> = kept.calls.iter().map(|(_, entry)| &**entry).collect();
        let duration = match details {
            Some(details) => Duration::from_secs_f64(details.duration_ms().max(0.0) / 1000.0),
            None => self.state().started().elapsed(),
        };
        let mut record = Finished {
            source: &shared.source,
            logging_topic: &shared.logging_topic,
            logging_topic_name: &shared.logging_topic_name,
            resource: &shared.resource,
            start: self.date,
            duration,
            request_id: self.request_id(),
            generated_id: self.generated_id,
            outcome,
            trace: self.state().trace(),
            fields: &fields,
            details,
            too_large: None,
            calls: &calls,
            dropped_calls: kept.dropped_calls,
        };
        let max = shared.max_message_bytes;
        let lines = &mut kept.lines;
        let marker = |dropped| {
            let mut line = Vec::new();
            format.embed(&marker(dropped), &mut line);
            line
        };
        let mut dropped = kept.not_kept;
        let all = lines.len();
        if dropped > 0 {
            lines.push(&marker(dropped));
        }
        // The record is written into this thread's reused buffer: librdkafka
        // copies it, so it needs no allocation of its own.
        let result = with_buffer(|json| -> crate::Result<()> {
            json.reserve(lines.bytes() + RECORD_HEAD_ROOM);
            format.write(&record, lines.json(), json)?;
            if json.len() > max {
                // The lines shrink first: keep the first ones that fit, and
                // say how many were dropped.
                lines.truncate(all);
                let head_bytes = json.len() - lines.bytes();
                let budget = max.saturating_sub(head_bytes + MARKER_ROOM);
                let kept = lines.within(budget);
                dropped += all - kept;
                lines.truncate(kept);
                lines.push(&marker(dropped));
                format.write(&record, lines.json(), json)?;
            }
            if json.len() > max && !calls.is_empty() {
                // Then the calls: the first ones that fit stay, the others
                // are counted.
                let over = json.len() - max + MARKER_ROOM;
                let (mut kept, mut freed) = (calls.len(), 0);
                while kept > 0 && freed < over {
                    kept -= 1;
                    freed += calls[kept].get().len() + 1;
                }
                record.dropped_calls += calls.len() - kept;
                record.calls = &calls[..kept];
                format.write(&record, lines.json(), json)?;
            }
            if json.len() > max {
                // Its own fields are too large: a record that says so still
                // tells that the request happened, how it ended, and its id.
                // The lines shrank above, so the last one is the marker.
                let all_lines = lines.len() - 1 + dropped;
                let bare = Finished {
                    fields: &[],
                    details: None,
                    too_large: Some(json.len()),
                    calls: &[],
                    dropped_calls: 0,
                    ..record
                };
                format.write(&bare, &marker(all_lines), json)?;
            }
            self.relayer.send(&shared.logging_topic, None, &[], json)
        });
        if let Err(error) = result {
            shared.record_warnings.warn(|suppressed| {
                tracing::warn!(target: "relayer", request_id = self.request_id(), %error, suppressed, "request record not sent")
            });
        }
    }
}

/// A call entry as `format` embeds it.
fn embedded(format: WireFormat, call: &RawValue) -> Line {
    let mut json = Vec::new();
    format.embed(call.get().as_bytes(), &mut json);
    let json = String::from_utf8(json).expect("JSON is UTF-8");
    RawValue::from_string(json).expect("an embedded value is JSON")
}

/// The builder's fields and the request's, the request's winning.
fn fields<'a>(
    builder: &'a [(String, Line)],
    request: &'a [(String, Line)],
) -> Vec<(&'a str, &'a RawValue)> {
    let overridden = |name: &str| request.iter().any(|(set, _)| set == name);
    builder
        .iter()
        .filter(|(name, _)| !overridden(name))
        .chain(request)
        .map(|(name, value)| (name.as_str(), &**value))
        .collect()
}

/// The line that says how many lines were dropped from a record.
fn marker(dropped: usize) -> Vec<u8> {
    let message =
        format!("{dropped} lines dropped to fit the record into the maximum message size");
    serde_json::to_vec(&LogLine {
        log_level: "warning",
        payload: &serde_json::json!({ "message": message, "dropped_lines": dropped }),
        timestamp: Timestamp::now(),
    })
    .expect("a log line of a string and a number is JSON")
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.finished {
            self.write(Outcome::Cancelled, None);
        }
    }
}
