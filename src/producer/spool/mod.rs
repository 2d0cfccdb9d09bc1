//! The disk spool: where messages go when librdkafka's queue is full or the
//! producer is being replaced, instead of being dropped; replayed to Kafka
//! in order once the queue has room.
//!
//! A request thread only encodes a message and hands it to the writer
//! thread through a bounded queue: it never waits for the disk, and a full
//! queue refuses the message (counted as dropped), as librdkafka's does.
//! The writer thread appends records to segment files (no `fsync`) and
//! makes them durable every [`SYNC_EVERY`]. The replay thread sends them,
//! in order; a record stays in its segment until its delivery report, and
//! a record that was purged from the queue or timed out is sent again.
//!
//! So a message is safe from a crash of the process once the writer thread
//! has written it (microseconds after `append`), and from a crash of the
//! machine once synced, within [`SYNC_EVERY`]; it leaves the spool only
//! when the broker acknowledged it or it failed for good.

mod files;
mod record;
mod replay;
mod segment;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use replay::Sent;
use segment::Segment;
use writer::Command;

use super::{DeliveryCounters, Message};

/// How often the writer thread makes appended records durable (`fdatasync`).
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How many messages may wait for the writer thread.
const QUEUE_MESSAGES: u64 = 100_000;

/// How many bytes may wait for the writer thread.
const QUEUE_BYTES: u64 = 64 * 1024 * 1024;

/// Where a message to append comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A new message, counted as produced here.
    New,
    /// A message counted as produced already, that librdkafka refused.
    Refused,
    /// A message purged, never sent, from the queue of a producer being
    /// replaced or closed: older than everything in the spool, it goes to
    /// a segment replayed before the others.
    Purged,
}

/// What [`Spool::append`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Taken: it will be written to the spool.
    Yes,
    /// Not taken: the spool is empty and the message may go to Kafka
    /// directly (only when asked to append only while spooling).
    Inactive,
    /// Not taken: the size cap is reached, the writer is behind, or the
    /// disk refused recent writes. Counted as dropped, but for a purged
    /// message: the caller counts it as failed.
    Refused,
}

/// What became of a replayed message, from its delivery report.
#[derive(Clone, Copy)]
pub(crate) enum Report<'a> {
    Delivered,
    /// Purged from the queue, or timed out: it stays, to be sent again.
    Again,
    Failed(&'a dyn Display),
}

/// A directory of segment files, with a writer thread and a replay thread.
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    counters: Arc<DeliveryCounters>,
    /// Messages taken and not finished (to be written, or in a segment).
    /// While above 0, every new message goes through the spool, so that
    /// order is kept; at 0, everything spooled was delivered.
    in_spool: AtomicU64,
    /// Bytes taken, to be written or in a segment: what the cap applies to.
    bytes: AtomicU64,
    /// Messages and bytes waiting for the writer thread.
    queued_messages: AtomicU64,
    queued_bytes: AtomicU64,
    /// Appends are refused until then (milliseconds since `epoch`): the
    /// disk refused a write.
    refuse_until: AtomicU64,
    epoch: Instant,
    /// Never full: the queue is bounded by `queued_messages` and
    /// `queued_bytes` for new messages, so that commands and purged
    /// messages are always taken, without waiting.
    commands: Sender<Command>,
    /// Taken by the writer thread when it starts.
    receiver: Mutex<Option<Receiver<Command>>>,
    /// A segment was created or deleted since the last sync.
    dir_changed: AtomicBool,
    next_ticket: AtomicU64,
    state: Mutex<State>,
    /// Wakes the replay thread: records written or finished, a new
    /// producer, pause, stop.
    wake: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct State {
    /// By sequence: the replay order.
    segments: BTreeMap<u64, Segment>,
    /// The segment new messages are written to.
    tail: Option<u64>,
    /// The segment purged messages are written to, until sealed.
    early: Option<u64>,
    next_sequence: u64,
    /// Replayed messages awaiting their report: where they are.
    tickets: HashMap<u64, (u64, u64)>,
    /// A replayed message is to be sent again.
    again: bool,
    paused: bool,
    stopped: bool,
}

impl Spool {
    /// Opens (creates) the spool in `dir` and counts what a previous process
    /// left there: replayed once the threads are started.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        counters: Arc<DeliveryCounters>,
    ) -> io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        let found = files::scan(dir)?;
        let records: u64 = found.segments.iter().map(Segment::unfinished).sum();
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
        {
            let update = counters.update();
            update.produced(records);
            update.enqueued(records);
            update.spooled(records);
            update.spool_bytes(bytes as i64);
            update.spool_skipped(found.skipped_bytes);
        }
        let next_sequence = found
            .segments
            .last()
            .map_or(files::FIRST_SEQUENCE, |s| s.sequence + 1);
        let (commands, receiver) = mpsc::channel();
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            max_bytes,
            counters,
            in_spool: AtomicU64::new(records),
            bytes: AtomicU64::new(bytes),
            queued_messages: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            refuse_until: AtomicU64::new(0),
            epoch: Instant::now(),
            commands,
            receiver: Mutex::new(Some(receiver)),
            dir_changed: AtomicBool::new(false),
            next_ticket: AtomicU64::new(1),
            state: Mutex::new(State {
                segments: found
                    .segments
                    .into_iter()
                    .map(|s| (s.sequence, s))
                    .collect(),
                tail: None,
                early: None,
                next_sequence,
                tickets: HashMap::new(),
                again: false,
                paused: false,
                stopped: false,
            }),
            wake: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        }))
    }

    /// Starts the writer thread and the replay thread, which sends records
    /// through `sink` with a ticket for [`report`](Self::report).
    pub(crate) fn start(
        self: &Arc<Self>,
        sink: impl FnMut(&Message<'_>, u64) -> Sent + Send + 'static,
    ) -> io::Result<()> {
        let receiver = lock(&self.receiver).take().expect("started once");
        let spool = self.clone();
        let writer = std::thread::Builder::new()
            .name("relayer-spool-writer".into())
            .spawn(move || writer::run(&spool, &receiver))?;
        let spool = self.clone();
        let replay = std::thread::Builder::new()
            .name("relayer-spool".into())
            .spawn(move || replay::run(&spool, sink))?;
        lock(&self.threads).extend([writer, replay]);
        Ok(())
    }

    /// True while the spool holds messages not yet delivered.
    pub(crate) fn is_active(&self) -> bool {
        self.in_spool.load(Ordering::Acquire) > 0
    }

    /// Takes `message` for the spool, and counts it: a new one as produced,
    /// and as queued (a message from another queue was counted out of it
    /// by the caller, in the same update). With `only_while_active`,
    /// nothing is taken when the spool is empty: the caller then sends
    /// directly, in order. Never waits, for the disk or for room: purged
    /// messages come from librdkafka's queue, bounded already, and are
    /// never refused for want of room in the writer's queue.
    pub(crate) fn append(
        &self,
        message: &Message<'_>,
        origin: Origin,
        only_while_active: bool,
    ) -> Appended {
        let taken = self
            .in_spool
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > 0 || !only_while_active).then_some(n + 1)
            });
        if taken.is_err() {
            return Appended::Inactive;
        }
        let len = record::encoded_len(message) as u64;
        let over_cap = || {
            let over = self.bytes.fetch_add(len, Ordering::AcqRel) + len > self.max_bytes;
            if over {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
            }
            over
        };
        let no_room = || {
            let messages = self.queued_messages.fetch_add(1, Ordering::AcqRel) + 1;
            let bytes = self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
            let full = messages > QUEUE_MESSAGES || bytes > QUEUE_BYTES;
            if full {
                self.queued_messages.fetch_sub(1, Ordering::AcqRel);
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            }
            full
        };
        if self.refusing() || over_cap() {
            self.in_spool.fetch_sub(1, Ordering::AcqRel);
            return self.refuse(message.topic, origin);
        }
        if origin != Origin::Purged && no_room() {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            self.in_spool.fetch_sub(1, Ordering::AcqRel);
            return self.refuse(message.topic, origin);
        }
        if origin == Origin::Purged {
            self.queued_messages.fetch_add(1, Ordering::AcqRel);
            self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        }
        let mut record = Vec::with_capacity(len as usize);
        record::encode(message, &mut record);
        {
            // Counted before the writer thread can count what becomes of it.
            let update = self.counters.update();
            if origin == Origin::New {
                update.produced(1);
            }
            update.enqueued(1);
            update.spooled(1);
        }
        let early = origin == Origin::Purged;
        if self
            .commands
            .send(Command::Append { record, early })
            .is_ok()
        {
            return Appended::Yes;
        }
        // The writer thread is gone: the spool was stopped.
        self.queued_messages.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        self.in_spool.fetch_sub(1, Ordering::AcqRel);
        let update = self.counters.update();
        update.dequeued(1);
        update.unspooled(1);
        match origin {
            Origin::Purged => {}
            _ => update.dropped(message.topic),
        }
        Appended::Refused
    }

    /// Counts a refused message as dropped (a new one also as produced);
    /// a purged one is the caller's to count.
    fn refuse(&self, topic: &str, origin: Origin) -> Appended {
        match origin {
            Origin::New => self.counters.dropped(topic),
            Origin::Refused => self.counters.update().dropped(topic),
            Origin::Purged => {}
        }
        Appended::Refused
    }

    /// The delivery report of the replayed message `ticket`.
    pub(crate) fn report(&self, ticket: u64, topic: &str, report: Report<'_>) {
        let mut state = self.state();
        let Some((sequence, offset)) = state.tickets.remove(&ticket) else {
            return;
        };
        let Some(segment) = state.segments.get_mut(&sequence) else {
            return;
        };
        if matches!(report, Report::Again) {
            segment.again(offset);
            state.again = true;
            drop(state);
            self.wake.notify_all();
            return;
        }
        segment.finished(offset);
        let done = segment.is_done();
        drop(state);
        let update = self.counters.update();
        update.dequeued(1);
        update.unspooled(1);
        match report {
            Report::Failed(error) => update.failed(topic, 1, error),
            _ => update.delivered(1),
        }
        drop(update);
        let emptied = self.in_spool.fetch_sub(1, Ordering::AcqRel) == 1;
        if done || emptied {
            self.wake.notify_all();
        }
    }

    /// Waits until every purged message taken so far is written, and seals
    /// their segment: what comes later goes after it. At most until
    /// `deadline`; false when it took longer (the writer seals it all the
    /// same when it gets there).
    pub(crate) fn seal_early(&self, deadline: Instant) -> bool {
        let (reply, done) = mpsc::sync_channel(1);
        self.commands.send(Command::Seal(reply)).is_ok()
            && done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
    }

    /// True when no segment file is left: every message spooled was
    /// delivered (or failed) and its file deleted.
    pub(crate) fn is_empty(&self) -> bool {
        self.state().segments.is_empty()
    }

    /// Pauses or resumes replay.
    pub(crate) fn pause(&self, paused: bool) {
        self.state().paused = paused;
        self.wake.notify_all();
    }

    /// Wakes the replay thread, e.g. when a new producer is ready.
    pub(crate) fn wake(&self) {
        self.wake.notify_all();
    }

    /// Stops replay (recording how far each segment was delivered), lets
    /// the writer write what it was given and sync, until `deadline`: a
    /// sync that takes longer goes on without being waited for. Later
    /// appends are refused.
    pub(crate) fn stop(&self, deadline: Instant) {
        self.state().stopped = true;
        self.wake.notify_all();
        let (reply, synced) = mpsc::sync_channel(1);
        let synced = self.commands.send(Command::Stop(reply)).is_ok()
            && synced
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok();
        if !synced {
            tracing::warn!(target: "relayer", dir = %self.dir.display(), "spool not synced within the shutdown timeout; its last writes are safe from a crash of the process, not yet of the machine");
        }
        for thread in lock(&self.threads).drain(..) {
            super::join_until(thread, deadline);
        }
    }

    /// A write failed: appends are refused for `backoff`.
    fn refuse_for(&self, backoff: Duration) {
        let until = self.epoch.elapsed() + backoff;
        self.refuse_until
            .store(until.as_millis() as u64, Ordering::Release);
    }

    fn refusing(&self) -> bool {
        self.refuse_until.load(Ordering::Acquire) > self.epoch.elapsed().as_millis() as u64
    }

    /// A message taken was not written (the disk refused it) or is lost
    /// with its segment: it fails, and leaves the spool.
    fn lost(&self, topic: &str, messages: u64, error: &dyn Display) {
        if messages == 0 {
            return;
        }
        let update = self.counters.update();
        update.dequeued(messages);
        update.unspooled(messages);
        update.failed(topic, messages, error);
        drop(update);
        if self.in_spool.fetch_sub(messages, Ordering::AcqRel) == messages {
            self.wake.notify_all();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Message<'_> {
        Message {
            topic: "orders",
            key: None,
            headers: &[],
            payload,
        }
    }

    /// Without its writer thread running, as when the disk stalls: an
    /// append touches no file, and past the queue's bound it is refused
    /// at once instead of waiting.
    #[test]
    fn appends_never_wait_for_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(DeliveryCounters::default());
        let spool = Spool::open(dir.path(), u64::MAX, counters.clone()).unwrap();
        let payload = vec![b'x'; 1024 * 1024];
        let started = Instant::now();
        let mut taken = 0_u64;
        while spool.append(&message(&payload), Origin::New, false) == Appended::Yes {
            taken += 1;
        }
        let each = record::encoded_len(&message(&payload)) as u64;
        assert_eq!(
            taken,
            QUEUE_BYTES / each,
            "64 MiB wait for the writer, no more"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let more = spool.append(&message(&payload), Origin::New, true);
        assert_eq!(more, Appended::Refused, "the queue is full");
        assert_eq!(counters.snapshot().spooled, taken);
    }

    #[test]
    fn past_the_size_cap_appends_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100, Arc::default()).unwrap();
        assert_eq!(
            spool.append(&message(&[b'x'; 40]), Origin::New, false),
            Appended::Yes
        );
        assert_eq!(
            spool.append(&message(&[b'x'; 40]), Origin::New, false),
            Appended::Refused
        );
        assert!(spool.is_active());
    }
}
