//! Key drops: after a rotation that a device must not follow (one of my devices lost and
//! revoked), the new space key can't travel under any key the lost device held. The
//! rotating device seals it to each remaining member device's own exchange key (X25519,
//! published in the space's sealed meta document) and leaves one drop per device at the
//! relay, which hands each device only its own. The relay sees who drops for whom, never
//! a key.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::{MAX_KEY_DROP_BYTES, MAX_KEY_DROPS};

/// `PUT /v1/spaces/{space}/keys/{epoch}`: the space's key of `epoch` (which must be the
/// space's current, announced epoch) sealed to other member devices. A drop for a device
/// that isn't a member of the space (or is the caller) is skipped; the first drop kept for
/// a device and epoch stays, so a retry changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyDrops {
    /// 1 to [`MAX_KEY_DROPS`] drops.
    pub drops: Vec<KeyDrop>,
}

/// One device's drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyDrop {
    /// The receiving device.
    pub device: Uuid,
    /// 1 to [`MAX_KEY_DROP_BYTES`] bytes, opaque to the relay.
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 128))]
    pub sealed: Vec<u8>,
}

/// `GET /v1/spaces/{space}/keys`: the drops left for the calling device in the space,
/// oldest epoch first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldDrops {
    pub drops: Vec<HeldDrop>,
}

/// A drop as its receiver gets it: which epoch, from which device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldDrop {
    pub epoch: u32,
    /// The device that left it (the receiver checks it against the exchange key that
    /// device published).
    pub sender: Uuid,
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 128))]
    pub sealed: Vec<u8>,
}

/// Whether a drop list has a size the relay accepts: 1 to [`MAX_KEY_DROPS`] drops of 1 to
/// [`MAX_KEY_DROP_BYTES`] bytes each.
pub fn are_key_drops(drops: &KeyDrops) -> bool {
    (1..=MAX_KEY_DROPS).contains(&drops.drops.len())
        && drops
            .drops
            .iter()
            .all(|d| (1..=MAX_KEY_DROP_BYTES).contains(&d.sealed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_lists_are_bounded() {
        let one = |n: usize| KeyDrop {
            device: Uuid::nil(),
            sealed: vec![1; n],
        };
        assert!(are_key_drops(&KeyDrops {
            drops: vec![one(104)]
        }));
        assert!(!are_key_drops(&KeyDrops { drops: vec![] }));
        assert!(!are_key_drops(&KeyDrops {
            drops: vec![one(0)]
        }));
        assert!(!are_key_drops(&KeyDrops {
            drops: vec![one(MAX_KEY_DROP_BYTES + 1)]
        }));
        assert!(!are_key_drops(&KeyDrops {
            drops: vec![one(8); MAX_KEY_DROPS + 1]
        }));
        // Sealed bytes travel as a CBOR byte string.
        let bytes = crate::to_cbor(&KeyDrops {
            drops: vec![one(32)],
        });
        assert!(bytes.windows(2).any(|w| w == [0x58, 0x20]));
    }
}
