package org.meterdb;

/**
 * One reading: a timestamp in milliseconds since the Unix epoch (UTC), a finite value, and a
 * quality byte (bit 0 valid, bit 1 manual input).
 */
public record Sample(long ts, double value, int quality) {
    /** Quality bit: the reading is valid (the default quality). */
    public static final int VALID = 1;
    /** Quality bit: the value was entered by hand. */
    public static final int MANUAL = 2;
}
