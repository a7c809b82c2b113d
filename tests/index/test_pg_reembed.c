/* tests/index/test_pg_reembed.c: re-embedding as shared jobs with store.backend = postgres
 * (index/reembed_pg.c, pg_reembed_* in index/pg.c) on a private PostgreSQL 15 cluster: two nodes
 * switched to a new embedder split the documents through 'reembed' jobs claimed with SKIP LOCKED;
 * a job claimed by a third process is skipped by both (its document keeps lacking the vectors and
 * neither node switches) until that process is killed with SIGKILL, after which its claim is gone
 * with its session and a node finishes the job; every
 * document is re-embedded exactly once, the vectors are in PostgreSQL, both caches switch and
 * serve identical results; a fresh third node needs no re-embedding at all. The schema migration
 * 2 -> 3 (the jobs' kind and embedder columns) runs at the first open.
 * Skipped with a message when PostgreSQL 15 is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "idx_test.h"
#include "index/pg.h"
#include "../support/pgcluster.h"

static struct pgcluster g_pg;
static int g_pg_rc = -1;
static struct index_embedder *g_old, *g_new;

#define N_DOCS 12

static int group_setup(void **state)
{
    struct kb_error err = {0};
    (void)state;
    g_pg_rc = pgcluster_start(&g_pg);
    if (g_pg_rc < 0)
        return -1;
    if (index_embedder_builtin_new(&g_old, 64, &err) || index_embedder_builtin_new(&g_new, 96, &err))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_pg_rc == 0)
        pgcluster_destroy(&g_pg);
    index_embedder_builtin_free(g_old);
    index_embedder_builtin_free(g_new);
    return 0;
}

static void node_open(struct index_store **st, const char *dir, const struct index_embedder *e)
{
    struct index_open_opts o;
    struct kb_error err = {0};
    const struct index_embedder *prev[1] = {g_old};
    memset(&o, 0, sizeof o);
    o.data_dir = dir;
    o.embedder = e;
    o.ann_threshold = 200000;
    o.reembed_in_background = true;
    o.prev_embedders = prev;
    o.n_prev_embedders = 1;
    o.pg_url = g_pg.url;
    o.pg_poll_s = 1;
    assert_int_equal(index_store_open(st, &o, &err), 0);
}

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
    o.top_k = 6;
    o.rrf_k = 60;
    o.vector_weight = 0.5;
    o.mode = INDEX_MODE_VECTOR;
    kb_arena_init(&a, 0, 0);
    assert_int_equal(index_search(st, q, &o, &a, &h, &nh, &err), 0);
    for (int i = 0; i < nh && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%lld:%.6f;", (long long)h[i].chunk_id, h[i].score);
    kb_arena_release(&a);
}

/* Reembed jobs in the database: *n_done done, *n_queued queued; each done document once. */
static void count_jobs(int *n_done, int *n_queued)
{
    struct pg_db *db = NULL;
    struct kb_error err = {0};
    struct index_job *jobs = kb_xcalloc(200, sizeof *jobs);
    int n = 0;
    bool seen[N_DOCS + 1] = {0};
    *n_done = *n_queued = 0;
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_job_list(db, 200, jobs, &n, &err), 0);
    for (int i = 0; i < n; i++) {
        if (strcmp(jobs[i].kind, "reembed") != 0)
            continue;
        if (!strcmp(jobs[i].state, "done")) {
            assert_true(jobs[i].document_id >= 1 && jobs[i].document_id <= N_DOCS);
            assert_false(seen[jobs[i].document_id]); /* exactly once */
            seen[jobs[i].document_id] = true;
            (*n_done)++;
        } else if (!strcmp(jobs[i].state, "queued")) {
            (*n_queued)++;
        }
    }
    pg_db_close(db);
    free(jobs);
}

static bool step(struct index_store *st)
{
    struct kb_error err = {0};
    bool fin = false;
    int rc = index_reembed_step(st, 16, NULL, &fin, &err);
    if (rc)
        fprintf(stderr, "step: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return fin;
}

static void test_shared_reembed(void **state)
{
    char *da = idx_tmpdir(), *db_ = idx_tmpdir(), *dc = idx_tmpdir(), ha[512], hb[512], hc[512];
    static const struct index_chunk chunks[] = {
        {.text = "The espresso machine needs descaling every two months with citric acid.", .heading_path = "Care"},
        {.text = "Steam wands are purged before and after frothing milk.", .heading_path = "Care > Milk"},
        {.text = "Grinder burrs are replaced after five hundred kilograms of beans.", .heading_path = "Parts"},
    };
    struct index_store *a = NULL, *b = NULL, *c = NULL;
    struct kb_error err = {0};
    struct pg_db *holder = NULL;
    struct pg_reembed_work held;
    struct kb_arena ar;
    int ready[2];
    pid_t child;
    struct index_reembed_status rs;
    struct index_check ck;
    int64_t q = 0, missing = 0;
    int n_done = 0, n_queued = 0;
    bool fa = false, fb = false;
    (void)state;
    if (g_pg_rc == PGCLUSTER_SKIP)
        skip();
    /* a store written with the old embedder */
    node_open(&a, da, g_old);
    for (int i = 0; i < N_DOCS; i++) {
        struct index_doc d = {0};
        char p[64];
        snprintf(p, sizeof p, "/m/%d.md", i);
        d.path = p;
        d.name = p + 3;
        assert_int_equal(index_doc_replace(a, &d, chunks, 1 + i % 3, NULL, NULL, 0, NULL, &err), 0);
    }
    index_store_close(a);

    /* both nodes now configured with the new one; a third connection holds the first job */
    node_open(&a, da, g_new);
    node_open(&b, db_, g_new);
    index_reembed_status(a, &rs);
    assert_true(rs.pending);
    index_reembed_status(b, &rs);
    assert_true(rs.pending); /* its cache caught up without vectors of the new embedder */
    assert_int_equal(pg_db_open(&holder, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_reembed_queue(holder, g_new->id, &q, &missing, &err), 0);
    assert_int_equal(q, N_DOCS);
    assert_int_equal(missing, 4 * 6);
    /* the holder is another process, which claims the first job and is later killed with SIGKILL */
    assert_int_equal(pipe(ready), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct pg_db *cdb = NULL;
        char ok = 0;
        kb_arena_init(&ar, 0, 0);
        if (pg_db_open(&cdb, g_pg.url, NULL, false, &err) == 0 &&
            pg_reembed_claim(cdb, g_new->id, &ar, &held, &err) == 0 && held.document_id == 1 && held.n_chunks == 1)
            ok = 1;
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    {
        char ok = 0;
        assert_int_equal(read(ready[0], &ok, 1), 1);
        assert_int_equal(ok, 1);
    }

    /* the nodes take turns: every other job gets done, the held one is skipped, nobody switches */
    for (int i = 0; i < 2 * N_DOCS + 4; i++) {
        assert_false(step(i % 2 ? a : b));
    }
    count_jobs(&n_done, &n_queued);
    assert_int_equal(n_done, N_DOCS - 1);
    assert_int_equal(n_queued, 1);
    {
        float x[96];
        bool found = true;
        int64_t first_chunk = 1; /* document 1's only chunk */
        assert_int_equal(pg_vectors_get(holder, g_new->id, 96, &first_chunk, 1, x, &found, &err), 0);
        assert_false(found); /* nobody embedded the held document */
    }
    index_reembed_status(a, &rs);
    assert_true(rs.pending);

    /* kill -9 of the holder: its session ends, the claim with it; a node finishes it, both switch */
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    close(ready[0]);
    close(ready[1]);
    for (int i = 0; i < 400 && !(fa && fb); i++) {
        fa = fa || step(a);
        fb = fb || step(b);
    }
    assert_true(fa && fb);
    count_jobs(&n_done, &n_queued);
    assert_int_equal(n_done, N_DOCS);
    assert_int_equal(n_queued, 0);
    for (int k = 0; k < 2; k++) {
        struct index_store *st = k ? b : a;
        index_reembed_status(st, &rs);
        assert_false(rs.pending);
        assert_string_equal(rs.search_id, g_new->id);
        assert_int_equal(index_store_check(st, &ck, &err), 0);
        assert_true(ck.ok);
        assert_int_equal(ck.n_chunks, 24);
        assert_int_equal(ck.n_vectors, 24);
    }
    hits_of(a, "descaling citric acid", ha, sizeof ha);
    hits_of(b, "descaling citric acid", hb, sizeof hb);
    assert_true(ha[0] != '\0');
    assert_string_equal(ha, hb);

    /* a new node with the new embedder finds every vector in PostgreSQL: nothing to re-embed */
    node_open(&c, dc, g_new);
    index_reembed_status(c, &rs);
    assert_false(rs.pending);
    hits_of(c, "descaling citric acid", hc, sizeof hc);
    assert_string_equal(ha, hc);

    pg_db_close(holder);
    index_store_close(a);
    index_store_close(b);
    index_store_close(c);
    idx_rm_rf(da);
    idx_rm_rf(db_);
    idx_rm_rf(dc);
    free(da);
    free(db_);
    free(dc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_reembed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
