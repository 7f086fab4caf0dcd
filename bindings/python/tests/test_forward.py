"""Store-and-forward, bundles, backup, retention, Parquet export and to_arrow from Python."""

import os

import pytest

import meterdb
from meterdb import QUALITY_ESTIMATED, QUALITY_MANUAL, QUALITY_VALID, BucketChange, MeterDb, MeterDbError, Status, Tier

T0 = 1_704_038_400_000  # 2024-01-01T00:00:00+08:00
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000

try:  # MeterDb.to_arrow needs both (pyarrow no longer brings numpy with it)
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    _ARROW = None
except ImportError as e:  # pragma: no cover - depends on the environment
    _ARROW = "pyarrow or numpy cannot be imported (%s): pip install pyarrow numpy" % e
needs_arrow = pytest.mark.skipif(_ARROW is not None, reason=_ARROW or "")
needs_parquet = pytest.mark.skipif(
    not MeterDb.has_parquet(), reason="libmeterdb built without the parquet feature (cargo --features parquet)"
)


def fill(db, point, n, step=MIN, base=100.0):
    db.write_point(point, [T0 + i * step for i in range(n)], [base + i for i in range(n)])


def test_cursor_loop_reads_acks_and_resumes_after_reopen(tmp_path):
    path = tmp_path / "db"
    with MeterDb(path, durability=meterdb.Durability.NONE) as db:
        p = db.ensure_point("plant/kwh")
        db.create_cursor("province")
        fill(db, p, 50)
        db.delete_range(p, T0, T0 + MIN)
        first = db.cursor_read("province", 20)
        assert [c.ts for c in first] == [T0 + i * MIN for i in range(20)]
        assert all(c.kind == "put" and c.point == p and c.quality == meterdb.QUALITY_VALID for c in first)
        db.cursor_ack("province", first[-1].id)
        unacked = db.cursor_read("province", 100)
        assert len(unacked) == 31 and unacked[-1].kind == "delete" and unacked[-1].delete_to == T0 + MIN
        info = db.cursors()
        assert [c.name for c in info] == ["province"] and info[0].acked == first[-1].id + 1
        with pytest.raises(MeterDbError) as e:
            db.cursor_ack("province", first[0].id)  # below the acknowledged position
        assert e.value.status == Status.INVALID_ARGUMENT
    with MeterDb(path) as db:
        again = db.cursor_read("province", 1000)
        assert again == unacked  # the same changes, with the same ids
        db.cursor_rewind("province")
        assert db.cursor_read("province", 1000) == unacked
        db.cursor_ack("province", again[-1].id)
        assert db.cursor_read("province") == []
        db.drop_cursor("province")
        assert db.cursors() == []


def test_cursor_starts_and_errors(db):
    p = db.ensure_point("m")
    db.create_cursor("all", "oldest")
    fill(db, p, 5)
    changes = db.cursor_read("all")
    db.create_cursor("now", "now")
    db.create_cursor("from", changes[2].id)
    assert db.cursor_read("from") == changes[2:]
    assert db.cursor_read("now") == []
    for bad, exc in (("soon", ValueError), (-1, TypeError), (1.5, TypeError)):
        with pytest.raises(exc):
            db.create_cursor("x", bad)
    with pytest.raises(MeterDbError) as e:
        db.create_cursor("all")
    assert e.value.status == Status.ALREADY_EXISTS
    with pytest.raises(MeterDbError) as e:
        db.cursor_read("nobody")
    assert e.value.status == Status.NOT_FOUND
    with pytest.raises(MeterDbError) as e:
        db.cursor_read("all", 0)
    assert e.value.status == Status.INVALID_ARGUMENT


def test_bucket_cursor(db):
    p = db.ensure_point("kw")
    db.create_cursor("daily")
    db.write_point(p, [T0 + h * HOUR for h in range(48)], [2.0] * 48)
    b = db.cursor_read_buckets("daily", Tier.DAY, watermark=T0 + 2 * DAY)
    assert [(pt, r.start, r.count, r.sum) for pt, r in b] == [(p, T0, 24, 48.0), (p, T0 + DAY, 24, 48.0)]
    db.cursor_ack_buckets("daily", "day", b[-1][1].start, p)
    assert db.cursor_read_buckets("daily", Tier.DAY, watermark=T0 + 2 * DAY) == []


def test_bucket_cursor_quality_counts_revision_and_corrections(db):
    p = db.ensure_point("kw")
    db.create_cursor("daily")
    quality = {3: 0, 5: QUALITY_VALID | QUALITY_MANUAL, 7: QUALITY_VALID | QUALITY_ESTIMATED}
    for h in range(24):
        db.put(p, T0 + h * HOUR, 2.0, quality.get(h, QUALITY_VALID))
    db.put(p, T0 + DAY + HOUR, 2.0)
    (b,) = db.cursor_read_buckets("daily", Tier.DAY, watermark=T0 + DAY)
    assert isinstance(b, BucketChange)
    assert (b.point, b.row.start, b.corrected) == (p, T0, False)
    assert (b.row.count, b.row.invalid, b.row.manual, b.row.estimated, b.row.backward) == (23, 1, 1, 1, 0)
    assert b.revision > 0
    db.cursor_ack_buckets("daily", Tier.DAY, T0, p)
    # A correction after the acknowledgement: the bucket comes again, corrected, newer.
    db.put(p, T0 + 3 * HOUR, 10.0)
    (c,) = db.cursor_read_buckets("daily", Tier.DAY, watermark=T0 + DAY)
    assert (c.point, c.row.start, c.corrected) == (p, T0, True)
    assert c.revision > b.revision
    assert (c.row.count, c.row.invalid, c.row.sum) == (24, 0, 56.0)
    point, row = c
    assert (point, row) == (c.point, c.row)


def test_upload_records(db):
    with pytest.raises(MeterDbError) as e:
        db.record_upload("province", 1, 9, 9, at=T0)
    assert e.value.status == Status.NOT_FOUND
    db.create_cursor("province", "now")
    db.record_upload("province", 1, 9, 9, ok=False, message="HTTP 503", at=T0)
    db.record_upload("province", 1, 9, 9, platform_time=T0 + 3, at=T0 + MIN)
    recs = db.upload_records()
    assert [(r.ok, r.message, r.platform_time, r.at) for r in recs] == [
        (False, "HTTP 503", None, T0),
        (True, "", T0 + 3, T0 + MIN),
    ]
    assert db.upload_records(outcome="failed") == recs[:1]
    assert db.upload_records(outcome="ok") == recs[1:]
    assert db.upload_records(start=T0 + 1) == recs[1:]
    with pytest.raises(ValueError):
        db.upload_records(outcome="maybe")
    with pytest.raises(ValueError):
        db.record_upload("province", 1, 1, 1, ok=False)


def test_bundle_round_trip_and_damaged_bundle(tmp_path, db):
    a, b = db.ensure_point("plant/a"), db.ensure_point("plant/b")
    fill(db, a, 100)
    fill(db, b, 40, base=7.0)
    path = tmp_path / "all.mdbb"
    rep = db.export_bundle(path)
    assert (rep.samples, [p.key for p in rep.points]) == (140, ["plant/a", "plant/b"])
    assert rep.bytes == os.path.getsize(path)
    one = db.export_bundle(tmp_path / "one.mdbb", [a], T0, T0 + 10 * MIN)
    assert one.samples == 10 and one.points[0].min_ts == T0
    with MeterDb(tmp_path / "dst", durability=meterdb.Durability.NONE) as dst:
        assert dst.verify_bundle(path).samples == 140
        dst.import_bundle(path)
        dst.import_bundle(path)  # twice: the same as once
        a2 = dst.point_id("plant/a")
        assert list(dst.read(a2).ts) == list(db.read(a).ts)
        assert list(dst.read(a2).values) == list(db.read(a).values)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x08
    bad = tmp_path / "bad.mdbb"
    bad.write_bytes(bytes(data))
    with MeterDb(tmp_path / "untouched", durability=meterdb.Durability.NONE) as u:
        for f in (u.verify_bundle, u.import_bundle):
            with pytest.raises(MeterDbError) as e:
                f(bad)
            assert e.value.status == Status.CORRUPTION and "bad.mdbb" in e.value.message
        assert u.point_id("plant/a") is None
        assert u.stats().points == 0
    # A cursor bundle: acknowledge its last id once delivered.
    db.create_cursor("gate", "now")
    db.put(a, T0 + 999 * MIN, 1.0)
    cb = db.export_cursor_bundle(tmp_path / "c.mdbb", "gate")
    assert cb.samples == 1 and cb.ids[1] >= cb.ids[0] > 0
    db.cursor_ack("gate", cb.ids[1])


def test_backup_opens_as_a_database(tmp_path, db):
    p = db.ensure_point("m")
    fill(db, p, 100)
    db.flush()
    db.put(p, T0 + 500 * MIN, 3.0)
    db.create_cursor("c")
    rep = db.backup(tmp_path / "copy")
    assert rep.linked_files + rep.copied_files > 0 and rep.wal_seq > 0
    with MeterDb(tmp_path / "copy") as c:
        assert list(c.read(c.point_id("m")).ts) == list(db.read(p).ts)
        assert [x.name for x in c.cursors()] == ["c"]


def test_retention_in_the_options(tmp_path):
    path = tmp_path / "db"
    with MeterDb(path, partition_ms=DAY, background=False) as db:
        p = db.ensure_point("m")
        db.write_point(p, [T0 + d * DAY + 5 for d in range(8)], list(range(8)))
        db.flush()
    with MeterDb(path, partition_ms=DAY, retention={"raw": (2 * DAY, None), Tier.MONTH: (None, 1 << 30)}) as db:
        rep = db.apply_retention()
        assert len(rep.dropped) >= 5 and all(t == "raw" for t, _ in rep.dropped)
        assert rep.dropped_bytes > 0 and not rep.full and rep.forced_cursors == []
        assert 1 <= len(db.read(p).ts) <= 3
    with pytest.raises(ValueError):
        MeterDb(path, retention={"week": (1, 1)})


def test_reopening_without_the_partition_width_reads_each_sample_once(tmp_path):
    # The default width adopts the one the database was created with; another is refused.
    path = tmp_path / "db"
    with MeterDb(path, partition_ms=DAY, background=False) as db:
        p = db.ensure_point("m")
        db.write_point(p, [T0 + d * DAY + 5 for d in range(8)], list(range(8)))
        db.flush()
    with MeterDb(path, background=False) as db:
        assert len(db.read(p).ts) == 8
    with pytest.raises(MeterDbError):
        MeterDb(path, partition_ms=2 * DAY)


@needs_parquet
def test_export_writes_parquet(tmp_path, db):
    p = db.ensure_point("plant/a")
    db.ensure_point("plant/b")
    fill(db, p, 30, step=HOUR)
    s = db.export(tmp_path / "out", "raw", T0, T0 + 2 * DAY, ["plant/a"])
    assert (s.rows, s.points) == (30, 1) and s.files >= 2
    assert (tmp_path / "out" / "tier=raw" / "date=2024-01-01" / "part-0.parquet").exists()
    s = db.export(tmp_path / "out", Tier.DAY, T0, T0 + 2 * DAY)
    assert (s.rows, s.points) == (2, 2)
    with pytest.raises(MeterDbError) as e:
        db.export(tmp_path / "out", "raw", T0, T0 + DAY, ["nope"])
    assert e.value.status == Status.NOT_FOUND


@pytest.mark.skipif(MeterDb.has_parquet(), reason="libmeterdb has the parquet feature")
def test_export_without_the_feature_says_so(tmp_path, db):
    with pytest.raises(MeterDbError) as e:
        db.export(tmp_path / "out")
    assert e.value.status == Status.UNSUPPORTED and "--features parquet" in e.value.message


@needs_arrow
def test_to_arrow_raw(db):
    import pyarrow as pa

    a, b = db.ensure_point("plant/a"), db.ensure_point("plant/b")
    fill(db, a, 10)
    db.write_point(b, [T0, T0 + MIN], [5.0, 6.0], [1, 2])
    t = db.to_arrow(["plant/b", a], T0, T0 + DAY)
    assert t.column_names == ["point", "ts", "value", "quality"]
    assert t.schema.field("point").type == pa.dictionary(pa.int32(), pa.string())
    assert t.schema.field("ts").type == pa.timestamp("ms", tz="+08:00")
    assert t.schema.field("value").type == pa.float64() and t.schema.field("quality").type == pa.uint8()
    assert t.num_rows == 12
    assert t.column("point").to_pylist() == ["plant/b"] * 2 + ["plant/a"] * 10
    assert t.column("ts").cast(pa.int64()).to_pylist()[:3] == [T0, T0 + MIN, T0]
    assert t.column("value").to_pylist()[2:] == [100.0 + i for i in range(10)]
    assert t.column("quality").to_pylist()[:2] == [1, 2]
    assert db.to_arrow([], T0, T0 + DAY).num_rows == 0
    with pytest.raises(MeterDbError):
        db.to_arrow(["nope"])


@needs_arrow
def test_to_arrow_tier_equals_rollup(db):
    import pyarrow as pa

    kwh = db.define_point(meterdb.PointMeta("kwh", meterdb.PointKind.COUNTER, interval_ms=HOUR))
    db.write_point(kwh, [T0 + h * HOUR for h in range(72) if not 30 <= h < 40], [float(h) for h in range(72) if not 30 <= h < 40])
    # An invalid garbage reading and an estimated one on the first day.
    db.put(kwh, T0 + 5 * HOUR + 1, 999999.0, 0)
    db.put(kwh, T0 + 6 * HOUR + 1, 6.5, 5)
    t = db.to_arrow([kwh], T0, T0 + 3 * DAY, tier="day")
    rows = db.rollup(kwh, Tier.DAY, T0, T0 + 3 * DAY)
    assert t.num_rows == len(rows) == 3
    assert t.schema.field("start").type == pa.timestamp("ms", tz="+08:00")
    names = ("count", "sum", "min", "max", "first", "last", "inc", "mean", "consumption", "completeness")
    for name in names + ("invalid", "manual", "estimated", "backward"):
        assert t.column(name).to_pylist() == [getattr(r, name) for r in rows], name
    assert t.column("invalid").to_pylist()[0] == 1 and t.column("estimated").to_pylist()[0] == 1
    assert t.column("start").cast(pa.int64()).to_pylist() == [r.start for r in rows]
    assert t.column("point").to_pylist() == ["kwh"] * 3


@pytest.mark.skipif(_ARROW is None, reason="pyarrow is installed")
def test_to_arrow_without_pyarrow_raises_a_clear_import_error(db):
    with pytest.raises(ImportError, match="pip install pyarrow"):
        db.to_arrow([db.ensure_point("m")])


def test_put_type_errors_and_version(db):
    p = db.ensure_point("t")
    for bad in ((p, 1.5, 1.0), (p, "1", 1.0), (p, 1, "x"), (1.0, 1, 1.0), (p, 1, 1.0, None)):
        with pytest.raises(TypeError):
            db.put(*bad)
    for bad in ((p, 1 << 70, 1.0), (-1, 1, 1.0), (p, 1, 1.0, 256)):
        with pytest.raises(ValueError):
            db.put(*bad)
    db.put(p, T0, 2)
    assert db.latest(p).value == 2.0
    assert meterdb.__version__ == meterdb.version() == "0.1.0"
