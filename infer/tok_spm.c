/* infer/tok_spm.c: SentencePiece-style BPE ("llama" vocabularies), as llama.cpp runs it.
 *
 * The text arrives with spaces already escaped to U+2581 (and the leading one added, tok.c). It is
 * split into UTF-8 characters (lengths from the lead byte only, as llama.cpp does); every adjacent
 * pair whose concatenation is a token goes into a max-heap keyed by that token's score (ties: the
 * leftmost pair first). Popping a pair that is still current merges it and offers the new pairs on
 * both sides. Whatever symbol is left that is not a token is emitted byte by byte through the
 * <0xXX> byte-fallback tokens. Scratch (symbols, heap) is allocated per call. Tests: test_tok.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/tok_int.h"

struct sym {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t off, n;    /* bytes of text; n == 0 once merged away */
};
struct bigram {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of the pair when it was offered */
};
struct spm {
    const struct tok_vocab *v;
    const char *text;
    struct sym *sym;
    struct bigram *heap;
    size_t n_heap, cap_heap;
};

/* a before b in the heap: higher score, then lower left index */
static bool before(const struct bigram *a, const struct bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(struct spm *s, struct bigram b)
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

static struct bigram heap_pop(struct spm *s)
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

static void try_pair(struct spm *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    uint32_t size = s->sym[left].n + s->sym[right].n;
    int32_t id = tok_lookup(s->v, s->text + s->sym[left].off, size);
    if (id == TOK_NULL)
        return;
    heap_push(s, (struct bigram){s->v->tok[id].score, left, right, size});
}

int tok_spm_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out)
{
    static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    struct spm s = {v, text, NULL, NULL, 0, 0};
    size_t n_sym = 0;
    if (n == 0)
        return 0;
    s.sym = kb_try_malloc(n, sizeof *s.sym);
    s.cap_heap = 3 * n + 4;
    s.heap = kb_try_malloc(s.cap_heap, sizeof *s.heap);
    if (!s.sym || !s.heap) {
        free(s.sym);
        free(s.heap);
        return KB_ENOMEM;
    }
    for (size_t off = 0; off < n;) {
        size_t len = KB_MIN((size_t)utf8_len[(uint8_t)text[off] >> 4], n - off);
        s.sym[n_sym] = (struct sym){(int32_t)n_sym - 1, off + len == n ? -1 : (int32_t)n_sym + 1,
                                    (uint32_t)off, (uint32_t)len};
        off += len;
        n_sym++;
    }
    for (size_t i = 1; i < n_sym; i++)
        try_pair(&s, (int32_t)i - 1, (int32_t)i);
    while (s.n_heap > 0) {
        struct bigram b = heap_pop(&s);
        struct sym *l = &s.sym[b.left], *r = &s.sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: one side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s.sym[r->next].prev = b.left;
        try_pair(&s, l->prev, b.left);
        try_pair(&s, b.left, l->next);
    }
    for (int32_t i = 0; i != -1; i = s.sym[i].next) {
        const struct sym *y = &s.sym[i];
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
    free(s.sym);
    free(s.heap);
    return out->oom ? KB_ENOMEM : 0;
}
