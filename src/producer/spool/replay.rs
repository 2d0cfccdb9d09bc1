//! The replay thread: sends spooled records in order, sends again the ones
//! purged from the queue or timed out, deletes segments once every record
//! in them is delivered, and records at a stop how far each one was.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Take};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::record::{self, Next, Record};
use super::{Spool, files};
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

/// How long to sleep when there is nothing to do and nobody wakes us.
const IDLE: Duration = Duration::from_secs(1);

/// An open segment, positioned at `offset`. It never reads ahead past
/// the records written in full: the writer may be halfway through the
/// next one.
struct Input {
    sequence: u64,
    offset: u64,
    reader: BufReader<Take<File>>,
}

/// A record read but not taken yet (the queue was full).
struct Pending {
    sequence: u64,
    offset: u64,
    size: u64,
    record: Record,
}

pub(super) fn run(spool: &Spool, mut sink: impl FnMut(&Message<'_>, u64) -> Sent) {
    let mut input: Option<Input> = None;
    let mut pending: Option<Pending> = None;
    let mut body = Vec::new();
    loop {
        // What to read next, or wait for something to do.
        let (sequence, offset, end) = {
            let mut state = spool.state();
            if state.stopped {
                save_cursors(spool, &state);
                return;
            }
            let empty = spool.in_spool.load(Ordering::Acquire) == 0;
            let done: Vec<(u64, u64)> = state
                .segments
                .values()
                .filter(|s| s.is_done() && state.early != Some(s.sequence))
                .filter(|s| empty || state.tail != Some(s.sequence))
                .map(|s| (s.sequence, s.end))
                .collect();
            if !done.is_empty() {
                for (sequence, _) in &done {
                    state.segments.remove(sequence);
                    if state.tail == Some(*sequence) {
                        state.tail = None;
                    }
                }
                drop(state);
                delete(spool, &done);
                continue;
            }
            if state.paused {
                drop(spool.wake.wait_timeout(state, IDLE));
                continue;
            }
            if state.again {
                if state.segments.values().any(|s| s.in_flight()) {
                    drop(spool.wake.wait_timeout(state, RETRY_AFTER));
                    continue;
                }
                state.segments.values_mut().for_each(|s| s.rewind());
                state.again = false;
                pending = None;
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
                None => {
                    drop(spool.wake.wait_timeout(state, IDLE));
                    continue;
                }
            }
        };
        let (record, size) = match pending.take() {
            Some(p) if (p.sequence, p.offset) == (sequence, offset) => (p.record, p.size),
            _ => match read(spool, &mut input, sequence, offset, end, &mut body) {
                Some(read) => read,
                None => {
                    input = None;
                    lose_rest(spool, sequence, end - offset);
                    continue;
                }
            },
        };
        let ticket = {
            let mut state = spool.state();
            let Some(segment) = state.segments.get_mut(&sequence) else {
                continue;
            };
            if segment.delivered_before(offset, size) {
                continue;
            }
            segment.sending(offset, size);
            let ticket = spool.next_ticket.fetch_add(1, Ordering::Relaxed);
            state.tickets.insert(ticket, (sequence, offset));
            ticket
        };
        match record.with_message(|message| sink(message, ticket)) {
            Sent::Queued => {}
            Sent::Later => {
                let mut state = spool.state();
                state.tickets.remove(&ticket);
                if let Some(segment) = state.segments.get_mut(&sequence) {
                    segment.not_sent(offset);
                }
                pending = Some(Pending {
                    sequence,
                    offset,
                    size,
                    record,
                });
                if !state.stopped {
                    drop(spool.wake.wait_timeout(state, RETRY_AFTER));
                }
            }
            Sent::Refused(error) => {
                spool.report(ticket, &record.topic, super::Report::Failed(&error))
            }
        }
    }
}

/// Reads the record at `offset` of segment `sequence` (which holds `end`
/// bytes of records): with the open input when it is there, else opening
/// the file. `None` when it cannot be read.
fn read(
    spool: &Spool,
    input: &mut Option<Input>,
    sequence: u64,
    offset: u64,
    end: u64,
    body: &mut Vec<u8>,
) -> Option<(Record, u64)> {
    if input
        .as_ref()
        .is_none_or(|i| (i.sequence, i.offset) != (sequence, offset))
    {
        let mut file = File::open(files::path(&spool.dir, sequence)).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        *input = Some(Input {
            sequence,
            offset,
            reader: BufReader::with_capacity(256 * 1024, file.take(0)),
        });
    }
    let at = input.as_mut().expect("opened above");
    let buffered = at.reader.buffer().len() as u64;
    at.reader
        .get_mut()
        .set_limit(end.saturating_sub(offset + buffered));
    match record::read(&mut at.reader, end - offset, body) {
        Ok(Next::Record(record, size)) => {
            at.offset += size;
            Some((record, size))
        }
        Ok(Next::End | Next::Corrupt) | Err(_) => None,
    }
}

/// The rest of a segment cannot be read: the messages not yet sent are
/// lost, counted as failed in one count, and its bytes as skipped. A
/// segment being written is sealed: later messages go to a new one.
fn lose_rest(spool: &Spool, sequence: u64, bytes: u64) {
    let lost = {
        let mut state = spool.state();
        if state.tail == Some(sequence) {
            state.tail = None;
        }
        state
            .segments
            .get_mut(&sequence)
            .map_or(0, |segment| segment.lose_rest())
    };
    tracing::warn!(target: "relayer", lost, bytes, "spool segment corrupt or unreadable: messages lost");
    spool.counters.update().spool_skipped(bytes);
    spool.lost("spool", lost, &"spool record corrupt or unreadable");
}

/// Deletes segments whose records are all delivered.
fn delete(spool: &Spool, segments: &[(u64, u64)]) {
    for (sequence, end) in segments {
        spool.bytes.fetch_sub(*end, Ordering::AcqRel);
        spool.counters.update().spool_bytes(-(*end as i64));
        if let Err(error) = files::remove(&spool.dir, *sequence) {
            tracing::warn!(target: "relayer", %error, "could not delete a delivered spool segment");
        }
    }
    spool.dir_changed.store(true, Ordering::Release);
}

/// At a stop, records for every segment still there which records were
/// delivered: the next process must not send them a second time.
fn save_cursors(spool: &Spool, state: &super::State) {
    for segment in state.segments.values() {
        if let Some(cursor) = segment.cursor()
            && let Err(error) = files::write_cursor(&spool.dir, segment.sequence, &cursor)
        {
            tracing::warn!(target: "relayer", %error, "could not record how far the spool was delivered");
        }
    }
}
