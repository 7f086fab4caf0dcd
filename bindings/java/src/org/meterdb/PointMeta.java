package org.meterdb;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * A point's metadata: key (1 to 255 bytes of UTF-8), kind, unit, decimal precision (-1 when
 * unknown), energy type code, collection interval in ms (0 when unknown), consumption
 * multiplier, and free tags. Build with {@link #of} and the {@code with*} methods.
 */
public final class PointMeta {
    private final String key;
    private final PointKind kind;
    private String unit = "";
    private int precision = -1;
    private String energyType = "";
    private long intervalMs = 0;
    private double multiplier = 1.0;
    private final Map<String, String> tags = new TreeMap<>();

    private PointMeta(String key, PointKind kind) {
        this.key = key;
        this.kind = kind;
    }

    public static PointMeta of(String key, PointKind kind) {
        return new PointMeta(key, kind);
    }

    public PointMeta withUnit(String unit) {
        this.unit = unit;
        return this;
    }

    public PointMeta withPrecision(int digits) {
        this.precision = digits;
        return this;
    }

    public PointMeta withEnergyType(String code) {
        this.energyType = code;
        return this;
    }

    public PointMeta withIntervalMs(long ms) {
        this.intervalMs = ms;
        return this;
    }

    public PointMeta withMultiplier(double m) {
        this.multiplier = m;
        return this;
    }

    public PointMeta withTag(String name, String value) {
        this.tags.put(name, value);
        return this;
    }

    public String key() {
        return key;
    }

    public PointKind kind() {
        return kind;
    }

    public String unit() {
        return unit;
    }

    public int precision() {
        return precision;
    }

    public String energyType() {
        return energyType;
    }

    public long intervalMs() {
        return intervalMs;
    }

    public double multiplier() {
        return multiplier;
    }

    /** The tags, sorted by name. */
    public Map<String, String> tags() {
        return Collections.unmodifiableMap(tags);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PointMeta m
                && key.equals(m.key)
                && kind == m.kind
                && unit.equals(m.unit)
                && precision == m.precision
                && energyType.equals(m.energyType)
                && intervalMs == m.intervalMs
                && Double.compare(multiplier, m.multiplier) == 0
                && tags.equals(m.tags);
    }

    @Override
    public int hashCode() {
        return key.hashCode();
    }

    @Override
    public String toString() {
        return "PointMeta[" + key + ", " + kind + ", unit=" + unit + ", precision=" + precision
                + ", energyType=" + energyType + ", intervalMs=" + intervalMs + ", multiplier="
                + multiplier + ", tags=" + tags + "]";
    }
}
