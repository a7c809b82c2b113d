/* index/store.c: the SQLite glue (the only file that includes SQLite): schema and migrations,
 * collections, documents, chunks, embeddings, the FTS5 index with kbox's tokenizer, originals on
 * disk, and keeping the FAISS cache (vectors.c) in step with the embeddings table.
 *
 * Schema (user_version 2):
 *   collections(id, name UNIQUE, created_at)
 *   documents(id, collection_id, name, path, mime, bytes, sha256, mtime, status, error, ingested_at,
 *             external_id, title, created_at)  -- status in queued|parsing|indexed|failed
 *   chunks(id AUTOINCREMENT = FAISS id, document_id, ordinal, text, heading_path, page_start, page_end,
 *          off_start, off_end, n_tokens)
 *   embeddings(chunk_id, embedder_id, vector BLOB, PRIMARY KEY(chunk_id, embedder_id))
 *                                  -- dim float32, little-endian; several embedders during a re-embedding
 *   meta(key PRIMARY KEY, value)   -- 'embedder': the embedder whose vectors are complete and searched
 *   chunks_fts: FTS5(text, heading_path), external content = chunks, tokenize = 'kbox'
 *   chunks_vocab: fts5vocab(chunks_fts, 'row')  -- document frequencies for the embedder's IDF
 * AUTOINCREMENT makes chunk ids never reused, so a FAISS id always names one version of one chunk.
 * Originals are files data_dir/originals/<sha256>, written (tmp + rename) before the transaction that
 * names them.
 *
 * Data flow of a replace: embed outside the lock -> BEGIN IMMEDIATE -> delete old FTS rows (external
 * content 'delete' with the old values), embeddings, chunks -> update the document -> insert chunks,
 * FTS rows, embeddings -> COMMIT -> remove old ids from / add new ids to the FAISS cache. A crash
 * before COMMIT leaves the old version; after it, the vector file disagrees with SQLite on the next
 * open and is rebuilt from the embeddings table.
 *
 * Vector cache kind: exact (flat) up to opts->ann_threshold vectors, above it IVF or HNSW
 * (opts->ann, from index.ann). The kind is fixed when the cache is built; a sidecar of another kind
 * than the count and the options call for is rebuilt at open (logged), and so is the cache before a
 * save. IVF is trained first on vec_train_size() vectors spread evenly over the chunk ids (every
 * total/want-th id), not the first ones, which come from the first documents ingested. HNSW removals
 * are tombstones: the cache is rebuilt when they outnumber a quarter of the live vectors (+1000) at
 * a sync, and before every save.
 *
 * Embedder changes: meta 'embedder' (the active id) names the complete vector set. When the
 * configured embedder differs, the store keeps searching the active vectors with the previous
 * embedder if the caller still has it (opts->prev_embedders; else BM25 only) while
 * index_reembed_step() embeds the chunks lacking the new embedder's vectors in batches (embedding
 * outside the lock, rows written only for chunks that still exist) and finally switches: builds the
 * new FAISS index page by page, then in one transaction checks none is missing, deletes the other
 * embedders' rows and names the new one in meta, swaps the cache under the lock. Replaces during
 * the re-embedding write vectors of both embedders. A crash leaves meta on the old embedder and
 * the new rows written so far, so the next open resumes where it stopped.
 *
 * Invariants: one connection per store, guarded by st->mu (every public function locks; store_*
 * helpers for search.c expect the lock held). Cached statements are reset after each use. Writes use
 * BEGIN IMMEDIATE so writers queue on the busy timeout instead of deadlocking.
 * Tests: tests/index/test_store.c, test_crash.c, test_reembed.c. */
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

#include "index/index_int.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_N_STMT 64
#define STORE_BUSY_MS 10000
#define STORE_PATH_BYTES 4200
#define STORE_PAGE_VECTORS 4096 /* vectors read per page (and per lock hold) while building */

struct store_stmt {
    const char *sql; /* static string; compared by pointer, then content */
    sqlite3_stmt *stmt;
};

struct index_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    char data_dir[STORE_PATH_BYTES];
    char vec_path[STORE_PATH_BYTES];
    const struct index_embedder *emb; /* configured (target) embedder; borrowed; NULL = no vectors */
    const struct index_embedder *serve; /* embedder of the vectors in vec and of query vectors: emb,
                                         * or during a re-embedding the previous one; NULL = BM25 only */
    const struct index_embedder *prev[INDEX_MAX_PREV_EMBEDDERS]; /* borrowed candidates for serve */
    int n_prev;
    char active_id[128];              /* meta 'embedder': the complete vector set search uses; "" none */
    bool reembed_pending;             /* emb's vectors are incomplete or not yet switched to */
    bool reembed_background;          /* opts->reembed_in_background */
    int64_t reembed_cursor;           /* chunks with id <= cursor were visited by this pass */
    int64_t reembed_done, reembed_total; /* progress of the pending re-embedding, in chunks */
    struct vec_index *vec;            /* FAISS cache of serve's vectors; NULL without serve */
    int64_t ann_threshold;            /* vectors above which vec is ann_kind instead of flat */
    enum vec_kind ann_kind;           /* VEC_IVF or VEC_HNSW (opts->ann) */
    bool read_only;
    int data_version;                 /* PRAGMA data_version at the last sync */
    int64_t n_chunks_cache;           /* -1 = unknown */
    struct store_stmt stmts[STORE_N_STMT];
    int n_stmts;
};

static int store_fail(struct index_store *st, struct kb_error *err, int src, const char *what)
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

/* A cached prepared statement, reset and unbound; NULL on error (err set). */
static sqlite3_stmt *st_prep(struct index_store *st, const char *sql, struct kb_error *err)
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

static int st_exec(struct index_store *st, const char *sql, struct kb_error *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(st, err, rc, sql);
}

static int st_begin(struct index_store *st, struct kb_error *err)
{
    if (st->read_only)
        return kb_error_set(err, KB_EFORBIDDEN, "the store is open read-only");
    return st_exec(st, "BEGIN IMMEDIATE", err);
}

static int st_end(struct index_store *st, int rc, struct kb_error *err)
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

static const char *col_str(sqlite3_stmt *s, int i, struct kb_arena *a)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    char *c = kb_arena_strndup(a, t ? (const char *)t : "", (size_t)sqlite3_column_bytes(s, i));
    return c ? c : "";
}

static int64_t now_s(void)
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
    (void)t;
    if (n <= 0)
        return SQLITE_OK;
    return index_tokenize(text, (size_t)n, (flags & FTS5_TOKENIZE_QUERY) != 0, tok_emit, &c);
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
    return rc == SQLITE_OK ? 0 : store_fail(st, err, rc, "register tokenizer");
}

/* ---- schema ------------------------------------------------------------------------------------- */

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
        rc = st_begin(st, err);
        if (rc)
            break;
        rc = st_exec(st, store_migrations[v], err);
        if (rc == 0) {
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
            rc = st_exec(st, pragma, err);
        }
        rc = st_end(st, rc, err);
        if (rc == 0)
            kb_info("database: migrated schema to version %d", v + 1);
    }
    return rc;
}

static int st_step_done(struct index_store *st, sqlite3_stmt *s, const char *what, struct kb_error *err);

/* ---- meta ----------------------------------------------------------------------------------------- */

/* meta.value of key into buf ("" when absent). */
static void st_meta_get(struct index_store *st, const char *key, char *buf, size_t buf_bytes)
{
    sqlite3_stmt *s = st_prep(st, "SELECT value FROM meta WHERE key=?1", NULL);
    buf[0] = '\0';
    if (!s)
        return;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        kb_strlcpy(buf, (const char *)sqlite3_column_text(s, 0), buf_bytes);
    sqlite3_reset(s);
}

static int st_meta_set(struct index_store *st, const char *key, const char *value, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", err);
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
    sqlite3_stmt *s = st_prep(st, sql, NULL);
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

/* ---- vectors cache ------------------------------------------------------------------------------ */

static int store_data_version(struct index_store *st)
{
    sqlite3_stmt *s = st_prep(st, "PRAGMA data_version", NULL);
    int v = -1;
    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    if (s)
        sqlite3_reset(s);
    return v;
}

/* Sorted chunk ids that have a vector of the serving embedder. Caller frees *ids. */
static int store_embedding_ids(struct index_store *st, int64_t **ids, int64_t *n, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT chunk_id FROM embeddings WHERE embedder_id=?1 ORDER BY chunk_id", err);
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

static const char *store_kind_name(enum vec_kind k)
{
    return k == VEC_IVF ? "IVF" : k == VEC_HNSW ? "HNSW" : "flat";
}

/* The index kind n vectors call for: exact up to ann_threshold, the configured approximate kind above. */
static enum vec_kind store_wanted_kind(const struct index_store *st, int64_t n)
{
    return n > st->ann_threshold ? st->ann_kind : VEC_FLAT;
}

/* One page of e's vectors by chunk id: ids above *last and divisible by stride, at most limit rows.
 * Well-formed rows go to x (limit x dim) and, when ids is not NULL, their ids to ids; *n_ok counts
 * them, *n_rows counts every row read, and *last moves to the last id read. A malformed row is
 * skipped (and logged when warn). With `unlocked` the mutex is taken for this page only. */
static int store_vector_page(struct index_store *st, const struct index_embedder *e, bool unlocked, int64_t *last,
                             int64_t stride, int64_t limit, bool warn, int64_t *ids, float *x, int64_t *n_rows,
                             int64_t *n_ok, struct kb_error *err)
{
    const size_t bytes = (size_t)e->dim * sizeof(float);
    sqlite3_stmt *s;
    int rc = 0, src;
    *n_rows = *n_ok = 0;
    if (unlocked)
        store_lock(st);
    s = st_prep(st, "SELECT chunk_id, vector FROM embeddings WHERE embedder_id=?1 AND chunk_id>?2"
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

/* Reads up to `want` vectors of e spread over the whole id range (chunk ids divisible by
 * total / want) into x (want x dim) for IVF training: the first ids alone would fit the lists to
 * the documents ingested first. Falls back to the first ids when deletions left the stride too few
 * hits. With `unlocked` the mutex is taken per page. */
static int store_sample_vectors(struct index_store *st, const struct index_embedder *e, bool unlocked,
                                int64_t total, int64_t want, float *x, int64_t *n_out, struct kb_error *err)
{
    int64_t stride = KB_MAX(1, total / KB_MAX(1, want)), n = 0, last = 0;
    int rc = 0;
    for (;;) {
        int64_t page_n, page_ok;
        rc = store_vector_page(st, e, unlocked, &last, stride, KB_MIN(STORE_PAGE_VECTORS, want - n), false, NULL,
                               x + (size_t)n * (size_t)e->dim, &page_n, &page_ok, err);
        if (rc)
            break;
        n += page_ok;
        if (page_n > 0 && n < want)
            continue; /* next page */
        if (n * 2 >= want || stride == 1)
            break;
        stride = 1, n = 0, last = 0; /* uneven ids: take the first ones */
    }
    *n_out = n;
    return rc;
}

/* Builds a FAISS index from every stored vector of embedder e: exact Flat up to ann_threshold
 * vectors, the configured approximate kind (IVF or HNSW) above it; IVF is first trained on a sample
 * spread over the ids (vec_train_size points). Reads pages of vectors by chunk id; with `unlocked`
 * the store's mutex is taken per page only, so searches and writes go on while a large index
 * builds (changes meanwhile are caught by an id diff later). */
static int store_build_vectors(struct index_store *st, const struct index_embedder *e, bool unlocked,
                               struct vec_index **out, struct kb_error *err)
{
    struct vec_index *v = NULL;
    int64_t total, batch_cap = STORE_PAGE_VECTORS, last = 0;
    const int dim = e->dim;
    int64_t *ids = NULL;
    float *x = NULL;
    int rc = 0;
    double t0 = kb_now_s();
    *out = NULL;
    if (unlocked)
        store_lock(st);
    total = st_count_bind(st, "SELECT count(*) FROM embeddings WHERE embedder_id=?1", e->id);
    if (unlocked)
        store_unlock(st);
    if (total < 0)
        return kb_error_set(err, KB_EIO, "database: cannot count the vectors of '%s'", e->id);
    rc = vec_new(&v, dim, e->id, store_wanted_kind(st, total), total, err);
    if (rc)
        return rc;
    if (vec_needs_training(v)) {
        int64_t want = vec_train_size(v, total), n_sample = 0;
        float *sample = kb_try_malloc((size_t)KB_MAX(1, want) * (size_t)dim, sizeof(float));
        if (!sample) {
            vec_free(v);
            return kb_error_set(err, KB_ENOMEM, "no memory for %lld training vectors", (long long)want);
        }
        rc = store_sample_vectors(st, e, unlocked, total, want, sample, &n_sample, err);
        if (rc == 0 && n_sample > 0) {
            rc = vec_train(v, sample, n_sample, err);
            kb_debug("vectors: IVF trained on %lld of %lld vectors (%lld wanted)", (long long)n_sample,
                     (long long)total, (long long)want);
        }
        free(sample);
        if (rc) {
            vec_free(v);
            return rc;
        }
    }
    ids = kb_xmalloc((size_t)batch_cap * sizeof(int64_t));
    x = kb_try_malloc((size_t)batch_cap * (size_t)dim, sizeof(float));
    if (!x) {
        free(ids);
        vec_free(v);
        return kb_error_set(err, KB_ENOMEM, "no memory to build %lld vectors", (long long)total);
    }
    while (rc == 0) {
        int64_t batch_rows, batch_n;
        rc = store_vector_page(st, e, unlocked, &last, 1, batch_cap, true, ids, x, &batch_rows, &batch_n, err);
        if (rc || batch_n == 0)
            break;
        if (vec_needs_training(v)) /* no sample came back (every vector malformed): train on this page */
            rc = vec_train(v, x, batch_n, err);
        if (rc == 0)
            rc = vec_add(v, ids, x, batch_n, err);
    }
    free(ids);
    free(x);
    if (rc) {
        vec_free(v);
        return rc;
    }
    if (total > 1000)
        kb_info("vectors: built %s index of %lld vectors in %.1f s", store_kind_name(vec_get_kind(v)),
                (long long)vec_count(v), kb_now_s() - t0);
    *out = v;
    return 0;
}

/* Rebuilds the FAISS cache of the serving embedder from SQLite (lock held). */
static int store_rebuild_vectors(struct index_store *st, struct kb_error *err)
{
    struct vec_index *v = NULL;
    int rc;
    if (!st->serve)
        return 0;
    rc = store_build_vectors(st, st->serve, false, &v, err);
    if (rc)
        return rc;
    vec_free(st->vec);
    st->vec = v;
    return 0;
}

/* The embedder among emb and prev whose id is id, or NULL. */
static const struct index_embedder *store_find_embedder(struct index_store *st, const char *id)
{
    if (st->emb && strcmp(st->emb->id, id) == 0)
        return st->emb;
    for (int i = 0; i < st->n_prev; i++)
        if (st->prev[i] && strcmp(st->prev[i]->id, id) == 0)
            return st->prev[i];
    return NULL;
}

/* Starts (or restarts) the pending re-embedding bookkeeping (lock held). */
static void store_reembed_begin(struct index_store *st)
{
    st->reembed_pending = true;
    st->reembed_cursor = 0;
    st->reembed_total = st_count_bind(st, "SELECT count(*) FROM chunks", NULL);
    st->reembed_done = st->reembed_total - st_count_bind(st, SQL_N_MISSING, st->emb->id);
}

static void store_reembed_fill(struct index_store *st, struct index_reembed_status *out)
{
    memset(out, 0, sizeof(*out));
    if (st->emb)
        kb_strlcpy(out->embedder_id, st->emb->id, sizeof(out->embedder_id));
    if (st->serve)
        kb_strlcpy(out->search_id, st->serve->id, sizeof(out->search_id));
    kb_strlcpy(out->stored_id, st->active_id, sizeof(out->stored_id));
    out->pending = st->reembed_pending;
    out->n_total = KB_MAX(st->reembed_total, 0);
    out->n_done = KB_MIN(KB_MAX(st->reembed_done, 0), out->n_total);
    if (!st->reembed_pending)
        out->n_done = out->n_total;
}

int index_reembed_status(struct index_store *st, struct index_reembed_status *out)
{
    store_lock(st);
    if (st->reembed_pending) { /* exact counts (the steps keep running estimates) */
        int64_t total = st_count_bind(st, "SELECT count(*) FROM chunks", NULL);
        int64_t missing = st_count_bind(st, SQL_N_MISSING, st->emb->id);
        if (total >= 0 && missing >= 0) {
            st->reembed_total = total;
            st->reembed_done = total - missing;
        }
    }
    store_reembed_fill(st, out);
    store_unlock(st);
    return 0;
}

/* Stores n vectors of embedder e for chunks that still exist (a chunk deleted meanwhile is skipped;
 * chunk ids are never reused, so a vector always matches its chunk's text). Lock held. */
static int st_put_vectors(struct index_store *st, const struct index_embedder *e, const int64_t *ids, int n,
                          const float *x, int64_t *n_put, struct kb_error *err)
{
    sqlite3_stmt *ins;
    int rc = st_begin(st, err);
    *n_put = 0;
    if (rc)
        return rc;
    ins = st_prep(st, "INSERT OR REPLACE INTO embeddings(chunk_id, embedder_id, vector)"
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
    return st_end(st, rc, err);
}

/* The switch at the end of a re-embedding: builds tgt's FAISS index (lock taken per page), then
 * under the lock, in one transaction, checks that every chunk has a vector of tgt, deletes every
 * other embedder's vectors and names tgt in meta; then swaps the cache and catches up with writes
 * made while it built. *finished false: something changed meanwhile (another pass follows). */
static int store_reembed_switch(struct index_store *st, const struct index_embedder *tgt, bool *finished,
                                struct kb_error *err)
{
    struct vec_index *v = NULL;
    int64_t missing;
    int rc = store_build_vectors(st, tgt, true, &v, err);
    *finished = false;
    if (rc)
        return rc;
    store_lock(st);
    if (st->emb != tgt || !st->reembed_pending)
        goto out_unlock;
    rc = st_begin(st, err);
    if (rc)
        goto out_unlock;
    missing = st_count_bind(st, SQL_N_MISSING, tgt->id);
    if (missing != 0) {
        st_end(st, KB_ECONFLICT, NULL); /* rolls back: chunks arrived without vectors; another pass */
        st->reembed_cursor = 0;
        goto out_unlock;
    }
    {
        sqlite3_stmt *d = st_prep(st, "DELETE FROM embeddings WHERE embedder_id<>?1", err);
        if (!d) {
            rc = err ? err->code : KB_EIO;
        } else {
            sqlite3_bind_text(d, 1, tgt->id, -1, SQLITE_STATIC);
            rc = st_step_done(st, d, "delete old vectors", err);
        }
    }
    if (rc == 0)
        rc = st_meta_set(st, "embedder", tgt->id, err);
    rc = st_end(st, rc, err);
    if (rc)
        goto out_unlock;
    vec_free(st->vec);
    st->vec = v;
    v = NULL;
    st->serve = tgt;
    kb_strlcpy(st->active_id, tgt->id, sizeof(st->active_id));
    st->reembed_pending = false;
    st->data_version = INT_MIN; /* force the id diff against the database */
    rc = store_sync_vectors(st, err);
    if (rc == 0 && !st->read_only) {
        struct kb_error serr = {0};
        if (vec_save(st->vec, st->vec_path, &serr) != 0)
            kb_warn("vectors: cannot save '%s': %s", st->vec_path, serr.msg);
    }
    if (rc == 0) {
        *finished = true;
        kb_warn("vectors: every chunk is now embedded with '%s' (%lld vectors); search uses them", tgt->id,
                (long long)vec_count(st->vec));
    }
out_unlock:
    store_unlock(st);
    vec_free(v);
    return rc;
}

int index_reembed_step(struct index_store *st, int batch, struct index_reembed_status *progress, bool *finished,
                       struct kb_error *err)
{
    const char *sel_sql = "SELECT c.id, c.text, c.heading_path FROM chunks c WHERE c.id>?2 AND NOT EXISTS"
                          " (SELECT 1 FROM embeddings e WHERE e.chunk_id=c.id AND e.embedder_id=?1)"
                          " ORDER BY c.id LIMIT ?3";
    const struct index_embedder *tgt;
    int64_t *ids = NULL;
    char **texts = NULL;
    float *x = NULL;
    int n = 0, rc = 0, src;
    sqlite3_stmt *s;
    *finished = false;
    batch = KB_MIN(KB_MAX(batch, 1), 4096);
    store_lock(st);
    tgt = st->emb;
    if (!st->reembed_pending || !tgt || st->read_only) {
        *finished = true;
        goto out_unlock;
    }
    s = st_prep(st, sel_sql, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    ids = kb_xmalloc((size_t)batch * sizeof(*ids));
    texts = kb_xcalloc((size_t)batch, sizeof(*texts));
    sqlite3_bind_text(s, 1, tgt->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, st->reembed_cursor);
    sqlite3_bind_int(s, 3, batch);
    while (n < batch && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_chunk c = {0};
        ids[n] = sqlite3_column_int64(s, 0);
        c.text = (const char *)sqlite3_column_text(s, 1);
        c.heading_path = (const char *)sqlite3_column_text(s, 2);
        texts[n++] = index_chunk_embed_text(&c);
    }
    sqlite3_reset(s);
out_unlock:
    store_unlock(st);
    if (rc == 0 && !*finished && n == 0)
        rc = store_reembed_switch(st, tgt, finished, err);
    if (rc == 0 && n > 0) {
        /* embedding is the slow part (a GGUF model): searches and writes go on meanwhile */
        x = kb_try_malloc((size_t)n * (size_t)tgt->dim, sizeof(float));
        rc = x ? tgt->embed(tgt->ud, (const char *const *)texts, n, x, err)
               : kb_error_set(err, KB_ENOMEM, "no memory for %d vectors", n);
        store_lock(st);
        if (rc == 0 && st->emb == tgt) {
            int64_t put = 0;
            rc = st_put_vectors(st, tgt, ids, n, x, &put, err);
            if (rc == 0) {
                st->reembed_cursor = ids[n - 1];
                st->reembed_done += put;
            }
        }
        store_unlock(st);
    }
    if (progress) {
        store_lock(st);
        store_reembed_fill(st, progress);
        store_unlock(st);
    }
    for (int i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(ids);
    free(x);
    return rc;
}

int index_store_set_embedder(struct index_store *st, const struct index_embedder *emb,
                             const struct index_embedder *const *prev, int n_prev, struct kb_error *err)
{
    int rc = 0;
    if (!emb || emb->dim <= 0 || !emb->id || !emb->embed)
        return kb_error_set(err, KB_EINVAL, "embedder is incomplete (id, dim and embed are required)");
    if (n_prev < 0 || n_prev > INDEX_MAX_PREV_EMBEDDERS)
        return kb_error_set(err, KB_EINVAL, "at most %d previous embedders", INDEX_MAX_PREV_EMBEDDERS);
    store_lock(st);
    if (st->read_only) {
        rc = kb_error_set(err, KB_EFORBIDDEN, "the store is open read-only");
        goto out_unlock;
    }
    st->emb = emb;
    st->n_prev = n_prev;
    for (int i = 0; i < n_prev; i++)
        st->prev[i] = prev[i];
    if (!st->active_id[0]) {
        kb_strlcpy(st->active_id, emb->id, sizeof(st->active_id));
        rc = st_meta_set(st, "embedder", emb->id, err);
    }
    if (rc == 0 && strcmp(st->active_id, emb->id) == 0) {
        /* back to the embedder the complete vectors come from: serve with it directly */
        bool rebuild = !st->serve || st->serve->dim != emb->dim;
        st->serve = emb;
        if (rebuild)
            rc = store_rebuild_vectors(st, err);
        st->reembed_pending = false;
        if (rc == 0 && (rc = st_begin(st, err)) == 0) {
            /* an abandoned re-embedding's vectors */
            sqlite3_stmt *d = st_prep(st, "DELETE FROM embeddings WHERE embedder_id<>?1", err);
            if (!d) {
                rc = err ? err->code : KB_EIO;
            } else {
                sqlite3_bind_text(d, 1, emb->id, -1, SQLITE_STATIC);
                rc = st_step_done(st, d, "delete abandoned vectors", err);
            }
            rc = st_end(st, rc, err);
        }
        if (rc == 0 && st_count_bind(st, SQL_N_MISSING, emb->id) > 0)
            store_reembed_begin(st);
    } else if (rc == 0) {
        store_reembed_begin(st);
        kb_warn("vectors: embedder changed from '%s' to '%s': re-embedding %lld chunks in the background; %s",
                st->active_id, emb->id, (long long)(st->reembed_total - st->reembed_done),
                st->serve ? "search uses the old vectors meanwhile" : "search is BM25-only meanwhile");
    }
out_unlock:
    store_unlock(st);
    return rc;
}

/* Decides, at open, which vectors are searched and whether a re-embedding is pending. Re-embeds
 * synchronously when the store is not set up for background re-embedding, or when only a few
 * chunks lack the current embedder's vectors (the active embedder is the configured one). */
static int store_open_embedders(struct index_store *st, struct kb_error *err)
{
    int rc = 0;
    st_meta_get(st, "embedder", st->active_id, sizeof(st->active_id));
    if (st->read_only) {
        if (!st->active_id[0])
            kb_strlcpy(st->active_id, st->emb->id, sizeof(st->active_id));
        st->serve = store_find_embedder(st, st->active_id);
        return 0;
    }
    if (!st->active_id[0]) {
        kb_strlcpy(st->active_id, st->emb->id, sizeof(st->active_id));
        rc = st_meta_set(st, "embedder", st->emb->id, err);
        if (rc)
            return rc;
    }
    if (strcmp(st->active_id, st->emb->id) != 0 || st_count_bind(st, SQL_N_MISSING, st->emb->id) > 0)
        store_reembed_begin(st);
    if (st->reembed_pending && (!st->reembed_background || strcmp(st->active_id, st->emb->id) == 0)) {
        bool finished = false;
        int64_t todo = st->reembed_total - st->reembed_done;
        while (rc == 0 && !finished)
            rc = index_reembed_step(st, 64, NULL, &finished, err);
        if (rc == 0 && todo > 0)
            kb_warn("vectors: embedded %lld chunks with '%s' (new or changed embedder)", (long long)todo,
                    st->emb->id);
        return rc;
    }
    st->serve = store_find_embedder(st, st->active_id);
    if (st->reembed_pending)
        kb_warn("vectors: the stored vectors come from '%s', the configured embedder is '%s': re-embedding %lld"
                " chunks in the background; %s",
                st->active_id, st->emb->id, (long long)(st->reembed_total - st->reembed_done),
                st->serve ? "search uses the old vectors meanwhile"
                          : "that embedder is not available, so search is BM25-only meanwhile");
    return 0;
}

static int store_open_vectors(struct index_store *st, struct kb_error *err)
{
    int64_t *ids = NULL, n = 0;
    struct kb_error lerr = {0};
    int rc = 0;
    if (!st->emb)
        return 0;
    rc = store_open_embedders(st, err);
    if (rc || !st->serve || st->vec) /* no vectors to search, or the switch just built them */
        goto out;
    rc = store_embedding_ids(st, &ids, &n, err);
    if (rc)
        return rc;
    rc = vec_load(&st->vec, st->vec_path, st->serve->dim, st->serve->id, ids, n, &lerr);
    if (rc == 0 && vec_get_kind(st->vec) != store_wanted_kind(st, n)) {
        /* index.ann_threshold or index.ann changed, or the count crossed the threshold */
        rc = KB_ECONFLICT;
        kb_error_set(&lerr, rc, "the file's index is %s; %lld vectors, threshold %lld and index.ann=%s call for %s",
                     store_kind_name(vec_get_kind(st->vec)), (long long)n, (long long)st->ann_threshold,
                     st->ann_kind == VEC_HNSW ? "hnsw" : "ivf", store_kind_name(store_wanted_kind(st, n)));
    }
    if (rc != 0) {
        if (!(rc == KB_ENOENT && n == 0))
            kb_warn("vectors: rebuilding '%s' from the database (%lld vectors): %s", st->vec_path, (long long)n,
                    lerr.msg);
        rc = store_rebuild_vectors(st, err);
        if (rc == 0 && !st->read_only && n > 0) {
            struct kb_error serr = {0};
            if (vec_save(st->vec, st->vec_path, &serr) != 0)
                kb_warn("vectors: cannot save '%s': %s", st->vec_path, serr.msg);
        }
    }
    free(ids);
out:
    st->data_version = store_data_version(st);
    return rc;
}

int store_sync_vectors(struct index_store *st, struct kb_error *err)
{
    int64_t *db_ids = NULL, n_db = 0, n_add = 0, n_del = 0;
    int64_t *add = NULL, *del = NULL;
    const int64_t *mem_ids;
    int64_t n_mem, i = 0, j = 0;
    int dv, rc;
    if (!st->serve || !st->vec)
        return 0;
    dv = store_data_version(st);
    if (dv == st->data_version && vec_n_tombstones(st->vec) * 4 <= vec_count(st->vec) + 1000)
        return 0;
    st->data_version = dv;
    st->n_chunks_cache = -1;
    if (vec_n_tombstones(st->vec) * 4 > vec_count(st->vec) + 1000)
        return store_rebuild_vectors(st, err);
    rc = store_embedding_ids(st, &db_ids, &n_db, err);
    if (rc)
        return rc;
    mem_ids = vec_ids(st->vec);
    n_mem = vec_count(st->vec);
    add = kb_xmalloc((size_t)(n_db + 1) * sizeof(int64_t));
    del = kb_xmalloc((size_t)(n_mem + 1) * sizeof(int64_t));
    while (i < n_db || j < n_mem) {
        if (j >= n_mem || (i < n_db && db_ids[i] < mem_ids[j]))
            add[n_add++] = db_ids[i++];
        else if (i >= n_db || mem_ids[j] < db_ids[i])
            del[n_del++] = mem_ids[j++];
        else
            i++, j++;
    }
    rc = vec_remove(st->vec, del, n_del, err);
    if (rc == 0 && n_add > 0) {
        const int dim = st->serve->dim;
        float *x = kb_xmalloc((size_t)n_add * (size_t)dim * sizeof(float));
        bool *found = kb_xmalloc((size_t)n_add);
        int64_t w = 0;
        for (int64_t k = 0; rc == 0 && k < n_add; k += 4096) {
            int m = (int)KB_MIN(4096, n_add - k);
            rc = store_get_vectors(st, add + k, m, x + (size_t)k * (size_t)dim, found + k, err);
        }
        for (int64_t k = 0; k < n_add; k++)
            if (found[k]) {
                if (w != k)
                    memcpy(x + (size_t)w * (size_t)dim, x + (size_t)k * (size_t)dim, (size_t)dim * sizeof(float));
                add[w++] = add[k];
            }
        if (rc == 0)
            rc = vec_add(st->vec, add, x, w, err);
        free(x);
        free(found);
    }
    if (n_add || n_del)
        kb_debug("vectors: synced with the database: +%lld -%lld", (long long)n_add, (long long)n_del);
    free(add);
    free(del);
    free(db_ids);
    return rc;
}

/* ---- open/close --------------------------------------------------------------------------------- */

void index_open_opts_from_config(struct index_open_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = cfg->data_dir;
    o->ann_threshold = cfg->index_ann_threshold;
    o->ann = strcmp(cfg->index_ann, "hnsw") == 0 ? INDEX_ANN_HNSW : INDEX_ANN_IVF;
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
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
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
    if (!st->read_only && (rc = st_exec(st, "PRAGMA journal_mode=WAL", err)) != 0) {
        if (rc == KB_EIO)
            rc = kb_error_set(err, KB_ECORRUPT, "'%s' is not a kbox database: %s", db_path, err ? err->msg : "");
        goto out_fail;
    }
    if ((rc = st_exec(st, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err)) != 0 ||
        (rc = store_register_tokenizer(st, err)) != 0 || (rc = store_migrate(st, err)) != 0 ||
        (rc = store_open_vectors(st, err)) != 0)
        goto out_fail;
    *out = st;
    return 0;
out_fail:
    st->read_only = true; /* nothing to save */
    index_store_close(st);
    return rc;
}

int index_store_save_vectors(struct index_store *st, struct kb_error *err)
{
    int rc = 0;
    store_lock(st);
    if (st->vec && !st->read_only && vec_dirty(st->vec)) {
        /* HNSW tombstones cannot be saved; a grown (or shrunk) index is saved as the kind it needs */
        if (vec_n_tombstones(st->vec) > 0 || vec_get_kind(st->vec) != store_wanted_kind(st, vec_count(st->vec)))
            rc = store_rebuild_vectors(st, err);
        if (rc == 0)
            rc = vec_save(st->vec, st->vec_path, err);
    }
    store_unlock(st);
    return rc;
}

void index_store_close(struct index_store *st)
{
    if (!st)
        return;
    if (st->db && st->vec) {
        struct kb_error e = {0};
        if (index_store_save_vectors(st, &e) != 0)
            kb_warn("vectors: not saved (%s); they are rebuilt at the next open", e.msg);
    }
    vec_free(st->vec);
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
    store_lock(st);
    s = st_prep(st, "INSERT INTO collections(name, created_at) VALUES(?1, ?2)", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now_s());
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
    sqlite3_stmt *s = st_prep(st, "SELECT id FROM collections WHERE name=?1", err);
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
    s = st_prep(st, "SELECT c.id, c.name, c.created_at, (SELECT count(*) FROM documents d WHERE d.collection_id=c.id)"
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
        v[n].name = col_str(s, 1, a);
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
    store_lock(st);
    s = st_prep(st, "UPDATE collections SET name=?2 WHERE id=?1", err);
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

char *index_chunk_embed_text(const struct index_chunk *c)
{
    struct kb_buf b;
    kb_buf_init(&b, 0);
    if (c->heading_path && c->heading_path[0]) {
        kb_buf_puts(&b, c->heading_path);
        kb_buf_putc(&b, '\n');
    }
    kb_buf_puts(&b, c->text ? c->text : "");
    return kb_buf_take(&b);
}

/* ---- documents: internals ----------------------------------------------------------------------- */

static const char *const doc_status_names[] = {"queued", "parsing", "indexed", "failed"};

const char *index_doc_status_name(enum index_doc_status s)
{
    return (unsigned)s < KB_ARRAY_LEN(doc_status_names) ? doc_status_names[s] : "unknown";
}

static enum index_doc_status doc_status_parse(const char *s)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(doc_status_names); i++)
        if (s && strcmp(s, doc_status_names[i]) == 0)
            return (enum index_doc_status)i;
    return INDEX_DOC_FAILED;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int64_t st_default_collection(struct index_store *st)
{
    int64_t id = 1;
    if (st_collection_find(st, INDEX_DEFAULT_COLLECTION, &id, NULL) != 0)
        id = 1;
    return id;
}

#define DOC_COLS                                                                                              \
    "d.id, d.collection_id, d.name, d.path, d.mime, d.bytes, d.sha256, d.mtime, d.status, d.error,"         \
    " d.ingested_at, d.external_id, d.title, (SELECT count(*) FROM chunks c WHERE c.document_id=d.id)"

static void doc_from_row(struct index_store *st, sqlite3_stmt *s, struct kb_arena *a, struct index_doc *d)
{
    char p[STORE_PATH_BYTES];
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->collection_id = sqlite3_column_int64(s, 1);
    d->name = col_str(s, 2, a);
    d->path = col_str(s, 3, a);
    d->mime = col_str(s, 4, a);
    d->bytes = sqlite3_column_int64(s, 5);
    kb_strlcpy(d->sha256, sqlite3_column_text(s, 6) ? (const char *)sqlite3_column_text(s, 6) : "", sizeof(d->sha256));
    d->mtime = sqlite3_column_int64(s, 7);
    d->status = doc_status_parse((const char *)sqlite3_column_text(s, 8));
    d->error = col_str(s, 9, a);
    d->ingested_at = sqlite3_column_int64(s, 10);
    d->external_id = col_str(s, 11, a);
    d->title = col_str(s, 12, a);
    d->n_chunks = sqlite3_column_int64(s, 13);
    if (d->sha256[0]) {
        snprintf(p, sizeof(p), "%s/originals/%s", st->data_dir, d->sha256);
        d->has_original = access(p, R_OK) == 0;
    }
}

/* Runs a one-row document query with binds (i64 a, text b); KB_ENOENT when no row. */
static int st_doc_query(struct index_store *st, const char *sql, int64_t a1, const char *t2, struct kb_arena *a,
                        struct index_doc *out, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, sql, err);
    int rc = 0, src;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, a1);
    if (t2)
        sqlite3_bind_text(s, 2, t2, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        doc_from_row(st, s, a, out);
    else if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no such document");
    else
        rc = store_fail(st, err, src, "read document");
    sqlite3_reset(s);
    return rc;
}

/* Appends the chunk ids of a document to *ids (kb_xrealloc'd). */
static int st_doc_chunk_ids(struct index_store *st, int64_t doc_id, int64_t **ids, int64_t *n, int64_t *cap,
                            struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT id FROM chunks WHERE document_id=?1", err);
    int src;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, doc_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *ids = kb_xrealloc(*ids, (size_t)*cap * sizeof(int64_t));
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return src == SQLITE_DONE ? 0 : store_fail(st, err, src, "read chunk ids");
}

static int st_step_done(struct index_store *st, sqlite3_stmt *s, const char *what, struct kb_error *err)
{
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    return src == SQLITE_DONE ? 0 : store_fail(st, err, src, what);
}

/* Deletes FTS rows, embeddings and chunks of a document (inside a transaction). */
static int st_doc_clear_chunks(struct index_store *st, int64_t doc_id, struct kb_error *err)
{
    static const char *const sqls[] = {
        ("INSERT INTO chunks_fts(chunks_fts, rowid, text, heading_path)"
         " SELECT 'delete', id, text, heading_path FROM chunks WHERE document_id=?1"),
        "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id=?1)",
        "DELETE FROM chunks WHERE document_id=?1",
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < KB_ARRAY_LEN(sqls); i++) {
        sqlite3_stmt *s = st_prep(st, sqls[i], err);
        if (!s)
            return err ? err->code : KB_EIO;
        sqlite3_bind_int64(s, 1, doc_id);
        rc = st_step_done(st, s, "delete chunks", err);
    }
    return rc;
}

/* Removes originals/<sha> when no document names it any more (after a commit). */
static void st_original_gc(struct index_store *st, const char *sha)
{
    sqlite3_stmt *s;
    bool used = true;
    char p[STORE_PATH_BYTES];
    if (!sha || !sha[0] || st->read_only)
        return;
    s = st_prep(st, "SELECT 1 FROM documents WHERE sha256=?1 LIMIT 1", NULL);
    if (!s)
        return;
    sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
    used = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    if (!used) {
        snprintf(p, sizeof(p), "%s/originals/%s", st->data_dir, sha);
        unlink(p);
    }
}

static bool sha_hex_ok(const char *s)
{
    size_t n = strlen(s);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int st_original_put(struct index_store *st, const void *data, size_t n, char sha[65], struct kb_error *err)
{
    struct kb_sha256 h;
    uint8_t dg[32];
    char path[STORE_PATH_BYTES], tmp[STORE_PATH_BYTES + 32];
    int fd, rc = 0;
    kb_sha256_init(&h);
    kb_sha256_update(&h, data, n);
    kb_sha256_final(&h, dg);
    kb_sha256_hex(dg, sha);
    snprintf(path, sizeof(path), "%s/originals/%s", st->data_dir, sha);
    if (access(path, R_OK) == 0)
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return kb_error_set(err, KB_EIO, "cannot write '%s': %s", tmp, strerror(errno));
    for (size_t off = 0; off < n && rc == 0;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", tmp, strerror(errno));
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = kb_error_set(err, KB_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* ---- documents: public -------------------------------------------------------------------------- */

static int st_doc_insert(struct index_store *st, const struct index_doc *d, int64_t coll, const char *sha,
                         int64_t *id_out, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "INSERT INTO documents(collection_id, name, path, mime, bytes, sha256, mtime, status,"
                                  " error, external_id, title, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                              err);
    int rc;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, coll);
    sqlite3_bind_text(s, 2, nz(d->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, nz(d->path), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(d->mime), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, d->bytes);
    sqlite3_bind_text(s, 6, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, d->mtime);
    sqlite3_bind_text(s, 8, index_doc_status_name(d->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, nz(d->error), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, nz(d->external_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, nz(d->title), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 12, now_s());
    rc = st_step_done(st, s, "insert document", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ENOENT, "collection %lld does not exist", (long long)coll);
    if (rc == 0)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int index_doc_create(struct index_store *st, const struct index_doc *doc, int64_t *id_out, struct kb_error *err)
{
    int64_t id = 0;
    int rc;
    if (!doc)
        return kb_error_set(err, KB_EINVAL, "no document given");
    if (doc->sha256[0] && !sha_hex_ok(doc->sha256))
        return kb_error_set(err, KB_EINVAL, "sha256 must be 64 lowercase hex digits");
    store_lock(st);
    rc = st_doc_insert(st, doc, doc->collection_id > 0 ? doc->collection_id : st_default_collection(st), doc->sha256,
                       &id, err);
    store_unlock(st);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int index_doc_set_status(struct index_store *st, int64_t id, enum index_doc_status status, const char *error,
                         struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    store_lock(st);
    s = st_prep(st, "UPDATE documents SET status=?2, error=?3 WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, index_doc_status_name(status), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(error), -1, SQLITE_STATIC);
        rc = st_step_done(st, s, "update document status", err);
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)id);
    }
    store_unlock(st);
    return rc;
}

/* Resolves the row a replace writes to (inside the transaction); *id 0 = insert a new row. */
static int st_replace_target(struct index_store *st, const struct index_doc *d, int64_t *coll, int64_t *id,
                             char old_sha[65], struct kb_error *err)
{
    const char *sql;
    sqlite3_stmt *s;
    int src;
    *id = 0;
    old_sha[0] = '\0';
    if (d->id > 0)
        sql = "SELECT id, sha256, collection_id FROM documents WHERE id=?1";
    else if (d->path && d->path[0])
        sql = "SELECT id, sha256, collection_id FROM documents WHERE collection_id=?1 AND path=?2 ORDER BY id LIMIT 1";
    else if (d->external_id && d->external_id[0])
        sql = "SELECT id, sha256, collection_id FROM documents WHERE collection_id=?1 AND external_id=?2"
              " ORDER BY id LIMIT 1";
    else
        return 0;
    s = st_prep(st, sql, err);
    if (!s)
        return err ? err->code : KB_EIO;
    if (d->id > 0) {
        sqlite3_bind_int64(s, 1, d->id);
    } else {
        sqlite3_bind_int64(s, 1, *coll);
        sqlite3_bind_text(s, 2, d->path && d->path[0] ? d->path : d->external_id, -1, SQLITE_STATIC);
    }
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        if (d->collection_id <= 0)
            *coll = sqlite3_column_int64(s, 2); /* replace by id keeps the document's collection */
        kb_strlcpy(old_sha, sqlite3_column_text(s, 1) ? (const char *)sqlite3_column_text(s, 1) : "", 65);
    }
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return store_fail(st, err, src, "find document");
    if (d->id > 0 && *id == 0)
        return kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)d->id);
    return 0;
}

/* One set of chunk vectors to store with the chunks: n x e->dim floats. */
struct st_vecset {
    const struct index_embedder *e; /* NULL: none */
    const float *x;
};

static int st_insert_chunks(struct index_store *st, int64_t doc_id, const struct index_chunk *chunks, int n,
                            const struct st_vecset *vs, int n_vs, int64_t *new_ids, struct kb_error *err)
{
    sqlite3_stmt *ins = st_prep(st, "INSERT INTO chunks(document_id, ordinal, text, heading_path, page_start, page_end,"
                                    " off_start, off_end, n_tokens) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)", err);
    sqlite3_stmt *fts = st_prep(st, "INSERT INTO chunks_fts(rowid, text, heading_path) VALUES(?1, ?2, ?3)", err);
    sqlite3_stmt *emb = st_prep(st, "INSERT INTO embeddings(chunk_id, embedder_id, vector) VALUES(?1, ?2, ?3)", err);
    int rc = 0;
    if (!ins || !fts || !emb)
        return err ? err->code : KB_EIO;
    for (int i = 0; rc == 0 && i < n; i++) {
        const struct index_chunk *c = &chunks[i];
        int64_t cid;
        sqlite3_bind_int64(ins, 1, doc_id);
        sqlite3_bind_int(ins, 2, i);
        sqlite3_bind_text(ins, 3, c->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, nz(c->heading_path), -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 5, c->page_start);
        sqlite3_bind_int(ins, 6, c->page_end);
        sqlite3_bind_int64(ins, 7, c->off_start);
        sqlite3_bind_int64(ins, 8, c->off_end);
        sqlite3_bind_int(ins, 9, c->n_tokens);
        rc = st_step_done(st, ins, "insert chunk", err);
        if (rc)
            break;
        cid = sqlite3_last_insert_rowid(st->db);
        new_ids[i] = cid;
        sqlite3_bind_int64(fts, 1, cid);
        sqlite3_bind_text(fts, 2, c->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(fts, 3, nz(c->heading_path), -1, SQLITE_STATIC);
        rc = st_step_done(st, fts, "index chunk text", err);
        for (int k = 0; rc == 0 && k < n_vs; k++) {
            if (!vs[k].e || !vs[k].x)
                continue;
            sqlite3_bind_int64(emb, 1, cid);
            sqlite3_bind_text(emb, 2, vs[k].e->id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(emb, 3, vs[k].x + (size_t)i * (size_t)vs[k].e->dim, vs[k].e->dim * (int)sizeof(float),
                              SQLITE_STATIC);
            rc = st_step_done(st, emb, "store embedding", err);
        }
    }
    return rc;
}

/* Embeds the chunks' embed texts with e into *out (caller frees). */
static int st_embed_chunks(const struct index_embedder *e, const struct index_chunk *chunks, int n, float **out,
                           struct kb_error *err)
{
    const char **texts;
    int rc;
    *out = kb_try_malloc((size_t)n * (size_t)e->dim, sizeof(float));
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d chunk vectors", n);
    texts = kb_xmalloc((size_t)n * sizeof(char *));
    for (int i = 0; i < n; i++)
        texts[i] = index_chunk_embed_text(&chunks[i]);
    rc = e->embed(e->ud, texts, n, *out, err);
    for (int i = 0; i < n; i++)
        free((char *)texts[i]);
    free(texts);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int index_doc_replace(struct index_store *st, const struct index_doc *doc, const struct index_chunk *chunks,
                      int n_chunks, const float *vectors, const void *original, size_t original_bytes,
                      int64_t *id_out, struct kb_error *err)
{
    char sha[65], old_sha[65] = "";
    float *own_vec = NULL, *srv_vec = NULL;
    const struct index_embedder *tgt, *srv;
    struct st_vecset vs[2];
    int64_t *old_ids = NULL, n_old = 0, cap_old = 0, *new_ids = NULL, coll, id = 0;
    int rc = 0;

    if (!doc || n_chunks < 0 || (n_chunks > 0 && !chunks))
        return kb_error_set(err, KB_EINVAL, "document replace needs a document and its chunks");
    for (int i = 0; i < n_chunks; i++)
        if (!chunks[i].text)
            return kb_error_set(err, KB_EINVAL, "chunk %d has no text", i);
    kb_strlcpy(sha, doc->sha256, sizeof(sha));
    if (sha[0] && !sha_hex_ok(sha))
        return kb_error_set(err, KB_EINVAL, "sha256 must be 64 lowercase hex digits");
    if (original && (rc = st_original_put(st, original, original_bytes, sha, err)) != 0)
        return rc;
    /* the configured embedder's vectors, and during a re-embedding also the searched embedder's,
     * so the document is found now and needs no re-embedding later */
    store_lock(st);
    tgt = st->emb;
    srv = st->serve != tgt ? st->serve : NULL;
    store_unlock(st);
    if (tgt && !vectors && n_chunks > 0) {
        rc = st_embed_chunks(tgt, chunks, n_chunks, &own_vec, err);
        if (rc)
            goto out_free;
        vectors = own_vec;
    }
    if (srv && n_chunks > 0 && (rc = st_embed_chunks(srv, chunks, n_chunks, &srv_vec, err)) != 0)
        goto out_free;
    if (!tgt)
        vectors = NULL;
    vs[0] = (struct st_vecset){tgt, vectors};
    vs[1] = (struct st_vecset){srv, srv_vec};
    new_ids = kb_xmalloc((size_t)(n_chunks + 1) * sizeof(int64_t));

    store_lock(st);
    coll = doc->collection_id > 0 ? doc->collection_id : st_default_collection(st);
    rc = st_begin(st, err);
    if (rc)
        goto out_unlock;
    rc = st_replace_target(st, doc, &coll, &id, old_sha, err);
    if (rc == 0 && id == 0) {
        rc = st_doc_insert(st, doc, coll, sha, &id, err);
    } else if (rc == 0) {
        rc = st_doc_chunk_ids(st, id, &old_ids, &n_old, &cap_old, err);
        if (rc == 0)
            rc = st_doc_clear_chunks(st, id, err);
    }
    if (rc == 0) {
        sqlite3_stmt *s = st_prep(st, "UPDATE documents SET collection_id=?2, name=?3, path=?4, mime=?5, bytes=?6,"
                                      " sha256=?7, mtime=?8, status='indexed', error='', ingested_at=?9,"
                                      " external_id=?10, title=?11 WHERE id=?1", err);
        if (!s) {
            rc = err ? err->code : KB_EIO;
        } else {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_int64(s, 2, coll);
            sqlite3_bind_text(s, 3, nz(doc->name), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, nz(doc->path), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 5, nz(doc->mime), -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 6, doc->bytes);
            sqlite3_bind_text(s, 7, sha, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 8, doc->mtime);
            sqlite3_bind_int64(s, 9, now_s());
            sqlite3_bind_text(s, 10, nz(doc->external_id), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 11, nz(doc->title), -1, SQLITE_STATIC);
            rc = st_step_done(st, s, "update document", err);
        }
    }
    if (rc == 0)
        rc = st_insert_chunks(st, id, chunks, n_chunks, vs, 2, new_ids, err);
    rc = st_end(st, rc, err);
    if (rc)
        goto out_unlock;
    st->n_chunks_cache = -1;
    if (st->reembed_pending && st->emb == tgt && vectors) {
        st->reembed_done += n_chunks;
        st->reembed_total += n_chunks - n_old;
    }
    if (st->vec) {
        struct kb_error verr = {0};
        const float *cached = st->serve == tgt ? vectors : st->serve == srv ? srv_vec : NULL;
        if (!cached && n_chunks > 0)
            st->data_version = INT_MIN; /* the searched embedder changed meanwhile: id diff at the next search */
        if (vec_remove(st->vec, old_ids, n_old, &verr) != 0 ||
            (cached && vec_add(st->vec, new_ids, cached, n_chunks, &verr) != 0)) {
            kb_warn("vectors: cache update failed (%s); rebuilding", verr.msg);
            if (store_rebuild_vectors(st, &verr) != 0)
                kb_warn("vectors: rebuild failed: %s", verr.msg);
        }
    }
    if (old_sha[0] && strcmp(old_sha, sha) != 0)
        st_original_gc(st, old_sha);
    if (id_out)
        *id_out = id;
out_unlock:
    store_unlock(st);
out_free:
    free(own_vec);
    free(srv_vec);
    free(old_ids);
    free(new_ids);
    return rc;
}

int index_doc_get(struct index_store *st, int64_t id, struct kb_arena *a, struct index_doc *out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = st_doc_query(st, "SELECT " DOC_COLS " FROM documents d WHERE d.id=?1", id, NULL, a, out, err);
    store_unlock(st);
    return rc;
}

int index_doc_find_by_path(struct index_store *st, int64_t collection_id, const char *path, struct kb_arena *a,
                           struct index_doc *out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = st_doc_query(st, "SELECT " DOC_COLS " FROM documents d WHERE d.collection_id=?1 AND d.path=?2 ORDER BY d.id LIMIT 1",
                      collection_id > 0 ? collection_id : st_default_collection(st), nz(path), a, out, err);
    store_unlock(st);
    return rc;
}

int index_doc_find_by_sha256(struct index_store *st, int64_t collection_id, const char *sha256_hex,
                             struct kb_arena *a, struct index_doc *out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = st_doc_query(st, "SELECT " DOC_COLS " FROM documents d WHERE d.collection_id=?1 AND d.sha256=?2 ORDER BY d.id LIMIT 1",
                      collection_id > 0 ? collection_id : st_default_collection(st), nz(sha256_hex), a, out, err);
    store_unlock(st);
    return rc;
}

int index_doc_list(struct index_store *st, int64_t collection_id, struct kb_arena *a, struct index_doc **out,
                   int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    struct index_doc *v = NULL;
    int n = 0, cap = 0, rc = 0, src;
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    s = st_prep(st, "SELECT " DOC_COLS " FROM documents d WHERE ?1=0 OR d.collection_id=?1 ORDER BY d.id", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, collection_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 64;
            struct index_doc *nv = kb_arena_alloc(a, (size_t)ncap * sizeof(*v));
            if (!nv) {
                rc = kb_error_set(err, KB_ENOMEM, "document list exceeds the memory cap");
                break;
            }
            if (n)
                memcpy(nv, v, (size_t)n * sizeof(*v));
            v = nv;
            cap = ncap;
        }
        doc_from_row(st, s, a, &v[n++]);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "list documents");
    sqlite3_reset(s);
    if (rc == 0) {
        *out = v;
        *n_out = n;
    }
out_unlock:
    store_unlock(st);
    return rc;
}

/* Deletes documents matching (sql with ?1) and everything they own, in one transaction. */
static int st_delete_docs(struct index_store *st, const char *sel_sql, int64_t key, int64_t *n_deleted,
                          struct kb_error *err)
{
    int64_t *doc_ids = NULL, n_docs = 0, cap_docs = 0, *chunk_ids = NULL, n_ch = 0, cap_ch = 0;
    char (*shas)[65] = NULL;
    sqlite3_stmt *s;
    int rc, src;
    rc = st_begin(st, err);
    if (rc)
        return rc;
    s = st_prep(st, sel_sql, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_end;
    }
    sqlite3_bind_int64(s, 1, key);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n_docs == cap_docs) {
            cap_docs = cap_docs ? cap_docs * 2 : 16;
            doc_ids = kb_xrealloc(doc_ids, (size_t)cap_docs * sizeof(int64_t));
            shas = kb_xrealloc(shas, (size_t)cap_docs * sizeof(*shas));
        }
        doc_ids[n_docs] = sqlite3_column_int64(s, 0);
        kb_strlcpy(shas[n_docs], sqlite3_column_text(s, 1) ? (const char *)sqlite3_column_text(s, 1) : "", 65);
        n_docs++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "find documents");
    for (int64_t i = 0; rc == 0 && i < n_docs; i++) {
        rc = st_doc_chunk_ids(st, doc_ids[i], &chunk_ids, &n_ch, &cap_ch, err);
        if (rc == 0)
            rc = st_doc_clear_chunks(st, doc_ids[i], err);
        if (rc == 0) {
            sqlite3_stmt *d = st_prep(st, "DELETE FROM documents WHERE id=?1", err);
            if (!d) {
                rc = err ? err->code : KB_EIO;
                break;
            }
            sqlite3_bind_int64(d, 1, doc_ids[i]);
            rc = st_step_done(st, d, "delete document", err);
        }
    }
out_end:
    rc = st_end(st, rc, err);
    if (rc == 0) {
        st->n_chunks_cache = -1;
        if (st->vec) {
            struct kb_error verr = {0};
            if (vec_remove(st->vec, chunk_ids, n_ch, &verr) != 0 && store_rebuild_vectors(st, &verr) != 0)
                kb_warn("vectors: rebuild failed: %s", verr.msg);
        }
        for (int64_t i = 0; i < n_docs; i++)
            st_original_gc(st, shas[i]);
        *n_deleted = n_docs;
    }
    free(doc_ids);
    free(shas);
    free(chunk_ids);
    return rc;
}

int index_doc_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    int64_t n = 0;
    int rc;
    store_lock(st);
    rc = st_delete_docs(st, "SELECT id, sha256 FROM documents WHERE id=?1", id, &n, err);
    if (rc == 0 && n == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)id);
    store_unlock(st);
    return rc;
}

int index_collection_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    int64_t n = 0;
    int rc;
    sqlite3_stmt *s;
    store_lock(st);
    if (id == st_default_collection(st)) {
        rc = kb_error_set(err, KB_EFORBIDDEN, "the default collection cannot be deleted");
        goto out_unlock;
    }
    rc = st_delete_docs(st, "SELECT id, sha256 FROM documents WHERE collection_id=?1", id, &n, err);
    if (rc)
        goto out_unlock;
    s = st_prep(st, "DELETE FROM collections WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, id);
    rc = st_step_done(st, s, "delete collection", err);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_doc_original_path(struct index_store *st, const char *sha256_hex, char *buf, size_t buf_bytes,
                            struct kb_error *err)
{
    if (!sha256_hex || !sha_hex_ok(sha256_hex))
        return kb_error_set(err, KB_EINVAL, "sha256 must be 64 lowercase hex digits");
    snprintf(buf, buf_bytes, "%s/originals/%s", st->data_dir, sha256_hex);
    if (access(buf, R_OK) != 0)
        return kb_error_set(err, KB_ENOENT, "original '%s' is not stored", sha256_hex);
    return 0;
}

static void chunk_from_row(sqlite3_stmt *s, struct kb_arena *a, struct index_chunk_row *c)
{
    c->id = sqlite3_column_int64(s, 0);
    c->document_id = sqlite3_column_int64(s, 1);
    c->ordinal = sqlite3_column_int(s, 2);
    c->text = col_str(s, 3, a);
    c->heading_path = col_str(s, 4, a);
    c->page_start = sqlite3_column_int(s, 5);
    c->page_end = sqlite3_column_int(s, 6);
    c->off_start = sqlite3_column_int64(s, 7);
    c->off_end = sqlite3_column_int64(s, 8);
    c->n_tokens = sqlite3_column_int(s, 9);
}

int index_doc_chunks(struct index_store *st, int64_t doc_id, struct kb_arena *a, struct index_chunk_row **out,
                     int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    struct index_chunk_row *v = NULL;
    int n = 0, cap = 0, rc = 0, src;
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    s = st_prep(st, "SELECT id, document_id, ordinal, text, heading_path, page_start, page_end, off_start, off_end,"
                    " n_tokens FROM chunks WHERE document_id=?1 ORDER BY ordinal", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, doc_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 64;
            struct index_chunk_row *nv = kb_arena_alloc(a, (size_t)ncap * sizeof(*v));
            if (!nv) {
                rc = kb_error_set(err, KB_ENOMEM, "chunk list exceeds the memory cap");
                break;
            }
            if (n)
                memcpy(nv, v, (size_t)n * sizeof(*v));
            v = nv;
            cap = ncap;
        }
        chunk_from_row(s, a, &v[n++]);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read chunks");
    sqlite3_reset(s);
    if (rc == 0) {
        *out = v;
        *n_out = n;
    }
out_unlock:
    store_unlock(st);
    return rc;
}

/* ---- helpers for search.c ------------------------------------------------------------------------ */

int store_bm25(struct index_store *st, const char *fts_expr, int64_t collection_id, int64_t document_id, int limit,
               struct store_cand *out, int *n_out, struct kb_error *err)
{
    const char *sql_all = "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2";
    const char *sql_doc = "SELECT f.rowid, f.rank FROM chunks_fts f JOIN chunks c ON c.id=f.rowid"
                          " WHERE chunks_fts MATCH ?1 AND c.document_id=?3 ORDER BY f.rank LIMIT ?2";
    const char *sql_coll = "SELECT f.rowid, f.rank FROM chunks_fts f JOIN chunks c ON c.id=f.rowid"
                           " JOIN documents d ON d.id=c.document_id"
                           " WHERE chunks_fts MATCH ?1 AND d.collection_id=?3 ORDER BY f.rank LIMIT ?2";
    sqlite3_stmt *s = st_prep(st, document_id > 0 ? sql_doc : collection_id > 0 ? sql_coll : sql_all, err);
    int n = 0, src;
    *n_out = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, fts_expr, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit);
    if (document_id > 0 || collection_id > 0)
        sqlite3_bind_int64(s, 3, document_id > 0 ? document_id : collection_id);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&out[n], 0, sizeof(out[n]));
        out[n].chunk_id = sqlite3_column_int64(s, 0);
        out[n].bm25 = -sqlite3_column_double(s, 1);
        out[n].bm25_rank = n + 1;
        n++;
    }
    if (n < limit && src != SQLITE_DONE) {
        sqlite3_reset(s);
        return store_fail(st, err, src, "full-text search");
    }
    sqlite3_reset(s);
    *n_out = n;
    return 0;
}

int store_filter_chunks(struct index_store *st, int64_t collection_id, int64_t document_id, int64_t *ids,
                        float *scores, int *n, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT c.document_id, d.collection_id FROM chunks c JOIN documents d"
                                  " ON d.id=c.document_id WHERE c.id=?1", err);
    int w = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < *n; i++) {
        bool keep = false;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, ids[i]);
        if (sqlite3_step(s) == SQLITE_ROW)
            keep = (document_id <= 0 || sqlite3_column_int64(s, 0) == document_id) &&
                   (collection_id <= 0 || sqlite3_column_int64(s, 1) == collection_id);
        if (keep) {
            ids[w] = ids[i];
            scores[w] = scores[i];
            w++;
        }
    }
    sqlite3_reset(s);
    *n = w;
    return 0;
}

int store_get_vectors(struct index_store *st, const int64_t *ids, int n, float *out, bool *found,
                      struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT vector FROM embeddings WHERE chunk_id=?1 AND embedder_id=?2", err);
    const int dim = st->serve ? st->serve->dim : 0;
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_text(s, 2, st->serve->id, -1, SQLITE_STATIC);
        found[i] = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == dim * (int)sizeof(float);
        if (found[i])
            memcpy(out + (size_t)i * (size_t)dim, sqlite3_column_blob(s, 0), (size_t)dim * sizeof(float));
        else
            memset(out + (size_t)i * (size_t)dim, 0, (size_t)dim * sizeof(float));
    }
    sqlite3_reset(s);
    return 0;
}

int store_doc_vectors(struct index_store *st, int64_t doc_id, struct kb_arena *a, int64_t **ids, float **vecs, int *n,
                      struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id=c.id"
                                  " WHERE c.document_id=?1 AND e.embedder_id=?2", err);
    sqlite3_stmt *cnt = st_prep(st, "SELECT count(*) FROM chunks WHERE document_id=?1", err);
    const int dim = st->serve->dim;
    int64_t total = 0;
    int k = 0;
    *n = 0;
    if (!s || !cnt)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(cnt, 1, doc_id);
    if (sqlite3_step(cnt) == SQLITE_ROW)
        total = sqlite3_column_int64(cnt, 0);
    sqlite3_reset(cnt);
    *ids = kb_arena_alloc(a, (size_t)(total + 1) * sizeof(int64_t));
    *vecs = kb_arena_alloc(a, (size_t)(total + 1) * (size_t)dim * sizeof(float));
    if (!*ids || !*vecs)
        return kb_error_set(err, KB_ENOMEM, "document has too many chunks to search");
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_text(s, 2, st->serve->id, -1, SQLITE_STATIC);
    while (k < total && sqlite3_step(s) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != dim * (int)sizeof(float))
            continue;
        (*ids)[k] = sqlite3_column_int64(s, 0);
        memcpy(*vecs + (size_t)k * (size_t)dim, sqlite3_column_blob(s, 1), (size_t)dim * sizeof(float));
        k++;
    }
    sqlite3_reset(s);
    *n = k;
    return 0;
}

int store_fill_hits(struct index_store *st, struct index_hit *hits, int n, struct kb_arena *a, struct kb_error *err)
{
    sqlite3_stmt *s = st_prep(st, "SELECT c.document_id, d.collection_id, d.name, d.title, d.path, d.external_id,"
                                  " c.heading_path, c.text, c.ordinal, c.page_start, c.page_end, c.off_start, c.off_end"
                                  " FROM chunks c JOIN documents d ON d.id=c.document_id WHERE c.id=?1", err);
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < n; i++) {
        struct index_hit *h = &hits[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, h->chunk_id);
        if (sqlite3_step(s) != SQLITE_ROW) {
            h->doc_name = h->doc_title = h->doc_path = h->external_id = h->heading_path = h->text = "";
            continue;
        }
        h->document_id = sqlite3_column_int64(s, 0);
        h->collection_id = sqlite3_column_int64(s, 1);
        h->doc_name = col_str(s, 2, a);
        h->doc_title = col_str(s, 3, a);
        h->doc_path = col_str(s, 4, a);
        h->external_id = col_str(s, 5, a);
        h->heading_path = col_str(s, 6, a);
        h->text = col_str(s, 7, a);
        h->ordinal = sqlite3_column_int(s, 8);
        h->page_start = sqlite3_column_int(s, 9);
        h->page_end = sqlite3_column_int(s, 10);
        h->off_start = sqlite3_column_int64(s, 11);
        h->off_end = sqlite3_column_int64(s, 12);
    }
    sqlite3_reset(s);
    return 0;
}

static double store_idf(void *ud, const char *term, size_t n)
{
    struct index_store *st = ud;
    sqlite3_stmt *s;
    double df = 0, N;
    if (st->n_chunks_cache < 0) {
        s = st_prep(st, "SELECT count(*) FROM chunks", NULL);
        st->n_chunks_cache = 0;
        if (s && sqlite3_step(s) == SQLITE_ROW)
            st->n_chunks_cache = sqlite3_column_int64(s, 0);
        if (s)
            sqlite3_reset(s);
    }
    N = (double)st->n_chunks_cache;
    s = st_prep(st, "SELECT doc FROM chunks_vocab WHERE term=?1", NULL);
    if (s) {
        sqlite3_bind_text(s, 1, term, (int)n, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            df = sqlite3_column_double(s, 0);
        sqlite3_reset(s);
    }
    return log(1.0 + (N - df + 0.5) / (df + 0.5));
}

double index_idf(struct index_store *st, const char *term, size_t term_bytes)
{
    double v;
    store_lock(st);
    if (store_data_version(st) != st->data_version)
        st->n_chunks_cache = -1; /* another connection wrote; vectors catch up at the next search */
    v = store_idf(st, term, term_bytes);
    store_unlock(st);
    return v;
}

void store_term_stats(struct index_store *st, struct index_term_stats *out)
{
    out->idf = store_idf;
    out->ud = st;
}

/* ---- consistency -------------------------------------------------------------------------------- */

static int64_t st_count(struct index_store *st, const char *sql)
{
    sqlite3_stmt *s = st_prep(st, sql, NULL);
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
    rc = store_sync_vectors(st, err);
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
