/* infer/arch_deepseek32.c: deepseek32 (DeepSeek-V3.2): DeepSeek Sparse Attention (DSA) on top of
 * deepseek2's MLA (arch_deepseek2.c), computed the way llama.cpp d32676d77 computes it (facts read
 * from its deepseek32 graph and loader; no code taken).
 *
 * The lightning indexer of a block, per token t at position pos (xn: the attention norm's output,
 * qr: the normed q-LoRA latent that also feeds attn_q_b):
 *   q_i[h] = (qr Wq_b^idx)[h]  (idx_n_head heads of idx_head_dim), rope (NEOX) on the FIRST n_rot
 *            values of each head (the rotary part leads, unlike MLA's q where it trails);
 *   k_i    = LayerNorm(xn Wk^idx) * k_norm + k_norm_b (eps 1e-6), rope (NEOX) likewise; one key
 *            per position shared by all indexer heads, cached per session;
 *   w[h]   = (xn W^idx_proj)[h] / sqrt(idx_head_dim * idx_n_head);
 *   score(t, p) = sum_h relu(q_i[h] . k_i(p)) * w[h]   for the causal positions p <= pos.
 * The top idx_top_k positions by score are kept (all of them while pos + 1 <= idx_top_k) and MLA
 * attends only to those: s->dsa_bias[t] is 0 there and -inf elsewhere, added to the scores before
 * the softmax (deepseek2_attention, layers.c's att_item). As llama.cpp, q_i and k_i are rotated
 * by the orthonormal Walsh-Hadamard matrix of size idx_head_dim (Sylvester's, scaled by
 * 1/sqrt(n)) before k_i is cached: q.k is unchanged by the rotation, but the F16 cache rounds the
 * rotated values, so kbox rotates too (a fast transform, O(n log n) per head).
 * The indexer key is stored in the same KV cache row as the MLA latent and rope key (after them,
 * in the cache type, as llama.cpp keeps it in its own cache of the K type), so truncation and
 * session reuse need nothing more. Ties in score are broken toward the earlier position.
 * No allocation in the forward pass: the scratch is s->dsa_tmp (deepseek32_scratch, session.c).
 * YaRN's magnitudes differ from deepseek2's (see deepseek32_hparams); everything else (q-LoRA MLA,
 * experts with sigmoid gating) is deepseek2's.
 * Tests: tests/infer/test_deepseek32_conf.c (against llama.cpp's logits; prompt vs token by token). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"

/* Scratch floats: the step's indexer queries, keys and head weights, then per worker a score row
 * and its selection copy (n_ctx each) and the F16-rounded queries of one token. */
size_t deepseek32_scratch(const struct infer_model *m, int n_batch, int n_ctx, int n_threads)
{
    const struct model_hparams *hp = &m->hp;
    size_t hd = (size_t)hp->idx_n_head * hp->idx_head_dim;
    size_t step = (size_t)n_batch * (hd + hp->idx_head_dim + hp->idx_n_head);
    return step + (size_t)n_threads * (2 * (size_t)n_ctx + hd);
}

struct dsa_job {
    struct infer_session *s;
    const float *qi, *wi;
    const void *kc; /* the layer's first indexer key */
    size_t row;     /* cache row (elements) */
    float *thr_buf; /* per worker: 2 * n_ctx + hd floats */
    int pos0, t0;
    const void *qd; /* generation: the row's queries in the dot's form */
};

/* The k-th largest of v[0..n) (1 <= k <= n), reordering v (quickselect). */
static float kth_largest(float *v, int n, int k)
{
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float piv = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > piv)
                i++;
            while (v[j] < piv)
                j--;
            if (i <= j) {
                float x = v[i];
                v[i++] = v[j];
                v[j--] = x;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return v[want];
    }
    return v[want];
}

/* Scores of row t's queries qd (F32, or F16 with an F16 cache) over positions p0..p1-1 into sc. */
static void dsa_scores(const struct dsa_job *j, int t, const void *qd, int p0, int p1, float *sc)
{
    const struct infer_session *s = j->s;
    int Hi = s->m->hp.idx_n_head, D = s->m->hp.idx_head_dim;
    const float *w = j->wi + (size_t)t * Hi;
    kern_vec_dot_fn dot = kern.vec_dot[s->kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16];
    size_t el = s->kv_f32 ? sizeof(float) : sizeof(uint16_t);
    for (int p = p0; p < p1; p++) {
        const uint8_t *k = (const uint8_t *)j->kc + (size_t)p * j->row * el;
        float acc = 0.0f;
        for (int h = 0; h < Hi; h++) {
            float d = dot(D, k, (const uint8_t *)qd + (size_t)h * D * el);
            acc += (d > 0.0f ? d : 0.0f) * w[h];
        }
        sc[p] = acc;
    }
}

/* Row t's queries in the form the cache's dot takes: F32 as they are, else rounded to F16 (as
 * ggml's K.Q with an F16 cache) into qh. */
static const void *dsa_query(const struct dsa_job *j, int t, uint16_t *qh)
{
    const struct model_hparams *hp = &j->s->m->hp;
    size_t hd = (size_t)hp->idx_n_head * hp->idx_head_dim;
    const float *q = j->qi + (size_t)t * hd;
    if (j->s->kv_f32)
        return q;
    kern.quant[GGML_TYPE_F16](q, qh, (int64_t)hd);
    return qh;
}

/* Row t's mask from its n_kv scores sc: 0 for the top-k, -inf for the rest (sel: scratch). */
static void dsa_mask(struct infer_session *s, int t, int n_kv, const float *sc, float *sel)
{
    int K = s->m->hp.idx_top_k;
    float *bias = s->dsa_bias + (size_t)t * s->n_ctx;
    memcpy(sel, sc, (size_t)n_kv * sizeof(float));
    float thr = kth_largest(sel, n_kv, K);
    int above = 0;
    for (int p = 0; p < n_kv; p++)
        above += sc[p] > thr;
    int ties = K - above; /* positions at the threshold that still fit, earliest first */
    for (int p = 0; p < n_kv; p++) {
        bool keep = sc[p] > thr || (sc[p] == thr && ties-- > 0);
        bias[p] = keep ? 0.0f : -INFINITY;
    }
}

/* A worker's scratch: a score row, a selection copy (n_ctx each), then F16 queries. */
static float *dsa_scratch(const struct dsa_job *j, int ith)
{
    const struct model_hparams *hp = &j->s->m->hp;
    size_t hd = (size_t)hp->idx_n_head * hp->idx_head_dim;
    return j->thr_buf + (size_t)ith * (2 * (size_t)j->s->n_ctx + hd);
}

/* Prompt rows: item = row t0 + chunk, its scores and mask on worker ith's scratch. */
static void dsa_row(void *ud, int64_t chunk, int ith)
{
    const struct dsa_job *j = ud;
    struct infer_session *s = j->s;
    int t = j->t0 + (int)chunk, n_kv = j->pos0 + t + 1;
    if (n_kv <= s->m->hp.idx_top_k) { /* fewer positions than top-k: all of them */
        memset(s->dsa_bias + (size_t)t * s->n_ctx, 0, (size_t)n_kv * sizeof(float));
        return;
    }
    float *sc = dsa_scratch(j, ith), *sel = sc + s->n_ctx;
    dsa_scores(j, t, dsa_query(j, t, (uint16_t *)(sel + s->n_ctx)), 0, n_kv, sc);
    dsa_mask(s, t, n_kv, sc, sel);
}

/* Generation (one row): the positions in chunks of DSA_CHUNK over the workers, into worker 0's
 * score row, with the row's queries prepared once (j->qd). */
#define DSA_CHUNK 256
static void dsa_chunk(void *ud, int64_t chunk, int ith)
{
    (void)ith;
    const struct dsa_job *j = ud;
    int n_kv = j->pos0 + j->t0 + 1, p0 = (int)chunk * DSA_CHUNK;
    dsa_scores(j, j->t0, j->qd, p0, KB_MIN(n_kv, p0 + DSA_CHUNK), dsa_scratch(j, 0));
}

/* x (n, a power of two) times the orthonormal Sylvester-Hadamard matrix, in place. */
static void hadamard(float *x, int n)
{
    for (int len = 1; len < n; len <<= 1)
        for (int i = 0; i < n; i += 2 * len)
            for (int j = i; j < i + len; j++) {
                float a = x[j], b = x[j + len];
                x[j] = a + b;
                x[j + len] = a - b;
            }
    float sc = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++)
        x[i] *= sc;
}

/* LayerNorm of x (n) in place with weight and bias. */
static void layer_norm(float *x, const float *w, const float *b, int n, float eps)
{
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / n + eps));
    for (int i = 0; i < n; i++)
        x[i] = (float)(x[i] - mean) * inv * w[i] + b[i];
}

void deepseek32_index(struct infer_session *s, int il, int n, int pos0, int t0, void *kl, size_t row)
{
    const struct model_hparams *hp = &s->m->hp;
    const struct model_layer *L = &s->m->layers[il];
    int Hi = hp->idx_n_head, D = hp->idx_head_dim, R = hp->n_rot;
    size_t hd = (size_t)Hi * D, CR = (size_t)hp->kv_lora_rank + R;
    float *qi = s->dsa_tmp, *ki = qi + (size_t)s->n_batch * hd, *wi = ki + (size_t)s->n_batch * D;
    model_matmul(s, &L->idx_k, s->xn, n, ki);
    for (int t = 0; t < n; t++) {
        float *k = ki + (size_t)t * D;
        layer_norm(k, L->idx_k_norm.data, L->idx_k_norm_b.data, D, 1e-6f);
        model_rope(k, s->rope_cs + (size_t)t * R, R, true);
        hadamard(k, D);
    }
    void *kb = (uint8_t *)kl + CR * (s->kv_f32 ? sizeof(float) : sizeof(uint16_t));
    model_cache_put(s, kb, row, ki, (size_t)D, D, n, pos0);
    if (t0 >= n)
        return;
    int k = n - t0;
    model_matmul(s, &L->idx_q_b, s->q_lat + (size_t)t0 * hp->q_lora_rank, k, qi + (size_t)t0 * hd);
    model_matmul(s, &L->idx_w, s->xn + (size_t)t0 * hp->n_embd, k, wi + (size_t)t0 * Hi);
    float ws = 1.0f / sqrtf((float)hd);
    for (int t = t0; t < n; t++) {
        for (int h = 0; h < Hi; h++) {
            model_rope(qi + (size_t)t * hd + (size_t)h * D, s->rope_cs + (size_t)t * R, R, true);
            hadamard(qi + (size_t)t * hd + (size_t)h * D, D);
        }
        for (int h = 0; h < Hi; h++)
            wi[(size_t)t * Hi + h] *= ws;
    }
    struct dsa_job j = {s, qi, wi, kb, row, wi + (size_t)s->n_batch * Hi, pos0, t0, NULL};
    int n_kv = pos0 + t0 + 1;
    if (k > 1 || n_kv <= hp->idx_top_k) {
        kern_pool_for(s->pool, k, dsa_row, &j);
        return;
    }
    float *sc = dsa_scratch(&j, 0), *sel = sc + s->n_ctx;
    j.qd = dsa_query(&j, t0, (uint16_t *)(sel + s->n_ctx));
    kern_pool_for(s->pool, (n_kv + DSA_CHUNK - 1) / DSA_CHUNK, dsa_chunk, &j);
    dsa_mask(s, t0, n_kv, sc, sel);
}

/* deepseek2's hyperparameters plus the indexer's (required, as llama.cpp requires them). */
static int deepseek32_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc;
    if ((rc = deepseek2_hparams(m, err)) ||
        (rc = model_hp_u32(m, "attention.indexer.head_count", &hp->idx_n_head, true, err)) ||
        (rc = model_hp_u32(m, "attention.indexer.key_length", &hp->idx_head_dim, true, err)) ||
        (rc = model_hp_u32(m, "attention.indexer.top_k", &hp->idx_top_k, true, err)))
        return rc;
    if (hp->yarn) {
        /* llama.cpp d32676d77 takes YaRN's mscale as mscale_all_dims only for deepseek2; for
         * deepseek32 mscale is 1, so with g(m) = 1 + 0.1 m ln(factor) and L the file's log
         * multiplier / 0.1: cos/sin carry g(1) / g(L) (q_pe, k_pe and the indexer's rope alike)
         * and the scores mscale^2 = g(1)^2. V3.2's own files have L = 1: unit rope, g(1)^2. */
        float log_mul = 0.0f, lf = logf(1.0f / hp->rope_freq_scale);
        model_hp_f32(m, "rope.scaling.yarn_log_multiplier", &log_mul);
        float g1 = 1.0f + 0.1f * lf, gl = 1.0f + log_mul * lf;
        hp->rope_mscale = g1 / gl;
        hp->kq_scale = g1 * g1 / sqrtf((float)hp->head_dim);
    }
    if (hp->q_lora_rank <= 0)
        return kb_error_set(err, KB_EFORMAT, "model: deepseek32 without q-LoRA (attention.q_lora_rank 0) "
                            "is not supported: the indexer's queries come from the q-LoRA latent");
    /* a key of rotary + non-rotary halves of equal size, as V3.2's (64 + 64): llama.cpp d32676d77
     * reads the non-rotary half at an offset of its own length, which only equal halves agree on */
    if (hp->idx_n_head < 1 || hp->idx_n_head > 1024 || hp->idx_head_dim != 2 * hp->n_rot ||
        (hp->idx_head_dim & (hp->idx_head_dim - 1)) ||
        hp->idx_head_dim > 4096 || hp->idx_top_k < 1)
        return kb_error_set(err, KB_ECORRUPT, "model: bad deepseek32 indexer (heads %d, key length %d: must be a "
                            "power of two and twice the rope dimensions %d, top_k %d)", hp->idx_n_head, hp->idx_head_dim, hp->n_rot,
                            hp->idx_top_k);
    return 0;
}

static int deepseek32_bind_attention(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, D = hp->idx_head_dim, Hi = hp->idx_n_head;
    char nm[96];
    int rc = deepseek2_bind_attention(m, il, err);
#define B(field, suffix, nd, a, b)                                                                 \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                          \
        if (!rc)                                                                                   \
            rc = model_bind(m, &L->field, nm, nd, a, b, 1, false, err);                            \
    } while (0)
    B(idx_q_b, "indexer.attn_q_b.weight", 2, hp->q_lora_rank, Hi * D);
    B(idx_k, "indexer.attn_k.weight", 2, e, D);
    B(idx_k_norm, "indexer.k_norm.weight", 1, D, 1);
    B(idx_k_norm_b, "indexer.k_norm.bias", 1, D, 1);
    B(idx_w, "indexer.proj.weight", 2, e, Hi);
#undef B
    if (!rc && (L->idx_k_norm.type != GGML_TYPE_F32 || L->idx_k_norm_b.type != GGML_TYPE_F32))
        rc = kb_error_set(err, KB_EFORMAT, "model: blk.%d.indexer.k_norm must be F32", il);
    return rc;
}

static int deepseek32_bind(struct infer_model *m, struct kb_error *err)
{
    return model_bind_decoder(m, deepseek32_bind_attention, err);
}

/* MLA's row (latent + rope key) then the indexer key. */
static void deepseek32_kv_shape(const struct infer_model *m, struct arch_kv *kv)
{
    deepseek2_kv_shape(m, kv);
    kv->k_row += (size_t)m->hp.idx_head_dim;
}

const struct arch_ops arch_deepseek32_ops = {
    .name = "deepseek32", .experts = ARCH_EXPERTS_ALWAYS, .hparams = deepseek32_hparams,
    .bind = deepseek32_bind, .forward = model_decoder_forward, .attention = deepseek2_attention,
    .embed = model_decoder_embed, .kv_shape = deepseek32_kv_shape,
};
