/* index/pg_rows.c: the conversation log (conversations, messages, feedback) and curated answers
 * (curated, curated_versions) shared by every node through PostgreSQL (store.backend = postgres,
 * schema 4).
 *
 * Design: these rows are written to PostgreSQL and MIRRORED into each node's SQLite, exactly like
 * documents; they are not read from PostgreSQL directly. Why: every read of them (the Review inbox,
 * exports, the FAQ editor, the curated lookup on each answer, and above all /api/stats, which reads
 * per-day rollups kept by SQLite triggers: store_log.c) then stays the one SQLite code path, fast
 * and answering while PostgreSQL is down, and the SQLite-only mode is untouched. A second
 * implementation of the statistics in PostgreSQL SQL would be a second thing to keep equal.
 * The cost is the same as for documents: a write reaches another node after its sync (NOTIFY, else
 * the poll), and a rebuilt cache reloads the rows.
 *
 * Data flow: store_log.c and store_curated.c call pg_rows_* first thing when st->pg is set -> one
 * PostgreSQL transaction writes the rows and appends change rows (kinds below) -> pg_sync_catch_up,
 * so the writing node reads its own write -> every node's pg_sync.c hands the changes of a batch to
 * pg_rows_apply, which reads the rows' current state (= ANY of the batch's ids) and makes the cached
 * rows equal through store_mirror_steps (one SQLite transaction); the SQLite triggers keep the
 * rollups. Applying a state twice gives the same cache.
 * Change kinds: 'g' a message (its conversation and feedback come with it), 'v' a conversation
 * (deleted), 'q' a curated answer with its versions, 'p' a purge (obj_id = the cut-off time;
 * applied as the same DELETE locally, in log order with the rest of the batch).
 * Ids: conversations and curated answers take PostgreSQL's bigserial ids. Message ids are handed
 * out by rag/ from a counter read once (index_log_next_id), so each node takes a block of 2^32 ids
 * from the sequence log_id_blocks: (block << 32) + 1 onwards, never taken by another node; with
 * each block it takes a spare one, kept in the cache's meta, for a restart while PostgreSQL is down
 * (the answers it then logs are spooled under ids of that block).
 * Rebuild: pg_rows_resync empties the cached rows and reloads every row from the tables.
 * Faults: while PostgreSQL is unreachable these writes fail with KB_EBUSY (nothing half-written:
 * one transaction), reads go on from the cache, and answers are spooled in the node's SQLite
 * (pg_log_spool, at most PG_SPOOL_MAX; see pg.h) and sent in order by the sync thread once
 * PostgreSQL answers again (the other nodes then get them as any logged answer). Counting
 * a curated answer's use (index_curated_used) is best effort: counted locally at once, and in
 * PostgreSQL when reachable, whose figure the cache then takes.
 * Tests: tests/index/test_pg_rows.c (two and three nodes on one database), tests/web/test_pg_nodes.c
 * (test_accounts_across_nodes: a question on one kbox serve in the other's /api/stats). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/pg.h"

#define ROWS_PAGE 500
#define ROWS_PAGE_S "500"
#define MSG_BLOCK_SHIFT 32
#define ROWS_STR_(x) #x
#define ROWS_STR(x) ROWS_STR_(x)

/* Columns in the same order on both sides (PostgreSQL SELECTs, SQLite ?N parameters). */
#define CONV_COLS PG_CONV_COLS
#define MSG_COLS PG_MSG_COLS
#define FB_COLS PG_FB_COLS
#define CUR_COLS PG_CUR_COLS
#define CURV_COLS PG_CURV_COLS

#define P8 "?1,?2,?3,?4,?5,?6,?7,?8"
#define P12 P8 ",?9,?10,?11,?12"
#define P20 P12 ",?13,?14,?15,?16,?17,?18,?19,?20"

static const char SQL_CONV_PARK[] = "DELETE FROM conversations WHERE secret = ?2 AND id <> ?1";
static const char SQL_CONV_PUT[] = "INSERT INTO conversations(" CONV_COLS ") VALUES(" P8 ")"
                                   " ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at";
static const char SQL_CONV_DEL[] = "DELETE FROM conversations WHERE id = ?1";
static const char SQL_MSG_DEL[] = "DELETE FROM messages WHERE id = ?1";
static const char SQL_MSG_PUT[] = "INSERT INTO messages(" MSG_COLS ") VALUES(" P20 ")"
                                  " ON CONFLICT(id) DO UPDATE SET review = excluded.review,"
                                  " reviewed_at = excluded.reviewed_at";
static const char SQL_FB_DEL[] = "DELETE FROM feedback WHERE message_id = ?1";
static const char SQL_FB_PUT[] = "INSERT INTO feedback(" FB_COLS ") VALUES(?1,?2,?3,?4,?5,?6)"
                                 " ON CONFLICT(message_id) DO UPDATE SET vote = excluded.vote,"
                                 " comment = excluded.comment, created_at = excluded.created_at";
static const char SQL_CURV_DEL[] = "DELETE FROM curated_versions WHERE curated_id = ?1";
static const char SQL_CUR_DEL[] = "DELETE FROM curated WHERE id = ?1";
/* an entry whose collection is not cached (deleted) is left out, as store_curated.c drops those */
static const char SQL_CUR_PUT[] = "INSERT INTO curated(" CUR_COLS ") SELECT " P12
                                  " WHERE EXISTS (SELECT 1 FROM collections WHERE id = ?2)"
                                  " ON CONFLICT(id) DO UPDATE SET collection_id = excluded.collection_id,"
                                  " version = excluded.version, question = excluded.question,"
                                  " \"similar\" = excluded.\"similar\", answer = excluded.answer,"
                                  " citations = excluded.citations, document_id = excluded.document_id,"
                                  " doc_version = excluded.doc_version, uses = excluded.uses,"
                                  " created_at = excluded.created_at, updated_at = excluded.updated_at";
static const char SQL_CURV_PUT[] = "INSERT OR REPLACE INTO curated_versions(" CURV_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)";
static const char SQL_PURGE[] = "DELETE FROM messages WHERE created_at < ?1";
static const char SQL_PURGE_TIDY[] =
    "DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id);"
    "DELETE FROM log_days WHERE n <= 0; DELETE FROM log_latency WHERE n <= 0;"
    "DELETE FROM log_questions WHERE n <= 0; DELETE FROM log_docs WHERE n <= 0;"
    "DELETE FROM log_question_totals WHERE n <= 0; DELETE FROM log_votes WHERE up <= 0 AND down <= 0";

#define I64S(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

static struct pg_db *rows_db(struct index_store *st)
{
    return pg_sync_db(st->pg);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- the id list of a batch --------------------------------------------------------------------- */

/* ids as a PostgreSQL array literal "{1,2,3}" (arena). */
const char *pg_rows_array(struct kb_arena *a, const int64_t *ids, int n)
{
    size_t cap = (size_t)n * 21 + 3, len = 0;
    char *s = kb_arena_alloc(a, cap);
    if (!s)
        return NULL;
    s[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

/* ids as one-column rows (SQLite statements taking ?1 = id). */
int pg_rows_of_ids(struct kb_arena *a, const int64_t *ids, int n, struct pg_rows *out, struct kb_error *err)
{
    out->n = n;
    out->cols = 1;
    out->v = n ? kb_arena_alloc(a, (size_t)n * sizeof *out->v) : NULL;
    if (n && !out->v)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d ids", n);
    for (int i = 0; i < n; i++) {
        char b[24];
        out->v[i] = kb_arena_strdup(a, I64S(b, ids[i]));
        if (!out->v[i])
            return kb_error_set(err, KB_ENOMEM, "no memory for %d ids", n);
    }
    return 0;
}

/* ---- applying changes (pg_sync.c) ------------------------------------------------------------------ */

/* Messages ids[0..n): their conversations, rows and feedback, or their deletion. */
static int apply_messages(struct index_store *st, struct pg_db *db, const int64_t *ids, int n, struct kb_arena *a,
                          struct kb_error *err)
{
    struct pg_rows conv, msg, gone, fb, fb_gone;
    const char *v[1] = {pg_rows_array(a, ids, n)};
    int rc = v[0] ? 0 : kb_error_set(err, KB_ENOMEM, "no memory for %d message ids", n);
    if (rc == 0)
        rc = pg_query(db, "SELECT DISTINCT " CONV_COLS " FROM conversations WHERE id IN (SELECT conversation_id"
                          " FROM messages WHERE id = ANY($1::bigint[]))", 1, v, a, &conv, "read conversations", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT " MSG_COLS " FROM messages WHERE id = ANY($1::bigint[])", 1, v, a, &msg,
                      "read messages", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = x)",
                      1, v, a, &gone, "read deleted messages", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT " FB_COLS " FROM feedback WHERE message_id = ANY($1::bigint[])", 1, v, a, &fb,
                      "read feedback", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM feedback"
                          " WHERE message_id = x)", 1, v, a, &fb_gone, "read feedback", err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {
            {SQL_CONV_PARK, &conv}, {SQL_CONV_PUT, &conv}, {SQL_MSG_DEL, &gone},
            {SQL_MSG_PUT, &msg},    {SQL_FB_DEL, &fb_gone}, {SQL_FB_PUT, &fb},
        };
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    return rc;
}

/* Conversations ids[0..n): their rows, or their deletion with their messages. */
static int apply_conversations(struct index_store *st, struct pg_db *db, const int64_t *ids, int n,
                               struct kb_arena *a, struct kb_error *err)
{
    struct pg_rows conv, gone;
    const char *v[1] = {pg_rows_array(a, ids, n)};
    int rc = v[0] ? 0 : kb_error_set(err, KB_ENOMEM, "no memory for %d conversation ids", n);
    if (rc == 0)
        rc = pg_query(db, "SELECT " CONV_COLS " FROM conversations WHERE id = ANY($1::bigint[])", 1, v, a, &conv,
                      "read conversations", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM conversations"
                          " WHERE id = x)", 1, v, a, &gone, "read deleted conversations", err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {
            {SQL_CONV_DEL, &gone}, {SQL_CONV_PARK, &conv}, {SQL_CONV_PUT, &conv}, {SQL_PURGE_TIDY, NULL}};
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    return rc;
}

/* Curated answers ids[0..n): rows and every version, or their deletion. */
static int apply_curated(struct index_store *st, struct pg_db *db, const int64_t *ids, int n, struct kb_arena *a,
                         struct kb_error *err)
{
    struct pg_rows cur, ver, gone, all;
    const char *v[1] = {pg_rows_array(a, ids, n)};
    int rc = v[0] ? 0 : kb_error_set(err, KB_ENOMEM, "no memory for %d curated ids", n);
    if (rc == 0)
        rc = pg_query(db, "SELECT " CUR_COLS " FROM curated WHERE id = ANY($1::bigint[])", 1, v, a, &cur,
                      "read curated answers", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT " CURV_COLS " FROM curated_versions WHERE curated_id = ANY($1::bigint[])", 1, v, a,
                      &ver, "read curated versions", err);
    if (rc == 0)
        rc = pg_query(db, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM curated WHERE id = x)",
                      1, v, a, &gone, "read deleted curated answers", err);
    if (rc == 0)
        rc = pg_rows_of_ids(a, ids, n, &all, err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {
            {SQL_CURV_DEL, &all}, {SQL_CUR_DEL, &gone}, {SQL_CUR_PUT, &cur}, {SQL_CURV_PUT, &ver}};
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    return rc;
}

static int apply_purge(struct index_store *st, int64_t before, struct kb_arena *a, struct kb_error *err)
{
    struct pg_rows r;
    int rc = pg_rows_of_ids(a, &before, 1, &r, err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {{SQL_PURGE, &r}, {SQL_PURGE_TIDY, NULL}};
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    return rc;
}

/* The ids of kind k in ch[0..n) (deduplicated by the = ANY reads), into ids. */
static int collect(const struct pg_change *ch, int n, char k, int64_t *ids)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ch[i].kind == k)
            ids[m++] = ch[i].obj_id;
    return m;
}

/* The changes ch[0..n) holding no purge. */
static int apply_run(struct index_store *st, struct pg_db *db, const struct pg_change *ch, int n, int64_t *ids,
                     struct kb_arena *a, struct kb_error *err)
{
    int rc = 0, m;
    if ((m = collect(ch, n, PG_KIND_CONVERSATION, ids)) > 0)
        rc = apply_conversations(st, db, ids, m, a, err);
    if (rc == 0 && (m = collect(ch, n, PG_KIND_MESSAGE, ids)) > 0)
        rc = apply_messages(st, db, ids, m, a, err);
    if (rc == 0 && (m = collect(ch, n, PG_KIND_CURATED, ids)) > 0)
        rc = apply_curated(st, db, ids, m, a, err);
    /* accounts (pg_accounts.c): users before their sessions and keys */
    for (const char *k = "uskabo"; rc == 0 && *k; k++)
        if ((m = collect(ch, n, *k, ids)) > 0)
            rc = pg_acct_apply(st, db, *k, ids, m, a, err);
    if (rc == 0 && (m = collect(ch, n, PG_KIND_HANDOFF, ids)) > 0) /* pg_handoff.c */
        rc = pg_ho_apply(st, db, ids, m, a, err);
    return rc;
}

int pg_rows_apply(struct index_store *st, struct pg_db *db, const struct pg_change *ch, int n, struct kb_error *err)
{
    struct kb_arena a;
    int64_t *ids = kb_xmalloc(((size_t)n + 1) * sizeof *ids);
    int rc = 0, start = 0;
    kb_arena_init(&a, 0, 0);
    for (int i = 0; rc == 0 && i <= n; i++) {
        if (i < n && ch[i].kind != PG_KIND_PURGE)
            continue;
        /* the changes before a purge, then the purge: a message logged after a purge with an older
         * time (an import) is not deleted by it */
        rc = apply_run(st, db, ch + start, i - start, ids, &a, err);
        if (rc == 0 && i < n)
            rc = apply_purge(st, ch[i].obj_id, &a, err);
        start = i + 1;
    }
    kb_arena_release(&a);
    free(ids);
    return rc;
}

/* Every id of table (id column col) after `after`, by id, up to ROWS_PAGE of them. */
int pg_rows_page_ids(struct pg_db *db, const char *sql, int64_t after, struct kb_arena *a, int64_t *ids, int *n,
                    struct kb_error *err)
{
    char ab[24];
    const char *v[1] = {I64S(ab, after)};
    struct pg_rows r;
    int rc = pg_query(db, sql, 1, v, a, &r, "list rows", err);
    *n = 0;
    for (int i = 0; rc == 0 && i < r.n; i++)
        kb_parse_i64(r.v[i], &ids[(*n)++]);
    return rc;
}

int pg_rows_resync(struct index_store *st, struct pg_db *db, struct kb_error *err)
{
    static const char *const pages[] = {
        "SELECT id FROM conversations WHERE id > $1 ORDER BY id LIMIT " ROWS_PAGE_S,
        "SELECT id FROM messages WHERE id > $1 ORDER BY id LIMIT " ROWS_PAGE_S,
        "SELECT id FROM curated WHERE id > $1 ORDER BY id LIMIT " ROWS_PAGE_S,
    };
    const struct store_mirror_step wipe[] = {
        {"DELETE FROM conversations; DELETE FROM curated_versions; DELETE FROM curated", NULL},
        {SQL_PURGE_TIDY, NULL}};
    int64_t ids[ROWS_PAGE];
    int rc = store_mirror_steps(st, wipe, (int)KB_ARRAY_LEN(wipe), err);
    for (int t = 0; rc == 0 && t < (int)KB_ARRAY_LEN(pages); t++) {
        int64_t after = 0;
        for (;;) {
            struct kb_arena a;
            int n = 0;
            kb_arena_init(&a, 0, 0);
            rc = pg_rows_page_ids(db, pages[t], after, &a, ids, &n, err);
            if (rc == 0 && n > 0)
                rc = t == 0 ? apply_conversations(st, db, ids, n, &a, err)
                     : t == 1 ? apply_messages(st, db, ids, n, &a, err)
                              : apply_curated(st, db, ids, n, &a, err);
            kb_arena_release(&a);
            if (rc || n < ROWS_PAGE)
                break;
            after = ids[n - 1];
        }
    }
    if (rc == 0)
        rc = pg_acct_resync(st, db, err);
    return rc ? rc : pg_ho_resync(st, db, err);
}

/* ---- writes (store_log.c, store_curated.c) --------------------------------------------------------- */

/* Ends the transaction with its change rows, then brings this node's cache up to it. */
int pg_rows_commit(struct index_store *st, int rc, const char *kinds, const int64_t *ids, int n,
                       struct kb_error *err)
{
    rc = pg_tx_end(rows_db(st), rc, kinds, ids, n, err);
    if (rc == 0)
        pg_sync_catch_up(st->pg);
    return rc;
}

/* The one value of a statement's single row into *v; KB_ENOENT when no row came back. */
int pg_rows_i64(struct pg_db *db, const char *sql, int n, const char *const *vals, int64_t *v, const char *what,
                    struct kb_error *err)
{
    struct kb_arena a;
    struct pg_rows r;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = pg_tx_exec(db, sql, n, vals, &a, &r, what, err);
    if (rc == 0 && r.n == 0)
        rc = KB_ENOENT;
    else if (rc == 0 && (!r.v[0] || kb_parse_i64(r.v[0], v) != 0))
        rc = kb_error_set(err, KB_EIO, "postgresql: %s: not a number", what);
    kb_arena_release(&a);
    return rc;
}

static int log_take_block(struct index_store *st, int64_t *next, struct kb_error *err)
{
    struct kb_arena a;
    struct pg_rows r;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = pg_query(rows_db(st), "SELECT (nextval('log_id_blocks') << " ROWS_STR(MSG_BLOCK_SHIFT) ") + 1", 0, NULL, &a,
                  &r, "take a block of message ids", err);
    if (rc == 0 && (r.n != 1 || !r.v[0] || kb_parse_i64(r.v[0], next) != 0))
        rc = kb_error_set(err, KB_EIO, "postgresql: no block of message ids");
    kb_arena_release(&a);
    return rc;
}

/* A node that (re)starts while PostgreSQL is down must still hand out message ids for the spool: each
 * block taken while it is up comes with a spare one, kept in the cache's meta ('pg_log_spare' =
 * "<cluster id> <first id>") and used (once) when no block can be taken. */
int pg_rows_log_next_id(struct index_store *st, int64_t *next, struct kb_error *err)
{
    char cluster[64], val[128];
    int64_t pos = 0, spare = 0;
    struct kb_arena a;
    struct pg_rows r = {0};
    int rc = log_take_block(st, next, err);
    store_mirror_position(st, &pos, cluster, sizeof cluster);
    kb_arena_init(&a, 0, 0);
    if (store_mirror_read(st, "SELECT value FROM meta WHERE key = 'pg_log_spare'", 0, NULL, &a, &r, NULL) != 0)
        r.n = 0;
    if (rc == 0 && r.n == 0 && log_take_block(st, &spare, NULL) == 0) {
        const char *v[1] = {val};
        struct pg_rows row = {.n = 1, .cols = 1, .v = v};
        const struct store_mirror_step put[] = {{"INSERT OR REPLACE INTO meta(key, value) VALUES('pg_log_spare', ?1)",
                                                 &row}};
        snprintf(val, sizeof val, "%s %lld", cluster, (long long)spare);
        if (store_mirror_steps(st, put, 1, NULL) != 0)
            kb_warn("postgresql: no spare block of message ids kept");
    } else if (rc == KB_EBUSY && r.n == 1 && r.v[0]) {
        size_t k = strlen(cluster);
        const struct store_mirror_step del[] = {{"DELETE FROM meta WHERE key = 'pg_log_spare'", NULL}};
        if (k > 0 && strncmp(r.v[0], cluster, k) == 0 && r.v[0][k] == ' ' && kb_parse_i64(r.v[0] + k + 1, &spare) == 0 &&
            spare > 0 && store_mirror_steps(st, del, 1, NULL) == 0) {
            *next = spare;
            rc = 0;
            kb_warn("postgresql is unreachable: message ids from this node's spare block (answers are spooled)");
        }
    }
    kb_arena_release(&a);
    return rc;
}

/* The daily retention purge when no node ran it today (kbox_meta 'log_purged_day'); *purged: it ran. */
static int log_purge_due(struct pg_db *db, int64_t before, bool *purged, struct kb_error *err)
{
    char day[24], bb[24];
    const char *v[1] = {I64S(day, store_now_s() / 86400)}, *vb[1] = {I64S(bb, before)};
    int64_t one = 0;
    int rc = pg_rows_i64(db, "INSERT INTO kbox_meta(key, value) VALUES('log_purged_day', $1) ON CONFLICT(key)"
                          " DO UPDATE SET value = excluded.value WHERE kbox_meta.value <> excluded.value RETURNING 1",
                      1, v, &one, "record the purge day", err);
    *purged = rc == 0;
    if (rc == KB_ENOENT)
        return 0;
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM messages WHERE created_at < $1", 1, vb, NULL, NULL, "purge old messages", err);
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE"
                            " m.conversation_id = c.id)", 0, NULL, NULL, NULL, "purge old conversations", err);
    return rc;
}

/* One exchange: its conversation (found by secret or created) and the message; *id its id. */
#define LOG_MSG_INSERT                                                                                    \
    "INSERT INTO messages(conversation_id, created_at, channel, collection_id, question, qnorm, answer, mode,"   \
    " fallback, confidence, latency_ms, lat_bucket, model, client_ip, citations, curated_id, curated_version, id)" \
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"                     \
    " coalesce($18::bigint, (nextval('log_id_blocks') << " ROWS_STR(MSG_BLOCK_SHIFT) ") + 1))"

/* once (a spooled row, which carries its id): a message already there sets *dup, nothing written. */
static int log_one(struct pg_db *db, const struct index_log_exchange *x, bool once, bool *dup, int64_t *id,
                   struct kb_error *err)
{
    char now[24], coll[24], conv_s[24], fb[8], conf[40], lat[40], bucket[16], cur[24], curv[24], mid[24];
    int64_t conv = 0;
    int rc;
    *dup = false;
    if (!x->secret || strlen(x->secret) != 32)
        return kb_error_set(err, KB_EINVAL, "a logged exchange needs its conversation's 32-character secret");
    I64S(now, x->created_at > 0 ? x->created_at : store_now_s());
    I64S(coll, x->collection_id);
    {
        const char *v[6] = {x->secret, nz(x->client_key), nz(x->channel), coll, x->client_ip, now};
        rc = pg_rows_i64(db, "INSERT INTO conversations(secret, client_key, channel, collection_id, client_ip, created_at,"
                          " updated_at) VALUES($1, $2, $3, $4, $5, $6, $6) ON CONFLICT(secret) DO UPDATE SET"
                          " updated_at = excluded.updated_at RETURNING id", 6, v, &conv, "write conversation", err);
    }
    if (rc)
        return rc == KB_ENOENT ? kb_error_set(err, KB_EIO, "postgresql: conversation not written") : rc;
    snprintf(fb, sizeof fb, "%d", x->fallback ? 1 : 0);
    snprintf(conf, sizeof conf, "%.17g", x->confidence);
    snprintf(lat, sizeof lat, "%.17g", x->latency_ms);
    snprintf(bucket, sizeof bucket, "%d", index_log_latency_bucket(x->latency_ms));
    {
        const char *v[18] = {I64S(conv_s, conv), now, nz(x->channel), coll, nz(x->question), nz(x->qnorm),
                             nz(x->answer), nz(x->mode), fb, conf, lat, bucket, nz(x->model), x->client_ip,
                             x->citations && x->citations[0] ? x->citations : "[]",
                             x->curated_id > 0 ? I64S(cur, x->curated_id) : NULL,
                             x->curated_id > 0 ? I64S(curv, x->curated_version) : NULL,
                             x->message_id > 0 ? I64S(mid, x->message_id) : NULL};
        rc = pg_rows_i64(db, once ? LOG_MSG_INSERT " ON CONFLICT(id) DO NOTHING RETURNING id"
                                  : LOG_MSG_INSERT " RETURNING id", 18, v, id, "log message", err);
    }
    if (rc == KB_ENOENT && once) {
        *dup = true;
        return 0;
    }
    return rc == KB_ENOENT ? kb_error_set(err, KB_EIO, "postgresql: message not written") : rc;
}

static int log_append_pg(struct index_store *st, const struct index_log_exchange *x, int n, int64_t purge_before,
                         struct kb_error *err)
{
    struct pg_db *db = rows_db(st);
    int64_t *ids = kb_xmalloc(((size_t)n + 1) * sizeof *ids);
    char *kinds = kb_xmalloc((size_t)n + 2);
    int m = 0, rc = pg_tx_begin(db, err);
    if (rc) {
        free(ids);
        free(kinds);
        return rc;
    }
    if (purge_before > 0) {
        bool purged = false;
        rc = log_purge_due(db, purge_before, &purged, err);
        if (rc == 0 && purged) {
            kinds[m] = PG_KIND_PURGE;
            ids[m++] = purge_before;
        }
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        bool dup = false;
        rc = log_one(db, &x[i], false, &dup, &ids[m], err);
        kinds[m++] = PG_KIND_MESSAGE;
    }
    rc = pg_rows_commit(st, rc, kinds, ids, m, err);
    free(ids);
    free(kinds);
    return rc;
}

/* ---- the answer spool: exchanges logged while PostgreSQL is unreachable ----------------------------- */

#define SPOOL_COLS                                                                                           \
    "message_id, secret, client_key, channel, collection_id, client_ip, question, qnorm, answer, mode, model," \
    " fallback, confidence, latency_ms, citations, curated_id, curated_version, created_at"
#define SPOOL_NCOLS 18
#define SPOOL_PAGE 200 /* rows sent in one PostgreSQL transaction */

int pg_rows_spool_open(struct index_store *st, struct kb_error *err)
{
    const struct store_mirror_step steps[] = {
        {"CREATE TABLE IF NOT EXISTS pg_log_spool(seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL,"
         " secret TEXT NOT NULL, client_key TEXT NOT NULL, channel TEXT NOT NULL, collection_id INTEGER NOT NULL,"
         " client_ip TEXT, question TEXT NOT NULL, qnorm TEXT NOT NULL, answer TEXT NOT NULL, mode TEXT NOT NULL,"
         " model TEXT NOT NULL, fallback INTEGER NOT NULL, confidence REAL NOT NULL, latency_ms REAL NOT NULL,"
         " citations TEXT NOT NULL, curated_id INTEGER NOT NULL, curated_version INTEGER NOT NULL,"
         " created_at INTEGER NOT NULL)", NULL}};
    return store_mirror_steps(st, steps, 1, err);
}

int64_t pg_rows_spool_count(struct index_store *st)
{
    struct kb_arena a;
    struct pg_rows r = {0};
    int64_t n = -1;
    kb_arena_init(&a, 0, 0);
    if (store_mirror_read(st, "SELECT count(*) FROM pg_log_spool", 0, NULL, &a, &r, NULL) == 0 && r.n == 1)
        kb_parse_i64(r.v[0], &n);
    kb_arena_release(&a);
    return n;
}

/* Appends x[0..n) to the spool, all or none (KB_EBUSY naming the bound when it is full). */
static int spool_put(struct index_store *st, const struct index_log_exchange *x, int n, struct kb_error *err)
{
    struct kb_arena a;
    struct pg_rows rows = {.n = n, .cols = SPOOL_NCOLS};
    int64_t have = pg_rows_spool_count(st);
    int rc = 0;
    if (have < 0)
        return kb_error_set(err, KB_EIO, "postgresql is unreachable and the answer spool cannot be read");
    if (have + n > PG_SPOOL_MAX)
        return kb_error_set(err, KB_EBUSY, "postgresql is unreachable and the answer spool is full (%d answers)",
                            PG_SPOOL_MAX);
    kb_arena_init(&a, 0, 0);
    rows.v = kb_arena_alloc(&a, (size_t)n * SPOOL_NCOLS * sizeof *rows.v);
    for (int i = 0; rows.v && i < n; i++) {
        const struct index_log_exchange *e = &x[i];
        const char **v = rows.v + (size_t)i * SPOOL_NCOLS;
        char b[8][40];
        snprintf(b[0], sizeof b[0], "%lld", (long long)e->message_id);
        snprintf(b[1], sizeof b[1], "%lld", (long long)e->collection_id);
        snprintf(b[2], sizeof b[2], "%d", e->fallback ? 1 : 0);
        snprintf(b[3], sizeof b[3], "%.17g", e->confidence);
        snprintf(b[4], sizeof b[4], "%.17g", e->latency_ms);
        snprintf(b[5], sizeof b[5], "%lld", (long long)e->curated_id);
        snprintf(b[6], sizeof b[6], "%lld", (long long)e->curated_version);
        snprintf(b[7], sizeof b[7], "%lld", (long long)(e->created_at > 0 ? e->created_at : store_now_s()));
        {
            const char *vals[SPOOL_NCOLS] = {b[0], nz(e->secret), nz(e->client_key), nz(e->channel), b[1],
                                             e->client_ip, nz(e->question), nz(e->qnorm), nz(e->answer),
                                             nz(e->mode), nz(e->model), b[2], b[3], b[4], nz(e->citations), b[5],
                                             b[6], b[7]};
            for (int k = 0; k < SPOOL_NCOLS; k++)
                v[k] = vals[k] ? kb_arena_strdup(&a, vals[k]) : NULL;
        }
    }
    if (!rows.v) {
        rc = kb_error_set(err, KB_ENOMEM, "no memory to spool %d answers", n);
    } else {
        const struct store_mirror_step steps[] = {
            {"INSERT INTO pg_log_spool(" SPOOL_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,"
             "?17,?18)", &rows}};
        rc = store_mirror_steps(st, steps, 1, err);
    }
    if (rc == 0)
        pg_sync_set_spooled(st->pg, have + n);
    kb_arena_release(&a);
    return rc;
}

/* The exchange of spooled row r (seq, then SPOOL_COLS); strings borrowed from r. */
static void spool_exchange(const char *const *r, struct index_log_exchange *x)
{
    int64_t v = 0;
    *x = (struct index_log_exchange){.secret = r[2], .client_key = r[3], .channel = r[4], .client_ip = r[6],
                                     .question = r[7], .qnorm = r[8], .answer = r[9], .mode = r[10],
                                     .model = r[11], .citations = r[15]};
    kb_parse_i64(r[1], &x->message_id);
    kb_parse_i64(r[5], &x->collection_id);
    kb_parse_i64(r[12], &v);
    x->fallback = v != 0;
    x->confidence = r[13] ? strtod(r[13], NULL) : 0;
    x->latency_ms = r[14] ? strtod(r[14], NULL) : 0;
    kb_parse_i64(r[16], &x->curated_id);
    kb_parse_i64(r[17], &x->curated_version);
    kb_parse_i64(r[18], &x->created_at);
}

/* Writes spooled rows [from, from + n) of r to PostgreSQL in one transaction; a message already
 * there (a flush cut short after its commit) is left as it is. *n_sent: the new ones. */
static int spool_send(struct index_store *st, const struct pg_rows *r, int from, int n, int64_t *n_sent,
                      struct kb_error *err)
{
    struct pg_db *db = rows_db(st);
    int64_t *ids = kb_xmalloc(((size_t)n + 1) * sizeof *ids);
    char *kinds = kb_xmalloc((size_t)n + 1);
    int m = 0, rc = pg_tx_begin(db, err);
    bool begun = rc == 0;
    for (int i = from; rc == 0 && i < from + n; i++) {
        struct index_log_exchange x;
        bool dup = false;
        spool_exchange(r->v + (size_t)i * (size_t)r->cols, &x);
        rc = log_one(db, &x, true, &dup, &ids[m], err);
        if (rc == 0 && !dup)
            kinds[m++] = PG_KIND_MESSAGE;
    }
    if (begun) /* commits, or rolls back after an error */
        rc = pg_tx_end(db, rc, kinds, ids, m, err);
    if (rc == 0)
        *n_sent += m;
    free(ids);
    free(kinds);
    return rc;
}

/* One page of the spool: sent in one transaction; when PostgreSQL refuses it (not unreachable),
 * row by row, a row it refuses being dropped with a warning (else it would block the spool for
 * ever). Then the rows up to the last one handled leave the spool. */
static int spool_page(struct index_store *st, const struct pg_rows *r, int64_t *n_sent, struct kb_error *err)
{
    int rc = spool_send(st, r, 0, r->n, n_sent, err), done = rc == 0 ? r->n : 0;
    if (rc && rc != KB_EBUSY) {
        rc = 0;
        for (int i = 0; rc == 0 && i < r->n; i++) {
            rc = spool_send(st, r, i, 1, n_sent, err);
            if (rc && rc != KB_EBUSY) {
                kb_warn("postgresql: spooled answer %s dropped: %s", r->v[(size_t)i * (size_t)r->cols], err->msg);
                rc = 0;
            }
            if (rc == 0)
                done = i + 1;
        }
    }
    if (done > 0) {
        struct pg_rows last = {.n = 1, .cols = 1, .v = r->v + (size_t)(done - 1) * (size_t)r->cols};
        const struct store_mirror_step del[] = {{"DELETE FROM pg_log_spool WHERE seq <= ?1", &last}};
        int drc = store_mirror_steps(st, del, 1, err); /* a crash before it: sent again, harmlessly */
        rc = rc ? rc : drc;
    }
    return rc;
}

int pg_rows_spool_flush(struct index_store *st, int64_t *n_sent)
{
    struct kb_error err = {0};
    int rc = 0, n_page = SPOOL_PAGE;
    *n_sent = 0;
    while (rc == 0 && n_page == SPOOL_PAGE) {
        struct kb_arena a;
        struct pg_rows r = {0};
        kb_arena_init(&a, 0, 0);
        rc = store_mirror_read(st, "SELECT seq, " SPOOL_COLS " FROM pg_log_spool ORDER BY seq LIMIT "
                               ROWS_STR(SPOOL_PAGE), 0, NULL, &a, &r, &err);
        n_page = r.n;
        if (rc == 0 && r.n > 0)
            rc = spool_page(st, &r, n_sent, &err);
        kb_arena_release(&a);
    }
    pg_sync_set_spooled(st->pg, pg_rows_spool_count(st));
    if (*n_sent > 0) {
        kb_info("postgresql: %lld spooled answers logged", (long long)*n_sent);
        pg_sync_catch_up(st->pg);
    }
    if (rc && rc != KB_EBUSY)
        kb_warn("postgresql: spooled answers not flushed: %s", err.msg);
    return rc;
}

int pg_rows_log_append(struct index_store *st, const struct index_log_exchange *x, int n, int64_t purge_before,
                       struct kb_error *err)
{
    struct kb_error e = {0};
    int64_t spooled = pg_rows_spool_count(st);
    int rc = spooled > 0 ? KB_EBUSY : log_append_pg(st, x, n, purge_before, &e); /* after those, in order */
    if (rc == KB_EBUSY) {
        rc = spool_put(st, x, n, err);
        if (rc == 0 && spooled == 0)
            kb_warn("postgresql: %s; answers are spooled locally (up to %d) until it is back", e.msg, PG_SPOOL_MAX);
    } else if (rc) {
        kb_error_set(err, rc, "%s", e.msg);
    }
    return rc;
}

/* One statement by id in its own transaction with change (kind, id of its single returned row);
 * KB_ENOENT "no <what> with id <id>" when it touched no row. */
int pg_rows_change_one(struct index_store *st, const char *sql, int n, const char *const *vals, char kind,
                           int64_t id, const char *what, int64_t *out, struct kb_error *err)
{
    struct pg_db *db = rows_db(st);
    int64_t got = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_rows_i64(db, sql, n, vals, &got, what, err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "no %s with id %lld", what, (long long)id);
    if (rc == 0 && out)
        *out = got;
    return pg_rows_commit(st, rc, &kind, &id, 1, err);
}

int pg_rows_log_feedback(struct index_store *st, int64_t message_id, const char *secret, int vote,
                         const char *comment, struct kb_error *err)
{
    char mb[24], vb[8], nb[24];
    const char *v[5] = {I64S(mb, message_id), nz(secret), vb, nz(comment), I64S(nb, store_now_s())};
    int rc;
    snprintf(vb, sizeof vb, "%d", vote);
    rc = pg_rows_change_one(st, "INSERT INTO feedback(message_id, vote, comment, created_at, day, collection_id)"
                             " SELECT m.id, $3, $4, $5, m.created_at / 86400, m.collection_id FROM messages m"
                             " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1 AND c.secret = $2"
                             " ON CONFLICT(message_id) DO UPDATE SET vote = excluded.vote,"
                             " comment = excluded.comment, created_at = excluded.created_at RETURNING message_id",
                         5, v, PG_KIND_MESSAGE, message_id, "message", NULL, err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "no message %lld in this conversation", (long long)message_id);
    return rc;
}

int pg_rows_log_review_set(struct index_store *st, int64_t message_id, const char *state, struct kb_error *err)
{
    char mb[24], nb[24];
    const char *v[3] = {I64S(mb, message_id), state, I64S(nb, store_now_s())};
    return pg_rows_change_one(st, "UPDATE messages SET review = $2, reviewed_at = $3 WHERE id = $1 RETURNING id", 3, v,
                           PG_KIND_MESSAGE, message_id, "message", NULL, err);
}

int pg_rows_log_conversation_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    char ib[24];
    const char *v[1] = {I64S(ib, id)};
    return pg_rows_change_one(st, "DELETE FROM conversations WHERE id = $1 RETURNING id", 1, v, PG_KIND_CONVERSATION, id,
                           "conversation", NULL, err);
}

int pg_rows_log_purge(struct index_store *st, int64_t before, int64_t *n_deleted, struct kb_error *err)
{
    struct pg_db *db = rows_db(st);
    char bb[24];
    const char *v[1] = {I64S(bb, before)};
    char kind = PG_KIND_PURGE;
    int64_t n = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_rows_i64(db, "WITH d AS (DELETE FROM messages WHERE created_at < $1 RETURNING 1) SELECT count(*) FROM d", 1,
                  v, &n, "purge old messages", err);
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE"
                            " m.conversation_id = c.id)", 0, NULL, NULL, NULL, "purge old conversations", err);
    rc = pg_rows_commit(st, rc, &kind, &before, 1, err);
    if (rc == 0 && n_deleted)
        *n_deleted = n;
    return rc;
}

/* One curated entry: a new row or the next version of an existing one, with its version row. */
static int curated_one(struct pg_db *db, const struct index_curated *c, int64_t coll, const char *now, int64_t *id,
                       int *version, struct kb_error *err)
{
    char ib[24], cb[24], vb[16];
    int64_t ver = 1;
    int rc;
    if (c->id > 0) {
        const char *v[6] = {I64S(ib, c->id), nz(c->question), nz(c->similar), nz(c->answer), nz(c->citations), now};
        *id = c->id;
        rc = pg_rows_i64(db, "UPDATE curated SET version = version + 1, question = $2, \"similar\" = $3, answer = $4,"
                          " citations = $5, updated_at = $6 WHERE id = $1 RETURNING version", 6, v, &ver,
                      "update curated answer", err);
        if (rc == KB_ENOENT)
            rc = kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)c->id);
    } else {
        const char *v[6] = {I64S(cb, coll), nz(c->question), nz(c->similar), nz(c->answer), nz(c->citations), now};
        rc = pg_rows_i64(db, "INSERT INTO curated(collection_id, version, question, \"similar\", answer, citations,"
                          " created_at, updated_at) VALUES($1, 1, $2, $3, $4, $5, $6, $6) RETURNING id", 6, v, id,
                      "insert curated answer", err);
    }
    if (rc == 0) {
        const char *v[7] = {I64S(ib, *id), vb, nz(c->question), nz(c->similar), nz(c->answer), nz(c->citations), now};
        snprintf(vb, sizeof vb, "%lld", (long long)ver);
        rc = pg_tx_exec(db, "INSERT INTO curated_versions(curated_id, version, question, \"similar\", answer, citations,"
                            " created_at) VALUES($1, $2, $3, $4, $5, $6, $7)", 7, v, NULL, NULL,
                        "store curated version", err);
        *version = (int)ver;
    }
    return rc;
}

int pg_rows_curated_put(struct index_store *st, const struct index_curated *in, int n, int64_t *ids, int *versions,
                        struct kb_error *err)
{
    struct pg_db *db = rows_db(st);
    char now[24], *kinds = kb_xmalloc((size_t)n + 1);
    int64_t coll;
    int rc;
    store_lock(st);
    coll = store_default_collection(st);
    store_unlock(st);
    I64S(now, store_now_s());
    memset(kinds, PG_KIND_CURATED, (size_t)n + 1);
    rc = pg_tx_begin(db, err);
    if (rc == 0) {
        for (int i = 0; rc == 0 && i < n; i++)
            rc = curated_one(db, &in[i], in[i].collection_id > 0 ? in[i].collection_id : coll, now, &ids[i],
                             &versions[i], err);
        rc = pg_rows_commit(st, rc, kinds, ids, n, err);
    }
    free(kinds);
    return rc;
}

int pg_rows_curated_delete(struct index_store *st, int64_t id, int64_t *document_id, struct kb_error *err)
{
    char ib[24];
    const char *v[1] = {I64S(ib, id)};
    int rc = pg_rows_change_one(st, "DELETE FROM curated WHERE id = $1 RETURNING document_id", 1, v, PG_KIND_CURATED, id,
                             "curated answer", document_id, err);
    if (rc)
        *document_id = 0;
    return rc;
}

int pg_rows_curated_set_document(struct index_store *st, int64_t id, int version, int64_t document_id,
                                 struct kb_error *err)
{
    char ib[24], vb[16], db_[24];
    const char *v[3] = {I64S(ib, id), vb, I64S(db_, document_id)};
    int rc;
    snprintf(vb, sizeof vb, "%d", version);
    rc = pg_rows_change_one(st, "UPDATE curated SET document_id = $3, doc_version = $2 WHERE id = $1 RETURNING id", 3, v,
                         PG_KIND_CURATED, id, "curated answer", NULL, err);
    return rc == KB_ENOENT ? 0 : rc; /* as in SQLite: an entry deleted meanwhile is no error */
}

void pg_rows_curated_used(struct index_store *st, int64_t curated_id, int64_t document_id)
{
    char db_[24];
    const char *v[1] = {I64S(db_, document_id)};
    struct kb_error e = {0};
    struct index_sync_status ss;
    int rc;
    pg_sync_status(st->pg, &ss);
    if (!ss.connected) /* an answer must not wait for an unreachable server over a counter */
        return;
    rc = pg_rows_change_one(st, "UPDATE curated SET uses = uses + 1 WHERE document_id = $1 RETURNING id", 1, v,
                             PG_KIND_CURATED, curated_id, "curated answer", NULL, &e);
    if (rc)
        kb_warn("postgresql: the use of curated answer %lld not counted: %s", (long long)curated_id, e.msg);
}
