//! The disk spool: where messages go during an outage, when librdkafka's
//! queue is full, or while the producer is being replaced, instead of being
//! dropped or kept only in memory; replayed to Kafka in order.
//!
//! A request thread only encodes a message and hands it to the writer
//! thread through a bounded queue: it never waits for the disk, and a full
//! queue refuses the message (counted as dropped), as librdkafka's does.
//! The writer thread appends records to segment files (no `fsync`) and
//! makes them durable every second. The replay thread sends them, in
//! order, at most [`Tuning::replay_in_flight`] at a time; a record stays
//! in its segment until its delivery report, and a record that was purged
//! from the queue or timed out is sent again. How far each segment was
//! delivered goes to the [ledger](ledger) as replay goes, so a process
//! killed at any instruction sends again at most what was in flight and
//! what was acknowledged since the ledger's last write.
//!
//! So a message is safe from a crash of the process once the writer thread
//! has written it (microseconds after `append`), and from a crash of the
//! machine once synced, within a second; it leaves the spool only when the
//! broker acknowledged it or it failed for good.
//!
//! Every file operation goes through a [`Disk`]: the file system, or in
//! the fault harness (`harness.rs`) a disk that fails on purpose. Only a
//! bad checksum or format skips records; an error to open, read or write
//! is retried (reads) or refuses and counts (writes), never taken for
//! damage.

mod disk;
mod files;
#[cfg(test)]
mod harness;
mod ledger;
mod record;
mod replay;
mod retry;
mod segment;
mod writer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use disk::{Disk, Files};
pub(crate) use record::{encoded_len, encoded_size};
pub(crate) use replay::Sent;
use segment::Segment;
use writer::Command;

use super::{DeliveryCounters, Message};

/// A spool's sizes and intervals: those of [`Tuning::new`] in production,
/// small ones in the fault harness.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// A new segment is started past this size, so that delivered space
    /// is given back to the disk soon.
    segment_bytes: u64,
    /// Replayed messages handed to librdkafka and not yet reported, at
    /// most: what a crash during replay may send again, at worst.
    replay_in_flight: usize,
    /// The ledger is written this long after an acknowledgement at most...
    ledger_every: Duration,
    /// ... or once this many acknowledgements came, whichever is first.
    ledger_acks: u64,
    /// How often the writer makes what it wrote durable (`fdatasync`).
    sync_every: Duration,
    /// How many messages, and bytes, may wait for the writer thread.
    queue_messages: u64,
    queue_bytes: u64,
    /// The first wait after a failed write or read, doubled while they
    /// keep failing, up to the second.
    backoff: (Duration, Duration),
}

impl Tuning {
    /// For a spool of at most `max_bytes`: segments of an eighth of it
    /// (4 KiB to 16 MiB), so that the space of delivered records is given
    /// back before the cap is reached.
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            segment_bytes: (max_bytes / 8).clamp(4 * 1024, 16 * 1024 * 1024),
            replay_in_flight: 10_000,
            ledger_every: Duration::from_millis(100),
            ledger_acks: 1_000,
            sync_every: Duration::from_secs(1),
            queue_messages: 100_000,
            queue_bytes: 64 * 1024 * 1024,
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

/// Where a message to append comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A new message, counted as produced here.
    New,
    /// A message counted as produced and out of every queue by the
    /// caller, that librdkafka refused.
    Refused,
    /// A message purged from the queue of a producer being replaced or
    /// closed (counted out of it by the caller): older than everything in
    /// the spool, it goes to a segment replayed before the others.
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
    /// Not taken: the size cap is reached, the writer is behind, the disk
    /// refused recent writes, or the spool is stopped. Counted as dropped,
    /// but for a purged message: the caller counts it as failed.
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
    disk: Arc<dyn Disk>,
    tuning: Tuning,
    max_bytes: u64,
    counters: Arc<DeliveryCounters>,
    /// Held until the spool is stopped: one process owns a spool directory.
    lock: Mutex<Option<Box<dyn Send + Sync>>>,
    /// Messages taken and not finished (to be written, or in a segment).
    /// While above 0, every new message goes through the spool, so that
    /// order is kept; at 0, everything spooled was delivered.
    in_spool: AtomicU64,
    /// Bytes taken, to be written or in a segment: what the cap applies to.
    bytes: AtomicU64,
    /// Appends are refused until then (milliseconds since `epoch`): the
    /// disk refused a write.
    refuse_until: AtomicU64,
    epoch: Instant,
    /// What the writer thread is to do, in order.
    queue: Mutex<Queue>,
    /// Wakes the writer thread.
    work: Condvar,
    /// A segment or the ledger was created, renamed or deleted since the
    /// last sync of the directory.
    dir_changed: AtomicBool,
    next_ticket: AtomicU64,
    state: Mutex<State>,
    /// Wakes the replay thread: records written or finished, a new
    /// producer, pause, stop.
    wake: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Every record the writer wrote, with its segment and offset: what
    /// the fault harness checks arrives.
    #[cfg(test)]
    written: Mutex<Vec<(u64, u64, Vec<u8>)>>,
}

/// The writer thread's queue.
#[derive(Default)]
struct Queue {
    commands: VecDeque<Command>,
    /// Records in `commands`, and their bytes.
    messages: u64,
    bytes: u64,
    /// Stopping: nothing more is taken.
    closed: bool,
    /// The stop's deadline passed: the writer exits without writing more.
    abandoned: bool,
    /// The writer thread waits for work.
    idle: bool,
}

struct State {
    /// By sequence: the replay order.
    segments: BTreeMap<u64, Segment>,
    /// The segment new messages are written to.
    tail: Option<u64>,
    /// The segment purged messages are written to, until sealed.
    early: Option<u64>,
    /// Purges under way: purged messages are being handed to the writer,
    /// or written, until their seal. Replay waits meanwhile: they go
    /// before everything in the spool, and their segment may not exist
    /// yet.
    purges: u64,
    /// The sequence of the next tail segment, and the one below which the
    /// next early segment goes: outside every number the directory and its
    /// ledger ever had, so that none is used twice.
    next_sequence: u64,
    floor: u64,
    /// Replayed messages awaiting their report: where they are.
    tickets: HashMap<u64, (u64, u64)>,
    /// A replayed message is to be sent again.
    again: bool,
    paused: bool,
    stopped: bool,
    /// The replay thread waits: wake it on news. Notifying costs a system
    /// call, too much for every delivery report.
    waiting: bool,
    /// News so far: the replay thread waits only if none came since it
    /// last looked.
    news: u64,
    /// Acknowledgements since the ledger was last written; the ledger is to
    /// be written (a record finished, a segment deleted).
    acks: u64,
    ledger_dirty: bool,
}

impl Spool {
    /// Opens (creates) the spool in `dir`, locks it, and counts what a
    /// previous process left there: replayed once the threads are
    /// started.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        counters: Arc<DeliveryCounters>,
    ) -> io::Result<Arc<Self>> {
        Self::open_on(
            Arc::new(Files),
            dir,
            Tuning::new(max_bytes),
            max_bytes,
            counters,
        )
    }

    /// [`open`](Self::open) on `disk`, tuned by `tuning`.
    fn open_on(
        disk: Arc<dyn Disk>,
        dir: &Path,
        tuning: Tuning,
        max_bytes: u64,
        counters: Arc<DeliveryCounters>,
    ) -> io::Result<Arc<Self>> {
        disk.create_dir_all(dir)?;
        let lock = disk.lock(&dir.join(files::LOCK))?;
        let found = files::scan(&*disk, dir)?;
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
        let (floor, last) = found
            .sequences
            .unwrap_or((files::FIRST_SEQUENCE, files::FIRST_SEQUENCE - 1));
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            disk,
            tuning,
            max_bytes,
            counters,
            lock: Mutex::new(Some(lock)),
            in_spool: AtomicU64::new(records),
            bytes: AtomicU64::new(bytes),
            refuse_until: AtomicU64::new(0),
            epoch: Instant::now(),
            queue: Mutex::default(),
            work: Condvar::new(),
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
                purges: 0,
                next_sequence: last + 1,
                floor,
                tickets: HashMap::new(),
                again: false,
                paused: false,
                stopped: false,
                waiting: false,
                news: 0,
                acks: 0,
                ledger_dirty: false,
            }),
            wake: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            #[cfg(test)]
            written: Mutex::default(),
        }))
    }

    /// Starts the writer thread and the replay thread, which sends records
    /// through `sink` with a ticket for [`report`](Self::report).
    pub(crate) fn start(
        self: &Arc<Self>,
        sink: impl FnMut(&Message<'_>, u64) -> Sent + Send + 'static,
    ) -> io::Result<()> {
        let spool = self.clone();
        let writer = std::thread::Builder::new()
            .name("relayer-spool-writer".into())
            .spawn(move || writer::run(&spool))?;
        let spool = self.clone();
        let replay = std::thread::Builder::new()
            .name("relayer-spool".into())
            .spawn(move || replay::run(&spool, sink))?;
        lock(&self.threads).extend([writer, replay]);
        Ok(())
    }

    /// True when the spool would take `bytes` more of purged messages
    /// now: within its cap, and the disk not refusing writes.
    pub(crate) fn has_room(&self, bytes: u64) -> bool {
        !self.refusing() && self.bytes.load(Ordering::Acquire) + bytes <= self.max_bytes
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
        let over_cap = self.bytes.fetch_add(len, Ordering::AcqRel) + len > self.max_bytes;
        if self.refusing() || over_cap {
            return self.refuse(message.topic, origin, len);
        }
        let mut record = Vec::with_capacity(len as usize);
        record::encode(message, &mut record);
        let mut queue = self.queue();
        let room = origin == Origin::Purged
            || queue.messages < self.tuning.queue_messages
                && queue.bytes + len <= self.tuning.queue_bytes;
        if queue.closed || !room {
            drop(queue);
            return self.refuse(message.topic, origin, len);
        }
        // Counted before the writer thread can count what becomes of it.
        let update = self.counters.update();
        if origin == Origin::New {
            update.produced(1);
        }
        update.enqueued(1);
        update.spooled(1);
        drop(update);
        queue.messages += 1;
        queue.bytes += len;
        queue.commands.push_back(Command::Append {
            record,
            early: origin == Origin::Purged,
        });
        // Woken when idle only: a busy writer takes the rest with this.
        if std::mem::take(&mut queue.idle) {
            self.work.notify_one();
        }
        Appended::Yes
    }

    /// Gives back what `append` took of a refused message, and counts it as
    /// dropped (a new one also as produced); a purged one is the caller's
    /// to count.
    fn refuse(&self, topic: &str, origin: Origin, len: u64) -> Appended {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        self.in_spool.fetch_sub(1, Ordering::AcqRel);
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
        let in_flight = state.tickets.len();
        let Some(segment) = state.segments.get_mut(&sequence) else {
            return;
        };
        if matches!(report, Report::Again) {
            segment.again(offset);
            state.again = true;
            self.news(&mut state);
            return;
        }
        if !segment.finished(offset) {
            return;
        }
        let done = segment.is_done();
        state.acks += 1;
        state.ledger_dirty = true;
        let update = self.counters.update();
        update.dequeued(1);
        update.unspooled(1);
        match report {
            Report::Failed(error) => update.failed(topic, 1, error),
            _ => update.delivered(1),
        }
        drop(update);
        let emptied = self.in_spool.fetch_sub(1, Ordering::AcqRel) == 1;
        // The replay thread waits for room (half the records in flight
        // back: it sends many, not one per report), a segment to delete,
        // the ledger to write, or the end.
        if done
            || emptied
            || in_flight == self.tuning.replay_in_flight / 2
            || state.acks == self.tuning.ledger_acks
        {
            self.news(&mut state);
        }
    }

    /// Purged messages are about to be appended: replay waits until they
    /// are written and [sealed](Self::seal_early), as they go before
    /// everything it could send meanwhile.
    pub(crate) fn purging(&self) {
        self.state().purges += 1;
    }

    /// Queues the sealing of the segment of purged messages, after every
    /// one taken so far: later ones go to a new one, and replay goes on,
    /// from them.
    pub(crate) fn seal_early(&self) {
        self.command(Command::Seal);
    }

    /// True when no segment file is left: every message spooled was
    /// delivered (or failed) and its file deleted.
    pub(crate) fn is_empty(&self) -> bool {
        self.state().segments.is_empty()
    }

    /// Pauses or resumes replay.
    pub(crate) fn pause(&self, paused: bool) {
        let mut state = self.state();
        state.paused = paused;
        self.news(&mut state);
    }

    /// Wakes the replay thread, e.g. when a new producer is ready.
    pub(crate) fn wake(&self) {
        self.news(&mut self.state());
    }

    /// Stops: later appends are refused; the writer writes what it was
    /// given and syncs, and replay records in the ledger how far it went,
    /// until `deadline`. Past it, what the writer has not taken yet is
    /// failed and counted (it will not be written), and a write or sync
    /// under way is left to finish. True when both threads ended in time:
    /// the directory is then let go, for another spool to open.
    pub(crate) fn stop(&self, deadline: Instant) -> bool {
        let (reply, synced) = std::sync::mpsc::sync_channel(1);
        self.close(reply);
        let synced = synced
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok();
        if !synced {
            let lost = self.abandon();
            tracing::warn!(target: "relayer", dir = %self.dir.display(), lost, "spool not written and synced within the shutdown timeout: messages not yet written are lost, those written are safe from a crash of the process, not yet of the machine");
        }
        // Every one, also past one that did not end.
        let mut ended = true;
        for thread in lock(&self.threads).drain(..) {
            ended &= super::join_until(thread, deadline);
        }
        // Nothing touches the directory any more: another spool may open
        // it, also while this one's last references go. A thread still in
        // a write keeps it until the spool is dropped.
        if ended {
            lock(&self.lock).take();
        }
        ended
    }

    /// Begins a stop: nothing more is taken, the writer is told to stop
    /// after what it has, and replay to write its ledger and stop.
    fn close(&self, reply: std::sync::mpsc::SyncSender<()>) {
        let mut queue = self.queue();
        queue.closed = true;
        queue.commands.push_back(Command::Stop(reply));
        self.work.notify_one();
        drop(queue);
        let mut state = self.state();
        state.stopped = true;
        self.news(&mut state);
    }

    /// The stop's deadline passed: the writer writes nothing more, and what
    /// it has not taken fails. Returns how many messages.
    fn abandon(&self) -> u64 {
        let mut queue = self.queue();
        queue.abandoned = true;
        let left = std::mem::take(&mut queue.commands);
        queue.messages = 0;
        queue.bytes = 0;
        self.work.notify_one();
        drop(queue);
        let mut lost = 0;
        for command in left {
            if let Command::Append { record, .. } = command {
                self.bytes.fetch_sub(record.len() as u64, Ordering::AcqRel);
                self.lost(
                    record::topic(&record),
                    1,
                    &"not written to the spool before the shutdown deadline",
                );
                lost += 1;
            }
        }
        lost
    }

    /// Hands `command` to the writer thread, after what it was given.
    fn command(&self, command: Command) {
        let mut queue = self.queue();
        queue.commands.push_back(command);
        if std::mem::take(&mut queue.idle) {
            self.work.notify_one();
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

    /// Messages taken were not written (the disk refused them, or the
    /// shutdown's deadline passed) or are lost with a damaged segment:
    /// they fail, and leave the spool.
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
            self.wake();
        }
    }

    /// Tells the replay thread that something happened.
    fn news(&self, state: &mut State) {
        state.news += 1;
        if state.waiting {
            self.wake.notify_all();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
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
            spool.tuning.queue_bytes / each,
            "64 MiB wait for the writer, no more"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "the lock, no segment");
        let more = spool.append(&message(&payload), Origin::New, true);
        assert_eq!(more, Appended::Refused, "the queue is full");
        assert_eq!(counters.snapshot().spooled, taken);
        let purged = spool.append(&message(&payload), Origin::Purged, true);
        assert_eq!(
            purged,
            Appended::Yes,
            "purged messages are never refused room"
        );
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

    #[test]
    fn a_second_spool_on_a_directory_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spool::open(dir.path(), 1 << 20, Arc::default()).unwrap();
        let Err(error) = Spool::open(dir.path(), 1 << 20, Arc::default()) else {
            panic!("two spools on one directory")
        };
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        assert!(
            error.to_string().contains(&std::process::id().to_string()),
            "{error}"
        );
        drop(first);
        Spool::open(dir.path(), 1 << 20, Arc::default()).unwrap();
    }
}
