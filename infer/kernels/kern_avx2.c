/* infer/kernels/kern_avx2.c: AVX2 + FMA + F16C kernels. Compiled with those flags alone; kern_init()
 * only installs them when the CPU has all three. Each has a reference twin in kern_ref.c and is
 * tested against it in tests/infer/test_kernels.c (activation quantizers bit-identical, dots within
 * float summation-order error).
 *
 * Integer dot products: signed x signed int8 uses |a| * sign(b, a) with maddubs (pairs of products
 * fit int16: |q| <= 127 on one side and <= 128 on the other); unsigned nibbles x int8 go straight
 * to maddubs; MXFP4's nibbles become signed levels by one byte shuffle through the E2M1 table (its
 * tile is the Q*_0 one, its panel its own). Per-block int32 sums are exact; they are scaled and accumulated in 8 float lanes.
 * BF16 rows are widened by a 16-bit shift. The quantizers round with cvtps (round half to even, the default MXCSR mode), as llama.cpp's x86
 * path does. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "infer/kernels/kern_int.h"
#include "infer/kernels/kern_x86.h"

static inline int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* 8 int32 sums of 4 products each, for signed int8 x signed int8. */
static inline __m256i dot_i8(__m256i x, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 32 nibbles of 16 bytes: low nibbles in bytes 0..15, high nibbles in 16..31. */
static inline __m256i nibbles32(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0xF));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set. */
static inline __m256i bits32(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)u),
                                    _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                      0x0101010101010101, 0x0000000000000000));
    __m256i m = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, m), m);
}

/* ---- quantizers ----------------------------------------------------------------------------------- */

/* 32 floats -> 32 int8 with multiplier id; returns the 8-lane int32 vectors' sum if wanted. */
static inline __m256i q8_32(const float *x, float id, __m256i *sum)
{
    __m256 m = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), m));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), m));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), m));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), m));
    if (sum)
        *sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m256i a = _mm256_packs_epi32(i0, i1), b = _mm256_packs_epi32(i2, i3);
    __m256i c = _mm256_packs_epi16(a, b);
    return _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float amax32(const float *x)
{
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void q_q8_0(const float *x, void *dst, int64_t n)
{
    struct blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = amax32(x);
        b[i].d = kern_f32_to_f16(amax / 127.f);
        __m256i q = q8_32(x, amax != 0.0f ? 127.f / amax : 0.0f, NULL);
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
    }
}

static void q_q8_1(const float *x, void *dst, int64_t n)
{
    struct blk_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = amax32(x), d = amax / 127.f;
        __m256i s;
        __m256i q = q8_32(x, amax != 0.0f ? 127.f / amax : 0.0f, &s);
        b[i].d = kern_f32_to_f16(d);
        b[i].s = kern_f32_to_f16(d * (float)hsum8i(s));
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
    }
}

static void q_q8_k(const float *x, void *dst, int64_t n)
{
    struct blk_q8_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 vmax = _mm256_loadu_ps(x), vmin = vmax;
        for (int j = 8; j < QK_K; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            vmax = _mm256_max_ps(vmax, v);
            vmin = _mm256_min_ps(vmin, v);
        }
        float hi = -INFINITY, lo = INFINITY, t[8];
        _mm256_storeu_ps(t, vmax);
        for (int j = 0; j < 8; j++)
            hi = fmaxf(hi, t[j]);
        _mm256_storeu_ps(t, vmin);
        for (int j = 0; j < 8; j++)
            lo = fminf(lo, t[j]);
        float max; /* the value of largest magnitude, the first one on a tie (as the reference) */
        if (hi > -lo) {
            max = hi;
        } else if (-lo > hi) {
            max = lo;
        } else {
            max = 0;
            for (int j = 0; j < QK_K; j++)
                if (fabsf(x[j]) == hi) {
                    max = x[j];
                    break;
                }
        }
        if (max == 0) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q = q8_32(x + j, iscale, NULL);
            q = _mm256_min_epi8(q, _mm256_set1_epi8(127));
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* block sums of 16: widen to int16 and add pairs of 8 */
            __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
            int16_t s0[16], s1[16];
            _mm256_storeu_si256((__m256i *)s0, w0);
            _mm256_storeu_si256((__m256i *)s1, w1);
            int a0 = 0, a1 = 0;
            for (int k = 0; k < 16; k++) {
                a0 += s0[k];
                a1 += s1[k];
            }
            b[i].bsums[j / 16] = (int16_t)a0;
            b[i].bsums[j / 16 + 1] = (int16_t)a1;
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- float dots ----------------------------------------------------------------------------------- */

static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8))), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += f16(x[i]) * f16(y[i]);
    return s;
}

static void deq_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *x = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        dst[i] = f16(x[i]);
}

/* F32 -> F16 with F16C, round to nearest even: bit for bit kern_f32_to_f16 (quiet NaNs keep their
 * top mantissa bits, overflow gives inf, subnormal halves round correctly). Attention quantizes
 * every query row to F16 for the F16 KV cache, so the scalar loop showed in prompt profiles. */
static void q_f16(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        d[i] = kern_f32_to_f16(src[i]);
}

static float dot_f32_f16(int64_t n, const float *x, const uint16_t *h)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i + 8))),
                             s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += x[i] * f16(h[i]);
    return s;
}

static void axpy_f16(int64_t n, float a, const uint16_t *h, float *y)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * f16(h[i]);
}

/* Eight values of a float row: F32 as is, F16 widened (both kinds pair with activations of their
 * own type). */
static inline __attribute__((always_inline)) __m256 fl8(int is_f16, const uint8_t *p, int64_t i)
{
    return is_f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))) : _mm256_loadu_ps((const float *)p + i);
}

static inline __attribute__((always_inline)) float fl1(int is_f16, const uint8_t *p, int64_t i)
{
    return is_f16 ? f16(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* The four sums of four accumulators, in order (hadd twice, then the two lanes). */
static inline __m128 hsum4x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* Four rows against one query: each row's products in its own accumulator, then one horizontal
 * reduction for all four. F32 rows, or F16 rows (products of two F16 values are exact in F32);
 * leftover rows take the type's dot. */
static inline __attribute__((always_inline)) void rows_dot_float(int is_f16, kern_vec_dot_fn dot, int64_t n,
                                                                 const void *q, const void *k, size_t stride,
                                                                 int64_t n_rows, float scale, float *out)
{
    const size_t row = stride * (is_f16 ? 2 : 4);
    const uint8_t *qb = q;
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4) {
        const uint8_t *k0 = (const uint8_t *)k + (size_t)r * row, *k1 = k0 + row, *k2 = k1 + row, *k3 = k2 + row;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 vq = fl8(is_f16, qb, i);
            s0 = _mm256_fmadd_ps(fl8(is_f16, k0, i), vq, s0);
            s1 = _mm256_fmadd_ps(fl8(is_f16, k1, i), vq, s1);
            s2 = _mm256_fmadd_ps(fl8(is_f16, k2, i), vq, s2);
            s3 = _mm256_fmadd_ps(fl8(is_f16, k3, i), vq, s3);
        }
        float d[4];
        _mm_storeu_ps(d, hsum4x8(s0, s1, s2, s3));
        for (; i < n; i++) {
            float qi = fl1(is_f16, qb, i);
            d[0] += fl1(is_f16, k0, i) * qi;
            d[1] += fl1(is_f16, k1, i) * qi;
            d[2] += fl1(is_f16, k2, i) * qi;
            d[3] += fl1(is_f16, k3, i) * qi;
        }
        for (int j = 0; j < 4; j++)
            out[r + j] = d[j] * scale;
    }
    for (; r < n_rows; r++)
        out[r] = dot(n, (const uint8_t *)k + (size_t)r * row, q) * scale;
}

static void rows_dot_f32(int64_t n, const float *q, const float *k, size_t stride, int64_t n_rows, float scale,
                         float *out)
{
    rows_dot_float(0, dot_f32, n, q, k, stride, n_rows, scale, out);
}

static void rows_dot_f16(int64_t n, const uint16_t *q, const uint16_t *k, size_t stride, int64_t n_rows, float scale,
                         float *out)
{
    rows_dot_float(1, dot_f16, n, q, k, stride, n_rows, scale, out);
}

/* ---- multi-query dots (kern.rows_dot_mq_f32/f16) -------------------------------------------------
 * Each (query, row) pair has its own 8-lane accumulator: products of 8 values at a time by one fma
 * in value order, the lanes summed as ((0+1)+(2+3))+((4+5)+(6+7)), then the last n % 8 products one
 * by one (explicit fmas), then the scale. Blocks of 4 queries x 2 rows load (and widen) each row once for four
 * queries and each query once for two rows; leftover queries and rows go through the same
 * per-pair arithmetic one at a time, so the grouping never changes a bit. Queries are F32 (for
 * F16 rows: values the caller rounded to F16, so every product is the F16 x F16 one). */
static inline float mq_reduce(__m256 a)
{
    float d[8];
    _mm256_storeu_ps(d, a);
    return ((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7]));
}

/* s + x * y with one rounding (an explicit fma: the tails must not depend on how the compiler
 * contracts them in different places) */
static inline float mq_fma1(float x, float y, float s)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x), _mm_set_ss(y), _mm_set_ss(s)));
}

static inline __attribute__((always_inline)) float mq_one(int is_f16, int64_t n, const float *q, const uint8_t *k,
                                                          float scale)
{
    __m256 a = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        a = _mm256_fmadd_ps(fl8(is_f16, k, i), _mm256_loadu_ps(q + i), a);
    float s = mq_reduce(a);
    for (; i < n; i++)
        s = mq_fma1(fl1(is_f16, k, i), q[i], s);
    return s * scale;
}

static inline __attribute__((always_inline)) void rows_dot_mq(int is_f16, int64_t n, const float *q, size_t qs,
                                                              int nq, const void *kv, size_t stride,
                                                              int64_t n_rows, float scale, float *out, size_t os)
{
    const size_t krow = stride * (is_f16 ? 2 : 4);
    const uint8_t *k = kv;
    int64_t r = 0;
    for (; r + 2 <= n_rows; r += 2) {
        const uint8_t *k0 = k + (size_t)r * krow, *k1 = k0 + krow;
        int j = 0;
        for (; j + 4 <= nq; j += 4) {
            const float *q0 = q + (size_t)j * qs, *q1 = q0 + qs, *q2 = q1 + qs, *q3 = q2 + qs;
            __m256 a[2][4];
#pragma GCC unroll 2
            for (int rr = 0; rr < 2; rr++)
#pragma GCC unroll 4
                for (int jj = 0; jj < 4; jj++)
                    a[rr][jj] = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 8 <= n; i += 8) {
                __m256 x0 = fl8(is_f16, k0, i), x1 = fl8(is_f16, k1, i);
                __m256 v0 = _mm256_loadu_ps(q0 + i), v1 = _mm256_loadu_ps(q1 + i);
                __m256 v2 = _mm256_loadu_ps(q2 + i), v3 = _mm256_loadu_ps(q3 + i);
                a[0][0] = _mm256_fmadd_ps(x0, v0, a[0][0]);
                a[0][1] = _mm256_fmadd_ps(x0, v1, a[0][1]);
                a[0][2] = _mm256_fmadd_ps(x0, v2, a[0][2]);
                a[0][3] = _mm256_fmadd_ps(x0, v3, a[0][3]);
                a[1][0] = _mm256_fmadd_ps(x1, v0, a[1][0]);
                a[1][1] = _mm256_fmadd_ps(x1, v1, a[1][1]);
                a[1][2] = _mm256_fmadd_ps(x1, v2, a[1][2]);
                a[1][3] = _mm256_fmadd_ps(x1, v3, a[1][3]);
            }
            for (int rr = 0; rr < 2; rr++) {
                const uint8_t *kr = rr ? k1 : k0;
                for (int jj = 0; jj < 4; jj++) {
                    const float *qj = q + (size_t)(j + jj) * qs;
                    float s = mq_reduce(a[rr][jj]);
                    for (int64_t t = i; t < n; t++)
                        s = mq_fma1(fl1(is_f16, kr, t), qj[t], s);
                    out[(size_t)(j + jj) * os + (size_t)(r + rr)] = s * scale;
                }
            }
        }
        for (; j < nq; j++) {
            const float *qj = q + (size_t)j * qs;
            out[(size_t)j * os + (size_t)r] = mq_one(is_f16, n, qj, k0, scale);
            out[(size_t)j * os + (size_t)r + 1] = mq_one(is_f16, n, qj, k1, scale);
        }
    }
    for (; r < n_rows; r++)
        for (int j = 0; j < nq; j++)
            out[(size_t)j * os + (size_t)r] = mq_one(is_f16, n, q + (size_t)j * qs, k + (size_t)r * krow, scale);
}

static void rows_dot_mq_f32(int64_t n, const float *q, size_t qs, int nq, const float *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    rows_dot_mq(0, n, q, qs, nq, k, stride, n_rows, scale, out, os);
}

static void rows_dot_mq_f16(int64_t n, const float *q, size_t qs, int nq, const uint16_t *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    rows_dot_mq(1, n, q, qs, nq, k, stride, n_rows, scale, out, os);
}

/* ---- multi-query weighted sums (kern.rows_wsum_mq_f32/f16) ---------------------------------------
 * As kern_avx512.c's: blocks of 4 queries x 16 values (8 accumulators) over 64 rows at a time,
 * each lane one (query, value) chain of fmas in row order from 0, leftovers through the same chain
 * one at a time: the reference's bits for any nq, n and n_rows. */
static inline __attribute__((always_inline)) void rows_wsum_mq(int is_f16, int64_t n, const float *w, size_t ws,
                                                               int nq, const void *v, size_t stride, int64_t n_rows,
                                                               float *out, size_t os)
{
    const size_t vrow = stride * (is_f16 ? 2 : 4);
    const uint8_t *vb = v;
    for (int j = 0; j < nq; j++)
        memset(out + (size_t)j * os, 0, (size_t)n * sizeof(float));
    for (int64_t r0 = 0; r0 < n_rows; r0 += 64) {
        int64_t r1 = r0 + 64 < n_rows ? r0 + 64 : n_rows;
        int j = 0;
        for (; j + 4 <= nq; j += 4) {
            const float *wb = w + (size_t)j * ws;
            float *ob = out + (size_t)j * os;
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                __m256 a0[4], a1[4];
#pragma GCC unroll 4
                for (int jj = 0; jj < 4; jj++) {
                    a0[jj] = _mm256_loadu_ps(ob + (size_t)jj * os + i);
                    a1[jj] = _mm256_loadu_ps(ob + (size_t)jj * os + i + 8);
                }
                for (int64_t r = r0; r < r1; r++) {
                    const uint8_t *vr = vb + (size_t)r * vrow;
                    __m256 x0 = fl8(is_f16, vr, i), x1 = fl8(is_f16, vr, i + 8);
#pragma GCC unroll 4
                    for (int jj = 0; jj < 4; jj++) {
                        __m256 b = _mm256_broadcast_ss(wb + (size_t)jj * ws + (size_t)r);
                        a0[jj] = _mm256_fmadd_ps(b, x0, a0[jj]);
                        a1[jj] = _mm256_fmadd_ps(b, x1, a1[jj]);
                    }
                }
#pragma GCC unroll 4
                for (int jj = 0; jj < 4; jj++) {
                    _mm256_storeu_ps(ob + (size_t)jj * os + i, a0[jj]);
                    _mm256_storeu_ps(ob + (size_t)jj * os + i + 8, a1[jj]);
                }
            }
            for (; i < n; i++)
                for (int jj = 0; jj < 4; jj++) {
                    float a = ob[(size_t)jj * os + i];
                    for (int64_t r = r0; r < r1; r++)
                        a = mq_fma1(wb[(size_t)jj * ws + (size_t)r], fl1(is_f16, vb + (size_t)r * vrow, i), a);
                    ob[(size_t)jj * os + i] = a;
                }
        }
        for (; j < nq; j++) {
            const float *wj = w + (size_t)j * ws;
            float *oj = out + (size_t)j * os;
            for (int64_t i = 0; i < n; i++) {
                float a = oj[i];
                for (int64_t r = r0; r < r1; r++)
                    a = mq_fma1(wj[r], fl1(is_f16, vb + (size_t)r * vrow, i), a);
                oj[i] = a;
            }
        }
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

/* Four queries against the cached rows: the multi-query dot with nq = 4 (blocks of 4 queries x 2
 * rows: 8 accumulators, 2 row loads and 4 query loads for 8 FMAs). */
static void rows_dot_x4_f32(int64_t n, const float *q, size_t qs, const float *k, size_t stride, int64_t n_rows,
                            float scale, float *out, size_t os)
{
    rows_dot_mq(0, n, q, qs, 4, k, stride, n_rows, scale, out, os);
}

static void rows_wsum_f32(int64_t n, const float *w, const float *v, size_t stride, int64_t n_rows, float *out);

/* Four weight rows over the cached rows: 16 columns x 4 queries in 8 accumulators, each cached row
 * loaded once for the four. */
static void rows_wsum_x4_f32(int64_t n, const float *w, size_t ws, const float *v, size_t stride, int64_t n_rows,
                             float *out, size_t os)
{
    const float *w0 = w, *w1 = w + ws, *w2 = w + 2 * ws, *w3 = w + 3 * ws;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            a[j][0] = a[j][1] = _mm256_setzero_ps();
        for (int64_t r = 0; r < n_rows; r++) {
            const float *vr = v + (size_t)r * stride + i;
            __m256 x0 = _mm256_loadu_ps(vr), x1 = _mm256_loadu_ps(vr + 8);
            __m256 b0 = _mm256_broadcast_ss(w0 + r), b1 = _mm256_broadcast_ss(w1 + r);
            __m256 b2 = _mm256_broadcast_ss(w2 + r), b3 = _mm256_broadcast_ss(w3 + r);
            a[0][0] = _mm256_fmadd_ps(b0, x0, a[0][0]);
            a[0][1] = _mm256_fmadd_ps(b0, x1, a[0][1]);
            a[1][0] = _mm256_fmadd_ps(b1, x0, a[1][0]);
            a[1][1] = _mm256_fmadd_ps(b1, x1, a[1][1]);
            a[2][0] = _mm256_fmadd_ps(b2, x0, a[2][0]);
            a[2][1] = _mm256_fmadd_ps(b2, x1, a[2][1]);
            a[3][0] = _mm256_fmadd_ps(b3, x0, a[3][0]);
            a[3][1] = _mm256_fmadd_ps(b3, x1, a[3][1]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(out + (size_t)j * os + i, a[j][0]);
            _mm256_storeu_ps(out + (size_t)j * os + i + 8, a[j][1]);
        }
    }
    if (i < n)
        for (int j = 0; j < 4; j++)
            rows_wsum_f32(n - i, w + (size_t)j * ws, v + i, stride, n_rows, out + (size_t)j * os + i);
}

/* exp of 8 values (x <= 0 in softmax, any x works up to 88): x = k ln2 + r with |r| <= ln2/2 (ln2
 * split in two for an exact k ln2), exp(r) by its Taylor series to r^7 (truncation below 1e-8
 * relative), times 2^k through the exponent bits; below -87.3 (2^-126) the result is 0. */
static inline __m256 exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

static void softmax_f32(int64_t n, float *x)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    float mx;
    double sum;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    {
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        mx = _mm_cvtss_f32(m4);
    }
    for (int64_t j = i; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    __m256 vmx = _mm256_set1_ps(mx);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    {
        double d[4];
        _mm256_storeu_pd(d, _mm256_add_pd(s0, s1));
        sum = (d[0] + d[1]) + (d[2] + d[3]);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    __m256 vinv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++)
        x[i] *= (float)(1.0 / sum);
}

/* out = sum_r w[r] * v[r], 32 columns at a time held in registers across all rows. */
static void rows_wsum_f32(int64_t n, const float *w, const float *v, size_t stride, int64_t n_rows, float *out)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t r = 0; r < n_rows; r++) {
            const float *vr = v + (size_t)r * stride + i;
            __m256 wr = _mm256_set1_ps(w[r]);
            s0 = _mm256_fmadd_ps(wr, _mm256_loadu_ps(vr), s0);
            s1 = _mm256_fmadd_ps(wr, _mm256_loadu_ps(vr + 8), s1);
            s2 = _mm256_fmadd_ps(wr, _mm256_loadu_ps(vr + 16), s2);
            s3 = _mm256_fmadd_ps(wr, _mm256_loadu_ps(vr + 24), s3);
        }
        _mm256_storeu_ps(out + i, s0);
        _mm256_storeu_ps(out + i + 8, s1);
        _mm256_storeu_ps(out + i + 16, s2);
        _mm256_storeu_ps(out + i + 24, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 s0 = _mm256_setzero_ps();
        for (int64_t r = 0; r < n_rows; r++)
            s0 = _mm256_fmadd_ps(_mm256_set1_ps(w[r]), _mm256_loadu_ps(v + (size_t)r * stride + i), s0);
        _mm256_storeu_ps(out + i, s0);
    }
    for (; i < n; i++) {
        float s0 = 0;
        for (int64_t r = 0; r < n_rows; r++)
            s0 += w[r] * v[(size_t)r * stride + i];
        out[i] = s0;
    }
}

/* BF16 is the high half of an F32: widen and shift. */
static inline __m256 bf16x8(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static float dot_bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(bf16x8(x + i), bf16x8(y + i), s0);
        s1 = _mm256_fmadd_ps(bf16x8(x + i + 8), bf16x8(y + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(bf16x8(x + i), bf16x8(y + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += kern_bf16_to_f32(x[i]) * kern_bf16_to_f32(y[i]);
    return s;
}

static void deq_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *x = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, bf16x8(x + i));
    for (; i < n; i++)
        dst[i] = kern_bf16_to_f32(x[i]);
}

/* ---- Q*_0 dots ------------------------------------------------------------------------------------ */

static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i p = dot_i8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i q = _mm256_sub_epi8(nibbles32(x[i].qs), off);
        __m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

/* The 32 signed levels (twice the E2M1 values, -12..12) of an MXFP4 block: one byte shuffle of the
 * nibbles through the value table. */
static inline __m256i mxfp4_levels(const uint8_t *qs)
{
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kern_fp4_lv));
    return _mm256_shuffle_epi8(tab, nibbles32(qs));
}

static float dot_mxfp4(int64_t n, const void *w, const void *a)
{
    const struct blk_mxfp4 *x = w;
    const struct blk_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i p = dot_i8(mxfp4_levels(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(e8m0_half_tab(x[i].e) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_q5_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_0 *x = w;
    const struct blk_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        /* value = nibble + 16*bit - 16: where the bit is clear, set the high nibble (-16 + nibble) */
        __m256i hi = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
        __m256i q = _mm256_or_si256(nibbles32(x[i].qs), hi);
        __m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_q4_1(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_1 *x = w;
    const struct blk_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float ms = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i p16 = _mm256_maddubs_epi16(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
        ms += f16(x[i].m) * f16(y[i].s);
    }
    return hsum8(acc) + ms;
}

static float dot_q5_1(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_1 *x = w;
    const struct blk_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float ms = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i hi = _mm256_and_si256(bits32(x[i].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_or_si256(nibbles32(x[i].qs), hi);
        __m256i p16 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
        ms += f16(x[i].m) * f16(y[i].s);
    }
    return hsum8(acc) + ms;
}

/* ---- K-quant dots --------------------------------------------------------------------------------- */

/* The 8 scales and 8 mins of a Q4_K/Q5_K block. */
static inline void k4_unpack(const uint8_t *s, uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 8; j++)
        kern_k4_scale_min(j, s, &sc[j], &m[j]);
}

static inline int k4_mins(const uint8_t m[8], const int16_t *bsums)
{
    int s = 0;
    for (int j = 0; j < 8; j++)
        s += m[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return s;
}

/* A Q4_K super-block decoded once for one or more activations: the levels of its four 32-byte
 * groups (low nibbles = sub-block 2j, high = 2j+1), each sub-block's scale as int16 lanes, the mins
 * as int16 pairs in bsums order, d and dmin. The one-row dot and the 4-token tile share this and
 * q4k_block_dot, so a batch gives bit-identical results to token-by-token generation. */
struct q4k_dec {
    __m256i q[8], sc[8], mins;
    float d, dmin;
};

static inline __attribute__((always_inline)) void q4k_decode(const struct blk_q4_k *x, struct q4k_dec *w)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    /* int16 [scales 0..7 | mins 0..7]; the mins duplicated into int16 pairs meet the 16 bsums */
    const __m256i sm = _mm256_cvtepu8_epi16(k4_scales_v(x->scales));
    w->mins = _mm256_permute2x128_si256(_mm256_unpacklo_epi16(sm, sm), _mm256_unpackhi_epi16(sm, sm), 0x31);
    const __m256i sc = _mm256_permute4x64_epi64(sm, 0x44); /* the 8 scales in both lanes */
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        w->sc[j] = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * j)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
        w->q[2 * j] = _mm256_and_si256(q, m4);
        w->q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    w->d = f16(x->d);
    w->dmin = f16(x->dmin);
}

/* One decoded super-block against one activation block: levels times activations by maddubs
 * (pairs fit int16), scaled and paired by madd into two int32 chains; the mins through the block
 * sums into a vector accumulator (no horizontal sum per super-block). */
static inline __attribute__((always_inline)) void q4k_block_dot(const struct q4k_dec *w, const struct blk_q8_k *y,
                                                                __m256 *acc, __m256 *accm)
{
    const __m256i mp = _mm256_madd_epi16(w->mins, _mm256_loadu_si256((const __m256i *)y->bsums));
    *accm = _mm256_fmadd_ps(_mm256_set1_ps(w->dmin * y->d), _mm256_cvtepi32_ps(mp), *accm);
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m256i pl = _mm256_maddubs_epi16(w->q[2 * j], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j)));
        const __m256i ph =
            _mm256_maddubs_epi16(w->q[2 * j + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(pl, w->sc[2 * j]));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(ph, w->sc[2 * j + 1]));
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(w->d * y->d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), *acc);
}

static float dot_q4_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_k *x = w;
    const struct blk_q8_k *y = a;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        struct q4k_dec d;
        q4k_decode(&x[i], &d);
        q4k_block_dot(&d, &y[i], &acc, &accm);
    }
    return hsum8(_mm256_sub_ps(acc, accm));
}

static float dot_q5_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_k *x = w;
    const struct blk_q8_k *y = a;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0;
    const __m256i lo4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        k4_unpack(x[i].scales, sc, m);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i si = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++, q += 32, q8 += 64) {
            __m256i b = _mm256_loadu_si256((const __m256i *)q);
            __m256i hl = _mm256_slli_epi16(_mm256_and_si256(qh, one), 4);
            __m256i hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4);
            qh = _mm256_srli_epi16(qh, 2);
            __m256i l = _mm256_or_si256(_mm256_and_si256(b, lo4), hl);
            __m256i h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), lo4), hh);
            __m256i pl = _mm256_maddubs_epi16(l, _mm256_loadu_si256((const __m256i *)q8));
            __m256i ph = _mm256_maddubs_epi16(h, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            si = _mm256_add_epi32(si, _mm256_madd_epi16(pl, _mm256_set1_epi16(sc[2 * j])));
            si = _mm256_add_epi32(si, _mm256_madd_epi16(ph, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(si), acc);
        msum += f16(x[i].dmin) * y[i].d * (float)k4_mins(m, y[i].bsums);
    }
    return hsum8(acc) - msum;
}

/* A Q6_K super-block decoded once: its eight 32-value level vectors (level + 32, 0..63), the int16
 * scale vector of each (sub-block 2k in the low 128 bits, 2k+1 in the high), the 16 scales as
 * int16 for the +32 correction through the block sums, and d. Shared by the dot and the tile. */
struct q6k_dec {
    __m256i v[8], sc[8], sc16;
    float d;
};

static inline __attribute__((always_inline)) void q6k_decode(const struct blk_q6_k *x, struct q6k_dec *w)
{
    const __m256i lo4 = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        w->v[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, lo4), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
        w->v[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, lo4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
        w->v[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
        w->v[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
    }
    const __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
    w->sc16 = _mm256_cvtepi8_epi16(s8);
    const __m256i lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s8));                    /* scales 0..7 */
    const __m256i hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(s8, 8))); /* 8..15 */
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        /* int16 lanes: scale 2k' in the low 128 bits, 2k'+1 in the high, k' = k mod 4 */
        const int e = 4 * (k & 3);
        const __m256i sel = _mm256_setr_epi8(e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e,
                                             e + 1, e + 2, e + 3, e + 2, e + 3, e + 2, e + 3, e + 2, e + 3, e + 2,
                                             e + 3, e + 2, e + 3, e + 2, e + 3, e + 2, e + 3);
        w->sc[k] = _mm256_shuffle_epi8(k < 4 ? lo : hi, sel);
    }
    w->d = f16(x->d);
}

static inline __attribute__((always_inline)) void q6k_block_dot(const struct q6k_dec *w, const struct blk_q8_k *y,
                                                                __m256 *acc)
{
    /* sum(scale * (v - 32) * a) = sum(scale * v * a) - 32 * sum(scale * bsum) */
    __m256i s0 = _mm256_slli_epi32(_mm256_madd_epi16(w->sc16, _mm256_loadu_si256((const __m256i *)y->bsums)), 5);
    s0 = _mm256_sub_epi32(_mm256_setzero_si256(), s0);
    __m256i s1 = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k += 2) {
        const __m256i p0 = _mm256_maddubs_epi16(w->v[k], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * k)));
        const __m256i p1 = _mm256_maddubs_epi16(w->v[k + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * k + 32)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, w->sc[k]));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, w->sc[k + 1]));
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(w->d * y->d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), *acc);
}

static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        struct q6k_dec d;
        q6k_decode(&x[i], &d);
        q6k_block_dot(&d, &y[i], &acc);
    }
    return hsum8(acc);
}

/* ---- tiles for prompt processing and verification (KERN_TILE x KERN_TILE = 4 rows x 4 tokens) ----
 * Each sums exactly like its vec_dot (same integer products, same float operations per lane, same
 * horizontal sum), so a batch of any size gives the logits of as many single steps. */

/* The 32 signed levels of block i of a Q8_0, Q4_0, Q5_0 or MXFP4 row, and its delta. */
static inline __m256i q0_levels(int type, const void *row, int64_t i, float *d)
{
    if (type == GGML_TYPE_MXFP4) {
        const struct blk_mxfp4 *b = (const struct blk_mxfp4 *)row + i;
        *d = e8m0_half_tab(b->e);
        return mxfp4_levels(b->qs);
    }
    if (type == GGML_TYPE_Q8_0) {
        const struct blk_q8_0 *b = (const struct blk_q8_0 *)row + i;
        *d = f16(b->d);
        return _mm256_loadu_si256((const __m256i *)b->qs);
    }
    if (type == GGML_TYPE_Q4_0) {
        const struct blk_q4_0 *b = (const struct blk_q4_0 *)row + i;
        *d = f16(b->d);
        return _mm256_sub_epi8(nibbles32(b->qs), _mm256_set1_epi8(8));
    }
    const struct blk_q5_0 *b = (const struct blk_q5_0 *)row + i;
    *d = f16(b->d);
    return _mm256_or_si256(nibbles32(b->qs), _mm256_andnot_si256(bits32(b->qh), _mm256_set1_epi8((char)0xF0)));
}

/* Q8_0 / Q4_0 / Q5_0: |w| and the weight's sign are taken once per weight block and shared by the
 * 4 tokens; the tile goes as two passes of 2 rows x 4 tokens so that the 8 accumulators, the rows'
 * levels and the activation stay in the 16 registers (fully unrolled: -O2 unrolls nothing itself). */
static inline __attribute__((always_inline)) void gemm_q0_2x4(int type, int64_t n, const void *w, size_t ws,
                                                              const void *a, size_t as, float *y, size_t ys)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i wl[2], wa[2];
        float dw[2];
#pragma GCC unroll 2
        for (int r = 0; r < 2; r++) {
            wl[r] = q0_levels(type, (const uint8_t *)w + (size_t)r * ws, i, &dw[r]);
            wa[r] = _mm256_sign_epi8(wl[r], wl[r]);
        }
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            const struct blk_q8_0 *b = (const struct blk_q8_0 *)((const uint8_t *)a + (size_t)t * as) + i;
            const __m256i at = _mm256_loadu_si256((const __m256i *)b->qs);
            const float da = f16(b->d);
#pragma GCC unroll 2
            for (int r = 0; r < 2; r++) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(at, wl[r])), ones);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * da), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            y[(size_t)t * ys + (size_t)r] = hsum8(acc[r][t]);
}

static inline __attribute__((always_inline)) void gemm_q0(int type, int64_t n, const void *w, size_t ws,
                                                          const void *a, size_t as, float *y, size_t ys)
{
    gemm_q0_2x4(type, n, w, ws, a, as, y, ys);
    gemm_q0_2x4(type, n, (const uint8_t *)w + 2 * ws, ws, a, as, y + 2, ys);
}

static void gemm_q8_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    gemm_q0(GGML_TYPE_Q8_0, n, w, ws, a, as, y, ys);
}

static void gemm_q4_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    gemm_q0(GGML_TYPE_Q4_0, n, w, ws, a, as, y, ys);
}

static void gemm_q5_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    gemm_q0(GGML_TYPE_Q5_0, n, w, ws, a, as, y, ys);
}

static void gemm_mxfp4(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    gemm_q0(GGML_TYPE_MXFP4, n, w, ws, a, as, y, ys);
}

/* K-quants: each weight row's super-blocks are decoded once and applied to the 4 tokens. */
static void gemm_q4_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < 4; r++) {
        const struct blk_q4_k *x = (const struct blk_q4_k *)((const uint8_t *)w + (size_t)r * ws);
        __m256 acc[4], accm[4];
        for (int t = 0; t < 4; t++)
            acc[t] = accm[t] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / QK_K; i++) {
            struct q4k_dec d;
            q4k_decode(&x[i], &d);
            for (int t = 0; t < 4; t++)
                q4k_block_dot(&d, (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + i, &acc[t],
                              &accm[t]);
        }
        for (int t = 0; t < 4; t++)
            y[(size_t)t * ys + (size_t)r] = hsum8(_mm256_sub_ps(acc[t], accm[t]));
    }
}

static void gemm_q6_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < 4; r++) {
        const struct blk_q6_k *x = (const struct blk_q6_k *)((const uint8_t *)w + (size_t)r * ws);
        __m256 acc[4];
        for (int t = 0; t < 4; t++)
            acc[t] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / QK_K; i++) {
            struct q6k_dec d;
            q6k_decode(&x[i], &d);
            for (int t = 0; t < 4; t++)
                q6k_block_dot(&d, (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + i, &acc[t]);
        }
        for (int t = 0; t < 4; t++)
            y[(size_t)t * ys + (size_t)r] = hsum8(acc[t]);
    }
}

/* A panel token's 32 running sums: zero on the first super-block, else what earlier ones left in y. */
static inline __attribute__((always_inline)) void panel_acc_load(const float *yt, bool first, __m256 acc[4])
{
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        acc[g] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(yt + 8 * g);
}

static inline __attribute__((always_inline)) void panel_acc_store(float *yt, const __m256 acc[4])
{
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        _mm256_storeu_ps(yt + 8 * g, acc[g]);
}

/* ---- Q4_K panel: 32 rows x any number of tokens (prompt processing) ------------------------------
 * One super-block at a time, the 32 weight rows' levels (0..15, one byte each) are rearranged on
 * the stack so that vector (row group g, sub-block s, group k) holds values 32s + 4k .. +3 of rows
 * 8g .. 8g + 7, one row per int32 lane; beside them each row's sub-block scale (as an int16 pair),
 * its mins as int16 pairs, d and dmin. For every token each 4-byte activation group is broadcast
 * once for all 32 rows: maddubs against the levels, the 8 groups of a sub-block summed in int16
 * (at most 8 x 2 x 15 x 128 = 30720), one madd applies the scales; the mins meet the activation's
 * sub-block sums by madd; one convert + fma per 8 rows and super-block applies d * d_act (and
 * dmin * d_act). Sums in another order than vec_dot: used from MM_PANEL_MIN_TOK tokens. (Two
 * tokens per pass over the weights measured no faster: maddubs throughput is the limit.) */
struct q4k_panel {
    __m256i q[4][8][8]; /* [row group][sub-block][group] */
    __m256i sc[4][8];   /* sub-block scale of each row, in both int16 halves */
    __m256i mn[4][4];   /* (min 2k, min 2k+1) as int16 pairs, per row */
    __m256 d[4], dmin[4];
};

/* In-register transpose of 8 vectors of 8 dwords (v[i] = dwords of row i) into out[k] = dword k of
 * rows 0..7. */
static inline void transpose8x8(const __m256i v[8], __m256i out[8])
{
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);     /* r_i r_i+1 dwords 0,1 | 4,5 */
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]); /* 2,3 | 6,7 */
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);         /* dword 0 | 4 of rows i..i+3 */
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);     /* 1 | 5 */
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]); /* 2 | 6 */
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]); /* 3 | 7 */
    }
    for (int k = 0; k < 4; k++) {
        out[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
        out[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
    }
}

static void q4k_panel_pack(struct q4k_panel *ps, const uint8_t *w, size_t ws, int64_t b)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int g = 0; g < 4; g++) {
        const struct blk_q4_k *x[8];
        for (int r = 0; r < 8; r++)
            x[r] = (const struct blk_q4_k *)(w + (size_t)(8 * g + r) * ws) + b;
        for (int j = 0; j < 4; j++) {
            __m256i lo[8], hi[8];
            for (int r = 0; r < 8; r++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(x[r]->qs + 32 * j));
                lo[r] = _mm256_and_si256(q, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            }
            transpose8x8(lo, ps->q[g][2 * j]);
            transpose8x8(hi, ps->q[g][2 * j + 1]);
        }
        int32_t sc[8][8], mn[4][8];
        float d[8], dmin[8];
        for (int r = 0; r < 8; r++) {
            uint8_t sm[16];
            _mm_storeu_si128((__m128i *)sm, k4_scales_v(x[r]->scales));
            for (int s = 0; s < 8; s++)
                sc[s][r] = (int32_t)((uint32_t)sm[s] * 0x10001u);
            for (int k = 0; k < 4; k++)
                mn[k][r] = (int32_t)((uint32_t)sm[8 + 2 * k] | (uint32_t)sm[9 + 2 * k] << 16);
            d[r] = f16(x[r]->d);
            dmin[r] = f16(x[r]->dmin);
        }
        for (int s = 0; s < 8; s++)
            ps->sc[g][s] = _mm256_loadu_si256((const __m256i *)sc[s]);
        for (int k = 0; k < 4; k++)
            ps->mn[g][k] = _mm256_loadu_si256((const __m256i *)mn[k]);
        ps->d[g] = _mm256_loadu_ps(d);
        ps->dmin[g] = _mm256_loadu_ps(dmin);
    }
}

/* One token's activation block against the packed super-block: acc[g] += rows 8g..8g+7. */
static inline __attribute__((always_inline)) void q4k_panel_token(const struct q4k_panel *ps,
                                                                  const struct blk_q8_k *x, __m256 acc[4])
{
    const int32_t *u = (const int32_t *)x->qs;
    __m256i si[4], mi[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        si[g] = mi[g] = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
        __m256i p[4];
        __m256i bv = _mm256_set1_epi32(u[8 * s]);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            p[g] = _mm256_maddubs_epi16(ps->q[g][s][0], bv);
#pragma GCC unroll 7
        for (int k = 1; k < 8; k++) {
            bv = _mm256_set1_epi32(u[8 * s + k]);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                p[g] = _mm256_add_epi16(p[g], _mm256_maddubs_epi16(ps->q[g][s][k], bv));
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            si[g] = _mm256_add_epi32(si[g], _mm256_madd_epi16(p[g], ps->sc[g][s]));
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const int32_t s0 = x->bsums[4 * k] + x->bsums[4 * k + 1], s1 = x->bsums[4 * k + 2] + x->bsums[4 * k + 3];
        const __m256i c = _mm256_set1_epi32((int32_t)(((uint32_t)s0 & 0xffff) | (uint32_t)s1 << 16));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            mi[g] = _mm256_add_epi32(mi[g], _mm256_madd_epi16(ps->mn[g][k], c));
    }
    const __m256 da = _mm256_set1_ps(x->d);
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(ps->d[g], da), _mm256_cvtepi32_ps(si[g]), acc[g]);
        acc[g] = _mm256_fnmadd_ps(_mm256_mul_ps(ps->dmin[g], da), _mm256_cvtepi32_ps(mi[g]), acc[g]);
    }
}

/* ---- F32 / F16 panels ------------------------------------------------------------------------- */

/* Panel for float weights: groups of 4 tokens against pairs of rows, 8 accumulators, so each step
 * of 8 values loads 2 weight and 4 activation vectors for 8 FMAs (a dot loads 2 per FMA). The 32
 * rows are re-read from cache for every group of tokens; leftover tokens use the dot. Not bit for
 * bit the dot's order, which is why matmul.c only uses panels from 16 tokens up. */
static inline __attribute__((always_inline)) void gemm_panel_float(int is_f16, kern_vec_dot_fn dot, int64_t n,
                                                                   const void *w, size_t ws, const void *a, size_t as,
                                                                   int64_t n_tok, float *y, size_t ys)
{
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) {
        const uint8_t *at = (const uint8_t *)a + (size_t)t * as;
        for (int r = 0; r < KERN_PANEL_ROWS; r += 2) {
            const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;
            __m256 acc[2][4];
#pragma GCC unroll 2
            for (int rr = 0; rr < 2; rr++)
#pragma GCC unroll 4
                for (int tt = 0; tt < 4; tt++)
                    acc[rr][tt] = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 8 <= n; i += 8) {
                __m256 w0 = fl8(is_f16, wr, i), w1 = fl8(is_f16, wr + ws, i);
#pragma GCC unroll 4
                for (int tt = 0; tt < 4; tt++) {
                    __m256 x = fl8(is_f16, at + (size_t)tt * as, i);
                    acc[0][tt] = _mm256_fmadd_ps(w0, x, acc[0][tt]);
                    acc[1][tt] = _mm256_fmadd_ps(w1, x, acc[1][tt]);
                }
            }
#pragma GCC unroll 2
            for (int rr = 0; rr < 2; rr++)
#pragma GCC unroll 4
                for (int tt = 0; tt < 4; tt++) {
                    float s = hsum8(acc[rr][tt]);
                    for (int64_t k = i; k < n; k++)
                        s += fl1(is_f16, wr + (size_t)rr * ws, k) * fl1(is_f16, at + (size_t)tt * as, k);
                    y[(size_t)(t + tt) * ys + (size_t)(r + rr)] = s;
                }
        }
    }
    for (; t < n_tok; t++)
        for (int r = 0; r < KERN_PANEL_ROWS; r++)
            y[(size_t)t * ys + (size_t)r] =
                dot(n, (const uint8_t *)w + (size_t)r * ws, (const uint8_t *)a + (size_t)t * as);
}

static void gemm_panel_f32(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                           size_t ys)
{
    gemm_panel_float(0, dot_f32, n, w, ws, a, as, n_tok, y, ys);
}

static void gemm_panel_f16(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                           size_t ys)
{
    gemm_panel_float(1, dot_f16, n, w, ws, a, as, n_tok, y, ys);
}

static void gemm_panel_q4_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    struct q4k_panel ps;
    for (int64_t b = 0; b < n / QK_K; b++) {
        q4k_panel_pack(&ps, w, ws, b);
        for (int64_t t = 0; t < n_tok; t++) {
            float *yt = y + (size_t)t * ys;
            __m256 acc[4];
            panel_acc_load(yt, b == 0, acc);
            q4k_panel_token(&ps, (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b, acc);
            panel_acc_store(yt, acc);
        }
    }
}

/* ---- Q6_K panel: 32 rows x any number of tokens (prompt processing) ------------------------------
 * The Q4_K panel's scheme for Q6_K: per super-block the levels (q + 32, 0..63) of the 32 rows are
 * rearranged so that vector (row group g, chunk c, group k) holds values 32c + 4k .. +3 of rows
 * 8g .. 8g + 7; groups 0..3 of a chunk are sub-block 2c, groups 4..7 sub-block 2c + 1 (16 values
 * each). Per token: maddubs of the levels with broadcast activation groups, two groups summed in
 * int16 (at most 2 x 2 x 63 x 128 = 32256), madd by the row's signed scale; the +32 bias comes out
 * as 32 * sum_j scale_j * bsum_j (madd of scale pairs with the activation's block-sum pairs); one
 * convert + fma per 8 rows and super-block applies d * d_act. */
struct q6k_panel {
    __m256i q[4][8][8]; /* [row group][chunk][group] */
    __m256i sc[4][16];  /* sub-block scale of each row, in both int16 halves */
    __m256i sp[4][8];   /* (scale 2m, scale 2m+1) as int16 pairs, per row */
    __m256 d[4];
};

static void q6k_panel_pack(struct q6k_panel *ps, const uint8_t *w, size_t ws, int64_t b)
{
    for (int g = 0; g < 4; g++) {
        __m256i lv[8][8]; /* [row][chunk] */
        int32_t sc[16][8], sp[8][8];
        float d[8];
        for (int r = 0; r < 8; r++) {
            const struct blk_q6_k *x = (const struct blk_q6_k *)(w + (size_t)(8 * g + r) * ws) + b;
            struct q6k_dec dec;
            q6k_decode(x, &dec);
            for (int c = 0; c < 8; c++)
                lv[r][c] = dec.v[c];
            for (int j = 0; j < 16; j++)
                sc[j][r] = (int32_t)((uint32_t)(uint16_t)x->scales[j] * 0x10001u);
            for (int m = 0; m < 8; m++)
                sp[m][r] = (int32_t)((uint32_t)(uint16_t)x->scales[2 * m] | (uint32_t)(uint16_t)x->scales[2 * m + 1] << 16);
            d[r] = dec.d;
        }
        for (int c = 0; c < 8; c++) {
            __m256i rows[8];
            for (int r = 0; r < 8; r++)
                rows[r] = lv[r][c];
            transpose8x8(rows, ps->q[g][c]);
        }
        for (int j = 0; j < 16; j++)
            ps->sc[g][j] = _mm256_loadu_si256((const __m256i *)sc[j]);
        for (int m = 0; m < 8; m++)
            ps->sp[g][m] = _mm256_loadu_si256((const __m256i *)sp[m]);
        ps->d[g] = _mm256_loadu_ps(d);
    }
}

/* One token's activation block against the packed super-block: acc[g] += rows 8g..8g+7. */
static inline __attribute__((always_inline)) void q6k_panel_token(const struct q6k_panel *ps,
                                                                  const struct blk_q8_k *x, __m256 acc[4])
{
    const int32_t *u = (const int32_t *)x->qs;
    __m256i si[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        si[g] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
#pragma GCC unroll 4
        for (int k = 0; k < 8; k += 2) {
            const __m256i b0 = _mm256_set1_epi32(u[8 * c + k]), b1 = _mm256_set1_epi32(u[8 * c + k + 1]);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(ps->q[g][c][k], b0),
                                                   _mm256_maddubs_epi16(ps->q[g][c][k + 1], b1));
                si[g] = _mm256_add_epi32(si[g], _mm256_madd_epi16(p, ps->sc[g][2 * c + k / 4]));
            }
        }
    }
    __m256i off[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        off[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) {
        const __m256i c = _mm256_set1_epi32(
            (int32_t)(((uint32_t)(uint16_t)x->bsums[2 * m]) | (uint32_t)(uint16_t)x->bsums[2 * m + 1] << 16));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            off[g] = _mm256_add_epi32(off[g], _mm256_madd_epi16(ps->sp[g][m], c));
    }
    const __m256 da = _mm256_set1_ps(x->d);
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        const __m256i tot = _mm256_sub_epi32(si[g], _mm256_slli_epi32(off[g], 5));
        acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(ps->d[g], da), _mm256_cvtepi32_ps(tot), acc[g]);
    }
}

static void gemm_panel_q6_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    struct q6k_panel ps;
    for (int64_t b = 0; b < n / QK_K; b++) {
        q6k_panel_pack(&ps, w, ws, b);
        for (int64_t t = 0; t < n_tok; t++) {
            float *yt = y + (size_t)t * ys;
            __m256 acc[4];
            panel_acc_load(yt, b == 0, acc);
            q6k_panel_token(&ps, (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b, acc);
            panel_acc_store(yt, acc);
        }
    }
}

/* ---- MXFP4 panel: 32 rows x any number of tokens (prompt processing) -----------------------------
 * Along n, slabs of MXP_SLAB blocks. The 32 weight rows' levels are made unsigned (level + 12,
 * 0..24) and rearranged on the stack like the Q4_K panel's: vector (block b, row group g, group k)
 * holds bytes 4k..4k+3 of block b of rows 8g..8g+7, one row per int32 lane; beside them each row's
 * half scale. For every token each 4-byte activation group is broadcast once for all 32 rows into
 * maddubs; four groups are summed in int16 (at most 4 x 2 x 24 x 128 = 24576) before madd widens
 * them, and the +12 offset comes out as 12 x (the activation block's sum), one scalar per token and
 * block. One convert + fma per 8 rows and block applies d_w * d_act. Sums in another order than
 * vec_dot: used from MM_PANEL_MIN_TOK tokens. */
#define MXP_SLAB 8

struct mxfp4_panel {
    __m256i q[MXP_SLAB][4][8]; /* [block][row group][group] */
    __m256 d[MXP_SLAB][4];     /* half scale of each row */
};

static void mxfp4_panel_pack(struct mxfp4_panel *ps, const uint8_t *w, size_t ws, int64_t b0, int nbs)
{
    const __m256i off = _mm256_set1_epi8(12);
    for (int b = 0; b < nbs; b++)
        for (int g = 0; g < 4; g++) {
            __m256i lv[8];
            float d[8];
            for (int r = 0; r < 8; r++) {
                const struct blk_mxfp4 *x = (const struct blk_mxfp4 *)(w + (size_t)(8 * g + r) * ws) + b0 + b;
                lv[r] = _mm256_add_epi8(mxfp4_levels(x->qs), off);
                d[r] = e8m0_half_tab(x->e);
            }
            transpose8x8(lv, ps->q[b][g]);
            ps->d[b][g] = _mm256_loadu_ps(d);
        }
}

/* One token's activation blocks of the slab against the packed rows: acc[g] += rows 8g..8g+7. */
static inline __attribute__((always_inline)) void mxfp4_panel_token(const struct mxfp4_panel *ps, int nbs,
                                                                    const struct blk_q8_0 *x, __m256 acc[4])
{
    const __m256i ones = _mm256_set1_epi16(1), twelve = _mm256_set1_epi8(12);
    for (int b = 0; b < nbs; b++) {
        int32_t u[8];
        const __m256i av = _mm256_loadu_si256((const __m256i *)x[b].qs);
        _mm256_storeu_si256((__m256i *)u, av);
        const int32_t off = hsum8i(_mm256_madd_epi16(_mm256_maddubs_epi16(twelve, av), ones));
        const __m256i offv = _mm256_set1_epi32(off);
        const __m256 da = _mm256_set1_ps(f16(x[b].d));
        __m256i lo[4], hi[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            lo[g] = hi[g] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i b0 = _mm256_set1_epi32(u[k]), b1 = _mm256_set1_epi32(u[k + 4]);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                lo[g] = _mm256_add_epi16(lo[g], _mm256_maddubs_epi16(ps->q[b][g][k], b0));
                hi[g] = _mm256_add_epi16(hi[g], _mm256_maddubs_epi16(ps->q[b][g][k + 4], b1));
            }
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m256i si = _mm256_add_epi32(_mm256_madd_epi16(lo[g], ones), _mm256_madd_epi16(hi[g], ones));
            si = _mm256_sub_epi32(si, offv);
            acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(ps->d[b][g], da), _mm256_cvtepi32_ps(si), acc[g]);
        }
    }
}

static void gemm_panel_mxfp4(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                             size_t ys)
{
    const int64_t nb = n / QK;
    struct mxfp4_panel ps;
    for (int64_t b0 = 0; b0 < nb; b0 += MXP_SLAB) {
        int nbs = nb - b0 < MXP_SLAB ? (int)(nb - b0) : MXP_SLAB;
        mxfp4_panel_pack(&ps, w, ws, b0, nbs);
        for (int64_t t = 0; t < n_tok; t++) {
            float *yt = y + (size_t)t * ys;
            __m256 acc[4];
            panel_acc_load(yt, b0 == 0, acc);
            mxfp4_panel_token(&ps, nbs, (const struct blk_q8_0 *)((const uint8_t *)a + (size_t)t * as) + b0, acc);
            panel_acc_store(yt, acc);
        }
    }
}

void kern_avx2_fill(struct kern_ops *ops)
{
    ops->quant[GGML_TYPE_Q8_0] = q_q8_0;
    ops->quant[GGML_TYPE_Q8_1] = q_q8_1;
    ops->quant[GGML_TYPE_Q8_K] = q_q8_k;
    ops->dequant[GGML_TYPE_F16] = deq_f16;
    ops->quant[GGML_TYPE_F16] = q_f16;
    ops->dequant[GGML_TYPE_BF16] = deq_bf16;
    ops->vec_dot[GGML_TYPE_BF16] = dot_bf16;
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
    ops->vec_dot[GGML_TYPE_F32] = dot_f32;
    ops->vec_dot[GGML_TYPE_F16] = dot_f16;
    ops->vec_dot[GGML_TYPE_Q8_0] = dot_q8_0;
    ops->vec_dot[GGML_TYPE_Q4_0] = dot_q4_0;
    ops->vec_dot[GGML_TYPE_Q4_1] = dot_q4_1;
    ops->vec_dot[GGML_TYPE_Q5_0] = dot_q5_0;
    ops->vec_dot[GGML_TYPE_Q5_1] = dot_q5_1;
    ops->vec_dot[GGML_TYPE_Q4_K] = dot_q4_k;
    ops->vec_dot[GGML_TYPE_Q5_K] = dot_q5_k;
    ops->vec_dot[GGML_TYPE_Q6_K] = dot_q6_k;
    ops->gemm[GGML_TYPE_Q8_0] = gemm_q8_0;
    ops->gemm[GGML_TYPE_Q4_0] = gemm_q4_0;
    ops->gemm[GGML_TYPE_Q5_0] = gemm_q5_0;
    ops->gemm[GGML_TYPE_Q4_K] = gemm_q4_k;
    ops->gemm[GGML_TYPE_Q6_K] = gemm_q6_k;
    ops->gemm_panel[GGML_TYPE_Q4_K] = gemm_panel_q4_k;
    ops->gemm_panel[GGML_TYPE_F32] = gemm_panel_f32;
    ops->gemm_panel[GGML_TYPE_F16] = gemm_panel_f16;
    ops->gemm_panel[GGML_TYPE_Q6_K] = gemm_panel_q6_k;
    ops->vec_dot[GGML_TYPE_MXFP4] = dot_mxfp4;
    ops->gemm[GGML_TYPE_MXFP4] = gemm_mxfp4;
    ops->gemm_panel[GGML_TYPE_MXFP4] = gemm_panel_mxfp4;
}
