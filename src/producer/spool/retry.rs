//! When to try again what failed on the spool's disk: after a backoff that
//! doubles within the spool's bounds, said once per run of errors at the
//! first, second, fourth, ... error.

use std::time::{Duration, Instant};

use super::Spool;

#[derive(Default)]
pub(super) struct Retry {
    backoff: Duration,
    at: Option<Instant>,
    errors: u64,
}

impl Retry {
    pub(super) fn due(&self) -> bool {
        self.at.is_none_or(|at| Instant::now() >= at)
    }

    /// How long until it is due.
    pub(super) fn left(&self) -> Duration {
        self.at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }

    pub(super) fn succeeded(&mut self) {
        self.backoff = Duration::ZERO;
        self.at = None;
    }

    /// The wait before the next try.
    pub(super) fn backoff(&self) -> Duration {
        self.backoff
    }

    /// It failed: tried again after a backoff twice the last one. True
    /// when to say so.
    pub(super) fn failed(&mut self, spool: &Spool) -> bool {
        let (min, max) = spool.tuning.backoff;
        self.backoff = (self.backoff * 2).clamp(min, max);
        self.at = Some(Instant::now() + self.backoff);
        self.errors += 1;
        self.errors.is_power_of_two()
    }
}
