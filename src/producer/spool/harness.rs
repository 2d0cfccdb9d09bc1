//! The spool's fault harness: a disk in memory that fails any operation on
//! purpose (list, lock, open, read, create, write, sync, cut, rename,
//! delete, short reads and writes, a disk that fills up halfway through a
//! write) and "crashes": at an arbitrary operation the process dies, and a
//! new one starts from what is on the disk. A seeded schedule drives one
//! spool, its writer and its replay on the test's thread (so a schedule is
//! the same every time it runs): messages sent directly while the spool is
//! empty or spooled, writes, replay, deliveries, purges (of what was sent
//! directly, into the spool, and of what replay has in flight), refusals,
//! crashes, clean stops.
//!
//! After every step, every count adds up (`produced = delivered + failed +
//! dropped + queued`, `queued` counted on its own). At the end of each
//! schedule, once the faults stop and the spool is drained: every message
//! the writer wrote to a segment file arrived, or was refused by the broker for
//! itself; each one arrived more than once only as often as a purge after
//! the broker wrote it, or a crash that followed its acknowledgement before
//! the ledger recorded it, allow; the first arrivals are in order per key;
//! no segment or temporary file is left.
//!
//! `RELAYER_FAULT_SCHEDULES=N` runs N schedules instead of 2,000, and
//! `RELAYER_FAULT_SEED=S` starts from seed S: a failure names its seed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::disk::{Disk, ReadFile, WriteFile, held_by};
use super::record::{self, Next};
use super::replay::{Replay, Step};
use super::writer::Writer;
use super::{Appended, Origin, Report, Sent, Spool, Tuning, files, ledger};
use crate::producer::{DeliveryCounters, Message, Stats};

const EINTR: i32 = 4;
const EIO: i32 = 5;
const EMFILE: i32 = 24;
const ENOSPC: i32 = 28;

/// What goes wrong with one operation.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// It fails with this error, having done nothing (an interrupted read
    /// or write is tried again by the caller, as the system's are).
    Error(i32),
    /// A read or write does half of what was asked.
    Short,
    /// A write does half, and the next write to that file fails: the disk
    /// filled up.
    Full,
}

/// The disk's content and its schedule of faults.
#[derive(Default)]
struct Fs {
    files: BTreeMap<PathBuf, Vec<u8>>,
    locked: BTreeSet<PathBuf>,
    /// Operations so far.
    ops: u64,
    /// Faults, by the operation they hit.
    faults: BTreeMap<u64, Fault>,
    /// The process dies at this operation: it and every later one fail.
    crash_at: Option<u64>,
    crashed: bool,
    /// Files whose next write fails: the disk filled up during the last.
    full: BTreeSet<PathBuf>,
    /// Ledgers written in full (over the last one), and writes of one that
    /// failed (the spool writes and renames only ledgers).
    ledgers: u64,
    ledger_faults: u64,
    /// Writes wait while set: a disk that stalls; and how many wait.
    stalled: bool,
    waiting: u32,
    /// The faults that hit, for the log.
    hits: Vec<String>,
}

/// A disk in memory, shared by the processes of one schedule.
#[derive(Clone, Default)]
struct FaultyDisk(Arc<(Mutex<Fs>, Condvar)>);

impl FaultyDisk {
    fn fs(&self) -> MutexGuard<'_, Fs> {
        self.0.0.lock().unwrap()
    }

    /// Counts an operation; the fault scheduled for it, if any, or an error
    /// once the process died. `partial`: the operation can do part of its
    /// work (a read or a write).
    fn op(&self, partial: bool) -> io::Result<Option<Fault>> {
        let mut fs = self.fs();
        fs.ops += 1;
        let at = fs.ops;
        if fs.crash_at == Some(at) {
            fs.crashed = true;
            fs.hits.push(format!("op {at}: killed"));
        }
        if fs.crashed {
            return Err(io::Error::other("the process was killed"));
        }
        if let Some(fault) = fs.faults.get(&at) {
            let hit = format!("op {at}: {fault:?}");
            fs.hits.push(hit);
        }
        match fs.faults.remove(&at) {
            // Only reads and writes are interrupted, or done in part.
            Some(Fault::Error(EINTR) | Fault::Short | Fault::Full) if !partial => {
                Err(io::Error::from_raw_os_error(EIO))
            }
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
            fault => Ok(fault),
        }
    }

    fn crashed(&self) -> bool {
        self.fs().crashed
    }

    /// True when the ledger on the disk says the record at `at` (sequence,
    /// offset) was delivered, or its segment is gone (all delivered).
    fn recorded(&self, dir: &Path, (sequence, offset): (u64, u64)) -> bool {
        let fs = self.fs();
        if !fs.files.contains_key(&files::path(dir, sequence)) {
            return true;
        }
        let entries = fs
            .files
            .get(&dir.join(ledger::NAME))
            .and_then(|bytes| ledger::decode(bytes))
            .unwrap_or_default();
        entries
            .iter()
            .any(|e| e.sequence == sequence && (offset < e.start || e.done.contains(&offset)))
    }

    fn names(&self) -> Vec<String> {
        self.fs()
            .files
            .keys()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }
}

impl Disk for FaultyDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.op(false).map(drop)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.op(false)?;
        Ok(self
            .fs()
            .files
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>> {
        self.op(false)?;
        let mut fs = self.fs();
        if !fs.locked.insert(path.to_owned()) {
            return Err(held_by(&std::process::id().to_string()));
        }
        fs.files.entry(path.to_owned()).or_default();
        Ok(Box::new(Locked(self.clone(), path.to_owned())))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        self.op(false)?;
        if !self.fs().files.contains_key(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(Box::new(Reading {
            disk: self.clone(),
            path: path.to_owned(),
            at: 0,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        self.op(false)?;
        let mut fs = self.fs();
        if fs.files.contains_key(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        fs.files.insert(path.to_owned(), Vec::new());
        Ok(Box::new(Writing {
            disk: self.clone(),
            path: path.to_owned(),
        }))
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let fault = self
            .op(true)
            .inspect_err(|_| self.fs().ledger_faults += 1)?;
        let mut fs = self.fs();
        if fault.is_some() {
            fs.ledger_faults += 1;
        }
        match fault {
            Some(Fault::Short | Fault::Full) => {
                fs.files
                    .insert(path.to_owned(), bytes[..bytes.len() / 2].to_vec());
                Err(io::Error::from_raw_os_error(ENOSPC))
            }
            _ => {
                fs.files.insert(path.to_owned(), bytes.to_vec());
                if path.file_name().is_some_and(|name| name == ledger::NAME) {
                    fs.ledgers += 1;
                }
                Ok(())
            }
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op(false)
            .inspect_err(|_| self.fs().ledger_faults += 1)?;
        let mut fs = self.fs();
        let bytes = fs.files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        fs.files.insert(to.to_owned(), bytes);
        if to.file_name().is_some_and(|name| name == ledger::NAME) {
            fs.ledgers += 1;
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.op(false)?;
        self.fs()
            .files
            .remove(path)
            .map(drop)
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.op(false).map(drop)
    }
}

/// The lock of a spool directory, let go when the spool (or its process)
/// goes.
struct Locked(FaultyDisk, PathBuf);

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.fs().locked.remove(&self.1);
    }
}

struct Reading {
    disk: FaultyDisk,
    path: PathBuf,
    at: u64,
}

impl Read for Reading {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fault = self.disk.op(true)?;
        let fs = self.disk.fs();
        let bytes = fs.files.get(&self.path).map_or(&[][..], Vec::as_slice);
        let from = (self.at as usize).min(bytes.len());
        let mut n = buf.len().min(bytes.len() - from);
        if matches!(fault, Some(Fault::Short | Fault::Full)) && n > 1 {
            n /= 2;
        }
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.at += n as u64;
        Ok(n)
    }
}

impl Seek for Reading {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, offset) = match to {
            SeekFrom::Start(at) => (0, at as i64),
            SeekFrom::Current(offset) => (self.at, offset),
            SeekFrom::End(offset) => {
                let len = self.disk.fs().files.get(&self.path).map_or(0, Vec::len);
                (len as u64, offset)
            }
        };
        self.at = base
            .checked_add_signed(offset)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.at)
    }
}

impl ReadFile for Reading {
    fn len(&self) -> io::Result<u64> {
        self.disk.op(false)?;
        Ok(self.disk.fs().files.get(&self.path).map_or(0, Vec::len) as u64)
    }
}

/// A file open for appending; writing to one deleted meanwhile goes
/// nowhere, as to an unlinked file.
struct Writing {
    disk: FaultyDisk,
    path: PathBuf,
}

impl Write for Writing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fault = self.disk.op(true)?;
        let mut fs = self.disk.fs();
        fs.waiting += 1;
        while fs.stalled {
            fs = self.disk.0.1.wait(fs).unwrap();
        }
        fs.waiting -= 1;
        if fs.full.remove(&self.path) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        let n = match fault {
            Some(Fault::Short) => buf.len().div_ceil(2),
            Some(Fault::Full) => {
                fs.full.insert(self.path.clone());
                buf.len() / 2
            }
            _ => buf.len(),
        };
        if let Some(bytes) = fs.files.get_mut(&self.path) {
            bytes.extend_from_slice(&buf[..n]);
        }
        if n == 0 {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteFile for Writing {
    fn sync_data(&mut self) -> io::Result<()> {
        self.disk.op(false).map(drop)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.disk.op(false)?;
        if let Some(bytes) = self.disk.fs().files.get_mut(&self.path) {
            bytes.resize(len as usize, 0);
        }
        Ok(())
    }
}

/// Lends the message `id` with `key` to `f`.
fn with_message<R>(id: u64, key: &str, f: impl FnOnce(&Message<'_>) -> R) -> R {
    let payload = id.to_string();
    f(&Message {
        topic: "orders",
        key: Some(key.as_bytes()),
        headers: &[("h", b"v")],
        payload: payload.as_bytes(),
    })
}

/// A message's id, its payload.
fn id_of(payload: &[u8]) -> u64 {
    std::str::from_utf8(payload).unwrap().parse().unwrap()
}

/// Some messages the broker refuses for themselves, every time.
fn refused_by_the_broker(id: u64) -> bool {
    id % 89 == 7
}

/// The broker, as the spool's sink and its delivery reports see it.
#[derive(Default)]
struct Broker {
    /// Handed over by replay, no report yet: (ticket, id, key, topic), in
    /// order.
    in_flight: VecDeque<(u64, u64, String, String)>,
    /// Sent to librdkafka directly while the spool was empty (or just
    /// before it overflowed into it): older than anything spooled.
    direct: VecDeque<(u64, String)>,
    /// What the broker wrote, in order: (id, key).
    log: Vec<(u64, String)>,
    /// Refused for themselves, for good.
    refused: BTreeSet<u64>,
    /// The sink says "later" (a full queue) this many more times.
    later: u32,
}

/// The sink of a spool's replay, on `broker`.
fn sink(broker: Rc<RefCell<Broker>>) -> impl FnMut(&Message<'_>, u64) -> Sent {
    move |message, ticket| {
        let mut broker = broker.borrow_mut();
        if broker.later > 0 {
            broker.later -= 1;
            return Sent::Later;
        }
        let id = id_of(message.payload);
        // Some messages are too large for librdkafka.
        if id % 97 == 13 {
            broker.refused.insert(id);
            return Sent::Refused("too large".into());
        }
        let key = String::from_utf8(message.key.unwrap().to_vec()).unwrap();
        broker
            .in_flight
            .push_back((ticket, id, key, message.topic.to_owned()));
        Sent::Queued
    }
}

/// One schedule: its disk, broker, process, and what it has seen.
struct Schedule {
    seed: u64,
    rng: StdRng,
    disk: FaultyDisk,
    dir: PathBuf,
    tuning: Tuning,
    max_bytes: u64,
    broker: Rc<RefCell<Broker>>,
    /// The live process: its spool, counters, writer and replay.
    process: Option<Process>,
    next_id: u64,
    /// Every id the writer wrote to a segment file, and where.
    written: BTreeMap<u64, (u64, u64)>,
    /// Ids acknowledged since the last ledger was written in full: what a
    /// crash may send again.
    acked_since_ledger: Vec<u64>,
    /// Ids acknowledged in this process's life.
    acked: Vec<u64>,
    ledgers_seen: u64,
    /// How many more times each id may arrive: purges after the broker
    /// wrote it, crashes or stops before the ledger recorded it.
    again_allowed: BTreeMap<u64, u32>,
    /// A step log, printed when the schedule fails.
    log: Vec<String>,
}

struct Process {
    spool: Arc<Spool>,
    counters: Arc<DeliveryCounters>,
    writer: Writer,
    replay: Replay,
}

impl Schedule {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut tuning = Tuning::new(1 << 20);
        tuning.segment_bytes = rng.random_range(40..400);
        tuning.replay_in_flight = rng.random_range(1..12);
        tuning.ledger_every = Duration::from_secs(3600);
        tuning.ledger_acks = rng.random_range(1..8);
        tuning.queue_messages = rng.random_range(4..40);
        tuning.backoff = (Duration::ZERO, Duration::ZERO);
        Self {
            seed,
            rng,
            disk: FaultyDisk::default(),
            dir: PathBuf::from("/spool"),
            tuning,
            max_bytes: 1 << 20,
            broker: Rc::default(),
            process: None,
            next_id: 1,
            written: BTreeMap::new(),
            acked_since_ledger: Vec::new(),
            acked: Vec::new(),
            ledgers_seen: 0,
            again_allowed: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// Faults for the next `ops` operations: each one fails with
    /// probability `rate`, and with `crash`, the process dies at one.
    fn schedule_faults(&mut self, ops: u64, rate: f64, crash: bool) {
        let mut fs = self.disk.fs();
        let now = fs.ops;
        fs.faults.clear();
        for at in now + 1..=now + ops {
            if self.rng.random_bool(rate) {
                let fault = match self.rng.random_range(0..7) {
                    0 => Fault::Error(EIO),
                    1 => Fault::Error(ENOSPC),
                    2 => Fault::Error(EMFILE),
                    3 => Fault::Error(EINTR),
                    4 | 5 => Fault::Short,
                    _ => Fault::Full,
                };
                fs.faults.insert(at, fault);
            }
        }
        fs.crash_at = crash.then(|| now + self.rng.random_range(1..=ops));
        fs.crashed = false;
        fs.full.clear();
    }

    /// Faults for a process's life: a rate of up to 8 %, and a crash.
    fn faults_of_a_life(&mut self) {
        let rate = self.rng.random_range(0.0..0.08);
        self.schedule_faults(400, rate, true);
    }

    /// Starts a process on the disk: opening may fail on a fault, and is
    /// tried again, as a supervisor restarts a service.
    fn start(&mut self) {
        for _ in 0..100 {
            let counters = Arc::new(DeliveryCounters::default());
            match Spool::open_on(
                Arc::new(self.disk.clone()),
                &self.dir,
                self.tuning.clone(),
                self.max_bytes,
                counters.clone(),
            ) {
                Ok(spool) => {
                    self.note(format!("started: {:?}", counters.snapshot()));
                    self.process = Some(Process {
                        spool,
                        counters,
                        writer: Writer::default(),
                        replay: Replay::default(),
                    });
                    return;
                }
                Err(error) => {
                    self.note(format!("start failed: {error}"));
                    if self.disk.crashed() {
                        self.schedule_faults(200, 0.02, false);
                    }
                }
            }
        }
        self.fail("the spool never opened");
    }

    /// The process dies (or stops, `clean`): acknowledgements the ledger
    /// has not recorded may be sent again, and what was in flight is.
    fn end_process(&mut self, clean: bool) {
        if clean {
            self.written_before_purge();
            self.purge_direct();
        }
        let Some(mut process) = self.process.take() else {
            return;
        };
        if clean {
            let (reply, _stopped) = std::sync::mpsc::sync_channel(1);
            process.spool.close(reply);
            let _ = process.writer.drain(&process.spool);
            self.collect_written(&process.spool);
            let mut sink = sink(self.broker.clone());
            while process.replay.step(&process.spool, &mut sink) != Step::Stopped {}
            self.check_ledger();
        }
        self.note(format!(
            "{}: {:?}",
            if clean { "stopped" } else { "killed" },
            process.counters.snapshot()
        ));
        // What the ledger on the disk does not have is sent again: only
        // what was acknowledged since it was last written in full.
        let window: Vec<(u64, bool)> = std::mem::take(&mut self.acked)
            .into_iter()
            .filter_map(|id| match self.written.get(&id) {
                Some(at) => (!self.disk.recorded(&self.dir, *at)).then_some((id, true)),
                // Written by a write that failed, and replayed all the same.
                None => Some((id, false)),
            })
            .collect();
        for (id, known) in window {
            if known && !self.acked_since_ledger.contains(&id) {
                self.fail(&format!(
                    "{id} was acknowledged before the last ledger was written, and the ledger on the disk has lost it"
                ));
            }
            *self.again_allowed.entry(id).or_default() += 1;
        }
        self.acked_since_ledger.clear();
        let mut broker = self.broker.borrow_mut();
        broker.in_flight.clear();
        broker.direct.clear();
        drop(broker);
        drop(process);
    }

    /// Records where every record the writer wrote so far is.
    fn collect_written(&mut self, spool: &Spool) {
        let mut body = Vec::new();
        for (sequence, offset, bytes) in std::mem::take(&mut *super::lock(&spool.written)) {
            let Ok(Next::Record(record, _)) =
                record::read(&mut &bytes[..], bytes.len() as u64, &mut body)
            else {
                self.fail("the writer wrote a record that does not read back");
            };
            self.written
                .insert(id_of(&record.payload), (sequence, offset));
        }
    }

    /// A new ledger was written in full: what was acknowledged before is in it.
    fn check_ledger(&mut self) {
        let ledgers = self.disk.fs().ledgers;
        if ledgers != self.ledgers_seen {
            self.ledgers_seen = ledgers;
            self.acked_since_ledger.clear();
        }
    }

    fn note(&mut self, line: String) {
        let hits = std::mem::take(&mut self.disk.fs().hits);
        self.log.extend(hits);
        self.log.push(line);
    }

    fn fail(&self, why: &str) -> ! {
        let tail = self.log.len().saturating_sub(1000);
        panic!(
            "seed {}: {why}\n{}\n(RELAYER_FAULT_SEED={} RELAYER_FAULT_SCHEDULES=1 reruns it)",
            self.seed,
            self.log[tail..].join("\n"),
            self.seed
        );
    }

    fn check_counts(&self) {
        let Some(process) = &self.process else { return };
        let stats: Stats = process.counters.snapshot();
        let outcomes = stats.delivered + stats.failed + stats.dropped;
        let direct = self.broker.borrow().direct.len() as u64;
        if stats.produced != outcomes.wrapping_add(stats.queued)
            || stats.spooled + direct != stats.queued
        {
            self.fail(&format!("counts do not add up: {stats:?}"));
        }
    }

    /// Sends `count` new messages as the producer does: directly while the
    /// spool is empty (some of them, the others overflowing into it, as
    /// from a full queue), else to the spool.
    fn send(&mut self, count: usize) {
        let Some(process) = &self.process else { return };
        let mut sent = Vec::new();
        for _ in 0..count {
            let id = self.next_id;
            self.next_id += 1;
            let key = ["a", "b", "c"][self.rng.random_range(0..3)].to_owned();
            if !process.spool.is_active() && self.rng.random_bool(0.6) {
                process.counters.produced();
                self.broker.borrow_mut().direct.push_back((id, key));
                sent.push((id, "direct"));
                continue;
            }
            let appended = with_message(id, &key, |message| {
                process.spool.append(message, Origin::New, false)
            });
            sent.push((
                id,
                if appended == Appended::Yes {
                    "spooled"
                } else {
                    "refused"
                },
            ));
        }
        self.note(format!("sent {sent:?}"));
    }

    /// What was sent directly is purged to the spool, as by an outage, a
    /// replacement or a shutdown.
    fn purge_direct(&mut self) {
        let Some(process) = &self.process else { return };
        let direct = std::mem::take(&mut self.broker.borrow_mut().direct);
        if direct.is_empty() {
            return;
        }
        process.spool.purging();
        let mut purged = Vec::new();
        for (id, key) in direct {
            // Out of librdkafka's queue, into the spool, as one.
            let update = process.counters.update();
            update.dequeued(1);
            let appended = with_message(id, &key, |message| {
                process.spool.append(message, Origin::Purged, false)
            });
            if appended != Appended::Yes {
                update.failed("orders", 1, &"purged; the spool refused it");
            }
            purged.push(id);
        }
        process.spool.seal_early();
        self.note(format!("purged directly sent {purged:?}"));
    }

    /// Of each key, the broker may have written the first messages
    /// librdkafka holds, in its order (sent directly, then replayed),
    /// before a purge: they arrive, and may arrive again.
    fn written_before_purge(&mut self) {
        let broker = self.broker.borrow();
        let held: Vec<(u64, String)> = broker
            .direct
            .iter()
            .cloned()
            .chain(broker.in_flight.iter().map(|m| (m.1, m.2.clone())))
            .collect();
        drop(broker);
        let mut writing: BTreeMap<String, bool> = BTreeMap::new();
        for (id, key) in held {
            let go_on = *writing
                .entry(key.clone())
                .or_insert_with(|| self.rng.random_bool(0.4));
            if go_on && !refused_by_the_broker(id) && self.rng.random_bool(0.7) {
                self.broker.borrow_mut().log.push((id, key));
                *self.again_allowed.entry(id).or_default() += 1;
            } else {
                writing.insert(key, false);
            }
        }
    }

    fn write(&mut self) {
        let Some(process) = &mut self.process else {
            return;
        };
        let _ = process.writer.drain(&process.spool);
        let spool = process.spool.clone();
        let before = self.written.len();
        self.collect_written(&spool);
        let total = self.written.len();
        self.note(format!("wrote ({} new ids on disk)", total - before));
    }

    fn replay(&mut self, steps: usize) {
        let Some(process) = &mut self.process else {
            return;
        };
        let ledger_faults = self.disk.fs().ledger_faults;
        let mut sink = sink(self.broker.clone());
        let mut worked = 0;
        for _ in 0..steps {
            if let Step::Wait { .. } | Step::Stopped =
                process.replay.step(&process.spool, &mut sink)
            {
                break;
            }
            worked += 1;
        }
        let in_flight: Vec<u64> = self.broker.borrow().in_flight.iter().map(|m| m.1).collect();
        self.check_ledger();
        // Replay writes the ledger before it goes on, once it is due; only
        // a fault can keep it from that.
        let faults = self.disk.fs().ledger_faults;
        if faults == ledger_faults
            && !self.disk.crashed()
            && self.acked_since_ledger.len() as u64 >= self.tuning.ledger_acks
        {
            self.fail(&format!(
                "{} acknowledgements and no ledger written",
                self.acked_since_ledger.len()
            ));
        }
        self.note(format!("replayed {worked} steps; in flight {in_flight:?}"));
    }

    /// The broker acknowledges the oldest message of one key, sent
    /// directly (those go first: older than anything replayed) or replayed,
    /// or refuses a replayed one for itself (some ids, every time).
    fn deliver(&mut self) {
        let Some(process) = &self.process else { return };
        let mut broker = self.broker.borrow_mut();
        let keys: BTreeSet<String> = broker
            .in_flight
            .iter()
            .map(|m| m.2.clone())
            .chain(broker.direct.iter().map(|m| m.1.clone()))
            .collect();
        let Some(key) = keys.iter().nth(self.rng.random_range(0..keys.len().max(1))) else {
            return;
        };
        if let Some(at) = broker.direct.iter().position(|m| &m.1 == key) {
            let (id, key) = broker.direct.remove(at).unwrap();
            broker.log.push((id, key));
            drop(broker);
            let update = process.counters.update();
            update.dequeued(1);
            update.delivered(1);
            drop(update);
            self.note(format!("delivered {id} (sent directly)"));
            return;
        }
        let at = broker.in_flight.iter().position(|m| &m.2 == key).unwrap();
        let (ticket, id, key, topic) = broker.in_flight.remove(at).unwrap();
        if refused_by_the_broker(id) {
            broker.refused.insert(id);
            drop(broker);
            process
                .spool
                .report(ticket, &topic, Report::Failed(&"refused by the broker"));
            self.note(format!("refused {id}"));
            return;
        }
        broker.log.push((id, key));
        drop(broker);
        process.spool.report(ticket, &topic, Report::Delivered);
        self.acked_since_ledger.push(id);
        self.acked.push(id);
        self.note(format!("delivered {id}"));
    }

    /// Everything librdkafka holds is purged: what replay has in flight is
    /// to be sent again, what was sent directly goes to the spool. The
    /// broker may have written some of it (at least once).
    fn purge(&mut self) {
        self.written_before_purge();
        let Some(process) = &self.process else { return };
        let in_flight = std::mem::take(&mut self.broker.borrow_mut().in_flight);
        for (ticket, _, _, topic) in in_flight {
            process.spool.report(ticket, &topic, Report::Again);
        }
        self.note("purged in flight".to_owned());
        self.purge_direct();
    }

    fn run(&mut self) {
        self.faults_of_a_life();
        self.start();
        for _ in 0..self.rng.random_range(20..160) {
            if self.process.is_none() {
                self.start();
            }
            match self.rng.random_range(0..100) {
                0..28 => {
                    let count = self.rng.random_range(1..6);
                    self.send(count);
                }
                28..45 => self.write(),
                45..62 => self.replay(20),
                62..82 => {
                    for _ in 0..self.rng.random_range(1..5) {
                        self.deliver();
                    }
                }
                82..87 => self.purge(),
                87..89 => self.broker.borrow_mut().later = self.rng.random_range(1..4),
                89..93 => {
                    if let Some(process) = &mut self.process {
                        process.writer.sync(&process.spool);
                    }
                }
                93..96 => {
                    self.end_process(true);
                    self.faults_of_a_life();
                }
                _ => {
                    self.end_process(false);
                    self.faults_of_a_life();
                }
            }
            if self.disk.crashed() {
                self.end_process(false);
                self.faults_of_a_life();
            } else {
                self.check_counts();
            }
        }
        self.drain_and_check();
    }

    /// Without faults: a last process sends everything, and what arrived is
    /// checked against what was written.
    fn drain_and_check(&mut self) {
        self.end_process(true);
        self.schedule_faults(0, 0.0, false);
        self.broker.borrow_mut().later = 0;
        self.start();
        for _ in 0..10_000 {
            self.write();
            self.replay(1_000);
            while !self.broker.borrow().in_flight.is_empty() {
                self.deliver();
            }
            self.replay(1_000);
            self.check_counts();
            let process = self.process.as_ref().unwrap();
            if process.spool.is_empty() && process.counters.snapshot().queued == 0 {
                break;
            }
        }
        let stats = self.process.as_ref().unwrap().counters.snapshot();
        if (stats.queued, stats.spooled) != (0, 0) {
            self.fail(&format!("not drained: {stats:?}"));
        }
        self.end_process(true);
        let left: Vec<String> = self
            .disk
            .names()
            .into_iter()
            .filter(|name| name != files::LOCK && name != ledger::NAME)
            .collect();
        if !left.is_empty() {
            self.fail(&format!("files left behind: {left:?}"));
        }
        let broker = self.broker.borrow();
        let mut arrivals: BTreeMap<u64, u32> = BTreeMap::new();
        for (id, _) in &broker.log {
            *arrivals.entry(*id).or_default() += 1;
        }
        for id in self.written.keys() {
            if !arrivals.contains_key(id) && !broker.refused.contains(id) {
                self.fail(&format!(
                    "message {id} was written to the spool and never arrived"
                ));
            }
        }
        for (id, count) in &arrivals {
            let allowed = 1 + self.again_allowed.get(id).copied().unwrap_or(0);
            if *count > allowed {
                self.fail(&format!(
                    "message {id} arrived {count} times, {allowed} at most"
                ));
            }
        }
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (id, key) in &broker.log {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(previous) = last.insert(key, *id)
                && previous > *id
            {
                self.fail(&format!("key {key}: {previous} arrived before {id}"));
            }
        }
    }
}

fn schedules() -> (u64, u64) {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    (
        number("RELAYER_FAULT_SEED", 1),
        number("RELAYER_FAULT_SCHEDULES", 2_000),
    )
}

#[test]
fn under_any_schedule_of_faults_and_crashes_no_written_message_is_lost() {
    let (first, count) = schedules();
    let started = Instant::now();
    let mut crashes = 0;
    for seed in first..first + count {
        let mut schedule = Schedule::new(seed);
        schedule.run();
        crashes += schedule
            .log
            .iter()
            .filter(|l| l.starts_with("killed"))
            .count();
    }
    println!(
        "{count} schedules, {crashes} processes killed, in {:?}",
        started.elapsed()
    );
    assert!(crashes as u64 > count, "the schedules crash processes");
}

/// The spool with its threads, on a disk that stalls: a stop returns by
/// its deadline, counts what the writer did not take as failed, and its
/// threads end once the disk goes on.
#[test]
fn a_stop_on_a_stalled_disk_keeps_its_deadline_and_leaves_no_thread_behind() {
    let disk = FaultyDisk::default();
    let counters = Arc::new(DeliveryCounters::default());
    let dir = Path::new("/spool");
    let spool = Spool::open_on(
        Arc::new(disk.clone()),
        dir,
        Tuning::new(1 << 20),
        1 << 20,
        counters.clone(),
    )
    .unwrap();
    spool.start(|_, _| Sent::Later).unwrap();
    let message = |id: u64| OwnedMessageFor(id.to_string());
    disk.fs().stalled = true;
    message(0).append(&spool);
    // The writer is in its write of the first, and waits for the disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    while disk.fs().waiting == 0 {
        assert!(Instant::now() < deadline, "the writer writes");
        std::thread::sleep(Duration::from_millis(1));
    }
    for id in 1..150 {
        message(id).append(&spool);
    }
    let started = Instant::now();
    let ended = spool.stop(started + Duration::from_millis(300));
    let took = started.elapsed();
    assert!(!ended, "the writer is still in its write");
    assert!(took < Duration::from_millis(600), "took {took:?}");
    let stats = counters.snapshot();
    assert_eq!(
        (stats.produced, stats.failed, stats.queued),
        (150, 149, 1),
        "the 149 not taken failed, the one being written is still spooled: {stats:?}"
    );
    // The disk goes on: the write ends, and both threads with it.
    disk.fs().stalled = false;
    disk.0.1.notify_all();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&spool) > 1 {
        assert!(Instant::now() < deadline, "the spool's threads end");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        disk.records_in(dir),
        1,
        "what was being written is on the disk"
    );
}

#[test]
fn a_stop_joins_every_thread_in_time() {
    let disk = FaultyDisk::default();
    let counters = Arc::new(DeliveryCounters::default());
    let spool = Spool::open_on(
        Arc::new(disk.clone()),
        Path::new("/spool"),
        Tuning::new(1 << 20),
        1 << 20,
        counters.clone(),
    )
    .unwrap();
    spool.start(|_, _| Sent::Later).unwrap();
    for id in 0..1_000 {
        OwnedMessageFor(id.to_string()).append(&spool);
    }
    assert!(spool.stop(Instant::now() + Duration::from_secs(10)));
    assert_eq!(Arc::strong_count(&spool), 1, "no thread left");
    assert_eq!(counters.snapshot().spooled, 1_000);
    assert_eq!(disk.records_in(Path::new("/spool")), 1_000);
    let refused = OwnedMessageFor("late".into()).append(&spool);
    assert_eq!(refused, Appended::Refused, "a stopped spool takes nothing");
}

/// A new message with this payload.
struct OwnedMessageFor(String);

impl OwnedMessageFor {
    fn append(&self, spool: &Spool) -> Appended {
        let message = Message {
            topic: "orders",
            key: Some(b"k"),
            headers: &[],
            payload: self.0.as_bytes(),
        };
        spool.append(&message, Origin::New, false)
    }
}

impl FaultyDisk {
    /// How many good records the segment files in `dir` hold.
    fn records_in(&self, dir: &Path) -> usize {
        let fs = self.fs();
        let mut body = Vec::new();
        let mut count = 0;
        for (path, bytes) in &fs.files {
            let segment = path.parent() == Some(dir)
                && files::sequence(&path.file_name().unwrap().to_string_lossy()).is_some();
            if !segment {
                continue;
            }
            let mut input = &bytes[..];
            loop {
                let left = input.len() as u64;
                let Ok(Next::Record(..)) = record::read(&mut input, left, &mut body) else {
                    break;
                };
                count += 1;
            }
        }
        count
    }
}
