#!/usr/bin/env bash
# A few fast engine test binaries under valgrind (memcheck), built in debug: the unit tests
# of the WAL, the segment files, the manifest, the catalog and the decoding cursor, the
# fuzz corpora replayed through every decoder, and the store-and-forward files (cursor
# files, upload log, bundles) and a WAL recovery regression. Any valgrind error fails the
# run (docs/robustness.md). About two minutes on 2 cores once built.
#
#   .ci/valgrind-engine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
tests=(fuzz_corpus regression_cursor_now_unsynced regression_catalog_version forward_uploads)
args=(-p meterdb --features fuzzing --lib)
for t in "${tests[@]}"; do args+=(--test "$t"); done
# `cargo test --no-run` names each test executable on stderr. (Shown through `cat >&2`,
# not `tee /dev/stderr`, which reopens stderr and so truncates a log file it is sent to.)
exes=$(cargo test "${args[@]}" --no-run 2>&1 | tee >(cat >&2) |
    sed -n 's/^ *Executable .*(\(.*\))$/\1/p')
vg=(valgrind --error-exitcode=1 --quiet --trace-children=no)
start=$SECONDS
for exe in $exes; do
    case "$exe" in
    */meterdb-*)
        # The unit tests of the lowest layers only (the whole set takes too long under valgrind).
        for filter in wal:: segment:: manifest:: catalog:: format::; do
            echo "== valgrind: unit tests $filter"
            "${vg[@]}" "$exe" --test-threads=1 -q "$filter"
        done
        ;;
    *)
        echo "== valgrind: $(basename "$exe")"
        "${vg[@]}" "$exe" --test-threads=1 -q
        ;;
    esac
done
echo "== engine tests under valgrind: no errors, in $((SECONDS - start)) s"
