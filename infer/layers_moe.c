/* infer/layers_moe.c: the mixture-of-experts FFN layer of qwen2moe, qwen3moe, mixtral (llama with
 * experts), deepseek2 and gpt-oss, with expert-grouped batching. gpt-oss adds a router bias to the
 * logits, per-expert gate/up biases before its clamped SwiGLU (model_glu, layers.h) and a down bias
 * before the weighting; the three paths below apply them in the same places.
 *
 * For T tokens: router logits = xn Wgate_inp (one matmul for the batch); moe_route() picks n_used
 * experts and weights per token; the (token, slot) pairs are bucketed by expert; then for every
 * expert that got any rows, its rows of xn are gathered into a contiguous (rows, n_embd) block and
 * run through the expert's gate/up/down slices as three matmuls (each expert's weights are read
 * once per batch, and during generation only the chosen experts' weights are touched at all); the
 * results, times their weights, go to the slot they came from. Each token's slots are then summed
 * in slot order (best expert first), as llama.cpp sums them. Shared experts: deepseek2 adds their
 * FFN; qwen2moe multiplies it by sigmoid(xn . gate_inp_shexp) first. Selection counts go to
 * s->expert_hits. No allocation.
 * Three paths compute those same values: one token (generation) sends all its experts' products
 * through two pool dispatches (moe_gen); a batch whose scratch allows it gathers quantized rows and
 * sums in parallel (moe_batch); otherwise the plain per-expert loop below. Pool hand-offs are what
 * 2 threads pay for, so the one-token paths keep them few (also model_matvec_multi for MLA).
 * Tests: tests/infer/test_conformance.c, test_ref_forward.c (batch vs token by token: equal),
 * test_moe.c. */
#include <math.h>
#include <string.h>

#include "infer/layers.h"
#include "infer/moe.h"

/* ---- one-dispatch matrix-vector products (generation) ---------------------------------------------
 * A token in generation needs many small products: 6 experts x (gate, up, down) plus the shared
 * experts, 16 heads x (Wk_b, Wv_b) in MLA. One pool hand-off each would leave 2 threads mostly
 * waiting on each other, so they go out as ONE kern_pool_for_span whose items are (product, block
 * of rows) pairs of about MV_ITEM_BYTES of weights; a thread takes up to MV_BITE items of its own
 * range at once and runs each product's part of them as one block of rows (a gate/up block reads
 * its gate rows, then its up rows: every jump between tensors restarts a read stream, so blocks
 * stay long), while the last items go singly, so the threads finish together (with 1 MB items
 * claimed one at a time the caller waited about half an item at the end of every dispatch). The
 * activation of each product is quantized once beforehand (model_mv_quant). Results land in
 * disjoint rows: no races. */
#define MV_ITEM_BYTES (128 * 1024)
#define MV_BITE 8

static int mv_vdt(int w_type)
{
    return kern.vec_dot_type[w_type];
}

size_t model_mv_quant_bytes(int w_type, int64_t n)
{
    int vdt = mv_vdt(w_type);
    return vdt == GGML_TYPE_F32 ? 0 : (ggml_row_bytes(vdt, n) + 63) & ~(size_t)63;
}

const void *model_mv_quant(int w_type, const float *x, int64_t n, uint8_t **buf)
{
    int vdt = mv_vdt(w_type);
    if (vdt == GGML_TYPE_F32)
        return x;
    void *dst = *buf;
    kern.quant[vdt](x, dst, n);
    *buf += model_mv_quant_bytes(w_type, n);
    return dst;
}

/* Rows per item for a weight of row_bytes bytes: about MV_ITEM_BYTES, a multiple of 4. */
static int64_t mv_rows(size_t row_bytes)
{
    int64_t r = (int64_t)(MV_ITEM_BYTES / (row_bytes ? row_bytes : 1));
    return r < 4 ? 4 : r & ~(int64_t)3;
}

struct mv_job {
    const struct model_mv *mv;
    int n;
    int64_t first[MODEL_MV_MAX + 1]; /* first item of each product; first[n] = total */
    int64_t rows[MODEL_MV_MAX];
};

/* The product whose items hold item c, product k owning items [first[k], first[k + 1]) (products
 * are few: a linear scan). */
static int span_product(const int64_t *first, int64_t c)
{
    int k = 0;
    while (c >= first[k + 1])
        k++;
    return k;
}

/* Product k's part of items [c0, c1) (c0 among its items), `rows` rows an item out of n_rows:
 * its rows [*r0, *r1); returns the first item past that part. */
static int64_t span_rows(const int64_t *first, int k, int64_t c0, int64_t c1, int64_t rows, int64_t n_rows,
                         int64_t *r0, int64_t *r1)
{
    int64_t e = KB_MIN(c1, first[k + 1]);
    *r0 = (c0 - first[k]) * rows;
    *r1 = KB_MIN((e - first[k]) * rows, n_rows);
    return e;
}

/* Items [c0, c1): for each product they touch, one block of its rows. */
static void mv_worker(void *ud, int64_t c0, int64_t c1, int ith)
{
    (void)ith;
    const struct mv_job *j = ud;
    for (int i = span_product(j->first, c0); c0 < c1; i++) {
        const struct model_mv *p = &j->mv[i];
        int64_t r0, r1;
        c0 = span_rows(j->first, i, c0, c1, j->rows[i], p->w->ne[1], &r0, &r1);
        const uint8_t *w = p->w->data;
        kern_dot_rows(p->w->type, p->w->ne[0], w + (size_t)r0 * p->w->row_bytes, p->w->row_bytes, r1 - r0, p->a,
                      p->y + r0);
    }
}

void model_matvec_multi(struct infer_session *s, const struct model_mv *mv, int n)
{
    struct mv_job j = {.mv = mv, .n = n};
    KB_ASSERT(n > 0 && n <= MODEL_MV_MAX);
    j.first[0] = 0;
    for (int i = 0; i < n; i++) {
        j.rows[i] = mv_rows(mv[i].w->row_bytes);
        j.first[i + 1] = j.first[i] + (mv[i].w->ne[1] + j.rows[i] - 1) / j.rows[i];
    }
    kern_pool_for_span(s->pool, j.first[n], MV_BITE, mv_worker, &j);
}

/* The 2-D slice of expert e of a stacked (n_expert, rows, ne0) tensor. */
static struct model_w expert_slice(const struct model_w *w, int e)
{
    struct model_w v = *w;
    v.data = (const uint8_t *)w->data + (size_t)e * (size_t)w->ne[1] * w->row_bytes;
    v.ne[2] = 1;
    return v;
}


/* ---- generation: one token through all its experts in two dispatches ----------------------------
 * First every selected expert's and the shared experts' gate and up rows (items: a block of gate
 * rows then the same block of up rows, long sequential reads; SiLU * up as the up rows come),
 * then every down projection (items: blocks of one matrix's rows into its own output slice), then
 * the caller adds the slices, weighted, in the batched path's order. Interleaving short runs of
 * rows of several matrices inside an item cost about 14% more time in the dot kernel. */

/* One gate/up pair: h[r] = silu(x . G[r]) * (x . U[r]) for r < ff. */
struct moe_gu {
    struct model_w g, u;  /* 2-D views */
    const float *bg, *bu; /* the expert's gate and up biases (gpt-oss) or NULL */
    const struct model_hparams *hp;
    const void *ag, *au;  /* x in each one's vec_dot_type */
    float *h;
    int64_t rows;         /* per item */
};

/* One down projection: y[r] = h . D[r], later weighted by wt into the sum. */
struct moe_dn {
    struct model_w d;     /* 2-D view */
    const void *a;        /* h in D's vec_dot_type */
    const float *bd;      /* the expert's down bias (gpt-oss) or NULL */
    float wt;
    float *y;             /* (n_embd) */
    int64_t rows;         /* per item */
};

struct moe_gen_job {
    int n;                /* products: the K slots, then the shared experts */
    int n_routed;         /* K */
    struct model_prof *prof; /* the session's timers or NULL */
    struct moe_gu gu[MOE_MAX_USED + 1];
    struct moe_dn dn[MOE_MAX_USED + 1];
    int64_t first[MOE_MAX_USED + 2];    /* first gate/up item of each product */
    int64_t dn_first[MOE_MAX_USED + 2]; /* first down item of each product */
};

/* Profiling: the item's time to its thread's routed or shared counter. */
static void moe_prof_add(const struct moe_gen_job *j, int ith, int i, uint64_t t0)
{
    if (!j->prof || ith >= INFER_PROF_MAX_THREADS)
        return;
    uint64_t dt = model_prof_now() - t0;
    if (i < j->n_routed)
        j->prof->thr[ith].routed_ns += dt;
    else
        j->prof->thr[ith].shared_ns += dt;
}

/* Rows [r0, r1) of one gate/up pair: the block of gate rows, then the block of up rows (two long
 * sequential reads), SiLU * up as the up rows come. */
static void moe_gu_rows(const struct moe_gu *p, int64_t r0, int64_t r1)
{
    int64_t n = p->g.ne[0];
    const uint8_t *gw = p->g.data, *uw = p->u.data;
    kern_dot_rows(p->g.type, n, gw + (size_t)r0 * p->g.row_bytes, p->g.row_bytes, r1 - r0, p->ag, p->h + r0);
    float u[64];
    for (int64_t b = r0; b < r1; b += 64) {
        int64_t nb = KB_MIN(64, r1 - b);
        kern_dot_rows(p->u.type, n, uw + (size_t)b * p->u.row_bytes, p->u.row_bytes, nb, p->au, u);
        for (int64_t r = 0; r < nb; r++) {
            float g = p->h[b + r], uv = u[r];
            if (p->bg) {
                g += p->bg[b + r];
                uv += p->bu[b + r];
            }
            p->h[b + r] = model_glu(p->hp, g, uv);
        }
    }
}

/* Items [c0, c1) of the gate/up dispatch: one block of rows of each pair they touch. */
static void moe_gu_worker(void *ud, int64_t c0, int64_t c1, int ith)
{
    const struct moe_gen_job *j = ud;
    for (int i = span_product(j->first, c0); c0 < c1; i++) {
        uint64_t t0 = j->prof ? model_prof_now() : 0;
        const struct moe_gu *p = &j->gu[i];
        int64_t r0, r1;
        c0 = span_rows(j->first, i, c0, c1, p->rows, p->g.ne[1], &r0, &r1);
        moe_gu_rows(p, r0, r1);
        moe_prof_add(j, ith, i, t0);
    }
}

/* Items [c0, c1) of the down dispatch: blocks of rows of down projections (unweighted, each into
 * its own slice of y). */
static void moe_dn_worker(void *ud, int64_t c0, int64_t c1, int ith)
{
    const struct moe_gen_job *j = ud;
    for (int k = span_product(j->dn_first, c0); c0 < c1; k++) {
        uint64_t t0 = j->prof ? model_prof_now() : 0;
        const struct moe_dn *p = &j->dn[k];
        int64_t r0, r1;
        c0 = span_rows(j->dn_first, k, c0, c1, p->rows, p->d.ne[1], &r0, &r1);
        const uint8_t *w = p->d.data;
        kern_dot_rows(p->d.type, p->d.ne[0], w + (size_t)r0 * p->d.row_bytes, p->d.row_bytes, r1 - r0, p->a,
                      p->y + r0);
        moe_prof_add(j, ith, k, t0);
    }
}

/* Floats of scratch the generation path carves from e_out: the hidden rows and each product's down
 * output (floats), then x and the hidden rows in the vec_dot_types (at most 2 bytes a value; x at most 4 times), 64-byte aligned. */
static size_t moe_gen_need(int64_t d, int64_t hidden, int n_prod)
{
    size_t bytes = ((size_t)hidden + (size_t)n_prod * (size_t)d) * sizeof(float) +
                   2 * (4 * (size_t)d + (size_t)hidden) + 64 * (2 * (size_t)n_prod + 8);
    return (bytes + sizeof(float) - 1) / sizeof(float);
}

size_t moe_gen_scratch_floats(const struct model_hparams *hp)
{
    if (hp->n_expert <= 0)
        return 0;
    int64_t hidden = (int64_t)hp->n_expert_used * hp->n_ff_exp + hp->n_ff_shexp;
    return moe_gen_need(hp->n_embd, hidden, hp->n_expert_used + 1);
}

/* x in w's vec_dot_type: reuses an earlier quantization of x into the same type. */
static const void *moe_xq(int w_type, const float *x, int64_t n, uint8_t **buf, int *types,
                          const void **done, int *n_done)
{
    int vdt = mv_vdt(w_type);
    for (int i = 0; i < *n_done; i++)
        if (types[i] == vdt)
            return done[i];
    const void *a = model_mv_quant(w_type, x, n, buf);
    types[*n_done] = vdt;
    done[(*n_done)++] = a;
    return a;
}

/* One token (xn: n_embd) whose experts are chosen (ids, wts), plus the shared experts times
 * sh_gate, into out. Returns false (nothing written) when this layer does not fit the scratch. */
static bool moe_gen(struct infer_session *s, const struct model_layer *L, const float *xn,
                    const int32_t *ids, const float *wts, float sh_gate, float *out)
{
    const struct model_hparams *hp = &s->m->hp;
    int K = hp->n_expert_used;
    int64_t d = hp->n_embd, ff = L->gate_exps.ne[1];
    bool sh = L->gate_shexp.data != NULL;
    int64_t ffs = sh ? L->gate_shexp.ne[1] : 0, hidden = K * ff + ffs;
    if (K > MOE_MAX_USED || L->down_exps.ne[1] != d || (sh && L->down_shexp.ne[1] != d) ||
        moe_gen_need(d, hidden, K + 1) > moe_gen_scratch_floats(hp))
        return false;
    struct moe_gen_job job;
    struct moe_gen_job *j = &job;
    float *h = s->e_out, *y = h + hidden;
    uint8_t *q = (uint8_t *)(((uintptr_t)(y + (size_t)(K + 1) * d) + 63) & ~(uintptr_t)63);
    int types[4];
    const void *done[4];
    int n_done = 0;
    j->n = K + (sh ? 1 : 0);
    j->n_routed = K;
    j->prof = s->prof;
    j->first[0] = 0;
    for (int k = 0; k < j->n; k++) {
        struct moe_gu *p = &j->gu[k];
        struct moe_dn *dn = &j->dn[k];
        p->hp = hp;
        if (k < K) {
            p->g = expert_slice(&L->gate_exps, ids[k]);
            p->u = expert_slice(&L->up_exps, ids[k]);
            p->bg = model_expert_bias(&L->gate_exps_b, ids[k]);
            p->bu = model_expert_bias(&L->up_exps_b, ids[k]);
            dn->d = expert_slice(&L->down_exps, ids[k]);
            dn->bd = model_expert_bias(&L->down_exps_b, ids[k]);
            dn->wt = wts[k];
            p->h = h + (size_t)k * ff;
        } else {
            p->g = L->gate_shexp;
            p->u = L->up_shexp;
            p->bg = p->bu = NULL;
            dn->d = L->down_shexp;
            dn->bd = NULL;
            dn->wt = sh_gate;
            p->h = h + (size_t)K * ff;
        }
        p->ag = moe_xq(p->g.type, xn, d, &q, types, done, &n_done);
        p->au = moe_xq(p->u.type, xn, d, &q, types, done, &n_done);
        p->rows = mv_rows(p->g.row_bytes + p->u.row_bytes);
        j->first[k + 1] = j->first[k] + (p->g.ne[1] + p->rows - 1) / p->rows;
    }
    kern_pool_for_span(s->pool, j->first[j->n], MV_BITE, moe_gu_worker, j);
    j->dn_first[0] = 0;
    for (int k = 0; k < j->n; k++) {
        struct moe_dn *dn = &j->dn[k];
        dn->a = model_mv_quant(dn->d.type, j->gu[k].h, dn->d.ne[0], &q);
        dn->y = y + (size_t)k * d;
        dn->rows = mv_rows(dn->d.row_bytes);
        j->dn_first[k + 1] = j->dn_first[k] + (d + dn->rows - 1) / dn->rows;
    }
    kern_pool_for_span(s->pool, j->dn_first[j->n], MV_BITE, moe_dn_worker, j);
    /* the weighted sum in the batched path's order: slots best first, then the shared experts */
    for (int k = 0; k < j->n; k++) {
        const float *yk = j->dn[k].y, *bd = j->dn[k].bd;
        float wt = j->dn[k].wt;
        for (int64_t r = 0; r < d; r++) {
            float v = (bd ? yk[r] + bd[r] : yk[r]) * wt;
            out[r] = k == 0 ? v : out[r] + v;
        }
    }
    return true;
}

/* The shared experts' weight for one token: sigmoid(x . gate_inp_shexp) (qwen2moe), else 1. */
static float shexp_gate(const struct model_layer *L, const float *x, int d)
{
    if (!L->gate_inp_shexp.data)
        return 1.0f;
    const float *gw = L->gate_inp_shexp.data;
    float dot = 0.0f;
    for (int i = 0; i < d; i++)
        dot += gw[i] * x[i];
    return 1.0f / (1.0f + expf(-dot));
}

/* ---- prompts: expert-grouped batches with the quantized rows gathered ------------------------------
 * The batch's xn rows are quantized once; each expert gathers its rows' quantized bytes, runs gate
 * and up over them, SiLU * up and the quantization for down in one parallel pass, and down writes
 * straight into that expert's block of e_out (blocks in expert order). The weighted sum per token
 * (slots in order, then the shared experts) runs in parallel over tokens at the end. Every value
 * equals the per-expert path's (same kernels, same quantized bytes, same order of the sum). */
struct moe_act_job {
    const float *g, *u;    /* (rows, ff) */
    const float *bg, *bu;  /* (ff) the expert's biases or NULL */
    const struct model_hparams *hp;
    float *h;              /* (rows, ff): silu(g) * u, may alias g */
    uint8_t *hq;           /* (rows, hq_rb) h in down's vec_dot_type */
    size_t hq_rb;
    int64_t ff;
    kern_quant_fn quant;
};

static void moe_act_worker(void *ud, int64_t r, int ith)
{
    (void)ith;
    const struct moe_act_job *j = ud;
    const float *g = j->g + r * j->ff, *u = j->u + r * j->ff;
    float *h = j->h + r * j->ff;
    if (j->bg)
        for (int64_t i = 0; i < j->ff; i++)
            h[i] = model_glu(j->hp, g[i] + j->bg[i], u[i] + j->bu[i]);
    else
        for (int64_t i = 0; i < j->ff; i++)
            h[i] = model_glu(j->hp, g[i], u[i]);
    j->quant(h, j->hq + (size_t)r * j->hq_rb, j->ff);
}

/* out(rows, n_embd) = down(glu(x gate + bg, x up + bu)) + bd for rows already quantized (xq,
 * gate's vec_dot_type, which up shares); hq: scratch for the hidden rows in down's vec_dot_type;
 * b: the expert's three bias rows (gpt-oss) or NULLs. */
static void moe_ffn_rows(struct infer_session *s, const struct model_w *g, const struct model_w *u,
                         const struct model_w *dn, const float *const b[3], const void *xq, int rows, uint8_t *hq,
                         float *out)
{
    int64_t ff = g->ne[1];
    int hdt = kern.vec_dot_type[dn->type];
    kern_matmul_pre(s->pool, g->type, g->data, g->ne[0], ff, xq, rows, s->ff_g);
    kern_matmul_pre(s->pool, u->type, u->data, u->ne[0], ff, xq, rows, s->ff_u);
    struct moe_act_job aj = {s->ff_g, s->ff_u, b[0], b[1], &s->m->hp, s->ff_g, hq, ggml_row_bytes(hdt, ff), ff,
                             kern.quant[hdt]};
    kern_pool_for(s->pool, rows, moe_act_worker, &aj);
    kern_matmul_pre(s->pool, dn->type, dn->data, dn->ne[0], dn->ne[1], hq, rows, out);
    if (b[2])
        for (int r = 0; r < rows; r++)
            for (int64_t i = 0; i < dn->ne[1]; i++)
                out[(size_t)r * dn->ne[1] + i] += b[2][i];
}

struct moe_sum_job {
    const float *e_out;   /* expert blocks */
    const int32_t *pos;   /* (n, K) row of e_out holding each slot */
    const float *w;       /* (n, K) */
    const float *sh;      /* (n, d) shared-expert output or NULL */
    const float *sh_gate; /* (n) or NULL: 1 */
    float *out;
    int K, d;
};

static void moe_sum_worker(void *ud, int64_t t, int ith)
{
    (void)ith;
    const struct moe_sum_job *j = ud;
    float *o = j->out + t * j->d;
    for (int k = 0; k < j->K; k++) {
        const float *src = j->e_out + (size_t)j->pos[t * j->K + k] * j->d;
        float w = j->w[t * j->K + k];
        for (int i = 0; i < j->d; i++) {
            float v = src[i] * w;
            o[i] = k == 0 ? v : o[i] + v;
        }
    }
    if (j->sh) {
        const float *sh = j->sh + t * j->d;
        float gate = j->sh_gate ? j->sh_gate[t] : 1.0f;
        for (int i = 0; i < j->d; i++)
            o[i] += sh[i] * gate;
    }
}

/* The batched path; false (nothing written) when the layer's types or the scratch do not allow it. */
static bool moe_batch(struct infer_session *s, const struct model_layer *L, const float *xn, int n,
                      float *out)
{
    const struct model_hparams *hp = &s->m->hp;
    int E = hp->n_expert, K = hp->n_expert_used, d = hp->n_embd, T = s->n_batch;
    int xdt = kern.vec_dot_type[L->gate_exps.type];
    bool sh = L->gate_shexp.data != NULL;
    if (xdt == GGML_TYPE_F32 || kern.vec_dot_type[L->up_exps.type] != xdt ||
        (sh && (kern.vec_dot_type[L->gate_shexp.type] != xdt || kern.vec_dot_type[L->up_shexp.type] != xdt)))
        return false;
    size_t x_rb = ggml_row_bytes(xdt, d), h_rb = 0;
    h_rb = ggml_row_bytes(kern.vec_dot_type[L->down_exps.type], L->down_exps.ne[0]);
    if (sh)
        h_rb = KB_MAX(h_rb, ggml_row_bytes(kern.vec_dot_type[L->down_shexp.type], L->down_shexp.ne[0]));
    if ((size_t)n * (2 * x_rb + h_rb) > s->xq_bytes)
        return false;
    uint8_t *xq_all = s->xq, *xq_e = xq_all + (size_t)n * x_rb, *hq = xq_e + (size_t)n * x_rb;
    kern_quantize_rows(s->pool, xdt, xn, d, n, xq_all);
    int32_t *pos = s->r_ids; /* ids are consumed by the buckets: now each slot's row in e_out */
    int off = 0;
    for (int e = 0; e < E; e++) {
        int cnt = s->e_count[e];
        const int32_t *rows = s->e_rows + (size_t)e * T;
        if (cnt == 0)
            continue;
        for (int j = 0; j < cnt; j++) {
            memcpy(xq_e + (size_t)j * x_rb, xq_all + (size_t)(rows[j] / K) * x_rb, x_rb);
            pos[rows[j]] = off + j;
        }
        struct model_w g = expert_slice(&L->gate_exps, e), u = expert_slice(&L->up_exps, e);
        struct model_w dn = expert_slice(&L->down_exps, e);
        const float *b[3] = {model_expert_bias(&L->gate_exps_b, e), model_expert_bias(&L->up_exps_b, e),
                             model_expert_bias(&L->down_exps_b, e)};
        moe_ffn_rows(s, &g, &u, &dn, b, xq_e, cnt, hq, s->e_out + (size_t)off * d);
        off += cnt;
    }
    struct moe_sum_job sj = {s->e_out, pos, s->r_w, NULL, NULL, out, K, d};
    if (sh) {
        const float *nob[3] = {NULL, NULL, NULL};
        moe_ffn_rows(s, &L->gate_shexp, &L->up_shexp, &L->down_shexp, nob, xq_all, n, hq, s->sh_out);
        sj.sh = s->sh_out;
        if (L->gate_inp_shexp.data) {
            float *gates = s->e_x; /* free now: n <= n_batch floats */
            for (int t = 0; t < n; t++)
                gates[t] = shexp_gate(L, xn + (size_t)t * d, d);
            sj.sh_gate = gates;
        }
    }
    kern_pool_for(s->pool, n, moe_sum_worker, &sj);
    return true;
}

/* out(n, n_embd) = expert e's FFN of x (n rows) in float: glu(x Wg + bg, x Wu + bu) Wd + bd, the
 * biases only where the layer has them; out may be x (read before down writes). */
static void moe_expert_dense(struct infer_session *s, const struct model_layer *L, int e, const float *x, int n,
                             float *out)
{
    const struct model_hparams *hp = &s->m->hp;
    struct model_w g = expert_slice(&L->gate_exps, e), u = expert_slice(&L->up_exps, e);
    struct model_w dn = expert_slice(&L->down_exps, e);
    const float *bg = model_expert_bias(&L->gate_exps_b, e), *bu = model_expert_bias(&L->up_exps_b, e);
    const float *bd = model_expert_bias(&L->down_exps_b, e);
    int ff = (int)g.ne[1], d = (int)dn.ne[1];
    model_matmul(s, &g, x, n, s->ff_g);
    model_matmul(s, &u, x, n, s->ff_u);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < ff; i++) {
            size_t k = (size_t)t * ff + i;
            s->ff_g[k] = bg ? model_glu(hp, s->ff_g[k] + bg[i], s->ff_u[k] + bu[i]) : model_glu(hp, s->ff_g[k], s->ff_u[k]);
        }
    model_matmul(s, &dn, s->ff_g, n, out);
    if (bd)
        for (int t = 0; t < n; t++)
            for (int i = 0; i < d; i++)
                out[(size_t)t * d + i] += bd[i];
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
    model_matmul(s, &L->gate_inp, xn, n, s->r_logits);
    model_add_bias(s->r_logits, &L->gate_inp_b, n, E);
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
    model_prof_mark(s, INFER_PROF_ROUTER);
    if (n == 1 && moe_gen(s, L, xn, s->r_ids, s->r_w, shexp_gate(L, xn, d), out)) {
        model_prof_mark(s, INFER_PROF_EXPERTS);
        return;
    }
    if (moe_batch(s, L, xn, n, out)) {
        model_prof_mark(s, INFER_PROF_EXPERTS);
        return;
    }
    for (int e = 0; e < E; e++) {
        int cnt = s->e_count[e];
        const int32_t *rows = s->e_rows + (size_t)e * T;
        if (cnt == 0)
            continue;
        for (int j = 0; j < cnt; j++)
            memcpy(s->e_x + (size_t)j * d, xn + (size_t)(rows[j] / K) * d, (size_t)d * sizeof(float));
        moe_expert_dense(s, L, e, s->e_x, cnt, s->e_x); /* e_x is consumed before down */
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
    if (!L->gate_shexp.data) {
        model_prof_mark(s, INFER_PROF_EXPERTS);
        return;
    }
    model_ffn_dense(s, &L->gate_shexp, &L->up_shexp, &L->down_shexp, xn, n, s->sh_out);
    for (int t = 0; t < n; t++) {
        float gate = shexp_gate(L, xn + (size_t)t * d, d);
        float *o = out + (size_t)t * d;
        const float *sh = s->sh_out + (size_t)t * d;
        for (int i = 0; i < d; i++)
            o[i] += sh[i] * gate;
    }
    model_prof_mark(s, INFER_PROF_EXPERTS);
}
