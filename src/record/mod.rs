//! The JSON records relayer writes, as serde types.
//!
//! The wire format is the Python relayer 1.x one, so existing consumers keep
//! working: [`Event`] envelopes on event topics, [`LogLine`]s inside records,
//! and one [`Record`] per request ([`HttpDetails`]) or RPC call
//! ([`RpcDetails`]) on the logging topic. Records can also take the shape
//! of an ECS document or of an OTLP/JSON log request: see [`WireFormat`].

mod call;
mod details;
mod event;
mod form;
mod log_line;
pub(crate) mod milliseconds;
mod outcome;
mod request;
mod scratch;
mod timestamp;
mod wire_format;

pub use call::CallEntry;
pub use details::Details;
pub use event::Event;
pub(crate) use form::Finished;
pub use log_line::LogLine;
pub use outcome::Outcome;
pub(crate) use request::fields_as_object;
pub use request::{HttpDetails, Record, RpcDetails};
pub(crate) use scratch::{with_buffer, with_json};
pub use timestamp::Timestamp;
pub use wire_format::{RecordDate, WireFormat};

/// A line of a record (an event envelope or a log line), serialized once when
/// it was emitted or logged and embedded verbatim in the record.
pub type Line = Box<serde_json::value::RawValue>;
