/* infer/kernels/kern_ref.c: the scalar reference kernels, i.e. the specification every SIMD kernel
 * is tested against: dequantize and quantize a row of every supported type, and the dot product
 * of every weight type with its activation type (kern_ops.vec_dot_type).
 *
 * The maths follows ggml (block layouts in kern_int.h). Activation quantization reproduces what
 * llama.cpp does on x86, so logits match it closely: Q8_0/Q8_1 use d = amax/127, multiply by
 * 127/amax and round half to even (its AVX path); Q8_K uses iscale = -127/max (max = the value of
 * largest magnitude), round half to even, d = 1/iscale. Dot products accumulate each block's
 * integer sum exactly and add the scaled block sums in order; float dots accumulate in double.
 * Weight quantizers for Q4_0..Q5_1 and MXFP4 follow ggml's reference formulas; the K-quant weight quantizers
 * (used by the synthetic-model writer only) are simple min/max fits, not llama-quantize's search,
 * which is fine because any valid block is a valid weight.
 *
 * No allocation, no threads, no model knowledge. Tests: tests/infer/test_kernels.c. */
#include <math.h>
#include <string.h>

#include "infer/kernels/kern_int.h"

/* Round half to even, as ggml's nearest_int and the SIMD conversions do (default rounding mode).
 * Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits; exact for |x| < 2^22, so
 * x is clamped first (callers clamp the result to a small range anyway). Avoids a libm call. */
static int nearest_int(float x)
{
    x = x < -4194303.0f ? -4194303.0f : x > 4194303.0f ? 4194303.0f : x;
    float v = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

#define F16(h) kern_f16_to_f32(h)

/* ---- F32 / F16 / BF16 ------------------------------------------------------------------------- */

static void deq_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void q_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void deq_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f16_to_f32(s[i]);
}

static void q_f16(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = kern_f32_to_f16(src[i]);
}

static void deq_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_bf16_to_f32(s[i]);
}

static void q_bf16(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = kern_f32_to_bf16(src[i]);
}

static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(x[i] * y[i]);
    return (float)s;
}

static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(F16(x[i]) * F16(y[i]));
    return (float)s;
}

static float dot_bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(kern_bf16_to_f32(x[i]) * kern_bf16_to_f32(y[i]));
    return (float)s;
}

static float dot_f32_f16(int64_t n, const float *x, const uint16_t *h)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(x[i] * F16(h[i]));
    return (float)s;
}

static void axpy_f16(int64_t n, float a, const uint16_t *h, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * F16(h[i]);
}

static void rows_dot_f32(int64_t n, const float *q, const float *k, size_t stride, int64_t n_rows, float scale,
                         float *out)
{
    for (int64_t r = 0; r < n_rows; r++)
        out[r] = dot_f32(n, k + (size_t)r * stride, q) * scale;
}

static void rows_dot_f16(int64_t n, const uint16_t *q, const uint16_t *k, size_t stride, int64_t n_rows, float scale,
                         float *out)
{
    for (int64_t r = 0; r < n_rows; r++)
        out[r] = dot_f16(n, k + (size_t)r * stride, q) * scale;
}

/* Reference twins of the multi-query dots: one dot per (query, row), in double. */
static void rows_dot_mq_f32(int64_t n, const float *q, size_t qs, int nq, const float *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    for (int j = 0; j < nq; j++)
        rows_dot_f32(n, q + (size_t)j * qs, k, stride, n_rows, scale, out + (size_t)j * os);
}

static void rows_dot_mq_f16(int64_t n, const float *q, size_t qs, int nq, const uint16_t *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    for (int j = 0; j < nq; j++)
        for (int64_t r = 0; r < n_rows; r++)
            out[(size_t)j * os + (size_t)r] = dot_f32_f16(n, q + (size_t)j * qs, k + (size_t)r * stride) * scale;
}
/* Reference twins of the multi-query weighted sums: the defining chain of fmaf per (query, value),
 * over F32 (is_f16 0) or F16 rows. */
static void rows_wsum_mq(int is_f16, int64_t n, const float *w, size_t ws, int nq, const void *v, size_t stride,
                         int64_t n_rows, float *out, size_t os)
{
    for (int j = 0; j < nq; j++)
        for (int64_t i = 0; i < n; i++) {
            float a = 0.0f;
            for (int64_t r = 0; r < n_rows; r++) {
                size_t at = (size_t)r * stride + (size_t)i;
                float x = is_f16 ? kern_f16_to_f32(((const uint16_t *)v)[at]) : ((const float *)v)[at];
                a = fmaf(w[(size_t)j * ws + (size_t)r], x, a);
            }
            out[(size_t)j * os + (size_t)i] = a;
        }
}

static void rows_wsum_mq_f32(int64_t n, const float *w, size_t ws, int nq, const float *v, size_t stride,
                             int64_t n_rows, float *out, size_t os)
{
    rows_wsum_mq(0, n, w, ws, nq, v, stride, n_rows, out, os);
}

static void rows_wsum_mq_f16(int64_t n, const float *w, size_t ws, int nq, const uint16_t *v, size_t stride,
                             int64_t n_rows, float *out, size_t os)
{
    rows_wsum_mq(1, n, w, ws, nq, v, stride, n_rows, out, os);
}

static void softmax_f32(int64_t n, float *x)
{
    float mx = -INFINITY;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void rows_wsum_f32(int64_t n, const float *w, const float *v, size_t stride, int64_t n_rows, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t r = 0; r < n_rows; r++)
            s += (double)w[r] * v[(size_t)r * stride + i];
        out[i] = (float)s;
    }
}

static void rows_dot_x4_f32(int64_t n, const float *q, size_t qs, const float *k, size_t stride, int64_t n_rows,
                            float scale, float *out, size_t os)
{
    for (int j = 0; j < 4; j++)
        rows_dot_f32(n, q + (size_t)j * qs, k, stride, n_rows, scale, out + (size_t)j * os);
}

static void rows_wsum_x4_f32(int64_t n, const float *w, size_t ws, const float *v, size_t stride, int64_t n_rows,
                             float *out, size_t os)
{
    for (int j = 0; j < 4; j++)
        rows_wsum_f32(n, w + (size_t)j * ws, v, stride, n_rows, out + (size_t)j * os);
}

/* ---- Q4_0 / Q4_1 / Q5_0 / Q5_1 ----------------------------------------------------------------- */

static void deq_q4_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + QK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q_q4_0(const float *x, void *dst, int64_t n)
{
    struct blk_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -8, id = d ? 1.0f / d : 0.0f;
        b[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + QK / 2] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static void deq_q4_1(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d), m = F16(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0xF) * d + m;
            dst[j + QK / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q_q4_1(const float *x, void *dst, int64_t n)
{
    struct blk_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float mn = INFINITY, mx = -INFINITY;
        for (int j = 0; j < QK; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
        b[i].d = kern_f32_to_f16(d);
        b[i].m = kern_f32_to_f16(mn);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(int8_t)((x[j] - mn) * id + 0.5f), q1 = (int)(int8_t)((x[j + QK / 2] - mn) * id + 0.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* The 5-bit values of a Q5_0/Q5_1 block (0..31). */
static void q5_unpack(const uint8_t qh4[4], const uint8_t *qs, int v[QK])
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < QK / 2; j++) {
        v[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        v[j + QK / 2] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}

static void q5_pack(const int v[QK], uint8_t qh4[4], uint8_t *qs)
{
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((v[j] & 0xF) | (v[j + QK / 2] & 0xF) << 4);
        qh |= (uint32_t)((v[j] >> 4) & 1) << j;
        qh |= (uint32_t)((v[j + QK / 2] >> 4) & 1) << (j + 16);
    }
    memcpy(qh4, &qh, 4);
}

static void deq_q5_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_0 *b = src;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d);
        q5_unpack(b[i].qh, b[i].qs, v);
        for (int j = 0; j < QK; j++)
            dst[j] = (float)(v[j] - 16) * d;
    }
}

static void q_q5_0(const float *x, void *dst, int64_t n)
{
    struct blk_q5_0 *b = dst;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -16, id = d ? 1.0f / d : 0.0f;
        b[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < QK; j++) {
            int q = (int)(int8_t)(x[j] * id + 16.5f);
            v[j] = q > 31 ? 31 : q;
        }
        q5_pack(v, b[i].qh, b[i].qs);
    }
}

static void deq_q5_1(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_1 *b = src;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d), m = F16(b[i].m);
        q5_unpack(b[i].qh, b[i].qs, v);
        for (int j = 0; j < QK; j++)
            dst[j] = (float)v[j] * d + m;
    }
}

static void q_q5_1(const float *x, void *dst, int64_t n)
{
    struct blk_q5_1 *b = dst;
    int v[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float mn = INFINITY, mx = -INFINITY;
        for (int j = 0; j < QK; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
        b[i].d = kern_f32_to_f16(d);
        b[i].m = kern_f32_to_f16(mn);
        for (int j = 0; j < QK; j++) {
            int q = (int)(uint8_t)((x[j] - mn) * id + 0.5f);
            v[j] = q > 31 ? 31 : q;
        }
        q5_pack(v, b[i].qh, b[i].qs);
    }
}

/* ---- Q8_0 / Q8_1 / Q8_K --------------------------------------------------------------------------- */

static void deq_q8_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* Quantizes 32 values to int8 the way llama.cpp's x86 path does; returns d and the sum of q. */
static float q8_block(const float *x, int8_t *q, int *sum)
{
    float amax = 0;
    for (int j = 0; j < QK; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < QK; j++) {
        q[j] = (int8_t)nearest_int(x[j] * id);
        s += q[j];
    }
    *sum = s;
    return d;
}

static void q_q8_0(const float *x, void *dst, int64_t n)
{
    struct blk_q8_0 *b = dst;
    int s;
    for (int64_t i = 0; i < n / QK; i++, x += QK)
        b[i].d = kern_f32_to_f16(q8_block(x, b[i].qs, &s));
}

static void deq_q8_1(const void *src, float *dst, int64_t n)
{
    const struct blk_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

static void q_q8_1(const float *x, void *dst, int64_t n)
{
    struct blk_q8_1 *b = dst;
    int s;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float d = q8_block(x, b[i].qs, &s);
        b[i].d = kern_f32_to_f16(d);
        b[i].s = kern_f32_to_f16(d * (float)s);
    }
}

static void deq_q8_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q8_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++)
            dst[j] = b[i].d * (float)b[i].qs[j];
}

static void q_q8_k(const float *x, void *dst, int64_t n)
{
    struct blk_q8_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (amax == 0) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++)
                s += b[i].qs[j * 16 + k];
            b[i].bsums[j] = (int16_t)s;
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- Q4_K / Q5_K / Q6_K ------------------------------------------------------------------------- */

static void deq_q4_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = F16(b[i].d), dmin = F16(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < QK_K / 64; j++, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            kern_k4_scale_min(2 * j, b[i].scales, &sc0, &m0);
            kern_k4_scale_min(2 * j + 1, b[i].scales, &sc1, &m1);
            float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d0 * (float)(q[l] & 0xF) - mm0;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

static void deq_q5_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = F16(b[i].d), dmin = F16(b[i].dmin);
        const uint8_t *q = b[i].qs, *qh = b[i].qh;
        for (int j = 0; j < QK_K / 64; j++, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            kern_k4_scale_min(2 * j, b[i].scales, &sc0, &m0);
            kern_k4_scale_min(2 * j + 1, b[i].scales, &sc1, &m1);
            float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d0 * (float)((q[l] & 0xF) + (((qh[l] >> (2 * j)) & 1) << 4)) - mm0;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)((q[l] >> 4) + (((qh[l] >> (2 * j + 1)) & 1) << 4)) - mm1;
        }
    }
}

static void deq_q6_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q6_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = F16(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < QK_K / 128; h++, ql += 64, qh += 32, sc += 8, dst += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * sc[is + 0] * (float)q1;
                dst[l + 32] = d * sc[is + 2] * (float)q2;
                dst[l + 64] = d * sc[is + 4] * (float)q3;
                dst[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

/* Fits 8 sub-blocks of 32 with x ~ d*sc[j]*q - dmin*m[j], q in 0..nmax; writes the 6-bit scales
 * and mins packed as Q4_K/Q5_K store them and the integer levels L (0..nmax). */
static void fit_k4(const float *x, int nmax, uint16_t *dd, uint16_t *ddmin, uint8_t scales[12], uint8_t L[QK_K])
{
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = 0; /* include 0 so the min is >= 0 as the format needs */
        for (int l = 0; l < 32; l++) {
            lo = x[32 * j + l] < lo ? x[32 * j + l] : lo;
            hi = x[32 * j + l] > hi ? x[32 * j + l] : hi;
        }
        sc[j] = (hi - lo) / (float)nmax;
        mn[j] = -lo;
        max_sc = fmaxf(max_sc, sc[j]);
        max_mn = fmaxf(max_mn, mn[j]);
    }
    float isc = max_sc > 0 ? 63.f / max_sc : 0.f, imn = max_mn > 0 ? 63.f / max_mn : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        int a = nearest_int(isc * sc[j]), b = nearest_int(imn * mn[j]);
        ls[j] = (uint8_t)(a > 63 ? 63 : a);
        lm[j] = (uint8_t)(b > 63 ? 63 : b);
    }
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    *dd = kern_f32_to_f16(max_sc / 63.f);
    *ddmin = kern_f32_to_f16(max_mn / 63.f);
    float d = F16(*dd), dmin = F16(*ddmin);
    for (int j = 0; j < 8; j++) {
        float s = d * ls[j], m = dmin * lm[j];
        for (int l = 0; l < 32; l++) {
            int q = s > 0 ? nearest_int((x[32 * j + l] + m) / s) : 0;
            L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > nmax ? nmax : q);
        }
    }
}

static void q_q4_k(const float *x, void *dst, int64_t n)
{
    struct blk_q4_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        fit_k4(x, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int j = 0; j < QK_K / 64; j++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * j + l] = (uint8_t)(L[64 * j + l] | L[64 * j + 32 + l] << 4);
    }
}

static void q_q5_k(const float *x, void *dst, int64_t n)
{
    struct blk_q5_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        fit_k4(x, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof(b[i].qh));
        for (int j = 0; j < QK_K / 64; j++)
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * j + l], hi = L[64 * j + 32 + l];
                b[i].qs[32 * j + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
                b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1)));
            }
    }
}

static void q_q6_k(const float *x, void *dst, int64_t n)
{
    struct blk_q6_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float sc[16], max_sc = 0, amax_sc = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, max = 0;
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * j + l]) > amax) {
                    amax = fabsf(x[16 * j + l]);
                    max = x[16 * j + l];
                }
            sc[j] = max / -32.f; /* the largest value maps to level -32 */
            if (fabsf(sc[j]) > amax_sc) {
                amax_sc = fabsf(sc[j]);
                max_sc = sc[j];
            }
        }
        float iscale = max_sc != 0 ? -128.f / max_sc : 0.f;
        b[i].d = kern_f32_to_f16(iscale != 0 ? 1 / iscale : 0.f);
        float d = F16(b[i].d);
        uint8_t L[QK_K];
        for (int j = 0; j < 16; j++) {
            int s = nearest_int(iscale * sc[j]);
            s = s > 127 ? 127 : s < -128 ? -128 : s;
            b[i].scales[j] = (int8_t)s;
            float ds = d * (float)s;
            for (int l = 0; l < 16; l++) {
                int q = ds != 0 ? nearest_int(x[16 * j + l] / ds) : 0;
                q = q < -32 ? -32 : q > 31 ? 31 : q;
                L[16 * j + l] = (uint8_t)(q + 32);
            }
        }
        uint8_t *ql = b[i].ql, *qh = b[i].qh;
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                int q1 = L[h + l], q2 = L[h + l + 32], q3 = L[h + l + 64], q4 = L[h + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
                ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
                qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
    }
}

/* ---- MXFP4 ------------------------------------------------------------------------------------ */

static void deq_mxfp4(const void *src, float *dst, int64_t n)
{
    const struct blk_mxfp4 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = kern_e8m0_half(b[i].e);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)kern_fp4_lv[b[i].qs[j] & 0xF] * d;
            dst[j + QK / 2] = (float)kern_fp4_lv[b[i].qs[j] >> 4] * d;
        }
    }
}

/* The FP4 code nearest to x at half-scale d: the magnitude by smallest |lv * d - |x|| (ties to the
 * smaller magnitude), then the sign bit unless the magnitude is zero. */
static uint8_t fp4_code(float x, float d)
{
    float ax = fabsf(x), best = ax;
    int k = 0;
    for (int i = 1; i < 8; i++) {
        float e = fabsf((float)kern_fp4_lv[i] * d - ax);
        if (e < best) {
            best = e;
            k = i;
        }
    }
    return (uint8_t)(k && x < 0 ? k | 8 : k);
}

/* The scale as ggml's reference quantizer picks it: E8M0 exponent floor(log2(amax)) - 2, so amax
 * lands between 4 and 8 (times 2^(e-127)), i.e. the top FP4 levels 4 and 6 (saturating at 6 for
 * the top quarter of the binade). frexpf gives floor(log2) exactly. All-zero blocks get e = 0. */
static void q_mxfp4(const float *x, void *dst, int64_t n)
{
    struct blk_mxfp4 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        int e = 0;
        if (amax > 0) {
            int ex;
            (void)frexpf(amax, &ex); /* amax = m * 2^ex, m in [0.5, 1): floor(log2 amax) = ex - 1 */
            e = ex - 1 - 2 + 127;
            e = e < 0 ? 0 : e > 254 ? 254 : e;
        }
        b[i].e = (uint8_t)e;
        float d = kern_e8m0_half(b[i].e);
        for (int j = 0; j < QK / 2; j++)
            b[i].qs[j] = (uint8_t)(fp4_code(x[j], d) | fp4_code(x[j + QK / 2], d) << 4);
    }
}

/* ---- dot products ----------------------------------------------------------------------------- */

static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int si = 0;
        for (int j = 0; j < QK / 2; j++)
            si += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK / 2];
        s += (float)si * (F16(x[i].d) * F16(y[i].d));
    }
    return s;
}

static float dot_mxfp4(int64_t n, const void *w, const void *a)
{
    const struct blk_mxfp4 *x = w;
    const struct blk_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int si = 0;
        for (int j = 0; j < QK / 2; j++)
            si += kern_fp4_lv[x[i].qs[j] & 0xF] * y[i].qs[j] + kern_fp4_lv[x[i].qs[j] >> 4] * y[i].qs[j + QK / 2];
        s += (float)si * (kern_e8m0_half(x[i].e) * F16(y[i].d));
    }
    return s;
}

static float dot_q4_1(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_1 *x = w;
    const struct blk_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int si = 0;
        for (int j = 0; j < QK / 2; j++)
            si += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + QK / 2];
        s += (float)si * (F16(x[i].d) * F16(y[i].d)) + F16(x[i].m) * F16(y[i].s);
    }
    return s;
}

static float dot_q5_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_0 *x = w;
    const struct blk_q8_0 *y = a;
    int v[QK];
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        q5_unpack(x[i].qh, x[i].qs, v);
        int si = 0;
        for (int j = 0; j < QK; j++)
            si += (v[j] - 16) * y[i].qs[j];
        s += (float)si * (F16(x[i].d) * F16(y[i].d));
    }
    return s;
}

static void dot_rows_q5_0(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *a, float *y)
{
    for (int64_t r = 0; r < n_rows; r++)
        y[r] = dot_q5_0(n, (const uint8_t *)w + (size_t)r * w_stride, a);
}

static float dot_q5_1(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_1 *x = w;
    const struct blk_q8_1 *y = a;
    int v[QK];
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        q5_unpack(x[i].qh, x[i].qs, v);
        int si = 0;
        for (int j = 0; j < QK; j++)
            si += v[j] * y[i].qs[j];
        s += (float)si * (F16(x[i].d) * F16(y[i].d)) + F16(x[i].m) * F16(y[i].s);
    }
    return s;
}

static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w;
    const struct blk_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int si = 0;
        for (int j = 0; j < QK; j++)
            si += x[i].qs[j] * y[i].qs[j];
        s += (float)si * (F16(x[i].d) * F16(y[i].d));
    }
    return s;
}

/* Reference twin of the row kernels: the plain loop over rows. */
static void dot_rows_q8_0(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *a, float *y)
{
    for (int64_t r = 0; r < n_rows; r++)
        y[r] = dot_q8_0(n, (const uint8_t *)w + (size_t)r * w_stride, a);
}

static float dot_q8_1(int64_t n, const void *w, const void *a)
{
    const struct blk_q8_1 *x = w;
    const struct blk_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int si = 0;
        for (int j = 0; j < QK; j++)
            si += x[i].qs[j] * y[i].qs[j];
        s += (float)si * (F16(x[i].d) * F16(y[i].d));
    }
    return s;
}

/* Q4_K and Q5_K: per block, sum_j scale_j * dot_j exactly in integers, minus the mins term from
 * the activation's 16-value block sums. */
static float dot_q4_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_k *x = w;
    const struct blk_q8_k *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32_t si = 0, sm = 0;
        for (int j = 0; j < QK_K / 64; j++, q += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            kern_k4_scale_min(2 * j, x[i].scales, &sc0, &m0);
            kern_k4_scale_min(2 * j + 1, x[i].scales, &sc1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += (q[l] & 0xF) * q8[l];
                d1 += (q[l] >> 4) * q8[l + 32];
            }
            si += sc0 * d0 + sc1 * d1;
            sm += m0 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) + m1 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        s += F16(x[i].d) * y[i].d * (float)si - F16(x[i].dmin) * y[i].d * (float)sm;
    }
    return s;
}

static void dot_rows_q4_k(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *a, float *y)
{
    for (int64_t r = 0; r < n_rows; r++)
        y[r] = dot_q4_k(n, (const uint8_t *)w + (size_t)r * w_stride, a);
}

static float dot_q5_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_k *x = w;
    const struct blk_q8_k *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        int32_t si = 0, sm = 0;
        for (int j = 0; j < QK_K / 64; j++, q += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            kern_k4_scale_min(2 * j, x[i].scales, &sc0, &m0);
            kern_k4_scale_min(2 * j + 1, x[i].scales, &sc1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += ((q[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * q8[l];
                d1 += ((q[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * q8[l + 32];
            }
            si += sc0 * d0 + sc1 * d1;
            sm += m0 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) + m1 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        s += F16(x[i].d) * y[i].d * (float)si - F16(x[i].dmin) * y[i].d * (float)sm;
    }
    return s;
}

static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int32_t si = 0;
        for (int h = 0; h < QK_K / 128; h++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            int acc[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                acc[is + 0] += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * q8[l];
                acc[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                acc[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                acc[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
            }
            for (int k = 0; k < 8; k++)
                si += sc[k] * acc[k];
        }
        s += F16(x[i].d) * y[i].d * (float)si;
    }
    return s;
}

static void dot_rows_q6_k(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *a, float *y)
{
    for (int64_t r = 0; r < n_rows; r++)
        y[r] = dot_q6_k(n, (const uint8_t *)w + (size_t)r * w_stride, a);
}

static float dot_q8_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q8_k *x = w;
    const struct blk_q8_k *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t si = 0;
        for (int j = 0; j < QK_K; j++)
            si += x[i].qs[j] * y[i].qs[j];
        s += x[i].d * y[i].d * (float)si;
    }
    return s;
}

void kern_ref_fill(struct kern_ops *ops)
{
    static const struct {
        int type;
        kern_dequant_fn deq;
        kern_quant_fn q;
        kern_vec_dot_fn dot;
        int vdt;
    } tab[] = {
        {GGML_TYPE_F32, deq_f32, q_f32, dot_f32, GGML_TYPE_F32},
        {GGML_TYPE_F16, deq_f16, q_f16, dot_f16, GGML_TYPE_F16},
        {GGML_TYPE_BF16, deq_bf16, q_bf16, dot_bf16, GGML_TYPE_BF16},
        {GGML_TYPE_Q4_0, deq_q4_0, q_q4_0, dot_q4_0, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q4_1, deq_q4_1, q_q4_1, dot_q4_1, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q5_0, deq_q5_0, q_q5_0, dot_q5_0, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q5_1, deq_q5_1, q_q5_1, dot_q5_1, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q8_0, deq_q8_0, q_q8_0, dot_q8_0, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q8_1, deq_q8_1, q_q8_1, dot_q8_1, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q4_K, deq_q4_k, q_q4_k, dot_q4_k, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q5_K, deq_q5_k, q_q5_k, dot_q5_k, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q6_K, deq_q6_k, q_q6_k, dot_q6_k, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q8_K, deq_q8_k, q_q8_k, dot_q8_k, GGML_TYPE_Q8_K},
        {GGML_TYPE_MXFP4, deq_mxfp4, q_mxfp4, dot_mxfp4, GGML_TYPE_Q8_0},
    };
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        ops->dequant[tab[i].type] = tab[i].deq;
        ops->quant[tab[i].type] = tab[i].q;
        ops->vec_dot[tab[i].type] = tab[i].dot;
        ops->vec_dot_type[tab[i].type] = tab[i].vdt;
    }
    ops->vec_dot_rows[GGML_TYPE_Q8_0] = dot_rows_q8_0;
    ops->vec_dot_rows[GGML_TYPE_Q4_K] = dot_rows_q4_k;
    ops->vec_dot_rows[GGML_TYPE_Q5_0] = dot_rows_q5_0;
    ops->vec_dot_rows[GGML_TYPE_Q6_K] = dot_rows_q6_k;
    ops->dot_f32_f16 = dot_f32_f16;
    ops->axpy_f16 = axpy_f16;
    ops->rows_dot_f32 = rows_dot_f32;
    ops->rows_wsum_f32 = rows_wsum_f32;
    ops->softmax_f32 = softmax_f32;
    ops->rows_dot_x4_f32 = rows_dot_x4_f32;
    ops->rows_wsum_x4_f32 = rows_wsum_x4_f32;
    ops->rows_dot_f16 = rows_dot_f16;
    ops->rows_dot_mq_f32 = rows_dot_mq_f32;
    ops->rows_dot_mq_f16 = rows_dot_mq_f16;
    ops->rows_wsum_mq_f32 = rows_wsum_mq_f32;
    ops->rows_wsum_mq_f16 = rows_wsum_mq_f16;
}
