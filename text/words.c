/* text/words.c: the English word lists of the text layer: stop words (function words) and articles.
 *
 * The stop list is the one the index has always used (FTS5 queries drop these words when other terms
 * remain, the built-in embedder gives them no features); the answer scorer uses the same list, so a
 * word that cannot find a chunk does not weigh in picking its sentence either. Entries are folded
 * tokens (lower case ASCII), compared by length then bytes. Tests: tests/text/test_text.c. */
#include <string.h>

#include "text/text.h"

static const char *const words_stop[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "did", "for", "from", "how", "i",
    "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "you", "your", "my", "me", "we", "our", "there",
    "their", "they", "been", "has", "have", "had", "about", "into", "if", "so", "than", "then",
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

bool text_is_article(const char *t, size_t n)
{
    return words_in(words_article, KB_ARRAY_LEN(words_article), t, n);
}
