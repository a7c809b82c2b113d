/* infer/tok_bpe.c: byte-level BPE ("gpt2" vocabularies), as llama.cpp runs it.
 *
 * Data flow: bytes -> code points (invalid UTF-8 -> U+FFFD) -> words by the pre-tokenizer
 * (tok_pre.c) -> each word's UTF-8 bytes mapped through GPT-2's bytes_to_unicode -> symbols, one per
 * mapped character -> tok_merge.c repeatedly merges the adjacent pair of lowest merge rank (ties:
 * leftmost) -> a token per final symbol, or its single bytes
 * when it is not a token. With ignore_merges (Llama 3), a word that is itself a token is emitted
 * whole. Scratch is allocated once per call, sized by the input. Tests: test_tok.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/tok_int.h"

static bool bpe_key(const struct tok_vocab *v, const char *w, const struct tok_sym *l, const struct tok_sym *r,
                    double *key)
{
    int32_t rank = tok_merge_rank(v, w + l->off, l->n, w + r->off, r->n);
    if (rank < 0)
        return false;
    *key = -(double)rank; /* the lowest rank merges first */
    return true;
}

static void bpe_word(struct tok_merger *m, const struct tok_vocab *v, const char *w, size_t n, struct tok_ids *out)
{
    if (v->ignore_merges) {
        int32_t id = tok_lookup(v, w, n);
        if (id != TOK_NULL) {
            tok_ids_push(out, id);
            return;
        }
    }
    for (int32_t i = tok_merge(m, v, w, n, bpe_key) ? 0 : -1; i != -1; i = m->sym[i].next) {
        const struct tok_sym *y = &m->sym[i];
        int32_t id = tok_lookup(v, w + y->off, y->n);
        if (id != TOK_NULL) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) { /* as llama.cpp: the raw bytes that happen to be tokens */
            id = tok_lookup(v, w + y->off + j, 1);
            if (id != TOK_NULL)
                tok_ids_push(out, id);
        }
    }
}

int tok_bpe_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out)
{
    uint32_t *cps = NULL, *lens = NULL, *units = NULL, *tmp = NULL;
    uint8_t *cats = NULL;
    char *word = NULL;
    struct tok_merger m = {0};
    size_t n_cp = 0;
    int rc = 0;
    if (n == 0)
        return 0;
    cps = kb_try_malloc(n, sizeof *cps);
    lens = kb_try_malloc(n, sizeof *lens);
    units = kb_try_malloc(n, sizeof *units);
    tmp = kb_try_malloc(n, sizeof *tmp);
    cats = kb_try_malloc(n, 1);
    word = kb_try_malloc(n, 8); /* <= 4 bytes per code point, each mapped to <= 2 bytes */
    /* a mapped word has one character per byte of its UTF-8, at most 3 per input byte (an invalid
     * byte becomes U+FFFD); 4 per byte leaves a margin */
    if (!cps || !lens || !units || !tmp || !cats || !word || tok_merger_init(&m, 4 * n) != 0) {
        rc = KB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n;)
        i += (size_t)kb_utf8_decode_lenient(text + i, n - i, &cps[n_cp++]);
    size_t n_words = tok_pre_split(v->pre, cps, n_cp, lens, cats, units, tmp);
    size_t c0 = 0;
    for (size_t k = 0; k < n_words; k++) {
        size_t len = 0;
        for (size_t c = c0; c < c0 + lens[k]; c++) {
            char u[4];
            int nb = kb_utf8_encode_lenient(cps[c], u);
            for (int j = 0; j < nb; j++)
                len += (size_t)kb_utf8_encode_lenient(tok_byte_to_cp((uint8_t)u[j]), word + len);
        }
        c0 += lens[k];
        bpe_word(&m, v, word, len, out);
    }
    if (out->oom)
        rc = KB_ENOMEM;
out:
    free(cps);
    free(lens);
    free(units);
    free(tmp);
    free(cats);
    free(word);
    tok_merger_free(&m);
    return rc;
}
