/* rag/text.c: the answer side's view of text/'s terms: which of a question's terms count for scoring
 * answer sentences (rag_terms_extract), whether a sentence holds a term (rag_text_has_term), and
 * whether a question is mostly CJK (how an answer is joined). Sentences and tokens are text/'s (the
 * same ones chunking, the FTS index and sentence evidence use), so the answerer and retrieval agree
 * on what a sentence and a term are.
 *
 * A term is a folded token of text_query_terms that is not a stop word or a weak word (text/words.c),
 * not a one-letter word (digits stay) and not a CJK pair that names no topic (text_is_cjk_stop_pair). A sentence holds a word term
 * when one of its folded tokens is the term or the term plus a plain English inflection (refund ~
 * refunds, refunded); a CJK term when its bytes occur; a two-word phrase "a b" when two consecutive
 * tokens hold a then b. Two questions compare their word terms by stem (rag_text_stem: a light
 * suffix stripper, so shipping ~ ship ~ shipped and accepted ~ accept, in both directions).
 * Question words (rag_question_mask): the words of a question that only name the kind of answer it
 * wants -- 多长时间, 多久, 多少, 几天, 怎么, 是否 ..., modal verbs (需要, 应该: English's weak words) and,
 * where two questions are compared, English "how long", "how often" (after "how", itself a stop
 * word) -- are blanked out before its terms are taken. They would otherwise weigh as
 * topic: in "退货需要多长时间？" the pairs of 多长时间 outnumbered 退货 three to one and matched a
 * stored "下单后多长时间内可以取消订单？" (a cancellation) over "购买后多少天内可以退货？" (returns). A
 * Chinese question word is a word of the question's dictionary segmentation (text_dict_cut over
 * index.segment_dict, so 时间 in 送达时间 stays a topic while 多长时间 goes), or, without a dictionary,
 * any occurrence of a listed one. The extractive scorer keeps English "long" for picking sentences
 * (a single word next to the topic words), but a passage lacking it does not lower the answer's
 * confidence (rag/answer.c); the pairs of a Chinese question word outnumber
 * its topic. Pure functions over borrowed text; no allocation.
 * Tests: tests/rag/test_answer.c, tests/rag/test_faq_match.c, tests/rag/test_question_words.c. */
#include "rag/rag_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void rag_terms_extract(const char *text, size_t n, struct rag_terms *t)
{
    const struct text_terms *a = &t->all;
    text_query_terms(text, n, &t->all);
    t->n = 0;
    for (int i = 0; i < a->n; i++) {
        bool keep;
        if (a->cjk[i])
            keep = !text_is_cjk_stop_pair(a->term[i], (size_t)a->len[i]);
        else
            keep = !a->stop[i] && !text_is_weak_word(a->term[i], (size_t)a->len[i]) && (a->len[i] >= 2 || isdigit((unsigned char)a->term[i][0]));
        if (keep) {
            t->term[t->n] = a->term[i];
            t->cjk[t->n] = a->cjk[i];
            t->n++;
        }
    }
}

static bool text_is_suffix(const char *s, size_t n)
{
    static const char *const sfx[] = {"s", "es", "ed", "d", "ing", "er", "ers"};
    bool found = false;
    for (size_t i = 0; i < KB_ARRAY_LEN(sfx) && !found; i++)
        found = strlen(sfx[i]) == n && memcmp(s, sfx[i], n) == 0;
    return found;
}

/* True when the folded token tok is the word w or w with a plain inflection. */
static bool text_token_is(const char *tok, size_t n, const char *w, size_t k)
{
    return n >= k && memcmp(tok, w, k) == 0 && (n == k || text_is_suffix(tok + k, n - k));
}

/* A walk over a sentence's tokens looking for one word, or two words in a row. */
struct text_match {
    const char *w1, *w2; /* w2 NULL for a single word */
    size_t k1, k2;       /* bytes */
    bool prev_w1;        /* the previous word token held w1 */
};

static int text_match_tok(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct text_match *m = ud;
    bool is1;
    (void)start;
    (void)end;
    if (cjk) {
        m->prev_w1 = false;
        return 0;
    }
    if (m->w2 && m->prev_w1 && text_token_is(tok, (size_t)n, m->w2, m->k2))
        return 1;
    is1 = m->w2 ? (size_t)n == m->k1 && memcmp(tok, m->w1, m->k1) == 0 : text_token_is(tok, (size_t)n, m->w1, m->k1);
    if (is1 && !m->w2)
        return 1;
    m->prev_w1 = is1;
    return 0;
}

bool rag_text_has_term(const char *s, size_t n, const char *term)
{
    size_t k = strlen(term);
    uint32_t cp = 0;
    const char *space = memchr(term, ' ', k);
    struct text_match m = {term, NULL, k, 0, false};
    if (k == 0)
        return false;
    kb_utf8_decode(term, k, &cp);
    if (kb_utf8_is_cjk(cp)) { /* CJK tokens are the characters themselves */
        for (size_t i = 0; i < n; i++)
            if (text_match_folded(s + i, n - i, term, k) > 0) /* terms are folded, s is not */
                return true;
        return false;
    }
    if (space) {
        m.k1 = (size_t)(space - term);
        m.w2 = space + 1;
        m.k2 = k - m.k1 - 1;
    }
    return text_tokenize(s, n, true, text_match_tok, &m) == 1;
}

bool rag_text_is_cjk_heavy(const char *s, size_t n)
{
    size_t i = 0, cjk = 0, other = 0;
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        i += (size_t)(len < 0 ? 1 : len);
        if (kb_utf8_is_cjk(cp))
            cjk++;
        else if (cp < 128 && isalpha((int)cp))
            other++;
    }
    return cjk * 3 > other;
}

size_t rag_text_stem(const char *w, size_t n, char *out, size_t out_bytes)
{
    static const char *const sfx[] = {"ings", "ing", "ers", "er", "ies", "es", "ed", "s"};
    size_t k = n < out_bytes ? n : out_bytes - 1;
    memcpy(out, w, k);
    for (size_t i = 0; i < KB_ARRAY_LEN(sfx); i++) {
        size_t sl = strlen(sfx[i]);
        if (k >= sl + 3 && memcmp(out + k - sl, sfx[i], sl) == 0 && !(sl == 1 && out[k - 2] == 's')) {
            k -= sl;
            if (!strcmp(sfx[i], "ies"))
                out[k++] = 'y'; /* deliveries -> delivery */
            break;
        }
    }
    /* shipp -> ship, but not "all"-like doubles that end the word itself (staff stays) */
    if (k >= 4 && out[k - 1] == out[k - 2] && !strchr("aeioulsfz", out[k - 1]))
        k--;
    if (k >= 4 && out[k - 1] == 'e') /* place -> plac, matching placing -> plac */
        k--;
    out[k] = '\0';
    return k;
}

/* ---- question words ------------------------------------------------------------------------------- */

/* Chinese interrogative words: they name the kind of answer asked for (a duration, an amount, a
 * way, a reason), not what the question is about, like English's "how long"; and modal verbs.
 * Longest first within a length, so the scan without a dictionary takes 多长时间 before 多长. */
static const char *const text_cjk_question_words[] = {
    "什么时候", "多长时间", "多少时间", "多少钱", "多会儿", "怎么样", "为什么", "多长", "多久", "多少", "多大",
    "多远", "几时", "何时", "怎么", "怎样", "如何", "为何", "是否", "能否", "可否", "哪些", "哪个", "哪里",
    "哪儿", "什么",
    /* 几 before a measure word asks a number of it (几天 = 多少天) */
    "几小时", "几天", "几个", "几次", "几年", "几周", "几岁", "几号", "几点", "几件", "几位",
    /* modal verbs, the words text/words.c's weak list holds for English (must, should, could) */
    "需要", "应该", "必须", "能够", "可能",
};

/* English words that, after "how", only say what kind of answer is wanted (how long, how often). */
static const char *const text_how_words[] = {"long", "often", "soon", "far", "old", "big", "large", "quickly"};

static bool text_is_question_word(const char *w, size_t n)
{
    bool found = false;
    for (size_t i = 0; i < KB_ARRAY_LEN(text_cjk_question_words) && !found; i++)
        found = strlen(text_cjk_question_words[i]) == n && !memcmp(w, text_cjk_question_words[i], n);
    return found;
}

struct mask_ctx {
    const struct text_dict *dict;
    const char *base; /* the text being masked (out holds a copy of it) */
    char *out;
};

static void mask_span(struct mask_ctx *m, const char *p, size_t n)
{
    memset(m->out + (p - m->base), ' ', n);
}

/* One CJK run: its dictionary words that are question words are masked; without a dictionary, every
 * occurrence of a listed question word. */
static void mask_run(void *ud, const char *run, size_t n)
{
    struct mask_ctx *m = ud;
    if (m->dict) {
        int ends[TEXT_DICT_RUN_MAX];
        int k = text_dict_cut(m->dict, run, n, ends, NULL, TEXT_DICT_RUN_MAX);
        for (int w = 0, start = 0; w < k; start = ends[w], w++)
            if (text_is_question_word(run + start, (size_t)(ends[w] - start)))
                mask_span(m, run + start, (size_t)(ends[w] - start));
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t step = 1;
        for (size_t w = 0; w < KB_ARRAY_LEN(text_cjk_question_words); w++) {
            size_t len = strlen(text_cjk_question_words[w]);
            if (len <= n - i && !memcmp(run + i, text_cjk_question_words[w], len)) {
                mask_span(m, run + i, len);
                step = len;
                break;
            }
        }
        while (step == 1 && i + step < n && ((unsigned char)run[i + step] & 0xC0) == 0x80)
            step++; /* to the next character */
        i += step;
    }
}

size_t rag_question_mask(const char *q, size_t n, const struct text_dict *dict, bool how_words, char *out,
                         size_t out_bytes)
{
    struct mask_ctx m = {dict, out, out};
    size_t k = n < out_bytes ? n : out_bytes - 1;
    memcpy(out, q, k);
    while (k > 0 && k < n && ((unsigned char)q[k] & 0xC0) == 0x80)
        k--; /* q[k] would continue a character: cut before that character */
    out[k] = '\0';
    text_cjk_runs(out, k, mask_run, &m); /* runs of the copy: a cut never reaches past k */
    /* English: "how long", "how often": the word after "how" */
    for (size_t i = 0; how_words && i + 4 < k; i++) {
        if ((i > 0 && isalpha((unsigned char)out[i - 1])) || strncasecmp(out + i, "how ", 4) != 0)
            continue;
        for (size_t w = 0; w < KB_ARRAY_LEN(text_how_words); w++) {
            size_t len = strlen(text_how_words[w]);
            if (i + 4 + len <= k && !strncasecmp(out + i + 4, text_how_words[w], len) &&
                (i + 4 + len == k || !isalpha((unsigned char)out[i + 4 + len])))
                memset(out + i + 4, ' ', len);
        }
    }
    return k;
}
