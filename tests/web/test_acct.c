/* tests/web/test_acct.c: accounts, roles, sessions, API keys and the audit log (issue #16) against
 * the real server on 127.0.0.1 with a real SQLite store:
 *   - the route table against this file's role table: a route missing here, or whose role or key
 *     scope differs, fails; then every role below a route's least role gets 403 on it (a viewer on
 *     every editor and owner route), and the least role itself passes admission on GET routes;
 *   - login: wrong password and unknown email give the same error (ELOGIN); the session id changes
 *     at login and the old one is dead (no fixation); a cookie POST without X-CSRF-Token is 403;
 *   - 1,000 wrong logins lock the account after auth.lockout_fails, computing no more hashes than
 *     that, and another user still logs in;
 *   - API keys: scope checks (ESCOPE), a key may not manage users, revocation (EKEYREVOKED),
 *     expiry (EKEYEXPIRED);
 *   - the audit log names the user and key changes and the lockout, and uploads, document
 *     deletions, settings, collection and bot changes (test_audit_actions);
 *   - per-collection access: an account limited to one collection gets 404 (not 403) for
 *     documents, jobs, collections, search/ask and bots outside it, and its lists leave them out
 *     (test_coll_access); the review list, stats, log export, review actions and conversation
 *     deletion are of the user's collections too (test_coll_logs);
 *   - idle and absolute session timeouts (auth.session_idle_s, auth.session_max_s at their 60 s
 *     and 120 s minimums; the session rows are back-dated instead of sleeping: test_session_timeouts). */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "webfix.h"
#include "index/index.h"
#include "web/web_int.h"

#define TOKEN "acct-test-break-glass-token-0123456789"
#define AUTH "Authorization: Bearer " TOKEN

/* The least role of every route, as issue #16 wants it; a route not listed fails the test. */
static const struct {
    const char *method, *name;
    enum web_role role;
    const char *scope;
} expected[] = {
    {"GET", "ui", WEB_ROLE_PUBLIC, NULL}, {"GET", "static", WEB_ROLE_PUBLIC, NULL},
    {"GET", "widget_js", WEB_ROLE_PUBLIC, NULL}, {"GET", "health", WEB_ROLE_PUBLIC, NULL},
    {"GET", "metrics", WEB_ROLE_OWNER, "metrics:read"}, {"OPTIONS", "preflight", WEB_ROLE_PUBLIC, NULL},
    {"POST", "documents_upload", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "documents_list", WEB_ROLE_AGENT, "documents:read"}, {"GET", "document_get", WEB_ROLE_AGENT, "documents:read"},
    {"DELETE", "document_delete", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "document_file", WEB_ROLE_AGENT, "documents:read"},
    {"POST", "document_reingest", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "jobs_list", WEB_ROLE_AGENT, "documents:read"}, {"GET", "job_get", WEB_ROLE_AGENT, "documents:read"},
    {"GET", "collections_list", WEB_ROLE_VIEWER, "documents:read"},
    {"POST", "collection_create", WEB_ROLE_EDITOR, "documents:write"},
    {"PATCH", "collection_rename", WEB_ROLE_EDITOR, "documents:write"},
    {"PUT", "collection_rename", WEB_ROLE_EDITOR, "documents:write"},
    {"DELETE", "collection_delete", WEB_ROLE_EDITOR, "documents:write"},
    {"GET", "collection_handoff_get", WEB_ROLE_EDITOR, "documents:read"},
    {"PUT", "collection_handoff_set", WEB_ROLE_EDITOR, "documents:write"},
    {"POST", "search", WEB_ROLE_VIEWER, "ask"}, {"POST", "ask", WEB_ROLE_VIEWER, "ask"},
    {"GET", "widget_config", WEB_ROLE_VIEWER, "ask"},
    {"GET", "bots_list", WEB_ROLE_EDITOR, "settings:read"}, {"GET", "bot_get", WEB_ROLE_EDITOR, "settings:read"},
    {"POST", "bot_create", WEB_ROLE_EDITOR, "settings:write"}, {"PUT", "bot_update", WEB_ROLE_EDITOR, "settings:write"},
    {"PATCH", "bot_update", WEB_ROLE_EDITOR, "settings:write"}, {"DELETE", "bot_delete", WEB_ROLE_EDITOR, "settings:write"},
    {"GET", "bot_page", WEB_ROLE_PUBLIC, NULL},
    {"GET", "faq_list", WEB_ROLE_AGENT, "faq:read"}, {"POST", "faq_create", WEB_ROLE_EDITOR, "faq:write"},
    {"POST", "faq_import", WEB_ROLE_EDITOR, "faq:write"}, {"GET", "faq_export", WEB_ROLE_AGENT, "faq:read"},
    {"GET", "faq_get", WEB_ROLE_AGENT, "faq:read"}, {"PUT", "faq_update", WEB_ROLE_EDITOR, "faq:write"},
    {"DELETE", "faq_delete", WEB_ROLE_EDITOR, "faq:write"}, {"GET", "faq_versions", WEB_ROLE_AGENT, "faq:read"},
    {"POST", "faq_similar", WEB_ROLE_EDITOR, "faq:write"}, {"POST", "feedback", WEB_ROLE_VIEWER, "ask"},
    {"GET", "review_list", WEB_ROLE_AGENT, "logs:read"}, {"POST", "review_set", WEB_ROLE_AGENT, "review:write"},
    {"GET", "stats", WEB_ROLE_AGENT, "logs:read"}, {"GET", "logs_export", WEB_ROLE_EDITOR, "logs:read"},
    {"DELETE", "conversation_delete", WEB_ROLE_OWNER, "logs:write"},
    {"GET", "handoff_status", WEB_ROLE_VIEWER, "ask"}, {"POST", "handoff_request", WEB_ROLE_VIEWER, "ask"},
    {"POST", "handoff_ticket", WEB_ROLE_VIEWER, "ask"}, {"GET", "handoff_conversation", WEB_ROLE_VIEWER, "ask"},
    {"POST", "handoff_message", WEB_ROLE_VIEWER, "ask"}, {"POST", "handoff_close", WEB_ROLE_VIEWER, "ask"},
    {"POST", "handoff_rate", WEB_ROLE_VIEWER, "ask"}, {"GET", "handoff_stream", WEB_ROLE_VIEWER, "ask"},
    {"GET", "inbox_list", WEB_ROLE_AGENT, "inbox:read"}, {"GET", "inbox_stream", WEB_ROLE_AGENT, "inbox:read"},
    {"GET", "inbox_get", WEB_ROLE_AGENT, "inbox:read"}, {"GET", "inbox_conv_stream", WEB_ROLE_AGENT, "inbox:read"},
    {"POST", "inbox_take", WEB_ROLE_AGENT, "inbox:write"}, {"POST", "inbox_message", WEB_ROLE_AGENT, "inbox:write"},
    {"POST", "inbox_close", WEB_ROLE_AGENT, "inbox:write"},
    {"GET", "settings_get", WEB_ROLE_EDITOR, "settings:read"}, {"PUT", "settings_set", WEB_ROLE_OWNER, "settings:write"},
    {"POST", "settings_set", WEB_ROLE_OWNER, "settings:write"}, {"GET", "models", WEB_ROLE_EDITOR, "settings:read"},
    {"POST", "oa_chat", WEB_ROLE_VIEWER, "ask"}, {"GET", "oa_models", WEB_ROLE_VIEWER, "ask"},
    {"POST", "oa_embeddings", WEB_ROLE_VIEWER, "ask"},
    {"POST", "login", WEB_ROLE_PUBLIC, NULL}, {"POST", "setup", WEB_ROLE_PUBLIC, NULL},
    {"POST", "logout", WEB_ROLE_VIEWER, NULL}, {"POST", "logout_all", WEB_ROLE_VIEWER, NULL},
    {"GET", "me", WEB_ROLE_VIEWER, NULL}, {"POST", "password", WEB_ROLE_VIEWER, NULL},
    {"GET", "users_list", WEB_ROLE_OWNER, NULL}, {"POST", "user_create", WEB_ROLE_OWNER, NULL},
    {"PATCH", "user_update", WEB_ROLE_OWNER, NULL}, {"DELETE", "user_delete", WEB_ROLE_OWNER, NULL},
    {"GET", "keys_list", WEB_ROLE_EDITOR, NULL}, {"POST", "key_create", WEB_ROLE_EDITOR, NULL},
    {"DELETE", "key_revoke", WEB_ROLE_EDITOR, NULL}, {"GET", "audit_list", WEB_ROLE_OWNER, "audit:read"},
};

/* Starts a server; kv (nullable, NULL-terminated key, value pairs) adds settings. */
static struct webfix *start_cfg(const char *const *kv)
{
    struct webfix *f = webfix_new("acct");
    webfix_set(f, "auth.admin_token", TOKEN);
    webfix_set(f, "auth.lockout_fails", "5");
    webfix_set(f, "auth.login_fails_per_ip_min", "100000");
    webfix_set(f, "server.rate_limit_per_min", "0");
    webfix_set(f, "server.public_ask", "false");
    for (int i = 0; kv && kv[i]; i += 2)
        webfix_set(f, kv[i], kv[i + 1]);
    webfix_start(f, 2);
    return f;
}

static struct webfix *start(void)
{
    return start_cfg(NULL);
}

/* One request; returns the status and keeps the response in *r (free it). */
static int req(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
               struct http_resp *r)
{
    assert_int_equal(http_req(f->port, method, path, hdrs, body, body ? strlen(body) : 0, r), 0);
    return r->status;
}

static void expect(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                   int want, const char *code)
{
    struct http_resp r;
    char pat[64];
    int st = req(f, method, path, hdrs, body, &r);
    snprintf(pat, sizeof pat, "{\"error\":{\"code\":\"%s\"", code ? code : "");
    if (st != want || (code && !strstr(r.body, pat)))
        fail_msg("%s %s: status %d (want %d %s): %s", method, path, st, want, code ? code : "", r.body);
    http_resp_free(&r);
}

/* The value of "key":"..." in body into out. */
static void json_str(const char *body, const char *key, char *out, size_t n)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(body, pat);
    if (!p)
        fail_msg("no %s in %s", key, body);
    p += strlen(pat);
    snprintf(out, n, "%.*s", (int)strcspn(p, "\""), p);
}

static void add_user(struct webfix *f, const char *email, const char *role)
{
    static const char *const admin[] = {AUTH, NULL};
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"role\":\"%s\",\"password\":\"pass-%s\"}", email, role, role);
    expect(f, "POST", "/api/users", admin, body, 201, NULL);
}

/* Logs in with token:true; the session id into tok. */
static void login(struct webfix *f, const char *email, const char *role, char *tok, size_t n)
{
    char body[256];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"pass-%s\",\"token\":true}", email, role);
    if (req(f, "POST", "/api/login", NULL, body, &r) != 200)
        fail_msg("login %s: %d %s", email, r.status, r.body);
    json_str(r.body, "token", tok, n);
    http_resp_free(&r);
}

static void test_route_table(void **state)
{
    (void)state;
    for (int i = 0; i < web_n_routes(); i++) {
        const struct web_route *rt = web_route_at(i);
        bool found = false;
        for (size_t k = 0; k < KB_ARRAY_LEN(expected) && !found; k++) {
            if (strcmp(expected[k].method, rt->method) || strcmp(expected[k].name, rt->name))
                continue;
            found = true;
            if (rt->role != expected[k].role)
                fail_msg("route %s %s has role %s, the table says %s", rt->method, rt->path, web_role_name(rt->role),
                         web_role_name(expected[k].role));
            if ((rt->scope == NULL) != (expected[k].scope == NULL) ||
                (rt->scope && strcmp(rt->scope, expected[k].scope)))
                fail_msg("route %s %s has scope %s, the table says %s", rt->method, rt->path,
                         rt->scope ? rt->scope : "(none)", expected[k].scope ? expected[k].scope : "(none)");
        }
        if (!found)
            fail_msg("route %s %s (%s) has no entry in test_acct.c's role table: state who may call it", rt->method,
                     rt->path, rt->name);
        if (rt->role == WEB_ROLE_UNSET)
            fail_msg("route %s %s has no role", rt->method, rt->path);
        if ((rt->auth == WEB_AUTH_NONE) != (rt->role == WEB_ROLE_PUBLIC))
            fail_msg("route %s %s: public routes and WEB_AUTH_NONE go together", rt->method, rt->path);
    }
}

/* A concrete path for a route pattern. */
static void concrete(const char *pat, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = pat; *p && k + 4 < n;) {
        if (!strncmp(p, "{id}", 4)) {
            out[k++] = '1';
            p += 4;
        } else if (*p == '*') {
            out[k++] = 'x';
            p++;
        } else
            out[k++] = *p++;
    }
    out[k] = '\0';
}

static void test_role_by_route(void **state)
{
    static const char *const roles[] = {"viewer", "agent", "editor", "owner"};
    struct webfix *f = start();
    char tok[4][80], hdr[4][128], path[256];
    (void)state;
    for (int i = 0; i < 4; i++) {
        char email[64];
        snprintf(email, sizeof email, "%s@example.com", roles[i]);
        add_user(f, email, roles[i]);
        login(f, email, roles[i], tok[i], sizeof tok[i]);
        snprintf(hdr[i], sizeof hdr[i], "Authorization: Bearer %s", tok[i]);
    }
    for (int i = 0; i < web_n_routes(); i++) {
        const struct web_route *rt = web_route_at(i);
        if (rt->auth == WEB_AUTH_NONE || !strcmp(rt->name, "logout") || !strcmp(rt->name, "logout_all"))
            continue;
        concrete(rt->path, path, sizeof path);
        for (int k = 0; k < 4; k++) {
            const char *h[] = {hdr[k], NULL};
            enum web_role mine = (enum web_role)(WEB_ROLE_VIEWER + k);
            struct http_resp r;
            int st;
            if (mine >= rt->role && strcmp(rt->method, "GET"))
                continue; /* state changes by allowed roles are tested by their own tests */
            if (mine >= rt->role && strstr(rt->name, "_stream"))
                continue; /* a live SSE stream never ends; test_handoff opens them */
            st = req(f, rt->method, path, h, NULL, &r);
            if (mine < rt->role && (st != 403 || !strstr(r.body, "EFORBIDDEN")))
                fail_msg("%s %s as %s: %d, want 403: %s", rt->method, path, roles[k], st, r.body);
            if (mine >= rt->role && (st == 401 || st == 403))
                fail_msg("%s %s as %s: %d, want admission: %s", rt->method, path, roles[k], st, r.body);
            http_resp_free(&r);
        }
    }
    webfix_free(f);
}

static void test_login_session_csrf(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    struct webfix *f = start();
    struct http_resp r;
    char cookie[160], cookie2[160], csrf[80], h1[200], h2[200], old[80];
    const char *p;
    (void)state;
    add_user(f, "ed@example.com", "editor");
    /* the same error for a wrong password and for an unknown account */
    expect(f, "POST", "/api/login", NULL, "{\"email\":\"ed@example.com\",\"password\":\"wrong-one\"}", 401, "ELOGIN");
    expect(f, "POST", "/api/login", NULL, "{\"email\":\"nobody@example.com\",\"password\":\"wrong-one\"}", 401, "ELOGIN");
    expect(f, "POST", "/api/login", NULL, "{\"email\":\"ed@example.com\"}", 400, "EJSON");
    /* log in: HttpOnly, SameSite=Strict cookie */
    assert_int_equal(req(f, "POST", "/api/login", NULL, "{\"email\":\"ed@example.com\",\"password\":\"pass-editor\"}", &r), 200);
    assert_non_null(http_header(&r, "Set-Cookie", cookie, sizeof cookie));
    assert_non_null(strstr(cookie, "HttpOnly"));
    assert_non_null(strstr(cookie, "SameSite=Strict"));
    assert_null(strstr(cookie, "Secure")); /* plain HTTP, no proxy */
    assert_null(strstr(r.body, "\"token\""));
    json_str(r.body, "csrf", csrf, sizeof csrf);
    http_resp_free(&r);
    p = strstr(cookie, "kbox_session=") + 13;
    snprintf(old, sizeof old, "%.64s", p);
    snprintf(h1, sizeof h1, "Cookie: kbox_session=%s", old);
    /* a cookie POST without the CSRF header is refused, with it accepted */
    {
        const char *h[] = {h1, NULL};
        const char *hc[] = {h1, h2, NULL};
        snprintf(h2, sizeof h2, "X-CSRF-Token: %s", csrf);
        expect(f, "GET", "/api/me", h, NULL, 200, NULL);
        expect(f, "POST", "/api/collections", h, "{\"name\":\"hr\"}", 403, "EFORBIDDEN");
        expect(f, "POST", "/api/collections", hc, "{\"name\":\"hr\"}", 201, NULL);
        /* session fixation: logging in with a session in hand gives a new id and ends the old one */
        assert_int_equal(req(f, "POST", "/api/login", h, "{\"email\":\"ed@example.com\",\"password\":\"pass-editor\"}", &r), 200);
        assert_non_null(http_header(&r, "Set-Cookie", cookie2, sizeof cookie2));
        http_resp_free(&r);
        assert_null(strstr(cookie2, old));
        expect(f, "GET", "/api/me", h, NULL, 401, "ESESSION");
    }
    /* logout everywhere ends every session of the user */
    {
        char t1[80], t2[80], b1[128], b2[128];
        login(f, "ed@example.com", "editor", t1, sizeof t1);
        login(f, "ed@example.com", "editor", t2, sizeof t2);
        snprintf(b1, sizeof b1, "Authorization: Bearer %s", t1);
        snprintf(b2, sizeof b2, "Authorization: Bearer %s", t2);
        const char *x1[] = {b1, NULL}, *x2[] = {b2, NULL};
        expect(f, "POST", "/api/logout/all", x1, NULL, 200, NULL);
        expect(f, "GET", "/api/me", x2, NULL, 401, "ESESSION");
    }
    /* an owner's reset ends the user's sessions; the new password works */
    {
        char t[80], b[128];
        login(f, "ed@example.com", "editor", t, sizeof t);
        snprintf(b, sizeof b, "Authorization: Bearer %s", t);
        const char *x[] = {b, NULL};
        expect(f, "PATCH", "/api/users/1", admin, "{\"password\":\"pass-reset\"}", 200, NULL);
        expect(f, "GET", "/api/me", x, NULL, 401, "ESESSION");
        expect(f, "POST", "/api/login", NULL, "{\"email\":\"ed@example.com\",\"password\":\"pass-reset\"}", 200, NULL);
        expect(f, "PATCH", "/api/users/1", admin, "{\"role\":\"boss\"}", 400, "EINVAL");
    }
    webfix_free(f);
}

static void test_lockout(void **state)
{
    struct webfix *f = start();
    int64_t before;
    int n429 = 0;
    char t[80];
    (void)state;
    add_user(f, "vi@example.com", "viewer");
    add_user(f, "ag@example.com", "agent");
    before = web_server_login_hashes(f->srv);
    for (int i = 0; i < 1000; i++) {
        struct http_resp r;
        int st = req(f, "POST", "/api/login", NULL, "{\"email\":\"vi@example.com\",\"password\":\"guess-guess\"}", &r);
        if (st == 429)
            n429++;
        else if (st != 401)
            fail_msg("wrong login %d: %d %s", i, st, r.body);
        http_resp_free(&r);
    }
    assert_int_equal(n429, 1000 - 5);            /* auth.lockout_fails = 5 */
    assert_true(web_server_login_hashes(f->srv) - before <= 5); /* a locked account costs no hash */
    /* the right password is refused while locked; another account is unaffected */
    expect(f, "POST", "/api/login", NULL, "{\"email\":\"vi@example.com\",\"password\":\"pass-viewer\"}", 429, "ERATE");
    login(f, "ag@example.com", "agent", t, sizeof t);
    webfix_free(f);
}

static void test_keys_and_audit(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    struct webfix *f = start();
    struct http_resp r;
    char tok[80], th[128], secret[80], kh[128], body[256], id[32];
    (void)state;
    add_user(f, "ed@example.com", "editor");
    add_user(f, "vi@example.com", "viewer");
    login(f, "ed@example.com", "editor", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    const char *ed[] = {th, NULL}, *key[] = {kh, NULL};
    expect(f, "POST", "/api/keys", ed, "{\"name\":\"x\",\"scopes\":[\"documents:eat\"]}", 400, "EINVAL");
    assert_int_equal(req(f, "POST", "/api/keys", ed, "{\"name\":\"sync\",\"scopes\":[\"documents:read\"]}", &r), 201);
    json_str(r.body, "secret", secret, sizeof secret);
    assert_int_equal(strncmp(secret, "kbx_", 4), 0);
    snprintf(id, sizeof id, "%lld", strtoll(strstr(r.body, "\"id\":") + 5, NULL, 10));
    http_resp_free(&r);
    snprintf(kh, sizeof kh, "Authorization: Bearer %s", secret);
    expect(f, "GET", "/api/documents", key, NULL, 200, NULL);
    expect(f, "POST", "/api/collections", key, "{\"name\":\"k\"}", 403, "ESCOPE");
    expect(f, "GET", "/api/keys", key, NULL, 403, "ESCOPE"); /* keys cannot manage keys */
    expect(f, "GET", "/api/users", key, NULL, 403, "EFORBIDDEN"); /* nor exceed their creator */
    /* the key is stored as a hash: the list shows the prefix, never the secret */
    assert_int_equal(req(f, "GET", "/api/keys", ed, NULL, &r), 200);
    assert_null(strstr(r.body, secret));
    assert_non_null(strstr(r.body, "kbx_"));
    http_resp_free(&r);
    snprintf(body, sizeof body, "/api/keys/%s", id);
    expect(f, "DELETE", body, ed, NULL, 200, NULL);
    expect(f, "GET", "/api/documents", key, NULL, 401, "EKEYREVOKED");
    /* on a server where anyone may ask, a revoked key is still refused, not let in anonymously;
     * a token kbox never issued asks anonymously there */
    expect(f, "PUT", "/api/settings", admin, "{\"server.public_ask\":true}", 200, NULL);
    expect(f, "POST", "/api/search", key, "{\"query\":\"hello\"}", 401, "EKEYREVOKED");
    expect(f, "POST", "/api/search", (const char *const[]){"Authorization: Bearer sk-placeholder", NULL},
           "{\"query\":\"hello\"}", 200, NULL);
    expect(f, "PUT", "/api/settings", admin, "{\"server.public_ask\":false}", 200, NULL);
    /* expiry */
    snprintf(body, sizeof body, "{\"scopes\":[\"documents:read\"],\"expires_at\":%lld}", (long long)time(NULL) + 1);
    assert_int_equal(req(f, "POST", "/api/keys", ed, body, &r), 201);
    json_str(r.body, "secret", secret, sizeof secret);
    http_resp_free(&r);
    snprintf(kh, sizeof kh, "Authorization: Bearer %s", secret);
    sleep(2);
    expect(f, "GET", "/api/documents", key, NULL, 401, "EKEYEXPIRED");
    /* a role change is audited; the audit log is the owner's */
    expect(f, "PATCH", "/api/users/2", admin, "{\"role\":\"agent\"}", 200, NULL);
    expect(f, "GET", "/api/audit", ed, NULL, 403, "EFORBIDDEN");
    assert_int_equal(req(f, "GET", "/api/audit", admin, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"action\":\"user.role\""));
    assert_non_null(strstr(r.body, "\"detail\":\"viewer -> agent\""));
    assert_non_null(strstr(r.body, "\"action\":\"key.create\""));
    assert_non_null(strstr(r.body, "\"action\":\"key.revoke\""));
    assert_non_null(strstr(r.body, "\"actor\":\"user:ed@example.com\""));
    assert_non_null(strstr(r.body, "\"actor\":\"admin-token\""));
    http_resp_free(&r);
    /* the last owner cannot be demoted */
    add_user(f, "boss@example.com", "owner");
    expect(f, "PATCH", "/api/users/3", admin, "{\"role\":\"viewer\"}", 409, "ECONFLICT");
    webfix_free(f);
}

/* A key scoped to a bot answers as that bot only: another bot, no bot, a collection as the model and
 * admin routes are refused; /v1/models lists just its bot. */
static void test_bot_key(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    struct webfix *f = start();
    struct http_resp r;
    char secret[80], kh[128];
    char tok[80], th[128];
    const char *key[] = {kh, NULL}, *ed[] = {th, NULL};
    (void)state;
    add_user(f, "ed@example.com", "editor");
    login(f, "ed@example.com", "editor", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"web\",\"collections\":[\"default\"]}", 201, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"hr\",\"collections\":[\"default\"]}", 201, NULL);
    expect(f, "POST", "/api/keys", ed, "{\"name\":\"w\",\"scopes\":[\"bot:nope,ask\"]}", 400, "EINVAL");
    if (req(f, "POST", "/api/keys", ed, "{\"name\":\"site\",\"scopes\":[\"bot:web\"]}", &r) != 201)
        fail_msg("bot key: %d %s", r.status, r.body);
    json_str(r.body, "secret", secret, sizeof secret);
    http_resp_free(&r);
    snprintf(kh, sizeof kh, "Authorization: Bearer %s", secret);
    expect(f, "POST", "/api/ask", key, "{\"question\":\"hello\",\"bot\":\"web\"}", 200, NULL);
    expect(f, "POST", "/api/ask", key, "{\"question\":\"hello\",\"bot\":\"hr\"}", 403, "ESCOPE");
    expect(f, "POST", "/api/ask", key, "{\"question\":\"hello\"}", 403, "ESCOPE");
    expect(f, "POST", "/api/search", key, "{\"query\":\"hello\"}", 403, "ESCOPE");
    expect(f, "POST", "/v1/chat/completions", key,
           "{\"model\":\"default\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", 403, "ESCOPE");
    expect(f, "POST", "/v1/chat/completions", key,
           "{\"model\":\"web\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", 200, NULL);
    expect(f, "GET", "/api/documents", key, NULL, 403, "ESCOPE");
    expect(f, "GET", "/api/bots", key, NULL, 403, "ESCOPE");
    assert_int_equal(req(f, "GET", "/v1/models", key, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"id\":\"web\""));
    assert_null(strstr(r.body, "\"id\":\"hr\""));
    assert_null(strstr(r.body, "\"id\":\"kbox\""));
    assert_null(strstr(r.body, "\"id\":\"default\""));
    http_resp_free(&r);
    /* an "ask" key may use every bot */
    assert_int_equal(req(f, "POST", "/api/keys", ed, "{\"name\":\"all\",\"scopes\":[\"ask\"]}", &r), 201);
    json_str(r.body, "secret", secret, sizeof secret);
    http_resp_free(&r);
    snprintf(kh, sizeof kh, "Authorization: Bearer %s", secret);
    expect(f, "POST", "/api/ask", key, "{\"question\":\"hello\",\"bot\":\"hr\"}", 200, NULL);
    assert_int_equal(req(f, "GET", "/v1/models", key, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"id\":\"hr\""));
    assert_non_null(strstr(r.body, "\"id\":\"kbox\""));
    http_resp_free(&r);
    webfix_free(f);
}

/* POST /api/documents[?collection=coll] of one text file; returns the status, the body in *r. */
static int upload(struct webfix *f, const char *hdr, const char *coll, const char *name, const char *text,
                  struct http_resp *r)
{
    char path[128], body[2048];
    const char *h[] = {hdr, "Content-Type: multipart/form-data; boundary=acctBoundary42", NULL};
    int n = snprintf(body, sizeof body,
                     "--acctBoundary42\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                     "Content-Type: text/plain\r\n\r\n%s\r\n--acctBoundary42--\r\n",
                     name, text);
    snprintf(path, sizeof path, "/api/documents%s%s", coll ? "?collection=" : "", coll ? coll : "");
    assert_int_equal(http_req(f->port, "POST", path, h, body, (size_t)n, r), 0);
    return r->status;
}

/* The integer after "key": in body. */
static long long json_int(const char *body, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    if (!(p = strstr(body, pat)))
        fail_msg("no %s in %s", key, body);
    return strtoll(p + strlen(pat), NULL, 10);
}

static void wait_job(struct webfix *f, long long job)
{
    static const char *const admin[] = {AUTH, NULL};
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%lld", job);
    for (int i = 0; i < 1200; i++) {
        struct http_resp r;
        assert_int_equal(req(f, "GET", path, admin, NULL, &r), 200);
        bool done = strstr(r.body, "\"state\":\"done\"") != NULL;
        if (strstr(r.body, "\"state\":\"failed\""))
            fail_msg("job %lld failed: %s", job, r.body);
        http_resp_free(&r);
        if (done)
            return;
        usleep(50000);
    }
    fail_msg("job %lld did not finish in 60 s", job);
}

/* Uploads name into coll as hdr and waits until it is indexed; returns the document id. */
static long long upload_indexed(struct webfix *f, const char *hdr, const char *coll, const char *name, const char *text)
{
    struct http_resp r;
    long long doc, job;
    if (upload(f, hdr, coll, name, text, &r) != 202)
        fail_msg("upload %s: %d %s", name, r.status, r.body);
    doc = json_int(r.body, "document_id");
    job = json_int(r.body, "job_id");
    http_resp_free(&r);
    wait_job(f, job);
    return doc;
}

/* An editor limited to the collection "shop": everything of "hr" answers 404, as if it did not exist. */
static void test_coll_access(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    struct webfix *f = start();
    struct http_resp r;
    char tok[80], th[128], path[128], body[256];
    const char *ed[] = {th, NULL};
    long long hr, shop, hr_doc, shop_doc;
    (void)state;
    assert_int_equal(req(f, "POST", "/api/collections", admin, "{\"name\":\"hr\"}", &r), 201);
    hr = json_int(r.body, "id");
    http_resp_free(&r);
    assert_int_equal(req(f, "POST", "/api/collections", admin, "{\"name\":\"shop\"}", &r), 201);
    shop = json_int(r.body, "id");
    http_resp_free(&r);
    snprintf(body, sizeof body, "{\"email\":\"ed@example.com\",\"role\":\"editor\",\"password\":\"pass-editor\",\"collections\":[%lld]}",
             shop);
    expect(f, "POST", "/api/users", admin, body, 201, NULL);
    login(f, "ed@example.com", "editor", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    hr_doc = upload_indexed(f, AUTH, "hr", "salaries.txt", "The zebracorn salary table is secret to HR staff.");
    /* the editor's upload names no collection: it goes to the one it may see */
    assert_int_equal(upload(f, th, NULL, "returns.txt", "A zebracorn may be returned within thirty days.", &r), 202);
    assert_int_equal(json_int(r.body, "collection_id"), shop);
    shop_doc = json_int(r.body, "document_id");
    wait_job(f, json_int(r.body, "job_id"));
    http_resp_free(&r);
    assert_int_equal(upload(f, th, "hr", "sneaky.txt", "Not for the shop.", &r), 404);
    assert_non_null(strstr(r.body, "ENOENT"));
    http_resp_free(&r);
    /* documents */
    assert_int_equal(req(f, "GET", "/api/documents", ed, NULL, &r), 200);
    assert_non_null(strstr(r.body, "returns.txt"));
    assert_null(strstr(r.body, "salaries.txt"));
    http_resp_free(&r);
    expect(f, "GET", "/api/documents?collection=hr", ed, NULL, 404, "ENOENT");
    snprintf(path, sizeof path, "/api/documents/%lld", hr_doc);
    expect(f, "GET", path, ed, NULL, 404, "ENOENT");
    expect(f, "DELETE", path, ed, NULL, 404, "ENOENT");
    snprintf(path, sizeof path, "/api/documents/%lld/file", hr_doc);
    expect(f, "GET", path, ed, NULL, 404, "ENOENT");
    snprintf(path, sizeof path, "/api/documents/%lld/reingest", hr_doc);
    expect(f, "POST", path, ed, "{}", 404, "ENOENT");
    snprintf(path, sizeof path, "/api/documents/%lld", shop_doc);
    expect(f, "GET", path, ed, NULL, 200, NULL);
    assert_int_equal(req(f, "GET", "/api/jobs", ed, NULL, &r), 200);
    snprintf(body, sizeof body, "\"document_id\":%lld,", hr_doc);
    assert_null(strstr(r.body, body));
    http_resp_free(&r);
    /* collections */
    assert_int_equal(req(f, "GET", "/api/collections", ed, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"shop\""));
    assert_null(strstr(r.body, "\"hr\""));
    assert_null(strstr(r.body, "\"default\""));
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/collections/%lld", hr);
    expect(f, "PATCH", path, ed, "{\"name\":\"mine\"}", 404, "ENOENT");
    expect(f, "DELETE", path, ed, NULL, 404, "ENOENT");
    expect(f, "POST", "/api/collections", ed, "{\"name\":\"new\"}", 403, "EFORBIDDEN");
    /* search and ask: the hidden collection is 404; unnamed means the visible one */
    expect(f, "POST", "/api/search", ed, "{\"query\":\"zebracorn\",\"collection\":\"hr\"}", 404, "ENOENT");
    expect(f, "POST", "/api/ask", ed, "{\"question\":\"zebracorn?\",\"collection\":\"hr\"}", 404, "ENOENT");
    assert_int_equal(req(f, "POST", "/api/search", ed, "{\"query\":\"zebracorn\"}", &r), 200);
    assert_non_null(strstr(r.body, "returns.txt"));
    assert_null(strstr(r.body, "salaries.txt"));
    http_resp_free(&r);
    assert_int_equal(req(f, "POST", "/api/search", admin, "{\"query\":\"zebracorn\"}", &r), 200);
    assert_non_null(strstr(r.body, "salaries.txt")); /* the owner sees both: the filter is the account's */
    http_resp_free(&r);
    assert_int_equal(req(f, "POST", "/api/ask", ed, "{\"question\":\"zebracorn salary\"}", &r), 200);
    assert_null(strstr(r.body, "salaries.txt"));
    http_resp_free(&r);
    /* bots: over hr, over everything, over shop */
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"hrbot\",\"collections\":[\"hr\"]}", 201, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"allbot\"}", 201, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"shopbot\",\"collections\":[\"shop\"]}", 201, NULL);
    assert_int_equal(req(f, "GET", "/api/bots", ed, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"id\":\"shopbot\""));
    assert_null(strstr(r.body, "\"id\":\"hrbot\""));
    assert_null(strstr(r.body, "\"id\":\"allbot\""));
    http_resp_free(&r);
    expect(f, "GET", "/api/bots/hrbot", ed, NULL, 404, "ENOENT");
    expect(f, "GET", "/api/bots/allbot", ed, NULL, 404, "ENOENT");
    expect(f, "PUT", "/api/bots/hrbot", ed, "{\"greeting\":\"hi\"}", 404, "ENOENT");
    expect(f, "DELETE", "/api/bots/hrbot", ed, NULL, 404, "ENOENT");
    expect(f, "POST", "/api/ask", ed, "{\"question\":\"salary?\",\"bot\":\"hrbot\"}", 404, "ENOENT");
    expect(f, "GET", "/api/bots/shopbot", ed, NULL, 200, NULL);
    expect(f, "PATCH", "/api/bots/shopbot", ed, "{\"collections\":[\"hr\"]}", 404, "ENOENT");
    expect(f, "PATCH", "/api/bots/shopbot", ed, "{\"collections\":[]}", 403, "EFORBIDDEN");
    expect(f, "PATCH", "/api/bots/shopbot", ed, "{\"greeting\":\"Welcome\"}", 200, NULL);
    expect(f, "POST", "/api/bots", ed, "{\"id\":\"sneaky\",\"collections\":[\"hr\"]}", 404, "ENOENT");
    expect(f, "POST", "/api/bots", ed, "{\"id\":\"sneaky\"}", 403, "EFORBIDDEN");
    expect(f, "POST", "/api/bots", ed, "{\"id\":\"mine\",\"collections\":[\"shop\"]}", 201, NULL);
    expect(f, "POST", "/api/ask", ed, "{\"question\":\"return?\",\"bot\":\"shopbot\"}", 200, NULL);
    assert_int_equal(req(f, "GET", "/v1/models", ed, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"id\":\"shopbot\""));
    assert_non_null(strstr(r.body, "\"id\":\"shop\""));
    assert_null(strstr(r.body, "\"id\":\"hrbot\""));
    assert_null(strstr(r.body, "\"id\":\"hr\""));
    assert_null(strstr(r.body, "\"id\":\"allbot\""));
    http_resp_free(&r);
    expect(f, "POST", "/v1/chat/completions", ed,
           "{\"model\":\"hr\",\"messages\":[{\"role\":\"user\",\"content\":\"salary?\"}]}", 404, "ENOENT");
    /* curated answers: one in hr is 404 to the editor, its list is the shop's */
    assert_int_equal(req(f, "POST", "/api/faq", admin,
                         "{\"collection\":\"hr\",\"question\":\"What is the zebracorn bonus?\",\"answer\":\"Ten percent.\"}", &r),
                     201);
    snprintf(path, sizeof path, "/api/faq/%lld", json_int(r.body, "id"));
    http_resp_free(&r);
    expect(f, "GET", path, ed, NULL, 404, "ENOENT");
    expect(f, "PUT", path, ed, "{\"answer\":\"Nothing.\"}", 404, "ENOENT");
    expect(f, "DELETE", path, ed, NULL, 404, "ENOENT");
    expect(f, "POST", "/api/faq", ed, "{\"collection\":\"hr\",\"question\":\"q?\",\"answer\":\"a.\"}", 404, "ENOENT");
    assert_int_equal(req(f, "GET", "/api/faq", ed, NULL, &r), 200);
    assert_null(strstr(r.body, "zebracorn bonus"));
    http_resp_free(&r);
    expect(f, "GET", path, admin, NULL, 200, NULL);
    /* the owner still sees everything */
    snprintf(path, sizeof path, "/api/documents/%lld", hr_doc);
    expect(f, "GET", path, admin, NULL, 200, NULL);
    expect(f, "GET", "/api/bots/hrbot", admin, NULL, 200, NULL);
    /* two collections: a search must name one */
    snprintf(body, sizeof body, "{\"collections\":[%lld,%lld]}", shop, hr);
    expect(f, "PATCH", "/api/users/1", admin, body, 200, NULL);
    expect(f, "POST", "/api/search", ed, "{\"query\":\"zebracorn\"}", 400, "EINVAL");
    expect(f, "POST", "/api/search", ed, "{\"query\":\"zebracorn\",\"collection\":\"hr\"}", 200, NULL);
    webfix_free(f);
}

/* POST /api/ask as the break-glass owner in collection coll (NULL: every collection) on channel api;
 * returns the logged message_id. */
static long long ask_logged(struct webfix *f, const char *coll, const char *question)
{
    static const char *const admin[] = {AUTH, NULL};
    struct http_resp r;
    char body[256];
    long long id;
    if (coll)
        snprintf(body, sizeof body, "{\"question\":\"%s\",\"collection\":\"%s\",\"channel\":\"api\"}",
                 question, coll);
    else
        snprintf(body, sizeof body, "{\"question\":\"%s\",\"channel\":\"api\"}", question);
    if (req(f, "POST", "/api/ask", admin, body, &r) != 200)
        fail_msg("ask %s: %d %s", body, r.status, r.body);
    id = json_int(r.body, "message_id");
    assert_true(id > 0);
    http_resp_free(&r);
    return id;
}

/* Whether body lists the review item or export row of message id. */
static bool has_message(const char *body, long long id)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"message_id\":%lld,", id);
    if (strstr(body, pat))
        return true;
    snprintf(pat, sizeof pat, "\"id\":%lld,", id);
    return strstr(body, pat) != NULL;
}

/* The conversation log under per-collection access: the review list, stats and export of a user
 * limited to one collection are that collection's; another is 404; with several, naming none is 400;
 * review and delete of a message or conversation of another collection (or of every one) are 404. */
static void test_coll_logs(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    static const char *const kv[] = {"log.review_below", "1", NULL}; /* every answer is a review item */
    struct webfix *f = start_cfg(kv);
    struct http_resp r;
    char tok[2][80], th[2][128], path[128], body[256];
    const char *ag[] = {th[0], NULL}, *ed[] = {th[1], NULL};
    long long hr, shop, hm, sm, am, hconv;
    (void)state;
    assert_int_equal(req(f, "POST", "/api/collections", admin, "{\"name\":\"hr\"}", &r), 201);
    hr = json_int(r.body, "id");
    http_resp_free(&r);
    assert_int_equal(req(f, "POST", "/api/collections", admin, "{\"name\":\"shop\"}", &r), 201);
    shop = json_int(r.body, "id");
    http_resp_free(&r);
    upload_indexed(f, AUTH, "hr", "salaries.txt", "The zebracorn salary table is secret to HR staff.");
    upload_indexed(f, AUTH, "shop", "returns.txt", "A zebracorn may be returned within thirty days.");
    snprintf(body, sizeof body,
             "{\"email\":\"ag@example.com\",\"role\":\"agent\",\"password\":\"pass-agent\",\"collections\":[%"
             "lld]}",
             shop);
    expect(f, "POST", "/api/users", admin, body, 201, NULL);
    snprintf(body, sizeof body,
             "{\"email\":\"ed@example.com\",\"role\":\"editor\",\"password\":\"pass-editor\",\"collections\":"
             "[%lld]}",
             shop);
    expect(f, "POST", "/api/users", admin, body, 201, NULL);
    login(f, "ag@example.com", "agent", tok[0], sizeof tok[0]);
    login(f, "ed@example.com", "editor", tok[1], sizeof tok[1]);
    for (int i = 0; i < 2; i++)
        snprintf(th[i], sizeof th[i], "Authorization: Bearer %s", tok[i]);
    /* three fallbacks (nothing matches): one per collection and one over every collection */
    hm = ask_logged(f, "hr", "Which quasar orbits the payroll nebula?");
    sm = ask_logged(f, "shop", "Which quasar orbits the checkout nebula?");
    am = ask_logged(f, NULL, "Which quasar orbits the lobby nebula?");
    assert_int_equal(req(f, "GET", "/api/review?collection=hr", admin, NULL, &r), 200);
    assert_true(has_message(r.body, hm));
    hconv = json_int(r.body, "conversation_id");
    http_resp_free(&r);
    /* review list: the agent's is the shop's */
    assert_int_equal(req(f, "GET", "/api/review", ag, NULL, &r), 200);
    assert_true(has_message(r.body, sm));
    assert_false(has_message(r.body, hm));
    assert_false(has_message(r.body, am));
    assert_int_equal(json_int(r.body, "total"), 1);
    http_resp_free(&r);
    expect(f, "GET", "/api/review?collection=hr", ag, NULL, 404, "ENOENT");
    snprintf(path, sizeof path, "/api/review?collection=%lld", hr);
    expect(f, "GET", path, ag, NULL, 404, "ENOENT");
    expect(f, "GET", "/api/review?collection=shop", ag, NULL, 200, NULL);
    /* stats */
    assert_int_equal(req(f, "GET", "/api/stats", ag, NULL, &r), 200);
    assert_int_equal(json_int(r.body, "questions"), 1);
    assert_null(strstr(r.body, "payroll"));
    assert_null(strstr(r.body, "lobby"));
    http_resp_free(&r);
    expect(f, "GET", "/api/stats?collection=hr", ag, NULL, 404, "ENOENT");
    /* export (an editor's route) */
    assert_int_equal(req(f, "GET", "/api/logs/export?format=jsonl", ed, NULL, &r), 200);
    assert_non_null(strstr(r.body, "checkout nebula"));
    assert_null(strstr(r.body, "payroll nebula"));
    assert_null(strstr(r.body, "lobby nebula"));
    http_resp_free(&r);
    expect(f, "GET", "/api/logs/export?format=csv&collection=hr", ed, NULL, 404, "ENOENT");
    /* review actions: another collection's message, or one over every collection, is 404 */
    snprintf(path, sizeof path, "/api/review/%lld", hm);
    expect(f, "POST", path, ag, "{\"action\":\"dismiss\"}", 404, "ENOENT");
    snprintf(path, sizeof path, "/api/review/%lld", am);
    expect(f, "POST", path, ag, "{\"action\":\"dismiss\"}", 404, "ENOENT");
    expect(f, "POST", "/api/review/999999", ag, "{\"action\":\"dismiss\"}", 404, "ENOENT");
    snprintf(path, sizeof path, "/api/review/%lld", sm);
    expect(f, "POST", path, ag, "{\"action\":\"dismiss\"}", 200, NULL);
    /* the unlimited owner still sees everything: the hr item is still in its inbox */
    assert_int_equal(req(f, "GET", "/api/review", admin, NULL, &r), 200);
    assert_true(has_message(r.body, hm));
    assert_true(has_message(r.body, am));
    assert_false(has_message(r.body, sm));
    http_resp_free(&r);
    assert_int_equal(req(f, "GET", "/api/stats", admin, NULL, &r), 200);
    assert_int_equal(json_int(r.body, "questions"), 3);
    http_resp_free(&r);
    /* two collections: naming none is 400, naming one of them works */
    snprintf(body, sizeof body, "{\"collections\":[%lld,%lld]}", shop, hr);
    expect(f, "PATCH", "/api/users/1", admin, body, 200, NULL);
    expect(f, "GET", "/api/review", ag, NULL, 400, "EINVAL");
    expect(f, "GET", "/api/stats", ag, NULL, 400, "EINVAL");
    assert_int_equal(req(f, "GET", "/api/review?collection=hr", ag, NULL, &r), 200);
    assert_true(has_message(r.body, hm));
    http_resp_free(&r);
    /* deleting a conversation (owner's route) of a collection the owner may not see is 404 */
    snprintf(body, sizeof body, "{\"role\":\"owner\",\"collections\":[%lld]}", shop);
    expect(f, "PATCH", "/api/users/2", admin, body, 200, NULL);
    snprintf(path, sizeof path, "/api/conversations/%lld", hconv);
    expect(f, "DELETE", path, ed, NULL, 404, "ENOENT");
    expect(f, "DELETE", path, admin, NULL, 200, NULL);
    expect(f, "DELETE", path, admin, NULL, 404, "ENOENT");
    webfix_free(f);
}

/* Uploads, deletions, settings, collection and bot changes each leave an audit entry naming who. */
static void test_audit_actions(void **state)
{
    static const char *const admin[] = {AUTH, NULL};
    static const char *const actions[] = {"document.upload", "document.delete", "settings.change", "collection.create",
                                          "collection.rename", "collection.delete", "bot.create", "bot.update",
                                          "bot.delete"};
    struct webfix *f = start();
    struct http_resp r;
    char tok[80], th[128], path[64], pat[80];
    const char *ed[] = {th, NULL};
    long long coll, doc;
    (void)state;
    add_user(f, "ed@example.com", "editor");
    login(f, "ed@example.com", "editor", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    assert_int_equal(req(f, "POST", "/api/collections", ed, "{\"name\":\"sales\"}", &r), 201);
    coll = json_int(r.body, "id");
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/collections/%lld", coll);
    expect(f, "PATCH", path, ed, "{\"name\":\"sales-2\"}", 200, NULL);
    doc = upload_indexed(f, th, "sales-2", "prices.txt", "Prices are listed in euros.");
    snprintf(path, sizeof path, "/api/documents/%lld", doc);
    expect(f, "DELETE", path, ed, NULL, 200, NULL);
    expect(f, "PUT", "/api/settings", admin, "{\"answer.fallback\":\"Ask a human.\"}", 200, NULL);
    expect(f, "POST", "/api/bots", ed, "{\"id\":\"salesbot\",\"collections\":[\"sales-2\"]}", 201, NULL);
    expect(f, "PATCH", "/api/bots/salesbot", ed, "{\"greeting\":\"Hello\"}", 200, NULL);
    expect(f, "DELETE", "/api/bots/salesbot", ed, NULL, 204, NULL);
    snprintf(path, sizeof path, "/api/collections/%lld", coll);
    expect(f, "DELETE", path, ed, NULL, 200, NULL);
    assert_int_equal(req(f, "GET", "/api/audit", admin, NULL, &r), 200);
    for (size_t i = 0; i < KB_ARRAY_LEN(actions); i++) {
        snprintf(pat, sizeof pat, "\"action\":\"%s\"", actions[i]);
        if (!strstr(r.body, pat))
            fail_msg("no %s entry in the audit log: %s", actions[i], r.body);
    }
    assert_non_null(strstr(r.body, "\"target\":\"prices.txt\""));
    assert_non_null(strstr(r.body, "\"target\":\"answer.fallback\""));
    assert_non_null(strstr(r.body, "\"target\":\"salesbot\""));
    assert_non_null(strstr(r.body, "\"actor\":\"user:ed@example.com\""));
    http_resp_free(&r);
    webfix_free(f);
}

/* A session unused for auth.session_idle_s, or older than auth.session_max_s, is refused (401
 * ESESSION naming which) and gone; a fresh one passes. */
static void test_session_timeouts(void **state)
{
    static const char *const kv[] = {"auth.session_idle_s", "60", "auth.session_max_s", "120", NULL};
    struct webfix *f = start_cfg(kv);
    struct index_store *st = rag_store(f->rag);
    struct kb_error err = {0};
    struct http_resp r;
    char tok[80], th[128], h[65];
    const char *me[] = {th, NULL};
    int64_t now = (int64_t)time(NULL);
    (void)state;
    add_user(f, "vi@example.com", "viewer");
    /* idle: last used 61 s ago */
    login(f, "vi@example.com", "viewer", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    expect(f, "GET", "/api/me", me, NULL, 200, NULL);
    web_sha256_hex(tok, h);
    assert_int_equal(index_session_touch(st, h, now - 61, &err), 0);
    assert_int_equal(req(f, "GET", "/api/me", me, NULL, &r), 401);
    assert_non_null(strstr(r.body, "ESESSION"));
    assert_non_null(strstr(r.body, "idle"));
    http_resp_free(&r);
    assert_int_equal(index_session_touch(st, h, now, &err), 0); /* the row is gone: touching it revives nothing */
    expect(f, "GET", "/api/me", me, NULL, 401, "ESESSION");
    /* just inside the idle limit it still works */
    login(f, "vi@example.com", "viewer", tok, sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    web_sha256_hex(tok, h);
    assert_int_equal(index_session_touch(st, h, now - 50, &err), 0);
    expect(f, "GET", "/api/me", me, NULL, 200, NULL);
    /* absolute: made 121 s ago and used all along */
    snprintf(tok, sizeof tok, "%s", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    web_sha256_hex(tok, h);
    assert_int_equal(index_session_add(st, h, 1, "csrf-of-an-old-session", now - 121, &err), 0);
    assert_int_equal(index_session_touch(st, h, now, &err), 0);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    assert_int_equal(req(f, "GET", "/api/me", me, NULL, &r), 401);
    assert_non_null(strstr(r.body, "auth.session_max_s"));
    http_resp_free(&r);
    webfix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_role_by_route),
        cmocka_unit_test(test_login_session_csrf),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_bot_key),
        cmocka_unit_test(test_keys_and_audit),
        cmocka_unit_test(test_coll_access),
        cmocka_unit_test(test_coll_logs),
        cmocka_unit_test(test_audit_actions),
        cmocka_unit_test(test_session_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
