package org.meterdb;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPInputStream;

/**
 * The Java binding's tests, run without a framework: {@code java org.meterdb.MeterDbTest}
 * prints one line per test and then "N passed, M failed". The shared data is read from the
 * path in the system property {@code meterdb.shared} (default ../shared/data/uk-meters.csv.gz
 * relative to the repository root, given by run-tests.sh).
 */
public final class MeterDbTest {
    interface Body {
        void run(Path dir) throws Exception;
    }

    private static final Map<String, Body> TESTS = new LinkedHashMap<>();
    private static boolean skipped;
    private static final long T0 = 1_700_000_000_000L;

    static void check(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static void eq(Object got, Object want, String what) {
        if (!java.util.Objects.equals(got, want)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    interface Call {
        void run();
    }

    /** The call must throw a MeterDbException with this status and a message containing part. */
    static void throwsStatus(Status want, String part, Call c) {
        try {
            c.run();
        } catch (MeterDbException e) {
            eq(e.status(), want, "status of " + e.getMessage());
            check(e.getMessage().contains(part), "message \"" + e.getMessage() + "\" lacks \"" + part + "\"");
            return;
        }
        throw new AssertionError("no exception; wanted " + want);
    }

    static void throwsIllegal(Call c) {
        try {
            c.run();
        } catch (IllegalArgumentException e) {
            return;
        }
        throw new AssertionError("no IllegalArgumentException");
    }

    static Options fast() {
        return new Options().durability(Durability.NONE);
    }

    static {
        TESTS.put("version", dir -> {
            check(MeterDb.version().matches("\\d+\\.\\d+\\.\\d+"), MeterDb.version());
            eq(Status.of(8), Status.CLOSED, "status 8");
            eq(Status.of(12345), Status.UNKNOWN, "unknown status");
        });

        TESTS.put("write_read_latest", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = db.ensurePoint("p");
                eq(db.latest(p), Optional.empty(), "latest of an empty point");
                db.put(p, T0, 1.5);
                db.put(p, T0 + 1000, 2.5, Sample.VALID | Sample.MANUAL);
                db.write(p, new long[] {T0 + 2000, T0 + 3000}, new double[] {3.5, 4.5});
                db.write(new int[] {p, p}, new long[] {T0 + 4000, T0}, new double[] {5.5, 0.5}, new byte[] {1, 0});
                List<Sample> got = new ArrayList<>();
                try (Cursor c = db.range(p)) {
                    c.forEachRemaining(got::add);
                }
                eq(got.size(), 5, "samples");
                eq(got.get(0), new Sample(T0, 0.5, 0), "replaced sample");
                eq(got.get(1), new Sample(T0 + 1000, 2.5, 3), "manual sample");
                eq(db.latest(p), Optional.of(new Sample(T0 + 4000, 5.5, 1)), "latest");
                Columns cols = db.read(p, T0 + 1000, T0 + 3000);
                eq(cols.size(), 2, "range [T0+1000, T0+3000)");
                eq(cols.values()[1], 3.5, "value");
                db.deleteRange(p, T0, T0 + 2000);
                eq(db.read(p, Long.MIN_VALUE, Long.MAX_VALUE).size(), 3, "after delete");
                db.flush();
                db.compact();
                db.sync();
                eq(db.stats().segmentSamples(), 3L, "segment samples");
            }
        });

        TESTS.put("cursor_bulk_read_and_snapshot", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = db.ensurePoint("p");
                long[] ts = new long[10_000];
                double[] v = new double[10_000];
                for (int i = 0; i < ts.length; i++) {
                    ts[i] = T0 + i * 60_000L;
                    v[i] = i * 0.5;
                }
                db.write(p, ts, v);
                Cursor c = db.range(p);
                db.put(p, T0 + 20_000L * 60_000, 9.0); // after the snapshot: not seen
                long[] rt = new long[3000];
                double[] rv = new double[3000];
                int total = 0;
                int n;
                while ((n = c.read(rt, rv, null)) > 0) {
                    for (int i = 0; i < n; i++) {
                        check(rt[i] == ts[total + i] && rv[i] == v[total + i], "sample " + (total + i));
                    }
                    total += n;
                    if (n < rt.length) {
                        break;
                    }
                }
                eq(total, 10_000, "bulk read");
                db.close();
                eq(c.read(rt, rv, null), 0, "a cursor after its database closed");
                c.close();
                c.close();
                throwsStatus(Status.CLOSED, "closed", () -> c.read(rt, rv, null));
                throwsStatus(Status.CLOSED, "closed", c::hasNext);
            }
        });

        TESTS.put("metadata_and_listing", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                PointMeta m = PointMeta.of("ent-1/kwh", PointKind.COUNTER)
                        .withUnit("kWh")
                        .withPrecision(2)
                        .withEnergyType("0100")
                        .withIntervalMs(900_000)
                        .withMultiplier(1.5)
                        .withTag("site", "north")
                        .withTag("柜", "A3");
                int a = db.definePoint(m);
                int b = db.definePoint(PointMeta.of("ent-1/kw", PointKind.GAUGE));
                int c = db.definePoint(PointMeta.of("ent-2/kwh", PointKind.COUNTER).withEnergyType("0100"));
                eq(db.point(a), m, "metadata round trip");
                eq(db.point(b), PointMeta.of("ent-1/kw", PointKind.GAUGE), "defaults");
                eq(db.pointId("ent-2/kwh").getAsInt(), c, "point id");
                check(db.pointId("nope").isEmpty(), "unknown key");
                eq(java.util.Arrays.toString(db.points()), "[0, 1, 2]", "all points");
                eq(java.util.Arrays.toString(db.points("ent-1/", null, null)), "[0, 1]", "by prefix");
                eq(java.util.Arrays.toString(db.points(null, PointKind.COUNTER, "0100")), "[0, 2]", "by kind");
                for (int i = 0; i < 40; i++) { // more than the first guess of the list's size
                    db.ensurePoint("x" + i);
                }
                eq(db.points().length, 43, "a long list");
                throwsStatus(Status.NOT_FOUND, "not defined", () -> db.point(99));
            }
        });

        TESTS.put("misuse", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = db.ensurePoint("p");
                throwsStatus(Status.INVALID_ARGUMENT, "not finite", () -> db.put(p, T0, Double.NaN));
                throwsStatus(Status.INVALID_ARGUMENT, "not finite", () -> db.put(p, T0, Double.POSITIVE_INFINITY));
                throwsStatus(Status.INVALID_ARGUMENT, "sample 1", () -> db.write(p, new long[] {T0, T0 + 1},
                        new double[] {1, Double.NEGATIVE_INFINITY}));
                eq(db.latest(p), Optional.empty(), "nothing of a failed batch");
                throwsStatus(Status.INVALID_ARGUMENT, "outside", () -> db.put(p, Long.MAX_VALUE, 1));
                throwsStatus(Status.NOT_FOUND, "not defined", () -> db.put(77, T0, 1));
                throwsStatus(Status.NOT_FOUND, "not defined", () -> db.range(77));
                throwsStatus(Status.INVALID_ARGUMENT, "empty", () -> db.ensurePoint(""));
                throwsStatus(Status.INVALID_ARGUMENT, "longer than 255", () -> db.ensurePoint("k".repeat(256)));
                db.ensurePoint("k".repeat(255));
                throwsStatus(Status.INVALID_ARGUMENT, "control", () -> db.ensurePoint("a\tb"));
                throwsStatus(Status.INVALID_ARGUMENT, "precision 19",
                        () -> db.definePoint(PointMeta.of("q", PointKind.GAUGE).withPrecision(19)));
                throwsStatus(Status.INVALID_ARGUMENT, "multiplier",
                        () -> db.definePoint(PointMeta.of("q", PointKind.GAUGE).withMultiplier(0)));
                throwsStatus(Status.INVALID_ARGUMENT, "empty delete range", () -> db.deleteRange(p, 5, 5));
                throwsIllegal(() -> db.ensurePoint("a\0b"));
                throwsIllegal(() -> db.write(new int[] {p}, new long[] {T0, T0}, new double[] {1, 2}));
                throwsIllegal(() -> db.write(p, new long[] {T0}, new double[] {1, 2}));
                throwsIllegal(() -> db.write(p, new long[] {T0}, new double[] {1}, new byte[0]));
                db.write(p, new long[0], new double[0]); // an empty batch is fine
                try (Cursor c = db.range(p)) {
                    throwsIllegal(() -> c.read(new long[0], new double[0], null));
                }
                throwsStatus(Status.LOCKED, "locked", () -> MeterDb.open(dir.toString()));
                throwsStatus(Status.INVALID_ARGUMENT, "memtable_bytes",
                        () -> MeterDb.open(dir.resolve("other").toString(), new Options().memtableBytes(10)));
                throwsStatus(Status.INVALID_ARGUMENT, "0 ms",
                        () -> MeterDb.open(dir.resolve("other").toString(), new Options().syncIntervalMs(0)));
                throwsStatus(Status.NOT_FOUND, "no database",
                        () -> MeterDb.open(dir.resolve("none").toString(), new Options().createIfMissing(false)));
                db.close();
                check(db.isClosed(), "closed");
                db.close(); // twice: nothing
                throwsStatus(Status.CLOSED, "closed", () -> db.put(p, T0, 1));
                throwsStatus(Status.CLOSED, "closed", () -> db.range(p));
                throwsStatus(Status.CLOSED, "closed", db::stats);
                throwsStatus(Status.CLOSED, "closed", () -> db.ensurePoint("z"));
                throwsStatus(Status.CLOSED, "closed", db::flush);
            }
        });

        TESTS.put("stats_and_verify", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int a = db.ensurePoint("a");
                int b = db.ensurePoint("b");
                long[] ts = new long[500];
                double[] v = new double[500];
                for (int i = 0; i < 500; i++) {
                    ts[i] = T0 + i * 60_000L;
                    v[i] = i;
                }
                db.write(a, ts, v);
                db.write(b, java.util.Arrays.copyOf(ts, 100), java.util.Arrays.copyOf(v, 100));
                db.flush();
                Stats s = db.stats();
                eq(s.points(), 2L, "points");
                eq(s.segmentSamples(), 600L, "segment samples");
                List<PointStats> ps = db.pointStats();
                eq(ps.size(), 2, "per point");
                eq(ps.get(1).key(), "b", "key");
                eq(ps.get(1).samples(), 100L, "samples of b");
                check(!ps.get(0).valueCodecs().isEmpty(), "codecs");
                Verification ver = db.verify();
                check(ver.ok(), ver.message());
            }
        });

        TESTS.put("threads_share_one_database", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                AtomicInteger failures = new AtomicInteger();
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int p = db.ensurePoint("p" + t);
                    Thread th = new Thread(() -> {
                        try {
                            for (int r = 0; r < 50; r++) {
                                long[] ts = new long[200];
                                double[] v = new double[200];
                                for (int i = 0; i < 200; i++) {
                                    ts[i] = T0 + (r * 200L + i) * 1000;
                                    v[i] = r;
                                }
                                db.write(p, ts, v);
                            }
                        } catch (RuntimeException e) {
                            failures.incrementAndGet();
                        }
                    });
                    threads.add(th);
                    th.start();
                }
                for (Thread th : threads) {
                    th.join();
                }
                eq(failures.get(), 0, "failures");
                Stats s = db.stats();
                eq(s.memtableSamples() + s.segmentSamples(), 4L * 50 * 200, "samples");
            }
        });

        TESTS.put("shared_data_round_trip", MeterDbTest::sharedData);
    }

    record Row(String point, long ts, double value) {}

    static void sharedData(Path dir) throws IOException {
        Path path = Path.of(System.getProperty("meterdb.shared", "../../../shared/data/uk-meters.csv.gz"));
        if (!Files.exists(path)) {
            System.out.println("skipping: ../shared/data not found");
            skipped = true;
            return;
        }
        List<Row> rows = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(path)), StandardCharsets.UTF_8))) {
            r.readLine();
            String line;
            while ((line = r.readLine()) != null) {
                String[] f = line.split(",");
                rows.add(new Row(f[0], Instant.parse(f[1]).toEpochMilli(), Double.parseDouble(f[2])));
            }
        }
        check(rows.size() > 200_000, "rows");
        Map<String, Integer> ids = new LinkedHashMap<>();
        Map<Integer, TreeMap<Long, Double>> want = new HashMap<>();
        try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
            for (Row row : rows) {
                ids.computeIfAbsent(row.point(), k -> db.definePoint(
                        PointMeta.of(k, k.contains("register") ? PointKind.COUNTER : PointKind.GAUGE)
                                .withUnit(k.startsWith("taylor") ? "MW" : "kWh")
                                .withPrecision(3)
                                .withTag("source", "uk")));
            }
            eq(ids.size(), 9, "points");
            for (int i = 0; i < rows.size(); i += 1000) {
                int n = Math.min(1000, rows.size() - i);
                int[] p = new int[n];
                long[] ts = new long[n];
                double[] v = new double[n];
                for (int j = 0; j < n; j++) {
                    Row row = rows.get(i + j);
                    p[j] = ids.get(row.point());
                    ts[j] = row.ts();
                    v[j] = row.value();
                    want.computeIfAbsent(p[j], k -> new TreeMap<>()).put(ts[j], v[j]);
                }
                db.write(p, ts, v);
            }
            verifyAll(db, ids, want);
            db.flush();
            db.compact();
        }
        try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
            for (var e : ids.entrySet()) {
                eq(db.pointId(e.getKey()).getAsInt(), e.getValue(), "id of " + e.getKey());
            }
            verifyAll(db, ids, want);
            long distinct = want.values().stream().mapToLong(TreeMap::size).sum();
            check(distinct < rows.size(), "the data repeats timestamps");
            eq(db.stats().segmentSamples(), distinct, "segment samples");
            check(db.verify().ok(), "verify");
        }
        System.out.println("     " + rows.size() + " rows written and read back");
    }

    static void verifyAll(MeterDb db, Map<String, Integer> ids, Map<Integer, TreeMap<Long, Double>> want) {
        for (var e : ids.entrySet()) {
            TreeMap<Long, Double> w = want.get(e.getValue());
            Columns c = db.read(e.getValue(), Long.MIN_VALUE, Long.MAX_VALUE);
            eq(c.size(), w.size(), e.getKey() + ": sample count");
            int i = 0;
            for (var s : w.entrySet()) {
                if (c.ts()[i] != s.getKey()
                        || Double.doubleToRawLongBits(c.values()[i]) != Double.doubleToRawLongBits(s.getValue())
                        || c.quality()[i] != 1) {
                    throw new AssertionError(e.getKey() + ": sample " + i + " differs");
                }
                i++;
            }
            var last = w.lastEntry();
            eq(db.latest(e.getValue()), Optional.of(new Sample(last.getKey(), last.getValue(), 1)), "latest");
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (Files.exists(p)) {
            try (var s = Files.walk(p)) {
                s.sorted(Comparator.reverseOrder()).forEach(f -> {
                    try {
                        Files.delete(f);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
    }

    public static void main(String[] args) throws IOException {
        int passed = 0;
        int failed = 0;
        int skippedCount = 0;
        for (var t : TESTS.entrySet()) {
            Path dir = Files.createTempDirectory("meterdb-java-");
            skipped = false;
            try {
                t.getValue().run(dir);
                if (skipped) {
                    skippedCount++;
                    System.out.println("skip " + t.getKey());
                } else {
                    passed++;
                    System.out.println("ok   " + t.getKey());
                }
            } catch (Throwable e) {
                failed++;
                System.out.println("FAIL " + t.getKey() + ": " + e);
                e.printStackTrace(System.out);
            } finally {
                deleteTree(dir);
            }
        }
        System.out.println(passed + " passed, " + failed + " failed" + (skippedCount > 0 ? ", " + skippedCount + " skipped" : ""));
        System.exit(failed == 0 ? 0 : 1);
    }
}
