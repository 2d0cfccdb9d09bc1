//! The hook behind `relayer_test::patch`: a producer that replaces the
//! configured one for relayers built on the current thread.
//!
//! Thread-local, so tests that patch run in parallel without seeing each
//! other's mock.

use std::cell::RefCell;
use std::sync::Arc;

use super::Producer;

thread_local! {
    static PATCHED: RefCell<Option<Arc<dyn Producer>>> = const { RefCell::new(None) };
}

/// Sets (or clears) the producer that relayers built on this thread will use,
/// and returns the previous one. Use `relayer_test::patch` instead.
pub fn patch_thread(producer: Option<Arc<dyn Producer>>) -> Option<Arc<dyn Producer>> {
    PATCHED.with(|patched| patched.replace(producer))
}

pub(crate) fn patched() -> Option<Arc<dyn Producer>> {
    PATCHED.with(|patched| patched.borrow().clone())
}
