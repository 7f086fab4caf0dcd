/* The bindings' shared scenarios on ../shared/data/uk-meters.csv.gz (decompressed by the
 * Makefile): every point written in batches of 1000 rows in file order, read back exactly
 * (for a repeated timestamp the last value in file order wins), latest values; again after
 * a flush, a compaction and a reopen. And "query day consumption" (see below). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

extern const char *h_csv_path;

#define MAX_POINTS 64
#define BATCH 1000

typedef struct {
    uint32_t point; /* index into names, then the database's id */
    int64_t ts;
    double value;
    size_t row;
} row_t;

static char *names[MAX_POINTS];
static uint32_t ids[MAX_POINTS];
static size_t n_points;

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2020-04-01T01:00:00Z" to milliseconds; -1 on a malformed field. */
static int parse_ts(const char *s, int64_t *out) {
    int y, mo, d, h, mi, se;
    char z;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z')
        return -1;
    *out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000;
    return 0;
}

static size_t load(row_t **out) {
    FILE *f = fopen(h_csv_path, "r");
    if (!f) return 0;
    size_t cap = 1 << 18, n = 0;
    row_t *rows = malloc(cap * sizeof *rows);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int header = 1;
    while ((len = getline(&line, &line_cap, f)) > 0) {
        if (header) { header = 0; continue; }
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2) continue;
        *c1 = 0;
        size_t p;
        for (p = 0; p < n_points && strcmp(names[p], line) != 0; p++) {}
        if (p == n_points) {
            if (n_points == MAX_POINTS) break;
            names[n_points++] = strdup(line);
        }
        if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
        row_t *r = &rows[n];
        if (parse_ts(c1 + 1, &r->ts) != 0) continue;
        r->point = (uint32_t)p;
        r->value = strtod(c2 + 1, NULL);
        r->row = n++;
    }
    free(line);
    fclose(f);
    *out = rows;
    return n;
}

static int by_point_ts_row(const void *a, const void *b) {
    const row_t *x = a, *y = b;
    if (x->point != y->point) return x->point < y->point ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Reads every point back and compares with `want` (sorted by point then ts, no repeats). */
static void verify_all(meterdb_db *db, const row_t *want, size_t n_want) {
    static int64_t ts[BATCH];
    static double vs[BATCH];
    static uint8_t qs[BATCH];
    size_t w = 0;
    for (size_t p = 0; p < n_points; p++) {
        meterdb_cursor *cur = NULL;
        MUST(meterdb_db_range(db, ids[p], INT64_MIN, INT64_MAX, &cur));
        size_t start = w, mismatches = 0, n;
        do {
            if (meterdb_cursor_next(cur, ts, vs, qs, BATCH, &n) != MDB_OK) {
                CHECK(!"cursor_next failed");
                break;
            }
            for (size_t i = 0; i < n; i++, w++) {
                if (w >= n_want || want[w].point != p || want[w].ts != ts[i] ||
                    memcmp(&want[w].value, &vs[i], sizeof(double)) != 0 || qs[i] != MDB_QUALITY_VALID)
                    mismatches++;
            }
        } while (n == BATCH);
        meterdb_cursor_free(cur);
        CHECK(mismatches == 0);
        CHECK(w == n_want || want[w].point != p); /* every expected sample was read */
        if (mismatches || (w < n_want && want[w].point == p))
            fprintf(stderr, "    point %s: %zu mismatches\n", names[p], mismatches);
        while (w < n_want && want[w].point == p) w++;
        /* latest: the last expected sample of the point */
        int64_t lt;
        double lv;
        uint8_t lq;
        int32_t found = 0;
        OK(meterdb_db_latest(db, ids[p], &lt, &lv, &lq, &found));
        CHECK(found == 1 && w > start && lt == want[w - 1].ts && lv == want[w - 1].value);
    }
}

static void test_shared_round_trip(void) {
    if (!h_csv_path) {
        printf("skipping: ../shared/data not found\n");
        h_skipped = 1;
        return;
    }
    row_t *rows = NULL;
    size_t n_rows = load(&rows);
    CHECK(n_rows > 200000 && n_points == 9);
    if (n_rows == 0) return;

    char *dir = h_tempdir();
    meterdb_options *o = NULL;
    MUST(meterdb_options_new(&o));
    OK(meterdb_options_set_durability(o, MDB_DURABILITY_NONE));
    meterdb_db *db = NULL;
    MUST(meterdb_db_open(dir, o, &db));
    const char *tk[1] = {"source"}, *tv[1] = {"uk"};
    for (size_t p = 0; p < n_points; p++) {
        int counter = strstr(names[p], "register") != NULL;
        const char *unit = strncmp(names[p], "taylor", 6) == 0 ? "MW" : "kWh";
        OK(meterdb_db_define_point(db, names[p], counter ? MDB_KIND_COUNTER : MDB_KIND_GAUGE, unit, 3,
                                   NULL, 0, 1.0, tk, tv, 1, &ids[p]));
    }

    /* Batches of 1000 rows in file order: points mix at the boundaries. */
    static uint32_t bp[BATCH];
    static int64_t bt[BATCH];
    static double bv[BATCH];
    for (size_t i = 0; i < n_rows; i += BATCH) {
        size_t k = n_rows - i < BATCH ? n_rows - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            bp[j] = ids[rows[i + j].point];
            bt[j] = rows[i + j].ts;
            bv[j] = rows[i + j].value;
        }
        MUST(meterdb_db_write(db, bp, bt, bv, NULL, k));
    }

    /* Expected: per point, by time, the last row of a repeated timestamp. */
    qsort(rows, n_rows, sizeof *rows, by_point_ts_row);
    size_t n_want = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (n_want > 0 && rows[n_want - 1].point == rows[i].point && rows[n_want - 1].ts == rows[i].ts)
            rows[n_want - 1] = rows[i];
        else
            rows[n_want++] = rows[i];
    }
    CHECK(n_want < n_rows); /* the data repeats some timestamps */

    verify_all(db, rows, n_want);
    OK(meterdb_db_flush(db));
    OK(meterdb_db_compact(db));
    verify_all(db, rows, n_want);
    meterdb_stats st;
    OK(meterdb_db_stats(db, &st));
    CHECK(st.points == n_points && st.segment_samples == n_want);
    OK(meterdb_db_close(db));
    meterdb_db_free(db);

    MUST(meterdb_db_open(dir, o, &db));
    meterdb_options_free(o);
    for (size_t p = 0; p < n_points; p++) {
        uint32_t id = UINT32_MAX;
        OK(meterdb_db_point_id(db, names[p], &id));
        CHECK(id == ids[p]);
    }
    verify_all(db, rows, n_want);
    size_t problems = 1;
    OK(meterdb_db_verify(db, &problems, NULL, 0, NULL));
    CHECK(problems == 0);
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    printf("     %zu rows, %zu points, %zu distinct samples written and read back\n", n_rows, n_points,
           n_want);

    free(rows);
    for (size_t p = 0; p < n_points; p++) free(names[p]);
    n_points = 0;
    h_rmdir(dir);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int by_ts(const void *a, const void *b) {
    const row_t *x = a, *y = b;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* Index of the first row of `r` (sorted by ts) with a timestamp after `t`. */
static size_t first_after(const row_t *r, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].ts <= t) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* The bindings' shared "query day consumption": the *register* points (cumulative registers,
 * defined as counters) are the running totals of their interval series over every row, so a
 * day in the database's default +08:00 zone with a register sample exactly at both
 * boundaries consumed the sum of the interval rows stamped after its start and up to and
 * including its end (the registers are rounded to 3 decimals: within 0.0011). */
static void test_shared_day_consumption(void) {
    if (!h_csv_path) {
        printf("skipping: ../shared/data not found\n");
        h_skipped = 1;
        return;
    }
    row_t *rows = NULL;
    size_t n_rows = load(&rows);
    CHECK(n_rows > 200000 && n_points == 9);
    if (n_rows == 0) return;
    OPEN_DB(db, dir);
    for (size_t p = 0; p < n_points; p++) {
        int counter = strstr(names[p], "register") != NULL;
        OK(meterdb_db_define_point(db, names[p], counter ? MDB_KIND_COUNTER : MDB_KIND_GAUGE, "kWh", 3,
                                   NULL, 0, 1.0, NULL, NULL, 0, &ids[p]));
    }
    static uint32_t bp[BATCH];
    static int64_t bt[BATCH];
    static double bv[BATCH];
    for (size_t i = 0; i < n_rows; i += BATCH) {
        size_t k = n_rows - i < BATCH ? n_rows - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            bp[j] = ids[rows[i + j].point];
            bt[j] = rows[i + j].ts;
            bv[j] = rows[i + j].value;
        }
        MUST(meterdb_db_write(db, bp, bt, bv, NULL, k));
    }
    OK(meterdb_db_flush(db));
    int32_t tz = 0;
    OK(meterdb_db_tz_offset_min(db, &tz));
    CHECK(tz == 480);

    size_t checked = 0;
    int64_t *reg_ts = malloc(n_rows * sizeof *reg_ts);
    row_t *series = malloc(n_rows * sizeof *series);
    for (size_t p = 0; p < n_points; p++) {
        const char *name = names[p], *reg = strstr(name, "-register-kwh"), *smp = strstr(name, "-sample-");
        if (!reg || !smp) continue;
        /* uk-electricity-sample-0-register-kwh <- uk-electricity-hdd-only-hourly-sample-0 */
        char interval[256];
        snprintf(interval, sizeof interval, "%.*s-hdd-only-hourly-sample-%.*s", (int)(smp - name), name,
                 (int)(reg - smp - 8), smp + 8);
        size_t q;
        for (q = 0; q < n_points && strcmp(names[q], interval) != 0; q++) {}
        CHECK(q < n_points);
        if (q == n_points) continue;
        size_t n_reg = 0, n_series = 0;
        for (size_t i = 0; i < n_rows; i++) {
            if (rows[i].point == p) reg_ts[n_reg++] = rows[i].ts;
            if (rows[i].point == q) series[n_series++] = rows[i]; /* every row, repeats too */
        }
        qsort(reg_ts, n_reg, sizeof *reg_ts, cmp_i64);
        qsort(series, n_series, sizeof *series, by_ts);

        meterdb_rollup *r = NULL;
        MUST(meterdb_db_rollup(db, ids[p], MDB_TIER_DAY, INT64_MIN, INT64_MAX, &r));
        size_t n_days = 0, got = 0;
        OK(meterdb_rollup_count(r, &n_days));
        meterdb_bucket_row *days = malloc((n_days + 1) * sizeof *days);
        OK(meterdb_rollup_rows(r, 0, days, n_days, &got));
        CHECK(got == n_days && n_days > 300);
        meterdb_rollup_free(r);
        size_t point_days = 0, bad = 0;
        for (size_t d = 0; d < got; d++) {
            if (!bsearch(&days[d].start, reg_ts, n_reg, sizeof *reg_ts, cmp_i64) ||
                !bsearch(&days[d].end, reg_ts, n_reg, sizeof *reg_ts, cmp_i64))
                continue;
            double want = 0;
            size_t hi = first_after(series, n_series, days[d].end);
            for (size_t i = first_after(series, n_series, days[d].start); i < hi; i++) want += series[i].value;
            if (!days[d].has_consumption || fabs(days[d].consumption - want) > 0.0011) {
                if (bad++ < 3)
                    fprintf(stderr, "    %s day %lld: %.6f, want %.6f\n", name, (long long)days[d].start,
                            days[d].consumption, want);
            }
            point_days++;
        }
        CHECK(bad == 0);
        CHECK(point_days > 100);
        checked += point_days;
        free(days);
    }
    CHECK(checked > 1000);
    printf("     register day consumption checked on %zu days\n", checked);
    free(reg_ts);
    free(series);
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    free(rows);
    for (size_t p = 0; p < n_points; p++) free(names[p]);
    n_points = 0;
    h_rmdir(dir);
}

const h_test shared_tests[] = {
    {"shared_data_round_trip", test_shared_round_trip},
    {"shared_data_day_consumption", test_shared_day_consumption},
};
const size_t shared_count = sizeof shared_tests / sizeof shared_tests[0];
