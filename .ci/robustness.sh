#!/usr/bin/env bash
# The robustness suite at CI size (docs/robustness.md): simulated power losses and injected
# I/O faults, real SIGKILLs, a few engine test binaries under valgrind, and 60 s of fuzzing
# per target. The fuzz corpora replay, and the C misuse tests under valgrind run, in the
# rest of .ci/run.
#
#   MDB_POWER_LOSSES (default 50000)  MDB_KILL9_CYCLES (default 200)  FUZZ_SECONDS (default 60)
#
# About 20 minutes on 2 cores, most of it fuzzing (12 targets) and the fuzz build.
set -euo pipefail
cd "$(dirname "$0")/.."
export MDB_POWER_LOSSES="${MDB_POWER_LOSSES:-50000}"
export MDB_KILL9_CYCLES="${MDB_KILL9_CYCLES:-200}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
start=$SECONDS

# The same features as the test suite's build, so that nothing is compiled again.
echo "== power losses and I/O faults through FaultStorage ($MDB_POWER_LOSSES power losses)"
cargo test --workspace --all-features --test crash_power_loss -- --nocapture

echo "== SIGKILL of a writing process ($MDB_KILL9_CYCLES kills)"
cargo test --workspace --all-features --test crash_kill9 -- --nocapture

echo "== engine tests under valgrind"
bash .ci/valgrind-engine.sh

echo "== fuzzing, $FUZZ_SECONDS s per target"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked || true
fi
if command -v cargo-fuzz >/dev/null 2>&1; then
    bash fuzz/run.sh "$FUZZ_SECONDS"
else
    echo "cargo-fuzz could not be installed: fuzzing skipped (the corpora still replay in cargo test)"
fi
echo "== robustness suite done in $((SECONDS - start)) s"
