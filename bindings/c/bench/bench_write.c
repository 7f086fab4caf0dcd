/* Batch-write benchmark through the C ABI: batches of 1000 samples (10 points x 100
 * timestamps) written with meterdb_db_write, durability NONE (the API and the engine's write
 * path, not fsync). Each repeat opens a fresh database and times BATCHES batches; prints the
 * median over repeats of the time per batch. The same workload as ffi/examples/bench_write.rs
 * (Rust), bindings/java/bench and bindings/python/bench. Each repeat opens a fresh database
 * and times each of BATCHES batches; prints the median time of a batch over all repeats
 * (robust to other work on the machine) and the mean.
 * Usage: bench_write [batches] [repeats] */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meterdb.h"

#define BATCH 1000
#define POINTS 10

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define CHECK(call) do { if ((call) != MDB_OK) { \
    fprintf(stderr, "%s: %s\n", #call, meterdb_last_error()); exit(1); } } while (0)

int main(int argc, char **argv) {
    int batches = argc > 1 ? atoi(argv[1]) : 1000;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    size_t total = (size_t)batches * BATCH;
    uint32_t *points = malloc(total * sizeof *points);
    int64_t *ts = malloc(total * sizeof *ts);
    double *values = malloc(total * sizeof *values);
    for (size_t b = 0; b < (size_t)batches; b++) {
        for (size_t i = 0; i < BATCH; i++) {
            size_t k = b * BATCH + i;
            points[k] = (uint32_t)(i % POINTS);
            ts[k] = INT64_C(1700000000000) + (int64_t)(b * (BATCH / POINTS) + i / POINTS) * 60000;
            values[k] = (double)b + (double)i * 0.001;
        }
    }
    double *per_batch = malloc((size_t)repeats * batches * sizeof *per_batch);
    double sum = 0;
    for (int r = 0; r < repeats; r++) {
        char dir[] = "/tmp/meterdb-bench-c-XXXXXX";
        if (!mkdtemp(dir)) return 1;
        meterdb_options *o = NULL;
        CHECK(meterdb_options_new(&o));
        CHECK(meterdb_options_set_durability(o, MDB_DURABILITY_NONE));
        CHECK(meterdb_options_set_memtable_bytes(o, (size_t)1 << 30));
        meterdb_db *db = NULL;
        CHECK(meterdb_db_open(dir, o, &db));
        meterdb_options_free(o);
        for (int p = 0; p < POINTS; p++) {
            char key[32];
            uint32_t id;
            snprintf(key, sizeof key, "bench/p%d", p);
            CHECK(meterdb_db_ensure_point(db, key, &id));
        }
        for (size_t b = 0; b < (size_t)batches; b++) {
            size_t k = b * BATCH;
            double t0 = now_s();
            CHECK(meterdb_db_write(db, points + k, ts + k, values + k, NULL, BATCH));
            double us = (now_s() - t0) * 1e6;
            per_batch[(size_t)r * batches + b] = us;
            sum += us;
        }
        CHECK(meterdb_db_close(db));
        meterdb_db_free(db);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) return 1;
    }
    size_t n = (size_t)repeats * batches;
    qsort(per_batch, n, sizeof *per_batch, cmp_double);
    printf("RESULT c batch_write_1000 median_us=%.2f mean_us=%.2f repeats=%d batches=%d\n",
           per_batch[n / 2], sum / n, repeats, batches);
    free(points);
    free(ts);
    free(values);
    free(per_batch);
    return 0;
}
