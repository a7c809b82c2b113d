/* infer/arch_llama.c: the llama family: llama (also Mistral, and Mixtral when the file has
 * experts), qwen2, qwen3, qwen2moe and qwen3moe, computed the way llama.cpp's graphs compute them.
 *
 * These architectures share one attention sublayer and differ only in data: qwen2 adds Q/K/V biases,
 * qwen3 normalises each Q/K head, qwen uses NEOX rope, the *moe ones always have experts. Per step
 * (model_decoder_forward in layers.c runs the layers; this file is the attention of one layer):
 *   xn = rmsnorm(x) * attn_norm
 *   q,k,v = xn Wq, xn Wk, xn Wv (+ biases: qwen2)
 *   qwen3: q,k = per-head rmsnorm(q,k) * q_norm/k_norm
 *   rope(q,k): NORM (adjacent pairs, llama) or NEOX (halves, qwen), theta_i =
 *     pos * freq_scale * base^(-2i/n_rot) / rope_freqs[i]
 *   k,v -> KV cache (F16 or F32) at their positions; V is stored transposed (one row of n_ctx
 *     positions per value dimension) so the weighted sum over positions is a dot product, as in
 *     ggml's non-flash attention
 *   att = softmax(q.K^T * 1/sqrt(head_dim), causal) V   per head; GQA maps query head h to kv head
 *     h / (n_head/n_head_kv); softmax in f32 with a double sum
 *   x += att Wo (+ bo)
 * Tensors are bound by their llama.cpp names (blk.N.attn_q.weight, ...). All buffers are the
 * session's (see model.h for shapes); nothing is allocated here.
 * Tests: tests/infer/test_conformance.c, test_ref_forward.c. */
#include <stdio.h>

#include "infer/layers.h"

/* arch_ops.attention: rows t0..n-1 get their attention output (all n rows feed the cache). */
void model_attention_gqa(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int e = hp->n_embd, hd = hp->head_dim;
    int nq = hp->n_head * hd, nk = hp->n_head_kv * hd, nv = hp->n_head_kv * hp->head_dim_v;
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e,
                      hp->rms_eps);
    model_prof_mark(s, INFER_PROF_NORM);
    model_qkv(s, L, s->xn, n);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) {
            float *q = s->q + (size_t)t * nq + (size_t)h * hd;
            if (L->q_norm.data)
                model_rmsnorm(q, q, L->q_norm.data, hd, hp->rms_eps);
            model_rope(q, cs, hp->n_rot, hp->rope_neox);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            float *k = s->k + (size_t)t * nk + (size_t)h * hd;
            if (L->k_norm.data)
                model_rmsnorm(k, k, L->k_norm.data, hd, hp->rms_eps);
            model_rope(k, cs, hp->n_rot, hp->rope_neox);
        }
    }
    void *kl = model_cache_layer(s, s->k_cache, il, (size_t)nk);
    void *vl = model_cache_layer(s, s->v_cache, il, (size_t)nv);
    model_cache_put(s, kl, (size_t)nk, s->k, (size_t)nk, nk, n, pos0);
    model_cache_put_trans(s, vl, s->v, nv, n, pos0);
    struct attn_spec a = {
        .q = s->q, .q_tok = (size_t)nq, .q_head = (size_t)hd,
        .kc = kl, .k_pos = (size_t)nk, .k_head = (size_t)hd,
        .vc = vl, .v_pos = (size_t)s->n_ctx, .v_head = (size_t)hp->head_dim_v * s->n_ctx,
        .v_trans = true, .f32 = s->kv_f32,
        .out = s->att, .o_tok = (size_t)hp->n_head * hp->head_dim_v, .o_head = (size_t)hp->head_dim_v,
        .dk = hd, .dv = hp->head_dim_v, .n_head = hp->n_head, .group = hp->n_head / hp->n_head_kv,
        .scale = hp->kq_scale, .n_tok = n, .pos0 = pos0, .t_first = t0,
    };
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    if (t0 >= n)
        return;
    model_attention(s, &a);
    model_prof_mark(s, INFER_PROF_ATTN);
    size_t no = (size_t)hp->n_head * hp->head_dim_v;
    model_matmul(s, &L->wo, s->att + (size_t)t0 * no, n - t0, s->tmp + (size_t)t0 * e);
    model_add_bias(s->tmp + (size_t)t0 * e, &L->bo, n - t0, e);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

static int llama_bind_attention(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim;
    int64_t nk = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t no = (int64_t)hp->n_head * hp->head_dim_v;
    bool bias = m->ops->qkv_bias;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, opt)                                                            \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                          \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, 1, opt, err)) != 0)                       \
            return rc;                                                                             \
    } while (0)
    B(wq, "attn_q.weight", 2, e, nq, false);
    B(wk, "attn_k.weight", 2, e, nk, false);
    B(wv, "attn_v.weight", 2, e, nv, false);
    B(wo, "attn_output.weight", 2, no, e, false);
    B(bq, "attn_q.bias", 1, nq, 1, !bias);
    B(bk, "attn_k.bias", 1, nk, 1, !bias);
    B(bv, "attn_v.bias", 1, nv, 1, !bias);
    B(bo, "attn_output.bias", 1, e, 1, true);
    if (m->ops->qk_norm) {
        B(q_norm, "attn_q_norm.weight", 1, hp->head_dim, 1, false);
        B(k_norm, "attn_k_norm.weight", 1, hp->head_dim, 1, false);
    }
#undef B
    return rc;
}

static int llama_bind(struct infer_model *m, struct kb_error *err)
{
    return model_bind_decoder(m, llama_bind_attention, err);
}

#define LLAMA_FAMILY                                                                               \
    .bind = llama_bind, .forward = model_decoder_forward, .attention = model_attention_gqa,             \
    .embed = model_decoder_embed, .kv_shape = model_kv_shape_gqa

const struct arch_ops arch_llama_ops = {
    .name = "llama", .experts = ARCH_EXPERTS_OPTIONAL, .ff_exp_is_n_ff = true, .expert_norm = true,
    .yarn_mscale = true, LLAMA_FAMILY,
};
const struct arch_ops arch_qwen2_ops = {
    .name = "qwen2", .rope_neox = true, .yarn_mscale = true, .qkv_bias = true, LLAMA_FAMILY,
};
const struct arch_ops arch_qwen3_ops = {
    .name = "qwen3", .rope_neox = true, .yarn_mscale = true, .qk_norm = true, LLAMA_FAMILY,
};
const struct arch_ops arch_qwen2moe_ops = {
    .name = "qwen2moe", .rope_neox = true, .yarn_mscale = true, .experts = ARCH_EXPERTS_ALWAYS,
    .qkv_bias = true, .shexp_gate = true, LLAMA_FAMILY,
};
const struct arch_ops arch_qwen3moe_ops = {
    .name = "qwen3moe", .ff_optional = true, .rope_neox = true, .yarn_mscale = true,
    .experts = ARCH_EXPERTS_ALWAYS, .expert_norm = true, .qk_norm = true, LLAMA_FAMILY,
};
