//! Relay benchmarks against real `duet-relay` processes (built `--release` by the harness,
//! since `cargo bench` runs an optimised build):
//!
//! - `append`: append throughput in blobs/s — several clients pushing batches of 100 blobs
//!   of ~200 bytes (target ≥ 20,000 blobs/s), and 1-blob pushes;
//! - `rss`: the relay's resident memory with 10,000 idle authenticated live connections
//!   (target ≤ 500 MB; SQLite only);
//! - `latency`: push → the other member's `new` frame on loopback, with 1,000 other idle
//!   devices connected (targets p50 ≤ 20 ms, p99 ≤ 100 ms).
//!
//! `append` and `latency` run on each selected backend, one after the other in the same
//! run: the embedded SQLite; PostgreSQL with one relay node; PostgreSQL with two relay nodes
//! sharing one database (the clients split across both nodes; for latency the pusher on node
//! 1 and the listener on node 2, so each frame crosses LISTEN/NOTIFY). Every configuration
//! gets a fresh SQLite file or a fresh PostgreSQL database (`duet_e2e::pg::fresh_database`,
//! dropped afterwards) on the server in `DUET_TEST_DATABASE_URL`
//! (`eval "$(scripts/postgres.sh start)"` starts a throwaway one).
//!
//! `cargo bench -p duet-e2e --bench relay -- [--backend all|sqlite|postgres] [SECTION...]`
//! with sections `append`, `rss`, `latency` (default: all three). The backend may also come
//! from `DUET_BENCH_BACKEND`; by default all backends when `DUET_TEST_DATABASE_URL` is set,
//! else SQLite only (with a note).

use std::time::{Duration, Instant};

use duet_e2e::bench::{self, ms, register_many, tempdir};
use duet_e2e::ok;
use duet_e2e::procfs::status_kib;
use duet_e2e::relay::{
    Client, LiveConn, LiveEvent, RelayProcess, http_client, random_blob, relay_binary,
};
use duet_e2e::stats::percentile;
use duet_proto::live::ServerFrame;
use duet_proto::{Push, PushBlob};
use futures_util::StreamExt;
use uuid::Uuid;

fn main() {
    let args = Args::parse();
    let wanted = |name: &str| {
        args.filters.is_empty() || args.filters.iter().any(|f| name.contains(f.as_str()))
    };
    let backends = args.backends();
    // 10,000 sockets on each side of loopback (the relay inherits the limit).
    bench::raise_open_files_limit();
    let rt = bench::runtime();
    machine_info();
    let pg = args
        .pg_server
        .as_deref()
        .filter(|_| backends.iter().any(|b| b.is_postgres()))
        .map(|s| rt.block_on(PgServer::probe(s)));
    println!("backends: {}", labels(&backends, "; "));
    let mut summary = Summary::default();
    if wanted("append") {
        rt.block_on(append(&backends, pg.as_ref(), &mut summary));
    }
    if wanted("rss") {
        if backends.contains(&Backend::Sqlite) {
            rt.block_on(rss_idle_connections());
        } else {
            println!("\n== rss: measured on SQLite only; skipped (SQLite not selected)");
        }
    }
    if wanted("latency") {
        rt.block_on(live_latency(&backends, pg.as_ref(), &mut summary));
    }
    summary.print(&backends);
}

// ---------------------------------------------------------------------------------------
// Backends and deployments
// ---------------------------------------------------------------------------------------

/// The command line: `[--backend all|sqlite|postgres] [FILTER...]` (cargo adds `--bench`).
#[derive(Debug)]
struct Args {
    /// Sections to run (`append`, `rss`, `latency`; a substring matches); none: all.
    filters: Vec<String>,
    backend: String,
    pg_server: Option<String>,
}

impl Args {
    fn parse() -> Args {
        let mut filters = Vec::new();
        let mut backend = std::env::var("DUET_BENCH_BACKEND")
            .ok()
            .filter(|b| !b.is_empty());
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "--backend" {
                backend = it.next();
            } else if let Some(v) = a.strip_prefix("--backend=") {
                backend = Some(v.to_string());
            } else if !a.starts_with('-') {
                filters.push(a);
            }
        }
        let pg_server = std::env::var("DUET_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let backend = match backend {
            Some(b) => b,
            None if pg_server.is_some() => "all".into(),
            None => {
                println!(
                    "note: DUET_TEST_DATABASE_URL is not set: SQLite only. For the PostgreSQL \
                     figures too: eval \"$(scripts/postgres.sh start)\" and run again (`--backend \
                     sqlite` chooses SQLite without this note)"
                );
                "sqlite".into()
            }
        };
        Args {
            filters,
            backend,
            pg_server,
        }
    }

    fn backends(&self) -> Vec<Backend> {
        let pg = [
            Backend::Postgres { nodes: 1 },
            Backend::Postgres { nodes: 2 },
        ];
        let chosen: Vec<Backend> = match self.backend.as_str() {
            "all" => [Backend::Sqlite].into_iter().chain(pg).collect(),
            "sqlite" => vec![Backend::Sqlite],
            "postgres" | "pg" => pg.to_vec(),
            other => panic!("--backend {other}: expected all, sqlite or postgres"),
        };
        if chosen.iter().any(|b| b.is_postgres()) && self.pg_server.is_none() {
            panic!(
                "--backend {} needs a PostgreSQL server in DUET_TEST_DATABASE_URL \
                 (eval \"$(scripts/postgres.sh start)\" starts a throwaway one)",
                self.backend
            );
        }
        chosen
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres { nodes: usize },
}

impl Backend {
    fn label(self) -> String {
        match self {
            Backend::Sqlite => "SQLite".into(),
            Backend::Postgres { nodes: 1 } => "PostgreSQL, 1 node".into(),
            Backend::Postgres { nodes } => format!("PostgreSQL, {nodes} nodes"),
        }
    }

    fn is_postgres(self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// The PostgreSQL server the PostgreSQL configurations use.
#[derive(Debug)]
struct PgServer {
    url: String,
    /// The postmaster's pid when the server runs on this machine (for its CPU time).
    postmaster: Option<u32>,
}

impl PgServer {
    /// Connect once: print the server's version and the settings that matter for commits,
    /// and find its postmaster (the parent of our backend process).
    async fn probe(url: &str) -> PgServer {
        let mut conn = pg_connect(url).await;
        let version: String = ok(
            sqlx::query_scalar("SELECT version()")
                .fetch_one(&mut conn)
                .await,
            "SELECT version()",
        );
        let settings: Vec<(String, String)> = ok(
            sqlx::query_as(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('fsync', \
                 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'commit_delay', \
                 'shared_buffers', 'max_connections', 'wal_level') ORDER BY name",
            )
            .fetch_all(&mut conn)
            .await,
            "reading pg_settings",
        );
        let backend_pid: i32 = ok(
            sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut conn)
                .await,
            "pg_backend_pid()",
        );
        let _ = sqlx::Connection::close(conn).await;
        let postmaster = u32::try_from(backend_pid)
            .ok()
            .and_then(|pid| stat_fields(&pid.to_string()).get(1).map(|p| *p as u32))
            .filter(|p| *p > 1);
        println!("== PostgreSQL");
        println!("server: {version}");
        println!(
            "settings: {}",
            settings
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match postmaster {
            Some(pid) => println!("postmaster pid {pid} (its processes' CPU time is reported)"),
            None => println!("postmaster not found on this machine: no PostgreSQL CPU figures"),
        }
        PgServer {
            url: url.to_string(),
            postmaster,
        }
    }

    /// CPU seconds used so far by the postmaster and its children (backends, WAL writer,
    /// checkpointer...). Children that exit take their time with them; the relays' pooled
    /// connections stay for the whole measurement.
    fn cpu(&self) -> f64 {
        let Some(pm) = self.postmaster else {
            return 0.0;
        };
        let mut total = cpu_secs(&pm.to_string());
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.bytes().all(|b| b.is_ascii_digit())
                    && stat_fields(&name).get(1).copied() == Some(f64::from(pm))
                {
                    total += cpu_secs(&name);
                }
            }
        }
        total
    }
}

async fn pg_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::ConnectOptions;
    let opts: sqlx::postgres::PgConnectOptions = ok(url.parse(), "PostgreSQL URL");
    ok(opts.connect().await, "connecting to PostgreSQL")
}

/// One configuration under test: one or more relay processes on a fresh store.
#[derive(Debug)]
struct Deployment {
    backend: Backend,
    relays: Vec<RelayProcess>,
    /// The relays' data directories (their logs; SQLite's file).
    _dirs: Vec<tempfile::TempDir>,
    /// The fresh PostgreSQL database, when on PostgreSQL.
    database: Option<String>,
}

impl Deployment {
    async fn start(backend: Backend, tag: &str, pg: Option<&PgServer>) -> Deployment {
        // Limits that would throttle the load itself are lifted (the per-device push
        // rate); everything else is the default.
        let mut flags = vec!["--pushes-per-minute".to_string(), "100000000".to_string()];
        let (nodes, database) = match backend {
            Backend::Sqlite => (1, None),
            Backend::Postgres { nodes } => {
                let Some(pg) = pg else {
                    panic!("{}: no PostgreSQL server", backend.label())
                };
                let db = duet_e2e::pg::fresh_database(&pg.url).await;
                flags.extend(["--database-url".to_string(), db.clone()]);
                (nodes, Some(db))
            }
        };
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let mut dirs = Vec::new();
        let mut relays = Vec::new();
        for node in 1..=nodes {
            let dir = tempdir(&format!("{tag}-node{node}"));
            relays.push(RelayProcess::start_with(dir.path(), &flags));
            dirs.push(dir);
        }
        Deployment {
            backend,
            relays,
            _dirs: dirs,
            database,
        }
    }

    /// Each node's base URL.
    fn urls(&self) -> Vec<String> {
        self.relays.iter().map(RelayProcess::url).collect()
    }

    /// CPU seconds the relay processes have used so far.
    fn relay_cpu(&self) -> f64 {
        self.relays
            .iter()
            .map(|r| cpu_secs(&r.pid().unwrap_or(0).to_string()))
            .sum()
    }

    /// Each node's resident memory, in MiB.
    fn rss(&self) -> String {
        self.relays
            .iter()
            .map(|r| format!("{:.1} MiB", mib(rss_kib(r.pid().unwrap_or(0)).0)))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Size of the store: the SQLite file, or the PostgreSQL database.
    async fn store_bytes(&self, pg: Option<&PgServer>) -> u64 {
        match (&self.database, pg) {
            (Some(db), Some(pg)) => {
                let mut conn = pg_connect(&pg.url).await;
                let size: i64 = ok(
                    sqlx::query_scalar("SELECT pg_database_size($1)")
                        .bind(db_name(db))
                        .fetch_one(&mut conn)
                        .await,
                    "pg_database_size",
                );
                let _ = sqlx::Connection::close(conn).await;
                size.max(0) as u64
            }
            _ => self
                .relays
                .first()
                .and_then(|r| std::fs::metadata(r.db_path()).ok())
                .map(|m| m.len())
                .unwrap_or(0),
        }
    }

    /// Stop the relays and drop the PostgreSQL database.
    async fn finish(mut self, pg: Option<&PgServer>) {
        for r in &mut self.relays {
            r.kill_9();
        }
        if let (Some(db), Some(pg)) = (self.database.take(), pg) {
            let mut conn = pg_connect(&pg.url).await;
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db_name(&db));
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                println!("note: could not drop the bench database: {e}");
            }
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// The database name at the end of a URL (`fresh_database` makes `duet_e2e_<hex>`).
fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The figures for the summary table, in the order measured.
#[derive(Debug, Default)]
struct Summary {
    rows: Vec<(String, Backend, String)>,
}

impl Summary {
    fn add(&mut self, figure: &str, backend: Backend, value: String) {
        self.rows.push((figure.to_string(), backend, value));
    }

    fn print(&self, backends: &[Backend]) {
        if self.rows.is_empty() {
            return;
        }
        println!("\n== summary (this run)");
        let mut figures: Vec<&str> = Vec::new();
        for (f, _, _) in &self.rows {
            if !figures.contains(&f.as_str()) {
                figures.push(f);
            }
        }
        println!("| figure | {} |", labels(backends, " | "));
        println!("| --- |{}", " --- |".repeat(backends.len()));
        for f in figures {
            let cells: Vec<String> = backends
                .iter()
                .map(|b| {
                    self.rows
                        .iter()
                        .find(|(rf, rb, _)| rf == f && rb == b)
                        .map(|(_, _, v)| v.clone())
                        .unwrap_or_else(|| "—".into())
                })
                .collect();
            println!("| {f} | {} |", cells.join(" | "));
        }
    }
}

/// The backends' labels, joined with `sep`.
fn labels(backends: &[Backend], sep: &str) -> String {
    let labels: Vec<String> = backends.iter().map(|b| b.label()).collect();
    labels.join(sep)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine_info() {
    let m = bench::machine();
    println!("== machine");
    println!("cpu: {} × {}", m.cpu, m.nproc);
    println!("memory: {:.1} GiB", m.memory_kib as f64 / 1024.0 / 1024.0);
    println!("kernel: {}", m.kernel);
    println!("load average at start: {}", bench::loadavg());
    println!("temp dir: {}", bench::tmp_root().display());
    println!("relay: {}", relay_binary().display());
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"))
}

/// The numeric fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces): index 0 is the state (not numeric: 0), 1 the parent pid, 11 utime, 12 stime.
fn stat_fields(pid: &str) -> Vec<f64> {
    let stat = read(&format!("/proc/{pid}/stat"));
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect()
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
    let f = stat_fields(pid);
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / ticks
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The nearest-rank `p` percentile of sorted latencies.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    percentile(sorted, p).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// (a) append throughput
// ---------------------------------------------------------------------------------------

/// `clients` devices, each pushing `pushes` pre-encoded pushes of `per_push` blobs of
/// `blob_bytes` into its own space, all at once; device `i` talks to node `i % nodes`.
/// Returns (blobs/s, push latencies).
async fn append_run(
    bases: &[String],
    clients: usize,
    pushes: usize,
    per_push: usize,
    blob_bytes: usize,
) -> (f64, Vec<Duration>) {
    let http = http_client();
    let mut work = Vec::new();
    for i in 0..clients {
        let base = &bases[i % bases.len()];
        let d = ok(Client::register_with(&http, base).await, "register");
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

async fn append(backends: &[Backend], pg: Option<&PgServer>, summary: &mut Summary) {
    println!(
        "\n== append throughput (SQLite: synchronous=FULL, WAL; PostgreSQL: the server's \
         settings above)"
    );
    for (clients, pushes, per_push, bytes) in [(5, 400, 100, 200), (5, 1000, 1, 200)] {
        for &backend in backends {
            let deployment = Deployment::start(backend, "append", pg).await;
            let bases = deployment.urls();
            // Warm up (connections, page cache, statement cache) on a separate space, on
            // every node.
            for base in &bases {
                let _ = append_run(std::slice::from_ref(base), 1, 20, per_push, bytes).await;
            }
            let (relay_cpu, bench_cpu) = (deployment.relay_cpu(), cpu_secs("self"));
            let pg_cpu = pg.map(PgServer::cpu).unwrap_or(0.0);
            let (rate, lat) = append_run(&bases, clients, pushes, per_push, bytes).await;
            let blobs = (clients * pushes * per_push) as f64;
            let relay_cpu = deployment.relay_cpu() - relay_cpu;
            // The bench process's CPU includes encoding the bodies (done before the clock).
            let bench_cpu = cpu_secs("self") - bench_cpu;
            let pg_cpu = pg.map(PgServer::cpu).unwrap_or(0.0) - pg_cpu;
            let db = deployment.store_bytes(pg).await;
            let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
            println!(
                "append [{}]: {clients} clients × {pushes} pushes × {per_push} blob(s) of \
                 {bytes} B ({} KiB in flight): {rate:.0} blobs/s ({:.0} pushes/s); push \
                 latency p50 {:.2} ms, p99 {:.2} ms; store {:.1} MiB",
                backend.label(),
                clients * per_push * bytes / 1024,
                rate / per_push as f64,
                ms(p50),
                ms(p99),
                db as f64 / 1024.0 / 1024.0,
            );
            let pg_line = if backend.is_postgres() {
                format!(
                    "; PostgreSQL {pg_cpu:.2} s ({:.1} µs per blob)",
                    pg_cpu * 1e6 / blobs
                )
            } else {
                String::new()
            };
            println!(
                "append cpu [{}]: relay{} {relay_cpu:.2} s ({:.1} µs per blob, {:.0} blobs per \
                 relay CPU-second){pg_line}; bench process {bench_cpu:.2} s incl. encoding; \
                 load average now {}",
                backend.label(),
                if deployment.relays.len() > 1 {
                    "s (together)"
                } else {
                    ""
                },
                relay_cpu * 1e6 / blobs,
                blobs / relay_cpu.max(1e-9),
                bench::loadavg(),
            );
            let figure = if per_push == 100 {
                println!(
                    "append target ≥ 20000 blobs/s [{}]: {}",
                    backend.label(),
                    if rate >= 20_000.0 { "MET" } else { "NOT MET" }
                );
                "append, 5 clients × 400 pushes × 100 blobs of 200 B (blobs/s)"
            } else {
                "append, 5 clients × 1,000 pushes × 1 blob of 200 B (blobs/s)"
            };
            summary.add(
                figure,
                backend,
                format!(
                    "{rate:.0} (push p50 {:.2} ms, p99 {:.2} ms)",
                    ms(p50),
                    ms(p99)
                ),
            );
            deployment.finish(pg).await;
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
    let relay = bench::relay(dir.path());
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

async fn live_latency(backends: &[Backend], pg: Option<&PgServer>, summary: &mut Summary) {
    for &backend in backends {
        let deployment = Deployment::start(backend, "latency", pg).await;
        live_latency_on(&deployment, summary).await;
        deployment.finish(pg).await;
    }
}

/// The pusher talks to the first node, the listening partner to the last one (another
/// node when there are two: every frame then crosses LISTEN/NOTIFY); the idle devices
/// alternate between the nodes.
async fn live_latency_on(deployment: &Deployment, summary: &mut Summary) {
    const IDLE: usize = 1_000;
    const SAMPLES: usize = 1_000;
    let backend = deployment.backend;
    let bases = deployment.urls();
    let (first, last) = (&bases[0], &bases[bases.len() - 1]);
    println!(
        "\n== live latency [{}]: push → the partner's `new` frame, {IDLE} other devices \
         connected{}",
        backend.label(),
        if bases.len() > 1 {
            " (pusher on node 1, partner on node 2, idle devices split across both)"
        } else {
            ""
        }
    );
    let idle_pairs = couples(first, IDLE).await;
    let idle: Vec<Client> = idle_pairs
        .iter()
        .flat_map(|(a, b, _)| [a.clone(), b.clone()])
        .enumerate()
        .map(|(i, c)| c.at(&bases[i % bases.len()]))
        .collect();
    let _idle_conns = open_live(idle, 64).await;

    let pusher = ok(Client::register(first).await, "register");
    let partner = ok(Client::register(last).await, "register");
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
    let (p50, p90, p99) = (pct(&lat, 0.5), pct(&lat, 0.9), pct(&lat, 0.99));
    println!(
        "latency [{}]: {} samples; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (relay RSS {})",
        backend.label(),
        lat.len(),
        ms(p50),
        ms(p90),
        ms(p99),
        ms(lat.last().copied().unwrap_or_default()),
        deployment.rss(),
    );
    println!(
        "latency targets p50 ≤ 20 ms, p99 ≤ 100 ms [{}]: {}",
        backend.label(),
        if p50 <= Duration::from_millis(20) && p99 <= Duration::from_millis(100) {
            "MET"
        } else {
            "NOT MET"
        }
    );
    summary.add(
        "live latency, push → partner's frame, 1,000 idle devices (p50 / p99)",
        backend,
        format!("{:.2} ms / {:.2} ms", ms(p50), ms(p99)),
    );
}
