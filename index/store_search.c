/* index/store_search.c: the read queries search.c builds on (part of the SQLite glue; see store.c):
 * BM25 candidates from FTS5 with collection/document filters, the filter of vector hits, stored
 * vectors of candidates and of one document, the text and provenance of hits, and the IDF of a
 * term from the FTS5 vocabulary (for the built-in embedder's queries and sentence evidence).
 *
 * Data flow: search.c -> store_bm25 / store_filter_chunks / store_get_vectors / store_doc_vectors
 * -> store_fill_hits into the caller's arena. IDF = log(1 + (N - df + 0.5) / (df + 0.5)) with N the
 * chunk count (cached in st->n_chunks_cache until a write) and df from chunks_vocab.
 * Invariants: every function here expects the store's lock held, except index_idf, which takes it.
 * Tests: tests/index/test_store.c (search), test_search_fusion.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/index_int.h"

int store_bm25(struct index_store *st, const char *fts_expr, int64_t collection_id, int64_t document_id, int limit,
               struct store_cand *out, int *n_out, struct kb_error *err)
{
    const char *sql_all = "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2";
    const char *sql_doc = "SELECT f.rowid, f.rank FROM chunks_fts f JOIN chunks c ON c.id=f.rowid"
                          " WHERE chunks_fts MATCH ?1 AND c.document_id=?3 ORDER BY f.rank LIMIT ?2";
    const char *sql_coll = "SELECT f.rowid, f.rank FROM chunks_fts f JOIN chunks c ON c.id=f.rowid"
                           " JOIN documents d ON d.id=c.document_id"
                           " WHERE chunks_fts MATCH ?1 AND d.collection_id=?3 ORDER BY f.rank LIMIT ?2";
    sqlite3_stmt *s = store_prep(st, document_id > 0 ? sql_doc : collection_id > 0 ? sql_coll : sql_all, err);
    int n = 0, src;
    *n_out = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    sqlite3_bind_text(s, 1, fts_expr, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit);
    if (document_id > 0 || collection_id > 0)
        sqlite3_bind_int64(s, 3, document_id > 0 ? document_id : collection_id);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&out[n], 0, sizeof(out[n]));
        out[n].chunk_id = sqlite3_column_int64(s, 0);
        out[n].bm25 = -sqlite3_column_double(s, 1);
        out[n].bm25_rank = n + 1;
        n++;
    }
    if (n < limit && src != SQLITE_DONE) {
        sqlite3_reset(s);
        return store_fail(st, err, src, "full-text search");
    }
    sqlite3_reset(s);
    *n_out = n;
    return 0;
}

int store_filter_chunks(struct index_store *st, int64_t collection_id, int64_t document_id, int64_t *ids,
                        float *scores, int *n, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT c.document_id, d.collection_id FROM chunks c JOIN documents d"
                                  " ON d.id=c.document_id WHERE c.id=?1", err);
    int w = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < *n; i++) {
        bool keep = false;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, ids[i]);
        if (sqlite3_step(s) == SQLITE_ROW)
            keep = (document_id <= 0 || sqlite3_column_int64(s, 0) == document_id) &&
                   (collection_id <= 0 || sqlite3_column_int64(s, 1) == collection_id);
        if (keep) {
            ids[w] = ids[i];
            scores[w] = scores[i];
            w++;
        }
    }
    sqlite3_reset(s);
    *n = w;
    return 0;
}

int store_get_vectors(struct index_store *st, const int64_t *ids, int n, float *out, bool *found,
                      struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT vector FROM embeddings WHERE chunk_id=?1 AND embedder_id=?2", err);
    const int dim = st->serve ? st->serve->dim : 0;
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_text(s, 2, st->serve->id, -1, SQLITE_STATIC);
        found[i] = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == dim * (int)sizeof(float);
        if (found[i])
            memcpy(out + (size_t)i * (size_t)dim, sqlite3_column_blob(s, 0), (size_t)dim * sizeof(float));
        else
            memset(out + (size_t)i * (size_t)dim, 0, (size_t)dim * sizeof(float));
    }
    sqlite3_reset(s);
    return 0;
}

int store_doc_vectors(struct index_store *st, int64_t doc_id, struct kb_arena *a, int64_t **ids, float **vecs, int *n,
                      struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id=c.id"
                                  " WHERE c.document_id=?1 AND e.embedder_id=?2", err);
    sqlite3_stmt *cnt = store_prep(st, "SELECT count(*) FROM chunks WHERE document_id=?1", err);
    const int dim = st->serve->dim;
    int64_t total = 0;
    int k = 0;
    *n = 0;
    if (!s || !cnt)
        return err ? err->code : KB_EIO;
    sqlite3_bind_int64(cnt, 1, doc_id);
    if (sqlite3_step(cnt) == SQLITE_ROW)
        total = sqlite3_column_int64(cnt, 0);
    sqlite3_reset(cnt);
    *ids = kb_arena_alloc(a, (size_t)(total + 1) * sizeof(int64_t));
    *vecs = kb_arena_alloc(a, (size_t)(total + 1) * (size_t)dim * sizeof(float));
    if (!*ids || !*vecs)
        return kb_error_set(err, KB_ENOMEM, "document has too many chunks to search");
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_text(s, 2, st->serve->id, -1, SQLITE_STATIC);
    while (k < total && sqlite3_step(s) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != dim * (int)sizeof(float))
            continue;
        (*ids)[k] = sqlite3_column_int64(s, 0);
        memcpy(*vecs + (size_t)k * (size_t)dim, sqlite3_column_blob(s, 1), (size_t)dim * sizeof(float));
        k++;
    }
    sqlite3_reset(s);
    *n = k;
    return 0;
}

int store_fill_hits(struct index_store *st, struct index_hit *hits, int n, struct kb_arena *a, struct kb_error *err)
{
    sqlite3_stmt *s = store_prep(st, "SELECT c.document_id, d.collection_id, d.name, d.title, d.path, d.external_id,"
                                  " c.heading_path, c.text, c.ordinal, c.page_start, c.page_end, c.off_start, c.off_end,"
                                  " c.page_map FROM chunks c JOIN documents d ON d.id=c.document_id WHERE c.id=?1", err);
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < n; i++) {
        struct index_hit *h = &hits[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, h->chunk_id);
        if (sqlite3_step(s) != SQLITE_ROW) {
            h->doc_name = h->doc_title = h->doc_path = h->external_id = h->heading_path = h->text = "";
            h->page_map = "";
            continue;
        }
        h->document_id = sqlite3_column_int64(s, 0);
        h->collection_id = sqlite3_column_int64(s, 1);
        h->doc_name = store_col_str(s, 2, a);
        h->doc_title = store_col_str(s, 3, a);
        h->doc_path = store_col_str(s, 4, a);
        h->external_id = store_col_str(s, 5, a);
        h->heading_path = store_col_str(s, 6, a);
        h->text = store_col_str(s, 7, a);
        h->ordinal = sqlite3_column_int(s, 8);
        h->page_start = sqlite3_column_int(s, 9);
        h->page_end = sqlite3_column_int(s, 10);
        h->off_start = sqlite3_column_int64(s, 11);
        h->off_end = sqlite3_column_int64(s, 12);
        h->page_map = store_col_str(s, 13, a);
    }
    sqlite3_reset(s);
    return 0;
}

static double store_idf(void *ud, const char *term, size_t n)
{
    struct index_store *st = ud;
    sqlite3_stmt *s;
    double df = 0, N;
    if (st->n_chunks_cache < 0) {
        s = store_prep(st, "SELECT count(*) FROM chunks", NULL);
        st->n_chunks_cache = 0;
        if (s && sqlite3_step(s) == SQLITE_ROW)
            st->n_chunks_cache = sqlite3_column_int64(s, 0);
        if (s)
            sqlite3_reset(s);
    }
    N = (double)st->n_chunks_cache;
    s = store_prep(st, "SELECT doc FROM chunks_vocab WHERE term=?1", NULL);
    if (s) {
        sqlite3_bind_text(s, 1, term, (int)n, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            df = sqlite3_column_double(s, 0);
        sqlite3_reset(s);
    }
    return log(1.0 + (N - df + 0.5) / (df + 0.5));
}

double index_idf(struct index_store *st, const char *term, size_t term_bytes)
{
    double v;
    store_lock(st);
    if (store_data_version(st) != st->data_version)
        st->n_chunks_cache = -1; /* another connection wrote; vectors catch up at the next search */
    v = store_idf(st, term, term_bytes);
    store_unlock(st);
    return v;
}

void store_term_stats(struct index_store *st, struct index_term_stats *out)
{
    out->idf = store_idf;
    out->ud = st;
}
