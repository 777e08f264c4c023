//! `uniffi-bindgen`, built from this workspace so it always matches the library's uniffi
//! version. Used by `scripts/build-bindings.sh` in library mode.

fn main() {
    uniffi::uniffi_bindgen_main()
}
