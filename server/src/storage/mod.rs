//! Relay storage: devices, spaces, members, invites, the sealed-blob log and snapshots —
//! never content. Behind a trait so SQLite (the default) and PostgreSQL share one test
//! suite (`suite.rs`) and the HTTP layer doesn't care which it talks to.

pub mod migrate;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

use async_trait::async_trait;
use duet_proto::{LogBlob, Snapshot, SpaceInfo};
use uuid::Uuid;

/// Unix milliseconds.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the space's storage quota is used up")]
    QuotaExceeded,
    #[error("cursor {after} is beyond the head {head}")]
    CursorAhead { after: u64, head: u64 },
    #[error("storage backend: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A registered device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub revoked: bool,
}

/// An invite to store.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: Uuid,
    pub space: Uuid,
    pub created_by: Uuid,
    pub token_hash: [u8; 32],
    pub wrapped_key: Vec<u8>,
    pub expires_at: Millis,
}

/// What happened to a join attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined { space: Uuid, wrapped_key: Vec<u8> },
    NotFound,
    Expired,
    Used,
    Burned,
    WrongToken { attempts_left: u32 },
}

/// What a join attempt does to an invite, by the rules every backend shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinVerdict {
    /// Refused without touching the invite (used, burned, expired).
    Refuse(JoinOutcome),
    /// A wrong token: count the attempt, then answer this (`WrongToken`, or `Burned` on
    /// the last allowed attempt).
    CountAttempt(JoinOutcome),
    /// The right token on a live invite: use it and add the member.
    Join,
}

/// Judge a join attempt on an invite in this state. The token hashes are compared in
/// constant time.
pub(crate) fn judge_join(
    used: bool,
    attempts: u32,
    expires_at: Millis,
    stored_hash: &[u8],
    token_hash: &[u8],
    now: Millis,
    max_attempts: u32,
) -> JoinVerdict {
    if used {
        return JoinVerdict::Refuse(JoinOutcome::Used);
    }
    if attempts >= max_attempts {
        return JoinVerdict::Refuse(JoinOutcome::Burned);
    }
    if now >= expires_at {
        return JoinVerdict::Refuse(JoinOutcome::Expired);
    }
    if !crate::auth::constant_time_eq(stored_hash, token_hash) {
        let left = max_attempts.saturating_sub(attempts + 1);
        return JoinVerdict::CountAttempt(if left == 0 {
            JoinOutcome::Burned
        } else {
            JoinOutcome::WrongToken {
                attempts_left: left,
            }
        });
    }
    JoinVerdict::Join
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// One per pushed blob, in order.
    pub seqs: Vec<u64>,
    pub head: u64,
    /// Blobs that were new (not retries), for the live channel.
    pub fresh: Vec<LogBlob>,
}

/// Limits the store enforces inside its transaction.
#[derive(Debug, Clone, Copy)]
pub struct AppendLimits {
    pub quota_bytes: u64,
    /// Blobs up to this size travel inside a live announcement (to other nodes too, where
    /// the backend's event channel has room).
    pub inline_bytes: usize,
}

/// Something a request on another relay node changed, that this node's live hub must act
/// on. Only a store shared by several nodes (PostgreSQL) produces these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// New blobs in a space, pushed by `from`: `seqs` in order, with the blob where it was
    /// small enough to travel with the event (the others are announced by number only).
    Appended {
        space: Uuid,
        from: Uuid,
        seqs: Vec<u64>,
        inline: Vec<LogBlob>,
    },
    Joined {
        space: Uuid,
        device: Uuid,
    },
    Left {
        space: Uuid,
        device: Uuid,
    },
    Revoked {
        device: Uuid,
    },
    /// The event feed broke and came back: events may have been missed, so every live
    /// connection should start over (reconnect and pull).
    Gap,
}

#[async_trait]
pub trait RelayStore: Send + Sync + 'static {
    /// Name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Whether the store answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Start hearing what other relay nodes sharing this store do. `None` for a store only
    /// this process uses (SQLite). Call once.
    async fn node_events(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<NodeEvent>>> {
        Ok(None)
    }

    async fn register_device(&self, id: Uuid, token_hash: [u8; 32], now: Millis)
    -> StoreResult<()>;
    async fn device_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Device>>;
    async fn device(&self, id: Uuid) -> StoreResult<Option<Device>>;
    /// Mark a device revoked and drop its memberships. `false` when it didn't exist.
    async fn revoke_device(&self, id: Uuid, now: Millis) -> StoreResult<bool>;

    /// A new space with its creator as the first member; `Conflict` if the id is taken.
    async fn create_space(&self, space: Uuid, creator: Uuid, now: Millis) -> StoreResult<()>;
    async fn is_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool>;
    async fn space_info(&self, space: Uuid) -> StoreResult<Option<SpaceInfo>>;
    async fn spaces_of(&self, device: Uuid) -> StoreResult<Vec<SpaceInfo>>;
    async fn add_member(&self, space: Uuid, device: Uuid, now: Millis) -> StoreResult<()>;
    /// `false` when the device was not a member.
    async fn remove_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool>;
    /// Whether two devices are members of at least one common space.
    async fn share_a_space(&self, a: Uuid, b: Uuid) -> StoreResult<bool>;

    async fn create_invite(&self, invite: NewInvite) -> StoreResult<()>;
    /// Check the token against the invite; on success the device becomes a member and the
    /// invite is used, all in one transaction. Wrong tokens count toward burning it.
    async fn join_invite(
        &self,
        id: Uuid,
        token_hash: [u8; 32],
        device: Uuid,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<JoinOutcome>;

    /// Append blobs to a space's log, idempotent by blob id; acknowledged only once
    /// committed. A blob id reused with different bytes is a `Conflict`.
    async fn append(
        &self,
        space: Uuid,
        device: Uuid,
        blobs: Vec<(Vec<u8>, Vec<u8>)>,
        limits: AppendLimits,
        now: Millis,
    ) -> StoreResult<Appended>;
    /// Blobs with `seq > after`, at most `limit`; plus the snapshot when `after` is older
    /// than the pruned log. `CursorAhead` when `after` is beyond the head.
    async fn pull(&self, space: Uuid, after: u64, limit: u32) -> StoreResult<duet_proto::Pulled>;

    /// Keep the newest snapshot (one covering a higher `seq` replaces an older one).
    async fn put_snapshot(&self, space: Uuid, snapshot: Snapshot, now: Millis) -> StoreResult<()>;
    async fn snapshot(&self, space: Uuid) -> StoreResult<Option<Snapshot>>;
    /// Delete log blobs covered by a snapshot older than `older_than`; returns how many.
    async fn prune(&self, older_than: Millis) -> StoreResult<u64>;
}
