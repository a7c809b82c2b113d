/* infer/kern.h (internal to infer/): the compute kernels and their dispatch table. The thread pool
 * is infer/pool.h, the matmul driver over it infer/matmul.h.
 *
 * Kernels (infer/kernels/): for every supported weight type a scalar reference in kern_ref.c (the
 * specification: plain loops) and SIMD versions in kern_avx2.c and kern_avx512.c (one file per
 * ISA, compiled with that ISA's flags alone). kern_init() fills the process-wide dispatch table
 * `kern` once, from kb_cpu_detect(), before any thread starts; missing entries fall back to the
 * reference; KBOX_FORCE_SCALAR=1 (or force_scalar) selects the reference everywhere.
 *
 * Dot products follow the reference implementation (llama.cpp/ggml): the activation row is first
 * quantized to the weight type's vec_dot_type (Q8_0 for Q4_0/Q4_1(Q8_1)/Q5_0/Q5_1(Q8_1)/Q8_0/MXFP4, Q8_K
 * for the K-quants, F16 for F16, BF16 for BF16, F32 for F32), then an integer (or float) dot product
 * runs block by block. Kernels never allocate, never start threads and know nothing about models.
 * Tests: tests/infer/test_kernels.c (every kernel against its reference, random lengths/tails). */
#ifndef KB_INFER_KERN_H
#define KB_INFER_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infer/gguf.h"

/* Row functions. n is the number of values (a multiple of the type's block size). */
typedef void (*kern_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*kern_quant_fn)(const float *src, void *dst, int64_t n);
/* Returns sum_i w[i]*a[i] for a weight row w of type T and an activation row a already quantized
 * to T's vec_dot_type. */
typedef float (*kern_vec_dot_fn)(int64_t n, const void *w, const void *a);
/* A KERN_TILE x KERN_TILE block of a matrix product (prompt processing): for r, t < KERN_TILE,
 * y[t * y_stride + r] = vec_dot(n, w + r * w_stride, a + t * a_stride). Weight and activation
 * blocks are each decoded once per tile instead of once per dot. Optional (NULL: vec_dot loops). */
#define KERN_TILE 4
typedef void (*kern_gemm_fn)(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
                             size_t y_stride);
/* Several rows of one matrix against one activation row (generation's matrix-vector products):
 * y[r] = vec_dot(n, w + r * w_stride, a) for r < n_rows, BIT FOR BIT the dispatched vec_dot (each
 * row's sums in the same lanes and order), with rows interleaved so that several weight streams
 * are in flight, the activation block and its scale are loaded once for all of them, and each row
 * has its own accumulator chain. Optional (NULL: kern_dot_rows loops over vec_dot). */
typedef void (*kern_vec_dot_rows_fn)(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *a,
                                     float *y);

/* Optional wide panel (prompt processing with many tokens): for r < KERN_PANEL_ROWS and t < n_tok,
 * y[t * y_stride + r] = vec_dot(n, w + r * w_stride, a + t * a_stride). The kernel rearranges the
 * weight rows (on its stack, slab by slab along n) so that one vector holds the same 4 bytes of
 * every row and each activation group is broadcast once for all rows. NULL where absent. */
#define KERN_PANEL_ROWS 32
typedef void (*kern_gemm_panel_fn)(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride,
                                   int64_t n_tok, float *y, size_t y_stride);

struct kern_ops {
    kern_dequant_fn dequant[GGML_TYPE_COUNT]; /* every supported type */
    kern_quant_fn quant[GGML_TYPE_COUNT];     /* every supported type (activations, synth writer) */
    kern_vec_dot_fn vec_dot[GGML_TYPE_COUNT]; /* weight types */
    int vec_dot_type[GGML_TYPE_COUNT];        /* activation type each weight type pairs with */
    kern_gemm_fn gemm[GGML_TYPE_COUNT];       /* optional tile kernels (NULL where absent) */
    /* Attention helpers (always set): dot of an F32 row with an F16 row, and y += a * h for an F16
     * row h (the weighted sum of cached values). */
    float (*dot_f32_f16)(int64_t n, const float *x, const uint16_t *h);
    void (*axpy_f16)(int64_t n, float a, const uint16_t *h, float *y);
    /* One query against n_rows F32 rows (stride in floats): out[r] = scale * (q . k[r]) over n
     * values, and the weighted sum out[i] = sum_r w[r] * v[r][i] (out overwritten). Attention with
     * an F32 cache (bert) in blocks of rows, instead of a call per position. */
    void (*rows_dot_f32)(int64_t n, const float *q, const float *k, size_t stride, int64_t n_rows, float scale,
                         float *out);
    void (*rows_wsum_f32)(int64_t n, const float *w, const float *v, size_t stride, int64_t n_rows, float *out);
    /* Four queries at once (non-causal attention, bert): out[j * os + r] = scale * (q_j . k[r]) with
     * q_j = q + j * qs, and out[j * os + i] = sum_r w_j[r] * v[r][i] with w_j = w + j * ws. Each
     * cached row is loaded once for the four queries. */
    void (*rows_dot_x4_f32)(int64_t n, const float *q, size_t qs, const float *k, size_t stride, int64_t n_rows,
                            float scale, float *out, size_t os);
    void (*rows_wsum_x4_f32)(int64_t n, const float *w, size_t ws, const float *v, size_t stride, int64_t n_rows,
                             float *out, size_t os);
    /* In place: x[i] = exp(x[i] - max x) * (1 / sum), the sum in double (attention weights). */
    void (*softmax_f32)(int64_t n, float *x);
    /* The same dot for an F16 cache, the query already rounded to F16 (as ggml's K.Q). */
    void (*rows_dot_f16)(int64_t n, const uint16_t *q, const uint16_t *k, size_t stride, int64_t n_rows, float scale,
                         float *out);
    const char *isa;                          /* "ref", "avx2", "avx512" */
    kern_gemm_panel_fn gemm_panel[GGML_TYPE_COUNT]; /* optional panels (NULL where absent) */
    kern_vec_dot_rows_fn vec_dot_rows[GGML_TYPE_COUNT]; /* optional; set only beside its own vec_dot */
    /* nq queries against n_rows rows (always set): out[j * os + r] = scale * (q_j . k[r]) over n
     * values, q_j = q + j * qs, row r at k + r * stride (strides in values). Every (query, row)
     * product is summed in one fixed order whatever nq and n_rows are, so queries grouped into one
     * call give the bits of one call per query: MLA's attention takes a token's heads in groups
     * (each cached row loaded once for all of them), as many as a thread's share, with the same
     * logits at any thread count. F32 rows and queries, or F16 rows and F32 queries that the caller
     * rounded to F16 (each product then equals ggml's F16 x F16 one, and the queries are widened
     * once instead of once per row). */
    void (*rows_dot_mq_f32)(int64_t n, const float *q, size_t qs, int nq, const float *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os);
    void (*rows_dot_mq_f16)(int64_t n, const float *q, size_t qs, int nq, const uint16_t *k, size_t stride,
                            int64_t n_rows, float scale, float *out, size_t os);
    /* nq weight rows over n_rows cached rows (always set): out[j * os + i] = sum over r of
     * w_j[r] * v[r][i], w_j = w + j * ws, row r at v + r * stride (strides in values). Each (j, i)
     * is ONE chain of fused multiply-adds in row order starting from 0, so every ISA, every
     * grouping of the queries and every blocking of the rows gives the same bits. MLA generation's
     * values: a group of heads over the cached latents in place (no transposed copy). */
    void (*rows_wsum_mq_f32)(int64_t n, const float *w, size_t ws, int nq, const float *v, size_t stride,
                             int64_t n_rows, float *out, size_t os);
    void (*rows_wsum_mq_f16)(int64_t n, const float *w, size_t ws, int nq, const uint16_t *v, size_t stride,
                             int64_t n_rows, float *out, size_t os);
};

/* The dispatch table: written once by kern_init(), read-only afterwards (one of the three
 * process-wide objects STYLE.md allows). */
extern struct kern_ops kern;
void kern_init(bool force_scalar);          /* idempotent; honours KBOX_FORCE_SCALAR=1 */
const struct kern_ops *kern_ref_ops(void);  /* the reference table, for tests */

/* y[r] = kern.vec_dot[type](n, w + r * w_stride, a) for r < n_rows, through the row kernel when the
 * type has one (the same bits either way). */
static inline void kern_dot_rows(int type, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                                 const void *a, float *y)
{
    if (kern.vec_dot_rows[type]) {
        kern.vec_dot_rows[type](n, w, w_stride, n_rows, a, y);
    } else {
        kern_vec_dot_fn dot = kern.vec_dot[type];
        for (int64_t r = 0; r < n_rows; r++)
            y[r] = dot(n, (const uint8_t *)w + (size_t)r * w_stride, a);
    }
}

/* fp16/bf16 scalar conversion (exact, round-to-nearest-even). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

#endif
