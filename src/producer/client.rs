//! One librdkafka producer client and the callbacks it calls on its
//! polling thread: delivery reports, global errors, statistics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig,
};
use rdkafka::types::RDKafkaErrorCode;

use super::held::Held;
use super::owned::OwnedMessage;
use super::poller::Poller;
use super::silence::{Silence, Waiting};
use super::spool::{self, Appended, Origin, Report, Spool};
use super::stall::StallWatch;
use super::supervisor::Signal;
use super::{DeliveryCounters, Message};
use crate::rate_limit::RateLimited;

/// A live client, numbered so that a late report about an old one is
/// recognised as such.
pub(super) struct Client {
    /// Dropped first: its thread stops before the client is destroyed.
    poller: Option<Poller>,
    pub(super) producer: Arc<BaseProducer<Callbacks>>,
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
    pub(super) held: Mutex<Held>,
    /// Messages purged from a client's queue, with the order they were
    /// sent in, until [`Hooks::place_purged`]: librdkafka hands them back
    /// queue by queue, not in the order they were sent.
    pub(super) purged: Mutex<Vec<(usize, OwnedMessage)>>,
    /// The order of the next message sent directly.
    pub(super) next_order: AtomicUsize,
    /// Set at shutdown, under the `held` lock: purged messages go to the
    /// spool or fail, and no client is installed any more.
    pub(super) closing: AtomicBool,
    /// An outage the spool had no room for, said once in a while.
    pub(super) no_room: RateLimited,
}

/// The context of one client.
pub(super) struct Callbacks {
    hooks: Arc<Hooks>,
    generation: u64,
    stall: StallWatch,
    /// Messages handed to the client whose delivery report is not yet
    /// fully handled.
    outstanding: AtomicU64,
    /// The client is stalled: the broker refuses every request it sends,
    /// so what it has in flight was not written either; or it is purged
    /// with a spool to take what it has in flight (at least once).
    stalled: AtomicBool,
    /// With a spool (none watches for an outage without one): messages
    /// sent directly, and how long the client has been silent.
    silence: Option<Silence>,
    /// A replayed message timed out: the client is to be replaced (said
    /// once).
    timed_out: AtomicBool,
}

impl Client {
    pub(super) fn new(
        config: &ClientConfig,
        hooks: Arc<Hooks>,
        generation: u64,
    ) -> Result<Self, KafkaError> {
        let silence = hooks.spool.as_ref().map(|_| Silence::default());
        let callbacks = Callbacks {
            hooks,
            generation,
            stall: StallWatch::default(),
            outstanding: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            silence,
            timed_out: AtomicBool::new(false),
        };
        let producer = Arc::new(config.create_with_context(callbacks)?);
        let poller = Poller::start(Arc::clone(&producer))
            .map_err(|error| KafkaError::ClientCreation(error.to_string()))?;
        Ok(Self {
            producer,
            generation,
            poller: Some(poller),
        })
    }

    /// Hands `message` to librdkafka; `ticket` is the spool's number for
    /// a replayed message, 0 for any other.
    pub(super) fn send(&self, message: &Message<'_>, ticket: u64) -> Result<(), KafkaError> {
        let callbacks = self.producer.context();
        let opaque = if ticket == 0 {
            callbacks.hooks.next_order.fetch_add(1, Ordering::Relaxed) & !SPOOL_TICKET
        } else {
            ticket as usize | SPOOL_TICKET
        };
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(message.topic, opaque)
            .payload(message.payload);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        if !message.headers.is_empty() {
            record = record.headers(kafka_headers(message.headers));
        }
        let outstanding = &callbacks.outstanding;
        outstanding.fetch_add(1, Ordering::AcqRel);
        // Replayed messages are the spool's already.
        let silence = callbacks.silence.as_ref().filter(|_| ticket == 0);
        let bytes = silence.map_or(0, |silence| {
            let bytes = spool::encoded_len(message) as u64;
            silence.sent(bytes);
            bytes
        });
        self.producer.send(record).map_err(|(error, _)| {
            if let Some(silence) = silence {
                silence.refused(bytes);
            }
            outstanding.fetch_sub(1, Ordering::AcqRel);
            error
        })
    }

    /// What was sent directly and waits for its report, and for how long
    /// the client has not reported any.
    pub(super) fn silence(&self) -> Waiting {
        let silence = self.producer.context().silence.as_ref();
        silence.map(Silence::waiting).unwrap_or_default()
    }

    /// Stops the polling thread and destroys the client, waiting for them
    /// until `deadline` at most: past it, the thread ends its window and
    /// destroys the client on its own.
    pub(super) fn close(mut self, deadline: Instant) {
        if let Some(poller) = self.poller.take() {
            poller.stop(deadline);
        }
    }

    /// The client is replaced because it is stalled (see `StallWatch`), not
    /// dead: the broker wrote nothing it sent for seconds, so messages
    /// purged in flight are sent again (at least once), not failed.
    pub(super) fn stalled(&self) {
        self.producer
            .context()
            .stalled
            .store(true, Ordering::Release);
    }

    /// Purges what the client holds and waits, until `deadline`, for every
    /// message to come back through its delivery report: purged ones to
    /// the spool or held for the next client, before anything newer is
    /// sent. With `in_flight_first`, messages in flight get half the time
    /// to be acknowledged before they are purged too. True when all came
    /// back.
    pub(super) fn settle(&self, deadline: Instant, in_flight_first: bool) -> bool {
        let outstanding = &self.producer.context().outstanding;
        let wait = |until: Instant| {
            while outstanding.load(Ordering::Acquire) > 0 {
                if Instant::now() >= until {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            true
        };
        // Not waiting for librdkafka's broker threads to purge their
        // queues: the reports say when they did, within the deadline.
        let mut purge = PurgeConfig::default().queue().non_blocking();
        if in_flight_first {
            self.producer.purge(purge);
            let half = deadline.saturating_duration_since(Instant::now()) / 2;
            if wait(Instant::now() + half) {
                return true;
            }
        }
        purge = purge.inflight();
        self.producer.purge(purge);
        wait(deadline)
    }
}

impl Hooks {
    pub(super) fn held(&self) -> MutexGuard<'_, Held> {
        lock(&self.held)
    }

    /// Shutdown has begun.
    pub(super) fn closing_now(&self) {
        let _held = self.held();
        self.closing.store(true, Ordering::Release);
    }

    /// Puts the messages purged from a client, all of them back (it is
    /// settled), in the order they were sent, where they go: the spool
    /// (before everything in it), or held for the next client (before
    /// newer messages), or, at shutdown without a spool, nowhere: failed.
    pub(super) fn place_purged(&self) {
        let mut purged = std::mem::take(&mut *lock(&self.purged));
        purged.sort_unstable_by_key(|(order, _)| *order);
        if let Some(spool) = &self.spool
            && !purged.is_empty()
        {
            spool.purging();
        }
        for (_, message) in &purged {
            // Out of the purged list and into the next queue, as one.
            let update = self.counters.update();
            update.dequeued(1);
            message.with_message(|message| self.place(message));
        }
        // What is spooled after them goes after them.
        if let Some(spool) = &self.spool
            && !purged.is_empty()
        {
            spool.seal_early();
        }
    }

    fn place(&self, message: &Message<'_>) {
        if let Some(spool) = &self.spool {
            if spool.append(message, Origin::Purged, false) != Appended::Yes {
                self.counters.update().failed(
                    message.topic,
                    1,
                    &"purged from the queue; the spool refused it",
                );
            }
            return;
        }
        // Checked under the lock that shutdown empties `held` with.
        let mut held = self.held();
        let error = if self.closing.load(Ordering::Acquire) {
            "not delivered before shutdown"
        } else if let Some(evicted) = held.keep(message, true) {
            drop(held);
            let update = self.counters.update();
            update.enqueued(1);
            for newer in evicted {
                update.dequeued(1);
                update.failed(
                    &newer.topic,
                    1,
                    &"held for the next producer; older purged messages took its place",
                );
            }
            return;
        } else {
            "purged from the queue; no room to hold it for the next producer"
        };
        drop(held);
        self.counters.update().failed(message.topic, 1, &error);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
    /// The spool's ticket of a replayed message, marked with
    /// [`SPOOL_TICKET`]; for any other, the order it was sent in.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let replayed = self
            .hooks
            .spool
            .as_ref()
            .filter(|_| opaque & SPOOL_TICKET != 0);
        let ticket = (opaque & !SPOOL_TICKET) as u64;
        // The message leaves librdkafka and has its outcome (or goes to
        // the next queue) in one update, made by `report` or the spool.
        self.report(result, replayed.map(|spool| (spool, ticket)), opaque);
        if let Some(silence) = self.silence.as_ref().filter(|_| opaque & SPOOL_TICKET == 0) {
            let message = match result {
                Ok(message) | Err((_, message)) => message,
            };
            let headers = message.headers().into_iter().flat_map(|headers| {
                headers
                    .iter()
                    .map(|header| (header.key.len(), header.value.map_or(0, <[u8]>::len)))
            });
            let bytes = spool::encoded_size(
                message.topic().len(),
                message.key().map_or(0, <[u8]>::len),
                headers,
                message.payload().map_or(0, <[u8]>::len),
            );
            silence.reported(bytes as u64);
        }
        // Last: settling waits for this.
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
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

    fn report(
        &self,
        result: &DeliveryResult<'_>,
        replayed: Option<(&Arc<Spool>, u64)>,
        order: usize,
    ) {
        let counters = &self.hooks.counters;
        if result.is_ok() {
            self.stall.delivered();
        }
        if let Some((spool, ticket)) = replayed {
            let (topic, report) = match result {
                Ok(message) => (message.topic(), Report::Delivered),
                // Purged, or timed out: still in the spool, sent again.
                Err((error, message)) if again(error) => (message.topic(), Report::Again),
                Err((error, message)) => (message.topic(), Report::Failed(error)),
            };
            spool.report(ticket, topic, report);
            // Later records of its key may be delivered before it is sent
            // again: all it holds is purged instead, and sent again in
            // order to a new client.
            let timed_out = matches!(
                result,
                Err((
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
                    _
                ))
            );
            if timed_out && !self.timed_out.swap(true, Ordering::AcqRel) {
                self.report_dead("a message replayed from the spool timed out".into(), false);
            }
            return;
        }
        // A direct message (not a replayed one, which the spool counts)
        // leaves librdkafka.
        let update = counters.update();
        update.dequeued(1);
        let refused = match result {
            Ok(_) => {
                update.delivered(1);
                None
            }
            // Purged from the queue before it was ever sent (a dead client,
            // shutdown): safe to send again, without a risk of duplicates.
            // Or in flight from a stalled client, which the broker refuses.
            // Or refused for the producer's state (at least once: the broker
            // may have written an earlier try), for the next client.
            Err((KafkaError::MessageProduction(code), message))
                if *code == RDKafkaErrorCode::PurgeQueue
                    || *code == RDKafkaErrorCode::PurgeInflight
                        && self.stalled.load(Ordering::Acquire)
                    || lost_producer(*code) =>
            {
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
                let mut all = lock(&self.hooks.purged);
                let first = all.is_empty();
                all.push((order, OwnedMessage::new(&purged)));
                drop(all);
                update.enqueued(1);
                (first && lost_producer(*code)).then_some(*code)
            }
            Err((error, message)) => {
                update.failed(message.topic(), 1, error);
                None
            }
        };
        drop(update);
        // Once for what the supervisor will find together: it replaces a
        // dead client, or else hands the messages to the live one.
        if let Some(code) = refused {
            self.report_dead(format!("a message was refused: {code}"), true);
        }
    }
}

/// The top bit of a delivery opaque: a spool ticket, not an order. Orders
/// wrap past it (2^63 messages; 2^31 where `usize` is 32 bits).
const SPOOL_TICKET: usize = 1 << (usize::BITS - 1);

/// A message refused for the producer's state, not for itself: the broker
/// lost the producer (it restarted without its state), or librdkafka can
/// no longer tell what it wrote of the producer's messages and raises a
/// fatal error. A new producer can send it; the broker may have written an
/// earlier try of it.
fn lost_producer(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as E;
    matches!(
        code,
        E::UnknownProducerId | E::OutOfOrderSequenceNumber | E::InvalidProducerEpoch | E::Fatal
    )
}

/// A replayed message that failed this way is still in the spool and is
/// sent again: the error is about the producer, its connection or the
/// broker's state (a purge, a timeout, a fatal error of the producer, a
/// leader moving), not about the message. Any other error (too large,
/// corrupt, an invalid or unknown topic, not authorized for it, a policy
/// violation, ...) would come again: the message fails for good. After a
/// purge in flight or a timeout the broker may have it already: at least
/// once.
fn again(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as E;
    matches!(
        error.rdkafka_error_code(),
        Some(
            E::PurgeQueue
                | E::PurgeInflight
                | E::MessageTimedOut
                | E::Fatal
                | E::BrokerDestroy
                | E::DestroyBroker
                | E::AllBrokersDown
                | E::BrokerTransportFailure
                | E::Resolve
                | E::SSL
                | E::Authentication
                | E::SaslAuthenticationFailed
                | E::QueueFull
                | E::TimedOutQueue
                | E::OperationTimedOut
                | E::RequestTimedOut
                | E::Interrupted
                | E::State
                | E::Retry
                | E::NotEnoughReplicas
                | E::NotEnoughReplicasAfterAppend
                | E::NotLeaderForPartition
                | E::LeaderNotAvailable
                | E::ReplicaNotAvailable
                | E::FencedLeaderEpoch
                | E::UnknownLeaderEpoch
                | E::NetworkException
                | E::BrokerNotAvailable
                | E::KafkaStorageError
                | E::ThrottlingQuotaExceeded
                | E::OutOfOrderSequenceNumber
                | E::DuplicateSequenceNumber
                | E::UnknownProducerId
                | E::InvalidProducerEpoch
                | E::InvalidProducerIdMapping
                | E::ProducerFenced
                | E::GaplessGuarantee
                | E::Inconsistent
        )
    )
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
