/* tests/infer/test_glm4moe_conf.c: glm4moe (GLM-4.5), and deepseek2 with a NextN block, against
 * llama.cpp itself.
 *
 * Committed files in tests/infer/golden/, written by `kbox model synth --arch glm4moe` (q/k/v
 * biases, NEOX rope over half of each head, rope base 1e6, one leading dense block, sigmoid
 * routing with exp_probs_b and normalised weights, shared experts, one NextN/MTP block after the
 * main blocks, which the main forward must skip as llama.cpp does):
 * - tiny_glm4moe_f32.gguf: --type F32 --layers 2 --dim 32 --heads 4 --kv-heads 2 --head-dim 16
 *   --ff 64 --experts 6 --experts-used 2 --ff-exp 16 --seed 11;
 * - tiny_glm4moe_q8.gguf: the same shape and seed with --type Q8_0 (rows of 16 fall back to F16);
 * - tiny_glm4moe_b_f32.gguf: a second seed and shape: --type F32 --layers 3 --dim 32 --heads 2
 *   --kv-heads 1 --head-dim 32 --ff 48 --experts 8 --experts-used 3 --ff-exp 8 --shared-experts 2
 *   --expert-scale 2.5 --tied --seed 77 (rope over 16 of 32 dims, routed weights scaled by 2.5,
 *   tied output);
 * - tiny_glm4moe_gguf_py_f32.gguf: written NOT by kbox but by the reference snapshot's gguf-py
 *   (its GGUFWriter, from a throwaway script outside this repository), so that a writer bug shared
 *   by synth and kbox's loader cannot hide: the first file's metadata, tokenizer and NextN block
 *   with 5 experts, 3 used, and fresh random weights (numpy seed 1202);
 * - tiny_glm4moe_gguf_py_q8.gguf: that file quantized by gguf-py's own Q8_0 quantizer (weights
 *   whose rows are a multiple of 32; the rest F32);
 * - tiny_ds2_nextn_f32.gguf: deepseek2 (DeepSeek-V3 flavour) with a NextN block: --arch deepseek2
 *   --type F32 --layers 2 --nextn 1 --dim 32 --heads 2 --q-lora 16 --kv-lora 32 --rope-dim 8
 *   --nope-dim 16 --v-dim 16 --experts 4 --experts-used 2 --ff-exp 16 --ff 48 --shared-experts 1
 *   --dense-lead 1 --gating 2 --expert-norm --expert-scale 2.5 --tied --seed 5 (YaRN factor 40).
 * NAME.llamacpp_logits.f32 holds llama.cpp d32676d77's logits for the 16 ids of conf_case.c (16 x 320
 * float32, row t after ids[0..t]): one llama_decode of all 16 with every position's logits,
 * 1 thread, F32 KV cache, flash attention off, as in ../shared/conformance. No llama.cpp code is
 * part of this repository. llama.cpp d32676d77 does not run glm4moe's NextN block (it loads and
 * skips it), but it runs deepseek2's as an MTP context: tiny_ds2_nextn_f32.llamacpp_mtp_logits.f32
 * (15 x 320) holds that context's logits for rows (hidden state of the main model at k - 1, token
 * k), k = 1..15, at position k (the model loaded with load_mtp, the target context's nextn
 * embeddings fed as the MTP batch's embd, same settings). glm4moe's NextN block runs through the
 * same kbox code (arch_glm4moe.c), only its attention and FFN are glm4moe's, themselves checked
 * above. test_spec.c checks the drafts.
 *
 * Tolerances as the conformance set's: F32 1e-4 of max |logit| with identical argmax everywhere;
 * Q8_0 3e-2 with at most one argmax flip in 16. Each case runs as one batch of 16, as steps of 5,
 * token by token, after a rollback (truncate to 4, the rest again), and with the default F16
 * cache (1e-2 for F32 files). With the NextN block running (the default: its cache is kept for
 * MTP drafts) and without it (no_mtp) the main logits are the same bit for bit. Bad files: a
 * nextn_predict_layers that leaves no main block, and a NextN block without eh_proj, are errors
 * that name the key or tensor. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "infer/infer.h"
#include "infer/model.h"

#include "conf_case.h"

#define GOLDEN_DIR KBOX_SOURCE_DIR "/tests/infer/golden/"
#define N_TOK 16

static float ref[N_TOK * CONF_VOCAB], got[N_TOK * CONF_VOCAB], got2[N_TOK * CONF_VOCAB];

static void compare(const char *name, const char *how, int t0, double tol, int max_flips)
{
    conf_compare(" glm4moe  ", name, how, got, ref, t0, N_TOK, tol, max_flips);
}

static void check_case(const char *name, const char *arch, double tol, int max_flips)
{
    struct infer_model_info mi;
    conf_read_ref(name, "llamacpp_logits.f32", N_TOK, ref);
    struct infer_model *m = conf_open(name, arch);
    infer_model_get_info(m, &mi);
    assert_int_equal(mi.n_nextn, 1);
    struct infer_session *s = conf_session(m, 64, 16, true, false);
    conf_eval_steps(s, got, 0, N_TOK, N_TOK);
    compare(name, "batch of 16", 0, tol, max_flips);
    infer_session_reset(s);
    conf_eval_steps(s, got, 0, N_TOK, 5);
    compare(name, "steps of 5", 0, tol, max_flips);
    memset(got, 0, sizeof got);
    infer_session_truncate(s, 4);
    conf_eval_steps(s, got, 4, N_TOK, 3);
    compare(name, "after truncate(4)", 4, tol, max_flips);
    infer_session_free(s);
    s = conf_session(m, 64, 1, true, false);
    conf_eval_steps(s, got, 0, N_TOK, 1);
    compare(name, "token by token", 0, tol, max_flips);
    infer_session_free(s);
    /* the NextN block off: the main model's logits do not change by a bit */
    s = conf_session(m, 64, 1, true, true);
    conf_eval_steps(s, got2, 0, N_TOK, 1);
    assert_memory_equal(got, got2, sizeof got);
    infer_session_free(s);
    s = conf_session(m, 64, 16, false, false);
    conf_eval_steps(s, got, 0, N_TOK, N_TOK);
    compare(name, "F16 KV, batch", 0, fmax(tol, 1e-2), 1);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_f32(void **state)
{
    (void)state;
    check_case("tiny_glm4moe_f32", "glm4moe", 1e-4, 0);
}

static void test_f32_second_shape(void **state)
{
    (void)state;
    check_case("tiny_glm4moe_b_f32", "glm4moe", 1e-4, 0);
}

/* A file written by gguf-py, not by kbox's synth. */
static void test_f32_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_glm4moe_gguf_py_f32", "glm4moe", 1e-4, 0);
}

static void test_q8_gguf_py(void **state)
{
    (void)state;
    check_case("tiny_glm4moe_gguf_py_q8", "glm4moe", 3e-2, 1);
}

static void test_q8_0(void **state)
{
    (void)state;
    check_case("tiny_glm4moe_q8", "glm4moe", 3e-2, 1);
}

/* deepseek2 with a NextN block: the main MLA forward skips it too. */
static void test_deepseek2_nextn(void **state)
{
    (void)state;
    check_case("tiny_ds2_nextn_f32", "deepseek2", 1e-4, 0);
}

/* The MTP head itself against llama.cpp's MTP context (deepseek2's, the only one d32676d77 runs):
 * row k - 1 = the NextN block's logits from the main model's hidden state at k - 1 and token k
 * (k = 1..15), each drafted after evaluating ids[0..k) one by one (model_mtp_draft), and the same
 * again from steps of 5 (the block's cache then filled by the forward's own NextN rows). */
static void test_deepseek2_mtp_head(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    FILE *f = fopen(GOLDEN_DIR "tiny_ds2_nextn_f32.llamacpp_mtp_logits.f32", "rb");
    assert_non_null(f);
    memset(ref, 0, sizeof ref);
    assert_int_equal(fread(ref + CONF_VOCAB, sizeof(float), (N_TOK - 1) * CONF_VOCAB, f), (N_TOK - 1) * CONF_VOCAB);
    fclose(f);
    if (infer_model_open(&m, GOLDEN_DIR "tiny_ds2_nextn_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    for (int step = 1; step <= 5; step += 4) {
        struct infer_session *s = conf_session(m, 64, step, true, false);
        memset(got, 0, sizeof got);
        for (int k = 1; k < N_TOK; k++) {
            /* the main model has read ids[0..k): evaluate what is missing in steps of `step` */
            int have = infer_session_n_past(s);
            int want = step == 1 ? k : KB_MIN(N_TOK, ((k + step - 1) / step) * step);
            if (want > have && infer_eval(s, conf_ids + have, want - have, NULL, false, &err))
                fail_msg("eval: %s", err.msg);
            if (want > k)
                infer_session_truncate(s, k);
            assert_true(model_mtp_draft(s, conf_ids[k]) >= 0);
            memcpy(got + (size_t)k * CONF_VOCAB, s->mtp_logits, CONF_VOCAB * sizeof(float));
        }
        compare("tiny_ds2_nextn_f32", step == 1 ? "MTP head, 1 by 1" : "MTP head, steps 5", 1, 1e-4, 0);
        infer_session_free(s);
    }
    infer_model_close(m);
}

/* The main blocks and the NextN block are counted apart; rope covers half of each head. */
static void test_info(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_model_info mi;
    if (infer_model_open(&m, GOLDEN_DIR "tiny_glm4moe_f32.gguf", &err))
        fail_msg("open: %s", err.msg);
    infer_model_get_info(m, &mi);
    assert_int_equal(mi.n_layer, 2);
    assert_int_equal(mi.n_nextn, 1);
    assert_int_equal(mi.n_rot, 8);
    assert_int_equal(mi.head_dim, 16);
    assert_true(mi.rope_neox);
    assert_int_equal(mi.n_layer_dense_lead, 1);
    assert_int_equal(mi.n_ff_shexp, 16);
    infer_model_close(m);
}

/* A copy of the F32 file with `from` replaced by `to` (same length) at its first occurrence. */
static void patched_copy(const char *out, const char *from, const void *to, size_t n)
{
    FILE *f = fopen(GOLDEN_DIR "tiny_glm4moe_f32.gguf", "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    char *hit = NULL;
    size_t fl = strlen(from);
    for (size_t i = 0; !hit && i + fl <= (size_t)len; i++)
        if (memcmp(buf + i, from, fl) == 0)
            hit = buf + i;
    assert_non_null(hit);
    memcpy(hit, to, n);
    f = fopen(out, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    free(buf);
}

static void expect_open_error(const char *path, const char *what)
{
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    int rc = infer_model_open(&m, path, &err);
    printf("[ glm4moe  ] bad file: %s\n", err.msg);
    assert_int_not_equal(rc, 0);
    assert_null(m);
    assert_non_null(strstr(err.msg, what));
    unlink(path);
}

static void test_bad_files(void **state)
{
    (void)state;
    char path[64];
    /* nextn_predict_layers = 3 of 3 blocks: the key's u32 value follows its name and type */
    const char *key = "glm4moe.nextn_predict_layers";
    char to[64];
    uint32_t type = 4, v = 3; /* GGUF u32 */
    memcpy(to, key, strlen(key));
    memcpy(to + strlen(key), &type, 4);
    memcpy(to + strlen(key) + 4, &v, 4);
    snprintf(path, sizeof path, "/tmp/kbox-glm-bad-%d.gguf", (int)getpid());
    patched_copy(path, key, to, strlen(key) + 8);
    expect_open_error(path, "nextn_predict_layers");
    /* the NextN block without its eh_proj */
    patched_copy(path, "blk.2.nextn.eh_proj.weight", "blk.2.nextn.eh_prox.weight", 26);
    expect_open_error(path, "blk.2.nextn.eh_proj.weight");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),       cmocka_unit_test(test_f32_second_shape), cmocka_unit_test(test_f32_gguf_py), cmocka_unit_test(test_q8_gguf_py),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_deepseek2_nextn), cmocka_unit_test(test_deepseek2_mtp_head), cmocka_unit_test(test_info), cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
