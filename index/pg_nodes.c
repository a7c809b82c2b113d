/* index/pg_nodes.c: what the nodes of one PostgreSQL tell each other besides data (store.backend =
 * postgres, schema 7): a heartbeat naming the embedders each node uses, the agents whose Inbox is
 * open on each node (presence), and the pruning of vectors no node needs any more.
 *
 * Tables (pg.c's migration 7; never mirrored into a node's SQLite, never in the change log):
 *   kbox_nodes(node_id "host:pid:handle", embedders "serve,target", started_at, last_seen)
 *   kbox_presence(node_id, actor, collections, last_seen)
 * Times are PostgreSQL's clock (clock_timestamp()), so nodes' clocks never need to agree.
 * Data flow: the sync thread (pg_sync.c) calls pg_nodes_beat every PG_BEAT_S seconds while
 * PostgreSQL answers. One beat is one transaction on the write connection: this node's row is
 * upserted, its presence rows are made equal to the list web/ last handed over
 * (index_presence_set: memory only, never PostgreSQL), rows older than PG_PRESENCE_TTL_S are
 * deleted (a dead node's agents expire), and the other nodes' agents seen within
 * PG_PRESENCE_TTL_S are read into a cache. index_presence_remote reads that cache only, so the
 * request path (the widget's "is anyone online?") never waits for PostgreSQL; a cache older than
 * PG_PRESENCE_TTL_S (PostgreSQL unreachable) counts nobody remote. An agent who leaves the Inbox on
 * node A stops counting on node B within two beats of A noticing it (web/api_handoff.c: up to two
 * Inbox pings); an agent of a node that died stops counting within PG_PRESENCE_TTL_S.
 * Pruning (every PG_PRUNE_EVERY_S, on whichever node's beat comes first; pg_nodes_prune): vectors
 * of an embedder that no node seen within PG_NODE_LIVE_S names and that no queued (or claimed)
 * re-embedding job names are deleted. During a rolling embedder change every node names both its
 * serving and its target embedder, so neither is pruned; a node down for longer than
 * PG_NODE_LIVE_S that comes back with an old embedder re-embeds (reembed_recheck queues it).
 * Locks: mu guards the presence lists; it is taken alone (never with the store's or a pg_db's).
 * Tests: tests/index/test_pg_rows.c (test_nodes_presence_prune), tests/web/test_pg_nodes.c
 * (test_presence_across_nodes). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/pg.h"

#define NODES_STR_(x) #x
#define NODES_STR(x) NODES_STR_(x)

struct pg_nodes {
    char node_id[128];
    pthread_mutex_t mu;
    struct index_presence mine[INDEX_PRESENCE_MAX]; /* this node's agents (web/) */
    int n_mine;
    struct index_presence remote[INDEX_PRESENCE_MAX]; /* other nodes' agents, as of remote_at */
    int n_remote;
    double remote_at;  /* kb_now_s() of the last read; 0 never */
    double beat_at;    /* kb_now_s() of the last beat; 0 never */
    double pruned_at;  /* kb_now_s() of the last prune; 0 never */
};

struct pg_nodes *pg_nodes_new(void)
{
    struct pg_nodes *n = kb_xcalloc(1, sizeof *n);
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        kb_strlcpy(host, "node", sizeof host);
    /* the object's address tells two stores of one process apart (tests, benchmarks) */
    snprintf(n->node_id, sizeof n->node_id, "%s:%ld:%lx", host, (long)getpid(), (unsigned long)(uintptr_t)n);
    pthread_mutex_init(&n->mu, NULL);
    return n;
}

void pg_nodes_free(struct pg_nodes *n)
{
    if (!n)
        return;
    pthread_mutex_destroy(&n->mu);
    free(n);
}

const char *pg_nodes_id(const struct pg_nodes *n)
{
    return n->node_id;
}

/* "serve,target" (either may be absent) of st's embedders into buf. */
static void nodes_embedders(struct index_store *st, char *buf, size_t cap)
{
    const struct index_embedder *serve, *target;
    store_lock(st);
    serve = store_embedder(st);
    target = st->emb;
    snprintf(buf, cap, "%s%s%s", serve ? serve->id : "", serve && target && target != serve ? "," : "",
             target && target != serve ? target->id : "");
    store_unlock(st);
}

int pg_nodes_prune(struct pg_db *db, double live_s, int64_t *n_deleted, struct kb_error *err)
{
    char lb[32];
    const char *v[1] = {lb};
    struct kb_arena a;
    struct pg_rows r = {0};
    int rc;
    snprintf(lb, sizeof lb, "%.3f", live_s);
    kb_arena_init(&a, 0, 0);
    *n_deleted = 0;
    /* nothing is pruned unless some node is live (the caller's own beat makes it so) */
    rc = pg_query(db, "WITH live AS (SELECT unnest(string_to_array(embedders, ',')) AS id FROM kbox_nodes"
                      " WHERE last_seen > extract(epoch from clock_timestamp()) - $1::float8),"
                      " d AS (DELETE FROM embeddings WHERE EXISTS (SELECT 1 FROM live)"
                      " AND embedder_id NOT IN (SELECT id FROM live)"
                      " AND embedder_id NOT IN (SELECT embedder_id FROM jobs WHERE kind = 'reembed' AND state = 'queued')"
                      " RETURNING 1) SELECT count(*) FROM d",
                  1, v, &a, &r, "prune old vectors", err);
    if (rc == 0 && r.n == 1 && r.v[0])
        kb_parse_i64(r.v[0], n_deleted);
    kb_arena_release(&a);
    return rc;
}

/* One transaction: this node's row and presence rows, the expired rows gone, the others' agents read. */
static int nodes_write(struct pg_nodes *n, struct pg_db *db, const char *embedders, const struct index_presence *mine,
                       int n_mine, struct kb_arena *a, struct pg_rows *others, struct kb_error *err)
{
    const char *v[2] = {n->node_id, embedders};
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_tx_exec(db, "INSERT INTO kbox_nodes(node_id, embedders, started_at, last_seen) VALUES($1, $2,"
                        " extract(epoch from clock_timestamp()), extract(epoch from clock_timestamp()))"
                        " ON CONFLICT(node_id) DO UPDATE SET embedders = $2, last_seen = excluded.last_seen",
                    2, v, NULL, NULL, "record this node", err);
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM kbox_presence WHERE node_id = $1", 1, v, NULL, NULL, "renew presence", err);
    for (int i = 0; rc == 0 && i < n_mine; i++) {
        const char *p[3] = {n->node_id, mine[i].actor, mine[i].collections};
        rc = pg_tx_exec(db, "INSERT INTO kbox_presence(node_id, actor, collections, last_seen)"
                            " VALUES($1, $2, $3, extract(epoch from clock_timestamp())) ON CONFLICT DO NOTHING",
                        3, p, NULL, NULL, "record presence", err);
    }
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM kbox_presence WHERE last_seen < extract(epoch from clock_timestamp()) - "
                            NODES_STR(PG_PRESENCE_TTL_S), 0, NULL, NULL, NULL, "expire presence", err);
    if (rc == 0)
        rc = pg_tx_exec(db, "SELECT actor, collections FROM kbox_presence WHERE node_id <> $1 ORDER BY actor LIMIT "
                            NODES_STR(INDEX_PRESENCE_MAX), 1, v, a, others, "read presence", err);
    /* commits when rc == 0: the heartbeat is seen by the others only whole */
    return pg_tx_end(db, rc, NULL, NULL, 0, err);
}

int pg_nodes_beat(struct pg_nodes *n, struct index_store *st, struct pg_db *db, bool force, struct kb_error *err)
{
    struct index_presence *mine = NULL;
    struct kb_arena a;
    struct pg_rows others = {0};
    char embedders[512];
    int n_mine, rc;
    double now = kb_now_s(), beat_at;
    pthread_mutex_lock(&n->mu);
    beat_at = n->beat_at;
    pthread_mutex_unlock(&n->mu);
    if (!force && beat_at > 0 && now - beat_at < PG_BEAT_S)
        return 0;
    nodes_embedders(st, embedders, sizeof embedders);
    mine = kb_xmalloc(sizeof n->mine);
    pthread_mutex_lock(&n->mu);
    n_mine = n->n_mine;
    memcpy(mine, n->mine, (size_t)n_mine * sizeof *mine);
    pthread_mutex_unlock(&n->mu);
    kb_arena_init(&a, 0, 0);
    rc = nodes_write(n, db, embedders, mine, n_mine, &a, &others, err);
    if (rc == 0) {
        pthread_mutex_lock(&n->mu);
        n->n_remote = 0;
        for (int i = 0; i < others.n && n->n_remote < INDEX_PRESENCE_MAX; i++) {
            struct index_presence *p = &n->remote[n->n_remote++];
            kb_strlcpy(p->actor, others.v[i * 2] ? others.v[i * 2] : "", sizeof p->actor);
            kb_strlcpy(p->collections, others.v[i * 2 + 1] ? others.v[i * 2 + 1] : "", sizeof p->collections);
        }
        n->remote_at = kb_now_s();
        n->beat_at = n->remote_at;
        pthread_mutex_unlock(&n->mu);
    }
    if (rc == 0 && (n->pruned_at == 0 || now - n->pruned_at >= PG_PRUNE_EVERY_S)) {
        int64_t n_del = 0;
        struct kb_error e = {0};
        n->pruned_at = now;
        if (pg_nodes_prune(db, PG_NODE_LIVE_S, &n_del, &e) != 0)
            kb_warn("postgresql: old vectors not pruned: %s", e.msg);
        else if (n_del > 0)
            kb_info("postgresql: pruned %lld vectors of embedders no node uses", (long long)n_del);
    }
    kb_arena_release(&a);
    free(mine);
    return rc;
}

void pg_nodes_leave(struct pg_nodes *n, struct pg_db *db)
{
    const char *v[1] = {n->node_id};
    struct kb_error e = {0};
    if (pg_query(db, "DELETE FROM kbox_presence WHERE node_id = $1", 1, v, NULL, NULL, "leave", &e) != 0)
        kb_warn("postgresql: presence rows left to expire: %s", e.msg);
}

/* ---- index.h: presence (web/api_handoff.c) ---------------------------------------------------------- */

void index_presence_set(struct index_store *st, const struct index_presence *p, int n)
{
    struct pg_nodes *nd = st && st->pg ? pg_sync_nodes(st->pg) : NULL;
    if (!nd)
        return;
    pthread_mutex_lock(&nd->mu);
    nd->n_mine = KB_MIN(n, INDEX_PRESENCE_MAX);
    if (nd->n_mine > 0)
        memcpy(nd->mine, p, (size_t)nd->n_mine * sizeof *p);
    nd->beat_at = 0; /* the next beat writes it (within a second: pg_sync.c's wait) */
    pthread_mutex_unlock(&nd->mu);
}

int index_presence_remote(struct index_store *st, struct index_presence *out, int max)
{
    struct pg_nodes *nd = st && st->pg ? pg_sync_nodes(st->pg) : NULL;
    int n = 0;
    if (!nd)
        return 0;
    pthread_mutex_lock(&nd->mu);
    if (nd->remote_at > 0 && kb_now_s() - nd->remote_at < PG_PRESENCE_TTL_S) {
        n = KB_MIN(nd->n_remote, max);
        memcpy(out, nd->remote, (size_t)n * sizeof *out);
    }
    pthread_mutex_unlock(&nd->mu);
    return n;
}
