//! The spool's file operations, behind a trait: the file system, or, in
//! the fault harness, a disk that fails any operation on purpose.
//!
//! Every file the spool creates is readable by its owner only.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// What the spool does with files.
pub(crate) trait Disk: Send + Sync + 'static {
    /// Creates `dir` and its parents, when missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Locks the file at `path` (creating it) for as long as the returned
    /// guard lives; a lock held elsewhere is [`io::ErrorKind::WouldBlock`],
    /// the holder named in the message.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>>;

    /// Opens the file at `path` for reading.
    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadFile>>;

    /// Creates the file at `path`, which must not exist, for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;

    /// Writes `bytes` as the whole content of the file at `path`, created
    /// or truncated.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;

    /// Renames `from` to `to`, replacing it.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Deletes the file at `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes the creations, renames and deletions in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for reading.
pub(crate) trait ReadFile: Read + Seek + Send {
    /// Its length.
    fn len(&self) -> io::Result<u64>;
}

/// A file open for appending.
pub(crate) trait WriteFile: Write + Send {
    /// Makes what was written durable.
    fn sync_data(&mut self) -> io::Result<()>;

    /// Cuts the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// Only the owner reads and writes the spool's files.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// The file system.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Files;

impl Disk for Files {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        fs::read_dir(dir)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Send + Sync>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the next one to say.
                file.set_len(0)?;
                file.write_all(std::process::id().to_string().as_bytes())?;
                Ok(Box::new(file))
            }
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(path).unwrap_or_default();
                Err(held_by(holder.trim()))
            }
            Err(TryLockError::Error(error)) => Err(error),
        }
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(File::open(path)?))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(FILE_MODE)
            .open(path)?;
        Ok(Box::new(file))
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(path)?
            .write_all(bytes)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The error of a lock held by process `holder` (this one, maybe).
pub(crate) fn held_by(holder: &str) -> io::Error {
    let who = match holder.parse::<u32>() {
        Ok(pid) if pid == std::process::id() => format!("another spool of this process ({pid})"),
        Ok(pid) => format!("process {pid}"),
        Err(_) => "another process".to_owned(),
    };
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!("the spool is in use by {who}: one process, one spool directory"),
    )
}

impl ReadFile for File {
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl WriteFile for File {
    fn sync_data(&mut self) -> io::Result<()> {
        Self::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        Self::set_len(self, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_spool_names_its_holder_and_is_free_again_once_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.lock");
        let held = Files.lock(&path).unwrap();
        let Err(error) = Files.lock(&path) else {
            panic!("locked twice")
        };
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        let pid = std::process::id().to_string();
        assert!(error.to_string().contains(&pid), "{error}");
        drop(held);
        Files.lock(&path).unwrap();
    }

    #[test]
    fn files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        Files.create_dir_all(&spool).unwrap();
        drop(Files.create(&spool.join("1.spool")).unwrap());
        Files.write_file(&spool.join("ledger"), b"x").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&spool), 0o700);
        assert_eq!(mode(&spool.join("1.spool")), 0o600);
        assert_eq!(mode(&spool.join("ledger")), 0o600);
    }
}
