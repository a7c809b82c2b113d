/* infer/layers.h (internal to infer/): the shared layers the architectures are built from
 * (layers.c: matmul, norms, rope, KV cache, attention, dense FFN, the decoder step; layers_moe.c:
 * the mixture-of-experts FFN and one-dispatch matrix-vector products). Architectures (arch_*.c)
 * call into these; these call back into an architecture only through m->ops (model.h). Every
 * function reads the immutable model and writes the session's buffers; none allocates.
 * Tests: tests/infer/test_conformance.c, test_ref_forward.c, test_moe.c. */
#ifndef KB_INFER_LAYERS_H
#define KB_INFER_LAYERS_H

#include <math.h>

#include "infer/model.h"

/* y(T, n_out) = x(T, n_in) W^T over the session's pool. */
void model_matmul(struct infer_session *s, const struct model_w *w, const float *x, int n_tok, float *y);
/* y(n_tok, n) += b for every row; nothing when b is absent. */
void model_add_bias(float *y, const struct model_w *b, int n_tok, int n);

/* q, k, v (n rows each, widths the weights' rows) = x Wq, x Wk, x Wv, plus the layer's biases when
 * it has them (qwen2, bert). */
void model_qkv(struct infer_session *s, const struct model_layer *L, const float *x, int n);

/* One attention pass over the cache: out[t][h] = softmax(q[t][h] . K[0..pos0+t] * scale) V, split
 * over the pool by (token, head). Strides in elements. */
struct attn_spec {
    const float *q; size_t q_tok, q_head;
    const void *kc; size_t k_pos, k_head; /* cache of this layer, F16 or F32 */
    const void *vc; size_t v_pos, v_head; /* v_trans: v_pos is the stride between dimensions */
    bool v_trans;                         /* V^T rows of positions (dense); else rows per position */
    bool f32;                             /* K/V are F32 (else F16) */
    int n_kv_all;                         /* > 0: every token sees positions [0, n_kv_all)
                                           * (non-causal encoders); 0: causal */
    float *out; size_t o_tok, o_head;
    int dk, dv, n_head, group;            /* group: query heads per kv head */
    float scale;
    int n_tok, pos0;
    int t_first;                          /* only rows t_first..n_tok-1 get an output */
    const float *bias;                    /* NULL, or (n_tok, n_ctx) added to the scores before the
                                           * softmax (deepseek32's top-k mask) */
};
void model_attention(struct infer_session *s, const struct attn_spec *a);
/* The cache rows of layer il (each `row` elements); a copy of n rows into positions pos0..; and
 * the transposed form (V^T: element i of position p at i * n_ctx + p). */
void *model_cache_layer(struct infer_session *s, void *cache, int il, size_t row);
void model_cache_put(struct infer_session *s, void *layer_base, size_t dst_stride, const float *src,
                     size_t src_stride, int width, int n, int pos0);
void model_cache_put_trans(struct infer_session *s, void *layer_base, const float *src, int width, int n,
                           int pos0);
void model_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
void model_rope_table(const struct infer_model *m, int pos, float *cs);
void model_rope(float *x, const float *cs, int n_rot, bool neox);
/* out(T, n_embd) = (silu(x Wgate) * (x Wup)) Wdown */
void model_ffn_dense(struct infer_session *s, const struct model_w *gate, const struct model_w *up,
                     const struct model_w *down, const float *x, int n, float *out);
/* The FFN sublayer of layer il for rows t0..n-1: x += FFN(rmsnorm(x) * ffn_norm), dense or MoE. */
void model_ffn_block(struct infer_session *s, int il, int n, int t0);
/* arch_llama.c's attention sublayer (GQA, optional biases and per-head Q/K norms, rope over the
 * first n_rot values of each head): arch_ops.attention of the llama family and glm4moe. */
void model_attention_gqa(struct infer_session *s, int il, int n, int pos0, int t0);
/* arch_glm4moe.c, for every architecture with NextN/MTP blocks (glm4moe, deepseek2): the
 * nextn.* tensors of block il (eh_proj, enorm, hnorm; shared_head_norm/head and embed_tokens
 * optional), and arch_ops.forward keeping the NextN block's cache for MTP drafts (plain
 * model_decoder_forward when the session runs no MTP). */
int model_bind_nextn(struct infer_model *m, int il, struct kb_error *err);
void model_mtp_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                       bool keep_rows);
/* One decoder step of n <= n_batch tokens at positions n_past.. (every decoder's arch_ops.forward):
 * logits as in infer_eval (NULL: none). Does not advance n_past. keep_rows: every row's final state
 * stays in s->x (embeddings); otherwise the last layer skips rows whose output nobody reads. */
void model_decoder_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                           bool keep_rows);
/* A decoder's arch_ops.embed: the forward pass keeping every row, then the output norm; the rows
 * are in s->xn. Leaves n_past at 0 (an embedding keeps no context). */
const float *model_decoder_embed(struct infer_session *s, const int32_t *tok, int n);
/* arch_ops.kv_shape of grouped-query attention: n_head_kv K rows of head_dim and V rows of
 * head_dim_v per position. */
void model_kv_shape_gqa(const struct infer_model *m, struct arch_kv *kv);

/* The gated activation of an expert's hidden value: silu(g) * u, or gpt-oss's clamped SwiGLU
 * (hp->glu_oai, as ggml's swiglu_oai: x = min(g, limit), y = clamp(u, -limit, limit),
 * x * sigmoid(alpha x) * (y + 1)). */
static inline float model_glu(const struct model_hparams *hp, float g, float u)
{
    if (!hp->glu_oai)
        return g / (1.0f + expf(-g)) * u;
    float x = g < hp->glu_limit ? g : hp->glu_limit;
    float y = u < -hp->glu_limit ? -hp->glu_limit : u > hp->glu_limit ? hp->glu_limit : u;
    return x / (1.0f + expf(hp->glu_alpha * -x)) * (y + 1.0f);
}
/* Row e of a per-expert F32 bias (n_expert rows; NULL when the layer has none). */
static inline const float *model_expert_bias(const struct model_w *b, int e)
{
    return b->data ? (const float *)((const uint8_t *)b->data + (size_t)e * b->row_bytes) : NULL;
}

/* layers_moe.c: out(T, n_embd) = the layer's MoE FFN of xn (routed experts, expert-grouped over the
 * batch, plus shared experts). */
void moe_ffn(struct infer_session *s, int il, const float *xn, int n, float *out);
/* Scratch floats (in e_out) that moe_ffn's one-token path needs; session.c sizes e_out with it. */
size_t moe_gen_scratch_floats(const struct model_hparams *hp);
/* layers_moe.c: several matrix-vector products in ONE pool dispatch (generation, where one hand-off
 * per small product would dominate): y[r] = W[r] . a for every row of each 2-D w, chunks of rows
 * of all products shared by the threads. a is already in w's vec_dot_type (model_mv_quant). */
#define MODEL_MV_MAX 128
struct model_mv {
    const struct model_w *w;
    const void *a;
    float *y;
};
void model_matvec_multi(struct infer_session *s, const struct model_mv *mv, int n);
/* x (n values) in w_type's vec_dot_type at *buf, which advances by model_mv_quant_bytes(); returns
 * the row (x itself, buffer untouched, when that type is F32). */
size_t model_mv_quant_bytes(int w_type, int64_t n);
const void *model_mv_quant(int w_type, const float *x, int64_t n, uint8_t **buf);

#endif
