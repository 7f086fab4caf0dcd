package org.meterdb;

/** A unit of standard coal ({@code meterdb_coal_unit}). */
public enum CoalUnit {
    /** Kilograms of standard coal equivalent. */
    KGCE(0),
    /** Tonnes of standard coal equivalent. */
    TCE(1);

    final int code;

    CoalUnit(int code) {
        this.code = code;
    }
}
