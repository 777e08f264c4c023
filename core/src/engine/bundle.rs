//! Offline exchange: a journal exported as a sealed bundle file, imported on another home.
//!
//! The bundle holds every document of the journal, each as a full Automerge save sealed
//! with the journal key. Until invites exist it also carries the key itself — the offline,
//! trusted path: hand the file over only in person or over a channel you trust. Importing
//! is idempotent and order-free: Automerge ignores changes it already has.

use serde::{Deserialize, Serialize};

use super::Duet;
use super::journals::refresh_space_row;
use super::tx::{DocRef, Tx};
use crate::blob::{self, DocKind, Payload, SealedBlob};
use crate::crypto::SpaceKey;
use crate::doc::{self, entry as edoc};
use crate::error::{Error, Result};
use crate::ids::{DeviceId, EntryId, MemberId, SpaceId};
use crate::limits::MAX_BUNDLE_BYTES;
use crate::model::{EntryEventKind, ImportReport, Origin, SpaceKind};
use crate::store;

/// The first bytes of every bundle file.
pub const BUNDLE_MAGIC: &[u8; 8] = b"DUETBNDL";
const BUNDLE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct BundleFile {
    version: u32,
    #[serde(with = "serde_bytes")]
    space: [u8; 16],
    /// The journal key (trusted path). `None` in a bundle meant for homes that hold it.
    #[serde(with = "serde_bytes")]
    key: Option<Vec<u8>>,
    blobs: Vec<SealedBlob>,
}

impl Duet {
    /// Export a journal as a sealed bundle (bytes to write to a file).
    pub fn export_bundle(&self, journal: &SpaceId) -> Result<Vec<u8>> {
        self.read(|tx| {
            let row = store::space(&tx.sql, journal)?.ok_or_else(|| Error::not_found("journal", journal))?;
            if row.kind != SpaceKind::Journal {
                return Err(Error::NotAllowed(
                    "a personal space stays on your own devices; share a draft into a journal instead".into(),
                ));
            }
            let key = tx.key(journal)?;
            let mut blobs = Vec::new();
            for (rowid, id, kind) in store::space_docs(&tx.sql, journal)? {
                let kind = if kind == "meta" { DocKind::Meta } else { DocKind::Entry };
                // Load from the store rather than through the cache: an export of a big
                // journal must not evict the entry being edited.
                let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
                let mut d = doc::load_doc(&tx.me.device, snapshot.as_deref(), chunks.iter().map(Vec::as_slice))?;
                let data = d.save();
                blobs.push(blob::seal(&key, journal, &Payload { doc: *id.as_bytes(), kind, data })?);
            }
            let file = BundleFile {
                version: BUNDLE_VERSION,
                space: *journal.as_bytes(),
                key: Some(key.as_bytes().to_vec()),
                blobs,
            };
            let mut out = BUNDLE_MAGIC.to_vec();
            ciborium::into_writer(&file, &mut out)
                .map_err(|e| Error::Internal(format!("encoding a bundle: {e}")))?;
            Ok(out)
        })
    }

    /// Import a bundle file (see [`Duet::import_bundle`]).
    pub fn import_bundle_file(&self, path: &std::path::Path) -> Result<ImportReport> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_BUNDLE_BYTES {
            return Err(Error::invalid(
                "bundle",
                format!("larger than {MAX_BUNDLE_BYTES} bytes"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        self.import_bundle(&bytes)
    }

    /// Import a bundle. All of it is checked (format, key, every blob) before anything is
    /// written, and it is applied in one transaction: a bad bundle changes nothing.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<ImportReport> {
        let file = parse(bytes)?;
        let space = SpaceId::from_bytes(file.space);
        let held_key = self.read(|tx| {
            Ok(match store::space(&tx.sql, &space)? {
                Some(_) => Some(tx.key(&space)?),
                None => None,
            })
        })?;
        let new_journal = held_key.is_none();
        let key = match (&held_key, &file.key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => SpaceKey::from_bytes(k)?,
            (None, None) => {
                return Err(Error::WrongKey(
                    "this bundle carries no key and this device does not hold the journal".into(),
                ));
            }
        };
        if let (Some(held), Some(carried)) = (&held_key, &file.key)
            && held.as_bytes().as_slice() != carried.as_slice()
        {
            {
                return Err(Error::WrongKey(
                    "the bundle's key differs from the key this device holds for the journal"
                        .into(),
                ));
            }
        }
        // Open every blob first: a wrong key or a tampered blob is refused before any write.
        let mut payloads = Vec::with_capacity(file.blobs.len());
        for b in &file.blobs {
            payloads.push(blob::open(&key, &space, b)?);
        }
        let metas: Vec<&Payload> = payloads
            .iter()
            .filter(|p| p.kind == DocKind::Meta)
            .collect();
        if metas.len() != 1 || metas[0].doc != file.space {
            return Err(Error::CorruptData(
                "a bundle holds exactly one meta document, its journal's".into(),
            ));
        }
        let mut probe = automerge::AutoCommit::new();
        doc::load_foreign(&mut probe, &metas[0].data)?;
        doc::check_schema(&probe)?;
        doc::meta::check_kind(&probe, SpaceKind::Journal)?;

        let report = self.write(|tx| apply(tx, space, &key, new_journal, &payloads))?;
        tracing::info!(
            added = report.entries_added,
            changed = report.entries_changed,
            unchanged = report.unchanged,
            "imported a bundle"
        );
        self.lock().devices = None;
        Ok(report)
    }
}

fn parse(bytes: &[u8]) -> Result<BundleFile> {
    if bytes.len() < BUNDLE_MAGIC.len() || &bytes[..BUNDLE_MAGIC.len()] != BUNDLE_MAGIC {
        return Err(Error::CorruptData("not a Duet bundle".into()));
    }
    let file: BundleFile = ciborium::from_reader(&bytes[BUNDLE_MAGIC.len()..])
        .map_err(|e| Error::CorruptData(format!("bundle is damaged: {e}")))?;
    if file.version > BUNDLE_VERSION {
        return Err(Error::CorruptData(format!(
            "bundle version {} is newer than this build ({BUNDLE_VERSION}); update the app",
            file.version
        )));
    }
    Ok(file)
}

fn apply(
    tx: &mut Tx<'_>,
    space: SpaceId,
    key: &SpaceKey,
    new_journal: bool,
    payloads: &[Payload],
) -> Result<ImportReport> {
    let mut report = ImportReport {
        journal: space,
        new_journal,
        entries_added: 0,
        entries_changed: 0,
        unchanged: 0,
    };
    if new_journal {
        tx.put_key(&space, key)?;
        store::upsert_space(
            &tx.sql,
            &store::SpaceRow {
                id: space,
                kind: SpaceKind::Journal,
                title: String::new(),
                created_at: tx.now,
            },
        )?;
    }
    // The meta document first: it tells who the authors are.
    let mut ordered: Vec<&Payload> = payloads.iter().collect();
    ordered.sort_by_key(|p| p.kind != DocKind::Meta);
    let mut devices: Vec<(DeviceId, MemberId)> = Vec::new();
    for p in ordered {
        let id = uuid::Uuid::from_bytes(p.doc);
        let (rowid, existed) = match store::doc_row(&tx.sql, &id)? {
            Some(r) if r.space != space => {
                return Err(Error::CorruptData(
                    "a document in the bundle belongs to another journal".into(),
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
        let doc = tx.doc(rowid)?;
        let before = doc.get_heads();
        let was_deleted = existed && p.kind == DocKind::Entry && edoc::deleted_at(doc).is_some();
        doc::load_foreign(doc, &p.data)?;
        doc::check_schema(doc)?;
        if p.kind == DocKind::Meta {
            devices = doc::meta::devices(doc);
        }
        let after = doc.get_heads();
        let pending = !doc.get_missing_deps(&[]).is_empty();
        if before == after && !pending {
            report.unchanged += 1;
            continue;
        }
        let chunk = doc.save_after(&before);
        let latest = latest_change(doc, &before);
        if !chunk.is_empty() {
            tx.store_chunk(d, chunk, false)?;
        }
        if pending {
            // Changes waiting for ones we don't have yet are kept verbatim, never dropped.
            tx.store_chunk(d, p.data.clone(), false)?;
        }
        match p.kind {
            DocKind::Meta => {
                doc::meta::check_kind(tx.doc(rowid)?, SpaceKind::Journal)?;
            }
            DocKind::Entry => {
                let entry = EntryId(id);
                let (updated_at, by_device) = latest;
                tx.reindex(rowid, &entry, &space, updated_at, true)?;
                let deleted = edoc::deleted_at(tx.doc(rowid)?).is_some();
                let kind = match (existed, was_deleted, deleted) {
                    (false, _, _) => EntryEventKind::Added,
                    (true, false, true) => EntryEventKind::Deleted,
                    (true, true, false) => EntryEventKind::Restored,
                    _ => EntryEventKind::Changed,
                };
                if existed {
                    report.entries_changed += 1;
                } else {
                    report.entries_added += 1;
                }
                let by = by_device
                    .and_then(|dev| devices.iter().find(|(d, _)| *d == dev).map(|(_, m)| *m));
                tx.event(kind, entry, space, by, Origin::Remote);
            }
        }
    }
    // Join the journal's member list (a local change that travels back with our next export).
    let meta = tx.meta_ref(&space)?;
    let me = tx.me.clone();
    tx.change(meta, |m| {
        doc::meta::add_member(m, &me.member, &me.name, &me.device)
    })?;
    refresh_space_row(tx, &space)?;
    Ok(report)
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
