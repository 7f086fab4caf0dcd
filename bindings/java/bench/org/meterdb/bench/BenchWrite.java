package org.meterdb.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import org.meterdb.Durability;
import org.meterdb.MeterDb;
import org.meterdb.Options;

/**
 * The batch-write benchmark through the Java binding: batches of 1000 samples (10 points x 100
 * timestamps) written with {@code MeterDb.write(int[], long[], double[])}, durability NONE. One
 * warm-up repeat (for the JIT), then each repeat opens a fresh database and times each batch;
 * prints the median time of a batch over all repeats and the mean. The same workload as
 * ffi/examples/bench_write.rs and bindings/c/bench/bench_write.c.
 *
 * <p>Usage: {@code java org.meterdb.bench.BenchWrite [batches] [repeats]}
 */
public final class BenchWrite {
    static final int BATCH = 1000;
    static final int POINTS = 10;

    public static void main(String[] args) throws IOException {
        int batches = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int[][] points = new int[batches][BATCH];
        long[][] ts = new long[batches][BATCH];
        double[][] values = new double[batches][BATCH];
        for (int b = 0; b < batches; b++) {
            for (int i = 0; i < BATCH; i++) {
                points[b][i] = i % POINTS;
                ts[b][i] = 1_700_000_000_000L + ((long) b * (BATCH / POINTS) + i / POINTS) * 60_000;
                values[b][i] = b + i * 0.001;
            }
        }
        double[] perBatch = new double[repeats * batches];
        double sum = 0;
        for (int r = -1; r < repeats; r++) { // r == -1: warm-up
            Path dir = Files.createTempDirectory("meterdb-bench-java-");
            try (MeterDb db = MeterDb.open(dir.toString(),
                    new Options().durability(Durability.NONE).memtableBytes(1L << 30))) {
                for (int p = 0; p < POINTS; p++) {
                    db.ensurePoint("bench/p" + p);
                }
                for (int b = 0; b < batches; b++) {
                    long t0 = System.nanoTime();
                    db.write(points[b], ts[b], values[b]);
                    double us = (System.nanoTime() - t0) / 1e3;
                    if (r >= 0) {
                        perBatch[r * batches + b] = us;
                        sum += us;
                    }
                }
            }
            try (var s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Arrays.sort(perBatch);
        System.out.printf("RESULT java batch_write_1000 median_us=%.2f mean_us=%.2f repeats=%d batches=%d%n",
                perBatch[perBatch.length / 2], sum / perBatch.length, repeats, batches);
    }
}
