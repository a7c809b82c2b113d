/* infer/layers.c: the layers every architecture is built from, and the decoder's step.
 *
 * Owns: the matmul over a session's queue (model_matmul), RMSNorm, rotary embeddings (NORM and
 * NEOX, YaRN), the KV cache writes, attention over a cache or a sequence (model_attention, split
 * over the pool by (token, head) pairs, or (4 tokens, head) for bert's non-causal attention; each
 * worker owns ATT_SCORE_ROWS rows of s->scores), the dense SwiGLU FFN, and model_decoder_forward:
 *   x = token_embd[tok]
 *   per layer: m->ops->attention (adds its output into x; arch_llama.c, arch_deepseek2.c)
 *              xn = rmsnorm(x) * ffn_norm;  x += FFN(xn), dense (SwiGLU) or MoE (layers_moe.c)
 *   logits = rmsnorm(x) * output_norm  Woutput (token_embd when tied)
 * The last layer computes only the rows whose output is read (llama.cpp's inp_out_ids). Data flows
 * from the read-only model into the session's buffers (shapes in model.h); nothing here allocates
 * and nothing here knows an architecture by name. Softmax sums in double, as ggml.
 * Tests: tests/infer/test_conformance.c, test_ref_forward.c. */
#include <math.h>
#include <string.h>

#include "infer/layers.h"

void model_matmul(struct infer_session *s, const struct model_w *w, const float *x, int n_tok, float *y)
{
    kern_matmul(s->pool, w->type, w->data, w->ne[0], w->ne[1], x, n_tok, y, s->xq);
}

/* out = x / sqrt(mean(x^2) + eps) * w, as ggml_rms_norm then ggml_mul: sum of squares in double. */
void model_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++)
        out[i] = (x[i] * scale) * w[i];
}

/* y(n_tok, n) += b for every row; nothing when b is absent. */
void model_add_bias(float *y, const struct model_w *b, int n_tok, int n)
{
    if (!b->data)
        return;
    const float *bv = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++)
            y[(size_t)t * n + i] += bv[i];
}

void model_qkv(struct infer_session *s, const struct model_layer *L, const float *x, int n)
{
    model_matmul(s, &L->wq, x, n, s->q);
    model_matmul(s, &L->wk, x, n, s->k);
    model_matmul(s, &L->wv, x, n, s->v);
    model_add_bias(s->q, &L->bq, n, (int)L->wq.ne[1]);
    model_add_bias(s->k, &L->bk, n, (int)L->wk.ne[1]);
    model_add_bias(s->v, &L->bv, n, (int)L->wv.ne[1]);
}

/* cos/sin table for one position: cs[2i], cs[2i+1] for rotary pair i (n_rot/2 pairs). With YaRN
 * (ggml's rope_yarn): theta = mix of the interpolated (freq_scale * theta) and extrapolated theta,
 * ramping by pair index between the correction dims, and cos/sin scaled by rope_mscale. */
void model_rope_table(const struct infer_model *m, int pos, float *cs)
{
    const struct model_hparams *hp = &m->hp;
    const float *ff = m->rope_freqs.data;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double extrap = (double)pos * pow((double)hp->rope_base, -2.0 * i / hp->n_rot);
        if (ff)
            extrap /= ff[i];
        double theta = extrap * hp->rope_freq_scale;
        if (hp->yarn) {
            double y = (i - hp->yarn_corr[0]) / fmax(0.001, hp->yarn_corr[1] - hp->yarn_corr[0]);
            double mix = 1.0 - fmin(1.0, fmax(0.0, y));
            theta = theta * (1.0 - mix) + extrap * mix;
        }
        cs[2 * i] = (float)cos(theta) * hp->rope_mscale;
        cs[2 * i + 1] = (float)sin(theta) * hp->rope_mscale;
    }
}

/* Rotates the first n_rot values of one head vector in place. */
void model_rope(float *x, const float *cs, int n_rot, bool neox)
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
    const struct attn_spec *a;
};

/* One (token, head) item: scores of q against the cached keys (q converted once to the cache's
 * type, then the kernels' F16/F32 dot, as ggml does for K.Q), a softmax with a double sum, and
 * the weighted sum of the cached values. Scores come from the kernels' row-block dots (F32 or F16
 * rows, four positions per pass); values from their weighted row sum (F32), axpy per position
 * (F16) or, for a transposed cache, one dot per value dimension. */
/* One (token, head) item into sc (n_ctx scores) with tmp (2 x att_tmp_dim) as scratch. */
static void att_item(const struct infer_session *s, const struct attn_spec *a, int t, int h, float *sc, float *tmp)
{
    bool f32 = a->f32;
    size_t el = f32 ? 4 : 2;
    int kvh = h / a->group;
    int n_kv = a->n_kv_all ? a->n_kv_all : a->pos0 + t + 1;
    const float *q = a->q + (size_t)t * a->q_tok + (size_t)h * a->q_head;
    float *out = a->out + (size_t)t * a->o_tok + (size_t)h * a->o_head;
    const uint8_t *kb = (const uint8_t *)a->kc + (size_t)kvh * a->k_head * el;
    const uint8_t *vb = (const uint8_t *)a->vc + (size_t)kvh * a->v_head * el;
    if (f32) {
        kern.rows_dot_f32(a->dk, q, (const float *)kb, a->k_pos, n_kv, a->scale, sc);
    } else {
        uint16_t *qc = (uint16_t *)(tmp + s->att_tmp_dim);
        kern.quant[GGML_TYPE_F16](q, qc, a->dk);
        kern.rows_dot_f16(a->dk, qc, (const uint16_t *)kb, a->k_pos, n_kv, a->scale, sc);
    }
    if (a->bias)
        for (int p = 0; p < n_kv; p++)
            sc[p] += a->bias[(size_t)t * s->n_ctx + p];
    kern.softmax_f32(n_kv, sc);
    if (a->v_trans) {
        /* V^T (dv rows of n_ctx positions): out[i] = V^T[i] . w, the weights rounded to the cache
         * type first, as ggml's kq x V does */
        kern_vec_dot_fn dot = kern.vec_dot[f32 ? GGML_TYPE_F32 : GGML_TYPE_F16];
        const void *wc = sc;
        if (!f32) {
            kern.quant[GGML_TYPE_F16](sc, tmp, n_kv);
            wc = tmp;
        }
        for (int i = 0; i < a->dv; i++)
            out[i] = dot(n_kv, vb + (size_t)i * a->v_pos * el, wc);
        return;
    }
    if (f32) {
        kern.rows_wsum_f32(a->dv, sc, (const float *)vb, a->v_pos, n_kv, out);
        return;
    }
    memset(out, 0, (size_t)a->dv * sizeof *out);
    for (int p = 0; p < n_kv; p++)
        kern.axpy_f16(a->dv, sc[p], (const uint16_t *)(vb + (size_t)p * a->v_pos * el), out);
}

static void att_worker(void *ud, int ith, int nth)
{
    const struct att_task *task = ud;
    const struct infer_session *s = task->s;
    const struct attn_spec *a = task->a;
    float *sc = s->scores + (size_t)ith * ATT_SCORE_ROWS * s->n_ctx;
    float *tmp = s->att_tmp + (size_t)ith * 2 * s->att_tmp_dim;
    int n_items = (a->n_tok - a->t_first) * a->n_head;
    for (int it = ith; it < n_items; it += nth)
        att_item(s, a, a->t_first + it / a->n_head, it % a->n_head, sc, tmp);
}

/* Non-causal F32 attention (bert): items are (group of 4 tokens, head), so each cached key and
 * value row is loaded once for four queries (the _x4 kernels); a last group of fewer tokens goes
 * through att_item one token at a time. */
static void att_worker_x4(void *ud, int ith, int nth)
{
    const struct att_task *task = ud;
    const struct infer_session *s = task->s;
    const struct attn_spec *a = task->a;
    float *sc = s->scores + (size_t)ith * ATT_SCORE_ROWS * s->n_ctx;
    float *tmp = s->att_tmp + (size_t)ith * 2 * s->att_tmp_dim;
    int n_kv = a->n_kv_all, n_t = a->n_tok - a->t_first, n_groups = (n_t + 3) / 4;
    for (int it = ith; it < n_groups * a->n_head; it += nth) {
        int t = a->t_first + 4 * (it / a->n_head), h = it % a->n_head, kvh = h / a->group;
        if (t + 4 > a->n_tok) {
            for (; t < a->n_tok; t++)
                att_item(s, a, t, h, sc, tmp);
            continue;
        }
        const float *q = a->q + (size_t)t * a->q_tok + (size_t)h * a->q_head;
        float *out = a->out + (size_t)t * a->o_tok + (size_t)h * a->o_head;
        kern.rows_dot_x4_f32(a->dk, q, a->q_tok, (const float *)a->kc + (size_t)kvh * a->k_head, a->k_pos, n_kv,
                             a->scale, sc, (size_t)s->n_ctx);
        for (int j = 0; j < 4; j++)
            kern.softmax_f32(n_kv, sc + (size_t)j * s->n_ctx);
        kern.rows_wsum_x4_f32(a->dv, sc, (size_t)s->n_ctx, (const float *)a->vc + (size_t)kvh * a->v_head, a->v_pos,
                              n_kv, out, a->o_tok);
    }
}

void model_attention(struct infer_session *s, const struct attn_spec *a)
{
    struct att_task task = {s, a};
    bool x4 = a->f32 && a->n_kv_all > 0 && !a->v_trans && a->n_kv_all <= s->n_ctx;
    kern_pool_run(s->pool, x4 ? att_worker_x4 : att_worker, &task);
}

/* Copies n rows of `width` floats (src row stride src_stride) into the cache rows of positions
 * pos0.. of a layer whose rows are dst_stride elements apart, converting to F16 unless kv_f32. */
void model_cache_put(struct infer_session *s, void *layer_base, size_t dst_stride, const float *src,
                     size_t src_stride, int width, int n, int pos0)
{
    for (int t = 0; t < n; t++) {
        size_t off = (size_t)(pos0 + t) * dst_stride;
        const float *r = src + (size_t)t * src_stride;
        if (s->kv_f32) {
            memcpy((float *)layer_base + off, r, (size_t)width * sizeof(float));
        } else {
            kern.quant[GGML_TYPE_F16](r, (uint16_t *)layer_base + off, width);
        }
    }
}

/* V^T rows: element i of position p at i * n_ctx + p. */
void model_cache_put_trans(struct infer_session *s, void *layer_base, const float *src, int width, int n,
                           int pos0)
{
    for (int t = 0; t < n; t++) {
        const float *r = src + (size_t)t * width;
        size_t p = (size_t)(pos0 + t);
        if (s->kv_f32) {
            float *d = layer_base;
            for (int i = 0; i < width; i++)
                d[(size_t)i * s->n_ctx + p] = r[i];
        } else { /* convert the row with the SIMD kernel, then scatter it */
            uint16_t *d = layer_base, *h = (uint16_t *)s->att_tmp;
            kern.quant[GGML_TYPE_F16](r, h, width);
            for (int i = 0; i < width; i++)
                d[(size_t)i * s->n_ctx + p] = h[i];
        }
    }
}

void *model_cache_layer(struct infer_session *s, void *cache, int il, size_t row)
{
    size_t cell0 = s->kv_cell0 ? s->kv_cell0[il] : (size_t)il * s->n_ctx;
    return (uint8_t *)cache + cell0 * row * (s->kv_f32 ? 4 : 2);
}

int model_kv_cells(const struct model_hparams *hp, int il, int n_ctx, int n_batch)
{
    if (model_layer_recurrent(hp, il))
        return 0;
    if (!model_layer_swa(hp, il))
        return n_ctx;
    return KB_MIN(n_ctx, hp->n_swa + KB_MIN(n_batch, n_ctx) - 1);
}

/* out(T, n_embd) = (silu(x Wgate) * (x Wup)) Wdown */
void model_ffn_dense(struct infer_session *s, const struct model_w *gate, const struct model_w *up,
                     const struct model_w *down, const float *x, int n, float *out)
{
    int ff = (int)gate->ne[1];
    model_matmul(s, gate, x, n, s->ff_g);
    model_matmul(s, up, x, n, s->ff_u);
    for (size_t i = 0; i < (size_t)n * ff; i++) {
        float g = s->ff_g[i];
        s->ff_g[i] = g / (1.0f + expf(-g)) * s->ff_u[i];
    }
    model_matmul(s, down, s->ff_g, n, out);
}

/* The FFN sublayer for rows t0..n-1. */
void model_ffn_block(struct infer_session *s, int il, int n, int t0)
{
    const struct model_hparams *hp = &s->m->hp;
    const struct model_layer *L = &s->m->layers[il];
    int e = hp->n_embd, k = n - t0;
    float *xn = s->xn + (size_t)t0 * e, *out = s->tmp + (size_t)t0 * e;
    if (k <= 0)
        return;
    for (int t = t0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->ffn_norm.data, e,
                      hp->rms_eps);
    model_prof_mark(s, INFER_PROF_NORM);
    if (L->moe) {
        moe_ffn(s, il, xn, k, out); /* marks ROUTER, then EXPERTS */
    } else {
        model_ffn_dense(s, &L->ffn_gate, &L->ffn_up, &L->ffn_down, xn, k, out);
        model_prof_mark(s, INFER_PROF_FFN_DENSE);
    }
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
    model_prof_mark(s, INFER_PROF_NORM);
}

void model_decoder_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                           bool keep_rows)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int e = hp->n_embd, pos0 = s->n_past;
    KB_ASSERT(n > 0 && n <= s->n_batch && pos0 + n <= s->n_ctx);
    for (int t = 0; t < n; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes;
        kern.dequant[m->tok_embd.type](row, s->x + (size_t)t * e, e);
        model_rope_table(m, pos0 + t, s->rope_cs + (size_t)t * hp->n_rot);
    }
    model_prof_mark(s, INFER_PROF_NORM);
    for (int il = 0; il < hp->n_layer; il++) {
        /* the last layer computes only the rows whose output is used (llama.cpp's inp_out_ids):
         * the last one for last-row logits, none without logits; every row writes the cache */
        int t0 = 0;
        if (il == hp->n_layer - 1 && !keep_rows && !(logits && all))
            t0 = logits ? n - 1 : n;
        m->ops->attention(s, il, n, pos0, t0);
        model_prof_mark(s, INFER_PROF_NORM); /* the residual add after the attention */
        model_ffn_block(s, il, n, t0);
    }
    if (!logits)
        return;
    model_prof_mark(s, INFER_PROF_NORM);
    if (all) {
        for (int t = 0; t < n; t++)
            model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, m->out_norm.data, e, hp->rms_eps);
        model_matmul(s, &m->output, s->xn, n, logits);
    } else {
        model_rmsnorm(s->xn, s->x + (size_t)(n - 1) * e, m->out_norm.data, e, hp->rms_eps);
        model_matmul(s, &m->output, s->xn, 1, logits);
    }
    model_prof_mark(s, INFER_PROF_OUTPUT);
}

const float *model_decoder_embed(struct infer_session *s, const int32_t *tok, int n)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int e = hp->n_embd;
    model_decoder_forward(s, tok, n, NULL, false, true);
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, m->out_norm.data, e, hp->rms_eps);
    s->n_past = 0;
    return s->xn;
}

void model_kv_shape_gqa(const struct infer_model *m, struct arch_kv *kv)
{
    const struct model_hparams *hp = &m->hp;
    kv->k_row = (size_t)hp->n_head_kv * hp->head_dim;
    kv->v_row = (size_t)hp->n_head_kv * hp->head_dim_v;
    kv->full_row = kv->k_row + kv->v_row;
    kv->att_dim = 0;
}
