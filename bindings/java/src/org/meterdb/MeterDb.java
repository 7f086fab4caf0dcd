package org.meterdb;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.StringArray;
import com.sun.jna.ptr.PointerByReference;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * An open MeterDB database, over the C library libmeterdb.
 *
 * <pre>{@code
 * try (MeterDb db = MeterDb.open("plant.mdb")) {
 *     int kwh = db.definePoint(PointMeta.of("plant-1/main-kwh", PointKind.COUNTER).withUnit("kWh"));
 *     db.write(kwh, new long[] {t0, t0 + 900_000}, new double[] {1234.5, 1236.0});
 *     try (Cursor c = db.range(kwh)) {
 *         c.forEachRemaining(s -> System.out.println(s.ts() + " " + s.value()));
 *     }
 * }
 * }</pre>
 *
 * <p>Thread-safe: one instance may be used from many threads at once. Every failure throws a
 * {@link MeterDbException} carrying the library's {@link Status} and message; arrays of
 * different lengths throw {@link IllegalArgumentException}. After {@link #close()} every call
 * throws with {@link Status#CLOSED} (the C handle stays allocated until this object is
 * garbage-collected, so a call racing with close fails cleanly rather than touching freed
 * memory). Cursors keep working after their database is closed.
 */
public final class MeterDb implements AutoCloseable {
    static final Cleaner CLEANER = Cleaner.create();
    /** {@code MDB_TIERS_DEFAULT}: a point keeps the database's default tiers. */
    private static final int TIERS_DEFAULT = -1;
    /** {@code MDB_COAL_NONE}. */
    private static final int COAL_NONE = -1;
    // Sizes of the row structs on 64-bit platforms (pinned by the C and Rust tests).
    private static final int BUCKET_ROW_V2 = 176;
    private static final int SUM_ROW_V2 = 80;
    private static final int COMPARE_ROW = 56;

    private final Pointer handle;
    private volatile boolean closed;

    private MeterDb(Pointer handle) {
        this.handle = handle;
        // Frees the C handle (closing it first if still open) once this object is unreachable.
        CLEANER.register(this, () -> Lib.meterdb_db_free(handle));
    }

    /** The C library's version, e.g. {@code "0.1.0"}. */
    public static String version() {
        return Lib.str(Lib.meterdb_version());
    }

    /** Opens (or creates) the database in directory {@code path} with default options. */
    public static MeterDb open(String path) {
        return open(path, new Options());
    }

    /** Opens (or creates) the database in directory {@code path}. */
    public static MeterDb open(String path, Options options) {
        Pointer opts = options.toNative();
        try {
            PointerByReference out = new PointerByReference();
            MeterDbException.check(Lib.meterdb_db_open(cstr(path), opts, out));
            return new MeterDb(out.getValue());
        } finally {
            Lib.meterdb_options_free(opts);
        }
    }

    private static byte[] cstr(String s) {
        if (s != null && s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a string passed to MeterDB contains a NUL character");
        }
        return Lib.cstr(s);
    }

    private static void sameLength(int n, int m, String what) {
        if (n != m) {
            throw new IllegalArgumentException(what + " has " + m + " elements, expected " + n);
        }
    }

    /** Defines a point, or updates the metadata of the point with that key; returns its id. */
    public int definePoint(PointMeta m) {
        Map<String, String> tags = m.tags();
        String[] names = tags.keySet().toArray(new String[0]);
        String[] vals = tags.values().toArray(new String[0]);
        for (String s : names) {
            cstr(s);
        }
        for (String s : vals) {
            cstr(s);
        }
        StringArray k = names.length == 0 ? null : new StringArray(names, "UTF-8");
        StringArray v = names.length == 0 ? null : new StringArray(vals, "UTF-8");
        int nCoal = m.coal().size();
        long[] coalFrom = new long[nCoal];
        double[] coalKgce = new double[nCoal];
        int i = 0;
        for (var c : m.coal().entrySet()) {
            coalFrom[i] = c.getKey();
            coalKgce[i++] = c.getValue();
        }
        int[] id = new int[1];
        MeterDbException.check(Lib.meterdb_db_define_point_v2(
                handle,
                cstr(m.key()),
                m.kind().code,
                cstr(m.unit()),
                m.precision(),
                cstr(m.energyType()),
                m.intervalMs(),
                m.multiplier(),
                k,
                v,
                names.length,
                m.rollover().orElse(Double.NaN),
                nCoal == 0 ? null : coalFrom,
                nCoal == 0 ? null : coalKgce,
                nCoal,
                m.tiers().map(Tier::mask).orElse(TIERS_DEFAULT),
                id));
        if (m.kind() == PointKind.COUNTER) {
            // The C define keeps a counter's register; set the one given (a no-op when equal).
            setPointRegister(id[0], m.register());
        }
        return id[0];
    }

    /**
     * Sets how counter {@code point}'s register is read; its buckets are derived again. Throws
     * with {@link Status#INVALID_ARGUMENT} for a gauge, {@link Status#NOT_FOUND} for an
     * undefined point.
     */
    public void setPointRegister(int point, Register register) {
        MeterDbException.check(Lib.meterdb_db_set_point_register(handle, point, register.code));
    }

    /** How point {@code point}'s register is read (a gauge's: {@link Register#IMPORT}). */
    public Register pointRegister(int point) {
        int[] out = new int[1];
        MeterDbException.check(Lib.meterdb_db_point_register(handle, point, out));
        return Register.of(out[0]);
    }

    /**
     * Records that counter {@code point}'s meter was replaced at {@code ts}: the old meter read
     * {@code oldFinal} last, the new one started at {@code newInitial}. The consumption between
     * the last reading before {@code ts} and the first at or after it is then
     * {@code (oldFinal - before) + (after - newInitial)}. Durable like a write; the buckets it
     * changes are derived again; one recorded at {@code ts} already is replaced. Throws with
     * {@link Status#INVALID_ARGUMENT} for a gauge or a non-finite reading.
     */
    public void replaceMeter(int point, long ts, double oldFinal, double newInitial) {
        MeterDbException.check(Lib.meterdb_db_replace_meter(handle, point, ts, oldFinal, newInitial));
    }

    /** Removes the meter replacement recorded at {@code ts} ({@link Status#NOT_FOUND} when none). */
    public void forgetMeterReplacement(int point, long ts) {
        MeterDbException.check(Lib.meterdb_db_forget_meter_replacement(handle, point, ts));
    }

    /** The meter replacements recorded for a counter, in time order. */
    public List<Replacement> meterReplacements(int point) {
        long[] n = new long[1];
        int cap = 8;
        while (true) {
            long[] ts = new long[cap];
            double[] oldFinal = new double[cap];
            double[] newInitial = new double[cap];
            int st = Lib.meterdb_db_meter_replacements(handle, point, ts, oldFinal, newInitial, cap, n);
            if (st == Status.BUFFER_TOO_SMALL.code) {
                cap = (int) n[0] + 8;
                continue;
            }
            MeterDbException.check(st);
            List<Replacement> out = new ArrayList<>((int) n[0]);
            for (int i = 0; i < n[0]; i++) {
                out.add(new Replacement(ts[i], oldFinal[i], newInitial[i]));
            }
            return out;
        }
    }

    /** The id of a key, defining it as a gauge with default metadata if it does not exist. */
    public int ensurePoint(String key) {
        int[] id = new int[1];
        MeterDbException.check(Lib.meterdb_db_ensure_point(handle, cstr(key), id));
        return id[0];
    }

    /** The id of a key, or empty when no point has it. */
    public OptionalInt pointId(String key) {
        int[] id = new int[1];
        int st = Lib.meterdb_db_point_id(handle, cstr(key), id);
        if (st == Status.NOT_FOUND.code) {
            return OptionalInt.empty();
        }
        MeterDbException.check(st);
        return OptionalInt.of(id[0]);
    }

    /** The metadata of point {@code id} ({@link Status#NOT_FOUND} when undefined). */
    public PointMeta point(int id) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_point_info_v2(handle, id, out));
        Pointer p = out.getValue();
        try {
            // The layout of meterdb_point_info_v2 on 64-bit platforms: meterdb_point_info first.
            PointMeta m = PointMeta.of(Lib.str(p.getPointer(8)), PointKind.of(p.getInt(4)))
                    .withUnit(Lib.str(p.getPointer(16)))
                    .withEnergyType(Lib.str(p.getPointer(24)))
                    .withPrecision(p.getInt(32))
                    .withIntervalMs(p.getLong(40))
                    .withMultiplier(p.getDouble(48));
            long nTags = p.getLong(56);
            for (long i = 0; i < nTags; i++) {
                m.withTag(Lib.str(p.getPointer(64).getPointer(8 * i)), Lib.str(p.getPointer(72).getPointer(8 * i)));
            }
            m.withRollover(p.getDouble(80));
            m.withRegister(pointRegister(id));
            int tiers = p.getInt(88);
            if (tiers != TIERS_DEFAULT) {
                m.withTiers(Tier.ofMask(tiers));
            }
            long nCoal = p.getLong(96);
            for (long i = 0; i < nCoal; i++) {
                m.withCoalCoefficient(p.getPointer(104).getLong(8 * i), p.getPointer(112).getDouble(8 * i));
            }
            return m;
        } finally {
            Lib.meterdb_point_info_v2_free(p);
        }
    }

    /** The ids of every point, in id order. */
    public int[] points() {
        return points(null, null, null);
    }

    /**
     * The ids, in id order, of the points whose key starts with {@code keyPrefix}, of kind
     * {@code kind} and energy type {@code energyType}; null means any.
     */
    public int[] points(String keyPrefix, PointKind kind, String energyType) {
        byte[] prefix = cstr(keyPrefix);
        byte[] et = cstr(energyType);
        int k = kind == null ? -1 : kind.code;
        long[] n = new long[1];
        int[] ids = new int[16];
        while (true) {
            int st = Lib.meterdb_db_list_points(handle, prefix, k, et, ids, ids.length, n);
            if (st == Lib.BUFFER_TOO_SMALL) {
                ids = new int[(int) n[0] + 16]; // room for points defined meanwhile
                continue;
            }
            MeterDbException.check(st);
            return java.util.Arrays.copyOf(ids, (int) n[0]);
        }
    }

    /** Writes one valid sample. */
    public void put(int point, long ts, double value) {
        put(point, ts, value, Sample.VALID);
    }

    /** Writes one sample with its quality byte. */
    public void put(int point, long ts, double value, int quality) {
        MeterDbException.check(Lib.meterdb_db_put(handle, point, ts, value, (byte) quality));
    }

    /** Writes samples of many points atomically from parallel arrays (all valid). */
    public void write(int[] points, long[] ts, double[] values) {
        write(points, ts, values, null);
    }

    /** Writes samples of many points atomically from parallel arrays; quality may be null. */
    public void write(int[] points, long[] ts, double[] values, byte[] quality) {
        int n = points.length;
        sameLength(n, ts.length, "ts");
        sameLength(n, values.length, "values");
        if (quality != null) {
            sameLength(n, quality.length, "quality");
        }
        MeterDbException.check(Lib.meterdb_db_write(handle, points, ts, values, quality, n));
    }

    /** Writes samples of one point atomically (all valid). */
    public void write(int point, long[] ts, double[] values) {
        write(point, ts, values, null);
    }

    /** Writes samples of one point atomically; quality may be null. */
    public void write(int point, long[] ts, double[] values, byte[] quality) {
        int n = ts.length;
        sameLength(n, values.length, "values");
        if (quality != null) {
            sameLength(n, quality.length, "quality");
        }
        MeterDbException.check(Lib.meterdb_db_write_point(handle, point, ts, values, quality, n));
    }

    /** Deletes a point's samples with {@code from <= ts < to}. */
    public void deleteRange(int point, long from, long to) {
        MeterDbException.check(Lib.meterdb_db_delete_range(handle, point, from, to));
    }

    /** The sample of a point with the greatest timestamp, if any. */
    public Optional<Sample> latest(int point) {
        long[] ts = new long[1];
        double[] v = new double[1];
        byte[] q = new byte[1];
        int[] found = new int[1];
        MeterDbException.check(Lib.meterdb_db_latest(handle, point, ts, v, q, found));
        return found[0] == 0 ? Optional.empty() : Optional.of(new Sample(ts[0], v[0], q[0] & 0xff));
    }

    /** A cursor over a point's samples with {@code from <= ts < to}. */
    public Cursor range(int point, long from, long to) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_range(handle, point, from, to, out));
        return new Cursor(out.getValue());
    }

    /** A cursor over all of a point's samples. */
    public Cursor range(int point) {
        return range(point, Long.MIN_VALUE, Long.MAX_VALUE);
    }

    /** A point's samples with {@code from <= ts < to}, as columns. */
    public Columns read(int point, long from, long to) {
        try (Cursor c = range(point, from, to)) {
            return c.readAll();
        }
    }

    /** Writes the memtable to segment files now. */
    public void flush() {
        MeterDbException.check(Lib.meterdb_db_flush(handle));
    }

    /** Merges each time partition's segment files into one. */
    public void compact() {
        MeterDbException.check(Lib.meterdb_db_compact(handle));
    }

    /** Makes every write so far durable. */
    public void sync() {
        MeterDbException.check(Lib.meterdb_db_sync(handle));
    }

    /** Storage totals. */
    public Stats stats() {
        long[] s = new long[6];
        MeterDbException.check(Lib.meterdb_db_stats(handle, s));
        return new Stats(s[0], s[1], s[2], s[3], s[4], s[5]);
    }

    /** Storage figures of every point, in id order. */
    public List<PointStats> pointStats() {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_stats_report(handle, out));
        Pointer r = out.getValue();
        try {
            long[] n = new long[1];
            MeterDbException.check(Lib.meterdb_stats_report_point_count(r, n));
            List<PointStats> list = new ArrayList<>((int) n[0]);
            Memory ps = new Memory(64); // meterdb_point_stats on 64-bit platforms
            for (long i = 0; i < n[0]; i++) {
                MeterDbException.check(Lib.meterdb_stats_report_point(r, i, ps));
                list.add(new PointStats(
                        ps.getInt(0),
                        Lib.str(ps.getPointer(8)),
                        ps.getLong(16),
                        ps.getLong(24),
                        ps.getLong(32),
                        ps.getLong(40),
                        Lib.str(ps.getPointer(48)),
                        Lib.str(ps.getPointer(56))));
            }
            return list;
        } finally {
            Lib.meterdb_stats_report_free(r);
        }
    }

    /** Checks every checksum of every live file. */
    public Verification verify() {
        long[] problems = new long[1];
        long[] len = new long[1];
        byte[] buf = new byte[4096];
        MeterDbException.check(Lib.meterdb_db_verify(handle, problems, buf, buf.length, len));
        if (len[0] >= buf.length) { // cut: ask again with room for all of it
            buf = new byte[(int) len[0] + 1];
            MeterDbException.check(Lib.meterdb_db_verify(handle, problems, buf, buf.length, len));
        }
        int n = (int) Math.min(len[0], buf.length - 1);
        return new Verification(problems[0], new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8));
    }

    /** The database's time zone in minutes east of UTC: the calendar of the rollup tiers. */
    public int tzOffsetMin() {
        int[] out = new int[1];
        MeterDbException.check(Lib.meterdb_db_tz_offset_min(handle, out));
        return out[0];
    }

    /** The rows of a result handle: its count, then one bulk copy into native memory. */
    private interface Rows {
        int count(Pointer h, long[] n);

        int copy(Pointer h, long first, Pointer out, long cap, long[] n);
    }

    private interface RowReader<T> {
        T read(Memory m, long offset);
    }

    private static <T> List<T> readRows(Pointer h, Rows rows, int size, RowReader<T> reader) {
        long[] n = new long[1];
        MeterDbException.check(rows.count(h, n));
        List<T> out = new ArrayList<>((int) n[0]);
        if (n[0] == 0) {
            return out;
        }
        Memory m = new Memory(n[0] * size);
        long[] got = new long[1];
        MeterDbException.check(rows.copy(h, 0, m, n[0], got));
        for (long i = 0; i < got[0]; i++) {
            out.add(reader.read(m, i * size));
        }
        return out;
    }

    private static OptionalDouble opt(Memory m, long valueAt, long flagAt) {
        return m.getByte(flagAt) == 0 ? OptionalDouble.empty() : OptionalDouble.of(m.getDouble(valueAt));
    }

    private static BucketRow bucketRow(Memory m, long o) {
        return new BucketRow(
                m.getLong(o),
                m.getLong(o + 8),
                m.getLong(o + 16),
                m.getDouble(o + 24),
                m.getDouble(o + 32),
                m.getLong(o + 40),
                m.getDouble(o + 48),
                m.getLong(o + 56),
                m.getDouble(o + 64),
                m.getLong(o + 72),
                m.getDouble(o + 80),
                m.getLong(o + 88),
                m.getDouble(o + 96),
                opt(m, o + 104, o + 136),
                opt(m, o + 112, o + 137),
                opt(m, o + 120, o + 138),
                opt(m, o + 128, o + 139),
                m.getLong(o + 144),
                m.getLong(o + 152),
                m.getLong(o + 160),
                m.getLong(o + 168));
    }

    private static SumRow sumRow(Memory m, long o) {
        return new SumRow(
                m.getLong(o),
                m.getLong(o + 8),
                m.getLong(o + 16),
                m.getDouble(o + 24),
                opt(m, o + 32, o + 44),
                m.getInt(o + 40),
                m.getLong(o + 48),
                m.getLong(o + 56),
                m.getLong(o + 64),
                m.getLong(o + 72));
    }

    private static Comparison comparison(Memory m, long o) {
        return new Comparison(
                m.getLong(o),
                opt(m, o + 8, o + 48),
                opt(m, o + 16, o + 49),
                opt(m, o + 24, o + 50),
                opt(m, o + 32, o + 51),
                opt(m, o + 40, o + 52));
    }

    /**
     * A point's calendar buckets at {@code tier} whose start lies in {@code [from, to)} (the
     * bucket holding {@code from} included), in time order; equal to a recomputation from the
     * raw samples, unflushed ones included. Throws with {@link Status#INVALID_ARGUMENT} for
     * {@code from > to} or a tier the point does not keep, {@link Status#NOT_FOUND} for an
     * undefined point.
     */
    public List<BucketRow> rollup(int point, Tier tier, long from, long to) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_rollup(handle, point, tier.code, from, to, out));
        Pointer r = out.getValue();
        try {
            Rows rows = new Rows() {
                public int count(Pointer h, long[] n) {
                    return Lib.meterdb_rollup_count(h, n);
                }

                public int copy(Pointer h, long first, Pointer o, long cap, long[] n) {
                    return Lib.meterdb_rollup_rows_v2(h, first, o, cap, n);
                }
            };
            return readRows(r, rows, BUCKET_ROW_V2, MeterDb::bucketRow);
        } finally {
            Lib.meterdb_rollup_free(r);
        }
    }

    /** All of a point's buckets at {@code tier}. */
    public List<BucketRow> rollup(int point, Tier tier) {
        return rollup(point, tier, Long.MIN_VALUE, Long.MAX_VALUE);
    }

    /** The buckets of several points, each as {@link #rollup(int, Tier, long, long)} gives them. */
    public Map<Integer, List<BucketRow>> rollupMany(int[] points, Tier tier, long from, long to) {
        Map<Integer, List<BucketRow>> out = new java.util.LinkedHashMap<>();
        for (int p : points) {
            out.put(p, rollup(p, tier, from, to));
        }
        return out;
    }

    private List<SumRow> sums(int[] points, Tier tier, long from, long to, CoalUnit unit) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(unit == null
                ? Lib.meterdb_db_rollup_sum(handle, points, points.length, tier.code, from, to, out)
                : Lib.meterdb_db_coal_sum(handle, points, points.length, tier.code, from, to, unit.code, out));
        Pointer r = out.getValue();
        try {
            Rows rows = new Rows() {
                public int count(Pointer h, long[] n) {
                    return Lib.meterdb_rollup_sum_count(h, n);
                }

                public int copy(Pointer h, long first, Pointer o, long cap, long[] n) {
                    return Lib.meterdb_rollup_sum_rows_v2(h, first, o, cap, n);
                }
            };
            return readRows(r, rows, SUM_ROW_V2, MeterDb::sumRow);
        } finally {
            Lib.meterdb_rollup_sum_free(r);
        }
    }

    /**
     * The buckets of several points summed into one series: per bucket, samples and their sum
     * over all the points, the counters' consumption summed.
     */
    public List<SumRow> rollupSum(int[] points, Tier tier, long from, long to) {
        return sums(points, tier, from, to, null);
    }

    /**
     * The consumption of several points in standard coal, summed: each counter's consumption
     * times its coefficient in force at the bucket's start (none: it adds nothing).
     */
    public List<SumRow> coalSum(int[] points, Tier tier, long from, long to, CoalUnit unit) {
        return sums(points, tier, from, to, java.util.Objects.requireNonNull(unit, "unit"));
    }

    /** {@link #compare(int[], Tier, long, long, CoalUnit)} in the points' own units. */
    public List<Comparison> compare(int[] points, Tier tier, long from, long to) {
        return compare(points, tier, from, to, null);
    }

    /**
     * Each bucket of the points' summed series with the bucket before it (环比) and the same
     * bucket a year earlier (同比): consumption when any point is a counter (in standard coal
     * when {@code unit} is not null), else the summed mean.
     */
    public List<Comparison> compare(int[] points, Tier tier, long from, long to, CoalUnit unit) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_compare(
                handle, points, points.length, tier.code, from, to, unit == null ? COAL_NONE : unit.code, out));
        Pointer r = out.getValue();
        try {
            Rows rows = new Rows() {
                public int count(Pointer h, long[] n) {
                    return Lib.meterdb_comparison_count(h, n);
                }

                public int copy(Pointer h, long first, Pointer o, long cap, long[] n) {
                    return Lib.meterdb_comparison_rows(h, first, o, cap, n);
                }
            };
            return readRows(r, rows, COMPARE_ROW, MeterDb::comparison);
        } finally {
            Lib.meterdb_comparison_free(r);
        }
    }

    // Store-and-forward: upload cursors, bundles, backup

    private static final int CHANGE = 40;

    /**
     * Creates a durable upload cursor named {@code name} (one per destination; 1 to 64 characters
     * of {@code A-Z a-z 0-9 _ - .}) starting at the oldest change the log holds or at the next
     * change written. Throws with {@link Status#ALREADY_EXISTS} when it exists.
     */
    public void createCursor(String name, CursorStart start) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_create(handle, cstr(name), start.code, 0));
    }

    /**
     * Creates an upload cursor that starts at change {@code fromId}: the changes before it count
     * as acknowledged (for a destination that says which change it stored last: pass its id + 1).
     */
    public void createCursorAt(String name, long fromId) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_create(handle, cstr(name), 2, fromId));
    }

    /** Removes an upload cursor; {@link Status#NOT_FOUND} when there is none. */
    public void dropCursor(String name) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_drop(handle, cstr(name)));
    }

    /**
     * Up to {@code max} changes after the cursor's read position, in write order (only durable
     * ones); empty when there is nothing new. The position moves in memory only:
     * {@link #cursorAck} makes progress durable.
     */
    public List<Change> cursorRead(String name, int max) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_upload_cursor_read(handle, cstr(name), max, out));
        Pointer r = out.getValue();
        try {
            Rows rows = new Rows() {
                public int count(Pointer h, long[] n) {
                    return Lib.meterdb_changes_count(h, n);
                }

                public int copy(Pointer h, long first, Pointer o, long cap, long[] n) {
                    return Lib.meterdb_changes_rows(h, first, o, cap, n);
                }
            };
            return readRows(r, rows, CHANGE, (m, o) -> new Change(
                    m.getLong(o),
                    m.getInt(o + 32),
                    m.getByte(o + 36) == 1,
                    m.getLong(o + 8),
                    m.getDouble(o + 24),
                    m.getByte(o + 37) & 0xff,
                    m.getLong(o + 16)));
        } finally {
            Lib.meterdb_changes_free(r);
        }
    }

    /**
     * Acknowledges, durably, every change with {@code id <= upToId}; after a reopen the cursor
     * resumes right after it. Throws with {@link Status#INVALID_ARGUMENT} for an id not read yet
     * or below an earlier acknowledgement.
     */
    public void cursorAck(String name, long upToId) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_ack(handle, cstr(name), upToId));
    }

    private static final int BUCKET_CHANGE_V2 = 192;

    /**
     * Up to {@code max} closed statistics buckets of {@code tier}, of every point, after the
     * cursor's position for that tier: buckets delivered again because their data changed
     * ({@link BucketChange#corrected}) first, then new ones by (bucket start, point). A bucket is
     * closed when its end is at or before {@code watermark}. Acknowledge with
     * {@link #cursorAckBuckets}.
     */
    public List<BucketChange> cursorReadBuckets(String name, Tier tier, int max, long watermark) {
        return readBuckets(name, tier, max, true, watermark);
    }

    /**
     * As {@link #cursorReadBuckets(String, Tier, int, long)}, closed by the newest sample time the
     * database has seen.
     */
    public List<BucketChange> cursorReadBuckets(String name, Tier tier, int max) {
        return readBuckets(name, tier, max, false, 0);
    }

    private List<BucketChange> readBuckets(String name, Tier tier, int max, boolean hasWatermark, long watermark) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_upload_cursor_read_buckets(
                handle, cstr(name), tier.code, max, hasWatermark ? 1 : 0, watermark, out));
        Pointer r = out.getValue();
        try {
            Rows rows = new Rows() {
                public int count(Pointer h, long[] n) {
                    return Lib.meterdb_bucket_changes_count(h, n);
                }

                public int copy(Pointer h, long first, Pointer o, long cap, long[] n) {
                    return Lib.meterdb_bucket_changes_rows_v2(h, first, o, cap, n);
                }
            };
            return readRows(r, rows, BUCKET_CHANGE_V2, (m, o) -> new BucketChange(
                    m.getInt(o), bucketRow(m, o + 16), m.getLong(o + 8), m.getByte(o + 4) != 0));
        } finally {
            Lib.meterdb_bucket_changes_free(r);
        }
    }

    /**
     * Acknowledges, durably, every bucket of {@code tier} up to and including the one of
     * {@code point} starting at {@code start} (in the order read). Throws with
     * {@link Status#INVALID_ARGUMENT} for a bucket not read yet.
     */
    public void cursorAckBuckets(String name, Tier tier, long start, int point) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_ack_buckets(handle, cstr(name), tier.code, start, point));
    }

    /** Moves the cursor's read position back to its acknowledged one (after a failed upload). */
    public void cursorRewind(String name) {
        MeterDbException.check(Lib.meterdb_db_upload_cursor_rewind(handle, cstr(name)));
    }

    private static BundleReport bundleReport(PointerByReference out) {
        Pointer r = out.getValue();
        try {
            Memory m = new Memory(48);
            MeterDbException.check(Lib.meterdb_bundle_report_totals(r, m));
            return new BundleReport(
                    m.getLong(0), m.getLong(8), m.getLong(16), m.getLong(24), m.getLong(32), m.getLong(40));
        } finally {
            Lib.meterdb_bundle_report_free(r);
        }
    }

    /**
     * Writes a bundle file (header, checksums, manifest) of the samples of {@code points} (null:
     * every point) with {@code from <= ts < to} ({@code Long.MIN_VALUE} and {@code MAX_VALUE}: all).
     */
    public BundleReport exportBundle(String path, int[] points, long from, long to) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_export_bundle(
                handle, cstr(path), points, points == null ? 0 : points.length, from, to, out));
        return bundleReport(out);
    }

    /**
     * Writes a bundle file of every change the cursor has not read (moving its read position past
     * them); acknowledge {@link BundleReport#lastId()} once the bundle is delivered.
     */
    public BundleReport exportCursorBundle(String path, String cursor) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_export_cursor_bundle(handle, cstr(path), cstr(cursor), out));
        return bundleReport(out);
    }

    /** Checks a bundle file completely without applying it ({@link Status#CORRUPTION} when damaged). */
    public BundleReport verifyBundle(String path) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_verify_bundle(handle, cstr(path), out));
        return bundleReport(out);
    }

    /**
     * Verifies a bundle file completely, then applies it; a damaged one changes nothing
     * ({@link Status#CORRUPTION}), and importing the same bundle twice gives the same data as once.
     */
    public BundleReport importBundle(String path) {
        PointerByReference out = new PointerByReference();
        MeterDbException.check(Lib.meterdb_db_import_bundle(handle, cstr(path), out));
        return bundleReport(out);
    }

    /**
     * Copies the database into directory {@code dir} (created; not a database already) while
     * writes go on; the copy opens with {@link #open} like the original.
     */
    public BackupReport backup(String dir) {
        Memory m = new Memory(40);
        MeterDbException.check(Lib.meterdb_db_backup(handle, cstr(dir), m));
        return new BackupReport(m.getLong(0), m.getLong(8), m.getLong(16), m.getLong(24), m.getLong(32));
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Closes the database: stops its threads, syncs the WAL, releases the directory's lock.
     * Waits for calls in flight on other threads. Closing twice does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            MeterDbException.check(Lib.meterdb_db_close(handle));
        }
    }
}
