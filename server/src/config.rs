//! `duet-relay`'s command line (each flag also from the environment).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::state::{Access, Limits};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "duet-relay",
    version,
    about = "Duet's relay: stores and forwards sealed blobs; never sees content."
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "DUET_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Where the embedded SQLite database lives (unused with --database-url).
    #[arg(
        long,
        env = "DUET_DATA_DIR",
        default_value = "./duet-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Store in PostgreSQL instead of SQLite: `postgres://user:password@host:port/db`.
    /// Several relay nodes may share one database (behind a load balancer).
    #[arg(long, env = "DUET_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// PostgreSQL connections per relay node (one of them LISTENs for the other nodes).
    #[arg(long, env = "DUET_DATABASE_MAX_CONNECTIONS", default_value_t = crate::storage::postgres::DEFAULT_MAX_CONNECTIONS)]
    pub database_max_connections: u32,
    /// Largest request body, in bytes.
    #[arg(long, env = "DUET_MAX_BODY_BYTES", default_value_t = duet_proto::limits::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest sealed blob, in bytes.
    #[arg(long, env = "DUET_MAX_BLOB_BYTES", default_value_t = duet_proto::limits::MAX_BLOB_BYTES)]
    pub max_blob_bytes: usize,
    /// Most blobs in one push.
    #[arg(long, env = "DUET_MAX_BLOBS_PER_PUSH", default_value_t = duet_proto::limits::MAX_BLOBS_PER_PUSH)]
    pub max_blobs_per_push: usize,
    /// Pushes per device per minute.
    #[arg(long, env = "DUET_PUSHES_PER_MINUTE", default_value_t = duet_proto::limits::PUSHES_PER_MINUTE)]
    pub pushes_per_minute: u32,
    /// Stored bytes per space.
    #[arg(long, env = "DUET_SPACE_QUOTA_BYTES", default_value_t = duet_proto::limits::SPACE_QUOTA_BYTES)]
    pub space_quota_bytes: u64,
    /// Where attachments' sealed bytes are stored: `s3://BUCKET?endpoint=URL&region=REGION`
    /// for an S3-compatible bucket (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY), or `file:///PATH`; unset: files under the data dir
    /// (`attachments/objects`). Uploads under way are always on this node's disk.
    #[arg(long, env = "DUET_ATTACHMENTS_URL", hide_env_values = true)]
    pub attachments_url: Option<String>,
    /// Largest sealed attachment, in bytes (`attachment_too_large` past it).
    #[arg(long, env = "DUET_MAX_ATTACHMENT_BYTES", default_value_t = duet_proto::limits::MAX_SEALED_ATTACHMENT_BYTES)]
    pub max_attachment_bytes: u64,
    /// Sealed attachment bytes per space, stored and being uploaded (`quota_exceeded` past
    /// it); apart from --space-quota-bytes.
    #[arg(long, env = "DUET_ATTACHMENT_QUOTA_BYTES", default_value_t = duet_proto::limits::ATTACHMENT_QUOTA_BYTES)]
    pub attachment_quota_bytes: u64,
    /// An attachment upload not finished this many seconds after it began is discarded.
    #[arg(long, env = "DUET_ATTACHMENT_UPLOAD_TTL_SECS", default_value_t = duet_proto::limits::ATTACHMENT_UPLOAD_TTL_SECS)]
    pub attachment_upload_ttl_secs: u64,
    /// How often expired attachment uploads are swept, in seconds (also once at start).
    #[arg(long, env = "DUET_ATTACHMENT_SWEEP_SECS", default_value_t = 3600)]
    pub attachment_sweep_secs: u64,
    /// How long the log behind a snapshot is kept before pruning, in hours.
    #[arg(long, env = "DUET_SNAPSHOT_RETENTION_HOURS", default_value_t = 720)]
    pub snapshot_retention_hours: u64,
    /// Spaces one device may create (`too_many_spaces` past it).
    #[arg(long, env = "DUET_MAX_SPACES_PER_DEVICE", default_value_t = duet_proto::limits::MAX_SPACES_PER_DEVICE)]
    pub max_spaces_per_device: u32,
    /// Pending (unused, unexpired) invites one device may hold (`too_many_invites` past it).
    #[arg(long, env = "DUET_MAX_PENDING_INVITES_PER_DEVICE", default_value_t = duet_proto::limits::MAX_PENDING_INVITES_PER_DEVICE)]
    pub max_pending_invites_per_device: u32,
    /// Prompt answers one space holds (`quota_exceeded` past it): one per person and round.
    #[arg(long, env = "DUET_MAX_ANSWERS_PER_SPACE", default_value_t = duet_proto::limits::MAX_ANSWERS_PER_SPACE)]
    pub max_answers_per_space: u32,
    /// Expired invites (used or not) are deleted this many hours after they expire; until
    /// then a late join hears `invite_expired` or `invite_used` rather than `not_found`.
    #[arg(long, env = "DUET_INVITE_RETENTION_HOURS", default_value_t = 24)]
    pub invite_retention_hours: u64,
    /// Device registrations per client address per hour (a burst of this many, then one
    /// every 3600/N seconds); 0 lifts the limit. The address is the TCP peer's, or the
    /// `X-Forwarded-For` client's when the peer is a `--trusted-proxy`.
    #[arg(long, env = "DUET_REGISTRATIONS_PER_HOUR", default_value_t = duet_proto::limits::REGISTRATIONS_PER_HOUR)]
    pub registrations_per_hour: u32,
    /// Recovery attempts against one recovery kit (its lookup id) per hour, right or wrong
    /// (a burst of this many, then one every 3600/N seconds; `rate_limited` past it, even
    /// for the right words): the guard of a kit's secret, at least 1.
    #[arg(long, env = "DUET_RECOVERY_ATTEMPTS_PER_HOUR", default_value_t = duet_proto::limits::RECOVERY_ATTEMPTS_PER_HOUR)]
    pub recovery_attempts_per_hour: u32,
    /// Recovery attempts per client address per hour, against any kit (a burst of this
    /// many, then one every 3600/N seconds); 0 lifts the limit. The address is found as for
    /// --registrations-per-hour.
    #[arg(long, env = "DUET_RECOVERIES_PER_CLIENT_PER_HOUR", default_value_t = crate::state::RECOVERIES_PER_CLIENT_PER_HOUR)]
    pub recoveries_per_client_per_hour: u32,
    /// When set, `POST /v1/devices` needs `Authorization: Bearer <this token>`
    /// (`registration_closed` otherwise): a private relay.
    #[arg(long, env = "DUET_REGISTRATION_TOKEN", hide_env_values = true)]
    pub registration_token: Option<String>,
    /// A load balancer or reverse proxy in front of the relay (an address or a CIDR range,
    /// repeatable; comma-separated in the environment). Only for requests whose TCP peer is
    /// one of these is `X-Forwarded-For` believed: the client is the rightmost address in
    /// it that is not itself a trusted proxy. Such peers are also exempt from the
    /// per-address connection cap (they carry many clients).
    #[arg(
        long = "trusted-proxy",
        env = "DUET_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<crate::net::IpNet>,
    /// Open connections in all (WebSockets included); past it a new connection gets a
    /// `too_many_connections` answer and is closed. Lowered to fit the open-file limit.
    #[arg(long, env = "DUET_MAX_CONNECTIONS", default_value_t = crate::net::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Open connections from one client address (the TCP peer); 0 lifts the cap.
    #[arg(long, env = "DUET_MAX_CONNECTIONS_PER_IP", default_value_t = crate::net::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,
    /// A connection must send a request's complete headers within this many seconds (also
    /// the keep-alive idle time between requests); otherwise it is closed without an answer.
    #[arg(long, env = "DUET_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// A connection that moves no byte either way for this many seconds is closed. Keep it
    /// above the live channel's 25 s ping.
    #[arg(long, env = "DUET_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// A request body must arrive whole within this many seconds (`request_timeout`).
    #[arg(long, env = "DUET_BODY_READ_TIMEOUT_SECS", default_value_t = 60)]
    pub body_read_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes (`headers_too_large`).
    #[arg(long, env = "DUET_MAX_HEADER_BYTES", default_value_t = crate::net::DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Bytes of large request bodies (over 64 KiB each) held at once; a body that doesn't
    /// fit waits for room (up to 30 s, then `unavailable`). Bounds the relay's memory under
    /// many concurrent large pushes. At least --max-body-bytes.
    #[arg(long, env = "DUET_BODY_MEMORY_BYTES", default_value_t = crate::net::DEFAULT_BODY_MEMORY_BYTES)]
    pub body_memory_bytes: usize,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copy this relay's SQLite data (--data-dir) into an empty PostgreSQL database
    /// (--database-url), in one transaction, then exit. Stop the relay first; afterwards
    /// start the nodes with --database-url. Devices keep their tokens and cursors.
    MigrateFromSqlite,
}

impl Config {
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_blob_bytes: self.max_blob_bytes,
            max_blobs_per_push: self.max_blobs_per_push,
            pushes_per_minute: self.pushes_per_minute,
            space_quota_bytes: self.space_quota_bytes,
            max_spaces_per_device: self.max_spaces_per_device,
            max_pending_invites_per_device: self.max_pending_invites_per_device,
            max_answers_per_space: self.max_answers_per_space,
            registrations_per_hour: self.registrations_per_hour,
            recovery_attempts_per_hour: self.recovery_attempts_per_hour,
            recoveries_per_client_per_hour: self.recoveries_per_client_per_hour,
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs.max(1)),
            body_memory_bytes: self.body_memory_bytes.max(self.max_body_bytes),
            max_attachment_bytes: self.max_attachment_bytes,
            attachment_quota_bytes: self.attachment_quota_bytes,
            ..Limits::default()
        }
    }

    /// Who may register, and whose `X-Forwarded-For` is believed.
    pub fn access(&self) -> Access {
        Access {
            registration_token: self.registration_token.clone().filter(|t| !t.is_empty()),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// The connection layer's settings.
    pub fn net(&self) -> crate::net::NetConfig {
        crate::net::NetConfig {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_header_bytes: self.max_header_bytes,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}
