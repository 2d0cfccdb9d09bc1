//! `RELAYER_TEST_RECORDS`: every value a [`MockProducer`](crate::MockProducer)
//! records is also appended to a file in that directory, so that a step
//! after the tests can check every record a test suite produced (relayer's
//! own CI checks them against its JSON Schemas and OpenTelemetry's
//! protobuf definitions).

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// The directory that collects what mock producers record, one JSON value
/// a line in `<process id>.jsonl`; unset, nothing is written.
pub const RECORDS_ENV: &str = "RELAYER_TEST_RECORDS";

/// Appends `value` as a line to this process's file, when collecting.
/// Panics when the file cannot be written: a test run asked to collect
/// must not silently collect nothing.
pub(crate) fn append(value: &[u8]) {
    static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    let Some(file) = FILE.get_or_init(open) else {
        return;
    };
    let mut line = Vec::with_capacity(value.len() + 1);
    line.extend_from_slice(value);
    line.push(b'\n');
    file.lock()
        .unwrap_or_else(|e| e.into_inner())
        .write_all(&line)
        .unwrap_or_else(|error| panic!("{RECORDS_ENV}: cannot write: {error}"));
}

fn open() -> Option<Mutex<File>> {
    let dir = PathBuf::from(std::env::var_os(RECORDS_ENV).filter(|dir| !dir.is_empty())?);
    let path = dir.join(format!("{}.jsonl", std::process::id()));
    let file = fs::create_dir_all(&dir)
        .and_then(|()| File::options().create(true).append(true).open(&path))
        .unwrap_or_else(|error| panic!("{RECORDS_ENV}: cannot open {}: {error}", path.display()));
    Some(Mutex::new(file))
}
