use serde_json::Value;

/// A message as it went to (or came back from) Kafka: topic, key bytes,
/// headers and value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The full topic name.
    pub topic: String,
    /// The key bytes, `None` for an unkeyed message.
    pub key: Option<Vec<u8>>,
    /// The value bytes (JSON).
    pub value: Vec<u8>,
    /// The message headers, in order: for an event emitted inside a
    /// request, the request id (`x-request-id`), `traceparent` and, when
    /// the request has one, `tracestate`.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// The value decoded as JSON. Panics with the raw value when it is not
    /// JSON, which relayer never sends.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.value).unwrap_or_else(|error| {
            panic!(
                "message on {} is not JSON ({error}): {}",
                self.topic,
                String::from_utf8_lossy(&self.value)
            )
        })
    }

    /// The value of the header `name` as UTF-8 text, when there is one.
    ///
    /// ```
    /// # let mock = relayer_test::MockProducer::new();
    /// # let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
    /// scope.relayer().emit("order", "created", &1)?;
    /// assert_eq!(mock.messages("order")[0].header("x-request-id"), Some("req-1"));
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The key as UTF-8 text, when there is a key and it is text.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|key| std::str::from_utf8(key).ok())
    }
}
