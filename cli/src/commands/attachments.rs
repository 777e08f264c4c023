//! `attach`, `attachments`, `attachment get|thumbnail|remove`.
//!
//! The CLI makes JPEG and PNG thumbnails itself (the `image` crate); the mobile library
//! links no image decoder: apps give thumbnails made with the platform's image APIs.

use std::fmt::Write as _;
use std::path::Path;

use duet_core::{AttachOptions, Attachment, AttachmentState, Duet, Error, Result};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::output::{Report, add_rfc3339, to_json};
use crate::resolve;

/// Thumbnails fit in this many pixels a side.
const THUMB_SIDE: u32 = 320;

pub fn attach(
    duet: &Duet,
    entry: &str,
    file: &Path,
    name: Option<String>,
    mime: Option<String>,
) -> Result<Report> {
    let entry = resolve::entry(duet, entry)?;
    let mut opts = AttachOptions {
        name,
        mime,
        ..AttachOptions::default()
    };
    if let Some((w, h, thumb)) = thumbnail_of(file, opts.mime.as_deref()) {
        opts.width = Some(w);
        opts.height = Some(h);
        opts.thumbnail = thumb;
    }
    let a = duet.attach(&entry, file, opts)?;
    let text = format!(
        "Attached “{}” ({}, {}) — sealed here, queued for your partner.\nid: {}",
        a.name,
        a.mime,
        human_size(a.size),
        a.id
    );
    Ok(Report::new(attachment_json(&a)?, text))
}

pub fn list(duet: &Duet, entry: &str) -> Result<Report> {
    let entry = resolve::entry(duet, entry)?;
    let all = duet.attachments(&entry)?;
    let mut text = String::new();
    if all.is_empty() {
        text.push_str("No attachments.");
    }
    for a in &all {
        let _ = writeln!(text, "{}", line(a));
    }
    Ok(Report::new(list_json(&all)?, text))
}

/// The JSON list of attachments (also under `attachments` in `entry show --json`).
pub fn list_json(all: &[Attachment]) -> Result<Value> {
    Ok(Value::Array(
        all.iter().map(attachment_json).collect::<Result<_>>()?,
    ))
}

pub fn get(rt: &Runtime, duet: &Duet, id: &str, out: &Path) -> Result<Report> {
    let id = duet.resolve_attachment(id)?;
    let before = duet.attachment(&id)?;
    rt.block_on(duet.fetch_attachment(&id, out))?;
    let a = duet.attachment(&id)?;
    let how = if before.state == AttachmentState::Local {
        "from this device"
    } else {
        "downloaded"
    };
    let mut v = attachment_json(&a)?;
    if let Value::Object(o) = &mut v {
        o.insert("out".into(), out.display().to_string().into());
    }
    let text = format!("Wrote “{}” to {} ({how}).", a.name, out.display());
    Ok(Report::new(v, text))
}

pub fn thumbnail(duet: &Duet, id: &str, out: &Path) -> Result<Report> {
    let id = duet.resolve_attachment(id)?;
    let bytes = duet.thumbnail(&id)?.ok_or_else(|| Error::NotFound {
        what: "thumbnail",
        id: format!("{id} (none was made, or it has not arrived yet: sync)"),
    })?;
    std::fs::write(out, &bytes).map_err(|source| Error::Io {
        path: out.display().to_string(),
        source,
    })?;
    Ok(Report::new(
        json!({ "id": id, "out": out.display().to_string(), "bytes": bytes.len() }),
        format!("Wrote the thumbnail to {}.", out.display()),
    ))
}

pub fn remove(duet: &Duet, id: &str) -> Result<Report> {
    let id = duet.resolve_attachment(id)?;
    let a = duet.attachment(&id)?;
    duet.remove_attachment(&id)?;
    Ok(Report::new(
        json!({ "id": id, "removed": true }),
        format!(
            "Removed “{}”. The relay frees its bytes once no entry uses them.",
            a.name
        ),
    ))
}

pub fn attachment_json(a: &Attachment) -> Result<Value> {
    let mut v = to_json(a)?;
    if let Value::Object(o) = &mut v {
        add_rfc3339(o, "added_at");
    }
    Ok(v)
}

fn line(a: &Attachment) -> String {
    let state = match a.state {
        AttachmentState::Local => "here",
        AttachmentState::RemoteOnly => "at the relay",
        AttachmentState::Downloading => "downloading",
    };
    let dims = match (a.width, a.height) {
        (Some(w), Some(h)) => format!(", {w}×{h}"),
        _ => String::new(),
    };
    let up = if a.uploading { ", uploading" } else { "" };
    format!(
        "{}  {} ({}, {}{dims}) · {state}{up}",
        a.id,
        a.name,
        a.mime,
        human_size(a.size)
    )
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// An image's size and a JPEG thumbnail of at most 32 KiB, for JPEG and PNG files; `None`
/// for anything else or anything that doesn't decode (the file is attached all the same).
fn thumbnail_of(file: &Path, mime: Option<&str>) -> Option<(u32, u32, Option<Vec<u8>>)> {
    let by_name = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "jpg" | "jpeg" | "png"));
    let by_mime = mime.is_some_and(|m| matches!(m, "image/jpeg" | "image/png"));
    if !(by_name || by_mime) {
        return None;
    }
    let img = image::ImageReader::open(file)
        .ok()?
        .with_guessed_format()
        .ok()?
        .decode()
        .ok()?;
    let (w, h) = (img.width(), img.height());
    let mut side = THUMB_SIDE;
    let max = duet_core::limits::MAX_THUMBNAIL_BYTES;
    while side >= 32 {
        let small = img.thumbnail(side, side).to_rgb8();
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70);
        if small.write_with_encoder(enc).is_ok() && out.len() <= max {
            return Some((w, h, Some(out)));
        }
        side /= 2;
    }
    Some((w, h, None))
}
