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
    with_buffer(|json| {
        serde_json::to_writer(&mut *json, value)?;
        then(json)
    })
}

/// Hands this thread's reused buffer, empty, to `then`; a buffer of its own
/// when the thread's is in use (a serialization that logs).
pub(crate) fn with_buffer<R>(then: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|scratch| {
        let Ok(mut buffer) = scratch.try_borrow_mut() else {
            return then(&mut Vec::new());
        };
        buffer.clear();
        let result = then(&mut buffer);
        if buffer.capacity() > KEEP_CAPACITY {
            *buffer = Vec::new();
        }
        result
    })
}
