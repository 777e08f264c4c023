//! The only records apps see that duet-core does not define: shapes that exist for the FFI
//! alone. Everything else (entries, journals, filters, reports, ids, errors) is duet-core's
//! own type, exported there.

use duet_core::prompts;

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

impl TextEdit {
    /// The splice as `duet_core::Duet::splice_many` takes it.
    pub(crate) fn as_splice(&self) -> (usize, usize, &str) {
        (
            self.position as usize,
            self.delete_count as usize,
            &self.insert,
        )
    }
}

/// A prompt to write or talk about (duet-core's prompts are static, so the app gets a copy).
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

impl From<&prompts::Prompt> for Prompt {
    fn from(p: &prompts::Prompt) -> Self {
        Prompt {
            id: p.id.to_string(),
            practice: p.practice.as_str().to_string(),
            practice_label: p.practice.label().to_string(),
            text: p.text.to_string(),
        }
    }
}
