//! Every `/v1` body either end decodes: the requests the relay reads (`Cbor<T>` in
//! server/src/cbor.rs) and the responses the client reads (core/src/sync/client.rs), plus
//! the JSON error body. No input may panic a decoder, and what decodes round-trips.
#![no_main]

use duet_fuzz::cbor_round_trip as rt;
use duet_proto::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Requests (relay side).
    rt::<CreateSpace>(data);
    rt::<CreateInvite>(data);
    rt::<JoinInvite>(data);
    rt::<AddMember>(data);
    rt::<KeyEpoch>(data);
    rt::<Snapshot>(data);
    if let Some(push) = rt::<Push>(data) {
        // What the relay checks before storing a blob: its header's epoch.
        for b in &push.blobs {
            let _ = sealed::epoch_of(&b.data);
        }
    }
    // Responses (client side).
    rt::<Registered>(data);
    rt::<WhoAmI>(data);
    rt::<SpaceInfo>(data);
    rt::<SpaceList>(data);
    rt::<InviteCreated>(data);
    rt::<Joined>(data);
    rt::<Pushed>(data);
    rt::<Pulled>(data);
    rt::<LogBlob>(data);
    // Error bodies are JSON.
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(data) {
        let again = serde_json::to_vec(&e).expect("an error body encodes");
        let back: ErrorBody =
            serde_json::from_slice(&again).expect("an encoded error body decodes");
        assert_eq!(e, back);
        assert_eq!(ErrorCode::parse(e.code.as_str()), Some(e.code));
    }
});
