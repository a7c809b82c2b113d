/* tests/infer/test_decode_threads.c: greedy decoding is bit-identical at 1 and 2 threads. For
 * synthetic MoE files large enough that every generation product is split into several pool chunks
 * (deepseek2 Q8_0 with MLA, a dense lead block and shared experts, where the one-token expert path
 * and the Q8_0 row kernel run; qwen3moe Q4_K; deepseek2 in llama-quantize's Q4_K_M mix), a 20-token prompt (one batch: panels and expert
 * batching) and then 24 greedy steps run on a private 1-thread session and a private 2-thread one;
 * every step's full logits row must be equal bit for bit, and so the tokens. Also checked: the
 * same with profiling on (bench --profile must not change a result). Real GGUF files written by
 * kbox's own synth writer; no stubs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "infer/infer.h"

#define N_PROMPT 20
#define N_GEN 24

struct run {
    int32_t tok[N_GEN];
    float *lg; /* (N_GEN, n_vocab) */
};

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static void decode(struct infer_model *m, int n_threads, bool profile, int n_vocab, struct run *out)
{
    struct infer_session_params sp;
    struct infer_session *s = NULL;
    struct kb_error err = {0};
    infer_session_params_default(&sp);
    sp.n_ctx = 128;
    sp.n_batch = 32;
    sp.n_threads = n_threads;
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    if (profile)
        infer_session_profile(s, true);
    int32_t prompt[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        prompt[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    float *lg = kb_xmalloc((size_t)n_vocab * sizeof *lg);
    out->lg = kb_xmalloc((size_t)N_GEN * n_vocab * sizeof(float));
    assert_int_equal(infer_eval(s, prompt, N_PROMPT, lg, false, &err), 0);
    for (int i = 0; i < N_GEN; i++) {
        out->tok[i] = argmax(lg, n_vocab);
        assert_int_equal(infer_eval(s, &out->tok[i], 1, lg, false, &err), 0);
        memcpy(out->lg + (size_t)i * n_vocab, lg, (size_t)n_vocab * sizeof *lg);
    }
    if (profile) {
        struct infer_profile p;
        infer_session_profile_get(s, &p);
        assert_int_equal((int)p.n_steps, 1 + N_GEN);
        if (n_threads > 1)
            assert_true(p.n_jobs > 0);
    }
    free(lg);
    infer_session_free(s);
}

static void check(const char *arch, const char *type)
{
    char path[256];
    struct infer_synth_params sp;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_model_info in;
    snprintf(path, sizeof path, "/tmp/kbox-test-decode-threads-%d-%s.gguf", (int)getpid(), arch);
    infer_synth_params_default(&sp, arch);
    sp.mix_q4_k_m = strcmp(type, "Q4_K_M") == 0;
    sp.type = infer_type_from_name(sp.mix_q4_k_m ? "Q4_K" : type);
    sp.n_layer = 3;
    sp.n_embd = 512;
    sp.n_head = 4;
    sp.n_head_kv = strcmp(arch, "deepseek2") == 0 ? 4 : 2;
    sp.n_ff = 1024;
    sp.n_vocab = 4000; /* output: 4000 rows, several chunks */
    sp.n_expert = 8;
    sp.n_expert_used = 2;
    sp.n_ff_exp = 512; /* 512 rows x 544 B of Q8_0 per expert matrix: several chunks */
    if (sp.mix_q4_k_m)
        sp.n_ff_exp = 640; /* expert rows Q6_K cannot hold: the Q8_0 and Q5_0 fallbacks in the mix */
    if (strcmp(arch, "deepseek2") == 0) {
        sp.n_expert_shared = 1;
        sp.n_dense_lead = 1;
    } else {
        sp.n_ff_shexp = 0;
    }
    if (infer_synth_write(path, &sp, &err) || infer_model_open(&m, path, &err))
        fail_msg("%s: %s", arch, err.msg);
    infer_model_get_info(m, &in);
    struct run one, two, prof;
    decode(m, 1, false, in.n_vocab, &one);
    decode(m, 2, false, in.n_vocab, &two);
    decode(m, 2, true, in.n_vocab, &prof);
    assert_memory_equal(one.tok, two.tok, sizeof one.tok);
    for (int i = 0; i < N_GEN; i++)
        if (memcmp(one.lg + (size_t)i * in.n_vocab, two.lg + (size_t)i * in.n_vocab,
                   (size_t)in.n_vocab * sizeof(float)) != 0)
            fail_msg("%s %s: step %d logits differ between 1 and 2 threads", arch, type, i);
    assert_memory_equal(one.lg, prof.lg, (size_t)N_GEN * in.n_vocab * sizeof(float));
    /* a real decode: the greedy tokens are not all one id */
    int distinct = 0;
    for (int i = 1; i < N_GEN; i++)
        distinct += one.tok[i] != one.tok[0];
    assert_true(distinct > 0);
    free(one.lg);
    free(two.lg);
    free(prof.lg);
    infer_model_close(m);
    unlink(path);
}

static void test_deepseek2_q8_0(void **state)
{
    (void)state;
    check("deepseek2", "Q8_0");
}

static void test_qwen3moe_q4_k(void **state)
{
    (void)state;
    check("qwen3moe", "Q4_K");
}

/* llama-quantize's Q4_K_M mix: Q4_K, Q6_K (output, the last layer's down projections), Q5_0
 * (attn_k_b, 640-wide expert rows), Q8_0 (the Q6_K ones of those), Q5_K (attn_output with 8
 * experts): the Q4_K and Q6_K row kernels and the other types' fallbacks in one decode. */
static void test_deepseek2_q4_k_m(void **state)
{
    (void)state;
    check("deepseek2", "Q4_K_M");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deepseek2_q8_0),
        cmocka_unit_test(test_qwen3moe_q4_k),
        cmocka_unit_test(test_deepseek2_q4_k_m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
