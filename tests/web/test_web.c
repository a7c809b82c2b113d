/* tests/web/test_web.c: integration tests of kbox's web layer. Each group starts the real server
 * (web_server_start over a real rag in a fresh temporary data directory) on 127.0.0.1 and an
 * ephemeral port, and drives it with raw HTTP (tests/web/http.c): every route, the error cases
 * (404, 405, 400 with a reason, 413 per route, 401/403, 429), uploads through multipart, answers
 * streamed as SSE, the OpenAI-compatible endpoints, CORS, path traversal, slow and vanishing
 * clients, concurrency, the setup link that replaced the generated admin token, and `kbox serve` itself with SIGTERM. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "infer/infer.h"
#include "rag/rag.h"
#include "web/web.h"

#include "http.h"
#include "webfix.h"
#include "../cli/serve.h"

#define TOKEN "test-admin-token-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN

/* Starts a server with the given extra settings ("key=value" list, NULL-terminated). */
static struct webfix *start(const char *const *extra)
{
    struct webfix *f = webfix_new("web");
    webfix_set(f, "server.admin_token", TOKEN);
    webfix_set(f, "server.max_body_bytes", "4096");
    webfix_set(f, "server.max_upload_bytes", "131072");
    webfix_set(f, "server.rate_limit_per_min", "100000");
    webfix_set(f, "ingest.workers", "1");
    for (int i = 0; extra && extra[i]; i++) {
        char key[128];
        const char *eq = strchr(extra[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - extra[i]), extra[i]);
        webfix_set(f, key, eq + 1);
    }
    webfix_start(f, 2);
    return f;
}

/* The sample documents' ids in the group's server (upload_samples). */
static int64_t doc_faq, doc_handbook;

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long len;
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, fp);
    buf[*n] = '\0';
    fclose(fp);
    return buf;
}

static int64_t json_int(const char *body, const char *key)
{
    char pat[128];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(body, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* GET/POST/... with optional JSON body; asserts the status. */
static void call(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                 int want, struct http_resp *r)
{
    assert_int_equal(http_req(f->port, method, path, hdrs, body, body ? strlen(body) : 0, r), 0);
    if (r->status != want)
        fail_msg("%s %s: status %d, want %d; body: %s", method, path, r->status, want, r->body);
}

static void expect_error(struct webfix *f, const char *method, const char *path, const char *const *hdrs,
                         const char *body, int want, const char *code)
{
    struct http_resp r;
    char pat[64];
    call(f, method, path, hdrs, body, want, &r);
    snprintf(pat, sizeof pat, "{\"error\":{\"code\":\"%s\"", code);
    if (!strstr(r.body, pat))
        fail_msg("%s %s: body %s lacks %s", method, path, r.body, pat);
    http_resp_free(&r);
}

/* Builds a multipart body of the given files (name, bytes) with a fixed boundary. */
static char *multipart(const char *const *names, const char *const *datas, const size_t *lens, int n, size_t *out_n)
{
    size_t cap = 4096, len = 0;
    char *b;
    for (int i = 0; i < n; i++)
        cap += lens[i] + 512;
    b = malloc(cap);
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(b + len, cap - len,
                                "--XbOuNdArY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                                "Content-Type: application/octet-stream\r\n\r\n",
                                names[i]);
        memcpy(b + len, datas[i], lens[i]);
        len += lens[i];
        len += (size_t)snprintf(b + len, cap - len, "\r\n");
    }
    len += (size_t)snprintf(b + len, cap - len, "--XbOuNdArY--\r\n");
    *out_n = len;
    return b;
}

static const char *const upload_hdrs[] = {AUTH, "Content-Type: multipart/form-data; boundary=XbOuNdArY", NULL};
static const char *const admin[] = {AUTH, NULL};
static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

static void wait_job(struct webfix *f, int64_t job)
{
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%lld", (long long)job);
    for (int i = 0; i < 600; i++) {
        struct http_resp r;
        call(f, "GET", path, admin, NULL, 200, &r);
        if (strstr(r.body, "\"state\":\"done\"")) {
            http_resp_free(&r);
            return;
        }
        if (strstr(r.body, "\"state\":\"failed\""))
            fail_msg("job %lld failed: %s", (long long)job, r.body);
        http_resp_free(&r);
        usleep(50000);
    }
    fail_msg("job %lld did not finish in 30 s", (long long)job);
}

/* Uploads the two English samples through the API and waits for them to be indexed. */
static void upload_samples(struct webfix *f)
{
    const char *names[2] = {"faq.md", "employee-handbook.txt"};
    char *datas[2];
    size_t lens[2] = {0, 0}, n;
    struct http_resp r;
    char *body;
    datas[0] = slurp(KBOX_SOURCE_DIR "/samples/en/faq.md", &lens[0]);
    datas[1] = slurp(KBOX_SOURCE_DIR "/samples/en/employee-handbook.txt", &lens[1]);
    assert_non_null(datas[0]);
    assert_non_null(datas[1]);
    body = multipart(names, (const char *const *)datas, lens, 2, &n);
    assert_int_equal(http_req(f->port, "POST", "/api/documents", upload_hdrs, body, n, &r), 0);
    if (r.status != 202)
        fail_msg("upload: %d %s", r.status, r.body);
    doc_faq = json_int(r.body, "document_id");
    doc_handbook = json_int(strstr(r.body, "employee-handbook.txt"), "document_id");
    assert_true(doc_faq > 0 && doc_handbook > 0 && doc_faq != doc_handbook);
    wait_job(f, json_int(r.body, "job_id"));
    wait_job(f, json_int(strstr(r.body, "employee-handbook.txt"), "job_id"));
    http_resp_free(&r);
    free(body);
    free(datas[0]);
    free(datas[1]);
}

static int group_setup(void **state)
{
    struct webfix *f = start(NULL);
    upload_samples(f);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    webfix_free(*state);
    return 0;
}

/* ---- routing and errors -------------------------------------------------------------------------- */

static void test_health_and_static(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char h[512];
    call(f, "GET", "/api/health", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    assert_true(json_int(r.body, "documents") >= 2);
    assert_true(json_int(r.body, "chunks") > 2);
    http_resp_free(&r);

    call(f, "GET", "/", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "<title>kbox</title>"));
    assert_non_null(http_header(&r, "Content-Security-Policy", h, sizeof h));
    assert_non_null(strstr(h, "script-src 'self'"));
    assert_non_null(strstr(http_header(&r, "Content-Type", h, sizeof h), "text/html"));
    http_resp_free(&r);
    call(f, "GET", "/static/app.js", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "textContent"));
    assert_null(strstr(r.body, "innerHTML ="));
    http_resp_free(&r);
    call(f, "GET", "/widget.js", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "attachShadow"));
    http_resp_free(&r);
    call(f, "HEAD", "/static/app.css", NULL, NULL, 200, &r);
    assert_int_equal(r.body_len, 0);
    http_resp_free(&r);
    expect_error(f, "GET", "/static/nope.js", NULL, NULL, 404, "ENOENT");
}

static void test_404_405(void **state)
{
    struct webfix *f = *state;
    expect_error(f, "GET", "/nope", NULL, NULL, 404, "ENOENT");
    expect_error(f, "GET", "/api/documents/abc", admin, NULL, 404, "ENOENT");
    expect_error(f, "GET", "/api/documents/0", admin, NULL, 404, "ENOENT");
    expect_error(f, "GET", "/api/documents/999999", admin, NULL, 404, "ENOENT");
    expect_error(f, "GET", "/api/jobs/999999", admin, NULL, 404, "ENOENT");
    expect_error(f, "GET", "/api/documents/999999/file", admin, NULL, 404, "ENOENT");
    expect_error(f, "POST", "/api/documents/999999/reingest", admin, NULL, 404, "ENOENT");
    expect_error(f, "PATCH", "/api/collections/999999", admin, "{\"name\":\"x\"}", 404, "ENOENT");
    expect_error(f, "POST", "/api/documents/1", admin, "{}", 405, "EMETHOD");
    expect_error(f, "PUT", "/api/jobs/1", admin, "{}", 405, "EMETHOD");
    expect_error(f, "DELETE", "/api/health", NULL, NULL, 405, "EMETHOD");
    expect_error(f, "GET", "/api/search", NULL, NULL, 405, "EMETHOD");
    expect_error(f, "PUT", "/api/ask", NULL, "{}", 405, "EMETHOD");
    expect_error(f, "POST", "/v1/models", NULL, "{}", 405, "EMETHOD");
}

static void test_bad_json(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    call(f, "POST", "/api/search", json_hdr, "{\"query\": \"x\",", 400, &r);
    assert_non_null(strstr(r.body, "EJSON"));
    assert_non_null(strstr(r.body, "malformed JSON at byte"));
    http_resp_free(&r);
    call(f, "POST", "/api/ask", json_hdr, "{}", 400, &r);
    assert_non_null(strstr(r.body, "missing member 'question'"));
    http_resp_free(&r);
    call(f, "POST", "/api/ask", json_hdr, "{\"question\": 5}", 400, &r);
    assert_non_null(strstr(r.body, "'question' must be a string"));
    http_resp_free(&r);
    call(f, "POST", "/api/search", json_hdr, "[1,2]", 400, &r);
    assert_non_null(strstr(r.body, "must be an object"));
    http_resp_free(&r);
    expect_error(f, "POST", "/api/search", json_hdr, "", 400, "EJSON");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"top_k\":1.5}", 400, "EJSON");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"top_k\":1e300}", 400, "EJSON");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"document_id\":-1e19}", 400, "EJSON");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\"} trailing", 400, "EJSON");
    {
        /* nesting deeper than cJSON's limit is refused, not recursed into */
        char deep[4000];
        size_t k = (size_t)snprintf(deep, sizeof deep, "{\"query\":\"a\",\"x\":");
        for (int i = 0; i < 1500; i++)
            deep[k++] = '[';
        for (int i = 0; i < 1500; i++)
            deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = '\0';
        expect_error(f, "POST", "/api/search", json_hdr, deep, 400, "EJSON");
    }
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"top_k\":1000}", 400, "EINVAL");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"mode\":\"psychic\"}", 400, "EINVAL");
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"a\",\"collection\":\"no-such\"}", 404, "ENOENT");
    expect_error(f, "POST", "/v1/chat/completions", json_hdr, "{\"messages\":\"hi\"}", 400, "EJSON");
    expect_error(f, "POST", "/v1/chat/completions", json_hdr, "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
                 400, "EINVAL");
    expect_error(f, "POST", "/v1/embeddings", json_hdr, "{\"input\":[1]}", 400, "EJSON");
}

/* Announces a body of n bytes with Expect: 100-continue and sends none, as careful clients do: an
 * over-cap announcement must be refused before any body byte is read. */
static int announce(struct webfix *f, const char *method, const char *path, const char *extra, long long n)
{
    char raw[1024];
    struct http_resp r;
    int status;
    snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s%sContent-Length: %lld\r\nExpect: 100-continue\r\n\r\n",
             method, path, extra ? extra : "", extra ? "\r\n" : "", n);
    assert_int_equal(http_raw(f->port, raw, strlen(raw), &r), 0);
    status = r.status;
    if (status == 413)
        assert_non_null(strstr(r.body, "ETOOBIG"));
    http_resp_free(&r);
    return status;
}

/* Sends a chunked body of n_chunks x 1 KiB (no Content-Length) and returns the status. */
static int chunked(struct webfix *f, const char *path, const char *headers, const char *prefix, int n_chunks,
                   const char *suffix)
{
    size_t n = 0, cap = (size_t)n_chunks * 1100 + 4096;
    char *req = malloc(cap);
    struct http_resp r;
    int status;
    n += (size_t)snprintf(req, cap, "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n%s\r\n\r\n", path,
                          headers);
    if (prefix)
        n += (size_t)snprintf(req + n, cap - n, "%zx\r\n%s\r\n", strlen(prefix), prefix);
    for (int i = 0; i < n_chunks; i++) {
        n += (size_t)snprintf(req + n, cap - n, "400\r\n");
        memset(req + n, 'a', 0x400);
        n += 0x400;
        n += (size_t)snprintf(req + n, cap - n, "\r\n");
    }
    if (suffix)
        n += (size_t)snprintf(req + n, cap - n, "%zx\r\n%s\r\n", strlen(suffix), suffix);
    n += (size_t)snprintf(req + n, cap - n, "0\r\n\r\n");
    assert_int_equal(http_raw(f->port, req, n, &r), 0);
    status = r.status;
    if (status == 413)
        assert_non_null(strstr(r.body, "ETOOBIG"));
    http_resp_free(&r);
    free(req);
    return status;
}

static void test_body_caps(void **state)
{
    struct webfix *f = *state;
    /* JSON routes: server.max_body_bytes is 4096 here */
    assert_int_equal(announce(f, "POST", "/api/search", "Content-Type: application/json", 8192), 413);
    assert_int_equal(announce(f, "POST", "/api/ask", NULL, 4097), 413);
    assert_int_equal(announce(f, "POST", "/v1/chat/completions", NULL, 1 << 20), 413);
    /* fixed caps: collections 16 KiB, settings 64 KiB; routes without a body take none */
    assert_int_equal(announce(f, "POST", "/api/collections", AUTH, 100000), 413);
    assert_int_equal(announce(f, "PUT", "/api/settings", AUTH, 70000), 413);
    assert_int_equal(announce(f, "GET", "/api/health", NULL, 2), 413);
    assert_int_equal(announce(f, "DELETE", "/api/documents/1", AUTH, 2), 413);
    /* uploads: server.max_upload_bytes is 128 KiB here */
    assert_int_equal(announce(f, "POST", "/api/documents", AUTH "\r\nContent-Type: multipart/form-data; boundary=XbOuNdArY",
                              200000), 413);
    /* a chunked body has no length up front: it is refused once it passes the cap */
    assert_int_equal(chunked(f, "/api/search", "Content-Type: application/json", "{\"query\":\"", 6, "\"}"), 413);
    assert_int_equal(chunked(f, "/api/search", "Content-Type: application/json", "{\"query\":\"", 2, "\"}"), 200);
}

static void test_auth(void **state)
{
    struct webfix *f = *state;
    static const char *const wrong[] = {"Authorization: Bearer not-the-token", NULL};
    static const char *const up_noauth[] = {"Content-Type: multipart/form-data; boundary=XbOuNdArY", NULL};
    static const char *const up_wrong[] = {"Authorization: Bearer nope",
                                           "Content-Type: multipart/form-data; boundary=XbOuNdArY", NULL};
    const char *names[1] = {"x.txt"}, *datas[1] = {"hello"};
    size_t lens[1] = {5}, n;
    char *body = multipart(names, datas, lens, 1, &n);
    struct http_resp r;
    expect_error(f, "GET", "/api/documents", NULL, NULL, 401, "EAUTH");
    expect_error(f, "GET", "/api/documents", wrong, NULL, 403, "EFORBIDDEN");
    expect_error(f, "GET", "/api/collections", NULL, NULL, 401, "EAUTH");
    expect_error(f, "DELETE", "/api/documents/1", NULL, NULL, 401, "EAUTH");
    expect_error(f, "GET", "/api/settings", NULL, NULL, 401, "EAUTH");
    expect_error(f, "PUT", "/api/settings", wrong, "{}", 403, "EFORBIDDEN");
    expect_error(f, "GET", "/api/jobs/1", NULL, NULL, 401, "EAUTH");
    assert_int_equal(http_req(f->port, "POST", "/api/documents", up_noauth, body, n, &r), 0);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    assert_int_equal(http_req(f->port, "POST", "/api/documents", up_wrong, body, n, &r), 0);
    assert_int_equal(r.status, 403);
    http_resp_free(&r);
    /* a prefix of the right token is not the token */
    {
        static const char *const prefix[] = {"Authorization: Bearer test-admin-token", NULL};
        expect_error(f, "GET", "/api/documents", prefix, NULL, 403, "EFORBIDDEN");
    }
    call(f, "GET", "/api/documents", admin, NULL, 200, &r);
    http_resp_free(&r);
    /* public by default: search and ask need no token */
    call(f, "POST", "/api/search", json_hdr, "{\"query\":\"refund\"}", 200, &r);
    http_resp_free(&r);
    free(body);
}

/* ---- documents ------------------------------------------------------------------------------------- */

static void test_documents(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char path[128], h[512];
    size_t n;
    char *orig;

    call(f, "GET", "/api/documents", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"name\":\"faq.md\""));
    assert_non_null(strstr(r.body, "\"status\":\"indexed\""));
    http_resp_free(&r);
    call(f, "GET", "/api/documents?q=handbook", admin, NULL, 200, &r);
    assert_null(strstr(r.body, "faq.md"));
    assert_non_null(strstr(r.body, "employee-handbook.txt"));
    http_resp_free(&r);

    snprintf(path, sizeof path, "/api/documents/%lld", (long long)doc_handbook);
    call(f, "GET", path, admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"chunks\":[{"));
    assert_non_null(strstr(r.body, "Annual leave"));
    http_resp_free(&r);

    snprintf(path, sizeof path, "/api/documents/%lld/file", (long long)doc_handbook);
    call(f, "GET", path, admin, NULL, 200, &r);
    orig = slurp(KBOX_SOURCE_DIR "/samples/en/employee-handbook.txt", &n);
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, orig, n);
    assert_non_null(http_header(&r, "Content-Disposition", h, sizeof h));
    assert_non_null(strstr(h, "attachment; filename=\"employee-handbook.txt\""));
    assert_non_null(http_header(&r, "Content-Security-Policy", h, sizeof h));
    free(orig);
    http_resp_free(&r);

    /* the same file again is a duplicate: same document, no job */
    {
        const char *names[1] = {"faq-again.md"};
        char *datas[1];
        size_t lens[1], bn;
        char *body;
        datas[0] = slurp(KBOX_SOURCE_DIR "/samples/en/faq.md", &lens[0]);
        body = multipart(names, (const char *const *)datas, lens, 1, &bn);
        assert_int_equal(http_req(f->port, "POST", "/api/documents", upload_hdrs, body, bn, &r), 0);
        assert_int_equal(r.status, 202);
        assert_int_equal(json_int(r.body, "document_id"), doc_faq);
        assert_non_null(strstr(r.body, "\"duplicate\":true"));
        http_resp_free(&r);
        free(body);
        free(datas[0]);
    }
    /* re-ingest gives a job that finishes */
    snprintf(path, sizeof path, "/api/documents/%lld/reingest", (long long)doc_faq);
    call(f, "POST", path, admin, NULL, 202, &r);
    assert_true(json_int(r.body, "job_id") > 0);
    wait_job(f, json_int(r.body, "job_id"));
    http_resp_free(&r);
    /* no files in the multipart body */
    {
        const char *body = "--XbOuNdArY\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XbOuNdArY--\r\n";
        assert_int_equal(http_req(f->port, "POST", "/api/documents", upload_hdrs, body, strlen(body), &r), 0);
        assert_int_equal(r.status, 400);
        http_resp_free(&r);
    }
    /* not multipart at all */
    expect_error(f, "POST", "/api/documents", admin, "{}", 415, "EFORMAT");
    /* a file no parser takes: refused at once, or accepted and then listed as failed with a reason */
    {
        const char *names[1] = {"blob.bin"};
        const char datas0[] = "\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\xff\xfe\x00\x01binary";
        const char *datas[1] = {datas0};
        size_t lens[1] = {sizeof datas0 - 1}, bn;
        char *body = multipart(names, datas, lens, 1, &bn);
        assert_int_equal(http_req(f->port, "POST", "/api/documents", upload_hdrs, body, bn, &r), 0);
        if (r.status == 202) {
            int64_t doc = json_int(r.body, "document_id"), job = json_int(r.body, "job_id");
            char jp[64];
            struct http_resp j;
            snprintf(jp, sizeof jp, "/api/jobs/%lld", (long long)job);
            for (int i = 0; i < 600; i++) {
                call(f, "GET", jp, admin, NULL, 200, &j);
                if (strstr(j.body, "\"state\":\"failed\"") || strstr(j.body, "\"state\":\"done\"")) {
                    assert_non_null(strstr(j.body, "\"state\":\"failed\""));
                    http_resp_free(&j);
                    break;
                }
                http_resp_free(&j);
                usleep(50000);
            }
            snprintf(jp, sizeof jp, "/api/documents/%lld?chunks=0", (long long)doc);
            call(f, "GET", jp, admin, NULL, 200, &j);
            assert_non_null(strstr(j.body, "\"status\":\"failed\""));
            assert_null(strstr(j.body, "\"error\":\"\""));
            http_resp_free(&j);
            call(f, "GET", "/api/documents?status=failed", admin, NULL, 200, &j);
            assert_non_null(strstr(j.body, "blob.bin"));
            assert_null(strstr(j.body, "faq.md"));
            http_resp_free(&j);
            snprintf(jp, sizeof jp, "/api/documents/%lld", (long long)doc);
            call(f, "DELETE", jp, admin, NULL, 200, &j);
            http_resp_free(&j);
        } else {
            assert_int_equal(r.status, 415);
        }
        http_resp_free(&r);
        free(body);
    }
}

static void test_upload_too_big(void **state)
{
    struct webfix *f = *state;
    const char *head = "--XbOuNdArY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\r\n";
    char cmd[400];
    int n_left = -1;
    FILE *p;
    /* streamed to disk until it passes 128 KiB, then refused; the partial file is removed */
    assert_int_equal(chunked(f, "/api/documents", AUTH "\r\nContent-Type: multipart/form-data; boundary=XbOuNdArY", head,
                             200, "\r\n--XbOuNdArY--\r\n"),
                     413);
    snprintf(cmd, sizeof cmd, "ls -A %s/uploads.tmp | wc -l", f->dir);
    p = popen(cmd, "r");
    assert_int_equal(fscanf(p, "%d", &n_left), 1);
    pclose(p);
    assert_int_equal(n_left, 0);
    /* the same upload under the cap goes through */
    assert_int_equal(chunked(f, "/api/documents", AUTH "\r\nContent-Type: multipart/form-data; boundary=XbOuNdArY", head,
                             20, "\r\n--XbOuNdArY--\r\n"),
                     202);
}

static void test_collections(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char path[64];
    int64_t id;
    call(f, "POST", "/api/collections", admin, "{\"name\":\"manuals\"}", 201, &r);
    id = json_int(r.body, "id");
    assert_true(id > 0);
    http_resp_free(&r);
    call(f, "GET", "/api/collections", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"name\":\"manuals\""));
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/collections/%lld", (long long)id);
    call(f, "PATCH", path, admin, "{\"name\":\"handbooks\"}", 200, &r);
    http_resp_free(&r);
    call(f, "GET", "/v1/models", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"id\":\"handbooks\""));
    assert_non_null(strstr(r.body, "\"id\":\"kbox\""));
    http_resp_free(&r);
    expect_error(f, "POST", "/api/collections", admin, "{\"name\":\"\"}", 400, "EINVAL");
    expect_error(f, "POST", "/api/collections", admin, "{\"nom\":\"x\"}", 400, "EJSON");
    /* upload into it by name, then search only there */
    {
        static const char *const up[] = {AUTH, "Content-Type: multipart/form-data; boundary=XbOuNdArY", NULL};
        const char *names[1] = {"kettle.md"};
        const char *datas[1] = {"# Kettle manual\n\nDescale the Zephyr kettle every month with citric acid.\n"};
        size_t lens[1], n;
        char *body;
        lens[0] = strlen(datas[0]);
        body = multipart(names, datas, lens, 1, &n);
        assert_int_equal(http_req(f->port, "POST", "/api/documents?collection=handbooks", up, body, n, &r), 0);
        assert_int_equal(r.status, 202);
        assert_int_equal(json_int(r.body, "collection_id"), id);
        wait_job(f, json_int(r.body, "job_id"));
        http_resp_free(&r);
        free(body);
        call(f, "POST", "/api/search", json_hdr, "{\"query\":\"descale kettle\",\"collection\":\"handbooks\"}", 200, &r);
        assert_non_null(strstr(r.body, "kettle.md"));
        assert_null(strstr(r.body, "faq.md"));
        http_resp_free(&r);
    }
    call(f, "DELETE", path, admin, NULL, 200, &r);
    http_resp_free(&r);
    call(f, "GET", "/api/collections", admin, NULL, 200, &r);
    assert_null(strstr(r.body, "handbooks"));
    http_resp_free(&r);
}

/* ---- search and answers --------------------------------------------------------------------------- */

static void test_search(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    call(f, "POST", "/api/search", json_hdr, "{\"query\":\"annual leave days\",\"top_k\":3}", 200, &r);
    assert_non_null(strstr(r.body, "\"hits\":[{"));
    assert_non_null(strstr(r.body, "employee-handbook.txt"));
    assert_non_null(strstr(r.body, "\"scores\":{\"bm25\":"));
    assert_non_null(strstr(r.body, "\"fused\":"));
    assert_non_null(strstr(r.body, "\"heading_path\":"));
    http_resp_free(&r);
    call(f, "POST", "/api/search", json_hdr, "{\"query\":\"annual leave\",\"mode\":\"bm25\",\"top_k\":1}", 200, &r);
    assert_non_null(strstr(r.body, "\"vector\":0"));
    http_resp_free(&r);
}

static void test_ask(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    const char *tok, *cit, *done;
    call(f, "POST", "/api/ask", json_hdr, "{\"question\":\"How many days of paid annual leave do employees get?\"}", 200,
         &r);
    assert_non_null(strstr(r.body, "\"answer\":\""));
    assert_non_null(strstr(r.body, "27"));
    assert_non_null(strstr(r.body, "\"citations\":[{\"n\":1"));
    assert_non_null(strstr(r.body, "\"document\":\"employee-handbook.txt\""));
    assert_non_null(strstr(r.body, "\"mode\":\"extractive\""));
    assert_non_null(strstr(r.body, "\"total_ms\":"));
    http_resp_free(&r);

    call(f, "POST", "/api/ask", json_hdr,
         "{\"question\":\"How many days of paid annual leave do employees get?\",\"stream\":true,"
         "\"conversation_id\":\"t1\"}",
         200, &r);
    {
        char h[128];
        assert_non_null(strstr(http_header(&r, "Content-Type", h, sizeof h), "text/event-stream"));
    }
    tok = strstr(r.body, "event: token\ndata: {\"text\":");
    cit = strstr(r.body, "event: citation\ndata: {\"n\":1,");
    done = strstr(r.body, "event: done\ndata: {\"answer\":");
    assert_non_null(tok);
    assert_non_null(cit);
    assert_non_null(done);
    assert_true(tok < cit && cit < done);
    assert_non_null(strstr(done, "\"conversation_id\":\"t1\""));
    assert_non_null(strstr(done, "\"query\":\"How many days of paid annual leave do employees get?\""));
    http_resp_free(&r);
    /* a short follow-up in the same conversation searches with the previous question's key terms */
    call(f, "POST", "/api/ask", json_hdr, "{\"question\":\"And sick days?\",\"conversation_id\":\"t1\"}", 200,
         &r);
    {
        const char *q = strstr(r.body, "\"query\":\"And sick days? ");
        assert_non_null(q);
        assert_true(strstr(q, "leave") && strstr(q, "leave") < strchr(q + 9, '"'));
    }
    http_resp_free(&r);
    expect_error(f, "POST", "/api/ask", json_hdr, "{\"question\":\"\"}", 400, "EINVAL");
}

static void test_openai(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    call(f, "POST", "/v1/chat/completions", json_hdr,
         "{\"model\":\"kbox\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
         "{\"role\":\"user\",\"content\":\"How many days do I have to return a product?\"}]}",
         200, &r);
    assert_non_null(strstr(r.body, "\"object\":\"chat.completion\""));
    assert_non_null(strstr(r.body, "\"role\":\"assistant\""));
    assert_non_null(strstr(r.body, "45"));
    assert_non_null(strstr(r.body, "\"finish_reason\":\"stop\""));
    http_resp_free(&r);
    call(f, "POST", "/v1/chat/completions", json_hdr,
         "{\"model\":\"kbox\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
         "\"text\":\"How many days do I have to return a product?\"}]}]}",
         200, &r);
    assert_non_null(strstr(r.body, "data: {\"id\":\"chatcmpl-"));
    assert_non_null(strstr(r.body, "\"object\":\"chat.completion.chunk\""));
    assert_non_null(strstr(r.body, "\"finish_reason\":\"stop\""));
    assert_non_null(strstr(r.body, "data: [DONE]\n\n"));
    http_resp_free(&r);
    expect_error(f, "POST", "/v1/chat/completions", json_hdr,
                 "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 404, "ENOENT");
    call(f, "POST", "/v1/embeddings", json_hdr, "{\"input\":[\"refund policy\",\"annual leave\"]}", 200, &r);
    assert_non_null(strstr(r.body, "\"object\":\"embedding\""));
    assert_non_null(strstr(r.body, "\"index\":1"));
    {
        /* count the floats of the first vector: the built-in embedder's dimension */
        const char *p = strstr(r.body, "\"embedding\":[");
        int commas = 0;
        assert_non_null(p);
        for (p += 13; *p && *p != ']'; p++)
            commas += *p == ',';
        assert_int_equal(commas + 1, (int)f->cfg.embed_dim);
    }
    http_resp_free(&r);
    call(f, "POST", "/v1/embeddings", json_hdr, "{\"input\":\"refund\",\"encoding_format\":\"base64\"}", 200, &r);
    {
        const char *p = strstr(r.body, "\"embedding\":\"");
        const char *e;
        assert_non_null(p);
        p += 13;
        e = strchr(p, '"');
        /* dim float32 values, base64: 4*ceil(4*dim/3) characters */
        assert_int_equal((int)(e - p), (int)(4 * ((4 * f->cfg.embed_dim + 2) / 3)));
    }
    http_resp_free(&r);
}

static void test_settings_and_widget(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    call(f, "PUT", "/api/settings", admin, "{\"widget.title\":\"Help desk\",\"index.top_k\":4}", 200, &r);
    assert_non_null(strstr(r.body, "\"widget.title\":\"Help desk\""));
    assert_non_null(strstr(r.body, "\"index.top_k\":4"));
    http_resp_free(&r);
    call(f, "GET", "/api/widget", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"title\":\"Help desk\""));
    http_resp_free(&r);
    call(f, "GET", "/api/settings", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"answer_mode\":\"extractive\""));
    http_resp_free(&r);
    expect_error(f, "PUT", "/api/settings", admin, "{\"no.such_key\":1}", 400, "ECONFIG");
    expect_error(f, "PUT", "/api/settings", admin, "{\"index.top_k\":0}", 400, "ECONFIG");
}

static void test_metrics(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    /* /metrics is the admin's unless server.public_metrics */
    call(f, "GET", "/metrics", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "# TYPE kbox_http_requests_total counter"));
    assert_non_null(strstr(r.body, "kbox_http_requests_total{route=\"health\",code=\"2xx\"}"));
    assert_non_null(strstr(r.body, "kbox_http_request_duration_seconds_bucket{route=\"search\",le=\"+Inf\"}"));
    assert_non_null(strstr(r.body, "kbox_documents "));
    assert_non_null(strstr(r.body, "kbox_chunks "));
    assert_non_null(strstr(r.body, "kbox_jobs{state=\"queued\"}"));
    assert_non_null(strstr(r.body, "kbox_tokens_per_second "));
    /* 404s are counted, never under a real route */
    assert_null(strstr(r.body, "route=\"unmatched\",code=\"4xx\"} 0\n"));
    http_resp_free(&r);
}

/* ---- hostile clients ------------------------------------------------------------------------------- */

static void test_traversal(void **state)
{
    struct webfix *f = *state;
    static const char *const paths[] = {
        "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc%2fpasswd",
        "/static/.%2e/web.h", "/static/%2fetc%2fpasswd", "/static/..\\..\\etc\\passwd", "/../../etc/passwd",
        "/api/documents/1/../../../etc/passwd", "/api/documents/1%2f..%2f..%2fetc%2fpasswd/file", "/static/.hidden",
        "/static/", "/widget.js/../../etc/passwd",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        struct http_resp r;
        char raw[512];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: localhost\r\n" AUTH "\r\nConnection: close\r\n\r\n", paths[i]);
        assert_int_equal(http_raw(f->port, raw, strlen(raw), &r), 0);
        if (r.status != 404 && r.status != 400)
            fail_msg("%s: status %d", paths[i], r.status);
        assert_null(strstr(r.body, "root:"));
        http_resp_free(&r);
    }
}

static void test_slow_and_vanishing_clients(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    /* a client that stops mid-stream */
    for (int i = 0; i < 3; i++) {
        int fd = http_connect(f->port);
        const char *body = "{\"question\":\"How do I return a product?\",\"stream\":true}";
        char req[512], buf[64];
        snprintf(req, sizeof req,
                 "POST /api/ask HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        assert_true(fd >= 0);
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        assert_true(recv(fd, buf, sizeof buf, 0) > 0);
        close(fd);
    }
    /* garbage instead of HTTP */
    assert_int_equal(http_raw(f->port, "\x16\x03\x01 hello\r\n\r\n", 13, &r), 0);
    assert_true(r.status == 0 || r.status == 400);
    http_resp_free(&r);
    /* half a request, then silence: the server must still answer everyone else */
    {
        int fd = http_connect(f->port);
        assert_true(fd >= 0);
        assert_true(send(fd, "POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{", 69, MSG_NOSIGNAL) > 0);
        call(f, "GET", "/api/health", NULL, NULL, 200, &r);
        http_resp_free(&r);
        close(fd);
    }
    call(f, "GET", "/api/health", NULL, NULL, 200, &r);
    http_resp_free(&r);
}

struct worker_arg {
    struct webfix *f;
    int kind; /* 0 ask, 1 upload, 2 search */
    int n_ok;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < 8; i++) {
        struct http_resp r;
        if (a->kind == 0) {
            const char *b = "{\"question\":\"What is the warranty period?\",\"stream\":true}";
            http_req(a->f->port, "POST", "/api/ask", json_hdr, b, strlen(b), &r);
            a->n_ok += r.status == 200 && strstr(r.body, "event: done") != NULL;
        } else if (a->kind == 1) {
            char name[64], text[256];
            const char *names[1] = {name}, *datas[1] = {text};
            size_t lens[1], n;
            char *body;
            snprintf(name, sizeof name, "note-%d.md", i);
            snprintf(text, sizeof text, "# Note %d\n\nThe blue widget number %d ships on Tuesdays.\n", i, i * 7919);
            lens[0] = strlen(text);
            body = multipart(names, datas, lens, 1, &n);
            http_req(a->f->port, "POST", "/api/documents", upload_hdrs, body, n, &r);
            a->n_ok += r.status == 202;
            free(body);
        } else {
            const char *b = "{\"query\":\"refund\"}";
            http_req(a->f->port, "POST", "/api/search", json_hdr, b, strlen(b), &r);
            a->n_ok += r.status == 200;
        }
        http_resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_uploads_and_asks(void **state)
{
    struct webfix *f = *state;
    pthread_t th[4];
    struct worker_arg args[4] = {{f, 0, 0}, {f, 0, 0}, {f, 1, 0}, {f, 2, 0}};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, &args[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(args[i].n_ok, 8);
}

static void test_delete_document(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char path[64];
    snprintf(path, sizeof path, "/api/documents/%lld", (long long)doc_faq);
    call(f, "DELETE", path, admin, NULL, 200, &r);
    http_resp_free(&r);
    expect_error(f, "GET", path, admin, NULL, 404, "ENOENT");
    expect_error(f, "DELETE", path, admin, NULL, 404, "ENOENT");
}

/* ---- separate servers: rate limits, private ask, CORS, the token file, kbox serve ------------------ */

static void test_rate_limit(void **state)
{
    static const char *const extra[] = {"server.rate_limit_per_min=3", NULL};
    struct webfix *f = start(extra);
    struct http_resp r;
    (void)state;
    for (int i = 0; i < 3; i++) {
        call(f, "POST", "/api/search", json_hdr, "{\"query\":\"x\"}", 200, &r);
        http_resp_free(&r);
    }
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"x\"}", 429, "ERATE");
    expect_error(f, "POST", "/api/ask", json_hdr, "{\"question\":\"x\"}", 429, "ERATE");
    expect_error(f, "GET", "/v1/models", NULL, NULL, 429, "ERATE");
    /* guessing the admin token is limited too */
    expect_error(f, "GET", "/api/documents", NULL, NULL, 429, "ERATE");
    /* the admin is not rate-limited, and neither are the UI's static files */
    call(f, "POST", "/api/search", admin, "{\"query\":\"x\"}", 200, &r);
    http_resp_free(&r);
    call(f, "GET", "/static/app.js", NULL, NULL, 200, &r);
    http_resp_free(&r);
    webfix_free(f);
}

static void test_private_ask(void **state)
{
    static const char *const extra[] = {"server.public_ask=false", NULL};
    struct webfix *f = start(extra);
    static const char *const wrong[] = {"Authorization: Bearer wrong", NULL};
    struct http_resp r;
    (void)state;
    expect_error(f, "POST", "/api/search", json_hdr, "{\"query\":\"x\"}", 401, "EAUTH");
    expect_error(f, "POST", "/api/ask", wrong, "{\"question\":\"x\"}", 403, "EFORBIDDEN");
    expect_error(f, "POST", "/v1/chat/completions", NULL, "{\"messages\":[]}", 401, "EAUTH");
    expect_error(f, "GET", "/api/widget", NULL, NULL, 401, "EAUTH");
    call(f, "POST", "/api/search", admin, "{\"query\":\"x\"}", 200, &r);
    http_resp_free(&r);
    call(f, "GET", "/api/health", NULL, NULL, 200, &r); /* health stays public */
    http_resp_free(&r);
    webfix_free(f);
}

static void test_cors(void **state)
{
    static const char *const extra[] = {"server.cors_origins=http://shop.example, https://www.example.org", NULL};
    struct webfix *f = start(extra);
    static const char *const ok_pre[] = {"Origin: http://shop.example", "Access-Control-Request-Method: POST", NULL};
    static const char *const bad_pre[] = {"Origin: http://evil.example", "Access-Control-Request-Method: POST", NULL};
    static const char *const ok_post[] = {"Origin: https://www.example.org", "Content-Type: application/json", NULL};
    static const char *const bad_post[] = {"Origin: http://evil.example", "Content-Type: application/json", NULL};
    static const char *const same[] = {"Origin: http://127.0.0.1:PORT", NULL};
    struct http_resp r;
    char h[256], origin_same[64];
    const char *same_hdr[2];
    (void)state;
    (void)same;
    call(f, "OPTIONS", "/api/ask", ok_pre, NULL, 204, &r);
    assert_string_equal(http_header(&r, "Access-Control-Allow-Origin", h, sizeof h), "http://shop.example");
    assert_non_null(strstr(http_header(&r, "Access-Control-Allow-Headers", h, sizeof h), "Content-Type"));
    http_resp_free(&r);
    expect_error(f, "OPTIONS", "/api/ask", bad_pre, NULL, 403, "EFORBIDDEN");
    call(f, "POST", "/api/ask", ok_post, "{\"question\":\"How do I return a product?\"}", 200, &r);
    assert_string_equal(http_header(&r, "Access-Control-Allow-Origin", h, sizeof h), "https://www.example.org");
    http_resp_free(&r);
    expect_error(f, "POST", "/api/ask", bad_post, "{\"question\":\"x\"}", 403, "EFORBIDDEN");
    expect_error(f, "GET", "/api/widget", bad_post, NULL, 403, "EFORBIDDEN");
    /* our own UI (same origin) needs no allowlist entry */
    snprintf(origin_same, sizeof origin_same, "Origin: http://127.0.0.1:%d", f->port);
    same_hdr[0] = origin_same;
    same_hdr[1] = NULL;
    call(f, "POST", "/api/search", same_hdr, "{\"query\":\"x\"}", 200, &r);
    assert_null(http_header(&r, "Access-Control-Allow-Origin", h, sizeof h));
    http_resp_free(&r);
    webfix_free(f);
}

/* Without auth.admin_token there is no token at all: no file is written, an old token is refused,
 * and a one-time setup token creates the first owner (once). */
static void test_setup_link(void **state)
{
    static const char *const extra[] = {"server.admin_token=", NULL};
    struct webfix *f;
    struct kb_error err = {0};
    struct web_opts o = {.host = NULL, .port = -1, .n_threads = 1, .access_log = false};
    char path[300], body[400], setup[80];
    struct stat st;
    struct http_resp r;
    (void)state;
    f = start(extra);
    snprintf(path, sizeof path, "%s/admin_token", f->dir);
    assert_int_equal(stat(path, &st), -1);
    assert_string_equal(web_server_admin_token(f->srv), "");
    assert_int_equal(strlen(web_server_setup_token(f->srv)), 64);
    kb_strlcpy(setup, web_server_setup_token(f->srv), sizeof setup);
    expect_error(f, "GET", "/api/documents", admin, NULL, 403, "EFORBIDDEN"); /* no token is configured */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"email\":\"boss@example.com\",\"password\":\"correct horse\"}",
             setup);
    expect_error(f, "POST", "/api/setup", NULL, "{\"token\":\"nope\",\"email\":\"x@example.com\",\"password\":\"12345678\"}",
                 403, "EFORBIDDEN");
    call(f, "POST", "/api/setup", NULL, body, 201, &r);
    assert_non_null(strstr(r.body, "\"role\":\"owner\""));
    http_resp_free(&r);
    expect_error(f, "POST", "/api/setup", NULL, body, 403, "EFORBIDDEN"); /* once */
    /* a restart with an owner makes no setup token */
    web_server_stop(f->srv);
    assert_int_equal(web_server_start(&f->srv, f->rag, &o, &err), 0);
    f->port = web_server_port(f->srv);
    assert_string_equal(web_server_setup_token(f->srv), "");
    webfix_free(f);
}

static void test_timeout(void **state)
{
    static const char *const extra[] = {"server.timeout_s=1", NULL};
    struct webfix *f = start(extra);
    char buf[256];
    int fd;
    ssize_t k;
    double t0;
    (void)state;
    fd = http_connect(f->port);
    assert_true(fd >= 0);
    assert_true(send(fd, "GET /api/health HTTP/1.1\r\nHost:", 31, MSG_NOSIGNAL) > 0);
    t0 = kb_now_s();
    k = recv(fd, buf, sizeof buf, 0); /* blocks until the server drops us (or 30 s) */
    assert_true(k <= 0);
    assert_true(kb_now_s() - t0 < 10.0);
    close(fd);
    webfix_free(f);
}

struct stop_arg {
    struct web_server *srv;
    double took_s;
};

static void *stop_thread(void *p)
{
    struct stop_arg *a = p;
    double t0 = kb_now_s();
    web_server_stop(a->srv);
    a->took_s = kb_now_s() - t0;
    return NULL;
}

/* Shutdown lets a request that is in flight finish, and accepts no new connections meanwhile. */
static void test_graceful_stop(void **state)
{
    struct webfix *f = start(NULL);
    const char *body = "{\"query\":\"refund policy\"}";
    char req[512], buf[4096];
    struct stop_arg a = {f->srv, 0};
    pthread_t th;
    size_t n = 0;
    ssize_t k;
    int fd = http_connect(f->port);
    (void)state;
    assert_true(fd >= 0);
    snprintf(req, sizeof req,
             "POST /api/search HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%.5s",
             strlen(body), body);
    assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) > 0);
    usleep(100000);
    pthread_create(&th, NULL, stop_thread, &a);
    usleep(300000);
    assert_int_equal(http_connect(f->port), -1); /* no longer accepting */
    assert_true(send(fd, body + 5, strlen(body) - 5, MSG_NOSIGNAL) > 0);
    while (n < sizeof buf - 1 && (k = recv(fd, buf + n, sizeof buf - 1 - n, 0)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
    pthread_join(th, NULL);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "\"hits\":"));
    assert_true(a.took_s < 5.0);
    f->srv = NULL; /* stopped already */
    webfix_free(f);
}

/* `kbox serve --port 0`: prints the URL and the setup link, serves, and exits 0 on SIGTERM. */
static void test_kbox_serve(void **state)
{
    char dir[] = "/tmp/kbox-serve-test-XXXXXX";
    struct kbox_server srv;
    (void)state;
    assert_non_null(mkdtemp(dir));
    if (kbox_serve_start(&srv, dir, NULL))
        fail_msg("kbox serve printed: %s", srv.printed);
    assert_non_null(strstr(srv.printed, "#setup=")); /* a new data directory: the one-time owner link */
    {
        struct http_resp r;
        assert_int_equal(http_req(srv.port, "GET", "/api/health", NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        http_resp_free(&r);
    }
    assert_int_equal(kbox_serve_stop(&srv), 0);
    webfix_rmtree(dir);
}

/* ---- models: the settings page's backend ------------------------------------------------------------ */

#define BERT_FILE KBOX_SHARED_DIR "/conformance/bert_f32.gguf"

static void wait_reembed_done(struct webfix *f)
{
    for (int i = 0; i < 1200; i++) {
        struct http_resp r;
        const char *p;
        call(f, "GET", "/api/jobs", admin, NULL, 200, &r);
        p = strstr(r.body, "\"kind\":\"reembed\"");
        assert_non_null(p);
        assert_non_null(strstr(p, "\"total\":"));
        if (!strncmp(strstr(p, "\"state\":"), "\"state\":\"done\"", 14)) {
            assert_non_null(strstr(p, "\"progress\":1"));
            http_resp_free(&r);
            return;
        }
        if (!strncmp(strstr(p, "\"state\":"), "\"state\":\"failed\"", 16))
            fail_msg("re-embedding failed: %s", r.body);
        http_resp_free(&r);
        usleep(50000);
    }
    fail_msg("the re-embedding did not finish in 60 s");
}

static void test_models(void **state)
{
    (void)state;
    struct webfix *f = start(NULL);
    struct infer_synth_params sp;
    struct kb_error err = {0};
    struct http_resp r;
    char models[300], path[400];
    bool have_bert = access(BERT_FILE, R_OK) == 0;
    FILE *fp;
    snprintf(models, sizeof models, "%s/models", f->dir);
    assert_int_equal(mkdir(models, 0755), 0);
    snprintf(path, sizeof path, "%s/chat.gguf", models);
    infer_synth_params_default(&sp, "llama");
    sp.type = infer_type_from_name("Q8_0");
    sp.seed = 5;
    assert_int_equal(infer_synth_write(path, &sp, &err), 0);
    snprintf(path, sizeof path, "%s/broken.gguf", models);
    fp = fopen(path, "w");
    fputs("not a model", fp);
    fclose(fp);
    if (have_bert) {
        snprintf(path, sizeof path, "%s/bge.gguf", models);
        assert_int_equal(symlink(BERT_FILE, path), 0);
    }

    expect_error(f, "GET", "/api/models", NULL, NULL, 401, "EAUTH");
    expect_error(f, "GET", "/api/jobs", NULL, NULL, 401, "EAUTH");
    call(f, "GET", "/api/jobs", admin, NULL, 200, &r);
    assert_string_equal(r.body, "{\"jobs\":[]}");
    http_resp_free(&r);
    call(f, "GET", "/api/models", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "{\"models\":[{\"file\":\""));
    assert_non_null(strstr(r.body, "{\"file\":\"broken.gguf\",\"arch\":null,\"kind\":null,"));
    assert_non_null(strstr(r.body, "\"fits\":true,\"error\":\""));
    assert_non_null(strstr(r.body, "{\"file\":\"chat.gguf\",\"arch\":\"llama\",\"kind\":\"generative\",\"params\":"));
    assert_non_null(strstr(r.body, "\"type\":\"Q8_0\",\"bytes\":"));
    assert_non_null(strstr(r.body, "\"fits\":true,\"error\":null}"));
    if (have_bert)
        assert_non_null(strstr(r.body, "{\"file\":\"bge.gguf\",\"arch\":\"bert\",\"kind\":\"embedding\","));
    assert_non_null(strstr(r.body, "\"answer_model\":\"\",\"embed_model\":\"\",\"folder\":\""));
    assert_non_null(strstr(r.body, "/models\"}"));
    http_resp_free(&r);

    /* answer.model: refused before loading, then loaded and unloaded */
    expect_error(f, "PUT", "/api/settings", admin, "{\"answer.model\":\"../chat.gguf\"}", 400, "ECONFIG");
    expect_error(f, "PUT", "/api/settings", admin, "{\"answer.model\":\"missing.gguf\"}", 404, "ENOENT");
    expect_error(f, "PUT", "/api/settings", admin, "{\"answer.model\":\"broken.gguf\"}", 415, "EFORMAT");
    expect_error(f, "PUT", "/api/settings", admin, "{\"embed.model\":\"chat.gguf\"}", 400, "EINVAL");
    call(f, "PUT", "/api/settings", admin, "{\"answer.model\":\"chat.gguf\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"answer.model\":\"chat.gguf\""));
    assert_non_null(strstr(r.body, "\"answer_mode\":\"generative\""));
    http_resp_free(&r);
    call(f, "GET", "/api/models", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"answer_model\":\"chat.gguf\""));
    http_resp_free(&r);
    call(f, "PUT", "/api/settings", admin, "{\"answer.model\":\"\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"answer_mode\":\"extractive\""));
    http_resp_free(&r);

    /* embed.model: search goes on while the job re-embeds, then uses the model */
    if (have_bert) {
        upload_samples(f);
        call(f, "GET", "/api/jobs", admin, NULL, 200, &r);
        assert_non_null(strstr(r.body, "{\"jobs\":[{\"id\":2,\"kind\":\"ingest\",\"document_id\":"));
        assert_non_null(strstr(r.body, "\"state\":\"done\",\"progress\":1"));
        http_resp_free(&r);
        call(f, "PUT", "/api/settings", admin, "{\"embed.model\":\"bge.gguf\"}", 200, &r);
        assert_non_null(strstr(r.body, "\"embed.model\":\"bge.gguf\""));
        http_resp_free(&r);
        call(f, "POST", "/api/search", admin, "{\"query\":\"vacation days\"}", 200, &r);
        assert_non_null(strstr(r.body, "employee-handbook.txt"));
        http_resp_free(&r);
        wait_reembed_done(f);
        call(f, "GET", "/api/health", NULL, NULL, 200, &r);
        assert_non_null(strstr(r.body, "\"search_embedder\":\"gguf:bge.gguf"));
        assert_non_null(strstr(r.body, "\"reembedding\":false"));
        http_resp_free(&r);
        call(f, "GET", "/api/models", admin, NULL, 200, &r);
        assert_non_null(strstr(r.body, "\"embed_model\":\"bge.gguf\""));
        http_resp_free(&r);
        call(f, "POST", "/api/search", admin, "{\"query\":\"vacation days\"}", 200, &r);
        assert_non_null(strstr(r.body, "employee-handbook.txt"));
        http_resp_free(&r);
    }
    webfix_free(f);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_health_and_static),
        cmocka_unit_test(test_404_405),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_body_caps),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_upload_too_big),
        cmocka_unit_test(test_collections),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_ask),
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_settings_and_widget),
        cmocka_unit_test(test_traversal),
        cmocka_unit_test(test_slow_and_vanishing_clients),
        cmocka_unit_test(test_concurrent_uploads_and_asks),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_delete_document),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_rate_limit),   cmocka_unit_test(test_private_ask), cmocka_unit_test(test_cors),
        cmocka_unit_test(test_setup_link), cmocka_unit_test(test_timeout), cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_kbox_serve),  cmocka_unit_test(test_models),
    };
    int failed;
    signal(SIGPIPE, SIG_IGN);
    kb_log_set_level(KB_LOG_WARN);
    failed = cmocka_run_group_tests_name("web", shared, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("web_own_servers", own, NULL, NULL);
    return failed;
}
