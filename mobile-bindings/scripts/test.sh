#!/usr/bin/env bash
# The mobile bindings' tests: builds duet-relay and the library (dev profile unless
# DUET_BINDINGS_PROFILE=release), generates the Kotlin/Swift/Python bindings, then runs the
# Kotlin tests on the JVM (Maven: JUnit 5, JNA, kotlinx-coroutines, against that
# libduet_mobile.so) and the Python tests (pytest). Both include scenarios with a real
# duet-relay. Exits non-zero on any failure. The release library's size is checked by
# scripts/size.sh.
#
# Needs: cargo, a JDK (17+) and Maven (`mvn`; packages come from Maven Central), python3
# (pytest is installed with `pip --user` if missing). Called by ../../scripts/test.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "mobile-bindings/scripts/test.sh: '$1' is required ($2)" >&2
        exit 1
    }
}
need python3 "for the Python binding tests"
need java "a JDK 17+ for the Kotlin binding tests"
need mvn "Maven, for the Kotlin binding tests"

# A relay binary the caller built (scripts/test builds every target once) or a debug build.
if [[ -z "${DUET_RELAY_BIN:-}" ]]; then
    echo "==> duet-relay (debug)"
    cargo build --locked -p duet-server --bin duet-relay
    export DUET_RELAY_BIN="$PWD/target/debug/duet-relay"
fi

export DUET_BINDINGS_PROFILE="${DUET_BINDINGS_PROFILE:-dev}"
./mobile-bindings/scripts/build-bindings.sh
case "$DUET_BINDINGS_PROFILE" in release) LIB_DIR="$PWD/target/release" ;; *) LIB_DIR="$PWD/target/debug" ;; esac

if ! python3 -m pytest --version >/dev/null 2>&1; then
    echo "==> installing pytest (pip --user)"
    # --user where it is allowed; inside a virtualenv (no user site) a plain install.
    python3 -m pip install --user --quiet pytest || python3 -m pip install --quiet pytest
fi

# A deliberate panic in the tests prints its message; keep it short.
export RUST_BACKTRACE=0

echo "==> Kotlin binding tests (JVM)"
(cd mobile-bindings/kotlin && mvn -q -B test "-Dduet.lib.dir=$LIB_DIR")
echo "    Kotlin: $(grep -ho 'tests="[0-9]*" errors="[0-9]*" skipped="[0-9]*" failures="[0-9]*"' \
    mobile-bindings/kotlin/target/surefire-reports/TEST-*.xml | tr '\n' ' ')"

echo "==> Python binding tests"
(cd mobile-bindings/python && python3 -m pytest -q -p no:cacheprovider)
