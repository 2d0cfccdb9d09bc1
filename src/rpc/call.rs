use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;

use super::detached;
use crate::record::{Outcome, RpcDetails};
use crate::{Relayer, Scope};

/// One call of a service method: a [`Scope`] that ends with exactly one RPC
/// record (`service`, `service_time`, `outcome`, `error`, and the lines).
///
/// While [`in_scope`](Call::in_scope) or [`bind`](Call::bind)
/// runs, the call's relayer is [`Relayer::current`], so code deep in the
/// call stack logs into this call's record. A call opened inside a request
/// or inside another call joins its request id.
///
/// [`finish`](Call::finish) writes the record. A call dropped unfinished
/// writes it too: with outcome `panicked` when it is dropped by a panic, and
/// `cancelled` otherwise (its future was dropped before the end).
///
/// ```
/// use relayer::{Relayer, rpc::Call};
///
/// # #[tokio::main] async fn main() -> relayer::Result<()> {
/// # let mock = relayer_test::MockProducer::new();
/// # let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
/// let call = Call::new(&relayer, "Greeter::say_hello");
/// let reply: Result<String, std::io::Error> = call
///     .bind(async {
///         let _ = Relayer::current().unwrap().info("saying hello");
///         Err(std::io::Error::other("no greeting today"))
///     })
///     .await;
/// call.finish_result(&reply); // outcome `ok`, or `error` with the error's text
///
/// # let record = &mock.json("logging")[0];
/// assert_eq!(record["outcome"], "error");
/// assert_eq!(record["error"], "no greeting today");
/// assert_eq!(record["lines"][0]["payload"], "saying hello");
/// # Ok(()) }
/// ```
#[must_use = "a call writes its record when finished or dropped"]
pub struct Call {
    /// `None` when there is no relayer to record with.
    scope: Option<Scope>,
    service: Cow<'static, str>,
}

impl Call {
    /// Opens a call of `service` (e.g. `"Greeter::say_hello"`) whose record
    /// goes to `relayer`'s logging topic.
    ///
    /// Its request id is `relayer`'s when `relayer` is bound to a request,
    /// else the current request's, else a new UUID.
    pub fn new(relayer: &Relayer, service: impl Into<Cow<'static, str>>) -> Self {
        let request_id = relayer.request_id();
        Self {
            scope: Some(Scope::new(relayer, request_id)),
            service: service.into(),
        }
    }

    /// Opens a call of `service` with the [current](Relayer::current)
    /// relayer: the enclosing request's or call's, else the one
    /// [installed](crate::install) for the process.
    ///
    /// With neither, the call records nothing: [`relayer`](Call::relayer)
    /// is then a relayer whose messages go nowhere (they are only reported
    /// through `tracing::debug!`), and a warning says so once per process.
    ///
    /// ```
    /// let call = relayer::rpc::Call::current("jobs::nightly");
    /// assert!(call.request_id().is_none(), "nothing installed: no record");
    /// ```
    pub fn current(service: impl Into<Cow<'static, str>>) -> Self {
        let service = service.into();
        match Relayer::current() {
            Some(relayer) => Self::new(&relayer, service),
            None => {
                detached::warn_once(&service);
                Self {
                    scope: None,
                    service,
                }
            }
        }
    }

    /// The relayer bound to this call; clone it freely.
    pub fn relayer(&self) -> &Relayer {
        match &self.scope {
            Some(scope) => scope.relayer(),
            None => detached::relayer(),
        }
    }

    /// The call's request id; `None` when the call records nothing.
    pub fn request_id(&self) -> Option<&str> {
        self.scope.as_ref().map(Scope::request_id)
    }

    /// The service name written in the record.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Runs `f` with the call's relayer as [`Relayer::current`].
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.scope {
            Some(scope) => scope.relayer().in_scope(f),
            None => f(),
        }
    }

    /// Runs `future` with the call's relayer as [`Relayer::current`].
    pub async fn bind<F: Future>(&self, future: F) -> F::Output {
        match &self.scope {
            Some(scope) => scope.relayer().bind(future).await,
            None => future.await,
        }
    }

    /// Writes the call's record with `outcome` and, for outcome `error`,
    /// the error's text (the URLs it quotes without user information and
    /// with their secret query parameters masked).
    pub fn finish(mut self, outcome: Outcome, error: Option<&str>) {
        self.write(outcome, error);
    }

    /// Writes the call's record for what the call returned: outcome `ok`
    /// for `Ok`, outcome `error` and the error's text for `Err`.
    pub fn finish_result<T, E: Display>(self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.finish(Outcome::Ok, None),
            Err(error) => self.finish(Outcome::Error, Some(&error.to_string())),
        }
    }

    fn write(&mut self, outcome: Outcome, error: Option<&str>) {
        if let Some(scope) = self.scope.take() {
            let service_time = scope.elapsed_ms();
            let error = error.map(|error| scope.secret_params().urls_in(error));
            scope.finish(
                outcome,
                RpcDetails {
                    service: &self.service,
                    service_time,
                    error: error.as_deref(),
                },
            );
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.write(Outcome::of_unfinished(), None);
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("service", &self.service)
            .field("request_id", &self.request_id())
            .finish()
    }
}
