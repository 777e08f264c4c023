//! Request and response bodies of `/v1`, all CBOR.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/devices` → a new device and its bearer token (shown once; the relay keeps
/// only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registered {
    pub device_id: Uuid,
    pub token: String,
}

/// `POST /v1/spaces`: the client picks the id (it names the space in sealed blobs' AAD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSpace {
    pub space_id: Uuid,
}

/// A space as a member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceInfo {
    pub space_id: Uuid,
    pub members: Vec<Uuid>,
    /// Sequence number of the newest blob (0 when empty).
    pub head: u64,
}

/// `GET /v1/spaces`: the spaces this device is a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceList {
    pub spaces: Vec<SpaceInfo>,
}

/// `POST /v1/spaces/{space}/invites`. The inviter derives a join token and a wrapping key
/// from a secret it never sends; the relay stores the token's hash and the wrapped key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInvite {
    pub invite_id: Uuid,
    #[serde(with = "serde_bytes")]
    pub token_hash: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub wrapped_key: Vec<u8>,
    /// Lifetime in seconds (default 24 h, at most 7 days).
    pub ttl_secs: Option<u64>,
}

/// The invite as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteCreated {
    pub invite_id: Uuid,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `POST /v1/invites/{invite}/join`: the joining device proves the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinInvite {
    #[serde(with = "serde_bytes")]
    pub token: Vec<u8>,
}

/// The joining device is now a member; it unwraps the space key with the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Joined {
    pub space_id: Uuid,
    #[serde(with = "serde_bytes")]
    pub wrapped_key: Vec<u8>,
}

/// `POST /v1/spaces/{space}/members`: add a device (for example after a key rotation
/// re-shares a journal with a person's other devices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMember {
    pub device_id: Uuid,
}

/// One sealed blob to append. The id is random, chosen by the client, so retries are
/// idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushBlob {
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `POST /v1/spaces/{space}/blobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Push {
    pub blobs: Vec<PushBlob>,
}

/// The sequence number of each pushed blob, in request order (a retried blob gets the
/// number it was first given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pushed {
    pub seqs: Vec<u64>,
    pub head: u64,
}

/// A blob as stored in a space's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogBlob {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A sealed compacted state of a space, covering every blob up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `GET /v1/spaces/{space}/blobs?after=N&limit=M`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pulled {
    pub blobs: Vec<LogBlob>,
    pub head: u64,
    /// More blobs follow after the last one returned.
    pub more: bool,
    /// Present when `after` is older than the pruned log: apply it first, then `blobs`
    /// (which continue from `snapshot.seq`).
    pub snapshot: Option<Snapshot>,
}
