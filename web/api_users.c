/* web/api_users.c: the owner's user management (owner-only routes; index/store_users.c stores).
 *
 *   GET    /api/users                     {"users":[user...]}
 *   POST   /api/users {email, name, role, password, collections}  201 {"user":user}
 *   PATCH  /api/users/{id} {name, role, password, collections}    {"user":user} (members left out
 *                                         stay; a new password is the owner's reset and ends the
 *                                         user's sessions)
 *   DELETE /api/users/{id}                {"deleted":id} (its sessions end, its keys are revoked)
 * user = {id, email, name, role, collections, created_at, updated_at}; collections is the list of
 * collection ids the user may see, comma-separated ("" = all). The last owner cannot be demoted or
 * deleted (409). Every change is audited. Tests: tests/web/test_acct.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

struct user_body {
    char *email, *name, *role, *password, *collections;
};

static const struct kb_jfield user_fields[] = {
    {"email", KB_J_STR, offsetof(struct user_body, email), false, 0, NULL, 0, 0},
    {"name", KB_J_STR, offsetof(struct user_body, name), false, 0, NULL, 0, 0},
    {"role", KB_J_STR, offsetof(struct user_body, role), false, 0, NULL, 0, 0},
    {"password", KB_J_STR, offsetof(struct user_body, password), false, 0, NULL, 0, 0},
    {"collections", KB_J_ANY, offsetof(struct user_body, collections), false, 0, NULL, 0, 0},
    {NULL, 0, 0, false, 0, NULL, 0, 0},
};

static void user_json(struct jw *w, const char *key, const struct index_user *u)
{
    jw_obj(w, key);
    jw_int(w, "id", u->id);
    jw_str(w, "email", u->email);
    jw_str(w, "name", u->name);
    jw_str(w, "role", u->role);
    jw_str(w, "collections", u->collections);
    jw_int(w, "created_at", u->created_at);
    jw_int(w, "updated_at", u->updated_at);
    jw_end_obj(w);
}

/* "1,3" from "1,3", "[1,3]" or "" (all); KB_EINVAL for anything but ids. */
static int colls_norm(struct web_req *req, const char *in, const char **out, struct kb_error *err)
{
    char *o = kb_arena_alloc(&req->arena, strlen(in) + 1), *w = o;
    if (!o)
        return kb_error_set(err, KB_ENOMEM, "out of request memory");
    for (const char *p = in; *p; p++) {
        if (*p >= '0' && *p <= '9')
            *w++ = *p;
        else if (*p == ',' && w > o && w[-1] != ',')
            *w++ = ',';
        else if (*p != '[' && *p != ']' && *p != ' ' && *p != ',' && *p != '"')
            return kb_error_set(err, KB_EINVAL, "collections must be a list of collection ids, not '%.100s'", in);
    }
    if (w > o && w[-1] == ',')
        w--;
    *w = '\0';
    *out = o;
    return 0;
}

static int user_resp(struct web_req *req, struct web_resp *resp, int64_t id, struct kb_error *err)
{
    struct index_user u;
    struct jw w;
    int rc = index_user_get(rag_store(req->ctx->rag), id, NULL, &req->arena, &u, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    user_json(&w, "user", &u);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_users_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_user *v;
    int n, rc = index_user_list(rag_store(req->ctx->rag), &req->arena, &v, &n, err);
    struct jw w;
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "users");
    for (int i = 0; i < n; i++)
        user_json(&w, NULL, &v[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_user_create(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct user_body b = {0};
    struct index_user u = {0};
    char hash[WEB_PW_HASH_BYTES], detail[64];
    int64_t id = 0;
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, user_fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be {\"email\",\"role\",\"password\"}");
    if (rc == 0 && (!b.email || !strchr(b.email, '@') || strlen(b.email) > 254))
        rc = kb_error_set(err, KB_EINVAL, "email '%.100s' is not an email address", b.email ? b.email : "");
    if (rc == 0 && !web_role_valid(b.role))
        rc = kb_error_set(err, KB_EINVAL, "role '%.40s' is not owner, editor, agent or viewer", b.role ? b.role : "");
    rc = rc ? rc : colls_norm(req, b.collections ? b.collections : "", &u.collections, err);
    rc = rc ? rc : web_password_hash(b.password, hash, err);
    if (rc)
        return rc;
    u.email = b.email;
    u.name = b.name ? b.name : "";
    u.role = b.role;
    u.pw_hash = hash;
    if ((rc = index_user_add(rag_store(req->ctx->rag), &u, &id, err)))
        return rc;
    snprintf(detail, sizeof detail, "role %s", b.role);
    web_audit(req, "user.create", b.email, detail);
    rc = user_resp(req, resp, id, err);
    if (rc == 0)
        resp->status = 201;
    return rc;
}

/* KB_ECONFLICT when user id is the last owner and would stop being one. */
static int last_owner_check(struct web_req *req, const struct index_user *cur, const char *new_role,
                            struct kb_error *err)
{
    int64_t n = 0;
    int rc;
    if (strcmp(cur->role, "owner") || (new_role && !strcmp(new_role, "owner")))
        return 0;
    if ((rc = index_user_count(rag_store(req->ctx->rag), "owner", &n, err)))
        return rc;
    return n <= 1 ? kb_error_set(err, KB_ECONFLICT, "'%.200s' is the last owner; make another owner first", cur->email)
                  : 0;
}

int web_h_user_update(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct user_body b = {0};
    struct index_user cur, upd = {0};
    char hash[WEB_PW_HASH_BYTES], detail[128];
    int rc = req->body ? kb_json_decode(req->body, req->body_bytes, user_fields, &b, &req->arena, err)
                       : kb_error_set(err, KB_EJSON, "the body must be an object");
    rc = rc ? rc : index_user_get(rag_store(req->ctx->rag), req->ids[0], NULL, &req->arena, &cur, err);
    if (rc == 0 && b.role && !web_role_valid(b.role))
        rc = kb_error_set(err, KB_EINVAL, "role '%.40s' is not owner, editor, agent or viewer", b.role);
    if (rc == 0 && b.role)
        rc = last_owner_check(req, &cur, b.role, err);
    if (rc == 0 && b.collections)
        rc = colls_norm(req, b.collections, &upd.collections, err);
    if (rc == 0 && b.password && (rc = web_password_hash(b.password, hash, err)) == 0)
        upd.pw_hash = hash;
    if (rc)
        return rc;
    upd.name = b.name;
    upd.role = b.role;
    if ((rc = index_user_update(rag_store(req->ctx->rag), cur.id, &upd, err)))
        return rc;
    if (b.role && strcmp(b.role, cur.role)) {
        snprintf(detail, sizeof detail, "%s -> %s", cur.role, b.role);
        web_audit(req, "user.role", cur.email, detail);
    }
    if (upd.pw_hash)
        web_audit(req, "user.password", cur.email, "reset by an owner");
    if (upd.collections)
        web_audit(req, "user.collections", cur.email, upd.collections[0] ? upd.collections : "all");
    return user_resp(req, resp, cur.id, err);
}

int web_h_user_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_user cur;
    struct jw w;
    int rc = index_user_get(rag_store(req->ctx->rag), req->ids[0], NULL, &req->arena, &cur, err);
    rc = rc ? rc : last_owner_check(req, &cur, NULL, err);
    rc = rc ? rc : index_user_delete(rag_store(req->ctx->rag), cur.id, err);
    if (rc)
        return rc;
    web_audit(req, "user.delete", cur.email, cur.role);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "deleted", cur.id);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}
