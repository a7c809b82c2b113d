/* infer/tok_merge.c: the merge loop both BPE flavours run (tok_spm.c keys a pair by the merged
 * token's score, tok_bpe.c by the merge's rank, negated).
 *
 * Data flow: text -> UTF-8 characters (length from the lead byte only, as llama.cpp does) -> a
 * doubly linked chain of symbols -> every adjacent pair the caller's key function accepts goes into
 * a max-heap (ties: the leftmost pair first) -> popping a pair that is still current merges it and
 * offers the new pairs on both sides; a pair whose sides changed since it was offered is stale and
 * skipped. Invariants: every merge offers at most two pairs, so 3 x symbols + 4 heap slots suffice
 * and nothing is allocated after tok_merger_init. Tests: tests/infer/test_tok.c (through the SPM
 * and BPE vocabularies, and ../shared/vocab). */
#include <stdlib.h>

#include "infer/tok_int.h"

int tok_merger_init(struct tok_merger *m, size_t max_syms)
{
    m->n_heap = 0;
    m->cap_heap = 3 * max_syms + 4;
    m->sym = kb_try_malloc(max_syms ? max_syms : 1, sizeof *m->sym);
    m->heap = kb_try_malloc(m->cap_heap, sizeof *m->heap);
    if (!m->sym || !m->heap) {
        tok_merger_free(m);
        return KB_ENOMEM;
    }
    return 0;
}

void tok_merger_free(struct tok_merger *m)
{
    free(m->sym);
    free(m->heap);
    m->sym = NULL;
    m->heap = NULL;
}

static bool before(const struct tok_pair *a, const struct tok_pair *b)
{
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(struct tok_merger *m, struct tok_pair p)
{
    size_t i = m->n_heap++;
    KB_ASSERT(m->n_heap <= m->cap_heap);
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(&p, &m->heap[up]))
            break;
        m->heap[i] = m->heap[up];
        i = up;
    }
    m->heap[i] = p;
}

static struct tok_pair heap_pop(struct tok_merger *m)
{
    struct tok_pair top = m->heap[0], last = m->heap[--m->n_heap];
    size_t i = 0, n = m->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&m->heap[c + 1], &m->heap[c]))
            c++;
        if (!before(&m->heap[c], &last))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n > 0)
        m->heap[i] = last;
    return top;
}

static void offer(struct tok_merger *m, const struct tok_vocab *v, const char *text, tok_pair_key_fn key,
                  int32_t left, int32_t right)
{
    double k;
    if (left < 0 || right < 0 || !key(v, text, &m->sym[left], &m->sym[right], &k))
        return;
    heap_push(m, (struct tok_pair){k, left, right, m->sym[left].n + m->sym[right].n});
}

size_t tok_merge(struct tok_merger *m, const struct tok_vocab *v, const char *text, size_t n, tok_pair_key_fn key)
{
    static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t len = KB_MIN((size_t)utf8_len[(uint8_t)text[off] >> 4], n - off);
        m->sym[n_sym] = (struct tok_sym){(int32_t)n_sym - 1, off + len == n ? -1 : (int32_t)n_sym + 1,
                                         (uint32_t)off, (uint32_t)len};
        off += len;
        n_sym++;
    }
    m->n_heap = 0;
    for (size_t i = 1; i < n_sym; i++)
        offer(m, v, text, key, (int32_t)i - 1, (int32_t)i);
    while (m->n_heap > 0) {
        struct tok_pair p = heap_pop(m);
        struct tok_sym *l = &m->sym[p.left], *r = &m->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue; /* stale: one side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            m->sym[r->next].prev = p.left;
        offer(m, v, text, key, l->prev, p.left);
        offer(m, v, text, key, p.left, l->next);
    }
    return n_sym;
}
