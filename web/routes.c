/* web/routes.c: the one static route table of kbox's HTTP API, path matching, and admission
 * (auth level, per-IP rate limit, CORS origin) of a matched request.
 *
 * Every route states its method, its path pattern ({id} matches one positive integer segment; a
 * trailing "*" matches any rest), its handler, its body cap and its auth level. An unknown path is
 * 404 and a known path with another method is 405, both as JSON errors from server.c. HEAD is
 * matched as GET. Admission happens before any body byte is read, so an unauthenticated upload
 * never reaches the disk. Settings a request depends on (server.public_ask, server.cors_origins,
 * the rate limit) are read from configuration snapshots (rag_config_get/put), never from a config
 * that a settings change could be rewriting. A cross-origin browser is admitted when
 * server.cors_origins or any bot's origins list it; the handlers then check the bot the body names
 * (web/api_bots.c, web_bot_admit) or, naming none, server.cors_origins.
 *
 * Host check (DNS rebinding): server.c answers 421 to a Host header that web_host_allowed does
 * not find in ctx->allowed_hosts, before routing; same_origin() also checks it, so a page on a
 * rebound name cannot pass as our own UI. Failed admin logins are throttled per IP on their own
 * table (WEB_LOGIN_FAILS_PER_MIN), independent of server.rate_limit_per_min. Tests: tests/web/test_web.c,
 * tests/web/test_settings_race.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define KiB 1024

static const struct web_route routes[] = {
    /* UI and widget: static files compiled into the binary */
    {"GET", "/", web_h_index, WEB_BODY_NONE, WEB_AUTH_NONE, "ui"},
    {"GET", "/static/*", web_h_static, WEB_BODY_NONE, WEB_AUTH_NONE, "static"},
    {"GET", "/widget.js", web_h_widget_js, WEB_BODY_NONE, WEB_AUTH_NONE, "widget_js"},
    /* health and metrics */
    {"GET", "/api/health", web_h_health, WEB_BODY_NONE, WEB_AUTH_NONE, "health"},
    {"GET", "/metrics", web_h_metrics, WEB_BODY_NONE, WEB_AUTH_ASK, "metrics"},
    /* CORS preflight for the widget and browser clients of the OpenAI API */
    {"OPTIONS", "/api/*", web_h_preflight, WEB_BODY_NONE, WEB_AUTH_NONE, "preflight"},
    {"OPTIONS", "/v1/*", web_h_preflight, WEB_BODY_NONE, WEB_AUTH_NONE, "preflight"},
    /* documents and jobs */
    {"POST", "/api/documents", web_h_docs_upload, WEB_BODY_UPLOAD, WEB_AUTH_ADMIN, "documents_upload"},
    {"GET", "/api/documents", web_h_docs_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "documents_list"},
    {"GET", "/api/documents/{id}", web_h_doc_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_get"},
    {"DELETE", "/api/documents/{id}", web_h_doc_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_delete"},
    {"GET", "/api/documents/{id}/file", web_h_doc_file, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_file"},
    {"POST", "/api/documents/{id}/reingest", web_h_doc_reingest, 4 * KiB, WEB_AUTH_ADMIN, "document_reingest"},
    {"GET", "/api/jobs", web_h_jobs_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "jobs_list"},
    {"GET", "/api/jobs/{id}", web_h_job_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "job_get"},
    /* collections */
    {"GET", "/api/collections", web_h_colls_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "collections_list"},
    {"POST", "/api/collections", web_h_coll_create, 16 * KiB, WEB_AUTH_ADMIN, "collection_create"},
    {"PATCH", "/api/collections/{id}", web_h_coll_rename, 16 * KiB, WEB_AUTH_ADMIN, "collection_rename"},
    {"PUT", "/api/collections/{id}", web_h_coll_rename, 16 * KiB, WEB_AUTH_ADMIN, "collection_rename"},
    {"DELETE", "/api/collections/{id}", web_h_coll_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "collection_delete"},
    /* retrieval and answers */
    {"POST", "/api/search", web_h_search, WEB_BODY_CFG, WEB_AUTH_ASK, "search"},
    {"POST", "/api/ask", web_h_ask, WEB_BODY_CFG, WEB_AUTH_ASK, "ask"},
    {"GET", "/api/widget", web_h_widget_config, WEB_BODY_NONE, WEB_AUTH_ASK, "widget_config"},
    /* bots (api_bots.c): management, and each bot's public full-page chat */
    {"GET", "/api/bots", web_h_bots_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bots_list"},
    {"POST", "/api/bots", web_h_bot_create, 256 * KiB, WEB_AUTH_ADMIN, "bot_create"},
    {"GET", "/api/bots/*", web_h_bot_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bot_get"},
    {"PUT", "/api/bots/*", web_h_bot_update, 256 * KiB, WEB_AUTH_ADMIN, "bot_update"},
    {"PATCH", "/api/bots/*", web_h_bot_update, 256 * KiB, WEB_AUTH_ADMIN, "bot_update"},
    {"DELETE", "/api/bots/*", web_h_bot_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bot_delete"},
    {"GET", "/b/*", web_h_bot_page, WEB_BODY_NONE, WEB_AUTH_NONE, "bot_page"},
    /* curated answers: the FAQ editor (api_faq.c) */
    {"GET", "/api/faq", web_h_faq_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_list"},
    {"POST", "/api/faq", web_h_faq_create, 256 * KiB, WEB_AUTH_ADMIN, "faq_create"},
    {"POST", "/api/faq/import", web_h_faq_import, 16 * 1024 * KiB, WEB_AUTH_ADMIN, "faq_import"},
    {"GET", "/api/faq/export", web_h_faq_export, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_export"},
    {"GET", "/api/faq/{id}", web_h_faq_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_get"},
    {"PUT", "/api/faq/{id}", web_h_faq_update, 256 * KiB, WEB_AUTH_ADMIN, "faq_update"},
    {"DELETE", "/api/faq/{id}", web_h_faq_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_delete"},
    {"GET", "/api/faq/{id}/versions", web_h_faq_versions, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_versions"},
    {"POST", "/api/faq/{id}/similar", web_h_faq_similar, 16 * KiB, WEB_AUTH_ADMIN, "faq_similar"},
    /* the conversation log: feedback (public, with the conversation's secret), review, analytics */
    {"POST", "/api/feedback", web_h_feedback, 32 * KiB, WEB_AUTH_ASK, "feedback"},
    {"GET", "/api/review", web_h_review_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "review_list"},
    {"POST", "/api/review/{id}", web_h_review_set, 4 * KiB, WEB_AUTH_ADMIN, "review_set"},
    {"GET", "/api/stats", web_h_stats, WEB_BODY_NONE, WEB_AUTH_ADMIN, "stats"},
    {"GET", "/api/logs/export", web_h_logs_export, WEB_BODY_NONE, WEB_AUTH_ADMIN, "logs_export"},
    {"DELETE", "/api/conversations/{id}", web_h_conversation_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN,
     "conversation_delete"},
    /* settings */
    {"GET", "/api/settings", web_h_settings_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "settings_get"},
    {"PUT", "/api/settings", web_h_settings_set, 64 * KiB, WEB_AUTH_ADMIN, "settings_set"},
    {"POST", "/api/settings", web_h_settings_set, 64 * KiB, WEB_AUTH_ADMIN, "settings_set"},
    {"GET", "/api/models", web_h_models, WEB_BODY_NONE, WEB_AUTH_ADMIN, "models"},
    /* OpenAI-compatible */
    {"POST", "/v1/chat/completions", web_h_oa_chat, WEB_BODY_CFG, WEB_AUTH_ASK, "oa_chat"},
    {"GET", "/v1/models", web_h_oa_models, WEB_BODY_NONE, WEB_AUTH_ASK, "oa_models"},
    {"POST", "/v1/embeddings", web_h_oa_embeddings, WEB_BODY_CFG, WEB_AUTH_ASK, "oa_embeddings"},
};

int web_n_routes(void)
{
    return (int)KB_ARRAY_LEN(routes);
}

const struct web_route *web_route_at(int idx)
{
    return idx >= 0 && idx < web_n_routes() ? &routes[idx] : NULL;
}

/* Matches one pattern; fills ids on success. */
static bool path_match(const char *pat, const char *path, int64_t ids[2], int *n_ids)
{
    int n = 0;
    while (*pat) {
        if (pat[0] == '*' && pat[1] == '\0') {
            *n_ids = n;
            return true;
        }
        if (strncmp(pat, "{id}", 4) == 0) {
            char digits[20];
            size_t k = 0;
            int64_t v;
            while (path[k] >= '0' && path[k] <= '9' && k < sizeof digits - 1) {
                digits[k] = path[k];
                k++;
            }
            digits[k] = '\0';
            if (k == 0 || (path[k] != '/' && path[k] != '\0') || n >= 2 || kb_parse_i64(digits, &v) || v <= 0)
                return false;
            ids[n++] = v;
            pat += 4;
            path += k;
            continue;
        }
        if (*pat != *path)
            return false;
        pat++;
        path++;
    }
    if (*path != '\0')
        return false;
    *n_ids = n;
    return true;
}

enum web_match web_route_find(const char *method, const char *path, int64_t ids[2], int *n_ids,
                              int *idx)
{
    bool path_known = false;
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (int i = 0; i < web_n_routes(); i++) {
        int64_t got[2] = {0, 0};
        int n = 0;
        if (!path_match(routes[i].path, path, got, &n))
            continue;
        if (strcmp(routes[i].method, m) != 0) {
            /* OPTIONS routes are wildcards for preflight only; they make no other path "known" */
            if (strcmp(routes[i].method, "OPTIONS") != 0)
                path_known = true;
            continue;
        }
        ids[0] = got[0];
        ids[1] = got[1];
        *n_ids = n;
        *idx = i;
        return WEB_MATCH_OK;
    }
    return path_known ? WEB_MATCH_NO_METHOD : WEB_MATCH_NO_PATH;
}

int64_t web_route_cap(const struct web_route *rt, const struct config *cfg)
{
    if (rt->max_body_bytes == WEB_BODY_CFG)
        return cfg->server_max_body_bytes;
    if (rt->max_body_bytes == WEB_BODY_UPLOAD)
        return cfg->server_max_upload_bytes;
    return rt->max_body_bytes;
}

/* Splits "name[:port]" (name may be a bracketed IPv6 literal) into name and port ("" when absent). */
static void host_split(const char *h, size_t n, char *name, size_t name_n, char *port, size_t port_n)
{
    size_t colon = n;
    if (n && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        if (rb && (size_t)(rb - h) + 1 < n && rb[1] == ':')
            colon = (size_t)(rb - h) + 1;
    } else {
        const char *c = memchr(h, ':', n);
        colon = c ? (size_t)(c - h) : n;
    }
    snprintf(name, name_n, "%.*s", (int)colon, h);
    snprintf(port, port_n, "%.*s", colon < n ? (int)(n - colon - 1) : 0, colon < n ? h + colon + 1 : "");
}

bool web_host_allowed(const struct web_ctx *ctx, const char *host)
{
    char name[256], port[16], ename[256], eport[16], ours[16];
    const char *p = ctx->allowed_hosts;
    size_t n;
    if (!host)
        return true; /* HTTP/1.0 without Host: no browser sends that (MHD refuses HTTP/1.1 without one) */
    n = strlen(host);
    if (n == 0 || n >= sizeof name)
        return false;
    host_split(host, n, name, sizeof name, port, sizeof port);
    if (!name[0] || strlen(port) >= sizeof port - 1)
        return false;
    if (!port[0])
        kb_strlcpy(port, "80", sizeof port);
    snprintf(ours, sizeof ours, "%d", __atomic_load_n(&ctx->hosts_port, __ATOMIC_ACQUIRE));
    while (*p) {
        const char *e;
        size_t len;
        while (*p == ' ' || *p == '\t')
            p++;
        e = strchr(p, ',');
        len = e ? (size_t)(e - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 1 && p[0] == '*')
            return true;
        if (len && len < sizeof ename) {
            /* an entry without a port matches any port; port 0 means the port kbox listens on */
            host_split(p, len, ename, sizeof ename, eport, sizeof eport);
            if (strcasecmp(ename, name) == 0 &&
                (!eport[0] || strcmp(strcmp(eport, "0") == 0 ? ours : eport, port) == 0))
                return true;
        }
        p = e ? e + 1 : p + len;
    }
    return false;
}

/* Our own UI calls with Origin "http(s)://<Host>". A Host header alone proves nothing (a rebound DNS
 * name makes the browser send the attacker's name as both), so the Host must also be one of ours. */
static bool same_origin(const struct web_ctx *ctx, const char *origin, const char *host)
{
    const char *rest;
    if (!host || !host[0] || !web_host_allowed(ctx, host))
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return false;
    return strcasecmp(rest, host) == 0;
}

bool web_cors_allowed(struct web_ctx *ctx, const char *origin, const char *host)
{
    bool ok;
    if (!origin || !origin[0])
        return true; /* not a browser cross-origin call */
    if (same_origin(ctx, origin, host))
        return true;
    const struct config *cfg = rag_config_get(ctx->rag);
    ok = web_origin_listed(cfg->server_cors_origins, origin);
    rag_config_put(ctx->rag, cfg);
    /* a bot's widget origin; the handler checks it against the bot the body names (api_bots.c) */
    ok = ok || rag_bot_origin_any(ctx->rag, origin);
    return ok;
}

void web_cors_headers(struct web_req *req, struct web_resp *resp, const char *origin)
{
    const char *host = web_req_header(req, "Host");
    if (!origin || !origin[0] || same_origin(req->ctx, origin, host) || !web_cors_allowed(req->ctx, origin, host))
        return;
    web_resp_header(req, resp, "Access-Control-Allow-Origin", origin);
    web_resp_header(req, resp, "Vary", "Origin");
}

int web_route_admit(struct web_req *req, const char *authorization, const char *origin,
                    const char *host, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(req->ctx->rag); /* one snapshot for the whole check */
    const char *tok = NULL;
    int rc = 0;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        tok = authorization + 7;
        while (*tok == ' ')
            tok++;
        req->admin = web_token_equal(req->ctx->admin_token, tok);
    }
    switch (req->route->auth) {
    case WEB_AUTH_NONE:
        break;
    case WEB_AUTH_ADMIN:
        if (req->admin)
            break;
        /* failed admin attempts count against the client's public rate and against a limit of
         * their own that stays on when server.rate_limit_per_min is 0, so the token cannot be
         * guessed at line speed */
        if (!web_rate_allow(&req->ctx->login_rate, req->client_ip, WEB_LOGIN_FAILS_PER_MIN, (int64_t)time(NULL)) ||
            !web_rate_allow(&req->ctx->rate, req->client_ip, cfg->server_rate_limit_per_min, (int64_t)time(NULL)))
            rc = kb_error_set(err, KB_ERATE, "too many requests without the admin token; try again later");
        else if (!tok)
            rc = kb_error_set(err, KB_EAUTH, "this needs the admin token (Authorization: Bearer TOKEN)");
        else
            rc = kb_error_set(err, KB_EFORBIDDEN, "the admin token is wrong");
        break;
    case WEB_AUTH_ASK:
        if (req->admin)
            break;
        if (!cfg->server_public_ask)
            rc = tok ? kb_error_set(err, KB_EFORBIDDEN, "the token is wrong")
                     : kb_error_set(err, KB_EAUTH, "this server needs a token (Authorization: Bearer TOKEN)");
        else if (!web_cors_allowed(req->ctx, origin, host))
            rc = kb_error_set(err, KB_EFORBIDDEN, "origin '%.200s' is not allowed (server.cors_origins)", origin);
        else if (!web_rate_allow(&req->ctx->rate, req->client_ip, cfg->server_rate_limit_per_min,
                                 (int64_t)time(NULL)))
            rc = kb_error_set(err, KB_ERATE, "rate limit of %lld requests per minute exceeded; try again later",
                              (long long)cfg->server_rate_limit_per_min);
        break;
    default:
        rc = kb_error_set(err, KB_EINTERNAL, "route has no auth level");
        break;
    }
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}
