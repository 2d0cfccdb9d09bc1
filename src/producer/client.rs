//! One librdkafka producer client and the callbacks it calls on its
//! polling thread: delivery reports, global errors, statistics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::owned::OwnedMessage;
use super::spool::{Appended, Spool};
use super::stall::StallWatch;
use super::supervisor::Signal;
use super::{DeliveryCounters, Message};

/// A live client, numbered so that a late report about an old one is
/// recognised as such.
pub(super) struct Client {
    pub(super) producer: ThreadedProducer<Callbacks>,
    pub(super) generation: u64,
}

/// Why a client must be replaced.
#[derive(Debug)]
pub(super) struct Dead {
    pub(super) generation: u64,
    pub(super) reason: String,
    /// Only when librdkafka reports a fatal error on the client: an error
    /// event says "maybe", `fatal_error()` tells.
    pub(super) if_fatal: bool,
}

/// What the callbacks share with the producer.
pub(super) struct Hooks {
    pub(super) counters: Arc<DeliveryCounters>,
    pub(super) spool: Option<Arc<Spool>>,
    pub(super) signals: Mutex<Sender<Signal>>,
    /// Messages for the next client, when there is no spool: purged from a
    /// dead client's queue (never sent), or sent while no client is live.
    pub(super) held: Mutex<Vec<OwnedMessage>>,
    /// Set at shutdown, under the `held` lock: purged messages go to the
    /// spool or fail, and no client is installed any more.
    pub(super) closing: AtomicBool,
}

/// The context of one client.
pub(super) struct Callbacks {
    hooks: Arc<Hooks>,
    generation: u64,
    stall: StallWatch,
}

impl Client {
    pub(super) fn new(
        config: &ClientConfig,
        hooks: Arc<Hooks>,
        generation: u64,
    ) -> Result<Self, KafkaError> {
        let callbacks = Callbacks {
            hooks,
            generation,
            stall: StallWatch::default(),
        };
        let producer = config.create_with_context(callbacks)?;
        Ok(Self {
            producer,
            generation,
        })
    }

    pub(super) fn send(&self, message: &Message<'_>) -> Result<(), KafkaError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(message.topic).payload(message.payload);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        if !message.headers.is_empty() {
            record = record.headers(kafka_headers(message.headers));
        }
        self.producer.send(record).map_err(|(error, _)| error)
    }
}

impl Hooks {
    pub(super) fn held(&self) -> std::sync::MutexGuard<'_, Vec<OwnedMessage>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shutdown has begun.
    pub(super) fn closing_now(&self) {
        let _held = self.held();
        self.closing.store(true, Ordering::Release);
    }

    /// Where a message purged from a client's queue goes: the spool, or the
    /// next client, or (at shutdown, without a spool) nowhere: failed.
    fn purged(&self, message: &Message<'_>) {
        if let Some(spool) = &self.spool {
            if spool.append(message, false, false) != Appended::Yes {
                self.counters
                    .failed(message.topic, &"purged from the queue; the spool is full");
            }
        } else {
            // Checked under the lock that shutdown empties `held` with.
            let mut held = self.held();
            if self.closing.load(Ordering::Acquire) {
                drop(held);
                self.counters
                    .failed(message.topic, &"not delivered before shutdown");
            } else {
                held.push(OwnedMessage::new(message));
            }
        }
    }
}

impl Callbacks {
    fn report_dead(&self, reason: String, if_fatal: bool) {
        let dead = Dead {
            generation: self.generation,
            reason,
            if_fatal,
        };
        let sender = self.hooks.signals.lock().unwrap_or_else(|e| e.into_inner());
        // The receiver is gone only when the producer is being dropped.
        let _ = sender.send(Signal::Dead(dead));
    }
}

impl ClientContext for Callbacks {
    fn error(&self, error: KafkaError, reason: &str) {
        // The event of a fatal error carries the underlying code (e.g. an
        // out-of-order sequence), not `Fatal`: let the supervisor check.
        tracing::warn!(target: "relayer", %error, reason, "librdkafka");
        self.report_dead(format!("{error}: {reason}"), true);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        if let Some(reason) = self.stall.check(statistics) {
            self.report_dead(reason, false);
        }
    }
}

impl ProducerContext for Callbacks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counters = &self.hooks.counters;
        match result {
            Ok(_) => {
                counters.delivered();
                self.stall.delivered();
            }
            // Purged from the queue before it was ever sent (a dead client,
            // shutdown): safe to send again, without a risk of duplicates.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::PurgeQueue), message)) => {
                let headers: Vec<(&str, &[u8])> = message.headers().map_or_else(Vec::new, |all| {
                    all.iter()
                        .map(|header| (header.key, header.value.unwrap_or_default()))
                        .collect()
                });
                let purged = Message {
                    topic: message.topic(),
                    key: message.key(),
                    headers: &headers,
                    payload: message.payload().unwrap_or_default(),
                };
                self.hooks.purged(&purged);
            }
            Err((error, message)) => counters.failed(message.topic(), error),
        }
    }
}

/// A message's headers as librdkafka takes them.
fn kafka_headers(headers: &[(&str, &[u8])]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |all, (key, value)| {
            all.insert(Header {
                key,
                value: Some(*value),
            })
        },
    )
}
