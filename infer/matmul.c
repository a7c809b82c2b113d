/* infer/matmul.c: y = W x over quantized weights, split across the pool by output rows.
 *
 * Data flow: the n_tok activation rows x (F32, n_tok x n_in) are first quantized to the weight
 * type's vec_dot_type into the caller's scratch xq (n_tok rows of ggml_row_bytes(vdt, n_in)), once
 * per call, i.e. once per batch (split over the pool by tokens when there are several). Then each
 * worker claims chunks of MM_ROW_BLOCK output rows (panels: KERN_PANEL_ROWS) through kern_pool_for
 * (matrix-vector products: runs of items of about MM_MATVEC_ITEM_BYTES through kern_pool_for_span); inside a
 * chunk it loops over all tokens, so each weight row is read from memory once per batch and reused
 * from cache for every token. Where the ISA has a tile
 * kernel (kern.gemm), groups of KERN_TILE tokens x KERN_TILE rows go through it, decoding each
 * weight and activation block once per tile; leftovers, and generation's matrix-vector chunks, go
 * through kern_dot_rows (the type's row kernel where it has one: bit for bit vec_dot).
 * y is (n_tok, n_out) row-major: y[t * n_out + r].
 *
 * No allocation. Threads only through the pool (infer/pool.h). Tests: tests/infer/test_kernels.c (matmul
 * against a double-precision loop over dequantized weights, 1 and several threads). */
#include <string.h>

#include "infer/matmul.h"

#define MM_ROW_BLOCK 16
/* Matrix-vector products go out as items of about MM_MATVEC_ITEM_BYTES of weights, a thread
 * claiming up to MM_MATVEC_BITE of them at once from its own range (kern_pool_for_span). */
#define MM_MATVEC_ITEM_BYTES (128 * 1024)
#define MM_MATVEC_BITE 8
/* With a panel kernel (kern.gemm_panel) and at least MM_PANEL_MIN_TOK tokens, chunks are
 * KERN_PANEL_ROWS rows and go through it whole (its weight rearrangement is paid once per chunk,
 * so it needs enough tokens to pay off: at 16 tokens the Q8_0 panel does 58 GB/s x tokens against
 * the tiles' 35, Q4_K 53 against 38). Kept above the speculative verification batch (1 +
 * INFER_DRAFT_MAX = 9 tokens) and test_ref_forward's 12-token batch: the tiles sum like vec_dot,
 * bit for bit, the panels do not (and on a synthetic model one flipped activation rounding moves
 * the logits by up to 1 %). */
#define MM_PANEL_MIN_TOK 16

struct mm_job {
    kern_vec_dot_fn dot;
    int w_type;
    kern_gemm_fn gemm;  /* NULL: dots only */
    kern_gemm_panel_fn panel; /* NULL: no panels */
    int64_t row_block;  /* rows per chunk */
    kern_quant_fn quant;
    const uint8_t *w;   /* (n_out, w_row_bytes) */
    size_t w_row_bytes;
    const float *x;     /* (n_tok, n_in) */
    uint8_t *xq;        /* (n_tok, xq_row_bytes) */
    size_t xq_row_bytes;
    int64_t n_in, n_out, n_tok;
    float *y;           /* (n_tok, n_out) */
};

static int vec_dot_type(int w_type)
{
    return kern.vec_dot[w_type] ? kern.vec_dot_type[w_type] : GGML_TYPE_F32;
}

size_t kern_matmul_scratch_bytes(int w_type, int64_t n_in, int64_t n_tok)
{
    KB_ASSERT(ggml_type_supported(w_type) && n_tok >= 0);
    if (kern.vec_dot[w_type] == NULL)
        kern_init(false);
    return ggml_row_bytes(kern.vec_dot_type[w_type], n_in) * (size_t)n_tok;
}

static void quant_worker(void *ud, int64_t t, int ith)
{
    (void)ith;
    struct mm_job *j = ud;
    j->quant(j->x + t * j->n_in, j->xq + (size_t)t * j->xq_row_bytes, j->n_in);
}

/* Chunk c = output rows [c * row_block, +row_block) for every token. */
static void mm_worker(void *ud, int64_t c, int ith)
{
    (void)ith;
    const struct mm_job *j = ud;
    {
        int64_t rb = c * j->row_block;
        int64_t re = rb + j->row_block < j->n_out ? rb + j->row_block : j->n_out;
        int64_t t0 = 0;
        if (j->panel && re - rb == KERN_PANEL_ROWS) {
            j->panel(j->n_in, j->w + (size_t)rb * j->w_row_bytes, j->w_row_bytes, j->xq, j->xq_row_bytes, j->n_tok,
                     j->y + rb, (size_t)j->n_out);
            return;
        }
        if (j->gemm) {
            for (; t0 + KERN_TILE <= j->n_tok; t0 += KERN_TILE) {
                const uint8_t *a = j->xq + (size_t)t0 * j->xq_row_bytes;
                float *yt = j->y + t0 * j->n_out;
                int64_t r = rb;
                for (; r + KERN_TILE <= re; r += KERN_TILE)
                    j->gemm(j->n_in, j->w + (size_t)r * j->w_row_bytes, j->w_row_bytes, a, j->xq_row_bytes, yt + r,
                            (size_t)j->n_out);
                for (; r < re; r++)
                    for (int t = 0; t < KERN_TILE; t++)
                        yt[t * j->n_out + r] = j->dot(j->n_in, j->w + (size_t)r * j->w_row_bytes,
                                                      a + (size_t)t * j->xq_row_bytes);
            }
        }
        for (int64_t t = t0; t < j->n_tok; t++) /* tokens past the last tile: several rows in flight */
            kern_dot_rows(j->w_type, j->n_in, j->w + (size_t)rb * j->w_row_bytes, j->w_row_bytes, re - rb,
                          j->xq + (size_t)t * j->xq_row_bytes, j->y + t * j->n_out + rb);
    }
}

/* Matrix-vector products (n_tok < KERN_TILE: no tiles, no panels): items [c0, c1) are one run of
 * rows. One token reads them in one row-kernel call, as one stream; a few tokens (a small expert
 * batch in a prompt, a draft's verification) go item by item, every token over an item's rows
 * while they are in cache, so the weights still come from memory once. */
static void mm_span_worker(void *ud, int64_t c0, int64_t c1, int ith)
{
    (void)ith;
    const struct mm_job *j = ud;
    int64_t step = j->n_tok == 1 ? c1 - c0 : 1;
    for (int64_t c = c0; c < c1; c += step) {
        int64_t rb = c * j->row_block, re = KB_MIN((c + step) * j->row_block, j->n_out);
        for (int64_t t = 0; t < j->n_tok; t++)
            kern_dot_rows(j->w_type, j->n_in, j->w + (size_t)rb * j->w_row_bytes, j->w_row_bytes, re - rb,
                          j->xq + (size_t)t * j->xq_row_bytes, j->y + t * j->n_out + rb);
    }
}

void kern_quantize_rows(struct kern_pool *pool, int type, const float *x, int64_t n_in, int64_t n_tok,
                        void *xq)
{
    struct mm_job j = {.quant = kern.quant[type], .x = x, .xq = xq,
                       .xq_row_bytes = ggml_row_bytes(type, n_in), .n_in = n_in, .n_tok = n_tok};
    KB_ASSERT(j.quant != NULL && j.xq_row_bytes > 0);
    kern_pool_for(pool, n_tok, quant_worker, &j);
}

void kern_matmul_pre(struct kern_pool *pool, int w_type, const void *w, int64_t n_in, int64_t n_out,
                     const void *xq, int64_t n_tok, float *y)
{
    int vdt = vec_dot_type(w_type);
    struct mm_job j = {.dot = kern.vec_dot[w_type], .w_type = w_type, .gemm = n_tok >= KERN_TILE ? kern.gemm[w_type] : NULL, .w = w, .w_row_bytes = ggml_row_bytes(w_type, n_in),
                       .xq = (uint8_t *)(uintptr_t)xq, .xq_row_bytes = ggml_row_bytes(vdt, n_in),
                       .n_in = n_in, .n_out = n_out, .n_tok = n_tok, .y = y};
    KB_ASSERT(j.dot != NULL && j.w_row_bytes > 0 && j.xq_row_bytes > 0);
    j.panel = n_tok >= MM_PANEL_MIN_TOK ? kern.gemm_panel[w_type] : NULL;
    j.row_block = j.panel ? KERN_PANEL_ROWS : MM_ROW_BLOCK;
    if (n_tok < KERN_TILE) {
        /* matrix-vector (generation): memory-bound. Each thread must read its part as one stream
         * (with 128 KB chunks taken in turn, each thread's read stream restarted after every chunk:
         * bench_kernels memory, 2 threads, Q8_0 40-44 GB/s against 47-52 with 1 MB chunks), and the
         * threads should finish together (with 1 MB chunks the caller waited about half a chunk at
         * the end of every product). So: items of ~MM_MATVEC_ITEM_BYTES, at least 8 per matrix,
         * claimed MM_MATVEC_BITE at a time from each thread's own range, the last ones singly. */
        int64_t rb = (int64_t)(MM_MATVEC_ITEM_BYTES / j.w_row_bytes) & ~(int64_t)3;
        if (rb > n_out / 8)
            rb = n_out / 8;
        j.row_block = rb > MM_ROW_BLOCK ? rb : MM_ROW_BLOCK;
        kern_pool_for_span(pool, (n_out + j.row_block - 1) / j.row_block, MM_MATVEC_BITE, mm_span_worker, &j);
        return;
    }
    kern_pool_for(pool, (n_out + j.row_block - 1) / j.row_block, mm_worker, &j);
}

void kern_matmul(struct kern_pool *pool, int w_type, const void *w, int64_t n_in, int64_t n_out,
                 const float *x, int64_t n_tok, float *y, void *xq)
{
    if (kern.vec_dot[w_type] == NULL)
        kern_init(false);
    int vdt = vec_dot_type(w_type);
    const void *a = x;
    if (vdt != GGML_TYPE_F32) {
        kern_quantize_rows(pool, vdt, x, n_in, n_tok, xq);
        a = xq;
    }
    kern_matmul_pre(pool, w_type, w, n_in, n_out, a, n_tok, y);
}
