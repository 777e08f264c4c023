//! A real `duet-relay` process for end-to-end tests and benchmarks, and a small async
//! client that speaks the `/v1` protocol (CBOR over HTTP, the live WebSocket) to it.
//!
//! ```no_run
//! # async fn demo(dir: &std::path::Path) -> Result<(), duet_e2e::relay::ClientError> {
//! use duet_e2e::relay::{Client, RelayProcess, random_blob};
//! let relay = RelayProcess::start(dir);
//! let alice = Client::register(&relay.url()).await?;
//! let space = alice.new_space().await?;
//! let pushed = alice.push(space, &[random_blob(100)]).await?;
//! assert_eq!(pushed.seqs, vec![1]);
//! # Ok(()) }
//! ```
//!
//! Traffic goes to 127.0.0.1 only: the relay listens there and the HTTP client ignores any
//! proxy settings.

mod attachments;
mod cast;
mod client;
mod http;
mod live;

pub use attachments::{OCTETS, attachment_hash, attachment_path, upload_path};
pub use cast::RawCouple;
pub use client::{Client, InviteSecret, RecoverySecret, random_blob, random_blob_id, random_bytes};
pub use http::{Body, ClientError, Response, http_client, refusal, refused, send, send_request};
pub use live::{LiveConn, LiveEvent, live_url};

pub use crate::binary::{is_release, target_dir, workspace_root};

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// What the relay prints on stdout once it is bound.
const LISTENING: &str = "duet-relay listening on http://";
/// How long a relay may take to bind (a cold start under a busy machine included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Environment variables that would otherwise configure the child relay behind our back.
const RELAY_ENV: &[&str] = &[
    "DUET_LISTEN",
    "DUET_DATA_DIR",
    "DUET_MAX_BODY_BYTES",
    "DUET_MAX_BLOB_BYTES",
    "DUET_MAX_BLOBS_PER_PUSH",
    "DUET_PUSHES_PER_MINUTE",
    "DUET_SPACE_QUOTA_BYTES",
    "DUET_SNAPSHOT_RETENTION_HOURS",
    "DUET_DATABASE_URL",
    "DUET_DATABASE_MAX_CONNECTIONS",
    "DUET_MAX_SPACES_PER_DEVICE",
    "DUET_MAX_PENDING_INVITES_PER_DEVICE",
    "DUET_INVITE_RETENTION_HOURS",
    "DUET_REGISTRATIONS_PER_HOUR",
    "DUET_REGISTRATION_TOKEN",
    "DUET_RECOVERY_ATTEMPTS_PER_HOUR",
    "DUET_RECOVERIES_PER_CLIENT_PER_HOUR",
    "DUET_TRUSTED_PROXIES",
    "DUET_MAX_CONNECTIONS",
    "DUET_MAX_CONNECTIONS_PER_IP",
    "DUET_HEADER_READ_TIMEOUT_SECS",
    "DUET_IDLE_TIMEOUT_SECS",
    "DUET_BODY_READ_TIMEOUT_SECS",
    "DUET_MAX_HEADER_BYTES",
    "DUET_BODY_MEMORY_BYTES",
    "DUET_ATTACHMENTS_URL",
    "DUET_MAX_ATTACHMENT_BYTES",
    "DUET_ATTACHMENT_QUOTA_BYTES",
    "DUET_ATTACHMENT_UPLOAD_TTL_SECS",
    "DUET_ATTACHMENT_SWEEP_SECS",
];
/// Per-address limits lifted for every test relay (through the environment, so a test's own
/// flags still win): every test client comes from 127.0.0.1, and tests register hundreds of
/// devices, open hundreds of connections and try many recoveries from it.
/// `tests/e2e/relay_limits.rs` and `relay_recovery.rs` set them explicitly where they test
/// them.
const LIFTED_FOR_LOOPBACK: &[(&str, &str)] = &[
    ("DUET_REGISTRATIONS_PER_HOUR", "0"),
    ("DUET_RECOVERIES_PER_CLIENT_PER_HOUR", "0"),
    ("DUET_MAX_CONNECTIONS_PER_IP", "0"),
];

/// The `duet-relay` binary (see [`workspace_binary`](crate::binary::workspace_binary)).
pub fn relay_binary() -> PathBuf {
    crate::binary::workspace_binary("duet-server", "duet-relay")
}

/// A `duet-relay` child process on 127.0.0.1 with its own data directory. Killed on drop.
#[derive(Debug)]
pub struct RelayProcess {
    child: Option<Child>,
    data_dir: PathBuf,
    args: Vec<String>,
    addr: SocketAddr,
    /// The temporary data directory of [`temp`](Self::temp): removed after the child is.
    _temp: Option<tempfile::TempDir>,
}

impl RelayProcess {
    /// Start a relay with default limits on a free port, storing in `data_dir`.
    pub fn start(data_dir: &Path) -> RelayProcess {
        Self::start_with(data_dir, &[])
    }

    /// Start a relay with extra command-line flags (e.g. `["--pushes-per-minute", "3"]`).
    /// [`restart`](Self::restart) keeps them.
    pub fn start_with(data_dir: &Path, args: &[&str]) -> RelayProcess {
        let mut relay = RelayProcess {
            child: None,
            data_dir: data_dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _temp: None,
        };
        relay.spawn();
        relay
    }

    /// Start a relay with default limits in a temporary data directory of its own, removed
    /// when the relay is dropped.
    pub fn temp() -> RelayProcess {
        Self::temp_with(&[])
    }

    /// [`temp_with`](Self::temp_with) the flags of one command line (`"--a 1 --b 2"`, split
    /// at white space).
    pub fn temp_flags(flags: &str) -> RelayProcess {
        let args: Vec<&str> = flags.split_whitespace().collect();
        Self::temp_with(&args)
    }

    /// [`temp`](Self::temp) with extra command-line flags, as [`start_with`](Self::start_with).
    pub fn temp_with(args: &[&str]) -> RelayProcess {
        let dir = tempfile::Builder::new()
            .prefix("duet-relay-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a relay's temporary directory: {e}"));
        let mut relay = Self::start_with(dir.path(), args);
        relay._temp = Some(dir);
        relay
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn(SocketAddr::from(([127, 0, 0, 1], 0))) {
            panic!("{e}");
        }
    }

    /// Start the child listening on `listen`; `Err` (with the relay's log) when it exits or
    /// stays silent instead of reporting its address (e.g. the port is still taken).
    fn try_spawn(&mut self, listen: SocketAddr) -> Result<(), String> {
        std::fs::create_dir_all(&self.data_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", self.data_dir.display()));
        // The relay logs to stderr; keep it out of the test output but at hand.
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log_path.display()));
        let mut cmd = Command::new(relay_binary());
        for var in RELAY_ENV {
            cmd.env_remove(var);
        }
        for (var, value) in LIFTED_FOR_LOOPBACK {
            cmd.env(var, value);
        }
        let filter = std::env::var("DUET_RELAY_LOG").unwrap_or_else(|_| "warn".into());
        let mut child = cmd
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning duet-relay: {e}"));
        let Some(stdout) = child.stdout.take() else {
            panic!("duet-relay has no stdout pipe");
        };
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        // Read the address, then keep draining stdout so the pipe never fills.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix(LISTENING)
                    && let (Some(tx), Ok(addr)) = (tx.take(), addr.parse())
                {
                    let _ = tx.send(addr);
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                self.addr = addr;
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!(
                    "duet-relay did not report its address ({e}; exit status {status:?}); log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ))
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory (holds `relay.sqlite3`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The relay's SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("relay.sqlite3")
    }

    /// Where the relay's stderr goes (`RUST_LOG` from `DUET_RELAY_LOG`, default `warn`).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("relay-stderr.log")
    }

    /// The child's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL the relay and reap it: no graceful shutdown, no flush.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the relay and wait (at most `within`) for it to exit by itself. Returns its
    /// exit status, or `None` when it had to be killed.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Start the relay again on the same data directory with the same flags (killing it
    /// first if it still runs). It binds a new port: use [`url`](Self::url) again.
    pub fn restart(&mut self) {
        self.kill_9();
        self.spawn();
    }

    /// Like [`restart`](Self::restart), but bound to the same address as before, so clients
    /// keep their URL (a device's `set_relay` with a new URL would mean a new relay). The
    /// port may be briefly unavailable after the kill; binding is retried for a while.
    pub fn restart_same_port(&mut self) {
        self.kill_9();
        let addr = self.addr;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.try_spawn(addr) {
                Ok(()) => return,
                Err(e) if std::time::Instant::now() >= deadline => {
                    panic!("restarting the relay on {addr}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}
