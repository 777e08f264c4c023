//! The limits Duet enforces on input. Each is documented in ARCHITECTURE.md; an input over
//! a limit is refused with `invalid_input` and nothing is written.

use crate::error::{Error, Result};

/// Characters (Unicode scalar values) in an entry title.
pub const MAX_TITLE_CHARS: usize = 500;
/// Characters in an entry body, a perspective or an agreement (about 300 pages of prose).
pub const MAX_BODY_CHARS: usize = 1_000_000;
/// Characters in a reply.
pub const MAX_REPLY_CHARS: usize = 20_000;
/// Characters in a check-in's needs or gratitude text.
pub const MAX_NOTE_CHARS: usize = 10_000;
/// Characters in one tag.
pub const MAX_TAG_CHARS: usize = 64;
/// Tags on one entry.
pub const MAX_TAGS: usize = 32;
/// Characters in a display name or a journal title.
pub const MAX_NAME_CHARS: usize = 100;
/// Bytes in a reaction (one emoji, possibly a multi-codepoint sequence).
pub const MAX_REACTION_BYTES: usize = 64;
/// Bytes in a bundle file we are willing to read.
pub const MAX_BUNDLE_BYTES: u64 = 512 * 1024 * 1024;
/// Entries returned by one list page.
pub const MAX_PAGE: u32 = 1_000;
/// Largest thumbnail an app may give with an attachment.
pub const MAX_THUMBNAIL_BYTES: usize = duet_proto::limits::MAX_THUMBNAIL_BYTES;
/// Largest attachment (unless `Options::max_attachment_bytes` says otherwise).
pub const MAX_ATTACHMENT_BYTES: u64 = duet_proto::limits::MAX_ATTACHMENT_BYTES;

pub(crate) fn check_len(field: &'static str, s: &str, max: usize) -> Result<()> {
    // Fast path: a string can't have more chars than bytes.
    if s.len() > max && s.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if s.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    Ok(())
}

pub(crate) fn check_name(field: &'static str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    check_len(field, s, MAX_NAME_CHARS)
}

pub(crate) fn check_tag(tag: &str) -> Result<()> {
    if tag.trim().is_empty() {
        return Err(Error::invalid("tag", "must not be empty"));
    }
    if tag.chars().any(|c| c.is_control()) {
        return Err(Error::invalid("tag", "contains control characters"));
    }
    check_len("tag", tag, MAX_TAG_CHARS)
}

pub(crate) fn check_tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("more than {MAX_TAGS} tags")));
    }
    tags.iter().try_for_each(|t| check_tag(t))
}

pub(crate) fn check_scale(field: &'static str, v: u8) -> Result<()> {
    if !(1..=5).contains(&v) {
        return Err(Error::invalid(field, format!("{v} is not between 1 and 5")));
    }
    Ok(())
}

pub(crate) fn check_reaction(emoji: &str) -> Result<()> {
    let e = emoji.trim();
    if e.is_empty() {
        return Err(Error::invalid("reaction", "must not be empty"));
    }
    if e.len() > MAX_REACTION_BYTES || e.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "reaction",
            "must be a single emoji or short symbol",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let s = "é".repeat(MAX_TITLE_CHARS);
        assert!(check_len("title", &s, MAX_TITLE_CHARS).is_ok());
        let s = "é".repeat(MAX_TITLE_CHARS + 1);
        assert!(check_len("title", &s, MAX_TITLE_CHARS).is_err());
    }

    #[test]
    fn scales_are_one_to_five() {
        assert!(check_scale("mood", 0).is_err());
        assert!(check_scale("mood", 6).is_err());
        assert!((1..=5).all(|v| check_scale("mood", v).is_ok()));
    }

    #[test]
    fn reactions_are_short_symbols() {
        assert!(check_reaction("❤️").is_ok());
        assert!(check_reaction("👩‍❤️‍👨").is_ok());
        assert!(check_reaction("").is_err());
        assert!(check_reaction("a b").is_err());
        assert!(check_reaction(&"x".repeat(100)).is_err());
    }
}
