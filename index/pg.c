/* index/pg.c: the libpq glue of the PostgreSQL backend (store.backend = postgres): the connection,
 * the schema and its migrations, the write transactions and the reads the sync (pg_sync.c) needs.
 *
 * Design: PostgreSQL is the source of truth; each node's SQLite store (FTS5 + FAISS) is a derived
 * cache of it (pg_sync.c). Every write is one PostgreSQL transaction that changes the tables AND
 * appends one row per changed object to `changes` (seq bigserial) and NOTIFYs kbox_changes; a node
 * then reads the changed objects' current state (state-based, so applying a change twice is
 * harmless). Chunk and document ids are PostgreSQL's, so every node's FAISS ids and search results
 * are the same. A bigserial is taken at insert time, not at commit, so a later seq could commit
 * before an earlier one and a node reading in between would skip the earlier one for ever; every
 * writer therefore takes the transaction-level advisory lock PG_LOCK_CHANGES just before it appends
 * its change rows (the last statement before COMMIT), which makes seq order equal commit order at
 * the cost of serialising only those last statements.
 *
 * Schema (kbox_schema.version 1, then 2, 3, 4, 5, 6, 7):
 *   kbox_schema(version)                    -- one row; a newer version than PG_SCHEMA_VERSION is refused
 *   kbox_meta(key PRIMARY KEY, value)       -- 'cluster_id': random hex, names this database
 *   collections(id bigserial, name UNIQUE, created_at)          -- id 1 = 'default'
 *   documents(id bigserial, collection_id, name, path, mime, bytes, sha256, mtime, status, error,
 *             ingested_at, external_id, title, created_at)      -- as SQLite's (store.c)
 *   chunks(id bigserial = FAISS id everywhere, document_id ON DELETE CASCADE, ordinal, text,
 *          heading_path, page_start, page_end, off_start, off_end, n_tokens, page_map)
 *   embeddings(chunk_id ON DELETE CASCADE, embedder_id, vector bytea)  -- dim float32 little-endian
 *   originals(sha256 PRIMARY KEY, data bytea)                          -- uploaded files
 *   changes(seq bigserial, kind 'c'|'d'|'m', obj_id, at)              -- at: commit time, unix s
 * Schema 2 adds
 *   jobs(id bigserial, kind 'ingest', document_id, state 'queued'|'done'|'failed', node, error,
 *        created_at, ended_at)  -- claimed by a row lock held for the job's duration (pg_job_claim);
 *                                  no foreign key, so document writes never wait for a claim
 * Schema 3 adds kind 'reembed' and jobs.embedder_id: one job per document whose chunks lack that
 *   embedder's vectors (pg_reembed_*; index/reembed_pg.c drives them)
 * Schema 4 adds the conversation log and curated answers with SQLite's columns (pg_rows.c, which
 *   composes their SQL through the generic pg_tx_* / pg_query statements at the end of this file):
 *   conversations(id bigserial, secret UNIQUE, ...), messages(id from blocks of log_id_blocks, ...),
 *   feedback(message_id, ...), curated(id bigserial, ...), curated_versions(curated_id, version, ...);
 *   change kinds 'v' 'g' 'p' 'q' (pg.h)
 * Schema 5 adds users, sessions, api_keys, audit, bots, bot_handoff likewise (pg_accounts.c; users'
 *   email unique case-insensitively by an index on lower(email)); kinds 'u' 's' 'k' 'a' 'b' 
 * Schema 6 adds handoffs, handoff_events, handoff_notifications likewise (pg_handoff.c); kind 'h'
 * Schema 7 adds collection_handoff likewise (pg_accounts.c; kind 'o', obj_id = the collection; a
 *   deleted collection's row goes with it), kbox_nodes(node_id, embedders, started_at, last_seen) and
 *   kbox_presence(node_id, actor, collections, last_seen): heartbeats, never mirrored (pg_nodes.c)
 * Migrations run at open, each in its own transaction under the advisory lock PG_LOCK_MIGRATE.
 *
 * Errors: a lost connection or one that cannot be made is KB_EBUSY ("postgresql is unreachable"),
 * which web/ answers with 503; the next call reconnects (PQreset). Unique violations are
 * KB_ECONFLICT, others KB_EIO with PostgreSQL's message.
 * Threads: one connection per pg_db, guarded by its mutex for a whole transaction.
 * `kbox store migrate` (index/migrate.c) reads and writes whole objects with their ids through the
 * pg_copy_* functions (explicit ids, then the sequences moved past them); this file is over 1000
 * lines because libpq is included here alone (STYLE rule 18).
 * Tests: tests/index/test_pg.c (migrations, newer-schema refusal, writes and their change rows),
 * tests/web/test_pg_nodes.c (jobs claimed by three nodes, one killed mid-job),
 * tests/index/test_pg_migrate.c (store migrate), tests/index/test_pg_reembed.c (shared re-embedding),
 * tests/index/test_pg_rows.c (the shared log and curated answers). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "index/pg.h"

#define PG_LOCK_MIGRATE 7216001
#define PG_LOCK_CHANGES 7216002
#define PG_PASSWORD_MAX 1024
#define PG_CLAIM_KEEPALIVE_IDLE_S 15
#define PG_STR_(x) #x
#define PG_STR(x) PG_STR_(x)

struct pg_db {
    PGconn *conn;
    pthread_mutex_t mu;
};

/* ---- errors and statements (mu held) --------------------------------------------------------------- */

static int pg_fail(struct pg_db *db, const PGresult *res, const char *what, struct kb_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);
    char clean[300];
    size_t n = kb_strlcpy(clean, msg, sizeof clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    if (PQstatus(db->conn) != CONNECTION_OK || (state && !strncmp(state, "08", 2)) ||
        (state && !strncmp(state, "57P", 3)))
        return kb_error_set(err, KB_EBUSY, "postgresql is unreachable (%s): %s", what, clean);
    if (state && !strcmp(state, "23505"))
        return kb_error_set(err, KB_ECONFLICT, "postgresql: %s: %s", what, clean);
    if (state && !strcmp(state, "23503"))
        return kb_error_set(err, KB_ENOENT, "postgresql: %s: %s", what, clean);
    return kb_error_set(err, KB_EIO, "postgresql: %s: %s", what, clean);
}

/* Runs sql with text parameters (NULL = SQL NULL) and, when bin_index >= 0, that one parameter as
 * binary (bin, bin_bytes). *out (nullable) gets the result on success; KB_E* otherwise. */
static int pg_run(struct pg_db *db, const char *sql, int n, const char *const *vals, int bin_index, const void *bin,
                  size_t bin_bytes, int result_binary, PGresult **out, const char *what, struct kb_error *err)
{
    int lens[24] = {0}, fmts[24] = {0}, rc = 0;
    PGresult *res;
    ExecStatusType t;
    KB_ASSERT(n <= 24);
    if (bin_index >= 0) {
        KB_ASSERT(bin_index < n && bin_bytes <= (size_t)INT32_MAX);
        lens[bin_index] = (int)bin_bytes;
        fmts[bin_index] = 1;
        ((const char **)vals)[bin_index] = bin;
    }
    res = PQexecParams(db->conn, sql, n, NULL, vals, lens, fmts, result_binary);
    t = PQresultStatus(res);
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
        rc = pg_fail(db, res, what, err);
        PQclear(res);
        res = NULL;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return rc;
}

/* sql without parameters; may hold several statements (migrations). */
static int pg_cmd(struct pg_db *db, const char *sql, const char *what, struct kb_error *err)
{
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType t = PQresultStatus(res);
    int rc = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ? 0 : pg_fail(db, res, what, err);
    PQclear(res);
    return rc;
}

/* Reconnects a connection that broke (mu held). */
static int pg_ensure(struct pg_db *db, struct kb_error *err)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    PQreset(db->conn);
    if (PQstatus(db->conn) == CONNECTION_OK) {
        kb_info("postgresql: reconnected");
        return 0;
    }
    return pg_fail(db, NULL, "connect", err);
}

static int pg_begin(struct pg_db *db, struct kb_error *err)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_cmd(db, "BEGIN", "begin", err);
    if (rc)
        pthread_mutex_unlock(&db->mu);
    return rc;
}

/* Appends the change rows (kind, ids) and NOTIFYs, then COMMITs when rc == 0, else ROLLBACKs;
 * unlocks mu. */
static int pg_end(struct pg_db *db, int rc, char kind, const int64_t *ids, int n_ids, struct kb_error *err)
{
    if (rc == 0 && n_ids > 0) {
        char k[2] = {kind, 0}, idbuf[32];
        rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_CHANGES) ")", "lock change log", err);
        for (int i = 0; rc == 0 && i < n_ids; i++) {
            const char *v[2] = {k, idbuf};
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)ids[i]);
            rc = pg_run(db, "INSERT INTO changes(kind, obj_id) VALUES($1, $2)", 2, v, -1, NULL, 0, 0, NULL,
                        "append change", err);
        }
        if (rc == 0)
            rc = pg_cmd(db, "NOTIFY " PG_NOTIFY_CHANNEL, "notify", err);
    }
    if (rc == 0)
        rc = pg_cmd(db, "COMMIT", "commit", err);
    if (rc && PQstatus(db->conn) == CONNECTION_OK)
        pg_cmd(db, "ROLLBACK", "rollback", NULL);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

static int64_t pg_i64(const PGresult *r, int row, int col)
{
    int64_t v = 0;
    if (!PQgetisnull(r, row, col))
        kb_parse_i64(PQgetvalue(r, row, col), &v);
    return v;
}

/* ---- connection and migrations --------------------------------------------------------------------- */

static const char *const pg_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE kbox_meta(key text PRIMARY KEY, value text NOT NULL);"
    "INSERT INTO kbox_meta VALUES('cluster_id', md5(random()::text || clock_timestamp()::text));"
    "CREATE TABLE collections(id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, created_at bigint NOT NULL);"
    "INSERT INTO collections(name, created_at) VALUES('default', extract(epoch from now())::bigint);"
    "CREATE TABLE documents(id bigserial PRIMARY KEY, collection_id bigint NOT NULL REFERENCES collections(id),"
    " name text NOT NULL DEFAULT '', path text NOT NULL DEFAULT '', mime text NOT NULL DEFAULT '',"
    " bytes bigint NOT NULL DEFAULT 0, sha256 text NOT NULL DEFAULT '', mtime bigint NOT NULL DEFAULT 0,"
    " status text NOT NULL DEFAULT 'queued' CHECK(status IN ('queued','parsing','indexed','failed')),"
    " error text NOT NULL DEFAULT '', ingested_at bigint NOT NULL DEFAULT 0, external_id text NOT NULL DEFAULT '',"
    " title text NOT NULL DEFAULT '', created_at bigint NOT NULL);"
    "CREATE INDEX documents_path ON documents(collection_id, path);"
    "CREATE INDEX documents_ext ON documents(collection_id, external_id);"
    "CREATE INDEX documents_sha ON documents(sha256);"
    "CREATE TABLE chunks(id bigserial PRIMARY KEY,"
    " document_id bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE, ordinal int NOT NULL,"
    " text text NOT NULL, heading_path text NOT NULL DEFAULT '', page_start int NOT NULL DEFAULT 0,"
    " page_end int NOT NULL DEFAULT 0, off_start bigint NOT NULL DEFAULT 0, off_end bigint NOT NULL DEFAULT 0,"
    " n_tokens int NOT NULL DEFAULT 0, page_map text NOT NULL DEFAULT '');"
    "CREATE INDEX chunks_doc ON chunks(document_id, ordinal);"
    "CREATE TABLE embeddings(chunk_id bigint NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
    " embedder_id text NOT NULL, vector bytea NOT NULL, PRIMARY KEY(chunk_id, embedder_id));"
    "CREATE TABLE originals(sha256 text PRIMARY KEY, data bytea NOT NULL);"
    "CREATE TABLE changes(seq bigserial PRIMARY KEY, kind \"char\" NOT NULL, obj_id bigint NOT NULL,"
    " at double precision NOT NULL DEFAULT extract(epoch from clock_timestamp()));",
    /* 1 -> 2: shared jobs (no foreign key: a claimed job's row lock must not meet document writes) */
    "CREATE TABLE jobs(id bigserial PRIMARY KEY, kind text NOT NULL CHECK(kind IN ('ingest')),"
    " document_id bigint NOT NULL, state text NOT NULL DEFAULT 'queued' CHECK(state IN ('queued','done','failed')),"
    " node text NOT NULL DEFAULT '', error text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL, ended_at bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_queued ON jobs(id) WHERE state = 'queued';",
    /* 2 -> 3: shared re-embedding: a 'reembed' job names a document and the embedder its chunks
     * need vectors of (pg_reembed_*) */
    "ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;"
    "ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK(kind IN ('ingest', 'reembed'));"
    "ALTER TABLE jobs ADD COLUMN embedder_id text NOT NULL DEFAULT '';",
    /* 3 -> 4: the conversation log and curated answers, shared by every node (pg_rows.c); the
     * columns are SQLite's (store_log.c, store_curated.c) so a row copies across as it is */
    "CREATE SEQUENCE log_id_blocks;"
    "CREATE TABLE conversations(id bigserial PRIMARY KEY, secret text NOT NULL UNIQUE,"
    " client_key text NOT NULL DEFAULT '', channel text NOT NULL, collection_id bigint NOT NULL DEFAULT 0,"
    " client_ip text, created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE TABLE messages(id bigint PRIMARY KEY,"
    " conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " created_at bigint NOT NULL, channel text NOT NULL, collection_id bigint NOT NULL DEFAULT 0,"
    " question text NOT NULL, qnorm text NOT NULL, answer text NOT NULL, mode text NOT NULL,"
    " fallback int NOT NULL DEFAULT 0, confidence double precision NOT NULL DEFAULT 0,"
    " latency_ms double precision NOT NULL DEFAULT 0, lat_bucket int NOT NULL DEFAULT 0,"
    " model text NOT NULL DEFAULT '', client_ip text, citations text NOT NULL DEFAULT '[]', curated_id bigint,"
    " curated_version int, review text NOT NULL DEFAULT '' CHECK(review IN ('','dismissed','resolved')),"
    " reviewed_at bigint);"
    "CREATE INDEX messages_conv ON messages(conversation_id);"
    "CREATE INDEX messages_time ON messages(created_at);"
    "CREATE TABLE feedback(message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " vote int NOT NULL CHECK(vote IN (-1, 1)), comment text NOT NULL DEFAULT '', created_at bigint NOT NULL,"
    " day bigint NOT NULL, collection_id bigint NOT NULL);"
    "CREATE TABLE curated(id bigserial PRIMARY KEY, collection_id bigint NOT NULL, version int NOT NULL DEFAULT 1,"
    " question text NOT NULL, \"similar\" text NOT NULL DEFAULT '', answer text NOT NULL,"
    " citations text NOT NULL DEFAULT '', document_id bigint NOT NULL DEFAULT 0,"
    " doc_version int NOT NULL DEFAULT 0, uses bigint NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE INDEX curated_doc ON curated(document_id);"
    "CREATE TABLE curated_versions(curated_id bigint NOT NULL REFERENCES curated(id) ON DELETE CASCADE,"
    " version int NOT NULL, question text NOT NULL, \"similar\" text NOT NULL DEFAULT '', answer text NOT NULL,"
    " citations text NOT NULL DEFAULT '', created_at bigint NOT NULL, PRIMARY KEY(curated_id, version));",
    /* 4 -> 5: accounts, sessions, API keys, the audit log and bots, shared likewise (pg_accounts.c) */
    "CREATE TABLE users(id bigserial PRIMARY KEY, email text NOT NULL, name text NOT NULL DEFAULT '',"
    " role text NOT NULL CHECK(role IN ('owner','editor','agent','viewer')), pw_hash text NOT NULL,"
    " collections text NOT NULL DEFAULT '', created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE UNIQUE INDEX users_email ON users(lower(email));"
    "CREATE TABLE sessions(id_hash text PRIMARY KEY, user_id bigint NOT NULL, csrf text NOT NULL,"
    " created_at bigint NOT NULL, last_seen bigint NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE api_keys(id bigserial PRIMARY KEY, prefix text NOT NULL UNIQUE, hash text NOT NULL,"
    " name text NOT NULL DEFAULT '', user_id bigint NOT NULL, scopes text NOT NULL DEFAULT '',"
    " rate_per_min bigint NOT NULL DEFAULT 0, created_at bigint NOT NULL, expires_at bigint NOT NULL DEFAULT 0,"
    " last_used bigint NOT NULL DEFAULT 0, revoked_at bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE audit(id bigserial PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL, action text NOT NULL,"
    " target text NOT NULL DEFAULT '', detail text NOT NULL DEFAULT '', ip text NOT NULL DEFAULT '');"
    "CREATE TABLE bots(id text PRIMARY KEY, name text NOT NULL, collections text NOT NULL DEFAULT '',"
    " greeting text NOT NULL DEFAULT '', persona text NOT NULL DEFAULT '', fallback text NOT NULL DEFAULT '',"
    " strict int NOT NULL DEFAULT -1, model text NOT NULL DEFAULT '', origins text NOT NULL DEFAULT '',"
    " color text NOT NULL DEFAULT '', logo text NOT NULL DEFAULT '', lang text NOT NULL DEFAULT '',"
    " public_page int NOT NULL DEFAULT 1, created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "INSERT INTO bots(id, name, created_at, updated_at) VALUES('default', 'Default',"
    " extract(epoch from now())::bigint, extract(epoch from now())::bigint);"
    "CREATE TABLE bot_handoff(bot_id text PRIMARY KEY, handoff int NOT NULL DEFAULT -1,"
    " keywords text NOT NULL DEFAULT '', after_fallbacks int NOT NULL DEFAULT -1,"
    " on_thumbs_down int NOT NULL DEFAULT -1);",
    /* 5 -> 6: human handoff (pg_handoff.c): SQLite's columns (store_handoff.c); event seqs are
     * numbered here by handoffs.last_event, so they stay unique across nodes */
    "CREATE TABLE handoffs(id bigserial PRIMARY KEY, token_hash text NOT NULL UNIQUE,"
    " kind text NOT NULL DEFAULT 'chat' CHECK(kind IN ('chat','ticket')),"
    " state text NOT NULL DEFAULT 'queued' CHECK(state IN ('queued','taken','closed')),"
    " trigger text NOT NULL DEFAULT '', bot_id text NOT NULL DEFAULT '', collection_id bigint NOT NULL DEFAULT 0,"
    " log_secret text NOT NULL DEFAULT '', agent text NOT NULL DEFAULT '', agent_name text NOT NULL DEFAULT '',"
    " rating int NOT NULL DEFAULT 0 CHECK(rating BETWEEN 0 AND 5), name text NOT NULL DEFAULT '',"
    " contact text NOT NULL DEFAULT '', message text NOT NULL DEFAULT '', closed_by text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL, taken_at bigint NOT NULL DEFAULT 0, closed_at bigint NOT NULL DEFAULT 0,"
    " last_event bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE handoff_events(handoff_id bigint NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,"
    " seq bigint NOT NULL, created_at bigint NOT NULL, kind text NOT NULL, author text NOT NULL DEFAULT '',"
    " text text NOT NULL, PRIMARY KEY(handoff_id, seq));"
    "CREATE TABLE handoff_notifications(id bigserial PRIMARY KEY,"
    " handoff_id bigint NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE, channel text NOT NULL,"
    " state text NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','sent','failed')),"
    " attempts int NOT NULL DEFAULT 0, next_at bigint NOT NULL, last_error text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE INDEX handoff_notifications_hid ON handoff_notifications(handoff_id);",
    /* 6 -> 7: per-collection handoff settings shared like bots' (pg_accounts.c, kind 'o'); each node's
     * heartbeat with the embedders it uses (pg_nodes.c: old vectors are pruned by it) and the agents
     * whose Inbox is open on it (presence shared across nodes) */
    "CREATE TABLE collection_handoff(collection_id bigint PRIMARY KEY, handoff int NOT NULL DEFAULT -1,"
    " keywords text NOT NULL DEFAULT '', keywords_off int NOT NULL DEFAULT 0,"
    " after_fallbacks int NOT NULL DEFAULT -1, on_thumbs_down int NOT NULL DEFAULT -1);"
    "CREATE TABLE kbox_nodes(node_id text PRIMARY KEY, embedders text NOT NULL DEFAULT '',"
    " started_at double precision NOT NULL, last_seen double precision NOT NULL);"
    "CREATE TABLE kbox_presence(node_id text NOT NULL, actor text NOT NULL, collections text NOT NULL DEFAULT '',"
    " last_seen double precision NOT NULL, PRIMARY KEY(node_id, actor));",
};

/* defined below */
static int pg_value(struct pg_db *db, const char *sql, int n, const char *const *vals, char *buf, size_t buf_bytes,
                    const char *what, struct kb_error *err);

int pg_db_schema_version(struct pg_db *db, int *version, struct kb_error *err)
{
    char b[32];
    int64_t v = 0;
    int rc = pg_value(db, "SELECT to_regclass('kbox_schema') IS NOT NULL", 0, NULL, b, sizeof b, "read schema", err);
    if (rc == 0 && b[0] == 't')
        rc = pg_value(db, "SELECT coalesce(max(version), 0) FROM kbox_schema", 0, NULL, b, sizeof b,
                      "read schema version", err);
    else
        kb_strlcpy(b, "0", sizeof b);
    if (rc == 0)
        kb_parse_i64(b, &v);
    *version = (int)v;
    return rc;
}

static int pg_migrate(struct pg_db *db, struct kb_error *err)
{
    int rc = 0;
    for (;;) {
        PGresult *r = NULL;
        int v = 0;
        if ((rc = pg_begin(db, err)) != 0)
            break;
        rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_MIGRATE) ")", "lock for migration", err);
        if (rc == 0)
            rc = pg_cmd(db, "CREATE TABLE IF NOT EXISTS kbox_schema(version int NOT NULL)", "create kbox_schema", err);
        if (rc == 0)
            rc = pg_run(db, "SELECT max(version) FROM kbox_schema", 0, NULL, -1, NULL, 0, 0, &r, "read schema version",
                        err);
        if (rc == 0)
            v = (int)pg_i64(r, 0, 0);
        PQclear(r);
        if (rc == 0 && v > PG_SCHEMA_VERSION)
            rc = kb_error_set(err, KB_ECONFIG,
                              "postgresql database schema version %d is newer than this kbox knows (%d); "
                              "upgrade kbox on this node",
                              v, PG_SCHEMA_VERSION);
        if (rc || v == PG_SCHEMA_VERSION) {
            pg_end(db, rc ? rc : KB_ECANCELED, 0, NULL, 0, NULL); /* nothing to commit */
            break;
        }
        rc = pg_cmd(db, pg_migrations[v], "migrate", err);
        if (rc == 0) {
            char vb[16];
            const char *vals[1] = {vb};
            snprintf(vb, sizeof vb, "%d", v + 1);
            rc = pg_cmd(db, "DELETE FROM kbox_schema", "record schema version", err);
            if (rc == 0)
                rc = pg_run(db, "INSERT INTO kbox_schema(version) VALUES($1)", 1, vals, -1, NULL, 0, 0, NULL,
                            "record schema version", err);
        }
        rc = pg_end(db, rc, 0, NULL, 0, err);
        if (rc)
            break;
        kb_info("postgresql: migrated schema to version %d", v + 1);
    }
    return rc;
}

/* The first line of path, without its newline, into buf. */
static int pg_read_password(const char *path, char *buf, size_t buf_bytes, struct kb_error *err)
{
    FILE *f = fopen(path, "r");
    size_t n;
    if (!f)
        return kb_error_set(err, KB_ECONFIG, "store.password_file '%s': %s", path, strerror(errno));
    if (!fgets(buf, (int)buf_bytes, f))
        buf[0] = '\0';
    fclose(f);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}

/* Server notices (and the FATAL a shutting-down server sends) go to the log, not to stderr. */
static void pg_notice(void *ud, const char *msg)
{
    (void)ud;
    kb_debug("postgresql: %s", msg);
}

/* A pg_db whose connection may have failed (PQreset retries it later). KB_ECONFIG only. */
static int pg_db_new(struct pg_db **out, const char *url, const char *password_file, struct kb_error *err)
{
    struct pg_db *db;
    char pw[PG_PASSWORD_MAX] = "";
    const char *keys[4] = {"dbname", "connect_timeout", NULL, NULL}, *vals[4] = {url, "5", NULL, NULL};
    int rc;
    *out = NULL;
    if (!url || !url[0])
        return kb_error_set(err, KB_ECONFIG, "store.backend is postgres but store.url is empty");
    if (password_file && password_file[0]) {
        if ((rc = pg_read_password(password_file, pw, sizeof pw, err)) != 0)
            return rc;
        keys[2] = "password";
        vals[2] = pw;
    }
    db = kb_xcalloc(1, sizeof *db);
    pthread_mutex_init(&db->mu, NULL);
    db->conn = PQconnectdbParams(keys, vals, 1);
    memset(pw, 0, sizeof pw);
    if (!db->conn) {
        pg_db_close(db);
        return kb_error_set(err, KB_ENOMEM, "postgresql: out of memory");
    }
    PQsetNoticeProcessor(db->conn, pg_notice, NULL);
    *out = db;
    return 0;
}

int pg_db_prepare(struct pg_db *db, bool migrate, struct kb_error *err)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_cmd(db, "SET client_min_messages = warning", "configure session", err);
    pthread_mutex_unlock(&db->mu);
    if (rc == 0 && migrate)
        rc = pg_migrate(db, err);
    return rc;
}

int pg_db_open(struct pg_db **out, const char *url, const char *password_file, bool migrate, struct kb_error *err)
{
    struct pg_db *db;
    int rc = pg_db_new(&db, url, password_file, err);
    *out = NULL;
    if (rc)
        return rc;
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char clean[300];
        size_t n = kb_strlcpy(clean, PQerrorMessage(db->conn), sizeof clean);
        while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
            clean[--n] = '\0';
        rc = kb_error_set(err, KB_EBUSY, "postgresql is unreachable at store.url: %s", clean);
    }
    if (rc == 0)
        rc = pg_db_prepare(db, migrate, err);
    if (rc) {
        pg_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

int pg_db_open_offline(struct pg_db **out, const char *url, const char *password_file, struct kb_error *err)
{
    return pg_db_new(out, url, password_file, err);
}

void pg_db_close(struct pg_db *db)
{
    if (!db)
        return;
    PQfinish(db->conn);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* One text value of a one-row query into buf; "" when no row. */
static int pg_value(struct pg_db *db, const char *sql, int n, const char *const *vals, char *buf, size_t buf_bytes,
                    const char *what, struct kb_error *err)
{
    PGresult *r = NULL;
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, sql, n, vals, -1, NULL, 0, 0, &r, what, err);
    buf[0] = '\0';
    if (rc == 0 && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        kb_strlcpy(buf, PQgetvalue(r, 0, 0), buf_bytes);
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_db_cluster_id(struct pg_db *db, char *buf, size_t buf_bytes, struct kb_error *err)
{
    return pg_value(db, "SELECT value FROM kbox_meta WHERE key='cluster_id'", 0, NULL, buf, buf_bytes,
                    "read cluster id", err);
}

int pg_head(struct pg_db *db, int64_t *seq, struct kb_error *err)
{
    char b[32];
    int rc = pg_value(db, "SELECT coalesce(max(seq), 0) FROM changes", 0, NULL, b, sizeof b, "read head", err);
    *seq = 0;
    if (rc == 0)
        kb_parse_i64(b, seq);
    return rc;
}

/* ---- writes ---------------------------------------------------------------------------------------- */

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

static const char *nz(const char *s)
{
    return s ? s : "";
}

int pg_collection_create(struct pg_db *db, const char *name, int64_t *id_out, struct kb_error *err)
{
    PGresult *r = NULL;
    char now[32];
    const char *v[2] = {name, I64(now, store_now_s())};
    int64_t id = 0;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "INSERT INTO collections(name, created_at) VALUES($1, $2) RETURNING id", 2, v, -1, NULL, 0, 0, &r,
                "create collection", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' already exists", name);
    if (rc == 0)
        id = pg_i64(r, 0, 0);
    PQclear(r);
    rc = pg_end(db, rc, PG_KIND_COLLECTION, &id, 1, err);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int pg_collection_rename(struct pg_db *db, int64_t id, const char *name, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[2] = {I64(ib, id), name};
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "UPDATE collections SET name=$2 WHERE id=$1", 2, v, -1, NULL, 0, 0, &r, "rename collection", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' already exists", name);
    else if (rc == 0 && strcmp(PQcmdTuples(r), "0") == 0)
        rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
    PQclear(r);
    return pg_end(db, rc, PG_KIND_COLLECTION, &id, 1, err);
}

/* Deletes the documents selected by sql ($1 = key) and returns their ids (caller frees). */
static int pg_delete_docs(struct pg_db *db, const char *sql, int64_t key, int64_t **ids, int *n,
                          struct kb_error *err)
{
    PGresult *r = NULL;
    char kb[32];
    const char *v[1] = {I64(kb, key)};
    int rc = pg_run(db, sql, 1, v, -1, NULL, 0, 0, &r, "delete documents", err);
    *ids = NULL;
    *n = 0;
    if (rc == 0) {
        *n = PQntuples(r);
        *ids = kb_xmalloc((size_t)(*n + 1) * sizeof(int64_t));
        for (int i = 0; i < *n; i++)
            (*ids)[i] = pg_i64(r, i, 0);
    }
    PQclear(r);
    return rc;
}

int pg_collection_delete(struct pg_db *db, int64_t id, struct kb_error *err)
{
    PGresult *r = NULL;
    int64_t *ids = NULL;
    int n = 0, rc;
    char ib[32];
    const char *v[1] = {I64(ib, id)};
    if (id == 1)
        return kb_error_set(err, KB_EFORBIDDEN, "the default collection cannot be deleted");
    if ((rc = pg_begin(db, err)) != 0)
        return rc;
    rc = pg_delete_docs(db, "DELETE FROM documents WHERE collection_id=$1 RETURNING id", id, &ids, &n, err);
    if (rc == 0) /* its handoff settings go with it (each node's cache drops them with the collection) */
        rc = pg_run(db, "DELETE FROM collection_handoff WHERE collection_id=$1", 1, v, -1, NULL, 0, 0, NULL,
                    "delete collection handoff settings", err);
    if (rc == 0)
        rc = pg_run(db, "DELETE FROM collections WHERE id=$1", 1, v, -1, NULL, 0, 0, &r, "delete collection", err);
    if (rc == 0 && strcmp(PQcmdTuples(r), "0") == 0)
        rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
    PQclear(r);
    if (rc == 0) { /* the documents' changes first, then the collection's: a node applies them in order */
        ids = kb_xrealloc(ids, (size_t)(n + 1) * sizeof(int64_t));
        if (n > 0) {
            char k[2] = {PG_KIND_DOC, 0}, idb[32];
            rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_CHANGES) ")", "lock change log", err);
            for (int i = 0; rc == 0 && i < n; i++) {
                const char *cv[2] = {k, I64(idb, ids[i])};
                rc = pg_run(db, "INSERT INTO changes(kind, obj_id) VALUES($1, $2)", 2, cv, -1, NULL, 0, 0, NULL,
                            "append change", err);
            }
        }
    }
    free(ids);
    return pg_end(db, rc, PG_KIND_COLLECTION, &id, 1, err);
}

/* Inserts a document row; *id gets its id. */
static int pg_doc_insert(struct pg_db *db, const struct index_doc *d, int64_t coll, const char *sha, int64_t *id,
                         struct kb_error *err)
{
    PGresult *r = NULL;
    char cb[32], bb[32], mb[32], nb[32];
    const char *v[11] = {I64(cb, coll), nz(d->name), nz(d->path), nz(d->mime), I64(bb, d->bytes), sha,
                         I64(mb, d->mtime), index_doc_status_name(d->status), nz(d->error), nz(d->external_id),
                         nz(d->title)};
    const char *v2[12];
    int rc;
    memcpy(v2, v, sizeof v);
    v2[11] = I64(nb, store_now_s());
    rc = pg_run(db, "INSERT INTO documents(collection_id, name, path, mime, bytes, sha256, mtime, status, error,"
                    " external_id, title, created_at) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
                12, v2, -1, NULL, 0, 0, &r, "insert document", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "collection %lld does not exist", (long long)coll);
    if (rc == 0)
        *id = pg_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* Inserts a queued job (mu held, inside a transaction). */
static int pg_job_insert(struct pg_db *db, const char *kind, int64_t doc_id, int64_t *job_id, struct kb_error *err)
{
    PGresult *r = NULL;
    char db_[32], nb[32];
    const char *v[3] = {kind, I64(db_, doc_id), I64(nb, store_now_s())};
    int rc = pg_run(db, "INSERT INTO jobs(kind, document_id, created_at) VALUES($1, $2, $3) RETURNING id", 3, v, -1,
                    NULL, 0, 0, &r, "queue job", err);
    if (rc == 0)
        *job_id = pg_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

int pg_doc_create(struct pg_db *db, const struct index_doc *doc, int64_t *id_out, int64_t *job_out,
                  struct kb_error *err)
{
    int64_t id = 0, job = 0;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_doc_insert(db, doc, doc->collection_id > 0 ? doc->collection_id : 1, doc->sha256, &id, err);
    if (rc == 0 && job_out)
        rc = pg_job_insert(db, "ingest", id, &job, err);
    rc = pg_end(db, rc, PG_KIND_DOC, &id, 1, err);
    if (rc == 0 && id_out)
        *id_out = id;
    if (rc == 0 && job_out)
        *job_out = job;
    return rc;
}

/* ---- shared jobs ----------------------------------------------------------------------------------- */

int pg_job_requeue(struct pg_db *db, int64_t doc_id, int64_t *job_id, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[3] = {I64(ib, doc_id), index_doc_status_name(INDEX_DOC_QUEUED), ""};
    int64_t id = doc_id;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "UPDATE documents SET status=$2, error=$3 WHERE id=$1", 3, v, -1, NULL, 0, 0, &r,
                "queue document", err);
    if (rc == 0 && strcmp(PQcmdTuples(r), "0") == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)doc_id);
    PQclear(r);
    if (rc == 0)
        rc = pg_job_insert(db, "ingest", doc_id, job_id, err);
    return pg_end(db, rc, PG_KIND_DOC_META, &id, 1, err);
}

static void pg_job_row(const PGresult *r, int row, struct index_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = pg_i64(r, row, 0);
    kb_strlcpy(j->kind, PQgetvalue(r, row, 1), sizeof j->kind);
    j->document_id = pg_i64(r, row, 2);
    kb_strlcpy(j->state, PQgetvalue(r, row, 3), sizeof j->state);
    kb_strlcpy(j->node, PQgetvalue(r, row, 4), sizeof j->node);
    kb_strlcpy(j->error, PQgetvalue(r, row, 5), sizeof j->error);
    j->doc_found = !PQgetisnull(r, row, 6);
    j->collection_id = pg_i64(r, row, 6);
    kb_strlcpy(j->name, PQgetvalue(r, row, 7), sizeof j->name);
    kb_strlcpy(j->sha256, PQgetvalue(r, row, 8), sizeof j->sha256);
    kb_strlcpy(j->path, PQgetvalue(r, row, 9), sizeof j->path);
}

#define PG_JOB_COLS                                                                                                    \
    "j.id, j.kind, j.document_id, j.state, j.node, j.error, d.collection_id, coalesce(d.name, ''),"                   \
    " coalesce(d.sha256, ''), coalesce(d.path, '')"

int pg_db_claim_session(struct pg_db *db, struct kb_error *err)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    /* a node cut off (not killed) has no socket closed: the server's keepalive probes end its session,
     * and so its claims, within about idle + interval x count seconds (ignored on a Unix socket) */
    if (rc == 0)
        rc = pg_cmd(db, "SET tcp_keepalives_idle = " PG_STR(PG_CLAIM_KEEPALIVE_IDLE_S)
                        "; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3",
                    "configure claiming session", err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_job_claim(struct pg_db *db, struct index_job *out, struct kb_error *err)
{
    PGresult *r = NULL;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    /* the row lock is the claim: it lasts as long as this transaction, which ends with pg_job_end or
     * with this connection (a node killed mid-job), whichever comes first */
    rc = pg_run(db, "SELECT " PG_JOB_COLS " FROM jobs j LEFT JOIN documents d ON d.id = j.document_id"
                    " WHERE j.state = 'queued' AND j.kind = 'ingest' ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
                0, NULL, -1, NULL, 0, 0, &r, "claim job", err);
    if (rc == 0 && PQntuples(r) == 0)
        rc = KB_ENOENT; /* nothing to do: not an error worth a message */
    if (rc == 0)
        pg_job_row(r, 0, out);
    PQclear(r);
    if (rc) {
        if (PQstatus(db->conn) == CONNECTION_OK)
            pg_cmd(db, "ROLLBACK", "rollback", NULL);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    pthread_mutex_unlock(&db->mu); /* the transaction stays open on this connection */
    return 0;
}

int pg_job_end(struct pg_db *db, int64_t id, enum index_job_end how, const char *node, const char *error,
               struct kb_error *err)
{
    char ib[32], nb[32];
    const char *v[5] = {I64(ib, id), how == INDEX_JOB_FAILED ? "failed" : "done", nz(node), nz(error),
                        I64(nb, store_now_s())};
    int rc;
    pthread_mutex_lock(&db->mu);
    if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) { /* the connection (and so the claim) was lost */
        rc = kb_error_set(err, KB_EBUSY, "postgresql is unreachable (end job %lld): the claim was lost", (long long)id);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    if (how == INDEX_JOB_RELEASE) {
        rc = pg_cmd(db, "ROLLBACK", "release job", err);
    } else {
        rc = pg_run(db, "UPDATE jobs SET state=$2, node=$3, error=$4, ended_at=$5 WHERE id=$1", 5, v, -1, NULL, 0, 0,
                    NULL, "end job", err);
        rc = rc ? rc : pg_cmd(db, "COMMIT", "commit", err);
        if (rc && PQstatus(db->conn) == CONNECTION_OK)
            pg_cmd(db, "ROLLBACK", "rollback", NULL);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_job_list(struct pg_db *db, int max, struct index_job *out, int *n_out, struct kb_error *err)
{
    PGresult *r = NULL;
    char mb[32];
    const char *v[1] = {I64(mb, max)};
    int rc;
    *n_out = 0;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT " PG_JOB_COLS " FROM jobs j LEFT JOIN documents d ON d.id = j.document_id"
                        " ORDER BY j.id DESC LIMIT $1", 1, v, -1, NULL, 0, 0, &r, "list jobs", err);
    for (int i = 0; rc == 0 && i < PQntuples(r) && i < max; i++)
        pg_job_row(r, i, &out[(*n_out)++]);
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_job_get(struct pg_db *db, int64_t id, struct index_job *out, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[1] = {I64(ib, id)};
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT " PG_JOB_COLS " FROM jobs j LEFT JOIN documents d ON d.id = j.document_id"
                        " WHERE j.id = $1", 1, v, -1, NULL, 0, 0, &r, "read job", err);
    if (rc == 0 && PQntuples(r) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no job %lld", (long long)id);
    if (rc == 0)
        pg_job_row(r, 0, out);
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_doc_set_status(struct pg_db *db, int64_t id, enum index_doc_status s, const char *error, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[3] = {I64(ib, id), index_doc_status_name(s), nz(error)};
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "UPDATE documents SET status=$2, error=$3 WHERE id=$1", 3, v, -1, NULL, 0, 0, &r,
                "update document status", err);
    if (rc == 0 && strcmp(PQcmdTuples(r), "0") == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)id);
    PQclear(r);
    return pg_end(db, rc, PG_KIND_DOC_META, &id, 1, err);
}

/* The row a replace writes to (FOR UPDATE); *id 0 = a new row; *coll takes an existing row's
 * collection when the caller gave none. */
static int pg_replace_target(struct pg_db *db, const struct index_doc *d, int64_t *coll, int64_t *id,
                             struct kb_error *err)
{
    PGresult *r = NULL;
    char a[32], b[32];
    const char *v[2];
    const char *sql;
    int rc;
    *id = 0;
    if (d->id > 0) {
        sql = "SELECT id, collection_id FROM documents WHERE id=$1 FOR UPDATE";
        v[0] = I64(a, d->id);
        v[1] = NULL;
    } else if ((d->path && d->path[0]) || (d->external_id && d->external_id[0])) {
        sql = d->path && d->path[0]
                  ? "SELECT id, collection_id FROM documents WHERE collection_id=$1 AND path=$2 ORDER BY id LIMIT 1"
                    " FOR UPDATE"
                  : "SELECT id, collection_id FROM documents WHERE collection_id=$1 AND external_id=$2 ORDER BY id"
                    " LIMIT 1 FOR UPDATE";
        v[0] = I64(a, *coll);
        v[1] = d->path && d->path[0] ? d->path : d->external_id;
    } else {
        return 0;
    }
    (void)b;
    rc = pg_run(db, sql, d->id > 0 ? 1 : 2, v, -1, NULL, 0, 0, &r, "find document", err);
    if (rc == 0 && PQntuples(r) > 0) {
        *id = pg_i64(r, 0, 0);
        if (d->collection_id <= 0)
            *coll = pg_i64(r, 0, 1);
    }
    PQclear(r);
    if (rc == 0 && d->id > 0 && *id == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)d->id);
    return rc;
}

static int pg_copy_write_chunks(struct pg_db *db, const struct copy_doc *d, struct kb_error *err); /* below */

/* A document's new chunks (and their vectors of e): ids drawn from the sequence in one round trip,
 * then the rows in multi-row INSERTs (pg_copy_write_chunks) instead of two round trips per chunk. */
static int pg_insert_chunks(struct pg_db *db, int64_t doc_id, const struct index_chunk *chunks, int n,
                            const struct index_embedder *e, const float *vectors, struct kb_error *err)
{
    struct copy_doc d;
    PGresult *r = NULL;
    char nb[32];
    const char *v[1] = {I64(nb, n)};
    int rc;
    if (n <= 0)
        return 0;
    memset(&d, 0, sizeof d);
    d.doc.id = doc_id;
    d.n_chunks = n;
    d.chunks = (struct index_chunk *)chunks;
    rc = pg_run(db, "SELECT nextval('chunks_id_seq') FROM generate_series(1, $1::int)", 1, v, -1, NULL, 0, 0, &r,
                "allocate chunk ids", err);
    if (rc == 0 && PQntuples(r) != n)
        rc = kb_error_set(err, KB_EIO, "postgresql: %d chunk ids for %d chunks", PQntuples(r), n);
    if (rc == 0) {
        d.chunk_ids = kb_xmalloc((size_t)n * sizeof *d.chunk_ids);
        for (int i = 0; i < n; i++)
            d.chunk_ids[i] = pg_i64(r, i, 0);
    }
    PQclear(r);
    if (rc == 0 && e && vectors) {
        d.vecs = kb_xmalloc((size_t)n * sizeof *d.vecs);
        d.n_vecs = n;
        for (int i = 0; i < n; i++) {
            d.vecs[i].chunk_id = d.chunk_ids[i];
            d.vecs[i].embedder_id = e->id;
            d.vecs[i].data = vectors + (size_t)i * (size_t)e->dim;
            d.vecs[i].n_bytes = e->dim * (int)sizeof(float);
        }
    }
    if (rc == 0)
        rc = pg_copy_write_chunks(db, &d, err);
    free(d.chunk_ids);
    free(d.vecs);
    return rc;
}

int pg_doc_replace(struct pg_db *db, const struct index_doc *doc, const char *sha, const struct index_chunk *chunks,
                   int n_chunks, const struct index_embedder *e, const float *vectors, const void *original,
                   size_t original_bytes, int64_t *id_out, struct kb_error *err)
{
    int64_t coll = doc->collection_id > 0 ? doc->collection_id : 1, id = 0;
    char ib[32], cb[32], bb[32], mb[32], nb[32];
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    if (original && sha[0]) {
        const char *v[2] = {sha, NULL};
        rc = pg_run(db, "INSERT INTO originals(sha256, data) VALUES($1, $2) ON CONFLICT DO NOTHING", 2, v, 1,
                    original, original_bytes, 0, NULL, "store original", err);
    }
    if (rc == 0)
        rc = pg_replace_target(db, doc, &coll, &id, err);
    if (rc == 0 && id == 0) {
        rc = pg_doc_insert(db, doc, coll, sha, &id, err);
    } else if (rc == 0) {
        const char *v[1] = {I64(ib, id)};
        rc = pg_run(db, "DELETE FROM chunks WHERE document_id=$1", 1, v, -1, NULL, 0, 0, NULL, "delete chunks", err);
    }
    if (rc == 0) {
        const char *v[11] = {I64(ib, id), I64(cb, coll), nz(doc->name), nz(doc->path), nz(doc->mime),
                             I64(bb, doc->bytes), sha, I64(mb, doc->mtime), I64(nb, store_now_s()),
                             nz(doc->external_id), nz(doc->title)};
        rc = pg_run(db, "UPDATE documents SET collection_id=$2, name=$3, path=$4, mime=$5, bytes=$6, sha256=$7,"
                        " mtime=$8, status='indexed', error='', ingested_at=$9, external_id=$10, title=$11 WHERE id=$1",
                    11, v, -1, NULL, 0, 0, NULL, "update document", err);
        if (rc == KB_ENOENT)
            rc = kb_error_set(err, KB_ENOENT, "collection %lld does not exist", (long long)coll);
    }
    if (rc == 0)
        rc = pg_insert_chunks(db, id, chunks, n_chunks, e, vectors, err);
    rc = pg_end(db, rc, PG_KIND_DOC, &id, 1, err);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int pg_doc_delete(struct pg_db *db, int64_t id, struct kb_error *err)
{
    int64_t *ids = NULL;
    int n = 0, rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_delete_docs(db, "DELETE FROM documents WHERE id=$1 RETURNING id", id, &ids, &n, err);
    if (rc == 0 && n == 0)
        rc = kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)id);
    free(ids);
    return pg_end(db, rc, PG_KIND_DOC, &id, 1, err);
}

int pg_original_put(struct pg_db *db, const char *sha, const void *data, size_t n, struct kb_error *err)
{
    const char *v[2] = {sha, NULL};
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "INSERT INTO originals(sha256, data) VALUES($1, $2) ON CONFLICT DO NOTHING", 2, v, 1, data, n, 0,
                NULL, "store original", err);
    return pg_end(db, rc, 0, NULL, 0, err);
}

/* ---- reads ----------------------------------------------------------------------------------------- */

int pg_changes_since(struct pg_db *db, int64_t after, struct pg_change *out, int max, int *n_out,
                     struct kb_error *err)
{
    PGresult *r = NULL;
    char ab[32], mb[32];
    const char *v[2] = {I64(ab, after), I64(mb, max)};
    int rc;
    *n_out = 0;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT seq, kind, obj_id, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2", 2, v, -1,
                    NULL, 0, 0, &r, "read changes", err);
    for (int i = 0; rc == 0 && i < PQntuples(r) && i < max; i++) {
        out[i].seq = pg_i64(r, i, 0);
        out[i].kind = PQgetvalue(r, i, 1)[0];
        out[i].obj_id = pg_i64(r, i, 2);
        kb_parse_f64(PQgetvalue(r, i, 3), &out[i].at);
        *n_out = i + 1;
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_collection_fetch(struct pg_db *db, int64_t id, bool *found, char *name, size_t name_bytes, int64_t *created_at,
                        struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[1] = {I64(ib, id)};
    int rc;
    *found = false;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT name, created_at FROM collections WHERE id=$1", 1, v, -1, NULL, 0, 0, &r,
                    "read collection", err);
    if (rc == 0 && PQntuples(r) > 0) {
        *found = true;
        kb_strlcpy(name, PQgetvalue(r, 0, 0), name_bytes);
        *created_at = pg_i64(r, 0, 1);
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

static enum index_doc_status pg_status_parse(const char *s)
{
    for (int k = INDEX_DOC_QUEUED; k <= INDEX_DOC_FAILED; k++)
        if (!strcmp(s, index_doc_status_name((enum index_doc_status)k)))
            return (enum index_doc_status)k;
    return INDEX_DOC_FAILED;
}

static const char *pg_str(const PGresult *r, int row, int col, struct kb_arena *a)
{
    char *s = kb_arena_strdup(a, PQgetvalue(r, row, col));
    return s ? s : "";
}

/* Decodes a big-endian int8 of a binary result. */
static int64_t pg_bin_i64(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t v = 0;
    if (PQgetlength(r, row, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

/* The chunks (and their vectors of e) of document id into out (inside the snapshot, mu held). */
static int pg_doc_fetch_chunks(struct pg_db *db, const char *idv, const struct index_embedder *e, struct kb_arena *a,
                               struct pg_doc_state *out, struct kb_error *err)
{
    PGresult *r = NULL;
    const char *v[2] = {idv, e ? e->id : ""};
    int rc = pg_run(db, "SELECT id, text, heading_path, page_start, page_end, off_start, off_end, n_tokens, page_map"
                        " FROM chunks WHERE document_id=$1 ORDER BY ordinal", 1, v, -1, NULL, 0, 0, &r, "read chunks",
                    err);
    int n = rc == 0 ? PQntuples(r) : 0;
    if (rc == 0) {
        out->chunk_ids = kb_arena_alloc(a, (size_t)(n + 1) * sizeof(int64_t));
        out->chunks = kb_arena_alloc(a, (size_t)(n + 1) * sizeof(struct index_chunk));
        if (!out->chunk_ids || !out->chunks)
            rc = kb_error_set(err, KB_ENOMEM, "document %s: %d chunks exceed the memory cap", idv, n);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        struct index_chunk *c = &out->chunks[i];
        memset(c, 0, sizeof *c);
        out->chunk_ids[i] = pg_i64(r, i, 0);
        c->text = pg_str(r, i, 1, a);
        c->heading_path = pg_str(r, i, 2, a);
        c->page_start = (int)pg_i64(r, i, 3);
        c->page_end = (int)pg_i64(r, i, 4);
        c->off_start = pg_i64(r, i, 5);
        c->off_end = pg_i64(r, i, 6);
        c->n_tokens = (int)pg_i64(r, i, 7);
        c->page_map = pg_str(r, i, 8, a);
        out->n_chunks = i + 1;
    }
    PQclear(r);
    r = NULL;
    if (rc || !e || n == 0)
        return rc;
    out->vectors = kb_try_malloc((size_t)n * (size_t)e->dim, sizeof(float));
    if (!out->vectors)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d chunk vectors", n);
    rc = pg_run(db, "SELECT e.chunk_id, e.vector FROM embeddings e JOIN chunks c ON c.id=e.chunk_id"
                    " WHERE c.document_id=$1 AND e.embedder_id=$2 ORDER BY c.ordinal", 2, v, -1, NULL, 0, 1, &r,
                "read vectors", err);
    out->n_vec_missing = n;
    for (int i = 0, k = 0; rc == 0 && i < PQntuples(r); i++) {
        int64_t cid = pg_bin_i64(r, i, 0);
        while (k < n && out->chunk_ids[k] != cid)
            k++;
        if (k == n || PQgetlength(r, i, 1) != (int)((size_t)e->dim * sizeof(float)))
            continue;
        memcpy(out->vectors + (size_t)k * (size_t)e->dim, PQgetvalue(r, i, 1), (size_t)e->dim * sizeof(float));
        out->n_vec_missing--;
    }
    PQclear(r);
    if (out->n_vec_missing > 0) {
        free(out->vectors);
        out->vectors = NULL;
    }
    return rc;
}

int pg_doc_fetch(struct pg_db *db, int64_t id, bool meta_only, const struct index_embedder *e, struct kb_arena *a,
                 struct pg_doc_state *out, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[1] = {I64(ib, id)};
    int rc;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_cmd(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin snapshot", err);
    if (rc == 0) {
        rc = pg_run(db, "SELECT id, collection_id, name, path, mime, bytes, sha256, mtime, status, error, ingested_at,"
                        " external_id, title FROM documents WHERE id=$1", 1, v, -1, NULL, 0, 0, &r, "read document",
                    err);
        if (rc == 0 && PQntuples(r) > 0) {
            struct index_doc *d = &out->doc;
            out->found = true;
            d->id = pg_i64(r, 0, 0);
            d->collection_id = pg_i64(r, 0, 1);
            d->name = pg_str(r, 0, 2, a);
            d->path = pg_str(r, 0, 3, a);
            d->mime = pg_str(r, 0, 4, a);
            d->bytes = pg_i64(r, 0, 5);
            kb_strlcpy(d->sha256, PQgetvalue(r, 0, 6), sizeof d->sha256);
            d->mtime = pg_i64(r, 0, 7);
            d->status = pg_status_parse(PQgetvalue(r, 0, 8));
            d->error = pg_str(r, 0, 9, a);
            d->ingested_at = pg_i64(r, 0, 10);
            d->external_id = pg_str(r, 0, 11, a);
            d->title = pg_str(r, 0, 12, a);
        }
        PQclear(r);
        if (rc == 0 && out->found && !meta_only)
            rc = pg_doc_fetch_chunks(db, v[0], e, a, out, err);
        if (PQstatus(db->conn) == CONNECTION_OK)
            pg_cmd(db, rc ? "ROLLBACK" : "COMMIT", "end snapshot", NULL);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        free(out->vectors);
        out->vectors = NULL;
    }
    return rc;
}

int pg_original_fetch(struct pg_db *db, const char *sha, void **data, size_t *n, struct kb_error *err)
{
    PGresult *r = NULL;
    const char *v[1] = {sha};
    int rc;
    *data = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT data FROM originals WHERE sha256=$1", 1, v, -1, NULL, 0, 1, &r, "read original", err);
    if (rc == 0 && PQntuples(r) == 0)
        rc = kb_error_set(err, KB_ENOENT, "original '%s' is not in postgresql", sha);
    if (rc == 0) {
        *n = (size_t)PQgetlength(r, 0, 0);
        *data = kb_try_malloc(*n + 1, 1);
        if (!*data)
            rc = kb_error_set(err, KB_ENOMEM, "no memory for an original of %zu bytes", *n);
        else
            memcpy(*data, PQgetvalue(r, 0, 0), *n);
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_ids(struct pg_db *db, const char *table, int64_t **ids, int64_t *n, struct kb_error *err)
{
    PGresult *r = NULL;
    int rc;
    KB_ASSERT(!strcmp(table, "documents") || !strcmp(table, "collections"));
    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, strcmp(table, "documents") ? "SELECT id FROM collections ORDER BY id"
                                                   : "SELECT id FROM documents ORDER BY id",
                    0, NULL, -1, NULL, 0, 0, &r, "list ids", err);
    if (rc == 0) {
        *n = PQntuples(r);
        *ids = kb_xmalloc((size_t)(*n + 1) * sizeof(int64_t));
        for (int i = 0; i < (int)*n; i++)
            (*ids)[i] = pg_i64(r, i, 0);
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_counts(struct pg_db *db, int64_t *n_docs, int64_t *n_chunks, struct kb_error *err)
{
    char b[64];
    int rc = pg_value(db, "SELECT (SELECT count(*) FROM documents)::text || ' ' || (SELECT count(*) FROM chunks)", 0,
                      NULL, b, sizeof b, "count", err);
    long long d = 0, c = 0;
    if (rc == 0 && sscanf(b, "%lld %lld", &d, &c) != 2)
        rc = kb_error_set(err, KB_EIO, "postgresql: unexpected count '%s'", b);
    *n_docs = d;
    *n_chunks = c;
    return rc;
}

/* ---- notifications --------------------------------------------------------------------------------- */

int pg_listen(struct pg_db *db, struct kb_error *err)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_cmd(db, "LISTEN " PG_NOTIFY_CHANNEL, "listen", err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_wait(struct pg_db *db, int wake_fd, int timeout_ms, bool *notified, struct kb_error *err)
{
    struct pollfd fds[2] = {{.fd = PQsocket(db->conn), .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    int rc = 0;
    *notified = false;
    pthread_mutex_lock(&db->mu);
    if (fds[0].fd < 0 || PQstatus(db->conn) != CONNECTION_OK) {
        rc = pg_fail(db, NULL, "wait for changes", err);
        goto out_unlock;
    }
    /* the sync thread is this connection's only user: no need to hold mu while waiting */
    pthread_mutex_unlock(&db->mu);
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
        fds[0].revents = 0;
    pthread_mutex_lock(&db->mu);
    if (fds[0].revents) {
        PGnotify *nf;
        if (!PQconsumeInput(db->conn)) {
            rc = pg_fail(db, NULL, "wait for changes", err);
            goto out_unlock;
        }
        while ((nf = PQnotifies(db->conn)) != NULL) {
            *notified = true;
            PQfreemem(nf);
        }
    }
out_unlock:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- whole objects for `kbox store migrate` (migrate.c) ---------------------------------------------- */

int pg_copy_collections(struct pg_db *db, struct kb_arena *a, struct copy_coll **out, int *n, struct kb_error *err)
{
    PGresult *r = NULL;
    int rc;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT id, name, created_at FROM collections ORDER BY id", 0, NULL, -1, NULL, 0, 0, &r,
                    "read collections", err);
    if (rc == 0) {
        *out = kb_xmalloc((size_t)(PQntuples(r) + 1) * sizeof **out);
        for (int i = 0; i < PQntuples(r); i++) {
            (*out)[i].id = pg_i64(r, i, 0);
            (*out)[i].name = pg_str(r, i, 1, a);
            (*out)[i].created_at = pg_i64(r, i, 2);
        }
        *n = PQntuples(r);
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int pg_copy_collection_put(struct pg_db *db, const struct copy_coll *c, struct kb_error *err)
{
    char ib[32], cb[32];
    const char *v[3] = {I64(ib, c->id), c->name, I64(cb, c->created_at)};
    int64_t id = c->id;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = pg_run(db, "INSERT INTO collections(id, name, created_at) VALUES($1, $2, $3)"
                    " ON CONFLICT(id) DO UPDATE SET name=excluded.name, created_at=excluded.created_at",
                3, v, -1, NULL, 0, 0, NULL, "copy collection", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "collection '%s' exists under another id than %lld", c->name,
                          (long long)c->id);
    return pg_end(db, rc, PG_KIND_COLLECTION, &id, 1, err);
}

/* Every vector row of the document's chunks (mu held, in the snapshot). */
static int pg_copy_read_vecs(struct pg_db *db, const char *idv, struct kb_arena *a, struct copy_doc *out,
                             struct kb_error *err)
{
    PGresult *r = NULL;
    const char *v[1] = {idv};
    int rc = pg_run(db, "SELECT e.chunk_id, e.embedder_id, e.vector FROM embeddings e JOIN chunks c ON c.id=e.chunk_id"
                        " WHERE c.document_id=$1", 1, v, -1, NULL, 0, 1, &r, "read vectors", err);
    int n = rc == 0 ? PQntuples(r) : 0;
    if (rc == 0 && n > 0) {
        out->vecs = kb_arena_alloc(a, (size_t)n * sizeof *out->vecs);
        if (!out->vecs)
            rc = kb_error_set(err, KB_ENOMEM, "document %s: no memory for its vectors", idv);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        struct copy_vec *cv = &out->vecs[i];
        int nb = PQgetlength(r, i, 2);
        void *data = kb_arena_alloc(a, (size_t)nb + 1);
        if (!data) {
            rc = kb_error_set(err, KB_ENOMEM, "document %s: no memory for its vectors", idv);
            break;
        }
        memcpy(data, PQgetvalue(r, i, 2), (size_t)nb);
        cv->chunk_id = pg_bin_i64(r, i, 0);
        cv->embedder_id = pg_str(r, i, 1, a);
        cv->data = data;
        cv->n_bytes = nb;
        out->n_vecs = i + 1;
    }
    PQclear(r);
    if (rc == 0)
        copy_sort_vecs(out->vecs, out->n_vecs);
    return rc;
}

int pg_copy_doc_read(struct pg_db *db, int64_t id, struct kb_arena *a, struct copy_doc *out, struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[1] = {I64(ib, id)};
    struct pg_doc_state ds;
    int rc;
    memset(out, 0, sizeof *out);
    memset(&ds, 0, sizeof ds);
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_cmd(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin snapshot", err);
    if (rc)
        goto out_unlock;
    rc = pg_run(db, "SELECT d.id, d.collection_id, d.name, d.path, d.mime, d.bytes, d.sha256, d.mtime, d.status,"
                    " d.error, d.ingested_at, d.external_id, d.title, d.created_at,"
                    " EXISTS(SELECT 1 FROM originals o WHERE o.sha256 = d.sha256 AND d.sha256 <> '')"
                    " FROM documents d WHERE d.id=$1", 1, v, -1, NULL, 0, 0, &r, "read document", err);
    if (rc == 0 && PQntuples(r) > 0) {
        struct index_doc *d = &out->doc;
        out->found = true;
        d->id = pg_i64(r, 0, 0);
        d->collection_id = pg_i64(r, 0, 1);
        d->name = pg_str(r, 0, 2, a);
        d->path = pg_str(r, 0, 3, a);
        d->mime = pg_str(r, 0, 4, a);
        d->bytes = pg_i64(r, 0, 5);
        kb_strlcpy(d->sha256, PQgetvalue(r, 0, 6), sizeof d->sha256);
        d->mtime = pg_i64(r, 0, 7);
        d->status = pg_status_parse(PQgetvalue(r, 0, 8));
        d->error = pg_str(r, 0, 9, a);
        d->ingested_at = pg_i64(r, 0, 10);
        d->external_id = pg_str(r, 0, 11, a);
        d->title = pg_str(r, 0, 12, a);
        out->created_at = pg_i64(r, 0, 13);
        d->has_original = PQgetvalue(r, 0, 14)[0] == 't';
    }
    PQclear(r);
    if (rc == 0 && out->found) { /* the chunks as the sync reads them, without vectors */
        rc = pg_doc_fetch_chunks(db, v[0], NULL, a, &ds, err);
        out->n_chunks = ds.n_chunks;
        out->chunk_ids = ds.chunk_ids;
        out->chunks = ds.chunks;
    }
    if (rc == 0 && out->found)
        rc = pg_copy_read_vecs(db, v[0], a, out, err);
    if (PQstatus(db->conn) == CONNECTION_OK)
        pg_cmd(db, rc ? "ROLLBACK" : "COMMIT", "end snapshot", NULL);
out_unlock:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

#define PG_ROWS_PER_STMT 64 /* rows of one multi-row INSERT: one round trip instead of 64 */

/* INSERTs n_rows rows of n_cols parameters each (vals row-major; lens/fmts per value, NULL = all
 * text) as multi-row statements "<head> VALUES ($1,...),(...)" (mu held, in a transaction). */
static int pg_insert_rows(struct pg_db *db, const char *head, int n_cols, int n_rows, const char *const *vals,
                          const int *lens, const int *fmts, const char *what, struct kb_error *err)
{
    int rc = 0;
    for (int r0 = 0; rc == 0 && r0 < n_rows; r0 += PG_ROWS_PER_STMT) {
        int nr = KB_MIN(PG_ROWS_PER_STMT, n_rows - r0), np = nr * n_cols;
        struct kb_buf sql;
        PGresult *res;
        kb_buf_init(&sql, 0);
        kb_buf_puts(&sql, head);
        kb_buf_puts(&sql, " VALUES ");
        for (int r = 0; r < nr; r++) {
            kb_buf_puts(&sql, r ? ",(" : "(");
            for (int c = 0; c < n_cols; c++)
                kb_buf_printf(&sql, "%s$%d", c ? "," : "", r * n_cols + c + 1);
            kb_buf_putc(&sql, ')');
        }
        res = PQexecParams(db->conn, sql.data, np, NULL, vals + (size_t)r0 * (size_t)n_cols,
                           lens ? lens + (size_t)r0 * (size_t)n_cols : NULL,
                           fmts ? fmts + (size_t)r0 * (size_t)n_cols : NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_fail(db, res, what, err);
        PQclear(res);
        kb_buf_release(&sql);
    }
    return rc;
}

/* The chunks and vectors of d under their ids, in multi-row INSERTs (mu held, in the transaction). */
static int pg_copy_write_chunks(struct pg_db *db, const struct copy_doc *d, struct kb_error *err)
{
    enum { NC = 11, NV = 3, NUM = 8 }; /* columns of a chunk row and a vector row; numbers per chunk */
    size_t nc = (size_t)d->n_chunks, nv = (size_t)d->n_vecs;
    const char **cv = kb_xcalloc(nc * NC + 1, sizeof *cv), **vv = kb_xcalloc(nv * NV + 1, sizeof *vv);
    char(*num)[24] = kb_xcalloc(nc * NUM + nv + 1, sizeof *num);
    int *vl = kb_xcalloc(nv * NV + 1, sizeof *vl), *vf = kb_xcalloc(nv * NV + 1, sizeof *vf), rc;
    for (size_t i = 0; i < nc; i++) {
        const struct index_chunk *c = &d->chunks[i];
        char(*n)[24] = num + i * NUM;
        const char **row = cv + i * NC;
        int64_t v[NUM] = {d->chunk_ids[i], d->doc.id, (int64_t)i, c->page_start, c->page_end, c->off_start,
                          c->off_end, c->n_tokens};
        for (int k = 0; k < NUM; k++)
            snprintf(n[k], sizeof n[k], "%lld", (long long)v[k]);
        row[0] = n[0], row[1] = n[1], row[2] = n[2], row[3] = c->text, row[4] = nz(c->heading_path);
        row[5] = n[3], row[6] = n[4], row[7] = n[5], row[8] = n[6], row[9] = n[7], row[10] = nz(c->page_map);
    }
    for (size_t i = 0; i < nv; i++) {
        char *n = num[nc * NUM + i];
        snprintf(n, 24, "%lld", (long long)d->vecs[i].chunk_id);
        vv[i * NV] = n;
        vv[i * NV + 1] = d->vecs[i].embedder_id;
        vv[i * NV + 2] = d->vecs[i].data;
        vl[i * NV + 2] = d->vecs[i].n_bytes;
        vf[i * NV + 2] = 1; /* bytea, binary */
    }
    rc = pg_insert_rows(db, "INSERT INTO chunks(id, document_id, ordinal, text, heading_path, page_start, page_end,"
                            " off_start, off_end, n_tokens, page_map)", NC, d->n_chunks, cv, NULL, NULL, "copy chunks",
                        err);
    if (rc == 0)
        rc = pg_insert_rows(db, "INSERT INTO embeddings(chunk_id, embedder_id, vector)", NV, d->n_vecs, vv, vl, vf,
                            "copy vectors", err);
    free(cv);
    free(vv);
    free(num);
    free(vl);
    free(vf);
    return rc;
}

int pg_copy_doc_write(struct pg_db *db, const struct copy_doc *cd, const void *original, size_t original_bytes,
                      struct kb_error *err)
{
    const struct index_doc *d = &cd->doc;
    char ib[32], cb[32], bb[32], mb[32], gb[32], kb_[32];
    const char *v[14] = {I64(ib, d->id), I64(cb, d->collection_id), nz(d->name), nz(d->path), nz(d->mime),
                         I64(bb, d->bytes), d->sha256, I64(mb, d->mtime), index_doc_status_name(d->status),
                         nz(d->error), I64(gb, d->ingested_at), nz(d->external_id), nz(d->title),
                         I64(kb_, cd->created_at)};
    int64_t id = d->id;
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    if (original) {
        const char *ov[2] = {d->sha256, NULL};
        rc = pg_run(db, "INSERT INTO originals(sha256, data) VALUES($1, $2) ON CONFLICT DO NOTHING", 2, ov, 1,
                    original, original_bytes, 0, NULL, "copy original", err);
    }
    if (rc == 0)
        rc = pg_run(db, "INSERT INTO documents(id, collection_id, name, path, mime, bytes, sha256, mtime, status, error,"
                        " ingested_at, external_id, title, created_at)"
                        " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
                    14, v, -1, NULL, 0, 0, NULL, "copy document", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "document %lld is already in the target", (long long)id);
    else if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "document %lld: collection %lld is not in the target", (long long)id,
                          (long long)d->collection_id);
    if (rc == 0)
        rc = pg_copy_write_chunks(db, cd, err);
    return pg_end(db, rc, PG_KIND_DOC, &id, 1, err);
}

int pg_copy_finish(struct pg_db *db, struct kb_error *err)
{
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    /* explicit ids leave the sequences behind: the next row a node inserts must not collide */
    rc = pg_cmd(db, "SELECT setval('collections_id_seq', greatest((SELECT max(id) FROM collections), 1));"
                    "SELECT setval('documents_id_seq', greatest((SELECT max(id) FROM documents), 1));"
                    "SELECT setval('chunks_id_seq', greatest((SELECT max(id) FROM chunks), 1))",
                "advance id sequences", err);
    return pg_end(db, rc, 0, NULL, 0, err);
}

int pg_copy_counts(struct pg_db *db, struct copy_counts *out, struct kb_error *err)
{
    char b[128];
    long long c = 0, d = 0, k = 0, e = 0;
    int rc = pg_value(db, "SELECT (SELECT count(*) FROM collections)::text || ' ' || (SELECT count(*) FROM documents)"
                          " || ' ' || (SELECT count(*) FROM chunks) || ' ' || (SELECT count(*) FROM embeddings)",
                      0, NULL, b, sizeof b, "count rows", err);
    if (rc == 0 && sscanf(b, "%lld %lld %lld %lld", &c, &d, &k, &e) != 4)
        rc = kb_error_set(err, KB_EIO, "postgresql: unexpected counts '%s'", b);
    out->n_collections = c;
    out->n_documents = d;
    out->n_chunks = k;
    out->n_vectors = e;
    return rc;
}

/* ---- shared re-embedding (schema 3) ----------------------------------------------------------------- */

#define PG_LOCK_REEMBED 7216003

int pg_reembed_queue(struct pg_db *db, const char *embedder_id, int64_t *n_queued, int64_t *n_missing,
                     struct kb_error *err)
{
    PGresult *r = NULL;
    char nb[32];
    const char *v[2] = {embedder_id, I64(nb, store_now_s())};
    int rc = pg_begin(db, err);
    *n_queued = *n_missing = 0;
    if (rc)
        return rc;
    /* one queuer at a time, so two nodes starting the same switch queue each document once */
    rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_REEMBED) ")", "lock re-embedding queue", err);
    if (rc == 0)
        rc = pg_run(db, "INSERT INTO jobs(kind, document_id, embedder_id, created_at)"
                        " SELECT 'reembed', d.id, $1, $2 FROM documents d WHERE EXISTS (SELECT 1 FROM chunks c"
                        "  WHERE c.document_id = d.id AND NOT EXISTS (SELECT 1 FROM embeddings e"
                        "  WHERE e.chunk_id = c.id AND e.embedder_id = $1))"
                        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'reembed' AND j.state = 'queued'"
                        "  AND j.document_id = d.id AND j.embedder_id = $1) ORDER BY d.id",
                    2, v, -1, NULL, 0, 0, &r, "queue re-embedding", err);
    if (rc == 0)
        kb_parse_i64(PQcmdTuples(r), n_queued);
    PQclear(r);
    r = NULL;
    if (rc == 0)
        rc = pg_run(db, "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e"
                        " WHERE e.chunk_id = c.id AND e.embedder_id = $1)", 1, v, -1, NULL, 0, 0, &r,
                    "count chunks to re-embed", err);
    if (rc == 0)
        *n_missing = pg_i64(r, 0, 0);
    PQclear(r);
    return pg_end(db, rc, 0, NULL, 0, err);
}

int pg_reembed_claim(struct pg_db *db, const char *embedder_id, struct kb_arena *a, struct pg_reembed_work *out,
                     struct kb_error *err)
{
    PGresult *r = NULL;
    char ib[32];
    const char *v[2] = {embedder_id, NULL};
    int rc = pg_begin(db, err);
    memset(out, 0, sizeof *out);
    if (rc)
        return rc;
    /* the row lock is the claim, as for ingestion (pg_job_claim) */
    rc = pg_run(db, "SELECT id, document_id FROM jobs WHERE state = 'queued' AND kind = 'reembed' AND embedder_id = $1"
                    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", 1, v, -1, NULL, 0, 0, &r, "claim re-embedding", err);
    if (rc == 0 && PQntuples(r) == 0)
        rc = KB_ENOENT;
    if (rc == 0) {
        out->job_id = pg_i64(r, 0, 0);
        out->document_id = pg_i64(r, 0, 1);
    }
    PQclear(r);
    r = NULL;
    v[1] = I64(ib, out->document_id);
    if (rc == 0)
        rc = pg_run(db, "SELECT c.id, c.text, c.heading_path, " STORE_DOC_CONTEXT_SQL " FROM chunks c"
                        " JOIN documents d ON d.id = c.document_id"
                        " WHERE c.document_id = $2 AND NOT EXISTS"
                        " (SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id AND e.embedder_id = $1) ORDER BY c.ordinal",
                    2, v, -1, NULL, 0, 0, &r, "read chunks to re-embed", err);
    if (rc == 0 && PQntuples(r) > 0) {
        int n = PQntuples(r);
        out->chunk_ids = kb_arena_alloc(a, (size_t)n * sizeof *out->chunk_ids);
        out->chunks = kb_arena_alloc(a, (size_t)n * sizeof *out->chunks);
        if (!out->chunk_ids || !out->chunks)
            rc = kb_error_set(err, KB_ENOMEM, "document %s: no memory for %d chunks", v[1], n);
        for (int i = 0; rc == 0 && i < n; i++) {
            memset(&out->chunks[i], 0, sizeof out->chunks[i]);
            out->chunk_ids[i] = pg_i64(r, i, 0);
            out->chunks[i].text = pg_str(r, i, 1, a);
            out->chunks[i].heading_path = pg_str(r, i, 2, a);
            if (i == 0)
                out->doc_context = pg_str(r, i, 3, a);
            out->n_chunks = i + 1;
        }
    }
    PQclear(r);
    if (rc) {
        if (PQstatus(db->conn) == CONNECTION_OK)
            pg_cmd(db, "ROLLBACK", "rollback", NULL);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    pthread_mutex_unlock(&db->mu); /* the transaction stays open: pg_reembed_finish or pg_job_end */
    return 0;
}

int pg_reembed_finish(struct pg_db *db, const struct pg_reembed_work *w, const struct index_embedder *e,
                      const float *x, const char *node, struct kb_error *err)
{
    char cb[32], jb[32], tb[32];
    int64_t doc = w->document_id;
    int rc = 0;
    pthread_mutex_lock(&db->mu);
    if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) {
        rc = kb_error_set(err, KB_EBUSY, "postgresql is unreachable (end re-embedding job %lld): the claim was lost",
                          (long long)w->job_id);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    for (int i = 0; rc == 0 && i < w->n_chunks; i++) {
        const char *v[3] = {I64(cb, w->chunk_ids[i]), e->id, NULL};
        /* a chunk replaced meanwhile is gone: nothing to store for it */
        rc = pg_run(db, "INSERT INTO embeddings(chunk_id, embedder_id, vector) SELECT $1, $2, $3"
                        " WHERE EXISTS (SELECT 1 FROM chunks WHERE id = $1::bigint)"
                        " ON CONFLICT (chunk_id, embedder_id) DO UPDATE SET vector = excluded.vector",
                    3, v, 2, x + (size_t)i * (size_t)e->dim, (size_t)e->dim * sizeof(float), 0, NULL,
                    "store re-embedded vector", err);
    }
    if (rc == 0) {
        const char *v[3] = {I64(jb, w->job_id), nz(node), I64(tb, store_now_s())};
        rc = pg_run(db, "UPDATE jobs SET state = 'done', node = $2, ended_at = $3 WHERE id = $1", 3, v, -1, NULL, 0, 0,
                    NULL, "end re-embedding job", err);
    }
    /* the document's change row: every node's cache reads its vectors again */
    return pg_end(db, rc, PG_KIND_DOC, &doc, 1, err);
}

int pg_vectors_get(struct pg_db *db, const char *embedder_id, int dim, const int64_t *ids, int n, float *x,
                   bool *found, struct kb_error *err)
{
    PGresult *r = NULL;
    struct kb_buf arr;
    const char *v[2] = {embedder_id, NULL};
    int rc;
    kb_buf_init(&arr, 0);
    kb_buf_putc(&arr, '{');
    for (int i = 0; i < n; i++)
        kb_buf_printf(&arr, "%s%lld", i ? "," : "", (long long)ids[i]);
    kb_buf_putc(&arr, '}');
    v[1] = arr.data;
    for (int i = 0; i < n; i++)
        found[i] = false;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_run(db, "SELECT chunk_id, vector FROM embeddings WHERE embedder_id = $1 AND chunk_id = ANY($2::bigint[])",
                    2, v, -1, NULL, 0, 1, &r, "read vectors", err);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int64_t cid = pg_bin_i64(r, i, 0);
        if (PQgetlength(r, i, 1) != (int)((size_t)dim * sizeof(float)))
            continue;
        for (int k = 0; k < n; k++)
            if (ids[k] == cid) {
                memcpy(x + (size_t)k * (size_t)dim, PQgetvalue(r, i, 1), (size_t)dim * sizeof(float));
                found[k] = true;
                break;
            }
    }
    PQclear(r);
    pthread_mutex_unlock(&db->mu);
    kb_buf_release(&arr);
    return rc;
}

int pg_copy_marker_get(struct pg_db *db, char *buf, size_t buf_bytes, struct kb_error *err)
{
    return pg_value(db, "SELECT value FROM kbox_meta WHERE key='migrate_from'", 0, NULL, buf, buf_bytes,
                    "read migration marker", err);
}

int pg_copy_marker_set(struct pg_db *db, const char *from, struct kb_error *err)
{
    const char *v[1] = {from};
    int rc = pg_begin(db, err);
    if (rc)
        return rc;
    rc = from ? pg_run(db, "INSERT INTO kbox_meta(key, value) VALUES('migrate_from', $1)"
                           " ON CONFLICT(key) DO UPDATE SET value = excluded.value", 1, v, -1, NULL, 0, 0, NULL,
                       "write migration marker", err)
              : pg_cmd(db, "DELETE FROM kbox_meta WHERE key='migrate_from'", "clear migration marker", err);
    return pg_end(db, rc, 0, NULL, 0, err);
}

/* ---- generic statements for the shared row tables (schema 4; index/pg_rows.c composes them) ------ */

/* The rows of r as text into a (NULL for SQL NULL). */
static int pg_rows_copy(const PGresult *r, struct kb_arena *a, struct pg_rows *out, struct kb_error *err)
{
    int n = PQntuples(r), c = PQnfields(r);
    out->n = n;
    out->cols = c;
    out->v = NULL;
    if (n == 0 || c == 0)
        return 0;
    out->v = kb_arena_alloc(a, (size_t)n * (size_t)c * sizeof *out->v);
    if (!out->v)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d rows from postgresql", n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            const char *s = PQgetisnull(r, i, k) ? NULL : kb_arena_strdup(a, PQgetvalue(r, i, k));
            if (!PQgetisnull(r, i, k) && !s)
                return kb_error_set(err, KB_ENOMEM, "no memory for rows from postgresql");
            out->v[(size_t)i * (size_t)c + (size_t)k] = s;
        }
    return 0;
}

int pg_tx_begin(struct pg_db *db, struct kb_error *err)
{
    return pg_begin(db, err);
}

int pg_tx_exec(struct pg_db *db, const char *sql, int n, const char *const *vals, struct kb_arena *a,
               struct pg_rows *out, const char *what, struct kb_error *err)
{
    PGresult *r = NULL;
    int rc = pg_run(db, sql, n, vals, -1, NULL, 0, 0, out ? &r : NULL, what, err);
    if (rc == 0 && out)
        rc = pg_rows_copy(r, a, out, err);
    PQclear(r);
    return rc;
}

int pg_tx_end(struct pg_db *db, int rc, const char *kinds, const int64_t *ids, int n_ids, struct kb_error *err)
{
    /* change rows of several kinds: all but the last kind's run go first, pg_end appends that run */
    int i = 0;
    if (rc == 0 && n_ids > 0) {
        int last = n_ids - 1, start = last;
        while (start > 0 && kinds[start - 1] == kinds[last])
            start--;
        if (start > 0)
            rc = pg_cmd(db, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_CHANGES) ")", "lock change log", err);
        for (i = 0; rc == 0 && i < start; i++) {
            char k[2] = {kinds[i], 0}, idbuf[32];
            const char *v[2] = {k, I64(idbuf, ids[i])};
            rc = pg_run(db, "INSERT INTO changes(kind, obj_id) VALUES($1, $2)", 2, v, -1, NULL, 0, 0, NULL,
                        "append change", err);
        }
        return pg_end(db, rc, kinds[last], ids + start, n_ids - start, err);
    }
    return pg_end(db, rc, 0, NULL, 0, err);
}

int pg_query(struct pg_db *db, const char *sql, int n, const char *const *vals, struct kb_arena *a,
             struct pg_rows *out, const char *what, struct kb_error *err)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = pg_ensure(db, err);
    if (rc == 0)
        rc = pg_tx_exec(db, sql, n, vals, a, out, what, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}
