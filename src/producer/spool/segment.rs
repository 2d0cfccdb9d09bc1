//! Segment files: a spool directory holds `<sequence>.spool` files, appended
//! in sequence order and deleted once every record is handed to Kafka.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::record::{self, Next};

/// A new segment is started past this size, so that replayed space is
/// given back to the disk soon.
pub(super) const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

const EXTENSION: &str = "spool";

/// A segment file and what it holds.
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) sequence: u64,
    /// Where the records not yet replayed begin: 0, or what a stopped
    /// process had replayed (its cursor file).
    pub(super) start: u64,
    /// The bytes of good records, from the start of the file.
    pub(super) end: u64,
    /// How many good records after `start`.
    pub(super) records: u64,
}

impl Segment {
    pub(super) fn new(sequence: u64) -> Self {
        Self {
            sequence,
            start: 0,
            end: 0,
            records: 0,
        }
    }

    pub(super) fn path(&self, dir: &Path) -> PathBuf {
        path(dir, self.sequence)
    }
}

pub(super) fn path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.{EXTENSION}"))
}

/// Where a stopped process recorded how far it replayed a segment: the
/// records before that offset were delivered, or moved to a newer segment
/// at shutdown, and must not be sent again.
pub(super) fn cursor_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.{CURSOR_EXTENSION}"))
}

const CURSOR_EXTENSION: &str = "replayed";

/// Records that the records of segment `sequence` before `offset` are done.
pub(super) fn write_cursor(dir: &Path, sequence: u64, offset: u64) -> io::Result<()> {
    let path = cursor_path(dir, sequence);
    fs::write(&path, offset.to_string())?;
    File::open(&path)?.sync_all()
}

fn read_cursor(dir: &Path, sequence: u64) -> u64 {
    fs::read_to_string(cursor_path(dir, sequence))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// What a crashed process left: its segments in order, each read up to its
/// first torn or corrupt record.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) segments: Vec<Segment>,
    /// Bytes after a torn or corrupt record, skipped.
    pub(super) skipped_bytes: u64,
}

/// Lists and checks the segments in `dir`.
pub(super) fn scan(dir: &Path) -> io::Result<Found> {
    let mut sequences = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == EXTENSION)
            && let Some(sequence) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
        {
            sequences.push(sequence);
        }
    }
    sequences.sort_unstable();
    let mut found = Found::default();
    let mut body = Vec::new();
    for sequence in sequences {
        let file = File::open(path(dir, sequence))?;
        let len = file.metadata()?.len();
        let mut input = BufReader::new(file);
        let cursor = read_cursor(dir, sequence);
        let mut segment = Segment::new(sequence);
        loop {
            if segment.end == cursor {
                // On a record boundary: the cursor is good.
                segment.start = cursor;
                segment.records = 0;
            }
            match record::read(&mut input, len - segment.end, &mut body) {
                Ok(Next::Record(_, size)) => {
                    segment.end += size;
                    segment.records += 1;
                }
                Ok(Next::End) => break,
                Ok(Next::Corrupt) | Err(_) => {
                    found.skipped_bytes += len - segment.end;
                    break;
                }
            }
        }
        found.segments.push(segment);
    }
    Ok(found)
}
