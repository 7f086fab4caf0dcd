package org.meterdb;

/**
 * One reading: a timestamp in milliseconds since the Unix epoch (UTC), a finite value, and a
 * quality byte (bit 0 valid, bit 1 manual input, bit 2 estimated). A reading without
 * {@link #VALID} is invalid: stored and read back as written, but in no rollup figure, only in
 * the buckets' {@code invalid} counts.
 */
public record Sample(long ts, double value, int quality) {
    /** Quality bit: the reading is valid (the default quality). */
    public static final int VALID = 1;
    /** Quality bit: the value was entered by hand. */
    public static final int MANUAL = 2;
    /**
     * Quality bit: the value was estimated (the national record's inputType 3); a valid
     * estimated reading has the quality {@code VALID | ESTIMATED}.
     */
    public static final int ESTIMATED = 4;
    /** The quality of an invalid reading (no bit set). */
    public static final int INVALID = 0;
}
