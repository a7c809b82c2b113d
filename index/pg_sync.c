/* index/pg_sync.c: keeps one node's local cache (SQLite + FTS5 + FAISS in data.dir) equal to
 * PostgreSQL, the source of truth with store.backend = postgres.
 *
 * Data flow: a writer commits to PostgreSQL (pg.c: tables + change-log rows + NOTIFY) and then calls
 * pg_sync_catch_up(), so the node that wrote reads its own write at once. Every other node's sync
 * thread is woken by the NOTIFY on its LISTEN connection (or by its poll every store.poll_s seconds,
 * which covers notifications lost while it was disconnected), reads the changes with seq > the
 * cache's position and applies each changed object's current state (pg_doc_fetch, one snapshot)
 * through store_mirror.c. A batch of changes is deduplicated (an object changed ten times is read
 * once); collections that exist are applied before documents, and deleted collections after them,
 * so the cache's foreign keys always hold. The position (meta 'pg_seq') advances after a batch is
 * applied; a crash in between re-applies states, which is harmless. The batch's changes of the shared
 * rows (log, curated answers, accounts, bots, collections' handoff settings, handoffs: kinds
 * v g p q u s k a b o h) go to
 * pg_rows_apply (pg_rows.c), and a rebuild reloads those tables too (pg_rows_resync).
 * Rebuild: a cache filled from another database (meta 'pg_cluster' differs), or one more than
 * store.rebuild_lag changes behind, is resynchronised from the tables instead of the log: every
 * collection and document is applied, then cached objects PostgreSQL no longer has are deleted.
 * Searches never wait for any of this: they read the cache under the store's lock, which is held
 * only while one object is written into SQLite.
 * Faults: while PostgreSQL is unreachable the thread retries every poll_s seconds (libpq's PQreset),
 * writes fail with KB_EBUSY (pg.c), searches go on from the cache, and /api/health shows the node
 * disconnected with its lag. A node that starts while PostgreSQL is down (pg_sync_start_offline)
 * serves the cache it has; at the first contact the thread migrates, checks the database is the one
 * the cache followed (meta 'pg_cluster'; else it rebuilds) and catches up.
 * Heartbeat: the thread wakes at least every SYNC_TICK_MS; every PG_BEAT_S it records this node, its
 * embedders and its agents' presence in PostgreSQL and reads the other nodes' (pg_nodes.c), and
 * after each catch-up it flushes the answers spooled while PostgreSQL was unreachable (pg_rows.c).
 * Locks: apply_mu makes one applier at a time (the thread or a writer's catch-up); it is taken before
 * the pg_db mutex (one PostgreSQL transaction) and before the store's mutex (one SQLite
 * transaction), never the other way. stat_mu guards the figures /api/health reads.
 * Tests: tests/index/test_pg.c, tests/web/test_pg_nodes.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/pg.h"

#define SYNC_BATCH 512
#define SYNC_TICK_MS 1000 /* the thread's longest sleep: heartbeats and presence changes go out within it */

struct pg_sync {
    struct index_store *st;   /* borrowed: the cache */
    struct pg_db *db;         /* owned: writes and the sync's reads */
    struct pg_db *listen;     /* owned by the thread: LISTEN; NULL while unreachable */
    char *url, *password_file; /* owned copies */
    int poll_s;
    int64_t rebuild_lag;
    char cluster[64];         /* the database's id */
    pthread_t th;
    bool started;
    int wake[2];              /* self-pipe: a byte stops the thread */
    pthread_mutex_t apply_mu; /* one applier at a time */
    pthread_mutex_t stat_mu;  /* guards the figures below */
    bool stopping;
    int64_t applied, head;    /* change-log sequences */
    double pending_at;        /* commit time (unix s) of the oldest change seen but not applied; 0 none */
    double contact_at;        /* wall time of the last successful exchange, unix s */
    double polled_at;         /* kb_now_s() of the thread's last catch-up */
    int64_t spooled;          /* answers in the spool (pg_rows.c keeps it; /api/health reads it
                                 here, never from SQLite, so health never waits for the store) */
    bool connected;
    char error[256];
    bool need_prepare;        /* started offline: migrate and check the database at the first contact */
    struct pg_nodes *nodes;   /* owned: heartbeats and presence (pg_nodes.c) */
};

static double sync_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records the outcome of one exchange with PostgreSQL. */
static void sync_note(struct pg_sync *s, int rc, const struct kb_error *e)
{
    pthread_mutex_lock(&s->stat_mu);
    if (rc == 0) {
        s->connected = true;
        s->contact_at = sync_wall_s();
        s->error[0] = '\0';
    } else {
        if (rc == KB_EBUSY)
            s->connected = false;
        kb_strlcpy(s->error, e->msg, sizeof s->error);
    }
    pthread_mutex_unlock(&s->stat_mu);
}

/* ---- applying one object -------------------------------------------------------------------------- */

static int sync_collection(struct pg_sync *s, int64_t id, bool *found, struct kb_error *err)
{
    char name[256];
    int64_t created = 0;
    int rc = pg_collection_fetch(s->db, id, found, name, sizeof name, &created, err);
    if (rc == 0)
        rc = store_mirror_collection(s->st, id, *found ? name : NULL, created, err);
    return rc;
}

/* Fetches an original the cache lacks (best effort: a queued document has none yet). */
static void sync_original(struct pg_sync *s, const char *sha)
{
    void *data = NULL;
    size_t n = 0;
    char got[65];
    struct kb_error e = {0};
    if (!sha[0] || store_mirror_has_original(s->st, sha))
        return;
    if (pg_original_fetch(s->db, sha, &data, &n, &e) == 0) {
        if (store_original_put(s->st, data, n, got, &e) != 0)
            kb_warn("postgresql: original %s not cached: %s", sha, e.msg);
        else if (strcmp(got, sha) != 0)
            kb_warn("postgresql: original %s has the digest %s", sha, got);
    }
    free(data);
}

static int sync_doc(struct pg_sync *s, int64_t id, bool meta_only, struct kb_error *err)
{
    struct kb_arena a;
    struct pg_doc_state ds;
    const struct index_embedder *e;
    int rc;
    kb_arena_init(&a, 0, 0);
    store_lock(s->st);
    e = store_embedder(s->st); /* the vectors search uses */
    store_unlock(s->st);
    rc = pg_doc_fetch(s->db, id, meta_only, e, &a, &ds, err);
    if (rc == 0 && ds.found && !meta_only)
        sync_original(s, ds.doc.sha256);
    if (rc == 0) {
        rc = store_mirror_doc(s->st, id, &ds, meta_only, e, err);
        if (rc == KB_ECONFLICT) { /* its collection is not cached yet: apply it, then retry */
            bool found = false;
            rc = sync_collection(s, ds.doc.collection_id, &found, err);
            if (rc == 0)
                rc = store_mirror_doc(s->st, id, &ds, meta_only, e, err);
        }
    }
    free(ds.vectors);
    kb_arena_release(&a);
    if (rc == KB_ENOENT && meta_only) /* not cached yet: the whole document */
        rc = sync_doc(s, id, false, err);
    return rc;
}

/* ---- a batch of changes --------------------------------------------------------------------------- */

/* Applies changes ch[0..n) as states: collections that exist, then documents (whole when any change
 * of the batch replaced it), then collections that are gone. */
static int sync_batch(struct pg_sync *s, const struct pg_change *ch, int n, struct kb_error *err)
{
    bool *gone = kb_xcalloc((size_t)n + 1, sizeof(bool));
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        bool dup = false, found = false;
        if (ch[i].kind != PG_KIND_COLLECTION)
            continue;
        for (int k = i + 1; k < n && !dup; k++)
            dup = ch[k].kind == PG_KIND_COLLECTION && ch[k].obj_id == ch[i].obj_id;
        if (dup)
            continue;
        {
            char name[256];
            int64_t created = 0;
            rc = pg_collection_fetch(s->db, ch[i].obj_id, &found, name, sizeof name, &created, err);
            if (rc == 0 && found)
                rc = store_mirror_collection(s->st, ch[i].obj_id, name, created, err);
            gone[i] = rc == 0 && !found;
        }
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        bool dup = false, whole = ch[i].kind == PG_KIND_DOC;
        if (ch[i].kind != PG_KIND_DOC && ch[i].kind != PG_KIND_DOC_META)
            continue;
        for (int k = i + 1; k < n && !dup; k++)
            dup = (ch[k].kind == PG_KIND_DOC || ch[k].kind == PG_KIND_DOC_META) && ch[k].obj_id == ch[i].obj_id;
        if (dup)
            continue;
        for (int k = 0; k < i && !whole; k++)
            whole = ch[k].kind == PG_KIND_DOC && ch[k].obj_id == ch[i].obj_id;
        rc = sync_doc(s, ch[i].obj_id, !whole, err);
    }
    if (rc == 0) /* the conversation log and curated answers (pg_rows.c) */
        rc = pg_rows_apply(s->st, s->db, ch, n, err);
    for (int i = 0; rc == 0 && i < n; i++)
        if (gone[i])
            rc = store_mirror_collection(s->st, ch[i].obj_id, NULL, 0, err);
    free(gone);
    return rc;
}

/* Resynchronises every object from the tables (not the log); then the position is head. */
static int sync_rebuild(struct pg_sync *s, bool wipe, struct kb_error *err)
{
    int64_t head = 0, *ids = NULL, n = 0;
    struct kb_arena a;
    struct index_doc *docs = NULL;
    struct index_collection *colls = NULL;
    int n_docs = 0, n_colls = 0, rc;
    double t0 = kb_now_s();
    kb_info("postgresql: %s the local cache from the database", wipe ? "rebuilding" : "resynchronising");
    kb_arena_init(&a, 0, 0);
    rc = pg_head(s->db, &head, err);
    if (rc == 0 && wipe)
        rc = store_mirror_wipe(s->st, err);
    if (rc == 0)
        rc = pg_ids(s->db, "collections", &ids, &n, err);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        bool found = false;
        rc = sync_collection(s, ids[i], &found, err);
    }
    free(ids);
    ids = NULL;
    if (rc == 0)
        rc = pg_ids(s->db, "documents", &ids, &n, err);
    for (int64_t i = 0; rc == 0 && i < n; i++)
        rc = sync_doc(s, ids[i], false, err);
    /* what the cache has and the database has not */
    if (rc == 0)
        rc = index_doc_list(s->st, 0, &a, &docs, &n_docs, err);
    for (int i = 0; rc == 0 && i < n_docs; i++) {
        int64_t lo = 0, hi = n;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (ids[mid] < docs[i].id)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == n || ids[lo] != docs[i].id)
            rc = sync_doc(s, docs[i].id, false, err); /* reads "not found": deletes it */
    }
    if (rc == 0)
        rc = pg_rows_resync(s->st, s->db, err);
    if (rc == 0)
        rc = index_collection_list(s->st, &a, &colls, &n_colls, err);
    for (int i = 0; rc == 0 && i < n_colls; i++) {
        bool found = true;
        rc = sync_collection(s, colls[i].id, &found, err);
    }
    if (rc == 0)
        rc = store_mirror_set_position(s->st, head, s->cluster, err);
    if (rc == 0) {
        pthread_mutex_lock(&s->stat_mu);
        s->applied = head;
        pthread_mutex_unlock(&s->stat_mu);
        kb_info("postgresql: cache rebuilt at change %lld (%lld documents) in %.1f s", (long long)head, (long long)n,
                kb_now_s() - t0);
    }
    free(ids);
    kb_arena_release(&a);
    return rc;
}

/* apply_mu held. */
static int sync_catch_up_locked(struct pg_sync *s, struct kb_error *err)
{
    struct pg_change *ch = kb_xmalloc(SYNC_BATCH * sizeof *ch);
    int64_t applied, head = 0;
    int rc, n = 0;
    pthread_mutex_lock(&s->stat_mu);
    applied = s->applied;
    pthread_mutex_unlock(&s->stat_mu);
    rc = pg_head(s->db, &head, err);
    if (rc == 0 && head - applied > s->rebuild_lag) {
        rc = sync_rebuild(s, false, err);
        applied = head;
    }
    while (rc == 0) {
        rc = pg_changes_since(s->db, applied, ch, SYNC_BATCH, &n, err);
        if (rc || n == 0)
            break;
        pthread_mutex_lock(&s->stat_mu);
        s->head = KB_MAX(head, ch[n - 1].seq);
        s->pending_at = ch[0].at;
        pthread_mutex_unlock(&s->stat_mu);
        rc = sync_batch(s, ch, n, err);
        if (rc == 0)
            rc = store_mirror_set_position(s->st, ch[n - 1].seq, s->cluster, err);
        if (rc == 0) {
            applied = ch[n - 1].seq;
            pthread_mutex_lock(&s->stat_mu);
            s->applied = applied;
            pthread_mutex_unlock(&s->stat_mu);
        }
    }
    pthread_mutex_lock(&s->stat_mu);
    if (rc == 0) {
        s->head = KB_MAX(s->head, applied);
        s->pending_at = 0;
    }
    pthread_mutex_unlock(&s->stat_mu);
    free(ch);
    return rc;
}

void pg_sync_catch_up(struct pg_sync *s)
{
    struct kb_error e = {0};
    int rc;
    pthread_mutex_lock(&s->apply_mu);
    rc = sync_catch_up_locked(s, &e);
    pthread_mutex_unlock(&s->apply_mu);
    sync_note(s, rc, &e);
    if (rc)
        kb_warn("postgresql: cache not caught up: %s", e.msg);
}

/* ---- the thread ----------------------------------------------------------------------------------- */

static bool sync_stopping(struct pg_sync *s)
{
    bool v;
    pthread_mutex_lock(&s->stat_mu);
    v = s->stopping;
    pthread_mutex_unlock(&s->stat_mu);
    return v;
}

/* The first contact of a node started offline: migrations, then the database must be the one the
 * cache followed (else the cache is rebuilt from it). */
static int sync_prepare(struct pg_sync *s, struct kb_error *err)
{
    char cluster[64];
    int rc = pg_db_prepare(s->db, true, err);
    if (rc == 0)
        rc = pg_db_cluster_id(s->db, cluster, sizeof cluster, err);
    if (rc == 0 && strcmp(cluster, s->cluster) != 0) {
        kb_warn("postgresql: the local cache was filled from another database (%s); rebuilding", s->cluster);
        kb_strlcpy(s->cluster, cluster, sizeof s->cluster);
        rc = sync_rebuild(s, true, err);
    }
    if (rc == 0) {
        kb_info("postgresql: reachable again; following the change log");
        s->need_prepare = false;
    }
    return rc;
}

/* One wake-up of the thread: the catch-up (when notified or poll_s passed since the last), the
 * answers spooled while PostgreSQL was down (pg_rows.c), the heartbeat when due (pg_nodes.c). */
static int sync_round(struct pg_sync *s, bool notified, struct kb_error *err)
{
    int rc;
    if (notified || kb_now_s() - s->polled_at >= s->poll_s) {
        s->polled_at = kb_now_s();
        int64_t n_sent = 0;
        pg_sync_catch_up(s);
        pg_rows_spool_flush(s->st, &n_sent);
    }
    rc = pg_nodes_beat(s->nodes, s->st, s->db, false, err);
    if (rc && rc != KB_EBUSY) { /* the statement's error: logged, the thread goes on */
        kb_warn("postgresql: heartbeat not recorded: %s", err->msg);
        rc = 0;
    }
    return rc;
}

static void *sync_main(void *arg)
{
    struct pg_sync *s = arg;
    while (!sync_stopping(s)) {
        struct kb_error e = {0};
        bool notified = false;
        int rc = s->need_prepare ? sync_prepare(s, &e) : 0;
        if (rc == 0 && !s->listen)
            rc = pg_db_open(&s->listen, s->url, s->password_file, false, &e);
        if (rc == 0)
            rc = pg_listen(s->listen, &e); /* after a reconnect too: LISTEN does not survive it */
        if (rc == 0)
            rc = sync_round(s, true, &e); /* what happened while nobody listened */
        while (rc == 0 && !sync_stopping(s)) {
            rc = pg_wait(s->listen, s->wake[0], SYNC_TICK_MS, &notified, &e);
            if (rc == 0) /* on a notification, every poll_s seconds regardless, and the heartbeat */
                rc = sync_round(s, notified, &e);
        }
        if (rc && !sync_stopping(s)) {
            struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
            sync_note(s, rc, &e);
            kb_warn("postgresql: %s; retrying in %d s", e.msg, s->poll_s);
            poll(&p, 1, s->poll_s * 1000);
        }
    }
    return NULL;
}

static int sync_start(struct pg_sync **out, struct index_store *st, struct pg_db *db, const char *url,
                      const char *password_file, int poll_s, int64_t rebuild_lag, bool offline, struct kb_error *err)
{
    struct pg_sync *s = kb_xcalloc(1, sizeof *s);
    char cached[64];
    int64_t pos = 0;
    int rc;
    *out = NULL;
    s->st = st;
    s->db = db;
    s->url = kb_xstrdup(url);
    s->password_file = kb_xstrdup(password_file ? password_file : "");
    s->poll_s = poll_s;
    s->rebuild_lag = rebuild_lag;
    s->wake[0] = s->wake[1] = -1;
    s->nodes = pg_nodes_new();
    pthread_mutex_init(&s->apply_mu, NULL);
    pthread_mutex_init(&s->stat_mu, NULL);
    if ((rc = pg_rows_spool_open(st, err)) != 0)
        goto out_fail;
    s->spooled = KB_MAX(pg_rows_spool_count(st), 0);
    if (pipe(s->wake) != 0) {
        rc = kb_error_set(err, KB_EIO, "pipe: %s", strerror(errno));
        goto out_fail;
    }
    store_mirror_position(st, &pos, cached, sizeof cached);
    s->applied = pos;
    if (offline) { /* serve the cache as it is; sync_main does the rest once PostgreSQL answers */
        struct kb_error e = {0};
        if (!cached[0]) {
            rc = kb_error_set(err, KB_EBUSY, "postgresql is unreachable and the local cache never followed it: "
                                             "nothing to serve");
            goto out_fail;
        }
        kb_strlcpy(s->cluster, cached, sizeof s->cluster);
        s->need_prepare = true;
        sync_note(s, kb_error_set(&e, KB_EBUSY, "postgresql is unreachable; serving the local cache"), &e);
        goto out_thread;
    }
    rc = pg_db_cluster_id(db, s->cluster, sizeof s->cluster, err);
    if (rc)
        goto out_fail;
    if (strcmp(cached, s->cluster) != 0) {
        if (cached[0])
            kb_warn("postgresql: the local cache was filled from another database (%s); rebuilding", cached);
        rc = sync_rebuild(s, true, err);
    } else {
        pthread_mutex_lock(&s->apply_mu);
        rc = sync_catch_up_locked(s, err);
        pthread_mutex_unlock(&s->apply_mu);
    }
    sync_note(s, rc, err ? err : &(struct kb_error){0});
    if (rc)
        goto out_fail;
    reembed_recheck(st); /* the database may lack this node's embedder's vectors: shared re-embedding */
out_thread:
    if (pthread_create(&s->th, NULL, sync_main, s) != 0) {
        rc = kb_error_set(err, KB_EINTERNAL, "cannot start the postgresql sync thread");
        goto out_fail;
    }
    s->started = true;
    *out = s;
    return 0;
out_fail:
    pg_sync_stop(s);
    return rc;
}

int pg_sync_start(struct pg_sync **out, struct index_store *st, struct pg_db *db, const char *url,
                  const char *password_file, int poll_s, int64_t rebuild_lag, struct kb_error *err)
{
    return sync_start(out, st, db, url, password_file, poll_s, rebuild_lag, false, err);
}

int pg_sync_start_offline(struct pg_sync **out, struct index_store *st, struct pg_db *db, const char *url,
                          const char *password_file, int poll_s, int64_t rebuild_lag, struct kb_error *err)
{
    return sync_start(out, st, db, url, password_file, poll_s, rebuild_lag, true, err);
}

void pg_sync_stop(struct pg_sync *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->stat_mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->stat_mu);
    if (s->wake[1] >= 0 && write(s->wake[1], "x", 1) < 0)
        kb_warn("postgresql: cannot wake the sync thread: %s", strerror(errno));
    if (s->started)
        pthread_join(s->th, NULL);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    if (s->started && s->nodes && s->connected)
        pg_nodes_leave(s->nodes, s->db);
    pg_nodes_free(s->nodes);
    pg_db_close(s->listen);
    pg_db_close(s->db);
    pthread_mutex_destroy(&s->apply_mu);
    pthread_mutex_destroy(&s->stat_mu);
    free(s->url);
    free(s->password_file);
    free(s);
}

struct pg_nodes *pg_sync_nodes(struct pg_sync *s)
{
    return s->nodes;
}

struct pg_db *pg_sync_db(struct pg_sync *s)
{
    return s->db;
}

int pg_sync_connect(struct pg_sync *s, struct pg_db **out, struct kb_error *err)
{
    return pg_db_open(out, s->url, s->password_file, false, err);
}

void pg_sync_status(struct pg_sync *s, struct index_sync_status *out)
{
    double now = sync_wall_s();
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->stat_mu);
    out->enabled = true;
    out->connected = s->connected;
    out->applied_seq = s->applied;
    out->head_seq = KB_MAX(s->head, s->applied);
    out->lag_seq = out->head_seq - s->applied;
    out->lag_s = s->pending_at > 0 && out->lag_seq > 0 ? KB_MAX(0.0, now - s->pending_at) : 0;
    out->since_contact_s = s->contact_at > 0 ? KB_MAX(0.0, now - s->contact_at) : -1;
    kb_strlcpy(out->error, s->error, sizeof out->error);
    out->spooled = s->spooled;
    pthread_mutex_unlock(&s->stat_mu);
}

void pg_sync_set_spooled(struct pg_sync *s, int64_t n)
{
    pthread_mutex_lock(&s->stat_mu);
    s->spooled = KB_MAX(n, 0);
    pthread_mutex_unlock(&s->stat_mu);
}

int index_store_sync_status(struct index_store *st, struct index_sync_status *out)
{
    memset(out, 0, sizeof *out);
    if (st && st->pg)
        pg_sync_status(st->pg, out);
    return 0;
}
