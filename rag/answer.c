/* rag/answer.c: extractive answers, kbox's default answerer when no model is configured, and the
 * curated answers (FAQ pairs) every answer mode gives as written.
 *
 * Curated answers come first: when one of the first three passages is a stored question with its
 * curated answer (a FAQ pair, "Q: ...\nA: ..." as ingest/chunk.c writes it) and its question matches
 * the user's
 * (rag_answer_question_match: 0.6 x an F2, recall-weighted, of the two questions' term overlap --
 * words by stem, CJK by character, weighted by the knowledge base's IDF (index_idf) -- + 0.4 x the
 * embedder's cosine, and 0 when the two name different codes, error E7 against E4; at least
 * answer.faq_min_match, 0.49, the middle of the 0.44..0.54 gap between non-paraphrases and
 * paraphrases on the labelled set in tests/rag/test_faq_match.c), the pair's answer is the answer,
 * cited [1], mode "faq", confidence the match. A curated answer of the FAQ editor (rag/curated.c)
 * is such a pair with more "Q: " lines, its similar questions: the best match of them counts, and
 * rag_ask then reports it as mode "curated". Both questions are compared without their question
 * words (rag_question_mask: 多长时间, 多久, modal 需要, "how long"), so a shared "how long" does not
 * make a cancellation question match a returns question. The generative path (rag/kb.c) asks
 * rag_answer_is_curated first and answers such a pair here too.
 *
 * Otherwise every passage is split into sentences and the question into terms, both as text/
 * defines them (the sentences chunking and retrieval use; rag/text.c says which terms count), the
 * question's Chinese question words blanked first (segmented with index.segment_dict). A
 * term weighs its IDF over the knowledge base (how specific it is; without the store's statistics,
 * its rarity among the candidate sentences). A sentence's coverage is the weighted share of the
 * question's terms it holds (a table row also through its header line, any sentence also through
 * its passage's document context: "Acme" in "What is the warranty at Acme?" is held by every
 * sentence of Acme's handbook), and its score
 *   0.55 * coverage
 * + 0.25 * vector similarity       (question and sentence embedded with the KB's embedder)
 * + 0.10 * proximity               (adjacent question-term pairs found next to each other)
 * + 0.10 * retrieval rank prior    (1 for the best passage, falling with rank)
 * + 0.10 * term overlap with the passage's heading path and document context (the section's and
 *          the document's names)
 * + 0.08 when the question asks for a number or a time and the sentence holds one (a digit, an
 *        English number word, Chinese numerals before a measure word; when a Chinese question asks
 *        几天 or 多少个, a number before that measure word: answer_has_number; when it asks how
 *        long, "how long", 多长时间, 多久, a number before a unit of time: answer_has_duration).
 * A sentence that is itself a question (FAQ "Q: ...?") is not an answer: its score and coverage
 * pass to the sentence after it, which is how FAQ pairs answer when their question matches only
 * loosely. The best sentence and up to answer.max_sentences - 1 more scoring within 0.75 of it are
 * taken, each further one covering a question term the ones before do not (no off-topic sentence
 * that merely repeats the topic words: "The Aurora e-bike launches in Lisbon" for the price); never
 * a sentence holding none of the question's terms itself, a bare heading or title (nor one on a
 * line that is a heading of its path, "1. Returns" cut after "1.", or that the chunker marked as a
 * heading, "## 2. Warranty"), or a table's header line (no such sentence: the fallback). They
 * are written in the order of their coverage, cited [n] (one number per passage), a table row
 * with its header ("Aurora | 2400 EUR" under "Product | Price" as "Product: Aurora, Price: 2400
 * EUR"). The confidence is the best score, lowered by the weight of the question's terms that no
 * passage holds (a topic the documents lack); English "long" of "how long" is not counted there,
 * being a question word the text need not say. With answer.extractive_span (off by default,
 * docs/BENCHMARKS.md says why) the answer is the best-covering sentence alone, cut to the
 * fragment that holds the answer (rag/span.c). Below answer.min_confidence the configured fallback
 * text is answered with no citations.
 * Allocation: the result strings (owned by the rag_answer); scratch is per call.
 * Tests: tests/rag/test_answer.c, test_faq_answer.c, test_faq_match.c, test_extractive.c, test_span.c,
 * test_curated.c, test_question_words.c. */
#include "rag/rag_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANSWER_MAX_SENTENCES 512
#define ANSWER_QUESTION_MAX 4096 /* bytes of a question whose terms count (text_query_terms reads fewer) */

enum cand_table { CAND_PROSE, CAND_TABLE_HEADER, CAND_TABLE_ROW };

struct cand {
    int passage;       /* index into the passages */
    size_t start, end; /* sentence bytes in the passage text */
    int ordinal;       /* position within its passage */
    bool is_question;
    enum cand_table table;   /* a table's header line or one of its rows (answer_table_role) */
    size_t hstart, hend;     /* CAND_TABLE_ROW: its table's header line in the passage text */
    double overlap;          /* coverage: the weighted share of the question's terms it holds, in [0, 1],
                                counting those its document context holds ("Acme" in Acme's handbook) */
    double own;              /* the same without the document context: the sentence's own terms */
    double vector, prox, prior, score;
    double ctx;              /* the part of score the document context gave (not counted for the cut) */
};

static bool answer_is_question(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == 'Q' || s[0] == 'q') && s[1] == ':')
        return true;
    if (n >= 3 && memcmp(s, "问", 3) == 0)
        return true;
    if (n >= 1 && s[n - 1] == '?')
        return true;
    return n >= 3 && memcmp(s + n - 3, "？", 3) == 0;
}

/* Strips "A:" / "答：" style prefixes from an answer sentence. */
static void answer_strip_prefix(const char **s, size_t *n)
{
    static const char *const prefixes[] = {"A:", "a:", "答：", "答:"};
    for (size_t i = 0; i < KB_ARRAY_LEN(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (*n > k && memcmp(*s, prefixes[i], k) == 0) {
            *s += k;
            *n -= k;
            while (*n && (**s == ' ' || **s == '\t')) {
                (*s)++;
                (*n)--;
            }
            return;
        }
    }
}

/* Questions that ask for a number, a time or an amount ("how many", "when", "多少", "几"). */
static bool answer_wants_number(const char *q)
{
    static const char *const cues[] = {"how many", "how much", "how long", "when ", "what time", "how often",
                                       "what is the price", " cost", "多少", "几", "多久", "多长", "什么时候", "何时"};
    char low[512];
    size_t n = kb_strlcpy(low, q, sizeof low);
    for (size_t i = 0; i < n && i < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)low[i]);
    for (size_t i = 0; i < KB_ARRAY_LEN(cues); i++)
        if (strstr(low, cues[i]))
            return true;
    return false;
}

#define ANSWER_ZH_NUMERALS "一二三四五六七八九十百千万两"
#define ANSWER_ZH_UNITS "天日周年月个元次小分秒岁人件倍台"

/* Whether the 3-byte character c is one of set's (3-byte characters only). */
static bool answer_in_set3(const char *set, const char *c)
{
    for (const char *x = set; x[0] && x[1] && x[2]; x += 3)
        if (memcmp(x, c, 3) == 0)
            return true;
    return false;
}

/* The measure word a Chinese question asks a number of: the character after 几 or 多少 when it is
 * one (几天 -> 天, 多少个月 -> 个), else NULL. */
static const char *answer_asked_unit(const char *q)
{
    static const char *const asks[] = {"几", "多少"};
    for (size_t k = 0; k < KB_ARRAY_LEN(asks); k++)
        for (const char *at = strstr(q, asks[k]); at; at = strstr(at + 1, asks[k])) {
            const char *u = at + strlen(asks[k]);
            if (strlen(u) >= 3 && answer_in_set3(ANSWER_ZH_UNITS, u))
                return u;
        }
    return NULL;
}

/* True when w[0..n) is an English number word from two up, or from one with one (a duration's
 * "one year"; elsewhere "one" is mostly a pronoun). */
static bool answer_number_word(const char *w, size_t n, bool one)
{
    static const char *const words[] = {"one",    "two",     "three",  "four",   "five",   "six",     "seven",
                                        "eight",  "nine",    "ten",    "eleven", "twelve", "fifteen", "twenty",
                                        "thirty", "forty",   "fifty",  "sixty",  "ninety", "hundred", "thousand"};
    for (size_t k = one ? 0 : 1; k < KB_ARRAY_LEN(words); k++)
        if (strlen(words[k]) == n && strncasecmp(w, words[k], n) == 0)
            return true;
    return false;
}

/* A number in s: a digit, an English number word from two up ("a two-year warranty", "three
 * weeks"; not "one", which is mostly a pronoun), or Chinese numerals before a measure word
 * (二十天, 三个月, 两周; not the 一 of 一起). With unit (a 3-byte measure word the question asks
 * for, answer_asked_unit) only a number, in digits or Chinese numerals, right before that unit
 * counts: "有几天年假" wants 二十天 or 20天, not the 三月 of another sentence. */
static bool answer_has_number(const char *s, size_t n, const char *unit)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)s[i];
        size_t e = i;
        if (isdigit(u)) {
            while (e < n && (isdigit((unsigned char)s[e]) || s[e] == '.' || s[e] == ' '))
                e++;
        } else if (u >= 0xE0) {
            while (e + 3 <= n && answer_in_set3(ANSWER_ZH_NUMERALS, s + e))
                e += 3;
        } else if (isalpha(u) && !unit && (i == 0 || !isalpha((unsigned char)s[i - 1]))) {
            while (e < n && isalpha((unsigned char)s[e]))
                e++;
            if (answer_number_word(s + i, e - i, false))
                return true;
            i = e - 1;
            continue;
        } else {
            continue;
        }
        if (e > i && !unit && isdigit(u))
            return true;
        if (e > i && e + 3 <= n && (unit ? memcmp(s + e, unit, 3) == 0 : answer_in_set3(ANSWER_ZH_UNITS, s + e)))
            return true;
        i = e > i ? e - 1 : i + 2; /* past the run, or past this 3-byte character */
    }
    return false;
}

/* Questions that ask how long something takes or lasts ("how long", 多长时间, 多久). */
static bool answer_asks_duration(const char *q)
{
    static const char *const cues[] = {"多长", "多久", "多少时间"}; /* 多长 covers 多长时间 */
    char low[512];
    size_t n = kb_strlcpy(low, q, sizeof low);
    for (size_t i = 0; i < n && i < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)low[i]);
    for (const char *at = strstr(low, "how long"); at; at = strstr(at + 1, "how long"))
        if ((at == low || !isalpha((unsigned char)at[-1])) && !isalpha((unsigned char)at[8]))
            return true;
    for (size_t i = 0; i < KB_ARRAY_LEN(cues); i++)
        if (strstr(q, cues[i]))
            return true;
    return false;
}

/* True when s[i..n) starts with a unit of time, English ("days", "24-month") or Chinese (天, 个月,
 * 小时, 工作日). */
static bool answer_time_unit(const char *s, size_t i, size_t n)
{
    static const char *const en[] = {"day", "week", "month", "year", "hour", "minute", "second", "fortnight"};
    static const char *const zh[] = {"天", "日", "周", "年", "月", "个月", "小时", "分钟", "秒", "星期", "工作日",
                                     "个工作日", "个小时", "个星期"};
    for (size_t k = 0; k < KB_ARRAY_LEN(en); k++) {
        size_t l = strlen(en[k]);
        if (i + l <= n && strncasecmp(s + i, en[k], l) == 0 &&
            (i + l == n || !isalpha((unsigned char)s[i + l]) || s[i + l] == 's'))
            return true;
    }
    for (size_t k = 0; k < KB_ARRAY_LEN(zh); k++) {
        size_t l = strlen(zh[k]);
        if (i + l <= n && memcmp(s + i, zh[k], l) == 0)
            return true;
    }
    return false;
}

/* A duration in s: a number (digits, an English number word from one up, Chinese numerals) then,
 * past spaces, a hyphen and at most one word ("7 working days", "24-month"), a unit of time.
 * "How long" wants 45 days or 45 天, not the digits of a phone number. */
static bool answer_has_duration(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)s[i];
        size_t e = i;
        if (isdigit(u) && (i == 0 || !isalpha((unsigned char)s[i - 1]))) {
            while (e < n && (isdigit((unsigned char)s[e]) || s[e] == '.' || s[e] == ','))
                e++;
        } else if (u >= 0xE0) {
            while (e + 3 <= n && answer_in_set3(ANSWER_ZH_NUMERALS, s + e))
                e += 3;
        } else if (isalpha(u) && (i == 0 || !isalpha((unsigned char)s[i - 1]))) {
            while (e < n && isalpha((unsigned char)s[e]))
                e++;
            if (!answer_number_word(s + i, e - i, true)) {
                i = e - 1;
                continue;
            }
        }
        if (e == i) {
            while (i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80)
                i++; /* to the next character */
            continue;
        }
        size_t j = e;
        while (j < n && (s[j] == ' ' || s[j] == '-'))
            j++;
        if (answer_time_unit(s, j, n))
            return true;
        size_t w = j; /* one word between: "7 working days", "3 business days" */
        while (w < n && isalpha((unsigned char)s[w]))
            w++;
        if (w > j && w < n && s[w] == ' ' && answer_time_unit(s, w + 1, n))
            return true;
        i = e - 1;
    }
    return false;
}

static double answer_proximity(const char *question, const char *s, size_t n)
{
    /* Fraction of consecutive question-term pairs that also stand consecutively in s. */
    struct rag_terms qt;
    int pairs = 0, hits = 0;
    rag_terms_extract(question, strlen(question), &qt);
    for (int i = 0; i + 1 < qt.n; i++) {
        char phrase[160];
        const char *a = qt.term[i], *b = qt.term[i + 1];
        if (qt.cjk[i] || qt.cjk[i + 1])
            continue; /* CJK bigrams already encode adjacency */
        snprintf(phrase, sizeof phrase, "%s %s", a, b);
        pairs++;
        if (rag_text_has_term(s, n, phrase))
            hits++;
    }
    return pairs ? (double)hits / pairs : 0.0;
}

static int answer_add_citation(struct rag_answer *out, const struct rag_passage *p, int *cite_of, int idx)
{
    struct rag_citation *c;
    if (cite_of[idx])
        return cite_of[idx];
    c = &out->citations[out->n_citations++];
    c->n = out->n_citations;
    c->chunk_id = p[idx].chunk_id;
    c->document = kb_xstrdup(p[idx].document ? p[idx].document : "");
    c->heading_path = kb_xstrdup(p[idx].heading_path ? p[idx].heading_path : "");
    c->document_id = p[idx].document_id;
    c->page = p[idx].page;
    c->page_end = p[idx].page_end;
    c->text = kb_xstrdup(p[idx].text ? p[idx].text : "");
    cite_of[idx] = c->n;
    return c->n;
}

/* A stored question with its curated answer: a FAQ chunk, which ingest/chunk.c always writes as
 * "Q: question\nA: answer" whatever the source's markers were (Q:/A:, 问：/答：, CSV columns).
 * Finds the two sides in text; false when text is not such a pair. Curated answers reuse this path
 * through answer_from_pair. */
static bool answer_split_pair(const char *text, const char **q, size_t *qn, const char **a, size_t *an)
{
    const char *m;
    if (strncmp(text, "Q: ", 3) != 0 || !(m = strstr(text + 3, "\nA: ")))
        return false;
    *q = text + 3;
    *qn = (size_t)(m - *q);
    *a = m + 4;
    *an = strlen(*a);
    while (*an && ((*a)[*an - 1] == '\n' || (*a)[*an - 1] == ' '))
        (*an)--;
    return *qn > 0 && *an > 0;
}

/* The terms two questions are compared by: words (rag_terms_extract) matched by stem, and for CJK
 * text its single characters other than function characters (什 么 多 可 以 ...), not its pairs: in
 * two short questions a pair straddles a word boundary as often as not (订单多久之内 against 下单后多长
 * 时间内), which made paraphrases score like unrelated questions on the labelled set of
 * tests/rag/test_faq_match.c, while the characters still carry the topic. */
#define ANSWER_QT_MAX (2 * TEXT_MAX_TERMS)
enum qterm_kind { QT_WORD, QT_CJK_CHAR };
struct answer_qterms {
    char term[ANSWER_QT_MAX][TEXT_TOKEN_MAX_BYTES + 1]; /* folded words / CJK bytes, NUL-terminated */
    char stem[ANSWER_QT_MAX][TEXT_TOKEN_MAX_BYTES + 1]; /* words: rag_text_stem; CJK: the term */
    enum qterm_kind kind[ANSWER_QT_MAX];
    int n;
};

static void qterms_add(struct answer_qterms *q, const char *t, size_t n, enum qterm_kind kind)
{
    bool dup = false;
    if (q->n >= ANSWER_QT_MAX || n == 0 || n > TEXT_TOKEN_MAX_BYTES)
        dup = true; /* full, or nothing to add */
    if (!dup) {
        memcpy(q->term[q->n], t, n);
        q->term[q->n][n] = '\0';
        if (kind == QT_WORD)
            rag_text_stem(t, n, q->stem[q->n], sizeof q->stem[q->n]);
        else
            memcpy(q->stem[q->n], q->term[q->n], n + 1);
        for (int i = 0; i < q->n && !dup; i++)
            dup = !strcmp(q->stem[i], q->stem[q->n]); /* already there */
    }
    if (!dup)
        q->kind[q->n++] = kind;
}

static void qterms_build(const char *text, size_t n, struct answer_qterms *q)
{
    struct rag_terms rt;
    size_t i = 0;
    q->n = 0;
    rag_terms_extract(text, n, &rt);
    for (int t = 0; t < rt.n; t++)
        if (!rt.cjk[t])
            qterms_add(q, rt.term[t], strlen(rt.term[t]), QT_WORD);
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(text + i, n - i, &cp);
        if (len <= 0)
            len = 1;
        else if (kb_utf8_is_cjk(cp) && !text_is_cjk_stop_char(text + i, (size_t)len))
            qterms_add(q, text + i, (size_t)len, QT_CJK_CHAR);
        i += (size_t)len;
    }
}

/* The weight of one question term: its IDF over the knowledge base's chunks when stats are given
 * (index_idf: the real document frequencies, so a word the knowledge base never uses, "frother",
 * weighs most), else its rarity among the passages. */
static double answer_term_weight(const char *term, const struct index_term_stats *stats,
                                 const struct rag_passage *p, int n_passages)
{
    int df = 0;
    double w;
    if (stats && stats->idf) {
        w = stats->idf(stats->ud, term, strlen(term));
    } else {
        for (int i = 0; i < n_passages; i++)
            df += p[i].text && rag_text_has_term(p[i].text, strlen(p[i].text), term);
        w = log(1.0 + (double)n_passages / (1.0 + df));
    }
    return w;
}

/* The weighted share of from's terms that the other question holds (a word by its stem, CJK by
 * its bytes). */
static double answer_term_share(const struct answer_qterms *from, const struct answer_qterms *to,
                                const char *to_text, size_t to_n, const struct index_term_stats *stats,
                                const struct rag_passage *p, int n_passages)
{
    double hit = 0, sum = 0;
    for (int t = 0; t < from->n; t++) {
        double w = answer_term_weight(from->term[t], stats, p, n_passages);
        bool found = false;
        sum += w;
        if (from->kind[t] == QT_CJK_CHAR)
            found = rag_text_has_term(to_text, to_n, from->term[t]);
        for (int i = 0; i < to->n && !found; i++)
            found = to->kind[i] == QT_WORD && !strcmp(to->stem[i], from->stem[t]);
        if (found)
            hit += w;
    }
    return sum > 0 ? hit / sum : 0;
}

/* True when both questions name codes (words with a digit: E4, HK-350, 2026) and the user names one
 * the stored question does not: "error E7" is not "error E4", however alike the rest reads. */
static bool answer_codes_conflict(const struct answer_qterms *user, const struct answer_qterms *stored)
{
    bool stored_has = false, missing = false;
    for (int i = 0; i < stored->n; i++)
        stored_has |= stored->kind[i] == QT_WORD && strpbrk(stored->term[i], "0123456789") != NULL;
    for (int i = 0; i < user->n && stored_has && !missing; i++) {
        bool found = false;
        if (user->kind[i] != QT_WORD || !strpbrk(user->term[i], "0123456789"))
            continue;
        for (int j = 0; j < stored->n && !found; j++)
            found = stored->kind[j] == QT_WORD && !strcmp(stored->term[j], user->term[i]);
        missing = !found;
    }
    return missing;
}

double rag_answer_question_match(const char *question, const char *stored, size_t stored_n,
                                 const struct rag_passage *p, int n_passages, const struct rag_embedder_ref *emb,
                                 const struct index_term_stats *stats, struct kb_error *err)
{
    struct answer_qterms *qt = kb_xcalloc(2, sizeof *qt), *st = qt + 1;
    double overlap, r, pr, cosine = 0, match;
    bool conflict;
    const struct text_dict *dict = stats ? stats->dict : NULL;
    char *mq = kb_xmalloc(ANSWER_QUESTION_MAX + 1), *ms = kb_xmalloc(ANSWER_QUESTION_MAX + 1);
    size_t qn = rag_question_mask(question, strlen(question), dict, true, mq, ANSWER_QUESTION_MAX + 1);
    size_t sn = rag_question_mask(stored, stored_n, dict, true, ms, ANSWER_QUESTION_MAX + 1);
    /* terms of what each question is about: its question words ("how long", 多长时间) blanked */
    qterms_build(mq, qn, qt);
    qterms_build(ms, sn, st);
    /* an F2 of the share of the user's terms found in the stored question (recall: what is asked
     * must be what the pair answers, so "a milk frother" against "Which products do you sell?"
     * cannot ride on the words the two share) and of the stored question's terms found in the
     * user's (precision: a general question should not take a specific pair's answer). Recall
     * counts four times as much: a stored question's extra words are mostly its own phrasing
     * ("How long do I have to" cancel an order) */
    r = answer_term_share(qt, st, ms, sn, stats, p, n_passages);
    pr = answer_term_share(st, qt, mq, qn, stats, p, n_passages);
    conflict = answer_codes_conflict(qt, st);
    free(qt);
    free(mq);
    free(ms);
    overlap = r + pr > 0 ? 5 * r * pr / (4 * pr + r) : 0;
    match = overlap;
    if (emb && emb->embed && !conflict) {
        float *v = kb_xcalloc(2 * (size_t)emb->dim, sizeof *v);
        char *sq = kb_xstrndup(stored, stored_n);
        const char *texts[2] = {question, sq};
        if (emb->embed(emb->ud, texts, 2, v, err) == 0) {
            for (int d = 0; d < emb->dim; d++)
                cosine += (double)v[d] * v[emb->dim + d];
        }
        free(sq);
        free(v);
        match = 0.6 * overlap + 0.4 * (cosine > 0 ? cosine : 0);
    }
    return conflict ? 0 : match;
}

/* Answers with a stored pair's answer text, cited [1], mode "faq". */
static int answer_from_pair(const struct rag_passage *p, int idx, const char *a, size_t an, double match,
                            struct rag_answer *out, struct kb_error *err)
{
    int cite_of_one[1] = {0}, rc = 0, num;
    struct kb_buf ans;
    kb_buf_init(&ans, 1 << 20);
    out->mode = "faq";
    out->confidence = match > 1 ? 1 : match;
    out->citations = kb_xcalloc(1, sizeof *out->citations);
    num = answer_add_citation(out, p + idx, cite_of_one, 0);
    rc = kb_buf_append(&ans, a, an);
    rc = rc ? rc : kb_buf_printf(&ans, rag_text_is_cjk_heavy(a, an) ? "[%d]" : " [%d]", num);
    out->answer = kb_buf_take(&ans);
    if (rc)
        rc = kb_error_set(err, rc, "composing the FAQ answer: %s", kb_strerror(rc));
    kb_buf_release(&ans);
    return rc;
}

/* The next "\nQ: " in s[0..n) (a curated entry's next similar question), or NULL. */
static const char *answer_next_q(const char *s, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (s[i] == '\n' && !memcmp(s + i, "\nQ: ", 4))
            return s + i;
    return NULL;
}

/* True when p[0] is a stored question with its curated answer (answer_split_pair) whose question
 * matches the user's by at least answer.faq_min_match; *a, *an then hold the answer, *match the score.
 * The first ANSWER_CURATED_DEPTH passages are tried in rank order, not the first alone: the match
 * compares the two questions, whatever the retrieval order (a section whose heading shares the
 * question's words may rank above the pair); *idx is the pair's passage. */
#define ANSWER_CURATED_DEPTH 3
static bool answer_curated(const struct config *cfg, const char *question, const struct rag_passage *p,
                           int n_passages, const struct rag_embedder_ref *emb, const struct index_term_stats *stats,
                           const char **a, size_t *an, double *match, int *idx)
{
    bool found = false;
    *match = 0;
    for (int i = 0; i < n_passages && i < ANSWER_CURATED_DEPTH && !found; i++) {
        const char *sq;
        size_t sqn;
        double best = 0;
        if (!p[i].text || !answer_split_pair(p[i].text, &sq, &sqn, a, an))
            continue;
        /* a curated entry (rag/curated.c) holds its similar questions as more "Q: " lines: the
         * best of them is the match */
        while (sqn > 0) {
            const char *nl = answer_next_q(sq, sqn);
            size_t len = nl ? (size_t)(nl - sq) : sqn;
            double m = rag_answer_question_match(question, sq, len, p, n_passages, emb, stats, NULL);
            best = m > best ? m : best;
            if (!nl)
                break;
            sqn -= len + 4;
            sq = nl + 4;
        }
        *match = best;
        found = best >= cfg->answer_faq_min_match;
        *idx = i;
    }
    return found;
}

bool rag_answer_is_curated(const struct config *cfg, const char *question, const struct rag_passage *p,
                           int n_passages, const struct rag_embedder_ref *emb, const struct index_term_stats *stats)
{
    const char *a;
    size_t an;
    double match;
    int idx;
    return answer_curated(cfg, question, p, n_passages, emb, stats, &a, &an, &match, &idx);
}

static double answer_store_idf(void *ud, const char *term, size_t n)
{
    return index_idf(ud, term, n);
}

void rag_store_term_stats(struct index_store *st, struct index_term_stats *out)
{
    out->idf = answer_store_idf;
    out->ud = st;
    out->dict = NULL;
}

const struct text_dict *rag_question_dict(struct rag *r, const struct config *cfg)
{
    const char *path = cfg->index_segment_dict ? cfg->index_segment_dict : "";
    const struct text_dict *d;
    pthread_mutex_lock(&r->lock);
    if (strcmp(r->dict_path, path) != 0) {
        struct kb_error err = {0};
        text_dict_free(r->dict);
        r->dict = NULL;
        kb_strlcpy(r->dict_path, path, sizeof r->dict_path);
        if (path[0] && text_dict_open(&r->dict, path, &err) != 0)
            kb_warn("question words: %s (questions are read without a word list)", err.msg);
    }
    d = r->dict;
    pthread_mutex_unlock(&r->lock);
    return d;
}

static int cand_by_score(const void *a, const void *b);

/* A line of a table as ingest writes it: cells joined by " | " (the header line on top of every
 * table chunk, and the rows of a table without header names). */
static bool answer_is_pipe_line(const char *s, size_t n)
{
    bool found = false;
    for (size_t i = 0; i + 3 <= n && !found; i++)
        found = s[i] == ' ' && s[i + 1] == '|' && s[i + 2] == ' ';
    return found;
}

/* Where the sentence at text[start..end) stands in a table chunk: the first " | " line of a passage
 * with lines after it is a table's header line (ingest/chunk.c puts it on top of every table chunk,
 * after an optional caption); a later line is one of its rows ("Name: Aurora, Price: 2400 EUR", or
 * "Aurora | 2400 EUR" when the source named no columns), whose header is then [*hs, *he). */
static enum cand_table answer_table_role(const char *text, size_t start, size_t end, size_t *hs, size_t *he)
{
    size_t ls = 0, n = strlen(text);
    enum cand_table role = CAND_PROSE;
    while (ls < n) {
        const char *nl = memchr(text + ls, '\n', n - ls);
        size_t le = nl ? (size_t)(nl - text) : n;
        if (answer_is_pipe_line(text + ls, le - ls)) {
            if (le >= n)
                break; /* one line alone is no table */
            *hs = ls;
            *he = le;
            if (start >= ls && start < le)
                role = end <= le + 1 ? CAND_TABLE_HEADER : CAND_PROSE;
            else if (start > le)
                role = CAND_TABLE_ROW;
            break;
        }
        if (start < le)
            break; /* a caption line before the header */
        ls = le + 1;
    }
    return role;
}

/* The cells of one " | " line, trimmed: at most max; returns the count. */
static int answer_cells(const char *s, size_t n, const char **cell, size_t *len, int max)
{
    int k = 0;
    size_t i = 0;
    while (i <= n && k < max) {
        size_t j = i;
        while (j + 3 <= n && !(s[j] == ' ' && s[j + 1] == '|' && s[j + 2] == ' '))
            j++;
        if (j + 3 > n)
            j = n;
        cell[k] = s + i;
        len[k] = j - i;
        while (len[k] && (cell[k][len[k] - 1] == ' ' || cell[k][len[k] - 1] == '\n'))
            len[k]--;
        k++;
        i = j + 3;
    }
    return k;
}

/* Appends a table row with its header: a row that does not name its columns ("Aurora | 2400 EUR"
 * under "Product | Price") is written as ingest writes named rows, "Product: Aurora, Price: 2400
 * EUR"; a row that names them already stands as it is. */
static int answer_put_row(struct kb_buf *b, const char *row, size_t rn, const char *head, size_t hn)
{
    const char *hc[32], *rcell[32];
    size_t hl[32], rl[32];
    int nh, nr, rc = 0;
    if (!answer_is_pipe_line(row, rn)) {
        rc = kb_buf_append(b, row, rn);
    } else {
        nh = answer_cells(head, hn, hc, hl, 32);
        nr = answer_cells(row, rn, rcell, rl, 32);
        if (nh != nr) { /* the cells do not line up: the header line, then the row */
            rc = kb_buf_append(b, head, hn);
            rc = rc ? rc : kb_buf_puts(b, ": ");
            rc = rc ? rc : kb_buf_append(b, row, rn);
        }
        for (int i = 0; i < nr && nh == nr && !rc; i++)
            rc = kb_buf_printf(b, "%s%.*s: %.*s", i ? ", " : "", (int)hl[i], hc[i], (int)rl[i], rcell[i]);
    }
    return rc;
}

/* True when s[0..n), spaces and line breaks around it aside, is exactly name[0..k). */
static bool answer_is_name(const char *name, size_t k, const char *s, size_t n)
{
    while (n && (*s == '\n' || *s == ' ')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    return k && k == n && memcmp(name, s, n) == 0;
}

/* True when s[0..n) is one of the headings of the path "A > B > C" or the document's name (the
 * context: a text file's title line). */
static bool answer_is_heading_of(const struct rag_passage *p, const char *s, size_t n)
{
    const char *hp = p->heading_path ? p->heading_path : "";
    if (p->context && answer_is_name(p->context, strlen(p->context), s, n))
        return true;
    for (const char *h = hp; *h;) {
        const char *gt = strstr(h, " > ");
        size_t k = gt ? (size_t)(gt - h) : strlen(h);
        if (answer_is_name(h, k, s, n))
            return true;
        h = gt ? gt + 3 : h + k;
    }
    return false;
}

/* A sentence that only repeats a heading of its passage or its document's name: the sentence
 * itself, or the line it sits on (the sentence splitter cuts the heading line "1. Returns" after
 * "1."); or one on a heading line the chunker wrote when it carried a short run into the next
 * section ("## 2. Warranty", ingest/chunk.c). */
static bool answer_is_bare_heading(const struct rag_passage *p, size_t start, size_t end)
{
    const char *t = p->text;
    size_t ls = start, le = end;
    while (ls > 0 && t[ls - 1] != '\n')
        ls--;
    while (t[le] && t[le] != '\n')
        le++;
    size_t h = ls;
    while (h < le && t[h] == '#')
        h++;
    if (h > ls && h < le && t[h] == ' ')
        return true; /* "## 2. Warranty": a heading the chunker carried into the text */
    return answer_is_heading_of(p, t + start, end - start) || answer_is_heading_of(p, t + ls, le - ls);
}

static int cand_by_coverage(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->overlap != y->overlap ? (x->overlap < y->overlap ? 1 : -1) : cand_by_score(a, b);
}

static int cand_by_score(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->passage != y->passage)
        return x->passage - y->passage;
    return x->ordinal - y->ordinal;
}

static void answer_fallback(const struct config *cfg, struct rag_answer *out, double confidence)
{
    out->answer = kb_xstrdup(cfg->answer_fallback);
    out->fallback = true;
    out->confidence = confidence;
}

/* True when the candidate holds term: the sentence itself, or for a table row its header line
 * (a row under "Product | Price" answers a question about the price). */
static bool answer_cand_has(const struct rag_passage *p, const struct cand *c, const char *term)
{
    const char *t = p[c->passage].text;
    return rag_text_has_term(t + c->start, c->end - c->start, term) ||
           (c->table == CAND_TABLE_ROW && rag_text_has_term(t + c->hstart, c->hend - c->hstart, term));
}

/* True when the candidate's document context holds term: the question names the document. */
static bool answer_ctx_has(const struct rag_passage *p, const struct cand *c, const char *term)
{
    const char *x = p[c->passage].context;
    return x && x[0] && rag_text_has_term(x, strlen(x), term);
}

/* True when term is one of the question's terms only because a question word kept it ("long" of
 * "how long": the scorer keeps it, topic is the question's terms without it). */
static bool answer_is_how_word(const struct rag_terms *topic, const char *term)
{
    for (int i = 0; i < topic->n; i++)
        if (strcmp(topic->term[i], term) == 0)
            return false;
    return true;
}

/* Picks the answer's sentences from the candidates c[0..n) (best score first) and writes them with
 * their [n] markers: the best answerable one, then up to answer.max_sentences - 1 more scoring
 * within 0.75 of it that each cover a question term the ones before do not. Never a question, a
 * bare heading, a table's header line or a sentence covering none of the question's terms. The
 * picks are written in the order of their coverage, a table row with its header. */
static int answer_compose(const struct config *cfg, const char *question, const struct rag_terms *qt,
                          const double *weights, const struct rag_passage *p, struct cand *c, int n, int *cite_of,
                          struct rag_answer *out, struct kb_buf *ans)
{
    int max = cfg->answer_extractive_span ? 1 : cfg->answer_max_sentences;
    bool cjk = rag_text_is_cjk_heavy(question, strlen(question));
    bool *covered = kb_xcalloc((size_t)qt->n, sizeof *covered);
    struct cand *pick = kb_xcalloc((size_t)max, sizeof *pick);
    int used = 0, rc = 0;
    for (int s = 0; s < n && used < max; s++) {
        const char *st = p[c[s].passage].text + c[s].start;
        size_t sn = c[s].end - c[s].start;
        bool adds = false;
        if (used > 0 && c[s].score - c[s].ctx < 0.75 * (pick[0].score - pick[0].ctx))
            continue; /* the context says which document, not how much of it answers */
        answer_strip_prefix(&st, &sn);
        if (sn == 0 || c[s].is_question || c[s].own <= 0 || c[s].table == CAND_TABLE_HEADER ||
            answer_is_bare_heading(&p[c[s].passage], c[s].start, c[s].end))
            continue;
        /* a further sentence must cover a question term the answer does not cover yet: one that
         * only repeats the topic words ("The Aurora e-bike launches in Lisbon") adds nothing */
        for (int t = 0; t < qt->n; t++)
            if (!covered[t] && (answer_cand_has(p, &c[s], qt->term[t]) || answer_ctx_has(p, &c[s], qt->term[t]))) {
                covered[t] = true;
                adds = true;
            }
        if (used > 0 && !adds)
            continue;
        pick[used++] = c[s];
    }
    /* most of the question covered first */
    qsort(pick, (size_t)used, sizeof *pick, cand_by_coverage);
    for (int i = 0; i < used && !rc; i++) {
        const char *text = p[pick[i].passage].text, *st = text + pick[i].start;
        size_t sn = pick[i].end - pick[i].start;
        bool fresh = !cite_of[pick[i].passage]; /* the citation gives the pages of its sentences */
        int num = answer_add_citation(out, p, cite_of, pick[i].passage);
        rag_citation_pages(&out->citations[num - 1], &p[pick[i].passage], pick[i].start, pick[i].end, fresh);
        answer_strip_prefix(&st, &sn);
        while (sn && (st[sn - 1] == '\n' || st[sn - 1] == ' '))
            sn--;
        if (i > 0 && !cjk)
            rc = kb_buf_putc(ans, ' ');
        if (pick[i].table == CAND_TABLE_ROW) {
            rc = rc ? rc : answer_put_row(ans, st, sn, text + pick[i].hstart, pick[i].hend - pick[i].hstart);
        } else {
            if (cfg->answer_extractive_span) { /* the fragment that holds the answer */
                size_t off = 0;
                sn = rag_answer_span(st, sn, qt, weights, answer_wants_number(question), &off);
                st += off;
            }
            rc = rc ? rc : kb_buf_append(ans, st, sn);
        }
        rc = rc ? rc : kb_buf_printf(ans, cjk ? "[%d]" : " [%d]", num);
    }
    free(pick);
    free(covered);
    return rc;
}

int rag_answer_extractive(const struct config *cfg, const char *question, const struct rag_passage *p,
                          int n_passages, const struct rag_embedder_ref *emb, const struct index_term_stats *stats,
                          struct rag_answer *out, struct kb_error *err)
{
    struct cand *c = kb_xcalloc(ANSWER_MAX_SENTENCES, sizeof *c);
    struct text_span spans[128];
    struct rag_terms qt, topic;
    char *masked = NULL;
    double *weights = NULL, wsum = 0, missing = 0;
    float *vecs = NULL;
    int n = 0, rc = 0, *cite_of = NULL;
    struct kb_buf ans;

    memset(out, 0, sizeof *out);
    out->mode = "extractive";
    kb_buf_init(&ans, 1 << 20);
    /* the terms of what is asked about: the question words ("how long", 多长时间) blanked out, so a
     * sentence that only shares them (a stored question of another topic) covers nothing */
    masked = kb_xmalloc(ANSWER_QUESTION_MAX + 1);
    rag_question_mask(question, strlen(question), stats ? stats->dict : NULL, false, masked, ANSWER_QUESTION_MAX + 1);
    rag_terms_extract(masked, strlen(masked), &qt);
    /* the topic alone: also without English's "long" of "how long", which the passages need not
     * say ("a two-year warranty") */
    rag_question_mask(question, strlen(question), stats ? stats->dict : NULL, true, masked, ANSWER_QUESTION_MAX + 1);
    rag_terms_extract(masked, strlen(masked), &topic);
    bool wants_number = answer_wants_number(question);
    const char *unit = answer_asked_unit(question);
    bool duration = !unit && answer_asks_duration(question);

    /* A stored question with its curated answer at the top, matching the user's, answers as written. */
    {
        const char *sa;
        size_t san;
        double match;
        int idx = 0;
        if (answer_curated(cfg, question, p, n_passages, emb, stats, &sa, &san, &match, &idx)) {
            rc = answer_from_pair(p, idx, sa, san, match, out, err);
            goto out;
        }
    }
    for (int i = 0; i < n_passages && n < ANSWER_MAX_SENTENCES; i++) {
        const char *t = p[i].text ? p[i].text : "";
        int k = text_split_sentences(t, strlen(t), spans, (int)KB_ARRAY_LEN(spans));
        for (int j = 0; j < k && n < ANSWER_MAX_SENTENCES; j++) {
            c[n] = (struct cand){.passage = i, .start = spans[j].start, .end = spans[j].end, .ordinal = j};
            c[n].is_question = answer_is_question(t + spans[j].start, spans[j].end - spans[j].start);
            c[n].table = answer_table_role(t, spans[j].start, spans[j].end, &c[n].hstart, &c[n].hend);
            c[n].prior = 1.0 / (1.0 + 0.5 * i);
            n++;
        }
    }
    if (n == 0 || qt.n == 0) {
        answer_fallback(cfg, out, 0);
        goto out;
    }

    /* Term weights: the term's IDF over the knowledge base (its specificity) when stats are given,
     * else its rarity among the candidates. */
    weights = kb_xcalloc((size_t)qt.n, sizeof *weights);
    for (int t = 0; t < qt.n; t++) {
        int df = 0;
        for (int s = 0; s < n; s++)
            df += rag_text_has_term(p[c[s].passage].text + c[s].start, c[s].end - c[s].start, qt.term[t]) ||
                  answer_ctx_has(p, &c[s], qt.term[t]);
        weights[t] = stats && stats->idf ? stats->idf(stats->ud, qt.term[t], strlen(qt.term[t]))
                                         : log(1.0 + (double)n / (1.0 + df));
        wsum += weights[t];
        /* Only words count: a CJK bigram that stands nowhere often just straddles two words
         * (到欧 in 寄到欧盟), or is a question word (几号), so it says little. */
        if (df == 0 && !qt.cjk[t] && !answer_is_how_word(&topic, qt.term[t]))
            missing += weights[t];
    }

    if (emb && emb->embed) {
        const char **texts = kb_xcalloc((size_t)n + 1, sizeof *texts);
        char **owned = kb_xcalloc((size_t)n, sizeof *owned);
        vecs = kb_xcalloc((size_t)(n + 1) * (size_t)emb->dim, sizeof *vecs);
        texts[0] = question;
        for (int s = 0; s < n; s++)
            texts[s + 1] = owned[s] = kb_xstrndup(p[c[s].passage].text + c[s].start, c[s].end - c[s].start);
        rc = emb->embed(emb->ud, texts, n + 1, vecs, err);
        for (int s = 0; s < n; s++)
            free(owned[s]);
        free(owned);
        free(texts);
        if (rc)
            goto out;
    }

    for (int s = 0; s < n; s++) {
        const char *st = p[c[s].passage].text + c[s].start;
        size_t sn = c[s].end - c[s].start;
        double hit = 0, own = 0;
        for (int t = 0; t < qt.n; t++) {
            if (answer_cand_has(p, &c[s], qt.term[t]))
                own += weights[t];
            else if (answer_ctx_has(p, &c[s], qt.term[t]))
                hit += weights[t];
        }
        c[s].own = wsum > 0 ? own / wsum : 0;
        c[s].overlap = wsum > 0 ? (own + hit) / wsum : 0;
        if (vecs) {
            double dot = 0;
            for (int d = 0; d < emb->dim; d++)
                dot += (double)vecs[d] * vecs[(size_t)(s + 1) * (size_t)emb->dim + (size_t)d];
            c[s].vector = dot > 0 ? dot : 0;
        }
        c[s].prox = answer_proximity(masked, st, sn);
        c[s].score = 0.55 * c[s].overlap + 0.25 * c[s].vector + 0.10 * c[s].prox + 0.10 * c[s].prior;
        /* the section's own name: "Returns > Refunds" speaks for its sentences, and so does the
         * document's (its context) */
        {
            const char *hp = p[c[s].passage].heading_path ? p[c[s].passage].heading_path : "";
            double hh = 0, hc = 0;
            for (int t = 0; t < qt.n; t++)
                if (rag_text_has_term(hp, strlen(hp), qt.term[t]))
                    hh += weights[t];
                else if (answer_ctx_has(p, &c[s], qt.term[t]))
                    hc += weights[t];
            c[s].score += wsum > 0 ? 0.10 * (hh + hc) / wsum : 0;
            c[s].ctx = wsum > 0 ? (0.55 * hit + 0.10 * hc) / wsum : 0;
        }
        /* the kind of answer asked for: a number for "how many", "when", "多少" */
        if (wants_number && (duration ? answer_has_duration(st, sn) : answer_has_number(st, sn, unit)))
            c[s].score += 0.08;
    }
    /* Questions hand their score to the sentence that answers them. */
    for (int s = n - 1; s >= 0; s--) {
        if (!c[s].is_question)
            continue;
        if (s + 1 < n && c[s + 1].passage == c[s].passage && !c[s + 1].is_question &&
            c[s + 1].score < 0.95 * c[s].score) {
            c[s + 1].score = 0.95 * c[s].score;
            c[s + 1].ctx = 0.95 * c[s].ctx;
            c[s + 1].overlap = KB_MAX(c[s + 1].overlap, c[s].overlap);
            c[s + 1].own = KB_MAX(c[s + 1].own, c[s].own);
        }
        c[s].score *= 0.3;
        c[s].ctx *= 0.3;
    }
    qsort(c, (size_t)n, sizeof *c, cand_by_score);

    out->confidence = c[0].score > 1 ? 1 : c[0].score;
    /* A question whose key words stand nowhere in the passages asks about something the documents
     * lack ("Do you sell a milk frother?"): its confidence falls with the weight of those words. */
    if (wsum > 0)
        out->confidence *= 1.0 - missing / wsum;
    if (c[0].overlap <= 0 || out->confidence < cfg->answer_min_confidence) {
        answer_fallback(cfg, out, out->confidence);
        goto out;
    }
    cite_of = kb_xcalloc((size_t)n_passages, sizeof *cite_of);
    out->citations = kb_xcalloc((size_t)n_passages, sizeof *out->citations);
    rc = answer_compose(cfg, question, &qt, weights, p, c, n, cite_of, out, &ans);
    if (rc == 0 && out->n_citations == 0) { /* no sentence holds a question term of its own */
        double conf = out->confidence;
        free(out->citations);
        out->citations = NULL;
        answer_fallback(cfg, out, conf);
        goto out;
    }
    out->answer = kb_buf_take(&ans);
    if (rc)
        rc = kb_error_set(err, rc, "composing the answer: %s", kb_strerror(rc));
out:
    free(cite_of);
    free(vecs);
    free(weights);
    free(c);
    free(masked);
    kb_buf_release(&ans);
    return rc;
}

void rag_answer_release(struct rag_answer *a)
{
    if (!a)
        return;
    free(a->answer);
    free(a->reasoning);
    for (int i = 0; i < a->n_citations; i++) {
        free(a->citations[i].document);
        free(a->citations[i].heading_path);
        free(a->citations[i].text);
    }
    free(a->citations);
    for (int i = 0; i < a->n_sentences; i++)
        free(a->sentences[i].text);
    free(a->sentences);
    free(a->query);
    memset(a, 0, sizeof *a);
}
