//! What a sealed blob holds once opened: a pulled or bundled blob's payload (CBOR `{doc,
//! kind, data}`) and a snapshot (a CBOR `{id, sealed}` whose plaintext is a list of
//! payloads). The input is the plaintext: the target seals it with a known key, so the
//! decoders behind the encryption are what gets fuzzed. The raw input is also tried as a
//! snapshot as the relay hands it over.
#![no_main]

use duet_core::SpaceId;
use duet_core::crypto::{self, SpaceKey};
use duet_core::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SpaceKey::from_bytes(&[9; 32]).expect("a 32-byte key");
    let space = SpaceId::from_bytes([5; 16]);
    let id = [6; 16];

    let sealed = crypto::seal(&key, 1, &space, &id, data).expect("sealing");
    if let Ok((_doc, _meta, bytes)) = fuzzing::open_blob(&key, &space, id, &sealed) {
        assert!(
            bytes.len() <= data.len(),
            "a payload can't hold more than its plaintext"
        );
    }

    let snapshot = fuzzing::seal_snapshot(&key, 3, &space, id, data).expect("sealing a snapshot");
    if let Ok((epoch, _docs)) = fuzzing::open_snapshot(&key, &space, &snapshot) {
        assert_eq!(epoch, 3);
    }

    let _ = fuzzing::open_snapshot(&key, &space, data);
});
