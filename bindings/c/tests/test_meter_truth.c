/* Meter truth from C: invalid readings excluded from a day bucket and counted (with the
 * manual and estimated ones) in meterdb_bucket_row_v2 and meterdb_sum_row_v2, a recorded
 * meter replacement changing consumption, a net register giving the signed change, and
 * misuse of the new functions. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

/* The layouts other languages read by offset (64-bit platforms): the _v2 rows begin with
 * the first version's fields at the same offsets. */
_Static_assert(sizeof(meterdb_bucket_row_v2) == 176, "meterdb_bucket_row_v2 layout");
_Static_assert(offsetof(meterdb_bucket_row_v2, has_completeness) ==
                   offsetof(meterdb_bucket_row, has_completeness),
               "meterdb_bucket_row_v2 prefix");
_Static_assert(offsetof(meterdb_bucket_row_v2, invalid) == 144, "meterdb_bucket_row_v2 invalid");
_Static_assert(offsetof(meterdb_bucket_row_v2, backward) == 168, "meterdb_bucket_row_v2 backward");
_Static_assert(sizeof(meterdb_sum_row_v2) == 80, "meterdb_sum_row_v2 layout");
_Static_assert(offsetof(meterdb_sum_row_v2, invalid) == 48, "meterdb_sum_row_v2 invalid");

/* 2026-01-01T00:00:00+08:00: midnight in the database's default zone. */
static const int64_t D0 = INT64_C(1767196800000);
static const int64_t H6 = INT64_C(21600000);
static const int64_t DAY = INT64_C(86400000);

static uint32_t counter(meterdb_db *db, const char *key) {
    uint32_t id = UINT32_MAX;
    int st = meterdb_db_define_point_v2(db, key, MDB_KIND_COUNTER, "kWh", 2, NULL, H6, 1.0, NULL,
                                        NULL, 0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT, &id);
    if (st != MDB_OK) fprintf(stderr, "    define %s: %s\n", key, meterdb_last_error());
    return id;
}

/* Five readings 6 hours apart from D0. */
static void write5(meterdb_db *db, uint32_t p, const double *v, const uint8_t *q) {
    int64_t ts[5];
    for (int i = 0; i < 5; i++) ts[i] = D0 + i * H6;
    OK(meterdb_db_write_point(db, p, ts, v, q, 5));
}

/* The first day bucket of a point, read with meterdb_rollup_row_v2. */
static int day(meterdb_db *db, uint32_t p, meterdb_bucket_row_v2 *row) {
    meterdb_rollup *r = NULL;
    if (meterdb_db_rollup(db, p, MDB_TIER_DAY, D0, D0 + DAY, &r) != MDB_OK) return 0;
    int st = meterdb_rollup_row_v2(r, 0, row);
    meterdb_rollup_free(r);
    return st == MDB_OK;
}

static void test_invalid_readings(void) {
    OPEN_DB(db, dir);
    uint32_t m = counter(db, "m");
    /* The day: 999999 flagged invalid; 06:00 entered by hand, 18:00 estimated. */
    const double v[5] = {100, 106, 999999, 118, 124};
    const uint8_t q[5] = {MDB_QUALITY_VALID, MDB_QUALITY_VALID | MDB_QUALITY_MANUAL, 0,
                          MDB_QUALITY_VALID | MDB_QUALITY_ESTIMATED, MDB_QUALITY_VALID};
    write5(db, m, v, q);
    for (int flushed = 0; flushed < 2; flushed++) {
        if (flushed) OK(meterdb_db_flush(db));
        meterdb_rollup *r = NULL;
        MUST(meterdb_db_rollup(db, m, MDB_TIER_DAY, D0, D0 + 2 * DAY, &r));
        meterdb_bucket_row_v2 rows[3];
        meterdb_bucket_row v1;
        size_t n = 0;
        OK(meterdb_rollup_rows_v2(r, 0, rows, 3, &n));
        CHECK(n == 2);
        OK(meterdb_rollup_row(r, 0, &v1));
        meterdb_rollup_free(r);
        CHECK(rows[0].start == D0 && rows[0].count == 3 && rows[0].max == 118.0);
        CHECK(rows[0].sum == 324.0 && rows[0].has_consumption && rows[0].consumption == 24.0);
        CHECK(rows[0].invalid == 1 && rows[0].manual == 1 && rows[0].estimated == 1);
        CHECK(rows[0].backward == 0 && rows[0].completeness == 0.75);
        CHECK(v1.count == 3 && v1.max == 118.0 && v1.consumption == 24.0);
        CHECK(rows[1].count == 1 && rows[1].invalid == 0);

        uint32_t pts[2] = {m, m};
        meterdb_rollup_sum *s = NULL;
        MUST(meterdb_db_rollup_sum(db, pts, 2, MDB_TIER_DAY, D0, D0 + DAY, &s));
        meterdb_sum_row_v2 sr;
        OK(meterdb_rollup_sum_row_v2(s, 0, &sr));
        CHECK(sr.count == 6 && sr.points == 2 && sr.consumption == 48.0);
        CHECK(sr.invalid == 2 && sr.manual == 2 && sr.estimated == 2 && sr.backward == 0);
        OK(meterdb_rollup_sum_rows_v2(s, 0, &sr, 1, &n));
        CHECK(n == 1 && sr.invalid == 2);
        meterdb_rollup_sum_free(s);
    }
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_replacement(void) {
    OPEN_DB(db, dir);
    uint32_t p = counter(db, "r");
    /* At 18:00 the meter was replaced: the old one read 1060 last, the new one began at 2. */
    const double v[5] = {1000, 1040, 1050, 5, 20};
    write5(db, p, v, NULL);
    meterdb_bucket_row_v2 row;
    CHECK(day(db, p, &row) && row.consumption == 70.0); /* inferred: the fall to 5 from 0 */
    OK(meterdb_db_replace_meter(db, p, D0 + 3 * H6, 1060.0, 2.0));
    CHECK(day(db, p, &row) && row.consumption == 78.0); /* 50 + 10 + 3 + 15 */
    int64_t ts[2];
    double old_final[2], new_initial[2];
    size_t n = 0;
    OK(meterdb_db_meter_replacements(db, p, ts, old_final, new_initial, 2, &n));
    CHECK(n == 1 && ts[0] == D0 + 3 * H6 && old_final[0] == 1060.0 && new_initial[0] == 2.0);
    EXPECT(meterdb_db_meter_replacements(db, p, NULL, NULL, NULL, 0, &n), MDB_BUFFER_TOO_SMALL, "");
    CHECK(n == 1);
    /* Durable: still there after a reopen. */
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    db = NULL;
    MUST(meterdb_db_open(dir, NULL, &db));
    CHECK(day(db, p, &row) && row.consumption == 78.0);
    OK(meterdb_db_forget_meter_replacement(db, p, D0 + 3 * H6));
    CHECK(day(db, p, &row) && row.consumption == 70.0);
    EXPECT(meterdb_db_forget_meter_replacement(db, p, D0 + 3 * H6), MDB_NOT_FOUND, "no meter replacement");
    uint32_t g = UINT32_MAX;
    OK(meterdb_db_ensure_point(db, "gauge", &g));
    EXPECT(meterdb_db_replace_meter(db, g, D0, 1.0, 0.0), MDB_INVALID_ARGUMENT, "gauge");
    EXPECT(meterdb_db_replace_meter(db, p, D0, INFINITY, 0.0), MDB_INVALID_ARGUMENT, "finite");
    EXPECT(meterdb_db_replace_meter(db, 999, D0, 1.0, 0.0), MDB_NOT_FOUND, "");
    EXPECT(meterdb_db_replace_meter(NULL, p, D0, 1.0, 0.0), MDB_NULL_ARGUMENT, "db");
    EXPECT(meterdb_db_forget_meter_replacement(NULL, p, D0), MDB_NULL_ARGUMENT, "db");
    EXPECT(meterdb_db_meter_replacements(db, p, NULL, NULL, NULL, 0, NULL), MDB_NULL_ARGUMENT, "n_out");
    OK(meterdb_db_close(db));
    EXPECT(meterdb_db_replace_meter(db, p, D0, 1.0, 0.0), MDB_CLOSED, "");
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_net_register(void) {
    OPEN_DB(db, dir);
    uint32_t p = counter(db, "pv");
    /* A fall of 2 at 12:00: a backward step (not a rollover, not near zero). */
    const double v[5] = {100, 105, 103, 104, 106};
    write5(db, p, v, NULL);
    int32_t reg = -1;
    OK(meterdb_db_point_register(db, p, &reg));
    CHECK(reg == MDB_REGISTER_IMPORT);
    meterdb_bucket_row_v2 row;
    CHECK(day(db, p, &row) && row.consumption == 8.0 && row.backward == 1);
    OK(meterdb_db_set_point_register(db, p, MDB_REGISTER_NET));
    CHECK(day(db, p, &row) && row.consumption == 6.0 && row.backward == 1);
    OK(meterdb_db_flush(db));
    CHECK(day(db, p, &row) && row.consumption == 6.0 && row.backward == 1);
    CHECK(counter(db, "pv") == p); /* defined again: the register is kept */
    OK(meterdb_db_point_register(db, p, &reg));
    CHECK(reg == MDB_REGISTER_NET);
    OK(meterdb_db_set_point_register(db, p, MDB_REGISTER_IMPORT));
    CHECK(day(db, p, &row) && row.consumption == 8.0);
    uint32_t g = UINT32_MAX;
    OK(meterdb_db_ensure_point(db, "gauge", &g));
    EXPECT(meterdb_db_set_point_register(db, g, MDB_REGISTER_NET), MDB_INVALID_ARGUMENT, "only a counter");
    EXPECT(meterdb_db_set_point_register(db, p, 7), MDB_INVALID_ARGUMENT, "MDB_REGISTER_NET");
    EXPECT(meterdb_db_set_point_register(db, 999, MDB_REGISTER_NET), MDB_NOT_FOUND, "");
    EXPECT(meterdb_db_point_register(db, p, NULL), MDB_NULL_ARGUMENT, "out_register");
    EXPECT(meterdb_rollup_row_v2(NULL, 0, &row), MDB_NULL_ARGUMENT, "");
    EXPECT(meterdb_rollup_sum_rows_v2(NULL, 0, NULL, 0, NULL), MDB_NULL_ARGUMENT, "");
    meterdb_db_free(db);
    h_rmdir(dir);
}

const h_test meter_truth_tests[] = {
    {"invalid_readings_excluded_and_counted", test_invalid_readings},
    {"recorded_meter_replacement", test_replacement},
    {"net_register_signed_change", test_net_register},
};
const size_t meter_truth_count = sizeof meter_truth_tests / sizeof meter_truth_tests[0];
