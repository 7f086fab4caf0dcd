package org.meterdb;

/**
 * One statistics bucket read by an upload cursor ({@link MeterDb#cursorReadBuckets}): the
 * point, its bucket with the quality counts, the database's {@code revision} when it was read (a
 * receiver keeps, per bucket, the figures of the highest revision it has seen), and whether it is
 * a bucket sent before whose figures changed since ({@code corrected}).
 */
public record BucketChange(int point, BucketRow row, long revision, boolean corrected) {}
