/* base/hash.c: FNV-1a (32- and 64-bit) and a small open-addressing index of int32 ids. The hot
 * parts (both FNV loops, kb_idtab_find and kb_idtab_add) are inline in base/base.h, so a caller's
 * constant comparison callback folds into the probe loop; this file sizes and frees tables.
 *
 * FNV-1a: h = (h ^ byte) * prime over the bytes, starting from the offset basis (KB_FNV1A*_INIT)
 * or from an earlier result, so a key made of several parts (a BPE merge's "left right") hashes
 * without being copied, and a seeded variant starts from its own value. The values are part of
 * stored data: the built-in embedder's feature ids (index/embed_builtin.c) and the FAISS sidecar's
 * id checksum (index/vectors.c) are computed with kb_fnv1a64, so its loop must never change.
 *
 * struct kb_idtab: slots hold id + 1 (0 is empty), the capacity is a power of two at least twice
 * the key count (at least 16), probing is linear. It stores no keys: the caller hashes them and
 * compares them through a callback against the key an id stands for, so a vocabulary or a GGUF file
 * keeps its names where they already are. No deletion. A table is read-only after it is filled,
 * and then safe to share between threads. Tests: tests/base/test_base.c (FNV test vectors). */
#include "base/base.h"

#include <stdlib.h>

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
