#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the relay's PostgreSQL backend.
#
#   eval "$(scripts/postgres.sh start)"   # prints `export DUET_TEST_DATABASE_URL=...` and
#                                         # `export DUET_PG_DIR=...` on stdout, logs on stderr
#   scripts/postgres.sh stop              # stops the cluster in $DUET_PG_DIR, removes the dir
#
# It may also be sourced: `. scripts/postgres.sh start` / `. scripts/postgres.sh stop` set
# (and unset) the two variables in the calling shell.
#
# start does nothing when DUET_TEST_DATABASE_URL is already set (the caller brings its own
# server); stop does nothing when DUET_PG_DIR is unset (nothing was started). Otherwise start
# installs Debian's `postgresql` package if the server binaries are missing, runs initdb in
# a fresh temp dir (superuser `duet`, trust auth, locale C, UTF8) and starts the cluster on
# 127.0.0.1 on a free port (from 55432 up), with its unix socket inside the temp dir and
# its log in $DUET_PG_DIR/server.log. As root, the cluster runs as the `postgres` user.
# Debian's own cluster and service are never used.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # shellcheck source=lib/sourced.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib/sourced.sh"
    duet_sourced "${BASH_SOURCE[0]}" "DUET_PG_DIR DUET_TEST_DATABASE_URL" "$@"
    return
fi

set -euo pipefail

readonly FIRST_PORT=55432
readonly PORT_TRIES=50
readonly READY_TIMEOUT_SECS=30
readonly MARKER=.duet-throwaway-postgres THING=cluster KIND=cluster
readonly DIR_VAR=DUET_PG_DIR URL_VAR=DUET_TEST_DATABASE_URL
# shellcheck source=lib/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"

# The directory holding initdb, pg_ctl and pg_isready: the newest under /usr/lib/postgresql,
# else the one of initdb on PATH. Empty when there is none.
find_bindir() {
    local dir
    dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        printf '%s\n' "$dir"
        return
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

# A PostgreSQL program: from BINDIR if it is there, else from PATH.
pg_tool() {
    if [[ -x "$BINDIR/$1" ]]; then
        printf '%s\n' "$BINDIR/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        die "$1 not found (in $BINDIR or on PATH)"
    fi
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 \
        || die "PostgreSQL's server binaries are missing and there is no apt-get: install PostgreSQL, or set DUET_TEST_DATABASE_URL"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql)
    log "installing Debian's postgresql package"
    if ! as_root "${install[@]}" </dev/null >&2; then
        log "install failed; running apt-get update and trying again"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >&2
        as_root "${install[@]}" </dev/null >&2
    fi
}

# Runs a PostgreSQL program as the cluster's owner ($RUN_AS; empty: ourselves), from the
# cluster's dir so that the owner can always read the current directory.
as_owner() {
    if [[ -n "$RUN_AS" ]]; then
        (cd "$PG_DIR" && runuser -u "$RUN_AS" -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

# True when nothing is bound to 127.0.0.1:$1.
port_free() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
' "$1"
    else
        # Something that accepts a connection there: taken.
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 1
        fi
        return 0
    fi
}

# Stops the server in the dir $1 (if its postmaster.pid is there).
stop_in() {
    local dir="$1" owner pg_ctl
    PG_DIR="$dir"
    RUN_AS=""
    if [[ "$(id -u)" -eq 0 ]]; then
        owner="$(stat -c %U "$dir/data" 2>/dev/null || echo postgres)"
        [[ "$owner" == root ]] || RUN_AS="$owner"
    fi
    [[ -f "$dir/data/postmaster.pid" ]] || return 0
    BINDIR="$(find_bindir)"
    pg_ctl="$(pg_tool pg_ctl)"
    if ! as_owner "$pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2; then
        log "fast shutdown failed; trying an immediate one"
        as_owner "$pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >&2 || true
    fi
}

print_exports() {
    printf 'export DUET_TEST_DATABASE_URL=%q\n' "postgres://duet@127.0.0.1:$PORT/postgres"
    printf 'export DUET_PG_DIR=%q\n' "$PG_DIR"
}

# Sets PG_DIR and PORT.
start_server() {
    BINDIR="$(find_bindir)"
    if [[ -z "$BINDIR" ]]; then
        install_postgres
        BINDIR="$(find_bindir)"
        [[ -n "$BINDIR" ]] || die "installed postgresql, but still no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    fi
    local initdb pg_ctl pg_isready postgres
    initdb="$(pg_tool initdb)"
    pg_ctl="$(pg_tool pg_ctl)"
    pg_isready="$(pg_tool pg_isready)"
    postgres="$(pg_tool postgres)"

    # PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
    RUN_AS=""
    if [[ "$(id -u)" -eq 0 ]]; then
        RUN_AS=postgres
        if ! id -u postgres >/dev/null 2>&1; then
            log "creating the postgres system user"
            useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
                --shell /usr/sbin/nologin postgres
        fi
        command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as root"
    fi

    PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/duet-pg.XXXXXXXX")"
    if [[ -n "$RUN_AS" ]] && ! runuser -u "$RUN_AS" -- test -x "$(dirname "$PG_DIR")"; then
        # The postgres user can't reach $TMPDIR: use /tmp.
        rmdir "$PG_DIR"
        PG_DIR="$(mktemp -d /tmp/duet-pg.XXXXXXXX)"
    fi
    claim_dir "$PG_DIR"
    mkdir "$PG_DIR/data" "$PG_DIR/socket"
    chmod 700 "$PG_DIR/data"
    [[ -z "$RUN_AS" ]] || chown -R "$RUN_AS:" "$PG_DIR"

    log "$("$postgres" --version); cluster in $PG_DIR${RUN_AS:+ (as $RUN_AS)}"
    as_owner "$initdb" -D "$PG_DIR/data" -U duet --auth=trust --encoding=UTF8 --locale=C \
        >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed"
    }

    cat >"$PG_DIR/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
EOF
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# Duet's throwaway test cluster (scripts/postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/socket'
max_connections = 200
shared_buffers = 128MB
fsync = on
include = 'duet-port.conf'
EOF
    [[ -z "$RUN_AS" ]] || chown "$RUN_AS:" "$PG_DIR/data/pg_hba.conf" "$PG_DIR/data/postgresql.conf"

    # Take the first free port from FIRST_PORT up; if another server binds it before ours
    # does (a concurrent start), our postmaster exits and we try the next one.
    local port=$((FIRST_PORT - 1)) tries=0 log_file="$PG_DIR/server.log"
    while true; do
        port=$((port + 1))
        ((port <= 65535)) || die "no free port from $FIRST_PORT up"
        port_free "$port" || continue
        tries=$((tries + 1))
        ((tries <= PORT_TRIES)) || die "no port to listen on after $PORT_TRIES tries"
        printf "port = %d\n" "$port" >"$PG_DIR/data/duet-port.conf"
        [[ -z "$RUN_AS" ]] || chown "$RUN_AS:" "$PG_DIR/data/duet-port.conf"
        [[ ! -f "$log_file" ]] || : >"$log_file"
        log "starting on 127.0.0.1:$port"
        # -w waits on our own postmaster's status (postmaster.pid), so a server of someone
        # else's that answers on the port can't be taken for ours.
        if as_owner "$pg_ctl" -D "$PG_DIR/data" -l "$log_file" -w -t "$READY_TIMEOUT_SECS" start </dev/null >&2; then
            break
        fi
        if grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets' "$log_file" 2>/dev/null; then
            log "port $port was taken meanwhile; trying the next one"
            continue
        fi
        cat "$log_file" >&2 || true
        die "PostgreSQL did not start"
    done

    local deadline=$((SECONDS + READY_TIMEOUT_SECS))
    until "$pg_isready" -q -h 127.0.0.1 -p "$port" -U duet -d postgres; do
        if ((SECONDS >= deadline)); then
            cat "$log_file" >&2 || true
            die "PostgreSQL is not ready on 127.0.0.1:$port after ${READY_TIMEOUT_SECS}s"
        fi
        sleep 0.2
    done

    PORT="$port"
    log "ready: postgres://duet@127.0.0.1:$port/postgres (log: $log_file)"
}

main "$@"
