use std::cell::RefCell;
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
/// threads send: `produced == delivered + failed + dropped + queued`. Once a
/// flush has succeeded, `queued` is 0: a spooled message counts as queued
/// until the broker acknowledged it.
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
/// for every producer. `queued` is derived from the other counters, so the
/// identity of [`Stats`] holds in every [`snapshot`](Self::snapshot) by
/// construction: a message is counted as produced before it can be counted
/// as delivered, failed or dropped, and a snapshot reads those before it
/// reads `produced`, so `queued` is never negative. Counting takes no lock:
/// request threads and librdkafka's callbacks never wait for each other.
///
/// With the `metrics` feature, every count also goes to the `metrics`
/// facade, labelled `client_id` (see [`new`](Self::new)): the counters
/// `relayer_messages_{produced,delivered}_total`, the counters
/// `relayer_messages_{failed,dropped}_total` with a `topic` label too, and
/// the gauges `relayer_queue_depth` (messages produced and not yet
/// delivered, failed or dropped: `queued`), `relayer_spool_depth` and
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
    spooled: AtomicU64,
    spool_bytes: AtomicU64,
    spool_skipped_bytes: AtomicU64,
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
            spooled: AtomicU64::default(),
            spool_bytes: AtomicU64::default(),
            spool_skipped_bytes: AtomicU64::default(),
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

    /// A message was accepted into the queue.
    pub fn produced(&self) {
        self.produced.fetch_add(1, SeqCst);
        #[cfg(feature = "metrics")]
        self.metrics.produced(1);
    }

    /// A message was acknowledged by the broker.
    pub fn delivered(&self) {
        self.delivered.fetch_add(1, SeqCst);
        #[cfg(feature = "metrics")]
        self.metrics.delivered();
    }

    /// A message to `topic` was refused (it counts as produced and dropped).
    pub fn dropped(&self, topic: &str) {
        self.produced();
        self.refused(topic);
    }

    /// A message counted as [`produced`](Self::produced) was refused after
    /// all: it counts as dropped.
    pub(crate) fn refused(&self, topic: &str) {
        let dropped = self.dropped.fetch_add(1, SeqCst) + 1;
        #[cfg(feature = "metrics")]
        self.metrics.dropped(topic);
        self.warnings.warn(|suppressed| tracing::warn!(target: "relayer", topic, dropped, suppressed, "message dropped: queue full or producer unavailable"));
    }

    /// A message to `topic` could not be delivered.
    pub fn failed(&self, topic: &str, error: &dyn Display) {
        self.failed_many(topic, 1, error);
    }

    /// `messages` messages to `topic` could not be delivered, for one
    /// reason: one count, one warning.
    pub(crate) fn failed_many(&self, topic: &str, messages: u64, error: &dyn Display) {
        if messages == 0 {
            return;
        }
        let failed = self.failed.fetch_add(messages, SeqCst) + messages;
        #[cfg(feature = "metrics")]
        self.metrics.failed(topic, messages);
        let error = error.to_string();
        self.warnings.warn(|suppressed| {
            tracing::warn!(target: "relayer", topic, error, failed, suppressed, "message delivery failed");
        });
        let mut last_errors = self.last_errors.lock().unwrap_or_else(|e| e.into_inner());
        last_errors.insert(topic.to_owned(), error);
    }

    /// A consistent snapshot of the counters.
    pub fn snapshot(&self) -> Stats {
        // Outcomes first, then `produced`: every message counted in an
        // outcome was counted as produced before, so it is seen there too.
        let delivered = self.delivered.load(SeqCst);
        let failed = self.failed.load(SeqCst);
        let dropped = self.dropped.load(SeqCst);
        let produced = self.produced.load(SeqCst);
        Stats {
            produced,
            delivered,
            failed,
            dropped,
            // Never negative, even if a count were ever off: a wrong
            // figure is better than a panic or a wrapped one.
            queued: produced.saturating_sub(delivered + failed + dropped),
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

    /// A message went into the spool: a new one (`new`, counted as produced)
    /// or one that was in librdkafka's queue.
    pub(crate) fn spooled(&self, new: bool, bytes: u64) {
        self.produced.fetch_add(u64::from(new), SeqCst);
        self.spooled.fetch_add(1, SeqCst);
        self.spool_bytes.fetch_add(bytes, SeqCst);
        #[cfg(feature = "metrics")]
        {
            if new {
                self.metrics.produced(1);
            }
            self.metrics.spooled(1, bytes);
        }
    }

    /// Messages a previous process left in the spool, found at start: they
    /// count as produced by this one.
    pub(crate) fn recovered(&self, messages: u64, bytes: u64, skipped_bytes: u64) {
        self.produced.fetch_add(messages, SeqCst);
        self.spooled.fetch_add(messages, SeqCst);
        self.spool_bytes.fetch_add(bytes, SeqCst);
        self.spool_skipped_bytes.fetch_add(skipped_bytes, SeqCst);
        #[cfg(feature = "metrics")]
        {
            self.metrics.produced(messages);
            self.metrics.spooled(messages, bytes);
        }
    }

    /// `messages` left the spool: delivered, failed, or lost (counted as
    /// such by the caller, after this).
    pub(crate) fn unspooled(&self, messages: u64) {
        self.spooled.fetch_sub(messages, SeqCst);
        #[cfg(feature = "metrics")]
        self.metrics.unspooled(messages);
    }

    /// The spool's files shrank (or grew) by `delta` bytes.
    pub(crate) fn spool_bytes(&self, delta: i64) {
        if delta >= 0 {
            self.spool_bytes.fetch_add(delta as u64, SeqCst);
        } else {
            self.spool_bytes.fetch_sub(delta.unsigned_abs(), SeqCst);
        }
        #[cfg(feature = "metrics")]
        self.metrics.spool_bytes(delta);
    }

    /// Spool bytes that could not be read back were skipped.
    pub(crate) fn spool_skipped(&self, bytes: u64) {
        self.spool_skipped_bytes.fetch_add(bytes, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn spooled_messages_are_queued_until_they_leave() {
        let counters = DeliveryCounters::default();
        counters.recovered(2, 200, 7);
        counters.spooled(true, 100);
        let stats = counters.snapshot();
        assert_eq!((stats.produced, stats.queued, stats.spooled), (3, 3, 3));
        assert_eq!((stats.spool_bytes, stats.spool_skipped_bytes), (300, 7));
        counters.unspooled(1);
        counters.delivered();
        counters.unspooled(1);
        counters.failed("orders", &"too large");
        let stats = counters.snapshot();
        assert_eq!(
            (stats.delivered, stats.failed, stats.queued, stats.spooled),
            (1, 1, 1, 1)
        );
    }
}
