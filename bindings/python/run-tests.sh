#!/usr/bin/env bash
# Builds libmeterdb (release) and runs the Python binding's tests with pytest (installed with
# pip when missing). numpy is optional: the tests that need it are skipped without it.
# Usage: bindings/python/run-tests.sh [pytest args] | --bench [batches] [repeats]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
py="${PYTHON:-python3}"

(cd "$root" && cargo build --release -q -p meterdb-ffi)
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
cd "$here"
export METERDB_SHARED="$root/../shared/data/uk-meters.csv.gz"
exec "$py" -m pytest -q -p no:cacheprovider tests "$@"
