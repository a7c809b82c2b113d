/* tests/infer/test_pool_sessions.c: sessions sharing one infer_pool. For a table of synthetic
 * models (dense qwen3, qwen3moe, deepseek2: the RUN and FOR paths of every architecture family),
 * greedy decodes are run (a) alone on a private 1-thread pool, (b) alone on a shared 2-thread pool,
 * and (c) as two sessions on that shared pool decoding different prompts at the same time from two
 * threads; every run must give bit-identical tokens to (a). Also: two raw queues on one pool
 * submitting RUN and FOR jobs concurrently see every slice and chunk exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "infer/infer.h"
#include "infer/pool.h"

#define N_GEN 24
#define N_PROMPT 12

struct decode {
    struct infer_session *s;
    int n_vocab;
    int32_t prompt[N_PROMPT];
    int32_t out[N_GEN];
    float *lg; /* (n_vocab) */
    int rc;
};

/* Greedy: eval the prompt, then N_GEN argmax tokens, one eval each. */
static void *decode_run(void *arg)
{
    struct decode *d = arg;
    struct kb_error err = {0};
    infer_session_reset(d->s);
    d->rc = infer_eval(d->s, d->prompt, N_PROMPT, d->lg, false, &err);
    for (int i = 0; i < N_GEN && d->rc == 0; i++) {
        int32_t b = 0;
        for (int v = 1; v < d->n_vocab; v++)
            if (d->lg[v] > d->lg[b])
                b = v;
        d->out[i] = b;
        d->rc = infer_eval(d->s, &b, 1, d->lg, false, &err);
    }
    return NULL;
}

static void decode_init(struct decode *d, struct infer_session *s, int n_vocab, int salt)
{
    memset(d, 0, sizeof *d);
    d->s = s;
    d->n_vocab = n_vocab;
    d->lg = kb_xmalloc((size_t)n_vocab * sizeof *d->lg);
    for (int i = 0; i < N_PROMPT; i++)
        d->prompt[i] = (int32_t)((300 + 37 * i + 101 * salt) % n_vocab);
}

static struct infer_session *open_session(struct infer_model *m, struct infer_pool *pool, int n_threads)
{
    struct infer_session_params sp;
    struct infer_session *s = NULL;
    struct kb_error err = {0};
    infer_session_params_default(&sp);
    sp.n_ctx = 64;
    sp.n_threads = n_threads;
    sp.pool = pool;
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    return s;
}

static void check_model(const char *arch, const char *type)
{
    char path[256];
    struct infer_synth_params sp;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_model_info in;
    struct infer_pool *pool = NULL;
    struct decode alone[2], shared[2];
    snprintf(path, sizeof path, "/tmp/kbox-test-pool-sessions-%d-%s.gguf", (int)getpid(), arch);
    infer_synth_params_default(&sp, arch);
    sp.type = infer_type_from_name(type);
    if (infer_synth_write(path, &sp, &err) || infer_model_open(&m, path, &err))
        fail_msg("%s: %s", arch, err.msg);
    infer_model_get_info(m, &in);
    assert_int_equal(infer_pool_new(&pool, 2, &err), 0);
    assert_int_equal(infer_pool_n_threads(pool), 2);
    for (int k = 0; k < 2; k++) { /* (a) alone, private pool of 1; (b) alone, shared pool */
        struct infer_session *s1 = open_session(m, NULL, 1), *s2 = open_session(m, pool, 0);
        decode_init(&alone[k], s1, in.n_vocab, k);
        decode_init(&shared[k], s2, in.n_vocab, k);
        decode_run(&alone[k]);
        decode_run(&shared[k]);
        assert_int_equal(alone[k].rc, 0);
        assert_int_equal(shared[k].rc, 0);
        assert_memory_equal(alone[k].out, shared[k].out, sizeof alone[k].out);
        infer_session_free(s1);
        infer_session_free(s2);
        free(shared[k].lg);
    }
    /* (c) both prompts at once on the shared pool, a few times over */
    for (int round = 0; round < 3; round++) {
        pthread_t th[2];
        for (int k = 0; k < 2; k++)
            decode_init(&shared[k], open_session(m, pool, 0), in.n_vocab, k);
        for (int k = 0; k < 2; k++)
            assert_int_equal(pthread_create(&th[k], NULL, decode_run, &shared[k]), 0);
        for (int k = 0; k < 2; k++) {
            pthread_join(th[k], NULL);
            assert_int_equal(shared[k].rc, 0);
            assert_memory_equal(alone[k].out, shared[k].out, sizeof alone[k].out);
            infer_session_free(shared[k].s);
            free(shared[k].lg);
        }
    }
    for (int k = 0; k < 2; k++)
        free(alone[k].lg);
    infer_pool_free(pool);
    infer_model_close(m);
    unlink(path);
}

static void test_sessions_share_pool(void **state)
{
    (void)state;
    check_model("qwen3", "Q8_0");
    check_model("qwen3moe", "Q4_K");
    check_model("deepseek2", "Q8_0");
}

/* ---- two raw queues on one pool ------------------------------------------------------------------ */

struct qjob {
    struct kern_pool *q;
    atomic_int slices[8];
    atomic_int *chunks; /* (N_CHUNKS) */
    int bad;
};

#define N_CHUNKS 3000
#define N_ROUNDS 200

static void q_run(void *ud, int ith, int nth)
{
    struct qjob *j = ud;
    if (nth != kern_pool_n_threads(j->q) || ith < 0 || ith >= nth)
        j->bad = 1;
    atomic_fetch_add(&j->slices[ith], 1);
}

static void q_for(void *ud, int64_t c, int ith)
{
    struct qjob *j = ud;
    if (ith < 0 || ith >= kern_pool_n_threads(j->q))
        j->bad = 1;
    atomic_fetch_add(&j->chunks[c], 1);
}

static void *q_main(void *arg)
{
    struct qjob *j = arg;
    for (int r = 0; r < N_ROUNDS; r++) {
        kern_pool_run(j->q, q_run, j);
        kern_pool_for(j->q, N_CHUNKS, q_for, j);
    }
    return NULL;
}

static void test_two_queues(void **state)
{
    (void)state;
    struct infer_pool *pool = NULL;
    struct qjob j[2];
    pthread_t th[2];
    assert_int_equal(infer_pool_new(&pool, 3, NULL), 0);
    for (int k = 0; k < 2; k++) {
        memset(&j[k], 0, sizeof j[k]);
        j[k].chunks = calloc(N_CHUNKS, sizeof *j[k].chunks);
        assert_int_equal(kern_pool_new_on(&j[k].q, pool, NULL), 0);
        assert_int_equal(kern_pool_n_threads(j[k].q), 3);
    }
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, q_main, &j[k]), 0);
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(j[k].bad, 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(atomic_load(&j[k].slices[i]), N_ROUNDS);
        for (int c = 0; c < N_CHUNKS; c++)
            assert_int_equal(atomic_load(&j[k].chunks[c]), N_ROUNDS);
        kern_pool_free(j[k].q);
        free(j[k].chunks);
    }
    infer_pool_free(pool);
    infer_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_two_queues), cmocka_unit_test(test_sessions_share_pool)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
