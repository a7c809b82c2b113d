/* tests/index/test_pg.c: store.backend = postgres against a private PostgreSQL 15 cluster
 * (tests/support/pgcluster.c: initdb, pg_ctl on 127.0.0.1): the migrations and the refusal of a
 * newer schema, and two stores with their own data dirs (two nodes) on one database: what one
 * writes (collections, documents with chunks and vectors, status, deletes) reaches the other's
 * cache through NOTIFY, search results are identical once caught up, the change-log position and
 * lag are reported, a restarted node catches up from its position or rebuilds, and PostgreSQL
 * stopped leaves search answering from the cache while writes fail with KB_EBUSY until it is back;
 * shared job claims (SKIP LOCKED, released when the claiming session ends); NOTIFY wakes a node
 * whose poll is a minute away, the poll applies a change committed without NOTIFY, the lag in
 * sequence numbers and seconds while a node cannot apply (its SQLite cache locked by another
 * process) and back to 0 after; `kbox docs` on a newer schema exits non-zero saying why.
 * Skipped with a message when PostgreSQL 15 is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "idx_test.h"
#include "index/pg.h"
#include "../support/pgcluster.h"
#include "../support/pgfixture.h"
#include "../support/run.h"


struct node {
    char *dir;
    struct index_store *st;
};


static int g_poll_s = 1;

static int node_open(struct node *n, const char *dir, int64_t rebuild_lag, struct kb_error *err)
{
    struct index_open_opts o;
    memset(&o, 0, sizeof o);
    o.data_dir = dir;
    o.embedder = g_emb;
    o.ann_threshold = 200000;
    o.pg_url = g_pg.url;
    o.pg_poll_s = g_poll_s;
    o.pg_rebuild_lag = rebuild_lag;
    int rc;
    n->dir = n->dir ? n->dir : kb_xstrdup(dir);
    rc = index_store_open(&n->st, &o, err);
    if (rc)
        fprintf(stderr, "node_open: %s\n", err->msg);
    return rc;
}

static void node_close(struct node *n, bool remove)
{
    index_store_close(n->st);
    n->st = NULL;
    if (remove) {
        idx_rm_rf(n->dir);
        free(n->dir);
        n->dir = NULL;
    }
}

/* Waits (up to 10 s) until n's cache has applied every change in the database. */
static void wait_caught_up(struct node *n)
{
    struct index_sync_status s;
    pg_wait_applied(n->st);
    index_store_sync_status(n->st, &s);
    assert_true(s.enabled);
}

/* Skips without PostgreSQL; else starts the test on an empty database. */
static void test_migrate_and_refuse_newer(void **state)
{
    struct node a = {0};
    struct kb_error err = {0};
    struct pg_db *db = NULL;
    char *dir = idx_tmpdir();
    int v = -1;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, dir, 0, &err), 0);
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_db_schema_version(db, &v, &err), 0);
    assert_int_equal(v, PG_SCHEMA_VERSION);
    pg_db_close(db);
    node_close(&a, false);
    /* a newer schema than this kbox knows: refuse to start, and say why */
    assert_int_equal(pgcluster_sql(&g_pg, "UPDATE kbox_schema SET version = 99"), 0);
    assert_int_equal(node_open(&a, dir, 0, &err), KB_ECONFIG);
    assert_non_null(strstr(err.msg, "newer"));
    assert_non_null(strstr(err.msg, "99"));
    {
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE kbox_schema SET version = %d", PG_SCHEMA_VERSION);
        assert_int_equal(pgcluster_sql(&g_pg, sql), 0);
    }
    /* opening again migrates nothing and works */
    assert_int_equal(node_open(&a, dir, 0, &err), 0);
    node_close(&a, true);
    free(dir);
}

static void test_bad_url(void **state)
{
    struct index_store *st = NULL;
    struct index_open_opts o;
    struct kb_error err = {0};
    char *dir = idx_tmpdir();
    (void)state;
    memset(&o, 0, sizeof o);
    o.data_dir = dir;
    o.pg_url = "";
    assert_int_equal(index_store_open(&st, &o, &err), KB_ECONFIG);
    assert_non_null(strstr(err.msg, "store.url"));
    o.pg_url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
    assert_int_equal(index_store_open(&st, &o, &err), KB_EBUSY);
    assert_non_null(strstr(err.msg, "unreachable"));
    assert_null(st);
    idx_rm_rf(dir);
    free(dir);
}

/* Jobs shared through PostgreSQL: two workers (two claiming connections) never hold the same job;
 * a claim lives as long as its worker's session: closing a worker mid-job (as a killed node's
 * connection ends) gives its job to the other; ended jobs are recorded with the worker's node. */
static void test_job_claims(void **state)
{
    struct node a = {0};
    struct kb_error err = {0};
    struct index_job_worker *w1 = NULL, *w2 = NULL;
    struct index_job j1, j2, j3;
    int64_t doc[2], job[2], n = 0;
    char *dir = idx_tmpdir();
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, dir, 0, &err), 0);
    assert_true(index_jobs_shared(a.st));
    for (int i = 0; i < 2; i++) {
        struct index_doc d = {.name = i ? "b.txt" : "a.txt", .path = i ? "/spool/b" : "/spool/a",
                              .status = INDEX_DOC_QUEUED};
        assert_int_equal(index_doc_create_job(a.st, &d, &doc[i], &job[i], &err), 0);
        assert_true(job[i] > 0);
    }
    assert_int_equal(index_job_worker_open(a.st, &w1, &err), 0);
    assert_int_equal(index_job_worker_open(a.st, &w2, &err), 0);
    assert_int_equal(index_job_claim(w1, &j1, &err), 0);
    assert_int_equal(index_job_claim(w2, &j2, &err), 0);
    assert_int_equal(j1.id, job[0]); /* oldest first */
    assert_int_equal(j2.id, job[1]); /* SKIP LOCKED: not the one w1 holds */
    assert_int_equal(j1.document_id, doc[0]);
    assert_string_equal(j1.name, "a.txt");
    assert_true(j1.doc_found);
    /* w2 finishes its job; w1 "dies" holding its claim: the job is claimable again */
    assert_int_equal(index_job_end(w2, j2.id, INDEX_JOB_DONE, NULL, &err), 0);
    assert_int_equal(index_job_claim(w2, &j3, &err), KB_ENOENT); /* w1 still holds job[0] */
    index_job_worker_close(w1);
    {
        /* the server ends w1's session (and rolls its claim back) a moment after the socket closes */
        double t0 = now_s();
        int rc;
        while ((rc = index_job_claim(w2, &j3, &err)) == KB_ENOENT && now_s() - t0 < 10)
            usleep(20000);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(j3.id, job[0]);
    assert_int_equal(index_job_end(w2, j3.id, INDEX_JOB_FAILED, "no parser", &err), 0);
    assert_int_equal(index_job_get(a.st, job[0], &j3, &err), 0);
    assert_string_equal(j3.state, "failed");
    assert_string_equal(j3.error, "no parser");
    assert_non_null(strchr(j3.node, ':'));
    assert_int_equal(index_job_get(a.st, job[1], &j3, &err), 0);
    assert_string_equal(j3.state, "done");
    /* a requeue makes a new job for the same document; a released one is claimable again */
    assert_int_equal(index_job_requeue(a.st, doc[1], &n, &err), 0);
    assert_int_equal(index_job_claim(w2, &j3, &err), 0);
    assert_int_equal(j3.id, n);
    assert_int_equal(index_job_end(w2, n, INDEX_JOB_RELEASE, NULL, &err), 0);
    assert_int_equal(index_job_claim(w2, &j3, &err), 0);
    assert_int_equal(j3.id, n);
    assert_int_equal(index_job_end(w2, n, INDEX_JOB_DONE, NULL, &err), 0);
    assert_int_equal(index_job_requeue(a.st, 999999, &n, &err), KB_ENOENT);
    index_job_worker_close(w2);
    node_close(&a, true);
    free(dir);
}

static const struct index_chunk chunks_a[] = {
    {.text = "The espresso machine needs descaling every two months with citric acid.", .heading_path = "Care"},
    {.text = "Steam wands are purged before and after frothing milk.", .heading_path = "Care > Milk"},
    {.text = "Grinder burrs are replaced after five hundred kilograms of beans.", .heading_path = "Parts"},
};

/* The top hits of q on st as "chunk_id:score;..." into buf. */
static void hits_of(struct index_store *st, const char *q, char *buf, size_t n)
{
    struct index_search_opts o;
    struct kb_arena a;
    struct index_hit *h = NULL;
    int nh = 0;
    struct kb_error err = {0};
    size_t len = 0;
    buf[0] = '\0';
    memset(&o, 0, sizeof o);
    o.top_k = 5;
    o.rrf_k = 60;
    o.vector_weight = 0.5;
    kb_arena_init(&a, 0, 0);
    assert_int_equal(index_search(st, q, &o, &a, &h, &nh, &err), 0);
    for (int i = 0; i < nh && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%lld:%.6f;", (long long)h[i].chunk_id, h[i].score);
    kb_arena_release(&a);
}

static void test_two_nodes(void **state)
{
    struct node a = {0}, b = {0};
    struct kb_error err = {0};
    char *da = idx_tmpdir(), *db_ = idx_tmpdir(), ha[512], hb[512];
    int64_t coll = 0, doc = 0, doc2 = 0;
    struct index_doc d = {0};
    struct kb_arena ar;
    struct index_doc *docs = NULL;
    int n = 0;
    struct index_check ck;
    struct index_sync_status ss;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, da, 0, &err), 0);
    assert_int_equal(node_open(&b, db_, 0, &err), 0);
    assert_int_equal(index_collection_create(a.st, "manuals", &coll, &err), 0);
    assert_int_equal(index_collection_create(b.st, "manuals", NULL, &err), KB_ECONFLICT); /* one namespace */
    d.collection_id = coll;
    d.name = "espresso.md";
    d.path = "/docs/espresso.md";
    d.mime = "text/markdown";
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, "original bytes", 14, &doc, &err), 0);
    /* read-your-writes on A at once, and B through NOTIFY */
    kb_arena_init(&ar, 0, 0);
    assert_int_equal(index_doc_list(a.st, 0, &ar, &docs, &n, &err), 0);
    assert_int_equal(n, 1);
    wait_caught_up(&b);
    assert_int_equal(index_doc_list(b.st, 0, &ar, &docs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(docs[0].id, doc);
    assert_int_equal(docs[0].collection_id, coll);
    assert_int_equal(docs[0].n_chunks, 3);
    assert_string_equal(docs[0].path, "/docs/espresso.md");
    assert_true(docs[0].has_original); /* fetched from PostgreSQL */
    hits_of(a.st, "descaling citric acid", ha, sizeof ha);
    hits_of(b.st, "descaling citric acid", hb, sizeof hb);
    assert_true(ha[0] != '\0');
    assert_string_equal(ha, hb);
    assert_int_equal(index_store_check(b.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_chunks, 3);
    assert_int_equal(ck.n_vectors, 3);
    /* a write through B: status, then a second document, then a replace with fewer chunks via A */
    assert_int_equal(index_doc_set_status(b.st, doc, INDEX_DOC_FAILED, "checked", &err), 0);
    d.path = "/docs/grinder.md";
    d.name = "grinder.md";
    assert_int_equal(index_doc_replace(b.st, &d, chunks_a + 2, 1, NULL, NULL, 0, &doc2, &err), 0);
    assert_true(doc2 > doc);
    d.path = "/docs/espresso.md";
    d.name = "espresso.md";
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 2, NULL, NULL, 0, NULL, &err), 0);
    wait_caught_up(&a);
    wait_caught_up(&b);
    assert_int_equal(index_store_check(a.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 2);
    assert_int_equal(ck.n_chunks, 3);
    assert_int_equal(index_store_check(b.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 2);
    assert_int_equal(ck.n_chunks, 3);
    hits_of(a.st, "grinder burrs", ha, sizeof ha);
    hits_of(b.st, "grinder burrs", hb, sizeof hb);
    assert_string_equal(ha, hb);
    index_store_sync_status(b.st, &ss);
    assert_true(ss.connected);
    assert_int_equal(ss.lag_seq, 0);
    assert_true(ss.lag_s == 0);
    /* B stopped; A deletes and writes; B reopened catches up from its position */
    node_close(&b, false);
    assert_int_equal(index_doc_delete(a.st, doc, &err), 0);
    for (int i = 0; i < 5; i++) {
        char p[64];
        snprintf(p, sizeof p, "/docs/extra-%d.md", i);
        d.path = p;
        assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, NULL, 0, NULL, &err), 0);
    }
    assert_int_equal(node_open(&b, db_, 0, &err), 0);
    assert_int_equal(index_store_check(b.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 6);
    assert_int_equal(ck.n_chunks, 16);
    /* the collection goes with its documents, everywhere */
    assert_int_equal(index_collection_delete(a.st, coll, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_store_check(b.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 0);
    assert_int_equal(ck.n_chunks, 0);
    assert_int_equal(index_collection_find(b.st, "manuals", &coll, &err), KB_ENOENT);
    kb_arena_release(&ar);
    node_close(&a, true);
    node_close(&b, true);
    free(da);
    free(db_);
}

static void test_rebuild(void **state)
{
    struct node a = {0}, b = {0};
    struct kb_error err = {0};
    char *da = idx_tmpdir(), *db_ = idx_tmpdir();
    struct index_doc d = {0};
    struct index_check ck;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, da, 0, &err), 0);
    assert_int_equal(node_open(&b, db_, 0, &err), 0);
    node_close(&b, false);
    for (int i = 0; i < 8; i++) {
        char p[64];
        snprintf(p, sizeof p, "/r/%d.md", i);
        d.path = p;
        d.name = p;
        assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 1 + i % 3, NULL, NULL, 0, NULL, &err), 0);
    }
    /* more than rebuild_lag changes behind: B resynchronises from the tables */
    assert_int_equal(node_open(&b, db_, 3, &err), 0);
    assert_int_equal(index_store_check(b.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 8);
    assert_int_equal(ck.n_chunks, 1 + 2 + 3 + 1 + 2 + 3 + 1 + 2);
    node_close(&a, true);
    node_close(&b, true);
    free(da);
    free(db_);
}

static void test_database_down(void **state)
{
    struct node a = {0};
    struct kb_error err = {0};
    char *da = idx_tmpdir(), h1[512], h2[512];
    struct index_doc d = {.path = "/down.md", .name = "down.md"};
    struct index_check ck;
    struct index_sync_status ss;
    double t0;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, da, 0, &err), 0);
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, NULL, 0, NULL, &err), 0);
    hits_of(a.st, "steam wands", h1, sizeof h1);
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    /* search answers from the cache; a write fails with a clear error and changes nothing */
    hits_of(a.st, "steam wands", h2, sizeof h2);
    assert_string_equal(h1, h2);
    d.path = "/down2.md";
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, NULL, 0, NULL, &err), KB_EBUSY);
    assert_non_null(strstr(err.msg, "postgresql is unreachable"));
    assert_int_equal(index_store_check(a.st, &ck, &err), 0);
    assert_int_equal(ck.n_documents, 1);
    t0 = now_s();
    do {
        index_store_sync_status(a.st, &ss);
        usleep(50000);
    } while (ss.connected && now_s() - t0 < 10);
    assert_false(ss.connected);
    assert_true(ss.error[0] != '\0');
    /* back: the node reconnects by itself and writes work again */
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    t0 = now_s();
    do {
        index_store_sync_status(a.st, &ss);
        usleep(50000);
    } while (!ss.connected && now_s() - t0 < 15);
    assert_true(ss.connected);
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, NULL, 0, NULL, &err), 0);
    assert_int_equal(index_store_check(a.st, &ck, &err), 0);
    assert_true(ck.ok);
    assert_int_equal(ck.n_documents, 2);
    node_close(&a, true);
    free(da);
}


/* Waits up to max_s for n to reach head; returns the seconds it took (or max_s). */
static double time_to_head(struct node *n, int64_t head, double max_s)
{
    struct index_sync_status s;
    double t0 = now_s();
    do {
        index_store_sync_status(n->st, &s);
        if (s.applied_seq >= head)
            break;
        usleep(10000);
    } while (now_s() - t0 < max_s);
    return now_s() - t0;
}

static int64_t db_head(void)
{
    struct pg_db *db = NULL;
    struct kb_error err = {0};
    int64_t head = -1;
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_head(db, &head, &err), 0);
    pg_db_close(db);
    return head;
}

/* Item 2 of the issue: NOTIFY wakes, the poll covers a missed notification, the lag is reported. */
static void test_notify_poll_lag(void **state)
{
    struct node a = {0}, b = {0};
    struct kb_error err = {0};
    char *da = idx_tmpdir(), *db_ = idx_tmpdir(), path[4200];
    struct index_doc d = {0};
    struct index_sync_status ss;
    sqlite3 *lock = NULL;
    int64_t coll = 0;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, da, 0, &err), 0);
    g_poll_s = 60; /* B polls once a minute: only NOTIFY can wake it within the test */
    assert_int_equal(node_open(&b, db_, 0, &err), 0);
    g_poll_s = 1;
    d.path = "/n/1.md";
    d.name = "1.md";
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 2, NULL, NULL, 0, NULL, &err), 0);
    assert_true(time_to_head(&b, db_head(), 10) < 5);
    node_close(&b, false);

    /* a change committed without NOTIFY (a lost notification): B, polling every second, applies it */
    assert_int_equal(node_open(&b, db_, 0, &err), 0);
    assert_int_equal(pgcluster_sql(&g_pg, "BEGIN; INSERT INTO collections(name, created_at) VALUES('quiet', 1);"
                                          " INSERT INTO changes(kind, obj_id) SELECT 'c', id FROM collections"
                                          " WHERE name = 'quiet'; COMMIT"), 0);
    assert_true(time_to_head(&b, db_head(), 10) < 5);
    assert_int_equal(index_collection_find(b.st, "quiet", &coll, &err), 0);

    /* B cannot write its cache (another process holds its SQLite write lock): the lag shows in
     * sequence numbers and seconds, and goes back to 0 once the lock is gone */
    snprintf(path, sizeof path, "%s/kbox.db", db_);
    assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    d.path = "/n/2.md";
    d.name = "2.md";
    assert_int_equal(index_doc_replace(a.st, &d, chunks_a, 3, NULL, NULL, 0, NULL, &err), 0);
    {
        double t0 = now_s();
        do {
            usleep(50000);
            index_store_sync_status(b.st, &ss);
        } while ((ss.lag_seq < 1 || ss.lag_s < 1.0) && now_s() - t0 < 8);
    }
    assert_true(ss.lag_seq >= 1);
    assert_true(ss.lag_s >= 1.0);
    assert_true(ss.head_seq == db_head());
    assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    assert_true(time_to_head(&b, db_head(), 30) < 30);
    index_store_sync_status(b.st, &ss);
    assert_int_equal(ss.lag_seq, 0);
    assert_true(ss.lag_s == 0);
    node_close(&a, true);
    node_close(&b, true);
    free(da);
    free(db_);
}

/* A node process meeting a newer schema than it knows refuses to start, and says why. */
static void test_cli_refuses_newer(void **state)
{
    struct node a = {0};
    struct kb_error err = {0};
    char *dir = idx_tmpdir(), *dir2 = idx_tmpdir(), url[600], ddir[4200];
    struct run_result rr;
    (void)state;
    NEED_PG();
    assert_int_equal(node_open(&a, dir, 0, &err), 0);
    node_close(&a, true);
    assert_int_equal(pgcluster_sql(&g_pg, "UPDATE kbox_schema SET version = 42"), 0);
    snprintf(url, sizeof url, "store.url=%s", g_pg.url);
    snprintf(ddir, sizeof ddir, "%s", dir2);
    {
        char *argv[] = {KBOX_BIN, "--data-dir", ddir, "--set", "store.backend=postgres", "--set", url, "docs",
                        "--json", NULL};
        assert_int_equal(run_cmd(&rr, argv, NULL), 0);
        assert_true(rr.exit_code != 0);
        assert_non_null(strstr(rr.err, "schema version 42 is newer"));
        run_result_free(&rr);
    }
    idx_rm_rf(dir2);
    free(dir);
    free(dir2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test(test_migrate_and_refuse_newer),
        cmocka_unit_test(test_job_claims),
        cmocka_unit_test(test_two_nodes),
        cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_database_down),
        cmocka_unit_test(test_notify_poll_lag),
        cmocka_unit_test(test_cli_refuses_newer),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
