//! Turning what a person types into ids: journals by id, prefix, title or `personal`;
//! entries by id prefix; members by `me`, name or id. And the reverse: names for ids.

use std::collections::HashMap;

use duet_core::{Duet, EntryId, Error, Journal, MemberId, Result, SpaceId};

/// Shortest id prefix we try to match, so a stray word isn't taken for an id.
const MIN_PREFIX: usize = 4;

/// The journal a `--journal` argument names: `personal`, the id, the exact title (any case)
/// or a unique id prefix, in that order.
pub fn journal(duet: &Duet, arg: &str) -> Result<Journal> {
    let wanted = arg.trim();
    if wanted.is_empty() {
        return Err(Error::InvalidInput {
            field: "journal",
            reason: "must not be empty".into(),
        });
    }
    let journals = duet.journals()?;
    let not_found = || Error::NotFound {
        what: "journal",
        id: wanted.to_string(),
    };
    if wanted.eq_ignore_ascii_case("personal") {
        let personal = duet.identity().personal_space;
        return journals
            .into_iter()
            .find(|j| j.id == personal)
            .ok_or_else(not_found);
    }
    if let Ok(id) = wanted.parse::<SpaceId>() {
        return journals
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(not_found);
    }
    let lower = wanted.to_lowercase();
    let by_title: Vec<&Journal> = journals
        .iter()
        .filter(|j| j.title.to_lowercase() == lower)
        .collect();
    match by_title.as_slice() {
        [one] => return Ok((*one).clone()),
        [] => {}
        _ => return Err(ambiguous("journal", wanted)),
    }
    if !looks_like_prefix(wanted) {
        return Err(not_found());
    }
    let by_prefix: Vec<&Journal> = journals
        .iter()
        .filter(|j| j.id.to_string().starts_with(&lower))
        .collect();
    match by_prefix.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(not_found()),
        _ => Err(ambiguous("journal", wanted)),
    }
}

/// The entry an id argument names (full id or unique prefix).
pub fn entry(duet: &Duet, arg: &str) -> Result<EntryId> {
    duet.resolve_entry(&arg.trim().to_ascii_lowercase())
}

/// The member an `--author` argument names among a journal's members: `me`, the id, the
/// exact name (any case) or a unique id prefix.
pub fn member(duet: &Duet, journal: &Journal, arg: &str) -> Result<MemberId> {
    let wanted = arg.trim();
    let not_found = || Error::NotFound {
        what: "member",
        id: wanted.to_string(),
    };
    if wanted.eq_ignore_ascii_case("me") {
        return Ok(duet.identity().member);
    }
    if let Ok(id) = wanted.parse::<MemberId>() {
        // A former member's entries stay listable, so any well-formed id is accepted.
        return Ok(id);
    }
    let lower = wanted.to_lowercase();
    let by_name: Vec<MemberId> = journal
        .members
        .iter()
        .filter(|m| m.name.to_lowercase() == lower)
        .map(|m| m.id)
        .collect();
    match by_name.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        _ => return Err(ambiguous("member", wanted)),
    }
    if !looks_like_prefix(wanted) {
        return Err(not_found());
    }
    let by_prefix: Vec<MemberId> = journal
        .members
        .iter()
        .filter(|m| m.id.to_string().starts_with(&lower))
        .map(|m| m.id)
        .collect();
    match by_prefix.as_slice() {
        [one] => Ok(*one),
        [] => Err(not_found()),
        _ => Err(ambiguous("member", wanted)),
    }
}

fn looks_like_prefix(s: &str) -> bool {
    s.len() >= MIN_PREFIX && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn ambiguous(field: &'static str, wanted: &str) -> Error {
    Error::InvalidInput {
        field,
        reason: format!("{wanted:?} matches more than one; give more of the id"),
    }
}

/// Display names of members and titles of journals on this device.
#[derive(Debug, Default)]
pub struct Names {
    members: HashMap<MemberId, String>,
    journals: HashMap<SpaceId, String>,
}

impl Names {
    pub fn load(duet: &Duet) -> Result<Self> {
        let me = duet.identity();
        let mut names = Names::default();
        names.members.insert(me.member, me.name);
        for j in duet.journals()? {
            for m in j.members {
                names.members.entry(m.id).or_insert(m.name);
            }
            names.journals.insert(j.id, j.title);
        }
        Ok(names)
    }

    /// A member's name, or the start of their id when we never learnt it.
    pub fn member(&self, id: &MemberId) -> String {
        self.members
            .get(id)
            .cloned()
            .unwrap_or_else(|| short(&id.to_string()))
    }

    pub fn journal(&self, id: &SpaceId) -> String {
        self.journals
            .get(id)
            .cloned()
            .unwrap_or_else(|| short(&id.to_string()))
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
