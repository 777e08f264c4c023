//! Recovery kits: 24 words from which a person who lost every device gets everything back.
//!
//! The words are BIP39's English encoding of 256 random bits. From those bits, HKDF-SHA256
//! (one label each) derives three secrets: a **lookup id** (the kit's name at the relay),
//! an **auth secret** (the relay keeps only its SHA-256 and admits a new device to the
//! person once it is shown) and the **envelope key**. The envelope — the person's member
//! id and name, personal space and every key of every space they hold — is sealed under
//! that key (XChaCha20-Poly1305, the lookup id bound in, Padmé-padded) and kept at the
//! relay, which can't open it. Only the lookup id and envelope key are shared with the
//! person's other devices (in the personal space's meta document), so each of them keeps
//! the envelope current; the words and the auth secret stay on the device that showed them.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, Epoch, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::{MemberId, SpaceId};
use crate::model::SpaceKind;

const SALT: &[u8] = b"duet recovery kit v1";
const ENVELOPE_AAD: &[u8] = b"duet recovery envelope v1";
const WORDS: usize = 24;

/// What the words give.
pub(crate) struct KitSecrets {
    /// The words as the kit shows them: lower case, one space apart.
    pub words: Zeroizing<String>,
    pub lookup: [u8; 16],
    pub auth: Zeroizing<[u8; 32]>,
    pub shared: SharedKit,
}

/// The part of a kit every device of its person holds (in the personal space's meta
/// document): enough to keep the envelope current, never enough to recover with.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SharedKit {
    pub lookup: [u8; 16],
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SharedKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKit(..)")
    }
}

impl SharedKit {
    /// `lookup ‖ key`, as the meta document keeps it (one value, so two devices making a
    /// kit at once can't leave one's lookup with the other's key).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(48));
        v.extend_from_slice(&self.lookup);
        v.extend_from_slice(self.key.as_slice());
        v
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 48 {
            return None;
        }
        let mut lookup = [0u8; 16];
        lookup.copy_from_slice(&b[..16]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&b[16..]);
        Some(Self { lookup, key })
    }

    fn aad(&self) -> Vec<u8> {
        [ENVELOPE_AAD, self.lookup.as_slice()].concat()
    }

    /// Seal an envelope (padded, so its size says little about how many journals it holds).
    pub fn seal(&self, envelope: &Envelope) -> Result<Vec<u8>> {
        let mut plain = Zeroizing::new(Vec::new());
        ciborium::into_writer(envelope, &mut *plain)
            .map_err(|e| Error::Internal(format!("envelope: {e}")))?;
        crypto::pad_for_sealing(&mut plain);
        let mut out = Vec::new();
        crypto::encrypt_into(&self.key, &plain, &self.aad(), &mut out)?;
        Ok(out)
    }

    /// Open an envelope the relay kept for this kit.
    pub fn open(&self, sealed: &[u8]) -> Result<Envelope> {
        let plain = Zeroizing::new(
            crypto::decrypt_from(&self.key, sealed, &self.aad()).ok_or_else(|| {
                Error::CorruptData("the recovery envelope does not open with these words".into())
            })?,
        );
        // One CBOR item; the padding after it is never read.
        ciborium::from_reader(plain.as_slice())
            .map_err(|e| Error::CorruptData(format!("recovery envelope: {e}")))
    }
}

/// What a recovered device needs to be its person's again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub v: u32,
    pub member: MemberId,
    pub name: String,
    pub personal_space: SpaceId,
    /// Every space the person holds (the personal space too), with all its keys.
    pub spaces: Vec<EnvelopeSpace>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnvelopeSpace {
    pub space: SpaceId,
    pub kind: SpaceKind,
    pub keys: Vec<EnvelopeKey>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnvelopeKey {
    pub epoch: Epoch,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

impl std::fmt::Debug for EnvelopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvelopeKey({}, ..)", self.epoch)
    }
}

impl Drop for EnvelopeKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl EnvelopeSpace {
    pub fn new(space: SpaceId, kind: SpaceKind, keys: &[(Epoch, SpaceKey)]) -> Self {
        let keys = keys
            .iter()
            .map(|(epoch, k)| EnvelopeKey {
                epoch: *epoch,
                key: k.as_bytes().to_vec(),
            })
            .collect();
        Self { space, kind, keys }
    }

    pub fn keys(&self) -> Result<Vec<(Epoch, SpaceKey)>> {
        self.keys
            .iter()
            .map(|k| Ok((k.epoch, SpaceKey::from_bytes(&k.key)?)))
            .collect()
    }
}

/// Fresh words: 256 random bits.
pub(crate) fn new_words() -> Result<Zeroizing<String>> {
    let mut entropy = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, entropy.as_mut_slice());
    let m = bip39::Mnemonic::from_entropy_in(bip39::Language::English, entropy.as_slice())
        .map_err(|e| Error::Internal(format!("recovery words: {e}")))?;
    let mut words = Zeroizing::new(String::new());
    for (i, w) in m.words().enumerate() {
        if i > 0 {
            words.push(' ');
        }
        words.push_str(w);
    }
    Ok(words)
}

/// The secrets of a kit's words. Case and spacing don't matter; a misspelled word, a
/// missing one or a wrong checksum is `wrong_words` (checked here, before anything is sent).
pub(crate) fn secrets(words: &str) -> Result<KitSecrets> {
    let normal = Zeroizing::new(
        words
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let n = normal.split(' ').filter(|w| !w.is_empty()).count();
    if n != WORDS {
        return Err(Error::WrongWords(format!(
            "a recovery kit is {WORDS} words; these are {n}"
        )));
    }
    let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normal).map_err(
        |e| match e {
            bip39::Error::UnknownWord(i) => {
                Error::WrongWords(format!("word {} is not one of the kit's list", i + 1))
            }
            bip39::Error::InvalidChecksum => Error::WrongWords(
                "the words don't add up (a word is wrong or two are swapped)".into(),
            ),
            other => Error::WrongWords(format!("not a recovery kit: {other}")),
        },
    )?;
    let (entropy, len) = m.to_entropy_array();
    let entropy = Zeroizing::new(entropy);
    let hk = Hkdf::<Sha256>::new(Some(SALT), &entropy[..len]);
    let mut lookup = [0u8; 16];
    let mut auth = Zeroizing::new([0u8; 32]);
    let mut key = Zeroizing::new([0u8; 32]);
    for (label, out) in [
        (&b"lookup"[..], &mut lookup[..]),
        (b"auth", auth.as_mut_slice()),
        (b"envelope", key.as_mut_slice()),
    ] {
        hk.expand(label, out)
            .map_err(|_| Error::Internal("recovery key derivation".into()))?;
    }
    Ok(KitSecrets {
        words: normal,
        lookup,
        auth,
        shared: SharedKit { lookup, key },
    })
}

/// What the relay keeps of the auth secret.
pub(crate) fn auth_hash(auth: &[u8; 32]) -> Vec<u8> {
    Sha256::digest(auth).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            v: 1,
            member: MemberId::new(),
            name: "Ada".into(),
            personal_space: SpaceId::new(),
            spaces: vec![EnvelopeSpace::new(
                SpaceId::new(),
                SpaceKind::Journal,
                &[(1, SpaceKey::generate()), (2, SpaceKey::generate())],
            )],
        }
    }

    #[test]
    fn words_give_the_same_secrets_however_they_are_typed() {
        let words = new_words().unwrap();
        assert_eq!(words.split(' ').count(), 24);
        let a = secrets(&words).unwrap();
        let b = secrets(&format!("  {}\n", words.to_uppercase().replace(' ', "\t "))).unwrap();
        assert_eq!(a.lookup, b.lookup);
        assert_eq!(*a.auth, *b.auth);
        assert_eq!(a.shared, b.shared);
        // Shown as the kit shows them, however they were typed.
        assert_eq!(*b.words, *words);
        // Three distinct secrets.
        assert_ne!(a.lookup.as_slice(), &a.auth[..16]);
        assert_ne!(a.auth.as_slice(), a.shared.key.as_slice());
        // Another kit shares nothing.
        let c = secrets(&new_words().unwrap()).unwrap();
        assert_ne!(a.lookup, c.lookup);
    }

    #[test]
    fn wrong_words_are_refused_before_anything_is_sent() {
        let words = new_words().unwrap();
        let list: Vec<&str> = words.split(' ').collect();
        let short = list[..23].join(" ");
        let unknown = format!("{} duetx", list[..23].join(" "));
        let mut swapped = list.clone();
        // The last word holds the checksum's 8 bits (its index's low bits): its neighbour in
        // the list differs in the lowest one, so the checksum never holds. (Any other word
        // was right one time in 256.)
        let english = bip39::Language::English;
        let last = english.find_word(list[23]).unwrap();
        swapped[23] = english.word_list()[usize::from(last ^ 1)];
        for bad in [short, unknown, swapped.join(" "), String::new()] {
            let e = secrets(&bad).err().map(|e| e.code());
            assert_eq!(e, Some(crate::error::ErrorCode::WrongWords), "{bad}");
        }
    }

    #[test]
    fn an_envelope_opens_only_with_its_kit() {
        let kit = secrets(&new_words().unwrap()).unwrap();
        let env = envelope();
        let sealed = kit.shared.seal(&env).unwrap();
        assert_eq!(kit.shared.open(&sealed).unwrap(), env);
        // Padded to a Padmé length, and the name is not in it.
        assert_eq!(sealed.len() + 5, crypto::padme(sealed.len() + 5));
        assert!(!sealed.windows(3).any(|w| w == b"Ada"));
        let other = secrets(&new_words().unwrap()).unwrap();
        assert!(other.shared.open(&sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(kit.shared.open(&flipped).is_err());
        // The same key under another lookup id (bound in) doesn't open it.
        let mut moved = kit.shared.clone();
        moved.lookup[0] ^= 1;
        assert!(moved.open(&sealed).is_err());
        let round = SharedKit::from_bytes(&kit.shared.to_bytes()).unwrap();
        assert_eq!(round, kit.shared);
        assert!(SharedKit::from_bytes(&[0; 47]).is_none());
    }
}
