use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Headers as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::Message;

/// Reads topics back from the beginning, independently of any producer:
/// what a log pipeline would see. Works against any broker.
///
/// Blocking: from async tests, call it once the requests are done, or
/// through `tokio::task::spawn_blocking`.
pub struct Consumer {
    consumer: BaseConsumer,
    bootstrap_servers: String,
}

impl Consumer {
    /// A consumer of the cluster at `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str) -> KafkaResult<Self> {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", "relayer-test")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()?;
        Ok(Self {
            consumer,
            bootstrap_servers: bootstrap_servers.to_owned(),
        })
    }

    /// Reads the first `count` messages of `topic`, across its partitions,
    /// waiting at most `timeout` for them.
    pub fn read(
        &self,
        topic: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Message>, ReadError> {
        let deadline = Instant::now() + timeout;
        self.assign_from_beginning(topic, deadline)?;
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout {
                    topic: topic.to_owned(),
                    expected: count,
                    got: messages.len(),
                });
            }
            match self.consumer.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(message)) => messages.push(owned(&message)),
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
        Ok(messages)
    }

    /// Reads every message of `topic` from the beginning, across its
    /// partitions, until none came for `quiet`: for a count not known in
    /// advance (duplicates included). Fails when messages still come after
    /// `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let consumer = relayer_test::Consumer::new("localhost:9092")?;
    /// let all = consumer.read_all("order", Duration::from_secs(2), Duration::from_secs(60))?;
    /// println!("{} messages", all.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_all(
        &self,
        topic: &str,
        quiet: Duration,
        timeout: Duration,
    ) -> Result<Vec<Message>, ReadError> {
        let deadline = Instant::now() + timeout;
        self.assign_from_beginning(topic, deadline)?;
        let mut messages = Vec::new();
        let mut heard = Instant::now();
        while heard.elapsed() < quiet {
            if Instant::now() >= deadline {
                return Err(ReadError::Timeout {
                    topic: topic.to_owned(),
                    expected: messages.len() + 1,
                    got: messages.len(),
                });
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    messages.push(owned(&message));
                    heard = Instant::now();
                }
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
        Ok(messages)
    }

    /// Assigns every partition of `topic` from offset 0, waiting for the
    /// topic to exist (it may be created by the first produce).
    fn assign_from_beginning(&self, topic: &str, deadline: Instant) -> Result<(), ReadError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), left.max(Duration::from_millis(100)))?;
            let partitions = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
                .unwrap_or(0);
            if partitions > 0 {
                let mut assignment = TopicPartitionList::new();
                for partition in 0..partitions as i32 {
                    assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
                }
                return Ok(self.consumer.assign(&assignment)?);
            }
            if Instant::now() >= deadline {
                return Err(ReadError::Kafka(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::UnknownTopicOrPartition,
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A consumed message, its bytes owned.
fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    Message {
        topic: message.topic().to_owned(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().unwrap_or_default().to_vec(),
        headers: message.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|header| {
                    let value = header.value.unwrap_or_default().to_vec();
                    (header.key.to_owned(), value)
                })
                .collect()
        }),
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

/// Why [`Consumer::read`] came back without its messages.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The broker or the client failed.
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// Fewer messages than expected arrived in time.
    #[error("expected {expected} message(s) on {topic:?}, got {got} before the timeout")]
    Timeout {
        /// The topic read.
        topic: String,
        /// How many messages were asked for.
        expected: usize,
        /// How many arrived.
        got: usize,
    },
}
