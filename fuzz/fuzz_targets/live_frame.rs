//! The live channel's frames (`GET /v1/live`): what the relay reads from a client
//! (server/src/live.rs) and what the client reads from the relay (core/src/sync/live.rs).
#![no_main]

use duet_fuzz::cbor_round_trip as rt;
use duet_proto::live::{ClientFrame, ServerFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rt::<ClientFrame>(data);
    if let Some(ServerFrame::New { blob: Some(b), .. }) = rt::<ServerFrame>(data) {
        // An inline blob is opened like a pulled one: its header first.
        let _ = duet_proto::sealed::epoch_of(&b.data);
        let _ = duet_core::crypto::epoch_of(&b.data);
    }
});
