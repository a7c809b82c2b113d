/* index/search.c: hybrid retrieval: BM25 from FTS5 plus vector search from FAISS, fused by reciprocal
 * rank fusion or a weighted sum, with optional MMR diversity and collection/document filters.
 *
 * Data flow of one query (the store's mutex held throughout, except while the query is embedded:
 * see search_embed_unlocked):
 *   query text -> cut to INDEX_QUERY_MAX_BYTES, invalid UTF-8 replaced -> text_query_terms (text/: the
 *   distinct query-mode tokens, at most 64) -> English stop words dropped when other terms remain (or
 *   weighed index.bm25_stop_word_weight when that is above 0), the
 *   characters of CJK pairs added as unigrams (CJK function characters skipped), each
 *   quoted -> FTS5 expression `"t1" OR "t2" ...` (no user syntax ever reaches FTS5, so `"*():^-` are plain
 *   text), with one BM25 weight per phrase: 1, or bm25_cjk_unigram_weight for the added characters,
 *   or bm25_cjk_cross_pair_weight for a pair that straddles two words of the query's dictionary cut
 *   (text_dict_cut over the word list opts->segment_dict, read at the first search that names it and
 *   kept in the store), or INDEX_BM25_PART_WEIGHT for the letter and digit parts of a word mixing
 *   both ("fy2022" -> "2022", fts_put_parts), and, when the store's index holds the word list's words
 *   (index.cjk_index_words, fts_tok.c), the cut's words of 3+ characters at bm25_cjk_word_weight; each
 *   phrase is tokenized by the store's FTS5 tokenizer (fts_tok.c: English plurals folded to the
 *   singular, as in the index) -> kbox's BM25 over FTS5 (store_search.c: kbox_bm25 with k1, b) -> BM25
 *   candidates; the same text -> embedder (the built-in one weights terms by IDF from the
 *   FTS5 vocabulary) -> FAISS candidates (an IVF index visits VEC_IVF_NPROBE_ALONE lists for a
 *   vector-only query; exact scan of the document's vectors for a document filter;
 *   over-fetch and filter for a collection filter) -> union by chunk id; BM25-only candidates get
 *   their exact cosine from the stored vector so every hit carries both scores -> fusion -> near-tie
 *   rule -> sentence evidence (hybrid, opts.evidence: evid_rerank reorders the first 10-12 chunks by
 *   their best sentence's share of the query's IDF) -> optional MMR -> top_k -> provenance from
 *   SQLite into the caller's arena.
 * Fusion: RRF score = sum over lists of 1 / (rrf_k + rank). Weighted: w * (cos - min_cos) / (max_cos -
 * min_cos) + (1 - w) * bm25/max_bm25 over the candidates, with a query-adaptive
 * w = vector_weight x (0.015 + 0.985 x agree^3), agree = |BM25 top 10 & vector top 10| / 10
 * (fuse_vector_weight), times the embedder's trust for this query (fuse_trust: 1 for a model
 * embedder; for the built-in hashed one, index.lexical_cjk_trust for the query's CJK terms, whose
 * hashed n-grams repeat BM25's evidence). Measured on ../shared/eval with the built-in embedder
 * (docs/BENCHMARKS.md):
 * a fixed w either lets hashed-vector noise reorder sets where BM25 is near-perfect (xquad_zh, drcd,
 * cmrc2018, emanual) or gives too little where the vectors help (rgb_zh, dureader, covid_faq); how
 * much the two top-10 lists agree separates the two kinds of query better than BM25's score shape
 * (10th/1st BM25 score, also tried). After sorting, a near-tie rule (fuse_near_tie) moves the vectors'
 * own first chunk to the front when BM25 scores it within 1% x trust of BM25's best.
 * Invariants: candidate depth = max(4 * top_k, 50), capped at 1000; scratch is malloc'd per query and
 * freed before return (the evidence step uses stack arrays and a short-lived arena); hits live in the
 * caller's arena. Tests: tests/index/test_store.c (search), tests/index/test_bm25.c (BM25 weights and
 * the query cut), tests/index/test_search_fusion.c (fusion,
 * sentence evidence), tests/index/test_search_unlocked.c (a search and a commit proceed while another
 * search embeds its query), tests/cli/test_eval.c (hybrid ahead on two shared dev sets). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"
#include "text/text.h"

#define SEARCH_MAX_DEPTH 1000
#define SEARCH_EMBED_TRIES 3 /* embeddings outside the lock before embedding under it */
/* phrases of one FTS5 expression: the terms, the CJK pairs' unigrams, the mixed words' parts */
#define FTS_MAX_PHRASES (5 * TEXT_MAX_TERMS)

/* Appends one phrase "t" to the expression and its BM25 weight w to weight[*used]. */
static void fts_put_term(struct kb_buf *out, const char *t, size_t n, double w, double *weight, int *used)
{
    weight[*used] = w;
    if ((*used)++)
        kb_buf_puts(out, " OR ");
    kb_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '"')
            kb_buf_putc(out, '"');
        kb_buf_putc(out, t[i]);
    }
    kb_buf_putc(out, '"');
}

/* The character pairs of a query's CJK runs that straddle two words of its dictionary segmentation
 * and never sit inside one word ("城在" in 长城|在|哪里). A pair is the tokenizer's evidence for a
 * two-character word; one across a word boundary is evidence for no word, only for two words being
 * adjacent, so it weighs index.bm25_cjk_cross_pair_weight. */
#define SEG_MAX_PAIRS (2 * TEXT_MAX_TERMS)
#define SEG_MAX_WORDS 32
#define SEG_WORD_MIN_CHARS 3 /* as fts_tok.c's index words */
struct seg_pairs {
    char cross[SEG_MAX_PAIRS][8], in[SEG_MAX_PAIRS][8];
    int cross_len[SEG_MAX_PAIRS], in_len[SEG_MAX_PAIRS];
    int n_cross, n_in;
    /* the cut's known words of SEG_WORD_MIN_CHARS or more characters, distinct, when the store's
     * full-text index holds dictionary words (fts_tok.c): each is one more phrase of the query */
    char word[SEG_MAX_WORDS][TEXT_DICT_WORD_MAX_CHARS * 4 + 1];
    int n_word;
};

static bool seg_has(const char (*list)[8], const int *lens, int n, const char *t, size_t len)
{
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        found = (size_t)lens[i] == len && memcmp(list[i], t, len) == 0;
    return found;
}

static bool seg_is_cross(const struct seg_pairs *sp, const char *t, size_t n)
{
    return sp && seg_has(sp->cross, sp->cross_len, sp->n_cross, t, n) &&
           !seg_has(sp->in, sp->in_len, sp->n_in, t, n);
}

struct seg_ctx {
    const struct text_dict *d;
    struct seg_pairs *sp;
    bool words; /* collect sp->word */
};

/* Files the known words of SEG_WORD_MIN_CHARS or more characters of one cut run into sp->word. */
static void seg_words(struct seg_pairs *sp, const char *run, const int *ends, const bool *known, int n_words)
{
    int start = 0;
    for (int w = 0; w < n_words; start = ends[w++]) {
        int len = ends[w] - start, chars = 0;
        bool seen = false;
        for (int k = start; k < ends[w]; k++)
            chars += ((unsigned char)run[k] & 0xC0) != 0x80;
        if (!known[w] || chars < SEG_WORD_MIN_CHARS || chars > TEXT_DICT_WORD_MAX_CHARS || sp->n_word >= SEG_MAX_WORDS)
            continue;
        for (int j = 0; j < sp->n_word && !seen; j++)
            seen = strlen(sp->word[j]) == (size_t)len && memcmp(sp->word[j], run + start, (size_t)len) == 0;
        if (!seen) {
            memcpy(sp->word[sp->n_word], run + start, (size_t)len);
            sp->word[sp->n_word++][len] = '\0';
        }
    }
}

/* Cuts one CJK run and files its pairs as inside a word or across two. */
static void seg_run(void *ud, const char *run, size_t n)
{
    const struct seg_ctx *c = ud;
    const struct text_dict *d = c->d;
    struct seg_pairs *sp = c->sp;
    int ends[TEXT_DICT_RUN_MAX], w = 0;
    bool known[TEXT_DICT_RUN_MAX];
    int n_words = text_dict_cut(d, run, n, ends, known, TEXT_DICT_RUN_MAX);
    size_t a = 0;
    if (c->words)
        seg_words(sp, run, ends, known, n_words);
    while (a < n) {
        uint32_t cp;
        int la = kb_utf8_decode(run + a, n - a, &cp), lb;
        size_t b = a + (size_t)(la > 0 ? la : 1);
        if (b >= n || la <= 0 || la > 4)
            break;
        lb = kb_utf8_decode(run + b, n - b, &cp);
        if (lb <= 0 || lb > 4)
            break;
        while (w < n_words && (size_t)ends[w] <= a)
            w++;
        if (w >= n_words)
            break; /* past the characters cut */
        {
            /* a word ends between the two characters, and the list knows the words on both sides
             * (a character it lacks, e.g. a Traditional one in a Simplified list, says nothing) */
            bool cross = (size_t)ends[w] == b && known[w] && w + 1 < n_words && known[w + 1];
            size_t len = (size_t)(la + lb);
            if (cross && sp->n_cross < SEG_MAX_PAIRS) {
                memcpy(sp->cross[sp->n_cross], run + a, len);
                sp->cross_len[sp->n_cross++] = (int)len;
            } else if (!cross && sp->n_in < SEG_MAX_PAIRS) {
                memcpy(sp->in[sp->n_in], run + a, len);
                sp->in_len[sp->n_in++] = (int)len;
            }
        }
        a = b;
    }
}

/* Fills *sp from every CJK run of text[0..n), cut after the tokenizer's Traditional -> Simplified
 * folding (text_fold_han), so the pairs compare with the query's terms and a zh-Hant query is cut by
 * the (Simplified) word list. */
static void seg_query(const struct text_dict *d, const char *text, size_t n, bool words, struct seg_pairs *sp)
{
    struct seg_ctx c = {d, sp, words};
    char *folded = kb_xmalloc(n + 1);
    memcpy(folded, text, n);
    memset(sp, 0, sizeof(*sp));
    text_cjk_runs(folded, text_fold_han_inplace(folded, n), seg_run, &c);
    free(folded);
}

/* The store's word list for path, read at the first search that names it (lock held). A file that
 * cannot be read is logged once; the search then goes on without segmentation. */
static const struct text_dict *search_dict(struct index_store *st, const char *path)
{
    if (!path || !path[0])
        return NULL;
    if (strcmp(st->tok_dict_path, path) == 0)
        return fts_tok_dict(st); /* the full-text index's own list: read once for both */
    if (strcmp(st->dict_path, path) != 0) {
        struct kb_error err = {0};
        text_dict_free(st->dict);
        st->dict = NULL;
        kb_strlcpy(st->dict_path, path, sizeof(st->dict_path));
        if (text_dict_open(&st->dict, path, &err) != 0)
            kb_log(KB_LOG_WARN, "search: no CJK query segmentation: %s", err.msg);
    }
    return st->dict;
}

/* The letter and digit parts of a query word that mixes both ("fy2022" -> "fy", "2022"; "covid19";
 * "10k"), each added once as its own phrase of weight INDEX_BM25_PART_WEIGHT unless the query already
 * has it. Documents often write the parts apart ("fiscal 2022", "10-K", "COVID-19"), which the index
 * holds as separate tokens, while the whole word only matches where it is written the same way; a
 * part is weaker evidence than the word the user wrote, hence the lower weight. Parts of one
 * character ("q3" -> "q", "3") say too little and are skipped. ASCII only (letters and digits are
 * one script's); the index is unchanged, so no re-index. */
#define FTS_PART_MIN 2
#define FTS_MAX_PARTS (2 * TEXT_MAX_TERMS)
struct fts_parts {
    char part[FTS_MAX_PARTS][TEXT_TOKEN_MAX_BYTES + 1];
    int n;
};

static bool fts_part_seen(const struct text_terms *q, const struct fts_parts *p, const char *t, size_t len)
{
    bool seen = false;
    for (int j = 0; j < q->n && !seen; j++)
        seen = (size_t)q->len[j] == len && memcmp(q->term[j], t, len) == 0;
    for (int j = 0; j < p->n && !seen; j++)
        seen = strlen(p->part[j]) == len && memcmp(p->part[j], t, len) == 0;
    return seen;
}

static void fts_put_parts(const struct text_terms *q, const char *t, size_t n, struct fts_parts *p,
                          struct kb_buf *out, double *weight, int *used)
{
    size_t start = 0;
    bool has_digit = false, has_alpha = false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] >= 0x80)
            return;
        has_digit |= t[i] >= '0' && t[i] <= '9';
        has_alpha |= !(t[i] >= '0' && t[i] <= '9');
    }
    if (!has_digit || !has_alpha)
        return;
    for (size_t i = 1; i <= n; i++) {
        bool digit_prev = t[i - 1] >= '0' && t[i - 1] <= '9';
        if (i < n && (t[i] >= '0' && t[i] <= '9') == digit_prev)
            continue;
        size_t len = i - start;
        if (len >= FTS_PART_MIN && *used < FTS_MAX_PHRASES && p->n < FTS_MAX_PARTS &&
            !fts_part_seen(q, p, t + start, len)) {
            memcpy(p->part[p->n], t + start, len);
            p->part[p->n++][len] = '\0';
            fts_put_term(out, t + start, len, INDEX_BM25_PART_WEIGHT, weight, used);
        }
        start = i;
    }
}

/* Builds the FTS5 expression; returns false when the query has no terms. The query-mode terms of a
 * CJK run are its character pairs; each character of a pair is added once as a unigram too (the index
 * holds both), except CJK function characters (text_is_cjk_stop_char), so a question that words a
 * name differently from the text ("长城" vs "长城墙") still shares its characters' evidence. */
static bool build_fts_expr(const struct text_terms *q, const struct seg_pairs *seg, double uni_weight,
                           double cross_weight, double word_weight, double stop_weight, struct kb_buf *out,
                           double *weight, int *n_weight)
{
    int used = 0;
    char uni[2 * TEXT_MAX_TERMS][4];
    int uni_len[2 * TEXT_MAX_TERMS], n_uni = 0;
    struct fts_parts parts;
    parts.n = 0;
    for (int i = 0; i < q->n; i++) {
        bool stop = q->n_content > 0 && q->stop[i];
        if (stop && stop_weight <= 0)
            continue;
        double w = stop ? stop_weight
                        : q->cjk[i] && seg_is_cross(seg, q->term[i], (size_t)q->len[i]) ? cross_weight : 1.0;
        fts_put_term(out, q->term[i], strlen(q->term[i]), w, weight, &used);
    }
    for (int i = 0; i < q->n; i++) {
        const char *t = q->term[i];
        size_t n = strlen(t);
        uint32_t cp;
        int la = q->cjk[i] ? kb_utf8_decode(t, n, &cp) : -1;
        if (la <= 0 || (size_t)la >= n)
            continue; /* not a CJK pair */
        int offs[2] = {0, la}, lens[2] = {la, (int)n - la};
        for (int k = 0; k < 2; k++) {
            const char *c = t + offs[k];
            bool seen = text_is_cjk_stop_char(c, (size_t)lens[k]) || lens[k] > 4;
            for (int j = 0; j < n_uni && !seen; j++)
                seen = uni_len[j] == lens[k] && memcmp(uni[j], c, (size_t)lens[k]) == 0;
            if (seen || n_uni >= 2 * TEXT_MAX_TERMS)
                continue;
            memcpy(uni[n_uni], c, (size_t)lens[k]);
            uni_len[n_uni++] = lens[k];
            fts_put_term(out, c, (size_t)lens[k], uni_weight, weight, &used);
        }
    }
    for (int i = 0; i < q->n; i++)
        if (!q->cjk[i] && !(q->n_content > 0 && q->stop[i]))
            fts_put_parts(q, q->term[i], (size_t)q->len[i], &parts, out, weight, &used);
    for (int i = 0; seg && word_weight > 0 && i < seg->n_word && used < FTS_MAX_PHRASES; i++)
        fts_put_term(out, seg->word[i], strlen(seg->word[i]), word_weight, weight, &used);
    *n_weight = used;
    return used > 0;
}

void index_search_opts_from_config(struct index_search_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->top_k = (int)cfg->index_top_k;
    o->mode = INDEX_MODE_HYBRID;
    o->fusion = strcmp(cfg->index_fusion, "weighted") == 0 ? INDEX_FUSION_WEIGHTED : INDEX_FUSION_RRF;
    o->rrf_k = (int)cfg->index_rrf_k;
    o->vector_weight = cfg->index_vector_weight;
    o->lexical_cjk_trust = cfg->index_lexical_cjk_trust;
    o->mmr = cfg->index_mmr;
    o->mmr_lambda = cfg->index_mmr_lambda;
    o->evidence = cfg->index_sentence_evidence;
    o->bm25_k1 = cfg->index_bm25_k1;
    o->bm25_b = cfg->index_bm25_b;
    o->bm25_heading_weight = cfg->index_bm25_heading_weight;
    o->bm25_cjk_unigram_weight = cfg->index_bm25_cjk_unigram_weight;
    o->bm25_cjk_cross_pair_weight = cfg->index_bm25_cjk_cross_pair_weight;
    o->bm25_cjk_word_weight = cfg->index_bm25_cjk_word_weight;
    o->bm25_stop_word_weight = cfg->index_bm25_stop_word_weight;
    o->segment_dict = cfg->index_segment_dict;
}

static float dot(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static int cand_cmp_score(const void *a, const void *b)
{
    const struct store_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

/* Vector candidates, best first, honouring the filters. */
static int vector_search_filtered(struct index_store *st, struct vec_index *v, const float *q,
                                  const struct index_search_opts *o, int depth, int64_t *ids, float *scores,
                                  int *n_out, struct kb_error *err);

static int vector_candidates(struct index_store *st, const float *q, const struct index_search_opts *o, int depth,
                             struct kb_arena *a, int64_t *ids, float *scores, int *n_out, struct kb_error *err)
{
    const struct index_embedder *emb = store_embedder(st);
    struct vec_index *v = store_vectors(st);
    int rc = 0;
    *n_out = 0;
    if (o->document_id > 0) {
        int64_t *dids;
        float *dvec;
        int dn = 0;
        struct store_cand *tmp;
        rc = store_doc_vectors(st, o->document_id, a, &dids, &dvec, &dn, err);
        if (rc || dn == 0)
            return rc;
        tmp = kb_xmalloc((size_t)dn * sizeof(*tmp));
        for (int i = 0; i < dn; i++) {
            tmp[i].chunk_id = dids[i];
            tmp[i].score = dot(q, dvec + (size_t)i * (size_t)emb->dim, emb->dim);
        }
        qsort(tmp, (size_t)dn, sizeof(*tmp), cand_cmp_score);
        for (int i = 0; i < dn && i < depth; i++) {
            ids[i] = tmp[i].chunk_id;
            scores[i] = (float)tmp[i].score;
            (*n_out)++;
        }
        free(tmp);
        return 0;
    }
    if (!v)
        return 0;
    if (o->mode == INDEX_MODE_VECTOR)
        vec_set_nprobe(v, VEC_IVF_NPROBE_ALONE);
    rc = vector_search_filtered(st, v, q, o, depth, ids, scores, n_out, err);
    if (o->mode == INDEX_MODE_VECTOR)
        vec_set_nprobe(v, VEC_IVF_NPROBE);
    return rc;
}

/* The vector index's depth best, restricted to o's collection (over-fetch, filter, widen until
 * enough or everything was seen). */
static int vector_search_filtered(struct index_store *st, struct vec_index *v, const float *q,
                                  const struct index_search_opts *o, int depth, int64_t *ids, float *scores,
                                  int *n_out, struct kb_error *err)
{
    int rc = 0;
    if (o->collection_id <= 0)
        return vec_search(v, q, depth, ids, scores, n_out, err);
    for (int64_t k = (int64_t)depth * 4;; k *= 4) {
        int kk = (int)KB_MIN(k, vec_count(v));
        int64_t *tid = kb_xmalloc((size_t)(kk + 1) * sizeof(int64_t));
        float *tsc = kb_xmalloc((size_t)(kk + 1) * sizeof(float));
        int n = 0;
        rc = vec_search(v, q, kk, tid, tsc, &n, err);
        if (rc == 0)
            rc = store_filter_chunks(st, o->collection_id, 0, tid, tsc, &n, err);
        if (rc == 0) {
            *n_out = KB_MIN(n, depth);
            memcpy(ids, tid, (size_t)*n_out * sizeof(int64_t));
            memcpy(scores, tsc, (size_t)*n_out * sizeof(float));
        }
        free(tid);
        free(tsc);
        if (rc || *n_out >= depth || kk >= vec_count(v))
            break;
    }
    return rc;
}

static int find_cand(const struct store_cand *c, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (c[i].chunk_id == id)
            return i;
    return -1;
}

/* The weight of the vector score for this query: o->vector_weight x (FUSE_FLOOR + (1 - FUSE_FLOOR) x
 * agree^3), where agree is the share of BM25's top FUSE_AGREE_K chunks that are also in the vectors'
 * top FUSE_AGREE_K. When both methods find the same neighbourhood, the vectors' finer ordering inside
 * it is worth having; when they disagree, the hashed vectors are usually chasing common n-grams, and
 * BM25 keeps the ranking, with the vectors left to break near-ties (the floor). */
#define FUSE_AGREE_K 10
#define FUSE_FLOOR 0.015
static double fuse_vector_weight(const struct store_cand *c, int n, const struct index_search_opts *o)
{
    int both = 0;
    double agree;
    for (int i = 0; i < n; i++)
        both += c[i].bm25_rank > 0 && c[i].bm25_rank <= FUSE_AGREE_K && c[i].vector_rank > 0 &&
                c[i].vector_rank <= FUSE_AGREE_K;
    agree = (double)both / FUSE_AGREE_K;
    return o->vector_weight * (FUSE_FLOOR + (1 - FUSE_FLOOR) * agree * agree * agree);
}

/* How far this query may trust the embedder's vectors, as a share of its weight: 1 for a model
 * embedder; for a lexical one (the built-in hashed terms), lexical_cjk_trust for the CJK share of the
 * query's content terms and 1 for the rest. A CJK query's hashed features are its characters, pairs
 * and triples, so its vector score restates BM25's characters and pairs (plus hash collisions);
 * a word query's also carry word pairs and the character 3-grams of each word, which BM25 lacks
 * (inflections, typos), so they keep their weight. */
static double fuse_trust(const struct index_embedder *emb, const struct text_terms *q, const struct index_search_opts *o)
{
    double cjk_trust = o->lexical_cjk_trust > 0 ? o->lexical_cjk_trust : INDEX_LEXICAL_CJK_TRUST;
    int n = q->n_content > 0 ? q->n_content : q->n;
    double cjk_share = n > 0 ? (double)q->n_cjk / n : 0;
    if (!emb || !emb->lexical)
        return 1;
    return 1 - KB_MIN(1.0, cjk_share) * (1 - KB_MIN(1.0, cjk_trust));
}

static void fuse(struct store_cand *c, int n, const struct index_search_opts *o, double trust)
{
    double max_b = 0, max_v = -1, min_v = 1, w = 0;
    for (int i = 0; i < n; i++) {
        max_b = KB_MAX(max_b, c[i].bm25);
        max_v = KB_MAX(max_v, c[i].vector);
        min_v = KB_MIN(min_v, c[i].vector);
    }
    if (o->mode == INDEX_MODE_HYBRID && o->fusion == INDEX_FUSION_WEIGHTED)
        w = trust * fuse_vector_weight(c, n, o);
    for (int i = 0; i < n; i++) {
        struct store_cand *x = &c[i];
        if (o->mode == INDEX_MODE_BM25) {
            x->score = x->bm25;
        } else if (o->mode == INDEX_MODE_VECTOR) {
            x->score = x->vector;
        } else if (o->fusion == INDEX_FUSION_WEIGHTED) {
            /* BM25 scaled by the best; cosine min-max scaled over the candidates, because hashed-feature
             * cosines sit in a narrow band and only their spread carries information */
            double b = max_b > 0 ? x->bm25 / max_b : 0;
            double v = max_v > min_v ? (x->vector - min_v) / (max_v - min_v) : 0;
            x->score = w * v + (1 - w) * b;
        } else {
            double k = o->rrf_k > 0 ? o->rrf_k : 60;
            x->score = (x->bm25_rank ? 1.0 / (k + x->bm25_rank) : 0) + (x->vector_rank ? 1.0 / (k + x->vector_rank) : 0);
        }
    }
}

/* Near-tie rule, applied to the sorted candidates of a weighted hybrid search: the vectors' own first
 * choice goes to the front when BM25 scores it within FUSE_TIE_EPS of BM25's best (bm25 / max_bm25 >=
 * 1 - FUSE_TIE_EPS), whatever the agreement weight. Two chunks that BM25 can barely tell apart are
 * where the vectors' ordering is worth most, and only their top pick is trusted (a continuous bonus
 * for the vector score among near-ties reordered the CJK sets by hashed-n-gram noise). It takes the
 * front chunk's score so scores stay non-increasing; vector_weight 0 (BM25 order) turns it off. Replayed on ../shared/eval dumps
 * (bench_index_eval): 1% flips cmrc2018 questions up and changes nothing else; 2-5% starts losing
 * xquad_zh and pubmedqa questions. The margin is scaled by the query's trust in the embedder
 * (fuse_trust), like the vector weight: a lexical embedder's first CJK pick breaks only closer ties
 * (0.4% at index.lexical_cjk_trust 0.4), as its hashed n-grams are mostly BM25's own evidence. */
#define FUSE_TIE_EPS 0.01
static void fuse_near_tie(struct store_cand *c, int n, double trust)
{
    double max_b = 0;
    int t = -1;
    for (int i = 0; i < n; i++) {
        max_b = KB_MAX(max_b, c[i].bm25);
        if (c[i].vector_rank == 1)
            t = i;
    }
    if (t > 0 && max_b > 0 && c[t].bm25 / max_b >= 1 - FUSE_TIE_EPS * trust) {
        struct store_cand x = c[t];
        memmove(c + 1, c, (size_t)t * sizeof(*c));
        x.score = c[1].score;
        c[0] = x;
    }
}

/* Sentence evidence, the last step of a hybrid search. BM25 and the hashed vectors both score a chunk
 * as a bag of terms; the answer to a question usually sits in one sentence that repeats most of the
 * question's rare terms, which neither sees. So the first `depth` fused candidates are reordered by
 * key = beta x best - ln(1 + fused rank), where best = max over the chunk's sentences (text/'s simple
 * rule, text_sentence_end_simple, which the settings below were tuned on) and its heading (document
 * context and heading path, read as one) of
 * sum idf(query terms in the sentence) / sum idf(query terms), in [0, 1].
 * Two settings, by the query's script: CJK query terms are overlapping character pairs, so one shared
 * phrase fills a sentence with matches and the evidence is weaker (beta 3 over 10 candidates); word
 * queries take beta 5 over 12. Chosen on ../shared/eval (docs/BENCHMARKS.md): with a single setting,
 * reaching past 11 candidates lost a question from drcd's R@10 and stopping at 10 left emanual_en's
 * R@10 below BM25's; beta above 3 lost cmrc2018 questions. Scores stay non-increasing: score = top
 * score x exp(key - best key). Query terms are the FTS5 query's (stop words weigh 0 when others
 * remain), at most TEXT_MAX_TERMS, so a 64-bit mask records which ones a sentence holds. */
#define EVID_DEPTH_MAX 12
static const struct evid_params {
    int depth;
    double beta;
} evid_latin = {12, 5.0}, evid_cjk = {10, 3.0};

struct evid_state {
    const struct text_terms *q;
    uint64_t mask;
};

static int evid_tok(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct evid_state *e = ud;
    (void)start;
    (void)end;
    (void)cjk;
    for (int i = 0; i < e->q->n; i++)
        if (e->q->len[i] == n && memcmp(e->q->term[i], tok, (size_t)n) == 0)
            e->mask |= (uint64_t)1 << i;
    return 0;
}

static double evid_mask_weight(uint64_t mask, const double *idf, int n)
{
    double w = 0;
    for (int i = 0; i < n; i++)
        if (mask >> i & 1)
            w += idf[i];
    return w;
}

static double evid_best(const struct text_terms *q, const double *idf, double total, const char *context,
                        const char *heading, const char *text)
{
    struct evid_state e = {q, 0};
    double best;
    size_t n = strlen(text);
    index_tokenize(context, strlen(context), true, evid_tok, &e); /* the heading's root */
    index_tokenize(heading, strlen(heading), true, evid_tok, &e);
    best = evid_mask_weight(e.mask, idf, q->n);
    for (size_t off = 0; off < n;) {
        size_t end = text_sentence_end_simple(text, n, off);
        e.mask = 0;
        index_tokenize(text + off, end - off, true, evid_tok, &e);
        best = KB_MAX(best, evid_mask_weight(e.mask, idf, q->n));
        off = end;
    }
    return total > 0 ? best / total : 0;
}

struct evid_key {
    double key;
    int rank;
};

static int evid_key_cmp(const void *a, const void *b)
{
    const struct evid_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? 1 : -1;
    return x->rank - y->rank;
}

static int evid_rerank(struct index_store *st, const struct text_terms *q, struct store_cand *c, int n,
                       struct kb_error *err)
{
    struct index_term_stats stats;
    struct index_hit h[EVID_DEPTH_MAX];
    struct evid_key k[EVID_DEPTH_MAX];
    struct store_cand tmp[EVID_DEPTH_MAX];
    struct kb_arena a;
    double idf[TEXT_MAX_TERMS], total = 0, top;
    int rc;
    const struct evid_params *p = 2 * q->n_cjk > q->n ? &evid_cjk : &evid_latin;
    n = KB_MIN(n, p->depth);
    if (n < 2)
        return 0;
    store_term_stats(st, &stats);
    for (int i = 0; i < q->n; i++) {
        idf[i] = q->n_content > 0 && q->stop[i] ? 0 : stats.idf(stats.ud, q->term[i], (size_t)q->len[i]);
        total += idf[i];
    }
    if (total <= 0)
        return 0;
    memset(h, 0, sizeof(h));
    for (int i = 0; i < n; i++)
        h[i].chunk_id = c[i].chunk_id;
    kb_arena_init(&a, 64 * 1024, 0);
    rc = store_fill_hits(st, h, n, &a, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        k[i].key = p->beta * evid_best(q, idf, total, h[i].context, h[i].heading_path, h[i].text) - log(1.0 + i);
        k[i].rank = i;
    }
    kb_arena_release(&a);
    if (rc)
        return rc;
    qsort(k, (size_t)n, sizeof(*k), evid_key_cmp);
    top = c[0].score;
    memcpy(tmp, c, (size_t)n * sizeof(*c));
    for (int i = 0; i < n; i++) {
        c[i] = tmp[k[i].rank];
        c[i].score = top * exp(k[i].key - k[0].key);
    }
    return 0;
}

/* Greedy maximal marginal relevance over the sorted candidates; reorders the first top_k. */
static int mmr_rerank(struct index_store *st, struct store_cand *c, int n, int top_k, double lambda,
                      struct kb_error *err)
{
    const struct index_embedder *emb = store_embedder(st);
    float *vecs;
    bool *found, *taken;
    int64_t *ids;
    double max_s = c[0].score > 0 ? c[0].score : 1;
    struct store_cand *out;
    int rc, n_sel = 0;
    if (!emb || n <= 1)
        return 0;
    vecs = kb_xmalloc((size_t)n * (size_t)emb->dim * sizeof(float));
    found = kb_xcalloc((size_t)n, 1);
    taken = kb_xcalloc((size_t)n, 1);
    ids = kb_xmalloc((size_t)n * sizeof(int64_t));
    out = kb_xmalloc((size_t)n * sizeof(*out));
    for (int i = 0; i < n; i++)
        ids[i] = c[i].chunk_id;
    rc = store_get_vectors(st, ids, n, vecs, found, err);
    while (rc == 0 && n_sel < KB_MIN(top_k, n)) {
        int best = -1;
        double best_v = -1e300;
        for (int i = 0; i < n; i++) {
            double sim = 0, val;
            if (taken[i])
                continue;
            for (int j = 0; j < n; j++)
                if (taken[j] && found[i] && found[j])
                    sim = KB_MAX(sim, (double)dot(vecs + (size_t)i * (size_t)emb->dim,
                                                  vecs + (size_t)j * (size_t)emb->dim, emb->dim));
            val = lambda * (c[i].score / max_s) - (1 - lambda) * sim;
            if (val > best_v) {
                best_v = val;
                best = i;
            }
        }
        taken[best] = true;
        out[n_sel++] = c[best];
    }
    if (rc == 0) {
        int w = n_sel;
        for (int i = 0; i < n; i++)
            if (!taken[i])
                out[w++] = c[i];
        memcpy(c, out, (size_t)n * sizeof(*c));
    }
    free(vecs);
    free(found);
    free(taken);
    free(ids);
    free(out);
    return rc;
}

/* The query text every step sees: cut to INDEX_QUERY_MAX_BYTES at a character boundary, invalid
 * UTF-8 replaced, NUL-terminated. out is initialised here; the caller releases it. */
static int search_query_text(const char *query_in, struct kb_buf *out, struct kb_error *err)
{
    size_t qn = strlen(query_in);
    kb_buf_init(out, 4 * INDEX_QUERY_MAX_BYTES);
    if (qn > INDEX_QUERY_MAX_BYTES) {
        qn = INDEX_QUERY_MAX_BYTES;
        while (qn > 0 && ((unsigned char)query_in[qn] & 0xC0) == 0x80)
            qn--;
    }
    if (kb_utf8_sanitize(out, query_in, qn) != 0 || kb_buf_puts(out, "") != 0)
        return kb_error_set(err, KB_ENOMEM, "no memory for the query");
    return 0;
}

/* The search itself, lock held. qv_pre: the query embedded outside the lock with store_embedder(st)
 * (index_search checked it is still the one), or NULL to embed here. */
static int search_locked(struct index_store *st, const char *query_in, const float *qv_pre,
                         const struct index_search_opts *o, struct kb_arena *a, struct index_hit **hits, int *n_hits,
                         struct kb_error *err)
{
    const struct index_embedder *emb = store_embedder(st);
    struct kb_buf query, expr;
    struct text_terms q;
    struct store_cand *cand = NULL;
    int64_t *vids = NULL;
    float *vsc = NULL, *qv = NULL;
    int depth, n_cand = 0, n_b = 0, n_v = 0, rc = 0;
    bool has_terms;
    double weight[FTS_MAX_PHRASES], uni_weight = INDEX_BM25_CJK_UNIGRAM_WEIGHT;
    double cross_weight = INDEX_BM25_CJK_CROSS_PAIR_WEIGHT, word_weight = INDEX_BM25_CJK_WORD_WEIGHT, trust;
    double stop_weight = INDEX_BM25_STOP_WORD_WEIGHT;
    const struct text_dict *dict;
    struct seg_pairs seg;
    struct store_rank rank = {INDEX_BM25_K1, INDEX_BM25_B, INDEX_BM25_HEADING_WEIGHT, NULL, 0};

    kb_buf_init(&expr, 64 * 1024);
    if ((rc = search_query_text(query_in, &query, err)) != 0)
        goto out_free;
    text_query_terms(query.data ? query.data : "", query.len, &q);
    if (o->bm25_k1 > 0) {
        rank.k1 = o->bm25_k1;
        rank.b = o->bm25_b;
        rank.heading_weight = o->bm25_heading_weight;
        uni_weight = o->bm25_cjk_unigram_weight;
        cross_weight = o->bm25_cjk_cross_pair_weight;
        word_weight = o->bm25_cjk_word_weight;
        stop_weight = o->bm25_stop_word_weight;
    }
    dict = q.n_cjk > 0 ? search_dict(st, o->segment_dict) : NULL;
    if (dict)
        seg_query(dict, query.data, query.len, dict == st->tok_dict, &seg);
    has_terms = build_fts_expr(&q, dict ? &seg : NULL, uni_weight, cross_weight, word_weight, stop_weight, &expr,
                               weight, &rank.n_weight);
    rank.weight = weight;
    if (!has_terms)
        goto out_free; /* nothing searchable: no hits */
    depth = KB_MIN(SEARCH_MAX_DEPTH, KB_MAX(4 * o->top_k, 50));
    cand = kb_xmalloc((size_t)(2 * depth) * sizeof(*cand));

    if (o->mode != INDEX_MODE_VECTOR) {
        rc = store_bm25(st, expr.data, &rank, o->collection_id, o->document_id, depth, cand, &n_b, err);
        if (rc)
            goto out_free;
        n_cand = n_b;
    }
    if (o->mode != INDEX_MODE_BM25 && emb) {
        struct index_term_stats stats;
        rc = vcache_sync(st, err);
        if (rc)
            goto out_free;
        qv = kb_xmalloc((size_t)emb->dim * sizeof(float));
        store_term_stats(st, &stats);
        if (qv_pre)
            memcpy(qv, qv_pre, (size_t)emb->dim * sizeof(float));
        else
            rc = emb->embed_query ? emb->embed_query(emb->ud, query.data, &stats, qv, err)
                                  : emb->embed(emb->ud, (const char *const *)&query.data, 1, qv, err);
        if (rc)
            goto out_free;
        vids = kb_xmalloc((size_t)depth * sizeof(int64_t));
        vsc = kb_xmalloc((size_t)depth * sizeof(float));
        rc = vector_candidates(st, qv, o, depth, a, vids, vsc, &n_v, err);
        if (rc)
            goto out_free;
        for (int i = 0; i < n_v; i++) {
            int j = find_cand(cand, n_b, vids[i]);
            if (j < 0) {
                j = n_cand++;
                memset(&cand[j], 0, sizeof(cand[j]));
                cand[j].chunk_id = vids[i];
            }
            cand[j].vector = vsc[i];
            cand[j].vector_rank = i + 1;
        }
        /* exact cosine for BM25 candidates the vector list missed */
        if (n_b > 0) {
            float *bv = kb_xmalloc((size_t)n_b * (size_t)emb->dim * sizeof(float));
            bool *found = kb_xmalloc((size_t)n_b);
            int64_t *bids = kb_xmalloc((size_t)n_b * sizeof(int64_t));
            for (int i = 0; i < n_b; i++)
                bids[i] = cand[i].chunk_id;
            rc = store_get_vectors(st, bids, n_b, bv, found, err);
            for (int i = 0; rc == 0 && i < n_b; i++)
                if (cand[i].vector_rank == 0 && found[i])
                    cand[i].vector = dot(qv, bv + (size_t)i * (size_t)emb->dim, emb->dim);
            free(bv);
            free(found);
            free(bids);
            if (rc)
                goto out_free;
        }
    } else if (o->mode == INDEX_MODE_VECTOR) {
        rc = kb_error_set(err, KB_EINVAL, "vector search needs an embedder");
        goto out_free;
    }
    if (n_cand == 0)
        goto out_free;
    trust = fuse_trust(emb, &q, o);
    fuse(cand, n_cand, o, trust);
    qsort(cand, (size_t)n_cand, sizeof(*cand), cand_cmp_score);
    if (o->mode == INDEX_MODE_HYBRID && o->fusion == INDEX_FUSION_WEIGHTED && o->vector_weight > 0)
        fuse_near_tie(cand, n_cand, trust);
    if (o->mode == INDEX_MODE_HYBRID && o->evidence && (rc = evid_rerank(st, &q, cand, n_cand, err)) != 0)
        goto out_free;
    if (o->mmr && (rc = mmr_rerank(st, cand, KB_MIN(n_cand, depth), o->top_k, o->mmr_lambda, err)) != 0)
        goto out_free;
    {
        int n = KB_MIN(n_cand, o->top_k);
        struct index_hit *h = kb_arena_alloc(a, (size_t)n * sizeof(*h));
        if (!h) {
            rc = kb_error_set(err, KB_ENOMEM, "search results exceed the memory cap");
            goto out_free;
        }
        memset(h, 0, (size_t)n * sizeof(*h));
        for (int i = 0; i < n; i++) {
            h[i].chunk_id = cand[i].chunk_id;
            h[i].bm25 = cand[i].bm25;
            h[i].vector = cand[i].vector;
            h[i].score = cand[i].score;
            h[i].bm25_rank = cand[i].bm25_rank;
            h[i].vector_rank = cand[i].vector_rank;
        }
        rc = store_fill_hits(st, h, n, a, err);
        if (rc == 0) {
            *hits = h;
            *n_hits = n;
        }
    }
out_free:
    free(cand);
    free(vids);
    free(vsc);
    free(qv);
    kb_buf_release(&query);
    kb_buf_release(&expr);
    return rc;
}

/* Embeds the query OUTSIDE the store's lock, so a slow embedder (a GGUF model) neither serialises
 * the searches' SQLite and FAISS work nor holds up commits. Which embedder's vectors a search uses
 * is decided under the lock: the serving embedder is read under it, the query embedded outside it,
 * and the embedder re-checked under it; a re-embedding's switch in between makes it embed again, at
 * most SEARCH_EMBED_TRIES times, then *qv is NULL and search_locked embeds under the lock as before.
 * Returns with the lock held, *qv (caller frees) the query vector of store_embedder(st) or NULL
 * (BM25 only, no embedder, empty query, or an embedder with embed_query: the built-in one reads
 * the store's IDF for every term and is fast, so leaving the lock would only add a lock round
 * trip per term and let the counts move between terms; it stays under the lock, as before). */
static int search_embed_unlocked(struct index_store *st, const char *query_in, const struct index_search_opts *o,
                                 float **qv, struct kb_error *err)
{
    const struct index_embedder *qv_emb = NULL;
    struct kb_buf query;
    int rc = search_query_text(query_in, &query, err);
    *qv = NULL;
    store_lock(st);
    for (int tries = 0; rc == 0; tries++) {
        const struct index_embedder *emb = store_embedder(st);
        if (*qv && emb == qv_emb)
            break; /* the vector fits the vectors this search will use */
        free(*qv);
        *qv = NULL;
        if (o->mode == INDEX_MODE_BM25 || !emb || emb->embed_query || query.len == 0 || tries == SEARCH_EMBED_TRIES)
            break; /* embed_query (the built-in embedder) reads IDF from the store per term: under the lock */
        if ((rc = vcache_sync(st, err)) != 0)
            break;
        store_unlock(st);
        *qv = kb_xmalloc((size_t)emb->dim * sizeof(float));
        qv_emb = emb;
        rc = emb->embed(emb->ud, (const char *const *)&query.data, 1, *qv, err);
        store_lock(st);
    }
    if (rc) {
        free(*qv);
        *qv = NULL;
    }
    kb_buf_release(&query);
    return rc;
}

int index_search(struct index_store *st, const char *query, const struct index_search_opts *o, struct kb_arena *a,
                 struct index_hit **hits, int *n_hits, struct kb_error *err)
{
    float *qv = NULL;
    int rc;
    *hits = NULL;
    *n_hits = 0;
    if (!st || !o || !a)
        return kb_error_set(err, KB_EINVAL, "search needs a store, options and an arena");
    if (o->top_k < 1 || o->top_k > 1000)
        return kb_error_set(err, KB_EINVAL, "top_k must be 1..1000, not %d", o->top_k);
    if (!query)
        query = "";
    rc = search_embed_unlocked(st, query, o, &qv, err); /* returns with the lock held */
    if (rc == 0)
        rc = search_locked(st, query, qv, o, a, hits, n_hits, err);
    store_unlock(st);
    free(qv);
    return rc;
}
