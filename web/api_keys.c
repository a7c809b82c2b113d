/* web/api_keys.c: API keys for integrations (editors and owners; index/store_users.c stores them).
 *
 *   GET    /api/keys                      {"keys":[key...]} (an owner sees all, an editor its own)
 *   POST   /api/keys {name, scopes[], expires_at, rate_per_min}  201 {"key":key,"secret":"kbx_..."}
 *   DELETE /api/keys/{id}                 {"revoked":id}
 * key = {id, prefix, name, scopes, user_id, rate_per_min, created_at, expires_at, last_used,
 * revoked_at}. The secret is "kbx_" + 8 hex (the prefix, stored in clear to name the key) + "_" + 40
 * hex (160 random bits); it is shown once, in the 201 answer, and stored as its SHA-256 (a key is
 * random, so a slow hash would buy nothing). Scopes are admin scopes (WEB_KEY_SCOPES) or "bot:ID";
 * a key's rights never exceed its creator's role, and end when the creator is removed. Creation
 * and revocation are audited. Tests: tests/web/test_acct.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index.h"

/* The admin scopes a key may carry; route entries name them (routes.c). */
static const char *const key_scopes[] = {"ask", "documents:read", "documents:write", "faq:read", "faq:write",
                                         "logs:read", "logs:write", "review:write", "settings:read",
                                         "settings:write", "metrics:read", "audit:read", "inbox:read",
                                         "inbox:write"};

struct key_body {
    char *name;
    char **scopes;
    int n_scopes;
    int64_t expires_at, rate_per_min;
};

static void key_json(struct jw *w, const char *k, const struct index_api_key *v)
{
    jw_obj(w, k);
    jw_int(w, "id", v->id);
    jw_str(w, "prefix", v->prefix);
    jw_str(w, "name", v->name);
    jw_str(w, "scopes", v->scopes);
    jw_int(w, "user_id", v->user_id);
    jw_int(w, "rate_per_min", v->rate_per_min);
    jw_int(w, "created_at", v->created_at);
    jw_int(w, "expires_at", v->expires_at);
    jw_int(w, "last_used", v->last_used);
    jw_int(w, "revoked_at", v->revoked_at);
    jw_end_obj(w);
}

static bool scope_known(const char *s)
{
    if (strncmp(s, "bot:", 4) == 0 && s[4])
        return strcspn(s, ", ") == strlen(s);
    for (size_t i = 0; i < KB_ARRAY_LEN(key_scopes); i++)
        if (strcmp(s, key_scopes[i]) == 0)
            return true;
    return false;
}

int web_h_keys_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_api_key *v;
    int n, rc = index_key_list(rag_store(req->ctx->rag), req->who.role >= WEB_ROLE_OWNER ? 0 : req->who.user_id,
                               &req->arena, &v, &n, err);
    struct jw w;
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "keys");
    for (int i = 0; i < n; i++)
        key_json(&w, NULL, &v[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_key_create(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    static const struct kb_jfield fields[] = {
        {"name", KB_J_STR, offsetof(struct key_body, name), false, 0, NULL, 0, 0},
        {"scopes", KB_J_STRS, offsetof(struct key_body, scopes), true, offsetof(struct key_body, n_scopes), NULL, 0, 32},
        {"expires_at", KB_J_INT, offsetof(struct key_body, expires_at), false, 0, NULL, 0, 0},
        {"rate_per_min", KB_J_INT, offsetof(struct key_body, rate_per_min), false, 0, NULL, 0, 0},
        {NULL, 0, 0, false, 0, NULL, 0, 0},
    };
    struct key_body b = {0};
    struct index_api_key k = {0}, got;
    char prefix[13], rest[41], secret[64], hash[65], scopes[512] = "";
    size_t used = 0;
    int64_t id = 0;
    struct jw w;
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be {\"name\",\"scopes\":[...]}");
    if (rc)
        return rc;
    if (!req->who.user_id)
        return kb_error_set(err, KB_EINVAL, "keys belong to an account: log in as an editor or owner to make one");
    if (b.n_scopes == 0)
        return kb_error_set(err, KB_EINVAL, "scopes is empty: name at least one (e.g. \"ask\" or \"documents:write\")");
    for (int i = 0; i < b.n_scopes; i++) {
        if (!scope_known(b.scopes[i]))
            return kb_error_set(err, KB_EINVAL, "unknown scope '%.80s'", b.scopes[i]);
        if (used + strlen(b.scopes[i]) + 2 >= sizeof scopes)
            return kb_error_set(err, KB_ETOOBIG, "scopes are longer than %zu bytes", sizeof scopes - 1);
        used += (size_t)snprintf(scopes + used, sizeof scopes - used, "%s%s", used ? "," : "", b.scopes[i]);
    }
    if (b.expires_at < 0 || (b.expires_at && b.expires_at <= (int64_t)time(NULL)))
        return kb_error_set(err, KB_EINVAL, "expires_at must be a future unix time (or 0 for never)");
    if (b.rate_per_min < 0 || b.rate_per_min > 1000000)
        return kb_error_set(err, KB_EINVAL, "rate_per_min must be 0..1000000");
    web_random_hex(rest, 8);
    snprintf(prefix, sizeof prefix, "kbx_%s", rest);
    web_random_hex(rest, 40);
    snprintf(secret, sizeof secret, "%s_%s", prefix, rest);
    web_sha256_hex(secret, hash);
    k = (struct index_api_key){.prefix = prefix, .hash = hash, .name = b.name ? b.name : "", .user_id = req->who.user_id,
                               .scopes = scopes, .rate_per_min = b.rate_per_min, .expires_at = b.expires_at};
    rc = index_key_add(rag_store(req->ctx->rag), &k, &id, err);
    rc = rc ? rc : index_key_get(rag_store(req->ctx->rag), id, NULL, &req->arena, &got, err);
    if (rc)
        return rc;
    web_audit(req, "key.create", prefix, scopes);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    key_json(&w, "key", &got);
    jw_str(&w, "secret", secret);
    jw_end_obj(&w);
    resp->status = 201;
    web_resp_header(req, resp, "Cache-Control", "no-store");
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_key_revoke(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_api_key k;
    struct jw w;
    int rc = index_key_get(rag_store(req->ctx->rag), req->ids[0], NULL, &req->arena, &k, err);
    /* an editor may revoke its own keys; someone else's is invisible to it */
    if (rc == 0 && req->who.role < WEB_ROLE_OWNER && k.user_id != req->who.user_id)
        rc = kb_error_set(err, KB_ENOENT, "no API key with id %lld", (long long)req->ids[0]);
    if (rc == 0 && k.revoked_at)
        rc = kb_error_set(err, KB_ECONFLICT, "the API key %s is revoked already", k.prefix);
    rc = rc ? rc : index_key_mark(rag_store(req->ctx->rag), k.id, true, (int64_t)time(NULL), err);
    if (rc)
        return rc;
    web_audit(req, "key.revoke", k.prefix, k.name);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "revoked", k.id);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}
