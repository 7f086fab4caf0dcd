"""MeterDB for Python: an embeddable time-series storage engine for energy-meter data.

A ctypes binding of the C library ``libmeterdb`` (see ``bindings/c/include/meterdb.h``)::

    import meterdb
    with meterdb.MeterDb("plant.mdb") as db:
        kwh = db.define_point("plant-1/main-kwh", meterdb.PointKind.COUNTER, unit="kWh")
        db.write_point(kwh, [1795507200000, 1795508100000], [1234.56, 1236.01])
        print(list(db.range(kwh)), db.latest(kwh))
        for day in db.rollup(kwh, meterdb.Tier.DAY):
            print(day.start, day.consumption)
"""

from ._db import (
    QUALITY_ESTIMATED,
    QUALITY_MANUAL,
    QUALITY_VALID,
    TS_MAX,
    TS_MIN,
    BucketChange,
    BucketRow,
    CoalUnit,
    Columns,
    Comparison,
    Cursor,
    Durability,
    MeterDb,
    MeterDbError,
    PointKind,
    PointMeta,
    PointStats,
    Register,
    Replacement,
    Sample,
    Stats,
    Status,
    SumRow,
    Tier,
    Verification,
    version,
)
from ._forward import (
    BackupReport,
    BundlePoint,
    BundleReport,
    Change,
    CursorInfo,
    ExportSummary,
    RetentionReport,
    UploadRecord,
)

__version__ = "0.1.0"
"""The version of this package (the library's own: :func:`version`)."""

__all__ = [
    "BackupReport",
    "BundlePoint",
    "BundleReport",
    "Change",
    "CursorInfo",
    "ExportSummary",
    "RetentionReport",
    "UploadRecord",
    "QUALITY_ESTIMATED",
    "QUALITY_MANUAL",
    "QUALITY_VALID",
    "TS_MAX",
    "TS_MIN",
    "BucketChange",
    "BucketRow",
    "CoalUnit",
    "Columns",
    "Comparison",
    "Cursor",
    "Durability",
    "MeterDb",
    "MeterDbError",
    "PointKind",
    "PointMeta",
    "PointStats",
    "Register",
    "Replacement",
    "Sample",
    "Stats",
    "Status",
    "SumRow",
    "Tier",
    "Verification",
    "version",
    "__version__",
]
