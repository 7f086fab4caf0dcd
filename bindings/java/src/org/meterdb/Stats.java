package org.meterdb;

/** Storage totals of a database ({@code meterdb_stats}). */
public record Stats(
        long points,
        long segmentSamples,
        long memtableSamples,
        long segmentFiles,
        long segmentBytes,
        long walBytes) {}
