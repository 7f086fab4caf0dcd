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
import java.util.OptionalDouble;
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
    /** 2024-01-01T00:00:00+08:00, midnight in the default zone. */
    static final long D0 = 1_704_038_400_000L;
    static final long DAY = 86_400_000L;
    static final long Q = 900_000L;

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
        TESTS.put("native_library_from_the_jar", dir -> {
            // run-tests.sh runs the tests against the jar alone: the library is its resource.
            String want = System.getProperty("meterdb.expectOrigin");
            if (want == null) {
                System.out.println("skipping: run-tests.sh sets meterdb.expectOrigin");
                skipped = true;
                return;
            }
            eq(Lib.ORIGIN, want, "where libmeterdb was loaded from");
        });

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
                        .withTag("柜", "A3")
                        .withRollover(99_999_999.0)
                        .withCoalCoefficient(T0 + 86_400_000L, 0.3)
                        .withCoalCoefficient(T0, 0.1229)
                        .withTiers(java.util.EnumSet.of(Tier.HOUR, Tier.DAY));
                int a = db.definePoint(m);
                int b = db.definePoint(PointMeta.of("ent-1/kw", PointKind.GAUGE));
                int c = db.definePoint(PointMeta.of("ent-2/kwh", PointKind.COUNTER).withEnergyType("0100"));
                eq(db.point(a), m, "metadata round trip");
                eq(db.point(a).coal().firstKey(), T0, "coal coefficients in date order");
                eq(db.point(a).tiers().get(), java.util.EnumSet.of(Tier.HOUR, Tier.DAY), "tiers");
                check(db.point(b).tiers().isEmpty() && db.point(b).rollover().isEmpty(), "no tiers, no rollover");
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
                throwsStatus(Status.INVALID_ARGUMENT, "flush_threads",
                        () -> MeterDb.open(dir.resolve("other").toString(), new Options().flushThreads(0)));
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

        TESTS.put("rollup_rows_sums_and_comparisons", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                eq(db.tzOffsetMin(), 480, "default zone");
                int kwh = db.definePoint(PointMeta.of("kwh", PointKind.COUNTER).withIntervalMs(Q).withMultiplier(2.0));
                int kw = db.definePoint(PointMeta.of("kw", PointKind.GAUGE));
                fillRollupData(db, kwh, kw);
                for (int round = 0; round < 2; round++) {
                    List<BucketRow> days = db.rollup(kwh, Tier.DAY, D0, D0 + 3 * DAY);
                    eq(days.size(), 3, "days");
                    BucketRow d = days.get(0);
                    eq(d.start(), D0, "start");
                    eq(d.end(), D0 + DAY, "end");
                    eq(d.count(), 96L, "count");
                    eq(d.first(), 1000.0, "first");
                    eq(d.lastTs(), D0 + 95 * Q, "last ts");
                    eq(d.inc(), 95 * 1.5, "increase");
                    near(d.consumption().getAsDouble(), 96 * 1.5 * 2, "consumption of day 0");
                    eq(d.expected(), OptionalDouble.of(96.0), "expected");
                    eq(d.completeness(), OptionalDouble.of(1.0), "completeness");
                    eq(days.get(1).count(), 88L, "day 1 lost 8 readings");
                    near(days.get(1).consumption().getAsDouble(), 96 * 1.5 * 2, "but not its consumption");
                    near(days.get(2).consumption().getAsDouble(), 95 * 1.5 * 2, "day 2");
                    BucketRow g = db.rollup(kw, Tier.DAY, D0, D0 + DAY).get(0);
                    eq(g.mean(), OptionalDouble.of(21.5), "gauge mean");
                    check(g.consumption().isEmpty() && g.expected().isEmpty() && g.completeness().isEmpty(), "gauge options");
                    eq(g.maxTs(), D0 + 23 * 4 * Q, "max ts");
                    eq(db.rollup(kw, Tier.HOUR, D0 + 60_000, D0 + 2 * 4 * Q).size(), 2, "from inside a bucket");
                    eq(db.rollup(kw, Tier.HOUR, D0, D0).size(), 0, "from == to");
                    BucketRow month = db.rollup(kwh, Tier.MONTH).get(0);
                    eq(month.end() - month.start(), 31 * DAY, "January");
                    eq(db.rollupMany(new int[] {kwh, kw}, Tier.DAY, D0, D0 + 3 * DAY).get(kw).size(), 3, "many");

                    List<SumRow> sums = db.rollupSum(new int[] {kwh, kw}, Tier.DAY, D0, D0 + 3 * DAY);
                    eq(sums.size(), 3, "summed days");
                    eq(sums.get(0).points(), 2, "points");
                    eq(sums.get(0).count(), 96L + 24, "count");
                    near(sums.get(0).consumption().getAsDouble(), 96 * 1.5 * 2, "summed consumption");
                    check(db.rollupSum(new int[] {kw}, Tier.DAY, D0, D0 + DAY).get(0).consumption().isEmpty(), "gauges only");
                    check(db.rollupSum(new int[0], Tier.DAY, D0, D0 + DAY).isEmpty(), "no points");

                    List<Comparison> cmp = db.compare(new int[] {kwh}, Tier.DAY, D0, D0 + 3 * DAY);
                    eq(cmp.size(), 3, "compared days");
                    check(cmp.get(0).previous().isEmpty() && cmp.get(0).yearAgo().isEmpty(), "nothing before");
                    eq(cmp.get(1).previous(), cmp.get(0).value(), "previous");
                    near(cmp.get(2).previousChangePct().getAsDouble(), (95.0 / 96.0 - 1) * 100, "change");
                    db.flush();
                }
            }
        });

        TESTS.put("standard_coal", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int a = db.definePoint(PointMeta.of("a", PointKind.COUNTER)
                        .withCoalCoefficient(D0 + DAY, 0.3)
                        .withCoalCoefficient(D0 - 365 * DAY, 0.1229));
                int b = db.definePoint(PointMeta.of("b", PointKind.COUNTER));
                long[] ts = {D0, D0 + DAY, D0 + 2 * DAY};
                db.write(a, ts, new double[] {0, 100, 300});
                db.write(b, ts, new double[] {0, 1000, 2000});
                List<SumRow> kg = db.coalSum(new int[] {a, b}, Tier.DAY, D0, D0 + 2 * DAY, CoalUnit.KGCE);
                eq(kg.size(), 2, "days");
                near(kg.get(0).consumption().getAsDouble(), 100 * 0.1229, "day 0 at 0.1229");
                near(kg.get(1).consumption().getAsDouble(), 200 * 0.3, "day 1 at 0.3");
                List<SumRow> t = db.coalSum(new int[] {a}, Tier.DAY, D0, D0 + 2 * DAY, CoalUnit.TCE);
                near(t.get(1).consumption().getAsDouble(), 0.06, "tce");
                check(db.coalSum(new int[] {b}, Tier.DAY, D0, D0 + 2 * DAY, CoalUnit.KGCE).get(0).consumption().isEmpty(),
                        "no coefficient");
                Comparison c = db.compare(new int[] {a}, Tier.DAY, D0, D0 + 2 * DAY, CoalUnit.KGCE).get(1);
                near(c.value().getAsDouble(), 60.0, "value in kgce");
                near(c.previous().getAsDouble(), 12.29, "previous in kgce");
            }
        });

        TESTS.put("rollup_misuse", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = db.definePoint(PointMeta.of("p", PointKind.COUNTER));
                int days = db.definePoint(PointMeta.of("d", PointKind.COUNTER).withTiers(java.util.EnumSet.of(Tier.DAY)));
                db.put(p, D0, 1);
                throwsStatus(Status.INVALID_ARGUMENT, "is after its end", () -> db.rollup(p, Tier.DAY, D0, D0 - 1));
                throwsStatus(Status.INVALID_ARGUMENT, "is after its end",
                        () -> db.rollupSum(new int[] {p}, Tier.DAY, D0, D0 - 1));
                throwsStatus(Status.INVALID_ARGUMENT, "is after its end",
                        () -> db.coalSum(new int[] {p}, Tier.DAY, D0, D0 - 1, CoalUnit.TCE));
                throwsStatus(Status.INVALID_ARGUMENT, "is after its end",
                        () -> db.compare(new int[] {p}, Tier.DAY, D0, D0 - 1));
                throwsStatus(Status.NOT_FOUND, "point id 77", () -> db.rollup(77, Tier.DAY, 0, D0));
                throwsStatus(Status.NOT_FOUND, "77", () -> db.rollupSum(new int[] {p, 77}, Tier.DAY, 0, D0));
                throwsStatus(Status.NOT_FOUND, "77", () -> db.compare(new int[] {77}, Tier.DAY, 0, D0));
                throwsStatus(Status.INVALID_ARGUMENT, "does not keep the hour tier", () -> db.rollup(days, Tier.HOUR));
                throwsStatus(Status.INVALID_ARGUMENT, "does not keep the month tier",
                        () -> db.coalSum(new int[] {p, days}, Tier.MONTH, 0, D0, CoalUnit.KGCE));
                throwsStatus(Status.INVALID_ARGUMENT, "rollover -1",
                        () -> db.definePoint(PointMeta.of("x", PointKind.COUNTER).withRollover(-1)));
                throwsStatus(Status.INVALID_ARGUMENT, "coal coefficients",
                        () -> db.definePoint(PointMeta.of("x", PointKind.COUNTER).withCoalCoefficient(0, -0.5)));
                for (Tier t : Tier.values()) { // the whole time line at every tier
                    eq(db.rollup(p, t).size(), 1, "one bucket at " + t);
                    db.compare(new int[] {p}, t, Long.MIN_VALUE, Long.MAX_VALUE, CoalUnit.TCE);
                }
                db.close();
                throwsStatus(Status.CLOSED, "closed", () -> db.rollup(p, Tier.DAY));
                throwsStatus(Status.CLOSED, "closed", () -> db.rollupSum(new int[] {p}, Tier.DAY, 0, 1));
                throwsStatus(Status.CLOSED, "closed", () -> db.coalSum(new int[] {p}, Tier.DAY, 0, 1, CoalUnit.KGCE));
                throwsStatus(Status.CLOSED, "closed", () -> db.compare(new int[] {p}, Tier.DAY, 0, 1));
                throwsStatus(Status.CLOSED, "closed", db::tzOffsetMin);
                throwsStatus(Status.CLOSED, "closed", () -> db.point(p));
            }
        });

        TESTS.put("tz_and_tier_options", dir -> {
            String path = dir.toString();
            throwsStatus(Status.INVALID_ARGUMENT, "time zone offset",
                    () -> MeterDb.open(path, fast().tzOffsetMin(19 * 60)));
            Options ny = fast().tzOffsetMin(-300).tiers(java.util.EnumSet.of(Tier.HOUR, Tier.DAY));
            try (MeterDb db = MeterDb.open(path, ny)) {
                eq(db.tzOffsetMin(), -300, "zone");
                int p = db.ensurePoint("p");
                long t = 1_704_085_200_000L + 60_000; // 2024-01-01T00:01:00-05:00
                db.put(p, t, 1);
                eq(db.rollup(p, Tier.DAY).get(0).start(), t - 60_000, "local midnight");
                throwsStatus(Status.INVALID_ARGUMENT, "does not keep the month tier", () -> db.rollup(p, Tier.MONTH));
            }
            throwsStatus(Status.INVALID_ARGUMENT, "cannot be opened with UTC+08:00",
                    () -> MeterDb.open(path, fast().tzOffsetMin(480)));
            try (MeterDb db = MeterDb.open(path, fast())) {
                eq(db.tzOffsetMin(), -300, "the zone of the database");
            }
        });

        TESTS.put("shared_data_round_trip", MeterDbTest::sharedData);
        TESTS.put("shared_data_day_consumption", MeterDbTest::sharedDayConsumption);
    }

    static void near(double got, double want, String what) {
        if (Math.abs(got - want) > 1e-9) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    /** A counter read every 15 minutes for 3 days from D0, 1.5 a reading, 2 hours missing on day 1;
     * a gauge at 10 + hour of the day. */
    static void fillRollupData(MeterDb db, int counter, int gauge) {
        List<Long> ts = new ArrayList<>();
        List<Double> v = new ArrayList<>();
        for (int i = 0; i < 3 * 96; i++) {
            long at = D0 + i * Q;
            if (at >= D0 + DAY + 32 * Q && at < D0 + DAY + 40 * Q) {
                continue;
            }
            ts.add(at);
            v.add(1000.0 + i * 1.5);
        }
        db.write(counter, ts.stream().mapToLong(Long::longValue).toArray(), v.stream().mapToDouble(Double::doubleValue).toArray());
        long[] gt = new long[72];
        double[] gv = new double[72];
        for (int h = 0; h < 72; h++) {
            gt[h] = D0 + h * 4 * Q;
            gv[h] = 10 + h % 24;
        }
        db.write(gauge, gt, gv);
    }

    record Row(String point, long ts, double value) {}

    static {
        TESTS.put("upload_cursor_read_ack_reopen_resume", dir -> {
            String path = dir.resolve("db").toString();
            List<Change> unacked;
            try (MeterDb db = MeterDb.open(path, fast())) {
                int p = db.ensurePoint("plant/kwh");
                db.createCursor("province", CursorStart.OLDEST);
                long[] ts = new long[40];
                double[] v = new double[40];
                for (int i = 0; i < 40; i++) {
                    ts[i] = D0 + i * 60_000L;
                    v[i] = 100 + i;
                }
                db.write(p, ts, v);
                db.deleteRange(p, D0, D0 + 60_000L);
                List<Change> first = db.cursorRead("province", 25);
                eq(first.size(), 25, "first batch");
                eq(first.get(3), new Change(first.get(3).id(), p, false, D0 + 3 * 60_000L, 103.0, 1, 0), "a change");
                db.cursorAck("province", first.get(24).id());
                unacked = db.cursorRead("province", 100);
                eq(unacked.size(), 16, "rest");
                Change del = unacked.get(15);
                check(del.delete() && del.deleteTo() == D0 + 60_000L, "the delete: " + del);
                throwsStatus(Status.INVALID_ARGUMENT, "below", () -> db.cursorAck("province", first.get(0).id()));
                throwsStatus(Status.NOT_FOUND, "nobody", () -> db.cursorRead("nobody", 1));
                throwsStatus(Status.ALREADY_EXISTS, "exists", () -> db.createCursor("province", CursorStart.NOW));
                db.createCursorAt("late", first.get(20).id());
                eq(db.cursorRead("late", 100).get(0), first.get(20), "a cursor from an id");
            }
            try (MeterDb db = MeterDb.open(path, fast())) {
                eq(db.cursorRead("province", 100), unacked, "resumed after the acknowledgement");
                db.cursorRewind("province");
                eq(db.cursorRead("province", 100), unacked, "rewound");
                db.cursorAck("province", unacked.get(unacked.size() - 1).id());
                eq(db.cursorRead("province", 100).size(), 0, "nothing left");
                db.dropCursor("province");
                throwsStatus(Status.NOT_FOUND, "province", () -> db.dropCursor("province"));
            }
        });

        TESTS.put("bucket_cursor_counts_revision_and_corrections", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int g = db.ensurePoint("g");
                db.createCursor("daily", CursorStart.OLDEST);
                for (int h = 0; h < 24; h++) {
                    byte q = h == 3 ? 0 : h == 5 ? (byte) (Sample.VALID | Sample.MANUAL)
                            : h == 7 ? (byte) (Sample.VALID | Sample.ESTIMATED) : Sample.VALID;
                    db.put(g, D0 + h * 3_600_000L, 2.0, q);
                }
                db.put(g, D0 + DAY + 3_600_000L, 2.0, Sample.VALID);
                List<BucketChange> v = db.cursorReadBuckets("daily", Tier.DAY, 100, D0 + DAY);
                eq(v.size(), 1, "one closed day");
                BucketChange b = v.get(0);
                eq(List.of(b.point(), b.row().start(), b.corrected()), List.of(g, D0, false), "the day");
                eq(List.of(b.row().count(), b.row().invalid(), b.row().manual(), b.row().estimated()),
                        List.of(23L, 1L, 1L, 1L), "its counts");
                check(b.revision() > 0, "a revision");
                db.cursorAckBuckets("daily", Tier.DAY, D0, g);
                eq(db.cursorReadBuckets("daily", Tier.DAY, 100, D0 + DAY).size(), 0, "acknowledged");
                db.put(g, D0 + 3 * 3_600_000L, 10.0, Sample.VALID);
                BucketChange c = db.cursorReadBuckets("daily", Tier.DAY, 100, D0 + DAY).get(0);
                eq(List.of(c.point(), c.row().start(), c.corrected()), List.of(g, D0, true), "corrected");
                check(c.revision() > b.revision(), "a higher revision");
                eq(List.of(c.row().count(), c.row().invalid()), List.of(24L, 0L), "new counts");
                eq(c.row().sum(), 56.0, "new sum");
                throwsStatus(Status.INVALID_ARGUMENT, "has not been read",
                        () -> db.cursorAckBuckets("daily", Tier.DAY, D0 + 9 * DAY, g));
                throwsStatus(Status.NOT_FOUND, "nobody", () -> db.cursorReadBuckets("nobody", Tier.DAY, 1));
            }
        });

        TESTS.put("bundle_round_trip_damaged_bundle_and_backup", dir -> {
            try (MeterDb db = MeterDb.open(dir.resolve("src").toString(), fast())) {
                int a = db.ensurePoint("plant/a");
                long[] ts = new long[50];
                double[] v = new double[50];
                for (int i = 0; i < 50; i++) {
                    ts[i] = D0 + i * 60_000L;
                    v[i] = i * 1.5;
                }
                db.write(a, ts, v);
                String file = dir.resolve("a.mdbb").toString();
                BundleReport r = db.exportBundle(file, null, Long.MIN_VALUE, Long.MAX_VALUE);
                eq(r.samples(), 50L, "bundle samples");
                eq(r.points(), 1L, "bundle points");
                eq(r.bytes(), Files.size(Path.of(file)), "bundle bytes");
                eq(db.exportBundle(dir.resolve("b.mdbb").toString(), new int[] {a}, D0, D0 + 600_000L).samples(), 10L, "range");
                try (MeterDb dst = MeterDb.open(dir.resolve("dst").toString(), fast())) {
                    eq(dst.verifyBundle(file).samples(), 50L, "verified");
                    dst.importBundle(file);
                    dst.importBundle(file);
                    int a2 = dst.pointId("plant/a").getAsInt();
                    eq(java.util.Arrays.toString(dst.read(a2, Long.MIN_VALUE, Long.MAX_VALUE).values()),
                            java.util.Arrays.toString(v), "imported twice: the same as once");
                }
                byte[] bytes = Files.readAllBytes(Path.of(file));
                bytes[bytes.length / 2] ^= 0x20;
                Path bad = dir.resolve("bad.mdbb");
                Files.write(bad, bytes);
                try (MeterDb u = MeterDb.open(dir.resolve("untouched").toString(), fast())) {
                    throwsStatus(Status.CORRUPTION, "bad.mdbb", () -> u.importBundle(bad.toString()));
                    check(u.pointId("plant/a").isEmpty(), "nothing applied");
                }
                db.createCursor("gate", CursorStart.NOW);
                db.put(a, D0 + DAY, 9.0);
                BundleReport c = db.exportCursorBundle(dir.resolve("c.mdbb").toString(), "gate");
                check(c.samples() == 1 && c.lastId() >= c.firstId() && c.firstId() > 0, "cursor bundle " + c);
                db.cursorAck("gate", c.lastId());

                db.flush();
                BackupReport b = db.backup(dir.resolve("copy").toString());
                check(b.linkedFiles() + b.copiedFiles() > 0 && b.walSeq() > 0, "backup " + b);
                try (MeterDb copy = MeterDb.open(dir.resolve("copy").toString(), fast())) {
                    eq(copy.read(copy.pointId("plant/a").getAsInt(), Long.MIN_VALUE, Long.MAX_VALUE).size(), 51, "the copy");
                }
            }
        });
    }

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

    static List<Row> sharedRows() throws IOException {
        Path path = Path.of(System.getProperty("meterdb.shared", "../../../shared/data/uk-meters.csv.gz"));
        if (!Files.exists(path)) {
            return null;
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
        return rows;
    }

    /**
     * The shared "query day consumption": the *register* points (cumulative registers, defined
     * as counters) are the running totals of their interval series over every row, so a day in
     * the database's default +08:00 zone with a register sample exactly at both boundaries
     * consumed the sum of the interval rows stamped after its start and up to and including its
     * end (registers are rounded to 3 decimals: within 0.0011).
     */
    static void sharedDayConsumption(Path dir) throws IOException {
        List<Row> rows = sharedRows();
        if (rows == null) {
            System.out.println("skipping: ../shared/data not found");
            skipped = true;
            return;
        }
        Map<String, Integer> ids = new LinkedHashMap<>();
        try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
            for (Row row : rows) {
                ids.computeIfAbsent(row.point(), k -> db.definePoint(
                        PointMeta.of(k, k.contains("register") ? PointKind.COUNTER : PointKind.GAUGE).withPrecision(3)));
            }
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
                }
                db.write(p, ts, v);
            }
            eq(db.tzOffsetMin(), 480, "default zone");
            int checked = 0;
            for (var e : ids.entrySet()) {
                String key = e.getKey();
                if (!key.contains("register")) {
                    continue;
                }
                // uk-electricity-sample-0-register-kwh <- uk-electricity-hdd-only-hourly-sample-0
                String interval = key.replace("-register-kwh", "").replace("-sample-", "-hdd-only-hourly-sample-");
                check(ids.containsKey(interval), "no interval series " + interval);
                java.util.Set<Long> regTs = new java.util.HashSet<>();
                TreeMap<Long, Double> series = new TreeMap<>(); // every row: repeats add up
                for (Row r : rows) {
                    if (r.point().equals(key)) {
                        regTs.add(r.ts());
                    } else if (r.point().equals(interval)) {
                        series.merge(r.ts(), r.value(), Double::sum);
                    }
                }
                int days = 0;
                for (BucketRow d : db.rollup(e.getValue(), Tier.DAY)) {
                    if (!regTs.contains(d.start()) || !regTs.contains(d.end())) {
                        continue;
                    }
                    double want = 0;
                    for (double x : series.subMap(d.start(), false, d.end(), true).values()) {
                        want += x;
                    }
                    double got = d.consumption().orElseThrow();
                    if (Math.abs(got - want) > 0.0011) {
                        throw new AssertionError(key + " day " + d.start() + ": " + got + " vs " + want);
                    }
                    days++;
                }
                check(days > 100, key + ": only " + days + " days");
                checked += days;
            }
            check(checked > 1000, "only " + checked + " days checked");
            System.out.println("     register day consumption checked on " + checked + " days");
        }
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

    /** 2026-01-01T00:00:00+08:00, midnight in the default zone; readings 6 hours apart. */
    static final long M0 = 1_767_196_800_000L;
    static final long H6 = 6 * 3_600_000L;

    static int counter6h(MeterDb db, String key) {
        return db.definePoint(PointMeta.of(key, PointKind.COUNTER).withUnit("kWh").withIntervalMs(H6));
    }

    static void write5(MeterDb db, int p, double[] v, byte[] q) {
        long[] ts = new long[5];
        for (int i = 0; i < 5; i++) {
            ts[i] = M0 + i * H6;
        }
        if (q == null) {
            db.write(p, ts, v);
        } else {
            db.write(p, ts, v, q);
        }
    }

    static BucketRow day1(MeterDb db, int p) {
        return db.rollup(p, Tier.DAY, M0, M0 + DAY).get(0);
    }

    static {
        TESTS.put("meter_truth_invalid_readings", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int m = counter6h(db, "m");
                // The day: 999999 flagged invalid; 06:00 entered by hand, 18:00 estimated.
                byte[] q = {
                    Sample.VALID, Sample.VALID | Sample.MANUAL, Sample.INVALID, Sample.VALID | Sample.ESTIMATED, Sample.VALID
                };
                write5(db, m, new double[] {100, 106, 999999, 118, 124}, q);
                for (int pass = 0; pass < 2; pass++) {
                    List<BucketRow> days = db.rollup(m, Tier.DAY, M0, M0 + 2 * DAY);
                    BucketRow d = days.get(0);
                    eq(d.count(), 3L, "valid readings");
                    eq(d.max(), 118.0, "max");
                    eq(d.sum(), 324.0, "sum");
                    eq(d.consumption(), OptionalDouble.of(24.0), "consumption");
                    eq(List.of(d.invalid(), d.manual(), d.estimated(), d.backward()), List.of(1L, 1L, 1L, 0L), "counts");
                    eq(d.completeness(), OptionalDouble.of(0.75), "completeness");
                    eq(days.get(1).invalid(), 0L, "next day");
                    SumRow s = db.rollupSum(new int[] {m, m}, Tier.DAY, M0, M0 + DAY).get(0);
                    eq(List.of(s.count(), s.invalid(), s.manual(), s.estimated(), s.backward()),
                            List.of(6L, 2L, 2L, 2L, 0L), "summed counts");
                    eq(s.consumption(), OptionalDouble.of(48.0), "summed consumption");
                    db.flush();
                }
                int g = db.ensurePoint("g");
                db.put(g, M0, 5.0, Sample.INVALID);
                BucketRow b = db.rollup(g, Tier.DAY).get(0);
                eq(List.of(b.count(), b.invalid()), List.of(0L, 1L), "a bucket of invalid readings only");
                eq(b.mean(), OptionalDouble.empty(), "its mean");
            }
        });

        TESTS.put("meter_truth_replacement", dir -> {
            long at = M0 + 3 * H6;
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = counter6h(db, "r");
                // At 18:00 the meter was replaced: the old one read 1060 last, the new one began at 2.
                write5(db, p, new double[] {1000, 1040, 1050, 5, 20}, null);
                eq(day1(db, p).consumption(), OptionalDouble.of(70.0), "inferred replacement");
                db.replaceMeter(p, at, 1060.0, 2.0);
                eq(day1(db, p).consumption(), OptionalDouble.of(78.0), "recorded replacement");
                eq(db.meterReplacements(p), List.of(new Replacement(at, 1060.0, 2.0)), "read back");
            }
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = db.pointId("r").getAsInt();
                eq(day1(db, p).consumption(), OptionalDouble.of(78.0), "after a reopen");
                for (int i = 1; i <= 10; i++) {
                    db.replaceMeter(p, M0 + DAY + i * 60_000L, 20.0, 0.0);
                }
                eq(db.meterReplacements(p).size(), 11, "more than the first array holds");
                for (int i = 1; i <= 10; i++) {
                    db.forgetMeterReplacement(p, M0 + DAY + i * 60_000L);
                }
                db.forgetMeterReplacement(p, at);
                eq(day1(db, p).consumption(), OptionalDouble.of(70.0), "forgotten");
                throwsStatus(Status.NOT_FOUND, "no meter replacement", () -> db.forgetMeterReplacement(p, at));
                int g = db.ensurePoint("gauge");
                throwsStatus(Status.INVALID_ARGUMENT, "gauge", () -> db.replaceMeter(g, at, 1.0, 0.0));
                throwsStatus(Status.INVALID_ARGUMENT, "finite", () -> db.replaceMeter(p, at, Double.NaN, 0.0));
            }
        });

        TESTS.put("meter_truth_net_register", dir -> {
            try (MeterDb db = MeterDb.open(dir.toString(), fast())) {
                int p = counter6h(db, "pv");
                // A fall of 2 at 12:00: a backward step (not a rollover, not near zero).
                write5(db, p, new double[] {100, 105, 103, 104, 106}, null);
                eq(db.pointRegister(p), Register.IMPORT, "default register");
                BucketRow d = day1(db, p);
                eq(d.consumption(), OptionalDouble.of(8.0), "import");
                eq(d.backward(), 1L, "backward steps");
                db.setPointRegister(p, Register.NET);
                d = day1(db, p);
                eq(d.consumption(), OptionalDouble.of(6.0), "net: the signed change");
                eq(d.backward(), 1L, "backward steps (net)");
                db.flush();
                eq(day1(db, p).consumption(), OptionalDouble.of(6.0), "net, flushed");
                PointMeta meta = db.point(p);
                eq(meta.register(), Register.NET, "PointMeta.register");
                db.definePoint(meta);
                eq(db.pointRegister(p), Register.NET, "defined again from its metadata");
                int q = db.definePoint(PointMeta.of("pv2", PointKind.COUNTER).withRegister(Register.NET));
                eq(db.point(q).register(), Register.NET, "defined as net");
                int g = db.ensurePoint("gauge");
                throwsStatus(Status.INVALID_ARGUMENT, "only a counter", () -> db.setPointRegister(g, Register.NET));
                throwsStatus(Status.NOT_FOUND, "not defined", () -> db.pointRegister(999));
            }
        });
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
