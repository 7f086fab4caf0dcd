#!/usr/bin/env bash
# Builds the Java binding's jar, bindings/java/build/meterdb.jar: libmeterdb (release, cargo,
# in the workspace's target/ unless CARGO_TARGET_DIR names another), the classes of src/
# (javac, Java 17), and the library as a JNA resource (linux-x86-64/libmeterdb.so, without its
# debug information), which the binding loads with no meterdb.lib, METERDB_LIB or
# jna.library.path. Needs JNA 5 (/usr/share/java/jna.jar: Debian's libjna-java), a JDK 17 and
# Rust. Prints the jar's path.
# Features: METERDB_FFI_FEATURES (default parquet, as bindings/run-all.sh and the Python
# package build it, so that one library serves all; empty: none).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"

for tool in javac jar; do
    command -v "$tool" >/dev/null || { echo "build-jar: $tool not found (install a JDK 17)" >&2; exit 1; }
done
[[ -f "$jna" ]] || { echo "build-jar: $jna not found (apt-get install libjna-java, or set JNA_JAR)" >&2; exit 1; }
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) prefix=linux-x86-64 ;;
    Linux-aarch64) prefix=linux-aarch64 ;;
    *) echo "build-jar: no JNA resource prefix for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

features=()
ffi_features="${METERDB_FFI_FEATURES-parquet}"
[[ -n "$ffi_features" ]] && features=(--features "$ffi_features")
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release -q -p meterdb-ffi "${features[@]}")
lib="$target/release/libmeterdb.so"

classes="$here/build/classes"
rm -rf "$classes" "$here/build/meterdb.jar"
mkdir -p "$classes/$prefix"
javac -Xlint:all,-try -Werror --release 17 -cp "$jna" -d "$classes" $(find "$here/src" -name '*.java')
# The release profile keeps debug information (70 MB of the 80); users need none.
strip --strip-debug -o "$classes/$prefix/libmeterdb.so" "$lib" 2>/dev/null \
    || cp "$lib" "$classes/$prefix/libmeterdb.so"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
printf 'Implementation-Title: MeterDB\nImplementation-Version: %s\n' "$version" >"$here/build/manifest.txt"
jar --create --file "$here/build/meterdb.jar" --manifest "$here/build/manifest.txt" -C "$classes" .
echo "$here/build/meterdb.jar"
