//! The journal's public data types: what apps and the CLI read and write.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, EntryId, MemberId, ReplyId, SpaceId};

/// What an entry is for; each kind serves one of the practices the journal supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A shared journal (both partners) or a personal space (one person's private drafts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    Journal,
    Personal,
}

impl SpaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceKind::Journal => "journal",
            SpaceKind::Personal => "personal",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "journal" => Ok(SpaceKind::Journal),
            "personal" => Ok(SpaceKind::Personal),
            other => Err(Error::CorruptData(format!("unknown space kind {other:?}"))),
        }
    }
}

/// Who this device belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub member: MemberId,
    pub device: DeviceId,
    pub name: String,
    pub personal_space: SpaceId,
}

/// A person in a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub colour: String,
}

/// A space as listed on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Journal {
    pub id: SpaceId,
    pub kind: SpaceKind,
    pub title: String,
    pub members: Vec<Member>,
    /// Members removed from the journal (their entries stay; they can't read new ones).
    pub removed_members: Vec<MemberId>,
    pub checkin_cadence_days: u32,
    pub created_at: Millis,
}

/// A reply under an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub id: ReplyId,
    pub author: MemberId,
    pub body: String,
    pub created_at: Millis,
    pub deleted: bool,
}

/// One partner's reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reaction {
    pub member: MemberId,
    pub emoji: String,
}

/// Check-in figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CheckIn {
    pub mood: u8,
    pub closeness: u8,
    pub needs: String,
    pub gratitude: String,
}

/// A conflict worked through together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ConflictNotes {
    /// Each partner's perspective, by member.
    pub perspectives: Vec<(MemberId, String)>,
    pub agreement: String,
}

/// An entry, fully read (its document loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: EntryId,
    pub journal: SpaceId,
    pub kind: EntryKind,
    pub author: MemberId,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub prompt_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted: bool,
    pub deleted_at: Option<Millis>,
    pub reactions: Vec<Reaction>,
    pub replies: Vec<Reply>,
    pub check_in: Option<CheckIn>,
    pub conflict: Option<ConflictNotes>,
    /// For a private draft that was shared: the entry it became in the journal.
    pub shared_as: Option<EntryId>,
}

/// An entry as listed, read from the index without loading its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntrySummary {
    pub id: EntryId,
    pub journal: SpaceId,
    pub kind: EntryKind,
    pub author: MemberId,
    pub title: String,
    pub excerpt: String,
    pub tags: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted: bool,
    pub reaction_count: u32,
    pub reply_count: u32,
    pub mood: Option<u8>,
    pub closeness: Option<u8>,
}

/// What a new entry starts with.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub kind: Option<EntryKind>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub prompt_id: Option<String>,
    pub check_in: Option<CheckIn>,
    /// For a conflict entry: the author's own perspective.
    pub perspective: Option<String>,
}

/// Which text field of an entry to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Title,
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

/// Filters and paging for listing entries.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    pub journal: Option<SpaceId>,
    pub kind: Option<EntryKind>,
    pub author: Option<MemberId>,
    pub tag: Option<String>,
    /// Created at or after (inclusive).
    pub from: Option<Millis>,
    /// Created before (exclusive).
    pub to: Option<Millis>,
    /// List the trash (soft-deleted entries) instead of live entries.
    pub trash: bool,
    /// Page size; defaults to 50, at most [`crate::limits::MAX_PAGE`].
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as [`EntryQuery::cursor`] for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A full-text search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub entry: EntrySummary,
    /// The matching passage, matches wrapped in `[` and `]`.
    pub snippet: String,
}

/// One week of one partner's check-ins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Monday of the week (UTC), `YYYY-MM-DD`.
    pub week: String,
    pub check_ins: u32,
    pub mood: f64,
    pub closeness: f64,
}

/// A partner's weekly series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberTrend {
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
pub struct Trends {
    pub journal: SpaceId,
    pub members: Vec<MemberTrend>,
}

/// A stretch of edits to an entry by one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub member: Option<MemberId>,
    pub device: DeviceId,
    pub from: Millis,
    pub to: Millis,
    pub changes: u32,
}

/// A value one side wrote in a concurrent conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictValue {
    pub value: serde_json::Value,
    pub member: Option<MemberId>,
    pub device: DeviceId,
    /// Whether this is the value the entry currently shows (the deterministic winner).
    pub winner: bool,
}

/// A scalar field both partners set concurrently ("you both changed the mood").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    pub field: String,
    pub values: Vec<ConflictValue>,
}

/// Who made a change we are telling listeners about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// This device.
    Local,
    /// Another device (a partner or another of my devices), via sync or a bundle.
    Remote,
}

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryEventKind {
    Added,
    Changed,
    Deleted,
    Restored,
}

/// An event for listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryEvent {
    pub kind: EntryEventKind,
    pub entry: EntryId,
    pub journal: SpaceId,
    pub by: Option<MemberId>,
    pub origin: Origin,
}

/// The outcome of importing a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub journal: SpaceId,
    /// Whether this device did not hold the journal before.
    pub new_journal: bool,
    pub entries_added: u32,
    pub entries_changed: u32,
    /// Documents whose content we already had in full.
    pub unchanged: u32,
}
