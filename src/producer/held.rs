//! Messages kept in memory for the next client when there is no spool:
//! those purged from a dead client's queue, which go first, and those sent
//! while no client is live. Bounded like librdkafka's own queue, by count
//! and by bytes.

use super::Message;
use super::owned::OwnedMessage;

#[derive(Debug)]
pub(super) struct Held {
    purged: Vec<OwnedMessage>,
    new: Vec<OwnedMessage>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

/// What a message weighs against the byte bound: what librdkafka counts
/// against `queue.buffering.max.kbytes`, and its headers.
fn weight(message: &Message<'_>) -> usize {
    let headers: usize = message
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    message.payload.len() + message.key.map_or(0, <[u8]>::len) + headers
}

impl Held {
    pub(super) fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            purged: Vec::new(),
            new: Vec::new(),
            bytes: 0,
            max_messages,
            max_bytes,
        }
    }

    /// Keeps `message`, purged from a client's queue or new; false when
    /// there is no room for it.
    pub(super) fn keep(&mut self, message: &Message<'_>, purged: bool) -> bool {
        let weight = weight(message);
        if self.purged.len() + self.new.len() >= self.max_messages
            || self.bytes + weight > self.max_bytes
        {
            return false;
        }
        self.bytes += weight;
        let list = if purged {
            &mut self.purged
        } else {
            &mut self.new
        };
        list.push(OwnedMessage::new(message));
        true
    }

    /// Everything held, in the order to send it: purged messages first.
    pub(super) fn take(&mut self) -> impl Iterator<Item = OwnedMessage> + use<> {
        self.bytes = 0;
        let purged = std::mem::take(&mut self.purged);
        purged.into_iter().chain(std::mem::take(&mut self.new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Message<'_> {
        Message {
            topic: "orders",
            key: Some(b"k"),
            headers: &[],
            payload,
        }
    }

    #[test]
    fn purged_messages_go_before_newer_ones() {
        let mut held = Held::new(10, 1000);
        assert!(held.keep(&message(b"new-1"), false));
        assert!(held.keep(&message(b"old-1"), true));
        assert!(held.keep(&message(b"new-2"), false));
        assert!(held.keep(&message(b"old-2"), true));
        let order: Vec<Vec<u8>> = held.take().map(|m| m.payload).collect();
        assert_eq!(order, [b"old-1", b"old-2", b"new-1", b"new-2"]);
        assert_eq!(held.take().count(), 0);
    }

    #[test]
    fn bounded_by_bytes_as_well_as_by_count() {
        let mut held = Held::new(1000, 100);
        let big = [b'x'; 40];
        assert!(held.keep(&message(&big), false));
        assert!(held.keep(&message(&big), true));
        assert!(!held.keep(&message(&big), false), "82 + 41 bytes > 100");
        assert!(held.keep(&message(b"small"), false));
        let mut held = Held::new(2, 1 << 20);
        assert!(held.keep(&message(b"a"), false));
        assert!(held.keep(&message(b"b"), true));
        assert!(!held.keep(&message(b"c"), false));
        assert_eq!(held.take().count(), 2);
        assert!(held.keep(&message(&big), false), "room again once taken");
    }
}
