/* index/pg.h: the PostgreSQL backend of the store, shared by index/pg.c (libpq glue: connection,
 * schema migrations, the write transactions and the reads a node needs to follow them), index/pg_sync.c
 * (the sync thread that keeps a node's local SQLite+FAISS cache equal to PostgreSQL) and the hooks in
 * store.c and store_docs.c. Never included outside index/ (tests of index/ excepted); rag/ and web/
 * see the backend only through index_store_sync_status(), KB_EBUSY from writes and the handoff hook
 * (index_store_on_handoff, which web/'s live streams set).
 * Also index/migrate.c (`kbox store migrate`), index/reembed_pg.c (re-embedding as shared jobs) and
 * index/pg_rows.c (the conversation log and curated answers; hooks in store_log.c, store_curated.c),
 * index/pg_accounts.c and index/pg_handoff.c (hooks in store_users.c, store_bots.c, store_handoff.c),
 * index/pg_nodes.c (heartbeats, presence shared across nodes, pruning old vectors).
 * libpq is included by index/pg.c only. Tests: tests/index/test_pg.c, test_pg_migrate.c,
 * test_pg_reembed.c, test_pg_rows.c, tests/web/test_pg_nodes.c. */
#ifndef KB_INDEX_PG_H
#define KB_INDEX_PG_H

#include "index/index_int.h"

#define PG_SCHEMA_VERSION 7 /* the newest PostgreSQL schema this kbox knows (pg.c's migrations) */
#define PG_NOTIFY_CHANNEL "kbox_changes"

struct pg_db; /* one libpq connection and its mutex; every function locks it for one transaction */

/* Connects (store.url, the password from password_file when non-empty, else libpq's usual sources)
 * and, unless `migrate` is false, runs the pending schema migrations, each in a transaction under an
 * advisory lock so nodes starting together migrate once. A schema newer than PG_SCHEMA_VERSION is
 * refused with KB_ECONFIG naming both versions. Errors: KB_EBUSY (unreachable), KB_ECONFIG.
 * Caller owns *out; close with pg_db_close(). */
int pg_db_open(struct pg_db **out, const char *url, const char *password_file, bool migrate, struct kb_error *err);
/* A handle whose connection is made later (PostgreSQL down at start): every call tries to connect
 * (KB_EBUSY until it can); pg_db_prepare() then migrates. Errors: KB_ECONFIG (password file). */
int pg_db_open_offline(struct pg_db **out, const char *url, const char *password_file, struct kb_error *err);
/* (Re)configures the session and, with migrate, runs the pending migrations. KB_EBUSY, KB_ECONFIG. */
int pg_db_prepare(struct pg_db *db, bool migrate, struct kb_error *err);
void pg_db_close(struct pg_db *db); /* NULL ok */
/* The schema version recorded in the database (0 before any migration). */
int pg_db_schema_version(struct pg_db *db, int *version, struct kb_error *err);
/* The random id the first migration gave this database (kbox_meta 'cluster_id'); a node's cache
 * records it, so a cache filled from another database is rebuilt. buf >= 64 bytes. */
int pg_db_cluster_id(struct pg_db *db, char *buf, size_t buf_bytes, struct kb_error *err);

/* ---- writes: one PostgreSQL transaction each, which also appends its change-log rows and NOTIFYs */

int pg_collection_create(struct pg_db *db, const char *name, int64_t *id_out, struct kb_error *err);
int pg_collection_rename(struct pg_db *db, int64_t id, const char *name, struct kb_error *err);
/* Deletes the collection's documents and the collection. KB_ENOENT, KB_EFORBIDDEN (default). */
int pg_collection_delete(struct pg_db *db, int64_t id, struct kb_error *err);
/* collection_id 0 = default. sha may be "". With job_out, an ingestion job for the new document is
 * queued in the same transaction (its id in *job_out). */
int pg_doc_create(struct pg_db *db, const struct index_doc *doc, int64_t *id_out, int64_t *job_out,
                  struct kb_error *err);
int pg_doc_set_status(struct pg_db *db, int64_t id, enum index_doc_status s, const char *error,
                      struct kb_error *err);
/* index_doc_replace's contract (target row, collection) with the vectors of embedder e (n x e->dim,
 * nullable) and the original (nullable) stored as bytea under its sha256 `sha`. */
int pg_doc_replace(struct pg_db *db, const struct index_doc *doc, const char *sha, const struct index_chunk *chunks,
                   int n_chunks, const struct index_embedder *e, const float *vectors, const void *original,
                   size_t original_bytes, int64_t *id_out, struct kb_error *err);
int pg_doc_delete(struct pg_db *db, int64_t id, struct kb_error *err); /* KB_ENOENT */
/* Stores an original's bytes under sha (kept when present). No change row: nodes read originals by
 * sha when a document names one. */
int pg_original_put(struct pg_db *db, const char *sha, const void *data, size_t n, struct kb_error *err);

/* ---- shared jobs (schema 2): claimed with SELECT ... FOR UPDATE SKIP LOCKED ----------------------- */

/* Sets document doc_id queued again and queues an ingestion job for it, in one transaction. */
int pg_job_requeue(struct pg_db *db, int64_t doc_id, int64_t *job_id, struct kb_error *err);
/* Claims the oldest queued job nobody holds: db's transaction stays open, holding the job's row lock,
 * until pg_job_end (or until the connection ends: a killed node's jobs go back to the queue). db must
 * be a connection of its own (one claim at a time). KB_ENOENT: nothing to claim. */
int pg_job_claim(struct pg_db *db, struct index_job *out, struct kb_error *err);
/* Makes db's session end soon after its node becomes unreachable (server-side TCP keepalives), so
 * the claims of a node cut off by the network are released too, not only those of a dead one. */
int pg_db_claim_session(struct pg_db *db, struct kb_error *err);
/* Ends the claimed job: records done/failed (with node and error) and commits, or, with
 * INDEX_JOB_RELEASE, rolls back so another node takes it. KB_EBUSY when the claim was lost meanwhile. */
int pg_job_end(struct pg_db *db, int64_t id, enum index_job_end how, const char *node, const char *error,
               struct kb_error *err);
int pg_job_get(struct pg_db *db, int64_t id, struct index_job *out, struct kb_error *err); /* KB_ENOENT */
/* The newest max jobs, newest first, into out (max entries). */
int pg_job_list(struct pg_db *db, int max, struct index_job *out, int *n_out, struct kb_error *err);

/* ---- shared re-embedding (schema 3; index/reembed_pg.c drives it) ------------------------------- */

/* Queues one 'reembed' job per document with chunks lacking a vector of embedder_id and no queued
 * job for it yet (under an advisory lock: nodes queueing together queue once). *n_missing: chunks
 * in the database still lacking such a vector. */
int pg_reembed_queue(struct pg_db *db, const char *embedder_id, int64_t *n_queued, int64_t *n_missing,
                     struct kb_error *err);
/* One claimed re-embedding job: the document's chunks that lack the embedder's vectors. */
struct pg_reembed_work {
    int64_t job_id, document_id;
    int n_chunks;
    int64_t *chunk_ids;          /* arena */
    struct index_chunk *chunks;  /* text and heading_path only; arena */
    const char *doc_context;     /* the document's context (index_doc_context); arena */
};
/* Claims the oldest queued re-embedding job for embedder_id nobody holds (FOR UPDATE SKIP LOCKED):
 * like pg_job_claim, db's transaction stays open holding the claim until pg_reembed_finish or
 * pg_job_end(RELEASE), or until the session ends (a killed node's job goes back to the queue).
 * KB_ENOENT: nothing to claim. */
int pg_reembed_claim(struct pg_db *db, const char *embedder_id, struct kb_arena *a, struct pg_reembed_work *out,
                     struct kb_error *err);
/* Stores x (w->n_chunks x e->dim) for the chunks that still exist, marks the job done by node and
 * appends the document's change row, in the claim's transaction. KB_EBUSY when the claim was lost. */
int pg_reembed_finish(struct pg_db *db, const struct pg_reembed_work *w, const struct index_embedder *e,
                      const float *x, const char *node, struct kb_error *err);
/* The vectors of embedder_id for chunk ids (n) into x (n x dim); found[i] false when absent. */
int pg_vectors_get(struct pg_db *db, const char *embedder_id, int dim, const int64_t *ids, int n, float *x,
                   bool *found, struct kb_error *err);

/* ---- notifications ------------------------------------------------------------------------------ */

/* (Re)connects when needed and LISTENs on PG_NOTIFY_CHANNEL. KB_EBUSY while unreachable. */
int pg_listen(struct pg_db *db, struct kb_error *err);
/* Waits up to timeout_ms for a notification on db or a readable wake_fd; *notified tells which
 * (notifications are drained). KB_EBUSY when the connection broke (pg_listen again). */
int pg_wait(struct pg_db *db, int wake_fd, int timeout_ms, bool *notified, struct kb_error *err);

/* ---- reads for the sync ---------------------------------------------------------------------- */

/* One change-log row: the object named changed; its current state is read from its table. */
enum pg_kind {
    PG_KIND_COLLECTION = 'c',
    PG_KIND_DOC = 'd',
    PG_KIND_DOC_META = 'm',
    PG_KIND_CONVERSATION = 'v', /* schema 4 (pg_rows.c): a conversation (deleted) */
    PG_KIND_MESSAGE = 'g',      /* a message with its conversation and feedback */
    PG_KIND_PURGE = 'p',        /* messages before obj_id (unix s) deleted */
    PG_KIND_CURATED = 'q',      /* a curated answer with its versions */
    PG_KIND_USER = 'u',         /* schema 5 (pg_accounts.c): a user */
    PG_KIND_SESSIONS = 's',     /* every session of user obj_id */
    PG_KIND_KEY = 'k',          /* an API key */
    PG_KIND_AUDIT = 'a',        /* an audit entry */
    PG_KIND_BOTS = 'b',         /* the bots (all of them, with their handoff settings; obj_id 0) */
    PG_KIND_HANDOFF = 'h',      /* schema 6 (pg_handoff.c): a handoff with its events and notifications */
    PG_KIND_COLL_HANDOFF = 'o', /* schema 7 (pg_accounts.c): collection obj_id's handoff settings */
};
struct pg_change {
    int64_t seq;    /* change-log sequence, increasing in commit order */
    char kind;      /* enum pg_kind */
    int64_t obj_id; /* collection or document id */
    double at;      /* commit time, unix seconds (PostgreSQL's clock) */
};
/* Up to max changes with seq > after, by seq. */
int pg_changes_since(struct pg_db *db, int64_t after, struct pg_change *out, int max, int *n_out,
                     struct kb_error *err);
int pg_head(struct pg_db *db, int64_t *seq, struct kb_error *err); /* the last seq (0 when none) */

/* A collection's state: *found false when deleted. name >= 256 bytes. */
int pg_collection_fetch(struct pg_db *db, int64_t id, bool *found, char *name, size_t name_bytes, int64_t *created_at,
                        struct kb_error *err);
/* A document's state in one snapshot: *found false when deleted; with meta_only, the row alone.
 * Strings go to arena a; *chunk_ids and *chunks have *n_chunks entries (arena); *vectors (caller
 * frees, NULL without e or when a chunk lacks a vector of e: then *n_vec_missing counts those). */
struct pg_doc_state {
    bool found;
    struct index_doc doc;
    int64_t *chunk_ids;
    struct index_chunk *chunks;
    int n_chunks;
    float *vectors;        /* n_chunks x e->dim; caller frees */
    int n_vec_missing;
};
int pg_doc_fetch(struct pg_db *db, int64_t id, bool meta_only, const struct index_embedder *e, struct kb_arena *a,
                 struct pg_doc_state *out, struct kb_error *err);
/* The bytes of an original (caller frees *data). KB_ENOENT. */
int pg_original_fetch(struct pg_db *db, const char *sha, void **data, size_t *n, struct kb_error *err);
/* Every id of "documents" or "collections" (table is one of the two), sorted. Caller frees *ids. */
int pg_ids(struct pg_db *db, const char *table, int64_t **ids, int64_t *n, struct kb_error *err);
/* Counts for checks and `kbox store migrate`. */
int pg_counts(struct pg_db *db, int64_t *n_docs, int64_t *n_chunks, struct kb_error *err);

/* ---- whole objects for `kbox store migrate` (index/migrate.c; struct copy_* in index_int.h) ------ */

int pg_copy_collections(struct pg_db *db, struct kb_arena *a, struct copy_coll **out, int *n, struct kb_error *err);
/* Inserts (or renames/redates) c under its id, with its change row. KB_ECONFLICT: name under another id. */
int pg_copy_collection_put(struct pg_db *db, const struct copy_coll *c, struct kb_error *err);
/* The document with every chunk and vector row, in one snapshot; out->found false when absent. */
int pg_copy_doc_read(struct pg_db *db, int64_t id, struct kb_arena *a, struct copy_doc *out, struct kb_error *err);
/* Writes the absent document d under its ids (and its original, nullable) in one transaction with its
 * change row, so nodes following the database pick it up. KB_ECONFLICT when the id is taken. */
int pg_copy_doc_write(struct pg_db *db, const struct copy_doc *d, const void *original, size_t original_bytes,
                      struct kb_error *err);
/* Moves the id sequences past the copied ids. */
int pg_copy_finish(struct pg_db *db, struct kb_error *err);
int pg_copy_counts(struct pg_db *db, struct copy_counts *out, struct kb_error *err);
/* kbox_meta 'migrate_from': the --from of a migration into this database not yet verified ("" none);
 * from NULL clears it. buf >= 1 byte. */
int pg_copy_marker_get(struct pg_db *db, char *buf, size_t buf_bytes, struct kb_error *err);
int pg_copy_marker_set(struct pg_db *db, const char *from, struct kb_error *err);

/* ---- generic statements (schema 4's shared row tables; index/pg_rows.c composes the SQL) --------- */

/* Rows of text values: v[row * cols + col], NULL for SQL NULL; all in the caller's arena. */
struct pg_rows {
    int n, cols;
    const char **v;
};
/* One transaction: pg_tx_begin, then statements, then pg_tx_end, which appends one change row per
 * (kinds[i], ids[i]) and NOTIFYs when rc == 0 and commits, else rolls back; the connection is held
 * (other users of db wait) from begin to end. */
int pg_tx_begin(struct pg_db *db, struct kb_error *err);
/* sql with text parameters (NULL = SQL NULL); out (nullable) gets the rows. */
int pg_tx_exec(struct pg_db *db, const char *sql, int n, const char *const *vals, struct kb_arena *a,
               struct pg_rows *out, const char *what, struct kb_error *err);
int pg_tx_end(struct pg_db *db, int rc, const char *kinds, const int64_t *ids, int n_ids, struct kb_error *err);
/* One statement outside a transaction (reads). */
int pg_query(struct pg_db *db, const char *sql, int n, const char *const *vals, struct kb_arena *a,
             struct pg_rows *out, const char *what, struct kb_error *err);

/* The columns of the shared row tables, in the same order on both sides (PostgreSQL SELECTs, SQLite
 * ?N parameters); the key first. "similar" is quoted: a reserved word in PostgreSQL. */
#define PG_CONV_COLS "id, secret, client_key, channel, collection_id, client_ip, created_at, updated_at"
#define PG_MSG_COLS                                                                                            \
    "id, conversation_id, created_at, channel, collection_id, question, qnorm, answer, mode, fallback,"        \
    " confidence, latency_ms, lat_bucket, model, client_ip, citations, curated_id, curated_version, review,"  \
    " reviewed_at"
#define PG_FB_COLS "message_id, vote, comment, created_at, day, collection_id"
#define PG_CUR_COLS                                                                                            \
    "id, collection_id, version, question, \"similar\", answer, citations, document_id, doc_version, uses,"     \
    " created_at, updated_at"
#define PG_CURV_COLS "curated_id, version, question, \"similar\", answer, citations, created_at"
#define PG_USER_COLS "id, email, name, role, pw_hash, collections, created_at, updated_at"
#define PG_SES_COLS "id_hash, user_id, csrf, created_at, last_seen"
#define PG_KEY_COLS \
    "id, prefix, hash, name, user_id, scopes, rate_per_min, created_at, expires_at, last_used, revoked_at"
#define PG_AUDIT_COLS "id, at, actor, action, target, detail, ip"
#define PG_BOT_COLS                                                                                     \
    "id, name, collections, greeting, persona, fallback, strict, model, origins, color, logo, lang,"  \
    " public_page, created_at, updated_at"
#define PG_HANDOFF_COLS "bot_id, handoff, keywords, after_fallbacks, on_thumbs_down"
#define PG_COLL_HANDOFF_COLS "collection_id, handoff, keywords, keywords_off, after_fallbacks, on_thumbs_down"
#define PG_HO_COLS                                                                                        \
    "id, token_hash, kind, state, trigger, bot_id, collection_id, log_secret, agent, agent_name, rating,"  \
    " name, contact, message, closed_by, created_at, taken_at, closed_at, last_event"
#define PG_HOE_COLS "handoff_id, seq, created_at, kind, author, text"
#define PG_HON_COLS "id, handoff_id, channel, state, attempts, next_at, last_error, created_at, updated_at"

/* ---- pg_rows.c: the conversation log and curated answers shared through PostgreSQL (schema 4) ---- */

/* The store.c contracts of index_log_next_id, _append, _feedback, _review_set, _conversation_delete,
 * _purge and index_curated_put, _delete, _set_document, for a store following PostgreSQL: written
 * there (KB_EBUSY while unreachable), then this node's cache catches up. */
int pg_rows_log_next_id(struct index_store *st, int64_t *next, struct kb_error *err);
int pg_rows_log_append(struct index_store *st, const struct index_log_exchange *x, int n, int64_t purge_before,
                       struct kb_error *err);
int pg_rows_log_feedback(struct index_store *st, int64_t message_id, const char *secret, int vote,
                         const char *comment, struct kb_error *err);
int pg_rows_log_review_set(struct index_store *st, int64_t message_id, const char *state, struct kb_error *err);
int pg_rows_log_conversation_delete(struct index_store *st, int64_t id, struct kb_error *err);
int pg_rows_log_purge(struct index_store *st, int64_t before, int64_t *n_deleted, struct kb_error *err);
int pg_rows_curated_put(struct index_store *st, const struct index_curated *in, int n, int64_t *ids, int *versions,
                        struct kb_error *err);
int pg_rows_curated_delete(struct index_store *st, int64_t id, int64_t *document_id, struct kb_error *err);
int pg_rows_curated_set_document(struct index_store *st, int64_t id, int version, int64_t document_id,
                                 struct kb_error *err);
/* The answer spool (store.backend = postgres): exchanges logged while PostgreSQL is unreachable go
 * to the node's SQLite table pg_log_spool (created by open, PostgreSQL backend only; at most
 * PG_SPOOL_MAX rows, beyond which answers are not logged and rag/log.c warns), and so do those
 * logged while it still holds rows, so the order stays; flush sends them by seq, 200 per
 * transaction, a message id already in PostgreSQL left as it is (a flush cut short is sent again
 * harmlessly), then deletes the sent rows; a page PostgreSQL refuses (not unreachable) goes row by
 * row, and a row it refuses is dropped with a warning rather than block the spool. */
#define PG_SPOOL_MAX 10000
int pg_rows_spool_open(struct index_store *st, struct kb_error *err);
int64_t pg_rows_spool_count(struct index_store *st); /* -1 on error */
/* The sync thread's call after a catch-up: *n_sent rows sent; KB_EBUSY when PostgreSQL went away. */
int pg_rows_spool_flush(struct index_store *st, int64_t *n_sent);
/* Counts one use of entry curated_id (its hidden document document_id) in PostgreSQL; best effort. */
void pg_rows_curated_used(struct index_store *st, int64_t curated_id, int64_t document_id);
/* Shared by pg_rows.c and pg_accounts.c (inside pg_tx_begin .. pg_rows_commit): */
/* Ends the transaction with its change rows (pg_tx_end), then this node's cache catches up. */
int pg_rows_commit(struct index_store *st, int rc, const char *kinds, const int64_t *ids, int n, struct kb_error *err);
/* The first value of a statement's first row into *v; KB_ENOENT (no message) when no row came back. */
int pg_rows_i64(struct pg_db *db, const char *sql, int n, const char *const *vals, int64_t *v, const char *what,
                struct kb_error *err);
/* One statement in its own transaction with the change (kind, id); KB_ENOENT "no <what> with id <id>"
 * when it returned no row; *out (nullable): its first value. */
int pg_rows_change_one(struct index_store *st, const char *sql, int n, const char *const *vals, char kind, int64_t id,
                       const char *what, int64_t *out, struct kb_error *err);

/* ids as a PostgreSQL array literal "{1,2,3}" in a (NULL: no memory). */
const char *pg_rows_array(struct kb_arena *a, const int64_t *ids, int n);
/* ids as one-column rows (for SQLite statements taking ?1 = id). */
int pg_rows_of_ids(struct kb_arena *a, const int64_t *ids, int n, struct pg_rows *out, struct kb_error *err);
/* The first column (ids) of sql($1 = after) into ids (room for every row sql can return). */
int pg_rows_page_ids(struct pg_db *db, const char *sql, int64_t after, struct kb_arena *a, int64_t *ids, int *n,
                     struct kb_error *err);

/* ---- pg_accounts.c: users, sessions, API keys, audit and bots shared likewise (schema 5) ----------- */

/* The store_users.c / store_bots.c contracts of their writes, for a store following PostgreSQL. */
int pg_acct_user_add(struct index_store *st, const struct index_user *u, int64_t *id, struct kb_error *err);
int pg_acct_user_update(struct index_store *st, int64_t id, const struct index_user *u, struct kb_error *err);
int pg_acct_user_delete(struct index_store *st, int64_t id, struct kb_error *err);
int pg_acct_session_add(struct index_store *st, const char *id_hash, int64_t user_id, const char *csrf, int64_t now,
                        struct kb_error *err);
int pg_acct_session_touch(struct index_store *st, const char *id_hash, int64_t now, struct kb_error *err);
int pg_acct_session_delete(struct index_store *st, const char *id_hash, int64_t user_id, struct kb_error *err);
int pg_acct_key_add(struct index_store *st, const struct index_api_key *k, int64_t *id, struct kb_error *err);
int pg_acct_key_mark(struct index_store *st, int64_t id, bool revoke, int64_t now, struct kb_error *err);
int pg_acct_audit_add(struct index_store *st, const struct index_audit *e, struct kb_error *err);
int pg_acct_bot_put(struct index_store *st, const struct index_bot *b, bool create, struct kb_error *err);
int pg_acct_bot_delete(struct index_store *st, const char *id, struct kb_error *err);
/* index_coll_handoff_put's contract (schema 7: the row deleted when every setting inherits). */
int pg_acct_coll_handoff_put(struct index_store *st, const struct index_coll_handoff *h, struct kb_error *err);

/* pg_rows.c's apply and resync for these kinds (u s k a b o): the rows of ids[0..n) of one kind made
 * equal in the cache; the resync empties the cached tables and reloads them. */
int pg_acct_apply(struct index_store *st, struct pg_db *db, char kind, const int64_t *ids, int n, struct kb_arena *a,
                  struct kb_error *err);
int pg_acct_resync(struct index_store *st, struct pg_db *db, struct kb_error *err);

/* ---- pg_handoff.c: handoffs, their events and notification records shared likewise (schema 6) ---- */

/* The store_handoff.c contracts of its writes, for a store following PostgreSQL; take, close, rate
 * and to_ticket are decided by a conditional UPDATE there, event seqs are numbered there. */
int pg_ho_create(struct index_store *st, const struct index_handoff *h, const char *token_hash, int64_t *id_out,
                 struct kb_error *err);
int pg_ho_take(struct index_store *st, int64_t id, const char *agent, const char *agent_name, struct kb_error *err);
int pg_ho_close(struct index_store *st, int64_t id, const char *agent, const char *closed_by, struct kb_error *err);
int pg_ho_rate(struct index_store *st, int64_t id, int rating, struct kb_error *err);
int pg_ho_to_ticket(struct index_store *st, int64_t id, const char *name, const char *contact, const char *message,
                    struct kb_error *err);
int pg_ho_message(struct index_store *st, int64_t id, const char *agent, const char *agent_name, const char *text,
                  int64_t *seq_out, struct kb_error *err);
int pg_ho_notify_add(struct index_store *st, int64_t handoff_id, const char *channel, struct kb_error *err);
int pg_ho_notify_update(struct index_store *st, int64_t id, const char *state, int attempts, int64_t next_at,
                        const char *last_error, struct kb_error *err);
/* index_notify_list's due deliveries (failed false, now < INT64_MAX), leased to this node in
 * PostgreSQL: up to limit pending ones due at now, their next_at moved past the lease, into out
 * (strings in a). Another node listing meanwhile gets the others. */
int pg_ho_notify_due(struct index_store *st, int64_t now, int limit, struct kb_arena *a, struct index_notify *out,
                     int *n_out, struct kb_error *err);
/* pg_rows.c's apply (kind h: handoffs ids[0..n) made equal in the cache, then the store's handoff
 * hook runs for each) and resync (the cached handoff tables emptied and reloaded). */
int pg_ho_apply(struct index_store *st, struct pg_db *db, const int64_t *ids, int n, struct kb_arena *a,
                struct kb_error *err);
int pg_ho_resync(struct index_store *st, struct pg_db *db, struct kb_error *err);

/* pg_sync.c: applies the changes of kinds v g p q u s k a b o h among ch[0..n) (in log order around purges). */
int pg_rows_apply(struct index_store *st, struct pg_db *db, const struct pg_change *ch, int n, struct kb_error *err);
/* pg_sync.c's rebuild: empties the cached rows of those tables and reloads them all. */
int pg_rows_resync(struct index_store *st, struct pg_db *db, struct kb_error *err);

/* ---- pg_migrate_rows.c: `kbox store migrate` of the shared rows (log, curated, accounts, bots, handoffs) */

/* One side of a migration: SQLite (st) or PostgreSQL (db). */
struct pg_mig_side {
    bool pg;
    struct index_store *st;
    struct pg_db *db;
};
#define PG_MIG_TABLES 15
/* Before anything is written: which tables to copy (copy[PG_MIG_TABLES]). A target table with rows
 * (beyond the built-in bot "default") is skipped when equal to the source's, else KB_ECONFLICT naming
 * it; with resume (the target's marker names this source) every table is copied again. */
int pg_mig_rows_plan(const struct pg_mig_side *src, const struct pg_mig_side *dst, const char *to, bool resume,
                     bool *copy, struct kb_error *err);
/* Copies the planned tables (with resume, after emptying the target's): pages of rows under their ids,
 * one transaction each (PostgreSQL: with change rows; then the id sequences move past them). */
int pg_mig_rows_copy(const struct pg_mig_side *src, const struct pg_mig_side *dst, bool resume, const bool *copy,
                     int64_t *n_copied, struct kb_error *err);
/* Row counts and digests of every table equal on both sides; *n_rows: the rows compared. KB_ECORRUPT. */
int pg_mig_rows_verify(const struct pg_mig_side *src, const struct pg_mig_side *dst, int64_t *n_rows,
                       struct kb_error *err);

/* ---- pg_nodes.c: heartbeats, presence and pruning (schema 7) ------------------------------------ */

#define PG_BEAT_S 2            /* s between a node's heartbeats (the sync thread's) */
#define PG_PRESENCE_TTL_S 10   /* s an agent's presence row counts after its node's last beat */
#define PG_NODE_LIVE_S 600     /* s a node's embedders stay protected from pruning after its last beat */
#define PG_PRUNE_EVERY_S 600   /* s between two prunes by one node */

struct pg_nodes; /* this node's id, its agents and the others' (cached) */
struct pg_nodes *pg_nodes_new(void); /* caller owns; free with pg_nodes_free() */
void pg_nodes_free(struct pg_nodes *n); /* NULL ok */
const char *pg_nodes_id(const struct pg_nodes *n); /* borrowed: "host:pid:handle" */
/* One heartbeat when PG_BEAT_S passed since the last (or force, or the agents changed): one
 * transaction on db (see the file-top comment); then a prune when PG_PRUNE_EVERY_S passed. KB_EBUSY. */
int pg_nodes_beat(struct pg_nodes *n, struct index_store *st, struct pg_db *db, bool force, struct kb_error *err);
/* Deletes every vector of an embedder no node seen within live_s names and no queued re-embedding
 * job names (none when no node is live); *n_deleted: the rows. */
int pg_nodes_prune(struct pg_db *db, double live_s, int64_t *n_deleted, struct kb_error *err);
/* A clean stop: this node's presence rows deleted (best effort; else they expire). */
void pg_nodes_leave(struct pg_nodes *n, struct pg_db *db);

/* ---- pg_sync.c -------------------------------------------------------------------------------- */

struct pg_sync; /* the sync thread and the lag figures of one store */

/* Attaches the backend to st (opened with a local cache in data_dir): catches up (or rebuilds) once,
 * synchronously, then starts the thread, which LISTENs on a second connection (url, password_file:
 * copied). Takes ownership of db (closed on failure too). */
int pg_sync_start(struct pg_sync **out, struct index_store *st, struct pg_db *db, const char *url,
                  const char *password_file, int poll_s, int64_t rebuild_lag, struct kb_error *err);
/* The same with PostgreSQL unreachable (db from pg_db_open_offline) and a cache that followed this
 * database before: starts at once serving from the cache; the thread connects, migrates, checks the
 * database is the cache's (else rebuilds) and catches up when PostgreSQL is back. KB_EBUSY (the
 * caller's) when the cache never followed a database: there is nothing to serve. */
int pg_sync_start_offline(struct pg_sync **out, struct index_store *st, struct pg_db *db, const char *url,
                          const char *password_file, int poll_s, int64_t rebuild_lag, struct kb_error *err);
void pg_sync_stop(struct pg_sync *s); /* NULL ok; joins the thread, closes the connections */
struct pg_db *pg_sync_db(struct pg_sync *s); /* borrowed: the write connection */
/* A new connection to the same database (no migrations), e.g. for a job worker. KB_EBUSY. */
int pg_sync_connect(struct pg_sync *s, struct pg_db **out, struct kb_error *err);
/* Applies every committed change not yet in the cache (the writer calls it after its commit, so it
 * reads its own write). Errors are logged; the thread retries. */
void pg_sync_catch_up(struct pg_sync *s);
void pg_sync_status(struct pg_sync *s, struct index_sync_status *out);
struct pg_nodes *pg_sync_nodes(struct pg_sync *s); /* borrowed: the heartbeat state (pg_nodes.c) */
void pg_sync_set_spooled(struct pg_sync *s, int64_t n); /* the spool's size, for index_store_sync_status */

/* ---- reembed_pg.c: re-embedding as shared jobs (index_reembed_step with st->pg) ----------------- */

/* One step towards tgt (steps run from one thread at a time): does one claimed document, or waits
 * for other nodes' claims, or pulls a batch of vectors into the cache; *switch_now: the cache holds
 * every vector of tgt, reembed.c switches. KB_EBUSY while PostgreSQL is unreachable. */
int reembed_pg_step(struct index_store *st, const struct index_embedder *tgt, int batch, bool *switch_now,
                    struct kb_error *err);
void reembed_pg_close(struct index_store *st); /* at store close: ends the claiming session */

/* ---- store_mirror.c: the SQLite side of applying changes (takes the store lock itself) ---------- */

/* name NULL: the collection is gone (deleted locally with its documents). */
int store_mirror_collection(struct index_store *st, int64_t id, const char *name, int64_t created_at,
                            struct kb_error *err);
/* Makes local document id equal to ds (ds->found false: deletes it). meta_only: the row alone;
 * KB_ENOENT when the row is not cached yet (the caller fetches it whole). vec_e: the embedder of
 * ds->vectors. */
int store_mirror_doc(struct index_store *st, int64_t id, const struct pg_doc_state *ds, bool meta_only,
                     const struct index_embedder *vec_e, struct kb_error *err);
/* Deletes every document and every collection but the default one (before a rebuild). */
int store_mirror_wipe(struct index_store *st, struct kb_error *err);
/* The applied sequence and the database's cluster id as recorded in meta ('pg_seq', 'pg_cluster'). */
void store_mirror_position(struct index_store *st, int64_t *seq, char *cluster, size_t cluster_bytes);
int store_mirror_set_position(struct index_store *st, int64_t seq, const char *cluster, struct kb_error *err);
/* One statement run once per row of rows (the row's values bound as ?1.., text or NULL, as many as
 * the statement takes); rows NULL: sql (may hold several statements) runs once. */
struct store_mirror_step {
    const char *sql;
    const struct pg_rows *rows;
};
/* Runs steps[0..n) in one SQLite transaction under the store's lock (pg_rows.c's rows). */
int store_mirror_steps(struct index_store *st, const struct store_mirror_step *steps, int n, struct kb_error *err);
/* The rows of sql (a SELECT; vals bound as ?1.. text) as text into a (store lock held meanwhile). */
int store_mirror_read(struct index_store *st, const char *sql, int n, const char *const *vals, struct kb_arena *a,
                      struct pg_rows *out, struct kb_error *err);
/* True when originals/<sha> exists locally. */
bool store_mirror_has_original(struct index_store *st, const char *sha);

#endif
