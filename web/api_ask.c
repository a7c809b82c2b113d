/* web/api_ask.c: search, answers, health, metrics, settings, the widget's configuration and CORS
 * preflight.
 *
 *   POST /api/search {query, top_k?, collection?, document_id?, mode?: hybrid|bm25|vector}
 *        -> {"hits":[{chunk_id, document_id, document, heading_path, page_start, page_end, text,
 *                     scores:{bm25, vector, fused}}], "took_ms"}
 *   POST /api/ask {question, collection?, conversation_id?, stream?, top_k?, channel?: ui|widget|api,
 *                  conversation_secret?, bot?}  (every answer is logged with log.enabled: rag/log.c;
 *                  bot: answer as that bot, its origins checked: api_bots.c)
 *        stream false -> one JSON answer (below); stream true -> Server-Sent Events:
 *          event: token     data: {"text":"..."}          answer text as it is produced
 *          event: think     data: {"text":"..."}          reasoning of R1-style models
 *          event: citation  data: {n, chunk_id, document_id, document, heading_path, page, page_end,
 *                                      text}
 *          event: done      data: the full answer JSON
 *          event: error     data: {"error":{"code","message"}} (only after output began; when a
 *                           remote backend's stream broke mid-answer it is followed by the
 *                           citations and done, whose answer JSON has "incomplete": true)
 *        answer JSON: {answer, reasoning, mode, citations:[...], sentences:[{text, support}],
 *                      support_min, weak, dropped (these three with sentences, i.e. generative),
 *                      confidence, fallback, timings:{retrieve_ms, answer_ms, total_ms}, n_tokens, query,
 *                      conversation_id, and incomplete: true with error when a remote stream broke;
 *                      when logged, message_id and conversation_secret for POST /api/feedback and
 *                      the conversation's next question; handoff_offer: "keyword" | "fallbacks" when
 *                      handoff.* suggests a person (web/api_handoff.c)}
 *        409 when a person holds the conversation of conversation_secret (the bot stays silent)
 *   GET /api/health -> {status, version, uptime_s, collections, documents, chunks, jobs, answer_mode,
 *        answer_backend:{backend: local|openai, state: up|down|probing (openai), up|none (local:
 *        a model, or extractive), last_ttft_ms, last_latency_ms, and for openai requests, errors,
 *        breaker_opened}, embed_backend:{backend: builtin|local|openai, state, and for openai
 *        last_latency_ms, requests, errors, breaker_opened}, embedder, vectors, store (with
 *        store.backend = postgres: {backend, connected, applied_seq, head_seq, lag_seq, lag_s,
 *        since_contact_s, error, spooled: answers waiting in the node's spool}), max_upload_bytes}
 *   GET /metrics, GET|PUT /api/settings, GET /api/widget[?bot=ID] (a bot's widget settings:
 *   api_bots.c), OPTIONS (preflight).
 *
 * Answers run as deferred tasks (server.c): rag_ask may take seconds with a model, and an HTTP
 * worker thread is never blocked on it. rag streams citation numbers only, so citation events
 * carry their full passage after the answer text (see the report in docs). Hits, answers and
 * citations are rendered by rag (rag/render.c), the same objects `kbox search|ask --json` print.
 * Tests: tests/web/, tests/cli/test_json_same.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- search -------------------------------------------------------------------------------------------------- */

struct search_body {
    char *query;
    int64_t top_k;
    char *collection;
    int64_t document_id;
    char *mode;
};

static const struct kb_jfield search_fields[] = {
    {.name = "query", .type = KB_J_STR, .off = offsetof(struct search_body, query), .required = true},
    {.name = "top_k", .type = KB_J_INT, .off = offsetof(struct search_body, top_k)},
    {.name = "collection", .type = KB_J_IDNAME, .off = offsetof(struct search_body, collection)},
    {.name = "document_id", .type = KB_J_INT, .off = offsetof(struct search_body, document_id)},
    {.name = "mode", .type = KB_J_STR, .off = offsetof(struct search_body, mode)},
    {0},
};

static int check_top_k(int64_t top_k, struct kb_error *err)
{
    if (top_k < 0 || top_k > 100)
        return kb_error_set(err, KB_EINVAL, "top_k must be between 1 and 100 (0 or absent: index.top_k)");
    return 0;
}

int web_h_search(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct search_body b = {0};
    struct rag_search_opts o = {0};
    struct rag_hit *hits = NULL;
    int n = 0, rc;
    double t0 = kb_now_s();
    struct jw w;

    if ((rc = kb_json_decode(req->body, req->body_bytes, search_fields, &b, &req->arena, err)) ||
        (rc = check_top_k(b.top_k, err)) || (rc = web_collection_resolve(req->ctx, b.collection, &o.collection_id, err)) ||
        (rc = web_coll_pick(req, &o.collection_id, err)) || (rc = web_origin_global(req, err)))
        return rc;
    if (!b.query[0])
        return kb_error_set(err, KB_EINVAL, "query is empty");
    if (!kb_utf8_valid(b.query, strlen(b.query)))
        return kb_error_set(err, KB_EINVAL, "query is not valid UTF-8");
    o.query = b.query;
    o.top_k = (int)b.top_k;
    o.document_id = b.document_id;
    if (!b.mode || strcmp(b.mode, "hybrid") == 0)
        o.mode = RAG_SEARCH_HYBRID;
    else if (strcmp(b.mode, "bm25") == 0)
        o.mode = RAG_SEARCH_BM25;
    else if (strcmp(b.mode, "vector") == 0)
        o.mode = RAG_SEARCH_VECTOR;
    else
        return kb_error_set(err, KB_EINVAL, "mode must be hybrid, bm25 or vector");
    if ((rc = rag_search(req->ctx->rag, &o, &hits, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_hits_json(&w, hits, n);
    jw_num(&w, "took_ms", (kb_now_s() - t0) * 1000.0);
    jw_end_obj(&w);
    rag_hits_free(hits, n);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* ---- ask ----------------------------------------------------------------------------------------------------- */

struct ask_body {
    char *question;
    char *collection;
    char *conversation_id;
    bool stream;
    int64_t top_k;
    char *channel;             /* "ui" or "widget" (kbox's pages say which); absent: "api" */
    char *conversation_secret; /* from an earlier answer of this conversation (the log's key) */
    char *bot;                 /* answer as this bot (its collections and settings; api_bots.c) */
};

static const struct kb_jfield ask_fields[] = {
    {.name = "question", .type = KB_J_STR, .off = offsetof(struct ask_body, question), .required = true},
    {.name = "collection", .type = KB_J_IDNAME, .off = offsetof(struct ask_body, collection)},
    {.name = "conversation_id", .type = KB_J_STR, .off = offsetof(struct ask_body, conversation_id)},
    {.name = "stream", .type = KB_J_BOOL, .off = offsetof(struct ask_body, stream)},
    {.name = "top_k", .type = KB_J_INT, .off = offsetof(struct ask_body, top_k)},
    {.name = "channel", .type = KB_J_STR, .off = offsetof(struct ask_body, channel)},
    {.name = "conversation_secret", .type = KB_J_STR, .off = offsetof(struct ask_body, conversation_secret)},
    {.name = "bot", .type = KB_J_STR, .off = offsetof(struct ask_body, bot)},
    {0},
};

/* What an ask task owns: the question (first member) and the buffer of its SSE events. */
struct ask_job {
    struct web_ask_job ask;
    struct kb_buf ev;         /* scratch for one SSE event */
};

static void ask_job_free(void *p)
{
    struct ask_job *j = p;
    if (!j)
        return;
    web_ask_job_release(&j->ask);
    kb_buf_release(&j->ev);
    free(j);
}

static void answer_json(struct kb_buf *b, const struct rag_answer *a, const char *conversation_id,
                        const char *handoff_offer)
{
    struct jw w;
    jw_init(&w, b);
    jw_obj(&w, NULL);
    rag_answer_json(&w, a, conversation_id);
    if (a->message_id > 0) { /* logged: what POST /api/feedback and the next question need */
        jw_int(&w, "message_id", a->message_id);
        jw_str(&w, "conversation_secret", a->log_secret);
    }
    if (handoff_offer) /* handoff.*: the widget offers a person (api_handoff.c) */
        jw_str(&w, "handoff_offer", handoff_offer);
    jw_end_obj(&w);
}

/* The log channel a request names: ui and widget are kbox's own pages, anything else is the API. */
static int ask_channel(const struct ask_body *b, const char **channel, struct kb_error *err)
{
    *channel = "api";
    if (b->channel && (strcmp(b->channel, "ui") == 0 || strcmp(b->channel, "widget") == 0 ||
                       strcmp(b->channel, "api") == 0))
        *channel = strcmp(b->channel, "ui") == 0 ? "ui" : strcmp(b->channel, "widget") == 0 ? "widget" : "api";
    else if (b->channel && b->channel[0])
        return kb_error_set(err, KB_EINVAL, "channel must be ui, widget or api");
    if (b->conversation_secret && b->conversation_secret[0] &&
        (strlen(b->conversation_secret) != 32 || strspn(b->conversation_secret, "0123456789abcdef") != 32))
        return kb_error_set(err, KB_EINVAL, "conversation_secret must be the 32-character secret of an earlier answer");
    return 0;
}

/* Sends "event: NAME\ndata: JSON\n\n"; nonzero when the client is gone. */
static int sse_send(struct ask_job *j, const char *event, const char *json, size_t n)
{
    kb_buf_reset(&j->ev);
    while (n && json[n - 1] == '\n')
        n--; /* a newline would end the data line early */
    kb_buf_printf(&j->ev, "event: %s\ndata: ", event);
    kb_buf_append(&j->ev, json, n);
    kb_buf_puts(&j->ev, "\n\n");
    j->ask.emitted = true;
    return web_task_emit(j->ask.task, j->ev.data, j->ev.len);
}

static int ask_on_piece(void *ud, const char *kind, const char *text, size_t n)
{
    struct ask_job *j = ud;
    struct kb_buf b;
    struct jw w;
    int stop;
    if (strcmp(kind, "token") != 0 && strcmp(kind, "think") != 0)
        return 0; /* citation numbers: the full citations follow the answer */
    kb_buf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_strn(&w, "text", text, n);
    jw_end_obj(&w);
    stop = sse_send(j, kind, b.data, b.len);
    kb_buf_release(&b);
    return stop;
}

static void ask_task(struct web_task *t, void *ud)
{
    struct ask_job *j = ud;
    struct rag_answer a;
    struct kb_buf body;

    memset(&a, 0, sizeof a);
    kb_buf_init(&body, 0);
    if (web_ask_job_run(&j->ask, t, ask_on_piece, j, &a, &body)) {
        if (j->ask.emitted)
            sse_send(j, "error", body.data, body.len);
        goto out;
    }
    if (j->ask.stream && a.incomplete) { /* the backend's stream broke: say so, then end normally */
        struct kb_error e = {0};
        kb_error_set(&e, KB_EIO, "%s", a.error);
        web_error_body(&body, KB_EIO, &e);
        sse_send(j, "error", body.data, body.len);
        kb_buf_reset(&body);
    }
    answer_json(&body, &a, j->ask.conversation_id, web_handoff_offer(web_task_ctx(t), j->ask.bot, j->ask.collection_id, j->ask.question, &a));
    if (j->ask.stream) {
        for (int i = 0; i < a.n_citations; i++) {
            struct kb_buf cb;
            struct jw w;
            kb_buf_init(&cb, 0);
            jw_init(&w, &cb);
            rag_citation_json(&w, NULL, &a.citations[i]);
            sse_send(j, "citation", cb.data, cb.len);
            kb_buf_release(&cb);
        }
        sse_send(j, "done", body.data, body.len);
    } else {
        web_task_finish(t, 200, "application/json", &body);
    }
out:
    kb_buf_release(&body);
    rag_answer_release(&a);
}

int web_h_ask(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct ask_body b = {0};
    struct ask_job *j;
    const char *channel;
    int64_t coll;
    int rc;

    if ((rc = kb_json_decode(req->body, req->body_bytes, ask_fields, &b, &req->arena, err)) ||
        (rc = check_top_k(b.top_k, err)) || (rc = ask_channel(&b, &channel, err)) ||
        (rc = web_collection_resolve(req->ctx, b.collection, &coll, err)))
        return rc;
    if (!b.question[0])
        return kb_error_set(err, KB_EINVAL, "question is empty");
    if (!kb_utf8_valid(b.question, strlen(b.question)))
        return kb_error_set(err, KB_EINVAL, "question is not valid UTF-8");
    if (b.bot && b.bot[0]) {
        struct rag_bot bot;
        if (coll)
            return kb_error_set(err, KB_EINVAL, "name a bot or a collection, not both (the bot has its collections)");
        if ((rc = web_bot_admit(req, b.bot, &bot, err)))
            return rc;
    } else if ((rc = web_coll_pick(req, &coll, err)) || (rc = web_origin_global(req, err))) {
        return rc;
    }
    if (b.conversation_secret && b.conversation_secret[0] &&
        (rc = web_handoff_silent(req->ctx, b.conversation_secret, err))) /* a person holds it */
        return rc;
    j = kb_xcalloc(1, sizeof *j);
    if ((rc = web_ask_job_init(&j->ask, req->ctx->rag, b.question, b.conversation_id, err))) {
        free(j);
        return rc;
    }
    j->ask.collection_id = coll;
    j->ask.top_k = (int)b.top_k;
    j->ask.stream = b.stream;
    j->ask.channel = channel;
    kb_strlcpy(j->ask.client_ip, req->client_ip, sizeof j->ask.client_ip);
    kb_strlcpy(j->ask.log_secret, b.conversation_secret ? b.conversation_secret : "", sizeof j->ask.log_secret);
    kb_strlcpy(j->ask.bot, b.bot ? b.bot : "", sizeof j->ask.bot);
    kb_buf_init(&j->ev, 0);
    return web_task_start(req, resp, ask_task, j, ask_job_free, err);
}

/* ---- health and metrics ------------------------------------------------------------------------------------- */

/* One backend's object: backend and state; latencies for answers (always) and remote embedders;
 * counters for remote ("openai") backends. */
static void health_backend(struct jw *w, const char *key, const struct rag_backend_stats *b, bool answers)
{
    bool remote = strcmp(b->backend, "openai") == 0;
    jw_obj(w, key);
    jw_str(w, "backend", b->backend);
    jw_str(w, "state", b->state);
    if (answers)
        jw_num(w, "last_ttft_ms", b->last_ttft_ms);
    if (answers || remote)
        jw_num(w, "last_latency_ms", b->last_latency_ms);
    if (remote) {
        jw_int(w, "requests", b->requests);
        jw_int(w, "errors", b->errors);
        jw_int(w, "breaker_opened", b->breaker_opened);
    }
    jw_end_obj(w);
}

int web_h_health(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_stats st;
    struct jw w;
    int rc = rag_stats(req->ctx->rag, &st, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_str(&w, "status", "ok");
    jw_str(&w, "version", KBOX_VERSION);
    jw_num(&w, "uptime_s", kb_now_s() - req->ctx->started_s);
    jw_int(&w, "collections", st.n_collections);
    jw_int(&w, "documents", st.n_documents);
    jw_int(&w, "chunks", st.n_chunks);
    jw_obj(&w, "jobs");
    jw_int(&w, "queued", st.jobs_queued);
    jw_int(&w, "running", st.jobs_running);
    jw_int(&w, "failed", st.jobs_failed);
    jw_end_obj(&w);
    jw_str(&w, "answer_mode", st.answer_mode);
    health_backend(&w, "answer_backend", &st.answer_backend, true);
    health_backend(&w, "embed_backend", &st.embed_backend, false);
    jw_str(&w, "embedder", rag_embedder_id(req->ctx->rag));
    /* which vectors search uses: during a re-embedding the old embedder's, or none (BM25 only) */
    jw_obj(&w, "vectors");
    jw_str(&w, "embedder", st.embedder);
    jw_str(&w, "search_embedder", st.search_embedder);
    jw_bool(&w, "reembedding", st.reembedding);
    jw_int(&w, "done", st.reembed_done);
    jw_int(&w, "total", st.reembed_total);
    jw_end_obj(&w);
    if (st.sync.enabled) { /* store.backend = postgres: how far this node's cache is behind */
        jw_obj(&w, "store");
        jw_str(&w, "backend", "postgres");
        jw_bool(&w, "connected", st.sync.connected);
        jw_int(&w, "applied_seq", st.sync.applied_seq);
        jw_int(&w, "head_seq", st.sync.head_seq);
        jw_int(&w, "lag_seq", st.sync.lag_seq);
        jw_num(&w, "lag_s", st.sync.lag_s);
        jw_num(&w, "since_contact_s", st.sync.since_contact_s);
        jw_str(&w, "error", st.sync.error);
        jw_int(&w, "spooled", st.sync.spooled);
        jw_end_obj(&w);
    }
    {
        const struct config *cfg = rag_config_get(req->ctx->rag);
        jw_int(&w, "max_upload_bytes", cfg->server_max_upload_bytes);
        rag_config_put(req->ctx->rag, cfg);
    }
    jw_end_obj(&w);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_metrics(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    (void)err;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return web_metrics_render(req->ctx, &resp->body);
}

int web_h_preflight(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const char *origin = web_req_header(req, "Origin");
    if (!origin || !web_cors_allowed(req->ctx, origin, web_req_header(req, "Host")))
        return kb_error_set(err, KB_EFORBIDDEN, "origin '%.200s' is not allowed (server.cors_origins)",
                            origin ? origin : "");
    resp->status = 204;
    web_resp_header(req, resp, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    web_resp_header(req, resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    web_resp_header(req, resp, "Access-Control-Max-Age", "600");
    return 0;
}

/* ---- settings and widget ------------------------------------------------------------------------------------ */

/* Keys the settings page shows and may change (rag_setting_set validates them). */
static void settings_json(struct web_ctx *ctx, struct kb_buf *b)
{
    const struct config *c;
    struct rag_stats st;
    struct kb_error err = {0};
    struct jw w;
    jw_init(&w, b);
    jw_obj(&w, NULL);
    c = rag_config_get(ctx->rag);
    jw_obj(&w, "settings");
    jw_str(&w, "answer.model", c->answer_model);
    jw_str(&w, "embed.model", c->embed_model);
    jw_int(&w, "index.top_k", c->index_top_k);
    jw_str(&w, "answer.fallback", c->answer_fallback);
    jw_bool(&w, "answer.strict", c->answer_strict);
    jw_num(&w, "answer.min_confidence", c->answer_min_confidence);
    jw_int(&w, "answer.max_sentences", c->answer_max_sentences);
    jw_str(&w, "widget.title", c->widget_title);
    jw_str(&w, "widget.color", c->widget_color);
    jw_str(&w, "widget.greeting", c->widget_greeting);
    jw_str(&w, "widget.lang", c->widget_lang);
    jw_str(&w, "server.cors_origins", c->server_cors_origins);
    jw_bool(&w, "server.public_ask", c->server_public_ask);
    jw_end_obj(&w);
    rag_config_put(ctx->rag, c);
    jw_str(&w, "answer_mode", rag_stats(ctx->rag, &st, &err) == 0 ? st.answer_mode : "");
    jw_end_obj(&w);
}

int web_h_settings_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    (void)err;
    settings_json(req->ctx, &resp->body);
    return 0;
}

static int set_one(void *ud, const char *key, const char *value, struct kb_error *err)
{
    struct web_req *req = ud;
    char detail[220];
    int rc = rag_setting_set(req->ctx->rag, key, value, err);
    if (rc == 0) { /* each changed key is audited with (the start of) its new value */
        snprintf(detail, sizeof detail, "= %.200s", value);
        web_audit(req, "settings.change", key, detail);
    }
    return rc;
}

int web_h_settings_set(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    /* Each member is one rag_setting_set: rag publishes a new configuration snapshot, and requests
     * holding the old one keep reading it unchanged. */
    int rc = kb_json_members(req->body, req->body_bytes, set_one, req, &req->arena, err);
    if (rc)
        return rc;
    settings_json(req->ctx, &resp->body);
    return 0;
}

/* GET /api/models: the models folder for the settings page (rag_models_list, like `kbox model
 * list`) and the models configured now. */
int web_h_models(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_model *m = NULL;
    struct kb_error lerr = {0};
    char dir[4200];
    struct jw w;
    int n = 0;
    const struct config *cfg = rag_config_get(req->ctx->rag);
    rag_models_dir(cfg, dir, sizeof dir);
    if (rag_models_list(dir, &m, &n, NULL, &lerr) != 0)
        n = 0; /* no models folder yet: an empty list */
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "models");
    for (int i = 0; i < n; i++) {
        jw_obj(&w, NULL);
        jw_str(&w, "file", m[i].file);
        jw_str(&w, "arch", m[i].error ? NULL : m[i].arch);
        jw_str(&w, "kind", m[i].error ? NULL : m[i].kind);
        jw_int(&w, "params", m[i].params);
        jw_str(&w, "type", m[i].error ? NULL : m[i].type);
        jw_int(&w, "bytes", m[i].bytes);
        jw_bool(&w, "fits", m[i].fits);
        jw_str(&w, "error", m[i].error);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_str(&w, "answer_model", cfg->answer_model);
    jw_str(&w, "embed_model", cfg->embed_model);
    jw_str(&w, "folder", dir); /* lets a page show a model configured by its full path as a file here */
    jw_end_obj(&w);
    rag_models_free(m, n);
    rag_config_put(req->ctx->rag, cfg);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

int web_h_widget_config(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const struct config *c;
    struct jw w;
    const char *bot = web_req_query(req, "bot");
    int rc;
    if (bot && bot[0]) /* a bot's widget (data-bot): its own settings and origins */
        return web_bot_widget_config(req, resp, bot, err);
    if ((rc = web_origin_global(req, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    c = rag_config_get(req->ctx->rag);
    jw_str(&w, "title", c->widget_title);
    jw_str(&w, "color", c->widget_color);
    jw_str(&w, "greeting", c->widget_greeting);
    jw_str(&w, "lang", c->widget_lang);
    rag_config_put(req->ctx->rag, c);
    jw_end_obj(&w);
    return 0;
}
