/* rag/span.c: the shortest fragment of an answer sentence that holds the answer, for
 * answer.extractive_span (rag/answer.c asks it for the sentence it answers with).
 *
 * Flow: the sentence is cut into clauses at , ; : followed by a space, at ( ), and at CJK ，；：
 * （）。！？ (not at the enumeration comma 、, which lists answers). The clause covering most of the
 * question (its terms weighted as answer.c weighs them; a tie goes to a clause saying something the
 * question does not) is where the answer stands. Then:
 * - a question asking for a number, amount or time (how many, how much, when, 多少, 几, ...) gets
 *   one number of that clause (else of the sentence): the one followed by the noun the question
 *   counts ("how many tackles" -> 118), else the one nearest the question's terms; never a number
 *   the question itself names. It comes with its unit or currency ("45 days", "7 working days",
 *   "2,400 EUR", "£19.00", "3:08", "12人", "1990年", "May 2014") but without the counted noun
 *   the question names ("118", not "118 tackles"; a unit of measure always stays);
 * - otherwise the part of the clause after the last question term it holds, when that part holds a
 *   word the question lacks ("The Aurora costs | 2400 EUR"; "原名 | 周树人"), else the part
 *   before the first, else the next clause when it says something new;
 * - leading and trailing punctuation and function words (the, is, was, by, 是, 的 ...) are trimmed.
 * Where nothing stands out (no clause holds a question term, or none says anything new) the
 * whole sentence stays, untrimmed. Pure
 * functions over borrowed text, no allocation. Tests: tests/rag/test_span.c; measured with
 * `kbox eval` em/f1 (docs/BENCHMARKS.md). */
#define _GNU_SOURCE /* memmem */
#include "rag/rag_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SPAN_MAX_CLAUSES 32

struct span_clause {
    size_t start, end; /* bytes in the sentence */
    double cov;        /* weighted question terms it holds */
    bool fresh;        /* holds a word the question lacks */
};

/* Bytes of the clause separator at s[i], 0 when none: ", " "; " ": " "(" ")" and CJK punctuation. */
static size_t span_separator(const char *s, size_t n, size_t i)
{
    static const char *const cjk[] = {"，", "；", "：", "（", "）", "。", "！", "？"};
    size_t k = 0;
    if ((s[i] == ',' || s[i] == ';' || s[i] == ':') && i + 1 < n && s[i + 1] == ' ')
        k = 2;
    else if (s[i] == '(' || s[i] == ')')
        k = 1;
    for (size_t j = 0; j < KB_ARRAY_LEN(cjk) && !k; j++)
        if (i + 3 <= n && memcmp(s + i, cjk[j], 3) == 0)
            k = 3;
    return k;
}

static int span_clauses(const char *s, size_t n, struct span_clause *c)
{
    int k = 0;
    size_t start = 0, i = 0;
    while (i < n && k < SPAN_MAX_CLAUSES - 1) {
        size_t sep = span_separator(s, n, i);
        if (sep) {
            if (i > start)
                c[k++] = (struct span_clause){start, i, 0, false};
            start = i + sep;
            i += sep;
        } else {
            i++;
        }
    }
    if (n > start)
        c[k++] = (struct span_clause){start, n, 0, false};
    return k;
}

/* The question's terms matched in s[a..b): first start and last end through *first, *last. */
struct span_walk {
    const struct rag_terms *qt;
    const char *base; /* the walked text */
    long first, last; /* byte offsets of the matches, -1 when none */
};

static bool span_is_question_term(const struct rag_terms *qt, const char *tok, size_t n)
{
    bool found = false;
    for (int t = 0; t < qt->n && !found; t++)
        found = !qt->cjk[t] && rag_text_has_term(tok, n, qt->term[t]);
    return found;
}

static int span_word(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct span_walk *w = ud;
    (void)tok;
    (void)n;
    if (!cjk && span_is_question_term(w->qt, w->base + start, (size_t)(end - start))) {
        if (w->first < 0)
            w->first = start;
        w->last = end;
    }
    return 0;
}

/* Matches of the question's terms in s[0..n): words through the tokenizer, CJK terms by bytes. */
static void span_matches(const struct rag_terms *qt, const char *s, size_t n, long *first, long *last)
{
    struct span_walk w = {qt, s, -1, -1};
    text_tokenize(s, n, false, span_word, &w);
    for (int t = 0; t < qt->n; t++) {
        size_t k = strlen(qt->term[t]);
        if (!qt->cjk[t])
            continue;
        for (size_t i = 0; i < n; i++) {
            size_t m = text_match_folded(s + i, n - i, qt->term[t], k); /* terms are folded, s is not */
            if (m > 0) {
                if (w.first < 0 || (long)i < w.first)
                    w.first = (long)i;
                if ((long)(i + m) > w.last)
                    w.last = (long)(i + m);
            }
        }
    }
    *first = w.first;
    *last = w.last;
}

/* True when s[0..n) holds a word or CJK character that is neither a question term nor a function
 * word: something the question does not already say. */
struct span_new {
    const struct rag_terms *qt;
    const char *base;
    bool found;
};

/* True when one of the question's CJK terms holds the character tok[0..n). */
static bool span_in_question_cjk(const struct rag_terms *qt, const char *tok, size_t n)
{
    bool found = false;
    for (int t = 0; t < qt->n && !found; t++)
        found = qt->cjk[t] && memmem(qt->term[t], strlen(qt->term[t]), tok, n) != NULL;
    return found;
}

static int span_new_tok(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct span_new *w = ud;
    bool fresh;
    if (cjk)
        fresh = n <= 3 && !text_is_cjk_stop_char(tok, (size_t)n) && !span_in_question_cjk(w->qt, tok, (size_t)n);
    else
        fresh = !text_is_stop_word(tok, (size_t)n) && !text_is_weak_word(tok, (size_t)n) &&
                !span_is_question_term(w->qt, w->base + start, (size_t)(end - start));
    w->found |= fresh;
    return w->found;
}

static bool span_has_new(const struct rag_terms *qt, const char *s, size_t n)
{
    struct span_new w = {qt, s, false};
    text_tokenize(s, n, false, span_new_tok, &w);
    return w.found;
}

static bool span_is_cjk_punct(uint32_t cp)
{
    return (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0x2010 && cp <= 0x2027);
}

/* A character to trim from either end: white space, punctuation (not the $ ( " an answer may start
 * with), CJK punctuation and CJK function characters (是 的 了 ...). Its bytes, 0 when none. */
static size_t span_trim_char(const char *s, size_t n)
{
    uint32_t cp;
    int len = kb_utf8_decode(s, n, &cp);
    size_t k = 0;
    if (len <= 0)
        k = 1;
    else if (cp < 128)
        k = isspace((int)cp) || (ispunct((int)cp) && cp != '$' && cp != '(' && cp != '"' && cp != '%') ? 1 : 0;
    else if (span_is_cjk_punct(cp) || (kb_utf8_is_cjk(cp) && text_is_cjk_stop_char(s, (size_t)len)))
        k = (size_t)len;
    return k;
}

static bool span_is_month(const char *s, size_t n)
{
    static const char *const m[] = {"january", "february", "march", "april", "may", "june", "july", "august",
                                    "september", "october", "november", "december"};
    bool found = false;
    for (size_t i = 0; i < KB_ARRAY_LEN(m) && !found; i++)
        found = strlen(m[i]) == n && strncasecmp(s, m[i], n) == 0;
    return found;
}

/* Bytes of a leading function word ("the ", "was ", "by ") of s[0..n), 0 when none. */
static size_t span_function_word(const char *s, size_t n)
{
    char low[16];
    size_t k = 0, skip = 0;
    while (k < n && k < sizeof low && isalpha((unsigned char)s[k])) {
        low[k] = (char)tolower((unsigned char)s[k]);
        k++;
    }
    if (k > 0 && k < n && k < sizeof low && s[k] == ' ' && (text_is_stop_word(low, k) || text_is_weak_word(low, k)) &&
        !span_is_month(low, k))
        skip = k + 1;
    return skip;
}

/* Trims white space, punctuation and function words from both ends of s[*a..*b). */
static void span_trim(const char *s, size_t *a, size_t *b)
{
    size_t k = 1;
    while (*a < *b && k) {
        k = span_trim_char(s + *a, *b - *a);
        if (!k)
            k = span_function_word(s + *a, *b - *a);
        *a += k;
    }
    k = 1;
    while (*b > *a && k) {
        size_t back = 1;
        while (back < 4 && back < *b - *a && ((unsigned char)s[*b - back] & 0xC0) == 0x80)
            back++; /* to the start of the last character */
        k = span_trim_char(s + *b - back, back) == back ? back : 0;
        *b -= k;
    }
}

/* ---- numbers ------------------------------------------------------------------------------------ */


/* A unit of measure or time (folded): kept after its number even when the question names it. */
static bool span_is_unit(const char *w, size_t n)
{
    static const char *const units[] = {"second", "seconds", "minute", "minutes", "hour", "hours", "day", "days",
                                        "week", "weeks", "month", "months", "year", "years", "percent", "eur",
                                        "gbp", "usd", "dollars", "euros", "pounds", "km", "kg", "g", "m", "cm",
                                        "mm", "l", "ml", "w", "kw", "kwh", "v", "gb", "mb", "miles", "metres",
                                        "meters", "litres", "liters", "kilometres", "kilometers"};
    bool found = false;
    for (size_t i = 0; i < KB_ARRAY_LEN(units) && !found; i++)
        found = strlen(units[i]) == n && memcmp(units[i], w, n) == 0;
    return found;
}

/* A CJK measure word or unit that follows a number (年 月 日 岁 人 个 次 元 米 ...). */
static bool span_is_cjk_unit(const char *s, size_t n)
{
    static const char units[] = "年月日号时分秒岁人个次元米里克度天周场名家座位户倍亿万千百届项种件台辆本份条张点码磅镑吨升英公斤";
    bool found = false;
    for (size_t i = 0; i + 3 <= sizeof units - 1 && !found && n == 3; i += 3)
        found = memcmp(units + i, s, 3) == 0;
    return found;
}

/* The number expression starting at the digit s[i]: digits with , . separators, a % or a unit
 * word after it (one word of letters, or up to two CJK characters), a currency before it, a month
 * name around it. Returns its end; *start its start. */
static size_t span_number_at(const char *s, size_t n, size_t i, const struct rag_terms *qt, size_t *start)
{
    size_t e = i, a = i;
    while (e < n && (isdigit((unsigned char)s[e]) ||
                     ((s[e] == ',' || s[e] == '.' || s[e] == ':' || s[e] == '-') && e + 1 < n &&
                      isdigit((unsigned char)s[e + 1]))))
        e++; /* 2,400  3.5  3:08  24-10 */
    while (e + 3 < n && memcmp(s + e, "–", 3) == 0 && isdigit((unsigned char)s[e + 3])) {
        e += 3; /* 23–16 */
        while (e < n && isdigit((unsigned char)s[e]))
            e++;
    }
    if (e < n && s[e] == '%') {
        e++;
    } else if (e < n) {
        uint32_t cp;
        size_t w = e + (s[e] == ' ' ? 1 : 0);
        int len = kb_utf8_decode(s + w, n - w, &cp);
        if (len > 0 && span_is_cjk_unit(s + w, (size_t)len)) {
            e = w + (size_t)len; /* 12人, 1990年, 3.5公里 */
            len = e < n ? kb_utf8_decode(s + e, n - e, &cp) : 0;
            if (len > 0 && span_is_cjk_unit(s + e, (size_t)len))
                e += (size_t)len;
        } else if (w > e && w < n && isalpha((unsigned char)s[w])) {
            size_t k = w;
            while (k < n && isalpha((unsigned char)s[k]))
                k++;
            char low[16];
            size_t wn = k - w;
            for (size_t j = 0; j < wn && j < sizeof low; j++)
                low[j] = (char)tolower((unsigned char)s[w + j]);
            if (wn < sizeof low && !text_is_stop_word(low, wn) && !text_is_weak_word(low, wn) &&
                (span_is_unit(low, wn) || !(qt && span_is_question_term(qt, s + w, wn))))
                e = k; /* 45 days, 2400 EUR, 5 May; not the counted thing the question names (118
                        * "tackles"), but a unit of measure always (a quantity's unit is part of it) */
            if (e == k && !span_is_unit(low, wn) && k + 1 < n && s[k] == ' ') { /* 7 working days */
                size_t k2 = k + 1;
                char low2[16];
                while (k2 < n && isalpha((unsigned char)s[k2]) && k2 - k - 1 < sizeof low2) {
                    low2[k2 - k - 1] = (char)tolower((unsigned char)s[k2]);
                    k2++;
                }
                if (k2 > k + 1 && (k2 >= n || !isalpha((unsigned char)s[k2])) && span_is_unit(low2, k2 - k - 1))
                    e = k2;
            }
            if (span_is_month(s + w, wn) && k + 1 < n && s[k] == ' ' && isdigit((unsigned char)s[k + 1])) {
                e = k + 1; /* 5 May 1990 */
                while (e < n && isdigit((unsigned char)s[e]))
                    e++;
            }
        }
    }
    /* a currency before it: £ $ € or a code word ("EUR 2400") */
    if (a >= 2 && memcmp(s + a - 2, "£", 2) == 0)
        a -= 2;
    else if (a >= 3 && memcmp(s + a - 3, "€", 3) == 0)
        a -= 3;
    else if (a >= 1 && s[a - 1] == '$')
        a--;
    else if (a >= 2 && s[a - 1] == ' ') { /* a month before it: May 1990, September 5 */
        size_t k = a - 1;
        while (k > 0 && isalpha((unsigned char)s[k - 1]))
            k--;
        if (span_is_month(s + k, a - 1 - k))
            a = k;
    }
    *start = a;
    return e;
}

/* The number expression of s[a..b) that answers: one whose unit word is a question term ("how
 * many tackles" -> "118 tackles") first, else the one nearest the question terms' matches
 * [ma, mb) (offsets in s). False when s[a..b) holds no number. */
static bool span_pick_number(const char *s, size_t a, size_t b, const struct rag_terms *qt, long ma, long mb,
                             size_t *ns, size_t *ne)
{
    double best = -1;
    size_t i = a;
    while (i < b) {
        if (isdigit((unsigned char)s[i]) && (i == a || !isalnum((unsigned char)s[i - 1]))) {
            size_t st, e = span_number_at(s, b, i, qt, &st), dist = 0, d = i;
            double score;
            while (d < b && isdigit((unsigned char)s[d]))
                d++;
            if (span_is_question_term(qt, s + i, d - i)) { /* the question's own number is context */
                i = e > i ? e : i + 1;
                continue;
            }
            if (st < a)
                st = a;
            if (ma >= 0 && (long)e <= ma)
                dist = (size_t)ma - e;
            else if (mb >= 0 && (long)st >= mb)
                dist = st - (size_t)mb;
            score = 1.0 / (1.0 + (double)dist);
            if (e + 1 < b && s[e] == ' ' && isalpha((unsigned char)s[e + 1])) { /* the word after it */
                size_t k = e + 1;
                while (k < b && isalpha((unsigned char)s[k]))
                    k++;
                if (span_is_question_term(qt, s + e + 1, k - e - 1))
                    score += 2; /* names what the question counts: "118 tackles" */
            }
            if (score > best) {
                best = score;
                *ns = st;
                *ne = e;
            }
            i = e > i ? e : i + 1;
        } else {
            i++;
        }
    }
    return best >= 0;
}

size_t rag_answer_span(const char *s, size_t n, const struct rag_terms *qt, const double *w, bool wants_number,
                       size_t *off)
{
    struct span_clause c[SPAN_MAX_CLAUSES];
    int k = span_clauses(s, n, c), best = -1;
    size_t a = 0, b = n;
    for (int i = 0; i < k; i++) {
        for (int t = 0; t < qt->n; t++)
            if (rag_text_has_term(s + c[i].start, c[i].end - c[i].start, qt->term[t]))
                c[i].cov += w ? w[t] : 1;
        /* ties go to a clause that says something the question does not ("鲁迅" vs "原名周树人") */
        c[i].fresh = span_has_new(qt, s + c[i].start, c[i].end - c[i].start);
        if (c[i].cov > 0 && (best < 0 || c[i].cov > c[best].cov || (c[i].cov == c[best].cov && c[i].fresh && !c[best].fresh)))
            best = i;
    }
    if (best >= 0) {
        size_t ns, ne;
        long first, last;
        const char *cs = s + c[best].start;
        size_t cn = c[best].end - c[best].start;
        bool found = true;
        span_matches(qt, cs, cn, &first, &last);
        if (wants_number && span_pick_number(s, c[best].start, c[best].end, qt,
                                             first >= 0 ? (long)c[best].start + first : -1,
                                             last >= 0 ? (long)c[best].start + last : -1, &ns, &ne)) {
            a = ns;
            b = ne;
        } else if (wants_number && span_pick_number(s, 0, n, qt, (long)c[best].start, (long)c[best].end, &ns, &ne)) {
            a = ns; /* "The Aurora costs, in Portugal, 2400 EUR" */
            b = ne;
        } else if (last >= 0 && span_has_new(qt, cs + last, cn - (size_t)last)) {
            a = c[best].start + (size_t)last;
            b = c[best].end;
        } else if (first > 0 && span_has_new(qt, cs, (size_t)first)) {
            a = c[best].start;
            b = c[best].start + (size_t)first;
        } else if (best + 1 < k && c[best + 1].fresh) {
            a = c[best + 1].start;
            b = c[best + 1].end;
        } else {
            found = false; /* nothing stands out: the sentence */
        }
        if (found)
            span_trim(s, &a, &b);
        if (b <= a) {
            a = 0;
            b = n;
        }
    }
    *off = a;
    return b - a;
}
