/* web/json.c: the only cJSON user in kbox's web layer. It decodes a request body into a plain C
 * struct described by a field table (struct web_jfield), copying strings into the request arena,
 * and turns cJSON's parse position into an error message ("malformed JSON at byte 17: ..."), using
 * cJSON_ParseWithOpts because the global error pointer is not thread-safe.
 *
 * Bounds: nesting is limited by cJSON (CJSON_NESTING_LIMIT); arrays by each field's max_items;
 * the body itself is capped by the route before it gets here. Responses are not built here: they
 * are written straight into a kb_buf (api_common.c). err must not be NULL here.
 * Tests: tests/web/test_web.c (the 400 cases). */
#include "web/web_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static char *arena_dup(struct kb_arena *a, const char *s, struct kb_error *err)
{
    char *p = kb_arena_strdup(a, s);
    if (!p)
        kb_error_set(err, KB_ETOOBIG, "request too large for its memory budget");
    return p;
}

/* Renders a scalar or compound value as text: strings unquoted, numbers as integers when exact. */
static char *value_text(const cJSON *v, struct kb_arena *a, struct kb_error *err)
{
    char num[64];
    if (cJSON_IsString(v))
        return arena_dup(a, v->valuestring, err);
    if (cJSON_IsBool(v))
        return arena_dup(a, cJSON_IsTrue(v) ? "true" : "false", err);
    if (cJSON_IsNull(v))
        return arena_dup(a, "", err);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (fabs(d) < 9e15 && d == floor(d))
            snprintf(num, sizeof num, "%lld", (long long)(int64_t)d);
        else
            snprintf(num, sizeof num, "%.17g", d);
        return arena_dup(a, num, err);
    }
    {
        char *s = cJSON_PrintUnformatted(v);
        char *out = s ? arena_dup(a, s, err) : NULL;
        if (!s)
            kb_error_set(err, KB_ENOMEM, "cannot render a JSON value");
        cJSON_free(s);
        return out;
    }
}

/* A string, or OpenAI-style content parts [{"type":"text","text":"..."}] joined with newlines. */
static char *text_value(const cJSON *v, const char *name, struct kb_arena *a, struct kb_error *err)
{
    struct kb_buf b;
    const cJSON *part;
    char *out = NULL;
    if (cJSON_IsString(v))
        return arena_dup(a, v->valuestring, err);
    if (!cJSON_IsArray(v)) {
        kb_error_set(err, KB_EJSON, "member '%s' must be a string or an array of text parts", name);
        return NULL;
    }
    kb_buf_init(&b, 0);
    cJSON_ArrayForEach(part, v)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(part))
            t = part;
        if (!cJSON_IsString(t))
            continue; /* images and other parts carry no text we can use */
        if (b.len)
            kb_buf_putc(&b, '\n');
        kb_buf_puts(&b, t->valuestring);
    }
    out = arena_dup(a, b.data ? b.data : "", err);
    kb_buf_release(&b);
    return out;
}

static int decode_object(const cJSON *obj, const struct web_jfield *fields, void *out,
                         struct kb_arena *a, struct kb_error *err);

static int decode_field(const cJSON *v, const struct web_jfield *f, char *base, struct kb_arena *a,
                        struct kb_error *err)
{
    void *dst = base + f->off;
    switch (f->type) {
    case WEB_J_STR:
        if (!cJSON_IsString(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a string", f->name);
        return (*(char **)dst = arena_dup(a, v->valuestring, err)) ? 0 : err->code;
    case WEB_J_IDNAME:
        if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a name or an id", f->name);
        return (*(char **)dst = value_text(v, a, err)) ? 0 : err->code;
    case WEB_J_ANY:
        return (*(char **)dst = value_text(v, a, err)) ? 0 : err->code;
    case WEB_J_TEXT:
        return (*(char **)dst = text_value(v, f->name, a, err)) ? 0 : err->code;
    case WEB_J_INT:
        /* range first: converting an out-of-range double to an integer is undefined */
        if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 9007199254740992.0) ||
            v->valuedouble != floor(v->valuedouble))
            return kb_error_set(err, KB_EJSON, "member '%s' must be an integer (at most 2^53 in size)", f->name);
        *(int64_t *)dst = (int64_t)v->valuedouble;
        return 0;
    case WEB_J_DOUBLE:
        if (!cJSON_IsNumber(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a number", f->name);
        *(double *)dst = v->valuedouble;
        return 0;
    case WEB_J_BOOL:
        if (!cJSON_IsBool(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be true or false", f->name);
        *(bool *)dst = cJSON_IsTrue(v);
        return 0;
    case WEB_J_STRS: {
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
        char **arr;
        if (!cJSON_IsString(v) && !cJSON_IsArray(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a string or an array of strings", f->name);
        if (n > f->max_items)
            return kb_error_set(err, KB_ETOOBIG, "member '%s' has %d items; at most %lld allowed", f->name,
                                n, (long long)f->max_items);
        arr = kb_arena_alloc(a, sizeof *arr * (size_t)(n ? n : 1));
        if (!arr)
            return kb_error_set(err, KB_ETOOBIG, "request too large for its memory budget");
        if (cJSON_IsString(v)) {
            if (!(arr[0] = arena_dup(a, v->valuestring, err)))
                return err->code;
        } else {
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                if (!cJSON_IsString(e))
                    return kb_error_set(err, KB_EJSON, "member '%s' must hold only strings", f->name);
                if (!(arr[i++] = arena_dup(a, e->valuestring, err)))
                    return err->code;
            }
        }
        *(char ***)dst = arr;
        *(int *)(base + f->count_off) = n;
        return 0;
    }
    case WEB_J_OBJS: {
        int n, i = 0, rc;
        char *arr;
        const cJSON *e;
        if (!cJSON_IsArray(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be an array of objects", f->name);
        n = cJSON_GetArraySize(v);
        if (n > f->max_items)
            return kb_error_set(err, KB_ETOOBIG, "member '%s' has %d items; at most %lld allowed", f->name,
                                n, (long long)f->max_items);
        arr = kb_arena_alloc(a, f->elem_bytes * (size_t)(n ? n : 1));
        if (!arr)
            return kb_error_set(err, KB_ETOOBIG, "request too large for its memory budget");
        memset(arr, 0, f->elem_bytes * (size_t)(n ? n : 1));
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsObject(e))
                return kb_error_set(err, KB_EJSON, "member '%s' must hold only objects", f->name);
            if ((rc = decode_object(e, f->sub, arr + f->elem_bytes * (size_t)i++, a, err)))
                return rc;
        }
        *(void **)dst = arr;
        *(int *)(base + f->count_off) = n;
        return 0;
    }
    }
    return kb_error_set(err, KB_EINTERNAL, "unknown JSON field type");
}

static int decode_object(const cJSON *obj, const struct web_jfield *fields, void *out,
                         struct kb_arena *a, struct kb_error *err)
{
    for (const struct web_jfield *f = fields; f->name; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        int rc;
        if (!v || cJSON_IsNull(v))
            continue; /* absent: the caller's default stays; required members are checked below */
        if ((rc = decode_field(v, f, out, a, err)))
            return rc;
    }
    for (const struct web_jfield *f = fields; f->name; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (f->required && (!v || cJSON_IsNull(v)))
            return kb_error_set(err, KB_EJSON, "missing member '%s'", f->name);
    }
    return 0;
}

/* Parses one JSON object, reporting where it broke. *root is the caller's to cJSON_Delete. */
static int parse_object(const char *body, size_t n, cJSON **root, struct kb_error *err)
{
    const char *end = NULL;
    *root = NULL;
    if (!body || n == 0)
        return kb_error_set(err, KB_EJSON, "malformed JSON: the request body is empty");
    *root = cJSON_ParseWithOpts(body, &end, true);
    if (!*root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        char near[24];
        size_t k = 0;
        for (size_t i = at; i < n && k + 1 < sizeof near; i++)
            near[k++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?';
        near[k] = '\0';
        return kb_error_set(err, KB_EJSON, "malformed JSON at byte %zu near '%s'", at, near);
    }
    if (strlen(body) != n) {
        cJSON_Delete(*root);
        *root = NULL;
        return kb_error_set(err, KB_EJSON, "malformed JSON: NUL byte inside the body");
    }
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return kb_error_set(err, KB_EJSON, "malformed JSON: the body must be an object");
    }
    return 0;
}

int web_json_decode(const char *body, size_t n, const struct web_jfield *fields, void *out,
                    struct kb_arena *arena, struct kb_error *err)
{
    cJSON *root;
    int rc = parse_object(body, n, &root, err);
    if (rc)
        return rc;
    rc = decode_object(root, fields, out, arena, err);
    cJSON_Delete(root);
    return rc;
}

int web_json_members(const char *body, size_t n, web_json_member_fn fn, void *ud, struct kb_arena *arena,
                     struct kb_error *err)
{
    cJSON *root;
    const cJSON *m;
    int rc = parse_object(body, n, &root, err);
    if (rc)
        return rc;
    cJSON_ArrayForEach(m, root)
    {
        char *text = value_text(m, arena, err);
        if (!text) {
            rc = err->code;
            break;
        }
        if ((rc = fn(ud, m->string, text, err)))
            break;
    }
    cJSON_Delete(root);
    return rc;
}
