/* tests/infer/test_model.c: the public API of infer/ on committed tiny synthetic models
 * (tests/infer/golden/, written by `kbox model synth`).
 *
 * - golden greedy decode: 24 greedy tokens after a fixed prompt equal the committed ids, on the
 *   SIMD kernels in this process and on the scalar reference kernels in a child process
 *   (KBOX_FORCE_SCALAR=1 re-runs this binary in "print" mode), for a dense Q4_K llama and a Q8_0
 *   qwen3moe; the same ids with the weights read into memory (answer.load = copy) instead of mapped;
 * - sessions: eval errors (bad ids, context overflow), reset, batch == token-by-token, F16 vs F32
 *   cache close; generation: max_tokens, stop strings, the callback stop, same seed same text;
 *   expert stats count n_used selections per token per MoE layer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/run.h"
#include "infer/infer.h"

#define GOLDEN_DIR KBOX_SOURCE_DIR "/tests/infer/golden/"
#define N_GOLDEN 24

static const char *const golden_models[] = {"tiny_llama_q4k", "tiny_qwen3moe_q8"};
static const int32_t golden_prompt[] = {280, 84, 104, 101, 256, 113, 117, 105, 99, 107};

static const char *self_path;

static void greedy_ids(const char *name, int32_t *out)
{
    char path[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_model_info in;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    if (infer_model_open(&m, path, &err))
        fail_msg("%s: %s", path, err.msg);
    infer_model_get_info(m, &in);
    assert_int_equal(infer_session_new(&s, m, NULL, &err), 0);
    float *lg = malloc((size_t)in.n_vocab * sizeof *lg);
    int n = (int)KB_ARRAY_LEN(golden_prompt);
    assert_int_equal(infer_eval(s, golden_prompt, n, lg, false, &err), 0);
    for (int i = 0; i < N_GOLDEN; i++) {
        int32_t b = 0;
        for (int v = 1; v < in.n_vocab; v++)
            if (lg[v] > lg[b])
                b = v;
        out[i] = b;
        assert_int_equal(infer_eval(s, &b, 1, lg, false, &err), 0);
    }
    free(lg);
    infer_session_free(s);
    infer_model_close(m);
}

static int read_ids(const char *path, int32_t *out, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0, v;
    if (!f)
        return -1;
    while (n < max && fscanf(f, "%d", &v) == 1)
        out[n++] = v;
    fclose(f);
    return n;
}

static void test_golden_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(golden_models); i++) {
        int32_t got[N_GOLDEN], want[N_GOLDEN], scalar[N_GOLDEN];
        char path[512];
        greedy_ids(golden_models[i], got);
        snprintf(path, sizeof path, GOLDEN_DIR "%s.ids", golden_models[i]);
        assert_int_equal(read_ids(path, want, N_GOLDEN), N_GOLDEN);
        char *argv[] = {(char *)self_path, (char *)golden_models[i], NULL};
        char *env[] = {"KBOX_FORCE_SCALAR=1", "KBOX_GOLDEN_PRINT=1", NULL};
        struct run_result r;
        assert_int_equal(run_cmd(&r, argv, env), 0);
        assert_int_equal(r.exit_code, 0);
        char *p = r.out;
        for (int k = 0; k < N_GOLDEN; k++)
            scalar[k] = (int32_t)strtol(p, &p, 10);
        run_result_free(&r);
        for (int k = 0; k < N_GOLDEN; k++) {
            if (got[k] != want[k] || scalar[k] != want[k])
                fail_msg("%s: token %d: simd %d, scalar %d, golden %d", golden_models[i], k,
                         got[k], scalar[k], want[k]);
        }
    }
}

/* infer_set_load_copy(true): the file is read into private memory instead of mapped; the greedy ids
 * are the committed ones, a missing file is still KB_ENOENT, and the mode can be switched back. */
static void test_load_copy(void **state)
{
    (void)state;
    assert_false(infer_load_copy());
    infer_set_load_copy(true);
    assert_true(infer_load_copy());
    for (size_t i = 0; i < KB_ARRAY_LEN(golden_models); i++) {
        int32_t got[N_GOLDEN], want[N_GOLDEN];
        char path[512];
        greedy_ids(golden_models[i], got);
        snprintf(path, sizeof path, GOLDEN_DIR "%s.ids", golden_models[i]);
        assert_int_equal(read_ids(path, want, N_GOLDEN), N_GOLDEN);
        assert_memory_equal(got, want, sizeof got);
    }
    struct infer_model *m = NULL;
    struct kb_error err = {0};
    assert_int_equal(infer_model_open(&m, "/nonexistent/kbox-no-such.gguf", &err), KB_ENOENT);
    assert_null(m);
    infer_set_load_copy(false);
    assert_false(infer_load_copy());
}

static void open_session(const char *name, struct infer_model **m, struct infer_session **s,
                         int n_ctx, bool kv_f32)
{
    char path[512];
    struct kb_error err = {0};
    struct infer_session_params sp;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    assert_int_equal(infer_model_open(m, path, &err), 0);
    infer_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = 8;
    sp.kv_f32 = kv_f32;
    assert_int_equal(infer_session_new(s, *m, &sp, &err), 0);
}

static void test_eval_errors_and_batching(void **state)
{
    (void)state;
    struct infer_model *m;
    struct infer_session *s, *s16;
    struct infer_model *m2;
    struct infer_model_info in;
    struct kb_error err = {0};
    open_session("tiny_llama_q4k", &m, &s, 32, true);
    open_session("tiny_llama_q4k", &m2, &s16, 32, false);
    infer_model_get_info(m, &in);
    int V = in.n_vocab;
    int32_t bad = V;
    assert_int_equal(infer_eval(s, &bad, 1, NULL, false, &err), KB_EINVAL);
    assert_int_equal(infer_session_n_past(s), 0);
    int32_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = (i * 29 + 3) % 280;
    float *all = malloc(20 * (size_t)V * sizeof *all), *one = malloc((size_t)V * sizeof *one);
    float *f16 = malloc((size_t)V * sizeof *f16);
    /* 20 tokens with n_batch 8: three forward steps, all logits */
    assert_int_equal(infer_eval(s, ids, 20, all, true, &err), 0);
    assert_int_equal(infer_session_n_past(s), 20);
    assert_int_equal(infer_eval(s, ids, 13, NULL, false, &err), KB_ETOOBIG);
    assert_int_equal(infer_session_n_past(s), 20);
    infer_session_reset(s);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(infer_eval(s, &ids[i], 1, one, false, &err), 0);
        double md = 0, mr = 0;
        for (int v = 0; v < V; v++) {
            md = fmax(md, fabs(one[v] - all[(size_t)i * V + v]));
            mr = fmax(mr, fabs(all[(size_t)i * V + v]));
        }
        assert_true(md <= 1e-5 * mr);
    }
    assert_int_equal(infer_eval(s16, ids, 20, f16, false, &err), 0);
    double md = 0, mr = 0;
    for (int v = 0; v < V; v++) {
        md = fmax(md, fabs(f16[v] - all[(size_t)19 * V + v]));
        mr = fmax(mr, fabs(all[(size_t)19 * V + v]));
    }
    printf("[ kv f16   ] max rel diff vs f32 cache %.3g\n", md / mr);
    assert_true(md <= 5e-2 * mr);
    free(all);
    free(one);
    free(f16);
    infer_session_free(s);
    infer_session_free(s16);
    infer_model_close(m);
    infer_model_close(m2);
}

struct collect {
    struct kb_buf text;
    int calls, stop_after;
};

static int collect_piece(void *ud, const char *p, size_t n)
{
    struct collect *c = ud;
    kb_buf_append(&c->text, p, n);
    c->calls++;
    return c->stop_after > 0 && c->calls >= c->stop_after;
}

static void test_generate(void **state)
{
    (void)state;
    struct infer_model *m;
    struct infer_session *s;
    struct kb_error err = {0};
    struct infer_gen_params gp;
    struct infer_gen_result res;
    struct collect c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0};
    int32_t prompt[64];
    int n = 0;
    open_session("tiny_llama_q4k", &m, &s, 128, false);
    assert_int_equal(infer_tokenize(m, "The quick brown fox", 19, true, false, prompt, 64, &n, &err), 0);
    assert_true(n > 2);
    infer_gen_params_default(&gp);
    gp.max_tokens = 12;
    gp.ignore_eos = true;
    gp.sample.seed = 5;
    kb_buf_init(&c1.text, 0);
    kb_buf_init(&c2.text, 0);
    kb_buf_init(&c3.text, 0);
    kb_buf_init(&c4.text, 0);
    assert_int_equal(infer_generate(s, prompt, n, &gp, collect_piece, &c1, &res, &err), 0);
    assert_int_equal(res.n_gen, 12);
    assert_int_equal(res.why, INFER_STOP_MAX_TOKENS);
    infer_session_reset(s);
    assert_int_equal(infer_generate(s, prompt, n, &gp, collect_piece, &c2, &res, &err), 0);
    assert_int_equal(c1.text.len, c2.text.len);
    assert_memory_equal(c1.text.data, c2.text.data, c1.text.len); /* same seed, same text */
    /* a stop string cut from the middle of the first run's text ends generation before it */
    if (c1.text.len >= 6) {
        char stop[4];
        memcpy(stop, c1.text.data + c1.text.len / 2, 3);
        stop[3] = 0;
        const char *stops[] = {stop};
        gp.stop = stops;
        gp.n_stop = 1;
        infer_session_reset(s);
        assert_int_equal(infer_generate(s, prompt, n, &gp, collect_piece, &c3, &res, &err), 0);
        assert_int_equal(res.why, INFER_STOP_STRING);
        assert_null(c3.text.data ? strstr(c3.text.data, stop) : NULL);
        assert_true(c3.text.len <= c1.text.len / 2);
        gp.stop = NULL;
        gp.n_stop = 0;
    }
    c4.stop_after = 2;
    infer_session_reset(s);
    assert_int_equal(infer_generate(s, prompt, n, &gp, collect_piece, &c4, &res, &err), 0);
    assert_int_equal(res.why, INFER_STOP_CALLBACK);
    assert_int_equal(c4.calls, 2);
    kb_buf_release(&c1.text);
    kb_buf_release(&c2.text);
    kb_buf_release(&c3.text);
    kb_buf_release(&c4.text);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_expert_stats(void **state)
{
    (void)state;
    struct infer_model *m;
    struct infer_session *s;
    struct infer_model_info in;
    struct kb_error err = {0};
    uint64_t counts[64];
    open_session("tiny_qwen3moe_q8", &m, &s, 32, false);
    infer_model_get_info(m, &in);
    assert_int_equal(in.n_expert, 4);
    /* logits for every row: every row goes through every layer's experts */
    float *lg = malloc(10 * (size_t)in.n_vocab * sizeof *lg);
    assert_int_equal(infer_eval(s, golden_prompt, 10, lg, true, &err), 0);
    assert_int_equal(infer_session_expert_stats(s, counts, 64, &err), 0);
    uint64_t tot = 0;
    for (int e = 0; e < in.n_layer * in.n_expert; e++)
        tot += counts[e];
    assert_int_equal(tot, (uint64_t)10 * in.n_expert_used * in.n_layer);
    /* without logits the last layer has no row to compute (as llama.cpp skips unused outputs) */
    infer_session_reset(s);
    assert_int_equal(infer_eval(s, golden_prompt, 10, NULL, false, &err), 0);
    assert_int_equal(infer_session_expert_stats(s, counts, 64, &err), 0);
    uint64_t tot2 = 0;
    for (int e = 0; e < in.n_layer * in.n_expert; e++)
        tot2 += counts[e];
    assert_int_equal(tot2, tot + (uint64_t)10 * in.n_expert_used * (in.n_layer - 1));
    free(lg);
    assert_int_equal(infer_session_expert_stats(s, counts, 1, &err), KB_EINVAL);
    infer_session_free(s);
    infer_model_close(m);
}

static int n_reason_calls;
static int reason_piece(void *ud, const char *p, size_t n)
{
    (void)ud;
    (void)p;
    n_reason_calls += n > 0;
    return 0;
}

/* Chat prompts come from the model's template family; with split_reasoning and a prompt that opened
 * <think>, text goes to the reasoning callback until a </think> (the random model never says it). */
static void test_chat_and_reasoning(void **state)
{
    (void)state;
    struct infer_model *m;
    struct infer_session *s;
    struct kb_error err = {0};
    struct kb_buf b;
    struct infer_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi there"}};
    struct infer_chat_opts o = {true, false, NULL};
    open_session("tiny_qwen3moe_q8", &m, &s, 256, false);
    kb_buf_init(&b, 0);
    assert_int_equal(infer_chat_render(m, msgs, 2, &o, &b, &err), 0);
    assert_non_null(strstr(b.data, "<|im_start|>user\nHi there<|im_end|>"));
    assert_non_null(strstr(b.data, "<|im_start|>assistant\n"));
    int32_t ids[256];
    int n = 0;
    assert_int_equal(infer_tokenize(m, b.data, b.len, true, true, ids, 256, &n, &err), 0);
    int specials = 0;
    for (int i = 0; i < n; i++)
        specials += ids[i] >= 280;
    assert_true(specials >= 4); /* <|im_start|> and <|im_end|> became single tokens */
    struct infer_gen_params gp;
    struct collect ans = {0}, rea = {0};
    kb_buf_init(&ans.text, 0);
    kb_buf_init(&rea.text, 0);
    infer_gen_params_default(&gp);
    gp.max_tokens = 8;
    gp.ignore_eos = true;
    gp.sample.temp = 0;
    gp.split_reasoning = true;
    gp.starts_in_reasoning = true;
    gp.reasoning = reason_piece;
    n_reason_calls = 0;
    assert_int_equal(infer_generate(s, ids, n, &gp, collect_piece, &ans, NULL, &err), 0);
    assert_true(n_reason_calls > 0);
    assert_int_equal(ans.calls, 0); /* the think block never closed: no answer text */
    kb_buf_release(&ans.text);
    kb_buf_release(&rea.text);
    kb_buf_release(&b);
    assert_string_equal(infer_chat_family(m), "qwen3");
    infer_session_free(s);
    infer_model_close(m);
}

/* Hostile metadata: a valid synthetic file with one u32 value overwritten in place must give a
 * clean error (or, where the value is harmless, still open), never a crash or an abort. */
static void test_hostile_metadata(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        uint32_t value;
        int want; /* expected return code */
    } cases[] = {
        {"llama.block_count", 3, KB_ECORRUPT},           /* blk.1/blk.2 tensors missing */
        {"llama.block_count", 0, KB_ECORRUPT},
        {"llama.block_count", 0xFFFFFFFFu, KB_ECORRUPT},
        {"llama.embedding_length", 255, KB_ECORRUPT},    /* tensor shapes disagree */
        {"llama.attention.head_count", 3, KB_ECORRUPT},  /* not a multiple of 2 kv heads */
        {"llama.attention.head_count", 0, KB_ECORRUPT},
        {"llama.attention.head_count_kv", 0, KB_ECORRUPT},
        {"llama.attention.head_count_kv", 4, KB_ECORRUPT}, /* wk/wv shapes disagree */
        {"llama.feed_forward_length", 1 << 30, KB_ECORRUPT},
        {"llama.rope.dimension_count", 3, KB_ECORRUPT},  /* odd */
        {"llama.rope.dimension_count", 1000, KB_ECORRUPT},
        {"llama.attention.key_length", 0, KB_ECORRUPT},
        {"llama.expert_count", 4, KB_ECORRUPT},          /* experts announced, tensors absent */
        {"llama.context_length", 7, 0},                  /* harmless: opens */
        {"tokenizer.ggml.bos_token_id", 1u << 31, 0},    /* out of range id: ignored */
    };
    char src[512], dst[256];
    snprintf(src, sizeof src, GOLDEN_DIR "tiny_llama_q4k.gguf");
    snprintf(dst, sizeof dst, "/tmp/kbox-test-hostile-%d.gguf", (int)getpid());
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    static uint8_t buf[400000];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 1000 && n < sizeof buf);
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        static uint8_t copy[400000];
        memcpy(copy, buf, n);
        size_t kl = strlen(cases[i].key);
        uint8_t *at = NULL;
        for (size_t o = 8; o + kl + 8 <= n && !at; o++) /* u64 length, key bytes, u32 type, value */
            if (memcmp(copy + o, cases[i].key, kl) == 0 && copy[o - 8] == kl && copy[o + kl] < 13)
                at = copy + o + kl;
        if (!at) {
            if (strstr(cases[i].key, "expert_count") || strstr(cases[i].key, "key_length"))
                continue; /* the synthetic file has no such key to overwrite */
            fail_msg("key %s not found in the golden file", cases[i].key);
        }
        uint32_t type = at[0] | (uint32_t)at[1] << 8;
        assert_true(type == 4 || type == 5); /* u32 / i32 */
        for (int b = 0; b < 4; b++)
            at[4 + b] = (uint8_t)(cases[i].value >> (8 * b));
        FILE *o = fopen(dst, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(copy, 1, n, o), n);
        fclose(o);
        struct infer_model *m = NULL;
        struct kb_error err = {0};
        int rc = infer_model_open(&m, dst, &err);
        if (rc != cases[i].want)
            fail_msg("%s = %u: got %d (%s), want %d", cases[i].key, cases[i].value, rc, err.msg,
                     cases[i].want);
        if (rc == 0) {
            struct infer_session *s = NULL;
            int32_t ids[3] = {1, 2, 3};
            assert_int_equal(infer_session_new(&s, m, NULL, &err), 0);
            assert_int_equal(infer_eval(s, ids, 3, NULL, false, &err), 0);
            infer_session_free(s);
        } else {
            assert_null(m);
            assert_true(err.msg[0] != 0);
        }
        infer_model_close(m);
    }
    unlink(dst);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 2 && getenv("KBOX_GOLDEN_PRINT")) { /* child mode for the scalar golden run */
        int32_t ids[N_GOLDEN];
        greedy_ids(argv[1], ids);
        for (int k = 0; k < N_GOLDEN; k++)
            printf("%d\n", ids[k]);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_decode),
        cmocka_unit_test(test_load_copy),
        cmocka_unit_test(test_eval_errors_and_batching),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_expert_stats),
        cmocka_unit_test(test_chat_and_reasoning),
        cmocka_unit_test(test_hostile_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
