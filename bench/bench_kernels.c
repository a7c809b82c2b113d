/* bench/bench_kernels.c: throughput of the matmul kernels per weight type, in GB/s of weight bytes
 * read, for a matrix-vector product (generation, n_tok = 1) and a batch of 64 tokens (prompt
 * processing, reported as tokens x weight-GB/s), with 1 and 2 pool threads, for the dispatched
 * kernels (kern.isa) and, in cache only, the scalar reference.
 *
 * usage: bench_kernels [big_MiB (default 1024)] [reps (default 3)] [TYPE,TYPE... (default all)]
 * "cache" uses a 2 MiB weight matrix (L2-resident: compute bound); "memory" a big_MiB one (much
 * larger than the LLC: bandwidth bound). Rows are 4096 values.
 *
 * usage: bench_kernels micro [TYPE,TYPE...] [n_tok (default 64)] [rows (default 128)]
 * Kernel-only figures for A/B work on a busy machine: 128 rows of 4096 values (L2-resident; many
 * more rows, e.g. 65536, stream from memory), one
 * thread (the caller: its CPU time is measured), best of many short runs: a plain vec_dot loop over
 * the rows, the matrix-vector product through kern_matmul_pre (kern_dot_rows: the row kernel where
 * the type has one), and kern_matmul_pre over n_tok
 * pre-quantized tokens (tiles/panels), in GB/s of weights (x tokens for the batch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "infer/matmul.h"

#define N_IN 4096

static double run(struct kern_pool *pool, int type, const void *w, int64_t n_out, const float *x, int64_t n_tok,
                  float *y, void *xq, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = kb_now_s();
        kern_matmul(pool, type, w, N_IN, n_out, x, n_tok, y, xq);
        double dt = kb_now_s() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

/* true if `name` is one of the comma-separated names in `list` */
static bool type_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

/* CPU time of the calling thread: the micro figures then exclude the time the OS gives to others. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double micro_best(struct kern_pool *pool, int type, const uint8_t *w, int64_t n_out, const void *xq,
                         int64_t n_tok, float *y)
{
    /* the matrix-vector case goes through kern_matmul_pre too (row blocking as in generation) */
    size_t rb = ggml_row_bytes(type, N_IN), ab = ggml_row_bytes(kern.vec_dot_type[type], N_IN);
    double best = 1e30;
    for (int rep = 0; rep < 25; rep++) {
        double t0 = thread_cpu_s();
        int iters = 0;
        do {
            if (n_tok == -1) /* one vec_dot per row: the generation path before kern_dot_rows */
                for (int64_t r = 0; r < n_out; r++)
                    y[r] = kern.vec_dot[type](N_IN, w + (size_t)r * rb, xq);
            else if (n_tok == -2) /* the row kernel over all rows in one call */
                kern_dot_rows(type, N_IN, w, rb, n_out, xq, y);
            else
                kern_matmul_pre(pool, type, w, N_IN, n_out, xq, n_tok ? n_tok : 1, y);
            iters++;
        } while (thread_cpu_s() - t0 < 0.005);
        double dt = (thread_cpu_s() - t0) / iters;
        best = dt < best ? dt : best;
    }
    (void)ab;
    return (double)rb * (double)n_out * (double)(n_tok > 0 ? n_tok : 1) / best / 1e9;
}

static int micro(int argc, char **argv)
{
    const char *list = argc > 2 ? argv[2] : "Q4_K,Q6_K,Q8_0";
    int64_t n_tok = 64;
    if (argc > 3 && (kb_parse_i64(argv[3], &n_tok) != 0 || n_tok < 1 || n_tok > 1024)) {
        fprintf(stderr, "bad n_tok\n");
        return 1;
    }
    int64_t n_out = 128;
    if (argc > 4 && (kb_parse_i64(argv[4], &n_out) != 0 || n_out < 32 || n_out > (1 << 20))) {
        fprintf(stderr, "bad rows\n");
        return 1;
    }
    kern_init(false);
    struct kern_pool *pool;
    kern_pool_new(&pool, 1, NULL);
    float *x = kb_xmalloc(sizeof(float) * N_IN * (size_t)n_tok), *y = kb_xmalloc(sizeof(float) * (size_t)(n_out * n_tok));
    for (int64_t i = 0; i < N_IN * n_tok; i++)
        x[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
    static const int types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                GGML_TYPE_Q6_K, GGML_TYPE_MXFP4};
    printf("micro: isa %s, %lld rows of %d, 1 thread; GB/s of weights (x tokens for the batch)\n", kern.isa,
           (long long)n_out, N_IN);
    for (size_t ti = 0; ti < KB_ARRAY_LEN(types); ti++) {
        int t = types[ti];
        if (!type_listed(list, ggml_type_info(t)->name))
            continue;
        size_t rb = ggml_row_bytes(t, N_IN);
        int vdt = kern.vec_dot_type[t];
        uint8_t *w = kb_xmalloc(rb * (size_t)n_out);
        float *wf = kb_xmalloc(sizeof(float) * N_IN);
        for (int64_t r = 0; r < n_out; r++) {
            if (r >= 128) { /* replicate the first 128 rows */
                memcpy(w + (size_t)r * rb, w + (size_t)(r % 128) * rb, rb);
                continue;
            }
            for (int k = 0; k < N_IN; k++)
                wf[k] = (float)(((r + 1) * (k + 3) * 2654435761u) % 1000) / 1000.0f - 0.5f;
            kern.quant[t](wf, w + (size_t)r * rb, N_IN);
        }
        void *xq = kb_xmalloc(ggml_row_bytes(vdt, N_IN) * (size_t)n_tok);
        kern_quantize_rows(pool, vdt, x, N_IN, n_tok, xq);
        double g0 = micro_best(pool, t, w, n_out, xq, -1, y);
        double g2 = micro_best(pool, t, w, n_out, xq, -2, y);
        double g1 = micro_best(pool, t, w, n_out, xq, 0, y);
        double gb = micro_best(pool, t, w, n_out, xq, n_tok, y);
        printf("%-5s vec_dot loop %8.2f   kern_dot_rows (row kernel %s) %8.2f   matvec %8.2f   batch of %lld "
               "%8.2f\n", ggml_type_info(t)->name, g0, kern.vec_dot_rows[t] ? "yes" : "no", g2, g1,
               (long long)n_tok, gb);
        fflush(stdout);
        free(xq);
        free(wf);
        free(w);
    }
    kern_pool_free(pool);
    free(x);
    free(y);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t big_mib = 1024, reps = 3;
    if (argc > 1 && strcmp(argv[1], "micro") == 0)
        return micro(argc, argv);
    if ((argc > 1 && kb_parse_i64(argv[1], &big_mib) != 0) || (argc > 2 && kb_parse_i64(argv[2], &reps) != 0)) {
        fprintf(stderr, "usage: bench_kernels [big_MiB] [reps] [TYPE,TYPE...]\n");
        return 1;
    }
    kern_init(false);
    static const int types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                GGML_TYPE_Q5_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_MXFP4};
    const int64_t n_tok_pp = 64;
    float *x = kb_xmalloc(sizeof(float) * N_IN * n_tok_pp), *y = NULL;
    for (int64_t i = 0; i < N_IN * n_tok_pp; i++)
        x[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
    void *xq = kb_xmalloc(sizeof(float) * N_IN * n_tok_pp);
    struct kern_pool *pools[2];
    kern_pool_new(&pools[0], 1, NULL);
    kern_pool_new(&pools[1], 2, NULL);
    printf("bench_kernels: isa %s, rows of %d; GB/s of weights (pp64: tokens x weight bytes / s)\n", kern.isa, N_IN);
    printf("%-5s %-6s %10s %10s %10s %10s %10s\n", "type", "size", "tg 1thr", "tg 2thr", "pp64 1thr", "pp64 2thr",
           "ref 1thr");
    for (size_t ti = 0; ti < KB_ARRAY_LEN(types); ti++) {
        int t = types[ti];
        if (argc > 3 && !type_listed(argv[3], ggml_type_info(t)->name))
            continue;
        size_t rb = ggml_row_bytes(t, N_IN);
        /* one 2 MiB chunk of quantized random rows, replicated */
        int64_t chunk_rows = (2 << 20) / (int64_t)rb;
        float *wf = kb_xmalloc(sizeof(float) * N_IN);
        uint8_t *chunk = kb_xmalloc(rb * (size_t)chunk_rows);
        for (int64_t r = 0; r < chunk_rows; r++) {
            for (int k = 0; k < N_IN; k++)
                wf[k] = (float)(((r + 1) * (k + 3) * 2654435761u) % 1000) / 1000.0f - 0.5f;
            kern.quant[t](wf, chunk + (size_t)r * rb, N_IN);
        }
        for (int big = 0; big < 2; big++) {
            int64_t n_out = big ? big_mib * (1 << 20) / (int64_t)rb : chunk_rows;
            uint8_t *w = chunk;
            if (big) {
                w = kb_xmalloc(rb * (size_t)n_out);
                for (int64_t r = 0; r < n_out; r += chunk_rows)
                    memcpy(w + (size_t)r * rb, chunk, rb * (size_t)KB_MIN(chunk_rows, n_out - r));
            }
            double bytes = (double)rb * (double)n_out;
            y = kb_xrealloc(y, sizeof(float) * (size_t)n_out * (size_t)n_tok_pp); /* (n_tok, n_out) */
            double r1 = bytes / run(pools[0], t, w, n_out, x, 1, y, xq, (int)reps + 2) / 1e9;
            double r2 = bytes / run(pools[1], t, w, n_out, x, 1, y, xq, (int)reps + 2) / 1e9;
            double p1 = n_tok_pp * bytes / run(pools[0], t, w, n_out, x, n_tok_pp, y, xq, (int)reps) / 1e9;
            double p2 = n_tok_pp * bytes / run(pools[1], t, w, n_out, x, n_tok_pp, y, xq, (int)reps) / 1e9;
            double rr = 0;
            if (!big) {
                struct kern_ops save = kern;
                kern = *kern_ref_ops();
                rr = bytes / run(pools[0], t, w, n_out, x, 1, y, xq, 2) / 1e9;
                kern = save;
            }
            printf("%-5s %-6s %10.2f %10.2f %10.2f %10.2f %10.2f\n", ggml_type_info(t)->name, big ? "memory" : "cache",
                   r1, r2, p1, p2, rr);
            fflush(stdout);
            if (big)
                free(w);
        }
        free(wf);
        free(chunk);
    }
    kern_pool_free(pools[0]);
    kern_pool_free(pools[1]);
    free(x);
    free(y);
    free(xq);
    return 0;
}
