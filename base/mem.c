/* base/mem.c: allocation. kb_x* abort on out-of-memory (the program chose the size, so running out
 * is not the input's fault); kb_try_* check count*size for overflow and may fail, and pass every
 * request through an optional failure hook so tests can prove the error paths. The hook is one of
 * the three process-wide objects the house style allows. Tests: tests/base/test_mem.c. */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kb_alloc_fail_fn mem_fail_fn;
static void *mem_fail_ud;

_Noreturn void kb_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "kbox: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

static _Noreturn void mem_oom(size_t n)
{
    fprintf(stderr, "kbox: out of memory allocating %zu bytes\n", n);
    abort();
}

void *kb_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        mem_oom(n);
    return p;
}

void *kb_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        mem_oom(count * size);
    return p;
}

void *kb_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        mem_oom(n);
    return q;
}

char *kb_xstrdup(const char *s)
{
    return kb_xstrndup(s, strlen(s));
}

char *kb_xstrndup(const char *s, size_t n)
{
    char *p = kb_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void kb_alloc_set_fail_hook(kb_alloc_fail_fn fn, void *ud)
{
    mem_fail_fn = fn;
    mem_fail_ud = ud;
}

static bool mem_checked_size(size_t count, size_t size, size_t *bytes)
{
    if (size && count > SIZE_MAX / size)
        return false;
    *bytes = count * size;
    if (mem_fail_fn && mem_fail_fn(*bytes, mem_fail_ud))
        return false;
    return true;
}

void *kb_try_malloc(size_t count, size_t size)
{
    size_t n;
    if (!mem_checked_size(count, size, &n))
        return NULL;
    return malloc(n ? n : 1);
}

void *kb_try_calloc(size_t count, size_t size)
{
    size_t n;
    if (!mem_checked_size(count, size, &n))
        return NULL;
    return calloc(n ? n : 1, 1);
}

void *kb_try_realloc(void *p, size_t count, size_t size)
{
    size_t n;
    if (!mem_checked_size(count, size, &n))
        return NULL;
    return realloc(p, n ? n : 1);
}
