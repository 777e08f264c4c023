//! Syncing with a relay: register, push the outbox, pull and apply, invites, device links,
//! member removal with key rotation, and the live channel. The store is never locked across
//! a network call: each step reads or writes the store, then talks to the relay, then
//! writes what came back in one transaction (the pulled blobs and the advanced cursor
//! together), so a sync cancelled at any point leaves the store consistent.

mod client;
pub mod invite;
pub mod live;
#[cfg(feature = "tls")]
mod tls;

use serde::Serialize;
use uuid::Uuid;

use crate::blob::{self, SealedBlob};
use crate::crypto::{self, SpaceKey};
use crate::doc;
use crate::engine::Duet;
use crate::engine::remote::{self, Outcome};
use crate::error::{Error, Result};
use crate::ids::{DeviceId, MemberId, SpaceId};
use crate::model::{Identity, SpaceKind};
use crate::store::{self, relay as rstore};

use client::RelayClient;
pub use invite::Invite;
use invite::{Person, Secret, Wrapped};

/// Blobs per push request and per pull page.
const PUSH_BATCH: usize = 500;
const PUSH_MAX_BYTES: usize = 4 * 1024 * 1024;
const PULL_PAGE: u32 = 500;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Sealed blobs pushed to the relay.
    pub pushed: u32,
    /// Blobs pulled from the relay.
    pub pulled: u32,
    /// Pulled blobs that changed something here.
    pub applied: u32,
    /// Pulled blobs that could not be opened or applied (kept, reported, skipped).
    pub quarantined: u32,
}

/// The relay this home syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayInfo {
    pub url: String,
    /// This device's id at the relay, once registered.
    pub device_id: Option<Uuid>,
}

/// A blob that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub space: String,
    pub seq: u64,
    pub error: String,
}

impl Duet {
    /// Point this home at a relay (`http(s)://host[:port]`). Changing relays means
    /// registering again; the outbox is kept and goes to the new relay.
    pub fn set_relay(&self, url: &str) -> Result<()> {
        let url = client::parse_url(url)?;
        let g = self.lock();
        rstore::set_relay_url(&g.conn, url.as_str())?;
        Ok(())
    }

    /// The relay and this device's id there.
    pub fn relay_info(&self) -> Result<Option<RelayInfo>> {
        Ok(rstore::relay(&self.lock().conn)?.map(|r| RelayInfo {
            url: r.url,
            device_id: r.device_id,
        }))
    }

    /// Blobs that failed to open or apply.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(rstore::quarantined(&self.lock().conn)?
            .into_iter()
            .map(|(space, seq, error)| Quarantined { space, seq, error })
            .collect())
    }

    fn relay_client(&self) -> Result<RelayClient> {
        let r = rstore::relay(&self.lock().conn)?.ok_or(Error::NoRelay)?;
        RelayClient::new(&r.url, r.token)
    }

    /// Register this device with the relay (once); returns its relay device id.
    pub async fn register(&self) -> Result<Uuid> {
        let r = rstore::relay(&self.lock().conn)?.ok_or(Error::NoRelay)?;
        if let (Some(id), Some(_)) = (r.device_id, &r.token) {
            return Ok(id);
        }
        let reg = RelayClient::new(&r.url, None)?.register().await?;
        self.write(|tx| {
            rstore::set_credentials(&tx.sql, &reg.device_id, &reg.token)?;
            // My other devices learn my relay id through my personal space.
            let personal = tx.me.personal_space;
            let meta = tx.meta_ref(&personal)?;
            let member = tx.me.member;
            tx.change(meta, |m| {
                doc::meta::add_relay_device(m, &reg.device_id, &member)
            })?;
            Ok(())
        })?;
        tracing::info!(device = %reg.device_id, "registered with the relay");
        Ok(reg.device_id)
    }

    /// Push everything queued, pull everything new, apply it.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        self.emit_sync(&live::SyncState::Syncing);
        let r = self.sync_inner().await;
        match &r {
            Ok(report) => self.emit_sync(&live::SyncState::Synced {
                report: report.clone(),
            }),
            Err(e) => self.emit_sync(&live::SyncState::from_error(e)),
        }
        r
    }

    async fn sync_inner(&self) -> Result<SyncReport> {
        self.register().await?;
        let c = self.relay_client()?;
        let mut report = SyncReport::default();
        self.push_outbox(&c, &mut report).await?;
        self.pull_all(&c, &mut report).await?;
        self.announce_self()?;
        // Applying may have queued local changes (joining a member list, adding my devices).
        self.push_outbox(&c, &mut report).await?;
        Ok(report)
    }

    /// Name this device (its relay id) in my personal space and in every journal I hold,
    /// where it isn't yet — how a device set up by `join_device` announces itself, at its
    /// first sync or, if that one failed (no signal), at the next. Changes nothing when all
    /// is there.
    fn announce_self(&self) -> Result<()> {
        let Some(dev) = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id) else {
            return Ok(());
        };
        self.write(|tx| {
            let personal = tx.me.personal_space;
            for s in store::spaces(&tx.sql)? {
                // A space whose meta document hasn't arrived yet is skipped until it has.
                let Ok(meta) = tx.meta_ref(&s.id) else {
                    continue;
                };
                let named = doc::meta::relay_devices(tx.doc(meta.rowid)?)
                    .iter()
                    .any(|(d, _)| *d == dev);
                if named || (s.kind != SpaceKind::Journal && s.id != personal) {
                    continue;
                }
                if s.kind == SpaceKind::Journal {
                    crate::engine::journals::join_space(tx, &s.id)?;
                }
                record_relay_device(tx, &s.id)?;
            }
            Ok(())
        })
    }

    /// Push the outbox, one space at a time, oldest first.
    pub(crate) async fn push_outbox(&self, c: &RelayClient, report: &mut SyncReport) -> Result<()> {
        loop {
            let batch = rstore::outbox_head(&self.lock().conn, PUSH_BATCH, PUSH_MAX_BYTES)?;
            let Some(first) = batch.first() else {
                return Ok(());
            };
            let space = first.space;
            self.ensure_on_relay(c, &space).await?;
            let blobs = batch
                .iter()
                .map(|q| duet_proto::PushBlob {
                    id: q.blob_id.clone(),
                    data: q.sealed.clone(),
                })
                .collect();
            match c.push(space.0, blobs).await {
                Ok(_) => {}
                // 404 for a space the relay knew: unless the space is simply gone from our
                // list, a partner removed us. Park its blobs and go on with the others.
                Err(Error::RelayRefused { code, .. })
                    if code == "not_found"
                        && !c.spaces().await?.iter().any(|s| s.space_id == space.0) =>
                {
                    tracing::info!(%space, "removed from this journal; its queued changes stay on this device");
                    let now = self.now();
                    rstore::set_removed(&self.lock().conn, &space, now)?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let seqs: Vec<i64> = batch.iter().map(|q| q.seq).collect();
            rstore::outbox_remove(&self.lock().conn, &seqs)?;
            report.pushed += seqs.len() as u32;
        }
    }

    /// Make sure the relay holds `space` and this device (and my other devices) are members.
    async fn ensure_on_relay(&self, c: &RelayClient, space: &SpaceId) -> Result<()> {
        let (_, on_relay) = rstore::sync_space(&self.lock().conn, space)?;
        if on_relay {
            return Ok(());
        }
        c.create_space(space.0).await?;
        // Whether we created it or it existed, we must be able to read it.
        if !c.spaces().await?.iter().any(|s| s.space_id == space.0) {
            return Err(Error::RelayRefused {
                code: "not_found".into(),
                message: "this journal exists on the relay but this device is not a member; join it with an invite".into(),
            });
        }
        for dev in self.my_other_relay_devices()? {
            // A device revoked meanwhile is simply not added.
            let _ = c.add_member(space.0, dev).await;
        }
        self.write(|tx| {
            rstore::set_on_relay(&tx.sql, space)?;
            record_relay_device(tx, space)
        })
    }

    /// Relay ids of my other devices (from my personal space).
    fn my_other_relay_devices(&self) -> Result<Vec<Uuid>> {
        let mine = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        self.read(|tx| {
            let me = tx.me.member;
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            Ok(doc::meta::relay_devices(tx.doc(meta.rowid)?)
                .into_iter()
                .filter(|(d, m)| *m == me && Some(*d) != mine)
                .map(|(d, _)| d)
                .collect())
        })
    }

    /// Pull every space this device is a member of, personal space first (it carries the
    /// key ring the others may need).
    async fn pull_all(&self, c: &RelayClient, report: &mut SyncReport) -> Result<()> {
        let mut spaces = c.spaces().await?;
        let personal = self.identity().personal_space;
        spaces.sort_by_key(|s| s.space_id != personal.0);
        for info in spaces {
            let space = SpaceId(info.space_id);
            if !self.prepare_space(&space)? {
                tracing::debug!(%space, "no key for this space yet; skipping");
                continue;
            }
            let (mut cursor, _) = rstore::sync_space(&self.lock().conn, &space)?;
            while cursor < info.head {
                let page = c.pull(space.0, cursor, PULL_PAGE).await?;
                let last = page.blobs.last().map(|b| b.seq).unwrap_or(info.head);
                self.apply_page(&space, page, report)?;
                if last <= cursor {
                    break;
                }
                cursor = last;
            }
            if space == personal {
                self.absorb_keyring()?;
            }
        }
        Ok(())
    }

    /// Whether we can read `space`: we hold it, or my key ring has its key (then it is
    /// created locally, to be filled by the pull).
    fn prepare_space(&self, space: &SpaceId) -> Result<bool> {
        self.write(|tx| {
            if store::space(&tx.sql, space)?.is_some() {
                return Ok(true);
            }
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            let ring = doc::meta::keyring(tx.doc(meta.rowid)?);
            let keys: Vec<_> = ring.into_iter().filter(|(s, _, _)| s == space).collect();
            if keys.is_empty() {
                return Ok(false);
            }
            remote::ensure_space(tx, *space, SpaceKind::Journal)?;
            for (_, e, k) in keys {
                tx.put_key(space, e, &k)?;
            }
            rstore::set_on_relay(&tx.sql, space)?;
            Ok(true)
        })
    }

    /// Keys my other devices added to my key ring (new journals, rotations).
    fn absorb_keyring(&self) -> Result<()> {
        self.write(|tx| {
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            for (space, epoch, key) in doc::meta::keyring(tx.doc(meta.rowid)?) {
                if store::space(&tx.sql, &space)?.is_some() && tx.key_at(&space, epoch)?.is_none() {
                    tx.put_key(&space, epoch, &key)?;
                }
            }
            Ok(())
        })
    }

    /// Apply one pulled page and advance the cursor, in one transaction. A blob that does
    /// not open or apply is quarantined and skipped; it never blocks the ones after it.
    fn apply_page(
        &self,
        space: &SpaceId,
        page: duet_proto::Pulled,
        report: &mut SyncReport,
    ) -> Result<()> {
        let space = *space;
        let (applied, quarantined, n) = self.write(|tx| {
            let mut devices = remote::space_devices(tx, &space)?;
            let mut applied = 0;
            let mut quarantined = 0;
            let mut cursor = 0;
            if let Some(s) = &page.snapshot {
                match open_snapshot(tx, &space, &s.data) {
                    Ok(payloads) => {
                        for p in &payloads {
                            remote::apply_payload(tx, space, p, &mut devices)?;
                        }
                    }
                    Err(e) => {
                        rstore::quarantine(
                            &tx.sql,
                            &space,
                            s.seq,
                            &[],
                            &s.data,
                            &e.to_string(),
                            tx.now,
                        )?;
                        quarantined += 1;
                    }
                }
                cursor = s.seq;
            }
            for b in &page.blobs {
                cursor = b.seq;
                // Each blob applies in full or not at all: a savepoint undoes what a failed
                // apply wrote (e.g. the row of a document it was creating).
                tx.sql.execute_batch("SAVEPOINT apply_blob")?;
                match open_blob(tx, &space, &b.id, &b.data).and_then(|p| {
                    remote::apply_payload(tx, space, &p, &mut devices).map(|o| (o, p.doc))
                }) {
                    Ok((outcome, _)) => {
                        tx.sql.execute_batch("RELEASE apply_blob")?;
                        if outcome != Outcome::Unchanged {
                            applied += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%space, seq = b.seq, code = %e.code(), "quarantined a blob");
                        tx.sql
                            .execute_batch("ROLLBACK TO apply_blob; RELEASE apply_blob")?;
                        // Whatever the failed apply left in memory is dropped.
                        tx.forget_cached_docs();
                        devices = remote::space_devices(tx, &space)?;
                        rstore::quarantine(
                            &tx.sql,
                            &space,
                            b.seq,
                            &b.id,
                            &b.data,
                            &e.to_string(),
                            tx.now,
                        )?;
                        quarantined += 1;
                    }
                }
            }
            if cursor > 0 {
                rstore::advance_cursor(&tx.sql, &space, cursor)?;
            }
            Ok((applied, quarantined, page.blobs.len() as u32))
        })?;
        report.pulled += n;
        report.applied += applied;
        report.quarantined += quarantined;
        Ok(())
    }

    /// Create an invite to a journal: a text code and a `duet:` URI for the partner.
    pub async fn create_invite(&self, journal: &SpaceId, ttl_secs: Option<u64>) -> Result<Invite> {
        let kind = self.journal(journal)?.kind;
        if kind != SpaceKind::Journal {
            return Err(Error::NotAllowed(
                "invite your partner to a shared journal; link your own devices with `device link`"
                    .into(),
            ));
        }
        self.sync_now().await?;
        let c = self.relay_client()?;
        let (secret, expires_at) = self
            .make_invite(&c, journal, SpaceKind::Journal, None, Vec::new(), ttl_secs)
            .await?;
        Ok(Invite {
            code: secret.code(),
            uri: secret.uri(c.base().as_str()),
            journal: *journal,
            expires_at,
        })
    }

    async fn make_invite(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        kind: SpaceKind,
        person: Option<Person>,
        journals: Vec<invite::JournalCode>,
        ttl_secs: Option<u64>,
    ) -> Result<(Secret, i64)> {
        self.ensure_on_relay(c, space).await?;
        let keys = self.read(|tx| {
            let (current, _) = tx.key(space)?;
            let mut keys = Vec::new();
            for e in 1..=current {
                if let Some(k) = tx.key_at(space, e)? {
                    keys.push(invite::WrappedKey {
                        epoch: e,
                        key: k.as_bytes().to_vec(),
                    });
                }
            }
            Ok(keys)
        })?;
        let secret = Secret::generate();
        let wrapped = secret.wrap(&Wrapped {
            space: *space,
            kind,
            keys,
            person,
            journals,
        })?;
        let created = c
            .create_invite(
                space.0,
                &duet_proto::CreateInvite {
                    invite_id: secret.invite,
                    token_hash: secret.token_hash()?,
                    wrapped_key: wrapped,
                    ttl_secs,
                },
            )
            .await?;
        Ok((secret, created.expires_at))
    }

    /// Join a journal with a partner's invite code (or `duet:` URI). Returns the journal.
    pub async fn join(&self, code: &str) -> Result<SpaceId> {
        let (secret, relay) = Secret::parse(code)?;
        if rstore::relay(&self.lock().conn)?.is_none() {
            let relay = relay.ok_or(Error::NoRelay)?;
            self.set_relay(&relay)?;
        }
        self.register().await?;
        let c = self.relay_client()?;
        let joined = c.join(secret.invite, secret.token()?).await?;
        let w = secret.unwrap(&joined.wrapped_key)?;
        if w.person.is_some() || w.kind != SpaceKind::Journal {
            return Err(Error::NotAllowed(
                "this code links a device; use it on a new device with `duet device join`".into(),
            ));
        }
        let space = self.accept_space(&w)?;
        let mut report = SyncReport::default();
        self.pull_all(&c, &mut report).await?;
        self.write(|tx| crate::engine::journals::join_space(tx, &space))?;
        for dev in self.my_other_relay_devices()? {
            let _ = c.add_member(space.0, dev).await;
        }
        self.write(|tx| record_relay_device(tx, &space))?;
        self.push_outbox(&c, &mut report).await?;
        tracing::info!(%space, "joined a journal by invite");
        Ok(space)
    }

    /// Take the keys of a space we were invited to; note them in my key ring.
    fn accept_space(&self, w: &Wrapped) -> Result<SpaceId> {
        let keys = w.keys()?;
        let space = w.space;
        let kind = w.kind;
        self.write(|tx| {
            remote::ensure_space(tx, space, kind)?;
            for (e, k) in &keys {
                tx.put_key(&space, *e, k)?;
            }
            rstore::set_on_relay(&tx.sql, &space)?;
            if kind == SpaceKind::Journal {
                add_to_keyring(tx, &space, &keys)?;
            }
            Ok(())
        })?;
        Ok(space)
    }

    /// Make a code that links a new device of mine: it receives my personal space and
    /// every journal I hold.
    pub async fn link_device(&self, ttl_secs: Option<u64>) -> Result<Invite> {
        self.sync_now().await?;
        let c = self.relay_client()?;
        let me = self.identity();
        // Only journals this device still belongs to at the relay (after sync_now, every
        // journal of ours is there): one a partner removed us from can't be passed on.
        let on_relay: std::collections::HashSet<Uuid> =
            c.spaces().await?.iter().map(|s| s.space_id).collect();
        let mut journals = Vec::new();
        for j in self.journals()? {
            if j.kind == SpaceKind::Journal && on_relay.contains(&j.id.0) {
                let (s, _) = self
                    .make_invite(&c, &j.id, SpaceKind::Journal, None, Vec::new(), ttl_secs)
                    .await?;
                journals.push(s.to_code());
            }
        }
        let person = Person {
            member: me.member,
            name: me.name.clone(),
            personal_space: me.personal_space,
        };
        let (secret, expires_at) = self
            .make_invite(
                &c,
                &me.personal_space,
                SpaceKind::Personal,
                Some(person),
                journals,
                ttl_secs,
            )
            .await?;
        Ok(Invite {
            code: secret.code(),
            uri: secret.uri(c.base().as_str()),
            journal: me.personal_space,
            expires_at,
        })
    }

    /// Set up a new home as another device of the person who made `code` (with
    /// [`Duet::link_device`]), then sync everything they hold.
    pub async fn join_device(
        home: impl AsRef<std::path::Path>,
        code: &str,
        relay: Option<&str>,
        opts: crate::Options,
    ) -> Result<Duet> {
        let (secret, in_code) = Secret::parse(code)?;
        let relay = relay
            .map(str::to_string)
            .or(in_code)
            .ok_or(Error::NoRelay)?;
        // The code is one-use: refuse a home that already has an identity before spending it.
        let store_path = home.as_ref().join(crate::engine::STORE_FILE);
        if store_path.exists()
            && store::identity(&store::open(&store_path, opts.durability)?)?.is_some()
        {
            return Err(Error::AlreadyInitialized);
        }
        let anon = RelayClient::new(&relay, None)?;
        let reg = anon.register().await?;
        let c = RelayClient::new(&relay, Some(reg.token.clone()))?;
        let joined = c.join(secret.invite, secret.token()?).await?;
        let w = secret.unwrap(&joined.wrapped_key)?;
        let person = w.person.clone().ok_or_else(|| {
            Error::NotAllowed(
                "this code invites to a journal; use `duet join` on an initialized home".into(),
            )
        })?;
        let me = Identity {
            member: person.member,
            device: DeviceId::new(),
            name: person.name.clone(),
            personal_space: person.personal_space,
        };
        let keys = w.keys()?;
        let duet = Duet::init_linked(home, me, &keys, opts)?;
        duet.set_relay(&relay)?;
        duet.write(|tx| {
            rstore::set_credentials(&tx.sql, &reg.device_id, &reg.token)?;
            rstore::set_on_relay(&tx.sql, &person.personal_space)
        })?;
        for jc in &w.journals {
            let js = Secret::from_code(jc)?;
            let joined = c.join(js.invite, js.token()?).await?;
            duet.accept_space(&js.unwrap(&joined.wrapped_key)?)?;
        }
        // The sync names this device in my personal space and in each journal (see
        // `announce_self`); if it fails (no signal), the home is whole and the next sync
        // finishes the job.
        duet.sync_now().await?;
        Ok(duet)
    }

    /// Revoke a device at the relay: my own lost phone (its relay id is in `devices()`), or
    /// a device I share a journal with. Its token stops working at once.
    pub async fn revoke_device(&self, relay_device: Uuid) -> Result<()> {
        self.register().await?;
        self.relay_client()?.revoke(relay_device).await
    }

    /// Relay ids of my devices (mine first), from my personal space.
    pub fn my_relay_devices(&self) -> Result<Vec<Uuid>> {
        let mine = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        let mut all: Vec<Uuid> = mine.into_iter().collect();
        all.extend(self.my_other_relay_devices()?);
        Ok(all)
    }

    /// Upload a sealed snapshot of a journal (every document's full state) covering the
    /// log up to the relay's current head, so the relay may prune the log behind it.
    pub async fn upload_snapshot(&self, journal: &SpaceId) -> Result<u64> {
        self.sync_now().await?;
        let c = self.relay_client()?;
        let head = c
            .spaces()
            .await?
            .into_iter()
            .find(|s| s.space_id == journal.0)
            .map(|s| s.head)
            .ok_or_else(|| Error::not_found("journal", journal))?;
        let (cursor, _) = rstore::sync_space(&self.lock().conn, journal)?;
        if cursor < head {
            // Someone wrote meanwhile; the snapshot must cover exactly what we hold.
            return Err(Error::NotAllowed(
                "the journal changed during the snapshot; try again".into(),
            ));
        }
        let data = self.read(|tx| {
            let mut payloads = Vec::new();
            for (rowid, id, kind) in store::space_docs(&tx.sql, journal)? {
                let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
                let mut d = doc::load_doc(
                    &tx.me.device,
                    snapshot.as_deref(),
                    chunks.iter().map(Vec::as_slice),
                )?;
                payloads.push(blob::Payload {
                    doc: *id.as_bytes(),
                    kind: if kind == "meta" {
                        blob::DocKind::Meta
                    } else {
                        blob::DocKind::Entry
                    },
                    data: d.save(),
                });
            }
            let mut plain = Vec::new();
            ciborium::into_writer(&payloads, &mut plain)
                .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
            let (epoch, key) = tx.key(journal)?;
            let id = crypto::new_blob_id();
            let sealed = crypto::seal(&key, epoch, journal, &id, &plain)?;
            let mut out = Vec::new();
            ciborium::into_writer(&SealedBlob { id, sealed }, &mut out)
                .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
            Ok(out)
        })?;
        c.put_snapshot(journal.0, &duet_proto::Snapshot { seq: head, data })
            .await?;
        Ok(head)
    }

    /// Remove a partner from a journal: their devices leave it on the relay, and the key
    /// rotates, so nothing written afterwards can be read with what they hold.
    pub async fn remove_member(&self, journal: &SpaceId, member: &MemberId) -> Result<()> {
        if *member == self.identity().member {
            return Err(Error::NotAllowed(
                "you can't remove yourself; ask your partner".into(),
            ));
        }
        let j = self.journal(journal)?;
        if j.kind != SpaceKind::Journal || !j.members.iter().any(|m| m.id == *member) {
            return Err(Error::not_found("member", member));
        }
        self.sync_now().await?;
        let c = self.relay_client()?;
        let devices: Vec<Uuid> = self.read(|tx| {
            let meta = tx.meta_ref(journal)?;
            Ok(doc::meta::relay_devices(tx.doc(meta.rowid)?)
                .into_iter()
                .filter(|(_, m)| m == member)
                .map(|(d, _)| d)
                .collect())
        })?;
        for d in devices {
            match c.remove_member(journal.0, d).await {
                Ok(()) | Err(Error::RelayRefused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let member = *member;
        self.write(|tx| {
            let (epoch, _) = tx.key(journal)?;
            let key = SpaceKey::generate();
            tx.put_key(journal, epoch + 1, &key)?;
            add_to_keyring(tx, journal, &[(epoch + 1, key)])?;
            let meta = tx.meta_ref(journal)?;
            let now = tx.now;
            // Sealed with the new key: the removed partner can't read even this.
            tx.change(meta, |m| doc::meta::mark_removed(m, &member, now))?;
            Ok(())
        })?;
        let mut report = SyncReport::default();
        self.push_outbox(&c, &mut report).await?;
        tracing::info!(journal = %journal, "member removed and key rotated");
        Ok(())
    }
}

/// Note my relay device id in a space's meta document (so a partner can remove it).
fn record_relay_device(tx: &mut crate::engine::tx::Tx<'_>, space: &SpaceId) -> Result<()> {
    let Some(dev) = rstore::relay(&tx.sql)?.and_then(|r| r.device_id) else {
        return Ok(());
    };
    let meta = tx.meta_ref(space)?;
    let member = tx.me.member;
    tx.change(meta, |m| doc::meta::add_relay_device(m, &dev, &member))?;
    Ok(())
}

/// Add a journal's keys to my key ring (my personal space), so my other devices get them.
pub(crate) fn add_to_keyring(
    tx: &mut crate::engine::tx::Tx<'_>,
    space: &SpaceId,
    keys: &[(crypto::Epoch, SpaceKey)],
) -> Result<()> {
    let meta = tx.meta_ref(&tx.me.personal_space)?;
    let keys = keys.to_vec();
    let space = *space;
    tx.change(meta, |m| {
        for (e, k) in &keys {
            doc::meta::keyring_put(m, &space, *e, k)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn open_blob(
    tx: &mut crate::engine::tx::Tx<'_>,
    space: &SpaceId,
    id: &[u8],
    data: &[u8],
) -> Result<blob::Payload> {
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| Error::CorruptData("a blob id is 16 bytes".into()))?;
    let epoch = crypto::epoch_of(data)?;
    let key = tx
        .key_at(space, epoch)?
        .ok_or_else(|| Error::WrongKey(format!("no key for epoch {epoch} of this journal")))?;
    blob::open(
        &key,
        space,
        &SealedBlob {
            id,
            sealed: data.to_vec(),
        },
    )
}

/// A snapshot is a sealed blob whose payload list holds every document's full save.
fn open_snapshot(
    tx: &mut crate::engine::tx::Tx<'_>,
    space: &SpaceId,
    data: &[u8],
) -> Result<Vec<blob::Payload>> {
    let sb: SealedBlob =
        ciborium::from_reader(data).map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    let epoch = crypto::epoch_of(&sb.sealed)?;
    let key = tx
        .key_at(space, epoch)?
        .ok_or_else(|| Error::WrongKey(format!("no key for epoch {epoch} of this journal")))?;
    let plain = crypto::open(&key, space, &sb.id, &sb.sealed)?;
    ciborium::from_reader(plain.as_slice())
        .map_err(|e| Error::CorruptData(format!("snapshot: {e}")))
}
