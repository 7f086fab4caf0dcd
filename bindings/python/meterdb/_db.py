"""The Python API of MeterDB over the C library (see ``_native``)."""

import array
import ctypes
import enum
import threading
import weakref
from collections import namedtuple
from ctypes import addressof, byref, c_char, c_char_p, c_double, c_int32, c_int64, c_size_t, c_uint8, c_uint32, c_void_p
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional

from . import _forward, _native
from ._native import lib

try:  # numpy is optional: arrays are taken without a copy when it is there
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the environment
    _np = None

TS_MIN = -(2**63)
TS_MAX = 2**63 - 1

#: Quality bit: the reading is valid (the default quality of a sample).
QUALITY_VALID = 1
#: Quality bit: the value was entered by hand.
QUALITY_MANUAL = 2
#: Quality bit: the value was estimated (the national record's inputType 3). A valid estimated
#: reading has the quality ``QUALITY_VALID | QUALITY_ESTIMATED``. A reading without
#: ``QUALITY_VALID`` is invalid: stored and read back as written, but in no rollup figure, only
#: in the buckets' ``invalid`` counts.
QUALITY_ESTIMATED = 4


class Status(enum.IntEnum):
    """The status codes of the C ABI (``meterdb_status``), with their fixed values."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    ALREADY_EXISTS = 3
    CORRUPTION = 4
    IO = 5
    LOCKED = 6
    POISONED = 7
    CLOSED = 8
    UNSUPPORTED_VERSION = 9
    STORAGE_FULL = 10
    CONFLICT = 11
    NULL_ARGUMENT = 100
    INVALID_UTF8 = 101
    BUFFER_TOO_SMALL = 102
    PANIC = 103
    INTERNAL = 104
    UNSUPPORTED = 105
    LIMIT = 106
    NO_MEMORY = 107


class MeterDbError(Exception):
    """A failed call: ``status`` (a :class:`Status`, or the raw int if unknown) and ``message``."""

    def __init__(self, status, message):
        try:
            status = Status(status)
        except ValueError:
            pass
        super().__init__("%s: %s" % (getattr(status, "name", status), message))
        self.status = status
        self.message = message


def _check(code):
    if code != 0:
        raise MeterDbError(code, (lib.meterdb_last_error() or b"").decode("utf-8", "replace"))


class Durability(enum.IntEnum):
    """When a write is acknowledged relative to its fsync."""

    SYNC = 0  #: synced before a write returns (the default)
    INTERVAL = 1  #: a background sync every ``sync_interval_ms``
    NONE = 2  #: synced only on flush and close


class PointKind(enum.IntEnum):
    """What a point measures."""

    GAUGE = 0  #: an instantaneous reading (kW, temperature)
    COUNTER = 1  #: a cumulative register (kWh): consumption is its increase


class Register(enum.IntEnum):
    """How a counter's register is read where it falls by a step that is neither a rollover, nor
    a recorded meter replacement (:meth:`MeterDb.replace_meter`), nor a fall to near zero (10% of
    the previous reading or less, taken as a replacement). Either way the bucket counts the step
    in ``backward``."""

    #: The default: the register only counts up, a backward step adds nothing to consumption.
    IMPORT = 0
    #: A net (bidirectional) register: consumption is the signed change.
    NET = 1


class Tier(enum.IntEnum):
    """A rollup tier: calendar buckets in the database's time zone (``MeterDb.tz_offset_min``)."""

    MINUTE = 1
    HOUR = 2
    DAY = 3
    MONTH = 4
    YEAR = 5


class CoalUnit(enum.IntEnum):
    """A unit of standard coal."""

    KGCE = 0  #: kilograms of standard coal equivalent
    TCE = 1  #: tonnes of standard coal equivalent


_TIERS_DEFAULT = -1  # MDB_TIERS_DEFAULT
_COAL_NONE = -1  # MDB_COAL_NONE


def _tier_mask(tiers) -> int:
    m = 0
    for t in tiers:
        m |= 1 << (int(Tier(t)) - 1)
    return m


def _tier_of(tier) -> Tier:
    """A :class:`Tier` from a Tier, its number or its name (``"day"``)."""
    if isinstance(tier, str):
        try:
            return Tier[tier.upper()]
        except KeyError:
            raise ValueError("tier %r is not one of raw, minute, hour, day, month, year" % tier) from None
    return Tier(tier)


def _tiers_of(mask: int) -> FrozenSet[Tier]:
    return frozenset(t for t in Tier if mask & (1 << (t - 1)))


@dataclass
class PointMeta:
    """A point's metadata. ``precision`` and ``interval_ms`` are None when unknown.

    For the rollup tiers: ``rollover`` is a counter's register maximum (None: a fall to near
    zero is taken as a meter replacement, a smaller one as a backward step, see ``register``); ``coal`` maps a timestamp to the standard-coal coefficient (kgce
    per unit of consumption) valid from then on; ``tiers`` is the set of :class:`Tier` the
    point keeps (None: the database's default).
    """

    key: str
    kind: PointKind = PointKind.GAUGE
    unit: str = ""
    precision: Optional[int] = None
    energy_type: str = ""
    interval_ms: Optional[int] = None
    multiplier: float = 1.0
    tags: Dict[str, str] = field(default_factory=dict)
    rollover: Optional[float] = None
    coal: Dict[int, float] = field(default_factory=dict)
    tiers: Optional[FrozenSet[Tier]] = None
    #: A counter's :class:`Register` (a gauge's is ``Register.IMPORT``). Like every field here,
    #: :meth:`MeterDb.define_point` sets it: defining a net counter again with the default
    #: turns it back into an import one.
    register: Register = Register.IMPORT


Replacement = namedtuple("Replacement", "ts old_final new_initial")
Replacement.__doc__ = (
    "A meter replacement recorded for a counter: at ts (ms, UTC) the old meter read old_final for "
    "the last time and the new one started at new_initial."
)


Sample = namedtuple("Sample", "ts value quality")
Sample.__doc__ = "One reading: ts in ms since the Unix epoch (UTC), a finite value, a quality byte."

Columns = namedtuple("Columns", "ts values quality")
Columns.__doc__ = (
    "Samples as parallel columns: numpy arrays (int64, float64, uint8) when numpy is installed, "
    "else array.array('q'), array.array('d'), array.array('B')."
)


@dataclass(frozen=True)
class Stats:
    """Storage totals of a database."""

    points: int
    segment_samples: int
    memtable_samples: int
    segment_files: int
    segment_bytes: int
    wal_bytes: int


@dataclass(frozen=True)
class PointStats:
    """Storage figures of one point; codecs as text such as ``"delta:3,raw:1"``."""

    id: int
    key: str
    samples: int
    bytes: int
    ts_bytes: int
    value_bytes: int
    ts_codecs: str
    value_codecs: str


@dataclass(frozen=True)
class BucketRow:
    """One calendar bucket of a point, ``start <= ts < end`` (ms, UTC).

    ``min``/``max`` come with when they were first reached, ``first``/``last`` with their
    timestamps; ``inc`` is a counter's increase from its first sample to its last. A bucket with
    ``count == 0`` lies inside an outage of a counter and is there for its share of the
    consumption across the gap. ``consumption`` (counters: the register's increase over the
    bucket, interpolated to its boundaries, times the multiplier), ``expected`` and
    ``completeness`` (when the point's interval is known) and ``mean`` are None when absent.

    Invalid readings (quality without ``QUALITY_VALID``) enter no figure: ``count`` and every
    figure are those of the valid readings, ``invalid`` counts the others (a bucket of invalid
    readings only has ``count == 0`` and no mean). ``manual`` and ``estimated`` count the valid
    readings entered by hand and estimated that the bucket used; ``backward`` counts a counter's
    backward steps (see :class:`Register`).
    """

    start: int
    end: int
    count: int
    sum: float
    min: float
    min_ts: int
    max: float
    max_ts: int
    first: float
    first_ts: int
    last: float
    last_ts: int
    inc: float
    mean: Optional[float]
    consumption: Optional[float]
    expected: Optional[float]
    completeness: Optional[float]
    invalid: int = 0
    manual: int = 0
    estimated: int = 0
    backward: int = 0


@dataclass(frozen=True)
class SumRow:
    """One bucket of several points summed: samples and their sum over all of them, the
    counters' consumption summed (None when none had any), the number of points that had a
    bucket, and the quality counts of :class:`BucketRow` summed over the points."""

    start: int
    end: int
    count: int
    sum: float
    consumption: Optional[float]
    points: int
    invalid: int = 0
    manual: int = 0
    estimated: int = 0
    backward: int = 0


@dataclass(frozen=True)
class Comparison:
    """A bucket of the points' summed series with the bucket before it (环比) and the same bucket
    a year earlier (同比), and the changes in percent; None when unknown."""

    start: int
    value: Optional[float]
    previous: Optional[float]
    previous_change_pct: Optional[float]
    year_ago: Optional[float]
    year_change_pct: Optional[float]


class BucketChange(tuple):
    """A statistics bucket read by an upload cursor: the pair ``(point, row)`` (it unpacks and
    compares as one), with the attributes ``point``, ``row``, ``revision`` (the database's
    revision when it was read: a receiver keeps, per bucket, the figures of the highest
    revision) and ``corrected`` (True when it is a bucket sent before whose figures changed
    since)."""

    def __new__(cls, point: int, row: "BucketRow", revision: int = 0, corrected: bool = False):
        t = tuple.__new__(cls, (point, row))
        t.revision = revision
        t.corrected = corrected
        return t

    @property
    def point(self) -> int:
        return self[0]

    @property
    def row(self) -> "BucketRow":
        return self[1]

    def __repr__(self):
        return "BucketChange(point=%r, row=%r, revision=%r, corrected=%r)" % (
            self[0],
            self[1],
            self.revision,
            self.corrected,
        )


def _opt(row, name):
    return getattr(row, name) if getattr(row, "has_" + name) else None


def _bucket_row(r) -> BucketRow:
    return BucketRow(
        r.start,
        r.end,
        r.count,
        r.sum,
        r.min,
        r.min_ts,
        r.max,
        r.max_ts,
        r.first,
        r.first_ts,
        r.last,
        r.last_ts,
        r.inc,
        _opt(r, "mean"),
        _opt(r, "consumption"),
        _opt(r, "expected"),
        _opt(r, "completeness"),
        r.invalid,
        r.manual,
        r.estimated,
        r.backward,
    )


def _sum_row(r) -> SumRow:
    return SumRow(
        r.start, r.end, r.count, r.sum, _opt(r, "consumption"), r.points, r.invalid, r.manual, r.estimated, r.backward
    )


def _comparison(r) -> Comparison:
    return Comparison(
        r.start,
        _opt(r, "value"),
        _opt(r, "previous"),
        _opt(r, "previous_change_pct"),
        _opt(r, "year_ago"),
        _opt(r, "year_change_pct"),
    )


def _read_rows(h, count, rows, row_type, convert, free):
    """Every row of a result handle (one bulk copy), converted; frees the handle."""
    try:
        n = c_size_t()
        _check(count(h, byref(n)))
        buf = (row_type * n.value)()
        got = c_size_t()
        _check(rows(h, 0, buf, n.value, byref(got)))
        return [convert(buf[i]) for i in range(got.value)]
    finally:
        free(h)


@dataclass(frozen=True)
class Verification:
    """What :meth:`MeterDb.verify` found."""

    problems: int
    message: str

    @property
    def ok(self):
        return self.problems == 0


def version() -> str:
    """The C library's version, e.g. ``"0.1.0"``."""
    return lib.meterdb_version().decode()


def _cstr(s, what):
    if s is None:
        return None
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    if "\0" in s:
        raise ValueError("%s contains a NUL character" % what)
    return s.encode("utf-8", "surrogatepass")


_NP_DTYPES = {"q": "int64", "d": "float64", "B": "uint8", "I": "uint32"}
_NP = {k: _np.dtype(v) for k, v in _NP_DTYPES.items()} if _np is not None else {}


def _in_buf(obj, code, what):
    """An input column as (address, keep-alive object, length), without a copy when possible.

    Takes a numpy array (converted to the C type when needed; datetime64 timestamps become ms),
    an array.array of the right type code, or any sequence of numbers.
    """
    if _np is not None and isinstance(obj, _np.ndarray):
        if obj.ndim != 1:
            raise ValueError("%s must be one-dimensional" % what)
        dtype = _NP[code]
        if obj.dtype != dtype:
            if code == "q" and obj.dtype.kind == "M":
                obj = obj.astype("datetime64[ms]").view("int64")
            elif code != "d" and obj.dtype.kind == "f":
                raise TypeError("%s must hold integers, not %s" % (what, obj.dtype))
            else:
                obj = obj.astype(dtype)
        if not obj.flags.c_contiguous:
            obj = _np.ascontiguousarray(obj)
        n = len(obj)
        if n == 0:
            return None, obj, 0
        try:
            # The cheapest way to an ndarray's address (`.ctypes.data` costs ~2 us); the view
            # keeps the array alive and unresizable during the call.
            view = c_char.from_buffer(obj)
            return addressof(view), view, n
        except TypeError:  # a read-only array
            return obj.ctypes.data, obj, n
    if isinstance(obj, array.array) and obj.typecode == code:
        addr, n = obj.buffer_info()
        return addr, obj, n
    if code == "B" and isinstance(obj, (bytes, bytearray)):
        obj = array.array("B", obj)
    else:
        obj = array.array(code, obj)
    addr, n = obj.buffer_info()
    return addr, obj, n


def _out_buf(obj, code, what):
    """A caller's writable buffer as (address, length)."""
    if _np is not None and isinstance(obj, _np.ndarray):
        if obj.dtype != _np.dtype(_NP_DTYPES[code]) or obj.ndim != 1 or not obj.flags.c_contiguous:
            raise TypeError("%s must be a contiguous 1-d %s array" % (what, _NP_DTYPES[code]))
        if not obj.flags.writeable:
            raise TypeError("%s is read-only" % what)
        return obj.ctypes.data, len(obj)
    if isinstance(obj, array.array) and obj.typecode == code:
        return obj.buffer_info()
    raise TypeError("%s must be a numpy %s array or an array.array(%r)" % (what, _NP_DTYPES[code], code))


def _new_columns(n):
    if _np is not None:
        return _np.empty(n, _np.int64), _np.empty(n, _np.float64), _np.empty(n, _np.uint8)
    return array.array("q", bytes(8 * n)), array.array("d", bytes(8 * n)), array.array("B", bytes(n))


class Cursor:
    """A read of one point's samples over ``[start, end)`` in time order, from the snapshot taken
    when it was made: later writes do not change it, and it keeps working after its database is
    closed.

    Iterate it for :class:`Sample` tuples, or read in bulk with :meth:`read` /
    :meth:`read_into`. Not thread-safe. A context manager; an unclosed cursor is freed when
    garbage-collected.
    """

    _CHUNK = 4096

    def __init__(self, handle):
        self._h = handle
        self._free = weakref.finalize(self, lib.meterdb_cursor_free, handle)
        self._n = c_size_t()
        self._buf = None
        self._pos = 0
        self._len = 0
        self._end = False

    def _handle(self):
        if not self._free.alive:
            raise MeterDbError(Status.CLOSED, "the cursor has been closed")
        return self._h

    def read_into(self, ts, values, quality=None) -> int:
        """Fills the caller's buffers (numpy arrays or array.array of int64/'q', float64/'d' and
        uint8/'B'; quality may be None) and returns how many samples were read: fewer than the
        shortest buffer's length means the end."""
        h = self._handle()
        ta, tn = _out_buf(ts, "q", "ts")
        va, vn = _out_buf(values, "d", "values")
        cap = min(tn, vn)
        qa = None
        if quality is not None:
            qa, qn = _out_buf(quality, "B", "quality")
            cap = min(cap, qn)
        if cap == 0:
            raise ValueError("read_into needs buffers of at least one element")
        _check(lib.meterdb_cursor_next(h, ta, va, qa, cap, byref(self._n)))
        return self._n.value

    def read(self, n: int = _CHUNK) -> Columns:
        """Up to ``n`` next samples as :data:`Columns` (fewer, down to none, at the end)."""
        ts, values, quality = _new_columns(n)
        k = self.read_into(ts, values, quality)
        return Columns(ts[:k], values[:k], quality[:k])

    def read_all(self) -> Columns:
        """Everything left, as :data:`Columns`."""
        parts = []
        if self._pos < self._len:  # what iteration has buffered
            ts, v, q = self._buf
            parts.append(Columns(ts[self._pos : self._len], v[self._pos : self._len], q[self._pos : self._len]))
            self._pos = self._len
        if not self._end:
            while True:
                c = self.read(65536)
                parts.append(c)
                if len(c.ts) < 65536:
                    break
            self._end = True
        if _np is not None:
            if not parts:
                return Columns(*_new_columns(0))
            return Columns(*(_np.concatenate([p[i] for p in parts]) for i in range(3)))
        out = Columns(array.array("q"), array.array("d"), array.array("B"))
        for p in parts:
            for i in range(3):
                out[i].extend(p[i])
        return out

    def __iter__(self) -> Iterator[Sample]:
        return self

    def __next__(self) -> Sample:
        if self._pos >= self._len:
            if self._end:
                raise StopIteration
            if self._buf is None:
                self._buf = (
                    array.array("q", bytes(8 * self._CHUNK)),
                    array.array("d", bytes(8 * self._CHUNK)),
                    array.array("B", bytes(self._CHUNK)),
                )
            self._len = self.read_into(*self._buf)
            self._pos = 0
            self._end = self._len < self._CHUNK
            if self._len == 0:
                raise StopIteration
        ts, v, q = self._buf
        i = self._pos
        self._pos += 1
        return Sample(ts[i], v[i], q[i])

    def close(self):
        """Frees the cursor; closing twice does nothing."""
        self._free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MeterDb:
    """An open MeterDB database.

    >>> with MeterDb("plant.mdb", durability=Durability.SYNC) as db:
    ...     kwh = db.define_point(PointMeta("plant-1/main-kwh", PointKind.COUNTER, unit="kWh"))
    ...     db.write_point(kwh, [t0, t0 + 900_000], [1234.56, 1236.01])
    ...     for s in db.range(kwh):
    ...         print(s.ts, s.value)

    ``tz_offset_min`` is the time zone of the rollup tiers' calendar buckets in minutes east of UTC,
    fixed when the database is created (None: +08:00 for a new one, the stored one otherwise);
    ``tiers`` the set of :class:`Tier` a point keeps unless its metadata says otherwise (None: all).
    ``flush_threads`` (None: 2 on a machine with two cores or more) is 1 to compute a flush's rollup
    tiers after its raw segments instead of beside them on a second thread.
    ``retention`` maps ``"raw"`` or a :class:`Tier` to ``(max_age_ms, max_bytes)`` (None: no limit
    of that kind); raw data an upload cursor has not acknowledged is never dropped by age, and a raw
    byte cap that could only be met by dropping it refuses writes (``Status.STORAGE_FULL``) unless
    ``retention_drop_unacked`` is true.

    Thread-safe: one instance may be used from many threads (the C calls release the GIL).
    Failures raise :class:`MeterDbError` with the library's status and message; bad Python
    arguments raise ``ValueError`` / ``TypeError``. After :meth:`close` every call raises with
    ``Status.CLOSED``; the C handle itself is freed when this object is garbage-collected.
    """

    def __init__(
        self,
        path,
        *,
        durability=Durability.SYNC,
        sync_interval_ms=1000,
        memtable_bytes=None,
        background=True,
        partition_ms=None,
        compaction_trigger=None,
        flush_threads=None,
        create_if_missing=True,
        tz_offset_min=None,
        tiers=None,
        retention=None,
        retention_drop_unacked=False,
    ):
        opts = c_void_p()
        _check(lib.meterdb_options_new(byref(opts)))
        try:
            _check(lib.meterdb_options_set_durability(opts, int(durability)))
            _check(lib.meterdb_options_set_sync_interval_ms(opts, sync_interval_ms))
            if memtable_bytes is not None:
                _check(lib.meterdb_options_set_memtable_bytes(opts, memtable_bytes))
            _check(lib.meterdb_options_set_background(opts, 1 if background else 0))
            if partition_ms is not None:
                _check(lib.meterdb_options_set_partition_ms(opts, partition_ms))
            if compaction_trigger is not None:
                _check(lib.meterdb_options_set_compaction_trigger(opts, compaction_trigger))
            if flush_threads is not None:
                _check(lib.meterdb_options_set_flush_threads(opts, flush_threads))
            _check(lib.meterdb_options_set_create_if_missing(opts, 1 if create_if_missing else 0))
            if tz_offset_min is not None:
                _check(lib.meterdb_options_set_tz_offset_min(opts, tz_offset_min))
            if tiers is not None:
                _check(lib.meterdb_options_set_tiers(opts, _tier_mask(tiers)))
            for tier, (max_age_ms, max_bytes) in (retention or {}).items():
                t = 0 if tier == "raw" else int(_tier_of(tier))
                _check(
                    lib.meterdb_options_set_retention(
                        opts, t, -1 if max_age_ms is None else max_age_ms, -1 if max_bytes is None else max_bytes
                    )
                )
            if retention_drop_unacked:
                _check(lib.meterdb_options_set_retention_drop_unacked(opts, 1))
            h = c_void_p()
            _check(lib.meterdb_db_open(_cstr(str(path), "path"), opts, byref(h)))
        finally:
            lib.meterdb_options_free(opts)
        self._h = h
        self._closed = False
        self._close_lock = threading.Lock()
        # Frees the C handle (closing it first if still open) once this object is unreachable.
        self._free = weakref.finalize(self, lib.meterdb_db_free, h)

    @classmethod
    def open(cls, path, **options):
        """The same as ``MeterDb(path, **options)``."""
        return cls(path, **options)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self):
        """Closes the database (waits for calls in flight on other threads); twice does nothing."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            _check(lib.meterdb_db_close(self._h))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Points

    def define_point(self, meta, kind=None, **fields) -> int:
        """Defines a point (a :class:`PointMeta`, or a key plus its fields), or updates the
        metadata of the point with that key; returns its id."""
        if isinstance(meta, str):
            meta = PointMeta(meta, **({"kind": kind} if kind is not None else {}), **fields)
        names = list(meta.tags)
        keys = (c_char_p * len(names))(*[_cstr(k, "tag name") for k in names])
        vals = (c_char_p * len(names))(*[_cstr(meta.tags[k], "tag value") for k in names])
        coal = sorted(meta.coal.items())
        coal_from = array.array("q", [int(t) for t, _ in coal])
        coal_kgce = array.array("d", [float(k) for _, k in coal])
        out = c_uint32()
        _check(
            lib.meterdb_db_define_point_v2(
                self._h,
                _cstr(meta.key, "key"),
                int(meta.kind),
                _cstr(meta.unit or "", "unit"),
                -1 if meta.precision is None else meta.precision,
                _cstr(meta.energy_type or "", "energy_type"),
                meta.interval_ms or 0,
                meta.multiplier,
                keys,
                vals,
                len(names),
                float("nan") if meta.rollover is None else meta.rollover,
                coal_from.buffer_info()[0] if coal else None,
                coal_kgce.buffer_info()[0] if coal else None,
                len(coal),
                _TIERS_DEFAULT if meta.tiers is None else _tier_mask(meta.tiers),
                byref(out),
            )
        )
        if meta.kind == PointKind.COUNTER:
            # The C define keeps a counter's register; set the one given (a no-op when equal).
            self.set_point_register(out.value, meta.register)
        return out.value

    def set_point_register(self, point: int, register):
        """Sets how a counter's register is read (:class:`Register`, or ``"import"`` / ``"net"``);
        its buckets are derived again. A gauge raises ``Status.INVALID_ARGUMENT``."""
        if isinstance(register, str):
            register = Register[register.upper()]
        _check(lib.meterdb_db_set_point_register(self._h, point, int(Register(register))))

    def point_register(self, point: int) -> Register:
        """How a point's register is read (a gauge's: ``Register.IMPORT``)."""
        out = c_int32()
        _check(lib.meterdb_db_point_register(self._h, point, byref(out)))
        return Register(out.value)

    def replace_meter(self, point: int, ts: int, old_final: float, new_initial: float):
        """Records that counter ``point``'s meter was replaced at ``ts``: the old meter read
        ``old_final`` last, the new one started at ``new_initial``. The consumption between the last
        reading before ``ts`` and the first at or after it is then ``(old_final - before) + (after -
        new_initial)``. Durable like a write; the buckets it changes are derived again. A gauge or a
        non-finite reading raises ``Status.INVALID_ARGUMENT``."""
        _check(lib.meterdb_db_replace_meter(self._h, point, ts, old_final, new_initial))

    def forget_meter_replacement(self, point: int, ts: int):
        """Removes the meter replacement recorded at ``ts`` (``Status.NOT_FOUND`` when none)."""
        _check(lib.meterdb_db_forget_meter_replacement(self._h, point, ts))

    def meter_replacements(self, point: int) -> List[Replacement]:
        """The meter replacements recorded for a counter, in time order."""
        cap = 8
        n = c_size_t()
        while True:
            ts = (ctypes.c_int64 * cap)()
            old = (ctypes.c_double * cap)()
            new = (ctypes.c_double * cap)()
            st = lib.meterdb_db_meter_replacements(self._h, point, ts, old, new, cap, byref(n))
            if st == Status.BUFFER_TOO_SMALL:
                cap = n.value + 8
                continue
            _check(st)
            return [Replacement(ts[i], old[i], new[i]) for i in range(n.value)]

    def ensure_point(self, key: str) -> int:
        """The id of a key, defining it as a gauge with default metadata if missing."""
        out = c_uint32()
        _check(lib.meterdb_db_ensure_point(self._h, _cstr(key, "key"), byref(out)))
        return out.value

    def point_id(self, key: str) -> Optional[int]:
        """The id of a key, or None."""
        out = c_uint32()
        st = lib.meterdb_db_point_id(self._h, _cstr(key, "key"), byref(out))
        if st == Status.NOT_FOUND:
            return None
        _check(st)
        return out.value

    def point(self, id: int) -> PointMeta:
        """The metadata of a point (``Status.NOT_FOUND`` when undefined)."""
        p = ctypes.POINTER(_native.PointInfoV2)()
        _check(lib.meterdb_db_point_info_v2(self._h, id, byref(p)))
        try:
            v2 = p.contents
            i = v2.base
            d = lambda b: b.decode("utf-8")  # noqa: E731
            return PointMeta(
                key=d(i.key),
                kind=PointKind(i.kind),
                unit=d(i.unit),
                precision=None if i.precision < 0 else i.precision,
                energy_type=d(i.energy_type),
                interval_ms=i.interval_ms or None,
                multiplier=i.multiplier,
                tags={d(i.tag_keys[k]): d(i.tag_values[k]) for k in range(i.n_tags)},
                rollover=None if v2.rollover != v2.rollover else v2.rollover,  # NaN: none
                coal={v2.coal_from[k]: v2.coal_kgce[k] for k in range(v2.n_coal)},
                tiers=None if v2.tiers == _TIERS_DEFAULT else _tiers_of(v2.tiers),
                register=self.point_register(id),
            )
        finally:
            lib.meterdb_point_info_v2_free(p)

    def points(self, key_prefix=None, kind=None, energy_type=None) -> List[int]:
        """Ids, in id order, of the points matching every filter given."""
        prefix, et = _cstr(key_prefix, "key_prefix"), _cstr(energy_type, "energy_type")
        k = -1 if kind is None else int(kind)
        n = c_size_t()
        cap = 64
        while True:
            ids = (c_uint32 * cap)()
            st = lib.meterdb_db_list_points(self._h, prefix, k, et, ids, cap, byref(n))
            if st == Status.BUFFER_TOO_SMALL:
                cap = n.value + 16  # room for points defined meanwhile
                continue
            _check(st)
            return list(ids[: n.value])

    # Writes

    def put(self, point: int, ts: int, value: float, quality: int = QUALITY_VALID):
        """Writes one sample (``ts``: int ms since the epoch, UTC; a float or another type raises
        ``TypeError``)."""
        for name, v in (("point", point), ("ts", ts), ("quality", quality)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError("%s must be an int, not %s" % (name, type(v).__name__))
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError("value must be a float, not %s" % type(value).__name__)
        for name, v, lo, hi in (("point", point, 0, 2**32 - 1), ("ts", ts, -(2**63), 2**63 - 1), ("quality", quality, 0, 255)):
            if not lo <= v <= hi:
                raise ValueError("%s %d is out of range (%d to %d)" % (name, v, lo, hi))
        try:
            _check(lib.meterdb_db_put(self._h, point, ts, value, quality))
        except ctypes.ArgumentError as e:  # out of the C type's range
            raise TypeError("put: %s" % e) from None

    def write(self, points, ts, values, quality=None):
        """Writes samples of many points atomically from parallel columns (sequences, numpy arrays
        or array.array); quality None means valid."""
        pa, pk, n = _in_buf(points, "I", "points")
        ta, tk, tn = _in_buf(ts, "q", "ts")
        va, vk, vn = _in_buf(values, "d", "values")
        qa = qk = None
        if quality is not None:
            qa, qk, qn = _in_buf(quality, "B", "quality")
            if qn != n:
                raise ValueError("quality has %d elements, points %d" % (qn, n))
        if tn != n or vn != n:
            raise ValueError("columns differ in length: %d points, %d ts, %d values" % (n, tn, vn))
        _check(lib.meterdb_db_write(self._h, pa, ta, va, qa, n))

    def write_point(self, point: int, ts, values, quality=None):
        """Writes samples of one point atomically; quality None means valid."""
        ta, tk, n = _in_buf(ts, "q", "ts")
        va, vk, vn = _in_buf(values, "d", "values")
        qa = qk = None
        if quality is not None:
            qa, qk, qn = _in_buf(quality, "B", "quality")
            if qn != n:
                raise ValueError("quality has %d elements, ts %d" % (qn, n))
        if vn != n:
            raise ValueError("columns differ in length: %d ts, %d values" % (n, vn))
        _check(lib.meterdb_db_write_point(self._h, point, ta, va, qa, n))

    def delete_range(self, point: int, start: int, end: int):
        """Deletes a point's samples with ``start <= ts < end``."""
        _check(lib.meterdb_db_delete_range(self._h, point, start, end))

    # Reads

    def latest(self, point: int) -> Optional[Sample]:
        """The sample of a point with the greatest timestamp, or None."""
        ts, v, q, found = c_int64(), c_double(), c_uint8(), c_int32()
        _check(lib.meterdb_db_latest(self._h, point, byref(ts), byref(v), byref(q), byref(found)))
        return Sample(ts.value, v.value, q.value) if found.value else None

    def range(self, point: int, start: Optional[int] = None, end: Optional[int] = None) -> Cursor:
        """A :class:`Cursor` over a point's samples with ``start <= ts < end`` (None: unbounded)."""
        h = c_void_p()
        _check(
            lib.meterdb_db_range(
                self._h, point, TS_MIN if start is None else start, TS_MAX if end is None else end, byref(h)
            )
        )
        return Cursor(h)

    def read(self, point: int, start: Optional[int] = None, end: Optional[int] = None) -> Columns:
        """A point's samples with ``start <= ts < end`` as :data:`Columns`."""
        with self.range(point, start, end) as c:
            return c.read_all()

    # Downsampled queries

    @property
    def tz_offset_min(self) -> int:
        """The database's time zone in minutes east of UTC: the calendar of the rollup tiers."""
        out = c_int32()
        _check(lib.meterdb_db_tz_offset_min(self._h, byref(out)))
        return out.value

    def rollup(self, point: int, tier, start: Optional[int] = None, end: Optional[int] = None) -> List[BucketRow]:
        """A point's calendar buckets at ``tier`` whose start lies in ``[start, end)`` (None:
        unbounded; the bucket holding ``start`` is included), in time order. Equal to a
        recomputation from the raw samples, unflushed ones included. ``start > end`` or a tier the
        point does not keep raise ``Status.INVALID_ARGUMENT``."""
        h = c_void_p()
        _check(
            lib.meterdb_db_rollup(
                self._h,
                point,
                int(Tier(tier)),
                TS_MIN if start is None else start,
                TS_MAX if end is None else end,
                byref(h),
            )
        )
        return _read_rows(
            h, lib.meterdb_rollup_count, lib.meterdb_rollup_rows_v2, _native.BucketRowV2, _bucket_row, lib.meterdb_rollup_free
        )

    def iter_rollup(self, point: int, tier, start: Optional[int] = None, end: Optional[int] = None) -> Iterator[BucketRow]:
        """The rows of :meth:`rollup`, as an iterator."""
        return iter(self.rollup(point, tier, start, end))

    def rollup_many(
        self, points: Iterable[int], tier, start: Optional[int] = None, end: Optional[int] = None
    ) -> Dict[int, List[BucketRow]]:
        """:meth:`rollup` of several points, by point."""
        return {p: self.rollup(p, tier, start, end) for p in points}

    def _sums(self, points, tier, start, end, unit):
        pa, pk, n = _in_buf(points, "I", "points")
        h = c_void_p()
        args = (self._h, pa, n, int(Tier(tier)), TS_MIN if start is None else start, TS_MAX if end is None else end)
        if unit is None:
            _check(lib.meterdb_db_rollup_sum(*args, byref(h)))
        else:
            _check(lib.meterdb_db_coal_sum(*args, int(CoalUnit(unit)), byref(h)))
        return _read_rows(
            h,
            lib.meterdb_rollup_sum_count,
            lib.meterdb_rollup_sum_rows_v2,
            _native.SumRowV2,
            _sum_row,
            lib.meterdb_rollup_sum_free,
        )

    def rollup_sum(self, points, tier, start: Optional[int] = None, end: Optional[int] = None) -> List[SumRow]:
        """The buckets of several points summed into one series (counts and sums over all of them,
        consumption over the counters)."""
        return self._sums(points, tier, start, end, None)

    def coal_sum(self, points, tier, start: Optional[int] = None, end: Optional[int] = None, unit=CoalUnit.KGCE) -> List[SumRow]:
        """The points' consumption in standard coal, summed: each counter's consumption times its
        coefficient in force at the bucket's start (without one it adds nothing)."""
        if unit is None:
            raise ValueError("coal_sum needs a unit (CoalUnit.KGCE or CoalUnit.TCE)")
        return self._sums(points, tier, start, end, unit)

    def compare(self, points, tier, start: Optional[int] = None, end: Optional[int] = None, unit=None) -> List[Comparison]:
        """Each bucket of the points' summed series with the bucket before it and the same bucket a
        year earlier: consumption when any point is a counter (in standard coal when ``unit`` is a
        :class:`CoalUnit`), else the summed mean."""
        pa, pk, n = _in_buf(points, "I", "points")
        h = c_void_p()
        _check(
            lib.meterdb_db_compare(
                self._h,
                pa,
                n,
                int(Tier(tier)),
                TS_MIN if start is None else start,
                TS_MAX if end is None else end,
                _COAL_NONE if unit is None else int(CoalUnit(unit)),
                byref(h),
            )
        )
        return _read_rows(
            h, lib.meterdb_comparison_count, lib.meterdb_comparison_rows, _native.CompareRow, _comparison, lib.meterdb_comparison_free
        )

    # Maintenance

    def flush(self):
        """Writes the memtable to segment files now."""
        _check(lib.meterdb_db_flush(self._h))

    def compact(self):
        """Merges each time partition's segment files into one."""
        _check(lib.meterdb_db_compact(self._h))

    def sync(self):
        """Makes every write so far durable."""
        _check(lib.meterdb_db_sync(self._h))

    def stats(self) -> Stats:
        """Storage totals."""
        s = _native.Stats()
        _check(lib.meterdb_db_stats(self._h, byref(s)))
        return Stats(*(getattr(s, f) for f, _ in _native.Stats._fields_))

    def point_stats(self) -> List[PointStats]:
        """Storage figures of every point, in id order."""
        r = c_void_p()
        _check(lib.meterdb_db_stats_report(self._h, byref(r)))
        try:
            n = c_size_t()
            _check(lib.meterdb_stats_report_point_count(r, byref(n)))
            out = []
            ps = _native.PointStats()
            for i in range(n.value):
                _check(lib.meterdb_stats_report_point(r, i, byref(ps)))
                out.append(
                    PointStats(
                        ps.id,
                        ps.key.decode(),
                        ps.samples,
                        ps.bytes,
                        ps.ts_bytes,
                        ps.value_bytes,
                        ps.ts_codecs.decode(),
                        ps.value_codecs.decode(),
                    )
                )
            return out
        finally:
            lib.meterdb_stats_report_free(r)

    def verify(self) -> Verification:
        """Checks every checksum of every live file."""
        problems, length = c_size_t(), c_size_t()
        buf = ctypes.create_string_buffer(4096)
        _check(lib.meterdb_db_verify(self._h, byref(problems), buf, len(buf), byref(length)))
        if length.value >= len(buf):  # cut: ask again with room for all of it
            buf = ctypes.create_string_buffer(length.value + 1)
            _check(lib.meterdb_db_verify(self._h, byref(problems), buf, len(buf), byref(length)))
        return Verification(problems.value, buf.value.decode("utf-8", "replace"))

    # Store-and-forward: upload cursors, the upload log, bundles, backup, retention

    def create_cursor(self, name: str, start="oldest"):
        """Creates a durable upload cursor (one per destination; 1 to 64 characters of
        ``A-Z a-z 0-9 _ - .``) starting at the oldest change the log holds (``"oldest"``), at
        the next change written (``"now"``), or at a change id (an int: the changes before it
        count as acknowledged)."""
        if isinstance(start, str):
            modes = {"oldest": 0, "now": 1}
            if start not in modes:
                raise ValueError("start must be 'oldest', 'now' or a change id, not %r" % start)
            mode, from_id = modes[start], 0
        elif isinstance(start, int) and not isinstance(start, bool) and start >= 0:
            mode, from_id = 2, start
        else:
            raise TypeError("start must be 'oldest', 'now' or a change id (an int >= 0)")
        _check(lib.meterdb_db_upload_cursor_create(self._h, _cstr(name, "name"), mode, from_id))

    def drop_cursor(self, name: str):
        """Removes an upload cursor."""
        _check(lib.meterdb_db_upload_cursor_drop(self._h, _cstr(name, "name")))

    def cursors(self) -> List["_forward.CursorInfo"]:
        """Every upload cursor, by name."""
        h = c_void_p()
        _check(lib.meterdb_db_upload_cursor_list(self._h, byref(h)))
        return _forward.cursor_list(h, _check)

    def cursor_read(self, name: str, max: int = 10000) -> List["_forward.Change"]:
        """Up to ``max`` changes after the cursor's read position, in write order (only durable
        ones); an empty list when there is nothing new. Acknowledge with :meth:`cursor_ack`."""
        h = c_void_p()
        _check(lib.meterdb_db_upload_cursor_read(self._h, _cstr(name, "name"), max, byref(h)))
        return _forward.changes(h, _check)

    def cursor_ack(self, name: str, up_to_id: int):
        """Acknowledges, durably, every change with ``id <= up_to_id``."""
        _check(lib.meterdb_db_upload_cursor_ack(self._h, _cstr(name, "name"), up_to_id))

    def cursor_rewind(self, name: str):
        """Moves the cursor's read positions back to its acknowledged ones (after a failed upload)."""
        _check(lib.meterdb_db_upload_cursor_rewind(self._h, _cstr(name, "name")))

    def cursor_read_buckets(self, name: str, tier, max: int = 10000, watermark: Optional[int] = None):
        """Up to ``max`` closed buckets of ``tier`` of every point after the cursor's position for
        that tier, as :class:`BucketChange` pairs ``(point, BucketRow)`` with ``revision`` and
        ``corrected`` attributes: buckets delivered again because their data changed
        (``corrected``) first, then new ones ordered by (start, point). A bucket is closed when
        it ends at or before ``watermark`` (None: the newest sample time seen)."""
        h = c_void_p()
        _check(
            lib.meterdb_db_upload_cursor_read_buckets(
                self._h,
                _cstr(name, "name"),
                int(_tier_of(tier)),
                max,
                0 if watermark is None else 1,
                0 if watermark is None else watermark,
                byref(h),
            )
        )
        return _read_rows(
            h,
            lib.meterdb_bucket_changes_count,
            lib.meterdb_bucket_changes_rows_v2,
            _native.BucketChangeV2,
            lambda b: BucketChange(b.point, _bucket_row(b.row), b.revision, bool(b.corrected)),
            lib.meterdb_bucket_changes_free,
        )

    def cursor_ack_buckets(self, name: str, tier, start: int, point: int):
        """Acknowledges, durably, every bucket of ``tier`` up to the one of ``point`` at ``start``."""
        _check(lib.meterdb_db_upload_cursor_ack_buckets(self._h, _cstr(name, "name"), int(_tier_of(tier)), start, point))

    def record_upload(
        self,
        cursor: str,
        first_id: int,
        last_id: int,
        samples: int,
        ok: bool = True,
        message: Optional[str] = None,
        platform_time: Optional[int] = None,
        at: Optional[int] = None,
    ):
        """Appends an upload attempt to the durable upload log (``at``: ms since the epoch, now
        when None). A failure (``ok=False``) needs a ``message``."""
        if not ok and message is None:
            raise ValueError("a failed upload needs a message")
        if at is None:
            import time

            at = int(time.time() * 1000)
        _check(
            lib.meterdb_db_record_upload(
                self._h,
                _cstr(cursor, "cursor"),
                first_id,
                last_id,
                samples,
                0 if ok else 1,
                _cstr(message, "message"),
                0 if platform_time is None else 1,
                0 if platform_time is None else platform_time,
                at,
            )
        )

    def upload_records(self, start: Optional[int] = None, end: Optional[int] = None, outcome=None):
        """The upload records with ``start <= at < end``, oldest first; ``outcome`` ``"ok"`` or
        ``"failed"`` selects one kind (None: both)."""
        filters = {None: -1, "ok": 0, "failed": 1}
        if outcome not in filters:
            raise ValueError("outcome must be None, 'ok' or 'failed', not %r" % (outcome,))
        h = c_void_p()
        _check(
            lib.meterdb_db_upload_records(
                self._h, TS_MIN if start is None else start, TS_MAX if end is None else end, filters[outcome], byref(h)
            )
        )
        return _forward.upload_records(h, _check)

    def backup(self, dir) -> "_forward.BackupReport":
        """Copies the database into ``dir`` (created; not a database already) while writes go on;
        the copy opens with :class:`MeterDb` like the original."""
        r = _native.BackupReport()
        _check(lib.meterdb_db_backup(self._h, _cstr(str(dir), "dir"), byref(r)))
        return _forward.BackupReport(r.linked_files, r.linked_bytes, r.copied_files, r.copied_bytes, r.wal_seq)

    def export_bundle(self, path, points=None, start: Optional[int] = None, end: Optional[int] = None):
        """Writes a bundle file of the samples with ``start <= ts < end`` of ``points`` (ids; None:
        every point) and returns its :class:`BundleReport`."""
        h = c_void_p()
        if points is None:
            pa, keep, n = None, None, 0
        else:
            pa, keep, n = _in_buf(points, "I", "points")
            if n == 0:
                keep = array.array("I", [0])
                pa = keep.buffer_info()[0]
        _check(
            lib.meterdb_db_export_bundle(
                self._h,
                _cstr(str(path), "path"),
                pa,
                n,
                TS_MIN if start is None else start,
                TS_MAX if end is None else end,
                byref(h),
            )
        )
        del keep
        return _forward.bundle_report(h, _check)

    def export_cursor_bundle(self, path, cursor: str):
        """Writes a bundle file of every change the cursor has not read (moving its read position
        past them); acknowledge ``report.ids[1]`` once it is delivered."""
        h = c_void_p()
        _check(lib.meterdb_db_export_cursor_bundle(self._h, _cstr(str(path), "path"), _cstr(cursor, "cursor"), byref(h)))
        return _forward.bundle_report(h, _check)

    def verify_bundle(self, path):
        """Checks a bundle file completely (``Status.CORRUPTION`` when damaged) without applying it."""
        h = c_void_p()
        _check(lib.meterdb_db_verify_bundle(self._h, _cstr(str(path), "path"), byref(h)))
        return _forward.bundle_report(h, _check)

    def import_bundle(self, path):
        """Verifies a bundle file completely, then applies it; a damaged one changes nothing, and
        importing the same bundle twice gives the same data as once."""
        h = c_void_p()
        _check(lib.meterdb_db_import_bundle(self._h, _cstr(str(path), "path"), byref(h)))
        return _forward.bundle_report(h, _check)

    def apply_retention(self):
        """Applies the ``retention`` limits now (a flush does too)."""
        h = c_void_p()
        _check(lib.meterdb_db_apply_retention(self._h, byref(h)))
        return _forward.retention_report(h, _check, Tier)

    # Export for other engines

    @staticmethod
    def has_parquet() -> bool:
        """Whether the C library was built with Parquet export (the cargo feature ``parquet``)."""
        return bool(lib.meterdb_has_parquet())

    def export(self, out_dir, tier="raw", start: Optional[int] = None, end: Optional[int] = None, point_keys=None):
        """Writes raw samples (``tier="raw"``) or a tier's buckets with ``start <= t < end`` as
        Hive-partitioned Parquet files under ``out_dir`` (``tier=raw/date=2024-01-01/part-0.parquet``),
        for the points with keys ``point_keys`` (None: every point). Raises ``Status.UNSUPPORTED``
        when the library was built without the ``parquet`` feature."""
        t = 0 if tier == "raw" else int(_tier_of(tier))
        if point_keys is None:
            keys, n = None, 0
        else:
            if isinstance(point_keys, str):
                raise TypeError("point_keys must be a list of keys, not a str")
            enc = [_cstr(k, "point key") for k in point_keys]
            keys, n = (c_char_p * max(len(enc), 1))(*enc), len(enc)
        s = _native.ExportSummary()
        _check(
            lib.meterdb_export(
                self._h,
                _cstr(str(out_dir), "out_dir"),
                t,
                TS_MIN if start is None else start,
                TS_MAX if end is None else end,
                keys,
                n,
                byref(s),
            )
        )
        return _forward.ExportSummary(s.rows, s.files, s.bytes, s.partitions, s.removed, s.points)

    def to_arrow(self, points, start: Optional[int] = None, end: Optional[int] = None, tier="raw"):
        """A ``pyarrow.Table`` of ``points`` (keys or ids) over ``[start, end)``, built from the
        columnar reads without a per-row Python loop. Raw: ``point`` (dictionary), ``ts``
        (timestamp ms in the database's zone), ``value`` (float64), ``quality`` (uint8). A tier:
        ``point``, ``start``, ``end``, ``count``, ``sum``, ``min``, ``min_ts``, ``max``, ``max_ts``,
        ``first``, ``first_ts``, ``last``, ``last_ts``, ``inc``, ``mean``, ``consumption``,
        ``expected``, ``completeness`` (null where absent), ``invalid``, ``manual``,
        ``estimated``, ``backward`` (the quality counts). Needs pyarrow and numpy."""
        from ._arrow import to_arrow

        return to_arrow(self, points, start, end, tier)
