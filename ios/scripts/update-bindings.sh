#!/usr/bin/env bash
# Regenerates the committed Swift bindings (ios/SysopsKit/Sources/SysopsKit/Generated/
# and ios/SysopsKit/Headers/) from the current Rust code. Run it after changing the
# mobile-ffi API, and commit the result.
#
#   ios/scripts/update-bindings.sh            # builds mobile-ffi for this machine first
#   ios/scripts/update-bindings.sh LIBRARY    # uses an already built libmobile_ffi.{so,dylib,a}
set -euo pipefail
# shellcheck source=bindings.sh
source "$(dirname "${BASH_SOURCE[0]}")/bindings.sh"

library="${1:-}"
if [[ -z "$library" ]]; then
  (cd "$REPO_ROOT" && cargo build -p mobile-ffi)
  library="$(host_library)"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
generate_bindings "$library" "$out"
install_bindings "$out"
echo "Swift bindings updated from $library"
