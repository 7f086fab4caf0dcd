/* A minimal test harness: TEST functions registered in a table, CHECK macros that count
 * failures per test, and a closing line "N passed, M failed". */
#ifndef METERDB_TEST_HARNESS_H
#define METERDB_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "meterdb.h"

extern int h_failures; /* failures in the running test */
extern int h_skipped;  /* set by a test that could not run */

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            h_failures++;                                                           \
            fprintf(stderr, "    FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                           \
    } while (0)

/* A call must return `want` and leave a last error containing `part` ("" for any). */
#define EXPECT(call, want, part)                                                    \
    do {                                                                            \
        int st_ = (int)(call);                                                      \
        const char *m_ = meterdb_last_error();                                      \
        if (st_ != (int)(want) || strstr(m_, (part)) == NULL) {                     \
            h_failures++;                                                           \
            fprintf(stderr, "    FAIL %s:%d: %s\n      returned %s (%s), wanted %s " \
                    "with a message containing \"%s\"\n",                           \
                    __FILE__, __LINE__, #call, meterdb_status_name(st_), m_,        \
                    meterdb_status_name((int)(want)), (part));                      \
        }                                                                           \
    } while (0)

#define OK(call) EXPECT(call, MDB_OK, "")

/* A call that must succeed for the test to go on. */
#define MUST(call)                                                                  \
    do {                                                                            \
        int st_ = (int)(call);                                                      \
        if (st_ != MDB_OK) {                                                        \
            h_failures++;                                                           \
            fprintf(stderr, "    FAIL %s:%d: %s returned %s: %s\n", __FILE__,       \
                    __LINE__, #call, meterdb_status_name(st_), meterdb_last_error()); \
            return;                                                                 \
        }                                                                           \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} h_test;

/* Temporary database directories, removed with everything in them. */
char *h_tempdir(void);
void h_rmdir(char *dir);

/* Opens a database in a new temporary directory with durability NONE; *dir receives it. */
meterdb_db *h_open(char **dir);

/* Starts a test on a database in a new temporary directory (h_open): declares `db` and `dir`
 * (the test frees them with meterdb_db_free and h_rmdir), or fails the test and returns when
 * the database cannot be opened. */
#define OPEN_DB(db, dir)                                                            \
    char *dir;                                                                      \
    meterdb_db *db = h_open(&dir);                                                  \
    CHECK(db != NULL);                                                              \
    if (!db) {                                                                      \
        h_rmdir(dir);                                                               \
        return;                                                                     \
    }

#endif
