#!/usr/bin/env bash
# Memory on the phone (issue 14): a release libduet_mobile and its Python bindings
# (build-bindings.sh), then mobile-bindings/bench/rss.py opens a 10,000-entry journal
# through them, lists and searches it, and prints the process's resident set.
# Usage: mobile-bindings/scripts/rss.sh [ENTRIES]
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root
DUET_BINDINGS_PROFILE=release ./mobile-bindings/scripts/build-bindings.sh >/dev/null
python3 mobile-bindings/bench/rss.py bindings-out/python "${1:-10000}"
