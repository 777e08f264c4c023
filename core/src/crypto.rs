//! Space keys and sealed blobs: XChaCha20-Poly1305 with a random nonce, the space id and
//! blob id bound in as associated data so a blob can't be replayed into another space or
//! under another id.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::ids::SpaceId;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4;
/// Version byte at the front of every sealed blob, so the format can change later.
const SEAL_VERSION: u8 = 1;

/// A space key's generation. A space starts at epoch 1; removing a member rotates to a new
/// epoch so the removed device can't read what is written afterwards. Every sealed blob
/// names the epoch of the key that sealed it.
pub type Epoch = u32;

/// A 256-bit symmetric key for one space. Zeroed on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SpaceKey([u8; 32]);

impl Drop for SpaceKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SpaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpaceKey(..)")
    }
}

impl SpaceKey {
    /// A fresh random key from the OS generator.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::WrongKey("a space key is 32 bytes".into()))?;
        Ok(Self(arr))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A random 16-byte blob id: lets a relay deduplicate retries without learning anything.
pub fn new_blob_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    id
}

fn aad(epoch: Epoch, space: &SpaceId, blob_id: &[u8; 16]) -> [u8; 37] {
    let mut a = [0u8; 37];
    a[0] = SEAL_VERSION;
    a[1..5].copy_from_slice(&epoch.to_be_bytes());
    a[5..21].copy_from_slice(space.as_bytes());
    a[21..].copy_from_slice(blob_id);
    a
}

/// Seal `plaintext` for `space` under `blob_id` with the key of `epoch`:
/// `version || epoch (u32 BE) || nonce || ciphertext+tag`.
pub fn seal(
    key: &SpaceKey,
    epoch: Epoch,
    space: &SpaceId,
    blob_id: &[u8; 16],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(epoch, space, blob_id),
            },
        )
        .map_err(|_| Error::Internal("encryption failed".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
/// Communication with PURBs", 2019): the length `len` is rounded up so that only its top
/// bits vary — at most 12% larger, and a length reveals O(log log len) bits instead of
/// O(log len).
pub fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = u32::BITS - e.leading_zeros(); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    (len + mask) & !mask
}

/// Pad a plaintext with zero bytes so that, once sealed, its length is a Padmé length:
/// the relay learns sizes only coarsely. The plaintexts padded here are one CBOR item each,
/// and readers stop after that item, so the zeros are never read.
pub(crate) fn pad_for_sealing(plain: &mut Vec<u8>) {
    let overhead = HEADER_LEN + NONCE_LEN + TAG_LEN;
    let target = padme(plain.len() + overhead) - overhead;
    plain.resize(target.max(plain.len()), 0);
}

/// The epoch of the key a blob was sealed with (so the right key can be picked).
pub fn epoch_of(sealed: &[u8]) -> Result<Epoch> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(Error::CorruptData("sealed blob is truncated".into()));
    }
    if sealed[0] != SEAL_VERSION {
        return Err(Error::CorruptData(format!(
            "unknown sealed blob version {}",
            sealed[0]
        )));
    }
    Ok(Epoch::from_be_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

/// Open a sealed blob. Fails with `wrong_key` when the key, space or blob id don't match
/// (indistinguishable by design) and `corrupt_data` when the blob is malformed.
pub fn open(key: &SpaceKey, space: &SpaceId, blob_id: &[u8; 16], sealed: &[u8]) -> Result<Vec<u8>> {
    let epoch = epoch_of(sealed)?;
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN]),
            Payload {
                msg: &sealed[HEADER_LEN + NONCE_LEN..],
                aad: &aad(epoch, space, blob_id),
            },
        )
        .map_err(|_| Error::WrongKey("blob could not be opened with this journal's key".into()))
}

/// Where space keys live. The default keeps them in the device store; an app can supply
/// one backed by the iOS Keychain or Android Keystore so keys never sit in the database.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Store the key of one epoch of a space (replacing any previous one).
    fn put(&self, space: &SpaceId, epoch: Epoch, key: &SpaceKey) -> Result<()>;
    /// The key of one epoch of a space, if we hold it.
    fn get(&self, space: &SpaceId, epoch: Epoch) -> Result<Option<SpaceKey>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = SpaceKey::generate();
        let s = SpaceId::new();
        let id = new_blob_id();
        let sealed = seal(&k, 1, &s, &id, b"hello").unwrap();
        assert_eq!(open(&k, &s, &id, &sealed).unwrap(), b"hello");
    }

    #[test]
    fn wrong_key_space_or_id_is_refused() {
        let k = SpaceKey::generate();
        let s = SpaceId::new();
        let id = new_blob_id();
        let sealed = seal(&k, 1, &s, &id, b"hello").unwrap();
        let e = open(&SpaceKey::generate(), &s, &id, &sealed).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::WrongKey);
        assert!(open(&k, &SpaceId::new(), &id, &sealed).is_err());
        assert!(open(&k, &s, &new_blob_id(), &sealed).is_err());
        let mut other_epoch = sealed.clone();
        other_epoch[4] ^= 1;
        assert!(
            open(&k, &s, &id, &other_epoch).is_err(),
            "the epoch is authenticated"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&k, &s, &id, &tampered).is_err());
        assert_eq!(
            open(&k, &s, &id, &sealed[..10]).unwrap_err().code(),
            crate::ErrorCode::CorruptData
        );
    }

    #[test]
    fn padme_rounds_up_by_at_most_twelve_percent_and_keeps_few_bits() {
        let mut prev = 0;
        for len in 1..200_000usize {
            let p = padme(len);
            assert!(p >= len && p >= prev, "{len} -> {p}");
            assert!((p - len) as f64 <= 0.12 * len as f64 + 1.0, "{len} -> {p}");
            prev = p;
        }
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(9), 10);
        // Lengths of one size class fall on few values: 1,000 of them on at most 32.
        let distinct: std::collections::HashSet<usize> = (100_000..101_000).map(padme).collect();
        assert!(distinct.len() <= 32, "{}", distinct.len());
    }

    #[test]
    fn sealed_padded_plaintexts_have_padme_lengths() {
        let k = SpaceKey::generate();
        let s = SpaceId::new();
        for len in [0usize, 1, 50, 333, 4097, 70_000] {
            let mut plain = vec![7u8; len];
            pad_for_sealing(&mut plain);
            let sealed = seal(&k, 1, &s, &new_blob_id(), &plain).unwrap();
            assert_eq!(padme(sealed.len()), sealed.len(), "{len}");
        }
    }

    #[test]
    fn key_debug_hides_bytes() {
        assert_eq!(format!("{:?}", SpaceKey::generate()), "SpaceKey(..)");
    }
}
