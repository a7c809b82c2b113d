/* infer/pool.c: the persistent worker pool. Two ways to hand it work:
 *
 * - kern_pool_run(fn, ud): fn(ud, ith, nth) on every worker, the caller being worker 0; returns
 *   when all have finished (static (ith, nth) partitions).
 * - kern_pool_for(n_chunks, fn, ud): fn(ud, chunk, ith) for every chunk in [0, n_chunks), chunks
 *   claimed one at a time by the caller and by whichever workers are awake; returns when every
 *   chunk is done. A worker the OS has not scheduled yet simply finds nothing left, so a busy
 *   machine (other processes on our cores) slows a run down to the caller's own speed instead of
 *   stalling it on the slowest thread. The matmul uses this.
 *
 * Hand-off: the caller stores the job (fn, ud; for FOR jobs also the claim word), then the job
 * word `gen` = sequence << 2 | mode. Workers spin on `gen` for a while (cheap wake-ups between the
 * many small matmuls of a forward pass), then sleep on `wake` under `mu`. Mode and sequence share
 * one atomic word, so a worker never pairs one job's mode with another's sequence (64-bit: it never
 * wraps). RUN jobs: each worker decrements `pending`; the
 * caller spins on it, then sleeps on `done`. FOR jobs: the claim word packs (job tag, n_chunks,
 * next chunk) and is advanced by CAS, so a stale worker's CAS fails; a claimed chunk keeps the
 * caller inside kern_pool_for until it is done, which keeps the job's fields valid while it runs;
 * `n_done` counts finished chunks.
 *
 * Lock rules: one thread calls kern_pool_run()/kern_pool_for() at a time per pool (a session owns
 * it during a forward pass). `mu` guards only the sleeping protocol (sleepers, caller_sleeping);
 * everything else is atomic. fn must not call back into the same pool. Tests: tests/infer/test_pool.c. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer/kern.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN 4000 /* pause loops (about 0.1-0.5 ms) before yielding or sleeping */
#define FOR_BITS 20 /* n_chunks and next chunk: up to 2^20 - 1 chunks per job */
#define FOR_MASK ((1ull << FOR_BITS) - 1)

enum pool_mode { MODE_RUN = 1, MODE_FOR = 2, MODE_STOP = 3 };

typedef void (*run_fn)(void *ud, int ith, int nth);
typedef void (*for_fn)(void *ud, int64_t chunk, int ith);

struct kern_pool {
    int n_threads;              /* workers including the caller */
    pthread_t *threads;         /* (n_threads - 1); owned */
    struct worker_arg *args;    /* (n_threads - 1); owned */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ullong gen;          /* job word: sequence << 2 | enum pool_mode; changes once per job */
    unsigned long long seq;              /* caller-only: sequence of the last job */
    _Atomic(run_fn) fn;         /* RUN job */
    _Atomic(for_fn) ffn;        /* FOR job */
    _Atomic(void *) ud;
    atomic_int pending;         /* RUN: workers still running */
    atomic_ullong claim;        /* FOR: tag << 40 | n_chunks << 20 | next */
    atomic_llong n_done;        /* FOR: chunks finished */
    unsigned for_tag;           /* caller-only: tag of the last FOR job */
    int sleepers;               /* workers waiting on wake; under mu */
    bool caller_sleeping;       /* under mu */
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

/* Claims and runs chunks of the current FOR job until none is left. */
static void for_loop(struct kern_pool *p, int ith)
{
    for (;;) {
        unsigned long long c = atomic_load_explicit(&p->claim, memory_order_acquire);
        unsigned long long n = (c >> FOR_BITS) & FOR_MASK, next = c & FOR_MASK;
        if (next >= n)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* the caller waits for this chunk, so the job's fn/ud are this job's */
        for_fn f = atomic_load_explicit(&p->ffn, memory_order_relaxed);
        f(atomic_load_explicit(&p->ud, memory_order_relaxed), (int64_t)next, ith);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct kern_pool *p = wa->p;
    unsigned long long seen = 0; /* gen starts at 0; a job may bump it before this thread gets here */
    for (;;) {
        unsigned long long g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen && spins < POOL_SPIN) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load(&p->gen)) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        /* mode comes in the same word as the sequence, so it is this job's; fn/ud were stored
         * before the word and cannot change until this worker has done a RUN job */
        int mode = (int)(g & 3u);
        run_fn f = atomic_load(&p->fn);
        void *ud = atomic_load(&p->ud);
        seen = g;
        if (mode == MODE_STOP)
            break;
        if (mode == MODE_FOR) {
            for_loop(p, wa->ith);
            continue;
        }
        f(ud, wa->ith, p->n_threads);
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
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ffn, NULL);
    atomic_init(&p->ud, NULL);
    atomic_init(&p->pending, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->n_done, 0);
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

/* Publishes a job: its fields were stored first; then the job word (seq_cst), then wakes sleepers. */
static void publish(struct kern_pool *p, int mode)
{
    p->seq++;
    atomic_store(&p->gen, (p->seq << 2) | (unsigned long long)mode);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

void kern_pool_free(struct kern_pool *p)
{
    if (!p)
        return;
    if (p->n_threads > 1) {
        publish(p, MODE_STOP);
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
    atomic_store(&p->fn, fn);
    atomic_store(&p->ud, ud);
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    publish(p, MODE_RUN);
    fn(ud, 0, p->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0 && spins < 2 * POOL_SPIN) {
        if (++spins < POOL_SPIN)
            cpu_relax();
        else
            sched_yield(); /* a late worker may be waiting for this core */
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

void kern_pool_for(struct kern_pool *p, int64_t n_chunks, void (*fn)(void *ud, int64_t chunk, int ith), void *ud)
{
    KB_ASSERT(n_chunks >= 0 && (unsigned long long)n_chunks <= FOR_MASK);
    if (!p || p->n_threads == 1 || n_chunks <= 1) {
        for (int64_t c = 0; c < n_chunks; c++)
            fn(ud, c, 0);
        return;
    }
    atomic_store(&p->ffn, fn);
    atomic_store(&p->ud, ud);
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    p->for_tag = (p->for_tag + 1) & 0xffffffu;
    unsigned long long w = (unsigned long long)p->for_tag << (2 * FOR_BITS) | (unsigned long long)n_chunks << FOR_BITS;
    atomic_store_explicit(&p->claim, w, memory_order_release);
    publish(p, MODE_FOR);
    for_loop(p, 0);
    /* only chunks that a running worker has claimed are outstanding: wait for them */
    int spins = 0;
    while (atomic_load_explicit(&p->n_done, memory_order_acquire) != n_chunks) {
        if (++spins < POOL_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
}
