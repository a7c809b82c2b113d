/* tests/rag/test_remote_e2e.c: kbox as the remote backend of kbox. A real `kbox serve` on
 * 127.0.0.1 (port 0) answers with a `kbox model synth`-style GGUF chat model (random weights, so
 * the text is noise, but every step is real) over the ingested samples; an in-process rag_gen with
 * answer.backend = openai and answer.url pointing at it streams an answer through
 * /v1/chat/completions: the pieces arrive as "token" events, the final text is the streamed text
 * after citation cleaning, and the usage chunk's completion tokens are counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/serve.h"
#include "../support/run.h"
#include "config/config.h"
#include "infer/infer.h"
#include "rag/rag_int.h"

struct events {
    struct kb_buf tokens;
    int n;
};

static int on_event(void *ud, const char *kind, const char *text, size_t n)
{
    struct events *e = ud;
    if (strcmp(kind, "token") == 0) {
        kb_buf_append(&e->tokens, text, n);
        e->n++;
    }
    return 0;
}

static void test_kbox_behind_kbox(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-remote-e2e-XXXXXX", model[128], set_model[200], url[64];
    struct infer_synth_params sp;
    struct kb_error err = {0};
    struct kbox_server srv;
    struct config cfg;
    struct rag_gen *g = NULL;
    struct rag_answer a;
    struct events ev = {0};
    double tps = 0;
    static const struct rag_passage p[] = {
        {.chunk_id = 1, .document_id = 1, .document = "returns.md", .heading_path = "",
         .text = "Returns are accepted within 30 days of delivery."},
    };
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    infer_synth_params_default(&sp, "llama");
    sp.type = infer_type_from_name("Q8_0");
    sp.seed = 7;
    if (infer_synth_write(model, &sp, &err))
        fail_msg("synth: %s", err.msg);
    {
        struct run_result r;
        char *argv[] = {KBOX_BIN, "--data-dir", dir, "--set", "log.level=warn", "ingest",
                        KBOX_SOURCE_DIR "/samples/en", NULL};
        assert_int_equal(run_cmd(&r, argv, NULL), 0);
        if (r.exit_code != 0)
            fail_msg("kbox ingest exited %d: %s", r.exit_code, r.err);
        run_result_free(&r);
    }
    snprintf(set_model, sizeof set_model, "answer.model=%s", model);
    const char *const serve_args[] = {"--set", "log.level=warn", "--set", set_model, "--set", "answer.max_tokens=24",
                                      "--set", "answer.context=2048", NULL};
    if (kbox_serve_start(&srv, dir, serve_args))
        fail_msg("kbox serve printed: %s", srv.printed);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv.port);
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "answer.backend", "openai", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "answer.url", url, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "answer.model_name", "kbox", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "log.level", "warn", CONFIG_SRC_FLAG, &err), 0);
    if (rag_gen_open(&g, &cfg, &err))
        fail_msg("%s", err.msg);
    kb_buf_init(&ev.tokens, 0);
    if (rag_answer_generative(g, &cfg, "How long do I have to return an item?", NULL, p, 1, NULL, on_event, &ev, &a,
                              NULL, &tps, &err))
        fail_msg("remote answer: %s", err.msg);
    assert_string_equal(a.mode, "generative");
    assert_true(ev.n > 0);
    assert_non_null(a.answer);
    assert_true(a.n_tokens > 0); /* usage.completion_tokens of the last chunk */
    struct rag_backend_stats bs;
    rag_gen_backend_stats(g, &bs);
    assert_int_equal(bs.requests, 1);
    assert_int_equal(bs.errors, 0);
    assert_string_equal(bs.state, "up");
    print_message("remote answer: %d pieces, %d tokens: %s\n", ev.n, a.n_tokens, a.answer);
    rag_answer_release(&a);
    rag_gen_close(g);
    config_release(&cfg);
    kb_buf_release(&ev.tokens);
    assert_int_equal(kbox_serve_stop(&srv), 0);
    {
        struct run_result r;
        char *argv[] = {"rm", "-rf", dir, NULL};
        run_cmd(&r, argv, NULL);
        run_result_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kbox_behind_kbox)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
