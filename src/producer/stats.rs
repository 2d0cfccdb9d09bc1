use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A snapshot of what happened to the messages handed to a producer.
///
/// Every message is accounted for, in every snapshot, also while other
/// threads send: `produced == delivered + failed + dropped + queued`. Once a
/// flush has succeeded, `queued` is 0 (unless the spool holds messages for a
/// broker that is still unreachable).
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
    /// Of the `queued` messages, those waiting in the disk spool.
    pub spooled: u64,
    /// The bytes of the spool's segment files on disk.
    pub spool_bytes: u64,
    /// Bytes of spool files skipped because they were torn or corrupt (a
    /// crash during a write, a damaged disk); their messages are lost.
    pub spool_skipped_bytes: u64,
    /// The last delivery error per topic.
    pub last_errors: BTreeMap<String, String>,
}

/// How often a delivery failure is reported through `tracing::warn!`.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Delivery counters shared between a producer and its delivery callbacks.
///
/// Producer implementations count with it so that [`Stats`] mean the same
/// for every producer. All counters sit under one lock, so a
/// [`snapshot`](Self::snapshot) is consistent: `queued` is derived from the
/// others and the identity of [`Stats`] holds by construction. With the
/// `metrics` feature, every count also goes to the `metrics` facade: the
/// counters `relayer_messages_{produced,delivered,failed,dropped}_total`
/// and the gauges `relayer_queue_depth` (messages produced and not yet
/// delivered or failed), `relayer_spool_depth` and `relayer_spool_bytes`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    counts: Mutex<Counts>,
    last_errors: Mutex<BTreeMap<String, String>>,
    warned: Mutex<Option<Instant>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    produced: u64,
    delivered: u64,
    failed: u64,
    dropped: u64,
    spooled: u64,
    spool_bytes: u64,
    spool_skipped_bytes: u64,
}

impl DeliveryCounters {
    /// A message was accepted into the queue.
    pub fn produced(&self) {
        self.counts().produced += 1;
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_produced_total").increment(1);
            metrics::gauge!("relayer_queue_depth").increment(1.0);
        }
    }

    /// A message was acknowledged by the broker.
    pub fn delivered(&self) {
        self.counts().delivered += 1;
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_delivered_total").increment(1);
            metrics::gauge!("relayer_queue_depth").decrement(1.0);
        }
    }

    /// A message to `topic` was refused (it counts as produced and dropped).
    pub fn dropped(&self, topic: &str) {
        self.produced();
        self.refused(topic);
    }

    /// A message counted as [`produced`](Self::produced) was refused after
    /// all: it counts as dropped.
    pub(crate) fn refused(&self, topic: &str) {
        let dropped = {
            let mut counts = self.counts();
            counts.dropped += 1;
            counts.dropped
        };
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_dropped_total").increment(1);
            metrics::gauge!("relayer_queue_depth").decrement(1.0);
        }
        self.warn(|| tracing::warn!(target: "relayer", topic, dropped, "message dropped: queue full or producer unavailable"));
    }

    /// A message to `topic` could not be delivered.
    pub fn failed(&self, topic: &str, error: &dyn Display) {
        let failed = {
            let mut counts = self.counts();
            counts.failed += 1;
            counts.failed
        };
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_failed_total").increment(1);
            metrics::gauge!("relayer_queue_depth").decrement(1.0);
        }
        let error = error.to_string();
        self.warn(
            || tracing::warn!(target: "relayer", topic, error, failed, "message delivery failed"),
        );
        let mut last_errors = self.last_errors.lock().unwrap_or_else(|e| e.into_inner());
        last_errors.insert(topic.to_owned(), error);
    }

    /// A consistent snapshot of the counters.
    pub fn snapshot(&self) -> Stats {
        let counts = *self.counts();
        let queued = counts.produced - counts.delivered - counts.failed - counts.dropped;
        Stats {
            produced: counts.produced,
            delivered: counts.delivered,
            failed: counts.failed,
            dropped: counts.dropped,
            queued,
            spooled: counts.spooled,
            spool_bytes: counts.spool_bytes,
            spool_skipped_bytes: counts.spool_skipped_bytes,
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
        {
            let mut counts = self.counts();
            counts.produced += u64::from(new);
            counts.spooled += 1;
            counts.spool_bytes += bytes;
        }
        #[cfg(feature = "metrics")]
        {
            if new {
                metrics::counter!("relayer_messages_produced_total").increment(1);
                metrics::gauge!("relayer_queue_depth").increment(1.0);
            }
            metrics::gauge!("relayer_spool_depth").increment(1.0);
            metrics::gauge!("relayer_spool_bytes").increment(bytes as f64);
        }
    }

    /// Messages a previous process left in the spool, found at start: they
    /// count as produced by this one.
    pub(crate) fn recovered(&self, messages: u64, bytes: u64, skipped_bytes: u64) {
        {
            let mut counts = self.counts();
            counts.produced += messages;
            counts.spooled += messages;
            counts.spool_bytes += bytes;
            counts.spool_skipped_bytes += skipped_bytes;
        }
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_produced_total").increment(messages);
            metrics::gauge!("relayer_queue_depth").increment(messages as f64);
            metrics::gauge!("relayer_spool_depth").increment(messages as f64);
            metrics::gauge!("relayer_spool_bytes").increment(bytes as f64);
        }
    }

    /// A message left the spool: handed to librdkafka's queue (it stays
    /// queued), or, when `failed`, refused for good.
    pub(crate) fn unspooled(&self, topic: &str, failed: Option<&dyn Display>) {
        {
            let mut counts = self.counts();
            counts.spooled -= 1;
        }
        #[cfg(feature = "metrics")]
        metrics::gauge!("relayer_spool_depth").decrement(1.0);
        if let Some(error) = failed {
            self.failed(topic, error);
        }
    }

    /// The spool's files shrank (or grew) by `delta` bytes.
    pub(crate) fn spool_bytes(&self, delta: i64) {
        {
            let mut counts = self.counts();
            counts.spool_bytes = counts.spool_bytes.saturating_add_signed(delta);
        }
        #[cfg(feature = "metrics")]
        metrics::gauge!("relayer_spool_bytes").increment(delta as f64);
    }

    /// Spool bytes that could not be read back were skipped.
    pub(crate) fn spool_skipped(&self, bytes: u64) {
        self.counts().spool_skipped_bytes += bytes;
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `warn` at most once per [`WARN_EVERY`], so an outage does not
    /// flood the application's logs; the counts in the message tell the rest.
    fn warn(&self, warn: impl FnOnce()) {
        let mut last = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            warn();
        }
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
        counters.unspooled("orders", None);
        counters.delivered();
        counters.unspooled("orders", Some(&"too large"));
        let stats = counters.snapshot();
        assert_eq!(
            (stats.delivered, stats.failed, stats.queued, stats.spooled),
            (1, 1, 1, 1)
        );
    }
}
