#!/usr/bin/env bash
# The long robustness run (docs/robustness.md): 1,000,000 simulated power losses, 10,000
# SIGKILLs and 10 minutes of fuzzing per target: about 2.5 hours on 2 cores. Not part of
# .ci/run; the counts can be overridden as in .ci/robustness.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export MDB_POWER_LOSSES="${MDB_POWER_LOSSES:-1000000}"
export MDB_KILL9_CYCLES="${MDB_KILL9_CYCLES:-10000}"
export FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
exec bash .ci/robustness.sh
