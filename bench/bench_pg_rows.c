/* bench/bench_pg_rows.c: the conversation log shared through PostgreSQL (index/pg_rows.c) against
 * SQLite alone, on a private PostgreSQL 15 cluster this program starts (tests/support/pgcluster.c,
 * fsync off as in the tests). Two nodes are two stores with their own data dirs in this process.
 * Phases (exchanges of 20 question wordings, 3 per conversation, a citation each):
 *   1. append N exchanges in batches of 32 (rag/log.c's writer batches the same way) to a
 *      SQLite-only store and through node A; exchanges/s of each;
 *   2. propagation: 200 one-exchange appends on A, each timed from the return of A's append (its
 *      commit and its own cache update) until B has applied it, p50/p99;
 *   3. /api/stats on B (index_log_stats over everything): p50 of 50 calls, and on the SQLite store;
 *   4. a new node with an empty cache rebuilding the N + 200 messages from the tables: seconds;
 *   5. the answer spool: PostgreSQL stopped, N_SPOOL exchanges appended on A (spooled in its SQLite;
 *      exchanges/s), PostgreSQL started again: seconds until B's statistics count every one of them
 *      (A's sync thread reconnects, sends the spool one transaction per row, B applies them).
 * Usage: bench_pg_rows [N]   (default 20000). Needs postgresql-15. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "index/index.h"
#include "pgbench.h"
#include "../tests/support/pgcluster.h"

#define BATCH 32
#define N_PROPAGATE 200
#define N_STATS 50
#define N_SPOOL 2000

static struct index_store *open_store(const char *dir, const char *url)
{
    struct index_open_opts o;
    struct index_store *st = NULL;
    pgb_opts(&o, dir, url);
    if (pgb_open(&st, &o))
        exit(1);
    return st;
}

/* Appends n exchanges (from number `first`) in batches, message ids from id0 (0: the store's next);
 * seconds taken. */
static double append_from(struct index_store *st, int64_t first, int n, int64_t id0)
{
    static char secrets[BATCH][33], qs[BATCH][64];
    struct index_log_exchange x[BATCH];
    struct kb_error err = {0};
    int64_t next = id0;
    double t0 = kb_now_s();
    if (id0 == 0 && index_log_next_id(st, &next, &err) != 0) {
        fprintf(stderr, "bench_pg_rows: next id: %s\n", err.msg);
        exit(1);
    }
    for (int done = 0; done < n;) {
        int m = n - done < BATCH ? n - done : BATCH;
        for (int i = 0; i < m; i++) {
            int64_t k = first + done + i;
            snprintf(secrets[i], sizeof secrets[i], "%032lld", (long long)(k / 3));
            snprintf(qs[i], sizeof qs[i], "how do i descale model %lld", (long long)(k % 20));
            memset(&x[i], 0, sizeof x[i]);
            x[i].message_id = next++;
            x[i].secret = secrets[i];
            x[i].channel = "widget";
            x[i].question = x[i].qnorm = qs[i];
            x[i].answer = "Run the descaling programme with citric acid.";
            x[i].mode = "extractive";
            x[i].confidence = 0.8;
            x[i].latency_ms = 35 + (double)(k % 40);
            x[i].citations = "[{\"n\":1,\"document_id\":3,\"chunk_id\":7,\"document\":\"manual.pdf\",\"page\":4}]";
        }
        if (index_log_append(st, x, m, 0, &err) != 0) {
            fprintf(stderr, "bench_pg_rows: append: %s\n", err.msg);
            exit(1);
        }
        done += m;
    }
    return kb_now_s() - t0;
}

static double append(struct index_store *st, int64_t first, int n)
{
    return append_from(st, first, n, 0);
}

static double stats_p50(struct index_store *st)
{
    double t[N_STATS];
    for (int i = 0; i < N_STATS; i++) {
        struct kb_arena a;
        struct index_log_stats s;
        struct kb_error err = {0};
        double t0 = kb_now_s();
        kb_arena_init(&a, 0, 0);
        if (index_log_stats(st, 0, 0, 0, &a, &s, &err) != 0)
            fprintf(stderr, "bench_pg_rows: stats: %s\n", err.msg);
        t[i] = kb_now_s() - t0;
        kb_arena_release(&a);
    }
    qsort(t, N_STATS, sizeof t[0], pgb_cmp_double);
    return t[N_STATS / 2];
}

int main(int argc, char **argv)
{
    int64_t n64 = 20000;
    int n;
    struct pgcluster pg;
    char ds[PGB_DIR], da[PGB_DIR], db[PGB_DIR], dc[PGB_DIR], cmd[512];
    struct index_store *sq, *a, *b, *c;
    double t_sq, t_pg, lat[N_PROPAGATE], t0;
    if (argc > 1 && (kb_parse_i64(argv[1], &n64) != 0 || n64 > 10000000))
        n64 = 0;
    n = (int)n64;
    if (n < 1 || pgcluster_start(&pg) != 0) {
        fprintf(stderr, "usage: bench_pg_rows [N] (needs postgresql-15)\n");
        return 1;
    }
    pgb_tmpdir(ds, "pgrows");
    pgb_tmpdir(da, "pgrows");
    pgb_tmpdir(db, "pgrows");
    pgb_tmpdir(dc, "pgrows");
    sq = open_store(ds, NULL);
    a = open_store(da, pg.url);
    b = open_store(db, pg.url);
    t_sq = append(sq, 0, n);
    t_pg = append(a, 0, n);
    printf("append %d exchanges in batches of %d: sqlite %.0f/s, through postgresql (node A) %.0f/s\n", n, BATCH,
           n / t_sq, n / t_pg);
    for (int i = 0; i < N_PROPAGATE; i++) {
        struct index_sync_status sa, sb;
        double t1;
        append(a, n + i, 1);
        t1 = kb_now_s();
        index_store_sync_status(a, &sa);
        do {
            index_store_sync_status(b, &sb);
            if (sb.applied_seq < sa.applied_seq)
                usleep(200);
        } while (sb.applied_seq < sa.applied_seq && kb_now_s() - t1 < 10);
        lat[i] = kb_now_s() - t1;
    }
    qsort(lat, N_PROPAGATE, sizeof lat[0], pgb_cmp_double);
    printf("propagation A -> B of one logged exchange: p50 %.1f ms, p99 %.1f ms (%d samples)\n", lat[N_PROPAGATE / 2] * 1e3,
           lat[N_PROPAGATE * 99 / 100] * 1e3, N_PROPAGATE);
    printf("stats over all messages: sqlite store p50 %.2f ms, node B p50 %.2f ms\n", stats_p50(sq) * 1e3,
           stats_p50(b) * 1e3);
    t0 = kb_now_s();
    c = open_store(dc, pg.url);
    printf("new node rebuilding %d messages from the tables: %.2f s\n", n + N_PROPAGATE, kb_now_s() - t0);
    index_store_close(c);
    {
        double t_sp, t_back = 0;
        int64_t want = (int64_t)n + N_PROPAGATE + N_SPOOL, got = 0, id0 = 0;
        struct kb_error err = {0};
        if (index_log_next_id(a, &id0, &err) != 0) { /* rag/log.c reads it once, at start */
            fprintf(stderr, "bench_pg_rows: next id: %s\n", err.msg);
            return 1;
        }
        if (pgcluster_stop(&pg) != 0) {
            fprintf(stderr, "bench_pg_rows: cannot stop postgresql\n");
            return 1;
        }
        t_sp = append_from(a, n + N_PROPAGATE, N_SPOOL, id0);
        if (pgcluster_resume(&pg) != 0) {
            fprintf(stderr, "bench_pg_rows: cannot start postgresql again\n");
            return 1;
        }
        t0 = kb_now_s();
        while (got < want && kb_now_s() - t0 < 600) {
            struct kb_arena ar;
            struct index_log_stats s;
            kb_arena_init(&ar, 0, 0);
            if (index_log_stats(b, 0, 0, 0, &ar, &s, &err) == 0)
                got = s.n_questions;
            kb_arena_release(&ar);
            if (got < want)
                usleep(20000);
        }
        t_back = kb_now_s() - t0;
        printf("spool: %d exchanges appended on A while postgresql was down: %.0f/s; postgresql back -> all on B: "
               "%.2f s (%lld of %lld)\n", N_SPOOL, N_SPOOL / t_sp, t_back, (long long)got, (long long)want);
    }
    index_store_close(b);
    index_store_close(a);
    index_store_close(sq);
    pgcluster_destroy(&pg);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s %s", ds, da, db, dc);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_pg_rows: could not remove the temporary directories\n");
    return 0;
}
