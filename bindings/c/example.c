/* MeterDB from C: open, define a point, write a batch, read it back with a cursor, latest,
 * and consumption per day. */
#include <stdio.h>
#include <stdlib.h>

#include "meterdb.h"

#define CHECK(call) do { if ((call) != MDB_OK) { \
    fprintf(stderr, "%s: %s\n", #call, meterdb_last_error()); exit(1); } } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "example.mdb";
    meterdb_db *db = NULL;
    CHECK(meterdb_db_open(path, NULL, &db)); /* NULL: default options (fsync every write) */

    uint32_t kwh;
    CHECK(meterdb_db_define_point(db, "plant-1/main-kwh", MDB_KIND_COUNTER, "kWh", 2, NULL,
                                  900000, 1.0, NULL, NULL, 0, &kwh));

    int64_t ts[96];
    double values[96];
    for (int i = 0; i < 96; i++) { /* one day of 15-minute readings */
        ts[i] = INT64_C(1795507200000) + i * INT64_C(900000);
        values[i] = 1000.0 + i * 2.5;
    }
    CHECK(meterdb_db_write_point(db, kwh, ts, values, NULL, 96));

    meterdb_cursor *cur = NULL;
    CHECK(meterdb_db_range(db, kwh, ts[0], ts[0] + 86400000, &cur));
    int64_t t[32];
    double v[32];
    size_t n, total = 0;
    do {
        CHECK(meterdb_cursor_next(cur, t, v, NULL, 32, &n));
        total += n;
    } while (n == 32);
    meterdb_cursor_free(cur);

    int64_t lt;
    double lv;
    int32_t found;
    CHECK(meterdb_db_latest(db, kwh, &lt, &lv, NULL, &found));
    printf("read %zu samples; latest %lld ms = %.2f kWh (libmeterdb %s)\n", total, (long long)lt, lv,
           meterdb_version());

    /* Consumption per calendar day (in the database's zone, +08:00 by default). */
    meterdb_rollup *days = NULL;
    CHECK(meterdb_db_rollup(db, kwh, MDB_TIER_DAY, ts[0], ts[95] + 1, &days));
    size_t n_days;
    CHECK(meterdb_rollup_count(days, &n_days));
    double used = 0;
    for (size_t i = 0; i < n_days; i++) {
        meterdb_bucket_row day;
        CHECK(meterdb_rollup_row(days, i, &day));
        if (day.has_consumption) used += day.consumption;
        printf("day from %lld: %llu readings, %.2f kWh\n", (long long)day.start,
               (unsigned long long)day.count, day.has_consumption ? day.consumption : 0.0);
    }
    meterdb_rollup_free(days);
    CHECK(meterdb_db_close(db));
    meterdb_db_free(db);
    return total == 96 && found && used == 95 * 2.5 ? 0 : 1;
}
