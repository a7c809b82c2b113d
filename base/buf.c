/* base/buf.c: struct kb_buf, a growable byte buffer with a hard cap. It doubles its allocation,
 * keeps a NUL after the data so it can be used as a C string, and refuses to pass max_bytes, so
 * every buffer filled from input is bounded. Tests: tests/base/test_buf.c. */
#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kb_buf_init(struct kb_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_bytes = max_bytes ? max_bytes : SIZE_MAX / 2;
}

void kb_buf_release(struct kb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void kb_buf_reset(struct kb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct kb_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (extra > b->max_bytes - b->len)
        return KB_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = kb_try_realloc(b->data, cap, 1);
    if (!p)
        return KB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kb_buf_append(struct kb_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kb_buf_puts(struct kb_buf *b, const char *s)
{
    return kb_buf_append(b, s, strlen(s));
}

int kb_buf_putc(struct kb_buf *b, char c)
{
    return kb_buf_append(b, &c, 1);
}

int kb_buf_printf(struct kb_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KB_EINVAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int kb_buf_put_json_str(struct kb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = kb_buf_putc(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rc = kb_buf_append(b, "\\\"", 2); break;
        case '\\': rc = kb_buf_append(b, "\\\\", 2); break;
        case '\n': rc = kb_buf_append(b, "\\n", 2); break;
        case '\r': rc = kb_buf_append(b, "\\r", 2); break;
        case '\t': rc = kb_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = kb_buf_append(b, u, 6);
            } else {
                rc = kb_buf_putc(b, (char)c);
            }
        }
    }
    return rc ? rc : kb_buf_putc(b, '"');
}

char *kb_buf_take(struct kb_buf *b)
{
    char *p = b->data ? b->data : kb_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
