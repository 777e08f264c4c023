//! `recovery kit` and `recover`: 24 words that bring a person back after losing every
//! device.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use duet_core::{Duet, Error, Options, Result};
use serde_json::json;
use tokio::runtime::Runtime;
use zeroize::Zeroizing;

use crate::output::Report;

pub fn kit(rt: &Runtime, duet: &Duet, new: bool) -> Result<Report> {
    let kit = rt.block_on(duet.recovery_kit(new))?;
    let head = if kit.created {
        "Your recovery kit (made now; any kit you had before no longer works):"
    } else {
        "Your recovery kit (made on this device before):"
    };
    let mut text = format!("{head}\n\n");
    for (i, w) in kit.words.split(' ').enumerate() {
        let _ = write!(text, "{:>4}. {w:<10}", i + 1);
        if i % 4 == 3 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nWrite these words on paper and keep them somewhere safe, away from this phone.\n\
         With them, `duet recover --relay URL` on a new device brings back your journals and\n\
         your private drafts. Anyone holding them can do the same.",
    );
    Ok(Report::new(
        json!({ "words": kit.words, "created": kit.created }),
        text,
    ))
}

/// `recover --relay URL [--words W]` into `home`, with `opts` for the new device.
pub fn recover(
    rt: &Runtime,
    home: &Path,
    opts: Options,
    relay: &str,
    words: Option<&str>,
) -> Result<Report> {
    super::sync::check_url(relay)?;
    let words = match words {
        Some(w) => Zeroizing::new(w.to_string()),
        None => {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::Io {
                    path: "standard input".into(),
                    source: e,
                })?;
            s
        }
    };
    let (duet, r) = rt.block_on(Duet::recover(home, &words, relay, opts))?;
    let head = format!(
        "Welcome back, {}. This home ({}) is yours again, with your private drafts.\n",
        duet.identity().name,
        home.display()
    );
    let report = super::devices::arrived(&duet, head, |text| {
        if !r.old_devices.is_empty() {
            text.push_str("Your other devices, still let in — revoke the lost ones:\n");
            for d in &r.old_devices {
                let _ = writeln!(text, "  duet device revoke {d}");
            }
        }
        text.push_str(
            "If someone else may have seen your words, make a new kit: duet recovery kit --new",
        );
        Ok(())
    })?;
    let mut json = report.json;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("relay_device_id".into(), json!(r.device_id));
        obj.insert("old_devices".into(), json!(r.old_devices));
    }
    Ok(Report::new(json, report.text))
}
