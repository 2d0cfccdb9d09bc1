//! Where messages go: the [`Producer`] trait, the Kafka implementation, and
//! delivery accounting.

mod client;
mod held;
mod kafka;
#[cfg(feature = "metrics")]
mod metrics;
mod owned;
mod patch;
mod poller;
mod silence;
mod spool;
mod stall;
mod stats;
mod supervisor;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use kafka::{DEFAULT_SPOOL_AFTER, KafkaProducer};
#[cfg(feature = "metrics")]
pub(crate) use metrics::sampled_out as sampled_out_counter;
pub(crate) use owned::OwnedMessage;
#[doc(hidden)]
pub use patch::patch_thread;
pub(crate) use patch::patched;
pub(crate) use stats::{DEFAULT_CLIENT_ID, sink_label};
pub use stats::{DeliveryCounters, Stats};

use crate::Error;

/// One message, serialized, on its way to a topic.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The full topic name, prefix and suffix included.
    pub topic: &'a str,
    /// The key bytes; `None` lets Kafka spread messages over partitions.
    pub key: Option<&'a [u8]>,
    /// Kafka message headers: for an event emitted inside a request, its
    /// request id (under the configured header name), `traceparent`, and
    /// `tracestate` when there is one.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The JSON bytes of the message.
    pub payload: &'a [u8],
}

/// Sends serialized messages to topics. [`KafkaProducer`] is the real one;
/// `relayer_test::MockProducer` records messages for tests.
///
/// Implementations must never block in [`send`](Producer::send): hand the
/// message to a queue and return, or refuse it with [`Error::QueueFull`].
///
/// ```
/// use std::time::Duration;
/// use relayer::producer::{DeliveryCounters, Message, Producer, Stats};
///
/// /// Prints every message instead of sending it.
/// #[derive(Default)]
/// struct Stdout(DeliveryCounters);
///
/// impl Producer for Stdout {
///     fn send(&self, message: Message<'_>) -> relayer::Result<()> {
///         println!("{}: {}", message.topic, String::from_utf8_lossy(message.payload));
///         self.0.produced();
///         self.0.delivered();
///         Ok(())
///     }
///     fn flush(&self, _timeout: Duration) -> relayer::Result<()> {
///         Ok(())
///     }
///     fn stats(&self) -> Stats {
///         self.0.snapshot()
///     }
/// }
///
/// let relayer = relayer::Relayer::builder("logging").producer(Stdout::default()).build()?;
/// relayer.emit("greeting", "hello", "world")?;
/// assert_eq!(relayer.stats().delivered, 1);
/// # Ok::<(), relayer::Error>(())
/// ```
pub trait Producer: Send + Sync + 'static {
    /// Hands one message over without waiting for its delivery.
    fn send(&self, message: Message<'_>) -> Result<(), Error>;

    /// Waits until every message handed over so far is delivered or failed,
    /// for at most `timeout`. Blocks the calling thread.
    fn flush(&self, timeout: Duration) -> Result<(), Error>;

    /// A snapshot of the delivery counters.
    fn stats(&self) -> Stats;

    /// The `client_id` label of this producer's metrics (with the `metrics`
    /// feature), also put on the relayer's own: the one its
    /// [`DeliveryCounters`] were [created](DeliveryCounters::new) with.
    /// By default `"relayer"`, the label of [`DeliveryCounters::default`].
    fn client_id(&self) -> &str {
        stats::DEFAULT_CLIENT_ID
    }

    /// Counts a message to `topic` that relayer refused before handing it
    /// over (over the maximum message size) as produced and dropped, so
    /// that every refusal shows in [`stats`](Producer::stats). By default
    /// nothing: a producer without counters has nothing to count.
    fn refused(&self, topic: &str) {
        let _ = topic;
    }

    /// Flushes for at most `timeout`, then lets go of what is left, so that
    /// the whole shutdown, dropping the producer included, takes at most
    /// `timeout`. [`KafkaProducer`] moves what is still queued to its spool
    /// (or counts it as failed). By default, a [`flush`](Producer::flush).
    fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        self.flush(timeout)
    }
}

/// Joins `thread` if it ends by `deadline`; else lets it go on, detached.
/// True when it ended.
pub(crate) fn join_until(thread: JoinHandle<()>, deadline: Instant) -> bool {
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    thread.is_finished() && thread.join().is_ok()
}
