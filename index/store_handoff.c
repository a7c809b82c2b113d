/* index/store_handoff.c: human handoff (issue #17): the SQL of its tables and their migration (store.c
 * runs store_handoff_migration as the entry for schema version 8), and the state machine's writes,
 * each one transaction, so two agents racing for one conversation cannot both win and a restart
 * finds the queue and every open conversation as they were.
 *
 * Schema (v8):
 *   handoffs(id, token_hash UNIQUE, kind 'chat'|'ticket', state 'queued'|'taken'|'closed', trigger,
 *            bot_id, collection_id, log_secret, agent, agent_name, rating 0..5, name, contact,
 *            message, closed_by, created_at, taken_at, closed_at, last_event)
 *       -- token_hash: SHA-256 hex of the customer's conversation token (the token itself is never
 *          stored); log_secret: the bot conversation (conversation log, v4) the customer came from,
 *          "" none; agent: the holder's principal ("user:EMAIL", "admin-token"), "" while queued;
 *          last_event: the highest event seq handed out (events are numbered 1, 2, ... per handoff)
 *   handoff_events(handoff_id -> handoffs ON DELETE CASCADE, seq, created_at, kind, author, text,
 *                  PRIMARY KEY(handoff_id, seq))
 *       -- kind: 'customer' | 'agent' (messages), 'state' (text = the new state: queued, taken,
 *          closed, ticket, rated:N); author: the agent's display name for agent and taken events
 *   handoff_notifications(id, handoff_id, channel 'webhook'|'email', state 'pending'|'sent'|'failed',
 *                         attempts, next_at, last_error, created_at, updated_at)
 *       -- one delivery of a new handoff or ticket, retried by rag/notify.c until sent or failed;
 *          last_error never holds a secret (rag/notify.c writes it)
 * State machine: chat queued -> taken -> closed, queued -> closed, queued -> ticket (kind becomes
 * 'ticket', state stays queued until an agent closes it). Every change bumps last_event and appends
 * its event in the same transaction: the event seq is the SSE id (Last-Event-ID resumes after it).
 *
 * Data flow: rag/handoff.c checks input and config, then calls one function here per change.
 * Statements are prepared per call (handoff traffic is light next to search); every public function
 * takes the store's lock. With store.backend = postgres (st->pg) each write goes to PostgreSQL
 * instead (pg_handoff.c: decided there, mirrored back into these tables, which the reads here keep
 * using). Tests: tests/web/test_handoff.c, tests/index/test_pg_rows.c, tests/web/test_pg_nodes.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: the writes go to PostgreSQL first (pg_handoff.c) */

const char store_handoff_migration[] =
    "CREATE TABLE IF NOT EXISTS handoffs(id INTEGER PRIMARY KEY AUTOINCREMENT, token_hash TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL DEFAULT 'chat' CHECK(kind IN ('chat','ticket')),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK(state IN ('queued','taken','closed')),"
    " trigger TEXT NOT NULL DEFAULT '', bot_id TEXT NOT NULL DEFAULT '', collection_id INTEGER NOT NULL DEFAULT 0,"
    " log_secret TEXT NOT NULL DEFAULT '', agent TEXT NOT NULL DEFAULT '', agent_name TEXT NOT NULL DEFAULT '',"
    " rating INTEGER NOT NULL DEFAULT 0 CHECK(rating BETWEEN 0 AND 5), name TEXT NOT NULL DEFAULT '',"
    " contact TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '', closed_by TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL, taken_at INTEGER NOT NULL DEFAULT 0, closed_at INTEGER NOT NULL DEFAULT 0,"
    " last_event INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS handoffs_state ON handoffs(state, id);"
    "CREATE INDEX IF NOT EXISTS handoffs_log ON handoffs(log_secret) WHERE log_secret<>'';"
    "CREATE TABLE IF NOT EXISTS handoff_events(handoff_id INTEGER NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, created_at INTEGER NOT NULL, kind TEXT NOT NULL, author TEXT NOT NULL DEFAULT '',"
    " text TEXT NOT NULL, PRIMARY KEY(handoff_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS handoff_notifications(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " handoff_id INTEGER NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE, channel TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','sent','failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS handoff_notifications_due ON handoff_notifications(state, next_at);";

#define HO_COLS                                                                                           \
    "id, kind, state, trigger, bot_id, collection_id, log_secret, agent, agent_name, rating, name, contact," \
    " message, closed_by, created_at, taken_at, closed_at, last_event"

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void ho_from_row(sqlite3_stmt *s, struct kb_arena *a, struct index_handoff *h)
{
    h->id = sqlite3_column_int64(s, 0);
    h->kind = store_col_str(s, 1, a);
    h->state = store_col_str(s, 2, a);
    h->trigger = store_col_str(s, 3, a);
    h->bot_id = store_col_str(s, 4, a);
    h->collection_id = sqlite3_column_int64(s, 5);
    h->log_secret = store_col_str(s, 6, a);
    h->agent = store_col_str(s, 7, a);
    h->agent_name = store_col_str(s, 8, a);
    h->rating = sqlite3_column_int(s, 9);
    h->name = store_col_str(s, 10, a);
    h->contact = store_col_str(s, 11, a);
    h->message = store_col_str(s, 12, a);
    h->closed_by = store_col_str(s, 13, a);
    h->created_at = sqlite3_column_int64(s, 14);
    h->taken_at = sqlite3_column_int64(s, 15);
    h->closed_at = sqlite3_column_int64(s, 16);
    h->last_event = sqlite3_column_int64(s, 17);
}

static int ho_prepare(struct index_store *st, const char *sql, sqlite3_stmt **s, struct kb_error *err)
{
    int src = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    return src == SQLITE_OK ? 0 : store_fail(st, err, src, "prepare handoff query");
}

/* Runs one prepared write to completion; finalizes it. */
static int ho_step_done(struct index_store *st, sqlite3_stmt *s, const char *what, struct kb_error *err)
{
    int src = sqlite3_step(s), rc = 0;
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, what);
    sqlite3_finalize(s);
    return rc;
}

/* Appends event kind/author/text to handoff id: bumps last_event, inserts the row. Lock held, inside
 * a transaction. */
static int ho_event_locked(struct index_store *st, int64_t id, const char *kind, const char *author, const char *text,
                           int64_t *seq_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int64_t seq = 0;
    int rc;
    if ((rc = ho_prepare(st, "UPDATE handoffs SET last_event = last_event + 1 WHERE id=?1 RETURNING last_event", &s,
                         err)))
        return rc;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW)
        seq = sqlite3_column_int64(s, 0);
    else
        rc = kb_error_set(err, KB_ENOENT, "no handoff conversation %lld", (long long)id);
    sqlite3_finalize(s);
    if (rc)
        return rc;
    if ((rc = ho_prepare(st, "INSERT INTO handoff_events(handoff_id, seq, created_at, kind, author, text)"
                             " VALUES(?1,?2,?3,?4,?5,?6)", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, store_now_s());
    sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, nz(author), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, nz(text), -1, SQLITE_STATIC);
    if ((rc = ho_step_done(st, s, "append handoff event", err)) == 0 && seq_out)
        *seq_out = seq;
    return rc;
}

/* Reads handoff id (or, id 0, the one whose token hash is token_hash). Lock held. */
static int ho_get_locked(struct index_store *st, int64_t id, const char *token_hash, struct kb_arena *a,
                         struct index_handoff *out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    memset(out, 0, sizeof *out);
    if ((rc = ho_prepare(st, id ? "SELECT " HO_COLS " FROM handoffs WHERE id=?1"
                                : "SELECT " HO_COLS " FROM handoffs WHERE token_hash=?2", &s, err)))
        return rc;
    if (id)
        sqlite3_bind_int64(s, 1, id);
    else
        sqlite3_bind_text(s, 2, nz(token_hash), -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        ho_from_row(s, a, out);
    else if (src == SQLITE_DONE)
        rc = id ? kb_error_set(err, KB_ENOENT, "no handoff conversation %lld", (long long)id)
                : kb_error_set(err, KB_ENOENT, "unknown conversation token");
    else
        rc = store_fail(st, err, src, "read handoff");
    sqlite3_finalize(s);
    return rc;
}

int index_handoff_get(struct index_store *st, int64_t id, const char *token_hash, struct kb_arena *a,
                      struct index_handoff *out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = ho_get_locked(st, id, token_hash, a, out, err);
    store_unlock(st);
    return rc;
}

int index_handoff_create(struct index_store *st, const struct index_handoff *h, const char *token_hash,
                         int64_t *id_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    bool ticket = h->kind && !strcmp(h->kind, "ticket");
    if (st->pg)
        return pg_ho_create(st, h, token_hash, id_out, err);
    *id_out = 0;
    store_lock(st);
    if ((rc = store_begin(st, err)))
        goto out_unlock;
    if ((rc = ho_prepare(st, "INSERT INTO handoffs(token_hash, kind, trigger, bot_id, collection_id, log_secret, name,"
                             " contact, message, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)", &s, err)))
        goto out_end;
    sqlite3_bind_text(s, 1, nz(token_hash), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ticket ? "ticket" : "chat", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, nz(h->trigger), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(h->bot_id), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, h->collection_id);
    sqlite3_bind_text(s, 6, nz(h->log_secret), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, nz(h->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, nz(h->contact), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, nz(h->message), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, store_now_s());
    if ((rc = ho_step_done(st, s, "create handoff", err)))
        goto out_end;
    *id_out = sqlite3_last_insert_rowid(st->db);
    rc = ho_event_locked(st, *id_out, "state", "", ticket ? "ticket" : "queued", NULL, err);
out_end:
    rc = store_end(st, rc, err);
    if (rc)
        *id_out = 0;
out_unlock:
    store_unlock(st);
    return rc;
}

/* One guarded state change: runs sql (bound ?1 = id, then the extra text binds ?2.. from b[]) and,
 * when it changed the row, appends the state event; when it did not, reads the row to say why
 * (KB_ENOENT, or KB_ECONFLICT naming the present state). */
static int ho_change(struct index_store *st, int64_t id, const char *sql, const char *const *b, int n_b,
                     int64_t bind_now, const char *event, const char *author, int64_t *seq_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    store_lock(st);
    if ((rc = store_begin(st, err)))
        goto out_unlock;
    if ((rc = ho_prepare(st, sql, &s, err)))
        goto out_end;
    sqlite3_bind_int64(s, 1, id);
    for (int i = 0; i < n_b; i++)
        sqlite3_bind_text(s, 2 + i, nz(b[i]), -1, SQLITE_STATIC);
    if (bind_now)
        sqlite3_bind_int64(s, 2 + n_b, bind_now);
    if ((rc = ho_step_done(st, s, "change handoff", err)))
        goto out_end;
    if (sqlite3_changes(st->db) == 0) {
        struct kb_arena a;
        struct index_handoff h;
        kb_arena_init(&a, 1024, 64 * 1024);
        rc = ho_get_locked(st, id, NULL, &a, &h, err);
        if (rc == 0)
            rc = kb_error_set(err, KB_ECONFLICT, "handoff conversation %lld is %s%s%s", (long long)id, h.state,
                              h.agent_name[0] ? " by " : "", h.agent_name);
        kb_arena_release(&a);
        goto out_end;
    }
    rc = ho_event_locked(st, id, "state", author, event, seq_out, err);
out_end:
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_handoff_take(struct index_store *st, int64_t id, const char *agent, const char *agent_name,
                       struct kb_error *err)
{
    const char *b[2] = {agent, agent_name};
    if (st->pg)
        return pg_ho_take(st, id, agent, agent_name, err);
    return ho_change(st, id, "UPDATE handoffs SET state='taken', agent=?2, agent_name=?3, taken_at=?4"
                             " WHERE id=?1 AND state='queued' AND kind='chat'", b, 2, store_now_s(), "taken",
                     agent_name, NULL, err);
}

int index_handoff_close(struct index_store *st, int64_t id, const char *agent, const char *closed_by,
                        struct kb_error *err)
{
    const char *b[2] = {closed_by, agent};
    if (st->pg)
        return pg_ho_close(st, id, agent, closed_by, err);
    /* an agent closes what it holds, or anything still queued (a ticket, an abandoned chat); the
     * customer (agent NULL) closes its own open conversation */
    if (agent)
        return ho_change(st, id, "UPDATE handoffs SET state='closed', closed_by=?2, closed_at=?4 WHERE id=?1 AND"
                                 " (state='queued' OR (state='taken' AND agent=?3))", b, 2, store_now_s(), "closed",
                         closed_by, NULL, err);
    return ho_change(st, id, "UPDATE handoffs SET state='closed', closed_by=?2, closed_at=?3 WHERE id=?1 AND"
                             " state<>'closed'", b, 1, store_now_s(), "closed", closed_by, NULL, err);
}

int index_handoff_rate(struct index_store *st, int64_t id, int rating, struct kb_error *err)
{
    char ev[16], rb[8];
    const char *b[1] = {rb};
    if (st->pg)
        return pg_ho_rate(st, id, rating, err);
    snprintf(rb, sizeof rb, "%d", rating);
    snprintf(ev, sizeof ev, "rated:%d", rating);
    return ho_change(st, id, "UPDATE handoffs SET rating=CAST(?2 AS INTEGER) WHERE id=?1 AND kind='chat' AND"
                             " agent<>'' AND rating=0", b, 1, 0, ev, "", NULL, err);
}

int index_handoff_to_ticket(struct index_store *st, int64_t id, const char *name, const char *contact,
                            const char *message, struct kb_error *err)
{
    const char *b[3] = {name, contact, message};
    if (st->pg)
        return pg_ho_to_ticket(st, id, name, contact, message, err);
    return ho_change(st, id, "UPDATE handoffs SET kind='ticket', name=?2, contact=?3, message=?4 WHERE id=?1 AND"
                             " state='queued' AND kind='chat'", b, 3, 0, "ticket", "", NULL, err);
}

int index_handoff_message(struct index_store *st, int64_t id, const char *agent, const char *agent_name,
                          const char *text, int64_t *seq_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    if (st->pg)
        return pg_ho_message(st, id, agent, agent_name, text, seq_out, err);
    store_lock(st);
    if ((rc = store_begin(st, err)))
        goto out_unlock;
    /* who may write: the customer while the chat is open; an agent only while it holds it */
    if ((rc = ho_prepare(st, agent ? "SELECT 1 FROM handoffs WHERE id=?1 AND state='taken' AND agent=?2"
                                   : "SELECT 1 FROM handoffs WHERE id=?1 AND state<>'closed' AND kind='chat'", &s,
                         err)))
        goto out_end;
    sqlite3_bind_int64(s, 1, id);
    if (agent)
        sqlite3_bind_text(s, 2, agent, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        rc = kb_error_set(err, KB_EFORBIDDEN, agent ? "you do not hold handoff conversation %lld"
                                                    : "handoff conversation %lld is not open for messages",
                          (long long)id);
    sqlite3_finalize(s);
    if (rc == 0)
        rc = ho_event_locked(st, id, agent ? "agent" : "customer", agent ? agent_name : "", text, seq_out, err);
out_end:
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_handoff_events(struct index_store *st, int64_t id, int64_t after_seq, int limit, struct kb_arena *a,
                         struct index_handoff_event **out, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0;
    *out = NULL;
    *n_out = 0;
    if (limit <= 0 || limit > INDEX_HANDOFF_EVENTS_MAX)
        limit = INDEX_HANDOFF_EVENTS_MAX;
    *out = kb_arena_alloc(a, (size_t)limit * sizeof **out);
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d handoff events", limit);
    store_lock(st);
    if ((rc = ho_prepare(st, "SELECT seq, created_at, kind, author, text FROM handoff_events WHERE handoff_id=?1"
                             " AND seq>?2 ORDER BY seq LIMIT ?3", &s, err)))
        goto out_unlock;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, after_seq);
    sqlite3_bind_int(s, 3, limit);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_handoff_event *e = &(*out)[n++];
        e->seq = sqlite3_column_int64(s, 0);
        e->created_at = sqlite3_column_int64(s, 1);
        e->kind = store_col_str(s, 2, a);
        e->author = store_col_str(s, 3, a);
        e->text = store_col_str(s, 4, a);
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read handoff events");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_list(struct index_store *st, bool closed, int limit, struct kb_arena *a, struct index_handoff **out,
                       int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0;
    *n_out = 0;
    if (limit <= 0 || limit > INDEX_HANDOFF_LIST_MAX)
        limit = INDEX_HANDOFF_LIST_MAX;
    *out = kb_arena_alloc(a, (size_t)limit * sizeof **out);
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d handoffs", limit);
    store_lock(st);
    if ((rc = ho_prepare(st, closed ? "SELECT " HO_COLS " FROM handoffs WHERE state='closed' ORDER BY id DESC LIMIT ?1"
                                    : "SELECT " HO_COLS " FROM handoffs WHERE state<>'closed' ORDER BY id LIMIT ?1",
                         &s, err)))
        goto out_unlock;
    sqlite3_bind_int(s, 1, limit);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW)
        ho_from_row(s, a, &(*out)[n++]);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "list handoffs");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_position(struct index_store *st, int64_t id, int64_t *pos, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    *pos = 0;
    store_lock(st);
    if ((rc = ho_prepare(st, "SELECT count(*) FROM handoffs WHERE state='queued' AND kind='chat' AND id<=?1 AND"
                             " EXISTS(SELECT 1 FROM handoffs h WHERE h.id=?1 AND h.state='queued' AND h.kind='chat')",
                         &s, err)))
        goto out_unlock;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW)
        *pos = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, sqlite3_errcode(st->db), "queue position");
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_bot_turns(struct index_store *st, const char *log_secret, struct kb_arena *a,
                            struct index_handoff_turn **out, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0;
    *n_out = 0;
    *out = kb_arena_alloc(a, INDEX_HANDOFF_TURNS_MAX * sizeof **out);
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "no memory for the bot's turns");
    if (!log_secret || !log_secret[0])
        return 0;
    store_lock(st);
    /* the last INDEX_HANDOFF_TURNS_MAX exchanges, oldest first */
    if ((rc = ho_prepare(st, "SELECT * FROM (SELECT m.id, m.created_at, m.question, m.answer, m.mode, m.citations,"
                             " m.fallback"
                             " FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.secret=?1"
                             " AND m.mode NOT IN ('handoff', 'agent')" /* the bot's, not the handoff's (log.c) */
                             " ORDER BY m.id DESC LIMIT ?2) ORDER BY id", &s, err)))
        goto out_unlock;
    sqlite3_bind_text(s, 1, log_secret, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, INDEX_HANDOFF_TURNS_MAX);
    while (n < INDEX_HANDOFF_TURNS_MAX && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_handoff_turn *t = &(*out)[n++];
        t->message_id = sqlite3_column_int64(s, 0);
        t->created_at = sqlite3_column_int64(s, 1);
        t->question = store_col_str(s, 2, a);
        t->answer = store_col_str(s, 3, a);
        t->mode = store_col_str(s, 4, a);
        t->citations_json = store_col_str(s, 5, a);
        t->fallback = sqlite3_column_int(s, 6) != 0;
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read the bot's turns");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_held(struct index_store *st, const char *log_secret, bool *held, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    *held = false;
    if (!log_secret || !log_secret[0])
        return 0;
    store_lock(st);
    if ((rc = ho_prepare(st, "SELECT 1 FROM handoffs WHERE log_secret=?1 AND state='taken' LIMIT 1", &s, err)))
        goto out_unlock;
    sqlite3_bind_text(s, 1, log_secret, -1, SQLITE_STATIC);
    *held = sqlite3_step(s) == SQLITE_ROW;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_queue(struct index_store *st, int64_t **ids, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0, cap = 0;
    *ids = NULL;
    *n_out = 0;
    store_lock(st);
    if ((rc = ho_prepare(st, "SELECT id FROM handoffs WHERE state='queued' AND kind='chat' ORDER BY id", &s, err)))
        goto out_unlock;
    while (n < INDEX_HANDOFF_QUEUE_MAX && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *ids = kb_xrealloc(*ids, (size_t)cap * sizeof **ids);
        }
        (*ids)[n++] = sqlite3_column_int64(s, 0);
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read the queue");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

/* ---- notifications ---- */

int index_notify_add(struct index_store *st, int64_t handoff_id, const char *channel, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    int64_t now = store_now_s();
    if (st->pg)
        return pg_ho_notify_add(st, handoff_id, channel, err);
    store_lock(st);
    if ((rc = ho_prepare(st, "INSERT INTO handoff_notifications(handoff_id, channel, next_at, created_at, updated_at)"
                             " VALUES(?1,?2,?3,?3,?3)", &s, err)) == 0) {
        sqlite3_bind_int64(s, 1, handoff_id);
        sqlite3_bind_text(s, 2, channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, now);
        rc = ho_step_done(st, s, "queue a notification", err);
        s = NULL;
    }
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

/* Pending deliveries due at now (failed = false), or the latest failed ones (failed = true). */
int index_notify_list(struct index_store *st, bool failed, int64_t now, int limit, struct kb_arena *a,
                      struct index_notify **out, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0;
    *n_out = 0;
    if (limit <= 0 || limit > 500)
        limit = 500;
    if (!(*out = kb_arena_alloc(a, (size_t)limit * sizeof **out)))
        return kb_error_set(err, KB_ENOMEM, "no memory for notifications");
    if (st->pg && !failed && now < INT64_MAX) /* several senders: each takes its own (a lease) */
        return pg_ho_notify_due(st, now, limit, a, *out, n_out, err);
    store_lock(st);
    if ((rc = ho_prepare(st, failed ? "SELECT id, handoff_id, channel, state, attempts, next_at, last_error, updated_at"
                                      " FROM handoff_notifications WHERE state='failed' ORDER BY id DESC LIMIT ?2"
                                    : "SELECT id, handoff_id, channel, state, attempts, next_at, last_error, updated_at"
                                      " FROM handoff_notifications WHERE state='pending' AND next_at<=?1 ORDER BY"
                                      " next_at LIMIT ?2", &s, err)))
        goto out_unlock;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, limit);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_notify *x = &(*out)[n++];
        x->id = sqlite3_column_int64(s, 0);
        x->handoff_id = sqlite3_column_int64(s, 1);
        x->channel = store_col_str(s, 2, a);
        x->state = store_col_str(s, 3, a);
        x->attempts = sqlite3_column_int(s, 4);
        x->next_at = sqlite3_column_int64(s, 5);
        x->last_error = store_col_str(s, 6, a);
        x->updated_at = sqlite3_column_int64(s, 7);
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "list notifications");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_notify_update(struct index_store *st, int64_t id, const char *state, int attempts, int64_t next_at,
                        const char *last_error, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    if (st->pg)
        return pg_ho_notify_update(st, id, state, attempts, next_at, last_error, err);
    store_lock(st);
    if ((rc = ho_prepare(st, "UPDATE handoff_notifications SET state=?2, attempts=?3, next_at=?4, last_error=?5,"
                             " updated_at=?6 WHERE id=?1", &s, err)) == 0) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, attempts);
        sqlite3_bind_int64(s, 4, next_at);
        sqlite3_bind_text(s, 5, nz(last_error), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, store_now_s());
        rc = ho_step_done(st, s, "record a notification", err);
        s = NULL;
    }
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_handoff_count(struct index_store *st, int64_t from, int64_t to, int64_t *n, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    *n = 0;
    store_lock(st);
    if ((rc = ho_prepare(st, "SELECT count(*) FROM handoffs WHERE created_at>=?1 AND created_at<?2", &s, err)) == 0) {
        sqlite3_bind_int64(s, 1, from > 0 ? from : 0);
        sqlite3_bind_int64(s, 2, to > 0 ? to : INT64_MAX);
        if (sqlite3_step(s) == SQLITE_ROW)
            *n = sqlite3_column_int64(s, 0);
        else
            rc = store_fail(st, err, sqlite3_errcode(st->db), "count handoffs");
    }
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}
