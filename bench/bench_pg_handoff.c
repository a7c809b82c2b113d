/* bench/bench_pg_handoff.c: human handoff shared through PostgreSQL (index/pg_handoff.c) against
 * SQLite alone, on a private PostgreSQL 15 cluster this program starts (tests/support/pgcluster.c,
 * fsync off as in the tests). Two nodes are two stores with their own data dirs in this process.
 * Phases:
 *   1. N agent messages into one taken chat on a SQLite-only store and through node A: messages/s;
 *   2. live events across nodes: N_PROPAGATE messages written on A, each timed from the return of
 *      A's write until node B's handoff hook (index_store_on_handoff, what wakes web/'s streams)
 *      fired for it, p50/p99;
 *   3. take races: N_RACE queued chats, each taken at once by one thread on A and one on B: the
 *      count of 200s (wins) and 409s (conflicts) must be N_RACE each.
 * Usage: bench_pg_handoff [N]   (default 2000). Needs postgresql-15. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "index/index.h"
#include "pgbench.h"
#include "../tests/support/pgcluster.h"

#define N_PROPAGATE 200
#define N_RACE 100

static void die(const char *what, const struct kb_error *err)
{
    fprintf(stderr, "bench_pg_handoff: %s: %s\n", what, err->msg);
    exit(1);
}

static struct index_store *open_store(const char *dir, const char *url)
{
    struct index_open_opts o;
    struct index_store *st = NULL;
    pgb_opts(&o, dir, url);
    if (pgb_open(&st, &o))
        exit(1);
    return st;
}

/* A taken chat on st; its id. */
static int64_t taken_chat(struct index_store *st, const char *token_hash)
{
    struct index_handoff h = {.kind = "chat", .trigger = "button"};
    struct kb_error err = {0};
    int64_t id = 0;
    if (index_handoff_create(st, &h, token_hash, &id, &err) || index_handoff_take(st, id, "user:ann", "Ann", &err))
        die("create and take", &err);
    return id;
}

static double messages(struct index_store *st, int64_t id, int n)
{
    struct kb_error err = {0};
    double t0 = kb_now_s();
    for (int i = 0; i < n; i++) {
        int64_t seq = 0;
        if (index_handoff_message(st, id, "user:ann", "Ann", "Run the descaling programme with citric acid.", &seq,
                                  &err))
            die("message", &err);
    }
    return kb_now_s() - t0;
}

static atomic_int g_seen;

static void hook(void *ctx, int64_t id)
{
    (void)ctx;
    (void)id;
    atomic_fetch_add(&g_seen, 1);
}

struct racer {
    struct index_store *st;
    pthread_barrier_t *bar;
    int64_t id;
    const char *agent;
    int rc;
};

static void *race(void *p)
{
    struct racer *r = p;
    struct kb_error err = {0};
    pthread_barrier_wait(r->bar);
    r->rc = index_handoff_take(r->st, r->id, r->agent, r->agent, &err);
    return NULL;
}

int main(int argc, char **argv)
{
    int64_t n64 = 2000;
    int n, wins = 0, conflicts = 0, other = 0;
    struct pgcluster pg;
    char d0[PGB_DIR], da[PGB_DIR], db[PGB_DIR];
    struct index_store *lone = NULL, *a, *b;
    struct kb_error err = {0};
    double t_lone, t_pg, lat[N_PROPAGATE];
    int64_t id;
    if (argc > 1 && (kb_parse_i64(argv[1], &n64) != 0 || n64 > 10000000))
        n64 = 0;
    n = (int)n64;
    if (n < 1 || pgcluster_start(&pg) != 0) {
        fprintf(stderr, "usage: bench_pg_handoff [N]; needs postgresql-15\n");
        return 1;
    }
    pgb_tmpdir(d0, "pgho");
    pgb_tmpdir(da, "pgho");
    pgb_tmpdir(db, "pgho");
    lone = open_store(d0, NULL);
    a = open_store(da, pg.url);
    b = open_store(db, pg.url);
    t_lone = messages(lone, taken_chat(lone, "lone"), n);
    id = taken_chat(a, "shared");
    t_pg = messages(a, id, n);
    printf("messages into one chat: SQLite alone %.0f/s, through node A %.0f/s (%d each)\n", n / t_lone, n / t_pg, n);
    /* live events: A writes, B's hook hears */
    {
        struct index_sync_status s;
        do {
            index_store_sync_status(b, &s);
            usleep(10000);
        } while (s.lag_seq > 0);
    }
    index_store_on_handoff(b, hook, NULL);
    for (int i = 0; i < N_PROPAGATE; i++) {
        int before = atomic_load(&g_seen);
        double t0;
        int64_t seq = 0;
        if (index_handoff_message(a, id, "user:ann", "Ann", "Which model?", &seq, &err))
            die("message", &err);
        t0 = kb_now_s();
        while (atomic_load(&g_seen) == before && kb_now_s() - t0 < 10)
            usleep(100);
        lat[i] = kb_now_s() - t0;
    }
    index_store_on_handoff(b, NULL, NULL);
    qsort(lat, N_PROPAGATE, sizeof lat[0], pgb_cmp_double);
    printf("a message on A until B's hook fired: p50 %.1f ms, p99 %.1f ms (%d samples)\n",
           lat[N_PROPAGATE / 2] * 1e3, lat[N_PROPAGATE * 99 / 100] * 1e3, N_PROPAGATE);
    /* take races */
    for (int i = 0; i < N_RACE; i++) {
        struct index_handoff h = {.kind = "chat", .trigger = "button"};
        char tok[32];
        pthread_t th[2];
        pthread_barrier_t bar;
        struct racer r[2] = {{a, &bar, 0, "user:ann", 0}, {b, &bar, 0, "user:bob", 0}};
        snprintf(tok, sizeof tok, "race-%d", i);
        if (index_handoff_create(i % 2 ? a : b, &h, tok, &r[0].id, &err))
            die("create", &err);
        r[1].id = r[0].id;
        pthread_barrier_init(&bar, NULL, 2);
        for (int k = 0; k < 2; k++)
            pthread_create(&th[k], NULL, race, &r[k]);
        for (int k = 0; k < 2; k++) {
            pthread_join(th[k], NULL);
            wins += r[k].rc == 0;
            conflicts += r[k].rc == KB_ECONFLICT;
            other += r[k].rc != 0 && r[k].rc != KB_ECONFLICT;
        }
        pthread_barrier_destroy(&bar);
    }
    printf("take races (one thread on A, one on B, %d chats): %d won, %d conflict, %d other\n", N_RACE, wins,
           conflicts, other);
    index_store_close(b);
    index_store_close(a);
    index_store_close(lone);
    pgcluster_destroy(&pg);
    {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", d0, da, db);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_pg_handoff: could not remove the data dirs\n");
    }
    return wins == N_RACE && conflicts == N_RACE && other == 0 ? 0 : 1;
}
