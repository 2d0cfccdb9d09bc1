//! Detects an idempotent producer that is alive but can never deliver
//! again. After a broker lost its producer state with nothing in flight,
//! librdkafka answers `UNKNOWN_PRODUCER_ID` by bumping the producer epoch
//! and retrying, without a fatal error (see librdkafka's INTRODUCTION.md,
//! "Idempotent Producer"). A broker that does not know the producer id at
//! all (tansu after a restart with memory storage) answers the same again:
//! the epoch is bumped about 20 times a second, forever, and nothing is
//! delivered. The statistics show it: the producer id or epoch keeps
//! changing while a broker is up, messages are waiting and none is
//! delivered. A fresh client gets a fresh producer id and delivers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long the producer id may keep changing without a delivery before
/// the client is declared dead.
pub(super) const STALL_AFTER: Duration = Duration::from_secs(5);

/// How many statistics reports (one a second) with a changed producer id or
/// epoch, without a delivery, make a stall: a legitimate bump happens once.
const CHANGES: u32 = 3;

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
    producer_id: i64,
    producer_epoch: i64,
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
    /// Producer id and epoch in the last report.
    last: Option<(i64, i64)>,
    /// Reports with a changed id or epoch since the last delivery, and
    /// when the first of them came.
    changes: u32,
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
        let eos = statistics.eos?;
        let id = (eos.producer_id, eos.producer_epoch);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let changed = state.last.replace(id).is_some_and(|last| last != id);
        let broker_up = statistics.brokers.values().any(|b| b.state == "UP");
        if self.delivered.swap(false, Ordering::Relaxed) || statistics.msg_cnt == 0 || !broker_up {
            state.changes = 0;
            state.since = None;
            return None;
        }
        if changed {
            state.changes += 1;
            state.since.get_or_insert_with(Instant::now);
        }
        let stalled = state.changes >= CHANGES
            && state
                .since
                .is_some_and(|since| since.elapsed() >= STALL_AFTER);
        if !stalled || state.reported {
            return None;
        }
        state.reported = true;
        Some(format!(
            "no delivery for {STALL_AFTER:?} while a broker is up and {} message(s) wait: \
             the producer id or epoch changed in {} statistics reports in a row \
             (unknown producer id, retried forever)",
            statistics.msg_cnt, state.changes
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: i64, messages: i64) -> Vec<u8> {
        serde_json::json!({
            "msg_cnt": messages,
            "eos": {"producer_id": 1, "producer_epoch": epoch},
            "brokers": {"b": {"state": "UP"}},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_epoch_bumped_again_and_again_without_delivery_is_a_stall() {
        let watch = StallWatch::default();
        assert!(watch.check(&report(0, 5)).is_none());
        for epoch in 1..=CHANGES as i64 {
            assert!(watch.check(&report(epoch * 20, 5)).is_none(), "not yet");
        }
        watch.state.lock().unwrap().since = Some(Instant::now() - STALL_AFTER);
        assert!(watch.check(&report(100, 5)).is_some());
        assert!(watch.check(&report(120, 5)).is_none(), "reported once");
    }

    #[test]
    fn a_delivery_or_an_empty_queue_is_no_stall() {
        let watch = StallWatch::default();
        for epoch in 0..=CHANGES as i64 {
            watch.check(&report(epoch, 5));
        }
        watch.state.lock().unwrap().since = Some(Instant::now() - STALL_AFTER);
        watch.delivered();
        assert!(watch.check(&report(10, 5)).is_none());
        assert!(watch.check(&report(11, 0)).is_none());
        assert_eq!(watch.state.lock().unwrap().changes, 0);
    }
}
