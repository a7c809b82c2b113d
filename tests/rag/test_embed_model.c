/* tests/rag/test_embed_model.c: embed.model = a GGUF bert file (the conformance case bert_f32)
 * replaces the built-in embedder: a knowledge base built with the built-in embedder is re-embedded
 * when it reopens with the model, vector search uses the model's vectors, and a file that is not an
 * embedding model is refused with its name. Skips without ../shared. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "rag/rag.h"

#define BERT KBOX_SHARED_DIR "/conformance/bert_f32.gguf"
#define LLAMA KBOX_SHARED_DIR "/conformance/llama_f32.gguf"

static void test_embed_model(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-embm-XXXXXX", cmd[128];
    struct config cfg;
    struct kb_error err = {0};
    struct rag *r;
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en"};
    if (access(BERT, R_OK) != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "data.dir", dir, CONFIG_SRC_FLAG, &err), 0);
    /* built-in embedder first */
    assert_int_equal(rag_open(&r, &cfg, &err), 0);
    assert_int_equal(rag_ingest_paths(r, 0, paths, 1, false, NULL, NULL, &err), 0);
    assert_null(strstr(rag_embedder_id(r), "gguf:"));
    rag_close(r);
    /* the same knowledge base with the GGUF model: everything is re-embedded */
    assert_int_equal(config_set(&cfg, "embed.model", BERT, CONFIG_SRC_FLAG, &err), 0);
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open with embed.model: %s", err.msg);
    assert_non_null(strstr(rag_embedder_id(r), "gguf:bert_f32.gguf"));
    struct rag_search_opts o = {.query = "return a kettle", .mode = RAG_SEARCH_VECTOR, .top_k = 3};
    struct rag_hit *h;
    int n;
    assert_int_equal(rag_search(r, &o, &h, &n, &err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_true(h[i].vector != 0);
    rag_hits_free(h, n);
    float *v;
    int dim;
    const char *texts[] = {"hello"};
    assert_int_equal(rag_embed(r, texts, 1, &v, &dim, &err), 0);
    assert_int_equal(dim, 128);
    double norm = 0;
    for (int i = 0; i < dim; i++)
        norm += (double)v[i] * v[i];
    assert_true(norm > 0.999 && norm < 1.001);
    free(v);
    rag_close(r);
    /* a decoder model is not an embedding model */
    if (access(LLAMA, R_OK) == 0) {
        assert_int_equal(config_set(&cfg, "embed.model", LLAMA, CONFIG_SRC_FLAG, &err), 0);
        assert_true(rag_open(&r, &cfg, &err) < 0);
        assert_non_null(strstr(err.msg, "llama_f32.gguf"));
    }
    config_release(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_embed_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
