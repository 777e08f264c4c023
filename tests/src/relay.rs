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

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{
    AddMember, CBOR, CreateInvite, CreateSpace, ErrorBody, ErrorCode, InviteCreated, InviteKind,
    JoinInvite, Joined, LogBlob, Pulled, Push, PushBlob, Pushed, Registered, Snapshot, SpaceInfo,
    SpaceKind, SpaceList, WhoAmI,
};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use reqwest::Method;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

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
    "DUET_TRUSTED_PROXIES",
    "DUET_MAX_CONNECTIONS",
    "DUET_MAX_CONNECTIONS_PER_IP",
    "DUET_HEADER_READ_TIMEOUT_SECS",
    "DUET_IDLE_TIMEOUT_SECS",
    "DUET_BODY_READ_TIMEOUT_SECS",
    "DUET_MAX_HEADER_BYTES",
    "DUET_BODY_MEMORY_BYTES",
];
/// Per-address limits lifted for every test relay (through the environment, so a test's own
/// flags still win): every test client comes from 127.0.0.1, and tests register hundreds of
/// devices and open hundreds of connections from it. `tests/relay_limits.rs` sets them
/// explicitly where it tests them.
const LIFTED_FOR_LOOPBACK: &[(&str, &str)] = &[
    ("DUET_REGISTRATIONS_PER_HOUR", "0"),
    ("DUET_MAX_CONNECTIONS_PER_IP", "0"),
];

// ---------------------------------------------------------------------------------------
// The relay process
// ---------------------------------------------------------------------------------------

/// Whether this test or bench binary is an optimised build (then the relay is one too).
pub fn is_release() -> bool {
    !cfg!(debug_assertions)
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root when it is
/// relative) or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The `duet-relay` binary, built once per test process with the same profile as the
/// caller (`--release` when the caller is optimised).
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_relay).clone()
}

fn build_relay() -> PathBuf {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "duet-server",
        "--bin",
        "duet-relay",
    ]);
    if is_release() {
        cmd.arg("--release");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} build: {e}", cargo.display()));
    if !out.status.success() {
        panic!(
            "building duet-relay failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let profile = if is_release() { "release" } else { "debug" };
    let bin = target_dir()
        .join(profile)
        .join(format!("duet-relay{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "no relay binary at {}", bin.display());
    bin
}

/// A `duet-relay` child process on 127.0.0.1 with its own data directory. Killed on drop.
#[derive(Debug)]
pub struct RelayProcess {
    child: Option<Child>,
    data_dir: PathBuf,
    args: Vec<String>,
    addr: SocketAddr,
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
        };
        relay.spawn();
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

// ---------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------

/// An HTTP client for the relay: no proxy (traffic stays on loopback), bounded waits.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"))
}

/// A request body and its content type.
#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Body {
    /// A CBOR body.
    pub fn cbor<T: serde::Serialize>(v: &T) -> Body {
        Body {
            content_type: CBOR.into(),
            bytes: duet_proto::to_cbor(v),
        }
    }

    /// Any bytes with any content type.
    pub fn raw(content_type: &str, bytes: impl Into<Vec<u8>>) -> Body {
        Body {
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// The typed error body, when this is one.
    pub fn error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error code, when this is a typed error.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error().map(|e| e.code)
    }

    /// Decode a CBOR body.
    pub fn cbor<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        duet_proto::from_cbor(&self.body).map_err(|e| ClientError::Unexpected {
            status: self.status,
            body: format!("undecodable CBOR body: {e}"),
        })
    }

    /// `Ok(self)` on a 2xx; the typed error otherwise.
    pub fn ok(self) -> Result<Response, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(match self.error() {
            Some(e) => ClientError::Api {
                status: self.status,
                code: e.code,
                message: e.message,
                retry_after: self.retry_after.as_deref().and_then(|s| s.parse().ok()),
            },
            None => ClientError::Unexpected {
                status: self.status,
                body: String::from_utf8_lossy(&self.body).into_owned(),
            },
        })
    }
}

/// Send one request: `path` is appended to `base` (`http://127.0.0.1:PORT`); `token`
/// becomes `Authorization: Bearer <token>`.
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Body>,
) -> Result<Response, ClientError> {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header(reqwest::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, b.content_type)
            .body(b.bytes);
    }
    let resp = req.send().await.map_err(transport)?;
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(transport)?.to_vec();
    Ok(Response {
        status,
        content_type,
        retry_after,
        body,
    })
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The relay answered with a typed error.
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        retry_after: Option<u64>,
    },
    /// The relay answered with something that is not a typed error (or undecodable).
    Unexpected { status: u16, body: String },
    /// No answer: refused, reset, timed out (e.g. the relay was killed mid-request).
    Transport(String),
}

impl ClientError {
    /// The typed error code, if the relay sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, if the relay answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::Transport(_) => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Api {
                status,
                code,
                message,
                ..
            } => write!(f, "{status} {code}: {message}"),
            ClientError::Unexpected { status, body } => write!(f, "{status}: {body}"),
            ClientError::Transport(e) => write!(f, "transport: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

// ---------------------------------------------------------------------------------------
// The protocol client
// ---------------------------------------------------------------------------------------

/// Sixteen random bytes: a blob id.
pub fn random_blob_id() -> Vec<u8> {
    random_bytes(16)
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A blob with a random id and `len` random bytes.
pub fn random_blob(len: usize) -> PushBlob {
    PushBlob {
        id: random_blob_id(),
        data: random_bytes(len),
    }
}

/// The join secret of an invite as the inviter derives it: the relay gets only `hash`.
#[derive(Debug, Clone)]
pub struct InviteSecret {
    pub invite_id: Uuid,
    pub token: Vec<u8>,
    pub hash: [u8; 32],
}

impl InviteSecret {
    /// A fresh invite id and a random 32-byte join token.
    pub fn random() -> InviteSecret {
        let token = random_bytes(32);
        let hash = Sha256::digest(&token).into();
        InviteSecret {
            invite_id: Uuid::now_v7(),
            token,
            hash,
        }
    }

    /// The `POST /v1/spaces/{space}/invites` body of a partner invite.
    pub fn create_body(&self, wrapped_key: &[u8], ttl_secs: Option<u64>) -> CreateInvite {
        self.create_body_of(InviteKind::Partner, wrapped_key, ttl_secs)
    }

    /// The `POST /v1/spaces/{space}/invites` body of an invite of `kind`.
    pub fn create_body_of(
        &self,
        kind: InviteKind,
        wrapped_key: &[u8],
        ttl_secs: Option<u64>,
    ) -> CreateInvite {
        CreateInvite {
            invite_id: self.invite_id,
            token_hash: self.hash.to_vec(),
            wrapped_key: wrapped_key.to_vec(),
            ttl_secs,
            kind,
        }
    }
}

/// One registered device talking to one relay.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub device_id: Uuid,
    pub token: String,
}

impl Client {
    /// Register a new device (`POST /v1/devices`) with its own HTTP client.
    pub async fn register(base: &str) -> Result<Client, ClientError> {
        Self::register_with(&http_client(), base).await
    }

    /// Register a new device, sharing an HTTP client (and its connection pool).
    pub async fn register_with(http: &reqwest::Client, base: &str) -> Result<Client, ClientError> {
        let r: Registered = send(http, base, Method::POST, "/v1/devices", None, None)
            .await?
            .ok()?
            .cbor()?;
        Ok(Client {
            http: http.clone(),
            base: base.to_string(),
            device_id: r.device_id,
            token: r.token,
        })
    }

    /// A device whose credentials are known (read from a home's store, as an adversary
    /// holding the phone would).
    pub fn from_credentials(base: &str, device_id: Uuid, token: String) -> Client {
        Client {
            http: http_client(),
            base: base.trim_end_matches('/').to_string(),
            device_id,
            token,
        }
    }

    /// The same device talking to a relay at another address (e.g. after a restart).
    pub fn at(&self, base: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: base.to_string(),
            device_id: self.device_id,
            token: self.token.clone(),
        }
    }

    /// The relay's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An authenticated request, as received (any status).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Response, ClientError> {
        send(
            &self.http,
            &self.base,
            method,
            path,
            Some(&self.token),
            body,
        )
        .await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Response, ClientError> {
        self.request(method, path, body).await?.ok()
    }

    /// `POST /v1/spaces` for a shared journal.
    pub async fn create_space(&self, space: Uuid) -> Result<SpaceInfo, ClientError> {
        self.create_space_of(space, SpaceKind::Journal).await
    }

    /// `POST /v1/spaces` for a space of `kind`.
    pub async fn create_space_of(
        &self,
        space: Uuid,
        kind: SpaceKind,
    ) -> Result<SpaceInfo, ClientError> {
        self.call(
            Method::POST,
            "/v1/spaces",
            Some(Body::cbor(&CreateSpace {
                space_id: space,
                kind,
            })),
        )
        .await?
        .cbor()
    }

    /// `GET /v1/devices/me`.
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.call(Method::GET, "/v1/devices/me", None).await?.cbor()
    }

    /// Make `other` (a fresh device, with no spaces yet) one of this device's person's, as a
    /// device link does: a `device` invite into a new personal space of ours, which it joins.
    /// Returns that personal space.
    pub async fn link(&self, other: &Client) -> Result<Uuid, ClientError> {
        let personal = Uuid::now_v7();
        self.create_space_of(personal, SpaceKind::Personal).await?;
        let secret = InviteSecret::random();
        self.create_invite(
            personal,
            &secret.create_body_of(InviteKind::Device, b"wrapped", None),
        )
        .await?;
        other.join(secret.invite_id, &secret.token).await?;
        Ok(personal)
    }

    /// Bring `other` (a fresh device) into `space` as another device of this device's
    /// person: linked, then added. For spaces that need more than two people's worth of
    /// devices (a shared journal admits two people).
    pub async fn admit_own_device(&self, space: Uuid, other: &Client) -> Result<(), ClientError> {
        self.link(other).await?;
        self.add_member(space, other.device_id).await
    }

    /// Create a space with a fresh random id and return the id.
    pub async fn new_space(&self) -> Result<Uuid, ClientError> {
        let id = Uuid::now_v7();
        self.create_space(id).await?;
        Ok(id)
    }

    /// `GET /v1/spaces`.
    pub async fn spaces(&self) -> Result<SpaceList, ClientError> {
        self.call(Method::GET, "/v1/spaces", None).await?.cbor()
    }

    /// `GET /v1/spaces/{space}`.
    pub async fn space(&self, space: Uuid) -> Result<SpaceInfo, ClientError> {
        self.call(Method::GET, &format!("/v1/spaces/{space}"), None)
            .await?
            .cbor()
    }

    /// `POST /v1/spaces/{space}/members`.
    pub async fn add_member(&self, space: Uuid, device: Uuid) -> Result<(), ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/members"),
            Some(Body::cbor(&AddMember { device_id: device })),
        )
        .await
        .map(drop)
    }

    /// Bring `other` into `space` the way a partner comes in: a partner invite it joins. A
    /// shared journal admits two people; `add_member` adds only the caller's own devices.
    pub async fn invite_into(&self, space: Uuid, other: &Client) -> Result<(), ClientError> {
        let secret = InviteSecret::random();
        self.create_invite(space, &secret.create_body(b"wrapped", None))
            .await?;
        other.join(secret.invite_id, &secret.token).await.map(drop)
    }

    /// The same device (and token) talking to another base URL: another relay node.
    pub fn with_base(&self, base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// `DELETE /v1/spaces/{space}/members/{device}`.
    pub async fn remove_member(&self, space: Uuid, device: Uuid) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/spaces/{space}/members/{device}"),
            None,
        )
        .await
        .map(drop)
    }

    /// `DELETE /v1/devices/{device}`.
    pub async fn revoke(&self, device: Uuid) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/v1/devices/{device}"), None)
            .await
            .map(drop)
    }

    /// `POST /v1/spaces/{space}/invites`.
    pub async fn create_invite(
        &self,
        space: Uuid,
        invite: &CreateInvite,
    ) -> Result<InviteCreated, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/invites"),
            Some(Body::cbor(invite)),
        )
        .await?
        .cbor()
    }

    /// `POST /v1/invites/{invite}/join`.
    pub async fn join(&self, invite: Uuid, token: &[u8]) -> Result<Joined, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/invites/{invite}/join"),
            Some(Body::cbor(&JoinInvite {
                token: token.to_vec(),
            })),
        )
        .await?
        .cbor()
    }

    /// `POST /v1/spaces/{space}/blobs`.
    pub async fn push(&self, space: Uuid, blobs: &[PushBlob]) -> Result<Pushed, ClientError> {
        self.push_encoded(
            space,
            duet_proto::to_cbor(&Push {
                blobs: blobs.to_vec(),
            }),
        )
        .await
    }

    /// `POST /v1/spaces/{space}/blobs` with an already encoded [`Push`] body.
    pub async fn push_encoded(&self, space: Uuid, body: Vec<u8>) -> Result<Pushed, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/blobs"),
            Some(Body::raw(CBOR, body)),
        )
        .await?
        .cbor()
    }

    /// `GET /v1/spaces/{space}/blobs?after=&limit=`.
    pub async fn pull(
        &self,
        space: Uuid,
        after: u64,
        limit: Option<u32>,
    ) -> Result<Pulled, ClientError> {
        let mut path = format!("/v1/spaces/{space}/blobs?after={after}");
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        self.call(Method::GET, &path, None).await?.cbor()
    }

    /// Every blob of a space from the start, following pages.
    pub async fn pull_all(&self, space: Uuid) -> Result<Vec<LogBlob>, ClientError> {
        let mut out: Vec<LogBlob> = Vec::new();
        loop {
            let after = out.last().map(|b| b.seq).unwrap_or(0);
            let page = self.pull(space, after, None).await?;
            let more = page.more;
            let empty = page.blobs.is_empty();
            out.extend(page.blobs);
            if !more || empty {
                return Ok(out);
            }
        }
    }

    /// `PUT /v1/spaces/{space}/snapshot`.
    pub async fn put_snapshot(&self, space: Uuid, snapshot: &Snapshot) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            &format!("/v1/spaces/{space}/snapshot"),
            Some(Body::cbor(snapshot)),
        )
        .await
        .map(drop)
    }

    /// `GET /v1/spaces/{space}/snapshot`.
    pub async fn snapshot(&self, space: Uuid) -> Result<Snapshot, ClientError> {
        self.call(Method::GET, &format!("/v1/spaces/{space}/snapshot"), None)
            .await?
            .cbor()
    }

    /// Open this device's live channel: connect, authenticate, wait for `ready`.
    pub async fn live(&self) -> Result<LiveConn, ClientError> {
        let (conn, device) = LiveConn::connect(&self.base, &self.token).await?;
        if device != self.device_id {
            return Err(ClientError::Unexpected {
                status: 101,
                body: format!("ready for {device}, expected {}", self.device_id),
            });
        }
        Ok(conn)
    }
}

// ---------------------------------------------------------------------------------------
// The live channel
// ---------------------------------------------------------------------------------------

/// What a live connection heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// A server frame.
    Frame(ServerFrame),
    /// The relay closed the connection (or it broke).
    Closed,
    /// Nothing within the wait.
    Timeout,
}

/// A `GET /v1/live` WebSocket.
#[derive(Debug)]
pub struct LiveConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// `ws://127.0.0.1:PORT/v1/live` from `http://127.0.0.1:PORT`.
pub fn live_url(base: &str) -> String {
    let rest = base.strip_prefix("http://").unwrap_or(base);
    format!("ws://{rest}/v1/live")
}

impl LiveConn {
    /// Connect without authenticating.
    pub async fn connect_raw(base: &str) -> Result<LiveConn, ClientError> {
        // Server frames are small (inline blobs are at most 8 KiB; the buffer grows for a
        // bigger one): tungstenite's default 128 KiB read buffer, zero-filled on the first
        // read, would cost 1.3 GB for the 10,000 connections of the memory benchmark.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(live_url(base), Some(config), true)
                .await
                .map_err(transport)?;
        Ok(LiveConn { ws })
    }

    /// Connect and authenticate with `token`; returns the device id from `ready`. A refusal
    /// comes back as [`ClientError::Api`] with the error frame's code.
    pub async fn connect(base: &str, token: &str) -> Result<(LiveConn, Uuid), ClientError> {
        let mut conn = Self::connect_raw(base).await?;
        conn.send_frame(&ClientFrame::Auth {
            token: token.to_string(),
        })
        .await?;
        match conn.recv(Duration::from_secs(30)).await {
            LiveEvent::Frame(ServerFrame::Ready { device_id }) => Ok((conn, device_id)),
            LiveEvent::Frame(ServerFrame::Error { code, message }) => Err(ClientError::Api {
                status: code.http_status(),
                code,
                message,
                retry_after: None,
            }),
            other => Err(ClientError::Unexpected {
                status: 101,
                body: format!("expected ready, got {other:?}"),
            }),
        }
    }

    /// Send a client frame (CBOR, binary).
    pub async fn send_frame(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.send(Message::binary(duet_proto::to_cbor(frame))).await
    }

    /// Send any WebSocket message.
    pub async fn send(&mut self, msg: Message) -> Result<(), ClientError> {
        self.ws.send(msg).await.map_err(transport)
    }

    /// The next frame, which must be a `new` announcement arriving within `within`:
    /// (space, seq, the blob when it came inline). Anything else is a test failure.
    pub async fn next_new(&mut self, within: Duration) -> (Uuid, u64, Option<LogBlob>) {
        match self.recv(within).await {
            LiveEvent::Frame(ServerFrame::New {
                space_id,
                seq,
                blob,
            }) => (space_id, seq, blob),
            other => panic!("expected a new frame, got {other:?}"),
        }
    }

    /// The next server frame within `within` (pings and pongs are skipped).
    pub async fn recv(&mut self, within: Duration) -> LiveEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return LiveEvent::Timeout,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return LiveEvent::Closed;
                }
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return match duet_proto::from_cbor::<ServerFrame>(&b) {
                        Ok(f) => LiveEvent::Frame(f),
                        // Not a frame we know: surface it as an error frame so tests fail
                        // loudly instead of hanging.
                        Err(e) => LiveEvent::Frame(ServerFrame::Error {
                            code: ErrorCode::Internal,
                            message: format!("undecodable server frame: {e}"),
                        }),
                    };
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
