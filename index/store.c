/* index/store.c: the SQLite glue: the connection, schema and migrations, the FTS5 tokenizer and the
 * registration of the ranking function kbox_bm25 (store_search.c), the statement cache and
 * transactions, collections, the consistency check, and every query the FAISS-cache policy
 * (vcache.c) and the re-embedding (reembed.c) need, so those two never call SQLite. SQLite is included by three files, all named store*.c and sharing this file's statement
 * cache and error mapping: this one, store_docs.c (documents and chunks: ~700 lines of SQL that
 * would take this file past 1300 lines) and store_search.c (search's read queries).
 *
 * Schema (user_version 11; v4 adds the conversation log (store_log.c's SQL), v5 curated answers (store_curated.c's),
 * v6 users, sessions, API keys and the audit log (store_users.c's), v7 bots (store_bots.c's), v8 human
 * handoff (store_handoff.c's), v9 a bot's own handoff settings (store_bots.c's), v10 a collection's
 * (store_coll_handoff.c's), v11 chunks.context and its full-text column):
 *   collections(id, name UNIQUE, created_at)
 *   documents(id, collection_id, name, path, mime, bytes, sha256, mtime, status, error, ingested_at,
 *             external_id, title, created_at)  -- status in queued|parsing|indexed|failed
 *   chunks(id AUTOINCREMENT = FAISS id, document_id, ordinal, text, heading_path, page_start, page_end,
 *          off_start, off_end, n_tokens, page_map, context)
 *                                  -- page_map (v3): "off:page,..." byte offsets in text where a new
 *                                     page starts; '' on one page (and for rows written before v3)
 *                                  -- context (v11): the document title as the chunk's document
 *                                     context, or '' (index_chunk_context, written with the chunk)
 *   embeddings(chunk_id, embedder_id, vector BLOB, PRIMARY KEY(chunk_id, embedder_id))
 *                                  -- dim float32, little-endian; several embedders during a re-embedding
 *   meta(key PRIMARY KEY, value)   -- 'embedder': the embedder whose vectors are complete and searched;
 *                                     'tokenizer': identity of chunks_fts's tokens (fts_tok.c; rebuilt on change)
 *   chunks_fts: FTS5(text, heading_path, context), external content = chunks, tokenize = 'kbox'
 *   chunks_vocab: fts5vocab(chunks_fts, 'row')  -- document frequencies for the embedder's IDF
 *   conversations, messages, feedback and their rollups (v4): the conversation log, see store_log.c
 *   bots (v7): named public-facing configurations, see store_bots.c (v6 is #16's accounts; until
 *                                  that lands its entry below is an empty placeholder)
 *   handoffs, handoff_events (v8): conversations passed to a person, tickets, see store_handoff.c
 *   bot_handoff (v9): a bot's own handoff settings, see store_bots.c
 *   collection_handoff (v10): a collection's own handoff settings, see store_coll_handoff.c
 * AUTOINCREMENT makes chunk ids never reused, so a FAISS id always names one version of one chunk.
 *
 * Data flow at open: open the file (WAL, busy timeout) -> register the tokenizer -> migrate ->
 * re-index FTS when the tokenizer version changed (store_check_tokenizer) -> vcache_open (which asks reembed_open which vectors are searched) -> the store is ready.
 * At close: the FAISS cache is saved when it changed (vcache.c).
 *
 * Invariants: one connection per store, guarded by st->mu (every public function locks; the
 * store_* helpers in index_int.h expect the lock held unless they say otherwise). Cached
 * statements are reset after each use. Writes use BEGIN IMMEDIATE so writers queue on the busy
 * timeout instead of deadlocking.
 * Tests: tests/index/test_store.c, test_crash.c, test_reembed.c; the page_map column and migration:
 * tests/ingest/test_pdf_pages.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/pg.h"

#define STORE_SCHEMA_VERSION 11
#define STORE_BUSY_MS 10000

int store_fail(struct index_store *st, struct kb_error *err, int src, const char *what)
{
    int code;
    switch (src & 0xff) {
    case SQLITE_FULL: code = KB_ENOSPC; break;
    case SQLITE_BUSY: case SQLITE_LOCKED: code = KB_EBUSY; break;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: code = KB_ECORRUPT; break;
    case SQLITE_CONSTRAINT: code = KB_ECONFLICT; break;
    case SQLITE_NOMEM: code = KB_ENOMEM; break;
    default: code = KB_EIO; break;
    }
    return kb_error_set(err, code, "database: %s: %s", what, st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
}

struct sqlite3_stmt *store_prep(struct index_store *st, const char *sql, struct kb_error *err)
{
    int rc;
    for (int i = 0; i < st->n_stmts; i++)
        if (st->stmts[i].sql == sql) {
            sqlite3_reset(st->stmts[i].stmt);
            sqlite3_clear_bindings(st->stmts[i].stmt);
            return st->stmts[i].stmt;
        }
    KB_ASSERT(st->n_stmts < STORE_N_STMT);
    rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[st->n_stmts].stmt, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, err, rc, "prepare");
        return NULL;
    }
    st->stmts[st->n_stmts].sql = sql;
    return st->stmts[st->n_stmts++].stmt;
}

int store_exec(struct index_store *st, const char *sql, struct kb_error *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(st, err, rc, sql);
}

int store_begin(struct index_store *st, struct kb_error *err)
{
    if (st->read_only)
        return kb_error_set(err, KB_EFORBIDDEN, "the store is open read-only");
    return store_exec(st, "BEGIN IMMEDIATE", err);
}

int store_end(struct index_store *st, int rc, struct kb_error *err)
{
    if (rc == 0) {
        int src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        if (src != SQLITE_OK)
            rc = store_fail(st, err, src, "commit");
        else
            return 0;
    }
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int store_step_done(struct index_store *st, struct sqlite3_stmt *s, const char *what, struct kb_error *err)
{
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    return src == SQLITE_DONE ? 0 : store_fail(st, err, src, what);
}


const char *store_col_str(struct sqlite3_stmt *s, int i, struct kb_arena *a)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    char *c = kb_arena_strndup(a, t ? (const char *)t : "", (size_t)sqlite3_column_bytes(s, i));
    return c ? c : "";
}

int64_t store_now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- the FTS5 tokenizer ------------------------------------------------------------------------- */

struct tok_ctx {
    void *fts_ctx;
    int (*x_token)(void *, int, const char *, int, int, int);
};

static int tok_emit(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct tok_ctx *c = ud;
    (void)cjk;
    return c->x_token(c->fts_ctx, 0, tok, n, start, end);
}

static int tok_create(void *ud, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)argv;
    (void)argc;
    *out = (Fts5Tokenizer *)ud; /* stateless: any non-NULL handle */
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *t)
{
    (void)t;
}

static int tok_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int n,
                        int (*x_token)(void *, int, const char *, int, int, int))
{
    struct tok_ctx c = {ctx, x_token};
    if (n <= 0)
        return SQLITE_OK;
    return fts_tok_tokenize((struct index_store *)t, text, (size_t)n, (flags & FTS5_TOKENIZE_QUERY) != 0, tok_emit,
                            &c);
}

static int store_register_tokenizer(struct index_store *st, struct kb_error *err)
{
    static fts5_tokenizer tk = {tok_create, tok_delete, tok_tokenize};
    fts5_api *api = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT fts5(?1)", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (!api)
        return kb_error_set(err, KB_EINTERNAL, "database: SQLite has no FTS5");
    rc = api->xCreateTokenizer(api, "kbox", st, &tk, NULL);
    if (rc != SQLITE_OK)
        return store_fail(st, err, rc, "register tokenizer");
    return store_register_ranker(st, api, err);
}

/* ---- schema ------------------------------------------------------------------------------------- */

/* The SQL of a migration kept in the file that owns its tables. */
extern const char store_log_migration[]; /* store_log.c: 3 -> 4 */
extern const char *const store_curated_migration; /* store_curated.c: 4 -> 5; its entry below is NULL */
extern const char store_users_migration[]; /* store_users.c: 5 -> 6 */
extern const char store_bots_migration[]; /* store_bots.c: 6 -> 7 */
extern const char store_handoff_migration[]; /* store_handoff.c: 7 -> 8 */
extern const char store_bots_handoff_migration[]; /* store_bots.c: 8 -> 9 */
extern const char store_coll_handoff_migration[]; /* store_coll_handoff.c: 9 -> 10 */

static const char *const store_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE collections(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id),"
    " name TEXT NOT NULL DEFAULT '', path TEXT NOT NULL DEFAULT '', mime TEXT NOT NULL DEFAULT '',"
    " bytes INTEGER NOT NULL DEFAULT 0, sha256 TEXT NOT NULL DEFAULT '', mtime INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'queued' CHECK(status IN ('queued','parsing','indexed','failed')),"
    " error TEXT NOT NULL DEFAULT '', ingested_at INTEGER NOT NULL DEFAULT 0,"
    " external_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);"
    "CREATE INDEX documents_path ON documents(collection_id, path);"
    "CREATE INDEX documents_sha ON documents(collection_id, sha256);"
    "CREATE INDEX documents_ext ON documents(collection_id, external_id);"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " document_id INTEGER NOT NULL REFERENCES documents(id), ordinal INTEGER NOT NULL, text TEXT NOT NULL,"
    " heading_path TEXT NOT NULL DEFAULT '', page_start INTEGER NOT NULL DEFAULT 0,"
    " page_end INTEGER NOT NULL DEFAULT 0, off_start INTEGER NOT NULL DEFAULT 0,"
    " off_end INTEGER NOT NULL DEFAULT 0, n_tokens INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX chunks_doc ON chunks(document_id, ordinal);"
    "CREATE TABLE embeddings(chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id),"
    " embedder_id TEXT NOT NULL, vector BLOB NOT NULL);"
    "CREATE INDEX embeddings_embedder ON embeddings(embedder_id, chunk_id);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading_path, content='chunks', content_rowid='id',"
    " tokenize='kbox');"
    "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('rank', 'bm25(1.0, 1.0)');"
    "CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');"
    "INSERT INTO collections(name, created_at) VALUES('default', CAST(strftime('%s','now') AS INTEGER));",
    /* 1 -> 2: vectors of several embedders may coexist (re-embedding in the background); meta names
     * the embedder whose vectors are complete and searched */
    "CREATE TABLE embeddings_v2(chunk_id INTEGER NOT NULL REFERENCES chunks(id), embedder_id TEXT NOT NULL,"
    " vector BLOB NOT NULL, PRIMARY KEY(chunk_id, embedder_id));"
    "INSERT INTO embeddings_v2(chunk_id, embedder_id, vector) SELECT chunk_id, embedder_id, vector FROM embeddings;"
    "DROP TABLE embeddings;"
    "ALTER TABLE embeddings_v2 RENAME TO embeddings;"
    "CREATE INDEX embeddings_embedder ON embeddings(embedder_id, chunk_id);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta(key, value) SELECT 'embedder', embedder_id FROM embeddings GROUP BY embedder_id"
    " ORDER BY count(*) DESC LIMIT 1;",
    /* 2 -> 3: the page of every byte of a chunk that spans pages (citations give the page of the
     * cited sentence); older rows keep '' and so cite page_start */
    "ALTER TABLE chunks ADD COLUMN page_map TEXT NOT NULL DEFAULT '';",
    /* 3 -> 4: the conversation log (store_log.c) */
    store_log_migration,
    /* 4 -> 5: curated answers and their versions: store_curated_migration (store_curated.c) */
    NULL,
    /* 5 -> 6: accounts, sessions, API keys and the audit log (store_users.c) */
    store_users_migration,
    /* 6 -> 7: bots and the default bot (store_bots.c) */
    store_bots_migration,
    /* 7 -> 8: human handoff conversations, tickets and their events (store_handoff.c) */
    store_handoff_migration,
    /* 8 -> 9: a bot's own handoff settings (store_bots.c) */
    store_bots_handoff_migration,
    /* 9 -> 10: a collection's own handoff settings (store_coll_handoff.c) */
    store_coll_handoff_migration,
    /* 10 -> 11: a chunk's document context (index_doc_context, index_chunk_context) as a third
     * full-text column; the index is made anew, and the vectors of chunks given a context are
     * dropped, so the open re-embeds them from "context > heading" (reembed_open) */
    "ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';"
    "CREATE TEMP TABLE doc_context AS SELECT d.id AS id, " STORE_DOC_CONTEXT_SQL " AS ctx FROM documents d;"
    "UPDATE chunks SET context=coalesce((SELECT CASE WHEN x.ctx='' OR chunks.heading_path=x.ctx"
    " OR substr(chunks.heading_path, 1, length(x.ctx) + 3)=x.ctx || ' > ' THEN '' ELSE x.ctx END"
    " FROM doc_context x WHERE x.id=chunks.document_id), '');"
    "DROP TABLE doc_context;"
    "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks WHERE context<>'');"
    "DROP TABLE chunks_vocab;"
    "DROP TABLE chunks_fts;"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading_path, context, content='chunks', content_rowid='id',"
    " tokenize='kbox');"
    "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('rank', 'bm25(1.0, 1.0, 1.0)');"
    "CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');"
    "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild');",
};

static int store_user_version(struct index_store *st)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int store_migrate(struct index_store *st, struct kb_error *err)
{
    int v = store_user_version(st), rc = 0;
    if (v < 0)
        return store_fail(st, err, sqlite3_errcode(st->db), "read schema version");
    if (v > STORE_SCHEMA_VERSION)
        return kb_error_set(err, KB_ECORRUPT, "database schema version %d is newer than this kbox (%d)", v,
                            STORE_SCHEMA_VERSION);
    if (v == STORE_SCHEMA_VERSION)
        return 0;
    if (st->read_only)
        return kb_error_set(err, KB_ECORRUPT, "database schema version %d needs a migration; open it writable", v);
    for (; v < STORE_SCHEMA_VERSION && rc == 0; v++) {
        char pragma[64];
        rc = store_begin(st, err);
        if (rc)
            break;
        rc = store_exec(st, store_migrations[v] ? store_migrations[v] : store_curated_migration, err);
        if (rc == 0) {
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
            rc = store_exec(st, pragma, err);
        }
        rc = store_end(st, rc, err);
        if (rc == 0)
            kb_info("database: migrated schema to version %d", v + 1);
    }
    return rc;
}

/* ---- meta ----------------------------------------------------------------------------------------- */

/* meta 'tokenizer' is the identity of the tokens that wrote chunks_fts (st->tok_id: the
 * TEXT_TOKENIZER_VERSION, plus the word list's when the index holds dictionary words, fts_tok.c;
 * absent: 1, before the key).
 * When it differs, FTS5 rebuilds the index from the chunks table (external content) in one
 * transaction at a writable open, so old rows and new queries tokenize alike; a read-only open
 * warns and searches the old index. No schema change: meta exists since version 2. */
static int64_t st_count_bind(struct index_store *st, const char *sql, const char *bind);

static int store_check_tokenizer(struct index_store *st, struct kb_error *err)
{
    char have[96], want[96];
    int rc = 0;
    store_meta_get(st, "tokenizer", have, sizeof(have));
    kb_strlcpy(want, st->tok_id, sizeof(want));
    if (strcmp(have, want) == 0)
        return 0;
    if (st->read_only) {
        kb_warn("database: full-text index written by tokenizer %s, this kbox has %s; open it writable to "
                "re-index", have[0] ? have : "1", want);
        return 0;
    }
    if ((rc = store_begin(st, err)) != 0)
        return rc;
    if (st_count_bind(st, "SELECT count(*) FROM chunks", NULL) != 0)
        rc = store_exec(st, "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')", err);
    if (rc == 0)
        rc = store_meta_set(st, "tokenizer", want, err);
    rc = store_end(st, rc, err);
    if (rc == 0 && have[0])
        kb_info("database: full-text index rebuilt for tokenizer %s (was %s)", want, have);
    return rc;
}

/* meta.value of key into buf ("" when absent). */
void store_meta_get(struct index_store *st, const char *key, char *buf, size_t buf_bytes)
{
    sqlite3_stmt *s = store_prep(st, "SELECT value FROM meta WHERE key=?1", NULL);
    buf[0] = '\0';
    if (!s)
        return;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        kb_strlcpy(buf, (const char *)sqlite3_column_text(s, 0), buf_bytes);
    sqlite3_reset(s);
}

int store_meta_set(struct index_store *st, const char *key, const char *value, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", err);
    int src;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    sqlite3_reset(s);
    return src == SQLITE_DONE ? 0 : store_fail(st, err, src, "write meta");
}

/* One count query with an optional text bind ?1; -1 on error. */
static int64_t st_count_bind(struct index_store *st, const char *sql, const char *bind)
{
    sqlite3_stmt *s = store_prep(st, sql, NULL);
    int64_t v = -1;
    if (s && bind)
        sqlite3_bind_text(s, 1, bind, -1, SQLITE_STATIC);
    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return v;
}

#define SQL_N_MISSING                                                                                          \
    "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.chunk_id=c.id"        \
    " AND e.embedder_id=?1)"

int64_t store_n_chunks(struct index_store *st)
{
    return st_count_bind(st, "SELECT count(*) FROM chunks", NULL);
}

int64_t store_n_vectors(struct index_store *st, const char *embedder_id)
{
    return st_count_bind(st, "SELECT count(*) FROM embeddings WHERE embedder_id=?1", embedder_id);
}

int64_t store_n_missing(struct index_store *st, const char *embedder_id)
{
    return st_count_bind(st, SQL_N_MISSING, embedder_id);
}

/* ---- queries for vcache.c and reembed.c ---------------------------------------------------------- */

int store_data_version(struct index_store *st)
{
    sqlite3_stmt *s = store_prep(st, "PRAGMA data_version", NULL);
    int v = -1;
    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    if (s)
        sqlite3_reset(s);
    return v;
}

/* Sorted chunk ids that have a vector of the serving embedder. Caller frees *ids. */
int store_embedding_ids(struct index_store *st, int64_t **ids, int64_t *n, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT chunk_id FROM embeddings WHERE embedder_id=?1 ORDER BY chunk_id", err);
    int64_t cap = 1024, k = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, st->serve->id, -1, SQLITE_STATIC);
    *ids = kb_xmalloc((size_t)cap * sizeof(int64_t));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap *= 2;
            *ids = kb_xrealloc(*ids, (size_t)cap * sizeof(int64_t));
        }
        (*ids)[k++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        return store_fail(st, err, rc, "read embedding ids");
    }
    *n = k;
    return 0;
}
/* One page of e's vectors by chunk id (index_int.h). */
int store_vector_page(struct index_store *st, const struct index_embedder *e, bool unlocked, int64_t *last,
                      int64_t stride, int64_t limit, bool warn, int64_t *ids, float *x, int64_t *n_rows,
                      int64_t *n_ok, struct kb_error *err)
{
    const size_t bytes = (size_t)e->dim * sizeof(float);
    sqlite3_stmt *s;
    int rc = 0, src;
    *n_rows = *n_ok = 0;
    if (unlocked)
        store_lock(st);
    s = store_prep(st, "SELECT chunk_id, vector FROM embeddings WHERE embedder_id=?1 AND chunk_id>?2"
                    " AND chunk_id%?3=0 ORDER BY chunk_id LIMIT ?4", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_text(s, 1, e->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, *last);
        sqlite3_bind_int64(s, 3, stride);
        sqlite3_bind_int64(s, 4, limit);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            *last = sqlite3_column_int64(s, 0);
            (*n_rows)++;
            if ((size_t)sqlite3_column_bytes(s, 1) != bytes) {
                if (warn)
                    kb_warn("vectors: chunk %lld has a vector of %d bytes, expected %zu; skipped", (long long)*last,
                            sqlite3_column_bytes(s, 1), bytes);
                continue;
            }
            if (ids)
                ids[*n_ok] = *last;
            memcpy(x + (size_t)*n_ok * (size_t)e->dim, sqlite3_column_blob(s, 1), bytes);
            (*n_ok)++;
        }
        if (src != SQLITE_DONE)
            rc = store_fail(st, err, src, "read embeddings");
        sqlite3_reset(s);
    }
    if (unlocked)
        store_unlock(st);
    return rc;
}

/* Stores n vectors of embedder e for chunks that still exist (a chunk deleted meanwhile is skipped;
 * chunk ids are never reused, so a vector always matches its chunk's text). Lock held. */
int store_put_vectors(struct index_store *st, const struct index_embedder *e, const int64_t *ids, int n,
                      const float *x, int64_t *n_put, struct kb_error *err)
{
    sqlite3_stmt *ins;
    int rc = store_begin(st, err);
    *n_put = 0;
    if (rc)
        return rc;
    ins = store_prep(st, "INSERT OR REPLACE INTO embeddings(chunk_id, embedder_id, vector)"
                      " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM chunks WHERE id=?1)", err);
    if (!ins)
        rc = err ? err->code : KB_EIO;
    for (int i = 0; rc == 0 && i < n; i++) {
        int src;
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, ids[i]);
        sqlite3_bind_text(ins, 2, e->id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, x + (size_t)i * (size_t)e->dim, e->dim * (int)sizeof(float), SQLITE_STATIC);
        if ((src = sqlite3_step(ins)) != SQLITE_DONE)
            rc = store_fail(st, err, src, "store embedding");
        else
            *n_put += sqlite3_changes(st->db);
    }
    if (ins)
        sqlite3_reset(ins);
    return store_end(st, rc, err);
}


int store_missing_batch(struct index_store *st, const char *embedder_id, int64_t after, int batch, int64_t *ids,
                        char **texts, int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT c.id, c.text, c.heading_path, c.context FROM chunks c WHERE c.id>?2 AND NOT EXISTS"
                                     " (SELECT 1 FROM embeddings e WHERE e.chunk_id=c.id AND e.embedder_id=?1)"
                                     " ORDER BY c.id LIMIT ?3", err);
    int n = 0;
    *n_out = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, embedder_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int(s, 3, batch);
    while (n < batch && sqlite3_step(s) == SQLITE_ROW) {
        struct index_chunk c = {0};
        ids[n] = sqlite3_column_int64(s, 0);
        c.text = (const char *)sqlite3_column_text(s, 1);
        c.heading_path = (const char *)sqlite3_column_text(s, 2);
        texts[n++] = index_chunk_embed_text(&c, (const char *)sqlite3_column_text(s, 3));
    }
    sqlite3_reset(s);
    *n_out = n;
    return 0;
}

int store_keep_vectors_of(struct index_store *st, const char *keep_id, bool require_complete, bool name_in_meta,
                          bool *complete, struct kb_error *err)
{
    sqlite3_stmt *d;
    int rc = store_begin(st, err);
    if (complete)
        *complete = false;
    if (rc)
        return rc;
    if (require_complete && store_n_missing(st, keep_id) != 0) {
        store_end(st, KB_ECONFLICT, NULL); /* rolls back */
        return 0;
    }
    d = store_prep(st, "DELETE FROM embeddings WHERE embedder_id<>?1", err);
    if (!d) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_text(d, 1, keep_id, -1, SQLITE_STATIC);
        rc = store_step_done(st, d, name_in_meta ? "delete old vectors" : "delete abandoned vectors", err);
    }
    if (rc == 0 && name_in_meta)
        rc = store_meta_set(st, "embedder", keep_id, err);
    rc = store_end(st, rc, err);
    if (rc == 0 && complete)
        *complete = true;
    return rc;
}

/* ---- open/close --------------------------------------------------------------------------------- */

void index_open_opts_from_config(struct index_open_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = cfg->data_dir;
    o->ann_threshold = cfg->index_ann_threshold;
    o->ann = strcmp(cfg->index_ann, "hnsw") == 0 ? INDEX_ANN_HNSW : INDEX_ANN_IVF;
    o->segment_dict = cfg->index_cjk_index_words ? cfg->index_segment_dict : NULL;
    o->no_stem = !cfg->index_stem_plurals;
    o->stem_english = cfg->index_stem_english;
    if (strcmp(cfg->store_backend, "postgres") == 0) {
        o->pg_url = cfg->store_url; /* "" is refused at open: postgres needs a URL */
        o->pg_password_file = cfg->store_password_file;
        o->pg_poll_s = (int)cfg->store_poll_s;
        o->pg_rebuild_lag = cfg->store_rebuild_lag;
    }
}

static int mkdir_p(const char *dir, struct kb_error *err)
{
    char tmp[STORE_PATH_BYTES];
    size_t n = kb_strlcpy(tmp, dir, sizeof(tmp));
    if (n >= sizeof(tmp))
        return kb_error_set(err, KB_EINVAL, "data directory path is too long");
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return kb_error_set(err, KB_EIO, "cannot create '%s': %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    return 0;
}

int index_store_open(struct index_store **out, const struct index_open_opts *opts, struct kb_error *err)
{
    struct index_store *st;
    char db_path[STORE_PATH_BYTES], orig[STORE_PATH_BYTES];
    int rc = 0, src;
    *out = NULL;
    if (!opts || !opts->data_dir || !opts->data_dir[0])
        return kb_error_set(err, KB_EINVAL, "no data directory given");
    if (opts->embedder && (opts->embedder->dim <= 0 || !opts->embedder->id || !opts->embedder->embed))
        return kb_error_set(err, KB_EINVAL, "embedder is incomplete (id, dim and embed are required)");
    if (opts->n_prev_embedders < 0 || opts->n_prev_embedders > INDEX_MAX_PREV_EMBEDDERS ||
        (opts->n_prev_embedders > 0 && !opts->prev_embedders))
        return kb_error_set(err, KB_EINVAL, "at most %d previous embedders", INDEX_MAX_PREV_EMBEDDERS);
    st = kb_xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->emb = opts->embedder;
    st->reembed_background = opts->reembed_in_background;
    st->n_prev = opts->n_prev_embedders;
    for (int i = 0; i < st->n_prev; i++)
        st->prev[i] = opts->prev_embedders[i];
    st->ann_threshold = opts->ann_threshold > 0 ? opts->ann_threshold : 200000;
    st->ann_kind = opts->ann == INDEX_ANN_HNSW ? VEC_HNSW : VEC_IVF;
    st->read_only = opts->read_only;
    st->n_chunks_cache = -1;
    fts_tok_setup(st, opts->segment_dict,
                  opts->no_stem ? FTS_STEM_NONE : opts->stem_english ? FTS_STEM_ENGLISH : FTS_STEM_PLURAL);
    kb_strlcpy(st->data_dir, opts->data_dir, sizeof(st->data_dir));
    snprintf(db_path, sizeof(db_path), "%s/kbox.db", opts->data_dir);
    snprintf(st->vec_path, sizeof(st->vec_path), "%s/vectors.faiss", opts->data_dir);
    snprintf(orig, sizeof(orig), "%s/originals", opts->data_dir);
    if (!st->read_only && ((rc = mkdir_p(opts->data_dir, err)) != 0 || (rc = mkdir_p(orig, err)) != 0))
        goto out_fail;
    src = sqlite3_open_v2(db_path, &st->db,
                          (st->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                              SQLITE_OPEN_NOMUTEX,
                          NULL);
    if (src != SQLITE_OK) {
        rc = kb_error_set(err, KB_EIO, "cannot open '%s': %s", db_path,
                          st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
        goto out_fail;
    }
    sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
    sqlite3_extended_result_codes(st->db, 1);
    if (!st->read_only && (rc = store_exec(st, "PRAGMA journal_mode=WAL", err)) != 0) {
        if (rc == KB_EIO)
            rc = kb_error_set(err, KB_ECORRUPT, "'%s' is not a kbox database: %s", db_path, err ? err->msg : "");
        goto out_fail;
    }
    if ((rc = store_exec(st, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err)) != 0 ||
        (rc = store_register_tokenizer(st, err)) != 0 || (rc = store_migrate(st, err)) != 0 ||
        (rc = store_check_tokenizer(st, err)) != 0 || (rc = vcache_open(st, err)) != 0)
        goto out_fail;
    if (opts->pg_url) {
        struct pg_db *db = NULL;
        if (st->read_only) {
            rc = kb_error_set(err, KB_EINVAL, "a read-only store cannot follow postgresql");
            goto out_fail;
        }
        int poll_s = opts->pg_poll_s > 0 ? opts->pg_poll_s : 2;
        int64_t lag = opts->pg_rebuild_lag > 0 ? opts->pg_rebuild_lag : 100000;
        struct kb_error e = {0};
        rc = pg_db_open(&db, opts->pg_url, opts->pg_password_file, true, &e);
        if (rc == KB_EBUSY) { /* down: serve the cache when there is one; the sync connects later */
            kb_warn("%s; starting from the local cache (writes fail until it is back)", e.msg);
            if ((rc = pg_db_open_offline(&db, opts->pg_url, opts->pg_password_file, err)) == 0 &&
                (rc = pg_sync_start_offline(&st->pg, st, db, opts->pg_url, opts->pg_password_file, poll_s, lag,
                                            err)) == KB_EBUSY)
                kb_error_set(err, KB_EBUSY, "%s, and the local cache never followed it: nothing to serve", e.msg);
            if (rc)
                goto out_fail;
        } else if (rc) {
            if (err)
                *err = e;
            goto out_fail;
        } else if ((rc = pg_sync_start(&st->pg, st, db, opts->pg_url, opts->pg_password_file, poll_s, lag, err)) !=
                   0) {
            goto out_fail;
        }
    }
    *out = st;
    return 0;
out_fail:
    st->read_only = true; /* nothing to save */
    index_store_close(st);
    return rc;
}

void index_store_close(struct index_store *st)
{
    if (!st)
        return;
    reembed_pg_close(st);
    pg_sync_stop(st->pg); /* first: the sync thread writes into the cache */
    if (st->db && st->vec) {
        struct kb_error e = {0};
        if (index_store_save_vectors(st, &e) != 0)
            kb_warn("vectors: not saved (%s); they are rebuilt at the next open", e.msg);
    }
    vec_free(st->vec);
    text_dict_free(st->dict);
    fts_tok_release(st);
    for (int i = 0; i < st->n_stmts; i++)
        sqlite3_finalize(st->stmts[i].stmt);
    if (st->db)
        sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int index_store_schema_version(struct index_store *st)
{
    int v;
    store_lock(st);
    v = store_user_version(st);
    store_unlock(st);
    return v;
}

void store_lock(struct index_store *st) { pthread_mutex_lock(&st->mu); }
void store_unlock(struct index_store *st) { pthread_mutex_unlock(&st->mu); }
struct vec_index *store_vectors(struct index_store *st) { return st->vec; }
const struct index_embedder *store_embedder(struct index_store *st) { return st->serve; }

/* ---- collections -------------------------------------------------------------------------------- */

static int check_name(const char *name, struct kb_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 200 || !kb_utf8_valid(name, n))
        return kb_error_set(err, KB_EINVAL, "collection name must be 1..200 bytes of UTF-8");
    return 0;
}

int index_collection_create(struct index_store *st, const char *name, int64_t *id_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = check_name(name, err), src;
    if (rc)
        return rc;
    if (st->pg) {
        rc = pg_collection_create(pg_sync_db(st->pg), name, id_out, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        return rc;
    }
    store_lock(st);
    s = store_prep(st, "INSERT INTO collections(name, created_at) VALUES(?1, ?2)", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, store_now_s());
        src = sqlite3_step(s);
        sqlite3_reset(s);
        if (src == SQLITE_DONE) {
            if (id_out)
                *id_out = sqlite3_last_insert_rowid(st->db);
        } else if ((src & 0xff) == SQLITE_CONSTRAINT) {
            rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' already exists", name);
        } else {
            rc = store_fail(st, err, src, "create collection");
        }
    }
    store_unlock(st);
    return rc;
}

static int st_collection_find(struct index_store *st, const char *name, int64_t *id_out, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT id FROM collections WHERE name=?1", err);
    int rc = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        *id_out = sqlite3_column_int64(s, 0);
    else
        rc = kb_error_set(err, KB_ENOENT, "no collection named '%s'", name);
    sqlite3_reset(s);
    return rc;
}

int64_t store_default_collection(struct index_store *st)
{
    int64_t id = 1;
    if (st_collection_find(st, INDEX_DEFAULT_COLLECTION, &id, NULL) != 0)
        id = 1;
    return id;
}

int index_collection_find(struct index_store *st, const char *name, int64_t *id_out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = st_collection_find(st, name ? name : "", id_out, err);
    store_unlock(st);
    return rc;
}

int index_collection_list(struct index_store *st, struct kb_arena *a, struct index_collection **out, int *n_out,
                          struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, n = 0, cap = 16;
    struct index_collection *v;
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    s = store_prep(st, "SELECT c.id, c.name, c.created_at, (SELECT count(*) FROM documents d WHERE d.collection_id=c.id)"
                    " FROM collections c ORDER BY c.id", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    v = kb_arena_alloc(a, (size_t)cap * sizeof(*v));
    while (v && sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            struct index_collection *nv = kb_arena_alloc(a, (size_t)cap * 2 * sizeof(*v));
            if (nv)
                memcpy(nv, v, (size_t)n * sizeof(*v));
            v = nv;
            cap *= 2;
            if (!v)
                break;
        }
        v[n].id = sqlite3_column_int64(s, 0);
        v[n].name = store_col_str(s, 1, a);
        v[n].created_at = sqlite3_column_int64(s, 2);
        v[n].n_docs = sqlite3_column_int64(s, 3);
        n++;
    }
    sqlite3_reset(s);
    if (!v) {
        rc = kb_error_set(err, KB_ENOMEM, "collection list exceeds the memory cap");
        goto out_unlock;
    }
    *out = v;
    *n_out = n;
out_unlock:
    store_unlock(st);
    return rc;
}

int index_collection_rename(struct index_store *st, int64_t id, const char *name, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = check_name(name, err), src;
    if (rc)
        return rc;
    if (st->pg) {
        rc = pg_collection_rename(pg_sync_db(st->pg), id, name, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        return rc;
    }
    store_lock(st);
    s = store_prep(st, "UPDATE collections SET name=?2 WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        src = sqlite3_step(s);
        sqlite3_reset(s);
        if ((src & 0xff) == SQLITE_CONSTRAINT)
            rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' already exists", name);
        else if (src != SQLITE_DONE)
            rc = store_fail(st, err, src, "rename collection");
        else if (sqlite3_changes(st->db) == 0)
            rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
    }
    store_unlock(st);
    return rc;
}

/* ---- consistency -------------------------------------------------------------------------------- */

static int64_t st_count(struct index_store *st, const char *sql)
{
    sqlite3_stmt *s = store_prep(st, sql, NULL);
    int64_t v = -1;
    if (s && st->emb)
        sqlite3_bind_text(s, 1, st->emb->id, -1, SQLITE_STATIC);
    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return v;
}

int index_store_check(struct index_store *st, struct index_check *out, struct kb_error *err)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = vcache_sync(st, err);
    out->n_documents = st_count(st, "SELECT count(*) FROM documents WHERE ?1 IS NULL OR 1");
    out->n_chunks = st_count(st, "SELECT count(*) FROM chunks WHERE ?1 IS NULL OR 1");
    out->n_embeddings = st_count(st, "SELECT count(*) FROM embeddings WHERE embedder_id=?1");
    out->n_embeddings_other = st_count(st, "SELECT count(*) FROM embeddings WHERE embedder_id<>?1");
    out->n_chunks_without_embedding =
        st->emb ? st_count(st, "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e"
                               " WHERE e.chunk_id=c.id AND e.embedder_id=?1)")
                : 0;
    out->n_orphan_chunks = st_count(st, "SELECT count(*) FROM chunks c WHERE (?1 IS NULL OR 1) AND NOT EXISTS"
                                        " (SELECT 1 FROM documents d WHERE d.id=c.document_id)");
    out->fts_ok = sqlite3_exec(st->db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)", NULL,
                               NULL, NULL) == SQLITE_OK;
    out->vectors_ok = true;
    out->vector_kind = "";
    if (st->vec) {
        int64_t *ids = NULL, n = 0;
        enum vec_kind k = vec_get_kind(st->vec);
        out->vector_kind = k == VEC_IVF ? "ivf" : k == VEC_HNSW ? "hnsw" : "flat";
        out->n_vectors = vec_count(st->vec);
        if (rc == 0 && store_embedding_ids(st, &ids, &n, err) == 0)
            out->vectors_ok = n == vec_count(st->vec) &&
                              (n == 0 || memcmp(ids, vec_ids(st->vec), (size_t)n * sizeof(int64_t)) == 0);
        else
            out->vectors_ok = false;
        free(ids);
    }
    out->ok = rc == 0 && out->fts_ok && out->vectors_ok && out->n_orphan_chunks == 0 &&
              out->n_chunks_without_embedding == 0;
    store_unlock(st);
    return rc;
}
