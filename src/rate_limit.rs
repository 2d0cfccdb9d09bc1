//! Warnings about a fault that repeats (an outage) are written at most
//! once per period, so they do not flood the application's logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a repeated warning is written.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// Lets a warning through at most once per [`WARN_EVERY`], and counts the
/// ones held back in between.
#[derive(Debug, Default)]
pub(crate) struct RateLimited {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// Runs `warn` with the number of warnings held back since the last
    /// one, or holds this one back too.
    pub(crate) fn warn(&self, warn: impl FnOnce(u64)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            state.suppressed += 1;
            return;
        }
        state.last = Some(Instant::now());
        let suppressed = std::mem::take(&mut state.suppressed);
        drop(state);
        warn(suppressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_period_and_the_count_of_the_others() {
        let limited = RateLimited::default();
        let mut written = Vec::new();
        for _ in 0..5 {
            limited.warn(|suppressed| written.push(suppressed));
        }
        assert_eq!(written, [0], "only the first of a burst is written");
        limited.state.lock().unwrap().last = Some(Instant::now() - WARN_EVERY);
        limited.warn(|suppressed| written.push(suppressed));
        assert_eq!(written, [0, 4], "the next one says how many were held back");
    }
}
