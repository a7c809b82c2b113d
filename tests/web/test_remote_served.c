/* tests/web/test_remote_served.c: a real `kbox serve` on 127.0.0.1 whose answer backend
 * (answer.backend = openai) is the fault server of tests/rag/fault_server.h, driven over real HTTP.
 * In order, against the fault server's script:
 *   1. a replayed vLLM stream: a generative answer; /api/health says the backend is up, /metrics
 *      counts one request and kbox_backend_up 1;
 *   2. the stream cut after its first content piece (POST /api/ask, stream): token events, then an
 *      error event, then the citations and a done event whose answer JSON has "incomplete": true
 *      and keeps the text that came;
 *   3. HTTP 500 twice with the breaker still closed (nothing streamed): extractive answers with
 *      note backend_unavailable; the second failure opens the breaker (breaker_failures 3: the cut
 *      stream counted too), and /api/health and /metrics say down;
 *   4. while it is open: extractive with the note, no request reaches the fault server;
 *   5. answer.on_backend_down = fail (PUT /api/settings), after the cool-down: the probe fails
 *      with HTTP 500, and the answer is a 503 naming the backend;
 *   6. POST /v1/chat/completions streamed, after the next cool-down, with the stream cut: the text
 *      that came, then an error object and [DONE].
 * It also checks the embed_backend object (the built-in embedder here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rag/rag_int.h"
#include "../cli/serve.h"
#include "../rag/remote_util.h"
#include "../rag/fault_server.h"
#include "../support/run.h"
#include "http.h"

#define ADMIN "Authorization: Bearer served-admin-token-of-32-characters"

static char *post(int port, const char *path, const char *body, int want_status)
{
    static const char *const hdr[] = {"Content-Type: application/json", NULL};
    struct http_resp r;
    assert_int_equal(http_req(port, "POST", path, hdr, body, strlen(body), &r), 0);
    if (r.status != want_status)
        fail_msg("POST %s: status %d, want %d: %s", path, r.status, want_status, r.body);
    char *b = r.body;
    r.body = NULL;
    http_resp_free(&r);
    return b;
}

static char *get(int port, const char *path)
{
    struct http_resp r;
    assert_int_equal(http_req(port, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    char *b = r.body;
    r.body = NULL;
    http_resp_free(&r);
    return b;
}

static void has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' not in: %.2000s", needle, hay);
}

static struct kbox_server srv; /* stopped by the teardown too, so a failed check leaves no child */

static int stop_server(void **state)
{
    (void)state;
    if (srv.pid > 0)
        kbox_serve_stop(&srv);
    srv.pid = 0;
    return 0;
}

static void test_served(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-remote-served-XXXXXX", url[64], drop[64], *b;
    struct fault_server fs = {0};
    size_t n;
    assert_non_null(mkdtemp(dir));
    ingest_samples(dir);
    char *t = read_transcript("vllm.sse", &n);
    const char *cut = strstr(strstr(t, "Returns are accepted"), "\n\n") + 2;
    snprintf(drop, sizeof drop, "drop:vllm.sse:%ld", (long)(cut - t));
    free(t);
    fs.script[0] = "replay:vllm.sse";
    fs.script[1] = drop;
    fs.script[2] = "status:500";
    fs.script[3] = "status:500";
    fs.script[4] = "status:500";
    fs.script[5] = drop;
    fs.n_script = 6;
    fault_start(&fs);
    snprintf(url, sizeof url, "answer.url=http://127.0.0.1:%d", fs.port);
    const char *const args[] = {"--set", "log.level=warn", "--set", "answer.backend=openai", "--set", url,
                                "--set", "answer.retries=0", "--set", "answer.breaker_failures=3", "--set",
                                "answer.breaker_cooldown_s=2", "--set", "server.rate_limit_per_min=0", "--set",
                                "server.admin_token=served-admin-token-of-32-characters", "--set",
                                "server.public_metrics=true", NULL};
    if (kbox_serve_start(&srv, dir, args))
        fail_msg("kbox serve printed: %s", srv.printed);

    /* 1. a whole answer */
    b = post(srv.port, "/api/ask", "{\"question\":\"How long do I have to return an item?\"}", 200);
    has(b, "\"mode\":\"generative\"");
    has(b, "Returns are accepted within 30 days");
    free(b);
    b = get(srv.port, "/api/health");
    has(b, "\"answer_backend\":{\"backend\":\"openai\",\"state\":\"up\"");
    has(b, "\"requests\":1,\"errors\":0");
    has(b, "\"embed_backend\":{\"backend\":\"builtin\",\"state\":\"up\"}");
    free(b);
    b = get(srv.port, "/metrics");
    has(b, "kbox_backend_requests_total 1\n");
    has(b, "kbox_backend_up 1\n");
    has(b, "kbox_backend_tokens_total{dir=\"out\"} 14\n");
    free(b);

    /* 2. the stream breaks after "Returns are accepted " */
    b = post(srv.port, "/api/ask", "{\"question\":\"How long do I have to return an item?\",\"stream\":true}", 200);
    has(b, "event: token\ndata: {\"text\":\"Returns are accepted \"}");
    char *e = strstr(b, "event: error\n"), *d = strstr(b, "event: done\n");
    assert_non_null(e);
    assert_non_null(d);
    assert_true(e < d);
    has(e, "\"code\":\"EIO\"");
    has(d, "\"answer\":\"Returns are accepted ");
    has(d, "\"incomplete\":true");
    has(d, "\"mode\":\"generative\"");
    free(b);

    /* 3. HTTP 500 before anything streamed: extractive with the note, twice; the breaker opens */
    for (int i = 0; i < 2; i++) {
        b = post(srv.port, "/api/ask", "{\"question\":\"How long do I have to return an item?\"}", 200);
        has(b, "\"mode\":\"extractive\"");
        has(b, "\"note\":\"backend_unavailable\"");
        free(b);
    }
    assert_int_equal(fs.n_conn, 4);
    b = get(srv.port, "/api/health");
    has(b, "\"answer_backend\":{\"backend\":\"openai\",\"state\":\"down\"");
    has(b, "\"requests\":4,\"errors\":3,\"breaker_opened\":1");
    free(b);
    b = get(srv.port, "/metrics");
    has(b, "kbox_backend_up 0\n");
    has(b, "kbox_backend_errors_total 3\n");
    has(b, "kbox_backend_breaker_opened_total 1\n");
    free(b);

    /* 4. open: no request goes out */
    b = post(srv.port, "/api/ask", "{\"question\":\"How long do I have to return an item?\",\"stream\":true}", 200);
    has(b, "\"note\":\"backend_unavailable\"");
    free(b);
    assert_int_equal(fs.n_conn, 4);

    /* 5. fail instead of falling back: the probe after the cool-down fails, the client gets 503 */
    {
        static const char *const hdr[] = {ADMIN, "Content-Type: application/json", NULL};
        static const char body[] = "{\"answer.on_backend_down\":\"fail\"}";
        struct http_resp r;
        assert_int_equal(http_req(srv.port, "PUT", "/api/settings", hdr, body, strlen(body), &r), 0);
        if (r.status != 200)
            fail_msg("PUT /api/settings: %d %s", r.status, r.body);
        http_resp_free(&r);
    }
    usleep(2100 * 1000);
    b = post(srv.port, "/api/ask", "{\"question\":\"How long do I have to return an item?\"}", 503);
    has(b, "the answer backend is unavailable: remote backend");
    has(b, "HTTP 500");
    free(b);
    assert_int_equal(fs.n_conn, 5);

    /* 6. the OpenAI-compatible endpoint, after the next cool-down: a stream that breaks mid-answer
     * ends with an error object and [DONE] after the text that came */
    usleep(2100 * 1000);
    b = post(srv.port, "/v1/chat/completions",
             "{\"model\":\"kbox\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"How long do I have to return an item?\"}]}",
             200);
    has(b, "\"content\":\"Returns are accepted \"");
    e = strstr(b, "\"error\":");
    assert_non_null(e);
    has(e, "data: [DONE]");
    assert_null(strstr(b, "\"finish_reason\":\"stop\""));
    free(b);
    assert_int_equal(fs.n_conn, 6);

    assert_int_equal(kbox_serve_stop(&srv), 0);
    srv.pid = 0;
    fault_stop(&fs);
    {
        struct run_result r;
        char *argv[] = {"rm", "-rf", dir, NULL};
        run_cmd(&r, argv, NULL);
        run_result_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_served, stop_server)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
