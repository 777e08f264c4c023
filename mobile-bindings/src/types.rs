//! The records and enums apps see. Ids are strings (hyphenated UUIDs); times are Unix
//! milliseconds (`Long` / `Int64`) unless a field says otherwise.

use duet_core as core;

use crate::error::DuetError;

/// Parse an id handed in by the app; a malformed one is `InvalidInput`, never a panic.
pub(crate) fn parse_id<T: std::str::FromStr<Err = core::Error>>(s: &str) -> Result<T, DuetError> {
    s.parse::<T>().map_err(DuetError::from)
}

/// What an entry is for; each kind serves one of the practices the journal supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EntryKind {
    /// Open communication: what's on my mind.
    Reflection,
    /// Appreciation and affection: a note of thanks.
    Appreciation,
    /// Sharing a vulnerability; usually drafted privately and shared when ready.
    Vulnerability,
    /// A regular check-in: mood, closeness, needs, gratitude.
    CheckIn,
    /// A conflict worked through: each partner's perspective and what was agreed.
    Conflict,
    /// An answer to a prompt (quality time).
    PromptAnswer,
}

impl From<core::EntryKind> for EntryKind {
    fn from(k: core::EntryKind) -> Self {
        match k {
            core::EntryKind::Reflection => EntryKind::Reflection,
            core::EntryKind::Appreciation => EntryKind::Appreciation,
            core::EntryKind::Vulnerability => EntryKind::Vulnerability,
            core::EntryKind::CheckIn => EntryKind::CheckIn,
            core::EntryKind::Conflict => EntryKind::Conflict,
            core::EntryKind::PromptAnswer => EntryKind::PromptAnswer,
        }
    }
}

impl From<EntryKind> for core::EntryKind {
    fn from(k: EntryKind) -> Self {
        match k {
            EntryKind::Reflection => core::EntryKind::Reflection,
            EntryKind::Appreciation => core::EntryKind::Appreciation,
            EntryKind::Vulnerability => core::EntryKind::Vulnerability,
            EntryKind::CheckIn => core::EntryKind::CheckIn,
            EntryKind::Conflict => core::EntryKind::Conflict,
            EntryKind::PromptAnswer => core::EntryKind::PromptAnswer,
        }
    }
}

/// A shared journal (both partners) or a personal space (one person's private drafts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SpaceKind {
    /// A journal shared with a partner.
    Journal,
    /// My private drafts (`Identity.personalSpaceId`); shared with my own devices only.
    Personal,
}

impl From<core::SpaceKind> for SpaceKind {
    fn from(k: core::SpaceKind) -> Self {
        match k {
            core::SpaceKind::Journal => SpaceKind::Journal,
            core::SpaceKind::Personal => SpaceKind::Personal,
        }
    }
}

/// Which text field of an entry to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TextField {
    /// The title.
    Title,
    /// The body.
    Body,
    /// Check-in: what I need.
    Needs,
    /// Check-in: what I'm grateful for.
    Gratitude,
    /// Conflict: my own perspective.
    MyPerspective,
    /// Conflict: what we agreed.
    Agreement,
}

impl From<TextField> for core::TextField {
    fn from(f: TextField) -> Self {
        match f {
            TextField::Title => core::TextField::Title,
            TextField::Body => core::TextField::Body,
            TextField::Needs => core::TextField::Needs,
            TextField::Gratitude => core::TextField::Gratitude,
            TextField::MyPerspective => core::TextField::MyPerspective,
            TextField::Agreement => core::TextField::Agreement,
        }
    }
}

/// Who this device belongs to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The person (shared by all of their devices).
    pub member_id: String,
    /// This device.
    pub device_id: String,
    /// The person's display name.
    pub name: String,
    /// The person's personal space, where private drafts live.
    pub personal_space_id: String,
}

impl From<core::Identity> for Identity {
    fn from(i: core::Identity) -> Self {
        Identity {
            member_id: i.member.to_string(),
            device_id: i.device.to_string(),
            name: i.name,
            personal_space_id: i.personal_space.to_string(),
        }
    }
}

/// A person in a journal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// The member id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their colour, e.g. `#c2410c`.
    pub colour: String,
}

/// A journal (or the personal space) as listed on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Journal {
    /// The journal id.
    pub id: String,
    /// Shared journal or personal space.
    pub kind: SpaceKind,
    /// Its title.
    pub title: String,
    /// Its members.
    pub members: Vec<Member>,
    /// Member ids removed from the journal (their entries stay).
    pub removed_member_ids: Vec<String>,
    /// How often the couple means to check in, in days.
    pub checkin_cadence_days: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<core::Journal> for Journal {
    fn from(j: core::Journal) -> Self {
        Journal {
            id: j.id.to_string(),
            kind: j.kind.into(),
            title: j.title,
            members: j
                .members
                .into_iter()
                .map(|m| Member {
                    id: m.id.to_string(),
                    name: m.name,
                    colour: m.colour,
                })
                .collect(),
            removed_member_ids: j.removed_members.iter().map(|m| m.to_string()).collect(),
            checkin_cadence_days: j.checkin_cadence_days,
            created_at: j.created_at,
        }
    }
}

/// Check-in figures.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckIn {
    /// Mood, 1–5.
    pub mood: u8,
    /// Closeness, 1–5.
    pub closeness: u8,
    /// What I need.
    #[uniffi(default)]
    pub needs: String,
    /// What I'm grateful for.
    #[uniffi(default)]
    pub gratitude: String,
}

impl From<core::CheckIn> for CheckIn {
    fn from(c: core::CheckIn) -> Self {
        CheckIn {
            mood: c.mood,
            closeness: c.closeness,
            needs: c.needs,
            gratitude: c.gratitude,
        }
    }
}

impl From<CheckIn> for core::CheckIn {
    fn from(c: CheckIn) -> Self {
        core::CheckIn {
            mood: c.mood,
            closeness: c.closeness,
            needs: c.needs,
            gratitude: c.gratitude,
        }
    }
}

/// One partner's perspective on a conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Perspective {
    /// Whose perspective.
    pub member_id: String,
    /// Their words.
    pub text: String,
}

/// A conflict worked through together.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictNotes {
    /// Each partner's perspective.
    pub perspectives: Vec<Perspective>,
    /// What was agreed.
    pub agreement: String,
}

/// A reply under an entry.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reply {
    /// The reply id.
    pub id: String,
    /// Its author's member id.
    pub author_id: String,
    /// Its text.
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Whether it was deleted (kept, hidden).
    pub deleted: bool,
}

/// One partner's reaction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reaction {
    /// Who reacted.
    pub member_id: String,
    /// The emoji.
    pub emoji: String,
}

/// An entry, fully read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Entry {
    /// The entry id.
    pub id: String,
    /// The journal (or personal space) it belongs to.
    pub journal_id: String,
    /// What it is for.
    pub kind: EntryKind,
    /// Its author's member id.
    pub author_id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The prompt it answers, if any.
    pub prompt_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// In the trash.
    pub deleted: bool,
    /// When it was moved to the trash (Unix milliseconds).
    pub deleted_at: Option<i64>,
    /// One per person.
    pub reactions: Vec<Reaction>,
    /// Replies, deleted ones included (flagged).
    pub replies: Vec<Reply>,
    /// Check-in figures, for check-ins.
    pub check_in: Option<CheckIn>,
    /// Perspectives and agreement, for conflicts.
    pub conflict: Option<ConflictNotes>,
    /// For a shared draft: the journal entry it became.
    pub shared_as_id: Option<String>,
}

impl From<core::Entry> for Entry {
    fn from(e: core::Entry) -> Self {
        Entry {
            id: e.id.to_string(),
            journal_id: e.journal.to_string(),
            kind: e.kind.into(),
            author_id: e.author.to_string(),
            title: e.title,
            body: e.body,
            tags: e.tags,
            prompt_id: e.prompt_id,
            created_at: e.created_at,
            updated_at: e.updated_at,
            deleted: e.deleted,
            deleted_at: e.deleted_at,
            reactions: e
                .reactions
                .into_iter()
                .map(|r| Reaction {
                    member_id: r.member.to_string(),
                    emoji: r.emoji,
                })
                .collect(),
            replies: e
                .replies
                .into_iter()
                .map(|r| Reply {
                    id: r.id.to_string(),
                    author_id: r.author.to_string(),
                    body: r.body,
                    created_at: r.created_at,
                    deleted: r.deleted,
                })
                .collect(),
            check_in: e.check_in.map(CheckIn::from),
            conflict: e.conflict.map(|c| ConflictNotes {
                perspectives: c
                    .perspectives
                    .into_iter()
                    .map(|(m, text)| Perspective {
                        member_id: m.to_string(),
                        text,
                    })
                    .collect(),
                agreement: c.agreement,
            }),
            shared_as_id: e.shared_as.map(|s| s.to_string()),
        }
    }
}

/// An entry as listed (from the index; no document loaded).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EntrySummary {
    /// The entry id.
    pub id: String,
    /// Its journal.
    pub journal_id: String,
    /// What it is for.
    pub kind: EntryKind,
    /// Its author's member id.
    pub author_id: String,
    /// Title.
    pub title: String,
    /// The start of the body.
    pub excerpt: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// In the trash.
    pub deleted: bool,
    /// Number of reactions.
    pub reaction_count: u32,
    /// Number of (live) replies.
    pub reply_count: u32,
    /// Check-ins: mood.
    pub mood: Option<u8>,
    /// Check-ins: closeness.
    pub closeness: Option<u8>,
}

impl From<core::EntrySummary> for EntrySummary {
    fn from(s: core::EntrySummary) -> Self {
        EntrySummary {
            id: s.id.to_string(),
            journal_id: s.journal.to_string(),
            kind: s.kind.into(),
            author_id: s.author.to_string(),
            title: s.title,
            excerpt: s.excerpt,
            tags: s.tags,
            created_at: s.created_at,
            updated_at: s.updated_at,
            deleted: s.deleted,
            reaction_count: s.reaction_count,
            reply_count: s.reply_count,
            mood: s.mood,
            closeness: s.closeness,
        }
    }
}

/// What a new entry starts with. Every field but `kind` may be left out.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewEntry {
    /// What the entry is for.
    pub kind: EntryKind,
    /// Title.
    #[uniffi(default)]
    pub title: String,
    /// Body.
    #[uniffi(default)]
    pub body: String,
    /// Tags.
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// For prompt answers: the prompt's id (see `promptOfTheDay`).
    #[uniffi(default)]
    pub prompt_id: Option<String>,
    /// For check-ins: the figures (or use `checkIn`).
    #[uniffi(default)]
    pub check_in: Option<CheckIn>,
    /// For conflicts: my own perspective.
    #[uniffi(default)]
    pub perspective: Option<String>,
}

impl From<NewEntry> for core::NewEntry {
    fn from(n: NewEntry) -> Self {
        core::NewEntry {
            kind: Some(n.kind.into()),
            title: n.title,
            body: n.body,
            tags: n.tags,
            prompt_id: n.prompt_id,
            check_in: n.check_in.map(core::CheckIn::from),
            perspective: n.perspective,
        }
    }
}

/// Filters and paging for `listEntries`. Every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct EntryFilter {
    /// Only this journal.
    #[uniffi(default)]
    pub journal_id: Option<String>,
    /// Only this kind.
    #[uniffi(default)]
    pub kind: Option<EntryKind>,
    /// Only this author (member id).
    #[uniffi(default)]
    pub author_id: Option<String>,
    /// Only entries with this tag.
    #[uniffi(default)]
    pub tag: Option<String>,
    /// Created at or after (Unix milliseconds, inclusive).
    #[uniffi(default)]
    pub from_ms: Option<i64>,
    /// Created before (Unix milliseconds, exclusive).
    #[uniffi(default)]
    pub to_ms: Option<i64>,
    /// List the trash instead of live entries.
    #[uniffi(default)]
    pub trash: bool,
    /// Page size (default 50, capped by the core).
    #[uniffi(default)]
    pub limit: Option<u32>,
    /// `EntryPage.nextCursor` of the previous page.
    #[uniffi(default)]
    pub cursor: Option<String>,
}

impl EntryFilter {
    pub(crate) fn to_core(&self) -> Result<core::EntryQuery, DuetError> {
        Ok(core::EntryQuery {
            journal: self.journal_id.as_deref().map(parse_id).transpose()?,
            kind: self.kind.map(Into::into),
            author: self.author_id.as_deref().map(parse_id).transpose()?,
            tag: self.tag.clone(),
            from: self.from_ms,
            to: self.to_ms,
            trash: self.trash,
            limit: self.limit,
            cursor: self.cursor.clone(),
        })
    }
}

/// One page of entries, newest first.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EntryPage {
    /// The entries.
    pub items: Vec<EntrySummary>,
    /// Pass as `EntryFilter.cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A full-text search result.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SearchHit {
    /// The entry.
    pub entry: EntrySummary,
    /// The matching passage, matches wrapped in `[` and `]`.
    pub snippet: String,
}

/// One week of one partner's check-ins.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrendPoint {
    /// Monday of the week (UTC), `YYYY-MM-DD`.
    pub week: String,
    /// Check-ins that week.
    pub check_ins: u32,
    /// Average mood.
    pub mood: f64,
    /// Average closeness.
    pub closeness: f64,
}

/// A partner's weekly series.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MemberTrend {
    /// The member id.
    pub member_id: String,
    /// Their name.
    pub name: String,
    /// Week by week.
    pub weeks: Vec<TrendPoint>,
    /// Average mood overall.
    pub average_mood: f64,
    /// Average closeness overall.
    pub average_closeness: f64,
    /// Last four weeks with check-ins minus the four before (null without enough data).
    pub mood_change: Option<f64>,
    /// As `moodChange`, for closeness.
    pub closeness_change: Option<f64>,
}

/// Check-in trends of a journal.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Trends {
    /// The journal.
    pub journal_id: String,
    /// One series per partner.
    pub members: Vec<MemberTrend>,
}

impl From<core::Trends> for Trends {
    fn from(t: core::Trends) -> Self {
        Trends {
            journal_id: t.journal.to_string(),
            members: t
                .members
                .into_iter()
                .map(|m| MemberTrend {
                    member_id: m.member.to_string(),
                    name: m.name,
                    weeks: m
                        .weeks
                        .into_iter()
                        .map(|w| TrendPoint {
                            week: w.week,
                            check_ins: w.check_ins,
                            mood: w.mood,
                            closeness: w.closeness,
                        })
                        .collect(),
                    average_mood: m.average_mood,
                    average_closeness: m.average_closeness,
                    mood_change: m.mood_change,
                    closeness_change: m.closeness_change,
                })
                .collect(),
        }
    }
}

/// A prompt to write or talk about.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Prompt {
    /// Stable id (record it in `NewEntry.promptId`).
    pub id: String,
    /// The practice it serves, e.g. `quality_time`.
    pub practice: String,
    /// The practice, for display, e.g. "Quality time".
    pub practice_label: String,
    /// The question.
    pub text: String,
}

impl From<&core::prompts::Prompt> for Prompt {
    fn from(p: &core::prompts::Prompt) -> Self {
        Prompt {
            id: p.id.to_string(),
            practice: p.practice.as_str().to_string(),
            practice_label: p.practice.label().to_string(),
            text: p.text.to_string(),
        }
    }
}

/// A stretch of edits to an entry by one device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryItem {
    /// The member, when known.
    pub member_id: Option<String>,
    /// The device.
    pub device_id: String,
    /// First edit (Unix milliseconds).
    pub from_ms: i64,
    /// Last edit (Unix milliseconds).
    pub to_ms: i64,
    /// Number of changes.
    pub changes: u32,
}

/// A value one side wrote in a concurrent conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictValue {
    /// The value, as JSON (e.g. `4` or `"..."`).
    pub value_json: String,
    /// Who wrote it, when known.
    pub member_id: Option<String>,
    /// Which device wrote it.
    pub device_id: String,
    /// Whether the entry currently shows this value.
    pub winner: bool,
}

/// A field both partners set at once ("you both changed the mood").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    /// The field, e.g. `mood`.
    pub field: String,
    /// Every concurrent value.
    pub values: Vec<ConflictValue>,
}

impl From<core::FieldConflict> for FieldConflict {
    fn from(f: core::FieldConflict) -> Self {
        FieldConflict {
            field: f.field,
            values: f
                .values
                .into_iter()
                .map(|v| ConflictValue {
                    value_json: v.value.to_string(),
                    member_id: v.member.map(|m| m.to_string()),
                    device_id: v.device.to_string(),
                    winner: v.winner,
                })
                .collect(),
        }
    }
}

/// Who made a change listeners hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Origin {
    /// This device.
    Local,
    /// Another device (partner or another of mine), via sync or a bundle.
    Remote,
}

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EntryEventKind {
    /// A new entry.
    Added,
    /// An edit, reaction or reply.
    Changed,
    /// Moved to the trash.
    Deleted,
    /// Restored from the trash.
    Restored,
}

/// An entry event, delivered to `DuetListener.onEntryEvent`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntryEvent {
    /// What happened.
    pub kind: EntryEventKind,
    /// The entry.
    pub entry_id: String,
    /// Its journal.
    pub journal_id: String,
    /// Who did it, when known.
    pub by_member_id: Option<String>,
    /// Here or elsewhere.
    pub origin: Origin,
}

impl From<&core::EntryEvent> for EntryEvent {
    fn from(e: &core::EntryEvent) -> Self {
        EntryEvent {
            kind: match e.kind {
                core::EntryEventKind::Added => EntryEventKind::Added,
                core::EntryEventKind::Changed => EntryEventKind::Changed,
                core::EntryEventKind::Deleted => EntryEventKind::Deleted,
                core::EntryEventKind::Restored => EntryEventKind::Restored,
            },
            entry_id: e.entry.to_string(),
            journal_id: e.journal.to_string(),
            by_member_id: e.by.map(|m| m.to_string()),
            origin: match e.origin {
                core::Origin::Local => Origin::Local,
                core::Origin::Remote => Origin::Remote,
            },
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Sealed blobs pushed.
    pub pushed: u32,
    /// Blobs pulled.
    pub pulled: u32,
    /// Pulled blobs that changed something here.
    pub applied: u32,
    /// Pulled blobs that could not be opened or applied (kept, reported, skipped).
    pub quarantined: u32,
}

impl From<core::SyncReport> for SyncReport {
    fn from(r: core::SyncReport) -> Self {
        SyncReport {
            pushed: r.pushed,
            pulled: r.pulled,
            applied: r.applied,
            quarantined: r.quarantined,
        }
    }
}

/// Where sync stands, for the app's status line (`DuetListener.onSyncState`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// The relay can't be reached; writes stay queued.
    Offline {
        /// Why.
        reason: String,
    },
    /// A sync is running.
    Syncing,
    /// A sync finished.
    Synced {
        /// What it did.
        report: SyncReport,
    },
    /// The live channel is connected; partners' writes arrive as they happen.
    Live,
    /// Sync failed with a stable error code (see `DuetError`).
    Error {
        /// The stable code, e.g. `relay_refused`.
        code: String,
        /// For logs.
        message: String,
    },
}

impl From<&core::SyncState> for SyncState {
    fn from(s: &core::SyncState) -> Self {
        match s {
            core::SyncState::Offline { reason } => SyncState::Offline {
                reason: reason.clone(),
            },
            core::SyncState::Syncing => SyncState::Syncing,
            core::SyncState::Synced { report } => SyncState::Synced {
                report: report.clone().into(),
            },
            core::SyncState::Live => SyncState::Live,
            core::SyncState::Error { code, message } => SyncState::Error {
                code: code.clone(),
                message: message.clone(),
            },
        }
    }
}

/// An invite (or device link) code, as shown to the one who made it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invite {
    /// The text code to read out or paste (`DUET-...`).
    pub code: String,
    /// A `duet:join?...` URI (carries the relay URL) for a QR code or link.
    pub uri: String,
    /// The journal (for a device link: the personal space).
    pub journal_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl From<core::Invite> for Invite {
    fn from(i: core::Invite) -> Self {
        Invite {
            code: i.code,
            uri: i.uri,
            journal_id: i.journal.to_string(),
            expires_at: i.expires_at,
        }
    }
}

/// The outcome of importing a bundle.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// The journal.
    pub journal_id: String,
    /// Whether this device did not hold the journal before.
    pub new_journal: bool,
    /// Entries added.
    pub entries_added: u32,
    /// Entries changed.
    pub entries_changed: u32,
    /// Documents we already had in full.
    pub unchanged: u32,
}

impl From<core::ImportReport> for ImportReport {
    fn from(r: core::ImportReport) -> Self {
        ImportReport {
            journal_id: r.journal.to_string(),
            new_journal: r.new_journal,
            entries_added: r.entries_added,
            entries_changed: r.entries_changed,
            unchanged: r.unchanged,
        }
    }
}

/// The relay this device syncs with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RelayInfo {
    /// Its URL.
    pub url: String,
    /// This device's id at the relay, once registered.
    pub device_id: Option<String>,
}

/// A pulled blob that could not be applied (kept and reported, never blocking).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Quarantined {
    /// The space.
    pub space_id: String,
    /// Its sequence number at the relay.
    pub seq: u64,
    /// Why it was refused.
    pub error: String,
}

/// One splice for `spliceMany`: at `position` delete `deleteCount` characters, then insert
/// `insert` (code points, as in `splice`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TextEdit {
    /// Where, in Unicode scalar values (code points).
    pub position: u32,
    /// How many characters to delete there.
    pub delete_count: u32,
    /// What to insert there.
    pub insert: String,
}
