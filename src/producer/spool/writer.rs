//! The writer thread: appends the records it is handed to segment files,
//! in the order it is handed them, and makes them durable every
//! [`SYNC_EVERY`]. The only thread that writes to the spool.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::segment::{SEGMENT_BYTES, Segment};
use super::{SYNC_EVERY, Spool, State, files, record};

/// What the writer thread is told.
pub(super) enum Command {
    /// Append one encoded record: to the early segment (a purged message)
    /// or to the tail.
    Append { record: Vec<u8>, early: bool },
    /// The purged messages are all written: later ones go after them.
    Seal(SyncSender<()>),
    /// Write what came before, sync, and exit.
    Stop(SyncSender<()>),
}

/// Records waiting for the same segment are written together, up to this
/// many bytes: one `write` for many records.
const BATCH_BYTES: usize = 1024 * 1024;

/// The first wait after a failed write, doubled while writes keep failing.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A segment file open for appending.
struct Open {
    sequence: u64,
    file: File,
    end: u64,
}

#[derive(Default)]
struct Writer {
    tail: Option<Open>,
    early: Option<Open>,
    /// Files written since the last sync that are no longer open.
    unsynced: Vec<File>,
    /// After a failed write: until when records are failed without trying.
    failing_until: Option<Instant>,
    backoff: Duration,
    errors: u64,
    /// A batch's records, one after the other: reused.
    buffer: Vec<u8>,
}

pub(super) fn run(spool: &Spool, commands: &Receiver<Command>) {
    let mut writer = Writer::default();
    let mut synced = Instant::now();
    // A command taken while gathering a batch, handled next.
    let mut next = None;
    loop {
        let wait = SYNC_EVERY.saturating_sub(synced.elapsed());
        let command = match next.take() {
            Some(command) => Ok(command),
            None => commands.recv_timeout(wait),
        };
        match command {
            Ok(Command::Append { record, early }) => {
                // What else is waiting for the same segment: one write.
                let mut batch = vec![record];
                let mut bytes = batch[0].len();
                while bytes < BATCH_BYTES {
                    match commands.try_recv() {
                        Ok(Command::Append {
                            record,
                            early: same,
                        }) if same == early => {
                            bytes += record.len();
                            batch.push(record);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                spool.queued_bytes.fetch_sub(bytes as u64, Ordering::AcqRel);
                spool
                    .queued_messages
                    .fetch_sub(batch.len() as u64, Ordering::AcqRel);
                writer.append(spool, &batch, early);
            }
            Ok(Command::Seal(reply)) => {
                if let Some(open) = writer.early.take() {
                    writer.unsynced.push(open.file);
                }
                spool.state().early = None;
                let _ = reply.send(());
            }
            Ok(Command::Stop(reply)) => {
                writer.sync(spool);
                let _ = reply.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return writer.sync(spool),
        }
        if synced.elapsed() >= SYNC_EVERY {
            writer.sync(spool);
            synced = Instant::now();
        }
    }
}

impl Writer {
    /// Writes `batch`, records for the early segment or for the tail, in
    /// order; counts each one that cannot be written as failed.
    fn append(&mut self, spool: &Spool, batch: &[Vec<u8>], early: bool) {
        let result = match self.failing_until {
            Some(until) if Instant::now() < until => Err(None),
            _ => self.write(spool, batch, early).map_err(Some),
        };
        match result {
            Ok(written) => {
                self.failing_until = None;
                self.backoff = Duration::ZERO;
                spool.counters.update().spool_bytes(written as i64);
                spool.wake.notify_all();
            }
            Err(error) => {
                if let Some(error) = error {
                    self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                    self.failing_until = Some(Instant::now() + self.backoff);
                    spool.refuse_for(self.backoff);
                    self.errors += 1;
                    if self.errors.is_power_of_two() {
                        tracing::error!(target: "relayer", %error, dir = %spool.dir.display(), backoff = ?self.backoff, "spool write failed; refusing messages meanwhile");
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
    /// a segment when there is none (or it is full, sealed or gone).
    /// Returns the bytes written.
    fn write(&mut self, spool: &Spool, batch: &[Vec<u8>], early: bool) -> io::Result<u64> {
        let mut bytes = std::mem::take(&mut self.buffer);
        bytes.clear();
        for record in batch {
            bytes.extend_from_slice(record);
        }
        let open = if early {
            self.early_segment(spool)
        } else {
            self.tail_segment(spool)
        };
        let written = open.and_then(|open| {
            if let Err(error) = open.file.write_all(&bytes) {
                // A partial record would misalign the ones after it: cut
                // it off, and write the next one at the same place.
                let _ = open.file.set_len(open.end);
                return Err(error);
            }
            open.end += bytes.len() as u64;
            Ok(open.sequence)
        });
        let len = bytes.len() as u64;
        self.buffer = bytes;
        let sequence = written?;
        let mut state = spool.state();
        let segment = state.segments.get_mut(&sequence);
        let lost: Vec<&Vec<u8>> = match segment {
            Some(segment) => batch
                .iter()
                .filter(|record| !segment.appended(record.len() as u64))
                .collect(),
            None => batch.iter().collect(),
        };
        drop(state);
        for record in lost {
            spool.lost(
                record::topic(record),
                1,
                &"written to a spool segment found corrupt",
            );
        }
        Ok(len)
    }

    fn tail_segment(&mut self, spool: &Spool) -> io::Result<&mut Open> {
        let current = self.tail.as_ref().map(|open| open.sequence);
        let usable = {
            let state = spool.state();
            current.is_some_and(|sequence| {
                state.tail == Some(sequence) && state.segments[&sequence].end < SEGMENT_BYTES
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

    /// The segment for purged messages: numbered before the oldest, so
    /// that they are replayed first; the tail is sealed, so that later
    /// messages go after them.
    fn early_segment(&mut self, spool: &Spool) -> io::Result<&mut Open> {
        if self.early.is_none() {
            let sequence = {
                let mut state = spool.state();
                let before_oldest = match state.segments.first_key_value() {
                    None => None,
                    Some((oldest, _)) => oldest.checked_sub(1),
                };
                before_oldest.unwrap_or_else(|| {
                    if !state.segments.is_empty() {
                        tracing::warn!(target: "relayer", "no spool segment number left before the oldest: purged messages are replayed after it");
                    }
                    state.next_sequence += 1;
                    state.next_sequence - 1
                })
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
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(files::path(&spool.dir, sequence))?;
        let mut state = spool.state();
        state.segments.insert(sequence, Segment::new(sequence));
        then(&mut state);
        spool.dir_changed.store(true, Ordering::Release);
        Ok(Open {
            sequence,
            file,
            end: 0,
        })
    }

    /// Makes every written record durable.
    fn sync(&mut self, spool: &Spool) {
        let open = self.tail.iter().chain(&self.early).map(|open| &open.file);
        for file in self.unsynced.iter().chain(open) {
            if let Err(error) = file.sync_data() {
                tracing::warn!(target: "relayer", %error, "spool sync failed");
            }
        }
        self.unsynced.clear();
        if spool.dir_changed.swap(false, Ordering::AcqRel)
            && let Ok(dir) = File::open(&spool.dir)
        {
            let _ = dir.sync_all();
        }
    }
}
