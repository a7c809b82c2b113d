/* web/metrics.c: request counters and latency histograms per route, rendered with the knowledge
 * base's own statistics (rag_stats) in the Prometheus text exposition format (version 0.0.4).
 *
 * Data: ctx->stats holds one struct web_route_stats per route index plus a last one for requests
 * that matched no route; all under ctx->metrics_lock. Routes that share a name (PUT and PATCH of a
 * collection) are summed into one series when rendered. Remote backends (rag_stats'
 * answer_backend and embed_backend, when "openai") add kbox_backend_* and kbox_embed_backend_*.
 * The customer-service loop adds kbox_answers_total{mode} and kbox_feedback_total{vote}, counted
 * by the answer tasks (api_common.c) and POST /api/feedback (api_log.c).
 * Tests: tests/web/test_web.c (/metrics), tests/web/test_remote_served.c (the backend series). */
#include "web/web_int.h"

#include <stdlib.h>
#include <string.h>

/* The series every remote backend has, named prefix_*: requests, errors, retries, whether its
 * breaker lets calls through, and how often it opened. */
static void metrics_backend(struct kb_buf *out, const char *prefix, const char *what,
                            const struct rag_backend_stats *b)
{
    kb_buf_printf(out,
                  "# HELP %s_requests_total Requests sent to the %s.\n# TYPE %s_requests_total counter\n"
                  "%s_requests_total %lld\n"
                  "# HELP %s_errors_total Requests to the %s that failed.\n# TYPE %s_errors_total counter\n"
                  "%s_errors_total %lld\n"
                  "# HELP %s_retries_total Attempts retried against the %s.\n# TYPE %s_retries_total counter\n"
                  "%s_retries_total %lld\n"
                  "# HELP %s_up 1 unless the circuit breaker holds the %s down.\n# TYPE %s_up gauge\n%s_up %d\n"
                  "# HELP %s_breaker_opened_total Times the %s's circuit breaker opened.\n"
                  "# TYPE %s_breaker_opened_total counter\n%s_breaker_opened_total %lld\n",
                  prefix, what, prefix, prefix, (long long)b->requests, prefix, what, prefix, prefix,
                  (long long)b->errors, prefix, what, prefix, prefix, (long long)b->retries, prefix, what, prefix,
                  prefix, strcmp(b->state, "down") != 0, prefix, what, prefix, prefix, (long long)b->breaker_opened);
}

static const double web_buckets_s[WEB_N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,  0.1,    0.5,   2.5,  10};

void web_metrics_init(struct web_ctx *ctx)
{
    pthread_mutex_init(&ctx->metrics_lock, NULL);
    ctx->stats = kb_xcalloc((size_t)web_n_routes() + 1, sizeof *ctx->stats);
}

void web_metrics_release(struct web_ctx *ctx)
{
    free(ctx->stats);
    ctx->stats = NULL;
    pthread_mutex_destroy(&ctx->metrics_lock);
}

void web_metrics_observe(struct web_ctx *ctx, int route_idx, int status, double seconds)
{
    struct web_route_stats *st;
    if (route_idx < 0 || route_idx >= web_n_routes())
        route_idx = web_n_routes();
    pthread_mutex_lock(&ctx->metrics_lock);
    st = &ctx->stats[route_idx];
    if (status >= 500)
        st->n_5xx++;
    else if (status >= 400)
        st->n_4xx++;
    else
        st->n_2xx++;
    for (int i = 0; i < WEB_N_BUCKETS; i++)
        if (seconds <= web_buckets_s[i])
            st->buckets[i]++;
    st->sum_s += seconds;
    ctx->n_requests++;
    pthread_mutex_unlock(&ctx->metrics_lock);
}

static const char *route_label(int i)
{
    return i < web_n_routes() ? web_route_at(i)->name : "unmatched";
}

/* True when an earlier index carries the same label (it was rendered already, summed). */
static bool seen_before(int i)
{
    for (int j = 0; j < i; j++)
        if (strcmp(route_label(j), route_label(i)) == 0)
            return true;
    return false;
}

static void sum_route(const struct web_route_stats *all, int n, int i, struct web_route_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int j = i; j < n; j++) {
        if (strcmp(route_label(j), route_label(i)) != 0)
            continue;
        out->n_2xx += all[j].n_2xx;
        out->n_4xx += all[j].n_4xx;
        out->n_5xx += all[j].n_5xx;
        for (int k = 0; k < WEB_N_BUCKETS; k++)
            out->buckets[k] += all[j].buckets[k];
        out->sum_s += all[j].sum_s;
    }
}

static const char *const web_answer_modes[WEB_N_ANSWER_MODES] = {"extractive", "faq", "curated", "generative",
                                                                   "fallback", "other"};

void web_metrics_answer(struct web_ctx *ctx, const struct rag_answer *a)
{
    const char *m = a->fallback ? "fallback" : a->mode ? a->mode : "";
    int i = 0;
    while (i < WEB_N_ANSWER_MODES - 1 && strcmp(web_answer_modes[i], m) != 0)
        i++;
    pthread_mutex_lock(&ctx->metrics_lock);
    ctx->answers_by_mode[i]++;
    pthread_mutex_unlock(&ctx->metrics_lock);
}

void web_metrics_vote(struct web_ctx *ctx, int vote)
{
    pthread_mutex_lock(&ctx->metrics_lock);
    if (vote > 0)
        ctx->votes_up++;
    else
        ctx->votes_down++;
    pthread_mutex_unlock(&ctx->metrics_lock);
}

/* kbox_answers_total{mode} and kbox_feedback_total{vote}. */
static void metrics_loop(struct web_ctx *ctx, struct kb_buf *out)
{
    int64_t modes[WEB_N_ANSWER_MODES], up, down;
    pthread_mutex_lock(&ctx->metrics_lock);
    memcpy(modes, ctx->answers_by_mode, sizeof modes);
    up = ctx->votes_up;
    down = ctx->votes_down;
    pthread_mutex_unlock(&ctx->metrics_lock);
    kb_buf_puts(out, "# HELP kbox_answers_total Answers given (UI, widget, API, OpenAI), by mode.\n"
                     "# TYPE kbox_answers_total counter\n");
    for (int i = 0; i < WEB_N_ANSWER_MODES; i++)
        kb_buf_printf(out, "kbox_answers_total{mode=\"%s\"} %lld\n", web_answer_modes[i], (long long)modes[i]);
    kb_buf_printf(out, "# HELP kbox_feedback_total Thumbs recorded on answers, by vote.\n"
                       "# TYPE kbox_feedback_total counter\nkbox_feedback_total{vote=\"up\"} %lld\n"
                       "kbox_feedback_total{vote=\"down\"} %lld\n",
                  (long long)up, (long long)down);
}

int web_metrics_render(struct web_ctx *ctx, struct kb_buf *out)
{
    int n = web_n_routes() + 1;
    struct web_route_stats *snap = kb_xcalloc((size_t)n, sizeof *snap);
    struct rag_stats rs;
    struct kb_error err = {0};
    int rc;

    pthread_mutex_lock(&ctx->metrics_lock);
    memcpy(snap, ctx->stats, (size_t)n * sizeof *snap);
    pthread_mutex_unlock(&ctx->metrics_lock);

    kb_buf_puts(out, "# HELP kbox_http_requests_total HTTP requests by route and status class.\n"
                     "# TYPE kbox_http_requests_total counter\n");
    for (int i = 0; i < n; i++) {
        struct web_route_stats s;
        if (seen_before(i))
            continue;
        sum_route(snap, n, i, &s);
        kb_buf_printf(out, "kbox_http_requests_total{route=\"%s\",code=\"2xx\"} %lld\n", route_label(i),
                      (long long)s.n_2xx);
        kb_buf_printf(out, "kbox_http_requests_total{route=\"%s\",code=\"4xx\"} %lld\n", route_label(i),
                      (long long)s.n_4xx);
        kb_buf_printf(out, "kbox_http_requests_total{route=\"%s\",code=\"5xx\"} %lld\n", route_label(i),
                      (long long)s.n_5xx);
    }
    kb_buf_puts(out, "# HELP kbox_http_request_duration_seconds Time from request start to response queued.\n"
                     "# TYPE kbox_http_request_duration_seconds histogram\n");
    for (int i = 0; i < n; i++) {
        struct web_route_stats s;
        int64_t total;
        if (seen_before(i))
            continue;
        sum_route(snap, n, i, &s);
        total = s.n_2xx + s.n_4xx + s.n_5xx;
        for (int k = 0; k < WEB_N_BUCKETS; k++)
            kb_buf_printf(out, "kbox_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lld\n",
                          route_label(i), web_buckets_s[k], (long long)s.buckets[k]);
        kb_buf_printf(out, "kbox_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lld\n",
                      route_label(i), (long long)total);
        kb_buf_printf(out, "kbox_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_label(i), s.sum_s);
        kb_buf_printf(out, "kbox_http_request_duration_seconds_count{route=\"%s\"} %lld\n", route_label(i),
                      (long long)total);
    }
    free(snap);

    kb_buf_printf(out, "# HELP kbox_uptime_seconds Seconds since the server started.\n"
                       "# TYPE kbox_uptime_seconds gauge\nkbox_uptime_seconds %.3f\n",
                  kb_now_s() - ctx->started_s);
    rc = rag_stats(ctx->rag, &rs, &err);
    if (rc == 0) {
        kb_buf_printf(out,
                      "# HELP kbox_collections Collections in the knowledge base.\n# TYPE kbox_collections gauge\n"
                      "kbox_collections %lld\n"
                      "# HELP kbox_documents Documents in the knowledge base.\n# TYPE kbox_documents gauge\n"
                      "kbox_documents %lld\n"
                      "# HELP kbox_chunks Indexed chunks.\n# TYPE kbox_chunks gauge\nkbox_chunks %lld\n"
                      "# HELP kbox_jobs Ingestion jobs by state.\n# TYPE kbox_jobs gauge\n"
                      "kbox_jobs{state=\"queued\"} %lld\nkbox_jobs{state=\"running\"} %lld\n"
                      "kbox_jobs{state=\"failed\"} %lld\n"
                      "# HELP kbox_tokens_per_second Speed of the last generated answer.\n"
                      "# TYPE kbox_tokens_per_second gauge\nkbox_tokens_per_second %.3f\n",
                      (long long)rs.n_collections, (long long)rs.n_documents, (long long)rs.n_chunks,
                      (long long)rs.jobs_queued, (long long)rs.jobs_running, (long long)rs.jobs_failed,
                      rs.tokens_per_s);
        if (strcmp(rs.answer_backend.backend, "openai") == 0) {
            const struct rag_backend_stats *b = &rs.answer_backend;
            metrics_backend(out, "kbox_backend", "remote answer backend", b);
            kb_buf_printf(out,
                          "# HELP kbox_backend_tokens_total Tokens the remote backend reported.\n"
                          "# TYPE kbox_backend_tokens_total counter\nkbox_backend_tokens_total{dir=\"in\"} %lld\n"
                          "kbox_backend_tokens_total{dir=\"out\"} %lld\n"
                          "# HELP kbox_backend_ttft_seconds Time to first token of the latest remote answer.\n"
                          "# TYPE kbox_backend_ttft_seconds gauge\nkbox_backend_ttft_seconds %.4f\n",
                          (long long)b->tokens_in, (long long)b->tokens_out, b->last_ttft_ms / 1000);
        }
        if (strcmp(rs.embed_backend.backend, "openai") == 0) {
            const struct rag_backend_stats *b = &rs.embed_backend;
            metrics_backend(out, "kbox_embed_backend", "remote embedder", b);
            kb_buf_printf(out,
                          "# HELP kbox_embed_backend_texts_total Texts sent to the remote embedder.\n"
                          "# TYPE kbox_embed_backend_texts_total counter\nkbox_embed_backend_texts_total %lld\n"
                          "# HELP kbox_embed_backend_latency_seconds Latency of the latest embedding request.\n"
                          "# TYPE kbox_embed_backend_latency_seconds gauge\n"
                          "kbox_embed_backend_latency_seconds %.4f\n",
                          (long long)b->tokens_in, b->last_latency_ms / 1000);
        }
    }
    metrics_loop(ctx, out);
    kb_buf_printf(out, "# HELP kbox_up Whether the knowledge base answered its statistics.\n"
                       "# TYPE kbox_up gauge\nkbox_up %d\n",
                  rc == 0);
    return 0;
}
