#!/usr/bin/env bash
# Regenerates the C header from ffi/src with cbindgen into a temporary file and fails when it
# differs from the committed bindings/c/include/meterdb.h. With --write, updates it instead.
# Installs cbindgen (cargo install) when it is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
header="$root/bindings/c/include/meterdb.h"
cd "$root"

if ! command -v cbindgen >/dev/null 2>&1; then
    echo "check-header: installing cbindgen"
    cargo install --locked cbindgen@0.29.4
fi

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cbindgen --quiet --config ffi/cbindgen.toml --crate meterdb-ffi --output "$tmp" ffi

if [[ "${1:-}" == "--write" ]]; then
    cp "$tmp" "$header"
    echo "check-header: wrote $header"
    exit 0
fi
if ! diff -u "$header" "$tmp"; then
    echo "check-header: bindings/c/include/meterdb.h is out of date with ffi/src;" >&2
    echo "check-header: run bindings/c/check-header.sh --write and commit the result" >&2
    exit 1
fi
echo "check-header: meterdb.h is up to date"
