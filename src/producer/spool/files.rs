//! The spool's files: `<sequence>.spool` segments, replayed in sequence
//! order, and `<sequence>.replayed` cursors, written at a clean stop, that
//! say which records of a segment were already delivered.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::record::{self, Next};
use super::segment::Segment;

const EXTENSION: &str = "spool";
const CURSOR_EXTENSION: &str = "replayed";

/// The sequence of a new spool's first segment: far from 0, so that a
/// segment can always be put before the oldest one (see
/// [`Segment::sequence`]).
pub(super) const FIRST_SEQUENCE: u64 = 1 << 32;

pub(super) fn path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.{EXTENSION}"))
}

pub(super) fn cursor_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.{CURSOR_EXTENSION}"))
}

/// How far a segment was delivered: every record before `start`, and the
/// records at the offsets in `done` after it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) start: u64,
    pub(super) done: BTreeSet<u64>,
}

/// Records the cursor of segment `sequence`, durably: the next process
/// must not send those records again.
pub(super) fn write_cursor(dir: &Path, sequence: u64, cursor: &Cursor) -> io::Result<()> {
    let mut text = cursor.start.to_string();
    for offset in &cursor.done {
        text.push('\n');
        text.push_str(&offset.to_string());
    }
    let path = cursor_path(dir, sequence);
    fs::write(&path, text)?;
    File::open(&path)?.sync_all()
}

fn read_cursor(dir: &Path, sequence: u64) -> Cursor {
    let Ok(text) = fs::read_to_string(cursor_path(dir, sequence)) else {
        return Cursor::default();
    };
    let mut offsets = text.lines().map_while(|line| line.trim().parse().ok());
    Cursor {
        start: offsets.next().unwrap_or(0),
        done: offsets.collect(),
    }
}

/// Deletes a segment that is done with, its cursor first: a cursor left
/// without its segment could apply to a later segment of that number.
pub(super) fn remove(dir: &Path, sequence: u64) -> io::Result<()> {
    match fs::remove_file(cursor_path(dir, sequence)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    fs::remove_file(path(dir, sequence))
}

/// What a previous process left: its segments in order, each read up to
/// its first torn or corrupt record.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) segments: Vec<Segment>,
    /// Bytes after a torn or corrupt record, skipped.
    pub(super) skipped_bytes: u64,
}

/// Lists and checks the segments in `dir`, and deletes cursors whose
/// segment is gone.
pub(super) fn scan(dir: &Path) -> io::Result<Found> {
    let mut sequences = BTreeSet::new();
    let mut cursors = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let sequence = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        match (sequence, path.extension().and_then(|e| e.to_str())) {
            (Some(sequence), Some(EXTENSION)) => {
                sequences.insert(sequence);
            }
            (Some(sequence), Some(CURSOR_EXTENSION)) => cursors.push(sequence),
            _ => {}
        }
    }
    for sequence in cursors {
        if !sequences.contains(&sequence) {
            fs::remove_file(cursor_path(dir, sequence))?;
        }
    }
    let mut found = Found::default();
    let mut body = Vec::new();
    for sequence in sequences {
        let file = File::open(path(dir, sequence))?;
        let len = file.metadata()?.len();
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
                Ok(Next::Corrupt) | Err(_) => {
                    found.skipped_bytes += len - end;
                    break;
                }
            }
        }
        let mut cursor = read_cursor(dir, sequence);
        if cursor.start != end && offsets.binary_search(&cursor.start).is_err() {
            // Not a record boundary of this file: sending records twice
            // is better than losing them.
            tracing::warn!(target: "relayer", sequence, "spool cursor does not fit its segment; ignored");
            cursor = Cursor::default();
        }
        let records = offsets
            .iter()
            .filter(|offset| **offset >= cursor.start && !cursor.done.contains(offset))
            .count() as u64;
        found
            .segments
            .push(Segment::recovered(sequence, end, records, cursor));
    }
    Ok(found)
}
