#!/usr/bin/env bash
# Builds the binding's jar with build-jar.sh (libmeterdb inside it as a JNA resource), then
# runs the tests against that jar alone (and JNA): no meterdb.lib, no METERDB_LIB, no
# jna.library.path. javac + java, no Maven.
# Installs Debian's libjna-java when /usr/share/java/jna.jar is missing (as root, apt-get).
# Usage: bindings/java/run-tests.sh [--bench [batches] [repeats]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
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

jar="$("$here/build-jar.sh")"
tests="$here/build/test-classes"
rm -rf "$tests"
mkdir -p "$tests"
javac -Xlint:all,-try -Werror --release 17 -cp "$jar:$jna" -d "$tests" \
    $(find "$here/test" "$here/bench" -name '*.java')

# The jar alone (and JNA): the library must come from inside it.
run() { env -u METERDB_LIB java -cp "$jar:$tests:$jna" -Dmeterdb.expectOrigin=jar "$@"; }
if [[ "${1:-}" == "--bench" ]]; then
    shift
    run org.meterdb.bench.BenchWrite "$@"
else
    run -Dmeterdb.shared="$root/../shared/data/uk-meters.csv.gz" org.meterdb.MeterDbTest
    # The README's install commands and first example, as a user's program: its own directory,
    # the jar and JNA on the class path, nothing else.
    app="$(mktemp -d "${TMPDIR:-/tmp}/meterdb-java-readme.XXXXXX")"
    trap 'rm -rf "$app"' EXIT
    {
        echo 'import org.meterdb.*;'
        echo 'public class YourApp { public static void main(String[] args) {'
        awk '/^```java$/ { n++; next } /^```$/ { if (n == 1) exit } n == 1' "$here/README.md"
        echo '} }'
    } >"$app/YourApp.java"
    (cd "$app" && javac -cp "$jar:$jna" -d out YourApp.java \
        && env -u METERDB_LIB java -cp "$jar:$jna:out" YourApp) >"$app/output"
    if ! grep -q '^1795508100000 1236.01$' "$app/output" \
        || ! grep -q '^Optional\[Sample\[ts=1795508100000, value=1236.01, quality=1\]\]$' "$app/output"; then
        echo "run-tests: the README example printed:" >&2
        cat "$app/output" >&2
        exit 1
    fi
    echo "ok   README install commands and example ($(wc -l <"$app/output") lines)"
fi
