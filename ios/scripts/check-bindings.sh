#!/usr/bin/env bash
# CI (Linux): regenerates the Swift bindings from the current Rust code and fails when
# they differ from the committed copies, so the iOS app never ships bindings that do
# not match the library it links.
set -euo pipefail
# shellcheck source=bindings.sh
source "$(dirname "${BASH_SOURCE[0]}")/bindings.sh"

(cd "$REPO_ROOT" && cargo build -p mobile-ffi)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
generate_bindings "$(host_library)" "$out"

stale=0
while read -r name committed; do
  if [[ ! -f "$committed" ]]; then
    echo "missing: ${committed#"$REPO_ROOT"/}" >&2
    stale=1
  elif ! diff -u --label "${committed#"$REPO_ROOT"/} (committed)" --label "$name (generated)" \
    "$committed" "$out/$name" >"$out/$name.diff"; then
    echo "differs: ${committed#"$REPO_ROOT"/}" >&2
    head -n 40 "$out/$name.diff" >&2
    stale=1
  fi
done < <(committed_files)

if [[ "$stale" -ne 0 ]]; then
  echo "error: generated Swift bindings are stale; run ios/scripts/update-bindings.sh" >&2
  exit 1
fi
echo "Swift bindings are up to date"
