/* web/api_log.c: the customer-service loop's routes: feedback, the review inbox, analytics, the log
 * export and deleting a conversation. Each decodes its query or body, makes one rag call (rag/log.c)
 * and writes the result.
 *
 *   POST /api/feedback {message_id, vote: 1|-1, comment?, secret}   public (rate-limited like ask)
 *        (bot?: the widget's bot id: its own handoff_on_thumbs_down decides handoff_offer; unknown: 404)
 *        -> {"ok": true}; 404 for an unknown message or one of another conversation (secret is the
 *        conversation_secret returned with the answer), 400 for a bad vote or a comment over 2000
 *        characters, 403 with log.enabled false. Nothing is recorded on any error.
 *   GET  /api/review?collection&channel&from&to&kind&offset&limit   (admin)
 *        -> {enabled, message (logging off), low_confidence_below, items:[{message_id,
 *        conversation_id, created_at, channel, collection_id, question, answer, mode, confidence,
 *        fallback, vote, comment, kinds:[fallback|low_confidence|thumbs_down], citations}], total
 *        (counted up to 10000), total_capped, offset, limit}; newest first
 *   POST /api/review/{message_id} {action: "dismiss" | "resolved"}  (admin) -> {"ok": true}; the
 *        item leaves the inbox (the UI resolves after writing a curated answer or a similar question)
 *   GET  /api/stats?from&to&collection   (admin) -> {enabled, questions, answered, fallback,
 *        handed_off (handoffs to a person created in the range; 0 when a collection is named, as a
 *        handoff names none), shares:{answered, fallback, handed_off}, thumbs:
 *        {up, down, up_rate}, latency_ms:{p50, p95}, modes:{mode: n}, per_day:[{day, n}],
 *        top_questions:[{question, n}], top_unanswered:[{question, n}], top_documents:[{document_id,
 *        document, n}]}
 *   GET  /api/logs/export?format=csv|jsonl&from&to&collection&channel   (admin) -> the messages,
 *        oldest first, as an attachment (at most WEB_EXPORT_MAX_BYTES; narrow the dates beyond)
 *   DELETE /api/conversations/{id}   (admin) -> {"ok": true}: its messages and their feedback go too
 *
 * Dates (from, to) are YYYY-MM-DD (UTC; `to` includes its day) or unix seconds.
 * Per-collection access: for a principal limited to some collections, the review list, stats and
 * export are of one of them (web_coll_pick: another is 404 as a missing one; none named is their
 * only one, or 400 asking to name one when they have several, since the log queries and rollups
 * filter by one collection), and a message or conversation asked over another collection (or over
 * every one) is 404 to review_set and delete.
 * Tests: tests/web/test_log.c, tests/web/test_acct.c (test_coll_access), tests/web/loop.mjs (the
 * pages in Chromium). */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEB_EXPORT_MAX_BYTES ((size_t)256 << 20)

/* ---- feedback ----------------------------------------------------------------------------------------- */

struct feedback_body {
    int64_t message_id;
    int64_t vote;
    char *comment;
    char *secret;
    char *bot;       /* the widget's bot: its own handoff_on_thumbs_down applies */
};

static const struct kb_jfield feedback_fields[] = {
    {.name = "message_id", .type = KB_J_INT, .off = offsetof(struct feedback_body, message_id), .required = true},
    {.name = "vote", .type = KB_J_INT, .off = offsetof(struct feedback_body, vote), .required = true},
    {.name = "comment", .type = KB_J_STR, .off = offsetof(struct feedback_body, comment)},
    {.name = "secret", .type = KB_J_STR, .off = offsetof(struct feedback_body, secret)},
    {.name = "bot", .type = KB_J_STR, .off = offsetof(struct feedback_body, bot)},
    {0},
};

static int ok_body(struct web_resp *resp)
{
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_bool(&w, "ok", true);
    jw_end_obj(&w);
    return 0;
}

int web_h_feedback(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct feedback_body b = {0};
    int rc = kb_json_decode(req->body, req->body_bytes, feedback_fields, &b, &req->arena, err);
    if (rc)
        return rc;
    if (b.vote != 1 && b.vote != -1)
        return kb_error_set(err, KB_EINVAL, "vote must be 1 (thumbs up) or -1 (thumbs down)");
    if (b.bot && b.bot[0]) { /* an unknown bot is named before the vote is stored */
        struct rag_bot bot;
        if ((rc = web_bot_admit(req, b.bot, &bot, err)))
            return rc;
    }
    rc = rag_feedback(req->ctx->rag, b.message_id, b.secret, (int)b.vote, b.comment, err);
    if (rc)
        return rc;
    web_metrics_vote(req->ctx, (int)b.vote);
    if (web_handoff_thumbs_down_offer(req->ctx, b.bot, b.message_id, (int)b.vote)) { /* handoff.on_thumbs_down: offer a person */
        kb_buf_puts(&resp->body, "{\"ok\":true,\"handoff_offer\":\"thumbs_down\"}");
        return 0;
    }
    return ok_body(resp);
}

/* ---- query strings ------------------------------------------------------------------------------------ */

static int parse_count(const char *key, const char *v, int64_t max, int64_t *out, struct kb_error *err)
{
    *out = 0;
    if (!v || !v[0])
        return 0;
    if (kb_parse_i64(v, out) != 0 || *out < 0 || *out > max)
        return kb_error_set(err, KB_EINVAL, "%s must be a whole number from 0 to %lld", key, (long long)max);
    return 0;
}

/* from, to, collection, channel, kind, offset, limit of the query string into q. */
static int log_query(struct web_req *req, struct rag_log_query *q, struct kb_error *err)
{
    int64_t limit = 0;
    int rc;
    memset(q, 0, sizeof *q);
    q->channel = web_req_query(req, "channel");
    q->kind = web_req_query(req, "kind");
    if ((rc = rag_log_parse_date("from", web_req_query(req, "from"), false, &q->from, err)) ||
        (rc = rag_log_parse_date("to", web_req_query(req, "to"), true, &q->to, err)) ||
        (rc = parse_count("offset", web_req_query(req, "offset"), INT64_MAX / 2, &q->offset, err)) ||
        (rc = parse_count("limit", web_req_query(req, "limit"), 200, &limit, err)) ||
        (rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &q->collection_id, err)) ||
        (rc = web_coll_pick(req, &q->collection_id, err)))
        return rc;
    q->limit = (int)limit;
    return rag_log_query_check(q, err);
}

/* 404 (as for a missing one) when the caller is limited to collections and the logged message or
 * conversation id was asked over another one, or over every collection. */
static int log_visible(struct web_req *req, bool conversation, int64_t id, struct kb_error *err)
{
    int64_t coll = 0;
    int rc;
    if (!req->who.collections[0])
        return 0; /* unrestricted: the change itself says whether it exists */
    if ((rc = rag_log_collection_of(req->ctx->rag, conversation, id, &coll, err)))
        return rc;
    return web_coll_visible(req, coll)
               ? 0
               : kb_error_set(err, KB_ENOENT, "no %s with id %lld", conversation ? "conversation" : "message",
                              (long long)id);
}

/* ---- review and analytics ------------------------------------------------------------------------------ */

int web_h_review_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_log_query q;
    struct jw w;
    int rc = log_query(req, &q, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rc = rag_review_json(req->ctx->rag, &q, &w, err);
    jw_end_obj(&w);
    return rc;
}

struct review_body {
    char *action;
};

static const struct kb_jfield review_fields[] = {
    {.name = "action", .type = KB_J_STR, .off = offsetof(struct review_body, action), .required = true},
    {0},
};

int web_h_review_set(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct review_body b = {0};
    int rc = kb_json_decode(req->body, req->body_bytes, review_fields, &b, &req->arena, err);
    if (rc == 0 && (rc = log_visible(req, false, req->ids[0], err)) == 0)
        rc = rag_review_set(req->ctx->rag, req->ids[0], b.action, err);
    return rc ? rc : ok_body(resp);
}

int web_h_stats(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_log_query q;
    struct jw w;
    int rc = log_query(req, &q, err);
    if (rc)
        return rc;
    if (q.kind && q.kind[0])
        return kb_error_set(err, KB_EINVAL, "kind is a review filter; /api/stats takes from, to and collection");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rc = rag_log_stats_json(req->ctx->rag, &q, &w, err);
    jw_end_obj(&w);
    return rc;
}

/* ---- export and deletion ------------------------------------------------------------------------------- */

static int export_write(void *ud, const char *p, size_t n)
{
    struct kb_buf *b = ud;
    if (b->len + n > WEB_EXPORT_MAX_BYTES)
        return KB_ETOOBIG;
    return kb_buf_append(b, p, n);
}

int web_h_logs_export(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const char *format = web_req_query(req, "format");
    struct rag_log_query q;
    bool csv;
    int rc = log_query(req, &q, err);
    if (rc)
        return rc;
    if (!format || !format[0])
        format = "jsonl";
    csv = strcmp(format, "csv") == 0;
    rc = rag_log_export(req->ctx->rag, &q, format, export_write, &resp->body, err);
    if (rc == KB_ETOOBIG || rc == KB_ENOMEM)
        rc = kb_error_set(err, rc, "the export exceeds %zu MiB; narrow it with from and to", WEB_EXPORT_MAX_BYTES >> 20);
    if (rc)
        return rc;
    resp->content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
    web_resp_header(req, resp, "Content-Disposition",
                    csv ? "attachment; filename=\"kbox-logs.csv\"" : "attachment; filename=\"kbox-logs.jsonl\"");
    return 0;
}

int web_h_conversation_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int rc = log_visible(req, true, req->ids[0], err);
    if (rc == 0)
        rc = rag_conversation_delete(req->ctx->rag, req->ids[0], err);
    return rc ? rc : ok_body(resp);
}
