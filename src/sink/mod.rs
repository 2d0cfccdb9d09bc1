//! Sinks: where messages go besides (or instead of) Kafka. Standard output
//! for a log agent on Kubernetes (Fluent Bit, Vector) or for a developer,
//! standard error, a file; several at once.
//!
//! Every sink is a [`Producer`]: [`WriterSink`] writes to an [`Output`],
//! [`FanOut`] sends each message to several. [`Builder::sink`] picks them
//! in code, the `RELAYER_SINK` environment variable ([`SINK_ENV`]) when the
//! code does not:
//!
//! ```
//! use relayer::Relayer;
//! use relayer::sink::Sink;
//!
//! let relayer = Relayer::builder("logging")
//!     .brokers("localhost:9092")
//!     .sink(Sink::kafka())
//!     .sink(Sink::stdout())
//!     .build()?;
//! assert_eq!(relayer.stats().sinks.len(), 2);
//! # Ok::<(), relayer::Error>(())
//! ```
//!
//! # The line format
//!
//! In [`Format::Json`] (the default when the output is not a terminal),
//! each message, event or record, is one line of JSON:
//!
//! ```text
//! {"topic":"prod_logging","key":null,"headers":{},"value":{"source":"prod_logging",...}}
//! {"topic":"prod_order","key":"order-1","headers":{"x-request-id":"r-1","traceparent":"00-..."},"value":{...}}
//! ```
//!
//! - `topic`: the full topic name, prefix and suffix included;
//! - `key`: the key as a string, or `null` without one; a key that is not
//!   UTF-8 (a UUID's 16 bytes) is written as `key_hex` instead, in
//!   lower-case hex;
//! - `headers`: the Kafka headers, name to value (the request id,
//!   `traceparent`, `tracestate`);
//! - `value`: the message's JSON, the bytes Kafka gets, but that the
//!   controls JSON allows raw in strings (DEL, C1 controls, U+2028,
//!   U+2029, the bidirectional controls) are written as `\uXXXX` escapes,
//!   and newlines and tabs between tokens as spaces: the same JSON value,
//!   on one line that no terminal or line splitter (Python's
//!   `splitlines`) reads otherwise.
//!
//! [`Builder::sink`]: crate::Builder::sink

mod controls;
mod env;
mod fan_out;
mod line;
mod pretty;
mod writer;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use env::SINK_ENV;
pub(crate) use env::parse;
pub use fan_out::FanOut;
pub use writer::{DEFAULT_FILE_MODE, Format, Output, WriterSink};

use crate::producer::{self, DeliveryCounters, Producer};
use crate::{Error, Result};

/// One sink of a relayer, as chosen with [`Builder::sink`](crate::Builder::sink)
/// or `RELAYER_SINK`: built with the relayer.
///
/// ```
/// use relayer::sink::{Format, Sink};
///
/// let sinks = [Sink::kafka(), Sink::stdout().format(Format::Json), Sink::file("/var/log/app.jsonl")];
/// let names: Vec<_> = sinks.iter().map(|sink| sink.name()).collect();
/// assert_eq!(names, ["kafka", "stdout", "file:/var/log/app.jsonl"]);
/// ```
#[derive(Clone)]
pub struct Sink {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Kafka,
    Stdout(Format),
    Stderr(Format),
    File(PathBuf, Format, u32),
    Producer(String, Arc<dyn Producer>),
}

impl Sink {
    /// The Kafka producer relayer builds from the brokers (given, or in
    /// `KAFKA_BROKERS`), its options and its spool. Named `kafka`.
    pub fn kafka() -> Self {
        Self { kind: Kind::Kafka }
    }

    /// Standard output ([`Format::Auto`]: pretty on a terminal, JSON lines
    /// otherwise). Named `stdout`.
    pub fn stdout() -> Self {
        Self {
            kind: Kind::Stdout(Format::Auto),
        }
    }

    /// Standard error ([`Format::Auto`]). Named `stderr`.
    pub fn stderr() -> Self {
        Self {
            kind: Kind::Stderr(Format::Auto),
        }
    }

    /// The file at `path`, appended to, created if missing with mode
    /// [`DEFAULT_FILE_MODE`] (`0600`: records hold headers, queries and
    /// bodies), never through a symbolic link ([`Output::file`];
    /// [`Format::Auto`]: JSON lines unless the file is a terminal). Named
    /// `file:PATH`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            kind: Kind::File(path.into(), Format::Auto, DEFAULT_FILE_MODE),
        }
    }

    /// The mode a [file](Self::file) is created with, instead of `0600`
    /// (for a log agent of another user in the file's group: `0o640`);
    /// the other sinks have none.
    ///
    /// ```
    /// let sink = relayer::sink::Sink::file("/var/log/app/relayer.jsonl").mode(0o640);
    /// ```
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        if let Kind::File(_, _, kept) = &mut self.kind {
            *kept = mode;
        }
        self
    }

    /// Any producer, named `name` (in [`Stats::sinks`](crate::producer::Stats::sinks)).
    ///
    /// ```
    /// use relayer::sink::Sink;
    ///
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .sink(Sink::producer("mock", mock.clone()))
    ///     .sink(Sink::stderr())
    ///     .build()?;
    /// relayer.emit("order", "created", &1)?;
    /// assert_eq!(mock.messages("order").len(), 1);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn producer(name: impl Into<String>, producer: impl Producer) -> Self {
        Self::shared(name.into(), Arc::new(producer))
    }

    pub(crate) fn shared(name: String, producer: Arc<dyn Producer>) -> Self {
        Self {
            kind: Kind::Producer(name, producer),
        }
    }

    /// Writes in `format` (standard output, standard error and files; the
    /// other sinks have their own).
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        match &mut self.kind {
            Kind::Stdout(kept) | Kind::Stderr(kept) | Kind::File(_, kept, _) => *kept = format,
            Kind::Kafka | Kind::Producer(..) => {}
        }
        self
    }

    /// The sink's name: its key in [`Stats::sinks`](crate::producer::Stats::sinks)
    /// and its metrics' `sink` label.
    pub fn name(&self) -> Cow<'_, str> {
        match &self.kind {
            Kind::Kafka => "kafka".into(),
            Kind::Stdout(_) => "stdout".into(),
            Kind::Stderr(_) => "stderr".into(),
            Kind::File(path, ..) => format!("file:{}", path.display()).into(),
            Kind::Producer(name, _) => name.as_str().into(),
        }
    }

    /// Reads a list of sinks in the form of `RELAYER_SINK` ([`SINK_ENV`]),
    /// e.g. from a command line; [`Error::Config`] names the part it could
    /// not read.
    ///
    /// ```
    /// use relayer::sink::Sink;
    ///
    /// assert_eq!(Sink::parse_list("kafka,stdout")?.len(), 2);
    /// let error = Sink::parse_list("kafka,stdot").unwrap_err().to_string();
    /// assert!(error.contains(r#"cannot read "stdot" (part 2 of "kafka,stdot")"#), "{error}");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        parse(list, "sink list")
    }

    pub(crate) fn is_kafka(&self) -> bool {
        matches!(self.kind, Kind::Kafka)
    }

    /// Builds this sink's producer; `kafka` builds the Kafka one.
    fn build(
        &self,
        client_id: &str,
        kafka: &dyn Fn() -> Result<Arc<dyn Producer>>,
    ) -> Result<Arc<dyn Producer>> {
        let writer = |output: Output, format: Format| -> Arc<dyn Producer> {
            Arc::new(WriterSink::with_counters(
                output,
                format,
                DeliveryCounters::new(client_id),
            ))
        };
        Ok(match &self.kind {
            Kind::Kafka => kafka()?,
            Kind::Stdout(format) => writer(Output::stdout(), *format),
            Kind::Stderr(format) => writer(Output::stderr(), *format),
            Kind::File(path, format, mode) => writer(Output::file(path).mode(*mode), *format),
            Kind::Producer(_, producer) => producer.clone(),
        })
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sink").field(&self.name()).finish()
    }
}

/// The producer that sends to `sinks`: the sink's own when there is one
/// (its stats and metrics as they always were), else a [`FanOut`] whose
/// sinks' metrics are labelled `sink`. `client_id` labels the writers'
/// metrics; `kafka` builds the Kafka producer.
pub(crate) fn build(
    sinks: &[Sink],
    client_id: &str,
    kafka: &dyn Fn() -> Result<Arc<dyn Producer>>,
) -> Result<Arc<dyn Producer>> {
    if let [sink] = sinks {
        return sink.build(client_id, kafka);
    }
    let mut built: Vec<(String, Arc<dyn Producer>)> = Vec::with_capacity(sinks.len());
    for sink in sinks {
        let name = sink.name().into_owned();
        if built.iter().any(|(known, _)| *known == name) {
            return Err(Error::Config(format!("sink {name:?} given twice")));
        }
        let producer = producer::sink_label(&name, || sink.build(client_id, kafka))?;
        built.push((name, producer));
    }
    Ok(Arc::new(FanOut::from_shared(built)))
}
