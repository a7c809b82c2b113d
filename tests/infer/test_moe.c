/* tests/infer/test_moe.c: the MoE router (infer/moe.c) as a table of hand-checked cases (softmax
 * and sigmoid scoring, bias for selection only, group-limited top-k, normalisation and scaling,
 * ties to the lower id, gpt-oss's softmax after top-k), gpt-oss's clamped SwiGLU, then the engine's float router against its double reference twin on
 * thousands of random inputs of every configuration; model_matvec_multi (generation's one-dispatch
 * products) bit for bit against vec_dot loops on 1 and 3 threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "infer/layers.h"
#include "infer/moe.h"

struct rcase {
    const char *what;
    struct moe_router r;
    float logits[8];
    float bias[8];
    bool use_bias;
    int32_t want_ids[4];
    float want_w[4];
};

static const struct rcase cases[] = {
    {"softmax top-2, no norm: weights are the softmax probabilities",
     {8, 2, MOE_GATING_SOFTMAX, NULL, 0, 0, false, 0}, {0, 1, 2, 3, 0, 0, 0, 0}, {0}, false,
     {3, 2}, {0.570727f, 0.209957f}},
    {"softmax top-2 normalised",
     {8, 2, MOE_GATING_SOFTMAX, NULL, 0, 0, true, 0}, {0, 1, 2, 3, 0, 0, 0, 0}, {0}, false,
     {3, 2}, {0.73106f, 0.26894f}},
    {"ties go to the lower id",
     {8, 3, MOE_GATING_SOFTMAX, NULL, 0, 0, true, 0}, {1, 5, 5, 1, 5, 0, 0, 0}, {0}, false,
     {1, 2, 4}, {1.0f / 3, 1.0f / 3, 1.0f / 3}},
    {"sigmoid, bias changes the choice but not the weights",
     {8, 2, MOE_GATING_SIGMOID, NULL, 0, 0, false, 0}, {2, 1, 0, 0, 0, 0, 0, 0},
     {0, 0, 0, 0, 0, 0, 0, 3}, true, {7, 0}, {0.5f, 0.880797f}},
    {"sigmoid, normalised then scaled",
     {8, 2, MOE_GATING_SIGMOID, NULL, 0, 0, true, 2.5f}, {2, 0, 0, 0, 0, 0, 0, 0}, {0}, false,
     {0, 1}, {2.5f * 0.880797f / 1.380797f, 2.5f * 0.5f / 1.380797f}},
    {"groups: 4 groups of 2, keep 2; the best single expert's group loses on its top-2 sum",
     {8, 2, MOE_GATING_SIGMOID, NULL, 4, 2, false, 0}, {5, -5, 2, 2, 1, 1, 0, 0}, {0}, false,
     {2, 3}, {0.880797f, 0.880797f}},
    {"softmax after top-k (gpt-oss): chosen by raw logit, softmax over the chosen two only",
     {8, 2, MOE_GATING_SOFTMAX_WEIGHT, NULL, 0, 0, false, 0}, {0, 1, 2, 3, -9, 0, 0, 0}, {0}, false,
     {3, 2}, {0.731059f, 0.268941f}},
    {"softmax after top-k, three chosen, tie to the lower id",
     {8, 3, MOE_GATING_SOFTMAX_WEIGHT, NULL, 0, 0, false, 0}, {5, 0, 5, 4, 0, 0, 0, 0}, {0}, false,
     {0, 2, 3}, {0.422318f, 0.422318f, 0.155362f}},
    {"scale alone (softmax, no norm)",
     {8, 1, MOE_GATING_SOFTMAX, NULL, 0, 0, false, 1.5f}, {0, 0, 0, 0, 0, 0, 0, 10}, {0}, false,
     {7}, {1.5f * 0.999681f}},
};

static void test_router_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        const struct rcase *c = &cases[i];
        struct moe_router r = c->r;
        int32_t ids[MOE_MAX_USED], ids_ref[MOE_MAX_USED];
        float w[MOE_MAX_USED], w_ref[MOE_MAX_USED], scratch[2 * MOE_MAX_EXPERTS];
        if (c->use_bias)
            r.bias = c->bias;
        moe_route(&r, c->logits, ids, w, scratch);
        moe_route_ref(&r, c->logits, ids_ref, w_ref);
        for (int k = 0; k < r.n_used; k++) {
            if (ids[k] != c->want_ids[k] || fabsf(w[k] - c->want_w[k]) > 1e-4f)
                fail_msg("%s: slot %d got expert %d w %g, want %d w %g", c->what, k, ids[k], w[k],
                         c->want_ids[k], c->want_w[k]);
            assert_int_equal(ids_ref[k], ids[k]);
            assert_true(fabsf(w_ref[k] - w[k]) < 1e-5f);
        }
    }
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* The float router agrees with the double twin whenever the k-th/(k+1)-th gap is not razor thin. */
static void test_router_vs_reference(void **state)
{
    (void)state;
    static const struct {
        int n_expert, n_used, gating, n_group, n_group_used;
        bool bias, norm;
        float scale;
    } cfg[] = {
        {16, 4, MOE_GATING_SOFTMAX, 0, 0, false, false, 0},   /* qwen2moe */
        {128, 8, MOE_GATING_SOFTMAX, 0, 0, false, true, 0},   /* qwen3moe */
        {8, 2, MOE_GATING_SOFTMAX, 0, 0, false, true, 0},     /* mixtral */
        {64, 6, MOE_GATING_SOFTMAX, 0, 0, false, false, 1.0f}, /* V2-Lite */
        {160, 6, MOE_GATING_SOFTMAX, 8, 3, false, false, 16.0f}, /* V2 */
        {256, 8, MOE_GATING_SIGMOID, 8, 4, true, true, 2.5f}, /* V3 / R1 */
        {32, 4, MOE_GATING_SOFTMAX_WEIGHT, 0, 0, false, false, 0}, /* gpt-oss-20b */
    };
    float logits[256], bias[256];
    int checked = 0;
    for (size_t c = 0; c < KB_ARRAY_LEN(cfg); c++) {
        struct moe_router r = {cfg[c].n_expert, cfg[c].n_used, (enum moe_gating)cfg[c].gating,
                               cfg[c].bias ? bias : NULL, cfg[c].n_group, cfg[c].n_group_used,
                               cfg[c].norm, cfg[c].scale};
        for (int it = 0; it < 500; it++) {
            int32_t ids[MOE_MAX_USED], ids_ref[MOE_MAX_USED];
            float w[MOE_MAX_USED], w_ref[MOE_MAX_USED], scratch[2 * MOE_MAX_EXPERTS];
            for (int e = 0; e < r.n_expert; e++) {
                logits[e] = 3.0f * frand();
                bias[e] = 0.05f * frand();
            }
            moe_route(&r, logits, ids, w, scratch);
            moe_route_ref(&r, logits, ids_ref, w_ref);
            for (int k = 0; k < r.n_used; k++) {
                assert_int_equal(ids[k], ids_ref[k]);
                assert_true(fabsf(w[k] - w_ref[k]) <= 1e-5f * fmaxf(1.0f, fabsf(w_ref[k])));
            }
            /* invariants: distinct ids, weights sum to the scale when normalised */
            float sum = 0;
            for (int k = 0; k < r.n_used; k++) {
                sum += w[k];
                for (int j = 0; j < k; j++)
                    assert_int_not_equal(ids[j], ids[k]);
            }
            if (r.norm || r.gating == MOE_GATING_SOFTMAX_WEIGHT)
                assert_true(fabsf(sum - (r.scale != 0 ? r.scale : 1.0f)) < 1e-4f * sum);
            if (r.n_group > 1) { /* every chosen expert lies in one of n_group_used groups */
                int per = r.n_expert / r.n_group, groups = 0;
                bool seen[64] = {false};
                for (int k = 0; k < r.n_used; k++)
                    if (!seen[ids[k] / per]) {
                        seen[ids[k] / per] = true;
                        groups++;
                    }
                assert_true(groups <= r.n_group_used);
            }
            checked++;
        }
    }
    assert_int_equal(checked, 500 * (int)KB_ARRAY_LEN(cfg));
}

/* gpt-oss's clamped SwiGLU (model_glu) against its definition in double, and plain SwiGLU. */
static void test_glu(void **state)
{
    (void)state;
    struct model_hparams oai = {.glu_oai = true, .glu_alpha = 1.702f, .glu_limit = 7.0f}, plain = {0};
    static const float gu[][2] = {{0.5f, -0.25f}, {-3, 2}, {10, 10}, {9, -12}, {-20, 0.5f}, {6.9f, 7.1f}};
    for (size_t i = 0; i < KB_ARRAY_LEN(gu); i++) {
        double g = gu[i][0], u = gu[i][1];
        double x = fmin(g, 7.0), y = fmax(-7.0, fmin(u, 7.0));
        double want = x / (1.0 + exp(-1.702 * x)) * (y + 1.0);
        double got = model_glu(&oai, gu[i][0], gu[i][1]);
        if (fabs(got - want) > 1e-5 * fmax(1.0, fabs(want)))
            fail_msg("glu_oai(%g, %g) = %g, want %g", g, u, got, want);
        assert_true(fabs(model_glu(&plain, gu[i][0], gu[i][1]) - g / (1.0 + exp(-g)) * u) < 1e-4 * fmax(1, fabs(g * u)));
    }
    /* the clamp: any gate above the limit gives the same value; up above the limit too */
    assert_true(model_glu(&oai, 8.0f, 1.0f) == model_glu(&oai, 100.0f, 1.0f));
    assert_true(model_glu(&oai, 1.0f, 8.0f) == model_glu(&oai, 1.0f, 7.0f));
}

/* model_matvec_multi (the one-dispatch products of generation) against plain vec_dot loops over
 * the same quantized rows: bit-identical, for products of different shapes and row counts that
 * span many chunks, on 1 and 3 threads. */
static void test_matvec_multi(void **state)
{
    (void)state;
    kern_init(false);
    enum { NP = 5 };
    static const int shapes[NP][2] = {{256, 1000}, {64, 3}, {512, 4096}, {32, 17}, {2048, 129}};
    static const int types[] = {GGML_TYPE_F32, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K};
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (size_t ti = 0; ti < KB_ARRAY_LEN(types); ti++) {
        int type = types[ti];
        struct model_w w[NP];
        struct model_mv mv[NP];
        void *wbuf[NP], *abuf[NP];
        float *x[NP], *y[NP];
        for (int i = 0; i < NP; i++) {
            int n_in = shapes[i][0], n_out = shapes[i][1];
            if (type == GGML_TYPE_Q4_K && n_in % 256)
                n_in = 256;
            size_t rb = ggml_row_bytes(type, n_in);
            float *row = kb_xmalloc((size_t)n_in * sizeof *row);
            wbuf[i] = kb_xmalloc(rb * (size_t)n_out);
            for (int o = 0; o < n_out; o++) {
                for (int k = 0; k < n_in; k++) {
                    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                    row[k] = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5);
                }
                kern.quant[type](row, (uint8_t *)wbuf[i] + (size_t)o * rb, n_in);
            }
            free(row);
            w[i] = (struct model_w){.data = wbuf[i], .type = type, .ne = {n_in, n_out, 1, 1}, .row_bytes = rb};
            x[i] = kb_xmalloc((size_t)n_in * sizeof *x[i]);
            for (int k = 0; k < n_in; k++)
                x[i][k] = (float)((k * 37 + i * 11) % 19) / 7.0f - 1.3f;
            abuf[i] = kb_xmalloc(model_mv_quant_bytes(type, n_in) + 1);
            uint8_t *q = abuf[i];
            mv[i] = (struct model_mv){&w[i], model_mv_quant(type, x[i], n_in, &q), NULL};
            y[i] = kb_xmalloc((size_t)n_out * sizeof *y[i]);
        }
        for (int nt = 1; nt <= 3; nt += 2) {
            struct infer_session s;
            struct kb_error err = {0};
            memset(&s, 0, sizeof s);
            assert_int_equal(kern_pool_new(&s.pool, nt, &err), 0);
            for (int i = 0; i < NP; i++) {
                mv[i].y = y[i];
                for (int o = 0; o < (int)w[i].ne[1]; o++)
                    y[i][o] = NAN;
            }
            model_matvec_multi(&s, mv, NP);
            for (int i = 0; i < NP; i++)
                for (int o = 0; o < (int)w[i].ne[1]; o++) {
                    float want = kern.vec_dot[type](w[i].ne[0], (const uint8_t *)wbuf[i] + (size_t)o * w[i].row_bytes,
                                                    mv[i].a);
                    if (memcmp(&want, &y[i][o], sizeof want) != 0)
                        fail_msg("type %d threads %d product %d row %d: %g, want %g", type, nt, i, o,
                                 (double)y[i][o], (double)want);
                }
            kern_pool_free(s.pool);
        }
        for (int i = 0; i < NP; i++) {
            free(wbuf[i]);
            free(abuf[i]);
            free(x[i]);
            free(y[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_table),
        cmocka_unit_test(test_router_vs_reference),
        cmocka_unit_test(test_matvec_multi),
        cmocka_unit_test(test_glu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
