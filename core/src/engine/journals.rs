//! Spaces: shared journals and the personal space.

use std::collections::HashMap;

use super::Duet;
use super::tx::Tx;
use crate::crypto::SpaceKey;
use crate::doc;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, MemberId, SpaceId};
use crate::limits;
use crate::model::{Journal, SpaceKind};
use crate::store;

impl Duet {
    /// Start a new shared journal with a fresh key (added to my key ring, so my other
    /// devices get it); this person is its first member.
    pub fn create_journal(&self, title: &str) -> Result<SpaceId> {
        limits::check_name("title", title)?;
        let id = SpaceId::new();
        self.write(|tx| {
            let key = SpaceKey::generate();
            tx.create_space(id, SpaceKind::Journal, title.trim(), key.clone())?;
            // My other devices learn the key through my key ring (my personal space).
            super::keyring::add_to_keyring(tx, &id, &[(1, key)])
        })?;
        Ok(id)
    }

    /// Every space on this device: the personal space first, then journals by age.
    pub fn journals(&self) -> Result<Vec<Journal>> {
        self.read(|tx| {
            let rows = store::spaces(&tx.sql)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(journal_of(tx, &r.id)?);
            }
            out.sort_by_key(|j| (j.kind != SpaceKind::Personal, j.created_at));
            Ok(out)
        })
    }

    /// One space.
    pub fn journal(&self, id: &SpaceId) -> Result<Journal> {
        self.read(|tx| journal_of(tx, id))
    }

    /// Rename a journal (last writer wins if both rename at once).
    pub fn rename_journal(&self, id: &SpaceId, title: &str) -> Result<()> {
        limits::check_name("title", title)?;
        self.write(|tx| {
            let d = tx.meta_ref(id)?;
            tx.change(d, |m| doc::meta::set_title(m, title.trim()))?;
            refresh_space_row(tx, id)
        })
    }

    /// How often the couple means to check in, in days (1–365).
    pub fn set_checkin_cadence(&self, id: &SpaceId, days: u32) -> Result<()> {
        if !(1..=365).contains(&days) {
            return Err(Error::invalid("cadence", "must be between 1 and 365 days"));
        }
        self.write(|tx| {
            let d = tx.meta_ref(id)?;
            tx.change(d, |m| doc::meta::set_cadence_days(m, days))?;
            Ok(())
        })
    }

    /// Device -> member across every space we hold.
    pub(crate) fn device_members(&self) -> Result<HashMap<DeviceId, MemberId>> {
        if let Some(m) = &self.lock().devices {
            return Ok(m.clone());
        }
        let map = self.read(|tx| {
            let mut map = HashMap::new();
            map.insert(tx.me.device, tx.me.member);
            for s in store::spaces(&tx.sql)? {
                let d = tx.meta_ref(&s.id)?;
                map.extend(doc::meta::devices(tx.doc(d.rowid)?));
            }
            Ok(map)
        })?;
        self.lock().devices = Some(map.clone());
        Ok(map)
    }
}

pub(super) fn journal_of(tx: &mut Tx<'_>, id: &SpaceId) -> Result<Journal> {
    let row = store::space(&tx.sql, id)?.ok_or_else(|| Error::not_found("journal", id))?;
    let d = tx.meta_ref(id)?;
    let key_epoch = store::key_epoch(&tx.sql, id)?;
    let m = tx.doc(d.rowid)?;
    Ok(Journal {
        id: *id,
        kind: row.kind,
        title: doc::meta::title(m),
        members: doc::meta::members(m),
        removed_members: doc::meta::removed(m),
        checkin_cadence_days: doc::meta::cadence_days(m),
        created_at: doc::meta::created_at(m),
        key_epoch,
    })
}

/// Add this person and device to a space's members (a no-op when already there), e.g.
/// after receiving a journal through a bundle or an invite.
pub(crate) fn join_space(tx: &mut Tx<'_>, space: &SpaceId) -> Result<()> {
    let meta = tx.meta_ref(space)?;
    let me = tx.me.clone();
    tx.change(meta, |m| {
        doc::meta::add_member(m, &me.member, &me.name, &me.device)
    })?;
    refresh_space_row(tx, space)
}

/// Copy the meta document's title into the `spaces` row.
pub(super) fn refresh_space_row(tx: &mut Tx<'_>, id: &SpaceId) -> Result<()> {
    let d = tx.meta_ref(id)?;
    let m = tx.doc(d.rowid)?;
    let row = store::SpaceRow {
        id: *id,
        kind: doc::meta::kind(m)?,
        title: doc::meta::title(m),
        created_at: doc::meta::created_at(m),
    };
    store::upsert_space(&tx.sql, &row)
}
