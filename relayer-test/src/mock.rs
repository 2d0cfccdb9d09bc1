use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use relayer::Error;
use relayer::producer::{self, DeliveryCounters, Producer, Stats};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::{Message, Record};

/// How many messages each topic had at a moment.
#[derive(Debug, Default)]
pub(crate) struct Mark(HashMap<String, usize>);

type MakeError = Box<dyn Fn(&str) -> Error + Send + Sync>;

/// A producer that records every message instead of sending it.
///
/// Cloning is cheap and every clone sees the same messages, so keep one in
/// the test and give another to the relayer under test. Messages are kept
/// per topic, in send order, as value bytes and key bytes. With
/// `RELAYER_TEST_RECORDS` ([`RECORDS_ENV`](crate::RECORDS_ENV)) set to a
/// directory, every value is also appended to a file there, to check
/// every record a test suite produced in one step after it.
///
/// ```
/// use relayer::Relayer;
/// use relayer_test::MockProducer;
///
/// let mock = MockProducer::new();
/// let relayer = Relayer::builder("logging").topic_prefix("test_").producer(mock.clone()).build()?;
/// relayer.emit_with_key("order", "created", &serde_json::json!({"id": 1}), "order-1")?;
///
/// let sent = mock.messages("test_order");
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].key.as_deref(), Some(&b"order-1"[..]));
/// assert_eq!(mock.json("test_order")[0]["payload"]["id"], 1);
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MockProducer {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    counters: DeliveryCounters,
    sent: Notify,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Vec<Message>>,
    flushes: usize,
    failures: VecDeque<MakeError>,
}

impl MockProducer {
    /// An empty mock. With the `metrics` feature of `relayer`, its metrics
    /// are labelled `client_id="relayer"`.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty mock whose metrics are labelled `client_id` = `client_id`
    /// (see [`DeliveryCounters::new`]), to tell two relayers of a test
    /// apart.
    pub fn with_client_id(client_id: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                counters: DeliveryCounters::new(client_id),
                sent: Notify::new(),
            }),
        }
    }

    /// The messages sent to `topic` (full name, prefix and suffix included),
    /// in send order.
    pub fn messages(&self, topic: &str) -> Vec<Message> {
        self.state().topics.get(topic).cloned().unwrap_or_default()
    }

    /// The values sent to `topic`, decoded as JSON.
    pub fn json(&self, topic: &str) -> Vec<Value> {
        self.messages(topic).iter().map(Message::json).collect()
    }

    /// The records written so far, on any topic (the messages shaped as
    /// records: with `request_id`, `outcome` and `lines`), in send order
    /// per topic.
    ///
    /// ```
    /// use relayer::{Relayer, Scope};
    ///
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
    /// relayer.emit("order", "created", &1)?; // an event, not a record
    /// drop(Scope::new(&relayer, None));
    /// assert_eq!(mock.records().len(), 1);
    /// assert_eq!(mock.records()[0].outcome(), "cancelled");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn records(&self) -> Vec<Record> {
        self.records_after(&Mark::default())
    }

    /// Where each topic is now: [`records_after`](Self::records_after) it
    /// gives what was written since.
    pub(crate) fn mark(&self) -> Mark {
        let state = self.state();
        Mark(
            state
                .topics
                .iter()
                .map(|(topic, messages)| (topic.clone(), messages.len()))
                .collect(),
        )
    }

    /// The records written after `mark`, in send order per topic.
    pub(crate) fn records_after(&self, mark: &Mark) -> Vec<Record> {
        let state = self.state();
        let mut topics: Vec<&String> = state.topics.keys().collect();
        topics.sort();
        topics
            .into_iter()
            .flat_map(|topic| &state.topics[topic][mark.0.get(topic).copied().unwrap_or(0)..])
            .map(Message::json)
            .filter(Record::is_record)
            .map(Record::new)
            .collect()
    }

    /// Resolves at the next message sent after this call.
    pub(crate) fn sent(&self) -> Notified<'_> {
        self.inner.sent.notified()
    }

    /// The one record of the request `request_id`. Panics, listing the
    /// request ids written, when there is none or more than one (a nested
    /// scope writes its own record with its outer request's id: use
    /// [`records`](Self::records) then).
    pub fn record(&self, request_id: &str) -> Record {
        let records = self.records();
        let mut found = records.iter().filter(|r| r.request_id() == request_id);
        match (found.next(), found.next()) {
            (Some(record), None) => record.clone(),
            (None, _) => panic!(
                "no record of request {request_id:?}; records of: {:?}",
                records.iter().map(Record::request_id).collect::<Vec<_>>()
            ),
            (Some(_), Some(_)) => panic!("more than one record of request {request_id:?}"),
        }
    }

    /// The topics that received at least one message, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.state().topics.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// How many times the relayer flushed this producer.
    pub fn flushed(&self) -> usize {
        self.state().flushes
    }

    /// Forgets every message and flush, and any failure still planned.
    pub fn clear(&self) {
        *self.state() = State::default();
    }

    /// Makes the next `count` sends fail with the error `error` makes from
    /// the topic name; nothing is recorded for them.
    ///
    /// ```
    /// # let mock = relayer_test::MockProducer::new();
    /// mock.fail_next(1, |topic| relayer::Error::QueueFull { topic: topic.to_owned() });
    /// ```
    pub fn fail_next(&self, count: usize, error: impl Fn(&str) -> Error + Send + Sync + 'static) {
        let error: Arc<dyn Fn(&str) -> Error + Send + Sync> = Arc::new(error);
        let mut state = self.state();
        for _ in 0..count {
            let error = error.clone();
            state
                .failures
                .push_back(Box::new(move |topic| error(topic)));
        }
    }

    /// Waits until `topic` has at least `count` messages and returns them.
    /// Records are written when a response body ends, which can be a moment
    /// after the client has read it; this waits for that moment.
    ///
    /// Panics after `timeout`, listing what was sent.
    pub async fn wait_for(&self, topic: &str, count: usize, timeout: Duration) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.sent();
            let messages = self.messages(topic);
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {count} message(s) on {topic:?} within {timeout:?}, got {}; topics: {:?}",
                    messages.len(),
                    self.topics()
                );
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Producer for MockProducer {
    fn send(&self, message: producer::Message<'_>) -> relayer::Result<()> {
        let mut state = self.state();
        if let Some(failure) = state.failures.pop_front() {
            let error = failure(message.topic);
            if matches!(error, Error::QueueFull { .. }) {
                self.inner.counters.dropped(message.topic);
            }
            return Err(error);
        }
        state
            .topics
            .entry(message.topic.to_owned())
            .or_default()
            .push(Message {
                topic: message.topic.to_owned(),
                key: message.key.map(<[u8]>::to_vec),
                value: message.payload.to_vec(),
                headers: message
                    .headers
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), value.to_vec()))
                    .collect(),
            });
        drop(state);
        crate::collect::append(message.payload);
        self.inner.counters.produced();
        self.inner.counters.delivered();
        self.inner.sent.notify_waiters();
        Ok(())
    }

    fn flush(&self, _timeout: Duration) -> relayer::Result<()> {
        self.state().flushes += 1;
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    fn client_id(&self) -> &str {
        self.inner.counters.client_id()
    }

    fn refused(&self, topic: &str) {
        self.inner.counters.dropped(topic);
    }
}

impl fmt::Debug for MockProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MockProducer")
            .field("topics", &state.topics)
            .field("flushes", &state.flushes)
            .finish()
    }
}
