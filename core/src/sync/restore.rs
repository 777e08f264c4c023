//! Partner-assisted restore: a person who lost every device gets back into a journal, as
//! the same member, with a one-use code their partner makes.
//!
//! On the partner's device, `restore_member` removes every device of the lost person from
//! the journal at the relay (whoever holds one of them reads nothing new: it is out, and
//! the key rotates — the new epoch reaches the partner's own devices through their key
//! ring, and nobody else), then makes a partner invite whose sealed payload also names the
//! member to restore. The lost person's new home (`init`, then `join` with the code, as for
//! any invite) adopts that member id and name before taking the journal, so what it writes
//! is theirs, and their old entries stay theirs. Private drafts lived under a key only
//! their own devices held: they can't come back this way (a recovery kit brings them).
//! A partner never revokes the other's devices (design, "Threat model"): the old devices
//! are put out of this journal only; their tokens still reach their own personal space.

use crate::engine::Duet;
use crate::engine::keyring::new_key_at;
use crate::error::{Error, Result};
use crate::ids::{MemberId, SpaceId};
use crate::model::SpaceKind;
use crate::store;

use super::SyncReport;
use super::invite::{Invite, Restored};
use super::invites::Extras;

impl Duet {
    /// Make a one-use code that brings `member` (my partner in `journal`, who lost every
    /// device) back into the journal on a new home as the same member. Their old devices
    /// leave the journal and its key rotates at once. Their private drafts can't come back
    /// this way.
    pub async fn restore_member(
        &self,
        journal: &SpaceId,
        member: &MemberId,
        ttl_secs: Option<u64>,
    ) -> Result<Invite> {
        let j = self.partner_in(journal, member)?;
        if j.removed_members.contains(member) {
            return Err(Error::NotAllowed(
                "that member was removed from the journal; invite them again instead".into(),
            ));
        }
        let name = j
            .members
            .iter()
            .find(|m| m.id == *member)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        self.sync_now().await?;
        let c = self.relay_client()?;
        self.remove_at_relay(&c, journal, member).await?;
        // The new key goes to my devices through my key ring; the lost devices are out.
        let epoch = self.write(|tx| {
            let (epoch, _) = tx.key(journal)?;
            new_key_at(tx, journal, epoch + 1)?;
            Ok(epoch + 1)
        })?;
        self.announce_epochs(&c, journal, epoch.saturating_sub(1), epoch)
            .await?;
        self.push_outbox(&c, &mut SyncReport::default()).await?;
        let restore = Restored {
            member: *member,
            name,
        };
        let extras = Extras {
            restore: Some(restore),
            ..Extras::default()
        };
        let invite = self.partner_invite(&c, journal, extras, ttl_secs).await?;
        tracing::info!(%journal, epoch, "restore code made; the member's old devices are out");
        Ok(invite)
    }

    /// Become the member a restore code names: only on a new home, where nothing was
    /// written yet and no journal is held. (What a code is for shows only once it is used:
    /// on another home it is refused there, spent, and the partner makes a new one.)
    pub(super) fn check_restorable(&self) -> Result<()> {
        let personal = self.identity().personal_space;
        let fresh = self
            .journals()?
            .iter()
            .all(|j| j.kind == SpaceKind::Personal)
            && self.all_entries(&personal)?.is_empty();
        if fresh {
            Ok(())
        } else {
            Err(Error::NotAllowed(
                "a restore code brings a member back on a new home: run `duet init` in an \
                 empty home, then `duet join` there"
                    .into(),
            ))
        }
    }

    /// Take on the restored member's id and name (this home's own personal space stays).
    pub(super) fn adopt_member(&self, r: &Restored) -> Result<()> {
        self.check_restorable()?;
        let device = self.identity().device;
        {
            let mut g = self.lock();
            store::set_member(&g.conn, &r.member, &r.name)?;
            g.adopt(r.member, &r.name);
        }
        let personal = self.identity().personal_space;
        self.write(|tx| {
            let meta = tx.meta_ref(&personal)?;
            tx.change(meta, |m| {
                crate::doc::meta::add_member(m, &r.member, &r.name, &device)
            })?;
            Ok(())
        })?;
        tracing::info!(member = %r.member, "this home restores a member");
        Ok(())
    }
}
