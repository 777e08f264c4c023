#!/usr/bin/env bash
# The shipped mobile library's size: builds libduet_mobile the way the packaging scripts do
# (TLS on, trimmed SQLite, the profile of sqlite-flags.sh: fat LTO, one codegen unit, Rust
# at opt-level "z", the bundled C at "s"), strips a copy and fails if it passes the budget
# (6,000,000 B; BENCHMARKS.md, "Mobile library size"). Honours CARGO_TARGET_DIR.
# A release build of some 6-10 minutes on two cores, so not part of scripts/test.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root
BUDGET=${DUET_MOBILE_SIZE_BUDGET:-6000000}
# shellcheck source=sqlite-flags.sh
source mobile-bindings/scripts/sqlite-flags.sh
cargo rustc --locked --release -p duet-mobile --lib --no-default-features --features tls \
    --crate-type cdylib,staticlib "${DUET_MOBILE_PROFILE[@]}" -- "${DUET_MOBILE_LINK_ARGS_LINUX[@]}"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cp "${CARGO_TARGET_DIR:-target}/release/libduet_mobile.so" "$tmp"
strip "$tmp"
size=$(stat -c %s "$tmp")
echo "libduet_mobile.so, stripped: $size B (budget $BUDGET B)"
if (( size > BUDGET )); then
    echo "over budget by $((size - BUDGET)) B" >&2
    exit 1
fi
