//! Rotations a device of mine must not follow, and the key drops that carry their keys.
//!
//! Revoking one of my devices (a lost phone) rotates every space it could read: my
//! personal space and every journal I'm still in. Each new key is kept here first, with a
//! note that its drops are owed (`pending_drops`), all in one transaction; then, at once or
//! at the next sync, the epoch is announced to the relay and the key is sealed to the
//! exchange key of every other member device the space's meta document names
//! (`keydrop.rs`) — my other devices and my partner's — before anything is pushed under it.
//! A device that meets an epoch it holds no key for takes its drops first
//! (`take_key_drops`). My other devices get the new journal keys from my key ring too, once
//! they hold the new key of my personal space.

use duet_proto::{ErrorCode as RelayCode, KeyDrop, limits::MAX_KEY_DROPS};
use uuid::Uuid;

use crate::crypto::Epoch;
use crate::doc;
use crate::engine::Duet;
use crate::engine::keyring::{keep_keys, new_key_at};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::SpaceId;
use crate::keydrop::{self, DropFor};
use crate::model::SpaceKind;
use crate::store::{self, keys as kstore, relay as rstore};

use super::client::RelayClient;

impl Duet {
    /// Revoke a device of mine at the relay, e.g. a lost phone (its relay id is in
    /// `devices()`): its token stops working at once (the relay refuses anyone else's).
    /// Then every key it held is replaced: my personal space and each journal I'm in get a
    /// new key epoch, dropped for my other devices and my partner's and announced to the
    /// relay, so nothing written from now on opens with what the lost device holds. When
    /// the relay can't be reached after the revocation, the rotation is kept and finished
    /// at the next sync.
    pub async fn revoke_device(&self, relay_device: Uuid) -> Result<()> {
        self.register().await?;
        let c = self.relay_client()?;
        c.revoke(relay_device).await?;
        let rotated = self.rotate_all()?;
        tracing::info!(spaces = rotated, "device revoked; keys rotated");
        self.sync_now().await.map(|_| ())
    }

    /// A new key epoch for my personal space and each journal I'm in (one transaction),
    /// with its drops owed. Returns how many spaces rotated.
    pub(crate) fn rotate_all(&self) -> Result<usize> {
        self.write(|tx| {
            let personal = tx.me.personal_space;
            let mut n = 0;
            for s in store::spaces(&tx.sql)? {
                if !(s.kind == SpaceKind::Journal || s.id == personal)
                    || rstore::is_removed(&tx.sql, &s.id)?
                {
                    continue;
                }
                let (epoch, _) = tx.key(&s.id)?;
                rotate_to(tx, &s.id, epoch + 1)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Announce each owed rotation and leave its drops at the relay. A drop is owed until
    /// every other member device the space's meta names has one (a device that hasn't
    /// published its exchange key yet gets it at a later sync); a space I'm no longer in,
    /// or one the relay has rotated past, owes nothing.
    pub(super) async fn send_key_drops(&self, c: &RelayClient) -> Result<()> {
        let owed = kstore::owed_drops(&self.lock().conn)?;
        if owed.is_empty() {
            return Ok(());
        }
        let Some(me) = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id) else {
            return Ok(());
        };
        let infos = c.spaces().await?;
        for (space, epoch) in owed {
            let Some(info) = infos.iter().find(|i| i.space_id == space.0) else {
                kstore::paid_drops(&self.lock().conn, &space, epoch)?;
                continue;
            };
            let mut epoch = epoch;
            if info.key_epoch >= epoch {
                // Announced already — by someone racing the revocation with the phone, a
                // partner's rotation, or my own attempt cut short: only a key above it is
                // surely mine alone.
                epoch = self.write(|tx| {
                    kstore::paid_drops(&tx.sql, &space, epoch)?;
                    rotate_to(tx, &space, info.key_epoch + 1)?;
                    Ok(info.key_epoch + 1)
                })?;
            }
            self.announce_epochs(c, &space, info.key_epoch.max(1), epoch)
                .await?;
            let (drops, complete) = self.seal_drops(&space, epoch, me, &info.members)?;
            let mut refused = false;
            for chunk in drops.chunks(MAX_KEY_DROPS) {
                match c.put_key_drops(space.0, epoch, chunk.to_vec()).await {
                    Ok(()) => {}
                    Err(e) if e.code() == ErrorCode::Offline => return Err(e),
                    Err(e) => {
                        // Rotated past (stale_epoch) or not announced (conflict): nothing
                        // this device can drop there any more.
                        tracing::info!(%space, epoch, code = %e.code(), "the relay refused key drops");
                        refused = true;
                        break;
                    }
                }
            }
            tracing::info!(%space, epoch, drops = drops.len(), complete, "key drops left");
            if complete || refused {
                kstore::paid_drops(&self.lock().conn, &space, epoch)?;
            }
        }
        Ok(())
    }

    /// The key of `epoch` sealed to every device in `members` (but me) that the space's
    /// meta document names and that published an exchange key there; and whether every
    /// named device got one.
    fn seal_drops(
        &self,
        space: &SpaceId,
        epoch: Epoch,
        me: Uuid,
        members: &[Uuid],
    ) -> Result<(Vec<KeyDrop>, bool)> {
        self.read(|tx| {
            let secret = kstore::exchange_secret(&tx.sql)?;
            let key = tx
                .key_at(space, epoch)?
                .ok_or_else(|| Error::Internal(format!("no key for epoch {epoch} of {space}")))?;
            let meta = tx.meta_ref(space)?;
            let doc = tx.doc(meta.rowid)?;
            let named = doc::meta::relay_devices(doc);
            let mut drops = Vec::new();
            let mut complete = true;
            for dev in members.iter().filter(|d| **d != me) {
                if !named.iter().any(|(d, _)| d == dev) {
                    continue;
                }
                let Some(public) = doc::meta::exchange_key(doc, dev) else {
                    complete = false;
                    continue;
                };
                let to = DropFor {
                    space: *space,
                    epoch,
                    sender: me,
                    receiver: *dev,
                };
                drops.push(KeyDrop {
                    device: *dev,
                    sealed: keydrop::seal_drop(&secret, &public, to, &key)?,
                });
            }
            Ok((drops, complete))
        })
    }

    /// Take the keys dropped for this device in `space` that it doesn't hold yet: each one
    /// opens only when made by the device it names, whose exchange key the space's meta
    /// document holds. A journal's key goes into my key ring too, for my other devices.
    /// Returns how many keys were taken.
    pub(super) async fn take_key_drops(&self, c: &RelayClient, space: &SpaceId) -> Result<usize> {
        let Some(me) = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id) else {
            return Ok(0);
        };
        let held = match c.key_drops(space.0).await {
            Ok(h) => h,
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::NotFound.as_str() => {
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        if held.drops.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let secret = kstore::exchange_secret(&tx.sql)?;
            let meta = tx.meta_ref(space)?;
            let senders: Vec<Option<[u8; 32]>> = {
                let doc = tx.doc(meta.rowid)?;
                held.drops
                    .iter()
                    .map(|d| doc::meta::exchange_key(doc, &d.sender))
                    .collect()
            };
            let mut taken = 0;
            for (d, public) in held.drops.iter().zip(senders) {
                if tx.key_at(space, d.epoch)?.is_some() {
                    continue;
                }
                let from = DropFor {
                    space: *space,
                    epoch: d.epoch,
                    sender: d.sender,
                    receiver: me,
                };
                let opened = public
                    .ok_or_else(|| Error::WrongKey("the sender published no exchange key".into()))
                    .and_then(|p| keydrop::open_drop(&secret, &p, from, &d.sealed));
                match opened {
                    Ok(key) => {
                        keep_keys(tx, space, &[(d.epoch, key)])?;
                        taken += 1;
                    }
                    Err(e) => {
                        tracing::warn!(%space, epoch = d.epoch, sender = %d.sender, code = %e.code(), "a key drop did not open");
                    }
                }
            }
            Ok(taken)
        })
    }
}

/// Give `space` a new key at `epoch`: kept, in my key ring when it is a journal's, and its
/// drops owed.
fn rotate_to(tx: &mut crate::engine::tx::Tx<'_>, space: &SpaceId, epoch: Epoch) -> Result<()> {
    new_key_at(tx, space, epoch)?;
    kstore::owe_drops(&tx.sql, space, epoch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::blob::{self, SealedBlob};
    use crate::model::NewEntry;
    use crate::sync::budget;
    use crate::sync::testkit::{entry, home, key_at};

    /// A lost phone keeps every key it held. After the revocation's rotation, what this
    /// home pushes — to the journal and to my private drafts — opens with none of them.
    #[test]
    fn after_a_revocation_nothing_new_opens_with_any_key_the_lost_device_held() {
        let (_dir, ada) = home("Ada");
        let j = ada.create_journal("Us").unwrap();
        let personal = ada.identity().personal_space;
        entry(&ada, &j, "before the phone was lost");
        // The lost phone's key ring: every key of every space I hold.
        let lost: Vec<crate::crypto::SpaceKey> =
            [j, personal].iter().map(|s| key_at(&ada, s, 1)).collect();

        assert_eq!(ada.rotate_all().unwrap(), 2);
        assert_eq!(ada.journal(&j).unwrap().key_epoch, 2);
        let mut owed = kstore::owed_drops(&ada.lock().conn).unwrap();
        owed.sort_by_key(|(s, _)| *s);
        let mut want = vec![(j, 2), (personal, 2)];
        want.sort_by_key(|(s, _)| *s);
        assert_eq!(owed, want);

        entry(&ada, &j, "written after the rotation");
        ada.create_entry(
            &personal,
            NewEntry {
                body: "a private draft after the rotation".into(),
                ..NewEntry::default()
            },
        )
        .unwrap();
        for space in [j, personal] {
            let (epoch, batch) = ada.seal_batch(&space, budget::MAX_BYTES as usize).unwrap();
            assert_eq!(epoch, 2);
            assert!(!batch.is_empty());
            let new = key_at(&ada, &space, 2);
            for out in &batch {
                let sealed = SealedBlob {
                    id: out.id.as_slice().try_into().unwrap(),
                    sealed: out.data.clone(),
                };
                assert!(blob::open(&new, &space, &sealed).is_ok());
                for old in &lost {
                    assert!(blob::open(old, &space, &sealed).is_err());
                }
            }
        }
        // The journal's new key is in my key ring (for my other devices); the personal
        // space's travels only as drops.
        let ring = ada
            .read(|tx| {
                let m = tx.meta_ref(&tx.me.personal_space)?;
                Ok(doc::meta::keyring(tx.doc(m.rowid)?))
            })
            .unwrap();
        assert!(ring.iter().any(|(s, e, _)| *s == j && *e == 2));
        assert!(!ring.iter().any(|(s, _, _)| *s == personal));
    }
}
