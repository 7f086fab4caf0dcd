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
        int[] id = new int[1];
        MeterDbException.check(Lib.meterdb_db_define_point(
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
                id));
        return id[0];
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
        MeterDbException.check(Lib.meterdb_db_point_info(handle, id, out));
        Pointer p = out.getValue();
        try {
            // The layout of meterdb_point_info on 64-bit platforms.
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
            return m;
        } finally {
            Lib.meterdb_point_info_free(p);
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
