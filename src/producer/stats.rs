use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A snapshot of what happened to the messages handed to a producer.
///
/// Every message is accounted for:
/// `produced == delivered + failed + dropped + queued`; once a flush has
/// succeeded, `queued` is 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages handed to the producer.
    pub produced: u64,
    /// Messages the broker acknowledged.
    pub delivered: u64,
    /// Messages that could not be delivered (after the producer's retries).
    pub failed: u64,
    /// Messages refused because the queue was full.
    pub dropped: u64,
    /// Messages waiting in the queue or in flight right now.
    pub queued: u64,
    /// Records the [sampling policy](crate::Sampling) left out: never
    /// produced, so outside the identity above.
    pub sampled_out: u64,
    /// The last delivery error per topic.
    pub last_errors: BTreeMap<String, String>,
}

/// How often a delivery failure is reported through `tracing::warn!`.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Delivery counters shared between a producer and its delivery callbacks.
///
/// Producer implementations count with it so that [`Stats`] mean the same
/// for every producer. With the `metrics` feature, every count also goes to
/// the `metrics` facade: the counters
/// `relayer_messages_{produced,delivered,failed,dropped}_total` and the gauge
/// `relayer_queue_depth` (messages produced and not yet delivered or failed).
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    produced: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    last_errors: Mutex<BTreeMap<String, String>>,
    warned: Mutex<Option<Instant>>,
}

impl DeliveryCounters {
    /// A message was accepted into the queue.
    pub fn produced(&self) {
        self.count_produced();
        #[cfg(feature = "metrics")]
        metrics::gauge!("relayer_queue_depth").increment(1.0);
    }

    fn count_produced(&self) {
        self.produced.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("relayer_messages_produced_total").increment(1);
    }

    /// A message was acknowledged by the broker.
    pub fn delivered(&self) {
        self.delivered.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("relayer_messages_delivered_total").increment(1);
            metrics::gauge!("relayer_queue_depth").decrement(1.0);
        }
    }

    /// A message to `topic` was refused because the queue was full (it
    /// counts as produced and dropped).
    pub fn dropped(&self, topic: &str) {
        self.count_produced();
        let dropped = self.dropped.fetch_add(1, Relaxed) + 1;
        #[cfg(feature = "metrics")]
        metrics::counter!("relayer_messages_dropped_total").increment(1);
        self.warn(|| tracing::warn!(target: "relayer", topic, dropped, "producer queue full, message dropped"));
    }

    /// A message to `topic` could not be delivered.
    pub fn failed(&self, topic: &str, error: &dyn Display) {
        let failed = self.failed.fetch_add(1, Relaxed) + 1;
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

    /// The counters, with `queued` messages still in flight.
    pub fn snapshot(&self, queued: u64) -> Stats {
        Stats {
            produced: self.produced.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            queued,
            sampled_out: 0,
            last_errors: self
                .last_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
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
        let stats = counters.snapshot(0);
        assert_eq!(
            (stats.produced, stats.delivered, stats.failed, stats.dropped),
            (3, 1, 1, 1),
            "a dropped message counts as produced"
        );
        assert_eq!(stats.last_errors["orders"], "broker down");
    }
}
