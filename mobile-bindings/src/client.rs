//! `DuetClient`: the engine on one device, as apps call it. Every method calls
//! `duet_core::Duet` with the app's arguments and returns its result; the records, enums
//! and ids are duet-core's own (exported there), so there is nothing to convert.
//!
//! Synchronous methods do local SQLite work (a write is durable when it returns, typically
//! well under a millisecond); call them off the UI thread. Network methods are `async`
//! (Kotlin `suspend`, Swift `async`) and run on the library's own tokio runtime.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use duet_core::{
    AppState, AttachOptions, Attachment, AttachmentId, BACKGROUND_INTERVAL, CheckIn, Duet,
    DuetError, Entry, EntryId, EntryPage, EntryQuery, FieldConflict, HistoryItem, Identity,
    ImportReport, Invite, Journal, MemberId, NewEntry, Options, Quarantined, RecoveryKit,
    RelayDeviceId, RelayInfo, ReplyId, SearchHit, SpaceId, SyncPolicy, SyncReport, TextField,
    Trends,
};

use crate::error::{core, guard};
use crate::listener::{Bridge, DuetListener, Subscription, TransferBridge, TransferListener};
use crate::runtime::{run, runtime};
use crate::types::{Prompt, TextEdit};

/// The Duet engine on one device, opened on the app's data directory.
///
/// Kotlin: `DuetClient.open(dir)`, `DuetClient.init(dir, "Ada", relayUrl)`,
/// `DuetClient.joinDevice(dir, code)`. Swift: `DuetClient.open(dataDir:)`,
/// `DuetClient.initialize(dataDir:name:relayUrl:)`, `DuetClient.joinDevice(dataDir:code:)`.
/// Python: `DuetClient.open(dir)`, `DuetClient.init(dir, "Ada")`.
#[derive(uniffi::Object)]
pub struct DuetClient {
    duet: Arc<Duet>,
    sync: Mutex<AutoSync>,
}

/// The sync policy while it runs, the state it was last given, and the background interval.
#[derive(Debug)]
struct AutoSync {
    policy: Option<SyncPolicy>,
    state: AppState,
    interval: Duration,
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
            sync: Mutex::new(AutoSync {
                policy: None,
                state: AppState::Foreground,
                interval: BACKGROUND_INTERVAL,
            }),
        })
    }

    fn auto_sync(&self) -> MutexGuard<'_, AutoSync> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run the sync policy in `state`, starting it (on the library's runtime) if needed.
    fn run_policy(&self, state: AppState) -> Result<(), DuetError> {
        guard(|| {
            let mut auto = self.auto_sync();
            auto.state = state;
            if let Some(p) = &auto.policy {
                p.set_app_state(state);
                return Ok(());
            }
            let rt = runtime()?;
            let _in_runtime = rt.enter();
            auto.policy = Some(self.duet.start_sync_policy(state, auto.interval)?);
            Ok(())
        })
    }

    /// A network call: `call` gets the engine and its future runs on the library's runtime.
    async fn net<T, F>(&self, call: impl FnOnce(Arc<Duet>) -> F) -> Result<T, DuetError>
    where
        T: Send + 'static,
        F: Future<Output = duet_core::Result<T>> + Send + 'static,
    {
        let fut = call(self.duet.clone());
        run(async move { fut.await.map_err(DuetError::from) }).await
    }
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
    /// `registration_token` is for a relay that registers devices only with its
    /// operator's token.
    #[uniffi::constructor(default(relay_url = None, registration_token = None))]
    pub async fn join_device(
        data_dir: String,
        code: String,
        relay_url: Option<String>,
        registration_token: Option<String>,
    ) -> Result<Arc<Self>, DuetError> {
        let opts = Options {
            registration_token,
            ..Options::default()
        };
        run(async move {
            Duet::join_device(&data_dir, &code, relay_url.as_deref(), opts)
                .await
                .map_err(DuetError::from)
        })
        .await
        .map(Self::wrap)
    }

    /// Set up a new device from a recovery kit's 24 words (see `recoveryKit`): it becomes
    /// the kit's person's again — same member, their private drafts, every journal the relay
    /// still lets them into — and syncs. The person's old devices are in `devices()`:
    /// revoke the lost ones. Wrong words: `WrongWords`, and no data dir is left behind.
    #[uniffi::constructor]
    pub async fn recover(
        data_dir: String,
        words: String,
        relay_url: String,
    ) -> Result<Arc<Self>, DuetError> {
        run(async move {
            Duet::recover(&data_dir, &words, &relay_url, Options::default())
                .await
                .map(|(duet, _)| duet)
                .map_err(DuetError::from)
        })
        .await
        .map(Self::wrap)
    }

    // ---- identity and relay ----

    /// Who this device belongs to.
    pub fn identity(&self) -> Result<Identity, DuetError> {
        guard(|| Ok(self.duet.identity()))
    }

    /// The data directory this client was opened on.
    pub fn data_dir(&self) -> String {
        self.duet.home().display().to_string()
    }

    /// Point this device at a relay (`http(s)://host[:port]`).
    pub fn set_relay(&self, url: String) -> Result<(), DuetError> {
        core(|| self.duet.set_relay(&url))
    }

    /// The relay operator's token, for a relay that registers devices only with it; used
    /// when this device registers (its first sync after `setRelay`). Null clears it.
    pub fn set_registration_token(&self, token: Option<String>) {
        self.duet.set_registration_token(token);
    }

    /// The relay and this device's id there; null when none is configured.
    pub fn relay_info(&self) -> Result<Option<RelayInfo>, DuetError> {
        core(|| self.duet.relay_info())
    }

    /// Sealed changes waiting to be pushed to the relay.
    pub fn outbox_len(&self) -> Result<u64, DuetError> {
        core(|| self.duet.outbox_len())
    }

    /// Pulled blobs that could not be applied (kept and reported, never blocking sync).
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, DuetError> {
        core(|| self.duet.quarantined())
    }

    // ---- journals ----

    /// Create a shared journal; returns its id. Invite the partner with `createInvite`.
    pub fn create_journal(&self, title: String) -> Result<SpaceId, DuetError> {
        core(|| self.duet.create_journal(&title))
    }

    /// Every journal on this device, the personal space included (`kind == Personal`).
    pub fn list_journals(&self) -> Result<Vec<Journal>, DuetError> {
        core(|| self.duet.journals())
    }

    /// One journal.
    pub fn get_journal(&self, journal_id: SpaceId) -> Result<Journal, DuetError> {
        core(|| self.duet.journal(&journal_id))
    }

    /// Rename a journal (concurrent renames converge on one title).
    pub fn rename_journal(&self, journal_id: SpaceId, title: String) -> Result<(), DuetError> {
        core(|| self.duet.rename_journal(&journal_id, &title))
    }

    /// How often the couple means to check in, in days.
    pub fn set_checkin_cadence(&self, journal_id: SpaceId, days: u32) -> Result<(), DuetError> {
        core(|| self.duet.set_checkin_cadence(&journal_id, days))
    }

    // ---- writing ----

    /// Write a new entry into a journal — or, into `identity().personalSpaceId`, a private
    /// draft (share it later with `shareDraft`). Durable when it returns; returns its id.
    pub fn create_entry(&self, journal_id: SpaceId, entry: NewEntry) -> Result<EntryId, DuetError> {
        core(|| self.duet.create_entry(&journal_id, entry))
    }

    /// Record a check-in (mood and closeness 1–5, needs, gratitude); returns the entry id.
    pub fn check_in(&self, journal_id: SpaceId, check_in: CheckIn) -> Result<EntryId, DuetError> {
        core(|| self.duet.check_in(&journal_id, check_in))
    }

    /// Replace a text field with the full new text from the editor. Applied as the minimal
    /// splices from the current text, so a partner's concurrent edits elsewhere survive.
    pub fn set_text(
        &self,
        entry_id: EntryId,
        field: TextField,
        text: String,
    ) -> Result<(), DuetError> {
        core(|| self.duet.set_text(&entry_id, field, &text))
    }

    /// The keystroke path: at `position` delete `delete_count` characters, then insert
    /// `insert`. **Positions and counts are Unicode scalar values (code points), not UTF-16
    /// units**: Kotlin `text.codePointCount(0, utf16Index)`, Swift
    /// `text[..<index].unicodeScalars.count`; Python `str` indices already are code points.
    /// A range outside the text is `InvalidInput`.
    pub fn splice(
        &self,
        entry_id: EntryId,
        field: TextField,
        position: u32,
        delete_count: u32,
        insert: String,
    ) -> Result<(), DuetError> {
        core(|| {
            let (at, n) = (position as usize, delete_count as usize);
            self.duet.splice_text(&entry_id, field, at, n, &insert)
        })
    }

    /// Several splices to one field as one durable write (e.g. a burst of typing the app
    /// buffered): applied in order, each position as the text stands after the previous
    /// one. Same units as `splice` (code points). All or nothing: a bad range fails the
    /// whole call and changes nothing.
    pub fn splice_many(
        &self,
        entry_id: EntryId,
        field: TextField,
        edits: Vec<TextEdit>,
    ) -> Result<(), DuetError> {
        let splices: Vec<_> = edits.iter().map(TextEdit::as_splice).collect();
        core(|| self.duet.splice_many(&entry_id, field, &splices))
    }

    /// Replace an entry's tags (additions and removals merge with a partner's).
    pub fn set_tags(&self, entry_id: EntryId, tags: Vec<String>) -> Result<(), DuetError> {
        core(|| self.duet.set_tags(&entry_id, &tags))
    }

    /// Change a check-in's mood and/or closeness (1–5; null leaves it).
    #[uniffi::method(default(mood = None, closeness = None))]
    pub fn set_check_in_scores(
        &self,
        entry_id: EntryId,
        mood: Option<u8>,
        closeness: Option<u8>,
    ) -> Result<(), DuetError> {
        core(|| self.duet.set_check_in_scores(&entry_id, mood, closeness))
    }

    /// Move an entry to the trash (soft delete; its author only). `restoreEntry` undoes it.
    pub fn delete_entry(&self, entry_id: EntryId) -> Result<(), DuetError> {
        core(|| self.duet.delete_entry(&entry_id))
    }

    /// Bring an entry back from the trash, with every edit made meanwhile.
    pub fn restore_entry(&self, entry_id: EntryId) -> Result<(), DuetError> {
        core(|| self.duet.restore_entry(&entry_id))
    }

    /// React with an emoji (one reaction per person; reacting again replaces it).
    pub fn react(&self, entry_id: EntryId, emoji: String) -> Result<(), DuetError> {
        core(|| self.duet.react(&entry_id, &emoji))
    }

    /// Remove my reaction.
    pub fn unreact(&self, entry_id: EntryId) -> Result<(), DuetError> {
        core(|| self.duet.unreact(&entry_id))
    }

    /// Reply to an entry; returns the reply id.
    pub fn reply(&self, entry_id: EntryId, text: String) -> Result<ReplyId, DuetError> {
        core(|| self.duet.reply(&entry_id, &text))
    }

    /// Edit my reply (merged like entry text).
    pub fn edit_reply(
        &self,
        entry_id: EntryId,
        reply_id: ReplyId,
        text: String,
    ) -> Result<(), DuetError> {
        core(|| self.duet.edit_reply(&entry_id, &reply_id, &text))
    }

    /// Soft-delete my reply.
    pub fn delete_reply(&self, entry_id: EntryId, reply_id: ReplyId) -> Result<(), DuetError> {
        core(|| self.duet.delete_reply(&entry_id, &reply_id))
    }

    /// Restore my deleted reply.
    pub fn restore_reply(&self, entry_id: EntryId, reply_id: ReplyId) -> Result<(), DuetError> {
        core(|| self.duet.restore_reply(&entry_id, &reply_id))
    }

    /// Share a private draft into a journal: the journal gets a new entry with the draft's
    /// current content only (none of the drafting history). Returns the new entry's id.
    pub fn share_draft(
        &self,
        draft_id: EntryId,
        journal_id: SpaceId,
    ) -> Result<EntryId, DuetError> {
        core(|| self.duet.share_draft(&draft_id, &journal_id))
    }

    /// Answer a prompt in a shared journal — today's prompt, or `prompt_id` — sealed until
    /// the partner answers the same prompt too (or you `revealAnswer`): their devices show
    /// the entry with `sealed = true` and an empty title and body meanwhile, and keep no
    /// word of it. Yours read it at once. Durable when it returns, offline too; returns the
    /// entry id. `NotAllowed` in the personal space, `InvalidInput` for an unknown prompt.
    #[uniffi::method(default(title = None, prompt_id = None))]
    pub fn answer_prompt(
        &self,
        journal_id: SpaceId,
        body: String,
        title: Option<String>,
        prompt_id: Option<String>,
    ) -> Result<EntryId, DuetError> {
        core(|| {
            self.duet.answer_prompt(
                &journal_id,
                prompt_id.as_deref(),
                title.as_deref().unwrap_or_default(),
                &body,
            )
        })
    }

    // ---- reading ----

    /// List entries from the index (newest first) with filters and paging; cheap, loads no
    /// document.
    pub fn list_entries(&self, filter: EntryQuery) -> Result<EntryPage, DuetError> {
        core(|| self.duet.list_entries(&filter))
    }

    /// One entry, in full.
    pub fn get_entry(&self, entry_id: EntryId) -> Result<Entry, DuetError> {
        core(|| self.duet.get_entry(&entry_id))
    }

    /// Offline full-text search over titles, bodies, notes and replies, in one journal or
    /// all; matches in the snippet are wrapped in `[` `]`.
    #[uniffi::method(default(journal_id = None, limit = 20))]
    pub fn search(
        &self,
        query: String,
        journal_id: Option<SpaceId>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, DuetError> {
        core(|| self.duet.search(&query, journal_id.as_ref(), limit))
    }

    /// Weekly check-in trends of a journal, per partner.
    pub fn trends(&self, journal_id: SpaceId) -> Result<Trends, DuetError> {
        core(|| self.duet.trends(&journal_id))
    }

    /// Today's prompt for a journal: the same on both partners' phones, offline.
    pub fn prompt_of_the_day(&self, journal_id: SpaceId) -> Result<Prompt, DuetError> {
        core(|| self.duet.prompt_of_the_day(&journal_id)).map(Prompt::from)
    }

    /// Who changed an entry when: editing sessions per device.
    pub fn history(&self, entry_id: EntryId) -> Result<Vec<HistoryItem>, DuetError> {
        core(|| self.duet.history(&entry_id))
    }

    /// Fields both partners set at once ("you both changed the mood"), with every value and
    /// which one the entry shows.
    pub fn conflicts(&self, entry_id: EntryId) -> Result<Vec<FieldConflict>, DuetError> {
        core(|| self.duet.conflicts(&entry_id))
    }

    // ---- attachments ----

    /// Attach the file at `path` to an entry: sealed into the data directory at once (a
    /// copy: the app may delete its file afterwards) and queued for the relay. Give a
    /// thumbnail (at most 32 KiB, made with the platform's image APIs) to have it sync
    /// with the entry; the original travels only when a device fetches it.
    pub fn attach(
        &self,
        entry_id: EntryId,
        path: String,
        options: AttachOptions,
    ) -> Result<Attachment, DuetError> {
        core(|| self.duet.attach(&entry_id, &path, options))
    }

    /// An entry's attachments, oldest first.
    pub fn attachments(&self, entry_id: EntryId) -> Result<Vec<Attachment>, DuetError> {
        core(|| self.duet.attachments(&entry_id))
    }

    /// One attachment.
    pub fn attachment(&self, attachment_id: AttachmentId) -> Result<Attachment, DuetError> {
        core(|| self.duet.attachment(&attachment_id))
    }

    /// Its thumbnail, once it is on this device (`null` if it has none or it hasn't
    /// arrived yet).
    pub fn thumbnail(&self, attachment_id: AttachmentId) -> Result<Option<Vec<u8>>, DuetError> {
        core(|| self.duet.thumbnail(&attachment_id))
    }

    /// Write the original to `dest_path`, downloading it first if this device lacks it
    /// (progress to transfer listeners). The file appears only whole and checked.
    pub async fn fetch_attachment(
        &self,
        attachment_id: AttachmentId,
        dest_path: String,
    ) -> Result<(), DuetError> {
        self.net(|d| async move { d.fetch_attachment(&attachment_id, &dest_path).await })
            .await
    }

    /// Remove an attachment from its entry (the relay frees its bytes once no entry of the
    /// journal uses them).
    pub fn remove_attachment(&self, attachment_id: AttachmentId) -> Result<(), DuetError> {
        core(|| self.duet.remove_attachment(&attachment_id))
    }

    /// Bytes of originals kept on this device (default 1 GiB); the least recently used go
    /// first past it (never one still waiting to upload).
    pub fn set_attachment_cache_bytes(&self, bytes: u64) -> Result<(), DuetError> {
        core(|| self.duet.set_attachment_cache_bytes(bytes))
    }

    // ---- listeners ----

    /// Hear about entry events and sync state until the returned `Subscription` is
    /// cancelled or released.
    pub fn subscribe(&self, listener: Arc<dyn DuetListener>) -> Arc<Subscription> {
        let bridge = Arc::new(Bridge(listener));
        let entries = self.duet.subscribe(bridge.clone());
        let sync = self.duet.subscribe_sync(bridge);
        Arc::new(Subscription::new(vec![entries, sync]))
    }

    /// Hear the progress of attachment uploads and downloads until the returned
    /// `Subscription` is cancelled or released.
    pub fn subscribe_transfers(&self, listener: Arc<dyn TransferListener>) -> Arc<Subscription> {
        let handle = self
            .duet
            .subscribe_transfers(Arc::new(TransferBridge(listener)));
        Arc::new(Subscription::new(vec![handle]))
    }

    // ---- sync ----

    /// Push everything queued, pull everything new and apply it. Cancelling it (coroutine
    /// cancellation, Swift task cancellation) leaves the store consistent; sync again later.
    pub async fn sync_now(&self) -> Result<SyncReport, DuetError> {
        self.net(|d| async move { d.sync_now().await }).await
    }

    /// Reveal my sealed answer now, before the partner has answered: their devices read it
    /// at their next sync. Only its author may (`NotAllowed`); needs the relay.
    pub async fn reveal_answer(&self, entry_id: EntryId) -> Result<(), DuetError> {
        self.net(|d| async move { d.reveal_answer(&entry_id).await })
            .await
    }

    /// Invite the partner to a journal: returns a code (and a `duet:` URI for a QR code)
    /// that travels only between the two of you. `ttl_secs` defaults to 24 h (at most 7 days).
    #[uniffi::method(default(ttl_secs = None))]
    pub async fn create_invite(
        &self,
        journal_id: SpaceId,
        ttl_secs: Option<u64>,
    ) -> Result<Invite, DuetError> {
        self.net(|d| async move { d.create_invite(&journal_id, ttl_secs).await })
            .await
    }

    /// Join a journal with the partner's invite code (or `duet:` URI); returns its id.
    pub async fn join(&self, code: String) -> Result<SpaceId, DuetError> {
        self.net(|d| async move { d.join(&code).await }).await
    }

    /// Make a code that links a new device of mine (use it with `DuetClient.joinDevice` on
    /// the new device): it receives my drafts and every journal I hold.
    #[uniffi::method(default(ttl_secs = None))]
    pub async fn link_device(&self, ttl_secs: Option<u64>) -> Result<Invite, DuetError> {
        self.net(|d| async move { d.link_device(ttl_secs).await })
            .await
    }

    /// Remove a partner from a journal: their devices leave it at the relay and the
    /// journal's key is rotated, so they can read nothing written afterwards (what they
    /// wrote before stays, with their name). You can't remove yourself (`NotAllowed`).
    pub async fn remove_member(
        &self,
        journal_id: SpaceId,
        member_id: MemberId,
    ) -> Result<(), DuetError> {
        self.net(|d| async move { d.remove_member(&journal_id, &member_id).await })
            .await
    }

    /// For a partner who lost every device: a one-use code their new device (a fresh
    /// `DuetClient`, then `join(code)`) uses to rejoin as the same member. Their old devices
    /// leave the journal and its key rotates now; their private drafts can't come back
    /// this way.
    #[uniffi::method(default(ttl_secs = None))]
    pub async fn restore_member(
        &self,
        journal_id: SpaceId,
        member_id: MemberId,
        ttl_secs: Option<u64>,
    ) -> Result<Invite, DuetError> {
        self.net(|d| async move { d.restore_member(&journal_id, &member_id, ttl_secs).await })
            .await
    }

    /// The relay ids of my devices, this one first (empty before the first sync). Pass
    /// one to `revokeDevice` to cut off a lost phone.
    pub fn devices(&self) -> Result<Vec<RelayDeviceId>, DuetError> {
        core(|| self.duet.my_relay_devices())
    }

    /// Revoke a device at the relay (its relay id, from `devices()`): my lost phone, or a
    /// device I share a journal with. Its token stops working at once.
    pub async fn revoke_device(&self, device_id: RelayDeviceId) -> Result<(), DuetError> {
        self.net(|d| async move { d.revoke_device(device_id).await })
            .await
    }

    /// My recovery kit's 24 words: made now when I have none (or `replace` is set: the old
    /// words stop working), shown again on the device that made it. A kit made on another
    /// of my devices is `NotAllowed` here unless replaced.
    #[uniffi::method(default(replace = false))]
    pub async fn recovery_kit(&self, replace: bool) -> Result<RecoveryKit, DuetError> {
        self.net(|d| async move { d.recovery_kit(replace).await })
            .await
    }

    /// Upload a sealed snapshot of a journal, so a device that joins later downloads one
    /// compact state instead of the whole history (the relay prunes the log behind it
    /// after its retention window). Returns the log position the snapshot covers.
    pub async fn upload_snapshot(&self, journal_id: SpaceId) -> Result<u64, DuetError> {
        self.net(|d| async move { d.upload_snapshot(&journal_id).await })
            .await
    }

    /// Tell the engine whether the app is on screen; call it from the app's lifecycle
    /// (Android `onStart`/`onStop`, iOS `scenePhase`). `Foreground`: live sync, one WebSocket
    /// to the relay; partners' entries arrive within milliseconds and local writes are
    /// pushed as they happen. `Background`: the socket closes and local writes are
    /// coalesced, at most one sync per 15 s (see `setBackgroundSyncInterval`), so the
    /// radio isn't woken per keystroke; `requestSync` or `syncNow` still sync at once (call
    /// one from the OS's background-fetch callback). The first call starts automatic sync;
    /// state goes to `DuetListener.onSyncState`. Fails with `NoRelay` before a relay is set.
    pub fn set_app_state(&self, state: AppState) -> Result<(), DuetError> {
        self.run_policy(state)
    }

    /// At most one background sync per `seconds` (at least 1; 15 by default). Applies at
    /// once when automatic sync runs.
    pub fn set_background_sync_interval(&self, seconds: u32) -> Result<(), DuetError> {
        if seconds == 0 {
            return Err(DuetError::InvalidInput(
                "the background sync interval is at least 1 second".into(),
            ));
        }
        let state = {
            let mut auto = self.auto_sync();
            auto.interval = Duration::from_secs(seconds.into());
            // Restarted below with the new interval.
            auto.policy.take().map(|_| auto.state)
        };
        match state {
            Some(state) => self.run_policy(state),
            None => Ok(()),
        }
    }

    /// Sync as soon as possible without waiting for the result (the background interval
    /// doesn't hold it back); the outcome goes to `DuetListener.onSyncState`. Use `syncNow`
    /// to await the report instead.
    pub fn request_sync(&self) -> Result<(), DuetError> {
        if let Some(p) = &self.auto_sync().policy {
            p.request_sync();
            return Ok(());
        }
        let duet = self.duet.clone();
        // Its outcome, an error too, reaches the listeners as a sync state.
        let _task = runtime()?.spawn(async move {
            let _ = duet.sync_now().await;
        });
        Ok(())
    }

    /// Start live sync: `setAppState(Foreground)`. Starting it twice does nothing.
    pub fn start_live(&self) -> Result<(), DuetError> {
        self.run_policy(AppState::Foreground)
    }

    /// Stop automatic sync, live or background (a sync in flight is abandoned between
    /// transactions; the store stays consistent). Stopping when not started does nothing.
    pub fn stop_live(&self) {
        let policy = self.auto_sync().policy.take();
        drop(policy);
    }

    /// Whether live sync runs (automatic sync started and the app in the foreground).
    pub fn is_live(&self) -> bool {
        let auto = self.auto_sync();
        auto.policy.is_some() && auto.state == AppState::Foreground
    }

    // ---- offline exchange and export ----

    /// A journal as a sealed bundle (bytes to save or hand over). A bundle carries the
    /// journal key: hand it over only in person or over a channel you trust.
    pub fn export_bundle(&self, journal_id: SpaceId) -> Result<Vec<u8>, DuetError> {
        core(|| self.duet.export_bundle(&journal_id))
    }

    /// Import a bundle. It is checked in full first and applied in one transaction; importing
    /// twice, or in any order, changes nothing the second time.
    pub fn import_bundle(&self, bundle: Vec<u8>) -> Result<ImportReport, DuetError> {
        core(|| self.duet.import_bundle(&bundle))
    }

    /// A journal as Markdown, for the user to keep or print.
    pub fn export_markdown(&self, journal_id: SpaceId) -> Result<String, DuetError> {
        core(|| self.duet.export_markdown(&journal_id))
    }

    /// A journal as JSON (every entry in full).
    pub fn export_json(&self, journal_id: SpaceId) -> Result<String, DuetError> {
        core(|| self.duet.export_json(&journal_id))
    }
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
