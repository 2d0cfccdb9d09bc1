//! The [`Relayer`] handle: emit events, log lines, flush, read stats.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::to_raw_value;

use crate::config::Builder;
use crate::key::PartitionKey;
use crate::producer::{Message, Producer, Stats};
use crate::rate_limit::RateLimited;
use crate::record::{Event, Line, LogLine, Timestamp, WireFormat, with_json};
use crate::resource::Resource;
use crate::sampling::Sampling;
use crate::scope::{LinesHint, ScopeState};
use crate::topic::TopicNames;
use crate::trace;
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
/// The relayer built at startup (and its clones: in router state, a static,
/// a closure) acts for the [current](Relayer::current) request when it is
/// called inside a request opened by that same relayer, as the Python
/// relayer's object did: its lines go into that request's record and its
/// events carry its request id. A relayer built separately (another logging
/// topic, another producer) never writes into a foreign request's record.
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
    /// The logging topic, prefix and suffix included.
    pub(crate) logging_topic: String,
    /// The logging topic as configured, without prefix and suffix.
    pub(crate) logging_topic_name: String,
    pub(crate) wire_format: WireFormat,
    pub(crate) source: String,
    pub(crate) max_message_bytes: usize,
    pub(crate) producer: Arc<dyn Producer>,
    /// "Request record not sent", once per period during an outage.
    pub(crate) record_warnings: RateLimited,
    /// How much room recent records' lines took: what a scope reserves.
    pub(crate) lines_hint: LinesHint,
    /// Fields set on the builder, on every record.
    pub(crate) fields: Vec<(String, Line)>,
    /// Which records are written; all when `None`.
    pub(crate) sampling: Option<Sampling>,
    /// Records the sampling policy left out.
    pub(crate) sampled_out: AtomicU64,
    /// Their counter in the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) sampled_out_total: metrics::Counter,
    /// Whether events emitted in a scope carry the request id,
    /// `traceparent` and `tracestate` headers.
    pub(crate) kafka_headers: bool,
    /// The header of the request id, by default.
    pub(crate) request_id_header: Arc<str>,
    /// Who writes the records.
    pub(crate) resource: Resource,
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

    /// The scope this relayer writes into: its own when it is bound, else
    /// the current request's when that request was opened by this same
    /// relayer (the app-wide handle used inside a request).
    pub(crate) fn scope(&self) -> Option<Cow<'_, Arc<ScopeState>>> {
        match &self.scope {
            Some(scope) => Some(Cow::Borrowed(scope)),
            None => Self::current_scope_of(&self.shared).map(Cow::Owned),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> &Arc<Shared> {
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
    /// (with prefix and suffix). Inside a request, the message is also kept
    /// as a line of the record once the producer has accepted it, as the
    /// Python relayer did.
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
        let line = LogLine {
            log_level: level,
            payload,
            timestamp: Timestamp::now(),
        };
        with_json(&line, |line| {
            match self.scope() {
                Some(scope) => scope.keep(line),
                None => {
                    tracing::debug!(target: "relayer", line = std::str::from_utf8(line).unwrap_or_default(), "log line outside a request")
                }
            }
            Ok(())
        })
    }

    /// Sets the field `name` of the current request's record, in its
    /// `fields` object, to `value` (any JSON, serialized now); the last
    /// write of a name wins. Fields make the record a wide event: one
    /// document per request, queried by its fields (user, tenant, plan,
    /// cart value, feature flags, error code).
    ///
    /// Outside a request there is no record: the field is only reported
    /// through `tracing::debug!` with target `relayer`.
    ///
    /// ```
    /// # fn main() -> relayer::Result<()> {
    /// # let mock = relayer_test::MockProducer::new();
    /// # let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let scope = relayer::Scope::new(&relayer, None);
    /// scope.relayer().field("user_id", &42)?;
    /// scope.relayer().field("plan", "free")?;
    /// scope.relayer().field("plan", "pro")?; // the last write wins
    /// # drop(scope);
    /// # let record = &mock.json("logging")[0];
    /// # assert_eq!(record["fields"], serde_json::json!({"user_id": 42, "plan": "pro"}));
    /// # Ok(()) }
    /// ```
    pub fn field<V: Serialize + ?Sized>(&self, name: &str, value: &V) -> Result<()> {
        let value = to_raw_value(value)?;
        match self.scope() {
            Some(scope) => scope.set_field(name, value),
            None => {
                tracing::debug!(target: "relayer", name, value = value.get(), "field outside a request")
            }
        }
        Ok(())
    }

    /// Keeps the current request's record whatever the
    /// [sampling policy](crate::Sampling) says, e.g. for a request a
    /// developer wants to look at.
    ///
    /// ```
    /// # fn handler(relayer: relayer::Relayer, suspicious: bool) {
    /// if suspicious {
    ///     relayer.keep();
    /// }
    /// # }
    /// ```
    pub fn keep(&self) {
        if let Some(scope) = self.scope() {
            scope.force_keep();
        }
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

    /// The id of the request this relayer writes into, if any: the one it
    /// is bound to, or the current request of this relayer.
    ///
    /// ```
    /// # fn main() -> relayer::Result<()> {
    /// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
    /// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
    /// assert_eq!(scope.relayer().request_id().as_deref(), Some("req-1"));
    /// // The app-wide handle, inside the request:
    /// scope.relayer().in_scope(|| assert_eq!(relayer.request_id().as_deref(), Some("req-1")));
    /// assert_eq!(relayer.request_id(), None);
    /// # Ok(()) }
    /// ```
    pub fn request_id(&self) -> Option<String> {
        self.scope().map(|scope| scope.request_id().to_owned())
    }

    /// The header that carries the request id (`x-request-id` unless
    /// configured with
    /// [`Builder::request_id_header`](crate::Builder::request_id_header)).
    pub fn request_id_header(&self) -> &str {
        &self.shared.request_id_header
    }

    /// How this relayer writes its records.
    pub fn wire_format(&self) -> WireFormat {
        self.shared.wire_format
    }

    /// Who writes the records: the service's name, version, host, ...
    pub fn resource(&self) -> &Resource {
        &self.shared.resource
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

    /// Delivery counters: produced, delivered, failed, dropped, queued;
    /// and the records the sampling policy left out.
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.producer.stats();
        stats.sampled_out = self.shared.sampled_out.load(Relaxed);
        stats
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
        let scope = self.scope();
        let event = Event {
            source: &self.shared.source,
            event_type,
            event_subtype,
            payload,
            timestamp: Timestamp::now(),
            request_id: scope.as_deref().map(|scope| scope.request_id()),
        };
        with_json(&event, |line| {
            self.send_in_scope(scope.as_deref().map(Arc::as_ref), topic.as_str(), key, line)?;
            if let Some(scope) = &scope {
                scope.keep(line);
            }
            Ok(())
        })
    }

    fn emit_raw_message<M: Serialize + ?Sized>(
        &self,
        topic: &str,
        message: &M,
        key: Option<&[u8]>,
    ) -> Result<()> {
        let topic = self.shared.topics.full(topic)?;
        let scope = self.scope();
        with_json(message, |line| {
            self.send_in_scope(scope.as_deref().map(Arc::as_ref), topic.as_str(), key, line)?;
            if let Some(scope) = &scope {
                scope.keep(line);
            }
            Ok(())
        })
    }

    /// Sends a message emitted in `scope`: with the Kafka headers that
    /// carry the request on to its consumers, unless they are turned off.
    fn send_in_scope(
        &self,
        scope: Option<&ScopeState>,
        topic: &str,
        key: Option<&[u8]>,
        json: &[u8],
    ) -> Result<()> {
        let Some(scope) = scope.filter(|_| self.shared.kafka_headers) else {
            return self.send(topic, key, &[], json);
        };
        let tracestate = scope.trace().tracestate.as_deref();
        let headers = [
            (&**scope.request_id_header(), scope.request_id().as_bytes()),
            (trace::TRACEPARENT_HEADER, scope.traceparent().as_bytes()),
            (
                trace::TRACESTATE_HEADER,
                tracestate.unwrap_or_default().as_bytes(),
            ),
        ];
        // `tracestate` only when the request has one.
        let count = if tracestate.is_some() { 3 } else { 2 };
        self.send(topic, key, &headers[..count], json)
    }

    /// Checks the size, reports the message to developers, and hands it to
    /// the producer.
    pub(crate) fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: &[(&str, &[u8])],
        json: &[u8],
    ) -> Result<()> {
        let size = json.len() + key.map_or(0, <[u8]>::len);
        let max = self.shared.max_message_bytes;
        if size > max {
            self.shared.producer.refused(topic);
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
            value = %String::from_utf8_lossy(json),
            "produce"
        );
        self.shared.producer.send(Message {
            topic,
            key,
            headers,
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
