/* index/store_bots.c: bots, the named public-facing configurations (issue #16 item 3): the SQL of
 * their table and its migration, part of the SQLite glue (store.c runs store_bots_migration as the
 * entry for schema version 7 of its migrations array, store_bots_handoff_migration for 9).
 *
 * Schema (bots by the schema-7 migration, bot_handoff by 9; no other table refers to them):
 *   bots(id TEXT PRIMARY KEY, name, collections, greeting, persona, fallback, strict, model, origins,
 *        color, logo, lang, public_page, created_at, updated_at)
 *       -- id: a slug [a-z0-9-], 1..32 bytes (rag/bots.c checks it); collections: collection ids,
 *          comma-separated ("" = every collection); strict: -1 inherit answer.strict, 0 off, 1 on;
 *          every text column "" = inherit the global setting (widget.greeting, answer.persona,
 *          answer.fallback, answer.model, server.cors_origins, widget.color, widget.lang); logo: ""
 *          none, an http(s) URL or a data:image/...;base64 URL; public_page: /b/ID is served (1) or 404
 *   bot_handoff(bot_id PRIMARY KEY, handoff, keywords, after_fallbacks, on_thumbs_down)  (schema 9)
 *       -- a bot's own handoff triggers (issues #16 item 3, #17 item 1), written with the bot and
 *          deleted with it; handoff, on_thumbs_down: -1 inherit handoff.enabled /
 *          handoff.on_thumbs_down, 0 off, 1 on; keywords: "" inherit handoff.keywords;
 *          after_fallbacks: -1 inherit handoff.after_fallbacks, 0 off, N
 * The migration also creates the bot "default" over every collection with every setting inherited,
 * so an upgraded data directory's answers, widget and OpenAI model "default" behave as before.
 *
 * Data flow: rag/bots.c validates and fills struct index_bot; this file stores and reads it (with
 * store.backend = postgres, writes go to PostgreSQL and come back through the sync: pg_accounts.c).
 * Statements are prepared per call (bots change rarely; the statement cache stays for hot paths).
 * Invariants: every public function takes the store's lock. Tests: tests/web/test_bots.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: these writes go to PostgreSQL first (pg_accounts.c) */

const char store_bots_migration[] =
    "CREATE TABLE IF NOT EXISTS bots(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " collections TEXT NOT NULL DEFAULT '', greeting TEXT NOT NULL DEFAULT '',"
    " persona TEXT NOT NULL DEFAULT '', fallback TEXT NOT NULL DEFAULT '',"
    " strict INTEGER NOT NULL DEFAULT -1, model TEXT NOT NULL DEFAULT '', origins TEXT NOT NULL DEFAULT '',"
    " color TEXT NOT NULL DEFAULT '', logo TEXT NOT NULL DEFAULT '', lang TEXT NOT NULL DEFAULT '',"
    " public_page INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO bots(id, name, created_at, updated_at) VALUES('default', 'Default',"
    " CAST(strftime('%s','now') AS INTEGER), CAST(strftime('%s','now') AS INTEGER));";

/* 8 -> 9: a bot's own handoff settings, one row per bot that has any (none: every one inherits).
 * A table of its own, not ALTER TABLE ADD COLUMN, so that running the migration again (a database
 * whose user_version was set back) does not fail on existing columns. */
const char store_bots_handoff_migration[] =
    "CREATE TABLE IF NOT EXISTS bot_handoff(bot_id TEXT PRIMARY KEY, handoff INTEGER NOT NULL DEFAULT -1,"
    " keywords TEXT NOT NULL DEFAULT '', after_fallbacks INTEGER NOT NULL DEFAULT -1,"
    " on_thumbs_down INTEGER NOT NULL DEFAULT -1);";

#define BOT_COLS                                                                                          \
    "id, name, collections, greeting, persona, fallback, strict, model, origins, color, logo, lang,"     \
    " public_page, created_at, updated_at"
/* A bot with its handoff settings (-1 / '' when it has no bot_handoff row) */
#define BOT_SELECT                                                                                        \
    "SELECT b.id, b.name, b.collections, b.greeting, b.persona, b.fallback, b.strict, b.model, b.origins,"  \
    " b.color, b.logo, b.lang, b.public_page, b.created_at, b.updated_at, coalesce(h.handoff, -1),"         \
    " coalesce(h.keywords, ''), coalesce(h.after_fallbacks, -1), coalesce(h.on_thumbs_down, -1)"           \
    " FROM bots b LEFT JOIN bot_handoff h ON h.bot_id = b.id"

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void bot_from_row(sqlite3_stmt *s, struct kb_arena *a, struct index_bot *b)
{
    b->id = store_col_str(s, 0, a);
    b->name = store_col_str(s, 1, a);
    b->collections = store_col_str(s, 2, a);
    b->greeting = store_col_str(s, 3, a);
    b->persona = store_col_str(s, 4, a);
    b->fallback = store_col_str(s, 5, a);
    b->strict = sqlite3_column_int(s, 6);
    b->model = store_col_str(s, 7, a);
    b->origins = store_col_str(s, 8, a);
    b->color = store_col_str(s, 9, a);
    b->logo = store_col_str(s, 10, a);
    b->lang = store_col_str(s, 11, a);
    b->public_page = sqlite3_column_int(s, 12) != 0;
    b->created_at = sqlite3_column_int64(s, 13);
    b->updated_at = sqlite3_column_int64(s, 14);
    b->handoff = sqlite3_column_int(s, 15);
    b->handoff_keywords = store_col_str(s, 16, a);
    b->handoff_after_fallbacks = sqlite3_column_int(s, 17);
    b->handoff_on_thumbs_down = sqlite3_column_int(s, 18);
}

static int bot_prepare(struct index_store *st, const char *sql, sqlite3_stmt **s, struct kb_error *err)
{
    int src = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    return src == SQLITE_OK ? 0 : store_fail(st, err, src, "prepare bots query");
}

/* The bot's handoff row, in the caller's transaction. */
static int bot_handoff_put(struct index_store *st, const struct index_bot *b, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    if ((rc = bot_prepare(st, "INSERT INTO bot_handoff(bot_id, handoff, keywords, after_fallbacks, on_thumbs_down)"
                              " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(bot_id) DO UPDATE SET handoff=?2, keywords=?3,"
                              " after_fallbacks=?4, on_thumbs_down=?5", &s, err)))
        return rc;
    sqlite3_bind_text(s, 1, nz(b->id), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, b->handoff);
    sqlite3_bind_text(s, 3, nz(b->handoff_keywords), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, b->handoff_after_fallbacks);
    sqlite3_bind_int(s, 5, b->handoff_on_thumbs_down);
    if ((src = sqlite3_step(s)) != SQLITE_DONE)
        rc = store_fail(st, err, src, "write bot handoff settings");
    sqlite3_finalize(s);
    return rc;
}

int index_bot_put(struct index_store *st, const struct index_bot *b, bool create, struct kb_error *err)
{
    static const char sql_ins[] = "INSERT INTO bots(" BOT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?14)";
    static const char sql_upd[] = "UPDATE bots SET name=?2, collections=?3, greeting=?4, persona=?5, fallback=?6,"
                                  " strict=?7, model=?8, origins=?9, color=?10, logo=?11, lang=?12, public_page=?13,"
                                  " updated_at=?14 WHERE id=?1";
    sqlite3_stmt *s = NULL;
    int rc, src;
    if (st->pg)
        return pg_acct_bot_put(st, b, create, err);
    store_lock(st);
    if ((rc = store_begin(st, err)))
        goto out_unlock;
    if ((rc = bot_prepare(st, create ? sql_ins : sql_upd, &s, err)))
        goto out_end;
    sqlite3_bind_text(s, 1, nz(b->id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, nz(b->name), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, nz(b->collections), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(b->greeting), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, nz(b->persona), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, nz(b->fallback), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, b->strict);
    sqlite3_bind_text(s, 8, nz(b->model), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, nz(b->origins), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, nz(b->color), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, nz(b->logo), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 12, nz(b->lang), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 13, b->public_page ? 1 : 0);
    sqlite3_bind_int64(s, 14, store_now_s());
    src = sqlite3_step(s);
    if (src == SQLITE_CONSTRAINT_PRIMARYKEY || (src & 0xff) == SQLITE_CONSTRAINT)
        rc = kb_error_set(err, KB_ECONFLICT, "a bot with id '%s' already exists", nz(b->id));
    else if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, create ? "create bot" : "update bot");
    else if (!create && sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%s'", nz(b->id));
    if (rc == 0)
        rc = bot_handoff_put(st, b, err);
out_end:
    sqlite3_finalize(s);
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_bot_get(struct index_store *st, const char *id, struct kb_arena *a, struct index_bot *out,
                  struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    memset(out, 0, sizeof *out);
    store_lock(st);
    if ((rc = bot_prepare(st, BOT_SELECT " WHERE b.id=?1", &s, err)))
        goto out_unlock;
    sqlite3_bind_text(s, 1, nz(id), -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        bot_from_row(s, a, out);
    else if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", nz(id));
    else
        rc = store_fail(st, err, src, "read bot");
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_bot_list(struct index_store *st, bool origins_only, struct kb_arena *a, struct index_bot **out,
                   int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src = SQLITE_DONE, n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    if ((rc = bot_prepare(st, origins_only ? "SELECT id, origins FROM bots ORDER BY id"
                                           : BOT_SELECT " ORDER BY b.id", &s, err)))
        goto out_unlock;
    while (n < INDEX_BOTS_MAX && (src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            struct index_bot *grown;
            cap = cap ? cap * 2 : 16;
            grown = kb_arena_alloc(a, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = kb_error_set(err, KB_ENOMEM, "no memory for %d bots", cap);
                break;
            }
            if (n)
                memcpy(grown, *out, (size_t)n * sizeof *grown);
            *out = grown;
        }
        memset(&(*out)[n], 0, sizeof **out);
        if (origins_only) {
            (*out)[n].id = store_col_str(s, 0, a);
            (*out)[n].origins = store_col_str(s, 1, a);
        } else {
            bot_from_row(s, a, &(*out)[n]);
        }
        n++;
    }
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "list bots");
    *n_out = rc ? 0 : n;
out_unlock:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_bot_delete(struct index_store *st, const char *id, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    if (st->pg)
        return pg_acct_bot_delete(st, id, err);
    store_lock(st);
    if ((rc = store_begin(st, err)))
        goto out_unlock;
    if ((rc = bot_prepare(st, "DELETE FROM bot_handoff WHERE bot_id=?1", &s, err)))
        goto out_end;
    sqlite3_bind_text(s, 1, nz(id), -1, SQLITE_STATIC);
    if ((src = sqlite3_step(s)) != SQLITE_DONE) {
        rc = store_fail(st, err, src, "delete bot handoff settings");
        goto out_end;
    }
    sqlite3_finalize(s);
    s = NULL;
    if ((rc = bot_prepare(st, "DELETE FROM bots WHERE id=?1", &s, err)))
        goto out_end;
    sqlite3_bind_text(s, 1, nz(id), -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src != SQLITE_DONE)
        rc = store_fail(st, err, src, "delete bot");
    else if (sqlite3_changes(st->db) == 0)
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", nz(id));
out_end:
    sqlite3_finalize(s);
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}
