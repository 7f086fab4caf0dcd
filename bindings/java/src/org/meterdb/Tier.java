package org.meterdb;

import java.util.EnumSet;
import java.util.Set;

/**
 * A rollup tier ({@code meterdb_tier}): calendar buckets in the database's time zone (see
 * {@link MeterDb#tzOffsetMin()}).
 */
public enum Tier {
    /** Calendar minutes. */
    MINUTE(1),
    /** Calendar hours. */
    HOUR(2),
    /** Calendar days. */
    DAY(3),
    /** Calendar months. */
    MONTH(4),
    /** Calendar years. */
    YEAR(5);

    /** The C value. */
    public final int code;

    Tier(int code) {
        this.code = code;
    }

    /** A set of tiers as the C library's mask (bit {@code code - 1} per tier). */
    static int mask(Set<Tier> tiers) {
        int m = 0;
        for (Tier t : tiers) {
            m |= 1 << (t.code - 1);
        }
        return m;
    }

    /** The tiers of a mask. */
    static EnumSet<Tier> ofMask(int mask) {
        EnumSet<Tier> s = EnumSet.noneOf(Tier.class);
        for (Tier t : values()) {
            if ((mask & (1 << (t.code - 1))) != 0) {
                s.add(t);
            }
        }
        return s;
    }
}
