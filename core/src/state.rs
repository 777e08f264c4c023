//! Where sync stands, for the app's status line: [`SyncState`], the [`SyncReport`] a sync
//! ends with, and the [`SyncListener`] that hears of them. Kept apart from both the engine
//! (which holds the listeners) and the sync code (which reports), so the engine never
//! imports sync. Also re-exported where they were first defined: `sync::SyncReport`,
//! `sync::live::{SyncState, SyncListener}`.

use serde::Serialize;

use crate::error::{Error, ErrorCode};

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Sealed blobs pushed to the relay.
    pub pushed: u32,
    /// Blobs pulled from the relay.
    pub pulled: u32,
    /// Pulled blobs that changed something here.
    pub applied: u32,
    /// Pulled blobs that could not be opened or applied (kept, reported, skipped).
    pub quarantined: u32,
    /// Attachments (originals and thumbnails) the relay now holds from this device.
    pub attachments_sent: u32,
    /// Sealed attachment bytes sent (a resumed upload counts only what went this time).
    pub attachment_bytes_sent: u64,
}

/// Where sync stands, for the app's status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// The relay can't be reached; writes stay queued and go out when it can.
    Offline {
        /// Why.
        reason: String,
    },
    /// A sync is running; sent when it starts and again as each acknowledged push batch or
    /// pulled page is kept, so a slow link shows how far it got.
    Syncing {
        /// What this sync has done so far (it keeps all of it, even if it fails later).
        progress: SyncReport,
    },
    /// A sync finished.
    Synced {
        /// What it did.
        report: SyncReport,
    },
    /// The live channel is connected; partners' writes arrive as they happen.
    Live,
    /// Sync failed with a stable error code (see `DuetError`).
    Error {
        /// The stable code, e.g. `relay_refused`.
        code: String,
        /// For logs.
        message: String,
    },
}

impl SyncState {
    pub(crate) fn from_error(e: &Error) -> SyncState {
        match e.code() {
            ErrorCode::Offline => SyncState::Offline {
                reason: e.to_string(),
            },
            code => SyncState::Error {
                code: code.as_str().to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// Receives sync state changes.
pub trait SyncListener: Send + Sync {
    fn on_sync_state(&self, state: &SyncState);
}
