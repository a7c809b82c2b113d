/* web/api_audit.c: the audit log page's route (owner-only; index/store_users.c stores entries,
 * web_audit in session.c writes them).
 *
 *   GET /api/audit[?before=ID&limit=N]   {"entries":[{id, at, actor, action, target, detail, ip}...]}
 *                                        newest first, N <= 1000 (default 100)
 * Actions recorded: user.create, user.role, user.password, user.collections, user.delete,
 * key.create, key.revoke, login.lockout, session.logout_all, document.upload (api_docs.c),
 * document.delete, collection.create, collection.rename, collection.delete, settings.change (one per
 * key, api_ask.c), bot.create, bot.update, bot.delete (api_bots.c). Tests: tests/web/test_acct.c
 * (test_audit_actions). */
#include "web/web_int.h"

#include <stdio.h>
#include <string.h>

#include "index/index.h"

int web_h_audit_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const char *before = web_req_query(req, "before"), *limit = web_req_query(req, "limit");
    int64_t b = 0, l = 100;
    struct index_audit *v;
    int n, rc;
    struct jw w;
    if (before && (kb_parse_i64(before, &b) || b < 0))
        return kb_error_set(err, KB_EINVAL, "before must be an entry id");
    if (limit && (kb_parse_i64(limit, &l) || l < 1 || l > INDEX_AUDIT_PAGE_MAX))
        return kb_error_set(err, KB_EINVAL, "limit must be 1..%d", INDEX_AUDIT_PAGE_MAX);
    if ((rc = index_audit_list(rag_store(req->ctx->rag), b, (int)l, &req->arena, &v, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_audit_json(&w, v, n);
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}
