"""The C functions of libmeterdb (bindings/c/include/meterdb.h), declared with ctypes.

The library is loaded from the path in the environment variable ``METERDB_LIB`` (an override),
else from this package's directory (the copy ``pip install`` bundles), else from the
workspace's ``target/release`` (or ``$CARGO_TARGET_DIR/release``) when this package is used
from the source tree, else by name from the system's library path. ``path`` is the file loaded.
"""

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    POINTER,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)


_LIBNAME = {"darwin": "libmeterdb.dylib", "win32": "meterdb.dll"}.get(sys.platform, "libmeterdb.so")


def _candidates():
    env = os.environ.get("METERDB_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, _LIBNAME)
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    yield os.path.join(target, "release", _LIBNAME)
    found = ctypes.util.find_library("meterdb")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        return ctypes.CDLL(path), path
    raise OSError(
        "libmeterdb not found (tried %s); install the package with `pip install "
        "./bindings/python`, or build the library with `cargo build --release -p meterdb-ffi` "
        "and set METERDB_LIB to its path" % (", ".join(tried) or "the system library path")
    )


lib, path = _load()


class Stats(ctypes.Structure):
    """``meterdb_stats``."""

    _fields_ = [
        ("points", c_uint64),
        ("segment_samples", c_uint64),
        ("memtable_samples", c_uint64),
        ("segment_files", c_uint64),
        ("segment_bytes", c_uint64),
        ("wal_bytes", c_uint64),
    ]


class PointStats(ctypes.Structure):
    """``meterdb_point_stats``."""

    _fields_ = [
        ("id", c_uint32),
        ("key", c_char_p),
        ("samples", c_uint64),
        ("bytes", c_uint64),
        ("ts_bytes", c_uint64),
        ("value_bytes", c_uint64),
        ("ts_codecs", c_char_p),
        ("value_codecs", c_char_p),
    ]


class PointInfo(ctypes.Structure):
    """``meterdb_point_info``."""

    _fields_ = [
        ("id", c_uint32),
        ("kind", c_int32),
        ("key", c_char_p),
        ("unit", c_char_p),
        ("energy_type", c_char_p),
        ("precision", c_int32),
        ("interval_ms", c_int64),
        ("multiplier", c_double),
        ("n_tags", c_size_t),
        ("tag_keys", POINTER(c_char_p)),
        ("tag_values", POINTER(c_char_p)),
    ]


class PointInfoV2(ctypes.Structure):
    """``meterdb_point_info_v2``."""

    _fields_ = [
        ("base", PointInfo),
        ("rollover", c_double),
        ("tiers", c_int32),
        ("n_coal", c_size_t),
        ("coal_from", POINTER(c_int64)),
        ("coal_kgce", POINTER(c_double)),
    ]


class BucketRow(ctypes.Structure):
    """``meterdb_bucket_row``."""

    _fields_ = [
        ("start", c_int64),
        ("end", c_int64),
        ("count", c_uint64),
        ("sum", c_double),
        ("min", c_double),
        ("min_ts", c_int64),
        ("max", c_double),
        ("max_ts", c_int64),
        ("first", c_double),
        ("first_ts", c_int64),
        ("last", c_double),
        ("last_ts", c_int64),
        ("inc", c_double),
        ("mean", c_double),
        ("consumption", c_double),
        ("expected", c_double),
        ("completeness", c_double),
        ("has_mean", c_uint8),
        ("has_consumption", c_uint8),
        ("has_expected", c_uint8),
        ("has_completeness", c_uint8),
    ]


class SumRow(ctypes.Structure):
    """``meterdb_sum_row``."""

    _fields_ = [
        ("start", c_int64),
        ("end", c_int64),
        ("count", c_uint64),
        ("sum", c_double),
        ("consumption", c_double),
        ("points", c_uint32),
        ("has_consumption", c_uint8),
    ]


class BucketRowV2(ctypes.Structure):
    """``meterdb_bucket_row_v2``: ``meterdb_bucket_row`` and the quality counts."""

    _fields_ = BucketRow._fields_ + [
        ("invalid", c_uint64),
        ("manual", c_uint64),
        ("estimated", c_uint64),
        ("backward", c_uint64),
    ]


class SumRowV2(ctypes.Structure):
    """``meterdb_sum_row_v2``: ``meterdb_sum_row`` and the quality counts."""

    _fields_ = SumRow._fields_ + [
        ("invalid", c_uint64),
        ("manual", c_uint64),
        ("estimated", c_uint64),
        ("backward", c_uint64),
    ]


class CompareRow(ctypes.Structure):
    """``meterdb_compare_row``."""

    _fields_ = [
        ("start", c_int64),
        ("value", c_double),
        ("previous", c_double),
        ("previous_change_pct", c_double),
        ("year_ago", c_double),
        ("year_change_pct", c_double),
        ("has_value", c_uint8),
        ("has_previous", c_uint8),
        ("has_previous_change_pct", c_uint8),
        ("has_year_ago", c_uint8),
        ("has_year_change_pct", c_uint8),
    ]


class Change(ctypes.Structure):
    """``meterdb_change``."""

    _fields_ = [
        ("id", c_uint64),
        ("ts", c_int64),
        ("delete_to", c_int64),
        ("value", c_double),
        ("point", c_uint32),
        ("kind", c_uint8),
        ("quality", c_uint8),
    ]


class BucketChange(ctypes.Structure):
    """``meterdb_bucket_change``."""

    _fields_ = [("point", c_uint32), ("row", BucketRow)]


class BucketChangeV2(ctypes.Structure):
    """``meterdb_bucket_change_v2``."""

    _fields_ = [("point", c_uint32), ("corrected", c_uint8), ("revision", c_uint64), ("row", BucketRowV2)]


class UploadCursorInfo(ctypes.Structure):
    """``meterdb_upload_cursor_info``."""

    _fields_ = [("name", c_char_p), ("acked", c_uint64), ("read", c_uint64), ("pending_records", c_uint64)]


class UploadRecord(ctypes.Structure):
    """``meterdb_upload_record``."""

    _fields_ = [
        ("cursor", c_char_p),
        ("message", c_char_p),
        ("first_id", c_uint64),
        ("last_id", c_uint64),
        ("samples", c_uint64),
        ("platform_time", c_int64),
        ("at", c_int64),
        ("outcome", c_int32),
        ("has_platform_time", c_uint8),
    ]


class BackupReport(ctypes.Structure):
    """``meterdb_backup_report``."""

    _fields_ = [
        ("linked_files", c_uint64),
        ("linked_bytes", c_uint64),
        ("copied_files", c_uint64),
        ("copied_bytes", c_uint64),
        ("wal_seq", c_uint64),
    ]


class BundleTotals(ctypes.Structure):
    """``meterdb_bundle_totals``."""

    _fields_ = [
        ("points", c_uint64),
        ("samples", c_uint64),
        ("deletes", c_uint64),
        ("first_id", c_uint64),
        ("last_id", c_uint64),
        ("bytes", c_uint64),
    ]


class BundlePoint(ctypes.Structure):
    """``meterdb_bundle_point``."""

    _fields_ = [
        ("key", c_char_p),
        ("samples", c_uint64),
        ("deletes", c_uint64),
        ("min_ts", c_int64),
        ("max_ts", c_int64),
    ]


class RetentionTotals(ctypes.Structure):
    """``meterdb_retention_totals``."""

    _fields_ = [
        ("dropped_partitions", c_uint64),
        ("dropped_bytes", c_uint64),
        ("forced_cursors", c_uint64),
        ("full", c_uint8),
    ]


class ExportSummary(ctypes.Structure):
    """``meterdb_export_summary``."""

    _fields_ = [
        ("rows", c_uint64),
        ("files", c_uint64),
        ("bytes", c_uint64),
        ("partitions", c_uint64),
        ("removed", c_uint64),
        ("points", c_uint64),
    ]


_P = c_void_p  # an opaque handle, or an array passed by address
_PP = POINTER(c_void_p)

_signatures = {
    "meterdb_version": (c_char_p, []),
    "meterdb_version_number": (c_uint32, []),
    "meterdb_last_error": (c_char_p, []),
    "meterdb_status_name": (c_char_p, [c_int32]),
    "meterdb_options_new": (c_int, [_PP]),
    "meterdb_options_free": (None, [_P]),
    "meterdb_options_set_durability": (c_int, [_P, c_int32]),
    "meterdb_options_set_sync_interval_ms": (c_int, [_P, c_uint64]),
    "meterdb_options_set_memtable_bytes": (c_int, [_P, c_size_t]),
    "meterdb_options_set_background": (c_int, [_P, c_int32]),
    "meterdb_options_set_partition_ms": (c_int, [_P, c_int64]),
    "meterdb_options_set_compaction_trigger": (c_int, [_P, c_size_t]),
    "meterdb_options_set_flush_threads": (c_int, [_P, c_size_t]),
    "meterdb_options_set_create_if_missing": (c_int, [_P, c_int32]),
    "meterdb_db_open": (c_int, [c_char_p, _P, _PP]),
    "meterdb_db_close": (c_int, [_P]),
    "meterdb_db_free": (None, [_P]),
    "meterdb_db_put": (c_int, [_P, c_uint32, c_int64, c_double, c_uint8]),
    "meterdb_db_write": (c_int, [_P, _P, _P, _P, _P, c_size_t]),
    "meterdb_db_write_point": (c_int, [_P, c_uint32, _P, _P, _P, c_size_t]),
    "meterdb_db_delete_range": (c_int, [_P, c_uint32, c_int64, c_int64]),
    "meterdb_db_latest": (
        c_int,
        [_P, c_uint32, POINTER(c_int64), POINTER(c_double), POINTER(c_uint8), POINTER(c_int32)],
    ),
    "meterdb_db_flush": (c_int, [_P]),
    "meterdb_db_compact": (c_int, [_P]),
    "meterdb_db_sync": (c_int, [_P]),
    "meterdb_db_verify": (c_int, [_P, POINTER(c_size_t), c_char_p, c_size_t, POINTER(c_size_t)]),
    "meterdb_db_define_point": (
        c_int,
        [
            _P,
            c_char_p,
            c_int32,
            c_char_p,
            c_int32,
            c_char_p,
            c_int64,
            c_double,
            POINTER(c_char_p),
            POINTER(c_char_p),
            c_size_t,
            POINTER(c_uint32),
        ],
    ),
    "meterdb_db_ensure_point": (c_int, [_P, c_char_p, POINTER(c_uint32)]),
    "meterdb_db_point_id": (c_int, [_P, c_char_p, POINTER(c_uint32)]),
    "meterdb_db_point_info": (c_int, [_P, c_uint32, POINTER(POINTER(PointInfo))]),
    "meterdb_point_info_free": (None, [POINTER(PointInfo)]),
    "meterdb_db_list_points": (
        c_int,
        [_P, c_char_p, c_int32, c_char_p, _P, c_size_t, POINTER(c_size_t)],
    ),
    "meterdb_db_range": (c_int, [_P, c_uint32, c_int64, c_int64, _PP]),
    "meterdb_cursor_next": (c_int, [_P, _P, _P, _P, c_size_t, POINTER(c_size_t)]),
    "meterdb_cursor_free": (None, [_P]),
    "meterdb_db_stats": (c_int, [_P, POINTER(Stats)]),
    "meterdb_db_stats_report": (c_int, [_P, _PP]),
    "meterdb_stats_report_totals": (c_int, [_P, POINTER(Stats)]),
    "meterdb_stats_report_point_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_stats_report_point": (c_int, [_P, c_size_t, POINTER(PointStats)]),
    "meterdb_stats_report_free": (None, [_P]),
    "meterdb_options_set_tz_offset_min": (c_int, [_P, c_int32]),
    "meterdb_options_set_tiers": (c_int, [_P, c_int32]),
    "meterdb_db_define_point_v2": (
        c_int,
        [
            _P,
            c_char_p,
            c_int32,
            c_char_p,
            c_int32,
            c_char_p,
            c_int64,
            c_double,
            POINTER(c_char_p),
            POINTER(c_char_p),
            c_size_t,
            c_double,
            _P,
            _P,
            c_size_t,
            c_int32,
            POINTER(c_uint32),
        ],
    ),
    "meterdb_db_point_info_v2": (c_int, [_P, c_uint32, POINTER(POINTER(PointInfoV2))]),
    "meterdb_point_info_v2_free": (None, [POINTER(PointInfoV2)]),
    "meterdb_db_tz_offset_min": (c_int, [_P, POINTER(c_int32)]),
    "meterdb_db_rollup": (c_int, [_P, c_uint32, c_int32, c_int64, c_int64, _PP]),
    "meterdb_rollup_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_rollup_rows": (c_int, [_P, c_size_t, POINTER(BucketRow), c_size_t, POINTER(c_size_t)]),
    "meterdb_rollup_rows_v2": (c_int, [_P, c_size_t, POINTER(BucketRowV2), c_size_t, POINTER(c_size_t)]),
    "meterdb_rollup_free": (None, [_P]),
    "meterdb_db_rollup_sum": (c_int, [_P, _P, c_size_t, c_int32, c_int64, c_int64, _PP]),
    "meterdb_db_coal_sum": (c_int, [_P, _P, c_size_t, c_int32, c_int64, c_int64, c_int32, _PP]),
    "meterdb_rollup_sum_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_rollup_sum_rows": (c_int, [_P, c_size_t, POINTER(SumRow), c_size_t, POINTER(c_size_t)]),
    "meterdb_rollup_sum_rows_v2": (c_int, [_P, c_size_t, POINTER(SumRowV2), c_size_t, POINTER(c_size_t)]),
    "meterdb_rollup_sum_free": (None, [_P]),
    # Meter truth: registers and meter replacements.
    "meterdb_db_set_point_register": (c_int, [_P, c_uint32, c_int32]),
    "meterdb_db_point_register": (c_int, [_P, c_uint32, POINTER(c_int32)]),
    "meterdb_db_replace_meter": (c_int, [_P, c_uint32, c_int64, c_double, c_double]),
    "meterdb_db_forget_meter_replacement": (c_int, [_P, c_uint32, c_int64]),
    "meterdb_db_meter_replacements": (c_int, [_P, c_uint32, _P, _P, _P, c_size_t, POINTER(c_size_t)]),
    "meterdb_db_compare": (c_int, [_P, _P, c_size_t, c_int32, c_int64, c_int64, c_int32, _PP]),
    "meterdb_comparison_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_comparison_rows": (c_int, [_P, c_size_t, POINTER(CompareRow), c_size_t, POINTER(c_size_t)]),
    "meterdb_comparison_free": (None, [_P]),
    # Store-and-forward, bundles, backup, retention, export.
    "meterdb_options_set_retention": (c_int, [_P, c_int32, c_int64, c_int64]),
    "meterdb_options_set_retention_drop_unacked": (c_int, [_P, c_int32]),
    "meterdb_db_upload_cursor_create": (c_int, [_P, c_char_p, c_int32, c_uint64]),
    "meterdb_db_upload_cursor_drop": (c_int, [_P, c_char_p]),
    "meterdb_db_upload_cursor_list": (c_int, [_P, _PP]),
    "meterdb_upload_cursor_list_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_upload_cursor_list_row": (c_int, [_P, c_size_t, POINTER(UploadCursorInfo)]),
    "meterdb_upload_cursor_list_free": (None, [_P]),
    "meterdb_db_upload_cursor_read": (c_int, [_P, c_char_p, c_size_t, _PP]),
    "meterdb_changes_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_changes_rows": (c_int, [_P, c_size_t, POINTER(Change), c_size_t, POINTER(c_size_t)]),
    "meterdb_changes_free": (None, [_P]),
    "meterdb_db_upload_cursor_ack": (c_int, [_P, c_char_p, c_uint64]),
    "meterdb_db_upload_cursor_rewind": (c_int, [_P, c_char_p]),
    "meterdb_db_upload_cursor_read_buckets": (c_int, [_P, c_char_p, c_int32, c_size_t, c_int32, c_int64, _PP]),
    "meterdb_bucket_changes_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_bucket_changes_rows": (c_int, [_P, c_size_t, POINTER(BucketChange), c_size_t, POINTER(c_size_t)]),
    "meterdb_bucket_changes_rows_v2": (c_int, [_P, c_size_t, POINTER(BucketChangeV2), c_size_t, POINTER(c_size_t)]),
    "meterdb_bucket_changes_free": (None, [_P]),
    "meterdb_db_upload_cursor_ack_buckets": (c_int, [_P, c_char_p, c_int32, c_int64, c_uint32]),
    "meterdb_db_record_upload": (
        c_int,
        [_P, c_char_p, c_uint64, c_uint64, c_uint64, c_int32, c_char_p, c_int32, c_int64, c_int64],
    ),
    "meterdb_db_upload_records": (c_int, [_P, c_int64, c_int64, c_int32, _PP]),
    "meterdb_upload_records_count": (c_int, [_P, POINTER(c_size_t)]),
    "meterdb_upload_records_row": (c_int, [_P, c_size_t, POINTER(UploadRecord)]),
    "meterdb_upload_records_free": (None, [_P]),
    "meterdb_db_backup": (c_int, [_P, c_char_p, POINTER(BackupReport)]),
    "meterdb_db_export_bundle": (c_int, [_P, c_char_p, _P, c_size_t, c_int64, c_int64, _PP]),
    "meterdb_db_export_cursor_bundle": (c_int, [_P, c_char_p, c_char_p, _PP]),
    "meterdb_db_verify_bundle": (c_int, [_P, c_char_p, _PP]),
    "meterdb_db_import_bundle": (c_int, [_P, c_char_p, _PP]),
    "meterdb_bundle_report_totals": (c_int, [_P, POINTER(BundleTotals)]),
    "meterdb_bundle_report_point": (c_int, [_P, c_size_t, POINTER(BundlePoint)]),
    "meterdb_bundle_report_free": (None, [_P]),
    "meterdb_db_apply_retention": (c_int, [_P, _PP]),
    "meterdb_retention_report_totals": (c_int, [_P, POINTER(RetentionTotals)]),
    "meterdb_retention_report_dropped": (c_int, [_P, c_size_t, POINTER(c_int32), POINTER(c_int64)]),
    "meterdb_retention_report_forced_cursor": (c_char_p, [_P, c_size_t]),
    "meterdb_retention_report_free": (None, [_P]),
    "meterdb_has_parquet": (c_uint32, []),
    "meterdb_export": (
        c_int,
        [_P, c_char_p, c_int32, c_int64, c_int64, POINTER(c_char_p), c_size_t, POINTER(ExportSummary)],
    ),
}

# The layouts the C tests pin on 64-bit platforms (ctypes lays the structs out as C does).
if ctypes.sizeof(c_void_p) == 8:
    assert ctypes.sizeof(BucketRow) == 144 and ctypes.sizeof(SumRow) == 48 and ctypes.sizeof(CompareRow) == 56
    assert ctypes.sizeof(PointInfoV2) == 120
    assert ctypes.sizeof(Change) == 40 and ctypes.sizeof(BucketChange) == 152
    assert ctypes.sizeof(BucketChangeV2) == 192
    assert ctypes.sizeof(UploadRecord) == 64 and ctypes.sizeof(ExportSummary) == 48

for _name, (_res, _args) in _signatures.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
