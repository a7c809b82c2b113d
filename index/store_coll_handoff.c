/* index/store_coll_handoff.c: a collection's own handoff triggers (issue #17 item 1: "each trigger
 * is configurable per collection, and can be off"); part of the SQLite glue (see store.c), which
 * runs store_coll_handoff_migration as the entry for schema version 10 of its migrations array.
 *
 * Schema (v10; no other table refers to it):
 *   collection_handoff(collection_id PRIMARY KEY, handoff, keywords, keywords_off, after_fallbacks,
 *                      on_thumbs_down)
 *       -- the columns of bot_handoff (store_bots.c), each inheriting when unset: handoff,
 *          on_thumbs_down: -1 inherit, 0 off, 1 on; keywords: "" inherit; after_fallbacks: -1
 *          inherit, 0 off, N; plus keywords_off (1: the keyword trigger is off for the collection),
 *          which a bot does not need (a bot that wants no keywords turns handoff off or names its
 *          own) but a collection does, to switch that one trigger off alone.
 * A row whose every setting inherits is deleted rather than kept, and a collection's row goes with
 * the collection (store_docs.c's store_collection_drop). With store.backend=postgres the table is
 * written in PostgreSQL first (pg_accounts.c, PG schema 7) and mirrored into every node's SQLite,
 * where it is read as here: a setting changed on one node reaches the others after their sync.
 * Invariants: every function locks the store. Tests: tests/web/test_handoff.c (test_coll_handoff)
 * and tests/cli/test_collection_cli.c. */
#include <string.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: the write goes to PostgreSQL first (pg_accounts.c) */

/* 9 -> 10: a table of its own (see store_bots.c's note on re-running a migration). */
const char store_coll_handoff_migration[] =
    "CREATE TABLE IF NOT EXISTS collection_handoff(collection_id INTEGER PRIMARY KEY,"
    " handoff INTEGER NOT NULL DEFAULT -1, keywords TEXT NOT NULL DEFAULT '',"
    " keywords_off INTEGER NOT NULL DEFAULT 0, after_fallbacks INTEGER NOT NULL DEFAULT -1,"
    " on_thumbs_down INTEGER NOT NULL DEFAULT -1);";

static int ch_prepare(struct index_store *st, const char *sql, sqlite3_stmt **s, struct kb_error *err)
{
    int src = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    return src == SQLITE_OK ? 0 : store_fail(st, err, src, "prepare collection handoff query");
}

int index_coll_handoff_get(struct index_store *st, int64_t collection_id, struct kb_arena *a,
                           struct index_coll_handoff *out, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    *out = (struct index_coll_handoff){.collection_id = collection_id, .handoff = -1, .keywords = "",
                                       .after_fallbacks = -1, .on_thumbs_down = -1};
    store_lock(st);
    if ((rc = ch_prepare(st, "SELECT handoff, keywords, keywords_off, after_fallbacks, on_thumbs_down"
                             " FROM collection_handoff WHERE collection_id=?1", &s, err)))
        goto out;
    sqlite3_bind_int64(s, 1, collection_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        out->handoff = sqlite3_column_int(s, 0);
        out->keywords = store_col_str(s, 1, a);
        out->keywords_off = sqlite3_column_int(s, 2) != 0;
        out->after_fallbacks = sqlite3_column_int(s, 3);
        out->on_thumbs_down = sqlite3_column_int(s, 4);
    } else if (src != SQLITE_DONE) {
        rc = store_fail(st, err, src, "read collection handoff settings");
    }
out:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_coll_handoff_put(struct index_store *st, const struct index_coll_handoff *h, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    bool inherit = h->handoff < 0 && !(h->keywords && h->keywords[0]) && !h->keywords_off &&
                   h->after_fallbacks < 0 && h->on_thumbs_down < 0;
    int rc, src;
    if (st->pg)
        return pg_acct_coll_handoff_put(st, h, err);
    store_lock(st);
    if ((rc = ch_prepare(st, inherit ? "DELETE FROM collection_handoff WHERE collection_id=?1"
                                     : "INSERT INTO collection_handoff(collection_id, handoff, keywords, keywords_off,"
                                       " after_fallbacks, on_thumbs_down) VALUES(?1,?2,?3,?4,?5,?6)"
                                       " ON CONFLICT(collection_id) DO UPDATE SET handoff=?2, keywords=?3,"
                                       " keywords_off=?4, after_fallbacks=?5, on_thumbs_down=?6",
                         &s, err)))
        goto out;
    sqlite3_bind_int64(s, 1, h->collection_id);
    if (!inherit) {
        sqlite3_bind_int(s, 2, h->handoff);
        sqlite3_bind_text(s, 3, h->keywords ? h->keywords : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, h->keywords_off ? 1 : 0);
        sqlite3_bind_int(s, 5, h->after_fallbacks);
        sqlite3_bind_int(s, 6, h->on_thumbs_down);
    }
    if ((src = sqlite3_step(s)) != SQLITE_DONE)
        rc = store_fail(st, err, src, "write collection handoff settings");
out:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}

int index_message_collection(struct index_store *st, int64_t message_id, int64_t *collection_id, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc, src;
    *collection_id = 0;
    store_lock(st);
    if ((rc = ch_prepare(st, "SELECT collection_id FROM messages WHERE id=?1", &s, err)))
        goto out;
    sqlite3_bind_int64(s, 1, message_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *collection_id = sqlite3_column_int64(s, 0);
    else if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no logged message with id %lld", (long long)message_id);
    else
        rc = store_fail(st, err, src, "read a message's collection");
out:
    sqlite3_finalize(s);
    store_unlock(st);
    return rc;
}
