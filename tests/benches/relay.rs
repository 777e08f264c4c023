//! Relay benchmarks against a real `duet-relay` process (built `--release` by the harness,
//! since `cargo bench` runs an optimised build), on the embedded SQLite backend:
//!
//! - `append`: append throughput in blobs/s — several clients pushing batches of 100 blobs
//!   of ~200 bytes (target ≥ 20,000 blobs/s), and 1-blob pushes;
//! - `rss`: the relay's resident memory with 10,000 idle authenticated live connections
//!   (target ≤ 500 MB);
//! - `latency`: push → the other member's `new` frame on loopback, with 1,000 other idle
//!   devices connected (targets p50 ≤ 20 ms, p99 ≤ 100 ms).
//!
//! `cargo bench -p duet-e2e --bench relay [append|rss|latency]`

use std::fmt::Display;
use std::path::Path;
use std::time::{Duration, Instant};

use duet_e2e::relay::{
    Client, LiveConn, LiveEvent, RelayProcess, http_client, random_blob, relay_binary,
};
use duet_proto::live::ServerFrame;
use duet_proto::{Push, PushBlob};
use futures_util::StreamExt;
use uuid::Uuid;

/// Unwrap with context (benches panic on any failure: a number from a broken run is worse
/// than none).
fn ok<T, E: Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // 10,000 sockets on each side of loopback: raise the soft limit to the hard one; the
    // relay inherits it.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => println!("RLIMIT_NOFILE raised to {n}"),
        Err(e) => println!("RLIMIT_NOFILE not raised: {e}"),
    }
    let rt = ok(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        "tokio runtime",
    );
    machine_info();
    if wanted("append") {
        rt.block_on(append());
    }
    if wanted("rss") {
        rt.block_on(rss_idle_connections());
    }
    if wanted("latency") {
        rt.block_on(live_latency());
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine_info() {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown");
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!("== machine");
    println!("cpu: {model} × {cpus}");
    println!(
        "memory: {:.1} GiB",
        mem.parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0
    );
    println!("kernel: {}", read("/proc/sys/kernel/osrelease").trim());
    println!("load average at start: {}", read("/proc/loadavg").trim());
    println!("temp dir: {}", std::env::temp_dir().display());
    println!("relay: {}", relay_binary().display());
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = read(&format!("/proc/{pid}/status"));
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) a process has used, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = read(&format!("/proc/{pid}/stat"));
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / ticks
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempdir(tag: &str) -> tempfile::TempDir {
    ok(
        tempfile::Builder::new()
            .prefix(&format!("duet-bench-{tag}-"))
            .tempdir(),
        "temp dir",
    )
}

/// A relay for benchmarking: limits that would throttle the load itself are lifted (the
/// per-device push rate), everything else is the default.
fn bench_relay(dir: &Path) -> RelayProcess {
    RelayProcess::start_with(dir, &["--pushes-per-minute", "100000000"])
}

async fn register_many(base: &str, n: usize, concurrency: usize) -> Vec<Client> {
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

// ---------------------------------------------------------------------------------------
// (a) append throughput
// ---------------------------------------------------------------------------------------

/// `clients` devices, each pushing `pushes` pre-encoded pushes of `per_push` blobs of
/// `blob_bytes` into its own space, all at once. Returns (blobs/s, push latencies).
async fn append_run(
    base: &str,
    clients: usize,
    pushes: usize,
    per_push: usize,
    blob_bytes: usize,
) -> (f64, Vec<Duration>) {
    let devices = register_many(base, clients, clients).await;
    let mut work = Vec::new();
    for d in devices {
        let space = ok(d.new_space().await, "create space");
        // Encode up front: the clients share the two cores with the relay.
        let bodies: Vec<Vec<u8>> = (0..pushes)
            .map(|_| {
                duet_proto::to_cbor(&Push {
                    blobs: (0..per_push).map(|_| random_blob(blob_bytes)).collect(),
                })
            })
            .collect();
        work.push((d, space, bodies));
    }
    let start = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(d, space, bodies)| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(bodies.len());
                for body in bodies {
                    let t = Instant::now();
                    let pushed = ok(d.push_encoded(space, body).await, "push");
                    lat.push(t.elapsed());
                    assert_eq!(pushed.seqs.len(), per_push);
                }
                let head = ok(d.space(space).await, "space").head;
                assert_eq!(head as usize, pushes * per_push, "every blob appended");
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(ok(t.await, "push task"));
    }
    let elapsed = start.elapsed();
    let blobs = clients * pushes * per_push;
    lat.sort();
    (blobs as f64 / elapsed.as_secs_f64(), lat)
}

async fn append() {
    println!("\n== append throughput (SQLite, synchronous=FULL, WAL)");
    for (clients, pushes, per_push, bytes) in [(5, 400, 100, 200), (5, 1000, 1, 200)] {
        let dir = tempdir("append");
        let relay = bench_relay(dir.path());
        let base = relay.url();
        // Warm up (connections, page cache, statement cache) on a separate space.
        let _ = append_run(&base, 1, 20, per_push, bytes).await;
        let pid = relay.pid().unwrap_or(0).to_string();
        let (relay_cpu, bench_cpu) = (cpu_secs(&pid), cpu_secs("self"));
        let (rate, lat) = append_run(&base, clients, pushes, per_push, bytes).await;
        let blobs = (clients * pushes * per_push) as f64;
        let relay_cpu = cpu_secs(&pid) - relay_cpu;
        // The bench process's CPU includes encoding the bodies (done before the clock).
        let bench_cpu = cpu_secs("self") - bench_cpu;
        let db = std::fs::metadata(relay.db_path())
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "append: {clients} clients × {pushes} pushes × {per_push} blob(s) of {bytes} B \
             ({} KiB in flight): {rate:.0} blobs/s ({:.0} pushes/s); push latency p50 {:.2} ms, \
             p99 {:.2} ms; db {:.1} MiB",
            clients * per_push * bytes / 1024,
            rate / per_push as f64,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            db as f64 / 1024.0 / 1024.0,
        );
        println!(
            "append cpu: relay {relay_cpu:.2} s ({:.1} µs per blob, {:.0} blobs per relay \
             CPU-second); bench process {bench_cpu:.2} s incl. encoding; load average now {}",
            relay_cpu * 1e6 / blobs,
            blobs / relay_cpu.max(1e-9),
            read("/proc/loadavg").trim(),
        );
        if per_push == 100 {
            println!(
                "append target ≥ 20000 blobs/s: {}",
                if rate >= 20_000.0 { "MET" } else { "NOT MET" }
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// (b) memory with 10,000 idle live connections
// ---------------------------------------------------------------------------------------

/// Devices in couples: each pair shares a space (as a couple's phones would).
async fn couples(base: &str, devices: usize) -> Vec<(Client, Client, Uuid)> {
    let all = register_many(base, devices, 32).await;
    let mut pairs = Vec::new();
    let mut it = all.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        pairs.push((a, b));
    }
    futures_util::stream::iter(pairs)
        .map(|(a, b)| async move {
            let space = ok(a.new_space().await, "create space");
            ok(a.invite_into(space, &b).await, "add member");
            (a, b, space)
        })
        .buffer_unordered(32)
        .collect()
        .await
}

/// One live connection per client, in the clients' order.
async fn open_live(clients: Vec<Client>, concurrency: usize) -> Vec<LiveConn> {
    futures_util::stream::iter(clients)
        .map(|c| async move { ok(c.live().await, "open a live connection") })
        .buffered(concurrency)
        .collect()
        .await
}

async fn rss_idle_connections() {
    const CONNECTIONS: usize = 10_000;
    println!("\n== relay RSS with {CONNECTIONS} idle authenticated live connections");
    let dir = tempdir("rss");
    let relay = bench_relay(dir.path());
    let base = relay.url();
    let pid = relay.pid().unwrap_or(0);
    let (idle_rss, _) = rss_kib(pid);
    let t = Instant::now();
    let pairs = couples(&base, CONNECTIONS).await;
    println!(
        "setup: {} devices in {} two-device spaces in {:.1} s",
        pairs.len() * 2,
        pairs.len(),
        t.elapsed().as_secs_f64()
    );
    let (before, _) = rss_kib(pid);
    let clients: Vec<Client> = pairs
        .iter()
        .flat_map(|(a, b, _)| [a.clone(), b.clone()])
        .collect();
    let t = Instant::now();
    let mut conns = open_live(clients, 64).await;
    println!(
        "opened {} live connections (auth + ready each) in {:.1} s",
        conns.len(),
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after, hwm) = rss_kib(pid);
    // They are live, not just open: a push reaches the partner's connection.
    let mut checked = 0;
    for i in (0..pairs.len()).step_by(pairs.len() / 10) {
        let (a, _, space) = &pairs[i];
        let pushed = ok(a.push(*space, &[random_blob(200)]).await, "push");
        match conns[2 * i + 1].recv(Duration::from_secs(10)).await {
            LiveEvent::Frame(ServerFrame::New { space_id, seq, .. }) => {
                assert_eq!((space_id, seq), (*space, pushed.seqs[0]));
                checked += 1;
            }
            other => panic!("connection {} is not live: {other:?}", 2 * i + 1),
        }
    }
    let per_conn = (after.saturating_sub(before)) as f64 / CONNECTIONS as f64;
    println!("rss: fresh relay {:.1} MiB", mib(idle_rss));
    println!(
        "rss: after setup, before connections {:.1} MiB",
        mib(before)
    );
    println!(
        "rss: with {CONNECTIONS} idle live connections {:.1} MiB (peak {:.1} MiB); \
         {per_conn:.1} KiB per connection; {checked} sampled connections delivered a push",
        mib(after),
        mib(hwm)
    );
    println!(
        "rss target ≤ 500 MB: {}",
        if (after as f64) * 1024.0 <= 500e6 {
            "MET"
        } else {
            "NOT MET"
        }
    );
    for c in conns.drain(..) {
        drop(c);
    }
}

// ---------------------------------------------------------------------------------------
// (c) live latency
// ---------------------------------------------------------------------------------------

async fn live_latency() {
    const IDLE: usize = 1_000;
    const SAMPLES: usize = 1_000;
    println!("\n== live latency: push → the partner's `new` frame, {IDLE} other devices connected");
    let dir = tempdir("latency");
    let relay = bench_relay(dir.path());
    let base = relay.url();
    let idle_pairs = couples(&base, IDLE).await;
    let idle: Vec<Client> = idle_pairs
        .iter()
        .flat_map(|(a, b, _)| [a.clone(), b.clone()])
        .collect();
    let _idle_conns = open_live(idle, 64).await;

    let pusher = ok(Client::register(&base).await, "register");
    let partner = ok(Client::register(&base).await, "register");
    let space = ok(pusher.new_space().await, "space");
    ok(pusher.invite_into(space, &partner).await, "member");
    let mut live = ok(partner.live().await, "live");
    // The reader stamps each frame as it arrives.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant, bool)>();
    tokio::spawn(async move {
        loop {
            match live.recv(Duration::from_secs(60)).await {
                LiveEvent::Frame(ServerFrame::New { seq, blob, .. }) => {
                    if tx.send((seq, Instant::now(), blob.is_some())).is_err() {
                        return;
                    }
                }
                LiveEvent::Frame(f) => panic!("unexpected frame {f:?}"),
                LiveEvent::Closed | LiveEvent::Timeout => return,
            }
        }
    });
    let mut lat = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 50 {
        let blob: PushBlob = random_blob(200);
        let t0 = Instant::now();
        let pushed = ok(pusher.push(space, &[blob]).await, "push");
        let (seq, at, inline) = ok(
            tokio::time::timeout(Duration::from_secs(10), rx.recv()).await,
            "frame within 10 s",
        )
        .unwrap_or_else(|| panic!("live reader ended"));
        assert_eq!(seq, pushed.seqs[0]);
        assert!(inline, "a 200-byte blob rides inline");
        if i >= 50 {
            // The first 50 warm up.
            lat.push(at.duration_since(t0));
        }
        // A person types, then pauses: don't measure a queue.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat.sort();
    let (p50, p90, p99) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
    );
    println!(
        "latency: {} samples; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (relay RSS {:.1} MiB)",
        lat.len(),
        ms(p50),
        ms(p90),
        ms(p99),
        ms(lat.last().copied().unwrap_or_default()),
        mib(rss_kib(relay.pid().unwrap_or(0)).0),
    );
    println!(
        "latency targets p50 ≤ 20 ms, p99 ≤ 100 ms: {}",
        if p50 <= Duration::from_millis(20) && p99 <= Duration::from_millis(100) {
            "MET"
        } else {
            "NOT MET"
        }
    );
}
