/* infer/moe.c: the mixture-of-experts router (see moe.h for the rules it follows) and its
 * double-precision reference twin. Tests: tests/infer/test_moe.c. */
#include "infer/moe.h"

#include <math.h>
#include <stdlib.h>

#include "base/base.h"

/* Index of the largest v[i] with !taken[i] (lowest index on ties); -1 when none is left. */
static int best_f(const float *v, const bool *taken, int n)
{
    int b = -1;
    for (int i = 0; i < n; i++)
        if (!taken[i] && (b < 0 || v[i] > v[b]))
            b = i;
    return b;
}

void moe_route(const struct moe_router *r, const float *logits, int32_t *ids, float *w, float *scratch)
{
    int n = r->n_expert;
    float *probs = scratch, *sel = scratch + n;
    bool taken[MOE_MAX_EXPERTS];
    KB_ASSERT(n > 0 && n <= MOE_MAX_EXPERTS && r->n_used > 0 && r->n_used <= n);
    if (r->gating == MOE_GATING_SIGMOID) {
        for (int e = 0; e < n; e++)
            probs[e] = 1.0f / (1.0f + expf(-logits[e]));
    } else if (r->gating == MOE_GATING_SOFTMAX_WEIGHT) {
        for (int e = 0; e < n; e++)
            probs[e] = logits[e];
    } else {
        float mx = -INFINITY;
        double sum = 0.0;
        for (int e = 0; e < n; e++)
            mx = logits[e] > mx ? logits[e] : mx;
        for (int e = 0; e < n; e++) {
            probs[e] = expf(logits[e] - mx);
            sum += probs[e];
        }
        float inv = (float)(1.0 / sum);
        for (int e = 0; e < n; e++)
            probs[e] *= inv;
    }
    for (int e = 0; e < n; e++)
        sel[e] = probs[e] + (r->bias ? r->bias[e] : 0.0f);
    if (r->n_group > 1 && r->n_group_used < r->n_group) {
        int per = n / r->n_group;
        float gscore[MOE_MAX_EXPERTS];
        bool gtaken[MOE_MAX_EXPERTS] = {false};
        for (int g = 0; g < r->n_group; g++) {
            const float *s = sel + g * per;
            int a = 0;
            for (int i = 1; i < per; i++)
                if (s[i] > s[a])
                    a = i;
            int b = -1;
            for (int i = 0; i < per; i++)
                if (i != a && (b < 0 || s[i] > s[b]))
                    b = i;
            gscore[g] = s[a] + (b >= 0 ? s[b] : 0.0f);
        }
        for (int k = 0; k < r->n_group_used; k++)
            gtaken[best_f(gscore, gtaken, r->n_group)] = true;
        for (int g = 0; g < r->n_group; g++)
            if (!gtaken[g])
                for (int i = 0; i < per; i++)
                    sel[g * per + i] = -INFINITY;
    }
    for (int e = 0; e < n; e++)
        taken[e] = false;
    float sum = 0.0f;
    for (int k = 0; k < r->n_used; k++) {
        int e = best_f(sel, taken, n);
        taken[e] = true;
        ids[k] = e;
        w[k] = probs[e];
        sum += w[k];
    }
    if (r->gating == MOE_GATING_SOFTMAX_WEIGHT) { /* softmax over the chosen logits, as ggml_soft_max */
        float mx = w[0];
        double z = 0.0;
        for (int k = 1; k < r->n_used; k++)
            mx = w[k] > mx ? w[k] : mx;
        for (int k = 0; k < r->n_used; k++) {
            w[k] = expf(w[k] - mx);
            z += w[k];
        }
        float inv = (float)(1.0 / z);
        sum = 0.0f;
        for (int k = 0; k < r->n_used; k++) {
            w[k] *= inv;
            sum += w[k];
        }
    }
    if (r->norm) {
        if (sum < 6.103515625e-5f)
            sum = 6.103515625e-5f;
        for (int k = 0; k < r->n_used; k++)
            w[k] /= sum;
    }
    if (r->scale != 0.0f && r->scale != 1.0f)
        for (int k = 0; k < r->n_used; k++)
            w[k] *= r->scale;
}

void moe_route_ref(const struct moe_router *r, const float *logits, int32_t *ids, float *w)
{
    int n = r->n_expert;
    double *p = calloc((size_t)n, sizeof *p), *s = calloc((size_t)n, sizeof *s);
    bool *ok = calloc((size_t)n, sizeof *ok), *used = calloc((size_t)n, sizeof *used);
    double mx = -INFINITY, z = 0;
    for (int e = 0; e < n; e++)
        mx = fmax(mx, logits[e]);
    for (int e = 0; e < n; e++) {
        p[e] = r->gating == MOE_GATING_SIGMOID          ? 1.0 / (1.0 + exp(-(double)logits[e]))
               : r->gating == MOE_GATING_SOFTMAX_WEIGHT ? (double)logits[e]
                                                        : exp((double)logits[e] - mx);
        z += p[e];
    }
    for (int e = 0; e < n; e++) {
        if (r->gating == MOE_GATING_SOFTMAX)
            p[e] /= z;
        s[e] = p[e] + (r->bias ? r->bias[e] : 0.0);
        ok[e] = true;
    }
    if (r->n_group > 1 && r->n_group_used < r->n_group) {
        int per = n / r->n_group;
        double *gs = calloc((size_t)r->n_group, sizeof *gs);
        bool *gk = calloc((size_t)r->n_group, sizeof *gk);
        for (int g = 0; g < r->n_group; g++) { /* sum of the two best in the group */
            double b1 = -INFINITY, b2 = -INFINITY;
            for (int i = 0; i < per; i++) {
                double v = s[g * per + i];
                if (v > b1) {
                    b2 = b1;
                    b1 = v;
                } else if (v > b2)
                    b2 = v;
            }
            gs[g] = b1 + (per > 1 ? b2 : 0.0);
        }
        for (int k = 0; k < r->n_group_used; k++) {
            int b = -1;
            for (int g = 0; g < r->n_group; g++)
                if (!gk[g] && (b < 0 || gs[g] > gs[b]))
                    b = g;
            gk[b] = true;
        }
        for (int e = 0; e < n; e++)
            ok[e] = gk[e / per];
        free(gs);
        free(gk);
    }
    double sum = 0;
    for (int k = 0; k < r->n_used; k++) {
        int b = -1;
        for (int e = 0; e < n; e++)
            if (ok[e] && !used[e] && (b < 0 || s[e] > s[b]))
                b = e;
        used[b] = true;
        ids[k] = b;
        sum += p[b];
    }
    if (r->gating == MOE_GATING_SOFTMAX_WEIGHT) { /* softmax over the chosen logits */
        double zk = 0, top = p[ids[0]];
        for (int k = 0; k < r->n_used; k++)
            zk += exp(p[ids[k]] - top);
        sum = 0;
        for (int k = 0; k < r->n_used; k++) {
            p[ids[k]] = exp(p[ids[k]] - top) / zk;
            sum += p[ids[k]];
        }
    }
    for (int k = 0; k < r->n_used; k++) {
        double v = p[ids[k]];
        if (r->norm)
            v /= fmax(sum, 6.103515625e-5);
        if (r->scale != 0.0f && r->scale != 1.0f)
            v *= r->scale;
        w[k] = (float)v;
    }
    free(p);
    free(s);
    free(ok);
    free(used);
}
