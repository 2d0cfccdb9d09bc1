//! Replaces a client that librdkafka declared dead (a fatal error of the
//! idempotent producer) or that is stalled for good, with a new client,
//! so that delivery resumes without restarting the service.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rdkafka::producer::{Producer as _, PurgeConfig};

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
/// How long the old client gets to hand back its purged queue and settle
/// what it has in flight before the new one starts: messages it hands back
/// later would go out after newer ones.
const SETTLE: Duration = Duration::from_secs(1);

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
        let fatal = old.producer.client().fatal_error();
        tracing::error!(
            target: "relayer",
            fatal = ?fatal,
            reason = dead.reason,
            "Kafka producer is dead; replacing it with a new one (messages meanwhile are held for it or spooled)"
        );
        if replaced_at.is_some_and(|at| at.elapsed() < STABLE_AFTER) {
            if wait(signals, backoff) {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            backoff = MIN_BACKOFF;
        }
        // Messages never sent come back through the delivery callback
        // (spooled, or held for the new client); librdkafka purged the
        // queue of a fatal client itself. All of them must be back before
        // the new client sends anything, to keep their order: `flush`
        // returns once every delivery report has been served.
        if fatal.is_none() {
            old.producer
                .purge(PurgeConfig::default().queue().inflight());
        }
        let _ = old.producer.flush(SETTLE);
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
        // Held messages go first, so that they keep their order.
        shared.install(Arc::new(new));
        replaced_at = Some(Instant::now());
        // What is still in flight past the wait gets its acknowledgement or
        // fails with the old client (counted).
        let _ = old.producer.flush(SETTLE);
        drop(old);
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
