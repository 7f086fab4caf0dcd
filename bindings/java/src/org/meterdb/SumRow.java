package org.meterdb;

import java.util.OptionalDouble;

/**
 * One bucket of several points summed ({@code meterdb_sum_row}), from
 * {@link MeterDb#rollupSum} and {@link MeterDb#coalSum}: samples and their sum over all the
 * points, the counters' consumption summed (empty when none had any), and how many points
 * contributed a bucket.
 */
public record SumRow(long start, long end, long count, double sum, OptionalDouble consumption, int points) {}
