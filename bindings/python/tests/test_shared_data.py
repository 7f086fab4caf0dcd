"""The bindings' shared scenarios on ../shared/data/uk-meters.csv.gz: every point written in
batches of 1000 rows in file order, read back exactly (for a repeated timestamp the last value
in file order wins), latest values; again after a flush, a compaction and a reopen. And "query
day consumption" (below)."""

import bisect
import csv
import functools
import gzip
from datetime import datetime

from meterdb import Durability, MeterDb, PointKind, PointMeta, Tier


@functools.lru_cache(maxsize=1)
def load(path):
    rows = []
    with gzip.open(path, "rt", newline="") as f:
        r = csv.reader(f)
        next(r)
        for point, ts, value in r:
            ms = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()) * 1000
            rows.append((point, ms, float(value)))
    return rows


def verify_all(db, ids, want):
    for key, id in ids.items():
        w = sorted(want[id].items())
        cols = db.read(id)
        assert len(cols.ts) == len(w), key
        assert list(cols.ts) == [t for t, _ in w], key
        assert list(cols.values) == [v for _, v in w], key  # exact: same doubles
        assert set(cols.quality) == {1}
        last = db.latest(id)
        assert (last.ts, last.value, last.quality) == (w[-1][0], w[-1][1], 1), key


def test_shared_data_round_trip(shared_csv, tmp_path):
    rows = load(shared_csv)
    assert len(rows) > 200_000
    ids, want = {}, {}
    with MeterDb(tmp_path, durability=Durability.NONE) as db:
        for point, _, _ in rows:
            if point not in ids:
                ids[point] = db.define_point(
                    PointMeta(
                        point,
                        PointKind.COUNTER if "register" in point else PointKind.GAUGE,
                        unit="MW" if point.startswith("taylor") else "kWh",
                        precision=3,
                        tags={"source": "uk"},
                    )
                )
        assert len(ids) == 9
        for i in range(0, len(rows), 1000):
            chunk = rows[i : i + 1000]
            pts = [ids[r[0]] for r in chunk]
            db.write(pts, [r[1] for r in chunk], [r[2] for r in chunk])
            for p, r in zip(pts, chunk):
                want.setdefault(p, {})[r[1]] = r[2]
        verify_all(db, ids, want)
        db.flush()
        db.compact()
    with MeterDb(tmp_path, durability=Durability.NONE) as db:
        assert {k: db.point_id(k) for k in ids} == ids
        verify_all(db, ids, want)
        distinct = sum(len(w) for w in want.values())
        assert distinct < len(rows)
        assert db.stats().segment_samples == distinct
        assert db.verify().ok


def test_shared_data_day_consumption(shared_csv, tmp_path):
    """The *register* points (cumulative registers, defined as counters) are the running totals of
    their interval series over every row, so a day in the database's default +08:00 zone with a
    register sample exactly at both boundaries consumed the sum of the interval rows stamped after
    its start and up to and including its end (registers are rounded to 3 decimals: within
    0.0011)."""
    rows = load(shared_csv)
    ids = {}
    with MeterDb(tmp_path, durability=Durability.NONE) as db:
        for point, _, _ in rows:
            if point not in ids:
                kind = PointKind.COUNTER if "register" in point else PointKind.GAUGE
                ids[point] = db.define_point(PointMeta(point, kind, precision=3))
        for i in range(0, len(rows), 1000):
            chunk = rows[i : i + 1000]
            db.write([ids[r[0]] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk])
        assert db.tz_offset_min == 480
        checked = 0
        for key, id in ids.items():
            if "register" not in key:
                continue
            # uk-electricity-sample-0-register-kwh <- uk-electricity-hdd-only-hourly-sample-0
            interval = key.replace("-register-kwh", "").replace("-sample-", "-hdd-only-hourly-sample-")
            assert interval in ids
            reg_ts = {t for p, t, _ in rows if p == key}
            series = sorted((t, v) for p, t, v in rows if p == interval)  # every row, repeats too
            times = [t for t, _ in series]
            days = 0
            for d in db.rollup(id, Tier.DAY):
                if d.start not in reg_ts or d.end not in reg_ts:
                    continue
                lo, hi = bisect.bisect_right(times, d.start), bisect.bisect_right(times, d.end)
                want = sum(v for _, v in series[lo:hi])
                assert abs(d.consumption - want) <= 0.0011, (key, d.start, d.consumption, want)
                days += 1
            assert days > 100, key
            checked += days
        assert checked > 1000
        print("register day consumption checked on %d days" % checked)
