/* index/migrate.c: `kbox store migrate --from A --to B`: copies a whole store between the SQLite
 * backend (a data directory: kbox.db + originals/) and the PostgreSQL one (pg.c's schema), either
 * way: collections, documents with their originals, chunks and every embedder's vectors, all under
 * their ids, so document and chunk (= FAISS) ids, and so search results, stay the same.
 *
 * Data flow: open both sides (a SQLite source read-only; a PostgreSQL target is migrated to the
 * current schema) -> check the target before writing anything: every collection and document it
 * already holds must be the source's (same id, same name, same digest), else KB_ECONFLICT and nothing
 * is written -> copy the collections, then each document the target lacks, one transaction per
 * document (original first, then row + chunks + vectors; on PostgreSQL with its change-log row, so
 * nodes following the database pick it up) -> advance PostgreSQL's id sequences, or name the
 * embedder of the copied vectors in a SQLite target's meta -> verify: row counts (collections,
 * documents, chunks, vectors) equal on both sides, and every document's digest equal on both sides;
 * the report's checksum is SHA-256 over the digests in id order.
 * Resumable: a run killed at any point leaves whole documents only; the next run finds them equal
 * (so not "different data"), skips them and copies the rest. No duplicates: ids are the keys.
 * Marker: from the first write until the verification passes, the target's meta names the --from
 * it is being filled from ('migrate_from', kbox_meta on PostgreSQL). A rerun with the same --from
 * then also repairs documents the source changed or deleted since the interrupted run (deletes
 * them, copies the new version), instead of refusing them as different data.
 * Digest of one document: SHA-256 over its columns (id, collection, name, path, mime, bytes, sha256,
 * mtime, status, error, ingested_at, external_id, title, created_at, whether the original is
 * stored), then each chunk by ordinal (id, text, heading_path, pages, offsets, n_tokens, page_map),
 * then each vector row by (chunk id, embedder id) (ids and the raw float32 bytes); integers as 8
 * bytes little-endian, strings as their 8-byte length then bytes. An original's bytes are checked
 * against its sha256 when it is copied.
 * Also copied, after the documents: the conversation log, curated answers, users, sessions, API keys,
 * the audit log and bots (pg_migrate_rows.c: planned before anything is written, verified by row
 * counts and digests per table). Not copied: jobs (per-run state).
 * Only libpq-free and SQLite-free code here: pg.c and store_copy.c do the I/O.
 * Tests: tests/index/test_pg_migrate.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "index/pg.h"

struct mig_side {
    bool pg;
    struct index_store *st; /* SQLite side */
    struct pg_db *db;       /* PostgreSQL side */
    char label[16];         /* "--from" or "--to", for messages */
};

/* Prefixes err's message with what (err->msg is copied first: it is also the destination). */
static int mig_wrap(struct kb_error *err, int rc, const char *label, const char *spec)
{
    char msg[sizeof err->msg];
    if (!err)
        return rc;
    kb_strlcpy(msg, err->msg, sizeof msg);
    return kb_error_set(err, rc, "%s %s: %s", label, spec, msg);
}

/* ---- one side, whichever backend ---------------------------------------------------------------- */

/* "sqlite:PATH" -> the data directory (PATH, or its directory when PATH names kbox.db). */
static int mig_sqlite_dir(const char *label, const char *path, bool must_exist, char *dir, size_t dir_bytes,
                          struct kb_error *err)
{
    char db[STORE_PATH_BYTES + 16];
    struct stat sb;
    size_t n;
    if (!path[0])
        return kb_error_set(err, KB_EINVAL, "%s sqlite: needs a data directory, e.g. sqlite:/var/lib/kbox", label);
    n = kb_strlcpy(dir, path, dir_bytes);
    if (n >= dir_bytes)
        return kb_error_set(err, KB_EINVAL, "%s sqlite:%s: path too long", label, path);
    if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (strcmp(dir, "kbox.db") != 0 && (n < 8 || strcmp(dir + n - 8, "/kbox.db") != 0))
            return kb_error_set(err, KB_EINVAL, "%s sqlite:%s: not a kbox data directory (a file not named kbox.db)",
                                label, path);
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            kb_strlcpy(dir, ".", dir_bytes);
    }
    snprintf(db, sizeof db, "%s/kbox.db", dir);
    if (must_exist && stat(db, &sb) != 0)
        return kb_error_set(err, KB_ENOENT, "%s sqlite:%s: no kbox store there (%s does not exist)", label, path, db);
    return 0;
}

static int mig_open(struct mig_side *s, const char *label, const char *spec, bool source, const char *password_file,
                    struct kb_error *err)
{
    int rc;
    memset(s, 0, sizeof *s);
    kb_strlcpy(s->label, label, sizeof s->label);
    if (!strncmp(spec, "postgres:", 9) || !strncmp(spec, "postgresql:", 11)) {
        const char *url = !strncmp(spec, "postgres:", 9) ? spec + 9 : spec + 11;
        int v = 0;
        if (!strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11))
            url = spec; /* a bare libpq URL is accepted as it is */
        s->pg = true;
        if (!url[0])
            return kb_error_set(err, KB_EINVAL, "%s postgres: needs a connection URL, e.g. "
                                "postgres:postgresql://kbox@db/kbox", label);
        rc = pg_db_open(&s->db, url, password_file, !source, err);
        if (rc)
            return mig_wrap(err, rc, label, spec);
        if (source && (rc = pg_db_schema_version(s->db, &v, err)) == 0) {
            if (v == 0)
                rc = kb_error_set(err, KB_ENOENT, "%s %s: the database holds no kbox store (no kbox_schema)", label,
                                  spec);
            else if (v > PG_SCHEMA_VERSION)
                rc = kb_error_set(err, KB_ECONFIG, "%s %s: schema version %d is newer than this kbox knows (%d)",
                                  label, spec, v, PG_SCHEMA_VERSION);
        }
        return rc;
    }
    if (!strncmp(spec, "sqlite:", 7)) {
        char dir[STORE_PATH_BYTES];
        struct index_open_opts o;
        if ((rc = mig_sqlite_dir(label, spec + 7, source, dir, sizeof dir, err)) != 0)
            return rc;
        memset(&o, 0, sizeof o);
        o.data_dir = dir;
        o.read_only = source;
        o.ann_threshold = INT64_MAX / 4; /* no vectors are loaded: embedder NULL */
        rc = index_store_open(&s->st, &o, err);
        return rc ? mig_wrap(err, rc, label, spec) : 0;
    }
    return kb_error_set(err, KB_EINVAL, "%s '%s': expected sqlite:PATH or postgres:URL", label, spec);
}

static void mig_close(struct mig_side *s)
{
    index_store_close(s->st);
    pg_db_close(s->db);
    memset(s, 0, sizeof *s);
}

static int mig_collections(struct mig_side *s, struct kb_arena *a, struct copy_coll **out, int *n,
                           struct kb_error *err)
{
    return s->pg ? pg_copy_collections(s->db, a, out, n, err) : store_copy_collections(s->st, a, out, n, err);
}

static int mig_doc_ids(struct mig_side *s, int64_t **ids, int64_t *n, struct kb_error *err)
{
    return s->pg ? pg_ids(s->db, "documents", ids, n, err) : store_copy_doc_ids(s->st, ids, n, err);
}

static int mig_doc_read(struct mig_side *s, int64_t id, struct kb_arena *a, struct copy_doc *out, struct kb_error *err)
{
    return s->pg ? pg_copy_doc_read(s->db, id, a, out, err) : store_copy_doc_read(s->st, id, a, out, err);
}

static int mig_counts(struct mig_side *s, struct copy_counts *out, struct kb_error *err)
{
    return s->pg ? pg_copy_counts(s->db, out, err) : store_copy_counts(s->st, out, err);
}

/* ---- digests -------------------------------------------------------------------------------------- */

static void dg_i64(struct kb_sha256 *h, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    kb_sha256_update(h, b, 8);
}

static void dg_str(struct kb_sha256 *h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    dg_i64(h, (int64_t)n);
    kb_sha256_update(h, s ? s : "", n);
}

static void mig_digest(const struct copy_doc *cd, uint8_t out[32])
{
    const struct index_doc *d = &cd->doc;
    struct kb_sha256 h;
    kb_sha256_init(&h);
    dg_i64(&h, d->id);
    dg_i64(&h, d->collection_id);
    dg_str(&h, d->name);
    dg_str(&h, d->path);
    dg_str(&h, d->mime);
    dg_i64(&h, d->bytes);
    dg_str(&h, d->sha256);
    dg_i64(&h, d->mtime);
    dg_str(&h, index_doc_status_name(d->status));
    dg_str(&h, d->error);
    dg_i64(&h, d->ingested_at);
    dg_str(&h, d->external_id);
    dg_str(&h, d->title);
    dg_i64(&h, cd->created_at);
    dg_i64(&h, d->has_original);
    dg_i64(&h, cd->n_chunks);
    for (int i = 0; i < cd->n_chunks; i++) {
        const struct index_chunk *c = &cd->chunks[i];
        dg_i64(&h, cd->chunk_ids[i]);
        dg_str(&h, c->text);
        dg_str(&h, c->heading_path);
        dg_i64(&h, c->page_start);
        dg_i64(&h, c->page_end);
        dg_i64(&h, c->off_start);
        dg_i64(&h, c->off_end);
        dg_i64(&h, c->n_tokens);
        dg_str(&h, c->page_map);
    }
    dg_i64(&h, cd->n_vecs);
    for (int i = 0; i < cd->n_vecs; i++) {
        dg_i64(&h, cd->vecs[i].chunk_id);
        dg_str(&h, cd->vecs[i].embedder_id);
        dg_i64(&h, cd->vecs[i].n_bytes);
        kb_sha256_update(&h, cd->vecs[i].data, (size_t)cd->vecs[i].n_bytes);
    }
    kb_sha256_final(&h, out);
}

/* Reads document id on both sides; *same tells whether their digests agree (both absent: same).
 * dg and has_original (nullable) get the source's digest and whether its original is stored. */
static int mig_compare_doc(struct mig_side *src, struct mig_side *dst, int64_t id, bool *same, uint8_t dg[32],
                           bool *has_original, struct kb_error *err)
{
    struct kb_arena a;
    struct copy_doc x, y;
    uint8_t dx[32], dy[32];
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = mig_doc_read(src, id, &a, &x, err);
    if (rc == 0)
        rc = mig_doc_read(dst, id, &a, &y, err);
    if (rc == 0) {
        mig_digest(&x, dx);
        mig_digest(&y, dy);
        *same = x.found == y.found && (!x.found || memcmp(dx, dy, 32) == 0);
        if (dg)
            memcpy(dg, dx, 32);
        if (has_original)
            *has_original = x.found && x.doc.has_original;
    }
    kb_arena_release(&a);
    return rc;
}

/* ---- the steps ------------------------------------------------------------------------------------ */

/* Before any write: the target's collections must be the source's (by id and name). */
static int mig_check_collections(const struct copy_coll *sc, int n_sc, const struct copy_coll *tc, int n_tc,
                                 const char *to, struct kb_error *err)
{
    for (int i = 0; i < n_tc; i++) {
        const struct copy_coll *match = NULL;
        for (int k = 0; k < n_sc; k++)
            if (sc[k].id == tc[i].id)
                match = &sc[k];
        if (!match || strcmp(match->name, tc[i].name) != 0)
            return kb_error_set(err, KB_ECONFLICT,
                                "--to %s already holds different data: collection '%s' (id %lld) is not the "
                                "source's; migrate into an empty store",
                                to, tc[i].name, (long long)tc[i].id);
    }
    return 0;
}

/* Before any write: every document the target holds must be the source's, unchanged, unless the
 * target is marked as this migration's (resume): then a document the source changed or deleted
 * since the interrupted run goes to *drop (deleted before the copy; changed ones copied again).
 * Ids to copy go to *todo; *n_present counts the documents already equal. Caller frees both. */
static int mig_check_docs(struct mig_side *src, struct mig_side *dst, const char *to, bool resume, const int64_t *sids,
                          int64_t n_s, const int64_t *tids, int64_t n_t, int64_t **todo, int64_t *n_todo,
                          int64_t **drop, int64_t *n_drop, int64_t *n_present, struct kb_error *err)
{
    int64_t i = 0, k = 0;
    int rc = 0;
    *todo = kb_xmalloc((size_t)(n_s + 1) * sizeof(int64_t));
    *drop = kb_xmalloc((size_t)(n_t + 1) * sizeof(int64_t));
    *n_todo = *n_drop = *n_present = 0;
    while (rc == 0 && (i < n_s || k < n_t)) {
        bool same = false;
        if (k < n_t && (i == n_s || tids[k] < sids[i])) {
            if (!resume)
                return kb_error_set(err, KB_ECONFLICT,
                                    "--to %s already holds different data: document %lld is not in the source; "
                                    "migrate into an empty store",
                                    to, (long long)tids[k]);
            (*drop)[(*n_drop)++] = tids[k++];
            continue;
        }
        if (k == n_t || sids[i] < tids[k]) {
            (*todo)[(*n_todo)++] = sids[i++];
            continue;
        }
        rc = mig_compare_doc(src, dst, sids[i], &same, NULL, NULL, err);
        if (rc == 0 && !same && !resume)
            rc = kb_error_set(err, KB_ECONFLICT,
                              "--to %s already holds different data: document %lld differs from the source's",
                              to, (long long)sids[i]);
        if (rc == 0 && !same) { /* changed in the source since the interrupted run */
            (*drop)[(*n_drop)++] = sids[i];
            (*todo)[(*n_todo)++] = sids[i];
        } else if (rc == 0) {
            (*n_present)++;
        }
        i++;
        k++;
    }
    return rc;
}

/* Copies one document (absent from the target). A document deleted from the source meanwhile is
 * skipped (the verification then reports the difference). */
static int mig_copy_doc(struct mig_side *src, struct mig_side *dst, int64_t id, struct kb_error *err)
{
    struct kb_arena a;
    struct copy_doc d;
    void *orig = NULL;
    size_t n_orig = 0;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = mig_doc_read(src, id, &a, &d, err);
    if (rc || !d.found)
        goto out_release;
    if (d.doc.has_original) {
        rc = src->pg ? pg_original_fetch(src->db, d.doc.sha256, &orig, &n_orig, err)
                     : store_copy_original_read(src->st, d.doc.sha256, &orig, &n_orig, err);
        if (rc)
            goto out_release;
    }
    rc = dst->pg ? pg_copy_doc_write(dst->db, &d, orig, n_orig, err)
                 : store_copy_doc_write(dst->st, &d, orig, n_orig, err);
out_release:
    free(orig);
    kb_arena_release(&a);
    return rc;
}

/* After the copy: equal counts and equal digests, document by document. */
static int mig_verify(struct mig_side *src, struct mig_side *dst, const int64_t *ids, int64_t n,
                      struct index_migrate_report *r, struct kb_error *err)
{
    struct copy_counts cs, ct;
    struct kb_sha256 all;
    uint8_t dg[32];
    int rc = mig_counts(src, &cs, err);
    if (rc == 0)
        rc = mig_counts(dst, &ct, err);
    if (rc)
        return rc;
    r->n_collections = ct.n_collections;
    r->n_documents = ct.n_documents;
    r->n_chunks = ct.n_chunks;
    r->n_vectors = ct.n_vectors;
    if (memcmp(&cs, &ct, sizeof cs) != 0)
        return kb_error_set(err, KB_ECORRUPT,
                            "verification failed: the source has %lld collections, %lld documents, %lld chunks, "
                            "%lld vectors; the target %lld, %lld, %lld, %lld (did the source change? run again)",
                            (long long)cs.n_collections, (long long)cs.n_documents, (long long)cs.n_chunks,
                            (long long)cs.n_vectors, (long long)ct.n_collections, (long long)ct.n_documents,
                            (long long)ct.n_chunks, (long long)ct.n_vectors);
    kb_sha256_init(&all);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        bool same = false, orig = false;
        rc = mig_compare_doc(src, dst, ids[i], &same, dg, &orig, err);
        r->n_originals += orig;
        if (rc == 0 && !same)
            rc = kb_error_set(err, KB_ECORRUPT, "verification failed: document %lld differs after the copy",
                              (long long)ids[i]);
        kb_sha256_update(&all, dg, 32);
    }
    if (rc == 0) {
        kb_sha256_final(&all, dg);
        kb_sha256_hex(dg, r->checksum);
        r->verified = true;
    }
    return rc;
}

/* Collections: check, then write the ones the target lacks or has with another created_at. */
static int mig_collections_step(struct mig_side *src, struct mig_side *dst, const char *to, struct kb_error *err)
{
    struct kb_arena a;
    struct copy_coll *sc = NULL, *tc = NULL;
    int n_sc = 0, n_tc = 0, rc;
    kb_arena_init(&a, 0, 0);
    rc = mig_collections(src, &a, &sc, &n_sc, err);
    if (rc == 0)
        rc = mig_collections(dst, &a, &tc, &n_tc, err);
    if (rc == 0)
        rc = mig_check_collections(sc, n_sc, tc, n_tc, to, err);
    for (int i = 0; rc == 0 && i < n_sc; i++) {
        bool same = false;
        for (int k = 0; k < n_tc; k++)
            same = same || (tc[k].id == sc[i].id && tc[k].created_at == sc[i].created_at);
        if (!same)
            rc = dst->pg ? pg_copy_collection_put(dst->db, &sc[i], err) : store_copy_collection_put(dst->st, &sc[i], err);
    }
    free(sc);
    free(tc);
    kb_arena_release(&a);
    return rc;
}

/* After the copy: PostgreSQL's id sequences move past the copied ids; a SQLite target's meta names
 * the embedder with the most vectors (the complete set a box searches). */
static int mig_finish(struct mig_side *dst, struct kb_error *err)
{
    if (dst->pg)
        return pg_copy_finish(dst->db, err);
    return store_copy_name_embedder(dst->st, err);
}

static int mig_marker(struct mig_side *dst, const char *from, struct kb_error *err)
{
    return dst->pg ? pg_copy_marker_set(dst->db, from, err) : store_copy_marker_set(dst->st, from, err);
}

int index_store_migrate(const struct index_migrate_opts *o, struct index_migrate_report *r, struct kb_error *err)
{
    struct mig_side src, dst;
    int64_t *sids = NULL, *tids = NULL, *todo = NULL, *drop = NULL, n_s = 0, n_t = 0, n_todo = 0, n_drop = 0;
    char marker[STORE_PATH_BYTES + 16] = "";
    bool rows_copy[PG_MIG_TABLES] = {false}, resume = false;
    struct pg_mig_side rs, rd;
    int rc;
    memset(r, 0, sizeof *r);
    memset(&dst, 0, sizeof dst);
    if (!o->from || !o->to || !o->from[0] || !o->to[0] || !strcmp(o->from, o->to))
        return kb_error_set(err, KB_EINVAL, "--from and --to must name two different stores");
    if ((rc = mig_open(&src, "--from", o->from, true, o->password_file, err)) != 0)
        goto out_close;
    if ((rc = mig_open(&dst, "--to", o->to, false, o->password_file, err)) != 0)
        goto out_close;
    if (dst.pg)
        rc = pg_copy_marker_get(dst.db, marker, sizeof marker, err);
    else
        store_copy_marker_get(dst.st, marker, sizeof marker);
    if (rc == 0)
        rc = mig_doc_ids(&src, &sids, &n_s, err);
    if (rc == 0)
        rc = mig_doc_ids(&dst, &tids, &n_t, err);
    resume = strcmp(marker, o->from) == 0;
    rs = (struct pg_mig_side){src.pg, src.st, src.db};
    rd = (struct pg_mig_side){dst.pg, dst.st, dst.db};
    if (rc == 0)
        rc = mig_check_docs(&src, &dst, o->to, resume, sids, n_s, tids, n_t, &todo, &n_todo, &drop, &n_drop,
                            &r->n_present, err);
    if (rc == 0) /* the shared rows: refused or planned before anything is written too */
        rc = pg_mig_rows_plan(&rs, &rd, o->to, resume, rows_copy, err);
    /* from here the target is this migration's until it verifies: a rerun may repair it */
    if (rc == 0 && strcmp(marker, o->from) != 0)
        rc = mig_marker(&dst, o->from, err);
    for (int64_t i = 0; rc == 0 && i < n_drop; i++)
        rc = dst.pg ? pg_doc_delete(dst.db, drop[i], err) : index_doc_delete(dst.st, drop[i], err);
    if (rc == 0)
        rc = mig_collections_step(&src, &dst, o->to, err);
    for (int64_t i = 0; rc == 0 && i < n_todo; i++) {
        rc = mig_copy_doc(&src, &dst, todo[i], err);
        if (rc == 0) {
            r->n_copied++;
            if (o->progress)
                o->progress(o->progress_ud, r->n_present + r->n_copied, n_s);
        }
    }
    if (rc == 0)
        rc = mig_finish(&dst, err);
    if (rc == 0)
        rc = pg_mig_rows_copy(&rs, &rd, resume, rows_copy, &r->n_rows_copied, err);
    if (rc == 0)
        rc = mig_verify(&src, &dst, sids, n_s, r, err);
    if (rc == 0)
        rc = pg_mig_rows_verify(&rs, &rd, &r->n_rows, err);
    if (rc == 0)
        rc = mig_marker(&dst, NULL, err);
out_close:
    free(sids);
    free(tids);
    free(todo);
    free(drop);
    mig_close(&dst);
    mig_close(&src);
    return rc;
}
