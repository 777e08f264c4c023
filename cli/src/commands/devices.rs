//! A person's own devices: `device link|join|list|revoke`.

use std::fmt::Write as _;
use std::path::Path;

use duet_core::clock::rfc3339;
use duet_core::{Duet, Error, Options, Result, SpaceKind};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use uuid::Uuid;

use super::invites::invite_json;
use super::journals::journal_json;
use super::setup::identity_json;
use crate::output::Report;

/// Shortest relay-id prefix accepted for one of my devices.
const MIN_PREFIX: usize = 4;

pub fn link(rt: &Runtime, duet: &Duet, ttl_secs: Option<u64>) -> Result<Report> {
    let invite = rt.block_on(duet.link_device(ttl_secs))?;
    let text = format!(
        "Code for your new device (one use, until {}):\n\n  {}\n\n\
         On the new device: duet --home NEWHOME device join CODE --relay URL\n\
         or with this link, which names the relay too:\n  {}\n\n\
         The code opens everything you hold, your private drafts included: keep it to yourself.",
        rfc3339(invite.expires_at.saturating_mul(1000)),
        invite.code,
        invite.uri
    );
    Ok(Report::new(invite_json(&invite)?, text))
}

/// Set up `home` as another device of the person who made `code`.
pub fn join(
    rt: &Runtime,
    home: &Path,
    code: &str,
    relay: Option<&str>,
    opts: Options,
) -> Result<Report> {
    if let Some(url) = relay {
        super::sync::check_url(url)?;
    }
    let duet = rt.block_on(Duet::join_device(home, code, relay, opts))?;
    let head = format!(
        "This home ({}) is now another device of {}.\n",
        home.display(),
        duet.identity().name
    );
    arrived(&duet, head, |text| {
        text.push_str("Your private drafts came along too (`--journal personal`).");
        Ok(())
    })
}

/// The report of a home that became one of a person's devices (`device join`, `recover`):
/// `head`, its journals, then what `tail` adds (it may add JSON fields too); JSON: the
/// identity and `journals`.
pub(super) fn arrived(
    duet: &Duet,
    head: String,
    tail: impl FnOnce(&mut String) -> Result<()>,
) -> Result<Report> {
    let journals = duet.journals()?;
    let mut text = head;
    for j in journals.iter().filter(|j| j.kind == SpaceKind::Journal) {
        let _ = writeln!(text, "  {}  {}", j.id, j.title);
    }
    tail(&mut text)?;
    let mut json = identity_json(duet)?;
    let items = journals
        .iter()
        .map(journal_json)
        .collect::<Result<Vec<_>>>()?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("journals".into(), json!(items));
    }
    Ok(Report::new(json, text))
}

pub fn list(duet: &Duet) -> Result<Report> {
    let this = duet.relay_info()?.and_then(|r| r.device_id);
    let devices = duet.my_relay_devices()?;
    let mut text = String::new();
    if this.is_none() {
        text.push_str("This device is not registered with a relay yet (it will be at the next `duet sync`).\n");
    }
    for d in &devices {
        let mark = if Some(*d) == this {
            "  (this device)"
        } else {
            ""
        };
        let _ = writeln!(text, "{d}{mark}");
    }
    if devices.is_empty() {
        text.push_str("No devices known at the relay.\n");
    }
    let items: Vec<_> = devices
        .iter()
        .map(|d| json!({ "id": d, "this_device": Some(*d) == this }))
        .collect();
    Ok(Report::new(json!({ "devices": items }), text))
}

pub fn revoke(rt: &Runtime, duet: &Duet, id: &str) -> Result<Report> {
    let device = resolve_device(duet, id)?;
    if duet.relay_info()?.and_then(|r| r.device_id) == Some(device) {
        return Err(Error::NotAllowed(
            "that is this device; revoke it from another of your devices".into(),
        ));
    }
    rt.block_on(duet.revoke_device(device))?;
    // Every key it held was replaced; say which generation each journal is at now.
    let journals: Vec<Value> = duet
        .journals()?
        .iter()
        .map(|j| json!({ "id": j.id, "title": j.title, "key_epoch": j.key_epoch }))
        .collect();
    let text = format!(
        "Revoked {device}: the relay no longer accepts it, and every key it held was \
         replaced — nothing written from now on opens with them."
    );
    Ok(Report::new(
        json!({ "revoked": device, "journals": journals }),
        text,
    ))
}

/// A full relay device id (any device), or a unique prefix of one of mine.
fn resolve_device(duet: &Duet, arg: &str) -> Result<Uuid> {
    let wanted = arg.trim().to_ascii_lowercase();
    if let Ok(id) = Uuid::parse_str(&wanted) {
        return Ok(id);
    }
    let not_found = || Error::NotFound {
        what: "device",
        id: arg.trim().to_string(),
    };
    if wanted.len() < MIN_PREFIX || !wanted.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(not_found());
    }
    let matches: Vec<Uuid> = duet
        .my_relay_devices()?
        .into_iter()
        .filter(|d| d.to_string().starts_with(&wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(not_found()),
        _ => Err(Error::InvalidInput {
            field: "device",
            reason: format!("{wanted:?} matches more than one; give more of the id"),
        }),
    }
}
