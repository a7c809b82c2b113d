/* infer/pool.c: worker threads shared by the sessions of a process (struct infer_pool), and the
 * per-submitter queues (struct kern_pool) through which each session hands them work.
 *
 * Ownership (STYLE.md 14 allows no hidden process-wide objects): the pool is an explicit object.
 * Its owner creates it once with infer_pool_new(n_threads) and passes it to every session it opens
 * (infer_session_params.pool); rag/generate.c does so for the answer.max_concurrent sessions, so N
 * concurrent sessions share n_threads - 1 workers instead of starting N pools. A session opened
 * without one (the CLI, tests, the embedder) gets a private pool through kern_pool_new(), exactly
 * as before.
 *
 * Jobs: a queue holds one job at a time, described by its claim word
 *   tag (22 bits) << 42 | mode (2) << 40
 * plus fn/ffn/sfn, ud and n_done. RUN jobs have n = n_threads slices, slice i running fn(ud, i, n_threads);
 * FOR jobs have n = n_chunks, chunk c running fn(ud, c, ith) with ith the running thread's index
 * (the submitter 0, worker w its w >= 1); SPAN jobs have n items and run fn(ud, c0, c1, ith) on
 * runs of consecutive items. A job's items are dealt out as n_threads contiguous ranges, one per
 * thread, each a word tag << 42 | end << 20 | next: a thread takes items from the front of its own
 * range, in order (half of what is left at a time, at most the job's max_bite: 1 for RUN and FOR,
 * more for SPAN, so a span's last items go singly), then steals single items from the back of the
 * others' (by CAS on the range word). So each thread reads its part of a matrix as one stream
 * (threads taking chunks in turn made each one's stream restart after every chunk: MoE tg at 2
 * threads, 1 MB chunks, interleaved runs: Q8_0 39.9-44.3 tok/s in turns, 43.6-47.3 by ranges;
 * Q4_K_M 52-61 and 64-68), and a thread
 * the OS deschedules leaves its range to the others. The tag changes with every job and every range
 * is written before the claim word publishes the job, so a stale worker's CAS fails. A claimed item
 * keeps the submitter inside kern_pool_run/for until it is done (n_done), which keeps fn/ud valid
 * while it runs. Which thread runs an item never changes what it computes,
 * so results are the same at any number of threads and with any other session running beside.
 *
 * Workers: each scans the in-use queues (starting one further each round, so no session starves)
 * and works off what it can claim; with nothing to do it spins on `gen` (bumped by every job) for a
 * while, for cheap wake-ups between the many small matmuls of a forward pass, then sleeps on `wake`.
 * Queue slots live in the pool's fixed array and are never freed before it, so a worker may look at
 * a queue that is being closed.
 *
 * Profiling (kern_pool_prof, for kbox model bench --profile): a queue may carry counters, one
 * 64-byte line per thread (busy time and items run, written only by that thread; the submitter's
 * end-of-job wait in line 0). They are read and freed only between jobs. Without them an item costs
 * one extra relaxed load.
 *
 * Lock rules: one thread submits to a queue at a time; fn must not submit to the same queue. `mu`
 * guards the sleeping protocol (sleepers) and the slot table (in_use); everything a job needs is
 * atomic. Tests: tests/infer/test_pool.c (every slice and chunk exactly once, sequential runs, two
 * submitters on one pool; two sessions decoding concurrently on one pool). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer/pool.h"

#define POOL_MAX_THREADS 256
#define POOL_MAX_QUEUES 128 /* sessions on one pool (answer.max_concurrent is at most 64) */
#define POOL_SPIN 4000 /* pause loops (about 0.1-0.5 ms) before yielding or sleeping */
#define FOR_BITS 20 /* a range's end and next: up to 2^20 - 1 items per job */
#define FOR_MASK ((1ull << FOR_BITS) - 1)
#define MODE_SHIFT (2 * FOR_BITS)
#define TAG_SHIFT (2 * FOR_BITS + 2)
#define TAG_MASK ((1u << (64 - TAG_SHIFT)) - 1)

enum pool_mode { MODE_RUN = 1, MODE_FOR = 2, MODE_SPAN = 3 };

typedef void (*run_fn)(void *ud, int ith, int nth);
typedef void (*for_fn)(void *ud, int64_t chunk, int ith);
typedef void (*span_fn)(void *ud, int64_t c0, int64_t c1, int ith);

/* One thread's range of a job's items: tag << TAG_SHIFT | end << FOR_BITS | next, on its own
 * cache line. */
struct pool_range {
    atomic_ullong w;
    char pad[64 - sizeof(atomic_ullong)];
};

struct kern_pool {
    struct infer_pool *p;   /* the workers this queue feeds; owned when owns_workers */
    atomic_ullong claim;    /* tag << 42 | mode << 40 */
    _Atomic(run_fn) fn;     /* RUN job */
    _Atomic(for_fn) ffn;    /* FOR job */
    _Atomic(span_fn) sfn;   /* SPAN job */
    atomic_ullong max_bite; /* most items a thread claims from its own range at once (SPAN jobs > 1) */
    _Atomic(void *) ud;
    atomic_llong n_done;    /* items finished of the current job */
    struct pool_range *range; /* (n_threads) the job's per-thread ranges; in the pool's range_mem */
    unsigned tag;           /* submitter-only: tag of the last job */
    bool in_use;            /* under p->mu */
    bool owns_workers;      /* kern_pool_new(): free the workers with the queue */
    struct pool_prof *_Atomic prof; /* NULL: no timing (the default); owned, see kern_pool_prof */
    char pad[64];           /* keeps two busy queues off one cache line */
};

/* Per-thread counters of one queue while profiling: each thread writes only its own line. */
struct pool_prof_thr {
    uint64_t busy_ns;  /* running this queue's items */
    uint64_t wait_ns;  /* submitter (ith 0) only: waiting for other threads' items of its jobs */
    uint64_t items;    /* items run */
    char pad[64 - 3 * sizeof(uint64_t)];
};
struct pool_prof {
    uint64_t jobs;     /* jobs published (submitter-only) */
    char pad[56];
    struct pool_prof_thr thr[]; /* (n_threads) */
};

static uint64_t prof_ns(void)
{
    return (uint64_t)(kb_now_s() * 1e9);
}

struct worker_arg {
    struct infer_pool *p;
    int ith;
};

struct infer_pool {
    int n_threads;             /* workers including a submitter */
    pthread_t *threads;        /* (n_threads - 1); owned */
    struct worker_arg *args;   /* (n_threads - 1); owned */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_ullong gen;         /* bumped by every published job and by stop */
    atomic_bool stop;
    atomic_int n_slots;        /* one past the highest queue slot ever used */
    int sleepers;              /* workers waiting on wake; under mu */
    struct kern_pool *queues;  /* (POOL_MAX_QUEUES); owned */
    void *range_mem;           /* the queues' ranges (64-byte aligned inside); owned */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Runs the claimed items [c0, c1) of q's current job (claim word c) and counts them done. */
static void queue_run_items(struct kern_pool *q, unsigned long long c, unsigned long long c0, unsigned long long c1,
                            int ith)
{
    /* the submitter waits for these items, so fn/ud are this job's (and prof stays allocated) */
    void *ud = atomic_load_explicit(&q->ud, memory_order_relaxed);
    struct pool_prof *pr = atomic_load_explicit(&q->prof, memory_order_relaxed);
    uint64_t t0 = pr ? prof_ns() : 0;
    unsigned mode = (c >> MODE_SHIFT) & 3u;
    if (mode == MODE_RUN)
        for (unsigned long long i = c0; i < c1; i++)
            atomic_load_explicit(&q->fn, memory_order_relaxed)(ud, (int)i, q->p->n_threads);
    else if (mode == MODE_FOR)
        for (unsigned long long i = c0; i < c1; i++)
            atomic_load_explicit(&q->ffn, memory_order_relaxed)(ud, (int64_t)i, ith);
    else
        atomic_load_explicit(&q->sfn, memory_order_relaxed)(ud, (int64_t)c0, (int64_t)c1, ith);
    if (pr) {
        pr->thr[ith].busy_ns += prof_ns() - t0;
        pr->thr[ith].items += c1 - c0;
    }
    atomic_fetch_add_explicit(&q->n_done, (long long)(c1 - c0), memory_order_release);
}

/* Claims and runs items of q's current job until none is left: from the front of thread ith's
 * range, half of what is left of it at a time but at most the job's max_bite items (1 for RUN and
 * FOR jobs), then single items from the back of the others'. Stops at a range of another tag (the
 * job is over and another may have begun). True when it ran any. */
static bool queue_help(struct kern_pool *q, int ith)
{
    unsigned long long c = atomic_load_explicit(&q->claim, memory_order_acquire);
    unsigned long long tag = c >> TAG_SHIFT;
    int nth = q->p->n_threads;
    bool did = false;
    for (int k = 0; k < nth; k++) {
        atomic_ullong *r = &q->range[(ith + k) % nth].w;
        for (;;) {
            unsigned long long w = atomic_load_explicit(r, memory_order_acquire);
            unsigned long long end = (w >> FOR_BITS) & FOR_MASK, next = w & FOR_MASK;
            if (w >> TAG_SHIFT != tag)
                return did;
            if (next >= end)
                break;
            unsigned long long bite = 1;
            if (k == 0)
                bite = KB_MAX(1ull, KB_MIN(atomic_load_explicit(&q->max_bite, memory_order_relaxed),
                                           (end - next + 1) / 2));
            unsigned long long nw = k == 0 ? w + bite : w - (1ull << FOR_BITS);
            if (!atomic_compare_exchange_weak_explicit(r, &w, nw, memory_order_acq_rel, memory_order_acquire))
                continue;
            if (k == 0)
                queue_run_items(q, c, next, next + bite, ith);
            else
                queue_run_items(q, c, end - 1, end, ith);
            did = true;
        }
    }
    return did;
}

/* Waits for gen to move past g: spins first, then sleeps on wake. */
static void worker_wait(struct infer_pool *p, unsigned long long g)
{
    for (int spins = 0; spins < POOL_SPIN; spins++) {
        if (atomic_load(&p->gen) != g)
            return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    p->sleepers++;
    while (atomic_load(&p->gen) == g)
        pthread_cond_wait(&p->wake, &p->mu);
    p->sleepers--;
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct infer_pool *p = wa->p;
    int start = 0;
    for (;;) {
        /* gen is read before the scan: a job published after the scan has changed it */
        unsigned long long g = atomic_load(&p->gen);
        if (atomic_load(&p->stop))
            break;
        int n = atomic_load(&p->n_slots);
        bool did = false;
        for (int k = 0; k < n; k++)
            did |= queue_help(&p->queues[(start + k) % n], wa->ith);
        start++;
        if (!did)
            worker_wait(p, g);
    }
    return NULL;
}

static void pool_wake(struct infer_pool *p)
{
    atomic_fetch_add(&p->gen, 1); /* seq_cst: ordered before the sleepers check below */
    pthread_mutex_lock(&p->mu);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

int infer_pool_new(struct infer_pool **out, int n_threads, struct kb_error *err)
{
    int rc = 0;
    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > POOL_MAX_THREADS)
        return kb_error_set(err, KB_EINVAL, "thread pool: %d threads is more than %d", n_threads,
                            POOL_MAX_THREADS);
    struct infer_pool *p = kb_xcalloc(1, sizeof *p);
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->n_slots, 0);
    p->queues = kb_xcalloc(POOL_MAX_QUEUES, sizeof *p->queues);
    p->range_mem = kb_xcalloc((size_t)POOL_MAX_QUEUES * (size_t)n_threads + 1, sizeof(struct pool_range));
    struct pool_range *ranges = (struct pool_range *)(((uintptr_t)p->range_mem + 63) & ~(uintptr_t)63);
    for (int i = 0; i < POOL_MAX_QUEUES; i++) {
        struct kern_pool *q = &p->queues[i];
        q->p = p;
        q->range = ranges + (size_t)i * (size_t)n_threads;
        for (int t = 0; t < n_threads; t++)
            atomic_init(&q->range[t].w, 0);
        atomic_init(&q->claim, 0);
        atomic_init(&q->fn, NULL);
        atomic_init(&q->ffn, NULL);
        atomic_init(&q->sfn, NULL);
        atomic_init(&q->max_bite, 1);
        atomic_init(&q->ud, NULL);
        atomic_init(&q->n_done, 0);
    }
    if (n_threads > 1) {
        p->threads = kb_xcalloc((size_t)n_threads - 1, sizeof *p->threads);
        p->args = kb_xcalloc((size_t)n_threads - 1, sizeof *p->args);
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
        infer_pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void infer_pool_free(struct infer_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pool_wake(p);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i - 1], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p->queues);
    free(p->range_mem);
    free(p);
}

int infer_pool_n_threads(const struct infer_pool *p)
{
    return p ? p->n_threads : 1;
}

int kern_pool_new_on(struct kern_pool **out, struct infer_pool *p, struct kb_error *err)
{
    int rc = KB_EBUSY;
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < POOL_MAX_QUEUES; i++) {
        if (p->queues[i].in_use)
            continue;
        p->queues[i].in_use = true;
        p->queues[i].owns_workers = false;
        if (i >= atomic_load(&p->n_slots))
            atomic_store(&p->n_slots, i + 1);
        *out = &p->queues[i];
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc)
        kb_error_set(err, rc, "thread pool: more than %d sessions share it", POOL_MAX_QUEUES);
    return rc;
}

int kern_pool_new(struct kern_pool **out, int n_threads, struct kb_error *err)
{
    struct infer_pool *p;
    int rc;
    *out = NULL;
    if ((rc = infer_pool_new(&p, n_threads, err)))
        return rc;
    KB_ASSERT(kern_pool_new_on(out, p, NULL) == 0);
    (*out)->owns_workers = true;
    return 0;
}

void kern_pool_free(struct kern_pool *q)
{
    if (!q)
        return;
    struct infer_pool *p = q->p;
    free(atomic_exchange(&q->prof, NULL)); /* no job of this queue runs now */
    if (q->owns_workers) {
        infer_pool_free(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    q->in_use = false;
    pthread_mutex_unlock(&p->mu);
}

void kern_pool_prof(struct kern_pool *q, bool on)
{
    if (!q)
        return;
    struct pool_prof *pr = atomic_load(&q->prof);
    if (on && !pr) {
        pr = kb_xcalloc(1, sizeof *pr + (size_t)q->p->n_threads * sizeof pr->thr[0]);
        atomic_store(&q->prof, pr);
    } else if (on) {
        memset(pr, 0, sizeof *pr + (size_t)q->p->n_threads * sizeof pr->thr[0]);
    } else {
        free(atomic_exchange(&q->prof, NULL));
    }
}

void kern_pool_prof_read(const struct kern_pool *q, struct kern_pool_prof *out)
{
    memset(out, 0, sizeof *out);
    struct pool_prof *pr = q ? atomic_load(&q->prof) : NULL;
    if (!pr)
        return;
    out->n_threads = KB_MIN(q->p->n_threads, KERN_POOL_PROF_MAX);
    out->jobs = pr->jobs;
    for (int i = 0; i < out->n_threads; i++) {
        out->busy_ns[i] = pr->thr[i].busy_ns;
        out->wait_ns[i] = pr->thr[i].wait_ns;
        out->items[i] = pr->thr[i].items;
    }
}

int kern_pool_n_threads(const struct kern_pool *q)
{
    return q ? q->p->n_threads : 1;
}

/* Publishes a job of n items on q, works on it with the workers, and returns when all are done. */
static void queue_submit(struct kern_pool *q, int mode, int64_t n, int64_t max_bite)
{
    atomic_store_explicit(&q->n_done, 0, memory_order_relaxed);
    atomic_store_explicit(&q->max_bite, (unsigned long long)max_bite, memory_order_relaxed);
    q->tag = (q->tag + 1) & TAG_MASK;
    unsigned long long tag = (unsigned long long)q->tag << TAG_SHIFT;
    int nth = q->p->n_threads;
    for (int t = 0; t < nth; t++) {
        unsigned long long b = (unsigned long long)(n * t / nth), e = (unsigned long long)(n * (t + 1) / nth);
        atomic_store_explicit(&q->range[t].w, tag | e << FOR_BITS | b, memory_order_relaxed);
    }
    unsigned long long w = tag | (unsigned long long)mode << MODE_SHIFT;
    atomic_store_explicit(&q->claim, w, memory_order_release);
    pool_wake(q->p);
    queue_help(q, 0);
    /* only items that a running worker has claimed are outstanding: wait for them */
    struct pool_prof *pr = atomic_load_explicit(&q->prof, memory_order_relaxed);
    uint64_t t0 = pr ? prof_ns() : 0;
    int spins = 0;
    while (atomic_load_explicit(&q->n_done, memory_order_acquire) != n) {
        if (++spins < POOL_SPIN)
            cpu_relax();
        else
            sched_yield(); /* a late worker may be waiting for this core */
    }
    if (pr) {
        pr->thr[0].wait_ns += prof_ns() - t0;
        pr->jobs++;
    }
}

void kern_pool_run(struct kern_pool *q, void (*fn)(void *ud, int ith, int nth), void *ud)
{
    if (!q || q->p->n_threads == 1) {
        fn(ud, 0, 1);
        return;
    }
    atomic_store(&q->fn, fn);
    atomic_store(&q->ud, ud);
    queue_submit(q, MODE_RUN, q->p->n_threads, 1);
}

void kern_pool_for(struct kern_pool *q, int64_t n_chunks, void (*fn)(void *ud, int64_t chunk, int ith), void *ud)
{
    KB_ASSERT(n_chunks >= 0 && (unsigned long long)n_chunks <= FOR_MASK);
    if (!q || q->p->n_threads == 1 || n_chunks <= 1) {
        for (int64_t c = 0; c < n_chunks; c++)
            fn(ud, c, 0);
        return;
    }
    atomic_store(&q->ffn, fn);
    atomic_store(&q->ud, ud);
    queue_submit(q, MODE_FOR, n_chunks, 1);
}

void kern_pool_for_span(struct kern_pool *q, int64_t n_items, int64_t max_bite,
                        void (*fn)(void *ud, int64_t c0, int64_t c1, int ith), void *ud)
{
    KB_ASSERT(n_items >= 0 && (unsigned long long)n_items <= FOR_MASK && max_bite >= 1);
    if (!q || q->p->n_threads == 1 || n_items <= 1) {
        if (n_items > 0)
            fn(ud, 0, n_items, 0);
        return;
    }
    atomic_store(&q->sfn, fn);
    atomic_store(&q->ud, ud);
    queue_submit(q, MODE_SPAN, n_items, max_bite);
}
