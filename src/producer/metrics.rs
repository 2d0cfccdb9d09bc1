//! The delivery counters' handles in the `metrics` facade.
//!
//! Every handle is registered once, when the [`DeliveryCounters`] are
//! created, with the recorder installed at that moment (a thread's local
//! recorder included): counting a message then costs an atomic add, no
//! registry lookup. The per-topic counters of failures and drops are
//! registered when their topic first fails or drops, with the recorder of
//! the thread that counts it (the global one in a service).
//!
//! [`DeliveryCounters`]: super::DeliveryCounters

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

/// The label that tells relayers apart.
const CLIENT_ID: &str = "client_id";
/// The label of the per-topic counters.
const TOPIC: &str = "topic";
/// The label that tells the sinks of one relayer apart, when it has several.
const SINK: &str = "sink";

const PRODUCED: &str = "relayer_messages_produced_total";
const DELIVERED: &str = "relayer_messages_delivered_total";
const FAILED: &str = "relayer_messages_failed_total";
const DROPPED: &str = "relayer_messages_dropped_total";
const REPLACEMENTS: &str = "relayer_producer_replacements_total";
const QUEUE_DEPTH: &str = "relayer_queue_depth";
const SPOOL_DEPTH: &str = "relayer_spool_depth";
const SPOOL_BYTES: &str = "relayer_spool_bytes";
/// Counted by the relayer itself (records are sampled before they reach a
/// producer), described here with the others.
const SAMPLED_OUT: &str = "relayer_records_sampled_out_total";

/// The counter of the records a relayer's sampling policy left out,
/// labelled like its producer's metrics.
pub(crate) fn sampled_out(client_id: &str) -> Counter {
    counter!(SAMPLED_OUT, CLIENT_ID => client_id.to_owned())
}

/// The handles of one producer's counters, labelled with its `client_id`.
pub(super) struct Metrics {
    /// `client_id`, and `sink` for one of several sinks.
    labels: Vec<(&'static str, String)>,
    produced: Counter,
    delivered: Counter,
    replacements: Counter,
    /// The messages in a queue (librdkafka's, the spool, held for a new
    /// client): [`Stats::queued`](super::Stats::queued), counted in and out
    /// with it rather than read from librdkafka's `in_flight_count()`. That
    /// count also includes delivery reports and events not yet served,
    /// leaves out the messages held for a new client and the spooled ones,
    /// and would need a thread to poll it; this gauge moves with the
    /// counters (increments and decrements, no lock, no polling), so it
    /// agrees with `stats()` at every scrape. Relayers that share a
    /// `client_id` add up instead of overwriting each other.
    queue_depth: Gauge,
    spool_depth: Gauge,
    spool_bytes: Gauge,
    failed: PerTopic,
    dropped: PerTopic,
}

impl Metrics {
    pub(super) fn new(client_id: &str, sink: Option<&str>) -> Self {
        describe();
        let mut labels = vec![(CLIENT_ID, client_id.to_owned())];
        labels.extend(sink.map(|sink| (SINK, sink.to_owned())));
        Self {
            produced: counter!(PRODUCED, &labels),
            delivered: counter!(DELIVERED, &labels),
            replacements: counter!(REPLACEMENTS, &labels),
            queue_depth: gauge!(QUEUE_DEPTH, &labels),
            spool_depth: gauge!(SPOOL_DEPTH, &labels),
            spool_bytes: gauge!(SPOOL_BYTES, &labels),
            labels,
            failed: PerTopic::new(FAILED),
            dropped: PerTopic::new(DROPPED),
        }
    }

    /// `messages` new messages were produced.
    pub(super) fn produced(&self, messages: u64) {
        self.produced.increment(messages);
    }

    /// `delta` messages went into (or, negative, left) a queue.
    pub(super) fn queue_depth(&self, delta: f64) {
        self.queue_depth.increment(delta);
    }

    pub(super) fn delivered(&self, messages: u64) {
        self.delivered.increment(messages);
    }

    pub(super) fn failed(&self, topic: &str, messages: u64) {
        self.failed.increment(&self.labels, topic, messages);
    }

    pub(super) fn dropped(&self, topic: &str) {
        self.dropped.increment(&self.labels, topic, 1);
    }

    pub(super) fn replaced(&self) {
        self.replacements.increment(1);
    }

    /// `messages` messages went into the spool.
    pub(super) fn spooled(&self, messages: u64) {
        self.spool_depth.increment(messages as f64);
    }

    pub(super) fn unspooled(&self, messages: u64) {
        self.spool_depth.decrement(messages as f64);
    }

    pub(super) fn spool_bytes(&self, delta: i64) {
        self.spool_bytes.increment(delta as f64);
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// One counter per topic, registered at the topic's first count. Failures
/// and drops are the rare path: a lookup under a read lock is cheap enough,
/// and topics are set by code, so there are few of them.
struct PerTopic {
    name: &'static str,
    counters: RwLock<HashMap<String, Counter>>,
}

impl PerTopic {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            counters: RwLock::default(),
        }
    }

    fn increment(&self, labels: &[(&'static str, String)], topic: &str, by: u64) {
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        if let Some(counter) = counters.get(topic) {
            counter.increment(by);
            return;
        }
        drop(counters);
        let mut counters = self.counters.write().unwrap_or_else(|e| e.into_inner());
        counters
            .entry(topic.to_owned())
            .or_insert_with(|| {
                let mut labels = labels.to_vec();
                labels.push((TOPIC, topic.to_owned()));
                counter!(self.name, &labels)
            })
            .increment(by);
    }
}

/// Describes the metrics (units and help texts) to the current recorder.
///
/// Done with every set of counters, not once per process: a recorder
/// installed after the first relayer was built (or a test's local recorder)
/// gets them too. Exporters keep one description per name, so describing
/// again replaces the same text; a service builds its relayer once.
fn describe() {
    describe_counter!(
        PRODUCED,
        Unit::Count,
        "Messages handed to the producer (delivered + failed + dropped + queued)"
    );
    describe_counter!(DELIVERED, Unit::Count, "Messages the broker acknowledged");
    describe_counter!(
        FAILED,
        Unit::Count,
        "Messages that could not be delivered, per topic"
    );
    describe_counter!(
        DROPPED,
        Unit::Count,
        "Messages refused (queue and spool full, producer unavailable), per topic"
    );
    describe_counter!(
        REPLACEMENTS,
        Unit::Count,
        "Times the Kafka producer's client was replaced (dead, stalled)"
    );
    describe_counter!(
        SAMPLED_OUT,
        Unit::Count,
        "Records the sampling policy left out"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Messages in a queue, not yet delivered or failed: librdkafka's, held, spooled"
    );
    describe_gauge!(
        SPOOL_DEPTH,
        Unit::Count,
        "Messages waiting in the disk spool"
    );
    describe_gauge!(SPOOL_BYTES, Unit::Bytes, "Bytes of the disk spool's files");
}
