use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use relayer::producer::{Producer, patch_thread};

use crate::MockProducer;

/// Makes relayers built by the application's own code use `mock`, without
/// changing that code, until the guard is dropped.
///
/// The patch applies to relayers built on the current thread, so tests that
/// patch run in parallel under `cargo test` without seeing each other's
/// messages. Build the application inside the test's body (in
/// `#[tokio::test]`, also with the multi-thread flavor, the body runs on the
/// test's thread).
///
/// ```
/// use relayer_test::{MockProducer, patch};
///
/// // The application's own setup code, unchanged: it has no brokers here.
/// fn build_app_relayer() -> relayer::Result<relayer::Relayer> {
///     relayer::Relayer::builder("logging").build()
/// }
///
/// let mock = MockProducer::new();
/// let _patched = patch(&mock);
/// let relayer = build_app_relayer()?;
/// relayer.emit("order", "created", &1)?;
/// assert_eq!(mock.messages("order").len(), 1);
/// # Ok::<(), relayer::Error>(())
/// ```
#[must_use = "the patch ends when the guard is dropped"]
pub fn patch(mock: &MockProducer) -> PatchGuard {
    let mock: Arc<dyn Producer> = Arc::new(mock.clone());
    PatchGuard {
        previous: patch_thread(Some(mock)),
        _thread_bound: PhantomData,
    }
}

/// Ends the patch (restoring any outer one) when dropped; see [`patch`].
pub struct PatchGuard {
    previous: Option<Arc<dyn Producer>>,
    // The patch belongs to one thread: the guard must be dropped there.
    _thread_bound: PhantomData<*const ()>,
}

impl fmt::Debug for PatchGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatchGuard")
            .field("restores_an_outer_patch", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for PatchGuard {
    fn drop(&mut self) {
        patch_thread(self.previous.take());
    }
}
