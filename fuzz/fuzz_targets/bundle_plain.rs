//! Bundle import past the encryption: the input is a bundle whose blobs hold their
//! plaintext payloads; the target seals each with the bundle's first key and imports the
//! result into a real home, so the fuzzer reaches what a well-sealed bundle from a
//! careless or hostile partner reaches: payload CBOR, Automerge documents, the schema and
//! kind checks, the apply into the store.
#![no_main]

use std::cell::RefCell;

use duet_core::SpaceId;
use duet_core::crypto::{self, SpaceKey};
use duet_fuzz::{BundleFile, Home};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static HOME: RefCell<Option<Home>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some(mut file) = BundleFile::parse(data) else {
        return;
    };
    let Some((epoch, key)) = file
        .keys
        .iter()
        .find_map(|k| Some((k.epoch, SpaceKey::from_bytes(&k.key).ok()?)))
    else {
        return;
    };
    let space = SpaceId::from_bytes(file.space);
    for b in &mut file.blobs {
        b.sealed = crypto::seal(&key, epoch, &space, &b.id, &b.sealed).expect("sealing");
    }
    let bundle = file.to_bytes();
    HOME.with(|h| {
        let mut h = h.borrow_mut();
        let home = h.get_or_insert_with(Home::new);
        if duet_fuzz::check_import(&home.duet, &bundle) {
            *h = None;
        }
    });
});
