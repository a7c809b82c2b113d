/* index/pg_accounts.c: users, login sessions, API keys, the audit log, bots and collections' handoff
 * settings shared by every node through PostgreSQL (store.backend = postgres, schemas 5 and 7): their writes, and the reads pg_rows.c's
 * apply and resync make of them.
 *
 * Design: as pg_rows.c (whose file-top comment gives the reasons): written to PostgreSQL in one
 * transaction with change rows, mirrored into each node's SQLite, read from SQLite only. So a login
 * made on node A is a sessions row every node's cache receives (NOTIFY, else the poll: within
 * store.poll_s), a key revoked on A is refused on B once B applied the change, and a bot created on A
 * serves on B; web/ and cli/ read them as in the SQLite-only mode, and they answer while PostgreSQL is
 * down (writes then fail with KB_EBUSY, nothing half-written).
 * Change kinds: 'u' a user (id), 's' every session of a user (obj_id = user id: sessions are keyed by
 * a hash, the change log by a number), 'k' an API key, 'a' an audit entry, 'b' all bots with their
 * handoff settings (obj_id 0: there are at most INDEX_BOTS_MAX and they change rarely), 'o' (schema 7)
 * one collection's handoff settings (obj_id = the collection; store_coll_handoff.c), mirrored like
 * bot_handoff so a PUT /api/collections/ID/handoff on node A changes what node B offers.
 * Sessions' last_seen and keys' last_used are rewritten at most once a minute by web/session.c;
 * each such write is a change too, so the idle timeout sees use on any node.
 * Ids: users, keys and audit entries take PostgreSQL's bigserial ids; bots keep their slugs.
 * Invariants: the same as store_users.c's (a new password or a deleted user ends the user's
 * sessions in the same transaction; a deleted user's keys are revoked in it).
 * Tests: tests/index/test_pg_rows.c (test_accounts_two_nodes), tests/web/test_pg_nodes.c
 * (test_accounts_across_nodes: login, key revocation and bots across two kbox serve processes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/pg.h"

#define USER_COLS PG_USER_COLS
#define SES_COLS PG_SES_COLS
#define KEY_COLS PG_KEY_COLS
#define AUDIT_COLS PG_AUDIT_COLS
#define BOT_COLS PG_BOT_COLS
#define HANDOFF_COLS PG_HANDOFF_COLS
#define COLL_HO_COLS PG_COLL_HANDOFF_COLS

#define I64S(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- applying (pg_rows.c) ---------------------------------------------------------------------------- */

static const char SQL_USER_DEL[] = "DELETE FROM users WHERE id = ?1";
static const char SQL_USER_PARK[] = "DELETE FROM users WHERE email = ?2 AND id <> ?1"; /* COLLATE NOCASE column */
static const char SQL_USER_PUT[] = "INSERT INTO users(" USER_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
                                   " ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name,"
                                   " role = excluded.role, pw_hash = excluded.pw_hash,"
                                   " collections = excluded.collections, created_at = excluded.created_at,"
                                   " updated_at = excluded.updated_at";
static const char SQL_SES_DEL[] = "DELETE FROM sessions WHERE user_id = ?1";
static const char SQL_SES_PUT[] = "INSERT OR REPLACE INTO sessions(" SES_COLS ") VALUES(?1,?2,?3,?4,?5)";
static const char SQL_KEY_DEL[] = "DELETE FROM api_keys WHERE id = ?1";
static const char SQL_KEY_PARK[] = "DELETE FROM api_keys WHERE prefix = ?2 AND id <> ?1";
static const char SQL_KEY_PUT[] = "INSERT OR REPLACE INTO api_keys(" KEY_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
static const char SQL_AUDIT_PUT[] = "INSERT OR REPLACE INTO audit(" AUDIT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)";
static const char SQL_BOTS_DEL[] = "DELETE FROM bot_handoff; DELETE FROM bots";
static const char SQL_BOT_PUT[] = "INSERT INTO bots(" BOT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)";
static const char SQL_HANDOFF_PUT[] = "INSERT INTO bot_handoff(" HANDOFF_COLS ") VALUES(?1,?2,?3,?4,?5)";
static const char SQL_COLL_HO_DEL[] = "DELETE FROM collection_handoff WHERE collection_id = ?1";
static const char SQL_COLL_HO_PUT[] = "INSERT OR REPLACE INTO collection_handoff(" COLL_HO_COLS ") VALUES(?1,?2,?3,?4,?5,?6)";

/* The rows of sql($1 = the ids as an array) into out. */
static int acct_read(struct pg_db *db, const char *sql, const char *arr, struct kb_arena *a, struct pg_rows *out,
                     struct kb_error *err)
{
    const char *v[1] = {arr};
    return pg_query(db, sql, arr ? 1 : 0, v, a, out, "read accounts", err);
}

int pg_acct_apply(struct index_store *st, struct pg_db *db, char kind, const int64_t *ids, int n, struct kb_arena *a,
                  struct kb_error *err)
{
    struct pg_rows r1 = {0}, r2 = {0}, all = {0};
    const char *arr = pg_rows_array(a, ids, n);
    int rc = arr ? pg_rows_of_ids(a, ids, n, &all, err) : kb_error_set(err, KB_ENOMEM, "no memory for %d ids", n);
    if (rc)
        return rc;
    switch (kind) {
    case PG_KIND_USER: {
        rc = acct_read(db, "SELECT " USER_COLS " FROM users WHERE id = ANY($1::bigint[])", arr, a, &r1, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {
                {SQL_USER_DEL, &all}, {SQL_USER_PARK, &r1}, {SQL_USER_PUT, &r1}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    case PG_KIND_SESSIONS: {
        rc = acct_read(db, "SELECT " SES_COLS " FROM sessions WHERE user_id = ANY($1::bigint[])", arr, a, &r1, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {{SQL_SES_DEL, &all}, {SQL_SES_PUT, &r1}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    case PG_KIND_KEY: {
        rc = acct_read(db, "SELECT " KEY_COLS " FROM api_keys WHERE id = ANY($1::bigint[])", arr, a, &r1, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {{SQL_KEY_DEL, &all}, {SQL_KEY_PARK, &r1}, {SQL_KEY_PUT, &r1}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    case PG_KIND_AUDIT: {
        rc = acct_read(db, "SELECT " AUDIT_COLS " FROM audit WHERE id = ANY($1::bigint[])", arr, a, &r1, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {{SQL_AUDIT_PUT, &r1}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    case PG_KIND_BOTS: {
        rc = acct_read(db, "SELECT " BOT_COLS " FROM bots", NULL, a, &r1, err);
        if (rc == 0)
            rc = acct_read(db, "SELECT " HANDOFF_COLS " FROM bot_handoff", NULL, a, &r2, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {
                {SQL_BOTS_DEL, NULL}, {SQL_BOT_PUT, &r1}, {SQL_HANDOFF_PUT, &r2}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    case PG_KIND_COLL_HANDOFF: {
        rc = acct_read(db, "SELECT " COLL_HO_COLS " FROM collection_handoff WHERE collection_id = ANY($1::bigint[])",
                       arr, a, &r1, err);
        if (rc == 0) {
            const struct store_mirror_step steps[] = {{SQL_COLL_HO_DEL, &all}, {SQL_COLL_HO_PUT, &r1}};
            rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
        }
        break;
    }
    default:
        rc = kb_error_set(err, KB_EINVAL, "unknown change kind '%c'", kind);
    }
    return rc;
}

/* Every row read first, then emptied and refilled in ONE SQLite transaction: a node resynchronising
 * while it serves never answers a request from half-loaded accounts (a login refused meanwhile). */
int pg_acct_resync(struct index_store *st, struct pg_db *db, struct kb_error *err)
{
    struct kb_arena a;
    struct pg_rows users, ses, keys, audit, bots, handoff, coll_ho;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = acct_read(db, "SELECT " USER_COLS " FROM users", NULL, &a, &users, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " SES_COLS " FROM sessions", NULL, &a, &ses, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " KEY_COLS " FROM api_keys", NULL, &a, &keys, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " AUDIT_COLS " FROM audit", NULL, &a, &audit, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " BOT_COLS " FROM bots", NULL, &a, &bots, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " HANDOFF_COLS " FROM bot_handoff", NULL, &a, &handoff, err);
    if (rc == 0)
        rc = acct_read(db, "SELECT " COLL_HO_COLS " FROM collection_handoff", NULL, &a, &coll_ho, err);
    if (rc == 0) {
        const struct store_mirror_step steps[] = {
            {"DELETE FROM sessions; DELETE FROM api_keys; DELETE FROM audit; DELETE FROM users", NULL},
            {SQL_USER_PUT, &users}, {SQL_SES_PUT, &ses}, {SQL_KEY_PUT, &keys}, {SQL_AUDIT_PUT, &audit},
            {SQL_BOTS_DEL, NULL},   {SQL_BOT_PUT, &bots}, {SQL_HANDOFF_PUT, &handoff},
            {"DELETE FROM collection_handoff", NULL}, {SQL_COLL_HO_PUT, &coll_ho}};
        rc = store_mirror_steps(st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    kb_arena_release(&a);
    return rc;
}

/* ---- writes (store_users.c, store_bots.c) ------------------------------------------------------------- */

static struct pg_db *acct_db(struct index_store *st)
{
    return pg_sync_db(st->pg);
}

/* sql (an INSERT ... RETURNING id; $1.. = v) in its own transaction with one change of kind for the
 * new row, whose id goes into *id (nullable). conflict (nullable) replaces the message of a unique
 * violation (KB_ECONFLICT). */
static int acct_insert(struct index_store *st, const char *sql, int n, const char *const *v, char kind,
                       const char *what, const char *conflict, int64_t *id, struct kb_error *err)
{
    struct pg_db *db = acct_db(st);
    int64_t got = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_rows_i64(db, sql, n, v, &got, what, err);
    if (rc == KB_ECONFLICT && conflict)
        rc = kb_error_set(err, KB_ECONFLICT, "%s", conflict);
    rc = pg_rows_commit(st, rc, &kind, &got, 1, err);
    if (rc == 0 && id)
        *id = got;
    return rc;
}

int pg_acct_user_add(struct index_store *st, const struct index_user *u, int64_t *id, struct kb_error *err)
{
    char now[24], conflict[256];
    const char *v[6] = {nz(u->email), nz(u->name), nz(u->role), nz(u->pw_hash), nz(u->collections),
                        I64S(now, store_now_s())};
    snprintf(conflict, sizeof conflict, "a user with email '%.200s' exists already", nz(u->email));
    return acct_insert(st,
                       "INSERT INTO users(email, name, role, pw_hash, collections, created_at, updated_at)"
                       " VALUES($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                       6, v, PG_KIND_USER, "add user", conflict, id, err);
}

int pg_acct_user_update(struct index_store *st, int64_t id, const struct index_user *u, struct kb_error *err)
{
    char ib[24], now[24];
    const char *v[6] = {I64S(ib, id), u->name, u->role, u->pw_hash, u->collections, I64S(now, store_now_s())};
    const char kinds[2] = {PG_KIND_USER, PG_KIND_SESSIONS};
    const int64_t ids[2] = {id, id};
    struct pg_db *db = acct_db(st);
    int64_t got = 0;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_rows_i64(db, "UPDATE users SET name = coalesce($2, name), role = coalesce($3, role),"
                         " pw_hash = coalesce($4, pw_hash), collections = coalesce($5, collections), updated_at = $6"
                         " WHERE id = $1 RETURNING id", 6, v, &got, "update user", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "update user: not found");
    if (rc == 0 && u->pw_hash) /* a new password ends every session of the old one */
        rc = pg_tx_exec(db, "DELETE FROM sessions WHERE user_id = $1", 1, v, NULL, NULL, "end sessions", err);
    return pg_rows_commit(st, rc, kinds, ids, u->pw_hash ? 2 : 1, err);
}

int pg_acct_user_delete(struct index_store *st, int64_t id, struct kb_error *err)
{
    char ib[24], now[24];
    const char *v[2] = {I64S(ib, id), I64S(now, store_now_s())};
    struct pg_db *db = acct_db(st);
    struct kb_arena a;
    struct pg_rows keys = {0};
    int64_t got = 0, *ids = NULL;
    char *kinds = NULL;
    int rc = pg_tx_begin(db, err), n = 2;
    if (rc)
        return rc;
    kb_arena_init(&a, 0, 0);
    rc = pg_rows_i64(db, "DELETE FROM users WHERE id = $1 RETURNING id", 1, v, &got, "delete user", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "delete user: not found");
    if (rc == 0)
        rc = pg_tx_exec(db, "DELETE FROM sessions WHERE user_id = $1", 1, v, NULL, NULL, "end sessions", err);
    if (rc == 0)
        rc = pg_tx_exec(db, "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at = 0 RETURNING id",
                        2, v, &a, &keys, "revoke the user's keys", err);
    ids = kb_xmalloc(((size_t)keys.n + 2) * sizeof *ids);
    kinds = kb_xmalloc((size_t)keys.n + 2);
    kinds[0] = PG_KIND_USER;
    kinds[1] = PG_KIND_SESSIONS;
    ids[0] = ids[1] = id;
    for (int i = 0; rc == 0 && i < keys.n; i++) {
        kinds[n] = PG_KIND_KEY;
        kb_parse_i64(keys.v[i], &ids[n++]);
    }
    rc = pg_rows_commit(st, rc, kinds, ids, n, err);
    free(ids);
    free(kinds);
    kb_arena_release(&a);
    return rc;
}

int pg_acct_session_add(struct index_store *st, const char *id_hash, int64_t user_id, const char *csrf, int64_t now,
                        struct kb_error *err)
{
    char ub[24], nb[24];
    const char *v[4] = {nz(id_hash), I64S(ub, user_id), nz(csrf), I64S(nb, now)};
    struct pg_db *db = acct_db(st);
    char kind = PG_KIND_SESSIONS;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_tx_exec(db, "INSERT INTO sessions(id_hash, user_id, csrf, created_at, last_seen) VALUES($1, $2, $3, $4, $4)",
                    4, v, NULL, NULL, "add session", err);
    return pg_rows_commit(st, rc, &kind, &user_id, 1, err);
}

/* sql ($1 = id_hash or user id, $2) deletes or updates sessions RETURNING user_id: one 's' change per
 * user touched; none touched is no error. */
static int acct_sessions(struct index_store *st, const char *sql, int n, const char *const *v, const char *what,
                         struct kb_error *err)
{
    struct pg_db *db = acct_db(st);
    struct kb_arena a;
    struct pg_rows r = {0};
    int64_t *ids = NULL;
    char *kinds = NULL;
    int rc = pg_tx_begin(db, err), m = 0;
    if (rc)
        return rc;
    kb_arena_init(&a, 0, 0);
    rc = pg_tx_exec(db, sql, n, v, &a, &r, what, err);
    ids = kb_xmalloc(((size_t)r.n + 1) * sizeof *ids);
    kinds = kb_xmalloc((size_t)r.n + 1);
    for (int i = 0; rc == 0 && i < r.n; i++) {
        int64_t u = 0;
        bool seen = false;
        kb_parse_i64(r.v[i], &u);
        for (int k = 0; k < m && !seen; k++)
            seen = ids[k] == u;
        if (!seen) {
            kinds[m] = PG_KIND_SESSIONS;
            ids[m++] = u;
        }
    }
    rc = pg_rows_commit(st, rc, kinds, ids, m, err);
    free(ids);
    free(kinds);
    kb_arena_release(&a);
    return rc;
}

int pg_acct_session_touch(struct index_store *st, const char *id_hash, int64_t now, struct kb_error *err)
{
    char nb[24];
    const char *v[2] = {nz(id_hash), I64S(nb, now)};
    return acct_sessions(st, "UPDATE sessions SET last_seen = $2 WHERE id_hash = $1 RETURNING user_id", 2, v,
                         "touch session", err);
}

int pg_acct_session_delete(struct index_store *st, const char *id_hash, int64_t user_id, struct kb_error *err)
{
    char ub[24];
    const char *v[1] = {id_hash ? id_hash : I64S(ub, user_id)};
    return acct_sessions(st, id_hash ? "DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id"
                                     : "DELETE FROM sessions WHERE user_id = $1 RETURNING user_id",
                         1, v, "end session", err);
}

int pg_acct_key_add(struct index_store *st, const struct index_api_key *k, int64_t *id, struct kb_error *err)
{
    char ub[24], rb[24], nb[24], eb[24];
    const char *v[8] = {nz(k->prefix), nz(k->hash), nz(k->name), I64S(ub, k->user_id), nz(k->scopes),
                        I64S(rb, k->rate_per_min), I64S(nb, store_now_s()), I64S(eb, k->expires_at)};
    return acct_insert(st,
                       "INSERT INTO api_keys(prefix, hash, name, user_id, scopes, rate_per_min, created_at,"
                       " expires_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                       8, v, PG_KIND_KEY, "add API key", NULL, id, err);
}

int pg_acct_key_mark(struct index_store *st, int64_t id, bool revoke, int64_t now, struct kb_error *err)
{
    char ib[24], nb[24];
    const char *v[2] = {I64S(ib, id), I64S(nb, now)};
    int rc = pg_rows_change_one(st, revoke ? "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0"
                                             " RETURNING id"
                                           : "UPDATE api_keys SET last_used = $2 WHERE id = $1 RETURNING id",
                                2, v, PG_KIND_KEY, id, "API key", NULL, err);
    if (rc == KB_ENOENT)
        rc = revoke ? kb_error_set(err, KB_ENOENT, "revoke API key: not found") : 0;
    return rc;
}

int pg_acct_audit_add(struct index_store *st, const struct index_audit *e, struct kb_error *err)
{
    char ab[24];
    const char *v[6] = {I64S(ab, e->at > 0 ? e->at : store_now_s()), nz(e->actor), nz(e->action), nz(e->target),
                        nz(e->detail), nz(e->ip)};
    return acct_insert(st,
                       "INSERT INTO audit(at, actor, action, target, detail, ip)"
                       " VALUES($1, $2, $3, $4, $5, $6) RETURNING id",
                       6, v, PG_KIND_AUDIT, "append to the audit log", NULL, NULL, err);
}

int pg_acct_bot_put(struct index_store *st, const struct index_bot *b, bool create, struct kb_error *err)
{
    char strict[16], page[4], now[24], ho[16], after[16], thumbs[16];
    const char *v[14] = {nz(b->id), nz(b->name), nz(b->collections), nz(b->greeting), nz(b->persona),
                         nz(b->fallback), strict, nz(b->model), nz(b->origins), nz(b->color), nz(b->logo),
                         nz(b->lang), page, I64S(now, store_now_s())};
    const char *h[5] = {nz(b->id), ho, nz(b->handoff_keywords), after, thumbs};
    struct pg_db *db = acct_db(st);
    int64_t one = 0, zero = 0;
    char kind = PG_KIND_BOTS;
    int rc;
    snprintf(strict, sizeof strict, "%d", b->strict);
    snprintf(page, sizeof page, "%d", b->public_page ? 1 : 0);
    snprintf(ho, sizeof ho, "%d", b->handoff);
    snprintf(after, sizeof after, "%d", b->handoff_after_fallbacks);
    snprintf(thumbs, sizeof thumbs, "%d", b->handoff_on_thumbs_down);
    if ((rc = pg_tx_begin(db, err)) != 0)
        return rc;
    rc = pg_rows_i64(db, create ? "INSERT INTO bots(" BOT_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                                  " $12, $13, $14, $14) RETURNING 1"
                                : "UPDATE bots SET name = $2, collections = $3, greeting = $4, persona = $5,"
                                  " fallback = $6, strict = $7, model = $8, origins = $9, color = $10, logo = $11,"
                                  " lang = $12, public_page = $13, updated_at = $14 WHERE id = $1 RETURNING 1",
                     14, v, &one, create ? "create bot" : "update bot", err);
    if (rc == KB_ECONFLICT)
        rc = kb_error_set(err, KB_ECONFLICT, "a bot with id '%s' already exists", nz(b->id));
    else if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%s'", nz(b->id));
    if (rc == 0)
        rc = pg_tx_exec(db, "INSERT INTO bot_handoff(" HANDOFF_COLS ") VALUES($1, $2, $3, $4, $5) ON CONFLICT(bot_id)"
                            " DO UPDATE SET handoff = $2, keywords = $3, after_fallbacks = $4, on_thumbs_down = $5",
                        5, h, NULL, NULL, "write bot handoff settings", err);
    return pg_rows_commit(st, rc, &kind, &zero, 1, err);
}

int pg_acct_bot_delete(struct index_store *st, const char *id, struct kb_error *err)
{
    const char *v[1] = {nz(id)};
    struct pg_db *db = acct_db(st);
    int64_t one = 0, zero = 0;
    char kind = PG_KIND_BOTS;
    int rc = pg_tx_begin(db, err);
    if (rc)
        return rc;
    rc = pg_tx_exec(db, "DELETE FROM bot_handoff WHERE bot_id = $1", 1, v, NULL, NULL, "delete bot handoff settings",
                    err);
    if (rc == 0)
        rc = pg_rows_i64(db, "DELETE FROM bots WHERE id = $1 RETURNING 1", 1, v, &one, "delete bot", err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", nz(id));
    return pg_rows_commit(st, rc, &kind, &zero, 1, err);
}

int pg_acct_coll_handoff_put(struct index_store *st, const struct index_coll_handoff *h, struct kb_error *err)
{
    char cb[24], ho[16], off[4], after[16], thumbs[16];
    bool inherit = h->handoff < 0 && !(h->keywords && h->keywords[0]) && !h->keywords_off && h->after_fallbacks < 0 &&
                   h->on_thumbs_down < 0;
    const char *v[6] = {I64S(cb, h->collection_id), ho, nz(h->keywords), off, after, thumbs};
    struct pg_db *db = acct_db(st);
    char kind = PG_KIND_COLL_HANDOFF;
    int rc;
    snprintf(ho, sizeof ho, "%d", h->handoff);
    snprintf(off, sizeof off, "%d", h->keywords_off ? 1 : 0);
    snprintf(after, sizeof after, "%d", h->after_fallbacks);
    snprintf(thumbs, sizeof thumbs, "%d", h->on_thumbs_down);
    if ((rc = pg_tx_begin(db, err)) != 0)
        return rc;
    rc = inherit ? pg_tx_exec(db, "DELETE FROM collection_handoff WHERE collection_id = $1", 1, v, NULL, NULL,
                              "delete collection handoff settings", err)
                 : pg_tx_exec(db, "INSERT INTO collection_handoff(" COLL_HO_COLS ") VALUES($1, $2, $3, $4, $5, $6)"
                                  " ON CONFLICT(collection_id) DO UPDATE SET handoff = $2, keywords = $3,"
                                  " keywords_off = $4, after_fallbacks = $5, on_thumbs_down = $6",
                              6, v, NULL, NULL, "write collection handoff settings", err);
    return pg_rows_commit(st, rc, &kind, &h->collection_id, 1, err);
}
