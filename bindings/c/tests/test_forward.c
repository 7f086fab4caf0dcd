/* Store-and-forward and export from C: an upload cursor's loop (read, ack, reopen, resume,
 * rewind), the upload log, a bundle round trip and a damaged bundle refused with nothing
 * applied, a backup opened as a database, retention set in the options, Parquet export to a
 * directory (when the library has it: METERDB_EXPECT_PARQUET=1 makes its absence a failure),
 * and misuse of the new functions (NULL, closed handle, bad UTF-8, unknown cursor, stale ack). */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"

/* The layouts other languages read by offset (64-bit platforms). */
_Static_assert(sizeof(meterdb_change) == 40, "meterdb_change layout");
_Static_assert(sizeof(meterdb_bucket_change) == 152, "meterdb_bucket_change layout");
_Static_assert(sizeof(meterdb_bucket_change_v2) == 192, "meterdb_bucket_change_v2 layout");
_Static_assert(offsetof(meterdb_bucket_change_v2, revision) == 8, "meterdb_bucket_change_v2 layout");
_Static_assert(offsetof(meterdb_bucket_change_v2, row) == 16, "meterdb_bucket_change_v2 layout");
_Static_assert(sizeof(meterdb_upload_record) == 64, "meterdb_upload_record layout");
_Static_assert(sizeof(meterdb_bundle_totals) == 48, "meterdb_bundle_totals layout");
_Static_assert(sizeof(meterdb_export_summary) == 48, "meterdb_export_summary layout");

/* 2024-01-01T00:00:00+08:00. */
static const int64_t D0 = INT64_C(1704038400000);
static const int64_t MINUTE = INT64_C(60000);
static const int64_t DAY = INT64_C(86400000);

static void path_in(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

static uint32_t point(meterdb_db *db, const char *key) {
    uint32_t id = UINT32_MAX;
    if (meterdb_db_ensure_point(db, key, &id) != MDB_OK)
        fprintf(stderr, "    ensure %s: %s\n", key, meterdb_last_error());
    return id;
}

static void fill(meterdb_db *db, uint32_t p, int n) {
    int64_t ts[256];
    double v[256];
    for (int i = 0; i < n && i < 256; i++) {
        ts[i] = D0 + i * MINUTE;
        v[i] = 1000.0 + i;
    }
    OK(meterdb_db_write_point(db, p, ts, v, NULL, (size_t)n));
}

/* Reads up to `max` changes into `out` (room for `max`); returns how many, or -1. */
static long read_changes(meterdb_db *db, const char *cursor, size_t max, meterdb_change *out) {
    meterdb_changes *ch = NULL;
    size_t n = 0, got = 0;
    if (meterdb_db_upload_cursor_read(db, cursor, max, &ch) != MDB_OK) {
        fprintf(stderr, "    read %s: %s\n", cursor, meterdb_last_error());
        return -1;
    }
    OK(meterdb_changes_count(ch, &n));
    OK(meterdb_changes_rows(ch, 0, out, max, &got));
    CHECK(got == n);
    meterdb_changes_free(ch);
    return (long)got;
}

/* Samples of a point in the whole range. */
static size_t count_samples(meterdb_db *db, uint32_t p, double *sum) {
    meterdb_cursor *c = NULL;
    int64_t ts[128];
    double v[128];
    size_t n, total = 0;
    *sum = 0;
    if (meterdb_db_range(db, p, INT64_MIN, INT64_MAX, &c) != MDB_OK) return 0;
    while (meterdb_cursor_next(c, ts, v, NULL, 128, &n) == MDB_OK && n > 0) {
        for (size_t i = 0; i < n; i++) *sum += v[i];
        total += n;
    }
    meterdb_cursor_free(c);
    return total;
}

/* The gateway's loop: read a batch, "send" it, acknowledge its last id; reopen in the middle
 * with a batch read and not acknowledged, which comes again after the reopen. */
static void test_cursor_loop(void) {
    OPEN_DB(db, dir);
    uint32_t p = point(db, "plant/kwh");
    OK(meterdb_db_upload_cursor_create(db, "province", MDB_CURSOR_OLDEST, 0));
    fill(db, p, 100);

    meterdb_change batch[32];
    int64_t sent_ts[200];
    size_t sent = 0;
    for (int round = 0; round < 2; round++) {
        long n = read_changes(db, "province", 30, batch);
        CHECK(n == 30);
        if (n <= 0) break;
        for (long i = 0; i < n; i++) {
            CHECK(batch[i].kind == MDB_CHANGE_PUT && batch[i].point == p);
            sent_ts[sent++] = batch[i].ts;
        }
        OK(meterdb_db_upload_cursor_ack(db, "province", batch[n - 1].id));
    }
    /* Read, not acknowledged (the upload "failed"), then the process stops. */
    long lost = read_changes(db, "province", 30, batch);
    CHECK(lost == 30);
    uint64_t first_unacked = batch[0].id;
    OK(meterdb_db_close(db));
    meterdb_db_free(db);

    MUST(meterdb_db_open(dir, NULL, &db));
    meterdb_upload_cursor_list *list = NULL;
    size_t nlist = 0;
    OK(meterdb_db_upload_cursor_list(db, &list));
    OK(meterdb_upload_cursor_list_count(list, &nlist));
    CHECK(nlist == 1);
    meterdb_upload_cursor_info info;
    OK(meterdb_upload_cursor_list_row(list, 0, &info));
    CHECK(strcmp(info.name, "province") == 0);
    CHECK(info.acked == first_unacked);
    meterdb_upload_cursor_list_free(list);

    long n;
    int first = 1;
    while ((n = read_changes(db, "province", 32, batch)) > 0) {
        if (first) CHECK(batch[0].id == first_unacked);
        first = 0;
        for (long i = 0; i < n; i++) sent_ts[sent++] = batch[i].ts;
        OK(meterdb_db_upload_cursor_ack(db, "province", batch[n - 1].id));
    }
    CHECK(n == 0);
    CHECK(sent == 100);
    for (size_t i = 0; i < sent && i < 100; i++) CHECK(sent_ts[i] == D0 + (int64_t)i * MINUTE);

    /* A stale ack, an id not read, rewinding. */
    EXPECT(meterdb_db_upload_cursor_ack(db, "province", first_unacked), MDB_INVALID_ARGUMENT, "below");
    EXPECT(meterdb_db_upload_cursor_ack(db, "province", UINT64_C(1) << 60), MDB_INVALID_ARGUMENT,
           "has not been read");
    OK(meterdb_db_put(db, p, D0 + 500 * MINUTE, 1.0, MDB_QUALITY_VALID));
    CHECK(read_changes(db, "province", 8, batch) == 1);
    OK(meterdb_db_upload_cursor_rewind(db, "province"));
    CHECK(read_changes(db, "province", 8, batch) == 1);
    CHECK(batch[0].ts == D0 + 500 * MINUTE);
    OK(meterdb_db_upload_cursor_drop(db, "province"));
    EXPECT(meterdb_db_upload_cursor_drop(db, "province"), MDB_NOT_FOUND, "province");
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_bucket_cursor(void) {
    OPEN_DB(db, dir);
    uint32_t p = point(db, "kw");
    OK(meterdb_db_upload_cursor_create(db, "daily", MDB_CURSOR_OLDEST, 0));
    for (int h = 0; h < 48; h++) OK(meterdb_db_put(db, p, D0 + h * 3600000LL, 2.0, MDB_QUALITY_VALID));
    meterdb_bucket_changes *b = NULL;
    size_t n = 0;
    OK(meterdb_db_upload_cursor_read_buckets(db, "daily", MDB_TIER_DAY, 10, 1, D0 + 2 * DAY, &b));
    OK(meterdb_bucket_changes_count(b, &n));
    CHECK(n == 2);
    meterdb_bucket_change row;
    OK(meterdb_bucket_changes_row(b, 1, &row));
    CHECK(row.point == p && row.row.start == D0 + DAY && row.row.count == 24 && row.row.sum == 48.0);
    OK(meterdb_db_upload_cursor_ack_buckets(db, "daily", MDB_TIER_DAY, row.row.start, row.point));
    meterdb_bucket_changes_free(b);
    OK(meterdb_db_upload_cursor_read_buckets(db, "daily", MDB_TIER_DAY, 10, 1, D0 + 2 * DAY, &b));
    OK(meterdb_bucket_changes_count(b, &n));
    CHECK(n == 0);
    meterdb_bucket_changes_free(b);
    meterdb_db_free(db);
    h_rmdir(dir);
}

/* The _v2 rows of a statistics cursor: quality counts, revision, and a corrected bucket sent
 * again after its acknowledgement. */
static void test_bucket_cursor_v2(void) {
    OPEN_DB(db, dir);
    uint32_t p = point(db, "kw");
    OK(meterdb_db_upload_cursor_create(db, "daily", MDB_CURSOR_OLDEST, 0));
    for (int h = 0; h < 24; h++) {
        uint8_t q = h == 3 ? 0
                  : h == 5 ? (MDB_QUALITY_VALID | MDB_QUALITY_MANUAL)
                  : h == 7 ? (MDB_QUALITY_VALID | MDB_QUALITY_ESTIMATED)
                           : MDB_QUALITY_VALID;
        OK(meterdb_db_put(db, p, D0 + h * 3600000LL, 2.0, q));
    }
    OK(meterdb_db_put(db, p, D0 + DAY + 3600000LL, 2.0, MDB_QUALITY_VALID));
    meterdb_bucket_changes *b = NULL;
    size_t n = 0;
    meterdb_bucket_change_v2 first, again;
    MUST(meterdb_db_upload_cursor_read_buckets(db, "daily", MDB_TIER_DAY, 10, 1, D0 + DAY, &b));
    OK(meterdb_bucket_changes_rows_v2(b, 0, &first, 1, &n));
    CHECK(n == 1);
    CHECK(first.point == p && first.row.start == D0 && first.corrected == 0 && first.revision > 0);
    CHECK(first.row.count == 23 && first.row.invalid == 1 && first.row.manual == 1 && first.row.estimated == 1);
    EXPECT(meterdb_bucket_changes_row_v2(b, 1, &again), MDB_INVALID_ARGUMENT, "past the");
    meterdb_bucket_changes_free(b);
    OK(meterdb_db_upload_cursor_ack_buckets(db, "daily", MDB_TIER_DAY, D0, p));
    OK(meterdb_db_put(db, p, D0 + 3 * 3600000LL, 10.0, MDB_QUALITY_VALID));
    MUST(meterdb_db_upload_cursor_read_buckets(db, "daily", MDB_TIER_DAY, 10, 1, D0 + DAY, &b));
    OK(meterdb_bucket_changes_count(b, &n));
    CHECK(n == 1);
    OK(meterdb_bucket_changes_row_v2(b, 0, &again));
    CHECK(again.point == p && again.row.start == D0 && again.corrected == 1);
    CHECK(again.revision > first.revision);
    CHECK(again.row.count == 24 && again.row.invalid == 0 && again.row.sum == 56.0);
    meterdb_bucket_changes_free(b);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_upload_records(void) {
    OPEN_DB(db, dir);
    EXPECT(meterdb_db_record_upload(db, "province", 1, 5, 5, MDB_UPLOAD_OK, NULL, 0, 0, D0),
           MDB_NOT_FOUND, "no upload cursor is named");
    OK(meterdb_db_upload_cursor_create(db, "province", MDB_CURSOR_NOW, 0));
    OK(meterdb_db_record_upload(db, "province", 1, 5, 5, MDB_UPLOAD_FAILED, "connection refused", 0, 0, D0));
    OK(meterdb_db_record_upload(db, "province", 1, 5, 5, MDB_UPLOAD_OK, NULL, 1, D0 + 7, D0 + MINUTE));
    EXPECT(meterdb_db_record_upload(db, "province", 1, 5, 5, MDB_UPLOAD_FAILED, NULL, 0, 0, D0),
           MDB_NULL_ARGUMENT, "message");
    meterdb_upload_records *r = NULL;
    size_t n = 0;
    OK(meterdb_db_upload_records(db, INT64_MIN, INT64_MAX, MDB_UPLOAD_FAILED, &r));
    OK(meterdb_upload_records_count(r, &n));
    CHECK(n == 1);
    meterdb_upload_record rec;
    OK(meterdb_upload_records_row(r, 0, &rec));
    CHECK(strcmp(rec.cursor, "province") == 0 && strcmp(rec.message, "connection refused") == 0);
    CHECK(rec.outcome == MDB_UPLOAD_FAILED && rec.has_platform_time == 0 && rec.at == D0);
    meterdb_upload_records_free(r);
    OK(meterdb_db_upload_records(db, D0 + 1, INT64_MAX, MDB_UPLOADS_ALL, &r));
    OK(meterdb_upload_records_count(r, &n));
    CHECK(n == 1);
    OK(meterdb_upload_records_row(r, 0, &rec));
    CHECK(rec.outcome == MDB_UPLOAD_OK && rec.has_platform_time == 1 && rec.platform_time == D0 + 7);
    CHECK(strcmp(rec.message, "") == 0 && rec.last_id == 5 && rec.samples == 5);
    meterdb_upload_records_free(r);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_bundle_round_trip(void) {
    char *dir, *dir2, *dir3;
    meterdb_db *src = h_open(&dir);
    meterdb_db *dst = h_open(&dir2);
    meterdb_db *untouched = h_open(&dir3);
    CHECK(src && dst && untouched);
    if (!src || !dst || !untouched) goto out;
    uint32_t a = point(src, "plant/a"), b = point(src, "plant/b");
    fill(src, a, 120);
    fill(src, b, 60);
    char file[4200], bad[4200];
    path_in(file, sizeof file, dir, "range.mdbb");
    path_in(bad, sizeof bad, dir, "damaged.mdbb");

    meterdb_bundle_report *rep = NULL;
    meterdb_bundle_totals tot;
    MUST(meterdb_db_export_bundle(src, file, NULL, 0, INT64_MIN, INT64_MAX, &rep));
    OK(meterdb_bundle_report_totals(rep, &tot));
    CHECK(tot.points == 2 && tot.samples == 180 && tot.deletes == 0);
    meterdb_bundle_point bp;
    OK(meterdb_bundle_report_point(rep, 0, &bp));
    CHECK(strcmp(bp.key, "plant/a") == 0 && bp.samples == 120 && bp.min_ts == D0);
    meterdb_bundle_report_free(rep);

    OK(meterdb_db_verify_bundle(dst, file, NULL));
    OK(meterdb_db_import_bundle(dst, file, &rep));
    OK(meterdb_bundle_report_totals(rep, &tot));
    CHECK(tot.samples == 180);
    meterdb_bundle_report_free(rep);
    OK(meterdb_db_import_bundle(dst, file, NULL)); /* twice: the same data as once */
    uint32_t a2 = UINT32_MAX;
    OK(meterdb_db_point_id(dst, "plant/a", &a2));
    double s1, s2;
    CHECK(count_samples(dst, a2, &s1) == 120);
    CHECK(count_samples(src, a, &s2) == 120);
    CHECK(s1 == s2);

    /* One byte damaged in the middle: refused, nothing applied. */
    FILE *f = fopen(file, "rb");
    CHECK(f != NULL);
    if (!f) goto out;
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(len > 100 && len < sizeof buf);
    buf[len / 2] ^= 0x10;
    f = fopen(bad, "wb");
    CHECK(f != NULL);
    if (!f) goto out;
    fwrite(buf, 1, len, f);
    fclose(f);
    rep = (meterdb_bundle_report *)&tot; /* set to NULL on failure */
    EXPECT(meterdb_db_verify_bundle(untouched, bad, &rep), MDB_CORRUPTION, "damaged.mdbb");
    CHECK(rep == NULL);
    EXPECT(meterdb_db_import_bundle(untouched, bad, &rep), MDB_CORRUPTION, "damaged.mdbb");
    uint32_t none;
    EXPECT(meterdb_db_point_id(untouched, "plant/a", &none), MDB_NOT_FOUND, "plant/a");
    meterdb_stats st;
    OK(meterdb_db_stats(untouched, &st));
    CHECK(st.points == 0 && st.memtable_samples == 0 && st.segment_samples == 0);

    /* A cursor bundle: the pending changes, acknowledged by the last id once delivered. */
    OK(meterdb_db_upload_cursor_create(src, "isolation", MDB_CURSOR_NOW, 0));
    OK(meterdb_db_put(src, a, D0 + 1000 * MINUTE, 5.0, MDB_QUALITY_VALID));
    OK(meterdb_db_put(src, b, D0 + 1000 * MINUTE, 6.0, MDB_QUALITY_VALID));
    path_in(file, sizeof file, dir, "cursor.mdbb");
    OK(meterdb_db_export_cursor_bundle(src, file, "isolation", &rep));
    OK(meterdb_bundle_report_totals(rep, &tot));
    CHECK(tot.samples == 2 && tot.last_id > tot.first_id);
    OK(meterdb_db_upload_cursor_ack(src, "isolation", tot.last_id));
    meterdb_bundle_report_free(rep);
out:
    meterdb_db_free(src);
    meterdb_db_free(dst);
    meterdb_db_free(untouched);
    h_rmdir(dir);
    h_rmdir(dir2);
    h_rmdir(dir3);
}

static void test_backup(void) {
    OPEN_DB(db, dir);
    uint32_t p = point(db, "m");
    fill(db, p, 200);
    OK(meterdb_db_flush(db));
    OK(meterdb_db_put(db, p, D0 + 300 * MINUTE, 7.5, MDB_QUALITY_VALID)); /* only in the WAL */
    char copy[4200];
    path_in(copy, sizeof copy, dir, "backup");
    meterdb_backup_report r;
    MUST(meterdb_db_backup(db, copy, &r));
    CHECK(r.linked_files + r.copied_files > 0 && r.wal_seq > 0);
    meterdb_db *c = NULL;
    MUST(meterdb_db_open(copy, NULL, &c));
    uint32_t p2 = UINT32_MAX;
    OK(meterdb_db_point_id(c, "m", &p2));
    double s1, s2;
    CHECK(count_samples(c, p2, &s1) == 201);
    CHECK(count_samples(db, p, &s2) == 201);
    CHECK(s1 == s2);
    meterdb_db_free(c);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_retention(void) {
    char *dir = h_tempdir();
    meterdb_options *o = NULL;
    meterdb_db *db = NULL;
    MUST(meterdb_options_new(&o));
    OK(meterdb_options_set_partition_ms(o, DAY));
    OK(meterdb_options_set_background(o, 0));
    OK(meterdb_options_set_durability(o, MDB_DURABILITY_NONE));
    EXPECT(meterdb_options_set_retention(o, 9, 1, 1), MDB_INVALID_ARGUMENT, "tier 9");
    OK(meterdb_options_set_retention(o, MDB_TIER_MONTH, -1, INT64_C(1) << 30));
    if (meterdb_db_open(dir, o, &db) != MDB_OK) {
        CHECK(0);
        meterdb_options_free(o);
        h_rmdir(dir);
        return;
    }
    uint32_t p = point(db, "m");
    for (int d = 0; d < 8; d++) OK(meterdb_db_put(db, p, D0 + d * DAY + 5, d, MDB_QUALITY_VALID));
    OK(meterdb_db_flush(db));
    OK(meterdb_db_close(db));
    meterdb_db_free(db);
    OK(meterdb_options_set_retention(o, 0, 2 * DAY, -1)); /* raw: two days */
    MUST(meterdb_db_open(dir, o, &db));
    meterdb_options_free(o);
    meterdb_retention_report *rep = NULL;
    OK(meterdb_db_apply_retention(db, &rep));
    meterdb_retention_totals t;
    OK(meterdb_retention_report_totals(rep, &t));
    CHECK(t.dropped_partitions >= 5 && t.dropped_bytes > 0 && t.full == 0);
    int32_t tier = -1;
    int64_t start = 0;
    OK(meterdb_retention_report_dropped(rep, 0, &tier, &start));
    CHECK(tier == 0 && start <= D0 + DAY);
    CHECK(strcmp(meterdb_retention_report_forced_cursor(rep, 0), "") == 0);
    meterdb_retention_report_free(rep);
    double s;
    size_t kept = count_samples(db, p, &s);
    CHECK(kept >= 1 && kept <= 3);
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_export(void) {
    OPEN_DB(db, dir);
    uint32_t p = point(db, "plant/a");
    point(db, "plant/b");
    for (int h = 0; h < 30; h++) OK(meterdb_db_put(db, p, D0 + h * 3600000LL, h, MDB_QUALITY_VALID));
    char out[4200];
    path_in(out, sizeof out, dir, "parquet");
    const char *keys[] = {"plant/a"};
    meterdb_export_summary s;
    int st = meterdb_export(db, out, MDB_EXPORT_RAW, D0, D0 + 2 * DAY, keys, 1, &s);
    if (!meterdb_has_parquet()) {
        CHECK(st == MDB_UNSUPPORTED);
        CHECK(strstr(meterdb_last_error(), "--features parquet") != NULL);
        const char *want = getenv("METERDB_EXPECT_PARQUET");
        if (want && strcmp(want, "1") == 0) {
            fprintf(stderr, "    libmeterdb was built without the parquet feature\n");
            CHECK(0);
        } else {
            h_skipped = 1;
            fprintf(stderr, "    skipped: libmeterdb built without the parquet feature\n");
        }
    } else {
        CHECK(st == MDB_OK);
        if (st != MDB_OK) fprintf(stderr, "    export: %s\n", meterdb_last_error());
        CHECK(s.rows == 30 && s.points == 1 && s.files >= 2 && s.bytes > 0);
        char part[4300];
        struct stat sb;
        snprintf(part, sizeof part, "%s/tier=raw/date=2024-01-01/part-0.parquet", out);
        CHECK(stat(part, &sb) == 0 && sb.st_size > 0);
        OK(meterdb_export(db, out, MDB_TIER_DAY, D0, D0 + 2 * DAY, NULL, 0, &s));
        CHECK(s.rows == 2 && s.points == 2);
        EXPECT(meterdb_export(db, out, MDB_EXPORT_RAW, D0, D0, NULL, 0, NULL), MDB_INVALID_ARGUMENT, "empty range");
        const char *unknown[] = {"nope"};
        EXPECT(meterdb_export(db, out, MDB_EXPORT_RAW, D0, D0 + DAY, unknown, 1, NULL), MDB_NOT_FOUND, "nope");
    }
    meterdb_db_free(db);
    h_rmdir(dir);
}

static void test_forward_misuse(void) {
    static const char BAD[] = "caf\xe9";
    OPEN_DB(db, dir);
    meterdb_changes *ch = NULL;
    meterdb_bucket_changes *bk = NULL;
    meterdb_upload_cursor_list *ls = NULL;
    meterdb_upload_records *rec = NULL;
    meterdb_bundle_report *rep = NULL;
    size_t n;
    EXPECT(meterdb_db_upload_cursor_create(NULL, "c", 0, 0), MDB_NULL_ARGUMENT, "db is NULL");
    EXPECT(meterdb_db_upload_cursor_create(db, NULL, 0, 0), MDB_NULL_ARGUMENT, "name is NULL");
    EXPECT(meterdb_db_upload_cursor_create(db, BAD, 0, 0), MDB_INVALID_UTF8, "name");
    EXPECT(meterdb_db_upload_cursor_create(db, "c", 42, 0), MDB_INVALID_ARGUMENT, "MDB_CURSOR_OLDEST");
    EXPECT(meterdb_db_upload_cursor_read(db, "nobody", 10, &ch), MDB_NOT_FOUND, "nobody");
    CHECK(ch == NULL);
    EXPECT(meterdb_db_upload_cursor_ack(db, "nobody", 1), MDB_NOT_FOUND, "nobody");
    EXPECT(meterdb_db_upload_cursor_read(db, "c", 10, NULL), MDB_NULL_ARGUMENT, "out_changes");
    OK(meterdb_db_upload_cursor_create(db, "c", MDB_CURSOR_NOW, 0));
    EXPECT(meterdb_db_upload_cursor_create(db, "c", MDB_CURSOR_NOW, 0), MDB_ALREADY_EXISTS, "exists");
    EXPECT(meterdb_db_upload_cursor_read(db, "c", 0, &ch), MDB_INVALID_ARGUMENT, "max is 0");
    EXPECT(meterdb_db_upload_cursor_read_buckets(db, "c", 0, 1, 0, 0, &bk), MDB_INVALID_ARGUMENT, "tier 0");
    EXPECT(meterdb_changes_count(NULL, &n), MDB_NULL_ARGUMENT, "changes is NULL");
    EXPECT(meterdb_db_export_bundle(db, "/nonexistent-dir/x.mdbb", NULL, 0, 0, 1, &rep), MDB_IO, "nonexistent");
    EXPECT(meterdb_db_import_bundle(db, BAD, &rep), MDB_INVALID_UTF8, "path");
    EXPECT(meterdb_db_backup(db, NULL, NULL), MDB_NULL_ARGUMENT, "dir is NULL");
    EXPECT(meterdb_db_upload_records(db, 0, 1, 7, &rec), MDB_INVALID_ARGUMENT, "outcome 7");
    meterdb_changes_free(NULL);
    meterdb_bucket_changes_free(NULL);
    meterdb_upload_cursor_list_free(NULL);
    meterdb_upload_records_free(NULL);
    meterdb_bundle_report_free(NULL);
    meterdb_retention_report_free(NULL);

    OK(meterdb_db_close(db));
    EXPECT(meterdb_db_upload_cursor_create(db, "d", 0, 0), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_upload_cursor_read(db, "c", 1, &ch), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_upload_cursor_ack(db, "c", 0), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_upload_cursor_list(db, &ls), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_record_upload(db, "c", 0, 0, 0, 0, NULL, 0, 0, 0), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_upload_records(db, 0, 1, -1, &rec), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_backup(db, "x", NULL), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_export_bundle(db, "x", NULL, 0, 0, 1, &rep), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_import_bundle(db, "x", &rep), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_apply_retention(db, NULL), MDB_CLOSED, "closed");
    EXPECT(meterdb_export(db, "x", 0, 0, 1, NULL, 0, NULL), MDB_CLOSED, "closed");
    CHECK(ch == NULL && ls == NULL && rec == NULL && rep == NULL);
    meterdb_db_free(db);
    h_rmdir(dir);
}

const h_test forward_tests[] = {
    {"upload_cursor_loop_read_ack_reopen_resume", test_cursor_loop},
    {"upload_cursor_day_buckets", test_bucket_cursor},
    {"upload_cursor_day_buckets_v2", test_bucket_cursor_v2},
    {"upload_records", test_upload_records},
    {"bundle_round_trip_and_damaged_bundle", test_bundle_round_trip},
    {"backup_then_open_the_copy", test_backup},
    {"retention_in_the_options", test_retention},
    {"parquet_export", test_export},
    {"forward_misuse", test_forward_misuse},
};
const size_t forward_count = sizeof forward_tests / sizeof forward_tests[0];
