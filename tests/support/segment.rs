//! The spool's file format, as tests that damage a segment need it.

/// Where record `index` of a segment starts: each record is its body's
/// length (4 bytes, little-endian), a checksum (4 bytes) and the body.
pub(crate) fn record_start(bytes: &[u8], index: usize) -> usize {
    let mut at = 0;
    for _ in 0..index {
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    at
}
