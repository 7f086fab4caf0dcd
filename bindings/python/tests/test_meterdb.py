import array
import threading

import pytest

import meterdb
from meterdb import MeterDb, MeterDbError, PointKind, PointMeta, Sample, Status

T0 = 1_700_000_000_000


def test_version():
    assert meterdb.version().count(".") == 2


def test_write_read_latest(db):
    p = db.ensure_point("p")
    assert db.latest(p) is None
    db.put(p, T0, 1.5)
    db.put(p, T0 + 1000, 2.5, meterdb.QUALITY_VALID | meterdb.QUALITY_MANUAL)
    db.write_point(p, [T0 + 2000, T0 + 3000], [3.5, 4.5])
    db.write([p, p], [T0 + 4000, T0], [5.5, 0.5], quality=b"\x01\x00")
    got = list(db.range(p))
    assert got[0] == Sample(T0, 0.5, 0)  # replaced
    assert got[1] == Sample(T0 + 1000, 2.5, 3)
    assert len(got) == 5
    assert db.latest(p) == Sample(T0 + 4000, 5.5, 1)
    cols = db.read(p, T0 + 1000, T0 + 3000)
    assert list(cols.ts) == [T0 + 1000, T0 + 2000] and list(cols.values) == [2.5, 3.5]
    db.delete_range(p, T0, T0 + 2000)
    assert len(db.read(p).ts) == 3
    db.flush()
    db.compact()
    db.sync()
    assert db.stats().segment_samples == 3


def test_inputs_of_every_kind(db):
    p = db.ensure_point("p")
    db.write_point(p, array.array("q", [T0, T0 + 1]), array.array("d", [1.0, 2.0]))
    db.write_point(p, (T0 + 2,), (3,))  # tuples, an int value
    db.write_point(p, range(T0 + 3, T0 + 5), [4.0, 5.0], quality=bytearray(b"\x01\x01"))
    assert list(db.read(p).values) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_cursor_bulk_reads_and_snapshot(tmp_path):
    db = MeterDb(tmp_path, durability=meterdb.Durability.NONE)
    p = db.ensure_point("p")
    n = 10_000
    db.write_point(p, [T0 + i * 60_000 for i in range(n)], [i * 0.5 for i in range(n)])
    c = db.range(p)
    db.put(p, T0 + 20_000 * 60_000, 9.0)  # after the snapshot: not seen
    ts, vs = array.array("q", bytes(8 * 3000)), array.array("d", bytes(8 * 3000))
    total = 0
    while True:
        k = c.read_into(ts, vs)
        assert ts[0] == T0 + total * 60_000 and vs[k - 1] == (total + k - 1) * 0.5
        total += k
        if k < len(ts):
            break
    assert total == n
    db.close()
    assert c.read(10).ts.__len__() == 0  # a cursor outlives its database
    c.close()
    c.close()
    with pytest.raises(MeterDbError) as e:
        c.read()
    assert e.value.status == Status.CLOSED


def test_iteration_and_read_all_mix(db):
    p = db.ensure_point("p")
    db.write_point(p, [T0 + i for i in range(10_000)], [float(i) for i in range(10_000)])
    with db.range(p) as c:
        first = [next(c) for _ in range(10)]
        rest = c.read_all()
    assert [s.value for s in first] == list(range(10))
    assert len(rest.ts) == 9_990 and rest.values[0] == 10.0


def test_metadata_and_listing(db):
    m = PointMeta(
        "ent-1/kwh",
        PointKind.COUNTER,
        unit="kWh",
        precision=2,
        energy_type="0100",
        interval_ms=900_000,
        multiplier=1.5,
        tags={"site": "north", "柜": "A3"},
    )
    a = db.define_point(m)
    b = db.define_point("ent-1/kw")
    c = db.define_point("ent-2/kwh", PointKind.COUNTER, energy_type="0100")
    assert db.point(a) == m
    assert db.point(b) == PointMeta("ent-1/kw")
    assert db.point_id("ent-2/kwh") == c
    assert db.point_id("nope") is None
    assert db.points() == [0, 1, 2]
    assert db.points(key_prefix="ent-1/") == [a, b]
    assert db.points(kind=PointKind.COUNTER, energy_type="0100") == [a, c]
    for i in range(100):  # more than the first guess of the list's size
        db.ensure_point("x%d" % i)
    assert len(db.points()) == 103
    with pytest.raises(MeterDbError) as e:
        db.point(999)
    assert e.value.status == Status.NOT_FOUND


def test_misuse(db, tmp_path):
    p = db.ensure_point("p")
    cases = [
        (lambda: db.put(p, T0, float("nan")), Status.INVALID_ARGUMENT, "not finite"),
        (lambda: db.put(p, T0, float("inf")), Status.INVALID_ARGUMENT, "not finite"),
        (lambda: db.write_point(p, [T0, T0 + 1], [1.0, float("-inf")]), Status.INVALID_ARGUMENT, "sample 1"),
        (lambda: db.put(p, 2**63 - 1, 1.0), Status.INVALID_ARGUMENT, "outside"),
        (lambda: db.put(77, T0, 1.0), Status.NOT_FOUND, "not defined"),
        (lambda: db.range(77), Status.NOT_FOUND, "not defined"),
        (lambda: db.ensure_point(""), Status.INVALID_ARGUMENT, "empty"),
        (lambda: db.ensure_point("k" * 256), Status.INVALID_ARGUMENT, "longer than 255"),
        (lambda: db.ensure_point("a\tb"), Status.INVALID_ARGUMENT, "control"),
        (lambda: db.ensure_point("bad \udcff"), Status.INVALID_UTF8, "not valid UTF-8"),
        (lambda: db.define_point("q", unit="\ud800"), Status.INVALID_UTF8, "unit is not valid UTF-8"),
        (lambda: db.define_point("q", precision=19), Status.INVALID_ARGUMENT, "precision 19"),
        (lambda: db.define_point("q", multiplier=0.0), Status.INVALID_ARGUMENT, "multiplier"),
        (lambda: db.delete_range(p, 5, 5), Status.INVALID_ARGUMENT, "empty delete range"),
        (lambda: MeterDb(tmp_path / "db"), Status.LOCKED, "locked"),
        (lambda: MeterDb(tmp_path / "o", memtable_bytes=10), Status.INVALID_ARGUMENT, "memtable_bytes"),
        (lambda: MeterDb(tmp_path / "o", sync_interval_ms=0), Status.INVALID_ARGUMENT, "0 ms"),
        (lambda: MeterDb(tmp_path / "none", create_if_missing=False), Status.NOT_FOUND, "no database"),
    ]
    for call, status, part in cases:
        with pytest.raises(MeterDbError) as e:
            call()
        assert e.value.status == status, e.value
        assert part in e.value.message
    db.ensure_point("k" * 255)
    assert db.latest(p) is None  # nothing of the failed batch
    with pytest.raises(ValueError):
        db.ensure_point("a\0b")
    with pytest.raises(TypeError):
        db.ensure_point(b"bytes")
    with pytest.raises(ValueError):
        db.write([p], [T0, T0 + 1], [1.0, 2.0])
    with pytest.raises(ValueError):
        db.write_point(p, [T0], [1.0, 2.0])
    with pytest.raises(ValueError):
        db.write_point(p, [T0], [1.0], quality=b"")
    with db.range(p) as c:
        with pytest.raises(TypeError):
            c.read_into([0], [0.0])  # lists are not buffers
        with pytest.raises(ValueError):
            c.read_into(array.array("q"), array.array("d"))  # no room
    db.write_point(p, [], [])  # an empty batch is fine
    db.close()
    assert db.closed
    db.close()  # twice: nothing
    for call in (lambda: db.put(p, T0, 1.0), lambda: db.range(p), db.stats, db.flush, lambda: db.ensure_point("z")):
        with pytest.raises(MeterDbError) as e:
            call()
        assert e.value.status == Status.CLOSED


def test_stats_and_verify(db):
    a, b = db.ensure_point("a"), db.ensure_point("b")
    db.write_point(a, [T0 + i * 60_000 for i in range(500)], [float(i) for i in range(500)])
    db.write_point(b, [T0 + i * 60_000 for i in range(100)], [float(i) for i in range(100)])
    db.flush()
    s = db.stats()
    assert (s.points, s.segment_samples, s.memtable_samples) == (2, 600, 0)
    ps = db.point_stats()
    assert [p.key for p in ps] == ["a", "b"] and ps[1].samples == 100 and ps[0].value_codecs
    v = db.verify()
    assert v.ok and v.message == ""


def test_threads_share_one_database(db):
    ids = [db.ensure_point("p%d" % t) for t in range(4)]
    errors = []

    def work(p):
        try:
            for r in range(50):
                db.write_point(p, [T0 + (r * 200 + i) * 1000 for i in range(200)], [float(r)] * 200)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = db.stats()
    assert s.memtable_samples + s.segment_samples == 4 * 50 * 200


def test_numpy_arrays(db):
    np = pytest.importorskip("numpy")
    p, q = db.ensure_point("p"), db.ensure_point("q")
    ts = np.arange(T0, T0 + 1000 * 60_000, 60_000, dtype=np.int64)
    db.write_point(p, ts, np.linspace(0, 1, 1000))
    db.write(np.array([q, q], dtype=np.int32), ts[:2].astype("datetime64[ms]"), np.array([1, 2], dtype=np.float32))
    cols = db.read(p)
    assert isinstance(cols.ts, np.ndarray) and cols.ts.dtype == np.int64
    assert (cols.ts == ts).all() and cols.values[-1] == 1.0
    assert list(db.read(q).values) == [1.0, 2.0]
    read_only = np.frombuffer(np.array([7.0]).tobytes())  # not writable: another path
    db.write_point(q, np.array([T0 + 10**9]), read_only)
    assert db.latest(q).value == 7.0
    db.write_point(q, np.array([], dtype=np.int64), np.array([]))
    with pytest.raises(TypeError):
        db.write_point(p, ts.astype(np.float64), np.zeros(1000))  # float timestamps are refused
    with pytest.raises(ValueError):
        db.write_point(p, ts.reshape(10, 100), np.zeros(1000))
    out_t, out_v = np.empty(10, np.int64), np.empty(10, np.float64)
    with db.range(p) as c:
        assert c.read_into(out_t, out_v) == 10 and out_t[9] == ts[9]
        with pytest.raises(TypeError):
            c.read_into(np.empty(10, np.int32), out_v)
