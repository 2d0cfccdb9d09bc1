//! A small tmpfs: a disk that fills up, for the tests of full disks.

use std::path::Path;
use std::process::Command;

/// A small tmpfs: a disk that fills up. Mounting needs root, as in CI.
pub(crate) struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    pub(crate) fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut mount = Command::new("mount");
        mount
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path());
        // Not while an embedded broker of another test goes down.
        let mounted = relayer_test::without_broker_restarts(|| mount.status())
            .is_ok_and(|status| status.success());
        if !mounted {
            super::skip::skip("mounting a tmpfs needs root");
            return None;
        }
        Some(Self(dir))
    }
}

impl SmallDisk {
    /// Where it is mounted.
    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let mut umount = Command::new("umount");
        umount.arg(self.0.path());
        let _ = relayer_test::without_broker_restarts(|| umount.status());
    }
}
