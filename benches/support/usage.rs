//! What the process uses: CPU time (whole process and per thread name) and
//! resident memory, from `getrusage` and `/proc/self`.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

/// Who spends CPU time in the load bench, told by thread name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// The load generator's runtime (threads named `loadgen`).
    LoadGenerator,
    /// The servers' runtimes (threads named `server`).
    Server,
    /// The embedded broker (librdkafka's mock cluster thread, `rdk:mock`).
    Broker,
    /// librdkafka's client threads (`rdk:main`, `rdk:broker…`), and the
    /// producer's polling thread for delivery reports.
    Librdkafka,
    /// Everything else: `tracing-appender`'s writer, a writer sink's
    /// thread (`relayer-sink-…`), the mock's cleaner,
    /// the main thread.
    Background,
}

impl Who {
    pub(crate) const ALL: [Self; 5] = [
        Self::Server,
        Self::Librdkafka,
        Self::Background,
        Self::LoadGenerator,
        Self::Broker,
    ];

    fn of(thread_name: &str) -> Self {
        if thread_name.starts_with("loadgen") {
            Self::LoadGenerator
        } else if thread_name.starts_with("server") {
            Self::Server
        } else if thread_name == "rdk:mock" {
            Self::Broker
        } else if thread_name.starts_with("rdk:") || thread_name == "relayer-poll" {
            Self::Librdkafka
        } else {
            Self::Background
        }
    }
}

/// CPU time at one moment: the process's, and each live thread's.
pub(crate) struct CpuSnapshot {
    process: Duration,
    threads: HashMap<u32, (String, Duration)>,
}

/// CPU time spent between two snapshots, split by who spent it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSpent {
    /// The whole process (`getrusage(RUSAGE_SELF)`, user + system).
    pub process: Duration,
    /// By [`Who`], in the order of [`Who::ALL`] (from `/proc/self/task`;
    /// threads that ended in between are missing).
    pub by_who: [Duration; 5],
}

impl CpuSpent {
    pub(crate) fn of(&self, who: Who) -> Duration {
        self.by_who[Who::ALL.iter().position(|w| *w == who).expect("listed")]
    }
}

impl std::ops::AddAssign for CpuSpent {
    fn add_assign(&mut self, other: Self) {
        self.process += other.process;
        for (mine, theirs) in self.by_who.iter_mut().zip(other.by_who) {
            *mine += theirs;
        }
    }
}

impl CpuSnapshot {
    pub(crate) fn now() -> Self {
        Self {
            process: process_cpu(),
            threads: thread_cpu(),
        }
    }

    /// The CPU time spent since `earlier` (threads born in between count
    /// from 0).
    pub(crate) fn since(&self, earlier: &Self) -> CpuSpent {
        let mut by_who = [Duration::ZERO; 5];
        for (tid, (name, cpu)) in &self.threads {
            let before = earlier
                .threads
                .get(tid)
                .map_or(Duration::ZERO, |(_, cpu)| *cpu);
            let who = Who::of(name);
            let slot = Who::ALL.iter().position(|w| *w == who).expect("listed");
            by_who[slot] += cpu.saturating_sub(before);
        }
        CpuSpent {
            process: self.process.saturating_sub(earlier.process),
            by_who,
        }
    }
}

fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Each live thread's name and CPU time (user + system).
fn thread_cpu() -> HashMap<u32, (String, Duration)> {
    let mut threads = HashMap::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(name), Ok(stat)) = (
            fs::read_to_string(task.path().join("comm")),
            fs::read_to_string(task.path().join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        threads.insert(tid, (name.trim().to_owned(), stat_cpu(&stat)));
    }
    threads
}

/// The user + system CPU time in a `/proc/…/stat` line (of a process: all
/// its threads; of a thread: its own). Zero when it cannot be read.
#[allow(dead_code)] // not every bench that includes this module reads it
pub(crate) fn stat_cpu(stat: &str) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let Some(close) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(14) + ticks(15)) * 1_000 / ticks_per_second)
}

/// Resident memory now (`VmRSS`) and its peak so far (`VmHWM`, process-wide
/// and monotonic), in bytes.
pub(crate) fn rss() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

/// Gives freed heap memory back to the system, so that RSS shows what is
/// still in use (glibc keeps freed memory otherwise).
pub(crate) fn trim_heap() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

pub(crate) const MIB: f64 = 1024.0 * 1024.0;
