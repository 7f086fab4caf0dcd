#!/usr/bin/env bash
# The batch-write benchmark in every language: batches of 1000 samples (10 points x 100
# timestamps), durability NONE, a fresh database per repeat; the median time of one batch,
# and its ratio to the Rust API's. Usage: bindings/bench.sh [batches] [repeats]
#
#   rust          benches/examples/bench_write.rs  Db::write (the baseline)
#   c-static/-shared bindings/c/bench/bench_write.c  meterdb_db_write, libmeterdb.a / .so
#   java          bindings/java/bench/...       MeterDb.write(int[], long[], double[])
#   python-*      bindings/python/bench/bench_write.py  numpy arrays, array.array, lists
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
batches="${1:-1000}"
repeats="${2:-7}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

(cd "$root" && cargo build --release -q -p meterdb-benches --example bench_write)
echo "== rust" >&2
"$CARGO_TARGET_DIR/release/examples/bench_write" "$batches" "$repeats" | tee -a "$out" >&2
echo "== c" >&2
make -s -C "$here/c" bench BENCH_ARGS="$batches $repeats" 2>&1 | grep RESULT | tee -a "$out" >&2
echo "== java" >&2
"$here/java/run-tests.sh" --bench "$batches" "$repeats" | tee -a "$out" >&2
echo "== python" >&2
"$here/python/run-tests.sh" --bench "$batches" "$repeats" | tee -a "$out" >&2

awk '
/^RESULT/ {
    name = $2
    for (i = 3; i <= NF; i++) { split($i, kv, "="); v[name, kv[1]] = kv[2] }
    order[++n] = name
}
END {
    base = v["rust", "median_us"]
    printf "\nbatch write, 1000 samples per batch (median of every batch over all repeats)\n"
    printf "%-14s %12s %10s %12s\n", "binding", "median us", "vs rust", "mean us"
    for (i = 1; i <= n; i++) {
        k = order[i]
        printf "%-14s %12.2f %9.2fx %12.2f\n", k, v[k, "median_us"], v[k, "median_us"] / base, v[k, "mean_us"]
    }
}' "$out"
