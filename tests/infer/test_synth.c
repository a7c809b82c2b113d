/* tests/infer/test_synth.c: the synthetic GGUF writer. For a table of (arch, type) cases the file
 * is written, read back with the GGUF reader, and checked: metadata keys llama.cpp requires, the
 * vocabulary (byte tokens, merges, control tokens, padding), tensor names/shapes/types including
 * llama-quantize's fallbacks, weight statistics after dequantization, determinism for a seed and
 * difference across seeds; bad parameters are rejected. glm4moe: NextN blocks and their keys, and
 * the NextN block made to agree (copies of main block 0, an identity-like eh_proj). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "infer/gguf.h"
#include "infer/infer.h"
#include "infer/kern.h"
#include "infer/synth.h"

static void tmp_path(char *out, size_t n, const char *tag)
{
    snprintf(out, n, "/tmp/kbox-test-synth-%d-%s.gguf", (int)getpid(), tag);
}

static void file_sha(const char *path, uint8_t out[32])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct kb_sha256 s;
    kb_sha256_init(&s);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        kb_sha256_update(&s, buf, n);
    fclose(f);
    kb_sha256_final(&s, out);
}

static uint32_t get_u32(const struct gguf_file *f, const char *key)
{
    uint32_t v = 0;
    if (!gguf_get_u32(f, key, &v))
        fail_msg("missing key %s", key);
    return v;
}

static void check_std(const struct gguf_tensor *t, double want_mean, double want_std)
{
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2];
    float *d = kb_xmalloc(sizeof(float) * (size_t)n);
    kern.dequant[t->type](t->data, d, n);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        s2 += (double)d[i] * d[i];
    }
    double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
    if (fabs(mean - want_mean) > 0.1 * want_std + 0.02 * fabs(want_mean) || fabs(sd - want_std) > 0.15 * want_std + 1e-3)
        fail_msg("%s: mean %g std %g, want %g %g", t->name, mean, sd, want_mean, want_std);
    free(d);
}

struct scase {
    const char *arch;
    int type;
    int n_embd;          /* 0 = default (256) */
    int want_q_type;     /* expected type of blk.0.attn_q.weight */
};

static void test_archs_and_types(void **state)
{
    (void)state;
    kern_init(false);
    static const struct scase cases[] = {
        {"llama", GGML_TYPE_F32, 0, GGML_TYPE_F32},      {"llama", GGML_TYPE_Q8_0, 0, GGML_TYPE_Q8_0},
        {"llama", GGML_TYPE_Q4_K, 0, GGML_TYPE_Q4_K},    {"llama", GGML_TYPE_Q4_K, 128, GGML_TYPE_Q5_0},
        {"llama", GGML_TYPE_Q6_K, 96, GGML_TYPE_Q8_0},   {"qwen2", GGML_TYPE_Q5_K, 0, GGML_TYPE_Q5_K},
        {"qwen2", GGML_TYPE_F16, 0, GGML_TYPE_F16},      {"qwen3", GGML_TYPE_Q6_K, 0, GGML_TYPE_Q6_K},
        {"qwen3", GGML_TYPE_BF16, 0, GGML_TYPE_BF16},    {"qwen3", GGML_TYPE_Q4_0, 0, GGML_TYPE_Q4_0},
        {"qwen2moe", GGML_TYPE_Q8_0, 0, GGML_TYPE_Q8_0}, {"qwen3moe", GGML_TYPE_Q4_1, 0, GGML_TYPE_Q4_1},
        {"mixtral", GGML_TYPE_Q5_1, 0, GGML_TYPE_Q5_1},
    };
    for (size_t ci = 0; ci < KB_ARRAY_LEN(cases); ci++) {
        const struct scase *c = &cases[ci];
        struct synth_params p;
        synth_params_default(&p, c->arch);
        p.type = c->type;
        if (c->n_embd) {
            p.n_embd = c->n_embd;
            p.n_ff = 2 * c->n_embd;
        }
        char path[256];
        tmp_path(path, sizeof(path), c->arch);
        struct kb_error err = {0};
        if (synth_write(path, &p, &err) != 0)
            fail_msg("%s: %s", c->arch, err.msg);
        struct gguf_file *f = NULL;
        if (gguf_open(&f, path, &err) != 0)
            fail_msg("%s: %s", c->arch, err.msg);
        const char *ga = strcmp(c->arch, "mixtral") == 0 ? "llama" : c->arch;
        const char *s;
        size_t n;
        assert_true(gguf_get_str(f, "general.architecture", &s, &n));
        assert_true(n == strlen(ga) && memcmp(s, ga, n) == 0);
        char key[128];
        snprintf(key, sizeof(key), "%s.block_count", ga);
        assert_int_equal(get_u32(f, key), 2);
        snprintf(key, sizeof(key), "%s.embedding_length", ga);
        assert_int_equal(get_u32(f, key), p.n_embd);
        snprintf(key, sizeof(key), "%s.attention.head_count_kv", ga);
        assert_int_equal(get_u32(f, key), 2);
        float fl;
        snprintf(key, sizeof(key), "%s.rope.freq_base", ga);
        assert_true(gguf_get_f32(f, key, &fl) && fl == p.rope_base);
        /* vocabulary */
        assert_true(gguf_get_str(f, "tokenizer.ggml.model", &s, &n) && n == 4 && memcmp(s, "gpt2", 4) == 0);
        enum gguf_vtype vt;
        uint64_t an;
        const void *ad;
        assert_true(gguf_get_arr(f, "tokenizer.ggml.tokens", &vt, &an, &ad));
        assert_int_equal(an, p.n_vocab);
        assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 'a', &s, &n) && n == 1 && s[0] == 'a');
        assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", ' ', &s, &n) && n == 2 &&
                    memcmp(s, "\xc4\xa0", 2) == 0); /* U+0120 'Ġ' */
        assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 256, &s, &n) && n == 3 && memcmp(s, "\xc4\xa0t", 3) == 0);
        assert_true(gguf_arr_str(f, "tokenizer.ggml.merges", 4, &s, &n) && n == 6 && memcmp(s, "\xc4\xa0t he", 6) == 0);
        uint32_t bos = get_u32(f, "tokenizer.ggml.bos_token_id");
        assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", bos, &s, &n) && s[0] == '<');
        assert_true(gguf_get_arr(f, "tokenizer.ggml.token_type", &vt, &an, &ad) && vt == GGUF_VT_I32);
        int32_t tt; /* array data in the mapping is not aligned: copy it out */
        memcpy(&tt, (const uint8_t *)ad + 4 * bos, 4);
        assert_int_equal(tt, 3);
        memcpy(&tt, (const uint8_t *)ad + 4 * 65, 4);
        assert_int_equal(tt, 1);
        assert_true(gguf_get_str(f, "tokenizer.chat_template", &s, &n) && n > 50);
        /* tensors */
        const struct gguf_tensor *t = gguf_find_tensor(f, "blk.0.attn_q.weight");
        assert_non_null(t);
        assert_int_equal(t->type, c->want_q_type);
        assert_int_equal(t->ne[0], p.n_embd);
        check_std(t, 0, 1 / sqrt(p.n_embd));
        t = gguf_find_tensor(f, "blk.1.attn_norm.weight");
        assert_true(t && t->type == GGML_TYPE_F32);
        check_std(t, 1.0, 0.01);
        assert_non_null(gguf_find_tensor(f, "output.weight"));
        assert_non_null(gguf_find_tensor(f, "token_embd.weight"));
        bool bias = strcmp(c->arch, "qwen2") == 0 || strcmp(c->arch, "qwen2moe") == 0;
        assert_int_equal(gguf_find_tensor(f, "blk.0.attn_k.bias") != NULL, bias);
        bool qkn = strncmp(c->arch, "qwen3", 5) == 0;
        assert_int_equal(gguf_find_tensor(f, "blk.1.attn_q_norm.weight") != NULL, qkn);
        bool moe = strstr(c->arch, "moe") || strcmp(c->arch, "mixtral") == 0;
        t = gguf_find_tensor(f, moe ? "blk.1.ffn_down_exps.weight" : "blk.1.ffn_down.weight");
        assert_non_null(t);
        if (moe) {
            assert_int_equal(t->n_dims, 3);
            assert_int_equal(t->ne[2], p.n_expert);
            assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_gate_inp.weight")->type, GGML_TYPE_F32);
        }
        gguf_close(f);
        unlink(path);
    }
}

static void test_determinism_and_errors(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_default(&p, "llama");
    p.type = GGML_TYPE_Q4_K;
    p.tied_output = true;
    char a[256], b[256];
    tmp_path(a, sizeof(a), "a");
    tmp_path(b, sizeof(b), "b");
    uint8_t ha[32], hb[32];
    assert_int_equal(synth_write(a, &p, NULL), 0);
    assert_int_equal(synth_write(b, &p, NULL), 0);
    file_sha(a, ha);
    file_sha(b, hb);
    assert_memory_equal(ha, hb, 32);
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, a, NULL), 0);
    assert_null(gguf_find_tensor(f, "output.weight")); /* tied */
    gguf_close(f);
    p.seed = 43;
    assert_int_equal(synth_write(b, &p, NULL), 0);
    file_sha(b, hb);
    assert_memory_not_equal(ha, hb, 32);
    unlink(a);
    unlink(b);

    struct kb_error err = {0};
    synth_params_default(&p, "gpt-j");
    assert_int_equal(synth_write(a, &p, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "gpt-j"));
    synth_params_default(&p, "deepseek2");
    p.n_expert_group = 3; /* 8 experts do not split into 3 groups */
    assert_int_equal(synth_write(a, &p, &err), KB_EINVAL);
    synth_params_default(&p, "llama");
    p.n_head_kv = 3;
    assert_int_equal(synth_write(a, &p, &err), KB_EINVAL);
    synth_params_default(&p, "llama");
    p.n_vocab = 100;
    assert_int_equal(synth_write(a, &p, &err), KB_EINVAL);
    synth_params_default(&p, "llama");
    p.type = GGML_TYPE_Q2_K;
    assert_int_equal(synth_write(a, &p, &err), KB_EINVAL);
    synth_params_default(&p, "llama");
    assert_int_equal(synth_write("/nonexistent-dir/x.gguf", &p, &err), KB_EIO);
    assert_int_equal(access(a, F_OK), -1);
}

/* deepseek2 in both flavours: MLA tensors, q-LoRA, leading dense block, shared experts, keys. */
static void test_deepseek2(void **state)
{
    (void)state;
    for (int v3 = 0; v3 < 2; v3++) {
        struct synth_params p;
        synth_params_default(&p, "deepseek2");
        p.type = GGML_TYPE_Q4_K;
        p.n_layer = 3;
        if (v3) {
            p.q_lora_rank = 96;
            p.gating_func = 2;
            p.n_expert_group = 4;
            p.n_expert_group_used = 2;
        }
        char path[256];
        tmp_path(path, sizeof(path), v3 ? "ds3" : "ds2");
        struct kb_error err = {0};
        if (synth_write(path, &p, &err) != 0)
            fail_msg("%s", err.msg);
        struct gguf_file *f = NULL;
        assert_int_equal(gguf_open(&f, path, &err), 0);
        assert_int_equal(get_u32(f, "deepseek2.attention.head_count_kv"), 1);
        assert_int_equal(get_u32(f, "deepseek2.attention.key_length"), p.kv_lora_rank + p.qk_rope_dim);
        assert_int_equal(get_u32(f, "deepseek2.attention.key_length_mla"), p.qk_nope_dim + p.qk_rope_dim);
        assert_int_equal(get_u32(f, "deepseek2.leading_dense_block_count"), 1);
        assert_int_equal(get_u32(f, "deepseek2.expert_gating_func"), p.gating_func);
        assert_int_equal(gguf_find_kv(f, "deepseek2.expert_group_count") != NULL, v3);
        const struct gguf_tensor *t = gguf_find_tensor(f, "blk.1.attn_k_b.weight");
        assert_non_null(t);
        assert_int_equal(t->n_dims, 3);
        assert_int_equal(t->ne[0], p.qk_nope_dim);
        assert_int_equal(t->ne[1], p.kv_lora_rank);
        assert_int_equal(t->ne[2], p.n_head);
        assert_int_equal(t->type, GGML_TYPE_Q5_0); /* rows of 64 fall back */
        assert_non_null(gguf_find_tensor(f, "blk.0.ffn_down.weight"));
        assert_null(gguf_find_tensor(f, "blk.1.ffn_down.weight"));
        assert_non_null(gguf_find_tensor(f, "blk.2.ffn_down_shexp.weight"));
        assert_int_equal(gguf_find_tensor(f, "blk.2.exp_probs_b.bias") != NULL, v3);
        assert_int_equal(gguf_find_tensor(f, "blk.0.attn_q_b.weight") != NULL, v3);
        assert_int_equal(gguf_find_tensor(f, "blk.0.attn_q.weight") != NULL, !v3);
        const char *s;
        size_t n;
        assert_true(gguf_get_str(f, "tokenizer.ggml.pre", &s, &n));
        assert_int_equal(n, strlen(v3 ? "deepseek-v3" : "deepseek-llm"));
        gguf_close(f);
        unlink(path);
    }
}

/* The type a Q4_K_M matrix must have: the mix's choice, then the block-size fallback. */
static int mix_expect(int want, int64_t ne0)
{
    if (ne0 % 256 == 0)
        return want;
    return want == GGML_TYPE_Q6_K ? GGML_TYPE_Q8_0 : GGML_TYPE_Q5_0;
}

static void expect_type(const struct gguf_file *f, const char *name, int want)
{
    const struct gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t)
        fail_msg("%s: missing", name);
    int e = mix_expect(want, t->ne[0]);
    if ((int)t->type != e)
        fail_msg("%s (row %lld): type %d, want %d", name, (long long)t->ne[0], (int)t->type, e);
}

/* --type Q4_K_M: llama-quantize's per-tensor choices. 8 layers: the "more bits" layers are 0, 3,
 * 6 and 7 (first and last eighth, every third between). deepseek2 (64 experts) mixes Q4_K, Q6_K,
 * Q5_0 (attn_k_b rows of 128) and Q8_0 (expert rows of 1408 that Q6_K cannot hold); a llama file
 * gets Q6_K attn_v/ffn_down in those layers; a qwen3moe with 8 experts Q8_0 attn_v/attn_k and
 * Q5_K attn_output; a mix of any other type is refused. */
static void test_q4_k_m_mix(void **state)
{
    (void)state;
    static const int more[8] = {1, 0, 0, 1, 0, 0, 1, 1};
    const char *archs[] = {"deepseek2", "llama", "qwen3moe"};
    for (size_t ai = 0; ai < KB_ARRAY_LEN(archs); ai++) {
        struct synth_params p;
        synth_params_default(&p, archs[ai]);
        p.type = GGML_TYPE_Q4_K;
        p.mix_q4_k_m = true;
        p.n_layer = 8;
        p.n_dense_lead = 1;
        if (ai == 0)
            p.n_ff_exp = 1408;
        char path[256];
        tmp_path(path, sizeof(path), archs[ai]);
        struct kb_error err = {0};
        if (synth_write(path, &p, &err) != 0)
            fail_msg("%s", err.msg);
        struct gguf_file *f = NULL;
        assert_int_equal(gguf_open(&f, path, &err), 0);
        assert_int_equal(get_u32(f, "general.file_type"), 15); /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
        expect_type(f, "output.weight", GGML_TYPE_Q6_K);
        expect_type(f, "token_embd.weight", GGML_TYPE_Q4_K);
        char n[64];
        int seen[GGML_TYPE_COUNT] = {0};
        for (int b = 0; b < 8; b++) {
            int down = more[b] ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
            if (ai == 0) {
                snprintf(n, sizeof(n), b == 0 ? "blk.%d.ffn_down.weight" : "blk.%d.ffn_down_exps.weight", b);
                expect_type(f, n, down);
                snprintf(n, sizeof(n), "blk.%d.attn_k_b.weight", b);
                expect_type(f, n, GGML_TYPE_Q4_K);
                snprintf(n, sizeof(n), "blk.%d.attn_kv_a_mqa.weight", b);
                expect_type(f, n, GGML_TYPE_Q4_K);
                if (b > 0) {
                    snprintf(n, sizeof(n), "blk.%d.ffn_down_shexp.weight", b);
                    expect_type(f, n, down);
                    snprintf(n, sizeof(n), "blk.%d.ffn_up_exps.weight", b);
                    expect_type(f, n, GGML_TYPE_Q4_K);
                }
            } else {
                bool e8 = ai == 2;
                snprintf(n, sizeof(n), e8 ? "blk.%d.ffn_down_exps.weight" : "blk.%d.ffn_down.weight", b);
                expect_type(f, n, down);
                snprintf(n, sizeof(n), "blk.%d.attn_v.weight", b);
                expect_type(f, n, e8 ? GGML_TYPE_Q8_0 : down);
                snprintf(n, sizeof(n), "blk.%d.attn_k.weight", b);
                expect_type(f, n, e8 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q4_K);
                snprintf(n, sizeof(n), "blk.%d.attn_output.weight", b);
                expect_type(f, n, e8 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K);
                snprintf(n, sizeof(n), "blk.%d.attn_q.weight", b);
                expect_type(f, n, GGML_TYPE_Q4_K);
            }
        }
        for (int i = 0; i < gguf_n_tensors(f); i++)
            seen[gguf_tensor_at(f, i)->type]++;
        assert_true(seen[GGML_TYPE_Q4_K] > 0 && seen[GGML_TYPE_Q6_K] > 0);
        if (ai == 0)
            assert_true(seen[GGML_TYPE_Q5_0] > 0 && seen[GGML_TYPE_Q8_0] > 0);
        gguf_close(f);
        unlink(path);
    }
    struct synth_params p;
    synth_params_default(&p, "llama");
    p.type = GGML_TYPE_Q8_0;
    p.mix_q4_k_m = true;
    struct kb_error err = {0};
    assert_int_equal(synth_check(&p, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "Q4_K_M"));
}

static void expect_exact(const struct gguf_file *f, const char *name, int want)
{
    const struct gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t)
        fail_msg("%s: missing", name);
    if ((int)t->type != want)
        fail_msg("%s: type %d, want %d", name, (int)t->type, want);
}

/* --type MXFP4: llama-quantize's MXFP4_MOE (3-D matrices MXFP4, other matrices Q8_0, file type
 * 38), and on a dense architecture the FFN matrices MXFP4 too. The expert weights dequantize to
 * the drawn distribution (the block layout and scale are right). */
static void test_mxfp4_mix(void **state)
{
    (void)state;
    const char *archs[] = {"deepseek2", "qwen3moe", "llama"};
    for (size_t ai = 0; ai < KB_ARRAY_LEN(archs); ai++) {
        struct synth_params p;
        synth_params_default(&p, archs[ai]);
        p.type = GGML_TYPE_MXFP4;
        char path[256];
        tmp_path(path, sizeof(path), archs[ai]);
        struct kb_error err = {0};
        if (synth_write(path, &p, &err) != 0)
            fail_msg("%s", err.msg);
        struct gguf_file *f = NULL;
        assert_int_equal(gguf_open(&f, path, &err), 0);
        assert_int_equal(get_u32(f, "general.file_type"), 38); /* LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
        expect_exact(f, "output.weight", GGML_TYPE_Q8_0);
        expect_exact(f, "token_embd.weight", GGML_TYPE_Q8_0);
        expect_exact(f, "output_norm.weight", GGML_TYPE_F32);
        int last = p.n_layer - 1;
        char n[64];
        if (ai < 2) {
            snprintf(n, sizeof(n), "blk.%d.ffn_gate_exps.weight", last);
            expect_exact(f, n, GGML_TYPE_MXFP4);
            check_std(gguf_find_tensor(f, n), 0, 1.0 / sqrt((double)p.n_embd));
            snprintf(n, sizeof(n), "blk.%d.ffn_down_exps.weight", last);
            expect_exact(f, n, GGML_TYPE_MXFP4);
            snprintf(n, sizeof(n), "blk.%d.ffn_gate_inp.weight", last);
            expect_exact(f, n, GGML_TYPE_F32);
        }
        if (ai == 0) {
            expect_exact(f, "blk.0.ffn_up.weight", GGML_TYPE_Q8_0); /* leading dense block: 2-D */
            expect_exact(f, "blk.1.attn_k_b.weight", GGML_TYPE_MXFP4);
            expect_exact(f, "blk.1.attn_kv_a_mqa.weight", GGML_TYPE_Q8_0);
        } else if (ai == 1) {
            expect_exact(f, "blk.0.attn_q.weight", GGML_TYPE_Q8_0);
        } else {
            expect_exact(f, "blk.0.ffn_up.weight", GGML_TYPE_MXFP4);
            expect_exact(f, "blk.0.ffn_down.weight", GGML_TYPE_MXFP4);
            expect_exact(f, "blk.0.attn_v.weight", GGML_TYPE_Q8_0);
            check_std(gguf_find_tensor(f, "blk.0.ffn_up.weight"), 0, 1.0 / sqrt((double)p.n_embd));
        }
        gguf_close(f);
        unlink(path);
    }
}

/* --arch gpt-oss: llama.cpp's openai-moe layout (biases, sinks, post_attention_norm, biased
 * router and experts, no ffn_norm), its hyperparameter keys (sliding window, YaRN, head_dim 64
 * written as key/value length), the harmony control tokens and template; experts MXFP4 with
 * --type MXFP4. The engine does not run gpt-oss yet: opening the file must say so. */
static void test_gpt_oss(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_default(&p, "gpt-oss");
    p.type = GGML_TYPE_MXFP4;
    char path[256];
    tmp_path(path, sizeof(path), "gpt-oss");
    struct kb_error err = {0};
    if (synth_write(path, &p, &err) != 0)
        fail_msg("%s", err.msg);
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, path, &err), 0);
    const char *s;
    size_t n;
    assert_true(gguf_get_str(f, "general.architecture", &s, &n) && n == 7 && memcmp(s, "gpt-oss", 7) == 0);
    assert_int_equal(get_u32(f, "gpt-oss.attention.sliding_window"), 128);
    assert_int_equal(get_u32(f, "gpt-oss.attention.key_length"), 64);
    assert_int_equal(get_u32(f, "gpt-oss.expert_used_count"), 4);
    assert_int_equal(get_u32(f, "gpt-oss.rope.scaling.original_context_length"), 4096);
    float v = 0;
    assert_true(gguf_get_f32(f, "gpt-oss.rope.scaling.factor", &v) && v == 32.0f);
    assert_true(gguf_get_str(f, "tokenizer.ggml.pre", &s, &n) && n == 6 && memcmp(s, "gpt-4o", 6) == 0);
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", SYNTH_TOK_SPECIAL0 + 3, &s, &n) && n == 11 &&
                memcmp(s, "<|message|>", 11) == 0);
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", SYNTH_N_VOCAB_MIN, &s, &n) && n == 11 &&
                memcmp(s, "<|channel|>", 11) == 0);
    assert_true(gguf_get_str(f, "tokenizer.chat_template", &s, &n) && n < 1024);
    char tmpl[1024];
    memcpy(tmpl, s, n);
    tmpl[n] = 0;
    assert_non_null(strstr(tmpl, "<|start|>assistant<|channel|>final<|message|>"));
    for (int b = 0; b < p.n_layer; b++) {
        static const struct { const char *suffix; int type; int64_t ne0, ne1, ne2; } want[] = {
            {"attn_q.bias", GGML_TYPE_F32, 256, 1, 1},
            {"attn_output.bias", GGML_TYPE_F32, 256, 1, 1},
            {"attn_sinks.weight", GGML_TYPE_F32, 4, 1, 1},
            {"post_attention_norm.weight", GGML_TYPE_F32, 256, 1, 1},
            {"ffn_gate_inp.bias", GGML_TYPE_F32, 8, 1, 1},
            {"attn_q.weight", GGML_TYPE_Q8_0, 256, 256, 1},
            {"attn_k.weight", GGML_TYPE_Q8_0, 256, 128, 1},
            {"ffn_gate_exps.weight", GGML_TYPE_MXFP4, 256, 256, 8},
            {"ffn_gate_exps.bias", GGML_TYPE_F32, 256, 8, 1},
            {"ffn_down_exps.weight", GGML_TYPE_MXFP4, 256, 256, 8},
            {"ffn_down_exps.bias", GGML_TYPE_F32, 256, 8, 1},
        };
        char name[64];
        for (size_t i = 0; i < KB_ARRAY_LEN(want); i++) {
            snprintf(name, sizeof(name), "blk.%d.%s", b, want[i].suffix);
            const struct gguf_tensor *t = gguf_find_tensor(f, name);
            if (!t || t->type != want[i].type || t->ne[0] != want[i].ne0 || t->ne[1] != want[i].ne1 ||
                t->ne[2] != want[i].ne2)
                fail_msg("%s: missing or wrong type/shape", name);
        }
        snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", b);
        assert_null(gguf_find_tensor(f, name));
    }
    gguf_close(f);
    /* kbox runs what it writes (test_gptoss_conf checks the numbers against llama.cpp) */
    struct infer_model *m = NULL;
    if (infer_model_open(&m, path, &err))
        fail_msg("open: %s", err.msg);
    struct infer_model_info mi;
    infer_model_get_info(m, &mi);
    assert_string_equal(mi.arch, "gpt-oss");
    assert_int_equal(mi.n_swa, p.n_swa);
    assert_int_equal(mi.n_swa_layers, (p.n_layer + 1) / 2); /* even layers slide */
    infer_model_close(m);
    unlink(path);
    /* a window of 0 and a vocabulary without room for the extra control tokens are refused */
    p.n_swa = 0;
    assert_int_equal(synth_check(&p, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "gpt-oss"));
    synth_params_default(&p, "gpt-oss");
    p.n_vocab = SYNTH_N_VOCAB_MIN;
    assert_int_equal(synth_check(&p, &err), KB_EINVAL);
}

/* glm4moe: NextN blocks after the main ones (block_count counts both), the keys llama.cpp's
 * glm4moe loader reads, and the "made to agree" NextN block: a byte copy of main block 0, eh_proj
 * = [std I | 0], ones for enorm/hnorm, shared_head_norm = output_norm. Bad combinations fail. */
static const uint8_t *tdata(const struct gguf_file *f, const char *name, const struct gguf_tensor **t)
{
    *t = gguf_find_tensor(f, name);
    if (!*t)
        fail_msg("missing %s", name);
    return (*t)->data;
}

static void test_glm4moe(void **state)
{
    (void)state;
    kern_init(false);
    struct synth_params p;
    struct kb_error err = {0};
    struct gguf_file *f = NULL;
    const struct gguf_tensor *t, *u;
    char path[256];
    tmp_path(path, sizeof(path), "glm");
    synth_params_default(&p, "glm4moe");
    p.type = GGML_TYPE_Q8_0;
    assert_int_equal(synth_write(path, &p, &err), 0);
    assert_int_equal(gguf_open(&f, path, &err), 0);
    assert_int_equal(get_u32(f, "glm4moe.block_count"), 3);
    assert_int_equal(get_u32(f, "glm4moe.nextn_predict_layers"), 1);
    assert_int_equal(get_u32(f, "glm4moe.rope.dimension_count"), 32); /* half of head_dim 64 */
    assert_int_equal(get_u32(f, "glm4moe.expert_gating_func"), 2);
    assert_non_null(gguf_find_tensor(f, "blk.0.ffn_down.weight"));     /* leading dense block */
    assert_non_null(gguf_find_tensor(f, "blk.1.exp_probs_b.bias"));
    assert_non_null(gguf_find_tensor(f, "blk.2.ffn_gate_exps.weight")); /* the NextN block is MoE */
    assert_non_null(gguf_find_tensor(f, "blk.0.post_attention_norm.weight"));
    assert_null(gguf_find_tensor(f, "blk.0.ffn_norm.weight"));
    assert_non_null(gguf_find_tensor(f, "blk.0.attn_q.bias"));
    tdata(f, "blk.2.nextn.eh_proj.weight", &t);
    assert_int_equal(t->ne[0], 2 * p.n_embd);
    assert_int_equal(t->ne[1], p.n_embd);
    check_std(t, 0, 1 / sqrt(2.0 * p.n_embd));
    assert_non_null(gguf_find_tensor(f, "blk.2.nextn.shared_head_norm.weight"));
    assert_null(gguf_find_tensor(f, "blk.1.nextn.enorm.weight"));
    gguf_close(f);
    /* made to agree: one main block, no dense lead */
    p.n_layer = 1;
    p.n_dense_lead = 0;
    p.nextn_agree = true;
    assert_int_equal(synth_write(path, &p, &err), 0);
    assert_int_equal(gguf_open(&f, path, &err), 0);
    static const char *copied[] = {"attn_q.weight", "attn_k.bias", "ffn_gate_exps.weight", "ffn_down_shexp.weight",
                                   "exp_probs_b.bias", "post_attention_norm.weight"};
    for (size_t i = 0; i < KB_ARRAY_LEN(copied); i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "blk.0.%s", copied[i]);
        snprintf(b, sizeof b, "blk.1.%s", copied[i]);
        const uint8_t *da = tdata(f, a, &t), *db = tdata(f, b, &u);
        assert_int_equal(t->n_bytes, u->n_bytes);
        assert_memory_equal(da, db, t->n_bytes);
    }
    const uint8_t *on = tdata(f, "output_norm.weight", &t), *sh = tdata(f, "blk.1.nextn.shared_head_norm.weight", &u);
    assert_memory_equal(on, sh, t->n_bytes);
    const float *eh = (const float *)tdata(f, "blk.1.nextn.eh_proj.weight", &t);
    assert_int_equal(t->type, GGML_TYPE_F32);
    for (int r = 0; r < p.n_embd; r++)
        for (int k = 0; k < 2 * p.n_embd; k++)
            assert_true(eh[(size_t)r * 2 * p.n_embd + k] == (k == r ? 1.0f / sqrtf((float)p.n_embd) : 0.0f));
    const float *en = (const float *)tdata(f, "blk.1.nextn.enorm.weight", &t);
    for (int k = 0; k < p.n_embd; k++)
        assert_true(en[k] == 1.0f);
    gguf_close(f);
    /* bad: agreeing with a dense lead block, nextn on llama, too many nextn blocks */
    p.n_dense_lead = 1;
    assert_int_equal(synth_write(path, &p, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "glm4moe"));
    synth_params_default(&p, "llama");
    p.n_nextn = 1;
    assert_int_equal(synth_write(path, &p, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "nextn"));
    synth_params_default(&p, "deepseek2");
    p.n_nextn = 5;
    assert_int_equal(synth_write(path, &p, &err), KB_EINVAL);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archs_and_types),
        cmocka_unit_test(test_determinism_and_errors),
        cmocka_unit_test(test_deepseek2),
        cmocka_unit_test(test_q4_k_m_mix),
        cmocka_unit_test(test_mxfp4_mix),
        cmocka_unit_test(test_gpt_oss),
        cmocka_unit_test(test_glm4moe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
