/* index/index_int.h: what the files of the index module share, never included outside index/.
 *
 * - vectors.c: the FAISS cache (struct vec_index) and its sidecar file;
 * - embed_builtin.c: feature extraction shared with tests;
 * - store.c: SQLite helpers search.c needs (candidate lookups, BM25 query, hit details);
 * - search.c: index_search() on top of both. */
#ifndef KB_INDEX_INDEX_INT_H
#define KB_INDEX_INDEX_INT_H

#include <pthread.h>

#include "index/index.h"

/* ---- vectors.c ---------------------------------------------------------------------------------- */

struct vec_index; /* one FAISS index with ids = chunk ids; not thread-safe (the store's mutex guards it) */

enum vec_kind { VEC_FLAT = 0, VEC_HNSW = 1, VEC_IVF = 2 };

/* An empty index with inner product: IDMap2,Flat; IDMap2,HNSW32; or IVF<k>,Flat with k lists sized for
 * n_expected vectors (it must be trained with vec_train before adds). embedder_id is copied. */
int vec_new(struct vec_index **out, int dim, const char *embedder_id, enum vec_kind kind, int64_t n_expected,
            struct kb_error *err);
bool vec_needs_training(const struct vec_index *v);
/* Training points an untrained IVF index wants out of n available: 64 per list (FAISS's k-means
 * asks for 39 at least), at least 20k, at most 256k, at most n; 0 when v needs no training. */
int64_t vec_train_size(const struct vec_index *v, int64_t n);
/* Inverted lists an IVF search visits (clamped to 1..nlist; other kinds ignore it). vec_new and
 * vec_load set VEC_IVF_NPROBE; a vector-only search (search.c) visits VEC_IVF_NPROBE_ALONE, because
 * without BM25 beside it the lists IVF skips cost recall: on 33k real chunks with the built-in
 * embedder, vector-only MRR@10 was .533 exact, .393 at 24 probes, .478 at 64, while hybrid lost
 * nothing at 24 (docs/BENCHMARKS.md); benches override it. */
#define VEC_IVF_NPROBE 24
#define VEC_IVF_NPROBE_ALONE 96
void vec_set_nprobe(struct vec_index *v, int nprobe);
int vec_train(struct vec_index *v, const float *x, int64_t n, struct kb_error *err);
void vec_free(struct vec_index *v);
/* Adds n vectors (n x dim) under ids not already present. */
int vec_add(struct vec_index *v, const int64_t *ids, const float *x, int64_t n, struct kb_error *err);
/* Removes ids (absent ids are ignored). Flat removes at once; HNSW marks them deleted (tombstones)
 * and search skips them until the next rebuild. */
int vec_remove(struct vec_index *v, const int64_t *ids, int64_t n, struct kb_error *err);
/* The k best live ids by inner product, best first; *n_out <= k. */
int vec_search(struct vec_index *v, const float *q, int k, int64_t *ids, float *scores, int *n_out,
               struct kb_error *err);
int64_t vec_count(const struct vec_index *v);          /* live vectors */
int64_t vec_n_tombstones(const struct vec_index *v);
const int64_t *vec_ids(const struct vec_index *v);     /* sorted live ids; borrowed until next change */
enum vec_kind vec_get_kind(const struct vec_index *v);
bool vec_dirty(const struct vec_index *v);             /* changed since load/save */
/* Writes the sidecar atomically (path.tmp, fsync, rename). Fails with KB_EINVAL when tombstones
 * exist (the caller rebuilds first). */
int vec_save(struct vec_index *v, const char *path, struct kb_error *err);
/* Loads and verifies the sidecar against the expected embedder, dim and sorted ids (from SQLite).
 * KB_ENOENT (no file), KB_ECORRUPT (any mismatch; err says which). */
int vec_load(struct vec_index **out, const char *path, int dim, const char *embedder_id,
             const int64_t *expect_ids, int64_t n_expect, struct kb_error *err);
/* SHA-256 of the ids as little-endian int64s (the header's id checksum). */
void vec_ids_digest(const int64_t *ids, int64_t n, uint8_t out[32]);

/* ---- embed_builtin.c ---------------------------------------------------------------------------- */

#define EMBED_BUILTIN_ID_PREFIX "kbox-hash-v2-d"

/* ---- store.c helpers for search.c --------------------------------------------------------------- */

struct store_cand {
    int64_t chunk_id;
    double bm25;      /* higher is better */
    double vector;    /* inner product */
    int bm25_rank, vector_rank;
    double score;
};

/* BM25 candidates for an already-built FTS5 expression, best first. */
int store_bm25(struct index_store *st, const char *fts_expr, int64_t collection_id, int64_t document_id,
               int limit, struct store_cand *out, int *n_out, struct kb_error *err);
/* Keeps the candidates (vector hits) whose chunk belongs to the collection/document filter. */
int store_filter_chunks(struct index_store *st, int64_t collection_id, int64_t document_id, int64_t *ids,
                        float *scores, int *n, struct kb_error *err);
/* Stored embeddings of ids into out (n x dim); rows absent get zeros and found[i] = false. */
int store_get_vectors(struct index_store *st, const int64_t *ids, int n, float *out, bool *found,
                      struct kb_error *err);
/* All (chunk id, vector) of one document, for exact search inside it. Arena-owned. */
int store_doc_vectors(struct index_store *st, int64_t doc_id, struct kb_arena *a, int64_t **ids, float **vecs,
                      int *n, struct kb_error *err);
/* Fills the text and provenance fields of hits (chunk_id set). */
int store_fill_hits(struct index_store *st, struct index_hit *hits, int n, struct kb_arena *a, struct kb_error *err);
/* Brings the FAISS cache up to date with SQLite (other connections' commits). */
int store_sync_vectors(struct index_store *st, struct kb_error *err);
struct vec_index *store_vectors(struct index_store *st);          /* borrowed; NULL without embedder */
const struct index_embedder *store_embedder(struct index_store *st);
void store_lock(struct index_store *st);
void store_unlock(struct index_store *st);
/* Term statistics for the built-in embedder's queries (FTS5 vocabulary). */
void store_term_stats(struct index_store *st, struct index_term_stats *out);

#endif
