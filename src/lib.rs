//! Request-scoped log aggregation for Rust services on Kafka.
//!
//! During a request (HTTP or RPC), application code calls
//! [`emit`](Relayer::emit) to send a domain event to Kafka at once, and
//! [`log`](Relayer::log) to keep a log line. When the request ends, one
//! aggregated, timestamped JSON record with all of them goes to a logging
//! topic, so a log pipeline sees each request as one document. The wire
//! format is the one of the Python relayer 1.x.
//!
//! - `relayer-axum` opens a scope per HTTP request (a tower layer).
//! - [`relayed`] opens a scope per RPC call (an attribute).
//! - [`Scope`] opens one for any other unit of work.
//! - [`tracing_bridge`] puts `tracing` events of a request into its record.
//! - `relayer-test` gives a mock producer, an embedded broker and patching.
//!
//! ```
//! use relayer::{Relayer, Scope, record::{Outcome, RpcDetails}};
//!
//! # fn main() -> relayer::Result<()> {
//! let relayer = Relayer::builder("logging")
//!     .brokers("localhost:9092") // or KAFKA_BROKERS
//!     .topic_prefix("prod_")
//!     .build()?;
//!
//! let scope = Scope::new(&relayer, None);
//! scope.relayer().emit("thing_created", "v1", &serde_json::json!({"id": 1}))?;
//! scope.relayer().log("info", "created a thing")?;
//! scope.finish(Outcome::Ok, RpcDetails { service: "things::create", ..Default::default() });
//! # Ok(()) }
//! ```
//!
//! Requests never wait on Kafka: every call serializes, hands the message to
//! librdkafka's bounded queue and returns. What the queue cannot hold can go
//! to a disk spool ([`Builder::spool`]), where a message stays until the
//! broker acknowledges it; a producer librdkafka declares dead is replaced
//! without a restart, what it had not sent going first. The delivery
//! guarantees, and what is lost in which fault, are in
//! [Operations](guide::operations).
//!
//! # Guide
//!
//! One page per topic, in the [`guide`] module:
//!
//! - [Events, log lines and the request's relayer](guide::events_and_lines):
//!   `emit`, `log`, the request's relayer, errors, scopes of your own.
//! - [HTTP services: the layer and the record](guide::http_record): axum
//!   and tonic, every field of the record, `outcome` and `status`, calls,
//!   bodies.
//! - [RPC handlers: `#[relayed]`](guide::rpc).
//! - [`tracing` integration](guide::tracing).
//! - [Wide events: fields and tail sampling](guide::wide_events).
//! - [One request across services: trace context](guide::trace_context):
//!   HTTP, gRPC and Kafka.
//! - [Secrets and client input](guide::secrets).
//! - [Testing your service: `relayer-test`](guide::testing).
//! - [Configuration](guide::configuration): the builder, the environment,
//!   librdkafka's defaults, TLS and SASL.
//! - [Sinks: Kafka, standard output, files, several at once](guide::sinks).
//! - [Wire formats and migration from the Python
//!   relayer](guide::wire_formats).
//! - [Operations: delivery, faults, accounting, shutdown](guide::operations).
//! - [Performance](guide::performance): the benchmarks, and how to run
//!   them.
//!
//! # Features
//!
//! - `macros` (default): [`relayed`].
//! - `tracing` (default): [`tracing_bridge`].
//! - `axum`: `Relayer` as an axum extractor ([`axum`]).
//! - `metrics`: delivery counters exported through the `metrics` facade.
//! - `opentelemetry`: records take the trace and span ids of the current
//!   OpenTelemetry span.
//! - `ssl`, `sasl`: TLS and SASL connections to Kafka (librdkafka built with
//!   OpenSSL and Cyrus SASL).
//!
// Links to items of features that are off point to their docs.rs pages.
#![cfg_attr(
    not(feature = "macros"),
    doc = "[`relayed`]: https://docs.rs/relayer/latest/relayer/attr.relayed.html"
)]
#![cfg_attr(
    not(feature = "tracing"),
    doc = "[`tracing_bridge`]: https://docs.rs/relayer/latest/relayer/fn.tracing_bridge.html"
)]
#![cfg_attr(
    not(feature = "axum"),
    doc = "[`axum`]: https://docs.rs/relayer/latest/relayer/axum/index.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "tracing")]
mod bridge;
mod config;
mod cut;
mod error;
mod global;
pub mod guide;
mod key;
pub mod message;
mod outgoing;
pub mod producer;
mod rate_limit;
pub mod record;
mod redact;
mod relayer;
pub mod resource;
pub mod rpc;
mod sampling;
mod scope;
pub mod sink;
mod topic;
pub mod trace;

#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use bridge::{TracingBridge, tracing_bridge};
pub use config::{BROKERS_ENV, Builder, DEFAULT_MAX_MESSAGE_BYTES, KAFKA_DEFAULTS};
pub use cut::{CUT, DEFAULT_MAX_VALUE_BYTES, cut};
pub use error::{Error, Result};
pub use global::{install, installed};
pub use key::PartitionKey;
pub use outgoing::OutgoingCall;
pub use record::WireFormat;
pub use redact::{DEFAULT_SECRET_STEMS, DEFAULT_SECRET_WORDS, REDACTED, SecretNames};
pub use relayer::Relayer;
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use relayer_rpc::relayed;
pub use resource::Resource;
pub use sampling::Sampling;
pub use scope::{Bound, Caller, DEFAULT_MAX_REQUEST_ID_BYTES, Scope};

// The README's Rust examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The rdkafka version relayer is built with, for custom producers.
pub use rdkafka;
