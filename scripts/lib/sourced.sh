# shellcheck shell=bash
# Sourced use of scripts/garage.sh and scripts/postgres.sh (`. scripts/postgres.sh start`):
# this file is read into the caller's shell, so it defines one prefixed function only.

# duet_sourced SCRIPT "DIR_VAR OTHER_VARS..." [COMMAND ARGS...]: run SCRIPT in a child bash
# (so that its `set -e` and traps stay out of the caller) and bring its exports into the
# calling shell on start, or unset them on stop (only when DIR_VAR says a server was
# started).
duet_sourced() {
    local __duet_script="$1" __duet_vars="$2" __duet_env
    shift 2
    case "${1:-}" in
        start)
            __duet_env="$(bash "$__duet_script" start)" || return 1
            eval "$__duet_env"
            ;;
        stop)
            local __duet_dir_var="${__duet_vars%% *}"
            if [[ -n "${!__duet_dir_var:-}" ]]; then
                bash "$__duet_script" stop || return 1
                # Word splitting is the point: the list of names to unset.
                # shellcheck disable=SC2086
                unset $__duet_vars
            fi
            ;;
        *)
            bash "$__duet_script" "$@" || return 1
            ;;
    esac
    return 0
}
