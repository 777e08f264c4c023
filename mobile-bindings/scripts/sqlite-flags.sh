# Sourced by the scripts that build libduet_mobile (build-bindings.sh, so the tests run the
# library that ships; build-android.sh; build-xcframework.sh): the bundled SQLite without
# the features rusqlite turns on that duet-core never uses; further down, the bundled C
# without unwind tables and the shipped library's profile. duet-core needs the core and
# FTS5 (search); it uses no FTS3/4, R*Tree, dbstat, soundex(), JSON functions, extension
# loading or sqlite_stat4 (it never runs ANALYZE). About 200 KB less in the library
# (BENCHMARKS.md, "Mobile library size"). libsqlite3-sys reads LIBSQLITE3_FLAGS when it
# compiles the bundled SQLite: -U drops one of its -D defaults. The workspace's own builds
# and tests (and the relay) keep the default SQLite. Flags already in LIBSQLITE3_FLAGS come
# last and win; sourcing twice (a script that calls another) adds nothing.
if [[ -z "${DUET_MOBILE_SQLITE_FLAGS:-}" ]]; then
    DUET_MOBILE_SQLITE_FLAGS="-USQLITE_ENABLE_FTS3 -USQLITE_ENABLE_FTS3_PARENTHESIS"
    DUET_MOBILE_SQLITE_FLAGS+=" -USQLITE_ENABLE_RTREE -USQLITE_ENABLE_DBSTAT_VTAB -USQLITE_SOUNDEX"
    DUET_MOBILE_SQLITE_FLAGS+=" -USQLITE_ENABLE_STAT4 -USQLITE_ENABLE_LOAD_EXTENSION"
    DUET_MOBILE_SQLITE_FLAGS+=" -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_JSON"
    export DUET_MOBILE_SQLITE_FLAGS
    export LIBSQLITE3_FLAGS="$DUET_MOBILE_SQLITE_FLAGS${LIBSQLITE3_FLAGS:+ $LIBSQLITE3_FLAGS}"
fi

# The bundled C code (SQLite, and ring's C) without unwind tables: about 117 KB less
# (BENCHMARKS.md, "Mobile library size"). No Rust panic ever unwinds through those frames:
# ring calls no Rust, and every callback SQLite makes into rusqlite catches panics (and a
# panic leaving an `extern "C"` function aborts anyway). The cost: a native crash report or
# profiler walks no further than a SQLite or ring frame. The cc crate reads CFLAGS (cargo-ndk
# puts it after its own `--target`); set DUET_MOBILE_KEEP_C_UNWIND=1 to keep the tables.
if [[ -z "${DUET_MOBILE_C_FLAGS:-}" && -z "${DUET_MOBILE_KEEP_C_UNWIND:-}" ]]; then
    DUET_MOBILE_C_FLAGS="-fno-asynchronous-unwind-tables -fno-unwind-tables"
    export DUET_MOBILE_C_FLAGS
    export CFLAGS="${CFLAGS:+$CFLAGS }$DUET_MOBILE_C_FLAGS"
fi

# The shipped library's profile, for every script that builds it (`cargo rustc ...
# "${DUET_MOBILE_PROFILE[@]}"`; the workspace's `[profile.release]` is unchanged): fat LTO,
# one codegen unit, the Rust code at opt-level "z" and the bundled C (SQLite, ring) at "s".
# "z" is 325 KB smaller than "s" and costs CPU in automerge (the paper trace's raw automerge
# time +18 %, BENCHMARKS.md, "Mobile library size"). A per-package opt-level also sets the
# OPT_LEVEL that package's build script sees, so the cc crate keeps compiling the C at -Os
# (at "z" it passes -Oz to clang, the NDK's and Xcode's compiler; gcc gets -Os either way).
# DUET_MOBILE_OPT_LEVEL=s builds the Rust code at "s" again, to compare.
# shellcheck disable=SC2034  # used by the scripts that source this file
DUET_MOBILE_PROFILE=(
    --config "profile.release.opt-level=\"${DUET_MOBILE_OPT_LEVEL:-z}\""
    --config 'profile.release.package.libsqlite3-sys.opt-level="s"'
    --config 'profile.release.package.ring.opt-level="s"'
    --config 'profile.release.lto="fat"'
    --config 'profile.release.codegen-units=1'
)

# Paths inside the library's panic messages, shortened (about 20 KB of .rodata): the
# registry's sources and this workspace. Also makes the build independent of where it ran.
duet_remaps="'--remap-path-prefix=$PWD=duet'"
for duet_src in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
    duet_remaps+=", '--remap-path-prefix=${duet_src%/}=crates'"
done
DUET_MOBILE_PROFILE+=(--config "build.rustflags=[$duet_remaps]")
unset duet_remaps duet_src

# The final link (after `--` on `cargo rustc`): lld folds identical functions (--icf=all),
# packs relative relocations, and merges strings (-O2). Linux (the size measured here) uses
# DT_RELR; Android's API 24 floor takes Android's own packing (API 23+). iOS ships a
# staticlib, which the app's linker links.
DUET_MOBILE_LINK_ARGS=(
    -C link-arg=-Wl,--icf=all
    -C link-arg=-Wl,-O2
)
DUET_MOBILE_LINK_ARGS_LINUX=("${DUET_MOBILE_LINK_ARGS[@]}" -C link-arg=-Wl,-z,pack-relative-relocs)
DUET_MOBILE_LINK_ARGS_ANDROID=("${DUET_MOBILE_LINK_ARGS[@]}" -C link-arg=-Wl,--pack-dyn-relocs=android)
