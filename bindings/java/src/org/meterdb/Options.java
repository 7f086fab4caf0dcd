package org.meterdb;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.util.EnumSet;
import java.util.Set;

/**
 * How a database is opened: a plain builder whose values are handed to the C library's
 * {@code meterdb_options} when {@link MeterDb#open(String, Options)} runs. Defaults match the
 * library's: {@link Durability#SYNC}, sync interval 1000 ms, 64 MiB memtable, 7-day
 * partitions, compaction after 4 segment files, background thread on, create if missing, the
 * time zone the database was created with (+08:00 for a new one), every rollup tier kept.
 */
public final class Options {
    private Durability durability = Durability.SYNC;
    private long syncIntervalMs = 1000;
    private long memtableBytes = 64L << 20;
    private boolean background = true;
    private long partitionMs = 7L * 86_400_000;
    private long compactionTrigger = 4;
    private Long flushThreads = null;
    private boolean createIfMissing = true;
    private Integer tzOffsetMin;
    private int tiers = Tier.mask(EnumSet.allOf(Tier.class));

    public Options durability(Durability d) {
        this.durability = d;
        return this;
    }

    /** The background sync interval used with {@link Durability#INTERVAL}. */
    public Options syncIntervalMs(long ms) {
        this.syncIntervalMs = ms;
        return this;
    }

    public Options memtableBytes(long bytes) {
        this.memtableBytes = bytes;
        return this;
    }

    public Options background(boolean on) {
        this.background = on;
        return this;
    }

    public Options partitionMs(long ms) {
        this.partitionMs = ms;
        return this;
    }

    public Options compactionTrigger(long files) {
        this.compactionTrigger = files;
        return this;
    }

    /**
     * Threads a flush uses (at least 1; default 2 on a machine with two cores or more): with
     * 2 the rollup tiers are computed beside the raw segment files on a second thread, with 1
     * after them. The files written are the same.
     */
    public Options flushThreads(long threads) {
        this.flushThreads = threads;
        return this;
    }

    public Options createIfMissing(boolean create) {
        this.createIfMissing = create;
        return this;
    }

    /**
     * The time zone of the rollup tiers' calendar buckets, in minutes east of UTC (480 for
     * +08:00). Fixed when the database is created: a different zone for an existing database
     * fails to open; without this call an existing database keeps its own.
     */
    public Options tzOffsetMin(int minutes) {
        this.tzOffsetMin = minutes;
        return this;
    }

    /** The rollup tiers a point keeps unless its metadata says otherwise (default: all). */
    public Options tiers(Set<Tier> tiers) {
        this.tiers = Tier.mask(tiers);
        return this;
    }

    /** Builds the C options; the caller frees them with {@code meterdb_options_free}. */
    Pointer toNative() {
        PointerByReference ref = new PointerByReference();
        MeterDbException.check(Lib.meterdb_options_new(ref));
        Pointer o = ref.getValue();
        try {
            MeterDbException.check(Lib.meterdb_options_set_durability(o, durability.code));
            MeterDbException.check(Lib.meterdb_options_set_sync_interval_ms(o, syncIntervalMs));
            MeterDbException.check(Lib.meterdb_options_set_memtable_bytes(o, memtableBytes));
            MeterDbException.check(Lib.meterdb_options_set_background(o, background ? 1 : 0));
            MeterDbException.check(Lib.meterdb_options_set_partition_ms(o, partitionMs));
            MeterDbException.check(Lib.meterdb_options_set_compaction_trigger(o, compactionTrigger));
            if (flushThreads != null) {
                MeterDbException.check(Lib.meterdb_options_set_flush_threads(o, flushThreads));
            }
            MeterDbException.check(Lib.meterdb_options_set_create_if_missing(o, createIfMissing ? 1 : 0));
            if (tzOffsetMin != null) {
                MeterDbException.check(Lib.meterdb_options_set_tz_offset_min(o, tzOffsetMin));
            }
            MeterDbException.check(Lib.meterdb_options_set_tiers(o, tiers));
            return o;
        } catch (RuntimeException e) {
            Lib.meterdb_options_free(o);
            throw e;
        }
    }
}
