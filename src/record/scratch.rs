use std::cell::RefCell;

use serde::Serialize;

/// A buffer kept larger than this is given back after use.
const KEEP_CAPACITY: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Serializes `value` into this thread's reused buffer and hands its JSON
/// to `then`: a line costs no allocation of its own. A serialization that
/// itself logs (a `Serialize` impl that emits a `tracing` event, with the
/// bridge on) gets a buffer of its own.
pub(crate) fn with_json<T, R, E>(
    value: &T,
    then: impl FnOnce(&[u8]) -> Result<R, E>,
) -> Result<R, E>
where
    T: Serialize + ?Sized,
    E: From<serde_json::Error>,
{
    SCRATCH.with(|scratch| {
        let Ok(mut json) = scratch.try_borrow_mut() else {
            return then(&serde_json::to_vec(value)?);
        };
        json.clear();
        serde_json::to_writer(&mut *json, value)?;
        let result = then(&json);
        if json.capacity() > KEEP_CAPACITY {
            *json = Vec::new();
        }
        result
    })
}
