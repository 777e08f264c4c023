//! The live channel (`GET /v1/live`, a WebSocket). Frames are binary CBOR. The client
//! authenticates with its first frame — never with the token in the URL, where proxies log
//! it — and then hears about every new blob in its spaces.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::types::LogBlob;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Must be the first frame, within a few seconds of connecting.
    Auth { token: String },
}

/// What the relay sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authenticated; announcements follow.
    Ready { device_id: Uuid },
    /// A blob was appended to a space. Small blobs come inline; otherwise pull.
    New {
        space_id: Uuid,
        seq: u64,
        blob: Option<LogBlob>,
    },
    /// The connection is refused or ends (e.g. the device was revoked).
    Error {
        code: crate::ErrorCode,
        message: String,
    },
}
