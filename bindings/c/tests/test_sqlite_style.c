/* The C ABI in the sqlite3.h tradition: an empty path or a file refused creating nothing in
 * the current directory, the metadata builder, a put without quality, streaming results with
 * a row limit (minute buckets between two readings years apart), and their misuse. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

_Static_assert(sizeof(meterdb_sample) == 24, "meterdb_sample layout");

static const int64_t D0 = INT64_C(1704038400000);

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_open_refuses_empty_path_and_file(void) {
    char *dir = h_tempdir();
    char old[4096];
    CHECK(dir != NULL && getcwd(old, sizeof old) != NULL);
    if (!dir || chdir(dir) != 0) { h_rmdir(dir); return; }
    FILE *f = fopen("plain", "w");
    if (f) { fputs("not a database", f); fclose(f); }
    meterdb_db *db = (meterdb_db *)&db;
    EXPECT(meterdb_db_open("", NULL, &db), MDB_INVALID_ARGUMENT, "path is empty");
    CHECK(db == NULL);
    EXPECT(meterdb_db_open("plain", NULL, &db), MDB_INVALID_ARGUMENT, "is not a directory");
    CHECK(db == NULL);
    CHECK(!exists("LOCK") && !exists("MANIFEST") && !exists("wal"));
    CHECK(chdir(old) == 0);
    h_rmdir(dir);
}

static void test_builder_put_value_and_streaming(void) {
    OPEN_DB(db, dir);
    meterdb_point_meta *m = NULL;
    uint32_t c = UINT32_MAX, again = UINT32_MAX;
    MUST(meterdb_point_meta_new("c", MDB_KIND_COUNTER, &m));
    OK(meterdb_point_meta_set_unit(m, "kWh"));
    OK(meterdb_point_meta_set_interval_ms(m, 900000));
    EXPECT(meterdb_point_meta_set_interval_ms(m, -1), MDB_INVALID_ARGUMENT, "negative");
    EXPECT(meterdb_point_meta_set_multiplier(m, 0.0), MDB_INVALID_ARGUMENT, "non-zero");
    OK(meterdb_db_define_point_meta(db, m, &c));
    meterdb_point_meta_free(m);
    MUST(meterdb_point_meta_new("c", MDB_KIND_GAUGE, &m));
    EXPECT(meterdb_db_define_point_meta(db, m, &again), MDB_ALREADY_EXISTS, "is a counter");
    meterdb_point_meta_free(m);

    /* Two readings three years apart: 1.58 million minute buckets, streamed with a limit. */
    OK(meterdb_db_put_value(db, c, D0, 100.0));
    OK(meterdb_db_put_value(db, c, D0 + 1096 * INT64_C(86400000), 1678000.0));
    int64_t ts = 0; double v = 0; uint8_t q = 0; int32_t found = 0;
    OK(meterdb_db_latest(db, c, &ts, &v, &q, &found));
    CHECK(found == 1 && q == MDB_QUALITY_VALID);
    meterdb_result *r = NULL;
    MUST(meterdb_db_query_rollup(db, c, MDB_TIER_MINUTE, INT64_MIN, INT64_MAX, 500, &r));
    CHECK(meterdb_result_kind(r) == MDB_ROW_BUCKET);
    int rows = 0, st;
    meterdb_bucket_row_v2 b;
    while ((st = meterdb_result_step(r)) == MDB_ROW) {
        OK(meterdb_result_bucket(r, &b));
        rows++;
    }
    CHECK(rows == 500 && st == MDB_LIMIT && b.has_consumption == 1);
    CHECK(strstr(meterdb_last_error(), "more than 500 rows") != NULL);
    meterdb_sample s;
    EXPECT(meterdb_result_sample(r, &s), MDB_INVALID_ARGUMENT, "not MDB_ROW_SAMPLE");
    meterdb_result_free(r);

    /* Raw samples in bulk. */
    MUST(meterdb_db_query_range(db, c, INT64_MIN, INT64_MAX, 0, &r));
    meterdb_sample got[4];
    size_t n = 0;
    EXPECT(meterdb_result_fetch(r, got, 8, 4, &n), MDB_INVALID_ARGUMENT, "row_size");
    OK(meterdb_result_fetch(r, got, sizeof got[0], 4, &n));
    CHECK(n == 2 && got[0].ts == D0 && got[1].value == 1678000.0);
    CHECK(meterdb_result_step(r) == MDB_DONE);
    meterdb_result_free(r);
    meterdb_result_free(NULL);
    EXPECT(meterdb_result_step(NULL), MDB_NULL_ARGUMENT, "result");

    /* The count query of list_points. */
    n = 0;
    OK(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, NULL, 0, &n));
    CHECK(n == 1);
    /* record_upload of a cursor the database does not have. */
    EXPECT(meterdb_db_record_upload(db, "nobody", 1, 1, 1, MDB_UPLOAD_OK, NULL, 0, 0, D0),
           MDB_NOT_FOUND, "nobody");
    meterdb_db_free(db);
    h_rmdir(dir);
}

const h_test sqlite_style_tests[] = {
    {"open_refuses_empty_path_and_file", test_open_refuses_empty_path_and_file},
    {"builder_put_value_and_streaming", test_builder_put_value_and_streaming},
};
const size_t sqlite_style_count = sizeof sqlite_style_tests / sizeof sqlite_style_tests[0];
