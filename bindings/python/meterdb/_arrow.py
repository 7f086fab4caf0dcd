"""``MeterDb.to_arrow``: a ``pyarrow.Table`` from the columnar reads (no per-row Python loop)."""

from ctypes import byref, c_size_t, c_void_p

from . import _forward, _native
from ._native import lib

_MISSING = (
    "MeterDb.to_arrow needs pyarrow and numpy (pip install pyarrow numpy); "
    "MeterDb.export writes Parquet files without them"
)

try:
    import numpy as np
    import pyarrow as pa
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("%s (%s)" % (_MISSING, e)) from e

# `meterdb_bucket_row` as a numpy record (the layout the C tests pin: 144 bytes).
_F, _I, _U = np.float64, np.int64, np.uint64
_BUCKET = np.dtype(
    [
        ("start", _I),
        ("end", _I),
        ("count", _U),
        ("sum", _F),
        ("min", _F),
        ("min_ts", _I),
        ("max", _F),
        ("max_ts", _I),
        ("first", _F),
        ("first_ts", _I),
        ("last", _F),
        ("last_ts", _I),
        ("inc", _F),
        ("mean", _F),
        ("consumption", _F),
        ("expected", _F),
        ("completeness", _F),
        ("has_mean", np.uint8),
        ("has_consumption", np.uint8),
        ("has_expected", np.uint8),
        ("has_completeness", np.uint8),
        ("_pad", "V4"),
    ]
)
assert _BUCKET.itemsize == 144
# `meterdb_bucket_row_v2`: the same, then the quality counts (176 bytes).
_BUCKET_V2 = np.dtype(
    _BUCKET.descr + [("invalid", _U), ("manual", _U), ("estimated", _U), ("backward", _U)]
)
assert _BUCKET_V2.itemsize == 176


def _resolve(db, points):
    """(ids, keys) of points given by key or id, in the order given."""
    from ._db import MeterDbError, Status

    if isinstance(points, (str, int)):
        points = [points]
    ids, keys = [], []
    for p in points:
        if isinstance(p, str):
            i = db.point_id(p)
            if i is None:
                raise MeterDbError(Status.NOT_FOUND, "no point has the key %r" % p)
            ids.append(i)
            keys.append(p)
        else:
            ids.append(int(p))
            keys.append(db.point(int(p)).key)
    return ids, keys


def _rollup_records(db, point, tier, start, end):
    from ._db import TS_MAX, TS_MIN, _check

    h = c_void_p()
    _check(
        lib.meterdb_db_rollup(
            db._h, point, int(tier), TS_MIN if start is None else start, TS_MAX if end is None else end, byref(h)
        )
    )
    try:
        n = c_size_t()
        _check(lib.meterdb_rollup_count(h, byref(n)))
        rec = np.zeros(n.value, _BUCKET_V2)
        got = c_size_t()
        if n.value:
            buf = (_native.BucketRowV2 * n.value).from_buffer(rec)
            _check(lib.meterdb_rollup_rows_v2(h, 0, buf, n.value, byref(got)))
        return rec[: got.value]
    finally:
        lib.meterdb_rollup_free(h)


def to_arrow(db, points, start, end, tier):
    from ._db import _tier_of

    ids, keys = _resolve(db, points)
    ts_type = pa.timestamp("ms", tz=_forward.format_offset(db.tz_offset_min))
    dictionary = pa.array(keys, pa.string())
    if tier == "raw":
        cols = [db.read(i, start, end) for i in ids]
        lengths = [len(c.ts) for c in cols]
        cat = lambda k, dt: np.concatenate([np.asarray(c[k], dt) for c in cols]) if cols else np.empty(0, dt)  # noqa: E731
        ts, values, quality = cat(0, np.int64), cat(1, np.float64), cat(2, np.uint8)
        idx = np.repeat(np.arange(len(ids), dtype=np.int32), lengths)
        return pa.table(
            {
                "point": pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), dictionary),
                "ts": pa.array(ts, pa.int64()).cast(ts_type),
                "value": pa.array(values, pa.float64()),
                "quality": pa.array(quality, pa.uint8()),
            }
        )
    t = _tier_of(tier)
    recs = [_rollup_records(db, i, t, start, end) for i in ids]
    r = np.concatenate(recs) if recs else np.zeros(0, _BUCKET_V2)
    idx = np.repeat(np.arange(len(ids), dtype=np.int32), [len(x) for x in recs])
    empty = r["count"] == 0  # a counter's bucket inside an outage: no sample figures

    def ts(name, mask=None):
        return pa.array(np.ascontiguousarray(r[name]), pa.int64(), mask=mask).cast(ts_type)

    def f64(name, mask=None):
        return pa.array(np.ascontiguousarray(r[name]), pa.float64(), mask=mask)

    def opt(name):
        return f64(name, mask=r["has_" + name] == 0)

    return pa.table(
        {
            "point": pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), dictionary),
            "start": ts("start"),
            "end": ts("end"),
            "count": pa.array(np.ascontiguousarray(r["count"]), pa.uint64()),
            "sum": f64("sum"),
            "min": f64("min", empty),
            "min_ts": ts("min_ts", empty),
            "max": f64("max", empty),
            "max_ts": ts("max_ts", empty),
            "first": f64("first", empty),
            "first_ts": ts("first_ts", empty),
            "last": f64("last", empty),
            "last_ts": ts("last_ts", empty),
            "inc": f64("inc"),
            "mean": opt("mean"),
            "consumption": opt("consumption"),
            "expected": opt("expected"),
            "completeness": opt("completeness"),
            "invalid": pa.array(np.ascontiguousarray(r["invalid"]), pa.uint64()),
            "manual": pa.array(np.ascontiguousarray(r["manual"]), pa.uint64()),
            "estimated": pa.array(np.ascontiguousarray(r["estimated"]), pa.uint64()),
            "backward": pa.array(np.ascontiguousarray(r["backward"]), pa.uint64()),
        }
    )
