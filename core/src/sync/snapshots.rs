//! Snapshots: a journal's every document, sealed as one blob, so the relay may prune the
//! log behind it; and opening one when a pull is behind the pruned log.

use crate::blob::{self, SealedBlob};
use crate::crypto::{self, Epoch};
use crate::doc;
use crate::engine::Duet;
use crate::engine::tx::Tx;
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::store::{self, relay as rstore};

use super::pull::check_epoch;

impl Duet {
    /// Upload a sealed snapshot of a journal (every document's full state) covering the
    /// log up to the relay's current head, so the relay may prune the log behind it.
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
        let (cursor, _) = rstore::sync_space(&self.lock().conn, journal)?;
        if cursor < head {
            // Someone wrote meanwhile; the snapshot must cover exactly what we hold.
            return Err(Error::NotAllowed(
                "the journal changed during the snapshot; try again".into(),
            ));
        }
        let data = self.read(|tx| {
            let mut payloads = Vec::new();
            for (rowid, id, kind) in store::space_docs(&tx.sql, journal)? {
                let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
                let mut d = doc::load_doc(
                    &tx.me.device,
                    snapshot.as_deref(),
                    chunks.iter().map(Vec::as_slice),
                )?;
                payloads.push(blob::Payload {
                    doc: *id.as_bytes(),
                    kind: if kind == "meta" {
                        blob::DocKind::Meta
                    } else {
                        blob::DocKind::Entry
                    },
                    data: d.save(),
                });
            }
            let mut plain = Vec::new();
            ciborium::into_writer(&payloads, &mut plain)
                .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
            let (epoch, key) = tx.key(journal)?;
            let id = crypto::new_blob_id();
            crypto::pad_for_sealing(&mut plain);
            let sealed = crypto::seal(&key, epoch, journal, &id, &plain)?;
            let mut out = Vec::new();
            ciborium::into_writer(&SealedBlob { id, sealed }, &mut out)
                .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
            Ok(out)
        })?;
        c.put_snapshot(journal.0, &duet_proto::Snapshot { seq: head, data })
            .await?;
        Ok(head)
    }
}

/// A snapshot is a sealed blob whose payload list holds every document's full save. It
/// counts as part of the log: refused under an epoch older than `newest`; returns its epoch.
pub(super) fn open_snapshot(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    data: &[u8],
    newest: Epoch,
) -> Result<(Epoch, Vec<blob::Payload>)> {
    let sb: SealedBlob =
        ciborium::from_reader(data).map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    let epoch = crypto::epoch_of(&sb.sealed)?;
    check_epoch(epoch, newest)?;
    let key = tx
        .key_at(space, epoch)?
        .ok_or_else(|| Error::WrongKey(format!("no key for epoch {epoch} of this journal")))?;
    let plain = crypto::open(&key, space, &sb.id, &sb.sealed)?;
    let payloads = ciborium::from_reader(plain.as_slice())
        .map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    Ok((epoch, payloads))
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
