/* index/store_search.c: the read queries search.c builds on (part of the SQLite glue; see store.c):
 * kbox's BM25 (the FTS5 auxiliary function kbox_bm25, described below) and its candidates from FTS5
 * with collection/document filters, the filter of vector hits, stored
 * vectors of candidates and of one document, the text and provenance of hits, and the IDF of a
 * term from the FTS5 vocabulary (for the built-in embedder's queries and sentence evidence).
 *
 * Data flow: search.c -> store_bm25 / store_filter_chunks / store_get_vectors / store_doc_vectors
 * -> store_fill_hits into the caller's arena. IDF = log(1 + (N - df + 0.5) / (df + 0.5)) with N the
 * chunk count (cached in st->n_chunks_cache until a write) and df from chunks_vocab, of the term in
 * the index's form (a plural folded to its singular, or its English stem, as the store stems:
 * fts_tok_stem).
 * Invariants: every function here expects the store's lock held, except index_idf, which takes it.
 * Tests: tests/index/test_store.c (search), test_search_fusion.c, test_bm25.c (the BM25 maths). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "index/index_int.h"

/* ---- kbox's BM25: the FTS5 auxiliary function kbox_bm25 ------------------------------------------
 *
 * kbox_bm25(chunks_fts, k1, b, weights, heading_weight) scores the current row for the MATCH
 * expression with BM25F (Robertson, Zaragoza and Taylor 2004: per-field length normalisation, field
 * weights on term frequencies, one saturation):
 *   score = sum over phrases p of w_p x idf_p x tf_p (k1 + 1) / (tf_p + k1)
 *   tf_p  = tf_text / B_text + heading_weight x min(1, tf_heading) / B_heading
 *   B_f   = 1 - b + b dl_f / avgdl_f
 *   idf_p = ln(1 + (N - n_p + 0.5) / (n_p + 0.5))
 * tf_f: occurrences of phrase p in the row's field f (text; heading: the columns heading_path and
 * context read as one field, the document context being the path's root (index_chunk_context); a
 * heading path lists a section's ancestors, so a word repeated along it, "Shipping > Shipping zones",
 * names one topic and counts once); dl_f: the row's tokens
 * in f; avgdl_f: their mean over the table; N: rows; n_p: rows holding p. With an empty heading
 * this is plain BM25: tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)). A chunk's heading path (document
 * title and section headings) names its topic in a few words, so a query term there is stronger
 * evidence than one more occurrence in the body, and a long body must not dilute it
 * (heading_weight: index.bm25_heading_weight; absent = 1). The weights are a blob of little-endian
 * doubles, one per phrase in the expression's order (a shorter or absent blob leaves the rest at 1).
 * This IDF is the one store_idf and the reference BM25 use (never negative), unlike FTS5's built-in
 * bm25(), which also fixes k1 1.2 and b 0.75. N, avgdl_f and every n_p are computed once per query
 * (xQueryPhrase walks each phrase's doclist) and kept as the query's auxiliary data. */
#define RANK_COLS 3   /* text, heading_path, context: chunks_fts's columns in order */
#define RANK_FIELDS 2 /* text, heading (heading_path and context) */
#define RANK_FIELD(col) ((col) > 0)
struct rank_query {
    int n_phrase;
    double avgdl[RANK_FIELDS];
    double *idf;    /* n_phrase */
    double *weight; /* n_phrase */
    int *tf;        /* (n_phrase, RANK_FIELDS), scratch for the current row */
};

static void rank_query_free(void *p)
{
    struct rank_query *q = p;
    if (q) {
        free(q->idf);
        free(q->weight);
        free(q->tf);
        free(q);
    }
}

static int rank_count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *ud)
{
    (void)api;
    (void)fts;
    (*(int64_t *)ud)++;
    return SQLITE_OK;
}

static struct rank_query *rank_query_new(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_value *wv, int *src)
{
    struct rank_query *q = kb_xcalloc(1, sizeof(*q));
    sqlite3_int64 n_rows = 0, n_tokens = 0;
    const unsigned char *wb = wv ? sqlite3_value_blob(wv) : NULL;
    int wn = wv ? sqlite3_value_bytes(wv) / 8 : 0;
    q->n_phrase = api->xPhraseCount(fts);
    q->idf = kb_xcalloc((size_t)q->n_phrase + 1, sizeof(double));
    q->weight = kb_xcalloc((size_t)q->n_phrase + 1, sizeof(double));
    q->tf = kb_xcalloc(((size_t)q->n_phrase + 1) * RANK_FIELDS, sizeof(int));
    *src = api->xRowCount(fts, &n_rows);
    for (int c = 0; c < RANK_COLS && *src == SQLITE_OK; c++) {
        *src = api->xColumnTotalSize(fts, c, &n_tokens);
        q->avgdl[RANK_FIELD(c)] += n_rows > 0 ? (double)n_tokens / (double)n_rows : 0;
    }
    for (int f = 0; f < RANK_FIELDS; f++)
        if (q->avgdl[f] <= 0)
            q->avgdl[f] = 1;
    for (int p = 0; p < q->n_phrase && *src == SQLITE_OK; p++) {
        int64_t n_p = 0;
        *src = api->xQueryPhrase(fts, p, &n_p, rank_count_row);
        q->idf[p] = log(1.0 + ((double)n_rows - (double)n_p + 0.5) / ((double)n_p + 0.5));
        q->weight[p] = 1;
        if (wb && p < wn) {
            uint64_t bits = 0;
            double w;
            for (int k = 7; k >= 0; k--)
                bits = bits << 8 | wb[8 * p + k];
            memcpy(&w, &bits, sizeof(w));
            q->weight[p] = isfinite(w) && w >= 0 ? w : 1;
        }
    }
    if (*src != SQLITE_OK) {
        rank_query_free(q);
        q = NULL;
    }
    return q;
}

static void rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int n_val,
                    sqlite3_value **val)
{
    struct rank_query *q = api->xGetAuxdata(fts, 0);
    double k1 = n_val > 0 ? sqlite3_value_double(val[0]) : INDEX_BM25_K1;
    double b = n_val > 1 ? sqlite3_value_double(val[1]) : INDEX_BM25_B;
    double hw = n_val > 3 ? sqlite3_value_double(val[3]) : 1;
    double score = 0, inv_norm[RANK_FIELDS];
    int dl[RANK_FIELDS] = {0, 0};
    int src = SQLITE_OK, n_inst = 0;
    if (!q) {
        q = rank_query_new(api, fts, n_val > 2 ? val[2] : NULL, &src);
        if (q && (src = api->xSetAuxdata(fts, q, rank_query_free)) != SQLITE_OK)
            q = NULL; /* xSetAuxdata freed it */
    }
    if (q && src == SQLITE_OK)
        src = api->xInstCount(fts, &n_inst);
    for (int c = 0; c < RANK_COLS && q && src == SQLITE_OK; c++) {
        int n = 0;
        src = api->xColumnSize(fts, c, &n);
        dl[RANK_FIELD(c)] += n;
    }
    for (int f = 0; f < RANK_FIELDS && q && src == SQLITE_OK; f++) {
        double norm = 1 - b + b * (double)dl[f] / q->avgdl[f];
        inv_norm[f] = norm > 0 ? (f == 1 ? hw : 1) / norm : 0; /* 0: an empty field at b 1, no terms */
    }
    if (q && src == SQLITE_OK) {
        memset(q->tf, 0, (size_t)q->n_phrase * RANK_FIELDS * sizeof(int));
        for (int i = 0; i < n_inst && src == SQLITE_OK; i++) {
            int p, col, off;
            src = api->xInst(fts, i, &p, &col, &off);
            if (src == SQLITE_OK && p >= 0 && p < q->n_phrase && col >= 0 && col < RANK_COLS)
                q->tf[p * RANK_FIELDS + RANK_FIELD(col)]++;
        }
        for (int p = 0; p < q->n_phrase; p++) {
            double tf = 0;
            for (int f = 0; f < RANK_FIELDS; f++)
                if (q->tf[p * RANK_FIELDS + f] > 0) /* a heading counts a phrase once (see above) */
                    tf += (f == 1 ? 1 : q->tf[p * RANK_FIELDS + f]) * inv_norm[f];
            if (tf > 0)
                score += q->weight[p] * q->idf[p] * tf * (k1 + 1) / (tf + k1);
        }
    }
    if (!q || src != SQLITE_OK)
        sqlite3_result_error_code(ctx, src != SQLITE_OK ? src : SQLITE_NOMEM);
    else
        sqlite3_result_double(ctx, score);
}

int store_register_ranker(struct index_store *st, fts5_api *api, struct kb_error *err)
{
    int rc = api->xCreateFunction(api, "kbox_bm25", st, rank_fn, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(st, err, rc, "register kbox_bm25");
}

int store_bm25(struct index_store *st, const char *fts_expr, const struct store_rank *r, int64_t collection_id,
               int64_t document_id, int limit, struct store_cand *out, int *n_out, struct kb_error *err)
{
    const char *sql_all = "SELECT rowid, kbox_bm25(chunks_fts, ?4, ?5, ?6, ?7) AS s FROM chunks_fts"
                          " WHERE chunks_fts MATCH ?1 ORDER BY s DESC, rowid LIMIT ?2";
    const char *sql_doc = "SELECT f.rowid, kbox_bm25(chunks_fts, ?4, ?5, ?6, ?7) AS s FROM chunks_fts f"
                          " JOIN chunks c ON c.id=f.rowid"
                          " WHERE chunks_fts MATCH ?1 AND c.document_id=?3 ORDER BY s DESC, f.rowid LIMIT ?2";
    const char *sql_coll = "SELECT f.rowid, kbox_bm25(chunks_fts, ?4, ?5, ?6, ?7) AS s FROM chunks_fts f"
                           " JOIN chunks c ON c.id=f.rowid JOIN documents d ON d.id=c.document_id"
                           " WHERE chunks_fts MATCH ?1 AND d.collection_id=?3 ORDER BY s DESC, f.rowid LIMIT ?2";
    sqlite3_stmt *s = store_prep(st, document_id > 0 ? sql_doc : collection_id > 0 ? sql_coll : sql_all, err);
    unsigned char *wb = NULL;
    int n = 0, src = SQLITE_DONE, rc = 0;
    *n_out = 0;
    if (!s)
        return err ? err->code : KB_EIO;
    if (r->n_weight > 0) {
        wb = kb_xmalloc((size_t)r->n_weight * 8);
        for (int i = 0; i < r->n_weight; i++) {
            uint64_t bits;
            memcpy(&bits, &r->weight[i], sizeof(bits));
            for (int k = 0; k < 8; k++)
                wb[8 * i + k] = (unsigned char)(bits >> (8 * k));
        }
    }
    sqlite3_bind_text(s, 1, fts_expr, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit);
    if (document_id > 0 || collection_id > 0)
        sqlite3_bind_int64(s, 3, document_id > 0 ? document_id : collection_id);
    sqlite3_bind_double(s, 4, r->k1);
    sqlite3_bind_double(s, 5, r->b);
    sqlite3_bind_double(s, 7, r->heading_weight);
    if (wb)
        sqlite3_bind_blob(s, 6, wb, r->n_weight * 8, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 6);
    while (n < limit && (src = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&out[n], 0, sizeof(out[n]));
        out[n].chunk_id = sqlite3_column_int64(s, 0);
        out[n].bm25 = sqlite3_column_double(s, 1);
        out[n].bm25_rank = n + 1;
        n++;
    }
    if (n < limit && src != SQLITE_DONE)
        rc = store_fail(st, err, src, "full-text search");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(wb);
    *n_out = rc ? 0 : n;
    return rc;
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
                                  " c.page_map, c.context FROM chunks c JOIN documents d ON d.id=c.document_id WHERE c.id=?1", err);
    if (!s)
        return err ? err->code : KB_EIO;
    for (int i = 0; i < n; i++) {
        struct index_hit *h = &hits[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, h->chunk_id);
        if (sqlite3_step(s) != SQLITE_ROW) {
            h->doc_name = h->doc_title = h->doc_path = h->external_id = h->heading_path = h->text = "";
            h->page_map = h->context = "";
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
        h->context = store_col_str(s, 14, a);
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
        char t[INDEX_TOKEN_MAX_BYTES];
        if (n <= sizeof(t)) { /* the index's form of the term (a plural folded, fts_tok.c) */
            memcpy(t, term, n);
            n = fts_tok_stem(st, t, n);
            term = t;
        }
        sqlite3_bind_text(s, 1, term, (int)n, SQLITE_TRANSIENT);
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
