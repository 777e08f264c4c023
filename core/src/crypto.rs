//! Space keys and sealed blobs: XChaCha20-Poly1305 with a random nonce, the space id and
//! blob id bound in as associated data so a blob can't be replayed into another space or
//! under another id.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4;
/// Version byte at the front of every sealed blob, so the format can change later.
const SEAL_VERSION: u8 = 1;

/// A space key's generation. A space starts at epoch 1; removing a member rotates to a new
/// epoch so the removed device can't read what is written afterwards. Every sealed blob
/// names the epoch of the key that sealed it.
pub type Epoch = u32;

/// A 32-byte secret: a struct that zeroes itself on drop, prints as `Name(..)`, and is made
/// fresh from the OS generator.
macro_rules! secret32 {
    ($(#[$doc:meta])* $vis:vis struct $name:ident;) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        $vis struct $name([u8; 32]);

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl $name {
            fn random() -> Self {
                let mut k = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                Self(k)
            }
        }
    };
}

secret32! {
    /// A 256-bit symmetric key for one space. Zeroed on drop; never printed.
    pub struct SpaceKey;
}

impl SpaceKey {
    /// A fresh random key from the OS generator.
    pub fn generate() -> Self {
        Self::random()
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
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(SEAL_VERSION);
    out.extend_from_slice(&epoch.to_be_bytes());
    encrypt_into(&key.0, plaintext, &aad(epoch, space, blob_id), &mut out)?;
    Ok(out)
}

/// Append `nonce ‖ XChaCha20-Poly1305(plaintext, aad)` under `key`, with a fresh random
/// nonce (192 bits: random nonces never collide in practice).
pub(crate) fn encrypt_into(
    key: &[u8; 32],
    plaintext: &[u8],
    aad: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = XChaCha20Poly1305::new(key.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Internal("encryption failed".into()))?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(())
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
    pad_with_overhead(plain, HEADER_LEN + NONCE_LEN + TAG_LEN);
}

/// Pad `plain` so that it and `overhead` bytes around it make a Padmé length.
fn pad_with_overhead(plain: &mut Vec<u8>, overhead: usize) {
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
    decrypt_from(&key.0, &sealed[HEADER_LEN..], &aad(epoch, space, blob_id))
        .ok_or_else(|| Error::WrongKey("blob could not be opened with this journal's key".into()))
}

/// Open `nonce ‖ ciphertext+tag` (as [`encrypt_into`] wrote it) under `key`; `None` when it
/// doesn't authenticate (or is too short to).
pub(crate) fn decrypt_from(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(&sealed[..NONCE_LEN]),
            Payload {
                msg: &sealed[NONCE_LEN..],
                aad,
            },
        )
        .ok()
}

secret32! {
    /// A sealed prompt answer's key `K` (ADR 11), and each of its two shares (`K = K1 ⊕ K2`):
    /// 32 bytes, zeroed on drop, never printed.
    pub(crate) struct AnswerKey;
}

impl AnswerKey {
    /// A fresh random key (or share) from the OS generator.
    pub(crate) fn generate() -> Self {
        Self::random()
    }

    /// 32 bytes from a document, the store or the relay; anything else is corrupt.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::CorruptData("an answer key or share is 32 bytes".into()))?;
        Ok(Self(arr))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `self ⊕ other`: a key from its two shares, or one share from the key and the other.
    pub(crate) fn xor(&self, other: &AnswerKey) -> AnswerKey {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        AnswerKey(out)
    }
}

/// Domain of a sealed answer's associated data, so its ciphertext can't pass for a blob.
const ANSWER_AAD: &[u8] = b"duet answer v1";

fn answer_aad(journal: &SpaceId, entry: &EntryId) -> Vec<u8> {
    let mut a = Vec::with_capacity(ANSWER_AAD.len() + 32);
    a.extend_from_slice(ANSWER_AAD);
    a.extend_from_slice(journal.as_bytes());
    a.extend_from_slice(entry.0.as_bytes());
    a
}

/// An answer's text as sealed: CBOR `{title, body}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct AnswerText {
    title: String,
    body: String,
}

/// Seal a prompt answer's text under its answer key: `nonce (24) ‖ XChaCha20-Poly1305(CBOR
/// {title, body}, Padmé-padded)`, bound to its journal and entry (ADR 11).
pub(crate) fn seal_answer(
    key: &AnswerKey,
    journal: &SpaceId,
    entry: &EntryId,
    title: &str,
    body: &str,
) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(title.len() + body.len() + 16);
    ciborium::into_writer(
        &AnswerText {
            title: title.to_string(),
            body: body.to_string(),
        },
        &mut plain,
    )
    .map_err(|e| Error::Internal(format!("encoding an answer: {e}")))?;
    pad_with_overhead(&mut plain, NONCE_LEN + TAG_LEN);
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    let sealed = encrypt_into(&key.0, &plain, &answer_aad(journal, entry), &mut out);
    plain.zeroize();
    sealed.map(|()| out)
}

/// Open a sealed answer: its (title, body). `wrong_key` when the key (or journal, or entry)
/// doesn't match — how a wrong share shows — and `corrupt_data` when it is malformed.
pub(crate) fn open_answer(
    key: &AnswerKey,
    journal: &SpaceId,
    entry: &EntryId,
    sealed: &[u8],
) -> Result<(String, String)> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::CorruptData("a sealed answer is truncated".into()));
    }
    let mut plain = decrypt_from(&key.0, sealed, &answer_aad(journal, entry))
        .ok_or_else(|| Error::WrongKey("the answer could not be opened with this key".into()))?;
    let text: Result<AnswerText> = ciborium::from_reader(plain.as_slice())
        .map_err(|e| Error::CorruptData(format!("sealed answer: {e}")));
    plain.zeroize();
    let text = text?;
    Ok((text.title, text.body))
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

    /// "hello" sealed at epoch 1 under a new key, space and blob id, and those three.
    fn sealed_hello() -> (SpaceKey, SpaceId, [u8; 16], Vec<u8>) {
        let k = SpaceKey::generate();
        let s = SpaceId::new();
        let id = new_blob_id();
        let sealed = seal(&k, 1, &s, &id, b"hello").unwrap();
        (k, s, id, sealed)
    }

    #[test]
    fn round_trip() {
        let (k, s, id, sealed) = sealed_hello();
        assert_eq!(open(&k, &s, &id, &sealed).unwrap(), b"hello");
    }

    #[test]
    fn wrong_key_space_or_id_is_refused() {
        let (k, s, id, sealed) = sealed_hello();
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

    /// An answer sealed under K = K1 ⊕ K2 opens with K only: neither share alone, nor K1
    /// with a wrong second share, nor K under another journal or entry; tampering fails.
    #[test]
    fn an_answer_opens_with_both_shares_only() {
        let (journal, entry) = (SpaceId::new(), EntryId::new());
        let k = AnswerKey::generate();
        let k2 = AnswerKey::generate();
        let k1 = k.xor(&k2);
        let sealed = seal_answer(&k, &journal, &entry, "Title", "What I love most").unwrap();
        assert_eq!(
            open_answer(&k1.xor(&k2), &journal, &entry, &sealed).unwrap(),
            ("Title".to_string(), "What I love most".to_string())
        );
        for wrong in [k1.clone(), k2.clone(), k1.xor(&AnswerKey::generate())] {
            let e = open_answer(&wrong, &journal, &entry, &sealed).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::WrongKey);
        }
        assert!(open_answer(&k, &SpaceId::new(), &entry, &sealed).is_err());
        assert!(open_answer(&k, &journal, &EntryId::new(), &sealed).is_err());
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert!(open_answer(&k, &journal, &entry, &tampered).is_err(), "{i}");
        }
        assert_eq!(
            open_answer(&k, &journal, &entry, &sealed[..20])
                .unwrap_err()
                .code(),
            crate::ErrorCode::CorruptData
        );
        // A new nonce every time, and the plaintext nowhere in the ciphertext.
        let again = seal_answer(&k, &journal, &entry, "Title", "What I love most").unwrap();
        assert_ne!(again, sealed);
        assert_eq!(padme(sealed.len()), sealed.len());
        assert!(!sealed.windows(4).any(|w| w == b"love"));
        assert_eq!(format!("{k:?}"), "AnswerKey(..)");
    }

    #[test]
    fn key_debug_hides_bytes() {
        assert_eq!(format!("{:?}", SpaceKey::generate()), "SpaceKey(..)");
    }
}
