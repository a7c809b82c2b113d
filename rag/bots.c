/* rag/bots.c: bots (issue #16 item 3): named public-facing configurations over some collections,
 * with their own greeting, persona, fallback text, strict mode, answer model, widget origins,
 * colour, logo, language and public page. Stored by index/store_bots.c; this file validates,
 * decodes, renders and applies them.
 *
 * Inheritance: every setting left empty ("" or strict -1) takes the global one at the time of the
 * question (widget.greeting, answer.persona, answer.fallback, answer.strict, answer.model,
 * server.cors_origins, widget.color, widget.lang), so the bot "default" that the schema-7
 * migration creates behaves exactly as kbox did before bots. rag_ask applies a bot over one
 * configuration snapshot: a private copy of the snapshot takes the bot's answer.* values for that
 * question only (kb.c, rag_bot_config); retrieval is limited to the bot's collections.
 *
 * Handoff (issues #16 item 3, #17 item 1): handoff (true|false|"inherit"), handoff_keywords ("" =
 * handoff.keywords), handoff_after_fallbacks (0..100 or "inherit"; 0 = off) and
 * handoff_on_thumbs_down (true|false|"inherit") override the global handoff.* keys for questions,
 * votes and handoff requests that name the bot (rag_bot_handoff; web/api_handoff.c applies them),
 * and over the settings of the bot's collections (rag/coll_handoff.c has the precedence).
 *
 * Bounds: id 1..RAG_BOT_ID_MAX bytes of [a-z0-9-] (not starting with '-'); name 1..200; greeting,
 * fallback 0..1000; persona 0..4000; at most RAG_BOT_MAX_COLLECTIONS collections and
 * RAG_BOT_MAX_ORIGINS origins ("scheme://host[:port]", or "*"); color "#rgb" or "#rrggbb" (it goes
 * into CSS); logo an http(s) URL or a data:image/(png|jpeg|gif|webp);base64 URL of at most
 * RAG_BOT_LOGO_MAX bytes; lang "", "en" or "zh"; model "", "extractive" or a *.gguf file name.
 * Threads: stateless; the store has its own lock. Tests: tests/web/test_bots.c, tests/web/bots.mjs,
 * tests/web/test_handoff.c (test_bot_handoff), tests/cli/test_bot_cli.c. */
#include "rag/rag_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* ---- checks -------------------------------------------------------------------------------------- */

static bool bot_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > RAG_BOT_ID_MAX || id[0] == '-')
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int check_len(const char *what, const char *s, size_t lo, size_t hi, struct kb_error *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n < lo || n > hi)
        return lo ? kb_error_set(err, KB_EINVAL, "bot %s must be %zu to %zu bytes (got %zu)", what, lo, hi, n)
                  : kb_error_set(err, KB_EINVAL, "bot %s is longer than %zu bytes (%zu)", what, hi, n);
    if (s && !kb_utf8_valid(s, n))
        return kb_error_set(err, KB_EINVAL, "bot %s is not valid UTF-8", what);
    return 0;
}

/* "scheme://host[:port]" with nothing after, or "*". */
static bool origin_ok(const char *o)
{
    const char *h;
    size_t n = strlen(o);
    if (strcmp(o, "*") == 0)
        return true;
    if (strncasecmp(o, "http://", 7) == 0)
        h = o + 7;
    else if (strncasecmp(o, "https://", 8) == 0)
        h = o + 8;
    else
        return false;
    if (!*h || n > 200)
        return false;
    for (; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '.' ||
              *h == '-' || *h == ':' || *h == '[' || *h == ']'))
            return false;
    return true;
}

static bool color_ok(const char *c)
{
    size_t n = strlen(c);
    return !n || ((n == 4 || n == 7) && c[0] == '#' && strspn(c + 1, "0123456789abcdefABCDEF") == n - 1);
}

static int logo_check(const char *logo, struct kb_error *err)
{
    static const char *const kinds[] = {"data:image/png;base64,", "data:image/jpeg;base64,",
                                        "data:image/gif;base64,", "data:image/webp;base64,"};
    size_t n = strlen(logo);
    if (!n)
        return 0;
    if (n > RAG_BOT_LOGO_MAX)
        return kb_error_set(err, KB_ETOOBIG, "bot logo is %zu bytes; at most %d bytes (about %d KiB of image)", n,
                            RAG_BOT_LOGO_MAX, RAG_BOT_LOGO_MAX * 3 / 4 / 1024);
    for (size_t i = 0; i < KB_ARRAY_LEN(kinds); i++) {
        size_t k = strlen(kinds[i]);
        if (strncmp(logo, kinds[i], k) == 0) {
            if (strspn(logo + k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n - k)
                return kb_error_set(err, KB_EINVAL, "bot logo: the data URL's base64 text has other characters");
            return 0;
        }
    }
    if (strncmp(logo, "https://", 8) != 0 && strncmp(logo, "http://", 7) != 0)
        return kb_error_set(err, KB_EINVAL,
                            "bot logo must be an http(s) URL or a data:image/png|jpeg|gif|webp;base64 URL");
    if (n > 2048 || strpbrk(logo, " \t\r\n\"'<>\\`"))
        return kb_error_set(err, KB_EINVAL, "bot logo URL has spaces, quotes or angle brackets, or is too long");
    return 0;
}

static int model_check(const char *m, struct kb_error *err)
{
    size_t n = strlen(m);
    if (!n || strcmp(m, "extractive") == 0)
        return 0;
    if (n > 255 || strchr(m, '/') || m[0] == '.' || n < 6 || strcmp(m + n - 5, ".gguf") != 0)
        return kb_error_set(err, KB_EINVAL,
                            "bot model must be \"\" (answer.model), \"extractive\" or a .gguf file name in the models folder");
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------------ */

/* The JSON a client sends; absent members keep the values already there (an update starts from
 * the stored bot). */
struct bot_body {
    char *id, *name, *greeting, *persona, *fallback, *model, *color, *logo, *lang;
    char *strict;            /* KB_J_ANY: true, false, "inherit" */
    char *handoff, *handoff_on_thumbs_down; /* KB_J_ANY: true, false, "inherit" */
    char *handoff_after_fallbacks;          /* KB_J_ANY: 0..100, "inherit" */
    char *handoff_keywords;
    char **collections;      /* names, or ids as text */
    int n_collections;
    char **origins;
    int n_origins;
    bool public_page;
};

static const struct kb_jfield bot_fields[] = {
    {.name = "id", .type = KB_J_STR, .off = offsetof(struct bot_body, id)},
    {.name = "name", .type = KB_J_STR, .off = offsetof(struct bot_body, name)},
    {.name = "collections", .type = KB_J_STRS, .off = offsetof(struct bot_body, collections),
     .count_off = offsetof(struct bot_body, n_collections), .max_items = RAG_BOT_MAX_COLLECTIONS},
    {.name = "greeting", .type = KB_J_STR, .off = offsetof(struct bot_body, greeting)},
    {.name = "persona", .type = KB_J_STR, .off = offsetof(struct bot_body, persona)},
    {.name = "fallback", .type = KB_J_STR, .off = offsetof(struct bot_body, fallback)},
    {.name = "strict", .type = KB_J_ANY, .off = offsetof(struct bot_body, strict)},
    {.name = "model", .type = KB_J_STR, .off = offsetof(struct bot_body, model)},
    {.name = "origins", .type = KB_J_STRS, .off = offsetof(struct bot_body, origins),
     .count_off = offsetof(struct bot_body, n_origins), .max_items = RAG_BOT_MAX_ORIGINS},
    {.name = "color", .type = KB_J_STR, .off = offsetof(struct bot_body, color)},
    {.name = "logo", .type = KB_J_STR, .off = offsetof(struct bot_body, logo)},
    {.name = "lang", .type = KB_J_STR, .off = offsetof(struct bot_body, lang)},
    {.name = "public_page", .type = KB_J_BOOL, .off = offsetof(struct bot_body, public_page)},
    {.name = "handoff", .type = KB_J_ANY, .off = offsetof(struct bot_body, handoff)},
    {.name = "handoff_keywords", .type = KB_J_STR, .off = offsetof(struct bot_body, handoff_keywords)},
    {.name = "handoff_after_fallbacks", .type = KB_J_ANY, .off = offsetof(struct bot_body, handoff_after_fallbacks)},
    {.name = "handoff_on_thumbs_down", .type = KB_J_ANY, .off = offsetof(struct bot_body, handoff_on_thumbs_down)},
    {0},
};

/* Splits a comma-separated list into arena strings. */
static char **split_list(const char *s, struct kb_arena *a, int *n_out)
{
    int n = 0, cap = 1;
    char **v;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    v = kb_arena_alloc(a, (size_t)cap * sizeof *v);
    while (v && *s) {
        const char *e = strchr(s, ',');
        size_t k = e ? (size_t)(e - s) : strlen(s);
        if (k) {
            char *t = kb_arena_alloc(a, k + 1);
            if (!t)
                break;
            memcpy(t, s, k);
            t[k] = '\0';
            v[n++] = t;
        }
        s += k + (e ? 1 : 0);
    }
    *n_out = v ? n : 0;
    return v;
}

/* Joins n strings with ',' into an arena string. */
static char *join_list(char *const *v, int n, struct kb_arena *a)
{
    struct kb_buf b;
    char *out;
    kb_buf_init(&b, 0);
    for (int i = 0; i < n; i++)
        kb_buf_printf(&b, "%s%s", i ? "," : "", v[i]);
    out = kb_arena_strdup(a, b.data ? b.data : "");
    kb_buf_release(&b);
    return out;
}

/* Collection names (or ids as text) -> comma-separated ids. KB_ENOENT names an unknown one. */
static int bot_collections(struct rag *r, char *const *names, int n, struct kb_arena *a, const char **out,
                           struct kb_error *err)
{
    struct kb_buf b;
    int rc = 0;
    kb_buf_init(&b, 0);
    for (int i = 0; i < n && !rc; i++) {
        int64_t id = 0;
        struct index_collection *c = NULL;
        int nc = 0;
        if (kb_parse_i64(names[i], &id) == 0 && id > 0) {
            bool found = false;
            rc = index_collection_list(r->st, a, &c, &nc, err);
            for (int k = 0; !rc && k < nc; k++)
                found = found || c[k].id == id;
            if (!rc && !found)
                rc = kb_error_set(err, KB_ENOENT, "bot collection %lld does not exist", (long long)id);
        } else {
            rc = index_collection_find(r->st, names[i], &id, err);
            if (rc == KB_ENOENT)
                rc = kb_error_set(err, KB_ENOENT, "bot collection '%.200s' does not exist", names[i]);
        }
        if (!rc)
            kb_buf_printf(&b, "%s%lld", b.len ? "," : "", (long long)id);
    }
    *out = kb_arena_strdup(a, b.data ? b.data : "");
    kb_buf_release(&b);
    return rc;
}

/* true|false|"inherit" -> 1|0|-1; -2 for anything else. */
static int tri_state(const char *v)
{
    return !strcmp(v, "inherit") ? -1 : !strcmp(v, "true") ? 1 : !strcmp(v, "false") ? 0 : -2;
}

/* "inherit" -> -1, a whole number 0..100 -> itself, else -2. */
static int after_fallbacks_value(const char *v)
{
    int64_t n = 0;
    if (!strcmp(v, "inherit"))
        return -1;
    return kb_parse_i64(v, &n) == 0 && n >= 0 && n <= 100 ? (int)n : -2;
}

static int handoff_validate(const struct bot_body *b, struct kb_error *err)
{
    int rc;
    if (tri_state(b->handoff) < -1)
        return kb_error_set(err, KB_EINVAL, "bot handoff must be true, false or \"inherit\" (got %.20s)", b->handoff);
    if (tri_state(b->handoff_on_thumbs_down) < -1)
        return kb_error_set(err, KB_EINVAL, "bot handoff_on_thumbs_down must be true, false or \"inherit\" (got %.20s)",
                            b->handoff_on_thumbs_down);
    if (after_fallbacks_value(b->handoff_after_fallbacks) < -1)
        return kb_error_set(err, KB_EINVAL, "bot handoff_after_fallbacks must be 0 to 100 or \"inherit\" (got %.20s)",
                            b->handoff_after_fallbacks);
    if ((rc = check_len("handoff_keywords", b->handoff_keywords, 0, 1000, err)))
        return rc;
    for (const char *p = b->handoff_keywords ? b->handoff_keywords : ""; *p; p++)
        if ((unsigned char)*p < 0x20)
            return kb_error_set(err, KB_EINVAL, "bot handoff_keywords has a control character (write a comma-separated list)");
    return 0;
}

static int bot_validate(const struct bot_body *b, struct kb_error *err)
{
    int rc;
    if (!bot_id_ok(b->id))
        return kb_error_set(err, KB_EINVAL, "bot id must be 1 to %d characters of a-z, 0-9 and '-' (got '%.64s')",
                            RAG_BOT_ID_MAX, b->id ? b->id : "");
    if ((rc = check_len("name", b->name, 1, 200, err)) || (rc = check_len("greeting", b->greeting, 0, 1000, err)) ||
        (rc = check_len("persona", b->persona, 0, 4000, err)) ||
        (rc = check_len("fallback", b->fallback, 0, 1000, err)) || (rc = model_check(b->model, err)) ||
        (rc = logo_check(b->logo, err)))
        return rc;
    if (!color_ok(b->color))
        return kb_error_set(err, KB_EINVAL, "bot color must be #rgb or #rrggbb (got '%.40s')", b->color);
    if (b->lang[0] && strcmp(b->lang, "en") && strcmp(b->lang, "zh"))
        return kb_error_set(err, KB_EINVAL, "bot lang must be en or zh (got '%.20s')", b->lang);
    if (strcmp(b->strict, "true") && strcmp(b->strict, "false") && strcmp(b->strict, "inherit"))
        return kb_error_set(err, KB_EINVAL, "bot strict must be true, false or \"inherit\" (got %.20s)", b->strict);
    for (int i = 0; i < b->n_origins; i++)
        if (!origin_ok(b->origins[i]))
            return kb_error_set(err, KB_EINVAL, "bot origin '%.200s' must look like https://shop.example.com[:port]",
                                b->origins[i]);
    return handoff_validate(b, err);
}

static void body_from_bot(struct bot_body *b, const struct index_bot *ib, struct kb_arena *a)
{
    b->id = (char *)ib->id;
    b->name = (char *)ib->name;
    b->greeting = (char *)ib->greeting;
    b->persona = (char *)ib->persona;
    b->fallback = (char *)ib->fallback;
    b->model = (char *)ib->model;
    b->color = (char *)ib->color;
    b->logo = (char *)ib->logo;
    b->lang = (char *)ib->lang;
    b->strict = ib->strict < 0 ? "inherit" : ib->strict ? "true" : "false";
    b->collections = split_list(ib->collections, a, &b->n_collections);
    b->origins = split_list(ib->origins, a, &b->n_origins);
    b->public_page = ib->public_page;
    b->handoff = ib->handoff < 0 ? "inherit" : ib->handoff ? "true" : "false";
    b->handoff_on_thumbs_down = ib->handoff_on_thumbs_down < 0 ? "inherit" : ib->handoff_on_thumbs_down ? "true" : "false";
    b->handoff_keywords = (char *)ib->handoff_keywords;
    b->handoff_after_fallbacks = "inherit";
    if (ib->handoff_after_fallbacks >= 0) {
        b->handoff_after_fallbacks = kb_arena_alloc(a, 16);
        if (b->handoff_after_fallbacks)
            snprintf(b->handoff_after_fallbacks, 16, "%d", ib->handoff_after_fallbacks);
        else
            b->handoff_after_fallbacks = "inherit";
    }
}

int rag_bot_put_json(struct rag *r, const char *id, const char *body, size_t n, char *id_out, size_t id_bytes,
                     struct kb_error *err)
{
    struct kb_arena a;
    struct index_bot ib = {0};
    struct bot_body b = {.name = "", .greeting = "", .persona = "", .fallback = "", .model = "", .color = "",
                         .logo = "", .lang = "", .strict = "inherit", .public_page = true,
                         .handoff = "inherit", .handoff_on_thumbs_down = "inherit",
                         .handoff_after_fallbacks = "inherit", .handoff_keywords = ""};
    int rc = 0;
    kb_arena_init(&a, 0, 0);
    if (id) { /* update: the stored bot, then what the body names */
        if ((rc = index_bot_get(r->st, id, &a, &ib, err)))
            goto out;
        body_from_bot(&b, &ib, &a);
    }
    if ((rc = kb_json_decode(body, n, bot_fields, &b, &a, err)))
        goto out;
    if (id && strcmp(b.id, id) != 0) {
        rc = kb_error_set(err, KB_EINVAL, "a bot's id cannot change ('%.64s' in the body, '%.64s' in the path)", b.id,
                          id);
        goto out;
    }
    if (!id && !b.name[0] && b.id)
        b.name = b.id;
    if ((rc = bot_validate(&b, err)))
        goto out;
    memset(&ib, 0, sizeof ib);
    ib.id = b.id;
    ib.name = b.name;
    ib.greeting = b.greeting;
    ib.persona = b.persona;
    ib.fallback = b.fallback;
    ib.model = b.model;
    ib.color = b.color;
    ib.logo = b.logo;
    ib.lang = b.lang;
    ib.strict = strcmp(b.strict, "inherit") == 0 ? -1 : strcmp(b.strict, "true") == 0;
    ib.public_page = b.public_page;
    ib.handoff = tri_state(b.handoff);
    ib.handoff_on_thumbs_down = tri_state(b.handoff_on_thumbs_down);
    ib.handoff_after_fallbacks = after_fallbacks_value(b.handoff_after_fallbacks);
    ib.handoff_keywords = b.handoff_keywords ? b.handoff_keywords : "";
    ib.origins = join_list(b.origins, b.n_origins, &a);
    if ((rc = bot_collections(r, b.collections, b.n_collections, &a, &ib.collections, err)))
        goto out;
    if ((rc = index_bot_put(r->st, &ib, id == NULL, err)))
        goto out;
    if (id_out)
        kb_strlcpy(id_out, b.id, id_bytes);
out:
    kb_arena_release(&a);
    return rc;
}

int rag_bot_delete(struct rag *r, const char *id, struct kb_error *err)
{
    return index_bot_delete(r->st, id, err);
}

/* ---- reading and rendering --------------------------------------------------------------------------- */

/* Whether origin is in a comma-separated list ("*" allows all); a trailing '/' is ignored. */
bool rag_origin_in_list(const char *list, const char *origin)
{
    size_t no = origin ? strlen(origin) : 0;
    while (no > 1 && origin[no - 1] == '/')
        no--;
    if (!list || !no)
        return false;
    while (*list) {
        const char *e = strchr(list, ',');
        size_t k = e ? (size_t)(e - list) : strlen(list);
        const char *s = list;
        while (k && (*s == ' ' || *s == '\t'))
            s++, k--;
        while (k && (s[k - 1] == ' ' || s[k - 1] == '/'))
            k--;
        if ((k == 1 && *s == '*') || (k == no && strncasecmp(s, origin, k) == 0))
            return true;
        list += (e ? (size_t)(e - list) + 1 : strlen(list));
    }
    return false;
}

int rag_bot_get(struct rag *r, const char *id, struct kb_arena *a, struct rag_bot *out, struct kb_error *err)
{
    struct index_bot ib;
    struct index_collection *c = NULL;
    char **ids;
    int n_ids = 0, nc = 0, rc;
    memset(out, 0, sizeof *out);
    if (!bot_id_ok(id))
        return kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", id ? id : "");
    if ((rc = index_bot_get(r->st, id, a, &ib, err)) || (rc = index_collection_list(r->st, a, &c, &nc, err)))
        return rc;
    *out = (struct rag_bot){.id = ib.id, .name = ib.name, .greeting = ib.greeting, .persona = ib.persona,
                            .fallback = ib.fallback, .strict = ib.strict, .model = ib.model, .origins = ib.origins,
                            .color = ib.color, .logo = ib.logo, .lang = ib.lang, .public_page = ib.public_page,
                            .created_at = ib.created_at, .updated_at = ib.updated_at, .handoff = ib.handoff,
                            .handoff_keywords = ib.handoff_keywords,
                            .handoff_after_fallbacks = ib.handoff_after_fallbacks,
                            .handoff_on_thumbs_down = ib.handoff_on_thumbs_down};
    ids = split_list(ib.collections, a, &n_ids);
    out->n_stored_collections = n_ids;
    out->collection_ids = kb_arena_alloc(a, (size_t)(n_ids + 1) * sizeof *out->collection_ids);
    out->collection_names = kb_arena_alloc(a, (size_t)(n_ids + 1) * sizeof *out->collection_names);
    if (!out->collection_ids || !out->collection_names)
        return kb_error_set(err, KB_ENOMEM, "no memory for a bot's collections");
    for (int i = 0; i < n_ids; i++) {
        int64_t v = 0;
        if (kb_parse_i64(ids[i], &v))
            continue;
        for (int k = 0; k < nc; k++)
            if (c[k].id == v) { /* a deleted collection is dropped here */
                out->collection_ids[out->n_collections] = v;
                out->collection_names[out->n_collections++] = c[k].name;
            }
    }
    return 0;
}

bool rag_bot_origin_allowed(const struct rag_bot *b, const struct config *cfg, const char *origin)
{
    return rag_origin_in_list(b->origins[0] ? b->origins : cfg->server_cors_origins, origin);
}

bool rag_bot_origin_any(struct rag *r, const char *origin)
{
    struct kb_arena a;
    struct index_bot *b = NULL;
    struct kb_error err = {0};
    int n = 0;
    bool ok = false;
    kb_arena_init(&a, 0, 0);
    if (index_bot_list(r->st, true, &a, &b, &n, &err) == 0)
        for (int i = 0; i < n && !ok; i++)
            ok = b[i].origins[0] && rag_origin_in_list(b[i].origins, origin);
    kb_arena_release(&a);
    return ok;
}

static const char *or_(const char *v, const char *dflt)
{
    return v && v[0] ? v : dflt;
}

void rag_bot_handoff_apply(const struct rag_bot *b, struct rag_handoff_rules *out)
{
    if (b->handoff >= 0)
        out->enabled = b->handoff != 0;
    if (b->handoff_on_thumbs_down >= 0)
        out->on_thumbs_down = b->handoff_on_thumbs_down != 0;
    if (b->handoff_keywords && b->handoff_keywords[0])
        out->keywords = b->handoff_keywords;
    if (b->handoff_after_fallbacks >= 0)
        out->after_fallbacks = b->handoff_after_fallbacks;
}

void rag_bot_handoff(const struct rag_bot *b, const struct config *cfg, struct rag_handoff_rules *out)
{
    out->enabled = cfg->handoff_enabled;
    out->on_thumbs_down = cfg->handoff_on_thumbs_down;
    out->keywords = cfg->handoff_keywords;
    out->after_fallbacks = (int)cfg->handoff_after_fallbacks;
    if (b)
        rag_bot_handoff_apply(b, out);
}

static void tri_json(struct jw *w, const char *key, int v)
{
    if (v < 0)
        jw_str(w, key, "inherit");
    else
        jw_bool(w, key, v != 0);
}

/* The bot's own handoff settings ("inherit" / "") and, under "effective", the rules in force. */
static void bot_handoff_json(struct jw *w, const struct rag_bot *b, const struct config *cfg)
{
    struct rag_handoff_rules h;
    tri_json(w, "handoff", b->handoff);
    jw_str(w, "handoff_keywords", b->handoff_keywords ? b->handoff_keywords : "");
    if (b->handoff_after_fallbacks < 0)
        jw_str(w, "handoff_after_fallbacks", "inherit");
    else
        jw_int(w, "handoff_after_fallbacks", b->handoff_after_fallbacks);
    tri_json(w, "handoff_on_thumbs_down", b->handoff_on_thumbs_down);
    rag_bot_handoff(b, cfg, &h);
    jw_obj(w, "effective_handoff");
    jw_bool(w, "enabled", h.enabled);
    jw_str(w, "keywords", h.keywords);
    jw_int(w, "after_fallbacks", h.after_fallbacks);
    jw_bool(w, "on_thumbs_down", h.on_thumbs_down);
    jw_end_obj(w);
}

void rag_bot_json(struct jw *w, const char *key, const struct rag_bot *b, const struct config *cfg, bool full)
{
    jw_obj(w, key);
    jw_str(w, "id", b->id);
    jw_str(w, "name", b->name);
    jw_str(w, "greeting", or_(b->greeting, cfg->widget_greeting));
    jw_str(w, "color", or_(b->color, cfg->widget_color));
    jw_str(w, "lang", or_(b->lang, cfg->widget_lang));
    jw_str(w, "logo", b->logo);
    jw_bool(w, "public_page", b->public_page);
    if (full) {
        jw_arr(w, "collections");
        for (int i = 0; i < b->n_collections; i++) {
            jw_obj(w, NULL);
            jw_int(w, "id", b->collection_ids[i]);
            jw_str(w, "name", b->collection_names[i]);
            jw_end_obj(w);
        }
        jw_end_arr(w);
        jw_str(w, "persona", b->persona);
        jw_str(w, "fallback", b->fallback);
        if (b->strict < 0)
            jw_str(w, "strict", "inherit");
        else
            jw_bool(w, "strict", b->strict != 0);
        jw_str(w, "model", b->model);
        jw_arr(w, "origins");
        for (const char *p = b->origins; *p;) {
            const char *e = strchr(p, ',');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            jw_strn(w, NULL, p, k);
            p += k + (e ? 1 : 0);
        }
        jw_end_arr(w);
        /* the stored values ("" = inherited) beside the effective ones above */
        jw_obj(w, "own");
        jw_str(w, "greeting", b->greeting);
        jw_str(w, "color", b->color);
        jw_str(w, "lang", b->lang);
        jw_end_obj(w);
        jw_obj(w, "effective");
        jw_str(w, "fallback", or_(b->fallback, cfg->answer_fallback));
        jw_bool(w, "strict", b->strict < 0 ? cfg->answer_strict : b->strict != 0);
        jw_str(w, "model", or_(b->model, cfg->answer_model[0] ? cfg->answer_model : "extractive"));
        jw_str(w, "origins", or_(b->origins, cfg->server_cors_origins));
        jw_end_obj(w);
        bot_handoff_json(w, b, cfg);
        jw_int(w, "created_at", b->created_at);
        jw_int(w, "updated_at", b->updated_at);
    }
    jw_end_obj(w);
}

int rag_bots_json(struct rag *r, struct jw *w, const char *key, struct kb_error *err)
{
    struct kb_arena a;
    struct index_bot *b = NULL;
    const struct config *cfg = rag_config_get(r);
    int n = 0, rc;
    kb_arena_init(&a, 0, 0);
    rc = index_bot_list(r->st, true, &a, &b, &n, err);
    jw_arr(w, key);
    for (int i = 0; !rc && i < n; i++) {
        struct rag_bot one;
        if ((rc = rag_bot_get(r, b[i].id, &a, &one, err)) == 0)
            rag_bot_json(w, NULL, &one, cfg, true);
    }
    jw_end_arr(w);
    rag_config_put(r, cfg);
    kb_arena_release(&a);
    return rc;
}

int rag_bot_ids(struct rag *r, struct kb_arena *a, const char ***ids, int *n_out, struct kb_error *err)
{
    struct index_bot *b = NULL;
    int n = 0, rc = index_bot_list(r->st, true, a, &b, &n, err);
    *ids = NULL;
    *n_out = 0;
    if (rc)
        return rc;
    *ids = kb_arena_alloc(a, (size_t)(n + 1) * sizeof **ids);
    if (!*ids)
        return kb_error_set(err, KB_ENOMEM, "no memory for %d bot ids", n);
    for (int i = 0; i < n; i++)
        (*ids)[i] = b[i].id;
    *n_out = n;
    return 0;
}

/* ---- applying a bot to one question (kb.c) ---------------------------------------------------------- */

int rag_bot_config(const struct rag_bot *b, const struct config *cfg, struct config *out, bool *extractive,
                   const char **note, struct kb_error *err)
{
    int rc = 0;
    config_copy(out, cfg);
    *extractive = false;
    *note = NULL;
    if (b->fallback[0])
        rc = config_set(out, "answer.fallback", b->fallback, CONFIG_SRC_FLAG, err);
    if (!rc && b->persona[0])
        rc = config_set(out, "answer.persona", b->persona, CONFIG_SRC_FLAG, err);
    if (!rc && b->strict >= 0)
        rc = config_set(out, "answer.strict", b->strict ? "true" : "false", CONFIG_SRC_FLAG, err);
    if (strcmp(b->model, "extractive") == 0) {
        *extractive = true;
    } else if (b->model[0]) {
        /* one answer model is loaded at a time: a bot naming another answers from the passages */
        const char *loaded = strrchr(cfg->answer_model, '/');
        loaded = loaded ? loaded + 1 : cfg->answer_model;
        if (strcmp(loaded, b->model) != 0) {
            *extractive = true;
            *note = "bot_model_not_loaded";
        }
    }
    if (rc)
        config_release(out);
    return rc;
}
