/* tests/rag/test_remote_e2e.c: kbox as the remote backend of kbox.
 * - Answers: a real `kbox serve` on 127.0.0.1 (port 0) answers with a `kbox model synth`-style GGUF
 *   chat model (random weights, so the text is noise, but every step is real) over the ingested
 *   samples; an in-process rag_gen with answer.backend = openai and answer.url pointing at it
 *   streams an answer through /v1/chat/completions: the pieces arrive as "token" events, the final
 *   text is the streamed text after citation cleaning, and the usage chunk's completion tokens are
 *   counted.
 * - Embeddings: a `kbox serve` whose built-in embedder (64 dimensions) answers /v1/embeddings, and
 *   an in-process knowledge base with embed.backend = openai pointing at it: ingest and vector
 *   search through the remote embedder (dimension learnt from the first response), then hybrid
 *   search falling back to BM25 once the server is gone; a knowledge base
 *   built with the built-in embedder re-embedded through it by the background job, interrupted by
 *   stopping the server and closing, then resumed after a restart (only the missing chunks are
 *   sent: one request per chunk with embed.batch 1); and embed.remote_dim set to another size
 *   than the server's, which fails the job with an error naming it while the old vectors serve.
 * - The response decoder alone: vectors of float-denormal values still come out unit length. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/serve.h"
#include "../support/run.h"
#include "config/config.h"
#include "infer/infer.h"
#include "rag/rag_int.h"
#include "remote_util.h"

struct events {
    struct kb_buf tokens;
    int n;
};

static int on_event(void *ud, const char *kind, const char *text, size_t n)
{
    struct events *e = ud;
    if (strcmp(kind, "token") == 0) {
        kb_buf_append(&e->tokens, text, n);
        e->n++;
    }
    return 0;
}

static void test_kbox_behind_kbox(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-remote-e2e-XXXXXX", model[128], set_model[200], url[64];
    struct infer_synth_params sp;
    struct kb_error err = {0};
    struct kbox_server srv;
    struct config cfg;
    struct rag_gen *g = NULL;
    struct rag_answer a;
    struct events ev = {0};
    double tps = 0;
    static const struct rag_passage p[] = {
        {.chunk_id = 1, .document_id = 1, .document = "returns.md", .heading_path = "",
         .text = "Returns are accepted within 30 days of delivery."},
    };
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    infer_synth_params_default(&sp, "llama");
    sp.type = infer_type_from_name("Q8_0");
    sp.seed = 7;
    if (infer_synth_write(model, &sp, &err))
        fail_msg("synth: %s", err.msg);
    ingest_samples(dir);
    snprintf(set_model, sizeof set_model, "answer.model=%s", model);
    const char *const serve_args[] = {"--set", "log.level=warn", "--set", set_model, "--set", "answer.max_tokens=24",
                                      "--set", "answer.context=2048", NULL};
    if (kbox_serve_start(&srv, dir, serve_args))
        fail_msg("kbox serve printed: %s", srv.printed);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv.port);
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "answer.backend", "openai", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "answer.url", url, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "answer.model_name", "kbox", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "log.level", "warn", CONFIG_SRC_FLAG, &err), 0);
    if (rag_gen_open(&g, &cfg, &err))
        fail_msg("%s", err.msg);
    kb_buf_init(&ev.tokens, 0);
    if (rag_answer_generative(g, &cfg, "How long do I have to return an item?", NULL, p, 1, NULL, on_event, &ev, &a,
                              NULL, &tps, NULL, &err))
        fail_msg("remote answer: %s", err.msg);
    assert_string_equal(a.mode, "generative");
    assert_true(ev.n > 0);
    assert_non_null(a.answer);
    assert_true(a.n_tokens > 0); /* usage.completion_tokens of the last chunk */
    struct rag_backend_stats bs;
    rag_gen_backend_stats(g, &bs);
    assert_int_equal(bs.requests, 1);
    assert_int_equal(bs.errors, 0);
    assert_string_equal(bs.state, "up");
    print_message("remote answer: %d pieces, %d tokens: %s\n", ev.n, a.n_tokens, a.answer);
    rag_answer_release(&a);
    rag_gen_close(g);
    config_release(&cfg);
    kb_buf_release(&ev.tokens);
    assert_int_equal(kbox_serve_stop(&srv), 0);
    {
        struct run_result r;
        char *argv[] = {"rm", "-rf", dir, NULL};
        run_cmd(&r, argv, NULL);
        run_result_free(&r);
    }
}

/* ---- remote embeddings ----------------------------------------------------------------------------- */

#define N_DOCS 120

static void rm_rf(const char *dir)
{
    struct run_result r;
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    run_cmd(&r, argv, NULL);
    run_result_free(&r);
}

/* N_DOCS one-chunk text files, each about one widget model. */
static void write_corpus(const char *dir)
{
    static const char *const colour[] = {"red", "green", "blue", "amber", "violet", "grey"};
    for (int i = 0; i < N_DOCS; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/widget-%03d.txt", dir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "Widget model W%d is %s, weighs %d grams and ships from warehouse %c within %d days.\n", i,
                colour[i % 6], 100 + 7 * i, 'A' + i % 5, 1 + i % 9);
        fclose(f);
    }
}

/* A configuration for a knowledge base in dir; embed_url NULL: the built-in embedder. */
static void b_config(struct config *cfg, const char *dir, const char *embed_url, const char *remote_dim)
{
    struct kb_error err = {0};
    config_init(cfg);
    assert_int_equal(config_set(cfg, "data.dir", dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "log.level", "warn", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.dim", "128", CONFIG_SRC_FLAG, &err), 0);
    if (!embed_url)
        return;
    assert_int_equal(config_set(cfg, "embed.backend", "openai", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.url", embed_url, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.model_name", "kbox", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.remote_dim", remote_dim, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.batch", "1", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "embed.max_concurrent", "1", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.retries", "0", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(cfg, "answer.connect_timeout_s", "1", CONFIG_SRC_FLAG, &err), 0);
}

static void ingest_corpus(struct rag *r, const char *corpus)
{
    struct kb_error err = {0};
    const char *paths[] = {corpus};
    if (rag_ingest_paths(r, 0, paths, 1, false, NULL, NULL, &err))
        fail_msg("ingest: %s", err.msg);
}

/* A knowledge base in dir built with the built-in embedder. */
static void build_builtin(const char *dir, const char *corpus)
{
    struct config cfg;
    struct rag *r = NULL;
    struct kb_error err = {0};
    b_config(&cfg, dir, NULL, NULL);
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    ingest_corpus(r, corpus);
    rag_close(r);
    config_release(&cfg);
}

/* True when a top-5 hit of a vector-only search for query holds want. */
static bool vector_finds(struct rag *r, const char *query, const char *want)
{
    struct rag_search_opts so = {.query = query, .top_k = 5, .mode = RAG_SEARCH_VECTOR};
    struct rag_hit *h = NULL;
    struct kb_error err = {0};
    int n = 0;
    bool found = false;
    if (rag_search(r, &so, &h, &n, &err))
        fail_msg("search: %s", err.msg);
    for (int i = 0; i < n; i++)
        found |= strstr(h[i].text, want) != NULL && h[i].vector > 0;
    rag_hits_free(h, n);
    return found;
}

static void serve_embedder(struct kbox_server *srv, const char *dir, char *url, size_t url_bytes)
{
    static const char *const args[] = {"--set", "log.level=warn", "--set", "embed.dim=64", "--set",
                                       "server.rate_limit_per_min=0", NULL};
    if (kbox_serve_start(srv, dir, args))
        fail_msg("kbox serve printed: %s", srv->printed);
    snprintf(url, url_bytes, "http://127.0.0.1:%d", srv->port);
}

static void test_remote_embeddings(void **state)
{
    (void)state;
    char top[] = "/tmp/kbox-remote-emb-XXXXXX", a_dir[128], corpus[128], b1[128], b2[128], b3[128], url[64];
    struct kbox_server srv;
    struct config cfg;
    struct rag *r = NULL;
    struct rag_stats st;
    struct kb_error err = {0};
    assert_non_null(mkdtemp(top));
    snprintf(a_dir, sizeof a_dir, "%s/a", top);
    snprintf(corpus, sizeof corpus, "%s/corpus", top);
    snprintf(b1, sizeof b1, "%s/b1", top);
    snprintf(b2, sizeof b2, "%s/b2", top);
    snprintf(b3, sizeof b3, "%s/b3", top);
    assert_int_equal(mkdir(corpus, 0700), 0);
    write_corpus(corpus);
    serve_embedder(&srv, a_dir, url, sizeof url);

    /* 1. ingest and search through the remote embedder; the dimension comes from its answer */
    b_config(&cfg, b1, url, "0");
    assert_int_equal(config_set(&cfg, "embed.batch", "16", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "embed.max_concurrent", "3", CONFIG_SRC_FLAG, &err), 0);
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open with embed.backend=openai: %s", err.msg);
    assert_string_equal(rag_embedder_id(r), "openai:kbox:d64");
    ingest_corpus(r, corpus);
    assert_true(vector_finds(r, "which widget weighs 401 grams", "W43"));
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_string_equal(st.embed_backend.backend, "openai");
    assert_string_equal(st.embed_backend.state, "up");
    assert_true(st.embed_backend.requests >= 3); /* the probe, the documents, the query */
    assert_int_equal(st.embed_backend.errors, 0);
    assert_string_equal(st.search_embedder, "openai:kbox:d64");
    /* the embedding server goes away: hybrid search falls back to BM25, vector search fails */
    assert_int_equal(kbox_serve_stop(&srv), 0);
    {
        struct rag_search_opts so = {.query = "widget W43 weight", .top_k = 5, .mode = RAG_SEARCH_HYBRID};
        struct rag_hit *h = NULL;
        int n = 0;
        if (rag_search(r, &so, &h, &n, &err))
            fail_msg("hybrid search with the embedder down: %s", err.msg);
        assert_true(n > 0);
        assert_non_null(strstr(h[0].text, "W43"));
        assert_true(h[0].vector == 0 && h[0].bm25 > 0);
        rag_hits_free(h, n);
        so.mode = RAG_SEARCH_VECTOR;
        assert_int_not_equal(rag_search(r, &so, &h, &n, &err), 0);
    }
    rag_close(r);
    config_release(&cfg);
    serve_embedder(&srv, a_dir, url, sizeof url);

    /* 2. re-embed a built-in knowledge base; stop the server half way, close, resume */
    build_builtin(b2, corpus);
    b_config(&cfg, b2, url, "64");
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    for (int i = 0; i < 20000; i++) { /* up to 20 s */
        assert_int_equal(rag_stats(r, &st, &err), 0);
        if (st.reembed_done >= 5 || !st.reembedding)
            break;
        usleep(1000);
    }
    assert_int_equal(kbox_serve_stop(&srv), 0);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    int64_t done1 = st.reembed_done, total = st.reembed_total;
    print_message("re-embedding stopped at %lld of %lld chunks\n", (long long)done1, (long long)total);
    assert_int_equal(total, N_DOCS);
    assert_true(done1 >= 5);
    assert_true(done1 < total);
    assert_true(st.reembedding);
    assert_true(strncmp(st.search_embedder, "kbox-hash", 9) == 0); /* the old vectors serve */
    rag_close(r);
    config_release(&cfg);
    serve_embedder(&srv, a_dir, url, sizeof url); /* a new port: the embedder id does not name it */
    b_config(&cfg, b2, url, "64");
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    if (rag_reembed_wait(r, NULL, NULL, &err))
        fail_msg("re-embedding after the restart: %s", err.msg);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_false(st.reembedding);
    assert_string_equal(st.search_embedder, "openai:kbox:d64");
    assert_int_equal(st.embed_backend.errors, 0);
    assert_int_equal(st.embed_backend.requests, total - done1); /* only the missing chunks, one each */
    assert_true(vector_finds(r, "which widget weighs 401 grams", "W43"));
    rag_close(r);
    config_release(&cfg);

    /* 3. embed.remote_dim 32 against a 64-dimensional server: the job fails, the old vectors serve */
    build_builtin(b3, corpus);
    b_config(&cfg, b3, url, "32");
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    assert_int_not_equal(rag_reembed_wait(r, NULL, NULL, &err), 0);
    print_message("dimension mismatch: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "embed.remote_dim 32"));
    assert_non_null(strstr(err.msg, "64-dimensional"));
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_true(st.reembedding);
    assert_int_equal(st.reembed_done, 0);
    assert_true(strncmp(st.search_embedder, "kbox-hash", 9) == 0);
    assert_true(vector_finds(r, "which widget weighs 401 grams", "W43")); /* built-in vectors */
    rag_close(r);
    config_release(&cfg);

    assert_int_equal(kbox_serve_stop(&srv), 0);
    rm_rf(top);
}

/* The response decoder normalises vectors of float-denormal values to unit length (the inverse
 * of their norm overflows a float; fuzz_remote_embed found the infinite vector). */
static void test_remote_embed_tiny_values(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"data\":[{\"embedding\":[1e-40]}]}", "{\"data\":[{\"embedding\":[3e-39,-4e-39,0]}]}"};
    const float want[][3] = {{1, 0, 0}, {0.6f, -0.8f, 0}};
    for (int b = 0; b < 2; b++) {
        struct kb_error err = {0};
        float *x = NULL;
        int dim = 0;
        assert_int_equal(remote_embed_parse(bodies[b], strlen(bodies[b]), 1, &dim, &x, &err), 0);
        assert_int_equal(dim, b == 0 ? 1 : 3);
        for (int k = 0; k < dim; k++)
            assert_true(isfinite(x[k]) && fabsf(x[k] - want[b][k]) < 1e-5f);
        free(x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kbox_behind_kbox),
                                       cmocka_unit_test(test_remote_embeddings),
                                       cmocka_unit_test(test_remote_embed_tiny_values)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
