//! Tells an outage from the delivery reports: messages sent to librdkafka
//! wait, and no report came for a while. With a spool, that is when
//! everything librdkafka holds goes to disk (the client is purged and
//! replaced), so that a message stays only in memory for so long at most,
//! even when the process is killed during the outage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Messages sent directly (not replayed from the spool) to one client,
/// and when it was last heard of.
#[derive(Debug)]
pub(super) struct Silence {
    epoch: Instant,
    /// Sent, no report yet, and their bytes as the spool would take them.
    waiting: AtomicU64,
    bytes: AtomicU64,
    /// When a report last came, or the first of the waiting messages was
    /// sent (microseconds since `epoch`).
    heard_at: AtomicU64,
}

impl Default for Silence {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            waiting: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            heard_at: AtomicU64::new(0),
        }
    }
}

impl Silence {
    /// A message of `bytes` was handed to librdkafka.
    pub(super) fn sent(&self, bytes: u64) {
        // The first to wait starts the clock before it counts: a watcher
        // never sees it waiting since a report long gone.
        if self.waiting.load(Ordering::Acquire) == 0 {
            self.heard();
        }
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    /// A message of `bytes` handed over was refused after all.
    pub(super) fn refused(&self, bytes: u64) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The report of a message of `bytes` sent came.
    pub(super) fn reported(&self, bytes: u64) {
        self.heard();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn heard(&self) {
        let now = self.epoch.elapsed().as_micros() as u64;
        self.heard_at.store(now, Ordering::Release);
    }

    /// What waits (messages and bytes), and for how long nothing was
    /// heard; zero when none waits.
    pub(super) fn waiting(&self) -> Waiting {
        let messages = self.waiting.load(Ordering::Acquire);
        if messages == 0 {
            return Waiting::default();
        }
        let heard_at = Duration::from_micros(self.heard_at.load(Ordering::Acquire));
        Waiting {
            messages,
            bytes: self.bytes.load(Ordering::Acquire),
            silent: self.epoch.elapsed().saturating_sub(heard_at),
        }
    }
}

/// Messages sent and waiting for their reports, and how long the client
/// has been silent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Waiting {
    pub(super) messages: u64,
    pub(super) bytes: u64,
    pub(super) silent: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_while_messages_wait_and_no_report_comes() {
        let silence = Silence::default();
        assert_eq!(silence.waiting(), Waiting::default());
        silence.sent(100);
        silence.sent(50);
        std::thread::sleep(Duration::from_millis(20));
        let waiting = silence.waiting();
        assert_eq!((waiting.messages, waiting.bytes), (2, 150));
        assert!(waiting.silent >= Duration::from_millis(20), "{waiting:?}");
        silence.reported(100);
        assert!(
            silence.waiting().silent < Duration::from_millis(20),
            "heard again"
        );
        silence.reported(50);
        assert_eq!(silence.waiting(), Waiting::default(), "none waits");
        silence.sent(10);
        silence.refused(10);
        assert_eq!(silence.waiting(), Waiting::default());
    }
}
