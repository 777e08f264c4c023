//! My key ring: every journal key I hold, kept in my personal space's meta document so my
//! other devices get them (a journal made or joined on one device, a key rotated there).

use crate::crypto::{Epoch, SpaceKey};
use crate::doc;
use crate::error::Result;
use crate::ids::SpaceId;
use crate::store;

use super::tx::Tx;

/// Add a journal's keys to my key ring (my personal space), so my other devices get them.
pub(crate) fn add_to_keyring(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    keys: &[(Epoch, SpaceKey)],
) -> Result<()> {
    let meta = tx.meta_ref(&tx.me.personal_space)?;
    let keys = keys.to_vec();
    let space = *space;
    tx.change(meta, |m| {
        for (e, k) in &keys {
            doc::meta::keyring_put(m, &space, *e, k)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Every key of a space this device holds, by epoch.
pub(crate) fn held_keys(tx: &mut Tx<'_>, space: &SpaceId) -> Result<Vec<(Epoch, SpaceKey)>> {
    let current = store::key_epoch(&tx.sql, space)?;
    let mut keys = Vec::new();
    for e in 1..=current {
        if let Some(k) = tx.key_at(space, e)? {
            keys.push((e, k));
        }
    }
    Ok(keys)
}
