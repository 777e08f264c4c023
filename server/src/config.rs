//! `duet-relay`'s command line (each flag also from the environment).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::state::Limits;

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
    /// How long the log behind a snapshot is kept before pruning, in hours.
    #[arg(long, env = "DUET_SNAPSHOT_RETENTION_HOURS", default_value_t = 720)]
    pub snapshot_retention_hours: u64,
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
            ..Limits::default()
        }
    }
}
