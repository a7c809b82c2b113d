/* tests/index/test_reembed.c: changing the embedder of a knowledge base (real SQLite file, real
 * FAISS). A store built with one built-in embedder (512 dims) opens with another (256 dims) in
 * background mode: search keeps working on the old vectors with the old embedder, documents added
 * meanwhile are found at once and get both embedders' vectors, index_reembed_step() reports
 * progress, a store closed mid-way resumes where it stopped, a child killed with SIGKILL mid-way
 * loses nothing, and the switch leaves only the new embedder's vectors, searched with it. Without
 * the old embedder the transition is BM25-only. The synchronous mode re-embeds inside open. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>

#include "idx_test.h"

#define N_DOCS 40
#define CHUNKS_PER_DOC 3

static const char *const topics[] = {"lighthouse keepers and foghorns", "kettle descaling with vinegar",
                                     "router firmware updates", "sourdough starter feeding",
                                     "bicycle chain lubrication"};

static int open_store(struct index_store **st, const char *dir, const struct index_embedder *emb,
                      const struct index_embedder *prev, bool background, struct kb_error *err)
{
    struct index_open_opts o;
    const struct index_embedder *pv[1] = {prev};
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.embedder = emb;
    o.ann_threshold = 200000;
    o.reembed_in_background = background;
    o.prev_embedders = prev ? pv : NULL;
    o.n_prev_embedders = prev ? 1 : 0;
    return index_store_open(st, &o, err); /* opts are read during open; pv may go */
}

static void put_doc(struct index_store *st, int i, const char *extra)
{
    struct index_doc d;
    struct index_chunk ch[CHUNKS_PER_DOC];
    char path[64], texts[CHUNKS_PER_DOC][200];
    struct kb_error err = {0};
    memset(&d, 0, sizeof(d));
    memset(ch, 0, sizeof(ch));
    snprintf(path, sizeof(path), "/docs/%d%s.txt", i, extra);
    d.path = path;
    d.name = path + 6;
    for (int k = 0; k < CHUNKS_PER_DOC; k++) {
        snprintf(texts[k], sizeof(texts[k]), "Document %d part %d is about %s %s", i, k,
                 topics[(i + k) % (int)KB_ARRAY_LEN(topics)], extra);
        ch[k].text = texts[k];
    }
    if (index_doc_replace(st, &d, ch, CHUNKS_PER_DOC, NULL, NULL, 0, NULL, &err) != 0)
        fail_msg("replace %s: %s", path, err.msg);
}

static int search(struct index_store *st, const char *q, enum index_mode mode, struct kb_arena *a,
                  struct index_hit **hits)
{
    struct index_search_opts o;
    struct kb_error err = {0};
    int n = -1;
    memset(&o, 0, sizeof(o));
    o.top_k = 5;
    o.mode = mode;
    o.rrf_k = 60;
    if (index_search(st, q, &o, a, hits, &n, &err) != 0)
        fail_msg("search '%s': %s", q, err.msg);
    return n;
}

static void build(const char *dir, const struct index_embedder *e)
{
    struct index_store *st = NULL;
    struct kb_error err = {0};
    assert_int_equal(open_store(&st, dir, e, NULL, false, &err), 0);
    for (int i = 0; i < N_DOCS; i++)
        put_doc(st, i, "");
    index_store_close(st);
}

static int run_steps(struct index_store *st, int max_steps, int batch, struct index_reembed_status *s)
{
    struct kb_error err = {0};
    bool fin = false;
    int k = 0;
    for (; k < max_steps && !fin; k++)
        if (index_reembed_step(st, batch, s, &fin, &err) != 0)
            fail_msg("reembed step: %s", err.msg);
    return fin ? 1 : 0;
}

static void test_background_switch(void **state)
{
    (void)state;
    char *dir = idx_tmpdir();
    struct index_embedder *e512 = NULL, *e256 = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct index_reembed_status s;
    struct index_check c;
    struct kb_arena a;
    struct index_hit *h;
    double old_score;
    int64_t old_chunk, done_before;
    int n;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(index_embedder_builtin_new(&e512, 512, &err), 0);
    assert_int_equal(index_embedder_builtin_new(&e256, 256, &err), 0);
    build(dir, e512);

    assert_int_equal(open_store(&st, dir, e512, NULL, true, &err), 0);
    n = search(st, "kettle descaling", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1);
    old_score = h[0].vector;
    old_chunk = h[0].chunk_id;
    index_store_close(st);

    /* the configured embedder changes: open is immediate and search uses the old vectors */
    assert_int_equal(open_store(&st, dir, e256, e512, true, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_true(s.pending);
    assert_string_equal(s.embedder_id, e256->id);
    assert_string_equal(s.stored_id, e512->id);
    assert_string_equal(s.search_id, e512->id);
    assert_int_equal(s.n_total, N_DOCS * CHUNKS_PER_DOC);
    assert_int_equal(s.n_done, 0);
    n = search(st, "kettle descaling", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1);
    assert_int_equal(h[0].chunk_id, old_chunk);
    assert_true(fabs(h[0].vector - old_score) < 1e-5);

    /* a few batches, then a document added meanwhile is found at once */
    assert_int_equal(run_steps(st, 4, 10, &s), 0);
    assert_true(s.pending);
    assert_int_equal(s.n_done, 40);
    put_doc(st, 1000, "zeppelin hangar");
    n = search(st, "zeppelin hangar", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1);
    assert_non_null(strstr(h[0].text, "zeppelin"));
    assert_true(h[0].vector > 0.2);
    /* a document deleted meanwhile is no problem */
    {
        struct index_doc doc;
        assert_int_equal(index_doc_find_by_path(st, 0, "/docs/39.txt", &a, &doc, &err), 0);
        assert_int_equal(index_doc_delete(st, doc.id, &err), 0);
    }
    /* closed mid-way (as by a restart): the next open resumes, nothing is redone */
    assert_int_equal(index_reembed_status(st, &s), 0);
    done_before = s.n_done;
    assert_true(done_before >= 40 + CHUNKS_PER_DOC);
    index_store_close(st);
    assert_int_equal(open_store(&st, dir, e256, e512, true, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_true(s.pending);
    assert_true(s.n_done >= 40 + CHUNKS_PER_DOC);
    assert_int_equal(s.n_total, N_DOCS * CHUNKS_PER_DOC); /* one document more, one less */
    n = search(st, "sourdough starter", INDEX_MODE_HYBRID, &a, &h);
    assert_true(n >= 1);
    assert_true(h[0].vector > 0);

    assert_int_equal(run_steps(st, 1000, 16, &s), 1);
    assert_false(s.pending);
    assert_string_equal(s.search_id, e256->id);
    assert_string_equal(s.stored_id, e256->id);
    assert_int_equal(s.n_done, s.n_total);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    assert_int_equal(c.n_embeddings, N_DOCS * CHUNKS_PER_DOC);
    assert_int_equal(c.n_embeddings_other, 0);
    assert_int_equal(c.n_vectors, c.n_chunks);
    n = search(st, "kettle descaling", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1);
    assert_true(fabs(h[0].vector - old_score) > 1e-4); /* other embedder, other scores */
    n = search(st, "zeppelin hangar", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1 && strstr(h[0].text, "zeppelin"));
    index_store_close(st);

    /* reopening afterwards: nothing pending, vectors loaded */
    assert_int_equal(open_store(&st, dir, e256, NULL, true, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_false(s.pending);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    index_store_close(st);

    index_embedder_builtin_free(e512);
    index_embedder_builtin_free(e256);
    kb_arena_release(&a);
    idx_rm_rf(dir);
    free(dir);
}

static void test_bm25_transition_and_sync_mode(void **state)
{
    (void)state;
    char *dir = idx_tmpdir();
    struct index_embedder *e512 = NULL, *e128 = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct index_reembed_status s;
    struct index_check c;
    struct kb_arena a;
    struct index_hit *h;
    int n;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(index_embedder_builtin_new(&e512, 512, &err), 0);
    assert_int_equal(index_embedder_builtin_new(&e128, 128, &err), 0);
    build(dir, e512);
    /* the old embedder is gone: BM25 only until the switch */
    assert_int_equal(open_store(&st, dir, e128, NULL, true, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_true(s.pending);
    assert_string_equal(s.search_id, "");
    n = search(st, "router firmware", INDEX_MODE_HYBRID, &a, &h);
    assert_true(n >= 1);
    assert_true(h[0].bm25 > 0);
    assert_true(h[0].vector == 0);
    put_doc(st, 2000, "walrus");
    assert_int_equal(run_steps(st, 1000, 64, &s), 1);
    n = search(st, "router firmware", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1 && h[0].vector > 0);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    assert_int_equal(c.n_chunks, (N_DOCS + 1) * CHUNKS_PER_DOC);
    index_store_close(st);
    /* synchronous mode: open re-embeds */
    assert_int_equal(open_store(&st, dir, e512, NULL, false, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_false(s.pending);
    assert_string_equal(s.search_id, e512->id);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    assert_int_equal(c.n_embeddings_other, 0);
    /* switching at run time back and forth */
    assert_int_equal(index_store_set_embedder(st, e128, NULL, 0, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_true(s.pending);
    assert_string_equal(s.search_id, e512->id);
    n = search(st, "walrus", INDEX_MODE_VECTOR, &a, &h);
    assert_true(n >= 1);
    assert_int_equal(run_steps(st, 3, 8, &s), 0);
    assert_int_equal(index_store_set_embedder(st, e512, NULL, 0, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_false(s.pending); /* the complete vectors were e512's all along */
    assert_int_equal(run_steps(st, 2, 8, &s), 1);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    assert_int_equal(c.n_embeddings_other, 0); /* the abandoned e128 vectors are gone */
    index_store_close(st);
    index_embedder_builtin_free(e512);
    index_embedder_builtin_free(e128);
    kb_arena_release(&a);
    idx_rm_rf(dir);
    free(dir);
}

/* A slow embedder (the built-in one plus a pause), so a child can be killed mid-way. */
struct slow_emb {
    struct index_embedder iface;
    struct index_embedder *inner;
};

static int slow_embed(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    struct slow_emb *s = ud;
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return s->inner->embed(s->inner->ud, texts, n, out, err);
}

static void test_kill_mid_job(void **state)
{
    (void)state;
    char *dir = idx_tmpdir();
    struct index_embedder *e512 = NULL, *e256 = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct index_reembed_status s;
    struct index_check c;
    int fds[2];
    pid_t pid;
    char buf[8];
    assert_int_equal(index_embedder_builtin_new(&e512, 512, &err), 0);
    assert_int_equal(index_embedder_builtin_new(&e256, 256, &err), 0);
    build(dir, e512);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct slow_emb se = {.inner = e256};
        bool fin = false;
        int k = 0;
        se.iface = *e256;
        se.iface.embed = slow_embed;
        se.iface.embed_query = NULL;
        se.iface.ud = &se;
        close(fds[0]);
        if (open_store(&st, dir, &se.iface, e512, true, &err) != 0)
            _exit(2);
        while (!fin) {
            if (index_reembed_step(st, 2, NULL, &fin, &err) != 0)
                _exit(3);
            if (++k == 10 && write(fds[1], "x", 1) != 1)
                _exit(4);
        }
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], buf, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    assert_int_equal(open_store(&st, dir, e256, e512, true, &err), 0);
    assert_int_equal(index_reembed_status(st, &s), 0);
    assert_true(s.pending);
    assert_true(s.n_done >= 18 && s.n_done < s.n_total);
    assert_int_equal(s.n_total, N_DOCS * CHUNKS_PER_DOC);
    assert_int_equal(run_steps(st, 1000, 32, &s), 1);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_true(c.ok);
    assert_int_equal(c.n_chunks, N_DOCS * CHUNKS_PER_DOC);
    assert_int_equal(c.n_documents, N_DOCS);
    index_store_close(st);
    index_embedder_builtin_free(e512);
    index_embedder_builtin_free(e256);
    idx_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_switch),
        cmocka_unit_test(test_bm25_transition_and_sync_mode),
        cmocka_unit_test(test_kill_mid_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
