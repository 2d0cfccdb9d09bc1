//! The spool thread: hands spooled records to Kafka in order, deletes
//! replayed segments, and syncs appended ones every [`SYNC_EVERY`].

use std::fs::{self, File};
use std::io::{BufReader, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::record::{self, Next, Record};
use super::segment;
use super::{SYNC_EVERY, Spool};
use crate::producer::Message;

/// What the sink did with a replayed message.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Handed to librdkafka's queue.
    Queued,
    /// Not now: the queue is full or the producer is being replaced.
    Later,
    /// Refused for good (counted as failed), e.g. too large for librdkafka.
    Refused(String),
}

/// How long to wait before offering a message again to a full queue.
const RETRY_AFTER: Duration = Duration::from_millis(5);

/// Where the replay is: an open segment and the offset of the next record.
struct Cursor {
    sequence: u64,
    offset: u64,
    replayed: u64,
    input: BufReader<File>,
}

pub(super) fn run(spool: &Spool, mut sink: impl FnMut(&Message<'_>) -> Sent) {
    let mut cursor: Option<Cursor> = None;
    let mut pending: Option<(Record, u64)> = None;
    let mut body = Vec::new();
    let mut synced = Instant::now();
    loop {
        if synced.elapsed() >= SYNC_EVERY {
            spool.sync();
            synced = Instant::now();
        }
        // Where to read next, or wait for something to do.
        let (sequence, start, end, records) = {
            let state = spool.state();
            if state.stopped {
                drop(state);
                save_cursor(spool, cursor.as_ref());
                return;
            }
            let idle = state.paused || state.segments.is_empty();
            if idle {
                let wait = SYNC_EVERY.saturating_sub(synced.elapsed());
                drop(spool.wake.wait_timeout(state, wait));
                continue;
            }
            let front = state.segments.front().expect("not empty");
            (front.sequence, front.start, front.end, front.records)
        };
        if cursor.as_ref().is_none_or(|c| c.sequence != sequence) {
            cursor = open(spool, sequence, start);
            if cursor.is_none() {
                lose_rest(spool, records, 0, end - start, "spool segment unreadable");
                drop_front(spool, sequence, 0);
                continue;
            }
        }
        let at = cursor.as_mut().expect("just opened");
        if pending.is_none() && at.offset >= end {
            drop_front(spool, sequence, at.offset);
            continue;
        }
        if pending.is_none() {
            match record::read(&mut at.input, end - at.offset, &mut body) {
                Ok(Next::Record(record, size)) => pending = Some((record, size)),
                Ok(Next::End) => continue,
                Ok(Next::Corrupt) | Err(_) => {
                    lose_rest(
                        spool,
                        records,
                        at.replayed,
                        end - at.offset,
                        "spool record corrupt",
                    );
                    at.offset = end;
                    continue;
                }
            }
        }
        let (record, size) = pending.take().expect("read above");
        // Counted out of the spool once handed over: librdkafka reports a
        // delivery after `linger.ms` at the earliest, long after this.
        match record.with_message(|message| sink(message)) {
            Sent::Queued => {
                spool.counters.unspooled(&record.topic, None);
                advance(at, size);
            }
            Sent::Refused(error) => {
                spool.counters.unspooled(&record.topic, Some(&error));
                advance(at, size);
            }
            Sent::Later => {
                pending = Some((record, size));
                let state = spool.state();
                if !state.stopped {
                    drop(spool.wake.wait_timeout(state, RETRY_AFTER));
                }
            }
        }
    }
}

fn advance(at: &mut Cursor, size: u64) {
    at.offset += size;
    at.replayed += 1;
}

fn open(spool: &Spool, sequence: u64, start: u64) -> Option<Cursor> {
    let mut file = File::open(segment::path(&spool.dir, sequence)).ok()?;
    file.seek(SeekFrom::Start(start)).ok()?;
    Some(Cursor {
        sequence,
        offset: start,
        replayed: 0,
        input: BufReader::with_capacity(256 * 1024, file),
    })
}

/// At a stop, records how far the front segment was replayed: what was
/// handed to Kafka is delivered or, purged at shutdown, spooled again in a
/// newer segment; the next start must not send it a second time.
fn save_cursor(spool: &Spool, cursor: Option<&Cursor>) {
    if let Some(cursor) = cursor.filter(|c| c.replayed > 0)
        && let Err(error) = segment::write_cursor(&spool.dir, cursor.sequence, cursor.offset)
    {
        tracing::warn!(target: "relayer", %error, "could not record how far the spool was replayed");
    }
}

/// Every record of the front segment up to `offset` is replayed: delete
/// it, unless more records came meanwhile. When it was the last one, the
/// spool is empty and later messages go to Kafka directly.
fn drop_front(spool: &Spool, sequence: u64, offset: u64) {
    let mut state = spool.state();
    match state.segments.front() {
        Some(front) if front.sequence == sequence && front.end <= offset => {}
        Some(front) if front.sequence == sequence && offset == 0 => {}
        _ => return,
    }
    let front = state.segments.pop_front().expect("checked");
    if state.segments.is_empty() {
        // It was the one being written: later appends start a new one.
        state.writer = None;
        spool.active.store(false, Ordering::Release);
    }
    state.bytes -= front.end;
    state.dir_changed = true;
    drop(state);
    spool.counters.spool_bytes(-(front.end as i64));
    if let Err(error) = fs::remove_file(front.path(&spool.dir)) {
        tracing::warn!(target: "relayer", %error, "could not delete a replayed spool segment");
    }
    let _ = fs::remove_file(segment::cursor_path(&spool.dir, front.sequence));
}

/// The rest of a segment cannot be read: its messages are lost, counted as
/// failed, and its bytes as skipped.
fn lose_rest(spool: &Spool, records: u64, replayed: u64, bytes: u64, why: &str) {
    tracing::warn!(target: "relayer", lost = records - replayed, bytes, "{why}: messages lost");
    for _ in replayed..records {
        spool.counters.unspooled("spool", Some(&why));
    }
    spool.counters.spool_skipped(bytes);
}
