//! RPC calls: one scope and one record per call of a service method.
//!
//! The [`#[relayed]`][relayed] attribute (feature `macros`) writes this for you; use a
//! [`Call`] directly where an attribute does not fit (a hand-written
//! service, a dispatcher that only knows the method name at run time):
//!
//! ```
//! use relayer::{Relayer, rpc::Call, record::Outcome};
//!
//! # fn main() -> relayer::Result<()> {
//! # let mock = relayer_test::MockProducer::new();
//! # let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
//! let call = Call::new(&relayer, "Greeter::say_hello");
//! let reply = call.in_scope(|| {
//!     // code deep in the call stack reaches the call's relayer
//!     Relayer::current().unwrap().info("saying hello")?;
//!     Ok::<_, relayer::Error>("hello")
//! })?;
//! call.finish(Outcome::Ok, None);
//! # assert_eq!(reply, "hello");
//! # assert_eq!(mock.json("logging")[0]["service"], "Greeter::say_hello");
//! # Ok(()) }
//! ```
//!
//! The record, on the logging topic, has the common fields (`source`,
//! `logging_topic`, `date`, `request_id`, `outcome`, `lines`) and
//! [`RpcDetails`](crate::record::RpcDetails): `service`, `service_time` and
//! `error`.
//!
#![cfg_attr(feature = "macros", doc = "[relayed]: crate::relayed")]
#![cfg_attr(
    not(feature = "macros"),
    doc = "[relayed]: https://docs.rs/relayer/latest/relayer/attr.relayed.html"
)]

mod call;
mod detached;

#[doc(hidden)]
pub mod __private;

pub use call::Call;
