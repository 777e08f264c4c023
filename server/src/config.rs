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
    /// Where the embedded SQLite database lives.
    #[arg(long, env = "DUET_DATA_DIR", default_value = "./duet-data")]
    pub data_dir: PathBuf,
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
