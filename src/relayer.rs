//! The [`Relayer`] handle: emit events, log lines, flush, read stats.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::to_raw_value;

use crate::config::Builder;
use crate::key::PartitionKey;
use crate::producer::{Message, Producer, Stats};
use crate::record::{Event, LogLine, Timestamp};
use crate::scope::ScopeState;
use crate::topic::TopicNames;
use crate::{Error, Result};

/// A cheap, cloneable handle that sends events and keeps log lines for the
/// request (or RPC call) it belongs to.
///
/// Build one at startup with [`Relayer::builder`]. Inside a request, the
/// tower layer and `#[relayed]` hand out a relayer *bound* to the request's
/// [`Scope`](crate::Scope): its events carry the request id and its events and
/// log lines end up in the request's record. A bound relayer can be cloned
/// and moved into spawned tasks; it keeps writing to its own request.
///
/// Every call is non-blocking: it serializes, hands the bytes to the
/// producer's queue and returns.
///
/// ```
/// # fn handler(relayer: relayer::Relayer) -> relayer::Result<()> {
/// relayer.emit("thing_created", "v1", &serde_json::json!({"id": 42}))?;
/// relayer.emit_with_key("thing_created", "v1", &42, "thing-42")?;
/// relayer.log("info", "created a thing")?;
/// relayer.warning(&serde_json::json!({"slow": true}))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Relayer {
    shared: Arc<Shared>,
    scope: Option<Arc<ScopeState>>,
}

/// What every handle of one configured relayer shares.
pub(crate) struct Shared {
    pub(crate) topics: TopicNames,
    pub(crate) logging_topic: String,
    pub(crate) source: String,
    pub(crate) max_message_bytes: usize,
    pub(crate) producer: Arc<dyn Producer>,
}

impl Relayer {
    /// Starts configuring a relayer whose records go to `logging_topic`.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn builder(logging_topic: impl Into<String>) -> Builder {
        Builder::new(logging_topic.into())
    }

    pub(crate) fn from_shared(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
            scope: None,
        }
    }

    /// The same relayer, bound to `scope`.
    pub(crate) fn bound(&self, scope: Arc<ScopeState>) -> Self {
        Self {
            shared: self.shared.clone(),
            scope: Some(scope),
        }
    }

    pub(crate) fn scope_state(&self) -> Option<&Arc<ScopeState>> {
        self.scope.as_ref()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Sends an event to the topic `event_type` (with prefix and suffix) at
    /// once, and keeps a copy for the request's record.
    ///
    /// The message is the [`Event`] envelope around `payload`; Kafka spreads
    /// unkeyed messages over partitions (see [`emit_with_key`](Self::emit_with_key)).
    pub fn emit<P: Serialize + ?Sized>(
        &self,
        event_type: &str,
        event_subtype: &str,
        payload: &P,
    ) -> Result<()> {
        self.emit_event(event_type, event_subtype, payload, None)
    }

    /// Like [`emit`](Self::emit), with a partition key: a string (its UTF-8
    /// bytes), a [`uuid::Uuid`] (its 16 bytes) or bytes (as given). Messages
    /// with the same key keep their order.
    pub fn emit_with_key<P: Serialize + ?Sized, K: PartitionKey>(
        &self,
        event_type: &str,
        event_subtype: &str,
        payload: &P,
        key: K,
    ) -> Result<()> {
        self.emit_event(event_type, event_subtype, payload, Some(key.key_bytes()))
    }

    /// Sends the JSON of `message` as it is, without envelope, to `topic`
    /// (with prefix and suffix). Raw messages are not kept for the record.
    pub fn emit_raw<M: Serialize + ?Sized>(&self, topic: &str, message: &M) -> Result<()> {
        self.emit_raw_message(topic, message, None)
    }

    /// Like [`emit_raw`](Self::emit_raw), with a partition key.
    pub fn emit_raw_with_key<M: Serialize + ?Sized, K: PartitionKey>(
        &self,
        topic: &str,
        message: &M,
        key: K,
    ) -> Result<()> {
        self.emit_raw_message(topic, message, Some(key.key_bytes()))
    }

    /// Keeps a log line for the request's record. `level` is a free string,
    /// as in the Python relayer; `payload` is any JSON.
    ///
    /// Outside a request there is no record: the line is only reported
    /// through `tracing::debug!` with target `relayer`.
    pub fn log<P: Serialize + ?Sized>(&self, level: &str, payload: &P) -> Result<()> {
        let line = to_raw_value(&LogLine {
            log_level: level,
            payload,
            timestamp: Timestamp::now(),
        })?;
        match &self.scope {
            Some(scope) => scope.keep(line),
            None => {
                tracing::debug!(target: "relayer", line = line.get(), "log line outside a request")
            }
        }
        Ok(())
    }

    /// [`log`](Self::log) at level `"debug"`.
    pub fn debug<P: Serialize + ?Sized>(&self, payload: &P) -> Result<()> {
        self.log("debug", payload)
    }

    /// [`log`](Self::log) at level `"info"`.
    pub fn info<P: Serialize + ?Sized>(&self, payload: &P) -> Result<()> {
        self.log("info", payload)
    }

    /// [`log`](Self::log) at level `"warning"`.
    pub fn warning<P: Serialize + ?Sized>(&self, payload: &P) -> Result<()> {
        self.log("warning", payload)
    }

    /// [`log`](Self::log) at level `"error"`.
    pub fn error<P: Serialize + ?Sized>(&self, payload: &P) -> Result<()> {
        self.log("error", payload)
    }

    /// The id of the request this relayer is bound to, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.scope.as_deref().map(ScopeState::request_id)
    }

    /// The `source` field of events and records.
    pub fn source(&self) -> &str {
        &self.shared.source
    }

    /// The logging topic, prefix and suffix included.
    pub fn logging_topic(&self) -> &str {
        &self.shared.logging_topic
    }

    /// Waits until every message sent so far is delivered or failed, for at
    /// most `timeout`. Blocks the calling thread: from async code, call it
    /// through `tokio::task::spawn_blocking`.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.shared.producer.flush(timeout)
    }

    /// Delivery counters: produced, delivered, failed, dropped, queued.
    pub fn stats(&self) -> Stats {
        self.shared.producer.stats()
    }

    /// Flushes for at most `timeout` and returns the final counters, for a
    /// service that is stopping. The whole shutdown, dropping the producer
    /// included, takes at most `timeout`: messages not delivered by then
    /// are moved to the spool when there is one (`queued` and `spooled`,
    /// sent at the next start), else counted as `failed`; both are also
    /// reported through `tracing::warn!`. Messages sent afterwards are
    /// spooled or dropped. Blocks the calling thread.
    ///
    /// ```no_run
    /// # async fn serve() {}
    /// # fn main() -> relayer::Result<()> {
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// // after the server's graceful shutdown:
    /// let stats = relayer.shutdown(std::time::Duration::from_secs(10));
    /// assert_eq!(stats.queued, stats.spooled, "delivered, failed, or in the spool");
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Stats {
        let flushed = self.shared.producer.shutdown(timeout);
        let stats = self.stats();
        if flushed.is_err() || stats.failed > 0 {
            tracing::warn!(
                target: "relayer",
                not_delivered_in_time = stats.queued,
                spooled = stats.spooled,
                failed = stats.failed,
                dropped = stats.dropped,
                "relayer shut down with messages not delivered"
            );
        }
        stats
    }

    fn emit_event<P: Serialize + ?Sized>(
        &self,
        event_type: &str,
        event_subtype: &str,
        payload: &P,
        key: Option<&[u8]>,
    ) -> Result<()> {
        let topic = self.shared.topics.full(event_type)?;
        let line = to_raw_value(&Event {
            source: &self.shared.source,
            event_type,
            event_subtype,
            payload,
            timestamp: Timestamp::now(),
            request_id: self.request_id(),
        })?;
        self.send(&topic, key, line.get().as_bytes())?;
        if let Some(scope) = &self.scope {
            scope.keep(line);
        }
        Ok(())
    }

    fn emit_raw_message<M: Serialize + ?Sized>(
        &self,
        topic: &str,
        message: &M,
        key: Option<&[u8]>,
    ) -> Result<()> {
        let topic = self.shared.topics.full(topic)?;
        let json = serde_json::to_vec(message)?;
        self.send(&topic, key, &json)
    }

    /// Checks the size, reports the message to developers, and hands it to
    /// the producer.
    pub(crate) fn send(&self, topic: &str, key: Option<&[u8]>, json: &[u8]) -> Result<()> {
        let size = json.len() + key.map_or(0, <[u8]>::len);
        let max = self.shared.max_message_bytes;
        if size > max {
            return Err(Error::MessageTooLarge {
                topic: topic.to_owned(),
                size,
                max,
            });
        }
        // Field values are only evaluated when the event is enabled.
        tracing::debug!(
            target: "relayer",
            topic,
            key = ?key.map(String::from_utf8_lossy),
            message = %String::from_utf8_lossy(json),
            "produce"
        );
        self.shared.producer.send(Message {
            topic,
            key,
            payload: json,
        })
    }
}

impl fmt::Debug for Relayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relayer")
            .field("logging_topic", &self.shared.logging_topic)
            .field("source", &self.shared.source)
            .field("request_id", &self.request_id())
            .finish()
    }
}
