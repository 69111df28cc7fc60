# shellcheck shell=bash
# Sourced by the scripts next to it: where the committed Swift bindings live and how
# they are generated, so that the Mac build, the update and the CI check agree.

IOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$IOS_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
KIT_DIR="$IOS_DIR/SysopsKit"
# The generated Swift source, compiled into the SysopsKit target.
SWIFT_DIR="$KIT_DIR/Sources/SysopsKit/Generated"
# The C header and module map, passed as `-headers` to `xcodebuild -create-xcframework`.
# They sit in a folder named after the Clang module (`mobile_ffiFFI`) so that Clang
# finds `Headers/mobile_ffiFFI/module.modulemap` and no other framework's
# `module.modulemap` collides with it in the app's include directory.
HEADERS_ROOT="$KIT_DIR/Headers"
HEADERS_DIR="$HEADERS_ROOT/mobile_ffiFFI"
# The core's exported types (DeviceError, SyncState, KeyStore, DeviceListener,
# TicketStatus, TicketStage: sysops-core feature `ffi`) come as a second uniffi crate,
# `sysops_core`, with its own Clang module next to the first.
CORE_HEADERS_DIR="$HEADERS_ROOT/sysops_coreFFI"

# The mobile-ffi library that `cargo build -p mobile-ffi` leaves for this host.
host_library() {
  case "$(uname -s)" in
    Darwin) echo "$TARGET_DIR/debug/libmobile_ffi.dylib" ;;
    *) echo "$TARGET_DIR/debug/libmobile_ffi.so" ;;
  esac
}

# generate_bindings LIBRARY OUT_DIR
# Writes mobile_ffi.swift, mobile_ffiFFI.h and mobile_ffiFFI.modulemap to OUT_DIR, and the
# same three for sysops_core.
# `--no-format`: uniffi would run swift-format when it is installed (on a Mac, not
# here), and the committed copies must not depend on which machine made them.
generate_bindings() {
  (cd "$REPO_ROOT" && cargo run --quiet -p uniffi-bindgen -- \
    generate "$1" --language swift --no-format --out-dir "$2")
  local f
  for f in "$2"/*; do
    case "$(basename "$f")" in
      mobile_ffi.swift | mobile_ffiFFI.h | mobile_ffiFFI.modulemap) ;;
      sysops_core.swift | sysops_coreFFI.h | sysops_coreFFI.modulemap) ;;
      *)
        echo "error: uniffi generated an unexpected file $(basename "$f");" \
          "teach ios/scripts/bindings.sh where it belongs" >&2
        return 1
        ;;
    esac
  done
}

# The committed copy of each generated file, as "generated-name committed-path" lines.
committed_files() {
  echo "mobile_ffi.swift $SWIFT_DIR/mobile_ffi.swift"
  echo "mobile_ffiFFI.h $HEADERS_DIR/mobile_ffiFFI.h"
  echo "mobile_ffiFFI.modulemap $HEADERS_DIR/module.modulemap"
  echo "sysops_core.swift $SWIFT_DIR/sysops_core.swift"
  echo "sysops_coreFFI.h $CORE_HEADERS_DIR/sysops_coreFFI.h"
  echo "sysops_coreFFI.modulemap $CORE_HEADERS_DIR/module.modulemap"
}

# install_bindings GEN_DIR: copies freshly generated files over the committed ones.
install_bindings() {
  local name dest
  mkdir -p "$SWIFT_DIR" "$HEADERS_DIR" "$CORE_HEADERS_DIR"
  while read -r name dest; do
    cp "$1/$name" "$dest"
  done < <(committed_files)
}
