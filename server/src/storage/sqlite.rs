//! The embedded SQLite backend (the default): one file in the data dir, WAL, one writer
//! connection and a few readers, each call run on tokio's blocking pool.
//!
//! Past 500 lines on purpose: it is one thing, this backend's `RelayStore` impl (a trait
//! impl is one block); the schema is in `migrations/sqlite/`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use duet_proto::{HeldDrop, KeyDrop, LogBlob, Pulled, Snapshot, SpaceInfo, SpaceKind};
use rusqlite::{
    Connection, OptionalExtension, Params, Row, Transaction, TransactionBehavior, params,
};
use rusqlite_migration::{M, Migrations};
use uuid::Uuid;

use super::*;

mod attachments;

const READERS: usize = 4;

/// The schema, one file per step (the same steps as PostgreSQL's).
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_relay.sql"),
    include_str!("../../migrations/sqlite/0002_persons.sql"),
    include_str!("../../migrations/sqlite/0003_limits.sql"),
    include_str!("../../migrations/sqlite/0004_answers.sql"),
    include_str!("../../migrations/sqlite/0005_key_drops.sql"),
    include_str!("../../migrations/sqlite/0006_recovery_kits.sql"),
    include_str!("../../migrations/sqlite/0007_attachments.sql"),
];

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
        Migrations::new(MIGRATIONS.iter().map(|m| M::up(m)).collect())
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

    /// [`write`](Self::write) in an IMMEDIATE transaction: the write lock is taken at once,
    /// so nothing comes between what it reads and what it writes. `f` commits.
    async fn write_tx<R: Send + 'static>(
        &self,
        f: impl FnOnce(Transaction<'_>) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        self.write(move |c| f(c.transaction_with_behavior(TransactionBehavior::Immediate)?))
            .await
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

/// A row's columns, in order, as a tuple.
fn columns<T>(r: &Row<'_>) -> rusqlite::Result<T>
where
    T: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
{
    T::try_from(r)
}

/// Every row `sql` selects, each as a tuple of its columns.
pub(super) fn all_rows<T>(c: &Connection, sql: &str, p: impl Params) -> StoreResult<Vec<T>>
where
    T: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
{
    Ok(c.prepare_cached(sql)?
        .query_map(p, columns)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Make `device` a member of `space` (if it isn't).
fn join_space(c: &Connection, space: &Uuid, device: &Uuid, now: Millis) -> StoreResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO members (space, device, added_at) VALUES (?1, ?2, ?3)",
        params![
            space.as_bytes().as_slice(),
            device.as_bytes().as_slice(),
            now
        ],
    )?;
    Ok(())
}

/// (device, person) of every member of a space.
fn members_of(c: &Connection, space: &Uuid) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let mut stmt = c.prepare_cached(
        "SELECT m.device, d.person FROM members m JOIN devices d ON d.id = m.device
         WHERE m.space = ?1 ORDER BY m.device",
    )?;
    let rows = stmt.query_map([space.as_bytes().as_slice()], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    rows.map(|r| {
        let (d, p) = r?;
        Ok((uuid_of(d)?, uuid_of(p)?))
    })
    .collect()
}

fn space_info(c: &Connection, space: &Uuid) -> StoreResult<Option<SpaceInfo>> {
    let row: Option<(i64, String, u32)> = c
        .prepare_cached("SELECT head, kind, key_epoch FROM spaces WHERE id = ?1")?
        .query_row([space.as_bytes().as_slice()], columns)
        .optional()?;
    match row {
        None => Ok(None),
        Some((head, kind, key_epoch)) => {
            let (members, persons) = members_of(c, space)?.into_iter().unzip();
            Ok(Some(SpaceInfo {
                space_id: *space,
                members,
                head: head as u64,
                persons,
                kind: kind_of(&kind)?,
                key_epoch,
            }))
        }
    }
}

fn device_row(c: &Connection, id: &Uuid) -> StoreResult<Option<Device>> {
    c.prepare_cached("SELECT person, revoked_at IS NOT NULL FROM devices WHERE id = ?1")?
        .query_row([id.as_bytes().as_slice()], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?))
        })
        .optional()?
        .map(|(person, revoked)| {
            Ok(Device {
                id: *id,
                person: uuid_of(person)?,
                revoked,
            })
        })
        .transpose()
}

/// A space's announced key epoch; `NotFound` when there is no such space.
fn key_epoch_of(c: &Connection, space: &Uuid) -> StoreResult<u32> {
    c.prepare_cached("SELECT key_epoch FROM spaces WHERE id = ?1")?
        .query_row([space.as_bytes().as_slice()], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)
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

/// Whether `device` is a member of every space in `spaces`.
fn member_of_all(c: &Connection, device: &Uuid, spaces: &[Uuid]) -> StoreResult<bool> {
    let mut stmt = c.prepare_cached("SELECT 1 FROM members WHERE space = ?1 AND device = ?2")?;
    for s in spaces {
        let p = params![s.as_bytes().as_slice(), device.as_bytes().as_slice()];
        if stmt.query_row(p, |_| Ok(())).optional()?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Make `spaces` the list of `person`'s kit.
fn set_kit_spaces(c: &Connection, person: &Uuid, spaces: &[Uuid]) -> StoreResult<()> {
    let pe = person.as_bytes().as_slice();
    c.execute("DELETE FROM recovery_kit_spaces WHERE person = ?1", [pe])?;
    let mut insert =
        c.prepare_cached("INSERT INTO recovery_kit_spaces (person, space) VALUES (?1, ?2)")?;
    for s in spaces {
        insert.execute(params![pe, s.as_bytes().as_slice()])?;
    }
    Ok(())
}

/// The checks of a kit being stored, in its transaction: `NotFound` unless the device is a
/// live device of the kit's person and a member of every listed space. Returns the list to
/// store.
fn check_kit(c: &Connection, kit: &KitUpdate) -> StoreResult<Vec<Uuid>> {
    let spaces = kit_spaces(kit.spaces.clone());
    let live = device_row(c, &kit.device)?.is_some_and(|d| !d.revoked && d.person == kit.person);
    if !live || !member_of_all(c, &kit.device, &spaces)? {
        return Err(StoreError::NotFound);
    }
    Ok(spaces)
}

fn lookup_of(b: Vec<u8>) -> StoreResult<Lookup> {
    Lookup::try_from(b.as_slice()).map_err(backend)
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
        person: Uuid,
        token_hash: [u8; 32],
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO devices (id, person, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id.as_bytes().as_slice(),
                    person.as_bytes().as_slice(),
                    token_hash.as_slice(),
                    now
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn device_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Device>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, person, revoked_at IS NOT NULL FROM devices WHERE token_hash = ?1",
            )?
            .query_row([token_hash.as_slice()], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?))
            })
            .optional()?
            .map(|(id, person, revoked)| {
                Ok(Device {
                    id: uuid_of(id)?,
                    person: uuid_of(person)?,
                    revoked,
                })
            })
            .transpose()
        })
        .await
    }

    async fn device(&self, id: Uuid) -> StoreResult<Option<Device>> {
        self.read(move |c| device_row(c, &id)).await
    }

    async fn revoke_device(&self, id: Uuid, now: Millis) -> StoreResult<bool> {
        self.write_tx(move |tx| {
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id.as_bytes().as_slice(), now],
            )?;
            for sql in [
                "DELETE FROM members WHERE device = ?1",
                // Left for it, and left by it: a thief holding the phone before the
                // revocation must not have planted a key for the others to take.
                "DELETE FROM key_drops WHERE device = ?1 OR sender = ?1",
                "DELETE FROM invites WHERE created_by = ?1 AND used_by IS NULL",
                // Whoever holds it may hold the words; the kit's spaces go with it (ON
                // DELETE CASCADE).
                "DELETE FROM recovery_kits WHERE made_by = ?1",
            ] {
                tx.execute(sql, [id.as_bytes().as_slice()])?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_space_capped(
        &self,
        space: Uuid,
        kind: SpaceKind,
        creator: Uuid,
        now: Millis,
        max_created: u32,
    ) -> StoreResult<bool> {
        self.write_tx(move |tx| {
            let sp = space.as_bytes().as_slice();
            let by = creator.as_bytes().as_slice();
            let exists: bool = tx
                .query_row("SELECT 1 FROM spaces WHERE id = ?1", [sp], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if exists
                && tx
                    .query_row(
                        "SELECT 1 FROM members WHERE space = ?1 AND device = ?2",
                        params![sp, by],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some()
            {
                return Ok(false);
            }
            let created: i64 = tx.query_row(
                "SELECT count(*) FROM spaces WHERE created_by = ?1",
                [by],
                |r| r.get(0),
            )?;
            if created >= i64::from(max_created) {
                return Err(StoreError::TooManySpaces { max: max_created });
            }
            if exists {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO spaces (id, kind, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
                params![sp, kind.as_str(), now, by],
            )?;
            // The space is new: the creator can't be a member of it yet.
            join_space(&tx, &space, &creator, now)?;
            tx.commit()?;
            Ok(true)
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
        self.write_tx(move |tx| {
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
            join_space(&tx, &space, &device, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool> {
        self.write_tx(move |tx| {
            let p = params![space.as_bytes().as_slice(), device.as_bytes().as_slice()];
            let n = tx.execute("DELETE FROM members WHERE space = ?1 AND device = ?2", p)?;
            tx.execute("DELETE FROM key_drops WHERE space = ?1 AND device = ?2", p)?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn remove_person(&self, space: Uuid, person: Uuid) -> StoreResult<Vec<Uuid>> {
        self.write_tx(move |tx| {
            let sp = space.as_bytes().as_slice();
            let pe = person.as_bytes().as_slice();
            let devices = tx
                .prepare(
                    "DELETE FROM members WHERE space = ?1
                     AND device IN (SELECT id FROM devices WHERE person = ?2)
                     RETURNING device",
                )?
                .query_map(params![sp, pe], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.execute(
                "DELETE FROM invites WHERE space = ?1 AND used_by IS NULL
                 AND (kind = 'partner' OR created_by IN (SELECT id FROM devices WHERE person = ?2))",
                params![sp, pe],
            )?;
            tx.execute(
                "DELETE FROM key_drops WHERE space = ?1
                 AND device IN (SELECT id FROM devices WHERE person = ?2)",
                params![sp, pe],
            )?;
            tx.execute(
                "DELETE FROM recovery_kit_spaces WHERE space = ?1 AND person = ?2",
                params![sp, pe],
            )?;
            tx.commit()?;
            devices.into_iter().map(uuid_of).collect()
        })
        .await
    }

    async fn create_invite_capped(&self, inv: NewInvite, cap: InviteCap) -> StoreResult<()> {
        self.write_tx(move |tx| {
            let pending: i64 = tx.query_row(
                "SELECT count(*) FROM invites WHERE created_by = ?1 AND used_by IS NULL
                 AND expires_at > ?2 AND attempts < ?3",
                params![
                    inv.created_by.as_bytes().as_slice(),
                    cap.now,
                    i64::from(cap.max_attempts)
                ],
                |r| r.get(0),
            )?;
            if pending >= i64::from(cap.max_pending) {
                return Err(StoreError::TooManyInvites {
                    max: cap.max_pending,
                });
            }
            let n = tx.execute(
                "INSERT OR IGNORE INTO invites
                     (id, space, created_by, token_hash, wrapped_key, expires_at, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    inv.id.as_bytes().as_slice(),
                    inv.space.as_bytes().as_slice(),
                    inv.created_by.as_bytes().as_slice(),
                    inv.token_hash.as_slice(),
                    inv.wrapped_key,
                    inv.expires_at,
                    inv.kind.as_str()
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict("an invite with this id exists".into()));
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge_invites(&self, expired_before: Millis) -> StoreResult<u64> {
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM invites WHERE expires_at < ?1",
                [expired_before],
            )? as u64)
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
        self.write_tx(move |tx| {
            type Invite = (
                Vec<u8>,
                Vec<u8>,
                Vec<u8>,
                i64,
                u32,
                Option<Vec<u8>>,
                String,
                Vec<u8>,
            );
            let row: Option<Invite> = tx
                .query_row(
                    "SELECT space, token_hash, wrapped_key, expires_at, attempts, used_by, kind,
                            created_by
                     FROM invites WHERE id = ?1",
                    [id.as_bytes().as_slice()],
                    columns,
                )
                .optional()?;
            let Some((space, stored, wrapped_key, expires_at, attempts, used_by, kind, by)) = row
            else {
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
            let space_id = uuid_of(space)?;
            let kind = invite_kind_of(&kind)?;
            let space_kind: String = tx.query_row(
                "SELECT kind FROM spaces WHERE id = ?1",
                [space_id.as_bytes().as_slice()],
                |r| r.get(0),
            )?;
            // The inviter acts for the person they acted for when they made it (a device
            // can't change person once it has spaces).
            let inviter = device_row(&tx, &uuid_of(by)?)?.ok_or(StoreError::NotFound)?;
            let joiner = device_row(&tx, &device)?.ok_or(StoreError::NotFound)?;
            let joiner_has_spaces = tx
                .query_row(
                    "SELECT 1 FROM members WHERE device = ?1 LIMIT 1",
                    [device.as_bytes().as_slice()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            let persons: Vec<Uuid> = members_of(&tx, &space_id)?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            let new_person = match judge_admission(
                kind_of(&space_kind)?,
                kind,
                inviter.person,
                &joiner,
                joiner_has_spaces,
                &persons,
            ) {
                Ok(p) => p,
                Err(why) => return Ok(JoinOutcome::NotAllowed(why)),
            };
            if let Some(p) = new_person {
                tx.execute(
                    "UPDATE devices SET person = ?2 WHERE id = ?1",
                    params![device.as_bytes().as_slice(), p.as_bytes().as_slice()],
                )?;
            }
            tx.execute(
                "UPDATE invites SET used_by = ?2, used_at = ?3 WHERE id = ?1",
                params![id.as_bytes().as_slice(), device.as_bytes().as_slice(), now],
            )?;
            join_space(&tx, &space_id, &device, now)?;
            tx.commit()?;
            Ok(JoinOutcome::Joined {
                space: space_id,
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
        self.write_tx(move |tx| {
            let (head, bytes, epoch): (i64, i64, u32) = tx
                .query_row(
                    "SELECT head, bytes, key_epoch FROM spaces WHERE id = ?1",
                    [space.as_bytes().as_slice()],
                    columns,
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            let mut numbering = Numbering::new(head, bytes, epoch, limits.quota_bytes, blobs.len());
            {
                let mut find = tx.prepare_cached(
                    "SELECT seq, data FROM blobs WHERE space = ?1 AND blob_id = ?2",
                )?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO blobs (space, seq, blob_id, device, data, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (id, data) in blobs {
                    let stored: Option<(i64, Vec<u8>)> = find
                        .query_row(params![space.as_bytes().as_slice(), id], columns)
                        .optional()?;
                    let stored = stored.as_ref().map(|(seq, d)| (*seq as u64, d.as_slice()));
                    if let Some(b) = numbering.add(id, data, stored)? {
                        insert.execute(params![
                            space.as_bytes().as_slice(),
                            b.seq as i64,
                            b.id,
                            device.as_bytes().as_slice(),
                            b.data,
                            now
                        ])?;
                    }
                }
            }
            let (head, bytes) = numbering.head_and_bytes();
            tx.execute(
                "UPDATE spaces SET head = ?2, bytes = ?3 WHERE id = ?1",
                params![space.as_bytes().as_slice(), head, bytes],
            )?;
            tx.commit()?;
            Ok(numbering.finish())
        })
        .await
    }

    async fn raise_epoch(&self, space: Uuid, epoch: u32) -> StoreResult<u32> {
        self.write_tx(move |tx| {
            let next = judge_epoch(key_epoch_of(&tx, &space)?, epoch)?;
            tx.execute(
                "UPDATE spaces SET key_epoch = ?2 WHERE id = ?1",
                params![space.as_bytes().as_slice(), next],
            )?;
            tx.commit()?;
            Ok(next)
        })
        .await
    }

    async fn pull(&self, space: Uuid, after: u64, limit: u32) -> StoreResult<Pulled> {
        self.read(move |c| {
            let (head, pruned): (i64, i64) = c
                .prepare_cached("SELECT head, pruned_seq FROM spaces WHERE id = ?1")?
                .query_row([space.as_bytes().as_slice()], columns)
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
            Ok(page(blobs, from, head, snapshot))
        })
        .await
    }

    async fn put_snapshot_within(
        &self,
        space: Uuid,
        s: Snapshot,
        now: Millis,
        quota_bytes: u64,
    ) -> StoreResult<()> {
        self.write_tx(move |tx| {
            let sp = space.as_bytes().as_slice();
            let (head, bytes): (i64, i64) = tx
                .query_row(
                    "SELECT head, bytes FROM spaces WHERE id = ?1",
                    [sp],
                    columns,
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            let old: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT seq, length(data) FROM snapshots WHERE space = ?1",
                    [sp],
                    columns,
                )
                .optional()?;
            let Some(bytes) = judge_snapshot(head, bytes, old, &s, quota_bytes)? else {
                return Ok(());
            };
            tx.execute(
                "INSERT INTO snapshots (space, seq, data, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(space) DO UPDATE SET seq = excluded.seq, data = excluded.data,
                     created_at = excluded.created_at",
                params![sp, s.seq as i64, s.data, now],
            )?;
            tx.execute(
                "UPDATE spaces SET bytes = ?2 WHERE id = ?1",
                params![sp, bytes],
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
        self.write_tx(move |tx| {
            let due: Vec<(Vec<u8>, i64)> = all_rows(
                &tx,
                "SELECT s.space, s.seq FROM snapshots s JOIN spaces p ON p.id = s.space
                 WHERE s.created_at < ?1 AND s.seq > p.pruned_seq",
                [older_than],
            )?;
            let mut n = 0u64;
            for (space, seq) in due {
                n += tx.execute(
                    "DELETE FROM blobs WHERE space = ?1 AND seq <= ?2",
                    params![space, seq],
                )? as u64;
                tx.execute(
                    "UPDATE spaces SET pruned_seq = ?2,
                        bytes = (SELECT coalesce(sum(length(data)), 0) FROM blobs WHERE space = ?1)
                              + (SELECT coalesce(sum(length(data)), 0) FROM snapshots
                                 WHERE space = ?1)
                     WHERE id = ?1",
                    params![space, seq],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn put_answer(
        &self,
        space: Uuid,
        round: &str,
        person: Uuid,
        share: [u8; 32],
        now: Millis,
        max_per_space: u32,
    ) -> StoreResult<bool> {
        let round = round.to_owned();
        self.write_tx(move |tx| {
            let sp = space.as_bytes().as_slice();
            let exists = tx
                .query_row("SELECT 1 FROM spaces WHERE id = ?1", [sp], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Err(StoreError::NotFound);
            }
            let (held, stored): (bool, i64) = tx.query_row(
                "SELECT count(*) FILTER (WHERE round = ?2 AND person = ?3) > 0, count(*)
                 FROM answer_shares WHERE space = ?1",
                params![sp, round, person.as_bytes().as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if !judge_answer(held, stored, max_per_space)? {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO answer_shares (space, round, person, share, answered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sp,
                    round,
                    person.as_bytes().as_slice(),
                    share.as_slice(),
                    now
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn answers(&self, space: Uuid, round: &str) -> StoreResult<Vec<StoredAnswer>> {
        let round = round.to_owned();
        self.read(move |c| {
            let rows: Vec<(Vec<u8>, Vec<u8>, i64, bool)> = all_rows(
                c,
                "SELECT person, share, answered_at, revealed FROM answer_shares
                 WHERE space = ?1 AND round = ?2 ORDER BY answered_at, person",
                params![space.as_bytes().as_slice(), round],
            )?;
            rows.into_iter()
                .map(|(person, share, answered_at, revealed)| {
                    Ok(StoredAnswer {
                        person: uuid_of(person)?,
                        share,
                        answered_at,
                        revealed,
                    })
                })
                .collect()
        })
        .await
    }

    async fn reveal_answer(&self, space: Uuid, round: &str, person: Uuid) -> StoreResult<bool> {
        let round = round.to_owned();
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE answer_shares SET revealed = 1
                 WHERE space = ?1 AND round = ?2 AND person = ?3",
                params![
                    space.as_bytes().as_slice(),
                    round,
                    person.as_bytes().as_slice()
                ],
            )? > 0)
        })
        .await
    }

    async fn put_key_drops(
        &self,
        space: Uuid,
        epoch: u32,
        sender: Uuid,
        drops: Vec<KeyDrop>,
        now: Millis,
    ) -> StoreResult<u64> {
        self.write_tx(move |tx| {
            let current = key_epoch_of(&tx, &space)?;
            let members: Vec<Uuid> = members_of(&tx, &space)?
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            let keep = judge_key_drops(current, epoch, sender, &members, drops)?;
            let mut stored = 0u64;
            {
                // OR IGNORE: the first drop stored for a device and epoch stays.
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO key_drops
                         (space, epoch, device, sender, sealed, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for d in keep {
                    stored += insert.execute(params![
                        space.as_bytes().as_slice(),
                        epoch,
                        d.device.as_bytes().as_slice(),
                        sender.as_bytes().as_slice(),
                        d.sealed,
                        now
                    ])? as u64;
                }
            }
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn key_drops(&self, space: Uuid, device: Uuid) -> StoreResult<Vec<HeldDrop>> {
        self.read(move |c| {
            let rows: Vec<(u32, Vec<u8>, Vec<u8>)> = all_rows(
                c,
                "SELECT epoch, sender, sealed FROM key_drops
                 WHERE space = ?1 AND device = ?2 ORDER BY epoch",
                params![space.as_bytes().as_slice(), device.as_bytes().as_slice()],
            )?;
            rows.into_iter()
                .map(|(epoch, sender, sealed)| {
                    Ok(HeldDrop {
                        epoch,
                        sender: uuid_of(sender)?,
                        sealed,
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_recovery_kit(&self, kit: KitUpdate, auth_hash: [u8; 32]) -> StoreResult<()> {
        self.write_tx(move |tx| {
            let spaces = check_kit(&tx, &kit)?;
            let pe = kit.person.as_bytes().as_slice();
            let holder: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT person FROM recovery_kits WHERE lookup = ?1",
                    [kit.lookup.as_slice()],
                    |r| r.get(0),
                )
                .optional()?;
            judge_kit_lookup(holder.map(uuid_of).transpose()?, kit.person)?;
            // The person's kit, wherever it was, with its spaces (ON DELETE CASCADE).
            tx.execute("DELETE FROM recovery_kits WHERE person = ?1", [pe])?;
            tx.execute(
                "INSERT INTO recovery_kits (lookup, person, auth_hash, envelope, made_by, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    kit.lookup.as_slice(),
                    pe,
                    auth_hash.as_slice(),
                    kit.envelope,
                    kit.device.as_bytes().as_slice(),
                    kit.now
                ],
            )?;
            set_kit_spaces(&tx, &kit.person, &spaces)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn update_recovery_kit(&self, kit: KitUpdate) -> StoreResult<()> {
        self.write_tx(move |tx| {
            let spaces = check_kit(&tx, &kit)?;
            let n = tx.execute(
                "UPDATE recovery_kits SET envelope = ?3, updated_at = ?4
                 WHERE lookup = ?1 AND person = ?2",
                params![
                    kit.lookup.as_slice(),
                    kit.person.as_bytes().as_slice(),
                    kit.envelope,
                    kit.now
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            set_kit_spaces(&tx, &kit.person, &spaces)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn recovery_kit_of(&self, person: Uuid) -> StoreResult<Option<StoredKit>> {
        self.read(move |c| {
            // One statement: the kit and its list as of one moment.
            let rows: Vec<(Vec<u8>, Vec<u8>, i64, Option<Vec<u8>>)> = all_rows(
                c,
                "SELECT k.lookup, k.made_by, k.updated_at, s.space FROM recovery_kits k
                 LEFT JOIN recovery_kit_spaces s ON s.person = k.person
                 WHERE k.person = ?1 ORDER BY s.space",
                [person.as_bytes().as_slice()],
            )?;
            let mut kit: Option<StoredKit> = None;
            for (lookup, made_by, updated_at, space) in rows {
                if kit.is_none() {
                    kit = Some(StoredKit {
                        lookup: lookup_of(lookup)?,
                        made_by: uuid_of(made_by)?,
                        updated_at,
                        spaces: Vec::new(),
                    });
                }
                if let (Some(k), Some(s)) = (kit.as_mut(), space) {
                    k.spaces.push(uuid_of(s)?);
                }
            }
            Ok(kit)
        })
        .await
    }

    async fn recovery_kit_exists(&self, lookup: Lookup) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM recovery_kits WHERE lookup = ?1")?
                    .query_row([lookup.as_slice()], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }

    async fn recover_device(&self, a: KitAttempt) -> StoreResult<Option<Recovery>> {
        let (lookup, auth_hash, device) = (a.lookup, a.auth_hash, a.device);
        let (token_hash, now) = (a.token_hash, a.now);
        self.write_tx(move |tx| {
            let row: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = tx
                .query_row(
                    "SELECT person, auth_hash, envelope FROM recovery_kits WHERE lookup = ?1",
                    [lookup.as_slice()],
                    columns,
                )
                .optional()?;
            let Some((person, stored, envelope)) = row else {
                return Ok(None);
            };
            if !proves_kit(&stored, &auth_hash) {
                return Ok(None);
            }
            let person = uuid_of(person)?;
            let pe = person.as_bytes().as_slice();
            // Only where the person still is: never back into a space they left.
            let spaces: Vec<(Vec<u8>,)> = all_rows(
                &tx,
                "SELECT k.space FROM recovery_kit_spaces k WHERE k.person = ?1 AND EXISTS (
                     SELECT 1 FROM members m JOIN devices d ON d.id = m.device
                     WHERE m.space = k.space AND d.person = ?1 AND d.revoked_at IS NULL)
                 ORDER BY k.space",
                [pe],
            )?;
            let devices: Vec<(Vec<u8>,)> = all_rows(
                &tx,
                "SELECT id FROM devices WHERE person = ?1 AND revoked_at IS NULL ORDER BY id",
                [pe],
            )?;
            tx.execute(
                "INSERT INTO devices (id, person, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![device.as_bytes().as_slice(), pe, token_hash.as_slice(), now],
            )?;
            let spaces = spaces
                .into_iter()
                .map(|(s,)| uuid_of(s))
                .collect::<StoreResult<Vec<_>>>()?;
            for s in &spaces {
                join_space(&tx, s, &device, now)?;
            }
            tx.execute(
                "UPDATE recovery_kits SET made_by = ?2 WHERE lookup = ?1",
                params![lookup.as_slice(), device.as_bytes().as_slice()],
            )?;
            tx.commit()?;
            Ok(Some(Recovery {
                person,
                envelope,
                spaces,
                devices: devices
                    .into_iter()
                    .map(|(d,)| uuid_of(d))
                    .collect::<StoreResult<_>>()?,
            }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod suite {
        use super::*;
        use crate::testing::in_temp_dir;

        crate::storage::suite::storage_suite!(in_temp_dir(SqliteStore::open));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_keeps_a_gap_free_log_under_concurrent_pushes() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn RelayStore> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        crate::storage::suite::concurrent_appends(&[store], &mut []).await;
    }
}
