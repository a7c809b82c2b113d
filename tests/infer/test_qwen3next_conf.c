/* tests/infer/test_qwen3next_conf.c: qwen3next (Gated DeltaNet + gated attention + sparse experts
 * with a gated shared expert) against llama.cpp itself.
 *
 * Committed files in tests/infer/golden/, written by `kbox model synth --arch qwen3next` (derived
 * DeltaNet widths: state head_dim / 2, one key head per query head, two value heads per key head,
 * kernel 4; full attention every 2nd block below 4 blocks, every 4th from 4; rotary on a quarter
 * of each head):
 * - tiny_qwen3next_f32.gguf: --type F32 --layers 2 --dim 32 --heads 2 --kv-heads 1 --head-dim 16
 *   --experts 8 --experts-used 2 --ff-exp 32 --ff-shexp 32 --seed 31 (block 0 DeltaNet, 1 full);
 * - tiny_qwen3next_q8.gguf: the same shape and seed with --type Q8_0;
 * - tiny_qwen3next_b_f32.gguf: a second seed and shape: --type F32 --layers 4 --dim 48 --heads 3
 *   --kv-heads 1 --head-dim 16 --experts 6 --experts-used 3 --ff-exp 16 --ff-shexp 16 --tied
 *   --seed 77 (blocks 0-2 DeltaNet with 6 value heads over 3 key heads, block 3 full; the output
 *   head tied to the token embedding);
 * - tiny_qwen35moe_f32.gguf: `--arch qwen35moe` (Qwen3.5 MoE: separate ssm_beta/ssm_alpha, value
 *   heads tiled over key heads, rope.dimension_sections) with the second shape untied, --seed 53;
 *   80 ids only;
 * - tiny_qwen3next_gguf_py_f32.gguf: written NOT by kbox but by the reference snapshot's gguf-py
 *   (its GGUFWriter, from a throwaway script outside this repository), so that a writer bug shared
 *   by synth and kbox's loader cannot hide: the first file's metadata and tokenizer with 6 experts,
 *   3 used, and fresh random weights (numpy seed 1201); 16 and 80 ids;
 * - tiny_qwen3next_gguf_py_q8.gguf: that file quantized by gguf-py's own Q8_0 quantizer (weights
 *   whose rows are a multiple of 32; the rest F32); 16 and 80 ids;
 * - tiny_qwen35moe_gguf_py_f32.gguf: also written by gguf-py: tiny_qwen35moe_f32's metadata and
 *   tokenizer with 4 experts of width 16, 2 used, fresh random weights (numpy seed 1205); 80 ids.
 * NAME.llamacpp_logits.f32 holds llama.cpp d32676d77's logits for the 16 ids of conf_case.c (16 x 320
 * float32, row t after ids[0..t]) and NAME.llamacpp_logits80.f32 for the 80 ids (longer than one
 * 64-token DeltaNet chunk): one llama_decode of all ids with every position's logits, 1 thread,
 * F32 KV cache, flash attention off, as in ../shared/conformance. No llama.cpp code is part of
 * this repository.
 *
 * Tolerances as the conformance set's: F32 1e-4 of max |logit| with identical argmax everywhere;
 * Q8_0 3e-2 with at most one argmax flip in 16 (two in 80). Each case runs as one batch (the
 * chunked form: 64 + 16 for 80 ids), in steps of 5, one token at a time (the recurrent form), in
 * steps of 3 then a rollback to 4 (before the last snapshot: re-evaluated from position 0), and a
 * rollback inside the last multi-token step (restored from its snapshot). The chunked and the
 * recurrent forms are also compared with each other over 80 ids at 5e-5 (measured 8e-6). Then:
 * speculative decoding with rejected drafts (rollbacks) gives plain greedy decoding's text, model
 * info/session sizes count only the full-attention block's cache, and the CLI (synth, info, run).
 * test_qwen3next_conf_scalar runs the same with KBOX_FORCE_SCALAR=1. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/infer.h"

#include "conf_case.h"

#define GOLDEN_DIR KBOX_SOURCE_DIR "/tests/infer/golden/"

#define N_MAX CONF_MAX

static float ref[N_MAX * CONF_VOCAB], got[N_MAX * CONF_VOCAB], got2[N_MAX * CONF_VOCAB];
static int n_tok = 16;

static void compare(const char *name, const char *how, int t0, double tol, int max_flips)
{
    conf_compare(" qwen3next", name, how, got, ref, t0, n_tok, tol, max_flips);
}

static struct infer_session *session(struct infer_model *m, int n_batch)
{
    return conf_session(m, 128, n_batch, true, false);
}

/* Reads NAME.SUFFIX's n rows of llama.cpp logits into ref and opens NAME.gguf. */
static struct infer_model *open_case(const char *name, const char *suffix, int n)
{
    n_tok = n;
    conf_read_ref(name, suffix, n, ref);
    return conf_open(name, strstr(name, "qwen35moe") ? "qwen35moe" : "qwen3next");
}

static void check_case(const char *name, const char *suffix, int n, double tol, int max_flips)
{
    struct infer_model *m = open_case(name, suffix, n);
    struct infer_session *s = session(m, n);
    conf_eval_steps(s, got, 0, n, n);
    compare(name, "one batch", 0, tol, max_flips);
    infer_session_reset(s);
    memset(got, 0, sizeof got);
    conf_eval_steps(s, got, 0, n, 5);
    compare(name, "steps of 5", 0, tol, max_flips);
    /* rollback inside the last multi-token step: from its snapshot */
    int last = (n - 1) / 5 * 5, back = n - 2 > last ? n - 2 : last;
    infer_session_truncate(s, back);
    assert_int_equal(infer_session_n_past(s), back);
    memset(got, 0, sizeof got);
    conf_eval_steps(s, got, back, n, 5);
    compare(name, "after truncate(snap)", back, tol, max_flips);
    infer_session_free(s);
    s = session(m, 1);
    memset(got, 0, sizeof got);
    conf_eval_steps(s, got, 0, n, 1);
    compare(name, "token by token", 0, tol, max_flips);
    infer_session_free(s);
    s = session(m, 3);
    conf_eval_steps(s, got, 0, n, 3);
    compare(name, "steps of 3", 0, tol, max_flips);
    /* rollback before the last snapshot: the prefix is evaluated again from position 0 */
    memset(got, 0, sizeof got);
    infer_session_truncate(s, 4);
    assert_int_equal(infer_session_n_past(s), 4);
    conf_eval_steps(s, got, 4, n, 3);
    compare(name, "after truncate(4)", 4, tol, max_flips);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_f32(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_f32", "llamacpp_logits.f32", 16, 1e-4, 0);
}

static void test_f32_80(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

static void test_q8(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_q8", "llamacpp_logits.f32", 16, 3e-2, 1);
}

static void test_q8_80(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_q8", "llamacpp_logits80.f32", 80, 3e-2, 2);
}

static void test_f32_second_shape(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_b_f32", "llamacpp_logits.f32", 16, 1e-4, 0);
}

/* A file written by gguf-py, not by kbox's synth. */
static void test_f32_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_gguf_py_f32", "llamacpp_logits.f32", 16, 1e-4, 0);
}

static void test_f32_gguf_py_80(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_gguf_py_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

static void test_q8_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_gguf_py_q8", "llamacpp_logits.f32", 16, 3e-2, 1);
}

static void test_q8_gguf_py_80(void **state)
{
    (void)state;
    check_case("tiny_qwen3next_gguf_py_q8", "llamacpp_logits80.f32", 80, 3e-2, 2);
}

/* qwen35moe: separate beta/alpha projections, tiled key heads, IMROPE sections (NEOX for text). */
static void test_qwen35moe_80(void **state)
{
    (void)state;
    check_case("tiny_qwen35moe_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

/* qwen35moe written by gguf-py, not by kbox's synth. */
static void test_qwen35moe_gguf_py_80(void **state)
{
    (void)state;
    check_case("tiny_qwen35moe_gguf_py_f32", "llamacpp_logits80.f32", 80, 1e-4, 0);
}

/* The chunked form (one batch of 80: chunks of 64 and 16) against the recurrence (one token at a
 * time) directly, tighter than against llama.cpp (F32 rounding of two summation orders). */
static void test_chunked_vs_recurrent(void **state)
{
    (void)state;
    int flips;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    if (infer_model_open(&m, GOLDEN_DIR "tiny_qwen3next_b_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    n_tok = N_MAX;
    struct infer_session *s = session(m, N_MAX);
    conf_eval_steps(s, got, 0, N_MAX, N_MAX);
    infer_session_free(s);
    s = session(m, 1);
    conf_eval_steps(s, got2, 0, N_MAX, 1);
    infer_session_free(s);
    double r = conf_rel_diff(got, got2, 0, n_tok, &flips);
    printf("[ qwen3next] chunked (64 + 16) vs recurrent over 80 ids: relative difference %.3g, flips %d\n", r,
           flips);
    assert_true(r <= 5e-5);
    assert_int_equal(flips, 0);
    infer_model_close(m);
}

/* infer_model_get_info on the second shape: only the full-attention block has a KV cache (1 KV
 * head of 16, K and V in F16: 64 bytes per position); the three DeltaNet blocks keep fixed-size
 * states, so doubling the context adds only that block's cache (plus scores and history). */
static void test_info(void **state)
{
    (void)state;
    struct infer_model *m = open_case("tiny_qwen3next_b_f32", "llamacpp_logits.f32", 16);
    struct infer_model_info mi;
    infer_model_get_info(m, &mi);
    assert_int_equal(mi.kv_bytes_per_token, 64);
    uint64_t a = infer_session_bytes(m, 4096, 16, false), b = infer_session_bytes(m, 8192, 16, false);
    /* per position: 64 of cache, 128 of attention scores (2 threads x 16 rows x 4), 4 of history */
    assert_int_equal(b - a, 4096ull * (64 + 128 + 4));
    assert_int_equal(mi.n_layer, 4);
    assert_int_equal(mi.n_expert, 6);
    assert_int_equal(mi.n_expert_used, 3);
    assert_int_equal(mi.n_ff_shexp, 16);
    assert_true(mi.tied_output);
    assert_int_equal(mi.n_rot, 4);
    infer_model_close(m);
}

/* Speculative decoding on a recurrent model: drafts that are rejected roll the session back
 * (snapshot + re-evaluation), and the text must be the one plain greedy decoding gives. */
static int collect(void *ud, const char *piece, size_t n)
{
    struct kb_buf *b = ud;
    return kb_buf_append(b, piece, n);
}

static void gen_text(struct infer_model *m, int draft_max, struct kb_buf *out, struct infer_gen_result *res)
{
    struct kb_error err = {0};
    struct infer_session *s = session(m, 16);
    struct infer_gen_params gp;
    int32_t prompt[48];
    for (int i = 0; i < 48; i++) /* a repeating prompt, so that lookups find drafts */
        prompt[i] = conf_ids[i % 12];
    infer_gen_params_default(&gp);
    gp.sample.temp = 0;
    gp.max_tokens = 40;
    gp.ignore_eos = true;
    gp.draft_max = draft_max;
    if (infer_generate(s, prompt, 48, &gp, collect, out, res, &err))
        fail_msg("generate: %s", err.msg);
    infer_session_free(s);
}

static void test_spec_rollback(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_gen_result plain, spec;
    struct kb_buf a, b;
    if (infer_model_open(&m, GOLDEN_DIR "tiny_qwen3next_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    kb_buf_init(&a, 0);
    kb_buf_init(&b, 0);
    gen_text(m, -1, &a, &plain);
    gen_text(m, 4, &b, &spec);
    printf("[ qwen3next] drafts: %d drafted, %d accepted in %d verifications; %d and %d tokens\n", spec.n_drafted,
           spec.n_accepted, spec.n_verify, plain.n_gen, spec.n_gen);
    assert_int_equal(plain.n_gen, 40);
    assert_int_equal(spec.n_gen, 40);
    assert_true(spec.n_drafted > spec.n_accepted); /* some drafts were rejected: rollbacks ran */
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    kb_buf_release(&a);
    kb_buf_release(&b);
    infer_model_close(m);
}

/* infer_embed starts from a zero state whatever the session held: the same tokens embed the same
 * before and after other evaluations, and the logits after it match a fresh session's. */
static void test_embed_fresh_state(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    float a[32], b[32];
    if (infer_model_open(&m, GOLDEN_DIR "tiny_qwen3next_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    n_tok = 16;
    struct infer_session *s = session(m, 16);
    assert_int_equal(infer_embed(s, conf_ids, 10, a, NULL, true, &err), 0);
    conf_eval_steps(s, got, 0, 16, 16);
    assert_int_equal(infer_embed(s, conf_ids, 10, b, NULL, true, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    memcpy(got2, got, sizeof(float) * 16 * CONF_VOCAB);
    conf_eval_steps(s, got, 0, 16, 16); /* n_past is 0 again: a fresh sequence */
    assert_memory_equal(got, got2, sizeof(float) * 16 * CONF_VOCAB);
    infer_session_free(s);
    infer_model_close(m);
}

/* The CLI: synth at its default qwen3next shape, info --json, run with the chat template, and a
 * bad synth request refused with a message. */
static void test_cli(void **state)
{
    (void)state;
    const char *const info_has[] = {
        "\"arch\":\"qwen3next\"",
        /* 2 blocks (DeltaNet, full), 2 KV heads of 64: K + V in F16 of the full block only */
        "\"n_recurrent_layers\":1,",
        /* one DeltaNet layer: conv state 3 x (2 x 4 x 32 + 8 x 32) + 8 states of 32 x 32, floats */
        "\"recurrent_state_bytes\":38912,",
        "\"kv_bytes_per_token\":512,",
        NULL,
    };
    conf_cli("qwen3next", "qnext", info_has, "--ff-shexp", "0", "shared expert");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f32_80),
        cmocka_unit_test(test_q8),
        cmocka_unit_test(test_q8_80),
        cmocka_unit_test(test_f32_second_shape),
        cmocka_unit_test(test_f32_gguf_py),
        cmocka_unit_test(test_f32_gguf_py_80),
        cmocka_unit_test(test_q8_gguf_py),
        cmocka_unit_test(test_q8_gguf_py_80),
        cmocka_unit_test(test_qwen35moe_80),
        cmocka_unit_test(test_qwen35moe_gguf_py_80),
        cmocka_unit_test(test_chunked_vs_recurrent),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_spec_rollback),
        cmocka_unit_test(test_embed_fresh_state),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
