//! The one error type of relayer.

use std::time::Duration;

/// What can go wrong when relayer is configured or asked to send something.
///
/// Every variant says what to change: a configuration value, a payload, a topic
/// name, a message size, or the producer's queue bound. A failed call sends
/// nothing and leaves the rest of the request's lines and its record intact.
///
/// ```
/// use relayer::Error;
///
/// let err = Error::InvalidTopic { topic: "bad topic".into(), reason: "contains ' '" };
/// assert_eq!(
///     err.to_string(),
///     "invalid Kafka topic name \"bad topic\": contains ' '"
/// );
/// ```
///
/// `Debug` writes the same text as `Display`, so a `main` returning
/// [`relayer::Result`](Result) prints a readable error
/// (`Error: relayer configuration: no Kafka brokers: ...`), as `anyhow` does.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is incomplete or contradictory.
    #[error("relayer configuration: {0}")]
    Config(String),

    /// A payload or message could not be serialized to JSON.
    #[error("payload is not serializable to JSON: {0}")]
    NotSerializable(#[from] serde_json::Error),

    /// The topic name (prefix and suffix included) is not a legal Kafka topic name.
    #[error("invalid Kafka topic name {topic:?}: {reason}")]
    InvalidTopic {
        /// The full topic name, prefix and suffix included.
        topic: String,
        /// Why Kafka would refuse it.
        reason: &'static str,
    },

    /// The serialized message is larger than the configured maximum message size.
    #[error(
        "message to topic {topic:?} is {size} bytes, over the maximum of {max} bytes \
         (raise it with `max_message_bytes`, and the broker's `message.max.bytes`)"
    )]
    MessageTooLarge {
        /// The full topic name.
        topic: String,
        /// The size of the serialized message.
        size: usize,
        /// The configured maximum.
        max: usize,
    },

    /// The producer's local queue is full (the broker is unreachable or slow);
    /// the message was dropped and counted instead of blocking the caller.
    #[error(
        "producer queue is full, message to topic {topic:?} dropped \
         (see `queue.buffering.max.messages` and `queue.buffering.max.kbytes`)"
    )]
    QueueFull {
        /// The full topic name.
        topic: String,
    },

    /// The Kafka producer was declared dead by librdkafka and is being
    /// replaced (or the relayer was shut down); without a spool, the message
    /// was dropped and counted.
    #[error(
        "Kafka producer unavailable (being replaced after a fatal error, or shut down), \
         message to topic {topic:?} dropped (configure a spool to keep such messages)"
    )]
    ProducerUnavailable {
        /// The full topic name.
        topic: String,
    },

    /// The spool refused the message: it is at its size cap, its writer
    /// is behind, or the disk refused recent writes. The message was
    /// dropped and counted.
    #[error(
        "spool full or failing, message to topic {topic:?} dropped \
         (see the spool's `max_bytes` and the disk it is on)"
    )]
    SpoolFull {
        /// The full topic name.
        topic: String,
    },

    /// A sink's queue (see [`WriterSink`](crate::sink::WriterSink)) is
    /// full: its output is slower than the messages come. The message was
    /// dropped and counted, for that sink only.
    #[error(
        "sink {sink:?}: queue full, message to topic {topic:?} dropped (is its output slow or blocked?)"
    )]
    SinkFull {
        /// The sink's name, e.g. `"stdout"`.
        sink: String,
        /// The full topic name.
        topic: String,
    },

    /// The sink was shut down; the message was dropped and counted.
    #[error("sink {sink:?} is shut down, message to topic {topic:?} dropped")]
    SinkClosed {
        /// The sink's name, e.g. `"stdout"`.
        sink: String,
        /// The full topic name.
        topic: String,
    },

    /// The spool directory could not be opened or read.
    #[error("spool in {}: {source}", dir.display())]
    Spool {
        /// The spool's directory.
        dir: std::path::PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },

    /// A flush did not finish within its timeout; `pending` messages were not
    /// yet delivered or failed.
    #[error("flush timed out after {timeout:?} with {pending} message(s) still queued")]
    FlushTimeout {
        /// The timeout that ran out.
        timeout: Duration,
        /// How many messages were still in the producer's queue.
        pending: usize,
    },

    /// librdkafka refused the operation.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// The message, as `Display` writes it: what `main` prints when it
/// returns the error.
///
/// ```
/// let error = relayer::Error::Config("no Kafka brokers".into());
/// assert_eq!(format!("{error:?}"), "relayer configuration: no Kafka brokers");
/// ```
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
