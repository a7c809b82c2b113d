/* text/tokenize.c: the tokenizer and its folding (text/text.h says what a token is); the only
 * utf8proc includer of text/.
 *
 * Data flow: bytes -> kb_utf8_decode (an invalid byte is U+FFFD, a separator) -> class of the code
 * point -> a word being gathered (folded per character into word[]) or a CJK run (each character
 * folded Traditional -> Simplified by text_fold_han, the previous one kept for the pair) -> fn per
 * token, with byte offsets into the input.
 * The Han folding table (t2s_table.h, {traditional, simplified} sorted by the first) is generated at
 * build time from Debian's OpenCC data by gen_t2s.c; a code point's lookup is a binary search.
 * Invariants: tokens are at most TEXT_TOKEN_MAX_BYTES; no allocation; thread-safe. Users: index/
 * (FTS5 tokenizer, FTS query, built-in embedder, sentence evidence) and rag/ (answer terms).
 * Tests: tests/text/test_text.c, tests/index/test_fts_tok.c. */
#include <string.h>
#include <utf8proc.h>

#include "text/text.h"

static const struct {
    uint32_t from, to;
} tokenize_t2s[] = {
#include "t2s_table.h"
};

uint32_t text_fold_han(uint32_t cp)
{
    size_t lo = 0, hi = KB_ARRAY_LEN(tokenize_t2s);
    if (cp < tokenize_t2s[0].from)
        return cp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tokenize_t2s[mid].from < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < KB_ARRAY_LEN(tokenize_t2s) && tokenize_t2s[lo].from == cp ? tokenize_t2s[lo].to : cp;
}

size_t text_match_folded(const char *s, size_t n, const char *term, size_t k)
{
    size_t i = 0, j = 0;
    while (j < k && i < n) {
        uint32_t a, b;
        int la = kb_utf8_decode(s + i, n - i, &a), lb = kb_utf8_decode(term + j, k - j, &b);
        if (la <= 0 || lb <= 0 || (kb_utf8_is_cjk(a) ? text_fold_han(a) : a) != b)
            break;
        i += (size_t)la;
        j += (size_t)lb;
    }
    return j == k && k > 0 ? i : 0;
}

size_t text_fold_han_inplace(char *s, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        uint32_t cp;
        int len = kb_utf8_decode(s + r, n - r, &cp);
        if (len > 0 && kb_utf8_is_cjk(cp)) {
            char enc[4];
            int out = kb_utf8_encode(text_fold_han(cp), enc);
            KB_ASSERT(out <= len); /* gen_t2s keeps only pairs that do not grow */
            memcpy(s + w, enc, (size_t)out);
            w += (size_t)out;
        } else {
            len = len > 0 ? len : 1;
            memmove(s + w, s + r, (size_t)len);
            w += (size_t)len;
        }
        r += (size_t)len;
    }
    return w;
}

static bool tokenize_is_word_cp(uint32_t cp)
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

/* Appends the folded form of cp to tok (len in *n), never past TEXT_TOKEN_MAX_BYTES. */
static void tokenize_fold_append(uint32_t cp, char *tok, int *n)
{
    utf8proc_int32_t buf[8];
    utf8proc_ssize_t k;
    int boundclass = 0;
    if (cp < 128) {
        if (*n < TEXT_TOKEN_MAX_BYTES)
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
        if (*n + len > TEXT_TOKEN_MAX_BYTES)
            return;
        memcpy(tok + *n, enc, (size_t)len);
        *n += len;
    }
}

int text_tokenize(const char *text, size_t n, bool for_query, text_token_fn fn, void *ud)
{
    char word[TEXT_TOKEN_MAX_BYTES + 8];
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
                is_word = tokenize_is_word_cp(cp);
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
            tokenize_fold_append(cp, word, &word_n);
        } else if (is_cjk) {
            char cur[4];
            int cur_len = kb_utf8_encode(text_fold_han(cp), cur);
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
