/* tests/infer/test_mxfp4_conf.c: MXFP4 weights against llama.cpp itself.
 *
 * Two committed files in tests/infer/golden/, written by `kbox model synth --type MXFP4`:
 * - tiny_qwen3moe_mxfp4.gguf: --arch qwen3moe --layers 2 --dim 64 --heads 4 --kv-heads 2
 *   --head-dim 16 --experts 8 --experts-used 2 --ff-exp 64 --seed 21 (experts MXFP4, the other
 *   matrices Q8_0; its MXFP4 bytes are identical to what llama-quantize MXFP4_MOE makes of the
 *   F32 file of the same seed, checked when it was made);
 * - tiny_llama_mxfp4.gguf: --arch llama --layers 2 --dim 64 --heads 4 --kv-heads 2 --ff 128
 *   --seed 22 (dense: the FFN matrices MXFP4, so a batch of 16 goes through the MXFP4 panels).
 * NAME.llamacpp_logits.f32 holds llama.cpp d32676d77's logits for the 16 ids below (16 x 320
 * float32, row t after ids[0..t]): one llama_decode of all 16 with every position's logits,
 * 1 thread, F32 KV cache, flash attention off, as in ../shared/conformance. No llama.cpp code is
 * part of this repository.
 *
 * The engine must give the same logits within the conformance set's quantized tolerance (3e-2 of
 * max |logit|, at most one argmax flip in 16; it measured about 1e-7 on every path) when the 16
 * ids go in as one batch (panels where a matrix sees 16 tokens), as 5 + 11 (the 4x4 tiles), and
 * one at a time (vec_dot and the row kernels). ctest runs it three times: dispatched kernels,
 * KBOX_ISA=avx2 and KBOX_FORCE_SCALAR=1. */
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

static void compare(const char *how)
{
    double md = 0, mr = 0;
    int flips = 0;
    for (int t = 0; t < N_TOK; t++) {
        for (int i = 0; i < N_VOCAB; i++) {
            md = fmax(md, fabs((double)got[t * N_VOCAB + i] - ref[t * N_VOCAB + i]));
            mr = fmax(mr, fabs((double)ref[t * N_VOCAB + i]));
        }
        flips += argmax(got + t * N_VOCAB) != argmax(ref + t * N_VOCAB);
    }
    printf("[ mxfp4    ] %-14s max |kbox - llama.cpp| / max |llama.cpp| = %.3g, argmax flips %d/16\n", how, md / mr,
           flips);
    if (md / mr > 3e-2 || flips > 1)
        fail_msg("%s: relative difference %.3g, %d argmax flips", how, md / mr, flips);
}

static void check_case(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.llamacpp_logits.f32", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof(float), N_TOK * N_VOCAB, f), N_TOK * N_VOCAB);
    fclose(f);
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    if (infer_model_open(&m, path, &err))
        fail_msg("open %s: %s", name, err.msg);
    printf("[ mxfp4    ] %s\n", name);
    infer_session_params_default(&sp);
    sp.n_ctx = 64;
    sp.kv_f32 = true;
    assert_int_equal(infer_session_new(&s, m, &sp, &err), 0);
    /* one batch of 16: the panel path */
    assert_int_equal(infer_eval(s, ids, N_TOK, got, true, &err), 0);
    compare("batch of 16");
    /* 5 + 11: the tiles */
    infer_session_reset(s);
    assert_int_equal(infer_eval(s, ids, 5, got, true, &err), 0);
    assert_int_equal(infer_eval(s, ids + 5, N_TOK - 5, got + 5 * N_VOCAB, true, &err), 0);
    compare("5 + 11");
    /* one at a time: vec_dot / row kernels */
    infer_session_reset(s);
    for (int t = 0; t < N_TOK; t++)
        assert_int_equal(infer_eval(s, ids + t, 1, got + t * N_VOCAB, false, &err), 0);
    compare("token by token");
    infer_session_free(s);
    infer_model_close(m);
}

static void test_against_llamacpp(void **state)
{
    (void)state;
    check_case("tiny_qwen3moe_mxfp4");
    check_case("tiny_llama_mxfp4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_llamacpp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
