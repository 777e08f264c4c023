//! Key drops: a space key sealed from one device to another, for a rotation that one of my
//! own devices (a lost phone) must not follow. Every key that phone held is spent, so the
//! new key travels under each remaining device's own X25519 exchange key, which never
//! leaves that device; its public half is published in the space's sealed meta document,
//! where the relay can't swap it.
//!
//! A drop is `ephemeral public key (32) ‖ nonce (24) ‖ XChaCha20-Poly1305(key) (48)`, under
//! a key derived (HKDF-SHA256) from two Diffie-Hellman results: sender's static secret ×
//! receiver's public key, which proves the sender (only a device that published its key in
//! the space makes a drop that opens), and a fresh ephemeral secret × receiver's public key.
//! The associated data binds the space, the epoch and both devices, so a drop can't be
//! replayed to another space, epoch or device.

use hkdf::Hkdf;
use sha2::Sha256;
use uuid::Uuid;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroize;

use crate::crypto::{self, Epoch, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::SpaceId;

const DOMAIN: &[u8] = b"duet key drop v1";

/// This device's exchange key pair. The secret stays in the device store.
pub(crate) struct ExchangeSecret(StaticSecret);

impl std::fmt::Debug for ExchangeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExchangeSecret(..)")
    }
}

impl ExchangeSecret {
    pub(crate) fn generate() -> Self {
        Self(StaticSecret::random_from_rng(rand::rngs::OsRng))
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::CorruptData("an exchange secret is 32 bytes".into()))?;
        Ok(Self(StaticSecret::from(arr)))
    }

    pub(crate) fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half, as published in meta documents.
    pub(crate) fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }
}

/// Who sends a drop to whom, and for what: all of it is bound into the drop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropFor {
    pub space: SpaceId,
    pub epoch: Epoch,
    pub sender: Uuid,
    pub receiver: Uuid,
}

impl DropFor {
    fn aad(&self) -> Vec<u8> {
        let mut a = Vec::with_capacity(DOMAIN.len() + 4 + 48);
        a.extend_from_slice(DOMAIN);
        a.extend_from_slice(self.space.as_bytes());
        a.extend_from_slice(&self.epoch.to_be_bytes());
        a.extend_from_slice(self.sender.as_bytes());
        a.extend_from_slice(self.receiver.as_bytes());
        a
    }

    fn wrapping_key(
        &self,
        static_dh: [u8; 32],
        ephemeral_dh: [u8; 32],
        eph_pub: &[u8; 32],
    ) -> [u8; 32] {
        let mut ikm = [0u8; 64];
        ikm[..32].copy_from_slice(&static_dh);
        ikm[32..].copy_from_slice(&ephemeral_dh);
        let hk = Hkdf::<Sha256>::new(Some(eph_pub), &ikm);
        ikm.zeroize();
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit; expand can't fail.
        let _ = hk.expand(&self.aad(), &mut out);
        out
    }
}

/// Seal `key` from `sender` (its secret) to the receiver's public key.
pub(crate) fn seal_drop(
    sender: &ExchangeSecret,
    receiver_public: &[u8; 32],
    to: DropFor,
    key: &SpaceKey,
) -> Result<Vec<u8>> {
    let receiver = PublicKey::from(*receiver_public);
    let eph = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let mut wrap = to.wrapping_key(
        sender.0.diffie_hellman(&receiver).to_bytes(),
        eph.diffie_hellman(&receiver).to_bytes(),
        &eph_pub,
    );
    let mut out = eph_pub.to_vec();
    let r = crypto::encrypt_into(&wrap, key.as_bytes(), &to.aad(), &mut out);
    wrap.zeroize();
    r.map(|()| out)
}

/// Open a drop left for this device (`receiver`) by a device whose published public key
/// is `sender_public`. `wrong_key` when it doesn't authenticate: made by another device,
/// for another space, epoch or device, or altered.
pub(crate) fn open_drop(
    receiver: &ExchangeSecret,
    sender_public: &[u8; 32],
    from: DropFor,
    sealed: &[u8],
) -> Result<SpaceKey> {
    let refused = || Error::WrongKey("a key drop did not open".into());
    let (eph_pub, rest) = sealed.split_first_chunk::<32>().ok_or_else(refused)?;
    let eph = PublicKey::from(*eph_pub);
    let mut wrap = from.wrapping_key(
        receiver
            .0
            .diffie_hellman(&PublicKey::from(*sender_public))
            .to_bytes(),
        receiver.0.diffie_hellman(&eph).to_bytes(),
        eph_pub,
    );
    let plain = crypto::decrypt_from(&wrap, rest, &from.aad());
    wrap.zeroize();
    let mut plain = plain.ok_or_else(refused)?;
    let key = SpaceKey::from_bytes(&plain);
    plain.zeroize();
    key
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn to() -> DropFor {
        DropFor {
            space: SpaceId::new(),
            epoch: 3,
            sender: Uuid::from_u128(1),
            receiver: Uuid::from_u128(2),
        }
    }

    #[test]
    fn a_drop_opens_for_its_receiver_from_its_sender_only() {
        let (ada, ben, eve) = (
            ExchangeSecret::generate(),
            ExchangeSecret::generate(),
            ExchangeSecret::generate(),
        );
        let key = SpaceKey::generate();
        let to = to();
        let sealed = seal_drop(&ada, &ben.public(), to, &key).unwrap();
        assert_eq!(sealed.len(), 104);
        assert_eq!(open_drop(&ben, &ada.public(), to, &sealed).unwrap(), key);
        // Not for another receiver; not claimed by another sender (a forger knows every
        // public key, but no sender secret).
        assert!(open_drop(&eve, &ada.public(), to, &sealed).is_err());
        assert!(open_drop(&ben, &eve.public(), to, &sealed).is_err());
        let forged = seal_drop(&eve, &ben.public(), to, &SpaceKey::generate()).unwrap();
        assert!(open_drop(&ben, &ada.public(), to, &forged).is_err());
        // Bound to the space, the epoch and both devices.
        for other in [
            DropFor {
                space: SpaceId::new(),
                ..to
            },
            DropFor { epoch: 4, ..to },
            DropFor {
                sender: Uuid::from_u128(9),
                ..to
            },
            DropFor {
                receiver: Uuid::from_u128(9),
                ..to
            },
        ] {
            assert!(open_drop(&ben, &ada.public(), other, &sealed).is_err());
        }
        // Altered or cut: refused, no panic.
        let mut bad = sealed.clone();
        bad[60] ^= 1;
        assert!(open_drop(&ben, &ada.public(), to, &bad).is_err());
        for n in [0, 31, 32, 70, 103] {
            assert!(open_drop(&ben, &ada.public(), to, &sealed[..n]).is_err());
        }
    }

    #[test]
    fn a_secret_survives_its_bytes_and_never_prints() {
        let s = ExchangeSecret::generate();
        let back = ExchangeSecret::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.public(), s.public());
        assert!(ExchangeSecret::from_bytes(&[1; 31]).is_err());
        assert_eq!(format!("{s:?}"), "ExchangeSecret(..)");
    }
}
