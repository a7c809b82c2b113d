/* infer/arch_llama.c: the forward pass of the dense llama, qwen2 and qwen3 architectures, computed
 * the way llama.cpp's graphs compute them.
 *
 * Per step of T tokens at positions n_past..n_past+T-1 (batched: every weight matrix is applied to
 * all T rows at once by kern_matmul, which reads each weight row once per batch):
 *   x = token_embd[tok]
 *   per layer: xn = rmsnorm(x) * attn_norm
 *              q,k,v = xn Wq, xn Wk, xn Wv (+ biases: qwen2)
 *              qwen3: q,k = per-head rmsnorm(q,k) * q_norm/k_norm
 *              rope(q,k): NORM (adjacent pairs, llama) or NEOX (halves, qwen), theta_i =
 *                pos * freq_scale * base^(-2i/n_rot) / rope_freqs[i]
 *              k,v -> KV cache (F16 or F32) at their positions
 *              att = softmax(q.K^T * 1/sqrt(head_dim), causal) V   per head; GQA maps
 *                query head h to kv head h / (n_head/n_head_kv); softmax in f32 with a double sum
 *              x += att Wo (+ bo)
 *              xn = rmsnorm(x) * ffn_norm;  x += (silu(xn Wgate) * (xn Wup)) Wdown
 *   logits = rmsnorm(x) * output_norm  Woutput (token_embd when tied)
 * All buffers are the session's (see model.h for shapes); nothing is allocated here. Attention is
 * split over the pool by (token, head) pairs; each worker owns one row of s->scores.
 * Tests: tests/infer/test_conformance.c, test_ref_forward.c. */
#include <math.h>
#include <string.h>

#include "infer/model.h"

/* out = x / sqrt(mean(x^2) + eps) * w, as ggml_rms_norm then ggml_mul: sum of squares in double. */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++)
        out[i] = (x[i] * scale) * w[i];
}

static void add_bias(float *y, const struct model_w *b, int n_tok, int n)
{
    if (!b->data)
        return;
    const float *bv = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++)
            y[(size_t)t * n + i] += bv[i];
}

/* cos/sin table for one position: cs[2i], cs[2i+1] for rotary pair i (n_rot/2 pairs). */
static void rope_table(const struct infer_model *m, int pos, float *cs)
{
    const struct model_hparams *hp = &m->hp;
    const float *ff = m->rope_freqs.data;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double theta = (double)pos * pow((double)hp->rope_base, -2.0 * i / hp->n_rot);
        theta *= hp->rope_freq_scale;
        if (ff)
            theta /= ff[i];
        cs[2 * i] = (float)cos(theta);
        cs[2 * i + 1] = (float)sin(theta);
    }
}

/* Rotates the first n_rot values of one head vector in place. */
static void rope_head(float *x, const float *cs, int n_rot, bool neox)
{
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

struct att_task {
    struct infer_session *s;
    int il;    /* layer */
    int n_tok; /* tokens in the step */
    int pos0;  /* position of the first */
};

static void att_worker(void *ud, int ith, int nth)
{
    const struct att_task *a = ud;
    struct infer_session *s = a->s;
    const struct model_hparams *hp = &s->m->hp;
    int hd = hp->head_dim, hdv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    size_t nq = (size_t)hp->n_head * hd, nk = (size_t)hp->n_head_kv * hd;
    size_t nv = (size_t)hp->n_head_kv * hdv, no = (size_t)hp->n_head * hdv;
    size_t layer_k = (size_t)a->il * s->n_ctx * nk, layer_v = (size_t)a->il * s->n_ctx * nv;
    float *sc = s->scores + (size_t)ith * s->n_ctx;
    int n_items = a->n_tok * hp->n_head;
    for (int it = ith; it < n_items; it += nth) {
        int t = it / hp->n_head, h = it % hp->n_head, kvh = h / group;
        int n_kv = a->pos0 + t + 1;
        const float *q = s->q + (size_t)t * nq + (size_t)h * hd;
        float *out = s->att + (size_t)t * no + (size_t)h * hdv;
        float mx = -INFINITY;
        for (int p = 0; p < n_kv; p++) {
            float d = 0.0f;
            size_t off = layer_k + (size_t)p * nk + (size_t)kvh * hd;
            if (s->kv_f32) {
                const float *k = (const float *)s->k_cache + off;
                for (int i = 0; i < hd; i++)
                    d += q[i] * k[i];
            } else {
                const uint16_t *k = (const uint16_t *)s->k_cache + off;
                for (int i = 0; i < hd; i++)
                    d += q[i] * kern_f16_to_f32(k[i]);
            }
            sc[p] = d * hp->kq_scale;
            if (sc[p] > mx)
                mx = sc[p];
        }
        double sum = 0.0;
        for (int p = 0; p < n_kv; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        float inv = (float)(1.0 / sum);
        memset(out, 0, (size_t)hdv * sizeof *out);
        for (int p = 0; p < n_kv; p++) {
            float w = sc[p] * inv;
            size_t off = layer_v + (size_t)p * nv + (size_t)kvh * hdv;
            if (s->kv_f32) {
                const float *v = (const float *)s->v_cache + off;
                for (int i = 0; i < hdv; i++)
                    out[i] += w * v[i];
            } else {
                const uint16_t *v = (const uint16_t *)s->v_cache + off;
                for (int i = 0; i < hdv; i++)
                    out[i] += w * kern_f16_to_f32(v[i]);
            }
        }
    }
}

static void kv_store(struct infer_session *s, int il, int n_tok, int pos0)
{
    const struct model_hparams *hp = &s->m->hp;
    size_t nk = (size_t)hp->n_head_kv * hp->head_dim, nv = (size_t)hp->n_head_kv * hp->head_dim_v;
    size_t k0 = ((size_t)il * s->n_ctx + (size_t)pos0) * nk;
    size_t v0 = ((size_t)il * s->n_ctx + (size_t)pos0) * nv;
    if (s->kv_f32) {
        memcpy((float *)s->k_cache + k0, s->k, (size_t)n_tok * nk * sizeof(float));
        memcpy((float *)s->v_cache + v0, s->v, (size_t)n_tok * nv * sizeof(float));
        return;
    }
    uint16_t *kc = (uint16_t *)s->k_cache + k0, *vc = (uint16_t *)s->v_cache + v0;
    for (size_t i = 0; i < (size_t)n_tok * nk; i++)
        kc[i] = kern_f32_to_f16(s->k[i]);
    for (size_t i = 0; i < (size_t)n_tok * nv; i++)
        vc[i] = kern_f32_to_f16(s->v[i]);
}

static void attention_block(struct infer_session *s, int il, int n, int pos0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int e = hp->n_embd, hd = hp->head_dim;
    int nq = hp->n_head * hd, nk = hp->n_head_kv * hd, nv = hp->n_head_kv * hp->head_dim_v;
    for (int t = 0; t < n; t++)
        rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e, hp->rms_eps);
    session_matmul(s, &L->wq, s->xn, n, s->q);
    session_matmul(s, &L->wk, s->xn, n, s->k);
    session_matmul(s, &L->wv, s->xn, n, s->v);
    add_bias(s->q, &L->bq, n, nq);
    add_bias(s->k, &L->bk, n, nk);
    add_bias(s->v, &L->bv, n, nv);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) {
            float *q = s->q + (size_t)t * nq + (size_t)h * hd;
            if (L->q_norm.data)
                rmsnorm(q, q, L->q_norm.data, hd, hp->rms_eps);
            rope_head(q, cs, hp->n_rot, hp->rope_neox);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            float *k = s->k + (size_t)t * nk + (size_t)h * hd;
            if (L->k_norm.data)
                rmsnorm(k, k, L->k_norm.data, hd, hp->rms_eps);
            rope_head(k, cs, hp->n_rot, hp->rope_neox);
        }
    }
    kv_store(s, il, n, pos0);
    struct att_task task = {s, il, n, pos0};
    kern_pool_run(s->pool, att_worker, &task);
    session_matmul(s, &L->wo, s->att, n, s->tmp);
    add_bias(s->tmp, &L->bo, n, e);
    for (size_t i = 0; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

static void ffn_block(struct infer_session *s, int il, int n)
{
    const struct model_hparams *hp = &s->m->hp;
    const struct model_layer *L = &s->m->layers[il];
    int e = hp->n_embd;
    for (int t = 0; t < n; t++)
        rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->ffn_norm.data, e, hp->rms_eps);
    session_matmul(s, &L->ffn_gate, s->xn, n, s->ff_g);
    session_matmul(s, &L->ffn_up, s->xn, n, s->ff_u);
    for (size_t i = 0; i < (size_t)n * hp->n_ff; i++) {
        float g = s->ff_g[i];
        s->ff_g[i] = g / (1.0f + expf(-g)) * s->ff_u[i];
    }
    session_matmul(s, &L->ffn_down, s->ff_g, n, s->tmp);
    for (size_t i = 0; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

void llama_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int e = hp->n_embd, pos0 = s->n_past;
    KB_ASSERT(n > 0 && n <= s->n_batch && pos0 + n <= s->n_ctx);
    for (int t = 0; t < n; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes;
        kern.dequant[m->tok_embd.type](row, s->x + (size_t)t * e, e);
        rope_table(m, pos0 + t, s->rope_cs + (size_t)t * hp->n_rot);
    }
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(s, il, n, pos0);
        ffn_block(s, il, n);
    }
    if (!logits)
        return;
    if (all) {
        for (int t = 0; t < n; t++)
            rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, m->out_norm.data, e, hp->rms_eps);
        session_matmul(s, &m->output, s->xn, n, logits);
    } else {
        rmsnorm(s->xn, s->x + (size_t)(n - 1) * e, m->out_norm.data, e, hp->rms_eps);
        session_matmul(s, &m->output, s->xn, 1, logits);
    }
}
