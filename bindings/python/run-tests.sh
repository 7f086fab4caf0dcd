#!/usr/bin/env bash
# Tests the Python binding the way its users get it: creates a virtual environment in a
# temporary directory, `pip install`s bindings/python into it (setup.py builds libmeterdb with
# cargo in the workspace's target/ and bundles it in the wheel), checks that the install left
# nothing in the checkout (git status), then runs the tests with pytest from outside the source
# tree against the installed package, with no METERDB_LIB.
#
# The environment sees the system's site-packages (pytest, numpy and pyarrow when installed
# there); what is missing is installed into it with pip. numpy and pyarrow are optional: the
# tests that need them are skipped without them.
# Usage: bindings/python/run-tests.sh [pytest args] | --bench [batches] [repeats]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
py="${PYTHON:-python3}"

if [[ "${1:-}" == "--bench" ]]; then
    # The benchmark runs from the source tree against the workspace's library.
    shift
    features=()
    [[ -n "${METERDB_FFI_FEATURES:-}" ]] && features=(--features "$METERDB_FFI_FEATURES")
    (cd "$root" && cargo build --release -q -p meterdb-ffi "${features[@]}")
    export METERDB_LIB="${METERDB_LIB:-$CARGO_TARGET_DIR/release/libmeterdb.so}"
    exec "$py" "$here/bench/bench_write.py" "$@"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/meterdb-python-tests.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
unset METERDB_LIB

# What git sees under bindings/ (and, under bindings/python, ignored files too: build/,
# *.egg-info, __pycache__). Not the whole checkout: other work may change it meanwhile.
git_state() {
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$root" status --porcelain --untracked-files=all -- bindings
        git -C "$root" status --porcelain --untracked-files=all --ignored -- bindings/python
    fi
}
before="$(git_state)"

echo "run-tests: pip install $here (into a virtual environment in $tmp)"
"$py" -m venv --system-site-packages "$tmp/venv"
vpy="$tmp/venv/bin/python"
# setup.py builds with METERDB_FFI_FEATURES (run-all.sh: parquet; setup.py's default too).
(cd "$tmp" && "$vpy" -m pip install -q "$here")

after="$(git_state)"
if [[ "$before" != "$after" ]]; then
    echo "run-tests: pip install changed the checkout:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi

if ! "$vpy" -c "import pytest" 2>/dev/null; then
    echo "run-tests: installing pytest"
    "$vpy" -m pip install -q pytest
fi
# pyarrow and numpy are optional (MeterDb.to_arrow and its tests need both; recent pyarrow
# does not bring numpy with it).
if ! "$vpy" -c "import pyarrow, numpy" 2>/dev/null; then
    echo "run-tests: installing pyarrow and numpy (optional)"
    "$vpy" -m pip install -q pyarrow numpy 2>/dev/null \
        || echo "run-tests: pyarrow or numpy could not be installed; their tests will be skipped"
fi

# The tests, copied out of the checkout: nothing on sys.path leads back to it.
cp -r "$here/tests" "$tmp/tests"
cd "$tmp"
export METERDB_SHARED="$root/../shared/data/uk-meters.csv.gz"
export METERDB_TEST_INSTALLED="$root"
export METERDB_README="$here/README.md"
"$vpy" -m pytest -q -p no:cacheprovider tests "$@"
