//! The writer thread: appends the records it is handed to segment files,
//! in the order it is handed them, and makes them durable every
//! [`Tuning::sync_every`](super::Tuning). The only thread that writes to
//! segments.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use super::disk::WriteFile;
use super::retry::Retry;
use super::segment::Segment;
use super::{Spool, State, files, record};

/// What the writer thread is told.
pub(super) enum Command {
    /// Append one encoded record: to the early segment (a purged message)
    /// or to the tail.
    Append { record: Vec<u8>, early: bool },
    /// The purged messages so far are all written: later ones go after them.
    Seal,
    /// Write what came before, sync, and exit.
    Stop(SyncSender<()>),
}

/// What the writer thread takes from its queue at once.
pub(super) enum Work {
    /// Records for the same segment, in order: one write.
    Append {
        records: Vec<Vec<u8>>,
        early: bool,
    },
    Seal,
    Stop(SyncSender<()>),
    /// Nothing within the wait.
    Idle,
    /// The stop's deadline passed: exit, writing nothing more.
    Abandoned,
}

/// Records waiting for the same segment are written together, up to this
/// many bytes: one `write` for many records.
const BATCH_BYTES: usize = 1024 * 1024;

/// A segment file open for appending.
struct Open {
    sequence: u64,
    file: Box<dyn WriteFile>,
    /// Where its good records end: where the next one goes.
    end: u64,
}

/// The writer's files and its state between commands.
#[derive(Default)]
pub(super) struct Writer {
    tail: Option<Open>,
    early: Option<Open>,
    /// Files written since the last sync that are no longer open.
    unsynced: Vec<Box<dyn WriteFile>>,
    /// After a failed write: records are failed without trying until due.
    writes: Retry,
    /// A batch's records, one after the other: reused.
    buffer: Vec<u8>,
}

pub(super) fn run(spool: &Spool) {
    let mut writer = Writer::default();
    let mut synced = Instant::now();
    loop {
        let wait = spool.tuning.sync_every.saturating_sub(synced.elapsed());
        match spool.next_work(wait) {
            Work::Stop(reply) => {
                writer.sync(spool);
                let _ = reply.send(());
                return;
            }
            Work::Abandoned => return,
            work => writer.handle(spool, work),
        }
        if synced.elapsed() >= spool.tuning.sync_every {
            writer.sync(spool);
            synced = Instant::now();
        }
    }
}

impl Spool {
    /// The writer's next work: waits up to `wait` for some.
    fn next_work(&self, wait: Duration) -> Work {
        let deadline = Instant::now() + wait;
        let mut queue = self.queue();
        loop {
            if queue.abandoned {
                return Work::Abandoned;
            }
            if !queue.commands.is_empty() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Work::Idle;
            }
            queue.idle = true;
            queue = self
                .work
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            queue.idle = false;
        }
        let (record, early) = match queue.commands.pop_front() {
            Some(Command::Append { record, early }) => (record, early),
            Some(Command::Seal) => return Work::Seal,
            Some(Command::Stop(reply)) => return Work::Stop(reply),
            None => return Work::Idle,
        };
        // What else waits for the same segment: one write.
        let mut bytes = record.len();
        let mut records = vec![record];
        while bytes < BATCH_BYTES {
            match queue.commands.front() {
                Some(Command::Append { early: same, .. }) if *same == early => {}
                _ => break,
            }
            let Some(Command::Append { record, .. }) = queue.commands.pop_front() else {
                break;
            };
            bytes += record.len();
            records.push(record);
        }
        queue.messages -= records.len() as u64;
        queue.bytes -= bytes as u64;
        Work::Append { records, early }
    }
}

impl Writer {
    /// Does `work` (but stopping, which [`run`] does).
    pub(super) fn handle(&mut self, spool: &Spool, work: Work) {
        match work {
            Work::Append { records, early } => self.append(spool, &records, early),
            Work::Seal => {
                if let Some(open) = self.early.take() {
                    self.unsynced.push(open.file);
                }
                let mut state = spool.state();
                state.early = None;
                state.purges = state.purges.saturating_sub(1);
                spool.news(&mut state);
            }
            Work::Stop(_) | Work::Idle | Work::Abandoned => {}
        }
    }

    /// Does everything queued, without waiting: the fault harness's writer
    /// thread. Returns the reply of a stop found on the way.
    #[cfg(test)]
    pub(super) fn drain(&mut self, spool: &Spool) -> Option<SyncSender<()>> {
        loop {
            match spool.next_work(Duration::ZERO) {
                Work::Stop(reply) => {
                    self.sync(spool);
                    return Some(reply);
                }
                Work::Idle | Work::Abandoned => return None,
                work => self.handle(spool, work),
            }
        }
    }

    /// Writes `batch`, records for the early segment or for the tail, in
    /// order; counts each one that cannot be written as failed. Records
    /// that land in a segment found damaged meanwhile are written again to
    /// a new one.
    fn append(&mut self, spool: &Spool, batch: &[Vec<u8>], early: bool) {
        let result = if self.writes.due() {
            self.write(spool, batch, early).map_err(Some)
        } else {
            Err(None)
        };
        let result = match result {
            // Once more, to a new segment.
            Ok(false) => self.write(spool, batch, early).map_err(Some),
            other => other,
        };
        match result {
            Ok(true) => {
                self.writes.succeeded();
                spool.wake();
            }
            Ok(false) | Err(_) => {
                if let Err(Some(error)) = &result {
                    let say = self.writes.failed(spool);
                    let backoff = self.writes.backoff();
                    spool.refuse_for(backoff);
                    if say {
                        tracing::error!(target: "relayer", %error, dir = %spool.dir.display(), ?backoff, "spool write failed; refusing messages meanwhile");
                    }
                }
                for record in batch {
                    spool.bytes.fetch_sub(record.len() as u64, Ordering::AcqRel);
                    spool.lost(record::topic(record), 1, &"the spool could not write it");
                }
            }
        }
    }

    /// Appends the whole `batch` to its segment with one write, starting
    /// a segment when there is none (or it is full, sealed or damaged).
    /// False when the segment was found damaged meanwhile: the records
    /// cannot be read back from it.
    fn write(&mut self, spool: &Spool, batch: &[Vec<u8>], early: bool) -> io::Result<bool> {
        let mut bytes = std::mem::take(&mut self.buffer);
        bytes.clear();
        for record in batch {
            bytes.extend_from_slice(record);
        }
        let written = self.write_bytes(spool, &bytes, early);
        self.buffer = bytes;
        let sequence = written?;
        let mut state = spool.state();
        let segment = state.segments.get_mut(&sequence);
        let at = segment.as_ref().map_or(0, |segment| segment.end);
        let appended =
            segment.is_some_and(|segment| segment.appended(batch.iter().map(|r| r.len() as u64)));
        #[cfg(test)]
        if appended {
            let mut written = super::lock(&spool.written);
            let offsets = batch.iter().scan(at, |offset, record| {
                let this = *offset;
                *offset += record.len() as u64;
                Some(this)
            });
            for (record, offset) in batch.iter().zip(offsets) {
                written.push((sequence, offset, record.clone()));
            }
        }
        #[cfg(not(test))]
        let _ = at;
        if !appended {
            // Sealed: the next write starts a new segment.
            if state.tail == Some(sequence) {
                state.tail = None;
            }
            return Ok(false);
        }
        drop(state);
        spool
            .counters
            .update()
            .spool_bytes(self.buffer.len() as i64);
        Ok(true)
    }

    /// Appends `bytes` to the segment they go to; returns its sequence.
    fn write_bytes(&mut self, spool: &Spool, bytes: &[u8], early: bool) -> io::Result<u64> {
        let open = if early {
            self.early_segment(spool)?
        } else {
            self.tail_segment(spool)?
        };
        match open.file.write_all(bytes) {
            Ok(()) => {
                open.end += bytes.len() as u64;
                Ok(open.sequence)
            }
            Err(error) => {
                // A partial record would misalign the ones after it: cut it
                // off, and write the next one at the same place; or, if
                // that fails too, in a new segment.
                if open.file.set_len(open.end).is_err() {
                    self.seal(spool, early);
                }
                Err(error)
            }
        }
    }

    /// Lets go of the segment `early` or tail: the next record starts a new
    /// one.
    fn seal(&mut self, spool: &Spool, early: bool) {
        let open = if early {
            self.early.take()
        } else {
            self.tail.take()
        };
        let Some(open) = open else { return };
        self.unsynced.push(open.file);
        let mut state = spool.state();
        if early && state.early == Some(open.sequence) {
            state.early = None;
        } else if !early && state.tail == Some(open.sequence) {
            state.tail = None;
        }
    }

    fn tail_segment(&mut self, spool: &Spool) -> io::Result<&mut Open> {
        let current = self.tail.as_ref().map(|open| open.sequence);
        let usable = {
            let state = spool.state();
            current.is_some_and(|sequence| {
                state.tail == Some(sequence)
                    && state.segments.get(&sequence).is_some_and(|segment| {
                        segment.end < spool.tuning.segment_bytes && !segment.is_corrupt()
                    })
            })
        };
        if !usable {
            let sequence = {
                let mut state = spool.state();
                state.next_sequence += 1;
                state.next_sequence - 1
            };
            let open = Self::create(spool, sequence, |state| state.tail = Some(sequence))?;
            if let Some(old) = self.tail.replace(open) {
                self.unsynced.push(old.file);
            }
        }
        Ok(self.tail.as_mut().expect("opened above"))
    }

    /// The segment for purged messages: numbered before every other one,
    /// so that they are replayed first; the tail is sealed, so that later
    /// messages go after them.
    fn early_segment(&mut self, spool: &Spool) -> io::Result<&mut Open> {
        let usable = self.early.as_ref().is_some_and(|open| {
            spool
                .state()
                .segments
                .get(&open.sequence)
                .is_some_and(|segment| !segment.is_corrupt())
        });
        if !usable {
            if let Some(old) = self.early.take() {
                self.unsynced.push(old.file);
            }
            let sequence = {
                let mut state = spool.state();
                state.floor -= 1;
                state.floor
            };
            let open = Self::create(spool, sequence, |state| {
                state.early = Some(sequence);
                state.tail = None;
            })?;
            self.early = Some(open);
        }
        Ok(self.early.as_mut().expect("opened above"))
    }

    fn create(spool: &Spool, sequence: u64, then: impl FnOnce(&mut State)) -> io::Result<Open> {
        let file = spool.disk.create(&files::path(&spool.dir, sequence))?;
        spool.dir_changed.store(true, Ordering::Release);
        let mut state = spool.state();
        state.segments.insert(sequence, Segment::new(sequence));
        then(&mut state);
        Ok(Open {
            sequence,
            file,
            end: 0,
        })
    }

    /// Makes every written record durable, and the directory's changes.
    pub(super) fn sync(&mut self, spool: &Spool) {
        let open = self
            .tail
            .iter_mut()
            .chain(&mut self.early)
            .map(|open| &mut open.file);
        for file in self.unsynced.iter_mut().chain(open) {
            if let Err(error) = file.sync_data() {
                tracing::warn!(target: "relayer", %error, "spool sync failed");
            }
        }
        self.unsynced.clear();
        if spool.dir_changed.swap(false, Ordering::AcqRel)
            && let Err(error) = spool.disk.sync_dir(&spool.dir)
        {
            spool.dir_changed.store(true, Ordering::Release);
            tracing::warn!(target: "relayer", %error, "spool directory sync failed");
        }
    }
}
