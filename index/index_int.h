/* index/index_int.h: what the files of the index module share, never included outside index/
 * (tests and benches of the index module excepted).
 *
 * - vectors.c: the FAISS index (struct vec_index) and its sidecar file;
 * - embed_builtin.c: feature extraction shared with tests;
 * - struct index_store, shared by the store's files:
 *   - store.c: the SQLite connection, schema, statement cache, collections, and the queries
 *     vcache.c and reembed.c need (they never call SQLite themselves);
 *   - store_docs.c: documents, chunks and originals (SQL);
 *   - store_search.c: the read queries search.c needs (BM25, filters, vectors, hit details, IDF);
 *   - vcache.c: the FAISS-cache policy (trusted, rebuilt or synced; which kind; IVF training);
 *   - reembed.c: the switch to a new embedder (status, steps, set_embedder, the open-time decision);
 *   - store_copy.c: whole collections and documents with their ids, for `kbox store migrate`
 *     (migrate.c, which with pg.c's pg_copy_* moves a store between SQLite and PostgreSQL);
 * - search.c: index_search() on top of all of them.
 * SQLite is included by the store*.c files only (STYLE rule 18 names store.c; see store.c's top
 * comment for why three files). */
#ifndef KB_INDEX_INDEX_INT_H
#define KB_INDEX_INDEX_INT_H

#include <pthread.h>

#include "index/index.h"
#include "text/text.h"

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

/* ---- struct index_store (store.c, store_docs.c, store_search.c, vcache.c, reembed.c) ---------- */

struct sqlite3;      /* SQLite's handle types, named without including sqlite3.h */
struct sqlite3_stmt;

#define STORE_N_STMT 128

/* index_doc_context() in SQL, for SQLite and PostgreSQL alike: the context of document d (an alias
 * in the enclosing query): '' without a title or when the title is a heading beside others. */
#define STORE_DOC_CONTEXT_SQL                                                                                 \
    "(CASE WHEN d.title = '' OR (EXISTS (SELECT 1 FROM chunks h WHERE h.document_id = d.id"                  \
    " AND (h.heading_path = d.title OR substr(h.heading_path, 1, length(d.title) + 3) = d.title || ' > '))" \
    " AND EXISTS (SELECT 1 FROM chunks h WHERE h.document_id = d.id AND h.heading_path <> ''"                \
    " AND h.heading_path <> d.title AND substr(h.heading_path, 1, length(d.title) + 3) <> d.title || ' > '))" \
    " THEN '' ELSE d.title END)"
#define STORE_PATH_BYTES 4200

struct store_stmt {
    const char *sql;           /* static string; compared by pointer */
    struct sqlite3_stmt *stmt; /* prepared once (persistent), reset after each use */
};

/* One store. Every field is guarded by mu, except the constants set at open (data_dir, vec_path,
 * ann_threshold, ann_kind, read_only, reembed_background). */
struct index_store {
    struct sqlite3 *db;
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
    struct text_dict *dict;           /* query segmenter's word list (search.c loads it at the first
                                       * search naming dict_path); owned; NULL = none */
    char dict_path[STORE_PATH_BYTES]; /* the path dict was (or failed to be) read from; "" none tried */
    /* the full-text index's word list (fts_tok.c): path ("" = the index holds no dictionary words),
     * the list once read (at the first CJK text; owned; NULL = not yet or unreadable), and the
     * identity of the index's tokens (meta 'tokenizer'; set at open by fts_tok_setup) */
    char tok_dict_path[STORE_PATH_BYTES];
    struct text_dict *tok_dict;
    bool tok_dict_tried;
    int tok_stem;                     /* FTS_STEM_*: how the index folds Latin words (fts_tok.c) */
    char tok_id[96];
    struct store_stmt stmts[STORE_N_STMT];
    int n_stmts;
    struct pg_sync *pg;               /* store.backend = postgres: the sync (index/pg.h); NULL = SQLite
                                       * alone. Set once at open, before any other thread sees st */
    struct reembed_pg *reembed_pg;    /* the shared re-embedding's claiming connection (reembed_pg.c);
                                       * owned; used by the stepping thread only; NULL until needed */
    void (*on_handoff)(void *ctx, int64_t handoff_id); /* index_store_on_handoff (pg_handoff.c's hook_mu) */
    void *on_handoff_ctx;
};

/* fts_tok.c: the FTS5 tokenizer with dictionary words (see its top comment). fts_tok_setup fixes the
 * store's list (dict_path: NULL or "" = none; a file that does not exist counts as none), whether
 * and how Latin words are folded (stem: FTS_STEM_*) and tok_id;
 * fts_tok_dict reads the list at its first call (NULL when none or unreadable); fts_tok_tokenize is
 * what the "kbox" FTS5 tokenizer runs; fts_tok_release frees the list. All under the store's mutex. */
enum { FTS_STEM_NONE, FTS_STEM_PLURAL, FTS_STEM_ENGLISH }; /* text_stem_plural, text_stem_english */
void fts_tok_setup(struct index_store *st, const char *dict_path, int stem);
/* The form of the folded Latin token t[0..n) in the full-text index (its plural folded, or its English
 * stem, as the store stems, fts_tok.c); in place, returns the new length. */
size_t fts_tok_stem(const struct index_store *st, char *t, size_t n);
const struct text_dict *fts_tok_dict(struct index_store *st);
int fts_tok_tokenize(struct index_store *st, const char *text, size_t n, bool for_query, index_token_fn fn,
                     void *ud);
void fts_tok_release(struct index_store *st);

void store_lock(struct index_store *st);
void store_unlock(struct index_store *st);
struct vec_index *store_vectors(struct index_store *st);          /* borrowed; NULL without embedder */
const struct index_embedder *store_embedder(struct index_store *st);

/* ---- store.c: SQLite glue for the store*.c files (lock held) ------------------------------------ */

typedef struct fts5_api fts5_api; /* SQLite's, named without including sqlite3.h */
/* Registers the FTS5 auxiliary function kbox_bm25 (store_search.c) on st's connection. */
int store_register_ranker(struct index_store *st, fts5_api *api, struct kb_error *err);

/* Maps a SQLite result code to KB_E* with "database: what: sqlite message" in err. */
int store_fail(struct index_store *st, struct kb_error *err, int src, const char *what);
/* A cached prepared statement, reset and unbound; NULL on error (err set). */
struct sqlite3_stmt *store_prep(struct index_store *st, const char *sql, struct kb_error *err);
int store_exec(struct index_store *st, const char *sql, struct kb_error *err);
int store_begin(struct index_store *st, struct kb_error *err);      /* BEGIN IMMEDIATE (writable only) */
int store_end(struct index_store *st, int rc, struct kb_error *err); /* COMMIT when rc == 0, else ROLLBACK */
int store_step_done(struct index_store *st, struct sqlite3_stmt *s, const char *what, struct kb_error *err);
const char *store_col_str(struct sqlite3_stmt *s, int i, struct kb_arena *a); /* arena copy; "" for NULL */
int64_t store_now_s(void);
int64_t store_default_collection(struct index_store *st);

/* ---- store_docs.c: document internals store_mirror.c shares (lock held; inside a transaction) ---- */

/* One set of chunk vectors to store with the chunks: n x e->dim floats. */
struct store_vecset {
    const struct index_embedder *e; /* NULL: none */
    const float *x;
};
/* Appends the chunk ids of a document to *ids (kb_xrealloc'd). */
int store_doc_chunk_ids(struct index_store *st, int64_t doc_id, int64_t **ids, int64_t *n, int64_t *cap,
                        struct kb_error *err);
/* Deletes FTS rows, embeddings and chunks of a document. */
int store_doc_clear_chunks(struct index_store *st, int64_t doc_id, struct kb_error *err);
/* Inserts chunks, FTS rows and vectors; ids (nullable) gives each chunk's id, else AUTOINCREMENT does;
 * new_ids[n] gets them. */
int store_insert_chunks(struct index_store *st, int64_t doc_id, const struct index_chunk *chunks, int n,
                        const struct store_vecset *vs, int n_vs, const int64_t *ids, int64_t *new_ids,
                        struct kb_error *err);
/* Writes originals/<sha of data> (tmp + fsync + rename) unless present; sha gets the hex digest. */
int store_original_put(struct index_store *st, const void *data, size_t n, char sha[65], struct kb_error *err);
void store_original_gc(struct index_store *st, const char *sha); /* after a commit: unlink when unnamed */
/* Deletes the documents sel_sql (?1 = key) selects, with all they own, in one transaction; updates
 * the FAISS cache and removes unnamed originals. */
int store_delete_docs(struct index_store *st, const char *sel_sql, int64_t key, int64_t *n_deleted,
                      struct kb_error *err);
/* Deletes collection id's curated answers (and their versions), handoff settings and row, in one transaction; its
 * documents must be gone already (store_delete_docs). KB_ENOENT when there is no such collection.
 * The caller holds the store lock. */
int store_collection_drop(struct index_store *st, int64_t id, struct kb_error *err);

/* ---- store_copy.c and pg.c: whole objects as `kbox store migrate` (migrate.c) copies them -------- */

/* One collection row. */
struct copy_coll {
    int64_t id;
    const char *name; /* arena */
    int64_t created_at; /* unix s */
};
/* One stored vector: the raw little-endian float32 bytes of one (chunk, embedder) row. */
struct copy_vec {
    int64_t chunk_id;
    const char *embedder_id; /* arena */
    const void *data;        /* arena; n_bytes */
    int n_bytes;
};
/* A document with everything it owns, ids included (every pointer in the reader's arena). */
struct copy_doc {
    bool found;
    struct index_doc doc;    /* every column; has_original: the original of doc.sha256 is stored */
    int64_t created_at;      /* unix s */
    int n_chunks;
    int64_t *chunk_ids;      /* n_chunks, by ordinal */
    struct index_chunk *chunks; /* n_chunks, by ordinal */
    int n_vecs;
    struct copy_vec *vecs;   /* sorted by (chunk_id, embedder_id) */
};
/* Row counts of one store, for the check after a migration. */
struct copy_counts {
    int64_t n_collections, n_documents, n_chunks, n_vectors;
};
/* Sorts vecs by (chunk_id, embedder_id) so both backends list them alike (store_copy.c). */
void copy_sort_vecs(struct copy_vec *v, int n);

/* store_copy.c (takes the lock itself) */
int store_copy_collections(struct index_store *st, struct kb_arena *a, struct copy_coll **out, int *n,
                           struct kb_error *err);
/* Inserts (or renames/redates) collection c under its id. KB_ECONFLICT when another id has the name. */
int store_copy_collection_put(struct index_store *st, const struct copy_coll *c, struct kb_error *err);
int store_copy_doc_ids(struct index_store *st, int64_t **ids, int64_t *n, struct kb_error *err); /* sorted; caller frees */
int store_copy_doc_read(struct index_store *st, int64_t id, struct kb_arena *a, struct copy_doc *out,
                        struct kb_error *err);
/* Writes d (absent before) with its ids in one transaction; the original goes in first (data may be NULL). */
int store_copy_doc_write(struct index_store *st, const struct copy_doc *d, const void *original, size_t original_bytes,
                         struct kb_error *err);
int store_copy_original_read(struct index_store *st, const char *sha, void **data, size_t *n, struct kb_error *err);
int store_copy_counts(struct index_store *st, struct copy_counts *out, struct kb_error *err);
/* meta 'migrate_from': the --from of a migration into this store not yet verified ("" none);
 * from NULL clears it. */
void store_copy_marker_get(struct index_store *st, char *buf, size_t buf_bytes);
int store_copy_marker_set(struct index_store *st, const char *from, struct kb_error *err);
/* When meta names no embedder: names the one with the most stored vectors (none: nothing). */
int store_copy_name_embedder(struct index_store *st, struct kb_error *err);

/* ---- store.c: the queries vcache.c and reembed.c use (lock held unless said) -------------------- */

void store_meta_get(struct index_store *st, const char *key, char *buf, size_t buf_bytes); /* "" if absent */
int store_meta_set(struct index_store *st, const char *key, const char *value, struct kb_error *err);
int store_data_version(struct index_store *st); /* PRAGMA data_version; -1 on error */
int64_t store_n_chunks(struct index_store *st);                           /* -1 on error */
int64_t store_n_vectors(struct index_store *st, const char *embedder_id); /* -1 on error */
int64_t store_n_missing(struct index_store *st, const char *embedder_id); /* chunks without its vector */
/* Sorted chunk ids that have a vector of the serving embedder. Caller frees *ids. */
int store_embedding_ids(struct index_store *st, int64_t **ids, int64_t *n, struct kb_error *err);
/* One page of e's vectors by chunk id: ids above *last and divisible by stride, at most limit rows.
 * Well-formed rows go to x (limit x dim) and, when ids is not NULL, their ids to ids; *n_ok counts
 * them, *n_rows counts every row read, and *last moves to the last id read. A malformed row is
 * skipped (and logged when warn). With `unlocked` the mutex is taken for this page only. */
int store_vector_page(struct index_store *st, const struct index_embedder *e, bool unlocked, int64_t *last,
                      int64_t stride, int64_t limit, bool warn, int64_t *ids, float *x, int64_t *n_rows,
                      int64_t *n_ok, struct kb_error *err);
/* Stores n vectors of e for chunks that still exist, in one transaction; *n_put counts rows written. */
int store_put_vectors(struct index_store *st, const struct index_embedder *e, const int64_t *ids, int n,
                      const float *x, int64_t *n_put, struct kb_error *err);
/* Up to `batch` chunks with id > after lacking a vector of embedder_id, by id: ids[] and their embed
 * texts (caller frees each texts[i]). */
int store_missing_batch(struct index_store *st, const char *embedder_id, int64_t after, int batch, int64_t *ids,
                        char **texts, int *n_out, struct kb_error *err);
/* In one transaction: when every chunk has a vector of keep_id, deletes the other embedders'
 * vectors and (name_in_meta) names keep_id in meta; *complete false (nothing changed) when some
 * chunk lacks one. With require_complete false the vectors are deleted regardless. */
int store_keep_vectors_of(struct index_store *st, const char *keep_id, bool require_complete, bool name_in_meta,
                          bool *complete, struct kb_error *err);

/* ---- vcache.c: the FAISS-cache policy (lock held unless said) ----------------------------------- */

enum vec_kind vcache_wanted_kind(const struct index_store *st, int64_t n);
const char *vcache_kind_name(enum vec_kind k);
/* Builds a FAISS index of every stored vector of e; `unlocked`: the lock is taken per page only. */
int vcache_build(struct index_store *st, const struct index_embedder *e, bool unlocked, struct vec_index **out,
                 struct kb_error *err);
int vcache_rebuild(struct index_store *st, struct kb_error *err); /* st->vec from SQLite, for st->serve */
int vcache_open(struct index_store *st, struct kb_error *err);    /* at open: trust the sidecar or rebuild */
/* Brings the FAISS cache up to date with SQLite (other connections' commits, HNSW tombstones). */
int vcache_sync(struct index_store *st, struct kb_error *err);
/* After a commit: removes del ids and adds n_add vectors x under add ids; rebuilds on failure. */
void vcache_apply(struct index_store *st, const int64_t *del, int64_t n_del, const int64_t *add, const float *x,
                  int64_t n_add);

/* ---- reembed.c ------------------------------------------------------------------------------------ */

/* At open (lock not needed yet): which vectors are searched, whether a re-embedding is pending,
 * and the synchronous re-embedding when the store is not set up for background work. */
int reembed_open(struct index_store *st, struct kb_error *err);
/* After a store following PostgreSQL caught up at open: starts the re-embedding bookkeeping when
 * chunks lack the configured embedder's vectors (the database had none of them). Takes the lock. */
void reembed_recheck(struct index_store *st);

/* ---- store_search.c: helpers for search.c (lock held unless said) ------------------------------- */

struct store_cand {
    int64_t chunk_id;
    double bm25;      /* higher is better */
    double vector;    /* inner product */
    int bm25_rank, vector_rank;
    double score;
};

/* The BM25 parameters of one query (store_search.c's kbox_bm25). */
struct store_rank {
    double k1, b;
    double heading_weight; /* BM25F weight of the heading_path column against the text's 1 */
    const double *weight; /* borrowed; one per phrase of the FTS5 expression, in order; NULL = all 1 */
    int n_weight;
};

/* BM25 candidates for an already-built FTS5 expression, best first (ties by chunk id). */
int store_bm25(struct index_store *st, const char *fts_expr, const struct store_rank *r, int64_t collection_id,
               int64_t document_id, int limit, struct store_cand *out, int *n_out, struct kb_error *err);
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
/* Term statistics for the built-in embedder's queries (FTS5 vocabulary); the lock is held while
 * out is used. */
void store_term_stats(struct index_store *st, struct index_term_stats *out);

#endif
