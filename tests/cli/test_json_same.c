/* tests/cli/test_json_same.c: `kbox ask --json` and `kbox search --json` print the same objects as
 * POST /api/ask and POST /api/search (both render through rag/render.c). The samples (English and
 * Chinese) are ingested with the CLI into a fresh data directory; every question is asked and
 * searched with the CLI, then `kbox serve --port 0` is started on 127.0.0.1 over the same
 * directory and asked the same things over HTTP, also with stream:true (the SSE "done" event
 * carries the same answer object); `kbox docs --json` is compared with GET /api/documents. Both sides are parsed with base's JSON reader and compared as
 * trees, without the timing members ("timings", "took_ms"), which differ from run to run, and the
 * conversation log's "message_id" and "conversation_secret" (HTTP answers only). */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#include "../support/run.h"
#include "../web/http.h"
#include "serve.h"

#define SAMPLES KBOX_SOURCE_DIR "/samples"
#define TOKEN "json-same-admin-token-0123456789abcdef"

/* English and Chinese sample questions (samples/QUESTIONS.md), answered ones and a fallback. */
static const char *const questions[] = {
    "How many days do I have to return a kettle?",
    "How many days of paid annual leave do full-time employees get?",
    "电水壶签收后多少天内可以退货？",
    "寄到欧盟的运费是多少？",
    "鹭溪在上海有门店吗？",
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

/* Parses text as one JSON object and drops the members that legitimately differ (timings). */
static struct kb_json *parse_comparable(const char *what, const char *text, size_t n)
{
    struct kb_json *v = NULL;
    struct kb_error err = {0};
    if (kb_json_parse(&v, text, n, NULL, &err) || kb_json_kind(v) != KB_JSON_OBJECT)
        fail_msg("%s: not one JSON object (%s): %s", what, err.msg, text);
    kb_json_remove(v, "timings");
    kb_json_remove(v, "took_ms");
    /* the conversation log's keys: only HTTP answers are logged (the CLI asks with no channel) */
    kb_json_remove(v, "message_id");
    kb_json_remove(v, "conversation_secret");
    return v;
}

static void expect_same(const char *what, const char *cli_text, const char *api_text, size_t api_n)
{
    struct kb_json *a = parse_comparable(what, cli_text, strlen(cli_text));
    struct kb_json *b = parse_comparable(what, api_text, api_n);
    if (!kb_json_equal(a, b)) {
        char *pa = kb_json_print(a), *pb = kb_json_print(b);
        fail_msg("%s: the CLI and the API differ\ncli: %s\napi: %s", what, pa, pb);
    }
    kb_json_free(a);
    kb_json_free(b);
}

/* `kbox CMD [TEXT] --json` over dir: its stdout (caller frees). */
static char *kbox_json(const char *dir, const char *cmd, const char *text)
{
    struct run_result r;
    char *argv[] = {KBOX_BIN, "--data-dir", (char *)dir, "--set", "log.level=warn", (char *)cmd,
                    (char *)(text ? text : "--json"), text ? "--json" : NULL, NULL};
    char *out;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("kbox %s exited %d: %s", cmd, r.exit_code, r.err);
    out = kb_xstrdup(r.out);
    run_result_free(&r);
    return out;
}

/* POST path {key: text, [stream: true]} to the server; the response body (caller frees). */
static char *api_post(int port, const char *path, const char *key, const char *text, bool stream, size_t *n)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    struct kb_buf body;
    struct jw w;
    struct http_resp r;
    char *out;
    kb_buf_init(&body, 0);
    jw_init(&w, &body);
    jw_obj(&w, NULL);
    jw_str(&w, key, text);
    if (stream)
        jw_bool(&w, "stream", true);
    jw_end_obj(&w);
    assert_int_equal(http_req(port, "POST", path, hdrs, body.data, body.len, &r), 0);
    if (r.status != 200)
        fail_msg("POST %s: status %d: %s", path, r.status, r.body);
    *n = r.body_len;
    out = kb_xstrdup(r.body);
    http_resp_free(&r);
    kb_buf_release(&body);
    return out;
}

/* The data of the SSE "done" event in a stream (borrowed into stream, terminated in place). */
static const char *sse_done(char *stream, size_t *n)
{
    char *p = strstr(stream, "event: done\ndata: "), *end;
    if (!p)
        fail_msg("no done event in: %s", stream);
    p += strlen("event: done\ndata: ");
    end = strstr(p, "\n\n");
    if (end)
        *end = '\0';
    *n = strlen(p);
    return p;
}

static void test_cli_and_api_agree(void **state)
{
    char dir[] = "/tmp/kbox-json-same-XXXXXX";
    enum { N = sizeof questions / sizeof questions[0] };
    static const char *const serve_args[] = {"--set", "log.level=warn", "--set", "server.admin_token=" TOKEN, NULL};
    char *cli_ask[N], *cli_search[N], *cli_docs;
    struct kbox_server srv;
    int port;
    (void)state;
    assert_non_null(mkdtemp(dir));
    {
        struct run_result r;
        char *argv[] = {KBOX_BIN, "--data-dir", dir, "--set", "log.level=warn", "ingest", SAMPLES "/en",
                        SAMPLES "/zh", NULL};
        assert_int_equal(run_cmd(&r, argv, NULL), 0);
        if (r.exit_code != 0)
            fail_msg("kbox ingest exited %d: %s", r.exit_code, r.err);
        run_result_free(&r);
    }
    for (int i = 0; i < N; i++) {
        cli_ask[i] = kbox_json(dir, "ask", questions[i]);
        cli_search[i] = kbox_json(dir, "search", questions[i]);
    }
    cli_docs = kbox_json(dir, "docs", NULL);
    /* the CLI's answer carries what only the API had before: document_id and page_end */
    assert_non_null(strstr(cli_ask[0], "\"document_id\":"));
    assert_non_null(strstr(cli_ask[0], "\"page_end\":"));
    assert_non_null(strstr(cli_search[0], "\"scores\":{\"bm25\":"));

    if (kbox_serve_start(&srv, dir, serve_args))
        fail_msg("kbox serve printed: %s", srv.printed);
    port = srv.port;
    {
        static const char *const auth[] = {"Authorization: Bearer " TOKEN, NULL};
        struct http_resp r;
        assert_int_equal(http_req(port, "GET", "/api/documents", auth, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        expect_same("documents", cli_docs, r.body, r.body_len);
        http_resp_free(&r);
        free(cli_docs);
    }
    for (int i = 0; i < N; i++) {
        size_t n;
        char *api = api_post(port, "/api/ask", "question", questions[i], false, &n);
        char *sse;
        const char *done;
        expect_same(questions[i], cli_ask[i], api, n);
        free(api);
        sse = api_post(port, "/api/ask", "question", questions[i], true, &n);
        done = sse_done(sse, &n);
        expect_same(questions[i], cli_ask[i], done, n);
        free(sse);
        api = api_post(port, "/api/search", "query", questions[i], false, &n);
        expect_same(questions[i], cli_search[i], api, n);
        free(api);
        free(cli_ask[i]);
        free(cli_search[i]);
    }
    assert_int_equal(kbox_serve_stop(&srv), 0);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The tree comparison itself: member order does not matter, values and element order do. */
static void test_tree_compare(void **state)
{
    static const struct {
        const char *a, *b;
        bool equal;
    } cases[] = {
        {"{\"a\":1,\"b\":[1,2]}", "{\"b\":[1,2],\"a\":1}", true},
        {"{\"a\":1,\"b\":[1,2]}", "{\"a\":1,\"b\":[2,1]}", false},
        {"{\"a\":\"x\"}", "{\"a\":\"y\"}", false},
        {"{\"a\":null}", "{\"a\":false}", false},
        {"{\"a\":1,\"timings\":{\"x\":1}}", "{\"a\":1,\"timings\":{\"x\":2}}", true}, /* timings dropped */
        {"{\"q\":\"电水壶\"}", "{\"q\":\"\\u7535\\u6c34\\u58f6\"}", true},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kb_json *a = parse_comparable("a", cases[i].a, strlen(cases[i].a));
        struct kb_json *b = parse_comparable("b", cases[i].b, strlen(cases[i].b));
        if (kb_json_equal(a, b) != cases[i].equal)
            fail_msg("case %zu: %s vs %s", i, cases[i].a, cases[i].b);
        kb_json_free(a);
        kb_json_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_compare),
        cmocka_unit_test(test_cli_and_api_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
