/* base/json.c: the only file of kbox that includes cJSON (STYLE rule 18). It translates cJSON's
 * values, errors and ownership into base/json.h's two reader interfaces:
 *
 * - a tree: struct kb_json is a cJSON node behind an opaque type, with borrowed accessors. rag
 *   reads evaluation JSON lines through it, tests compare CLI and HTTP output with it;
 * - a decoder: one JSON object into a plain C struct described by a field table (struct
 *   kb_jfield), strings copied into an arena. web decodes every request body with it.
 *
 * Parse errors carry the byte position and the text near it ("malformed JSON at byte 17 near
 * ..."); cJSON_ParseWithOpts is used because the global error pointer is not thread-safe.
 * Bounds: nesting is limited by cJSON (CJSON_NESTING_LIMIT); arrays by each field's max_items;
 * input size by the caller (web caps the body before it gets here). Tests: tests/web/test_web.c
 * (the 400 cases), tests/web/test_web_units.c, tests/cli/test_json_same.c. */
#include "base/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tree --------------------------------------------------------------------------------------- */

/* struct kb_json is never defined: a struct kb_json * is a cJSON * under another name. */
static const cJSON *cj(const struct kb_json *v)
{
    return (const cJSON *)(const void *)v;
}

static const struct kb_json *kj(const cJSON *v)
{
    return (const struct kb_json *)(const void *)v;
}

/* The error for text that stopped parsing at offset at: the position and the printable bytes there. */
static int parse_error(const char *text, size_t n, size_t at, struct kb_error *err)
{
    char near[24];
    size_t k = 0;
    for (size_t i = at; i < n && k + 1 < sizeof near; i++)
        near[k++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
    near[k] = '\0';
    return kb_error_set(err, KB_EJSON, "malformed JSON at byte %zu near '%s'", at, near);
}

int kb_json_parse(struct kb_json **out, const char *text, size_t n, size_t *end, struct kb_error *err)
{
    const char *stop = NULL;
    cJSON *root;
    int rc = 0;
    *out = NULL;
    root = cJSON_ParseWithOpts(text, &stop, end == NULL);
    if (!root) {
        rc = parse_error(text, n, stop && stop >= text ? (size_t)(stop - text) : 0, err);
    } else if (!end && strlen(text) != n) {
        cJSON_Delete(root);
        rc = kb_error_set(err, KB_EJSON, "malformed JSON: NUL byte inside the text");
    } else {
        if (end)
            *end = (size_t)(stop - text);
        *out = (struct kb_json *)(void *)root;
    }
    return rc;
}

void kb_json_free(struct kb_json *v)
{
    cJSON_Delete((cJSON *)(void *)v);
}

enum kb_json_kind kb_json_kind(const struct kb_json *v)
{
    const cJSON *c = cj(v);
    if (!c)
        return KB_JSON_INVALID;
    if (cJSON_IsNull(c))
        return KB_JSON_NULL;
    if (cJSON_IsBool(c))
        return KB_JSON_BOOL;
    if (cJSON_IsNumber(c))
        return KB_JSON_NUMBER;
    if (cJSON_IsString(c))
        return KB_JSON_STRING;
    if (cJSON_IsArray(c))
        return KB_JSON_ARRAY;
    return cJSON_IsObject(c) ? KB_JSON_OBJECT : KB_JSON_INVALID;
}

const struct kb_json *kb_json_get(const struct kb_json *obj, const char *key)
{
    return obj ? kj(cJSON_GetObjectItemCaseSensitive(cj(obj), key)) : NULL;
}

const char *kb_json_str(const struct kb_json *v)
{
    return cJSON_IsString(cj(v)) ? cj(v)->valuestring : NULL;
}

double kb_json_num(const struct kb_json *v)
{
    return cJSON_IsNumber(cj(v)) ? cj(v)->valuedouble : 0;
}

int64_t kb_json_i64(const struct kb_json *v, int64_t lo, int64_t hi)
{
    double d = kb_json_num(v);
    if (!(d > (double)lo)) /* also NaN */
        return lo;
    if (d >= (double)hi)
        return hi;
    return (int64_t)d;
}

const struct kb_json *kb_json_first(const struct kb_json *v)
{
    return cJSON_IsArray(cj(v)) || cJSON_IsObject(cj(v)) ? kj(cj(v)->child) : NULL;
}

const struct kb_json *kb_json_next(const struct kb_json *v)
{
    return v ? kj(cj(v)->next) : NULL;
}

const char *kb_json_key(const struct kb_json *member)
{
    return member ? cj(member)->string : NULL;
}

int kb_json_count(const struct kb_json *v)
{
    return cJSON_IsArray(cj(v)) || cJSON_IsObject(cj(v)) ? cJSON_GetArraySize(cj(v)) : 0;
}

bool kb_json_remove(struct kb_json *obj, const char *key)
{
    cJSON *o = (cJSON *)(void *)obj;
    bool found = false;
    while (cJSON_IsObject(o) && cJSON_GetObjectItemCaseSensitive(o, key)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        found = true;
    }
    return found;
}

bool kb_json_equal(const struct kb_json *a, const struct kb_json *b)
{
    return cJSON_Compare(cj(a), cj(b), true);
}

char *kb_json_print(const struct kb_json *v)
{
    char *s = v ? cJSON_PrintUnformatted(cj(v)) : NULL;
    char *out = s ? kb_xstrdup(s) : NULL; /* ours to free() whatever allocator cJSON was given */
    cJSON_free(s);
    return out;
}

/* ---- the decoder ------------------------------------------------------------------------------------ */

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

static int decode_object(const cJSON *obj, const struct kb_jfield *fields, void *out,
                         struct kb_arena *a, struct kb_error *err);

static int decode_field(const cJSON *v, const struct kb_jfield *f, char *base, struct kb_arena *a,
                        struct kb_error *err)
{
    void *dst = base + f->off;
    switch (f->type) {
    case KB_J_STR:
        if (!cJSON_IsString(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a string", f->name);
        return (*(char **)dst = arena_dup(a, v->valuestring, err)) ? 0 : err->code;
    case KB_J_IDNAME:
        if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a name or an id", f->name);
        return (*(char **)dst = value_text(v, a, err)) ? 0 : err->code;
    case KB_J_ANY:
        return (*(char **)dst = value_text(v, a, err)) ? 0 : err->code;
    case KB_J_TEXT:
        return (*(char **)dst = text_value(v, f->name, a, err)) ? 0 : err->code;
    case KB_J_INT:
        /* range first: converting an out-of-range double to an integer is undefined */
        if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 9007199254740992.0) ||
            v->valuedouble != floor(v->valuedouble))
            return kb_error_set(err, KB_EJSON, "member '%s' must be an integer (at most 2^53 in size)", f->name);
        *(int64_t *)dst = (int64_t)v->valuedouble;
        return 0;
    case KB_J_DOUBLE:
        if (!cJSON_IsNumber(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be a number", f->name);
        *(double *)dst = v->valuedouble;
        return 0;
    case KB_J_BOOL:
        if (!cJSON_IsBool(v))
            return kb_error_set(err, KB_EJSON, "member '%s' must be true or false", f->name);
        *(bool *)dst = cJSON_IsTrue(v);
        return 0;
    case KB_J_STRS: {
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
    case KB_J_OBJS: {
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

static int decode_object(const cJSON *obj, const struct kb_jfield *fields, void *out,
                         struct kb_arena *a, struct kb_error *err)
{
    for (const struct kb_jfield *f = fields; f->name; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        int rc;
        if (!v || cJSON_IsNull(v))
            continue; /* absent: the caller's default stays; required members are checked below */
        if ((rc = decode_field(v, f, out, a, err)))
            return rc;
    }
    for (const struct kb_jfield *f = fields; f->name; f++) {
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
    if (!*root)
        return parse_error(body, n, end && end >= body ? (size_t)(end - body) : 0, err);
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

int kb_json_decode(const char *body, size_t n, const struct kb_jfield *fields, void *out,
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

int kb_json_members(const char *body, size_t n, kb_json_member_fn fn, void *ud, struct kb_arena *arena,
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
