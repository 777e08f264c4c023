//! Pulling: every space I'm a member of, my personal space first (its key ring may hold a
//! key the others need), page by page; each page applied with the advanced cursor in one
//! transaction. A blob that doesn't open or apply — or comes under a key epoch older than
//! one the space's log has moved to — is quarantined and skipped.

use std::collections::HashMap;

use duet_proto::ErrorCode as RelayCode;

use super::budget;
use crate::blob::{self, SealedBlob};
use crate::crypto::{self, Epoch};
use crate::doc;
use crate::engine::Duet;
use crate::engine::remote::{self, Outcome};
use crate::engine::tx::Tx;
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::model::SpaceKind;
use crate::store::{self, relay as rstore};

use super::client::RelayClient;
use super::snapshots::{install, open_snapshot};
use super::{Quarantined, SyncReport};

/// Blobs per pull page.
const PULL_PAGE: u32 = 500;

impl Duet {
    /// Blobs that failed to open or apply.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(rstore::quarantined(&self.lock().conn)?
            .into_iter()
            .map(|(space, seq, error)| Quarantined { space, seq, error })
            .collect())
    }

    /// Pull every space this device is a member of, personal space first (it carries the
    /// key ring the others may need).
    pub(super) async fn pull_all(&self, c: &RelayClient, report: &mut SyncReport) -> Result<()> {
        let mut spaces = c.spaces().await?;
        let personal = self.identity().personal_space;
        spaces.sort_by_key(|s| s.space_id != personal.0);
        self.add_my_devices(c, &spaces).await?;
        for info in spaces {
            let space = SpaceId(info.space_id);
            if !self.prepare_space(&space)? {
                tracing::debug!(%space, "no key for this space yet; skipping");
                continue;
            }
            // A rotation whose announcement didn't reach the relay (offline, a crash).
            let mine = store::key_epoch(&self.lock().conn, &space)?;
            if mine > info.key_epoch.max(1) {
                self.announce_epochs(c, &space, info.key_epoch.max(1), mine)
                    .await?;
            } else if info.key_epoch > mine {
                // Rotated elsewhere: the new key may wait as a drop for this device.
                self.take_key_drops(c, &space).await?;
            }
            self.pull_space(c, &space, Some(info.head), report).await?;
            if space == personal {
                self.absorb_keyring()?;
            }
        }
        Ok(())
    }

    /// Pull my personal space and take the keys of my key ring (a rotation or a journal
    /// made on another device of mine). Nothing to do before the space is on the relay.
    pub(super) async fn pull_personal(
        &self,
        c: &RelayClient,
        report: &mut SyncReport,
    ) -> Result<()> {
        let personal = self.identity().personal_space;
        if !rstore::sync_space(&self.lock().conn, &personal)?.1 {
            return Ok(());
        }
        match self.pull_space(c, &personal, None, report).await {
            Ok(()) => {}
            // Not (yet) a member there: the push creates or joins it, as for any space.
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::NotFound.as_str() => {
                tracing::debug!("my personal space is not on this relay yet");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.absorb_keyring()
    }

    /// Pull one space from our cursor, page by page, up to `head` when it is known.
    async fn pull_space(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        head: Option<u64>,
        report: &mut SyncReport,
    ) -> Result<()> {
        let (mut cursor, _) = rstore::sync_space(&self.lock().conn, space)?;
        // New here with a long log: the journal's snapshot first, then the log after it.
        if cursor == 0
            && let Some(h) = head
            && let Some(seq) = self.bootstrap(c, space, h, report).await?
        {
            cursor = seq;
        }
        // Each page is opened while the previous one's transaction runs; whatever the pages
        // end with, the last one opened is applied.
        let mut opened = None;
        let pulled = self
            .pull_pages(c, space, head, cursor, &mut opened, report)
            .await;
        let last = opened.map_or(Ok(()), |o| self.commit_page(space, o, report));
        pulled.and(last)
    }

    /// The pages of `space`'s log after `cursor`: each applied as the next one is opened,
    /// the last one opened left in `opened`.
    async fn pull_pages(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        head: Option<u64>,
        mut cursor: u64,
        opened: &mut Option<OpenedPage>,
        report: &mut SyncReport,
    ) -> Result<()> {
        let mut cuts = budget::Cuts::default();
        let mut asked_for_keys = false;
        while head.is_none_or(|h| cursor < h) {
            let bytes = budget::current();
            let mut page = match c.pull(space.0, cursor, PULL_PAGE, bytes).await {
                Ok(page) => page,
                // Cut mid-page: nothing of it is applied; ask for a smaller one.
                Err(Error::Offline(e)) if cuts.again(bytes) => {
                    tracing::debug!(%space, bytes, error = %e, "pull cut; trying a smaller page");
                    continue;
                }
                Err(e) => return Err(e),
            };
            budget::succeeded(bytes);
            cuts.reset();
            let waiting = self
                .hold_back_unkeyed(c, space, &mut page, &mut asked_for_keys)
                .await?;
            let more = page.more && !waiting;
            let last = page
                .blobs
                .last()
                .map(|b| b.seq)
                .or(page.snapshot.as_ref().map(|s| s.seq))
                .unwrap_or(cursor);
            *opened = Some(self.open_page_beside(space, page, opened.take(), report)?);
            if waiting || last <= cursor || (head.is_none() && !more) {
                break;
            }
            cursor = last;
        }
        Ok(())
    }

    /// Blobs under a key epoch the relay has announced but this device holds no key for
    /// (a rotation after one of my partner's or my devices was revoked): the keys dropped
    /// for this device are taken first (once per pull); a blob whose key still isn't here
    /// waits — the page is cut before it and this space's pull stops there — rather than
    /// being quarantined, since its key may come with a later drop. An epoch beyond the
    /// announced one is a forgery and is quarantined as before, and so is everything in a
    /// space I was removed from (no key will come: a relay that let me back in gives me
    /// nothing to wait for). Returns whether it cut.
    async fn hold_back_unkeyed(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        page: &mut duet_proto::Pulled,
        asked: &mut bool,
    ) -> Result<bool> {
        let ahead = |page: &duet_proto::Pulled, held: Epoch, announced: Epoch| {
            page.blobs
                .iter()
                .position(|b| crypto::epoch_of(&b.data).is_ok_and(|e| e > held && e <= announced))
        };
        let held = store::key_epoch(&self.lock().conn, space)?;
        if ahead(page, held, Epoch::MAX).is_none() || rstore::is_removed(&self.lock().conn, space)?
        {
            return Ok(false);
        }
        if !*asked {
            *asked = true;
            self.take_key_drops(c, space).await?;
        }
        let held = store::key_epoch(&self.lock().conn, space)?;
        if ahead(page, held, Epoch::MAX).is_none() {
            return Ok(false);
        }
        let announced = c
            .spaces()
            .await?
            .iter()
            .find(|i| i.space_id == space.0)
            .map_or(0, |i| i.key_epoch);
        let Some(i) = ahead(page, held, announced) else {
            return Ok(false);
        };
        tracing::info!(%space, held, announced, "blobs under a key not here yet wait for it");
        page.blobs.truncate(i);
        Ok(true)
    }

    /// Whether we can read `space`: we hold it, or my key ring has its key (then it is
    /// created locally, to be filled by the pull).
    fn prepare_space(&self, space: &SpaceId) -> Result<bool> {
        self.write(|tx| {
            if store::space(&tx.sql, space)?.is_some() {
                return Ok(true);
            }
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            let ring = doc::meta::keyring(tx.doc(meta.rowid)?);
            let keys: Vec<_> = ring.into_iter().filter(|(s, _, _)| s == space).collect();
            if keys.is_empty() {
                return Ok(false);
            }
            remote::ensure_space(tx, *space, SpaceKind::Journal)?;
            for (_, e, k) in keys {
                tx.put_key(space, e, &k)?;
            }
            rstore::set_on_relay(&tx.sql, space)?;
            Ok(true)
        })
    }

    /// Keys my other devices added to my key ring (new journals, rotations).
    fn absorb_keyring(&self) -> Result<()> {
        self.write(|tx| {
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            for (space, epoch, key) in doc::meta::keyring(tx.doc(meta.rowid)?) {
                if store::space(&tx.sql, &space)?.is_some() && tx.key_at(&space, epoch)?.is_none() {
                    tx.put_key(&space, epoch, &key)?;
                }
            }
            Ok(())
        })
    }

    /// Apply one pulled page and advance the cursor, in one transaction. A blob that does
    /// not open or apply is quarantined and skipped; it never blocks the ones after it.
    pub(super) fn apply_page(
        &self,
        space: &SpaceId,
        page: duet_proto::Pulled,
        report: &mut SyncReport,
    ) -> Result<()> {
        let keys = self.page_keys(space, &page)?;
        let opened = open_page(space, page, &keys);
        self.commit_page(space, opened, report)
    }

    /// Open `page` while the transaction of `previous` (opened before) runs beside it: the
    /// transaction takes one core, opening the other page both. Returns `page` opened.
    fn open_page_beside(
        &self,
        space: &SpaceId,
        page: duet_proto::Pulled,
        previous: Option<OpenedPage>,
        report: &mut SyncReport,
    ) -> Result<OpenedPage> {
        let keys = self.page_keys(space, &page)?;
        let Some(previous) = previous else {
            return Ok(open_page(space, page, &keys));
        };
        let (opened, committed) = std::thread::scope(|s| {
            let commit = s.spawn(|| self.commit_page(space, previous, report));
            let opened = open_page(space, page, &keys);
            (opened, commit.join())
        });
        committed.map_err(|_| Error::Internal("a pulled page's transaction panicked".into()))??;
        Ok(opened)
    }

    /// The keys a page's blobs are sealed under that this device holds.
    fn page_keys(
        &self,
        space: &SpaceId,
        page: &duet_proto::Pulled,
    ) -> Result<HashMap<Epoch, crypto::SpaceKey>> {
        self.write(|tx| {
            let mut keys = HashMap::new();
            for b in &page.blobs {
                if let Ok(e) = crypto::epoch_of(&b.data)
                    && !keys.contains_key(&e)
                    && let Some(k) = tx.key_at(space, e)?
                {
                    keys.insert(e, k);
                }
            }
            Ok(keys)
        })
    }

    /// Apply an opened page in one transaction, with the cursor moved past it.
    fn commit_page(
        &self,
        space: &SpaceId,
        opened: OpenedPage,
        report: &mut SyncReport,
    ) -> Result<()> {
        let space = *space;
        let OpenedPage {
            page,
            blobs: mut prepared,
        } = opened;
        let (applied, quarantined, n) = self.write(|tx| {
            let mut devices = remote::space_devices(tx, &space)?;
            let mut applied = 0;
            let mut quarantined = 0;
            let mut cursor = 0;
            // The newest key epoch seen in this log; a blob under an older one after it is
            // refused (see `check_epoch`).
            let mut newest = rstore::max_epoch(&tx.sql, &space)?;
            if let Some(s) = &page.snapshot {
                match open_snapshot(tx, &space, &s.data, newest) {
                    Ok((epoch, docs)) => {
                        newest = newest.max(epoch);
                        install(tx, &space, &docs, s.seq, epoch)?;
                        devices = remote::space_devices(tx, &space)?;
                    }
                    Err(e) => {
                        rstore::quarantine(
                            &tx.sql,
                            &space,
                            s.seq,
                            &[],
                            &s.data,
                            &e.to_string(),
                            tx.now,
                        )?;
                        quarantined += 1;
                    }
                }
                cursor = s.seq;
            }
            for (b, pre) in page.blobs.iter().zip(prepared.iter_mut()) {
                cursor = b.seq;
                // An entry new here, opened and read already: only rows to write, which fail
                // only as the store fails (and then the whole page does). No savepoint: each
                // one makes the full-text index flush what it holds (most of a pull's writes).
                if let Some((epoch, p, Some(prep))) = pre.as_ref()
                    && *epoch >= newest
                    && store::doc_row(&tx.sql, &uuid::Uuid::from_bytes(p.doc))?.is_none()
                {
                    newest = *epoch;
                    remote::apply_prepared(tx, space, p, prep, &devices)?;
                    applied += 1;
                    continue;
                }
                // Otherwise each blob applies in full or not at all: a savepoint undoes what
                // a failed apply wrote (e.g. the row of a document it was creating).
                store::savepoint(&tx.sql, "apply_blob")?;
                let opened = match pre.take() {
                    Some((epoch, p, prep)) => check_epoch(epoch, newest).map(|()| (epoch, p, prep)),
                    None => {
                        open_blob(tx, &space, &b.id, &b.data, newest).map(|(e, p)| (e, p, None))
                    }
                };
                if let Ok((epoch, _, _)) = &opened {
                    // Opened, so the epoch is authentic (it is bound into the AEAD): only
                    // then does it move the log's newest epoch.
                    newest = newest.max(*epoch);
                }
                let applied_one = opened.and_then(|(_, p, prep)| match prep {
                    Some(prep)
                        if store::doc_row(&tx.sql, &uuid::Uuid::from_bytes(p.doc))?.is_none() =>
                    {
                        remote::apply_prepared(tx, space, &p, &prep, &devices)
                    }
                    _ => remote::apply_payload(tx, space, &p, &mut devices),
                });
                match applied_one {
                    Ok(outcome) => {
                        store::release(&tx.sql, "apply_blob")?;
                        if outcome != Outcome::Unchanged {
                            applied += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%space, seq = b.seq, code = %e.code(), "quarantined a blob");
                        store::rollback_to(&tx.sql, "apply_blob")?;
                        // Whatever the failed apply left in memory is dropped.
                        tx.forget_cached_docs();
                        devices = remote::space_devices(tx, &space)?;
                        rstore::quarantine(
                            &tx.sql,
                            &space,
                            b.seq,
                            &b.id,
                            &b.data,
                            &e.to_string(),
                            tx.now,
                        )?;
                        quarantined += 1;
                    }
                }
            }
            if cursor > 0 {
                rstore::advance_cursor(&tx.sql, &space, cursor, newest)?;
            }
            Ok((applied, quarantined, page.blobs.len() as u32))
        })?;
        report.pulled += n;
        report.applied += applied;
        report.quarantined += quarantined;
        // An empty page (nothing new) is no progress: listeners hear only real steps.
        if n > 0 {
            self.progress(report);
        }
        Ok(())
    }
}

/// A blob under an older key epoch than one the space's log has already moved to is
/// refused: it was sealed with a key from before a rotation (which a removed member may
/// hold), after the rotation. Relays refuse to append one; this holds even if one doesn't.
pub(super) fn check_epoch(epoch: Epoch, newest: Epoch) -> Result<()> {
    if epoch < newest {
        return Err(Error::NotAllowed(format!(
            "sealed under key epoch {epoch} after this space's log had moved to epoch \
             {newest}: written with a key from before a rotation, which a removed member may \
             hold; never applied"
        )));
    }
    Ok(())
}

/// A pulled blob opened, with its entry prepared when it is one that may be new here.
type Opened = (Epoch, blob::Payload, Option<remote::Prepared>);

/// A pulled page and its blobs opened (`None`: opened again, and quarantined, by the
/// transaction), waiting for its transaction.
struct OpenedPage {
    page: duet_proto::Pulled,
    blobs: Vec<Option<Opened>>,
}

/// A page's blobs opened and their entries prepared ([`remote::prepare`]) on every core,
/// outside the store's lock: the page's transaction then mostly writes rows. A blob that
/// doesn't open here is `None`: the transaction opens it again and quarantines it with its
/// error. Epochs are checked in the transaction, in log order.
fn open_page(
    space: &SpaceId,
    page: duet_proto::Pulled,
    keys: &HashMap<Epoch, crypto::SpaceKey>,
) -> OpenedPage {
    let one = |b: &duet_proto::LogBlob| -> Option<Opened> {
        let id: [u8; 16] = b.id.as_slice().try_into().ok()?;
        let epoch = crypto::epoch_of(&b.data).ok()?;
        let p = blob::open(
            keys.get(&epoch)?,
            space,
            &SealedBlob {
                id,
                sealed: b.data.clone(),
            },
        )
        .ok()?;
        let prep = remote::prepare(p.kind, &p.data);
        Some((epoch, p, prep))
    };
    let blobs = crate::parallel::map(&page.blobs, one, || None);
    OpenedPage { page, blobs }
}

/// Open a pulled blob (refused when its epoch is older than `newest`); returns its epoch.
fn open_blob(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    id: &[u8],
    data: &[u8],
    newest: Epoch,
) -> Result<(Epoch, blob::Payload)> {
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| Error::CorruptData("a blob id is 16 bytes".into()))?;
    let epoch = crypto::epoch_of(data)?;
    check_epoch(epoch, newest)?;
    let key = tx
        .key_at(space, epoch)?
        .ok_or_else(|| Error::WrongKey(format!("no key for epoch {epoch} of this journal")))?;
    let p = blob::open(
        &key,
        space,
        &SealedBlob {
            id,
            sealed: data.to_vec(),
        },
    )?;
    Ok((epoch, p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::sync::testkit::{home, log_blob, page, rotate};

    #[test]
    fn a_blob_under_an_older_epoch_after_a_newer_one_is_quarantined() {
        let (_dir, duet) = home("Ada");
        let j = duet.create_journal("Us").unwrap();
        rotate(&duet, &j);
        let mut report = SyncReport::default();
        // Epoch 1, then 2: fine. Then 1 again, in the same page and in a later one: refused.
        let first = page(vec![
            log_blob(&duet, &j, 1, 1),
            log_blob(&duet, &j, 2, 2),
            log_blob(&duet, &j, 1, 3),
        ]);
        duet.apply_page(&j, first, &mut report).unwrap();
        assert_eq!((report.pulled, report.quarantined), (3, 1));
        assert_eq!(rstore::max_epoch(&duet.lock().conn, &j).unwrap(), 2);
        duet.apply_page(&j, page(vec![log_blob(&duet, &j, 1, 4)]), &mut report)
            .unwrap();
        duet.apply_page(&j, page(vec![log_blob(&duet, &j, 2, 5)]), &mut report)
            .unwrap();
        assert_eq!(report.quarantined, 2);
        let q = duet.quarantined().unwrap();
        assert_eq!(q.iter().map(|q| q.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert!(
            q[0].error.contains("epoch 1") && q[0].error.contains("epoch 2"),
            "{}",
            q[0].error
        );
        assert_eq!(rstore::sync_space(&duet.lock().conn, &j).unwrap().0, 5);

        // A forged header naming a later epoch doesn't open, so it can't move the bar.
        let mut forged = log_blob(&duet, &j, 2, 6);
        forged.data[1..5].copy_from_slice(&9u32.to_be_bytes());
        duet.apply_page(&j, page(vec![forged]), &mut report)
            .unwrap();
        assert_eq!(rstore::max_epoch(&duet.lock().conn, &j).unwrap(), 2);
    }
}
