/* bench/bench_stream.c: STREAM-style memory bandwidth (copy, scale, add, triad) with 1..N threads of
 * the engine's own pool, so the numbers are the bound the generation speed is compared with
 * (tokens/s <= bandwidth / bytes of weights read per token).
 *
 * usage: bench_stream [MiB_per_array (default 512)] [max_threads (default 2)] [repeats (default 5)]
 * Reports the best of `repeats` runs in GB/s (10^9 bytes/s), counting bytes read + written as
 * STREAM does (copy/scale 2 arrays, add/triad 3 arrays), then the read-only pass that `kbox model bench`
 * uses as its bound (infer_stream_read_gbs, one array of the same size, bytes read only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/infer.h"
#include "infer/pool.h"

struct st_job {
    double *a, *b, *c;
    size_t n;
    int op; /* 0 copy, 1 scale, 2 add, 3 triad, 4 init */
};

static void st_fn(void *ud, int ith, int nth)
{
    struct st_job *j = ud;
    size_t i0 = j->n * (size_t)ith / (size_t)nth, i1 = j->n * (size_t)(ith + 1) / (size_t)nth;
    double *a = j->a, *b = j->b, *c = j->c;
    const double s = 3.0;
    switch (j->op) {
    case 0: for (size_t i = i0; i < i1; i++) c[i] = a[i]; break;
    case 1: for (size_t i = i0; i < i1; i++) b[i] = s * c[i]; break;
    case 2: for (size_t i = i0; i < i1; i++) c[i] = a[i] + b[i]; break;
    case 3: for (size_t i = i0; i < i1; i++) a[i] = b[i] + s * c[i]; break;
    default:
        for (size_t i = i0; i < i1; i++) {
            a[i] = 1.0;
            b[i] = 2.0;
            c[i] = 0.0;
        }
    }
}

int main(int argc, char **argv)
{
    int64_t mib = 512, max_thr = 2, reps = 5;
    if ((argc > 1 && kb_parse_i64(argv[1], &mib) != 0) || (argc > 2 && kb_parse_i64(argv[2], &max_thr) != 0) ||
        (argc > 3 && kb_parse_i64(argv[3], &reps) != 0) || mib < 1 || max_thr < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_stream [MiB_per_array] [max_threads] [repeats]\n");
        return 1;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(double);
    struct st_job j = {kb_xmalloc(n * 8), kb_xmalloc(n * 8), kb_xmalloc(n * 8), n, 4};
    static const char *names[] = {"copy", "scale", "add", "triad"};
    static const int arrays[] = {2, 2, 3, 3};
    printf("stream: 3 arrays of %lld MiB (doubles), best of %lld\n", (long long)mib, (long long)reps);
    for (int t = 1; t <= max_thr; t++) {
        struct kern_pool *pool = NULL;
        if (kern_pool_new(&pool, t, NULL) != 0)
            return 1;
        j.op = 4; /* first touch from the workers that will use the pages */
        kern_pool_run(pool, st_fn, &j);
        printf("threads %d:", t);
        for (int op = 0; op < 4; op++) {
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                j.op = op;
                double t0 = kb_now_s();
                kern_pool_run(pool, st_fn, &j);
                double dt = kb_now_s() - t0;
                best = dt < best ? dt : best;
            }
            printf("  %s %.1f GB/s", names[op], (double)arrays[op] * (double)n * 8 / best / 1e9);
        }
        double read_gbs = 0;
        if (infer_stream_read_gbs(t, n * 8, (int)reps, &read_gbs, NULL, NULL) == 0)
            printf("  read %.1f GB/s", read_gbs);
        printf("\n");
        kern_pool_free(pool);
    }
    free(j.a);
    free(j.b);
    free(j.c);
    return 0;
}
