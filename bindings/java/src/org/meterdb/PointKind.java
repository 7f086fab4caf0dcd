package org.meterdb;

/** What a point measures ({@code meterdb_point_kind}). */
public enum PointKind {
    /** An instantaneous reading (kW, temperature). */
    GAUGE(0),
    /** A cumulative register (kWh): consumption is its increase. */
    COUNTER(1);

    final int code;

    PointKind(int code) {
        this.code = code;
    }

    static PointKind of(int code) {
        return code == 1 ? COUNTER : GAUGE;
    }
}
