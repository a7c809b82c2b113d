/* rag/text.c: the small text tools answers need: sentence splitting that knows Chinese
 * punctuation, and query-term extraction (Latin words minus stop words, CJK bigrams). Pure
 * functions over borrowed text; no allocation. Tests: tests/rag/test_answer.c. */
#include "rag/rag_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool text_is_cjk_stop(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B || cp == 0xFF61;
}

int rag_split_sentences(const char *text, size_t n, struct rag_span *out, int cap)
{
    size_t start = 0, i = 0;
    int count = 0;
    while (i < n && count < cap) {
        uint32_t cp;
        int len = kb_utf8_decode(text + i, n - i, &cp);
        size_t next = i + (size_t)(len < 0 ? 1 : len);
        bool cut = false;
        size_t end = next;
        if (cp == '\n') {
            cut = true;
            end = i;
        } else if (text_is_cjk_stop(cp)) {
            cut = true;
        } else if ((cp == '.' || cp == '!' || cp == '?') &&
                   (next >= n || text[next] == ' ' || text[next] == '\n' || text[next] == '\t')) {
            /* not after a single capital letter or a digit run like "3.5" (handled: needs space) */
            cut = !(i >= 2 && text[i - 2] == ' ' && isupper((unsigned char)text[i - 1]));
        }
        if (cut || next >= n) {
            size_t s = start, e = cut ? end : n;
            while (s < e && isspace((unsigned char)text[s]))
                s++;
            while (e > s && isspace((unsigned char)text[e - 1]))
                e--;
            if (e > s)
                out[count++] = (struct rag_span){s, e};
            start = next;
        }
        i = next;
    }
    return count;
}

static const char *const text_stop_words[] = {
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "do", "does", "did", "of", "to", "in",
    "on", "at", "for", "by", "with", "and", "or", "if", "it", "its", "this", "that", "these", "those",
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "can", "could", "should",
    "would", "will", "i", "you", "we", "they", "he", "she", "my", "your", "our", "their", "me", "us",
    "there", "any", "from", "as", "about", "into", "than", "then", "so", "not", "no", "much", "many",
    "have", "has", "had", "get", "got", "may", "might", "must", "shall", "am", "also",
};

static bool text_is_stop(const char *w)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(text_stop_words); i++)
        if (strcmp(w, text_stop_words[i]) == 0)
            return true;
    return false;
}

/* CJK function characters: a bigram made only of these (什么, 多少, 是的...) carries no topic. */
static bool text_is_cjk_function(uint32_t cp)
{
    static const uint32_t fn[] = {0x7684, 0x662F, 0x5417, 0x5462, 0x4E86, 0x4E48, 0x4EC0, 0x600E, 0x54EA,
                                  0x591A, 0x5C11, 0x51E0, 0x5982, 0x4F55, 0x8BF7, 0x95EE, 0x6211, 0x4F60,
                                  0x4EEC, 0x6709, 0x5728, 0x548C, 0x4E0E, 0x5427, 0x554A, 0x8981, 0x4F1A,
                                  0x80FD, 0x53EF, 0x4EE5, 0x4E2A};
    for (size_t i = 0; i < KB_ARRAY_LEN(fn); i++)
        if (fn[i] == cp)
            return true;
    return false;
}

/* Particles (的 是 吗 呢 了 么 吧 啊): a bigram across one only joins two words by accident. */
static bool text_is_cjk_particle(uint32_t cp)
{
    return cp == 0x7684 || cp == 0x662F || cp == 0x5417 || cp == 0x5462 || cp == 0x4E86 || cp == 0x4E48 ||
           cp == 0x5427 || cp == 0x554A;
}

static void terms_add(struct rag_terms *t, size_t *used, const char *s, size_t n)
{
    if (t->n >= (int)KB_ARRAY_LEN(t->term) || *used + n + 1 > sizeof t->buf)
        return;
    for (int i = 0; i < t->n; i++)
        if (strlen(t->term[i]) == n && memcmp(t->term[i], s, n) == 0)
            return;
    memcpy(t->buf + *used, s, n);
    t->buf[*used + n] = '\0';
    t->term[t->n++] = t->buf + *used;
    *used += n + 1;
}

void rag_terms_extract(const char *text, size_t n, struct rag_terms *t)
{
    size_t used = 0, i = 0;
    t->n = 0;
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(text + i, n - i, &cp);
        if (len < 0) {
            i++;
            continue;
        }
        if (cp < 128 && isalnum((int)cp)) {
            char w[64];
            size_t k = 0;
            while (i < n && (unsigned char)text[i] < 128 && (isalnum((unsigned char)text[i]) ||
                                                              text[i] == '-' || text[i] == '_')) {
                if (k < sizeof w - 1)
                    w[k++] = (char)tolower((unsigned char)text[i]);
                i++;
            }
            while (k && (w[k - 1] == '-' || w[k - 1] == '_'))
                k--;
            w[k] = '\0';
            if (k >= 2 || isdigit((unsigned char)w[0]))
                if (!text_is_stop(w))
                    terms_add(t, &used, w, k);
            continue;
        }
        if (kb_utf8_is_cjk(cp)) {
            size_t run = i, count = 0;
            size_t starts[256];
            while (run < n) {
                uint32_t c2;
                int l2 = kb_utf8_decode(text + run, n - run, &c2);
                if (l2 < 0 || !kb_utf8_is_cjk(c2))
                    break;
                if (count < KB_ARRAY_LEN(starts) - 1)
                    starts[count++] = run;
                run += (size_t)l2;
            }
            starts[count] = run;
            if (count == 1)
                terms_add(t, &used, text + starts[0], starts[1] - starts[0]);
            for (size_t k = 0; k + 1 < count; k++) {
                uint32_t a, b;
                kb_utf8_decode(text + starts[k], n - starts[k], &a);
                kb_utf8_decode(text + starts[k + 1], n - starts[k + 1], &b);
                if ((text_is_cjk_function(a) && text_is_cjk_function(b)) || text_is_cjk_particle(a) ||
                    text_is_cjk_particle(b))
                    continue;
                terms_add(t, &used, text + starts[k], starts[k + 2] - starts[k]);
            }
            i = run;
            continue;
        }
        i += (size_t)len;
    }
}

static bool text_is_suffix(const char *s, size_t n)
{
    static const char *const sfx[] = {"s", "es", "ed", "d", "ing", "er", "ers"};
    for (size_t i = 0; i < KB_ARRAY_LEN(sfx); i++)
        if (strlen(sfx[i]) == n && strncasecmp(s, sfx[i], n) == 0)
            return true;
    return false;
}

bool rag_text_has_term(const char *s, size_t n, const char *term)
{
    size_t k = strlen(term);
    bool ascii = (unsigned char)term[0] < 128;
    if (k == 0 || k > n)
        return false;
    for (size_t i = 0; i + k <= n; i++) {
        if (ascii) {
            if (strncasecmp(s + i, term, k) != 0)
                continue;
            /* a whole word, allowing a plain English inflection: refund ~ refunds, refunded */
            if (i > 0 && isalnum((unsigned char)s[i - 1]))
                continue;
            size_t e = i + k;
            while (e < n && isalnum((unsigned char)s[e]))
                e++;
            if (e == i + k || text_is_suffix(s + i + k, e - i - k))
                return true;
            continue;
        }
        if (memcmp(s + i, term, k) == 0)
            return true;
    }
    return false;
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
