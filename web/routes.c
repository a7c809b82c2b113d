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
 * rebound name cannot pass as our own UI. Requests to account routes without valid credentials are
 * throttled per IP on their own table (WEB_LOGIN_FAILS_PER_MIN), independent of
 * server.rate_limit_per_min.
 *
 * Who may call what: every route names the least role (enum web_role: public < viewer < agent <
 * editor < owner) and the scope an API key needs (NULL: no key may call it). web_auth_identify
 * (session.c) finds the caller (session cookie or bearer session id, API key, break-glass token);
 * admission then checks role, scope, the CSRF header of cookie-authenticated state changes and a
 * key's own rate limit. On ask routes (WEB_AUTH_ASK) with server.public_ask an unknown token asks
 * anonymously, but a revoked or expired API key is refused (401). A route whose role is WEB_ROLE_UNSET (an entry that forgot it) answers 500,
 * and tests/web/test_acct.c fails for any route missing from its role table. Collections a user may
 * not see are 404 in the handlers (web_coll_visible). Tests: tests/web/test_web.c,
 * tests/web/test_settings_race.c, tests/web/test_acct.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define KiB 1024

static const struct web_route routes[] = {
    /* UI and widget: static files compiled into the binary */
    {"GET", "/", web_h_index, WEB_BODY_NONE, WEB_AUTH_NONE, "ui", WEB_ROLE_PUBLIC, NULL},
    {"GET", "/static/*", web_h_static, WEB_BODY_NONE, WEB_AUTH_NONE, "static", WEB_ROLE_PUBLIC, NULL},
    {"GET", "/widget.js", web_h_widget_js, WEB_BODY_NONE, WEB_AUTH_NONE, "widget_js", WEB_ROLE_PUBLIC, NULL},
    /* health and metrics */
    {"GET", "/api/health", web_h_health, WEB_BODY_NONE, WEB_AUTH_NONE, "health", WEB_ROLE_PUBLIC, NULL},
    {"GET", "/metrics", web_h_metrics, WEB_BODY_NONE, WEB_AUTH_ASK, "metrics", WEB_ROLE_OWNER, "metrics:read"},
    /* CORS preflight for the widget and browser clients of the OpenAI API */
    {"OPTIONS", "/api/*", web_h_preflight, WEB_BODY_NONE, WEB_AUTH_NONE, "preflight", WEB_ROLE_PUBLIC, NULL},
    {"OPTIONS", "/v1/*", web_h_preflight, WEB_BODY_NONE, WEB_AUTH_NONE, "preflight", WEB_ROLE_PUBLIC, NULL},
    /* documents and jobs */
    {"POST", "/api/documents", web_h_docs_upload, WEB_BODY_UPLOAD, WEB_AUTH_ADMIN, "documents_upload", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "/api/documents", web_h_docs_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "documents_list", WEB_ROLE_AGENT, "documents:read"},
    {"GET", "/api/documents/{id}", web_h_doc_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_get", WEB_ROLE_AGENT, "documents:read"},
    {"DELETE", "/api/documents/{id}", web_h_doc_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_delete", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "/api/documents/{id}/file", web_h_doc_file, WEB_BODY_NONE, WEB_AUTH_ADMIN, "document_file", WEB_ROLE_AGENT, "documents:read"},
    {"POST", "/api/documents/{id}/reingest", web_h_doc_reingest, 4 * KiB, WEB_AUTH_ADMIN, "document_reingest", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "/api/jobs", web_h_jobs_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "jobs_list", WEB_ROLE_AGENT, "documents:read"},
    {"GET", "/api/jobs/{id}", web_h_job_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "job_get", WEB_ROLE_AGENT, "documents:read"},
    /* collections */
    {"GET", "/api/collections", web_h_colls_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "collections_list", WEB_ROLE_VIEWER, "documents:read"},
    {"POST", "/api/collections", web_h_coll_create, 16 * KiB, WEB_AUTH_ADMIN, "collection_create", WEB_ROLE_EDITOR, "documents:write"},
    {"PATCH", "/api/collections/{id}", web_h_coll_rename, 16 * KiB, WEB_AUTH_ADMIN, "collection_rename", WEB_ROLE_EDITOR, "documents:write"},
    {"PUT", "/api/collections/{id}", web_h_coll_rename, 16 * KiB, WEB_AUTH_ADMIN, "collection_rename", WEB_ROLE_EDITOR, "documents:write"},
    {"DELETE", "/api/collections/{id}", web_h_coll_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "collection_delete", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "/api/collections/{id}/handoff", web_h_coll_handoff, WEB_BODY_NONE, WEB_AUTH_ADMIN, "collection_handoff_get", WEB_ROLE_EDITOR, "documents:read"},
    {"PUT", "/api/collections/{id}/handoff", web_h_coll_handoff, 16 * KiB, WEB_AUTH_ADMIN, "collection_handoff_set", WEB_ROLE_EDITOR, "documents:write"},
    /* retrieval and answers */
    {"POST", "/api/search", web_h_search, WEB_BODY_CFG, WEB_AUTH_ASK, "search", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/ask", web_h_ask, WEB_BODY_CFG, WEB_AUTH_ASK, "ask", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/api/widget", web_h_widget_config, WEB_BODY_NONE, WEB_AUTH_ASK, "widget_config", WEB_ROLE_VIEWER, "ask"},
    /* bots (api_bots.c): management, and each bot's public full-page chat */
    {"GET", "/api/bots", web_h_bots_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bots_list", WEB_ROLE_EDITOR, "settings:read"},
    {"POST", "/api/bots", web_h_bot_create, 256 * KiB, WEB_AUTH_ADMIN, "bot_create", WEB_ROLE_EDITOR, "settings:write"},
    {"GET", "/api/bots/*", web_h_bot_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bot_get", WEB_ROLE_EDITOR, "settings:read"},
    {"PUT", "/api/bots/*", web_h_bot_update, 256 * KiB, WEB_AUTH_ADMIN, "bot_update", WEB_ROLE_EDITOR, "settings:write"},
    {"PATCH", "/api/bots/*", web_h_bot_update, 256 * KiB, WEB_AUTH_ADMIN, "bot_update", WEB_ROLE_EDITOR, "settings:write"},
    {"DELETE", "/api/bots/*", web_h_bot_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "bot_delete", WEB_ROLE_EDITOR, "settings:write"},
    {"GET", "/b/*", web_h_bot_page, WEB_BODY_NONE, WEB_AUTH_NONE, "bot_page", WEB_ROLE_PUBLIC, NULL},
    /* curated answers: the FAQ editor (api_faq.c) */
    {"GET", "/api/faq", web_h_faq_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_list", WEB_ROLE_AGENT, "faq:read"},
    {"POST", "/api/faq", web_h_faq_create, 256 * KiB, WEB_AUTH_ADMIN, "faq_create", WEB_ROLE_EDITOR, "faq:write"},
    {"POST", "/api/faq/import", web_h_faq_import, 16 * 1024 * KiB, WEB_AUTH_ADMIN, "faq_import", WEB_ROLE_EDITOR, "faq:write"},
    {"GET", "/api/faq/export", web_h_faq_export, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_export", WEB_ROLE_AGENT, "faq:read"},
    {"GET", "/api/faq/{id}", web_h_faq_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_get", WEB_ROLE_AGENT, "faq:read"},
    {"PUT", "/api/faq/{id}", web_h_faq_update, 256 * KiB, WEB_AUTH_ADMIN, "faq_update", WEB_ROLE_EDITOR, "faq:write"},
    {"DELETE", "/api/faq/{id}", web_h_faq_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_delete", WEB_ROLE_EDITOR, "faq:write"},
    {"GET", "/api/faq/{id}/versions", web_h_faq_versions, WEB_BODY_NONE, WEB_AUTH_ADMIN, "faq_versions", WEB_ROLE_AGENT, "faq:read"},
    {"POST", "/api/faq/{id}/similar", web_h_faq_similar, 16 * KiB, WEB_AUTH_ADMIN, "faq_similar", WEB_ROLE_EDITOR, "faq:write"},
    /* the conversation log: feedback (public, with the conversation's secret), review, analytics */
    {"POST", "/api/feedback", web_h_feedback, 32 * KiB, WEB_AUTH_ASK, "feedback", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/api/review", web_h_review_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "review_list", WEB_ROLE_AGENT, "logs:read"},
    {"POST", "/api/review/{id}", web_h_review_set, 4 * KiB, WEB_AUTH_ADMIN, "review_set", WEB_ROLE_AGENT, "review:write"},
    {"GET", "/api/stats", web_h_stats, WEB_BODY_NONE, WEB_AUTH_ADMIN, "stats", WEB_ROLE_AGENT, "logs:read"},
    {"GET", "/api/logs/export", web_h_logs_export, WEB_BODY_NONE, WEB_AUTH_ADMIN, "logs_export", WEB_ROLE_EDITOR, "logs:read"},
    {"DELETE", "/api/conversations/{id}", web_h_conversation_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN,
     "conversation_delete", WEB_ROLE_OWNER, "logs:write"},
    /* human handoff (api_handoff.c): the customer's side is public and holds a conversation token;
     * the Inbox is for agents and up */
    {"GET", "/api/handoff/status", web_h_handoff_status, WEB_BODY_NONE, WEB_AUTH_ASK, "handoff_status", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/handoff", web_h_handoff_request, 16 * KiB, WEB_AUTH_ASK, "handoff_request", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/handoff/ticket", web_h_handoff_ticket, 64 * KiB, WEB_AUTH_ASK, "handoff_ticket", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/api/handoff/conversation", web_h_handoff_conversation, WEB_BODY_NONE, WEB_AUTH_ASK, "handoff_conversation", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/handoff/messages", web_h_handoff_message, 64 * KiB, WEB_AUTH_ASK, "handoff_message", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/handoff/close", web_h_handoff_close, 4 * KiB, WEB_AUTH_ASK, "handoff_close", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/api/handoff/rate", web_h_handoff_rate, 4 * KiB, WEB_AUTH_ASK, "handoff_rate", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/api/handoff/stream", web_h_handoff_stream, WEB_BODY_NONE, WEB_AUTH_ASK, "handoff_stream", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/api/inbox", web_h_inbox_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "inbox_list", WEB_ROLE_AGENT, "inbox:read"},
    {"GET", "/api/inbox/stream", web_h_inbox_stream, WEB_BODY_NONE, WEB_AUTH_ADMIN, "inbox_stream", WEB_ROLE_AGENT, "inbox:read"},
    {"GET", "/api/inbox/{id}", web_h_inbox_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "inbox_get", WEB_ROLE_AGENT, "inbox:read"},
    {"GET", "/api/inbox/{id}/stream", web_h_inbox_conv_stream, WEB_BODY_NONE, WEB_AUTH_ADMIN, "inbox_conv_stream", WEB_ROLE_AGENT, "inbox:read"},
    {"POST", "/api/inbox/{id}/take", web_h_inbox_take, 4 * KiB, WEB_AUTH_ADMIN, "inbox_take", WEB_ROLE_AGENT, "inbox:write"},
    {"POST", "/api/inbox/{id}/messages", web_h_inbox_message, 64 * KiB, WEB_AUTH_ADMIN, "inbox_message", WEB_ROLE_AGENT, "inbox:write"},
    {"POST", "/api/inbox/{id}/close", web_h_inbox_close, 4 * KiB, WEB_AUTH_ADMIN, "inbox_close", WEB_ROLE_AGENT, "inbox:write"},
    /* settings */
    {"GET", "/api/settings", web_h_settings_get, WEB_BODY_NONE, WEB_AUTH_ADMIN, "settings_get", WEB_ROLE_EDITOR, "settings:read"},
    {"PUT", "/api/settings", web_h_settings_set, 64 * KiB, WEB_AUTH_ADMIN, "settings_set", WEB_ROLE_OWNER, "settings:write"},
    {"POST", "/api/settings", web_h_settings_set, 64 * KiB, WEB_AUTH_ADMIN, "settings_set", WEB_ROLE_OWNER, "settings:write"},
    {"GET", "/api/models", web_h_models, WEB_BODY_NONE, WEB_AUTH_ADMIN, "models", WEB_ROLE_EDITOR, "settings:read"},
    /* OpenAI-compatible */
    {"POST", "/v1/chat/completions", web_h_oa_chat, WEB_BODY_CFG, WEB_AUTH_ASK, "oa_chat", WEB_ROLE_VIEWER, "ask"},
    {"GET", "/v1/models", web_h_oa_models, WEB_BODY_NONE, WEB_AUTH_ASK, "oa_models", WEB_ROLE_VIEWER, "ask"},
    {"POST", "/v1/embeddings", web_h_oa_embeddings, WEB_BODY_CFG, WEB_AUTH_ASK, "oa_embeddings", WEB_ROLE_VIEWER, "ask"},
    /* accounts: login, sessions, the first owner (session.c); users (api_users.c), API keys
     * (api_keys.c) and the audit log (api_audit.c) */
    {"POST", "/api/login", web_h_login, 16 * KiB, WEB_AUTH_NONE, "login", WEB_ROLE_PUBLIC, NULL},
    {"POST", "/api/setup", web_h_setup, 16 * KiB, WEB_AUTH_NONE, "setup", WEB_ROLE_PUBLIC, NULL},
    {"POST", "/api/logout", web_h_logout, 4 * KiB, WEB_AUTH_ADMIN, "logout", WEB_ROLE_VIEWER, NULL},
    {"POST", "/api/logout/all", web_h_logout_all, 4 * KiB, WEB_AUTH_ADMIN, "logout_all", WEB_ROLE_VIEWER, NULL},
    {"GET", "/api/me", web_h_me, WEB_BODY_NONE, WEB_AUTH_ADMIN, "me", WEB_ROLE_VIEWER, NULL},
    {"POST", "/api/password", web_h_password, 16 * KiB, WEB_AUTH_ADMIN, "password", WEB_ROLE_VIEWER, NULL},
    {"GET", "/api/users", web_h_users_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "users_list", WEB_ROLE_OWNER, NULL},
    {"POST", "/api/users", web_h_user_create, 16 * KiB, WEB_AUTH_ADMIN, "user_create", WEB_ROLE_OWNER, NULL},
    {"PATCH", "/api/users/{id}", web_h_user_update, 16 * KiB, WEB_AUTH_ADMIN, "user_update", WEB_ROLE_OWNER, NULL},
    {"DELETE", "/api/users/{id}", web_h_user_delete, WEB_BODY_NONE, WEB_AUTH_ADMIN, "user_delete", WEB_ROLE_OWNER, NULL},
    {"GET", "/api/keys", web_h_keys_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "keys_list", WEB_ROLE_EDITOR, NULL},
    {"POST", "/api/keys", web_h_key_create, 16 * KiB, WEB_AUTH_ADMIN, "key_create", WEB_ROLE_EDITOR, NULL},
    {"DELETE", "/api/keys/{id}", web_h_key_revoke, WEB_BODY_NONE, WEB_AUTH_ADMIN, "key_revoke", WEB_ROLE_EDITOR, NULL},
    {"GET", "/api/audit", web_h_audit_list, WEB_BODY_NONE, WEB_AUTH_ADMIN, "audit_list", WEB_ROLE_OWNER, "audit:read"},
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

/* True when a key's comma-separated scopes hold scope; with bots, "ask" is also met by any "bot:"
 * scope (admission only: the handlers then check which bot, web_key_may_use_bot). */
static bool scope_in(const char *scopes, const char *scope, bool bots)
{
    size_t n = strlen(scope);
    const char *p = scopes;
    while (*p) {
        size_t k = strcspn(p, ",");
        while (*p == ' ')
            p++, k--;
        if ((k == n && strncmp(p, scope, n) == 0) || (bots && strcmp(scope, "ask") == 0 && strncmp(p, "bot:", 4) == 0))
            return true;
        p += k;
        if (*p == ',')
            p++;
    }
    return false;
}

static bool scope_has(const char *scopes, const char *scope)
{
    return scope_in(scopes, scope, true);
}

bool web_key_may_use_bot(const struct web_principal *who, const char *bot_id)
{
    char want[200];
    if (!who->key_id || scope_in(who->scopes, "ask", false))
        return true;
    if (!bot_id || !bot_id[0])
        return false;
    snprintf(want, sizeof want, "bot:%s", bot_id);
    return scope_in(who->scopes, want, false);
}

/* Role, scope, CSRF and the key's own rate limit of an identified caller on a WEB_AUTH_ADMIN route
 * (and on WEB_AUTH_ASK routes for an identified caller). */
static int admit_principal(struct web_req *req, struct kb_error *err)
{
    const struct web_route *rt = req->route;
    const struct web_principal *who = &req->who;
    if (who->role < rt->role)
        return kb_error_set(err, KB_EFORBIDDEN, "this needs the %s role or higher (you are %s)", web_role_name(rt->role),
                            web_role_name(who->role));
    if (who->key_id && (!rt->scope || !scope_has(who->scopes, rt->scope)))
        return rt->scope ? kb_error_set(err, KB_ESCOPE, "the API key lacks the scope '%s'", rt->scope)
                         : kb_error_set(err, KB_ESCOPE, "API keys may not call %s %s; log in instead", rt->method, rt->path);
    /* a cookie rides along on cross-site requests; the CSRF header cannot (it is not a simple header) */
    if (who->via_cookie && strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && strcmp(req->method, "OPTIONS")) {
        const char *t = web_req_header(req, "X-CSRF-Token");
        if (!t || !web_token_equal(who->csrf, t))
            return kb_error_set(err, KB_EFORBIDDEN, "missing or wrong X-CSRF-Token for this session");
    }
    if (who->key_id && who->key_rate > 0) {
        char k[48];
        snprintf(k, sizeof k, "key:%lld", (long long)who->key_id);
        if (!web_rate_allow(&req->ctx->key_rate, k, who->key_rate, (int64_t)time(NULL)))
            return kb_error_set(err, KB_ERATE, "this API key's limit of %lld requests per minute is spent",
                                (long long)who->key_rate);
    }
    return 0;
}

int web_route_admit(struct web_req *req, const char *authorization, const char *origin,
                    const char *host, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(req->ctx->rag); /* one snapshot for the whole check */
    struct kb_error id_err = {0};
    int rc = 0, id_rc;
    if (req->route->role == WEB_ROLE_UNSET) { /* a route entry that forgot to say who may call it */
        rc = kb_error_set(err, KB_EINTERNAL, "route %s has no role", req->route->name);
        goto out;
    }
    id_rc = req->route->auth == WEB_AUTH_NONE ? 0 : web_auth_identify(req, authorization, cfg, &id_err);
    req->admin = id_rc == 0 && req->who.role >= WEB_ROLE_OWNER;
    switch (req->route->auth) {
    case WEB_AUTH_NONE:
        break;
    case WEB_AUTH_ADMIN:
        if (id_rc == 0 && req->who.role > WEB_ROLE_PUBLIC) {
            rc = admit_principal(req, err);
            break;
        }
        /* failed attempts count against the client's public rate and against a limit of their own
         * that stays on when server.rate_limit_per_min is 0, so tokens cannot be guessed at line speed */
        if (!web_rate_allow(&req->ctx->login_rate, req->client_ip, WEB_LOGIN_FAILS_PER_MIN, (int64_t)time(NULL)) ||
            !web_rate_allow(&req->ctx->rate, req->client_ip, cfg->server_rate_limit_per_min, (int64_t)time(NULL)))
            rc = kb_error_set(err, KB_ERATE, "too many requests without valid credentials; try again later");
        else if (id_rc)
            rc = kb_error_set(err, id_rc, "%s", id_err.msg);
        else
            rc = kb_error_set(err, KB_EAUTH, "this needs a login (or Authorization: Bearer with an API key)");
        break;
    case WEB_AUTH_ASK:
        /* a revoked or expired API key is refused even where anyone may ask: its owner ended it, and
         * an integration must learn that rather than go on as an anonymous caller (a token kbox never
         * issued, e.g. an OpenAI client's placeholder key, still asks anonymously) */
        if (id_rc == KB_EKEYREVOKED || id_rc == KB_EKEYEXPIRED) {
            rc = kb_error_set(err, id_rc, "%s", id_err.msg);
            break;
        }
        if (id_rc == 0 && req->who.role > WEB_ROLE_PUBLIC && (rc = admit_principal(req, err)) == 0)
            break;
        if (rc && (req->who.key_id || !cfg->server_public_ask))
            break; /* a key without the scope, or a viewer-less role, on a closed server */
        rc = 0;
        if (!cfg->server_public_ask)
            rc = id_rc ? kb_error_set(err, id_rc, "%s", id_err.msg)
                       : kb_error_set(err, KB_EAUTH, "this server needs a login or an API key (Authorization: Bearer)");
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
out:
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}
