#!/usr/bin/env bash
# Everything the bindings promise, as CI runs it (from .ci/run):
#   1. the C header is what cbindgen generates from ffi/src (bindings/c/check-header.sh)
#   2. the C tests and example against libmeterdb.a and libmeterdb.so, plainly and under
#      valgrind (no errors, no bytes lost)
#   3. the Java tests (JNA) against the jar alone, libmeterdb inside it (java/build-jar.sh)
#   4. the Python tests (pytest) against the package as pip installs it: a virtual environment
#      in a temporary directory, `pip install bindings/python` (libmeterdb built into the
#      wheel), the tests run from outside the checkout; pyarrow installed when possible
# Every step builds libmeterdb in the same CARGO_TARGET_DIR with the same features, so it is
# compiled once. Installs what is missing on a Debian machine (as root: one apt-get update,
# then apt-get install; pip: pytest, and setuptools for the build; cargo install cbindgen).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# The library is built with Parquet export (meterdb_export), and every script below builds it
# the same way (a build with other features would replace the library file). The C test of
# the export fails, rather than skips, when the library lacks it.
export METERDB_FFI_FEATURES="${METERDB_FFI_FEATURES-parquet}"
if [[ ",$METERDB_FFI_FEATURES," == *,parquet,* ]]; then
    export METERDB_EXPECT_PARQUET=1
fi
features=()
[[ -n "$METERDB_FFI_FEATURES" ]] && features=(--features "$METERDB_FFI_FEATURES")

need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v valgrind >/dev/null || need+=(valgrind)
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
[[ -f /usr/share/java/jna.jar ]] || need+=(libjna-java)
command -v strip >/dev/null || need+=(binutils)
"${PYTHON:-python3}" -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    echo "== installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== C header"
"$here/c/check-header.sh"

echo "== libmeterdb (release, features: ${METERDB_FFI_FEATURES:-none})"
(cd "$root" && cargo build --release -q -p meterdb-ffi "${features[@]}")

echo "== C tests (static and shared library)"
make -s -C "$here/c" test
echo "== C tests under valgrind"
make -s -C "$here/c" valgrind

echo "== Java tests"
"$here/java/run-tests.sh"

echo "== Python tests"
"$here/python/run-tests.sh"
echo "== bindings: all passed"
