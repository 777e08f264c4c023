//! The embedded SQLite backend (the default): one file in the data dir, WAL, one writer
//! connection and a few readers, each call run on tokio's blocking pool.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use duet_proto::{LogBlob, Pulled, Snapshot, SpaceInfo};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use uuid::Uuid;

use super::*;

const READERS: usize = 4;

const SCHEMA_V1: &str = r#"
CREATE TABLE devices (
    id          BLOB PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;

CREATE TABLE spaces (
    id          BLOB PRIMARY KEY,
    head        INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    pruned_seq  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE members (
    space     BLOB NOT NULL REFERENCES spaces(id),
    device    BLOB NOT NULL REFERENCES devices(id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (space, device)
) WITHOUT ROWID;
CREATE INDEX members_device ON members(device, space);

CREATE TABLE invites (
    id           BLOB PRIMARY KEY,
    space        BLOB NOT NULL REFERENCES spaces(id),
    created_by   BLOB NOT NULL,
    token_hash   BLOB NOT NULL,
    wrapped_key  BLOB NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    used_by      BLOB,
    used_at      INTEGER
) WITHOUT ROWID;

-- The sealed-blob log. Rows are large (up to a few MB), so this is a rowid table.
CREATE TABLE blobs (
    space       BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    blob_id     BLOB NOT NULL,
    device      BLOB NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (space, seq),
    UNIQUE (space, blob_id)
);

CREATE TABLE snapshots (
    space       BLOB PRIMARY KEY,
    seq         INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
"#;

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        backend(e)
    }
}

fn open_conn(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // A push is acknowledged only once it is on stable storage.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating and migrating) `relay.sqlite3` in `dir`.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join("relay.sqlite3");
        let mut writer = open_conn(&path)?;
        Migrations::new(vec![M::up(SCHEMA_V1)])
            .to_latest(&mut writer)
            .map_err(backend)?;
        let readers = (0..READERS)
            .map(|_| open_conn(&path).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
        })
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let w = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = w.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(backend)?
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let readers = self.readers.clone();
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
        tokio::task::spawn_blocking(move || {
            let c = readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&c)
        })
        .await
        .map_err(backend)?
    }
}

fn uuid_of(b: Vec<u8>) -> StoreResult<Uuid> {
    Uuid::from_slice(&b).map_err(backend)
}

fn members_of(c: &Connection, space: &Uuid) -> StoreResult<Vec<Uuid>> {
    let mut stmt =
        c.prepare_cached("SELECT device FROM members WHERE space = ?1 ORDER BY device")?;
    let rows = stmt.query_map([space.as_bytes().as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| uuid_of(r?)).collect()
}

fn space_info(c: &Connection, space: &Uuid) -> StoreResult<Option<SpaceInfo>> {
    let head: Option<i64> = c
        .prepare_cached("SELECT head FROM spaces WHERE id = ?1")?
        .query_row([space.as_bytes().as_slice()], |r| r.get(0))
        .optional()?;
    match head {
        None => Ok(None),
        Some(head) => Ok(Some(SpaceInfo {
            space_id: *space,
            members: members_of(c, space)?,
            head: head as u64,
        })),
    }
}

fn snapshot_of(c: &Connection, space: &Uuid) -> StoreResult<Option<Snapshot>> {
    Ok(
        c.prepare_cached("SELECT seq, data FROM snapshots WHERE space = ?1")?
            .query_row([space.as_bytes().as_slice()], |r| {
                Ok(Snapshot {
                    seq: r.get::<_, i64>(0)? as u64,
                    data: r.get(1)?,
                })
            })
            .optional()?,
    )
}

#[async_trait]
impl RelayStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn register_device(
        &self,
        id: Uuid,
        token_hash: [u8; 32],
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO devices (id, token_hash, created_at) VALUES (?1, ?2, ?3)",
                params![id.as_bytes().as_slice(), token_hash.as_slice(), now],
            )?;
            Ok(())
        })
        .await
    }

    async fn device_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Device>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, revoked_at IS NOT NULL FROM devices WHERE token_hash = ?1",
            )?
            .query_row([token_hash.as_slice()], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?))
            })
            .optional()?
            .map(|(id, revoked)| {
                Ok(Device {
                    id: uuid_of(id)?,
                    revoked,
                })
            })
            .transpose()
        })
        .await
    }

    async fn device(&self, id: Uuid) -> StoreResult<Option<Device>> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?1")?
                    .query_row([id.as_bytes().as_slice()], |r| r.get(0))
                    .optional()?
                    .map(|revoked| Device { id, revoked }),
            )
        })
        .await
    }

    async fn revoke_device(&self, id: Uuid, now: Millis) -> StoreResult<bool> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id.as_bytes().as_slice(), now],
            )?;
            tx.execute(
                "DELETE FROM members WHERE device = ?1",
                [id.as_bytes().as_slice()],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_space(&self, space: Uuid, creator: Uuid, now: Millis) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM spaces WHERE id = ?1",
                    [space.as_bytes().as_slice()],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if exists {
                return Err(StoreError::Conflict("a space with this id exists".into()));
            }
            tx.execute(
                "INSERT INTO spaces (id, created_at) VALUES (?1, ?2)",
                params![space.as_bytes().as_slice(), now],
            )?;
            tx.execute(
                "INSERT INTO members (space, device, added_at) VALUES (?1, ?2, ?3)",
                params![
                    space.as_bytes().as_slice(),
                    creator.as_bytes().as_slice(),
                    now
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn is_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM members WHERE space = ?1 AND device = ?2")?
                    .query_row(
                        params![space.as_bytes().as_slice(), device.as_bytes().as_slice()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }

    async fn space_info(&self, space: Uuid) -> StoreResult<Option<SpaceInfo>> {
        self.read(move |c| space_info(c, &space)).await
    }

    async fn spaces_of(&self, device: Uuid) -> StoreResult<Vec<SpaceInfo>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT space FROM members WHERE device = ?1 ORDER BY space")?;
            let ids = stmt
                .query_map([device.as_bytes().as_slice()], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(info) = space_info(c, &uuid_of(id)?)? {
                    out.push(info);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn add_member(&self, space: Uuid, device: Uuid, now: Millis) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ok: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM devices WHERE id = ?1 AND revoked_at IS NULL",
                    [device.as_bytes().as_slice()],
                    |r| r.get(0),
                )
                .optional()?;
            if ok.is_none() {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "INSERT OR IGNORE INTO members (space, device, added_at) VALUES (?1, ?2, ?3)",
                params![
                    space.as_bytes().as_slice(),
                    device.as_bytes().as_slice(),
                    now
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM members WHERE space = ?1 AND device = ?2",
                params![space.as_bytes().as_slice(), device.as_bytes().as_slice()],
            )? > 0)
        })
        .await
    }

    async fn share_a_space(&self, a: Uuid, b: Uuid) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM members x JOIN members y ON x.space = y.space
                 WHERE x.device = ?1 AND y.device = ?2 LIMIT 1",
            )?
            .query_row(
                params![a.as_bytes().as_slice(), b.as_bytes().as_slice()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }

    async fn create_invite(&self, inv: NewInvite) -> StoreResult<()> {
        self.write(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO invites (id, space, created_by, token_hash, wrapped_key, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    inv.id.as_bytes().as_slice(),
                    inv.space.as_bytes().as_slice(),
                    inv.created_by.as_bytes().as_slice(),
                    inv.token_hash.as_slice(),
                    inv.wrapped_key,
                    inv.expires_at
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict("an invite with this id exists".into()));
            }
            Ok(())
        })
        .await
    }

    async fn join_invite(
        &self,
        id: Uuid,
        token_hash: [u8; 32],
        device: Uuid,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<JoinOutcome> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            type Row = (Vec<u8>, Vec<u8>, Vec<u8>, i64, u32, Option<Vec<u8>>);
            let row: Option<Row> = tx
                .query_row(
                    "SELECT space, token_hash, wrapped_key, expires_at, attempts, used_by
                     FROM invites WHERE id = ?1",
                    [id.as_bytes().as_slice()],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((space, stored, wrapped_key, expires_at, attempts, used_by)) = row else {
                return Ok(JoinOutcome::NotFound);
            };
            match judge_join(
                used_by.is_some(),
                attempts,
                expires_at,
                &stored,
                &token_hash,
                now,
                max_attempts,
            ) {
                JoinVerdict::Refuse(outcome) => return Ok(outcome),
                JoinVerdict::CountAttempt(outcome) => {
                    tx.execute(
                        "UPDATE invites SET attempts = attempts + 1 WHERE id = ?1",
                        [id.as_bytes().as_slice()],
                    )?;
                    tx.commit()?;
                    return Ok(outcome);
                }
                JoinVerdict::Join => {}
            }
            tx.execute(
                "UPDATE invites SET used_by = ?2, used_at = ?3 WHERE id = ?1",
                params![id.as_bytes().as_slice(), device.as_bytes().as_slice(), now],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO members (space, device, added_at) VALUES (?1, ?2, ?3)",
                params![space, device.as_bytes().as_slice(), now],
            )?;
            tx.commit()?;
            Ok(JoinOutcome::Joined {
                space: uuid_of(space)?,
                wrapped_key,
            })
        })
        .await
    }

    async fn append(
        &self,
        space: Uuid,
        device: Uuid,
        blobs: Vec<(Vec<u8>, Vec<u8>)>,
        limits: AppendLimits,
        now: Millis,
    ) -> StoreResult<Appended> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (mut head, mut bytes): (i64, i64) = tx
                .query_row(
                    "SELECT head, bytes FROM spaces WHERE id = ?1",
                    [space.as_bytes().as_slice()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            let mut seqs = Vec::with_capacity(blobs.len());
            let mut fresh = Vec::new();
            {
                let mut find = tx.prepare_cached(
                    "SELECT seq, data FROM blobs WHERE space = ?1 AND blob_id = ?2",
                )?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO blobs (space, seq, blob_id, device, data, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (id, data) in blobs {
                    let existing: Option<(i64, Vec<u8>)> = find
                        .query_row(params![space.as_bytes().as_slice(), id], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?;
                    if let Some((seq, stored)) = existing {
                        if stored != data {
                            return Err(StoreError::Conflict(
                                "a blob with this id holds other bytes".into(),
                            ));
                        }
                        seqs.push(seq as u64);
                        continue;
                    }
                    // A retry within the same push is the same blob too.
                    if let Some(prev) = fresh.iter().find(|b: &&LogBlob| b.id == id) {
                        if prev.data != data {
                            return Err(StoreError::Conflict(
                                "a blob with this id holds other bytes".into(),
                            ));
                        }
                        seqs.push(prev.seq);
                        continue;
                    }
                    bytes += data.len() as i64;
                    if bytes as u64 > limits.quota_bytes {
                        return Err(StoreError::QuotaExceeded);
                    }
                    head += 1;
                    insert.execute(params![
                        space.as_bytes().as_slice(),
                        head,
                        id,
                        device.as_bytes().as_slice(),
                        data,
                        now
                    ])?;
                    seqs.push(head as u64);
                    fresh.push(LogBlob {
                        seq: head as u64,
                        id,
                        data,
                    });
                }
            }
            tx.execute(
                "UPDATE spaces SET head = ?2, bytes = ?3 WHERE id = ?1",
                params![space.as_bytes().as_slice(), head, bytes],
            )?;
            tx.commit()?;
            Ok(Appended {
                seqs,
                head: head as u64,
                fresh,
            })
        })
        .await
    }

    async fn pull(&self, space: Uuid, after: u64, limit: u32) -> StoreResult<Pulled> {
        self.read(move |c| {
            let (head, pruned): (i64, i64) = c
                .prepare_cached("SELECT head, pruned_seq FROM spaces WHERE id = ?1")?
                .query_row([space.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .ok_or(StoreError::NotFound)?;
            let head = head as u64;
            if after > head {
                return Err(StoreError::CursorAhead { after, head });
            }
            let mut from = after;
            let mut snapshot = None;
            if after < pruned as u64 {
                let s = snapshot_of(c, &space)?
                    .ok_or_else(|| backend("log pruned without a snapshot"))?;
                from = s.seq;
                snapshot = Some(s);
            }
            let mut stmt = c.prepare_cached(
                "SELECT seq, blob_id, data FROM blobs WHERE space = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let blobs = stmt
                .query_map(
                    params![space.as_bytes().as_slice(), from as i64, limit as i64],
                    |r| {
                        Ok(LogBlob {
                            seq: r.get::<_, i64>(0)? as u64,
                            id: r.get(1)?,
                            data: r.get(2)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let last = blobs.last().map(|b| b.seq).unwrap_or(from);
            Ok(Pulled {
                more: last < head,
                blobs,
                head,
                snapshot,
            })
        })
        .await
    }

    async fn put_snapshot(&self, space: Uuid, s: Snapshot, now: Millis) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head: i64 = tx
                .query_row(
                    "SELECT head FROM spaces WHERE id = ?1",
                    [space.as_bytes().as_slice()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            if s.seq > head as u64 {
                return Err(StoreError::CursorAhead {
                    after: s.seq,
                    head: head as u64,
                });
            }
            tx.execute(
                "INSERT INTO snapshots (space, seq, data, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(space) DO UPDATE SET seq = excluded.seq, data = excluded.data,
                     created_at = excluded.created_at
                 WHERE excluded.seq > snapshots.seq",
                params![space.as_bytes().as_slice(), s.seq as i64, s.data, now],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn snapshot(&self, space: Uuid) -> StoreResult<Option<Snapshot>> {
        self.read(move |c| snapshot_of(c, &space)).await
    }

    async fn prune(&self, older_than: Millis) -> StoreResult<u64> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<(Vec<u8>, i64)> = tx
                .prepare(
                    "SELECT s.space, s.seq FROM snapshots s JOIN spaces p ON p.id = s.space
                     WHERE s.created_at < ?1 AND s.seq > p.pruned_seq",
                )?
                .query_map([older_than], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut n = 0u64;
            for (space, seq) in due {
                n += tx.execute(
                    "DELETE FROM blobs WHERE space = ?1 AND seq <= ?2",
                    params![space, seq],
                )? as u64;
                tx.execute(
                    "UPDATE spaces SET pruned_seq = ?2,
                        bytes = (SELECT coalesce(sum(length(data)), 0) FROM blobs WHERE space = ?1)
                     WHERE id = ?1",
                    params![space, seq],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_passes_the_storage_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        crate::storage::suite::run(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_keeps_a_gap_free_log_under_concurrent_pushes() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn RelayStore> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        crate::storage::suite::concurrent_appends(&[store], &mut []).await;
    }
}
