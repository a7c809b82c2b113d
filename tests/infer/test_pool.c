/* tests/infer/test_pool.c: the persistent pool. Every (ith, nth) slot runs exactly once per
 * kern_pool_run, runs are strictly sequential (no worker is still in run k when run k+1 starts),
 * many tiny runs in a row and runs after the workers fell asleep all complete, kern_pool_for and
 * kern_pool_for_span run every item exactly once (spans no longer than asked), and pools of 1..4
 * threads start and stop cleanly (TSan/ASan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "infer/pool.h"

struct job {
    atomic_int hits[8];
    atomic_int in_flight;
    atomic_int overlap;
    int nth_seen;
    int64_t n_rows;
    int64_t *rows; /* each row written by the worker owning it */
};

static void job_fn(void *ud, int ith, int nth)
{
    struct job *j = ud;
    if (atomic_fetch_add(&j->in_flight, 1) >= nth)
        atomic_store(&j->overlap, 1);
    atomic_fetch_add(&j->hits[ith], 1);
    if (ith == 0)
        j->nth_seen = nth;
    for (int64_t r = j->n_rows * ith / nth; r < j->n_rows * (ith + 1) / nth; r++)
        j->rows[r] += 1;
    atomic_fetch_sub(&j->in_flight, 1);
}

static void test_pool(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        struct kern_pool *p = NULL;
        struct kb_error err = {0};
        assert_int_equal(kern_pool_new(&p, n, &err), 0);
        assert_int_equal(kern_pool_n_threads(p), n);
        struct job j;
        memset(&j, 0, sizeof(j));
        j.n_rows = 1001;
        j.rows = kb_xcalloc((size_t)j.n_rows, sizeof(int64_t));
        const int runs = 2000;
        for (int k = 0; k < runs; k++) {
            kern_pool_run(p, job_fn, &j);
            if (k == runs / 2)
                usleep(50 * 1000); /* let the workers go to sleep, then wake them */
        }
        assert_int_equal(j.nth_seen, n);
        assert_int_equal(atomic_load(&j.overlap), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(atomic_load(&j.hits[i]), runs);
        for (int64_t r = 0; r < j.n_rows; r++)
            assert_int_equal(j.rows[r], runs);
        free(j.rows);
        kern_pool_free(p);
    }
    kern_pool_free(NULL);
    struct kern_pool *p = NULL;
    assert_int_equal(kern_pool_new(&p, 0, NULL), 0); /* all cores */
    assert_true(kern_pool_n_threads(p) >= 1);
    kern_pool_free(p);
    assert_int_equal(kern_pool_new(&p, 100000, NULL), KB_EINVAL);
    assert_null(p);
}

struct for_job {
    int64_t n;
    atomic_int *hits; /* (n) */
    atomic_int by_thread[8];
};

static void for_fn(void *ud, int64_t c, int ith)
{
    struct for_job *j = ud;
    assert_true(c >= 0 && c < j->n);
    atomic_fetch_add(&j->hits[c], 1);
    atomic_fetch_add(&j->by_thread[ith], 1);
}

/* kern_pool_for: every chunk exactly once, interleaved with static runs, across sleeps, for chunk
 * counts 0, 1, small and large; a stale worker never runs a chunk twice. */
static void test_pool_for(void **state)
{
    (void)state;
    for (int n = 1; n <= 3; n++) {
        struct kern_pool *p = NULL;
        assert_int_equal(kern_pool_new(&p, n, NULL), 0);
        static const int64_t sizes[] = {0, 1, 2, 7, 64, 1000, 5000};
        struct job rj;
        memset(&rj, 0, sizeof(rj));
        rj.n_rows = 10;
        rj.rows = kb_xcalloc(10, sizeof(int64_t));
        int runs = 0;
        for (int rep = 0; rep < 300; rep++) {
            int64_t sz = sizes[rep % KB_ARRAY_LEN(sizes)];
            struct for_job fj;
            memset(&fj, 0, sizeof(fj));
            fj.n = sz;
            fj.hits = kb_xcalloc((size_t)(sz ? sz : 1), sizeof(atomic_int));
            kern_pool_for(p, sz, for_fn, &fj);
            for (int64_t c = 0; c < sz; c++)
                assert_int_equal(atomic_load(&fj.hits[c]), 1);
            int total = 0;
            for (int t = 0; t < n; t++)
                total += atomic_load(&fj.by_thread[t]);
            assert_int_equal(total, sz);
            free(fj.hits);
            if (rep % 3 == 0) {
                kern_pool_run(p, job_fn, &rj);
                runs++;
            }
            if (rep == 150)
                usleep(50 * 1000);
        }
        for (int64_t r = 0; r < rj.n_rows; r++)
            assert_int_equal(rj.rows[r], runs);
        free(rj.rows);
        kern_pool_free(p);
    }
}

struct span_job {
    int64_t n, max_bite;
    atomic_int *hits; /* (n) */
    atomic_int bad;   /* a span out of [0, n), empty, or longer than max_bite (with threads) */
    atomic_int calls;
    int n_threads;
};

static void span_fn(void *ud, int64_t c0, int64_t c1, int ith)
{
    struct span_job *j = ud;
    if (c0 < 0 || c1 > j->n || c1 <= c0 || ith < 0 || ith >= j->n_threads ||
        (j->n_threads > 1 && c1 - c0 > j->max_bite))
        atomic_store(&j->bad, 1);
    for (int64_t c = KB_MAX(c0, 0); c < KB_MIN(c1, j->n); c++)
        atomic_fetch_add(&j->hits[c], 1);
    atomic_fetch_add(&j->calls, 1);
}

/* kern_pool_for_span: every item exactly once, in spans of at most max_bite consecutive items (one
 * span of all of them on one thread), interleaved with FOR jobs, across sleeps. */
static void test_pool_for_span(void **state)
{
    (void)state;
    for (int n = 1; n <= 3; n++) {
        struct kern_pool *p = NULL;
        assert_int_equal(kern_pool_new(&p, n, NULL), 0);
        static const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 5000};
        static const int64_t bites[] = {1, 2, 8, 1000};
        for (int rep = 0; rep < 400; rep++) {
            int64_t sz = sizes[rep % KB_ARRAY_LEN(sizes)];
            struct span_job sj = {.n = sz, .max_bite = bites[(rep / 8) % KB_ARRAY_LEN(bites)], .n_threads = n};
            sj.hits = kb_xcalloc((size_t)(sz ? sz : 1), sizeof(atomic_int));
            kern_pool_for_span(p, sz, sj.max_bite, span_fn, &sj);
            assert_int_equal(atomic_load(&sj.bad), 0);
            for (int64_t c = 0; c < sz; c++)
                assert_int_equal(atomic_load(&sj.hits[c]), 1);
            if (n == 1)
                assert_int_equal(atomic_load(&sj.calls), sz > 0 ? 1 : 0);
            else if (sz > 1)
                assert_true(atomic_load(&sj.calls) >= (sz + sj.max_bite - 1) / sj.max_bite);
            free(sj.hits);
            if (rep % 5 == 0) {
                struct for_job fj;
                memset(&fj, 0, sizeof(fj));
                fj.n = 7;
                fj.hits = kb_xcalloc(7, sizeof(atomic_int));
                kern_pool_for(p, 7, for_fn, &fj);
                for (int c = 0; c < 7; c++)
                    assert_int_equal(atomic_load(&fj.hits[c]), 1);
                free(fj.hits);
            }
            if (rep == 200)
                usleep(50 * 1000);
        }
        kern_pool_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pool), cmocka_unit_test(test_pool_for),
                                       cmocka_unit_test(test_pool_for_span)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
