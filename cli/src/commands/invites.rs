//! Partners in a journal: `invite create`, `join`, `member remove`, `member restore`.

use duet_core::clock::rfc3339;
use duet_core::{Duet, Error, Invite, Journal, MemberId, Result, SpaceKind};
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
    code_report(&invite, text, json!({ "title": journal.title }))
}

/// A code's report: the invite's JSON with `extra`'s fields added.
fn code_report(invite: &Invite, text: String, extra: Value) -> Result<Report> {
    let mut json = invite_json(invite)?;
    if let (Some(obj), Value::Object(more)) = (json.as_object_mut(), extra) {
        obj.extend(more);
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
    // Who this home is now: a restore code makes it the member it names.
    let mut json = journal_json(&journal)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("member".into(), json!(duet.identity().member));
    }
    Ok(Report::new(json, text))
}

/// The journal and the partner a `member` command is about.
fn partner_of(duet: &Duet, journal: &str, member: &str) -> Result<(Journal, MemberId)> {
    let journal = resolve::journal(duet, journal)?;
    if journal.kind == SpaceKind::Personal {
        return Err(Error::InvalidInput {
            field: "journal",
            reason: "your personal space has no partner in it".into(),
        });
    }
    let member = resolve::member(duet, &journal, member)?;
    Ok((journal, member))
}

pub fn restore_member(
    rt: &Runtime,
    duet: &Duet,
    journal: &str,
    member: &str,
    ttl_secs: Option<u64>,
) -> Result<Report> {
    let (journal, member) = partner_of(duet, journal, member)?;
    let name = Names::load(duet)?.member(&member);
    let invite = rt.block_on(duet.restore_member(&journal.id, &member, ttl_secs))?;
    let journal = duet.journal(&journal.id)?;
    let until = rfc3339(invite.expires_at.saturating_mul(1000));
    let text = format!(
        "A restore code for {name} in “{}” (one use, until {until}):\n\n  {}\n\n\
         On their new device: `duet init --name …`, then `duet join CODE` (or open {}).\n\
         Their old devices left the journal and its key changed. Their private drafts can't \
         come back this way: only a recovery kit holds those.",
        journal.title, invite.code, invite.uri
    );
    let extra = json!({
        "member": member,
        "name": name,
        "key_epoch": journal.key_epoch,
        "drafts_restored": false,
    });
    code_report(&invite, text, extra)
}

pub fn remove_member(rt: &Runtime, duet: &Duet, journal: &str, member: &str) -> Result<Report> {
    let (journal, member) = partner_of(duet, journal, member)?;
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
