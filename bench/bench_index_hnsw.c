/* bench/bench_index_hnsw.c: how long FAISS (Debian's 1.7.3) takes to build the approximate vector
 * indexes kbox can use, and how good their answers are, on built-in-embedder vectors of a synthetic
 * corpus (the same Zipf word model as bench_index.c, English only).
 *
 * Usage: bench_index_hnsw N DIM [THREADS [KIND [NPROBES [TRAIN]]]]  (KIND: hnsw (default), ivf or
 * both). N chunk texts are embedded, added in ONE batch (vec_add: large HNSW batches and IVF training
 * use omp_get_num_procs() threads; run under `taskset -c 0` for one), then 200 queries of 4 content
 * words are searched for the 10 best and compared with the exact inner-product answer (IDMap2,Flat):
 * recall@10 is the share of the exact top 10 that the approximate index returns. THREADS > 0 exports
 * OMP_NUM_THREADS before FAISS starts. IVF trains on as many points as store.c gives it
 * (vec_train_size) unless TRAIN > 0 says how many, and is searched once per comma-separated NPROBES
 * value (e.g. 8,16,32; default: kbox's nprobe), so one build measures several probe counts.
 * Prints build seconds, recall and mean query time per setting; run it under `/usr/bin/time` for CPU
 * seconds, which matter more than wall time on a shared machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define VOCAB 50000
#define WORDS 120
#define N_Q 200
#define K 10

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double *cdf;
static int zipf(void)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int word(int r, char *out, size_t cap)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "da", "fe", "gi", "ho", "ju"};
    int n = 0;
    do {
        n += snprintf(out + n, cap - (size_t)n, "%s", syl[r % 16]);
        r /= 16;
    } while (r > 0);
    return n;
}

static void text(char *buf, size_t cap, int n_words, bool content)
{
    size_t n = 0;
    for (int w = 0; w < n_words && n + 40 < cap; w++) {
        n += (size_t)word(content ? 200 + (int)(rnd() % 20000) : zipf(), buf + n, cap - n);
        buf[n++] = ' ';
    }
    buf[n] = '\0';
}

/* Recall@10 against exact and mean query time of v over the N_Q queries. */
static int measure(struct vec_index *v, int dim, const float *q, const int64_t *exact, double *recall,
                   double *ms)
{
    struct kb_error err = {0};
    double hit = 0, lat = 0;
    for (int i = 0; i < N_Q; i++) {
        int64_t got[K];
        float sc[K];
        int ng = 0;
        double t1 = kb_now_s();
        if (vec_search(v, q + (size_t)i * (size_t)dim, K, got, sc, &ng, &err) != 0) {
            fprintf(stderr, "search: %s\n", err.msg);
            return 1;
        }
        lat += kb_now_s() - t1;
        for (int a = 0; a < ng; a++)
            for (int b = 0; b < K; b++)
                hit += got[a] == exact[i * K + b];
    }
    *recall = hit / (N_Q * K);
    *ms = lat / N_Q * 1000;
    return 0;
}

static int run(enum vec_kind kind, int64_t n, int dim, const float *x, const int64_t *ids, const float *q,
               const int64_t *exact, const char *nprobes, int64_t n_train)
{
    struct vec_index *v = NULL;
    struct kb_error err = {0};
    double t0 = kb_now_s(), t_train = 0, recall, ms;
    int64_t ns = 0;
    const char *p = nprobes;
    if (vec_new(&v, dim, "bench", kind, n, &err) != 0) {
        fprintf(stderr, "vec_new: %s\n", err.msg);
        return 1;
    }
    if (vec_needs_training(v)) {
        ns = n_train > 0 ? KB_MIN(n, n_train) : vec_train_size(v, n);
        if (vec_train(v, x, ns, &err) != 0) {
            fprintf(stderr, "train: %s\n", err.msg);
            return 1;
        }
        t_train = kb_now_s() - t0;
    }
    if (vec_add(v, ids, x, n, &err) != 0) {
        fprintf(stderr, "add: %s\n", err.msg);
        return 1;
    }
    double t_build = kb_now_s() - t0;
    printf("%-5s n %lld dim %d: build %.1f s (train %.1f s on %lld points) = %.0f vectors/s\n",
           kind == VEC_HNSW ? "hnsw" : kind == VEC_IVF ? "ivf" : "flat", (long long)n, dim, t_build, t_train,
           (long long)ns, (double)n / t_build);
    do {
        int64_t np = 0;
        char one[16];
        size_t len = p ? strcspn(p, ",") : 0;
        if (kind == VEC_IVF && len > 0) {
            snprintf(one, sizeof(one), "%.*s", (int)KB_MIN(len, sizeof(one) - 1), p);
            if (len >= sizeof(one) || kb_parse_i64(one, &np) != 0 || np < 1) {
                fprintf(stderr, "bad nprobe '%s'\n", one);
                return 1;
            }
            vec_set_nprobe(v, (int)np);
        }
        if (measure(v, dim, q, exact, &recall, &ms) != 0)
            return 1;
        if (np > 0)
            printf("  nprobe %3lld: recall@10 %.3f, query mean %.2f ms\n", (long long)np, recall, ms);
        else
            printf("  recall@10 %.3f, query mean %.2f ms\n", recall, ms);
        fflush(stdout);
        p = p && p[len] == ',' ? p + len + 1 : NULL;
    } while (kind == VEC_IVF && p);
    vec_free(v);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t n, dim, threads = 0, n_train = 0;
    struct index_embedder *e = NULL;
    struct kb_error err = {0};
    struct vec_index *flat = NULL;
    double s = 0;
    const char *kind = argc > 4 ? argv[4] : "hnsw";
    const char *nprobes = argc > 5 ? argv[5] : NULL;
    if (argc < 3 || kb_parse_i64(argv[1], &n) || kb_parse_i64(argv[2], &dim) || n < 100 ||
        (argc > 3 && kb_parse_i64(argv[3], &threads)) || (argc > 6 && kb_parse_i64(argv[6], &n_train))) {
        fprintf(stderr, "usage: bench_index_hnsw N DIM [THREADS [hnsw|ivf|both [NPROBE,... [TRAIN]]]]\n");
        return 1;
    }
    if (threads > 0) {
        char t[32];
        snprintf(t, sizeof(t), "%lld", (long long)threads);
        setenv("OMP_NUM_THREADS", t, 1);
    }
    cdf = kb_xmalloc(VOCAB * sizeof(double));
    for (int i = 0; i < VOCAB; i++)
        s += 1.0 / (i + 1);
    for (int i = 0; i < VOCAB; i++)
        cdf[i] = (i ? cdf[i - 1] : 0) + 1.0 / (i + 1) / s;
    if (index_embedder_builtin_new(&e, (int)dim, &err) != 0)
        return 1;
    float *x = kb_xmalloc((size_t)n * (size_t)dim * sizeof(float));
    float *q = kb_xmalloc((size_t)N_Q * (size_t)dim * sizeof(float));
    int64_t *ids = kb_xmalloc((size_t)n * sizeof(int64_t));
    int64_t *exact = kb_xmalloc(N_Q * K * sizeof(int64_t));
    double t0 = kb_now_s();
    for (int64_t i = 0; i < n; i++) {
        char buf[WORDS * 24];
        const char *p = buf;
        text(buf, sizeof(buf), WORDS, false);
        ids[i] = i + 1;
        if (e->embed(e->ud, &p, 1, x + (size_t)i * (size_t)dim, &err) != 0)
            return 1;
    }
    for (int i = 0; i < N_Q; i++) {
        char buf[256];
        const char *p = buf;
        text(buf, sizeof(buf), 4, true);
        if (e->embed(e->ud, &p, 1, q + (size_t)i * (size_t)dim, &err) != 0)
            return 1;
    }
    printf("embedded %lld texts in %.1f s\n", (long long)n, kb_now_s() - t0);
    if (vec_new(&flat, (int)dim, "bench", VEC_FLAT, n, &err) || vec_add(flat, ids, x, n, &err))
        return 1;
    for (int i = 0; i < N_Q; i++) {
        float sc[K];
        int ng = 0;
        memset(exact + i * K, 0, K * sizeof(int64_t));
        if (vec_search(flat, q + (size_t)i * (size_t)dim, K, exact + i * K, sc, &ng, &err) != 0)
            return 1;
    }
    vec_free(flat);
    if ((strcmp(kind, "hnsw") == 0 || strcmp(kind, "both") == 0) &&
        run(VEC_HNSW, n, (int)dim, x, ids, q, exact, NULL, 0))
        return 1;
    if ((strcmp(kind, "ivf") == 0 || strcmp(kind, "both") == 0) &&
        run(VEC_IVF, n, (int)dim, x, ids, q, exact, nprobes, n_train))
        return 1;
    free(x);
    free(q);
    free(ids);
    free(exact);
    free(cdf);
    index_embedder_builtin_free(e);
    return 0;
}
