//! The relay's metadata of attachments (issue 11, ADR 14): per space the stored objects (a
//! BLAKE3 hash of sealed bytes and their size), the opaque references that keep each one
//! (16 bytes each; the last one released frees the object) and the uploads under way. The
//! bytes themselves are in an object store (`crate::attachments`), never in the database.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Millis, StoreError, StoreResult};

/// An object's address: the BLAKE3 hash of its sealed bytes.
pub type Hash = [u8; duet_proto::attachments::HASH_BYTES];
/// A reference to an object (an attachment's id, opaque here).
pub type AttachmentRef = [u8; duet_proto::attachments::REF_BYTES];

/// Reference `r` to object `hash` of `space`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    pub space: Uuid,
    pub hash: Hash,
    pub r: AttachmentRef,
}

impl ObjectRef {
    pub fn new(space: Uuid, hash: Hash, r: AttachmentRef) -> Self {
        ObjectRef { space, hash, r }
    }
}

/// An upload to begin (or to find, when it is under way already).
#[derive(Debug, Clone, Copy)]
pub struct NewUpload {
    pub space: Uuid,
    pub hash: Hash,
    /// The declared sealed size.
    pub size: u64,
    pub device: Uuid,
    pub now: Millis,
    /// The space's attachment quota: stored objects plus uploads under way.
    pub quota_bytes: u64,
}

/// What the relay knows of an object of a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Stored, with this sealed size.
    Stored { size: u64 },
    /// An upload is under way: its declared size, the device that began it and when.
    Underway {
        size: u64,
        device: Uuid,
        started_at: Millis,
    },
}

/// The quota rule both backends share: the space's stored object bytes, the declared sizes
/// of its uploads under way and the new upload's size may add up to at most `quota`.
pub(crate) fn judge_upload_quota(
    stored: i64,
    underway: i64,
    size: u64,
    quota: u64,
) -> StoreResult<()> {
    let used = u64::try_from(stored.max(0)).unwrap_or(u64::MAX);
    let pending = u64::try_from(underway.max(0)).unwrap_or(u64::MAX);
    match used.checked_add(pending).and_then(|n| n.checked_add(size)) {
        Some(total) if total <= quota => Ok(()),
        _ => Err(StoreError::QuotaExceeded),
    }
}

/// A size as the databases store it (BIGINT / INTEGER).
pub(crate) fn size_column(size: u64) -> StoreResult<i64> {
    i64::try_from(size).map_err(|_| StoreError::Backend("an attachment size past i64".into()))
}

/// A size read back.
pub(crate) fn size_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A hash read back.
pub(crate) fn hash_of(b: &[u8]) -> StoreResult<Hash> {
    Hash::try_from(b)
        .map_err(|_| StoreError::Backend("an attachment hash of the wrong size".into()))
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Begin an upload of `up.hash` to `up.space`, or find it: `Stored` when the space holds
    /// the object already (nothing changes), `Underway` with the upload as it was begun when
    /// one is (whatever its size; the caller compares), otherwise a new upload row, checked
    /// against the quota in the same transaction (`QuotaExceeded`, nothing stored).
    /// `NotFound` when the space doesn't exist.
    async fn begin_upload(&self, up: NewUpload) -> StoreResult<UploadState>;
    /// The object or the upload under way, if either.
    async fn upload_state(&self, space: Uuid, hash: Hash) -> StoreResult<Option<UploadState>>;
    /// The upload's bytes are in the object store: in one transaction the object row (with
    /// the size the upload declared) and the reference go in and the upload row goes.
    /// Returns the size. An object stored meanwhile (another node finished the same upload)
    /// just takes the reference; `NotFound` when neither an upload nor the object is there.
    async fn finish_upload(&self, at: ObjectRef, now: Millis) -> StoreResult<u64>;
    /// Add the reference to a stored object (again: no change): its size, or `None` when the
    /// space doesn't hold the object.
    async fn add_ref(&self, at: ObjectRef, now: Millis) -> StoreResult<Option<u64>>;
    /// Release the reference (never there: no change). When it was the object's last, the
    /// object row goes in the same transaction and its size is returned: the caller deletes
    /// the bytes.
    async fn release_ref(&self, at: ObjectRef) -> StoreResult<Option<u64>>;
    /// Uploads begun before `before`, oldest first, at most `limit`.
    async fn expired_uploads(&self, before: Millis, limit: u32) -> StoreResult<Vec<(Uuid, Hash)>>;
    /// Forget an upload under way; `false` when there was none.
    async fn discard_upload(&self, space: Uuid, hash: Hash) -> StoreResult<bool>;
    /// A stored object's size.
    async fn attachment_size(&self, space: Uuid, hash: Hash) -> StoreResult<Option<u64>>;
}
