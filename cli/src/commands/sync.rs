//! `relay set|show` and `sync`: where this home syncs, and syncing once.

use std::sync::Arc;

use duet_core::{Duet, Error, Result, SyncListener, SyncReport, SyncState};
use serde_json::json;
use tokio::runtime::Runtime;

use crate::output::{Report, to_json};

/// The rule the engine applies to a relay URL (`http(s)://host[:port]`), checked before
/// anything is written.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidInput {
        field: "relay url",
        reason,
    };
    let u = url::Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(bad("expected http(s)://host[:port]".into()));
    }
    Ok(())
}

/// Point the home at a relay and say what became of its identity there (kept, restored,
/// new, or unverified when the relay can't be reached: then it is checked at the next sync,
/// and nothing is lost, so that is not a failure).
pub fn relay_set(rt: &Runtime, duet: &Duet, url: &str) -> Result<Report> {
    let switch = rt.block_on(duet.switch_relay(url))?;
    let json = to_json(&switch)?;
    let text = match switch.device_id {
        Some(id) => format!(
            "{}
relay:  {}
device: {id}",
            switch.message, switch.url
        ),
        None => format!(
            "{}
relay:  {}",
            switch.message, switch.url
        ),
    };
    Ok(Report::new(json, text))
}

pub fn relay_show(duet: &Duet) -> Result<Report> {
    let info = duet.relay_info()?;
    let outbox = duet.outbox_len()?;
    let quarantined = duet.quarantined()?.len();
    let json = json!({
        "url": info.as_ref().map(|r| r.url.clone()),
        "device_id": info.as_ref().and_then(|r| r.device_id),
        "registered": info.as_ref().is_some_and(|r| r.device_id.is_some()),
        "outbox": outbox,
        "quarantined": quarantined,
    });
    let mut text = match &info {
        None => "No relay is set; this home works offline only.\n\
                 Set one with: duet relay set URL"
            .to_string(),
        Some(r) => match r.device_id {
            Some(id) => format!("relay:  {}\ndevice: {id}", r.url),
            None => format!(
                "relay:  {}\ndevice: not registered yet (at the next `duet sync`)",
                r.url
            ),
        },
    };
    text.push_str(&format!("\nwaiting to be pushed: {outbox}"));
    if quarantined > 0 {
        text.push_str(&format!(
            "\nreceived but unreadable (kept aside): {quarantined}"
        ));
    }
    Ok(Report::new(json, text))
}

/// Sync once. Progress goes to stderr as each acknowledged batch or page is kept (a line
/// like `sync: syncing (pushed 40, pulled 300 so far)`, or `{"sync": {...}}` with
/// `--json`), so a sync on a bad link shows how far it got before a cut.
pub fn sync(rt: &Runtime, duet: &Duet, json_out: bool) -> Result<Report> {
    let _progress = duet.subscribe_sync(Arc::new(Progress { json_out }));
    let report = rt.block_on(duet.sync_now())?;
    let url = duet.relay_info()?.map(|r| r.url).unwrap_or_default();
    let mut json = to_json(&report)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("relay".into(), json!(url));
    }
    Ok(Report::new(json, report_text(&report, &url)))
}

/// Prints the progress a running sync reports (not its start or end: the report says that).
struct Progress {
    json_out: bool,
}

impl SyncListener for Progress {
    fn on_sync_state(&self, state: &SyncState) {
        if let SyncState::Syncing { progress } = state
            && *progress != SyncReport::default()
        {
            super::watch::print_state(state, self.json_out);
        }
    }
}

/// One line on what a sync did.
pub fn report_text(r: &SyncReport, url: &str) -> String {
    let mut t = if r.pushed == 0 && r.pulled == 0 {
        format!("Up to date with {url}.")
    } else {
        format!(
            "Synced with {url}: pushed {}, pulled {} ({} new to this device).",
            r.pushed, r.pulled, r.applied
        )
    };
    if r.quarantined > 0 {
        t.push_str(&format!(
            "\n{} received change(s) could not be opened and were kept aside \
             (see `duet relay show`).",
            r.quarantined
        ));
    }
    t
}
