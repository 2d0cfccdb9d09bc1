//! This test binary again, running one test of it as a child process (the
//! test reads its configuration from an environment variable), and what it
//! prints, line by line, waited for with a deadline. Processes are started
//! through `relayer_test::without_broker_restarts`: an embedded broker of
//! another test may be going down meanwhile.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How long a child may take to print what is waited for.
const SAYS_WITHIN: Duration = Duration::from_secs(120);

pub(crate) struct Child {
    pub(crate) process: std::process::Child,
    /// What it prints, from a thread of its own.
    lines: Receiver<String>,
}

#[allow(dead_code, reason = "each test uses what it needs")]
impl Child {
    /// Runs the test `test` of this binary with `variable` set to `value`.
    pub(crate) fn start(test: &str, variable: &str, value: &str) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(variable, value)
            .stdout(Stdio::piped());
        let mut process = relayer_test::without_broker_restarts(|| command.spawn()).unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Self { process, lines }
    }

    /// The rest of the next line that holds `tag` (the test harness may
    /// print before it on the line), trimmed.
    pub(crate) fn said(&self, tag: &str) -> String {
        let deadline = Instant::now() + SAYS_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the child says {tag}"));
            if let Some((_, rest)) = line.split_once(tag) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Sends it `signal` (`-TERM`, ...).
    pub(crate) fn signal(&self, signal: &str) {
        let mut kill = Command::new("kill");
        kill.args([signal, &self.process.id().to_string()]);
        let status = relayer_test::without_broker_restarts(|| kill.status()).unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for Child {
    /// `kill -9`: no destructor, no flush; and a test that fails leaves no
    /// child behind.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
