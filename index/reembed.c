/* index/reembed.c: the switch from one embedder to another, in the background or at open.
 *
 * meta 'embedder' (st->active_id) names the complete vector set. When the configured embedder
 * (st->emb) differs, the store keeps searching the active vectors with the previous embedder if the
 * caller still has it (opts->prev_embedders; else BM25 only) while index_reembed_step() embeds the
 * chunks lacking the new embedder's vectors in batches and finally switches.
 *
 * Data flow of one step: under the lock, read up to `batch` chunks lacking a vector of st->emb
 * (store_missing_batch, ids above st->reembed_cursor) -> unlock -> embed (the slow part: a GGUF
 * model; searches and writes go on) -> lock -> write the rows for chunks that still exist
 * (store_put_vectors) unless the configured embedder changed meanwhile. When no chunk is left:
 * reembed_switch builds the new FAISS index page by page (vcache_build, lock per page), then under
 * the lock and in one transaction checks that none is missing, deletes the other embedders' rows and
 * names the new one in meta (store_keep_vectors_of), swaps the cache and st->serve together (a search
 * that embedded its query with the old embedder outside the lock sees serve changed and retries;
 * search.c) and saves the sidecar.
 *
 * Invariants: st->serve is emb, or during a re-embedding the previous embedder or NULL; every
 * change of st->serve happens under the lock together with st->vec; embedders live as long as the
 * store, so comparing the serve pointer tells a search whether its query vector still fits.
 * Replaces during the re-embedding write vectors of both embedders (store_docs.c). A crash leaves
 * meta on the old embedder and the new rows written so far, so the next open resumes. This file
 * never calls SQLite (store.c does the queries). Steps run from one thread at a time.
 * A store following PostgreSQL (st->pg) does its steps as shared jobs instead (reembed_pg.c: the
 * vectors go to PostgreSQL and are then copied into the cache), and ends with the same switch.
 * Tests: tests/index/test_reembed.c, tests/index/test_pg_reembed.c. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "index/pg.h"

/* The embedder among emb and prev whose id is id, or NULL. */
static const struct index_embedder *reembed_find_embedder(struct index_store *st, const char *id)
{
    if (st->emb && strcmp(st->emb->id, id) == 0)
        return st->emb;
    for (int i = 0; i < st->n_prev; i++)
        if (st->prev[i] && strcmp(st->prev[i]->id, id) == 0)
            return st->prev[i];
    return NULL;
}

/* Starts (or restarts) the pending re-embedding bookkeeping (lock held). */
static void reembed_begin(struct index_store *st)
{
    st->reembed_pending = true;
    st->reembed_cursor = 0;
    st->reembed_total = store_n_chunks(st);
    st->reembed_done = st->reembed_total - store_n_missing(st, st->emb->id);
}

static void reembed_fill(struct index_store *st, struct index_reembed_status *out)
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
        int64_t total = store_n_chunks(st);
        int64_t missing = store_n_missing(st, st->emb->id);
        if (total >= 0 && missing >= 0) {
            st->reembed_total = total;
            st->reembed_done = total - missing;
        }
    }
    reembed_fill(st, out);
    store_unlock(st);
    return 0;
}


/* The switch at the end of a re-embedding: builds tgt's FAISS index (lock taken per page), then
 * under the lock, in one transaction, checks that every chunk has a vector of tgt, deletes every
 * other embedder's vectors and names tgt in meta; then swaps the cache and catches up with writes
 * made while it built. *finished false: something changed meanwhile (another pass follows). */
static int reembed_switch(struct index_store *st, const struct index_embedder *tgt, bool *finished,
                          struct kb_error *err)
{
    struct vec_index *v = NULL;
    bool complete = false;
    int rc = vcache_build(st, tgt, true, &v, err);
    *finished = false;
    if (rc)
        return rc;
    store_lock(st);
    if (st->emb != tgt || !st->reembed_pending)
        goto out_unlock;
    rc = store_keep_vectors_of(st, tgt->id, true, true, &complete, err);
    if (rc)
        goto out_unlock;
    if (!complete) { /* chunks arrived without vectors; another pass */
        st->reembed_cursor = 0;
        goto out_unlock;
    }
    vec_free(st->vec);
    st->vec = v;
    v = NULL;
    st->serve = tgt;
    kb_strlcpy(st->active_id, tgt->id, sizeof(st->active_id));
    st->reembed_pending = false;
    st->data_version = INT_MIN; /* force the id diff against the database */
    rc = vcache_sync(st, err);
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
    const struct index_embedder *tgt;
    int64_t *ids = NULL;
    char **texts = NULL;
    float *x = NULL;
    int n = 0, rc = 0;
    bool shared = false, switch_now = false;
    *finished = false;
    batch = KB_MIN(KB_MAX(batch, 1), 4096);
    store_lock(st);
    tgt = st->emb;
    if (!st->reembed_pending || !tgt || st->read_only) {
        *finished = true;
        goto out_unlock;
    }
    if (st->pg) { /* following PostgreSQL: shared jobs (reembed_pg.c), then the same switch */
        shared = true;
        goto out_unlock;
    }
    ids = kb_xmalloc((size_t)batch * sizeof(*ids));
    texts = kb_xcalloc((size_t)batch, sizeof(*texts));
    rc = store_missing_batch(st, tgt->id, st->reembed_cursor, batch, ids, texts, &n, err);
out_unlock:
    store_unlock(st);
    if (shared) {
        rc = reembed_pg_step(st, tgt, batch, &switch_now, err);
        if (rc == 0 && switch_now)
            rc = reembed_switch(st, tgt, finished, err);
    } else if (rc == 0 && !*finished && n == 0) {
        rc = reembed_switch(st, tgt, finished, err);
    }
    if (rc == 0 && n > 0) {
        /* embedding is the slow part (a GGUF model): searches and writes go on meanwhile */
        x = kb_try_malloc((size_t)n * (size_t)tgt->dim, sizeof(float));
        rc = x ? tgt->embed(tgt->ud, (const char *const *)texts, n, x, err)
               : kb_error_set(err, KB_ENOMEM, "no memory for %d vectors", n);
        store_lock(st);
        if (rc == 0 && st->emb == tgt) {
            int64_t put = 0;
            rc = store_put_vectors(st, tgt, ids, n, x, &put, err);
            if (rc == 0) {
                st->reembed_cursor = ids[n - 1];
                st->reembed_done += put;
            }
        }
        store_unlock(st);
    }
    if (progress) {
        store_lock(st);
        reembed_fill(st, progress);
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
        rc = store_meta_set(st, "embedder", emb->id, err);
    }
    if (rc == 0 && strcmp(st->active_id, emb->id) == 0) {
        /* back to the embedder the complete vectors come from: serve with it directly */
        bool rebuild = !st->serve || st->serve->dim != emb->dim;
        st->serve = emb;
        if (rebuild)
            rc = vcache_rebuild(st, err);
        st->reembed_pending = false;
        if (rc == 0) /* an abandoned re-embedding's vectors */
            rc = store_keep_vectors_of(st, emb->id, false, false, NULL, err);
        if (rc == 0 && store_n_missing(st, emb->id) > 0)
            reembed_begin(st);
    } else if (rc == 0) {
        reembed_begin(st);
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
int reembed_open(struct index_store *st, struct kb_error *err)
{
    int rc = 0;
    store_meta_get(st, "embedder", st->active_id, sizeof(st->active_id));
    if (st->read_only) {
        if (!st->active_id[0])
            kb_strlcpy(st->active_id, st->emb->id, sizeof(st->active_id));
        st->serve = reembed_find_embedder(st, st->active_id);
        return 0;
    }
    if (!st->active_id[0]) {
        kb_strlcpy(st->active_id, st->emb->id, sizeof(st->active_id));
        rc = store_meta_set(st, "embedder", st->emb->id, err);
        if (rc)
            return rc;
    }
    if (strcmp(st->active_id, st->emb->id) != 0 || store_n_missing(st, st->emb->id) > 0)
        reembed_begin(st);
    if (st->reembed_pending && (!st->reembed_background || strcmp(st->active_id, st->emb->id) == 0)) {
        bool finished = false;
        int64_t todo = st->reembed_total - st->reembed_done;
        while (rc == 0 && !finished)
            rc = index_reembed_step(st, 64, NULL, &finished, err);
        if (rc == 0 && todo > 0)
            kb_warn("vectors: embedded %lld chunks with '%s' (a new embedder, or chunks whose text changed)",
                    (long long)todo, st->emb->id);
        return rc;
    }
    st->serve = reembed_find_embedder(st, st->active_id);
    if (st->reembed_pending)
        kb_warn("vectors: the stored vectors come from '%s', the configured embedder is '%s': re-embedding %lld"
                " chunks in the background; %s",
                st->active_id, st->emb->id, (long long)(st->reembed_total - st->reembed_done),
                st->serve ? "search uses the old vectors meanwhile"
                          : "that embedder is not available, so search is BM25-only meanwhile");
    return 0;
}

void reembed_recheck(struct index_store *st)
{
    store_lock(st);
    if (st->emb && !st->reembed_pending && !st->read_only && store_n_missing(st, st->emb->id) > 0) {
        reembed_begin(st);
        kb_warn("vectors: %lld chunks from postgresql lack vectors of '%s': re-embedding them as shared jobs",
                (long long)(st->reembed_total - st->reembed_done), st->emb->id);
    }
    store_unlock(st);
}
