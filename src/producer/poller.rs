//! The thread that serves a client's delivery reports and events.
//!
//! rdkafka's `ThreadedProducer` polls in windows of 100 ms, and its poll
//! loop waits in whole milliseconds until the window's end: the last
//! fraction of a millisecond of every window is a busy loop, about 1 % of
//! a core even when nothing is produced. This thread polls in windows a
//! few microseconds longer than a whole number of milliseconds, so the last
//! wait of a quiet window ends past the window (the kernel never wakes a
//! timed wait early) and nothing spins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, ProducerContext};

/// One poll: 100 ms, as long as stopping may take, and a little more than
/// librdkafka waits in whole milliseconds.
const WINDOW: Duration = Duration::from_micros(100_020);

/// Polls its producer on a thread of its own until dropped.
pub(super) struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub(super) fn start<C: ProducerContext + 'static>(
        producer: Arc<BaseProducer<C>>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("relayer-poll".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    producer.poll(WINDOW);
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread, at the end of its window, waiting for it until
    /// `deadline` at most. True when it ended.
    pub(super) fn stop(mut self, deadline: Instant) -> bool {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .is_none_or(|thread| super::join_until(thread, deadline))
    }
}

impl Drop for Poller {
    /// Stops the thread, at the end of its window, and waits for it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
