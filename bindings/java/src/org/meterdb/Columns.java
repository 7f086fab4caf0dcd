package org.meterdb;

/** Samples as parallel arrays, in time order. */
public record Columns(long[] ts, double[] values, byte[] quality) {
    /** The number of samples. */
    public int size() {
        return ts.length;
    }
}
