/* index/store_copy.c: the SQLite side of `kbox store migrate` (index/migrate.c): reads a whole
 * collection or document with its ids (rows, chunks, every embedder's vectors, whether its original
 * is stored) and writes one into a store under the same ids, so a store copied from or to PostgreSQL
 * keeps its document and chunk (= FAISS) ids and so its search results.
 *
 * Data flow: migrate.c reads a document here (one read transaction), digests it, and writes it on
 * the other side; writing one here is one SQLite transaction (row, chunks, FTS rows, vectors) after
 * the original file, so a migration killed at any point leaves whole documents only. The FAISS
 * sidecar is not touched: the next open of the store rebuilds it from the vectors.
 * Invariants: every function takes the store's lock; strings and arrays go to the caller's arena.
 * Tests: tests/index/test_pg_migrate.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/index_int.h"

static int cp_vec_cmp(const void *pa, const void *pb)
{
    const struct copy_vec *a = pa, *b = pb;
    if (a->chunk_id != b->chunk_id)
        return a->chunk_id < b->chunk_id ? -1 : 1;
    return strcmp(a->embedder_id, b->embedder_id);
}

void copy_sort_vecs(struct copy_vec *v, int n)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cp_vec_cmp);
}

static const char *cp_nz(const char *s)
{
    return s ? s : "";
}

int store_copy_collections(struct index_store *st, struct kb_arena *a, struct copy_coll **out, int *n,
                           struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, cap = 16, src;
    *out = NULL;
    *n = 0;
    store_lock(st);
    s = store_prep(st, "SELECT id, name, created_at FROM collections ORDER BY id", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    *out = kb_xmalloc((size_t)cap * sizeof **out);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap *= 2;
            *out = kb_xrealloc(*out, (size_t)cap * sizeof **out);
        }
        (*out)[*n].id = sqlite3_column_int64(s, 0);
        (*out)[*n].name = store_col_str(s, 1, a);
        (*out)[*n].created_at = sqlite3_column_int64(s, 2);
        (*n)++;
    }
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read collections");
    sqlite3_reset(s);
out_unlock:
    store_unlock(st);
    return rc;
}

int store_copy_collection_put(struct index_store *st, const struct copy_coll *c, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    store_lock(st);
    if ((rc = store_begin(st, err)) != 0)
        goto out_unlock;
    s = store_prep(st, "INSERT INTO collections(id, name, created_at) VALUES(?1, ?2, ?3)"
                       " ON CONFLICT(id) DO UPDATE SET name=excluded.name, created_at=excluded.created_at", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, c->created_at);
        rc = store_step_done(st, s, "copy collection", err);
        if (rc == KB_ECONFLICT)
            rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' exists under another id than %lld", c->name,
                              (long long)c->id);
    }
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int store_copy_doc_ids(struct index_store *st, int64_t **ids, int64_t *n, struct kb_error *err)
{
    int64_t cap = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    store_lock(st);
    /* the chunk-id helper's shape, over documents */
    {
        sqlite3_stmt *s = store_prep(st, "SELECT id FROM documents ORDER BY id", err);
        int src;
        rc = s ? 0 : (err ? err->code : KB_EIO);
        while (rc == 0 && (src = sqlite3_step(s)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                *ids = kb_xrealloc(*ids, (size_t)cap * sizeof **ids);
            }
            (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
        }
        if (rc == 0 && src != SQLITE_DONE)
            rc = store_fail(st, err, src, "list documents");
        if (s)
            sqlite3_reset(s);
    }
    store_unlock(st);
    return rc;
}

/* The chunks of out->doc.id (lock held, inside the read transaction). */
static int cp_read_chunks(struct index_store *st, struct kb_arena *a, struct copy_doc *out, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT id, text, heading_path, page_start, page_end, off_start, off_end, n_tokens,"
                                     " page_map FROM chunks WHERE document_id=?1 ORDER BY ordinal", err);
    int cap = 0, src, rc = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, out->doc.id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_chunk *c;
        if (out->n_chunks == cap) {
            int64_t *ni;
            struct index_chunk *nc;
            cap = cap ? cap * 2 : 64;
            ni = kb_arena_alloc(a, (size_t)cap * sizeof *ni);
            nc = kb_arena_alloc(a, (size_t)cap * sizeof *nc);
            if (!ni || !nc) {
                rc = kb_error_set(err, KB_ENOMEM, "document %lld: no memory for its chunks", (long long)out->doc.id);
                break;
            }
            if (out->n_chunks) {
                memcpy(ni, out->chunk_ids, (size_t)out->n_chunks * sizeof *ni);
                memcpy(nc, out->chunks, (size_t)out->n_chunks * sizeof *nc);
            }
            out->chunk_ids = ni;
            out->chunks = nc;
        }
        c = &out->chunks[out->n_chunks];
        memset(c, 0, sizeof *c);
        out->chunk_ids[out->n_chunks] = sqlite3_column_int64(s, 0);
        c->text = store_col_str(s, 1, a);
        c->heading_path = store_col_str(s, 2, a);
        c->page_start = sqlite3_column_int(s, 3);
        c->page_end = sqlite3_column_int(s, 4);
        c->off_start = sqlite3_column_int64(s, 5);
        c->off_end = sqlite3_column_int64(s, 6);
        c->n_tokens = sqlite3_column_int(s, 7);
        c->page_map = store_col_str(s, 8, a);
        out->n_chunks++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read chunks");
    sqlite3_reset(s);
    return rc;
}

/* Every vector row of out->doc.id's chunks (lock held). */
static int cp_read_vecs(struct index_store *st, struct kb_arena *a, struct copy_doc *out, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT e.chunk_id, e.embedder_id, e.vector FROM embeddings e"
                                     " JOIN chunks c ON c.id = e.chunk_id WHERE c.document_id=?1", err);
    int cap = 0, src, rc = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, out->doc.id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct copy_vec *v;
        int nb = sqlite3_column_bytes(s, 2);
        void *data = kb_arena_alloc(a, (size_t)nb + 1);
        if (out->n_vecs == cap) {
            struct copy_vec *nv;
            cap = cap ? cap * 2 : 64;
            nv = kb_arena_alloc(a, (size_t)cap * sizeof *nv);
            if (nv && out->n_vecs)
                memcpy(nv, out->vecs, (size_t)out->n_vecs * sizeof *nv);
            out->vecs = nv;
        }
        if (!data || !out->vecs) {
            rc = kb_error_set(err, KB_ENOMEM, "document %lld: no memory for its vectors", (long long)out->doc.id);
            break;
        }
        v = &out->vecs[out->n_vecs++];
        v->chunk_id = sqlite3_column_int64(s, 0);
        v->embedder_id = store_col_str(s, 1, a);
        if (nb > 0)
            memcpy(data, sqlite3_column_blob(s, 2), (size_t)nb);
        v->data = data;
        v->n_bytes = nb;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read vectors");
    sqlite3_reset(s);
    if (rc == 0)
        copy_sort_vecs(out->vecs, out->n_vecs);
    return rc;
}

int store_copy_doc_read(struct index_store *st, int64_t id, struct kb_arena *a, struct copy_doc *out,
                        struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc, src;
    memset(out, 0, sizeof *out);
    store_lock(st);
    rc = store_exec(st, "BEGIN", err); /* one snapshot for the row, its chunks and vectors */
    if (rc)
        goto out_unlock;
    s = store_prep(st, "SELECT id, collection_id, name, path, mime, bytes, sha256, mtime, status, error, ingested_at,"
                       " external_id, title, created_at FROM documents WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_end;
    }
    sqlite3_bind_int64(s, 1, id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        struct index_doc *d = &out->doc;
        const char *status;
        char p[STORE_PATH_BYTES];
        out->found = true;
        d->id = sqlite3_column_int64(s, 0);
        d->collection_id = sqlite3_column_int64(s, 1);
        d->name = store_col_str(s, 2, a);
        d->path = store_col_str(s, 3, a);
        d->mime = store_col_str(s, 4, a);
        d->bytes = sqlite3_column_int64(s, 5);
        kb_strlcpy(d->sha256, cp_nz((const char *)sqlite3_column_text(s, 6)), sizeof d->sha256);
        d->mtime = sqlite3_column_int64(s, 7);
        status = cp_nz((const char *)sqlite3_column_text(s, 8));
        d->status = INDEX_DOC_FAILED;
        for (int k = INDEX_DOC_QUEUED; k <= INDEX_DOC_FAILED; k++)
            if (!strcmp(status, index_doc_status_name((enum index_doc_status)k)))
                d->status = (enum index_doc_status)k;
        d->error = store_col_str(s, 9, a);
        d->ingested_at = sqlite3_column_int64(s, 10);
        d->external_id = store_col_str(s, 11, a);
        d->title = store_col_str(s, 12, a);
        out->created_at = sqlite3_column_int64(s, 13);
        snprintf(p, sizeof p, "%s/originals/%s", st->data_dir, d->sha256);
        d->has_original = d->sha256[0] && access(p, R_OK) == 0;
    } else if (src != SQLITE_DONE) {
        rc = store_fail(st, err, src, "read document");
    }
    sqlite3_reset(s);
    if (rc == 0 && out->found)
        rc = cp_read_chunks(st, a, out, err);
    if (rc == 0 && out->found)
        rc = cp_read_vecs(st, a, out, err);
out_end:
    store_exec(st, "COMMIT", NULL);
out_unlock:
    store_unlock(st);
    return rc;
}

/* The document row under its id (lock held, in a transaction). */
static int cp_write_row(struct index_store *st, const struct copy_doc *cd, struct kb_error *err)
{
    const struct index_doc *d = &cd->doc;
    sqlite3_stmt *s = store_prep(st, "INSERT INTO documents(id, collection_id, name, path, mime, bytes, sha256, mtime,"
                                     " status, error, ingested_at, external_id, title, created_at)"
                                     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)", err);
    int rc;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, d->id);
    sqlite3_bind_int64(s, 2, d->collection_id);
    sqlite3_bind_text(s, 3, cp_nz(d->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, cp_nz(d->path), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, cp_nz(d->mime), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, d->bytes);
    sqlite3_bind_text(s, 7, d->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, d->mtime);
    sqlite3_bind_text(s, 9, index_doc_status_name(d->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, cp_nz(d->error), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, d->ingested_at);
    sqlite3_bind_text(s, 12, cp_nz(d->external_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, cp_nz(d->title), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 14, cd->created_at);
    rc = store_step_done(st, s, "copy document", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "document %lld: id taken or collection %lld missing in the target",
                          (long long)d->id, (long long)d->collection_id);
    return rc;
}

int store_copy_doc_write(struct index_store *st, const struct copy_doc *d, const void *original, size_t original_bytes,
                         struct kb_error *err)
{
    int64_t *new_ids = kb_xmalloc((size_t)(d->n_chunks + 1) * sizeof(int64_t));
    char sha[65];
    int rc = 0;
    store_lock(st);
    if (original) { /* first: a row never names an original that is not there */
        rc = store_original_put(st, original, original_bytes, sha, err);
        if (rc == 0 && strcmp(sha, d->doc.sha256) != 0)
            rc = kb_error_set(err, KB_ECORRUPT, "document %lld: its original's bytes have the digest %s, not %s",
                              (long long)d->doc.id, sha, d->doc.sha256);
    }
    if (rc == 0 && (rc = store_begin(st, err)) == 0) {
        sqlite3_stmt *emb = NULL;
        rc = cp_write_row(st, d, err);
        if (rc == 0)
            rc = store_insert_chunks(st, d->doc.id, d->chunks, d->n_chunks, NULL, 0, d->chunk_ids, new_ids, err);
        if (rc == 0 && d->n_vecs > 0) {
            emb = store_prep(st, "INSERT INTO embeddings(chunk_id, embedder_id, vector) VALUES(?1, ?2, ?3)", err);
            rc = emb ? 0 : (err ? err->code : KB_EIO);
        }
        for (int i = 0; rc == 0 && i < d->n_vecs; i++) {
            sqlite3_reset(emb);
            sqlite3_bind_int64(emb, 1, d->vecs[i].chunk_id);
            sqlite3_bind_text(emb, 2, d->vecs[i].embedder_id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(emb, 3, d->vecs[i].data, d->vecs[i].n_bytes, SQLITE_STATIC);
            rc = store_step_done(st, emb, "copy vector", err);
        }
        rc = store_end(st, rc, err);
        st->n_chunks_cache = -1;
        st->data_version = INT_MIN; /* the FAISS cache (if any) follows at the next search */
    }
    store_unlock(st);
    free(new_ids);
    return rc;
}

int store_copy_original_read(struct index_store *st, const char *sha, void **data, size_t *n, struct kb_error *err)
{
    char p[STORE_PATH_BYTES];
    struct stat sb;
    FILE *f;
    int rc = 0;
    *data = NULL;
    *n = 0;
    snprintf(p, sizeof p, "%s/originals/%s", st->data_dir, sha);
    f = fopen(p, "rb");
    if (!f)
        return kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", p, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0) {
        rc = kb_error_set(err, KB_EIO, "cannot stat '%s': %s", p, strerror(errno));
        goto out_close;
    }
    *data = kb_try_malloc((size_t)sb.st_size + 1, 1);
    if (!*data) {
        rc = kb_error_set(err, KB_ENOMEM, "no memory for '%s' (%lld bytes)", p, (long long)sb.st_size);
        goto out_close;
    }
    *n = fread(*data, 1, (size_t)sb.st_size, f);
    if (*n != (size_t)sb.st_size) {
        rc = kb_error_set(err, KB_EIO, "cannot read '%s': short read", p);
        free(*data);
        *data = NULL;
        *n = 0;
    }
out_close:
    fclose(f);
    return rc;
}

int store_copy_counts(struct index_store *st, struct copy_counts *out, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    memset(out, 0, sizeof *out);
    store_lock(st);
    s = store_prep(st, "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents),"
                       " (SELECT count(*) FROM chunks), (SELECT count(*) FROM embeddings)", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        out->n_collections = sqlite3_column_int64(s, 0);
        out->n_documents = sqlite3_column_int64(s, 1);
        out->n_chunks = sqlite3_column_int64(s, 2);
        out->n_vectors = sqlite3_column_int64(s, 3);
    } else {
        rc = store_fail(st, err, src, "count rows");
    }
    sqlite3_reset(s);
out_unlock:
    store_unlock(st);
    return rc;
}

int store_copy_name_embedder(struct index_store *st, struct kb_error *err)
{
    char cur[128];
    sqlite3_stmt *s;
    int rc = 0;
    store_lock(st);
    store_meta_get(st, "embedder", cur, sizeof cur);
    if (cur[0])
        goto out_unlock;
    s = store_prep(st, "SELECT embedder_id FROM embeddings GROUP BY embedder_id ORDER BY count(*) DESC, embedder_id"
                       " LIMIT 1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        kb_strlcpy(cur, (const char *)sqlite3_column_text(s, 0), sizeof cur);
    sqlite3_reset(s);
    if (cur[0] && (rc = store_begin(st, err)) == 0) {
        rc = store_meta_set(st, "embedder", cur, err);
        rc = store_end(st, rc, err);
    }
    if (rc == 0 && cur[0])
        kb_strlcpy(st->active_id, cur, sizeof st->active_id);
out_unlock:
    store_unlock(st);
    return rc;
}

void store_copy_marker_get(struct index_store *st, char *buf, size_t buf_bytes)
{
    store_lock(st);
    store_meta_get(st, "migrate_from", buf, buf_bytes);
    store_unlock(st);
}

int store_copy_marker_set(struct index_store *st, const char *from, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0) {
        if (from) {
            rc = store_meta_set(st, "migrate_from", from, err);
        } else {
            sqlite3_stmt *s = store_prep(st, "DELETE FROM meta WHERE key='migrate_from'", err);
            rc = s ? store_step_done(st, s, "clear migration marker", err) : (err ? err->code : KB_EIO);
        }
        rc = store_end(st, rc, err);
    }
    store_unlock(st);
    return rc;
}
