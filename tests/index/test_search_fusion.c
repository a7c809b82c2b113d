/* tests/index/test_search_fusion.c: the query-adaptive weighted fusion of index/search.c on a real
 * store (SQLite + FAISS in a temp dir, built-in embedder). The vector weight is
 * vector_weight x (0.015 + 0.985 x agree^3), agree = share of BM25's top 10 chunks also in the vectors'
 * top 10, so:
 * - every fused score is that formula over the candidates' own BM25 and vector scores and ranks, and
 *   a query the two methods answer differently gets a far smaller vector weight than one they agree on;
 * - when they agree, with vector_weight 0.9 the hybrid order is the vector order at the top, and with
 *   vector_weight 0 it is BM25's;
 * - the built-in embedder is lexical: a CJK query keeps only index.lexical_cjk_trust of that weight,
 *   a word query all of it, and a model embedder all of it for both;
 * - every hybrid hit carries both scores and the list is sorted by the fused score;
 * - with opts.evidence, a chunk holding the query's words in one sentence moves ahead of one that
 *   scatters them (the sentence-evidence step), for an English and a Chinese query. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "idx_test.h"

#define TIE_TAIL                                                                                              \
    " The ledger lists every sale by date and price, the weather of each morning, the names of the carters who "   \
    "bring oil and glass from the coast, the repairs to the roof after each storm, and the debts of the tavern "   \
    "across the square, which pays late but always pays in the end."
#define TIE_A "Lantern shop notes: the keeper opens at dawn, sweeps the floor, counts the coins and closes at dusk every day." TIE_TAIL TIE_TAIL
/* tie_b's "lanternes" shares the query's character 3-grams (the vectors' pick) but not its token: the
 * index folds "lanterns" to "lantern" (index.stem_plurals), which would make it BM25's pick too */
#define TIE_B "Lantern shop notes: the keeper opens at dawn, sweeps the floor, counts the lanternes, shopfronts and closes at dusk every day." TIE_TAIL TIE_TAIL

struct fx {
    char *dir;
    struct index_embedder *emb;
    struct index_store *st;
};

static void add_doc(struct index_store *st, const char *name, const char *text)
{
    struct index_doc d = {0};
    struct index_chunk c = {0};
    struct kb_error err = {0};
    int64_t id = 0;
    d.name = name;
    d.external_id = name;
    c.text = text;
    c.n_tokens = 20;
    assert_int_equal(index_doc_replace(st, &d, &c, 1, NULL, NULL, 0, &id, &err), 0);
}

static int fx_setup(void **state)
{
    struct fx *f = kb_xcalloc(1, sizeof(*f));
    struct kb_error err = {0};
    static const char *const fillers[] = {"river", "stone", "window", "market", "ladder", "candle",
                                          "forest", "bridge", "winter", "harbor", "meadow", "copper"};
    f->dir = idx_tmpdir();
    if (index_embedder_builtin_new(&f->emb, 512, &err) != 0 || idx_open(&f->st, f->dir, f->emb, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    /* twelve documents that each mention the garden and its plants once, among different words */
    for (int i = 0; i < 12; i++) {
        char name[32], text[512];
        snprintf(name, sizeof(name), "g%02d", i);
        snprintf(text, sizeof(text),
                 "The %s garden keeps its plants near the %s, and the %s path leads past the %s "
                 "toward the old %s by the %s.",
                 fillers[i], fillers[(i + 1) % 12], fillers[(i + 2) % 12], fillers[(i + 3) % 12],
                 fillers[(i + 5) % 12], fillers[(i + 7) % 12]);
        add_doc(f->st, name, text);
    }
    /* forty documents about other things, so that the garden words are not in most documents (FTS5
     * gives words in more than half of the documents an IDF of almost zero) */
    for (int i = 0; i < 40; i++) {
        char name[32], text[256];
        snprintf(name, sizeof(name), "o%02d", i);
        snprintf(text, sizeof(text), "A report on the %s and the %s, number %d, filed with the %s office.",
                 fillers[i % 12], fillers[(i / 12 + i + 4) % 12], i, fillers[(i + 9) % 12]);
        add_doc(f->st, name, text);
    }
    /* two lantern documents BM25 scores within 1% of each other (one word longer, in 130), the longer one
     * sharing 3-grams with the query's words: the vectors' favourite for "lantern shop" */
    add_doc(f->st, "tie_a", TIE_A);
    add_doc(f->st, "tie_b", TIE_B);
    /* short and made of the query's common words: the vectors' favourite for both queries */
    add_doc(f->st, "short", "Garden plants. Garden plants.");
    /* the only document with the rare word, in a long text about something else */
    add_doc(f->st, "rare",
            "Zygomorphic blossoms have a single plane of symmetry: zygomorphic petals, zygomorphic sepals. Botanists describe the orchid, the pea "
            "and the snapdragon this way, and count petals, sepals and stamens to tell the families apart "
            "when they compare specimens collected over many seasons in distant valleys. Herbarium sheets "
            "record the collector, the date, the altitude and the soil, and a hand lens shows the hairs on "
            "each stem; the drawings are kept in cabinets sorted by family, genus and species. Students "
            "learn to press leaves flat between blotting papers, to change the papers daily while they dry, "
            "and to mount them with thin strips of linen tape; labels are written in pencil or archival ink, "
            "never in ballpoint, which fades and spreads over the decades of storage in the collection.");
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    index_store_close(f->st);
    index_embedder_builtin_free(f->emb);
    idx_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The top hit's external id for query in mode, with weighted fusion at vector weight w. */
static const char *top1(struct fx *f, struct kb_arena *a, const char *query, enum index_mode mode, double w,
                        struct index_hit **hits_out, int *n_out)
{
    struct index_search_opts o;
    struct index_hit *h = NULL;
    struct kb_error err = {0};
    int n = 0;
    memset(&o, 0, sizeof(o));
    o.top_k = 10;
    o.mode = mode;
    o.fusion = INDEX_FUSION_WEIGHTED;
    o.vector_weight = w;
    o.rrf_k = 60;
    assert_int_equal(index_search(f->st, query, &o, a, &h, &n, &err), 0);
    assert_true(n > 0);
    if (hits_out)
        *hits_out = h;
    if (n_out)
        *n_out = n;
    return h[0].external_id;
}

/* Recomputes the fused score of every candidate (top_k large enough to return all of them) from
 * its BM25 and vector scores and ranks, and returns the vector weight the fusion used. */
static double check_formula_trust(struct fx *f, const char *q, double vw, double cjk_trust, double trust)
{
    struct kb_arena a;
    struct index_hit *h;
    int n, both = 0;
    double max_b = 0, max_v = -1, min_v = 1, agree, w;
    kb_arena_init(&a, 0, 0);
    {
        struct index_search_opts o;
        struct kb_error err = {0};
        memset(&o, 0, sizeof(o));
        o.top_k = 200;
        o.mode = INDEX_MODE_HYBRID;
        o.fusion = INDEX_FUSION_WEIGHTED;
        o.vector_weight = vw;
        o.lexical_cjk_trust = cjk_trust;
        assert_int_equal(index_search(f->st, q, &o, &a, &h, &n, &err), 0);
    }
    assert_true(n >= 10);
    for (int i = 0; i < n; i++) {
        max_b = KB_MAX(max_b, h[i].bm25);
        max_v = KB_MAX(max_v, h[i].vector);
        min_v = KB_MIN(min_v, h[i].vector);
        both += h[i].bm25_rank >= 1 && h[i].bm25_rank <= 10 && h[i].vector_rank >= 1 && h[i].vector_rank <= 10;
    }
    assert_true(max_b > 0 && max_v > min_v);
    agree = both / 10.0;
    w = trust * vw * (0.015 + 0.985 * agree * agree * agree);
    for (int i = 0; i < n; i++) {
        double want = w * (h[i].vector - min_v) / (max_v - min_v) + (1 - w) * h[i].bm25 / max_b;
        if (i == 0 && fabs(h[0].score - want) > 1e-6) {
            /* moved to the front by the near-tie rule: the vectors' first, within 1% of BM25's best,
             * carrying the next hit's score */
            assert_int_equal(h[0].vector_rank, 1);
            assert_true(h[0].bm25 >= 0.99 * max_b);
            assert_float_equal(h[0].score, h[1].score, 1e-12);
            continue;
        }
        assert_float_equal(h[i].score, want, 1e-6);
    }
    kb_arena_release(&a);
    return w;
}

static double check_formula(struct fx *f, const char *q, double vw)
{
    return check_formula_trust(f, q, vw, 0, 1); /* a word query: full trust */
}

static void test_weight_follows_agreement(void **state)
{
    struct fx *f = *state;
    /* one document has the word: BM25 lists it alone, the vectors fill their top 10 with others */
    double w_apart = check_formula(f, "zygomorphic", 0.9);
    /* both methods rank the garden documents and the short one first */
    double w_together = check_formula(f, "garden plants", 0.9);
    assert_true(w_apart < 0.1 * w_together);
    assert_true(w_apart >= 0.9 * 0.015 - 1e-12);
    assert_true(w_together > 0.3 && w_together <= 0.9);
}

/* The built-in embedder is lexical (index_embedder.lexical): for a CJK query the fusion keeps only
 * lexical_cjk_trust of the vector weight, since its hashed character n-grams restate BM25's
 * characters and pairs; a model embedder (lexical false) keeps all of it. */
static void test_lexical_embedder_cjk_trust(void **state)
{
    struct fx *f = *state;
    static const char *const topics[] = {"花园", "河流", "石桥", "市场", "森林", "港口"};
    double w_low, w_high, w_model;
    assert_true(f->emb->lexical);
    for (int i = 0; i < 14; i++) {
        char name[32], text[256];
        snprintf(name, sizeof(name), "zh%02d", i);
        snprintf(text, sizeof(text), "%s的植物靠近%s，小路经过%s通向%s。", topics[i % 6], topics[(i + 1) % 6],
                 topics[(i + 2) % 6], topics[(i + 4) % 6]);
        add_doc(f->st, name, text);
    }
    w_low = check_formula_trust(f, "花园植物", 0.9, 0.25, 0.25);
    w_high = check_formula_trust(f, "花园植物", 0.9, 1.0, 1.0);
    assert_true(w_high > 0);
    assert_float_equal(w_low, 0.25 * w_high, 1e-12);
    /* a model embedder's vectors are a second view: full weight whatever lexical_cjk_trust says */
    f->emb->lexical = false;
    w_model = check_formula_trust(f, "花园植物", 0.9, 0.25, 1.0);
    f->emb->lexical = true;
    assert_float_equal(w_model, w_high, 1e-12);
    /* a word query keeps its weight with the lexical embedder too */
    assert_float_equal(check_formula_trust(f, "garden plants", 0.9, 0.25, 1.0), check_formula(f, "garden plants", 0.9),
                       1e-12);
}

static void test_agreeing_lists_follow_vectors(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hb, *hv, *hh;
    int nb, nv, nh;
    const char *q = "garden plants";
    kb_arena_init(&a, 0, 0);
    top1(f, &a, q, INDEX_MODE_BM25, 0, &hb, &nb);
    top1(f, &a, q, INDEX_MODE_VECTOR, 0, &hv, &nv);
    top1(f, &a, q, INDEX_MODE_HYBRID, 0.9, &hh, &nh);
    /* the two top-10 lists share at least 7 chunks (BM25 ties the twelve garden documents) */
    {
        int both = 0;
        assert_true(nb >= 10 && nv >= 10);
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 10; j++)
                both += hb[i].chunk_id == hv[j].chunk_id;
        assert_true(both >= 7);
    }
    /* with the weight handed to the vectors, the hybrid order is the vector order at the top */
    assert_string_equal(hh[0].external_id, hv[0].external_id);
    assert_string_equal(hh[1].external_id, hv[1].external_id);
    /* and with vector weight 0 it is BM25's order */
    assert_string_equal(top1(f, &a, q, INDEX_MODE_HYBRID, 0, NULL, NULL), hb[0].external_id);
    kb_arena_release(&a);
}

static void test_hybrid_hits_carry_both_scores(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *h;
    int n;
    kb_arena_init(&a, 0, 0);
    top1(f, &a, "zygomorphic garden plants", INDEX_MODE_HYBRID, 0.5, &h, &n);
    for (int i = 0; i < n; i++) {
        assert_true(h[i].bm25 > 0);
        assert_true(h[i].vector != 0);
        assert_true(h[i].bm25_rank > 0);
        if (i > 0)
            assert_true(h[i - 1].score >= h[i].score);
    }
    kb_arena_release(&a);
}

/* The near-tie rule: BM25 puts tie_a first, tie_b within 1% behind; the vectors put tie_b first; at a
 * vector weight small enough that the weighted sum alone keeps BM25's order, hybrid still puts tie_b
 * first, and at vector weight 0 the rule is off. */
static void test_near_tie_goes_to_vectors(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hb, *hv, *hh;
    int nb, nv, nh;
    const char *q = "lantern shop";
    kb_arena_init(&a, 0, 0);
    top1(f, &a, q, INDEX_MODE_BM25, 0, &hb, &nb);
    top1(f, &a, q, INDEX_MODE_VECTOR, 0, &hv, &nv);
    assert_true(nb >= 2);
    assert_string_equal(hb[0].external_id, "tie_a");
    assert_string_equal(hb[1].external_id, "tie_b");
    assert_true(hb[1].bm25 >= 0.99 * hb[0].bm25 && hb[1].bm25 < hb[0].bm25);
    assert_string_equal(hv[0].external_id, "tie_b");
    top1(f, &a, q, INDEX_MODE_HYBRID, 0.05, &hh, &nh);
    assert_true(nh >= 2);
    assert_string_equal(hh[0].external_id, "tie_b");
    assert_string_equal(hh[1].external_id, "tie_a");
    assert_true(hh[0].score == hh[1].score);
    /* the weighted sum alone would have kept tie_a first */
    check_formula(f, q, 0.05);
    assert_string_equal(top1(f, &a, q, INDEX_MODE_HYBRID, 0, NULL, NULL), "tie_a");
    kb_arena_release(&a);
}

/* Sentence evidence: "ev_scatter" holds each query word more often than "ev_sentence" but in separate
 * sentences, so BM25 (and the bag-of-features vectors) prefer it; "ev_sentence" holds all three in one
 * sentence. With opts.evidence the hybrid order puts ev_sentence first, without it ev_scatter stays
 * first, and the reordered list keeps non-increasing scores and both methods' scores per hit. */
static void test_sentence_evidence(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_search_opts o;
    struct index_hit *h;
    struct kb_error err = {0};
    int n;
    const char *q = "how do I descale a copper kettle";
    add_doc(f->st, "ev_scatter",
            "Copper pans hang by the door. The kettle sits on the stove. Descale the coffee machine monthly. "
            "Copper wire is in the drawer. The kettle lid is loose. Descale it later.");
    add_doc(f->st, "ev_sentence",
            "Household notes. To descale a copper kettle, boil water with vinegar in it for ten minutes. "
            "The shed door sticks in wet weather and the fence needs paint before the spring.");
    kb_arena_init(&a, 0, 0);
    assert_string_equal(top1(f, &a, q, INDEX_MODE_BM25, 0, NULL, NULL), "ev_scatter");
    assert_string_equal(top1(f, &a, q, INDEX_MODE_HYBRID, 0.7, NULL, NULL), "ev_scatter");
    memset(&o, 0, sizeof(o));
    o.top_k = 10;
    o.mode = INDEX_MODE_HYBRID;
    o.fusion = INDEX_FUSION_WEIGHTED;
    o.vector_weight = 0.7;
    o.evidence = true;
    assert_int_equal(index_search(f->st, q, &o, &a, &h, &n, &err), 0);
    assert_true(n >= 2);
    assert_string_equal(h[0].external_id, "ev_sentence");
    assert_string_equal(h[1].external_id, "ev_scatter");
    for (int i = 0; i < n; i++) {
        assert_true(h[i].bm25 > 0 && h[i].bm25_rank > 0);
        if (i > 0)
            assert_true(h[i - 1].score >= h[i].score);
    }
    /* the same for a Chinese query (the CJK setting: character pairs as terms) */
    add_doc(f->st, "zh_scatter",
            "退货需要先联系客服。运费按重量计算。买家承担包装。退货地址见官网。运费可以到付。承担方式另议。"
            "退货期间保留发票。运费单据请保存。");
    add_doc(f->st, "zh_sentence",
            "售后说明。质量问题退货的运费由卖家承担，其他情况由买家自理。门店营业时间为每天九点到晚上八点。");
    assert_string_equal(top1(f, &a, "退货运费谁承担", INDEX_MODE_BM25, 0, NULL, NULL), "zh_scatter");
    assert_int_equal(index_search(f->st, "退货运费谁承担", &o, &a, &h, &n, &err), 0);
    assert_true(n >= 2);
    assert_string_equal(h[0].external_id, "zh_sentence");
    kb_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_weight_follows_agreement, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lexical_embedder_cjk_trust, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agreeing_lists_follow_vectors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_hybrid_hits_carry_both_scores, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_near_tie_goes_to_vectors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sentence_evidence, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
