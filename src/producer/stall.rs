//! Detects an idempotent producer that is alive but can never deliver
//! again: after a broker lost its producer state with nothing in flight,
//! librdkafka answers `UNKNOWN_PRODUCER_ID` by bumping the producer epoch
//! and retrying (see librdkafka's INTRODUCTION.md, "Idempotent Producer");
//! a broker that does not know the producer id at all answers the same
//! again, forever, without a fatal error. The statistics show it: the
//! epoch keeps being bumped while a broker is up, messages are waiting and
//! none is delivered. A fresh client gets a fresh producer id.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long a stall must last before the client is declared dead.
pub(super) const STALL_AFTER: Duration = Duration::from_secs(10);

/// How many producer id re-assignments without a delivery make a stall.
const BUMPS: i64 = 2;

/// The part of librdkafka's statistics this needs.
#[derive(Deserialize)]
struct Statistics {
    msg_cnt: i64,
    #[serde(default)]
    eos: Option<Eos>,
    #[serde(default)]
    brokers: std::collections::HashMap<String, Broker>,
}

#[derive(Deserialize)]
struct Eos {
    epoch_cnt: i64,
}

#[derive(Deserialize)]
struct Broker {
    state: String,
}

/// Watches one client's statistics and deliveries.
#[derive(Default)]
pub(super) struct StallWatch {
    delivered: AtomicBool,
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// `epoch_cnt` at the last delivery (or the first statistics).
    baseline: Option<i64>,
    since: Option<Instant>,
    reported: bool,
}

impl StallWatch {
    /// A message was delivered: whatever happened before, it is no stall.
    pub(super) fn delivered(&self) {
        self.delivered.store(true, Ordering::Relaxed);
    }

    /// Reads one statistics report; says why the client is stalled for good,
    /// once.
    pub(super) fn check(&self, json: &[u8]) -> Option<String> {
        let statistics: Statistics = serde_json::from_slice(json).ok()?;
        let epochs = statistics.eos?.epoch_cnt;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.delivered.swap(false, Ordering::Relaxed) || state.baseline.is_none() {
            state.baseline = Some(epochs);
        }
        let broker_up = statistics.brokers.values().any(|b| b.state == "UP");
        let bumped = epochs - state.baseline.unwrap_or(epochs) >= BUMPS;
        if !(bumped && broker_up && statistics.msg_cnt > 0) {
            state.since = None;
            return None;
        }
        let since = *state.since.get_or_insert_with(Instant::now);
        if state.reported || since.elapsed() < STALL_AFTER {
            return None;
        }
        state.reported = true;
        Some(format!(
            "no delivery for {STALL_AFTER:?} while a broker is up: the producer id was \
             re-assigned {} times (unknown producer id), {} message(s) waiting",
            epochs - state.baseline.unwrap_or(epochs),
            statistics.msg_cnt
        ))
    }
}
