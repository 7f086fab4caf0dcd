package org.meterdb;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A point's metadata: key (1 to 255 bytes of UTF-8), kind, unit, decimal precision (-1 when
 * unknown), energy type code, collection interval in ms (0 when unknown), consumption
 * multiplier, and free tags; for the rollup tiers, a counter's rollover maximum, its
 * standard-coal coefficients (kgce per unit, each valid from a timestamp on), and the tiers
 * it keeps (none given: the database's default). Build with {@link #of} and the
 * {@code with*} methods.
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
    private double rollover = Double.NaN;
    private final TreeMap<Long, Double> coal = new TreeMap<>();
    private EnumSet<Tier> tiers;
    private Register register = Register.IMPORT;

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

    /** The reading after which a counter's register rolls over to zero. */
    public PointMeta withRollover(double max) {
        this.rollover = max;
        return this;
    }

    /** A standard-coal coefficient, kgce per unit of consumption, valid from {@code fromTs} on. */
    public PointMeta withCoalCoefficient(long fromTs, double kgcePerUnit) {
        this.coal.put(fromTs, kgcePerUnit);
        return this;
    }

    /** The rollup tiers the point keeps (instead of the database's default). */
    public PointMeta withTiers(Set<Tier> tiers) {
        this.tiers = tiers.isEmpty() ? EnumSet.noneOf(Tier.class) : EnumSet.copyOf(tiers);
        return this;
    }

    /**
     * How a counter's register is read ({@link Register#IMPORT} by default). Like every field
     * here, {@link MeterDb#definePoint} sets it: defining a net counter again without it turns
     * it back into an import one.
     */
    public PointMeta withRegister(Register register) {
        this.register = java.util.Objects.requireNonNull(register, "register");
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

    /** The rollover maximum, if any. */
    public OptionalDouble rollover() {
        return Double.isNaN(rollover) ? OptionalDouble.empty() : OptionalDouble.of(rollover);
    }

    /** The standard-coal coefficients by the timestamp they are valid from. */
    public SortedMap<Long, Double> coal() {
        return Collections.unmodifiableSortedMap(coal);
    }

    /** How a counter's register is read (a gauge's: {@link Register#IMPORT}). */
    public Register register() {
        return register;
    }

    /** The tiers the point keeps, or empty for the database's default. */
    public Optional<Set<Tier>> tiers() {
        return Optional.ofNullable(tiers).map(Collections::unmodifiableSet);
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
                && tags.equals(m.tags)
                && Double.compare(rollover, m.rollover) == 0
                && coal.equals(m.coal)
                && java.util.Objects.equals(tiers, m.tiers)
                && register == m.register;
    }

    @Override
    public int hashCode() {
        return key.hashCode();
    }

    @Override
    public String toString() {
        return "PointMeta[" + key + ", " + kind + ", unit=" + unit + ", precision=" + precision
                + ", energyType=" + energyType + ", intervalMs=" + intervalMs + ", multiplier="
                + multiplier + ", tags=" + tags + ", rollover=" + rollover + ", coal=" + coal
                + ", tiers=" + (tiers == null ? "default" : tiers) + ", register=" + register + "]";
    }
}
