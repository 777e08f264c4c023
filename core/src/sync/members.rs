//! Members and keys: my devices named in (and added to) each space, revoking one of them,
//! removing a partner with a key rotation, and announcing key epochs to the relay.

use uuid::Uuid;

use crate::crypto::Epoch;
use crate::doc;
use crate::engine::Duet;
use crate::engine::keyring::{add_to_keyring, held_keys, new_key_at};
use crate::engine::tx::Tx;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{MemberId, SpaceId};
use crate::model::SpaceKind;
use crate::store::{self, relay as rstore};

use super::SyncReport;
use super::client::RelayClient;

impl Duet {
    /// Name this device (its relay id, with its exchange key for key drops) in my personal
    /// space and in every journal I hold, where it isn't yet — how a device set up by `join_device` announces itself, at its
    /// first sync or, if that one failed (no signal), at the next. Changes nothing when all
    /// is there.
    ///
    /// Also puts every journal key I hold in my key ring where it isn't (journals made
    /// before creating one did so), so my other devices get them.
    pub(super) fn announce_self(&self) -> Result<()> {
        let dev = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        self.write(|tx| {
            let personal = tx.me.personal_space;
            let public = store::keys::exchange_secret(&tx.sql)?.public();
            // Not into a personal meta document that hasn't arrived yet (a linked device's
            // before its first pull): a key ring map made there would race the real one.
            let ring_ready = {
                let meta = tx.meta_ref(&personal)?;
                doc::meta::kind(tx.doc(meta.rowid)?).is_ok()
            };
            for s in store::spaces(&tx.sql)? {
                if ring_ready && s.kind == SpaceKind::Journal {
                    let keys = held_keys(tx, &s.id)?;
                    add_to_keyring(tx, &s.id, &keys)?;
                }
                let Some(dev) = dev else {
                    continue;
                };
                // A space whose meta document hasn't arrived yet is skipped until it has.
                let Ok(meta) = tx.meta_ref(&s.id) else {
                    continue;
                };
                let doc = tx.doc(meta.rowid)?;
                let named = doc::meta::relay_devices(doc).iter().any(|(d, _)| *d == dev)
                    && doc::meta::exchange_key(doc, &dev) == Some(public);
                if named || (s.kind != SpaceKind::Journal && s.id != personal) {
                    continue;
                }
                if s.kind == SpaceKind::Journal {
                    crate::engine::journals::join_space(tx, &s.id)?;
                }
                record_relay_device(tx, &s.id)?;
            }
            Ok(())
        })
    }

    /// Relay ids of my other devices (from my personal space).
    pub(super) fn my_other_relay_devices(&self) -> Result<Vec<Uuid>> {
        let mine = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        self.read(|tx| {
            let me = tx.me.member;
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            Ok(doc::meta::relay_devices(tx.doc(meta.rowid)?)
                .into_iter()
                .filter(|(d, m)| *m == me && Some(*d) != mine)
                .map(|(d, _)| d)
                .collect())
        })
    }

    /// Relay ids of my devices (mine first), from my personal space.
    pub fn my_relay_devices(&self) -> Result<Vec<Uuid>> {
        let mine = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        let mut all: Vec<Uuid> = mine.into_iter().collect();
        all.extend(self.my_other_relay_devices()?);
        Ok(all)
    }

    /// Make my other devices — the relay's members of my personal space — members of every
    /// journal I'm in where they are missing: a journal made on one device after another
    /// was linked, or before that one's relay id had reached it. (The relay adds only
    /// devices of my own person.)
    pub(super) async fn add_my_devices(
        &self,
        c: &RelayClient,
        spaces: &[duet_proto::SpaceInfo],
    ) -> Result<()> {
        let personal = self.identity().personal_space;
        let Some(mine) = spaces.iter().find(|s| s.space_id == personal.0) else {
            return Ok(());
        };
        let me = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
        for info in spaces.iter().filter(|s| s.space_id != personal.0) {
            for dev in &mine.members {
                if Some(*dev) == me || info.members.contains(dev) {
                    continue;
                }
                match c.add_member(info.space_id, *dev).await {
                    Ok(()) => {
                        tracing::info!(space = %info.space_id, device = %dev, "added my other device to a journal");
                    }
                    Err(e) if e.code() == ErrorCode::Offline => return Err(e),
                    Err(e) => {
                        tracing::debug!(code = %e.code(), "the relay did not add my other device");
                    }
                }
            }
        }
        Ok(())
    }

    /// Announce a space's key epochs after `from` up to `to`, one step at a time (the relay
    /// takes one rotation per call). Only the connection failing is an error; a relay that
    /// is ahead already, doesn't know the call, or refuses it is left as it is.
    pub(super) async fn announce_epochs(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        from: Epoch,
        to: Epoch,
    ) -> Result<()> {
        for epoch in from.saturating_add(1).max(2)..=to {
            match c.announce_epoch(space.0, epoch).await {
                Ok(()) => tracing::info!(%space, epoch, "key epoch announced"),
                Err(e) if e.code() == ErrorCode::Offline => return Err(e),
                Err(e) => {
                    tracing::info!(%space, epoch, code = %e.code(), "the relay did not take a key epoch");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Remove a partner from a journal: every device of theirs leaves it on the relay (the
    /// relay removes their whole person, with the invites they made), and the key rotates —
    /// announced to the relay, which then refuses anything sealed under an older key — so
    /// nothing written afterwards can be read with what they hold.
    pub async fn remove_member(&self, journal: &SpaceId, member: &MemberId) -> Result<()> {
        self.partner_in(journal, member)?;
        self.sync_now().await?;
        let c = self.relay_client()?;
        self.remove_at_relay(&c, journal, member).await?;
        let member = *member;
        // The new key is kept before the relay hears of it: a relay at an epoch this device
        // has no key for would refuse everything it pushes there.
        let epoch = self.write(|tx| {
            let (epoch, _) = tx.key(journal)?;
            new_key_at(tx, journal, epoch + 1)?;
            let meta = tx.meta_ref(journal)?;
            let now = tx.now;
            // Sealed with the new key: the removed partner can't read even this.
            tx.change(meta, |m| doc::meta::mark_removed(m, &member, now))?;
            Ok(epoch + 1)
        })?;
        // From now on the relay refuses what a device that missed the rotation seals under
        // the old key (it pulls my key ring and seals again). A failed announcement is
        // made again at the next sync (`announce_epochs`).
        self.announce_epochs(&c, journal, epoch.saturating_sub(1), epoch)
            .await?;
        // My key ring (personal space) goes first, then the journal under the new key.
        let mut report = SyncReport::default();
        self.push_outbox(&c, &mut report).await?;
        tracing::info!(journal = %journal, "member removed and key rotated");
        Ok(())
    }
}

impl Duet {
    /// The journal, when `member` is in it and isn't me (whom removal and restore are for).
    pub(super) fn partner_in(
        &self,
        journal: &SpaceId,
        member: &MemberId,
    ) -> Result<crate::model::Journal> {
        if *member == self.identity().member {
            return Err(Error::NotAllowed(
                "that is you; your partner does this for you".into(),
            ));
        }
        let j = self.journal(journal)?;
        if j.kind != SpaceKind::Journal || !j.members.iter().any(|m| m.id == *member) {
            return Err(Error::not_found("member", member));
        }
        Ok(j)
    }

    /// Every device of `member` leaves the journal at the relay (one device per person:
    /// the relay removes the whole person; see `removal_targets`).
    pub(super) async fn remove_at_relay(
        &self,
        c: &RelayClient,
        journal: &SpaceId,
        member: &MemberId,
    ) -> Result<()> {
        let (named, already_removed): (Vec<Uuid>, bool) = self.read(|tx| {
            let meta = tx.meta_ref(journal)?;
            let doc = tx.doc(meta.rowid)?;
            let named = doc::meta::relay_devices(doc)
                .into_iter()
                .filter(|(_, m)| m == member)
                .map(|(d, _)| d)
                .collect();
            Ok((named, doc::meta::removed(doc).contains(member)))
        })?;
        let me = c.whoami().await?;
        let info = c
            .spaces()
            .await?
            .into_iter()
            .find(|s| s.space_id == journal.0);
        for d in removal_targets(&named, info.as_ref(), me.person, already_removed) {
            match c.remove_member(journal.0, d).await {
                Ok(()) => {}
                // Gone already (revoked, or removed by an earlier attempt).
                Err(Error::RelayRefused { code, .. }) => {
                    tracing::info!(%code, "the relay did not remove a device; going on");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Note my relay device id in a space's meta document (so a partner can remove it), with
/// this device's exchange public key (so a rotation's key can be dropped for it).
pub(super) fn record_relay_device(tx: &mut Tx<'_>, space: &SpaceId) -> Result<()> {
    let Some(dev) = rstore::relay(&tx.sql)?.and_then(|r| r.device_id) else {
        return Ok(());
    };
    let public = store::keys::exchange_secret(&tx.sql)?.public();
    let meta = tx.meta_ref(space)?;
    let member = tx.me.member;
    tx.change(meta, |m| {
        let named = doc::meta::add_relay_device(m, &dev, &member)?;
        Ok(doc::meta::put_exchange_key(m, &dev, &public)? || named)
    })?;
    Ok(())
}

/// Which devices to remove at the relay so that every device of `member` leaves the
/// journal. The relay removes the whole person a device acts for, so one device per person
/// is enough: the devices the meta document names for the member, by their person there
/// (never mine). When none of them is a member there any more — or the meta names none (a
/// device joined through the raw API, a named one revoked) — every person there who isn't
/// me: a journal holds two people. Not for a member removed before, though: whoever is there
/// now came later. A relay that doesn't say who is whom gets every named device.
fn removal_targets(
    named: &[Uuid],
    info: Option<&duet_proto::SpaceInfo>,
    my_person: Uuid,
    already_removed: bool,
) -> Vec<Uuid> {
    let Some(info) = info.filter(|i| i.persons.len() == i.members.len()) else {
        return named.to_vec();
    };
    let mut persons = Vec::new();
    let mut out = Vec::new();
    let mut take = |dev: Uuid, person: Uuid, out: &mut Vec<Uuid>| {
        if person != my_person && !persons.contains(&person) {
            persons.push(person);
            out.push(dev);
        }
    };
    for d in named {
        if let Some(i) = info.members.iter().position(|m| m == d) {
            take(*d, info.persons[i], &mut out);
        }
    }
    if out.is_empty() && !already_removed {
        for (d, p) in info.members.iter().zip(&info.persons) {
            take(*d, *p, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::sync::testkit::home;

    #[test]
    fn removal_takes_one_device_per_person_and_never_mine() {
        let u = |n: u128| Uuid::from_u128(n);
        let (me, ben, cat) = (u(100), u(200), u(300));
        // My devices 1, 2; Ben's 3 (named) and 4 (joined through the raw API).
        let info = duet_proto::SpaceInfo {
            space_id: u(9),
            members: vec![u(1), u(2), u(3), u(4)],
            head: 0,
            persons: vec![me, me, ben, ben],
            kind: duet_proto::SpaceKind::Journal,
            key_epoch: 0,
        };
        assert_eq!(removal_targets(&[u(3)], Some(&info), me, false), vec![u(3)]);
        assert_eq!(
            removal_targets(&[u(4), u(3)], Some(&info), me, false),
            vec![u(4)]
        );
        // Named nowhere (or only gone devices): everyone there who isn't me.
        assert_eq!(removal_targets(&[], Some(&info), me, false), vec![u(3)]);
        assert_eq!(removal_targets(&[u(7)], Some(&info), me, false), vec![u(3)]);
        // ... but not for a member removed before: whoever is there now came later.
        let later = duet_proto::SpaceInfo {
            persons: vec![me, me, cat, cat],
            ..info.clone()
        };
        assert!(removal_targets(&[u(7)], Some(&later), me, true).is_empty());
        // A device of mine the meta wrongly names for someone else stays.
        assert!(removal_targets(&[u(1)], Some(&info), me, true).is_empty());
        // A relay that doesn't say who is whom: every named device.
        let old = duet_proto::SpaceInfo {
            persons: vec![],
            ..info.clone()
        };
        assert_eq!(
            removal_targets(&[u(3), u(4)], Some(&old), me, false),
            vec![u(3), u(4)]
        );
    }

    fn ring(duet: &Duet) -> Vec<(SpaceId, Epoch)> {
        duet.read(|tx| {
            let m = tx.meta_ref(&tx.me.personal_space)?;
            Ok(doc::meta::keyring(tx.doc(m.rowid)?)
                .into_iter()
                .map(|(s, e, _)| (s, e))
                .collect())
        })
        .unwrap()
    }

    #[test]
    fn created_and_imported_journals_go_into_my_key_ring() {
        let (_a, ada) = home("Ada");
        let (_b, ben) = home("Ben");
        let j = ada.create_journal("Us").unwrap();
        assert_eq!(ring(&ada), vec![(j, 1)]);
        ben.import_bundle(&ada.export_bundle(&j).unwrap()).unwrap();
        assert_eq!(ring(&ben), vec![(j, 1)]);
        // A home made before journals were added at creation is repaired at its next sync.
        let (_c, cy) = home("Cy");
        let k = cy
            .write(|tx| {
                let id = SpaceId::new();
                tx.create_space(
                    id,
                    SpaceKind::Journal,
                    "Old",
                    crate::crypto::SpaceKey::generate(),
                )?;
                Ok(id)
            })
            .unwrap();
        assert!(ring(&cy).is_empty());
        cy.announce_self().unwrap();
        assert_eq!(ring(&cy), vec![(k, 1)]);
        let outbox = cy.outbox_len().unwrap();
        cy.announce_self().unwrap();
        assert_eq!(
            cy.outbox_len().unwrap(),
            outbox,
            "nothing when all is there"
        );
    }
}
