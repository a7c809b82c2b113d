/* infer/arch_moe.c: the mixture-of-experts FFN of qwen2moe, qwen3moe, mixtral (llama with
 * experts) and deepseek2, with expert-grouped batching.
 *
 * For T tokens: router logits = xn Wgate_inp (one matmul for the batch); moe_route() picks n_used
 * experts and weights per token; the (token, slot) pairs are bucketed by expert; then for every
 * expert that got any rows, its rows of xn are gathered into a contiguous (rows, n_embd) block and
 * run through the expert's gate/up/down slices as three matmuls (each expert's weights are read
 * once per batch, and during generation only the chosen experts' weights are touched at all); the
 * results, times their weights, go to the slot they came from. Each token's slots are then summed
 * in slot order (best expert first), as llama.cpp sums them. Shared experts: deepseek2 adds their
 * FFN; qwen2moe multiplies it by sigmoid(xn . gate_inp_shexp) first. Selection counts go to
 * s->expert_hits. No allocation. Tests: tests/infer/test_conformance.c, test_moe.c. */
#include <math.h>
#include <string.h>

#include "infer/model.h"
#include "infer/moe.h"

/* The 2-D slice of expert e of a stacked (n_expert, rows, ne0) tensor. */
static struct model_w expert_slice(const struct model_w *w, int e)
{
    struct model_w v = *w;
    v.data = (const uint8_t *)w->data + (size_t)e * (size_t)w->ne[1] * w->row_bytes;
    v.ne[2] = 1;
    return v;
}

void moe_ffn(struct infer_session *s, int il, const float *xn, int n, float *out)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    const struct model_layer *L = &m->layers[il];
    int E = hp->n_expert, K = hp->n_expert_used, d = hp->n_embd, T = s->n_batch;
    float scratch[2 * MOE_MAX_EXPERTS];
    struct moe_router r = {
        .n_expert = E, .n_used = K, .gating = (enum moe_gating)hp->gating,
        .bias = L->exp_probs_b.data, .n_group = hp->n_group, .n_group_used = hp->n_group_used,
        .norm = hp->expert_norm, .scale = hp->expert_scale,
    };
    session_matmul(s, &L->gate_inp, xn, n, s->r_logits);
    memset(s->e_count, 0, (size_t)E * sizeof *s->e_count);
    for (int t = 0; t < n; t++) {
        int32_t *ids = s->r_ids + (size_t)t * K;
        moe_route(&r, s->r_logits + (size_t)t * E, ids, s->r_w + (size_t)t * K, scratch);
        for (int k = 0; k < K; k++) {
            int e = ids[k];
            s->e_rows[(size_t)e * T + s->e_count[e]++] = t * K + k;
            s->expert_hits[(size_t)il * E + e]++;
        }
    }
    for (int e = 0; e < E; e++) {
        int cnt = s->e_count[e];
        const int32_t *rows = s->e_rows + (size_t)e * T;
        if (cnt == 0)
            continue;
        for (int j = 0; j < cnt; j++)
            memcpy(s->e_x + (size_t)j * d, xn + (size_t)(rows[j] / K) * d, (size_t)d * sizeof(float));
        struct model_w g = expert_slice(&L->gate_exps, e), u = expert_slice(&L->up_exps, e);
        struct model_w dn = expert_slice(&L->down_exps, e);
        model_ffn_dense(s, &g, &u, &dn, s->e_x, cnt, s->e_x); /* e_x is consumed before down */
        for (int j = 0; j < cnt; j++) {
            float w = s->r_w[rows[j]];
            float *dst = s->e_out + (size_t)rows[j] * d;
            const float *src = s->e_x + (size_t)j * d;
            for (int i = 0; i < d; i++)
                dst[i] = src[i] * w;
        }
    }
    for (int t = 0; t < n; t++) {
        float *o = out + (size_t)t * d;
        memcpy(o, s->e_out + (size_t)t * K * d, (size_t)d * sizeof(float));
        for (int k = 1; k < K; k++) {
            const float *src = s->e_out + ((size_t)t * K + k) * d;
            for (int i = 0; i < d; i++)
                o[i] += src[i];
        }
    }
    if (!L->gate_shexp.data)
        return;
    model_ffn_dense(s, &L->gate_shexp, &L->up_shexp, &L->down_shexp, xn, n, s->sh_out);
    for (int t = 0; t < n; t++) {
        float gate = 1.0f;
        if (L->gate_inp_shexp.data) {
            const float *gw = L->gate_inp_shexp.data, *x = xn + (size_t)t * d;
            float dot = 0.0f;
            for (int i = 0; i < d; i++)
                dot += gw[i] * x[i];
            gate = 1.0f / (1.0f + expf(-dot));
        }
        float *o = out + (size_t)t * d;
        const float *sh = s->sh_out + (size_t)t * d;
        for (int i = 0; i < d; i++)
            o[i] += sh[i] * gate;
    }
}
