/* index/store_docs.c: documents, their chunks and their originals: the SQL of creating, replacing,
 * reading, listing and deleting documents (part of the SQLite glue; see store.c).
 *
 * Data flow of a replace: embed outside the lock (the configured embedder's vectors and, during a
 * re-embedding, also the searched embedder's, so the document is found now and needs no
 * re-embedding later) -> BEGIN IMMEDIATE -> delete old FTS rows (external content 'delete' with the
 * old values), embeddings, chunks -> update the document -> insert chunks, FTS rows, embeddings ->
 * COMMIT -> remove old ids from / add new ids to the FAISS cache (vcache_apply). A crash before
 * COMMIT leaves the old version; after it, the vector file disagrees with SQLite on the next open
 * and is rebuilt from the embeddings table (vcache.c).
 * Originals are files data_dir/originals/<sha256>, written (tmp + fsync + rename) before the
 * transaction that names them and removed after the last document naming them is gone.
 *
 * Invariants: every public function takes the store's lock (embedding is done before taking it);
 * chunk ids are never reused (AUTOINCREMENT), so a FAISS id always names one version of one chunk.
 * Chunk pages: page_map ("off:page,...", where later pages start in the chunk text) is stored as
 * given; index_page_at() reads it (pure) and index_chunk_page_at() by chunk id.
 * Tests: tests/index/test_store.c, test_crash.c; pages: tests/ingest/test_pdf_pages.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/pg.h"

char *index_chunk_embed_text(const struct index_chunk *c, const char *context)
{
    struct kb_buf b;
    kb_buf_init(&b, 0);
    context = context ? context : "";
    kb_buf_puts(&b, context);
    if (context[0] && c->heading_path && c->heading_path[0])
        kb_buf_puts(&b, " > ");
    if (c->heading_path)
        kb_buf_puts(&b, c->heading_path);
    if (b.len > 0)
        kb_buf_putc(&b, '\n');
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

#define DOC_COLS                                                                                              \
    "d.id, d.collection_id, d.name, d.path, d.mime, d.bytes, d.sha256, d.mtime, d.status, d.error,"         \
    " d.ingested_at, d.external_id, d.title, (SELECT count(*) FROM chunks c WHERE c.document_id=d.id)"

static void doc_from_row(struct index_store *st, sqlite3_stmt *s, struct kb_arena *a, struct index_doc *d)
{
    char p[STORE_PATH_BYTES];
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->collection_id = sqlite3_column_int64(s, 1);
    d->name = store_col_str(s, 2, a);
    d->path = store_col_str(s, 3, a);
    d->mime = store_col_str(s, 4, a);
    d->bytes = sqlite3_column_int64(s, 5);
    kb_strlcpy(d->sha256, sqlite3_column_text(s, 6) ? (const char *)sqlite3_column_text(s, 6) : "", sizeof(d->sha256));
    d->mtime = sqlite3_column_int64(s, 7);
    d->status = doc_status_parse((const char *)sqlite3_column_text(s, 8));
    d->error = store_col_str(s, 9, a);
    d->ingested_at = sqlite3_column_int64(s, 10);
    d->external_id = store_col_str(s, 11, a);
    d->title = store_col_str(s, 12, a);
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
    sqlite3_stmt *s = store_prep(st, sql, err);
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
int store_doc_chunk_ids(struct index_store *st, int64_t doc_id, int64_t **ids, int64_t *n, int64_t *cap,
                            struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT id FROM chunks WHERE document_id=?1", err);
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

/* Deletes FTS rows, embeddings and chunks of a document (inside a transaction). */
int store_doc_clear_chunks(struct index_store *st, int64_t doc_id, struct kb_error *err)
{
    static const char *const sqls[] = {
        ("INSERT INTO chunks_fts(chunks_fts, rowid, text, heading_path, context)"
         " SELECT 'delete', id, text, heading_path, context FROM chunks WHERE document_id=?1"),
        "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id=?1)",
        "DELETE FROM chunks WHERE document_id=?1",
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < KB_ARRAY_LEN(sqls); i++) {
        sqlite3_stmt *s = store_prep(st, sqls[i], err);
        if (!s)
            return err ? err->code : KB_EIO;
        sqlite3_bind_int64(s, 1, doc_id);
        rc = store_step_done(st, s, "delete chunks", err);
    }
    return rc;
}

/* Removes originals/<sha> when no document names it any more (after a commit). */
void store_original_gc(struct index_store *st, const char *sha)
{
    sqlite3_stmt *s;
    bool used = true;
    char p[STORE_PATH_BYTES];
    if (!sha || !sha[0] || st->read_only)
        return;
    s = store_prep(st, "SELECT 1 FROM documents WHERE sha256=?1 LIMIT 1", NULL);
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

int store_original_put(struct index_store *st, const void *data, size_t n, char sha[65], struct kb_error *err)
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
    sqlite3_stmt *s = store_prep(st, "INSERT INTO documents(collection_id, name, path, mime, bytes, sha256, mtime, status,"
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
    sqlite3_bind_int64(s, 12, store_now_s());
    rc = store_step_done(st, s, "insert document", err);
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
    if (st->pg) { /* PostgreSQL first; the cache follows (pg_sync.c) */
        rc = pg_doc_create(pg_sync_db(st->pg), doc, &id, NULL, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
    } else {
        store_lock(st);
        rc = st_doc_insert(st, doc, doc->collection_id > 0 ? doc->collection_id : store_default_collection(st),
                           doc->sha256, &id, err);
        store_unlock(st);
    }
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int index_doc_set_status(struct index_store *st, int64_t id, enum index_doc_status status, const char *error,
                         struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg) {
        rc = pg_doc_set_status(pg_sync_db(st->pg), id, status, error, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        return rc;
    }
    store_lock(st);
    s = store_prep(st, "UPDATE documents SET status=?2, error=?3 WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, index_doc_status_name(status), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(error), -1, SQLITE_STATIC);
        rc = store_step_done(st, s, "update document status", err);
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
    s = store_prep(st, sql, err);
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

/* Whether heading path h is t or starts with t + " > " (n = strlen(t) > 0). */
static bool path_under(const char *h, const char *t, size_t n)
{
    return h && strncmp(h, t, n) == 0 && (h[n] == '\0' || strncmp(h + n, " > ", 3) == 0);
}

const char *index_doc_context(const char *title, const struct index_chunk *chunks, int n)
{
    size_t len = title ? strlen(title) : 0;
    bool heading = false, sibling = false;
    for (int i = 0; len > 0 && i < n; i++) {
        if (path_under(chunks[i].heading_path, title, len))
            heading = true;
        else if (chunks[i].heading_path && chunks[i].heading_path[0])
            sibling = true;
    }
    return len == 0 || (heading && sibling) ? "" : title;
}

const char *index_chunk_context(const char *doc_context, const char *heading_path)
{
    size_t n = doc_context ? strlen(doc_context) : 0;
    return n == 0 || path_under(heading_path, doc_context, n) ? "" : doc_context;
}

/* The title of document doc_id (a malloc'd copy; "" when absent). */
static char *st_doc_title(struct index_store *st, int64_t doc_id)
{
    sqlite3_stmt *s = store_prep(st, "SELECT title FROM documents WHERE id=?1", NULL);
    char *t = NULL;
    if (s) {
        sqlite3_bind_int64(s, 1, doc_id);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
            t = kb_xstrdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_reset(s);
    }
    return t ? t : kb_xstrdup("");
}

int store_insert_chunks(struct index_store *st, int64_t doc_id, const struct index_chunk *chunks, int n,
                        const struct store_vecset *vs, int n_vs, const int64_t *ids, int64_t *new_ids,
                        struct kb_error *err)
{
    sqlite3_stmt *ins = store_prep(st, "INSERT INTO chunks(document_id, ordinal, text, heading_path, page_start, page_end,"
                                    " off_start, off_end, n_tokens, page_map, id, context)"
                                    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                                   err);
    sqlite3_stmt *fts =
        store_prep(st, "INSERT INTO chunks_fts(rowid, text, heading_path, context) VALUES(?1, ?2, ?3, ?4)", err);
    sqlite3_stmt *emb = store_prep(st, "INSERT INTO embeddings(chunk_id, embedder_id, vector) VALUES(?1, ?2, ?3)", err);
    char *title;
    const char *doc_context;
    int rc = 0;
    if (!ins || !fts || !emb)
        return err ? err->code : KB_EIO;
    title = st_doc_title(st, doc_id); /* the row is written before its chunks */
    doc_context = index_doc_context(title, chunks, n);
    for (int i = 0; rc == 0 && i < n; i++) {
        const struct index_chunk *c = &chunks[i];
        const char *context = index_chunk_context(doc_context, c->heading_path);
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
        sqlite3_bind_text(ins, 10, nz(c->page_map), -1, SQLITE_STATIC);
        if (ids)
            sqlite3_bind_int64(ins, 11, ids[i]);
        else
            sqlite3_bind_null(ins, 11); /* AUTOINCREMENT picks it */
        sqlite3_bind_text(ins, 12, context, -1, SQLITE_STATIC);
        rc = store_step_done(st, ins, "insert chunk", err);
        if (rc)
            break;
        cid = sqlite3_last_insert_rowid(st->db);
        new_ids[i] = cid;
        sqlite3_bind_int64(fts, 1, cid);
        sqlite3_bind_text(fts, 2, c->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(fts, 3, nz(c->heading_path), -1, SQLITE_STATIC);
        sqlite3_bind_text(fts, 4, context, -1, SQLITE_STATIC);
        rc = store_step_done(st, fts, "index chunk text", err);
        for (int k = 0; rc == 0 && k < n_vs; k++) {
            if (!vs[k].e || !vs[k].x)
                continue;
            sqlite3_bind_int64(emb, 1, cid);
            sqlite3_bind_text(emb, 2, vs[k].e->id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(emb, 3, vs[k].x + (size_t)i * (size_t)vs[k].e->dim, vs[k].e->dim * (int)sizeof(float),
                              SQLITE_STATIC);
            rc = store_step_done(st, emb, "store embedding", err);
        }
    }
    free(title);
    return rc;
}

/* Embeds the chunks' embed texts with e into *out (caller frees). */
static int st_embed_chunks(const struct index_embedder *e, const struct index_chunk *chunks, int n, const char *title,
                           float **out, struct kb_error *err)
{
    const char **texts, *doc_context = index_doc_context(title, chunks, n);
    int rc;
    *out = kb_try_malloc((size_t)n * (size_t)e->dim, sizeof(float));
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d chunk vectors", n);
    texts = kb_xmalloc((size_t)n * sizeof(char *));
    for (int i = 0; i < n; i++)
        texts[i] = index_chunk_embed_text(&chunks[i], index_chunk_context(doc_context, chunks[i].heading_path));
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
    struct store_vecset vs[2];
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
    if (original && (rc = store_original_put(st, original, original_bytes, sha, err)) != 0)
        return rc;
    /* the configured embedder's vectors, and during a re-embedding also the searched embedder's,
     * so the document is found now and needs no re-embedding later */
    store_lock(st);
    tgt = st->emb;
    srv = st->serve != tgt ? st->serve : NULL;
    store_unlock(st);
    if (tgt && !vectors && n_chunks > 0) {
        rc = st_embed_chunks(tgt, chunks, n_chunks, doc->title, &own_vec, err);
        if (rc)
            goto out_free;
        vectors = own_vec;
    }
    if (srv && n_chunks > 0 && (rc = st_embed_chunks(srv, chunks, n_chunks, doc->title, &srv_vec, err)) != 0)
        goto out_free;
    if (!tgt)
        vectors = NULL;
    vs[0] = (struct store_vecset){tgt, vectors};
    vs[1] = (struct store_vecset){srv, srv_vec};
    if (st->pg) { /* PostgreSQL first (the configured embedder's vectors); the cache follows */
        rc = pg_doc_replace(pg_sync_db(st->pg), doc, sha, chunks, n_chunks, tgt, vectors, original, original_bytes, &id,
                            err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        if (rc == 0 && id_out)
            *id_out = id;
        goto out_free;
    }
    new_ids = kb_xmalloc((size_t)(n_chunks + 1) * sizeof(int64_t));

    store_lock(st);
    coll = doc->collection_id > 0 ? doc->collection_id : store_default_collection(st);
    rc = store_begin(st, err);
    if (rc)
        goto out_unlock;
    rc = st_replace_target(st, doc, &coll, &id, old_sha, err);
    if (rc == 0 && id == 0) {
        rc = st_doc_insert(st, doc, coll, sha, &id, err);
    } else if (rc == 0) {
        rc = store_doc_chunk_ids(st, id, &old_ids, &n_old, &cap_old, err);
        if (rc == 0)
            rc = store_doc_clear_chunks(st, id, err);
    }
    if (rc == 0) {
        sqlite3_stmt *s = store_prep(st, "UPDATE documents SET collection_id=?2, name=?3, path=?4, mime=?5, bytes=?6,"
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
            sqlite3_bind_int64(s, 9, store_now_s());
            sqlite3_bind_text(s, 10, nz(doc->external_id), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 11, nz(doc->title), -1, SQLITE_STATIC);
            rc = store_step_done(st, s, "update document", err);
        }
    }
    if (rc == 0)
        rc = store_insert_chunks(st, id, chunks, n_chunks, vs, 2, NULL, new_ids, err);
    rc = store_end(st, rc, err);
    if (rc)
        goto out_unlock;
    st->n_chunks_cache = -1;
    if (st->reembed_pending && st->emb == tgt && vectors) {
        st->reembed_done += n_chunks;
        st->reembed_total += n_chunks - n_old;
    }
    if (st->vec) {
        const float *cached = st->serve == tgt ? vectors : st->serve == srv ? srv_vec : NULL;
        if (!cached && n_chunks > 0)
            st->data_version = INT_MIN; /* the searched embedder changed meanwhile: id diff at the next search */
        vcache_apply(st, old_ids, n_old, cached ? new_ids : NULL, cached, cached ? n_chunks : 0);
    }
    if (old_sha[0] && strcmp(old_sha, sha) != 0)
        store_original_gc(st, old_sha);
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
                      collection_id > 0 ? collection_id : store_default_collection(st), nz(path), a, out, err);
    store_unlock(st);
    return rc;
}

int index_doc_find_by_sha256(struct index_store *st, int64_t collection_id, const char *sha256_hex,
                             struct kb_arena *a, struct index_doc *out, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = st_doc_query(st, "SELECT " DOC_COLS " FROM documents d WHERE d.collection_id=?1 AND d.sha256=?2 ORDER BY d.id LIMIT 1",
                      collection_id > 0 ? collection_id : store_default_collection(st), nz(sha256_hex), a, out, err);
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
    s = store_prep(st, "SELECT " DOC_COLS " FROM documents d WHERE ?1=0 OR d.collection_id=?1 ORDER BY d.id", err);
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
int store_delete_docs(struct index_store *st, const char *sel_sql, int64_t key, int64_t *n_deleted,
                          struct kb_error *err)
{
    int64_t *doc_ids = NULL, n_docs = 0, cap_docs = 0, *chunk_ids = NULL, n_ch = 0, cap_ch = 0;
    char (*shas)[65] = NULL;
    sqlite3_stmt *s;
    int rc, src;
    rc = store_begin(st, err);
    if (rc)
        return rc;
    s = store_prep(st, sel_sql, err);
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
        rc = store_doc_chunk_ids(st, doc_ids[i], &chunk_ids, &n_ch, &cap_ch, err);
        if (rc == 0)
            rc = store_doc_clear_chunks(st, doc_ids[i], err);
        if (rc == 0) {
            sqlite3_stmt *d = store_prep(st, "DELETE FROM documents WHERE id=?1", err);
            if (!d) {
                rc = err ? err->code : KB_EIO;
                break;
            }
            sqlite3_bind_int64(d, 1, doc_ids[i]);
            rc = store_step_done(st, d, "delete document", err);
        }
    }
out_end:
    rc = store_end(st, rc, err);
    if (rc == 0) {
        st->n_chunks_cache = -1;
        if (st->vec) {
            struct kb_error verr = {0};
            if (vec_remove(st->vec, chunk_ids, n_ch, &verr) != 0 && vcache_rebuild(st, &verr) != 0)
                kb_warn("vectors: rebuild failed: %s", verr.msg);
        }
        for (int64_t i = 0; i < n_docs; i++)
            store_original_gc(st, shas[i]);
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
    if (st->pg) {
        rc = pg_doc_delete(pg_sync_db(st->pg), id, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        return rc;
    }
    store_lock(st);
    rc = store_delete_docs(st, "SELECT id, sha256 FROM documents WHERE id=?1", id, &n, err);
    if (rc == 0 && n == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)id);
    store_unlock(st);
    return rc;
}

/* One statement of store_collection_drop with the collection id bound. */
static int drop_step(struct index_store *st, const char *sql, int64_t id, const char *what, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, sql, err);
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, id);
    return store_step_done(st, s, what, err);
}

int store_collection_drop(struct index_store *st, int64_t id, struct kb_error *err)
{
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    /* the curated answers that live in it first: their rows name it (a foreign key) */
    rc = drop_step(st, "DELETE FROM curated_versions WHERE curated_id IN (SELECT id FROM curated WHERE collection_id=?1)",
                   id, "delete the collection's curated versions", err);
    if (rc == 0)
        rc = drop_step(st, "DELETE FROM curated WHERE collection_id=?1", id, "delete the collection's curated answers", err);
    if (rc == 0) /* its handoff settings (no foreign key: ids are never reused, but no orphans either) */
        rc = drop_step(st, "DELETE FROM collection_handoff WHERE collection_id=?1", id,
                       "delete the collection's handoff settings", err);
    if (rc == 0)
        rc = drop_step(st, "DELETE FROM collections WHERE id=?1", id, "delete collection", err);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
    return store_end(st, rc, err);
}

int index_collection_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    int64_t n = 0;
    int rc;
    if (st->pg) {
        rc = pg_collection_delete(pg_sync_db(st->pg), id, err);
        if (rc == 0)
            pg_sync_catch_up(st->pg);
        return rc;
    }
    store_lock(st);
    if (id == store_default_collection(st)) {
        rc = kb_error_set(err, KB_EFORBIDDEN, "the default collection cannot be deleted");
        goto out_unlock;
    }
    rc = store_delete_docs(st, "SELECT id, sha256 FROM documents WHERE collection_id=?1", id, &n, err);
    if (rc == 0)
        rc = store_collection_drop(st, id, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_original_put(struct index_store *st, const char *sha, const void *data, size_t n, struct kb_error *err)
{
    if (!sha || !sha_hex_ok(sha))
        return kb_error_set(err, KB_EINVAL, "sha256 must be 64 lowercase hex digits");
    return st->pg ? pg_original_put(pg_sync_db(st->pg), sha, data, n, err) : 0;
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
    c->text = store_col_str(s, 3, a);
    c->heading_path = store_col_str(s, 4, a);
    c->page_start = sqlite3_column_int(s, 5);
    c->page_end = sqlite3_column_int(s, 6);
    c->off_start = sqlite3_column_int64(s, 7);
    c->off_end = sqlite3_column_int64(s, 8);
    c->n_tokens = sqlite3_column_int(s, 9);
    c->page_map = store_col_str(s, 10, a);
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
    s = store_prep(st, "SELECT id, document_id, ordinal, text, heading_path, page_start, page_end, off_start, off_end,"
                    " n_tokens, page_map FROM chunks WHERE document_id=?1 ORDER BY ordinal", err);
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

int index_page_at(int page_start, const char *page_map, size_t off)
{
    int page = page_start;
    const char *p = page_map ? page_map : "";
    while (*p) {
        char *end;
        unsigned long long o = strtoull(p, &end, 10);
        if (end == p || *end != ':')
            break;
        p = end + 1;
        long pg = strtol(p, &end, 10);
        if (end == p || pg <= 0 || pg > INT32_MAX || o > off)
            break;
        page = (int)pg;
        p = *end == ',' ? end + 1 : end;
    }
    return page;
}

int index_chunk_page_at(struct index_store *st, int64_t chunk_id, size_t off, int *page, struct kb_error *err)
{
    int rc = 0, src;
    *page = 0;
    store_lock(st);
    sqlite3_stmt *s = store_prep(st, "SELECT page_start, page_map FROM chunks WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, chunk_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *page = index_page_at(sqlite3_column_int(s, 0), (const char *)sqlite3_column_text(s, 1), off);
    else if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no chunk %lld", (long long)chunk_id);
    else
        rc = store_fail(st, err, src, "read chunk pages");
    sqlite3_reset(s);
out_unlock:
    store_unlock(st);
    return rc;
}

/* ---- helpers for search.c ------------------------------------------------------------------------ */
