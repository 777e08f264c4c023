#!/usr/bin/env bash
# Builds the release library for this machine and generates the Kotlin, Swift and Python
# bindings from it (uniffi library mode) into bindings-out/ (git-ignored). Two components:
# duet_mobile (the client, listener, Subscription) and duet_core (the records, enums, ids
# and DuetError it uses; named by core/uniffi.toml):
#
#   bindings-out/kotlin/app/duet/duet_mobile.kt, bindings-out/kotlin/app/duet/core/duet_core.kt
#   bindings-out/swift/{Duet.swift, DuetCore.swift, DuetFFI.h, DuetCoreFFI.h, DuetFFI.modulemap}
#   bindings-out/python/{duet_mobile.py, duet_core.py, libduet_mobile.so}
#
# Extra cargo flags may be passed through CARGO_FLAGS.
# DUET_BINDINGS_PROFILE=dev builds the library in the dev profile instead (target/debug),
# as `cargo build --workspace --all-targets` with duet-mobile's default features (TLS, the
# generator): what the binding tests use, since with every target it resolves features
# exactly as `cargo test --workspace` does (dev-dependencies' features included) and so
# reuses everything that run built — 6 s after it instead of 45 s for `--workspace` alone
# (a release build is some 6 minutes on two cores). The API is the same.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root

OUT=bindings-out
CARGO_FLAGS=${CARGO_FLAGS:-}
PROFILE=${DUET_BINDINGS_PROFILE:-release}
case "$PROFILE" in
    release)
        PROFILE_FLAG=--release
        DIR=target/release
        # The bundled SQLite without the features duet-core never uses (see the file).
        # shellcheck source=sqlite-flags.sh
        source mobile-bindings/scripts/sqlite-flags.sh
        ;;
    dev) PROFILE_FLAG= DIR=target/debug ;;
    *) echo "DUET_BINDINGS_PROFILE is release or dev, not '$PROFILE'" >&2; exit 2 ;;
esac

case "$(uname -s)" in
    Darwin) LIB=libduet_mobile.dylib ;;
    *) LIB=libduet_mobile.so ;;
esac

echo "==> libduet_mobile and uniffi-bindgen ($PROFILE)"
# One build makes both (duet-mobile's default features): the generator needs uniffi's `cli`
# feature, which only adds code the library never calls (the exported symbols are
# identical; LTO drops the rest). The packaging scripts (build-android.sh,
# build-xcframework.sh) build the library without it.
if [[ "$PROFILE" == dev ]]; then PACKAGES="--workspace --all-targets"; else PACKAGES="-p duet-mobile"; fi
# shellcheck disable=SC2086
cargo build --locked $PROFILE_FLAG $PACKAGES $CARGO_FLAGS

rm -rf "$OUT/kotlin" "$OUT/swift" "$OUT/python"
for lang in kotlin swift python; do
    echo "==> $lang bindings"
    "$DIR/uniffi-bindgen" generate \
        --library "$DIR/$LIB" \
        --language "$lang" \
        --out-dir "$OUT/$lang" \
        --no-format
done
# Swift: one C module, DuetFFI, for both components' headers (core/uniffi.toml generates no
# module map of its own; the shared declarations in the headers are guarded).
perl -0pi -e 's/(\s*)header "DuetFFI.h"/$1header "DuetCoreFFI.h"$1header "DuetFFI.h"/' \
    "$OUT/swift/DuetFFI.modulemap"
# Python loads the library from next to the module.
cp "$DIR/$LIB" "$OUT/python/"
echo "bindings in $OUT/: $(cd "$OUT" && find kotlin swift python -type f | tr '\n' ' ')"
