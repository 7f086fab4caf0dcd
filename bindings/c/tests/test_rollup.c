/* The downsampled (rollup) queries from C: misuse of every new function (NULL handles and
 * pointers, a closed handle, bad tier and unit numbers, from > to, an unknown point, a tier
 * the point does not keep, indexes past the end), and what the rows say on a small known
 * data set: buckets, consumption of a counter, optional figures as value + flag, sums,
 * standard coal, comparisons, the time zone and tier options, metadata read-back. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

/* The layouts other languages read by offset (64-bit platforms). */
_Static_assert(sizeof(meterdb_bucket_row) == 144, "meterdb_bucket_row layout");
_Static_assert(sizeof(meterdb_sum_row) == 48, "meterdb_sum_row layout");
_Static_assert(sizeof(meterdb_compare_row) == 56, "meterdb_compare_row layout");
_Static_assert(sizeof(meterdb_point_info_v2) == 120, "meterdb_point_info_v2 layout");

/* 2024-01-01T00:00:00+08:00: midnight in the database's default zone. */
static const int64_t D0 = INT64_C(1704038400000);
static const int64_t DAY = INT64_C(86400000);
static const int64_t Q = INT64_C(900000); /* 15 minutes */

#define TIER_BIT(t) (1 << ((t) - 1))

/* Two rows with the same fields (NaN equal to NaN). */
static int same_f(double a, double b) { return a == b || (isnan(a) && isnan(b)); }
static int same_row(const meterdb_bucket_row *a, const meterdb_bucket_row *b) {
    return a->start == b->start && a->end == b->end && a->count == b->count && same_f(a->sum, b->sum) &&
           same_f(a->min, b->min) && a->min_ts == b->min_ts && same_f(a->max, b->max) &&
           a->max_ts == b->max_ts && same_f(a->first, b->first) && a->first_ts == b->first_ts &&
           same_f(a->last, b->last) && a->last_ts == b->last_ts && same_f(a->inc, b->inc) &&
           same_f(a->mean, b->mean) && same_f(a->consumption, b->consumption) &&
           same_f(a->expected, b->expected) && same_f(a->completeness, b->completeness) &&
           a->has_mean == b->has_mean && a->has_consumption == b->has_consumption &&
           a->has_expected == b->has_expected && a->has_completeness == b->has_completeness;
}

static uint32_t define_v2(meterdb_db *db, const char *key, int kind, int64_t interval_ms,
                          double multiplier, double rollover, const int64_t *coal_from,
                          const double *coal_kgce, size_t n_coal, int32_t tiers) {
    uint32_t id = UINT32_MAX;
    int st = meterdb_db_define_point_v2(db, key, kind, "kWh", 3, NULL, interval_ms, multiplier,
                                        NULL, NULL, 0, rollover, coal_from, coal_kgce, n_coal,
                                        tiers, &id);
    if (st != MDB_OK) fprintf(stderr, "    define %s: %s\n", key, meterdb_last_error());
    return id;
}

/* A counter read every 15 minutes for 3 days from D0 (1.5 kWh a reading), with 2 hours
 * missing on the second day; a gauge at 10 + hour of the day, hourly. */
static void fill(meterdb_db *db, uint32_t counter, uint32_t gauge) {
    static int64_t ts[3 * 96];
    static double v[3 * 96];
    size_t n = 0;
    for (int i = 0; i < 3 * 96; i++) {
        int64_t at = D0 + i * Q;
        if (at >= D0 + DAY + 8 * 4 * Q && at < D0 + DAY + 10 * 4 * Q) continue; /* 08:00-10:00 */
        ts[n] = at;
        v[n++] = 1000.0 + i * 1.5;
    }
    OK(meterdb_db_write_point(db, counter, ts, v, NULL, n));
    for (int h = 0; h < 3 * 24; h++) {
        ts[h] = D0 + h * 4 * Q;
        v[h] = 10.0 + h % 24;
    }
    OK(meterdb_db_write_point(db, gauge, ts, v, NULL, 3 * 24));
}

static void test_rollup_rows(void) {
    OPEN_DB(db, dir);
    int32_t tz = 0;
    OK(meterdb_db_tz_offset_min(db, &tz));
    CHECK(tz == 480);
    uint32_t counter = define_v2(db, "kwh", MDB_KIND_COUNTER, Q, 2.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT);
    uint32_t gauge = define_v2(db, "kw", MDB_KIND_GAUGE, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT);
    fill(db, counter, gauge);

    for (int flushed = 0; flushed < 2; flushed++) {
        meterdb_rollup *r = NULL;
        MUST(meterdb_db_rollup(db, counter, MDB_TIER_DAY, D0, D0 + 3 * DAY, &r));
        size_t n = 0;
        OK(meterdb_rollup_count(r, &n));
        CHECK(n == 3);
        meterdb_bucket_row rows[4], one;
        size_t got = 0;
        OK(meterdb_rollup_rows(r, 0, rows, 4, &got));
        CHECK(got == 3);
        OK(meterdb_rollup_row(r, 1, &one));
        CHECK(same_row(&one, &rows[1])); /* not memcmp: the padding bytes are unspecified */
        OK(meterdb_rollup_rows(r, 2, rows + 2, 2, &got)); /* from the middle */
        CHECK(got == 1);
        /* Day 0: 96 readings 1.5 apart, and the step to the next day's first: 96 * 1.5, times 2. */
        CHECK(rows[0].start == D0 && rows[0].end == D0 + DAY && rows[0].count == 96);
        CHECK(rows[0].first == 1000.0 && rows[0].first_ts == D0);
        CHECK(rows[0].last == 1000.0 + 95 * 1.5 && rows[0].last_ts == D0 + 95 * Q);
        CHECK(rows[0].min == 1000.0 && rows[0].max == rows[0].last && rows[0].inc == 95 * 1.5);
        CHECK(rows[0].has_mean && rows[0].has_consumption && rows[0].has_expected && rows[0].has_completeness);
        CHECK(fabs(rows[0].consumption - 96 * 1.5 * 2.0) < 1e-9);
        CHECK(rows[0].expected == 96.0 && rows[0].completeness == 1.0);
        /* Day 1 lost 8 readings but not its consumption (interpolated over the gap). */
        CHECK(rows[1].count == 88 && fabs(rows[1].consumption - 96 * 1.5 * 2.0) < 1e-9);
        CHECK(fabs(rows[1].completeness - 88.0 / 96.0) < 1e-12);
        /* Day 2: no reading after its end, so only up to its last. */
        CHECK(fabs(rows[2].consumption - 95 * 1.5 * 2.0) < 1e-9);
        meterdb_rollup_free(r);

        /* A gauge: no consumption (NaN, flag 0), no interval known (no expected count). */
        MUST(meterdb_db_rollup(db, gauge, MDB_TIER_DAY, D0, D0 + DAY, &r));
        OK(meterdb_rollup_row(r, 0, &one));
        CHECK(one.count == 24 && one.mean == 10.0 + 11.5 && one.has_mean == 1);
        CHECK(one.has_consumption == 0 && isnan(one.consumption));
        CHECK(one.has_expected == 0 && isnan(one.expected) && one.has_completeness == 0);
        CHECK(one.min == 10.0 && one.min_ts == D0 && one.max == 33.0 && one.max_ts == D0 + 23 * 4 * Q);
        meterdb_rollup_free(r);
        /* `from` inside a bucket: that bucket is included; from == to: nothing. */
        MUST(meterdb_db_rollup(db, gauge, MDB_TIER_HOUR, D0 + 30 * 60000, D0 + 2 * 4 * Q, &r));
        OK(meterdb_rollup_count(r, &n));
        CHECK(n == 2);
        meterdb_rollup_free(r);
        MUST(meterdb_db_rollup(db, gauge, MDB_TIER_HOUR, D0, D0, &r));
        OK(meterdb_rollup_count(r, &n));
        CHECK(n == 0);
        meterdb_rollup_free(r);
        /* Months and years in +08:00: one bucket each, starting at local midnight. */
        MUST(meterdb_db_rollup(db, counter, MDB_TIER_MONTH, INT64_MIN, INT64_MAX, &r));
        OK(meterdb_rollup_row(r, 0, &one));
        CHECK(one.start == D0 && one.end == D0 + 31 * DAY && one.count == 3 * 96 - 8);
        meterdb_rollup_free(r);

        /* Two points summed: counts and sums of both, consumption of the counter. */
        uint32_t both[2] = {counter, gauge};
        meterdb_rollup_sum *s = NULL;
        MUST(meterdb_db_rollup_sum(db, both, 2, MDB_TIER_DAY, D0, D0 + 3 * DAY, &s));
        OK(meterdb_rollup_sum_count(s, &n));
        CHECK(n == 3);
        meterdb_sum_row sr[3];
        OK(meterdb_rollup_sum_rows(s, 0, sr, 3, &got));
        CHECK(got == 3 && sr[0].points == 2 && sr[0].count == 96 + 24);
        CHECK(sr[0].has_consumption && fabs(sr[0].consumption - 96 * 1.5 * 2.0) < 1e-9);
        CHECK(sr[1].start == D0 + DAY && sr[1].end == D0 + 2 * DAY);
        meterdb_rollup_sum_free(s);
        MUST(meterdb_db_rollup_sum(db, &gauge, 1, MDB_TIER_DAY, D0, D0 + DAY, &s));
        OK(meterdb_rollup_sum_row(s, 0, &sr[0]));
        CHECK(sr[0].has_consumption == 0 && isnan(sr[0].consumption) && sr[0].sum == 24 * 10.0 + 276.0);
        meterdb_rollup_sum_free(s);

        /* Comparisons: day 1 against day 0; nothing a year earlier. */
        meterdb_comparison *c = NULL;
        MUST(meterdb_db_compare(db, &counter, 1, MDB_TIER_DAY, D0, D0 + 3 * DAY, MDB_COAL_NONE, &c));
        OK(meterdb_comparison_count(c, &n));
        CHECK(n == 3);
        meterdb_compare_row cr[3];
        OK(meterdb_comparison_rows(c, 0, cr, 3, &got));
        CHECK(got == 3 && cr[0].has_value && cr[0].has_previous == 0 && isnan(cr[0].previous));
        CHECK(cr[1].has_previous && cr[1].previous == cr[0].value);
        CHECK(cr[1].has_previous_change_pct && fabs(cr[1].previous_change_pct) < 1e-9);
        CHECK(cr[2].has_previous_change_pct && fabs(cr[2].previous_change_pct - (95.0 / 96.0 - 1) * 100) < 1e-9);
        CHECK(cr[1].has_year_ago == 0 && isnan(cr[1].year_ago) && cr[1].has_year_change_pct == 0);
        meterdb_comparison_free(c);
        if (!flushed) OK(meterdb_db_flush(db));
    }
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_standard_coal(void) {
    OPEN_DB(db, dir);
    /* 0.1229 kgce per kWh, 0.3 from the second day on (given out of order). */
    int64_t from[2] = {D0 + DAY, D0 - 365 * DAY};
    double kgce[2] = {0.3, 0.1229};
    uint32_t a = define_v2(db, "a", MDB_KIND_COUNTER, 0, 1.0, NAN, from, kgce, 2, MDB_TIERS_DEFAULT);
    uint32_t b = define_v2(db, "b", MDB_KIND_COUNTER, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT);
    int64_t ts[3] = {D0, D0 + DAY, D0 + 2 * DAY};
    double va[3] = {0, 100, 300}, vb[3] = {0, 1000, 2000};
    OK(meterdb_db_write_point(db, a, ts, va, NULL, 3));
    OK(meterdb_db_write_point(db, b, ts, vb, NULL, 3));
    uint32_t both[2] = {a, b};
    meterdb_rollup_sum *s = NULL;
    MUST(meterdb_db_coal_sum(db, both, 2, MDB_TIER_DAY, D0, D0 + 2 * DAY, MDB_COAL_KGCE, &s));
    meterdb_sum_row r[2];
    size_t n = 0;
    OK(meterdb_rollup_sum_rows(s, 0, r, 2, &n));
    /* b has no coefficient: it adds nothing; a's first day at 0.1229, second at 0.3. */
    CHECK(n == 2 && r[0].points == 2 && r[0].has_consumption);
    CHECK(fabs(r[0].consumption - 100 * 0.1229) < 1e-9 && fabs(r[1].consumption - 200 * 0.3) < 1e-9);
    meterdb_rollup_sum_free(s);
    MUST(meterdb_db_coal_sum(db, both, 2, MDB_TIER_DAY, D0, D0 + 2 * DAY, MDB_COAL_TCE, &s));
    OK(meterdb_rollup_sum_row(s, 1, &r[1]));
    CHECK(fabs(r[1].consumption - 200 * 0.3 / 1000) < 1e-12);
    meterdb_rollup_sum_free(s);
    MUST(meterdb_db_coal_sum(db, &b, 1, MDB_TIER_DAY, D0, D0 + 2 * DAY, MDB_COAL_KGCE, &s));
    OK(meterdb_rollup_sum_row(s, 0, &r[0]));
    CHECK(r[0].points == 1 && r[0].has_consumption == 0 && isnan(r[0].consumption));
    meterdb_rollup_sum_free(s);
    meterdb_comparison *c = NULL;
    MUST(meterdb_db_compare(db, &a, 1, MDB_TIER_DAY, D0, D0 + 2 * DAY, MDB_COAL_KGCE, &c));
    meterdb_compare_row cr;
    OK(meterdb_comparison_row(c, 1, &cr));
    CHECK(cr.has_value && fabs(cr.value - 60.0) < 1e-9 && fabs(cr.previous - 12.29) < 1e-9);
    meterdb_comparison_free(c);
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* Every new function with NULL for its handle or a required pointer. */
static void test_rollup_null(void) {
    OPEN_DB(db, dir);
    uint32_t p = define_v2(db, "p", MDB_KIND_GAUGE, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT), id;
    OK(meterdb_db_put(db, p, D0, 1.0, MDB_QUALITY_VALID));
    size_t n;
    int32_t tz;
    meterdb_rollup *r = (meterdb_rollup *)1;
    meterdb_rollup_sum *s = (meterdb_rollup_sum *)1;
    meterdb_comparison *c = (meterdb_comparison *)1;
    meterdb_point_info_v2 *info = (meterdb_point_info_v2 *)1;
    meterdb_bucket_row br;
    meterdb_sum_row sr;
    meterdb_compare_row cr;
    int64_t from[1] = {D0};
    double kgce[1] = {0.1229};

    EXPECT(meterdb_options_set_tz_offset_min(NULL, 0), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_tiers(NULL, MDB_TIERS_ALL), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_db_tz_offset_min(NULL, &tz), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_tz_offset_min(db, NULL), MDB_NULL_ARGUMENT, "out_minutes is NULL");

    EXPECT(meterdb_db_define_point_v2(NULL, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_define_point_v2(db, NULL, 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_NULL_ARGUMENT, "key is NULL");
    EXPECT(meterdb_db_define_point_v2(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, NULL),
           MDB_NULL_ARGUMENT, "id_out is NULL");
    EXPECT(meterdb_db_define_point_v2(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, kgce, 1, -1, &id),
           MDB_NULL_ARGUMENT, "coal_from is NULL");
    EXPECT(meterdb_db_define_point_v2(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, from, NULL, 1, -1, &id),
           MDB_NULL_ARGUMENT, "coal_kgce is NULL");
    EXPECT(meterdb_db_define_point_v2(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 1, NAN, NULL, NULL, 0, -1, &id),
           MDB_NULL_ARGUMENT, "tag_keys is NULL");
    EXPECT(meterdb_db_point_info_v2(NULL, p, &info), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(info == NULL);
    EXPECT(meterdb_db_point_info_v2(db, p, NULL), MDB_NULL_ARGUMENT, "out_info is NULL");

    EXPECT(meterdb_db_rollup(NULL, p, MDB_TIER_DAY, 0, 1, &r), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(r == NULL);
    EXPECT(meterdb_db_rollup(db, p, MDB_TIER_DAY, 0, 1, NULL), MDB_NULL_ARGUMENT, "out_rollup is NULL");
    EXPECT(meterdb_db_rollup_sum(NULL, &p, 1, MDB_TIER_DAY, 0, 1, &s), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(s == NULL);
    EXPECT(meterdb_db_rollup_sum(db, NULL, 1, MDB_TIER_DAY, 0, 1, &s), MDB_NULL_ARGUMENT, "points is NULL");
    EXPECT(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_DAY, 0, 1, NULL), MDB_NULL_ARGUMENT, "out_sum is NULL");
    EXPECT(meterdb_db_coal_sum(NULL, &p, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_KGCE, &s), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_coal_sum(db, NULL, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_KGCE, &s), MDB_NULL_ARGUMENT, "points is NULL");
    EXPECT(meterdb_db_coal_sum(db, &p, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_KGCE, NULL), MDB_NULL_ARGUMENT, "out_sum is NULL");
    EXPECT(meterdb_db_compare(NULL, &p, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_NONE, &c), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(c == NULL);
    EXPECT(meterdb_db_compare(db, NULL, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_NONE, &c), MDB_NULL_ARGUMENT, "points is NULL");
    EXPECT(meterdb_db_compare(db, &p, 1, MDB_TIER_DAY, 0, 1, MDB_COAL_NONE, NULL), MDB_NULL_ARGUMENT, "out_comparison is NULL");
    /* No points (NULL allowed with a count of 0): an empty series. */
    MUST(meterdb_db_rollup_sum(db, NULL, 0, MDB_TIER_DAY, 0, D0 + DAY, &s));
    OK(meterdb_rollup_sum_count(s, &n));
    CHECK(n == 0);
    meterdb_rollup_sum_free(s);

    EXPECT(meterdb_rollup_count(NULL, &n), MDB_NULL_ARGUMENT, "rollup is NULL");
    EXPECT(meterdb_rollup_row(NULL, 0, &br), MDB_NULL_ARGUMENT, "rollup is NULL");
    EXPECT(meterdb_rollup_rows(NULL, 0, &br, 1, &n), MDB_NULL_ARGUMENT, "rollup is NULL");
    EXPECT(meterdb_rollup_sum_count(NULL, &n), MDB_NULL_ARGUMENT, "sum is NULL");
    EXPECT(meterdb_rollup_sum_row(NULL, 0, &sr), MDB_NULL_ARGUMENT, "sum is NULL");
    EXPECT(meterdb_rollup_sum_rows(NULL, 0, &sr, 1, &n), MDB_NULL_ARGUMENT, "sum is NULL");
    EXPECT(meterdb_comparison_count(NULL, &n), MDB_NULL_ARGUMENT, "comparison is NULL");
    EXPECT(meterdb_comparison_row(NULL, 0, &cr), MDB_NULL_ARGUMENT, "comparison is NULL");
    EXPECT(meterdb_comparison_rows(NULL, 0, &cr, 1, &n), MDB_NULL_ARGUMENT, "comparison is NULL");
    meterdb_rollup_free(NULL);
    meterdb_rollup_sum_free(NULL);
    meterdb_comparison_free(NULL);
    meterdb_point_info_v2_free(NULL);

    /* The out-pointers of the result handles. */
    MUST(meterdb_db_rollup(db, p, MDB_TIER_DAY, INT64_MIN, INT64_MAX, &r));
    EXPECT(meterdb_rollup_count(r, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    EXPECT(meterdb_rollup_row(r, 0, NULL), MDB_NULL_ARGUMENT, "out_row is NULL");
    EXPECT(meterdb_rollup_rows(r, 0, NULL, 1, &n), MDB_NULL_ARGUMENT, "out_rows is NULL");
    EXPECT(meterdb_rollup_rows(r, 0, &br, 1, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    OK(meterdb_rollup_rows(r, 0, NULL, 0, &n)); /* NULL with cap 0 */
    CHECK(n == 0);
    meterdb_rollup_free(r);
    MUST(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_DAY, INT64_MIN, INT64_MAX, &s));
    EXPECT(meterdb_rollup_sum_count(s, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    EXPECT(meterdb_rollup_sum_row(s, 0, NULL), MDB_NULL_ARGUMENT, "out_row is NULL");
    EXPECT(meterdb_rollup_sum_rows(s, 0, NULL, 1, &n), MDB_NULL_ARGUMENT, "out_rows is NULL");
    EXPECT(meterdb_rollup_sum_rows(s, 0, &sr, 1, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    meterdb_rollup_sum_free(s);
    MUST(meterdb_db_compare(db, &p, 1, MDB_TIER_DAY, D0, D0 + DAY, MDB_COAL_NONE, &c));
    EXPECT(meterdb_comparison_count(c, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    EXPECT(meterdb_comparison_row(c, 0, NULL), MDB_NULL_ARGUMENT, "out_row is NULL");
    EXPECT(meterdb_comparison_rows(c, 0, NULL, 1, &n), MDB_NULL_ARGUMENT, "out_rows is NULL");
    EXPECT(meterdb_comparison_rows(c, 0, &cr, 1, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    meterdb_comparison_free(c);
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* Bad tiers, units and ranges; unknown points; tiers a point does not keep; indexes. */
static void test_rollup_bad_arguments(void) {
    OPEN_DB(db, dir);
    uint32_t p = define_v2(db, "p", MDB_KIND_COUNTER, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT);
    uint32_t days = define_v2(db, "days", MDB_KIND_COUNTER, 0, 1.0, NAN, NULL, NULL, 0,
                              TIER_BIT(MDB_TIER_DAY) | TIER_BIT(MDB_TIER_MONTH));
    OK(meterdb_db_put(db, p, D0, 1.0, MDB_QUALITY_VALID));
    meterdb_rollup *r = NULL;
    meterdb_rollup_sum *s = NULL;
    meterdb_comparison *c = NULL;
    const int bad_tiers[4] = {0, 6, -1, 259};
    for (int i = 0; i < 4; i++) {
        int t = bad_tiers[i];
        r = (meterdb_rollup *)1;
        EXPECT(meterdb_db_rollup(db, p, t, 0, D0, &r), MDB_INVALID_ARGUMENT, "is not one of 1 (MDB_TIER_MINUTE)");
        CHECK(r == NULL);
        EXPECT(meterdb_db_rollup_sum(db, &p, 1, t, 0, D0, &s), MDB_INVALID_ARGUMENT, "is not one of");
        EXPECT(meterdb_db_coal_sum(db, &p, 1, t, 0, D0, MDB_COAL_KGCE, &s), MDB_INVALID_ARGUMENT, "is not one of");
        EXPECT(meterdb_db_compare(db, &p, 1, t, 0, D0, MDB_COAL_NONE, &c), MDB_INVALID_ARGUMENT, "is not one of");
    }
    EXPECT(meterdb_db_rollup(db, p, 6, 0, D0, &r), MDB_INVALID_ARGUMENT, "tier 6");
    EXPECT(meterdb_db_coal_sum(db, &p, 1, MDB_TIER_DAY, 0, D0, MDB_COAL_NONE, &s), MDB_INVALID_ARGUMENT, "coal unit -1");
    EXPECT(meterdb_db_coal_sum(db, &p, 1, MDB_TIER_DAY, 0, D0, 2, &s), MDB_INVALID_ARGUMENT, "coal unit 2");
    EXPECT(meterdb_db_compare(db, &p, 1, MDB_TIER_DAY, 0, D0, -2, &c), MDB_INVALID_ARGUMENT, "coal unit -2");
    /* from > to. */
    EXPECT(meterdb_db_rollup(db, p, MDB_TIER_DAY, D0, D0 - 1, &r), MDB_INVALID_ARGUMENT, "is after its end");
    EXPECT(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_DAY, D0, D0 - 1, &s), MDB_INVALID_ARGUMENT, "is after its end");
    EXPECT(meterdb_db_coal_sum(db, &p, 1, MDB_TIER_DAY, D0, D0 - 1, MDB_COAL_TCE, &s), MDB_INVALID_ARGUMENT, "is after its end");
    EXPECT(meterdb_db_compare(db, &p, 1, MDB_TIER_DAY, INT64_MAX, INT64_MIN, MDB_COAL_NONE, &c), MDB_INVALID_ARGUMENT, "is after its end");
    /* Unknown points. */
    uint32_t two[2] = {p, 77};
    EXPECT(meterdb_db_rollup(db, 77, MDB_TIER_DAY, 0, D0, &r), MDB_NOT_FOUND, "point id 77 is not defined");
    CHECK(r == NULL);
    s = (meterdb_rollup_sum *)1;
    EXPECT(meterdb_db_rollup_sum(db, two, 2, MDB_TIER_DAY, 0, D0, &s), MDB_NOT_FOUND, "77");
    CHECK(s == NULL);
    EXPECT(meterdb_db_coal_sum(db, two, 2, MDB_TIER_DAY, 0, D0, MDB_COAL_KGCE, &s), MDB_NOT_FOUND, "77");
    c = (meterdb_comparison *)1;
    EXPECT(meterdb_db_compare(db, two, 2, MDB_TIER_DAY, 0, D0, MDB_COAL_NONE, &c), MDB_NOT_FOUND, "77");
    CHECK(c == NULL);
    meterdb_point_info_v2 *info = (meterdb_point_info_v2 *)1;
    EXPECT(meterdb_db_point_info_v2(db, 77, &info), MDB_NOT_FOUND, "77");
    CHECK(info == NULL);
    /* A tier the point does not keep. */
    uint32_t mixed[2] = {p, days};
    EXPECT(meterdb_db_rollup(db, days, MDB_TIER_HOUR, 0, D0, &r), MDB_INVALID_ARGUMENT, "does not keep the hour tier");
    EXPECT(meterdb_db_rollup(db, days, MDB_TIER_MINUTE, 0, D0, &r), MDB_INVALID_ARGUMENT, "does not keep the minute tier");
    EXPECT(meterdb_db_rollup_sum(db, mixed, 2, MDB_TIER_YEAR, 0, D0, &s), MDB_INVALID_ARGUMENT, "does not keep the year tier");
    EXPECT(meterdb_db_coal_sum(db, mixed, 2, MDB_TIER_HOUR, 0, D0, MDB_COAL_KGCE, &s), MDB_INVALID_ARGUMENT, "does not keep");
    EXPECT(meterdb_db_compare(db, mixed, 2, MDB_TIER_YEAR, 0, D0, MDB_COAL_NONE, &c), MDB_INVALID_ARGUMENT, "does not keep");
    OK(meterdb_db_rollup_sum(db, mixed, 2, MDB_TIER_MONTH, 0, D0 + DAY, &s));
    meterdb_rollup_sum_free(s);

    /* Indexes past the end, and lengths no array can have. */
    MUST(meterdb_db_rollup(db, p, MDB_TIER_DAY, 0, D0 + DAY, &r));
    meterdb_bucket_row br[2];
    size_t n = 9;
    EXPECT(meterdb_rollup_row(r, 1, &br[0]), MDB_INVALID_ARGUMENT, "index 1 is past the 1 rows");
    EXPECT(meterdb_rollup_row(r, SIZE_MAX, &br[0]), MDB_INVALID_ARGUMENT, "past");
    EXPECT(meterdb_rollup_rows(r, 2, br, 2, &n), MDB_INVALID_ARGUMENT, "first row 2 is past the 1 rows");
    CHECK(n == 0);
    EXPECT(meterdb_rollup_rows(r, 0, br, SIZE_MAX, &n), MDB_INVALID_ARGUMENT, "larger than any array");
    OK(meterdb_rollup_rows(r, 1, br, 2, &n)); /* at the end: nothing */
    CHECK(n == 0);
    meterdb_rollup_free(r);
    MUST(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_DAY, 0, D0 + DAY, &s));
    meterdb_sum_row sr;
    EXPECT(meterdb_rollup_sum_row(s, 1, &sr), MDB_INVALID_ARGUMENT, "past");
    EXPECT(meterdb_rollup_sum_rows(s, 5, &sr, 1, &n), MDB_INVALID_ARGUMENT, "past");
    meterdb_rollup_sum_free(s);
    MUST(meterdb_db_compare(db, &p, 1, MDB_TIER_DAY, 0, D0 + DAY, MDB_COAL_NONE, &c));
    meterdb_compare_row cr;
    EXPECT(meterdb_comparison_row(c, 1, &cr), MDB_INVALID_ARGUMENT, "past");
    EXPECT(meterdb_comparison_rows(c, 5, &cr, 1, &n), MDB_INVALID_ARGUMENT, "past");
    meterdb_comparison_free(c);

    /* The whole time line, at every tier: no panic, no overflow. */
    uint32_t g = define_v2(db, "g", MDB_KIND_GAUGE, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT);
    OK(meterdb_db_put(db, g, D0, 2.0, MDB_QUALITY_VALID));
    for (int t = MDB_TIER_MINUTE; t <= MDB_TIER_YEAR; t++) {
        OK(meterdb_db_rollup(db, g, t, INT64_MIN, INT64_MAX, &r));
        OK(meterdb_rollup_count(r, &n));
        CHECK(n == 1);
        meterdb_rollup_free(r);
        OK(meterdb_db_rollup_sum(db, &g, 1, t, INT64_MIN, INT64_MAX, &s));
        meterdb_rollup_sum_free(s);
        OK(meterdb_db_coal_sum(db, &p, 1, t, INT64_MIN, INT64_MAX, MDB_COAL_TCE, &s));
        meterdb_rollup_sum_free(s);
        OK(meterdb_db_compare(db, &g, 1, t, INT64_MIN, INT64_MAX, MDB_COAL_NONE, &c));
        meterdb_comparison_free(c);
    }
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* After meterdb_db_close every new function on the handle answers MDB_CLOSED; results made
 * before live on, also after the handle is freed. */
static void test_rollup_closed(void) {
    OPEN_DB(db, dir);
    uint32_t p = define_v2(db, "p", MDB_KIND_GAUGE, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_DEFAULT), id;
    OK(meterdb_db_put(db, p, D0 + 5, 7.5, MDB_QUALITY_VALID));
    meterdb_rollup *r = NULL;
    meterdb_rollup_sum *s = NULL;
    meterdb_comparison *c = NULL;
    meterdb_point_info_v2 *info = NULL;
    MUST(meterdb_db_rollup(db, p, MDB_TIER_HOUR, D0, D0 + DAY, &r));
    MUST(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_HOUR, D0, D0 + DAY, &s));
    MUST(meterdb_db_compare(db, &p, 1, MDB_TIER_HOUR, D0, D0 + DAY, MDB_COAL_NONE, &c));
    MUST(meterdb_db_point_info_v2(db, p, &info));
    OK(meterdb_db_close(db));

    int32_t tz;
    meterdb_rollup *r2 = (meterdb_rollup *)1;
    meterdb_rollup_sum *s2 = (meterdb_rollup_sum *)1;
    meterdb_comparison *c2 = (meterdb_comparison *)1;
    meterdb_point_info_v2 *i2 = (meterdb_point_info_v2 *)1;
    EXPECT(meterdb_db_tz_offset_min(db, &tz), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_define_point_v2(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_CLOSED, "closed");
    EXPECT(meterdb_db_point_info_v2(db, p, &i2), MDB_CLOSED, "closed");
    CHECK(i2 == NULL);
    EXPECT(meterdb_db_rollup(db, p, MDB_TIER_HOUR, D0, D0 + DAY, &r2), MDB_CLOSED, "closed");
    CHECK(r2 == NULL);
    EXPECT(meterdb_db_rollup(db, p, 99, D0, D0 - 1, &r2), MDB_CLOSED, "closed"); /* checked first */
    EXPECT(meterdb_db_rollup_sum(db, &p, 1, MDB_TIER_HOUR, D0, D0 + DAY, &s2), MDB_CLOSED, "closed");
    CHECK(s2 == NULL);
    EXPECT(meterdb_db_coal_sum(db, &p, 1, MDB_TIER_HOUR, D0, D0 + DAY, MDB_COAL_KGCE, &s2), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_compare(db, &p, 1, MDB_TIER_HOUR, D0, D0 + DAY, MDB_COAL_NONE, &c2), MDB_CLOSED, "closed");
    CHECK(c2 == NULL);
    meterdb_db_free(db);

    size_t n;
    meterdb_bucket_row br;
    OK(meterdb_rollup_count(r, &n));
    CHECK(n == 1);
    OK(meterdb_rollup_row(r, 0, &br));
    CHECK(br.start == D0 && br.count == 1 && br.sum == 7.5 && br.max_ts == D0 + 5);
    meterdb_sum_row sr;
    OK(meterdb_rollup_sum_row(s, 0, &sr));
    CHECK(sr.count == 1 && sr.points == 1 && sr.sum == 7.5);
    meterdb_compare_row cr;
    OK(meterdb_comparison_row(c, 0, &cr));
    CHECK(cr.has_value && cr.value == 7.5);
    CHECK(strcmp(info->base.key, "p") == 0 && info->tiers == MDB_TIERS_DEFAULT);
    meterdb_rollup_free(r);
    meterdb_rollup_sum_free(s);
    meterdb_comparison_free(c);
    meterdb_point_info_v2_free(info);
    h_rmdir(dir);
}

static void test_point_v2_metadata(void) {
    OPEN_DB(db, dir);
    const char *tk[1] = {"site"}, *tv[1] = {"north"};
    int64_t from[2] = {D0 + DAY, D0};
    double kgce[2] = {0.3, 0.1229};
    uint32_t a, b, id;
    OK(meterdb_db_define_point_v2(db, "a", MDB_KIND_COUNTER, "kWh", 2, "0100", 900000, 40.0, tk, tv, 1,
                                  99999999.0, from, kgce, 2, TIER_BIT(MDB_TIER_HOUR) | TIER_BIT(MDB_TIER_DAY), &a));
    OK(meterdb_db_define_point_v2(db, "b", MDB_KIND_GAUGE, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL,
                                  NULL, 0, 0, &b));
    meterdb_point_info_v2 *info = NULL;
    MUST(meterdb_db_point_info_v2(db, a, &info));
    CHECK(info->base.id == a && info->base.kind == MDB_KIND_COUNTER && info->base.multiplier == 40.0);
    CHECK(strcmp(info->base.key, "a") == 0 && strcmp(info->base.unit, "kWh") == 0 && info->base.n_tags == 1);
    CHECK(strcmp(info->base.tag_values[0], "north") == 0);
    CHECK(info->rollover == 99999999.0 && info->tiers == (TIER_BIT(MDB_TIER_HOUR) | TIER_BIT(MDB_TIER_DAY)));
    CHECK(info->n_coal == 2 && info->coal_from[0] == D0 && info->coal_kgce[0] == 0.1229);
    CHECK(info->coal_from[1] == D0 + DAY && info->coal_kgce[1] == 0.3);
    /* The v2 struct begins with the v1 struct. */
    CHECK((void *)&info->base == (void *)info);
    meterdb_point_info_v2_free(info);
    MUST(meterdb_db_point_info_v2(db, b, &info));
    CHECK(isnan(info->rollover) && info->tiers == 0 && info->n_coal == 0);
    CHECK(info->coal_from == NULL && info->coal_kgce == NULL);
    meterdb_point_info_v2_free(info);
    /* A point of the old function: no rollover, no coal, the default tiers. */
    OK(meterdb_db_define_point(db, "c", MDB_KIND_GAUGE, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id));
    MUST(meterdb_db_point_info_v2(db, id, &info));
    CHECK(isnan(info->rollover) && info->tiers == MDB_TIERS_DEFAULT && info->n_coal == 0);
    meterdb_point_info_v2_free(info);
    /* A point that keeps no tier cannot be queried at any. */
    meterdb_rollup *r = NULL;
    EXPECT(meterdb_db_rollup(db, b, MDB_TIER_YEAR, 0, 1, &r), MDB_INVALID_ARGUMENT, "does not keep the year tier");

    /* Bad values. */
    int64_t same[2] = {D0, D0};
    double neg[1] = {-0.5}, nan1[1] = {NAN};
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, -1.0, NULL, NULL, 0, -1, &id),
           MDB_INVALID_ARGUMENT, "rollover -1 must be finite and positive");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, INFINITY, NULL, NULL, 0, -1, &id),
           MDB_INVALID_ARGUMENT, "rollover inf");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, same, kgce, 2, -1, &id),
           MDB_INVALID_ARGUMENT, "distinct dates");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, from, neg, 1, -1, &id),
           MDB_INVALID_ARGUMENT, "coal coefficients");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, from, nan1, 1, -1, &id),
           MDB_INVALID_ARGUMENT, "coal coefficients");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, 32, &id),
           MDB_INVALID_ARGUMENT, "tier mask 32");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -2, &id),
           MDB_INVALID_ARGUMENT, "tier mask -2");
    EXPECT(meterdb_db_define_point_v2(db, "x", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, from, kgce, SIZE_MAX, -1, &id),
           MDB_INVALID_ARGUMENT, "larger than any array");
    EXPECT(meterdb_db_define_point_v2(db, "x", 7, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_INVALID_ARGUMENT, "point kind 7");
    EXPECT(meterdb_db_define_point_v2(db, "caf\xe9", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_INVALID_UTF8, "key is not valid UTF-8");
    EXPECT(meterdb_db_define_point_v2(db, "", 1, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NAN, NULL, NULL, 0, -1, &id),
           MDB_INVALID_ARGUMENT, "empty");
    size_t n;
    OK(meterdb_db_list_points(db, "x", MDB_KIND_ANY, NULL, NULL, 0, &n));
    CHECK(n == 0); /* nothing defined by the failures */
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_tz_and_tier_options(void) {
    char *dir = h_tempdir();
    meterdb_options *o = NULL;
    MUST(meterdb_options_new(&o));
    OK(meterdb_options_set_durability(o, MDB_DURABILITY_NONE));
    EXPECT(meterdb_options_set_tiers(o, 32), MDB_INVALID_ARGUMENT, "tier mask 32");
    EXPECT(meterdb_options_set_tiers(o, -1), MDB_INVALID_ARGUMENT, "tier mask -1");
    meterdb_db *db = (meterdb_db *)1;
    OK(meterdb_options_set_tz_offset_min(o, -19 * 60));
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "time zone offset -1140");
    CHECK(db == NULL);
    /* New York winter time, and hours and days by default. */
    OK(meterdb_options_set_tz_offset_min(o, -300));
    OK(meterdb_options_set_tiers(o, TIER_BIT(MDB_TIER_HOUR) | TIER_BIT(MDB_TIER_DAY)));
    MUST(meterdb_db_open(dir, o, &db));
    int32_t tz = 0;
    OK(meterdb_db_tz_offset_min(db, &tz));
    CHECK(tz == -300);
    uint32_t p, all;
    OK(meterdb_db_ensure_point(db, "p", &p));
    all = define_v2(db, "all", MDB_KIND_GAUGE, 0, 1.0, NAN, NULL, NULL, 0, MDB_TIERS_ALL);
    int64_t t = INT64_C(1704085200000) + 60000; /* 2024-01-01T00:01:00-05:00 */
    OK(meterdb_db_put(db, p, t, 1.0, MDB_QUALITY_VALID));
    OK(meterdb_db_put(db, all, t, 1.0, MDB_QUALITY_VALID));
    meterdb_rollup *r = NULL;
    MUST(meterdb_db_rollup(db, p, MDB_TIER_DAY, INT64_MIN, INT64_MAX, &r));
    meterdb_bucket_row row;
    OK(meterdb_rollup_row(r, 0, &row));
    CHECK(row.start == t - 60000 && row.end == row.start + DAY);
    meterdb_rollup_free(r);
    EXPECT(meterdb_db_rollup(db, p, MDB_TIER_MONTH, INT64_MIN, INT64_MAX, &r), MDB_INVALID_ARGUMENT, "does not keep the month tier");
    MUST(meterdb_db_rollup(db, all, MDB_TIER_MONTH, INT64_MIN, INT64_MAX, &r)); /* its own tiers */
    meterdb_rollup_free(r);
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    /* The zone is fixed when the database is created. */
    OK(meterdb_options_set_tz_offset_min(o, 480));
    db = (meterdb_db *)1;
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "cannot be opened with UTC+08:00");
    CHECK(db == NULL);
    meterdb_options_free(o);
    MUST(meterdb_db_open(dir, NULL, &db)); /* no zone given: the stored one */
    OK(meterdb_db_tz_offset_min(db, &tz));
    CHECK(tz == -300);
    meterdb_db_free(db);
    h_rmdir(dir);
}

const h_test rollup_tests[] = {
    {"rollup_rows_sums_and_comparisons", test_rollup_rows},
    {"standard_coal", test_standard_coal},
    {"rollup_null_for_every_function", test_rollup_null},
    {"rollup_bad_tiers_units_ranges_points", test_rollup_bad_arguments},
    {"rollup_closed_handle_and_results_outliving_it", test_rollup_closed},
    {"point_v2_metadata", test_point_v2_metadata},
    {"tz_and_tier_options", test_tz_and_tier_options},
};
const size_t rollup_count = sizeof rollup_tests / sizeof rollup_tests[0];
