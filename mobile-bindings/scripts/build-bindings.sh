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
# Extra cargo flags may be passed through CARGO_FLAGS (e.g. "--features tls").
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root
# The bundled SQLite without the features duet-core never uses (see the file).
# shellcheck source=sqlite-flags.sh
source mobile-bindings/scripts/sqlite-flags.sh

OUT=bindings-out
CARGO_FLAGS=${CARGO_FLAGS:-}

case "$(uname -s)" in
    Darwin) LIB=libduet_mobile.dylib ;;
    *) LIB=libduet_mobile.so ;;
esac

echo "==> libduet_mobile and uniffi-bindgen (release)"
# One build makes both: the generator needs uniffi's `cli` feature, which only adds code the
# library never calls (the exported symbols are identical; LTO drops the rest). The packaging
# scripts (build-android.sh, build-xcframework.sh) build the library without it.
# shellcheck disable=SC2086
cargo build --locked --release -p duet-mobile --features cli $CARGO_FLAGS

rm -rf "$OUT/kotlin" "$OUT/swift" "$OUT/python"
for lang in kotlin swift python; do
    echo "==> $lang bindings"
    target/release/uniffi-bindgen generate \
        --library "target/release/$LIB" \
        --language "$lang" \
        --out-dir "$OUT/$lang" \
        --no-format
done
# Swift: one C module, DuetFFI, for both components' headers (core/uniffi.toml generates no
# module map of its own; the shared declarations in the headers are guarded).
perl -0pi -e 's/(\s*)header "DuetFFI.h"/$1header "DuetCoreFFI.h"$1header "DuetFFI.h"/' \
    "$OUT/swift/DuetFFI.modulemap"
# Python loads the library from next to the module.
cp "target/release/$LIB" "$OUT/python/"
echo "bindings in $OUT/: $(cd "$OUT" && find kotlin swift python -type f | tr '\n' ' ')"
