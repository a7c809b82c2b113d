/* infer/synth.c: the synthetic GGUF v3 writer (see infer/synth.h for what a synthetic model holds).
 *
 * Data flow: synth_write() builds the tensor list for the architecture (names and shapes as
 * llama.cpp's loader expects them), assigns each tensor its type (with llama-quantize's fallbacks)
 * and its offset in the data section (each padded to 32 bytes), serialises header + metadata +
 * tensor infos into a kb_buf, writes it, pads to the alignment, then generates every tensor row by
 * chunk by chunk (F32 values from a per-row seeded generator, quantized with the dispatched kernels,
 * rows split over a private pool of all cores) and streams it to the file. Memory use is a 4 MiB
 * chunk plus the header, whatever the model size.
 *
 * File layout: GGUF v3, little-endian (this writer assumes a little-endian host, as the whole
 * engine does), alignment 32 (general.alignment is written explicitly).
 * Tests: tests/infer/test_synth.c (reads every arch/type back with gguf.c and checks keys, shapes,
 * determinism and that dequantized weights have the intended statistics). */
#include "infer/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/gguf.h"
#include "infer/kern.h"
#include "infer/pool.h"

#define SYNTH_ALIGN 32
#define SYNTH_MAX_TENSORS 4096

/* TK_CONV: an F32 matrix of weights (qwen3next's short causal conv kernels, which ggml's ssm_conv
 * reads as F32); TK_NEG: an F32 vector of small negative values (qwen3next's ssm_a, -exp(A_log));
 * TK_ONES and TK_EYE serve glm4moe's "made to agree" NextN block (synth.h): all-ones norms, and
 * an eh_proj whose left half is std * identity and right half zero. */
enum tkind { TK_MAT, TK_EMB, TK_NORM, TK_BIAS, TK_ROUTER, TK_CONV, TK_NEG, TK_ONES, TK_EYE };

struct stensor {
    char name[64];
    int n_dims;
    int64_t ne[4];
    int type;       /* enum ggml_type */
    enum tkind kind;
    float std;      /* for TK_MAT/TK_EMB/TK_BIAS/TK_ROUTER/TK_EYE */
    char seed_name[64]; /* "" : values seeded by name; else by this name (a copy of that tensor) */
    size_t n_bytes;
    uint64_t offset;
};

struct slist {
    struct stensor *t; /* (n); owned */
    int n;
};

static const char *arch_names[] = {"llama",   "qwen2",     "qwen3",   "qwen2moe",
                                   "qwen3moe", "mixtral", "deepseek2", "gpt-oss", "qwen3next",
                                   "qwen35moe", "glm4moe", "deepseek32"};

static bool arch_known(const char *a)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(arch_names); i++)
        if (strcmp(a, arch_names[i]) == 0)
            return true;
    return false;
}

static bool is_qwen(const char *a)
{
    return strncmp(a, "qwen", 4) == 0;
}

static bool is_moe(const char *a)
{
    return strcmp(a, "qwen2moe") == 0 || strcmp(a, "qwen3moe") == 0 || strcmp(a, "mixtral") == 0 ||
           strcmp(a, "deepseek2") == 0 || strcmp(a, "gpt-oss") == 0 || strcmp(a, "qwen3next") == 0 ||
           strcmp(a, "qwen35moe") == 0 || strcmp(a, "glm4moe") == 0 || strcmp(a, "deepseek32") == 0;
}

/* qwen3next and qwen35moe (Qwen3.5 MoE: separate ssm_beta/ssm_alpha, rope sections) */
static bool is_qnext(const char *a)
{
    return strcmp(a, "qwen3next") == 0 || strcmp(a, "qwen35moe") == 0;
}

/* qwen3next's Gated DeltaNet widths, derived from the attention shape so that the real
 * Qwen3-Next-80B-A3B's (n_head 16, head_dim 256) come out exactly: state (key/value head) size
 * head_dim / 2, one key head per query head, two value heads per key head, kernel 4; every 4th
 * block (every 2nd with fewer than 4 blocks, so a tiny file has both kinds) is full attention. */
struct qn_dims {
    int64_t S, Hk, Hv, d_inner, conv_dim;
    int interval, n_rot;
};
static void qn_dims_of(const struct synth_params *p, struct qn_dims *d)
{
    int64_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    d->S = hd / 2;
    d->Hk = p->n_head;
    d->Hv = 2 * p->n_head;
    d->d_inner = d->Hv * d->S;
    d->conv_dim = 2 * d->Hk * d->S + d->d_inner;
    d->interval = p->n_layer >= 4 ? 4 : 2;
    d->n_rot = (int)KB_MAX(2, (hd / 4) & ~(int64_t)1); /* partial rotary: a quarter of the head */
}

static bool is_glm(const char *a)
{
    return strcmp(a, "glm4moe") == 0;
}

static bool is_oss(const char *a)
{
    return strcmp(a, "gpt-oss") == 0;
}

/* deepseek2 and deepseek32 (deepseek2's MLA blocks plus the DSA lightning indexer) */
static bool is_ds2(const char *a)
{
    return strcmp(a, "deepseek2") == 0 || strcmp(a, "deepseek32") == 0;
}

static bool is_ds32(const char *a)
{
    return strcmp(a, "deepseek32") == 0;
}

/* GGUF general.architecture: mixtral files say "llama" (with llama.expert_count). */
static const char *gguf_arch(const char *a)
{
    return strcmp(a, "mixtral") == 0 ? "llama" : a;
}

void synth_params_default(struct synth_params *p, const char *arch)
{
    memset(p, 0, sizeof(*p));
    p->arch = arch;
    p->type = GGML_TYPE_F32;
    p->n_layer = 2;
    p->n_embd = 256;
    p->n_head = 4;
    p->n_head_kv = 2;
    p->n_ff = 512;
    p->n_vocab = 320;
    p->n_ctx = 4096;
    p->rope_base = is_qwen(arch) ? 1000000.0f : 10000.0f;
    p->norm_eps = is_qwen(arch) ? 1e-6f : 1e-5f;
    p->n_expert = 8;
    p->n_expert_used = 2;
    p->n_ff_exp = 256;
    p->n_ff_shexp = 512;
    p->seed = 42;
    p->kv_lora_rank = 256;
    p->qk_rope_dim = 32;
    p->qk_nope_dim = 64;
    p->v_head_dim = 64;
    p->n_expert_shared = 1;
    p->n_dense_lead = 1;
    p->gating_func = 1;
    p->expert_weights_scale = 1.0f;
    if (is_ds2(arch)) {
        p->n_head_kv = 1;
        p->yarn_factor = 40.0f;
        p->yarn_orig_ctx = 4096;
    }
    if (is_glm(arch)) { /* GLM-4.5-Air's choices at a small width */
        p->rope_base = 1000000.0f;
        p->gating_func = 2;
        p->expert_weights_norm = true;
        p->n_nextn = 1;
    }
    if (is_ds32(arch)) { /* V3.2's layout (q-LoRA, sigmoid gating) at a tiny width */
        p->q_lora_rank = 128;
        p->gating_func = 2;
        p->expert_weights_norm = true;
        p->idx_n_head = 8;
        p->idx_head_dim = 64;
        p->idx_top_k = 4;
    }
    if (is_oss(arch)) { /* gpt-oss-20b's settings at a small width */
        p->head_dim = 64;
        p->n_expert_used = 4;
        p->rope_base = 150000.0f;
        p->n_ctx = 131072;
        p->yarn_factor = 32.0f;
        p->yarn_orig_ctx = 4096;
        p->n_swa = 128;
    }
}

int synth_check(const struct synth_params *p, struct kb_error *err)
{
    if (!p->arch || !arch_known(p->arch))
        return kb_error_set(err, KB_EINVAL,
                            "synth: unknown architecture '%s' (llama, qwen2, qwen3, qwen2moe, qwen3moe, mixtral, "
                            "deepseek2, deepseek32, gpt-oss, qwen3next, qwen35moe, glm4moe)",
                            p->arch ? p->arch : "");
    if (is_ds2(p->arch) &&
        (p->kv_lora_rank < 1 || p->kv_lora_rank > 8192 || p->qk_rope_dim < 2 || p->qk_rope_dim % 2 ||
         p->qk_rope_dim > 1024 || p->qk_nope_dim < 1 || p->qk_nope_dim > 1024 || p->v_head_dim < 1 ||
         p->v_head_dim > 1024 || p->q_lora_rank < 0 || p->q_lora_rank > 8192 || p->n_expert_shared < 0 ||
         p->n_dense_lead < 0 || p->n_dense_lead > p->n_layer || (p->gating_func != 1 && p->gating_func != 2) ||
         p->n_expert_group < 0 || p->n_expert_group_used < 0 || p->n_expert_group_used > p->n_expert_group ||
         (p->n_expert_group > 0 && p->n_expert % p->n_expert_group != 0) || p->yarn_factor < 0 ||
         (p->yarn_factor > 0 && p->yarn_orig_ctx < 1)))
        return kb_error_set(err, KB_EINVAL, "synth: bad deepseek2 attention/expert configuration");
    if (is_glm(p->arch) &&
        (p->n_expert_shared < 0 || p->n_dense_lead < 0 || p->n_dense_lead > p->n_layer ||
         (p->gating_func != 1 && p->gating_func != 2) || p->n_nextn < 0 || p->n_nextn > 4 ||
         ((p->head_dim ? p->head_dim : p->n_embd / KB_MAX(p->n_head, 1)) % 4 != 0) ||
         (p->nextn_agree && (p->n_nextn < 1 || p->n_dense_lead != 0 || p->n_nextn > p->n_layer))))
        return kb_error_set(err, KB_EINVAL, "synth: bad glm4moe configuration (shared experts, dense lead, gating "
                                            "1|2, 0..4 nextn layers, head_dim a multiple of 4; --nextn-agree "
                                            "needs nextn layers, no dense lead and as many main layers)");
    if ((p->n_nextn || p->nextn_agree) && !is_glm(p->arch) &&
        (!is_ds2(p->arch) || p->n_nextn < 0 || p->n_nextn > 4 ||
         (p->nextn_agree && (p->n_nextn < 1 || p->n_dense_lead != 0 || p->n_nextn > p->n_layer))))
        return kb_error_set(err, KB_EINVAL, "synth: nextn layers are written for glm4moe and deepseek2 only (0..4; "
                                            "--nextn-agree needs nextn layers, no dense lead and as many main "
                                            "layers)");
    if (is_ds32(p->arch) && (p->q_lora_rank < 1 || p->idx_n_head < 1 || p->idx_n_head > 1024 ||
                             p->idx_head_dim < 64 || p->idx_head_dim > 4096 ||
                             (p->idx_head_dim & (p->idx_head_dim - 1)) || p->idx_head_dim != 2 * p->qk_rope_dim ||
                             p->idx_top_k < 1))
        return kb_error_set(err, KB_EINVAL, "synth: deepseek32 needs --q-lora >= 1, indexer heads >= 1, an indexer "
                            "key length that is a power of two >= 64 and twice --rope-dim, and top-k >= 1");
    if (!ggml_type_supported(p->type) || p->type == GGML_TYPE_Q8_1 || p->type == GGML_TYPE_Q8_K)
        return kb_error_set(err, KB_EINVAL, "synth: type %d is not a supported weight type", p->type);
    if (p->mix_q4_k_m && p->type != GGML_TYPE_Q4_K)
        return kb_error_set(err, KB_EINVAL, "synth: the Q4_K_M mix needs type Q4_K (got %d)", p->type);
    if (p->n_layer < 1 || p->n_layer > 1000 || p->n_embd < 1 || p->n_embd > 65536 || p->n_head < 1 ||
        p->n_head_kv < 1 || p->n_ff < 1 || p->n_ff > 1 << 20 || p->n_ctx < 1 || p->head_dim < 0 ||
        p->head_dim > 1024)
        return kb_error_set(err, KB_EINVAL, "synth: dimensions out of range");
    if (p->n_head % p->n_head_kv != 0)
        return kb_error_set(err, KB_EINVAL, "synth: n_head %d is not a multiple of n_head_kv %d", p->n_head,
                            p->n_head_kv);
    if (p->head_dim == 0 && p->n_embd % p->n_head != 0)
        return kb_error_set(err, KB_EINVAL, "synth: n_embd %d is not a multiple of n_head %d", p->n_embd, p->n_head);
    int hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    if (hd % 2 != 0)
        return kb_error_set(err, KB_EINVAL, "synth: head_dim %d must be even (rope)", hd);
    if (p->n_vocab < SYNTH_N_VOCAB_MIN || p->n_vocab > 1 << 20)
        return kb_error_set(err, KB_EINVAL, "synth: n_vocab %d must be in [%d, %d]", p->n_vocab, SYNTH_N_VOCAB_MIN,
                            1 << 20);
    if (is_moe(p->arch) && (p->n_expert < 1 || p->n_expert > 512 || p->n_expert_used < 1 ||
                            p->n_expert_used > p->n_expert || p->n_ff_exp < 1 ||
                            (strcmp(p->arch, "qwen2moe") == 0 && p->n_ff_shexp < 1)))
        return kb_error_set(err, KB_EINVAL, "synth: bad expert configuration");
    if (is_qnext(p->arch) && (p->n_ff_shexp < 1 || (p->head_dim ? p->head_dim : p->n_embd / p->n_head) < 4))
        return kb_error_set(err, KB_EINVAL, "synth: qwen3next needs a shared expert (--ff-shexp >= 1) and head_dim >= 4");
    if (is_oss(p->arch) && (p->n_swa < 1 || p->n_swa > 1 << 20 || !(p->yarn_factor >= 0) ||
                            (p->yarn_factor > 0 && p->yarn_orig_ctx < 1) || p->n_vocab < SYNTH_N_VOCAB_MIN + 3))
        return kb_error_set(err, KB_EINVAL, "synth: gpt-oss needs a sliding window >= 1, a valid YaRN setting and "
                                            "3 tokens of padding for its extra control tokens");
    if (!isfinite(p->rope_base) || p->rope_base <= 0 || !isfinite(p->norm_eps) || p->norm_eps <= 0)
        return kb_error_set(err, KB_EINVAL, "synth: rope base and norm epsilon must be positive");
    return 0;
}

/* The type a weight of row length ne0 gets when `want` cannot hold it (llama-quantize's rules). */
static int weight_type(int want, int64_t ne0)
{
    for (int guard = 0; guard < 4; guard++) {
        if (ne0 % ggml_type_info(want)->block_elems == 0)
            return want;
        switch (want) {
        case GGML_TYPE_Q4_K: want = GGML_TYPE_Q5_0; break;
        case GGML_TYPE_Q5_K: want = GGML_TYPE_Q5_1; break;
        case GGML_TYPE_Q6_K: want = GGML_TYPE_Q8_0; break;
        default: want = GGML_TYPE_F16; break;
        }
    }
    return GGML_TYPE_F32;
}

/* llama-quantize's "use more bits" layers (the first and last eighth, every third between). */
static bool more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The type a matrix asks for before the block-size fallbacks: p->type, or with mix_q4_k_m the
 * Q4_K_M choice for its name, or for MXFP4 the MXFP4_MOE rule (see synth.h). */
static int want_type(const struct synth_params *p, const char *name, int n_dims)
{
    if (p->type == GGML_TYPE_MXFP4) {
        bool dense_ffn = !is_moe(p->arch) && (strstr(name, "ffn_gate.weight") || strstr(name, "ffn_up.weight") ||
                                              strstr(name, "ffn_down.weight"));
        return n_dims > 2 || dense_ffn ? GGML_TYPE_MXFP4 : GGML_TYPE_Q8_0;
    }
    if (!p->mix_q4_k_m)
        return p->type;
    if (strcmp(name, "output.weight") == 0 || (p->tied_output && strcmp(name, "token_embd.weight") == 0))
        return GGML_TYPE_Q6_K;
    int b = -1;
    if (sscanf(name, "blk.%d.", &b) != 1 || b < 0)
        return GGML_TYPE_Q4_K;
    bool more = more_bits(b, p->n_layer), e8 = is_moe(p->arch) && p->n_expert == 8;
    if (strstr(name, "attn_v.weight"))
        return e8 ? GGML_TYPE_Q8_0 : more ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
    if (e8 && strstr(name, "attn_k.weight"))
        return GGML_TYPE_Q8_0;
    if (e8 && strstr(name, "attn_output.weight"))
        return GGML_TYPE_Q5_K;
    if (strstr(name, "ffn_down"))
        return more ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
    return GGML_TYPE_Q4_K;
}

static void add_t(struct slist *l, int want_type, enum tkind kind, const char *name, int n_dims, int64_t ne0,
                  int64_t ne1, int64_t ne2)
{
    KB_ASSERT(l->n < SYNTH_MAX_TENSORS);
    struct stensor *t = &l->t[l->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    t->kind = kind;
    t->type = (kind == TK_MAT || kind == TK_EMB) ? weight_type(want_type, ne0) : GGML_TYPE_F32;
    t->std = kind == TK_BIAS ? (strstr(name, "exp_probs_b") ? 0.01f : 0.25f)
             : kind == TK_ROUTER ? 3.0f / sqrtf((float)ne0)
                                 : 1.0f / sqrtf((float)ne0);
    t->n_bytes = ggml_row_bytes(t->type, ne0) * (size_t)(t->ne[1] * t->ne[2]);
}

/* The nextn.* tensors of NextN block b (glm4moe, deepseek2); made to agree (synth.h): eh_proj
 * [std(token_embd) I | 0], enorm/hnorm ones, shared_head_norm a copy of output_norm. */
static void add_nextn(const struct synth_params *p, struct slist *l, int b)
{
    int64_t E = p->n_embd;
    bool agree = p->nextn_agree;
    char n[64];
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                            \
    } while (0)
    T(agree ? TK_EYE : TK_MAT, "nextn.eh_proj.weight", 2, 2 * E, E, 1);
    if (agree)
        l->t[l->n - 1].std = 1.0f / sqrtf((float)E); /* token_embd's std (add_t: 1/sqrt(ne0)) */
    T(agree ? TK_ONES : TK_NORM, "nextn.enorm.weight", 1, E, 1, 1);
    T(agree ? TK_ONES : TK_NORM, "nextn.hnorm.weight", 1, E, 1, 1);
    T(TK_NORM, "nextn.shared_head_norm.weight", 1, E, 1, 1);
    if (agree)
        snprintf(l->t[l->n - 1].seed_name, 64, "output_norm.weight");
#undef T
}

/* deepseek2 blocks in llama.cpp's MLA layout: q (or q-LoRA a/norm/b), kv_a_mqa (kv_lora + rope),
 * kv_a_norm, per-head k_b (nope x kv_lora) and v_b (kv_lora x v), output; leading dense FFN blocks,
 * then routed experts + shared experts (+ exp_probs_b for sigmoid gating). */
static void build_ds2_blocks(const struct synth_params *p, struct slist *l)
{
    int64_t E = p->n_embd, H = p->n_head, kq = p->qk_nope_dim + p->qk_rope_dim;
    char n[64];
    for (int b = 0; b < p->n_layer + p->n_nextn; b++) {
        bool copy = b >= p->n_layer && p->nextn_agree;
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                            \
        if (copy)                                                                                          \
            snprintf(l->t[l->n - 1].seed_name, 64, "blk.%d.%s", b - p->n_layer, suffix);                  \
    } while (0)
        T(TK_NORM, "attn_norm.weight", 1, E, 1, 1);
        if (p->q_lora_rank > 0) {
            T(TK_MAT, "attn_q_a.weight", 2, E, p->q_lora_rank, 1);
            T(TK_NORM, "attn_q_a_norm.weight", 1, p->q_lora_rank, 1, 1);
            T(TK_MAT, "attn_q_b.weight", 2, p->q_lora_rank, H * kq, 1);
        } else {
            T(TK_MAT, "attn_q.weight", 2, E, H * kq, 1);
        }
        T(TK_MAT, "attn_kv_a_mqa.weight", 2, E, p->kv_lora_rank + p->qk_rope_dim, 1);
        T(TK_NORM, "attn_kv_a_norm.weight", 1, p->kv_lora_rank, 1, 1);
        T(TK_MAT, "attn_k_b.weight", 3, p->qk_nope_dim, p->kv_lora_rank, H);
        T(TK_MAT, "attn_v_b.weight", 3, p->kv_lora_rank, p->v_head_dim, H);
        T(TK_MAT, "attn_output.weight", 2, H * p->v_head_dim, E, 1);
        if (is_ds32(p->arch)) { /* DSA lightning indexer */
            T(TK_MAT, "indexer.attn_q_b.weight", 2, p->q_lora_rank, (int64_t)p->idx_n_head * p->idx_head_dim, 1);
            T(TK_MAT, "indexer.attn_k.weight", 2, E, p->idx_head_dim, 1);
            T(TK_NORM, "indexer.k_norm.weight", 1, p->idx_head_dim, 1, 1);
            T(TK_BIAS, "indexer.k_norm.bias", 1, p->idx_head_dim, 1, 1);
            T(TK_MAT, "indexer.proj.weight", 2, E, p->idx_n_head, 1);
        }
        T(TK_NORM, "ffn_norm.weight", 1, E, 1, 1);
        if (b < p->n_dense_lead) {
            T(TK_MAT, "ffn_gate.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_up.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_down.weight", 2, p->n_ff, E, 1);
            continue;
        }
        T(TK_ROUTER, "ffn_gate_inp.weight", 2, E, p->n_expert, 1);
        if (p->gating_func == 2)
            T(TK_BIAS, "exp_probs_b.bias", 1, p->n_expert, 1, 1);
        T(TK_MAT, "ffn_gate_exps.weight", 3, E, p->n_ff_exp, p->n_expert);
        T(TK_MAT, "ffn_up_exps.weight", 3, E, p->n_ff_exp, p->n_expert);
        T(TK_MAT, "ffn_down_exps.weight", 3, p->n_ff_exp, E, p->n_expert);
        if (p->n_expert_shared > 0) {
            int64_t fs = (int64_t)p->n_ff_exp * p->n_expert_shared;
            T(TK_MAT, "ffn_gate_shexp.weight", 2, E, fs, 1);
            T(TK_MAT, "ffn_up_shexp.weight", 2, E, fs, 1);
            T(TK_MAT, "ffn_down_shexp.weight", 2, fs, E, 1);
        }
#undef T
        if (b >= p->n_layer)
            add_nextn(p, l, b);
    }
}

/* gpt-oss blocks as llama.cpp's openai-moe loader names them: biased q/k/v/o projections, one
 * attention sink logit per head, post_attention_norm (no ffn_norm), a biased router and biased
 * experts (the expert biases are 2-D: one row per expert). */
static void build_oss_blocks(const struct synth_params *p, struct slist *l)
{
    int64_t E = p->n_embd, hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    int64_t nq = p->n_head * hd, nkv = p->n_head_kv * hd, F = p->n_ff_exp, X = p->n_expert;
    char n[64];
    for (int b = 0; b < p->n_layer; b++) {
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                            \
    } while (0)
        T(TK_NORM, "attn_norm.weight", 1, E, 1, 1);
        T(TK_MAT, "attn_q.weight", 2, E, nq, 1);
        T(TK_BIAS, "attn_q.bias", 1, nq, 1, 1);
        T(TK_MAT, "attn_k.weight", 2, E, nkv, 1);
        T(TK_BIAS, "attn_k.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_v.weight", 2, E, nkv, 1);
        T(TK_BIAS, "attn_v.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_output.weight", 2, nq, E, 1);
        T(TK_BIAS, "attn_output.bias", 1, E, 1, 1);
        T(TK_BIAS, "attn_sinks.weight", 1, p->n_head, 1, 1);
        T(TK_NORM, "post_attention_norm.weight", 1, E, 1, 1);
        T(TK_ROUTER, "ffn_gate_inp.weight", 2, E, X, 1);
        T(TK_BIAS, "ffn_gate_inp.bias", 1, X, 1, 1);
        T(TK_MAT, "ffn_gate_exps.weight", 3, E, F, X);
        T(TK_BIAS, "ffn_gate_exps.bias", 2, F, X, 1);
        T(TK_MAT, "ffn_up_exps.weight", 3, E, F, X);
        T(TK_BIAS, "ffn_up_exps.bias", 2, F, X, 1);
        T(TK_MAT, "ffn_down_exps.weight", 3, F, E, X);
        T(TK_BIAS, "ffn_down_exps.bias", 2, E, X, 1);
#undef T
    }
}

/* qwen3next blocks as llama.cpp's loader names them: attn_norm and post_attention_norm; full
 * attention blocks with a query+gate projection (2 x head_dim per head) and per-head q/k norms;
 * Gated DeltaNet blocks in the current (non-legacy) layout: attn_qkv (q, k, v of all heads),
 * attn_gate (z), ssm_conv1d (F32 kernels), ssm_dt.bias, ssm_a, ssm_ba (beta and alpha per key
 * head), ssm_norm, ssm_out; then routed experts and a shared expert with its sigmoid gate. */
static void build_qn_blocks(const struct synth_params *p, struct slist *l)
{
    struct qn_dims d;
    qn_dims_of(p, &d);
    int64_t E = p->n_embd, hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    int64_t nq = p->n_head * hd, nkv = p->n_head_kv * hd, F = p->n_ff_exp, X = p->n_expert, FS = p->n_ff_shexp;
    char n[64];
    for (int b = 0; b < p->n_layer; b++) {
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                            \
    } while (0)
        T(TK_NORM, "attn_norm.weight", 1, E, 1, 1);
        T(TK_NORM, "post_attention_norm.weight", 1, E, 1, 1);
        if ((b + 1) % d.interval == 0) {
            T(TK_MAT, "attn_q.weight", 2, E, 2 * nq, 1);
            T(TK_MAT, "attn_k.weight", 2, E, nkv, 1);
            T(TK_MAT, "attn_v.weight", 2, E, nkv, 1);
            T(TK_MAT, "attn_output.weight", 2, nq, E, 1);
            T(TK_NORM, "attn_q_norm.weight", 1, hd, 1, 1);
            T(TK_NORM, "attn_k_norm.weight", 1, hd, 1, 1);
        } else {
            T(TK_MAT, "attn_qkv.weight", 2, E, d.conv_dim, 1);
            T(TK_MAT, "attn_gate.weight", 2, E, d.d_inner, 1);
            T(TK_CONV, "ssm_conv1d.weight", 2, 4, d.conv_dim, 1);
            T(TK_BIAS, "ssm_dt.bias", 1, d.Hv, 1, 1);
            T(TK_NEG, "ssm_a", 1, d.Hv, 1, 1);
            if (strcmp(p->arch, "qwen35moe") == 0) {
                T(TK_MAT, "ssm_beta.weight", 2, E, d.Hv, 1);
                T(TK_MAT, "ssm_alpha.weight", 2, E, d.Hv, 1);
            } else {
                T(TK_MAT, "ssm_ba.weight", 2, E, 2 * d.Hv, 1);
            }
            T(TK_NORM, "ssm_norm.weight", 1, d.S, 1, 1);
            T(TK_MAT, "ssm_out.weight", 2, d.d_inner, E, 1);
        }
        T(TK_ROUTER, "ffn_gate_inp.weight", 2, E, X, 1);
        T(TK_MAT, "ffn_gate_exps.weight", 3, E, F, X);
        T(TK_MAT, "ffn_up_exps.weight", 3, E, F, X);
        T(TK_MAT, "ffn_down_exps.weight", 3, F, E, X);
        T(TK_ROUTER, "ffn_gate_inp_shexp.weight", 1, E, 1, 1);
        T(TK_MAT, "ffn_gate_shexp.weight", 2, E, FS, 1);
        T(TK_MAT, "ffn_up_shexp.weight", 2, E, FS, 1);
        T(TK_MAT, "ffn_down_shexp.weight", 2, FS, E, 1);
#undef T
    }
}

/* glm4moe blocks as llama.cpp's glm4moe loader names them: biased q/k/v, post_attention_norm,
 * dense leading blocks, then sigmoid-routed experts with exp_probs_b and shared experts; the last
 * n_nextn blocks also carry the NextN tensors. With nextn_agree the NextN blocks copy main blocks
 * (seed_name) and get the identity-like eh_proj (synth.h). */
static void build_glm_blocks(const struct synth_params *p, struct slist *l)
{
    int64_t E = p->n_embd, hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    int64_t nq = p->n_head * hd, nkv = p->n_head_kv * hd, F = p->n_ff_exp, X = p->n_expert;
    char n[64];
    for (int b = 0; b < p->n_layer + p->n_nextn; b++) {
        bool nextn = b >= p->n_layer, copy = nextn && p->nextn_agree;
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                            \
        if (copy)                                                                                          \
            snprintf(l->t[l->n - 1].seed_name, 64, "blk.%d.%s", b - p->n_layer, suffix);                  \
    } while (0)
        T(TK_NORM, "attn_norm.weight", 1, E, 1, 1);
        T(TK_MAT, "attn_q.weight", 2, E, nq, 1);
        T(TK_BIAS, "attn_q.bias", 1, nq, 1, 1);
        T(TK_MAT, "attn_k.weight", 2, E, nkv, 1);
        T(TK_BIAS, "attn_k.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_v.weight", 2, E, nkv, 1);
        T(TK_BIAS, "attn_v.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_output.weight", 2, nq, E, 1);
        T(TK_NORM, "post_attention_norm.weight", 1, E, 1, 1);
        if (b < p->n_dense_lead) {
            T(TK_MAT, "ffn_gate.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_up.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_down.weight", 2, p->n_ff, E, 1);
        } else {
            T(TK_ROUTER, "ffn_gate_inp.weight", 2, E, X, 1);
            T(TK_BIAS, "exp_probs_b.bias", 1, X, 1, 1);
            T(TK_MAT, "ffn_gate_exps.weight", 3, E, F, X);
            T(TK_MAT, "ffn_up_exps.weight", 3, E, F, X);
            T(TK_MAT, "ffn_down_exps.weight", 3, F, E, X);
            if (p->n_expert_shared > 0) {
                int64_t fs = F * p->n_expert_shared;
                T(TK_MAT, "ffn_gate_shexp.weight", 2, E, fs, 1);
                T(TK_MAT, "ffn_up_shexp.weight", 2, E, fs, 1);
                T(TK_MAT, "ffn_down_shexp.weight", 2, fs, E, 1);
            }
        }
#undef T
        if (nextn)
            add_nextn(p, l, b);
    }
}

static void build_tensors(const struct synth_params *p, struct slist *l)
{
    const char *a = p->arch;
    int64_t E = p->n_embd, hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    int64_t nq = p->n_head * hd, nkv = p->n_head_kv * hd;
    bool bias = strcmp(a, "qwen2") == 0 || strcmp(a, "qwen2moe") == 0;
    bool qknorm = strcmp(a, "qwen3") == 0 || strcmp(a, "qwen3moe") == 0;
    char n[64];
    add_t(l, want_type(p, "token_embd.weight", 2), TK_EMB, "token_embd.weight", 2, E, p->n_vocab, 1);
    if (is_ds2(a)) {
        build_ds2_blocks(p, l);
        goto out_head;
    }
    if (is_oss(a)) {
        build_oss_blocks(p, l);
        goto out_head;
    }
    if (is_qnext(a)) {
        build_qn_blocks(p, l);
        goto out_head;
    }
    if (is_glm(a)) {
        build_glm_blocks(p, l);
        goto out_head;
    }
    for (int b = 0; b < p->n_layer; b++) {
#define T(kind, suffix, nd, a0, a1, a2)                                                                    \
    do {                                                                                                   \
        snprintf(n, sizeof(n), "blk.%d.%s", b, suffix);                                                    \
        add_t(l, want_type(p, n, nd), kind, n, nd, a0, a1, a2);                                                        \
    } while (0)
        T(TK_NORM, "attn_norm.weight", 1, E, 1, 1);
        T(TK_MAT, "attn_q.weight", 2, E, nq, 1);
        if (bias)
            T(TK_BIAS, "attn_q.bias", 1, nq, 1, 1);
        T(TK_MAT, "attn_k.weight", 2, E, nkv, 1);
        if (bias)
            T(TK_BIAS, "attn_k.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_v.weight", 2, E, nkv, 1);
        if (bias)
            T(TK_BIAS, "attn_v.bias", 1, nkv, 1, 1);
        T(TK_MAT, "attn_output.weight", 2, nq, E, 1);
        if (qknorm) {
            T(TK_NORM, "attn_q_norm.weight", 1, hd, 1, 1);
            T(TK_NORM, "attn_k_norm.weight", 1, hd, 1, 1);
        }
        T(TK_NORM, "ffn_norm.weight", 1, E, 1, 1);
        if (!is_moe(a)) {
            T(TK_MAT, "ffn_gate.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_up.weight", 2, E, p->n_ff, 1);
            T(TK_MAT, "ffn_down.weight", 2, p->n_ff, E, 1);
        } else {
            int64_t fe = strcmp(a, "mixtral") == 0 ? p->n_ff : p->n_ff_exp;
            T(TK_ROUTER, "ffn_gate_inp.weight", 2, E, p->n_expert, 1);
            T(TK_MAT, "ffn_gate_exps.weight", 3, E, fe, p->n_expert);
            T(TK_MAT, "ffn_up_exps.weight", 3, E, fe, p->n_expert);
            T(TK_MAT, "ffn_down_exps.weight", 3, fe, E, p->n_expert);
            if (strcmp(a, "qwen2moe") == 0) {
                T(TK_ROUTER, "ffn_gate_inp_shexp.weight", 1, E, 1, 1);
                T(TK_MAT, "ffn_gate_shexp.weight", 2, E, p->n_ff_shexp, 1);
                T(TK_MAT, "ffn_up_shexp.weight", 2, E, p->n_ff_shexp, 1);
                T(TK_MAT, "ffn_down_shexp.weight", 2, p->n_ff_shexp, E, 1);
            }
        }
#undef T
    }
out_head:
    add_t(l, p->type, TK_NORM, "output_norm.weight", 1, E, 1, 1);
    if (!p->tied_output)
        add_t(l, want_type(p, "output.weight", 2), TK_EMB, "output.weight", 2, E, p->n_vocab, 1);
    uint64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        l->t[i].offset = off;
        off += (l->t[i].n_bytes + SYNTH_ALIGN - 1) / SYNTH_ALIGN * SYNTH_ALIGN;
    }
}

/* ---- metadata serialisation ----------------------------------------------------------------------- */

static void put_u32(struct kb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    KB_ASSERT(kb_buf_append(b, x, 4) == 0);
}

static void put_u64(struct kb_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct kb_buf *b, const char *s, size_t n)
{
    put_u64(b, n);
    KB_ASSERT(kb_buf_append(b, s, n) == 0);
}

static void kv_head(struct kb_buf *b, const char *prefix, const char *key, uint32_t type)
{
    char k[128];
    snprintf(k, sizeof(k), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key);
    put_str(b, k, strlen(k));
    put_u32(b, type);
}

static void kv_u32(struct kb_buf *b, int *n_kv, const char *prefix, const char *key, uint32_t v)
{
    kv_head(b, prefix, key, GGUF_VT_U32);
    put_u32(b, v);
    (*n_kv)++;
}

static void kv_f32(struct kb_buf *b, int *n_kv, const char *prefix, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    kv_head(b, prefix, key, GGUF_VT_F32);
    put_u32(b, u);
    (*n_kv)++;
}

static void kv_bool(struct kb_buf *b, int *n_kv, const char *key, bool v)
{
    kv_head(b, NULL, key, GGUF_VT_BOOL);
    uint8_t x = v;
    KB_ASSERT(kb_buf_append(b, &x, 1) == 0);
    (*n_kv)++;
}

static void kv_str(struct kb_buf *b, int *n_kv, const char *prefix, const char *key, const char *v)
{
    kv_head(b, prefix, key, GGUF_VT_STRING);
    put_str(b, v, strlen(v));
    (*n_kv)++;
}

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards. */
static uint32_t byte_cp(int byte)
{
    if ((byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255))
        return (uint32_t)byte;
    int k = 0;
    for (int b = 0; b < byte; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)))
            k++;
    return 256u + (uint32_t)k;
}

/* Merges as pairs of token strings in byte-level form ("Ġ" = space); rank = order. */
static const char *merges[SYNTH_N_MERGES][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"Ġ", "a"}, {"i", "n"}, {"Ġt", "he"}, {"e", "r"}, {"o", "n"}, {"Ġ", "s"},
    {"r", "e"}, {"a", "n"}, {"Ġ", "o"}, {"Ġ", "w"}, {"e", "n"}, {"a", "t"}, {"o", "r"}, {"n", "d"},
    {"Ġ", "c"}, {"i", "s"}, {"Ġ", "b"}, {"in", "g"}, {"e", "d"}, {"Ġa", "nd"}, {"Ġ", "f"}, {"o", "u"},
};

static const char *specials_llama[5] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                        "<|end_header_id|>", "<|eot_id|>"};
static const char *specials_qwen[5] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};
/* gpt-oss (harmony): more control tokens than the five slots; <|channel|>, <|call|> and
 * <|constrain|> take the first padding slots (n_vocab leaves room: synth_check). */
static const char *specials_oss[5] = {"<|startoftext|>", "<|return|>", "<|start|>", "<|message|>", "<|end|>"};
static const char *specials_oss_extra[3] = {"<|channel|>", "<|call|>", "<|constrain|>"};
static const char *specials_ds[5] = {"<ï½" "beginâofâsentenceï½>",
                                     "<ï½" "endâofâsentenceï½>",
                                     "<ï½Userï½>", "<ï½" "Assistantï½>",
                                     "<think>"};

static const char *tmpl_llama3 =
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if "
    "add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
static const char *tmpl_chatml =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}";
static const char *tmpl_qwen3 =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}";

static const char *tmpl_ds_v2 =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + "
    "message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + "
    "message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + "
    "'\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";
static const char *tmpl_ds_v3 =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ "
    "'<\xef\xbd\x9cUser\xef\xbd\x9c>' + message['content'] }}{% elif message['role'] == 'assistant' %}{{ "
    "'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' + message['content'] + "
    "'<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>' }}{% else %}{{ message['content'] "
    "}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' }}"
    "{% endif %}";

/* A harmony-format template (gpt-oss): each message as <|start|>role<|message|>text<|end|>, the
 * assistant's past answers on the final channel, the generation prompt opening an assistant turn
 * (the model then picks its channel: analysis for reasoning, final for the answer). */
static const char *tmpl_harmony =
    "{%- for message in messages %}{%- if message['role'] == 'assistant' %}{{- '<|start|>assistant<|channel|>final"
    "<|message|>' + message['content'] + '<|end|>' }}{%- else %}{{- '<|start|>' + message['role'] + '<|message|>' + "
    "message['content'] + '<|end|>' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start|>assistant'"
    " }}{%- endif %}";

static void put_vocab(struct kb_buf *b, int *n_kv, const struct synth_params *p)
{
    bool ds = is_ds2(p->arch), v3 = ds && p->q_lora_rank > 0;
    bool oss = is_oss(p->arch);
    const char **sp = is_qwen(p->arch) || is_glm(p->arch) ? specials_qwen : ds ? specials_ds : oss ? specials_oss : specials_llama;
    char tok[64];
    kv_str(b, n_kv, NULL, "tokenizer.ggml.model", "gpt2");
    kv_str(b, n_kv, NULL, "tokenizer.ggml.pre",
           is_qwen(p->arch) || is_glm(p->arch) ? "qwen2" : v3 ? "deepseek-v3" : ds ? "deepseek-llm" : oss ? "gpt-4o" : "llama-bpe");
    kv_head(b, NULL, "tokenizer.ggml.tokens", GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_STRING);
    put_u64(b, (uint64_t)p->n_vocab);
    for (int i = 0; i < 256; i++) {
        char u[4];
        int len = kb_utf8_encode(byte_cp(i), u);
        put_str(b, u, (size_t)len);
    }
    for (int i = 0; i < SYNTH_N_MERGES; i++) {
        snprintf(tok, sizeof(tok), "%s%s", merges[i][0], merges[i][1]);
        put_str(b, tok, strlen(tok));
    }
    for (int i = 0; i < 5; i++)
        put_str(b, sp[i], strlen(sp[i]));
    for (int i = SYNTH_N_VOCAB_MIN; i < p->n_vocab; i++) {
        int k = i - SYNTH_N_VOCAB_MIN;
        if (oss && k < 3)
            snprintf(tok, sizeof(tok), "%s", specials_oss_extra[k]);
        else
            snprintf(tok, sizeof(tok), "<|reserved_%d|>", k);
        put_str(b, tok, strlen(tok));
    }
    (*n_kv)++;
    kv_head(b, NULL, "tokenizer.ggml.token_type", GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_I32);
    put_u64(b, (uint64_t)p->n_vocab);
    for (int i = 0; i < p->n_vocab; i++)
        put_u32(b, i < SYNTH_TOK_SPECIAL0 ? 1u : 3u); /* NORMAL, CONTROL */
    (*n_kv)++;
    kv_head(b, NULL, "tokenizer.ggml.merges", GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_STRING);
    put_u64(b, SYNTH_N_MERGES);
    for (int i = 0; i < SYNTH_N_MERGES; i++) {
        snprintf(tok, sizeof(tok), "%s %s", merges[i][0], merges[i][1]);
        put_str(b, tok, strlen(tok));
    }
    (*n_kv)++;
    bool qwen = is_qwen(p->arch) || is_glm(p->arch);
    kv_u32(b, n_kv, NULL, "tokenizer.ggml.bos_token_id", SYNTH_TOK_SPECIAL0);
    kv_u32(b, n_kv, NULL, "tokenizer.ggml.eos_token_id", qwen ? SYNTH_TOK_SPECIAL0 + 2 : SYNTH_TOK_SPECIAL0 + 1);
    kv_u32(b, n_kv, NULL, "tokenizer.ggml.eot_token_id",
           qwen ? SYNTH_TOK_SPECIAL0 + 2 : ds ? SYNTH_TOK_SPECIAL0 + 1 : SYNTH_TOK_SPECIAL0 + 4);
    if (qwen)
        kv_u32(b, n_kv, NULL, "tokenizer.ggml.padding_token_id", SYNTH_TOK_SPECIAL0);
    kv_bool(b, n_kv, "tokenizer.ggml.add_bos_token", !qwen && !oss);
    const char *tmpl = strncmp(p->arch, "qwen3", 5) == 0 ? tmpl_qwen3
                       : oss                             ? tmpl_harmony
                       : qwen                            ? tmpl_chatml
                       : v3                              ? tmpl_ds_v3
                       : ds                              ? tmpl_ds_v2
                                                         : tmpl_llama3;
    kv_str(b, n_kv, NULL, "tokenizer.chat_template", tmpl);
}

static uint32_t file_type(int type)
{
    switch (type) {
    case GGML_TYPE_F32: return 0;
    case GGML_TYPE_F16: return 1;
    case GGML_TYPE_Q4_0: return 2;
    case GGML_TYPE_Q4_1: return 3;
    case GGML_TYPE_Q8_0: return 7;
    case GGML_TYPE_Q5_0: return 8;
    case GGML_TYPE_Q5_1: return 9;
    case GGML_TYPE_Q4_K: return 15; /* Q4_K_M */
    case GGML_TYPE_Q5_K: return 17; /* Q5_K_M */
    case GGML_TYPE_Q6_K: return 18;
    case GGML_TYPE_BF16: return 32;
    case GGML_TYPE_MXFP4: return 38; /* MXFP4_MOE */
    default: return 0;
    }
}

/* The routed-expert keys deepseek2, deepseek32 and glm4moe share: sizes, shared experts, weight
 * scale and normalisation, gating function. */
static void put_expert_meta(struct kb_buf *b, int *n_kv, const char *A, const struct synth_params *p)
{
    kv_u32(b, n_kv, A, "expert_feed_forward_length", (uint32_t)p->n_ff_exp);
    kv_u32(b, n_kv, A, "expert_count", (uint32_t)p->n_expert);
    kv_u32(b, n_kv, A, "expert_used_count", (uint32_t)p->n_expert_used);
    kv_u32(b, n_kv, A, "expert_shared_count", (uint32_t)p->n_expert_shared);
    kv_f32(b, n_kv, A, "expert_weights_scale", p->expert_weights_scale);
    kv_head(b, A, "expert_weights_norm", GGUF_VT_BOOL);
    uint8_t norm = p->expert_weights_norm;
    KB_ASSERT(kb_buf_append(b, &norm, 1) == 0);
    (*n_kv)++;
    kv_u32(b, n_kv, A, "expert_gating_func", (uint32_t)p->gating_func);
}

static void put_meta_ds2(struct kb_buf *b, int *n_kv, const struct synth_params *p)
{
    const char *A = p->arch; /* deepseek2 or deepseek32 */
    kv_u32(b, n_kv, A, "leading_dense_block_count", (uint32_t)p->n_dense_lead);
    if (is_ds32(A)) {
        kv_u32(b, n_kv, A, "attention.indexer.head_count", (uint32_t)p->idx_n_head);
        kv_u32(b, n_kv, A, "attention.indexer.key_length", (uint32_t)p->idx_head_dim);
        kv_u32(b, n_kv, A, "attention.indexer.top_k", (uint32_t)p->idx_top_k);
    }
    kv_u32(b, n_kv, A, "attention.q_lora_rank", (uint32_t)p->q_lora_rank);
    kv_u32(b, n_kv, A, "attention.kv_lora_rank", (uint32_t)p->kv_lora_rank);
    /* MLA as llama.cpp stores it: one KV head of kv_lora + rope (keys) and kv_lora (values) */
    kv_u32(b, n_kv, A, "attention.key_length", (uint32_t)(p->kv_lora_rank + p->qk_rope_dim));
    kv_u32(b, n_kv, A, "attention.value_length", (uint32_t)p->kv_lora_rank);
    kv_u32(b, n_kv, A, "attention.key_length_mla", (uint32_t)(p->qk_nope_dim + p->qk_rope_dim));
    kv_u32(b, n_kv, A, "attention.value_length_mla", (uint32_t)p->v_head_dim);
    kv_u32(b, n_kv, A, "rope.dimension_count", (uint32_t)p->qk_rope_dim);
    put_expert_meta(b, n_kv, A, p);
    if (p->n_nextn > 0)
        kv_u32(b, n_kv, A, "nextn_predict_layers", (uint32_t)p->n_nextn);
    if (p->n_expert_group > 0) {
        kv_u32(b, n_kv, A, "expert_group_count", (uint32_t)p->n_expert_group);
        kv_u32(b, n_kv, A, "expert_group_used_count", (uint32_t)p->n_expert_group_used);
    }
    if (p->yarn_factor > 0) {
        kv_str(b, n_kv, A, "rope.scaling.type", "yarn");
        kv_f32(b, n_kv, A, "rope.scaling.factor", p->yarn_factor);
        kv_u32(b, n_kv, A, "rope.scaling.original_context_length", (uint32_t)p->yarn_orig_ctx);
        kv_f32(b, n_kv, A, "rope.scaling.yarn_log_multiplier", 0.0707f);
    }
}

/* glm4moe: partial rotary over half of each head, as GLM-4.5 (partial_rotary_factor 0.5). */
static void put_meta_glm(struct kb_buf *b, int *n_kv, const struct synth_params *p, int hd)
{
    const char *A = "glm4moe";
    kv_u32(b, n_kv, A, "rope.dimension_count", (uint32_t)(hd / 2));
    kv_u32(b, n_kv, A, "attention.key_length", (uint32_t)hd);
    kv_u32(b, n_kv, A, "attention.value_length", (uint32_t)hd);
    kv_u32(b, n_kv, A, "leading_dense_block_count", (uint32_t)p->n_dense_lead);
    put_expert_meta(b, n_kv, A, p);
    kv_u32(b, n_kv, A, "nextn_predict_layers", (uint32_t)p->n_nextn);
}

static void put_meta(struct kb_buf *b, int *n_kv, const struct synth_params *p)
{
    const char *A = gguf_arch(p->arch);
    int hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    kv_str(b, n_kv, NULL, "general.architecture", A);
    kv_str(b, n_kv, NULL, "general.name", "kbox-synth");
    kv_u32(b, n_kv, NULL, "general.alignment", SYNTH_ALIGN);
    kv_u32(b, n_kv, NULL, "general.file_type", file_type(p->type));
    kv_u32(b, n_kv, NULL, "general.quantization_version", 2);
    kv_u32(b, n_kv, A, "context_length", (uint32_t)p->n_ctx);
    kv_u32(b, n_kv, A, "embedding_length", (uint32_t)p->n_embd);
    kv_u32(b, n_kv, A, "block_count", (uint32_t)(p->n_layer + p->n_nextn));
    kv_u32(b, n_kv, A, "feed_forward_length", (uint32_t)p->n_ff);
    kv_u32(b, n_kv, A, "attention.head_count", (uint32_t)p->n_head);
    kv_u32(b, n_kv, A, "attention.head_count_kv", is_ds2(p->arch) ? 1u : (uint32_t)p->n_head_kv);
    kv_f32(b, n_kv, A, "rope.freq_base", p->rope_base);
    kv_f32(b, n_kv, A, "attention.layer_norm_rms_epsilon", p->norm_eps);
    kv_u32(b, n_kv, A, "vocab_size", (uint32_t)p->n_vocab);
    if (is_ds2(p->arch)) {
        put_meta_ds2(b, n_kv, p);
        put_vocab(b, n_kv, p);
        return;
    }
    if (is_glm(p->arch)) {
        put_meta_glm(b, n_kv, p, hd);
        put_vocab(b, n_kv, p);
        return;
    }
    if (is_qnext(p->arch)) {
        struct qn_dims d;
        qn_dims_of(p, &d);
        kv_u32(b, n_kv, A, "rope.dimension_count", (uint32_t)d.n_rot);
        kv_u32(b, n_kv, A, "ssm.conv_kernel", 4);
        kv_u32(b, n_kv, A, "ssm.inner_size", (uint32_t)d.d_inner);
        kv_u32(b, n_kv, A, "ssm.state_size", (uint32_t)d.S);
        kv_u32(b, n_kv, A, "ssm.time_step_rank", (uint32_t)d.Hv);
        kv_u32(b, n_kv, A, "ssm.group_count", (uint32_t)d.Hk);
        kv_u32(b, n_kv, A, "full_attention_interval", (uint32_t)d.interval);
        kv_u32(b, n_kv, A, "expert_shared_feed_forward_length", (uint32_t)p->n_ff_shexp);
        if (strcmp(p->arch, "qwen35moe") == 0) { /* IMROPE sections (t, h, w, e) over the rotary pairs */
            int pairs = d.n_rot / 2;
            kv_head(b, A, "rope.dimension_sections", GGUF_VT_ARRAY);
            put_u32(b, GGUF_VT_I32);
            put_u64(b, 4);
            put_u32(b, (uint32_t)((pairs + 2) / 3));
            put_u32(b, (uint32_t)((pairs + 1) / 3));
            put_u32(b, (uint32_t)(pairs / 3));
            put_u32(b, 0);
            (*n_kv)++;
        }
    } else {
        kv_u32(b, n_kv, A, "rope.dimension_count", (uint32_t)hd);
    }
    if (hd * p->n_head != p->n_embd || p->head_dim || is_oss(p->arch) || is_qnext(p->arch)) {
        kv_u32(b, n_kv, A, "attention.key_length", (uint32_t)hd);
        kv_u32(b, n_kv, A, "attention.value_length", (uint32_t)hd);
    }
    if (is_moe(p->arch)) {
        kv_u32(b, n_kv, A, "expert_count", (uint32_t)p->n_expert);
        kv_u32(b, n_kv, A, "expert_used_count", (uint32_t)p->n_expert_used);
        if (strcmp(p->arch, "mixtral") != 0)
            kv_u32(b, n_kv, A, "expert_feed_forward_length", (uint32_t)p->n_ff_exp);
        if (strcmp(p->arch, "qwen2moe") == 0)
            kv_u32(b, n_kv, A, "expert_shared_feed_forward_length", (uint32_t)p->n_ff_shexp);
    }
    if (is_oss(p->arch)) { /* sliding-window layers alternate with full ones (llama.cpp's default period 2) */
        kv_u32(b, n_kv, A, "attention.sliding_window", (uint32_t)p->n_swa);
        if (p->yarn_factor > 0) {
            kv_str(b, n_kv, A, "rope.scaling.type", "yarn");
            kv_f32(b, n_kv, A, "rope.scaling.factor", p->yarn_factor);
            kv_u32(b, n_kv, A, "rope.scaling.original_context_length", (uint32_t)p->yarn_orig_ctx);
        }
    }
    put_vocab(b, n_kv, p);
}

/* ---- weights -------------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Approximately N(0,1): a sum of four uniforms (Irwin-Hall), scaled to unit variance. */
static float gauss(uint64_t *s)
{
    uint64_t r = splitmix(s);
    float acc = 0;
    for (int i = 0; i < 4; i++, r >>= 16)
        acc += (float)(r & 0xffff) * (1.0f / 65536.0f) - 0.5f;
    return acc * 1.7320508f;
}

/* Rows of one tensor are generated in chunks, split over the pool; row r's values depend only on
 * (seed, tensor name, r), so the bytes do not depend on the thread count. */
#define SYNTH_CHUNK_BYTES (4u << 20)

struct gen_job {
    const struct stensor *t;
    uint64_t base;   /* per-tensor seed */
    int64_t r0, n_rows;
    size_t rb;       /* bytes per quantized row */
    uint8_t *out;    /* (n_rows, rb) */
    float *rows;     /* (n_threads, ne0) scratch */
};

static void gen_rows(void *ud, int ith, int nth)
{
    struct gen_job *j = ud;
    const struct stensor *t = j->t;
    float *row = j->rows + (size_t)ith * (size_t)t->ne[0];
    for (int64_t r = ith; r < j->n_rows; r += nth) {
        uint64_t s = j->base ^ ((uint64_t)(j->r0 + r) * 0xd1342543de82ef95ull);
        for (int64_t k = 0; k < t->ne[0]; k++)
            row[k] = t->kind == TK_NORM   ? 1.0f + 0.01f * gauss(&s)
                     : t->kind == TK_NEG  ? -0.05f * expf(0.5f * gauss(&s))
                     : t->kind == TK_ONES ? 1.0f
                     : t->kind == TK_EYE  ? (k == j->r0 + r ? t->std : 0.0f)
                                          : t->std * gauss(&s);
        kern.quant[t->type](row, j->out + (size_t)r * j->rb, t->ne[0]);
    }
}

static int write_tensor(FILE *f, struct kern_pool *pool, const struct stensor *t, uint64_t seed, float *rows,
                        uint8_t *chunk)
{
    const char *sn = t->seed_name[0] ? t->seed_name : t->name;
    uint64_t base = kb_fnv1a64(seed ^ 0x5851f42d4c957f2dull, sn, strlen(sn));
    int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = ggml_row_bytes(t->type, t->ne[0]);
    int64_t per_chunk = KB_MAX(1, (int64_t)(SYNTH_CHUNK_BYTES / rb));
    for (int64_t r0 = 0; r0 < n_rows; r0 += per_chunk) {
        struct gen_job j = {t, base, r0, KB_MIN(per_chunk, n_rows - r0), rb, chunk, rows};
        kern_pool_run(pool, gen_rows, &j);
        size_t bytes = rb * (size_t)j.n_rows;
        if (fwrite(chunk, 1, bytes, f) != bytes)
            return KB_EIO;
    }
    static const uint8_t zeros[SYNTH_ALIGN];
    size_t pad = (SYNTH_ALIGN - t->n_bytes % SYNTH_ALIGN) % SYNTH_ALIGN;
    if (pad && fwrite(zeros, 1, pad, f) != pad)
        return KB_EIO;
    return 0;
}

int synth_write(const char *path, const struct synth_params *p, struct kb_error *err)
{
    int rc = synth_check(p, err);
    if (rc)
        return rc;
    kern_init(false);
    struct slist l = {kb_xcalloc(SYNTH_MAX_TENSORS, sizeof(struct stensor)), 0};
    build_tensors(p, &l);
    struct kb_buf meta, b;
    kb_buf_init(&meta, 0);
    kb_buf_init(&b, 0);
    int n_kv = 0;
    put_meta(&meta, &n_kv, p);
    KB_ASSERT(kb_buf_append(&b, "GGUF", 4) == 0);
    put_u32(&b, 3);
    put_u64(&b, (uint64_t)l.n);
    put_u64(&b, (uint64_t)n_kv);
    KB_ASSERT(kb_buf_append(&b, meta.data, meta.len) == 0);
    for (int i = 0; i < l.n; i++) {
        const struct stensor *t = &l.t[i];
        put_str(&b, t->name, strlen(t->name));
        put_u32(&b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            put_u64(&b, (uint64_t)t->ne[d]);
        put_u32(&b, (uint32_t)t->type);
        put_u64(&b, t->offset);
    }
    while (b.len % SYNTH_ALIGN)
        KB_ASSERT(kb_buf_putc(&b, 0) == 0);
    int64_t max_row = 0;
    for (int i = 0; i < l.n; i++)
        max_row = KB_MAX(max_row, l.t[i].ne[0]);
    struct kern_pool *pool = NULL;
    if (kern_pool_new(&pool, 0, NULL) != 0)
        KB_ASSERT(kern_pool_new(&pool, 1, NULL) == 0);
    float *row = kb_xmalloc(sizeof(float) * (size_t)max_row * (size_t)kern_pool_n_threads(pool));
    /* a chunk holds at least one row (a row of F32 is the largest: 4 bytes per value) */
    uint8_t *qrow = kb_xmalloc(KB_MAX((size_t)SYNTH_CHUNK_BYTES, sizeof(float) * (size_t)max_row) + 64);
    FILE *f = fopen(path, "wb");
    if (!f) {
        rc = kb_error_set(err, KB_EIO, "synth: cannot create '%s'", path);
        goto out_free;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (fwrite(b.data, 1, b.len, f) != b.len)
        rc = KB_EIO;
    for (int i = 0; i < l.n && rc == 0; i++)
        rc = write_tensor(f, pool, &l.t[i], p->seed, row, qrow);
    if (fclose(f) != 0 && rc == 0)
        rc = KB_EIO;
    if (rc)
        kb_error_set(err, rc, "synth: cannot write '%s'", path);
out_free:
    kern_pool_free(pool);
    free(row);
    free(qrow);
    kb_buf_release(&meta);
    kb_buf_release(&b);
    free(l.t);
    return rc;
}
