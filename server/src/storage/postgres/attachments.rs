//! PostgreSQL's [`AttachmentStore`], for several nodes at once: beginning an upload locks
//! the space's row (so two nodes' quota checks take turns), and an object's row is locked
//! while a reference is added or released (so a release that frees it and an add that
//! keeps it can't both win).

use sqlx::Row;

use super::*;
use crate::storage::attachments::{
    AttachmentRef, AttachmentStore, Hash, NewUpload, ObjectRef, UploadState, hash_of,
    judge_upload_quota, size_column, size_of,
};

async fn state_in(
    c: &mut sqlx::PgConnection,
    space: Uuid,
    hash: &Hash,
    lock: bool,
) -> StoreResult<Option<UploadState>> {
    let sql = if lock {
        "SELECT size FROM attachment_objects WHERE space = $1 AND hash = $2 FOR UPDATE"
    } else {
        "SELECT size FROM attachment_objects WHERE space = $1 AND hash = $2"
    };
    let stored: Option<i64> = sqlx::query_scalar(sql)
        .bind(space)
        .bind(hash.as_slice())
        .fetch_optional(&mut *c)
        .await?;
    if let Some(size) = stored {
        return Ok(Some(UploadState::Stored {
            size: size_of(size),
        }));
    }
    let row = sqlx::query(
        "SELECT size, device, started_at FROM attachment_uploads WHERE space = $1 AND hash = $2",
    )
    .bind(space)
    .bind(hash.as_slice())
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| {
        Ok(UploadState::Underway {
            size: size_of(r.try_get(0)?),
            device: r.try_get(1)?,
            started_at: r.try_get(2)?,
        })
    })
    .transpose()
}

async fn insert_ref(
    tx: &mut Transaction<'static, Postgres>,
    space: Uuid,
    hash: &Hash,
    r: &AttachmentRef,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attachment_refs (space, hash, ref, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(space)
    .bind(hash.as_slice())
    .bind(r.as_slice())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl AttachmentStore for PgStore {
    async fn begin_upload(&self, up: NewUpload) -> StoreResult<UploadState> {
        let mut tx = self.pool.begin().await?;
        // The space's row: quota checks of one space take turns, on every node.
        sqlx::query("SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE")
            .bind(up.space)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(state) = state_in(&mut tx, up.space, &up.hash, false).await? {
            return Ok(state);
        }
        let row = sqlx::query(
            "SELECT (SELECT coalesce(sum(size), 0)::BIGINT FROM attachment_objects WHERE space = $1),
                    (SELECT coalesce(sum(size), 0)::BIGINT FROM attachment_uploads WHERE space = $1)",
        )
        .bind(up.space)
        .fetch_one(&mut *tx)
        .await?;
        judge_upload_quota(row.try_get(0)?, row.try_get(1)?, up.size, up.quota_bytes)?;
        sqlx::query(
            "INSERT INTO attachment_uploads (space, hash, size, device, started_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(up.space)
        .bind(up.hash.as_slice())
        .bind(size_column(up.size)?)
        .bind(up.device)
        .bind(up.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(UploadState::Underway {
            size: up.size,
            device: up.device,
            started_at: up.now,
        })
    }

    async fn upload_state(&self, space: Uuid, hash: Hash) -> StoreResult<Option<UploadState>> {
        let mut c = self.pool.acquire().await?;
        state_in(&mut c, space, &hash, false).await
    }

    async fn finish_upload(&self, at: ObjectRef, now: Millis) -> StoreResult<u64> {
        let ObjectRef { space, hash, r } = at;
        let mut tx = self.pool.begin().await?;
        let upload: Option<i64> = sqlx::query_scalar(
            "DELETE FROM attachment_uploads WHERE space = $1 AND hash = $2 RETURNING size",
        )
        .bind(space)
        .bind(hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(size) = upload {
            // Another node may have stored the same object meanwhile: the same bytes.
            sqlx::query(
                "INSERT INTO attachment_objects (space, hash, size, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(space)
            .bind(hash.as_slice())
            .bind(size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let size = match state_in(&mut tx, space, &hash, true).await? {
            Some(UploadState::Stored { size }) => size,
            _ => return Err(StoreError::NotFound),
        };
        insert_ref(&mut tx, space, &hash, &r, now).await?;
        tx.commit().await?;
        Ok(size)
    }

    async fn add_ref(&self, at: ObjectRef, now: Millis) -> StoreResult<Option<u64>> {
        let ObjectRef { space, hash, r } = at;
        let mut tx = self.pool.begin().await?;
        let Some(UploadState::Stored { size }) = state_in(&mut tx, space, &hash, true).await?
        else {
            return Ok(None);
        };
        insert_ref(&mut tx, space, &hash, &r, now).await?;
        tx.commit().await?;
        Ok(Some(size))
    }

    async fn release_ref(&self, at: ObjectRef) -> StoreResult<Option<u64>> {
        let ObjectRef { space, hash, r } = at;
        let mut tx = self.pool.begin().await?;
        // The object's row first: a concurrent add waits, then finds it gone (or kept).
        if state_in(&mut tx, space, &hash, true).await?.is_none() {
            return Ok(None);
        }
        let gone =
            sqlx::query("DELETE FROM attachment_refs WHERE space = $1 AND hash = $2 AND ref = $3")
                .bind(space)
                .bind(hash.as_slice())
                .bind(r.as_slice())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if gone == 0 {
            return Ok(None);
        }
        let freed: Option<i64> = sqlx::query_scalar(
            "DELETE FROM attachment_objects o WHERE o.space = $1 AND o.hash = $2
               AND NOT EXISTS (SELECT 1 FROM attachment_refs r
                               WHERE r.space = o.space AND r.hash = o.hash)
             RETURNING o.size",
        )
        .bind(space)
        .bind(hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(freed.map(size_of))
    }

    async fn expired_uploads(&self, before: Millis, limit: u32) -> StoreResult<Vec<(Uuid, Hash)>> {
        sqlx::query(
            "SELECT space, hash FROM attachment_uploads WHERE started_at < $1
             ORDER BY started_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            let h: Vec<u8> = r.try_get(1)?;
            Ok((r.try_get(0)?, hash_of(&h)?))
        })
        .collect()
    }

    async fn discard_upload(&self, space: Uuid, hash: Hash) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM attachment_uploads WHERE space = $1 AND hash = $2")
                .bind(space)
                .bind(hash.as_slice())
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    async fn attachment_size(&self, space: Uuid, hash: Hash) -> StoreResult<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT size FROM attachment_objects WHERE space = $1 AND hash = $2",
        )
        .bind(space)
        .bind(hash.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(size.map(size_of))
    }
}
