/* bench/bench_pg.c: store.backend = postgres against SQLite alone, on a private PostgreSQL 15 cluster
 * this program starts (tests/support/pgcluster.c: initdb + pg_ctl on 127.0.0.1, fsync off as in the
 * tests; a production server with fsync on pays one WAL flush per write transaction more).
 * Two nodes are two stores with their own data dirs in this process, each with its sync thread and
 * its own PostgreSQL connections, exactly as two `kbox serve` processes would have them.
 * Phases (built-in embedder, dimension 256, 10-chunk documents of 120 Zipf-drawn words):
 *   1. ingest N_DOCS documents into a SQLite-only store, and through node A; chunks/s of each;
 *   2. search p50/p99 (hybrid, top 6) on the SQLite store and on node B (its local cache);
 *   3. propagation: 200 one-document writes on A, each timed from the return of A's write (its
 *      commit and its own cache update) until B has applied it (B woken by NOTIFY), p50/p99;
 *   4. catch-up: B closed, LAG_CHUNKS chunks written through A, B reopened: seconds until it has
 *      replayed the change log (index_store_open returns caught up), and a new node with an empty
 *      cache building it from the tables (the path a node more than store.rebuild_lag behind takes).
 * Usage: bench_pg [N_DOCS [LAG_CHUNKS]]   (defaults 500 and 100000). Needs postgresql-15. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "index/index.h"
#include "pgbench.h"
#include "../tests/support/pgcluster.h"

#define WORDS 120
#define VOCAB 20000
#define CHUNKS_PER_DOC 10
#define N_QUERIES 200
#define N_PROPAGATE 200

static int put_doc(struct index_store *st, int i)
{
    struct index_chunk c[CHUNKS_PER_DOC];
    struct index_doc d = {0};
    char path[64];
    struct kb_error err = {0};
    int rc;
    memset(c, 0, sizeof c);
    for (int k = 0; k < CHUNKS_PER_DOC; k++)
        c[k].text = pgb_text(WORDS);
    snprintf(path, sizeof path, "/bench/%d.txt", i);
    d.path = path;
    d.name = path;
    rc = index_doc_replace(st, &d, c, CHUNKS_PER_DOC, NULL, NULL, 0, NULL, &err);
    if (rc)
        fprintf(stderr, "replace: %s\n", err.msg);
    for (int k = 0; k < CHUNKS_PER_DOC; k++)
        free((char *)c[k].text);
    return rc;
}

static int open_store(struct index_store **st, const char *dir, const struct index_embedder *e, const char *url,
                      int64_t rebuild_lag)
{
    struct index_open_opts o;
    pgb_opts(&o, dir, url);
    o.embedder = e;
    o.pg_rebuild_lag = rebuild_lag;
    return pgb_open(st, &o);
}

static double ingest(struct index_store *st, int first, int n)
{
    double t0 = kb_now_s();
    for (int i = 0; i < n; i++)
        if (put_doc(st, first + i))
            exit(1);
    return (double)n * CHUNKS_PER_DOC / (kb_now_s() - t0);
}

static void search_lat(struct index_store *st, double *p50, double *p99)
{
    double lat[N_QUERIES];
    struct index_search_opts o;
    memset(&o, 0, sizeof o);
    o.top_k = 6;
    o.rrf_k = 60;
    o.vector_weight = 0.7;
    o.fusion = INDEX_FUSION_WEIGHTED;
    o.evidence = true;
    pgb_seed(12345);
    for (int q = 0; q < N_QUERIES; q++) {
        char *t = pgb_text(4);
        struct kb_arena a;
        struct index_hit *h;
        int nh;
        double t0 = kb_now_s();
        kb_arena_init(&a, 0, 0);
        index_search(st, t, &o, &a, &h, &nh, NULL);
        lat[q] = kb_now_s() - t0;
        kb_arena_release(&a);
        free(t);
    }
    qsort(lat, N_QUERIES, sizeof(double), pgb_cmp_double);
    *p50 = lat[N_QUERIES / 2] * 1e3;
    *p99 = lat[N_QUERIES * 99 / 100] * 1e3;
}

int main(int argc, char **argv)
{
    int64_t n_docs_arg = 500, lag_arg = 100000;
    int n_docs, lag_chunks;
    struct pgcluster pg;
    struct index_embedder *e = NULL;
    struct index_store *sq = NULL, *a = NULL, *b = NULL;
    char dsq[64], da[64], db[64], db2[64], cmd[320];
    double r_sq, r_pg, p50, p99, lat[N_PROPAGATE], t0;
    struct index_sync_status sa, sb;
    struct kb_error err = {0};
    setvbuf(stdout, NULL, _IOLBF, 0); /* each phase shows as it ends */
    if ((argc > 1 && kb_parse_i64(argv[1], &n_docs_arg) != 0) || (argc > 2 && kb_parse_i64(argv[2], &lag_arg) != 0) ||
        n_docs_arg < 1 || lag_arg < CHUNKS_PER_DOC) {
        fprintf(stderr, "usage: bench_pg [N_DOCS [LAG_CHUNKS]]\n");
        return 2;
    }
    n_docs = (int)n_docs_arg;
    lag_chunks = (int)lag_arg;
    if (pgcluster_start(&pg) != 0)
        return 1;
    index_embedder_builtin_new(&e, 256, &err);
    pgb_tmpdir(dsq, "pg-sqlite");
    pgb_tmpdir(da, "pg-a");
    pgb_tmpdir(db, "pg-b");
    if (open_store(&sq, dsq, e, NULL, 0) || open_store(&a, da, e, pg.url, 0) || open_store(&b, db, e, pg.url, 0))
        return 1;
    printf("phase 1: ingest %d documents x %d chunks\n", n_docs, CHUNKS_PER_DOC);
    pgb_seed(1);
    r_sq = ingest(sq, 0, n_docs);
    pgb_seed(1);
    r_pg = ingest(a, 0, n_docs);
    printf("  sqlite alone: %.0f chunks/s\n  postgres via node A (incl. A's own cache): %.0f chunks/s\n", r_sq, r_pg);
    t0 = kb_now_s();
    do {
        index_store_sync_status(a, &sa);
        index_store_sync_status(b, &sb);
        usleep(1000);
    } while (sb.applied_seq < sa.applied_seq && kb_now_s() - t0 < 600);
    printf("phase 2: search, %d queries\n", N_QUERIES);
    search_lat(sq, &p50, &p99);
    printf("  sqlite alone: p50 %.2f ms, p99 %.2f ms\n", p50, p99);
    search_lat(b, &p50, &p99);
    printf("  node B (cache of postgres): p50 %.2f ms, p99 %.2f ms\n", p50, p99);
    printf("phase 3: propagation A -> B, %d one-document writes\n", N_PROPAGATE);
    for (int i = 0; i < N_PROPAGATE; i++) {
        if (put_doc(a, 1000000 + i))
            return 1;
        index_store_sync_status(a, &sa); /* A applied its own write: sa.applied_seq is that change */
        t0 = kb_now_s();
        do {
            index_store_sync_status(b, &sb);
            if (sb.applied_seq >= sa.applied_seq)
                break;
            usleep(200);
        } while (kb_now_s() - t0 < 10);
        lat[i] = kb_now_s() - t0;
    }
    qsort(lat, N_PROPAGATE, sizeof(double), pgb_cmp_double);
    printf("  visible on B after: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", lat[N_PROPAGATE / 2] * 1e3,
           lat[N_PROPAGATE * 99 / 100] * 1e3, lat[N_PROPAGATE - 1] * 1e3);
    printf("phase 4: catch-up after %d chunks of lag\n", lag_chunks);
    index_store_close(b);
    t0 = kb_now_s();
    ingest(a, 2000000, lag_chunks / CHUNKS_PER_DOC);
    printf("  (written through A in %.1f s)\n", kb_now_s() - t0);
    t0 = kb_now_s();
    if (open_store(&b, db, e, pg.url, 1000000000))
        return 1;
    printf("  node B replayed the change log in %.1f s\n", kb_now_s() - t0);
    index_store_close(b);
    pgb_tmpdir(db2, "pg-c");
    t0 = kb_now_s();
    if (open_store(&b, db2, e, pg.url, 0))
        return 1;
    index_store_sync_status(b, &sb);
    printf("  a new node C (empty cache) built its cache from the tables in %.1f s (at change %lld)\n",
           kb_now_s() - t0, (long long)sb.applied_seq);
    index_store_close(b);
    index_store_close(a);
    index_store_close(sq);
    index_embedder_builtin_free(e);
    pgcluster_destroy(&pg);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s %s", dsq, da, db, db2);
    return system(cmd) == 0 ? 0 : 1;
}
