//! `Duet`: the engine an app opens on its data directory. Each write is one SQLite
//! transaction that stores the Automerge change, updates the index and queues a sealed
//! blob; listeners hear about it after the commit.

pub(crate) mod answers;
pub(crate) mod attachments;
mod bundle;
mod cache;
mod entries;
mod export;
mod insights;
pub(crate) mod journals;
pub(crate) mod keyring;
pub(crate) mod remote;
pub(crate) mod tx;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::attachments::TransferListener;
use crate::clock::{Clock, SystemClock};
use crate::crypto::{KeyStore, SpaceKey};
use crate::error::{Error, Result};
use crate::events::{EntryListener, Listeners, Subscription};
use crate::ids::{AttachmentId, DeviceId, MemberId, SpaceId};
use crate::model::{EntryEvent, Identity};
use crate::state::{SyncListener, SyncState};
use crate::store::checkpoint::{self, Checkpointer};
use crate::store::{self, Durability};

pub use attachments::{MAX_ATTACHMENT_NAME_CHARS, MAX_MIME_CHARS};
pub use bundle::BUNDLE_MAGIC;
use cache::DocCache;
use tx::Tx;

/// File name of the device store inside a home directory.
pub const STORE_FILE: &str = "duet.sqlite3";

/// How to open a home.
#[derive(Clone)]
pub struct Options {
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
    /// Keep space keys here (e.g. the OS keychain) instead of in the device store.
    pub key_store: Option<Arc<dyn KeyStore>>,
    /// The relay operator's registration token, for a relay that registers devices only
    /// with it (`duet-relay --registration-token`); sent once, when this device registers.
    pub registration_token: Option<String>,
    /// Bytes of attachment originals kept on this device; past it the least recently used
    /// are evicted (fetched again when asked for). Thumbnails and originals still waiting
    /// to upload are always kept.
    pub attachment_cache_bytes: u64,
    /// Largest file `attach` takes.
    pub max_attachment_bytes: u64,
    /// Upload a snapshot of a journal after a sync once its log has grown past the last one
    /// by this many blobs (and by half); 0 never does (ADR 16).
    pub snapshot_every_blobs: u64,
}

/// Default [`Options::snapshot_every_blobs`].
pub const DEFAULT_SNAPSHOT_EVERY_BLOBS: u64 = 1000;

/// Default [`Options::attachment_cache_bytes`]: 1 GiB.
pub const DEFAULT_ATTACHMENT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for Options {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            clock: Arc::new(SystemClock),
            key_store: None,
            registration_token: None,
            attachment_cache_bytes: DEFAULT_ATTACHMENT_CACHE_BYTES,
            max_attachment_bytes: duet_proto::limits::MAX_ATTACHMENT_BYTES,
            snapshot_every_blobs: DEFAULT_SNAPSHOT_EVERY_BLOBS,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("external_key_store", &self.key_store.is_some())
            .field("registration_token", &self.registration_token.is_some())
            .field("attachment_cache_bytes", &self.attachment_cache_bytes)
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .field("snapshot_every_blobs", &self.snapshot_every_blobs)
            .finish()
    }
}

/// The Duet engine on one device.
pub struct Duet {
    inner: Mutex<Inner>,
    listeners: Arc<Listeners<dyn EntryListener>>,
    sync_listeners: Arc<Listeners<dyn SyncListener>>,
    /// Woken after every local write, so live sync pushes at once.
    outbox_notify: Arc<tokio::sync::Notify>,
    /// How many `sync_now` calls are running: only those report their progress (the live
    /// channel's own pushes and inline applies don't turn the status line to "syncing").
    syncs_running: std::sync::atomic::AtomicU32,
    clock: Arc<dyn Clock>,
    home: PathBuf,
    /// Attachment transfers: who hears their progress, which are downloading, the limits.
    transfers: Transfers,
    /// Checkpoints the WAL from its own thread, off the writing path (after `inner`: dropped
    /// last, so its connection, the store's last, folds the WAL into the database).
    checkpointer: Checkpointer,
    snapshot_every_blobs: u64,
}

impl std::fmt::Debug for Duet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duet").field("home", &self.home).finish()
    }
}

struct Transfers {
    listeners: Arc<Listeners<dyn TransferListener>>,
    downloading: Mutex<std::collections::HashSet<AttachmentId>>,
    cache_bytes: AtomicU64,
    max_bytes: u64,
}

/// Unmarks a download when it ends (also when its future is dropped).
pub(crate) struct DownloadGuard<'a> {
    duet: &'a Duet,
    id: AttachmentId,
}

impl Drop for DownloadGuard<'_> {
    fn drop(&mut self) {
        self.duet
            .transfers
            .downloading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    me: Identity,
    cache: DocCache,
    keys: Option<Arc<dyn KeyStore>>,
    /// `PRAGMA data_version` when the cache was last known to match the store.
    data_version: i64,
    /// Device -> member, from every meta document we hold; `None` until first needed.
    devices: Option<HashMap<DeviceId, MemberId>>,
    /// See [`Options::registration_token`]; never logged.
    registration_token: Option<String>,
}

impl Inner {
    /// This home now acts as another member (a partner-assisted restore; the store row is
    /// written by the caller). Who wrote what is looked up afresh.
    pub(crate) fn adopt(&mut self, member: MemberId, name: &str) {
        self.me.member = member;
        self.me.name = name.to_string();
        self.devices = None;
    }
}

impl Duet {
    /// Create a new home: this device's identity and the person's private space.
    pub fn init(home: impl AsRef<Path>, name: &str, opts: Options) -> Result<Duet> {
        crate::limits::check_name("name", name)?;
        let home = home.as_ref();
        let me = Identity {
            member: MemberId::new(),
            device: DeviceId::new(),
            name: name.trim().to_string(),
            personal_space: SpaceId::new(),
        };
        let duet = Self::create_home(home, me, opts, |tx| {
            let title = format!("{}'s drafts", tx.me.name);
            tx.create_space(
                tx.me.personal_space,
                crate::model::SpaceKind::Personal,
                &title,
                SpaceKey::generate(),
            )
        })?;
        tracing::info!(home = %home.display(), "initialized a Duet home");
        Ok(duet)
    }

    /// A new home's store: refused if `home` already has an identity; else `me` and what
    /// `fill` writes, in one transaction.
    fn create_home(
        home: &Path,
        me: Identity,
        opts: Options,
        fill: impl FnOnce(&mut Tx<'_>) -> Result<()>,
    ) -> Result<Duet> {
        std::fs::create_dir_all(home).map_err(|e| Error::io(home, e))?;
        let mut conn = store::open(&home.join(STORE_FILE), opts.durability)?;
        if store::identity(&conn)?.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        let now = opts.clock.now_ms();
        let mut cache = DocCache::default();
        {
            let mut tx = Tx::begin(
                &mut conn,
                &mut cache,
                &me,
                opts.key_store.as_deref(),
                now,
                None,
            )?;
            store::set_identity(&tx.sql, &me, now)?;
            fill(&mut tx)?;
            tx.commit()?;
        }
        Self::from_parts(home, conn, me, cache, opts)
    }

    /// Open an existing home.
    pub fn open(home: impl AsRef<Path>, opts: Options) -> Result<Duet> {
        let home = home.as_ref();
        let path = home.join(STORE_FILE);
        if !path.exists() {
            return Err(Error::NotInitialized);
        }
        let conn = store::open(&path, opts.durability)?;
        let me = store::identity(&conn)?.ok_or(Error::NotInitialized)?;
        crate::attachments::files::sweep_temp(home);
        Self::from_parts(home, conn, me, DocCache::default(), opts)
    }

    fn from_parts(
        home: &Path,
        conn: Connection,
        me: Identity,
        cache: DocCache,
        opts: Options,
    ) -> Result<Duet> {
        let data_version = store::data_version(&conn)?;
        let checkpointer = Checkpointer::new(&home.join(STORE_FILE), opts.durability);
        Ok(Duet {
            inner: Mutex::new(Inner {
                conn,
                me,
                cache,
                keys: opts.key_store,
                registration_token: opts.registration_token,
                data_version,
                devices: None,
            }),
            listeners: Arc::new(Listeners::default()),
            sync_listeners: Arc::new(Listeners::default()),
            outbox_notify: Arc::new(tokio::sync::Notify::new()),
            syncs_running: std::sync::atomic::AtomicU32::new(0),
            clock: opts.clock,
            home: home.to_path_buf(),
            transfers: Transfers {
                listeners: Arc::new(Listeners::default()),
                downloading: Mutex::new(std::collections::HashSet::new()),
                cache_bytes: AtomicU64::new(opts.attachment_cache_bytes),
                max_bytes: opts.max_attachment_bytes,
            },
            checkpointer,
            snapshot_every_blobs: opts.snapshot_every_blobs,
        })
    }

    /// [`Options::snapshot_every_blobs`] as opened.
    pub(crate) fn snapshot_every_blobs(&self) -> u64 {
        self.snapshot_every_blobs
    }

    /// Who this device belongs to.
    pub fn identity(&self) -> Identity {
        self.lock().me.clone()
    }

    /// The home directory this engine was opened on.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Subscribe to entry events; drop the handle to unsubscribe.
    pub fn subscribe(&self, listener: Arc<dyn EntryListener>) -> Subscription {
        self.listeners.add(listener)
    }

    /// Subscribe to sync state changes; drop the handle to unsubscribe.
    pub fn subscribe_sync(&self, listener: Arc<dyn SyncListener>) -> Subscription {
        self.sync_listeners.add(listener)
    }

    pub(crate) fn emit_sync(&self, state: &SyncState) {
        self.sync_listeners.emit(|l| l.on_sync_state(state));
    }

    /// Set (or clear) the relay operator's registration token, used when this device
    /// registers next (see [`Options::registration_token`]).
    pub fn set_registration_token(&self, token: Option<String>) {
        self.lock().registration_token = token.filter(|t| !t.is_empty());
    }

    pub(crate) fn registration_token(&self) -> Option<String> {
        self.lock().registration_token.clone()
    }

    pub(crate) fn syncs_running(&self) -> &std::sync::atomic::AtomicU32 {
        &self.syncs_running
    }

    pub(crate) fn outbox_notify(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_notify.clone()
    }

    /// A home for another device of an existing person (see `Duet::join_device`): their
    /// identity, a new device id, and their personal space's keys; its documents arrive by
    /// sync.
    pub(crate) fn init_linked(
        home: impl AsRef<Path>,
        me: Identity,
        personal_keys: &[(crate::crypto::Epoch, SpaceKey)],
        opts: Options,
    ) -> Result<Duet> {
        Self::create_home(home.as_ref(), me, opts, |tx| {
            let personal = tx.me.personal_space;
            remote::ensure_space(tx, personal, crate::model::SpaceKind::Personal)?;
            store::insert_doc(&tx.sql, &personal.0, &personal, "meta")?;
            for (e, k) in personal_keys {
                tx.put_key(&personal, *e, k)?;
            }
            Ok(())
        })
    }

    /// Number of sealed blobs waiting to be pushed to the relay.
    pub fn outbox_len(&self) -> Result<u64> {
        store::outbox_len(&self.lock().conn)
    }

    /// SQLite's own consistency check; `Ok(())` when the store is sound.
    pub fn integrity_check(&self) -> Result<()> {
        let res = store::integrity_check(&self.lock().conn)?;
        if res == "ok" {
            Ok(())
        } else {
            Err(Error::CorruptData(format!("integrity check: {res}")))
        }
    }

    /// Subscribe to attachment transfer progress; drop the handle to unsubscribe.
    pub fn subscribe_transfers(&self, listener: Arc<dyn TransferListener>) -> Subscription {
        self.transfers.listeners.add(listener)
    }

    pub(crate) fn emit_transfer(&self, p: &crate::attachments::TransferProgress) {
        self.transfers.listeners.emit(|l| l.on_progress(p));
    }

    /// Change [`Options::attachment_cache_bytes`] (evicting at once if the budget shrank).
    pub fn set_attachment_cache_bytes(&self, bytes: u64) -> Result<()> {
        self.transfers.cache_bytes.store(bytes, Ordering::Relaxed);
        self.evict_over_budget()
    }

    pub(crate) fn attachment_cache_bytes(&self) -> u64 {
        self.transfers.cache_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn max_attachment_bytes(&self) -> u64 {
        self.transfers.max_bytes
    }

    /// Attachments being downloaded now.
    pub(crate) fn downloading(&self) -> std::collections::HashSet<AttachmentId> {
        self.transfers
            .downloading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Mark an attachment as downloading for as long as the guard lives.
    pub(crate) fn start_download(&self, id: AttachmentId) -> DownloadGuard<'_> {
        self.transfers
            .downloading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        DownloadGuard { duet: self, id }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock can't leave the store half-written (SQLite rolls
        // back), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Run a write transaction, then tell listeners (outside the lock).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        let now = self.now();
        let (r, events, wal_frames) = {
            let mut g = self.lock();
            let inner = &mut *g;
            let mut tx = Tx::begin(
                &mut inner.conn,
                &mut inner.cache,
                &inner.me,
                inner.keys.as_deref(),
                now,
                Some(&mut inner.data_version),
            )?;
            let r = match f(&mut tx) {
                Ok(r) => r,
                Err(e) => {
                    tx.abort();
                    return Err(e);
                }
            };
            checkpoint::reset_wal_frames();
            let (events, meta_changed) = tx.commit()?;
            let wal_frames = checkpoint::take_wal_frames();
            if meta_changed {
                inner.devices = None;
            }
            (r, events, wal_frames)
        };
        self.checkpointer.after_commit(wal_frames);
        self.emit(&events);
        self.outbox_notify.notify_one();
        Ok(r)
    }

    /// Run a read that may need documents (cache) but writes nothing.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.write(f)
    }

    fn emit(&self, events: &[EntryEvent]) {
        for e in events {
            self.listeners.emit(|l| l.on_event(e));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::{NewEntry, TextField};

    /// Writes that fill the WAL wake the checkpoint thread, and closing the home (its
    /// connection is then the store's last) folds the WAL into the database.
    #[test]
    fn full_wal_is_checkpointed_beside_the_writes_and_folded_in_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            durability: Durability::Normal,
            ..Options::default()
        };
        let duet = Duet::init(dir.path(), "Ada", opts.clone()).unwrap();
        let j = duet.create_journal("Us").unwrap();
        let id = duet.create_entry(&j, NewEntry::default()).unwrap();
        let wal = dir.path().join(format!("{STORE_FILE}-wal"));
        let mut body = String::new();
        let mut len = 0;
        // About 3 WAL pages a write: past the 1,000 pages that call for a checkpoint.
        for i in 0..400 {
            let line = format!("{i}: we walked along the river and talked about the summer\n");
            duet.splice_text(&id, TextField::Body, len, 0, &line)
                .unwrap();
            len += line.chars().count();
            body.push_str(&line);
        }
        duet.checkpointer.wait_idle();
        assert!(duet.checkpointer.runs() >= 1);
        assert!(wal.exists());
        drop(duet);
        let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(left, 0, "the WAL outlived the last connection");
        let reopened = Duet::open(dir.path(), opts).unwrap();
        reopened.integrity_check().unwrap();
        assert_eq!(reopened.get_entry(&id).unwrap().body, body);
    }
}
