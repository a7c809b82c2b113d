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
 * model.c). The per-head projections are batched matmuls over the step's tokens. No allocation.
 * Tests: tests/infer/test_conformance.c (deepseek2_lite_*, deepseek2_v3_*). */
#include <string.h>

#include "infer/model.h"

/* The 2-D slice of head h of a (n_head, rows, ne0) tensor. */
static struct model_w head_slice(const struct model_w *w, int h)
{
    struct model_w v = *w;
    v.data = (const uint8_t *)w->data + (size_t)h * (size_t)w->ne[1] * w->row_bytes;
    v.ne[2] = 1;
    return v;
}

void deepseek2_attention(struct infer_session *s, int il, int n, int pos0, int t0)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int e = hp->n_embd, H = hp->n_head, dk = hp->head_dim, R = hp->n_rot, nope = hp->n_nope;
    int C = hp->kv_lora_rank, dv = hp->head_dim_v, CR = C + R;
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->xn + (size_t)t * e, s->x + (size_t)t * e, L->attn_norm.data, e,
                      hp->rms_eps);
    if (L->wq_a.data) {
        int ql = hp->q_lora_rank;
        session_matmul(s, &L->wq_a, s->xn, n, s->q_lat);
        for (int t = 0; t < n; t++)
            model_rmsnorm(s->q_lat + (size_t)t * ql, s->q_lat + (size_t)t * ql, L->q_a_norm.data,
                          ql, hp->rms_eps);
        session_matmul(s, &L->wq_b, s->q_lat, n, s->q);
    } else {
        session_matmul(s, &L->wq, s->xn, n, s->q);
    }
    session_matmul(s, &L->wkv_a, s->xn, n, s->kv_lat);
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cs + (size_t)t * R;
        for (int h = 0; h < H; h++)
            model_rope(s->q + ((size_t)t * H + h) * dk + nope, cs, R, false);
        float *kv = s->kv_lat + (size_t)t * CR;
        model_rope(kv + C, cs, R, false);
        model_rmsnorm(kv, kv, L->kv_a_norm.data, C, hp->rms_eps);
    }
    void *kl = model_cache_layer(s, s->k_cache, il, (size_t)CR);
    model_cache_put(s, kl, (size_t)CR, s->kv_lat, (size_t)CR, CR, n, pos0);
    if (t0 >= n) /* only the cache was needed (last layer, no logits) */
        return;
    int k = n - t0; /* rows whose output is needed */
    /* absorb Wk_b into the queries, head by head over those rows */
    for (int h = 0; h < H; h++) {
        struct model_w wk = head_slice(&L->wk_b, h);
        for (int t = t0; t < n; t++)
            memcpy(s->h_in + (size_t)(t - t0) * nope, s->q + ((size_t)t * H + h) * dk,
                   (size_t)nope * sizeof(float));
        session_matmul(s, &wk, s->h_in, k, s->h_out);
        for (int t = t0; t < n; t++) {
            float *qa = s->q_abs + ((size_t)t * H + h) * CR;
            memcpy(qa, s->h_out + (size_t)(t - t0) * C, (size_t)C * sizeof(float));
            memcpy(qa + C, s->q + ((size_t)t * H + h) * dk + nope, (size_t)R * sizeof(float));
        }
    }
    struct attn_spec a = {
        .q = s->q_abs, .q_tok = (size_t)H * CR, .q_head = (size_t)CR,
        .kc = kl, .k_pos = (size_t)CR, .k_head = 0,
        .vc = kl, .v_pos = (size_t)CR, .v_head = 0, .f32 = s->kv_f32,
        .out = s->o_lat, .o_tok = (size_t)H * C, .o_head = (size_t)C,
        .dk = CR, .dv = C, .n_head = H, .group = H,
        .scale = hp->kq_scale, .n_tok = n, .pos0 = pos0, .t_first = t0,
    };
    model_attention(s, &a);
    /* decompress each head's latent output with Wv_b */
    for (int h = 0; h < H; h++) {
        struct model_w wv = head_slice(&L->wv_b, h);
        for (int t = t0; t < n; t++)
            memcpy(s->h_in + (size_t)(t - t0) * C, s->o_lat + ((size_t)t * H + h) * C,
                   (size_t)C * sizeof(float));
        session_matmul(s, &wv, s->h_in, k, s->h_out);
        for (int t = t0; t < n; t++)
            memcpy(s->att + ((size_t)t * H + h) * dv, s->h_out + (size_t)(t - t0) * dv,
                   (size_t)dv * sizeof(float));
    }
    session_matmul(s, &L->wo, s->att + (size_t)t0 * H * dv, k, s->tmp + (size_t)t0 * e);
    for (size_t i = (size_t)t0 * e; i < (size_t)n * e; i++)
        s->x[i] += s->tmp[i];
}
