/* infer/arch_gptoss.c: gpt-oss (OpenAI's open-weight MoE; llama.cpp's "openai-moe" graph), computed
 * the way llama.cpp d32676d77 computes it.
 *
 * Per layer (model_decoder_forward in layers.c runs the layers; this file is the attention and
 * the architecture's settings):
 *   xn = rmsnorm(x) * attn_norm
 *   q,k,v = xn Wq + bq, xn Wk + bk, xn Wv + bv;  rope(q,k): NEOX, with the file's YaRN settings
 *     (ggml's ramp between the correction dims, cos/sin times 1 + 0.1 ln(factor))
 *   att = softmax_sink(q.K^T / sqrt(n_rot)) V per head, GQA, where the softmax denominator also
 *     holds exp(sink[h]) (a learned per-head logit that takes weight but has no value row), and
 *     sliding layers (hp->n_swa, every layer with il % period < period - 1; period 2 by default:
 *     even layers slide, odd ones are full) only see keys at positions > pos - n_swa
 *   x += att Wo + bo
 *   xn = rmsnorm(x) * post_attention_norm (bound as ffn_norm);  x += MoE(xn), where the router
 *     adds its bias, picks the top-k raw logits and softmaxes those k (MOE_GATING_SOFTMAX_WEIGHT),
 *     and every expert is down(swiglu_oai(xn Wg + bg, xn Wu + bu)) + bd, with swiglu_oai's alpha
 *     1.702 and limit 7 (layers_moe.c, model_glu).
 * KV cache: full layers have n_ctx cells indexed by position; sliding layers a ring of
 * s->swa_cells = n_swa + n_batch - 1 cells, position p in cell p % swa_cells (session.c sizes it,
 * infer_session_truncate re-evaluates when a rollback goes past what the ring holds). V is stored
 * transposed per layer (one row of `cells` values per dimension), as in arch_llama.c. A query's
 * keys are then one or two runs of cells; scores and the weighted sum go over both runs in
 * position order. Nothing is allocated in the forward pass.
 * Tests: tests/infer/test_gptoss_conf.c (against llama.cpp's logits), test_moe.c (the router). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"
#include "infer/moe.h"

static int gptoss_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    float base_swa = hp->rope_base, attn_factor = 1.0f;
    int rc;
    hp->swa_period = 2;
    if ((rc = model_hp_u32(m, "attention.sliding_window", &hp->n_swa, true, err)) ||
        (rc = model_hp_u32(m, "attention.sliding_window_pattern", &hp->swa_period, false, err)))
        return rc;
    if (hp->n_swa < 1)
        return kb_error_set(err, KB_ECORRUPT, "model: gpt-oss sliding window of %d tokens", hp->n_swa);
    model_hp_f32(m, "rope.freq_base_swa", &base_swa);
    if (base_swa != hp->rope_base)
        return kb_error_set(err, KB_EFORMAT, "model: a separate rope base for sliding layers (%g, full %g) is "
                            "not supported", (double)base_swa, (double)hp->rope_base);
    model_hp_f32(m, "rope.scaling.attn_factor", &attn_factor);
    if (!(attn_factor > 0.0f) || !isfinite(attn_factor))
        return kb_error_set(err, KB_ECORRUPT, "model: bad rope.scaling.attn_factor");
    hp->rope_mscale *= attn_factor;
    if (hp->n_layer_dense_lead != 0 || hp->n_ff_shexp != 0 || hp->n_group > 1)
        return kb_error_set(err, KB_EFORMAT, "model: gpt-oss with dense layers, shared experts or expert "
                            "groups is not supported");
    hp->gating = MOE_GATING_SOFTMAX_WEIGHT;
    hp->expert_norm = false;
    hp->glu_oai = true;
    hp->glu_alpha = 1.702f;
    hp->glu_limit = 7.0f;
    hp->kq_scale = 1.0f / sqrtf((float)hp->n_rot);
    if (hp->head_dim_v != hp->head_dim)
        return kb_error_set(err, KB_ECORRUPT, "model: gpt-oss key and value heads differ (%d, %d)", hp->head_dim,
                            hp->head_dim_v);
    return 0;
}

/* A 2-D F32 bias with one row per expert. */
static int bind_rows_f32(const struct infer_model *m, struct model_w *w, const char *name, int64_t ne0,
                         struct kb_error *err)
{
    int rc = model_bind(m, w, name, 2, ne0, m->hp.n_expert, 1, false, err);
    if (!rc && w->type != GGML_TYPE_F32)
        return kb_error_set(err, KB_EFORMAT, "model: bias '%s' must be F32", name);
    return rc;
}

static int gptoss_bind_layer(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, E = hp->n_expert, F = hp->n_ff_exp, hd = hp->head_dim;
    int64_t nq = hp->n_head * hd, nk = hp->n_head_kv * hd;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, c, opt)                                                                 \
    do {                                                                                                   \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                                  \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, c, opt, err)) != 0)                               \
            return rc;                                                                                     \
    } while (0)
#define R(field, suffix, a)                                                                                \
    do {                                                                                                   \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                                  \
        if ((rc = bind_rows_f32(m, &L->field, nm, a, err)) != 0)                                           \
            return rc;                                                                                     \
    } while (0)
    B(attn_norm, "attn_norm.weight", 1, e, 1, 1, false);
    B(wq, "attn_q.weight", 2, e, nq, 1, false);
    B(wk, "attn_k.weight", 2, e, nk, 1, false);
    B(wv, "attn_v.weight", 2, e, nk, 1, false);
    B(wo, "attn_output.weight", 2, nq, e, 1, false);
    B(bq, "attn_q.bias", 1, nq, 1, 1, true);
    B(bk, "attn_k.bias", 1, nk, 1, 1, true);
    B(bv, "attn_v.bias", 1, nk, 1, 1, true);
    B(bo, "attn_output.bias", 1, e, 1, 1, false);
    B(attn_sinks, "attn_sinks.weight", 1, hp->n_head, 1, 1, false);
    B(ffn_norm, "post_attention_norm.weight", 1, e, 1, 1, false);
    B(gate_inp, "ffn_gate_inp.weight", 2, e, E, 1, false);
    B(gate_inp_b, "ffn_gate_inp.bias", 1, E, 1, 1, false);
    B(gate_exps, "ffn_gate_exps.weight", 3, e, F, E, false);
    B(up_exps, "ffn_up_exps.weight", 3, e, F, E, false);
    B(down_exps, "ffn_down_exps.weight", 3, F, e, E, false);
    R(gate_exps_b, "ffn_gate_exps.bias", F);
    R(up_exps_b, "ffn_up_exps.bias", F);
    R(down_exps_b, "ffn_down_exps.bias", e);
#undef B
#undef R
    L->moe = true;
    return 0;
}

static int gptoss_bind(struct infer_model *m, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    int rc;
    if ((rc = model_bind(m, &m->tok_embd, "token_embd.weight", 2, hp->n_embd, hp->n_vocab, 1, false, err)) ||
        (rc = model_bind(m, &m->out_norm, "output_norm.weight", 1, hp->n_embd, 1, 1, false, err)) ||
        (rc = model_bind(m, &m->output, "output.weight", 2, hp->n_embd, hp->n_vocab, 1, false, err)))
        return rc;
    m->layers = kb_xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = gptoss_bind_layer(m, il, err)))
            return rc;
    return 0;
}

/* One layer's attention over its cache: cells of C positions (a ring when n_swa > 0). */
struct oss_att {
    struct infer_session *s;
    const float *q;
    const uint8_t *kc, *vc; /* this layer's K rows (nk per cell) and V^T (nv rows of C cells) */
    const float *sinks;     /* (n_head) */
    float *out;
    int n_tok, pos0, t0, C, n_swa; /* n_swa 0: a full layer */
};

/* Scores of one query against cells [c, c + n) into sc. */
static void oss_scores(const struct infer_session *s, const struct oss_att *a, const void *q, int kvh, int c, int n,
                       float *sc)
{
    const struct model_hparams *hp = &s->m->hp;
    size_t nk = (size_t)hp->n_head_kv * hp->head_dim, el = s->kv_f32 ? 4 : 2;
    const uint8_t *k = a->kc + ((size_t)c * nk + (size_t)kvh * hp->head_dim) * el;
    if (n <= 0)
        return;
    if (s->kv_f32)
        kern.rows_dot_f32(hp->head_dim, q, (const float *)k, nk, n, hp->kq_scale, sc);
    else
        kern.rows_dot_f16(hp->head_dim, q, (const uint16_t *)k, nk, n, hp->kq_scale, sc);
}

/* Query (t, h): the softmax with the head's sink over the visible cells, then the weighted sum. */
static void oss_att_item(const struct oss_att *a, int t, int h, float *sc, float *tmp)
{
    const struct infer_session *s = a->s;
    const struct model_hparams *hp = &s->m->hp;
    int hd = hp->head_dim, kvh = h / (hp->n_head / hp->n_head_kv), p = a->pos0 + t;
    int lo = a->n_swa > 0 ? KB_MAX(0, p - a->n_swa + 1) : 0, n_kv = p - lo + 1;
    int c0 = lo % a->C, n1 = KB_MIN(n_kv, a->C - c0), n2 = n_kv - n1;
    const float *q = a->q + (size_t)t * hp->n_head * hd + (size_t)h * hd;
    const void *qc = q;
    if (!s->kv_f32) {
        uint16_t *q16 = (uint16_t *)(tmp + s->att_tmp_dim);
        kern.quant[GGML_TYPE_F16](q, q16, hd);
        qc = q16;
    }
    oss_scores(s, a, qc, kvh, c0, n1, sc);
    oss_scores(s, a, qc, kvh, 0, n2, sc + n1);
    /* ggml's soft_max with sinks: the sink joins the max and the denominator */
    float sink = a->sinks[h], mx = sink;
    for (int i = 0; i < n_kv; i++)
        mx = sc[i] > mx ? sc[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < n_kv; i++) {
        sc[i] = expf(sc[i] - mx);
        sum += sc[i];
    }
    sum += expf(sink - mx);
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n_kv; i++)
        sc[i] *= inv;
    /* out[i] = V^T[i] . w over both runs; F16: the weights rounded to F16 first, as ggml's kq x V */
    size_t el = s->kv_f32 ? 4 : 2, rowb = (size_t)a->C * el;
    const uint8_t *vb = a->vc + (size_t)kvh * hd * rowb;
    kern_vec_dot_fn dot = kern.vec_dot[s->kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16];
    const uint8_t *w = (const uint8_t *)sc;
    if (!s->kv_f32) {
        kern.quant[GGML_TYPE_F16](sc, tmp, n_kv);
        w = (const uint8_t *)tmp;
    }
    float *out = a->out + (size_t)t * hp->n_head * hd + (size_t)h * hd;
    for (int i = 0; i < hd; i++) {
        const uint8_t *vr = vb + (size_t)i * rowb;
        float acc = dot(n1, vr + (size_t)c0 * el, w);
        if (n2 > 0)
            acc += dot(n2, vr, w + (size_t)n1 * el);
        out[i] = acc;
    }
}

static void oss_att_worker(void *ud, int ith, int nth)
{
    const struct oss_att *a = ud;
    const struct infer_session *s = a->s;
    int nh = s->m->hp.n_head, n_items = (a->n_tok - a->t0) * nh;
    float *sc = s->scores + (size_t)ith * ATT_SCORE_ROWS * s->n_ctx;
    float *tmp = s->att_tmp + (size_t)ith * 2 * s->att_tmp_dim;
    for (int it = ith; it < n_items; it += nth)
        oss_att_item(a, a->t0 + it / nh, it % nh, sc, tmp);
}

/* The n new K rows and V columns into cells pos % C (K: rows of nk; V^T: nv rows of C cells). */
static void oss_cache_put(struct infer_session *s, void *kl, void *vl, int n, int pos0, int C)
{
    const struct model_hparams *hp = &s->m->hp;
    int nk = hp->n_head_kv * hp->head_dim;
    for (int t = 0; t < n; t++) {
        size_t c = (size_t)((pos0 + t) % C);
        const float *k = s->k + (size_t)t * nk, *v = s->v + (size_t)t * nk;
        if (s->kv_f32) {
            memcpy((float *)kl + c * nk, k, (size_t)nk * sizeof(float));
            for (int i = 0; i < nk; i++)
                ((float *)vl)[(size_t)i * C + c] = v[i];
        } else {
            uint16_t *h = (uint16_t *)s->att_tmp;
            kern.quant[GGML_TYPE_F16](k, (uint16_t *)kl + c * nk, nk);
            kern.quant[GGML_TYPE_F16](v, h, nk);
            for (int i = 0; i < nk; i++)
                ((uint16_t *)vl)[(size_t)i * C + c] = h[i];
        }
    }
}

/* arch_ops.attention: rows t0..n-1 get their attention output (all n rows feed the cache). */
static void gptoss_attention(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int e = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd, nk = hp->n_head_kv * hd;
    bool swa = model_layer_swa(hp, il);
    int C = swa ? s->swa_cells : s->n_ctx;
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e, hp->rms_eps);
    model_prof_mark(s, INFER_PROF_NORM);
    model_qkv(s, L, s->xn, n);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++)
            model_rope(s->q + (size_t)t * nq + (size_t)h * hd, cs, hp->n_rot, true);
        for (int h = 0; h < hp->n_head_kv; h++)
            model_rope(s->k + (size_t)t * nk + (size_t)h * hd, cs, hp->n_rot, true);
    }
    void *kl = model_cache_layer(s, s->k_cache, il, (size_t)nk);
    void *vl = model_cache_layer(s, s->v_cache, il, (size_t)nk);
    oss_cache_put(s, kl, vl, n, pos0, C);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    if (t0 >= n)
        return;
    struct oss_att a = {
        .s = s, .q = s->q, .kc = kl, .vc = vl, .sinks = L->attn_sinks.data, .out = s->att,
        .n_tok = n, .pos0 = pos0, .t0 = t0, .C = C, .n_swa = swa ? hp->n_swa : 0,
    };
    kern_pool_run(s->pool, oss_att_worker, &a);
    model_prof_mark(s, INFER_PROF_ATTN);
    model_matmul(s, &L->wo, s->att + (size_t)t0 * nq, n - t0, s->tmp + (size_t)t0 * e);
    model_add_bias(s->tmp + (size_t)t0 * e, &L->bo, n - t0, e);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

const struct arch_ops arch_gptoss_ops = {
    .name = "gpt-oss", .ff_optional = true, .rope_neox = true, .yarn_mscale = true,
    .experts = ARCH_EXPERTS_ALWAYS, .hparams = gptoss_hparams, .bind = gptoss_bind,
    .forward = model_decoder_forward, .attention = gptoss_attention, .embed = model_decoder_embed,
    .kv_shape = model_kv_shape_gqa,
};
