"""Meter truth: invalid readings excluded from a day bucket and counted (with the manual and
estimated ones) in BucketRow and SumRow, a recorded meter replacement changing consumption, a
net register giving the signed change, and misuse."""

import pytest

from meterdb import (
    QUALITY_ESTIMATED,
    QUALITY_MANUAL,
    QUALITY_VALID,
    MeterDb,
    MeterDbError,
    PointKind,
    PointMeta,
    Register,
    Replacement,
    Status,
    Tier,
)
from meterdb._db import Durability

D0 = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00, midnight in the default zone
H6 = 6 * 3_600_000
DAY = 86_400_000


def counter(db, key, **fields):
    return db.define_point(PointMeta(key, PointKind.COUNTER, unit="kWh", interval_ms=H6, **fields))


def write5(db, p, values, quality=None):
    db.write_point(p, [D0 + i * H6 for i in range(5)], values, quality)


def day(db, p):
    return db.rollup(p, Tier.DAY, D0, D0 + DAY)[0]


def test_invalid_readings_are_excluded_and_counted(db):
    m = counter(db, "m")
    # The day: 999999 flagged invalid; 06:00 entered by hand, 18:00 estimated.
    q = [QUALITY_VALID, QUALITY_VALID | QUALITY_MANUAL, 0, QUALITY_VALID | QUALITY_ESTIMATED, QUALITY_VALID]
    write5(db, m, [100, 106, 999999, 118, 124], q)
    for _ in range(2):  # from the memtable, then from segments
        d, nxt = db.rollup(m, Tier.DAY, D0, D0 + 2 * DAY)
        assert (d.count, d.sum, d.max, d.consumption) == (3, 324.0, 118.0, 24.0)
        assert (d.invalid, d.manual, d.estimated, d.backward) == (1, 1, 1, 0)
        assert d.completeness == 0.75
        assert (nxt.count, nxt.invalid) == (1, 0)
        (s,) = db.rollup_sum([m, m], Tier.DAY, D0, D0 + DAY)
        assert (s.count, s.points, s.consumption) == (6, 2, 48.0)
        assert (s.invalid, s.manual, s.estimated, s.backward) == (2, 2, 2, 0)
        db.flush()
    # The raw read keeps the invalid reading as written.
    assert [x.quality for x in db.range(m)] == q
    # A bucket of invalid readings only.
    g = db.define_point("g")
    db.put(g, D0, 5.0, 0)
    (b,) = db.rollup(g, Tier.DAY)
    assert (b.count, b.invalid, b.mean) == (0, 1, None)


def test_recorded_replacement_changes_consumption(tmp_path):
    path = tmp_path / "db"
    at = D0 + 3 * H6
    with MeterDb(path, durability=Durability.NONE) as db:
        p = counter(db, "r")
        # At 18:00 the meter was replaced: the old one read 1060 last, the new one began at 2.
        write5(db, p, [1000, 1040, 1050, 5, 20])
        assert day(db, p).consumption == 70.0  # inferred: the fall to 5, counted from zero
        db.replace_meter(p, at, 1060.0, 2.0)
        assert day(db, p).consumption == 78.0  # 50 + 10 + 3 + 15
        assert db.meter_replacements(p) == [Replacement(at, 1060.0, 2.0)]
        # Defining the point again keeps its replacements.
        assert counter(db, "r") == p
        assert db.meter_replacements(p) == [(at, 1060.0, 2.0)]
    with MeterDb(path) as db:  # durable
        p = db.point_id("r")
        assert day(db, p).consumption == 78.0
        many = [D0 + DAY + i * 60_000 for i in range(12)]
        for t in many:
            db.replace_meter(p, t, 20.0 + t % 7, 0.0)
        assert [r.ts for r in db.meter_replacements(p)] == [at] + many  # past the first array
        for t in many:
            db.forget_meter_replacement(p, t)
        db.forget_meter_replacement(p, at)
        assert day(db, p).consumption == 70.0
        assert db.meter_replacements(p) == []
        with pytest.raises(MeterDbError) as e:
            db.forget_meter_replacement(p, at)
        assert e.value.status == Status.NOT_FOUND
        g = db.define_point("gauge")
        with pytest.raises(MeterDbError) as e:
            db.replace_meter(g, at, 1.0, 0.0)
        assert e.value.status == Status.INVALID_ARGUMENT and "gauge" in str(e.value)
        with pytest.raises(MeterDbError) as e:
            db.replace_meter(p, at, float("nan"), 0.0)
        assert e.value.status == Status.INVALID_ARGUMENT
        with pytest.raises(MeterDbError) as e:
            db.replace_meter(999, at, 1.0, 0.0)
        assert e.value.status == Status.NOT_FOUND


def test_net_register_gives_the_signed_change(db):
    p = counter(db, "pv")
    # A fall of 2 at 12:00: a backward step (not a rollover, not near zero).
    write5(db, p, [100, 105, 103, 104, 106])
    assert db.point(p).register == Register.IMPORT
    d = day(db, p)
    assert (d.consumption, d.backward) == (8.0, 1)
    db.set_point_register(p, Register.NET)
    assert db.point_register(p) == Register.NET
    d = day(db, p)
    assert (d.consumption, d.backward) == (6.0, 1)
    assert db.rollup_sum([p], Tier.DAY, D0, D0 + DAY)[0].consumption == 6.0
    db.flush()
    assert day(db, p).consumption == 6.0
    # PointMeta carries it both ways.
    meta = db.point(p)
    assert meta.register == Register.NET
    db.define_point(meta)
    assert db.point_register(p) == Register.NET
    db.set_point_register(p, "import")
    assert day(db, p).consumption == 8.0
    q = counter(db, "pv2", register=Register.NET)
    assert db.point(q).register == Register.NET
    g = db.define_point("gauge")
    assert db.point(g).register == Register.IMPORT
    with pytest.raises(MeterDbError) as e:
        db.set_point_register(g, Register.NET)
    assert e.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(ValueError):
        db.set_point_register(p, 7)
    with pytest.raises(KeyError):
        db.set_point_register(p, "both")
