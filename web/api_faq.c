/* web/api_faq.c: the FAQ editor's routes over curated answers (all admin-only; rag/curated.c does
 * the work, rag_curated_json renders an entry as `kbox faq --json` does).
 *
 *   GET    /api/faq[?collection=&q=&page=&page_size=]  {"faq":[entry...],"total","page","page_size"}
 *   POST   /api/faq {collection, question, similar_questions[], answer, citations[]}  201 {"faq":entry}
 *   GET    /api/faq/{id}                     {"faq":entry}
 *   PUT    /api/faq/{id} {question, similar_questions, answer, citations}  {"faq":entry} (a new
 *                                            version; members left out keep their current value)
 *   DELETE /api/faq/{id}                     {"deleted":id}
 *   GET    /api/faq/{id}/versions            {"versions":[entry...]} newest first
 *   POST   /api/faq/{id}/similar {question}  {"faq":entry} (the review inbox attaches a question)
 *   POST   /api/faq/import[?collection=&format=csv|xlsx]  body: the CSV or XLSX file itself (format
 *                                            told by the bytes when absent) -> {"imported":n}
 *   GET    /api/faq/export[?collection=&format=csv|xlsx]  the table as an attachment
 * entry = {id, collection_id, version, question, similar_questions[], answer, citations[], uses,
 * created_at, updated_at}. Errors: 400 naming the field ("question is empty", "row 3: answer is
 * empty"), 404 for an unknown id or collection. An account limited to some collections gets 404 for
 * curated answers outside them; a list, import or export naming no collection uses its one collection
 * (or must name one: web_coll_pick). Tests: tests/web/test_faq.c, tests/web/test_acct.c. */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAQ_PAGE_SIZE 50

static int finish(struct jw *w, struct kb_error *err)
{
    return w->rc ? kb_error_set(err, w->rc, "response too large") : 0;
}

/* A request body's entry. */
struct faq_body {
    char *collection;
    char *question;
    char **similar;
    int n_similar;
    char *answer;
    char *citations; /* the JSON array as text: "[3, 7]" */
};

static const struct kb_jfield faq_fields[] = {
    {"collection", KB_J_IDNAME, offsetof(struct faq_body, collection), false, 0, NULL, 0, 0},
    {"question", KB_J_STR, offsetof(struct faq_body, question), false, 0, NULL, 0, 0},
    {"similar_questions", KB_J_STRS, offsetof(struct faq_body, similar), false, offsetof(struct faq_body, n_similar),
     NULL, 0, RAG_CURATED_SIMILAR_MAX},
    {"answer", KB_J_STR, offsetof(struct faq_body, answer), false, 0, NULL, 0, 0},
    {"citations", KB_J_ANY, offsetof(struct faq_body, citations), false, 0, NULL, 0, 0},
    {NULL, 0, 0, false, 0, NULL, 0, 0},
};

/* "[3, 7]" into ids (at most cap); KB_EINVAL unless an array of positive integers. */
static int faq_citations(const char *text, int64_t *ids, int cap, int *n_out, struct kb_error *err)
{
    const char *p = text;
    int n = 0;
    *n_out = 0;
    if (!text || !strcmp(text, "null"))
        return 0;
    while (*p == ' ')
        p++;
    if (*p++ != '[')
        return kb_error_set(err, KB_EINVAL, "citations must be an array of document ids");
    for (;;) {
        char digits[21];
        size_t k = 0;
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ']')
            break;
        while (*p >= '0' && *p <= '9' && k < sizeof digits - 1)
            digits[k++] = *p++;
        digits[k] = '\0';
        if (k == 0 || n >= cap || kb_parse_i64(digits, &ids[n]) || ids[n] <= 0)
            return kb_error_set(err, KB_EINVAL, "citations must be an array of at most %d document ids", cap);
        n++;
    }
    *n_out = n;
    return 0;
}

/* 0 when the caller may see curated answer id (an unrestricted caller: no lookup); KB_ENOENT, as for
 * a missing one, when it is in a collection a limited account may not see. */
static int faq_seen(struct web_req *req, int64_t id, struct kb_error *err)
{
    struct rag_curated c;
    bool seen;
    int rc;
    if (!req->who.collections[0])
        return 0;
    if ((rc = rag_curated_get(req->ctx->rag, id, &c, err)))
        return rc;
    seen = web_coll_visible(req, c.collection_id);
    rag_curated_release(&c);
    return seen ? 0 : kb_error_set(err, KB_ENOENT, "no curated answer with id %lld", (long long)id);
}

static int faq_entry_resp(struct web_req *req, struct web_resp *resp, int64_t id, struct kb_error *err)
{
    struct rag_curated c;
    struct jw w;
    int rc = rag_curated_get(req->ctx->rag, id, &c, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_curated_json(&w, "faq", &c);
    jw_end_obj(&w);
    rag_curated_release(&c);
    return finish(&w, err);
}

int web_h_faq_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_curated *c = NULL;
    const char *page_s = web_req_query(req, "page"), *size_s = web_req_query(req, "page_size");
    int64_t coll, page = 1, size = FAQ_PAGE_SIZE, total = 0;
    int n = 0, rc;
    struct jw w;
    if ((rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &coll, err)) ||
        (rc = web_coll_pick(req, &coll, err)))
        return rc;
    if (page_s && (kb_parse_i64(page_s, &page) || page < 1 || page > 1000000))
        return kb_error_set(err, KB_EINVAL, "page must be a number from 1");
    if (size_s && (kb_parse_i64(size_s, &size) || size < 1 || size > 1000))
        return kb_error_set(err, KB_EINVAL, "page_size must be a number from 1 to 1000");
    if ((rc = rag_curated_list(req->ctx->rag, coll, web_req_query(req, "q"), (int)page, (int)size, &c, &n, &total,
                               err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "faq");
    for (int i = 0; i < n; i++)
        rag_curated_json(&w, NULL, &c[i]);
    jw_end_arr(&w);
    jw_int(&w, "total", total);
    jw_int(&w, "page", page);
    jw_int(&w, "page_size", size);
    jw_end_obj(&w);
    rag_curated_free(c, n);
    return finish(&w, err);
}

/* Decodes a body over in (prefilled) into b; in's strings then point into b (request arena). */
static int faq_decode(struct web_req *req, struct faq_body *b, struct rag_curated_input *in, int64_t *cites,
                      struct kb_error *err)
{
    int rc;
    if (!req->body)
        return kb_error_set(err, KB_EINVAL, "the body must be a JSON object");
    rc = kb_json_decode(req->body, req->body_bytes, faq_fields, b, &req->arena, err);
    if (!rc && b->question)
        in->question = b->question;
    if (!rc && b->answer)
        in->answer = b->answer;
    if (!rc && b->similar) {
        in->similar = (const char *const *)b->similar;
        in->n_similar = b->n_similar;
    }
    if (!rc && b->citations) {
        int nc = 0;
        rc = faq_citations(b->citations, cites, RAG_CURATED_SIMILAR_MAX, &nc, err);
        in->citations = cites;
        in->n_citations = nc;
    }
    return rc;
}

int web_h_faq_create(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct faq_body b = {0};
    struct rag_curated_input in = {0};
    int64_t cites[RAG_CURATED_SIMILAR_MAX], id = 0;
    int rc = faq_decode(req, &b, &in, cites, err);
    rc = rc ? rc : web_collection_resolve(req->ctx, b.collection, &in.collection_id, err);
    rc = rc ? rc : web_coll_pick(req, &in.collection_id, err);
    rc = rc ? rc : rag_curated_add(req->ctx->rag, &in, &id, err);
    rc = rc ? rc : faq_entry_resp(req, resp, id, err);
    if (!rc)
        resp->status = 201;
    return rc;
}

int web_h_faq_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int rc = faq_seen(req, req->ids[0], err);
    return rc ? rc : faq_entry_resp(req, resp, req->ids[0], err);
}

int web_h_faq_update(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_curated cur;
    struct faq_body b = {0};
    struct rag_curated_input in = {0};
    int64_t cites[RAG_CURATED_SIMILAR_MAX];
    int rc = faq_seen(req, req->ids[0], err);
    if (rc || (rc = rag_curated_get(req->ctx->rag, req->ids[0], &cur, err)))
        return rc;
    in.question = cur.question; /* what the body leaves out stays */
    in.answer = cur.answer;
    in.similar = (const char *const *)cur.similar;
    in.n_similar = cur.n_similar;
    in.citations = cur.citations;
    in.n_citations = cur.n_citations;
    rc = faq_decode(req, &b, &in, cites, err);
    rc = rc ? rc : rag_curated_update(req->ctx->rag, req->ids[0], &in, err);
    rag_curated_release(&cur);
    return rc ? rc : faq_entry_resp(req, resp, req->ids[0], err);
}

int web_h_faq_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct jw w;
    int rc = faq_seen(req, req->ids[0], err);
    rc = rc ? rc : rag_curated_delete(req->ctx->rag, req->ids[0], err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "deleted", req->ids[0]);
    jw_end_obj(&w);
    return finish(&w, err);
}

int web_h_faq_versions(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_curated *c = NULL;
    int n = 0, rc = faq_seen(req, req->ids[0], err);
    struct jw w;
    if (rc || (rc = rag_curated_versions(req->ctx->rag, req->ids[0], &c, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "versions");
    for (int i = 0; i < n; i++)
        rag_curated_json(&w, NULL, &c[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_curated_free(c, n);
    return finish(&w, err);
}

int web_h_faq_similar(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct faq_body b = {0};
    int rc;
    if (!req->body)
        return kb_error_set(err, KB_EINVAL, "the body must be a JSON object {\"question\": ...}");
    rc = kb_json_decode(req->body, req->body_bytes, faq_fields, &b, &req->arena, err);
    rc = rc ? rc : faq_seen(req, req->ids[0], err);
    rc = rc ? rc : rag_curated_add_similar(req->ctx->rag, req->ids[0], b.question ? b.question : "", err);
    return rc ? rc : faq_entry_resp(req, resp, req->ids[0], err);
}

int web_h_faq_import(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int64_t coll;
    int n = 0, rc;
    struct jw w;
    if ((rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &coll, err)) ||
        (rc = web_coll_pick(req, &coll, err)))
        return rc;
    if (!req->body || req->body_bytes == 0)
        return kb_error_set(err, KB_EINVAL, "the body must be the CSV or XLSX file to import");
    rc = rag_curated_import(req->ctx->rag, coll, req->body, req->body_bytes, web_req_query(req, "format"), &n, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "imported", n);
    jw_int(&w, "collection_id", coll);
    jw_end_obj(&w);
    return finish(&w, err);
}

int web_h_faq_export(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    const char *format = web_req_query(req, "format");
    bool xlsx = format && !strcmp(format, "xlsx");
    int64_t coll;
    int rc;
    if ((rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &coll, err)) ||
        (rc = web_coll_pick(req, &coll, err)))
        return rc;
    if ((rc = rag_curated_export(req->ctx->rag, coll, format ? format : "csv", &resp->body, err)))
        return rc;
    resp->content_type = xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                              : "text/csv; charset=utf-8";
    return web_resp_header(req, resp, "Content-Disposition",
                           xlsx ? "attachment; filename=\"faq.xlsx\"" : "attachment; filename=\"faq.csv\"");
}
