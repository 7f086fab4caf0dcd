#!/usr/bin/env bash
# Builds libmeterdb (release) and runs the Java binding's tests with javac + java (no Maven).
# Installs Debian's libjna-java when /usr/share/java/jna.jar is missing (as root, apt-get).
# Usage: bindings/java/run-tests.sh [--bench [batches] [repeats]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
jna=/usr/share/java/jna.jar

if [[ ! -f "$jna" ]]; then
    echo "run-tests: installing libjna-java"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q libjna-java >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q libjna-java >/dev/null
    }
fi
for tool in javac java; do
    command -v "$tool" >/dev/null || { echo "run-tests: $tool not found (install a JDK 17)" >&2; exit 1; }
done

# The same cargo features as bindings/run-all.sh (METERDB_FFI_FEATURES, e.g. parquet).
features=()
[[ -n "${METERDB_FFI_FEATURES:-}" ]] && features=(--features "$METERDB_FFI_FEATURES")
(cd "$root" && cargo build --release -q -p meterdb-ffi "${features[@]}")
lib="$target/release/libmeterdb.so"

classes="$here/build/classes"
rm -rf "$classes"
mkdir -p "$classes"
javac -Xlint:all,-try -Werror --release 17 -cp "$jna" -d "$classes" \
    $(find "$here/src" "$here/test" "$here/bench" -name '*.java')

run() { java -cp "$classes:$jna" -Dmeterdb.lib="$lib" "$@"; }
if [[ "${1:-}" == "--bench" ]]; then
    shift
    run org.meterdb.bench.BenchWrite "$@"
else
    run -Dmeterdb.shared="$root/../shared/data/uk-meters.csv.gz" org.meterdb.MeterDbTest
fi
