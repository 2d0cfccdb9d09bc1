//! The spool's files and format, as tests that look into a spool need
//! them.

use std::path::{Path, PathBuf};

/// The segment files of the spool in `dir` (not its ledger or lock), in
/// replay order.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "spool"))
        .collect();
    files.sort();
    files
}

/// Where record `index` of a segment starts: each record is its body's
/// length (4 bytes, little-endian), a checksum (4 bytes) and the body.
#[allow(dead_code, reason = "not every test damages a segment")]
pub(crate) fn record_start(bytes: &[u8], index: usize) -> usize {
    let mut at = 0;
    for _ in 0..index {
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    at
}
