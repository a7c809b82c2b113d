/* tests/rag/test_generate.c: generative answers end to end with a real GGUF written by kbox's own
 * synthetic-model writer (random weights, so the text is noise, but every step is real): the
 * grounded prompt, streaming, citation markers, grounding scores, strict mode, the busy limit,
 * the errors for a missing model, prompt-prefix KV reuse (same answers with and without it) and
 * follow-up rewriting with the model (never fails: a rewrite or the follow-up itself). A question
 * matching a stored FAQ question is answered with the pair's curated answer, not generated. The
 * other questions ask what only the prose documents answer, so that they reach the model. Bots:
 * a persona in the prompt, extractive and unloaded-model bots (test_bot_generative). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "infer/infer.h"
#include "rag/rag.h"
#include "rag/rag_int.h"

static void test_markers(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int n_passages, kept;
    } cases[] = {
        {"Returns take 45 days [1].", "Returns take 45 days [1].", 3, 1},
        {"Returns take 45 days [7].", "Returns take 45 days.", 3, 0},
        {"A [0] b [2][3] c [12]", "A b [2][3] c", 3, 2},
        {"No markers here.", "No markers here.", 3, 0},
        {"[x] and [ 1] stay", "[x] and [ 1] stay", 3, 0},
        {"退货期为 45 天[1]。", "退货期为 45 天[1]。", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        bool used[8] = {0};
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        assert_int_equal(rag_clean_markers(buf, cases[i].n_passages, used), cases[i].kept);
        assert_string_equal(buf, cases[i].out);
    }
}

struct fixture {
    char dir[64], model[128];
    struct config cfg;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct infer_synth_params sp;
    struct kb_error err = {0};
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kbox-gen-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->model, sizeof fx->model, "%s/tiny.gguf", fx->dir);
    infer_synth_params_default(&sp, "llama");
    sp.type = infer_type_from_name("Q8_0");
    sp.seed = 7;
    if (infer_synth_write(fx->model, &sp, &err))
        fail_msg("synth: %s", err.msg);
    config_init(&fx->cfg);
    assert_int_equal(config_set(&fx->cfg, "data.dir", fx->dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&fx->cfg, "log.level", "warn", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&fx->cfg, "answer.model", fx->model, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&fx->cfg, "answer.max_tokens", "24", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&fx->cfg, "answer.context", "2048", CONFIG_SRC_FLAG, &err), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];
    config_release(&fx->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

struct stream {
    struct kb_buf tokens;
    int n_pieces;
    pthread_mutex_t *hold; /* when set, the first piece waits on it */
    volatile int *started;
};

static int on_stream(void *ud, const char *kind, const char *text, size_t n)
{
    struct stream *s = ud;
    if (!strcmp(kind, "token")) {
        kb_buf_append(&s->tokens, text, n);
        s->n_pieces++;
    }
    if (s->hold) {
        *s->started = 1;
        pthread_mutex_lock(s->hold);
        pthread_mutex_unlock(s->hold);
        s->hold = NULL;
    }
    return 0;
}

static struct rag *open_kb(struct fixture *fx, struct config *cfg)
{
    struct rag *r;
    struct kb_error err = {0};
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en"};
    if (rag_open(&r, cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    (void)fx;
    if (rag_ingest_paths(r, 0, paths, 1, false, NULL, NULL, &err))
        fail_msg("ingest: %s", err.msg);
    return r;
}

static void test_generative_path(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    struct rag_ask_opts o = {.question = "What happens when my parcel is lost?", .show_prompt = true};
    struct rag_answer a;
    struct kb_error err = {0};
    struct stream s = {0};
    char *prompt = NULL;
    kb_buf_init(&s.tokens, 0);
    if (rag_ask(r, &o, on_stream, &s, &a, &prompt, &err))
        fail_msg("ask: %s", err.msg);
    assert_string_equal(a.mode, "generative");
    assert_true(a.n_tokens > 0 && a.n_tokens <= 24);
    assert_true(s.n_pieces > 0);
    /* the prompt: instruction, numbered passages with their document, the question */
    assert_non_null(prompt);
    assert_non_null(strstr(prompt, "cite the passages"));
    assert_non_null(strstr(prompt, "[1] "));
    assert_non_null(strstr(prompt, "returns-shipping.html (Returns and Shipping Policy — Heronbrook Appliances) > "));
    assert_non_null(strstr(prompt, "Question: What happens when my parcel is lost?"));
    /* every marker left in the answer points at a citation */
    for (const char *p = strchr(a.answer, '['); p; p = strchr(p + 1, '[')) {
        int k;
        if (sscanf(p, "[%d]", &k) == 1) {
            bool found = false;
            for (int i = 0; i < a.n_citations; i++)
                found |= a.citations[i].n == k;
            assert_true(found);
        }
    }
    {
        int weak = 0;
        for (int i = 0; i < a.n_sentences; i++) {
            assert_true(a.sentences[i].support >= 0 && a.sentences[i].support <= 1);
            weak += a.sentences[i].support < a.support_min;
        }
        assert_true(a.support_min == fx->cfg.answer_min_support);
        assert_int_equal(a.n_weak, weak);
        assert_int_equal(a.n_dropped, 0); /* not strict */
    }
    assert_true(kb_utf8_valid(a.answer, strlen(a.answer)));
    free(prompt);
    rag_answer_release(&a);
    struct rag_stats st;
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_string_equal(st.answer_mode, "generative");
    assert_true(st.tokens_per_s > 0);
    kb_buf_release(&s.tokens);
    rag_close(r);
}

static void test_strict_mode(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    struct kb_error err = {0};
    struct rag_answer a;
    struct rag_ask_opts o = {.question = "Who pays the return shipping for a damaged item?"};
    config_copy(&cfg, &fx->cfg);
    assert_int_equal(config_set(&cfg, "answer.strict", "true", CONFIG_SRC_FLAG, &err), 0);
    struct rag *r = open_kb(fx, &cfg);
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), 0);
    /* noise from random weights is unsupported: the fallback, or a note saying what was removed */
    if (!a.fallback)
        assert_non_null(strstr(a.answer, "not supported by the documents removed"));
    else
        assert_string_equal(a.answer, cfg.answer_fallback);
    assert_true(a.n_dropped > 0 && a.n_dropped == a.n_weak);
    rag_answer_release(&a);
    /* with the bar at 0 nothing is weak, so strict mode keeps the whole answer */
    assert_int_equal(config_set(&cfg, "answer.min_support", "0", CONFIG_SRC_FLAG, &err), 0);
    rag_close(r);
    r = open_kb(fx, &cfg);
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), 0);
    assert_int_equal(a.n_weak, 0);
    assert_int_equal(a.n_dropped, 0);
    assert_null(strstr(a.answer, "not supported by the documents removed"));
    rag_answer_release(&a);
    rag_close(r);
    config_release(&cfg);
}

struct busy_arg {
    struct rag *r;
    struct stream *s;
    int rc;
};

static void *busy_thread(void *p)
{
    struct busy_arg *b = p;
    struct rag_ask_opts o = {.question = "How long is the probation period?"};
    struct rag_answer a;
    struct kb_error err = {0};
    b->rc = rag_ask(b->r, &o, on_stream, b->s, &a, NULL, &err);
    if (!b->rc)
        rag_answer_release(&a);
    return NULL;
}

/* answer.max_concurrent sessions: one more request at the same time gets KB_EBUSY (HTTP 503). */
static void test_busy(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
    volatile int started = 0;
    struct stream s = {.hold = &hold, .started = &started};
    struct busy_arg b = {r, &s, -1};
    struct rag_answer a;
    struct kb_error err = {0};
    struct rag_ask_opts o = {.question = "What happens when my parcel is lost?"};
    pthread_t th;
    kb_buf_init(&s.tokens, 0);
    pthread_mutex_lock(&hold);
    assert_int_equal(pthread_create(&th, NULL, busy_thread, &b), 0);
    while (!started)
        usleep(1000);
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), KB_EBUSY);
    assert_non_null(strstr(err.msg, "answer.max_concurrent"));
    assert_int_equal(kb_err_http_status(KB_EBUSY), 503);
    pthread_mutex_unlock(&hold);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, 0);
    kb_buf_release(&s.tokens);
    rag_close(r);
}

static void test_missing_model(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    struct kb_error err = {0};
    struct rag *r = NULL;
    config_copy(&cfg, &fx->cfg);
    assert_int_equal(config_set(&cfg, "answer.model", "/nonexistent/model.gguf", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(rag_open(&r, &cfg, &err), KB_ENOENT);
    assert_null(r);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    /* a file that is not a GGUF: a clear error naming it, before anything is loaded */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/not-a-model.gguf", fx->dir);
    FILE *f = fopen(bad, "w");
    fputs("this is not a model", f);
    fclose(f);
    assert_int_equal(config_set(&cfg, "answer.model", bad, CONFIG_SRC_FLAG, &err), 0);
    assert_true(rag_open(&r, &cfg, &err) < 0);
    assert_non_null(strstr(err.msg, "not-a-model.gguf"));
    config_release(&cfg);
}

static char *ask_text(struct rag *r, const char *q)
{
    struct rag_ask_opts o = {.question = q};
    struct rag_answer a;
    struct kb_error err = {0};
    if (rag_ask(r, &o, NULL, NULL, &a, NULL, &err))
        fail_msg("ask: %s", err.msg);
    char *t = strdup(a.answer);
    rag_answer_release(&a);
    return t;
}

/* Prompt-prefix reuse: a repeated question evaluates only its last prompt token again, another
 * question reuses the shared system instruction at least, and the answers are those of a session
 * that evaluated everything from scratch. */
static void test_prefix_reuse(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    struct rag_gen_stats st;
    static const char q1[] = "What happens when my parcel is lost?";
    static const char q2[] = "Who pays the return shipping for a damaged item?";
    assert_non_null(r->gen);
    char *a1 = ask_text(r, q1);
    assert_true(strlen(a1) > 0);
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.last_reused, 0); /* nothing cached yet */
    assert_true(st.last_prompt_tokens > 100);
    char *a1_again = ask_text(r, q1);
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.last_reused, st.last_prompt_tokens - 1);
    assert_true(st.n_reused_tokens >= st.last_reused && st.n_answers == 2);
    assert_string_equal(a1_again, a1);
    char *a2 = ask_text(r, q2);
    rag_gen_get_stats(r->gen, &st);
    assert_true(st.last_reused > 10 && st.last_reused < st.last_prompt_tokens - 1);
    /* the same questions without reuse */
    rag_gen_set_prefix_reuse(r->gen, false);
    char *a1_plain = ask_text(r, q1);
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.last_reused, 0);
    char *a2_plain = ask_text(r, q2);
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.last_reused, 0);
    assert_string_equal(a1_plain, a1);
    assert_string_equal(a2_plain, a2);
    rag_gen_set_prefix_reuse(r->gen, true);
    free(a1);
    free(a1_again);
    free(a2);
    free(a1_plain);
    free(a2_plain);
    rag_close(r);
}

/* A curated answer (a FAQ pair whose question matches) is answered as written in generative mode
 * too: mode "faq", the pair cited, streamed, and the model never runs. */
static void test_generative_faq(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    struct rag_ask_opts o = {.question = "How many days do I have to return a kettle?"};
    struct rag_answer a;
    struct rag_gen_stats st;
    struct kb_error err = {0};
    struct stream s = {0};
    kb_buf_init(&s.tokens, 0);
    assert_non_null(r->gen);
    if (rag_ask(r, &o, on_stream, &s, &a, NULL, &err))
        fail_msg("ask: %s", err.msg);
    assert_string_equal(a.mode, "faq");
    assert_false(a.fallback);
    assert_non_null(strstr(a.answer, "within 45 days of delivery"));
    assert_int_equal(a.n_citations, 1);
    assert_string_equal(a.citations[0].document, "faq.md");
    assert_true(s.n_pieces > 0);
    {
        char *streamed = kb_buf_take(&s.tokens);
        assert_string_equal(streamed, a.answer); /* the whole answer, in pieces */
        free(streamed);
    }
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.n_answers, 0);
    rag_answer_release(&a);
    /* a question no pair answers still goes to the model */
    o.question = "What happens when my parcel is lost?";
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), 0);
    assert_string_equal(a.mode, "generative");
    rag_gen_get_stats(r->gen, &st);
    assert_int_equal(st.n_answers, 1);
    rag_answer_release(&a);
    kb_buf_release(&s.tokens);
    rag_close(r);
}

/* Follow-up rewriting never fails the caller: a usable one-line rewrite, or the follow-up itself. */
static void test_rewrite_followup(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    struct kb_error err = {0};
    char *out = NULL;
    static const char prev[] = "How many days do I have to return a kettle?", fu[] = "And a grinder?";
    int rc = rag_gen_rewrite_followup(r->gen, prev, fu, &out, &err);
    assert_non_null(out);
    assert_true(out[0] != '\0');
    assert_true(kb_utf8_valid(out, strlen(out)));
    assert_null(strchr(out, '\n'));
    if (rc == 0) /* random weights: a rewrite is possible but no content can be expected */
        assert_true(strlen(out) <= 2 * (strlen(prev) + strlen(fu)) + 32);
    else
        assert_string_equal(out, fu);
    free(out);
    /* the same call again: same result (greedy) */
    char *again = NULL, *first = NULL;
    assert_int_equal(rag_gen_rewrite_followup(r->gen, prev, fu, &first, &err), rc);
    assert_int_equal(rag_gen_rewrite_followup(r->gen, prev, fu, &again, &err), rc);
    assert_string_equal(again, first);
    print_message("rewrite: rc %d, '%s'\n", rc, again);
    free(again);
    free(first);
    /* fallbacks: no previous question, no model, a follow-up too long for the context */
    assert_int_equal(rag_gen_rewrite_followup(r->gen, "", fu, &out, &err), KB_EINVAL);
    assert_string_equal(out, fu);
    free(out);
    assert_int_equal(rag_gen_rewrite_followup(NULL, prev, fu, &out, &err), KB_EINVAL);
    assert_string_equal(out, fu);
    free(out);
    size_t big_n = 40000;
    char *big = malloc(big_n + 1);
    for (size_t i = 0; i < big_n; i++)
        big[i] = i % 6 == 5 ? ' ' : (char)('a' + i % 23);
    big[big_n] = '\0';
    assert_int_equal(rag_gen_rewrite_followup(r->gen, prev, big, &out, &err), KB_ETOOBIG);
    assert_string_equal(out, big);
    free(out);
    free(big);
    /* the sessions still answer afterwards */
    char *a = ask_text(r, prev);
    assert_non_null(a);
    free(a);
    rag_close(r);
}

/* Bots over the generative path (rag/bots.c): a bot's persona opens the system prompt before the
 * grounding rules; a bot whose model is "extractive" or another file than the loaded one answers
 * from the passages (the latter says why in note); an unknown bot is KB_ENOENT. */
static void test_bot_generative(void **state)
{
    struct fixture *fx = *state;
    struct rag *r = open_kb(fx, &fx->cfg);
    static const char persona[] = "You are Heron, the Heronbrook shop's assistant.";
    static const char body[] = "{\"id\":\"heron\",\"persona\":\"You are Heron, the Heronbrook shop's assistant.\"}";
    static const char ex[] = "{\"id\":\"quoter\",\"model\":\"extractive\"}";
    static const char other[] = "{\"id\":\"bigmodel\",\"model\":\"other-model.gguf\"}";
    struct rag_ask_opts o = {.question = "What happens when my parcel is lost?", .show_prompt = true, .bot_id = "heron"};
    struct rag_answer a;
    struct kb_error err = {0};
    char *prompt = NULL;
    const char *p, *rules;
    assert_int_equal(rag_bot_put_json(r, NULL, body, sizeof body - 1, NULL, 0, &err), 0);
    assert_int_equal(rag_bot_put_json(r, NULL, ex, sizeof ex - 1, NULL, 0, &err), 0);
    assert_int_equal(rag_bot_put_json(r, NULL, other, sizeof other - 1, NULL, 0, &err), 0);
    if (rag_ask(r, &o, NULL, NULL, &a, &prompt, &err))
        fail_msg("ask: %s", err.msg);
    assert_string_equal(a.mode, "generative");
    assert_non_null(prompt);
    p = strstr(prompt, persona);
    rules = strstr(prompt, "cite the passages");
    assert_non_null(p);
    assert_non_null(rules);
    assert_true(p < rules);
    free(prompt);
    rag_answer_release(&a);
    /* without a bot the persona is absent */
    o.bot_id = NULL;
    prompt = NULL;
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, &prompt, &err), 0);
    assert_null(strstr(prompt, persona));
    free(prompt);
    rag_answer_release(&a);
    o.show_prompt = false;
    o.bot_id = "quoter";
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), 0);
    assert_string_not_equal(a.mode, "generative");
    assert_null(a.note);
    rag_answer_release(&a);
    o.bot_id = "bigmodel";
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), 0);
    assert_string_not_equal(a.mode, "generative");
    assert_non_null(a.note);
    assert_string_equal(a.note, "bot_model_not_loaded");
    rag_answer_release(&a);
    o.bot_id = "nope";
    assert_int_equal(rag_ask(r, &o, NULL, NULL, &a, NULL, &err), KB_ENOENT);
    rag_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markers),      cmocka_unit_test(test_generative_path),
        cmocka_unit_test(test_strict_mode),  cmocka_unit_test(test_busy),
        cmocka_unit_test(test_missing_model), cmocka_unit_test(test_prefix_reuse),
        cmocka_unit_test(test_generative_faq), cmocka_unit_test(test_rewrite_followup),
        cmocka_unit_test(test_bot_generative),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
