package org.meterdb;

/**
 * A meter replacement recorded for a counter ({@link MeterDb#replaceMeter}): at {@code ts} (ms,
 * UTC) the old meter read {@code oldFinal} for the last time and the new one started at
 * {@code newInitial}.
 */
public record Replacement(long ts, double oldFinal, double newInitial) {}
