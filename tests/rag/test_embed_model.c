/* tests/rag/test_embed_model.c: embed.model = a GGUF bert file (the conformance case bert_f32)
 * replaces the built-in embedder, and model settings change at run time.
 * - A knowledge base built with the built-in embedder reopens with the model: it opens at once,
 *   search works from the start (on the old vectors while the job runs), a "reembed" job reports
 *   progress and finishes, and then search uses the model's vectors (other scores), every chunk
 *   kept, only the model's vectors stored.
 * - rag_setting_set("embed.model", FILE) switches at run time and re-embeds in the background;
 *   "" goes back to the built-in embedder the same way.
 * - answer.model loads a synthetic llama from the models folder and unloads with "".
 * - Bad values are refused before loading: paths, missing files, the wrong kind of model.
 * - rag_models_list() sees kinds, types and unreadable files.
 * Skips without ../shared (the bert file lives there). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "infer/infer.h"
#include "rag/rag.h"

#define BERT KBOX_SHARED_DIR "/conformance/bert_f32.gguf"
#define LLAMA KBOX_SHARED_DIR "/conformance/llama_f32.gguf"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for the newest reembed job to finish; returns it. Checks progress never goes back. */
static struct rag_job wait_reembed(struct rag *r)
{
    struct rag_job last = {0};
    double prev = -1;
    for (int t = 0; t < 60000; t++) { /* up to 10 min: sanitizer builds are slow */
        struct rag_job *jobs = NULL;
        struct kb_error err = {0};
        int n = 0;
        bool found = false;
        assert_int_equal(rag_jobs_list(r, &jobs, &n, &err), 0);
        for (int i = 0; i < n && !found; i++)
            if (!strcmp(jobs[i].kind, "reembed")) {
                last = jobs[i];
                found = true;
            }
        free(jobs);
        assert_true(found);
        assert_true(last.progress >= prev - 1e-9);
        prev = last.progress;
        if (strcmp(last.state, "running") != 0)
            break;
        sleep_ms(10);
    }
    if (strcmp(last.state, "done") != 0)
        fail_msg("reembed job %lld ended '%s': %s", (long long)last.id, last.state, last.error);
    return last;
}

static double vector_score(struct rag *r, const char *q, int64_t *chunk)
{
    struct rag_search_opts o = {.query = q, .mode = RAG_SEARCH_VECTOR, .top_k = 3};
    struct rag_hit *h;
    struct kb_error err = {0};
    int n;
    double v;
    assert_int_equal(rag_search(r, &o, &h, &n, &err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_true(h[i].vector != 0);
    v = h[0].vector;
    if (chunk)
        *chunk = h[0].chunk_id;
    rag_hits_free(h, n);
    return v;
}

static void test_embed_model(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-embm-XXXXXX", cmd[128];
    struct config cfg;
    struct kb_error err = {0};
    struct rag *r;
    struct rag_stats st;
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en"};
    double old_score, new_score;
    int64_t n_chunks, old_chunk;
    if (access(BERT, R_OK) != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "data.dir", dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "embed.batch", "4", CONFIG_SRC_FLAG, &err), 0);
    /* built-in embedder first */
    assert_int_equal(rag_open(&r, &cfg, &err), 0);
    assert_int_equal(rag_ingest_paths(r, 0, paths, 1, false, NULL, NULL, &err), 0);
    assert_null(strstr(rag_embedder_id(r), "gguf:"));
    old_score = vector_score(r, "return a kettle", &old_chunk);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    n_chunks = st.n_chunks;
    assert_true(n_chunks > 4);
    assert_false(st.reembedding);
    rag_close(r);

    /* the same knowledge base with the GGUF model: it opens at once and searches meanwhile */
    assert_int_equal(config_set(&cfg, "embed.model", BERT, CONFIG_SRC_FLAG, &err), 0);
    if (rag_open(&r, &cfg, &err))
        fail_msg("rag_open with embed.model: %s", err.msg);
    assert_non_null(strstr(rag_embedder_id(r), "gguf:bert_f32.gguf"));
    {
        struct rag_stats before, after;
        double s;
        int64_t c;
        assert_int_equal(rag_stats(r, &before, &err), 0);
        s = vector_score(r, "return a kettle", &c);
        assert_int_equal(rag_stats(r, &after, &err), 0);
        if (before.reembedding && after.reembedding) { /* still on the old vectors */
            assert_null(strstr(after.search_embedder, "gguf:"));
            assert_int_equal(c, old_chunk);
            assert_true(fabs(s - old_score) < 1e-5);
        }
    }
    {
        struct rag_job j = wait_reembed(r);
        assert_int_equal(j.n_total, n_chunks);
        assert_int_equal(j.n_done, n_chunks);
        assert_true(j.progress == 1.0);
    }
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_false(st.reembedding);
    assert_non_null(strstr(st.search_embedder, "gguf:bert_f32.gguf"));
    assert_string_equal(st.embedder, st.search_embedder);
    assert_int_equal(st.n_chunks, n_chunks);
    new_score = vector_score(r, "return a kettle", NULL);
    assert_true(fabs(new_score - old_score) > 1e-4);
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
    /* reopened: nothing to do, search uses the model at once */
    assert_int_equal(rag_open(&r, &cfg, &err), 0);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_false(st.reembedding);
    assert_non_null(strstr(st.search_embedder, "gguf:bert_f32.gguf"));
    assert_true(fabs(vector_score(r, "return a kettle", NULL) - new_score) < 1e-5);
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

struct asker {
    struct rag *r;
    int rc;
};

static void *ask_main(void *arg)
{
    struct asker *a = arg;
    struct kb_error err = {0};
    for (int i = 0; i < 3 && a->rc == 0; i++) {
        struct rag_ask_opts ao = {.question = "What is the warranty on a kettle?"};
        struct rag_answer ans;
        a->rc = rag_ask(a->r, &ao, NULL, NULL, &ans, NULL, &err);
        if (a->rc == KB_EBUSY) /* answer.max_concurrent sessions in use: not a failure here */
            a->rc = 0;
        else if (a->rc == 0)
            rag_answer_release(&ans);
    }
    return NULL;
}

/* Model settings at run time, with files in the models folder. */
static void test_model_settings(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-embs-XXXXXX", models[96], path[160], cmd[128];
    struct config cfg;
    struct kb_error err = {0};
    struct rag *r;
    struct rag_stats st;
    struct infer_synth_params sp;
    struct rag_model *m;
    int n;
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en"};
    if (access(BERT, R_OK) != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    snprintf(models, sizeof models, "%s/models", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", models);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/bge.gguf", models);
    assert_int_equal(symlink(BERT, path), 0);
    snprintf(path, sizeof path, "%s/chat.gguf", models);
    infer_synth_params_default(&sp, "llama");
    sp.type = infer_type_from_name("Q8_0");
    sp.seed = 3;
    assert_int_equal(infer_synth_write(path, &sp, &err), 0);
    snprintf(path, sizeof path, "%s/broken.gguf", models);
    FILE *f = fopen(path, "w");
    fputs("not a model", f);
    fclose(f);

    /* the listing shared by `kbox model list` and GET /api/models */
    assert_int_equal(rag_models_list(models, &m, &n, NULL, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].file, "bge.gguf");
    assert_string_equal(m[0].arch, "bert");
    assert_string_equal(m[0].kind, "embedding");
    assert_string_equal(m[0].type, "F32");
    assert_null(m[0].error);
    assert_true(m[0].fits && m[0].params > 0 && m[0].bytes > 0);
    assert_string_equal(m[1].file, "broken.gguf");
    assert_non_null(m[1].error);
    assert_string_equal(m[2].file, "chat.gguf");
    assert_string_equal(m[2].kind, "generative");
    assert_string_equal(m[2].type, "Q8_0");
    rag_models_free(m, n);
    assert_int_equal(rag_models_list("/nonexistent-models", &m, &n, NULL, &err), KB_ENOENT);

    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "data.dir", dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(rag_open(&r, &cfg, &err), 0);
    assert_int_equal(rag_ingest_paths(r, 0, paths, 1, false, NULL, NULL, &err), 0);

    /* refused before loading */
    assert_int_equal(rag_setting_set(r, "answer.model", "../chat.gguf", &err), KB_ECONFIG);
    assert_int_equal(rag_setting_set(r, "answer.model", "/etc/passwd", &err), KB_ECONFIG);
    assert_int_equal(rag_setting_set(r, "answer.model", "missing.gguf", &err), KB_ENOENT);
    assert_int_equal(rag_setting_set(r, "answer.model", "broken.gguf", &err), KB_EFORMAT);
    assert_non_null(strstr(err.msg, "broken.gguf"));
    assert_int_equal(rag_setting_set(r, "answer.model", "bge.gguf", &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "embedding model"));
    assert_int_equal(rag_setting_set(r, "embed.model", "chat.gguf", &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "generative model"));
    {
        const struct config *c = rag_config_get(r);
        assert_string_equal(c->answer_model, "");
        assert_string_equal(c->embed_model, "");
        rag_config_put(r, c);
    }

    /* answer.model loads and unloads */
    assert_int_equal(rag_setting_set(r, "answer.model", "chat.gguf", &err), 0);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_string_equal(st.answer_mode, "generative");
    {
        struct rag_ask_opts ao = {.question = "How do I return a kettle?"};
        struct rag_answer a;
        assert_int_equal(rag_ask(r, &ao, NULL, NULL, &a, NULL, &err), 0);
        assert_string_equal(a.mode, "generative");
        rag_answer_release(&a);
    }
    /* swapped while answers run: each finishes on the model it started with */
    {
        pthread_t th[2];
        struct asker ak[2] = {{.r = r}, {.r = r}};
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, ask_main, &ak[i]), 0);
        sleep_ms(20);
        assert_int_equal(rag_setting_set(r, "answer.model", "", &err), 0);
        assert_int_equal(rag_setting_set(r, "answer.model", "chat.gguf", &err), 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(ak[i].rc, 0);
        }
    }
    assert_int_equal(rag_setting_set(r, "answer.model", "", &err), 0);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_string_equal(st.answer_mode, "extractive");

    /* embed.model switches and re-embeds in the background */
    assert_int_equal(rag_setting_set(r, "embed.model", "bge.gguf", &err), 0);
    assert_non_null(strstr(rag_embedder_id(r), "gguf:"));
    wait_reembed(r);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_false(st.reembedding);
    assert_non_null(strstr(st.search_embedder, "gguf:"));
    (void)vector_score(r, "return a kettle", NULL);
    /* and back to the built-in embedder (waited for the way a CLI command would) */
    assert_int_equal(rag_setting_set(r, "embed.model", "", &err), 0);
    assert_null(strstr(rag_embedder_id(r), "gguf:"));
    assert_int_equal(rag_reembed_wait(r, NULL, NULL, &err), 0);
    wait_reembed(r);
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_null(strstr(st.search_embedder, "gguf:"));
    assert_false(st.reembedding);
    /* the setting persists: the next open uses bge.gguf again after setting it once more */
    assert_int_equal(rag_setting_set(r, "embed.model", "bge.gguf", &err), 0);
    rag_close(r); /* mid-job, maybe: resumes at the next open */
    assert_int_equal(rag_open(&r, &cfg, &err), 0);
    {
        const struct config *c = rag_config_get(r);
        assert_string_equal(c->embed_model, "bge.gguf");
        rag_config_put(r, c);
    }
    assert_non_null(strstr(rag_embedder_id(r), "gguf:"));
    {
        struct rag_job *jobs;
        int nj;
        assert_int_equal(rag_jobs_list(r, &jobs, &nj, &err), 0);
        bool any = false;
        for (int i = 0; i < nj; i++)
            any |= !strcmp(jobs[i].kind, "reembed");
        free(jobs);
        assert_int_equal(rag_stats(r, &st, &err), 0);
        if (st.reembedding || any)
            wait_reembed(r);
    }
    assert_int_equal(rag_stats(r, &st, &err), 0);
    assert_false(st.reembedding);
    assert_non_null(strstr(st.search_embedder, "gguf:"));
    rag_close(r);
    config_release(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_embed_model), cmocka_unit_test(test_model_settings)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
