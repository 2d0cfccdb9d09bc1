//! The replay thread: sends spooled records in order, at most
//! [`Tuning::replay_in_flight`](super::Tuning) at a time, sends again the
//! ones purged from the queue or timed out, writes the ledger as their
//! reports come, and deletes segments once every record in them is
//! delivered.

use std::io::{self, BufReader, Read, Seek, SeekFrom, Take};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::disk::ReadFile;
use super::record::{self, Next, Record};
use super::retry::Retry;
use super::{Report, Spool, files, ledger};
use crate::producer::Message;

/// What the sink did with a replayed message.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Handed to librdkafka's queue: its report comes to [`Spool::report`].
    Queued,
    /// Not now: the queue is full or the producer is being replaced.
    Later,
    /// Refused for good (counted as failed), e.g. too large for librdkafka.
    Refused(String),
}

/// How long to wait before offering a message again to a full queue.
const RETRY_AFTER: Duration = Duration::from_millis(5);

/// How long to wait when there is nothing to do and nobody wakes us.
const IDLE: Duration = Duration::from_secs(1);

/// What one step of replay did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Something: step again.
    Worked,
    /// Nothing to do for up to this long, unless there is news since
    /// `news`.
    Wait { at_most: Duration, news: u64 },
    /// Stopped, the ledger written.
    Stopped,
}

/// An open segment, positioned at `offset`. It never reads ahead past
/// the records written in full: the writer may be halfway through the
/// next one.
struct Input {
    sequence: u64,
    offset: u64,
    reader: BufReader<Take<Box<dyn ReadFile>>>,
}

/// A record read but not taken yet (the queue was full).
struct Pending {
    sequence: u64,
    offset: u64,
    size: u64,
    record: Record,
}

/// Replay's position and what it keeps between steps.
#[derive(Default)]
pub(super) struct Replay {
    input: Option<Input>,
    pending: Option<Pending>,
    body: Vec<u8>,
    /// When the ledger was last written.
    ledger_at: Option<Instant>,
    /// Reading, deleting and writing the ledger are each tried again after
    /// a backoff when they fail; none holds the others up.
    reads: Retry,
    deletes: Retry,
    ledgers: Retry,
}

/// `retry` failed with `error`: tried again after a backoff, and said
/// once per run of errors, doubling.
fn failed(retry: &mut Retry, spool: &Spool, error: &io::Error, what: &str) {
    if retry.failed(spool) {
        tracing::warn!(target: "relayer", %error, dir = %spool.dir.display(), backoff = ?retry.backoff(), "{what}");
    }
}

pub(super) fn run(spool: &Spool, mut sink: impl FnMut(&Message<'_>, u64) -> Sent) {
    let mut replay = Replay::default();
    loop {
        match replay.step(spool, &mut sink) {
            Step::Worked => {}
            Step::Stopped => return,
            Step::Wait { at_most, news } => {
                let mut state = spool.state();
                if state.news == news {
                    state.waiting = true;
                    state = spool
                        .wake
                        .wait_timeout(state, at_most)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    state.waiting = false;
                }
            }
        }
    }
}

impl Replay {
    /// Does the next thing replay has to do.
    pub(super) fn step(
        &mut self,
        spool: &Spool,
        sink: &mut impl FnMut(&Message<'_>, u64) -> Sent,
    ) -> Step {
        // What to read next, or what else to do.
        let (sequence, offset, end) = {
            let mut state = spool.state();
            let news = state.news;
            if state.stopped {
                drop(state);
                // The last write; an error was already said.
                let _ = self.write_ledger(spool);
                return Step::Stopped;
            }
            let empty = spool.in_spool.load(Ordering::Acquire) == 0;
            let done: Vec<(u64, u64)> = state
                .segments
                .values()
                .filter(|s| s.is_done() && state.early != Some(s.sequence))
                .filter(|s| empty || state.tail != Some(s.sequence))
                .map(|s| (s.sequence, s.end))
                .collect();
            if !done.is_empty() && self.deletes.due() {
                drop(state);
                return self.delete(spool, &done);
            }
            let ledger_due = state.ledger_dirty
                && self.ledgers.due()
                && (state.acks >= spool.tuning.ledger_acks
                    || self
                        .ledger_at
                        .is_none_or(|at| at.elapsed() >= spool.tuning.ledger_every));
            if ledger_due {
                drop(state);
                return self.write_ledger(spool);
            }
            // At most so long before the ledger, or a delete, is due.
            let mut idle = IDLE;
            if state.ledger_dirty {
                let since = self.ledger_at.map_or(Duration::ZERO, |at| at.elapsed());
                let due = spool.tuning.ledger_every.saturating_sub(since);
                idle = idle.min(due.max(self.ledgers.left()));
            }
            if !done.is_empty() {
                idle = idle.min(self.deletes.left());
            }
            let wait = |at_most: Duration| Step::Wait {
                at_most: at_most.min(idle),
                news,
            };
            if state.paused || state.purges > 0 {
                return wait(IDLE);
            }
            if state.again {
                if !state.tickets.is_empty() {
                    return wait(IDLE);
                }
                state.segments.values_mut().for_each(|s| s.rewind());
                state.again = false;
                self.pending = None;
                self.input = None;
            }
            if state.tickets.len() >= spool.tuning.replay_in_flight {
                return wait(IDLE);
            }
            // In order; not past purged messages still being written.
            let early = state.early;
            let next = state
                .segments
                .values_mut()
                .take_while(|s| early != Some(s.sequence))
                .find_map(|s| Some((s.sequence, s.next_read()?, s.end)));
            match next {
                Some(next) => next,
                None => return wait(IDLE),
            }
        };
        let (record, size) = match self.pending.take() {
            Some(p) if (p.sequence, p.offset) == (sequence, offset) => (p.record, p.size),
            _ => match self.read(spool, sequence, offset, end) {
                Ok(Next::Record(record, size)) => (record, size),
                Ok(Next::End | Next::Corrupt) => {
                    self.input = None;
                    lose_rest(spool, sequence, offset, "spool record corrupt");
                    return Step::Worked;
                }
                // The file is shorter than what was written to it, or gone.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::UnexpectedEof | io::ErrorKind::NotFound
                    ) =>
                {
                    self.input = None;
                    lose_rest(spool, sequence, offset, "spool segment cut short or gone");
                    return Step::Worked;
                }
                Err(error) => {
                    self.input = None;
                    failed(
                        &mut self.reads,
                        spool,
                        &error,
                        "could not read the spool; trying again",
                    );
                    return Step::Wait {
                        at_most: self.reads.backoff(),
                        news: spool.state().news,
                    };
                }
            },
        };
        self.reads.succeeded();
        let ticket = {
            let mut state = spool.state();
            let Some(segment) = state.segments.get_mut(&sequence) else {
                return Step::Worked;
            };
            if segment.delivered_before(offset, size) {
                return Step::Worked;
            }
            segment.sending(offset, size);
            let ticket = spool.next_ticket.fetch_add(1, Ordering::Relaxed);
            state.tickets.insert(ticket, (sequence, offset));
            ticket
        };
        match record.with_message(|message| sink(message, ticket)) {
            Sent::Queued => Step::Worked,
            Sent::Later => {
                let mut state = spool.state();
                state.tickets.remove(&ticket);
                if let Some(segment) = state.segments.get_mut(&sequence) {
                    segment.not_sent(offset);
                }
                self.pending = Some(Pending {
                    sequence,
                    offset,
                    size,
                    record,
                });
                Step::Wait {
                    at_most: RETRY_AFTER,
                    news: state.news,
                }
            }
            Sent::Refused(error) => {
                spool.report(ticket, &record.topic, Report::Failed(&error));
                Step::Worked
            }
        }
    }

    /// Reads the record at `offset` of segment `sequence` (which holds `end`
    /// bytes of records): with the open input when it is there, else opening
    /// the file.
    fn read(&mut self, spool: &Spool, sequence: u64, offset: u64, end: u64) -> io::Result<Next> {
        if self
            .input
            .as_ref()
            .is_none_or(|i| (i.sequence, i.offset) != (sequence, offset))
        {
            self.input = None;
            let mut file = spool.disk.open(&files::path(&spool.dir, sequence))?;
            file.seek(SeekFrom::Start(offset))?;
            self.input = Some(Input {
                sequence,
                offset,
                reader: BufReader::with_capacity(256 * 1024, file.take(0)),
            });
        }
        let at = self.input.as_mut().expect("opened above");
        let buffered = at.reader.buffer().len() as u64;
        at.reader
            .get_mut()
            .set_limit(end.saturating_sub(offset + buffered));
        let next = record::read(&mut at.reader, end - offset, &mut self.body);
        match &next {
            Ok(Next::Record(_, size)) => at.offset += size,
            // Where it stopped is unknown: open again next time.
            Err(_) => self.input = None,
            Ok(_) => {}
        }
        next
    }

    /// Deletes segments whose records are all delivered. One that cannot
    /// be deleted stays, in the ledger too, and is tried again later.
    fn delete(&mut self, spool: &Spool, segments: &[(u64, u64)]) -> Step {
        for (sequence, end) in segments {
            if let Err(error) = spool.disk.remove(&files::path(&spool.dir, *sequence)) {
                failed(
                    &mut self.deletes,
                    spool,
                    &error,
                    "could not delete a delivered spool segment",
                );
                return Step::Worked;
            }
            spool.dir_changed.store(true, Ordering::Release);
            let mut state = spool.state();
            state.segments.remove(sequence);
            if state.tail == Some(*sequence) {
                state.tail = None;
            }
            state.ledger_dirty = true;
            drop(state);
            spool.bytes.fetch_sub(*end, Ordering::AcqRel);
            spool.counters.update().spool_bytes(-(*end as i64));
        }
        self.deletes.succeeded();
        Step::Worked
    }

    /// Writes how far every segment was delivered. One that fails is
    /// written again later: more may be sent twice after a crash
    /// meanwhile, none is lost.
    fn write_ledger(&mut self, spool: &Spool) -> Step {
        let (entries, acks): (Vec<ledger::Entry>, u64) = {
            let mut state = spool.state();
            let acks = std::mem::take(&mut state.acks);
            state.ledger_dirty = false;
            let entries = state
                .segments
                .values()
                .filter_map(|segment| segment.ledger_entry())
                .collect();
            (entries, acks)
        };
        self.ledger_at = Some(Instant::now());
        match ledger::write(&*spool.disk, &spool.dir, &entries) {
            Ok(()) => {
                spool.dir_changed.store(true, Ordering::Release);
                self.ledgers.succeeded();
            }
            Err(error) => {
                let mut state = spool.state();
                state.ledger_dirty = true;
                state.acks += acks;
                drop(state);
                failed(
                    &mut self.ledgers,
                    spool,
                    &error,
                    "could not write the spool ledger",
                );
            }
        }
        Step::Worked
    }
}

/// The record at `at` of a segment cannot be read: it and the rest are
/// lost, counted as failed in one count, and their bytes as skipped. A
/// segment being written is sealed: later messages go to a new one.
fn lose_rest(spool: &Spool, sequence: u64, at: u64, why: &'static str) {
    let (lost, bytes) = {
        let mut state = spool.state();
        if state.tail == Some(sequence) {
            state.tail = None;
        }
        state.ledger_dirty = true;
        state.segments.get_mut(&sequence).map_or((0, 0), |segment| {
            let bytes = segment.end - at;
            (segment.lose_rest(at), bytes)
        })
    };
    tracing::warn!(target: "relayer", lost, bytes, "{why}: messages lost");
    spool.counters.update().spool_skipped(bytes);
    spool.lost("spool", lost, &why);
}
