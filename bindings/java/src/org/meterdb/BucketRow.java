package org.meterdb;

import java.util.OptionalDouble;

/**
 * One calendar bucket of a point ({@code meterdb_bucket_row}), from {@link MeterDb#rollup}: the
 * aggregates of its samples with {@code start <= ts < end} and what is derived from them.
 *
 * <p>{@code min} and {@code max} come with the time they were first reached, {@code first}
 * and {@code last} with their timestamps; {@code inc} is a counter's increase from the first
 * sample to the last. A bucket with {@code count == 0} lies inside an outage of a counter: it
 * is returned for its share of the consumption across the gap (its aggregates are 0).
 * {@code consumption} is present for counters (the register's increase over the bucket,
 * interpolated to its boundaries, times the multiplier); {@code expected} and
 * {@code completeness} when the point's collection interval is known.
 *
 * <p>Invalid readings (quality without {@link Sample#VALID}) enter no figure: {@code count}
 * and every aggregate are those of the valid readings, {@code invalid} counts the others (a
 * bucket of invalid readings only has {@code count == 0} and no mean). {@code manual} and
 * {@code estimated} count the valid readings entered by hand and estimated that the bucket
 * used; {@code backward} counts a counter's backward steps (see {@link Register}).
 */
public record BucketRow(
        long start,
        long end,
        long count,
        double sum,
        double min,
        long minTs,
        double max,
        long maxTs,
        double first,
        long firstTs,
        double last,
        long lastTs,
        double inc,
        OptionalDouble mean,
        OptionalDouble consumption,
        OptionalDouble expected,
        OptionalDouble completeness,
        long invalid,
        long manual,
        long estimated,
        long backward) {
    /** A row without quality counts (all 0): the components of the first version. */
    public BucketRow(
            long start,
            long end,
            long count,
            double sum,
            double min,
            long minTs,
            double max,
            long maxTs,
            double first,
            long firstTs,
            double last,
            long lastTs,
            double inc,
            OptionalDouble mean,
            OptionalDouble consumption,
            OptionalDouble expected,
            OptionalDouble completeness) {
        this(start, end, count, sum, min, minTs, max, maxTs, first, firstTs, last, lastTs, inc, mean, consumption,
                expected, completeness, 0, 0, 0, 0);
    }
}
