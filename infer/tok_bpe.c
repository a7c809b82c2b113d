/* infer/tok_bpe.c: byte-level BPE ("gpt2" vocabularies), as llama.cpp runs it.
 *
 * Data flow: bytes -> code points (invalid UTF-8 -> U+FFFD) -> words by the pre-tokenizer
 * (tok_pre.c) -> each word's UTF-8 bytes mapped through GPT-2's bytes_to_unicode -> symbols, one per
 * mapped character -> repeatedly merge the adjacent pair of lowest merge rank (ties: leftmost),
 * skipping heap entries made stale by earlier merges -> a token per final symbol, or its single bytes
 * when it is not a token. With ignore_merges (Llama 3), a word that is itself a token is emitted
 * whole. Scratch is allocated once per call, sized by the input. Tests: test_tok.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/tok_int.h"

struct sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes in the mapped word; n == 0 once merged away */
};
struct bigram {
    int32_t rank, left, right;
    uint32_t size;
};
struct bpe {
    const struct tok_vocab *v;
    const char *w; /* the mapped word */
    struct sym *sym;
    struct bigram *heap;
    size_t n_heap, cap_heap;
};

static bool before(const struct bigram *a, const struct bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(struct bpe *s, struct bigram b)
{
    size_t i = s->n_heap++;
    KB_ASSERT(s->n_heap <= s->cap_heap);
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = b;
}

static struct bigram heap_pop(struct bpe *s)
{
    struct bigram top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

static void try_pair(struct bpe *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const struct sym *l = &s->sym[left], *r = &s->sym[right];
    int32_t rank = tok_merge_rank(s->v, s->w + l->off, l->n, s->w + r->off, r->n);
    if (rank < 0)
        return;
    heap_push(s, (struct bigram){rank, left, right, l->n + r->n});
}

static void bpe_word(struct bpe *s, size_t n, struct tok_ids *out)
{
    static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const struct tok_vocab *v = s->v;
    const char *w = s->w;
    size_t n_sym = 0;
    if (v->ignore_merges) {
        int32_t id = tok_lookup(v, w, n);
        if (id != TOK_NULL) {
            tok_ids_push(out, id);
            return;
        }
    }
    for (size_t off = 0; off < n;) {
        size_t len = KB_MIN((size_t)utf8_len[(uint8_t)w[off] >> 4], n - off);
        s->sym[n_sym] = (struct sym){(int32_t)n_sym - 1, off + len == n ? -1 : (int32_t)n_sym + 1,
                                     (uint32_t)off, (uint32_t)len};
        off += len;
        n_sym++;
    }
    s->n_heap = 0;
    for (size_t i = 1; i < n_sym; i++)
        try_pair(s, (int32_t)i - 1, (int32_t)i);
    while (s->n_heap > 0) {
        struct bigram b = heap_pop(s);
        struct sym *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = b.left;
        try_pair(s, l->prev, b.left);
        try_pair(s, b.left, l->next);
    }
    for (int32_t i = n_sym ? 0 : -1; i != -1; i = s->sym[i].next) {
        const struct sym *y = &s->sym[i];
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
    struct bpe s = {v, NULL, NULL, NULL, 0, 0};
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
    s.sym = kb_try_malloc(n, 4 * sizeof *s.sym);
    s.cap_heap = 12 * n + 4;
    s.heap = kb_try_malloc(s.cap_heap, sizeof *s.heap);
    if (!cps || !lens || !units || !tmp || !cats || !word || !s.sym || !s.heap) {
        rc = KB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n;)
        i += (size_t)tok_utf8_next((const uint8_t *)text + i, n - i, &cps[n_cp++]);
    size_t n_words = tok_pre_split(v->pre, cps, n_cp, lens, cats, units, tmp);
    s.w = word;
    size_t c0 = 0;
    for (size_t k = 0; k < n_words; k++) {
        size_t m = 0;
        for (size_t c = c0; c < c0 + lens[k]; c++) {
            char u[4];
            int nb = tok_utf8_put(cps[c], u);
            for (int j = 0; j < nb; j++)
                m += (size_t)tok_utf8_put(tok_byte_to_cp((uint8_t)u[j]), word + m);
        }
        c0 += lens[k];
        bpe_word(&s, m, out);
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
    free(s.sym);
    free(s.heap);
    return rc;
}
