//! Applying changes that came from another device — through a bundle or the relay. The
//! same path for both: load the bytes into the document (Automerge ignores what it already
//! has), store only what is new, reindex, and announce what changed.

use super::journals::refresh_space_row;
use super::tx::{DocRef, Tx};
use crate::blob::{DocKind, Payload};
use crate::clock::Millis;
use crate::doc::{self, entry as edoc};
use crate::error::{Error, Result};
use crate::ids::AttachmentId;
use crate::ids::{DeviceId, EntryId, MemberId, SpaceId};
use crate::model::{EntryEventKind, Origin, SpaceKind};
use crate::store;
use crate::store::attachments::Hash;
use crate::store::index;

/// What applying one document's bytes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Unchanged,
    Added,
    Changed,
}

/// Make sure the space exists locally (a journal new to this device).
pub(crate) fn ensure_space(tx: &mut Tx<'_>, space: SpaceId, kind: SpaceKind) -> Result<bool> {
    if store::space(&tx.sql, &space)?.is_some() {
        return Ok(false);
    }
    store::upsert_space(
        &tx.sql,
        &store::SpaceRow {
            id: space,
            kind,
            title: String::new(),
            created_at: tx.now,
        },
    )?;
    Ok(true)
}

/// Apply one document's bytes to `space`. `devices` is the space's device → member map,
/// refreshed when the meta document changes.
pub(crate) fn apply_payload(
    tx: &mut Tx<'_>,
    space: SpaceId,
    p: &Payload,
    devices: &mut Vec<(DeviceId, MemberId)>,
) -> Result<Outcome> {
    let id = uuid::Uuid::from_bytes(p.doc);
    if p.kind == DocKind::Meta && id != space.0 {
        return Err(Error::CorruptData(
            "a meta document for another space".into(),
        ));
    }
    let (rowid, existed) = match store::doc_row(&tx.sql, &id)? {
        Some(r) if r.space != space => {
            return Err(Error::CorruptData(
                "a document that belongs to another space".into(),
            ));
        }
        Some(r) => (r.rowid, true),
        None => (
            store::insert_doc(&tx.sql, &id, &space, p.kind.as_str())?,
            false,
        ),
    };
    let d = DocRef {
        rowid,
        id,
        space,
        kind: p.kind,
    };
    tx.touch(rowid);
    let doc = tx.doc(rowid)?;
    let before = doc.get_heads();
    let was_deleted = existed && p.kind == DocKind::Entry && edoc::deleted_at(doc).is_some();
    doc::load_foreign(doc, &p.data)?;
    doc::check_schema(doc)?;
    if p.kind == DocKind::Meta {
        *devices = doc::meta::devices(doc);
    }
    let after = doc.get_heads();
    let pending = !doc.get_missing_deps(&[]).is_empty();
    if before == after && !pending {
        return Ok(Outcome::Unchanged);
    }
    // A document new here that took every change it came with stores them as they came,
    // rather than encoding them again (most of a first pull's documents).
    let chunk = if before.is_empty() && !pending {
        p.data.clone()
    } else {
        doc.save_after(&before)
    };
    let (updated_at, by_device) = latest_change(doc, &before);
    if !chunk.is_empty() {
        tx.store_chunk(d, chunk, false)?;
    }
    if pending {
        // Changes waiting for ones we don't have yet are kept verbatim, never dropped.
        tx.store_chunk(d, p.data.clone(), false)?;
    }
    match p.kind {
        DocKind::Meta => {
            tx.mark_meta_changed();
            if before != after {
                refresh_space_row(tx, &space)?;
            }
        }
        DocKind::Entry => {
            let entry = EntryId(id);
            if doc::entry::kind(tx.doc(rowid)?).is_err() {
                // Changes before the creating change: wait for it (the chunk is kept).
                return Ok(Outcome::Changed);
            }
            tx.reindex(rowid, &entry, &space, updated_at, true)?;
            let deleted = edoc::deleted_at(tx.doc(rowid)?).is_some();
            let kind = match (existed, was_deleted, deleted) {
                (false, _, _) => EntryEventKind::Added,
                (true, false, true) => EntryEventKind::Deleted,
                (true, true, false) => EntryEventKind::Restored,
                _ => EntryEventKind::Changed,
            };
            let by =
                by_device.and_then(|dev| devices.iter().find(|(d, _)| *d == dev).map(|(_, m)| *m));
            tx.event(kind, entry, space, by, Origin::Remote);
        }
    }
    Ok(if existed {
        Outcome::Changed
    } else {
        Outcome::Added
    })
}

/// An entry new to this device, loaded and read outside the store's lock (a pulled page's
/// blobs are prepared on every core): what storing and indexing it needs, so that the
/// write transaction runs no Automerge at all for it.
pub(crate) struct Prepared {
    fields: edoc::IndexFields,
    fts: (String, String, String),
    attachments: Vec<(AttachmentId, Hash, Option<Hash>)>,
    updated_at: Millis,
    by_device: Option<DeviceId>,
}

/// Prepare an entry document from its bytes, as if new here: `None` when it needs the
/// ordinary path (a meta document, changes waiting for others, an unrevealed sealed answer
/// — indexed per device —, or bytes that don't load, reported by that path).
pub(crate) fn prepare(kind: DocKind, data: &[u8]) -> Option<Prepared> {
    if kind != DocKind::Entry {
        return None;
    }
    let mut doc = doc::empty_doc();
    doc::load_foreign(&mut doc, data).ok()?;
    doc::check_schema(&doc).ok()?;
    if !doc.get_missing_deps(&[]).is_empty() {
        return None;
    }
    // The body read once, for both the excerpt and the full-text row.
    let fts = edoc::fts_text(&doc);
    let fields = edoc::index_fields_with(&doc, &fts.1).ok()?;
    if fields.sealed_round.is_some() {
        return None;
    }
    let attachments = doc::attachments::list(&doc)
        .iter()
        .map(|a| (a.id, a.original.hash, a.thumb.map(|t| t.hash)))
        .collect();
    let (updated_at, by_device) = latest_change(&mut doc, &[]);
    Some(Prepared {
        fields,
        fts,
        attachments,
        updated_at,
        by_device,
    })
}

/// Store and index an entry this device doesn't hold yet from its prepared form: what
/// [`apply_payload`] would write for it, without loading the document again (its bytes are
/// stored as they came; it loads when opened).
pub(crate) fn apply_prepared(
    tx: &mut Tx<'_>,
    space: SpaceId,
    p: &Payload,
    prep: &Prepared,
    devices: &[(DeviceId, MemberId)],
) -> Result<Outcome> {
    let id = uuid::Uuid::from_bytes(p.doc);
    let rowid = store::insert_doc(&tx.sql, &id, &space, DocKind::Entry.as_str())?;
    store::append_chunk(&tx.sql, rowid, &p.data)?;
    let entry = EntryId(id);
    index_prepared(tx, rowid, &entry, &space, prep)?;
    let by = prep
        .by_device
        .and_then(|dev| devices.iter().find(|(d, _)| *d == dev).map(|(_, m)| *m));
    tx.event(EntryEventKind::Added, entry, space, by, Origin::Remote);
    Ok(Outcome::Added)
}

/// An entry's index, tag, attachment and full-text rows from its prepared form (what
/// `Tx::reindex` writes from the loaded document).
pub(crate) fn index_prepared(
    tx: &mut Tx<'_>,
    rowid: i64,
    entry: &EntryId,
    space: &SpaceId,
    prep: &Prepared,
) -> Result<()> {
    index::upsert(
        &tx.sql,
        rowid,
        entry,
        space,
        &prep.fields,
        prep.updated_at,
        0,
    )?;
    let (t, b, x) = &prep.fts;
    index::set_fts(&tx.sql, rowid, t, b, x)?;
    store::attachments::set_for_doc(&tx.sql, rowid, &prep.attachments)
}

/// The device → member map of a space, from its meta document.
pub(crate) fn space_devices(tx: &mut Tx<'_>, space: &SpaceId) -> Result<Vec<(DeviceId, MemberId)>> {
    match store::doc_row(&tx.sql, &space.0)? {
        Some(r) => Ok(doc::meta::devices(tx.doc(r.rowid)?)),
        None => Ok(Vec::new()),
    }
}

/// Time and device of the newest of the changes this import brought (those not behind
/// `before`, the heads we had).
///
/// The newest of all new changes, not of the new heads: devices' clocks disagree, so a head
/// can be older than a change it depends on. The index keeps the maximum of what it has
/// seen, so `updated_at` is the time of the newest change in the document on every device,
/// whatever order the changes arrived in (and what `rebuild_index` computes).
fn latest_change(
    doc: &mut automerge::AutoCommit,
    before: &[automerge::ChangeHash],
) -> (i64, Option<DeviceId>) {
    doc.get_changes_meta(before)
        .iter()
        .map(|c| (c.timestamp, doc::device_of_actor(&c.actor)))
        .max_by_key(|(t, _)| *t)
        .unwrap_or((0, None))
}
