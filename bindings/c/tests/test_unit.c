/* The unit catalog from C: credit codes (checked against a check-character computation
 * written here from GB 32100-2015), data-item codes parsed and formatted, a full update and
 * a delta given as text, the points' metadata they define, reopening, a stale base version
 * (MDB_CONFLICT), invalid updates that change nothing, the history, and misuse (NULL, bad
 * UTF-8, a closed handle). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

_Static_assert(sizeof(meterdb_data_item) == 16, "meterdb_data_item layout");
_Static_assert(sizeof(meterdb_unit_version) == 56, "meterdb_unit_version layout");

static const char CHARSET[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int WEIGHTS[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

/* Completes 17 characters with their check character (out: 19 bytes). */
static void credit_code(const char *prefix17, char *out) {
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        sum += (int)(strchr(CHARSET, prefix17[i]) - CHARSET) * WEIGHTS[i];
    }
    memcpy(out, prefix17, 17);
    out[17] = CHARSET[(31 - sum % 31) % 31];
    out[18] = 0;
}

static void test_credit_codes(void) {
    const char *prefixes[] = {"91350100MA2XY7K3P", "91110000600001760", "12100000400000624",
                              "52310000MJ4973281", "9144030071526726X"};
    char code[19];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        credit_code(prefixes[i], code);
        OK(meterdb_credit_code_validate(code));
        /* Any other check character is refused. */
        for (const char *c = CHARSET; *c; c++) {
            if (*c == code[17]) continue;
            char bad[19];
            memcpy(bad, code, 19);
            bad[17] = *c;
            EXPECT(meterdb_credit_code_validate(bad), MDB_INVALID_ARGUMENT, "check character");
        }
    }
    EXPECT(meterdb_credit_code_validate("91350100MA2XI7K3PW"), MDB_INVALID_ARGUMENT, "character 13");
    EXPECT(meterdb_credit_code_validate("91350100ma2xy7k3pw"), MDB_INVALID_ARGUMENT, "upper case");
    EXPECT(meterdb_credit_code_validate("9135"), MDB_INVALID_ARGUMENT, "not 18");
    EXPECT(meterdb_credit_code_validate(""), MDB_INVALID_ARGUMENT, "not 18");
    EXPECT(meterdb_credit_code_validate(NULL), MDB_NULL_ARGUMENT, "code");
    EXPECT(meterdb_credit_code_validate("91350100MA2XY7K3P\xff"), MDB_INVALID_UTF8, "UTF-8");
}

static void test_data_item_codes(void) {
    meterdb_data_item it;
    OK(meterdb_data_item_parse("0301200220050002", &it));
    CHECK(it.energy_type == 301 && it.stage == 2 && it.unit_code == 2 && it.object_type == 2 &&
          it.object_code == 5 && it.item_type == 2);
    char buf[17];
    OK(meterdb_data_item_format(&it, buf, sizeof buf));
    CHECK(strcmp(buf, "0301200220050002") == 0);
    EXPECT(meterdb_data_item_format(&it, buf, 16), MDB_BUFFER_TOO_SMALL, "17 bytes");
    meterdb_data_item max = {9999, 999, 999, 9999, 6, 5};
    OK(meterdb_data_item_format(&max, buf, sizeof buf));
    CHECK(strcmp(buf, "9999699959999999") == 0);
    max.energy_type = 10000;
    EXPECT(meterdb_data_item_format(&max, buf, sizeof buf), MDB_INVALID_ARGUMENT, "out of range");
    meterdb_data_item bad_stage = {100, 1, 3, 1, 0, 1};
    EXPECT(meterdb_data_item_format(&bad_stage, buf, sizeof buf), MDB_INVALID_ARGUMENT, "stage");
    EXPECT(meterdb_data_item_parse("0100000120030001", &it), MDB_INVALID_ARGUMENT, "process stage");
    EXPECT(meterdb_data_item_parse("0100400160030001", &it), MDB_INVALID_ARGUMENT, "collection-object type");
    EXPECT(meterdb_data_item_parse("01004001200300x1", &it), MDB_INVALID_ARGUMENT, "position 15");
    EXPECT(meterdb_data_item_parse("0100", &it), MDB_INVALID_ARGUMENT, "16 digits");
    EXPECT(meterdb_data_item_parse(NULL, &it), MDB_NULL_ARGUMENT, "code");
    EXPECT(meterdb_data_item_parse("0100400120030001", NULL), MDB_NULL_ARGUMENT, "out_item");
    EXPECT(meterdb_data_item_format(NULL, buf, sizeof buf), MDB_NULL_ARGUMENT, "item");
    EXPECT(meterdb_data_item_format(&it, NULL, 17), MDB_NULL_ARGUMENT, "buf");
}

/* The text of the full first update, with a computed credit code. */
static char *v1_text(void) {
    char code[19];
    credit_code("91350100MA2XY7K3P", code);
    const char *fmt =
        "# the dictionary as downloaded\n"
        "meterdb-unit-catalog 1\n"
        "base\t0\n"
        "version\t1\n"
        "mode\tfull\n"
        "enterprise\t%s\t福州示范钢铁有限公司\t350100\tC3110\t-\n"
        "device\tgw-1\tgateway\tgateway\tEMG-200\tSN0001\t2025-01-01T00:00:00+08:00\n"
        "device\tm-1\tmeter\tmain meter\tDTSD1352\tSN0002\t-\n"
        "config\tsteel/main-kwh\t0100400120030001\tcounter\t\tkWh\t2\t900000\t40\tm-1\t"
        "2025-01-01T00:00:00+08:00/2026-01-01T00:00:00+08:00/0.1229,"
        "2026-01-01T00:00:00+08:00/-/0.13\n"
        "config\tsteel/bf-gas\t0301200220050002\tgauge\t0301\tm3\t-\t60000\t-\tgw-1\t-\n";
    size_t n = strlen(fmt) + 32;
    char *t = malloc(n);
    if (t) snprintf(t, n, fmt, code);
    return t;
}

static const char V2[] = "meterdb-unit-catalog 1\n"
                         "base\t1\n"
                         "version\t2\n"
                         "mode\tdelta\n"
                         "config\tsteel/main-kwh\t0100400120030001\tcounter\t\tkWh\t2\t900000\t80\tm-1\t-\n"
                         "remove-config\tsteel/bf-gas\n";

static void test_apply_and_reopen(void) {
    char *dir = NULL;
    meterdb_db *db = h_open(&dir);
    char *v1 = v1_text();
    if (!db || !v1) {
        CHECK(db && v1);
        free(v1);
        meterdb_db_free(db);
        h_rmdir(dir);
        return;
    }
    uint64_t v = 99;
    OK(meterdb_db_unit_catalog_version(db, &v));
    CHECK(v == 0);
    OK(meterdb_db_apply_unit_catalog(db, v1, strlen(v1), &v));
    CHECK(v == 1);
    uint32_t id = 0;
    OK(meterdb_db_point_id(db, "steel/main-kwh", &id));
    meterdb_point_info_v2 *info = NULL;
    OK(meterdb_db_point_info_v2(db, id, &info));
    if (info) {
        CHECK(info->base.kind == MDB_KIND_COUNTER);
        CHECK(strcmp(info->base.unit, "kWh") == 0);
        CHECK(strcmp(info->base.energy_type, "0100") == 0); /* taken from the code */
        CHECK(info->base.precision == 2 && info->base.interval_ms == 900000);
        CHECK(info->base.multiplier == 40.0);
        CHECK(info->n_coal == 2 && info->coal_kgce[0] == 0.1229 && info->coal_kgce[1] == 0.13);
        CHECK(info->coal_from[0] == INT64_C(1735660800000));
    }
    meterdb_point_info_v2_free(info);

    /* The same update again: its base (0) is stale. */
    EXPECT(meterdb_db_apply_unit_catalog(db, v1, strlen(v1), &v), MDB_CONFLICT, "current version is 1");
    /* Invalid updates change nothing. */
    const char *bad[] = {
        "meterdb-unit-catalog 1\nbase\t1\nversion\t2\nmode\tdelta\nremove-device\tm-1\n",
        "meterdb-unit-catalog 1\nbase\t1\nversion\t2\nmode\tdelta\n"
        "config\tx\t0100400120030001\tcounter\t\tkWh\t-\t-\t-\t-\t-\n", /* code used by main-kwh */
        "meterdb-unit-catalog 1\nbase\t1\nversion\t2\nmode\tdelta\n"
        "config\tx\t0100400120030009\tcounter\t\tkWh\t-\t-\t0\t-\t-\n", /* multiplier 0 */
        "meterdb-unit-catalog 1\nbase\t1\nversion\t2\nmode\tsideways\n",
        "not a catalog\n",
    };
    const char *why[] = {"m-1", "used by points", "multiplier", "line 4", "line 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(meterdb_db_apply_unit_catalog(db, bad[i], strlen(bad[i]), &v), MDB_INVALID_ARGUMENT, why[i]);
    }
    OK(meterdb_db_unit_catalog_version(db, &v));
    CHECK(v == 1);
    uint32_t none = 0;
    EXPECT(meterdb_db_point_id(db, "x", &none), MDB_NOT_FOUND, "");
    OK(meterdb_db_close(db));
    meterdb_db_free(db);

    /* Reopen: version 1 is there; apply the delta. */
    meterdb_options *o = NULL;
    db = NULL;
    OK(meterdb_options_new(&o));
    OK(meterdb_db_open(dir, o, &db));
    meterdb_options_free(o);
    if (!db) {
        free(v1);
        h_rmdir(dir);
        return;
    }
    OK(meterdb_db_unit_catalog_version(db, &v));
    CHECK(v == 1);
    OK(meterdb_db_apply_unit_catalog(db, V2, strlen(V2), NULL));
    OK(meterdb_db_unit_catalog_version(db, &v));
    CHECK(v == 2);
    OK(meterdb_db_point_info_v2(db, id, &info));
    if (info) CHECK(info->base.multiplier == 80.0 && info->n_coal == 0);
    meterdb_point_info_v2_free(info);
    /* The removed config's point stays. */
    uint32_t gas = 0;
    OK(meterdb_db_point_id(db, "steel/bf-gas", &gas));

    /* History: count first, then too small, then all. */
    size_t n = 0;
    EXPECT(meterdb_db_unit_catalog_history(db, NULL, 0, &n), MDB_BUFFER_TOO_SMALL, "holds 0");
    CHECK(n == 2);
    meterdb_unit_version hist[2];
    EXPECT(meterdb_db_unit_catalog_history(db, hist, 1, &n), MDB_BUFFER_TOO_SMALL, "2 versions");
    CHECK(n == 2 && hist[0].version == 1);
    OK(meterdb_db_unit_catalog_history(db, hist, 2, &n));
    CHECK(hist[0].version == 1 && hist[0].base_version == 0 && hist[0].full == 1);
    CHECK(hist[0].devices == 2 && hist[0].configs == 2 && hist[0].changes == 5);
    CHECK(hist[1].version == 2 && hist[1].base_version == 1 && hist[1].full == 0);
    CHECK(hist[1].configs == 1 && hist[1].changes == 2);
    CHECK(hist[1].applied_at >= hist[0].applied_at && hist[0].applied_at > INT64_C(1700000000000));

    /* Misuse. */
    EXPECT(meterdb_db_apply_unit_catalog(NULL, V2, strlen(V2), &v), MDB_NULL_ARGUMENT, "db");
    EXPECT(meterdb_db_apply_unit_catalog(db, NULL, 0, &v), MDB_NULL_ARGUMENT, "text");
    EXPECT(meterdb_db_apply_unit_catalog(db, "meterdb-unit-catalog 1\n\xff\n", 25, &v), MDB_INVALID_UTF8, "byte 23");
    EXPECT(meterdb_db_apply_unit_catalog(db, "", 0, &v), MDB_INVALID_ARGUMENT, "empty");
    EXPECT(meterdb_db_unit_catalog_version(db, NULL), MDB_NULL_ARGUMENT, "version_out");
    EXPECT(meterdb_db_unit_catalog_history(db, NULL, 1, &n), MDB_NULL_ARGUMENT, "versions");
    EXPECT(meterdb_db_unit_catalog_history(db, hist, 2, NULL), MDB_NULL_ARGUMENT, "n_out");
    OK(meterdb_db_close(db));
    EXPECT(meterdb_db_unit_catalog_version(db, &v), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_apply_unit_catalog(db, V2, strlen(V2), &v), MDB_CLOSED, "closed");
    EXPECT(meterdb_db_unit_catalog_history(db, hist, 2, &n), MDB_CLOSED, "closed");
    CHECK(strcmp(meterdb_status_name(MDB_CONFLICT), "MDB_CONFLICT") == 0);
    meterdb_db_free(db);
    free(v1);
    h_rmdir(dir);
}

const h_test unit_tests[] = {
    {"unit_credit_codes", test_credit_codes},
    {"unit_data_item_codes", test_data_item_codes},
    {"unit_catalog_apply_reopen_conflict_history", test_apply_and_reopen},
};
const size_t unit_count = sizeof unit_tests / sizeof unit_tests[0];
