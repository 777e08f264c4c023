//! `init` and `whoami`: this device's identity.

use std::path::Path;

use duet_core::{Duet, Options, Result};
use serde_json::json;

use crate::home;
use crate::output::{Report, to_json};

/// Make a home; with `relay`, remember the relay too (nothing is sent until the first sync,
/// so this works offline).
pub fn init(home_dir: &Path, name: &str, relay: Option<&str>, opts: Options) -> Result<Report> {
    // A bad URL is refused before the home exists, so a typo leaves nothing half made.
    if let Some(url) = relay {
        super::sync::check_url(url)?;
    }
    let duet = home::init(home_dir, name, opts)?;
    if let Some(url) = relay {
        duet.set_relay(url)?;
    }
    let me = duet.identity();
    let mut text = format!(
        "Welcome, {}! Your Duet home is {}.\n\
         Private drafts go in `--journal personal`; start a shared journal with\n  \
         duet journal create --title \"Our journal\"",
        me.name,
        home_dir.display()
    );
    match duet.relay_info()? {
        Some(r) => text.push_str(&format!(
            "\nSyncing through {}; invite your partner with\n  duet invite create --journal J",
            r.url
        )),
        None => text.push_str(
            "\nTo sync with your partner, set a relay (duet relay set URL) or join with their code.",
        ),
    }
    Ok(Report::new(identity_json(&duet)?, text))
}

pub fn whoami(duet: &Duet) -> Result<Report> {
    let me = duet.identity();
    let text = format!(
        "{}\nmember:   {}\ndevice:   {}\npersonal: {}\nhome:     {}",
        me.name,
        me.member,
        me.device,
        me.personal_space,
        duet.home().display()
    );
    Ok(Report::new(identity_json(duet)?, text))
}

/// The identity (member, device, name, personal_space) plus the home it lives in and the
/// relay (`null` when none is set).
pub fn identity_json(duet: &Duet) -> Result<serde_json::Value> {
    let mut v = to_json(&duet.identity())?;
    let relay = duet.relay_info()?.map(|r| r.url);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("home".into(), json!(duet.home().display().to_string()));
        obj.insert("relay".into(), json!(relay));
    }
    Ok(v)
}
