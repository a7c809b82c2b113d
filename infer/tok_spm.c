/* infer/tok_spm.c: SentencePiece-style BPE ("llama" vocabularies), as llama.cpp runs it.
 *
 * The text arrives with spaces already escaped to U+2581 (and the leading one added, tok.c). It is
 * split into UTF-8 characters and merged by tok_merge.c: every adjacent pair whose concatenation is
 * a token is keyed by that token's score (ties: the leftmost pair first). Whatever symbol is left that is not a token is emitted byte by byte through the
 * <0xXX> byte-fallback tokens. Scratch (symbols, heap) is allocated per call. Tests: test_tok.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/tok_int.h"

static bool spm_key(const struct tok_vocab *v, const char *text, const struct tok_sym *l, const struct tok_sym *r,
                    double *key)
{
    int32_t id = tok_lookup(v, text + l->off, l->n + r->n);
    if (id == TOK_NULL)
        return false;
    *key = v->tok[id].score;
    return true;
}

int tok_spm_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out)
{
    struct tok_merger m;
    if (n == 0)
        return 0;
    if (tok_merger_init(&m, n) != 0)
        return KB_ENOMEM;
    tok_merge(&m, v, text, n, spm_key);
    for (int32_t i = 0; i != -1; i = m.sym[i].next) {
        const struct tok_sym *y = &m.sym[i];
        int32_t id = tok_lookup(v, text + y->off, y->n);
        if (id != TOK_NULL) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) { /* byte fallback */
            id = tok_byte_token(v, (uint8_t)text[y->off + j]);
            if (id == TOK_NULL)
                id = v->special[TOK_UNK];
            if (id != TOK_NULL)
                tok_ids_push(out, id);
        }
    }
    tok_merger_free(&m);
    return out->oom ? KB_ENOMEM : 0;
}
