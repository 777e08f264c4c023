//! Partners in a journal: `invite create`, `join`, `member remove`.

use duet_core::clock::rfc3339;
use duet_core::{Duet, Error, Invite, Result, SpaceKind};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::journals::journal_json;
use crate::output::{Report, to_json};
use crate::resolve::{self, Names};

pub fn create(rt: &Runtime, duet: &Duet, journal: &str, ttl_secs: Option<u64>) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    if journal.kind == SpaceKind::Personal {
        return Err(Error::InvalidInput {
            field: "journal",
            reason: "your personal space is yours alone; invite your partner to a shared \
                     journal (your own devices join with `duet device link`)"
                .into(),
        });
    }
    let invite = rt.block_on(duet.create_invite(&journal.id, ttl_secs))?;
    let text = format!(
        "Invite to “{}” (one use, until {}):\n\n  {}\n\n\
         Your partner runs `duet join CODE`, or opens this link, which names the relay too:\n  {}\n\n\
         The code opens the journal: share it only with your partner.",
        journal.title,
        rfc3339(invite.expires_at.saturating_mul(1000)),
        invite.code,
        invite.uri
    );
    let mut json = invite_json(&invite)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("title".into(), json!(journal.title));
    }
    Ok(Report::new(json, text))
}

/// An [`Invite`] as JSON (`expires_at` in Unix seconds) plus `expires_at_rfc3339`.
pub fn invite_json(invite: &Invite) -> Result<Value> {
    let mut v = to_json(invite)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "expires_at_rfc3339".into(),
            json!(rfc3339(invite.expires_at.saturating_mul(1000))),
        );
    }
    Ok(v)
}

pub fn join(rt: &Runtime, duet: &Duet, code: &str) -> Result<Report> {
    let id = rt.block_on(duet.join(code))?;
    let journal = duet.journal(&id)?;
    let others: Vec<&str> = journal
        .members
        .iter()
        .filter(|m| m.id != duet.identity().member)
        .map(|m| m.name.as_str())
        .collect();
    let with = if others.is_empty() {
        String::new()
    } else {
        format!(" with {}", others.join(" & "))
    };
    let text = format!(
        "Joined “{}”{with} ({}).\n\
         Read it with: duet entry list --journal {}\n\
         Sync any time with `duet sync`, or stay live with `duet watch`.",
        journal.title, journal.id, journal.id
    );
    Ok(Report::new(journal_json(&journal)?, text))
}

pub fn remove_member(rt: &Runtime, duet: &Duet, journal: &str, member: &str) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    if journal.kind == SpaceKind::Personal {
        return Err(Error::InvalidInput {
            field: "journal",
            reason: "your personal space has no partner to remove".into(),
        });
    }
    let member = resolve::member(duet, &journal, member)?;
    let name = Names::load(duet)?.member(&member);
    rt.block_on(duet.remove_member(&journal.id, &member))?;
    let journal = duet.journal(&journal.id)?;
    let text = format!(
        "Removed {name} from “{}”.\n\
         Their devices left the journal at the relay and its key changed: nothing written \
         from now on can be read with what they hold. Their past entries stay.",
        journal.title
    );
    Ok(Report::new(
        json!({ "removed": member, "name": name, "journal": journal_json(&journal)? }),
        text,
    ))
}
