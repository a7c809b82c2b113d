/* infer/pool.c: the persistent worker pool. kern_pool_run(fn, ud) runs fn(ud, ith, nth) on every
 * worker, the caller being worker 0, and returns when all have finished.
 *
 * Hand-off: the caller publishes (fn, ud), sets `pending` to nth-1 and bumps `gen` (release).
 * Workers spin on `gen` for a while (cheap wake-ups between the many small matmuls of a forward
 * pass), then sleep on `wake` under `mu`. Each worker decrements `pending` when done (acq_rel);
 * the caller spins on it, then sleeps on `done`. The spin budget keeps idle workers from burning a
 * core for long when the engine is idle.
 *
 * Lock rules: one thread calls kern_pool_run() at a time per pool (a session owns it during a
 * forward pass). `mu` guards only the sleeping protocol (sleepers counts, stop); `gen`, `pending`
 * are atomics. fn must not call kern_pool_run() on the same pool. Tests: tests/infer/test_pool.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer/kern.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN 20000

struct kern_pool {
    int n_threads;              /* workers including the caller */
    pthread_t *threads;         /* (n_threads - 1); owned */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint gen;            /* bumped once per run */
    atomic_int pending;         /* workers still running this generation */
    void (*fn)(void *ud, int ith, int nth);
    void *ud;
    bool stop;                  /* under mu */
    int sleepers;               /* workers waiting on wake; under mu */
    bool caller_sleeping;       /* under mu */
    struct worker_arg *args;    /* (n_threads - 1); owned */
};

struct worker_arg {
    struct kern_pool *p;
    int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct kern_pool *p = wa->p;
    unsigned seen = 0; /* gen starts at 0; a run may bump it before this thread gets here */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && spins < POOL_SPIN) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            bool stop = p->stop && g == seen;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                break;
        }
        seen = g;
        if (p->fn == NULL) /* shutdown generation */
            break;
        p->fn(p->ud, wa->ith, p->n_threads);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            if (p->caller_sleeping)
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int kern_pool_new(struct kern_pool **out, int n_threads, struct kb_error *err)
{
    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > POOL_MAX_THREADS)
        return kb_error_set(err, KB_EINVAL, "thread pool: %d threads is more than %d", n_threads,
                            POOL_MAX_THREADS);
    struct kern_pool *p = kb_xcalloc(1, sizeof(*p));
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    int rc = 0;
    if (n_threads > 1) {
        p->threads = kb_xcalloc((size_t)n_threads - 1, sizeof(*p->threads));
        p->args = kb_xcalloc((size_t)n_threads - 1, sizeof(*p->args));
        for (int i = 1; i < n_threads; i++) {
            p->args[i - 1].p = p;
            p->args[i - 1].ith = i;
            int e = pthread_create(&p->threads[i - 1], NULL, worker_main, &p->args[i - 1]);
            if (e != 0) {
                p->n_threads = i; /* only join what started */
                rc = kb_error_set(err, KB_ENOMEM, "thread pool: cannot start thread %d: %s", i, strerror(e));
                break;
            }
        }
    }
    if (rc) {
        kern_pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void kern_pool_free(struct kern_pool *p)
{
    if (!p)
        return;
    if (p->n_threads > 1) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        p->fn = NULL;
        atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n_threads; i++)
            pthread_join(p->threads[i - 1], NULL);
    }
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p);
}

int kern_pool_n_threads(const struct kern_pool *p)
{
    return p ? p->n_threads : 1;
}

void kern_pool_run(struct kern_pool *p, void (*fn)(void *ud, int ith, int nth), void *ud)
{
    if (!p || p->n_threads == 1) {
        fn(ud, 0, 1);
        return;
    }
    p->fn = fn;
    p->ud = ud;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ud, 0, p->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0 && spins < POOL_SPIN) {
        cpu_relax();
        spins++;
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->mu);
        p->caller_sleeping = true;
        while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
            pthread_cond_wait(&p->done, &p->mu);
        p->caller_sleeping = false;
        pthread_mutex_unlock(&p->mu);
    }
}
