use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;

use super::client::{Client, Hooks};
use super::held::Held;
use super::spool::{Appended, Origin, Sent, Spool};
use super::supervisor::{self, Signal};
use super::{DeliveryCounters, Message, Producer, Stats};
use crate::Error;
use crate::rate_limit::RateLimited;

/// The real producer: librdkafka, with a thread of its own that polls for
/// delivery reports and counts them.
///
/// `send` only enqueues; librdkafka batches, retries and delivers in the
/// background, and refuses new messages once `queue.buffering.max.messages`
/// or `queue.buffering.max.kbytes` is reached: they are then dropped and
/// counted ([`Error::QueueFull`]), or appended to the disk spool when there
/// is one ([`with_spool`](Self::with_spool)).
///
/// A client that librdkafka declares dead (a fatal error of the idempotent
/// producer, e.g. after the broker lost the producer's state) is replaced
/// by a new one, with backoff. What the dead client had not sent goes
/// first to the new one, in order; messages sent meanwhile are spooled, or
/// held in memory within librdkafka's queue bounds, or dropped
/// ([`Error::ProducerUnavailable`]), and counted.
///
/// Usually built by [`Builder::build`](crate::Builder::build) from the
/// configured brokers and options; build one yourself to share a fully
/// custom librdkafka configuration:
///
/// ```
/// use relayer::{Relayer, producer::KafkaProducer};
/// use rdkafka::ClientConfig;
///
/// let producer = KafkaProducer::new(ClientConfig::new().set("bootstrap.servers", "localhost:9092"))?;
/// let relayer = Relayer::builder("logging").producer(producer).build()?;
/// # Ok::<(), relayer::Error>(())
/// ```
///
/// With the `metrics` feature, its metrics are labelled with its
/// `client.id` (`"relayer"` by [default](crate::KAFKA_DEFAULTS)): give two
/// producers of one process different ids to tell them apart.
pub struct KafkaProducer {
    shared: Arc<Shared>,
    signals: Sender<Signal>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

/// What the producer, its supervisor and the spool thread share.
pub(super) struct Shared {
    pub(super) config: ClientConfig,
    pub(super) hooks: Arc<Hooks>,
    /// The live client; empty while a dead one is being replaced.
    slot: RwLock<Option<Arc<Client>>>,
    /// With a spool: how long the client may be silent while messages
    /// wait before what it holds is spooled.
    pub(super) spool_after: Option<Duration>,
}

/// Statistics every second: how a stalled client is recognised (also for a
/// custom configuration that does not start from `KAFKA_DEFAULTS`).
const STATISTICS_INTERVAL_MS: &str = "1000";

/// librdkafka's default `client.id`.
const LIBRDKAFKA_CLIENT_ID: &str = "rdkafka";

/// librdkafka's default `queue.buffering.max.messages`.
const DEFAULT_QUEUE_MESSAGES: usize = 100_000;

/// librdkafka's default `queue.buffering.max.kbytes`.
const DEFAULT_QUEUE_KBYTES: usize = 1_048_576;

/// With a spool, how long a client may be silent while messages wait before
/// what it holds is spooled, by default: see
/// [`Builder::spool_after`](crate::Builder::spool_after).
pub const DEFAULT_SPOOL_AFTER: Duration = Duration::from_secs(1);

/// librdkafka purges its queue when the producer is dropped; give queued
/// messages a last chance instead, for services that never call `shutdown`.
const DROP_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl KafkaProducer {
    /// Creates the producer and its polling thread. Connecting to the brokers
    /// happens in the background; an unreachable broker is not an error here.
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        Self::create(config, None)
    }

    /// Like [`new`](Self::new), with a disk spool in `dir` holding at most
    /// `max_bytes`, used after [`DEFAULT_SPOOL_AFTER`] of silence: see
    /// [`Builder::spool`](crate::Builder::spool).
    pub fn with_spool(
        config: &ClientConfig,
        dir: impl AsRef<Path>,
        max_bytes: u64,
    ) -> Result<Self, Error> {
        Self::with_spool_after(config, dir, max_bytes, DEFAULT_SPOOL_AFTER)
    }

    /// Like [`with_spool`](Self::with_spool), spooling what librdkafka holds
    /// after `spool_after` of silence: see
    /// [`Builder::spool_after`](crate::Builder::spool_after).
    pub fn with_spool_after(
        config: &ClientConfig,
        dir: impl AsRef<Path>,
        max_bytes: u64,
        spool_after: Duration,
    ) -> Result<Self, Error> {
        Self::create(config, Some((dir.as_ref(), max_bytes, spool_after)))
    }

    fn create(config: &ClientConfig, spool: Option<(&Path, u64, Duration)>) -> Result<Self, Error> {
        // Labels the metrics: librdkafka's default when it is not set.
        let client_id = config.get("client.id").unwrap_or(LIBRDKAFKA_CLIENT_ID);
        let counters = Arc::new(DeliveryCounters::new(client_id));
        if config.get("delivery.report.only.error") == Some("true") {
            return Err(Error::Config(
                "delivery.report.only.error=true: relayer counts every message from its \
                 delivery report, and a spooled one leaves the spool on it"
                    .into(),
            ));
        }
        let spool_after = spool.map(|(_, _, after)| after);
        let spool = spool
            .map(|(dir, max_bytes, _)| {
                Spool::open(dir, max_bytes, counters.clone()).map_err(|source| Error::Spool {
                    dir: dir.to_owned(),
                    source,
                })
            })
            .transpose()?;
        let (signals, receiver) = mpsc::channel();
        // Held while no client is live: no more than librdkafka's queue
        // would hold.
        let bound = |key: &str, default: usize| {
            config
                .get(key)
                .and_then(|n| n.parse().ok())
                .unwrap_or(default)
        };
        let held = Held::new(
            bound("queue.buffering.max.messages", DEFAULT_QUEUE_MESSAGES),
            bound("queue.buffering.max.kbytes", DEFAULT_QUEUE_KBYTES).saturating_mul(1024),
        );
        let hooks = Arc::new(Hooks {
            counters,
            spool: spool.clone(),
            signals: Mutex::new(signals.clone()),
            held: Mutex::new(held),
            purged: Mutex::default(),
            next_order: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            no_room: RateLimited::default(),
        });
        let mut config = config.clone();
        if config.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        }
        let client = Client::new(&config, hooks.clone(), 0)?;
        let shared = Arc::new(Shared {
            config,
            hooks,
            slot: RwLock::new(Some(Arc::new(client))),
            spool_after,
        });
        let supervisor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("relayer-supervisor".into())
                .spawn(move || supervisor::run(&shared, &receiver))
                .map_err(|error| Error::Config(format!("cannot start a thread: {error}")))?
        };
        if let Some(spool) = spool {
            let shared = shared.clone();
            spool
                .start(move |message, ticket| shared.replay(message, ticket))
                .map_err(|error| Error::Config(format!("cannot start a thread: {error}")))?;
        }
        Ok(Self {
            shared,
            signals,
            supervisor: Mutex::new(Some(supervisor)),
            closed: AtomicBool::new(false),
        })
    }

    fn counters(&self) -> &DeliveryCounters {
        &self.shared.hooks.counters
    }

    /// Flushes until `deadline` (less what closing needs), then moves what
    /// is still queued or in flight to the spool (or counts it as failed),
    /// stops the threads and the client, all by `deadline`. Idempotent.
    fn close(&self, deadline: Instant) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // Purging, moving the rest to the spool, stopping librdkafka's
        // polling thread (it wakes every 100 ms) and destroying the
        // client, then the spool's last writes and sync: within the
        // deadline too, the spool's share last.
        let reserve = (left / 4).min(Duration::from_millis(500));
        let flushed = self.flush(left - reserve);
        let hooks = &self.shared.hooks;
        let settled_by = match hooks.spool {
            Some(_) => deadline - reserve / 2,
            None => deadline,
        };
        hooks.closing_now();
        if let Some(spool) = &hooks.spool {
            spool.pause(true);
        }
        // A replacement under way settles its old client first: what that
        // one purges is spooled (or failed) before the spool stops.
        let _ = self.signals.send(Signal::Stop);
        let supervisor = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(supervisor) = supervisor {
            super::join_until(supervisor, settled_by);
        }
        let client = self
            .shared
            .slot
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(client) = client {
            // Never sent: to the spool (first at the next start), or
            // failed. In flight past half the time left: purged too, and
            // spooled (at least once: the broker may have written them;
            // it did not say), or, without a spool, failed.
            if hooks.spool.is_some() {
                client.stalled();
            }
            client.settle(settled_by, true);
            if let Some(client) = Arc::into_inner(client) {
                client.close(settled_by);
            }
        }
        hooks.place_purged();
        for message in hooks.held().take() {
            hooks
                .counters
                .failed(&message.topic, &"not delivered before shutdown");
        }
        if let Some(spool) = &hooks.spool {
            spool.stop(deadline);
        }
        flushed
    }
}

/// Shows the client id, the live client's generation and the counts; not
/// the configuration, which may hold secrets.
impl fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("client_id", &self.counters().client_id())
            .field(
                "generation",
                &self.shared.client().map(|client| client.generation),
            )
            .field("spool", &self.shared.hooks.spool.is_some())
            .field("closed", &self.closed.load(Ordering::Acquire))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Takes the client out of the slot if it is still `generation` (and,
    /// `if_fatal`, librdkafka declared it dead).
    pub(super) fn take_client(&self, generation: u64, if_fatal: bool) -> Option<Arc<Client>> {
        let current = self.client()?;
        if current.generation != generation
            || (if_fatal && current.producer.client().fatal_error().is_none())
        {
            return None;
        }
        let mut slot = self.slot.write().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(client) if client.generation == generation => slot.take(),
            _ => None,
        }
    }

    /// Makes `client` the live one, after handing it the held messages,
    /// purged ones first; not once shutdown has begun.
    pub(super) fn install(&self, client: Arc<Client>) {
        let mut held = self.hooks.held();
        if self.hooks.closing.load(Ordering::Acquire) {
            return;
        }
        self.send_held(&mut held, &client);
        *self.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(client);
        drop(held);
        if let Some(spool) = &self.hooks.spool {
            spool.wake();
        }
    }

    /// Sends messages held after the live client was installed: purged
    /// by the old client later than it was waited for.
    pub(super) fn resend_held(&self) {
        let mut held = self.hooks.held();
        if let Some(client) = self.client() {
            self.send_held(&mut held, &client);
        }
    }

    fn send_held(&self, held: &mut Held, client: &Client) {
        for message in held.take() {
            // From the held queue into librdkafka's, as one.
            let update = self.hooks.counters.update();
            if let Err(error) = message.with_message(|message| client.send(message, 0)) {
                update.dequeued(1);
                update.failed(&message.topic, 1, &error);
            }
        }
    }

    /// While no healthy client is live, keeps `message` for the next one,
    /// within librdkafka's queue bounds; sends it when there is one again.
    fn hold(&self, message: &Message<'_>) -> Result<(), KafkaError> {
        let refused = KafkaError::MessageProduction(RDKafkaErrorCode::Fatal);
        let mut held = self.hooks.held();
        if let Some(client) = self.client()
            && client.producer.client().fatal_error().is_none()
        {
            drop(held);
            // Counted in before librdkafka can report the delivery.
            let update = self.hooks.counters.update();
            update.enqueued(1);
            let sent = client.send(message, 0);
            if sent.is_err() {
                update.dequeued(1);
            }
            return sent;
        }
        if self.hooks.closing.load(Ordering::Acquire) || held.keep(message, false).is_none() {
            return Err(refused);
        }
        self.hooks.counters.update().enqueued(1);
        Ok(())
    }

    pub(super) fn client(&self) -> Option<Arc<Client>> {
        self.slot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends to the live client; `None` while there is none.
    fn send(&self, message: &Message<'_>, ticket: u64) -> Option<Result<(), KafkaError>> {
        let slot = self.slot.read().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|client| client.send(message, ticket))
    }

    /// The replay thread's sink.
    fn replay(&self, message: &Message<'_>, ticket: u64) -> Sent {
        match self.send(message, ticket) {
            Some(Ok(())) => Sent::Queued,
            None => Sent::Later,
            Some(Err(error)) if unavailable(&error) => Sent::Later,
            Some(Err(error)) => Sent::Refused(error.to_string()),
        }
    }
}

/// The queue is full or the client is dead: worth trying again later.
fn unavailable(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::QueueFull | RDKafkaErrorCode::Fatal)
    )
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        let deadline = Instant::now() + DROP_FLUSH_TIMEOUT;
        if !self.closed.load(Ordering::Acquire) && self.close(deadline).is_err() {
            tracing::warn!(
                target: "relayer",
                stats = ?self.stats(),
                "producer dropped with messages not delivered; call `Relayer::shutdown` before exit"
            );
        }
    }
}

impl Producer for KafkaProducer {
    fn send(&self, message: Message<'_>) -> Result<(), Error> {
        let hooks = &self.shared.hooks;
        let topic = message.topic;
        // Once spooling started, everything goes through the spool until
        // it is delivered: per-key order is kept.
        if let Some(spool) = &hooks.spool
            && spool.is_active()
        {
            match spool.append(&message, Origin::New, true) {
                Appended::Yes => return Ok(()),
                Appended::Refused => {
                    return Err(Error::SpoolFull {
                        topic: topic.to_owned(),
                    });
                }
                Appended::Inactive => {}
            }
        }
        // Counted into librdkafka's queue before it can report the delivery.
        hooks.counters.produced();
        let error = match self.shared.send(&message, 0) {
            Some(Ok(())) => return Ok(()),
            Some(Err(error)) => error,
            None => KafkaError::MessageProduction(RDKafkaErrorCode::Fatal),
        };
        // Not taken after all: out of librdkafka's queue and into the
        // spool, or held, or dropped, as one.
        let update = hooks.counters.update();
        update.dequeued(1);
        if unavailable(&error)
            && let Some(spool) = &hooks.spool
        {
            if spool.append(&message, Origin::Refused, false) == Appended::Yes {
                return Ok(());
            }
            return Err(Error::SpoolFull {
                topic: topic.to_owned(),
            });
        }
        // No live client: held for the next one, in order, within bounds.
        let error = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Fatal) => match self.shared.hold(&message) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            },
            _ => error,
        };
        update.dropped(topic);
        let topic = topic.to_owned();
        Err(match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => Error::QueueFull { topic },
            Some(RDKafkaErrorCode::Fatal) => Error::ProducerUnavailable { topic },
            _ => Error::Kafka(error),
        })
    }

    fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.counters().snapshot();
            // Delivered in full, and the spool's files of it deleted.
            let spool = self.shared.hooks.spool.as_ref();
            if stats.queued == 0 && spool.is_none_or(|spool| spool.is_empty()) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::FlushTimeout {
                    timeout,
                    pending: stats.queued as usize,
                });
            }
            let step = left.min(Duration::from_millis(50));
            match self.shared.client() {
                // librdkafka's own queue is empty; delivery reports or the
                // spool are still on their way.
                Some(client) if stats.spooled == 0 && client.producer.in_flight_count() > 0 => {
                    let _ = client.producer.flush(step);
                }
                _ => std::thread::sleep(step.min(Duration::from_millis(2))),
            }
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        self.close(Instant::now() + timeout)
    }

    fn stats(&self) -> Stats {
        self.counters().snapshot()
    }

    fn client_id(&self) -> &str {
        self.counters().client_id()
    }

    fn refused(&self, topic: &str) {
        self.counters().dropped(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_client_not_its_configuration() {
        let producer = KafkaProducer::new(
            ClientConfig::new()
                .set("bootstrap.servers", "127.0.0.1:9")
                .set("client.id", "billing")
                .set("sasl.password", "hunter2"),
        )
        .unwrap();
        let debug = format!("{producer:?}");
        assert!(debug.contains(r#"client_id: "billing""#), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("127.0.0.1"), "{debug}");
    }
}
