/* index/store_curated.c: curated answers (the FAQ editor's entries): the SQL of their tables, part
 * of the SQLite glue (see store.c, which runs STORE_CURATED_MIGRATION from its migrations array).
 *
 * Schema (added by one migration, independent of every other table but collections and documents):
 *   curated(id AUTOINCREMENT, collection_id, version, question, similar, answer, citations,
 *           document_id, doc_version, uses, created_at, updated_at)
 *       -- similar: the similar questions, one per line ("" none); citations: cited document ids,
 *          comma-separated ("" none); document_id: the hidden document (mime
 *          INDEX_CURATED_MIME, path "curated:<id>") the entry is searched as, 0 before rag/ wrote
 *          it; doc_version: the version that document holds; uses: answers given with it
 *   curated_versions(curated_id, version, question, similar, answer, citations, created_at,
 *                    PRIMARY KEY(curated_id, version))
 *       -- every version, the current one included: an edit adds a row and keeps the old ones
 * The curated rows are the source of truth; their hidden documents are derived from them by rag/
 * (rag/curated.c), like the FAISS file from the embeddings: index_curated_stale lists entries whose
 * document lags their version and hidden documents whose entry is gone, so a crash between the two
 * writes is repaired at the next open.
 *
 * Data flow: index_curated_put writes n entries (new ones or new versions) in ONE transaction (an
 * import is all or nothing); index_curated_used counts an answer and says which entry and version
 * a hidden document holds. With store.backend = postgres the writes go to PostgreSQL and come back
 * through the node's sync (index/pg_rows.c). Invariants: every public function takes the store's lock; versions
 * count from 1 and only grow. Tests: tests/rag/test_curated.c, tests/web/test_faq.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/pg.h" /* st->pg: these writes go to PostgreSQL first (pg_rows.c) */

const char *const store_curated_migration =
    "CREATE TABLE IF NOT EXISTS curated(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id), version INTEGER NOT NULL DEFAULT 1,"
    " question TEXT NOT NULL, similar TEXT NOT NULL DEFAULT '', answer TEXT NOT NULL,"
    " citations TEXT NOT NULL DEFAULT '', document_id INTEGER NOT NULL DEFAULT 0,"
    " doc_version INTEGER NOT NULL DEFAULT 0, uses INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS curated_coll ON curated(collection_id, id);"
    "CREATE INDEX IF NOT EXISTS curated_doc ON curated(document_id);"
    "CREATE TABLE IF NOT EXISTS curated_versions(curated_id INTEGER NOT NULL, version INTEGER NOT NULL,"
    " question TEXT NOT NULL, similar TEXT NOT NULL DEFAULT '', answer TEXT NOT NULL,"
    " citations TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, PRIMARY KEY(curated_id, version));";

#define CURATED_COLS                                                                                             \
    "c.id, c.collection_id, c.version, c.question, c.similar, c.answer, c.citations, c.document_id, c.doc_version," \
    " c.uses, c.created_at, c.updated_at"

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void curated_from_row(sqlite3_stmt *s, struct kb_arena *a, struct index_curated *c)
{
    c->id = sqlite3_column_int64(s, 0);
    c->collection_id = sqlite3_column_int64(s, 1);
    c->version = sqlite3_column_int(s, 2);
    c->question = store_col_str(s, 3, a);
    c->similar = store_col_str(s, 4, a);
    c->answer = store_col_str(s, 5, a);
    c->citations = store_col_str(s, 6, a);
    c->document_id = sqlite3_column_int64(s, 7);
    c->doc_version = sqlite3_column_int(s, 8);
    c->uses = sqlite3_column_int64(s, 9);
    c->created_at = sqlite3_column_int64(s, 10);
    c->updated_at = sqlite3_column_int64(s, 11);
}

/* Inserts version `version` of entry id into curated_versions (lock and transaction held). */
static int st_curated_version_row(struct index_store *st, int64_t id, int version, const struct index_curated *c,
                                  int64_t now, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "INSERT INTO curated_versions(curated_id, version, question, similar, answer,"
                                     " citations, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7)", err);
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, version);
    sqlite3_bind_text(s, 3, nz(c->question), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, nz(c->similar), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, nz(c->answer), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, nz(c->citations), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, now);
    return store_step_done(st, s, "store curated version", err);
}

/* One entry: a new row (c->id 0) or the next version of an existing one (lock and transaction held). */
static int st_curated_put_one(struct index_store *st, const struct index_curated *c, int64_t now, int64_t *id_out,
                              int *version_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    int64_t id = c->id;
    int version = 1, rc = 0, src;
    if (id > 0) {
        s = store_prep(st, "UPDATE curated SET version=version+1, question=?2, similar=?3, answer=?4, citations=?5,"
                           " updated_at=?6 WHERE id=?1 RETURNING version", err);
        if (!s)
            return err ? err->code : KB_EIO;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, nz(c->question), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(c->similar), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, nz(c->answer), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, nz(c->citations), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, now);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW)
            version = sqlite3_column_int(s, 0);
        sqlite3_reset(s);
        if (src == SQLITE_DONE)
            rc = kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)id);
        else if (src != SQLITE_ROW)
            rc = store_fail(st, err, src, "update curated answer");
    } else {
        s = store_prep(st, "INSERT INTO curated(collection_id, version, question, similar, answer, citations,"
                           " created_at, updated_at) VALUES(?1,1,?2,?3,?4,?5,?6,?6)", err);
        if (!s)
            return err ? err->code : KB_EIO;
        sqlite3_bind_int64(s, 1, c->collection_id > 0 ? c->collection_id : store_default_collection(st));
        sqlite3_bind_text(s, 2, nz(c->question), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, nz(c->similar), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, nz(c->answer), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, nz(c->citations), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, now);
        rc = store_step_done(st, s, "insert curated answer", err);
        if (rc == 0)
            id = sqlite3_last_insert_rowid(st->db);
    }
    if (rc == 0)
        rc = st_curated_version_row(st, id, version, c, now, err);
    if (rc == 0) {
        *id_out = id;
        *version_out = version;
    }
    return rc;
}

int index_curated_put(struct index_store *st, const struct index_curated *in, int n, int64_t *ids, int *versions,
                      struct kb_error *err)
{
    int64_t now = store_now_s();
    int rc;
    if (st->pg)
        return pg_rows_curated_put(st, in, n, ids, versions, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc == 0) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = st_curated_put_one(st, &in[i], now, &ids[i], &versions[i], err);
        rc = store_end(st, rc, err);
    }
    store_unlock(st);
    return rc;
}

int index_curated_get(struct index_store *st, int64_t id, struct kb_arena *a, struct index_curated *out,
                      struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    store_lock(st);
    s = store_prep(st, "SELECT " CURATED_COLS " FROM curated c WHERE c.id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        curated_from_row(s, a, out);
    sqlite3_reset(s);
    if (src == SQLITE_DONE)
        rc = kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)id);
    else if (src != SQLITE_ROW)
        rc = store_fail(st, err, src, "read curated answer");
out_unlock:
    store_unlock(st);
    return rc;
}

int index_curated_list(struct index_store *st, int64_t collection_id, const char *q, int64_t offset, int limit,
                       struct kb_arena *a, struct index_curated **out, int *n_out, int64_t *total,
                       struct kb_error *err)
{
    /* q matches a substring of the question, a similar question or the answer (LIKE, with its
     * wildcards escaped): the editor's search box, not retrieval */
    static const char *const sql_count = "SELECT count(*) FROM curated c WHERE (?1=0 OR c.collection_id=?1) AND"
                                         " (?2='' OR instr(c.question||char(10)||c.similar||char(10)||c.answer, ?2)>0)";
    static const char *const sql_page = "SELECT " CURATED_COLS " FROM curated c WHERE (?1=0 OR c.collection_id=?1)"
                                        " AND (?2='' OR instr(c.question||char(10)||c.similar||char(10)||c.answer, ?2)>0)"
                                        " ORDER BY c.id DESC LIMIT ?3 OFFSET ?4";
    sqlite3_stmt *s;
    int rc = 0, src, n = 0;
    *out = NULL;
    *n_out = 0;
    *total = 0;
    if (limit < 1 || limit > INDEX_CURATED_PAGE_MAX || offset < 0)
        return kb_error_set(err, KB_EINVAL, "page size must be 1..%d and the offset >= 0", INDEX_CURATED_PAGE_MAX);
    store_lock(st);
    s = store_prep(st, sql_count, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_text(s, 2, nz(q), -1, SQLITE_STATIC);
    if ((src = sqlite3_step(s)) == SQLITE_ROW)
        *total = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (src != SQLITE_ROW) {
        rc = store_fail(st, err, src, "count curated answers");
        goto out_unlock;
    }
    s = store_prep(st, sql_page, err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    *out = kb_arena_alloc(a, (size_t)limit * sizeof **out);
    if (!*out) {
        rc = kb_error_set(err, KB_ENOMEM, "no memory for %d curated answers", limit);
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_text(s, 2, nz(q), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, limit);
    sqlite3_bind_int64(s, 4, offset);
    while ((src = sqlite3_step(s)) == SQLITE_ROW && n < limit)
        curated_from_row(s, a, &(*out)[n++]);
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "list curated answers");
    *n_out = n;
out_unlock:
    store_unlock(st);
    return rc;
}

int index_curated_versions(struct index_store *st, int64_t id, struct kb_arena *a, struct index_curated **out,
                           int *n_out, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src, n = 0, cap = 16;
    *out = NULL;
    *n_out = 0;
    store_lock(st);
    s = store_prep(st, "SELECT v.version, v.question, v.similar, v.answer, v.citations, v.created_at, c.collection_id"
                       " FROM curated_versions v JOIN curated c ON c.id=v.curated_id WHERE v.curated_id=?1"
                       " ORDER BY v.version DESC", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
        goto out_unlock;
    }
    sqlite3_bind_int64(s, 1, id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct index_curated *c;
        if (!*out || n == cap) {
            struct index_curated *grown;
            cap = *out ? cap * 2 : cap;
            grown = kb_arena_alloc(a, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = kb_error_set(err, KB_ENOMEM, "no memory for %d versions", cap);
                break;
            }
            if (n)
                memcpy(grown, *out, (size_t)n * sizeof *grown);
            *out = grown;
        }
        c = &(*out)[n++];
        memset(c, 0, sizeof *c);
        c->id = id;
        c->version = sqlite3_column_int(s, 0);
        c->question = store_col_str(s, 1, a);
        c->similar = store_col_str(s, 2, a);
        c->answer = store_col_str(s, 3, a);
        c->citations = store_col_str(s, 4, a);
        c->created_at = c->updated_at = sqlite3_column_int64(s, 5);
        c->collection_id = sqlite3_column_int64(s, 6);
    }
    sqlite3_reset(s);
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_fail(st, err, src, "list curated versions");
    if (rc == 0 && n == 0)
        rc = kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)id);
    *n_out = rc ? 0 : n;
out_unlock:
    store_unlock(st);
    return rc;
}

int index_curated_delete(struct index_store *st, int64_t id, int64_t *document_id, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc, src;
    *document_id = 0;
    if (st->pg)
        return pg_rows_curated_delete(st, id, document_id, err);
    store_lock(st);
    rc = store_begin(st, err);
    if (rc)
        goto out_unlock;
    s = store_prep(st, "DELETE FROM curated WHERE id=?1 RETURNING document_id", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW)
            *document_id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (src == SQLITE_DONE)
            rc = kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)id);
        else if (src != SQLITE_ROW)
            rc = store_fail(st, err, src, "delete curated answer");
    }
    if (rc == 0) {
        s = store_prep(st, "DELETE FROM curated_versions WHERE curated_id=?1", err);
        if (!s) {
            rc = err ? err->code : KB_EIO;
        } else {
            sqlite3_bind_int64(s, 1, id);
            rc = store_step_done(st, s, "delete curated versions", err);
        }
    }
    rc = store_end(st, rc, err);
out_unlock:
    store_unlock(st);
    return rc;
}

int index_curated_set_document(struct index_store *st, int64_t id, int version, int64_t document_id,
                               struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc;
    if (st->pg)
        return pg_rows_curated_set_document(st, id, version, document_id, err);
    store_lock(st);
    s = store_prep(st, "UPDATE curated SET document_id=?2, doc_version=?3 WHERE id=?1", err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, document_id);
        sqlite3_bind_int(s, 3, version);
        rc = store_step_done(st, s, "record curated document", err);
    }
    store_unlock(st);
    return rc;
}

/* The ids the one-column query sql returns, into an arena array (lock held). */
static int st_id_list(struct index_store *st, const char *sql, struct kb_arena *a, int64_t **ids, int *n,
                      struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, sql, err);
    int rc = s ? 0 : err ? err->code : KB_EIO, cap = 0;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            int64_t *grown;
            cap = cap ? cap * 2 : 16;
            grown = kb_arena_alloc(a, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = kb_error_set(err, KB_ENOMEM, "no memory for the curated answers to repair");
                break;
            }
            if (*n)
                memcpy(grown, *ids, (size_t)*n * sizeof *grown);
            *ids = grown;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (s)
        sqlite3_reset(s);
    return rc;
}

int index_curated_stale(struct index_store *st, struct kb_arena *a, int64_t **stale, int *n_stale,
                        int64_t **orphans, int *n_orphans, struct kb_error *err)
{
    int rc = 0;
    *stale = *orphans = NULL;
    *n_stale = *n_orphans = 0;
    store_lock(st);
    /* entries of a deleted collection went with it */
    if (!st->read_only)
        rc = store_exec(st, "DELETE FROM curated_versions WHERE curated_id IN (SELECT id FROM curated WHERE"
                            " collection_id NOT IN (SELECT id FROM collections));"
                            "DELETE FROM curated WHERE collection_id NOT IN (SELECT id FROM collections);", err);
    if (!rc)
        rc = st_id_list(st, "SELECT c.id FROM curated c LEFT JOIN documents d ON d.id=c.document_id"
                            " WHERE c.doc_version<>c.version OR d.id IS NULL ORDER BY c.id", a, stale, n_stale, err);
    if (!rc)
        rc = st_id_list(st, "SELECT d.id FROM documents d WHERE d.mime='" INDEX_CURATED_MIME "' AND NOT EXISTS"
                            " (SELECT 1 FROM curated c WHERE c.document_id=d.id) ORDER BY d.id", a, orphans,
                        n_orphans, err);
    store_unlock(st);
    return rc;
}

int index_curated_used(struct index_store *st, int64_t document_id, int64_t *id, int *version, struct kb_error *err)
{
    sqlite3_stmt *s;
    int rc = 0, src;
    *id = 0;
    *version = 0;
    store_lock(st);
    s = store_prep(st, st->read_only ? "SELECT id, doc_version FROM curated WHERE document_id=?1"
                                     : "UPDATE curated SET uses=uses+1 WHERE document_id=?1 RETURNING id, doc_version",
                   err);
    if (!s) {
        rc = err ? err->code : KB_EIO;
    } else {
        sqlite3_bind_int64(s, 1, document_id);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            *id = sqlite3_column_int64(s, 0);
            *version = sqlite3_column_int(s, 1);
            src = sqlite3_step(s); /* an UPDATE ... RETURNING finishes on the next step */
        }
        sqlite3_reset(s);
        if (*id == 0 && (src == SQLITE_DONE || src == SQLITE_ROW))
            rc = KB_ENOENT; /* not a curated answer's document: no detail needed */
        else if (src != SQLITE_DONE && src != SQLITE_ROW)
            rc = store_fail(st, err, src, "count curated answer use");
    }
    store_unlock(st);
    if (rc == 0 && st->pg && !st->read_only) /* counted here at once; PostgreSQL's figure follows */
        pg_rows_curated_used(st, *id, document_id);
    return rc;
}
