/* web/api_docs.c: handlers for documents, ingestion jobs and collections (all admin-only).
 *
 *   POST   /api/documents[?collection=NAME|ID]  multipart upload -> 202 {"documents":[{name, document_id,
 *                                               job_id, duplicate} | {name, error}]}
 *   GET    /api/documents[?collection=&status=&q=]  {"documents":[...]}
 *   GET    /api/documents/{id}[?chunks=0]       {"document":{...},"chunks":[...]}
 *   DELETE /api/documents/{id}                  {"deleted":id}
 *   GET    /api/documents/{id}/file             the original, as an attachment
 *   POST   /api/documents/{id}/reingest         {"document_id","job_id"}
 *   GET    /api/jobs/{id}                       {"id","document_id","state","progress","error"}
 *   GET/POST /api/collections, PATCH|PUT|DELETE /api/collections/{id}
 *   GET|PUT /api/collections/{id}/handoff      {"handoff":{handoff, handoff_keywords,
 *                                               handoff_after_fallbacks, handoff_on_thumbs_down,
 *                                               effective_handoff}} (rag/coll_handoff.c)
 *
 * Per-collection access: a principal limited to some collections (web_coll_visible) gets 404, as
 * for a missing one, for documents, jobs and collections outside them; lists leave them out; an
 * upload naming no collection goes to its one collection (or must name one), and a limited
 * principal cannot create collections (it could not see them). Uploads, deletions and collection
 * changes are audited (web_audit).
 * Each handler decodes, makes one rag_* call and encodes (STYLE.md 17). Uploaded files reach
 * rag_upload as temporary files written by server.c; rag takes them. A document renders with
 * rag_document_json (rag/render.c), as in `kbox docs --json`. Tests: tests/web/test_web.c. */
#include "web/web_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/index.h"

static int finish(struct jw *w, struct kb_error *err)
{
    return w->rc ? kb_error_set(err, w->rc, "response too large") : 0;
}

int web_h_docs_upload(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct jw w;
    int64_t coll;
    int rc, n_ok = 0, first_rc = 0;
    struct kb_error first_err = {0};

    if ((rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &coll, err)) ||
        (rc = web_coll_pick(req, &coll, err)))
        return rc;
    if (req->n_uploads == 0)
        return kb_error_set(err, KB_EINVAL, "no files in the upload (send multipart parts with a filename)");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "collection_id", coll);
    jw_arr(&w, "documents");
    for (int i = 0; i < req->n_uploads; i++) {
        struct web_upload *u = &req->uploads[i];
        struct kb_error e = {0};
        int64_t doc = 0, job = 0;
        int urc = rag_upload(req->ctx->rag, coll, u->name, u->tmp_path, &doc, &job, &e);
        jw_obj(&w, NULL);
        jw_str(&w, "name", u->name);
        jw_int(&w, "bytes", u->bytes);
        if (urc == 0) {
            u->tmp_path[0] = '\0'; /* rag owns the file now */
            jw_int(&w, "document_id", doc);
            jw_int(&w, "job_id", job);
            jw_bool(&w, "duplicate", job == 0);
            n_ok++;
            if (job) {
                char detail[64];
                snprintf(detail, sizeof detail, "document %lld, collection %lld", (long long)doc, (long long)coll);
                web_audit(req, "document.upload", u->name, detail);
            }
        } else {
            jw_obj(&w, "error");
            jw_str(&w, "code", kb_err_name(urc));
            jw_str(&w, "message", kb_error_msg(&e, urc));
            jw_end_obj(&w);
            if (!first_rc) {
                first_rc = urc;
                first_err = e;
            }
        }
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    if (n_ok == 0) {
        *err = first_err;
        return first_rc;
    }
    resp->status = 202; /* accepted: ingestion continues in the background */
    return finish(&w, err);
}

int web_h_docs_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_document *docs = NULL;
    int n = 0, rc;
    int64_t coll;
    const char *status = web_req_query(req, "status");
    const char *q = web_req_query(req, "q");
    struct jw w;

    if ((rc = web_collection_resolve(req->ctx, web_req_query(req, "collection"), &coll, err)) ||
        (coll && (rc = web_coll_pick(req, &coll, err))))
        return rc;
    if ((rc = rag_documents_list(req->ctx->rag, coll, &docs, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "documents");
    for (int i = 0; i < n; i++) {
        if (status && status[0] && strcmp(status, docs[i].status) != 0)
            continue;
        if (q && q[0] && !strstr(docs[i].name, q))
            continue;
        if (!web_coll_visible(req, docs[i].collection_id))
            continue;
        rag_document_json(&w, NULL, &docs[i]);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_documents_free(docs, n);
    return finish(&w, err);
}

int web_h_doc_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_document d = {0};
    struct rag_chunk *chunks = NULL;
    const char *want = web_req_query(req, "chunks");
    bool with_chunks = !(want && strcmp(want, "0") == 0);
    int n = 0, rc;
    struct jw w;

    if ((rc = web_doc_visible(req, req->ids[0], err)) ||
        (rc = rag_document_get(req->ctx->rag, req->ids[0], &d, with_chunks ? &chunks : NULL, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_document_json(&w, "document", &d);
    jw_arr(&w, "chunks");
    for (int i = 0; i < n; i++) {
        jw_obj(&w, NULL);
        jw_int(&w, "id", chunks[i].id);
        jw_int(&w, "ordinal", chunks[i].ordinal);
        jw_str(&w, "heading_path", chunks[i].heading_path);
        jw_int(&w, "page_start", chunks[i].page_start);
        jw_int(&w, "page_end", chunks[i].page_end);
        jw_int(&w, "n_tokens", chunks[i].n_tokens);
        jw_str(&w, "text", chunks[i].text);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_chunks_free(chunks, n);
    rag_document_release(&d);
    return finish(&w, err);
}

int web_h_doc_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_document d = {0};
    struct jw w;
    char target[300];
    int n_unused = 0;
    int rc = web_doc_visible(req, req->ids[0], err);
    rc = rc ? rc : rag_document_get(req->ctx->rag, req->ids[0], &d, NULL, &n_unused, err);
    if (rc)
        return rc;
    snprintf(target, sizeof target, "%.250s (document %lld)", d.name, (long long)d.id);
    rag_document_release(&d);
    if ((rc = rag_document_delete(req->ctx->rag, req->ids[0], err)))
        return rc;
    web_audit(req, "document.delete", target, "");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "deleted", req->ids[0]);
    jw_end_obj(&w);
    return finish(&w, err);
}

/* Content-Disposition with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987). */
static int disposition(struct web_req *req, struct web_resp *resp, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    struct kb_buf b;
    int rc;
    kb_buf_init(&b, 8192);
    kb_buf_puts(&b, "attachment; filename=\"");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        kb_buf_putc(&b, (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '%') ? (char)*p : '_');
    kb_buf_puts(&b, "\"; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-_~", *p)) {
            kb_buf_putc(&b, (char)*p);
        } else {
            kb_buf_putc(&b, '%');
            kb_buf_putc(&b, hex[*p >> 4]);
            kb_buf_putc(&b, hex[*p & 15]);
        }
    }
    rc = web_resp_header(req, resp, "Content-Disposition", b.data ? b.data : "attachment");
    kb_buf_release(&b);
    return rc;
}

int web_h_doc_file(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_document d = {0};
    char path[4096];
    struct stat st;
    int rc, fd, n_unused = 0;

    if ((rc = web_doc_visible(req, req->ids[0], err)) ||
        (rc = rag_document_get(req->ctx->rag, req->ids[0], &d, NULL, &n_unused, err)))
        return rc;
    if ((rc = rag_document_file(req->ctx->rag, req->ids[0], path, sizeof path, err)))
        goto out_release;
    /* The path comes from rag, never from the request; O_NOFOLLOW refuses a planted symlink. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open the original of '%s': %s", d.name,
                          strerror(errno));
        goto out_release;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = kb_error_set(err, KB_EIO, "the original of '%s' is not a regular file", d.name);
        goto out_release;
    }
    resp->fd = fd;
    resp->fd_bytes = st.st_size;
    /* Served as an opaque attachment in a sandbox: an uploaded HTML file never runs in our origin. */
    resp->content_type = "application/octet-stream";
    disposition(req, resp, d.name);
    web_resp_header(req, resp, "Content-Security-Policy", "sandbox");
out_release:
    rag_document_release(&d);
    return rc;
}

int web_h_doc_reingest(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct jw w;
    int64_t job = 0;
    int rc = web_doc_visible(req, req->ids[0], err);
    rc = rc ? rc : rag_document_reingest(req->ctx->rag, req->ids[0], &job, err);
    if (rc)
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "document_id", req->ids[0]);
    jw_int(&w, "job_id", job);
    jw_end_obj(&w);
    resp->status = 202;
    return finish(&w, err);
}

static void job_json(struct jw *w, const struct rag_job *job)
{
    jw_obj(w, NULL);
    jw_int(w, "id", job->id);
    jw_str(w, "kind", job->kind);
    jw_int(w, "document_id", job->document_id);
    jw_str(w, "state", job->state);
    jw_num(w, "progress", job->progress);
    if (!strcmp(job->kind, "reembed")) {
        jw_int(w, "done", job->n_done);
        jw_int(w, "total", job->n_total);
    }
    jw_str(w, "error", job->error);
    jw_end_obj(w);
}

int web_h_job_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_job job;
    struct jw w;
    int rc;
    memset(&job, 0, sizeof job);
    if ((rc = rag_job_get(req->ctx->rag, req->ids[0], &job, err)))
        return rc;
    if (job.document_id > 0 && web_doc_visible(req, job.document_id, NULL))
        return kb_error_set(err, KB_ENOENT, "no job %lld", (long long)req->ids[0]);
    jw_init(&w, &resp->body);
    job_json(&w, &job);
    return finish(&w, err);
}

/* GET /api/jobs: the jobs still remembered, newest first (ingestion and re-embedding). */
int web_h_jobs_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_job *jobs = NULL;
    struct jw w;
    int n = 0, rc;
    if ((rc = rag_jobs_list(req->ctx->rag, &jobs, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "jobs");
    for (int i = 0; i < n; i++)
        if (!(jobs[i].document_id > 0 && web_doc_visible(req, jobs[i].document_id, NULL)))
            job_json(&w, &jobs[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    free(jobs);
    return finish(&w, err);
}

/* ---- collections ---------------------------------------------------------------------------------------------- */

struct name_body {
    char *name;
};

static const struct kb_jfield name_fields[] = {
    {.name = "name", .type = KB_J_STR, .off = offsetof(struct name_body, name), .required = true},
    {0},
};

static int decode_name(struct web_req *req, struct name_body *nb, struct kb_error *err)
{
    int rc;
    memset(nb, 0, sizeof *nb);
    if ((rc = kb_json_decode(req->body, req->body_bytes, name_fields, nb, &req->arena, err)))
        return rc;
    if (!nb->name[0] || strlen(nb->name) > 200)
        return kb_error_set(err, KB_EINVAL, "a collection name has 1 to 200 bytes");
    return 0;
}

int web_h_colls_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct rag_collection *c = NULL;
    int n = 0, rc;
    struct jw w;
    if ((rc = rag_collections_list(req->ctx->rag, &c, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_arr(&w, "collections");
    for (int i = 0; i < n; i++) {
        if (!web_coll_visible(req, c[i].id))
            continue;
        jw_obj(&w, NULL);
        jw_int(&w, "id", c[i].id);
        jw_str(&w, "name", c[i].name);
        jw_int(&w, "n_documents", c[i].n_documents);
        jw_int(&w, "created_at", c[i].created_at);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    rag_collections_free(c, n);
    return finish(&w, err);
}

int web_h_coll_create(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct name_body nb;
    struct jw w;
    int64_t id = 0;
    int rc;
    if (req->who.collections[0])
        return kb_error_set(err, KB_EFORBIDDEN, "this account sees only some collections and cannot make new ones");
    if ((rc = decode_name(req, &nb, err)) || (rc = rag_collection_create(req->ctx->rag, nb.name, &id, err)))
        return rc;
    web_audit(req, "collection.create", nb.name, "");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "id", id);
    jw_str(&w, "name", nb.name);
    jw_end_obj(&w);
    resp->status = 201;
    return finish(&w, err);
}

int web_h_coll_rename(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct name_body nb;
    struct jw w;
    char detail[64];
    int rc;
    if (!web_coll_visible(req, req->ids[0]))
        return kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)req->ids[0]);
    if ((rc = decode_name(req, &nb, err)) || (rc = rag_collection_rename(req->ctx->rag, req->ids[0], nb.name, err)))
        return rc;
    snprintf(detail, sizeof detail, "collection %lld renamed", (long long)req->ids[0]);
    web_audit(req, "collection.rename", nb.name, detail);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "id", req->ids[0]);
    jw_str(&w, "name", nb.name);
    jw_end_obj(&w);
    return finish(&w, err);
}

int web_h_coll_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct jw w;
    char target[32];
    int rc = web_coll_visible(req, req->ids[0])
                 ? rag_collection_delete(req->ctx->rag, req->ids[0], err)
                 : kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)req->ids[0]);
    if (rc)
        return rc;
    snprintf(target, sizeof target, "collection %lld", (long long)req->ids[0]);
    web_audit(req, "collection.delete", target, "");
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "deleted", req->ids[0]);
    jw_end_obj(&w);
    return finish(&w, err);
}

/* GET/PUT /api/collections/{id}/handoff: the collection's own handoff triggers (rag/coll_handoff.c;
 * PUT members absent keep their value) -> {"handoff": {...as stored, effective_handoff}}. */
int web_h_coll_handoff(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_coll_handoff h;
    const struct config *cfg;
    struct jw w;
    char target[32];
    int rc;
    if (!web_coll_visible(req, req->ids[0]))
        return kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)req->ids[0]);
    if (!strcmp(req->method, "PUT")) {
        if ((rc = rag_coll_handoff_put_json(req->ctx->rag, req->ids[0], req->body, req->body_bytes, err)))
            return rc;
        snprintf(target, sizeof target, "collection %lld", (long long)req->ids[0]);
        web_audit(req, "collection.handoff", target, "");
    }
    if ((rc = rag_coll_handoff_get(req->ctx->rag, req->ids[0], &req->arena, &h, err)))
        return rc;
    cfg = rag_config_get(req->ctx->rag);
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    rag_coll_handoff_json(&w, "handoff", &h, cfg);
    jw_end_obj(&w);
    rag_config_put(req->ctx->rag, cfg);
    return finish(&w, err);
}
