"""MeterDb.to_arrow against the reads it is built from, in the same process: 10 points x 100,000
one-minute samples (flushed), and their day tier. Prints the median of `repeats` runs of
[db.read(p) for p in points] and db.to_arrow(points), and of [db.rollup(p, DAY) ...] and
db.to_arrow(points, tier=DAY), with the ratios. Needs numpy and pyarrow.

Usage: python3 bench/bench_arrow.py [repeats]   (METERDB_LIB as for the tests)
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import numpy as np  # noqa: E402

from meterdb import Durability, MeterDb, Tier  # noqa: E402

T0 = 1_704_038_400_000
POINTS, N = 10, 100_000


def median_s(f, repeats):
    runs = []
    for _ in range(repeats):
        a = time.perf_counter()
        f()
        runs.append(time.perf_counter() - a)
    return statistics.median(runs)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    with tempfile.TemporaryDirectory() as d, MeterDb(d + "/db", durability=Durability.NONE) as db:
        ids = [db.ensure_point("p%02d" % i) for i in range(POINTS)]
        ts = T0 + np.arange(N, dtype=np.int64) * 60_000
        rng = np.random.default_rng(1)
        for i in ids:
            db.write_point(i, ts, rng.random(N) * 100)
        db.flush()
        read = median_s(lambda: [db.read(i) for i in ids], repeats)
        arrow = median_s(lambda: db.to_arrow(ids), repeats)
        rows = median_s(lambda: [db.rollup(i, Tier.DAY) for i in ids], repeats)
        day = median_s(lambda: db.to_arrow(ids, tier=Tier.DAY), repeats)
        n = POINTS * N
        print(
            "raw, %d samples: read() %.1f ms, to_arrow %.1f ms (%.1f M samples/s), to_arrow/read %.2f"
            % (n, read * 1e3, arrow * 1e3, n / arrow / 1e6, arrow / read)
        )
        print(
            "day tier, %d rows: rollup() %.2f ms, to_arrow %.2f ms, to_arrow/rollup %.2f"
            % (db.to_arrow(ids, tier=Tier.DAY).num_rows, rows * 1e3, day * 1e3, day / rows)
        )


if __name__ == "__main__":
    main()
