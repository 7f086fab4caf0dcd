/* Runs the C tests: misuse of every function, the rollup queries, the shared-data
 * scenarios, the unit catalog, store-and-forward and export, and meter truth (quality
 * counts, meter replacements, net registers).
 * Usage: meterdb_test [uk-meters.csv]  (the CSV decompressed; without it the round trip is
 * skipped). Prints "N passed, M failed" last and exits non-zero on a failure. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

int h_failures;
int h_skipped;
const char *h_csv_path;

extern const h_test misuse_tests[];
extern const size_t misuse_count;
extern const h_test rollup_tests[];
extern const size_t rollup_count;
extern const h_test shared_tests[];
extern const size_t shared_count;
extern const h_test unit_tests[];
extern const size_t unit_count;
extern const h_test forward_tests[];
extern const size_t forward_count;
extern const h_test meter_truth_tests[];
extern const size_t meter_truth_count;
extern const h_test sqlite_style_tests[];
extern const size_t sqlite_style_count;

char *h_tempdir(void) {
    const char *base = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/meterdb-c-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(buf);
    return d ? strdup(d) : NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void h_rmdir(char *dir) {
    if (dir) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
    }
}

meterdb_db *h_open(char **dir) {
    *dir = h_tempdir();
    meterdb_options *o = NULL;
    meterdb_db *db = NULL;
    if (*dir == NULL || meterdb_options_new(&o) != MDB_OK) return NULL;
    meterdb_options_set_durability(o, MDB_DURABILITY_NONE);
    if (meterdb_db_open(*dir, o, &db) != MDB_OK)
        fprintf(stderr, "    open %s: %s\n", *dir, meterdb_last_error());
    meterdb_options_free(o);
    return db;
}

static void run(const h_test *tests, size_t n, int *passed, int *failed, int *skipped) {
    for (size_t i = 0; i < n; i++) {
        h_failures = 0;
        h_skipped = 0;
        tests[i].fn();
        if (h_skipped && h_failures == 0) {
            (*skipped)++;
            printf("skip %s\n", tests[i].name);
        } else if (h_failures == 0) {
            (*passed)++;
            printf("ok   %s\n", tests[i].name);
        } else {
            (*failed)++;
            printf("FAIL %s (%d checks failed)\n", tests[i].name, h_failures);
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    h_csv_path = argc > 1 ? argv[1] : NULL;
    printf("libmeterdb %s (header %d.%d.%d)\n", meterdb_version(), MDB_VERSION_MAJOR,
           MDB_VERSION_MINOR, MDB_VERSION_PATCH);
    int passed = 0, failed = 0, skipped = 0;
    run(misuse_tests, misuse_count, &passed, &failed, &skipped);
    run(rollup_tests, rollup_count, &passed, &failed, &skipped);
    run(shared_tests, shared_count, &passed, &failed, &skipped);
    run(unit_tests, unit_count, &passed, &failed, &skipped);
    run(forward_tests, forward_count, &passed, &failed, &skipped);
    run(meter_truth_tests, meter_truth_count, &passed, &failed, &skipped);
    run(sqlite_style_tests, sqlite_style_count, &passed, &failed, &skipped);
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
