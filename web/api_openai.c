/* web/api_openai.c: the OpenAI-compatible endpoints, so stock OpenAI client libraries talk to kbox.
 *
 *   POST /v1/chat/completions {model, messages:[{role, content}], stream?}
 *        `model` names a bot (its collections and settings, its origins checked: api_bots.c), else
 *        the collection ("kbox", "default" or "" mean all collections). The question
 *        is the last user message (rag takes no message history; an optional non-standard
 *        "conversation_id" member lets follow-ups use rag's stored turns); the answer comes from rag_ask with its citations. Not streamed:
 *        a chat.completion object (plus a "citations" member); streamed: chat.completion.chunk
 *        events as `data: {...}` lines (a role-only first chunk, delta.content pieces, think
 *        pieces as delta.reasoning_content), the last chunk with finish_reason "stop", the
 *        citations and usage.completion_tokens, then `data: [DONE]`. rag/remote.c parses this
 *        too, so one kbox can be the answer backend of another. When kbox's own remote backend
 *        breaks mid-answer, the stream ends with an error object and [DONE] (not streamed:
 *        finish_reason "error" with the text that came).
 *   GET  /v1/models       "kbox", the bots, then the collections no bot's id shadows, as models
 *        (an account limited to some collections sees only those and the bots within them; the
 *        others, named as the model, are 404)
 *   POST /v1/embeddings   {input: string | [string], model?, encoding_format?: float|base64}
 *        base64 is little-endian float32, which is what the official clients ask for by default.
 *
 * Every answer is written to the conversation log with channel "openai" (rag/log.c); OpenAI
 * clients send the whole history each time, so each call is a conversation of its own.
 * Errors use kbox's {"error":{"code","message","type"}} shape, which OpenAI clients read.
 * Tests: tests/web/openai.mjs (the `openai` npm package) and tests/web/test_web.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OA_MAX_MESSAGES 256
#define OA_MAX_INPUTS 2048

struct oa_message {
    char *role;
    char *content;
};

struct oa_chat_body {
    char *model;
    struct oa_message *messages;
    int n_messages;
    bool stream;
    char *conversation_id; /* kbox extension: follow-ups use this conversation's last turns */
};

static const struct kb_jfield message_fields[] = {
    {.name = "role", .type = KB_J_STR, .off = offsetof(struct oa_message, role), .required = true},
    {.name = "content", .type = KB_J_TEXT, .off = offsetof(struct oa_message, content)},
    {0},
};

static const struct kb_jfield chat_fields[] = {
    {.name = "model", .type = KB_J_STR, .off = offsetof(struct oa_chat_body, model)},
    {.name = "messages",
     .type = KB_J_OBJS,
     .off = offsetof(struct oa_chat_body, messages),
     .required = true,
     .count_off = offsetof(struct oa_chat_body, n_messages),
     .sub = message_fields,
     .elem_bytes = sizeof(struct oa_message),
     .max_items = OA_MAX_MESSAGES},
    {.name = "stream", .type = KB_J_BOOL, .off = offsetof(struct oa_chat_body, stream)},
    {.name = "conversation_id", .type = KB_J_STR, .off = offsetof(struct oa_chat_body, conversation_id)},
    {0},
};

static bool is_all_model(const char *m)
{
    return !m || !m[0] || strcmp(m, "kbox") == 0 || strcmp(m, "default") == 0;
}

static int model_collection(struct web_ctx *ctx, const char *model, int64_t *id, struct kb_error *err)
{
    int rc;
    *id = 0;
    if (is_all_model(model))
        return 0;
    rc = rag_collection_find(ctx->rag, model, id, err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_ENOENT, "model '%.200s' not found: models are collections (GET /v1/models)", model);
    return rc;
}

struct oa_job {
    struct web_ask_job ask;   /* the question; first member */
    char *model;              /* echoed back; owned */
    char id[40];              /* chatcmpl-... */
    int64_t created;          /* unix seconds */
};

static void oa_job_free(void *p)
{
    struct oa_job *j = p;
    if (!j)
        return;
    web_ask_job_release(&j->ask);
    free(j->model);
    free(j);
}

/* Starts a chat.completion(.chunk) object up to its "choices" array. */
static void oa_head(struct jw *w, const struct oa_job *j, const char *object)
{
    jw_obj(w, NULL);
    jw_str(w, "id", j->id);
    jw_str(w, "object", object);
    jw_int(w, "created", j->created);
    jw_str(w, "model", j->model);
    jw_arr(w, "choices");
}

/* One chunk: text goes in delta.<key> ("content", or "reasoning_content" for think pieces, as
 * vLLM and DeepSeek send them); the last chunk (a non-NULL) carries the citations and a usage
 * object with the completion tokens. */
static int oa_send_chunk(struct oa_job *j, const char *role, const char *key, const char *text, size_t n,
                         const char *finish, const struct rag_answer *a)
{
    struct kb_buf b;
    struct jw w;
    int stop;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, "data: ");
    jw_init(&w, &b);
    oa_head(&w, j, "chat.completion.chunk");
    jw_obj(&w, NULL);
    jw_int(&w, "index", 0);
    jw_obj(&w, "delta");
    if (role)
        jw_str(&w, "role", role);
    if (text)
        jw_strn(&w, key, text, n);
    jw_end_obj(&w);
    if (finish)
        jw_str(&w, "finish_reason", finish);
    else
        jw_null(&w, "finish_reason");
    jw_end_obj(&w);
    jw_end_arr(&w);
    if (a) {
        jw_arr(&w, "citations");
        for (int i = 0; i < a->n_citations; i++)
            rag_citation_json(&w, NULL, &a->citations[i]);
        jw_end_arr(&w);
        jw_obj(&w, "usage");
        jw_int(&w, "completion_tokens", a->n_tokens);
        jw_end_obj(&w);
    }
    jw_end_obj(&w);
    kb_buf_puts(&b, "\n\n");
    j->ask.emitted = true;
    stop = web_task_emit(j->ask.task, b.data, b.len);
    kb_buf_release(&b);
    return stop;
}

static int oa_on_piece(void *ud, const char *kind, const char *text, size_t n)
{
    struct oa_job *j = ud;
    bool think = strcmp(kind, "think") == 0;
    if (strcmp(kind, "token") != 0 && !think)
        return 0;
    if (!j->ask.emitted && oa_send_chunk(j, "assistant", "content", "", 0, NULL, NULL))
        return 1;
    return oa_send_chunk(j, NULL, think ? "reasoning_content" : "content", text, n, NULL, NULL);
}

static void oa_chat_task(struct web_task *t, void *ud)
{
    struct oa_job *j = ud;
    struct rag_answer a;
    struct kb_buf body;
    struct jw w;

    memset(&a, 0, sizeof a);
    kb_buf_init(&body, 0);
    if (web_ask_job_run(&j->ask, t, oa_on_piece, j, &a, &body)) {
        if (j->ask.emitted) {
            struct kb_buf ev;
            kb_buf_init(&ev, 0);
            if (body.len && body.data[body.len - 1] == '\n')
                body.data[--body.len] = '\0';
            kb_buf_printf(&ev, "data: %s\n\ndata: [DONE]\n\n", body.data);
            web_task_emit(t, ev.data, ev.len);
            kb_buf_release(&ev);
        }
        goto out;
    }
    if (j->ask.stream && a.incomplete) {
        /* the remote backend's stream broke mid-answer: an error object ends this stream too */
        struct kb_error e = {0};
        struct kb_buf ev;
        kb_error_set(&e, KB_EIO, "%s", a.error);
        web_error_body(&body, KB_EIO, &e);
        if (body.len && body.data[body.len - 1] == '\n')
            body.data[--body.len] = '\0';
        kb_buf_init(&ev, 0);
        kb_buf_printf(&ev, "data: %s\n\ndata: [DONE]\n\n", body.data);
        web_task_emit(t, ev.data, ev.len);
        kb_buf_release(&ev);
        goto out;
    }
    if (j->ask.stream) {
        if (!j->ask.emitted) /* an answer with no streamed pieces (extractive, or empty) */
            oa_send_chunk(j, "assistant", "content", a.answer ? a.answer : "", a.answer ? strlen(a.answer) : 0, NULL,
                          NULL);
        oa_send_chunk(j, NULL, "content", NULL, 0, "stop", &a);
        web_task_emit(t, "data: [DONE]\n\n", 14);
        goto out;
    }
    jw_init(&w, &body);
    oa_head(&w, j, "chat.completion");
    jw_obj(&w, NULL);
    jw_int(&w, "index", 0);
    jw_obj(&w, "message");
    jw_str(&w, "role", "assistant");
    jw_str(&w, "content", a.answer ? a.answer : "");
    jw_end_obj(&w);
    jw_str(&w, "finish_reason", a.incomplete ? "error" : "stop"); /* incomplete: a remote stream broke */
    jw_end_obj(&w);
    jw_end_arr(&w);
    jw_obj(&w, "usage");
    jw_int(&w, "prompt_tokens", (int64_t)(strlen(j->ask.question) + 3) / 4);
    jw_int(&w, "completion_tokens", a.n_tokens);
    jw_int(&w, "total_tokens", (int64_t)(strlen(j->ask.question) + 3) / 4 + a.n_tokens);
    jw_end_obj(&w);
    jw_arr(&w, "citations");
    for (int i = 0; i < a.n_citations; i++)
        rag_citation_json(&w, NULL, &a.citations[i]);
    jw_end_arr(&w);
    jw_str(&w, "answer_mode", a.mode);
    jw_end_obj(&w);
    web_task_finish(t, 200, "application/json", &body);
out:
    kb_buf_release(&body);
    rag_answer_release(&a);
}
/* A bot named as the model (checked before collections: a bot and a collection may share a name).
 * KB_ENOENT (without detail) when no bot has that id. */
static int model_bot(struct web_req *req, const char *model, struct rag_bot *out, struct kb_error *err)
{
    struct kb_error tmp = {0};
    int rc = rag_bot_get(req->ctx->rag, model, &req->arena, out, &tmp);
    if (rc == KB_ENOENT)
        return KB_ENOENT;
    if (rc)
        return kb_error_set(err, rc, "%s", tmp.msg);
    return web_bot_admit(req, model, out, err);
}

int web_h_oa_chat(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct oa_chat_body b = {0};
    const char *question = NULL;
    struct oa_job *j;
    struct rag_bot bot;
    bool is_bot = false;
    int64_t coll;
    int rc;

    if ((rc = kb_json_decode(req->body, req->body_bytes, chat_fields, &b, &req->arena, err)))
        return rc;
    for (int i = b.n_messages - 1; i >= 0 && !question; i--)
        if (strcmp(b.messages[i].role, "user") == 0 && b.messages[i].content && b.messages[i].content[0])
            question = b.messages[i].content;
    if (!question)
        return kb_error_set(err, KB_EINVAL, "messages hold no user message with text");
    if (b.model && b.model[0] && strcmp(b.model, "kbox") != 0 && (rc = model_bot(req, b.model, &bot, err)) != KB_ENOENT) {
        if (rc)
            return rc; /* a bot, but this browser's origin may not use it */
        is_bot = true;
        coll = 0;
    } else if ((rc = model_collection(req->ctx, b.model, &coll, err)) || (rc = web_coll_pick(req, &coll, err)) ||
               (rc = web_origin_global(req, err))) {
        return rc;
    }
    j = kb_xcalloc(1, sizeof *j);
    if ((rc = web_ask_job_init(&j->ask, req->ctx->rag, question, b.conversation_id, err))) {
        free(j);
        return rc;
    }
    j->model = kb_xstrdup(b.model && b.model[0] ? b.model : "kbox");
    j->ask.collection_id = coll;
    if (is_bot)
        kb_strlcpy(j->ask.bot, bot.id, sizeof j->ask.bot);
    j->ask.stream = b.stream;
    j->ask.channel = "openai"; /* logged (log.enabled); this endpoint takes no feedback */
    kb_strlcpy(j->ask.client_ip, req->client_ip, sizeof j->ask.client_ip);
    j->created = (int64_t)time(NULL);
    kb_strlcpy(j->id, "chatcmpl-", sizeof j->id);
    web_random_hex(j->id + 9, 24);
    return web_task_start(req, resp, oa_chat_task, j, oa_job_free, err);
}

int web_h_oa_models(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_collection *c = NULL;
    const char **bot_ids = NULL;
    int n = 0, n_bots = 0, rc;
    bool all = web_key_may_use_bot(&req->who, NULL); /* false for a key scoped to bots */
    struct jw w;
    if ((rc = rag_bot_ids(req->ctx->rag, &req->arena, &bot_ids, &n_bots, err)) ||
        (rc = rag_collections_list(req->ctx->rag, &c, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_str(&w, "object", "list");
    jw_arr(&w, "data");
    if (all) {
        jw_obj(&w, NULL);
        jw_str(&w, "id", "kbox");
        jw_str(&w, "object", "model");
        jw_int(&w, "created", 0);
        jw_str(&w, "owned_by", "kbox");
        jw_end_obj(&w);
    }
    /* the bots this caller may use (a key scoped to some bots lists those alone) */
    for (int i = 0; i < n_bots; i++) {
        struct rag_bot b;
        if (!web_key_may_use_bot(&req->who, bot_ids[i]))
            continue;
        /* an account limited to some collections sees only bots within them */
        if (req->who.collections[0] &&
            (rag_bot_get(req->ctx->rag, bot_ids[i], &req->arena, &b, NULL) || !web_bot_visible(req, &b)))
            continue;
        jw_obj(&w, NULL);
        jw_str(&w, "id", bot_ids[i]);
        jw_str(&w, "object", "model");
        jw_int(&w, "created", 0);
        jw_str(&w, "owned_by", "kbox-bot");
        jw_end_obj(&w);
    }
    for (int i = 0; i < n && all; i++) {
        bool shadowed = false; /* a collection named like a bot is reached through the bot */
        for (int k = 0; k < n_bots && !shadowed; k++)
            shadowed = strcmp(bot_ids[k], c[i].name) == 0;
        if (shadowed || !web_coll_visible(req, c[i].id))
            continue;
        jw_obj(&w, NULL);
        jw_str(&w, "id", c[i].name);
        jw_str(&w, "object", "model");
        jw_int(&w, "created", c[i].created_at);
        jw_str(&w, "owned_by", "kbox");
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_collections_free(c, n);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}

/* ---- embeddings ------------------------------------------------------------------------------------------------ */

struct oa_embed_body {
    char **input;
    int n_input;
    char *model;
    char *encoding_format;
};

static const struct kb_jfield embed_fields[] = {
    {.name = "input",
     .type = KB_J_STRS,
     .off = offsetof(struct oa_embed_body, input),
     .required = true,
     .count_off = offsetof(struct oa_embed_body, n_input),
     .max_items = OA_MAX_INPUTS},
    {.name = "model", .type = KB_J_STR, .off = offsetof(struct oa_embed_body, model)},
    {.name = "encoding_format", .type = KB_J_STR, .off = offsetof(struct oa_embed_body, encoding_format)},
    {0},
};

static void put_base64(struct kb_buf *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    kb_buf_putc(b, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = n - i;
        char q[4];
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = left > 1 ? tab[(v >> 6) & 63] : '=';
        q[3] = left > 2 ? tab[v & 63] : '=';
        kb_buf_append(b, q, 4);
    }
    kb_buf_putc(b, '"');
}

/* Issue #22 item 4: caps the inputs of one call (server.max_embed_inputs, 400 naming it) and charges
 * a public caller's rate budget by cost: one unit more per input and per 4 KiB of text beyond the
 * request's own unit (the route's admission charged that one). */
static int oa_embed_admit(struct web_req *req, const struct oa_embed_body *b, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(req->ctx->rag);
    int64_t bytes = 0, cost;
    int rc = 0;
    for (int i = 0; i < b->n_input; i++)
        bytes += (int64_t)strlen(b->input[i]);
    cost = (int64_t)b->n_input - 1 + bytes / 4096;
    if (b->n_input > cfg->server_max_embed_inputs)
        rc = kb_error_set(err, KB_EINVAL, "input has %d items; this server takes at most %lld per call "
                          "(server.max_embed_inputs)", b->n_input, (long long)cfg->server_max_embed_inputs);
    else if (!req->admin && cost > 0 &&
             !web_rate_charge(&req->ctx->rate, req->client_ip, cost, cfg->server_rate_limit_per_min, (int64_t)time(NULL)))
        rc = kb_error_set(err, KB_ERATE, "rate limit of %lld units per minute spent (an embedding input costs one); "
                          "try again later", (long long)cfg->server_rate_limit_per_min);
    rag_config_put(req->ctx->rag, cfg);
    return rc;
}

int web_h_oa_embeddings(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct oa_embed_body b = {0};
    float *vec = NULL;
    int dim = 0, rc;
    bool b64;
    int64_t n_chars = 0;
    struct jw w;

    if ((rc = kb_json_decode(req->body, req->body_bytes, embed_fields, &b, &req->arena, err)))
        return rc;
    if (b.n_input == 0)
        return kb_error_set(err, KB_EINVAL, "input is empty");
    if ((rc = oa_embed_admit(req, &b, err)))
        return rc;
    b64 = b.encoding_format && strcmp(b.encoding_format, "base64") == 0;
    if (b.encoding_format && !b64 && strcmp(b.encoding_format, "float") != 0)
        return kb_error_set(err, KB_EINVAL, "encoding_format must be float or base64");
    if ((rc = rag_embed(req->ctx->rag, (const char *const *)b.input, b.n_input, &vec, &dim, err)))
        return rc;
    for (int i = 0; i < b.n_input; i++)
        n_chars += (int64_t)strlen(b.input[i]);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_str(&w, "object", "list");
    jw_arr(&w, "data");
    for (int i = 0; i < b.n_input; i++) {
        const float *v = vec + (size_t)i * (size_t)dim;
        jw_obj(&w, NULL);
        jw_str(&w, "object", "embedding");
        jw_int(&w, "index", i);
        if (b64) {
            /* float32 little-endian bytes; x86 and arm64 hosts store floats that way already */
            unsigned char *bytes = kb_xmalloc((size_t)dim * 4);
            for (int k = 0; k < dim; k++) {
                uint32_t u;
                memcpy(&u, &v[k], 4);
                bytes[4 * k] = (unsigned char)u;
                bytes[4 * k + 1] = (unsigned char)(u >> 8);
                bytes[4 * k + 2] = (unsigned char)(u >> 16);
                bytes[4 * k + 3] = (unsigned char)(u >> 24);
            }
            jw_raw(&w, "embedding", "");
            put_base64(w.b, bytes, (size_t)dim * 4);
            free(bytes);
        } else {
            jw_arr(&w, "embedding");
            for (int k = 0; k < dim; k++)
                jw_num(&w, NULL, v[k]);
            jw_end_arr(&w);
        }
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_str(&w, "model", rag_embedder_id(req->ctx->rag));
    jw_obj(&w, "usage");
    jw_int(&w, "prompt_tokens", (n_chars + 3) / 4);
    jw_int(&w, "total_tokens", (n_chars + 3) / 4);
    jw_end_obj(&w);
    jw_end_obj(&w);
    free(vec);
    return w.rc ? kb_error_set(err, w.rc, "response too large") : 0;
}
