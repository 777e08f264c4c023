//! Offline exchange: a journal exported as a sealed bundle file, imported on another home.
//!
//! The bundle holds every document of the journal, each as a full Automerge save sealed
//! with the journal key. Until invites exist it also carries the key itself — the offline,
//! trusted path: hand the file over only in person or over a channel you trust. Importing
//! is idempotent and order-free: Automerge ignores changes it already has.

use serde::{Deserialize, Serialize};

use super::Duet;
use super::remote::{self, Outcome};
use super::tx::Tx;
use crate::blob::{self, DocKind, Payload, SealedBlob};
use crate::crypto::{Epoch, SpaceKey};
use crate::doc;
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::limits::MAX_BUNDLE_BYTES;
use crate::model::{ImportReport, SpaceKind};
use crate::store;

/// The first bytes of every bundle file.
pub const BUNDLE_MAGIC: &[u8; 8] = b"DUETBNDL";
const BUNDLE_VERSION: u32 = 1;
/// The newest key epoch a bundle may carry: far beyond any journal's rotations (one per
/// removed member), near enough that walking a journal's epochs stays cheap.
const MAX_KEY_EPOCH: Epoch = 10_000;

#[derive(Serialize, Deserialize)]
struct BundleFile {
    version: u32,
    #[serde(with = "serde_bytes")]
    space: [u8; 16],
    /// The journal's keys by epoch (the trusted path). Empty in a bundle meant for homes
    /// that hold them.
    keys: Vec<BundleKey>,
    blobs: Vec<SealedBlob>,
    /// Attachments' sealed files this device held (thumbnails, and originals while the
    /// bundle stays under its limit), as the relay would store them. Absent in bundles made
    /// before attachments.
    #[serde(default)]
    objects: Vec<BundleObject>,
}

#[derive(Serialize, Deserialize)]
struct BundleObject {
    #[serde(with = "serde_bytes")]
    hash: Vec<u8>,
    thumb: bool,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct BundleKey {
    epoch: Epoch,
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
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
            let (epoch, key) = tx.key(journal)?;
            let mut keys = Vec::new();
            for e in 1..=epoch {
                if let Some(k) = tx.key_at(journal, e)? {
                    keys.push(BundleKey { epoch: e, key: k.as_bytes().to_vec() });
                }
            }
            let mut blobs = Vec::new();
            let mut refs = Vec::new();
            for (rowid, id, kind) in store::space_docs(&tx.sql, journal)? {
                let kind = if kind == "meta" { DocKind::Meta } else { DocKind::Entry };
                // Load from the store rather than through the cache: an export of a big
                // journal must not evict the entry being edited.
                let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
                let mut d = doc::load_doc(&tx.me.device, snapshot.as_deref(), chunks.iter().map(Vec::as_slice))?;
                refs.extend(doc::attachments::list(&d));
                let data = d.save();
                let payload = Payload {
                    doc: *id.as_bytes(),
                    kind,
                    data,
                    index: None,
                };
                blobs.push(blob::seal(&key, epoch, journal, &payload)?);
            }
            let used: usize = blobs.iter().map(|b| b.sealed.len()).sum();
            let objects = held_objects(tx, self.home(), &refs, used)?;
            let file = BundleFile {
                version: BUNDLE_VERSION,
                space: *journal.as_bytes(),
                keys,
                blobs,
                objects,
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
        let carried: Vec<(Epoch, SpaceKey)> = file
            .keys
            .iter()
            .map(|k| Ok((k.epoch, SpaceKey::from_bytes(&k.key)?)))
            .collect::<Result<_>>()?;
        // Epochs start at 1 and move one rotation at a time. A key for epoch 0 left the
        // journal without a key for its current epoch; one for epoch 4e9 sent every walk over
        // the journal's epochs (the next import, export, sync) through billions of lookups.
        if let Some((e, _)) = carried
            .iter()
            .find(|(e, _)| !(1..=MAX_KEY_EPOCH).contains(e))
        {
            return Err(Error::CorruptData(format!(
                "the bundle carries a key for epoch {e}; journals have epochs 1 to {MAX_KEY_EPOCH}"
            )));
        }
        // Keys this device already holds win; a bundle that disagrees with them is refused.
        // Only the epochs the bundle names matter: its keys' and its blobs'.
        let mut epochs: Vec<Epoch> = carried
            .iter()
            .map(|(e, _)| *e)
            .chain(
                file.blobs
                    .iter()
                    .filter_map(|b| crate::crypto::epoch_of(&b.sealed).ok()),
            )
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        let held: Vec<(Epoch, SpaceKey)> = self.read(|tx| {
            let mut held = Vec::new();
            if store::space(&tx.sql, &space)?.is_some() {
                for &e in &epochs {
                    if let Some(k) = tx.key_at(&space, e)? {
                        held.push((e, k));
                    }
                }
            }
            Ok(held)
        })?;
        if carried
            .iter()
            .any(|(e, k)| held.iter().any(|(he, hk)| he == e && hk != k))
        {
            return Err(Error::WrongKey(
                "the bundle's key differs from the key this device holds for the journal".into(),
            ));
        }
        let key_for = |e: Epoch| {
            held.iter()
                .chain(carried.iter())
                .find(|(he, _)| *he == e)
                .map(|(_, k)| k)
        };
        // Open every blob first: a wrong key or a tampered blob is refused before any write.
        let mut payloads = Vec::with_capacity(file.blobs.len());
        for b in &file.blobs {
            let key = key_for(crate::crypto::epoch_of(&b.sealed)?).ok_or_else(|| {
                Error::WrongKey(
                    "this device holds no key for the bundle's journal, and the bundle carries none"
                        .into(),
                )
            })?;
            payloads.push(blob::open(key, &space, b)?);
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

        // Sealed files only as the documents name them, and only when they hash right.
        let mut named = std::collections::HashMap::new();
        for p in payloads.iter().filter(|p| p.kind == DocKind::Entry) {
            let mut d = automerge::AutoCommit::new();
            if doc::load_foreign(&mut d, &p.data).is_ok() {
                for r in doc::attachments::list(&d) {
                    named.insert(r.original.hash, false);
                    if let Some(t) = r.thumb {
                        named.insert(t.hash, true);
                    }
                }
            }
        }
        let mut objects = Vec::new();
        for o in &file.objects {
            let Ok(hash) = <[u8; 32]>::try_from(o.hash.as_slice()) else {
                return Err(Error::CorruptData(
                    "a bundled attachment has a bad hash".into(),
                ));
            };
            if *blake3::hash(&o.data).as_bytes() != hash || named.get(&hash) != Some(&o.thumb) {
                return Err(Error::CorruptData(
                    "a bundled attachment is damaged or not the journal's".into(),
                ));
            }
            objects.push((hash, o));
        }
        for (hash, o) in &objects {
            crate::attachments::files::write(self.home(), hash, &o.data)?;
        }
        let report = self.write(|tx| {
            let report = apply(tx, space, &carried, &payloads)?;
            for (hash, o) in &objects {
                store::attachments::keep_file(&tx.sql, hash, o.data.len() as u64, o.thumb, tx.now)?;
            }
            Ok(report)
        })?;
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

/// The sealed files of `refs` this device holds: thumbnails always, originals while the
/// bundle (`used` bytes so far) stays under its limit.
fn held_objects(
    tx: &Tx<'_>,
    home: &std::path::Path,
    refs: &[doc::attachments::AttachmentRef],
    mut used: usize,
) -> Result<Vec<BundleObject>> {
    let room = MAX_BUNDLE_BYTES as usize - MAX_BUNDLE_BYTES as usize / 16;
    let thumbs = refs.iter().filter_map(|r| r.thumb).map(|o| (o, true));
    let originals = refs.iter().map(|r| (r.original, false));
    let mut out: Vec<BundleObject> = Vec::new();
    for (o, thumb) in thumbs.chain(originals) {
        if out.iter().any(|b| b.hash == o.hash)
            || store::attachments::file(&tx.sql, &o.hash)?.is_none()
            || used + o.sealed as usize > room
        {
            continue;
        }
        let path = crate::attachments::files::path(home, &o.hash);
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        used += data.len();
        out.push(BundleObject {
            hash: o.hash.to_vec(),
            thumb,
            data,
        });
    }
    Ok(out)
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
    keys: &[(Epoch, SpaceKey)],
    payloads: &[Payload],
) -> Result<ImportReport> {
    let new_journal = remote::ensure_space(tx, space, SpaceKind::Journal)?;
    for (epoch, key) in keys {
        if tx.key_at(&space, *epoch)?.is_none() {
            tx.put_key(&space, *epoch, key)?;
        }
    }
    // Into my key ring, so my other devices get the journal too (no change when it's there).
    super::keyring::add_to_keyring(tx, &space, keys)?;
    let mut report = ImportReport {
        journal: space,
        new_journal,
        entries_added: 0,
        entries_changed: 0,
        unchanged: 0,
    };
    // The meta document first: it tells who the authors are.
    let mut ordered: Vec<&Payload> = payloads.iter().collect();
    ordered.sort_by_key(|p| p.kind != DocKind::Meta);
    let mut devices = remote::space_devices(tx, &space)?;
    for p in ordered {
        match (remote::apply_payload(tx, space, p, &mut devices)?, p.kind) {
            (Outcome::Unchanged, DocKind::Entry) => report.unchanged += 1,
            (Outcome::Added, DocKind::Entry) => report.entries_added += 1,
            (Outcome::Changed, DocKind::Entry) => report.entries_changed += 1,
            (_, DocKind::Meta) => {}
        }
    }
    doc::meta::check_kind(tx.doc(tx.meta_ref(&space)?.rowid)?, SpaceKind::Journal)?;
    // Join the journal's member list (a local change that travels back with our next export).
    super::journals::join_space(tx, &space)?;
    Ok(report)
}
