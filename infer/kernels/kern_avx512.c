/* infer/kernels/kern_avx512.c: AVX-512 (F, BW, VL, DQ) + VNNI kernels for the hottest dot products:
 * F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, MXFP4; Q8_0, Q5_0, Q4_K, Q6_K and MXFP4 matrix-vector
 * rows (generation); multi-query F32/F16 row dots (attention); 4x4 tiles for small batches; 32-row
 * panels (all tokens of a batch) for Q8_0, Q4_0, Q5_0, MXFP4, Q4_K and Q6_K. The generation rows
 * prefetch one page ahead of their stream (PF_AHEAD). Compiled with those flags alone;
 * kern_init() installs them only when the CPU has AVX-512 F/BW/VL and VNNI (over the AVX2 table).
 * Each has a reference twin in kern_ref.c (tiles and panels: the reference vec_dot) and is tested
 * against it in tests/infer/test_kernels.c.
 *
 * VNNI's vpdpbusd multiplies unsigned by signed bytes and adds groups of 4 into int32 lanes:
 * - signed x signed (Q8_0): |w| times the activation negated where w < 0 (mask from w's sign);
 * - nibble formats: the unsigned level times the activation, the offset (-8, -16, -32) or the
 *   mins taken out afterwards from the activation's block sums (Q8_K bsums) or an extra dpbusd
 *   with the constant offset.
 * Two 32-value blocks fill one 512-bit register; per-lane scales are applied with an int32
 * multiply or vpdpwssd (K-quants, exact) or in float (per-block deltas). The Q4_K dot works in
 * 256-bit registers: this core (Zen 4) issues 512-bit integer ops as two 256-bit halves, so the
 * wider form only added cross-lane inserts.
 *
 * Bit-exactness: the Q8_0, Q4_0, Q5_0, MXFP4 and Q4_K tiles sum exactly like their vec_dot (same lanes,
 * same float operations), so a batch of up to 15 tokens (speculative verification) gives the
 * logits of as many single steps; panels (16 tokens and more, see matmul.c) sum in another order. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "infer/kernels/kern_int.h"
#include "infer/kernels/kern_x86.h"

static inline __m512i load2x32(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

static inline __m512 scale2(float s0, float s1)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(s0)), _mm256_set1_ps(s1), 1);
}

/* signed x signed byte dot, groups of 4 -> int32 lanes */
static inline __m512i dot_ss(__m512i w, __m512i a)
{
    __mmask64 neg = _mm512_movepi8_mask(w);
    __m512i aw = _mm512_abs_epi8(w);
    __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sa);
}

static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i))), s0);
        s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16))),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16))), s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++)
        s += f16(x[i]) * f16(y[i]);
    return s;
}

static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    int64_t nb = n / QK, i = 0;
    __m512 acc = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m512i p = dot_ss(load2x32(x[i].qs, x[i + 1].qs), load2x32(y[i].qs, y[i + 1].qs));
        __m512 s = scale2(f16(x[i].d) * f16(y[i].d), f16(x[i + 1].d) * f16(y[i + 1].d));
        acc = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++) {
        int si = 0;
        for (int j = 0; j < QK; j++)
            si += x[i].qs[j] * y[i].qs[j];
        r += (float)si * (f16(x[i].d) * f16(y[i].d));
    }
    return r;
}

/* ---- multi-query dots (kern.rows_dot_mq_f32/f16) -------------------------------------------------
 * As the AVX2 pair (kern_avx2.c) with 16-lane accumulators: per (query, row) pair, products of 16
 * values by one fma in value order, the lanes summed in a fixed tree, then the last n % 16
 * products one by one (explicit fmas), then the scale. Blocks of 8 queries x 2 rows (16 accumulators of the 32
 * registers) widen each F16 row once for eight queries; leftover queries and rows go through the
 * same per-pair arithmetic one at a time, so the grouping never changes a bit. */
static inline float mq_reduce16(__m512 a)
{
    float d[16];
    _mm512_storeu_ps(d, a);
    float h[8];
    for (int i = 0; i < 8; i++)
        h[i] = d[2 * i] + d[2 * i + 1];
    return ((h[0] + h[1]) + (h[2] + h[3])) + ((h[4] + h[5]) + (h[6] + h[7]));
}

/* mq_reduce16 of sixteen accumulators at once: r[k] = mq_reduce16(a[k]), the same tree of adds
 * (adjacent lanes, then adjacent pair sums, ...) done four levels of 512-bit adds wide: each level
 * adds the even and odd lanes of two vectors, so every sum has the same two operands as in the
 * scalar tree (15 adds and 30 permutes instead of 16 stores and 240 scalar adds). */
static inline __attribute__((always_inline)) void mq_reduce16x16(const __m512 a[16], float r[16])
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 l1[8], l2[4], l3[2];
    for (int k = 0; k < 8; k++)
        l1[k] = _mm512_add_ps(_mm512_permutex2var_ps(a[2 * k], ev, a[2 * k + 1]),
                              _mm512_permutex2var_ps(a[2 * k], od, a[2 * k + 1]));
    for (int k = 0; k < 4; k++)
        l2[k] = _mm512_add_ps(_mm512_permutex2var_ps(l1[2 * k], ev, l1[2 * k + 1]),
                              _mm512_permutex2var_ps(l1[2 * k], od, l1[2 * k + 1]));
    for (int k = 0; k < 2; k++)
        l3[k] = _mm512_add_ps(_mm512_permutex2var_ps(l2[2 * k], ev, l2[2 * k + 1]),
                              _mm512_permutex2var_ps(l2[2 * k], od, l2[2 * k + 1]));
    _mm512_storeu_ps(r, _mm512_add_ps(_mm512_permutex2var_ps(l3[0], ev, l3[1]),
                                      _mm512_permutex2var_ps(l3[0], od, l3[1])));
}

static inline __attribute__((always_inline)) __m512 mq_row16(int is_f16, const uint8_t *p, int64_t i)
{
    return is_f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 2 * i)))
                  : _mm512_loadu_ps((const float *)p + i);
}

static inline __attribute__((always_inline)) float mq_row1(int is_f16, const uint8_t *p, int64_t i)
{
    return is_f16 ? f16(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* s + x * y with one rounding (an explicit fma: the tails must not depend on how the compiler
 * contracts them in different places) */
static inline float mq_fma1(float x, float y, float s)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x), _mm_set_ss(y), _mm_set_ss(s)));
}

static inline __attribute__((always_inline)) float mq_one16(int is_f16, int64_t n, const float *q, const uint8_t *k,
                                                            float scale)
{
    __m512 a = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        a = _mm512_fmadd_ps(mq_row16(is_f16, k, i), _mm512_loadu_ps(q + i), a);
    float s = mq_reduce16(a);
    for (; i < n; i++)
        s = mq_fma1(mq_row1(is_f16, k, i), q[i], s);
    return s * scale;
}

#define MQ_QB 8 /* queries per block */

static inline __attribute__((always_inline)) void rows_dot_mq16(int is_f16, int64_t n, const float *q, size_t qs,
                                                                int nq, const void *kv, size_t stride,
                                                                int64_t n_rows, float scale, float *out, size_t os)
{
    const size_t krow = stride * (is_f16 ? 2 : 4);
    const uint8_t *k = kv;
    int64_t r = 0;
    for (; r + 2 <= n_rows; r += 2) {
        const uint8_t *k0 = k + (size_t)r * krow, *k1 = k0 + krow;
        int j = 0;
        for (; j + MQ_QB <= nq; j += MQ_QB) {
            const float *qb = q + (size_t)j * qs;
            __m512 a0[MQ_QB], a1[MQ_QB];
#pragma GCC unroll 8
            for (int jj = 0; jj < MQ_QB; jj++)
                a0[jj] = a1[jj] = _mm512_setzero_ps();
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                __m512 x0 = mq_row16(is_f16, k0, i), x1 = mq_row16(is_f16, k1, i);
#pragma GCC unroll 8
                for (int jj = 0; jj < MQ_QB; jj++) {
                    __m512 v = _mm512_loadu_ps(qb + (size_t)jj * qs + i);
                    a0[jj] = _mm512_fmadd_ps(x0, v, a0[jj]);
                    a1[jj] = _mm512_fmadd_ps(x1, v, a1[jj]);
                }
            }
            __m512 acc[2 * MQ_QB];
            float sums[2 * MQ_QB];
            for (int jj = 0; jj < MQ_QB; jj++)
                acc[2 * jj] = a0[jj], acc[2 * jj + 1] = a1[jj];
            mq_reduce16x16(acc, sums);
            for (int jj = 0; jj < MQ_QB; jj++) {
                const float *qj = qb + (size_t)jj * qs;
                float s0 = sums[2 * jj], s1 = sums[2 * jj + 1];
                for (int64_t t = i; t < n; t++) {
                    s0 = mq_fma1(mq_row1(is_f16, k0, t), qj[t], s0);
                    s1 = mq_fma1(mq_row1(is_f16, k1, t), qj[t], s1);
                }
                out[(size_t)(j + jj) * os + (size_t)r] = s0 * scale;
                out[(size_t)(j + jj) * os + (size_t)r + 1] = s1 * scale;
            }
        }
        for (; j < nq; j++) {
            const float *qj = q + (size_t)j * qs;
            out[(size_t)j * os + (size_t)r] = mq_one16(is_f16, n, qj, k0, scale);
            out[(size_t)j * os + (size_t)r + 1] = mq_one16(is_f16, n, qj, k1, scale);
        }
    }
    for (; r < n_rows; r++)
        for (int j = 0; j < nq; j++)
            out[(size_t)j * os + (size_t)r] = mq_one16(is_f16, n, q + (size_t)j * qs, k + (size_t)r * krow, scale);
}

static void rows_dot_mq_f32(int64_t n, const float *q, size_t qs, int nq, const float *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    rows_dot_mq16(0, n, q, qs, nq, k, stride, n_rows, scale, out, os);
}

static void rows_dot_mq_f16(int64_t n, const float *q, size_t qs, int nq, const uint16_t *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os)
{
    rows_dot_mq16(1, n, q, qs, nq, k, stride, n_rows, scale, out, os);
}

/* ---- multi-query weighted sums (kern.rows_wsum_mq_f32/f16) ---------------------------------------
 * Blocks of WS_QB queries x 32 values in 16 accumulators over WS_RB rows at a time (each row's 32
 * values loaded and widened once for the block's queries; the accumulators go back to out between
 * row blocks, so a block of F16 MLA latents, 72 KB, stays in L2 across the value tiles). Every
 * accumulator lane is one (query, value) chain of fmas in row order from 0; the leftover values go
 * through the same chain with scalar fmas, the leftover queries one at a time: the same bits as the
 * reference for any nq, n and n_rows. */
#define WS_QB 8
#define WS_RB 64

static inline __attribute__((always_inline)) void rows_wsum_mq16(int is_f16, int64_t n, const float *w, size_t ws,
                                                                 int nq, const void *v, size_t stride,
                                                                 int64_t n_rows, float *out, size_t os)
{
    const size_t vrow = stride * (is_f16 ? 2 : 4);
    const uint8_t *vb = v;
    for (int j = 0; j < nq; j++)
        memset(out + (size_t)j * os, 0, (size_t)n * sizeof(float));
    for (int64_t r0 = 0; r0 < n_rows; r0 += WS_RB) {
        int64_t r1 = r0 + WS_RB < n_rows ? r0 + WS_RB : n_rows;
        int j = 0;
        for (; j + WS_QB <= nq; j += WS_QB) {
            const float *wb = w + (size_t)j * ws;
            float *ob = out + (size_t)j * os;
            int64_t i = 0;
            for (; i + 32 <= n; i += 32) {
                __m512 a0[WS_QB], a1[WS_QB];
#pragma GCC unroll 8
                for (int jj = 0; jj < WS_QB; jj++) {
                    a0[jj] = _mm512_loadu_ps(ob + (size_t)jj * os + i);
                    a1[jj] = _mm512_loadu_ps(ob + (size_t)jj * os + i + 16);
                }
                for (int64_t r = r0; r < r1; r++) {
                    const uint8_t *vr = vb + (size_t)r * vrow;
                    __m512 x0 = mq_row16(is_f16, vr, i), x1 = mq_row16(is_f16, vr, i + 16);
#pragma GCC unroll 8
                    for (int jj = 0; jj < WS_QB; jj++) {
                        __m512 b = _mm512_set1_ps(wb[(size_t)jj * ws + (size_t)r]);
                        a0[jj] = _mm512_fmadd_ps(b, x0, a0[jj]);
                        a1[jj] = _mm512_fmadd_ps(b, x1, a1[jj]);
                    }
                }
#pragma GCC unroll 8
                for (int jj = 0; jj < WS_QB; jj++) {
                    _mm512_storeu_ps(ob + (size_t)jj * os + i, a0[jj]);
                    _mm512_storeu_ps(ob + (size_t)jj * os + i + 16, a1[jj]);
                }
            }
            for (; i < n; i++)
                for (int jj = 0; jj < WS_QB; jj++) {
                    float a = ob[(size_t)jj * os + i];
                    for (int64_t r = r0; r < r1; r++)
                        a = mq_fma1(wb[(size_t)jj * ws + (size_t)r], mq_row1(is_f16, vb + (size_t)r * vrow, i), a);
                    ob[(size_t)jj * os + i] = a;
                }
        }
        for (; j < nq; j++) {
            const float *wj = w + (size_t)j * ws;
            float *oj = out + (size_t)j * os;
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                __m512 a = _mm512_loadu_ps(oj + i);
                for (int64_t r = r0; r < r1; r++)
                    a = _mm512_fmadd_ps(_mm512_set1_ps(wj[r]), mq_row16(is_f16, vb + (size_t)r * vrow, i), a);
                _mm512_storeu_ps(oj + i, a);
            }
            for (; i < n; i++) {
                float a = oj[i];
                for (int64_t r = r0; r < r1; r++)
                    a = mq_fma1(wj[r], mq_row1(is_f16, vb + (size_t)r * vrow, i), a);
                oj[i] = a;
            }
        }
    }
}

static void rows_wsum_mq_f32(int64_t n, const float *w, size_t ws, int nq, const float *v, size_t stride,
                             int64_t n_rows, float *out, size_t os)
{
    rows_wsum_mq16(0, n, w, ws, nq, v, stride, n_rows, out, os);
}

static void rows_wsum_mq_f16(int64_t n, const float *w, size_t ws, int nq, const uint16_t *v, size_t stride,
                             int64_t n_rows, float *out, size_t os)
{
    rows_wsum_mq16(1, n, w, ws, nq, v, stride, n_rows, out, os);
}

/* Generation's Q8_0 rows (kern_vec_dot_rows_fn): every row gets exactly the int32 lane sums and
 * float operations of dot_q8_0 (same lanes, same scale products, same tail), so the result is bit
 * for bit the vec_dot's. The integer part needs no per-row sign trick: with u = w XOR 0x80 =
 * w + 128 (unsigned), vpdpbusd(c, u, a) = sum w*a + 128 * sum a + c, so starting from c = -128 *
 * (the activation's 4-byte group sums) one vpdpbusd gives sum w*a exactly (|a| <= 127 from the Q8_0
 * quantizer: no overflow). That correction and the activation's scale pairs are computed once per
 * call for all its rows (on the stack, rows up to Q8_ROWS_MAXP block pairs; longer rows use
 * dot_q8_0). Rows are read one after the other: one linear stream per thread. Interleaving four
 * rows (four streams 1-8 KB apart) was 23% faster in L2 but a third slower streaming from memory
 * (bench_kernels micro Q8_0 64 65536: 15.6 against 23 GB/s for the plain loop). */
#define Q8_ROWS_MAXP 256

/* Software prefetch in the generation row kernels: each step asks for the line PF_AHEAD bytes
 * further along the thread's stream (rows are contiguous, so past a row's end that is the next
 * row's). This core's hardware prefetcher stops at 4 KB page boundaries; one page ahead keeps loads
 * in flight across them. Measured on the 2-vCPU EPYC (docs/BENCHMARKS.md, issue 20, weights in
 * anonymous memory): dense Q8_0 tg at 2 threads 135-152 -> 160-169 tok/s (best runs, 4 each; 2 KB
 * no better than none, 8 KB as 4 KB, 16 KB less), the MoE Q8_0 file 21-29 -> 27-31 tok/s at 1
 * thread and 24-36 -> 30-39 at 2. A prefetch never faults and changes no arithmetic: results are
 * bit for bit those without it. */
#define PF_AHEAD 4096
static inline void pf_lines(const void *p, int n_lines)
{
    for (int l = 0; l < n_lines; l++)
        _mm_prefetch((const char *)p + PF_AHEAD + 64 * l, _MM_HINT_T0);
}

/* The row kernels' fallback for rows longer than their stack copies of the activation. */
static inline void rows_by_dot(float (*dot)(int64_t, const void *, const void *), int64_t n, const void *w, size_t ws,
                               int64_t n_rows, const void *a, float *y)
{
    for (int64_t r = 0; r < n_rows; r++)
        y[r] = dot(n, (const uint8_t *)w + (size_t)r * ws, a);
}

static void dot_rows_q8_0(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, float *y)
{
    const struct blk_q8_0 *ya = a;
    int64_t nb = n / QK, np = nb / 2;
    if (np > Q8_ROWS_MAXP) {
        rows_by_dot(dot_q8_0, n, w, ws, n_rows, a, y);
        return;
    }
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i corr[Q8_ROWS_MAXP];
    __m512i yq[Q8_ROWS_MAXP];
    float dy[2 * Q8_ROWS_MAXP];
    for (int64_t p = 0; p < np; p++) {
        yq[p] = load2x32(ya[2 * p].qs, ya[2 * p + 1].qs);
        corr[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, yq[p]));
        dy[2 * p] = f16(ya[2 * p].d);
        dy[2 * p + 1] = f16(ya[2 * p + 1].d);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const struct blk_q8_0 *x = (const struct blk_q8_0 *)((const uint8_t *)w + (size_t)r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t p = 0; p < np; p++) {
            int64_t i = 2 * p;
            pf_lines(&x[i], 1); /* 68 bytes a step */
            __m512i u = _mm512_xor_si512(load2x32(x[i].qs, x[i + 1].qs), flip);
            __m512i q = _mm512_dpbusd_epi32(corr[p], u, yq[p]);
            __m512 sc = scale2(f16(x[i].d) * dy[i], f16(x[i + 1].d) * dy[i + 1]);
            acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(q), acc);
        }
        float s = _mm512_reduce_add_ps(acc);
        for (int64_t j = 2 * np; j < nb; j++) {
            int si = 0;
            for (int q = 0; q < QK; q++)
                si += x[j].qs[q] * ya[j].qs[q];
            s += (float)si * (f16(x[j].d) * f16(ya[j].d));
        }
        y[r] = s;
    }
}

/* 32 nibbles of a Q4_0 block (low nibbles first) as 32 bytes. */
static inline __m256i nib32(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0xF));
}

static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    int64_t nb = n / QK, i = 0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i eight = _mm512_set1_epi8(8);
    for (; i + 2 <= nb; i += 2) {
        __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(nib32(x[i].qs)), nib32(x[i + 1].qs), 1);
        __m512i ya = load2x32(y[i].qs, y[i + 1].qs);
        __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, ya),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, ya));
        __m512 s = scale2(f16(x[i].d) * f16(y[i].d), f16(x[i + 1].d) * f16(y[i + 1].d));
        acc = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++) {
        int si = 0;
        for (int j = 0; j < QK / 2; j++)
            si += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK / 2];
        r += (float)si * (f16(x[i].d) * f16(y[i].d));
    }
    return r;
}

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K scales[12] array. */
static inline void k4_scales(const uint8_t *s12, uint8_t out[16])
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    uint32_t r[4];
    r[0] = u0 & 0x3f3f3f3fu;                                             /* scales 0..3 */
    r[1] = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);        /* scales 4..7 */
    r[2] = u1 & 0x3f3f3f3fu;                                             /* mins 0..3 */
    r[3] = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4); /* mins 4..7 */
    memcpy(out, r, 16);
}

/* Per-group int16 scale vectors of a Q4_K/Q5_K block: group j (64 values) gets sc[2j] in its low
 * 256 bits and sc[2j+1] in the high 256 bits, as int16 lanes (shuffles of the broadcast scales). */
static inline void k4_scale_vecs(const uint8_t sm[16], __m512i sc16[4])
{
    __m512i sv = _mm512_broadcast_i32x4(_mm_loadl_epi64((const __m128i *)sm));
    for (int j = 0; j < 4; j++) {
        /* byte pairs (index, zero): 0x80 selects zero */
        __m256i lo = _mm256_set1_epi16((short)(0x8000 | (2 * j)));
        __m256i hi = _mm256_set1_epi16((short)(0x8000 | (2 * j + 1)));
        sc16[j] = _mm512_shuffle_epi8(sv, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
    }
}

static inline int32_t k4_mins_dot(const uint8_t sm[16], const int16_t *bsums)
{
    __m128i m8 = _mm_loadl_epi64((const __m128i *)(sm + 8));
    __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* m0 m0 m1 m1 ... */
    __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), m16);
    __m128i ms = _mm_add_epi32(_mm256_castsi256_si128(mp), _mm256_extracti128_si256(mp, 1));
    ms = _mm_add_epi32(ms, _mm_unpackhi_epi64(ms, ms));
    ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0xb1));
    return _mm_cvtsi128_si32(ms);
}

/* A Q4_K super-block decoded for 256-bit products: the levels of its four 32-byte groups (low
 * nibbles = sub-block 2j, high = 2j+1), each sub-block's scale broadcast as int16, the mins as
 * int16 pairs in bsums order, d and dmin. The one-row dot and the 4-token tile share this and
 * q4k_block_dot, so a batch gives bit-identical results to token-by-token generation (a MoE
 * router must not see a different number). */
struct q4k_dec {
    __m256i ql[4], qh[4], scl[4], sch[4], mins;
    float d, dmin;
};

static inline __attribute__((always_inline)) void q4k_decode(const struct blk_q4_k *x, struct q4k_dec *w)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    /* int16 [scales 0..7 | mins 0..7]; the mins duplicated into int16 pairs meet the 16 bsums */
    const __m256i sm = _mm256_cvtepu8_epi16(k4_scales_v(x->scales));
    w->mins = _mm256_permute2x128_si256(_mm256_unpacklo_epi16(sm, sm), _mm256_unpackhi_epi16(sm, sm), 0x31);
    const __m256i sc = _mm256_permute4x64_epi64(sm, 0x44); /* the 8 scales in both lanes */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        w->scl[j] = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * j)));
        w->sch[j] = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))));
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
        w->ql[j] = _mm256_and_si256(q, m4);
        w->qh[j] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    w->d = f16(x->d);
    w->dmin = f16(x->dmin);
}

/* One decoded super-block against one activation block: levels times activations by maddubs
 * (pairs fit int16), the sub-block scales applied and pairs summed by vpdpwssd (four short
 * dependency chains), the mins through the activation's block sums into a vector accumulator
 * (no horizontal sum per super-block). */
static inline __attribute__((always_inline)) void q4k_block_dot(const struct q4k_dec *w, const struct blk_q8_k *y,
                                                                __m256 *acc, __m256 *accm)
{
    const __m256i mp = _mm256_madd_epi16(w->mins, _mm256_loadu_si256((const __m256i *)y->bsums));
    *accm = _mm256_fmadd_ps(_mm256_set1_ps(w->dmin * y->d), _mm256_cvtepi32_ps(mp), *accm);
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m256i pl = _mm256_maddubs_epi16(w->ql[j], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j)));
        const __m256i ph = _mm256_maddubs_epi16(w->qh[j], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32)));
        s[2 * (j & 1)] = _mm256_dpwssd_epi32(s[2 * (j & 1)], pl, w->scl[j]);
        s[2 * (j & 1) + 1] = _mm256_dpwssd_epi32(s[2 * (j & 1) + 1], ph, w->sch[j]);
    }
    const __m256i si = _mm256_add_epi32(_mm256_add_epi32(s[0], s[2]), _mm256_add_epi32(s[1], s[3]));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(w->d * y->d), _mm256_cvtepi32_ps(si), *acc);
}

static inline float q4k_finish(__m256 acc, __m256 accm)
{
    acc = _mm256_sub_ps(acc, accm);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Q4_K, one row (generation): 256-bit throughout (on this core 512-bit integer ops issue as two
 * halves, so the wider form only adds cross-lane inserts). The group loops unroll fully (constant
 * trip counts and unroll pragmas: -O2 unrolls nothing on its own, and rolled loops leave
 * the decoded block in memory). */
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
    return q4k_finish(acc, accm);
}

/* Generation's Q4_K rows (kern_vec_dot_rows_fn), in 512-bit registers (this core, Zen 5, runs
 * them at full width; the one-row dot above stays 256-bit for the tiles it shares code with). The
 * activation is rearranged once per call (on the stack, rows up to Q4K_ROWS_MAXB super-blocks;
 * longer rows use dot_q4_k) so that one 64-byte load of a row's nibbles meets it directly: vector
 * k of super-block i holds the activation of sub-blocks (0|2), (1|3), (4|6), (5|7), matching the
 * low and high nibbles of qs[0..63] and qs[64..127]. Per row and super-block: two loads, four
 * maddubs, four vpdpwssd with the sub-block scales permuted into place, one fold of the high half
 * onto the low. Two super-blocks go together (bench_kernels micro, L2-resident rows: 28 -> 33 GB/s;
 * the bookkeeping around those 14 operations had been most of a block's instructions): one
 * decode of both blocks' scales, one madd for both blocks' mins against both bsums, one
 * conversion of their (d, dmin) halves, one fold and one int-to-float conversion for both; each
 * block still has its own fma into acc and accm, in block order. Bit for bit dot_q4_k: every int32 lane m ends with the same exact integer, the sum
 * over the 8 sub-blocks of scale x (the dot of bytes 4m..4m+3), the mins go through the same
 * madd, and the float operations (d * d_act, dmin * d_act, the two fma chains, q4k_finish) are
 * the same in the same order. Rows are read one after the other: one linear stream per thread. */
#define Q4K_ROWS_MAXB 64

/* One Q4_K super-block of a row against its rearranged activation yk[0..3]: the int32 lanes of its
 * four maddubs + vpdpwssd products, the sub-block scales picked from the int16 lanes of sm by sx. */
static inline __attribute__((always_inline)) __m512i q4k_rows_sum(const struct blk_q4_k *x, const __m512i *yk,
                                                                  const __m512i sx[4], __m512i sm, __m512i m4)
{
    const __m512i q0 = _mm512_loadu_si512((const void *)x->qs);
    const __m512i q1 = _mm512_loadu_si512((const void *)(x->qs + 64));
    __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(_mm512_and_si512(q0, m4), yk[0]),
                                    _mm512_permutexvar_epi16(sx[0], sm));
    __m512i t = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(_mm512_and_si512(q1, m4), yk[2]),
                                    _mm512_permutexvar_epi16(sx[2], sm));
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q0, 4), m4), yk[1]),
                            _mm512_permutexvar_epi16(sx[1], sm));
    t = _mm512_dpwssd_epi32(t, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q1, 4), m4), yk[3]),
                            _mm512_permutexvar_epi16(sx[3], sm));
    return _mm512_add_epi32(s, t);
}

static void dot_rows_q4_k(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, float *y)
{
    const struct blk_q8_k *ya = a;
    int64_t nb = n / QK_K;
    if (nb > Q4K_ROWS_MAXB) {
        rows_by_dot(dot_q4_k, n, w, ws, n_rows, a, y);
        return;
    }
    __m512i yv[4 * Q4K_ROWS_MAXB];
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *q = ya[i].qs;
        for (int k = 0; k < 4; k++) {
            const int8_t *lo = q + 128 * (k >> 1) + 32 * (k & 1);
            yv[4 * i + k] = load2x32(lo, lo + 64);
        }
    }
    /* int16 lane l of vector k: scale of sub-block (k: 0|2, 1|3, 4|6, 5|7), low | high 256 bits */
    const __m512i sidx[4] = {
        _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1),
        _mm512_inserti64x4(_mm512_set1_epi16(1), _mm256_set1_epi16(3), 1),
        _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1),
        _mm512_inserti64x4(_mm512_set1_epi16(5), _mm256_set1_epi16(7), 1),
    };
    /* per pair of super-blocks (i, i + 1): both blocks' bsums in one vector, and d_act as
     * (d_i, d_i, d_i+1, d_i+1) to meet the weights' (d, dmin) pairs */
    __m512i bs2[Q4K_ROWS_MAXB / 2];
    __m128 yd2[Q4K_ROWS_MAXB / 2];
    for (int64_t i = 0; i + 1 < nb; i += 2) {
        bs2[i / 2] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)ya[i].bsums)),
                                        _mm256_loadu_si256((const __m256i *)ya[i + 1].bsums), 1);
        yd2[i / 2] = _mm_setr_ps(ya[i].d, ya[i].d, ya[i + 1].d, ya[i + 1].d);
    }
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* int16 lane l: block i's min l / 2 (lanes 8..15 of the decoded scales), then block i+1's */
    const __m512i midx = _mm512_set_epi16(31, 31, 30, 30, 29, 29, 28, 28, 27, 27, 26, 26, 25, 25, 24, 24, 15, 15, 14,
                                          14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
    const __m512i sixteen = _mm512_set1_epi16(16);
    const __m512i sidx1[4] = {_mm512_add_epi16(sidx[0], sixteen), _mm512_add_epi16(sidx[1], sixteen),
                              _mm512_add_epi16(sidx[2], sixteen), _mm512_add_epi16(sidx[3], sixteen)};
    for (int64_t r = 0; r < n_rows; r++) {
        const struct blk_q4_k *x = (const struct blk_q4_k *)((const uint8_t *)w + (size_t)r * ws);
        __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
        int64_t i = 0;
        /* two super-blocks a step: their scales decoded, their mins applied and their sums folded
         * in shared vectors, while every float operation stays the one-block step's, in order */
        for (; i + 1 < nb; i += 2) {
            pf_lines(&x[i], 5); /* 288 bytes a step */
            const __m512i sm = _mm512_cvtepu8_epi16(k4_scales_v2(x[i].scales, x[i + 1].scales));
            const __m512i mp = _mm512_madd_epi16(_mm512_permutexvar_epi16(midx, sm), bs2[i / 2]);
            const __m512 mpf = _mm512_cvtepi32_ps(mp);
            uint32_t h0, h1;
            memcpy(&h0, &x[i].d, 4); /* d, dmin */
            memcpy(&h1, &x[i + 1].d, 4);
            const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)h0), (int)h1, 1)),
                                         yd2[i / 2]); /* d_i, dmin_i, d_i+1, dmin_i+1 (times d_act) */
            const __m256 dd8 = _mm256_castps128_ps256(dd);
            accm = _mm256_fmadd_ps(_mm256_permutexvar_ps(_mm256_set1_epi32(1), dd8), _mm512_castps512_ps256(mpf), accm);
            accm = _mm256_fmadd_ps(_mm256_permutexvar_ps(_mm256_set1_epi32(3), dd8),
                                   _mm512_extractf32x8_ps(mpf, 1), accm);
            __m512i u[2];
#pragma GCC unroll 2
            for (int b = 0; b < 2; b++) {
                u[b] = q4k_rows_sum(&x[i + b], yv + 4 * (i + b), b ? sidx1 : sidx, sm, m4);
            }
            /* [low + high half of block i | low + high half of block i+1]: the same int32 lanes */
            const __m512i si = _mm512_add_epi32(_mm512_shuffle_i64x2(u[0], u[1], 0x44), _mm512_shuffle_i64x2(u[0], u[1], 0xEE));
            const __m512 sf = _mm512_cvtepi32_ps(si);
            acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm512_castps512_ps256(sf), acc);
            acc = _mm256_fmadd_ps(_mm256_permutexvar_ps(_mm256_set1_epi32(2), dd8), _mm512_extractf32x8_ps(sf, 1), acc);
        }
        for (; i < nb; i++) {
            pf_lines(&x[i], 3); /* 144 bytes a super-block */
            const __m256i sm = _mm256_cvtepu8_epi16(k4_scales_v(x[i].scales));
            const __m256i mins = _mm256_permute2x128_si256(_mm256_unpacklo_epi16(sm, sm),
                                                           _mm256_unpackhi_epi16(sm, sm), 0x31);
            const __m256i mp = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)ya[i].bsums));
            accm = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].dmin) * ya[i].d), _mm256_cvtepi32_ps(mp), accm);
            const __m512i s = q4k_rows_sum(&x[i], yv + 4 * i, sidx, _mm512_castsi256_si512(sm), m4);
            const __m256i si = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * ya[i].d), _mm256_cvtepi32_ps(si), acc);
        }
        y[r] = q4k_finish(acc, accm);
    }
}

/* Q6_K int16 scale vectors for one 128-value half: A covers values 0..63 (scales 0..3, 16 values
 * = 8 int16 lanes each), B values 64..127 (scales 4..7). Scales are signed. */
static inline void q6k_scale_vecs(const int8_t *sc8, __m512i *sa, __m512i *sb)
{
    __m512i s16 = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)sc8)));
    const __m512i ca = _mm512_setr_epi32(0x01000100, 0x01000100, 0x01000100, 0x01000100, 0x03020302, 0x03020302,
                                         0x03020302, 0x03020302, 0x05040504, 0x05040504, 0x05040504, 0x05040504,
                                         0x07060706, 0x07060706, 0x07060706, 0x07060706);
    const __m512i cb = _mm512_add_epi8(ca, _mm512_set1_epi8(8));
    *sa = _mm512_shuffle_epi8(s16, ca);
    *sb = _mm512_shuffle_epi8(s16, cb);
}

static inline int32_t q6k_offset(const int8_t *scales, const int16_t *bsums)
{
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));
    __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), sc16);
    __m128i ms = _mm_add_epi32(_mm256_castsi256_si128(mp), _mm256_extracti128_si256(mp, 1));
    ms = _mm_add_epi32(ms, _mm_unpackhi_epi64(ms, ms));
    ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0xb1));
    return 32 * _mm_cvtsi128_si32(ms);
}

/* The four 64-value level vectors (0..63, i.e. level + 32) of a Q6_K block. */
static inline void q6k_levels(const struct blk_q6_k *x, __m512i v[4])
{
    const __m512i lo4 = _mm512_set1_epi8(0xF), three = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m512i l = _mm512_loadu_si512((const void *)(x->ql + 64 * h));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        __m512i hA = _mm512_inserti64x4(_mm512_castsi256_si512(hb), _mm256_srli_epi16(hb, 2), 1);
        __m512i hB = _mm512_srli_epi16(hA, 4);
        v[2 * h] = _mm512_or_si512(_mm512_and_si512(l, lo4), _mm512_slli_epi16(_mm512_and_si512(hA, three), 4));
        v[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lo4),
                                       _mm512_slli_epi16(_mm512_and_si512(hB, three), 4));
    }
}

/* Q6_K, one weight row against nt <= 4 tokens: levels times activations by maddubs (pairs fit
 * int16), signed scales applied by vpdpwssd, the +32 level bias removed through the block sums. */
static void row4_q6_k(int64_t n, const struct blk_q6_k *x, const uint8_t *a, size_t as, float *y, size_t ys,
                      int nt)
{
    __m512 acc[4];
    for (int t = 0; t < 4; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m512i v[4], sc[4];
        q6k_levels(&x[i], v);
        q6k_scale_vecs(x[i].scales, &sc[0], &sc[1]);
        q6k_scale_vecs(x[i].scales + 8, &sc[2], &sc[3]);
        float d = f16(x[i].d);
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_k *b = (const struct blk_q8_k *)(a + (size_t)t * as) + i;
            __m512i si = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                __m512i p16 = _mm512_maddubs_epi16(v[k], _mm512_loadu_si512((const void *)(b->qs + 64 * k)));
                si = _mm512_dpwssd_epi32(si, p16, sc[k]);
            }
            int32_t off = q6k_offset(x[i].scales, b->bsums);
            si = _mm512_sub_epi32(si, _mm512_setr_epi32(off, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * b->d), _mm512_cvtepi32_ps(si), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++)
        y[(size_t)t * ys] = _mm512_reduce_add_ps(acc[t]);
}

/* Q6_K for generation, one super-block against one activation block: the four 64-value level
 * vectors (level + 32, unsigned) times the activation by maddubs, the +32 bias taken out in int16
 * (negp[k] = -32 x the activation's byte-pair sums of vector k: every pair then holds the exact
 * sum of two (level - 32) x activation products, |.| <= 8192), the signed scales applied and the
 * pairs summed by vpdpwssd into int32 lanes (lane m: scale x the dot of bytes 4m..4m+3). No
 * horizontal sum per block. The one-row dot computes negp inline, the row kernel once per call for
 * all its rows; both then run this helper, so they give the same integers and the same floats. */
static inline __attribute__((always_inline)) __m512i q6k_block_int(const struct blk_q6_k *x, const int8_t *q8,
                                                                   const __m512i negp[4])
{
    __m512i v[4], sc[4];
    q6k_levels(x, v);
    q6k_scale_vecs(x->scales, &sc[0], &sc[1]);
    q6k_scale_vecs(x->scales + 8, &sc[2], &sc[3]);
    __m512i s = _mm512_setzero_si512(), t = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512i p16 =
            _mm512_add_epi16(_mm512_maddubs_epi16(v[k], _mm512_loadu_si512((const void *)(q8 + 64 * k))), negp[k]);
        if (k & 1)
            t = _mm512_dpwssd_epi32(t, p16, sc[k]);
        else
            s = _mm512_dpwssd_epi32(s, p16, sc[k]);
    }
    return _mm512_add_epi32(s, t);
}

/* negp of q6k_block_int for one activation block: -32 x (a[2p] + a[2p+1]) as int16 lanes. */
static inline void q6k_negp(const int8_t *q8, __m512i negp[4])
{
    const __m512i m32 = _mm512_set1_epi8(32);
    for (int k = 0; k < 4; k++)
        negp[k] = _mm512_sub_epi16(_mm512_setzero_si512(),
                                   _mm512_maddubs_epi16(m32, _mm512_loadu_si512((const void *)(q8 + 64 * k))));
}

/* Q6_K, one row (generation and the fallback of the row kernel). */
static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m512i negp[4];
        q6k_negp(y[i].qs, negp);
        const __m512i si = q6k_block_int(&x[i], y[i].qs, negp);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(f16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(si), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Generation's Q6_K rows (kern_vec_dot_rows_fn), bit for bit dot_q6_k: the activation's bias
 * terms are computed once per call (on the stack, rows up to Q6K_ROWS_MAXB super-blocks; longer
 * rows use dot_q6_k), then each row runs q6k_block_int block by block. Rows are read one after the
 * other (one linear stream per thread): two adjacent rows interleaved, with or without software
 * prefetch, streamed at less than half the rate from memory (bench_kernels micro Q6_K 64 65536:
 * 10 against 27 GB/s; in L2 they were equal). */
#define Q6K_ROWS_MAXB 64

static void dot_rows_q6_k(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, float *y)
{
    const struct blk_q8_k *ya = a;
    int64_t nb = n / QK_K;
    if (nb > Q6K_ROWS_MAXB) {
        rows_by_dot(dot_q6_k, n, w, ws, n_rows, a, y);
        return;
    }
    __m512i negp[4 * Q6K_ROWS_MAXB];
    for (int64_t i = 0; i < nb; i++)
        q6k_negp(ya[i].qs, negp + 4 * i);
    for (int64_t r = 0; r < n_rows; r++) {
        const struct blk_q6_k *x = (const struct blk_q6_k *)((const uint8_t *)w + (size_t)r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            pf_lines(&x[i], 4); /* 210 bytes a super-block */
            const __m512i si = q6k_block_int(&x[i], ya[i].qs, negp + 4 * i);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(f16(x[i].d) * ya[i].d), _mm512_cvtepi32_ps(si), acc);
        }
        y[r] = _mm512_reduce_add_ps(acc);
    }
}


/* ---- tiles for prompt processing (KERN_TILE x KERN_TILE = 4 rows x 4 tokens) ------------------------
 * Q8_0: the activation is made unsigned (a + 128, by flipping the sign bit) so vpdpbusd can take the
 * signed weight directly; the extra 128 * sum(w) is cancelled by starting each dot from
 * -128 * sum(w), computed once per weight block and shared by the 4 tokens. Each weight block and
 * each activation block is loaded once per tile. */
/* The 32 signed levels of block i of a Q8_0, Q4_0, Q5_0 or MXFP4 row, and its delta. */
static inline __m256i q0_levels(int type, const void *row, int64_t i, float *d)
{
    if (type == GGML_TYPE_MXFP4) {
        const struct blk_mxfp4 *b = (const struct blk_mxfp4 *)row + i;
        *d = e8m0_half_tab(b->e);
        return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kern_fp4_lv)),
                                   nib32(b->qs));
    }
    if (type == GGML_TYPE_Q8_0) {
        const struct blk_q8_0 *b = (const struct blk_q8_0 *)row + i;
        *d = f16(b->d);
        return _mm256_loadu_si256((const __m256i *)b->qs);
    }
    if (type == GGML_TYPE_Q4_0) {
        const struct blk_q4_0 *b = (const struct blk_q4_0 *)row + i;
        *d = f16(b->d);
        return _mm256_sub_epi8(nib32(b->qs), _mm256_set1_epi8(8));
    }
    const struct blk_q5_0 *b = (const struct blk_q5_0 *)row + i;
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    *d = f16(b->d);
    /* level = nibble + 16*bit - 16: where the bit is clear, set the high nibble (two's complement) */
    __m256i hi = _mm256_andnot_si256(_mm256_movm_epi8((__mmask32)qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(nib32(b->qs), hi);
}

static inline float q0_tail(int type, const void *row, const struct blk_q8_0 *b, int64_t i)
{
    float d;
    int8_t lv[32];
    _mm256_storeu_si256((__m256i *)lv, q0_levels(type, row, i, &d));
    int si = 0;
    for (int j = 0; j < QK; j++)
        si += lv[j] * b[i].qs[j];
    return (float)si * (d * f16(b[i].d));
}

static inline void gemm_q0(int type, int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,
                           size_t ys)
{
    const int64_t nb = n / QK;
    const __m512i k80 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++)
            acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i wq[4], nc[4];
        __m512 dw[4];
        for (int r = 0; r < 4; r++) {
            const void *row = (const uint8_t *)w + (size_t)r * ws;
            float d0, d1;
            __m256i l0 = q0_levels(type, row, i, &d0), l1 = q0_levels(type, row, i + 1, &d1);
            wq[r] = _mm512_inserti64x4(_mm512_castsi256_si512(l0), l1, 1);
            nc[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wq[r]));
            dw[r] = scale2(d0, d1);
        }
        for (int t = 0; t < 4; t++) {
            const struct blk_q8_0 *b = (const struct blk_q8_0 *)((const uint8_t *)a + (size_t)t * as);
            __m512i au = _mm512_xor_si512(load2x32(b[i].qs, b[i + 1].qs), k80);
            __m512 da = scale2(f16(b[i].d), f16(b[i + 1].d));
            for (int r = 0; r < 4; r++) {
                __m512i p = _mm512_dpbusd_epi32(nc[r], au, wq[r]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        const void *row = (const uint8_t *)w + (size_t)r * ws;
        for (int t = 0; t < 4; t++) {
            const struct blk_q8_0 *b = (const struct blk_q8_0 *)((const uint8_t *)a + (size_t)t * as);
            float s = _mm512_reduce_add_ps(acc[r][t]);
            for (int64_t k = i; k < nb; k++)
                s += q0_tail(type, row, b, k);
            y[(size_t)t * ys + (size_t)r] = s;
        }
    }
}

/* Q8_0 / Q4_0 / Q5_0 tiles: the activation is made unsigned (a + 128, by flipping the sign bit) so
 * vpdpbusd can take the signed weight levels directly; the extra 128 * sum(w) is cancelled by
 * starting each dot from -128 * sum(w), computed once per weight block and shared by the 4 tokens.
 * Each weight block and each activation block is decoded once per tile. */
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

/* The products d_w * d_a of blocks i and i + 1 (weights of `wstride` bytes, activations Q8_0), as
 * (low 256 bits: block i, high: block i + 1): the four halves converted in one instruction. Each
 * product is the same single float multiply scale2(d0 * da0, d1 * da1) does. */
static inline __m512 q0_scale2(const uint8_t *wd, size_t wstride, const struct blk_q8_0 *y)
{
    __m128i h = _mm_cvtsi32_si128(*(const uint16_t *)(const void *)wd);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(wd + wstride), 1);
    h = _mm_insert_epi16(h, y[0].d, 2);
    h = _mm_insert_epi16(h, y[1].d, 3);
    const __m128 f = _mm_cvtph_ps(h);                           /* dw0 dw1 da0 da1 */
    const __m128 pr = _mm_mul_ps(f, _mm_movehl_ps(f, f));        /* dw0*da0 dw1*da1 */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(pr));
}

/* The unsigned levels (nibble + 16 * fifth bit) of Q5_0 blocks x[0] and x[1], low 256 bits block 0:
 * [qs0 qs0 qs1 qs1] by two broadcast loads and an insert, the odd 128-bit lanes shifted by 4 (the
 * 64 nibbles in value order in one shift and one and), then one masked add from the two blocks' qh
 * as a 64-bit mask. */
static inline __m512i q5_0_levels2(const struct blk_q5_0 *x, __m512i nibshift, __m512i m4, __m512i sixteen)
{
    uint32_t h0, h1;
    memcpy(&h0, x[0].qh, 4);
    memcpy(&h1, x[1].qh, 4);
    __m512i u = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[0].qs))),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[1].qs)), 1);
    u = _mm512_and_si512(_mm512_srlv_epi16(u, nibshift), m4);
    return _mm512_mask_add_epi8(u, _cvtu64_mask64((uint64_t)h0 | (uint64_t)h1 << 32), u, sixteen);
}

/* Q5_0, one row: unsigned levels (nibble + 16 * fifth bit, set by one masked add from the two
 * blocks' qh as a 64-bit mask) times the activations by vpdpbusd, the -16 offset taken out by a
 * second vpdpbusd of the constant 16. Same lanes and float operations as the Q5_0 tile
 * (gemm_q0), so batches stay bit-identical to token-by-token generation. */
static float dot_q5_0(int64_t n, const void *w, const void *a)
{
    const struct blk_q5_0 *x = w;
    const struct blk_q8_0 *y = a;
    int64_t nb = n / QK, i = 0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i sixteen = _mm512_set1_epi8(16), zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0xF);
    const __m512i nibshift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0,
                                               0x0004000400040004, 0x0004000400040004);
    for (; i + 2 <= nb; i += 2) {
        const __m512i u = q5_0_levels2(&x[i], nibshift, m4, sixteen);
        const __m512i ya = load2x32(y[i].qs, y[i + 1].qs);
        const __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, u, ya), _mm512_dpbusd_epi32(zero, sixteen, ya));
        acc = _mm512_fmadd_ps(q0_scale2((const uint8_t *)&x[i].d, sizeof(struct blk_q5_0), &y[i]),
                              _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++)
        r += q0_tail(GGML_TYPE_Q5_0, w, y, i);
    return r;
}

/* Generation's Q5_0 rows (kern_vec_dot_rows_fn): what dot_q5_0 computes from the activation alone
 * is done once per call for all rows (on the stack, rows up to Q8_ROWS_MAXP block pairs; longer
 * rows use dot_q5_0): the block pairs' 64 bytes, the -16 offset's vpdpbusd (the start value of
 * each row's vpdpbusd: the same exact int32 lanes as dot_q5_0's difference) and the activation
 * deltas as floats. Per row and pair: the levels as in dot_q5_0, one vpdpbusd, the delta products
 * dw * da (the same single multiply), one fma. Bit for bit dot_q5_0, tail included. */
static void dot_rows_q5_0(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, float *y)
{
    const struct blk_q8_0 *ya = a;
    int64_t nb = n / QK, np = nb / 2;
    if (np > Q8_ROWS_MAXP) {
        rows_by_dot(dot_q5_0, n, w, ws, n_rows, a, y);
        return;
    }
    const __m512i sixteen = _mm512_set1_epi8(16), m4 = _mm512_set1_epi8(0xF);
    const __m512i nibshift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0,
                                               0x0004000400040004, 0x0004000400040004);
    const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512i yq[Q8_ROWS_MAXP], corr[Q8_ROWS_MAXP];
    __m128 da[Q8_ROWS_MAXP];
    for (int64_t p = 0; p < np; p++) {
        yq[p] = load2x32(ya[2 * p].qs, ya[2 * p + 1].qs);
        corr[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), sixteen, yq[p]));
        da[p] = _mm_setr_ps(f16(ya[2 * p].d), f16(ya[2 * p + 1].d), 0.0f, 0.0f);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const struct blk_q5_0 *x = (const struct blk_q5_0 *)((const uint8_t *)w + (size_t)r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t p = 0; p < np; p++) {
            int64_t i = 2 * p;
            pf_lines(&x[i], 1); /* 44 bytes a step */
            const __m512i u = q5_0_levels2(&x[i], nibshift, m4, sixteen);
            const __m512i q = _mm512_dpbusd_epi32(corr[p], u, yq[p]);
            __m128i h = _mm_cvtsi32_si128(x[i].d);
            h = _mm_insert_epi16(h, x[i + 1].d, 1);
            const __m128 pr = _mm_mul_ps(_mm_cvtph_ps(h), da[p]); /* dw0*da0 dw1*da1 */
            acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(pr)), _mm512_cvtepi32_ps(q),
                                  acc);
        }
        float s = _mm512_reduce_add_ps(acc);
        for (int64_t i = 2 * np; i < nb; i++)
            s += q0_tail(GGML_TYPE_Q5_0, x, ya, i);
        y[r] = s;
    }
}

/* ---- MXFP4 (vec_dot, rows) --------------------------------------------------------------------------
 * The levels are made unsigned (level + 12, 0..24) by the table itself, so vpdpbusd takes them
 * against the signed activation and a second vpdpbusd of the constant 12 takes the offset out,
 * as Q5_0 does with 16. Two blocks per 512-bit register; the scale products d_w * d_a are the same
 * single multiplies as the tile's (gemm_q0 with q0_levels), so tiles, rows and this dot agree bit
 * for bit. */
static inline __m512i mxfp4_ulevels2(const struct blk_mxfp4 *x, __m512i nibshift, __m512i m4, __m512i tab)
{
    __m512i u = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[0].qs))),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[1].qs)), 1);
    return _mm512_shuffle_epi8(tab, _mm512_and_si512(_mm512_srlv_epi16(u, nibshift), m4));
}

/* The unsigned level table (twice the E2M1 values, plus 12) in every 128-bit lane. */
static inline __m512i mxfp4_utab(void)
{
    return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

/* dw0 * da0 in the low 256 bits, dw1 * da1 in the high (da: the pair's activation deltas in lanes
 * 0 and 1): the same single multiplies as the tile's scale2(dw0, dw1) * scale2(da0, da1). */
static inline __m512 mxfp4_scale2_tab(const struct blk_mxfp4 *x, __m128 da)
{
    __m128i bits = _mm_insert_epi32(_mm_cvtsi32_si128((int)e8m0_half_bits[x[0].e]), (int)e8m0_half_bits[x[1].e], 1);
    const __m128 pr = _mm_mul_ps(_mm_castsi128_ps(bits), da);
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(pr));
}

static float dot_mxfp4(int64_t n, const void *w, const void *a)
{
    const struct blk_mxfp4 *x = w;
    const struct blk_q8_0 *y = a;
    int64_t nb = n / QK, i = 0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i twelve = _mm512_set1_epi8(12), zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0xF);
    const __m512i nibshift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0,
                                               0x0004000400040004, 0x0004000400040004);
    const __m512i tab = mxfp4_utab();
    for (; i + 2 <= nb; i += 2) {
        const __m512i u = mxfp4_ulevels2(&x[i], nibshift, m4, tab);
        const __m512i ya = load2x32(y[i].qs, y[i + 1].qs);
        const __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, u, ya), _mm512_dpbusd_epi32(zero, twelve, ya));
        const __m128 da = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(y[i].d), y[i + 1].d, 1));
        acc = _mm512_fmadd_ps(mxfp4_scale2_tab(&x[i], da), _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++)
        r += q0_tail(GGML_TYPE_MXFP4, w, y, i);
    return r;
}

/* Generation's MXFP4 rows: dot_mxfp4 with the activation's part (its pairs, the offset's vpdpbusd
 * as each row's start value: the same exact int32 lanes) done once per call. Bit for bit
 * dot_mxfp4, tail included. */
static void dot_rows_mxfp4(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, float *y)
{
    const struct blk_q8_0 *ya = a;
    int64_t nb = n / QK, np = nb / 2;
    if (np > Q8_ROWS_MAXP) {
        rows_by_dot(dot_mxfp4, n, w, ws, n_rows, a, y);
        return;
    }
    const __m512i twelve = _mm512_set1_epi8(12), m4 = _mm512_set1_epi8(0xF);
    const __m512i nibshift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0,
                                               0x0004000400040004, 0x0004000400040004);
    const __m512i tab = mxfp4_utab();
    __m512i yq[Q8_ROWS_MAXP], corr[Q8_ROWS_MAXP];
    __m128 da[Q8_ROWS_MAXP];
    for (int64_t p = 0; p < np; p++) {
        yq[p] = load2x32(ya[2 * p].qs, ya[2 * p + 1].qs);
        corr[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), twelve, yq[p]));
        da[p] = _mm_setr_ps(f16(ya[2 * p].d), f16(ya[2 * p + 1].d), 0.0f, 0.0f);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const struct blk_mxfp4 *x = (const struct blk_mxfp4 *)((const uint8_t *)w + (size_t)r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t p = 0; p < np; p++) {
            pf_lines(&x[2 * p], 1); /* 34 bytes a step */
            const __m512i q = _mm512_dpbusd_epi32(corr[p], mxfp4_ulevels2(&x[2 * p], nibshift, m4, tab), yq[p]);
            acc = _mm512_fmadd_ps(mxfp4_scale2_tab(&x[2 * p], da[p]), _mm512_cvtepi32_ps(q), acc);
        }
        float s = _mm512_reduce_add_ps(acc);
        for (int64_t i = 2 * np; i < nb; i++)
            s += q0_tail(GGML_TYPE_MXFP4, x, ya, i);
        y[r] = s;
    }
}

/* Q4_K, one weight row against 4 tokens: the row's super-blocks are decoded once and reused for
 * the 4 activations, with exactly dot_q4_k's arithmetic per token. */
static void row4_q4_k(int64_t n, const struct blk_q4_k *x, const uint8_t *a, size_t as, float *y, size_t ys)
{
    __m256 acc[4], accm[4];
    for (int t = 0; t < 4; t++)
        acc[t] = accm[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        struct q4k_dec d;
        q4k_decode(&x[i], &d);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            q4k_block_dot(&d, (const struct blk_q8_k *)(a + (size_t)t * as) + i, &acc[t], &accm[t]);
    }
    for (int t = 0; t < 4; t++)
        y[(size_t)t * ys] = q4k_finish(acc[t], accm[t]);
}

static void gemm_q4_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < 4; r++)
        row4_q4_k(n, (const struct blk_q4_k *)((const uint8_t *)w + (size_t)r * ws), a, as, y + r, ys);
}

static void gemm_q6_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < 4; r++)
        row4_q6_k(n, (const struct blk_q6_k *)((const uint8_t *)w + (size_t)r * ws), a, as, y + r, ys, 4);
}

/* Q5_K: Q4_K's nibbles plus a fifth bit from qh (bit 2j for sub-block 2j, 2j+1 for 2j+1). */
static inline __m512i q5k_group(const struct blk_q5_k *x, int j, __m256i qh)
{
    const __m256i lo4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m256i b = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
    __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4);
    __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_or_si256(_mm256_and_si256(b, lo4), h0)),
                              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), lo4), h1), 1);
}

static void row4_q5_k(int64_t n, const struct blk_q5_k *x, const uint8_t *a, size_t as, float *y, size_t ys,
                      int nt)
{
    __m512 acc[4];
    float msum[4] = {0, 0, 0, 0};
    for (int t = 0; t < 4; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];
        k4_scales(x[i].scales, sm);
        __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m512i q[4], sc16[4];
        k4_scale_vecs(sm, sc16);
        for (int j = 0; j < 4; j++)
            q[j] = q5k_group(&x[i], j, qh);
        float d = f16(x[i].d), dmin = f16(x[i].dmin);
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_k *b = (const struct blk_q8_k *)(a + (size_t)t * as) + i;
            __m512i si = _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                /* levels <= 31: pairs of products fit int16 */
                __m512i p16 = _mm512_maddubs_epi16(q[j], _mm512_loadu_si512((const void *)(b->qs + 64 * j)));
                si = _mm512_dpwssd_epi32(si, p16, sc16[j]);
            }
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * b->d), _mm512_cvtepi32_ps(si), acc[t]);
            msum[t] += dmin * b->d * (float)k4_mins_dot(sm, b->bsums);
        }
    }
    for (int t = 0; t < nt; t++)
        y[(size_t)t * ys] = _mm512_reduce_add_ps(acc[t]) - msum[t];
}

static float dot_q5_k(int64_t n, const void *w, const void *a)
{
    float y;
    row4_q5_k(n, w, a, 0, &y, 0, 1);
    return y;
}

static void gemm_q5_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < 4; r++)
        row4_q5_k(n, (const struct blk_q5_k *)((const uint8_t *)w + (size_t)r * ws), a, as, y + r, ys, 4);
}

/* ---- Q8_0 (Q4_0, Q5_0) panel: 32 rows x any number of tokens ----------------------------------------------------
 * Along n, slabs of PANEL_SLAB blocks: the 32 weight rows of the slab are rearranged on the stack so
 * that vector (block b, group k, half h) holds bytes 4k..4k+3 of block b of rows 16h..16h+15, one
 * row per int32 lane; with each row's delta and -128 * (sum of its levels) per block. Then for every
 * token the activation block is made unsigned (a + 128, sign bit flipped) and each 4-byte group is
 * broadcast into a vpdpbusd against the signed weights: 8 vpdpbusd give 16 complete block dots, the
 * -128 * sum(w) start value cancels the +128, and one convert + fma per 16 rows applies the deltas.
 * y is written on the first slab and accumulated on the following ones. */
#define PANEL_SLAB 32

struct panel_slab {
    __m512i q[PANEL_SLAB][8][2];   /* [block][group][half] */
    __m512i corr[PANEL_SLAB][2];   /* -128 * sum of the block's levels, per row */
    __m512 d[PANEL_SLAB][2];       /* weight deltas, per row */
};

static inline __attribute__((always_inline)) void panel_pack(int type, struct panel_slab *ps, const uint8_t *w,
                                                             size_t ws, int64_t b0, int nbs)
{
    const __m512i k80 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int b = 0; b < nbs; b++) {
        for (int h = 0; h < 2; h++) {
            uint32_t g[8][16];
            float d[16];
            for (int r = 0; r < 16; r++) {
                uint32_t v[8];
                _mm256_storeu_si256((__m256i *)v, q0_levels(type, w + (size_t)(16 * h + r) * ws, b0 + b, &d[r]));
                for (int k = 0; k < 8; k++)
                    g[k][r] = v[k];
            }
            __m512i c = zero;
            for (int k = 0; k < 8; k++) {
                ps->q[b][k][h] = _mm512_loadu_si512(g[k]);
                c = _mm512_dpbusd_epi32(c, k80, ps->q[b][k][h]);
            }
            ps->corr[b][h] = _mm512_sub_epi32(zero, c);
            ps->d[b][h] = _mm512_loadu_ps(d);
        }
    }
}

static inline __attribute__((always_inline)) void gemm_panel_q0(int type, int64_t n, const void *w, size_t ws,
                                                                const void *a, size_t as, int64_t n_tok, float *y,
                                                                size_t ys)
{
    const int64_t nb = n / QK;
    const __m256i k80 = _mm256_set1_epi8((char)0x80);
    struct panel_slab ps;
    for (int64_t b0 = 0; b0 < nb; b0 += PANEL_SLAB) {
        int nbs = nb - b0 < PANEL_SLAB ? (int)(nb - b0) : PANEL_SLAB;
        panel_pack(type, &ps, w, ws, b0, nbs);
        for (int64_t t = 0; t < n_tok; t++) {
            const struct blk_q8_0 *x = (const struct blk_q8_0 *)((const uint8_t *)a + (size_t)t * as) + b0;
            uint32_t au[PANEL_SLAB][8];
            float da[PANEL_SLAB];
            for (int b = 0; b < nbs; b++) {
                __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[b].qs), k80);
                _mm256_storeu_si256((__m256i *)au[b], v);
                da[b] = f16(x[b].d);
            }
            __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
            for (int b = 0; b < nbs; b++) {
                __m512i p0 = ps.corr[b][0], p1 = ps.corr[b][1];
                __m512i q0 = _mm512_setzero_si512(), q1 = q0;
                for (int k = 0; k < 4; k++) {
                    __m512i u0 = _mm512_set1_epi32((int)au[b][k]), u1 = _mm512_set1_epi32((int)au[b][k + 4]);
                    p0 = _mm512_dpbusd_epi32(p0, u0, ps.q[b][k][0]);
                    p1 = _mm512_dpbusd_epi32(p1, u0, ps.q[b][k][1]);
                    q0 = _mm512_dpbusd_epi32(q0, u1, ps.q[b][k + 4][0]);
                    q1 = _mm512_dpbusd_epi32(q1, u1, ps.q[b][k + 4][1]);
                }
                __m512 s = _mm512_set1_ps(da[b]);
                acc0 = _mm512_fmadd_ps(_mm512_mul_ps(ps.d[b][0], s), _mm512_cvtepi32_ps(_mm512_add_epi32(p0, q0)), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_mul_ps(ps.d[b][1], s), _mm512_cvtepi32_ps(_mm512_add_epi32(p1, q1)), acc1);
            }
            float *yt = y + (size_t)t * ys;
            if (b0 > 0) {
                acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(yt));
                acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(yt + 16));
            }
            _mm512_storeu_ps(yt, acc0);
            _mm512_storeu_ps(yt + 16, acc1);
        }
    }
}

/* The Q4_0 and Q5_0 panels are the Q8_0 one with the levels decoded at packing time (Q5_0 carries
 * the down-projections of DeepSeek-V2-Lite's experts, whose 1408 columns are no K-quant size). */
static void gemm_panel_q8_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    gemm_panel_q0(GGML_TYPE_Q8_0, n, w, ws, a, as, n_tok, y, ys);
}

static void gemm_panel_q4_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    gemm_panel_q0(GGML_TYPE_Q4_0, n, w, ws, a, as, n_tok, y, ys);
}

static void gemm_panel_q5_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    gemm_panel_q0(GGML_TYPE_Q5_0, n, w, ws, a, as, n_tok, y, ys);
}

static void gemm_panel_mxfp4(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                             size_t ys)
{
    gemm_panel_q0(GGML_TYPE_MXFP4, n, w, ws, a, as, n_tok, y, ys);
}

/* ---- Q4_K panel: 32 rows x any number of tokens ----------------------------------------------------
 * Along n, slabs of Q4K_SLAB super-blocks. The 32 weight rows of a slab are decoded once into
 * levels (0..15, one byte each) and rearranged on the stack so that vector (super-block b, half h,
 * sub-block s, group k) holds values 32s + 4k .. 32s + 4k + 3 of rows 16h .. 16h + 15, one row per
 * int32 lane; beside them each row's sub-block scales (int32), its mins as int16 pairs and its d
 * and dmin. For every token the activation's 4-byte groups are broadcast into vpdpbusd against the
 * unsigned levels (8 per sub-block give 16 complete sub-block dots), an int32 multiply applies the
 * scales, and vpdpwssd of the min pairs with the activation's sub-block sums gives the min term;
 * one convert + fma per 16 rows and super-block applies d * d_act (and dmin * d_act). Tokens go in
 * pairs so each weight vector loaded serves two tokens. y is written on the first slab and
 * accumulated on the following ones. */
#define Q4K_SLAB 2

struct q4k_slab {
    __m512i q[Q4K_SLAB][2][8][8]; /* [super-block][half][sub-block][group] */
    __m512i sc[Q4K_SLAB][2][8];   /* sub-block scales, per row */
    __m512i mn[Q4K_SLAB][2][4];   /* (min 2k, min 2k+1) as int16 pairs, per row */
    __m512 d[Q4K_SLAB][2], dmin[Q4K_SLAB][2];
};

/* Levels of rows r and r + 8 (low / high 256 bits), group j: sub-blocks 2j (lo) and 2j + 1 (hi). */
static inline void q4k_pack_pair(const struct blk_q4_k *x0, const struct blk_q4_k *x8, int j, __m512i *lo, __m512i *hi)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x0->qs + 32 * j))),
                                         _mm256_loadu_si256((const __m256i *)(x8->qs + 32 * j)), 1);
    *lo = _mm512_and_si512(q, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
}

/* In-register transpose of v[i] = (sub-block s of row i | of row i + 8), i < 8, 8 dwords each, into
 * out[k] = dword k of rows 0..15 (lane r = row r). Two unpack stages transpose 4x4 blocks inside
 * each 128-bit lane; a two-source qword permute joins rows 0-3 with rows 4-7. */
static inline void q4k_transpose(const __m512i v[8], __m512i out[8])
{
    __m512i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);     /* dwords 0 | 4 of rows i..i+3 */
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]); /* 1 | 5 */
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]); /* 2 | 6 */
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]); /* 3 | 7 */
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int k = 0; k < 4; k++) {
        out[k] = _mm512_permutex2var_epi64(u[k], lo, u[k + 4]);
        out[k + 4] = _mm512_permutex2var_epi64(u[k], hi, u[k + 4]);
    }
}

static void q4k_pack(struct q4k_slab *ps, const uint8_t *w, size_t ws, int64_t b0, int nbs)
{
    for (int b = 0; b < nbs; b++) {
        for (int h = 0; h < 2; h++) {
            const struct blk_q4_k *x[16];
            for (int r = 0; r < 16; r++)
                x[r] = (const struct blk_q4_k *)(w + (size_t)(16 * h + r) * ws) + b0 + b;
            for (int j = 0; j < 4; j++) {
                __m512i lo[8], hi[8];
                for (int r = 0; r < 8; r++)
                    q4k_pack_pair(x[r], x[r + 8], j, &lo[r], &hi[r]);
                q4k_transpose(lo, ps->q[b][h][2 * j]);
                q4k_transpose(hi, ps->q[b][h][2 * j + 1]);
            }
            int32_t sc[8][16], mn[4][16];
            float d[16], dmin[16];
            for (int r = 0; r < 16; r++) {
                uint8_t sm[16];
                _mm_storeu_si128((__m128i *)sm, k4_scales_v(x[r]->scales));
                for (int s = 0; s < 8; s++)
                    sc[s][r] = sm[s];
                for (int k = 0; k < 4; k++)
                    mn[k][r] = (int32_t)((uint32_t)sm[8 + 2 * k] | (uint32_t)sm[9 + 2 * k] << 16);
                d[r] = f16(x[r]->d);
                dmin[r] = f16(x[r]->dmin);
            }
            for (int s = 0; s < 8; s++)
                ps->sc[b][h][s] = _mm512_loadu_si512(sc[s]);
            for (int k = 0; k < 4; k++)
                ps->mn[b][h][k] = _mm512_loadu_si512(mn[k]);
            ps->d[b][h] = _mm512_loadu_ps(d);
            ps->dmin[b][h] = _mm512_loadu_ps(dmin);
        }
    }
}

/* The activation's sub-block sums (pairs of its 16 bsums) as int16 pairs (sum 2k, sum 2k+1). */
static inline void q4k_act_sums(const struct blk_q8_k *a, int32_t out[4])
{
    for (int k = 0; k < 4; k++) {
        int32_t s0 = a->bsums[4 * k] + a->bsums[4 * k + 1], s1 = a->bsums[4 * k + 2] + a->bsums[4 * k + 3];
        out[k] = (int32_t)(((uint32_t)s0 & 0xffff) | (uint32_t)s1 << 16);
    }
}

/* nt = 1 or 2 tokens (a0, a1: their blocks of this slab) against the packed slab; the 16-row
 * float results of each token and half are added to acc[t][h]. */
static inline __attribute__((always_inline)) void q4k_panel_tokens(const struct q4k_slab *ps, int nbs,
                                                                   const struct blk_q8_k *a0,
                                                                   const struct blk_q8_k *a1, int nt,
                                                                   __m512 acc[2][2])
{
    for (int b = 0; b < nbs; b++) {
        int32_t ms0[4], ms1[4];
        q4k_act_sums(&a0[b], ms0);
        if (nt == 2)
            q4k_act_sums(&a1[b], ms1);
        const int32_t *u0 = (const int32_t *)a0[b].qs, *u1 = (const int32_t *)a1[b].qs;
        __m512i si[2][2], mi[2][2];
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 2; t++)
                si[t][h] = mi[t][h] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            __m512i p[2][2];
            for (int h = 0; h < 2; h++)
                p[0][h] = p[1][h] = _mm512_setzero_si512();
            for (int k = 0; k < 8; k++) {
                __m512i b0v = _mm512_set1_epi32(u0[8 * s + k]);
                __m512i b1v = nt == 2 ? _mm512_set1_epi32(u1[8 * s + k]) : b0v;
                for (int h = 0; h < 2; h++) {
                    __m512i wv = ps->q[b][h][s][k];
                    p[0][h] = _mm512_dpbusd_epi32(p[0][h], wv, b0v);
                    if (nt == 2)
                        p[1][h] = _mm512_dpbusd_epi32(p[1][h], wv, b1v);
                }
            }
            for (int h = 0; h < 2; h++) {
                si[0][h] = _mm512_add_epi32(si[0][h], _mm512_mullo_epi32(p[0][h], ps->sc[b][h][s]));
                if (nt == 2)
                    si[1][h] = _mm512_add_epi32(si[1][h], _mm512_mullo_epi32(p[1][h], ps->sc[b][h][s]));
            }
        }
        for (int k = 0; k < 4; k++) {
            __m512i c0 = _mm512_set1_epi32(ms0[k]), c1 = nt == 2 ? _mm512_set1_epi32(ms1[k]) : c0;
            for (int h = 0; h < 2; h++) {
                mi[0][h] = _mm512_dpwssd_epi32(mi[0][h], ps->mn[b][h][k], c0);
                if (nt == 2)
                    mi[1][h] = _mm512_dpwssd_epi32(mi[1][h], ps->mn[b][h][k], c1);
            }
        }
        for (int t = 0; t < nt; t++) {
            __m512 da = _mm512_set1_ps(t == 0 ? a0[b].d : a1[b].d);
            for (int h = 0; h < 2; h++) {
                acc[t][h] = _mm512_fmadd_ps(_mm512_mul_ps(ps->d[b][h], da), _mm512_cvtepi32_ps(si[t][h]), acc[t][h]);
                acc[t][h] = _mm512_fnmadd_ps(_mm512_mul_ps(ps->dmin[b][h], da), _mm512_cvtepi32_ps(mi[t][h]), acc[t][h]);
            }
        }
    }
}

static inline void q4k_panel_store(float *yt, __m512 acc[2], bool first)
{
    if (!first) {
        acc[0] = _mm512_add_ps(acc[0], _mm512_loadu_ps(yt));
        acc[1] = _mm512_add_ps(acc[1], _mm512_loadu_ps(yt + 16));
    }
    _mm512_storeu_ps(yt, acc[0]);
    _mm512_storeu_ps(yt + 16, acc[1]);
}

static void gemm_panel_q4_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    const int64_t nb = n / QK_K;
    struct q4k_slab ps;
    for (int64_t b0 = 0; b0 < nb; b0 += Q4K_SLAB) {
        int nbs = nb - b0 < Q4K_SLAB ? (int)(nb - b0) : Q4K_SLAB;
        q4k_pack(&ps, w, ws, b0, nbs);
        int64_t t = 0;
        for (; t + 2 <= n_tok; t += 2) {
            const struct blk_q8_k *x0 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b0;
            const struct blk_q8_k *x1 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)(t + 1) * as) + b0;
            __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
            q4k_panel_tokens(&ps, nbs, x0, x1, 2, acc);
            q4k_panel_store(y + (size_t)t * ys, acc[0], b0 == 0);
            q4k_panel_store(y + (size_t)(t + 1) * ys, acc[1], b0 == 0);
        }
        if (t < n_tok) {
            const struct blk_q8_k *x0 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b0;
            __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
            q4k_panel_tokens(&ps, nbs, x0, x0, 1, acc);
            q4k_panel_store(y + (size_t)t * ys, acc[0], b0 == 0);
        }
    }
}

/* ---- Q6_K panel: 32 rows x any number of tokens ----------------------------------------------------
 * The Q4_K panel's scheme for Q6_K: slabs of Q6K_SLAB super-blocks; levels (q + 32, 0..63, one
 * byte each) rearranged so that vector (super-block b, half h, chunk c, group k) holds values
 * 32c + 4k .. +3 of rows 16h .. 16h + 15; a chunk spans sub-blocks 2c (groups 0..3) and 2c + 1
 * (groups 4..7) of 16 values, each with a signed int32 scale per row. Per token: vpdpbusd of the
 * levels with broadcast activation groups, an int32 multiply by the scales, and the +32 level bias
 * taken out as 32 * sum_j scale_j * bsum_j (vpdpwssd of scale pairs with the activation's block
 * sums); one convert + fma per 16 rows and super-block applies d * d_act. */
#define Q6K_SLAB 2

struct q6k_slab {
    __m512i q[Q6K_SLAB][2][8][8]; /* [super-block][half][chunk][group] */
    __m512i sc[Q6K_SLAB][2][16];  /* sub-block scales, per row */
    __m512i sp[Q6K_SLAB][2][8];   /* (scale 2k, scale 2k+1) as int16 pairs, per row */
    __m512 d[Q6K_SLAB][2];
};

static void q6k_pack(struct q6k_slab *ps, const uint8_t *w, size_t ws, int64_t b0, int nbs)
{
    for (int b = 0; b < nbs; b++) {
        for (int h = 0; h < 2; h++) {
            const struct blk_q6_k *x[16];
            for (int r = 0; r < 16; r++)
                x[r] = (const struct blk_q6_k *)(w + (size_t)(16 * h + r) * ws) + b0 + b;
            for (int r = 0; r < 16; r++)
                _mm_prefetch((const char *)x[r] + 128, _MM_HINT_T0);
            __m512i lv[16][4]; /* per row, the 4 x 64 levels in value order */
            for (int r = 0; r < 16; r++)
                q6k_levels(x[r], lv[r]);
            for (int v = 0; v < 4; v++) {
                __m512i lo[8], hi[8];
                for (int r = 0; r < 8; r++) {
                    lo[r] = _mm512_shuffle_i64x2(lv[r][v], lv[r + 8][v], 0x44);  /* values 64v + 0..31 */
                    hi[r] = _mm512_shuffle_i64x2(lv[r][v], lv[r + 8][v], 0xEE);  /* values 64v + 32..63 */
                }
                q4k_transpose(lo, ps->q[b][h][2 * v]);
                q4k_transpose(hi, ps->q[b][h][2 * v + 1]);
            }
            int32_t sc[16][16], sp[8][16];
            float d[16];
            for (int r = 0; r < 16; r++) {
                for (int j = 0; j < 16; j++)
                    sc[j][r] = x[r]->scales[j];
                for (int k = 0; k < 8; k++)
                    sp[k][r] = (int32_t)(((uint32_t)(uint8_t)x[r]->scales[2 * k]) |
                                         ((uint32_t)(uint8_t)x[r]->scales[2 * k + 1] << 16));
                d[r] = f16(x[r]->d);
            }
            /* int16 pairs hold the signed scales: sign-extend each half */
            for (int j = 0; j < 16; j++)
                ps->sc[b][h][j] = _mm512_loadu_si512(sc[j]);
            for (int k = 0; k < 8; k++) {
                __m512i v = _mm512_loadu_si512(sp[k]);
                /* bytes -> int16: (b << 8) >> 8 arithmetic, per 16-bit half */
                ps->sp[b][h][k] = _mm512_srai_epi16(_mm512_slli_epi16(v, 8), 8);
            }
            ps->d[b][h] = _mm512_loadu_ps(d);
        }
    }
}

/* The activation's 16 block sums as int16 pairs (bsum 2k, bsum 2k+1). */
static inline void q6k_act_sums(const struct blk_q8_k *a, int32_t out[8])
{
    memcpy(out, a->bsums, 32);
}

static inline __attribute__((always_inline)) void q6k_panel_tokens(const struct q6k_slab *ps, int nbs,
                                                                   const struct blk_q8_k *a0,
                                                                   const struct blk_q8_k *a1, int nt,
                                                                   __m512 acc[2][2])
{
    for (int b = 0; b < nbs; b++) {
        int32_t bs0[8], bs1[8];
        q6k_act_sums(&a0[b], bs0);
        if (nt == 2)
            q6k_act_sums(&a1[b], bs1);
        const int32_t *u0 = (const int32_t *)(const void *)a0[b].qs, *u1 = (const int32_t *)(const void *)a1[b].qs;
        __m512i si[2][2], oi[2][2];
        #pragma GCC unroll 8
        for (int h = 0; h < 2; h++)
            #pragma GCC unroll 8
            for (int t = 0; t < 2; t++)
                si[t][h] = oi[t][h] = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m512i p[2][2][2]; /* [token][half][sub-block of the chunk] */
            #pragma GCC unroll 8
            for (int t = 0; t < 2; t++)
                #pragma GCC unroll 8
                for (int h = 0; h < 2; h++)
                    p[t][h][0] = p[t][h][1] = _mm512_setzero_si512();
            #pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                __m512i b0v = _mm512_set1_epi32(u0[8 * c + k]);
                __m512i b1v = nt == 2 ? _mm512_set1_epi32(u1[8 * c + k]) : b0v;
                #pragma GCC unroll 8
                for (int h = 0; h < 2; h++) {
                    __m512i wv = ps->q[b][h][c][k];
                    p[0][h][k >> 2] = _mm512_dpbusd_epi32(p[0][h][k >> 2], wv, b0v);
                    if (nt == 2)
                        p[1][h][k >> 2] = _mm512_dpbusd_epi32(p[1][h][k >> 2], wv, b1v);
                }
            }
            #pragma GCC unroll 8
            for (int t = 0; t < nt; t++)
                #pragma GCC unroll 8
                for (int h = 0; h < 2; h++)
                    si[t][h] = _mm512_add_epi32(si[t][h],
                                                _mm512_add_epi32(_mm512_mullo_epi32(p[t][h][0], ps->sc[b][h][2 * c]),
                                                                 _mm512_mullo_epi32(p[t][h][1], ps->sc[b][h][2 * c + 1])));
        }
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m512i c0 = _mm512_set1_epi32(bs0[k]), c1 = nt == 2 ? _mm512_set1_epi32(bs1[k]) : c0;
            #pragma GCC unroll 8
            for (int h = 0; h < 2; h++) {
                oi[0][h] = _mm512_dpwssd_epi32(oi[0][h], ps->sp[b][h][k], c0);
                if (nt == 2)
                    oi[1][h] = _mm512_dpwssd_epi32(oi[1][h], ps->sp[b][h][k], c1);
            }
        }
        #pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            __m512 da = _mm512_set1_ps(t == 0 ? a0[b].d : a1[b].d);
            #pragma GCC unroll 8
            for (int h = 0; h < 2; h++) {
                __m512i tot = _mm512_sub_epi32(si[t][h], _mm512_slli_epi32(oi[t][h], 5));
                acc[t][h] = _mm512_fmadd_ps(_mm512_mul_ps(ps->d[b][h], da), _mm512_cvtepi32_ps(tot), acc[t][h]);
            }
        }
    }
}

static void gemm_panel_q6_k(int64_t n, const void *w, size_t ws, const void *a, size_t as, int64_t n_tok, float *y,
                            size_t ys)
{
    const int64_t nb = n / QK_K;
    struct q6k_slab ps;
    for (int64_t b0 = 0; b0 < nb; b0 += Q6K_SLAB) {
        int nbs = nb - b0 < Q6K_SLAB ? (int)(nb - b0) : Q6K_SLAB;
        q6k_pack(&ps, w, ws, b0, nbs);
        int64_t t = 0;
        for (; t + 2 <= n_tok; t += 2) {
            const struct blk_q8_k *x0 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b0;
            const struct blk_q8_k *x1 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)(t + 1) * as) + b0;
            __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
            q6k_panel_tokens(&ps, nbs, x0, x1, 2, acc);
            q4k_panel_store(y + (size_t)t * ys, acc[0], b0 == 0);
            q4k_panel_store(y + (size_t)(t + 1) * ys, acc[1], b0 == 0);
        }
        if (t < n_tok) {
            const struct blk_q8_k *x0 = (const struct blk_q8_k *)((const uint8_t *)a + (size_t)t * as) + b0;
            __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
            q6k_panel_tokens(&ps, nbs, x0, x0, 1, acc);
            q4k_panel_store(y + (size_t)t * ys, acc[0], b0 == 0);
        }
    }
}

void kern_avx512_fill(struct kern_ops *ops)
{
    ops->vec_dot[GGML_TYPE_F32] = dot_f32;
    ops->vec_dot[GGML_TYPE_F16] = dot_f16;
    ops->vec_dot[GGML_TYPE_Q8_0] = dot_q8_0;
    ops->vec_dot[GGML_TYPE_Q4_0] = dot_q4_0;
    ops->vec_dot[GGML_TYPE_Q4_K] = dot_q4_k;
    ops->vec_dot[GGML_TYPE_Q6_K] = dot_q6_k;
    ops->vec_dot[GGML_TYPE_Q5_0] = dot_q5_0;
    ops->vec_dot[GGML_TYPE_Q5_K] = dot_q5_k;
    ops->gemm[GGML_TYPE_Q8_0] = gemm_q8_0;
    ops->vec_dot_rows[GGML_TYPE_Q8_0] = dot_rows_q8_0;
    ops->rows_dot_mq_f32 = rows_dot_mq_f32;
    ops->rows_dot_mq_f16 = rows_dot_mq_f16;
    ops->rows_wsum_mq_f32 = rows_wsum_mq_f32;
    ops->rows_wsum_mq_f16 = rows_wsum_mq_f16;
    ops->vec_dot_rows[GGML_TYPE_Q4_K] = dot_rows_q4_k;
    ops->vec_dot_rows[GGML_TYPE_Q5_0] = dot_rows_q5_0;
    ops->vec_dot_rows[GGML_TYPE_Q6_K] = dot_rows_q6_k;
    ops->gemm_panel[GGML_TYPE_Q8_0] = gemm_panel_q8_0;
    ops->gemm_panel[GGML_TYPE_Q4_K] = gemm_panel_q4_k;
    ops->gemm_panel[GGML_TYPE_Q6_K] = gemm_panel_q6_k;
    ops->gemm_panel[GGML_TYPE_Q4_0] = gemm_panel_q4_0;
    ops->gemm_panel[GGML_TYPE_Q5_0] = gemm_panel_q5_0;
    ops->gemm[GGML_TYPE_Q4_0] = gemm_q4_0;
    ops->gemm[GGML_TYPE_Q5_0] = gemm_q5_0;
    ops->gemm[GGML_TYPE_Q5_K] = gemm_q5_k;
    ops->gemm[GGML_TYPE_Q4_K] = gemm_q4_k;
    ops->gemm[GGML_TYPE_Q6_K] = gemm_q6_k;
    ops->vec_dot[GGML_TYPE_MXFP4] = dot_mxfp4;
    ops->vec_dot_rows[GGML_TYPE_MXFP4] = dot_rows_mxfp4;
    ops->gemm[GGML_TYPE_MXFP4] = gemm_mxfp4;
    ops->gemm_panel[GGML_TYPE_MXFP4] = gemm_panel_mxfp4;
}
