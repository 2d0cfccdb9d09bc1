//! Replaces a client that librdkafka declared dead (a fatal error of the
//! idempotent producer) or that is stalled for good, with a new client,
//! so that delivery resumes without restarting the service. With a spool,
//! it also watches for an outage: messages wait and the client has been
//! silent for [`spool_after`](crate::Builder::spool_after); everything the
//! client holds then goes to the spool, and a new client takes over.

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
    // How often to look for an outage: a tenth of the silence that makes
    // one, within 10 to 100 ms.
    let watch = shared
        .spool_after
        .map(|after| (after / 10).clamp(Duration::from_millis(10), Duration::from_millis(100)));
    loop {
        let signal = match watch {
            Some(every) => signals.recv_timeout(every),
            None => signals.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let (dead, outage) = match signal {
            Ok(Signal::Dead(dead)) => (dead, false),
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => match outage(shared) {
                Some(dead) => (dead, true),
                None => continue,
            },
        };
        let Some(old) = shared.take_client(dead.generation, dead.if_fatal) else {
            // Not fatal, or a late report about a replaced client: what a
            // client handed back to be sent again goes to the live one.
            shared.hooks.place_purged();
            shared.resend_held();
            continue;
        };
        if outage {
            tracing::warn!(
                target: "relayer",
                reason = dead.reason,
                "Kafka is not answering; spooling what the producer holds, and what follows until delivery resumes"
            );
        } else {
            tracing::error!(
                target: "relayer",
                fatal = ?old.producer.client().fatal_error(),
                reason = dead.reason,
                "Kafka producer is dead; replacing it with a new one (messages meanwhile are held for it or spooled)"
            );
        }
        // Everything the old client holds comes back first, before any
        // wait: purged messages are older than the ones sent from now on,
        // and must be sent before them (spooled before them, or held
        // first). A dead client's requests in flight get their answer
        // first (delivered, or refused for the producer's state and sent
        // again: at least once), those of a stalled or silent client are
        // purged and sent again: the broker refuses all its requests, or
        // answers none.
        let fatal = old.producer.client().fatal_error().is_some();
        if !fatal {
            old.stalled();
        }
        let settled = old.settle(Instant::now() + SETTLE, fatal);
        shared.hooks.place_purged();
        if !settled {
            tracing::warn!(target: "relayer", "the dead Kafka producer did not hand back every message in time; the late ones go after newer ones");
        }
        // A client replaced for an outage did not die: a new one may start
        // at once.
        if !outage {
            if replaced_at.is_some_and(|at| at.elapsed() < STABLE_AFTER) {
                if wait(signals, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = MIN_BACKOFF;
            }
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
        if !outage {
            replaced_at = Some(Instant::now());
        }
        drop(old);
        shared.hooks.place_purged();
        shared.resend_held();
        tracing::info!(target: "relayer", generation, "new Kafka producer ready");
    }
}

/// The live client, when it has been silent past `spool_after` while
/// messages sent to it wait, and the spool has room for them (else they
/// wait in memory, as without a spool: purged, they would fail).
fn outage(shared: &Shared) -> Option<Dead> {
    let after = shared.spool_after?;
    let spool = shared.hooks.spool.as_ref()?;
    let client = shared.client()?;
    let waiting = client.silence();
    if waiting.messages == 0 || waiting.silent < after {
        return None;
    }
    if !spool.has_room(waiting.bytes) {
        // Said once in a while, as long as it lasts.
        shared.hooks.no_room.warn(|suppressed| {
            tracing::warn!(target: "relayer", messages = waiting.messages, bytes = waiting.bytes, suppressed, "Kafka is not answering, and the spool has no room for what the producer holds: it stays in memory");
        });
        return None;
    }
    Some(Dead {
        generation: client.generation,
        reason: format!(
            "no delivery report for {:.1?} while {} message(s) wait",
            waiting.silent, waiting.messages
        ),
        if_fatal: false,
    })
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
