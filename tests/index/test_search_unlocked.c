/* tests/index/test_search_unlocked.c: index_search embeds the query outside the store's lock.
 * A gated embedder (the built-in one behind a condition variable for queries starting "SLOW")
 * holds one search inside embedding while the main thread runs another search and commits a
 * document: both must complete before the slow search is released (no timing asserts beyond
 * that, waits bounded at 30 s). The slow search's hits must then equal the same query's hits
 * run again on the unchanged store, which is what the lock-held path returns. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "idx_test.h"

struct gate_emb {
    struct index_embedder iface;
    struct index_embedder *inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed, entered, released;
};

static int gate_embed(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    struct gate_emb *g = ud;
    pthread_mutex_lock(&g->mu);
    if (g->armed && n == 1 && strncmp(texts[0], "SLOW", 4) == 0) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 30;
        g->entered = true;
        pthread_cond_broadcast(&g->cv);
        while (!g->released)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&g->mu);
    return g->inner->embed(g->inner->ud, texts, n, out, err);
}

struct slow_search {
    struct index_store *st;
    struct index_search_opts o;
    struct kb_arena a;
    struct index_hit *hits;
    int n_hits, rc;
    bool done;
    pthread_mutex_t *mu;
};

static void *slow_search_run(void *ud)
{
    struct slow_search *s = ud;
    struct kb_error err = {0};
    s->rc = index_search(s->st, "SLOW apples orchard harvest", &s->o, &s->a, &s->hits, &s->n_hits, &err);
    pthread_mutex_lock(s->mu);
    s->done = true;
    pthread_mutex_unlock(s->mu);
    return NULL;
}

static void put_doc(struct index_store *st, const char *path, const char *text)
{
    struct index_doc d = {0};
    struct index_chunk c = {0};
    struct kb_error err = {0};
    int64_t id = 0;
    d.name = d.path = path;
    d.mime = "text/plain";
    c.text = text;
    assert_int_equal(index_doc_replace(st, &d, &c, 1, NULL, NULL, 0, &id, &err), 0);
}

static void test_search_while_embedding(void **state)
{
    (void)state;
    char *dir = idx_tmpdir();
    struct gate_emb g = {0};
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct slow_search s = {0};
    struct kb_arena a2;
    struct index_hit *h2 = NULL;
    int n2 = 0;
    pthread_t th;
    static const char *const texts[] = {
        "apples grow in the orchard and the harvest is in autumn",
        "bananas are yellow and grow in warm countries",
        "the orchard keeps apples and pears through the winter",
        "a harvest festival celebrates apples, grapes and bread",
        "cherries ripen early in summer",
    };
    assert_int_equal(index_embedder_builtin_new(&g.inner, 256, &err), 0);
    g.iface = *g.inner;
    g.iface.embed = gate_embed;
    g.iface.embed_query = NULL; /* queries go through embed() and the gate */
    g.iface.ud = &g;
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(idx_open(&st, dir, &g.iface, &err), 0);
    for (size_t i = 0; i < KB_ARRAY_LEN(texts); i++) {
        char p[32];
        snprintf(p, sizeof(p), "d%zu.txt", i);
        put_doc(st, p, texts[i]);
    }

    /* one search held inside its query embedding */
    g.armed = true;
    s.st = st;
    s.mu = &g.mu;
    s.o.top_k = 5;
    s.o.mode = INDEX_MODE_HYBRID;
    s.o.rrf_k = 60;
    kb_arena_init(&s.a, 4096, 0);
    assert_int_equal(pthread_create(&th, NULL, slow_search_run, &s), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    /* meanwhile: another search and a commit complete */
    kb_arena_init(&a2, 4096, 0);
    assert_int_equal(index_search(st, "bananas yellow", &s.o, &a2, &h2, &n2, &err), 0);
    assert_true(n2 >= 1);
    assert_string_equal(h2[0].doc_path, "d1.txt");
    put_doc(st, "late.txt", "plums and apricots");
    pthread_mutex_lock(&g.mu);
    assert_false(s.done); /* still inside the embedding: the store lock was not needed */
    g.released = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(s.rc, 0);
    assert_true(s.n_hits >= 3);

    /* the same query again on the same store: identical hits and scores */
    g.armed = false;
    kb_arena_release(&a2);
    assert_int_equal(index_search(st, "SLOW apples orchard harvest", &s.o, &a2, &h2, &n2, &err), 0);
    assert_int_equal(n2, s.n_hits);
    for (int i = 0; i < n2; i++) {
        assert_int_equal(h2[i].chunk_id, s.hits[i].chunk_id);
        assert_true(h2[i].score == s.hits[i].score);
        assert_true(h2[i].vector == s.hits[i].vector);
        assert_true(h2[i].bm25 == s.hits[i].bm25);
    }
    index_store_close(st);
    kb_arena_release(&s.a);
    kb_arena_release(&a2);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    index_embedder_builtin_free(g.inner);
    idx_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_while_embedding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
