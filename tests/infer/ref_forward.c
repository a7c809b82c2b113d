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
        double th = pos * pow(r->base, -2.0 * i / r->n_rot) * r->fscale;
        int a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = x0 * cos(th) - x1 * sin(th);
        x[b] = x0 * sin(th) + x1 * cos(th);
    }
}

int ref_forward(const struct gguf_file *f, const int32_t *tok, int n, double **logits_out,
                int *n_vocab_out, char *msg, size_t msg_bytes)
{
    struct rm r;
    const char *s;
    size_t sl;
    memset(&r, 0, sizeof r);
    r.f = f;
    if (!gguf_get_str(f, "general.architecture", &s, &sl) || sl >= sizeof r.arch) {
        snprintf(msg, msg_bytes, "no architecture");
        return -1;
    }
    memcpy(r.arch, s, sl);
    if (strcmp(r.arch, "llama") && strcmp(r.arch, "qwen2") && strcmp(r.arch, "qwen3")) {
        snprintf(msg, msg_bytes, "reference does not handle '%s'", r.arch);
        return -1;
    }
    r.neox = strcmp(r.arch, "llama") != 0;
    r.n_embd = key_u32(&r, "embedding_length", 0);
    r.n_layer = key_u32(&r, "block_count", 0);
    r.n_head = key_u32(&r, "attention.head_count", 0);
    r.n_kv = key_u32(&r, "attention.head_count_kv", r.n_head);
    r.hd = key_u32(&r, "attention.key_length", r.n_embd / r.n_head);
    r.hdv = key_u32(&r, "attention.value_length", r.hd);
    r.n_ff = key_u32(&r, "feed_forward_length", 0);
    r.n_rot = key_u32(&r, "rope.dimension_count", r.hd);
    r.eps = key_f32(&r, "attention.layer_norm_rms_epsilon", 1e-5);
    r.base = key_f32(&r, "rope.freq_base", 10000.0);
    double factor = key_f32(&r, "rope.scaling.factor", 0.0);
    r.fscale = factor > 0 ? 1.0 / factor : 1.0;
    const struct gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    r.n_vocab = (int)te->ne[1];

    int E = r.n_embd, NQ = r.n_head * r.hd, NK = r.n_kv * r.hd, NV = r.n_kv * r.hdv;
    int NO = r.n_head * r.hdv, V = r.n_vocab;
    double *emb = deq(f, "token_embd.weight");
    double *x = calloc((size_t)n * E, sizeof *x), *xn = calloc((size_t)E, sizeof *xn);
    double *q = calloc((size_t)n * NQ, sizeof *q), *k = calloc((size_t)n * NK, sizeof *k);
    double *v = calloc((size_t)n * NV, sizeof *v), *att = calloc((size_t)NO, sizeof *att);
    double *tmp = calloc((size_t)E, sizeof *tmp), *sc = calloc((size_t)n, sizeof *sc);
    double *g = calloc((size_t)r.n_ff, sizeof *g), *u = calloc((size_t)r.n_ff, sizeof *u);
    for (int t = 0; t < n; t++)
        memcpy(x + (size_t)t * E, emb + (size_t)tok[t] * E, (size_t)E * sizeof *x);
    for (int il = 0; il < r.n_layer; il++) {
        double *an = deq_blk(f, il, "attn_norm.weight"), *wq = deq_blk(f, il, "attn_q.weight");
        double *wk = deq_blk(f, il, "attn_k.weight"), *wv = deq_blk(f, il, "attn_v.weight");
        double *wo = deq_blk(f, il, "attn_output.weight");
        double *bq = deq_blk(f, il, "attn_q.bias"), *bk = deq_blk(f, il, "attn_k.bias");
        double *bv = deq_blk(f, il, "attn_v.bias"), *bo = deq_blk(f, il, "attn_output.bias");
        double *qn = deq_blk(f, il, "attn_q_norm.weight"), *kn = deq_blk(f, il, "attn_k_norm.weight");
        double *fn = deq_blk(f, il, "ffn_norm.weight"), *wg = deq_blk(f, il, "ffn_gate.weight");
        double *wu = deq_blk(f, il, "ffn_up.weight"), *wd = deq_blk(f, il, "ffn_down.weight");
        for (int t = 0; t < n; t++) {
            rms(xn, x + (size_t)t * E, an, E, r.eps);
            mv_t(q + (size_t)t * NQ, wq, blk_type(f, il, "attn_q.weight"), bq, xn, E, NQ);
            mv_t(k + (size_t)t * NK, wk, blk_type(f, il, "attn_k.weight"), bk, xn, E, NK);
            mv_t(v + (size_t)t * NV, wv, blk_type(f, il, "attn_v.weight"), bv, xn, E, NV);
            for (int h = 0; h < r.n_head; h++) {
                double *qh = q + (size_t)t * NQ + (size_t)h * r.hd;
                if (qn)
                    rms(qh, qh, qn, r.hd, r.eps);
                rope(qh, t, &r);
            }
            for (int h = 0; h < r.n_kv; h++) {
                double *kh = k + (size_t)t * NK + (size_t)h * r.hd;
                if (kn)
                    rms(kh, kh, kn, r.hd, r.eps);
                rope(kh, t, &r);
            }
        }
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < r.n_head; h++) {
                int kvh = h / (r.n_head / r.n_kv);
                const double *qh = q + (size_t)t * NQ + (size_t)h * r.hd;
                double mx = -INFINITY, sum = 0;
                for (int p = 0; p <= t; p++) {
                    double d = 0;
                    for (int i = 0; i < r.hd; i++)
                        d += qh[i] * k[(size_t)p * NK + (size_t)kvh * r.hd + i];
                    sc[p] = d / sqrt((double)r.hd);
                    mx = fmax(mx, sc[p]);
                }
                for (int p = 0; p <= t; p++)
                    sum += (sc[p] = exp(sc[p] - mx));
                for (int i = 0; i < r.hdv; i++) {
                    double a = 0;
                    for (int p = 0; p <= t; p++)
                        a += sc[p] / sum * v[(size_t)p * NV + (size_t)kvh * r.hdv + i];
                    att[(size_t)h * r.hdv + i] = a;
                }
            }
            mv_t(tmp, wo, blk_type(f, il, "attn_output.weight"), bo, att, NO, E);
            for (int i = 0; i < E; i++)
                x[(size_t)t * E + i] += tmp[i];
        }
        for (int t = 0; t < n; t++) {
            double *xt = x + (size_t)t * E;
            rms(xn, xt, fn, E, r.eps);
            mv_t(g, wg, blk_type(f, il, "ffn_gate.weight"), NULL, xn, E, r.n_ff);
            mv_t(u, wu, blk_type(f, il, "ffn_up.weight"), NULL, xn, E, r.n_ff);
            for (int i = 0; i < r.n_ff; i++)
                g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            mv_t(tmp, wd, blk_type(f, il, "ffn_down.weight"), NULL, g, r.n_ff, E);
            for (int i = 0; i < E; i++)
                xt[i] += tmp[i];
        }
        double *all[] = {an, wq, wk, wv, wo, bq, bk, bv, bo, qn, kn, fn, wg, wu, wd};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            free(all[i]);
    }
    const struct gguf_tensor *to = gguf_find_tensor(f, "output.weight");
    int out_type = to ? to->type : te->type;
    double *on = deq(f, "output_norm.weight"), *wout = deq(f, "output.weight");
    double *lg = malloc((size_t)n * V * sizeof *lg);
    for (int t = 0; t < n; t++) {
        rms(xn, x + (size_t)t * E, on, E, r.eps);
        mv_t(lg + (size_t)t * V, wout ? wout : emb, out_type, NULL, xn, E, V);
    }
    free(on);
    free(wout);
    free(emb);
    free(x);
    free(xn);
    free(q);
    free(k);
    free(v);
    free(att);
    free(tmp);
    free(sc);
    free(g);
    free(u);
    *logits_out = lg;
    *n_vocab_out = V;
    return 0;
}
