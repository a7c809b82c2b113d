/* web/session.c: who is asking (sessions, API keys, the break-glass token), logins with lockout,
 * logout, the one-time owner setup, password change, per-collection visibility and audit entries.
 *
 * Credentials, in the order web_auth_identify tries them:
 *   Authorization: Bearer TOKEN   the break-glass token (auth.admin_token: owner), an API key
 *                                 ("kbx_" + 8 hex prefix + "_" + 40 hex; looked up by prefix, then
 *                                 the SHA-256 of the whole key compared in constant time), or a
 *                                 session id (64 hex)
 *   Cookie: kbox_session=ID       a session id, set by POST /api/login; state-changing requests
 *                                 authenticated by the cookie must carry X-CSRF-Token equal to the
 *                                 session's CSRF token (routes.c checks it), so a cross-site form
 *                                 cannot act for the user (SameSite=Strict is the second fence)
 * A session lives auth.session_idle_s without use and auth.session_max_s at most; its last_seen is
 * written at most once a minute. Session ids and keys are stored only as SHA-256 hashes.
 *
 * Login (POST /api/login {email, password[, token:true]}): per address, failed logins are counted
 * per minute and over auth.login_fails_per_ip_min the address gets 429 before anything is hashed;
 * per account (by lower-cased email, known or not, so a lockout tells nothing about existence),
 * auth.lockout_fails failures in a row lock it for auth.lockout_s: a locked account gets 429 at
 * once, without an Argon2id computation, so 1,000 wrong logins cost the server ~lockout_fails hashes
 * and other users' logins are not slowed. The lockout is logged (warn) and audited. An unknown email
 * is verified against a dummy hash so both failures cost the same time and get the same error
 * (KB_ELOGIN). A successful login always makes a new session id (no fixation) and ends the session
 * the request came with. Set-Cookie: kbox_session=ID; Path=/; HttpOnly; SameSite=Strict, plus
 * Secure when serving HTTPS or behind server.trust_proxy.
 *
 * Routes here: POST /api/login, /api/logout, /api/logout/all, GET /api/me, POST /api/setup
 * {token, email, name, password} (the first owner, once), POST /api/password {old, new}.
 * Lock rules: ctx->lock_lock guards the lockout table, ctx->setup_lock the setup token; no lock is
 * held while hashing. Tests: tests/web/test_acct.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "index/index.h"

#define SESSION_COOKIE "kbox_session"
#define SESSION_TOUCH_S 60 /* last_seen is rewritten at most this often */

static const char *const role_names[] = {"", "public", "viewer", "agent", "editor", "owner"};

const char *web_role_name(enum web_role r)
{
    return (int)r >= 0 && (int)r < (int)KB_ARRAY_LEN(role_names) ? role_names[r] : "";
}

enum web_role web_role_parse(const char *name)
{
    for (int i = WEB_ROLE_VIEWER; name && i <= WEB_ROLE_OWNER; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (enum web_role)i;
    return WEB_ROLE_UNSET;
}

bool web_role_valid(const char *name)
{
    return web_role_parse(name) != WEB_ROLE_UNSET;
}

void web_session_init(struct web_ctx *ctx)
{
    pthread_mutex_init(&ctx->lock_lock, NULL);
    pthread_mutex_init(&ctx->setup_lock, NULL);
    ctx->locks = kb_xcalloc(WEB_LOCK_SLOTS, sizeof *ctx->locks);
    web_rate_init(&ctx->login_fail_rate);
    web_rate_init(&ctx->key_rate);
}

void web_session_release(struct web_ctx *ctx)
{
    free(ctx->locks);
    ctx->locks = NULL;
    web_rate_release(&ctx->login_fail_rate);
    web_rate_release(&ctx->key_rate);
    pthread_mutex_destroy(&ctx->lock_lock);
    pthread_mutex_destroy(&ctx->setup_lock);
}

/* ---- identifying the caller ---------------------------------------------------------------------------- */

/* The value of cookie name in a Cookie header, copied into out ("" when absent). */
static void cookie_get(const char *hdr, const char *name, char *out, size_t out_bytes)
{
    size_t n = strlen(name);
    out[0] = '\0';
    while (hdr && *hdr) {
        while (*hdr == ' ' || *hdr == ';')
            hdr++;
        if (strncmp(hdr, name, n) == 0 && hdr[n] == '=') {
            size_t k = strcspn(hdr + n + 1, ";");
            if (k < out_bytes)
                snprintf(out, out_bytes, "%.*s", (int)k, hdr + n + 1);
            return;
        }
        hdr = strchr(hdr, ';');
    }
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Loads the account behind a session or key into who. */
static int who_user(struct web_req *req, int64_t user_id, struct kb_error *err)
{
    struct index_user u;
    int rc = index_user_get(rag_store(req->ctx->rag), user_id, NULL, &req->arena, &u, err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_ESESSION, "the account behind this credential was removed");
    if (rc)
        return rc;
    req->who.user_id = u.id;
    req->who.role = web_role_parse(u.role);
    kb_strlcpy(req->who.collections, u.collections, sizeof req->who.collections);
    snprintf(req->who.actor, sizeof req->who.actor, "user:%.180s", u.email);
    return 0;
}

static int identify_session(struct web_req *req, const char *id, bool cookie, const struct config *cfg,
                            struct kb_error *err)
{
    struct index_session ses;
    char h[65];
    int64_t now = (int64_t)time(NULL);
    int rc;
    web_sha256_hex(id, h);
    rc = index_session_get(rag_store(req->ctx->rag), h, &req->arena, &ses, err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_ESESSION, "the session expired or ended; log in again");
    if (rc)
        return rc;
    if (now - ses.last_seen > cfg->auth_session_idle_s || now - ses.created_at > cfg->auth_session_max_s) {
        index_session_delete(rag_store(req->ctx->rag), h, 0, NULL);
        return kb_error_set(err, KB_ESESSION, "the session expired (%s); log in again",
                            now - ses.created_at > cfg->auth_session_max_s ? "auth.session_max_s" : "idle");
    }
    if ((rc = who_user(req, ses.user_id, err)))
        return rc;
    if (now - ses.last_seen >= SESSION_TOUCH_S)
        index_session_touch(rag_store(req->ctx->rag), h, now, NULL);
    kb_strlcpy(req->who.session_hash, h, sizeof req->who.session_hash);
    kb_strlcpy(req->who.csrf, ses.csrf, sizeof req->who.csrf);
    req->who.via_cookie = cookie;
    return 0;
}

static int identify_key(struct web_req *req, const char *key, struct kb_error *err)
{
    struct index_api_key k;
    char prefix[13], h[65];
    int64_t now = (int64_t)time(NULL);
    int rc;
    if (strlen(key) != 53 || key[12] != '_')
        return kb_error_set(err, KB_EFORBIDDEN, "the token is not valid");
    snprintf(prefix, sizeof prefix, "%.12s", key);
    rc = index_key_get(rag_store(req->ctx->rag), 0, prefix, &req->arena, &k, err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_EFORBIDDEN, "the token is not valid");
    if (rc)
        return rc;
    web_sha256_hex(key, h);
    if (!web_token_equal(k.hash, h))
        return kb_error_set(err, KB_EFORBIDDEN, "the token is not valid");
    if (k.revoked_at)
        return kb_error_set(err, KB_EKEYREVOKED, "the API key %s was revoked", k.prefix);
    if (k.expires_at && now >= k.expires_at)
        return kb_error_set(err, KB_EKEYEXPIRED, "the API key %s expired", k.prefix);
    if ((rc = who_user(req, k.user_id, err)))
        return rc == KB_ESESSION ? kb_error_set(err, KB_EKEYREVOKED, "the API key's account was removed") : rc;
    req->who.key_id = k.id;
    req->who.key_rate = k.rate_per_min;
    kb_strlcpy(req->who.scopes, k.scopes, sizeof req->who.scopes);
    snprintf(req->who.actor, sizeof req->who.actor, "key:%s", k.prefix);
    if (now - k.last_used >= SESSION_TOUCH_S)
        index_key_mark(rag_store(req->ctx->rag), k.id, false, now, NULL);
    return 0;
}

int web_auth_identify(struct web_req *req, const char *authorization, const struct config *cfg, struct kb_error *err)
{
    char cookie[80];
    const char *tok = NULL;
    memset(&req->who, 0, sizeof req->who);
    req->who.role = WEB_ROLE_PUBLIC;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        tok = authorization + 7;
        while (*tok == ' ')
            tok++;
    }
    if (tok && *tok) {
        if (req->ctx->admin_token[0] && web_token_equal(req->ctx->admin_token, tok)) {
            req->who.role = WEB_ROLE_OWNER;
            kb_strlcpy(req->who.actor, "admin-token", sizeof req->who.actor);
            return 0;
        }
        if (strncmp(tok, "kbx_", 4) == 0)
            return identify_key(req, tok, err);
        if (is_hex(tok, 64))
            return identify_session(req, tok, false, cfg, err);
        return kb_error_set(err, KB_EFORBIDDEN, "the token is not valid");
    }
    cookie_get(web_req_header(req, "Cookie"), SESSION_COOKIE, cookie, sizeof cookie);
    if (cookie[0] && is_hex(cookie, 64))
        return identify_session(req, cookie, true, cfg, err);
    return 0;
}

bool web_coll_visible(const struct web_req *req, int64_t collection_id)
{
    const char *p = req->who.collections;
    if (!p[0])
        return true;
    if (collection_id <= 0)
        return false;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        if (v == collection_id)
            return true;
        p = *end == ',' ? end + 1 : end;
    }
    return false;
}

bool web_bot_visible(const struct web_req *req, const struct rag_bot *b)
{
    if (!req->who.collections[0])
        return true;
    if (b->n_stored_collections == 0) /* every collection, some of them hidden from this caller */
        return false;
    for (int i = 0; i < b->n_collections; i++)
        if (!web_coll_visible(req, b->collection_ids[i]))
            return false;
    return true;
}

int web_doc_visible(struct web_req *req, int64_t doc_id, struct kb_error *err)
{
    struct rag_document d = {0};
    int n = 0, rc;
    bool seen;
    if (!req->who.collections[0])
        return 0; /* unrestricted: the handler's own lookup says whether it exists */
    if ((rc = rag_document_get(req->ctx->rag, doc_id, &d, NULL, &n, err)))
        return rc;
    seen = web_coll_visible(req, d.collection_id);
    rag_document_release(&d);
    return seen ? 0 : kb_error_set(err, KB_ENOENT, "no document with id %lld", (long long)doc_id);
}

int web_coll_pick(struct web_req *req, int64_t *coll, struct kb_error *err)
{
    const char *p = req->who.collections;
    if (!p[0])
        return 0;
    if (*coll)
        return web_coll_visible(req, *coll)
                   ? 0
                   : kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)*coll);
    if (strchr(p, ','))
        return kb_error_set(err, KB_EINVAL, "this account sees only some collections: name one (collection)");
    *coll = strtoll(p, NULL, 10);
    return 0;
}

void web_audit(struct web_req *req, const char *action, const char *target, const char *detail)
{
    struct kb_error e = {0};
    struct index_audit a = {.actor = req->who.actor[0] ? req->who.actor : "anonymous", .action = action,
                            .target = target, .detail = detail, .ip = req->client_ip};
    if (index_audit_add(rag_store(req->ctx->rag), &a, &e))
        kb_warn("audit: cannot record %s: %s", action, e.msg);
}

/* ---- login lockout ---------------------------------------------------------------------------------------- */

static uint64_t lock_who(const char *email)
{
    char low[256];
    size_t n = 0;
    for (; email[n] && n < sizeof low - 1; n++)
        low[n] = (char)((email[n] >= 'A' && email[n] <= 'Z') ? email[n] + 32 : email[n]);
    return kb_fnv1a64(KB_FNV1A64_INIT, low, n) | 1; /* never 0, the free mark */
}

/* The account's slot (claimed when free or when its lock and failures are stale). Lock held. */
static struct web_lock_slot *lock_slot(struct web_ctx *ctx, uint64_t who, int64_t now, int64_t lockout_s)
{
    struct web_lock_slot *free_slot = NULL;
    for (int i = 0; i < 16; i++) {
        struct web_lock_slot *s = &ctx->locks[(who + (uint64_t)i) % WEB_LOCK_SLOTS];
        if (s->who == who)
            return s;
        if (!free_slot && (!s->who || (s->locked_until < now && s->fails == 0) ||
                           (s->locked_until && s->locked_until + lockout_s < now)))
            free_slot = s;
    }
    if (!free_slot) /* 16 busy accounts in one bucket: share the first (errs towards locking) */
        return &ctx->locks[who % WEB_LOCK_SLOTS];
    free_slot->who = who;
    free_slot->fails = 0;
    free_slot->locked_until = 0;
    return free_slot;
}

/* Seconds the account stays locked, 0 when it is not. */
static int64_t lock_remaining(struct web_ctx *ctx, uint64_t who, int64_t now, int64_t lockout_s)
{
    int64_t left = 0;
    pthread_mutex_lock(&ctx->lock_lock);
    struct web_lock_slot *s = lock_slot(ctx, who, now, lockout_s);
    if (s->locked_until > now)
        left = s->locked_until - now;
    else if (s->locked_until) { /* the lock ran out: a fresh start */
        s->locked_until = 0;
        s->fails = 0;
    }
    pthread_mutex_unlock(&ctx->lock_lock);
    return left;
}

/* Records the outcome of a verified attempt; true when this failure locked the account. */
static bool lock_record(struct web_ctx *ctx, uint64_t who, bool ok, int64_t now, const struct config *cfg)
{
    bool locked = false;
    pthread_mutex_lock(&ctx->lock_lock);
    struct web_lock_slot *s = lock_slot(ctx, who, now, cfg->auth_lockout_s);
    if (ok) {
        s->fails = 0;
        s->locked_until = 0;
    } else if (++s->fails >= cfg->auth_lockout_fails) {
        s->locked_until = now + cfg->auth_lockout_s;
        s->fails = 0;
        locked = true;
    }
    pthread_mutex_unlock(&ctx->lock_lock);
    return locked;
}

/* ---- sessions -------------------------------------------------------------------------------------------- */

/* Creates a session for user_id and sets its cookie; writes {"user":..,"csrf":..[,"token":..]}. */
static int session_start(struct web_req *req, struct web_resp *resp, const struct index_user *u, bool give_token,
                         const struct config *cfg, struct kb_error *err)
{
    char id[65], h[65], csrf[65], *cookie;
    struct jw w;
    int rc;
    web_random_hex(id, 64);
    web_random_hex(csrf, 64);
    web_sha256_hex(id, h);
    if ((rc = index_session_add(rag_store(req->ctx->rag), h, u->id, csrf, (int64_t)time(NULL), err)))
        return rc;
    cookie = kb_arena_alloc(&req->arena, 256);
    if (!cookie)
        return kb_error_set(err, KB_ENOMEM, "out of request memory");
    snprintf(cookie, 256, SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", id,
             (long long)cfg->auth_session_max_s, req->ctx->tls || req->ctx->trust_proxy[0] ? "; Secure" : "");
    web_resp_header(req, resp, "Set-Cookie", cookie);
    web_resp_header(req, resp, "Cache-Control", "no-store");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_obj(&w, "user");
    jw_int(&w, "id", u->id);
    jw_str(&w, "email", u->email);
    jw_str(&w, "name", u->name);
    jw_str(&w, "role", u->role);
    jw_end_obj(&w);
    jw_str(&w, "csrf", csrf);
    if (give_token) /* for programs that send Authorization: Bearer instead of the cookie */
        jw_str(&w, "token", id);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* Ends the session the request came with (cookie or bearer), if any. */
static void session_end_presented(struct web_req *req)
{
    char cookie[80], h[65];
    const char *auth = web_req_header(req, "Authorization");
    cookie_get(web_req_header(req, "Cookie"), SESSION_COOKIE, cookie, sizeof cookie);
    if (cookie[0] && is_hex(cookie, 64)) {
        web_sha256_hex(cookie, h);
        index_session_delete(rag_store(req->ctx->rag), h, 0, NULL);
    }
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && is_hex(auth + 7, 64)) {
        web_sha256_hex(auth + 7, h);
        index_session_delete(rag_store(req->ctx->rag), h, 0, NULL);
    }
}

struct login_body {
    char *email, *password, *name, *token_text;
    bool token;
};

static const struct kb_jfield login_fields[] = {
    {"email", KB_J_STR, offsetof(struct login_body, email), true, 0, NULL, 0, 0},
    {"password", KB_J_STR, offsetof(struct login_body, password), true, 0, NULL, 0, 0},
    {"token", KB_J_BOOL, offsetof(struct login_body, token), false, 0, NULL, 0, 0},
    {NULL, 0, 0, false, 0, NULL, 0, 0},
};

/* The hash of a random password nobody knows: unknown emails are verified against it (same time,
 * same error). Made at the first login for an unknown email. */
static const char *dummy_hash(struct web_ctx *ctx)
{
    pthread_mutex_lock(&ctx->setup_lock);
    if (!ctx->dummy_hash[0]) {
        char pw[33];
        web_random_hex(pw, 32);
        if (web_password_hash(pw, ctx->dummy_hash, NULL))
            ctx->dummy_hash[0] = '\0';
    }
    pthread_mutex_unlock(&ctx->setup_lock);
    return ctx->dummy_hash;
}

/* Checks email + password with the lockout rules; fills u on success. */
static int login_check(struct web_req *req, const struct login_body *b, const struct config *cfg, struct index_user *u,
                       struct kb_error *err)
{
    int64_t now = (int64_t)time(NULL), left;
    uint64_t who = lock_who(b->email);
    bool ok;
    int rc;
    if (!web_rate_charge(&req->ctx->login_fail_rate, req->client_ip, 0, cfg->auth_login_fails_per_ip_min, now))
        return kb_error_set(err, KB_ERATE, "too many failed logins from this address; try again in a minute");
    if ((left = lock_remaining(req->ctx, who, now, cfg->auth_lockout_s)) > 0)
        return kb_error_set(err, KB_ERATE, "too many failed logins for this account; try again in %lld s",
                            (long long)left);
    rc = index_user_get(rag_store(req->ctx->rag), 0, b->email, &req->arena, u, NULL);
    if (rc && rc != KB_ENOENT)
        return kb_error_set(err, rc, "cannot read accounts");
    __atomic_add_fetch(&req->ctx->n_login_hashes, 1, __ATOMIC_RELAXED);
    ok = web_password_verify(rc == 0 ? u->pw_hash : dummy_hash(req->ctx), b->password) && rc == 0;
    if (lock_record(req->ctx, who, ok, now, cfg)) {
        char detail[96];
        snprintf(detail, sizeof detail, "%lld failed logins; locked for %lld s", (long long)cfg->auth_lockout_fails,
                 (long long)cfg->auth_lockout_s);
        kb_warn("login: account '%.200s' locked after %lld failed logins (from %s)", b->email,
                (long long)cfg->auth_lockout_fails, req->client_ip);
        web_audit(req, "login.lockout", b->email, detail);
    }
    if (!ok) {
        web_rate_charge(&req->ctx->login_fail_rate, req->client_ip, 1, cfg->auth_login_fails_per_ip_min, now);
        return kb_error_set(err, KB_ELOGIN, "wrong email or password");
    }
    return 0;
}

int web_h_login(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(req->ctx->rag);
    struct login_body b = {0};
    struct index_user u;
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, login_fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be {\"email\":..,\"password\":..}");
    rc = rc ? rc : login_check(req, &b, cfg, &u, err);
    if (rc == 0) {
        session_end_presented(req); /* no fixation: whatever session came in ends, a new one starts */
        rc = session_start(req, resp, &u, b.token, cfg, err);
    }
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}

static int json_done(struct web_resp *resp, const char *key, int64_t v, struct kb_error *err)
{
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, key, v);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_logout(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    if (req->who.session_hash[0])
        index_session_delete(rag_store(req->ctx->rag), req->who.session_hash, 0, NULL);
    web_resp_header(req, resp, "Set-Cookie", SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    return json_done(resp, "logged_out", 1, err);
}

int web_h_logout_all(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int rc;
    if (!req->who.user_id)
        return kb_error_set(err, KB_EINVAL, "the break-glass token has no sessions");
    rc = index_session_delete(rag_store(req->ctx->rag), NULL, req->who.user_id, err);
    if (rc)
        return rc;
    web_audit(req, "session.logout_all", req->who.actor, "");
    web_resp_header(req, resp, "Set-Cookie", SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    return json_done(resp, "logged_out", 1, err);
}

int web_h_me(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_str(&w, "actor", req->who.actor);
    jw_int(&w, "user_id", req->who.user_id);
    jw_str(&w, "role", web_role_name(req->who.role));
    jw_str(&w, "collections", req->who.collections);
    if (req->who.csrf[0])
        jw_str(&w, "csrf", req->who.csrf);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* ---- first owner and passwords ------------------------------------------------------------------------ */

int web_setup_prepare(struct web_ctx *ctx, struct kb_error *err)
{
    int64_t n = 0;
    int rc = index_user_count(rag_store(ctx->rag), "owner", &n, err);
    if (rc == 0 && n == 0)
        web_random_hex(ctx->setup_token, 64);
    return rc;
}

struct setup_body {
    char *token, *email, *name, *password, *old_password;
};

int web_h_setup(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    static const struct kb_jfield fields[] = {
        {"token", KB_J_STR, offsetof(struct setup_body, token), true, 0, NULL, 0, 0},
        {"email", KB_J_STR, offsetof(struct setup_body, email), true, 0, NULL, 0, 0},
        {"name", KB_J_STR, offsetof(struct setup_body, name), false, 0, NULL, 0, 0},
        {"password", KB_J_STR, offsetof(struct setup_body, password), true, 0, NULL, 0, 0},
        {NULL, 0, 0, false, 0, NULL, 0, 0},
    };
    const struct config *cfg = rag_config_get(req->ctx->rag);
    struct setup_body b = {0};
    char hash[WEB_PW_HASH_BYTES];
    struct index_user u = {0};
    bool valid;
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be {\"token\",\"email\",\"password\"}");
    if (rc == 0 && (!strchr(b.email, '@') || strlen(b.email) > 254))
        rc = kb_error_set(err, KB_EINVAL, "email '%.100s' is not an email address", b.email);
    rc = rc ? rc : web_password_hash(b.password, hash, err);
    if (rc)
        goto out;
    pthread_mutex_lock(&req->ctx->setup_lock); /* the token works once, even for two racing requests */
    valid = req->ctx->setup_token[0] && web_token_equal(req->ctx->setup_token, b.token);
    if (valid) {
        u = (struct index_user){.email = b.email, .name = b.name ? b.name : "", .role = "owner", .pw_hash = hash};
        rc = index_user_add(rag_store(req->ctx->rag), &u, &u.id, err);
        if (rc == 0)
            req->ctx->setup_token[0] = '\0';
    }
    pthread_mutex_unlock(&req->ctx->setup_lock);
    if (!valid)
        rc = kb_error_set(err, KB_EFORBIDDEN, "the setup link was used already or is wrong; ask the owner, or use "
                                              "`kbox user add --role owner EMAIL`");
    if (rc)
        goto out;
    snprintf(req->who.actor, sizeof req->who.actor, "user:%.180s", b.email);
    web_audit(req, "user.create", b.email, "owner (setup link)");
    rc = session_start(req, resp, &u, false, cfg, err);
    if (rc == 0)
        resp->status = 201;
out:
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}

int web_h_password(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    static const struct kb_jfield fields[] = {
        {"old_password", KB_J_STR, offsetof(struct setup_body, old_password), true, 0, NULL, 0, 0},
        {"password", KB_J_STR, offsetof(struct setup_body, password), true, 0, NULL, 0, 0},
        {NULL, 0, 0, false, 0, NULL, 0, 0},
    };
    const struct config *cfg = rag_config_get(req->ctx->rag);
    struct setup_body b = {0};
    struct index_user u, upd = {0};
    char hash[WEB_PW_HASH_BYTES];
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be {\"old_password\",\"password\"}");
    if (rc == 0 && !req->who.user_id)
        rc = kb_error_set(err, KB_EINVAL, "the break-glass token has no password; set auth.admin_token instead");
    rc = rc ? rc : index_user_get(rag_store(req->ctx->rag), req->who.user_id, NULL, &req->arena, &u, err);
    if (rc == 0) {
        struct login_body lb = {.email = (char *)u.email, .password = b.old_password};
        rc = login_check(req, &lb, cfg, &u, err); /* the old password, under the same lockout rules */
    }
    rc = rc ? rc : web_password_hash(b.password, hash, err);
    if (rc == 0) {
        upd.pw_hash = hash;
        rc = index_user_update(rag_store(req->ctx->rag), u.id, &upd, err); /* ends every session */
    }
    if (rc == 0) {
        web_audit(req, "user.password", u.email, "changed by the user");
        rc = session_start(req, resp, &u, false, cfg, err);
    }
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}
