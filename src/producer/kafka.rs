use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message as _, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;

use super::{DeliveryCounters, Message, Producer, Stats};
use crate::Error;

/// The real producer: librdkafka, with a thread of its own that polls for
/// delivery reports and counts them.
///
/// `send` only enqueues; librdkafka batches, retries and delivers in the
/// background, and refuses new messages with [`Error::QueueFull`] once
/// `queue.buffering.max.messages` or `queue.buffering.max.kbytes` is reached.
///
/// Usually built by [`Builder::build`](crate::Builder::build) from the
/// configured brokers and options; build one yourself to share a fully
/// custom librdkafka configuration:
///
/// ```
/// use relayer::{Relayer, producer::KafkaProducer};
/// use rdkafka::ClientConfig;
///
/// let producer = KafkaProducer::new(ClientConfig::new().set("bootstrap.servers", "localhost:9092"))?;
/// let relayer = Relayer::builder("logging").producer(producer).build()?;
/// # Ok::<(), relayer::Error>(())
/// ```
pub struct KafkaProducer {
    producer: ThreadedProducer<DeliveryContext>,
    counters: Arc<DeliveryCounters>,
}

/// Receives librdkafka's delivery reports on the polling thread.
struct DeliveryContext {
    counters: Arc<DeliveryCounters>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.counters.delivered(),
            Err((error, message)) => self.counters.failed(message.topic(), error),
        }
    }
}

impl KafkaProducer {
    /// Creates the producer and its polling thread. Connecting to the brokers
    /// happens in the background; an unreachable broker is not an error here.
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        let counters = Arc::new(DeliveryCounters::default());
        let context = DeliveryContext {
            counters: counters.clone(),
        };
        let producer = config.create_with_context(context)?;
        Ok(Self { producer, counters })
    }

    fn queued(&self) -> u64 {
        self.producer.in_flight_count().max(0) as u64
    }
}

/// librdkafka purges its queue when the producer is dropped; give queued
/// messages a last chance instead, for services that never call `shutdown`.
const DROP_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        if self.queued() > 0 && self.producer.flush(DROP_FLUSH_TIMEOUT).is_err() {
            tracing::warn!(
                target: "relayer",
                lost = self.queued(),
                "producer dropped with messages not delivered; call `Relayer::shutdown` before exit"
            );
        }
    }
}

impl Producer for KafkaProducer {
    fn send(&self, message: Message<'_>) -> Result<(), Error> {
        let mut record = BaseRecord::<[u8], [u8]>::to(message.topic).payload(message.payload);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        if !message.headers.is_empty() {
            record = record.headers(kafka_headers(message.headers));
        }
        match self.producer.send(record) {
            Ok(()) => {
                self.counters.produced();
                Ok(())
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                self.counters.dropped(message.topic);
                Err(Error::QueueFull {
                    topic: message.topic.to_owned(),
                })
            }
            Err((error, _)) => Err(Error::Kafka(error)),
        }
    }

    fn flush(&self, timeout: Duration) -> Result<(), Error> {
        match self.producer.flush(timeout) {
            Ok(()) => Ok(()),
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                Err(Error::FlushTimeout {
                    timeout,
                    pending: self.queued() as usize,
                })
            }
            Err(error) => Err(Error::Kafka(error)),
        }
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(self.queued())
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
