//! `migrate-from-sqlite`'s attachment tables: objects, their references and the uploads
//! under way (whose bytes stay where they are: the object store, the node's partial dir).

use rusqlite::Connection;
use sqlx::{Postgres, Transaction};

use super::{Copied, uuid};
use crate::storage::StoreResult;
use crate::storage::sqlite::all_rows;

pub(super) async fn copy(
    src: &Connection,
    tx: &mut Transaction<'static, Postgres>,
    copied: &mut Copied,
) -> StoreResult<()> {
    let objects: Vec<(Vec<u8>, Vec<u8>, i64, i64)> = all_rows(
        src,
        "SELECT space, hash, size, created_at FROM attachment_objects",
        [],
    )?;
    for (space, hash, size, created) in objects {
        sqlx::query(
            "INSERT INTO attachment_objects (space, hash, size, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(uuid(&space)?)
        .bind(hash)
        .bind(size)
        .bind(created)
        .execute(&mut **tx)
        .await?;
        copied.attachment_objects += 1;
    }
    type RefRow = (Vec<u8>, Vec<u8>, Vec<u8>, i64);
    let refs: Vec<RefRow> = all_rows(
        src,
        "SELECT space, hash, ref, created_at FROM attachment_refs",
        [],
    )?;
    for (space, hash, r, created) in refs {
        sqlx::query(
            "INSERT INTO attachment_refs (space, hash, ref, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(uuid(&space)?)
        .bind(hash)
        .bind(r)
        .bind(created)
        .execute(&mut **tx)
        .await?;
        copied.attachment_refs += 1;
    }
    type UploadRow = (Vec<u8>, Vec<u8>, i64, Vec<u8>, i64);
    let uploads: Vec<UploadRow> = all_rows(
        src,
        "SELECT space, hash, size, device, started_at FROM attachment_uploads",
        [],
    )?;
    for (space, hash, size, device, started) in uploads {
        sqlx::query(
            "INSERT INTO attachment_uploads (space, hash, size, device, started_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uuid(&space)?)
        .bind(hash)
        .bind(size)
        .bind(uuid(&device)?)
        .bind(started)
        .execute(&mut **tx)
        .await?;
        copied.attachment_uploads += 1;
    }
    Ok(())
}
