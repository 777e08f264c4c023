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

/// `GET /v1/devices/me`: who a token belongs to, so a client pointed at another URL can
/// tell whether it is the same relay (its token still works) or a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    pub device_id: Uuid,
    /// The person this device acts for: every device linked through one personal space
    /// shares it. Removing a member from a journal removes all of that person's devices.
    pub person: Uuid,
}

/// What a space is for: the relay's membership rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SpaceKind {
    /// A shared journal: at most two people, each with any number of devices.
    #[default]
    Journal,
    /// One person's private space (drafts, key ring): only that person's devices.
    Personal,
}

impl SpaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceKind::Journal => "journal",
            SpaceKind::Personal => "personal",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "journal" => Some(SpaceKind::Journal),
            "personal" => Some(SpaceKind::Personal),
            _ => None,
        }
    }
}

/// `POST /v1/spaces`: the client picks the id (it names the space in sealed blobs' AAD).
/// The answer is the same whether the id was free or is someone else's space, so a
/// stranger learns nothing from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSpace {
    pub space_id: Uuid,
    #[serde(default)]
    pub kind: SpaceKind,
}

/// A space as a member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceInfo {
    pub space_id: Uuid,
    pub members: Vec<Uuid>,
    /// Sequence number of the newest blob (0 when empty).
    pub head: u64,
    /// The person each device of `members` acts for, in the same order.
    #[serde(default)]
    pub persons: Vec<Uuid>,
    #[serde(default)]
    pub kind: SpaceKind,
    /// The key epoch last announced for the space (0: never): a blob sealed under an older
    /// one is refused. A rotation announces the next epoch before sealing under it.
    #[serde(default)]
    pub key_epoch: u32,
}

/// `PUT /v1/spaces/{space}/epoch`: the space's key rotated to `epoch` (one step at a time;
/// the current epoch again changes nothing). From then on the relay refuses new blobs
/// sealed under an older epoch (`stale_epoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyEpoch {
    pub epoch: u32,
}

/// `GET /v1/spaces`: the spaces this device is a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceList {
    pub spaces: Vec<SpaceInfo>,
}

/// Whom an invite admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InviteKind {
    /// The partner: a person new to this shared journal (refused once it has two people).
    #[default]
    Partner,
    /// Another device of the inviting person. Into a personal space it makes a fresh device
    /// one of that person's (a device link); into a journal it admits only a device that
    /// already acts for the inviting person.
    Device,
}

impl InviteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteKind::Partner => "partner",
            InviteKind::Device => "device",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "partner" => Some(InviteKind::Partner),
            "device" => Some(InviteKind::Device),
            _ => None,
        }
    }
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
    #[serde(default)]
    pub kind: InviteKind,
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
