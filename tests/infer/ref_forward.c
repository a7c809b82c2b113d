/* tests/infer/ref_forward.c: the double-precision reference forward pass (see ref_forward.h).
 * Deliberately naive: whole tensors are dequantized to double, attention is recomputed over the
 * whole sequence, nothing is shared with infer/'s forward pass except the GGUF reader and the
 * scalar dequantizers (the specification of each type). */
#include "ref_forward.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/kern.h"

struct rm {
    const struct gguf_file *f;
    char arch[32];
    int n_embd, n_layer, n_head, n_kv, hd, hdv, n_ff, n_rot, n_vocab;
    double eps, base, fscale;
    bool neox;
    /* YaRN (deepseek2) */
    bool yarn;
    double corr0, corr1, kq_scale;
    /* experts */
    int n_expert, n_used, n_ff_exp, n_dense_lead, gating, n_group, n_group_used;
    bool norm_w;
    double w_scale;
    /* MLA */
    bool mla;
    int q_lora, kv_lora, nope;
};

static int key_u32(const struct rm *r, const char *k, int def)
{
    char full[128];
    uint32_t v;
    snprintf(full, sizeof full, "%s.%s", r->arch, k);
    return gguf_get_u32(r->f, full, &v) ? (int)v : def;
}

static double key_f32(const struct rm *r, const char *k, double def)
{
    char full[128];
    float v;
    snprintf(full, sizeof full, "%s.%s", r->arch, k);
    return gguf_get_f32(r->f, full, &v) ? v : def;
}


/* The whole tensor as doubles (ne[0]*ne[1] values), or NULL when absent. */
static double *deq(const struct gguf_file *f, const char *name)
{
    const struct gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t)
        return NULL;
    int64_t row = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = ggml_row_bytes(t->type, row);
    double *out = malloc((size_t)(row * rows) * sizeof *out);
    float *tmp = malloc((size_t)row * sizeof *tmp);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *p = (const uint8_t *)t->data + (size_t)r * rb;
        if (t->type == GGML_TYPE_F32)
            memcpy(tmp, p, (size_t)row * sizeof *tmp);
        else
            kern_ref_ops()->dequant[t->type](p, tmp, row);
        for (int64_t i = 0; i < row; i++)
            out[r * row + i] = tmp[i];
    }
    free(tmp);
    return out;
}

static int blk_type(const struct gguf_file *f, int il, const char *suffix)
{
    char nm[96];
    snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);
    const struct gguf_tensor *t = gguf_find_tensor(f, nm);
    return t ? t->type : GGML_TYPE_F32;
}

static double *deq_blk(const struct gguf_file *f, int il, const char *suffix)
{
    char nm[96];
    snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);
    return deq(f, nm);
}

/* The activation row as a matmul against a weight of type wt sees it: llama.cpp rounds it to the
 * weight type's vec_dot_type first (Q8_0, Q8_1, Q8_K, F16, BF16); F32 weights see it unchanged
 * (up to float). xa gets the rounded values. */
static void act(double *xa, const double *x, int n, int wt)
{
    float *xf = malloc((size_t)n * sizeof *xf);
    for (int i = 0; i < n; i++)
        xf[i] = (float)x[i];
    int vt = wt == GGML_TYPE_F32 ? GGML_TYPE_F32 : kern_ref_ops()->vec_dot_type[wt];
    if (vt != GGML_TYPE_F32) {
        void *q = malloc(ggml_row_bytes(vt, n));
        kern_ref_ops()->quant[vt](xf, q, n);
        kern_ref_ops()->dequant[vt](q, xf, n);
        free(q);
    }
    for (int i = 0; i < n; i++)
        xa[i] = xf[i];
    free(xf);
}

/* y[o] = sum_i W[o][i] x[i] (+ b[o]); W is (n_out rows of n_in) of file type wt. */
static void mv_t(double *y, const double *W, int wt, const double *b, const double *x0, int n_in,
                 int n_out)
{
    double *x = malloc((size_t)n_in * sizeof *x);
    act(x, x0, n_in, ref_emulate_act ? wt : GGML_TYPE_F32);
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++)
            s += W[(size_t)o * n_in + i] * x[i];
        y[o] = s + (b ? b[o] : 0.0);
    }
    free(x);
}

bool ref_emulate_act = false;

static void rms(double *y, const double *x, const double *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * sc * w[i];
}

static void rope(double *x, int pos, const struct rm *r)
{
    int half = r->n_rot / 2;
    for (int i = 0; i < half; i++) {
        double ex = pos * pow(r->base, -2.0 * i / r->n_rot), th = ex * r->fscale;
        if (r->yarn) { /* YaRN: extrapolate the fast pairs, interpolate the slow ones, ramp between */
            double y = (i - r->corr0) / fmax(0.001, r->corr1 - r->corr0);
            double mix = 1.0 - fmin(1.0, fmax(0.0, y));
            th = th * (1 - mix) + ex * mix;
        }
        int a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = x0 * cos(th) - x1 * sin(th);
        x[b] = x0 * sin(th) + x1 * cos(th);
    }
}

/* dense SiLU-gated FFN of one row: out = (silu(x G) * (x U)) D; G/U (ff x e), D (e x ff) */
static void ffn_row(double *out, const double *G, int tg, const double *U, int tu, const double *D,
                    int td, const double *x, int e, int ff)
{
    double *g = calloc((size_t)ff, sizeof *g), *u = calloc((size_t)ff, sizeof *u);
    mv_t(g, G, tg, NULL, x, e, ff);
    mv_t(u, U, tu, NULL, x, e, ff);
    for (int i = 0; i < ff; i++)
        g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
    mv_t(out, D, td, NULL, g, ff, e);
    free(g);
    free(u);
}

/* The MoE FFN of one row, written from the routing rules directly: probabilities, selection
 * with bias and groups, weights from the probabilities, normalise, scale, weighted sum, shared
 * experts (qwen2moe: sigmoid-gated). */
static void moe_row(const struct rm *r, int il, double *out, const double *x)
{
    const struct gguf_file *f = r->f;
    int e = r->n_embd, E = r->n_expert, ff = r->n_ff_exp;
    double *gi = deq_blk(f, il, "ffn_gate_inp.weight"), *bias = deq_blk(f, il, "exp_probs_b.bias");
    double *p = calloc((size_t)E, sizeof *p), *sel = calloc((size_t)E, sizeof *sel);
    double *tmp = calloc((size_t)e, sizeof *tmp);
    bool *used = calloc((size_t)E, sizeof *used), *allowed = calloc((size_t)E, sizeof *allowed);
    mv_t(p, gi, blk_type(f, il, "ffn_gate_inp.weight"), NULL, x, e, E);
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < E; i++)
        mx = fmax(mx, p[i]);
    for (int i = 0; i < E; i++)
        z += r->gating == 2 ? 0 : exp(p[i] - mx);
    for (int i = 0; i < E; i++) {
        p[i] = r->gating == 2 ? 1 / (1 + exp(-p[i])) : exp(p[i] - mx) / z;
        sel[i] = p[i] + (bias ? bias[i] : 0);
        allowed[i] = true;
    }
    if (r->n_group > 1 && r->n_group_used < r->n_group) {
        int per = E / r->n_group;
        double gs[64];
        bool keep[64] = {false};
        for (int g = 0; g < r->n_group; g++) {
            double b1 = -INFINITY, b2 = -INFINITY;
            for (int i = g * per; i < (g + 1) * per; i++)
                if (sel[i] > b1) {
                    b2 = b1;
                    b1 = sel[i];
                } else if (sel[i] > b2)
                    b2 = sel[i];
            gs[g] = b1 + b2;
        }
        for (int k = 0; k < r->n_group_used; k++) {
            int b = -1;
            for (int g = 0; g < r->n_group; g++)
                if (!keep[g] && (b < 0 || gs[g] > gs[b]))
                    b = g;
            keep[b] = true;
        }
        for (int i = 0; i < E; i++)
            allowed[i] = keep[i / per];
    }
    int ids[64];
    double w[64], wsum = 0;
    for (int k = 0; k < r->n_used; k++) {
        int b = -1;
        for (int i = 0; i < E; i++)
            if (allowed[i] && !used[i] && (b < 0 || sel[i] > sel[b]))
                b = i;
        used[b] = true;
        ids[k] = b;
        w[k] = p[b];
        wsum += w[k];
    }
    double *G = deq_blk(f, il, "ffn_gate_exps.weight"), *U = deq_blk(f, il, "ffn_up_exps.weight");
    double *D = deq_blk(f, il, "ffn_down_exps.weight");
    int tg = blk_type(f, il, "ffn_gate_exps.weight"), tu = blk_type(f, il, "ffn_up_exps.weight");
    int td = blk_type(f, il, "ffn_down_exps.weight");
    memset(out, 0, (size_t)e * sizeof *out);
    for (int k = 0; k < r->n_used; k++) {
        double wk = r->norm_w ? w[k] / fmax(wsum, 6.103515625e-5) : w[k];
        if (r->w_scale != 0)
            wk *= r->w_scale;
        size_t ex = (size_t)ids[k];
        ffn_row(tmp, G + ex * ff * e, tg, U + ex * ff * e, tu, D + ex * e * ff, td, x, e, ff);
        for (int i = 0; i < e; i++)
            out[i] += wk * tmp[i];
    }
    double *sg = deq_blk(f, il, "ffn_gate_shexp.weight"), *su = deq_blk(f, il, "ffn_up_shexp.weight");
    double *sd = deq_blk(f, il, "ffn_down_shexp.weight");
    double *sgate = deq_blk(f, il, "ffn_gate_inp_shexp.weight");
    if (sg) {
        const struct gguf_tensor *t;
        char nm[96];
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_shexp.weight", il);
        t = gguf_find_tensor(f, nm);
        int ffs = (int)t->ne[1];
        ffn_row(tmp, sg, t->type, su, blk_type(f, il, "ffn_up_shexp.weight"), sd,
                blk_type(f, il, "ffn_down_shexp.weight"), x, e, ffs);
        double gate = 1;
        if (sgate) {
            double d = 0;
            for (int i = 0; i < e; i++)
                d += sgate[i] * x[i];
            gate = 1 / (1 + exp(-d));
        }
        for (int i = 0; i < e; i++)
            out[i] += gate * tmp[i];
    }
    double *all[] = {gi, bias, p, sel, tmp, G, U, D, sg, su, sd, sgate};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(used);
    free(allowed);
}

/* MLA in its decompressed form (independent of the engine's absorbed form): per token the latent
 * c = rmsnorm([x Wkv_a][:C]), k_pe = rope(x Wkv_a [C:]); per head k = [Wk_b^T c ; k_pe],
 * v = Wv_b c, q = [q_nope ; rope(q_pe)]. Fills q (n, H*dk), k (n, H*dk), v (n, H*dv). */
static void mla_qkv(const struct rm *r, int il, const double *xn, int t, double *q, double *k,
                    double *v)
{
    const struct gguf_file *f = r->f;
    int e = r->n_embd, H = r->n_head, dk = r->hd, dv = r->hdv, C = r->kv_lora, R = r->n_rot;
    int nope = r->nope;
    if (r->q_lora > 0) {
        double *qa = deq_blk(f, il, "attn_q_a.weight"), *qn = deq_blk(f, il, "attn_q_a_norm.weight");
        double *qb = deq_blk(f, il, "attn_q_b.weight"), *lat = calloc((size_t)r->q_lora, sizeof *lat);
        mv_t(lat, qa, blk_type(f, il, "attn_q_a.weight"), NULL, xn, e, r->q_lora);
        rms(lat, lat, qn, r->q_lora, r->eps);
        mv_t(q, qb, blk_type(f, il, "attn_q_b.weight"), NULL, lat, r->q_lora, H * dk);
        free(qa);
        free(qn);
        free(qb);
        free(lat);
    } else {
        double *wq = deq_blk(f, il, "attn_q.weight");
        mv_t(q, wq, blk_type(f, il, "attn_q.weight"), NULL, xn, e, H * dk);
        free(wq);
    }
    double *wa = deq_blk(f, il, "attn_kv_a_mqa.weight"), *an = deq_blk(f, il, "attn_kv_a_norm.weight");
    double *kb = deq_blk(f, il, "attn_k_b.weight"), *vb = deq_blk(f, il, "attn_v_b.weight");
    double *ckv = calloc((size_t)(C + R), sizeof *ckv);
    mv_t(ckv, wa, blk_type(f, il, "attn_kv_a_mqa.weight"), NULL, xn, e, C + R);
    rms(ckv, ckv, an, C, r->eps);
    rope(ckv + C, t, r);
    for (int h = 0; h < H; h++) {
        rope(q + (size_t)h * dk + nope, t, r);
        for (int i = 0; i < nope; i++) { /* wk_b[h] is (C rows of nope) */
            double a = 0;
            for (int c = 0; c < C; c++)
                a += kb[((size_t)h * C + c) * nope + i] * ckv[c];
            k[(size_t)h * dk + i] = a;
        }
        memcpy(k + (size_t)h * dk + nope, ckv + C, (size_t)R * sizeof *k);
        for (int j = 0; j < dv; j++) { /* wv_b[h] is (dv rows of C) */
            double a = 0;
            for (int c = 0; c < C; c++)
                a += vb[((size_t)h * dv + j) * C + c] * ckv[c];
            v[(size_t)h * dv + j] = a;
        }
    }
    free(wa);
    free(an);
    free(kb);
    free(vb);
    free(ckv);
}

/* The hyperparameters of f into r (-1 with a message for what the reference does not handle). */
static int ref_hparams(struct rm *r, const struct gguf_file *f, char *msg, size_t msg_bytes)
{
    const char *s;
    size_t sl;
    memset(r, 0, sizeof *r);
    r->f = f;
    if (!gguf_get_str(f, "general.architecture", &s, &sl) || sl >= sizeof r->arch) {
        snprintf(msg, msg_bytes, "no architecture");
        return -1;
    }
    memcpy(r->arch, s, sl);
    if (strcmp(r->arch, "llama") && strcmp(r->arch, "qwen2") && strcmp(r->arch, "qwen3") &&
        strcmp(r->arch, "qwen2moe") && strcmp(r->arch, "qwen3moe") && strcmp(r->arch, "deepseek2")) {
        snprintf(msg, msg_bytes, "reference does not handle '%s'", r->arch);
        return -1;
    }
    r->mla = strcmp(r->arch, "deepseek2") == 0;
    r->neox = strcmp(r->arch, "llama") != 0 && !r->mla;
    r->n_embd = key_u32(r, "embedding_length", 0);
    r->n_layer = key_u32(r, "block_count", 0);
    r->n_head = key_u32(r, "attention.head_count", 0);
    r->n_kv = key_u32(r, "attention.head_count_kv", r->n_head);
    r->hd = key_u32(r, "attention.key_length", r->n_embd / r->n_head);
    r->hdv = key_u32(r, "attention.value_length", r->hd);
    r->n_ff = key_u32(r, "feed_forward_length", 0);
    r->n_rot = key_u32(r, "rope.dimension_count", r->hd);
    r->eps = key_f32(r, "attention.layer_norm_rms_epsilon", 1e-5);
    r->base = key_f32(r, "rope.freq_base", 10000.0);
    double factor = key_f32(r, "rope.scaling.factor", 0.0);
    r->fscale = factor > 0 ? 1.0 / factor : 1.0;
    r->kq_scale = 1.0 / sqrt((double)r->hd);
    {
        char full[128];
        snprintf(full, sizeof full, "%s.rope.scaling.type", r->arch);
        r->yarn = gguf_get_str(f, full, &s, &sl) && sl == 4 && memcmp(s, "yarn", 4) == 0;
    }
    r->n_expert = key_u32(r, "expert_count", 0);
    r->n_used = key_u32(r, "expert_used_count", 0);
    r->n_ff_exp = key_u32(r, "expert_feed_forward_length", r->n_ff);
    r->n_dense_lead = key_u32(r, "leading_dense_block_count", 0);
    r->gating = key_u32(r, "expert_gating_func", 1);
    r->n_group = key_u32(r, "expert_group_count", 0);
    r->n_group_used = key_u32(r, "expert_group_used_count", 0);
    r->w_scale = r->mla ? key_f32(r, "expert_weights_scale", 0.0) : 0.0;
    {
        char full[128];
        bool b = false;
        snprintf(full, sizeof full, "%s.expert_weights_norm", r->arch);
        r->norm_w = r->mla ? gguf_get_bool(f, full, &b) && b
                         : strcmp(r->arch, "qwen2moe") != 0; /* llama (mixtral), qwen3moe */
    }
    if (r->mla) {
        int C = key_u32(r, "attention.kv_lora_rank", 0);
        r->kv_lora = C;
        r->q_lora = key_u32(r, "attention.q_lora_rank", 0);
        r->hd = key_u32(r, "attention.key_length_mla", 0);
        r->hdv = key_u32(r, "attention.value_length_mla", 0);
        r->nope = r->hd - r->n_rot;
        r->n_kv = r->n_head; /* decompressed: one k/v per query head */
        double orig = key_u32(r, "rope.scaling.original_context_length", 4096);
        double lm = key_f32(r, "rope.scaling.yarn_log_multiplier", 0.0);
        double ms = r->yarn ? 1.0 + lm * log(1.0 / r->fscale) : 1.0;
        r->kq_scale = ms * ms / sqrt((double)r->hd);
        r->corr0 = fmax(0.0, floor(r->n_rot * log(orig / (32 * 2 * M_PI)) / (2 * log(r->base))));
        r->corr1 = fmin(r->n_rot - 1, ceil(r->n_rot * log(orig / (1 * 2 * M_PI)) / (2 * log(r->base))));
    } else if (r->yarn) {
        snprintf(msg, msg_bytes, "reference handles YaRN only for deepseek2");
        return -1;
    }
    r->n_vocab = (int)gguf_find_tensor(f, "token_embd.weight")->ne[1];
    return 0;
}

/* The activations of the whole sequence (n tokens), in double. */
struct ref_bufs {
    double *x;   /* (n, E) residual stream */
    double *xn;  /* (E) */
    double *q;   /* (n, n_head * hd) */
    double *k;   /* (n, n_kv * hd) */
    double *v;   /* (n, n_kv * hdv) */
    double *att; /* (n_head * hdv) */
    double *tmp; /* (E) */
    double *sc;  /* (n) */
    double *g, *u; /* (n_ff) */
};

/* Dense q, k, v of every token: projections (+ biases), qwen3's per-head norms, rope. */
static void ref_qkv(const struct rm *r, int il, const double *an, struct ref_bufs *b, int n)
{
    const struct gguf_file *f = r->f;
    int E = r->n_embd, NQ = r->n_head * r->hd, NK = r->n_kv * r->hd, NV = r->n_kv * r->hdv;
    double *wq = deq_blk(f, il, "attn_q.weight"), *wk = deq_blk(f, il, "attn_k.weight");
    double *wv = deq_blk(f, il, "attn_v.weight");
    double *bq = deq_blk(f, il, "attn_q.bias"), *bk = deq_blk(f, il, "attn_k.bias");
    double *bv = deq_blk(f, il, "attn_v.bias");
    double *qn = deq_blk(f, il, "attn_q_norm.weight"), *kn = deq_blk(f, il, "attn_k_norm.weight");
    for (int t = 0; t < n; t++) {
        rms(b->xn, b->x + (size_t)t * E, an, E, r->eps);
        mv_t(b->q + (size_t)t * NQ, wq, blk_type(f, il, "attn_q.weight"), bq, b->xn, E, NQ);
        mv_t(b->k + (size_t)t * NK, wk, blk_type(f, il, "attn_k.weight"), bk, b->xn, E, NK);
        mv_t(b->v + (size_t)t * NV, wv, blk_type(f, il, "attn_v.weight"), bv, b->xn, E, NV);
        for (int h = 0; h < r->n_head; h++) {
            double *qh = b->q + (size_t)t * NQ + (size_t)h * r->hd;
            if (qn)
                rms(qh, qh, qn, r->hd, r->eps);
            rope(qh, t, r);
        }
        for (int h = 0; h < r->n_kv; h++) {
            double *kh = b->k + (size_t)t * NK + (size_t)h * r->hd;
            if (kn)
                rms(kh, kh, kn, r->hd, r->eps);
            rope(kh, t, r);
        }
    }
    double *all[] = {wq, wk, wv, bq, bk, bv, qn, kn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* Causal softmax attention of every token over q, k, v, then Wo (+ bo) added into x. */
static void ref_attention(const struct rm *r, int il, struct ref_bufs *b, int n)
{
    const struct gguf_file *f = r->f;
    int E = r->n_embd, NQ = r->n_head * r->hd, NK = r->n_kv * r->hd, NV = r->n_kv * r->hdv;
    int NO = r->n_head * r->hdv;
    double *wo = deq_blk(f, il, "attn_output.weight"), *bo = deq_blk(f, il, "attn_output.bias");
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < r->n_head; h++) {
            int kvh = h / (r->n_head / r->n_kv);
            const double *qh = b->q + (size_t)t * NQ + (size_t)h * r->hd;
            double mx = -INFINITY, sum = 0;
            for (int p = 0; p <= t; p++) {
                double d = 0;
                for (int i = 0; i < r->hd; i++)
                    d += qh[i] * b->k[(size_t)p * NK + (size_t)kvh * r->hd + i];
                b->sc[p] = d * r->kq_scale;
                mx = fmax(mx, b->sc[p]);
            }
            for (int p = 0; p <= t; p++)
                sum += (b->sc[p] = exp(b->sc[p] - mx));
            for (int i = 0; i < r->hdv; i++) {
                double a = 0;
                for (int p = 0; p <= t; p++)
                    a += b->sc[p] / sum * b->v[(size_t)p * NV + (size_t)kvh * r->hdv + i];
                b->att[(size_t)h * r->hdv + i] = a;
            }
        }
        mv_t(b->tmp, wo, blk_type(f, il, "attn_output.weight"), bo, b->att, NO, E);
        for (int i = 0; i < E; i++)
            b->x[(size_t)t * E + i] += b->tmp[i];
    }
    free(wo);
    free(bo);
}

/* The FFN sublayer of every token: rmsnorm, then SwiGLU or the experts, added into x. */
static void ref_ffn(const struct rm *r, int il, struct ref_bufs *b, int n)
{
    const struct gguf_file *f = r->f;
    int E = r->n_embd;
    double *fn = deq_blk(f, il, "ffn_norm.weight"), *wg = deq_blk(f, il, "ffn_gate.weight");
    double *wu = deq_blk(f, il, "ffn_up.weight"), *wd = deq_blk(f, il, "ffn_down.weight");
    for (int t = 0; t < n; t++) {
        double *xt = b->x + (size_t)t * E;
        rms(b->xn, xt, fn, E, r->eps);
        if (r->n_expert > 0 && il >= r->n_dense_lead) {
            moe_row(r, il, b->tmp, b->xn);
        } else {
            mv_t(b->g, wg, blk_type(f, il, "ffn_gate.weight"), NULL, b->xn, E, r->n_ff);
            mv_t(b->u, wu, blk_type(f, il, "ffn_up.weight"), NULL, b->xn, E, r->n_ff);
            for (int i = 0; i < r->n_ff; i++)
                b->g[i] = b->g[i] / (1.0 + exp(-b->g[i])) * b->u[i];
            mv_t(b->tmp, wd, blk_type(f, il, "ffn_down.weight"), NULL, b->g, r->n_ff, E);
        }
        for (int i = 0; i < E; i++)
            xt[i] += b->tmp[i];
    }
    double *all[] = {fn, wg, wu, wd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

int ref_forward(const struct gguf_file *f, const int32_t *tok, int n, double **logits_out,
                int *n_vocab_out, char *msg, size_t msg_bytes)
{
    struct rm r;
    struct ref_bufs b;
    if (ref_hparams(&r, f, msg, msg_bytes))
        return -1;
    const struct gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    int E = r.n_embd, NQ = r.n_head * r.hd, NK = r.n_kv * r.hd, NV = r.n_kv * r.hdv;
    int NO = r.n_head * r.hdv, V = r.n_vocab;
    double *emb = deq(f, "token_embd.weight");
    b.x = calloc((size_t)n * E, sizeof *b.x);
    b.xn = calloc((size_t)E, sizeof *b.xn);
    b.q = calloc((size_t)n * NQ, sizeof *b.q);
    b.k = calloc((size_t)n * NK, sizeof *b.k);
    b.v = calloc((size_t)n * NV, sizeof *b.v);
    b.att = calloc((size_t)NO, sizeof *b.att);
    b.tmp = calloc((size_t)E, sizeof *b.tmp);
    b.sc = calloc((size_t)n, sizeof *b.sc);
    b.g = calloc((size_t)r.n_ff, sizeof *b.g);
    b.u = calloc((size_t)r.n_ff, sizeof *b.u);
    for (int t = 0; t < n; t++)
        memcpy(b.x + (size_t)t * E, emb + (size_t)tok[t] * E, (size_t)E * sizeof *b.x);
    for (int il = 0; il < r.n_layer; il++) {
        double *an = deq_blk(f, il, "attn_norm.weight");
        for (int t = 0; t < n && r.mla; t++) {
            rms(b.xn, b.x + (size_t)t * E, an, E, r.eps);
            mla_qkv(&r, il, b.xn, t, b.q + (size_t)t * NQ, b.k + (size_t)t * NK, b.v + (size_t)t * NV);
        }
        if (!r.mla)
            ref_qkv(&r, il, an, &b, n);
        ref_attention(&r, il, &b, n);
        ref_ffn(&r, il, &b, n);
        free(an);
    }
    const struct gguf_tensor *to = gguf_find_tensor(f, "output.weight");
    int out_type = to ? to->type : te->type;
    double *on = deq(f, "output_norm.weight"), *wout = deq(f, "output.weight");
    double *lg = malloc((size_t)n * V * sizeof *lg);
    for (int t = 0; t < n; t++) {
        rms(b.xn, b.x + (size_t)t * E, on, E, r.eps);
        mv_t(lg + (size_t)t * V, wout ? wout : emb, out_type, NULL, b.xn, E, V);
    }
    double *all[] = {on, wout, emb, b.x, b.xn, b.q, b.k, b.v, b.att, b.tmp, b.sc, b.g, b.u};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    *logits_out = lg;
    *n_vocab_out = V;
    return 0;
}
