//! The PostgreSQL backend, for several relay nodes behind a load balancer: every node is
//! stateless and shares this database. Writes that a live connection on another node must
//! hear about (new blobs, memberships, revocations) send a `NOTIFY` in their own
//! transaction, so the event goes out exactly when the change commits; each node `LISTEN`s
//! and hands the events to its hub ([`PgStore::node_events`]).
//!
//! Past 500 lines on purpose: it is one thing, this backend's `RelayStore` impl (a trait
//! impl is one block), with its SQL beside the rule it serves; the `NOTIFY` feed is in
//! `notify.rs`.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use duet_proto::{HeldDrop, KeyDrop, LogBlob, Pulled, Snapshot, SpaceInfo, SpaceKind};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::*;

mod attachments;
mod notify;

use notify::{CHANNEL, Envelope, Wire, listen_forever, new_listener};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool size per node (`--database-max-connections`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

pub struct PgStore {
    pool: PgPool,
    /// This node's id: its own events come back through `LISTEN` and are skipped (the hub
    /// already heard them first-hand).
    node: Uuid,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("node", &self.node).finish()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        backend(e)
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/db`) and bring the schema up to
    /// date. Several nodes may start at once: sqlx takes an advisory lock while migrating.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| backend(format!("bad database URL: {e}")))?
            .application_name("duet-relay");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(PgStore {
            pool,
            node: Uuid::new_v4(),
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn notify(&self, tx: &mut Transaction<'static, Postgres>, e: Wire) -> StoreResult<()> {
        let payload = serde_json::to_string(&Envelope { n: self.node, e }).map_err(backend)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Make `device` a member of `space` (if it isn't) and tell the other nodes, in `tx`.
    async fn join_space(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        space: Uuid,
        device: Uuid,
        now: Millis,
    ) -> StoreResult<()> {
        let n = sqlx::query(
            "INSERT INTO members (space, device, added_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(space)
        .bind(device)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n > 0 {
            self.notify(
                tx,
                Wire::Joined {
                    s: space,
                    d: device,
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn members_of(&self, spaces: &[Uuid]) -> StoreResult<Vec<SpaceInfo>> {
        let rows = sqlx::query(
            "SELECT s.id, s.head, s.kind, m.device, d.person, s.key_epoch FROM spaces s
             LEFT JOIN members m ON m.space = s.id
             LEFT JOIN devices d ON d.id = m.device
             WHERE s.id = ANY($1) ORDER BY s.id, m.device",
        )
        .bind(spaces)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<SpaceInfo> = Vec::new();
        for r in rows {
            let id: Uuid = r.try_get(0)?;
            let head: i64 = r.try_get(1)?;
            let kind: String = r.try_get(2)?;
            let device: Option<Uuid> = r.try_get(3)?;
            let person: Option<Uuid> = r.try_get(4)?;
            let key_epoch = u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(u32::MAX);
            if out.last().map(|s| s.space_id) != Some(id) {
                out.push(SpaceInfo {
                    space_id: id,
                    members: Vec::new(),
                    head: head as u64,
                    persons: Vec::new(),
                    kind: kind_of(&kind)?,
                    key_epoch,
                });
            }
            if let (Some(d), Some(p), Some(s)) = (device, person, out.last_mut()) {
                s.members.push(d);
                s.persons.push(p);
            }
        }
        Ok(out)
    }
}

/// A device row, read inside `tx` (or the pool).
async fn device_in<'e>(exec: impl sqlx::PgExecutor<'e>, id: Uuid) -> StoreResult<Option<Device>> {
    let row = sqlx::query("SELECT person, revoked_at IS NOT NULL FROM devices WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await?;
    row.map(|r| {
        Ok(Device {
            id,
            person: r.try_get(0)?,
            revoked: r.try_get(1)?,
        })
    })
    .transpose()
}

#[async_trait]
impl RelayStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn node_events(&self) -> StoreResult<Option<mpsc::Receiver<NodeEvent>>> {
        let listener = new_listener(&self.pool).await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(listen_forever(self.pool.clone(), listener, self.node, tx));
        Ok(Some(rx))
    }

    async fn register_device(
        &self,
        id: Uuid,
        person: Uuid,
        token_hash: [u8; 32],
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (id, person, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(person)
        .bind(token_hash.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn device_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Device>> {
        let row = sqlx::query(
            "SELECT id, person, revoked_at IS NOT NULL FROM devices WHERE token_hash = $1",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Device {
                id: r.try_get(0)?,
                person: r.try_get(1)?,
                revoked: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn device(&self, id: Uuid) -> StoreResult<Option<Device>> {
        device_in(&self.pool, id).await
    }

    async fn revoke_device(&self, id: Uuid, now: Millis) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n =
            sqlx::query("UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM members WHERE device = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Left for it, and left by it (see the SQLite backend).
        sqlx::query("DELETE FROM key_drops WHERE device = $1 OR sender = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM invites WHERE created_by = $1 AND used_by IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its spaces go with it (ON DELETE CASCADE). A kit being made by this device
        // holds the device's row (FOR SHARE) until it is in, so the update above waited
        // for it and this sees it.
        sqlx::query("DELETE FROM recovery_kits WHERE made_by = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if n > 0 {
            self.notify(&mut tx, Wire::Revoked { d: id }).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn create_space_capped(
        &self,
        space: Uuid,
        kind: SpaceKind,
        creator: Uuid,
        now: Millis,
        max_created: u32,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The creator's row lock makes one device's creations take turns (on every node),
        // so the count below holds until this commits.
        sqlx::query("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE")
            .bind(creator)
            .execute(&mut *tx)
            .await?;
        let member = sqlx::query("SELECT 1 FROM members WHERE space = $1 AND device = $2")
            .bind(space)
            .bind(creator)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if member {
            return Ok(false);
        }
        let created: i64 = sqlx::query_scalar("SELECT count(*) FROM spaces WHERE created_by = $1")
            .bind(creator)
            .fetch_one(&mut *tx)
            .await?;
        if created >= i64::from(max_created) {
            return Err(StoreError::TooManySpaces { max: max_created });
        }
        let n = sqlx::query(
            "INSERT INTO spaces (id, kind, created_at, created_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(space)
        .bind(kind.as_str())
        .bind(now)
        .bind(creator)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO members (space, device, added_at) VALUES ($1, $2, $3)")
            .bind(space)
            .bind(creator)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.notify(
            &mut tx,
            Wire::Joined {
                s: space,
                d: creator,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn is_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM members WHERE space = $1 AND device = $2")
                .bind(space)
                .bind(device)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn space_info(&self, space: Uuid) -> StoreResult<Option<SpaceInfo>> {
        Ok(self.members_of(&[space]).await?.pop())
    }

    async fn spaces_of(&self, device: Uuid) -> StoreResult<Vec<SpaceInfo>> {
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT space FROM members WHERE device = $1")
            .bind(device)
            .fetch_all(&self.pool)
            .await?;
        self.members_of(&ids).await
    }

    async fn add_member(&self, space: Uuid, device: Uuid, now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // FOR SHARE: a concurrent revocation waits for this membership, then drops it.
        let live =
            sqlx::query("SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL FOR SHARE")
                .bind(device)
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_none() {
            return Err(StoreError::NotFound);
        }
        self.join_space(&mut tx, space, device, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM members WHERE space = $1 AND device = $2")
            .bind(space)
            .bind(device)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM key_drops WHERE space = $1 AND device = $2")
            .bind(space)
            .bind(device)
            .execute(&mut *tx)
            .await?;
        if n > 0 {
            self.notify(
                &mut tx,
                Wire::Left {
                    s: space,
                    d: device,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn remove_person(&self, space: Uuid, person: Uuid) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.pool.begin().await?;
        // The invites first: a join holds its invite's row, then the space's, so taking them
        // in that order too leaves no room for a deadlock.
        sqlx::query(
            "DELETE FROM invites WHERE space = $1 AND used_by IS NULL
             AND (kind = 'partner' OR created_by IN (SELECT id FROM devices WHERE person = $2))",
        )
        .bind(space)
        .bind(person)
        .execute(&mut *tx)
        .await?;
        // The space row's lock orders this with a recovery admitting a device of the person
        // (it locks its kit's spaces) and with joins: one that came first has committed its
        // member, whom the next statement sees and takes out; one after finds the person
        // gone.
        sqlx::query("SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE")
            .bind(space)
            .execute(&mut *tx)
            .await?;
        let devices: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM members WHERE space = $1
             AND device IN (SELECT id FROM devices WHERE person = $2)
             RETURNING device",
        )
        .bind(space)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM key_drops WHERE space = $1 AND device = ANY($2)")
            .bind(space)
            .bind(&devices)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_kit_spaces WHERE space = $1 AND person = $2")
            .bind(space)
            .bind(person)
            .execute(&mut *tx)
            .await?;
        for d in &devices {
            self.notify(&mut tx, Wire::Left { s: space, d: *d }).await?;
        }
        tx.commit().await?;
        Ok(devices)
    }

    async fn create_invite_capped(&self, inv: NewInvite, cap: InviteCap) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // The creator's row lock: one device's invites are made one at a time, so the count
        // holds until this commits.
        sqlx::query("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE")
            .bind(inv.created_by)
            .execute(&mut *tx)
            .await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invites WHERE created_by = $1 AND used_by IS NULL
             AND expires_at > $2 AND attempts < $3",
        )
        .bind(inv.created_by)
        .bind(cap.now)
        .bind(i64::from(cap.max_attempts))
        .fetch_one(&mut *tx)
        .await?;
        if pending >= i64::from(cap.max_pending) {
            return Err(StoreError::TooManyInvites {
                max: cap.max_pending,
            });
        }
        let n = sqlx::query(
            "INSERT INTO invites (id, space, created_by, token_hash, wrapped_key, expires_at, kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(inv.id)
        .bind(inv.space)
        .bind(inv.created_by)
        .bind(inv.token_hash.as_slice())
        .bind(inv.wrapped_key)
        .bind(inv.expires_at)
        .bind(inv.kind.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict("an invite with this id exists".into()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_invites(&self, expired_before: Millis) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM invites WHERE expires_at < $1")
            .bind(expired_before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn join_invite(
        &self,
        id: Uuid,
        token_hash: [u8; 32],
        device: Uuid,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<JoinOutcome> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: concurrent attempts on one invite (through any node) take turns, so
        // the attempt count and the single use hold.
        let Some(row) = sqlx::query(
            "SELECT space, token_hash, wrapped_key, expires_at, attempts, used_by IS NOT NULL,
                    kind, created_by
             FROM invites WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(JoinOutcome::NotFound);
        };
        let space: Uuid = row.try_get(0)?;
        let stored: Vec<u8> = row.try_get(1)?;
        let wrapped_key: Vec<u8> = row.try_get(2)?;
        let expires_at: i64 = row.try_get(3)?;
        let attempts = u32::try_from(row.try_get::<i32, _>(4)?).unwrap_or(u32::MAX);
        let used: bool = row.try_get(5)?;
        let kind: String = row.try_get(6)?;
        let by: Uuid = row.try_get(7)?;
        match judge_join(
            used,
            attempts,
            expires_at,
            &stored,
            &token_hash,
            now,
            max_attempts,
        ) {
            JoinVerdict::Refuse(outcome) => return Ok(outcome),
            JoinVerdict::CountAttempt(outcome) => {
                sqlx::query("UPDATE invites SET attempts = attempts + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(outcome);
            }
            JoinVerdict::Join => {}
        }
        let kind = invite_kind_of(&kind)?;
        // The space row's lock makes joins to one space take turns (as pushes do), so two
        // partner invites used at once can't both pass the two-people check.
        let space_kind: String =
            sqlx::query_scalar("SELECT kind FROM spaces WHERE id = $1 FOR UPDATE")
                .bind(space)
                .fetch_one(&mut *tx)
                .await?;
        let inviter = device_in(&mut *tx, by).await?.ok_or(StoreError::NotFound)?;
        // FOR UPDATE on the joiner: its person may change here.
        sqlx::query("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE")
            .bind(device)
            .execute(&mut *tx)
            .await?;
        let joiner = device_in(&mut *tx, device)
            .await?
            .ok_or(StoreError::NotFound)?;
        let joiner_has_spaces = sqlx::query("SELECT 1 FROM members WHERE device = $1 LIMIT 1")
            .bind(device)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let persons: Vec<Uuid> = sqlx::query_scalar(
            "SELECT d.person FROM members m JOIN devices d ON d.id = m.device WHERE m.space = $1",
        )
        .bind(space)
        .fetch_all(&mut *tx)
        .await?;
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
            sqlx::query("UPDATE devices SET person = $2 WHERE id = $1")
                .bind(device)
                .bind(p)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE invites SET used_by = $2, used_at = $3 WHERE id = $1")
            .bind(id)
            .bind(device)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.join_space(&mut tx, space, device, now).await?;
        tx.commit().await?;
        Ok(JoinOutcome::Joined { space, wrapped_key })
    }

    async fn append(
        &self,
        space: Uuid,
        device: Uuid,
        blobs: Vec<(Vec<u8>, Vec<u8>)>,
        limits: AppendLimits,
        now: Millis,
    ) -> StoreResult<Appended> {
        let mut tx = self.pool.begin().await?;
        // The space's row lock is held from numbering to commit: pushes to one space take
        // turns (whichever node they came through), so numbers are gap-free and a reader
        // never sees seq n+1 before n has committed.
        let row = sqlx::query("SELECT head, bytes, key_epoch FROM spaces WHERE id = $1 FOR UPDATE")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let epoch = u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(u32::MAX);
        let mut numbering = Numbering::new(
            row.try_get(0)?,
            row.try_get(1)?,
            epoch,
            limits.quota_bytes,
            blobs.len(),
        );

        // Retries: every pushed id already in the log, in one query.
        let ids: Vec<&[u8]> = blobs.iter().map(|(id, _)| id.as_slice()).collect();
        let stored: HashMap<Vec<u8>, (i64, Vec<u8>)> = sqlx::query(
            "SELECT blob_id, seq, data FROM blobs WHERE space = $1 AND blob_id = ANY($2)",
        )
        .bind(space)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect::<StoreResult<_>>()?;

        for (id, data) in blobs {
            let earlier = stored.get(&id).map(|(seq, d)| (*seq as u64, d.as_slice()));
            numbering.add(id, data, earlier)?;
        }
        let fresh = numbering.fresh();
        if !fresh.is_empty() {
            // One statement for the whole batch.
            let f_seqs: Vec<i64> = fresh.iter().map(|b| b.seq as i64).collect();
            let f_ids: Vec<&[u8]> = fresh.iter().map(|b| b.id.as_slice()).collect();
            let f_data: Vec<&[u8]> = fresh.iter().map(|b| b.data.as_slice()).collect();
            sqlx::query(
                "INSERT INTO blobs (space, seq, blob_id, device, data, created_at)
                 SELECT $1, s, i, $5, d, $6 FROM UNNEST($2::BIGINT[], $3::BYTEA[], $4::BYTEA[])
                     AS t(s, i, d)",
            )
            .bind(space)
            .bind(&f_seqs)
            .bind(&f_ids)
            .bind(&f_data)
            .bind(device)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (head, bytes) = numbering.head_and_bytes();
            sqlx::query("UPDATE spaces SET head = $2, bytes = $3 WHERE id = $1")
                .bind(space)
                .bind(head)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            if let Some(e) = Wire::appended(space, device, fresh, limits.inline_bytes) {
                self.notify(&mut tx, e).await?;
            }
        }
        tx.commit().await?;
        Ok(numbering.finish())
    }

    async fn raise_epoch(&self, space: Uuid, epoch: u32) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await?;
        // The space row's lock orders this with pushes: a push either committed before
        // (under the old epoch) or sees the new one.
        let current: i64 =
            sqlx::query_scalar("SELECT key_epoch FROM spaces WHERE id = $1 FOR UPDATE")
                .bind(space)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let next = judge_epoch(u32::try_from(current).unwrap_or(u32::MAX), epoch)?;
        sqlx::query("UPDATE spaces SET key_epoch = $2 WHERE id = $1")
            .bind(space)
            .bind(i64::from(next))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn pull(&self, space: Uuid, after: u64, limit: u32) -> StoreResult<Pulled> {
        // One snapshot of the database for the head, the log and the snapshot row.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT head, pruned_seq FROM spaces WHERE id = $1")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let head = row.try_get::<i64, _>(0)? as u64;
        let pruned = row.try_get::<i64, _>(1)? as u64;
        if after > head {
            return Err(StoreError::CursorAhead { after, head });
        }
        let mut from = after;
        let mut snapshot = None;
        if after < pruned {
            let s = snapshot_in(&mut tx, space)
                .await?
                .ok_or_else(|| backend("log pruned without a snapshot"))?;
            from = s.seq;
            snapshot = Some(s);
        }
        let blobs = sqlx::query(
            "SELECT seq, blob_id, data FROM blobs WHERE space = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
        )
        .bind(space)
        .bind(from as i64)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            Ok(LogBlob {
                seq: r.try_get::<i64, _>(0)? as u64,
                id: r.try_get(1)?,
                data: r.try_get(2)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(page(blobs, from, head, snapshot))
    }

    async fn put_snapshot_within(
        &self,
        space: Uuid,
        s: Snapshot,
        now: Millis,
        quota_bytes: u64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: the stored bytes change here, as an append changes them.
        let row = sqlx::query("SELECT head, bytes FROM spaces WHERE id = $1 FOR UPDATE")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let old = sqlx::query("SELECT seq, octet_length(data) FROM snapshots WHERE space = $1")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| Ok::<_, StoreError>((r.try_get(0)?, i64::from(r.try_get::<i32, _>(1)?))))
            .transpose()?;
        let Some(bytes) = judge_snapshot(row.try_get(0)?, row.try_get(1)?, old, &s, quota_bytes)?
        else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO snapshots (space, seq, data, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (space) DO UPDATE SET seq = excluded.seq, data = excluded.data,
                 created_at = excluded.created_at",
        )
        .bind(space)
        .bind(s.seq as i64)
        .bind(s.data)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE spaces SET bytes = $2 WHERE id = $1")
            .bind(space)
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn snapshot(&self, space: Uuid) -> StoreResult<Option<Snapshot>> {
        let mut tx = self.pool.begin().await?;
        let s = snapshot_in(&mut tx, space).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn prune(&self, older_than: Millis) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let due = sqlx::query(
            "SELECT s.space, s.seq FROM snapshots s JOIN spaces p ON p.id = s.space
             WHERE s.created_at < $1 AND s.seq > p.pruned_seq",
        )
        .bind(older_than)
        .fetch_all(&mut *tx)
        .await?;
        let mut n = 0u64;
        for r in due {
            let space: Uuid = r.try_get(0)?;
            let seq: i64 = r.try_get(1)?;
            // The space row first, as an append does: no deadlock with a concurrent push.
            sqlx::query("SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE")
                .bind(space)
                .execute(&mut *tx)
                .await?;
            n += sqlx::query("DELETE FROM blobs WHERE space = $1 AND seq <= $2")
                .bind(space)
                .bind(seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE spaces SET pruned_seq = $2,
                    bytes = (SELECT coalesce(sum(octet_length(data)), 0) FROM blobs WHERE space = $1)
                          + (SELECT coalesce(sum(octet_length(data)), 0) FROM snapshots
                             WHERE space = $1)
                 WHERE id = $1",
            )
            .bind(space)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(n)
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
        let mut tx = self.pool.begin().await?;
        // The space row's lock makes one space's new answers take turns (on every node), so
        // the count below holds until this commits.
        sqlx::query("SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (held, stored): (bool, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE round = $2 AND person = $3) > 0, count(*)
             FROM answer_shares WHERE space = $1",
        )
        .bind(space)
        .bind(round)
        .bind(person)
        .fetch_one(&mut *tx)
        .await?;
        if !judge_answer(held, stored, max_per_space)? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO answer_shares (space, round, person, share, answered_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(space)
        .bind(round)
        .bind(person)
        .bind(share.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn answers(&self, space: Uuid, round: &str) -> StoreResult<Vec<StoredAnswer>> {
        sqlx::query(
            "SELECT person, share, answered_at, revealed FROM answer_shares
             WHERE space = $1 AND round = $2 ORDER BY answered_at, person",
        )
        .bind(space)
        .bind(round)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(StoredAnswer {
                person: r.try_get(0)?,
                share: r.try_get(1)?,
                answered_at: r.try_get(2)?,
                revealed: r.try_get(3)?,
            })
        })
        .collect()
    }

    async fn reveal_answer(&self, space: Uuid, round: &str, person: Uuid) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE answer_shares SET revealed = TRUE
             WHERE space = $1 AND round = $2 AND person = $3",
        )
        .bind(space)
        .bind(round)
        .bind(person)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    async fn put_key_drops(
        &self,
        space: Uuid,
        epoch: u32,
        sender: Uuid,
        drops: Vec<KeyDrop>,
        now: Millis,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // FOR SHARE on the space: an announcement of the next epoch waits for this, so the
        // epoch checked is the space's until the drops are in.
        let current: i64 =
            sqlx::query_scalar("SELECT key_epoch FROM spaces WHERE id = $1 FOR SHARE")
                .bind(space)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        // FOR SHARE on the memberships: a revocation or removal (on any node) waits for this
        // to commit and then deletes what it stored; one that came first has taken its rows
        // out of this list.
        let members: Vec<Uuid> =
            sqlx::query_scalar("SELECT device FROM members WHERE space = $1 FOR SHARE")
                .bind(space)
                .fetch_all(&mut *tx)
                .await?;
        let current = u32::try_from(current).unwrap_or(u32::MAX);
        let keep = judge_key_drops(current, epoch, sender, &members, drops)?;
        let devices: Vec<Uuid> = keep.iter().map(|d| d.device).collect();
        let sealed: Vec<&[u8]> = keep.iter().map(|d| d.sealed.as_slice()).collect();
        // DO NOTHING: the first drop stored for a device and epoch stays.
        let stored = sqlx::query(
            "INSERT INTO key_drops (space, epoch, device, sender, sealed, created_at)
             SELECT $1, $2, d, $3, s, $6 FROM UNNEST($4::UUID[], $5::BYTEA[]) AS t(d, s)
             ON CONFLICT DO NOTHING",
        )
        .bind(space)
        .bind(i64::from(epoch))
        .bind(sender)
        .bind(&devices)
        .bind(&sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(stored)
    }

    async fn key_drops(&self, space: Uuid, device: Uuid) -> StoreResult<Vec<HeldDrop>> {
        sqlx::query(
            "SELECT epoch, sender, sealed FROM key_drops
             WHERE space = $1 AND device = $2 ORDER BY epoch",
        )
        .bind(space)
        .bind(device)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(HeldDrop {
                epoch: u32::try_from(r.try_get::<i64, _>(0)?).map_err(backend)?,
                sender: r.try_get(1)?,
                sealed: r.try_get(2)?,
            })
        })
        .collect()
    }

    async fn put_recovery_kit(&self, kit: KitUpdate, auth_hash: [u8; 32]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let spaces = check_kit(&mut tx, &kit).await?;
        let holder: Option<Uuid> =
            sqlx::query_scalar("SELECT person FROM recovery_kits WHERE lookup = $1")
                .bind(kit.lookup.as_slice())
                .fetch_optional(&mut *tx)
                .await?;
        judge_kit_lookup(holder, kit.person)?;
        // One row per person: a kit of theirs made at the same time waits for this one's
        // row, then replaces it.
        sqlx::query(
            "INSERT INTO recovery_kits (lookup, person, auth_hash, envelope, made_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (person) DO UPDATE SET lookup = excluded.lookup,
                 auth_hash = excluded.auth_hash, envelope = excluded.envelope,
                 made_by = excluded.made_by, updated_at = excluded.updated_at",
        )
        .bind(kit.lookup.as_slice())
        .bind(kit.person)
        .bind(auth_hash.as_slice())
        .bind(&kit.envelope)
        .bind(kit.device)
        .bind(kit.now)
        .execute(&mut *tx)
        .await?;
        set_kit_spaces(&mut tx, kit.person, &spaces).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_recovery_kit(&self, kit: KitUpdate) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let spaces = check_kit(&mut tx, &kit).await?;
        let n = sqlx::query(
            "UPDATE recovery_kits SET envelope = $3, updated_at = $4
             WHERE lookup = $1 AND person = $2",
        )
        .bind(kit.lookup.as_slice())
        .bind(kit.person)
        .bind(&kit.envelope)
        .bind(kit.now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        set_kit_spaces(&mut tx, kit.person, &spaces).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recovery_kit_of(&self, person: Uuid) -> StoreResult<Option<StoredKit>> {
        // One statement: the kit and its list as of one moment.
        let rows = sqlx::query(
            "SELECT k.lookup, k.made_by, k.updated_at, s.space FROM recovery_kits k
             LEFT JOIN recovery_kit_spaces s ON s.person = k.person
             WHERE k.person = $1 ORDER BY s.space",
        )
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        let mut kit: Option<StoredKit> = None;
        for r in rows {
            if kit.is_none() {
                let lookup: Vec<u8> = r.try_get(0)?;
                kit = Some(StoredKit {
                    lookup: Lookup::try_from(lookup.as_slice()).map_err(backend)?,
                    made_by: r.try_get(1)?,
                    updated_at: r.try_get(2)?,
                    spaces: Vec::new(),
                });
            }
            if let (Some(k), Some(s)) = (kit.as_mut(), r.try_get::<Option<Uuid>, _>(3)?) {
                k.spaces.push(s);
            }
        }
        Ok(kit)
    }

    async fn recovery_kit_exists(&self, lookup: Lookup) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 FROM recovery_kits WHERE lookup = $1")
            .bind(lookup.as_slice())
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    async fn recover_device(&self, a: KitAttempt) -> StoreResult<Option<Recovery>> {
        let (lookup, auth_hash, device) = (a.lookup, a.auth_hash, a.device);
        let (token_hash, now) = (a.token_hash, a.now);
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: attempts on one kit take turns (on every node), and a revocation of
        // its maker either came first (no kit) or waits and finds the new maker.
        let Some(row) = sqlx::query(
            "SELECT person, auth_hash, envelope FROM recovery_kits WHERE lookup = $1 FOR UPDATE",
        )
        .bind(lookup.as_slice())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let person: Uuid = row.try_get(0)?;
        let stored: Vec<u8> = row.try_get(1)?;
        if !proves_kit(&stored, &auth_hash) {
            return Ok(None);
        }
        let envelope: Vec<u8> = row.try_get(2)?;
        let listed: Vec<Uuid> = sqlx::query_scalar(
            "SELECT space FROM recovery_kit_spaces WHERE person = $1 ORDER BY space",
        )
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        // The listed spaces' rows, in order (no deadlock between two recoveries): a removal
        // of the person from one of them locks it first, so it either came first (the
        // person is gone from it below) or waits for this admission and takes it too.
        sqlx::query("SELECT 1 FROM spaces WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&listed)
            .execute(&mut *tx)
            .await?;
        // Only where the person still is: never back into a space they left.
        let spaces: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT m.space FROM members m JOIN devices d ON d.id = m.device
             WHERE m.space = ANY($1) AND d.person = $2 AND d.revoked_at IS NULL
             ORDER BY m.space",
        )
        .bind(&listed)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let devices: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM devices WHERE person = $1 AND revoked_at IS NULL ORDER BY id",
        )
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO devices (id, person, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(device)
        .bind(person)
        .bind(token_hash.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for s in &spaces {
            self.join_space(&mut tx, *s, device, now).await?;
        }
        sqlx::query("UPDATE recovery_kits SET made_by = $2 WHERE lookup = $1")
            .bind(lookup.as_slice())
            .bind(device)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Recovery {
            person,
            envelope,
            spaces,
            devices,
        }))
    }
}

/// The checks of a kit being stored, in `tx`: `NotFound` unless the device is a live
/// device of the kit's person and a member of every listed space. Returns the list to
/// store. FOR SHARE on the device: its revocation waits for the kit to be in (and then
/// deletes it), or came first and is seen here.
async fn check_kit(
    tx: &mut Transaction<'static, Postgres>,
    kit: &KitUpdate,
) -> StoreResult<Vec<Uuid>> {
    let spaces = kit_spaces(kit.spaces.clone());
    let person: Option<Uuid> = sqlx::query_scalar(
        "SELECT person FROM devices WHERE id = $1 AND revoked_at IS NULL FOR SHARE",
    )
    .bind(kit.device)
    .fetch_optional(&mut **tx)
    .await?;
    let member_of: i64 =
        sqlx::query_scalar("SELECT count(*) FROM members WHERE device = $1 AND space = ANY($2)")
            .bind(kit.device)
            .bind(&spaces)
            .fetch_one(&mut **tx)
            .await?;
    if person != Some(kit.person) || member_of != spaces.len() as i64 {
        return Err(StoreError::NotFound);
    }
    Ok(spaces)
}

/// Make `spaces` the list of `person`'s kit, in `tx`.
async fn set_kit_spaces(
    tx: &mut Transaction<'static, Postgres>,
    person: Uuid,
    spaces: &[Uuid],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM recovery_kit_spaces WHERE person = $1")
        .bind(person)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO recovery_kit_spaces (person, space) SELECT $1, s FROM UNNEST($2::UUID[]) AS t(s)",
    )
    .bind(person)
    .bind(spaces)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn snapshot_in(
    tx: &mut Transaction<'static, Postgres>,
    space: Uuid,
) -> StoreResult<Option<Snapshot>> {
    let row = sqlx::query("SELECT seq, data FROM snapshots WHERE space = $1")
        .bind(space)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| {
        Ok(Snapshot {
            seq: r.try_get::<i64, _>(0)? as u64,
            data: r.try_get(1)?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    mod suite {
        use super::*;

        /// A fresh database on the test server; `None` (skip) when there is none.
        async fn fresh() -> Option<((), PgStore)> {
            let server = duet_e2e::pg::server_url()?;
            let url = duet_e2e::pg::fresh_database(&server).await;
            Some(((), PgStore::connect(&url, 8).await.unwrap()))
        }

        crate::storage::suite::storage_suite!(fresh());
    }

    /// Two nodes on one database, pushing to one space at once: numbers stay gap-free and
    /// in order, a reader following the log never skips one, and each node hears the
    /// other's events (not its own).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_one_gap_free_log() {
        let Some(server) = duet_e2e::pg::server_url() else {
            return;
        };
        let url = duet_e2e::pg::fresh_database(&server).await;
        let a: std::sync::Arc<dyn RelayStore> =
            std::sync::Arc::new(PgStore::connect(&url, 8).await.unwrap());
        let b: std::sync::Arc<dyn RelayStore> =
            std::sync::Arc::new(PgStore::connect(&url, 8).await.unwrap());
        let mut a_events = a.node_events().await.unwrap().unwrap();
        let mut b_events = b.node_events().await.unwrap().unwrap();
        crate::storage::suite::concurrent_appends(
            &[a.clone(), b.clone()],
            &mut [&mut a_events, &mut b_events],
        )
        .await;
    }
}
