/* index/store_mirror.c: the SQLite side of following PostgreSQL (store.backend = postgres): makes one
 * cached collection or document equal to the state pg_sync.c read from PostgreSQL, with
 * PostgreSQL's ids (document, chunk = FAISS id), and records how far the cache has come.
 *
 * Data flow: pg_sync.c reads a changed object's state (pg.c) outside every store lock -> one call
 * here takes the store's lock and, in one SQLite transaction, replaces the document's row, chunks,
 * FTS rows and vectors (or deletes it) -> the FAISS cache follows (vcache_apply) -> the original is
 * collected when no row names it. Applying a state twice gives the same cache, so a change applied
 * again after a crash (before its position was recorded) is harmless.
 * Position: meta 'pg_seq' (the last change-log sequence applied) and 'pg_cluster' (the database's
 * random id, pg.c); a cache filled from another database is wiped and rebuilt.
 * Invariants: in this mode the cache never allocates ids itself: every row comes from here. A name
 * taken by another cached collection (two collections swapping names, applied one at a time) is
 * parked as "<name> (pending <id>)" until that collection's own change arrives.
 * Tests: tests/index/test_pg.c (two stores on one database). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/pg.h"

static const char *nz(const char *s)
{
    return s ? s : "";
}

int store_mirror_collection(struct index_store *st, int64_t id, const char *name, int64_t created_at,
                            struct kb_error *err)
{
    int64_t n = 0;
    int rc = 0;
    sqlite3_stmt *s;
    store_lock(st);
    if (!name) {
        rc = store_delete_docs(st, "SELECT id, sha256 FROM documents WHERE collection_id=?1", id, &n, err);
        if (rc == 0 && (rc = store_collection_drop(st, id, err)) == KB_ENOENT)
            rc = 0; /* already gone here */
        goto out_unlock;
    }
    if ((rc = store_begin(st, err)) != 0)
        goto out_unlock;
    s = store_prep(st, "UPDATE collections SET name = name || ' (pending ' || id || ')' WHERE name=?2 AND id<>?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        rc = store_step_done(st, s, "park collection name", err);
    }
    if (rc == 0) {
        s = store_prep(st, "INSERT INTO collections(id, name, created_at) VALUES(?1, ?2, ?3)"
                           " ON CONFLICT(id) DO UPDATE SET name=excluded.name, created_at=excluded.created_at", err);
        if (!s) {
            rc = err ? err->code : KB_EIO;
        } else {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, created_at);
            rc = store_step_done(st, s, "mirror collection", err);
        }
    }
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

/* The document row, inserted or updated under its PostgreSQL id (inside a transaction). With
 * update_only, KB_ENOENT when the row is not cached. */
static int mirror_doc_row(struct index_store *st, const struct index_doc *d, bool update_only, struct kb_error *err)
{
    static const char *const sql_upsert =
        "INSERT INTO documents(id, collection_id, name, path, mime, bytes, sha256, mtime, status, error, ingested_at,"
        " external_id, title, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
        " ON CONFLICT(id) DO UPDATE SET collection_id=excluded.collection_id, name=excluded.name, path=excluded.path,"
        " mime=excluded.mime, bytes=excluded.bytes, sha256=excluded.sha256, mtime=excluded.mtime,"
        " status=excluded.status, error=excluded.error, ingested_at=excluded.ingested_at,"
        " external_id=excluded.external_id, title=excluded.title";
    static const char *const sql_update =
        "UPDATE documents SET collection_id=?2, name=?3, path=?4, mime=?5, bytes=?6, sha256=?7, mtime=?8, status=?9,"
        " error=?10, ingested_at=?11, external_id=?12, title=?13 WHERE id=?1 AND ?14 IS NOT NULL";
    sqlite3_stmt *s = store_prep(st, update_only ? sql_update : sql_upsert, err);
    int rc;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, d->id);
    sqlite3_bind_int64(s, 2, d->collection_id);
    sqlite3_bind_text(s, 3, nz(d->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(d->path), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, nz(d->mime), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, d->bytes);
    sqlite3_bind_text(s, 7, d->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, d->mtime);
    sqlite3_bind_text(s, 9, index_doc_status_name(d->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, nz(d->error), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, d->ingested_at);
    sqlite3_bind_text(s, 12, nz(d->external_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, nz(d->title), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 14, store_now_s());
    rc = store_step_done(st, s, "mirror document", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "collection %lld of document %lld is not cached yet",
                          (long long)d->collection_id, (long long)d->id);
    if (rc == 0 && update_only && sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "document %lld is not cached yet", (long long)d->id);
    return rc;
}

/* The sha256 a cached document names into sha ("" when absent). */
static void mirror_doc_sha(struct index_store *st, int64_t id, char sha[65])
{
    sqlite3_stmt *s = store_prep(st, "SELECT sha256 FROM documents WHERE id=?1", NULL);
    sha[0] = '\0';
    if (!s)
        return;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        kb_strlcpy(sha, (const char *)sqlite3_column_text(s, 0), 65);
    sqlite3_reset(s);
}

int store_mirror_doc(struct index_store *st, int64_t id, const struct pg_doc_state *ds, bool meta_only,
                     const struct index_embedder *vec_e, struct kb_error *err)
{
    int64_t *old_ids = NULL, n_old = 0, cap_old = 0, *new_ids = NULL, n_del = 0;
    char old_sha[65] = "";
    struct store_vecset vs = {vec_e, ds->vectors};
    int rc;
    store_lock(st);
    if (!ds->found) {
        rc = store_delete_docs(st, "SELECT id, sha256 FROM documents WHERE id=?1", id, &n_del, err);
        goto out_unlock;
    }
    if ((rc = store_begin(st, err)) != 0)
        goto out_unlock;
    mirror_doc_sha(st, id, old_sha);
    if (meta_only) {
        rc = mirror_doc_row(st, &ds->doc, true, err);
        rc = store_end(st, rc, err);
        goto out_gc;
    }
    new_ids = kb_xmalloc((size_t)(ds->n_chunks + 1) * sizeof(int64_t));
    rc = store_doc_chunk_ids(st, id, &old_ids, &n_old, &cap_old, err);
    if (rc == 0)
        rc = store_doc_clear_chunks(st, id, err);
    if (rc == 0)
        rc = mirror_doc_row(st, &ds->doc, false, err);
    if (rc == 0)
        rc = store_insert_chunks(st, id, ds->chunks, ds->n_chunks, &vs, ds->vectors ? 1 : 0, ds->chunk_ids, new_ids,
                                 err);
    rc = store_end(st, rc, err);
    if (rc)
        goto out_unlock;
    st->n_chunks_cache = -1;
    if (st->vec) {
        bool cached = ds->vectors && vec_e && vec_e == st->serve;
        if (!cached && ds->n_chunks > 0)
            st->data_version = INT_MIN; /* vectors of another embedder: id diff at the next search */
        vcache_apply(st, old_ids, n_old, cached ? new_ids : NULL, cached ? ds->vectors : NULL,
                     cached ? ds->n_chunks : 0);
    }
out_gc:
    if (rc == 0 && old_sha[0] && strcmp(old_sha, ds->doc.sha256) != 0)
        store_original_gc(st, old_sha);
out_unlock:
    store_unlock(st);
    free(old_ids);
    free(new_ids);
    return rc;
}

int store_mirror_wipe(struct index_store *st, struct kb_error *err)
{
    int64_t n = 0;
    int rc;
    store_lock(st);
    rc = store_delete_docs(st, "SELECT id, sha256 FROM documents WHERE ?1 = 0", 0, &n, err);
    if (rc == 0 && (rc = store_begin(st, err)) == 0) {
        rc = store_exec(st, "DELETE FROM collections WHERE name<>'default';"
                            " DELETE FROM meta WHERE key IN ('pg_seq', 'pg_cluster')", err);
        rc = store_end(st, rc, err);
    }
    store_unlock(st);
    if (rc == 0)
        kb_info("postgresql: local cache wiped (%lld documents) for a rebuild", (long long)n);
    return rc;
}

void store_mirror_position(struct index_store *st, int64_t *seq, char *cluster, size_t cluster_bytes)
{
    char b[32];
    store_lock(st);
    store_meta_get(st, "pg_seq", b, sizeof b);
    store_meta_get(st, "pg_cluster", cluster, cluster_bytes);
    store_unlock(st);
    *seq = 0;
    if (b[0])
        kb_parse_i64(b, seq);
}

int store_mirror_set_position(struct index_store *st, int64_t seq, const char *cluster, struct kb_error *err)
{
    char b[32];
    int rc;
    snprintf(b, sizeof b, "%lld", (long long)seq);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0) {
        rc = store_meta_set(st, "pg_seq", b, err);
        if (rc == 0)
            rc = store_meta_set(st, "pg_cluster", cluster, err);
        rc = store_end(st, rc, err);
    }
    store_unlock(st);
    return rc;
}

bool store_mirror_has_original(struct index_store *st, const char *sha)
{
    char p[STORE_PATH_BYTES];
    snprintf(p, sizeof p, "%s/originals/%s", st->data_dir, sha);
    return access(p, R_OK) == 0;
}

/* ---- shared rows (pg_rows.c): the conversation log and curated answers ------------------------------ */

static int mirror_step(struct index_store *st, const struct store_mirror_step *step, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src, n_par;
    if (!step->rows)
        return store_exec(st, step->sql, err);
    if (step->rows->n == 0)
        return 0;
    src = sqlite3_prepare_v2(st->db, step->sql, -1, &s, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(s);
        return store_fail(st, err, src, "prepare a mirrored row");
    }
    n_par = KB_MIN(sqlite3_bind_parameter_count(s), step->rows->cols);
    for (int i = 0; rc == 0 && i < step->rows->n; i++) {
        const char *const *row = step->rows->v + (size_t)i * (size_t)step->rows->cols;
        for (int k = 0; k < n_par; k++)
            if (row[k])
                sqlite3_bind_text(s, k + 1, row[k], -1, SQLITE_STATIC); /* column affinity converts */
            else
                sqlite3_bind_null(s, k + 1);
        src = sqlite3_step(s);
        if (src != SQLITE_DONE && src != SQLITE_ROW)
            rc = store_fail(st, err, src, "mirror a row");
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    sqlite3_finalize(s);
    return rc;
}

int store_mirror_steps(struct index_store *st, const struct store_mirror_step *steps, int n, struct kb_error *err)
{
    int rc;
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0) {
        for (int i = 0; rc == 0 && i < n; i++)
            rc = mirror_step(st, &steps[i], err);
        rc = store_end(st, rc, err);
    }
    store_unlock(st);
    return rc;
}

int store_mirror_read(struct index_store *st, const char *sql, int n, const char *const *vals, struct kb_arena *a,
                      struct pg_rows *out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src, cols, cap = 0;
    memset(out, 0, sizeof *out);
    store_lock(st);
    src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = store_fail(st, err, src, "prepare a read of rows");
        goto out_unlock;
    }
    for (int k = 0; k < n && k < sqlite3_bind_parameter_count(s); k++)
        if (vals[k])
            sqlite3_bind_text(s, k + 1, vals[k], -1, SQLITE_STATIC);
    cols = sqlite3_column_count(s);
    out->cols = cols;
    while (rc == 0 && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->n == cap) {
            const char **grown;
            cap = cap ? cap * 2 : 64;
            grown = kb_arena_alloc(a, (size_t)cap * (size_t)cols * sizeof *grown);
            if (!grown) {
                rc = kb_error_set(err, KB_ENOMEM, "no memory for %d rows", cap);
                break;
            }
            if (out->n)
                memcpy(grown, out->v, (size_t)out->n * (size_t)cols * sizeof *grown);
            out->v = grown;
        }
        for (int k = 0; k < cols; k++) {
            const unsigned char *t = sqlite3_column_text(s, k);
            const char *c = t ? kb_arena_strdup(a, (const char *)t) : NULL;
            if (t && !c) {
                rc = kb_error_set(err, KB_ENOMEM, "no memory for rows");
                break;
            }
            out->v[(size_t)out->n * (size_t)cols + (size_t)k] = c;
        }
        out->n++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "read rows");
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}
