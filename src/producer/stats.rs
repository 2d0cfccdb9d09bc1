use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

#[cfg(feature = "metrics")]
use super::metrics::Metrics;
use crate::rate_limit::RateLimited;

/// A snapshot of what happened to the messages handed to a producer.
///
/// Every message is accounted for, in every snapshot, also while other
/// threads send: `produced == delivered + failed + dropped + queued`, where
/// `queued` is counted on its own (in when a queue takes a message, out
/// when it leaves), not derived from the others. Once a flush has
/// succeeded, `queued` is 0: a spooled message counts as queued until the
/// broker acknowledged it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages handed to the producer (with a spool: also the messages a
    /// previous process left in it, counted when they are found at start).
    pub produced: u64,
    /// Messages the broker acknowledged.
    pub delivered: u64,
    /// Messages that could not be delivered (after the producer's retries,
    /// or lost with a producer that librdkafka declared dead).
    pub failed: u64,
    /// Messages refused: the queue was full (and the spool too, or there is
    /// none), the producer was being replaced, or librdkafka refused them.
    pub dropped: u64,
    /// Messages not yet delivered or failed: in librdkafka's queue, in
    /// flight, or in the spool (`spooled` of them).
    pub queued: u64,
    /// Records the [sampling policy](crate::Sampling) left out: never
    /// produced, so outside the identity above.
    pub sampled_out: u64,
    /// Times the Kafka producer's librdkafka client was replaced by a new
    /// one: declared dead (a fatal error), stalled (the broker forgets the
    /// producer again and again).
    pub replacements: u64,
    /// Of the `queued` messages, those in the disk spool: written or about
    /// to be, and not yet acknowledged by the broker (replayed ones
    /// included: they leave the spool on their delivery report).
    pub spooled: u64,
    /// The bytes of the spool's segment files on disk.
    pub spool_bytes: u64,
    /// Bytes of spool files skipped because they were torn or corrupt (a
    /// crash during a write, a damaged disk); their messages are lost.
    pub spool_skipped_bytes: u64,
    /// The last delivery error per topic.
    pub last_errors: BTreeMap<String, String>,
    /// With several sinks ([`Builder::sink`](crate::Builder::sink)), each
    /// one's own counts, by sink name (`"kafka"`, `"stdout"`, ...); the
    /// fields above are then their sums. Empty with one sink.
    pub sinks: BTreeMap<String, Self>,
}

impl Stats {
    /// Adds `other`'s counts to these (a last error of `other` for the same
    /// topic replaces this one's): the totals of a [fan-out](crate::sink::FanOut).
    pub(crate) fn add(&mut self, other: &Self) {
        self.produced += other.produced;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.dropped += other.dropped;
        self.queued += other.queued;
        self.sampled_out += other.sampled_out;
        self.replacements += other.replacements;
        self.spooled += other.spooled;
        self.spool_bytes += other.spool_bytes;
        self.spool_skipped_bytes += other.spool_skipped_bytes;
        self.last_errors.extend(
            other
                .last_errors
                .iter()
                .map(|(topic, error)| (topic.clone(), error.clone())),
        );
    }
}

/// Delivery counters shared between a producer and its delivery callbacks.
///
/// Producer implementations count with it so that [`Stats`] mean the same
/// for every producer. `queued` is counted on its own, not derived from the
/// others: a message counts in when a queue takes it and out when it leaves
/// one, so a message lost between two queues, or counted twice, breaks the
/// identity of [`Stats`] instead of hiding in a remainder. Counting takes no
/// lock: request threads and librdkafka's callbacks never wait for each
/// other. A [`snapshot`](Self::snapshot) waits, spinning, for a moment when
/// no count is half done, so every snapshot is consistent.
///
/// With the `metrics` feature, every count also goes to the `metrics`
/// facade, labelled `client_id` (see [`new`](Self::new)): the counters
/// `relayer_messages_{produced,delivered}_total`, the counters
/// `relayer_messages_{failed,dropped}_total` with a `topic` label too,
/// `relayer_producer_replacements_total`, and the gauges
/// `relayer_queue_depth` (`queued`), `relayer_spool_depth` and
/// `relayer_spool_bytes`. Counters of one of several sinks (see
/// [`with_sink`](Self::with_sink)) carry a `sink` label too. Their handles
/// are registered when the counters are created: install the metrics
/// recorder before building the relayer.
#[derive(Debug)]
pub struct DeliveryCounters {
    client_id: String,
    sink: Option<String>,
    produced: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicU64,
    replacements: AtomicU64,
    spooled: AtomicU64,
    spool_bytes: AtomicU64,
    spool_skipped_bytes: AtomicU64,
    /// Updates begun and ended (see [`Update`]): a snapshot reads the
    /// counters between two equal readings of these.
    begun: AtomicU64,
    ended: AtomicU64,
    last_errors: Mutex<BTreeMap<String, String>>,
    /// Drops and failures, reported once per period during an outage.
    warnings: RateLimited,
    #[cfg(feature = "metrics")]
    metrics: Metrics,
}

/// The label of counters created with [`DeliveryCounters::default`].
pub(crate) const DEFAULT_CLIENT_ID: &str = "relayer";

thread_local! {
    /// The sink whose producer is being built on this thread, if any.
    static SINK_LABEL: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Updates this thread has begun and not ended: a snapshot taken in
    /// the middle of one must not wait for it.
    static UPDATING: Cell<u32> = const { Cell::new(0) };
}

/// Runs `build` with every [`DeliveryCounters::new`] it calls on this
/// thread labelled `sink` = `sink`, the way `metrics::with_local_recorder`
/// scopes a recorder: the builder labels the Kafka producer of one of
/// several sinks without the producer's constructors taking a label.
pub(crate) fn sink_label<T>(sink: &str, build: impl FnOnce() -> T) -> T {
    let outer = SINK_LABEL.replace(Some(sink.to_owned()));
    // Restored also if `build` panics.
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SINK_LABEL.set(self.0.take());
        }
    }
    let _restore = Restore(outer);
    build()
}

/// Counters labelled `client_id="relayer"`, like a [`KafkaProducer`] with
/// the relayer's [default configuration](crate::KAFKA_DEFAULTS).
///
/// [`KafkaProducer`]: super::KafkaProducer
impl Default for DeliveryCounters {
    fn default() -> Self {
        Self::new(DEFAULT_CLIENT_ID)
    }
}

impl DeliveryCounters {
    /// Counters whose metrics are labelled `client_id` = `client_id`, so
    /// that the metrics of two relayers in one process stay apart (with
    /// the `metrics` feature; otherwise the label is only kept).
    /// [`KafkaProducer`](super::KafkaProducer) takes its `client.id`;
    /// [`default`](Self::default) is `"relayer"`.
    ///
    /// Counters a relayer creates while it builds one of several sinks
    /// (the Kafka producer's, say) take that sink's label too, as with
    /// [`with_sink`](Self::with_sink).
    pub fn new(client_id: impl Into<String>) -> Self {
        // Set by `sink_label`: the Kafka producer's constructors need not
        // know of sinks.
        Self::labelled(client_id.into(), SINK_LABEL.with_borrow(Clone::clone))
    }

    /// Counters of the sink `sink` (e.g. `"stdout"`), one of several: their
    /// metrics are labelled `sink` = `sink` as well as `client_id`, so that
    /// each sink's figures stay apart.
    ///
    /// ```
    /// use relayer::producer::DeliveryCounters;
    ///
    /// let counters = DeliveryCounters::with_sink("billing", "stdout");
    /// assert_eq!((counters.client_id(), counters.sink()), ("billing", Some("stdout")));
    /// ```
    pub fn with_sink(client_id: impl Into<String>, sink: impl Into<String>) -> Self {
        Self::labelled(client_id.into(), Some(sink.into()))
    }

    fn labelled(client_id: String, sink: Option<String>) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            metrics: Metrics::new(&client_id, sink.as_deref()),
            client_id,
            sink,
            produced: AtomicU64::default(),
            delivered: AtomicU64::default(),
            failed: AtomicU64::default(),
            dropped: AtomicU64::default(),
            queued: AtomicU64::default(),
            replacements: AtomicU64::default(),
            spooled: AtomicU64::default(),
            spool_bytes: AtomicU64::default(),
            spool_skipped_bytes: AtomicU64::default(),
            begun: AtomicU64::default(),
            ended: AtomicU64::default(),
            last_errors: Mutex::default(),
            warnings: RateLimited::default(),
        }
    }

    /// The `client_id` label of these counters' metrics.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `sink` label of these counters' metrics, if they have one.
    pub fn sink(&self) -> Option<&str> {
        self.sink.as_deref()
    }

    /// A message was accepted into the queue: produced, and queued.
    pub fn produced(&self) {
        let update = self.update();
        update.produced(1);
        update.enqueued(1);
    }

    /// A queued message was acknowledged by the broker.
    pub fn delivered(&self) {
        let update = self.update();
        update.dequeued(1);
        update.delivered(1);
    }

    /// A message to `topic` was refused (it counts as produced and dropped,
    /// never queued).
    pub fn dropped(&self, topic: &str) {
        let update = self.update();
        update.produced(1);
        update.dropped(topic);
    }

    /// A queued message to `topic` could not be delivered.
    pub fn failed(&self, topic: &str, error: &dyn Display) {
        self.failed_many(topic, 1, error);
    }

    /// `messages` queued messages to `topic` could not be delivered, for
    /// one reason: one count, one warning.
    pub(crate) fn failed_many(&self, topic: &str, messages: u64, error: &dyn Display) {
        let update = self.update();
        update.dequeued(messages);
        update.failed(topic, messages, error);
    }

    /// Begins an update of several counts that a snapshot sees whole or
    /// not at all: a message moved from one queue to another, or out of a
    /// queue with its outcome.
    pub(crate) fn update(&self) -> Update<'_> {
        UPDATING.set(UPDATING.get() + 1);
        self.begun.fetch_add(1, SeqCst);
        Update(self)
    }

    /// A consistent snapshot of the counters: taken while no update is
    /// half done (but one this thread is in the middle of).
    pub fn snapshot(&self) -> Stats {
        let mut attempts = 0_u32;
        loop {
            let ended = self.ended.load(SeqCst);
            let stats = self.read();
            // No update was under way when `ended` was read, and none began
            // since: the counts read are those of one moment.
            if self.begun.load(SeqCst) == ended || UPDATING.get() > 0 {
                return stats;
            }
            attempts += 1;
            if attempts.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn read(&self) -> Stats {
        Stats {
            produced: self.produced.load(SeqCst),
            delivered: self.delivered.load(SeqCst),
            failed: self.failed.load(SeqCst),
            dropped: self.dropped.load(SeqCst),
            queued: self.queued.load(SeqCst),
            replacements: self.replacements.load(SeqCst),
            spooled: self.spooled.load(SeqCst),
            spool_bytes: self.spool_bytes.load(SeqCst),
            spool_skipped_bytes: self.spool_skipped_bytes.load(SeqCst),
            sampled_out: 0,
            sinks: BTreeMap::new(),
            last_errors: self
                .last_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// Counts of one update: a snapshot waits until it is dropped. Keep it
/// short, and never wait for anything while holding it.
pub(crate) struct Update<'a>(&'a DeliveryCounters);

impl Drop for Update<'_> {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, SeqCst);
        UPDATING.set(UPDATING.get() - 1);
    }
}

impl Update<'_> {
    /// `messages` new messages were handed over (not yet queued: see
    /// [`enqueued`](Self::enqueued)).
    pub(crate) fn produced(&self, messages: u64) {
        self.0.produced.fetch_add(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.produced(messages);
    }

    /// A queue took `messages` messages.
    pub(crate) fn enqueued(&self, messages: u64) {
        self.0.queued.fetch_add(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.queue_depth(messages as f64);
    }

    /// `messages` messages left a queue.
    pub(crate) fn dequeued(&self, messages: u64) {
        // Wraps if ever counted out more than in: a broken identity, seen.
        self.0.queued.fetch_sub(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.queue_depth(-(messages as f64));
    }

    /// `messages` messages were acknowledged by the broker.
    pub(crate) fn delivered(&self, messages: u64) {
        self.0.delivered.fetch_add(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.delivered(messages);
    }

    /// A message to `topic` was refused: dropped.
    pub(crate) fn dropped(&self, topic: &str) {
        let dropped = self.0.dropped.fetch_add(1, SeqCst) + 1;
        #[cfg(feature = "metrics")]
        self.0.metrics.dropped(topic);
        self.0.warnings.warn(|suppressed| tracing::warn!(target: "relayer", topic, dropped, suppressed, "message dropped: queue full or producer unavailable"));
    }

    /// `messages` messages to `topic` could not be delivered.
    pub(crate) fn failed(&self, topic: &str, messages: u64, error: &dyn Display) {
        if messages == 0 {
            return;
        }
        let failed = self.0.failed.fetch_add(messages, SeqCst) + messages;
        #[cfg(feature = "metrics")]
        self.0.metrics.failed(topic, messages);
        let error = error.to_string();
        self.0.warnings.warn(|suppressed| {
            tracing::warn!(target: "relayer", topic, error, failed, suppressed, "message delivery failed");
        });
        let mut last_errors = self.0.last_errors.lock().unwrap_or_else(|e| e.into_inner());
        last_errors.insert(topic.to_owned(), error);
    }

    /// A dead or stalled producer client was replaced by a new one.
    pub(crate) fn replaced(&self) {
        self.0.replacements.fetch_add(1, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.replaced();
    }

    /// `messages` queued messages went into the spool, or a previous
    /// process left them there.
    pub(crate) fn spooled(&self, messages: u64) {
        self.0.spooled.fetch_add(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.spooled(messages);
    }

    /// `messages` left the spool.
    pub(crate) fn unspooled(&self, messages: u64) {
        self.0.spooled.fetch_sub(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.0.metrics.unspooled(messages);
    }

    /// The spool's files grew (or shrank) by `delta` bytes.
    pub(crate) fn spool_bytes(&self, delta: i64) {
        if delta >= 0 {
            self.0.spool_bytes.fetch_add(delta as u64, SeqCst);
        } else {
            self.0.spool_bytes.fetch_sub(delta.unsigned_abs(), SeqCst);
        }
        #[cfg(feature = "metrics")]
        self.0.metrics.spool_bytes(delta);
    }

    /// Spool bytes that could not be read back were skipped.
    pub(crate) fn spool_skipped(&self, bytes: u64) {
        self.0.spool_skipped_bytes.fetch_add(bytes, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(stats: &Stats) -> bool {
        // Wrapping: a message counted out of a queue twice wraps it round.
        let outcomes = stats.delivered + stats.failed + stats.dropped;
        stats.produced == outcomes.wrapping_add(stats.queued)
    }

    #[test]
    fn counts_and_last_error_per_topic() {
        let counters = DeliveryCounters::default();
        counters.produced();
        counters.produced();
        counters.delivered();
        counters.failed("orders", &"broker down");
        counters.dropped("orders");
        let stats = counters.snapshot();
        assert_eq!(
            (stats.produced, stats.delivered, stats.failed, stats.dropped),
            (3, 1, 1, 1),
            "a dropped message counts as produced"
        );
        assert_eq!(stats.queued, 0);
        assert_eq!(stats.last_errors["orders"], "broker down");
    }

    /// `queued` is counted, not derived: a message that leaves a queue
    /// without an outcome, or gets two, shows.
    #[test]
    fn a_lost_or_twice_counted_message_breaks_the_identity() {
        let counters = DeliveryCounters::default();
        counters.produced();
        counters.produced();
        assert!(identity(&counters.snapshot()));
        // Out of a queue, into none, with no outcome: lost.
        counters.update().dequeued(1);
        let lost = counters.snapshot();
        assert!(!identity(&lost), "{lost:?}");
        // Delivered, and then failed too, out of no queue.
        let counters = DeliveryCounters::default();
        counters.produced();
        counters.delivered();
        counters.update().failed("orders", 1, &"twice");
        let twice = counters.snapshot();
        assert!(!identity(&twice), "{twice:?}");
    }

    #[test]
    fn a_snapshot_never_sees_half_an_update() {
        let counters = DeliveryCounters::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|threads| {
            for _ in 0..2 {
                threads.spawn(|| {
                    while !stop.load(SeqCst) {
                        counters.produced();
                        // Moved between queues, then delivered.
                        let update = counters.update();
                        update.dequeued(1);
                        update.enqueued(1);
                        drop(update);
                        counters.delivered();
                    }
                });
            }
            for _ in 0..20_000 {
                let stats = counters.snapshot();
                assert!(identity(&stats), "{stats:?}");
            }
            stop.store(true, SeqCst);
        });
    }

    #[test]
    fn spooled_messages_are_queued_until_they_leave() {
        let counters = DeliveryCounters::default();
        {
            let update = counters.update();
            update.produced(3);
            update.enqueued(3);
            update.spooled(3);
            update.spool_bytes(300);
            update.spool_skipped(7);
        }
        let stats = counters.snapshot();
        assert_eq!((stats.produced, stats.queued, stats.spooled), (3, 3, 3));
        assert_eq!((stats.spool_bytes, stats.spool_skipped_bytes), (300, 7));
        for failed in [false, true] {
            let update = counters.update();
            update.dequeued(1);
            update.unspooled(1);
            match failed {
                false => update.delivered(1),
                true => update.failed("orders", 1, &"too large"),
            }
        }
        let stats = counters.snapshot();
        assert_eq!(
            (stats.delivered, stats.failed, stats.queued, stats.spooled),
            (1, 1, 1, 1)
        );
        assert!(identity(&stats));
    }
}
