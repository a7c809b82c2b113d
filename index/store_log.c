/* index/store_log.c: the conversation log (part of the SQLite glue; see store.c): schema v4's
 * tables and triggers (store_log_migration, referenced from store.c's migrations array), appending
 * an exchange, feedback, the review inbox, exports, deletion, retention and the statistics.
 *
 * Schema (v4):
 *   conversations(id, secret UNIQUE, client_key, channel, collection_id, client_ip, created_at,
 *                 updated_at)            -- secret: 32 hex, the only key a client ever holds
 *   messages(id, conversation_id -> conversations ON DELETE CASCADE, created_at, channel,
 *            collection_id, question, qnorm, answer, mode, fallback, confidence, latency_ms,
 *            lat_bucket, model, client_ip NULL, citations JSON, curated_id NULL, curated_version
 *            NULL, review '' | 'dismissed' | 'resolved', reviewed_at NULL)
 *   feedback(message_id PK -> messages ON DELETE CASCADE, vote -1|1, comment, created_at, day,
 *            collection_id)              -- day and collection_id: the message's (for log_votes)
 *   log_days(day, collection_id, mode, n)                        -- day = created_at / 86400 (UTC)
 *   log_latency(day, collection_id, bucket, n)                   -- index_log_latency_bucket
 *   log_questions(collection_id, qnorm, day, n, n_fallback, sample) -- sample: the latest wording
 *   log_question_totals(collection_id, qnorm, n, n_fallback)       -- over every retained day
 *     (both question rollups hold each message twice: under its collection_id and under -1, "all")
 *   log_docs(day, collection_id, document_id, document, n)       -- answers citing the document
 *   log_votes(day, collection_id, up, down)                      -- feedback on the day's messages
 * The rollups are kept by triggers on messages (insert, delete) and feedback (insert, update,
 * delete), in the same transaction, so they never disagree with the rows (deleting a conversation
 * or purging old messages decrements them). The statistics read only rollups: per-day tables cost
 * days x keys, and the top questions walk log_question_totals in descending order, reading a
 * candidate's range count from log_questions by key, until no unread question can enter the top
 * ten (log_top_questions) -- not every message (bench/bench_log.c: 1M messages in a few ms).
 *
 * Data flow: rag/log.c's writer thread -> index_log_append with a batch of exchanges (one BEGIN
 * IMMEDIATE for all: each touched page is written to the WAL once per batch, not per message; the
 * daily retention purge when due, recorded in meta 'log_purged_day'; per exchange, find or create
 * the conversation by secret and insert the message under the id rag handed out) -> triggers.
 * Reads prepare their statements per call (they are admin-only and rare), so the statement cache
 * keeps its room for the hot paths.
 * Human handoff messages (modes "handoff", "agent"; rag/log.c's rag_log_handoff) are rows like the
 * others, with latency bucket -1 and an empty qnorm, and the statistics leave them out.
 * With store.backend = postgres (st->pg) the writes go to PostgreSQL instead and come back through
 * the node's sync (index/pg_rows.c); the reads here are the same in both modes.
 * Invariants: every public function takes the store's lock. Tests: tests/index/test_store_log.c,
 * tests/web/test_log.c; bench: bench/bench_log.c (index_log_synthesize fills it for that). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: these writes go to PostgreSQL first (pg_rows.c) */

const char store_log_migration[] =
    "CREATE TABLE IF NOT EXISTS conversations(id INTEGER PRIMARY KEY AUTOINCREMENT, secret TEXT NOT NULL UNIQUE,"
    " client_key TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL, collection_id INTEGER NOT NULL DEFAULT 0,"
    " client_ip TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL, channel TEXT NOT NULL, collection_id INTEGER NOT NULL DEFAULT 0,"
    " question TEXT NOT NULL, qnorm TEXT NOT NULL, answer TEXT NOT NULL, mode TEXT NOT NULL,"
    " fallback INTEGER NOT NULL DEFAULT 0, confidence REAL NOT NULL DEFAULT 0, latency_ms REAL NOT NULL DEFAULT 0,"
    " lat_bucket INTEGER NOT NULL DEFAULT 0, model TEXT NOT NULL DEFAULT '', client_ip TEXT,"
    " citations TEXT NOT NULL DEFAULT '[]', curated_id INTEGER, curated_version INTEGER,"
    " review TEXT NOT NULL DEFAULT '' CHECK(review IN ('','dismissed','resolved')), reviewed_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS messages_conv ON messages(conversation_id);"
    "CREATE INDEX IF NOT EXISTS messages_time ON messages(created_at);"
    "CREATE TABLE IF NOT EXISTS feedback(message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " vote INTEGER NOT NULL CHECK(vote IN (-1, 1)), comment TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    " day INTEGER NOT NULL, collection_id INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log_votes(day INTEGER NOT NULL, collection_id INTEGER NOT NULL, up INTEGER NOT NULL,"
    " down INTEGER NOT NULL, PRIMARY KEY(day, collection_id)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS feedback_rollup_add AFTER INSERT ON feedback BEGIN"
    " INSERT INTO log_votes VALUES(NEW.day, NEW.collection_id, NEW.vote > 0, NEW.vote < 0)"
    "  ON CONFLICT DO UPDATE SET up = up + excluded.up, down = down + excluded.down;"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS feedback_rollup_del AFTER DELETE ON feedback BEGIN"
    " UPDATE log_votes SET up = up - (OLD.vote > 0), down = down - (OLD.vote < 0) WHERE day = OLD.day"
    "  AND collection_id = OLD.collection_id;"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS feedback_rollup_upd AFTER UPDATE OF vote ON feedback BEGIN"
    " UPDATE log_votes SET up = up - (OLD.vote > 0) + (NEW.vote > 0), down = down - (OLD.vote < 0) + (NEW.vote < 0)"
    "  WHERE day = OLD.day AND collection_id = OLD.collection_id;"
    " END;"
    "CREATE TABLE IF NOT EXISTS log_days(day INTEGER NOT NULL, collection_id INTEGER NOT NULL, mode TEXT NOT NULL,"
    " n INTEGER NOT NULL, PRIMARY KEY(day, collection_id, mode)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log_latency(day INTEGER NOT NULL, collection_id INTEGER NOT NULL, bucket INTEGER NOT NULL,"
    " n INTEGER NOT NULL, PRIMARY KEY(day, collection_id, bucket)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log_questions(collection_id INTEGER NOT NULL, qnorm TEXT NOT NULL, day INTEGER NOT NULL,"
    " n INTEGER NOT NULL, n_fallback INTEGER NOT NULL, sample TEXT NOT NULL,"
    " PRIMARY KEY(collection_id, qnorm, day)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log_question_totals(collection_id INTEGER NOT NULL, qnorm TEXT NOT NULL,"
    " n INTEGER NOT NULL, n_fallback INTEGER NOT NULL, PRIMARY KEY(collection_id, qnorm)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS log_question_totals_n ON log_question_totals(collection_id, n);"
    "CREATE INDEX IF NOT EXISTS log_question_totals_fb ON log_question_totals(collection_id, n_fallback);"
    "CREATE TABLE IF NOT EXISTS log_docs(day INTEGER NOT NULL, collection_id INTEGER NOT NULL, document_id INTEGER NOT NULL,"
    " document TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(day, collection_id, document_id)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS messages_rollup_add AFTER INSERT ON messages BEGIN"
    " INSERT INTO log_days VALUES(NEW.created_at / 86400, NEW.collection_id, NEW.mode, 1)"
    "  ON CONFLICT DO UPDATE SET n = n + 1;"
    " INSERT INTO log_latency VALUES(NEW.created_at / 86400, NEW.collection_id, NEW.lat_bucket, 1)"
    "  ON CONFLICT DO UPDATE SET n = n + 1;"
    " INSERT INTO log_questions SELECT c, NEW.qnorm, NEW.created_at / 86400, 1, NEW.fallback, NEW.question"
    "  FROM (SELECT -1 AS c UNION ALL SELECT NEW.collection_id) WHERE true ON CONFLICT DO UPDATE SET n = n + 1,"
    "  n_fallback = n_fallback + excluded.n_fallback, sample = excluded.sample;"
    " INSERT INTO log_question_totals SELECT c, NEW.qnorm, 1, NEW.fallback"
    "  FROM (SELECT -1 AS c UNION ALL SELECT NEW.collection_id) WHERE true ON CONFLICT DO UPDATE SET n = n + 1,"
    "  n_fallback = n_fallback + excluded.n_fallback;"
    " INSERT INTO log_docs SELECT DISTINCT NEW.created_at / 86400, NEW.collection_id,"
    "  json_extract(value, '$.document_id'), json_extract(value, '$.document'), 1 FROM json_each(NEW.citations)"
    "  WHERE json_extract(value, '$.document_id') IS NOT NULL ON CONFLICT DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS messages_rollup_del AFTER DELETE ON messages BEGIN"
    " UPDATE log_days SET n = n - 1 WHERE day = OLD.created_at / 86400 AND collection_id = OLD.collection_id"
    "  AND mode = OLD.mode;"
    " UPDATE log_latency SET n = n - 1 WHERE day = OLD.created_at / 86400 AND collection_id = OLD.collection_id"
    "  AND bucket = OLD.lat_bucket;"
    " UPDATE log_questions SET n = n - 1, n_fallback = n_fallback - OLD.fallback WHERE day = OLD.created_at / 86400"
    "  AND collection_id IN (-1, OLD.collection_id) AND qnorm = OLD.qnorm;"
    " UPDATE log_question_totals SET n = n - 1, n_fallback = n_fallback - OLD.fallback"
    "  WHERE collection_id IN (-1, OLD.collection_id) AND qnorm = OLD.qnorm;"
    " UPDATE log_docs SET n = n - 1 WHERE day = OLD.created_at / 86400 AND collection_id = OLD.collection_id"
    "  AND document_id IN (SELECT json_extract(value, '$.document_id') FROM json_each(OLD.citations));"
    " END;";

int index_log_latency_bucket(double ms)
{
    int b = 0;
    if (ms >= 1)
        b = 1 + (int)floor(log(ms) / log(1.1));
    return b < 0 ? 0 : b >= INDEX_LOG_LAT_BUCKETS ? INDEX_LOG_LAT_BUCKETS - 1 : b;
}

/* Messages of a human handoff (issue #17): mode "handoff" (the customer's) and "agent" (a person's).
 * They are logged with an empty qnorm and latency bucket -1, and the statistics leave them out
 * (LOG_BOT_ONLY, qnorm <> ''), so questions, modes, top questions and latency stay the bot's. */
#define LOG_BOT_ONLY " AND mode NOT IN ('handoff', 'agent')"

static bool log_person(const char *mode)
{
    return mode && (!strcmp(mode, "handoff") || !strcmp(mode, "agent"));
}

static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

/* Deletes messages before `before` (lock and transaction held). */
static int log_purge_locked(struct index_store *st, int64_t before, int64_t *n_deleted, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(st->db, "DELETE FROM messages WHERE created_at < ?1", -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, before);
        src = sqlite3_step(s);
    }
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "purge old messages");
    else if (n_deleted)
        *n_deleted = sqlite3_changes(st->db);
    sqlite3_finalize(s);
    if (rc == 0)
        rc = store_exec(st, "DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE"
                            " m.conversation_id = conversations.id);"
                            "DELETE FROM log_days WHERE n <= 0; DELETE FROM log_latency WHERE n <= 0;"
                            "DELETE FROM log_questions WHERE n <= 0; DELETE FROM log_docs WHERE n <= 0;"
                            "DELETE FROM log_question_totals WHERE n <= 0;"
                            "DELETE FROM log_votes WHERE up <= 0 AND down <= 0",
                        err);
    return rc;
}

/* Runs the retention purge when the last one was on an earlier UTC day. */
static int log_purge_due(struct index_store *st, int64_t before, int64_t now, struct kb_error *err)
{
    char day[32], last[32];
    int rc;
    snprintf(day, sizeof day, "%lld", (long long)(now / 86400));
    store_meta_get(st, "log_purged_day", last, sizeof last);
    if (strcmp(day, last) == 0)
        return 0;
    rc = log_purge_locked(st, before, NULL, err);
    return rc ? rc : store_meta_set(st, "log_purged_day", day, err);
}

/* The id of the conversation of x (found by secret, else created from x). */
static int log_conversation(struct index_store *st, const struct index_log_exchange *x, int64_t now, int64_t *id,
                            struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT id FROM conversations WHERE secret = ?1", err);
    int src;
    if (!s)
        return err ? err->code : KB_EIO;
    if (!x->secret || strlen(x->secret) != 32)
        return kb_error_set(err, KB_EINVAL, "a logged exchange needs its conversation's 32-character secret");
    *id = 0;
    bind_str(s, 1, x->secret);
    if (sqlite3_step(s) == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    s = store_prep(st, *id ? "UPDATE conversations SET updated_at = ?6 WHERE id = ?7"
                           : "INSERT INTO conversations(secret, client_key, channel, collection_id, client_ip,"
                             " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)", err);
    if (!s)
        return err ? err->code : KB_EIO;
    if (*id) {
        sqlite3_bind_int64(s, 7, *id);
    } else {
        bind_str(s, 1, x->secret);
        bind_str(s, 2, x->client_key);
        bind_str(s, 3, x->channel);
        sqlite3_bind_int64(s, 4, x->collection_id);
        if (x->client_ip)
            bind_str(s, 5, x->client_ip);
    }
    sqlite3_bind_int64(s, 6, now);
    src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return store_fail(st, err, src, "write conversation");
    if (!*id)
        *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

/* One message (lock and transaction held). */
static int log_message(struct index_store *st, const struct index_log_exchange *x, struct kb_error *err)
{
    int64_t now = x->created_at > 0 ? x->created_at : store_now_s(), conv = 0;
    sqlite3_stmt *s;
    int rc = log_conversation(st, x, now, &conv, err), src;
    if (rc)
        return rc;
    s = store_prep(st, "INSERT INTO messages(conversation_id, created_at, channel, collection_id, question, qnorm,"
                       " answer, mode, fallback, confidence, latency_ms, lat_bucket, model, client_ip, citations,"
                       " curated_id, curated_version, id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                       " ?13, ?14, ?15, ?16, ?17, ?18)", err);
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, conv);
    sqlite3_bind_int64(s, 2, now);
    bind_str(s, 3, x->channel);
    sqlite3_bind_int64(s, 4, x->collection_id);
    bind_str(s, 5, x->question);
    bind_str(s, 6, x->qnorm);
    bind_str(s, 7, x->answer);
    bind_str(s, 8, x->mode);
    sqlite3_bind_int(s, 9, x->fallback);
    sqlite3_bind_double(s, 10, x->confidence);
    sqlite3_bind_double(s, 11, x->latency_ms);
    sqlite3_bind_int(s, 12, log_person(x->mode) ? -1 : index_log_latency_bucket(x->latency_ms));
    bind_str(s, 13, x->model);
    if (x->client_ip)
        bind_str(s, 14, x->client_ip);
    sqlite3_bind_text(s, 15, x->citations && x->citations[0] ? x->citations : "[]", -1, SQLITE_STATIC);
    if (x->curated_id > 0) {
        sqlite3_bind_int64(s, 16, x->curated_id);
        sqlite3_bind_int64(s, 17, x->curated_version);
    }
    if (x->message_id > 0)
        sqlite3_bind_int64(s, 18, x->message_id);
    src = sqlite3_step(s);
    sqlite3_reset(s);
    return src == SQLITE_DONE ? 0 : store_fail(st, err, src, "log message");
}

int index_log_append(struct index_store *st, const struct index_log_exchange *x, int n, int64_t purge_before,
                     struct kb_error *err)
{
    int rc;
    if (st->pg)
        return pg_rows_log_append(st, x, n, purge_before, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0 && purge_before > 0)
        rc = log_purge_due(st, purge_before, store_now_s(), err);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = log_message(st, &x[i], err);
    rc = store_end(st, rc, err);
    store_unlock(st);
    return rc;
}

int index_log_next_id(struct index_store *st, int64_t *next, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src;
    if (st->pg)
        return pg_rows_log_next_id(st, next, err);
    store_lock(st);
    src = sqlite3_prepare_v2(st->db, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
                                     " coalesce((SELECT max(id) FROM messages), 0)) + 1", -1, &s, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW)
        *next = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, src, "read the next message id");
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_log_feedback(struct index_store *st, int64_t message_id, const char *secret, int vote,
                       const char *comment, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    if (vote != 1 && vote != -1)
        return kb_error_set(err, KB_EINVAL, "vote must be 1 or -1");
    if (st->pg)
        return pg_rows_log_feedback(st, message_id, secret, vote, comment, err);
    store_lock(st);
    s = store_prep(st, "INSERT INTO feedback(message_id, vote, comment, created_at, day, collection_id) SELECT m.id,"
                       " ?3, ?4, ?5, m.created_at / 86400, m.collection_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?1"
                       " AND c.secret = ?2 ON CONFLICT(message_id) DO UPDATE SET vote = excluded.vote,"
                       " comment = excluded.comment, created_at = excluded.created_at", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, message_id);
    bind_str(s, 2, secret);
    sqlite3_bind_int(s, 3, vote);
    bind_str(s, 4, comment);
    sqlite3_bind_int64(s, 5, store_now_s());
    src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "record feedback");
    else if (sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no message %lld in this conversation", (long long)message_id);
out_unlock:
    store_unlock(st);
    return rc;
}

/* ---- listings -------------------------------------------------------------------------------------- */

#define LOG_COLS                                                                                              \
    "m.id, m.conversation_id, m.created_at, m.collection_id, m.channel, m.question, m.answer, m.mode, m.model," \
    " m.client_ip, m.citations, f.comment, m.review, m.fallback, m.confidence, m.latency_ms, f.vote,"          \
    " m.curated_id, m.curated_version"
#define LOG_WHERE                                                                                             \
    " (?1 = 0 OR m.created_at >= ?1) AND (?2 = 0 OR m.created_at < ?2) AND (?3 = 0 OR m.collection_id = ?3)"   \
    " AND (?4 = '' OR m.channel = ?4)"
#define REVIEW_WHERE                                                                                          \
    " AND m.review = '' AND (m.fallback = 1 OR m.confidence < ?5 OR f.vote = -1) AND (?6 = ''"                 \
    " OR (?6 = 'fallback' AND m.fallback = 1) OR (?6 = 'low_confidence' AND m.fallback = 0 AND m.confidence < ?5)" \
    " OR (?6 = 'thumbs_down' AND f.vote = -1))"

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static void log_bind_filter(sqlite3_stmt *s, const struct index_log_filter *f)
{
    sqlite3_bind_int64(s, 1, f->from);
    sqlite3_bind_int64(s, 2, f->to);
    sqlite3_bind_int64(s, 3, f->collection_id > 0 ? f->collection_id : 0);
    bind_str(s, 4, f->channel);
    if (sqlite3_bind_parameter_count(s) >= 6) {
        sqlite3_bind_double(s, 5, f->low_confidence);
        bind_str(s, 6, f->kind);
    }
    if (sqlite3_bind_parameter_count(s) >= 8) {
        sqlite3_bind_int64(s, 7, f->limit > 0 ? f->limit : -1);
        sqlite3_bind_int64(s, 8, f->offset > 0 ? f->offset : 0);
    }
}

/* Runs a listing query and calls fn per row (lock held). */
static int log_rows(struct index_store *st, const char *sql, const struct index_log_filter *f, index_log_row_fn fn,
                    void *ud, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (src != SQLITE_OK)
        return store_fail(st, err, src, "prepare log listing");
    log_bind_filter(s, f);
    while (rc == 0 && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_log_row r = {
            .id = sqlite3_column_int64(s, 0),
            .conversation_id = sqlite3_column_int64(s, 1),
            .created_at = sqlite3_column_int64(s, 2),
            .collection_id = sqlite3_column_int64(s, 3),
            .channel = col_text(s, 4),
            .question = col_text(s, 5),
            .answer = col_text(s, 6),
            .mode = col_text(s, 7),
            .model = col_text(s, 8),
            .client_ip = sqlite3_column_type(s, 9) == SQLITE_NULL ? NULL : col_text(s, 9),
            .citations = col_text(s, 10),
            .comment = col_text(s, 11),
            .review = col_text(s, 12),
            .fallback = sqlite3_column_int(s, 13) != 0,
            .confidence = sqlite3_column_double(s, 14),
            .latency_ms = sqlite3_column_double(s, 15),
            .vote = sqlite3_column_int(s, 16),
            .curated_id = sqlite3_column_int64(s, 17),
            .curated_version = sqlite3_column_int64(s, 18),
        };
        rc = fn(ud, &r);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read log");
    sqlite3_finalize(s);
    return rc;
}

int index_log_review(struct index_store *st, const struct index_log_filter *f, index_log_row_fn fn, void *ud,
                     int64_t *total, struct kb_error *err)
{
    static const char list_sql[] = "SELECT " LOG_COLS " FROM messages m LEFT JOIN feedback f ON f.message_id = m.id"
                                   " WHERE" LOG_WHERE REVIEW_WHERE " ORDER BY m.id DESC LIMIT ?7 OFFSET ?8";
    /* counting stops at INDEX_LOG_REVIEW_COUNT_CAP + 1: an exact count of a huge inbox would scan
     * every message (bench_log: 0.5 s over 1M), and nobody pages that far */
    static const char count_sql[] = "SELECT count(*) FROM (SELECT 1 FROM messages m LEFT JOIN feedback f ON"
                                    " f.message_id = m.id WHERE" LOG_WHERE REVIEW_WHERE " LIMIT 10001)";
    int rc;
    store_lock(st);
    rc = log_rows(st, list_sql, f, fn, ud, err);
    if (rc == 0 && total) {
        sqlite3_stmt *s = NULL;
        int src = sqlite3_prepare_v2(st->db, count_sql, -1, &s, NULL);
        if (src == SQLITE_OK) {
            log_bind_filter(s, f);
            src = sqlite3_step(s);
        }
        if (src == SQLITE_ROW)
            *total = sqlite3_column_int64(s, 0);
        else
            rc = store_fail(st, err, src, "count review items");
        sqlite3_finalize(s);
    }
    store_unlock(st);
    return rc;
}

int index_log_each(struct index_store *st, const struct index_log_filter *f, index_log_row_fn fn, void *ud,
                   struct kb_error *err)
{
    static const char sql[] = "SELECT " LOG_COLS " FROM messages m LEFT JOIN feedback f ON f.message_id = m.id"
                              " WHERE" LOG_WHERE " ORDER BY m.id";
    int rc;
    store_lock(st);
    rc = log_rows(st, sql, f, fn, ud, err);
    store_unlock(st);
    return rc;
}

/* One UPDATE/DELETE by id that must touch a row (lock held). */
static int log_change_one(struct index_store *st, const char *sql, int64_t id, const char *text, const char *what,
                          struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (text)
            bind_str(s, 2, text);
        if (sqlite3_bind_parameter_count(s) >= 3)
            sqlite3_bind_int64(s, 3, store_now_s());
        src = sqlite3_step(s);
    }
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, what);
    else if (sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no %s with id %lld", what, (long long)id);
    sqlite3_finalize(s);
    return rc;
}

int index_log_review_set(struct index_store *st, int64_t message_id, const char *state, struct kb_error *err)
{
    int rc;
    if (!state || (strcmp(state, "dismissed") != 0 && strcmp(state, "resolved") != 0))
        return kb_error_set(err, KB_EINVAL, "review state must be dismissed or resolved");
    if (st->pg)
        return pg_rows_log_review_set(st, message_id, state, err);
    store_lock(st);
    rc = log_change_one(st, "UPDATE messages SET review = ?2, reviewed_at = ?3 WHERE id = ?1", message_id, state,
                        "message", err);
    store_unlock(st);
    return rc;
}

int index_log_collection_of(struct index_store *st, bool conversation, int64_t id, int64_t *collection_id,
                            struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    const char *what = conversation ? "conversation" : "message";
    int rc = 0, src;
    *collection_id = 0;
    store_lock(st);
    src = sqlite3_prepare_v2(st->db,
                             conversation ? "SELECT collection_id FROM conversations WHERE id = ?1"
                                          : "SELECT collection_id FROM messages WHERE id = ?1",
                             -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        src = sqlite3_step(s);
    }
    if (src == SQLITE_ROW)
        *collection_id = sqlite3_column_int64(s, 0);
    else if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no %s with id %lld", what, (long long)id);
    else
        rc = store_fail(st, err, src, what);
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_log_conversation_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    int rc;
    if (st->pg)
        return pg_rows_log_conversation_delete(st, id, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0)
        rc = log_change_one(st, "DELETE FROM conversations WHERE id = ?1", id, NULL, "conversation", err);
    rc = store_end(st, rc, err);
    store_unlock(st);
    return rc;
}

int index_log_purge(struct index_store *st, int64_t before, int64_t *n_deleted, struct kb_error *err)
{
    int rc;
    if (n_deleted)
        *n_deleted = 0;
    if (st->pg)
        return pg_rows_log_purge(st, before, n_deleted, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0)
        rc = log_purge_locked(st, before, n_deleted, err);
    rc = store_end(st, rc, err);
    store_unlock(st);
    return rc;
}

/* ---- statistics -------------------------------------------------------------------------------------- */

/* Rows (key text or day number, id, n) of one rollup query into an arena array. */
static int log_counts(struct index_store *st, const char *sql, int64_t d0, int64_t d1, int64_t coll, bool day_key,
                      struct kb_arena *a, struct index_log_count **out, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, n = 0, cap = 64, src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    struct index_log_count *v = kb_arena_alloc(a, (size_t)cap * sizeof *v);
    *out = NULL;
    *n_out = 0;
    if (src != SQLITE_OK || !v) {
        rc = v ? store_fail(st, err, src, "prepare statistics") : kb_error_set(err, KB_ENOMEM, "statistics");
        goto out_finalize;
    }
    sqlite3_bind_int64(s, 1, d0);
    sqlite3_bind_int64(s, 2, d1);
    sqlite3_bind_int64(s, 3, coll);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        char day[16];
        if (n == cap) {
            struct index_log_count *nv = kb_arena_alloc(a, (size_t)cap * 2 * sizeof *v);
            if (!nv) {
                rc = kb_error_set(err, KB_ENOMEM, "statistics exceed the memory cap");
                goto out_finalize;
            }
            memcpy(nv, v, (size_t)n * sizeof *v);
            v = nv;
            cap *= 2;
        }
        if (day_key) {
            time_t t = (time_t)(sqlite3_column_int64(s, 0) * 86400);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(day, sizeof day, "%Y-%m-%d", &tm);
            v[n].key = kb_arena_strdup(a, day);
        } else {
            v[n].key = kb_arena_strdup(a, col_text(s, 0));
        }
        v[n].id = sqlite3_column_int64(s, 1);
        v[n].n = sqlite3_column_int64(s, 2);
        n++;
    }
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read statistics");
    *out = v;
    *n_out = n;
out_finalize:
    sqlite3_finalize(s);
    return rc;
}

#define STATS_RANGE " day >= ?1 AND day < ?2 AND (?3 = 0 OR collection_id = ?3)"

/* p50 and p95 from the latency rollup: the upper bound of the bucket holding each rank. */
static int log_percentiles(struct index_store *st, int64_t d0, int64_t d1, int64_t coll, struct index_log_stats *o,
                           struct kb_error *err)
{
    int64_t h[INDEX_LOG_LAT_BUCKETS] = {0}, total = 0, seen = 0;
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(st->db, "SELECT bucket, sum(n) FROM log_latency WHERE" STATS_RANGE
                                                 " GROUP BY bucket", -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, d0);
        sqlite3_bind_int64(s, 2, d1);
        sqlite3_bind_int64(s, 3, coll);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            int b = sqlite3_column_int(s, 0);
            if (b >= 0 && b < INDEX_LOG_LAT_BUCKETS) {
                h[b] += sqlite3_column_int64(s, 1);
                total += sqlite3_column_int64(s, 1);
            }
        }
    }
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read latency statistics");
    sqlite3_finalize(s);
    for (int b = 0; rc == 0 && total > 0 && b < INDEX_LOG_LAT_BUCKETS; b++) {
        double upper = pow(1.1, b);
        seen += h[b];
        if (o->p50_ms == 0 && seen * 2 >= total)
            o->p50_ms = upper;
        if (o->p95_ms == 0 && seen * 100 >= total * 95)
            o->p95_ms = upper;
    }
    return rc;
}

/* Thumbs up and down on the range's messages, from the votes rollup. */
static int log_votes(struct index_store *st, int64_t d0, int64_t d1, int64_t coll, struct index_log_stats *o,
                     struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(st->db, "SELECT coalesce(sum(up), 0), coalesce(sum(down), 0) FROM log_votes"
                                                 " WHERE" STATS_RANGE, -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, d0);
        sqlite3_bind_int64(s, 2, d1);
        sqlite3_bind_int64(s, 3, coll);
        src = sqlite3_step(s);
    }
    if (src == SQLITE_ROW) {
        o->n_up = sqlite3_column_int64(s, 0);
        o->n_down = sqlite3_column_int64(s, 1);
    } else {
        rc = store_fail(st, err, src, "read feedback statistics");
    }
    sqlite3_finalize(s);
    return rc;
}

/* The INDEX_LOG_TOP questions (fallbacks when unanswered) of days [d0, d1) in collection coll
 * (0: all), exactly, without grouping every question of the range (the threshold algorithm):
 * candidates come in the order of their all-time totals, which bound their count in any range;
 * each gets its range count from log_questions by key, and the walk stops once the tenth best
 * range count reaches the next candidate's total, or the range's questions not yet counted
 * (range_total minus those seen) could no longer reach it. */
static int log_top_questions(struct index_store *st, int64_t d0, int64_t d1, int64_t coll, bool unanswered,
                             int64_t range_total, struct kb_arena *a, struct index_log_count **out, int *n_out,
                             struct kb_error *err)
{
    sqlite3_stmt *c = NULL, *r = NULL;
    struct index_log_count top[INDEX_LOG_TOP];
    int n = 0, rc = 0, src;
    int64_t seen = 0, key = coll > 0 ? coll : -1;
    *out = NULL;
    *n_out = 0;
    src = sqlite3_prepare_v2(st->db, unanswered ? "SELECT qnorm, n_fallback FROM log_question_totals WHERE"
                                                  " collection_id = ?1 AND n_fallback > 0 AND qnorm <> ''"
                                                  " ORDER BY n_fallback DESC"
                                                : "SELECT qnorm, n FROM log_question_totals WHERE collection_id = ?1"
                                                  " AND n > 0 AND qnorm <> '' ORDER BY n DESC",
                             -1, &c, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(st->db, "SELECT coalesce(sum(n), 0), coalesce(sum(n_fallback), 0), max(sample) FROM"
                                         " log_questions WHERE collection_id = ?1 AND qnorm = ?2 AND day >= ?3 AND"
                                         " day < ?4", -1, &r, NULL);
    if (src != SQLITE_OK) {
        rc = store_fail(st, err, src, "prepare top questions");
        goto out_finalize;
    }
    sqlite3_bind_int64(c, 1, key);
    sqlite3_bind_int64(r, 1, key);
    sqlite3_bind_int64(r, 3, d0);
    sqlite3_bind_int64(r, 4, d1);
    while (range_total - seen > 0 && (src = sqlite3_step(c)) == SQLITE_ROW) {
        int64_t bound = sqlite3_column_int64(c, 1), got;
        int at;
        if (n == INDEX_LOG_TOP && (top[n - 1].n >= bound || top[n - 1].n >= range_total - seen))
            break;
        sqlite3_reset(r);
        sqlite3_bind_text(r, 2, (const char *)sqlite3_column_text(c, 0), sqlite3_column_bytes(c, 0), SQLITE_TRANSIENT);
        if (sqlite3_step(r) != SQLITE_ROW)
            continue;
        got = sqlite3_column_int64(r, unanswered ? 1 : 0);
        seen += got;
        if (got <= 0 || (n == INDEX_LOG_TOP && got <= top[n - 1].n))
            continue;
        at = n < INDEX_LOG_TOP ? n++ : n - 1;
        while (at > 0 && top[at - 1].n < got) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (struct index_log_count){kb_arena_strdup(a, col_text(r, 2)), 0, got};
    }
    *out = kb_arena_alloc(a, sizeof top);
    if (!*out) {
        rc = kb_error_set(err, KB_ENOMEM, "statistics exceed the memory cap");
        goto out_finalize;
    }
    memcpy(*out, top, (size_t)n * sizeof top[0]);
    *n_out = n;
out_finalize:
    sqlite3_finalize(c);
    sqlite3_finalize(r);
    return rc;
}

int index_log_stats(struct index_store *st, int64_t from, int64_t to, int64_t collection_id, struct kb_arena *a,
                    struct index_log_stats *out, struct kb_error *err)
{
    int64_t d0 = from > 0 ? from / 86400 : 0, d1 = to > 0 ? (to + 86399) / 86400 : INT64_MAX / 86400;
    int64_t coll = collection_id > 0 ? collection_id : 0;
    int rc;
    memset(out, 0, sizeof *out);
    store_lock(st);
    rc = log_counts(st, "SELECT day, 0, sum(n) FROM log_days WHERE" STATS_RANGE LOG_BOT_ONLY " GROUP BY day HAVING sum(n) > 0"
                        " ORDER BY day", d0, d1, coll, true, a, &out->days, &out->n_days, err);
    if (rc == 0)
        rc = log_counts(st, "SELECT mode, 0, sum(n) FROM log_days WHERE" STATS_RANGE LOG_BOT_ONLY " GROUP BY mode HAVING sum(n) > 0"
                            " ORDER BY sum(n) DESC", d0, d1, coll, false, a, &out->modes, &out->n_modes, err);
    for (int i = 0; rc == 0 && i < out->n_modes; i++) {
        out->n_questions += out->modes[i].n;
        if (strcmp(out->modes[i].key, "fallback") == 0)
            out->n_fallback += out->modes[i].n;
    }
    if (rc == 0)
        rc = log_top_questions(st, d0, d1, coll, false, out->n_questions, a, &out->top, &out->n_top, err);
    if (rc == 0)
        rc = log_top_questions(st, d0, d1, coll, true, out->n_fallback, a, &out->unanswered, &out->n_unanswered, err);
    if (rc == 0)
        rc = log_counts(st, "SELECT max(document), document_id, sum(n) FROM log_docs WHERE" STATS_RANGE
                            " GROUP BY document_id HAVING sum(n) > 0 ORDER BY sum(n) DESC, document_id LIMIT 10",
                        d0, d1, coll, false, a, &out->docs, &out->n_docs, err);
    if (rc == 0)
        rc = log_percentiles(st, d0, d1, coll, out, err);
    if (rc == 0)
        rc = log_votes(st, d0, d1, coll, out, err);
    store_unlock(st);
    return rc;
}

/* ---- synthetic logs for benchmarks ---------------------------------------------------------------- */

int index_log_synthesize(struct index_store *st, int64_t n, int days, int n_questions, struct kb_error *err)
{
    static const char sql[] =
        "WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < ?1),"
        " r(k, q, fb, lat) AS (SELECT k, (abs(random()) % ?3) * (abs(random()) % ?3) / ?3,"
        "  abs(random()) % 100 < 15, 2 + abs(random()) % 400 FROM i)"
        " INSERT INTO messages(conversation_id, created_at, channel, collection_id, question, qnorm, answer, mode,"
        "  fallback, confidence, latency_ms, lat_bucket, citations)"
        " SELECT ?5 + k / 4, ?4 - (?1 - k) * (?2 * 86400 / ?1), CASE k % 4 WHEN 0 THEN 'widget' WHEN 1 THEN 'ui'"
        "  WHEN 2 THEN 'api' ELSE 'openai' END, 1, 'How do I return order item ' || q || '?',"
        "  'how do i return order item ' || q, CASE WHEN fb THEN 'The documents do not contain an answer to this"
        "  question.' ELSE 'You can return any product within 45 days of delivery for a full refund, as long as all"
        "  parts are included [1]. Refunds reach your account within 7 working days [2]. See the policy [3].' END,"
        "  CASE WHEN fb THEN 'fallback' ELSE 'extractive' END, fb, CASE WHEN fb THEN 0.1 ELSE 0.7 END, lat,"
        "  json_extract(?6, '$[' || lat || ']'), CASE WHEN fb THEN '[]' ELSE json_array("
        "  json_object('n', 1, 'document_id', 1 + q % 200, 'chunk_id', 1 + q, 'document', 'doc' || (q % 200) || '.pdf', 'page', 1),"
        "  json_object('n', 2, 'document_id', 1 + (q + 7) % 200, 'chunk_id', 2 + q, 'document', 'doc' || ((q + 7) % 200) || '.pdf', 'page', 2),"
        "  json_object('n', 3, 'document_id', 1 + (q + 13) % 200, 'chunk_id', 3 + q, 'document', 'doc' || ((q + 13) % 200) || '.pdf', 'page', 3)) END"
        " FROM r";
    int64_t now = store_now_s(), first = 0;
    sqlite3_stmt *s = NULL;
    char buckets[402 * 4 + 8]; /* the latency bucket of 0..401 ms as a JSON array (no ln() in SQL) */
    size_t used = 0;
    int rc, src;
    for (int ms = 0; ms <= 401; ms++)
        used += (size_t)snprintf(buckets + used, sizeof buckets - used, "%c%d", ms ? ',' : '[',
                                 index_log_latency_bucket(ms));
    snprintf(buckets + used, sizeof buckets - used, "]");
    if (n <= 0 || days <= 0 || n_questions <= 0)
        return kb_error_set(err, KB_EINVAL, "n, days and n_questions must be positive");
    store_lock(st);
    rc = store_begin(st, err);
    if (rc)
        goto out_unlock;
    /* the conversations first: one per 4 messages, ids from first */
    src = sqlite3_prepare_v2(st->db, "SELECT coalesce(max(id), 0) + 1 FROM conversations", -1, &s, NULL);
    if (src == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        first = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    src = sqlite3_prepare_v2(st->db, "WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < ?1)"
                                     " INSERT INTO conversations(id, secret, channel, collection_id, created_at, updated_at)"
                                     " SELECT ?2 + k, lower(hex(randomblob(16))), 'widget', 1, ?3, ?3 FROM i",
                             -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, (n + 3) / 4);
        sqlite3_bind_int64(s, 2, first);
        sqlite3_bind_int64(s, 3, now);
        src = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "synthesize conversations");
    if (rc == 0 && (src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, n);
        sqlite3_bind_int64(s, 2, days);
        sqlite3_bind_int64(s, 3, n_questions);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int64(s, 5, first);
        sqlite3_bind_text(s, 6, buckets, -1, SQLITE_STATIC);
        src = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "synthesize messages");
    if (rc == 0)
        rc = store_exec(st, "INSERT OR IGNORE INTO feedback(message_id, vote, comment, created_at, day, collection_id)"
                            " SELECT id, CASE WHEN fallback THEN -1 ELSE 1 END, '', created_at, created_at / 86400,"
                            " collection_id FROM messages"
                            " WHERE abs(random()) % 100 < 3", err);
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}
