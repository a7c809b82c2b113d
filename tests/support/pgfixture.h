/* tests/support/pgfixture.h: the fixture the PostgreSQL store tests share (test_pg, test_pg_rows,
 * test_pg_migrate): one private cluster for the whole group (pgcluster.h) and a 64-dimension built-in
 * embedder, NEED_PG() to skip without postgresql-15 and start each test on an empty schema, and
 * pg_wait_applied for "this node's cache has every change". Definitions are static: include it once,
 * after cmocka.h, idx_test.h, index/pg.h and pgcluster.h. */
#ifndef KB_TESTS_PGFIXTURE_H
#define KB_TESTS_PGFIXTURE_H

#include <time.h>
#include <unistd.h>

static struct pgcluster g_pg;
static int g_pg_rc = -1;
static struct index_embedder *g_emb;

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits (up to 10 s) until st's cache has applied every change in the database; fails the test if not. */
static inline void pg_wait_applied(struct index_store *st)
{
    struct index_sync_status s;
    int64_t head = -1;
    struct kb_error err = {0};
    double t0 = now_s();
    struct pg_db *db = NULL;
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_head(db, &head, &err), 0);
    pg_db_close(db);
    do {
        index_store_sync_status(st, &s);
        if (s.applied_seq >= head)
            break;
        usleep(20000);
    } while (now_s() - t0 < 10);
    assert_int_equal(s.applied_seq, head);
}

static int group_setup(void **state)
{
    struct kb_error err = {0};
    (void)state;
    g_pg_rc = pgcluster_start(&g_pg);
    if (g_pg_rc < 0)
        return -1;
    return index_embedder_builtin_new(&g_emb, 64, &err) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_pg_rc == 0)
        pgcluster_destroy(&g_pg);
    index_embedder_builtin_free(g_emb);
    return 0;
}

#define NEED_PG()                                                                                             \
    do {                                                                                                      \
        if (g_pg_rc == PGCLUSTER_SKIP)                                                                        \
            skip();                                                                                           \
        assert_int_equal(pgcluster_sql(&g_pg, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);      \
    } while (0)

#endif
