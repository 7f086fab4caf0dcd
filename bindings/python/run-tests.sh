#!/usr/bin/env bash
# Builds libmeterdb (release) and runs the Python binding's tests with pytest (installed with
# pip when missing). numpy and pyarrow are optional: the tests that need them are skipped
# without them (both are installed with pip when possible).
# Usage: bindings/python/run-tests.sh [pytest args] | --bench [batches] [repeats]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
py="${PYTHON:-python3}"

# The same cargo features as bindings/run-all.sh (METERDB_FFI_FEATURES, e.g. parquet).
features=()
[[ -n "${METERDB_FFI_FEATURES:-}" ]] && features=(--features "$METERDB_FFI_FEATURES")
(cd "$root" && cargo build --release -q -p meterdb-ffi "${features[@]}")
export METERDB_LIB="${METERDB_LIB:-$target/release/libmeterdb.so}"

if [[ "${1:-}" == "--bench" ]]; then
    shift
    exec "$py" "$here/bench/bench_write.py" "$@"
fi
if ! "$py" -c "import pytest" 2>/dev/null; then
    echo "run-tests: installing pytest"
    "$py" -m pip install -q pytest 2>/dev/null \
        || "$py" -m pip install -q --break-system-packages pytest
fi
# pyarrow and numpy are optional (MeterDb.to_arrow and its tests need both; recent pyarrow
# does not bring numpy with it): installed when pip can, else those tests are skipped with
# the reason.
if ! "$py" -c "import pyarrow, numpy" 2>/dev/null; then
    echo "run-tests: installing pyarrow and numpy (optional)"
    "$py" -m pip install -q pyarrow numpy 2>/dev/null \
        || "$py" -m pip install -q --break-system-packages pyarrow numpy 2>/dev/null \
        || echo "run-tests: pyarrow or numpy could not be installed; their tests will be skipped"
fi
cd "$here"
export METERDB_SHARED="$root/../shared/data/uk-meters.csv.gz"
exec "$py" -m pytest -q -p no:cacheprovider tests "$@"
