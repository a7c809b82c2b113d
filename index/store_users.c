/* index/store_users.c: accounts, login sessions, API keys and the audit log: the SQL of their tables,
 * part of the SQLite glue (store.c runs store_users_migration as the 5 -> 6 migration).
 *
 * Schema (v6, independent of every other table):
 *   users(id AUTOINCREMENT, email UNIQUE COLLATE NOCASE, name, role, pw_hash, collections,
 *         created_at, updated_at)
 *       -- role in owner|editor|agent|viewer; pw_hash: libsodium's encoded Argon2id string (web/auth.c
 *          makes and checks it; this file never sees a password); collections: the collection ids
 *          the user may see, comma-separated, "" = all
 *   sessions(id_hash PRIMARY KEY, user_id, csrf, created_at, last_seen)
 *       -- id_hash: SHA-256 (hex) of the session id; the id itself is only in the cookie, so a copy
 *          of the database logs nobody in; csrf: the token the UI echoes in X-CSRF-Token
 *   api_keys(id AUTOINCREMENT, prefix UNIQUE, hash, name, user_id, scopes, rate_per_min, created_at,
 *            expires_at, last_used, revoked_at)
 *       -- prefix: the visible start of the key ("kbx_" + 8 hex); hash: SHA-256 (hex) of the whole
 *          key; scopes: comma-separated; expires_at/last_used/revoked_at: unix s, 0 = never/not yet
 *   audit(id AUTOINCREMENT, at, actor, action, target, detail, ip)
 *       -- who did what to what; append-only (nothing here updates or deletes a row)
 * With store.backend = postgres the writes go to PostgreSQL and come back through the node's sync
 * (index/pg_accounts.c); reads are the same in both modes.
 * Invariants: every public function takes the store's lock; changing a password or deleting a user
 * deletes the user's sessions in the same transaction. Tests: tests/web/test_acct.c,
 * tests/cli/test_user_cli.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: these writes go to PostgreSQL first (pg_accounts.c) */

const char store_users_migration[] =
    "CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL DEFAULT '',"
    " role TEXT NOT NULL CHECK(role IN ('owner','editor','agent','viewer')), pw_hash TEXT NOT NULL,"
    " collections TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions(id_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL,"
    " csrf TEXT NOT NULL, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
    "CREATE TABLE IF NOT EXISTS api_keys(id INTEGER PRIMARY KEY AUTOINCREMENT, prefix TEXT NOT NULL UNIQUE,"
    " hash TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', user_id INTEGER NOT NULL,"
    " scopes TEXT NOT NULL DEFAULT '', rate_per_min INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0, last_used INTEGER NOT NULL DEFAULT 0,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
    " actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '', ip TEXT NOT NULL DEFAULT '');";

#define USER_COLS "id, email, name, role, pw_hash, collections, created_at, updated_at"
#define KEY_COLS "id, prefix, hash, name, user_id, scopes, rate_per_min, created_at, expires_at, last_used, revoked_at"

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Row decoders (the columns of USER_COLS and KEY_COLS), of the type row_fn that read_one and read_all take. */
typedef void row_fn(sqlite3_stmt *s, struct kb_arena *a, void *out);

static void user_row(sqlite3_stmt *s, struct kb_arena *a, void *out)
{
    struct index_user *u = out;
    u->id = sqlite3_column_int64(s, 0);
    u->email = store_col_str(s, 1, a);
    u->name = store_col_str(s, 2, a);
    u->role = store_col_str(s, 3, a);
    u->pw_hash = store_col_str(s, 4, a);
    u->collections = store_col_str(s, 5, a);
    u->created_at = sqlite3_column_int64(s, 6);
    u->updated_at = sqlite3_column_int64(s, 7);
}

static void key_row(sqlite3_stmt *s, struct kb_arena *a, void *out)
{
    struct index_api_key *k = out;
    k->id = sqlite3_column_int64(s, 0);
    k->prefix = store_col_str(s, 1, a);
    k->hash = store_col_str(s, 2, a);
    k->name = store_col_str(s, 3, a);
    k->user_id = sqlite3_column_int64(s, 4);
    k->scopes = store_col_str(s, 5, a);
    k->rate_per_min = sqlite3_column_int64(s, 6);
    k->created_at = sqlite3_column_int64(s, 7);
    k->expires_at = sqlite3_column_int64(s, 8);
    k->last_used = sqlite3_column_int64(s, 9);
    k->revoked_at = sqlite3_column_int64(s, 10);
}

/* One row, by id (> 0: sql_id binds it as ?1) or else by the text key (sql_key binds it as ?2),
 * decoded by row into out. KB_ENOENT without a message when there is none: the caller names it. */
static int read_one(struct index_store *st, const char *sql_id, const char *sql_key, int64_t id, const char *key,
                    row_fn *row, struct kb_arena *a, void *out, const char *what, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    store_lock(st);
    s = store_prep(st, id > 0 ? sql_id : sql_key, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    if (id > 0)
        sqlite3_bind_int64(s, 1, id);
    else
        sqlite3_bind_text(s, 2, nz(key), -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        row(s, a, out);
    sqlite3_reset(s);
    if (src == SQLITE_DONE)
        rc = KB_ENOENT;
    else if (src != SQLITE_ROW)
        rc = store_fail(st, err, src, what);
out_unlock:
    store_unlock(st);
    return rc;
}

/* Every row of sql (?1 bound to arg), each decoded by row into an arena array of elem-sized items. */
static int read_all(struct index_store *st, const char *sql, int64_t arg, size_t elem, row_fn *row,
                    struct kb_arena *a, void **out, int *n_out, const char *what, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src = SQLITE_DONE, n = 0, cap = 16;
    char *v = kb_arena_alloc(a, elem * (size_t)cap);
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    s = store_prep(st, sql, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, arg);
    while (v && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            char *w = kb_arena_alloc(a, elem * (size_t)cap * 2);
            if (w)
                memcpy(w, v, elem * (size_t)n);
            v = w;
            cap *= 2;
            if (!v)
                break;
        }
        row(s, a, v + elem * (size_t)n++);
    }
    sqlite3_reset(s);
    if (!v)
        rc = kb_error_set(err, KB_ENOMEM, "%s: the list exceeds the memory cap", what);
    else if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, what);
    else {
        *out = v;
        *n_out = n;
    }
out_unlock:
    store_unlock(st);
    return rc;
}

/* Runs a prepared one-row write under the lock (no transaction needed: one statement). When
 * must_change is set, no changed row is KB_ENOENT naming `what`. */
static int users_write(struct index_store *st, sqlite3_stmt *s, const char *what, bool must_change, struct kb_error *err)
{
    int rc = store_step_done(st, s, what, err);
    if (rc == 0 && must_change && sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "%s: not found", what);
    return rc;
}

/* ---- users ------------------------------------------------------------------------------------------- */

int index_user_add(struct index_store *st, const struct index_user *u, int64_t *id, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_user_add(st, u, id, err);
    store_lock(st);
    s = store_prep(st, "INSERT INTO users(email, name, role, pw_hash, collections, created_at, updated_at)"
                       " VALUES(?1,?2,?3,?4,?5,?6,?6)", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_text(s, 1, nz(u->email), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, nz(u->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, nz(u->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(u->pw_hash), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, nz(u->collections), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, store_now_s());
    rc = store_step_done(st, s, "add user", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "a user with email '%.200s' exists already", nz(u->email));
    else if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(st->db);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_user_get(struct index_store *st, int64_t id, const char *email, struct kb_arena *a, struct index_user *out,
                   struct kb_error *err)
{
    int rc = read_one(st, "SELECT " USER_COLS " FROM users WHERE id=?1", "SELECT " USER_COLS " FROM users WHERE email=?2",
                      id, email, user_row, a, out, "read user", err);
    if (rc == KB_ENOENT)
        rc = id > 0 ? kb_error_set(err, KB_ENOENT, "no user with id %lld", (long long)id)
                    : kb_error_set(err, KB_ENOENT, "no user with email '%.200s'", nz(email));
    return rc;
}

int index_user_list(struct index_store *st, struct kb_arena *a, struct index_user **out, int *n_out,
                    struct kb_error *err)
{
    void *v;
    int rc = read_all(st, "SELECT " USER_COLS " FROM users ORDER BY id", 0, sizeof **out, user_row, a, &v, n_out,
                      "list users", err);
    *out = v;
    return rc;
}

int index_user_update(struct index_store *st, int64_t id, const struct index_user *u, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_user_update(st, id, u, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc)
        goto out_unlock;
    s = store_prep(st, "UPDATE users SET name=coalesce(?2,name), role=coalesce(?3,role), pw_hash=coalesce(?4,pw_hash),"
                       " collections=coalesce(?5,collections), updated_at=?6 WHERE id=?1", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_int64(s, 1, id);
        if (u->name)
            sqlite3_bind_text(s, 2, u->name, -1, SQLITE_STATIC);
        if (u->role)
            sqlite3_bind_text(s, 3, u->role, -1, SQLITE_STATIC);
        if (u->pw_hash)
            sqlite3_bind_text(s, 4, u->pw_hash, -1, SQLITE_STATIC);
        if (u->collections)
            sqlite3_bind_text(s, 5, u->collections, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, store_now_s());
        rc = users_write(st, s, "update user", true, err);
    }
    if (rc == 0 && u->pw_hash) { /* a new password ends every session of the old one */
        s = store_prep(st, "DELETE FROM sessions WHERE user_id=?1", err);
        if (!s)
            rc = err ? err->code : KB_EIO;
        else {
            sqlite3_bind_int64(s, 1, id);
            rc = users_write(st, s, "end sessions", false, err);
        }
    }
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_user_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    static const char *const sql[] = {
        "DELETE FROM users WHERE id=?1",
        "DELETE FROM sessions WHERE user_id=?1",
        "UPDATE api_keys SET revoked_at=?2 WHERE user_id=?1 AND revoked_at=0",
    };
    int rc;
    if (st->pg)
        return pg_acct_user_delete(st, id, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc)
        goto out_unlock;
    for (int i = 0; i < 3 && rc == 0; i++) {
        sqlite3_stmt *s = store_prep(st, sql[i], err);
        if (!s) {
            rc = err ? err->code : KB_EIO;
            break;
        }
        sqlite3_bind_int64(s, 1, id);
        if (i == 2)
            sqlite3_bind_int64(s, 2, store_now_s());
        rc = users_write(st, s, i ? "delete user's sessions and keys" : "delete user", i == 0, err);
    }
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_user_count(struct index_store *st, const char *role, int64_t *n, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    *n = 0;
    store_lock(st);
    s = store_prep(st, "SELECT count(*) FROM users WHERE ?1 IS NULL OR role=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    if (role)
        sqlite3_bind_text(s, 1, role, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, src, "count users");
    sqlite3_reset(s);
out_unlock:
    store_unlock(st);
    return rc;
}

/* ---- sessions ---------------------------------------------------------------------------------------- */

int index_session_add(struct index_store *st, const char *id_hash, int64_t user_id, const char *csrf, int64_t now,
                      struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_session_add(st, id_hash, user_id, csrf, now, err);
    store_lock(st);
    s = store_prep(st, "INSERT INTO sessions(id_hash, user_id, csrf, created_at, last_seen) VALUES(?1,?2,?3,?4,?4)",
                   err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, user_id);
        sqlite3_bind_text(s, 3, csrf, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now);
        rc = users_write(st, s, "add session", false, err);
    }
    store_unlock(st);
    return rc;
}

int index_session_get(struct index_store *st, const char *id_hash, struct kb_arena *a, struct index_session *out,
                      struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    store_lock(st);
    s = store_prep(st, "SELECT user_id, csrf, created_at, last_seen FROM sessions WHERE id_hash=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        out->user_id = sqlite3_column_int64(s, 0);
        out->csrf = store_col_str(s, 1, a);
        out->created_at = sqlite3_column_int64(s, 2);
        out->last_seen = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no such session");
    else if (src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read session");
out_unlock:
    store_unlock(st);
    return rc;
}

int index_session_touch(struct index_store *st, const char *id_hash, int64_t now, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_session_touch(st, id_hash, now, err);
    store_lock(st);
    s = store_prep(st, "UPDATE sessions SET last_seen=?2 WHERE id_hash=?1", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        rc = users_write(st, s, "touch session", false, err);
    }
    store_unlock(st);
    return rc;
}

int index_session_delete(struct index_store *st, const char *id_hash, int64_t user_id, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_session_delete(st, id_hash, user_id, err);
    store_lock(st);
    s = id_hash ? store_prep(st, "DELETE FROM sessions WHERE id_hash=?1", err)
                : store_prep(st, "DELETE FROM sessions WHERE user_id=?2", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        if (id_hash)
            sqlite3_bind_text(s, 1, id_hash, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(s, 2, user_id);
        rc = users_write(st, s, "end session", false, err);
    }
    store_unlock(st);
    return rc;
}

/* ---- API keys ---------------------------------------------------------------------------------------- */

int index_key_add(struct index_store *st, const struct index_api_key *k, int64_t *id, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_key_add(st, k, id, err);
    store_lock(st);
    s = store_prep(st, "INSERT INTO api_keys(prefix, hash, name, user_id, scopes, rate_per_min, created_at, expires_at)"
                       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_text(s, 1, nz(k->prefix), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, nz(k->hash), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(k->name), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, k->user_id);
        sqlite3_bind_text(s, 5, nz(k->scopes), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, k->rate_per_min);
        sqlite3_bind_int64(s, 7, store_now_s());
        sqlite3_bind_int64(s, 8, k->expires_at);
        rc = users_write(st, s, "add API key", false, err);
        if (rc == 0 && id)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    store_unlock(st);
    return rc;
}

int index_key_get(struct index_store *st, int64_t id, const char *prefix, struct kb_arena *a, struct index_api_key *out,
                  struct kb_error *err)
{
    int rc = read_one(st, "SELECT " KEY_COLS " FROM api_keys WHERE id=?1",
                      "SELECT " KEY_COLS " FROM api_keys WHERE prefix=?2", id, prefix, key_row, a, out, "read API key", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "no such API key");
    return rc;
}

int index_key_list(struct index_store *st, int64_t user_id, struct kb_arena *a, struct index_api_key **out, int *n_out,
                   struct kb_error *err)
{
    void *v;
    int rc = read_all(st, "SELECT " KEY_COLS " FROM api_keys WHERE ?1=0 OR user_id=?1 ORDER BY id", user_id,
                      sizeof **out, key_row, a, &v, n_out, "list API keys", err);
    *out = v;
    return rc;
}

int index_key_mark(struct index_store *st, int64_t id, bool revoke, int64_t now, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_key_mark(st, id, revoke, now, err);
    store_lock(st);
    s = revoke ? store_prep(st, "UPDATE api_keys SET revoked_at=?2 WHERE id=?1 AND revoked_at=0", err)
               : store_prep(st, "UPDATE api_keys SET last_used=?2 WHERE id=?1", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, now);
        rc = users_write(st, s, revoke ? "revoke API key" : "record key use", revoke, err);
    }
    store_unlock(st);
    return rc;
}

/* ---- audit ------------------------------------------------------------------------------------------- */

int index_audit_add(struct index_store *st, const struct index_audit *e, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_acct_audit_add(st, e, err);
    store_lock(st);
    s = store_prep(st, "INSERT INTO audit(at, actor, action, target, detail, ip) VALUES(?1,?2,?3,?4,?5,?6)", err);
    if (!s)
        rc = err ? err->code : KB_EIO;
    else {
        sqlite3_bind_int64(s, 1, e->at > 0 ? e->at : store_now_s());
        sqlite3_bind_text(s, 2, nz(e->actor), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(e->action), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, nz(e->target), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, nz(e->detail), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, nz(e->ip), -1, SQLITE_STATIC);
        rc = users_write(st, s, "append to the audit log", false, err);
    }
    store_unlock(st);
    return rc;
}

int index_audit_list(struct index_store *st, int64_t before_id, int limit, struct kb_arena *a, struct index_audit **out,
                     int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src = SQLITE_DONE, n = 0;
    struct index_audit *v;
    *out = NULL;
    *n_out = 0;
    if (limit < 1 || limit > INDEX_AUDIT_PAGE_MAX)
        return kb_error_set(err, KB_EINVAL, "audit page size must be 1..%d", INDEX_AUDIT_PAGE_MAX);
    v = kb_arena_alloc(a, sizeof *v * (size_t)limit);
    if (!v)
        return kb_error_set(err, KB_ENOMEM, "audit page exceeds the memory cap");
    store_lock(st);
    s = store_prep(st, "SELECT id, at, actor, action, target, detail, ip FROM audit WHERE ?1<=0 OR id<?1"
                       " ORDER BY id DESC LIMIT ?2", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, before_id);
    sqlite3_bind_int(s, 2, limit);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        v[n].id = sqlite3_column_int64(s, 0);
        v[n].at = sqlite3_column_int64(s, 1);
        v[n].actor = store_col_str(s, 2, a);
        v[n].action = store_col_str(s, 3, a);
        v[n].target = store_col_str(s, 4, a);
        v[n].detail = store_col_str(s, 5, a);
        v[n].ip = store_col_str(s, 6, a);
        n++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read the audit log");
    else {
        *out = v;
        *n_out = n;
    }
out_unlock:
    store_unlock(st);
    return rc;
}
