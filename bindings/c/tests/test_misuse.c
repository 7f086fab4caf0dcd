/* Misuse of every function: NULL handles and pointers, closed handles, wrong lengths,
 * invalid UTF-8, non-finite values, empty and overlong keys. Each gets its documented status
 * and message; none crashes. Also the documented semantics around them: metadata read-back,
 * listing, statistics, cursors that outlive their database, the per-thread last error. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

static const char BAD_UTF8[] = "caf\xe9";
static const int64_t T0 = INT64_C(1700000000000);

static uint32_t define_simple(meterdb_db *db, const char *key) {
    uint32_t id = UINT32_MAX;
    meterdb_db_define_point(db, key, MDB_KIND_GAUGE, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id);
    return id;
}

static void test_version(void) {
    CHECK(strlen(meterdb_version()) > 0);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH);
    CHECK(strcmp(meterdb_version(), want) == 0);
    CHECK(meterdb_version_number() ==
          (uint32_t)(MDB_VERSION_MAJOR * 1000000 + MDB_VERSION_MINOR * 1000 + MDB_VERSION_PATCH));
    CHECK(strcmp(meterdb_status_name(MDB_OK), "MDB_OK") == 0);
    CHECK(strcmp(meterdb_status_name(MDB_INVALID_UTF8), "MDB_INVALID_UTF8") == 0);
    CHECK(strcmp(meterdb_status_name(12345), "MDB_UNKNOWN_STATUS") == 0);
    CHECK(MDB_OK == 0 && MDB_CLOSED == 8 && MDB_NULL_ARGUMENT == 100 && MDB_PANIC == 103);
}

static void test_options_misuse(void) {
    EXPECT(meterdb_options_new(NULL), MDB_NULL_ARGUMENT, "out_opts is NULL");
    EXPECT(meterdb_options_set_durability(NULL, MDB_DURABILITY_NONE), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_sync_interval_ms(NULL, 10), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_memtable_bytes(NULL, 1 << 20), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_background(NULL, 0), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_partition_ms(NULL, 86400000), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_compaction_trigger(NULL, 4), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_flush_threads(NULL, 2), MDB_NULL_ARGUMENT, "opts is NULL");
    EXPECT(meterdb_options_set_create_if_missing(NULL, 1), MDB_NULL_ARGUMENT, "opts is NULL");
    meterdb_options_free(NULL);

    meterdb_options *o = NULL;
    MUST(meterdb_options_new(&o));
    EXPECT(meterdb_options_set_durability(o, 3), MDB_INVALID_ARGUMENT, "durability mode 3");
    EXPECT(meterdb_options_set_durability(o, -1), MDB_INVALID_ARGUMENT, "durability mode -1");
    EXPECT(meterdb_options_set_sync_interval_ms(o, 0), MDB_INVALID_ARGUMENT, "0 ms");
    OK(meterdb_options_set_durability(o, MDB_DURABILITY_INTERVAL));
    OK(meterdb_options_set_sync_interval_ms(o, 50));
    OK(meterdb_options_set_background(o, 0));
    OK(meterdb_options_set_create_if_missing(o, 0));
    /* create_if_missing off: no database there. */
    char *dir = h_tempdir();
    meterdb_db *db = (meterdb_db *)1;
    EXPECT(meterdb_db_open(dir, o, &db), MDB_NOT_FOUND, "no database");
    CHECK(db == NULL);
    /* Values checked when opening. */
    OK(meterdb_options_set_create_if_missing(o, 1));
    OK(meterdb_options_set_memtable_bytes(o, 10));
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "memtable_bytes");
    OK(meterdb_options_set_memtable_bytes(o, 1 << 20));
    OK(meterdb_options_set_partition_ms(o, 5));
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "partition_ms");
    OK(meterdb_options_set_partition_ms(o, 86400000));
    OK(meterdb_options_set_compaction_trigger(o, 1));
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "compaction_trigger");
    OK(meterdb_options_set_compaction_trigger(o, 3));
    OK(meterdb_options_set_flush_threads(o, 0));
    EXPECT(meterdb_db_open(dir, o, &db), MDB_INVALID_ARGUMENT, "flush_threads");
    OK(meterdb_options_set_flush_threads(o, 1));
    OK(meterdb_db_open(dir, o, &db));
    CHECK(db != NULL);
    meterdb_options_free(o); /* the database does not need its options any more */
    OK(meterdb_db_put(db, define_simple(db, "p"), T0, 1.0, MDB_QUALITY_VALID));
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_open_misuse(void) {
    char *dir = h_tempdir();
    meterdb_db *db = (meterdb_db *)1;
    EXPECT(meterdb_db_open(NULL, NULL, &db), MDB_NULL_ARGUMENT, "path is NULL");
    CHECK(db == NULL);
    EXPECT(meterdb_db_open(dir, NULL, NULL), MDB_NULL_ARGUMENT, "out_db is NULL");
    db = (meterdb_db *)1;
    EXPECT(meterdb_db_open(BAD_UTF8, NULL, &db), MDB_INVALID_UTF8, "path is not valid UTF-8");
    CHECK(db == NULL);
    /* A second open of the same directory: locked. */
    OK(meterdb_db_open(dir, NULL, &db));
    meterdb_db *db2 = (meterdb_db *)1;
    EXPECT(meterdb_db_open(dir, NULL, &db2), MDB_LOCKED, "locked");
    CHECK(db2 == NULL);
    /* A file where the directory should be. */
    char file[4200];
    snprintf(file, sizeof file, "%s/LOCK", dir);
    EXPECT(meterdb_db_open(file, NULL, &db2), MDB_INVALID_ARGUMENT, "is not a directory");
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* Every function that takes a database handle, with NULL for it. */
static void test_null_db(void) {
    int64_t ts = 0;
    double v = 0;
    uint8_t q = 0;
    int32_t found = 0;
    uint32_t id = 0, ids[4];
    size_t n = 0;
    uint32_t p = 0;
    meterdb_cursor *cur = NULL;
    meterdb_point_info *info = NULL;
    meterdb_stats st;
    meterdb_stats_report *rep = NULL;
    EXPECT(meterdb_db_put(NULL, 0, T0, 1.0, 1), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_write(NULL, &p, &ts, &v, NULL, 1), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_write_point(NULL, 0, &ts, &v, NULL, 1), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_delete_range(NULL, 0, 0, 1), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_latest(NULL, 0, &ts, &v, &q, &found), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_flush(NULL), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_compact(NULL), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_sync(NULL), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_verify(NULL, &n, NULL, 0, NULL), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_define_point(NULL, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_ensure_point(NULL, "k", &id), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_point_id(NULL, "k", &id), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_point_info(NULL, 0, &info), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(info == NULL);
    EXPECT(meterdb_db_list_points(NULL, NULL, MDB_KIND_ANY, NULL, ids, 4, &n), MDB_NULL_ARGUMENT, "db is NULL");
    cur = (meterdb_cursor *)1;
    EXPECT(meterdb_db_range(NULL, 0, 0, 1, &cur), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(cur == NULL);
    EXPECT(meterdb_db_stats(NULL, &st), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_stats_report(NULL, &rep), MDB_NULL_ARGUMENT, "db is NULL");
    CHECK(rep == NULL);
    /* Close and the destructors accept NULL. */
    OK(meterdb_db_close(NULL));
    meterdb_db_free(NULL);
    meterdb_cursor_free(NULL);
    meterdb_point_info_free(NULL);
    meterdb_stats_report_free(NULL);
    /* The handles of the other kinds. */
    EXPECT(meterdb_cursor_next(NULL, &ts, &v, &q, 1, &n), MDB_NULL_ARGUMENT, "cursor is NULL");
    EXPECT(meterdb_stats_report_totals(NULL, &st), MDB_NULL_ARGUMENT, "report is NULL");
    EXPECT(meterdb_stats_report_point_count(NULL, &n), MDB_NULL_ARGUMENT, "report is NULL");
    meterdb_point_stats ps;
    EXPECT(meterdb_stats_report_point(NULL, 0, &ps), MDB_NULL_ARGUMENT, "report is NULL");
}

/* Every out-pointer and required input pointer, with NULL. */
static void test_null_pointers(void) {
    OPEN_DB(db, dir);
    uint32_t id = define_simple(db, "p"), got = 0, ids[2];
    int64_t ts[2] = {T0, T0 + 1};
    double v[2] = {1, 2};
    uint8_t q[2] = {1, 1};
    uint32_t pts[2] = {id, id};
    int32_t found = 0;
    size_t n = 0;
    const char *tk[1] = {"site"}, *tv[1] = {"north"}, *tnull[1] = {NULL};

    EXPECT(meterdb_db_define_point(db, NULL, 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &got),
           MDB_NULL_ARGUMENT, "key is NULL");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, NULL),
           MDB_NULL_ARGUMENT, "id_out is NULL");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, tv, 1, &got),
           MDB_NULL_ARGUMENT, "tag_keys is NULL");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, tk, NULL, 1, &got),
           MDB_NULL_ARGUMENT, "tag_values is NULL");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, tk, tnull, 1, &got),
           MDB_NULL_ARGUMENT, "tag_values[0] is NULL");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, tnull, tv, 1, &got),
           MDB_NULL_ARGUMENT, "tag_keys[0] is NULL");
    EXPECT(meterdb_db_ensure_point(db, NULL, &got), MDB_NULL_ARGUMENT, "key is NULL");
    EXPECT(meterdb_db_ensure_point(db, "k", NULL), MDB_NULL_ARGUMENT, "id_out is NULL");
    EXPECT(meterdb_db_point_id(db, NULL, &got), MDB_NULL_ARGUMENT, "key is NULL");
    EXPECT(meterdb_db_point_id(db, "p", NULL), MDB_NULL_ARGUMENT, "id_out is NULL");
    EXPECT(meterdb_db_point_info(db, id, NULL), MDB_NULL_ARGUMENT, "out_info is NULL");
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, ids, 2, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, NULL, 2, &n), MDB_NULL_ARGUMENT, "ids is NULL");

    EXPECT(meterdb_db_write(db, NULL, ts, v, q, 2), MDB_NULL_ARGUMENT, "points is NULL");
    EXPECT(meterdb_db_write(db, pts, NULL, v, q, 2), MDB_NULL_ARGUMENT, "ts is NULL");
    EXPECT(meterdb_db_write(db, pts, ts, NULL, q, 2), MDB_NULL_ARGUMENT, "values is NULL");
    EXPECT(meterdb_db_write_point(db, id, NULL, v, q, 2), MDB_NULL_ARGUMENT, "ts is NULL");
    EXPECT(meterdb_db_write_point(db, id, ts, NULL, q, 2), MDB_NULL_ARGUMENT, "values is NULL");
    /* n == 0: nothing to read, NULL arrays are fine; quality NULL means "valid". */
    OK(meterdb_db_write(db, NULL, NULL, NULL, NULL, 0));
    OK(meterdb_db_write_point(db, id, NULL, NULL, NULL, 0));
    OK(meterdb_db_write(db, pts, ts, v, NULL, 2));

    int64_t lt = 0;
    double lv = 0;
    EXPECT(meterdb_db_latest(db, id, NULL, &lv, NULL, &found), MDB_NULL_ARGUMENT, "ts is NULL");
    EXPECT(meterdb_db_latest(db, id, &lt, NULL, NULL, &found), MDB_NULL_ARGUMENT, "value is NULL");
    EXPECT(meterdb_db_latest(db, id, &lt, &lv, NULL, NULL), MDB_NULL_ARGUMENT, "found is NULL");
    OK(meterdb_db_latest(db, id, &lt, &lv, NULL, &found)); /* quality is optional */
    CHECK(found == 1 && lt == T0 + 1 && lv == 2.0);

    EXPECT(meterdb_db_verify(db, NULL, NULL, 0, NULL), MDB_NULL_ARGUMENT, "n_problems is NULL");
    EXPECT(meterdb_db_stats(db, NULL), MDB_NULL_ARGUMENT, "out_stats is NULL");
    EXPECT(meterdb_db_stats_report(db, NULL), MDB_NULL_ARGUMENT, "out_report is NULL");
    EXPECT(meterdb_db_range(db, id, 0, 1, NULL), MDB_NULL_ARGUMENT, "out_cursor is NULL");

    meterdb_cursor *cur = NULL;
    MUST(meterdb_db_range(db, id, INT64_MIN, INT64_MAX, &cur));
    EXPECT(meterdb_cursor_next(cur, NULL, v, q, 2, &n), MDB_NULL_ARGUMENT, "ts is NULL");
    EXPECT(meterdb_cursor_next(cur, ts, NULL, q, 2, &n), MDB_NULL_ARGUMENT, "values is NULL");
    EXPECT(meterdb_cursor_next(cur, ts, v, q, 2, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    OK(meterdb_cursor_next(cur, ts, v, NULL, 2, &n)); /* quality is optional */
    CHECK(n == 2);
    meterdb_cursor_free(cur);

    meterdb_stats_report *rep = NULL;
    MUST(meterdb_db_stats_report(db, &rep));
    EXPECT(meterdb_stats_report_totals(rep, NULL), MDB_NULL_ARGUMENT, "out_stats is NULL");
    EXPECT(meterdb_stats_report_point_count(rep, NULL), MDB_NULL_ARGUMENT, "n_out is NULL");
    EXPECT(meterdb_stats_report_point(rep, 0, NULL), MDB_NULL_ARGUMENT, "out_stats is NULL");
    meterdb_stats_report_free(rep);
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* After meterdb_db_close, every call on the handle answers MDB_CLOSED. */
static void test_closed_handle(void) {
    OPEN_DB(db, dir);
    uint32_t id = define_simple(db, "p"), got, ids[2];
    OK(meterdb_db_put(db, id, T0, 42.5, MDB_QUALITY_VALID | MDB_QUALITY_MANUAL));
    meterdb_cursor *cur = NULL;
    MUST(meterdb_db_range(db, id, INT64_MIN, INT64_MAX, &cur));
    meterdb_stats_report *rep = NULL;
    MUST(meterdb_db_stats_report(db, &rep));
    meterdb_point_info *info = NULL;
    MUST(meterdb_db_point_info(db, id, &info));

    OK(meterdb_db_close(db));
    EXPECT(meterdb_db_close(db), MDB_CLOSED, "closed");
    int64_t ts = T0;
    double v = 1;
    uint8_t q;
    int32_t found;
    size_t n;
    meterdb_stats st;
    meterdb_cursor *c2 = (meterdb_cursor *)1;
    meterdb_point_info *i2 = (meterdb_point_info *)1;
    meterdb_stats_report *r2 = (meterdb_stats_report *)1;
    EXPECT(meterdb_db_put(db, id, T0, 1.0, 1), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_write(db, &id, &ts, &v, NULL, 1), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_write_point(db, id, &ts, &v, NULL, 1), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_delete_range(db, id, 0, 1), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_latest(db, id, &ts, &v, &q, &found), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_flush(db), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_compact(db), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_sync(db), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_verify(db, &n, NULL, 0, NULL), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &got), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_ensure_point(db, "k", &got), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_point_id(db, "p", &got), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_point_info(db, id, &i2), MDB_CLOSED, "closed");
    CHECK(i2 == NULL);
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, ids, 2, &n), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_range(db, id, 0, 1, &c2), MDB_CLOSED, "closed");
    CHECK(c2 == NULL);
    EXPECT(meterdb_db_stats(db, &st), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_stats_report(db, &r2), MDB_CLOSED, "closed");
    CHECK(r2 == NULL);

    /* What was made before the close lives on, and the lock was released. */
    int64_t cts[4];
    double cv[4];
    uint8_t cq[4];
    OK(meterdb_cursor_next(cur, cts, cv, cq, 4, &n));
    CHECK(n == 1 && cts[0] == T0 && cv[0] == 42.5 && cq[0] == (MDB_QUALITY_VALID | MDB_QUALITY_MANUAL));
    OK(meterdb_stats_report_point_count(rep, &n));
    CHECK(n == 1);
    CHECK(strcmp(info->key, "p") == 0);
    meterdb_db *again = NULL;
    OK(meterdb_db_open(dir, NULL, &again));
    meterdb_db_free(again);

    meterdb_db_free(db); /* free after close is fine */
    /* ... and the cursor, the report and the info still work after the handle is freed. */
    OK(meterdb_cursor_next(cur, cts, cv, cq, 4, &n));
    CHECK(n == 0);
    meterdb_point_stats ps;
    OK(meterdb_stats_report_point(rep, 0, &ps));
    CHECK(strcmp(ps.key, "p") == 0);
    meterdb_cursor_free(cur);
    meterdb_stats_report_free(rep);
    meterdb_point_info_free(info);
    h_rmdir(dir);
}

/* Every string argument, with bytes that are not UTF-8. */
static void test_invalid_utf8(void) {
    OPEN_DB(db, dir);
    uint32_t id, ids[4];
    size_t n;
    const char *good[1] = {"site"}, *bad[1] = {BAD_UTF8};
    EXPECT(meterdb_db_define_point(db, BAD_UTF8, 0, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_UTF8, "key is not valid UTF-8 (at byte 3 of 4)");
    EXPECT(meterdb_db_define_point(db, "k", 0, BAD_UTF8, -1, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_UTF8, "unit is not valid UTF-8");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, BAD_UTF8, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_UTF8, "energy_type is not valid UTF-8");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, bad, good, 1, &id),
           MDB_INVALID_UTF8, "tag_keys[0] is not valid UTF-8");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, good, bad, 1, &id),
           MDB_INVALID_UTF8, "tag_values[0] is not valid UTF-8");
    EXPECT(meterdb_db_ensure_point(db, BAD_UTF8, &id), MDB_INVALID_UTF8, "key is not valid UTF-8");
    EXPECT(meterdb_db_point_id(db, BAD_UTF8, &id), MDB_INVALID_UTF8, "key is not valid UTF-8");
    EXPECT(meterdb_db_list_points(db, BAD_UTF8, MDB_KIND_ANY, NULL, ids, 4, &n), MDB_INVALID_UTF8,
           "key_prefix is not valid UTF-8");
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, BAD_UTF8, ids, 4, &n), MDB_INVALID_UTF8,
           "energy_type is not valid UTF-8");
    /* Nothing was defined by the failed calls. */
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, ids, 4, &n), MDB_OK, "");
    CHECK(n == 0);
    /* Multibyte UTF-8 is fine. */
    OK(meterdb_db_define_point(db, "厂区一/电表", MDB_KIND_COUNTER, "kW·h", 2, NULL, 0, 1.0, NULL, NULL, 0, &id));
    uint32_t back = 99;
    OK(meterdb_db_point_id(db, "厂区一/电表", &back));
    CHECK(back == id);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_keys(void) {
    OPEN_DB(db, dir);
    uint32_t id;
    char key[300];
    memset(key, 'k', sizeof key);
    key[255] = 0;
    OK(meterdb_db_ensure_point(db, key, &id)); /* 255 bytes: the longest */
    key[255] = 'k';
    key[256] = 0;
    EXPECT(meterdb_db_ensure_point(db, key, &id), MDB_INVALID_ARGUMENT, "longer than 255");
    EXPECT(meterdb_db_ensure_point(db, "", &id), MDB_INVALID_ARGUMENT, "empty");
    EXPECT(meterdb_db_ensure_point(db, "a\nb", &id), MDB_INVALID_ARGUMENT, "control character");
    /* A huge string is refused without being read to its end. */
    size_t big = 100000;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = 0;
    EXPECT(meterdb_db_ensure_point(db, huge, &id), MDB_INVALID_ARGUMENT, "longer than 65536 bytes");
    free(huge);
    /* An unknown key. */
    EXPECT(meterdb_db_point_id(db, "nope", &id), MDB_NOT_FOUND, "\"nope\"");
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_bad_metadata(void) {
    OPEN_DB(db, dir);
    uint32_t id;
    const char *k[1] = {""}, *v[1] = {"x"};
    EXPECT(meterdb_db_define_point(db, "k", 2, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "point kind 2");
    EXPECT(meterdb_db_define_point(db, "k", MDB_KIND_ANY, NULL, -1, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "point kind -1");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -2, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "precision -2");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, 19, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "precision 19");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, 300, NULL, 0, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "precision 300");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, -5, 1.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "interval -5 ms");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, NAN, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "multiplier");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 0.0, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "multiplier");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, INFINITY, NULL, NULL, 0, &id),
           MDB_INVALID_ARGUMENT, "multiplier");
    EXPECT(meterdb_db_define_point(db, "k", 0, NULL, -1, NULL, 0, 1.0, k, v, 1, &id),
           MDB_INVALID_ARGUMENT, "tag");
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_non_finite_and_out_of_range(void) {
    OPEN_DB(db, dir);
    uint32_t id = define_simple(db, "p");
    EXPECT(meterdb_db_put(db, id, T0, NAN, 1), MDB_INVALID_ARGUMENT, "not finite");
    EXPECT(meterdb_db_put(db, id, T0, INFINITY, 1), MDB_INVALID_ARGUMENT, "not finite");
    EXPECT(meterdb_db_put(db, id, T0, -INFINITY, 1), MDB_INVALID_ARGUMENT, "not finite");
    EXPECT(meterdb_db_put(db, id, INT64_MAX, 1.0, 1), MDB_INVALID_ARGUMENT, "outside years 1000..=9999");
    EXPECT(meterdb_db_put(db, id, INT64_MIN, 1.0, 1), MDB_INVALID_ARGUMENT, "outside years");
    EXPECT(meterdb_db_put(db, id + 1, T0, 1.0, 1), MDB_NOT_FOUND, "not defined");
    /* One bad sample in a batch: nothing of the batch is written. */
    uint32_t p[3] = {id, id, id};
    int64_t ts[3] = {T0, T0 + 1, T0 + 2};
    double v[3] = {1.0, 2.0, NAN};
    EXPECT(meterdb_db_write(db, p, ts, v, NULL, 3), MDB_INVALID_ARGUMENT, "sample 2 of the batch");
    EXPECT(meterdb_db_write_point(db, id, ts, v, NULL, 3), MDB_INVALID_ARGUMENT, "sample 2");
    p[1] = 77;
    v[2] = 3.0;
    EXPECT(meterdb_db_write(db, p, ts, v, NULL, 3), MDB_NOT_FOUND, "point id 77");
    int64_t lt;
    double lv;
    int32_t found = -1;
    OK(meterdb_db_latest(db, id, &lt, &lv, NULL, &found));
    CHECK(found == 0);
    EXPECT(meterdb_db_latest(db, 77, &lt, &lv, NULL, &found), MDB_NOT_FOUND, "77");
    EXPECT(meterdb_db_delete_range(db, id, 10, 10), MDB_INVALID_ARGUMENT, "empty delete range");
    EXPECT(meterdb_db_delete_range(db, 77, 0, 10), MDB_NOT_FOUND, "77");
    meterdb_cursor *cur = (meterdb_cursor *)1;
    EXPECT(meterdb_db_range(db, 77, 0, 10, &cur), MDB_NOT_FOUND, "77");
    CHECK(cur == NULL);
    meterdb_point_info *info = (meterdb_point_info *)1;
    EXPECT(meterdb_db_point_info(db, 77, &info), MDB_NOT_FOUND, "77");
    CHECK(info == NULL);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_lengths(void) {
    OPEN_DB(db, dir);
    uint32_t id = define_simple(db, "p");
    define_simple(db, "q");
    define_simple(db, "r");
    int64_t ts[4] = {T0, T0 + 1, T0 + 2, T0 + 3};
    double v[4] = {1, 2, 3, 4};
    uint32_t p[4] = {id, id, id, id};
    /* Lengths no array can have. */
    EXPECT(meterdb_db_write(db, p, ts, v, NULL, SIZE_MAX), MDB_INVALID_ARGUMENT, "larger than any array");
    EXPECT(meterdb_db_write_point(db, id, ts, v, NULL, SIZE_MAX / 4), MDB_INVALID_ARGUMENT, "larger than any array");
    /* Misaligned arrays. */
    EXPECT(meterdb_db_write(db, p, (const int64_t *)((const char *)ts + 1), v, NULL, 2),
           MDB_INVALID_ARGUMENT, "ts is not aligned to 8 bytes");
    OK(meterdb_db_write(db, p, ts, v, NULL, 4));

    meterdb_cursor *cur = NULL;
    MUST(meterdb_db_range(db, id, INT64_MIN, INT64_MAX, &cur));
    int64_t ots[3];
    double ov[3];
    size_t n = 99;
    EXPECT(meterdb_cursor_next(cur, ots, ov, NULL, 0, &n), MDB_INVALID_ARGUMENT, "cap is 0");
    CHECK(n == 0);
    OK(meterdb_cursor_next(cur, ots, ov, NULL, 3, &n)); /* a full read: maybe more */
    CHECK(n == 3 && ots[0] == T0 && ov[2] == 3);
    OK(meterdb_cursor_next(cur, ots, ov, NULL, 3, &n)); /* a short read: the end */
    CHECK(n == 1 && ots[0] == T0 + 3 && ov[0] == 4);
    OK(meterdb_cursor_next(cur, ots, ov, NULL, 3, &n)); /* and 0 from then on */
    CHECK(n == 0);
    OK(meterdb_cursor_next(cur, ots, ov, NULL, 1, &n));
    CHECK(n == 0);
    meterdb_cursor_free(cur);
    /* An empty range. */
    MUST(meterdb_db_range(db, id, T0 + 5, T0, &cur));
    OK(meterdb_cursor_next(cur, ots, ov, NULL, 3, &n));
    CHECK(n == 0);
    meterdb_cursor_free(cur);

    /* Listing into a small array: the count and the first ids, and BUFFER_TOO_SMALL. */
    uint32_t ids[3] = {9, 9, 9};
    EXPECT(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, ids, 2, &n), MDB_BUFFER_TOO_SMALL,
           "3 points match, the array holds 2");
    CHECK(n == 3 && ids[0] == 0 && ids[1] == 1 && ids[2] == 9);
    OK(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, NULL, 0, &n)); /* the count query */
    CHECK(n == 3);
    OK(meterdb_db_list_points(db, NULL, MDB_KIND_ANY, NULL, ids, 3, &n));
    CHECK(n == 3 && ids[2] == 2);
    OK(meterdb_db_list_points(db, "zz", MDB_KIND_ANY, NULL, NULL, 0, &n));
    CHECK(n == 0);
    EXPECT(meterdb_db_list_points(db, NULL, 5, NULL, ids, 3, &n), MDB_INVALID_ARGUMENT, "point kind 5");

    /* Stats index past the end. */
    meterdb_stats_report *rep = NULL;
    MUST(meterdb_db_stats_report(db, &rep));
    meterdb_point_stats ps;
    EXPECT(meterdb_stats_report_point(rep, 3, &ps), MDB_INVALID_ARGUMENT, "index 3 is past");
    EXPECT(meterdb_stats_report_point(rep, SIZE_MAX, &ps), MDB_INVALID_ARGUMENT, "past");
    meterdb_stats_report_free(rep);

    /* Verify's message buffer: small, NULL, exact. */
    size_t problems = 9, len = 9;
    char buf[4] = "xyz";
    OK(meterdb_db_verify(db, &problems, buf, sizeof buf, &len));
    CHECK(problems == 0 && len == 0 && buf[0] == 0);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_metadata_and_listing(void) {
    OPEN_DB(db, dir);
    const char *tk[3] = {"site", "cabinet", "site"}, *tv[3] = {"south", "A3", "north"};
    uint32_t a, b, c, d;
    OK(meterdb_db_define_point(db, "ent-1/kwh", MDB_KIND_COUNTER, "kWh", 2, "0100", 900000, 1.5, tk, tv, 3, &a));
    OK(meterdb_db_define_point(db, "ent-1/kw", MDB_KIND_GAUGE, "kW", -1, NULL, 0, 1.0, NULL, NULL, 0, &b));
    OK(meterdb_db_define_point(db, "ent-2/kwh", MDB_KIND_COUNTER, "kWh", 3, "0100", 0, 1.0, NULL, NULL, 0, &c));
    OK(meterdb_db_ensure_point(db, "ent-2/temp", &d));
    CHECK(a == 0 && b == 1 && c == 2 && d == 3);
    /* Defining again with the same metadata keeps the id; ensure finds it. */
    uint32_t again;
    OK(meterdb_db_define_point(db, "ent-1/kw", MDB_KIND_GAUGE, "kW", -1, NULL, 0, 1.0, NULL, NULL, 0, &again));
    CHECK(again == b);
    OK(meterdb_db_ensure_point(db, "ent-1/kwh", &again));
    CHECK(again == a);

    meterdb_point_info *info = NULL;
    MUST(meterdb_db_point_info(db, a, &info));
    CHECK(info->id == a && info->kind == MDB_KIND_COUNTER);
    CHECK(strcmp(info->key, "ent-1/kwh") == 0 && strcmp(info->unit, "kWh") == 0);
    CHECK(strcmp(info->energy_type, "0100") == 0);
    CHECK(info->precision == 2 && info->interval_ms == 900000 && info->multiplier == 1.5);
    CHECK(info->n_tags == 2); /* the repeated name kept its last value */
    CHECK(strcmp(info->tag_keys[0], "cabinet") == 0 && strcmp(info->tag_values[0], "A3") == 0);
    CHECK(strcmp(info->tag_keys[1], "site") == 0 && strcmp(info->tag_values[1], "north") == 0);
    meterdb_point_info_free(info);
    MUST(meterdb_db_point_info(db, d, &info));
    CHECK(info->kind == MDB_KIND_GAUGE && strcmp(info->unit, "") == 0 && info->precision == -1);
    CHECK(info->interval_ms == 0 && info->multiplier == 1.0 && info->n_tags == 0);
    CHECK(info->tag_keys == NULL && info->tag_values == NULL);
    meterdb_point_info_free(info);

    uint32_t ids[8];
    size_t n;
    OK(meterdb_db_list_points(db, "ent-1/", MDB_KIND_ANY, NULL, ids, 8, &n));
    CHECK(n == 2 && ids[0] == a && ids[1] == b);
    OK(meterdb_db_list_points(db, NULL, MDB_KIND_COUNTER, NULL, ids, 8, &n));
    CHECK(n == 2 && ids[0] == a && ids[1] == c);
    OK(meterdb_db_list_points(db, NULL, MDB_KIND_GAUGE, NULL, ids, 8, &n));
    CHECK(n == 2 && ids[0] == b && ids[1] == d);
    OK(meterdb_db_list_points(db, "ent-2", MDB_KIND_ANY, "0100", ids, 8, &n));
    CHECK(n == 1 && ids[0] == c);
    OK(meterdb_db_list_points(db, "", MDB_KIND_ANY, NULL, ids, 8, &n));
    CHECK(n == 4);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_stats_verify_delete(void) {
    OPEN_DB(db, dir);
    uint32_t a = define_simple(db, "a"), b = define_simple(db, "b");
    int64_t ts[500];
    double v[500];
    for (int i = 0; i < 500; i++) {
        ts[i] = T0 + (int64_t)i * 60000;
        v[i] = i * 0.25;
    }
    OK(meterdb_db_write_point(db, a, ts, v, NULL, 500));
    OK(meterdb_db_write_point(db, b, ts, v, NULL, 100));
    OK(meterdb_db_delete_range(db, b, ts[0], ts[10]));
    meterdb_stats st;
    OK(meterdb_db_stats(db, &st));
    CHECK(st.points == 2 && st.memtable_samples >= 590 && st.wal_bytes > 0);
    OK(meterdb_db_flush(db));
    OK(meterdb_db_compact(db));
    OK(meterdb_db_sync(db));
    OK(meterdb_db_stats(db, &st));
    CHECK(st.segment_samples == 590 && st.memtable_samples == 0 && st.segment_files >= 1);
    CHECK(st.segment_bytes > 0);
    meterdb_stats_report *rep = NULL;
    MUST(meterdb_db_stats_report(db, &rep));
    meterdb_stats tot;
    OK(meterdb_stats_report_totals(rep, &tot));
    CHECK(memcmp(&tot, &st, sizeof st) == 0);
    size_t n;
    OK(meterdb_stats_report_point_count(rep, &n));
    CHECK(n == 2);
    meterdb_point_stats ps;
    OK(meterdb_stats_report_point(rep, 1, &ps));
    CHECK(ps.id == b && ps.samples == 90 && strcmp(ps.key, "b") == 0);
    CHECK(ps.bytes >= ps.ts_bytes + ps.value_bytes && strlen(ps.value_codecs) > 0);
    meterdb_stats_report_free(rep);
    size_t problems = 9, len = 9;
    OK(meterdb_db_verify(db, &problems, NULL, 0, &len));
    CHECK(problems == 0 && len == 0);
    int64_t lt;
    double lv;
    uint8_t lq;
    int32_t found;
    OK(meterdb_db_latest(db, b, &lt, &lv, &lq, &found));
    CHECK(found == 1 && lt == ts[99] && lv == v[99] && lq == MDB_QUALITY_VALID);
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* A cursor reads the snapshot of its creation, not later writes. */
static void test_cursor_snapshot(void) {
    OPEN_DB(db, dir);
    uint32_t id = define_simple(db, "p");
    OK(meterdb_db_put(db, id, T0, 1.0, 1));
    meterdb_cursor *cur = NULL;
    MUST(meterdb_db_range(db, id, INT64_MIN, INT64_MAX, &cur));
    OK(meterdb_db_put(db, id, T0, 2.0, 1));
    OK(meterdb_db_put(db, id, T0 + 1, 3.0, 1));
    OK(meterdb_db_flush(db));
    int64_t ts[4];
    double v[4];
    size_t n;
    OK(meterdb_cursor_next(cur, ts, v, NULL, 4, &n));
    CHECK(n == 1 && v[0] == 1.0);
    meterdb_cursor_free(cur);
    MUST(meterdb_db_range(db, id, INT64_MIN, INT64_MAX, &cur));
    OK(meterdb_cursor_next(cur, ts, v, NULL, 4, &n));
    CHECK(n == 2 && v[0] == 2.0 && v[1] == 3.0);
    meterdb_cursor_free(cur);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void *other_thread(void *arg) {
    /* A fresh thread has no last error; its failure does not touch the main thread's. */
    int *ok = arg;
    *ok = strcmp(meterdb_last_error(), "") == 0;
    meterdb_db_put(NULL, 0, 0, 0, 0);
    *ok = *ok && strstr(meterdb_last_error(), "db is NULL") != NULL;
    return NULL;
}

static void test_last_error(void) {
    EXPECT(meterdb_options_set_durability(NULL, 0), MDB_NULL_ARGUMENT, "opts is NULL");
    const char *msg = meterdb_last_error();
    char copy[256];
    snprintf(copy, sizeof copy, "%s", msg);
    pthread_t t;
    int ok = 0;
    CHECK(pthread_create(&t, NULL, other_thread, &ok) == 0);
    pthread_join(t, NULL);
    CHECK(ok);
    CHECK(strcmp(meterdb_last_error(), copy) == 0);
    char small[5];
    size_t len = meterdb_last_error_copy(small, sizeof small);
    CHECK(len == strlen(copy) && strncmp(small, copy, 4) == 0 && small[4] == 0);
    CHECK(meterdb_last_error_copy(NULL, 0) == strlen(copy));
    meterdb_options *o = NULL;
    OK(meterdb_options_new(&o)); /* a success clears it */
    CHECK(strcmp(meterdb_last_error(), "") == 0);
    CHECK(meterdb_last_error_copy(small, sizeof small) == 0 && small[0] == 0);
    meterdb_options_free(o);
}

struct writer {
    meterdb_db *db;
    uint32_t point;
    int failures;
};

static void *write_many(void *arg) {
    struct writer *w = arg;
    int64_t ts[250];
    double v[250];
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 250; i++) {
            ts[i] = T0 + (int64_t)(round * 250 + i) * 1000;
            v[i] = round + i * 0.001;
        }
        if (meterdb_db_write_point(w->db, w->point, ts, v, NULL, 250) != MDB_OK) w->failures++;
    }
    return NULL;
}

/* One handle shared by four writing threads. */
static void test_threads(void) {
    OPEN_DB(db, dir);
    pthread_t t[4];
    struct writer w[4];
    char key[16];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "p%d", i);
        w[i] = (struct writer){db, define_simple(db, key), 0};
        CHECK(pthread_create(&t[i], NULL, write_many, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].failures == 0);
    }
    meterdb_stats st;
    OK(meterdb_db_stats(db, &st));
    CHECK(st.memtable_samples + st.segment_samples == 4 * 40 * 250);
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    h_rmdir(dir);
}

const h_test misuse_tests[] = {
    {"version_and_status_names", test_version},
    {"options_misuse", test_options_misuse},
    {"open_misuse", test_open_misuse},
    {"null_db_handle_for_every_function", test_null_db},
    {"null_pointers_for_every_function", test_null_pointers},
    {"closed_handle_for_every_function", test_closed_handle},
    {"invalid_utf8_in_every_string", test_invalid_utf8},
    {"empty_overlong_and_control_keys", test_keys},
    {"bad_metadata", test_bad_metadata},
    {"non_finite_values_and_out_of_range", test_non_finite_and_out_of_range},
    {"wrong_lengths_and_capacities", test_lengths},
    {"metadata_and_listing", test_metadata_and_listing},
    {"stats_verify_delete", test_stats_verify_delete},
    {"cursor_snapshot", test_cursor_snapshot},
    {"last_error_per_thread", test_last_error},
    {"threads_share_one_handle", test_threads},
};
const size_t misuse_count = sizeof misuse_tests / sizeof misuse_tests[0];
