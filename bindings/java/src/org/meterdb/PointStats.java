package org.meterdb;

/**
 * Storage figures of one point ({@code meterdb_point_stats}); the codecs are text such as
 * {@code "delta:3,raw:1"} (codec name and number of blocks).
 */
public record PointStats(
        int id,
        String key,
        long samples,
        long bytes,
        long tsBytes,
        long valueBytes,
        String tsCodecs,
        String valueCodecs) {}
