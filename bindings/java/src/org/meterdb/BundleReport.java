package org.meterdb;

/**
 * What a bundle holds ({@link MeterDb#exportBundle}, {@link MeterDb#verifyBundle},
 * {@link MeterDb#importBundle}). For a cursor bundle, {@code firstId} and {@code lastId} are its
 * first and last change ids (acknowledge the last once the bundle is delivered); 0 otherwise.
 */
public record BundleReport(long points, long samples, long deletes, long firstId, long lastId, long bytes) {}
