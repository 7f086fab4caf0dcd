package org.meterdb;

import java.util.OptionalDouble;

/**
 * One bucket of several points summed ({@code meterdb_sum_row}), from
 * {@link MeterDb#rollupSum} and {@link MeterDb#coalSum}: samples and their sum over all the
 * points, the counters' consumption summed (empty when none had any), and how many points
 * contributed a bucket; and the quality counts of {@link BucketRow} summed over the points.
 */
public record SumRow(
        long start,
        long end,
        long count,
        double sum,
        OptionalDouble consumption,
        int points,
        long invalid,
        long manual,
        long estimated,
        long backward) {
    /** A row without quality counts (all 0): the components of the first version. */
    public SumRow(long start, long end, long count, double sum, OptionalDouble consumption, int points) {
        this(start, end, count, sum, consumption, points, 0, 0, 0, 0);
    }
}
