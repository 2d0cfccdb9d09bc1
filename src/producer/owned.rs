//! A message the producer keeps itself (held for the next client, read back
//! from the spool): its bytes owned.

use super::Message;

/// An owned [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedMessage {
    pub(crate) topic: String,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) payload: Vec<u8>,
}

impl OwnedMessage {
    pub(crate) fn new(message: &Message<'_>) -> Self {
        Self {
            topic: message.topic.to_owned(),
            key: message.key.map(<[u8]>::to_vec),
            headers: message
                .headers
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.to_vec()))
                .collect(),
            payload: message.payload.to_vec(),
        }
    }

    /// Lends the message as producers take it.
    pub(crate) fn with_message<R>(&self, f: impl FnOnce(&Message<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_slice()))
            .collect();
        f(&Message {
            topic: &self.topic,
            key: self.key.as_deref(),
            headers: &headers,
            payload: &self.payload,
        })
    }
}
