//! Journal snapshots (ADR 16): every document of a journal with the index rows a reader
//! needs before loading them, deflated and sealed as one blob. A device that holds the whole
//! log uploads one now and then (and the relay may prune the log behind it); a device new
//! to the journal installs it first — listed and searchable at once, each document loaded
//! later, in the background or when opened — then pulls the log after it. Correctness never
//! rests on a snapshot: one that is missing, stale or doesn't open leaves the log to pull,
//! and a document that doesn't load is dropped and pulled again from the log.

use std::io::{Read, Write};

use crate::blob::{DocKind, Payload, SealedBlob, SnapshotIndex};
use crate::crypto::{self, Epoch};
use crate::doc::{self, entry::IndexFields};
use crate::engine::Duet;
use crate::engine::remote;
use crate::engine::tx::Tx;
use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};
use crate::model::{EntryEventKind, Origin, SpaceKind};
use crate::store::{self, attachments as astore, index, relay as rstore, snapshot as sstore};

use super::SyncReport;
use super::client::RelayClient;
use super::pull::check_epoch;

/// What a snapshot's plaintext starts with: deflated CBOR follows. (Without it, the
/// plaintext is the first version's CBOR list of payloads, which still opens.)
const MAGIC: &[u8; 4] = b"DSN2";
/// Largest inflated snapshot a reader takes: a forged one can't exhaust memory.
const MAX_INFLATED_BYTES: u64 = 2 << 30;
/// A journal whose log is shorter than this is pulled blob by blob even when new here.
const BOOTSTRAP_MIN_BLOBS: u64 = 100;
/// Documents loaded per batch in the background: a write waits at most one batch's rows
/// (the documents themselves load outside the lock).
const LOAD_BATCH: u32 = 128;

/// Whether a new snapshot is due: the log has grown past the last one by at least `every`
/// blobs and by half (so the bytes uploaded stay proportional to the bytes written).
pub(crate) fn snapshot_due(head: u64, last: u64, every: u64) -> bool {
    every > 0 && head >= last.saturating_add(every.max(last / 2))
}

impl Duet {
    /// Upload a sealed snapshot of a journal (every document's full state, with its index
    /// rows) covering the log up to the relay's current head, so that a new device shows
    /// the journal at once and the relay may prune the log behind it.
    pub async fn upload_snapshot(&self, journal: &SpaceId) -> Result<u64> {
        self.sync_now().await?;
        let c = self.relay_client()?;
        let head = c
            .spaces()
            .await?
            .into_iter()
            .find(|s| s.space_id == journal.0)
            .map(|s| s.head)
            .ok_or_else(|| Error::not_found("journal", journal))?;
        self.put_snapshot(&c, journal, head).await
    }

    /// After a sync: a snapshot for each journal whose log grew well past its last one
    /// (`Options::snapshot_every_blobs`). Never fails the sync; a refusal is logged.
    pub(super) async fn keep_snapshots(&self, c: &RelayClient) {
        let every = self.snapshot_every_blobs();
        // The cursor is at most the head: a journal not due by its cursor isn't by its head,
        // and then the relay isn't asked.
        let due = |space: &SpaceId, head: u64| -> Result<bool> {
            let conn = &self.lock().conn;
            let (cursor, _) = rstore::sync_space(conn, space)?;
            Ok(cursor >= head && snapshot_due(head, sstore::snapshot_seq(conn, space)?, every))
        };
        let journals = match self.journal_cursors() {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(code = %e.code(), "no snapshot: the store didn't answer");
                return;
            }
        };
        if !journals
            .iter()
            .any(|(s, cursor)| due(s, *cursor).unwrap_or(false))
        {
            return;
        }
        let spaces = match c.spaces().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(code = %e.code(), "no snapshot this time: the relay didn't answer");
                return;
            }
        };
        for info in spaces
            .into_iter()
            .filter(|s| s.kind == duet_proto::SpaceKind::Journal)
        {
            let space = SpaceId(info.space_id);
            if !due(&space, info.head).unwrap_or(false) {
                continue;
            }
            match self.put_snapshot(c, &space, info.head).await {
                Ok(seq) => tracing::info!(%space, seq, "uploaded a snapshot of a journal"),
                Err(e) => tracing::warn!(%space, code = %e.code(), "a snapshot wasn't uploaded"),
            }
        }
    }

    /// Journals held here and how far each is pulled.
    fn journal_cursors(&self) -> Result<Vec<(SpaceId, u64)>> {
        let conn = &self.lock().conn;
        store::spaces(conn)?
            .into_iter()
            .filter(|s| s.kind == SpaceKind::Journal)
            .map(|s| Ok((s.id, rstore::sync_space(conn, &s.id)?.0)))
            .collect()
    }

    /// Seal and upload a snapshot of what this device holds of `journal`, which must be
    /// everything up to `head`. Read from the store without loading a document; the
    /// deflating and sealing happen outside the store's lock.
    async fn put_snapshot(&self, c: &RelayClient, journal: &SpaceId, head: u64) -> Result<u64> {
        let (docs, epoch, key) = self.write(|tx| {
            let (cursor, _) = rstore::sync_space(&tx.sql, journal)?;
            if cursor < head {
                // Someone wrote meanwhile; the snapshot must cover exactly what we hold.
                return Err(Error::NotAllowed(
                    "the journal changed during the snapshot; try again".into(),
                ));
            }
            // The snapshot carries the full-text rows: bring stale ones up to date first.
            tx.refresh_fts()?;
            let docs = sstore::export(&tx.sql, journal)?;
            let (epoch, key) = tx.key(journal)?;
            Ok((docs, epoch, key))
        })?;
        let mut plain = encode(&docs)?;
        drop(docs);
        let id = crypto::new_blob_id();
        crypto::pad_for_sealing(&mut plain);
        let sealed = crypto::seal(&key, epoch, journal, &id, &plain)?;
        drop(plain);
        let mut data = Vec::with_capacity(sealed.len() + 32);
        ciborium::into_writer(&SealedBlob { id, sealed }, &mut data)
            .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
        c.put_snapshot(journal.0, &duet_proto::Snapshot { seq: head, data })
            .await?;
        self.write(|tx| sstore::set_snapshot_seq(&tx.sql, journal, head))?;
        Ok(head)
    }

    /// A journal new to this device, with a long log: install its newest snapshot, if the
    /// relay has one that opens. Returns the log position it covers (the pull goes on from
    /// there), or `None` to pull the whole log.
    pub(super) async fn bootstrap(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        head: u64,
        report: &mut SyncReport,
    ) -> Result<Option<u64>> {
        if head < BOOTSTRAP_MIN_BLOBS || sstore::has_entries(&self.lock().conn, space)? {
            return Ok(None);
        }
        let Some(s) = c.snapshot(space.0).await? else {
            return Ok(None);
        };
        if s.seq == 0 || s.seq > head {
            return Ok(None);
        }
        let installed = self.write(|tx| {
            let newest = rstore::max_epoch(&tx.sql, space)?;
            let (epoch, docs) = open_snapshot(tx, space, &s.data, newest)?;
            install(tx, space, &docs, s.seq, epoch)
        });
        match installed {
            Ok(n) => {
                tracing::info!(%space, seq = s.seq, entries = n, "installed a journal snapshot");
                report.applied += n;
                self.progress(report);
                Ok(Some(s.seq))
            }
            Err(e) => {
                // Nothing of it stays (one transaction): the log is pulled instead.
                tracing::warn!(%space, code = %e.code(), "a snapshot didn't install; pulling the log");
                Ok(None)
            }
        }
    }

    /// Load up to `max` documents a snapshot installed, newest first, a small batch per
    /// transaction: each one's index rows are rebuilt from the document itself. A document
    /// that doesn't load is dropped, and its journal's log pulled again from the start at
    /// the next sync (what is here merges as a no-op). Returns how many are left.
    pub fn load_documents(&self, max: u64) -> Result<u64> {
        let mut done = 0;
        loop {
            let batch = LOAD_BATCH.min(u32::try_from(max - done).unwrap_or(u32::MAX));
            // A batch's bytes read under the lock, loaded and read on every core without it,
            // its rows written under it again.
            let todo = self.write(|tx| {
                sstore::unloaded(&tx.sql, batch)?
                    .into_iter()
                    .map(|(rowid, id, space)| {
                        Ok((rowid, id, space, store::doc_data(&tx.sql, rowid)?))
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            let prepared = crate::parallel::map(
                &todo,
                |(_, _, _, data)| remote::prepare(DocKind::Entry, data),
                || None,
            );
            let left = self.write(|tx| {
                for ((rowid, id, space, data), prep) in todo.iter().zip(&prepared) {
                    let entry = EntryId(*id);
                    match prep {
                        // Unless it changed meanwhile (an edit appends or compacts).
                        Some(prep) if store::doc_len(&tx.sql, *rowid)? == data.len() as u64 => {
                            remote::index_prepared(tx, *rowid, &entry, space, prep)?;
                            sstore::set_loaded(&tx.sql, *rowid)?;
                        }
                        _ => load_one(tx, *rowid, entry, space)?,
                    }
                }
                sstore::unloaded_count(&tx.sql)
            })?;
            done += todo.len() as u64;
            if todo.is_empty() || left == 0 || done >= max {
                return Ok(left);
            }
        }
    }

    /// How many documents a snapshot installed are not loaded yet.
    pub fn documents_to_load(&self) -> Result<u64> {
        sstore::unloaded_count(&self.lock().conn)
    }
}

/// Install a snapshot's documents, in the caller's transaction, and move the cursor to the
/// log position it covers. An entry new here with its index rows is stored as it came,
/// indexed from them and noted to be loaded later; anything else (the meta document, an
/// entry this device holds already or must index itself) is applied like a pulled blob.
/// Returns how many documents it added or changed.
pub(super) fn install(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    docs: &[Payload],
    seq: u64,
    epoch: Epoch,
) -> Result<u32> {
    let mut devices = remote::space_devices(tx, space)?;
    let mut n = 0;
    for d in docs {
        let id = uuid::Uuid::from_bytes(d.doc);
        match &d.index {
            Some(ix) if d.kind == DocKind::Entry && store::doc_row(&tx.sql, &id)?.is_none() => {
                install_entry(tx, space, id, &d.data, ix)?;
                n += 1;
            }
            _ => {
                if remote::apply_payload(tx, *space, d, &mut devices)? != remote::Outcome::Unchanged
                {
                    n += 1;
                }
            }
        }
    }
    rstore::advance_cursor(&tx.sql, space, seq, epoch)?;
    sstore::set_snapshot_seq(&tx.sql, space, seq)?;
    Ok(n)
}

/// One entry from a snapshot, without loading its document.
fn install_entry(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    id: uuid::Uuid,
    data: &[u8],
    ix: &SnapshotIndex,
) -> Result<()> {
    let rowid = store::insert_doc(&tx.sql, &id, space, DocKind::Entry.as_str())?;
    store::append_chunk(&tx.sql, rowid, data)?;
    let entry = EntryId(id);
    let fields = IndexFields {
        kind: ix.kind,
        author: ix.author,
        created_at: ix.created_at,
        deleted_at: ix.deleted_at,
        title: ix.title.clone(),
        excerpt: doc::entry::excerpt_of(&ix.body),
        tags: ix.tags.clone(),
        prompt_id: ix.prompt_id.clone(),
        mood: ix.mood,
        closeness: ix.closeness,
        reaction_count: ix.reaction_count,
        reply_count: ix.reply_count,
        sealed_round: None,
    };
    index::upsert(&tx.sql, rowid, &entry, space, &fields, ix.updated_at, 0)?;
    index::set_fts(&tx.sql, rowid, &ix.title, &ix.body, &ix.extra)?;
    let refs: Vec<_> = ix
        .attachments
        .iter()
        .map(|a| (a.id, a.hash, a.thumb))
        .collect();
    astore::set_for_doc(&tx.sql, rowid, &refs)?;
    sstore::mark_unloaded(&tx.sql, rowid)?;
    tx.event(
        EntryEventKind::Added,
        entry,
        *space,
        Some(ix.author),
        Origin::Remote,
    );
    Ok(())
}

/// Load one installed document and index it from itself; one that doesn't load is dropped
/// (see [`Duet::load_documents`]).
fn load_one(tx: &mut Tx<'_>, rowid: i64, entry: EntryId, space: &SpaceId) -> Result<()> {
    store::savepoint(&tx.sql, "load_doc")?;
    tx.touch(rowid);
    let loaded = tx
        .doc(rowid)
        .and_then(|d| doc::check_schema(d))
        // `updated_at` 0: the index keeps the newest time it has seen.
        .and_then(|()| tx.reindex(rowid, &entry, space, 0, true));
    match loaded {
        Ok(()) => store::release(&tx.sql, "load_doc")?,
        Err(e) => {
            tracing::warn!(%space, code = %e.code(), "a document from a snapshot didn't load; pulling the log again");
            store::rollback_to(&tx.sql, "load_doc")?;
            tx.forget_cached_docs();
            sstore::drop_doc(&tx.sql, rowid)?;
            sstore::reset_cursor(&tx.sql, space)?;
        }
    }
    sstore::set_loaded(&tx.sql, rowid)
}

/// A snapshot's plaintext: the magic, then its documents as deflated CBOR.
fn encode(docs: &[Payload]) -> Result<Vec<u8>> {
    let mut z = flate2::write::DeflateEncoder::new(MAGIC.to_vec(), flate2::Compression::fast());
    ciborium::into_writer(docs, &mut z)
        .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
    z.flush()
        .and_then(|()| z.finish())
        .map_err(|e| Error::Internal(format!("deflating a snapshot: {e}")))
}

/// A snapshot's documents from its plaintext (either version; padding after it ignored).
fn decode(plain: &[u8]) -> Result<Vec<Payload>> {
    let bad = |e: &dyn std::fmt::Display| Error::CorruptData(format!("snapshot: {e}"));
    match plain.strip_prefix(MAGIC) {
        Some(z) => {
            let r = std::io::BufReader::new(
                flate2::read::DeflateDecoder::new(z).take(MAX_INFLATED_BYTES),
            );
            ciborium::from_reader(r).map_err(|e| bad(&e))
        }
        None => ciborium::from_reader(plain).map_err(|e| bad(&e)),
    }
}

/// A snapshot is a sealed blob whose payload lists every document's full state. It counts
/// as part of the log: refused under an epoch older than `newest`; returns its epoch.
pub(super) fn open_snapshot(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    data: &[u8],
    newest: Epoch,
) -> Result<(Epoch, Vec<Payload>)> {
    let sb: SealedBlob =
        ciborium::from_reader(data).map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    let epoch = crypto::epoch_of(&sb.sealed)?;
    check_epoch(epoch, newest)?;
    let key = tx
        .key_at(space, epoch)?
        .ok_or_else(|| Error::WrongKey(format!("no key for epoch {epoch} of this journal")))?;
    let plain = crypto::open(&key, space, &sb.id, &sb.sealed)?;
    Ok((epoch, decode(&plain)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::sync::SyncReport;
    use crate::sync::testkit::{home, key_at, log_blob, open, page, rotate};

    #[test]
    fn a_snapshot_counts_toward_the_newest_epoch() {
        let (_dir, duet) = home("Ada");
        let j = duet.create_journal("Us").unwrap();
        rotate(&duet, &j);
        let snapshot = |epoch: Epoch, seq: u64| {
            let b = log_blob(&duet, &j, epoch, seq);
            let meta = open(&key_at(&duet, &j, epoch), &j, &b.id, &b.data);
            let mut plain = Vec::new();
            ciborium::into_writer(&vec![meta], &mut plain).unwrap();
            let id = crypto::new_blob_id();
            let sealed = crypto::seal(&key_at(&duet, &j, epoch), epoch, &j, &id, &plain).unwrap();
            let mut data = Vec::new();
            ciborium::into_writer(&SealedBlob { id, sealed }, &mut data).unwrap();
            duet_proto::Snapshot { seq, data }
        };
        let mut report = SyncReport::default();
        let mut p = page(vec![log_blob(&duet, &j, 1, 11)]);
        p.snapshot = Some(snapshot(2, 10));
        duet.apply_page(&j, p, &mut report).unwrap();
        assert_eq!(report.quarantined, 1);
        assert_eq!(duet.quarantined().unwrap()[0].seq, 11);
        // ... and one under an older epoch than the log's is refused like a blob.
        let mut p = page(vec![]);
        p.snapshot = Some(snapshot(1, 12));
        duet.apply_page(&j, p, &mut report).unwrap();
        assert_eq!(report.quarantined, 2);
    }
}
