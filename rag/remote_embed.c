/* rag/remote_embed.c: embed.backend = openai, an index_embedder whose vectors come from an
 * OpenAI-compatible POST <embed.url>/v1/embeddings (vLLM, SGLang, llama-server --embeddings,
 * Ollama, TEI, a hosted API, or another kbox).
 *
 * Data flow: embed(texts[n]) -> requests of at most embed.batch texts,
 *   {"model": embed.model_name, "input": [texts...], "encoding_format": "float"}
 * -> up to embed.max_concurrent of them in flight at once (one thread per request beyond the
 * caller's own, joined before embed() returns; a shared counter bounds the requests of all callers
 * together: queries, ingestion and the re-embedding job) -> remote_post_json (rag/remote.c: the
 * answer.* connect/read timeouts, retries with Retry-After, TLS options and a circuit breaker of
 * this backend's own) -> remote_embed_parse: data[i].embedding placed by data[i].index, checked
 * against the dimension, L2-normalised (servers differ on that; the store needs unit vectors).
 *
 * Dimension: embed.remote_dim when set, else learnt from one probe request at open. Every
 * response is checked against it; a server that returns another dimension fails the call with
 * KB_ECONFIG ("... returned 768-dimensional vectors; embed.remote_dim is 384"), so the background
 * re-embedding job (rag/jobs.c) stops at its first batch and the old vectors keep serving.
 *
 * The embedder id stored with every vector is "openai:<model_name or url>:d<dim>": a different
 * model or dimension is a different embedder and is re-embedded (index/reembed.c), a different
 * server address serving the same model is not.
 *
 * Threads: embed() may be called from any number of threads; the options are immutable after
 * open, counters and the in-flight count are guarded by mu. Bytes come from the network:
 * fuzz/fuzz_remote_embed.c runs remote_embed_parse on arbitrary input.
 * Tests: tests/rag/test_remote.c (parser cases, a fault server), tests/rag/test_remote_e2e.c
 * (kbox behind kbox: ingest, search, re-embed, resume, dimension mismatch). */
#include "rag/rag_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_EMBED_MAX_BODY (256u << 20) /* a response: 2048 inputs x 4096 dims as text fits */
#define REMOTE_EMBED_MAX_PARALLEL 64

struct rag_remote_embedder {
    struct remote_client rc;                    /* the server, its options and breaker */
    int batch;                                  /* texts per request (embed.batch) */
    int max_parallel;                           /* requests in flight at once (embed.max_concurrent) */
    char id[128];
    struct index_embedder iface;                /* .ud = this */
    pthread_mutex_t mu;                         /* guards what follows */
    pthread_cond_t cv;                          /* signalled when a request ends */
    int in_flight;                              /* requests now, <= max_parallel */
    struct rag_backend_stats st;                /* counters since open */
};

/* ---- the response ---------------------------------------------------------------------------------- */

static int embed_error_text(const struct kb_json *root, struct kb_error *err)
{
    const struct kb_json *e = kb_json_get(root, "error");
    const char *msg = kb_json_str(kb_json_get(e, "message"));
    if (!msg)
        msg = kb_json_str(e);
    if (!msg)
        msg = kb_json_str(kb_json_get(root, "message"));
    return kb_error_set(err, KB_EIO, "remote embedder error: %.300s", msg ? msg : "(no message)");
}

/* Copies one data[] item's embedding into row (dim floats), L2-normalised. The norm is that of
 * the stored floats and the scaling is done in double: a vector of tiny values (1e-40, a float
 * denormal) has a norm whose inverse overflows a float, and must still come out a unit vector. */
static int embed_row(const struct kb_json *vec, int i, int dim, float *row, struct kb_error *err)
{
    double ss = 0;
    int k = 0, rc = 0;
    for (const struct kb_json *x = kb_json_first(vec); x && rc == 0; x = kb_json_next(x), k++) {
        double v = kb_json_num(x);
        if (kb_json_kind(x) != KB_JSON_NUMBER || !isfinite(v) || fabs(v) > 1e30)
            rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: data[%d].embedding[%d] is not a finite number", i, k);
        row[k] = (float)v;
        ss += (double)row[k] * row[k];
    }
    if (rc == 0 && ss > 0) {
        double inv = 1.0 / sqrt(ss);
        KB_ASSERT(k == dim);
        for (k = 0; k < dim; k++)
            row[k] = (float)(row[k] * inv);
    }
    return rc;
}

int remote_embed_parse(const char *body, size_t n, int n_texts, int *dim, float **out, struct kb_error *err)
{
    struct kb_json *root = NULL;
    const struct kb_json *data, *item;
    bool *seen = NULL;
    float *x = NULL;
    int rc, i = 0;
    *out = NULL;
    if ((rc = kb_json_parse(&root, body, n, NULL, err))) {
        rc = kb_error_set(err, KB_EJSON, "remote embedder: the response is not JSON");
        goto out;
    }
    if (kb_json_kind(root) != KB_JSON_OBJECT) {
        rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: the response is not an object");
        goto out;
    }
    if (kb_json_get(root, "error") || (kb_json_str(kb_json_get(root, "object")) &&
                                       !strcmp(kb_json_str(kb_json_get(root, "object")), "error"))) {
        rc = embed_error_text(root, err);
        goto out;
    }
    data = kb_json_get(root, "data");
    if (kb_json_kind(data) != KB_JSON_ARRAY || kb_json_count(data) != n_texts) {
        rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: %d vectors asked for, the response's data has %d",
                          n_texts, kb_json_kind(data) == KB_JSON_ARRAY ? kb_json_count(data) : 0);
        goto out;
    }
    seen = kb_xcalloc((size_t)KB_MAX(n_texts, 1), sizeof *seen);
    for (item = kb_json_first(data); item; item = kb_json_next(item), i++) {
        const struct kb_json *vec = kb_json_get(item, "embedding"), *idx = kb_json_get(item, "index");
        int at = i, got = kb_json_count(vec);
        if (kb_json_kind(vec) != KB_JSON_ARRAY) {
            rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: data[%d].embedding is not an array of numbers"
                                                " (kbox asks for encoding_format float)", i);
            goto out;
        }
        if (idx) {
            double v = kb_json_num(idx);
            if (kb_json_kind(idx) != KB_JSON_NUMBER || v < 0 || v >= n_texts || v != (double)(int)v) {
                rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: data[%d].index is not 0..%d", i, n_texts - 1);
                goto out;
            }
            at = (int)v;
        }
        if (seen[at]) {
            rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: index %d appears twice in data", at);
            goto out;
        }
        seen[at] = true;
        if (*dim == 0) {
            if (got < 1 || got > REMOTE_EMBED_MAX_DIM) {
                rc = kb_error_set(err, KB_ECORRUPT, "remote embedder: a %d-dimensional vector (1..%d allowed)", got,
                                  REMOTE_EMBED_MAX_DIM);
                goto out;
            }
            *dim = got;
        }
        if (got != *dim) {
            rc = kb_error_set(err, KB_ECONFIG, "remote embedder returned %d-dimensional vectors where %d were expected",
                              got, *dim);
            goto out;
        }
        if (!x && !(x = kb_try_malloc((size_t)KB_MAX(n_texts, 1) * (size_t)*dim, sizeof *x))) {
            rc = kb_error_set(err, KB_ENOMEM, "no memory for %d vectors of %d dimensions", n_texts, *dim);
            goto out;
        }
        if ((rc = embed_row(vec, i, *dim, x + (size_t)at * (size_t)*dim, err)))
            goto out;
    }
    *out = x;
    x = NULL;
out:
    free(x);
    free(seen);
    kb_json_free(root);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------------------ */

static void embed_body(const struct rag_remote_embedder *e, const char *const *texts, int n, struct kb_buf *body)
{
    struct jw w;
    jw_init(&w, body);
    jw_obj(&w, NULL);
    jw_str(&w, "model", e->rc.model_name);
    jw_str(&w, "encoding_format", "float");
    jw_arr(&w, "input");
    for (int i = 0; i < n; i++)
        jw_str(&w, NULL, texts[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
}

/* One request for n texts into out[n * *dim]; *dim 0 learns it (the probe at open). */
static int embed_request(struct rag_remote_embedder *e, const char *const *texts, int n, int *dim, float *out,
                         struct kb_error *err)
{
    struct kb_buf body, resp;
    struct remote_result res;
    float *x = NULL;
    double t0 = kb_now_s();
    int want = *dim, rc;
    kb_buf_init(&body, 0);
    kb_buf_init(&resp, REMOTE_EMBED_MAX_BODY);
    pthread_mutex_lock(&e->mu);
    while (e->in_flight >= e->max_parallel)
        pthread_cond_wait(&e->cv, &e->mu);
    e->in_flight++;
    pthread_mutex_unlock(&e->mu);
    embed_body(e, texts, n, &body);
    rc = remote_post_json(&e->rc.ro, &e->rc.breaker, "embeddings", body.data, &resp, &res, err);
    if (!rc && (rc = remote_embed_parse(resp.data ? resp.data : "", resp.len, n, dim, &x, err)) == KB_ECONFIG)
        kb_error_prefix(err, "embed.url %s, embed.remote_dim %d", e->rc.url, want);
    if (!rc && out)
        memcpy(out, x, (size_t)n * (size_t)*dim * sizeof *x);
    pthread_mutex_lock(&e->mu);
    e->in_flight--;
    pthread_cond_signal(&e->cv);
    e->st.requests++;
    e->st.errors += rc != 0;
    e->st.retries += res.n_retries;
    e->st.tokens_in += n;
    e->st.last_latency_ms = (kb_now_s() - t0) * 1000;
    pthread_mutex_unlock(&e->mu);
    free(x);
    kb_buf_release(&body);
    kb_buf_release(&resp);
    return rc;
}

struct embed_part {
    struct rag_remote_embedder *e;
    const char *const *texts;
    int n;
    float *out;
    int rc;
    struct kb_error err;
};

static void *embed_part_main(void *arg)
{
    struct embed_part *p = arg;
    int dim = p->e->iface.dim;
    p->rc = embed_request(p->e, p->texts, p->n, &dim, p->out, &p->err);
    return NULL;
}

/* index_embedder.embed: requests of e->batch texts, up to e->max_parallel at once; the first error
 * (in text order) is returned. */
static int embed_texts(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    struct rag_remote_embedder *e = ud;
    int dim = e->iface.dim, rc = 0;
    int n_parts = n > 0 ? (n + e->batch - 1) / e->batch : 0;
    if (n_parts == 1) /* one request, on this thread */
        rc = embed_request(e, texts, n, &dim, out, err);
    for (int first = 0; n_parts > 1 && first < n_parts && !rc; first += e->max_parallel) {
        int m = KB_MIN(e->max_parallel, n_parts - first);
        struct embed_part parts[REMOTE_EMBED_MAX_PARALLEL];
        pthread_t th[REMOTE_EMBED_MAX_PARALLEL];
        bool started[REMOTE_EMBED_MAX_PARALLEL] = {0};
        for (int j = 0; j < m; j++) {
            int at = (first + j) * e->batch;
            parts[j] = (struct embed_part){.e = e, .texts = texts + at, .n = KB_MIN(e->batch, n - at),
                                           .out = out + (size_t)at * (size_t)dim};
            /* the last part runs on this thread; a thread that cannot start runs here too */
            started[j] = j < m - 1 && pthread_create(&th[j], NULL, embed_part_main, &parts[j]) == 0;
            if (!started[j])
                embed_part_main(&parts[j]);
        }
        for (int j = 0; j < m; j++) {
            if (started[j])
                pthread_join(th[j], NULL);
            if (parts[j].rc && !rc) {
                rc = parts[j].rc;
                if (err)
                    *err = parts[j].err;
            }
        }
    }
    return rc;
}

/* ---- open, close, stats -------------------------------------------------------------------------------- */

int rag_remote_embedder_open(struct rag_remote_embedder **out, const struct config *cfg, struct kb_error *err)
{
    struct rag_remote_embedder *e = kb_xcalloc(1, sizeof *e);
    int rc, dim = (int)cfg->embed_remote_dim;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->batch = (int)KB_MAX(cfg->embed_batch, 1);
    e->max_parallel = (int)KB_MIN(KB_MAX(cfg->embed_max_concurrent, 1), REMOTE_EMBED_MAX_PARALLEL);
    e->st.backend = "openai";
    rc = remote_client_init(&e->rc, cfg, "embed", cfg->embed_url, cfg->embed_model_name, cfg->embed_api_key,
                            cfg->embed_api_key_file, err);
    if (rc == 0 && dim == 0) {
        static const char *const probe[] = {"kbox dimension probe"};
        if ((rc = embed_request(e, probe, 1, &dim, NULL, err)))
            kb_error_prefix(err, "embed.backend openai: cannot learn the vector dimension from %s (set embed.remote_dim"
                                 " to start without asking)", e->rc.url);
    }
    if (rc == 0) {
        snprintf(e->id, sizeof e->id, "openai:%.80s:d%d", e->rc.model_name[0] ? e->rc.model_name : e->rc.url, dim);
        e->iface = (struct index_embedder){.id = e->id, .dim = dim, .embed = embed_texts, .ud = e};
        kb_info("embedder: %s at %s (%d dimensions, %d texts per request, %d requests at once)", e->id, e->rc.url,
                dim, e->batch, e->max_parallel);
    } else {
        rag_remote_embedder_close(e);
        e = NULL;
    }
    *out = e;
    return rc;
}

void rag_remote_embedder_close(struct rag_remote_embedder *e)
{
    if (!e)
        return;
    remote_client_release(&e->rc);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

struct index_embedder *rag_remote_embedder_iface(struct rag_remote_embedder *e)
{
    return &e->iface;
}

void rag_remote_embedder_stats(struct rag_remote_embedder *e, struct rag_backend_stats *st)
{
    pthread_mutex_lock(&e->mu);
    *st = e->st;
    pthread_mutex_unlock(&e->mu);
    st->backend = "openai";
    remote_client_state(&e->rc, st);
}
