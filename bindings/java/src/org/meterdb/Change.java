package org.meterdb;

/**
 * One change read by an upload cursor ({@link MeterDb#cursorRead}): a sample written
 * ({@code delete == false}) or the point's samples with {@code ts <= t < deleteTo} deleted.
 * {@code id} is stable and increasing: a receiver drops a change whose id it has stored, and
 * {@link MeterDb#cursorAck} takes the last one delivered.
 */
public record Change(long id, int point, boolean delete, long ts, double value, int quality, long deleteTo) {}
