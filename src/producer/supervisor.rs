//! Replaces a client that librdkafka declared dead (a fatal error of the
//! idempotent producer) or that is stalled for good, with a new client,
//! so that delivery resumes without restarting the service.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rdkafka::producer::Producer as _;

use super::client::{Client, Dead};
use super::kafka::Shared;

/// What the supervisor thread is told.
pub(super) enum Signal {
    Dead(Dead),
    Stop,
}

/// The first wait before a replacement that follows another one closely,
/// doubled each time up to [`MAX_BACKOFF`]: a cluster that kills every new
/// producer at once must not make relayer spin.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A client that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long the old client gets to hand back every message it holds.
/// Purging is local, but a full queue is 100,000 reports to serve on a
/// busy machine: this only bounds a client whose polling thread is stuck.
const SETTLE: Duration = Duration::from_secs(10);

pub(super) fn run(shared: &Shared, signals: &Receiver<Signal>) {
    let mut backoff = MIN_BACKOFF;
    let mut replaced_at: Option<Instant> = None;
    let mut generation = 0;
    loop {
        let dead = match signals.recv() {
            Ok(Signal::Dead(dead)) => dead,
            Ok(Signal::Stop) | Err(_) => return,
        };
        let Some(old) = shared.take_client(dead.generation, dead.if_fatal) else {
            continue; // not fatal, or a late report about a replaced client
        };
        tracing::error!(
            target: "relayer",
            fatal = ?old.producer.client().fatal_error(),
            reason = dead.reason,
            "Kafka producer is dead; replacing it with a new one (messages meanwhile are held for it or spooled)"
        );
        // Everything the old client holds comes back first, before any
        // wait: purged messages are older than the ones sent from now on,
        // and must be sent before them (spooled before them, or held
        // first). A dead client's requests in flight get their answer
        // first (delivered, or failed: the broker may have written them),
        // those of a stalled client are purged and sent again: the broker
        // refuses all its requests.
        let fatal = old.producer.client().fatal_error().is_some();
        if !fatal {
            old.stalled();
        }
        let settled = old.settle(Instant::now() + SETTLE, fatal);
        shared.hooks.place_purged();
        if let Some(spool) = &shared.hooks.spool {
            spool.seal_early();
        }
        if !settled {
            tracing::warn!(target: "relayer", "the dead Kafka producer did not hand back every message in time; the late ones go after newer ones");
        }
        if replaced_at.is_some_and(|at| at.elapsed() < STABLE_AFTER) {
            if wait(signals, backoff) {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            backoff = MIN_BACKOFF;
        }
        let new = loop {
            generation += 1;
            match Client::new(&shared.config, shared.hooks.clone(), generation) {
                Ok(client) => break client,
                Err(error) => {
                    tracing::error!(target: "relayer", %error, "could not create a new Kafka producer; retrying");
                    if wait(signals, backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        // Held messages go first, purged ones before newer ones.
        shared.install(Arc::new(new));
        shared.hooks.counters.update().replaced();
        replaced_at = Some(Instant::now());
        drop(old);
        shared.hooks.place_purged();
        shared.resend_held();
        tracing::info!(target: "relayer", generation, "new Kafka producer ready");
    }
}

/// Waits `time`; true when told to stop meanwhile.
fn wait(signals: &Receiver<Signal>, time: Duration) -> bool {
    let deadline = Instant::now() + time;
    loop {
        match signals.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
            // Reports about the client being replaced already: nothing new.
            Ok(Signal::Dead(_)) => {}
        }
    }
}
