/* infer/stream.c: read-bandwidth bound of this machine, measured on the engine's own pool.
 *
 * infer_stream_read_gbs() sums a buffer of doubles (a STREAM-style read-only pass: every byte is
 * read once per pass, nothing written) with n_threads workers, each owning a contiguous slice that
 * it first-touched itself, and returns the best pass in GB/s (10^9 bytes/s). It is the bound that
 * decode speed is compared with: tokens/s <= read GB/s / bytes of weights read per token, so
 * `kbox model bench` reports tg_bw_fraction = active bytes x tok/s / this figure. The buffer is
 * allocated once per call and freed before returning; the per-thread sums are kept (and returned
 * through *checksum) so the compiler cannot drop the reads. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "infer/infer.h"
#include "infer/pool.h"

#define STREAM_MAX_THREADS 256

struct stream_job {
    double *a;
    size_t n;
    int init; /* 1: first touch, 0: read pass */
    double sums[STREAM_MAX_THREADS];
};

static void stream_fn(void *ud, int ith, int nth)
{
    struct stream_job *j = ud;
    size_t i0 = j->n * (size_t)ith / (size_t)nth, i1 = j->n * (size_t)(ith + 1) / (size_t)nth;
    double *a = j->a;
    if (j->init) {
        for (size_t i = i0; i < i1; i++)
            a[i] = (double)(i & 7);
    } else {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains so the adds keep up with the loads */
        size_t i = i0;
        for (; i + 4 <= i1; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        for (; i < i1; i++)
            s0 += a[i];
        j->sums[ith] = s0 + s1 + s2 + s3;
    }
}

int infer_stream_read_gbs(int n_threads, size_t bytes, int reps, double *gbs, double *checksum,
                          struct kb_error *err)
{
    struct kern_pool *pool = NULL;
    struct stream_job *j = NULL;
    int rc = 0;
    *gbs = 0;
    if (checksum)
        *checksum = 0;
    if (n_threads < 0 || n_threads > STREAM_MAX_THREADS || bytes < 4096 || reps < 1) {
        rc = kb_error_set(err, KB_EINVAL, "stream: threads %d (0..%d), bytes %zu (>= 4096), repeats %d (>= 1)",
                          n_threads, STREAM_MAX_THREADS, bytes, reps);
        goto out;
    }
    if ((rc = kern_pool_new(&pool, n_threads, err)))
        goto out;
    j = kb_xcalloc(1, sizeof *j);
    j->n = bytes / sizeof(double);
    j->a = kb_xmalloc(j->n * sizeof(double));
    j->init = 1;
    kern_pool_run(pool, stream_fn, j);
    j->init = 0;
    double best = HUGE_VAL;
    for (int r = 0; r < reps; r++) {
        double t0 = kb_now_s();
        kern_pool_run(pool, stream_fn, j);
        double dt = kb_now_s() - t0;
        best = dt < best ? dt : best;
    }
    *gbs = best > 0 ? (double)(j->n * sizeof(double)) / best / 1e9 : 0;
    if (checksum)
        for (int t = 0; t < STREAM_MAX_THREADS; t++)
            *checksum += j->sums[t];
out:
    if (j)
        free(j->a);
    free(j);
    kern_pool_free(pool);
    return rc;
}
