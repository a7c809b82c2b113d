/* text/text.h: kbox's one text layer, the manual for what a sentence, a token, a term and a stop word
 * are. ingest/ cuts chunks at its sentences, index/ indexes, queries and embeds its tokens, and rag/
 * scores answer sentences with the same sentences and terms, so retrieval and answering agree.
 * Depends on base/ only; pure functions over borrowed text, no allocation, thread-safe, except the
 * dictionary segmenter's word list (segment.c), which is read from a file once and then immutable.
 *
 * Tokens (text_tokenize). UTF-8 text -> code points (an invalid byte is a separator) -> one of three
 * classes:
 * - word characters (Unicode letters, digits and combining marks, not CJK): gathered into a word and
 *   folded per character (compatibility decomposition, case folding, marks stripped), so "Ünïcödé",
 *   "UNICODE" and "unicode" are one token, "ﬁ" is "fi" and fullwidth "Ａ" is "a";
 * - CJK characters (Han, Kana, Hangul; kb_utf8_is_cjk): a run gives every character and every
 *   overlapping pair, each character folded from Traditional to Simplified (text_fold_han: OpenCC's
 *   t2s character table, so 說話 and 说话 are one token and a zh-Hans question finds zh-Hant text).
 *   In query mode only the pairs are given (or the character of a one-character run), so a quoted
 *   query term re-tokenizes into exactly itself;
 * - everything else separates tokens.
 * Tokens are at most TEXT_TOKEN_MAX_BYTES bytes (a long word is cut at a character boundary).
 *
 * Terms (text_query_terms): the distinct query-mode tokens of a text, at most TEXT_MAX_TERMS, each
 * flagged when it is a stop word. A stop word (text_is_stop_word) is one of about 60 English function
 * words, compared as folded tokens; the FTS5 query and the built-in embedder drop them, the answer
 * scorer ignores them, and it also ignores weak words (text_is_weak_word: about 20 more function
 * words the index's list lacks) and CJK pairs that name no topic (text_is_cjk_stop_pair).
 *
 * Sentences (text_sentence_end). A sentence ends
 * - at a line break (the break belongs to the sentence);
 * - after . ! ? or ; when, past any closing quotes and brackets ("'")]”’」』）】), white space (a
 *   space or a line break) or the end of the text follows, except a '.' that ends an initial ("J.")
 *   or one of the abbreviations mr mrs ms dr st vs e.g i.e no fig approx; so "3.5" and "e.g. this"
 *   stay whole;
 * - after a CJK full stop, exclamation or question mark, semicolon, halfwidth full stop or an
 *   ellipsis (。！？；｡…) with the closing brackets and further such marks that follow it.
 * The simple rule (text_sentence_end_simple) is the same without the refinements: . ! ? ; end a
 * sentence only when white space or the end follows at once, there are no abbreviations or
 * initials, and the CJK marks are 。！？； alone. Only the index's sentence-evidence step uses it: its
 * depth and weights were tuned on it, and the full rule moves covid_faq_en (hybrid R@5 0.676 ->
 * 0.662, see docs/BENCHMARKS.md), so retrieval keeps it until the evidence step is re-tuned.
 *
 * Segmentation (text_dict_cut): a CJK run cut into the words of a word list (jieba's dict.txt from
 * Debian's python3-jieba) by the maximum-probability path of a unigram language model. Tokens do not
 * change with it; index/search.c uses the cut to weigh query character pairs that straddle two words,
 * and index/fts_tok.c (index.cjk_index_words) the list (text_dict_has) for the words it adds to the
 * full-text index beside text_tokenize's tokens. Tests: tests/text/test_text.c, tests/text/test_segment.c. */
#ifndef KB_TEXT_TEXT_H
#define KB_TEXT_TEXT_H

#include "base/base.h"

/* ---- tokens (tokenize.c) ------------------------------------------------------------------------ */

#define TEXT_TOKEN_MAX_BYTES 64

/* Called per token: tok (tok_bytes bytes, not NUL-terminated; borrowed for the call), the byte range
 * [start, end) of its source in the text, and whether it comes from a CJK run. Returns non-zero to
 * stop the walk. */
typedef int (*text_token_fn)(void *ud, const char *tok, int tok_bytes, int start, int end, bool cjk);

/* Calls fn for each token of text[0..n) (see the top of this header; for_query: CJK pairs only).
 * Returns 0, or the first non-zero value fn returned. */
int text_tokenize(const char *text, size_t n, bool for_query, text_token_fn fn, void *ud);

/* The tokenizer's version: changes whenever a text's tokens change (index/ re-indexes its full-text
 * index on open when the stored version differs). 2: Han characters folded Traditional -> Simplified. */
#define TEXT_TOKENIZER_VERSION 2

/* The Simplified form of a Han code point under OpenCC's t2s character table (generated at build time
 * from Debian's libopencc-data, see gen_t2s.c), or cp itself when it has none. Never a longer UTF-8
 * encoding than cp's. */
uint32_t text_fold_han(uint32_t cp);
/* The bytes of s[0..n) whose prefix reads as term[0..k) once its CJK characters are folded with
 * text_fold_han (term is a token, already folded: 說話 in s matches 说话); 0 when it does not, and
 * for an empty term. For finding a query's CJK terms in original text. */
size_t text_match_folded(const char *s, size_t n, const char *term, size_t k);
/* Folds every CJK character of s[0..n) with text_fold_han, in place; returns the new length (<= n).
 * Other bytes, invalid ones included, are kept. */
size_t text_fold_han_inplace(char *s, size_t n);

/* ---- words (words.c) ---------------------------------------------------------------------------- */

/* True when the folded token t[0..n) is an English stop word (function word). */
bool text_is_stop_word(const char *t, size_t n);
/* True when the folded token t[0..n) is a weak word: a function word outside the stop list (these,
 * could, would, not, no, many, much, get, may, must, also, ...) that the index keeps but the answer
 * scorer ignores. A stop word is never weak. */
bool text_is_weak_word(const char *t, size_t n);
/* True when the lower-case word t[0..n) is an English article (a, an, the): the words SQuAD's answer
 * normalisation removes, a subset of the stop words. */
bool text_is_article(const char *t, size_t n);
/* True when t[0..n) is a CJK character pair that names no topic: both characters are function
 * characters (什么, 多少, 请问) or either is a particle (的 是 吗 呢 了 么 吧 啊), so 退货的 gives 退货
 * but not 货的. False for anything that is not exactly two characters. */
bool text_is_cjk_stop_pair(const char *t, size_t n);
/* Folds an English plural to its singular in place (Harman's S-stemmer: policies -> policy, margins ->
 * margin, houses -> house; glass, virus, shoes stay): the folded token t[0..n) of four or more
 * letters a-z that is not a stop word; returns the new length (<= n). Idempotent on its output. Only
 * the full-text index uses it (index/fts_tok.c), on both its text and its queries. */
size_t text_stem_plural(char *t, size_t n);
/* Stems an English word in place with Snowball's English stemmer (Porter2; stem.c): the folded token
 * t[0..n) of four or more letters a-z that is not a stop word ("connected" -> "connect",
 * "improving" -> "improv"); anything else is left as it is. Returns the new length (<= n). Not
 * idempotent: stem a token once. The full-text index uses it instead of text_stem_plural when
 * index.stem_english is on (index/fts_tok.c). Thread-safe (a stemmer per thread). */
size_t text_stem_english(char *t, size_t n);
/* True when t[0..n) is one CJK function character (the short list in words.c: 的 是 吗 呢 了 么 什 怎 哪
 * 多 少 几 如 何 请 问 我 你 们 有 在 和 与 吧 啊 要 会 能 可 以 个); the FTS5 query skips these as unigrams. */
bool text_is_cjk_stop_char(const char *t, size_t n);

/* ---- query terms (terms.c) ---------------------------------------------------------------------- */

#define TEXT_MAX_TERMS 64

/* The distinct query-mode tokens of a text, in order of first occurrence. */
struct text_terms {
    char term[TEXT_MAX_TERMS][TEXT_TOKEN_MAX_BYTES + 1]; /* NUL-terminated folded tokens */
    int len[TEXT_MAX_TERMS];                             /* bytes of term[i] */
    bool cjk[TEXT_MAX_TERMS];                            /* term[i] comes from a CJK run */
    bool stop[TEXT_MAX_TERMS];                           /* term[i] is a stop word */
    int n;                                               /* terms; the rest are dropped */
    int n_cjk;                                           /* terms from CJK runs */
    int n_content;                                       /* terms that are not stop words */
};

/* Fills *out with the terms of text[0..n). */
void text_query_terms(const char *text, size_t n, struct text_terms *out);

/* ---- dictionary segmentation (segment.c) ----------------------------------------------------- */

#define TEXT_DICT_MAX_BYTES (64 * 1024 * 1024) /* a larger word list is refused */
#define TEXT_DICT_WORD_MAX_CHARS 16           /* longer dictionary words are a malformed line */
#define TEXT_DICT_RUN_MAX 256                 /* characters of a run cut at once; the rest is not cut */

struct text_dict; /* a word list with frequencies; immutable after open, shareable by threads */

/* Reads a "word frequency [tag]" list (jieba's dict.txt format; see segment.c). Caller owns *out;
 * free with text_dict_free(). KB_ENOENT when the file is absent, KB_EINVAL naming the line of a
 * malformed entry, KB_ETOOBIG past TEXT_DICT_MAX_BYTES. */
int text_dict_open(struct text_dict **out, const char *path, struct kb_error *err);
void text_dict_free(struct text_dict *d); /* NULL ok */
int32_t text_dict_size(const struct text_dict *d); /* entries; 0 for NULL */
/* Cuts the CJK run[0..n) (UTF-8, CJK characters only; at most TEXT_DICT_RUN_MAX characters are cut)
 * into the maximum-probability word sequence; word_end[k] is the byte offset just past word k and
 * known[k] (known may be NULL) whether word k is in the list (false for a character it lacks).
 * Returns the number of words written (at most cap). */
int text_dict_cut(const struct text_dict *d, const char *run, size_t n, int *word_end, bool *known, int cap);

/* True when w[0..n) is a word of d with a frequency above 0 (false for NULL d). */
bool text_dict_has(const struct text_dict *d, const char *w, size_t n);

/* Calls fn for every maximal run of CJK characters (kb_utf8_is_cjk) of s[0..n), in order. */
typedef void (*text_run_fn)(void *ud, const char *run, size_t run_bytes);
void text_cjk_runs(const char *s, size_t n, text_run_fn fn, void *ud);

/* ---- sentences (sentence.c) --------------------------------------------------------------------- */

/* The end (exclusive byte offset) of the sentence of s[0..n) that starts at `start`: just past its
 * terminator, closers and line break, or n when the text ends first. Always > start when start < n.
 * s is the whole text: the abbreviation rule looks back at the word before a '.'. */
size_t text_sentence_end(const char *s, size_t n, size_t start);

/* The same under the simple rule (see the top of this header): the sentence-evidence step's. */
size_t text_sentence_end_simple(const char *s, size_t n, size_t start);

/* A sentence as a byte range of its text. */
struct text_span {
    size_t start, end; /* bytes [start, end) */
};

/* Splits text[0..n) into sentences (text_sentence_end), each trimmed of white space; empty ones are
 * skipped. Writes at most cap spans; returns the count written. */
int text_split_sentences(const char *text, size_t n, struct text_span *out, int cap);

#endif
