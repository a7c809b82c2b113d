/* base/hash.c: FNV-1a (32- and 64-bit) and a small open-addressing index of int32 ids.
 *
 * FNV-1a: h = (h ^ byte) * prime over the bytes, starting from the offset basis (KB_FNV1A*_INIT)
 * or from an earlier result, so a key made of several parts (a BPE merge's "left right") hashes
 * without being copied, and a seeded variant starts from its own value. The values are part of
 * stored data: the built-in embedder's feature ids (index/embed_builtin.c) and the FAISS sidecar's
 * id checksum (index/vectors.c) are computed with kb_fnv1a64, so this loop must never change.
 *
 * struct kb_idtab: slots hold id + 1 (0 is empty), the capacity is a power of two at least twice
 * the key count (at least 16), probing is linear. It stores no keys: the caller hashes them and
 * compares them through a callback against the key an id stands for, so a vocabulary or a GGUF file
 * keeps its names where they already are. No deletion. A table is read-only after it is filled,
 * and then safe to share between threads. Tests: tests/base/test_base.c (FNV test vectors). */
#include "base/base.h"

#include <stdlib.h>

uint32_t kb_fnv1a32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

uint64_t kb_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int kb_idtab_init(struct kb_idtab *t, size_t n_keys)
{
    uint32_t cap = 16;
    t->slots = NULL;
    t->mask = 0;
    if (n_keys > INT32_MAX / 2)
        return KB_ETOOBIG;
    while (cap < 2u * (uint32_t)n_keys)
        cap <<= 1;
    t->slots = kb_try_calloc(cap, sizeof *t->slots);
    if (!t->slots)
        return KB_ENOMEM;
    t->mask = cap - 1;
    return 0;
}

void kb_idtab_release(struct kb_idtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
}

int32_t kb_idtab_find(const struct kb_idtab *t, uint32_t hash, kb_idtab_eq_fn eq, const void *ctx,
                      const void *key, size_t key_len)
{
    int32_t found = -1;
    if (!t->slots)
        return -1;
    for (uint32_t i = hash & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask) {
        if (eq(ctx, t->slots[i] - 1, key, key_len)) {
            found = t->slots[i] - 1;
            break;
        }
    }
    return found;
}

int32_t kb_idtab_add(struct kb_idtab *t, uint32_t hash, int32_t id, kb_idtab_eq_fn eq, const void *ctx,
                     const void *key, size_t key_len)
{
    uint32_t i = hash & t->mask;
    KB_ASSERT(t->slots && id >= 0 && id < INT32_MAX);
    for (; t->slots[i] != 0; i = (i + 1) & t->mask)
        if (eq(ctx, t->slots[i] - 1, key, key_len))
            return t->slots[i] - 1;
    t->slots[i] = id + 1;
    return id;
}
