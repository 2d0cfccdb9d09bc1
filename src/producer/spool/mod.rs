//! The disk spool: where messages go when librdkafka's queue is full or the
//! producer is being replaced, instead of being dropped; replayed to Kafka
//! in order once the queue has room.
//!
//! Appends happen on the caller's thread: one `write` of the encoded record
//! into the page cache under a short lock, no `fsync` (a few microseconds;
//! see `benches/spool.rs`). A record is thus safe from a crash of the
//! process as soon as `append` returns, and from a crash of the machine
//! once the spool thread has synced it, within [`SYNC_EVERY`]. The spool
//! thread also replays records and deletes replayed segments.

mod record;
mod replay;
mod segment;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) use replay::Sent;
use segment::{SEGMENT_BYTES, Segment};

use super::{DeliveryCounters, Message};

/// How often the spool thread makes appended records durable (`fdatasync`).
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What [`Spool::append`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Written to the spool.
    Yes,
    /// Not written: the spool is empty and the message may go to Kafka
    /// directly (only when asked to append only while spooling).
    Inactive,
    /// Not written: the size cap is reached or the disk refused the write.
    Refused,
}

/// A directory of segment files, shared by the producer (appends) and the
/// spool thread (replay, sync).
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    counters: Arc<DeliveryCounters>,
    /// Set while the spool holds messages: later messages go through it too,
    /// so that order is kept. Read without the lock on the hot path.
    active: AtomicBool,
    state: Mutex<State>,
    /// Wakes the spool thread: new records, room in Kafka's queue, stop.
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct State {
    /// Oldest first; the last one is being written when `writer` is set.
    segments: VecDeque<Segment>,
    writer: Option<Arc<File>>,
    /// Bytes of good records in all segments: what the cap applies to.
    bytes: u64,
    next_sequence: u64,
    /// Files written since the last sync.
    unsynced: Vec<Arc<File>>,
    /// A segment was created or deleted since the last sync.
    dir_changed: bool,
    /// Encoding buffer, reused.
    buffer: Vec<u8>,
    stopped: bool,
    /// Replay waits while paused (shutdown moves messages into the spool).
    paused: bool,
    write_errors: u64,
}

impl Spool {
    /// Opens (creates) the spool in `dir` and counts what a previous process
    /// left there: replayed once the spool thread is started.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        counters: Arc<DeliveryCounters>,
    ) -> io::Result<Arc<Self>> {
        fs::create_dir_all(dir)?;
        let found = segment::scan(dir)?;
        let records: u64 = found.segments.iter().map(|s| s.records).sum();
        let bytes: u64 = found.segments.iter().map(|s| s.end).sum();
        if records > 0 || found.skipped_bytes > 0 {
            tracing::info!(
                target: "relayer",
                dir = %dir.display(),
                messages = records,
                bytes,
                skipped_bytes = found.skipped_bytes,
                "spool left by a previous process: replaying it"
            );
        }
        if found.skipped_bytes > 0 {
            tracing::warn!(
                target: "relayer",
                skipped_bytes = found.skipped_bytes,
                "torn or corrupt records in the spool skipped; their messages are lost"
            );
        }
        counters.recovered(records, bytes, found.skipped_bytes);
        let next_sequence = found.segments.last().map_or(0, |s| s.sequence + 1);
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            max_bytes,
            counters,
            active: AtomicBool::new(!found.segments.is_empty()),
            state: Mutex::new(State {
                segments: found.segments.into(),
                writer: None,
                bytes,
                next_sequence,
                unsynced: Vec::new(),
                dir_changed: false,
                buffer: Vec::new(),
                stopped: false,
                paused: false,
                write_errors: 0,
            }),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        }))
    }

    /// Starts the spool thread, which replays records through `sink`.
    pub(crate) fn start(
        self: &Arc<Self>,
        sink: impl FnMut(&Message<'_>) -> Sent + Send + 'static,
    ) -> io::Result<()> {
        let spool = self.clone();
        let handle = std::thread::Builder::new()
            .name("relayer-spool".into())
            .spawn(move || replay::run(&spool, sink))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    /// True while the spool holds messages that are not yet replayed.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Writes `message` to the spool. `new` says whether it is counted as
    /// produced here (else it was counted when it went to librdkafka's
    /// queue). With `only_while_active`, nothing is written when the spool
    /// is empty: the caller then sends directly, in order.
    pub(crate) fn append(
        &self,
        message: &Message<'_>,
        new: bool,
        only_while_active: bool,
    ) -> Appended {
        let mut state = self.state();
        if only_while_active && !self.is_active() {
            return Appended::Inactive;
        }
        let mut buffer = std::mem::take(&mut state.buffer);
        buffer.clear();
        let len = record::encode(message, &mut buffer) as u64;
        let appended = if state.bytes + len > self.max_bytes {
            Appended::Refused
        } else {
            match self.write(&mut state, &buffer) {
                Ok(()) => {
                    state.bytes += len;
                    self.active.store(true, Ordering::Release);
                    self.counters.spooled(new, len);
                    self.wake.notify_one();
                    Appended::Yes
                }
                Err(error) => {
                    state.write_errors += 1;
                    if state.write_errors.is_power_of_two() {
                        tracing::error!(target: "relayer", %error, dir = %self.dir.display(), "spool write failed");
                    }
                    Appended::Refused
                }
            }
        };
        state.buffer = buffer;
        appended
    }

    /// Appends `bytes` (whole records) to the current segment, starting a
    /// new one when there is none or it is full.
    fn write(&self, state: &mut State, bytes: &[u8]) -> io::Result<()> {
        let full = state.segments.back().is_none_or(|s| s.end >= SEGMENT_BYTES);
        if state.writer.is_none() || full {
            let sequence = state.next_sequence;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment::path(&self.dir, sequence))?;
            state.next_sequence += 1;
            if let Some(old) = state.writer.replace(Arc::new(file)) {
                state.unsynced.push(old);
            }
            state.segments.push_back(Segment::new(sequence));
            state.dir_changed = true;
        }
        let writer = state.writer.clone().expect("a segment is open");
        if let Err(error) = (&*writer).write_all(bytes) {
            // A partial record would misalign the ones after it: cut it
            // off, and start a new segment next time.
            let end = state.segments.back().map_or(0, |s| s.end);
            let _ = writer.set_len(end);
            state.writer = None;
            state.unsynced.push(writer);
            return Err(error);
        }
        let segment = state.segments.back_mut().expect("a segment is open");
        segment.end += bytes.len() as u64;
        segment.records += 1;
        Ok(())
    }

    /// Makes every appended record durable.
    pub(crate) fn sync(&self) {
        let (files, dir_changed) = {
            let mut state = self.state();
            let mut files = std::mem::take(&mut state.unsynced);
            files.extend(state.writer.clone());
            (files, std::mem::take(&mut state.dir_changed))
        };
        for file in files {
            if let Err(error) = file.sync_data() {
                tracing::warn!(target: "relayer", %error, "spool sync failed");
            }
        }
        if dir_changed && let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
    }

    /// Pauses or resumes replay.
    pub(crate) fn pause(&self, paused: bool) {
        self.state().paused = paused;
        self.wake.notify_all();
    }

    /// Wakes the spool thread, e.g. when a new producer is ready.
    pub(crate) fn wake(&self) {
        self.wake.notify_all();
    }

    /// Stops the spool thread and syncs; appends still work afterwards.
    pub(crate) fn stop(&self) {
        self.state().stopped = true;
        self.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.sync();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.sync();
    }
}
