#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), starting from the
# committed seeds in fuzz/corpus/<target>/ (read only: new inputs go to a scratch corpus
# under the target directory). Prints the executions of each target, and the input of
# any failure (fuzz/artifacts/<target>/): copy it into fuzz/corpus/<target>/ once fixed,
# so that engine/tests/fuzz_corpus.rs replays it.
#
#   fuzz/run.sh 60                     # stable Rust, no sanitizer (-s none)
#   FUZZ_ASAN=1 fuzz/run.sh 60         # AddressSanitizer (RUSTC_BOOTSTRAP=1 on stable)
#   FUZZ_TARGETS="codec segment" fuzz/run.sh 600
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler (libFuzzer).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
tdir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
san=(-s none)
if [ -n "${FUZZ_ASAN:-}" ]; then
    export RUSTC_BOOTSTRAP=1
    san=()
    tdir="$tdir-asan"
fi
mkdir -p "$tdir"
echo "== building the fuzz targets (${san[*]:-address sanitizer}) into $tdir"
cargo fuzz build "${san[@]}" --target-dir "$tdir"
status=0
summary=()
for t in $targets; do
    scratch="$tdir/corpus/$t"
    mkdir -p "$scratch"
    log="$tdir/$t.log"
    echo "== fuzzing $t for $secs s"
    if cargo fuzz run "${san[@]}" --target-dir "$tdir" "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=20 \
        >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        tail -n 40 "$log"
    fi
    execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || true)
    line=$(printf '%-14s %-6s %12s executions in %ss, coverage %s edges' \
        "$t" "$result" "${execs:-?}" "$secs" "${cov:-?}")
    echo "$line"
    summary+=("$line")
done
echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit $status
