//! The journal's public data types: what apps and the CLI read and write.
//!
//! One definition serves both: the CLI prints them as JSON (serde's field names, a contract)
//! and, with the `uniffi` feature, apps see them as records and enums, ids as strings. Where
//! a field's name for apps differs from its JSON name (an id field that apps know as
//! `journal_id`), the `uniffi(name)` beside it says so; times are Unix milliseconds.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, EntryId, MemberId, ReplyId, SpaceId};

// A JSON value; apps see its JSON text (`ConflictValue.value_json`).
use serde_json::Value as JsonValue;

#[cfg(feature = "uniffi")]
uniffi::custom_type!(JsonValue, String, {
    remote,
    lower: |v| v.to_string(),
    try_lift: |s| Ok(serde_json::from_str(&s)?),
});

/// What an entry is for; each kind serves one of the practices the journal supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
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

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Reflection,
        EntryKind::Appreciation,
        EntryKind::Vulnerability,
        EntryKind::CheckIn,
        EntryKind::Conflict,
        EntryKind::PromptAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Reflection => "reflection",
            EntryKind::Appreciation => "appreciation",
            EntryKind::Vulnerability => "vulnerability",
            EntryKind::CheckIn => "check_in",
            EntryKind::Conflict => "conflict",
            EntryKind::PromptAnswer => "prompt_answer",
        }
    }

    /// The kind in words ("check in"), for text people read.
    pub fn words(self) -> String {
        self.as_str().replace('_', " ")
    }

    pub fn parse(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == norm)
            .ok_or_else(|| {
                Error::invalid(
                    "kind",
                    format!(
                        "unknown kind {s:?}; expected one of reflection, appreciation, vulnerability, check_in, conflict, prompt_answer"
                    ),
                )
            })
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shared journal (both partners) or a personal space (one person's private drafts): the
/// relay's own type, so that what a device stores and what it tells the relay are one.
pub use duet_proto::SpaceKind;

// What apps see: uniffi has a remote type's variants spelled out again, with their docs.
/// A shared journal (both partners) or a personal space (one person's private drafts).
#[cfg(feature = "uniffi")]
#[uniffi::remote(Enum)]
enum SpaceKind {
    /// A journal shared with a partner.
    Journal,
    /// My private drafts (`Identity.personal_space`); shared with my own devices only.
    Personal,
}

/// A space kind as stored (`SpaceKind::as_str`); any other is corrupt data.
pub(crate) fn space_kind(s: &str) -> Result<SpaceKind> {
    SpaceKind::parse(s).ok_or_else(|| Error::CorruptData(format!("unknown space kind {s:?}")))
}

/// Who this device belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Identity {
    /// The person (shared by all of their devices).
    #[cfg_attr(feature = "uniffi", uniffi(name = "member_id"))]
    pub member: MemberId,
    /// This device.
    #[cfg_attr(feature = "uniffi", uniffi(name = "device_id"))]
    pub device: DeviceId,
    /// The person's display name.
    pub name: String,
    /// The person's personal space, where private drafts live.
    #[cfg_attr(feature = "uniffi", uniffi(name = "personal_space_id"))]
    pub personal_space: SpaceId,
}

/// A person in a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Member {
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// Their colour, e.g. `#c2410c`.
    pub colour: String,
}

/// A space (a journal, or the personal space) as listed on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Journal {
    pub id: SpaceId,
    pub kind: SpaceKind,
    pub title: String,
    pub members: Vec<Member>,
    /// Members removed from the journal (their entries stay; they can't read new ones).
    #[cfg_attr(feature = "uniffi", uniffi(name = "removed_member_ids"))]
    pub removed_members: Vec<MemberId>,
    /// How often the couple means to check in, in days.
    pub checkin_cadence_days: u32,
    pub created_at: Millis,
    /// The generation of the journal's key this device seals with: it rises at each
    /// rotation (a partner removed, a device of mine revoked).
    pub key_epoch: u32,
}

/// A reply under an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reply {
    pub id: ReplyId,
    #[cfg_attr(feature = "uniffi", uniffi(name = "author_id"))]
    pub author: MemberId,
    pub body: String,
    pub created_at: Millis,
    /// Deleted (kept, hidden).
    pub deleted: bool,
}

/// One partner's reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reaction {
    #[cfg_attr(feature = "uniffi", uniffi(name = "member_id"))]
    pub member: MemberId,
    pub emoji: String,
}

/// Check-in figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CheckIn {
    /// Mood, 1–5.
    pub mood: u8,
    /// Closeness, 1–5.
    pub closeness: u8,
    /// What I need.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub needs: String,
    /// What I'm grateful for.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub gratitude: String,
}

/// A conflict worked through together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ConflictNotes {
    /// Each partner's perspective, by member.
    pub perspectives: Perspectives,
    /// What was agreed.
    pub agreement: String,
}

/// Each partner's perspective on a conflict, as (member, their words) pairs: a list of
/// `[member, text]` pairs in JSON, a list of `Perspective` records to apps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct Perspectives(pub Vec<(MemberId, String)>);

impl std::ops::Deref for Perspectives {
    type Target = Vec<(MemberId, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromIterator<(MemberId, String)> for Perspectives {
    fn from_iter<I: IntoIterator<Item = (MemberId, String)>>(iter: I) -> Self {
        Perspectives(iter.into_iter().collect())
    }
}

impl IntoIterator for Perspectives {
    type Item = (MemberId, String);
    type IntoIter = std::vec::IntoIter<(MemberId, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One partner's perspective on a conflict, as apps see it.
#[cfg(feature = "uniffi")]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Perspective {
    /// Whose perspective.
    pub member_id: MemberId,
    /// Their words.
    pub text: String,
}

#[cfg(feature = "uniffi")]
uniffi::custom_type!(Perspectives, Vec<Perspective>, {
    lower: |p| p.into_iter().map(|(member_id, text)| Perspective { member_id, text }).collect(),
    try_lift: |v| Ok(v.into_iter().map(|p| (p.member_id, p.text)).collect()),
});

/// An entry, fully read (its document loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Entry {
    pub id: EntryId,
    /// The journal (or personal space) it belongs to.
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    pub kind: EntryKind,
    #[cfg_attr(feature = "uniffi", uniffi(name = "author_id"))]
    pub author: MemberId,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    /// The prompt it answers, if any.
    pub prompt_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// In the trash.
    pub deleted: bool,
    /// When it was moved to the trash.
    pub deleted_at: Option<Millis>,
    /// One per person.
    pub reactions: Vec<Reaction>,
    /// Replies, deleted ones included (flagged).
    pub replies: Vec<Reply>,
    /// Check-in figures, for check-ins.
    pub check_in: Option<CheckIn>,
    /// Perspectives and agreement, for conflicts.
    pub conflict: Option<ConflictNotes>,
    /// For a private draft that was shared: the entry it became in the journal.
    #[cfg_attr(feature = "uniffi", uniffi(name = "shared_as_id"))]
    pub shared_as: Option<EntryId>,
    /// A partner's prompt answer this device can't read yet: sealed until you answer the
    /// same prompt too (or they reveal it). Its title and body are empty meanwhile.
    pub sealed: bool,
    /// For a sealed prompt answer (`answer_prompt`): its round, `"{prompt_id}.{cycle}"`;
    /// answers in one round are revealed together.
    pub answer_round: Option<String>,
}

impl Entry {
    /// What a heading calls the entry: its title, else its kind in words.
    pub fn heading(&self) -> String {
        if self.title.trim().is_empty() {
            self.kind.words()
        } else {
            self.title.clone()
        }
    }
}

/// An entry as listed, read from the index without loading its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntrySummary {
    pub id: EntryId,
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    pub kind: EntryKind,
    #[cfg_attr(feature = "uniffi", uniffi(name = "author_id"))]
    pub author: MemberId,
    pub title: String,
    /// The start of the body.
    pub excerpt: String,
    pub tags: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// In the trash.
    pub deleted: bool,
    pub reaction_count: u32,
    /// Live (not deleted) replies.
    pub reply_count: u32,
    /// Check-ins: mood.
    pub mood: Option<u8>,
    /// Check-ins: closeness.
    pub closeness: Option<u8>,
    /// A partner's prompt answer this device can't read yet (title and excerpt empty).
    pub sealed: bool,
}

/// What a new entry starts with. Every field may be left out.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NewEntry {
    /// What the entry is for (a reflection when left out).
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub kind: Option<EntryKind>,
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub title: String,
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub body: String,
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub tags: Vec<String>,
    /// For prompt answers: the prompt's id (see `prompt_of_the_day`).
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub prompt_id: Option<String>,
    /// For check-ins: the figures.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub check_in: Option<CheckIn>,
    /// For a conflict entry: the author's own perspective.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub perspective: Option<String>,
}

/// Which text field of an entry to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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

impl TextField {
    pub(crate) fn key(self) -> &'static str {
        match self {
            TextField::Title => "title",
            TextField::Body => "body",
            TextField::Needs => "needs",
            TextField::Gratitude => "gratitude",
            TextField::MyPerspective => "perspectives",
            TextField::Agreement => "agreement",
        }
    }
    pub(crate) fn max_chars(self) -> usize {
        use crate::limits::*;
        match self {
            TextField::Title => MAX_TITLE_CHARS,
            TextField::Body | TextField::MyPerspective | TextField::Agreement => MAX_BODY_CHARS,
            TextField::Needs | TextField::Gratitude => MAX_NOTE_CHARS,
        }
    }
}

/// Filters and paging for listing entries (apps: `EntryFilter`). Every field may be left out.
#[derive(Debug, Clone, Default)]
#[cfg_attr(
    feature = "uniffi",
    derive(uniffi::Record),
    uniffi(name = "EntryFilter")
)]
pub struct EntryQuery {
    /// Only this journal.
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub journal: Option<SpaceId>,
    /// Only this kind.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub kind: Option<EntryKind>,
    /// Only this author.
    #[cfg_attr(feature = "uniffi", uniffi(name = "author_id"))]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub author: Option<MemberId>,
    /// Only entries with this tag.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub tag: Option<String>,
    /// Created at or after (inclusive).
    #[cfg_attr(feature = "uniffi", uniffi(name = "from_ms"))]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub from: Option<Millis>,
    /// Created before (exclusive).
    #[cfg_attr(feature = "uniffi", uniffi(name = "to_ms"))]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub to: Option<Millis>,
    /// List the trash (soft-deleted entries) instead of live entries.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub trash: bool,
    /// Page size; defaults to 50, at most [`crate::limits::MAX_PAGE`].
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub cursor: Option<String>,
}

/// One page of entries, newest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntryPage {
    pub items: Vec<EntrySummary>,
    /// Pass as [`EntryQuery::cursor`] for the next page; `None` on the last page.
    #[cfg_attr(feature = "uniffi", uniffi(name = "next_cursor"))]
    pub next: Option<String>,
}

/// A full-text search result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SearchHit {
    pub entry: EntrySummary,
    /// The matching passage, matches wrapped in `[` and `]`.
    pub snippet: String,
}

/// One week of one partner's check-ins.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TrendPoint {
    /// Monday of the week (UTC), `YYYY-MM-DD`.
    pub week: String,
    pub check_ins: u32,
    /// Average mood.
    pub mood: f64,
    /// Average closeness.
    pub closeness: f64,
}

/// A partner's weekly series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MemberTrend {
    #[cfg_attr(feature = "uniffi", uniffi(name = "member_id"))]
    pub member: MemberId,
    pub name: String,
    pub weeks: Vec<TrendPoint>,
    pub average_mood: f64,
    pub average_closeness: f64,
    /// Average mood of the last four weeks with check-ins minus the four before (None when
    /// there is not enough data).
    pub mood_change: Option<f64>,
    pub closeness_change: Option<f64>,
}

/// Check-in trends of a journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Trends {
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    pub members: Vec<MemberTrend>,
}

/// A stretch of edits to an entry by one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HistoryItem {
    /// The member, when known.
    #[cfg_attr(feature = "uniffi", uniffi(name = "member_id"))]
    pub member: Option<MemberId>,
    #[cfg_attr(feature = "uniffi", uniffi(name = "device_id"))]
    pub device: DeviceId,
    /// First edit.
    #[cfg_attr(feature = "uniffi", uniffi(name = "from_ms"))]
    pub from: Millis,
    /// Last edit.
    #[cfg_attr(feature = "uniffi", uniffi(name = "to_ms"))]
    pub to: Millis,
    /// Number of changes.
    pub changes: u32,
}

/// A value one side wrote in a concurrent conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ConflictValue {
    /// The value (apps: as JSON text, e.g. `4` or `"..."`).
    #[cfg_attr(feature = "uniffi", uniffi(name = "value_json"))]
    pub value: JsonValue,
    /// Who wrote it, when known.
    #[cfg_attr(feature = "uniffi", uniffi(name = "member_id"))]
    pub member: Option<MemberId>,
    #[cfg_attr(feature = "uniffi", uniffi(name = "device_id"))]
    pub device: DeviceId,
    /// Whether this is the value the entry currently shows (the deterministic winner).
    pub winner: bool,
}

/// A scalar field both partners set concurrently ("you both changed the mood").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldConflict {
    /// The field, e.g. `mood`.
    pub field: String,
    pub values: Vec<ConflictValue>,
}

/// Who made a change we are telling listeners about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// This device.
    Local,
    /// Another device (a partner or another of my devices), via sync or a bundle.
    Remote,
}

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
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

/// An event for listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntryEvent {
    pub kind: EntryEventKind,
    #[cfg_attr(feature = "uniffi", uniffi(name = "entry_id"))]
    pub entry: EntryId,
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    /// Who did it, when known.
    #[cfg_attr(feature = "uniffi", uniffi(name = "by_member_id"))]
    pub by: Option<MemberId>,
    pub origin: Origin,
}

/// The outcome of importing a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ImportReport {
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    /// Whether this device did not hold the journal before.
    pub new_journal: bool,
    /// Entries added.
    pub entries_added: u32,
    /// Entries changed.
    pub entries_changed: u32,
    /// Documents whose content we already had in full.
    pub unchanged: u32,
}
