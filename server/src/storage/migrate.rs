//! `duet-relay migrate-from-sqlite`: move a single relay's SQLite data into PostgreSQL, for
//! an operator who outgrows one machine. Everything is copied as it is — device token
//! hashes, memberships, open invites, the sealed-blob logs with their sequence numbers,
//! snapshots, the relay's shares of prompt answers, key drops, recovery kits, attachments'
//! metadata (their bytes stay in the object store) — in one
//! PostgreSQL transaction, so a failed run leaves the target empty, and
//! devices carry on with their tokens and cursors against the new nodes.

use std::path::Path;

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use uuid::Uuid;

use super::postgres::PgStore;
use super::sqlite::all_rows;
use super::{StoreError, StoreResult};

/// What was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub devices: u64,
    pub spaces: u64,
    pub members: u64,
    pub invites: u64,
    pub blobs: u64,
    pub snapshots: u64,
    pub answers: u64,
    pub key_drops: u64,
    pub recovery_kits: u64,
    pub attachment_objects: u64,
    pub attachment_refs: u64,
    pub attachment_uploads: u64,
}

impl Copied {
    /// The count of `table`'s rows, when it has one.
    fn count_of(&mut self, table: &str) -> Option<&mut u64> {
        Some(match table {
            "devices" => &mut self.devices,
            "spaces" => &mut self.spaces,
            "members" => &mut self.members,
            "invites" => &mut self.invites,
            "snapshots" => &mut self.snapshots,
            "answer_shares" => &mut self.answers,
            "key_drops" => &mut self.key_drops,
            "recovery_kits" => &mut self.recovery_kits,
            "attachment_objects" => &mut self.attachment_objects,
            "attachment_refs" => &mut self.attachment_refs,
            "attachment_uploads" => &mut self.attachment_uploads,
            _ => return None,
        })
    }
}

/// The tables copied row by row, in an order their foreign keys allow (the logs, most of
/// the data, go in batches after them), as `table: columns`. A column's SQLite value goes
/// over as it is unless its PostgreSQL type says otherwise: `:uuid` (16 bytes in SQLite),
/// `:int4` (INTEGER; BIGINT is the default), `:bool` (0 or 1 in SQLite). A NULL binds as
/// the column's type, BIGINT by default (the nullable columns are BIGINT or UUID).
const TABLES: &[&str] = &[
    "devices: id:uuid, person:uuid, token_hash, created_at, revoked_at",
    "spaces: id:uuid, head, bytes, pruned_seq, created_at, kind, key_epoch, created_by:uuid",
    "members: space:uuid, device:uuid, added_at",
    "invites: id:uuid, space:uuid, created_by:uuid, token_hash, wrapped_key, expires_at, \
     attempts:int4, used_by:uuid, used_at, kind",
    "snapshots: space:uuid, seq, data, created_at",
    "answer_shares: space:uuid, round, person:uuid, share, answered_at, revealed:bool",
    "key_drops: space:uuid, epoch, device:uuid, sender:uuid, sealed, created_at",
    "recovery_kits: lookup, person:uuid, auth_hash, envelope, made_by:uuid, updated_at",
    "recovery_kit_spaces: person:uuid, space:uuid",
    // Attachments' metadata; their bytes stay where they are (the object store, the node's
    // partial dir).
    "attachment_objects: space:uuid, hash, size, created_at",
    "attachment_refs: space:uuid, hash, ref, created_at",
    "attachment_uploads: space:uuid, hash, size, device:uuid, started_at",
];

/// Copy every row of `table`'s `columns` (as [`TABLES`] lists them); returns how many.
async fn copy_table(
    src: &Connection,
    tx: &mut Transaction<'static, Postgres>,
    table: &str,
    columns: &str,
) -> StoreResult<u64> {
    let columns: Vec<(&str, &str)> = columns
        .split(',')
        .map(|c| c.trim().split_once(':').unwrap_or((c.trim(), "")))
        .collect();
    let names = columns
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<Vec<Value>> = src
        .prepare(&format!("SELECT {names} FROM {table}"))?
        .query_map([], |r| (0..columns.len()).map(|i| r.get(i)).collect())?
        .collect::<rusqlite::Result<_>>()?;
    let params = (1..=columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>();
    let insert: Arc<str> = format!(
        "INSERT INTO {table} ({names}) VALUES ({})",
        params.join(", ")
    )
    .into();
    let mut n = 0;
    for row in rows {
        // Built from the names in TABLES alone, never from data.
        let mut q = sqlx::query(AssertSqlSafe(insert.clone()));
        for ((name, kind), v) in columns.iter().zip(row) {
            q = bind(q, kind, v)
                .map_err(|e| backend(format!("{table}.{name} can't be copied: {e}")))?;
        }
        q.execute(&mut **tx).await?;
        n += 1;
    }
    Ok(n)
}

/// `q` with an SQLite value bound as a PostgreSQL column of `kind` (see [`TABLES`]).
fn bind(q: PgQuery, kind: &str, v: Value) -> Result<PgQuery, String> {
    Ok(match (kind, v) {
        ("uuid", Value::Blob(b)) => q.bind(Uuid::from_slice(&b).map_err(|e| e.to_string())?),
        ("uuid", Value::Null) => q.bind(None::<Uuid>),
        ("int4", Value::Integer(i)) => q.bind(i32::try_from(i).map_err(|e| e.to_string())?),
        ("bool", Value::Integer(i)) => q.bind(i != 0),
        ("", Value::Integer(i)) => q.bind(i),
        ("", Value::Null) => q.bind(None::<i64>),
        ("", Value::Blob(b)) => q.bind(b),
        ("", Value::Text(t)) => q.bind(t),
        (kind, v) => return Err(format!("a {:?} value for a {kind:?} column", v.data_type())),
    })
}

type PgQuery = sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>;

const BLOB_BATCH: i64 = 500;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn uuid(b: &[u8]) -> StoreResult<Uuid> {
    Uuid::from_slice(b).map_err(backend)
}

/// Copy `data_dir/relay.sqlite3` into the (empty) PostgreSQL database at `url`. The relay
/// should be stopped meanwhile: the SQLite file is read as it is at the start.
pub async fn sqlite_to_postgres(data_dir: &Path, url: &str) -> StoreResult<Copied> {
    let path = data_dir.join("relay.sqlite3");
    if !path.exists() {
        return Err(backend(format!("no relay database at {}", path.display())));
    }
    // Bring the file up to this build's schema first (a relay stopped before an upgrade).
    drop(super::sqlite::SqliteStore::open(data_dir)?);
    let src = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // One read transaction: a consistent view even if something still writes.
    src.execute_batch("BEGIN")?;
    let pg = PgStore::connect(url, 2).await?;
    let mut tx = pg.pool().begin().await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        return Err(StoreError::Conflict(
            "the PostgreSQL database already holds relay data; migrate into an empty one".into(),
        ));
    }
    let mut copied = Copied::default();

    for spec in TABLES {
        let (table, columns) = spec
            .split_once(':')
            .ok_or_else(|| backend(format!("a table without columns: {spec}")))?;
        let n = copy_table(&src, &mut tx, table, columns).await?;
        if let Some(count) = copied.count_of(table) {
            *count = n;
        }
    }

    // The logs, in batches (they are most of the data), by rowid.
    let mut after = 0i64;
    loop {
        type BlobRow = (i64, Vec<u8>, i64, Vec<u8>, Vec<u8>, Vec<u8>, i64);
        let batch: Vec<BlobRow> = all_rows(
            &src,
            "SELECT rowid, space, seq, blob_id, device, data, created_at FROM blobs
             WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            params![after, BLOB_BATCH],
        )?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        let mut spaces = Vec::with_capacity(batch.len());
        let mut seqs = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        let mut devices = Vec::with_capacity(batch.len());
        let mut data = Vec::with_capacity(batch.len());
        let mut created = Vec::with_capacity(batch.len());
        for (_, space, seq, id, device, bytes, at) in batch {
            spaces.push(uuid(&space)?);
            seqs.push(seq);
            ids.push(id);
            devices.push(uuid(&device)?);
            data.push(bytes);
            created.push(at);
        }
        copied.blobs += seqs.len() as u64;
        sqlx::query(
            "INSERT INTO blobs (space, seq, blob_id, device, data, created_at)
             SELECT * FROM UNNEST($1::UUID[], $2::BIGINT[], $3::BYTEA[], $4::UUID[],
                                  $5::BYTEA[], $6::BIGINT[])",
        )
        .bind(&spaces)
        .bind(&seqs)
        .bind(&ids)
        .bind(&devices)
        .bind(&data)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
    }

    // Cross-check before committing: every space's head matches its log.
    let bad: i64 = sqlx::query(
        "SELECT count(*) FROM spaces s
         WHERE s.head < coalesce((SELECT max(seq) FROM blobs b WHERE b.space = s.id), 0)",
    )
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    if bad > 0 {
        return Err(backend(format!(
            "{bad} spaces have blobs beyond their head in the SQLite file; nothing was copied"
        )));
    }
    tx.commit().await?;
    src.execute_batch("COMMIT")?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStore;
    use crate::storage::{
        AppendLimits, AttachmentStore, JoinOutcome, KitUpdate, NewInvite, ObjectRef, RelayStore,
    };
    use duet_proto::Snapshot;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_sqlite_relay_moves_to_postgres_whole() {
        let Some(server) = duet_e2e::pg::server_url() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let lite = SqliteStore::open(dir.path()).unwrap();
        let (a, b, gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        lite.register_device(a, a, [1; 32], 1).await.unwrap();
        lite.register_device(b, b, [2; 32], 1).await.unwrap();
        lite.register_device(gone, gone, [3; 32], 1).await.unwrap();
        lite.revoke_device(gone, 2).await.unwrap();
        let space = Uuid::new_v4();
        lite.create_space(space, duet_proto::SpaceKind::Journal, a, 3)
            .await
            .unwrap();
        lite.add_member(space, b, 4).await.unwrap();
        let limits = AppendLimits {
            quota_bytes: 1 << 30,
            inline_bytes: 0,
        };
        for i in 0..1_234u32 {
            let blob = (i.to_be_bytes().to_vec(), vec![i as u8; 50]);
            lite.append(space, a, vec![blob], limits, 5).await.unwrap();
        }
        lite.put_snapshot(
            space,
            Snapshot {
                seq: 1_000,
                data: vec![9; 100],
            },
            6,
        )
        .await
        .unwrap();
        lite.prune(7).await.unwrap();
        let (pa, pb) = (lite.device(a).await.unwrap().unwrap().person, b);
        lite.put_answer(space, "p.1", pa, [4; 32], 7, 10)
            .await
            .unwrap();
        lite.put_answer(space, "p.1", pb, [5; 32], 8, 10)
            .await
            .unwrap();
        assert!(lite.reveal_answer(space, "p.1", pb).await.unwrap());
        assert_eq!(lite.raise_epoch(space, 2).await.unwrap(), 2);
        let drop_for_b = duet_proto::KeyDrop {
            device: b,
            sealed: vec![8; 104],
        };
        assert_eq!(
            lite.put_key_drops(space, 2, a, vec![drop_for_b], 8)
                .await
                .unwrap(),
            1
        );
        let kit = KitUpdate {
            lookup: [6; 16],
            device: a,
            person: pa,
            envelope: vec![5; 300],
            spaces: vec![space],
            now: 8,
        };
        lite.put_recovery_kit(kit, [9; 32]).await.unwrap();
        let upload = |hash: u8| crate::storage::NewUpload {
            space,
            hash: [hash; 32],
            size: 10,
            device: a,
            now: 8,
            quota_bytes: 100,
        };
        lite.begin_upload(upload(1)).await.unwrap();
        lite.finish_upload(ObjectRef::new(space, [1; 32], [1; 16]), 9)
            .await
            .unwrap();
        lite.add_ref(ObjectRef::new(space, [1; 32], [2; 16]), 9)
            .await
            .unwrap();
        lite.begin_upload(upload(2)).await.unwrap();
        let invite = Uuid::new_v4();
        lite.create_invite(NewInvite {
            id: invite,
            space,
            created_by: a,
            token_hash: [7; 32],
            wrapped_key: vec![1, 2, 3],
            expires_at: i64::MAX,
            kind: duet_proto::InviteKind::Partner,
        })
        .await
        .unwrap();
        drop(lite);

        let url = duet_e2e::pg::fresh_database(&server).await;
        let copied = sqlite_to_postgres(dir.path(), &url).await.unwrap();
        assert_eq!(
            copied,
            Copied {
                devices: 3,
                spaces: 1,
                members: 2,
                invites: 1,
                blobs: 234,
                snapshots: 1,
                answers: 2,
                key_drops: 1,
                recovery_kits: 1,
                attachment_objects: 1,
                attachment_refs: 2,
                attachment_uploads: 1,
            }
        );

        let lite = SqliteStore::open(dir.path()).unwrap();
        let pg = PgStore::connect(&url, 4).await.unwrap();
        for token in [[1; 32], [2; 32], [3; 32]] {
            assert_eq!(
                pg.device_by_token(token).await.unwrap(),
                lite.device_by_token(token).await.unwrap()
            );
        }
        assert_eq!(
            pg.space_info(space).await.unwrap(),
            lite.space_info(space).await.unwrap()
        );
        assert_eq!(
            pg.answers(space, "p.1").await.unwrap(),
            lite.answers(space, "p.1").await.unwrap()
        );
        assert_eq!(
            pg.key_drops(space, b).await.unwrap(),
            lite.key_drops(space, b).await.unwrap()
        );
        assert_eq!(
            pg.recovery_kit_of(pa).await.unwrap(),
            lite.recovery_kit_of(pa).await.unwrap()
        );
        for hash in [[1; 32], [2; 32], [3; 32]] {
            assert_eq!(
                pg.upload_state(space, hash).await.unwrap(),
                lite.upload_state(space, hash).await.unwrap()
            );
        }
        assert_eq!(
            pg.release_ref(ObjectRef::new(space, [1; 32], [1; 16]))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            pg.release_ref(ObjectRef::new(space, [1; 32], [2; 16]))
                .await
                .unwrap(),
            Some(10),
            "both references came along"
        );
        assert!(
            !pg.put_answer(space, "p.1", pa, [6; 32], 9, 10)
                .await
                .unwrap(),
            "the first share came along"
        );
        for after in [0, 999, 1_000, 1_100, 1_234] {
            assert_eq!(
                pg.pull(space, after, 500).await.unwrap(),
                lite.pull(space, after, 500).await.unwrap()
            );
        }
        // The copy is live: the kit proves, the invite works, pushes continue the numbering.
        let recovered = pg
            .recover_device(crate::storage::KitAttempt {
                lookup: [6; 16],
                auth_hash: [9; 32],
                device: Uuid::new_v4(),
                token_hash: [10; 32],
                now: 8,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (recovered.person, recovered.envelope, recovered.spaces),
            (pa, vec![5; 300], vec![space])
        );
        assert!(matches!(
            pg.join_invite(invite, [7; 32], b, 8, 5).await.unwrap(),
            JoinOutcome::Joined { .. }
        ));
        let more = pg
            .append(space, b, vec![(vec![0xff], vec![1])], limits, 9)
            .await
            .unwrap();
        assert_eq!(more.seqs, vec![1_235]);
        // Who created the space came along: it still counts toward the creator's cap.
        assert!(matches!(
            pg.create_space_capped(Uuid::new_v4(), duet_proto::SpaceKind::Journal, a, 10, 1)
                .await,
            Err(StoreError::TooManySpaces { max: 1 })
        ));

        // A second run refuses: the target is no longer empty.
        assert!(matches!(
            sqlite_to_postgres(dir.path(), &url).await,
            Err(StoreError::Conflict(_))
        ));
    }
}
