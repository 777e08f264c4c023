#!/usr/bin/env bash
# A throwaway Garage (S3-compatible object store) for the tests of the relay's S3 attachment
# backend.
#
#   eval "$(scripts/garage.sh start)"   # prints `export DUET_TEST_S3_URL=...`,
#                                       # `export AWS_ACCESS_KEY_ID=...`,
#                                       # `export AWS_SECRET_ACCESS_KEY=...` and
#                                       # `export DUET_GARAGE_DIR=...`; logs on stderr
#   scripts/garage.sh stop              # stops the node in $DUET_GARAGE_DIR, removes the dir
#
# It may also be sourced: `. scripts/garage.sh start` / `. scripts/garage.sh stop` set (and
# unset) the variables in the calling shell.
#
# start does nothing when DUET_TEST_S3_URL is already set (the caller brings its own
# server); stop does nothing when DUET_GARAGE_DIR is unset. Otherwise start installs Garage
# $GARAGE_VERSION with `cargo install` when no `garage` of that version is on PATH or in
# ~/.cargo/bin (a long build, once), writes a single-node configuration in a fresh temp dir
# (loopback ports only, SQLite metadata), starts the node, applies a one-node layout, and
# creates a bucket and a key allowed to read and write it. The key is made here, random,
# and lives only as long as the node.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # shellcheck source=lib/sourced.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib/sourced.sh"
    duet_sourced "${BASH_SOURCE[0]}" \
        "DUET_GARAGE_DIR DUET_TEST_S3_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY" "$@"
    return
fi

set -euo pipefail

readonly GARAGE_VERSION=2.5.0
readonly BUCKET=duet-test
readonly READY_TIMEOUT_SECS=60
readonly MARKER=.duet-throwaway-garage THING=node KIND=Garage
readonly DIR_VAR=DUET_GARAGE_DIR URL_VAR=DUET_TEST_S3_URL
# shellcheck source=lib/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"

# The garage binary of the pinned version: on PATH, in ~/.cargo/bin, or built now.
find_garage() {
    local g
    for g in "$(command -v garage 2>/dev/null || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/garage"; do
        if [[ -n "$g" && -x "$g" ]] && "$g" --version 2>/dev/null | grep -Eq "[v: ]${GARAGE_VERSION//./\\.}( |$)"; then
            printf '%s\n' "$g"
            return
        fi
    done
    # A test server moving a few MB: a debug build with only the SQLite metadata engine
    # (no LMDB, K2V or metrics) builds in about half the time of the default release one
    # (9.6 min against 21.5 on two busy cores) and is fast enough.
    log "installing Garage $GARAGE_VERSION (cargo install; about 10 minutes, once)"
    cargo install garage --version "$GARAGE_VERSION" --locked --debug \
        --no-default-features --features bundled-libs,sqlite >&2 ||
        die "cargo install garage failed"
    printf '%s\n' "${CARGO_HOME:-$HOME/.cargo}/bin/garage"
}

# Three free loopback ports (taken by the kernel, released just before Garage binds them).
free_ports() {
    python3 -c '
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
'
}

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Stops the node in the dir $1 (its pid file).
stop_in() {
    local pid
    [[ -f "$1/garage.pid" ]] || return 0
    pid="$(cat "$1/garage.pid")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

print_exports() {
    printf 'export DUET_TEST_S3_URL=%q\n' "s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=garage"
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "$KEY_ID"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$SECRET"
    printf 'export DUET_GARAGE_DIR=%q\n' "$DIR"
}

# Sets DIR, S3_PORT, KEY_ID and SECRET.
start_server() {
    local garage
    garage="$(find_garage)"
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/duet-garage.XXXXXXXX")"
    claim_dir "$DIR"
    local rpc_port admin_port
    read -r rpc_port S3_PORT admin_port <<<"$(free_ports)"
    cat >"$DIR/garage.toml" <<EOF
# Duet's throwaway test node (scripts/garage.sh)
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
EOF
    chmod 600 "$DIR/garage.toml"
    local g=("$garage" -c "$DIR/garage.toml")
    log "$("$garage" --version); node in $DIR (S3 on 127.0.0.1:$S3_PORT)"
    # Its own session: it outlives this script, and holds none of our descriptors.
    setsid "${g[@]}" server </dev/null >"$DIR/garage.log" 2>&1 &
    echo $! >"$DIR/garage.pid"

    local deadline=$((SECONDS + READY_TIMEOUT_SECS)) node=""
    until node="$("${g[@]}" node id -q 2>/dev/null)"; do
        kill -0 "$(cat "$DIR/garage.pid")" 2>/dev/null || { cat "$DIR/garage.log" >&2; die "Garage exited"; }
        ((SECONDS < deadline)) || { cat "$DIR/garage.log" >&2; die "Garage did not answer in ${READY_TIMEOUT_SECS}s"; }
        sleep 0.2
    done
    "${g[@]}" layout assign -z dc1 -c 1G "${node%%@*}" >/dev/null
    "${g[@]}" layout apply --version 1 >/dev/null
    until "${g[@]}" bucket create "$BUCKET" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { cat "$DIR/garage.log" >&2; die "could not create the bucket"; }
        sleep 0.2
    done
    KEY_ID="GK$(hex 12)"
    SECRET="$(hex 32)"
    "${g[@]}" key import --yes -n duet-test "$KEY_ID" "$SECRET" >/dev/null
    "${g[@]}" bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null
    # The S3 port answers once the layout is live.
    until (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null; do
        ((SECONDS < deadline)) || die "Garage's S3 API is not listening"
        sleep 0.2
    done
    log "ready: bucket $BUCKET on http://127.0.0.1:$S3_PORT (log: $DIR/garage.log)"
}

main "$@"
