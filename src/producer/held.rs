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

    /// Keeps `message`, purged from a client's queue or new; `None` when
    /// there is no room for it. A purged message is older than every new
    /// one: the newest new ones make room for it, and are returned (they
    /// were accepted, and are now failed).
    pub(super) fn keep(
        &mut self,
        message: &Message<'_>,
        purged: bool,
    ) -> Option<Vec<OwnedMessage>> {
        let size = weight(message);
        let mut evicted = Vec::new();
        let full = |held: &Self| {
            held.purged.len() + held.new.len() >= held.max_messages
                || held.bytes + size > held.max_bytes
        };
        while purged && full(self) {
            let newest = self.new.pop()?;
            self.bytes -= newest.with_message(weight);
            evicted.push(newest);
        }
        if full(self) {
            return None;
        }
        self.bytes += size;
        let list = if purged {
            &mut self.purged
        } else {
            &mut self.new
        };
        list.push(OwnedMessage::new(message));
        Some(evicted)
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
        assert!(held.keep(&message(b"new-1"), false).is_some());
        assert!(held.keep(&message(b"old-1"), true).is_some());
        assert!(held.keep(&message(b"new-2"), false).is_some());
        assert!(held.keep(&message(b"old-2"), true).is_some());
        let order: Vec<Vec<u8>> = held.take().map(|m| m.payload).collect();
        assert_eq!(order, [b"old-1", b"old-2", b"new-1", b"new-2"]);
        assert_eq!(held.take().count(), 0);
    }

    #[test]
    fn bounded_by_bytes_as_well_as_by_count() {
        let mut held = Held::new(1000, 100);
        let big = [b'x'; 40];
        assert!(held.keep(&message(&big), false).is_some());
        assert!(held.keep(&message(&big), true).is_some());
        assert!(
            held.keep(&message(&big), false).is_none(),
            "82 + 41 bytes > 100"
        );
        assert!(held.keep(&message(b"small"), false).is_some());
        let mut held = Held::new(2, 1 << 20);
        assert!(held.keep(&message(b"a"), false).is_some());
        assert!(held.keep(&message(b"b"), true).is_some());
        assert!(held.keep(&message(b"c"), false).is_none());
        assert_eq!(held.take().count(), 2);
        assert!(
            held.keep(&message(&big), false).is_some(),
            "room again once taken"
        );
    }

    /// Purged messages were sent before any new one: a full queue of new
    /// ones makes room for them, the newest going first.
    #[test]
    fn purged_messages_take_the_place_of_the_newest() {
        let mut held = Held::new(3, 1 << 20);
        for new in [b"new-1", b"new-2", b"new-3"] {
            assert_eq!(held.keep(&message(new), false), Some(Vec::new()));
        }
        let evicted = held.keep(&message(b"old-1"), true).unwrap();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].payload, b"new-3");
        let order: Vec<Vec<u8>> = held.take().map(|m| m.payload).collect();
        assert_eq!(order, [&b"old-1"[..], b"new-1", b"new-2"]);
        let mut held = Held::new(1, 1 << 20);
        assert!(held.keep(&message(b"old-1"), true).is_some());
        assert!(
            held.keep(&message(b"old-2"), true).is_none(),
            "purged ones never evict each other"
        );
    }
}
