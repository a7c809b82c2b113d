/* tests/infer/test_gptoss_conf.c: gpt-oss against llama.cpp itself.
 *
 * Committed files in tests/infer/golden/, written by `kbox model synth --arch gpt-oss` (YaRN
 * factor 32 over 4096 original positions, rope base 150000, biases everywhere, one sink per head,
 * even layers sliding):
 * - tiny_gptoss_f32.gguf: --type F32 --layers 2 --dim 64 --heads 4 --kv-heads 2 --head-dim 16
 *   --experts 8 --experts-used 2 --ff-exp 64 --swa 8 --seed 31;
 * - tiny_gptoss_mxfp4.gguf: the same shape and seed with --type MXFP4 (experts MXFP4, the other
 *   matrices Q8_0);
 * - tiny_gptoss_b_f32.gguf: a second seed and shape: --type F32 --layers 3 --dim 96 --heads 6
 *   --kv-heads 2 --head-dim 16 --experts 6 --experts-used 3 --ff-exp 48 --swa 5 --seed 77;
 * - tiny_gptoss_gguf_py_f32.gguf: written NOT by kbox but by the reference snapshot's gguf-py (its
 *   GGUFWriter, from a throwaway script outside this repository), so that a writer bug shared by
 *   synth and kbox's loader cannot hide: the first file's metadata and tokenizer with 4 experts
 *   of width 16, 2 used, and fresh random weights (numpy seed 1204);
 * - tiny_gptoss_gguf_py_mxfp4.gguf: that file quantized by gguf-py's own quantizers: experts whose
 *   rows are a multiple of 32 MXFP4 (gate and up; down, rows of 16, stays F32), the other such
 *   matrices Q8_0, the rest F32.
 * NAME.llamacpp_logits.f32 holds llama.cpp d32676d77's logits for the 16 ids below (16 x 320
 * float32, row t after ids[0..t]): one llama_decode of all 16 with every position's logits,
 * 1 thread, F32 KV cache, flash attention off, as in ../shared/conformance. No llama.cpp code is
 * part of this repository. The 16-token prompt is longer than every window (8, 5), so sliding
 * layers drop keys; runs with small batches make the KV ring wrap.
 *
 * Tolerances as the conformance set's: F32 1e-4 of max |logit| with identical argmax everywhere;
 * MXFP4 3e-2 with at most one argmax flip in 16. Each case runs as one batch of 16, as 5 + 11, one
 * token at a time (a 8-cell ring for the window of 8) and with n_batch 3 (ring of n_swa + 2 cells,
 * the 16 ids in steps of 3). Then the ring's rollback: after all 16, infer_session_truncate back
 * to 4 (past what the ring holds: the session re-evaluates the kept prefix) and the last 12 again
 * must give the same logits. Last, the default F16 cache in steps of 3 against the F32-cache
 * reference, within 1e-2 for the F32 files (measured 6e-4 and 1.4e-3) and the quantized tolerance
 * for MXFP4 (measured 2.6e-2: F16 keys and values move Q8_0-rounded activations further). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/infer.h"

#define GOLDEN_DIR KBOX_SOURCE_DIR "/tests/infer/golden/"
#define N_TOK 16
#define N_VOCAB 320

static const int32_t ids[N_TOK] = {84, 214, 214, 144, 245, 110, 243, 262, 93, 258, 270, 120, 1, 7, 189, 219};

static float ref[N_TOK * N_VOCAB], got[N_TOK * N_VOCAB];

static int argmax(const float *x)
{
    int b = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Rows t0.. of got against ref. */
static void compare(const char *name, const char *how, int t0, double tol, int max_flips)
{
    double md = 0, mr = 0;
    int flips = 0;
    for (int t = t0; t < N_TOK; t++) {
        for (int i = 0; i < N_VOCAB; i++) {
            md = fmax(md, fabs((double)got[t * N_VOCAB + i] - ref[t * N_VOCAB + i]));
            mr = fmax(mr, fabs((double)ref[t * N_VOCAB + i]));
        }
        flips += argmax(got + t * N_VOCAB) != argmax(ref + t * N_VOCAB);
    }
    printf("[ gpt-oss  ] %-20s %-16s max |kbox - llama.cpp| / max |llama.cpp| = %.3g, argmax flips %d/%d\n", name,
           how, md / mr, flips, N_TOK - t0);
    if (!(md / mr <= tol) || flips > max_flips)
        fail_msg("%s %s: relative difference %.3g, %d argmax flips", name, how, md / mr, flips);
}

static struct infer_session *session_kv(struct infer_model *m, int n_batch, bool kv_f32)
{
    struct kb_error err = {0};
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    infer_session_params_default(&sp);
    sp.n_ctx = 64;
    sp.n_batch = n_batch;
    sp.kv_f32 = kv_f32;
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    return s;
}

static struct infer_session *session(struct infer_model *m, int n_batch)
{
    return session_kv(m, n_batch, true);
}

static void eval_steps(struct infer_session *s, int from, int step)
{
    struct kb_error err = {0};
    for (int t = from; t < N_TOK; t += step) {
        int k = t + step > N_TOK ? N_TOK - t : step;
        if (infer_eval(s, ids + t, k, got + (size_t)t * N_VOCAB, true, &err))
            fail_msg("eval: %s", err.msg);
    }
}

static void check_case(const char *name, double tol, int max_flips)
{
    char path[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.llamacpp_logits.f32", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof(float), N_TOK * N_VOCAB, f), N_TOK * N_VOCAB);
    fclose(f);
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    if (infer_model_open(&m, path, &err))
        fail_msg("open %s: %s", name, err.msg);
    struct infer_model_info mi;
    infer_model_get_info(m, &mi);
    assert_string_equal(mi.arch, "gpt-oss");
    struct infer_session *s = session(m, 16);
    eval_steps(s, 0, N_TOK);
    compare(name, "batch of 16", 0, tol, max_flips);
    infer_session_reset(s);
    eval_steps(s, 0, 5); /* 5 + 5 + 5 + 1: steps that straddle the window */
    compare(name, "steps of 5", 0, tol, max_flips);
    infer_session_free(s);
    s = session(m, 1);
    eval_steps(s, 0, 1);
    compare(name, "token by token", 0, tol, max_flips);
    infer_session_free(s);
    s = session(m, 3);
    eval_steps(s, 0, 3);
    compare(name, "steps of 3", 0, tol, max_flips);
    /* rollback past the ring: rows 4.. again after truncating to 4 */
    memset(got, 0, sizeof got);
    infer_session_truncate(s, 4);
    assert_int_equal(infer_session_n_past(s), 4);
    eval_steps(s, 4, 3);
    compare(name, "after truncate(4)", 4, tol, max_flips);
    infer_session_free(s);
    /* the default F16 cache through the ring (llama.cpp's reference is F32: a looser bound) */
    s = session_kv(m, 3, false);
    eval_steps(s, 0, 3);
    compare(name, "F16 KV, steps of 3", 0, fmax(tol, 1e-2), 1);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_f32(void **state)
{
    (void)state;
    check_case("tiny_gptoss_f32", 1e-4, 0);
}

static void test_f32_second_shape(void **state)
{
    (void)state;
    check_case("tiny_gptoss_b_f32", 1e-4, 0);
}

/* A file written by gguf-py, not by kbox's synth. */
static void test_f32_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_gptoss_gguf_py_f32", 1e-4, 0);
}

static void test_mxfp4_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_gptoss_gguf_py_mxfp4", 3e-2, 1);
}

static void test_mxfp4(void **state)
{
    (void)state;
    check_case("tiny_gptoss_mxfp4", 3e-2, 1);
}

/* A sliding layer's cache holds its window plus one step, not the context. */
static void test_ring_memory(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    if (infer_model_open(&m, GOLDEN_DIR "tiny_gptoss_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    /* 2 layers, one sliding (window 8). Per cell and layer: K and V of 2 heads x 16, F16: 128
     * bytes. infer_session_bytes also counts per position 128 bytes of attention scores (2
     * threads x 16 rows x 4) and 4 of token history. Doubling the context from 4096 adds 4096
     * positions: 4096 x (128 + 128 + 4) when only the full layer's cache grows, 4096 x (256 +
     * 128 + 4) if the sliding layer's grew too. */
    uint64_t a = infer_session_bytes(m, 4096, 16, false), b = infer_session_bytes(m, 8192, 16, false);
    printf("[ gpt-oss  ] session bytes at 4096: %llu, at 8192: %llu (+%llu per position)\n", (unsigned long long)a,
           (unsigned long long)b, (unsigned long long)((b - a) / 4096));
    assert_int_equal(b - a, 4096ull * (128 + 128 + 4));
    /* model info counts per position only what grows: the full layer's 128 bytes */
    struct infer_model_info mi;
    infer_model_get_info(m, &mi);
    assert_int_equal(mi.n_swa, 8);
    assert_int_equal(mi.n_swa_layers, 1);
    assert_int_equal(mi.kv_bytes_per_token, 128);
    infer_model_close(m);
}

/* The harmony prompt of the file's template: its control tokens are single ids of the vocabulary,
 * and generation with split_reasoning runs (the splitter reads rendered control tokens). */
static int count_piece(void *ud, const char *s, size_t n)
{
    (void)s;
    *(size_t *)ud += n;
    return 0;
}

static void test_harmony_prompt(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    if (infer_model_open(&m, GOLDEN_DIR "tiny_gptoss_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    assert_string_equal(infer_chat_family(m), "harmony");
    struct infer_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "hello"}};
    struct infer_chat_opts co = {true, true, NULL};
    struct kb_buf b;
    kb_buf_init(&b, 0);
    assert_int_equal(infer_chat_render(m, msgs, 2, &co, &b, &err), 0);
    assert_non_null(strstr(b.data, "<|start|>user<|message|>hello<|end|><|start|>assistant"));
    int32_t tok[1024], start = -1, message = -1;
    int n = 0;
    if (infer_tokenize(m, b.data, b.len, true, true, tok, 1024, &n, &err))
        fail_msg("tokenize: %s", err.msg);
    printf("[ gpt-oss  ] harmony prompt: %zu bytes, %d tokens\n", b.len, n);
    assert_int_equal(infer_tokenize(m, "<|start|>", 9, false, true, &start, 1, &(int){0}, &err), 0);
    assert_int_equal(infer_tokenize(m, "<|message|>", 11, false, true, &message, 1, &(int){0}, &err), 0);
    int n_start = 0, n_message = 0;
    for (int i = 0; i < n; i++) {
        n_start += tok[i] == start;
        n_message += tok[i] == message;
    }
    assert_int_equal(n_start, 4); /* system, developer, user, and the assistant's opening */
    assert_int_equal(n_message, 3);
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    infer_session_params_default(&sp);
    sp.n_ctx = 2048;
    sp.n_batch = 64; /* the prompt in several steps through the ring of the window of 8 */
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    struct infer_gen_params gp;
    struct infer_gen_result res;
    size_t n_answer = 0;
    infer_gen_params_default(&gp);
    gp.sample.temp = 0;
    gp.max_tokens = 24;
    gp.split_reasoning = true;
    gp.reasoning = count_piece;
    assert_int_equal(infer_generate(s, tok, n, &gp, count_piece, &n_answer, &res, &err), 0);
    assert_true(res.n_gen > 0);
    infer_session_free(s);
    kb_buf_release(&b);
    infer_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f32_second_shape),
        cmocka_unit_test(test_f32_gguf_py),
        cmocka_unit_test(test_mxfp4_gguf_py),
        cmocka_unit_test(test_mxfp4),
        cmocka_unit_test(test_ring_memory),
        cmocka_unit_test(test_harmony_prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
