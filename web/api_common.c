/* web/api_common.c: what every handler shares: a small JSON writer over kb_buf (struct jw: it
 * tracks commas per nesting level and escapes every string with kb_buf_put_json_str, so document
 * text can never break out of its string), the error body, collection lookup by name or id, and
 * extra response headers.
 *
 * The writer's first kb_buf failure (the buffer's cap) is sticky in w->rc; handlers check it once
 * at the end. Tests: tests/web/test_web.c. */
#include "web/web_int.h"

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

void web_error_body(struct kb_buf *b, int code, const struct kb_error *err)
{
    struct jw w;
    kb_buf_reset(b);
    jw_init(&w, b);
    jw_obj(&w, NULL);
    jw_obj(&w, "error");
    jw_str(&w, "code", kb_err_name(code));
    jw_str(&w, "message", kb_error_msg(err, code));
    /* OpenAI clients also read "type" */
    jw_str(&w, "type", kb_err_http_status(code) >= 500 ? "server_error" : "invalid_request_error");
    jw_end_obj(&w);
    jw_end_obj(&w);
    kb_buf_putc(b, '\n');
}

int web_collection_resolve(struct web_ctx *ctx, const char *idname, int64_t *id, struct kb_error *err)
{
    int64_t v;
    *id = 0;
    if (!idname || !idname[0])
        return 0;
    if (kb_parse_i64(idname, &v) == 0) {
        if (v < 0)
            return kb_error_set(err, KB_EINVAL, "collection id %lld is negative", (long long)v);
        *id = v;
        return 0;
    }
    return rag_collection_find(ctx->rag, idname, id, err);
}

int web_resp_header(struct web_req *req, struct web_resp *resp, const char *name, const char *value)
{
    char *v;
    if (resp->n_headers >= WEB_MAX_HEADERS)
        return KB_ETOOBIG;
    v = kb_arena_strdup(&req->arena, value);
    if (!v)
        return KB_ETOOBIG;
    resp->headers[resp->n_headers].name = name;
    resp->headers[resp->n_headers].value = v;
    resp->n_headers++;
    return 0;
}
