"""The downsampled (rollup) queries: buckets, consumption of a counter, optional figures as None,
sums, standard coal, comparisons, the zone and tier options, the metadata of the tiers, misuse."""

import pytest

from meterdb import (
    BucketRow,
    CoalUnit,
    Comparison,
    MeterDb,
    MeterDbError,
    PointKind,
    PointMeta,
    Status,
    SumRow,
    Tier,
)
from meterdb._db import Durability

D0 = 1_704_038_400_000  # 2024-01-01T00:00:00+08:00, midnight in the default zone
DAY = 86_400_000
Q = 900_000  # 15 minutes


def fill(db, counter, gauge):
    """A counter read every 15 minutes for 3 days from D0, 1.5 a reading, 2 hours missing on day 1;
    a gauge at 10 + hour of the day, hourly."""
    rows = [(D0 + i * Q, 1000.0 + i * 1.5) for i in range(3 * 96)]
    rows = [r for r in rows if not (D0 + DAY + 32 * Q <= r[0] < D0 + DAY + 40 * Q)]
    db.write_point(counter, [t for t, _ in rows], [v for _, v in rows])
    db.write_point(gauge, [D0 + h * 4 * Q for h in range(72)], [10.0 + h % 24 for h in range(72)])


def test_rollup_rows_sums_and_comparisons(db):
    assert db.tz_offset_min == 480
    kwh = db.define_point(PointMeta("kwh", PointKind.COUNTER, interval_ms=Q, multiplier=2.0))
    kw = db.define_point("kw")
    fill(db, kwh, kw)
    for _ in range(2):  # from the memtable, then from segments
        days = db.rollup(kwh, Tier.DAY, D0, D0 + 3 * DAY)
        assert [type(d) for d in days] == [BucketRow] * 3
        d = days[0]
        assert (d.start, d.end, d.count, d.first, d.first_ts) == (D0, D0 + DAY, 96, 1000.0, D0)
        assert (d.last_ts, d.inc, d.expected, d.completeness) == (D0 + 95 * Q, 95 * 1.5, 96.0, 1.0)
        assert d.consumption == pytest.approx(96 * 1.5 * 2)
        assert days[1].count == 88 and days[1].consumption == pytest.approx(96 * 1.5 * 2)
        assert days[2].consumption == pytest.approx(95 * 1.5 * 2)
        g = db.rollup(kw, Tier.DAY, D0, D0 + DAY)[0]
        assert g.mean == 21.5 and (g.consumption, g.expected, g.completeness) == (None, None, None)
        assert (g.min, g.min_ts, g.max, g.max_ts) == (10.0, D0, 33.0, D0 + 23 * 4 * Q)
        assert len(db.rollup(kw, Tier.HOUR, D0 + 60_000, D0 + 2 * 4 * Q)) == 2  # from inside a bucket
        assert db.rollup(kw, Tier.HOUR, D0, D0) == []
        assert list(db.iter_rollup(kw, Tier.DAY)) == db.rollup(kw, Tier.DAY)
        month = db.rollup(kwh, Tier.MONTH)[0]
        assert month.end - month.start == 31 * DAY
        assert set(db.rollup_many([kwh, kw], Tier.DAY)) == {kwh, kw}

        sums = db.rollup_sum([kwh, kw], Tier.DAY, D0, D0 + 3 * DAY)
        assert isinstance(sums[0], SumRow) and len(sums) == 3
        assert (sums[0].points, sums[0].count) == (2, 96 + 24)
        assert sums[0].consumption == pytest.approx(96 * 1.5 * 2)
        assert db.rollup_sum([kw], Tier.DAY, D0, D0 + DAY)[0].consumption is None
        assert db.rollup_sum([], Tier.DAY) == []

        cmp = db.compare([kwh], Tier.DAY, D0, D0 + 3 * DAY)
        assert isinstance(cmp[0], Comparison) and len(cmp) == 3
        assert cmp[0].previous is None and cmp[0].year_ago is None and cmp[0].previous_change_pct is None
        assert cmp[1].previous == cmp[0].value
        assert cmp[2].previous_change_pct == pytest.approx((95 / 96 - 1) * 100)
        db.flush()


def test_standard_coal(db):
    a = db.define_point(PointMeta("a", PointKind.COUNTER, coal={D0 + DAY: 0.3, D0 - 365 * DAY: 0.1229}))
    b = db.define_point(PointMeta("b", PointKind.COUNTER))
    ts = [D0, D0 + DAY, D0 + 2 * DAY]
    db.write_point(a, ts, [0, 100, 300])
    db.write_point(b, ts, [0, 1000, 2000])
    kg = db.coal_sum([a, b], Tier.DAY, D0, D0 + 2 * DAY)
    assert [r.consumption for r in kg] == pytest.approx([100 * 0.1229, 200 * 0.3])
    assert kg[0].points == 2
    assert db.coal_sum([a], Tier.DAY, D0, D0 + 2 * DAY, CoalUnit.TCE)[1].consumption == pytest.approx(0.06)
    assert db.coal_sum([b], Tier.DAY, D0, D0 + 2 * DAY)[0].consumption is None
    c = db.compare([a], Tier.DAY, D0, D0 + 2 * DAY, unit=CoalUnit.KGCE)[1]
    assert (c.value, c.previous) == (pytest.approx(60.0), pytest.approx(12.29))


def test_metadata_of_the_tiers(db):
    m = PointMeta(
        "a",
        PointKind.COUNTER,
        rollover=99_999_999.0,
        coal={D0 + DAY: 0.3, D0: 0.1229},
        tiers=frozenset({Tier.HOUR, Tier.DAY}),
    )
    a = db.define_point(m)
    assert db.point(a) == m
    assert list(db.point(a).coal) == [D0, D0 + DAY]
    b = db.define_point("b", tiers={Tier.DAY})
    assert db.point(b).tiers == {Tier.DAY}
    c = db.define_point("c")
    assert (db.point(c).rollover, db.point(c).coal, db.point(c).tiers) == (None, {}, None)
    none = db.define_point("n", tiers=())
    assert db.point(none).tiers == frozenset()
    with pytest.raises(MeterDbError) as e:
        db.rollup(none, Tier.YEAR)
    assert e.value.status == Status.INVALID_ARGUMENT and "does not keep the year tier" in e.value.message


def test_rollup_misuse(db):
    p = db.define_point("p", PointKind.COUNTER)
    days = db.define_point("d", PointKind.COUNTER, tiers={Tier.DAY})
    db.put(p, D0, 1.0)
    cases = [
        (lambda: db.rollup(p, Tier.DAY, D0, D0 - 1), Status.INVALID_ARGUMENT, "is after its end"),
        (lambda: db.rollup_sum([p], Tier.DAY, D0, D0 - 1), Status.INVALID_ARGUMENT, "is after its end"),
        (lambda: db.coal_sum([p], Tier.DAY, D0, D0 - 1), Status.INVALID_ARGUMENT, "is after its end"),
        (lambda: db.compare([p], Tier.DAY, D0, D0 - 1), Status.INVALID_ARGUMENT, "is after its end"),
        (lambda: db.rollup(77, Tier.DAY), Status.NOT_FOUND, "point id 77"),
        (lambda: db.rollup_sum([p, 77], Tier.DAY), Status.NOT_FOUND, "77"),
        (lambda: db.coal_sum([77], Tier.DAY), Status.NOT_FOUND, "77"),
        (lambda: db.compare([77], Tier.DAY), Status.NOT_FOUND, "77"),
        (lambda: db.rollup(days, Tier.HOUR), Status.INVALID_ARGUMENT, "does not keep the hour tier"),
        (lambda: db.compare([p, days], Tier.MONTH), Status.INVALID_ARGUMENT, "does not keep the month tier"),
        (lambda: db.define_point("x", PointKind.COUNTER, rollover=-1.0), Status.INVALID_ARGUMENT, "rollover -1"),
        (lambda: db.define_point("x", PointKind.COUNTER, coal={0: -0.5}), Status.INVALID_ARGUMENT, "coal"),
    ]
    for call, status, part in cases:
        with pytest.raises(MeterDbError) as e:
            call()
        assert e.value.status == status, e.value
        assert part in e.value.message, e.value.message
    for bad in (0, 6, "day"):  # not a tier: refused before the library is called
        with pytest.raises(ValueError):
            db.rollup(p, bad)
    with pytest.raises(ValueError):
        db.coal_sum([p], Tier.DAY, unit=None)
    with pytest.raises(ValueError):
        db.compare([p], Tier.DAY, unit=7)
    with pytest.raises(ValueError):
        db.define_point("x", tiers={9})
    for t in Tier:  # the whole time line at every tier
        assert len(db.rollup(p, t)) == 1
        db.compare([p], t, unit=CoalUnit.TCE)
    assert db.rollup(p, 3) == db.rollup(p, Tier.DAY)  # plain numbers are tiers too
    db.close()
    for call in (
        lambda: db.rollup(p, Tier.DAY),
        lambda: db.rollup_sum([p], Tier.DAY),
        lambda: db.coal_sum([p], Tier.DAY),
        lambda: db.compare([p], Tier.DAY),
        lambda: db.tz_offset_min,
        lambda: db.point(p),
    ):
        with pytest.raises(MeterDbError) as e:
            call()
        assert e.value.status == Status.CLOSED


def test_zone_and_tier_options(tmp_path):
    path = tmp_path / "db"
    with pytest.raises(MeterDbError) as e:
        MeterDb(path, durability=Durability.NONE, tz_offset_min=19 * 60)
    assert e.value.status == Status.INVALID_ARGUMENT and "time zone offset" in e.value.message
    with MeterDb(path, durability=Durability.NONE, tz_offset_min=-300, tiers={Tier.HOUR, Tier.DAY}) as db:
        assert db.tz_offset_min == -300
        p = db.ensure_point("p")
        t = 1_704_085_200_000 + 60_000  # 2024-01-01T00:01:00-05:00
        db.put(p, t, 1.0)
        assert db.rollup(p, Tier.DAY)[0].start == t - 60_000
        with pytest.raises(MeterDbError) as e:
            db.rollup(p, Tier.MONTH)
        assert "does not keep the month tier" in e.value.message
    with pytest.raises(MeterDbError) as e:
        MeterDb(path, tz_offset_min=480)
    assert "cannot be opened with UTC+08:00" in e.value.message
    with MeterDb(path) as db:
        assert db.tz_offset_min == -300


def test_flush_threads_option(tmp_path):
    with pytest.raises(MeterDbError) as e:
        MeterDb(tmp_path / "zero", flush_threads=0)
    assert e.value.status == Status.INVALID_ARGUMENT and "flush_threads" in e.value.message
    # One thread or two: the same tiers.
    days = []
    for threads in (1, 2):
        with MeterDb(tmp_path / f"t{threads}", durability=Durability.NONE, flush_threads=threads) as db:
            p = db.define_point("kwh", PointKind.COUNTER)
            ts = [D0 + i * 900_000 for i in range(200)]
            db.write_point(p, ts, [1000.0 + i * 0.25 for i in range(200)])
            db.flush()
            days.append([(r.start, r.count, r.sum, r.consumption) for r in db.rollup(p, Tier.DAY)])
    assert days[0] == days[1] and len(days[0]) == 3

