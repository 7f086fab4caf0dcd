package org.meterdb;

import java.util.OptionalDouble;

/**
 * One bucket of several points' summed series with the bucket before it (环比) and the same
 * bucket a year earlier (同比), and the changes in percent ({@code meterdb_compare_row}), from
 * {@link MeterDb#compare}. The value is the summed consumption when any point is a counter,
 * else the summed mean; each figure is empty when unknown.
 */
public record Comparison(
        long start,
        OptionalDouble value,
        OptionalDouble previous,
        OptionalDouble previousChangePct,
        OptionalDouble yearAgo,
        OptionalDouble yearChangePct) {}
