/* infer/arch_bert.c: the BERT encoder (embedding models such as bge/e5/MiniLM in GGUF), computed as
 * llama.cpp's bert graph does.
 *
 * x = LayerNorm(token_embd[tok] + token_types[0] + position_embd[pos]); per layer (post-norm):
 *   q,k,v = x W + b; att = softmax(q.k^T / sqrt(head_dim)) v over the whole sequence (no mask:
 *   non-causal); x = LayerNorm(att Wo + bo + x); x = LayerNorm(gelu(x Wup + bup) Wdown + bdown + x).
 * GELU is ggml's: the tanh form read through an F16 table (input and output rounded to F16;
 * 0 below -10, identity above 10), built once per model by bert_init (128 KB). LayerNorm: mean and variance with double sums, F32 scale.
 * The final hidden states stay in s->x for infer_embed()'s pooling. No KV cache, no allocation.
 * Tests: tests/infer/test_conformance.c (bert_f32 against llama.cpp's pooled and per-token
 * embeddings). */
#include <math.h>
#include <string.h>

#include "infer/model.h"

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

int bert_init(struct infer_model *m)
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

static void add_vec(float *y, const struct model_w *b, int n_tok, int n)
{
    const float *bv = b->data;
    if (!bv)
        return;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++)
            y[(size_t)t * n + i] += bv[i];
}

void bert_forward(struct infer_session *s, const int32_t *tok, int n)
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
        session_matmul(s, &L->wq, s->x, n, s->q);
        session_matmul(s, &L->wk, s->x, n, s->k);
        session_matmul(s, &L->wv, s->x, n, s->v);
        add_vec(s->q, &L->bq, n, nq);
        add_vec(s->k, &L->bk, n, nq);
        add_vec(s->v, &L->bv, n, nq);
        struct attn_spec a = {
            .q = s->q, .q_tok = (size_t)nq, .q_head = (size_t)hd,
            .kc = s->k, .k_pos = (size_t)nq, .k_head = (size_t)hd,
            .vc = s->v, .v_pos = (size_t)nq, .v_head = (size_t)hd,
            .out = s->att, .o_tok = (size_t)nq, .o_head = (size_t)hd,
            .dk = hd, .dv = hd, .n_head = hp->n_head, .group = 1, .f32 = true,
            .n_kv_all = n, .scale = hp->kq_scale, .n_tok = n, .pos0 = 0,
        };
        model_attention(s, &a);
        session_matmul(s, &L->wo, s->att, n, s->tmp);
        add_vec(s->tmp, &L->bo, n, e);
        for (int t = 0; t < n; t++) {
            float *y = s->tmp + (size_t)t * e, *x = s->x + (size_t)t * e;
            for (int i = 0; i < e; i++)
                x[i] += y[i];
            layernorm(x, L->attn_out_norm.data, L->attn_out_norm_b.data, e, hp->norm_eps);
        }
        session_matmul(s, &L->ffn_up, s->x, n, s->ff_u);
        add_vec(s->ff_u, &L->ffn_up_b, n, hp->n_ff);
        gelu_rows(m->gelu_f16, s->ff_u, (size_t)n * hp->n_ff);
        session_matmul(s, &L->ffn_down, s->ff_u, n, s->tmp);
        add_vec(s->tmp, &L->ffn_down_b, n, e);
        for (int t = 0; t < n; t++) {
            float *y = s->tmp + (size_t)t * e, *x = s->x + (size_t)t * e;
            for (int i = 0; i < e; i++)
                x[i] += y[i];
            layernorm(x, L->out_norm_l.data, L->out_norm_l_b.data, e, hp->norm_eps);
        }
    }
}
