#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo fuzz, libFuzzer) for a bounded time and fails on
# any crash: a panic, a failed assertion, a timeout or running out of memory.
#
#   DUET_FUZZ_SECONDS   seconds per target (default 30)
#   DUET_FUZZ_JOBS      targets run at once (default: the number of cores)
#   DUET_FUZZ_TARGETS   which targets, space-separated (default: all, `cargo fuzz list`)
#   DUET_FUZZ_TARGET_DIR  where they are built (default ~/.cache/duet/fuzz-target: kept
#                       across clones, so CI's fresh checkout rebuilds only Duet's own
#                       crates; a cold build of the instrumented dependencies takes ~5 min)
#
# Each run starts from the committed seeds and regression inputs in fuzz/corpus/<target>/
# (replayed first, so a fixed crash stays fixed) and keeps what it discovers in a
# throwaway directory: the repository's corpus only grows by hand. An input that crashes
# is saved as fuzz/artifacts/<target>/crash-…; reproduce it with
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none <target> artifacts/<target>/crash-…)
# (add --target-dir ~/.cache/duet/fuzz-target to reuse this script's build)
# and, once fixed, copy it into fuzz/corpus/<target>/ as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${DUET_FUZZ_SECONDS:-30}"

# cargo-fuzz hands rustc flags that only nightly takes (-Z…); there is only the stable
# toolchain here, which takes them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

# --dev: fuzz/Cargo.toml's dev profile (opt-level 1, many codegen units, debug assertions
# and overflow checks) builds in a fraction of cargo fuzz's default single-unit release
# build on two cores. No sanitizer: duet's own crates forbid unsafe code, and AddressSanitizer
# would reach neither SQLite's C nor anything Rust's checks don't already catch.
target_dir="${DUET_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/duet/fuzz-target}"
flags=(--dev --sanitizer none --target-dir "$target_dir")

cd fuzz
echo "==> cargo fuzz build (into $target_dir)"
cargo fuzz build "${flags[@]}"

read -r -a targets <<<"${DUET_FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# One target: its result line goes to $scratch/$t.out, its status to $scratch/$t.rc.
fuzz_one() {
    local t=$1 start=$SECONDS rc=0
    mkdir -p "$scratch/$t" "corpus/$t"
    # -timeout: one input slower than this is a failure (a hang); -rss_limit_mb likewise
    # for memory. The first corpus directory is where new inputs go: the scratch one.
    cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$scratch/$t.log" 2>&1 || rc=$?
    if ((rc == 0)); then
        local runs cov
        runs="$(grep -oE '^Done [0-9]+ runs' "$scratch/$t.log" | grep -oE '[0-9]+' || echo '?')"
        cov="$(grep -oE 'cov: [0-9]+' "$scratch/$t.log" | tail -1 || true)"
        printf '==> fuzz %-14s ok: %s runs in %ss, %s, %s seeds\n' "$t" "$runs" \
            "$((SECONDS - start))" "${cov:-cov: ?}" "$(find "corpus/$t" -type f | wc -l)" \
            >"$scratch/$t.out"
    else
        { echo "==> fuzz $t FAILED; the end of its log:"; tail -n 60 "$scratch/$t.log"; } \
            >"$scratch/$t.out"
    fi
    echo "$rc" >"$scratch/$t.rc"
}

# libFuzzer runs on one core: as many targets at once as there are cores
# (DUET_FUZZ_JOBS), so the whole run takes about seconds × targets / cores.
jobs="${DUET_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
running=0
for t in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$t" &
    running=$((running + 1))
done
wait
failed=()
for t in "${targets[@]}"; do
    cat "$scratch/$t.out" 2>/dev/null || echo "==> fuzz $t: no result"
    [[ "$(cat "$scratch/$t.rc" 2>/dev/null)" == 0 ]] || failed+=("$t")
done

if ((${#failed[@]})); then
    echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each ($jobs at a time), no crash"
