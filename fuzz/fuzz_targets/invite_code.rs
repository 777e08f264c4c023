//! Invite codes (`DUET-XXXX-…`) and `duet:join?code=…&relay=…` URIs as `join` parses them,
//! and the wrapped payload a joiner unwraps. What parses prints back to a code and a URI
//! that parse to the same invite.
#![no_main]

use duet_core::fuzzing;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((invite, secret, relay)) = fuzzing::parse_invite(&text) {
        let code = fuzzing::invite_code(invite, secret);
        assert_eq!(
            fuzzing::parse_invite(&code).expect("a printed code parses"),
            (invite, secret, None)
        );
        assert_eq!(
            fuzzing::parse_invite(&code.to_lowercase()).expect("a lowercase code parses"),
            (invite, secret, None)
        );
        let relay = relay.unwrap_or_else(|| "http://127.0.0.1:8787/".into());
        let uri = fuzzing::invite_uri(invite, secret, &relay);
        assert_eq!(
            fuzzing::parse_invite(&uri).expect("a printed URI parses"),
            (invite, secret, Some(relay))
        );
    }

    // The payload: as it comes from the relay (wrapped; random bytes never open) and as
    // its plaintext decodes once opened.
    let _ = fuzzing::unwrap_invite(Uuid::from_bytes([1; 16]), [2; 16], data);
    let _ = fuzzing::decode_invite_payload(data);
});
