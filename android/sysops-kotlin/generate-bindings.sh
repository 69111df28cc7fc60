#!/usr/bin/env bash
# Generates the uniffi Kotlin bindings from the built mobile-ffi library, so they always
# match the library that is loaded at run time (uniffi also checks this when loading).
#
#   ./generate-bindings.sh [LIB_DIR [OUT_DIR]]
#
# LIB_DIR: the cargo target directory holding libmobile_ffi (default ../../target/debug);
# OUT_DIR: where the package tree goes (default target/generated-sources/uniffi).
# Build the library first: cargo build -p sysops-server -p mobile-ffi
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace="$(cd "$here/../.." && pwd)"
lib_dir="$(cd "${1:-$workspace/target/debug}" 2>/dev/null && pwd)" || {
  echo "generate-bindings.sh: no directory ${1:-$workspace/target/debug}; run: cargo build -p sysops-server -p mobile-ffi" >&2
  exit 1
}
out_dir="${2:-$here/target/generated-sources/uniffi}"

case "$(uname -s)" in
  Darwin) lib="$lib_dir/libmobile_ffi.dylib" ;;
  *) lib="$lib_dir/libmobile_ffi.so" ;;
esac
if [[ ! -f "$lib" ]]; then
  echo "generate-bindings.sh: $lib is missing; run: cargo build -p sysops-server -p mobile-ffi" >&2
  exit 1
fi

# Regenerate from scratch so a removed item cannot linger.
rm -rf "$out_dir"
mkdir -p "$out_dir"
cd "$workspace"
cargo run --quiet -p uniffi-bindgen -- generate "$lib" \
  --language kotlin --no-format \
  --config "$here/uniffi.toml" \
  --out-dir "$out_dir"
echo "uniffi Kotlin bindings for $lib in $out_dir"
