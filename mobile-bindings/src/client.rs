//! `DuetClient`: the engine on one device, as apps call it. Every method converts its
//! arguments, calls `duet_core::Duet` and converts the result; nothing else.
//!
//! Synchronous methods do local SQLite work (a write is durable when it returns, typically
//! well under a millisecond); call them off the UI thread. Network methods are `async`
//! (Kotlin `suspend`, Swift `async`) and run on the library's own tokio runtime.

use std::sync::{Arc, Mutex};

use duet_core::{self as core, Duet, EntryId, MemberId, Options, ReplyId, SpaceId};

use crate::error::{DuetError, core, guard};
use crate::listener::{Bridge, DuetListener, Subscription};
use crate::runtime::{run, runtime};
use crate::types::*;

/// The Duet engine on one device, opened on the app's data directory.
///
/// Kotlin: `DuetClient.open(dir)`, `DuetClient.init(dir, "Ada", relayUrl)`,
/// `DuetClient.joinDevice(dir, code)`. Swift: `DuetClient.open(dataDir:)`,
/// `DuetClient.initialize(dataDir:name:relayUrl:)`, `DuetClient.joinDevice(dataDir:code:)`.
/// Python: `DuetClient.open(dir)`, `DuetClient.init(dir, "Ada")`.
#[derive(uniffi::Object)]
pub struct DuetClient {
    duet: Arc<Duet>,
    live: Mutex<Option<core::LiveHandle>>,
}

impl std::fmt::Debug for DuetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuetClient")
            .field("data_dir", &self.duet.home())
            .finish()
    }
}

impl DuetClient {
    fn wrap(duet: Duet) -> Arc<Self> {
        Arc::new(DuetClient {
            duet: Arc::new(duet),
            live: Mutex::new(None),
        })
    }

    fn live_slot(&self) -> std::sync::MutexGuard<'_, Option<core::LiveHandle>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn space_id(s: &str) -> Result<SpaceId, DuetError> {
    parse_id(s)
}

#[uniffi::export]
impl DuetClient {
    /// Open the Duet store in `data_dir`, which `init` (or `joinDevice`) set up before.
    /// Fails with `NotInitialized` when there is none yet.
    #[uniffi::constructor]
    pub fn open(data_dir: String) -> Result<Arc<Self>, DuetError> {
        core(|| Duet::open(&data_dir, Options::default())).map(Self::wrap)
    }

    /// Set up a new store in `data_dir`: this device's identity (the person's display
    /// `name`) and their personal space for private drafts. `relay_url`
    /// (`https://relay.example`) may be given now or later with `setRelay`. Fails with
    /// `AlreadyInitialized` when the directory already holds one. (Swift: `initialize`.)
    #[uniffi::constructor(default(relay_url = None))]
    pub fn init(
        data_dir: String,
        name: String,
        relay_url: Option<String>,
    ) -> Result<Arc<Self>, DuetError> {
        core(|| {
            let duet = Duet::init(&data_dir, &name, Options::default())?;
            if let Some(url) = &relay_url {
                duet.set_relay(url)?;
            }
            Ok(duet)
        })
        .map(Self::wrap)
    }

    /// Set up `data_dir` as another device of the person who made `code` with `linkDevice`
    /// on their existing device, and sync everything they hold. The relay comes from the
    /// code's URI form, or from `relay_url`.
    #[uniffi::constructor(default(relay_url = None))]
    pub async fn join_device(
        data_dir: String,
        code: String,
        relay_url: Option<String>,
    ) -> Result<Arc<Self>, DuetError> {
        run(async move {
            Duet::join_device(&data_dir, &code, relay_url.as_deref(), Options::default())
                .await
                .map_err(DuetError::from)
        })
        .await
        .map(Self::wrap)
    }

    // ---- identity and relay ----

    /// Who this device belongs to.
    pub fn identity(&self) -> Result<Identity, DuetError> {
        guard(|| Ok(self.duet.identity().into()))
    }

    /// The data directory this client was opened on.
    pub fn data_dir(&self) -> String {
        self.duet.home().display().to_string()
    }

    /// Point this device at a relay (`http(s)://host[:port]`).
    pub fn set_relay(&self, url: String) -> Result<(), DuetError> {
        core(|| self.duet.set_relay(&url))
    }

    /// The relay and this device's id there; null when none is configured.
    pub fn relay_info(&self) -> Result<Option<RelayInfo>, DuetError> {
        core(|| self.duet.relay_info()).map(|r| {
            r.map(|r| RelayInfo {
                url: r.url,
                device_id: r.device_id.map(|d| d.to_string()),
            })
        })
    }

    /// Sealed changes waiting to be pushed to the relay.
    pub fn outbox_len(&self) -> Result<u64, DuetError> {
        core(|| self.duet.outbox_len())
    }

    /// Pulled blobs that could not be applied (kept and reported, never blocking sync).
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, DuetError> {
        core(|| self.duet.quarantined()).map(|q| {
            q.into_iter()
                .map(|q| Quarantined {
                    space_id: q.space,
                    seq: q.seq,
                    error: q.error,
                })
                .collect()
        })
    }

    // ---- journals ----

    /// Create a shared journal; returns its id. Invite the partner with `createInvite`.
    pub fn create_journal(&self, title: String) -> Result<String, DuetError> {
        core(|| self.duet.create_journal(&title)).map(|id| id.to_string())
    }

    /// Every journal on this device, the personal space included (`kind == Personal`).
    pub fn list_journals(&self) -> Result<Vec<Journal>, DuetError> {
        core(|| self.duet.journals()).map(|js| js.into_iter().map(Journal::from).collect())
    }

    /// One journal.
    pub fn get_journal(&self, journal_id: String) -> Result<Journal, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.journal(&id)).map(Journal::from)
    }

    /// Rename a journal (concurrent renames converge on one title).
    pub fn rename_journal(&self, journal_id: String, title: String) -> Result<(), DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.rename_journal(&id, &title))
    }

    /// How often the couple means to check in, in days.
    pub fn set_checkin_cadence(&self, journal_id: String, days: u32) -> Result<(), DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.set_checkin_cadence(&id, days))
    }

    // ---- writing ----

    /// Write a new entry into a journal — or, into `identity().personalSpaceId`, a private
    /// draft (share it later with `shareDraft`). Durable when it returns; returns its id.
    pub fn create_entry(&self, journal_id: String, entry: NewEntry) -> Result<String, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.create_entry(&id, entry.into())).map(|e| e.to_string())
    }

    /// Record a check-in (mood and closeness 1–5, needs, gratitude); returns the entry id.
    pub fn check_in(&self, journal_id: String, check_in: CheckIn) -> Result<String, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.check_in(&id, check_in.into())).map(|e| e.to_string())
    }

    /// Replace a text field with the full new text from the editor. Applied as the minimal
    /// splices from the current text, so a partner's concurrent edits elsewhere survive.
    pub fn set_text(
        &self,
        entry_id: String,
        field: TextField,
        text: String,
    ) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.set_text(&id, field.into(), &text))
    }

    /// The keystroke path: at `position` delete `delete_count` characters, then insert
    /// `insert`. **Positions and counts are Unicode scalar values (code points), not UTF-16
    /// units**: Kotlin `text.codePointCount(0, utf16Index)`, Swift
    /// `text[..<index].unicodeScalars.count`; Python `str` indices already are code points.
    /// A range outside the text is `InvalidInput`.
    pub fn splice(
        &self,
        entry_id: String,
        field: TextField,
        position: u32,
        delete_count: u32,
        insert: String,
    ) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| {
            self.duet.splice_text(
                &id,
                field.into(),
                position as usize,
                delete_count as usize,
                &insert,
            )
        })
    }

    /// Several splices to one field as one durable write (e.g. a burst of typing the app
    /// buffered): applied in order, each position as the text stands after the previous
    /// one. Same units as `splice` (code points). All or nothing: a bad range fails the
    /// whole call and changes nothing.
    pub fn splice_many(
        &self,
        entry_id: String,
        field: TextField,
        edits: Vec<TextEdit>,
    ) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        let splices: Vec<(usize, usize, &str)> = edits
            .iter()
            .map(|e| {
                (
                    e.position as usize,
                    e.delete_count as usize,
                    e.insert.as_str(),
                )
            })
            .collect();
        core(|| self.duet.splice_many(&id, field.into(), &splices))
    }

    /// Replace an entry's tags (additions and removals merge with a partner's).
    pub fn set_tags(&self, entry_id: String, tags: Vec<String>) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.set_tags(&id, &tags))
    }

    /// Change a check-in's mood and/or closeness (1–5; null leaves it).
    #[uniffi::method(default(mood = None, closeness = None))]
    pub fn set_check_in_scores(
        &self,
        entry_id: String,
        mood: Option<u8>,
        closeness: Option<u8>,
    ) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.set_check_in_scores(&id, mood, closeness))
    }

    /// Move an entry to the trash (soft delete; its author only). `restoreEntry` undoes it.
    pub fn delete_entry(&self, entry_id: String) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.delete_entry(&id))
    }

    /// Bring an entry back from the trash, with every edit made meanwhile.
    pub fn restore_entry(&self, entry_id: String) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.restore_entry(&id))
    }

    /// React with an emoji (one reaction per person; reacting again replaces it).
    pub fn react(&self, entry_id: String, emoji: String) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.react(&id, &emoji))
    }

    /// Remove my reaction.
    pub fn unreact(&self, entry_id: String) -> Result<(), DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.unreact(&id))
    }

    /// Reply to an entry; returns the reply id.
    pub fn reply(&self, entry_id: String, text: String) -> Result<String, DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.reply(&id, &text)).map(|r| r.to_string())
    }

    /// Edit my reply (merged like entry text).
    pub fn edit_reply(
        &self,
        entry_id: String,
        reply_id: String,
        text: String,
    ) -> Result<(), DuetError> {
        let (e, r) = (entry_id_arg(&entry_id)?, reply_id_arg(&reply_id)?);
        core(|| self.duet.edit_reply(&e, &r, &text))
    }

    /// Soft-delete my reply.
    pub fn delete_reply(&self, entry_id: String, reply_id: String) -> Result<(), DuetError> {
        let (e, r) = (entry_id_arg(&entry_id)?, reply_id_arg(&reply_id)?);
        core(|| self.duet.delete_reply(&e, &r))
    }

    /// Restore my deleted reply.
    pub fn restore_reply(&self, entry_id: String, reply_id: String) -> Result<(), DuetError> {
        let (e, r) = (entry_id_arg(&entry_id)?, reply_id_arg(&reply_id)?);
        core(|| self.duet.restore_reply(&e, &r))
    }

    /// Share a private draft into a journal: the journal gets a new entry with the draft's
    /// current content only (none of the drafting history). Returns the new entry's id.
    pub fn share_draft(&self, draft_id: String, journal_id: String) -> Result<String, DuetError> {
        let (d, j) = (entry_id_arg(&draft_id)?, space_id(&journal_id)?);
        core(|| self.duet.share_draft(&d, &j)).map(|e| e.to_string())
    }

    // ---- reading ----

    /// List entries from the index (newest first) with filters and paging; cheap, loads no
    /// document.
    pub fn list_entries(&self, filter: EntryFilter) -> Result<EntryPage, DuetError> {
        let q = filter.to_core()?;
        core(|| self.duet.list_entries(&q)).map(|p| EntryPage {
            items: p.items.into_iter().map(EntrySummary::from).collect(),
            next_cursor: p.next,
        })
    }

    /// One entry, in full.
    pub fn get_entry(&self, entry_id: String) -> Result<Entry, DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.get_entry(&id)).map(Entry::from)
    }

    /// Offline full-text search over titles, bodies, notes and replies, in one journal or
    /// all; matches in the snippet are wrapped in `[` `]`.
    #[uniffi::method(default(journal_id = None, limit = 20))]
    pub fn search(
        &self,
        query: String,
        journal_id: Option<String>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, DuetError> {
        let j = journal_id.as_deref().map(space_id).transpose()?;
        core(|| self.duet.search(&query, j.as_ref(), limit)).map(|hits| {
            hits.into_iter()
                .map(|h| SearchHit {
                    entry: h.entry.into(),
                    snippet: h.snippet,
                })
                .collect()
        })
    }

    /// Weekly check-in trends of a journal, per partner.
    pub fn trends(&self, journal_id: String) -> Result<Trends, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.trends(&id)).map(Trends::from)
    }

    /// Today's prompt for a journal: the same on both partners' phones, offline.
    pub fn prompt_of_the_day(&self, journal_id: String) -> Result<Prompt, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.prompt_of_the_day(&id)).map(Prompt::from)
    }

    /// Who changed an entry when: editing sessions per device.
    pub fn history(&self, entry_id: String) -> Result<Vec<HistoryItem>, DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.history(&id)).map(|items| {
            items
                .into_iter()
                .map(|h| HistoryItem {
                    member_id: h.member.map(|m| m.to_string()),
                    device_id: h.device.to_string(),
                    from_ms: h.from,
                    to_ms: h.to,
                    changes: h.changes,
                })
                .collect()
        })
    }

    /// Fields both partners set at once ("you both changed the mood"), with every value and
    /// which one the entry shows.
    pub fn conflicts(&self, entry_id: String) -> Result<Vec<FieldConflict>, DuetError> {
        let id = entry_id_arg(&entry_id)?;
        core(|| self.duet.conflicts(&id)).map(|c| c.into_iter().map(FieldConflict::from).collect())
    }

    // ---- listeners ----

    /// Hear about entry events and sync state until the returned `Subscription` is
    /// cancelled or released.
    pub fn subscribe(&self, listener: Arc<dyn DuetListener>) -> Arc<Subscription> {
        let bridge = Arc::new(Bridge(listener));
        let entries = self.duet.subscribe(bridge.clone());
        let sync = self.duet.subscribe_sync(bridge);
        Arc::new(Subscription::new(entries, sync))
    }

    // ---- sync ----

    /// Push everything queued, pull everything new and apply it. Cancelling it (coroutine
    /// cancellation, Swift task cancellation) leaves the store consistent; sync again later.
    pub async fn sync_now(&self) -> Result<SyncReport, DuetError> {
        let duet = self.duet.clone();
        run(async move { duet.sync_now().await.map_err(DuetError::from) })
            .await
            .map(SyncReport::from)
    }

    /// Invite the partner to a journal: returns a code (and a `duet:` URI for a QR code)
    /// that travels only between the two of you. `ttl_secs` defaults to 24 h (at most 7 days).
    #[uniffi::method(default(ttl_secs = None))]
    pub async fn create_invite(
        &self,
        journal_id: String,
        ttl_secs: Option<u64>,
    ) -> Result<Invite, DuetError> {
        let duet = self.duet.clone();
        let id = space_id(&journal_id)?;
        run(async move {
            duet.create_invite(&id, ttl_secs)
                .await
                .map_err(DuetError::from)
        })
        .await
        .map(Invite::from)
    }

    /// Join a journal with the partner's invite code (or `duet:` URI); returns its id.
    pub async fn join(&self, code: String) -> Result<String, DuetError> {
        let duet = self.duet.clone();
        run(async move { duet.join(&code).await.map_err(DuetError::from) })
            .await
            .map(|s| s.to_string())
    }

    /// Make a code that links a new device of mine (use it with `DuetClient.joinDevice` on
    /// the new device): it receives my drafts and every journal I hold.
    #[uniffi::method(default(ttl_secs = None))]
    pub async fn link_device(&self, ttl_secs: Option<u64>) -> Result<Invite, DuetError> {
        let duet = self.duet.clone();
        run(async move { duet.link_device(ttl_secs).await.map_err(DuetError::from) })
            .await
            .map(Invite::from)
    }

    /// Remove a partner from a journal: their devices leave it at the relay and the
    /// journal's key is rotated, so they can read nothing written afterwards (what they
    /// wrote before stays, with their name). You can't remove yourself (`NotAllowed`).
    pub async fn remove_member(
        &self,
        journal_id: String,
        member_id: String,
    ) -> Result<(), DuetError> {
        let duet = self.duet.clone();
        let journal = space_id(&journal_id)?;
        let member: MemberId = parse_id(&member_id)?;
        run(async move {
            duet.remove_member(&journal, &member)
                .await
                .map_err(DuetError::from)
        })
        .await
    }

    /// The relay ids of my devices, this one first (empty before the first sync). Pass
    /// one to `revokeDevice` to cut off a lost phone.
    pub fn devices(&self) -> Result<Vec<String>, DuetError> {
        core(|| self.duet.my_relay_devices())
            .map(|ids| ids.into_iter().map(|d| d.to_string()).collect())
    }

    /// Revoke a device at the relay (its relay id, from `devices()`): my lost phone, or a
    /// device I share a journal with. Its token stops working at once.
    pub async fn revoke_device(&self, device_id: String) -> Result<(), DuetError> {
        let duet = self.duet.clone();
        let device = uuid::Uuid::parse_str(&device_id)
            .map_err(|e| DuetError::InvalidInput(format!("not a device id: {e}")))?;
        run(async move { duet.revoke_device(device).await.map_err(DuetError::from) }).await
    }

    /// Upload a sealed snapshot of a journal, so a device that joins later downloads one
    /// compact state instead of the whole history (the relay prunes the log behind it
    /// after its retention window). Returns the log position the snapshot covers.
    pub async fn upload_snapshot(&self, journal_id: String) -> Result<u64, DuetError> {
        let duet = self.duet.clone();
        let journal = space_id(&journal_id)?;
        run(async move {
            duet.upload_snapshot(&journal)
                .await
                .map_err(DuetError::from)
        })
        .await
    }

    /// Start background sync: one WebSocket to the relay; partners' entries arrive within
    /// milliseconds and local writes are pushed as they happen. Reconnects with backoff;
    /// state goes to `DuetListener.onSyncState`. Starting it twice does nothing.
    pub fn start_live(&self) -> Result<(), DuetError> {
        guard(|| {
            let mut slot = self.live_slot();
            if slot.is_some() {
                return Ok(());
            }
            let rt = runtime()?;
            let _in_runtime = rt.enter();
            *slot = Some(self.duet.start_live()?);
            Ok(())
        })
    }

    /// Stop background sync (a sync in flight is abandoned between transactions; the store
    /// stays consistent). Stopping when not started does nothing.
    pub fn stop_live(&self) {
        let handle = self.live_slot().take();
        drop(handle);
    }

    /// Whether background sync is running.
    pub fn is_live(&self) -> bool {
        self.live_slot().is_some()
    }

    // ---- offline exchange and export ----

    /// A journal as a sealed bundle (bytes to save or hand over). A bundle carries the
    /// journal key: hand it over only in person or over a channel you trust.
    pub fn export_bundle(&self, journal_id: String) -> Result<Vec<u8>, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.export_bundle(&id))
    }

    /// Import a bundle. It is checked in full first and applied in one transaction; importing
    /// twice, or in any order, changes nothing the second time.
    pub fn import_bundle(&self, bundle: Vec<u8>) -> Result<ImportReport, DuetError> {
        core(|| self.duet.import_bundle(&bundle)).map(ImportReport::from)
    }

    /// A journal as Markdown, for the user to keep or print.
    pub fn export_markdown(&self, journal_id: String) -> Result<String, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.export_markdown(&id))
    }

    /// A journal as JSON (every entry in full).
    pub fn export_json(&self, journal_id: String) -> Result<String, DuetError> {
        let id = space_id(&journal_id)?;
        core(|| self.duet.export_json(&id))
    }
}

fn entry_id_arg(s: &str) -> Result<EntryId, DuetError> {
    parse_id(s)
}

fn reply_id_arg(s: &str) -> Result<ReplyId, DuetError> {
    parse_id(s)
}

/// **For tests only.** Provokes an internal failure (a Rust panic) inside a guarded entry
/// point, to prove that it reaches the app as `DuetError.Internal` (a typed exception)
/// rather than a crash. Never call it in an app.
#[uniffi::export]
pub fn debug_panic() -> Result<(), DuetError> {
    guard(|| panic!("debug_panic: a deliberate panic for tests"))
}

/// **For tests only.** Like `debugPanic`, on the async path: a panic inside a task on the
/// library's runtime arrives as `DuetError.Internal`.
#[uniffi::export]
pub async fn debug_panic_async() -> Result<(), DuetError> {
    run(async {
        if std::hint::black_box(true) {
            panic!("debug_panic_async: a deliberate panic for tests");
        }
        Ok(())
    })
    .await
}
