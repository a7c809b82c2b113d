/* base/arena.c: a bump allocator with a byte cap. Blocks are chained newest-first; a request larger
 * than a block gets a block of its own. Everything is freed together by kb_arena_release(), which is
 * how per-request and per-document lifetimes are expressed. Not thread-safe: one owner at a time.
 * Tests: tests/base/test_arena.c. */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

struct kb_arena_block {
    struct kb_arena_block *next; /* older block */
    size_t size;                 /* usable bytes in data */
    size_t used;                 /* bytes handed out from data */
    _Alignas(16) unsigned char data[];
};

void kb_arena_init(struct kb_arena *a, size_t block_bytes, size_t cap_bytes)
{
    a->head = NULL;
    a->block_bytes = block_bytes ? block_bytes : 64 * 1024;
    a->used_bytes = 0;
    a->cap_bytes = cap_bytes ? cap_bytes : SIZE_MAX;
}

void kb_arena_release(struct kb_arena *a)
{
    struct kb_arena_block *b = a->head;
    while (b) {
        struct kb_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void *kb_arena_alloc(struct kb_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    struct kb_arena_block *b = a->head;
    void *p;
    if (need < n || need > a->cap_bytes - a->used_bytes)
        return NULL;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->block_bytes ? need : a->block_bytes;
        b = kb_try_malloc(1, sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    p = b->data + b->used;
    b->used += need;
    a->used_bytes += need;
    return p;
}

char *kb_arena_strndup(struct kb_arena *a, const char *s, size_t n)
{
    char *p = kb_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *kb_arena_strdup(struct kb_arena *a, const char *s)
{
    return kb_arena_strndup(a, s, strlen(s));
}
