/* tests/index/test_vectors.c: the FAISS cache (index/vectors.c) below the store: HNSW removals as
 * tombstones (skipped and fetched past by search, counted, refused by save until a rebuild), and the
 * IVF training sample size and nprobe rules. The sidecar's rebuild paths are tested through the
 * store in test_store.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "idx_test.h"
#include "index/index_int.h"

#define DIM 32
#define N 400

/* n deterministic unit vectors of DIM floats. */
static float *unit_vectors(int n)
{
    float *x = kb_xmalloc((size_t)n * DIM * sizeof(float));
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[i * DIM + d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            norm += (double)x[i * DIM + d] * x[i * DIM + d];
        }
        for (int d = 0; d < DIM; d++)
            x[i * DIM + d] = (float)(x[i * DIM + d] / sqrt(norm));
    }
    return x;
}

static bool has_id(const int64_t *ids, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void test_hnsw_tombstones(void **state)
{
    struct vec_index *v = NULL;
    struct kb_error err = {0};
    float *x = unit_vectors(N);
    int64_t ids[N], del[10], got[8];
    float sc[8];
    int n = 0;
    char *dir = idx_tmpdir(), path[4200];
    (void)state;
    for (int i = 0; i < N; i++)
        ids[i] = 1000 + i;
    assert_int_equal(vec_new(&v, DIM, "test", VEC_HNSW, N, &err), 0);
    assert_false(vec_needs_training(v));
    assert_int_equal(vec_train_size(v, N), 0);
    assert_int_equal(vec_add(v, ids, x, N, &err), 0);
    /* each vector is its own nearest neighbour */
    for (int i = 0; i < N; i += 37) {
        assert_int_equal(vec_search(v, x + (size_t)i * DIM, 8, got, sc, &n, &err), 0);
        assert_int_equal(n, 8);
        assert_int_equal(got[0], ids[i]);
    }
    /* remove 0, 40, ..., 360 (and an absent id): tombstones, no longer live or found */
    for (int k = 0; k < 10; k++)
        del[k] = ids[k * 40];
    del[9] = 99; /* absent: ignored */
    assert_int_equal(vec_remove(v, del, 10, &err), 0);
    assert_int_equal(vec_count(v), N - 9);
    assert_int_equal(vec_n_tombstones(v), 9);
    assert_false(has_id(vec_ids(v), (int)vec_count(v), ids[40]));
    for (int k = 0; k < 9; k++) {
        assert_int_equal(vec_search(v, x + (size_t)k * 40 * DIM, 8, got, sc, &n, &err), 0);
        assert_int_equal(n, 8); /* fetched past the tombstones */
        for (int j = 0; j < n; j++)
            if (has_id(del, 9, got[j]))
                fail_msg("removed id %lld returned for its own vector", (long long)got[j]);
    }
    /* live ones are still found */
    assert_int_equal(vec_search(v, x + (size_t)41 * DIM, 8, got, sc, &n, &err), 0);
    assert_int_equal(got[0], ids[41]);
    /* a sidecar never holds tombstones: the store rebuilds first */
    snprintf(path, sizeof(path), "%s/vectors.faiss", dir);
    assert_int_equal(vec_save(v, path, &err), KB_EINVAL);
    vec_free(v);
    idx_rm_rf(dir);
    free(dir);
    free(x);
}

/* Training points: 64 per list (lists: sqrt(n), at most n / 39), at least 20k, at most 256k, at
 * most n; nothing for kinds that need no training. */
static void test_ivf_train_size(void **state)
{
    static const struct {
        int64_t n;
        int64_t want;
    } cases[] = {
        {5000, 5000},          /* 70 lists: 4,480 < 20k floor > n */
        {50000, 20000},        /* 223 lists: 14,272 < 20k */
        {100000, 64 * 316},    /* 316 lists */
        {1000000, 64 * 1000},  /* 1,000 lists: was 20k (20 a list) */
        {10000000, 64 * 3162}, /* 3,162 lists */
        {100000000, 262144},   /* 10,000 lists: capped */
    };
    struct kb_error err = {0};
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct vec_index *v = NULL;
        assert_int_equal(vec_new(&v, 4, "test", VEC_IVF, cases[i].n, &err), 0);
        assert_true(vec_needs_training(v));
        if (vec_train_size(v, cases[i].n) != cases[i].want)
            fail_msg("n %lld: %lld training points, want %lld", (long long)cases[i].n,
                     (long long)vec_train_size(v, cases[i].n), (long long)cases[i].want);
        assert_int_equal(vec_train_size(v, 1234), 1234); /* never more than there are */
        vec_set_nprobe(v, 1 << 30);                      /* clamped to nlist; must not fail */
        vec_free(v);
    }
    {
        struct vec_index *v = NULL;
        assert_int_equal(vec_new(&v, 4, "test", VEC_FLAT, 1000000, &err), 0);
        assert_int_equal(vec_train_size(v, 1000000), 0);
        vec_free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hnsw_tombstones),
        cmocka_unit_test(test_ivf_train_size),
    };
    kb_log_set_level(KB_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
