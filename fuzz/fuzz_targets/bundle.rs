//! Bundle import (`Duet::import_bundle`, core/src/engine/bundle.rs) of raw bytes into a real
//! home: the magic, the CBOR file, its keys, every blob's header and seal, the meta
//! document, then the apply. A refused bundle changes nothing; an accepted one, imported
//! again, adds and changes nothing.
#![no_main]

use std::cell::RefCell;

use duet_fuzz::Home;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // One home for as long as imports fail (they change nothing), a fresh one after an
    // import that succeeded, so each input starts from the same state.
    static HOME: RefCell<Option<Home>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    HOME.with(|h| {
        let mut h = h.borrow_mut();
        let home = h.get_or_insert_with(Home::new);
        if duet_fuzz::check_import(&home.duet, data) {
            *h = None;
        }
    });
});
