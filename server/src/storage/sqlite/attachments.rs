//! SQLite's [`AttachmentStore`]: every write in one IMMEDIATE transaction, so a quota check
//! and the row it admits, or a released reference and the object it frees, never have
//! another write between them.

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::storage::attachments::{
    AttachmentRef, AttachmentStore, Hash, NewUpload, ObjectRef, UploadState, hash_of,
    judge_upload_quota, size_column, size_of,
};

fn state_in(c: &Connection, space: &Uuid, hash: &Hash) -> StoreResult<Option<UploadState>> {
    let sp = space.as_bytes().as_slice();
    let stored: Option<i64> = c
        .prepare_cached("SELECT size FROM attachment_objects WHERE space = ?1 AND hash = ?2")?
        .query_row(params![sp, hash.as_slice()], |r| r.get(0))
        .optional()?;
    if let Some(size) = stored {
        return Ok(Some(UploadState::Stored {
            size: size_of(size),
        }));
    }
    let underway: Option<(i64, Vec<u8>, i64)> = c
        .prepare_cached(
            "SELECT size, device, started_at FROM attachment_uploads
             WHERE space = ?1 AND hash = ?2",
        )?
        .query_row(params![sp, hash.as_slice()], columns)
        .optional()?;
    underway
        .map(|(size, device, started_at)| {
            Ok(UploadState::Underway {
                size: size_of(size),
                device: uuid_of(device)?,
                started_at,
            })
        })
        .transpose()
}

fn insert_ref(
    c: &Connection,
    space: &Uuid,
    hash: &Hash,
    r: &AttachmentRef,
    now: Millis,
) -> StoreResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO attachment_refs (space, hash, ref, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            space.as_bytes().as_slice(),
            hash.as_slice(),
            r.as_slice(),
            now
        ],
    )?;
    Ok(())
}

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn begin_upload(&self, up: NewUpload) -> StoreResult<UploadState> {
        self.write_tx(move |tx| {
            if let Some(state) = state_in(&tx, &up.space, &up.hash)? {
                return Ok(state);
            }
            let sp = up.space.as_bytes().as_slice();
            let exists: Option<i64> = tx
                .query_row("SELECT 1 FROM spaces WHERE id = ?1", [sp], |r| r.get(0))
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            let (stored, underway): (i64, i64) = tx.query_row(
                "SELECT (SELECT coalesce(sum(size), 0) FROM attachment_objects WHERE space = ?1),
                        (SELECT coalesce(sum(size), 0) FROM attachment_uploads WHERE space = ?1)",
                [sp],
                columns,
            )?;
            judge_upload_quota(stored, underway, up.size, up.quota_bytes)?;
            tx.execute(
                "INSERT INTO attachment_uploads (space, hash, size, device, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sp,
                    up.hash.as_slice(),
                    size_column(up.size)?,
                    up.device.as_bytes().as_slice(),
                    up.now
                ],
            )?;
            tx.commit()?;
            Ok(UploadState::Underway {
                size: up.size,
                device: up.device,
                started_at: up.now,
            })
        })
        .await
    }

    async fn upload_state(&self, space: Uuid, hash: Hash) -> StoreResult<Option<UploadState>> {
        self.read(move |c| state_in(c, &space, &hash)).await
    }

    async fn finish_upload(&self, at: ObjectRef, now: Millis) -> StoreResult<u64> {
        let ObjectRef { space, hash, r } = at;
        self.write_tx(move |tx| {
            let size = match state_in(&tx, &space, &hash)? {
                None => return Err(StoreError::NotFound),
                Some(UploadState::Stored { size }) => size,
                Some(UploadState::Underway { size, .. }) => {
                    tx.execute(
                        "INSERT INTO attachment_objects (space, hash, size, created_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![
                            space.as_bytes().as_slice(),
                            hash.as_slice(),
                            size_column(size)?,
                            now
                        ],
                    )?;
                    size
                }
            };
            tx.execute(
                "DELETE FROM attachment_uploads WHERE space = ?1 AND hash = ?2",
                params![space.as_bytes().as_slice(), hash.as_slice()],
            )?;
            insert_ref(&tx, &space, &hash, &r, now)?;
            tx.commit()?;
            Ok(size)
        })
        .await
    }

    async fn add_ref(&self, at: ObjectRef, now: Millis) -> StoreResult<Option<u64>> {
        let ObjectRef { space, hash, r } = at;
        self.write_tx(move |tx| {
            let Some(UploadState::Stored { size }) = state_in(&tx, &space, &hash)? else {
                return Ok(None);
            };
            insert_ref(&tx, &space, &hash, &r, now)?;
            tx.commit()?;
            Ok(Some(size))
        })
        .await
    }

    async fn release_ref(&self, at: ObjectRef) -> StoreResult<Option<u64>> {
        let ObjectRef { space, hash, r } = at;
        self.write_tx(move |tx| {
            let sp = space.as_bytes().as_slice();
            let gone = tx.execute(
                "DELETE FROM attachment_refs WHERE space = ?1 AND hash = ?2 AND ref = ?3",
                params![sp, hash.as_slice(), r.as_slice()],
            )?;
            if gone == 0 {
                return Ok(None);
            }
            let left: i64 = tx.query_row(
                "SELECT count(*) FROM attachment_refs WHERE space = ?1 AND hash = ?2",
                params![sp, hash.as_slice()],
                |row| row.get(0),
            )?;
            let mut freed = None;
            if left == 0 {
                freed = tx
                    .query_row(
                        "DELETE FROM attachment_objects WHERE space = ?1 AND hash = ?2
                         RETURNING size",
                        params![sp, hash.as_slice()],
                        |row| row.get::<_, i64>(0),
                    )
                    .optional()?
                    .map(size_of);
            }
            tx.commit()?;
            Ok(freed)
        })
        .await
    }

    async fn expired_uploads(&self, before: Millis, limit: u32) -> StoreResult<Vec<(Uuid, Hash)>> {
        self.read(move |c| {
            let rows: Vec<(Vec<u8>, Vec<u8>)> = all_rows(
                c,
                "SELECT space, hash FROM attachment_uploads WHERE started_at < ?1
                 ORDER BY started_at LIMIT ?2",
                params![before, limit],
            )?;
            rows.into_iter()
                .map(|(s, h)| Ok((uuid_of(s)?, hash_of(&h)?)))
                .collect()
        })
        .await
    }

    async fn discard_upload(&self, space: Uuid, hash: Hash) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM attachment_uploads WHERE space = ?1 AND hash = ?2",
                params![space.as_bytes().as_slice(), hash.as_slice()],
            )? > 0)
        })
        .await
    }

    async fn attachment_size(&self, space: Uuid, hash: Hash) -> StoreResult<Option<u64>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT size FROM attachment_objects WHERE space = ?1 AND hash = ?2",
            )?
            .query_row(params![space.as_bytes().as_slice(), hash.as_slice()], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map(size_of))
        })
        .await
    }
}
