/* web/api_common.c: what every handler shares: the error body, collection lookup by name or id,
 * extra response headers, and the answer task both POST /api/ask and /v1/chat/completions run
 * (struct web_ask_job: copies of the question, rag_ask, errors before and after streaming began). Handlers write JSON with base's writer (struct jw, base/json.h) and
 * render rag's result structs with rag_*_json (rag/render.c). Tests: tests/web/test_web.c. */
#include "web/web_int.h"

#include <stdlib.h>
#include <string.h>

void web_error_body(struct kb_buf *b, int code, const struct kb_error *err)
{
    struct jw w;
    kb_buf_reset(b);
    jw_init(&w, b);
    jw_obj(&w, NULL);
    jw_obj(&w, "error");
    jw_str(&w, "code", kb_err_name(code));
    jw_str(&w, "message", kb_error_msg(err, code));
    /* OpenAI clients also read "type" */
    jw_str(&w, "type", kb_err_http_status(code) >= 500 ? "server_error" : "invalid_request_error");
    jw_end_obj(&w);
    jw_end_obj(&w);
    kb_buf_putc(b, '\n');
}

int web_collection_resolve(struct web_ctx *ctx, const char *idname, int64_t *id, struct kb_error *err)
{
    int64_t v;
    *id = 0;
    if (!idname || !idname[0])
        return 0;
    if (kb_parse_i64(idname, &v) == 0) {
        struct rag_collection *c = NULL;
        int n = 0, rc;
        if (v < 0)
            return kb_error_set(err, KB_EINVAL, "collection id %lld is negative", (long long)v);
        if (v == 0)
            return 0;
        /* an id nobody has is an error, not an empty result (collections are few: a list is cheap) */
        if ((rc = rag_collections_list(ctx->rag, &c, &n, err)))
            return rc;
        for (int i = 0; i < n; i++)
            if (c[i].id == v)
                *id = v;
        rag_collections_free(c, n);
        return *id ? 0 : kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)v);
    }
    return rag_collection_find(ctx->rag, idname, id, err);
}

int web_resp_header(struct web_req *req, struct web_resp *resp, const char *name, const char *value)
{
    char *v;
    if (resp->n_headers >= WEB_MAX_HEADERS)
        return KB_ETOOBIG;
    v = kb_arena_strdup(&req->arena, value);
    if (!v)
        return KB_ETOOBIG;
    resp->headers[resp->n_headers].name = name;
    resp->headers[resp->n_headers].value = v;
    resp->n_headers++;
    return 0;
}

int web_ask_job_init(struct web_ask_job *j, struct rag *rag, const char *question, const char *conversation_id,
                     struct kb_error *err)
{
    memset(j, 0, sizeof *j);
    if (conversation_id && strlen(conversation_id) > 128)
        return kb_error_set(err, KB_EINVAL, "conversation_id is longer than 128 bytes");
    j->rag = rag;
    j->question = kb_xstrdup(question);
    j->conversation_id = conversation_id && conversation_id[0] ? kb_xstrdup(conversation_id) : NULL;
    return 0;
}

void web_ask_job_release(struct web_ask_job *j)
{
    free(j->question);
    free(j->conversation_id);
    j->question = j->conversation_id = NULL;
}

int web_ask_job_run(struct web_ask_job *j, struct web_task *t, rag_stream_fn on_piece, void *ud,
                    struct rag_answer *a, struct kb_buf *body)
{
    struct rag_ask_opts o = {0};
    struct kb_error err = {0};
    int rc;
    j->task = t;
    o.question = j->question;
    o.collection_id = j->collection_id;
    o.conversation_id = j->conversation_id;
    o.top_k = j->top_k;
    o.channel = j->channel;
    o.client_ip = j->client_ip;
    o.log_secret = j->log_secret;
    o.bot_id = j->bot[0] ? j->bot : NULL;
    rc = rag_ask(j->rag, &o, j->stream ? on_piece : NULL, ud, a, NULL, &err);
    if (rc == 0)
        web_metrics_answer(web_task_ctx(t), a);
    if (rc) {
        web_error_body(body, rc, &err);
        /* before any output this is a plain error response with its status; after, an event */
        if (!j->emitted)
            web_task_finish(t, kb_err_http_status(rc), "application/json", body);
    }
    return rc;
}
