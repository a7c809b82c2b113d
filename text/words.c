/* text/words.c: the word lists of the text layer: English stop words (function words), articles, and
 * the Chinese function characters and particles that make a character pair carry no topic.
 *
 * The stop list is the one the index has always used (FTS5 queries drop these words when other terms
 * remain, the built-in embedder gives them no features); the answer scorer uses the same list, so a
 * word that cannot find a chunk does not weigh in picking its sentence either. Entries are folded
 * tokens (lower case ASCII), compared by length then bytes. The CJK pair rule is the answer scorer's
 * (the FTS query keeps every pair). Tests: tests/text/test_text.c. */
#include <string.h>

#include "text/text.h"

static const char *const words_stop[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "did", "for", "from", "how", "i",
    "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "you", "your", "my", "me", "we", "our", "there",
    "their", "they", "been", "has", "have", "had", "about", "into", "if", "so", "than", "then",
};

/* Function words the index keeps (its stop list and the eval tuning predate them) but the answer
 * scorer also ignores: question verbs, modals, pronouns and quantifiers ("When do I get my refund?"
 * must not miss an answer for want of "get"). */
static const char *const words_weak[] = {
    "these", "those", "whose", "could", "should", "would", "he", "she", "us", "any", "not", "no", "much",
    "many", "get", "got", "may", "might", "must", "shall", "am", "also",
};

/* SQuAD's normalisation removes exactly these (its regex \b(a|an|the)\b). */
static const char *const words_article[] = {"a", "an", "the"};

static bool words_in(const char *const *list, size_t n_list, const char *t, size_t n)
{
    bool found = false;
    for (size_t i = 0; i < n_list && !found; i++)
        found = strlen(list[i]) == n && memcmp(t, list[i], n) == 0;
    return found;
}

bool text_is_stop_word(const char *t, size_t n)
{
    return words_in(words_stop, KB_ARRAY_LEN(words_stop), t, n);
}

bool text_is_weak_word(const char *t, size_t n)
{
    return words_in(words_weak, KB_ARRAY_LEN(words_weak), t, n);
}

bool text_is_article(const char *t, size_t n)
{
    return words_in(words_article, KB_ARRAY_LEN(words_article), t, n);
}

/* CJK function characters (什 么 多 少 是 的 请 问 我 你 们 有 在 和 与 ...): a pair made only of these
 * (什么, 多少, 请问) names no topic. */
static bool words_is_cjk_function(uint32_t cp)
{
    static const uint32_t fn[] = {0x7684, 0x662F, 0x5417, 0x5462, 0x4E86, 0x4E48, 0x4EC0, 0x600E, 0x54EA,
                                  0x591A, 0x5C11, 0x51E0, 0x5982, 0x4F55, 0x8BF7, 0x95EE, 0x6211, 0x4F60,
                                  0x4EEC, 0x6709, 0x5728, 0x548C, 0x4E0E, 0x5427, 0x554A, 0x8981, 0x4F1A,
                                  0x80FD, 0x53EF, 0x4EE5, 0x4E2A};
    bool found = false;
    for (size_t i = 0; i < KB_ARRAY_LEN(fn) && !found; i++)
        found = fn[i] == cp;
    return found;
}

/* Particles (的 是 吗 呢 了 么 吧 啊): a pair across one only joins two words by accident. */
static bool words_is_cjk_particle(uint32_t cp)
{
    return cp == 0x7684 || cp == 0x662F || cp == 0x5417 || cp == 0x5462 || cp == 0x4E86 || cp == 0x4E48 ||
           cp == 0x5427 || cp == 0x554A;
}

bool text_is_cjk_stop_pair(const char *t, size_t n)
{
    uint32_t a, b;
    int la = n > 0 ? kb_utf8_decode(t, n, &a) : -1;
    int lb = la > 0 && (size_t)la < n ? kb_utf8_decode(t + la, n - (size_t)la, &b) : -1;
    if (la <= 0 || lb <= 0 || (size_t)(la + lb) != n)
        return false;
    return (words_is_cjk_function(a) && words_is_cjk_function(b)) || words_is_cjk_particle(a) ||
           words_is_cjk_particle(b);
}

bool text_is_cjk_stop_char(const char *t, size_t n)
{
    uint32_t cp;
    int len = n > 0 ? kb_utf8_decode(t, n, &cp) : -1;
    return len > 0 && (size_t)len == n && words_is_cjk_function(cp);
}

/* Harman's S-stemmer (Harman 1991, "How effective is suffixing?"), on folded tokens: -ies -> -y
 * (not -eies, -aies), -es -> -e (not -aes, -ees, -oes), -s -> "" (not -us, -ss), first rule that
 * applies. Only on words of four or more letters (a-z) that are not stop words, so "its", "has",
 * "this" and numbers stay as they are. */
size_t text_stem_plural(char *t, size_t n)
{
    if (n < 4 || text_is_stop_word(t, n) || t[n - 1] != 's')
        return n;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 'a' || t[i] > 'z')
            return n;
    if (t[n - 3] == 'i' && t[n - 2] == 'e') {
        if (t[n - 4] == 'e' || t[n - 4] == 'a')
            return n;
        t[n - 3] = 'y';
        return n - 2;
    }
    if (t[n - 2] == 'e') {
        char c = t[n - 3];
        return c == 'a' || c == 'e' || c == 'o' ? n : n - 1;
    }
    return t[n - 2] == 'u' || t[n - 2] == 's' ? n : n - 1;
}
