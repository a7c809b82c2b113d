/* base/json_write.c: the JSON writer (struct jw, declared in base/json.h). It writes straight into a
 * capped kb_buf: jw_key puts the comma and the escaped key before each value, jw_open/jw_end_* track
 * one "first member" flag per nesting level (at most JW_MAX_DEPTH, asserted). Strings are escaped by
 * kb_buf_put_json_str (quotes, backslashes, every control character as \n, \t or \u00XX); invalid
 * UTF-8 is first replaced by U+FFFD (kb_utf8_sanitize), so the output is always valid JSON.
 *
 * The first kb_buf failure (the buffer's cap) is sticky in w->rc; later writes still run but the
 * caller checks w->rc once at the end. Numbers: integers as %lld, doubles as %.9g, non-finite
 * doubles as null. Tests: tests/web/test_web_units.c. */
#include "base/json.h"

#include <math.h>
#include <string.h>

void jw_init(struct jw *w, struct kb_buf *b)
{
    memset(w, 0, sizeof *w);
    w->b = b;
    w->first[0] = true;
}

static void jw_put(struct jw *w, int rc)
{
    if (rc && !w->rc)
        w->rc = rc;
}

/* Writes the comma and the key (when inside an object) that precede a value. */
static void jw_key(struct jw *w, const char *key)
{
    if (!w->first[w->depth])
        jw_put(w, kb_buf_putc(w->b, ','));
    w->first[w->depth] = false;
    if (key) {
        jw_put(w, kb_buf_put_json_str(w->b, key, strlen(key)));
        jw_put(w, kb_buf_putc(w->b, ':'));
    }
}

static void jw_open(struct jw *w, const char *key, char c)
{
    jw_key(w, key);
    jw_put(w, kb_buf_putc(w->b, c));
    KB_ASSERT(w->depth + 1 < (int)KB_ARRAY_LEN(w->first));
    w->first[++w->depth] = true;
}

void jw_obj(struct jw *w, const char *key)
{
    jw_open(w, key, '{');
}

void jw_arr(struct jw *w, const char *key)
{
    jw_open(w, key, '[');
}

void jw_end_obj(struct jw *w)
{
    KB_ASSERT(w->depth > 0);
    w->depth--;
    jw_put(w, kb_buf_putc(w->b, '}'));
}

void jw_end_arr(struct jw *w)
{
    KB_ASSERT(w->depth > 0);
    w->depth--;
    jw_put(w, kb_buf_putc(w->b, ']'));
}

void jw_strn(struct jw *w, const char *key, const char *v, size_t n)
{
    jw_key(w, key);
    if (!v) {
        jw_put(w, kb_buf_puts(w->b, "null"));
        return;
    }
    if (kb_utf8_valid(v, n)) {
        jw_put(w, kb_buf_put_json_str(w->b, v, n));
    } else {
        /* Invalid UTF-8 from a document must not make invalid JSON: replace bad bytes. */
        struct kb_buf clean;
        kb_buf_init(&clean, 0);
        jw_put(w, kb_utf8_sanitize(&clean, v, n));
        jw_put(w, kb_buf_put_json_str(w->b, clean.data ? clean.data : "", clean.len));
        kb_buf_release(&clean);
    }
}

void jw_str(struct jw *w, const char *key, const char *v)
{
    jw_strn(w, key, v, v ? strlen(v) : 0);
}

void jw_int(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_put(w, kb_buf_printf(w->b, "%lld", (long long)v));
}

void jw_num(struct jw *w, const char *key, double v)
{
    jw_key(w, key);
    if (!isfinite(v))
        jw_put(w, kb_buf_puts(w->b, "null"));
    else
        jw_put(w, kb_buf_printf(w->b, "%.9g", v));
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_put(w, kb_buf_puts(w->b, v ? "true" : "false"));
}

void jw_null(struct jw *w, const char *key)
{
    jw_key(w, key);
    jw_put(w, kb_buf_puts(w->b, "null"));
}

void jw_raw(struct jw *w, const char *key, const char *json)
{
    jw_key(w, key);
    jw_put(w, kb_buf_puts(w->b, json));
}
