#!/usr/bin/env bash
# Android packaging: builds libduet_mobile.so for arm64-v8a, armeabi-v7a and x86_64 with
# cargo-ndk (mobile size settings, TLS) into the Gradle module's jniLibs, and generates the
# Kotlin bindings (Android flavour: uniffi-android.toml) into its src/main/kotlin.
#
# Needs the Android NDK (ANDROID_NDK_HOME) and cargo-ndk (`cargo install cargo-ndk`).
# NOT RUN in this project's CI (no NDK here): see mobile-bindings/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root
# The bundled SQLite without the features duet-core never uses, and the shipped profile
# (DUET_MOBILE_PROFILE; see the file).
# shellcheck source=sqlite-flags.sh
source mobile-bindings/scripts/sqlite-flags.sh

command -v cargo-ndk >/dev/null || {
    echo "build-android.sh needs cargo-ndk: cargo install cargo-ndk" >&2
    exit 1
}
[[ -n "${ANDROID_NDK_HOME:-}" ]] || {
    echo "build-android.sh needs ANDROID_NDK_HOME (the Android NDK)" >&2
    exit 1
}

MODULE=mobile-bindings/android
ANDROID_API=${ANDROID_API:-24}
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android

echo "==> libduet_mobile.so for arm64-v8a, armeabi-v7a, x86_64"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -P "$ANDROID_API" -o "$MODULE/src/main/jniLibs" \
    rustc --locked --release -p duet-mobile --lib --no-default-features --features tls --crate-type cdylib,staticlib \
    "${DUET_MOBILE_PROFILE[@]}" -- "${DUET_MOBILE_LINK_ARGS_ANDROID[@]}"

# The Kotlin sources come from the host library (same interface), Android flavour.
./mobile-bindings/scripts/build-bindings.sh
case "$(uname -s)" in Darwin) LIB=libduet_mobile.dylib ;; *) LIB=libduet_mobile.so ;; esac
rm -rf "$MODULE/src/main/kotlin/app"
target/release/uniffi-bindgen generate --library "target/release/$LIB" --language kotlin \
    --config mobile-bindings/uniffi-android.toml --out-dir "$MODULE/src/main/kotlin" --no-format

echo "Android module ready: $MODULE (jniLibs/<abi>/libduet_mobile.so + src/main/kotlin/app/duet)"
