//! My key ring: every journal key I hold, kept in my personal space's meta document so my
//! other devices get them (a journal made or joined on one device, a key rotated there).

use crate::crypto::{Epoch, SpaceKey};
use crate::doc;
use crate::error::Result;
use crate::ids::SpaceId;
use crate::model::SpaceKind;
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

/// Keep keys of a space on this device and, a journal's, in my key ring too (so my other
/// devices get them): what every new or received journal key goes through.
pub(crate) fn keep_keys(
    tx: &mut Tx<'_>,
    space: &SpaceId,
    keys: &[(Epoch, SpaceKey)],
) -> Result<()> {
    for (e, k) in keys {
        tx.put_key(space, *e, k)?;
    }
    if store::space(&tx.sql, space)?.is_some_and(|s| s.kind == SpaceKind::Journal) {
        add_to_keyring(tx, space, keys)?;
    }
    Ok(())
}

/// A fresh key for `space` at `epoch`, kept (see [`keep_keys`]): a rotation.
pub(crate) fn new_key_at(tx: &mut Tx<'_>, space: &SpaceId, epoch: Epoch) -> Result<()> {
    keep_keys(tx, space, &[(epoch, SpaceKey::generate())])
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
