//! Every `/v1` body either end decodes: the requests the relay reads (`Cbor<T>` in
//! server/src/cbor.rs) and the responses the client reads (core/src/sync/client.rs), plus
//! the JSON error body. No input may panic a decoder, and what decodes round-trips.
#![no_main]

use duet_fuzz::cbor_round_trip as rt;
use duet_proto::*;
use libfuzzer_sys::fuzz_target;

/// `rt` of each type in turn.
macro_rules! round_trips {
    ($data:expr; $($t:ty),+ $(,)?) => {
        $(rt::<$t>($data);)+
    };
}

fuzz_target!(|data: &[u8]| {
    // Requests (relay side).
    round_trips!(data; CreateSpace, CreateInvite, JoinInvite, AddMember, KeyEpoch, Snapshot);
    if let Some(push) = rt::<Push>(data) {
        // What the relay checks before storing a blob: its header's epoch.
        for b in &push.blobs {
            let _ = sealed::epoch_of(&b.data);
        }
    }
    // Responses (client side).
    round_trips!(data; Registered, WhoAmI, SpaceInfo, SpaceList, InviteCreated, Joined, Pushed,
        Pulled, LogBlob);
    // Error bodies are JSON.
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(data) {
        let again = serde_json::to_vec(&e).expect("an error body encodes");
        let back: ErrorBody =
            serde_json::from_slice(&again).expect("an encoded error body decodes");
        assert_eq!(e, back);
        assert_eq!(ErrorCode::parse(e.code.as_str()), Some(e.code));
    }
});
