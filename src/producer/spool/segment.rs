//! One segment's bookkeeping: what was written to it, read back, sent, and
//! delivered. A record leaves the spool only on its delivery report: until
//! then its segment stays on disk, and a record purged from the queue or
//! timed out is sent again from there.

use std::collections::{BTreeMap, BTreeSet};

use super::ledger;

/// A segment file and where its records are.
#[derive(Debug)]
pub(super) struct Segment {
    /// Segments are replayed in sequence order. Messages purged from a
    /// dead producer's queue are older than everything in the spool: they
    /// go to a segment numbered before the oldest.
    pub(super) sequence: u64,
    /// The bytes of good records, from the start of the file.
    pub(super) end: u64,
    /// Records neither delivered nor failed (nor lost to corruption).
    unfinished: u64,
    /// Every record before this offset is finished.
    start: u64,
    /// The offset of the next record to read.
    read: u64,
    /// The records from `start` on that were read, by offset.
    sent: BTreeMap<u64, Entry>,
    /// Offsets that a previous process delivered (its ledger), not yet
    /// passed over.
    delivered_before: BTreeSet<u64>,
    /// A record could not be read: nothing past `end` can be trusted, and
    /// nothing more is written to it.
    corrupt: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Handed to librdkafka, no report yet.
    InFlight,
    /// Delivered, or failed for good.
    Done,
    /// Purged from the queue or timed out: to be sent again.
    Again,
}

impl Segment {
    pub(super) fn new(sequence: u64) -> Self {
        Self::recovered(sequence, 0, 0, 0, BTreeSet::new())
    }

    /// A segment found at start, with `records` not yet delivered: none
    /// before `start`, nor at the offsets in `done`.
    pub(super) fn recovered(
        sequence: u64,
        end: u64,
        records: u64,
        start: u64,
        done: BTreeSet<u64>,
    ) -> Self {
        Self {
            sequence,
            end,
            unfinished: records,
            start,
            read: start,
            sent: BTreeMap::new(),
            delivered_before: done,
            corrupt: false,
        }
    }

    pub(super) fn unfinished(&self) -> u64 {
        self.unfinished
    }

    /// Records of `size` bytes each were written at the end. False when
    /// the segment was found corrupt meanwhile: they cannot be read back
    /// from it, and are to be written elsewhere.
    pub(super) fn appended(&mut self, sizes: impl Iterator<Item = u64>) -> bool {
        if self.corrupt {
            return false;
        }
        for size in sizes {
            self.end += size;
            self.unfinished += 1;
        }
        true
    }

    /// True once the segment was found corrupt: nothing more goes in.
    pub(super) fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// The offset of the next record to send, past records already done.
    pub(super) fn next_read(&mut self) -> Option<u64> {
        while let Some(entry) = self.sent.get(&self.read).filter(|e| e.state == State::Done) {
            self.read += entry.size;
        }
        (self.read < self.end).then_some(self.read)
    }

    /// The record at `offset` was read; true when a previous process
    /// delivered it already: it is passed over.
    pub(super) fn delivered_before(&mut self, offset: u64, size: u64) -> bool {
        if !self.delivered_before.remove(&offset) {
            return false;
        }
        self.insert(offset, size, State::Done);
        true
    }

    /// The record at `offset` is being handed to librdkafka.
    pub(super) fn sending(&mut self, offset: u64, size: u64) {
        self.insert(offset, size, State::InFlight);
    }

    /// The record at `offset` was not taken after all: read it again.
    pub(super) fn not_sent(&mut self, offset: u64) {
        self.sent.remove(&offset);
        self.read = self.read.min(offset);
    }

    /// The record at `offset` was delivered or failed for good. False when
    /// it was not in flight (a report already handled).
    pub(super) fn finished(&mut self, offset: u64) -> bool {
        let Some(entry) = self
            .sent
            .get_mut(&offset)
            .filter(|entry| entry.state != State::Done)
        else {
            return false;
        };
        entry.state = State::Done;
        self.unfinished -= 1;
        self.compact();
        true
    }

    /// Moves `start` past the records done in a row, and the read offset
    /// with it: records read again (to send again) and delivered meanwhile
    /// are not read once more.
    fn compact(&mut self) {
        while let Some(entry) = self.sent.get(&self.start).copied() {
            if entry.state != State::Done {
                break;
            }
            self.sent.remove(&self.start);
            self.start += entry.size;
        }
        self.read = self.read.max(self.start);
    }

    /// The record at `offset` must be sent again.
    pub(super) fn again(&mut self, offset: u64) {
        if let Some(entry) = self.sent.get_mut(&offset) {
            entry.state = State::Again;
        }
    }

    /// Reads again from the oldest record to send again; records delivered
    /// meanwhile are passed over.
    pub(super) fn rewind(&mut self) {
        let again: Vec<u64> = self
            .sent
            .iter()
            .filter(|(_, e)| e.state == State::Again)
            .map(|(offset, _)| *offset)
            .collect();
        for offset in again {
            self.not_sent(offset);
        }
    }

    /// The record at `at` (the read offset) cannot be read: it and every
    /// record after it are lost, the records before it are kept (those to
    /// send again are read again from there). Returns how many were lost.
    pub(super) fn lose_rest(&mut self, at: u64) -> u64 {
        let waiting = self
            .sent
            .values()
            .filter(|e| e.state != State::Done)
            .count() as u64;
        let lost = self.unfinished.saturating_sub(waiting);
        self.unfinished -= lost;
        self.corrupt = true;
        self.end = at;
        self.read = self.read.min(at);
        self.delivered_before.clear();
        lost
    }

    /// Every record is finished (delivered, failed, or delivered by a
    /// previous process): the file can go.
    pub(super) fn is_done(&self) -> bool {
        self.unfinished == 0
    }

    /// What the ledger records of this segment, so that the next process
    /// sends nothing twice; `None` when nothing was delivered.
    pub(super) fn ledger_entry(&self) -> Option<ledger::Entry> {
        let done: BTreeSet<u64> = self
            .sent
            .iter()
            .filter(|(_, e)| e.state == State::Done)
            .map(|(offset, _)| *offset)
            .chain(self.delivered_before.iter().copied())
            .collect();
        (self.start > 0 || !done.is_empty()).then(|| ledger::Entry {
            sequence: self.sequence,
            start: self.start,
            done: done.into_iter().collect(),
        })
    }

    fn insert(&mut self, offset: u64, size: u64, state: State) {
        self.sent.insert(offset, Entry { size, state });
        self.read = self.read.max(offset + size);
        self.compact();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment with `n` records of 10 bytes.
    fn segment(n: u64) -> Segment {
        let mut segment = Segment::new(1);
        assert!(segment.appended((0..n).map(|_| 10)));
        segment
    }

    fn send_all(segment: &mut Segment) -> Vec<u64> {
        let mut sent = Vec::new();
        while let Some(offset) = segment.next_read() {
            segment.sending(offset, 10);
            sent.push(offset);
        }
        sent
    }

    #[test]
    fn a_segment_is_done_only_when_every_record_is_delivered() {
        let mut segment = segment(3);
        assert_eq!(send_all(&mut segment), [0, 10, 20]);
        assert!(!segment.is_done(), "handed over is not delivered");
        assert!(segment.finished(20));
        assert!(segment.finished(0));
        assert!(!segment.finished(0), "a report counts once");
        let entry = segment.ledger_entry().unwrap();
        assert_eq!((entry.start, entry.done), (10, vec![20]));
        assert!(segment.finished(10));
        assert!(segment.is_done());
        assert_eq!(segment.ledger_entry().unwrap().start, 30);
    }

    #[test]
    fn records_to_send_again_are_read_again_in_order_and_delivered_ones_are_not() {
        let mut segment = segment(4);
        send_all(&mut segment);
        segment.finished(10);
        segment.again(0);
        segment.again(20);
        segment.again(30);
        segment.rewind();
        assert_eq!(send_all(&mut segment), [0, 20, 30]);
    }

    /// Records after one to send again were delivered; the one before
    /// them too, once sent again: none of them is read a third time.
    #[test]
    fn records_delivered_while_others_are_sent_again_are_not_read_again() {
        let mut segment = segment(4);
        send_all(&mut segment);
        segment.finished(20);
        segment.finished(30);
        segment.again(0);
        segment.again(10);
        segment.rewind();
        assert_eq!(segment.next_read(), Some(0));
        segment.sending(0, 10);
        segment.sending(10, 10);
        segment.finished(0);
        segment.finished(10);
        assert_eq!(segment.next_read(), None, "20 and 30 were delivered");
        assert!(segment.is_done());
    }

    #[test]
    fn a_corrupt_record_loses_it_and_the_rest_and_keeps_those_before() {
        let mut segment = segment(5);
        segment.sending(0, 10);
        segment.finished(0);
        segment.sending(10, 10);
        assert_eq!(segment.lose_rest(20), 3);
        assert!(!segment.is_done(), "one is still in flight");
        assert!(
            !segment.appended([10].into_iter()),
            "written after the damage: to go elsewhere"
        );
        // The one in flight comes back to be sent again: read again.
        segment.again(10);
        segment.rewind();
        assert_eq!(segment.next_read(), Some(10));
        segment.sending(10, 10);
        assert_eq!(segment.next_read(), None, "nothing past the damage");
        segment.finished(10);
        assert!(segment.is_done());
        assert_eq!(segment.unfinished(), 0);
    }

    #[test]
    fn records_a_previous_process_delivered_are_passed_over() {
        let mut segment = Segment::recovered(1, 40, 2, 10, BTreeSet::from([20]));
        assert_eq!(segment.next_read(), Some(10));
        segment.sending(10, 10);
        assert_eq!(segment.next_read(), Some(20));
        assert!(segment.delivered_before(20, 10));
        assert_eq!(segment.next_read(), Some(30));
        assert!(!segment.delivered_before(30, 10));
    }
}
