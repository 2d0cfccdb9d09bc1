//! Configuration: the [`Builder`] and the Kafka defaults it starts from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use std::{env, fmt};

use rdkafka::ClientConfig;

use crate::producer::{self, KafkaProducer, Producer};
use crate::record::{Line, WireFormat};
use crate::relayer::{Relayer, Shared};
use crate::resource::{self, Resource};
use crate::sampling::Sampling;
use crate::sink::{self, SINK_ENV, Sink};
use crate::topic::TopicNames;
use crate::trace;
use crate::{Error, Result};

/// The environment variable read for the brokers when none are configured.
pub const BROKERS_ENV: &str = "KAFKA_BROKERS";

/// The default maximum size of one message (key and JSON value), in bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;

/// Room librdkafka needs beyond key and value for a message's framing, so
/// that a message relayer accepts is never refused by librdkafka for size.
const FRAMING_ALLOWANCE: usize = 1024;

/// The producer settings relayer starts from, chosen for a log pipeline that
/// must not lose or duplicate records and must not slow requests down.
/// Any of them can be overridden with [`Builder::option`].
pub const KAFKA_DEFAULTS: &[(&str, &str)] = &[
    // No duplicates when librdkafka retries after a lost acknowledgement,
    // and ordering per partition kept across retries.
    ("enable.idempotence", "true"),
    // A record counts as delivered once every in-sync replica has it.
    ("acks", "all"),
    // Wait up to 20 ms to batch messages: far fewer requests, invisible to
    // users. Measured on a real broker against 5 ms: 25-40 % less broker CPU
    // and less of librdkafka's CPU per request; 0 ms costs several times more.
    ("linger.ms", "20"),
    // JSON records compress several times: fewer bytes on the wire and in
    // the broker's storage, less broker CPU, no more CPU in the service.
    // (zstd compresses more but costs librdkafka more CPU, and needs
    // librdkafka built with it.)
    ("compression.type", "lz4"),
    // The queue bound: past 100,000 messages or 64 MiB, new messages are
    // dropped and counted instead of growing memory during an outage.
    ("queue.buffering.max.messages", "100000"),
    ("queue.buffering.max.kbytes", "65536"),
    // How long a message may wait for a broker (an outage) before it fails.
    ("message.timeout.ms", "300000"),
    // Statistics every second: how a producer that retries an unknown
    // producer id forever is recognised, and replaced.
    ("statistics.interval.ms", "1000"),
    ("client.id", "relayer"),
];

/// Configures a [`Relayer`]; see [`Relayer::builder`].
///
/// ```
/// use relayer::Relayer;
///
/// let relayer = Relayer::builder("logging")
///     .brokers("localhost:9092")
///     .topic_prefix("prod_")
///     .topic_suffix("_v1")
///     .option("compression.type", "lz4")
///     .build()?;
/// assert_eq!(relayer.logging_topic(), "prod_logging_v1");
/// assert_eq!(relayer.source(), "prod_logging_v1");
/// # Ok::<(), relayer::Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct Builder {
    logging_topic: String,
    brokers: Option<String>,
    topic_prefix: String,
    topic_suffix: String,
    source: Option<String>,
    options: Vec<(String, String)>,
    producer: Option<Arc<dyn Producer>>,
    max_message_bytes: usize,
    wire_format: WireFormat,
    /// Serialized when set; an error (kept as text, so that the builder
    /// stays `Clone`) surfaces from `build`.
    fields: Vec<(String, Result<Line, String>)>,
    sampling: Option<Sampling>,
    kafka_headers: bool,
    request_id_header: String,
    spool: Option<(PathBuf, u64)>,
    spool_after: Duration,
    sinks: Vec<Sink>,
    /// Resource attributes set here, in order; they win over the
    /// environment's.
    resource: Vec<(String, String)>,
    /// Used when neither the code nor the environment names a sink.
    default_sinks: Vec<Sink>,
}

impl Builder {
    pub(crate) fn new(logging_topic: String) -> Self {
        Self {
            logging_topic,
            brokers: None,
            topic_prefix: String::new(),
            topic_suffix: String::new(),
            source: None,
            options: Vec::new(),
            producer: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            wire_format: WireFormat::default(),
            fields: Vec::new(),
            sampling: None,
            kafka_headers: true,
            request_id_header: trace::REQUEST_ID_HEADER.to_owned(),
            spool: None,
            spool_after: producer::DEFAULT_SPOOL_AFTER,
            sinks: Vec::new(),
            resource: Vec::new(),
            default_sinks: Vec::new(),
        }
    }

    /// The Kafka bootstrap servers, e.g. `"kafka-1:9092,kafka-2:9092"`.
    /// Without it, the `KAFKA_BROKERS` environment variable is read.
    pub fn brokers(mut self, brokers: impl Into<String>) -> Self {
        self.brokers = Some(brokers.into());
        self
    }

    /// Put before every topic name, the logging topic's included.
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Put after every topic name, the logging topic's included.
    pub fn topic_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.topic_suffix = suffix.into();
        self
    }

    /// The `source` field of events and records; by default the logging
    /// topic with prefix and suffix.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Any librdkafka producer option, passed through unchanged; it overrides
    /// relayer's [defaults](KAFKA_DEFAULTS). TLS and SASL are configured this
    /// way (with the `ssl` and `sasl` features).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// The largest message (key and JSON value) relayer hands to Kafka; a
    /// larger event is refused with [`Error::MessageTooLarge`], and a larger
    /// request record has lines dropped, with a marker line saying how many.
    /// Keep it at or under the broker's `message.max.bytes`.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// How records are written: [`WireFormat::Standard`] (the default),
    /// [`WireFormat::Python1`] for consumers of a service that moves from
    /// the Python relayer 1.x and parse its records strictly,
    /// [`WireFormat::Ecs`] for Elasticsearch and Kibana, or
    /// [`WireFormat::OtlpJson`] for an OpenTelemetry Collector reading the
    /// logging topic. Events keep their envelope in every form.
    ///
    /// ```
    /// use relayer::{Relayer, WireFormat};
    /// let relayer = Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .wire_format(WireFormat::Python1)
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn wire_format(mut self, format: WireFormat) -> Self {
        self.wire_format = format;
        self
    }

    /// The service's name, `service.name` of the [resource](Resource) that
    /// says who wrote the records: it wins over `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .service("checkout")
    ///     .service_version(env!("CARGO_PKG_VERSION"))
    ///     .service_namespace("shop")
    ///     .service_instance_id("checkout-7f9c")
    ///     .deployment_environment("production")
    ///     .build()?;
    /// assert_eq!(relayer.resource().service_name(), "checkout");
    /// assert_eq!(relayer.resource().get("deployment.environment.name"), Some("production"));
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn service(self, name: impl Into<String>) -> Self {
        self.resource_attribute(resource::SERVICE_NAME, name)
    }

    /// `service.version` of the [resource](Resource), e.g.
    /// `env!("CARGO_PKG_VERSION")`.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        self.resource_attribute(resource::SERVICE_VERSION, version)
    }

    /// `service.namespace` of the [resource](Resource): the group of
    /// services this one belongs to.
    pub fn service_namespace(self, namespace: impl Into<String>) -> Self {
        self.resource_attribute(resource::SERVICE_NAMESPACE, namespace)
    }

    /// `service.instance.id` of the [resource](Resource): this instance
    /// of the service (a pod's name, a UUID made at start).
    pub fn service_instance_id(self, id: impl Into<String>) -> Self {
        self.resource_attribute(resource::SERVICE_INSTANCE_ID, id)
    }

    /// `deployment.environment.name` of the [resource](Resource), e.g.
    /// `production`.
    pub fn deployment_environment(self, environment: impl Into<String>) -> Self {
        self.resource_attribute(resource::DEPLOYMENT_ENVIRONMENT, environment)
    }

    /// Any attribute of the [resource](Resource), by its
    /// semantic-conventions name (`host.name` replaces the host's own);
    /// it wins over the environment's.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .resource_attribute("cloud.region", "eu-west-1")
    ///     .build()?;
    /// assert_eq!(relayer.resource().get("cloud.region"), Some("eu-west-1"));
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// A field on every record (in its `fields` object): the service's
    /// name, version, region, host; whatever you set, nothing is read from
    /// the environment for you. A request's own [`field`](Relayer::field)
    /// of the same name wins.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .field("service", "billing")
    ///     .field("version", env!("CARGO_PKG_VERSION"))
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn field<V: serde::Serialize + ?Sized>(
        mut self,
        name: impl Into<String>,
        value: &V,
    ) -> Self {
        let name = name.into();
        self.fields.retain(|(kept, _)| *kept != name);
        let value = serde_json::value::to_raw_value(value).map_err(|e| e.to_string());
        self.fields.push((name, value));
        self
    }

    /// Writes only some records: see [`Sampling`]. By default every record
    /// is written.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .sampling(relayer::Sampling::ratio(0.1))
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Whether an event emitted inside a request carries the Kafka message
    /// headers `x-request-id` (or the configured
    /// [request id header](Self::request_id_header)), `traceparent` and
    /// `tracestate`, so that its consumers continue the request (on by
    /// default). The message value is the same
    /// either way.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .kafka_headers(false)
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn kafka_headers(mut self, on: bool) -> Self {
        self.kafka_headers = on;
        self
    }

    /// The header that carries the request id, instead of `x-request-id`
    /// (e.g. `x-correlation-id`): on outgoing calls
    /// ([`Relayer::outgoing_headers`], `relayer_axum::PropagateLayer`), on
    /// the Kafka headers of events, in consumed messages, and, unless the
    /// layer sets another, on HTTP requests and responses. The name is
    /// case-insensitive; [`build`](Self::build) fails on a name that is not
    /// a valid header name.
    ///
    /// ```
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .request_id_header("X-Correlation-ID")
    ///     .build()?;
    /// assert_eq!(relayer.request_id_header(), "x-correlation-id");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = name.into().to_ascii_lowercase();
        self
    }

    /// Keeps messages on disk, in `dir`, up to `max_bytes`, whenever Kafka
    /// cannot take them: during an outage (the producer silent for
    /// [`spool_after`](Self::spool_after) while messages wait), when
    /// librdkafka's in-memory queue is full, or while a dead producer is
    /// being replaced. They are sent, in order, once Kafka takes messages
    /// again, and a spool left by a crashed or stopped process is sent at
    /// the next start. Turn it on when records must survive an outage, or
    /// the process dying during one; give each process a directory of its
    /// own on a local disk (a second spool on it fails with
    /// [`Error::Spool`], naming the process that holds it).
    ///
    /// When a message is safe:
    /// - the request's thread only encodes it and hands it to the spool's
    ///   writer thread; past that thread's queue (100,000 messages or
    ///   64 MiB), past `max_bytes`, or while the disk refuses writes, it is
    ///   refused with [`Error::SpoolFull`] and counted as dropped;
    /// - it survives a crash of the process once the writer thread has
    ///   written it (microseconds later), and a crash of the machine once
    ///   synced, within a second; a message sent to Kafka directly, in
    ///   librdkafka's memory, survives a crash of the process once it is
    ///   acknowledged, or once the outage that holds it up is recognised
    ///   (`spool_after`) and it is written to the spool;
    /// - it leaves the spool only when the broker acknowledged it, or
    ///   refused it for itself (too large, an invalid topic): one purged or
    ///   timed out, or lost with a dead producer, is sent again.
    ///
    /// At least once: a message in flight when its producer was purged (an
    /// outage, a shutdown with the broker not answering) may arrive twice,
    /// as may, after a crash, what was in flight from the spool and what
    /// was acknowledged in the last tenth of a second (the spool's ledger
    /// records deliveries as they come).
    ///
    /// Torn or corrupt records are skipped and counted
    /// ([`Stats::spool_skipped_bytes`](crate::producer::Stats::spool_skipped_bytes),
    /// and their messages as failed); an error to read is retried. `build()`
    /// reads and checks every record of a spool left by a previous process
    /// before it returns (`cargo bench --bench spool` measures how long). A
    /// spool is for the Kafka producer relayer builds: with
    /// [`producer`](Self::producer) too, `build()` fails with
    /// [`Error::Config`].
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("relayer-spool-doc");
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .spool(&dir, 1 << 30)
    ///     .build()?;
    /// assert_eq!(relayer.stats().spooled, 0);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn spool(mut self, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.spool = Some((dir.into(), max_bytes));
        self
    }

    /// With a [`spool`](Self::spool): how long the producer may go without
    /// a delivery report while messages wait before it counts as an outage
    /// ([`DEFAULT_SPOOL_AFTER`](crate::producer::DEFAULT_SPOOL_AFTER), 1 s,
    /// by default). Everything librdkafka holds then goes to the spool, in
    /// flight included (at least once), and new messages follow it there
    /// until it is delivered: a process killed during an outage loses at
    /// most this long of messages, and what waited for the spool's writer.
    /// Keep it above the broker's slowest acknowledgements: a broker that
    /// only answers slowly sends messages through the disk, and those in
    /// flight when it is declared out twice.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .spool(std::env::temp_dir().join("relayer-spool-after-doc"), 1 << 30)
    ///     .spool_after(Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn spool_after(mut self, silence: Duration) -> Self {
        self.spool_after = silence;
        self
    }

    /// Sends through this producer instead of a Kafka producer built from
    /// the brokers, e.g. `relayer_test::MockProducer` in tests. With
    /// [`sink`](Self::sink) too, it is the first of the sinks, named
    /// `producer`.
    pub fn producer(mut self, producer: impl Producer) -> Self {
        self.producer = Some(Arc::new(producer));
        self
    }

    /// Sends every message to `sink` too: call it once per sink, e.g. for
    /// Kafka and standard output. Each sink has its own queue and its own
    /// counts ([`Stats::sinks`](crate::producer::Stats::sinks), and a `sink`
    /// label on the metrics), so a slow or dead one never holds back the
    /// others. Without it (and without [`producer`](Self::producer)), the
    /// sinks are read from `RELAYER_SINK` ([`SINK_ENV`]: `kafka`, `stdout`,
    /// `stderr`, `file:PATH`, comma-separated), or are Kafka alone. See
    /// [`relayer::sink`](crate::sink) for the line format.
    ///
    /// ```
    /// use relayer::sink::Sink;
    ///
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .brokers("localhost:9092")
    ///     .sink(Sink::kafka())
    ///     .sink(Sink::stdout())
    ///     .build()?;
    /// assert_eq!(relayer.stats().sinks.keys().collect::<Vec<_>>(), ["kafka", "stdout"]);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn sink(mut self, sink: Sink) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Sends to `sink` unless something else names the sinks: a
    /// [`sink`](Self::sink) or [`producer`](Self::producer) in the code,
    /// `RELAYER_SINK`, or Kafka brokers ([`brokers`](Self::brokers) or
    /// `KAFKA_BROKERS`), which mean Kafka. Call it once per sink. The
    /// usual case: standard output on a developer's machine, and whatever
    /// the deployment's environment says elsewhere.
    ///
    /// ```
    /// use relayer::sink::Sink;
    ///
    /// // Standard output, unless RELAYER_SINK or KAFKA_BROKERS say otherwise.
    /// let relayer = relayer::Relayer::builder("logging")
    ///     .default_sink(Sink::stdout())
    ///     .build()?;
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn default_sink(mut self, sink: Sink) -> Self {
        self.default_sinks.push(sink);
        self
    }

    /// Builds the relayer. Fails with [`Error::Config`] when neither brokers
    /// (here or in `KAFKA_BROKERS`) nor a producer are given for a Kafka
    /// sink, when `RELAYER_SINK` cannot be read (the error names the part),
    /// when a sink is given twice, or when both
    /// a spool and a producer are (or a spool and no Kafka sink), with [`Error::Spool`] when the spool's
    /// directory cannot be opened, and with
    /// [`Error::InvalidTopic`] when the logging topic is not a legal name,
    /// with [`Error::NotSerializable`] when a field cannot be JSON, and with
    /// [`Error::Config`] when the request id header is not a header name.
    pub fn build(mut self) -> Result<Relayer> {
        if !trace::is_header_name(&self.request_id_header) {
            return Err(Error::Config(format!(
                "request id header {:?} is not a header name",
                self.request_id_header
            )));
        }
        let fields = std::mem::take(&mut self.fields)
            .into_iter()
            .map(|(name, value)| match value {
                Ok(value) => Ok((name, value)),
                Err(error) => Err(Error::NotSerializable(serde::ser::Error::custom(format!(
                    "field {name:?}: {error}"
                )))),
            })
            .collect::<Result<_>>()?;
        let topics = TopicNames::new(self.topic_prefix.clone(), self.topic_suffix.clone());
        let logging_topic = topics.full(&self.logging_topic)?.into_string();
        if self.spool.is_some() && self.producer.is_some() {
            return Err(Error::Config(
                "a spool is for the Kafka producer that relayer builds: \
                 give either `spool` or `producer`"
                    .into(),
            ));
        }
        let producer = match producer::patched() {
            Some(producer) => producer,
            None => self.sinks()?,
        };
        let source = self.source.unwrap_or_else(|| logging_topic.clone());
        #[cfg(feature = "metrics")]
        let sampled_out_total = producer::sampled_out_counter(producer.client_id());
        Ok(Relayer::from_shared(Shared {
            topics,
            logging_topic,
            logging_topic_name: self.logging_topic,
            wire_format: self.wire_format,
            source,
            max_message_bytes: self.max_message_bytes,
            producer,
            record_warnings: Default::default(),
            lines_hint: Default::default(),
            fields,
            sampling: self.sampling,
            kafka_headers: self.kafka_headers,
            request_id_header: self.request_id_header.into(),
            resource: Resource::detect(&self.resource),
            sampled_out: Default::default(),
            #[cfg(feature = "metrics")]
            sampled_out_total,
        }))
    }

    /// Builds the producer of the sinks: those of the code (the
    /// [`producer`](Self::producer) first), else those of `RELAYER_SINK`,
    /// else Kafka when brokers are named, else the default sinks, else
    /// Kafka alone.
    fn sinks(&self) -> Result<Arc<dyn Producer>> {
        let mut sinks = self.sinks.clone();
        if let Some(producer) = &self.producer {
            sinks.insert(0, Sink::shared("producer".into(), producer.clone()));
        }
        if sinks.is_empty() {
            sinks = match env::var(SINK_ENV) {
                // Set but empty counts as unset, as in most deployments.
                Ok(list) if !list.trim().is_empty() => sink::parse(&list, SINK_ENV)?,
                Ok(_) | Err(env::VarError::NotPresent) => self.unnamed_sinks(),
                Err(env::VarError::NotUnicode(_)) => {
                    return Err(Error::Config(format!("{SINK_ENV} is not UTF-8")));
                }
            };
        }
        if self.spool.is_some() && !sinks.iter().any(Sink::is_kafka) {
            return Err(Error::Config(
                "a spool is for the Kafka sink, and none is chosen".into(),
            ));
        }
        // The writers' metrics are labelled like the Kafka producer's.
        let client_id = self
            .options
            .iter()
            .rev()
            .find(|(key, _)| key == "client.id")
            .map_or(producer::DEFAULT_CLIENT_ID, |(_, value)| value.as_str());
        let kafka = || -> Result<Arc<dyn Producer>> {
            let config = self.kafka_config()?;
            Ok(match &self.spool {
                Some((dir, max_bytes)) => Arc::new(KafkaProducer::with_spool_after(
                    &config,
                    dir,
                    *max_bytes,
                    self.spool_after,
                )?),
                None => Arc::new(KafkaProducer::new(&config)?),
            })
        };
        sink::build(&sinks, client_id, &kafka)
    }

    /// The sinks when neither the code nor `RELAYER_SINK` names one: Kafka
    /// when it has brokers, else the default sinks, else Kafka (whose
    /// missing brokers [`kafka_config`](Self::kafka_config) reports).
    fn unnamed_sinks(&self) -> Vec<Sink> {
        let brokers_named = self.brokers.is_some() || env::var_os(BROKERS_ENV).is_some();
        if brokers_named || self.default_sinks.is_empty() {
            vec![Sink::kafka()]
        } else {
            self.default_sinks.clone()
        }
    }

    fn kafka_config(&self) -> Result<ClientConfig> {
        let brokers = match &self.brokers {
            Some(brokers) => brokers.clone(),
            None => env::var(BROKERS_ENV).map_err(|_| {
                Error::Config(format!(
                    "no Kafka brokers: set them with `.brokers(\"host:9092\")` or the \
                     {BROKERS_ENV} environment variable, give a producer with `.producer(...)`, \
                     or choose other sinks with `.sink(...)` or {SINK_ENV}"
                ))
            })?,
        };
        let mut config = ClientConfig::new();
        for (key, value) in KAFKA_DEFAULTS {
            config.set(*key, *value);
        }
        config.set("bootstrap.servers", brokers);
        config.set(
            "message.max.bytes",
            (self.max_message_bytes + FRAMING_ALLOWANCE).to_string(),
        );
        for (key, value) in &self.options {
            config.set(key, value);
        }
        Ok(config)
    }
}

/// Shows the configuration with the values of secret options (passwords,
/// secrets, private keys) masked.
impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The options librdkafka itself treats as sensitive: passwords,
        // secrets, private keys.
        const SECRETS: [&str; 5] = [
            "password",
            "secret",
            "key.pem",
            "ssl_key",
            "oauthbearer.config",
        ];
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(key, value)| {
                let secret = SECRETS.iter().any(|secret| key.contains(secret));
                let value = if secret { "<redacted>" } else { value.as_str() };
                (key.as_str(), value)
            })
            .collect();
        f.debug_struct("Builder")
            .field("logging_topic", &self.logging_topic)
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("topic_suffix", &self.topic_suffix)
            .field("source", &self.source)
            .field("options", &options)
            .field("producer", &self.producer.as_ref().map(|_| "custom"))
            .field("max_message_bytes", &self.max_message_bytes)
            .field("wire_format", &self.wire_format)
            .field(
                "fields",
                &self.fields.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("sampling", &self.sampling)
            .field("kafka_headers", &self.kafka_headers)
            .field("request_id_header", &self.request_id_header)
            .field("sinks", &self.sinks)
            .field("resource", &self.resource)
            .field("default_sinks", &self.default_sinks)
            .finish_non_exhaustive()
    }
}
