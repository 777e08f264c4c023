#!/usr/bin/env bash
# iOS/macOS packaging: builds the static library for the Apple targets with the mobile size
# settings and TLS, makes DuetFFI.xcframework (xcodebuild -create-xcframework) and puts the
# generated Swift next to it, so mobile-bindings/swift is a ready Swift package.
#
# macOS with Xcode only. NOT RUN in this project's CI (Linux, no Xcode or Swift toolchain):
# see mobile-bindings/README.md for what is verified where.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the workspace root
# The bundled SQLite without the features duet-core never uses, and the shipped profile
# (DUET_MOBILE_PROFILE; see the file).
# shellcheck source=sqlite-flags.sh
source mobile-bindings/scripts/sqlite-flags.sh

if [[ "$(uname -s)" != Darwin ]] || ! command -v xcodebuild >/dev/null; then
    echo "build-xcframework.sh needs macOS with Xcode (xcodebuild)" >&2
    exit 1
fi

IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "$IOS" "${SIM[@]}" "${MAC[@]}"

# The shipped library: small (sqlite-flags.sh's profile: fat LTO, one codegen unit, Rust at
# opt-level z, the bundled C at s), with https/wss.
# `cargo rustc --crate-type`: without the rlib (see Cargo.toml), LTO drops what nothing calls.
BUILD=(cargo rustc --locked --release -p duet-mobile --lib --no-default-features --features tls --crate-type cdylib,staticlib
    "${DUET_MOBILE_PROFILE[@]}")
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
for t in "$IOS" "${SIM[@]}" "${MAC[@]}"; do
    echo "==> $t"
    "${BUILD[@]}" --target "$t"
done

# Swift sources and the C header from the host library (identical interface everywhere).
./mobile-bindings/scripts/build-bindings.sh

WORK=target/xcframework
rm -rf "$WORK" mobile-bindings/swift/DuetFFI.xcframework
mkdir -p "$WORK/headers" "$WORK/ios-sim" "$WORK/macos"
cp bindings-out/swift/DuetFFI.h bindings-out/swift/DuetCoreFFI.h "$WORK/headers/"
cp bindings-out/swift/DuetFFI.modulemap "$WORK/headers/module.modulemap"
lipo -create target/aarch64-apple-ios-sim/release/libduet_mobile.a \
    target/x86_64-apple-ios/release/libduet_mobile.a -output "$WORK/ios-sim/libduet_mobile.a"
lipo -create target/aarch64-apple-darwin/release/libduet_mobile.a \
    target/x86_64-apple-darwin/release/libduet_mobile.a -output "$WORK/macos/libduet_mobile.a"

xcodebuild -create-xcframework \
    -library "target/$IOS/release/libduet_mobile.a" -headers "$WORK/headers" \
    -library "$WORK/ios-sim/libduet_mobile.a" -headers "$WORK/headers" \
    -library "$WORK/macos/libduet_mobile.a" -headers "$WORK/headers" \
    -output mobile-bindings/swift/DuetFFI.xcframework

# Both components' Swift (the client; duet-core's records, enums, ids and DuetError) make
# the one module Duet.
cp bindings-out/swift/Duet.swift bindings-out/swift/DuetCore.swift mobile-bindings/swift/Sources/Duet/
echo "Swift package ready: mobile-bindings/swift (DuetFFI.xcframework + Sources/Duet/{Duet,DuetCore}.swift)"
