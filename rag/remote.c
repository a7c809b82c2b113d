/* rag/remote.c: the client of an OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama, a
 * hosted DeepSeek-compatible API): one streamed POST <url>/v1/chat/completions per answer
 * (remote_chat), or one non-streamed POST such as /v1/embeddings (remote_post_json, for
 * rag/remote_embed.c), with Debian's libcurl, and a circuit breaker per backend shared by its calls.
 *
 * Threads: remote_chat() and remote_post_json() block and run on the calling thread (a web/ task
 * thread that answers, the re-embedding job, a search, or the CLI), with one curl easy handle per
 * call. The number of answers in flight is bounded by answer.max_concurrent (generate.c's slots,
 * up to 512) and web/'s WEB_MAX_TASKS. This is deliberately not a curl multi loop: every answer
 * already owns a thread in web/ for retrieval, grounding and relaying its SSE events, so a shared
 * event loop would save no thread; it would only move the socket wait and then need a queue back
 * to each answer's thread (or run every client's relay on one shared thread, where one slow
 * reader stalls all). Measured with bench/bench_remote.c (docs/BENCHMARKS.md, "Remote answer
 * backend"): 200 concurrent streamed answers through one kbox on the 2-core box all finished,
 * all 200 streams open at the backend at once, kbox at 114 MiB peak RSS, 206 threads and about
 * 15 ms of CPU per answer (retrieval and grounding included); the per-answer thread is not what
 * limits it.
 *
 * Faults: CURLOPT_CONNECTTIMEOUT is answer.connect_timeout_s; a read timeout is "no byte for
 * answer.timeout_s" (checked in curl's progress callback). Before the first piece has
 * reached the caller, HTTP 429, 502, 503 and 504 and connection failures are retried up to
 * answer.retries times with full-jitter exponential backoff (base 250 ms, cap 8 s), or after the
 * server's Retry-After seconds (capped at 30 s) when it sends one; after the first piece nothing is
 * retried (the client has seen text) and a broken stream returns KB_EIO with what came so far kept
 * by the caller. The breaker opens after answer.breaker_failures failed calls within
 * answer.breaker_window_s and refuses calls (KB_EBUSY, "backend unavailable") for
 * answer.breaker_cooldown_s; after the cool-down it is half-open (also when its state is only
 * read, so rag_ask lets a call through) and the next call is a probe whose success closes it.
 * TLS is verified unless answer.insecure (which rag/ logs as a warning at every start); answer.ca_file
 * replaces the system store. The API key goes in an Authorization header only, never in a log line
 * or error message; no "Expect: 100-continue" wait is added before a body is sent.
 * Tests: tests/rag/test_remote.c (a fault server on 127.0.0.1), tests/web/test_remote_served.c
 * (the same through a served kbox), tests/rag/test_remote_e2e.c (kbox behind kbox). */
#include "rag/rag_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REMOTE_BACKOFF_BASE_MS 250
#define REMOTE_BACKOFF_CAP_MS 8000
#define REMOTE_RETRY_AFTER_CAP_S 30
#define REMOTE_MAX_ERROR_BODY 4096

static pthread_once_t remote_curl_once = PTHREAD_ONCE_INIT;

static void remote_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double remote_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- breaker ---------------------------------------------------------------------------------- */

void remote_breaker_init(struct remote_breaker *b, int failures, double window_s, double cooldown_s)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->failures = failures;
    b->window_s = window_s;
    b->cooldown_s = cooldown_s;
    b->state = REMOTE_BREAKER_CLOSED;
}

void remote_breaker_release(struct remote_breaker *b)
{
    pthread_mutex_destroy(&b->mu);
}

bool remote_breaker_allow(struct remote_breaker *b)
{
    bool ok;
    double now = remote_now();
    pthread_mutex_lock(&b->mu);
    if (b->state == REMOTE_BREAKER_OPEN && now >= b->open_until)
        b->state = REMOTE_BREAKER_HALF_OPEN; /* the next call is the probe */
    ok = b->state != REMOTE_BREAKER_OPEN;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void remote_breaker_record(struct remote_breaker *b, bool ok)
{
    double now = remote_now();
    pthread_mutex_lock(&b->mu);
    if (ok) {
        b->state = REMOTE_BREAKER_CLOSED;
        b->n_fail = 0;
    } else {
        if (now - b->window_start > b->window_s) {
            b->window_start = now;
            b->n_fail = 0;
        }
        b->n_fail++;
        if (b->state == REMOTE_BREAKER_HALF_OPEN || b->n_fail >= b->failures) {
            b->state = REMOTE_BREAKER_OPEN;
            b->open_until = now + b->cooldown_s;
            b->n_opened++;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

enum remote_breaker_state remote_breaker_state(struct remote_breaker *b)
{
    enum remote_breaker_state s;
    double now = remote_now();
    pthread_mutex_lock(&b->mu);
    if (b->state == REMOTE_BREAKER_OPEN && now >= b->open_until)
        b->state = REMOTE_BREAKER_HALF_OPEN; /* the cool-down is over: callers that check first may probe */
    s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

/* ---- a configured server ---------------------------------------------------------------------------- */

int remote_client_init(struct remote_client *c, const struct config *cfg, const char *section, const char *url,
                       const char *model_name, const char *api_key, const char *api_key_file, struct kb_error *err)
{
    char key[4200] = "";
    int rc = 0;
    memset(c, 0, sizeof *c);
    if (!url[0])
        return kb_error_set(err, KB_ECONFIG, "%s.backend is openai but %s.url is empty", section, section);
    if (api_key[0]) {
        kb_strlcpy(key, api_key, sizeof key);
    } else if (api_key_file[0]) {
        FILE *f = fopen(api_key_file, "r");
        if (!f || !fgets(key, sizeof key, f))
            rc = kb_error_set(err, KB_ECONFIG, "%s.api_key_file '%s' cannot be read", section, api_key_file);
        if (f)
            fclose(f);
        key[strcspn(key, "\r\n")] = '\0';
    }
    if (rc == 0) {
        c->url = kb_xstrdup(url);
        c->model_name = kb_xstrdup(model_name);
        c->api_key = kb_xstrdup(key);
        c->ca_file = kb_xstrdup(cfg->answer_ca_file);
        c->ro = (struct remote_opts){.url = c->url, .api_key = c->api_key, .ca_file = c->ca_file,
                                     .insecure = cfg->answer_insecure,
                                     .connect_timeout_s = (int)cfg->answer_connect_timeout_s,
                                     .timeout_s = (int)cfg->answer_timeout_s, .retries = (int)cfg->answer_retries};
        remote_breaker_init(&c->breaker, (int)cfg->answer_breaker_failures, (double)cfg->answer_breaker_window_s,
                            (double)cfg->answer_breaker_cooldown_s);
        if (cfg->answer_insecure)
            kb_warn("answer.insecure is true: TLS certificates of %s are not verified", c->url);
    }
    memset(key, 0, sizeof key);
    return rc;
}

void remote_client_release(struct remote_client *c)
{
    if (!c->url)
        return;
    remote_breaker_release(&c->breaker);
    memset(c->api_key, 0, strlen(c->api_key));
    free(c->url);
    free(c->model_name);
    free(c->api_key);
    free(c->ca_file);
    memset(c, 0, sizeof *c);
}

void remote_client_state(struct remote_client *c, struct rag_backend_stats *st)
{
    static const char *const states[] = {"up", "down", "probing"};
    st->state = states[remote_breaker_state(&c->breaker)];
    pthread_mutex_lock(&c->breaker.mu);
    st->breaker_opened = c->breaker.n_opened;
    pthread_mutex_unlock(&c->breaker.mu);
}

/* ---- one streamed call ------------------------------------------------------------------------- */

struct remote_call {
    struct remote_sse sse;
    struct kb_error *err;
    int rc;                  /* the parser's or the callback's error */
    long status;             /* HTTP status, once known */
    struct kb_buf error_body; /* body of a non-2xx answer */
    struct kb_buf *raw;      /* non-streamed calls: the 2xx body goes here (capped); NULL: SSE */
    int retry_after_s;       /* Retry-After header, -1 when absent */
    double t_start, t_first; /* t_first: first piece passed on, 0 before */
    remote_piece_fn fn;
    void *ud;
    double t_last;           /* last byte received (or the start) */
    double idle_s;           /* answer.timeout_s */
    bool idle_timeout;       /* aborted by remote_on_progress */
};

/* Read timeout: curl's low-speed check does not cover the wait for the response headers, so the
 * progress callback (called about once a second and on every transfer) ends a call that has
 * received nothing for idle_s. */
static int remote_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct remote_call *c = ud;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    c->idle_timeout = remote_now() - c->t_last > c->idle_s;
    return c->idle_timeout ? 1 : 0;
}

static int remote_on_piece(void *ud, enum remote_piece kind, const char *text, size_t n, struct kb_error *err)
{
    struct remote_call *c = ud;
    if (c->t_first == 0)
        c->t_first = remote_now();
    return c->fn ? c->fn(c->ud, kind, text, n, err) : 0;
}

static size_t remote_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct remote_call *c = ud;
    size_t n = size * nmemb;
    c->t_last = remote_now();
    if (c->status / 100 != 2) {
        kb_buf_append(&c->error_body, p, n); /* capped; the excess is dropped */
        return n;
    }
    if (c->raw) {
        if (kb_buf_append(c->raw, p, n))
            c->rc = kb_error_set(c->err, KB_ETOOBIG, "remote backend: response over %zu bytes", c->raw->max_bytes);
        return c->rc ? 0 : n;
    }
    c->rc = remote_sse_feed(&c->sse, p, n, c->err);
    return c->rc ? 0 : n; /* 0 aborts the transfer */
}

static size_t remote_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct remote_call *c = ud;
    size_t n = size * nmemb;
    c->t_last = remote_now();
    if (n > 9 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        c->retry_after_s = -1;
    } else if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char v[32];
        size_t len = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, len);
        v[len] = '\0';
        char *end;
        long s = strtol(v, &end, 10);
        c->retry_after_s = end != v && s >= 0 ? (int)(s > REMOTE_RETRY_AFTER_CAP_S ? REMOTE_RETRY_AFTER_CAP_S : s) : -1;
    }
    return n;
}

static bool remote_retryable_status(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Full-jitter exponential backoff for attempt (0-based), in milliseconds. */
static long remote_backoff_ms(int attempt, unsigned *seed)
{
    long cap = REMOTE_BACKOFF_BASE_MS << (attempt < 5 ? attempt : 5);
    if (cap > REMOTE_BACKOFF_CAP_MS)
        cap = REMOTE_BACKOFF_CAP_MS;
    return cap / 2 + (long)(rand_r(seed) % (unsigned)(cap / 2 + 1));
}

static void remote_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void remote_endpoint(const char *base, const char *path, char *out, size_t out_bytes)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    bool has_v1 = n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0;
    snprintf(out, out_bytes, "%.*s%s/%s", (int)n, base, has_v1 ? "" : "/v1", path);
}

/* One HTTP POST of body to <url>/v1/<path>. Returns 0, or the error with err set; *retry says
 * whether it may be retried. */
static int remote_attempt(const struct remote_opts *o, const char *path, const char *body, struct remote_call *c,
                          bool *retry, struct kb_error *err)
{
    char url[2200], auth[4200];
    struct curl_slist *hdr = NULL;
    CURL *h = curl_easy_init();
    CURLcode cc;
    int rc = 0;
    *retry = false;
    if (!h)
        return kb_error_set(err, KB_ENOMEM, "cannot create an HTTP client");
    remote_endpoint(o->url, path, url, sizeof url);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, c->raw ? "Accept: application/json" : "Accept: text/event-stream");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue wait (up to 1 s) before a prompt is sent */
    if (o->api_key && o->api_key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, remote_on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
    if (o->ca_file && o->ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, remote_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, remote_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    cc = curl_easy_perform(h);
    if (c->rc) {
        rc = c->rc; /* the parser or the caller stopped the stream; err is set */
    } else if (cc == CURLE_OPERATION_TIMEDOUT || (cc == CURLE_ABORTED_BY_CALLBACK && c->idle_timeout)) {
        rc = kb_error_set(err, KB_ETIMEOUT, "remote backend %s: no data for %d s", o->url, o->timeout_s);
        *retry = c->t_first == 0 && c->sse.n_events == 0;
    } else if (cc != CURLE_OK) {
        rc = kb_error_set(err, KB_EIO, "remote backend %s: %s", o->url, curl_easy_strerror(cc));
        *retry = c->t_first == 0 && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING);
    } else if (c->status / 100 != 2) {
        rc = kb_error_set(err, c->status == 429 ? KB_ERATE : c->status >= 500 ? KB_EBUSY : KB_EIO,
                          "remote backend %s: HTTP %ld: %.300s", o->url, c->status,
                          c->error_body.data ? c->error_body.data : "");
        *retry = remote_retryable_status(c->status);
        if (c->status == 401 || c->status == 403)
            rc = kb_error_set(err, KB_EAUTH, "remote backend %s: HTTP %ld: check answer.api_key", o->url,
                              c->status);
    } else if (!c->raw) {
        rc = remote_sse_finish(&c->sse, err);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
}

/* The retry loop shared by streamed (raw NULL) and non-streamed calls. */
static int remote_run(const struct remote_opts *o, struct remote_breaker *b, const char *path, const char *body,
                      remote_piece_fn fn, void *ud, struct kb_buf *raw, struct remote_result *res,
                      struct kb_error *err)
{
    struct remote_call c;
    unsigned seed = (unsigned)(remote_now() * 1e6);
    int rc = 0;
    bool retry = false;
    pthread_once(&remote_curl_once, remote_curl_init);
    memset(res, 0, sizeof *res);
    if (b && !remote_breaker_allow(b))
        return kb_error_set(err, KB_EBUSY, "remote backend unavailable (circuit breaker open)");
    for (int attempt = 0;; attempt++) {
        memset(&c, 0, sizeof c);
        c.err = err;
        c.fn = fn;
        c.ud = ud;
        c.raw = raw;
        c.retry_after_s = -1;
        c.t_start = remote_now();
        c.t_last = c.t_start;
        c.idle_s = o->timeout_s;
        if (raw)
            kb_buf_reset(raw);
        kb_buf_init(&c.error_body, REMOTE_MAX_ERROR_BODY);
        remote_sse_init(&c.sse, remote_on_piece, &c);
        rc = remote_attempt(o, path, body, &c, &retry, err);
        res->usage = c.sse.usage;
        res->have_usage = c.sse.have_usage;
        res->ttft_s = c.t_first ? c.t_first - c.t_start : 0;
        res->n_pieces = c.sse.n_content + c.sse.n_reasoning;
        res->status = c.status;
        kb_strlcpy(res->finish_reason, c.sse.finish_reason, sizeof res->finish_reason);
        remote_sse_release(&c.sse);
        kb_buf_release(&c.error_body);
        if (!rc || !retry || res->n_pieces > 0 || attempt >= o->retries)
            break;
        res->n_retries++;
        remote_sleep_ms(c.retry_after_s >= 0 ? c.retry_after_s * 1000L : remote_backoff_ms(attempt, &seed));
    }
    res->incomplete = rc != 0 && res->n_pieces > 0;
    if (b)
        remote_breaker_record(b, rc == 0 || rc == KB_ECANCELED);
    return rc;
}

int remote_chat(const struct remote_opts *o, struct remote_breaker *b, const char *body, remote_piece_fn fn,
                void *ud, struct remote_result *res, struct kb_error *err)
{
    return remote_run(o, b, "chat/completions", body, fn, ud, NULL, res, err);
}

int remote_post_json(const struct remote_opts *o, struct remote_breaker *b, const char *path, const char *body,
                     struct kb_buf *out, struct remote_result *res, struct kb_error *err)
{
    return remote_run(o, b, path, body, NULL, NULL, out, res, err);
}
