/* index/fts_tok.c: the index's entry to kbox's tokenizer. The tokenizer itself (what a token is, the
 * folding, CJK characters and pairs) lives in text/ (text/text.h) so that the FTS5 index (store.c
 * wraps fts_tok_tokenize as the "kbox" FTS5 tokenizer), the query builder (search.c), the built-in
 * embedder (embed_builtin.c) and rag/'s answer terms all cut and fold text by one function.
 * index_tokenize is that function under the index's public name (index/index.h), for rag/ and the
 * fuzzers.
 *
 * Dictionary words in the full-text index (fts_tok_tokenize). With a word list (index.segment_dict,
 * the one the query side cuts CJK questions with), the FTS5 index also holds, for each CJK run, every
 * word of the list of three or more characters that occurs in the run folded Traditional ->
 * Simplified (all of them, like a search engine's full cut, not one segmentation's: a document's
 * cut depends on its context and would miss the query's word where the context cuts it otherwise),
 * after the run's characters and pairs: 万里长城在北京 gives its characters, its pairs and 万里长城.
 * Two-character words are already pairs. A query phrase that is one CJK run which the list cuts into a single such word
 * tokenizes into that one word (search.c adds the query's own words as phrases), any other phrase
 * as text_tokenize's query mode does, so a pair still re-tokenizes into itself.
 * The identity of the index's tokens, stored as meta 'tokenizer' (store.c store_check_tokenizer; a
 * change rebuilds chunks_fts at the next writable open): TEXT_TOKENIZER_VERSION alone without a word
 * list (the tokens are text_tokenize's), else "<version>+words<FTS_WORDS_VERSION>:<bytes>:<mtime>" of
 * the list's file, so a changed list re-indexes. The list is read at the first CJK text tokenized
 * (English-only stores never read it); all tokenizer calls run on the store's one connection under
 * its mutex, so the lazy read needs no lock of its own. A list that cannot be read then is logged and
 * no words are emitted (a store written meanwhile may keep word tokens of rows indexed before, until
 * the list's file changes and the index is rebuilt).
 * English plurals (index.stem_plurals, on): the FTS5 index and its queries hold a Latin word folded
 * to its singular by text_stem_plural (Harman's S-stemmer: margins -> margin, policies -> policy),
 * so a question's "gross margins" finds a page's "gross margin"; store_idf folds the term it looks up
 * the same way (fts_tok_stem). text_tokenize's tokens, which rag/, the evidence step and the built-in
 * embedder use, are not stemmed. The identity gains "+s1".
 * English stems (index.stem_english, off; with stem_plurals on): the same, with Snowball's English
 * stemmer (text_stem_english, Porter2) in place of the plural rule, so "improving margins" finds
 * "margin improved"; the identity gains "+p2" instead.
 * No allocation besides the word list. Tests: tests/index/test_fts_tok.c, tests/text/test_text.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "index/index_int.h"

_Static_assert(INDEX_TOKEN_MAX_BYTES == TEXT_TOKEN_MAX_BYTES, "index tokens are text tokens");

#define FTS_WORDS_VERSION 2
#define FTS_WORD_MIN_CHARS 3

int index_tokenize(const char *text, size_t n, bool for_query, index_token_fn fn, void *ud)
{
    return text_tokenize(text, n, for_query, fn, ud);
}

/* The identity's part for the stemmer (see above). */
static const char *fts_stem_id(int stem)
{
    return stem == FTS_STEM_ENGLISH ? "+p2" : stem == FTS_STEM_PLURAL ? "+s1" : "";
}

void fts_tok_setup(struct index_store *st, const char *dict_path, int stem)
{
    struct stat sb;
    st->tok_dict = NULL;
    st->tok_dict_tried = false;
    st->tok_dict_path[0] = '\0';
    st->tok_stem = stem;
    snprintf(st->tok_id, sizeof(st->tok_id), "%d%s", TEXT_TOKENIZER_VERSION, fts_stem_id(stem));
    if (!dict_path || !dict_path[0] || strlen(dict_path) >= sizeof(st->tok_dict_path))
        return;
    if (stat(dict_path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return; /* no list: the tokens are text_tokenize's (search.c logs an unreadable one) */
    kb_strlcpy(st->tok_dict_path, dict_path, sizeof(st->tok_dict_path));
    snprintf(st->tok_id, sizeof(st->tok_id), "%d%s+words%d:%lld:%lld", TEXT_TOKENIZER_VERSION, fts_stem_id(stem),
             FTS_WORDS_VERSION, (long long)sb.st_size, (long long)sb.st_mtime);
}

size_t fts_tok_stem(const struct index_store *st, char *t, size_t n)
{
    return st->tok_stem == FTS_STEM_ENGLISH  ? text_stem_english(t, n)
           : st->tok_stem == FTS_STEM_PLURAL ? text_stem_plural(t, n)
                                             : n;
}

struct fts_stem {
    index_token_fn fn;
    void *ud;
    int stem; /* FTS_STEM_PLURAL or FTS_STEM_ENGLISH */
};

/* Passes a token on, a Latin word folded to its singular (text_stem_plural) or its English stem
 * (text_stem_english). */
static int fts_stem_tok(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct fts_stem *c = ud;
    char t[TEXT_TOKEN_MAX_BYTES];
    if (cjk || n > TEXT_TOKEN_MAX_BYTES)
        return c->fn(c->ud, tok, n, start, end, cjk);
    memcpy(t, tok, (size_t)n);
    n = (int)(c->stem == FTS_STEM_ENGLISH ? text_stem_english(t, (size_t)n) : text_stem_plural(t, (size_t)n));
    return c->fn(c->ud, t, n, start, end, cjk);
}

const struct text_dict *fts_tok_dict(struct index_store *st)
{
    if (!st->tok_dict_path[0])
        return NULL;
    if (!st->tok_dict_tried) {
        struct kb_error err = {0};
        st->tok_dict_tried = true;
        if (text_dict_open(&st->tok_dict, st->tok_dict_path, &err) != 0)
            kb_log(KB_LOG_ERROR, "index: no dictionary words in the full-text index: %s", err.msg);
    }
    return st->tok_dict;
}

void fts_tok_release(struct index_store *st)
{
    text_dict_free(st->tok_dict);
    st->tok_dict = NULL;
}

struct fts_words {
    const struct text_dict *d;
    const char *text;     /* the whole text: runs are reported as pointers into it */
    index_token_fn fn;
    void *ud;
    int rc;
};

/* Emits every word of the list of FTS_WORD_MIN_CHARS or more characters that occurs in run[0..n)
 * (CJK characters only), folded, with its byte range in the original text: all of them, not one
 * segmentation's, so a word is found wherever its characters stand together, whatever the context
 * would make the cut choose. */
static void fts_words_run(void *ud, const char *run, size_t n)
{
    struct fts_words *c = ud;
    char fold[(TEXT_DICT_WORD_MAX_CHARS + 1) * 4];
    int orig[TEXT_DICT_WORD_MAX_CHARS + 1], foff[TEXT_DICT_WORD_MAX_CHARS + 1];
    int base = (int)(run - c->text);
    size_t i = 0;
    while (i < n && c->rc == 0) {
        /* the folded window of up to TEXT_DICT_WORD_MAX_CHARS characters starting at i */
        size_t j = i;
        int nc = 0, fb = 0;
        while (j < n && nc < TEXT_DICT_WORD_MAX_CHARS) {
            uint32_t cp;
            int len = kb_utf8_decode(run + j, n - j, &cp);
            if (len <= 0)
                len = 1, cp = 0xFFFD; /* not expected in a CJK run; kept as one character */
            orig[nc] = (int)j;
            foff[nc++] = fb;
            fb += kb_utf8_encode(text_fold_han(cp), fold + fb);
            j += (size_t)len;
        }
        orig[nc] = (int)j;
        foff[nc] = fb;
        for (int l = FTS_WORD_MIN_CHARS; l <= nc && c->rc == 0; l++)
            if (text_dict_has(c->d, fold, (size_t)foff[l]))
                c->rc = c->fn(c->ud, fold, foff[l], base + orig[0], base + orig[l], true);
        i = (size_t)orig[1];
    }
}

/* True when text[0..n) is one CJK run that d cuts into a single known word of FTS_WORD_MIN_CHARS or
 * more characters; its folded form is then in word[0..*word_n). */
static bool fts_is_one_word(const struct text_dict *d, const char *text, size_t n, char *word, int *word_n)
{
    int nc = 0, fb = 0, ends[2];
    bool known[2];
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(text + i, n - i, &cp);
        if (len <= 0 || !kb_utf8_is_cjk(cp) || ++nc > TEXT_DICT_WORD_MAX_CHARS)
            return false;
        fb += kb_utf8_encode(text_fold_han(cp), word + fb);
        i += (size_t)len;
    }
    if (nc < FTS_WORD_MIN_CHARS)
        return false;
    *word_n = fb;
    return text_dict_cut(d, word, (size_t)fb, ends, known, 2) == 1 && known[0];
}

int fts_tok_tokenize(struct index_store *st, const char *text, size_t n, bool for_query, index_token_fn fn,
                     void *ud)
{
    const struct text_dict *d = NULL;
    struct fts_words c;
    int rc;
    if (st->tok_dict_path[0]) {
        bool cjk = false;
        for (size_t i = 0; i < n && !cjk; i++)
            cjk = (unsigned char)text[i] >= 0xE0; /* a 3- or 4-byte sequence: maybe CJK */
        d = cjk ? fts_tok_dict(st) : NULL;
    }
    if (d && for_query) {
        char word[TEXT_DICT_WORD_MAX_CHARS * 4];
        int word_n = 0;
        if (fts_is_one_word(d, text, n, word, &word_n))
            return fn(ud, word, word_n, 0, (int)n, true);
    }
    if (st->tok_stem) {
        struct fts_stem sc = {fn, ud, st->tok_stem};
        rc = text_tokenize(text, n, for_query, fts_stem_tok, &sc);
    } else {
        rc = text_tokenize(text, n, for_query, fn, ud);
    }
    if (rc || !d || for_query)
        return rc;
    c = (struct fts_words){d, text, fn, ud, 0};
    text_cjk_runs(text, n, fts_words_run, &c);
    return c.rc;
}
