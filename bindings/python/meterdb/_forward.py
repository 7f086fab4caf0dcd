"""Store-and-forward, bundles, backup, retention and export: the result types, and the
conversion of C results into them (the methods are on :class:`meterdb.MeterDb`)."""

from ctypes import byref, c_int32, c_int64, c_size_t
from dataclasses import dataclass
from typing import List, Optional, Tuple

from . import _native
from ._native import lib


@dataclass(frozen=True)
class Change:
    """One change read by an upload cursor. ``kind`` is ``"put"`` or ``"delete"``; a delete
    removed the point's samples with ``ts <= t < delete_to`` (its value and quality are 0).
    ``id`` is stable and increasing: a receiver drops a change whose id it has stored, and
    :meth:`MeterDb.cursor_ack` takes the last one delivered."""

    id: int
    point: int
    kind: str
    ts: int
    value: float
    quality: int
    delete_to: int


@dataclass(frozen=True)
class CursorInfo:
    """An upload cursor: everything below ``acked`` is acknowledged; ``read`` is the first change
    not read since the database was opened (or the last rewind); ``pending_records`` an upper
    bound of the backlog in write-ahead log records."""

    name: str
    acked: int
    read: int
    pending_records: int


@dataclass(frozen=True)
class UploadRecord:
    """One upload attempt of the upload log. ``ok`` is False for a failure, whose ``message``
    says why; ``platform_time`` is None when the platform reported none."""

    cursor: str
    first_id: int
    last_id: int
    samples: int
    ok: bool
    message: str
    platform_time: Optional[int]
    at: int


@dataclass(frozen=True)
class BackupReport:
    """What :meth:`MeterDb.backup` linked and copied; the copy holds every write up to log
    sequence ``wal_seq``."""

    linked_files: int
    linked_bytes: int
    copied_files: int
    copied_bytes: int
    wal_seq: int


@dataclass(frozen=True)
class BundlePoint:
    """One point of a bundle: its key, samples and deletes, and its time span (``min_ts`` is
    2**63-1 and ``max_ts`` -2**63 when it has none)."""

    key: str
    samples: int
    deletes: int
    min_ts: int
    max_ts: int


@dataclass(frozen=True)
class BundleReport:
    """What a bundle holds. For a cursor bundle, ``ids`` are its first and last change ids
    (acknowledge the last once delivered); ``(0, 0)`` otherwise."""

    points: List[BundlePoint]
    samples: int
    deletes: int
    ids: Tuple[int, int]
    bytes: int


@dataclass(frozen=True)
class RetentionReport:
    """What :meth:`MeterDb.apply_retention` did: the partitions dropped as ``(tier, start)``
    (tier ``"raw"`` or a :class:`Tier`), their bytes, the cursors moved forward past changes
    they had not acknowledged, and whether writes are now refused until room is made."""

    dropped: list
    dropped_bytes: int
    forced_cursors: List[str]
    full: bool


@dataclass(frozen=True)
class ExportSummary:
    """What :meth:`MeterDb.export` wrote."""

    rows: int
    files: int
    bytes: int
    partitions: int
    removed: int
    points: int


def _s(b) -> str:
    return (b or b"").decode("utf-8", "replace")


def changes(h, check) -> List[Change]:
    try:
        n = c_size_t()
        check(lib.meterdb_changes_count(h, byref(n)))
        buf = (_native.Change * n.value)()
        got = c_size_t()
        check(lib.meterdb_changes_rows(h, 0, buf, n.value, byref(got)))
        return [
            Change(c.id, c.point, "delete" if c.kind == 1 else "put", c.ts, c.value, c.quality, c.delete_to)
            for c in buf[: got.value]
        ]
    finally:
        lib.meterdb_changes_free(h)


def cursor_list(h, check) -> List[CursorInfo]:
    try:
        n = c_size_t()
        check(lib.meterdb_upload_cursor_list_count(h, byref(n)))
        out = []
        info = _native.UploadCursorInfo()
        for i in range(n.value):
            check(lib.meterdb_upload_cursor_list_row(h, i, byref(info)))
            out.append(CursorInfo(_s(info.name), info.acked, info.read, info.pending_records))
        return out
    finally:
        lib.meterdb_upload_cursor_list_free(h)


def upload_records(h, check) -> List[UploadRecord]:
    try:
        n = c_size_t()
        check(lib.meterdb_upload_records_count(h, byref(n)))
        out = []
        r = _native.UploadRecord()
        for i in range(n.value):
            check(lib.meterdb_upload_records_row(h, i, byref(r)))
            out.append(
                UploadRecord(
                    _s(r.cursor),
                    r.first_id,
                    r.last_id,
                    r.samples,
                    r.outcome == 0,
                    _s(r.message),
                    r.platform_time if r.has_platform_time else None,
                    r.at,
                )
            )
        return out
    finally:
        lib.meterdb_upload_records_free(h)


def bundle_report(h, check) -> BundleReport:
    try:
        t = _native.BundleTotals()
        check(lib.meterdb_bundle_report_totals(h, byref(t)))
        points = []
        p = _native.BundlePoint()
        for i in range(t.points):
            check(lib.meterdb_bundle_report_point(h, i, byref(p)))
            points.append(BundlePoint(_s(p.key), p.samples, p.deletes, p.min_ts, p.max_ts))
        return BundleReport(points, t.samples, t.deletes, (t.first_id, t.last_id), t.bytes)
    finally:
        lib.meterdb_bundle_report_free(h)


def retention_report(h, check, tier_type) -> RetentionReport:
    try:
        t = _native.RetentionTotals()
        check(lib.meterdb_retention_report_totals(h, byref(t)))
        dropped = []
        tier, start = c_int32(), c_int64()
        for i in range(t.dropped_partitions):
            check(lib.meterdb_retention_report_dropped(h, i, byref(tier), byref(start)))
            dropped.append(("raw" if tier.value == 0 else tier_type(tier.value), start.value))
        forced = [_s(lib.meterdb_retention_report_forced_cursor(h, i)) for i in range(t.forced_cursors)]
        return RetentionReport(dropped, t.dropped_bytes, forced, bool(t.full))
    finally:
        lib.meterdb_retention_report_free(h)


def format_offset(minutes: int) -> str:
    """``480`` -> ``"+08:00"``: the time zone of Arrow timestamps."""
    sign = "-" if minutes < 0 else "+"
    m = abs(minutes)
    return "%s%02d:%02d" % (sign, m // 60, m % 60)
