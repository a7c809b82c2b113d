/* infer/matmul.h (internal to infer/): the matmul driver: quantized weights times F32 activations,
 * split over a pool queue (infer/pool.h) with the kernels of infer/kern.h. Tests:
 * tests/infer/test_kernels.c (matmul against a double-precision loop, 1 and several threads).
 *
 * y[t][r] = sum_k W[r][k] * x[t][k] for a weight matrix W (rows of `w_type`, ne0 = n_in values per
 * row, n_out rows, row stride ggml_row_bytes(w_type, n_in)) and n_tok activation rows x (F32).
 * `xq` is caller-provided scratch of kern_matmul_scratch_bytes(w_type, n_in, n_tok) bytes: the
 * activations are quantized into it once per call (once per batch), then rows are split over the
 * pool's threads; each weight row is read once per batch. No allocation. */
#ifndef KB_INFER_MATMUL_H
#define KB_INFER_MATMUL_H

#include <stdint.h>

#include "infer/kern.h"
#include "infer/pool.h"

size_t kern_matmul_scratch_bytes(int w_type, int64_t n_in, int64_t n_tok);
void kern_matmul(struct kern_pool *pool, int w_type, const void *w, int64_t n_in, int64_t n_out,
                 const float *x, int64_t n_tok, float *y, void *xq);

/* The two halves of kern_matmul, for reusing one quantized input across several weight matrices
 * (e.g. Q, K and V, or gate and up, all read the same normalised x): kern_quantize_rows() writes
 * n_tok rows of `type` (use kern.vec_dot_type[w_type]; for F32 it copies) into xq, of
 * ggml_row_bytes(type, n_in) * n_tok bytes; kern_matmul_pre() then runs the product over rows
 * already in the weight's vec_dot_type. No allocation. */
void kern_quantize_rows(struct kern_pool *pool, int type, const float *x, int64_t n_in, int64_t n_tok,
                        void *xq);
void kern_matmul_pre(struct kern_pool *pool, int w_type, const void *w, int64_t n_in, int64_t n_out,
                     const void *xq, int64_t n_tok, float *y);

#endif
