/* tests/rag/test_remote.c: the remote chat client (rag/remote.c) against a fault server in this
 * test: a thread with a listening socket on 127.0.0.1 that answers each connection by a script
 * (replay a transcript from tests/rag/remote/, HTTP 500, 429 with Retry-After, 503, hang, drop the
 * stream after some bytes, malformed SSE). Checks each outcome: text and usage passed on, retries
 * only where allowed and after Retry-After, timeouts, a cut stream marked incomplete with its text
 * kept, the circuit breaker opening and closing, and that the API key goes in the Authorization
 * header but never into an error message. Follow-up rewriting through the remote backend
 * (test_rewrite): the prompt sent, the cleaned line, and the fallbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "rag/rag_int.h"
#include "remote_util.h"
#include "fault_server.h"

#define KEY "sk-test-secret-42"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs one call against a fresh fault server with the given script. */
static int run(const char *const *script, int n_script, int retries, struct remote_breaker *b, struct collect *g,
               struct remote_result *res, struct kb_error *err, struct fault_server *s)
{
    char url[64];
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n_script; i++)
        s->script[i] = script[i];
    s->n_script = n_script;
    fault_start(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", s->port);
    struct remote_opts o = {.url = url, .api_key = KEY, .connect_timeout_s = 2, .timeout_s = 1, .retries = retries};
    kb_buf_init(&g->content, 0);
    kb_buf_init(&g->reasoning, 0);
    int rc = remote_chat(&o, b, "{\"model\":\"m\",\"stream\":true,\"messages\":[]}", collect_piece, g, res, err);
    fault_stop(s);
    if (rc)
        assert_null(strstr(err->msg, KEY));
    return rc;
}

static void got_release(struct collect *g)
{
    kb_buf_release(&g->content);
    kb_buf_release(&g->reasoning);
}

static void test_replay(void **state)
{
    (void)state;
    static const char *const files[] = {"replay:vllm.sse", "replay:llama_server.sse", "replay:ollama.sse",
                                        "replay:deepseek.sse"};
    for (int i = 0; i < 4; i++) {
        struct fault_server s;
        struct collect g;
        struct remote_result res;
        struct kb_error err = {0};
        int rc = run(&files[i], 1, 0, NULL, &g, &res, &err, &s);
        if (rc)
            fail_msg("%s: %s", files[i], err.msg);
        assert_string_equal(g.content.data, "Returns are accepted within 30 days [1].");
        assert_non_null(strstr(g.reasoning.data, "[1]"));
        assert_true(res.have_usage);
        assert_int_equal(res.usage.completion_tokens, 14);
        assert_false(res.incomplete);
        assert_int_equal(s.n_conn, 1);
        assert_non_null(strstr(s.last_request, "POST /v1/chat/completions HTTP/1.1"));
        assert_non_null(strstr(s.last_request, "Authorization: Bearer " KEY));
        assert_non_null(strstr(s.last_request, "\"stream\":true"));
        got_release(&g);
    }
}

static void test_faults(void **state)
{
    (void)state;
    struct fault_server s;
    struct collect g;
    struct remote_result res;
    struct kb_error err = {0};

    /* 500 is not retried. */
    static const char *const s500[] = {"status:500", "replay:vllm.sse"};
    int rc500 = run(s500, 2, 3, NULL, &g, &res, &err, &s);
    if (rc500 != KB_EBUSY)
        fail_msg("500: %d %s", rc500, err.msg);
    assert_non_null(strstr(err.msg, "HTTP 500"));
    assert_int_equal(s.n_conn, 1);
    assert_int_equal(res.n_retries, 0);
    got_release(&g);

    /* 429 with Retry-After: 1 is retried after at least a second, then succeeds. */
    static const char *const s429[] = {"retry-after:429:1", "replay:vllm.sse"};
    double t0 = now_s();
    assert_int_equal(run(s429, 2, 2, NULL, &g, &res, &err, &s), 0);
    assert_true(now_s() - t0 >= 0.95);
    assert_int_equal(res.n_retries, 1);
    assert_int_equal(s.n_conn, 2);
    assert_string_equal(g.content.data, "Returns are accepted within 30 days [1].");
    got_release(&g);

    /* 503 every time: retries, then gives up. */
    static const char *const s503[] = {"status:503"};
    assert_int_equal(run(s503, 1, 2, NULL, &g, &res, &err, &s), KB_EBUSY);
    assert_int_equal(s.n_conn, 3);
    assert_int_equal(res.n_retries, 2);
    got_release(&g);

    /* A server that never answers: a read timeout (timeout_s = 1). */
    static const char *const shang[] = {"hang"};
    int rch = run(shang, 1, 0, NULL, &g, &res, &err, &s);
    if (rch != KB_ETIMEOUT)
        fail_msg("hang: %d %s", rch, err.msg);
    assert_non_null(strstr(err.msg, "no data"));
    got_release(&g);

    /* The stream drops after the third event: an error, the text so far kept, marked incomplete,
     * and no retry (text had been passed on). */
    size_t n;
    char *t = read_transcript("vllm.sse", &n);
    const char *cut = strstr(strstr(t, "Returns are accepted"), "\n\n") + 2;
    char drop[64];
    snprintf(drop, sizeof drop, "drop:vllm.sse:%ld", (long)(cut - t));
    free(t);
    const char *sdrop[] = {drop};
    assert_int_equal(run(sdrop, 1, 2, NULL, &g, &res, &err, &s), KB_EIO);
    assert_true(res.incomplete);
    assert_string_equal(g.content.data, "Returns are accepted ");
    assert_int_equal(s.n_conn, 1);
    got_release(&g);

    /* Malformed SSE and a server error object mid-stream. */
    static const char *const sbad[] = {"replay:malformed.sse"};
    assert_int_equal(run(sbad, 1, 2, NULL, &g, &res, &err, &s), KB_EJSON);
    got_release(&g);
    static const char *const serr[] = {"replay:error_midstream.sse"};
    assert_int_equal(run(serr, 1, 2, NULL, &g, &res, &err, &s), KB_EIO);
    assert_non_null(strstr(err.msg, "overloaded"));
    assert_true(res.incomplete);
    got_release(&g);

    /* 401: an authentication error naming the key setting, not the key. */
    static const char *const s401[] = {"status:401"};
    assert_int_equal(run(s401, 1, 2, NULL, &g, &res, &err, &s), KB_EAUTH);
    assert_non_null(strstr(err.msg, "answer.api_key"));
    got_release(&g);

    /* Nothing listening: a connection error. */
    struct remote_opts o = {.url = "http://127.0.0.1:1", .connect_timeout_s = 1, .timeout_s = 1};
    assert_int_equal(remote_chat(&o, NULL, "{}", NULL, NULL, &res, &err), KB_EIO);
}

static void test_breaker(void **state)
{
    (void)state;
    struct fault_server s;
    struct collect g;
    struct remote_result res;
    struct kb_error err = {0};
    struct remote_breaker b;
    remote_breaker_init(&b, 2, 60, 1);
    static const char *const s500[] = {"status:500"};
    static const char *const sok[] = {"replay:vllm.sse"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run(s500, 1, 0, &b, &g, &res, &err, &s), KB_EBUSY);
        got_release(&g);
    }
    assert_int_equal(remote_breaker_state(&b), REMOTE_BREAKER_OPEN);
    /* Open: refused without a request. */
    assert_int_equal(run(sok, 1, 0, &b, &g, &res, &err, &s), KB_EBUSY);
    assert_non_null(strstr(err.msg, "circuit breaker"));
    assert_int_equal(s.n_conn, 0);
    got_release(&g);
    usleep(1100000);
    /* After the cool-down one probe goes through and closes it. */
    assert_int_equal(run(sok, 1, 0, &b, &g, &res, &err, &s), 0);
    assert_int_equal(remote_breaker_state(&b), REMOTE_BREAKER_CLOSED);
    got_release(&g);
    remote_breaker_release(&b);
}

static void test_endpoint(void **state)
{
    (void)state;
    char u[256];
    remote_endpoint("http://gpu:8000", "chat/completions", u, sizeof u);
    assert_string_equal(u, "http://gpu:8000/v1/chat/completions");
    remote_endpoint("https://api.deepseek.com/v1/", "embeddings", u, sizeof u);
    assert_string_equal(u, "https://api.deepseek.com/v1/embeddings");
}

struct events {
    struct kb_buf tokens, thinks;
};

static int on_event(void *ud, const char *kind, const char *text, size_t n)
{
    struct events *e = ud;
    if (strcmp(kind, "token") == 0)
        kb_buf_append(&e->tokens, text, n);
    else if (strcmp(kind, "think") == 0)
        kb_buf_append(&e->thinks, text, n);
    return 0;
}

/* answer.backend = openai at url, model qwen3, the test key, no retries. */
static void remote_config(struct config *cfg, const char *url)
{
    struct kb_error err = {0};
    config_init(cfg);
    assert_int_equal(config_set(cfg, "answer.backend", "openai", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.url", url, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.model_name", "qwen3", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.api_key", KEY, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.retries", "0", CONFIG_SRC_FLAG, &err), 0);
}

/* rag_answer_generative with answer.backend = openai against the fault server: the grounded prompt
 * goes out as chat messages, the answer and reasoning stream back as token and think pieces, [1]
 * becomes a citation, the sentence gets its support score; then a failing backend opens the breaker
 * (answer.breaker_failures = 1) and rag_gen_backend_down() says so. */
static void test_generative(void **state)
{
    (void)state;
    struct fault_server s = {0};
    struct config cfg;
    struct kb_error err = {0};
    struct rag_gen *g = NULL;
    struct rag_answer a;
    struct events ev;
    char url[64], *prompt = NULL;
    double tps = 0;
    static const struct rag_passage p[] = {
        {.chunk_id = 7, .document_id = 3, .document = "policy.md", .heading_path = "Returns",
         .text = "Returns are accepted within 30 days of delivery with the receipt."},
        {.chunk_id = 8, .document_id = 3, .document = "policy.md", .heading_path = "Shipping",
         .text = "Shipping to Norway takes five working days."},
    };
    s.script[0] = "replay:vllm.sse";
    s.script[1] = "status:503";
    s.n_script = 2;
    fault_start(&s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    remote_config(&cfg, url);
    assert_int_equal(config_set(&cfg, "answer.breaker_failures", "1", CONFIG_SRC_FLAG, &err), 0);
    if (rag_gen_open(&g, &cfg, &err))
        fail_msg("%s", err.msg);
    assert_true(rag_gen_is_remote(g));
    kb_buf_init(&ev.tokens, 0);
    kb_buf_init(&ev.thinks, 0);
    if (rag_answer_generative(g, &cfg, "How long do I have to return an item?", NULL, p, 2, NULL, on_event, &ev, &a,
                              &prompt, &tps, NULL, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(a.mode, "generative");
    assert_string_equal(a.answer, "Returns are accepted within 30 days [1].");
    assert_string_equal(ev.tokens.data, "Returns are accepted within 30 days [1].");
    assert_string_equal(ev.thinks.data, "The passage [1] gives the period.");
    assert_string_equal(a.reasoning, "The passage [1] gives the period.");
    assert_int_equal(a.n_citations, 1);
    assert_int_equal(a.citations[0].chunk_id, 7);
    assert_int_equal(a.n_tokens, 14);
    assert_int_equal(a.n_sentences, 1);
    assert_true(a.sentences[0].support > 0.5);
    /* the request carried the grounded prompt as chat messages */
    assert_non_null(strstr(s.last_request, "\"role\":\"system\""));
    assert_non_null(strstr(s.last_request, "[1] policy.md > Returns"));
    assert_non_null(strstr(s.last_request, "\"model\":\"qwen3\""));
    assert_non_null(strstr(prompt, "Question: How long do I have to return an item?"));
    rag_answer_release(&a);
    free(prompt);
    prompt = NULL;
    assert_false(rag_gen_backend_down(g));
    struct rag_backend_stats bs;
    rag_gen_backend_stats(g, &bs);
    assert_string_equal(bs.backend, "openai");
    assert_string_equal(bs.state, "up");
    assert_int_equal(bs.requests, 1);
    assert_int_equal(bs.tokens_in, 187);
    assert_int_equal(bs.tokens_out, 14);
    assert_true(bs.last_ttft_ms > 0);
    assert_int_equal(rag_answer_generative(g, &cfg, "And shipping?", NULL, p, 2, NULL, on_event, &ev, &a, NULL,
                                           &tps, NULL, &err),
                     KB_EBUSY);
    assert_true(rag_gen_backend_down(g));
    assert_null(strstr(err.msg, KEY));
    rag_gen_backend_stats(g, &bs);
    assert_string_equal(bs.state, "down");
    assert_int_equal(bs.errors, 1);
    assert_int_equal(bs.breaker_opened, 1);
    rag_gen_backend_stats(NULL, &bs);
    assert_string_equal(bs.backend, "local");
    fault_stop(&s);
    rag_gen_close(g);
    config_release(&cfg);
    kb_buf_release(&ev.tokens);
    kb_buf_release(&ev.thinks);
}

/* rag_gen_rewrite_followup through the remote backend: the rewrite prompt goes out (temperature 0,
 * max_tokens 48), the streamed text is cleaned to one line and the reasoning dropped; a rewrite cut
 * at the token cap (finish_reason "length") and a failing server fall back to the follow-up. */
static void test_rewrite(void **state)
{
    (void)state;
    struct fault_server s = {0};
    struct config cfg;
    struct kb_error err = {0};
    struct rag_gen *g = NULL;
    char url[64], *out = NULL;
    s.script[0] = "replay:rewrite.sse";
    s.script[1] = "replay:rewrite_length.sse";
    s.script[2] = "status:500";
    s.n_script = 3;
    fault_start(&s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    remote_config(&cfg, url);
    assert_int_equal(config_set(&cfg, "answer.temperature", "0.7", CONFIG_SRC_FLAG, &err), 0);
    if (rag_gen_open(&g, &cfg, &err))
        fail_msg("%s", err.msg);
    if (rag_gen_rewrite_followup(g, "How long does shipping take?", "And to Norway?", &out, &err))
        fail_msg("rewrite: %s", err.msg);
    assert_string_equal(out, "How long does shipping to Norway take?");
    assert_non_null(strstr(s.last_request, "Rewrite the user's follow-up question"));
    assert_non_null(strstr(s.last_request, "Previous question: How long does shipping take?\\nFollow-up question: "
                                           "And to Norway?"));
    assert_non_null(strstr(s.last_request, "\"max_tokens\":48"));
    assert_non_null(strstr(s.last_request, "\"temperature\":0,"));
    free(out);
    assert_int_equal(rag_gen_rewrite_followup(g, "How long does shipping take?", "And to Norway?", &out, &err),
                     KB_ETOOBIG);
    assert_string_equal(out, "And to Norway?");
    free(out);
    assert_int_equal(rag_gen_rewrite_followup(g, "How long does shipping take?", "And to Norway?", &out, &err),
                     KB_EBUSY);
    assert_string_equal(out, "And to Norway?");
    free(out);
    assert_int_equal(rag_gen_rewrite_followup(g, "", "And to Norway?", &out, &err), KB_EINVAL);
    free(out);
    assert_int_equal(s.n_conn, 3);
    fault_stop(&s);
    rag_gen_close(g);
    config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_generative),
        cmocka_unit_test(test_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
