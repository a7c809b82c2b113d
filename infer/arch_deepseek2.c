/* infer/arch_deepseek2.c: DeepSeek-V2/V3 multi-head latent attention (MLA), in the "absorbed" form
 * llama.cpp runs, with the compressed KV cache.
 *
 * Per token: q = xn Wq (V2-Lite) or rmsnorm(xn Wq_a) Wq_b (V3 q-LoRA), split per head into
 * q_nope (n_nope) and q_pe (n_rot); [c ; k_pe] = xn Wkv_a (c: kv_lora_rank latent, k_pe one
 * shared rope key); rope (NORM, YaRN) on q_pe and k_pe; c = rmsnorm(c) * kv_a_norm. The cache
 * stores [c ; k_pe] per position: kv_lora_rank + n_rot values instead of 2 * n_head * head_dim.
 * Per head h: q_abs = Wk_b[h] q_nope (n_nope -> kv_lora_rank), Q = [q_abs ; q_pe]; attention of
 * Q over the cached [c ; k_pe] rows (one kv head shared by all query heads) with values c gives a
 * latent output o_lat (kv_lora_rank), decompressed per head by Wv_b[h] to head_dim_v; the heads
 * go through Wo. Scores are scaled by mscale^2 / sqrt(n_nope + n_rot) (YaRN correction, see
 * model.c). The per-head projections are batched matmuls over the step's tokens; one token runs
 * a group of heads' absorb, attention and decompression as one pool item, all heads in ONE
 * dispatch (mla_head_worker). Attention takes a token's heads in groups that share each cached
 * row (mla_att_heads), the values a weighted sum over the cached latents in place (no copy). No
 * allocation. Also here: the
 * MLA hyperparameters and tensors, deepseek2's expert rules and its KV cache shape (arch_ops).
 * NextN/MTP blocks (deepseek2.nextn_predict_layers, DeepSeek-V3/R1 files converted with them) are
 * bound after the main blocks and skipped by the main forward; arch_glm4moe.c's model_mtp_forward
 * runs the first one for MTP drafts (its MLA attention is this file's, over its own latent cache).
 * deepseek32 (arch_deepseek32.c) reuses the hparams, attention binding, KV shape and attention
 * sublayer (declared in model.h): its cache rows carry the indexer key after [c ; k_pe] (rows
 * CR + idx_head_dim apart), deepseek32_index runs once the step's rows are cached, and its top-k
 * mask (s->dsa_bias) is added to the scores before the softmax.
 * Tests: tests/infer/test_conformance.c (deepseek2_lite_*, deepseek2_v3_*), test_glm4moe_conf.c
 * (a file with a NextN block against llama.cpp), test_spec.c (MTP drafts), test_deepseek32_conf.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"

/* The 2-D slice of head h of a (n_head, rows, ne0) tensor. */
static struct model_w head_slice(const struct model_w *w, int h)
{
    struct model_w v = *w;
    v.data = (const uint8_t *)w->data + (size_t)h * (size_t)w->ne[1] * w->row_bytes;
    v.ne[2] = 1;
    return v;
}

/* Per-head products for one token in one dispatch per group of MODEL_MV_MAX heads: y + h*y_head
 * = W[h] (x + h*x_head) for every head. Returns false (nothing done) when the quantized inputs do
 * not fit the session's xq scratch. */
static bool heads_matvec(struct infer_session *s, const struct model_w *w, int H, const float *x,
                         size_t x_head, float *y, size_t y_head)
{
    struct model_w v[MODEL_MV_MAX];
    struct model_mv mv[MODEL_MV_MAX];
    int g = KB_MIN(H, MODEL_MV_MAX);
    if ((size_t)g * model_mv_quant_bytes(w->type, w->ne[0]) > s->xq_bytes)
        return false;
    for (int h0 = 0; h0 < H; h0 += g) {
        int n = KB_MIN(g, H - h0);
        uint8_t *q = s->xq;
        for (int i = 0; i < n; i++) {
            int h = h0 + i;
            v[i] = head_slice(w, h);
            mv[i].w = &v[i];
            mv[i].a = model_mv_quant(w->type, x + (size_t)h * x_head, w->ne[0], &q);
            mv[i].y = y + (size_t)h * y_head;
        }
        model_matvec_multi(s, mv, n);
    }
    return true;
}

/* The projections of xn (one token) that start the block, in one dispatch: q (or the q-LoRA
 * latent) and the kv latent. Returns false when the scratch does not fit. */
static bool first_proj_one(struct infer_session *s, const struct model_layer *L, const struct model_w *wq,
                           float *q_out)
{
    int64_t e = s->m->hp.n_embd;
    if (model_mv_quant_bytes(wq->type, e) + model_mv_quant_bytes(L->wkv_a.type, e) > s->xq_bytes)
        return false;
    uint8_t *q = s->xq;
    struct model_mv mv[2] = {{wq, NULL, q_out}, {&L->wkv_a, NULL, s->kv_lat}};
    mv[0].a = model_mv_quant(wq->type, s->xn, e, &q);
    if (kern.vec_dot_type[L->wkv_a.type] == kern.vec_dot_type[wq->type])
        mv[1].a = mv[0].a;
    else
        mv[1].a = model_mv_quant(L->wkv_a.type, s->xn, e, &q);
    model_matvec_multi(s, mv, 2);
    return true;
}

/* MLA attention, a group of heads at a time. All heads of a token attend over the same cached
 * [c ; k_pe] rows and the same latent values, so an item is a group of up to ATT_SCORE_ROWS heads
 * of one token: the scores of the group's queries in one pass over the cache (each row loaded once
 * for the group, not once per head; q in the cache type, as model_attention), softmax per head,
 * then out[h] = sum over the positions of weights_h[p] * c[p], straight from the cache, each
 * cached row again loaded (and widened) once for the group (kern.rows_wsum_mq_*). Both
 * multi-query kernels give every (head, row) and (head, value) the same arithmetic whatever the
 * group, so prompt rows, single generation steps and any thread count give the same bits (a
 * speculative draft's batch check relies on it: tests/infer/test_spec.c). An F32 transposed copy
 * of the latents (until 2026-12) cost more to make at every step than the sums it served. */
struct mla_att {
    struct infer_session *s;
    const struct attn_spec *a;
};

/* Heads h0 .. h0 + g - 1 (g <= ATT_SCORE_ROWS) of row t on thread ith's scratch: g score rows of
 * n_ctx in s->scores, the g queries (rounded to F16 for an F16 cache) in s->att_tmp, whose 2 x
 * att_tmp_dim floats hold ATT_SCORE_ROWS + 1 rows of dk (see session.c). */
static void mla_att_heads(const struct mla_att *m, int t, int h0, int g, int ith)
{
    const struct attn_spec *a = m->a;
    struct infer_session *s = m->s;
    float *sc = s->scores + (size_t)ith * ATT_SCORE_ROWS * s->n_ctx;
    float *qt = s->att_tmp + (size_t)ith * 2 * s->att_tmp_dim;
    size_t ns = (size_t)s->n_ctx;
    int n_kv = a->pos0 + t + 1;
    const float *q = a->q + (size_t)t * a->q_tok + (size_t)h0 * a->q_head;
    float *out = a->out + (size_t)t * a->o_tok + (size_t)h0 * a->o_head;
    KB_ASSERT(g >= 1 && g <= ATT_SCORE_ROWS);
    if (a->f32) {
        kern.rows_dot_mq_f32(a->dk, q, a->q_head, g, (const float *)a->kc, a->k_pos, n_kv, a->scale, sc, ns);
    } else {
        /* the queries rounded to F16 (as ggml's K.Q), kept as F32 values */
        uint16_t *qh = (uint16_t *)(qt + (size_t)g * a->dk);
        for (int j = 0; j < g; j++) {
            kern.quant[GGML_TYPE_F16](q + (size_t)j * a->q_head, qh, a->dk);
            kern.dequant[GGML_TYPE_F16](qh, qt + (size_t)j * a->dk, a->dk);
        }
        kern.rows_dot_mq_f16(a->dk, qt, (size_t)a->dk, g, (const uint16_t *)a->kc, a->k_pos, n_kv, a->scale, sc,
                             ns);
    }
    if (a->bias) /* deepseek32: only the positions the indexer kept */
        for (int j = 0; j < g; j++)
            for (int p = 0; p < n_kv; p++)
                sc[(size_t)j * ns + p] += a->bias[(size_t)t * ns + p];
    for (int j = 0; j < g; j++)
        kern.softmax_f32(n_kv, sc + (size_t)j * ns);
    if (a->f32)
        kern.rows_wsum_mq_f32(a->dv, sc, ns, g, (const float *)a->vc, a->v_pos, n_kv, out, a->o_head);
    else
        kern.rows_wsum_mq_f16(a->dv, sc, ns, g, (const uint16_t *)a->vc, a->v_pos, n_kv, out, a->o_head);
}

/* Prompt rows: items are (row, group of ATT_SCORE_ROWS heads), interleaved over the threads. */
static void mla_att_worker(void *ud, int ith, int nth)
{
    const struct mla_att *m = ud;
    const struct attn_spec *a = m->a;
    int n_grp = (a->n_head + ATT_SCORE_ROWS - 1) / ATT_SCORE_ROWS;
    int n_items = (a->n_tok - a->t_first) * n_grp;
    for (int it = ith; it < n_items; it += nth) {
        int h0 = (it % n_grp) * ATT_SCORE_ROWS;
        mla_att_heads(m, a->t_first + it / n_grp, h0, KB_MIN(ATT_SCORE_ROWS, a->n_head - h0), ith);
    }
}

/* Generation (one output row t): a head's whole attention is independent of the other heads, so
 * it goes out as ONE dispatch instead of three (Wk_b absorb, attention, Wv_b). An item is a group
 * of g consecutive heads (g = heads per thread, at most ATT_SCORE_ROWS): it quantizes each head's
 * q_nope and absorbs it (Wk_b[h], C rows), appends q_pe, attends over the cache for the whole group
 * (mla_att_heads: every cached row is read once per group, not once per head) and decompresses
 * each head's latent output (Wv_b[h], dv rows). The absorb and decompression rows go through
 * kern_dot_rows as in the batched form, and the multi-query kernels do not depend on the group
 * size, so results are bit for bit equal at any thread count. xq holds each head's two quantized
 * inputs at h * hq_bytes. */
struct mla_head_job {
    const struct mla_att *ma;
    const struct model_layer *L;
    int t, C, R, nope, dk, dv, g;
    size_t hq_bytes;
};

static void mla_head_worker(void *ud, int64_t chunk, int ith)
{
    const struct mla_head_job *j = ud;
    const struct mla_att *ma = j->ma;
    struct infer_session *s = ma->s;
    int H = ma->a->n_head, CR = j->C + j->R, t = j->t; /* CR: q_abs rows */
    int h0 = (int)chunk * j->g, h1 = KB_MIN(h0 + j->g, H);
    for (int h = h0; h < h1; h++) {
        uint8_t *q = (uint8_t *)s->xq + (size_t)h * j->hq_bytes;
        struct model_w wk = head_slice(&j->L->wk_b, h);
        const float *qh = s->q + ((size_t)t * H + h) * j->dk;
        float *qa = s->q_abs + ((size_t)t * H + h) * CR;
        const void *aq = model_mv_quant(wk.type, qh, j->nope, &q);
        kern_dot_rows(wk.type, wk.ne[0], wk.data, wk.row_bytes, wk.ne[1], aq, qa);
        memcpy(qa + j->C, qh + j->nope, (size_t)j->R * sizeof(float));
    }
    mla_att_heads(ma, t, h0, h1 - h0, ith);
    for (int h = h0; h < h1; h++) {
        uint8_t *q = (uint8_t *)s->xq + (size_t)h * j->hq_bytes + model_mv_quant_bytes(j->L->wk_b.type, j->nope);
        struct model_w wv = head_slice(&j->L->wv_b, h);
        const void *av = model_mv_quant(wv.type, s->o_lat + ((size_t)t * H + h) * j->C, j->C, &q);
        kern_dot_rows(wv.type, wv.ne[0], wv.data, wv.row_bytes, wv.ne[1], av, s->att + ((size_t)t * H + h) * j->dv);
    }
}

/* arch_ops.attention: the MLA block of layer il: all n rows go to the cache, rows t0.. get their
 * output added into s->x. deepseek32 (hp->idx_top_k > 0): a cache row is the MLA part then the
 * lightning indexer's key, and the indexer masks each row's attention to its top-k positions. */
void deepseek2_attention(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int e = hp->n_embd, H = hp->n_head, dk = hp->head_dim, R = hp->n_rot, nope = hp->n_nope;
    int C = hp->kv_lora_rank, dv = hp->head_dim_v, CR = C + R;
    size_t W = (size_t)CR + (size_t)hp->idx_head_dim; /* cache row */
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e,
                      hp->rms_eps);
    model_prof_mark(s, INFER_PROF_NORM);
    /* one token: the q (or q-LoRA) and kv projections share a dispatch */
    bool one = n == 1 && first_proj_one(s, L, L->wq_a.data ? &L->wq_a : &L->wq,
                                        L->wq_a.data ? s->q_lat : s->q);
    if (L->wq_a.data) {
        int ql = hp->q_lora_rank;
        if (!one)
            model_matmul(s, &L->wq_a, s->xn, n, s->q_lat);
        for (int t = 0; t < n; t++)
            model_rmsnorm(s->q_lat + (size_t)t * ql, s->q_lat + (size_t)t * ql, L->q_a_norm.data,
                          ql, hp->rms_eps);
        model_matmul(s, &L->wq_b, s->q_lat, n, s->q);
    } else if (!one) {
        model_matmul(s, &L->wq, s->xn, n, s->q);
    }
    if (!one)
        model_matmul(s, &L->wkv_a, s->xn, n, s->kv_lat);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * R;
        for (int h = 0; h < H; h++)
            model_rope(s->q + ((size_t)t * H + h) * dk + nope, cs, R, false);
        float *kv = s->kv_lat + (size_t)t * CR;
        model_rope(kv + C, cs, R, false);
        model_rmsnorm(kv, kv, L->kv_a_norm.data, C, hp->rms_eps);
    }
    void *kl = model_cache_layer(s, s->k_cache, il, W);
    model_cache_put(s, kl, W, s->kv_lat, (size_t)CR, CR, n, pos0);
    if (hp->idx_top_k > 0)
        deepseek32_index(s, il, n, pos0, t0, kl, W);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    if (t0 >= n) /* only the cache was needed (last layer, no logits) */
        return;
    int k = n - t0; /* rows whose output is needed */
    struct attn_spec a = {
        .q = s->q_abs, .q_tok = (size_t)H * CR, .q_head = (size_t)CR,
        .kc = kl, .k_pos = W, .k_head = 0,
        .vc = kl, .v_pos = W, .v_head = 0, .f32 = s->kv_f32,
        .out = s->o_lat, .o_tok = (size_t)H * C, .o_head = (size_t)C,
        .dk = CR, .dv = C, .n_head = H, .group = H,
        .scale = hp->kq_scale, .n_tok = n, .pos0 = pos0, .t_first = t0,
        .bias = hp->idx_top_k > 0 ? s->dsa_bias : NULL,
    };
    size_t hq = model_mv_quant_bytes(L->wk_b.type, nope) + model_mv_quant_bytes(L->wv_b.type, C);
    if (k == 1 && (size_t)H * hq <= s->xq_bytes) { /* generation: one dispatch for all heads */
        struct mla_att ma = {s, &a};
        int nth = kern_pool_n_threads(s->pool);
        int g = KB_MIN((H + nth - 1) / nth, ATT_SCORE_ROWS);
        struct mla_head_job hj = {&ma, L, t0, C, R, nope, dk, dv, g, hq};
        kern_pool_for(s->pool, (H + g - 1) / g, mla_head_worker, &hj);
        model_prof_mark(s, INFER_PROF_ATTN);
        goto out_proj;
    }
    /* absorb Wk_b into the queries, head by head over those rows (one row: all heads at once) */
    bool done = k == 1 && heads_matvec(s, &L->wk_b, H, s->q + (size_t)t0 * H * dk, (size_t)dk,
                                       s->q_abs + (size_t)t0 * H * CR, (size_t)CR);
    if (done)
        for (int h = 0; h < H; h++)
            memcpy(s->q_abs + ((size_t)t0 * H + h) * CR + C, s->q + ((size_t)t0 * H + h) * dk + nope,
                   (size_t)R * sizeof(float));
    for (int h = 0; h < H && !done; h++) {
        struct model_w wk = head_slice(&L->wk_b, h);
        for (int t = t0; t < n; t++)
            memcpy(s->h_in + (size_t)(t - t0) * nope, s->q + ((size_t)t * H + h) * dk,
                   (size_t)nope * sizeof(float));
        model_matmul(s, &wk, s->h_in, k, s->h_out);
        for (int t = t0; t < n; t++) {
            float *qa = s->q_abs + ((size_t)t * H + h) * CR;
            memcpy(qa, s->h_out + (size_t)(t - t0) * C, (size_t)C * sizeof(float));
            memcpy(qa + C, s->q + ((size_t)t * H + h) * dk + nope, (size_t)R * sizeof(float));
        }
    }
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    struct mla_att ma = {s, &a};
    kern_pool_run(s->pool, mla_att_worker, &ma);
    model_prof_mark(s, INFER_PROF_ATTN);
    /* decompress each head's latent output with Wv_b */
    done = k == 1 && heads_matvec(s, &L->wv_b, H, s->o_lat + (size_t)t0 * H * C, (size_t)C,
                                  s->att + (size_t)t0 * H * dv, (size_t)dv);
    for (int h = 0; h < H && !done; h++) {
        struct model_w wv = head_slice(&L->wv_b, h);
        for (int t = t0; t < n; t++)
            memcpy(s->h_in + (size_t)(t - t0) * C, s->o_lat + ((size_t)t * H + h) * C,
                   (size_t)C * sizeof(float));
        model_matmul(s, &wv, s->h_in, k, s->h_out);
        for (int t = t0; t < n; t++)
            memcpy(s->att + ((size_t)t * H + h) * dv, s->h_out + (size_t)(t - t0) * dv,
                   (size_t)dv * sizeof(float));
    }
out_proj:
    model_matmul(s, &L->wo, s->att + (size_t)t0 * H * dv, k, s->tmp + (size_t)t0 * e);
    model_prof_mark(s, INFER_PROF_ATTN_PROJ);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}

/* MLA, expert and attention-scale hyperparameters (after model.c's common ones). */
int deepseek2_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc, kmla = 0, vmla = 0, n_shared = 0;
    float log_mul = 0.0f;
    char full[128];
    bool b;
    if (hp->n_expert > 0) {
        if ((rc = model_hp_u32(m, "expert_shared_count", &n_shared, false, err)))
            return rc;
        hp->n_ff_shexp = hp->n_ff_exp * n_shared;
        snprintf(full, sizeof full, "%s.expert_weights_norm", m->arch_name);
        hp->expert_norm = gguf_get_bool(m->gf, full, &b) && b;
        model_hp_f32(m, "expert_weights_scale", &hp->expert_scale);
    }
    /* NextN/MTP blocks (DeepSeek-V3/R1 files converted with them) follow the main blocks */
    if ((rc = model_hp_u32(m, "nextn_predict_layers", &hp->n_nextn, false, err)))
        return rc;
    if (hp->n_nextn < 0 || hp->n_nextn >= hp->n_layer || (hp->n_nextn > 0 && hp->n_expert == 0))
        return kb_error_set(err, KB_ECORRUPT, "model: deepseek2.nextn_predict_layers = %d of %d blocks",
                            hp->n_nextn, hp->n_layer);
    hp->n_layer -= hp->n_nextn;
    if (hp->n_layer_dense_lead > hp->n_layer)
        return kb_error_set(err, KB_ECORRUPT, "model: %d leading dense blocks of %d", hp->n_layer_dense_lead,
                            hp->n_layer);
    if ((rc = model_hp_u32(m, "attention.q_lora_rank", &hp->q_lora_rank, false, err)) ||
        (rc = model_hp_u32(m, "attention.kv_lora_rank", &hp->kv_lora_rank, true, err)) ||
        (rc = model_hp_u32(m, "attention.key_length_mla", &kmla, false, err)) ||
        (rc = model_hp_u32(m, "attention.value_length_mla", &vmla, false, err)))
        return rc;
    if (kmla == 0 || vmla == 0)
        return kb_error_set(err, KB_EFORMAT, "model: deepseek2 file without MLA key/value lengths "
                            "(converted before llama.cpp's MLA support) is not supported");
    hp->head_dim = kmla;
    hp->head_dim_v = vmla;
    hp->n_nope = kmla - hp->n_rot;
    if (hp->n_nope <= 0 || hp->kv_lora_rank <= 0 || hp->q_lora_rank < 0)
        return kb_error_set(err, KB_ECORRUPT, "model: bad MLA dimensions");
    /* YaRN attention-scale correction: the rope keeps unit magnitude and the scores are scaled by
     * mscale^2 instead, mscale = 1 + yarn_log_multiplier * ln(1/freq_scale). */
    model_hp_f32(m, "rope.scaling.yarn_log_multiplier", &log_mul);
    float ms = hp->yarn ? 1.0f + log_mul * logf(1.0f / hp->rope_freq_scale) : 1.0f;
    hp->kq_scale = ms * ms / sqrtf((float)hp->head_dim);
    return 0;
}

int deepseek2_bind_attention(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim;
    int64_t no = (int64_t)hp->n_head * hp->head_dim_v;
    int64_t C = hp->kv_lora_rank, R = hp->n_rot;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, c)                                                              \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                          \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, c, false, err)) != 0)                     \
            return rc;                                                                             \
    } while (0)
    if (hp->q_lora_rank > 0) {
        B(wq_a, "attn_q_a.weight", 2, e, hp->q_lora_rank, 1);
        B(q_a_norm, "attn_q_a_norm.weight", 1, hp->q_lora_rank, 1, 1);
        B(wq_b, "attn_q_b.weight", 2, hp->q_lora_rank, nq, 1);
    } else {
        B(wq, "attn_q.weight", 2, e, nq, 1);
    }
    B(wkv_a, "attn_kv_a_mqa.weight", 2, e, C + R, 1);
    B(kv_a_norm, "attn_kv_a_norm.weight", 1, C, 1, 1);
    snprintf(nm, sizeof nm, "blk.%d.attn_k_b.weight", il);
    if (!gguf_find_tensor(m->gf, nm))
        return kb_error_set(err, KB_EFORMAT, "model: deepseek2 file without attn_k_b/attn_v_b "
                            "(converted before llama.cpp's MLA support) is not supported");
    B(wk_b, "attn_k_b.weight", 3, hp->n_nope, C, hp->n_head);
    B(wv_b, "attn_v_b.weight", 3, C, hp->head_dim_v, hp->n_head);
    B(wo, "attn_output.weight", 2, no, e, 1);
#undef B
    return rc;
}

/* The main blocks, then the NextN blocks: attention and FFN named like any block (bound by
 * model_bind_decoder over all of them), plus their nextn.* tensors. */
static int deepseek2_bind(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int n_main = hp->n_layer, rc;
    hp->n_layer += hp->n_nextn;
    rc = model_bind_decoder(m, deepseek2_bind_attention, err);
    hp->n_layer = n_main;
    for (int il = n_main; rc == 0 && il < n_main + hp->n_nextn; il++)
        rc = model_bind_nextn(m, il, err);
    return rc;
}

/* MLA caches the compressed latent and the rope key only: (kv_lora_rank + n_rot) per position. */
void deepseek2_kv_shape(const struct infer_model *m, struct arch_kv *kv)
{
    const struct model_hparams *hp = &m->hp;
    kv->k_row = (size_t)hp->kv_lora_rank + hp->n_rot;
    kv->v_row = 0;
    kv->full_row = (size_t)hp->n_head * ((size_t)hp->head_dim + hp->head_dim_v);
    kv->att_dim = hp->kv_lora_rank + hp->n_rot;
}

const struct arch_ops arch_deepseek2_ops = {
    .name = "deepseek2", .experts = ARCH_EXPERTS_ALWAYS, .hparams = deepseek2_hparams,
    .bind = deepseek2_bind, .forward = model_mtp_forward, .attention = deepseek2_attention,
    .embed = model_decoder_embed, .kv_shape = deepseek2_kv_shape,
};
