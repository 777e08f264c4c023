//! Attachments' bytes (issue 11, ADR 14). Each space's objects are sealed bytes addressed by
//! their BLAKE3 hash; the relay keeps them in an [`ObjectStore`] — files under the data dir
//! ([`files`]) or an S3-compatible bucket ([`s3`]) — and its database keeps the metadata
//! (`crate::storage::attachments`). Uploads under way stay on the receiving node's own disk
//! ([`partial`]) until their last byte, whatever the object store.

pub mod files;
pub mod partial;
pub mod range;
pub mod s3;
#[cfg(test)]
pub(crate) mod suite;
pub mod upload;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::storage::{Hash, RelayStore};

/// Why an object store call failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("no such object")]
    NotFound,
    #[error("object store: {0}")]
    Backend(String),
    #[error("attachments configuration: {0}")]
    Config(String),
}

pub type ObjectResult<T> = Result<T, ObjectError>;

/// Bytes streamed out of an object.
pub type ByteStream = BoxStream<'static, ObjectResult<Bytes>>;

/// Where attachments' bytes live. Keys are `SPACE/HASH` (see [`object_key`]).
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Name for logs ("files", "s3").
    fn kind(&self) -> &'static str;
    /// Store the `size` bytes of the local file at `path` under `key`: the whole object
    /// becomes visible at once, or nothing does. Same key, same bytes: no harm.
    async fn put_file(&self, key: &str, path: &Path, size: u64) -> ObjectResult<()>;
    /// Bytes `range` of the object (the caller keeps the range within its size).
    async fn get_range(&self, key: &str, range: Range<u64>) -> ObjectResult<ByteStream>;
    /// The object's size.
    async fn size(&self, key: &str) -> ObjectResult<u64>;
    /// Delete the object; one that isn't there is no error.
    async fn delete(&self, key: &str) -> ObjectResult<()>;
}

/// An object's key in the object store: its space, then its hash.
pub fn object_key(space: Uuid, hash: &Hash) -> String {
    format!("{space}/{}", duet_proto::attachments::to_hex(hash))
}

/// The object store `url` names (`s3://BUCKET?endpoint=…&region=…`), or files under
/// `data_dir/attachments/objects` when there is none.
pub fn open_objects(url: Option<&str>, data_dir: &Path) -> ObjectResult<Arc<dyn ObjectStore>> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(Arc::new(files::FileObjects::open(
            &data_dir.join("attachments").join("objects"),
        )?)),
        Some(u) if u.starts_with("s3://") => Ok(Arc::new(s3::S3Objects::from_url(u)?)),
        Some(u) if u.starts_with("file://") => Ok(Arc::new(files::FileObjects::open(Path::new(
            u.trim_start_matches("file://"),
        ))?)),
        Some(_) => Err(ObjectError::Config(
            "--attachments-url must be s3://BUCKET?endpoint=…&region=… or file:///PATH".into(),
        )),
    }
}

/// One upload (space, hash) at a time on this node: its partial file is appended to by one
/// request only, and finishing or freeing an object doesn't race another request for it.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<LockMap>,
}

type LockMap = HashMap<(Uuid, Hash), Arc<tokio::sync::Mutex<()>>>;

/// Held while working on one (space, hash); frees its map entry when nobody else waits.
#[derive(Debug)]
pub struct KeyGuard {
    locks: Arc<KeyLocks>,
    key: (Uuid, Hash),
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, LockMap> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait (at most `wait`) for the key; `None` when it stayed busy.
    pub async fn lock(
        self: &Arc<Self>,
        space: Uuid,
        hash: Hash,
        wait: Duration,
    ) -> Option<KeyGuard> {
        let key = (space, hash);
        let m = self.map().entry(key).or_default().clone();
        let guard = tokio::time::timeout(wait, m.lock_owned()).await.ok();
        let got = KeyGuard {
            locks: self.clone(),
            key,
            guard,
        };
        got.guard.is_some().then_some(got)
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map holds it: nobody holds or waits for this key.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// The attachments side of the relay's state.
pub struct Attachments {
    pub objects: Arc<dyn ObjectStore>,
    pub partial: partial::PartialDir,
    pub locks: Arc<KeyLocks>,
    /// Uploads left unfinished this long are discarded.
    pub upload_ttl: Duration,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("objects", &self.objects.kind())
            .field("partial", &self.partial)
            .finish_non_exhaustive()
    }
}

impl Attachments {
    /// Objects in `objects`, uploads under way in `data_dir/attachments/partial`.
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        data_dir: &Path,
        upload_ttl: Duration,
    ) -> ObjectResult<Attachments> {
        Ok(Attachments {
            objects,
            partial: partial::PartialDir::open(&data_dir.join("attachments").join("partial"))?,
            locks: Arc::default(),
            upload_ttl,
        })
    }

    /// Discard uploads begun more than the TTL before `now_ms` (their rows and this node's
    /// partial files), and partial files of this node untouched as long (a row another node
    /// or a crash left behind). Returns how many uploads went.
    pub async fn sweep(&self, store: &dyn RelayStore, now_ms: i64) -> ObjectResult<u64> {
        let ttl_ms = i64::try_from(self.upload_ttl.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms.saturating_sub(ttl_ms);
        let mut swept = 0u64;
        loop {
            let expired = store
                .expired_uploads(before, 500)
                .await
                .map_err(|e| ObjectError::Backend(e.to_string()))?;
            let batch = expired.len();
            let before_batch = swept;
            for (space, hash) in expired {
                // Not while a request is appending to it.
                let Some(_held) = self.locks.lock(space, hash, Duration::from_secs(1)).await else {
                    continue;
                };
                self.partial.remove(space, &hash).await;
                if store
                    .discard_upload(space, hash)
                    .await
                    .map_err(|e| ObjectError::Backend(e.to_string()))?
                {
                    swept += 1;
                }
            }
            // A full batch of uploads busy right now waits for the next sweep.
            if batch < 500 || swept == before_batch {
                break;
            }
        }
        self.partial.remove_older_than(self.upload_ttl).await;
        Ok(swept)
    }
}
