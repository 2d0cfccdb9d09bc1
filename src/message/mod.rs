//! Consumer scopes: one record per consumed Kafka message, continuing the
//! request and the trace of the service that produced it.

mod caller;

use std::fmt::Display;
use std::future::Future;

use rdkafka::message::Message as KafkaMessage;
use serde::Serialize;

use crate::record::Outcome;
use crate::{Relayer, Scope};

/// The handling of one consumed Kafka message: a [`Scope`] that continues
/// the producer's request id and trace (a new span, its parent the
/// producer's span, from the message headers `x-request-id` (or the
/// relayer's [request id header](crate::Builder::request_id_header)),
/// `traceparent` and `tracestate`) and writes one record when it ends:
///
/// | field | value |
/// |---|---|
/// | common fields | `source`, `logging_topic`, `date`, `request_id`, `outcome`, `trace_id`, `span_id`, `parent_span_id`, `fields`, `lines` |
/// | `topic`, `partition`, `offset` | where the message was read |
/// | `key` | the key as UTF-8 text, else as hex; `null` without a key |
/// | `processing_time` | milliseconds (float) the handling took |
/// | `error` | the error's text when the handling returned `Err` |
///
/// Like an RPC call, it ends with outcome `ok`, `error`, `panicked` (dropped
/// by a panic) or `cancelled` (dropped before the end).
///
/// Most code calls [`Relayer::handle_message`]; use a `MessageScope`
/// directly where a closure does not fit.
///
/// ```no_run
/// use rdkafka::consumer::{Consumer, StreamConsumer};
/// use relayer::Relayer;
///
/// # async fn run(relayer: Relayer, consumer: StreamConsumer) -> Result<(), Box<dyn std::error::Error>> {
/// consumer.subscribe(&["orders"])?;
/// loop {
///     let message = consumer.recv().await?;
///     let handled = relayer
///         .handle_message(&message, |relayer| async move {
///             relayer.info("charging the order")?;
///             // ... emit, log, call other services: all of it joins the
///             // request that produced the message
///             Ok::<_, relayer::Error>(())
///         })
///         .await;
///     if let Err(error) = handled {
///         eprintln!("order not charged: {error}"); // also in the record
///     }
/// }
/// # }
/// ```
#[must_use = "a message scope writes its record when finished or dropped"]
pub struct MessageScope {
    scope: Option<Scope>,
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<String>,
}

/// The fields of a message record.
#[derive(Debug, Serialize)]
pub struct MessageDetails<'a> {
    /// The topic the message was read from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, as UTF-8 text, else as hex.
    pub key: Option<&'a str>,
    /// Milliseconds the handling took.
    #[serde(serialize_with = "crate::record::milliseconds::serialize")]
    pub processing_time: f64,
    /// The error's text when the handling returned `Err`.
    pub error: Option<&'a str>,
}

impl MessageScope {
    /// Opens the scope of `message` (borrowed or owned), with `relayer`.
    pub fn new<M: KafkaMessage>(relayer: &Relayer, message: &M) -> Self {
        Self {
            scope: Some(Scope::continuing(
                relayer,
                caller::from_headers(message, relayer.request_id_header()),
            )),
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(key_text),
        }
    }

    /// The relayer bound to this message's scope.
    pub fn relayer(&self) -> &Relayer {
        self.scope().relayer()
    }

    /// The scope, for its request id and trace.
    pub fn scope(&self) -> &Scope {
        self.scope.as_ref().expect("open until finished")
    }

    /// Runs `future` with the message's relayer as [`Relayer::current`].
    pub async fn bind<F: Future>(&self, future: F) -> F::Output {
        self.relayer().bind(future).await
    }

    /// Writes the record with outcome `ok`, or `error` and the error's
    /// text.
    pub fn finish_result<T, E: Display>(mut self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.write(Outcome::Ok, None),
            Err(error) => self.write(Outcome::Error, Some(&error.to_string())),
        }
    }

    fn write(&mut self, outcome: Outcome, error: Option<&str>) {
        if let Some(scope) = self.scope.take() {
            let processing_time = scope.elapsed_ms();
            scope.finish(
                outcome,
                MessageDetails {
                    topic: &self.topic,
                    partition: self.partition,
                    offset: self.offset,
                    key: self.key.as_deref(),
                    processing_time,
                    error,
                },
            );
        }
    }
}

impl Drop for MessageScope {
    fn drop(&mut self) {
        self.write(Outcome::of_unfinished(), None);
    }
}

impl std::fmt::Debug for MessageScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageScope")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl Relayer {
    /// Handles one consumed Kafka message (an rdkafka `BorrowedMessage` or
    /// `OwnedMessage`) in a [`MessageScope`]: `handler` gets the message's
    /// relayer, which is also [`Relayer::current`] while it runs, and one
    /// record is written when it ends, also on panic and cancellation.
    /// Returns what `handler` returned.
    pub async fn handle_message<M, F, T, E>(
        &self,
        message: &M,
        handler: impl FnOnce(Self) -> F,
    ) -> Result<T, E>
    where
        M: KafkaMessage,
        F: Future<Output = Result<T, E>>,
        E: Display,
    {
        let scope = MessageScope::new(self, message);
        let relayer = scope.relayer().clone();
        let result = scope.bind(handler(relayer)).await;
        scope.finish_result(&result);
        result
    }
}

/// A key as UTF-8 text, else as lower-case hex.
fn key_text(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.to_owned(),
        Err(_) => key.iter().map(|byte| format!("{byte:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_text_else_hex() {
        assert_eq!(key_text(b"order-1"), "order-1");
        assert_eq!(key_text(&[0x11, 0xff, 0x00]), "11ff00");
    }
}
