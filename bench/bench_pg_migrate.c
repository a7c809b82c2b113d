/* bench/bench_pg_migrate.c: `kbox store migrate` and the shared re-embedding on a private PostgreSQL
 * 15 cluster this program starts (tests/support/pgcluster.c; fsync off as in the tests).
 * Phases (built-in embedder, 10-chunk documents of 120 pseudo-words, one original of 2 KiB per doc):
 *   1. a SQLite store of N_DOCS documents (dimension 256), written directly;
 *   2. migrate it into PostgreSQL (index_store_migrate, as `kbox store migrate`): seconds and
 *      documents/s and chunks/s including the final verification; then the verification alone (a
 *      second run that finds everything copied);
 *   3. migrate it back into a new SQLite store: seconds;
 *   4. re-embedding with a new embedder (dimension 384) as shared jobs: one node alone, then (after
 *      dropping the new vectors and jobs) two nodes stepping in two threads: seconds until both have
 *      switched, and how the jobs split between the two.
 * Usage: bench_pg_migrate [N_DOCS]   (default 1000). Needs postgresql-15. */
#include <pthread.h>
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
#define CHUNKS_PER_DOC 10

static int open_store(struct index_store **st, const char *dir, const struct index_embedder *e,
                      const struct index_embedder *prev, const char *url)
{
    struct index_open_opts o;
    const struct index_embedder *pv[1] = {prev};
    pgb_opts(&o, dir, url);
    o.embedder = e;
    o.reembed_in_background = true;
    o.prev_embedders = prev ? pv : NULL;
    o.n_prev_embedders = prev ? 1 : 0;
    return pgb_open(st, &o);
}

static int fill(const char *dir, const struct index_embedder *e, int n_docs)
{
    struct index_store *st = NULL;
    char orig[2048];
    if (open_store(&st, dir, e, NULL, NULL))
        return 1;
    for (int i = 0; i < n_docs; i++) {
        struct index_chunk c[CHUNKS_PER_DOC];
        struct index_doc d = {0};
        char path[64];
        struct kb_error err = {0};
        memset(c, 0, sizeof c);
        for (int k = 0; k < CHUNKS_PER_DOC; k++)
            c[k].text = pgb_text(WORDS);
        for (size_t k = 0; k < sizeof orig; k++)
            orig[k] = (char)('a' + (pgb_rand() % 26));
        snprintf(path, sizeof path, "/bench/%d.txt", i);
        d.path = path;
        d.name = path;
        if (index_doc_replace(st, &d, c, CHUNKS_PER_DOC, NULL, orig, sizeof orig, NULL, &err)) {
            fprintf(stderr, "replace: %s\n", err.msg);
            return 1;
        }
        for (int k = 0; k < CHUNKS_PER_DOC; k++)
            free((char *)c[k].text);
    }
    index_store_close(st);
    return 0;
}

static double migrate(const char *from, const char *to, struct index_migrate_report *r)
{
    struct index_migrate_opts o;
    struct kb_error err = {0};
    double t0 = kb_now_s();
    memset(&o, 0, sizeof o);
    o.from = from;
    o.to = to;
    if (index_store_migrate(&o, r, &err)) {
        fprintf(stderr, "migrate %s -> %s: %s\n", from, to, err.msg);
        exit(1);
    }
    return kb_now_s() - t0;
}

struct stepper {
    struct index_store *st;
    double seconds;
};

static void *step_main(void *arg)
{
    struct stepper *s = arg;
    double t0 = kb_now_s();
    bool fin = false;
    while (!fin) {
        struct kb_error err = {0};
        if (index_reembed_step(s->st, 64, NULL, &fin, &err)) {
            fprintf(stderr, "step: %s\n", err.msg);
            exit(1);
        }
    }
    s->seconds = kb_now_s() - t0;
    return NULL;
}

/* Re-embeds with n_nodes nodes (fresh caches on the database) in parallel; seconds until all switched. */
static double reembed(int n_nodes, const struct index_embedder *e_new, const struct index_embedder *e_old,
                      const char *url)
{
    struct stepper s[2];
    pthread_t th[2];
    char dirs[2][64];
    double t0, t;
    for (int i = 0; i < n_nodes; i++) {
        pgb_tmpdir(dirs[i], "pgmig-node");
        if (open_store(&s[i].st, dirs[i], e_new, e_old, url))
            exit(1);
    }
    t0 = kb_now_s();
    for (int i = 0; i < n_nodes; i++)
        pthread_create(&th[i], NULL, step_main, &s[i]);
    for (int i = 0; i < n_nodes; i++)
        pthread_join(th[i], NULL);
    t = kb_now_s() - t0;
    for (int i = 0; i < n_nodes; i++) {
        char cmd[128];
        index_store_close(s[i].st);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dirs[i]);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dirs[i]);
    }
    return t;
}

int main(int argc, char **argv)
{
    int64_t n_arg = 1000;
    struct pgcluster pg;
    struct index_embedder *e256 = NULL, *e384 = NULL;
    struct index_migrate_report r;
    struct kb_error err = {0};
    char dsq[64], dback[64], from[96], to[600], back[96], sql[256];
    double t;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if ((argc > 1 && kb_parse_i64(argv[1], &n_arg) != 0) || n_arg < 1) {
        fprintf(stderr, "usage: bench_pg_migrate [N_DOCS]\n");
        return 2;
    }
    if (pgcluster_start(&pg) != 0) {
        fprintf(stderr, "bench_pg_migrate: no PostgreSQL 15 cluster\n");
        return 1;
    }
    if (index_embedder_builtin_new(&e256, 256, &err) || index_embedder_builtin_new(&e384, 384, &err))
        return 1;
    pgb_tmpdir(dsq, "pgmig-sqlite");
    pgb_tmpdir(dback, "pgmig-back");
    t = kb_now_s();
    if (fill(dsq, e256, (int)n_arg))
        return 1;
    printf("sqlite store: %lld documents, %lld chunks written in %.1f s\n", (long long)n_arg,
           (long long)n_arg * CHUNKS_PER_DOC, kb_now_s() - t);
    snprintf(from, sizeof from, "sqlite:%s", dsq);
    snprintf(to, sizeof to, "postgres:%s", pg.url);
    snprintf(back, sizeof back, "sqlite:%s", dback);
    t = migrate(from, to, &r);
    printf("migrate sqlite -> postgres: %.1f s (%.0f documents/s, %.0f chunks/s), %lld vectors, %lld originals,"
           " verified %d\n", t, (double)r.n_documents / t, (double)r.n_chunks / t, (long long)r.n_vectors,
           (long long)r.n_originals, r.verified);
    t = migrate(from, to, &r);
    printf("rerun (everything present: the checks and the verification alone): %.1f s, copied %lld\n", t,
           (long long)r.n_copied);
    t = migrate(to, back, &r);
    printf("migrate postgres -> new sqlite: %.1f s (%.0f chunks/s), verified %d\n", t, (double)r.n_chunks / t,
           r.verified);
    t = reembed(1, e384, e256, pg.url);
    printf("re-embedding to dimension 384, one node: %.1f s (%.0f chunks/s)\n", t, (double)n_arg * CHUNKS_PER_DOC / t);
    snprintf(sql, sizeof sql, "DELETE FROM embeddings WHERE embedder_id = '%s'; DELETE FROM jobs WHERE kind = 'reembed'",
             e384->id);
    if (pgcluster_sql(&pg, sql) != 0)
        return 1;
    t = reembed(2, e384, e256, pg.url);
    printf("re-embedding to dimension 384, two nodes in parallel: %.1f s (%.0f chunks/s)\n", t,
           (double)n_arg * CHUNKS_PER_DOC / t);
    snprintf(sql, sizeof sql, "rm -rf %s %s", dsq, dback);
    if (system(sql) != 0)
        fprintf(stderr, "could not remove the stores\n");
    pgcluster_destroy(&pg);
    index_embedder_builtin_free(e256);
    index_embedder_builtin_free(e384);
    return 0;
}
