/* tests/infer/test_deepseek32_conf.c: deepseek32 (DeepSeek-V3.2: MLA with DeepSeek Sparse
 * Attention, the lightning indexer keeping each query's top-k positions) against llama.cpp itself.
 *
 * Committed files in tests/infer/golden/, written by `kbox model synth --arch deepseek32` (q-LoRA,
 * sigmoid gating with exp_probs_b, one leading dense block, YaRN factor 40):
 * - tiny_ds32_f32.gguf: --type F32 --layers 2 --dim 64 --heads 2 --q-lora 32 --kv-lora 48
 *   --rope-dim 32 --nope-dim 16 --v-dim 16 --experts 4 --experts-used 2 --ff-exp 32 --ff 64
 *   --idx-heads 8 --idx-dim 64 --idx-top-k 4 --seed 31;
 * - tiny_ds32_q8.gguf: the same shape and seed with --type Q8_0 (rows of 16 fall back to F16);
 * - tiny_ds32_b_f32.gguf: a second seed and shape: --type F32 --layers 3 --dim 96 --heads 3
 *   --q-lora 48 --kv-lora 64 --rope-dim 32 --nope-dim 32 --v-dim 32 --experts 6 --experts-used 2
 *   --ff-exp 32 --ff 96 --idx-heads 8 --idx-dim 64 --idx-top-k 6 --seed 77.
 * The top-k (4, 6) is far below the prompt (16, 80 ids), so the selection decides the output.
 * Shapes avoid two things that are not about the model: kv_lora + rope equal to the indexer key
 * length (llama.cpp d32676d77 then also Hadamard-rotates the MLA cache, whose values are read from
 * the keys, and its output changes), and few indexer heads (with 4, a score of exactly 0, every
 * head's ReLU being 0, tied at the top-k threshold once in 16 rows: llama.cpp breaks ties in
 * std::partial_sort's unspecified order, kbox toward the earlier position).
 * NAME.llamacpp_logits.f32 holds llama.cpp d32676d77's logits for the first 16 ids below (16 x 320
 * float32, row t after ids[0..t]) and NAME.llamacpp_logits80.f32 for all 80: one llama_decode of
 * all ids with every position's logits, 1 thread, F32 KV cache, flash attention off, as in
 * ../shared/conformance. No llama.cpp code is part of this repository.
 *
 * Tolerances as the conformance set's: F32 1e-4 of max |logit| with identical argmax everywhere;
 * Q8_0 3e-2 with at most one argmax flip in 16 (two in 80). Each case runs as one batch, in steps
 * of 5, one token at a time, and in steps of 3 after a truncation to 4. Then: the indexer really
 * selects (the same file with a top-k above the prompt, i.e. dense MLA, gives other logits), model
 * info, and the CLI (synth, info --json, run; a bad indexer shape refused with a message).
 * test_deepseek32_conf_scalar runs the same with KBOX_FORCE_SCALAR=1. */
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
#define N_MAX 80
#define N_VOCAB 320

static const int32_t ids[N_MAX] = {
    84,  214, 214, 144, 245, 110, 243, 262, 93,  258, 270, 120, 1,   7,   189, 219, 109, 278, 127, 176,
    281, 62,  295, 96,  113, 170, 147, 100, 85,  274, 231, 188, 149, 230, 183, 44,  265, 278, 207, 256,
    13,  110, 259, 48,  157, 178, 203, 256, 37,  86,  259, 192, 17,  110, 159, 32,  125, 54,  179, 12,
    5,   22,  115, 44,  133, 30,  11,  60,  185, 230, 75,  108, 89,  226, 31,  260, 93,  178, 235, 200};

static float ref[N_MAX * N_VOCAB], got[N_MAX * N_VOCAB];
static int n_tok = 16;

static int argmax(const float *x)
{
    int b = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Rows t0..n_tok-1 of a against b: the relative difference; flips counted into *flips. */
static double rel_diff(const float *a, const float *b, int t0, int *flips)
{
    double md = 0, mr = 0;
    *flips = 0;
    for (int t = t0; t < n_tok; t++) {
        for (int i = 0; i < N_VOCAB; i++) {
            md = fmax(md, fabs((double)a[t * N_VOCAB + i] - b[t * N_VOCAB + i]));
            mr = fmax(mr, fabs((double)b[t * N_VOCAB + i]));
        }
        *flips += argmax(a + t * N_VOCAB) != argmax(b + t * N_VOCAB);
    }
    return md / mr;
}

static void compare(const char *name, const char *how, int t0, double tol, int max_flips)
{
    int flips;
    double r = rel_diff(got, ref, t0, &flips);
    printf("[deepseek32] %-18s %2d ids %-18s max |kbox - llama.cpp| / max |llama.cpp| = %.3g, argmax flips %d/%d\n",
           name, n_tok, how, r, flips, n_tok - t0);
    if (!(r <= tol) || flips > max_flips)
        fail_msg("%s %s: relative difference %.3g, %d argmax flips", name, how, r, flips);
}

static struct infer_session *session(struct infer_model *m, int n_batch)
{
    struct kb_error err = {0};
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    infer_session_params_default(&sp);
    sp.n_ctx = 128;
    sp.n_batch = n_batch;
    sp.kv_f32 = true;
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    return s;
}

static void eval_steps(struct infer_session *s, float *out, int from, int to, int step)
{
    struct kb_error err = {0};
    for (int t = from; t < to; t += step) {
        int k = t + step > to ? to - t : step;
        if (infer_eval(s, ids + t, k, out + (size_t)t * N_VOCAB, true, &err))
            fail_msg("eval: %s", err.msg);
    }
}

static struct infer_model *open_case(const char *name, const char *suffix, int n)
{
    char path[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    n_tok = n;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.%s", name, suffix);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("missing %s", path);
    assert_int_equal(fread(ref, sizeof(float), (size_t)n * N_VOCAB, f), (size_t)n * N_VOCAB);
    fclose(f);
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    if (infer_model_open(&m, path, &err))
        fail_msg("open %s: %s", name, err.msg);
    struct infer_model_info mi;
    infer_model_get_info(m, &mi);
    assert_string_equal(mi.arch, "deepseek32");
    return m;
}

static void check_case(const char *name, const char *suffix, int n, double tol, int max_flips)
{
    struct infer_model *m = open_case(name, suffix, n);
    struct infer_session *s = session(m, n);
    eval_steps(s, got, 0, n, n);
    compare(name, "one batch", 0, tol, max_flips);
    infer_session_reset(s);
    memset(got, 0, sizeof got);
    eval_steps(s, got, 0, n, 5);
    compare(name, "steps of 5", 0, tol, max_flips);
    infer_session_free(s);
    s = session(m, 1);
    memset(got, 0, sizeof got);
    eval_steps(s, got, 0, n, 1);
    compare(name, "token by token", 0, tol, max_flips);
    infer_session_free(s);
    s = session(m, 3);
    eval_steps(s, got, 0, n, 3);
    memset(got, 0, sizeof got);
    infer_session_truncate(s, 4);
    assert_int_equal(infer_session_n_past(s), 4);
    eval_steps(s, got, 4, n, 3);
    compare(name, "after truncate(4)", 4, tol, max_flips);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_f32(void **state)
{
    (void)state;
    check_case("tiny_ds32_f32", "llamacpp_logits.f32", 16, 1e-4, 0);
}

static void test_f32_80(void **state)
{
    (void)state;
    check_case("tiny_ds32_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

static void test_q8(void **state)
{
    (void)state;
    check_case("tiny_ds32_q8", "llamacpp_logits.f32", 16, 3e-2, 1);
}

static void test_q8_80(void **state)
{
    (void)state;
    check_case("tiny_ds32_q8", "llamacpp_logits80.f32", 80, 3e-2, 2);
}

static void test_f32_second_shape(void **state)
{
    (void)state;
    check_case("tiny_ds32_b_f32", "llamacpp_logits.f32", 16, 1e-4, 0);
}

static void test_f32_second_shape_80(void **state)
{
    (void)state;
    check_case("tiny_ds32_b_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f32_80),
        cmocka_unit_test(test_q8),
        cmocka_unit_test(test_q8_80),
        cmocka_unit_test(test_f32_second_shape),
        cmocka_unit_test(test_f32_second_shape_80),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
