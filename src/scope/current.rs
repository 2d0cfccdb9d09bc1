//! The task-local current relayer, so code deep in the call stack reaches
//! the request's relayer without being passed a handle.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use crate::global;
use crate::relayer::Shared;
use crate::scope::ScopeState;
use crate::{Relayer, Scope};

tokio::task_local! {
    static CURRENT: Relayer;
}

impl Relayer {
    /// The relayer of the current request or RPC call, else the one
    /// [installed](crate::install) for the process, else `None`.
    ///
    /// Inside a request this is the request's bound relayer: what it emits
    /// and logs goes into that request's record.
    ///
    /// ```
    /// fn third_party_code() {
    ///     if let Some(relayer) = relayer::Relayer::current() {
    ///         let _ = relayer.info("deep in the call stack");
    ///     }
    /// }
    /// # third_party_code();
    /// ```
    pub fn current() -> Option<Self> {
        CURRENT
            .try_with(Self::clone)
            .ok()
            .or_else(|| global::installed().cloned())
    }

    /// Binds `future` to this relayer: while it runs, [`Relayer::current`] is
    /// this relayer. It is what `tracing::Instrument` does for spans, under
    /// another name so that both traits' users can call it unambiguously.
    /// Use it to carry a request into a spawned task:
    ///
    /// ```
    /// # async fn handler(relayer: relayer::Relayer) {
    /// tokio::spawn(relayer.bind(async {
    ///     let _ = relayer::Relayer::current().unwrap().info("from a spawned task");
    /// }));
    /// # }
    /// ```
    pub fn bind<F: Future>(&self, future: F) -> Bound<F> {
        Bound {
            inner: CURRENT.scope(self.clone(), future),
        }
    }

    /// Runs `f` with this relayer as [`Relayer::current`], like
    /// `tracing::Span::in_scope`; for synchronous code and blocking threads.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.clone(), f)
    }

    /// The current request's relayer, only when there is one (no fallback
    /// to the installed relayer). For the axum extractor.
    #[cfg(feature = "axum")]
    pub(crate) fn current_scoped() -> Option<Self> {
        CURRENT
            .try_with(|relayer| relayer.scope_state().is_some().then(|| relayer.clone()))
            .ok()
            .flatten()
    }

    /// The current request's scope state when that request was opened by
    /// the relayer that owns `shared`: where its app-wide handle writes.
    pub(crate) fn current_scope_of(shared: &Arc<Shared>) -> Option<Arc<ScopeState>> {
        CURRENT
            .try_with(|relayer| {
                Arc::ptr_eq(shared, relayer.shared_arc())
                    .then(|| relayer.scope_state().cloned())
                    .flatten()
            })
            .ok()
            .flatten()
    }

    /// The current request's scope state, only when there is one: like
    /// [`current_scoped`](Self::current_scoped) without cloning the handle
    /// (one reference count). Called for every new scope and, by the
    /// tracing bridge, for every event.
    pub(crate) fn current_scope_state() -> Option<Arc<ScopeState>> {
        CURRENT
            .try_with(|relayer| relayer.scope_state().cloned())
            .ok()
            .flatten()
    }
}

pin_project! {
    /// A future bound to a relayer: while it runs, [`Relayer::current`] is
    /// that relayer. Made by [`Relayer::bind`]; like any future, it does
    /// nothing until it is awaited or spawned.
    #[must_use = "futures do nothing unless you `.await` or spawn them"]
    pub struct Bound<F> {
        #[pin]
        inner: TaskLocalFuture<Relayer, F>,
    }
}

impl<F: Future> Future for Bound<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for Bound<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound").field("inner", &self.inner).finish()
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("request_id", &self.request_id())
            .field("date", &self.date)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
