/* text/stem.c: English stemming with Snowball's English stemmer (Porter2, libstemmer from Debian's
 * libstemmer-dev), the full-text index's optional alternative to text_stem_plural
 * (index.stem_english, index/fts_tok.c).
 *
 * Porter2 strips inflections and common derivational suffixes ("connected", "connection",
 * "connecting" -> "connect"; "operating" -> "oper"; "improving" -> "improv"), so a question and a
 * passage that use different forms of one word share its stem. It conflates more than the plural
 * rule (which only folds number) and is not idempotent ("generously" -> "generous" -> "generous",
 * but some stems stem again), so a token is stemmed exactly once: by the FTS5 tokenizer for the index
 * and the query, and by store_idf for the term it is given (as text_tokenize emits it).
 * The same guards as text_stem_plural: only tokens of four or more letters a-z that are not stop
 * words, so numbers, short words and non-English scripts pass through.
 * A Snowball stemmer holds state per call, so each thread keeps its own (created at its first use,
 * freed at the thread's exit by the key's destructor). A stemmer that cannot be created (out of
 * memory) leaves tokens as they are. Tests: tests/text/test_text.c, tests/index/test_bm25.c. */
#include <pthread.h>
#include <string.h>

#include <libstemmer.h>

#include "text/text.h"

static pthread_key_t stem_key;
static pthread_once_t stem_once = PTHREAD_ONCE_INIT;
static bool stem_key_ok;

static void stem_free(void *p)
{
    sb_stemmer_delete(p);
}

static void stem_key_init(void)
{
    stem_key_ok = pthread_key_create(&stem_key, stem_free) == 0;
}

static struct sb_stemmer *stem_get(void)
{
    struct sb_stemmer *s;
    pthread_once(&stem_once, stem_key_init);
    if (!stem_key_ok)
        return NULL;
    s = pthread_getspecific(stem_key);
    if (!s && (s = sb_stemmer_new("english", "UTF_8")) != NULL && pthread_setspecific(stem_key, s) != 0) {
        sb_stemmer_delete(s);
        s = NULL;
    }
    return s;
}

size_t text_stem_english(char *t, size_t n)
{
    struct sb_stemmer *s;
    const sb_symbol *r;
    int rn;
    if (n < 4 || n > TEXT_TOKEN_MAX_BYTES || text_is_stop_word(t, n))
        return n;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 'a' || t[i] > 'z')
            return n;
    if (!(s = stem_get()) || !(r = sb_stemmer_stem(s, (const sb_symbol *)t, (int)n)))
        return n;
    rn = sb_stemmer_length(s);
    if (rn <= 0 || (size_t)rn > n)
        return n;
    memcpy(t, r, (size_t)rn);
    return (size_t)rn;
}
