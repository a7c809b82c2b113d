/* tests/infer/test_kernels.c: the kernels, table-driven over every supported type.
 * - fp16/bf16 conversion: exhaustive round trips and round-half-to-even ties;
 * - reference kernels: quantize -> dequantize error bounds, and each reference vec_dot equals the
 *   double-precision dot of the dequantized operands (so layouts and maths agree);
 * - dispatched (SIMD) kernels against the reference at random lengths and tails: activation
 *   quantizers bit-identical, vec_dots within 1e-5 of sum|w*a| (integer sums are exact, only the
 *   float summation order differs), dequantizers identical;
 * - tile kernels against the reference, and bit for bit against vec_dot for the types whose tiles
 *   promise it (Q8_0, Q4_0, Q5_0, Q4_K, MXFP4: speculative verify batches then match single steps);
 * - panel kernels (kern.gemm_panel) against the reference dots at random lengths (several slabs and
 *   a partial one), token counts and padded strides;
 * - kern_matmul against a double loop over dequantized weights, 1 and 3 threads, 1 to 41 tokens
 *   (the panel path starts at 32 tokens; 69 rows leave a partial chunk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/matmul.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_f(void) /* roughly N(0,1) */
{
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += (float)(rnd_u32() & 0xffff) / 65536.0f - 0.5f;
    return s * 1.7f;
}

static void fill(float *x, int64_t n, int mode)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd_f();
    if (mode == 1) /* a zero block and an outlier */
        for (int64_t i = 0; i < n && i < 32; i++)
            x[i] = 0;
    if (mode == 1 && n > 40)
        x[40] = 25.0f;
    if (mode == 2) /* all the same sign */
        for (int64_t i = 0; i < n; i++)
            x[i] = fabsf(x[i]) + 0.1f;
}

static const int weight_types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                   GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                   GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K,
                                   GGML_TYPE_MXFP4};

/* Max abs error of a quantize/dequantize round trip relative to the row's max |x|. */
static double max_rel_roundtrip(int type)
{
    switch (type) {
    case GGML_TYPE_F32: return 0;
    case GGML_TYPE_F16: return 1e-3;
    case GGML_TYPE_BF16: return 8e-3;
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q8_1: case GGML_TYPE_Q8_K: return 0.01;
    case GGML_TYPE_Q6_K: return 0.06;
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q5_K: return 0.08;
    /* ggml's scale choice saturates the top quarter of each binade at level 6 (x 2^(e-127)) */
    case GGML_TYPE_MXFP4: return 0.26;
    default: return 0.16; /* 4-bit */
    }
}

static void test_fp16(void **state)
{
    (void)state;
    kern_init(false);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_f16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        if (kern_f32_to_f16(f) != h)
            fail_msg("f16 0x%04x -> %g -> 0x%04x", h, (double)f, kern_f32_to_f16(f));
    }
    assert_true(kern_f16_to_f32(0x3c00) == 1.0f);
    assert_true(kern_f16_to_f32(0xc000) == -2.0f);
    assert_true(kern_f16_to_f32(0x0001) == ldexpf(1, -24));
    assert_int_equal(kern_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(kern_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    assert_int_equal(kern_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00); /* tie -> even */
    assert_int_equal(kern_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02); /* tie -> even (up) */
    assert_int_equal(kern_f32_to_f16(ldexpf(1, -25)), 0x0000); /* tie at the smallest subnormal */
    assert_int_equal(kern_f32_to_f16(ldexpf(3, -26)), 0x0001);
    assert_true(isnan(kern_f16_to_f32(kern_f32_to_f16(NAN))));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_bf16_to_f32((uint16_t)h);
        if (!isnan(f))
            assert_int_equal(kern_f32_to_bf16(f), h);
    }
    assert_int_equal(kern_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);      /* tie -> even */
    assert_int_equal(kern_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);  /* tie -> even */
    /* the dispatched F16 quantizer (F16C where present) equals the scalar conversion bit for bit over
     * a sweep of float bit patterns (every exponent, subnormals, infinities, NaNs), in rows of 1 to
     * 1027 values so vector bodies and tails both run */
    enum { ROW = 1027 };
    static float src[ROW];
    static uint16_t got[ROW];
    uint32_t bits = 0;
    for (int row = 0; row < 4200; row++) {
        int n = 1 + row % ROW;
        for (int i = 0; i < n; i++, bits += 1000003u)
            memcpy(&src[i], &bits, 4);
        if (row == 0) {
            static const float special[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 65519.99f, INFINITY, -INFINITY, NAN};
            memcpy(src, special, sizeof special);
            n = KB_ARRAY_LEN(special);
        }
        kern.quant[GGML_TYPE_F16](src, got, n);
        for (int i = 0; i < n; i++)
            if (got[i] != kern_f32_to_f16(src[i])) {
                uint32_t b;
                memcpy(&b, &src[i], 4);
                fail_msg("%s quant F16 of 0x%08x: 0x%04x, scalar 0x%04x", kern.isa, b, got[i], kern_f32_to_f16(src[i]));
            }
    }
}

static double ddot_deq(const struct kern_ops *ops, int wt, const void *w, int at, const void *a, int64_t n,
                       float *tw, float *ta, double *abs_sum)
{
    ops->dequant[wt](w, tw, n);
    ops->dequant[at](a, ta, n);
    double s = 0, as = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)tw[i] * ta[i];
        as += fabs((double)tw[i] * ta[i]);
    }
    *abs_sum = as;
    return s;
}

static void test_reference(void **state)
{
    (void)state;
    const struct kern_ops *ref = kern_ref_ops();
    enum { N = 1024 };
    static float x[N], y[N], tw[N], ta[N];
    static uint8_t qw[N * 4 + 64], qa[N * 4 + 64];
    for (size_t ti = 0; ti < KB_ARRAY_LEN(weight_types); ti++) {
        int t = weight_types[ti];
        const struct ggml_type_info *info = ggml_type_info(t);
        for (int mode = 0; mode < 3; mode++) {
            int64_t n = (int64_t)info->block_elems * (info->block_elems == 1 ? 100 + mode : 1 + mode);
            if (info->block_elems == 32)
                n = 32 * (3 + mode);
            fill(x, n, mode);
            fill(y, n, 0);
            /* round trip */
            assert_non_null(ref->quant[t]);
            ref->quant[t](x, qw, n);
            ref->dequant[t](qw, tw, n);
            float amax = 0;
            double err = 0;
            for (int64_t i = 0; i < n; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            for (int64_t i = 0; i < n; i++)
                err = fmax(err, fabs((double)tw[i] - x[i]));
            if (err > max_rel_roundtrip(t) * amax)
                fail_msg("%s mode %d: round trip error %g of max %g", info->name, mode, err, (double)amax);
            /* vec_dot against the dequantized operands */
            int at = ref->vec_dot_type[t];
            ref->quant[at](y, qa, n);
            double as, want = ddot_deq(ref, t, qw, at, qa, n, tw, ta, &as);
            double got = ref->vec_dot[t](n, qw, qa);
            /* Q8_1 stores s = d*sum(q) rounded to fp16, so the min term carries that rounding */
            double tol = at == GGML_TYPE_Q8_1 ? 1e-3 : 2e-6;
            if (fabs(got - want) > tol * as + 1e-6)
                fail_msg("%s: ref vec_dot %.9g, dequantized dot %.9g", info->name, got, want);
        }
    }
}

/* Types whose tile kernel sums exactly like their vec_dot (kern_avx512.c and kern_avx2.c say
 * which). */
static bool tile_exact(int type)
{
    bool q0 = type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q5_0 || type == GGML_TYPE_Q4_K ||
              type == GGML_TYPE_MXFP4;
    if (strcmp(kern.isa, "avx2") == 0)
        return q0 || type == GGML_TYPE_Q6_K;
    return strcmp(kern.isa, "avx512") == 0 && q0;
}

/* Buffers of the SIMD-vs-reference checks (static: too large for the stack). */
enum { NMAX = 256 * 24 };
static float sx[NMAX], sy[NMAX];
static uint8_t sqw[NMAX * 4 + 64], sqa1[NMAX * 4 + 64], sqa2[NMAX * 4 + 64];
static float sd1[NMAX], sd2[NMAX];

/* Quantizers, dequantizers and vec_dot of every weight type at random lengths; returns the count. */
static int check_vec_dots(const struct kern_ops *ref)
{
    int n_checked = 0;
    for (size_t ti = 0; ti < KB_ARRAY_LEN(weight_types); ti++) {
        int t = weight_types[ti];
        const struct ggml_type_info *info = ggml_type_info(t);
        int at = ref->vec_dot_type[t];
        assert_int_equal(kern.vec_dot_type[t], at);
        for (int iter = 0; iter < 60; iter++) {
            int64_t max_blocks = NMAX / info->block_elems;
            if (max_blocks > 24)
                max_blocks = info->block_elems == 1 ? 300 : 24;
            int64_t n = info->block_elems * (1 + (int64_t)(rnd_u32() % (uint32_t)max_blocks));
            fill(sx, n, iter % 3);
            fill(sy, n, (iter / 3) % 3);
            ref->quant[t](sx, sqw, n);
            /* activation quantizers must be bit-identical, so ref and SIMD paths see equal inputs */
            ref->quant[at](sy, sqa1, n);
            kern.quant[at](sy, sqa2, n);
            size_t ab = ggml_row_bytes(at, n);
            if (memcmp(sqa1, sqa2, ab) != 0)
                fail_msg("%s quantizer (%s) differs from the reference at n=%lld", ggml_type_info(at)->name,
                         kern.isa, (long long)n);
            /* dequantizers identical */
            ref->dequant[t](sqw, sd1, n);
            kern.dequant[t](sqw, sd2, n);
            assert_memory_equal(sd1, sd2, (size_t)n * sizeof(float));
            double as = 0;
            ref->dequant[at](sqa1, sd2, n);
            for (int64_t i = 0; i < n; i++)
                as += fabs((double)sd1[i] * sd2[i]);
            float want = ref->vec_dot[t](n, sqw, sqa1), got = kern.vec_dot[t](n, sqw, sqa1);
            if (fabs((double)got - want) > 1e-5 * as + 1e-6)
                fail_msg("%s vec_dot (%s) n=%lld: %.9g vs reference %.9g (sum|wa| %g)", info->name, kern.isa,
                         (long long)n, (double)got, (double)want, as);
            n_checked++;
        }
    }
    return n_checked;
}

/* dot_f32_f16 and axpy_f16 (the F16-cache attention helpers). */
static void check_attention_helpers(const struct kern_ops *ref)
{
    for (int iter = 0; iter < 50; iter++) {
        int64_t n = 1 + (int64_t)(rnd_u32() % 300);
        uint16_t h[300];
        fill(sx, n, 0);
        fill(sy, n, 0);
        ref->quant[GGML_TYPE_F16](sy, h, n);
        double as = 0;
        for (int64_t i = 0; i < n; i++)
            as += fabs((double)sx[i] * kern_f16_to_f32(h[i]));
        float want = ref->dot_f32_f16(n, sx, h), got = kern.dot_f32_f16(n, sx, h);
        if (fabs((double)got - want) > 1e-5 * as + 1e-6)
            fail_msg("dot_f32_f16 n=%lld: %g vs %g", (long long)n, (double)got, (double)want);
        memcpy(sd1, sx, sizeof(float) * (size_t)n);
        memcpy(sd2, sx, sizeof(float) * (size_t)n);
        ref->axpy_f16(n, 0.37f, h, sd1);
        kern.axpy_f16(n, 0.37f, h, sd2);
        for (int64_t i = 0; i < n; i++)
            assert_true(fabsf(sd1[i] - sd2[i]) <= 1e-6f * (fabsf(sd1[i]) + 1));
    }
}

/* rows_dot_f16 of one strided block of n_rows rows against the reference. */
static void check_rows_f16(const struct kern_ops *ref, int64_t n, int64_t n_rows, size_t stride, const float *k,
                           const float *q)
{
    float o1[90], o2[90];
    uint16_t kh[23 * 90], qh[90];
    ref->quant[GGML_TYPE_F16](k, kh, (int64_t)(stride * (size_t)n_rows));
    ref->quant[GGML_TYPE_F16](q, qh, n);
    ref->rows_dot_f16(n, qh, kh, stride, n_rows, 0.125f, o1);
    kern.rows_dot_f16(n, qh, kh, stride, n_rows, 0.125f, o2);
    for (int64_t r = 0; r < n_rows; r++) {
        double as = 0;
        for (int64_t i = 0; i < n; i++)
            as += fabs((double)kern_f16_to_f32(kh[(size_t)r * stride + i]) * kern_f16_to_f32(qh[i]));
        if (fabs((double)o1[r] - o2[r]) > 0.125 * (1e-5 * as + 1e-6))
            fail_msg("rows_dot_f16 n=%lld rows=%lld r=%lld: %g vs %g", (long long)n, (long long)n_rows,
                     (long long)r, (double)o2[r], (double)o1[r]);
    }
}

/* rows_dot_x4_f32 and rows_wsum_x4_f32 (four queries at once) against the reference. */
static void check_rows_x4(const struct kern_ops *ref, int64_t n, int64_t n_rows, size_t stride, const float *k)
{
    /* four queries at once against the single-query reference */
    float q4[4 * 90], w4[4 * 23], r4[4 * 96], k4[4 * 96];
    fill(q4, 4 * 90, 0);
    fill(w4, 4 * 23, 0);
    ref->rows_dot_x4_f32(n, q4, 90, k, stride, n_rows, 0.5f, r4, 96);
    kern.rows_dot_x4_f32(n, q4, 90, k, stride, n_rows, 0.5f, k4, 96);
    for (int j = 0; j < 4; j++)
        for (int64_t r = 0; r < n_rows; r++) {
            double as = 0;
            for (int64_t i = 0; i < n; i++)
                as += fabs((double)k[(size_t)r * stride + i] * q4[j * 90 + i]);
            if (fabs((double)r4[j * 96 + r] - k4[j * 96 + r]) > 0.5 * (1e-5 * as + 1e-6))
                fail_msg("rows_dot_x4_f32 n=%lld rows=%lld j=%d r=%lld: %g vs %g", (long long)n,
                         (long long)n_rows, j, (long long)r, (double)k4[j * 96 + r], (double)r4[j * 96 + r]);
        }
    ref->rows_wsum_x4_f32(n, w4, 23, k, stride, n_rows, r4, 96);
    kern.rows_wsum_x4_f32(n, w4, 23, k, stride, n_rows, k4, 96);
    for (int j = 0; j < 4; j++)
        for (int64_t i = 0; i < n; i++) {
            double as = 0;
            for (int64_t r = 0; r < n_rows; r++)
                as += fabs((double)w4[j * 23 + r] * k[(size_t)r * stride + i]);
            if (fabs((double)r4[j * 96 + i] - k4[j * 96 + i]) > 1e-5 * as + 1e-6)
                fail_msg("rows_wsum_x4_f32 n=%lld rows=%lld j=%d i=%lld: %g vs %g", (long long)n,
                         (long long)n_rows, j, (long long)i, (double)k4[j * 96 + i], (double)r4[j * 96 + i]);
        }
}

/* Attention row kernels: strided rows, row counts around the 4-row blocks, widths around 8/32. */
static void check_attention_rows(const struct kern_ops *ref)
{
    for (int iter = 0; iter < 40; iter++) {
        int64_t n = 1 + (int64_t)(rnd_u32() % 80), n_rows = 1 + (int64_t)(rnd_u32() % 23);
        size_t stride = (size_t)n + (rnd_u32() % 5);
        float k[23 * 90], q[90], o1[90], o2[90];
        fill(k, (int64_t)(stride * (size_t)n_rows), 0);
        fill(q, n, 0);
        ref->rows_dot_f32(n, q, k, stride, n_rows, 0.125f, o1);
        kern.rows_dot_f32(n, q, k, stride, n_rows, 0.125f, o2);
        for (int64_t r = 0; r < n_rows; r++) {
            double as = 0;
            for (int64_t i = 0; i < n; i++)
                as += fabs((double)k[(size_t)r * stride + i] * q[i]);
            if (fabs((double)o1[r] - o2[r]) > 0.125 * (1e-5 * as + 1e-6))
                fail_msg("rows_dot_f32 n=%lld rows=%lld r=%lld: %g vs %g", (long long)n, (long long)n_rows,
                         (long long)r, (double)o2[r], (double)o1[r]);
        }
        check_rows_f16(ref, n, n_rows, stride, k, q);
        check_rows_x4(ref, n, n_rows, stride, k);
        fill(q, n_rows, 0);
        ref->rows_wsum_f32(n, q, k, stride, n_rows, o1);
        kern.rows_wsum_f32(n, q, k, stride, n_rows, o2);
        for (int64_t i = 0; i < n; i++) {
            double as = 0;
            for (int64_t r = 0; r < n_rows; r++)
                as += fabs((double)q[r] * k[(size_t)r * stride + i]);
            if (fabs((double)o1[i] - o2[i]) > 1e-5 * as + 1e-6)
                fail_msg("rows_wsum_f32 n=%lld rows=%lld i=%lld: %g vs %g", (long long)n, (long long)n_rows,
                         (long long)i, (double)o2[i], (double)o1[i]);
        }
    }
}

/* Softmax: the SIMD exp against libm's, within a few ulp, zeros below 2^-126. */
static void check_softmax(const struct kern_ops *ref)
{
    for (int iter = 0; iter < 60; iter++) {
        int64_t n = 1 + (int64_t)(rnd_u32() % 600);
        static float s1[600], s2[600];
        for (int64_t i = 0; i < n; i++)
            s1[i] = s2[i] = (rnd_f() - 0.5f) * (iter < 30 ? 60.0f : 400.0f);
        ref->softmax_f32(n, s1);
        kern.softmax_f32(n, s2);
        for (int64_t i = 0; i < n; i++)
            if (fabsf(s1[i] - s2[i]) > 1e-6f * s1[i] + 1e-37f)
                fail_msg("softmax n=%lld i=%lld: %g vs %g", (long long)n, (long long)i, (double)s2[i], (double)s1[i]);
    }
}

/* Tile kernels against the reference dots (and bit for bit against vec_dot where promised). */
static int check_tiles(const struct kern_ops *ref)
{
    int n_tiles = 0;
    for (size_t ti = 0; ti < KB_ARRAY_LEN(weight_types); ti++) {
        int t = weight_types[ti];
        if (!kern.gemm[t])
            continue;
        const struct ggml_type_info *info = ggml_type_info(t);
        int at = ref->vec_dot_type[t];
        for (int iter = 0; iter < 20; iter++) {
            int64_t n = info->block_elems * (1 + (int64_t)(rnd_u32() % 9));
            size_t wrb = ggml_row_bytes(t, n) + 8 * (iter % 2), arb = ggml_row_bytes(at, n) + 4 * (iter % 3);
            if (4 * wrb > sizeof(sqw) || 4 * arb > sizeof(sqa1))
                continue;
            for (int r = 0; r < KERN_TILE; r++) {
                fill(sx, n, (iter + r) % 3);
                ref->quant[t](sx, sqw + r * wrb, n);
                fill(sy, n, r % 2);
                ref->quant[at](sy, sqa1 + r * arb, n);
            }
            float out[KERN_TILE * 5];
            kern.gemm[t](n, sqw, wrb, sqa1, arb, out, 5);
            for (int r = 0; r < KERN_TILE; r++)
                for (int k = 0; k < KERN_TILE; k++) {
                    /* where the tile promises it, bit for bit the dispatched vec_dot: batched
                     * (speculative verify) and one-token logits must not differ */
                    float one = kern.vec_dot[t](n, sqw + r * wrb, sqa1 + k * arb);
                    if (tile_exact(t) && memcmp(&one, &out[k * 5 + r], sizeof one) != 0)
                        fail_msg("%s gemm n=%lld r=%d t=%d: %.9g, vec_dot %.9g (not bit-identical)", info->name,
                                 (long long)n, r, k, (double)out[k * 5 + r], (double)one);
                    float want = ref->vec_dot[t](n, sqw + r * wrb, sqa1 + k * arb);
                    ref->dequant[t](sqw + r * wrb, sd1, n);
                    ref->dequant[at](sqa1 + k * arb, sd2, n);
                    double as = 0;
                    for (int64_t i = 0; i < n; i++)
                        as += fabs((double)sd1[i] * sd2[i]);
                    if (fabs((double)out[k * 5 + r] - want) > 1e-5 * as + 1e-6)
                        fail_msg("%s gemm n=%lld r=%d t=%d: %.9g vs %.9g", info->name, (long long)n, r, k,
                                 (double)out[k * 5 + r], (double)want);
                }
            n_tiles++;
        }
    }
    return n_tiles;
}

/* Row kernels (generation): the dispatched one bit for bit against the dispatched vec_dot on every
 * row (kern_dot_rows must not change a logit), and against its reference twin within the vec_dot
 * tolerance, at random lengths (odd block counts: the pair loop's tail), row counts (not multiples
 * of four: the leftover rows) and padded strides. Returns the cases checked. */
static int check_rows(const struct kern_ops *ref)
{
    int n_cases = 0;
    for (size_t ti = 0; ti < KB_ARRAY_LEN(weight_types); ti++) {
        int t = weight_types[ti];
        if (!ref->vec_dot_rows[t] && !kern.vec_dot_rows[t])
            continue;
        const struct ggml_type_info *info = ggml_type_info(t);
        int at = ref->vec_dot_type[t];
        for (int iter = 0; iter < 40; iter++) {
            int64_t max_blocks = KB_MIN(40, NMAX / info->block_elems); /* sx, sd1...: NMAX values */
            int64_t n = info->block_elems * (1 + (int64_t)(rnd_u32() % (uint32_t)max_blocks));
            int64_t n_rows = 1 + (int64_t)(rnd_u32() % 11);
            size_t wrb = ggml_row_bytes(t, n) + 2 * (size_t)(iter % 3);
            uint8_t *pw = kb_xmalloc(wrb * (size_t)n_rows);
            float got[11], want[11];
            for (int64_t r = 0; r < n_rows; r++) {
                fill(sx, n, (int)((iter + r) % 3));
                ref->quant[t](sx, pw + (size_t)r * wrb, n);
            }
            fill(sy, n, iter % 2);
            ref->quant[at](sy, sqa1, n);
            kern_dot_rows(t, n, pw, wrb, n_rows, sqa1, got);
            if (ref->vec_dot_rows[t])
                ref->vec_dot_rows[t](n, pw, wrb, n_rows, sqa1, want);
            for (int64_t r = 0; r < n_rows; r++) {
                float one = kern.vec_dot[t](n, pw + (size_t)r * wrb, sqa1);
                if (memcmp(&one, &got[r], sizeof one) != 0)
                    fail_msg("%s rows n=%lld rows=%lld r=%lld: %.9g, vec_dot %.9g (not bit-identical)", info->name,
                             (long long)n, (long long)n_rows, (long long)r, (double)got[r], (double)one);
                float w = ref->vec_dot_rows[t] ? want[r] : ref->vec_dot[t](n, pw + (size_t)r * wrb, sqa1);
                ref->dequant[t](pw + (size_t)r * wrb, sd1, n);
                ref->dequant[at](sqa1, sd2, n);
                double as = 0;
                for (int64_t i = 0; i < n; i++)
                    as += fabs((double)sd1[i] * sd2[i]);
                if (fabs((double)got[r] - w) > 1e-5 * as + 1e-6)
                    fail_msg("%s rows n=%lld r=%lld: %.9g vs reference %.9g", info->name, (long long)n,
                             (long long)r, (double)got[r], (double)w);
            }
            free(pw);
            n_cases++;
        }
    }
    return n_cases;
}

/* Panel kernels against the reference dots. */
static int check_panels(const struct kern_ops *ref)
{
    int n_panels = 0;
    for (size_t ti = 0; ti < KB_ARRAY_LEN(weight_types); ti++) {
        int t = weight_types[ti];
        if (!kern.gemm_panel[t])
            continue;
        const struct ggml_type_info *info = ggml_type_info(t);
        int at = ref->vec_dot_type[t];
        for (int iter = 0; iter < 12; iter++) {
            int64_t max_blocks = NMAX / info->block_elems < 100 ? NMAX / info->block_elems : 100;
            int64_t n = info->block_elems * (1 + (int64_t)(rnd_u32() % (uint32_t)max_blocks));
            int64_t n_tok = 1 + (int64_t)(rnd_u32() % 7);
            size_t wrb = ggml_row_bytes(t, n) + 8 * (iter % 2), arb = ggml_row_bytes(at, n) + 4 * (iter % 3);
            size_t ys = KERN_PANEL_ROWS + 3 * (iter % 2);
            uint8_t *pw = kb_xmalloc(wrb * KERN_PANEL_ROWS), *pa = kb_xmalloc(arb * (size_t)n_tok);
            float *out = kb_xmalloc(sizeof(float) * ys * (size_t)n_tok);
            for (int r = 0; r < KERN_PANEL_ROWS; r++) {
                fill(sx, n, (iter + r) % 3);
                ref->quant[t](sx, pw + r * wrb, n);
            }
            for (int64_t k = 0; k < n_tok; k++) {
                fill(sy, n, (int)(k % 2));
                ref->quant[at](sy, pa + k * arb, n);
            }
            kern.gemm_panel[t](n, pw, wrb, pa, arb, n_tok, out, ys);
            for (int r = 0; r < KERN_PANEL_ROWS; r++)
                for (int64_t k = 0; k < n_tok; k++) {
                    float want = ref->vec_dot[t](n, pw + r * wrb, pa + k * arb);
                    ref->dequant[t](pw + r * wrb, sd1, n);
                    ref->dequant[at](pa + k * arb, sd2, n);
                    double as = 0;
                    for (int64_t i = 0; i < n; i++)
                        as += fabs((double)sd1[i] * sd2[i]);
                    if (fabs((double)out[k * (int64_t)ys + r] - want) > 1e-5 * as + 1e-6)
                        fail_msg("%s panel n=%lld r=%d t=%lld: %.9g vs %.9g", info->name, (long long)n, r,
                                 (long long)k, (double)out[k * (int64_t)ys + r], (double)want);
                }
            free(pw);
            free(pa);
            free(out);
            n_panels++;
        }
    }
    return n_panels;
}

/* rows_dot_mq_f32/f16 (several queries at once): against the reference within the dot tolerance,
 * and bit for bit against one call per (query, row), at random lengths (tails of 8), query counts
 * (the 4- and 8-query blocks and their leftovers) and row counts (odd: the leftover row). Returns cases run. */
static int check_rows_mq(const struct kern_ops *ref)
{
    enum { MQ_N = 200, MQ_Q = 19, MQ_R = 9, MQ_QS = 203, MQ_KS = 211, MQ_OS = 13 };
    static float q[MQ_Q * MQ_QS], k[MQ_R * MQ_KS], want[MQ_Q * MQ_OS], got[MQ_Q * MQ_OS];
    static uint16_t qh[MQ_Q * MQ_QS], kh[MQ_R * MQ_KS];
    static float qr[MQ_Q * MQ_QS]; /* the queries rounded to F16, for the F16 rows */
    int n_cases = 0;
    for (int iter = 0; iter < 60; iter++) {
        int64_t n = 1 + (int64_t)(rnd_u32() % MQ_N), n_rows = 1 + (int64_t)(rnd_u32() % MQ_R);
        int nq = 1 + (int)(rnd_u32() % MQ_Q), f16 = iter % 2;
        float scale = f16 ? 0.125f : 1.0f;
        fill(q, MQ_Q * MQ_QS, iter % 3);
        fill(k, MQ_R * MQ_KS, (iter + 1) % 3);
        ref->quant[GGML_TYPE_F16](q, qh, MQ_Q * MQ_QS);
        ref->quant[GGML_TYPE_F16](k, kh, MQ_R * MQ_KS);
        ref->dequant[GGML_TYPE_F16](qh, qr, MQ_Q * MQ_QS);
        if (f16) {
            ref->rows_dot_mq_f16(n, qr, MQ_QS, nq, kh, MQ_KS, n_rows, scale, want, MQ_OS);
            kern.rows_dot_mq_f16(n, qr, MQ_QS, nq, kh, MQ_KS, n_rows, scale, got, MQ_OS);
        } else {
            ref->rows_dot_mq_f32(n, q, MQ_QS, nq, k, MQ_KS, n_rows, scale, want, MQ_OS);
            kern.rows_dot_mq_f32(n, q, MQ_QS, nq, k, MQ_KS, n_rows, scale, got, MQ_OS);
        }
        for (int j = 0; j < nq; j++)
            for (int64_t r = 0; r < n_rows; r++) {
                float one;
                double as = 0;
                if (f16)
                    kern.rows_dot_mq_f16(n, qr + (size_t)j * MQ_QS, MQ_QS, 1, kh + (size_t)r * MQ_KS, MQ_KS, 1, scale,
                                         &one, 1);
                else
                    kern.rows_dot_mq_f32(n, q + (size_t)j * MQ_QS, MQ_QS, 1, k + (size_t)r * MQ_KS, MQ_KS, 1, scale,
                                         &one, 1);
                float g = got[j * MQ_OS + r];
                if (memcmp(&one, &g, sizeof g) != 0)
                    fail_msg("rows_dot_mq_%s n=%lld nq=%d rows=%lld j=%d r=%lld: %.9g grouped, %.9g alone",
                             f16 ? "f16" : "f32", (long long)n, nq, (long long)n_rows, j, (long long)r, (double)g,
                             (double)one);
                for (int64_t i = 0; i < n; i++)
                    as += f16 ? fabs((double)kern_f16_to_f32(kh[r * MQ_KS + i]) * kern_f16_to_f32(qh[j * MQ_QS + i]))
                              : fabs((double)k[r * MQ_KS + i] * q[j * MQ_QS + i]);
                if (fabs((double)g - want[j * MQ_OS + r]) > scale * (1e-5 * as + 1e-6))
                    fail_msg("rows_dot_mq_%s n=%lld j=%d r=%lld: %g vs reference %g", f16 ? "f16" : "f32",
                             (long long)n, j, (long long)r, (double)g, (double)want[j * MQ_OS + r]);
            }
        n_cases++;
    }
    return n_cases;
}

/* rows_wsum_mq_f32/f16 (MLA generation's values): the reference's bits exactly (each (query,
 * value) is one fma chain in row order), for query counts around the 8- and 4-query blocks, widths
 * around 16/32 values and row counts past the 64-row blocks; and one query at a time gives the
 * bits of the group. */
static int check_rows_wsum_mq(const struct kern_ops *ref)
{
    enum { WQ_N = 150, WQ_Q = 19, WQ_R = 150, WQ_WS = 157, WQ_VS = 153, WQ_OS = 151 };
    static float w[WQ_Q * WQ_WS], v[WQ_R * WQ_VS], want[WQ_Q * WQ_OS], got[WQ_Q * WQ_OS], one[WQ_OS];
    static uint16_t vh[WQ_R * WQ_VS];
    int n_cases = 0;
    for (int iter = 0; iter < 40; iter++) {
        int64_t n = 1 + (int64_t)(rnd_u32() % WQ_N), n_rows = 1 + (int64_t)(rnd_u32() % WQ_R);
        int nq = 1 + (int)(rnd_u32() % WQ_Q), f16 = iter % 2;
        fill(w, WQ_Q * WQ_WS, iter % 3);
        fill(v, WQ_R * WQ_VS, (iter + 1) % 3);
        ref->quant[GGML_TYPE_F16](v, vh, WQ_R * WQ_VS);
        if (f16) {
            ref->rows_wsum_mq_f16(n, w, WQ_WS, nq, vh, WQ_VS, n_rows, want, WQ_OS);
            kern.rows_wsum_mq_f16(n, w, WQ_WS, nq, vh, WQ_VS, n_rows, got, WQ_OS);
        } else {
            ref->rows_wsum_mq_f32(n, w, WQ_WS, nq, v, WQ_VS, n_rows, want, WQ_OS);
            kern.rows_wsum_mq_f32(n, w, WQ_WS, nq, v, WQ_VS, n_rows, got, WQ_OS);
        }
        for (int j = 0; j < nq; j++) {
            if (f16)
                kern.rows_wsum_mq_f16(n, w + (size_t)j * WQ_WS, WQ_WS, 1, vh, WQ_VS, n_rows, one, WQ_OS);
            else
                kern.rows_wsum_mq_f32(n, w + (size_t)j * WQ_WS, WQ_WS, 1, v, WQ_VS, n_rows, one, WQ_OS);
            for (int64_t i = 0; i < n; i++) {
                float g = got[j * WQ_OS + i], r = want[j * WQ_OS + i];
                if (memcmp(&g, &r, sizeof g) != 0 || memcmp(&g, &one[i], sizeof g) != 0)
                    fail_msg("rows_wsum_mq_%s n=%lld nq=%d rows=%lld j=%d i=%lld: %.9g, reference %.9g, alone %.9g",
                             f16 ? "f16" : "f32", (long long)n, nq, (long long)n_rows, j, (long long)i, (double)g,
                             (double)r, (double)one[i]);
            }
        }
        n_cases++;
    }
    return n_cases;
}

static void test_simd_vs_ref(void **state)
{
    (void)state;
    kern_init(false);
    const struct kern_ops *ref = kern_ref_ops();
    int n_checked = check_vec_dots(ref);
    check_attention_helpers(ref);
    check_attention_rows(ref);
    check_softmax(ref);
    int n_tiles = check_tiles(ref);
    int n_panels = check_panels(ref);
    int n_rows = check_rows(ref);
    int n_mq = check_rows_mq(ref);
    n_mq += check_rows_wsum_mq(ref);
    printf("kernels: isa %s, %d vec_dot cases, %d tiles, %d panels, %d row-kernel and %d multi-query cases checked\n",
           kern.isa, n_checked, n_tiles, n_panels, n_rows, n_mq);
}

static void test_matmul(void **state)
{
    (void)state;
    kern_init(false);
    static const int types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                GGML_TYPE_Q5_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_K, GGML_TYPE_MXFP4};
    const int64_t n_in = 768, n_out = 69, n_tok_max = 41;
    float *wf = kb_xmalloc(sizeof(float) * n_in * n_out), *x = kb_xmalloc(sizeof(float) * n_in * n_tok_max);
    float *y = kb_xmalloc(sizeof(float) * n_out * n_tok_max), *wd = kb_xmalloc(sizeof(float) * n_in * n_out);
    float *ad = kb_xmalloc(sizeof(float) * n_in);
    uint8_t *wq = kb_xmalloc((size_t)n_in * n_out * 4);
    for (int nthr = 1; nthr <= 3; nthr += 2) {
        struct kern_pool *pool = NULL;
        assert_int_equal(kern_pool_new(&pool, nthr, NULL), 0);
        for (size_t ti = 0; ti < KB_ARRAY_LEN(types); ti++) {
            int t = types[ti];
            size_t rb = ggml_row_bytes(t, n_in);
            fill(wf, n_in * n_out, 0);
            for (int64_t r = 0; r < n_out; r++)
                kern.quant[t](wf + r * n_in, wq + r * rb, n_in);
            kern.dequant[t](wq, wd, n_in * n_out);
            for (int64_t n_tok = 1; n_tok <= n_tok_max; n_tok += n_tok < 9 ? 4 : 16) {
                fill(x, n_in * n_tok, 0);
                void *xq = kb_xmalloc(kern_matmul_scratch_bytes(t, n_in, n_tok) + 1);
                kern_matmul(pool, t, wq, n_in, n_out, x, n_tok, y, xq);
                int at = kern.vec_dot_type[t];
                for (int64_t tk = 0; tk < n_tok; tk++) {
                    /* reference: dequantized weights times the activation as quantized */
                    if (at == GGML_TYPE_F32) {
                        memcpy(ad, x + tk * n_in, sizeof(float) * n_in);
                    } else {
                        uint8_t tmp[4096];
                        kern.quant[at](x + tk * n_in, tmp, n_in);
                        kern.dequant[at](tmp, ad, n_in);
                    }
                    for (int64_t r = 0; r < n_out; r++) {
                        double s = 0, as = 0;
                        for (int64_t k = 0; k < n_in; k++) {
                            s += (double)wd[r * n_in + k] * ad[k];
                            as += fabs((double)wd[r * n_in + k] * ad[k]);
                        }
                        if (fabs(y[tk * n_out + r] - s) > 1e-5 * as + 1e-6)
                            fail_msg("matmul %s thr %d tok %lld row %lld: %g vs %g", ggml_type_info(t)->name, nthr,
                                     (long long)tk, (long long)r, (double)y[tk * n_out + r], s);
                    }
                }
                free(xq);
            }
        }
        kern_pool_free(pool);
    }
    free(wf);
    free(x);
    free(y);
    free(wd);
    free(ad);
    free(wq);
}

/* Layout check against real files: the quantized conformance models were made by llama.cpp from
 * the same F32 weights, so every dequantized tensor must be close to its F32 twin. A wrong block
 * layout gives errors of the order of the weights themselves. */
static void test_against_shared_files(void **state)
{
    (void)state;
    static const char *fam[][2] = {{"llama_f32", "llama_q8_0"}, {"llama_f32", "llama_q4_k_m"},
                                   {"llama_f32", "llama_q6_k"}, {"qwen3moe_f32", "qwen3moe_q4_k_m"},
                                   {"deepseek2_lite_f32", "deepseek2_lite_q4_k_m"}};
    struct gguf_file *ff = NULL, *fq = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s/conformance/llama_f32.gguf", KBOX_SHARED_DIR);
    if (gguf_open(&ff, path, NULL) != 0) {
        skip();
        return;
    }
    gguf_close(ff);
    kern_init(false);
    int seen[GGML_TYPE_COUNT] = {0};
    for (size_t c = 0; c < KB_ARRAY_LEN(fam); c++) {
        snprintf(path, sizeof(path), "%s/conformance/%s.gguf", KBOX_SHARED_DIR, fam[c][0]);
        assert_int_equal(gguf_open(&ff, path, NULL), 0);
        snprintf(path, sizeof(path), "%s/conformance/%s.gguf", KBOX_SHARED_DIR, fam[c][1]);
        assert_int_equal(gguf_open(&fq, path, NULL), 0);
        for (int i = 0; i < gguf_n_tensors(fq); i++) {
            const struct gguf_tensor *tq = gguf_tensor_at(fq, i), *tf = gguf_find_tensor(ff, tq->name);
            if (!tf || tq->type == GGML_TYPE_F32 || tf->type != GGML_TYPE_F32)
                continue;
            int64_t n = tq->ne[0] * tq->ne[1] * tq->ne[2] * tq->ne[3];
            float *d = kb_xmalloc(sizeof(float) * (size_t)n);
            kern.dequant[tq->type](tq->data, d, n);
            const float *f = tf->data;
            double e2 = 0, f2 = 0;
            for (int64_t k = 0; k < n; k++) {
                e2 += ((double)d[k] - f[k]) * ((double)d[k] - f[k]);
                f2 += (double)f[k] * f[k];
            }
            double rel = sqrt(e2 / f2);
            double lim = tq->type == GGML_TYPE_Q8_0 ? 0.01 : tq->type == GGML_TYPE_Q6_K ? 0.03 : 0.15;
            if (rel > lim)
                fail_msg("%s %s (%s): rms error %.4f > %.3f", fam[c][1], tq->name, ggml_type_info(tq->type)->name,
                         rel, lim);
            seen[tq->type]++;
            free(d);
        }
        gguf_close(fq);
        gguf_close(ff);
    }
    assert_true(seen[GGML_TYPE_Q8_0] > 0 && seen[GGML_TYPE_Q4_K] > 0 && seen[GGML_TYPE_Q6_K] > 0 &&
                seen[GGML_TYPE_Q5_0] > 0);
}

/* MXFP4 against the OCP MX spec, decoded independently of the kernels' table: E2M1 code = sign,
 * 2-bit exponent (bias 1), 1-bit mantissa; block value = 2^(e-127) * E2M1, nibble j of byte k is
 * element k (low) or k + 16 (high). Also ggml's scale choice (floor(log2 amax) - 2) and the dot of
 * such a block with a Q8_0 activation. */
static double e2m1(int code)
{
    int ex = (code >> 1) & 3, m = code & 1;
    double v = ex == 0 ? 0.5 * m : (1.0 + 0.5 * m) * ldexp(1.0, ex - 1);
    return code & 8 ? -v : v;
}

static void test_mxfp4_layout(void **state)
{
    (void)state;
    const struct kern_ops *ref = kern_ref_ops();
    kern_init(false);
    uint8_t blk[17 * 3];
    float out[96];
    for (int b = 0; b < 3; b++) {
        blk[17 * b] = (uint8_t)(b == 0 ? 127 : b == 1 ? 120 : 1); /* 2^0, 2^-7, 2^-126 */
        for (int k = 0; k < 16; k++)
            blk[17 * b + 1 + k] = (uint8_t)(k | (15 - k) << 4);
    }
    for (int pass = 0; pass < 2; pass++) {
        (pass ? kern.dequant : ref->dequant)[GGML_TYPE_MXFP4](blk, out, 96);
        for (int b = 0; b < 3; b++)
            for (int j = 0; j < 32; j++) {
                int code = j < 16 ? j : 15 - (j - 16);
                double want = e2m1(code) * ldexp(1.0, blk[17 * b] - 127);
                if ((double)out[32 * b + j] != want)
                    fail_msg("mxfp4 block %d value %d: %g, spec %g", b, j, (double)out[32 * b + j], want);
            }
    }
    /* the scale: amax 5.0 -> floor(log2 5) - 2 = 0 -> e 127; 5.0 / 1 lies between 4 and 6, ties to 4 */
    float x[32] = {0};
    x[3] = 5.0f;
    x[20] = -0.74f; /* nearest 0.5 */
    x[21] = 100.0f / 128.0f; /* 0.78: nearest 1.0 */
    ref->quant[GGML_TYPE_MXFP4](x, blk, 32);
    assert_int_equal(blk[0], 127);
    assert_int_equal(blk[1 + 3] & 0xF, 6);  /* 4.0 */
    assert_int_equal(blk[1 + 4] >> 4, 9);   /* -0.5 */
    assert_int_equal(blk[1 + 5] >> 4, 2);   /* 1.0 */
    assert_int_equal(blk[1 + 0], 0);        /* zeros stay code 0, not -0 */
    float z[32] = {0};
    ref->quant[GGML_TYPE_MXFP4](z, blk, 32);
    assert_int_equal(blk[0], 0);
    /* the dot with a Q8_0 activation of all ones (d = 1/127, q = 127) is the block's sum */
    float ones[32], w[32];
    for (int j = 0; j < 32; j++)
        ones[j] = 1.0f;
    ref->quant[GGML_TYPE_MXFP4](x, blk, 32);
    ref->dequant[GGML_TYPE_MXFP4](blk, w, 32);
    uint16_t qa[17]; /* one Q8_0 block (34 bytes), 2-byte aligned for its f16 delta */
    ref->quant[GGML_TYPE_Q8_0](ones, qa, 32);
    double sum = 0;
    for (int j = 0; j < 32; j++)
        sum += w[j];
    assert_float_equal(ref->vec_dot[GGML_TYPE_MXFP4](32, blk, qa), sum, 1e-3);
    assert_float_equal(kern.vec_dot[GGML_TYPE_MXFP4](32, blk, qa), sum, 1e-3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_mxfp4_layout),
        cmocka_unit_test(test_simd_vs_ref),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_against_shared_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
