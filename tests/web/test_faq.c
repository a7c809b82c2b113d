/* tests/web/test_faq.c: the FAQ editor's routes (web/api_faq.c) over real HTTP on 127.0.0.1: a real
 * server (web_server_start over a real rag in a fresh data directory) driven with raw requests
 * (tests/web/http.c). Every route and its errors: 400 naming the empty field, malformed JSON, bad
 * citations, paging arguments and import rows ("row 3: ..."), 401 without the token, 404 for unknown
 * ids and collections; versions on edit, a similar question attached, all-or-nothing CSV and XLSX
 * import (a bad XLSX row made with ingest_sheet_write), the log naming the version that answered,
 * CSV and XLSX export and re-import, and /api/ask answering a paraphrase with mode "curated". */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "rag/rag.h"
#include "web/web.h"

#include "http.h"
#include "webfix.h"

#define TOKEN "test-admin-token-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN

static const char *const admin[] = {AUTH, NULL};

static int setup(void **state)
{
    struct webfix *f = webfix_new("faq");
    webfix_set(f, "server.admin_token", TOKEN);
    webfix_set(f, "server.rate_limit_per_min", "100000");
    webfix_set(f, "log.level", "warn");
    webfix_start(f, 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    webfix_free(*state);
    return 0;
}

/* method path [body] -> the response, status asserted. */
static void call_n(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                   size_t n, int want, struct http_resp *r)
{
    assert_int_equal(http_req(f->port, method, path, hdrs, body, n, r), 0);
    if (r->status != want)
        fail_msg("%s %s: status %d, want %d; body: %s", method, path, r->status, want, r->body);
}

static void call(struct webfix *f, const char *method, const char *path, const char *body, int want,
                 struct http_resp *r)
{
    call_n(f, method, path, admin, body, body ? strlen(body) : 0, want, r);
}

/* Expects an error status whose body holds code and message text. */
static void expect_error(struct webfix *f, const char *method, const char *path, const char *body, int want,
                         const char *code, const char *msg)
{
    struct http_resp r;
    char pat[64];
    call(f, method, path, body, want, &r);
    snprintf(pat, sizeof pat, "{\"error\":{\"code\":\"%s\"", code);
    if (!strstr(r.body, pat) || (msg && !strstr(r.body, msg)))
        fail_msg("%s %s: body %s lacks %s / %s", method, path, r.body, pat, msg ? msg : "");
    http_resp_free(&r);
}

static int64_t json_int(const char *body, const char *key)
{
    char pat[128];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(body, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static int64_t total(struct webfix *f)
{
    struct http_resp r;
    int64_t t;
    call(f, "GET", "/api/faq", NULL, 200, &r);
    t = json_int(r.body, "total");
    http_resp_free(&r);
    return t;
}

static void test_crud(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char path[96];
    int64_t id;

    /* create: 201 with the entry; bad input names the field */
    call(f, "POST", "/api/faq",
         "{\"question\":\"How long does delivery to Iceland take?\","
         "\"similar_questions\":[\"When will my parcel reach Reykjavik?\"],"
         "\"answer\":\"About three weeks by sea freight.\"}",
         201, &r);
    id = json_int(r.body, "id");
    assert_true(id > 0);
    assert_int_equal(json_int(r.body, "version"), 1);
    assert_non_null(strstr(r.body, "\"similar_questions\":[\"When will my parcel reach Reykjavik?\"]"));
    http_resp_free(&r);
    expect_error(f, "POST", "/api/faq", "{\"question\":\"\",\"answer\":\"x\"}", 400, "EINVAL", "question is empty");
    expect_error(f, "POST", "/api/faq", "{\"question\":\"Why?\",\"answer\":\" \"}", 400, "EINVAL", "answer is empty");
    expect_error(f, "POST", "/api/faq", "{\"answer\":\"x\"}", 400, "EINVAL", "question is empty");
    expect_error(f, "POST", "/api/faq", "{\"question\":", 400, "EJSON", NULL);
    expect_error(f, "POST", "/api/faq", "{\"question\":\"a\",\"answer\":\"b\",\"citations\":[\"x\"]}", 400, "EINVAL",
                 "citations");
    expect_error(f, "POST", "/api/faq", "{\"question\":\"a\",\"answer\":\"b\",\"citations\":[424242]}", 400,
                 "EINVAL", "no document with id 424242");
    expect_error(f, "POST", "/api/faq", "{\"question\":\"a\",\"answer\":\"b\",\"collection\":\"nope\"}", 404,
                 "ENOENT", NULL);
    {
        struct http_resp u;
        call_n(f, "POST", "/api/faq", NULL, "{\"question\":\"a\",\"answer\":\"b\"}", 28, 401, &u);
        http_resp_free(&u);
        call_n(f, "GET", "/api/faq", NULL, NULL, 0, 401, &u);
        http_resp_free(&u);
    }

    /* read, list, search, paging */
    snprintf(path, sizeof path, "/api/faq/%lld", (long long)id);
    call(f, "GET", path, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"question\":\"How long does delivery to Iceland take?\""));
    http_resp_free(&r);
    expect_error(f, "GET", "/api/faq/999999", NULL, 404, "ENOENT", "no curated answer with id 999999");
    call(f, "GET", "/api/faq?q=Reykjavik", NULL, 200, &r);
    assert_int_equal(json_int(r.body, "total"), 1);
    http_resp_free(&r);
    call(f, "GET", "/api/faq?q=Lisbon", NULL, 200, &r);
    assert_int_equal(json_int(r.body, "total"), 0);
    http_resp_free(&r);
    call(f, "GET", "/api/faq?page=2&page_size=1", NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"faq\":[]"));
    http_resp_free(&r);
    expect_error(f, "GET", "/api/faq?page=0", NULL, 400, "EINVAL", "page");
    expect_error(f, "GET", "/api/faq?page_size=5000", NULL, 400, "EINVAL", "page_size");

    /* /api/ask answers a paraphrase with it, mode curated */
    call(f, "POST", "/api/ask", "{\"question\":\"When does a parcel reach Reykjavik?\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"mode\":\"curated\""));
    assert_non_null(strstr(r.body, "About three weeks by sea freight."));
    http_resp_free(&r);
    call(f, "GET", path, NULL, 200, &r);
    assert_int_equal(json_int(r.body, "uses"), 1);
    http_resp_free(&r);

    /* update: a new version; absent members stay; bad input changes nothing */
    call(f, "PUT", path, "{\"answer\":\"About three weeks by sea, or four days by air.\"}", 200, &r);
    assert_int_equal(json_int(r.body, "version"), 2);
    assert_non_null(strstr(r.body, "When will my parcel reach Reykjavik?"));
    http_resp_free(&r);
    /* the next answer is the new version's, and the log names which version answered each time */
    call(f, "POST", "/api/ask", "{\"question\":\"When does a parcel reach Reykjavik?\"}", 200, &r);
    assert_non_null(strstr(r.body, "four days by air"));
    http_resp_free(&r);
    call(f, "GET", "/api/logs/export?format=jsonl", NULL, 200, &r);
    {
        const char *v1 = strstr(r.body, "\"curated_version\":1"), *v2 = strstr(r.body, "\"curated_version\":2");
        assert_non_null(v1);
        assert_non_null(v2);
        assert_true(v1 < v2); /* oldest first */
        assert_int_equal(json_int(r.body, "curated_id"), id);
    }
    http_resp_free(&r);
    expect_error(f, "PUT", path, "{\"answer\":\"\"}", 400, "EINVAL", "answer is empty");
    expect_error(f, "PUT", "/api/faq/999999", "{\"answer\":\"x\"}", 404, "ENOENT", NULL);

    /* a similar question attached (the review inbox's call) */
    snprintf(path, sizeof path, "/api/faq/%lld/similar", (long long)id);
    call(f, "POST", path, "{\"question\":\"Is there air freight to Iceland?\"}", 200, &r);
    assert_int_equal(json_int(r.body, "version"), 3);
    assert_non_null(strstr(r.body, "Is there air freight to Iceland?"));
    http_resp_free(&r);
    expect_error(f, "POST", path, "{\"question\":\"  \"}", 400, "EINVAL", "question is empty");
    expect_error(f, "POST", "/api/faq/999999/similar", "{\"question\":\"x\"}", 404, "ENOENT", NULL);

    /* versions: newest first, the old text kept */
    snprintf(path, sizeof path, "/api/faq/%lld/versions", (long long)id);
    call(f, "GET", path, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"version\":3"));
    assert_non_null(strstr(r.body, "\"answer\":\"About three weeks by sea freight.\""));
    assert_true(strstr(r.body, "\"version\":3") < strstr(r.body, "\"version\":1"));
    http_resp_free(&r);
    expect_error(f, "GET", "/api/faq/999999/versions", NULL, 404, "ENOENT", NULL);

    /* the hidden document is no listed document */
    call(f, "GET", "/api/documents", NULL, 200, &r);
    assert_null(strstr(r.body, "Iceland"));
    http_resp_free(&r);

    /* delete */
    snprintf(path, sizeof path, "/api/faq/%lld", (long long)id);
    call(f, "DELETE", path, NULL, 200, &r);
    assert_int_equal(json_int(r.body, "deleted"), id);
    http_resp_free(&r);
    expect_error(f, "DELETE", path, NULL, 404, "ENOENT", NULL);
    expect_error(f, "GET", path, NULL, 404, "ENOENT", NULL);
}

static void test_import_export(void **state)
{
    struct webfix *f = *state;
    static const char bad[] = "question,similar_questions,answer\n"
                              "Do you sell gift cards?,,\"Yes, from 10 GBP.\"\n"
                              "Do gift cards expire?,,\n";
    static const char good[] = "question,similar_questions,answer\n"
                               "Do you sell gift cards?,Can I buy a voucher?|Gift voucher,\"Yes, from 10 GBP.\"\n"
                               "Do gift cards expire?,\"Is there an end date on a gift card?\",After 24 months.\n";
    const char *const csv_hdr[] = {AUTH, "Content-Type: text/csv", NULL};
    struct http_resp r;
    char ctype[128];
    int64_t before = total(f);
    char *xlsx;
    size_t xlsx_n;

    call_n(f, "POST", "/api/faq/import", csv_hdr, bad, strlen(bad), 400, &r);
    assert_non_null(strstr(r.body, "row 3: answer is empty"));
    http_resp_free(&r);
    assert_int_equal(total(f), before); /* nothing imported */
    call_n(f, "POST", "/api/faq/import", csv_hdr, good, strlen(good), 200, &r);
    assert_int_equal(json_int(r.body, "imported"), 2);
    http_resp_free(&r);
    assert_int_equal(total(f), before + 2);
    expect_error(f, "POST", "/api/faq/import", NULL, 400, "EINVAL", "the body must be the CSV or XLSX file");
    expect_error(f, "POST", "/api/faq/import?format=pdf", "x", 400, "EINVAL", "format must be csv or xlsx");
    expect_error(f, "POST", "/api/faq/import?format=xlsx", "not a zip", 422, "ECORRUPT", NULL);
    expect_error(f, "POST", "/api/faq/import?collection=nope", "a,b", 404, "ENOENT", NULL);

    /* a paraphrase of an imported similar question */
    call(f, "POST", "/api/ask", "{\"question\":\"Can I buy a gift voucher?\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"mode\":\"curated\""));
    http_resp_free(&r);

    /* export: CSV and XLSX; the XLSX imports back */
    call(f, "GET", "/api/faq/export?format=csv", NULL, 200, &r);
    assert_non_null(http_header(&r, "Content-Type", ctype, sizeof ctype));
    assert_non_null(strstr(ctype, "text/csv"));
    assert_non_null(http_header(&r, "Content-Disposition", ctype, sizeof ctype));
    assert_non_null(strstr(r.body, "\"Can I buy a voucher?\nGift voucher\""));
    http_resp_free(&r);
    call(f, "GET", "/api/faq/export?format=xlsx", NULL, 200, &r);
    assert_true(r.body_len > 200);
    assert_memory_equal(r.body, "PK\x03\x04", 4);
    xlsx = r.body;
    xlsx_n = r.body_len;
    r.body = NULL;
    http_resp_free(&r);
    call_n(f, "POST", "/api/faq/import", admin, xlsx, xlsx_n, 200, &r);
    assert_int_equal(json_int(r.body, "imported"), before + 2);
    http_resp_free(&r);
    free(xlsx);
    assert_int_equal(total(f), 2 * (before + 2));
    expect_error(f, "GET", "/api/faq/export?format=doc", NULL, 400, "EINVAL", "format must be csv or xlsx");

    /* an XLSX upload with a bad row (row 3 has no question): 400 naming the row, nothing imported */
    {
        static const char *const cells[] = {"question", "similar_questions", "answer", "Do you ship to Malta?", "",
                                            "Yes, in five days.", "", "Malta shipping", "Answer without a question."};
        struct kb_buf bx;
        struct kb_error err = {0};
        int64_t mid = total(f);
        kb_buf_init(&bx, 0);
        assert_int_equal(ingest_sheet_write(cells, 3, 3, &bx, &err), 0);
        call_n(f, "POST", "/api/faq/import", admin, bx.data, bx.len, 400, &r);
        assert_non_null(strstr(r.body, "row 3: question is empty"));
        http_resp_free(&r);
        assert_int_equal(total(f), mid);
        kb_buf_release(&bx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_import_export),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
