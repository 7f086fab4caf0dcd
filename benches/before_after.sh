#!/usr/bin/env bash
# Two builds of MeterDB measured in one script, in turns, so that the machine's load falls
# on both alike: ingest with and without the five tiers (benches/examples/ingest_tiers.rs,
# medians of its in-process rates) and the whole directory's bytes per sample after
# `meterdb import` of the shared real meter data (clean, and with 1% of readings flagged
# invalid, 1% manual and 1% estimated).
#
#   benches/before_after.sh BEFORE_CHECKOUT AFTER_CHECKOUT [turns]
#
# Each checkout must be built first:
#   cargo build --release -p meterdb-benches --example ingest_tiers \
#       -p meterdb --features meterdb/cli --bin meterdb
# e.g. `git worktree add /tmp/before <commit>` for the older one.
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
turns=${3:-5}
data="$(dirname "$0")/../../shared/data/uk-meters.csv.gz"
if [ ! -f "$data" ]; then
    echo "skipping: $data not found" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shared data with qualities: every 100th reading invalid garbage, every 100th (shifted)
# manual, every 100th (shifted again) estimated.
python3 - "$data" "$work/quality.csv" <<'EOF'
import gzip, sys
src, dst = sys.argv[1], sys.argv[2]
with gzip.open(src, "rt") as f, open(dst, "w") as out:
    next(f)
    out.write("point,ts,value,quality\n")
    for i, line in enumerate(f):
        p, t, v = line.rstrip("\n").split(",")
        q = 1
        if i % 100 == 0:
            v, q = "999999", 0
        elif i % 100 == 1:
            q = 3
        elif i % 100 == 2:
            q = 5
        out.write(f"{p},{t},{v},{q}\n")
EOF
rows=$(($(wc -l < "$work/quality.csv") - 1))

bytes_per_sample() { # binary file -> whole directory bytes per sample
    local db="$work/db-$RANDOM"
    local meta="$work/meta.csv"
    # Registers as counters, the interval series as gauges.
    python3 - "$2" "$meta" <<'EOF'
import gzip, sys
src, dst = sys.argv[1], sys.argv[2]
opener = gzip.open if src.endswith(".gz") else open
keys = set()
with opener(src, "rt") as f:
    next(f)
    for line in f:
        keys.add(line.split(",", 1)[0])
with open(dst, "w") as out:
    out.write("point,kind\n")
    for k in sorted(keys):
        out.write(f"{k},{'counter' if 'register' in k else 'gauge'}\n")
EOF
    "$1" import --db "$db" --meta "$meta" "$2" > /dev/null 2>&1
    local b
    b=$(du -sb "$db" | cut -f1)
    rm -rf "$db"
    python3 -c "print(f'{$b / $rows:.3f}')"
}

ingest() { # binary -> "none_Msps all_Msps ratio"
    INGEST_TIERS_NOISY=1 "$1" 3 none all 2> /dev/null | awk -F'\t' '
        $1 == "none" { n = $3 } $1 == "all" { a = $3; r = $4 }
        END { print n, a, r }'
}

echo "turn	build	ingest none M/s	ingest all M/s	all/none	B/sample clean	B/sample with qualities"
for turn in $(seq 1 "$turns"); do
    for which in before after; do
        dir=$before
        [ "$which" = after ] && dir=$after
        read -r n a r < <(ingest "$dir/target/release/examples/ingest_tiers")
        clean=$(bytes_per_sample "$dir/target/release/meterdb" "$data")
        qual=$(bytes_per_sample "$dir/target/release/meterdb" "$work/quality.csv")
        echo "$turn	$which	$n	$a	$r	$clean	$qual"
    done
done | tee "$work/all.tsv"
echo
echo "medians:"
for which in before after; do
    awk -F'\t' -v w="$which" '$2 == w' "$work/all.tsv" | python3 -c "
import sys, statistics as s
rows = [l.rstrip('\n').split('\t') for l in sys.stdin]
cols = list(zip(*rows))
med = lambda i: s.median(float(x) for x in cols[i])
print('$which', *(f'{med(i):.3f}' for i in range(2, 7)), sep='\t')"
done
