# shellcheck shell=bash
# What scripts/garage.sh and scripts/postgres.sh share when they run (not when sourced: see
# sourced.sh): logging, the guard on the dirs they remove, start's and stop's outer steps and
# the command dispatch. Before sourcing this, the script sets
#   MARKER   the file that marks a dir as one of ours, so that stop never removes another
#   THING    what runs in the dir, for messages ("node", "cluster")
#   KIND     what the dir is a throwaway of, for messages ("Garage", "cluster")
#   DIR_VAR  the variable naming the dir to stop; URL_VAR the one naming the server to use
# and it defines start_server (starts one; its stdout goes to stderr; sets what print_exports
# prints), print_exports (the export lines) and stop_in DIR (stops what runs in DIR).

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: scripts/${0##*/} start   # prints export lines for eval; logs on stderr
       scripts/${0##*/} stop    # stops and removes the $THING in \$$DIR_VAR
EOF
}

# Stops what runs in the dir $1 and removes it, if it is ours.
destroy() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    if [[ ! -e "$dir/$MARKER" ]]; then
        log "$dir is not a throwaway $KIND of ours ($MARKER is missing); leaving it alone"
        return 1
    fi
    stop_in "$dir"
    rm -rf -- "$dir"
}

# Marks the fresh dir $1 as ours, and removes it on any exit until the server is up and its
# exports are printed (cmd_start sets STARTED).
claim_dir() {
    touch "$1/$MARKER"
    STARTED=0
    NEW_DIR="$1"
    trap '[[ $STARTED == 1 ]] || destroy "$NEW_DIR"' EXIT
}

cmd_start() {
    if [[ -n "${!URL_VAR:-}" ]]; then
        log "$URL_VAR is set; not starting a server"
        return 0
    fi
    # Only the export lines go to stdout. (No spare descriptor holds stdout meanwhile: the
    # server would inherit it and `$(...)` would wait for it forever.)
    start_server >&2
    print_exports
    STARTED=1
}

cmd_stop() {
    local dir="${!DIR_VAR:-}"
    [[ -n "$dir" ]] || return 0
    log "stopping the $THING in $dir"
    exec 1>&2
    destroy "$dir"
}

# Runs the command $1.
main() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}
