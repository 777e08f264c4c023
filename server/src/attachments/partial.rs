//! Uploads under way, on the receiving node's own disk (`DATA_DIR/attachments/partial`),
//! whatever the object store: one file per upload, `SPACE-HASH`, appended to as the bytes
//! of a PATCH arrive. The file's length is what the relay has received — no database
//! write per chunk — so a dropped connection loses only what was in flight.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::fs::{File, OpenOptions};
use uuid::Uuid;

use super::{ObjectError, ObjectResult};
use crate::storage::Hash;

#[derive(Debug, Clone)]
pub struct PartialDir {
    root: PathBuf,
}

fn io_error(what: &str, e: io::Error) -> ObjectError {
    ObjectError::Backend(format!("{what}: {e}"))
}

impl PartialDir {
    pub fn open(root: &Path) -> ObjectResult<PartialDir> {
        std::fs::create_dir_all(root).map_err(|e| io_error("creating the partial dir", e))?;
        Ok(PartialDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory (for tests and logs).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an upload's bytes so far are.
    pub fn path(&self, space: Uuid, hash: &Hash) -> PathBuf {
        self.root
            .join(format!("{space}-{}", duet_proto::attachments::to_hex(hash)))
    }

    /// Bytes received so far (0: none, or no file).
    pub async fn received(&self, space: Uuid, hash: &Hash) -> ObjectResult<u64> {
        match tokio::fs::metadata(self.path(space, hash)).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_error("reading a partial upload", e)),
        }
    }

    /// The upload's file, opened to append (created when missing).
    pub async fn append(&self, space: Uuid, hash: &Hash) -> ObjectResult<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(space, hash))
            .await
            .map_err(|e| io_error("opening a partial upload", e))
    }

    /// Cut the file back to `len` bytes (what a failed write may have left past it).
    pub async fn truncate(&self, space: Uuid, hash: &Hash, len: u64) -> ObjectResult<()> {
        let f = OpenOptions::new()
            .write(true)
            .open(self.path(space, hash))
            .await
            .map_err(|e| io_error("opening a partial upload", e))?;
        f.set_len(len)
            .await
            .map_err(|e| io_error("truncating a partial upload", e))
    }

    /// Remove the upload's file (none: fine).
    pub async fn remove(&self, space: Uuid, hash: &Hash) {
        if let Err(e) = tokio::fs::remove_file(self.path(space, hash)).await
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "removing a partial upload failed");
        }
    }

    /// The BLAKE3 hash of the upload's file, read off the async workers.
    pub async fn hash(&self, space: Uuid, hash: &Hash) -> ObjectResult<Hash> {
        let path = self.path(space, hash);
        tokio::task::spawn_blocking(move || -> ObjectResult<Hash> {
            let mut f =
                std::fs::File::open(&path).map_err(|e| io_error("opening a partial upload", e))?;
            let mut h = blake3::Hasher::new();
            h.update_reader(&mut f)
                .map_err(|e| io_error("reading a partial upload", e))?;
            Ok(*h.finalize().as_bytes())
        })
        .await
        .map_err(|e| ObjectError::Backend(format!("hashing a partial upload: {e}")))?
    }

    /// Remove files not written to for `age` (uploads whose row went elsewhere: another
    /// node's sweep, a crash between steps). Returns how many.
    pub async fn remove_older_than(&self, age: Duration) -> u64 {
        let root = self.root.clone();
        let removed = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&root) else {
                return 0;
            };
            let now = SystemTime::now();
            let mut removed = 0;
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|d| d >= age);
                if old && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            removed
        })
        .await
        .unwrap_or(0);
        if removed > 0 {
            tracing::info!(files = removed, "removed stale partial uploads");
        }
        removed
    }
}
