//! The clear header of a sealed blob: `version (1) ‖ key epoch (u32 BE) ‖ nonce (24) ‖
//! ciphertext+tag`. The relay reads the epoch (and nothing else): once a member announced
//! that a space's key rotated to epoch e (`PUT /v1/spaces/{id}/epoch`), a blob under an
//! older epoch is refused (`stale_epoch`), so a device that missed the rotation can't add
//! anything a removed member's old keys would open.

/// The only sealed-blob version there is.
pub const SEAL_VERSION: u8 = 1;
/// Version byte and epoch.
pub const HEADER_LEN: usize = 1 + 4;
/// Header, nonce and tag: the shortest well-formed sealed blob (empty plaintext).
pub const MIN_SEALED_LEN: usize = HEADER_LEN + 24 + 16;

/// The key epoch a sealed blob names, or `None` when the bytes aren't a sealed blob of a
/// version this crate knows.
pub fn epoch_of(sealed: &[u8]) -> Option<u32> {
    if sealed.len() < MIN_SEALED_LEN || sealed[0] != SEAL_VERSION {
        return None;
    }
    Some(u32::from_be_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_epoch_and_refuses_what_isnt_a_sealed_blob() {
        let mut b = vec![0u8; MIN_SEALED_LEN];
        b[0] = SEAL_VERSION;
        b[1..5].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(epoch_of(&b), Some(7));
        assert_eq!(epoch_of(&b[..MIN_SEALED_LEN - 1]), None);
        b[0] = 2;
        assert_eq!(epoch_of(&b), None);
        assert_eq!(epoch_of(&[]), None);
    }
}
