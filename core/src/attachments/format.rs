//! The sealed attachment format (ADR 15).
//!
//! ```text
//! "DUA1" | nonce prefix (19) | segment 0 | … | segment n-1 | zero padding
//! ```
//! The plaintext is cut into 64 KiB segments, each sealed with XChaCha20-Poly1305 in the
//! STREAM construction (`aead::stream`, 32-bit big-endian counter and a last-segment flag),
//! so a flipped bit, a reordered or a missing segment, and a cut after any segment fail
//! at that segment, before the rest is read. The whole is padded to a Padmé length and
//! addressed by the BLAKE3 hash of the sealed bytes, which a reader also checks (it
//! covers the header and the padding the AEAD doesn't).
//!
//! Inside a journal the key and nonce are derived from the content, keyed by the
//! journal's key: both partners' copies of one photo seal to the same bytes, so the relay
//! stores them once — and learns nothing it couldn't without the journal's key.

use std::io::{self, Read, Write};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use zeroize::Zeroize;

use crate::crypto::SpaceKey;
use crate::error::{Error, Result};

/// Plaintext bytes per segment.
pub(crate) const SEGMENT: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"DUA1";
const NONCE_PREFIX: usize = 19;
/// Bytes before the first segment.
pub(crate) const HEADER: usize = MAGIC.len() + NONCE_PREFIX;

/// The key one attachment is sealed with, and its nonce prefix.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ContentKey {
    pub(crate) key: [u8; 32],
    nonce: [u8; NONCE_PREFIX],
}

impl Drop for ContentKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

impl ContentKey {
    /// A key as the entry's document keeps it (the nonce prefix is in each sealed file's
    /// header).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::CorruptData("an attachment key is not 32 bytes".into()))?;
        Ok(Self {
            key,
            nonce: [0; NONCE_PREFIX],
        })
    }
}

/// A space's secret for attachment keys: derived from its key of the newest epoch, so it
/// is the same on both partners' devices and changes when the key does.
pub(crate) fn space_secret(key: &SpaceKey) -> [u8; 32] {
    blake3::derive_key("duet 2026-12 attachment secret v1", key.as_bytes())
}

/// Read `plain` once and derive its key: a keyed hash of the content (the same photo
/// gives the same key in one journal, and a guess can't be checked without the secret).
/// Also returns the plaintext's length.
pub(crate) fn content_key(
    secret: &[u8; 32],
    plain: &mut impl Read,
) -> io::Result<(ContentKey, u64)> {
    let mut hasher = blake3::Hasher::new_keyed(secret);
    let size = io::copy(plain, &mut hasher)?;
    let id = hasher.finalize();
    let key = blake3::derive_key("duet 2026-12 attachment key v1", id.as_bytes());
    let nonce_full = blake3::derive_key("duet 2026-12 attachment nonce v1", id.as_bytes());
    let mut nonce = [0u8; NONCE_PREFIX];
    nonce.copy_from_slice(&nonce_full[..NONCE_PREFIX]);
    Ok((ContentKey { key, nonce }, size))
}

/// Segments of a `size`-byte plaintext: the last may be short, or empty for an empty file.
fn segments(size: u64) -> u64 {
    size.div_ceil(SEGMENT as u64).max(1)
}

/// Sealed bytes before padding.
fn unpadded_len(size: u64) -> u64 {
    HEADER as u64 + size + segments(size) * TAG as u64
}

/// The sealed length of a `size`-byte plaintext (Padmé: at most 12% more).
pub(crate) fn sealed_len(size: u64) -> u64 {
    padme(unpadded_len(size))
}

fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = u64::BITS - 1 - len.leading_zeros();
    let s = u32::BITS - e.leading_zeros();
    let mask = (1u64 << (e - s)) - 1;
    (len + mask) & !mask
}

/// What sealing gave: the address and the length of the sealed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) hash: [u8; 32],
    pub(crate) len: u64,
}

/// Seal `size` bytes of `plain` into `out`, segment by segment (memory stays at one
/// segment whatever the size). `plain` must hold exactly `size` bytes (a file that changed
/// since its key was derived is refused).
pub(crate) fn seal(
    key: &ContentKey,
    size: u64,
    plain: &mut impl Read,
    out: &mut impl Write,
) -> Result<Sealed> {
    let mut out = Hashing::new(out);
    let io_err = |e: io::Error| Error::Internal(format!("sealing an attachment: {e}"));
    out.write_all(MAGIC).map_err(io_err)?;
    out.write_all(&key.nonce).map_err(io_err)?;
    let mut enc = EncryptorBE32::from_aead(
        XChaCha20Poly1305::new((&key.key).into()),
        (&key.nonce).into(),
    );
    let n = segments(size);
    let mut buf = Vec::with_capacity(SEGMENT + TAG);
    let changed = || Error::invalid("file", "the file changed while it was being attached");
    let failed = |_| Error::Internal("attachment encryption failed".into());
    let mut read_segment = |buf: &mut Vec<u8>, i: u64| {
        let want = (size - i * SEGMENT as u64).min(SEGMENT as u64) as usize;
        buf.clear();
        buf.resize(want, 0);
        plain.read_exact(buf).map_err(|_| changed())
    };
    for i in 0..n - 1 {
        read_segment(&mut buf, i)?;
        enc.encrypt_next_in_place(b"", &mut buf).map_err(failed)?;
        out.write_all(&buf).map_err(io_err)?;
    }
    read_segment(&mut buf, n - 1)?;
    enc.encrypt_last_in_place(b"", &mut buf).map_err(failed)?;
    out.write_all(&buf).map_err(io_err)?;
    let mut extra = [0u8; 1];
    if plain.read(&mut extra).map_err(|_| changed())? != 0 {
        return Err(changed());
    }
    let padding = sealed_len(size) - unpadded_len(size);
    io::copy(&mut io::repeat(0).take(padding), &mut out).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    Ok(Sealed {
        hash: *out.hasher.finalize().as_bytes(),
        len: out.written,
    })
}

/// Open `sealed` (the whole sealed bytes, read once) into `out`: `size` plaintext bytes.
/// Fails with `CorruptData` at the first segment that doesn't open, or when the bytes
/// don't hash to `hash` — by then part of the plaintext may be in `out`, so callers write
/// to a temporary file and keep it only on success.
pub(crate) fn open(
    key: &ContentKey,
    size: u64,
    hash: &[u8; 32],
    sealed: &mut impl Read,
    out: &mut impl Write,
) -> Result<()> {
    let corrupt = |what: &str| Error::CorruptData(format!("attachment {what}"));
    let mut sealed = HashingReader {
        inner: sealed,
        hasher: blake3::Hasher::new(),
        read: 0,
    };
    let mut header = [0u8; HEADER];
    sealed
        .read_exact(&mut header)
        .map_err(|_| corrupt("is shorter than its header"))?;
    if &header[..MAGIC.len()] != MAGIC {
        return Err(corrupt("is not in Duet's attachment format"));
    }
    let mut nonce = [0u8; NONCE_PREFIX];
    nonce.copy_from_slice(&header[MAGIC.len()..]);
    let mut dec =
        DecryptorBE32::from_aead(XChaCha20Poly1305::new((&key.key).into()), (&nonce).into());
    let n = segments(size);
    let mut buf = Vec::with_capacity(SEGMENT + TAG);
    let write_err = |e: io::Error| Error::Internal(format!("writing an attachment: {e}"));
    let mut read_segment = |buf: &mut Vec<u8>, i: u64| {
        let want = TAG + (size - i * SEGMENT as u64).min(SEGMENT as u64) as usize;
        buf.clear();
        buf.resize(want, 0);
        sealed
            .read_exact(buf)
            .map_err(|_| corrupt(&format!("is cut short at segment {i}")))
    };
    let bad = |i: u64| corrupt(&format!("segment {i} does not open (damaged or reordered)"));
    for i in 0..n - 1 {
        read_segment(&mut buf, i)?;
        dec.decrypt_next_in_place(b"", &mut buf)
            .map_err(|_| bad(i))?;
        out.write_all(&buf).map_err(write_err)?;
    }
    read_segment(&mut buf, n - 1)?;
    dec.decrypt_last_in_place(b"", &mut buf)
        .map_err(|_| bad(n - 1))?;
    out.write_all(&buf).map_err(write_err)?;
    // The padding: read (and hashed) to the end.
    io::copy(&mut sealed, &mut io::sink()).map_err(|_| corrupt("could not be read to its end"))?;
    if sealed.read != sealed_len(size) {
        return Err(corrupt("has the wrong length"));
    }
    if sealed.hasher.finalize().as_bytes() != hash {
        return Err(corrupt("does not match its hash"));
    }
    out.flush().map_err(write_err)?;
    Ok(())
}

/// A writer that hashes and counts what passes through.
struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    hasher: blake3::Hasher,
    written: u64,
}

impl<'a, W: Write> Hashing<'a, W> {
    fn new(inner: &'a mut W) -> Self {
        Self {
            inner,
            hasher: blake3::Hasher::new(),
            written: 0,
        }
    }
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what passes through.
struct HashingReader<'a, R: Read> {
    inner: &'a mut R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn seal_bytes(secret: &[u8; 32], plain: &[u8]) -> (ContentKey, Sealed, Vec<u8>) {
        let (key, size) = content_key(secret, &mut &plain[..]).unwrap();
        let mut out = Vec::new();
        let s = seal(&key, size, &mut &plain[..], &mut out).unwrap();
        (key, s, out)
    }

    fn open_bytes(key: &ContentKey, size: u64, hash: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        open(key, size, hash, &mut &sealed[..], &mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_every_segment_boundary() {
        let secret = [7u8; 32];
        for size in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 17,
        ] {
            let plain: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let (key, s, sealed) = seal_bytes(&secret, &plain);
            assert_eq!(s.len as usize, sealed.len());
            assert_eq!(s.len, sealed_len(size as u64));
            assert_eq!(s.hash, *blake3::hash(&sealed).as_bytes());
            // Overhead: header, tags and padding stay within 13% for anything but tiny files.
            if size >= SEGMENT {
                assert!(sealed.len() as f64 / size as f64 <= 1.13, "{size}");
            }
            let key = ContentKey::from_bytes(&key.key).unwrap();
            assert_eq!(
                open_bytes(&key, size as u64, &s.hash, &sealed).unwrap(),
                plain
            );
        }
    }

    #[test]
    fn same_content_same_bytes_in_one_space_only() {
        let plain = b"the first picture of the sea".repeat(5000);
        let (_, a, _) = seal_bytes(&[1; 32], &plain);
        let (_, b, _) = seal_bytes(&[1; 32], &plain);
        let (_, c, _) = seal_bytes(&[2; 32], &plain);
        assert_eq!(a, b);
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn damage_anywhere_is_caught() {
        let plain: Vec<u8> = (0..(2 * SEGMENT + 100)).map(|i| i as u8).collect();
        let (key, s, sealed) = seal_bytes(&[3; 32], &plain);
        let size = plain.len() as u64;
        // A flipped byte in each segment, in the header, and in the padding.
        for at in [0, HEADER + 5, HEADER + SEGMENT + TAG + 9, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            let err = open_bytes(&key, size, &s.hash, &bad).unwrap_err();
            assert!(matches!(err, Error::CorruptData(_)), "{at}: {err}");
        }
        // Cut short, and two segments swapped.
        assert!(open_bytes(&key, size, &s.hash, &sealed[..sealed.len() / 2]).is_err());
        let mut swapped = sealed.clone();
        let seg = SEGMENT + TAG;
        let (a, b) = (HEADER, HEADER + seg);
        let first: Vec<u8> = swapped[a..a + seg].to_vec();
        swapped.copy_within(b..b + seg, a);
        swapped[b..b + seg].copy_from_slice(&first);
        assert!(open_bytes(&key, size, &s.hash, &swapped).is_err());
        // Another key.
        let other = ContentKey::from_bytes(&[9; 32]).unwrap();
        assert!(open_bytes(&other, size, &s.hash, &sealed).is_err());
    }

    #[test]
    fn a_file_that_changes_while_sealing_is_refused() {
        let plain = vec![5u8; SEGMENT * 2];
        let (key, size) = content_key(&[1; 32], &mut &plain[..]).unwrap();
        let longer = vec![5u8; SEGMENT * 2 + 1];
        assert!(seal(&key, size, &mut &longer[..], &mut Vec::new()).is_err());
        assert!(seal(&key, size, &mut &plain[..SEGMENT], &mut Vec::new()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_content_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..(3 * SEGMENT))) {
            let (key, s, sealed) = seal_bytes(&[4; 32], &plain);
            prop_assert_eq!(open_bytes(&key, plain.len() as u64, &s.hash, &sealed).unwrap(), plain);
        }
    }
}
