#!/usr/bin/env bash
# On a Mac with Xcode: builds the Rust device core (mobile-ffi) for iPhones and both
# kinds of simulator, refreshes the Swift bindings from that build, and packages the
# static libraries with the C header and module map as
# ios/SysopsKit/SysopsFFI.xcframework, the binary target of the SysopsKit package.
#
#   ios/scripts/build-xcframework.sh            # release build
#   PROFILE=debug ios/scripts/build-xcframework.sh
set -euo pipefail
# shellcheck source=bindings.sh
source "$(dirname "${BASH_SOURCE[0]}")/bindings.sh"

if [[ "$(uname -s)" != Darwin ]]; then
  echo "error: build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 1
fi

PROFILE="${PROFILE:-release}"
DEVICE_TARGET=aarch64-apple-ios
SIMULATOR_TARGETS=(aarch64-apple-ios-sim x86_64-apple-ios)
XCFRAMEWORK="$KIT_DIR/SysopsFFI.xcframework"
STAGING="$TARGET_DIR/ios-xcframework"
# Objects built for the same minimum iOS as the Swift package (Package.swift: .v16),
# so the linker does not warn about objects built for a newer iOS.
export IPHONEOS_DEPLOYMENT_TARGET=16.0

if [[ "$PROFILE" != release && "$PROFILE" != debug ]]; then
  echo "error: PROFILE must be release or debug" >&2
  exit 1
fi

rustup target add "$DEVICE_TARGET" "${SIMULATOR_TARGETS[@]}"

# mobile-ffi declares `cdylib` and `lib`; iOS apps link a static library, so ask for
# `staticlib` on the command line instead of changing the crate.
# (macOS runs this with bash 3.2: no empty arrays under `set -u`.)
build_for() {
  echo "== cargo: mobile-ffi for $1 ($PROFILE)"
  if [[ "$PROFILE" == release ]]; then
    cargo rustc -p mobile-ffi --lib --crate-type staticlib --release --target "$1"
  else
    cargo rustc -p mobile-ffi --lib --crate-type staticlib --target "$1"
  fi
}
cd "$REPO_ROOT"
for target in "$DEVICE_TARGET" "${SIMULATOR_TARGETS[@]}"; do
  build_for "$target"
done

library() { echo "$TARGET_DIR/$1/$PROFILE/libmobile_ffi.a"; }

echo "== lipo: one simulator library for arm64 and x86_64"
rm -rf "$STAGING"
mkdir -p "$STAGING/ios-simulator"
lipo -create "$(library aarch64-apple-ios-sim)" "$(library x86_64-apple-ios)" \
  -output "$STAGING/ios-simulator/libmobile_ffi.a"

echo "== uniffi: Swift bindings, header and module map"
generated="$STAGING/generated"
mkdir -p "$generated"
generate_bindings "$(library "$DEVICE_TARGET")" "$generated"
install_bindings "$generated"

echo "== xcodebuild: $XCFRAMEWORK"
rm -rf "$XCFRAMEWORK"
xcodebuild -create-xcframework \
  -library "$(library "$DEVICE_TARGET")" -headers "$HEADERS_ROOT" \
  -library "$STAGING/ios-simulator/libmobile_ffi.a" -headers "$HEADERS_ROOT" \
  -output "$XCFRAMEWORK"

if ! git -C "$REPO_ROOT" diff --quiet -- "$SWIFT_DIR" "$HEADERS_ROOT"; then
  echo "note: the Swift bindings changed; commit ios/SysopsKit/Sources/SysopsKit/Generated and ios/SysopsKit/Headers"
fi
echo "built $XCFRAMEWORK"
