//! What the benchmarks share: their knobs and filters, the machine they ran on, temporary
//! directories, a relay that doesn't throttle the load, many registered devices.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;

use crate::ok;
use crate::relay::{Client, RelayProcess, http_client};

/// A number from the environment (`default` when unset or not a number).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The command line's words that are not flags (cargo adds `--bench`): section filters.
pub fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Where temporary stores go: `DUET_BENCH_TMP`, else the system's temporary directory.
pub fn tmp_root() -> PathBuf {
    std::env::var("DUET_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir())
}

/// A fresh directory `duet-bench-<tag>-…` under [`tmp_root`], removed on drop.
pub fn tempdir(tag: &str) -> tempfile::TempDir {
    let made = tempfile::Builder::new()
        .prefix(&format!("duet-bench-{tag}-"))
        .tempdir_in(tmp_root());
    ok(made, "a benchmark's temporary directory")
}

/// A relay for benchmarking in `dir`: limits that would throttle the load itself are lifted
/// (the per-device push rate), everything else is the default.
pub fn relay(dir: &Path) -> RelayProcess {
    RelayProcess::start_with(dir, &["--pushes-per-minute", "100000000"])
}

/// Raise the soft limit on open files to the hard one (thousands of sockets on each side of
/// loopback; a relay started afterwards inherits it), and say how it went.
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => println!("RLIMIT_NOFILE raised to {n}"),
        Err(e) => println!("RLIMIT_NOFILE not raised: {e}"),
    }
}

/// A multi-threaded tokio runtime with two workers (the machine's two cores).
pub fn runtime() -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    ok(rt, "tokio runtime")
}

/// `n` devices registered on the relay at `base`, `concurrency` at a time, sharing one HTTP
/// client.
pub async fn register_many(base: &str, n: usize, concurrency: usize) -> Vec<Client> {
    let http = http_client();
    futures_util::stream::iter(0..n)
        .map(|_| {
            let http = http.clone();
            async move { ok(Client::register_with(&http, base).await, "register") }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// What the machine is: read from `/proc` (blank where it can't be read).
#[derive(Debug, Clone)]
pub struct Machine {
    /// The CPU's model name.
    pub cpu: String,
    /// Its clock, as `/proc/cpuinfo` says (MHz).
    pub mhz: String,
    /// Available parallelism.
    pub nproc: usize,
    /// `MemTotal`, in KiB.
    pub memory_kib: u64,
    /// The kernel release.
    pub kernel: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The machine this runs on.
pub fn machine() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let memory_kib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Machine {
        cpu: field("model name").unwrap_or_else(|| "unknown".into()),
        mhz: field("cpu MHz").unwrap_or_default(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_kib,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
    }
}

/// The 1, 5 and 15-minute load averages.
pub fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
