/* index/embed_builtin.c: the built-in embedder: deterministic hashed features, no model file.
 *
 * Features (from index_tokenize(), so folding matches the FTS index exactly):
 * - Latin: each word (weight 1), each pair of adjacent words (0.5; English function words, text/'s
 *   stop words, are skipped and pairs join across them), and the character 3-grams of "<word>" with boundary marks (0.5
 *   each), so a typo or an inflection keeps most of a word's 3-grams;
 * - CJK: each character (1.0), each pair (1.0) and each triple (0.3) of a run (tuned on xquad_zh;
 *   with 512 dims hash collisions, not the weights, limit CJK vector quality: 2048 dims lift xquad_zh
 *   vector MRR@10 from 0.79 to 0.92).
 * Each feature is a 64-bit FNV-1a hash with a per-kind seed, finalised with splitmix64; bits pick the
 * dimension (h mod dim) and the sign (top bit), so collisions cancel in expectation.
 *
 * Weighting and the IDF question. Stored document vectors use sublinear TF only: (1 + ln tf) x kind
 * weight, then L2 norm. IDF is applied to the QUERY only: each query feature is also multiplied by the
 * IDF of the term it came from (word -> that word; word pair -> the mean of both; 3-grams of a word ->
 * the word; CJK n-grams -> the character or pair tokens), read at query time from the FTS5 vocabulary,
 * which SQLite keeps exact inside every replace/delete transaction. Because the IDF lives only on the
 * query side, stored vectors never go stale as the knowledge base grows, no re-embedding or DF table
 * maintenance is needed, and the score is still sum_f tf_d(f) x tf_q(f) x idf(f) over normalised TF
 * documents — TF-IDF with the IDF counted once instead of twice, which ranks like BM25-style weighting.
 * Unknown query terms (typos) get the highest IDF, capped, and match through their 3-grams.
 *
 * The embedder says it is lexical (index_embedder.lexical): its features are the text's own terms, so
 * hybrid fusion keeps only index.lexical_cjk_trust of the vector weight for a query's CJK terms,
 * whose hashed n-grams are BM25's characters and pairs again (search.c).
 *
 * Invariants: pure function of (text, dim) for documents and (text, stats, dim) for queries;
 * thread-safe (state per call); texts are read up to EMBED_MAX_TEXT_BYTES.
 * Tests: tests/index/test_embed.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"
#include "text/text.h"

#define EMBED_MAX_TEXT_BYTES (1u << 20)
#define EMBED_IDF_MAX 12.0

enum feat_kind { FEAT_WORD = 1, FEAT_PAIR, FEAT_CHAR3, FEAT_CJK1, FEAT_CJK2, FEAT_CJK3 };

static const float feat_weight[] = {0, 1.0f, 0.5f, 0.5f, 1.0f, 1.0f, 0.3f};

struct feat {
    uint64_t h;  /* 0 = empty slot */
    float tf;    /* occurrences */
    float idf;   /* query: IDF of the source term; documents: 1 */
    uint8_t kind;
};

struct feat_acc {
    struct feat *slots; /* open addressing, power-of-two size */
    size_t mask, n, max_n;
    const struct index_term_stats *stats; /* NULL for documents */
    bool skip_stop;
    /* Latin context: previous word */
    char prev_word[INDEX_TOKEN_MAX_BYTES];
    int prev_word_n;
    int prev_end;
    /* CJK context: last two characters of the current run */
    char c1[4], c2[4];
    int c1_n, c2_n, c_end;
};

struct embed_state {
    char id[48];
    int dim;
};

/* FNV-1a 64 from a per-kind start. 1469598103934665603 is the offset basis missing its last digit
 * (not KB_FNV1A64_INIT); stored vectors depend on it, so it stays. */
static uint64_t fnv1a(uint64_t seed, const void *p, size_t n)
{
    return kb_fnv1a64(1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull), p, n);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x ? x : 1;
}

static double acc_idf(const struct feat_acc *a, const char *term, size_t n)
{
    double v;
    if (!a->stats || !a->stats->idf)
        return 1.0;
    v = a->stats->idf(a->stats->ud, term, n);
    return v < 0 ? 0 : (v > EMBED_IDF_MAX ? EMBED_IDF_MAX : v);
}

static void acc_add(struct feat_acc *a, enum feat_kind kind, const void *p, size_t n, double idf)
{
    uint64_t h = mix64(fnv1a((uint64_t)kind, p, n));
    size_t i = (size_t)h & a->mask;
    while (a->slots[i].h && a->slots[i].h != h)
        i = (i + 1) & a->mask;
    if (a->slots[i].h == h) {
        a->slots[i].tf += 1;
        return;
    }
    if (a->n >= a->max_n)
        return; /* table full: the text is huge; later features are dropped */
    a->slots[i].h = h;
    a->slots[i].tf = 1;
    a->slots[i].idf = (float)idf;
    a->slots[i].kind = (uint8_t)kind;
    a->n++;
}

static void acc_word_grams(struct feat_acc *a, const char *w, int n, double idf)
{
    uint32_t cps[INDEX_TOKEN_MAX_BYTES + 2];
    int k = 0;
    cps[k++] = '<';
    for (int i = 0; i < n;) {
        uint32_t cp;
        int len = kb_utf8_decode(w + i, (size_t)(n - i), &cp);
        if (len < 0)
            len = 1;
        cps[k++] = cp;
        i += len;
    }
    cps[k++] = '>';
    if (k < 5) /* words of one or two characters: the word feature is enough */
        return;
    for (int i = 0; i + 3 <= k; i++)
        acc_add(a, FEAT_CHAR3, cps + i, 3 * sizeof(uint32_t), idf);
}

static int acc_token(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct feat_acc *a = ud;
    if (!cjk && a->skip_stop && text_is_stop_word(tok, (size_t)n))
        return 0; /* function words: no features; pairs join across them */
    if (!cjk) {
        double idf = acc_idf(a, tok, (size_t)n);
        acc_add(a, FEAT_WORD, tok, (size_t)n, idf);
        if (a->prev_word_n > 0) {
            char pair[2 * INDEX_TOKEN_MAX_BYTES + 1];
            double idf2 = a->stats ? 0.5 * (idf + acc_idf(a, a->prev_word, (size_t)a->prev_word_n)) : 1.0;
            memcpy(pair, a->prev_word, (size_t)a->prev_word_n);
            pair[a->prev_word_n] = ' ';
            memcpy(pair + a->prev_word_n + 1, tok, (size_t)n);
            acc_add(a, FEAT_PAIR, pair, (size_t)(a->prev_word_n + 1 + n), idf2);
        }
        acc_word_grams(a, tok, n, idf);
        memcpy(a->prev_word, tok, (size_t)n);
        a->prev_word_n = n;
        a->prev_end = end;
        a->c1_n = a->c2_n = 0;
        return 0;
    }
    a->prev_word_n = 0;
    if (n > 4) /* a pair token: its features come from the characters below */
        return 0;
    {
        int cl = n;
        bool contig = a->c2_n > 0 && a->c_end == start;
        acc_add(a, FEAT_CJK1, tok, (size_t)n, acc_idf(a, tok, (size_t)n));
        if (!contig)
            a->c1_n = a->c2_n = 0;
        if (a->c2_n > 0) {
            char buf[12];
            double idf_pair;
            memcpy(buf, a->c2, (size_t)a->c2_n);
            memcpy(buf + a->c2_n, tok, (size_t)cl);
            idf_pair = acc_idf(a, buf, (size_t)(a->c2_n + cl));
            acc_add(a, FEAT_CJK2, buf, (size_t)(a->c2_n + cl), idf_pair);
            if (a->c1_n > 0) {
                char tri[12];
                double idf_first;
                memcpy(tri, a->c1, (size_t)a->c1_n);
                memcpy(tri + a->c1_n, buf, (size_t)(a->c2_n + cl));
                idf_first = acc_idf(a, tri, (size_t)(a->c1_n + a->c2_n));
                acc_add(a, FEAT_CJK3, tri, (size_t)(a->c1_n + a->c2_n + cl), KB_MAX(idf_first, idf_pair));
            }
        }
        memcpy(a->c1, a->c2, (size_t)a->c2_n);
        a->c1_n = a->c2_n;
        memcpy(a->c2, tok, (size_t)cl);
        a->c2_n = cl;
        a->c_end = end;
    }
    return 0;
}

/* Embeds one text (document when stats is NULL) into out[dim]. */
static void embed_one(int dim, const char *text, const struct index_term_stats *stats, float *out)
{
    struct feat_acc a;
    size_t n = strlen(text), slots = 64;
    double norm = 0;
    if (n > EMBED_MAX_TEXT_BYTES)
        n = EMBED_MAX_TEXT_BYTES;
    while (slots < 4 * n + 64)
        slots *= 2;
    memset(&a, 0, sizeof(a));
    a.slots = kb_xcalloc(slots, sizeof(struct feat));
    a.mask = slots - 1;
    a.max_n = slots / 2;
    a.stats = stats;
    a.skip_stop = true;
    index_tokenize(text, n, false, acc_token, &a);
    memset(out, 0, (size_t)dim * sizeof(float));
    for (size_t i = 0; i < slots; i++) {
        const struct feat *f = &a.slots[i];
        double w;
        if (!f->h)
            continue;
        w = feat_weight[f->kind] * (1.0 + log(f->tf)) * f->idf;
        out[f->h % (uint64_t)dim] += (f->h >> 63) ? (float)-w : (float)w;
    }
    for (int i = 0; i < dim; i++)
        norm += (double)out[i] * out[i];
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (int i = 0; i < dim; i++)
            out[i] *= inv;
    }
    free(a.slots);
}

static int builtin_embed(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    const struct embed_state *s = ud;
    (void)err;
    for (int i = 0; i < n; i++)
        embed_one(s->dim, texts[i] ? texts[i] : "", NULL, out + (size_t)i * (size_t)s->dim);
    return 0;
}

static int builtin_embed_query(void *ud, const char *text, const struct index_term_stats *stats, float *out,
                               struct kb_error *err)
{
    const struct embed_state *s = ud;
    (void)err;
    embed_one(s->dim, text ? text : "", stats, out);
    return 0;
}

int index_embedder_builtin_new(struct index_embedder **out, int dim, struct kb_error *err)
{
    struct index_embedder *e;
    struct embed_state *s;
    *out = NULL;
    if (dim < 16 || dim > 65536)
        return kb_error_set(err, KB_EINVAL, "built-in embedder dimension %d is outside 16..65536", dim);
    e = kb_xcalloc(1, sizeof(*e));
    s = kb_xcalloc(1, sizeof(*s));
    s->dim = dim;
    snprintf(s->id, sizeof(s->id), EMBED_BUILTIN_ID_PREFIX "%d", dim);
    e->id = s->id;
    e->dim = dim;
    e->embed = builtin_embed;
    e->embed_query = builtin_embed_query;
    e->ud = s;
    e->lexical = true; /* hashed terms: fusion weighs its CJK vectors less (search.c) */
    *out = e;
    return 0;
}

void index_embedder_builtin_free(struct index_embedder *e)
{
    if (!e)
        return;
    free(e->ud);
    free(e);
}
