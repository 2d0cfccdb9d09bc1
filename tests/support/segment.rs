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

/// How many good records the segments of the spool in `dir` hold.
#[allow(dead_code, reason = "not every test counts records")]
pub(crate) fn records(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|file| payloads(file).len() as u64)
        .sum()
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

/// The payloads of the good records of the segment at `path`, up to the
/// first torn or damaged one (checked by its CRC-32): what the spool would
/// send from it. Every record is `[body length u32][crc32 of body
/// u32][body]`, and a body `[topic length u16][topic][key length u32, or
/// u32::MAX for none][key][header count u16]([name length u16][name][value
/// length u32][value])*[payload]`, little-endian.
#[allow(dead_code, reason = "not every test reads a spool")]
pub(crate) fn payloads(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut payloads = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        payloads.push(payload(body));
        at += 8 + len;
    }
    payloads
}

/// The payload of a record's body.
fn payload(body: &[u8]) -> Vec<u8> {
    let u16_at = |at: usize| u16::from_le_bytes(body[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap());
    let mut at = 2 + u16_at(0);
    at += 4 + match u32_at(at) {
        u32::MAX => 0,
        key => key as usize,
    };
    let headers = u16_at(at);
    at += 2;
    for _ in 0..headers {
        at += 2 + u16_at(at);
        at += 4 + u32_at(at) as usize;
    }
    body[at..].to_vec()
}
