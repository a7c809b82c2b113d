/* index/fts_tok.c: kbox's tokenizer, shared by the FTS5 index (store.c wraps it as the "kbox" FTS5
 * tokenizer), the query builder (search.c) and the built-in embedder (embed_builtin.c).
 *
 * Data flow: UTF-8 text -> code points (invalid bytes are separators) -> one of three classes:
 * - word characters (Unicode letters, digits and combining marks, not CJK): gathered into a word and
 *   folded per character with utf8proc (compatibility decomposition, case folding, marks stripped), so
 *   "Ünïcödé", "UNICODE" and "unicode" are one token, "ﬁ" is "fi" and fullwidth "Ａ" is "a";
 * - CJK characters (Han, Kana, Hangul; kb_utf8_is_cjk): a run gives every character and every
 *   overlapping pair, so one-character queries match and two-character words match as one term.
 *   In query mode only the pairs are given (or the character of a one-character run): a quoted query
 *   term is then re-tokenized by FTS5 into exactly itself;
 * - everything else separates tokens.
 * Invariants: tokens are at most INDEX_TOKEN_MAX_BYTES bytes (long words are cut at a character
 * boundary), offsets are byte offsets into the input, no allocation, thread-safe.
 * Tests: tests/index/test_fts_tok.c. */
#include <string.h>
#include <utf8proc.h>

#include "index/index.h"
#include "index/index_int.h"

static bool tok_is_word_cp(uint32_t cp)
{
    if (cp < 128)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* Appends the folded form of cp to tok (len in *n), never past INDEX_TOKEN_MAX_BYTES. */
static void tok_fold_append(uint32_t cp, char *tok, int *n)
{
    utf8proc_int32_t buf[8];
    utf8proc_ssize_t k;
    int boundclass = 0;
    if (cp < 128) {
        if (*n < INDEX_TOKEN_MAX_BYTES)
            tok[(*n)++] = (char)((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
        return;
    }
    k = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, (utf8proc_ssize_t)KB_ARRAY_LEN(buf),
                                UTF8PROC_CASEFOLD | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK,
                                &boundclass);
    if (k < 0 || k > (utf8proc_ssize_t)KB_ARRAY_LEN(buf))
        return;
    for (utf8proc_ssize_t i = 0; i < k; i++) {
        char enc[4];
        int len = kb_utf8_encode((uint32_t)buf[i], enc);
        if (*n + len > INDEX_TOKEN_MAX_BYTES)
            return;
        memcpy(tok + *n, enc, (size_t)len);
        *n += len;
    }
}

int index_tokenize(const char *text, size_t n, bool for_query, index_token_fn fn, void *ud)
{
    char word[INDEX_TOKEN_MAX_BYTES + 8];
    int word_n = 0, word_start = -1, word_end = 0;
    /* the previous CJK character of the current run */
    char prev[4];
    int prev_len = 0, prev_start = 0, prev_end = 0, run_len = 0;
    size_t i = 0;
    int rc = 0;

    while (rc == 0) {
        uint32_t cp = 0;
        int len = 0;
        bool at_end = i >= n, is_cjk = false, is_word = false;
        if (!at_end) {
            len = kb_utf8_decode(text + i, n - i, &cp);
            if (len < 0) {
                len = 1;
                cp = 0xFFFD; /* a separator */
            } else if (kb_utf8_is_cjk(cp)) {
                is_cjk = true;
            } else {
                is_word = tok_is_word_cp(cp);
            }
        }
        /* close a word */
        if (!is_word && word_start >= 0) {
            if (word_n > 0)
                rc = fn(ud, word, word_n, word_start, word_end, false);
            word_start = -1;
            word_n = 0;
            if (rc)
                break;
        }
        /* close a CJK run */
        if (!is_cjk && run_len > 0) {
            if (for_query && run_len == 1)
                rc = fn(ud, prev, prev_len, prev_start, prev_end, true);
            run_len = 0;
            if (rc)
                break;
        }
        if (at_end)
            break;
        if (is_word) {
            if (word_start < 0)
                word_start = (int)i;
            word_end = (int)i + len;
            tok_fold_append(cp, word, &word_n);
        } else if (is_cjk) {
            char cur[4];
            int cur_len = kb_utf8_encode(cp, cur);
            if (!for_query)
                rc = fn(ud, cur, cur_len, (int)i, (int)i + len, true);
            if (rc == 0 && run_len > 0) {
                char pair[8];
                memcpy(pair, prev, (size_t)prev_len);
                memcpy(pair + prev_len, cur, (size_t)cur_len);
                rc = fn(ud, pair, prev_len + cur_len, prev_start, (int)i + len, true);
            }
            memcpy(prev, cur, (size_t)cur_len);
            prev_len = cur_len;
            prev_start = (int)i;
            prev_end = (int)i + len;
            run_len++;
        }
        i += (size_t)len;
    }
    return rc;
}

/* English function words: dropped from queries that have other terms (search.c) and from the
 * built-in embedder's features, where their high frequency would dominate every vector. */
static const char *const tok_stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "did", "for", "from", "how", "i",
    "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "you", "your", "my", "me", "we", "our", "there",
    "their", "they", "be", "been", "has", "have", "had", "about", "into", "if", "so", "than", "then", "there",
};

bool tok_is_stopword(const char *t, int n)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(tok_stopwords); i++)
        if ((int)strlen(tok_stopwords[i]) == n && memcmp(t, tok_stopwords[i], (size_t)n) == 0)
            return true;
    return false;
}
