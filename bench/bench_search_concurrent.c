/* bench/bench_search_concurrent.c: concurrent search throughput with a GGUF embedder.
 *
 * Opens a fresh store in a temporary directory, ingests N generated chunks (words drawn from a
 * fixed vocabulary by a linear congruential generator, 10 chunks per document) embedded with the
 * BERT GGUF (default ../shared/conformance/bert_f32.gguf; skipped with a message when absent), then
 * for T = 1, 2, 4 threads runs a fixed number of hybrid searches (split over the threads, queries
 * drawn the same way) and prints searches/s. Measures how much the store's lock serialises
 * searches whose query embedding is slow (index/search.c embeds outside the lock).
 * Usage: bench_search_concurrent [--chunks N] [--searches S] [--model PATH]. Not a test. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "index/index.h"
#include "infer/infer.h"

static const char *const bench_words[] = {
    "river", "mountain", "engine", "protocol", "garden", "market", "signal", "harvest", "library", "circuit",
    "weather", "kernel", "museum", "battery", "forest", "contract", "planet", "recipe", "theory", "harbor",
    "vaccine", "bridge", "network", "painting", "glacier", "compiler", "festival", "orbit", "mineral", "tunnel",
    "election", "fabric", "volcano", "algebra", "satellite", "pottery", "migration", "reactor", "poetry", "canal",
};

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void gen_text(uint32_t *seed, int n_words, char *buf, size_t buf_bytes)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_words; i++) {
        const char *w = bench_words[lcg(seed) % KB_ARRAY_LEN(bench_words)];
        int k = snprintf(buf + len, buf_bytes - len, "%s%s", i ? " " : "", w);
        if (k < 0 || (size_t)k >= buf_bytes - len)
            break;
        len += (size_t)k;
    }
}

static int bench_embed(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    return infer_embed_texts(ud, texts, n, out, true, err);
}

struct worker {
    struct index_store *st;
    int n_searches;
    uint32_t seed;
    int rc;
};

static void *worker_run(void *ud)
{
    struct worker *w = ud;
    struct index_search_opts o;
    struct kb_error err = {0};
    memset(&o, 0, sizeof(o));
    o.top_k = 10;
    o.mode = INDEX_MODE_HYBRID;
    o.rrf_k = 60;
    for (int i = 0; i < w->n_searches && w->rc == 0; i++) {
        struct kb_arena a;
        struct index_hit *hits = NULL;
        int n = 0;
        char q[256];
        gen_text(&w->seed, 4, q, sizeof(q));
        kb_arena_init(&a, 16384, 0);
        w->rc = index_search(w->st, q, &o, &a, &hits, &n, &err);
        kb_arena_release(&a);
    }
    if (w->rc)
        fprintf(stderr, "search: %s\n", err.msg);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *model = "../shared/conformance/bert_f32.gguf";
    int n_chunks = 3000, n_searches = 400, rc = 0;
    char dir[] = "/tmp/kbox-bench-sc-XXXXXX";
    struct infer_embedder *ie = NULL;
    struct index_embedder emb;
    struct index_store *st = NULL;
    struct index_open_opts oo;
    struct kb_error err = {0};
    uint32_t seed = 12345;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--chunks") && i + 1 < argc)
            n_chunks = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--searches") && i + 1 < argc)
            n_searches = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--chunks N] [--searches S] [--model PATH]\n", argv[0]);
            return 2;
        }
    }
    if (access(model, R_OK) != 0) {
        printf("skipped: no embedding model at '%s'\n", model);
        return 0;
    }
    if (infer_embedder_open(&ie, model, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    emb = (struct index_embedder){.id = infer_embedder_id(ie), .dim = infer_embedder_dim(ie), .embed = bench_embed,
                                  .ud = ie};
    if (!mkdtemp(dir)) {
        infer_embedder_close(ie);
        return 1;
    }
    memset(&oo, 0, sizeof(oo));
    oo.data_dir = dir;
    oo.embedder = &emb;
    oo.ann_threshold = 200000;
    if (index_store_open(&st, &oo, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        rc = 1;
        goto out;
    }
    for (int d = 0; d * 10 < n_chunks && rc == 0; d++) {
        struct index_chunk c[10];
        char texts[10][512], path[64];
        struct index_doc doc = {0};
        int n = KB_MIN(10, n_chunks - d * 10);
        memset(c, 0, sizeof(c));
        for (int k = 0; k < n; k++) {
            gen_text(&seed, 40, texts[k], sizeof(texts[k]));
            c[k].text = texts[k];
        }
        snprintf(path, sizeof(path), "doc%d.txt", d);
        doc.name = doc.path = path;
        if (index_doc_replace(st, &doc, c, n, NULL, NULL, 0, NULL, &err) != 0) {
            fprintf(stderr, "ingest: %s\n", err.msg);
            rc = 1;
        }
    }
    printf("store: %d chunks, embedder %s (%d dims), %d searches per row\n", n_chunks, emb.id, emb.dim, n_searches);
    printf("threads  searches/s\n");
    for (int t = 1; t <= 4 && rc == 0; t *= 2) {
        pthread_t th[4];
        struct worker w[4];
        double t0 = kb_now_s(), dt;
        for (int i = 0; i < t; i++) {
            w[i] = (struct worker){st, n_searches / t, 777u + (uint32_t)i * 101u, 0};
            pthread_create(&th[i], NULL, worker_run, &w[i]);
        }
        for (int i = 0; i < t; i++) {
            pthread_join(th[i], NULL);
            rc |= w[i].rc;
        }
        dt = kb_now_s() - t0;
        printf("%7d  %10.1f\n", t, (double)(n_searches / t * t) / dt);
    }
out:
    index_store_close(st);
    infer_embedder_close(ie);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
