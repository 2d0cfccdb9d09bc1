//! Waiting for a condition, with a deadline: a test never sleeps for a
//! guess, and never waits for ever.

use std::time::{Duration, Instant};

/// Polls `done` every few milliseconds until it holds; panics, naming
/// `what`, when it still does not after `timeout`. Returns how long it took.
pub(crate) fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

/// Sets its flag when dropped: a thread of a scope told to stop also when
/// the test fails (the scope joins its threads before the panic goes on).
#[allow(dead_code, reason = "not every test runs a load thread")]
pub(crate) struct SetOnDrop<'a>(pub(crate) &'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}
