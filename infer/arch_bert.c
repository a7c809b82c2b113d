/* infer/arch_bert.c: the BERT encoder (embedding models such as bge/e5/MiniLM in GGUF), computed as
 * llama.cpp's bert graph does.
 *
 * x = LayerNorm(token_embd[tok] + token_types[0] + position_embd[pos]); per layer (post-norm):
 *   q,k,v = x W + b; att = softmax(q.k^T / sqrt(head_dim)) v over the whole sequence (no mask:
 *   non-causal); x = LayerNorm(att Wo + bo + x); x = LayerNorm(gelu(x Wup + bup) Wdown + bdown + x).
 * GELU is ggml's: the tanh form read through an F16 table (input and output rounded to F16;
 * 0 below -10, identity above 10), built once per model by bert_init (128 KB). LayerNorm: mean and variance with double sums, F32 scale.
 * The final hidden states stay in s->x for infer_embed()'s pooling. No KV cache, no allocation.
 * Also here: bert's hyperparameters and tensors (token types, positions, post-norm LayerNorms,
 * biases) and its arch_ops (no forward: an encoder cannot infer_eval).
 * Tests: tests/infer/test_conformance.c (bert_f32 against llama.cpp's pooled and per-token
 * embeddings). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"

static void layernorm(float *x, const float *w, const float *b, int n, float eps)
{
    double sum = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    float mean = (float)(sum / n);
    for (int i = 0; i < n; i++) {
        x[i] -= mean;
        var += (double)(x[i] * x[i]);
    }
    float scale = 1.0f / sqrtf((float)(var / n) + eps);
    for (int i = 0; i < n; i++)
        x[i] = x[i] * scale * w[i] + b[i];
}

/* ggml's GELU, tanh form, on an F16 input rounded to F16 */
static uint16_t gelu_of_f16(uint16_t hx)
{
    float h = kern_f16_to_f32(hx);
    return kern_f32_to_f16(0.5f * h * (1.0f + tanhf(0.79788456080286535588f * h * (1.0f + 0.044715f * h * h))));
}

/* Fills m->gelu_f16 (KB_ENOMEM). */
static int bert_init(struct infer_model *m)
{
    m->gelu_f16 = kb_try_malloc(65536, sizeof *m->gelu_f16);
    if (!m->gelu_f16)
        return KB_ENOMEM;
    for (uint32_t h = 0; h < 65536; h++)
        m->gelu_f16[h] = gelu_of_f16((uint16_t)h);
    return 0;
}

/* GELU in place over n values: 0 at or below -10, identity at or above 10, else the table read
 * through F16 (input and output rounded, as ggml's GGML_GELU_FP16). Conversions run through the
 * SIMD F16 row kernels, GELU_CHUNK values at a time, on the stack. */
#define GELU_CHUNK 256
static void gelu_rows(const uint16_t *table, float *x, size_t n)
{
    uint16_t h[GELU_CHUNK];
    float g[GELU_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += GELU_CHUNK) {
        int64_t k = (int64_t)KB_MIN((size_t)GELU_CHUNK, n - i0);
        float *v = x + i0;
        kern.quant[GGML_TYPE_F16](v, h, k);
        for (int64_t i = 0; i < k; i++)
            h[i] = table[h[i]];
        kern.dequant[GGML_TYPE_F16](h, g, k);
        for (int64_t i = 0; i < k; i++)
            v[i] = v[i] <= -10.0f ? 0.0f : v[i] >= 10.0f ? v[i] : g[i];
    }
}

/* The encoder over tok[0..n) (n <= n_batch, one sequence, non-causal); leaves the final hidden
 * states in s->x (n, n_embd). */
static const float *bert_embed(struct infer_session *s, const int32_t *tok, int n)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int e = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd;
    KB_ASSERT(n > 0 && n <= s->n_batch && n <= m->pos_embd.ne[1]);
    for (int t = 0; t < n; t++) {
        float *x = s->x + (size_t)t * e;
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes;
        kern.dequant[m->tok_embd.type](row, x, e);
        if (m->type_embd.data) {
            kern.dequant[m->type_embd.type](m->type_embd.data, s->tmp, e);
            for (int i = 0; i < e; i++)
                x[i] += s->tmp[i];
        }
        kern.dequant[m->pos_embd.type]((const uint8_t *)m->pos_embd.data + (size_t)t * m->pos_embd.row_bytes,
                                       s->tmp, e);
        for (int i = 0; i < e; i++)
            x[i] += s->tmp[i];
        layernorm(x, m->tok_norm.data, m->tok_norm_b.data, e, hp->norm_eps);
    }
    for (int il = 0; il < hp->n_layer; il++) {
        const struct model_layer *L = &m->layers[il];
        model_qkv(s, L, s->x, n);
        struct attn_spec a = {
            .q = s->q, .q_tok = (size_t)nq, .q_head = (size_t)hd,
            .kc = s->k, .k_pos = (size_t)nq, .k_head = (size_t)hd,
            .vc = s->v, .v_pos = (size_t)nq, .v_head = (size_t)hd,
            .out = s->att, .o_tok = (size_t)nq, .o_head = (size_t)hd,
            .dk = hd, .dv = hd, .n_head = hp->n_head, .group = 1, .f32 = true,
            .n_kv_all = n, .scale = hp->kq_scale, .n_tok = n, .pos0 = 0,
        };
        model_attention(s, &a);
        model_matmul(s, &L->wo, s->att, n, s->tmp);
        model_add_bias(s->tmp, &L->bo, n, e);
        for (int t = 0; t < n; t++) {
            float *y = s->tmp + (size_t)t * e, *x = s->x + (size_t)t * e;
            for (int i = 0; i < e; i++)
                x[i] += y[i];
            layernorm(x, L->attn_out_norm.data, L->attn_out_norm_b.data, e, hp->norm_eps);
        }
        model_matmul(s, &L->ffn_up, s->x, n, s->ff_u);
        model_add_bias(s->ff_u, &L->ffn_up_b, n, hp->n_ff);
        gelu_rows(m->gelu_f16, s->ff_u, (size_t)n * hp->n_ff);
        model_matmul(s, &L->ffn_down, s->ff_u, n, s->tmp);
        model_add_bias(s->tmp, &L->ffn_down_b, n, e);
        for (int t = 0; t < n; t++) {
            float *y = s->tmp + (size_t)t * e, *x = s->x + (size_t)t * e;
            for (int i = 0; i < e; i++)
                x[i] += y[i];
            layernorm(x, L->out_norm_l.data, L->out_norm_l_b.data, e, hp->norm_eps);
        }
    }
    return s->x;
}

static int bert_bind_layer(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b)                                                                 \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                          \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, 1, false, err)) != 0)                     \
            return rc;                                                                             \
    } while (0)
    B(wq, "attn_q.weight", 2, e, nq);
    B(bq, "attn_q.bias", 1, nq, 1);
    B(wk, "attn_k.weight", 2, e, nq);
    B(bk, "attn_k.bias", 1, nq, 1);
    B(wv, "attn_v.weight", 2, e, nq);
    B(bv, "attn_v.bias", 1, nq, 1);
    B(wo, "attn_output.weight", 2, nq, e);
    B(bo, "attn_output.bias", 1, e, 1);
    B(attn_out_norm, "attn_output_norm.weight", 1, e, 1);
    B(attn_out_norm_b, "attn_output_norm.bias", 1, e, 1);
    B(ffn_up, "ffn_up.weight", 2, e, hp->n_ff);
    B(ffn_up_b, "ffn_up.bias", 1, hp->n_ff, 1);
    B(ffn_down, "ffn_down.weight", 2, hp->n_ff, e);
    B(ffn_down_b, "ffn_down.bias", 1, e, 1);
    B(out_norm_l, "layer_output_norm.weight", 1, e, 1);
    B(out_norm_l_b, "layer_output_norm.bias", 1, e, 1);
#undef B
    return rc;
}

/* Non-causal only; LayerNorm epsilon, mean pooling by default; input embeddings, layers, the GELU
 * table. The context is capped by the position table. */
static int bert_bind(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    bool causal = true;
    char full[128];
    int rc;
    snprintf(full, sizeof full, "%s.attention.causal", m->arch_name);
    if (gguf_get_bool(m->gf, full, &causal) && causal)
        return kb_error_set(err, KB_EFORMAT, "model: causal bert is not supported");
    hp->norm_eps = 1e-12f;
    model_hp_f32(m, "attention.layer_norm_epsilon", &hp->norm_eps);
    hp->pooling = 1;
    if ((rc = model_hp_u32(m, "pooling_type", &hp->pooling, false, err)))
        return rc;
    if ((rc = model_bind(m, &m->tok_embd, "token_embd.weight", 2, hp->n_embd, hp->n_vocab, 1, false, err)) ||
        (rc = model_bind(m, &m->type_embd, "token_types.weight", 2, hp->n_embd, 2, 1, true, err)) ||
        (rc = model_bind(m, &m->tok_norm, "token_embd_norm.weight", 1, hp->n_embd, 1, 1, false, err)) ||
        (rc = model_bind(m, &m->tok_norm_b, "token_embd_norm.bias", 1, hp->n_embd, 1, 1, false, err)))
        return rc;
    const struct gguf_tensor *pe = gguf_find_tensor(m->gf, "position_embd.weight");
    if (!pe || pe->ne[1] < 1 || pe->ne[1] > (1 << 20))
        return kb_error_set(err, KB_ECORRUPT, "model: bert without position_embd.weight");
    if ((rc = model_bind(m, &m->pos_embd, "position_embd.weight", 2, hp->n_embd, pe->ne[1], 1, false, err)))
        return rc;
    if (hp->n_ctx_train > pe->ne[1])
        hp->n_ctx_train = (int)pe->ne[1];
    m->layers = kb_xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = bert_bind_layer(m, il, err)))
            return rc;
    if (bert_init(m) != 0)
        return kb_error_set(err, KB_ENOMEM, "model: no memory for the GELU table");
    return 0;
}

const struct arch_ops arch_bert_ops = {
    .name = "bert", .rope_neox = true, .yarn_mscale = true, .experts = ARCH_EXPERTS_OPTIONAL,
    .bind = bert_bind, .embed = bert_embed, .kv_shape = model_kv_shape_gqa,
};
