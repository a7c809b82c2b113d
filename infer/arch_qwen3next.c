/* infer/arch_qwen3next.c: qwen3next (Qwen3-Next-80B-A3B) and qwen35moe (Qwen3.5 MoE): Gated DeltaNet linear attention
 * interleaved with gated full attention, and very sparse experts plus a gated shared expert,
 * computed the way llama.cpp d32676d77 computes it (facts read from its qwen3next graph; no code
 * taken from it).
 *
 * Per layer (model_decoder_forward in layers.c runs the layers; qn_attention below picks the kind):
 *   xn = rmsnorm(x) * attn_norm
 *   recurrent layers ((il + 1) % full_attn_interval != 0), S = ssm_d_state, Hk key heads, Hv value
 *   heads (Hv a multiple of Hk; value head h reads key head h / (Hv / Hk)):
 *     qkv = xn W_qkv (q of Hk heads | k of Hk heads | v of Hv heads),  z = xn W_gate
 *     c = silu(causal_conv(qkv)): per channel, the kernel (d_conv taps) over the channel's last
 *       d_conv - 1 inputs (kept per session as the conv state) and this one
 *     q, k = l2norm(c_q), l2norm(c_k) per head (eps = rms eps), q /= sqrt(S)
 *     (b, a) per value head from xn W_ba (per key head: Hv/Hk betas, then Hv/Hk alphas)
 *     beta = sigmoid(b), g = softplus(a + dt_bias) * ssm_a  (ssm_a = -exp(A_log) < 0)
 *     delta rule, state S_h (S x S, row j = value index) kept per session:
 *       S = exp(g) S;  u = beta (v - S k);  S += u k^T;  o = S q
 *     o = rmsnorm(o) * ssm_norm * silu(z) per head;  x += o W_out
 *   full attention layers: W_q gives per head a query and a gate (head_dim each); q, k per-head
 *     RMSNorm; NEOX rope on the first n_rot dims (partial rotary); softmax attention over the KV
 *     cache (model_attention); att *= sigmoid(gate);  x += att Wo
 *   xn = rmsnorm(x) * post_attention_norm (bound as ffn_norm);  x += MoE(xn): softmax router,
 *     top-k renormalised, plus the shared expert times sigmoid(xn . gate_inp_shexp) (layers_moe.c)
 * Multi-token steps run the delta rule in its chunked form (chunks of QN_CHUNK = 64 tokens, as
 * llama.cpp): with G_t the running sum of g in the chunk and S0 the state before it,
 *   u_t = beta_t (v_t - e^{G_t} S0 k_t - sum_{s<t} e^{G_t - G_s} (k_s.k_t) u_s)   (forward substitution)
 *   o_t = e^{G_t} S0 q_t + sum_{s<=t} e^{G_t - G_s} (k_s.q_t) u_s
 *   S   = e^{G_L} S0 + sum_s e^{G_L - G_s} u_s k_s^T
 * which equals the one-token recurrence above in exact arithmetic; single tokens use the
 * recurrence. Heads are split over the session's pool. Nothing is allocated in the forward pass:
 * the state, its snapshot and the scratch are s->rs, s->rs_snap, s->rs_tmp (session.c sizes them
 * with qn_rs_size).
 * Rollback: a state cannot be rewound, so every multi-token step first copies the state (the
 * snapshot, at that step's first position). infer_session_truncate(n) (qn_rollback) restores the
 * snapshot when n is at or after it and evaluates hist[snapshot..n) again, else evaluates
 * hist[0..n) from a zero state. A step at position 0 starts from a zero state.
 * qwen35moe differs only in: beta and alpha come from two projections (ssm_beta, ssm_alpha: one
 * value per value head, in value-head order); value head h reads key head h % Hk (tiled, not
 * h / (Hv / Hk)); its rope is IMROPE with rope.dimension_sections, which for text (every section
 * at the same position, as llama.cpp feeds text tokens) is exactly NEOX rope.
 * Not supported (clear errors): the legacy ssm_in layout, attention.recurrent_layers arrays.
 * Tests: tests/infer/test_qwen3next_conf.c (against llama.cpp's logits; chunked vs recurrent;
 * rollback). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"
#include "infer/moe.h"

#define QN_CHUNK 64

static int qn_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc, nextn = 0;
    char key[96];
    hp->full_attn_interval = 4;
    if ((rc = model_hp_u32(m, "ssm.conv_kernel", &hp->ssm_d_conv, true, err)) ||
        (rc = model_hp_u32(m, "ssm.inner_size", &hp->ssm_d_inner, true, err)) ||
        (rc = model_hp_u32(m, "ssm.state_size", &hp->ssm_d_state, true, err)) ||
        (rc = model_hp_u32(m, "ssm.time_step_rank", &hp->ssm_dt_rank, true, err)) ||
        (rc = model_hp_u32(m, "ssm.group_count", &hp->ssm_n_group, true, err)) ||
        (rc = model_hp_u32(m, "full_attention_interval", &hp->full_attn_interval, false, err)) ||
        (rc = model_hp_u32(m, "nextn_predict_layers", &nextn, false, err)))
        return rc;
    snprintf(key, sizeof key, "%s.attention.recurrent_layers", m->arch_name);
    if (gguf_find_kv(m->gf, key))
        return kb_error_set(err, KB_EFORMAT, "model: %s (a per-layer recurrent list) is not supported", key);
    /* bounds first (every product below then fits an int), then the shape llama.cpp assumes */
    if (hp->ssm_d_conv < 1 || hp->ssm_d_conv > 64 || hp->ssm_d_state < 1 || hp->ssm_d_state > 1024 ||
        hp->ssm_n_group < 1 || hp->ssm_n_group > 4096 || hp->ssm_dt_rank < 1 || hp->ssm_dt_rank > 4096 ||
        hp->ssm_dt_rank % hp->ssm_n_group != 0 || hp->ssm_d_inner != hp->ssm_dt_rank * hp->ssm_d_state ||
        hp->full_attn_interval < 1)
        return kb_error_set(err, KB_ECORRUPT, "model: bad Gated DeltaNet shape (conv %d, state %d, groups %d, "
                            "value heads %d, inner %d, full attention every %d)", hp->ssm_d_conv, hp->ssm_d_state,
                            hp->ssm_n_group, hp->ssm_dt_rank, hp->ssm_d_inner, hp->full_attn_interval);
    /* NextN/MTP blocks come after the main stack and are not run by the main pass */
    if (nextn < 0 || nextn >= hp->n_layer)
        return kb_error_set(err, KB_ECORRUPT, "model: %d MTP layers of %d", nextn, hp->n_layer);
    hp->n_layer -= nextn;
    if (hp->head_dim_v != hp->head_dim)
        return kb_error_set(err, KB_ECORRUPT, "model: qwen3next key and value heads differ (%d, %d)", hp->head_dim,
                            hp->head_dim_v);
    if (hp->n_ff_shexp == 0)
        hp->n_ff_shexp = hp->n_ff;
    if (hp->n_ff_shexp <= 0 || hp->n_layer_dense_lead != 0 || hp->n_group > 1)
        return kb_error_set(err, KB_EFORMAT, "model: qwen3next without a shared expert, or with dense layers or "
                            "expert groups, is not supported");
    hp->gating = MOE_GATING_SOFTMAX;
    return 0;
}

static int qn35_hparams(struct infer_model *m, struct kb_error *err)
{
    char key[96];
    int rc = qn_hparams(m, err);
    if (rc)
        return rc;
    /* IMROPE sections: text positions are the same in every section, so NEOX rope is exact */
    snprintf(key, sizeof key, "%s.rope.dimension_sections", m->arch_name);
    if (!gguf_find_kv(m->gf, key))
        return kb_error_set(err, KB_ECORRUPT, "model: missing metadata key %s", key);
    m->hp.ssm_kv_tiled = true;
    return 0;
}

static int qn_bind_layer(struct infer_model *m, int il, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, E = hp->n_expert, F = hp->n_ff_exp, FS = hp->n_ff_shexp, hd = hp->head_dim;
    int64_t nq = (int64_t)hp->n_head * hd, nk = (int64_t)hp->n_head_kv * hd, S = hp->ssm_d_state;
    int64_t Hv = hp->ssm_dt_rank, conv_dim = 2 * (int64_t)hp->ssm_n_group * S + hp->ssm_d_inner;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, c, opt)                                                                 \
    do {                                                                                                   \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                                  \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, c, opt, err)) != 0)                               \
            return rc;                                                                                     \
    } while (0)
    B(attn_norm, "attn_norm.weight", 1, e, 1, 1, false);
    B(ffn_norm, "post_attention_norm.weight", 1, e, 1, 1, false);
    L->recurrent = model_layer_recurrent(hp, il);
    if (!L->recurrent) {
        B(wq, "attn_q.weight", 2, e, 2 * nq, 1, false);
        B(wk, "attn_k.weight", 2, e, nk, 1, false);
        B(wv, "attn_v.weight", 2, e, nk, 1, false);
        B(wo, "attn_output.weight", 2, nq, e, 1, false);
        B(q_norm, "attn_q_norm.weight", 1, hd, 1, 1, false);
        B(k_norm, "attn_k_norm.weight", 1, hd, 1, 1, false);
    } else {
        snprintf(nm, sizeof nm, "blk.%d.ssm_in.weight", il);
        if (gguf_find_tensor(m->gf, nm))
            return kb_error_set(err, KB_EFORMAT, "model: '%s' (the legacy fused q/k/v/z layout) is not supported; "
                                "convert with a newer llama.cpp (attn_qkv + attn_gate)", nm);
        B(wqkv, "attn_qkv.weight", 2, e, conv_dim, 1, false);
        B(wqkv_gate, "attn_gate.weight", 2, e, hp->ssm_d_inner, 1, false);
        B(ssm_conv1d, "ssm_conv1d.weight", 2, hp->ssm_d_conv, conv_dim, 1, false);
        if (L->ssm_conv1d.type != GGML_TYPE_F32)
            return kb_error_set(err, KB_EFORMAT, "model: '%s' must be F32", nm);
        B(ssm_dt, "ssm_dt.bias", 1, Hv, 1, 1, false);
        B(ssm_a, "ssm_a", 1, Hv, 1, 1, false);
        if (hp->ssm_kv_tiled) {
            B(ssm_beta, "ssm_beta.weight", 2, e, Hv, 1, false);
            B(ssm_alpha, "ssm_alpha.weight", 2, e, Hv, 1, false);
        } else {
            B(ssm_ba, "ssm_ba.weight", 2, e, 2 * Hv, 1, false);
        }
        B(ssm_norm, "ssm_norm.weight", 1, S, 1, 1, false);
        B(ssm_out, "ssm_out.weight", 2, hp->ssm_d_inner, e, 1, false);
    }
    B(gate_inp, "ffn_gate_inp.weight", 2, e, E, 1, false);
    B(gate_exps, "ffn_gate_exps.weight", 3, e, F, E, false);
    B(up_exps, "ffn_up_exps.weight", 3, e, F, E, false);
    B(down_exps, "ffn_down_exps.weight", 3, F, e, E, false);
    B(gate_inp_shexp, "ffn_gate_inp_shexp.weight", 1, e, 1, 1, false);
    B(gate_shexp, "ffn_gate_shexp.weight", 2, e, FS, 1, false);
    B(up_shexp, "ffn_up_shexp.weight", 2, e, FS, 1, false);
    B(down_shexp, "ffn_down_shexp.weight", 2, FS, e, 1, false);
#undef B
    L->moe = true;
    return 0;
}

static int qn_bind(struct infer_model *m, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    int rc;
    if ((rc = model_bind_io(m, hp->n_layer, err)))
        return rc;
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = qn_bind_layer(m, il, err)))
            return rc;
    return 0;
}

/* ---- sizes and the session's buffers ---------------------------------------------------------- */

struct qn_shape {
    int S, Hk, Hv, K, conv_dim, d_inner;
    bool tiled; /* value head h reads key head h % Hk (qwen35moe), else h / (Hv / Hk) */
    size_t layer_state; /* floats of one recurrent layer: conv state then S_h of every value head */
};

static void qn_shape_of(const struct model_hparams *hp, struct qn_shape *q)
{
    q->S = hp->ssm_d_state;
    q->Hk = hp->ssm_n_group;
    q->Hv = hp->ssm_dt_rank;
    q->K = hp->ssm_d_conv;
    q->d_inner = hp->ssm_d_inner;
    q->conv_dim = 2 * q->Hk * q->S + q->d_inner;
    q->layer_state = (size_t)(q->K - 1) * q->conv_dim + (size_t)q->Hv * q->S * q->S;
    q->tiled = hp->ssm_kv_tiled;
}

static int qn_key_head(const struct qn_shape *q, int h)
{
    return q->tiled ? h % q->Hk : h / (q->Hv / q->Hk);
}

/* per-worker floats of the chunked form: k.k and q.k tables, the u rows, G */
static size_t qn_worker_floats(const struct qn_shape *q)
{
    return 2 * (size_t)QN_CHUNK * QN_CHUNK + (size_t)QN_CHUNK * q->S + QN_CHUNK;
}

static void qn_rs_size(const struct infer_model *m, int n_batch, int n_threads, size_t *state, size_t *scratch)
{
    const struct model_hparams *hp = &m->hp;
    struct qn_shape q;
    qn_shape_of(hp, &q);
    size_t n_rec = 0, T = (size_t)n_batch, nq = (size_t)hp->n_head * hp->head_dim;
    for (int il = 0; il < hp->n_layer; il++)
        n_rec += model_layer_recurrent(hp, il);
    *state = n_rec * q.layer_state;
    *scratch = T * (2 * (size_t)q.conv_dim + 2 * (size_t)q.d_inner + 4 * (size_t)q.Hv + 3 * nq) +
               (size_t)n_threads * qn_worker_floats(&q);
}

/* The scratch of one step, carved from s->rs_tmp in the order qn_rs_size counts it. */
struct qn_buf {
    float *qkv, *cv, *z, *o, *ba, *gb, *qg, *gate, *work;
};

static void qn_bufs(const struct infer_session *s, const struct qn_shape *q, struct qn_buf *b)
{
    size_t T = (size_t)s->n_batch, nq = (size_t)s->m->hp.n_head * s->m->hp.head_dim;
    float *p = s->rs_tmp;
    b->qkv = p, p += T * q->conv_dim;
    b->cv = p, p += T * q->conv_dim;
    b->z = p, p += T * q->d_inner;
    b->o = p, p += T * q->d_inner;
    b->ba = p, p += T * 2 * q->Hv;
    b->gb = p, p += T * 2 * q->Hv; /* per token: g of every value head, then beta */
    b->qg = p, p += T * 2 * nq;
    b->gate = p, p += T * nq;
    b->work = p;
}

/* This layer's conv state and delta-rule states in s->rs (recurrent layers before il come first). */
static float *qn_layer_state(const struct infer_session *s, const struct qn_shape *q, int il)
{
    size_t r = 0;
    for (int i = 0; i < il; i++)
        r += model_layer_recurrent(&s->m->hp, i);
    return s->rs + r * q->layer_state;
}

/* ---- gated full attention --------------------------------------------------------------------- */

static void qn_full_attention(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    struct qn_shape qs;
    struct qn_buf b;
    qn_shape_of(hp, &qs);
    qn_bufs(s, &qs, &b);
    int e = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd, nk = hp->n_head_kv * hd;
    model_matmul(s, &L->wq, s->xn, n, b.qg);
    model_matmul(s, &L->wk, s->xn, n, s->k);
    model_matmul(s, &L->wv, s->xn, n, s->v);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) {
            const float *src = b.qg + (size_t)t * 2 * nq + (size_t)h * 2 * hd; /* query, then gate */
            float *q = s->q + (size_t)t * nq + (size_t)h * hd;
            memcpy(b.gate + (size_t)t * nq + (size_t)h * hd, src + hd, (size_t)hd * sizeof(float));
            model_rmsnorm(q, src, L->q_norm.data, hd, hp->rms_eps);
            model_rope(q, cs, hp->n_rot, true);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            float *k = s->k + (size_t)t * nk + (size_t)h * hd;
            model_rmsnorm(k, k, L->k_norm.data, hd, hp->rms_eps);
            model_rope(k, cs, hp->n_rot, true);
        }
    }
    void *kl = model_cache_layer(s, s->k_cache, il, (size_t)nk);
    void *vl = model_cache_layer(s, s->v_cache, il, (size_t)nk);
    model_cache_put(s, kl, (size_t)nk, s->k, (size_t)nk, nk, n, pos0);
    model_cache_put_trans(s, vl, s->v, nk, n, pos0);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    if (t0 >= n)
        return;
    struct attn_spec a = {
        .q = s->q, .q_tok = (size_t)nq, .q_head = (size_t)hd,
        .kc = kl, .k_pos = (size_t)nk, .k_head = (size_t)hd,
        .vc = vl, .v_pos = (size_t)s->n_ctx, .v_head = (size_t)hd * s->n_ctx,
        .v_trans = true, .f32 = s->kv_f32,
        .out = s->att, .o_tok = (size_t)nq, .o_head = (size_t)hd,
        .dk = hd, .dv = hd, .n_head = hp->n_head, .group = hp->n_head / hp->n_head_kv,
        .scale = hp->kq_scale, .n_tok = n, .pos0 = pos0, .t_first = t0,
    };
    model_attention(s, &a);
    model_prof_mark(s, INFER_PROF_ATTN);
    for (size_t i = (size_t)t0 * nq; i < (size_t)n * nq; i++)
        s->att[i] *= 1.0f / (1.0f + expf(-b.gate[i]));
    model_matmul(s, &L->wo, s->att + (size_t)t0 * nq, n - t0, s->tmp + (size_t)t0 * e);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

/* ---- Gated DeltaNet --------------------------------------------------------------------------- */

struct qn_delta {
    struct infer_session *s;
    const struct qn_shape *q;
    const float *cv, *gb; /* convolved q|k|v rows (q, k normalised, q scaled); g|beta rows */
    float *o;             /* (n, d_inner) */
    float *state;         /* Hv states of S x S */
    float *work;          /* per worker qn_worker_floats */
    int n;
};

/* a . b through the F32 dot kernel (vectorised; a plain loop's float sum would not be) */
static float qn_dot(const float *a, const float *b, int n)
{
    return kern.vec_dot[GGML_TYPE_F32](n, a, b);
}

/* One token, value head h: the recurrence. */
static void qn_delta_step(const struct qn_delta *d, int h, int t, float *Sh)
{
    const struct qn_shape *q = d->q;
    int S = q->S, kh = qn_key_head(q, h), cw = q->conv_dim;
    const float *row = d->cv + (size_t)t * cw;
    const float *qv = row + (size_t)kh * S, *kv = row + (size_t)(q->Hk + kh) * S;
    const float *vv = row + (size_t)2 * q->Hk * S + (size_t)h * S;
    float eg = expf(d->gb[(size_t)t * 2 * q->Hv + h]), beta = d->gb[(size_t)t * 2 * q->Hv + q->Hv + h];
    float *o = d->o + (size_t)t * q->d_inner + (size_t)h * S;
    for (int j = 0; j < S; j++) {
        float *r = Sh + (size_t)j * S;
        for (int i = 0; i < S; i++)
            r[i] *= eg;
        float u = (vv[j] - qn_dot(r, kv, S)) * beta;
        for (int i = 0; i < S; i++)
            r[i] += u * kv[i];
        o[j] = qn_dot(r, qv, S);
    }
}

/* Tokens t0..t0+L-1 (L <= QN_CHUNK), value head h: the chunked form (file-top comment). */
static void qn_delta_chunk(const struct qn_delta *d, int h, int t0, int L, float *Sh, float *w)
{
    const struct qn_shape *q = d->q;
    int S = q->S, kh = qn_key_head(q, h), cw = q->conv_dim, Hv = q->Hv;
    float *KK = w, *QK = KK + QN_CHUNK * QN_CHUNK, *U = QK + QN_CHUNK * QN_CHUNK, *G = U + QN_CHUNK * S;
#define QROW(t) (d->cv + (size_t)(t0 + (t)) * cw + (size_t)kh * S)
#define KROW(t) (d->cv + (size_t)(t0 + (t)) * cw + (size_t)(q->Hk + kh) * S)
#define VROW(t) (d->cv + (size_t)(t0 + (t)) * cw + (size_t)2 * q->Hk * S + (size_t)h * S)
    for (int t = 0; t < L; t++)
        G[t] = (t ? G[t - 1] : 0.0f) + d->gb[(size_t)(t0 + t) * 2 * Hv + h];
    for (int t = 0; t < L; t++)
        for (int u = 0; u <= t; u++) {
            KK[t * QN_CHUNK + u] = qn_dot(KROW(t), KROW(u), S);
            QK[t * QN_CHUNK + u] = qn_dot(QROW(t), KROW(u), S);
        }
    /* u_t, by forward substitution, and o_t (both read the old state) */
    for (int t = 0; t < L; t++) {
        float beta = d->gb[(size_t)(t0 + t) * 2 * Hv + Hv + h], eG = expf(G[t]);
        float *ut = U + (size_t)t * S, *o = d->o + (size_t)(t0 + t) * q->d_inner + (size_t)h * S;
        const float *kt = KROW(t), *qt = QROW(t), *vt = VROW(t);
        for (int j = 0; j < S; j++) {
            const float *r = Sh + (size_t)j * S;
            ut[j] = beta * (vt[j] - eG * qn_dot(r, kt, S));
            o[j] = eG * qn_dot(r, qt, S);
        }
        for (int u = 0; u < t; u++) {
            float c = beta * expf(G[t] - G[u]) * KK[t * QN_CHUNK + u];
            const float *us = U + (size_t)u * S;
            for (int j = 0; j < S; j++)
                ut[j] -= c * us[j];
        }
        for (int u = 0; u <= t; u++) {
            float c = expf(G[t] - G[u]) * QK[t * QN_CHUNK + u];
            const float *us = U + (size_t)u * S;
            for (int j = 0; j < S; j++)
                o[j] += c * us[j];
        }
    }
    /* the state after the chunk */
    float eL = expf(G[L - 1]);
    for (int j = 0; j < S; j++) {
        float *r = Sh + (size_t)j * S;
        for (int i = 0; i < S; i++)
            r[i] *= eL;
        for (int u = 0; u < L; u++) {
            float c = expf(G[L - 1] - G[u]) * U[(size_t)u * S + j];
            const float *ku = KROW(u);
            for (int i = 0; i < S; i++)
                r[i] += c * ku[i];
        }
    }
#undef QROW
#undef KROW
#undef VROW
}

static void qn_delta_worker(void *ud, int ith, int nth)
{
    const struct qn_delta *d = ud;
    const struct qn_shape *q = d->q;
    float *w = d->work + (size_t)ith * qn_worker_floats(q);
    for (int h = ith; h < q->Hv; h += nth) {
        float *Sh = d->state + (size_t)h * q->S * q->S;
        if (d->n == 1)
            qn_delta_step(d, h, 0, Sh);
        else
            for (int t0 = 0; t0 < d->n; t0 += QN_CHUNK)
                qn_delta_chunk(d, h, t0, KB_MIN(QN_CHUNK, d->n - t0), Sh, w);
    }
}

/* x / max(|x|, eps) in place, the sum of squares in double (ggml's l2_norm); then times scale. */
static void qn_l2norm(float *x, int n, float eps, float scale)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    float f = 1.0f / fmaxf(sqrtf((float)ss), eps) * scale;
    for (int i = 0; i < n; i++)
        x[i] *= f;
}

/* Causal conv of the n new rows over the kept inputs (cs: d_conv - 1 per channel, oldest first),
 * then silu; the kept inputs move on to the last d_conv - 1. */
static void qn_conv(const struct qn_shape *q, const float *w, float *cs, const float *in, float *out, int n)
{
    int K = q->K, C = q->conv_dim;
    for (int c = 0; c < C; c++) {
        const float *wc = w + (size_t)c * K;
        float *st = cs + (size_t)c * (K - 1);
        for (int t = 0; t < n; t++) {
            float acc = 0.0f;
            for (int i = 0; i < K; i++) {
                int p = t - (K - 1) + i; /* input index: < 0 reads the kept inputs */
                acc += (p < 0 ? st[K - 1 + p] : in[(size_t)p * C + c]) * wc[i];
            }
            out[(size_t)t * C + c] = acc / (1.0f + expf(-acc));
        }
        /* keep the last K - 1 inputs of (kept, new) */
        for (int i = 0; i < K - 1; i++) {
            int p = n - (K - 1) + i;
            st[i] = p < 0 ? st[K - 1 + p] : in[(size_t)p * C + c];
        }
    }
}

static void qn_linear_attention(struct infer_session *s, int il, int n, int t0)
{
    const struct model_hparams *hp = &s->m->hp;
    const struct model_layer *L = &s->m->layers[il];
    struct qn_shape q;
    struct qn_buf b;
    qn_shape_of(hp, &q);
    qn_bufs(s, &q, &b);
    int e = hp->n_embd, S = q.S, Hv = q.Hv, r = q.Hv / q.Hk;
    float *st = qn_layer_state(s, &q, il), *conv_st = st, *dstate = st + (size_t)(q.K - 1) * q.conv_dim;
    model_matmul(s, &L->wqkv, s->xn, n, b.qkv);
    model_matmul(s, &L->wqkv_gate, s->xn, n, b.z);
    if (q.tiled) { /* betas then alphas, each (n, Hv) */
        model_matmul(s, &L->ssm_beta, s->xn, n, b.ba);
        model_matmul(s, &L->ssm_alpha, s->xn, n, b.ba + (size_t)n * Hv);
    } else {
        model_matmul(s, &L->ssm_ba, s->xn, n, b.ba);
    }
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    qn_conv(&q, L->ssm_conv1d.data, conv_st, b.qkv, b.cv, n);
    const float *dt = L->ssm_dt.data, *A = L->ssm_a.data;
    float qscale = 1.0f / sqrtf((float)S);
    for (int t = 0; t < n; t++) {
        float *row = b.cv + (size_t)t * q.conv_dim;
        for (int h = 0; h < q.Hk; h++) {
            qn_l2norm(row + (size_t)h * S, S, hp->rms_eps, qscale);
            qn_l2norm(row + (size_t)(q.Hk + h) * S, S, hp->rms_eps, 1.0f);
        }
        const float *ba = b.ba + (size_t)t * 2 * Hv;
        float *gb = b.gb + (size_t)t * 2 * Hv;
        for (int h = 0; h < Hv; h++) {
            int kh = h / r, j = h % r; /* qwen3next: per key head, r betas then r alphas */
            float bv = q.tiled ? b.ba[(size_t)t * Hv + h] : ba[kh * 2 * r + j];
            float av = (q.tiled ? b.ba[(size_t)(n + t) * Hv + h] : ba[kh * 2 * r + r + j]) + dt[h];
            float sp = av > 20.0f ? av : logf(1.0f + expf(av));
            gb[h] = sp * A[h];
            gb[Hv + h] = 1.0f / (1.0f + expf(-bv));
        }
    }
    struct qn_delta d = {.s = s, .q = &q, .cv = b.cv, .gb = b.gb, .o = b.o, .state = dstate, .work = b.work, .n = n};
    kern_pool_run(s->pool, qn_delta_worker, &d);
    model_prof_mark(s, INFER_PROF_ATTN);
    if (t0 >= n)
        return;
    /* gated norm per head: rmsnorm(o) * ssm_norm * silu(z) */
    for (int t = t0; t < n; t++)
        for (int h = 0; h < Hv; h++) {
            float *o = b.o + (size_t)t * q.d_inner + (size_t)h * S;
            const float *z = b.z + (size_t)t * q.d_inner + (size_t)h * S;
            model_rmsnorm(o, o, L->ssm_norm.data, S, hp->rms_eps);
            for (int j = 0; j < S; j++)
                o[j] *= z[j] / (1.0f + expf(-z[j]));
        }
    model_matmul(s, &L->ssm_out, b.o + (size_t)t0 * q.d_inner, n - t0, s->tmp + (size_t)t0 * e);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

/* arch_ops.attention: the layer's kind decides. */
static void qn_attention(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct model_hparams *hp = &s->m->hp;
    const struct model_layer *L = &s->m->layers[il];
    int e = hp->n_embd;
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e, hp->rms_eps);
    model_prof_mark(s, INFER_PROF_NORM);
    if (L->recurrent)
        qn_linear_attention(s, il, n, t0);
    else
        qn_full_attention(s, il, n, pos0, t0);
}

/* arch_ops.forward: a step at position 0 starts from a zero state; a multi-token step keeps a
 * snapshot of the state it starts from (qn_rollback's cheap path). */
static void qn_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all, bool keep_rows)
{
    if (s->n_past == 0) {
        memset(s->rs, 0, s->rs_floats * sizeof(float));
        s->rs_snap_pos = -1;
    }
    if (n > 1) {
        memcpy(s->rs_snap, s->rs, s->rs_floats * sizeof(float));
        s->rs_snap_pos = s->n_past;
    }
    model_decoder_forward(s, tok, n, logits, all, keep_rows);
}

static const float *qn_embed(struct infer_session *s, const int32_t *tok, int n)
{
    s->n_past = 0;
    memset(s->rs, 0, s->rs_floats * sizeof(float));
    s->rs_snap_pos = -1;
    return model_decoder_embed(s, tok, n);
}

/* arch_ops.rollback: back to n < n_past. The tokens stay in s->hist, so the kept prefix is
 * evaluated again from the snapshot (when it is at or before n) or from position 0. Valid ids
 * that fitted before: this cannot fail. */
static void qn_rollback(struct infer_session *s, int n)
{
    struct kb_error err = {0};
    int from = 0;
    if (s->rs_snap_pos >= 0 && s->rs_snap_pos <= n) {
        from = s->rs_snap_pos;
        memcpy(s->rs, s->rs_snap, s->rs_floats * sizeof(float));
    }
    s->n_past = from;
    s->kv_hi = from;
    if (n > from)
        (void)infer_eval(s, s->hist + from, n - from, NULL, false, &err);
}

const struct arch_ops arch_qwen3next_ops = {
    .name = "qwen3next", .ff_optional = true, .rope_neox = true, .yarn_mscale = true,
    .experts = ARCH_EXPERTS_ALWAYS, .expert_norm = true, /* its own binder: no qk_norm/shexp_gate flags */
    .hparams = qn_hparams, .bind = qn_bind, .forward = qn_forward, .attention = qn_attention,
    .embed = qn_embed, .kv_shape = model_kv_shape_gqa, .rs_size = qn_rs_size, .rollback = qn_rollback,
};
const struct arch_ops arch_qwen35moe_ops = {
    .name = "qwen35moe", .ff_optional = true, .rope_neox = true, .yarn_mscale = true,
    .experts = ARCH_EXPERTS_ALWAYS, .expert_norm = true,
    .hparams = qn35_hparams, .bind = qn_bind, .forward = qn_forward, .attention = qn_attention,
    .embed = qn_embed, .kv_shape = model_kv_shape_gqa, .rs_size = qn_rs_size, .rollback = qn_rollback,
};
