//! Pushing the outbox: one space at a time, my personal space first, each batch sealed
//! under the space's current key epoch and recorded sealed before it is sent (a retry
//! resends the same bytes). A space the relay refuses for a newer key waits for it.

use duet_proto::ErrorCode as RelayCode;

use crate::blob::{self, SealedBlob};
use crate::crypto::Epoch;
use crate::engine::Duet;
use crate::engine::tx::Tx;
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::model::SpaceKind;
use crate::store::{self, relay as rstore};

use super::SyncReport;
use super::budget;
use super::client::RelayClient;
use super::members::record_relay_device;

/// Blobs per push request, and about how many bytes.
const PUSH_BATCH: usize = 500;

/// A queued row as sealed for the push at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outgoing {
    pub seq: i64,
    pub id: Vec<u8>,
    pub data: Vec<u8>,
}

impl Duet {
    /// Push the outbox, one space at a time: my personal space first (it carries my key
    /// ring, so my other devices get a new key before anything sealed under it), then the
    /// others, oldest first. Each batch is sealed, and recorded sealed, before it is sent.
    /// A space the relay refuses for a key this device doesn't have yet stays queued and
    /// the others go on; the push then ends with [`Error::StaleEpoch`].
    pub(crate) async fn push_outbox(&self, c: &RelayClient, report: &mut SyncReport) -> Result<()> {
        let personal = self.identity().personal_space;
        let mut stale: Vec<SpaceId> = Vec::new();
        let mut cuts = budget::Cuts::default();
        loop {
            let next = rstore::outbox_next_space(&self.lock().conn, &personal, &stale)?;
            let Some(space) = next else {
                return match stale.first() {
                    Some(space) => Err(Error::StaleEpoch {
                        space: space.to_string(),
                    }),
                    None => Ok(()),
                };
            };
            self.ensure_on_relay(c, &space).await?;
            let bytes = budget::current();
            let (epoch, batch) = self.seal_batch(&space, bytes as usize)?;
            if batch.is_empty() {
                continue;
            }
            let blobs = batch
                .iter()
                .map(|o| duet_proto::PushBlob {
                    id: o.id.clone(),
                    data: o.data.clone(),
                })
                .collect();
            match c.push(space.0, blobs).await {
                Ok(_) => {
                    budget::succeeded(bytes);
                    cuts.reset();
                }
                // Cut before the answer: the batch may or may not be stored; it goes again,
                // smaller, with the same ids and bytes (a retry of a stored blob is a no-op).
                Err(Error::Offline(e)) if cuts.again(bytes) => {
                    tracing::debug!(%space, bytes, error = %e, "push cut; trying a smaller batch");
                    continue;
                }
                // The space moved to a newer key than ours (another device of mine rotated
                // it): fetch my key ring; with a newer key the batch is sealed again.
                Err(Error::RelayRefused { code, .. }) if code == RelayCode::StaleEpoch.as_str() => {
                    tracing::info!(%space, epoch, "the relay holds a newer key epoch; pulling my key ring");
                    self.pull_personal(c, report).await?;
                    if store::key_epoch(&self.lock().conn, &space)? <= epoch {
                        tracing::warn!(%space, "no newer key for a space the relay moved on; its changes stay queued");
                        stale.push(space);
                    }
                    continue;
                }
                // 404 for a space the relay knew: unless the space is simply gone from our
                // list, a partner removed us. Park its blobs and go on with the others.
                Err(Error::RelayRefused { code, .. })
                    if code == RelayCode::NotFound.as_str()
                        && !c.spaces().await?.iter().any(|s| s.space_id == space.0) =>
                {
                    tracing::info!(%space, "removed from this journal; its queued changes stay on this device");
                    let now = self.now();
                    rstore::set_removed(&self.lock().conn, &space, now)?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let seqs: Vec<i64> = batch.iter().map(|o| o.seq).collect();
            rstore::outbox_remove(&self.lock().conn, &seqs)?;
            report.pushed += seqs.len() as u32;
            self.progress(report);
        }
    }

    /// Seal the next batch of `space` under its current key epoch and record each row's
    /// id and sealed bytes before anything is sent: a retry resends exactly those (the
    /// relay refuses a known id with other bytes, and every sealing picks a new nonce).
    /// Rows sealed under an epoch the space has since moved past are opened with the old
    /// key and sealed again under a new id. Returns the epoch and (seq, id, sealed bytes).
    pub(super) fn seal_batch(
        &self,
        space: &SpaceId,
        max_bytes: usize,
    ) -> Result<(Epoch, Vec<Outgoing>)> {
        let space = *space;
        self.write(|tx| {
            let rows = rstore::outbox_rows(&tx.sql, &space, PUSH_BATCH, max_bytes)?;
            let (epoch, key) = tx.key(&space)?;
            let mut out = Vec::with_capacity(rows.len());
            for q in rows {
                let payload = match (q.sealed, q.payload) {
                    (Some(s), _) if s.epoch.is_none_or(|e| e >= epoch) => {
                        out.push(Outgoing {
                            seq: q.seq,
                            id: s.blob_id,
                            data: s.sealed,
                        });
                        continue;
                    }
                    (Some(s), _) => reopen(tx, &space, &s)?,
                    (None, Some(p)) => p,
                    (None, None) => return Err(Error::Internal("an empty outbox row".into())),
                };
                let b = blob::seal(&key, epoch, &space, &payload)?;
                rstore::outbox_set_sealed(&tx.sql, q.seq, &b.id, epoch, &b.sealed)?;
                out.push(Outgoing {
                    seq: q.seq,
                    id: b.id.to_vec(),
                    data: b.sealed,
                });
            }
            Ok((epoch, out))
        })
    }

    /// Make sure the relay holds `space` and this device (and my other devices) are members.
    pub(super) async fn ensure_on_relay(&self, c: &RelayClient, space: &SpaceId) -> Result<()> {
        let (_, on_relay) = rstore::sync_space(&self.lock().conn, space)?;
        if on_relay {
            return Ok(());
        }
        let kind = store::space(&self.lock().conn, space)?.map_or(SpaceKind::Journal, |s| s.kind);
        c.create_space(space.0, kind).await?;
        // Whether we created it or it existed, we must be able to read it.
        if !c.spaces().await?.iter().any(|s| s.space_id == space.0) {
            return Err(Error::RelayRefused {
                code: "not_found".into(),
                message: "this journal exists on the relay but this device is not a member; join it with an invite".into(),
            });
        }
        for dev in self.my_other_relay_devices()? {
            // A device revoked meanwhile is simply not added.
            let _ = c.add_member(space.0, dev).await;
        }
        self.write(|tx| {
            rstore::set_on_relay(&tx.sql, space)?;
            record_relay_device(tx, space)
        })
    }
}

/// Open a row sealed for an earlier push under an epoch the space has moved past.
fn reopen(tx: &mut Tx<'_>, space: &SpaceId, s: &rstore::SealedRow) -> Result<blob::Payload> {
    let epoch = s
        .epoch
        .ok_or_else(|| Error::Internal("a queued blob without an epoch".into()))?;
    let key = tx.key_at(space, epoch)?.ok_or_else(|| {
        Error::WrongKey(format!(
            "no key for epoch {epoch} of a space with changes queued under it"
        ))
    })?;
    let id = s
        .blob_id
        .as_slice()
        .try_into()
        .map_err(|_| Error::CorruptData("a queued blob id is 16 bytes".into()))?;
    blob::open(
        &key,
        space,
        &SealedBlob {
            id,
            sealed: s.sealed.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::crypto;
    use crate::error::ErrorCode;
    use crate::store::inspect::{self, RawOutboxRow as Row};
    use crate::sync::testkit::{entry, home, key_at, open, refused, relay, rotate};

    fn rows(duet: &Duet, space: &SpaceId) -> Vec<Row> {
        inspect::outbox_rows(&duet.lock().conn, space)
    }

    #[test]
    fn writes_queue_in_the_clear_and_a_push_seals_under_the_current_epoch() {
        let (_dir, duet) = home("Ada");
        let j = duet.create_journal("Us").unwrap();
        entry(&duet, &j, "we walked to the lighthouse");
        let queued = rows(&duet, &j);
        assert!(queued.len() >= 2, "{queued:?}");
        // The writing path seals nothing.
        assert!(queued.iter().all(|(_, id, e, sealed, data)| id.is_none()
            && e.is_none()
            && sealed.is_none()
            && data.is_some()));
        // A rotation before the push: what was written before it goes out under the new key.
        let (epoch, key) = rotate(&duet, &j);
        assert_eq!(epoch, 2);
        let (sealed_under, batch) = duet.seal_batch(&j, budget::MAX_BYTES as usize).unwrap();
        assert_eq!(sealed_under, 2);
        assert_eq!(batch.len(), queued.len());
        for (Outgoing { seq, id, data }, (qseq, _, _, _, clear)) in batch.iter().zip(&queued) {
            assert_eq!(seq, qseq);
            assert_eq!(crypto::epoch_of(data).unwrap(), 2);
            assert_eq!(&open(&key, &j, id, data).data, clear.as_ref().unwrap());
            let old = key_at(&duet, &j, 1);
            assert!(
                blob::open(
                    &old,
                    &j,
                    &SealedBlob {
                        id: id.as_slice().try_into().unwrap(),
                        sealed: data.clone(),
                    }
                )
                .is_err()
            );
        }
        // Recorded before sending, in place of the clear bytes ...
        let recorded = rows(&duet, &j);
        for (Outgoing { id, data, .. }, (_, rid, re, rsealed, rdata)) in batch.iter().zip(&recorded)
        {
            assert_eq!(rid.as_ref(), Some(id));
            assert_eq!(*re, Some(2));
            assert_eq!(rsealed.as_ref(), Some(data));
            assert!(rdata.is_none());
        }
        // ... so a retry sends exactly the same ids and bytes.
        let (_, again) = duet.seal_batch(&j, budget::MAX_BYTES as usize).unwrap();
        assert_eq!(again, batch);
    }

    #[test]
    fn a_row_sealed_before_a_rotation_is_sealed_again_under_a_new_id() {
        let (_dir, duet) = home("Ada");
        let j = duet.create_journal("Us").unwrap();
        entry(&duet, &j, "first");
        let (e1, first) = duet.seal_batch(&j, budget::MAX_BYTES as usize).unwrap();
        assert_eq!(e1, 1);
        // A row queued before V4 (sealed at write time, under epoch 1).
        let key1 = key_at(&duet, &j, 1);
        let legacy = blob::seal(
            &key1,
            1,
            &j,
            &blob::Payload {
                doc: [9; 16],
                kind: blob::DocKind::Entry,
                data: vec![1, 2, 3],
                index: None,
            },
        )
        .unwrap();
        inspect::outbox_put_sealed(&duet.lock().conn, &j, &legacy.id, 1, &legacy.sealed);

        let (_, key2) = rotate(&duet, &j);
        let (e2, second) = duet.seal_batch(&j, budget::MAX_BYTES as usize).unwrap();
        assert_eq!(e2, 2);
        assert_eq!(second.len(), first.len() + 1);
        for (i, Outgoing { seq, id, data }) in second.iter().enumerate() {
            assert_eq!(crypto::epoch_of(data).unwrap(), 2);
            let now = open(&key2, &j, id, data);
            let (before_id, before) = match first.get(i) {
                Some(Outgoing { seq: s, id, data }) => {
                    assert_eq!(s, seq);
                    (id.clone(), data.clone())
                }
                None => (legacy.id.to_vec(), legacy.sealed.clone()),
            };
            // A new id: the relay may hold the old one already, with other bytes.
            assert_ne!(*id, before_id);
            let was = open(&key1, &j, &before_id, &before);
            assert_eq!((now.doc, now.kind, now.data), (was.doc, was.kind, was.data));
        }
    }

    #[test]
    fn my_personal_space_is_pushed_first() {
        let (_dir, duet) = home("Ada");
        let personal = duet.identity().personal_space;
        let j = duet.create_journal("Us").unwrap();
        inspect::outbox_clear(&duet.lock().conn, Some(&personal));
        entry(&duet, &j, "older");
        let next = |d: &Duet| rstore::outbox_next_space(&d.lock().conn, &personal, &[]).unwrap();
        assert_eq!(next(&duet), Some(j));
        entry(&duet, &personal, "a draft, newer");
        assert_eq!(next(&duet), Some(personal));
        // Parked (removed from it): the rest goes on.
        rstore::set_removed(&duet.lock().conn, &j, 1).unwrap();
        inspect::outbox_clear(&duet.lock().conn, Some(&personal));
        assert_eq!(next(&duet), None);
    }

    /// A relay at epoch 2 for the journal refuses what is sealed under 1: the push pulls my
    /// key ring, and without a newer key it ends with `StaleEpoch`, the rest pushed and
    /// nothing dropped. Once the key is here, the refused rows go out under new ids.
    #[tokio::test]
    async fn a_push_refused_for_a_stale_epoch_waits_for_the_key_then_reseals() {
        let (_dir, duet) = home("Ada");
        let personal = duet.identity().personal_space;
        let j = duet.create_journal("Us").unwrap();
        entry(&duet, &j, "written before the rotation reached this device");
        type Accepted = std::sync::Mutex<Vec<(Uuid, Vec<u8>, Epoch)>>;
        let accepted: Arc<Accepted> = Arc::default();
        let log = accepted.clone();
        let journal = j.0;
        let url = relay(Arc::new(move |method, path, _, body| {
            let space = path
                .strip_prefix("v1/spaces/")
                .and_then(|p| p.split('/').next())
                .and_then(|p| p.parse::<Uuid>().ok());
            match (method, space) {
                ("POST", Some(space)) if path.ends_with("/blobs") => {
                    let push: duet_proto::Push = duet_proto::from_cbor(body).unwrap();
                    let epochs: Vec<Epoch> = push
                        .blobs
                        .iter()
                        .map(|b| duet_proto::sealed::epoch_of(&b.data).unwrap())
                        .collect();
                    if space == journal && epochs.iter().any(|e| *e < 2) {
                        return refused(RelayCode::StaleEpoch);
                    }
                    let mut log = log.lock().unwrap();
                    for (b, e) in push.blobs.iter().zip(epochs) {
                        log.push((space, b.id.clone(), e));
                    }
                    let seqs = (1..=push.blobs.len() as u64).collect();
                    let pushed = duet_proto::Pushed { seqs, head: 0 };
                    (200, duet_proto::to_cbor(&pushed))
                }
                // My personal space's log holds no new key.
                ("GET", Some(_)) => (
                    200,
                    duet_proto::to_cbor(&duet_proto::Pulled {
                        blobs: vec![],
                        head: 0,
                        more: false,
                        snapshot: None,
                    }),
                ),
                _ => refused(RelayCode::NotFound),
            }
        }));
        duet.set_relay(&url).unwrap();
        {
            let g = duet.lock();
            rstore::set_credentials(&g.conn, &Uuid::from_u128(5), "t").unwrap();
            rstore::set_on_relay(&g.conn, &personal).unwrap();
            rstore::set_on_relay(&g.conn, &j).unwrap();
        }
        let c = duet.relay_client().unwrap();
        let queued = rows(&duet, &j).len();

        let mut report = SyncReport::default();
        let e = duet.push_outbox(&c, &mut report).await.unwrap_err();
        assert!(matches!(e, Error::StaleEpoch { .. }), "{e:?}");
        assert_eq!(e.code(), ErrorCode::RelayRefused);
        // The personal space went out; the journal's rows wait, sealed under epoch 1.
        assert!(
            accepted
                .lock()
                .unwrap()
                .iter()
                .all(|(s, _, _)| *s == personal.0)
        );
        assert!(rows(&duet, &personal).is_empty());
        let waiting = rows(&duet, &j);
        assert_eq!(waiting.len(), queued);
        assert!(waiting.iter().all(|r| r.2 == Some(1)));

        // The new key arrives (here: rotated in place): sealed again, under new ids.
        rotate(&duet, &j);
        duet.push_outbox(&c, &mut report).await.unwrap();
        assert!(rows(&duet, &j).is_empty());
        let sent: Vec<_> = accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| *s == j.0)
            .map(|(_, id, e)| (id.clone(), *e))
            .collect();
        assert_eq!(sent.len(), queued);
        for ((id, e), old) in sent.iter().zip(&waiting) {
            assert_eq!(*e, 2);
            assert_ne!(Some(id), old.1.as_ref());
        }
    }
}
