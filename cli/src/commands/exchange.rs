//! Moving a journal between homes (`bundle export|import`) and out of Duet (`export`).

use std::path::Path;

use duet_core::{Duet, Result};
use serde_json::{Value, json};

use crate::args::ExportFormat;
use crate::output::{Report, write_file};
use crate::resolve;

pub fn bundle_export(duet: &Duet, journal: &str, out: &Path) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    let bytes = duet.export_bundle(&journal.id)?;
    write_file(out, &bytes)?;
    let text = format!(
        "Wrote “{}” to {} ({} bytes).\n\
         The bundle carries the journal's key: hand it over only in person or over a channel you trust.\n\
         On the other device: duet bundle import {}",
        journal.title,
        out.display(),
        bytes.len(),
        out.display()
    );
    let json = json!({
        "journal": journal.id,
        "title": journal.title,
        "out": out.display().to_string(),
        "bytes": bytes.len(),
    });
    Ok(Report::new(json, text))
}

pub fn bundle_import(duet: &Duet, file: &Path) -> Result<Report> {
    let report = duet.import_bundle_file(file)?;
    let journal = duet.journal(&report.journal)?;
    let entries = |n: u32| format!("{n} entr{}", if n == 1 { "y" } else { "ies" });
    let text = if report.new_journal {
        format!(
            "Added “{}” with {}.",
            journal.title,
            entries(report.entries_added)
        )
    } else if report.entries_added + report.entries_changed == 0 {
        format!("“{}” was already up to date.", journal.title)
    } else {
        format!(
            "Updated “{}”: {} new, {} changed.",
            journal.title,
            entries(report.entries_added),
            entries(report.entries_changed)
        )
    };
    let mut json = crate::output::to_json(&report)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("title".into(), json!(journal.title));
    }
    Ok(Report::new(json, text))
}

/// Write every attachment of the journal beside the export (`attachments/…`, the paths the
/// export names), fetching from the relay what this device lacks; (written, ids missing).
fn write_attachments(
    rt: &tokio::runtime::Runtime,
    duet: &Duet,
    journal: &duet_core::SpaceId,
    export: &Path,
) -> Result<(usize, Vec<String>)> {
    let base = export.parent().unwrap_or(Path::new("."));
    let (mut written, mut missing) = (0, Vec::new());
    for a in duet.journal_attachments(journal)? {
        let dest = base.join(duet_core::export_path(&a));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|source| duet_core::Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        match rt.block_on(duet.fetch_attachment(&a.id, &dest)) {
            Ok(()) => written += 1,
            Err(e) => {
                tracing::warn!(error = %e, "an attachment was left out of the export");
                missing.push(a.id.to_string());
            }
        }
    }
    Ok((written, missing))
}

/// A readable copy of a journal. Unencrypted: written only where the person says.
pub fn export(
    rt: &tokio::runtime::Runtime,
    duet: &Duet,
    journal: &str,
    format: ExportFormat,
    out: Option<&Path>,
) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    let (content, name) = match format {
        ExportFormat::Markdown => (duet.export_markdown(&journal.id)?, "markdown"),
        ExportFormat::Json => (duet.export_json(&journal.id)?, "json"),
    };
    if let Some(path) = out {
        write_file(path, content.as_bytes())?;
        let (written, missing) = write_attachments(rt, duet, &journal.id, path)?;
        let json = json!({
            "journal": journal.id,
            "format": name,
            "out": path.display().to_string(),
            "bytes": content.len(),
            "attachments_written": written,
            "attachments_missing": missing,
        });
        let mut text = format!("Exported “{}” to {}.", journal.title, path.display());
        if written > 0 {
            text.push_str(&format!(
                " {written} attachment(s) beside it, in attachments/."
            ));
        }
        if !missing.is_empty() {
            text.push_str(&format!(
                " {} attachment(s) could not be fetched (offline?); export again to add them.",
                missing.len()
            ));
        }
        return Ok(Report::new(json, text));
    }
    // To stdout: the export itself. With --json, a JSON export is already one document;
    // Markdown goes inside one.
    let json = match format {
        ExportFormat::Json => serde_json::from_str::<Value>(&content)
            .map_err(|e| duet_core::Error::Internal(format!("json export: {e}")))?,
        ExportFormat::Markdown => json!({
            "journal": journal.id,
            "format": name,
            "content": content,
        }),
    };
    Ok(Report::new(json, content))
}
