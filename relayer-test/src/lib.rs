//! Test support for relayer.
//!
//! - [`MockProducer`]: records what would have been sent, per topic, to
//!   assert on; can be told to fail.
//! - [`Record`]: a record of the logging topic, with typed access to its
//!   fields and lines ([`MockProducer::records`], [`MockProducer::record`]).
//! - [`MockProducer::send`]: a request through a service (an axum
//!   `Router` behind relayer's layer), its response read in full, and the
//!   record it wrote, in one call ([`Exchange`]).
//! - [`patch`]: makes relayers built by the application's own code use a
//!   mock, without changing that code.
//! - [`EmbeddedBroker`]: librdkafka's mock cluster, a real Kafka-protocol
//!   broker on 127.0.0.1 inside the process, with faults to inject; and a
//!   [`Consumer`] that reads topics back.
//!
//! ```
//! use relayer::Relayer;
//! use relayer_test::MockProducer;
//!
//! let mock = MockProducer::new();
//! let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
//! relayer.emit("order", "created", &serde_json::json!({"id": 1}))?;
//! assert_eq!(mock.json("order")[0]["event_subtype"], "created");
//! # Ok::<(), relayer::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod broker;
mod collect;
mod consumer;
mod exchange;
mod message;
mod mock;
mod patch;
mod record;

pub use broker::{EmbeddedBroker, without_broker_restarts};
pub use collect::RECORDS_ENV;
pub use consumer::{Consumer, ReadError};
pub use exchange::Exchange;
pub use message::Message;
pub use mock::MockProducer;
pub use patch::{PatchGuard, patch};
pub use record::{Record, RequestRecord, RpcRecord};

// The README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
