/* index/fts_tok.c: the index's entry to kbox's tokenizer. The tokenizer itself (what a token is, the
 * folding, CJK characters and pairs) lives in text/ (text/text.h) so that the FTS5 index (store.c
 * wraps index_tokenize as the "kbox" FTS5 tokenizer), the query builder (search.c), the built-in
 * embedder (embed_builtin.c) and rag/'s answer terms all cut and fold text by one function.
 * index_tokenize is that function under the index's public name (index/index.h), for rag/ and the
 * fuzzers. No allocation, thread-safe. Tests: tests/index/test_fts_tok.c, tests/text/test_text.c. */
#include "index/index.h"
#include "text/text.h"

_Static_assert(INDEX_TOKEN_MAX_BYTES == TEXT_TOKEN_MAX_BYTES, "index tokens are text tokens");

int index_tokenize(const char *text, size_t n, bool for_query, index_token_fn fn, void *ud)
{
    return text_tokenize(text, n, for_query, fn, ud);
}
