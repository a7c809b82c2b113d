/* web/api_bots.c: bots over HTTP (issue #16 item 3): their management API, their public page and
 * the per-bot origin check the widget, /api/ask and /v1/chat/completions go through.
 *
 *   GET    /api/bots            (admin) {"bots":[bot]}   bot: rag_bot_json's full object
 *   POST   /api/bots            (admin) {id, name, collections, greeting, persona, fallback, strict,
 *                                        model, origins, color, logo, lang, public_page, handoff,
 *                                        handoff_keywords, handoff_after_fallbacks,
 *                                        handoff_on_thumbs_down}  201 {"bot"}
 *   GET    /api/bots/ID         (admin) {"bot"}
 *   PUT|PATCH /api/bots/ID      (admin) members to change  {"bot"}
 *   DELETE /api/bots/ID         (admin) 204
 *   GET    /b/ID                (public) the bot's full-page chat (static bot.html, which loads
 *                                widget.js in page mode); 404 for an unknown bot or one whose
 *                                public page is off
 * The widget asks GET /api/widget?bot=ID and POST /api/ask {bot: ID}; OpenAI clients name the bot
 * as `model` (api_openai.c). All of them call web_bot_admit, which refuses (403) a browser whose
 * Origin is neither kbox's own nor in the bot's origins (server.cors_origins when the bot has none).
 * Admission (routes.c) lets a cross-origin request through when server.cors_origins or any bot
 * lists its origin, because the bot is named in the body it has not read yet; web_bot_admit is the
 * check that counts, and a request naming no bot must pass server.cors_origins (web_origin_global).
 *
 * Per-collection access: an account limited to some collections sees (lists, reads, changes,
 * deletes, asks through) only bots whose collections it may all see, others are 404; a bot it makes
 * or changes must name such collections (a bot over every collection would show it the rest).
 * Creation, changes and deletion are audited (bot.create, bot.update, bot.delete).
 * Errors: 404 unknown bot, 400 bad JSON or a bad member (named), 413 a logo over RAG_BOT_LOGO_MAX,
 * 409 an existing id, 403 a refused origin. Tests: tests/web/test_bots.c, tests/web/bots.mjs. */
#include "web/web_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BOT_PATH "/api/bots/"

/* The ID of /api/bots/ID or /b/ID; KB_ENOENT when the rest is empty or has another segment. */
static int path_bot_id(const struct web_req *req, const char *prefix, char *id, size_t n, struct kb_error *err)
{
    const char *rest = req->path + strlen(prefix);
    if (!rest[0] || strchr(rest, '/') || strlen(rest) >= n)
        return kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", rest);
    kb_strlcpy(id, rest, n);
    return 0;
}

/* A browser's own UI: Origin "http(s)://Host" with a Host kbox answers to. */
static bool web_same_origin(struct web_req *req, const char *origin)
{
    const char *host = web_req_header(req, "Host"), *rest;
    if (!host || !host[0] || !web_host_allowed(req->ctx, host))
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return false;
    return strcasecmp(rest, host) == 0;
}

int web_bot_admit(struct web_req *req, const char *id, struct rag_bot *out, struct kb_error *err)
{
    const char *origin = web_req_header(req, "Origin");
    const struct config *cfg;
    int rc;
    if (!web_key_may_use_bot(&req->who, id))
        return kb_error_set(err, KB_ESCOPE, "the API key is not scoped to bot '%.100s'", id);
    rc = rag_bot_get(req->ctx->rag, id, &req->arena, out, err);
    if (rc == 0 && !web_bot_visible(req, out)) /* a restricted account: bots over hidden collections are 404 */
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", id);
    if (rc || !origin || !origin[0] || req->admin || web_same_origin(req, origin))
        return rc;
    cfg = rag_config_get(req->ctx->rag);
    if (!rag_bot_origin_allowed(out, cfg, origin))
        rc = kb_error_set(err, KB_EFORBIDDEN, "origin '%.200s' is not allowed for bot '%s' (its origins: %.300s)",
                          origin, out->id, out->origins[0] ? out->origins : "server.cors_origins");
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}

int web_origin_global(struct web_req *req, struct kb_error *err)
{
    const char *origin = web_req_header(req, "Origin");
    const struct config *cfg;
    int rc = 0;
    if (!web_key_may_use_bot(&req->who, NULL))
        return kb_error_set(err, KB_ESCOPE, "the API key is scoped to bots: name one (\"bot\", or the bot as the model)");
    if (!origin || !origin[0] || req->admin || web_same_origin(req, origin))
        return 0;
    cfg = rag_config_get(req->ctx->rag);
    if (!rag_origin_in_list(cfg->server_cors_origins, origin))
        rc = kb_error_set(err, KB_EFORBIDDEN, "origin '%.200s' is not allowed (server.cors_origins; a bot's "
                                              "widget names its bot)", origin);
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}

/* {"bot": ...} of bot id, full. */
static int bot_resp(struct web_req *req, struct web_resp *resp, const char *id, struct kb_error *err)
{
    struct rag_bot b;
    const struct config *cfg;
    struct jw w;
    int rc = rag_bot_get(req->ctx->rag, id, &req->arena, &b, err);
    if (rc)
        return rc;
    cfg = rag_config_get(req->ctx->rag);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_bot_json(&w, "bot", &b, cfg, true);
    jw_end_obj(&w);
    rag_config_put(req->ctx->rag, cfg);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* A restricted account's view of bots: only those over collections it may see (404 otherwise). */
static int bot_seen(struct web_req *req, const char *id, struct kb_error *err)
{
    struct rag_bot b;
    int rc;
    if (!req->who.collections[0])
        return 0;
    rc = rag_bot_get(req->ctx->rag, id, &req->arena, &b, err);
    if (rc == 0 && !web_bot_visible(req, &b))
        rc = kb_error_set(err, KB_ENOENT, "no bot with id '%.64s'", id);
    return rc;
}

/* A restricted account may only give a bot collections it sees, and at least one (none: every
 * collection). creating: the body must name them. Names or ids a bot does not know are left to
 * rag_bot_put_json's own error. */
struct colls_body {
    char **names;
    int n;
};

static int bot_colls_check(struct web_req *req, bool creating, struct kb_error *err)
{
    static const struct kb_jfield fields[] = {
        {.name = "collections", .type = KB_J_STRS, .off = offsetof(struct colls_body, names),
         .count_off = offsetof(struct colls_body, n), .max_items = RAG_BOT_MAX_COLLECTIONS},
        {0},
    };
    struct colls_body b = {NULL, -1};
    int rc;
    if (!req->who.collections[0])
        return 0;
    if ((rc = kb_json_decode(req->body ? req->body : "{}", req->body ? req->body_bytes : 2, fields, &b, &req->arena, err)))
        return rc;
    if (b.n < 0 && !creating)
        return 0;
    if (b.n <= 0)
        return kb_error_set(err, KB_EFORBIDDEN, "this account sees only some collections: name the bot's collections");
    for (int i = 0; i < b.n; i++) {
        int64_t id = 0;
        if ((rc = web_collection_resolve(req->ctx, b.names[i], &id, err)))
            return rc == KB_ENOENT ? kb_error_set(err, KB_ENOENT, "bot collection '%.200s' does not exist", b.names[i]) : rc;
        if (!id || !web_coll_visible(req, id))
            return kb_error_set(err, KB_ENOENT, "bot collection '%.200s' does not exist", b.names[i]);
    }
    return 0;
}

int web_h_bots_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const struct config *cfg;
    const char **ids = NULL;
    struct jw w;
    int n = 0, rc;
    if (!req->who.collections[0]) {
        jw_init(&w, &resp->body);
        jw_obj(&w, NULL);
        rc = rag_bots_json(req->ctx->rag, &w, "bots", err);
        jw_end_obj(&w);
        return rc ? rc : w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
    }
    if ((rc = rag_bot_ids(req->ctx->rag, &req->arena, &ids, &n, err)))
        return rc;
    cfg = rag_config_get(req->ctx->rag);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "bots");
    for (int i = 0; i < n && rc == 0; i++) {
        struct rag_bot b;
        if ((rc = rag_bot_get(req->ctx->rag, ids[i], &req->arena, &b, err)) == 0 && web_bot_visible(req, &b))
            rag_bot_json(&w, NULL, &b, cfg, true);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_config_put(req->ctx->rag, cfg);
    return rc ? rc : w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_bot_create(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    char id[RAG_BOT_ID_MAX + 1];
    int rc = bot_colls_check(req, true, err);
    rc = rc ? rc : rag_bot_put_json(req->ctx->rag, NULL, req->body ? req->body : "", req->body_bytes, id, sizeof id, err);
    if (rc)
        return rc;
    web_audit(req, "bot.create", id, "");
    resp->status = 201;
    return bot_resp(req, resp, id, err);
}

int web_h_bot_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    char id[RAG_BOT_ID_MAX + 1];
    int rc = path_bot_id(req, BOT_PATH, id, sizeof id, err);
    rc = rc ? rc : bot_seen(req, id, err);
    return rc ? rc : bot_resp(req, resp, id, err);
}

int web_h_bot_update(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    char id[RAG_BOT_ID_MAX + 1];
    int rc = path_bot_id(req, BOT_PATH, id, sizeof id, err);
    rc = rc ? rc : bot_seen(req, id, err);
    rc = rc ? rc : bot_colls_check(req, false, err);
    if (!rc)
        rc = rag_bot_put_json(req->ctx->rag, id, req->body ? req->body : "", req->body_bytes, NULL, 0, err);
    if (!rc)
        web_audit(req, "bot.update", id, "");
    return rc ? rc : bot_resp(req, resp, id, err);
}

int web_h_bot_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    char id[RAG_BOT_ID_MAX + 1];
    int rc = path_bot_id(req, BOT_PATH, id, sizeof id, err);
    rc = rc ? rc : bot_seen(req, id, err);
    if (!rc)
        rc = rag_bot_delete(req->ctx->rag, id, err);
    if (!rc) {
        web_audit(req, "bot.delete", id, "");
        resp->status = 204;
    }
    return rc;
}

/* The widget's settings for a bot: {bot, title, greeting, color, lang, logo} (title is the bot's
 * name). Called by web_h_widget_config for GET /api/widget?bot=ID. */
int web_bot_widget_config(struct web_req *req, struct web_resp *resp, const char *id, struct kb_error *err)
{
    struct rag_bot b;
    const struct config *cfg;
    struct jw w;
    int rc = web_bot_admit(req, id, &b, err);
    if (rc)
        return rc;
    cfg = rag_config_get(req->ctx->rag);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_str(&w, "bot", b.id);
    jw_str(&w, "title", b.name);
    jw_str(&w, "greeting", b.greeting[0] ? b.greeting : cfg->widget_greeting);
    jw_str(&w, "color", b.color[0] ? b.color : cfg->widget_color);
    jw_str(&w, "lang", b.lang[0] ? b.lang : cfg->widget_lang);
    jw_str(&w, "logo", b.logo);
    jw_end_obj(&w);
    rag_config_put(req->ctx->rag, cfg);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* The full-page chat may show a logo from any https site; otherwise as strict as the UI. */
static const char page_csp[] = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: https: http:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'";

int web_h_bot_page(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    char id[RAG_BOT_ID_MAX + 1];
    struct rag_bot b;
    const struct web_asset *a;
    int rc = path_bot_id(req, "/b/", id, sizeof id, err);
    if (rc || (rc = rag_bot_get(req->ctx->rag, id, &req->arena, &b, err)))
        return rc;
    if (!b.public_page)
        return kb_error_set(err, KB_ENOENT, "bot '%s' has no public page", b.id);
    if (!(a = web_asset_find("bot.html")))
        return kb_error_set(err, KB_EINTERNAL, "bot.html is not compiled in");
    resp->content_type = web_mime_for(a->name);
    if ((rc = kb_buf_append(&resp->body, a->data, a->n_bytes)))
        return kb_error_set(err, rc, "cannot send the bot page");
    web_resp_header(req, resp, "Cache-Control", "no-cache");
    web_resp_header(req, resp, "Content-Security-Policy", page_csp);
    web_resp_header(req, resp, "Referrer-Policy", "no-referrer");
    return 0;
}
