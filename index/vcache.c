/* index/vcache.c: the FAISS-cache policy: when vectors.faiss is trusted, synced or rebuilt from the
 * embeddings table, and which kind of index it is. The FAISS calls themselves are in vectors.c, the
 * SQL in store.c; this file decides.
 *
 * Data flow: at open (vcache_open) the sidecar is loaded and verified against the sorted chunk ids
 * that have a vector of the serving embedder (vec_load: embedder, dim, id checksum); a missing or
 * mismatching file, or one of another kind than the count and the options call for, is rebuilt
 * (logged) and saved. Before every search and check, vcache_sync compares PRAGMA data_version with
 * the last sync and, when another connection wrote, diffs the ids (merge of two sorted lists) and
 * removes/adds the difference. This connection's own commits update the cache directly
 * (vcache_apply, store_docs.c). index_store_save_vectors writes the sidecar when it changed.
 *
 * Kind: exact (flat) up to opts->ann_threshold vectors, above it IVF or HNSW (opts->ann, from
 * index.ann). The kind is fixed when the cache is built; a sidecar of another kind is rebuilt at
 * open, and so is the cache before a save. IVF is trained first on vec_train_size() vectors spread
 * evenly over the chunk ids (every total/want-th id), not the first ones, which come from the first
 * documents ingested. HNSW removals are tombstones: the cache is rebuilt when they outnumber a
 * quarter of the live vectors (+1000) at a sync, and before every save.
 *
 * Invariants: st->vec holds exactly the vectors of st->serve (NULL without serve); everything here
 * runs with the store's lock held, except vcache_build with `unlocked`, which takes the lock per
 * page of VCACHE_PAGE_VECTORS so searches and writes go on while a large index builds (the
 * re-embedding switch; changes meanwhile are caught by the id diff afterwards).
 * Tests: tests/index/test_store.c (kinds, sync), test_crash.c (rebuild after kill -9),
 * test_vectors.c (the sidecar), test_reembed.c (the switch's build). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define VCACHE_PAGE_VECTORS 4096 /* vectors read per page (and per lock hold) while building */

const char *vcache_kind_name(enum vec_kind k)
{
    return k == VEC_IVF ? "IVF" : k == VEC_HNSW ? "HNSW" : "flat";
}

/* The index kind n vectors call for: exact up to ann_threshold, the configured approximate kind above. */
enum vec_kind vcache_wanted_kind(const struct index_store *st, int64_t n)
{
    return n > st->ann_threshold ? st->ann_kind : VEC_FLAT;
}

/* Reads up to `want` vectors of e spread over the whole id range (chunk ids divisible by
 * total / want) into x (want x dim) for IVF training: the first ids alone would fit the lists to
 * the documents ingested first. Falls back to the first ids when deletions left the stride too few
 * hits. With `unlocked` the mutex is taken per page. */
static int vcache_sample(struct index_store *st, const struct index_embedder *e, bool unlocked,
                         int64_t total, int64_t want, float *x, int64_t *n_out, struct kb_error *err)
{
    int64_t stride = KB_MAX(1, total / KB_MAX(1, want)), n = 0, last = 0;
    int rc = 0;
    for (;;) {
        int64_t page_n, page_ok;
        rc = store_vector_page(st, e, unlocked, &last, stride, KB_MIN(VCACHE_PAGE_VECTORS, want - n), false, NULL,
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
int vcache_build(struct index_store *st, const struct index_embedder *e, bool unlocked,
                 struct vec_index **out, struct kb_error *err)
{
    struct vec_index *v = NULL;
    int64_t total, batch_cap = VCACHE_PAGE_VECTORS, last = 0;
    const int dim = e->dim;
    int64_t *ids = NULL;
    float *x = NULL;
    int rc = 0;
    double t0 = kb_now_s();
    *out = NULL;
    if (unlocked)
        store_lock(st);
    total = store_n_vectors(st, e->id);
    if (unlocked)
        store_unlock(st);
    if (total < 0)
        return kb_error_set(err, KB_EIO, "database: cannot count the vectors of '%s'", e->id);
    rc = vec_new(&v, dim, e->id, vcache_wanted_kind(st, total), total, err);
    if (rc)
        return rc;
    if (vec_needs_training(v)) {
        int64_t want = vec_train_size(v, total), n_sample = 0;
        float *sample = kb_try_malloc((size_t)KB_MAX(1, want) * (size_t)dim, sizeof(float));
        if (!sample) {
            vec_free(v);
            return kb_error_set(err, KB_ENOMEM, "no memory for %lld training vectors", (long long)want);
        }
        rc = vcache_sample(st, e, unlocked, total, want, sample, &n_sample, err);
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
        kb_info("vectors: built %s index of %lld vectors in %.1f s", vcache_kind_name(vec_get_kind(v)),
                (long long)vec_count(v), kb_now_s() - t0);
    *out = v;
    return 0;
}

/* Rebuilds the FAISS cache of the serving embedder from SQLite (lock held). */
int vcache_rebuild(struct index_store *st, struct kb_error *err)
{
    struct vec_index *v = NULL;
    int rc;
    if (!st->serve)
        return 0;
    rc = vcache_build(st, st->serve, false, &v, err);
    if (rc)
        return rc;
    vec_free(st->vec);
    st->vec = v;
    return 0;
}


int vcache_open(struct index_store *st, struct kb_error *err)
{
    int64_t *ids = NULL, n = 0;
    struct kb_error lerr = {0};
    int rc = 0;
    if (!st->emb)
        return 0;
    rc = reembed_open(st, err);
    if (rc || !st->serve || st->vec) /* no vectors to search, or the switch just built them */
        goto out;
    rc = store_embedding_ids(st, &ids, &n, err);
    if (rc)
        return rc;
    rc = vec_load(&st->vec, st->vec_path, st->serve->dim, st->serve->id, ids, n, &lerr);
    if (rc == 0 && vec_get_kind(st->vec) != vcache_wanted_kind(st, n)) {
        /* index.ann_threshold or index.ann changed, or the count crossed the threshold */
        rc = KB_ECONFLICT;
        kb_error_set(&lerr, rc, "the file's index is %s; %lld vectors, threshold %lld and index.ann=%s call for %s",
                     vcache_kind_name(vec_get_kind(st->vec)), (long long)n, (long long)st->ann_threshold,
                     st->ann_kind == VEC_HNSW ? "hnsw" : "ivf", vcache_kind_name(vcache_wanted_kind(st, n)));
    }
    if (rc != 0) {
        if (!(rc == KB_ENOENT && n == 0))
            kb_warn("vectors: rebuilding '%s' from the database (%lld vectors): %s", st->vec_path, (long long)n,
                    lerr.msg);
        rc = vcache_rebuild(st, err);
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

int vcache_sync(struct index_store *st, struct kb_error *err)
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
        return vcache_rebuild(st, err);
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

void vcache_apply(struct index_store *st, const int64_t *del, int64_t n_del, const int64_t *add, const float *x,
                  int64_t n_add)
{
    struct kb_error verr = {0};
    if (!st->vec)
        return;
    if (vec_remove(st->vec, del, n_del, &verr) != 0 || (add && vec_add(st->vec, add, x, n_add, &verr) != 0)) {
        kb_warn("vectors: cache update failed (%s); rebuilding", verr.msg);
        if (vcache_rebuild(st, &verr) != 0)
            kb_warn("vectors: rebuild failed: %s", verr.msg);
    }
}

int index_store_save_vectors(struct index_store *st, struct kb_error *err)
{
    int rc = 0;
    store_lock(st);
    if (st->vec && !st->read_only && vec_dirty(st->vec)) {
        /* HNSW tombstones cannot be saved; a grown (or shrunk) index is saved as the kind it needs */
        if (vec_n_tombstones(st->vec) > 0 || vec_get_kind(st->vec) != vcache_wanted_kind(st, vec_count(st->vec)))
            rc = vcache_rebuild(st, err);
        if (rc == 0)
            rc = vec_save(st->vec, st->vec_path, err);
    }
    store_unlock(st);
    return rc;
}

