//! Sealed blob headers: the relay (`duet_proto::sealed::epoch_of`) and the client
//! (`duet_core::crypto::epoch_of`) must read the same epoch from the same bytes, and opening
//! anything with the wrong key fails cleanly. Sealing the input and opening it gives it back.
#![no_main]

use duet_core::SpaceId;
use duet_core::crypto::{self, SpaceKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let relay = duet_proto::sealed::epoch_of(data);
    let client = crypto::epoch_of(data).ok();
    assert_eq!(relay, client, "relay and client disagree on a blob's epoch");

    let key = SpaceKey::from_bytes(&[7; 32]).expect("a 32-byte key");
    let space = SpaceId::from_bytes([1; 16]);
    let id = [2; 16];
    // Random bytes never authenticate; they must still fail as an error, not a panic.
    let _ = crypto::open(&key, &space, &id, data);

    // Round trip: the first four bytes pick the epoch, the rest is the plaintext.
    let (epoch, plain) = match data {
        [a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
        _ => (1, data),
    };
    let sealed = crypto::seal(&key, epoch, &space, &id, plain).expect("sealing");
    assert_eq!(duet_proto::sealed::epoch_of(&sealed), Some(epoch));
    assert_eq!(crypto::epoch_of(&sealed).ok(), Some(epoch));
    assert_eq!(
        crypto::open(&key, &space, &id, &sealed).expect("opening"),
        plain
    );
    // Bound to the space and the id.
    assert!(crypto::open(&key, &SpaceId::from_bytes([3; 16]), &id, &sealed).is_err());
    assert!(crypto::open(&key, &space, &[4; 16], &sealed).is_err());
});
