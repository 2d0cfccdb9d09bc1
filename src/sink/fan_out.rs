//! Fan-out: the same message to several sinks, each with its own queue and
//! counts, so that a slow or dead one never holds back the others.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::producer::{Message, Producer, Stats};

/// A [`Producer`] that hands every message to each of several sinks, e.g.
/// Kafka and standard output ([`Builder::sink`](crate::Builder::sink)
/// builds one for you).
///
/// Each sink queues on its own (a [`Producer`] never blocks in `send`), so
/// a full or failing sink refuses or fails its copy, counted in its own
/// stats, while the others go on. [`send`](Producer::send) succeeds when at
/// least one sink took the message (the message is then on its way, and
/// the request keeps it in its record); when every sink refused it, it
/// returns the first sink's error. [`stats`](Producer::stats) gives each
/// sink's counts in [`Stats::sinks`], and their sums in the other fields.
/// [`flush`](Producer::flush) and [`shutdown`](Producer::shutdown) run on
/// every sink at once, each within the same timeout.
///
/// ```
/// use std::sync::Arc;
/// use relayer::Relayer;
/// use relayer::sink::FanOut;
/// use relayer_test::MockProducer;
///
/// let (kafka, audit) = (MockProducer::new(), MockProducer::new());
/// let fan_out = FanOut::new([("kafka", kafka.clone()), ("audit", audit.clone())]);
/// let relayer = Relayer::builder("logging").producer(fan_out).build()?;
/// relayer.emit("order", "created", &1)?;
/// assert_eq!((kafka.messages("order").len(), audit.messages("order").len()), (1, 1));
/// let stats = relayer.stats();
/// assert_eq!((stats.produced, stats.sinks["audit"].delivered), (2, 1));
/// # Ok::<(), relayer::Error>(())
/// ```
pub struct FanOut {
    sinks: Vec<(String, Arc<dyn Producer>)>,
}

impl FanOut {
    /// Fans out to `sinks`, named (the names of [`Stats::sinks`]), in this
    /// order.
    pub fn new<N: Into<String>, P: Producer>(sinks: impl IntoIterator<Item = (N, P)>) -> Self {
        Self::from_shared(
            sinks
                .into_iter()
                .map(|(name, sink)| (name.into(), Arc::new(sink) as Arc<dyn Producer>)),
        )
    }

    /// Like [`new`](Self::new), with sinks already shared.
    pub fn from_shared(sinks: impl IntoIterator<Item = (String, Arc<dyn Producer>)>) -> Self {
        Self {
            sinks: sinks.into_iter().collect(),
        }
    }

    /// The sinks' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sinks.iter().map(|(name, _)| name.as_str())
    }

    /// Runs `f` on every sink at once, each on a thread of its own, so that
    /// a slow one does not eat the others' time; the results in order.
    fn on_each(
        &self,
        f: impl Fn(&dyn Producer) -> Result<(), Error> + Sync,
    ) -> Vec<Result<(), Error>> {
        std::thread::scope(|scope| {
            let runs: Vec<_> = self
                .sinks
                .iter()
                .map(|(_, sink)| scope.spawn(|| f(sink.as_ref())))
                .collect();
            runs.into_iter()
                .map(|run| {
                    run.join().unwrap_or_else(|_| {
                        Err(Error::Config("a sink panicked while flushing".into()))
                    })
                })
                .collect()
        })
    }

    /// The first error, its pending messages the sum of all sinks', each
    /// sink's own reported: what was left, per sink.
    fn left(&self, timeout: Duration, results: Vec<Result<(), Error>>) -> Result<(), Error> {
        let mut first = None;
        let mut pending = 0;
        for ((name, sink), result) in self.sinks.iter().zip(results) {
            let Err(error) = result else { continue };
            let stats = sink.stats();
            tracing::warn!(
                target: "relayer",
                sink = name.as_str(),
                %error,
                queued = stats.queued,
                failed = stats.failed,
                dropped = stats.dropped,
                "sink not flushed in time"
            );
            if let Error::FlushTimeout { pending: left, .. } = error {
                pending += left;
                first.get_or_insert(Error::FlushTimeout {
                    timeout,
                    pending: 0,
                });
            } else {
                first.get_or_insert(error);
            }
        }
        match first {
            None => Ok(()),
            Some(Error::FlushTimeout { timeout, .. }) => {
                Err(Error::FlushTimeout { timeout, pending })
            }
            Some(error) => Err(error),
        }
    }
}

impl Producer for FanOut {
    fn send(&self, message: Message<'_>) -> Result<(), Error> {
        let mut first_error = None;
        let mut taken = false;
        for (_, sink) in &self.sinks {
            match sink.send(message) {
                Ok(()) => taken = true,
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if !taken => Err(error),
            _ => Ok(()),
        }
    }

    fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let results = self.on_each(|sink| sink.flush(timeout));
        self.left(timeout, results)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let results = self.on_each(|sink| sink.shutdown(timeout));
        self.left(timeout, results)
    }

    fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for (name, sink) in &self.sinks {
            let stats = sink.stats();
            total.add(&stats);
            total.sinks.insert(name.clone(), stats);
        }
        total
    }

    /// The first sink's.
    fn client_id(&self) -> &str {
        self.sinks
            .first()
            .map_or(crate::producer::DEFAULT_CLIENT_ID, |(_, sink)| {
                sink.client_id()
            })
    }

    fn refused(&self, topic: &str) {
        for (_, sink) in &self.sinks {
            sink.refused(topic);
        }
    }
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.names().collect::<Vec<_>>())
            .finish()
    }
}
