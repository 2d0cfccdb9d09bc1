//! The ledger: how far each segment was delivered, written as replay goes
//! (every [`Tuning::ledger_every`](super::Tuning) or so many
//! acknowledgements), so that a process killed at any instruction sends
//! again at most what was in flight and what was acknowledged since the
//! last write.
//!
//! A new ledger is written whole to `ledger.tmp` and renamed over `ledger`:
//! a crash in the middle leaves the previous one. Its checksum tells a
//! ledger torn by a crash of the machine (written, renamed, not yet
//! synced) from a good one; a bad ledger is ignored, and everything in the
//! segments is sent again rather than lost.
//!
//! `[magic 8][entry count u32]([sequence u64][start u64][done count
//! u32]([offset delta, LEB128])*)*[crc32 of all before u32]`,
//! little-endian; the offsets of a segment's records delivered past
//! `start`, in increasing order, each as its distance from the one before
//! (from `start` for the first).

use std::io;
use std::path::Path;

use super::disk::Disk;

const MAGIC: &[u8; 8] = b"RLYLDG01";
pub(super) const NAME: &str = "ledger";
pub(super) const TEMPORARY: &str = "ledger.tmp";

/// How far one segment was delivered: every record before `start`, and
/// the records at the offsets in `done` (all past `start`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) sequence: u64,
    pub(super) start: u64,
    pub(super) done: Vec<u64>,
}

pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 24);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for entry in entries {
        out.extend_from_slice(&entry.sequence.to_le_bytes());
        out.extend_from_slice(&entry.start.to_le_bytes());
        out.extend_from_slice(&(entry.done.len() as u32).to_le_bytes());
        let mut previous = entry.start;
        for offset in &entry.done {
            let mut delta = offset - previous;
            previous = *offset;
            loop {
                let byte = (delta & 0x7f) as u8;
                delta >>= 7;
                if delta == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `None` when `bytes` are not a whole, good ledger.
pub(super) fn decode(bytes: &[u8]) -> Option<Vec<Entry>> {
    let (body, crc) = bytes.split_last_chunk::<4>()?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    let mut entries = Vec::with_capacity(u32::from_le_bytes(*count).min(1 << 16) as usize);
    for _ in 0..u32::from_le_bytes(*count) {
        let (sequence, after) = rest.split_first_chunk::<8>()?;
        let (start, after) = after.split_first_chunk::<8>()?;
        let (done_count, mut after) = after.split_first_chunk::<4>()?;
        let start = u64::from_le_bytes(*start);
        let mut previous = start;
        let mut done = Vec::new();
        for _ in 0..u32::from_le_bytes(*done_count) {
            let mut delta = 0_u64;
            let mut shift = 0;
            loop {
                let (byte, next) = after.split_first()?;
                after = next;
                delta |= u64::from(byte & 0x7f).checked_shl(shift)?;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            previous = previous.checked_add(delta)?;
            done.push(previous);
        }
        entries.push(Entry {
            sequence: u64::from_le_bytes(*sequence),
            start,
            done,
        });
        rest = after;
    }
    rest.is_empty().then_some(entries)
}

/// Writes the ledger of `dir`: the whole of it, then renamed over the last
/// one.
pub(super) fn write(disk: &dyn Disk, dir: &Path, entries: &[Entry]) -> io::Result<()> {
    let temporary = dir.join(TEMPORARY);
    disk.write_file(&temporary, &encode(entries))?;
    disk.rename(&temporary, &dir.join(NAME))
}

/// Reads the ledger of `dir`: none when there is none, or when it is torn
/// or damaged (with a warning: its segments are sent again in full).
pub(super) fn read(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<Entry>> {
    let mut file = match disk.open(&dir.join(NAME)) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(decode(&bytes).unwrap_or_else(|| {
        tracing::warn!(target: "relayer", dir = %dir.display(), "spool ledger torn or damaged: its segments are sent again in full");
        Vec::new()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_reads_back_as_written() {
        let entries = vec![
            Entry {
                sequence: 1 << 32,
                start: 120,
                done: vec![130, 300, 1 << 40],
            },
            Entry {
                sequence: (1 << 32) + 1,
                start: 0,
                done: Vec::new(),
            },
        ];
        assert_eq!(decode(&encode(&entries)), Some(entries));
        assert_eq!(decode(&encode(&[])), Some(Vec::new()));
    }

    #[test]
    fn a_torn_or_damaged_ledger_is_none() {
        let entries = [Entry {
            sequence: 7,
            start: 10,
            done: vec![20, 30],
        }];
        let bytes = encode(&entries);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x04;
            assert_eq!(decode(&damaged), None, "bit flipped at {at}");
        }
    }
}
