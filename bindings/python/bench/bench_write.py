"""The batch-write benchmark through the Python binding: batches of 1000 samples (10 points x 100
timestamps) written with MeterDb.write(points, ts, values), durability NONE. Each repeat opens a
fresh database and times each batch; prints the median time of a batch over all repeats and the
mean, once per input form: numpy arrays (if numpy is installed), array.array (no copy either)
and plain lists (converted on each call). The same workload as ffi/examples/bench_write.rs and
bindings/c/bench/bench_write.c.

Usage: python3 bench/bench_write.py [batches] [repeats]
"""

import array
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import meterdb  # noqa: E402

BATCH = 1000
POINTS = 10


def batches_as_lists(n):
    out = []
    for b in range(n):
        pts = [i % POINTS for i in range(BATCH)]
        ts = [1_700_000_000_000 + (b * (BATCH // POINTS) + i // POINTS) * 60_000 for i in range(BATCH)]
        vs = [b + i * 0.001 for i in range(BATCH)]
        out.append((pts, ts, vs))
    return out


def run(batches, repeats):
    times = []
    for _ in range(repeats):
        d = tempfile.mkdtemp(prefix="meterdb-bench-py-")
        try:
            with meterdb.MeterDb(d, durability=meterdb.Durability.NONE, memtable_bytes=1 << 30) as db:
                for p in range(POINTS):
                    db.ensure_point("bench/p%d" % p)
                write = db.write
                clock = time.perf_counter
                for pts, ts, vs in batches:
                    t0 = clock()
                    write(pts, ts, vs)
                    times.append((clock() - t0) * 1e6)
        finally:
            shutil.rmtree(d)
    return statistics.median(times), statistics.fmean(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    lists = batches_as_lists(n)
    forms = []
    try:
        import numpy as np

        forms.append(
            ("python-numpy", [(np.array(p, np.uint32), np.array(t, np.int64), np.array(v)) for p, t, v in lists])
        )
    except ImportError:
        print("numpy not installed: no numpy row", file=sys.stderr)
    forms.append(
        ("python-array", [(array.array("I", p), array.array("q", t), array.array("d", v)) for p, t, v in lists])
    )
    forms.append(("python-lists", lists))
    for name, batches in forms:
        run(batches[: max(1, n // 10)], 1)  # warm-up
        median, mean = run(batches, repeats)
        print(
            "RESULT %s batch_write_1000 median_us=%.2f mean_us=%.2f repeats=%d batches=%d"
            % (name, median, mean, repeats, n)
        )


if __name__ == "__main__":
    main()
