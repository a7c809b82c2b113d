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
 * suffix stripper, so shipping ~ ship ~ shipped and accepted ~ accept, in both directions). Pure
 * functions over borrowed text; no allocation. Tests: tests/rag/test_answer.c,
 * tests/rag/test_faq_match.c. */
#include "rag/rag_int.h"

#include <ctype.h>
#include <string.h>

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
