/* tests/index/test_bm25.c: kbox's BM25 (the FTS5 auxiliary function kbox_bm25, index/store_search.c)
 * on a real SQLite store: the score of every hit of a tiny corpus against the formula worked by hand
 * (term frequencies, row lengths and document frequencies written out below), the effect of k1 and b
 * (set through config keys, as the CLI and server do), BM25F's heading column (its own length
 * normalisation and index.bm25_heading_weight), the weight of CJK query unigrams, the
 * weight of query pairs that straddle two words of a word list the test writes, the parts of a
 * query word that mixes letters and digits, the word list's words in the index and English plurals
 * folded to the singular (fts_tok.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "idx_test.h"

/* Four one-chunk documents, no heading: 10 tokens in all, avgdl 2.5.
 *   d1 "apple banana apple"          dl 3
 *   d2 "apple cherry"                dl 2
 *   d3 "banana cherry cherry durian" dl 4
 *   d4 "durian"                      dl 1 */
static const char *const corpus[] = {"apple banana apple", "apple cherry", "banana cherry cherry durian", "durian"};

struct fx {
    char *dir;
    struct index_store *st;
    int64_t ids[4];
    int64_t cjk_id;
};

static int64_t put_headed(struct index_store *st, const char *name, const char *heading, const char *text)
{
    int64_t id = idx_put_chunk(st, name, NULL, heading, text);
    assert_true(id > 0);
    return id;
}

static int64_t put(struct index_store *st, const char *name, const char *text)
{
    return put_headed(st, name, "", text);
}

static int fx_setup(void **state)
{
    struct fx *f = kb_xcalloc(1, sizeof(*f));
    struct kb_error err = {0};
    f->dir = idx_tmpdir();
    if (idx_open(&f->st, f->dir, NULL, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "d%d", i + 1);
        f->ids[i] = put(f->st, name, corpus[i]);
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    index_store_close(f->st);
    idx_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The BM25 leg's hits for q, with k1/b/unigram weight from a config where the three keys are set. */
static int search(struct index_store *st, const char *q, const char *k1, const char *b, const char *w,
                  struct kb_arena *a, struct index_hit **h)
{
    struct config cfg;
    struct index_search_opts o;
    struct kb_error err = {0};
    int n = -1;
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "index.bm25_k1", k1, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "index.bm25_b", b, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "index.bm25_cjk_unigram_weight", w, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "index.segment_dict", "", CONFIG_SRC_FLAG, &err), 0);
    index_search_opts_from_config(&o, &cfg);
    o.mode = INDEX_MODE_BM25;
    o.top_k = 10;
    if (index_search(st, q, &o, a, h, &n, &err) != 0)
        fail_msg("search '%s': %s", q, err.msg);
    config_release(&cfg);
    return n;
}

static double idf(double n_rows, double df)
{
    return log(1 + (n_rows - df + 0.5) / (df + 0.5));
}

static double term(double idf_t, double tf, double dl, double avgdl, double k1, double b)
{
    return idf_t * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl));
}

static double score_of(const struct index_hit *h, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (h[i].chunk_id == id)
            return h[i].bm25;
    return -1;
}

/* "apple cherry": apple in d1 (tf 2) and d2 (tf 1), cherry in d2 (tf 1) and d3 (tf 2); both df 2 of 4. */
static void test_scores_by_hand(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *k1, *b;
        double k1v, bv;
    } cases[] = {{"1.2", "0.75", 1.2, 0.75}, {"0.9", "0.4", 0.9, 0.4}, {"2", "0", 2, 0}, {"0.5", "1", 0.5, 1}};
    const double i2 = idf(4, 2);
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        struct kb_arena a;
        struct index_hit *h;
        double k1 = cases[c].k1v, b = cases[c].bv, want[3];
        kb_arena_init(&a, 1 << 16, 1 << 24);
        int n = search(f->st, "apple cherry", cases[c].k1, cases[c].b, "1", &a, &h);
        assert_int_equal(n, 3);
        want[0] = term(i2, 2, 3, 2.5, k1, b);
        want[1] = term(i2, 1, 2, 2.5, k1, b) + term(i2, 1, 2, 2.5, k1, b);
        want[2] = term(i2, 2, 4, 2.5, k1, b);
        for (int d = 0; d < 3; d++)
            if (fabs(score_of(h, n, f->ids[d]) - want[d]) > 1e-9)
                fail_msg("k1 %s b %s: d%d scored %.12f, by hand %.12f", cases[c].k1, cases[c].b, d + 1,
                         score_of(h, n, f->ids[d]), want[d]);
        for (int i = 1; i < n; i++)
            assert_true(h[i - 1].bm25 >= h[i].bm25);
        kb_arena_release(&a);
    }
}

/* k1 and b change the order, not just the values. "durian apple": durian df 2 (d3, d4), apple df 2
 * (d1, d2). With b = 1 the shortest row d4 (durian once, dl 1) leads; with b = 0 every row with one
 * match ties and d1 (apple twice) leads. */
static void test_k1_b_change_order(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    kb_arena_init(&a, 1 << 16, 1 << 24);
    int n = search(f->st, "durian apple", "1.2", "1", "1", &a, &h);
    assert_int_equal(n, 4);
    assert_true(h[0].chunk_id == f->ids[3]); /* d4: the shortest row */
    n = search(f->st, "durian apple", "1.2", "0", "1", &a, &h);
    assert_int_equal(n, 4);
    assert_true(h[0].chunk_id == f->ids[0]); /* d1: apple twice, no length penalty */
    assert_true(fabs(h[1].bm25 - h[3].bm25) < 1e-12); /* d2, d3, d4 tie */
    kb_arena_release(&a);
}

/* "长城": the pair 长城 and, weighted by index.bm25_cjk_unigram_weight, the characters 长 and 城. A
 * row holding only 长 (in 长江) scores w x idf(长) x tf-part; the row with the pair scores the pair
 * plus both characters. */
static void test_cjk_unigram_weight(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    int64_t wall = put(f->st, "wall", "长城"), river = put(f->st, "river", "长江");
    /* 6 rows; 长城 -> tokens 长 城 长城 (dl 3), 长江 -> 长 江 长江 (dl 3); 10 + 6 tokens, avgdl 16/6 */
    const double avgdl = 16.0 / 6, k1 = 1.2, b = 0.75;
    const double s_pair = term(idf(6, 1), 1, 3, avgdl, k1, b), s_chang = term(idf(6, 2), 1, 3, avgdl, k1, b),
                 s_cheng = term(idf(6, 1), 1, 3, avgdl, k1, b);
    static const char *const ws[] = {"1", "0.5", "0"};
    kb_arena_init(&a, 1 << 16, 1 << 24);
    for (int i = 0; i < 3; i++) {
        double w = i == 0 ? 1 : i == 1 ? 0.5 : 0;
        int n = search(f->st, "长城", "1.2", "0.75", ws[i], &a, &h);
        assert_int_equal(n, 2);
        assert_true(h[0].chunk_id == wall);
        assert_true(fabs(score_of(h, n, wall) - (s_pair + w * (s_chang + s_cheng))) < 1e-9);
        assert_true(fabs(score_of(h, n, river) - w * s_chang) < 1e-9);
    }
    kb_arena_release(&a);
}

/* A zeroed options struct (bm25_k1 0) ranks with the INDEX_BM25_* defaults, the same as the config
 * defaults. */
/* BM25F: a heading counts its own length against the mean heading length and weighs
 * index.bm25_heading_weight. Two rows join the fixture: d5 text "grape", heading "fig"; d6 text "fig
 * grape grape", no heading. N 6, text tokens 14 (avg 14/6), heading tokens 1 (avg 1/6), fig df 2.
 * At k1 0.9, b 0.3: d5's tf = hw / (0.7 + 0.3 x 6) = hw / 2.5, d6's tf = 1 / (0.7 + 0.3 x 3 / (14/6)),
 * so d6 leads at heading weight 1 and d5 at 3. */
static void test_heading_bm25f(void **state)
{
    struct fx *f = *state;
    static const char *const hws[] = {"1", "3"};
    int64_t d5 = put_headed(f->st, "d5", "fig", "grape"), d6 = put(f->st, "d6", "fig grape grape");
    for (int i = 0; i < 2; i++) {
        struct config cfg;
        struct index_search_opts o;
        struct kb_error err = {0};
        struct kb_arena a;
        struct index_hit *h;
        int n = -1;
        const double k1 = 0.9, b = 0.3, hw = i ? 3 : 1, i_fig = idf(6, 2);
        double tf5 = hw / (1 - b + b * 1 / (1.0 / 6)), tf6 = 1 / (1 - b + b * 3 / (14.0 / 6));
        kb_arena_init(&a, 1 << 16, 1 << 24);
        config_init(&cfg);
        assert_int_equal(config_set(&cfg, "index.bm25_k1", "0.9", CONFIG_SRC_FLAG, &err), 0);
        assert_int_equal(config_set(&cfg, "index.bm25_b", "0.3", CONFIG_SRC_FLAG, &err), 0);
        assert_int_equal(config_set(&cfg, "index.bm25_heading_weight", hws[i], CONFIG_SRC_FLAG, &err), 0);
        index_search_opts_from_config(&o, &cfg);
        o.mode = INDEX_MODE_BM25;
        o.top_k = 10;
        assert_int_equal(index_search(f->st, "fig", &o, &a, &h, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_true(fabs(score_of(h, n, d5) - i_fig * tf5 * (k1 + 1) / (tf5 + k1)) < 1e-9);
        assert_true(fabs(score_of(h, n, d6) - i_fig * tf6 * (k1 + 1) / (tf6 + k1)) < 1e-9);
        assert_true(h[0].chunk_id == (i ? d5 : d6));
        config_release(&cfg);
        kb_arena_release(&a);
    }
    /* a word repeated along a heading path counts once: d7 heading "plum > plum" (2 tokens), text
     * "kiwi"; now N 7, heading tokens 3 (avg 3/7); at the defaults (k1 0.9, b 0.3, heading weight 2)
     * plum's tf = 2 x 1 / (0.7 + 0.3 x 2 / (3/7)), not 2 x 2 / ... */
    {
        struct index_search_opts o;
        struct kb_error err = {0};
        struct kb_arena a;
        struct index_hit *h;
        int64_t d7 = put_headed(f->st, "d7", "plum > plum", "kiwi");
        int n = -1;
        const double k1 = INDEX_BM25_K1, b = INDEX_BM25_B, hw = INDEX_BM25_HEADING_WEIGHT;
        double tf = hw / (1 - b + b * 2 / (3.0 / 7));
        kb_arena_init(&a, 1 << 16, 1 << 24);
        memset(&o, 0, sizeof(o)); /* zeroed: the compiled-in defaults */
        o.mode = INDEX_MODE_BM25;
        o.top_k = 10;
        assert_int_equal(index_search(f->st, "plum", &o, &a, &h, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_true(h[0].document_id == d7);
        assert_true(fabs(h[0].bm25 - idf(7, 1) * tf * (k1 + 1) / (tf + k1)) < 1e-9);
        kb_arena_release(&a);
    }
}

static void test_zeroed_opts_take_defaults(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h, *h0;
    struct index_search_opts o;
    struct kb_error err = {0};
    struct config cfg;
    int n = 0, n0 = 0;
    char k1[32], b[32], w[32];
    config_init(&cfg);
    assert_true(fabs(cfg.index_bm25_k1 - INDEX_BM25_K1) < 1e-12);
    assert_true(fabs(cfg.index_bm25_b - INDEX_BM25_B) < 1e-12);
    assert_true(fabs(cfg.index_bm25_cjk_unigram_weight - INDEX_BM25_CJK_UNIGRAM_WEIGHT) < 1e-12);
    assert_true(fabs(cfg.index_bm25_cjk_cross_pair_weight - INDEX_BM25_CJK_CROSS_PAIR_WEIGHT) < 1e-12);
    assert_true(fabs(cfg.index_bm25_cjk_word_weight - INDEX_BM25_CJK_WORD_WEIGHT) < 1e-12);
    config_release(&cfg);
    snprintf(k1, sizeof(k1), "%.17g", INDEX_BM25_K1);
    snprintf(b, sizeof(b), "%.17g", INDEX_BM25_B);
    snprintf(w, sizeof(w), "%.17g", INDEX_BM25_CJK_UNIGRAM_WEIGHT);
    kb_arena_init(&a, 1 << 16, 1 << 24);
    memset(&o, 0, sizeof(o));
    o.mode = INDEX_MODE_BM25;
    o.top_k = 10;
    assert_int_equal(index_search(f->st, "apple durian cherry", &o, &a, &h0, &n0, &err), 0);
    n = search(f->st, "apple durian cherry", k1, b, w, &a, &h);
    assert_int_equal(n, n0);
    for (int i = 0; i < n; i++) {
        assert_true(h[i].chunk_id == h0[i].chunk_id);
        assert_true(fabs(h[i].bm25 - h0[i].bm25) < 1e-12);
    }
    kb_arena_release(&a);
}

/* With a word list, a query pair that straddles two of its words weighs bm25_cjk_cross_pair_weight:
 * "长城在" cut by the list below is 长城|在, so 城在 is such a pair; the row 城在 matches it (and the
 * unigram 城, weighed 0 here), so its score is that weight times the pair's BM25 term. Without a list,
 * or with one that cannot be read, the pair weighs 1. */
static void test_cross_pair_weight(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    struct index_search_opts o;
    struct kb_error err = {0};
    char path[] = "/tmp/kbox-bm25-dict-XXXXXX";
    int fd = mkstemp(path), n = 0;
    static const char dict[] = "长城 100\n在 50\n城在 1\n";
    int64_t row = put(f->st, "row", "城在");
    double full = -1;
    static const struct {
        const char *dict;
        double cross, want_share;
    } cases[] = {{"", 0.5, 1}, {NULL, 1, 1}, {NULL, 0.5, 0.5}, {NULL, 0, 0}, {"/nonexistent/kbox-dict.txt", 0.5, 1}};
    assert_true(fd >= 0);
    assert_int_equal(write(fd, dict, strlen(dict)), (ssize_t)strlen(dict));
    close(fd);
    kb_arena_init(&a, 1 << 16, 1 << 24);
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        memset(&o, 0, sizeof(o));
        o.mode = INDEX_MODE_BM25;
        o.top_k = 10;
        o.bm25_k1 = 1.2;
        o.bm25_b = 0.75;
        o.bm25_cjk_unigram_weight = 0;
        o.bm25_cjk_cross_pair_weight = cases[i].cross;
        o.segment_dict = cases[i].dict ? cases[i].dict : path;
        assert_int_equal(index_search(f->st, "长城在", &o, &a, &h, &n, &err), 0);
        if (i == 0) {
            assert_int_equal(n, 1);
            full = score_of(h, n, row);
            assert_true(full > 0);
        } else if (cases[i].want_share > 0) {
            assert_int_equal(n, 1);
            if (fabs(score_of(h, n, row) - cases[i].want_share * full) > 1e-9)
                fail_msg("case %zu: %.12f, want %.12f", i, score_of(h, n, row), cases[i].want_share * full);
        } else {
            assert_true(n == 0 || score_of(h, n, row) == 0);
        }
    }
    kb_arena_release(&a);
    unlink(path);
}

/* A query word mixing letters and digits also searches its parts at INDEX_BM25_PART_WEIGHT: "fy2022
 * revenue" finds "fiscal 2022 revenue" (p1) through 2022, so p1 leads "revenue 2021" (p3) although
 * p1 is longer. Three rows join the fixture: N 7, text tokens 10 + 3 + 2 + 2 = 17 (avgdl 17/7);
 * revenue df 3, 2022 df 1; "fy" is in no row and fy2022 only in p2. */
static void test_mixed_word_parts(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    int64_t p1 = put(f->st, "p1", "fiscal 2022 revenue"), p2 = put(f->st, "p2", "fy2022 revenue"),
            p3 = put(f->st, "p3", "revenue 2021");
    const double avgdl = 17.0 / 7, k1 = 0.9, b = 0.3, i_rev = idf(7, 3), i_2022 = idf(7, 1);
    kb_arena_init(&a, 1 << 16, 1 << 24);
    int n = search(f->st, "FY2022 revenue?", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 3);
    assert_true(h[0].chunk_id == p2 && h[1].chunk_id == p1 && h[2].chunk_id == p3);
    assert_true(fabs(score_of(h, n, p1) - (term(i_rev, 1, 3, avgdl, k1, b) +
                                           INDEX_BM25_PART_WEIGHT * term(i_2022, 1, 3, avgdl, k1, b))) < 1e-9);
    assert_true(fabs(score_of(h, n, p3) - term(i_rev, 1, 2, avgdl, k1, b)) < 1e-9);
    /* a part the query already has is not added twice, and one-character parts ("q" of "q3") are not
     * searched: "2022 fy2022" scores p1 by 2022 at weight 1 alone; "q3" finds nothing */
    n = search(f->st, "2022 fy2022", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 2);
    assert_true(fabs(score_of(h, n, p1) - term(i_2022, 1, 3, avgdl, k1, b)) < 1e-9);
    n = search(f->st, "q3", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 0);
    kb_arena_release(&a);
}

/* Dictionary words in the full-text index (index/fts_tok.c): a store opened with a word list holds,
 * beside a CJK run's characters and pairs, its cut's words of three or more characters (folded, so
 * zh-Hant text gives the Simplified word), and a query adds its own such words as phrases at
 * index.bm25_cjk_word_weight. Opening with another list, or none, rebuilds the index (meta
 * 'tokenizer'), and replacing a document takes its words out with it. */
static double words_score(struct index_store *st, const char *q, const char *dict, double word_weight,
                          int64_t id, struct kb_arena *a)
{
    struct index_search_opts o;
    struct index_hit *h;
    struct kb_error err = {0};
    int n = 0;
    memset(&o, 0, sizeof(o));
    o.mode = INDEX_MODE_BM25;
    o.top_k = 10;
    o.bm25_k1 = 0.9;
    o.bm25_b = 0.3;
    o.bm25_heading_weight = 1;
    o.bm25_cjk_unigram_weight = 1;
    o.bm25_cjk_cross_pair_weight = 1;
    o.bm25_cjk_word_weight = word_weight;
    o.segment_dict = dict;
    if (index_search(st, q, &o, a, &h, &n, &err) != 0)
        fail_msg("search '%s': %s", q, err.msg);
    return score_of(h, n, id);
}

static struct index_store *words_open_stem(const char *dir, const char *dict, bool stem)
{
    struct index_open_opts o;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.ann_threshold = 200000;
    o.segment_dict = dict;
    o.no_stem = !stem;
    if (index_store_open(&st, &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    return st;
}

static struct index_store *words_open(const char *dir, const char *dict)
{
    return words_open_stem(dir, dict, true);
}

/* The index holds the list's words only when index.cjk_index_words asks (off by default: measured
 * without gain, docs/BENCHMARKS.md 2026-12-07), so an upgrade does not re-index by itself. */
static void test_index_words_key(void **state)
{
    struct config cfg;
    struct index_open_opts o;
    struct kb_error err = {0};
    (void)state;
    config_init(&cfg);
    index_open_opts_from_config(&o, &cfg);
    assert_null(o.segment_dict);
    assert_int_equal(config_set(&cfg, "index.cjk_index_words", "true", CONFIG_SRC_FLAG, &err), 0);
    index_open_opts_from_config(&o, &cfg);
    assert_non_null(o.segment_dict);
    assert_string_equal(o.segment_dict, cfg.index_segment_dict);
    config_release(&cfg);
}

static void test_index_dictionary_words(void **state)
{
    char path[] = "/tmp/kbox-words-dict-XXXXXX";
    char *dir = idx_tmpdir();
    int fd = mkstemp(path);
    static const char dict[] = "万里长城 50\n长城 100\n万里 40\n在 200\n北京 80\n的 300\n城墙 30\n";
    struct kb_arena a;
    struct index_store *st;
    const char *w = "万里长城";
    int64_t da, db, dc;
    double sa0, sa1, sb0, sb1, idf_words, n;
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, dict, strlen(dict)), (ssize_t)strlen(dict));
    close(fd);
    kb_arena_init(&a, 1 << 16, 1 << 24);
    st = words_open(dir, path);
    da = put(st, "a", "万里长城在北京");
    db = put(st, "b", "万里的长城墙"); /* the characters, but not the word */
    dc = put(st, "c", "萬里長城");     /* zh-Hant: folded, then cut */
    put(st, "d", "北京");
    n = 4;
    /* the word is a token of a and c: df 2 of 4 */
    idf_words = index_idf(st, w, strlen(w));
    assert_true(fabs(idf_words - idf(n, 2)) < 1e-9);
    /* the query's word is one more phrase: a gains exactly by it, b (no word) does not move */
    sa0 = words_score(st, w, path, 0, da, &a);
    sa1 = words_score(st, w, path, 1, da, &a);
    sb0 = words_score(st, w, path, 0, db, &a);
    sb1 = words_score(st, w, path, 1, db, &a);
    assert_true(sa0 > 0 && sb0 > 0);
    assert_true(sa1 > sa0 + 1e-6);
    assert_true(fabs(sb1 - sb0) < 1e-12);
    assert_true(words_score(st, "萬里長城", path, 1, dc, &a) > words_score(st, "萬里長城", path, 0, dc, &a) + 1e-6);
    /* a query pair is still the pair (a phrase re-tokenizes into itself), in b too */
    assert_true(words_score(st, "城墙", path, 1, db, &a) > 0);
    /* replacing a drops its word: df 1 */
    put(st, "a", "北京在");
    assert_true(fabs(index_idf(st, w, strlen(w)) - idf(n, 1)) < 1e-9);
    index_store_close(st);
    /* reopened without the list: the index is rebuilt without words (the word is unknown, highest
     * IDF) and a query adds no word phrase */
    st = words_open(dir, NULL);
    assert_true(fabs(index_idf(st, w, strlen(w)) - idf(n, 0)) < 1e-9);
    assert_true(fabs(words_score(st, "萬里長城", path, 1, dc, &a) - words_score(st, "萬里長城", path, 0, dc, &a)) <
                1e-12);
    index_store_close(st);
    /* and with it again: rebuilt with words */
    st = words_open(dir, path);
    assert_true(fabs(index_idf(st, w, strlen(w)) - idf(n, 1)) < 1e-9);
    index_store_close(st);
    kb_arena_release(&a);
    unlink(path);
    idx_rm_rf(dir);
    free(dir);
}

/* index.bm25_stop_word_weight: 0 (the default) leaves a query's stop words out when it has other
 * words; above 0 a stop word is a phrase of that weight. "the fig" against rows "the fig" (s1) and
 * "the end" (s2): at 0 only s1 matches, by fig; at 0.5 s2 matches by "the" alone, at half its term. */
static void test_stop_word_weight(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    struct index_search_opts o;
    struct kb_error err = {0};
    int64_t s1 = put(f->st, "s1", "the fig"), s2 = put(f->st, "s2", "the end");
    const double avgdl = 14.0 / 6, k1 = 0.9, b = 0.3, i_the = idf(6, 2);
    int n = 0;
    kb_arena_init(&a, 1 << 16, 1 << 24);
    memset(&o, 0, sizeof(o));
    o.mode = INDEX_MODE_BM25;
    o.top_k = 10;
    o.bm25_k1 = k1;
    o.bm25_b = b;
    o.bm25_heading_weight = 1;
    o.bm25_cjk_unigram_weight = 1;
    assert_int_equal(index_search(f->st, "the fig", &o, &a, &h, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(h[0].chunk_id == s1);
    o.bm25_stop_word_weight = 0.5;
    assert_int_equal(index_search(f->st, "the fig", &o, &a, &h, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(h[0].chunk_id == s1 && h[1].chunk_id == s2);
    assert_true(fabs(h[1].bm25 - 0.5 * term(i_the, 1, 2, avgdl, k1, b)) < 1e-9);
    kb_arena_release(&a);
}

/* English plurals in the full-text index (index.stem_plurals, fts_tok.c): "gross margins" finds a row
 * that says "gross margin" and the other way round, the IDF of a plural is its singular's, and opening
 * without stemming rebuilds the index with the words as written. */
static void test_stem_plurals(void **state)
{
    char *dir = idx_tmpdir();
    struct kb_arena a;
    struct index_store *st;
    struct index_hit *h;
    int64_t p1, p2;
    int n;
    (void)state;
    kb_arena_init(&a, 1 << 16, 1 << 24);
    st = words_open_stem(dir, NULL, true);
    p1 = put(st, "p1", "gross margin fell");
    p2 = put(st, "p2", "our policies on refunds");
    put(st, "p3", "net revenue rose");
    n = search(st, "gross margins", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 1);
    assert_true(h[0].chunk_id == p1);
    n = search(st, "refund policy", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 1);
    assert_true(h[0].chunk_id == p2);
    assert_true(fabs(index_idf(st, "margins", 7) - idf(3, 1)) < 1e-9);
    assert_true(fabs(index_idf(st, "margin", 6) - idf(3, 1)) < 1e-9);
    index_store_close(st);
    /* without stemming: rebuilt, "margins" is in no row and "refund policy" finds nothing */
    st = words_open_stem(dir, NULL, false);
    n = search(st, "gross margins", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 1); /* by "gross" alone */
    assert_true(fabs(index_idf(st, "margins", 7) - idf(3, 0)) < 1e-9);
    assert_int_equal(search(st, "refund policy", "0.9", "0.3", "1", &a, &h), 0);
    index_store_close(st);
    kb_arena_release(&a);
    idx_rm_rf(dir);
    free(dir);
}

/* English stems in the full-text index (index.stem_english, fts_tok.c): "improving operating
 * margins" finds the row that says "operating margin improved" by all three words, a term's IDF is its
 * stem's, the key reaches the open options, and switching back to plurals only rebuilds the index so
 * "improving" no longer meets "improved". */
static struct index_store *open_english(const char *dir, bool english)
{
    struct config cfg;
    struct index_open_opts o;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    config_init(&cfg);
    assert_false(cfg.index_stem_english); /* off by default: no re-index on upgrade */
    assert_int_equal(config_set(&cfg, "index.stem_english", english ? "true" : "false", CONFIG_SRC_FLAG, &err), 0);
    index_open_opts_from_config(&o, &cfg);
    assert_true(o.stem_english == english);
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.ann_threshold = 200000;
    o.stem_english = english;
    if (index_store_open(&st, &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    config_release(&cfg);
    return st;
}

static void test_stem_english(void **state)
{
    char *dir = idx_tmpdir();
    struct kb_arena a;
    struct index_store *st;
    struct index_hit *h;
    int64_t p1, p2;
    int n;
    (void)state;
    kb_arena_init(&a, 1 << 16, 1 << 24);
    st = open_english(dir, true);
    p1 = put(st, "p1", "operating margin improved");
    p2 = put(st, "p2", "operating costs and margins of connected stores");
    put(st, "p3", "net revenue rose");
    n = search(st, "improving operating margins", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 2);
    assert_true(h[0].chunk_id == p1);
    assert_true(h[1].chunk_id == p2);
    n = search(st, "connection", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 1);
    assert_true(h[0].chunk_id == p2);
    assert_true(fabs(index_idf(st, "improving", 9) - idf(3, 1)) < 1e-9);
    assert_true(fabs(index_idf(st, "operation", 9) - idf(3, 2)) < 1e-9);
    index_store_close(st);
    /* plurals only: rebuilt; "improving" and "connection" meet no row's words */
    st = open_english(dir, false);
    assert_int_equal(search(st, "improving", "0.9", "0.3", "1", &a, &h), 0);
    assert_int_equal(search(st, "connection", "0.9", "0.3", "1", &a, &h), 0);
    n = search(st, "operating margins", "0.9", "0.3", "1", &a, &h);
    assert_int_equal(n, 2); /* plurals still fold */
    assert_true(fabs(index_idf(st, "improving", 9) - idf(3, 0)) < 1e-9);
    index_store_close(st);
    kb_arena_release(&a);
    idx_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scores_by_hand, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_k1_b_change_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cjk_unigram_weight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_zeroed_opts_take_defaults, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_heading_bm25f, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cross_pair_weight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_word_parts, fx_setup, fx_teardown),
        cmocka_unit_test(test_index_dictionary_words),
        cmocka_unit_test(test_index_words_key),
        cmocka_unit_test(test_stem_plurals),
        cmocka_unit_test(test_stem_english),
        cmocka_unit_test_setup_teardown(test_stop_word_weight, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
