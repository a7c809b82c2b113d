/* infer/pool.h (internal to infer/): worker threads shared by every session of a process, and the
 * per-user work queue through which a session hands them its parallel regions.
 *
 * struct infer_pool (opaque, public in infer/infer.h) is one set of n_threads - 1 worker threads;
 * its owner creates it once (rag/generate.c for the answer sessions) and passes it to every
 * session it opens. struct kern_pool is one submitter's queue on such a set: it carries at most one
 * job at a time, and the caller always works on its own job too (it is worker 0 of FOR jobs and
 * claims RUN slices like any worker), so a job finishes even when every worker is busy elsewhere.
 * N sessions on one infer_pool share its threads instead of starting N x n_threads of them.
 * Lock rules: one thread submits to a queue at a time (a session belongs to one thread at a time);
 * fn must not submit to the same queue. Tests: tests/infer/test_pool.c. */
#ifndef KB_INFER_POOL_H
#define KB_INFER_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "infer/infer.h" /* struct infer_pool: infer_pool_new/free/n_threads */

struct kern_pool;

/* A queue on its own private workers (tests, tools, a session opened without a shared pool).
 * Caller owns; free with kern_pool_free(), which also stops those workers. */
int kern_pool_new(struct kern_pool **out, int n_threads, struct kb_error *err); /* 0 = all cores */
/* A queue on the shared workers of `workers` (borrowed; valid until the queue is freed).
 * KB_EBUSY when POOL_MAX_QUEUES queues are open on it. Caller owns; free with kern_pool_free(). */
int kern_pool_new_on(struct kern_pool **out, struct infer_pool *workers, struct kb_error *err);
void kern_pool_free(struct kern_pool *q); /* NULL ok */
/* nth of RUN jobs, and one more than the largest `ith` a FOR chunk can see: the workers' n_threads. */
int kern_pool_n_threads(const struct kern_pool *q);

/* fn(ud, ith, nth) once for every ith in [0, nth), nth = kern_pool_n_threads(); each slice is run
 * by whichever thread claims it (the caller included), so work must be split by (ith, nth) and
 * per-thread scratch indexed by ith. Returns when all slices are done. */
void kern_pool_run(struct kern_pool *q, void (*fn)(void *ud, int ith, int nth), void *ud);
/* Dynamic split: fn(ud, chunk, ith) for every chunk in [0, n_chunks) (n_chunks < 2^20), each chunk
 * claimed by whichever thread is free (the caller included, as ith 0); returns when all are done.
 * A worker descheduled by the OS does not hold the caller up (it finds no chunk left), so prefer
 * this for work that splits into many equal pieces (the matmul does). `ith` (< n_threads) is for
 * per-thread scratch. */
void kern_pool_for(struct kern_pool *q, int64_t n_chunks, void (*fn)(void *ud, int64_t chunk, int ith), void *ud);

/* Streaming split: like kern_pool_for, but fn(ud, c0, c1, ith) gets a run of consecutive items
 * [c0, c1). A thread takes its own range's items from the front, half of what is left at a time and
 * at most max_bite (>= 1) at once, so it reads its part as a few long runs while the last claims,
 * and the others' steals from the back, are single items: with small items the threads finish
 * together, and a descheduled thread holds at most max_bite items back. One thread: one call
 * fn(ud, 0, n_items, 0). For matrix-vector products (infer/matmul.c, infer/layers_moe.c). */
void kern_pool_for_span(struct kern_pool *q, int64_t n_items, int64_t max_bite,
                        void (*fn)(void *ud, int64_t c0, int64_t c1, int ith), void *ud);

/* Profiling (kbox model bench --profile): with it on, every item run for this queue adds its time
 * to its thread's busy_ns, and the submitter adds the time it spins at the end of a job for other
 * threads' items to wait_ns (the barrier wait). Off (the default) costs one relaxed load per item.
 * on: allocates (or zeroes) the counters; off frees them. Not while a job of q runs. */
#define KERN_POOL_PROF_MAX 16
struct kern_pool_prof {
    int n_threads;                        /* threads reported (<= KERN_POOL_PROF_MAX) */
    uint64_t jobs;                        /* jobs published (1-thread pools publish none) */
    uint64_t busy_ns[KERN_POOL_PROF_MAX]; /* per thread: running this queue's items */
    uint64_t wait_ns[KERN_POOL_PROF_MAX]; /* [0] only: the submitter's end-of-job wait */
    uint64_t items[KERN_POOL_PROF_MAX];   /* per thread: items run */
};
void kern_pool_prof(struct kern_pool *q, bool on);
void kern_pool_prof_read(const struct kern_pool *q, struct kern_pool_prof *out); /* zeros when off */

#endif
