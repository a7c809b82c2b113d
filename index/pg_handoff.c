/* index/pg_handoff.c: human handoff (issue #17's handoffs, their events and notification records)
 * shared by every node through PostgreSQL (store.backend = postgres, schema 6), and the hook that
 * tells web/ when another node changed a handoff, so a customer streaming from one node sees the
 * reply an agent wrote on another (issue #19, "live events through LISTEN/NOTIFY").
 *
 * Design: as pg_rows.c does for the conversation log, the rows are written to PostgreSQL and
 * MIRRORED into each node's SQLite, so every reader (the customer's stream, the Inbox list, the
 * queue position, the Dashboard count) stays store_handoff.c's one SQLite code path and answers
 * while PostgreSQL is down. Everything that decides is done in PostgreSQL, never in a node's cache:
 *   - a state change is one conditional UPDATE (take: WHERE state='queued'); two agents on two nodes
 *     taking one chat are serialised by PostgreSQL's row lock, the second sees state 'taken' and gets
 *     KB_ECONFLICT (409) naming the holder;
 *   - event seqs (the SSE ids) come from handoffs.last_event bumped in the same transaction, so they
 *     are unique and increasing per conversation across nodes;
 *   - who may write a message is checked against the row locked FOR UPDATE.
 * Data flow: store_handoff.c's writes call pg_ho_* first thing when st->pg is set -> one transaction
 * writes the rows and appends change kind 'h' (obj_id = the handoff) -> NOTIFY -> every node's sync
 * hands 'h' changes to pg_ho_apply (from pg_rows_apply): it reads the handoffs' rows, events and
 * notifications (= ANY of the batch's ids) and makes the cache equal (store_mirror_steps, one SQLite
 * transaction), then calls the store's handoff hook (index_store_on_handoff) once per handoff, outside
 * every store lock. web/api_handoff.c registers the hook: it notes the change in its stream hub,
 * which wakes the streams at once. The writing node gets the hook too (its own catch-up); web/ has
 * already noted that change, and a second wake-up only re-reads the events.
 * Events are immutable: the apply reads only those after the cache's last seq of the handoff and
 * inserts them (INSERT OR IGNORE).
 * Not shared: presence (agents online) is counted per node by web/'s hub (Inbox streams open on
 * that node). Notification records are shared rows; the sender's list of due ones (rag/notify.c ->
 * index_notify_list) is a lease taken in PostgreSQL (pg_ho_notify_due: next_at moved 300 s on,
 * FOR UPDATE SKIP LOCKED), so two nodes do not send one notification twice; a node that dies
 * holding a lease leaves it to another node 300 s later.
 * Rebuild: pg_ho_resync empties the cached handoff tables and reloads them.
 * Faults: PostgreSQL unreachable: these writes fail with KB_EBUSY (503), nothing half-written.
 * Tests: tests/index/test_pg_rows.c (test_handoff_two_nodes), tests/web/test_pg_nodes.c
 * (test_handoff_across_nodes: customer on B, agents on A and B, live SSE across nodes). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/pg.h"

#define HO_PAGE 500
#define HO_PAGE_S "500"
#define HO_NOTIFY_LEASE_S "300" /* s a node holds the pending notifications it listed */

#define I64S(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

static const char SQL_HO_DEL[] = "DELETE FROM handoffs WHERE id = ?1";
static const char SQL_HO_PUT[] =
    "INSERT INTO handoffs(" PG_HO_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
    " ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, state = excluded.state, trigger = excluded.trigger,"
    " bot_id = excluded.bot_id, collection_id = excluded.collection_id, log_secret = excluded.log_secret,"
    " agent = excluded.agent, agent_name = excluded.agent_name, rating = excluded.rating, name = excluded.name,"
    " contact = excluded.contact, message = excluded.message, closed_by = excluded.closed_by,"
    " taken_at = excluded.taken_at, closed_at = excluded.closed_at, last_event = excluded.last_event";
static const char SQL_HOE_PUT[] = "INSERT OR IGNORE INTO handoff_events(" PG_HOE_COLS ") VALUES(?1,?2,?3,?4,?5,?6)";
static const char SQL_HON_PUT[] = "INSERT OR REPLACE INTO handoff_notifications(" PG_HON_COLS ")"
                                  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)";

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- the hook (web/ registers it through index.h) -------------------------------------------------- */

/* Guards every store's hook while it is set or called, so unsetting it waits for a call in flight
 * (web_hub_release then frees the hub safely). Order: hook_mu, then the hook's own locks; never
 * taken with a store lock held. */
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;

void index_store_on_handoff(struct index_store *st, void (*fn)(void *ctx, int64_t handoff_id), void *ctx)
{
    pthread_mutex_lock(&hook_mu);
    st->on_handoff = fn;
    st->on_handoff_ctx = ctx;
    pthread_mutex_unlock(&hook_mu);
}

static void ho_notify(struct index_store *st, const int64_t *ids, int n)
{
    pthread_mutex_lock(&hook_mu);
    for (int i = 0; st->on_handoff && i < n; i++)
        st->on_handoff(st->on_handoff_ctx, ids[i]);
    pthread_mutex_unlock(&hook_mu);
}

/* ---- applying changes ------------------------------------------------------------------------------ */

/* The cache's last event seq of each of ids[0..n), as a PostgreSQL array literal (a). */
static const char *ho_cached_seqs(struct index_store *st, const int64_t *ids, int n, struct kb_arena *a,
                                  struct kb_error *err)
{
    int64_t *seqs = kb_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *seqs);
    if (!seqs) {
        kb_error_set(err, KB_ENOMEM, "no memory for %d handoff ids", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        char ib[24];
        const char *v[1] = {I64S(ib, ids[i])};
        struct pg_rows r;
        seqs[i] = 0;
        if (store_mirror_read(st, "SELECT coalesce(max(seq), 0) FROM handoff_events WHERE handoff_id = ?1", 1, v, a,
                              &r, err))
            return NULL;
        if (r.n == 1 && r.v[0])
            kb_parse_i64(r.v[0], &seqs[i]);
    }
    return pg_rows_array(a, seqs, n);
}

/* Handoffs ids[0..n) made equal in the cache. Events are immutable and each handoff's are applied
 * as a prefix (numbered in the transaction that commits them), so only those after the cache's last
 * seq are read: a long chat costs one event per message, not all of them. */
static int ho_apply_ids(struct index_store *st, struct pg_db *db, const int64_t *ids, int n, struct kb_arena *a,
                        struct kb_error *err)
{
    struct pg_rows ho, ev, nt, gone;
    const char *v[2] = {pg_rows_array(a, ids, n), NULL};
    int rc = v[0] ? 0 : kb_error_set(err, KB_ENOMEM, "no memory for %d handoff ids", n);
    if (rc == 0 && !(v[1] = ho_cached_seqs(st, ids, n, a, err)))
        rc = err->code ? err->code : KB_ENOMEM;
    if (rc == 0)
        rc = pg_query(db, "SELECT " PG_HO_COLS " FROM handoffs WHERE id = ANY($1::bigint[])", 1, v, a, &ho,
                      "read handoffs", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT e.handoff_id, e.seq, e.created_at, e.kind, e.author, e.text FROM handoff_events e"
                          " JOIN unnest($1::bigint[], $2::bigint[]) AS c(hid, after) ON e.handoff_id = c.hid"
                          " AND e.seq > c.after ORDER BY e.handoff_id, e.seq", 2, v, a, &ev,
                      "read handoff events", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT " PG_HON_COLS " FROM handoff_notifications WHERE handoff_id = ANY($1::bigint[])",
                      1, v, a, &nt, "read handoff notifications", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM handoffs"
                          " WHERE id = x)", 1, v, a, &gone, "read deleted handoffs", err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {
            {SQL_HO_DEL, &gone}, {SQL_HO_PUT, &ho}, {SQL_HOE_PUT, &ev}, {SQL_HON_PUT, &nt}};
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    return rc;
}

int pg_ho_apply(struct index_store *st, struct pg_db *db, const int64_t *ids, int n, struct kb_arena *a,
                struct kb_error *err)
{
    int rc = ho_apply_ids(st, db, ids, n, a, err);
    if (rc == 0)
        ho_notify(st, ids, n);
    return rc;
}

int pg_ho_resync(struct index_store *st, struct pg_db *db, struct kb_error *err)
{
    const struct store_mirror_step wipe[] = {
        {"DELETE FROM handoff_notifications; DELETE FROM handoff_events; DELETE FROM handoffs", NULL}};
    int64_t ids[HO_PAGE], after = 0;
    int rc = store_mirror_steps(st, wipe, (int)KB_ARRAY_LEN(wipe), err);
    while (rc == 0) {
        struct kb_arena a;
        int n = 0;
        kb_arena_init(&a, 0, 0);
        rc = pg_rows_page_ids(db, "SELECT id FROM handoffs WHERE id > $1 ORDER BY id LIMIT " HO_PAGE_S, after, &a,
                              ids, &n, err);
        if (rc == 0 && n > 0)
            rc = ho_apply_ids(st, db, ids, n, &a, err);
        kb_arena_release(&a);
        if (n < HO_PAGE)
            break;
        after = ids[n - 1];
    }
    return rc;
}

/* ---- writes (store_handoff.c) -------------------------------------------------------------------- */

/* Appends event kind/author/text to handoff id inside the open transaction; the seq is PostgreSQL's. */
static int ho_event(struct pg_db *db, int64_t id, const char *kind, const char *author, const char *text,
                    int64_t *seq_out, struct kb_error *err)
{
    char ib[24], sb[24], nb[24];
    const char *v1[1] = {I64S(ib, id)};
    int64_t seq = 0;
    int rc = pg_rows_i64(db, "UPDATE handoffs SET last_event = last_event + 1 WHERE id = $1 RETURNING last_event", 1,
                         v1, &seq, "number a handoff event", err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_ENOENT, "no handoff conversation %lld", (long long)id);
    if (rc == 0) {
        const char *v[6] = {ib, I64S(sb, seq), I64S(nb, store_now_s()), kind, nz(author), nz(text)};
        rc = pg_tx_exec(db, "INSERT INTO handoff_events(" PG_HOE_COLS ") VALUES($1, $2, $3, $4, $5, $6)", 6, v, NULL,
                        NULL, "append handoff event", err);
    }
    if (rc == 0 && seq_out)
        *seq_out = seq;
    return rc;
}

int pg_ho_create(struct index_store *st, const struct index_handoff *h, const char *token_hash, int64_t *id_out,
                 struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char cb[24], nb[24];
    bool ticket = h->kind && !strcmp(h->kind, "ticket");
    const char *v[10] = {nz(token_hash), ticket ? "ticket" : "chat", nz(h->trigger), nz(h->bot_id),
                         I64S(cb, h->collection_id), nz(h->log_secret), nz(h->name), nz(h->contact), nz(h->message),
                         I64S(nb, store_now_s())};
    int64_t id = 0;
    int rc = pg_tx_begin(db, err);
    *id_out = 0;
    if (rc)
        return rc;
    rc = pg_rows_i64(db, "INSERT INTO handoffs(token_hash, kind, trigger, bot_id, collection_id, log_secret, name,"
                         " contact, message, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                     10, v, &id, "create handoff", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_EIO, "postgresql: handoff not created");
    if (rc == 0)
        rc = ho_event(db, id, "state", "", ticket ? "ticket" : "queued", NULL, err);
    rc = pg_rows_commit(st, rc, "h", &id, 1, err);
    if (rc == 0)
        *id_out = id;
    return rc;
}

/* One guarded state change: sql ($1 = id, then vals[1..n)) RETURNING id; when it changed nothing,
 * the row is read to say why (KB_ENOENT, or KB_ECONFLICT naming the present state and holder). */
static int ho_change(struct index_store *st, int64_t id, const char *sql, const char **vals, int n, const char *event,
                     const char *author, struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char ib[24];
    int64_t got = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    vals[0] = I64S(ib, id);
    rc = pg_rows_i64(db, sql, n, vals, &got, "change handoff", err);
    if (rc == KB_ENOENT) {
        struct kb_arena a;
        struct pg_rows r;
        kb_arena_init(&a, 0, 0);
        rc = pg_tx_exec(db, "SELECT state, agent_name FROM handoffs WHERE id = $1", 1, vals, &a, &r,
                        "read handoff", err);
        if (rc == 0 && r.n == 0)
            rc = kb_error_set(err, KB_ENOENT, "no handoff conversation %lld", (long long)id);
        else if (rc == 0)
            rc = kb_error_set(err, KB_ECONFLICT, "handoff conversation %lld is %s%s%s", (long long)id, nz(r.v[0]),
                              r.v[1] && r.v[1][0] ? " by " : "", nz(r.v[1]));
        kb_arena_release(&a);
    }
    if (rc == 0)
        rc = ho_event(db, id, "state", author, event, NULL, err);
    return pg_rows_commit(st, rc, "h", &id, 1, err);
}

int pg_ho_take(struct index_store *st, int64_t id, const char *agent, const char *agent_name, struct kb_error *err)
{
    char nb[24];
    const char *v[4] = {NULL, nz(agent), nz(agent_name), I64S(nb, store_now_s())};
    /* the one decision two nodes race for: PostgreSQL's row lock serialises it, the loser's WHERE no
     * longer matches */
    return ho_change(st, id, "UPDATE handoffs SET state = 'taken', agent = $2, agent_name = $3, taken_at = $4"
                             " WHERE id = $1 AND state = 'queued' AND kind = 'chat' RETURNING id", v, 4, "taken",
                     agent_name, err);
}

int pg_ho_close(struct index_store *st, int64_t id, const char *agent, const char *closed_by, struct kb_error *err)
{
    char nb[24];
    const char *v[4] = {NULL, nz(closed_by), I64S(nb, store_now_s()), nz(agent)};
    if (agent)
        return ho_change(st, id, "UPDATE handoffs SET state = 'closed', closed_by = $2, closed_at = $3 WHERE id = $1"
                                 " AND (state = 'queued' OR (state = 'taken' AND agent = $4)) RETURNING id", v, 4,
                         "closed", closed_by, err);
    return ho_change(st, id, "UPDATE handoffs SET state = 'closed', closed_by = $2, closed_at = $3 WHERE id = $1"
                             " AND state <> 'closed' RETURNING id", v, 3, "closed", closed_by, err);
}

int pg_ho_rate(struct index_store *st, int64_t id, int rating, struct kb_error *err)
{
    char rb[8], ev[16];
    const char *v[2] = {NULL, rb};
    snprintf(rb, sizeof rb, "%d", rating);
    snprintf(ev, sizeof ev, "rated:%d", rating);
    return ho_change(st, id, "UPDATE handoffs SET rating = $2::int WHERE id = $1 AND kind = 'chat' AND agent <> ''"
                             " AND rating = 0 RETURNING id", v, 2, ev, "", err);
}

int pg_ho_to_ticket(struct index_store *st, int64_t id, const char *name, const char *contact, const char *message,
                    struct kb_error *err)
{
    const char *v[4] = {NULL, nz(name), nz(contact), nz(message)};
    return ho_change(st, id, "UPDATE handoffs SET kind = 'ticket', name = $2, contact = $3, message = $4 WHERE id = $1"
                             " AND state = 'queued' AND kind = 'chat' RETURNING id", v, 4, "ticket", "", err);
}

int pg_ho_message(struct index_store *st, int64_t id, const char *agent, const char *agent_name, const char *text,
                  int64_t *seq_out, struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char ib[24];
    const char *v[2] = {I64S(ib, id), nz(agent)};
    int64_t one = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    /* who may write, against the row locked until commit: the customer while the chat is open, an
     * agent only while it holds it */
    rc = pg_rows_i64(db, agent ? "SELECT 1 FROM handoffs WHERE id = $1 AND state = 'taken' AND agent = $2 FOR UPDATE"
                               : "SELECT 1 FROM handoffs WHERE id = $1 AND state <> 'closed' AND kind = 'chat'"
                                 " FOR UPDATE",
                     agent ? 2 : 1, v, &one, "check handoff", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_EFORBIDDEN, agent ? "you do not hold handoff conversation %lld"
                                                    : "handoff conversation %lld is not open for messages",
                          (long long)id);
    if (rc == 0)
        rc = ho_event(db, id, agent ? "agent" : "customer", agent ? agent_name : "", text, seq_out, err);
    return pg_rows_commit(st, rc, "h", &id, 1, err);
}

int pg_ho_notify_add(struct index_store *st, int64_t handoff_id, const char *channel, struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char hb[24], nb[24];
    const char *v[3] = {I64S(hb, handoff_id), nz(channel), I64S(nb, store_now_s())};
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_tx_exec(db, "INSERT INTO handoff_notifications(handoff_id, channel, next_at, created_at, updated_at)"
                        " VALUES($1, $2, $3, $3, $3)", 3, v, NULL, NULL, "queue a notification", err);
    return pg_rows_commit(st, rc, "h", &handoff_id, 1, err);
}

int pg_ho_notify_due(struct index_store *st, int64_t now, int limit, struct kb_arena *a, struct index_notify *out,
                     int *n_out, struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char nb[24], lb[16];
    const char *v[2] = {I64S(nb, now), lb};
    struct pg_rows r;
    int64_t *hids = NULL;
    char *kinds = NULL;
    int rc = pg_tx_begin(db, err);
    *n_out = 0;
    if (rc)
        return rc;
    snprintf(lb, sizeof lb, "%d", limit);
    /* leased to this node for HO_NOTIFY_LEASE_S: another node's sender skips them (SKIP LOCKED while
     * this transaction runs, the later next_at after); the delivery's own update replaces the lease */
    rc = pg_tx_exec(db, "UPDATE handoff_notifications SET next_at = $1::bigint + " HO_NOTIFY_LEASE_S
                        " WHERE id IN (SELECT id FROM handoff_notifications WHERE state = 'pending' AND next_at <= $1"
                        " ORDER BY next_at LIMIT $2::int FOR UPDATE SKIP LOCKED) RETURNING id, handoff_id, channel,"
                        " state, attempts, next_at, last_error, updated_at", 2, v, a, &r, "lease notifications", err);
    if (rc == 0 && r.n > 0) {
        hids = kb_xmalloc((size_t)r.n * sizeof *hids);
        kinds = kb_xmalloc((size_t)r.n);
        memset(kinds, PG_KIND_HANDOFF, (size_t)r.n);
        for (int i = 0; i < r.n && i < limit; i++) {
            const char *const *row = r.v + (size_t)i * (size_t)r.cols;
            struct index_notify *x = &out[i];
            int64_t att = 0;
            kb_parse_i64(row[0], &x->id);
            kb_parse_i64(row[1], &x->handoff_id);
            x->channel = row[2];
            x->state = row[3];
            kb_parse_i64(row[4], &att);
            x->attempts = (int)att;
            kb_parse_i64(row[5], &x->next_at);
            x->last_error = nz(row[6]);
            kb_parse_i64(row[7], &x->updated_at);
            hids[i] = x->handoff_id;
        }
    }
    rc = pg_rows_commit(st, rc, kinds, hids, rc == 0 ? r.n : 0, err);
    if (rc == 0)
        *n_out = r.n < limit ? r.n : limit;
    free(hids);
    free(kinds);
    return rc;
}

int pg_ho_notify_update(struct index_store *st, int64_t id, const char *state, int attempts, int64_t next_at,
                        const char *last_error, struct kb_error *err)
{
    struct pg_db *db = pg_sync_db(st->pg);
    char ib[24], ab[16], xb[24], nb[24];
    const char *v[6] = {I64S(ib, id), nz(state), ab, I64S(xb, next_at), nz(last_error), I64S(nb, store_now_s())};
    int64_t hid = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    snprintf(ab, sizeof ab, "%d", attempts);
    rc = pg_rows_i64(db, "UPDATE handoff_notifications SET state = $2, attempts = $3::int, next_at = $4,"
                         " last_error = $5, updated_at = $6 WHERE id = $1 RETURNING handoff_id", 6, v, &hid,
                     "record a notification", err);
    if (rc == KB_ENOENT) { /* as in SQLite: a record gone with its handoff is no error */
        pg_tx_end(db, rc, NULL, NULL, 0, err);
        return 0;
    }
    return pg_rows_commit(st, rc, "h", &hid, 1, err);
}
