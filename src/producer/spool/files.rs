//! The spool's directory: `<sequence>.spool` segments, replayed in
//! sequence order, the [ledger](super::ledger) of what was delivered, and
//! `spool.lock`, held by the process that owns the directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::disk::Disk;
use super::ledger::{self, Entry};
use super::record::{self, Next};
use super::segment::Segment;

const EXTENSION: &str = ".spool";
pub(super) const LOCK: &str = "spool.lock";

/// The sequence of a new spool's first segment: far from 0, so that a
/// segment can always be put before the oldest one (see
/// [`Segment::sequence`]).
pub(super) const FIRST_SEQUENCE: u64 = 1 << 32;

pub(super) fn path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}{EXTENSION}"))
}

/// The sequence of a segment's file name.
pub(super) fn sequence(name: &str) -> Option<u64> {
    name.strip_suffix(EXTENSION)?.parse().ok()
}

/// What a previous process left.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Its segments in order, each read up to its first torn or corrupt
    /// record, with what the ledger says was delivered of them.
    pub(super) segments: Vec<Segment>,
    /// Bytes after a torn or corrupt record, skipped.
    pub(super) skipped_bytes: u64,
    /// The lowest and highest sequence the directory knows of, its
    /// ledger included: new segments are numbered outside them, so that
    /// no number is used twice (a ledger entry left by a crash could apply
    /// to a newer segment of the same number).
    pub(super) sequences: Option<(u64, u64)>,
}

/// Lists and checks the segments in `dir`, applies the ledger, and deletes
/// a temporary ledger a crash left. An error to read is returned, never
/// taken for damage: only a bad checksum or format is.
pub(super) fn scan(disk: &dyn Disk, dir: &Path) -> io::Result<Found> {
    let names = disk.list(dir)?;
    if names.iter().any(|name| name == ledger::TEMPORARY) {
        disk.remove(&dir.join(ledger::TEMPORARY))?;
    }
    let sequences: BTreeSet<u64> = names.iter().filter_map(|name| sequence(name)).collect();
    let ledger: BTreeMap<u64, Entry> = ledger::read(disk, dir)?
        .into_iter()
        .map(|entry| (entry.sequence, entry))
        .collect();
    let known = sequences.iter().chain(ledger.keys());
    let mut found = Found {
        sequences: known.clone().min().copied().zip(known.max().copied()),
        ..Found::default()
    };
    let mut body = Vec::new();
    for sequence in sequences {
        let file = disk.open(&path(dir, sequence))?;
        let len = file.len()?;
        let mut input = BufReader::new(file);
        // Where each good record starts.
        let mut offsets = Vec::new();
        let mut end = 0;
        loop {
            match record::read(&mut input, len - end, &mut body) {
                Ok(Next::Record(_, size)) => {
                    offsets.push(end);
                    end += size;
                }
                Ok(Next::End) => break,
                // Shorter than it said: torn, like a bad checksum.
                Ok(Next::Corrupt) => {
                    found.skipped_bytes += len - end;
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    found.skipped_bytes += len - end;
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        let entry = ledger
            .get(&sequence)
            .filter(|entry| entry.start == end || offsets.binary_search(&entry.start).is_ok())
            .cloned()
            .unwrap_or_else(|| {
                if ledger.contains_key(&sequence) {
                    // Not a record boundary of this file: sending records
                    // twice is better than losing them.
                    tracing::warn!(target: "relayer", sequence, "spool ledger does not fit its segment; ignored");
                }
                Entry::default()
            });
        let done: BTreeSet<u64> = entry.done.iter().copied().collect();
        let records = offsets
            .iter()
            .filter(|offset| **offset >= entry.start && !done.contains(offset))
            .count() as u64;
        found.segments.push(Segment::recovered(
            sequence,
            end,
            records,
            entry.start,
            done,
        ));
    }
    Ok(found)
}
