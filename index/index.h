/* index/index.h: kbox's knowledge store and retrieval: the manual of the index module.
 *
 * What lives here
 * - A SQLite database `<data_dir>/kbox.db` (WAL, schema version in `PRAGMA user_version`) that is the
 *   single source of truth: collections, documents, chunks (with their pages and, for a chunk that
 *   spans pages, a page map: index_page_at gives the page of any byte), one embedding per chunk and embedder
 *   (the embedder whose set is complete is recorded; a second set exists only while re-embedding),
 *   and an FTS5 index over chunk text and heading path that uses kbox's own tokenizer (case folding
 *   and diacritic removal for Latin scripts; overlapping bigrams plus single characters for Han,
 *   Kana and Hangul).
 * - A FAISS index (`<data_dir>/vectors.faiss`) that is only a cache of the embeddings in SQLite:
 *   exact inner product (IDMap2 over Flat) up to cfg->index_ann_threshold vectors, an approximate
 *   index above it, chosen by cfg->index_ann: IVF (the default: about sqrt(n) lists trained on a
 *   sample spread over the ids, 24 probed) or HNSW (IDMap2,HNSW32: better recall, but with Debian's
 *   FAISS (no SIMD) its build took 330 s for 20k 512-d vectors on the 2-core target where IVF
 *   trains through BLAS in seconds; deletions become tombstones until the next rebuild). The kind
 *   is chosen when the cache is (re)built: at open, and before a save once the count has crossed
 *   the threshold. FAISS ids are chunk row ids. On open, a missing, corrupt, half-written or stale
 *   file, one of another kind than the config asks for, or a changed embedder, is rebuilt from
 *   SQLite (and logged with kb_warn). A changed embedder is re-embedded at open or, for rag/, in
 *   the background while search uses the old vectors (index_reembed_step).
 * - Originals: the uploaded file bytes are kept as `<data_dir>/originals/<sha256>` (content
 *   addressed, written atomically; a document row names its file by sha256). Files are removed when
 *   the last document that names them is deleted. A crash can leave an unreferenced file, never a
 *   row without its file.
 * - The conversation log (store_log.c, schema v4): conversations, messages, feedback and review
 *   state, with per-day rollups kept by triggers for the statistics.
 * - The embedder interface (struct index_embedder) and the built-in hashed embedder.
 * - Hybrid search: BM25 from FTS5 and vector search from FAISS fused by reciprocal rank fusion or a
 *   weighted sum, with optional MMR diversity, filtered by collection or document.
 *
 * - With store.backend = postgres (index_open_opts.pg_url), PostgreSQL is the source of truth and
 *   the SQLite database and FAISS file in data_dir are this node's cache of it, kept equal by a sync
 *   thread that follows PostgreSQL's change log (index/pg.c, pg_sync.c, store_mirror.c): the write
 *   functions below commit to PostgreSQL first (KB_EBUSY while it is unreachable) and then apply
 *   the change to the cache, reads and searches use the cache only. Ids (documents, chunks) are
 *   PostgreSQL's, so every node returns the same hits. Not yet followed: the re-embedding's
 *   vectors (index_reembed_step writes the cache only).
 *
 * Atomicity: index_doc_replace() writes a document's row, chunks, FTS rows and embeddings in one
 * SQLite transaction, so a kill -9 leaves the old or the new version, never a mix. The in-memory
 * FAISS index follows SQLite: own writes are applied after the commit; writes by other connections or
 * processes are noticed through `PRAGMA data_version` at the next search and synced by id diff.
 *
 * Threads: a store handle may be shared by threads; every call takes the handle's mutex. Several
 * handles (threads or processes) may use the same data_dir: SQLite serialises writers (busy timeout
 * 10 s) and readers see committed snapshots.
 *
 * Output memory: functions that return strings or arrays take a caller's `struct kb_arena` and
 * allocate there; results are borrowed until the caller releases that arena.
 *
 * Tests: tests/index/. Bench: bench/bench_index.c. */
#ifndef KB_INDEX_INDEX_H
#define KB_INDEX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"

struct index_store; /* opaque; one SQLite connection + the FAISS cache; thread-safe (mutex) */

/* ---- embedders ---------------------------------------------------------------------------------- */

struct text_dict; /* text/text.h */

/* Knowledge-base term statistics handed to embed_query (built-in embedder only). */
struct index_term_stats {
    /* Inverse document frequency of one folded token (as the FTS tokenizer emits it), >= 0. */
    double (*idf)(void *ud, const char *term, size_t term_bytes);
    void *ud; /* borrowed; valid during the embed_query call */
    /* The word list questions are segmented with, for rag/'s answer scoring (which words of a
     * question only ask "how long"); the index ignores it. Borrowed; NULL = none. */
    const struct text_dict *dict;
};

/* Turns texts into L2-normalised float vectors. GGUF embedders from infer/ plug in here via rag/. */
struct index_embedder {
    const char *id; /* stable name stored with every vector, e.g. "kbox-hash-v2-d512"; borrowed */
    int dim;        /* vector dimension, > 0 */
    /* Embeds n texts (NUL-terminated UTF-8) as documents into out[n*dim]. 0 or KB_E*.
     * Must be thread-safe if the caller embeds from several threads. */
    int (*embed)(void *ud, const char *const *texts, int n, float *out, struct kb_error *err);
    /* Optional: embeds one query with knowledge-base statistics into out[dim]. NULL: embed() is used.
     * stats may be NULL (no statistics yet). */
    int (*embed_query)(void *ud, const char *text, const struct index_term_stats *stats, float *out,
                       struct kb_error *err);
    void *ud; /* embedder state; owned by whoever created the embedder */
    /* The vectors hash the text's own terms (the built-in embedder), so they restate much of BM25's
     * evidence rather than add a second view: hybrid fusion trusts them less for CJK queries, whose
     * hashed character n-grams are BM25's own characters and pairs (search.c, fuse_vector_weight).
     * false (a zeroed or designated initialiser) for a model embedder. */
    bool lexical;
};

/* The built-in embedder: hashed word, word-bigram and character n-gram features (CJK character
 * 1-3-grams), sublinear TF for documents, TF x IDF for queries, signed hashing into `dim` dims, L2
 * norm. Deterministic across runs and machines. dim in [16, 65536] (cfg->embed_dim).
 * Caller owns *out; free with index_embedder_builtin_free(). */
int index_embedder_builtin_new(struct index_embedder **out, int dim, struct kb_error *err);
void index_embedder_builtin_free(struct index_embedder *e); /* NULL ok */

/* ---- opening ------------------------------------------------------------------------------------ */

/* The approximate vector index used above ann_threshold (cfg->index_ann). */
enum index_ann { INDEX_ANN_IVF, INDEX_ANN_HNSW };

struct index_open_opts {
    const char *data_dir;        /* directory for kbox.db, vectors.faiss, originals/; created; borrowed */
    const struct index_embedder *embedder; /* borrowed for the store's life; NULL: no vectors (BM25 only) */
    int64_t ann_threshold;      /* vectors above which the approximate index is used
                                    (cfg->index_ann_threshold); <= 0 means 200000 */
    enum index_ann ann;          /* which approximate index (cfg->index_ann); 0 is IVF */
    bool read_only;              /* open the database read-only (no migration, no vector file writes) */
    /* When the stored vectors come from another embedder than `embedder` (embed.model changed):
     * - reembed_in_background false: every chunk is re-embedded inside index_store_open();
     * - true: the store opens at once and keeps searching the old vectors, queried with the
     *   embedder of prev_embedders whose id matches them (none matches: BM25 only), until the
     *   caller has run index_reembed_step() to completion. */
    bool reembed_in_background;
    const struct index_embedder *const *prev_embedders; /* borrowed for the store's life; nullable */
    int n_prev_embedders;                              /* 0..INDEX_MAX_PREV_EMBEDDERS */
    /* store.backend = postgres: PostgreSQL (pg_url) is the source of truth and data_dir holds this
     * node's cache of it, followed by a sync thread (index/pg_sync.c); writes go to PostgreSQL
     * first and fail with KB_EBUSY while it is unreachable; searches read the cache only.
     * NULL: SQLite alone; "" is refused (KB_ECONFIG). All borrowed during index_store_open(). */
    const char *pg_url;
    const char *pg_password_file; /* "" or NULL: libpq's sources (PGPASSWORD, ~/.pgpass) */
    int pg_poll_s;                /* seconds between change-log polls; <= 0 means 2 */
    int64_t pg_rebuild_lag;       /* changes behind above which the cache is rebuilt; <= 0: 100000 */
    /* The word list whose words of three or more characters the full-text index also holds for CJK
     * text (cfg->index_segment_dict when cfg->index_cjk_index_words, else NULL; index/fts_tok.c);
     * NULL, "" or a missing file: none. Changing it re-indexes the full-text index at the next
     * writable open. Borrowed during index_store_open(). */
    const char *segment_dict;
    /* true: the full-text index keeps English plurals as written (cfg->index_stem_plurals false);
     * false, the default of a zeroed struct: they are folded to the singular (index/fts_tok.c).
     * Changing it re-indexes the full-text index at the next writable open. */
    bool no_stem;
    /* With stemming (no_stem false): true stems English words with Snowball's English stemmer
     * (text_stem_english: "connected" -> "connect") instead of folding plurals only
     * (cfg->index_stem_english; off by default, measured in docs/BENCHMARKS.md 2026-12-07). Changing
     * it re-indexes the full-text index at the next writable open. */
    bool stem_english;
};
#define INDEX_MAX_PREV_EMBEDDERS 8
/* Fills opts from cfg (data_dir = cfg->data_dir, ann_threshold, ann); embedder stays NULL. */
void index_open_opts_from_config(struct index_open_opts *o, const struct config *cfg);

/* How far this node's cache is behind PostgreSQL (store.backend = postgres; zeros otherwise). */
struct index_sync_status {
    bool enabled;          /* the store follows PostgreSQL */
    bool connected;        /* the last exchange with PostgreSQL succeeded */
    int64_t applied_seq;   /* last change-log sequence applied to the local cache */
    int64_t head_seq;      /* last sequence seen in PostgreSQL */
    int64_t lag_seq;       /* head_seq - applied_seq */
    double lag_s;          /* seconds since the oldest change not yet applied committed; 0 caught up */
    double since_contact_s; /* seconds since PostgreSQL last answered */
    char error[256];       /* the last sync error, "" when none */
    int64_t spooled;       /* answers logged while PostgreSQL was unreachable, not yet sent (at most 10000) */
};
int index_store_sync_status(struct index_store *st, struct index_sync_status *out);

/* Agents' presence shared across nodes (store.backend = postgres; index/pg_nodes.c). Neither call
 * waits for PostgreSQL: set hands this node's list to the sync thread's next heartbeat (within a
 * few seconds), remote reads the other nodes' agents as of its last heartbeat (none when that is
 * older than 10 s, or without PostgreSQL). */
#define INDEX_PRESENCE_MAX 64
struct index_presence {
    char actor[200];       /* who (web/'s actor string) */
    char collections[512]; /* the collections the agent may see; "" all */
};
void index_presence_set(struct index_store *st, const struct index_presence *p, int n); /* copies p */
int index_presence_remote(struct index_store *st, struct index_presence *out, int max); /* count into out */

/* Opens or creates the store, migrates the schema, loads or rebuilds the vector cache.
 * Errors: KB_EIO (cannot create/open), KB_ECORRUPT (not a kbox database, or a newer schema).
 * Caller owns *out; close with index_store_close(), which also saves the vector file. */
int index_store_open(struct index_store **out, const struct index_open_opts *opts, struct kb_error *err);
void index_store_close(struct index_store *st); /* NULL ok */
/* Writes the vector cache file now (atomically), if it changed. index_store_close() does this too. */
int index_store_save_vectors(struct index_store *st, struct kb_error *err);
int index_store_schema_version(struct index_store *st); /* PRAGMA user_version */

/* ---- backups (store_backup.c; cli/cmd_backup.c drives them) ------------------------------------ */

/* What a database copy holds. */
struct index_backup_info {
    int schema_version;    /* PRAGMA user_version */
    int64_t n_collections;
    int64_t n_documents;
    int64_t n_chunks;
    char **sha256;         /* distinct originals the documents name (lowercase hex), sorted; arena-owned */
    int n_sha256;
};
/* Copies the database file src_db into dest_db through SQLite's online backup API: one consistent
 * snapshot even while another connection or process writes (WAL). Written as dest_db.tmp, synced and
 * renamed. No index_store needed. KB_ENOENT (no src_db), KB_EIO, KB_ENOSPC, KB_EBUSY. */
int index_backup_copy(const char *src_db, const char *dest_db, struct kb_error *err);
/* Checks a database file (read-only): PRAGMA integrity_check, then fills info (strings in a).
 * KB_ENOENT, KB_ECORRUPT naming the first problem. */
int index_backup_verify(const char *db_path, struct kb_arena *a, struct index_backup_info *info,
                        struct kb_error *err);

/* ---- moving a whole store between backends (migrate.c; cli `kbox store migrate`) ----------------- */

struct index_migrate_opts {
    const char *from;          /* "sqlite:PATH" (a data directory, or its kbox.db) or "postgres:URL"; borrowed */
    const char *to;            /* the same forms; a SQLite target is created when absent; borrowed */
    const char *password_file; /* for a postgres side; NULL or "": libpq's usual sources; borrowed */
    /* Called after each document copied (nullable), with documents in the target so far and in the
     * source. Tests kill the process here to check that a rerun finishes the copy. */
    void (*progress)(void *ud, int64_t done, int64_t total);
    void *progress_ud;
};
struct index_migrate_report {
    int64_t n_collections, n_documents, n_chunks, n_vectors; /* rows in the target, equal to the source's */
    int64_t n_originals;   /* documents whose original file is stored (in both) */
    int64_t n_copied;      /* documents this run copied */
    int64_t n_present;     /* documents an earlier (interrupted) run had copied already */
    char checksum[65];     /* SHA-256 (hex) over every document's digest in id order, equal on both sides */
    bool verified;         /* counts and every document's digest were compared equal */
    int64_t n_rows;        /* rows of the log, curated answers, accounts, audit and bots in the target
                              (counts and digests compared equal per table) */
    int64_t n_rows_copied; /* of those, written by this run */
};
/* Copies every collection, document (with its original), chunk and vector from o->from to o->to
 * under the same ids, one transaction per document, then verifies counts and digests (migrate.c
 * says what a digest covers). Rerunning after an interruption copies only what is missing.
 * Errors: KB_EINVAL (malformed --from/--to), KB_ENOENT (no store at the source), KB_EBUSY
 * (postgresql unreachable, a bad URL), KB_ECONFLICT (the target holds data that is not the
 * source's: nothing was written), KB_ECORRUPT (verification failed: the source changed meanwhile).
 * The conversation log, curated answers, accounts, audit and bots are copied and verified too
 * (index/pg_migrate_rows.c); jobs are not. */
int index_store_migrate(const struct index_migrate_opts *o, struct index_migrate_report *r, struct kb_error *err);

/* ---- embedder changes ----------------------------------------------------------------------------- */

/* Where the vectors stand. Strings are copies. */
struct index_reembed_status {
    char embedder_id[128]; /* the configured embedder ("" without one) */
    char stored_id[128];   /* the embedder whose vectors are complete (meta), "" before any */
    char search_id[128];   /* the embedder search uses now; "" = BM25 only */
    bool pending;          /* a re-embedding with the configured embedder is unfinished */
    int64_t n_done;        /* chunks that have a vector of the configured embedder */
    int64_t n_total;       /* chunks */
};
int index_reembed_status(struct index_store *st, struct index_reembed_status *out);
/* One step of a pending re-embedding: embeds up to `batch` chunks that lack a vector of the
 * configured embedder (one embed() call, outside the store's lock: searches and writes go on)
 * and stores them; when none is left, switches atomically: builds the new FAISS index, then in one
 * transaction deletes the other embedders' vectors and records the new embedder, and swaps the
 * index under the lock. *finished is true once nothing is pending. progress (nullable) is filled
 * after the step. Call from one thread at a time. KB_E* from embedding or the database. */
int index_reembed_step(struct index_store *st, int batch, struct index_reembed_status *progress, bool *finished,
                       struct kb_error *err);
/* Changes the configured embedder at run time (all borrowed for the store's life, like the open
 * options; the embedder searched so far must stay valid too). Starts a pending re-embedding unless
 * the stored vectors already come from emb. KB_EINVAL, KB_EFORBIDDEN (read-only). */
int index_store_set_embedder(struct index_store *st, const struct index_embedder *emb,
                             const struct index_embedder *const *prev, int n_prev, struct kb_error *err);

/* ---- collections -------------------------------------------------------------------------------- */

#define INDEX_DEFAULT_COLLECTION "default" /* always exists; cannot be deleted */

struct index_collection {
    int64_t id;
    const char *name;   /* arena-owned */
    int64_t created_at; /* unix seconds */
    int64_t n_docs;     /* documents in it */
};
/* Errors: KB_EINVAL (empty name or > 200 bytes), KB_ECONFLICT (name taken). */
int index_collection_create(struct index_store *st, const char *name, int64_t *id_out, struct kb_error *err);
int index_collection_find(struct index_store *st, const char *name, int64_t *id_out, struct kb_error *err); /* KB_ENOENT */
int index_collection_list(struct index_store *st, struct kb_arena *a, struct index_collection **out, int *n_out,
                          struct kb_error *err);
int index_collection_rename(struct index_store *st, int64_t id, const char *name, struct kb_error *err);
/* Deletes the collection with all its documents (chunks, FTS rows, vectors) in one transaction.
 * KB_EFORBIDDEN for the default collection, KB_ENOENT if absent. */
int index_collection_delete(struct index_store *st, int64_t id, struct kb_error *err);

/* ---- documents ---------------------------------------------------------------------------------- */

enum index_doc_status { INDEX_DOC_QUEUED, INDEX_DOC_PARSING, INDEX_DOC_INDEXED, INDEX_DOC_FAILED };
const char *index_doc_status_name(enum index_doc_status s); /* "queued", "parsing", "indexed", "failed" */

/* A document row. As input, NULL strings mean "" (unset). As output, strings are arena-owned. */
struct index_doc {
    int64_t id;            /* row id; 0 on input = find by (collection, path) or external_id, else new */
    int64_t collection_id; /* 0 on input = the default collection */
    const char *name;      /* display name, usually the file name */
    const char *path;      /* original path as ingested (key for incremental ingest) */
    const char *mime;      /* media type, e.g. "application/pdf" */
    int64_t bytes;         /* size of the original file */
    char sha256[65];       /* lowercase hex of the original's SHA-256, or "" */
    int64_t mtime;         /* original file's modification time, unix seconds */
    enum index_doc_status status;
    const char *error;     /* why it failed (status failed), else "" */
    int64_t ingested_at;   /* unix seconds of the last successful replace (output only) */
    const char *external_id; /* id in an eval corpus or an external system, or "" */
    const char *title;     /* document title, or "" */
    bool has_original;     /* output: originals/<sha256> exists for this row */
    int64_t n_chunks;      /* output only */
};

/* One chunk to store. Strings are copied. */
struct index_chunk {
    const char *text;         /* UTF-8 chunk text; required */
    const char *heading_path; /* e.g. "Manual > Setup > Wi-Fi", or NULL */
    int page_start, page_end; /* 1-based pages, 0 when the format has no pages */
    int64_t off_start, off_end; /* byte offsets of the chunk in the extracted text */
    int n_tokens;             /* estimated tokens */
    const char *page_map;     /* page changes inside text, "off:page,..." (ingest_chunk.page_map), or
                                 NULL / "" when the chunk sits on page_start alone */
};

/* The text a chunk is embedded from: its context (index_chunk_context(), joined to the heading path
 * by " > "), the heading path, a newline, then the text (just the text when both are empty).
 * Caller frees. */
char *index_chunk_embed_text(const struct index_chunk *c, const char *context);

/* Document context, each chunk's third full-text field: the document's title, so that a question
 * naming a document ("Globex's return window") finds its chunks although their sections never
 * repeat the name. BM25 reads it as the root of the heading path (store_search.c).
 * index_doc_context: title, or "" when there is none or when the title is one section heading
 * beside others (a document without a title of its own takes its first heading: "1. Introduction"
 * beside "2. Brakes" names a section, not the document); STORE_DOC_CONTEXT_SQL is the same rule in
 * SQL. index_chunk_context: doc_context, or "" when the chunk's heading path already starts with it
 * (a Markdown title heading, or an eval row whose title is its heading path). */
const char *index_doc_context(const char *title, const struct index_chunk *chunks, int n);
const char *index_chunk_context(const char *doc_context, const char *heading_path);

/* Creates a document row (status from doc->status, usually queued) without chunks. */
int index_doc_create(struct index_store *st, const struct index_doc *doc, int64_t *id_out, struct kb_error *err);
/* Sets status and error text (NULL = ""). KB_ENOENT if absent. */
int index_doc_set_status(struct index_store *st, int64_t id, enum index_doc_status s, const char *error,
                         struct kb_error *err);
/* Replaces a document in ONE transaction: its metadata (status becomes indexed, ingested_at now), all
 * its chunks, their FTS rows and embeddings.
 * - Target row: doc->id if > 0; else the row with the same (collection, path) when path is
 *   non-empty; else the same (collection, external_id) when external_id is non-empty; else a new row.
 *   collection_id 0 keeps an existing row's collection (the default collection for a new row).
 * - vectors: n_chunks x embedder dim, L2-normalised, from the store's embedder applied to
 *   index_chunk_embed_text(); NULL makes the store embed the chunks itself (embedding happens before
 *   the lock, so several threads may replace in parallel). Ignored when the store has no embedder.
 * - original (nullable, original_bytes long) is saved as originals/<sha256> first and its SHA-256 is
 *   the one recorded; otherwise doc->sha256 is recorded.
 * Errors: KB_EINVAL, KB_ENOENT (doc->id absent), KB_ENOSPC (disk full: rolled back), KB_EIO, KB_EBUSY. */
int index_doc_replace(struct index_store *st, const struct index_doc *doc, const struct index_chunk *chunks,
                      int n_chunks, const float *vectors, const void *original, size_t original_bytes,
                      int64_t *id_out, struct kb_error *err);
int index_doc_get(struct index_store *st, int64_t id, struct kb_arena *a, struct index_doc *out,
                  struct kb_error *err); /* KB_ENOENT */
/* For incremental ingest: KB_ENOENT when absent. collection_id 0 = default. */
int index_doc_find_by_path(struct index_store *st, int64_t collection_id, const char *path, struct kb_arena *a,
                           struct index_doc *out, struct kb_error *err);
int index_doc_find_by_sha256(struct index_store *st, int64_t collection_id, const char *sha256_hex,
                             struct kb_arena *a, struct index_doc *out, struct kb_error *err);
/* Documents ordered by id; collection_id 0 = all collections. */
int index_doc_list(struct index_store *st, int64_t collection_id, struct kb_arena *a, struct index_doc **out,
                   int *n_out, struct kb_error *err);
/* Deletes the row, its chunks, FTS rows and embeddings in one transaction, then its original file if
 * no other row names it. KB_ENOENT if absent. */
int index_doc_delete(struct index_store *st, int64_t id, struct kb_error *err);
/* With store.backend = postgres: stores data (an upload not yet ingested) as the original with
 * SHA-256 sha (64 lowercase hex) in PostgreSQL before it returns, so the upload outlives this node and
 * any node can read it. With SQLite alone it does nothing (the ingestion job stores the original).
 * KB_EINVAL (bad sha), KB_EBUSY (PostgreSQL unreachable), KB_EIO. */
int index_original_put(struct index_store *st, const char *sha, const void *data, size_t n, struct kb_error *err);
/* The stored original's path (data_dir/originals/<sha>) into buf. KB_ENOENT if the file is absent. */
int index_doc_original_path(struct index_store *st, const char *sha256_hex, char *buf, size_t buf_bytes,
                            struct kb_error *err);

/* ---- shared ingestion jobs (store.backend = postgres; index/store_jobs.c) ------------------------------
 * With PostgreSQL every node's workers take jobs from one table: a claim is a row lock held by the
 * worker's own connection (SELECT ... FOR UPDATE SKIP LOCKED) until the job ends, so each job runs on
 * one node at a time, and a node that dies (kill -9) loses its connection and with it its claims: the
 * job is queued again for the other nodes. With SQLite there are no shared jobs (rag/ keeps its own). */
struct index_job {
    int64_t id;
    char kind[16];         /* "ingest" */
    int64_t document_id;
    char state[16];        /* "queued" (also while a node holds it), "done", "failed" */
    char node[128];        /* the node that ended it ("host:pid") */
    char error[256];
    bool doc_found;        /* false: the document was deleted meanwhile */
    int64_t collection_id;
    char name[768];
    char sha256[65];
    char path[4200];
};
enum index_job_end { INDEX_JOB_DONE, INDEX_JOB_FAILED, INDEX_JOB_RELEASE };
struct index_job_worker; /* one claiming connection; used by one thread */

bool index_jobs_shared(struct index_store *st); /* true with store.backend = postgres */
/* index_doc_create plus, in the same PostgreSQL transaction, an ingestion job for the document.
 * KB_EINVAL without PostgreSQL. */
int index_doc_create_job(struct index_store *st, const struct index_doc *doc, int64_t *doc_id, int64_t *job_id,
                         struct kb_error *err);
/* Sets the document queued again and queues a job for it (one transaction). KB_ENOENT, KB_EINVAL. */
int index_job_requeue(struct index_store *st, int64_t doc_id, int64_t *job_id, struct kb_error *err);
int index_job_worker_open(struct index_store *st, struct index_job_worker **out, struct kb_error *err);
void index_job_worker_close(struct index_job_worker *w); /* NULL ok; releases a claim still held */
/* Claims the oldest queued job no node holds. KB_ENOENT: none; KB_EBUSY: PostgreSQL unreachable (the
 * next call reconnects). One claim at a time per worker. */
int index_job_claim(struct index_job_worker *w, struct index_job *out, struct kb_error *err);
/* Ends the claimed job: done or failed (error) is recorded with this node's name; INDEX_JOB_RELEASE
 * gives it back to the queue. KB_EBUSY when the claim was lost (the job will run again elsewhere). */
int index_job_end(struct index_job_worker *w, int64_t id, enum index_job_end how, const char *error,
                  struct kb_error *err);
int index_job_get(struct index_store *st, int64_t id, struct index_job *out, struct kb_error *err); /* KB_ENOENT */
/* The newest max jobs of every node, newest first, into out (max entries). */
int index_job_list(struct index_store *st, int max, struct index_job *out, int *n_out, struct kb_error *err);
/* An original's bytes from PostgreSQL (caller frees *data). KB_ENOENT, KB_EINVAL without PostgreSQL. */
int index_original_get(struct index_store *st, const char *sha, void **data, size_t *n, struct kb_error *err);

/* A stored chunk, as read back. Strings arena-owned. */
struct index_chunk_row {
    int64_t id;          /* chunk row id = FAISS id */
    int64_t document_id;
    int ordinal;         /* 0-based position in the document */
    const char *text;
    const char *heading_path;
    int page_start, page_end;
    int64_t off_start, off_end;
    int n_tokens;
    const char *page_map; /* "off:page,..." page changes inside text, "" when none */
};
int index_doc_chunks(struct index_store *st, int64_t doc_id, struct kb_arena *a, struct index_chunk_row **out,
                     int *n_out, struct kb_error *err);

/* The page of byte off of a chunk's text: page_start, or the last page of page_map ("off:page,..."
 * as stored with the chunk; NULL or "" = none) whose offset is <= off. 0 when the chunk has no
 * pages. A malformed map ends where it stops parsing. Pure; for citations of a sentence at an
 * offset (rag/answer.c). */
int index_page_at(int page_start, const char *page_map, size_t off);
/* The same by chunk id, reading the stored row: *page gets the page (0 when none). KB_ENOENT when
 * no chunk has that id. */
int index_chunk_page_at(struct index_store *st, int64_t chunk_id, size_t off, int *page, struct kb_error *err);

/* ---- search ------------------------------------------------------------------------------------- */

enum index_mode { INDEX_MODE_HYBRID, INDEX_MODE_BM25, INDEX_MODE_VECTOR };
enum index_fusion { INDEX_FUSION_RRF, INDEX_FUSION_WEIGHTED };

struct index_search_opts {
    int top_k;              /* hits wanted, 1..1000 (cfg->index_top_k) */
    int64_t collection_id;  /* 0 = every collection */
    int64_t document_id;    /* 0 = every document */
    enum index_mode mode;
    enum index_fusion fusion;
    int rrf_k;              /* RRF constant (cfg->index_rrf_k, 60) */
    double vector_weight;   /* weighted fusion: share of the vector score, 0..1 */
    /* Weighted fusion with a lexical embedder (index_embedder.lexical): the share of vector_weight kept
     * for the CJK part of a query, 0..1 (cfg->index_lexical_cjk_trust); 0 in a zeroed struct takes
     * INDEX_LEXICAL_CJK_TRUST. */
    double lexical_cjk_trust;
    bool mmr;               /* diversify with maximal marginal relevance */
    double mmr_lambda;      /* 1 = pure relevance */
    bool evidence;          /* hybrid: sentence-evidence rerank of the first fused hits (search.c) */
    /* kbox's BM25 (store_search.c): term-frequency saturation k1 and length normalisation b
     * (cfg->index_bm25_k1, index_bm25_b), and the weight of a CJK query unigram against its pairs'
     * 1 (cfg->index_bm25_cjk_unigram_weight). bm25_k1 0 (a zeroed struct) takes INDEX_BM25_K1,
     * INDEX_BM25_B and INDEX_BM25_CJK_UNIGRAM_WEIGHT for all three. */
    double bm25_k1, bm25_b, bm25_cjk_unigram_weight;
    /* BM25F weight of a chunk's heading path (title and section headings) against its text's 1
     * (cfg->index_bm25_heading_weight; store_search.c); read with bm25_k1. */
    double bm25_heading_weight;
    /* CJK query segmentation (search.c): the word list (cfg->index_segment_dict; borrowed; NULL or ""
     * = none, and an unreadable file is logged once and treated as none) and the weight of a query
     * character pair that straddles two of its words (cfg->index_bm25_cjk_cross_pair_weight; only
     * read when bm25_k1 > 0, else INDEX_BM25_CJK_CROSS_PAIR_WEIGHT). */
    const char *segment_dict;
    double bm25_cjk_cross_pair_weight;
    /* The weight of a word of three or more characters of the query's cut, a phrase of its own when the
     * store's full-text index holds the same list's words (fts_tok.c); 0 = none
     * (cfg->index_bm25_cjk_word_weight; only read when bm25_k1 > 0, else INDEX_BM25_CJK_WORD_WEIGHT). */
    double bm25_cjk_word_weight;
    /* The weight of an English stop word of a query that has other terms (cfg->index_bm25_stop_word_weight;
     * only read when bm25_k1 > 0, else INDEX_BM25_STOP_WORD_WEIGHT); 0 leaves them out of the query. */
    double bm25_stop_word_weight;
};
/* k1 is the reference BM25's (../shared/eval/README.md) and Anserini's; b is a little below their 0.4,
 * chosen on ../shared/eval's dev splits (docs/BENCHMARKS.md): passages that answer are longer than
 * average (dureader_demo_zh's gold paragraphs 2.4x), which full length normalisation penalises. */
#define INDEX_BM25_K1 0.9
#define INDEX_BM25_B 0.3
#define INDEX_BM25_CJK_UNIGRAM_WEIGHT 1.0
#define INDEX_BM25_HEADING_WEIGHT 2.0 /* measured on ../shared/eval (docs/BENCHMARKS.md) */
#define INDEX_BM25_CJK_CROSS_PAIR_WEIGHT 0.5 /* measured on ../shared/eval (docs/BENCHMARKS.md) */
#define INDEX_BM25_CJK_WORD_WEIGHT 1.0 /* measured on ../shared/eval (docs/BENCHMARKS.md) */
#define INDEX_BM25_STOP_WORD_WEIGHT 0.0
/* weight of a letter or digit part of a query word mixing both ("fy2022" -> "2022"; search.c) */
#define INDEX_BM25_PART_WEIGHT 0.5
#define INDEX_LEXICAL_CJK_TRUST 0.4          /* measured on ../shared/eval (docs/BENCHMARKS.md) */
/* Fills from cfg: top_k, fusion ("rrf" or "weighted"), rrf_k, vector_weight, mmr, mmr_lambda, evidence,
 * the BM25 parameters;
 * hybrid mode, no filters. */
void index_search_opts_from_config(struct index_search_opts *o, const struct config *cfg);

#define INDEX_QUERY_MAX_BYTES 4096 /* longer queries are cut at a character boundary */

struct index_hit {
    int64_t chunk_id;
    int64_t document_id;
    int64_t collection_id;
    const char *doc_name;     /* arena-owned */
    const char *doc_title;    /* "" if none */
    const char *doc_path;
    const char *external_id;  /* "" if none */
    const char *heading_path; /* "" if none */
    const char *context;      /* the chunk's document context, "" if none (index_chunk_context) */
    const char *text;         /* the chunk text */
    int ordinal;
    int page_start, page_end; /* 0 when unknown */
    const char *page_map;     /* "off:page,..." page changes inside text, "" when none; arena-owned */
    int64_t off_start, off_end;
    double bm25;      /* BM25 relevance (kbox's BM25, store_search.c), higher is better; 0 if not matched */
    double vector;    /* inner product with the query vector (cosine), or 0 without vectors */
    double score;     /* the score hits are ordered by: fused, then rescaled by the sentence-evidence step */
    int bm25_rank;    /* 1-based rank in the BM25 list, 0 if absent */
    int vector_rank;  /* 1-based rank in the vector list, 0 if absent */
};

/* Searches. An empty or all-punctuation query gives 0 hits (not an error); any text is a valid query
 * (FTS5 syntax is never interpreted). Vector mode on a store without embedder gives KB_EINVAL.
 * *hits is arena-owned, ordered best first; *n_hits <= top_k. */
int index_search(struct index_store *st, const char *query, const struct index_search_opts *o, struct kb_arena *a,
                 struct index_hit **hits, int *n_hits, struct kb_error *err);

/* ---- tokenizer (exposed for rag/: answer scoring uses the same tokens) -------------------------- */

/* Calls fn for each token of text[0..n): folded UTF-8 (lowercase, no diacritics) for Latin words;
 * for CJK runs, every character and every overlapping pair (for_query: only the pairs, or the single
 * character of a one-character run). fn returns non-zero to stop; that value is returned. start/end
 * are byte offsets in text. Tokens are at most INDEX_TOKEN_MAX_BYTES (longer words are cut). */
#define INDEX_TOKEN_MAX_BYTES 64
typedef int (*index_token_fn)(void *ud, const char *tok, int tok_bytes, int start, int end, bool cjk);
int index_tokenize(const char *text, size_t n, bool for_query, index_token_fn fn, void *ud);

/* Inverse document frequency of one folded token (as index_tokenize emits it) over the chunks of the
 * knowledge base: ln(1 + (N - df + 0.5) / (df + 0.5)); unknown tokens get the highest value. For
 * answer scoring in rag/ (weighting query-term overlap). */
double index_idf(struct index_store *st, const char *term, size_t term_bytes);

/* ---- bots (store_bots.c) ---------------------------------------------------------------------------- */

/* A bot: a named public-facing configuration over some collections (rag/bots.c validates it). As
 * input, NULL strings mean ""; as output, strings are arena-owned. "" in a setting means "inherit
 * the global setting"; see store_bots.c for the columns. */
#define INDEX_BOTS_MAX 1000 /* bots listed at most */
struct index_bot {
    const char *id;          /* slug, 1..32 bytes of [a-z0-9-] */
    const char *name;
    const char *collections; /* collection ids, comma-separated; "" = every collection */
    const char *greeting, *persona, *fallback;
    int strict;              /* -1 inherit answer.strict, 0 off, 1 on */
    const char *model;       /* "" inherit answer.model, "extractive", or a GGUF file name */
    const char *origins;     /* comma-separated widget origins; "" inherit server.cors_origins */
    const char *color, *logo, *lang;
    bool public_page;        /* /b/ID is served */
    int64_t created_at, updated_at; /* output: unix seconds */
    int handoff;             /* -1 inherit handoff.enabled, 0 off, 1 on */
    const char *handoff_keywords; /* "" inherit handoff.keywords */
    int handoff_after_fallbacks;  /* -1 inherit handoff.after_fallbacks, 0 off, N */
    int handoff_on_thumbs_down;   /* -1 inherit handoff.on_thumbs_down, 0 off, 1 on */
};
/* create: a new row (KB_ECONFLICT when the id exists); else replaces every setting of an existing
 * one (KB_ENOENT). */
int index_bot_put(struct index_store *st, const struct index_bot *b, bool create, struct kb_error *err);
int index_bot_get(struct index_store *st, const char *id, struct kb_arena *a, struct index_bot *out,
                  struct kb_error *err); /* KB_ENOENT */
/* Every bot by id (at most INDEX_BOTS_MAX) into an arena array; origins_only reads id and origins
 * alone (the per-request origin check). */
int index_bot_list(struct index_store *st, bool origins_only, struct kb_arena *a, struct index_bot **out,
                   int *n_out, struct kb_error *err);
int index_bot_delete(struct index_store *st, const char *id, struct kb_error *err); /* KB_ENOENT */

/* ---- a collection's handoff triggers (store_coll_handoff.c) ------------------------------------------- */

/* As bot_handoff's settings (struct index_bot), plus keywords_off; -1 / "" inherit. */
struct index_coll_handoff {
    int64_t collection_id;
    int handoff;             /* -1 inherit, 0 off, 1 on */
    const char *keywords;    /* "" inherit (arena-owned on output) */
    bool keywords_off;       /* the keyword trigger is off for this collection */
    int after_fallbacks;     /* -1 inherit, 0 off, N */
    int on_thumbs_down;      /* -1 inherit, 0 off, 1 on */
};
/* get: all-inherit values when the collection has no row (the caller checks that it exists). put:
 * writes the row (deletes it when every setting inherits). */
int index_coll_handoff_get(struct index_store *st, int64_t collection_id, struct kb_arena *a,
                           struct index_coll_handoff *out, struct kb_error *err);
int index_coll_handoff_put(struct index_store *st, const struct index_coll_handoff *h, struct kb_error *err);
/* The collection a logged message was asked over (0: all). KB_ENOENT. */
int index_message_collection(struct index_store *st, int64_t message_id, int64_t *collection_id, struct kb_error *err);

/* ---- human handoff (store_handoff.c) ---------------------------------------------------------------- */

/* A handoff conversation or ticket (see store_handoff.c for the columns and the state machine). As
 * input, NULL strings mean ""; as output, strings are arena-owned. */
#define INDEX_HANDOFF_LIST_MAX 500    /* conversations listed at most */
#define INDEX_HANDOFF_EVENTS_MAX 1000 /* events read at most per call */
#define INDEX_HANDOFF_TURNS_MAX 50    /* bot exchanges read for an agent's view of the history */
struct index_handoff {
    int64_t id;
    const char *kind;         /* "chat" | "ticket" */
    const char *state;        /* "queued" | "taken" | "closed" */
    const char *trigger;      /* "button", "keyword", "fallbacks", "thumbs_down", "ticket" */
    const char *bot_id;       /* the bot the customer talked to, "" none */
    int64_t collection_id;    /* 0: none given */
    const char *log_secret;   /* the logged bot conversation (32 hex) the customer came from, or "" */
    const char *agent;        /* holder's principal ("user:EMAIL", "admin-token"); "" while queued */
    const char *agent_name;   /* holder's display name */
    int rating;               /* 1..5 from the customer; 0 none */
    const char *name, *contact, *message; /* ticket form */
    const char *closed_by;    /* "customer" or the closing agent's name */
    int64_t created_at, taken_at, closed_at; /* unix s; 0 not yet */
    int64_t last_event;       /* the last event seq handed out */
};
struct index_handoff_event {
    int64_t seq;              /* 1, 2, ... per handoff: the SSE event id */
    int64_t created_at;       /* unix s */
    const char *kind;         /* "customer" | "agent" | "state" */
    const char *author;       /* agent name for agent/taken events, else "" */
    const char *text;         /* the message; for "state" the new state (queued, taken, closed,
                                 ticket, rated:N) */
};
/* One logged bot exchange of the conversation a handoff came from (arena strings). */
struct index_handoff_turn {
    int64_t message_id, created_at;
    const char *question, *answer, *mode;
    const char *citations_json; /* the log's citations JSON array */
    bool fallback;              /* the bot answered with its fallback text */
};
/* Creates a handoff (kind "chat" queued, or "ticket") under token_hash (SHA-256 hex of the client's
 * token) and appends its first state event. */
int index_handoff_create(struct index_store *st, const struct index_handoff *h, const char *token_hash,
                         int64_t *id_out, struct kb_error *err);
/* By id, or (id 0) by token hash. KB_ENOENT. */
int index_handoff_get(struct index_store *st, int64_t id, const char *token_hash, struct kb_arena *a,
                      struct index_handoff *out, struct kb_error *err);
/* queued chat -> taken by agent; KB_ECONFLICT (naming state and holder) when it is not queued. */
int index_handoff_take(struct index_store *st, int64_t id, const char *agent, const char *agent_name,
                       struct kb_error *err);
/* -> closed. agent non-NULL: an agent closing what it holds or anything queued; NULL: the customer.
 * KB_ECONFLICT otherwise (already closed, held by another agent). */
int index_handoff_close(struct index_store *st, int64_t id, const char *agent, const char *closed_by,
                        struct kb_error *err);
/* The customer's rating 1..5 of a chat an agent took; once (KB_ECONFLICT after). */
int index_handoff_rate(struct index_store *st, int64_t id, int rating, struct kb_error *err);
/* A queued chat becomes a ticket with the form's fields (KB_ECONFLICT unless queued chat). */
int index_handoff_to_ticket(struct index_store *st, int64_t id, const char *name, const char *contact,
                            const char *message, struct kb_error *err);
/* Appends a message: agent NULL is the customer (chat not closed), else the agent holding it.
 * KB_EFORBIDDEN (nothing stored) otherwise. *seq_out: its event seq. */
int index_handoff_message(struct index_store *st, int64_t id, const char *agent, const char *agent_name,
                          const char *text, int64_t *seq_out, struct kb_error *err);
/* Events with seq > after_seq, ascending, at most limit (<= INDEX_HANDOFF_EVENTS_MAX). */
int index_handoff_events(struct index_store *st, int64_t id, int64_t after_seq, int limit, struct kb_arena *a,
                         struct index_handoff_event **out, int *n_out, struct kb_error *err);
/* Open handoffs oldest first, or (closed) closed ones newest first; at most limit. */
int index_handoff_list(struct index_store *st, bool closed, int limit, struct kb_arena *a, struct index_handoff **out,
                       int *n_out, struct kb_error *err);
/* 1-based place of a queued chat in the queue; 0 when it is not queued. */
int index_handoff_position(struct index_store *st, int64_t id, int64_t *pos, struct kb_error *err);
/* One delivery of a handoff notification (store_handoff.c; arena strings). */
struct index_notify {
    int64_t id, handoff_id;
    const char *channel;      /* "webhook" | "email" */
    const char *state;        /* "pending" | "sent" | "failed" */
    int attempts;             /* tries made */
    int64_t next_at;          /* unix s of the next try (pending) */
    const char *last_error;   /* why the last try failed; never a secret */
    int64_t updated_at;
};
int index_notify_add(struct index_store *st, int64_t handoff_id, const char *channel, struct kb_error *err);
/* failed false: pending deliveries due at now, oldest first; true: failed ones, newest first. */
int index_notify_list(struct index_store *st, bool failed, int64_t now, int limit, struct kb_arena *a,
                      struct index_notify **out, int *n_out, struct kb_error *err);
int index_notify_update(struct index_store *st, int64_t id, const char *state, int attempts, int64_t next_at,
                        const char *last_error, struct kb_error *err);
/* Handoffs (chats and tickets) created in [from, to) (unix s; 0 = open): the Dashboard's handed-off count. */
int index_handoff_count(struct index_store *st, int64_t from, int64_t to, int64_t *n, struct kb_error *err);
/* The queued chats' ids, oldest first, at most INDEX_HANDOFF_QUEUE_MAX; *ids: caller owns, free(). */
#define INDEX_HANDOFF_QUEUE_MAX 100000
int index_handoff_queue(struct index_store *st, int64_t **ids, int *n_out, struct kb_error *err);
/* The bot exchanges of the logged conversation log_secret ("" or NULL: none), oldest first. */
int index_handoff_bot_turns(struct index_store *st, const char *log_secret, struct kb_arena *a,
                            struct index_handoff_turn **out, int *n_out, struct kb_error *err);
/* True when an agent holds a handoff of the logged conversation log_secret (the bot stays silent). */
int index_handoff_held(struct index_store *st, const char *log_secret, bool *held, struct kb_error *err);
/* With store.backend = postgres: fn(ctx, id) runs (on the sync thread, no store lock held) after the
 * cache took a change of handoff id, from another node or this one, so live streams can wake at
 * once. fn NULL unsets it (before ctx is freed). Set by web/; a store following nothing never calls it. */
void index_store_on_handoff(struct index_store *st, void (*fn)(void *ctx, int64_t handoff_id), void *ctx);

/* ---- curated answers (store_curated.c) ------------------------------------------------------------ */

/* A curated answer (the FAQ editor's entry), or one version of it. As input, NULL strings mean "";
 * as output, strings are arena-owned. Each entry is searched as a hidden document of mime
 * INDEX_CURATED_MIME that rag/ writes from it (rag/curated.c). */
#define INDEX_CURATED_MIME "application/x-kbox-curated"
#define INDEX_CURATED_PAGE_MAX 1000 /* entries per index_curated_list page */
struct index_curated {
    int64_t id;            /* input: 0 = a new entry, else the entry that gets a new version */
    int64_t collection_id; /* input: 0 = the default collection (new entries only) */
    int version;           /* 1, 2, ...: the current version (a version row: its number) */
    const char *question;
    const char *similar;   /* similar questions, one per line; "" none */
    const char *answer;
    const char *citations; /* cited document ids, comma-separated; "" none */
    int64_t document_id;   /* output: its hidden document, 0 before rag/ wrote it */
    int doc_version;       /* output: the version that document holds */
    int64_t uses;          /* output: answers given with it */
    int64_t created_at, updated_at; /* output: unix seconds (a version row: when it was written) */
};
/* Writes in[0..n) in ONE transaction (all or nothing): new entries at version 1, existing ones
 * (in[i].id > 0) as their next version, each version also kept in the versions table. ids[i] and
 * versions[i] receive the results. KB_ENOENT names an id that does not exist. */
int index_curated_put(struct index_store *st, const struct index_curated *in, int n, int64_t *ids, int *versions,
                      struct kb_error *err);
int index_curated_get(struct index_store *st, int64_t id, struct kb_arena *a, struct index_curated *out,
                      struct kb_error *err); /* KB_ENOENT */
/* One page (newest first) of a collection's entries (0 = all) whose question, similar questions or
 * answer contain q (NULL or "" = all); *total counts all matches. limit 1..INDEX_CURATED_PAGE_MAX. */
int index_curated_list(struct index_store *st, int64_t collection_id, const char *q, int64_t offset, int limit,
                       struct kb_arena *a, struct index_curated **out, int *n_out, int64_t *total,
                       struct kb_error *err);
/* Every version of entry id, newest first (document_id, uses 0). KB_ENOENT. */
int index_curated_versions(struct index_store *st, int64_t id, struct kb_arena *a, struct index_curated **out,
                           int *n_out, struct kb_error *err);
/* Deletes the entry and its versions; *document_id gets its hidden document (for the caller to
 * delete; 0 when none). KB_ENOENT. */
int index_curated_delete(struct index_store *st, int64_t id, int64_t *document_id, struct kb_error *err);
/* Records that document_id holds version `version` of entry id. */
int index_curated_set_document(struct index_store *st, int64_t id, int version, int64_t document_id,
                               struct kb_error *err);
/* What rag/ must repair (arena arrays): entries whose hidden document is missing or holds an older
 * version, and hidden documents whose entry is gone. Entries of deleted collections are deleted. */
int index_curated_stale(struct index_store *st, struct kb_arena *a, int64_t **stale, int *n_stale,
                        int64_t **orphans, int *n_orphans, struct kb_error *err);
/* An answer was given with hidden document document_id: counts the use and gives the entry and the
 * version the document holds. KB_ENOENT (no detail) when the document is no curated answer's. */
int index_curated_used(struct index_store *st, int64_t document_id, int64_t *id, int *version, struct kb_error *err);

/* ---- consistency -------------------------------------------------------------------------------- */

struct index_check {
    int64_t n_documents, n_chunks, n_embeddings, n_vectors; /* rows / cached FAISS vectors */
    int64_t n_embeddings_other;         /* vectors of other embedders (an unfinished re-embedding) */
    int64_t n_chunks_without_embedding; /* with an embedder: chunks that lack a vector */
    int64_t n_orphan_chunks;            /* chunks whose document row is gone */
    bool fts_ok;                        /* FTS5 integrity-check passed */
    bool vectors_ok;                    /* FAISS ids == embedding chunk ids */
    const char *vector_kind;            /* the FAISS cache's index: "flat", "ivf" or "hnsw"; "" without
                                           one; static string */
    bool ok;                            /* all of the above consistent */
};
/* Checks chunks vs FTS vs embeddings vs FAISS (for tests and `kbox doctor`). */
int index_store_check(struct index_store *st, struct index_check *out, struct kb_error *err);

/* ---- conversation logs (store_log.c, schema v4) ----------------------------------------------------
 * Every answer given to the UI, the widget, /api/ask and /v1/chat/completions, with its feedback and
 * its review state, plus per-day rollups (kept by triggers) that /api/stats reads instead of the
 * messages, so analytics cost the days and distinct questions of a range, not its messages. */

/* One question and its answer, to log. Strings are copied; NULL means "". */
struct index_log_exchange {
    int64_t message_id;        /* > 0: the id to give the message (rag hands ids out before the write,
                                  index_log_next_id); 0: the next free one */
    const char *secret;        /* the conversation's secret (32 hex): its conversation, created with
                                  the fields below when no conversation has it yet */
    const char *client_key;    /* the client's conversation_id (follow-ups), or "" */
    const char *channel;       /* "ui", "widget", "api" or "openai" */
    int64_t collection_id;     /* 0: all collections */
    const char *client_ip;     /* NULL: not stored (log.store_ip off) */
    const char *question;
    const char *qnorm;         /* normalised question: the key top questions are clustered by */
    const char *answer;
    const char *mode;          /* the answer's mode, "fallback" for a fallback */
    const char *model;         /* the answer model, "" for extractive answers */
    bool fallback;
    double confidence;         /* 0..1 */
    double latency_ms;
    const char *citations;     /* JSON array [{n, document_id, chunk_id, document, page}] */
    int64_t curated_id, curated_version; /* 0: NULL (not a curated answer) */
    int64_t created_at;        /* unix seconds; 0: now */
};
/* Appends n exchanges (and their conversations when new) in one transaction, after the daily
 * retention purge when purge_before > 0 and none ran today (meta 'log_purged_day'). */
int index_log_append(struct index_store *st, const struct index_log_exchange *x, int n, int64_t purge_before,
                     struct kb_error *err);
/* The first message id never used (AUTOINCREMENT's sequence + 1), for handing ids out ahead. */
int index_log_next_id(struct index_store *st, int64_t *next, struct kb_error *err);
/* Records (or replaces) the vote (1 or -1) and comment on message_id, which must belong to the
 * conversation whose secret is given: KB_ENOENT otherwise, with nothing written. */
int index_log_feedback(struct index_store *st, int64_t message_id, const char *secret, int vote,
                       const char *comment, struct kb_error *err);

/* Which logged messages a listing or an export covers. */
struct index_log_filter {
    int64_t from, to;          /* unix seconds, [from, to); 0 = open */
    int64_t collection_id;     /* > 0: only this collection */
    const char *channel;       /* NULL or "": any */
    const char *kind;          /* review only: "fallback", "low_confidence", "thumbs_down"; NULL: any */
    double low_confidence;     /* review: answered below this confidence counts as low */
    int64_t offset;
    int limit;                 /* rows wanted; <= 0: no limit (exports) */
};

/* One logged message as listed. Strings borrowed; valid during the callback. */
struct index_log_row {
    int64_t id, conversation_id, created_at, collection_id;
    const char *channel, *question, *answer, *mode, *model, *client_ip, *citations, *comment, *review;
    bool fallback;
    double confidence, latency_ms;
    int vote;                  /* 1, -1, or 0 without feedback */
    int64_t curated_id, curated_version; /* 0 when NULL */
};
typedef int (*index_log_row_fn)(void *ud, const struct index_log_row *row);
/* The review inbox: messages not yet dismissed or resolved that fell back, were answered below
 * f->low_confidence, or got a thumbs-down; newest first; *total (nullable) counts them, up to
 * INDEX_LOG_REVIEW_COUNT_CAP + 1 (more means "over the cap"). */
#define INDEX_LOG_REVIEW_COUNT_CAP 10000
int index_log_review(struct index_store *st, const struct index_log_filter *f, index_log_row_fn fn, void *ud,
                     int64_t *total, struct kb_error *err);
/* Takes message_id out of the inbox: state "dismissed" or "resolved". KB_ENOENT, KB_EINVAL. */
int index_log_review_set(struct index_store *st, int64_t message_id, const char *state, struct kb_error *err);
/* Every message the filter covers, oldest first (exports). The lock is held throughout. */
int index_log_each(struct index_store *st, const struct index_log_filter *f, index_log_row_fn fn, void *ud,
                   struct kb_error *err);
/* The collection_id a message (conversation false) or a conversation was logged under (0: asked
 * over every collection), for per-collection access checks. KB_ENOENT if absent. */
int index_log_collection_of(struct index_store *st, bool conversation, int64_t id, int64_t *collection_id,
                            struct kb_error *err);
/* Deletes a conversation with its messages and their feedback. KB_ENOENT if absent. */
int index_log_conversation_delete(struct index_store *st, int64_t id, struct kb_error *err);
/* Deletes messages created before `before` (unix seconds), then conversations left empty. */
int index_log_purge(struct index_store *st, int64_t before, int64_t *n_deleted, struct kb_error *err);

#define INDEX_LOG_TOP 10             /* entries of each top list in the statistics */
#define INDEX_LOG_LAT_BUCKETS 128    /* latency histogram: bucket b holds [1.1^(b-1), 1.1^b) ms */
struct index_log_count {
    const char *key;           /* a day "YYYY-MM-DD", a mode, a question, a document name; arena */
    int64_t id;                /* document id (most cited), else 0 */
    int64_t n;
};
struct index_log_stats {
    int64_t n_questions, n_fallback, n_up, n_down;
    double p50_ms, p95_ms;     /* from the latency histogram: bucket upper bounds (within 10%) */
    struct index_log_count *days; int n_days;        /* questions per day, ascending */
    struct index_log_count *modes; int n_modes;      /* answers per mode ("fallback" included) */
    struct index_log_count *top; int n_top;          /* questions by normalised text, most asked first */
    struct index_log_count *unanswered; int n_unanswered; /* fallbacks by normalised text */
    struct index_log_count *docs; int n_docs;        /* documents by answers citing them */
};
/* Statistics of [from, to) (unix seconds, 0 = open; whole UTC days) and collection (> 0) from
 * the rollups. Arrays in a. */
int index_log_stats(struct index_store *st, int64_t from, int64_t to, int64_t collection_id, struct kb_arena *a,
                    struct index_log_stats *out, struct kb_error *err);
/* For benchmarks (bench/bench_log.c): appends n synthetic messages in one INSERT ... SELECT over a
 * recursive CTE (triggers keep the rollups): spread evenly over the `days` days before now, one
 * conversation per 4 messages, questions drawn from n_questions wordings (skewed: a few are
 * frequent, as in customer service), 15% fallbacks, three citations of 200 documents, feedback on
 * 3% of them. */
int index_log_synthesize(struct index_store *st, int64_t n, int days, int n_questions, struct kb_error *err);
/* The latency histogram's bucket of ms (pure; the rollup key). */
int index_log_latency_bucket(double ms);


/* ---- accounts, sessions, API keys, audit (store_users.c, schema v6) ------------------------------- */

/* A user account. As input to index_user_update, NULL fields are left as they are. Strings are
 * arena-owned when read. */
struct index_user {
    int64_t id;
    const char *email;       /* unique, compared case-insensitively */
    const char *name;        /* display name; may be "" */
    const char *role;        /* "owner", "editor", "agent" or "viewer" */
    const char *pw_hash;     /* libsodium's encoded Argon2id string (web/auth.c) */
    const char *collections; /* comma-separated collection ids the user may see; "" = all */
    int64_t created_at, updated_at; /* unix s */
};
/* KB_ECONFLICT when the email exists. */
int index_user_add(struct index_store *st, const struct index_user *u, int64_t *id, struct kb_error *err);
/* By id when id > 0, else by email. KB_ENOENT when absent. */
int index_user_get(struct index_store *st, int64_t id, const char *email, struct kb_arena *a, struct index_user *out,
                   struct kb_error *err);
int index_user_list(struct index_store *st, struct kb_arena *a, struct index_user **out, int *n_out,
                    struct kb_error *err);
/* Changes the non-NULL fields of u; a new pw_hash deletes the user's sessions. KB_ENOENT. */
int index_user_update(struct index_store *st, int64_t id, const struct index_user *u, struct kb_error *err);
/* Deletes the user and its sessions and revokes its keys, in one transaction. KB_ENOENT. */
int index_user_delete(struct index_store *st, int64_t id, struct kb_error *err);
/* Users with role (NULL: all). */
int index_user_count(struct index_store *st, const char *role, int64_t *n, struct kb_error *err);

/* A login session; the id itself is never stored, only its SHA-256 (hex). */
struct index_session {
    int64_t user_id;
    const char *csrf;         /* 64 hex; arena */
    int64_t created_at, last_seen; /* unix s */
};
int index_session_add(struct index_store *st, const char *id_hash, int64_t user_id, const char *csrf, int64_t now,
                      struct kb_error *err);
int index_session_get(struct index_store *st, const char *id_hash, struct kb_arena *a, struct index_session *out,
                      struct kb_error *err); /* KB_ENOENT */
int index_session_touch(struct index_store *st, const char *id_hash, int64_t now, struct kb_error *err);
/* Deletes one session (id_hash), or every session of user_id when id_hash is NULL. */
int index_session_delete(struct index_store *st, const char *id_hash, int64_t user_id, struct kb_error *err);

/* An API key; the key is shown once and stored as the SHA-256 (hex) of the whole key. */
struct index_api_key {
    int64_t id;
    const char *prefix;      /* the visible start of the key, unique ("kbx_" + 8 hex) */
    const char *hash;        /* SHA-256 hex of the whole key */
    const char *name;        /* what it is for; may be "" */
    int64_t user_id;         /* who created it; its rights never exceed this user's */
    const char *scopes;      /* comma-separated: "documents:write,logs:read", "bot:ID", ... */
    int64_t rate_per_min;    /* requests per minute this key may make; 0 = server.rate_limit_per_min */
    int64_t created_at, expires_at, last_used, revoked_at; /* unix s; 0 = never / not yet */
};
int index_key_add(struct index_store *st, const struct index_api_key *k, int64_t *id, struct kb_error *err);
/* By id when id > 0, else by prefix. KB_ENOENT. */
int index_key_get(struct index_store *st, int64_t id, const char *prefix, struct kb_arena *a, struct index_api_key *out,
                  struct kb_error *err);
/* Keys of user_id (0: all), oldest first. */
int index_key_list(struct index_store *st, int64_t user_id, struct kb_arena *a, struct index_api_key **out, int *n_out,
                   struct kb_error *err);
/* revoke: sets revoked_at (KB_ENOENT when absent or revoked already); else records a use (last_used). */
int index_key_mark(struct index_store *st, int64_t id, bool revoke, int64_t now, struct kb_error *err);

/* One audit log entry. */
#define INDEX_AUDIT_PAGE_MAX 1000
struct index_audit {
    int64_t id, at;          /* at: unix s (0 on input: now) */
    const char *actor;       /* "user:EMAIL", "key:PREFIX", "admin-token", "cli:USER" */
    const char *action;      /* "document.upload", "user.role", "key.create", "login.lockout", ... */
    const char *target;      /* what it was done to ("document 12", an email, a key prefix) */
    const char *detail;      /* free text, e.g. "editor -> viewer" */
    const char *ip;          /* client address; "" from the CLI */
};
int index_audit_add(struct index_store *st, const struct index_audit *e, struct kb_error *err);
/* Newest first: up to limit entries with id < before_id (0: from the newest). */
int index_audit_list(struct index_store *st, int64_t before_id, int limit, struct kb_arena *a, struct index_audit **out,
                     int *n_out, struct kb_error *err);

#endif
