//! The writer sink: every message as a line (or a readable block) on
//! standard output, standard error, a file or any [`Write`], written by a
//! thread of its own behind a bounded queue, the way `tracing-appender`'s
//! non-blocking writer does, so that a slow or broken output never reaches
//! the request path.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{line, pretty};
use crate::Error;
use crate::producer::{self, DeliveryCounters, Message, OwnedMessage, Producer, Stats};

/// The queue bound by default, like librdkafka's: 100,000 messages...
const MAX_MESSAGES: usize = 100_000;
/// ... or 64 MiB.
const MAX_BYTES: usize = 64 << 20;
/// At most this many messages go out in one write: the queue's lock is
/// held only to take them, and a failed write fails no more than these.
const BATCH: usize = 1024;
/// Woken after a quiet spell, the writer waits this long for more
/// messages before it writes (like librdkafka's `linger.ms`): one wake-up,
/// a system call on a request's thread, and one write for all the messages
/// of those milliseconds, rather than for each. Flushes cut it short.
const LINGER: Duration = Duration::from_millis(5);
/// A sink dropped without [`Producer::shutdown`] still writes its queue,
/// for at most this long.
const DROP_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The mode of the files a sink creates: its owner's only, as records
/// hold headers, queries and bodies.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// How a [`WriterSink`] writes messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// [`Pretty`](Self::Pretty) when the output is a terminal, else
    /// [`Json`](Self::Json).
    #[default]
    Auto,
    /// One JSON line per message, for machines (a log agent, `jq`): see
    /// the [module docs](crate::sink) for the line format.
    Json,
    /// One readable block per record, one line per event, for people;
    /// in color on a terminal unless `NO_COLOR` is set.
    Pretty,
}

/// Where a [`WriterSink`] writes.
///
/// ```
/// use relayer::sink::Output;
///
/// assert_eq!(Output::stdout().name(), "stdout");
/// assert_eq!(Output::file("/var/log/relayer.jsonl").name(), "file:/var/log/relayer.jsonl");
/// assert_eq!(Output::writer("memory", Vec::new()).name(), "memory");
/// ```
pub struct Output {
    name: String,
    kind: Kind,
}

enum Kind {
    Stdout,
    Stderr,
    /// Opened for appending, created if missing (with this mode), never
    /// through a symbolic link, and opened again after a failed write (the
    /// file may have been removed, the disk remounted).
    File(PathBuf, u32),
    Writer(Box<dyn Write + Send>),
}

impl Output {
    /// Standard output, named `stdout`.
    pub fn stdout() -> Self {
        Self {
            name: "stdout".into(),
            kind: Kind::Stdout,
        }
    }

    /// Standard error, named `stderr`.
    pub fn stderr() -> Self {
        Self {
            name: "stderr".into(),
            kind: Kind::Stderr,
        }
    }

    /// The file at `path`, appended to (created if missing, with mode
    /// [`DEFAULT_FILE_MODE`], `0600`, on Unix), named `file:PATH`. It is
    /// never opened through a symbolic link (`O_NOFOLLOW`), neither at
    /// first nor when opened again after a failed write: a link at the
    /// path fails the writes, counted.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            name: format!("file:{}", path.display()),
            kind: Kind::File(path, DEFAULT_FILE_MODE),
        }
    }

    /// The mode a [file](Self::file) is created with, instead of `0600`
    /// (the process's umask applies; an existing file keeps its own).
    /// Other outputs have none.
    ///
    /// ```
    /// let output = relayer::sink::Output::file("/var/log/app/relayer.jsonl").mode(0o640);
    /// ```
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        if let Kind::File(_, kept) = &mut self.kind {
            *kept = mode;
        }
        self
    }

    /// Any writer (a socket, a pipe, a buffer in a test), named `name`.
    pub fn writer(name: impl Into<String>, writer: impl Write + Send + 'static) -> Self {
        Self {
            name: name.into(),
            kind: Kind::Writer(Box::new(writer)),
        }
    }

    /// The output's name: the sink's name in [`Stats::sinks`] and its
    /// metrics' `sink` label.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Output").field(&self.name).finish()
    }
}

/// A [`Producer`] that writes every message to an [`Output`]: standard
/// output for a log agent (Fluent Bit, Vector) or a developer, standard
/// error, a file.
///
/// [`send`](Producer::send) only moves the message into a bounded queue
/// (100,000 messages or 64 MiB): a thread of the sink's own formats and
/// writes it, so the request never waits for the output; woken after a
/// quiet spell, it waits up to 5 ms for more before it writes, so that a
/// request does not wake it for every message. A full queue
/// refuses the message with [`Error::SinkFull`]; a write the output
/// refuses (a closed pipe, a full disk, no permission) fails its messages,
/// counted in [`stats`](Producer::stats) with the error, reported through
/// `tracing::warn!` at most every 10 seconds, and the next write tries
/// again (a file is opened again). A message counts as delivered once the
/// operating system took it (written, not synced).
///
/// ```
/// use std::time::Duration;
/// use relayer::Relayer;
/// use relayer::sink::{Format, Output, WriterSink};
///
/// let path = std::env::temp_dir().join("relayer-writer-doc.jsonl");
/// # let _ = std::fs::remove_file(&path);
/// let sink = WriterSink::new(Output::file(&path), Format::Json);
/// let relayer = Relayer::builder("logging").producer(sink).build()?;
/// relayer.emit_with_key("order", "created", &1, "order-1")?;
/// relayer.flush(Duration::from_secs(5))?;
/// assert_eq!(relayer.stats().delivered, 1);
/// let line = std::fs::read_to_string(&path).unwrap();
/// assert!(line.starts_with(r#"{"topic":"order","key":"order-1","headers":{},"value":{"#));
/// # Ok::<(), relayer::Error>(())
/// ```
pub struct WriterSink {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    name: String,
    counters: DeliveryCounters,
    queue: Mutex<Queue>,
    /// The writer thread waits here for messages.
    wake: Condvar,
    /// Flushes wait here for the writer thread to finish a write.
    progress: Condvar,
}

struct Queue {
    messages: VecDeque<OwnedMessage>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    /// The writer thread is waiting on `wake`: only then is it woken, so
    /// that a busy writer costs the request path no system call.
    idle: bool,
    /// A flush waits: write without lingering.
    hurry: bool,
    closed: bool,
}

impl WriterSink {
    /// A sink writing to `output` in `format`, its metrics labelled
    /// `client_id="relayer"`; starts its writer thread.
    pub fn new(output: Output, format: Format) -> Self {
        Self::with_counters(output, format, DeliveryCounters::default())
    }

    /// Like [`new`](Self::new), counting with `counters` (and so with
    /// their metrics' labels: see [`DeliveryCounters::with_sink`]).
    pub fn with_counters(output: Output, format: Format, counters: DeliveryCounters) -> Self {
        let Output { name, kind } = output;
        let (destination, terminal) = Destination::open(kind);
        let form = match format {
            Format::Json => Form::Json,
            Format::Auto if !terminal => Form::Json,
            Format::Auto | Format::Pretty => Form::Pretty {
                // https://no-color.org: set and not empty.
                colors: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            },
        };
        let shared = Arc::new(Shared {
            name,
            counters,
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                bytes: 0,
                max_messages: MAX_MESSAGES,
                max_bytes: MAX_BYTES,
                idle: false,
                hurry: false,
                closed: false,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("relayer-sink-{}", shared.name))
                .spawn(move || shared.run(destination, form))
        };
        let writer = match writer {
            Ok(writer) => Some(writer),
            Err(error) => {
                // Without a thread every message is refused, and counted.
                shared.lock().closed = true;
                tracing::error!(target: "relayer", sink = shared.name, %error, "cannot start the sink's writer thread");
                None
            }
        };
        Self {
            shared,
            writer: Mutex::new(writer),
        }
    }

    /// Bounds the queue at `messages` messages and `bytes` bytes (topic,
    /// key, headers and value) instead of 100,000 and 64 MiB.
    #[must_use]
    pub fn queue_bound(self, messages: usize, bytes: usize) -> Self {
        let mut queue = self.shared.lock();
        (queue.max_messages, queue.max_bytes) = (messages, bytes);
        drop(queue);
        self
    }

    /// The sink's name: its [`Output`]'s.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl Producer for WriterSink {
    fn send(&self, message: Message<'_>) -> Result<(), Error> {
        // Copied before the lock: the lock covers only the queue.
        let owned = OwnedMessage::new(&message);
        let size = size(&owned);
        let mut queue = self.shared.lock();
        let refusal = if queue.closed {
            Some(Error::SinkClosed {
                sink: self.shared.name.clone(),
                topic: message.topic.to_owned(),
            })
        } else if queue.messages.len() >= queue.max_messages || queue.bytes + size > queue.max_bytes
        {
            Some(Error::SinkFull {
                sink: self.shared.name.clone(),
                topic: message.topic.to_owned(),
            })
        } else {
            None
        };
        if let Some(error) = refusal {
            drop(queue);
            self.shared.counters.dropped(message.topic);
            return Err(error);
        }
        // Under the lock: counted before the writer can count it written.
        self.shared.counters.produced();
        queue.messages.push_back(owned);
        queue.bytes += size;
        // Woken when idle, and when a batch is full while it lingers.
        let wake = std::mem::take(&mut queue.idle) || queue.messages.len() == BATCH;
        drop(queue);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        queue.hurry = true;
        self.shared.wake.notify_one();
        loop {
            let queued = self.shared.counters.snapshot().queued;
            if queued == 0 {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::FlushTimeout {
                    timeout,
                    pending: usize::try_from(queued).unwrap_or(usize::MAX),
                });
            }
            queue = self
                .shared
                .progress
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Writes what it can within `timeout`, then closes the sink: what is
    /// still in the queue fails (counted), later messages are refused with
    /// [`Error::SinkClosed`]. A write under way when the time is up (an
    /// output that blocks) is left to finish: its messages stay `queued`.
    fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let flushed = self.flush(timeout);
        let mut queue = self.shared.lock();
        queue.closed = true;
        let left: Vec<OwnedMessage> = queue.messages.drain(..).collect();
        queue.bytes = 0;
        drop(queue);
        self.shared.wake.notify_one();
        self.shared
            .failed(&left, &"the sink was shut down before it was written");
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            producer::join_until(writer, deadline);
        }
        flushed
    }

    fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    fn client_id(&self) -> &str {
        self.shared.counters.client_id()
    }

    fn refused(&self, topic: &str) {
        self.shared.counters.dropped(topic);
    }
}

impl Drop for WriterSink {
    fn drop(&mut self) {
        let open = !self.shared.lock().closed;
        if open && self.shutdown(DROP_FLUSH_TIMEOUT).is_err() {
            tracing::warn!(
                target: "relayer",
                sink = self.shared.name,
                stats = ?self.stats(),
                "sink dropped with messages not written; call `Relayer::shutdown` before exit"
            );
        }
    }
}

impl fmt::Debug for WriterSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterSink")
            .field("name", &self.shared.name)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The bytes a queued message holds, against the queue's byte bound.
fn size(message: &OwnedMessage) -> usize {
    let headers: usize = message
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    message.topic.len() + message.key.as_ref().map_or(0, Vec::len) + headers + message.payload.len()
}

/// The resolved [`Format`].
#[derive(Clone, Copy)]
enum Form {
    Json,
    Pretty { colors: bool },
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: takes what is queued, formats it, writes it in
    /// one go, counts it; until the sink is closed and its queue empty.
    fn run(&self, mut destination: Destination, form: Form) {
        let mut buffer = Vec::new();
        loop {
            let batch: Vec<OwnedMessage> = {
                let mut queue = self.lock();
                let mut woken = false;
                while queue.messages.is_empty() {
                    if queue.closed {
                        return;
                    }
                    queue.idle = true;
                    queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                    woken = true;
                }
                if woken {
                    queue = self
                        .wake
                        .wait_timeout_while(queue, LINGER, |queue| {
                            queue.messages.len() < BATCH && !queue.hurry && !queue.closed
                        })
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                queue.hurry = false;
                let count = queue.messages.len().min(BATCH);
                let batch: Vec<OwnedMessage> = queue.messages.drain(..count).collect();
                queue.bytes -= batch.iter().map(size).sum::<usize>();
                batch
            };
            // A writer that panics (a `Write` given in code) fails the
            // batch, counted, and the thread goes on with the next one.
            let written = panic::catch_unwind(AssertUnwindSafe(|| {
                self.write_batch(&batch, &mut destination, form, &mut buffer);
            }));
            if written.is_err() {
                self.failed(&batch, &"the output panicked while writing");
            }
            buffer.clear();
            // Under the lock: a flush checking the counters cannot miss it.
            let _queue = self.lock();
            self.progress.notify_all();
        }
    }

    /// Formats `batch` into `buffer`, writes it in one go, and counts each
    /// message delivered or failed; a message that cannot be formatted
    /// fails alone.
    fn write_batch(
        &self,
        batch: &[OwnedMessage],
        destination: &mut Destination,
        form: Form,
        buffer: &mut Vec<u8>,
    ) {
        // Where each message's line ends in the buffer: a write that
        // fails half-way delivered the lines before it, whole.
        let mut ends = Vec::with_capacity(batch.len());
        let mut unformatted = Vec::new();
        for message in batch {
            let start = buffer.len();
            let formatted = panic::catch_unwind(AssertUnwindSafe(|| {
                message.with_message(|message| match form {
                    Form::Json => line::encode(message, buffer),
                    Form::Pretty { colors } => pretty::render(message, colors, buffer),
                });
            }));
            match formatted {
                Ok(()) => ends.push((message, buffer.len())),
                Err(_) => {
                    buffer.truncate(start);
                    unformatted.push(message);
                }
            }
        }
        if !unformatted.is_empty() {
            self.failed(unformatted, &"the message could not be formatted");
        }
        let (written, result) = destination.write(buffer);
        let delivered = ends.iter().take_while(|(_, end)| *end <= written).count();
        (0..delivered).for_each(|_| self.counters.delivered());
        if let Err(error) = result {
            self.failed(
                ends[delivered..].iter().map(|(message, _)| *message),
                &error,
            );
        }
    }

    /// Counts `messages` as failed with `error`: one count per topic.
    fn failed<'m>(
        &self,
        messages: impl IntoIterator<Item = &'m OwnedMessage>,
        error: &dyn fmt::Display,
    ) {
        let mut per_topic: BTreeMap<&str, u64> = BTreeMap::new();
        for message in messages {
            *per_topic.entry(&message.topic).or_default() += 1;
        }
        let error = format!("{}: {error}", self.name);
        for (topic, count) in per_topic {
            self.counters.failed_many(topic, count, &error);
        }
    }
}

/// Opens the file at `path` for appending, creating it with `mode` if
/// missing; not when `path` is a symbolic link.
fn append(path: &std::path::Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// The open output; a file is opened again after a failed write.
struct Destination {
    kind: Kind,
    file: Option<File>,
    /// The last write stopped inside a line.
    torn: bool,
}

impl Destination {
    /// Opens `kind`; also says whether it is a terminal.
    fn open(kind: Kind) -> (Self, bool) {
        let (file, terminal) = match &kind {
            Kind::Stdout => (None, io::stdout().is_terminal()),
            Kind::Stderr => (None, io::stderr().is_terminal()),
            // A failure to open is the first write's failure, counted then.
            Kind::File(path, mode) => {
                let file = append(path, *mode).ok();
                let terminal = file.as_ref().is_some_and(IsTerminal::is_terminal);
                (file, terminal)
            }
            Kind::Writer(_) => (None, false),
        };
        (
            Self {
                kind,
                file,
                torn: false,
            },
            terminal,
        )
    }

    /// Writes `bytes`; returns how many were written, and the error that
    /// stopped the rest.
    fn write(&mut self, bytes: &[u8]) -> (usize, io::Result<()>) {
        // A write that stopped inside a line left it torn: a newline ends
        // it, so the lines after it stay whole for whoever reads them.
        if self.torn {
            match self.write_all(b"\n") {
                (1, Ok(())) => self.torn = false,
                (_, result) => return (0, result),
            }
        }
        let (written, result) = self.write_all(bytes);
        self.torn = written > 0 && bytes.get(written - 1) != Some(&b'\n');
        if result.is_err() {
            // Opened again at the next write.
            self.file = None;
        }
        (written, result)
    }

    /// Like [`Write::write_all`], also saying how much it wrote.
    fn write_all(&mut self, bytes: &[u8]) -> (usize, io::Result<()>) {
        let mut stdout;
        let output: &mut dyn Write = match &mut self.kind {
            Kind::Stdout => {
                stdout = io::stdout().lock();
                &mut stdout
            }
            // Unbuffered: nothing to flush.
            Kind::Stderr => return write_counted(&mut io::stderr(), bytes),
            Kind::Writer(writer) => writer,
            Kind::File(path, mode) => match &mut self.file {
                Some(file) => file,
                slot @ None => match append(path, *mode) {
                    Ok(file) => slot.insert(file),
                    Err(error) => return (0, Err(error)),
                },
            },
        };
        match write_counted(output, bytes) {
            (written, Ok(())) => (written, output.flush()),
            failed => failed,
        }
    }
}

/// Writes `bytes` to `output` until done or an error; how many it wrote.
fn write_counted(output: &mut dyn Write, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match output.write(&bytes[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return (written, Err(error)),
        }
    }
    (written, Ok(()))
}
