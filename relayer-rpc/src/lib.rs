//! `#[relayed]`: one aggregated Kafka record per RPC call, for
//! [relayer](https://docs.rs/relayer).
//!
//! Use it through `relayer` (feature `macros`, on by default):
//! `use relayer::relayed;`. This crate only generates code; the code it
//! generates calls `relayer::rpc`.

#![forbid(unsafe_code)]

mod args;
mod expand;
mod inject;

use proc_macro::TokenStream;

/// Opens a request scope around each call of a function, and writes one RPC
/// record to the logging topic when the call ends.
///
/// The record has `source`, `logging_topic`, `date`, `service`,
/// `service_time` (milliseconds), `request_id`, `outcome`, `error` and
/// `lines` (every event emitted and line logged during the call). It is the
/// successor of the Python relayer's `@rpc_relayer` decorator.
///
/// ```
/// use relayer::{Relayer, relayed};
/// # use std::time::Duration;
///
/// struct Greeter;
///
/// impl Greeter {
///     #[relayed]
///     async fn say_hello(&self, name: String, relayer: Relayer) -> relayer::Result<String> {
///         relayer.emit("greeting", "sent", &name)?;
///         relayer.info("said hello")?;
///         Ok(format!("Hello, {name}!"))
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = relayer_test::MockProducer::new();
/// relayer::install(Relayer::builder("logging").producer(mock.clone()).build()?).unwrap();
///
/// // the injected parameter is gone from the signature
/// assert_eq!(Greeter.say_hello("Ada".into()).await?, "Hello, Ada!");
///
/// let record = &mock.json("logging")[0];
/// assert_eq!(record["service"], "Greeter::say_hello");
/// assert_eq!(record["outcome"], "ok");
/// assert_eq!(record["lines"].as_array().unwrap().len(), 2);
/// # Ok(()) }
/// ```
///
/// # Which relayer
///
/// - By default, the relayer of the enclosing request or call (a relayed
///   call inside an HTTP request or inside another relayed call), else the
///   one installed for the process with `relayer::install(relayer)` at
///   startup. With neither, the function still runs, and no record is
///   written (a warning says so once per process).
/// - `#[relayed(with = <expr>)]` gives it explicitly: any expression of
///   type `Relayer`, `&Relayer` or `Arc<Relayer>`, evaluated at each call,
///   where the function's parameters (and `self`) are in scope:
///
/// ```
/// use relayer::{Relayer, relayed};
///
/// struct Greeter {
///     relayer: Relayer,
/// }
///
/// impl Greeter {
///     #[relayed(with = self.relayer)]
///     fn say_hello(&self, name: &str) -> String {
///         let _ = Relayer::current().unwrap().info("said hello");
///         format!("Hello, {name}!")
///     }
/// }
/// # let mock = relayer_test::MockProducer::new();
/// # let relayer = Relayer::builder("logging").producer(mock.clone()).build().unwrap();
/// # assert_eq!(Greeter { relayer }.say_hello("Ada"), "Hello, Ada!");
/// # assert_eq!(mock.json("logging")[0]["lines"][0]["payload"], "said hello");
/// ```
///
/// The `with` relayer says where the record goes; it is not itself bound
/// to the call. Inside the call, log through the injected parameter or
/// `Relayer::current()`: what `self.relayer` logs directly is in no record.
///
/// # The injected parameter
///
/// A parameter of type `Relayer` (written `Relayer`, `relayer::Relayer` or
/// `::relayer::Relayer`; any pattern) is removed from the signature and
/// bound, inside, to the call's relayer: callers don't pass it, and a
/// method keeps the signature of the trait method it implements. Without
/// it, the body (and any code it calls) reaches the call's relayer with
/// `Relayer::current()`. To take a relayer from the caller as an ordinary
/// argument (for `with`), take it as `&Relayer`.
///
/// # Service name
///
/// `service` is the function's name, qualified with the type for methods,
/// like Python's `__qualname__`: `Greeter::say_hello` (module path and
/// generic arguments left out). A function is a method when it has a
/// `self` parameter or its signature names `Self`; name other associated
/// functions yourself. `#[relayed(name = "Greeter.SayHello")]` sets any
/// name.
///
/// # Outcome
///
/// | the call | `outcome` | `error` |
/// |---|---|---|
/// | returns `Ok` or any value that is not a `Result` | `ok` | null |
/// | returns `Err(e)` | `error` | `e.to_string()` (`{:?}` when `e` is only `Debug`) |
/// | panics | `panicked` (the record is written, then the panic goes on) | null |
/// | its future is dropped before the end | `cancelled` | null |
///
/// Exactly one record per call, whatever the outcome. The return type is
/// read as written: in a generic function returning `T`, a `T` that is a
/// `Result` counts as a value.
///
/// # Shapes
///
/// Free functions and methods; `async fn` and plain `fn`; `self`, `&self`,
/// `&mut self`; generic functions and `impl Trait` arguments; native
/// `async fn` in trait impls; methods of an `#[async_trait]` impl (tonic's
/// generated service traits), where `#[async_trait]` has already turned the
/// method into a plain `fn` returning `Box::pin(async move { ... })`: like
/// `#[tracing::instrument]`, `#[relayed]` then records the future, not its
/// creation. The same goes for any plain `fn` whose body ends with
/// `async move { ... }` or `Box::pin(async move { ... })`.
///
/// ```
/// use relayer::{Relayer, relayed};
///
/// #[async_trait::async_trait]
/// trait Greeter {
///     async fn say_hello(&self, name: String) -> String;
/// }
///
/// struct MyGreeter;
///
/// #[async_trait::async_trait]
/// impl Greeter for MyGreeter {
///     #[relayed(name = "Greeter.SayHello")]
///     async fn say_hello(&self, name: String, relayer: Relayer) -> String {
///         let _ = relayer.info("saying hello");
///         format!("Hello, {name}!")
///     }
/// }
/// ```
///
/// A plain `fn` runs in the call as a closure; a plain `fn` that returns a
/// future some other way (not as its last expression) is recorded when it
/// returns the future, not when the future runs.
///
/// # On an impl block
///
/// `#[relayed]` (or `#[relayed(with = ...)]`) on an impl block puts
/// `#[relayer::relayed(...)]` on each of its methods, except those that
/// have their own `#[relayed]`: one attribute for a whole service. It goes
/// before or after `#[async_trait]`.
///
/// ```
/// use relayer::{Relayer, relayed};
/// # #[async_trait::async_trait]
/// # trait Greeter {
/// #     async fn say_hello(&self, name: String) -> String;
/// #     async fn say_goodbye(&self, name: String) -> String;
/// # }
///
/// struct MyGreeter {
///     relayer: Relayer,
/// }
///
/// #[relayed(with = self.relayer)]
/// #[async_trait::async_trait]
/// impl Greeter for MyGreeter {
///     async fn say_hello(&self, name: String) -> String {
///         format!("Hello, {name}!")
///     }
///
///     #[relayed(with = self.relayer, name = "Greeter.SayGoodbye")]
///     async fn say_goodbye(&self, name: String) -> String {
///         format!("Goodbye, {name}!")
///     }
/// }
/// ```
///
/// # Relayer under another name
///
/// The generated code names the `relayer` crate `::relayer`. When it is a
/// renamed dependency or a re-export, say where it is with `crate = path`;
/// the injected parameter may then be written under that name too:
///
/// ```
/// # mod reexport { pub use ::relayer as my_relayer; }
/// use reexport::my_relayer::{self, relayed};
///
/// #[relayed(crate = my_relayer)]
/// fn say_hello(name: &str, relayer: my_relayer::Relayer) -> String {
///     let _ = relayer.info("said hello");
///     format!("Hello, {name}!")
/// }
/// # assert_eq!(say_hello("Ada"), "Hello, Ada!");
/// ```
///
/// # Compile errors
///
/// On an item that is neither a function with a body nor an impl block, on
/// a `const fn`, on two `Relayer` parameters, on an unknown argument, on a
/// `name` that is not a string literal, on a `crate` that is not a path,
/// and on a `with` expression that is not a relayer.
///
/// Each error is reported once, where it is. With arguments that do not
/// parse, the function is still expanded (without its injected parameter),
/// so its callers get no second error; a function whose body does not parse
/// is expanded around its body as written, and the compiler reports the
/// body's own error.
#[proc_macro_attribute]
pub fn relayed(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), &item.into()).into()
}

// The README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
