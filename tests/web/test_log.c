/* tests/web/test_log.c: the conversation log of issue #15 against the real `kbox serve` binary on
 * 127.0.0.1 (tests/cli/serve.c starts it over a data directory that `kbox ingest` filled with
 * samples/en):
 *   - every answer of /api/ask (channels ui, widget, api) and /v1/chat/completions (openai) is
 *     logged and returns message_id and conversation_secret; a question sent with the secret stays
 *     in its conversation; a channel other than ui, widget or api is 400 and not logged;
 *   - POST /api/feedback: recorded with the right secret; 404 for an unknown message, another
 *     conversation's secret or none (nothing recorded); 400 for a bad vote, a comment over 2000
 *     characters (2000 Chinese characters pass), malformed JSON; 429 past the rate limit;
 *   - GET /api/review: fallbacks and thumbs-down, newest first, with kinds; filters kind, channel,
 *     collection, paging; 400/404 on bad filters; admin only; POST /api/review/{id} dismiss and
 *     resolved take items out, 400 on a bad action, 404 on an unknown id;
 *   - GET /api/stats: counts, shares, thumbs, latency, per day, top lists; 400 on a bad date;
 *   - GET /api/logs/export csv and jsonl (client_ip only with log.store_ip); 400 on a bad format;
 *   - /metrics counts answers by mode and feedback by vote;
 *   - DELETE /api/conversations/{id} removes its messages and feedback; 404 the second time;
 *   - log.enabled=false: nothing logged, feedback 403, the inbox says logging is off;
 *   - a generative answer is logged with the model (a GGUF from `kbox model synth`), others with none;
 *   - log.review_below: answers under it are in the inbox as low_confidence;
 *   - `kbox logs export|stats|purge` (text and --json, --out, bad flags and dates; a question that
 *     is a spreadsheet formula is defused in CSV) over the same data directory; the retention purge by hand and the daily one run by the next logged answer
 *     (messages moved 200 days back with SQLite on the stopped server's file). */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "base/base.h"
#include "base/json.h"
#include "http.h"
#include "../cli/serve.h"
#include "../support/run.h"

#define TOKEN "log-admin-token-0123456789abcdef0123"
#define AUTH "Authorization: Bearer " TOKEN
#define SAMPLES KBOX_SOURCE_DIR "/samples/en"

static const char *const json_hdrs[] = {"Content-Type: application/json", NULL};
static const char *const admin_hdrs[] = {AUTH, "Content-Type: application/json", NULL};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static pid_t running; /* the server of the running test, stopped by teardown if an assertion failed */

struct srv {
    char dir[64];
    struct kbox_server k;
};

/* A data directory with samples/en ingested, served with extra --set pairs. */
static void srv_start(struct srv *s, const char *const *sets)
{
    const char *argv[32];
    struct run_result r;
    int k = 0;
    snprintf(s->dir, sizeof s->dir, "/tmp/kbox-log-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    char *ing[] = {KBOX_BIN, "--data-dir", s->dir, "--set", "log.level=warn", "ingest", SAMPLES, NULL};
    assert_int_equal(run_cmd(&r, ing, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("kbox ingest: %s", r.err);
    run_result_free(&r);
    argv[k++] = "--set";
    argv[k++] = "server.admin_token=" TOKEN;
    argv[k++] = "--set";
    argv[k++] = "log.level=warn";
    for (int i = 0; sets && sets[i] && k < 28; i++) {
        argv[k++] = "--set";
        argv[k++] = sets[i];
    }
    argv[k] = NULL;
    if (kbox_serve_start(&s->k, s->dir, argv))
        fail_msg("kbox serve did not start: %s", s->k.printed);
    running = s->k.pid;
}

static int teardown(void **state)
{
    (void)state;
    if (running > 0 && kill(running, SIGTERM) == 0)
        waitpid(running, NULL, 0);
    running = 0;
    return 0;
}

static void srv_stop(struct srv *s)
{
    running = 0;
    assert_int_equal(kbox_serve_stop(&s->k), 0);
    nftw(s->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* method path with body (nullable); expects status; the parsed JSON body (caller frees) or NULL
 * when want_json is false. */
static struct kb_json *call(int port, const char *method, const char *path, bool admin, const char *body, int status,
                            bool want_json)
{
    struct http_resp r;
    struct kb_json *v = NULL;
    struct kb_error err = {0};
    assert_int_equal(http_req(port, method, path, admin ? admin_hdrs : json_hdrs, body, body ? strlen(body) : 0, &r),
                     0);
    if (r.status != status)
        fail_msg("%s %s %s: want %d, got %d: %s", method, path, body ? body : "", status, r.status, r.body);
    if (want_json && kb_json_parse(&v, r.body, r.body_len, NULL, &err) != 0)
        fail_msg("%s %s: not JSON (%s): %s", method, path, err.msg, r.body);
    http_resp_free(&r);
    return v;
}

/* The body text of a GET (caller frees). */
static char *get_text(int port, const char *path, bool admin, int status)
{
    struct http_resp r;
    char *out;
    assert_int_equal(http_req(port, "GET", path, admin ? admin_hdrs : json_hdrs, NULL, 0, &r), 0);
    if (r.status != status)
        fail_msg("GET %s: want %d, got %d: %s", path, status, r.status, r.body);
    out = kb_xstrdup(r.body);
    http_resp_free(&r);
    return out;
}

static bool json_true(const struct kb_json *v)
{
    char *t = kb_json_print(v);
    bool yes = t && strcmp(t, "true") == 0;
    free(t);
    return yes;
}

struct answer {
    int64_t message_id, conversation_id;
    char secret[64];
    bool fallback;
    char mode[32];
};

/* POST /api/ask {question, channel, conversation_secret?}. */
static void ask(int port, const char *question, const char *channel, const char *secret, struct answer *a)
{
    struct kb_buf b;
    struct jw w;
    struct kb_json *v;
    kb_buf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_str(&w, "question", question);
    if (channel)
        jw_str(&w, "channel", channel);
    if (secret)
        jw_str(&w, "conversation_secret", secret);
    jw_end_obj(&w);
    v = call(port, "POST", "/api/ask", false, b.data, 200, true);
    memset(a, 0, sizeof *a);
    a->message_id = (int64_t)kb_json_num(kb_json_get(v, "message_id"));
    if (kb_json_str(kb_json_get(v, "conversation_secret")))
        kb_strlcpy(a->secret, kb_json_str(kb_json_get(v, "conversation_secret")), sizeof a->secret);
    a->fallback = json_true(kb_json_get(v, "fallback"));
    kb_strlcpy(a->mode, kb_json_str(kb_json_get(v, "mode")) ? kb_json_str(kb_json_get(v, "mode")) : "", sizeof a->mode);
    kb_json_free(v);
    kb_buf_release(&b);
}

static void feedback(int port, int64_t id, int vote, const char *comment, const char *secret, int status)
{
    struct kb_buf b;
    struct jw w;
    kb_buf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_int(&w, "message_id", id);
    jw_int(&w, "vote", vote);
    if (comment)
        jw_str(&w, "comment", comment);
    if (secret)
        jw_str(&w, "secret", secret);
    jw_end_obj(&w);
    kb_json_free(call(port, "POST", "/api/feedback", false, b.data, status, true));
    kb_buf_release(&b);
}

/* Message ids of the review items (newest first) into ids; returns their count, *total the total. */
static int review_ids(int port, const char *query, int64_t *ids, int cap, int64_t *total)
{
    char path[512];
    struct kb_json *v;
    int n = 0;
    snprintf(path, sizeof path, "/api/review%s", query);
    v = call(port, "GET", path, true, NULL, 200, true);
    for (const struct kb_json *it = kb_json_first(kb_json_get(v, "items")); it && n < cap; it = kb_json_next(it))
        ids[n++] = (int64_t)kb_json_num(kb_json_get(it, "message_id"));
    if (total)
        *total = (int64_t)kb_json_num(kb_json_get(v, "total"));
    kb_json_free(v);
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* test_loop's four answers: two widget questions in one conversation (ok, follow), a widget
 * fallback (miss) and a ui fallback (ui2). */
struct loop_ctx {
    int port;
    struct answer ok, miss, ui2, follow;
};

static void loop_ask(struct loop_ctx *c)
{
    int port = c->port;
    ask(port, "How many days do I have to return a kettle?", "widget", NULL, &c->ok);
    ask(port, "What is the airspeed of an unladen swallow?", "widget", NULL, &c->miss);
    ask(port, "Do you sell submarines on Jupiter?", "ui", NULL, &c->ui2);
    assert_true(c->ok.message_id > 0 && c->miss.message_id > c->ok.message_id && c->ui2.message_id > c->miss.message_id);
    assert_int_equal(strlen(c->ok.secret), 32);
    assert_string_not_equal(c->ok.secret, c->miss.secret);
    assert_false(c->ok.fallback);
    assert_true(c->miss.fallback);
    /* the conversation continues with its secret (same secret back); a wrong one starts a new one */
    /* (a product the samples sell: a toaster, which they do not, weighs most as a word the knowledge
     * base never uses and is rightly a fallback, like test_faq_match's frother) */
    ask(port, "How many days do I have to return a grinder?", "widget", c->ok.secret, &c->follow);
    assert_string_equal(c->follow.secret, c->ok.secret);
    assert_false(c->follow.fallback);
    /* a channel the client may not claim (openai is the OpenAI endpoint's) is refused, not logged
     * (loop_stats_exports counts five questions) */
    kb_json_free(call(port, "POST", "/api/ask", false, "{\"question\":\"hi\",\"channel\":\"openai\"}", 400, true));
    kb_json_free(call(port, "POST", "/api/ask", false, "{\"question\":\"hi\",\"channel\":\"fax\"}", 400, true));

}

/* Feedback: the rejected cases record nothing, then two thumbs-down and one thumbs-up. */
static void loop_feedback(struct loop_ctx *c)
{
    int64_t ids[16], total = 0;
    int port = c->port, n;
    /* feedback: errors first, nothing recorded by them */
    feedback(port, c->miss.message_id, -1, NULL, c->ok.secret, 404);             /* another conversation's */
    feedback(port, c->miss.message_id, -1, NULL, NULL, 404);                  /* no secret */
    feedback(port, 999999, -1, NULL, c->miss.secret, 404);                    /* unknown message */
    feedback(port, c->miss.message_id, 0, NULL, c->miss.secret, 400);            /* bad vote */
    feedback(port, c->miss.message_id, 2, NULL, c->miss.secret, 400);
    {
        char *big = malloc(2002), *cjk = malloc(6001);
        memset(big, 'x', 2001);
        big[2001] = '\0';
        feedback(port, c->miss.message_id, -1, big, c->miss.secret, 400);        /* 2001 characters */
        for (int i = 0; i < 2000; i++)
            memcpy(cjk + 3 * i, "\xe5\xa5\xbd", 3);                          /* 好 x 2000: 6000 bytes */
        cjk[6000] = '\0';
        feedback(port, c->ok.message_id, 1, cjk, c->ok.secret, 200);
        free(big);
        free(cjk);
    }
    kb_json_free(call(port, "POST", "/api/feedback", false, "{\"message_id\":", 400, true));
    n = review_ids(port, "?kind=thumbs_down", ids, 16, &total);
    assert_int_equal(n, 0); /* the rejected thumbs-down left nothing */
    feedback(port, c->miss.message_id, -1, "not helpful", c->miss.secret, 200);
    feedback(port, c->follow.message_id, -1, "wrong", c->ok.secret, 200);        /* same conversation: allowed */

}

/* The review inbox: order, kinds, filters, paging, errors, dismiss and resolve. */
static void loop_review(struct loop_ctx *c)
{
    int64_t ids[16], total = 0;
    char body[512];
    int port = c->port, n;
    /* the inbox: newest first; miss is both a fallback and a thumbs-down */
    n = review_ids(port, "", ids, 16, &total);
    assert_true(n >= 3);
    for (int i = 1; i < n; i++)
        assert_true(ids[i] < ids[i - 1]);
    n = review_ids(port, "?kind=thumbs_down", ids, 16, &total);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], c->follow.message_id);
    assert_int_equal(ids[1], c->miss.message_id);
    n = review_ids(port, "?kind=fallback&channel=ui", ids, 16, &total);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], c->ui2.message_id);
    n = review_ids(port, "?kind=fallback&limit=1&offset=1", ids, 16, &total);
    assert_int_equal(n, 1);
    assert_true(total >= 2);
    n = review_ids(port, "?collection=default&from=2000-01-01&to=2000-01-02", ids, 16, &total);
    assert_int_equal(n, 0);
    kb_json_free(call(port, "GET", "/api/review?kind=angry", true, NULL, 400, true));
    kb_json_free(call(port, "GET", "/api/review?channel=fax", true, NULL, 400, true));
    kb_json_free(call(port, "GET", "/api/review?limit=1000", true, NULL, 400, true));
    kb_json_free(call(port, "GET", "/api/review?from=yesterday", true, NULL, 400, true));
    kb_json_free(call(port, "GET", "/api/review?collection=nope", true, NULL, 404, true));
    kb_json_free(call(port, "GET", "/api/review", false, NULL, 401, true));

    /* dismiss and resolve take items out */
    snprintf(body, sizeof body, "/api/review/%lld", (long long)c->ui2.message_id);
    kb_json_free(call(port, "POST", body, true, "{\"action\":\"dismiss\"}", 200, true));
    snprintf(body, sizeof body, "/api/review/%lld", (long long)c->follow.message_id);
    kb_json_free(call(port, "POST", body, true, "{\"action\":\"resolved\"}", 200, true));
    kb_json_free(call(port, "POST", body, true, "{\"action\":\"archive\"}", 400, true));
    kb_json_free(call(port, "POST", "/api/review/999999", true, "{\"action\":\"dismiss\"}", 404, true));
    kb_json_free(call(port, "POST", body, false, "{\"action\":\"dismiss\"}", 401, true));
    n = review_ids(port, "", ids, 16, &total);
    for (int i = 0; i < n; i++)
        assert_true(ids[i] != c->ui2.message_id && ids[i] != c->follow.message_id);
    n = review_ids(port, "?kind=thumbs_down", ids, 16, &total);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], c->miss.message_id);

}

/* The OpenAI channel, analytics, exports and metrics over the five logged answers. */
static void loop_stats_exports(struct loop_ctx *c)
{
    char *text;
    int port = c->port;
    /* the OpenAI endpoint is logged too (channel openai), and takes no feedback: its answer names
     * no message id and no conversation secret, so its message cannot be voted on */
    {
        struct kb_json *v = call(port, "POST", "/v1/chat/completions", false,
                                 "{\"model\":\"kbox\",\"messages\":[{\"role\":\"user\",\"content\":\"How long is "
                                 "the warranty?\"}]}",
                                 200, true);
        char *all = kb_json_print(v);
        assert_null(strstr(all, "message_id"));
        assert_null(strstr(all, "conversation_secret"));
        free(all);
        kb_json_free(v);
        feedback(port, c->follow.message_id + 1, 1, NULL, c->ok.secret, 404);
        feedback(port, c->follow.message_id + 1, 1, NULL, NULL, 404);
    }

    /* analytics */
    {
        struct kb_json *v = call(port, "GET", "/api/stats", true, NULL, 200, true);
        const struct kb_json *th = kb_json_get(v, "thumbs");
        assert_int_equal((int)kb_json_num(kb_json_get(v, "questions")), 5);
        assert_int_equal((int)kb_json_num(kb_json_get(v, "fallback")), 2);
        assert_int_equal((int)kb_json_num(kb_json_get(v, "handed_off")), 0);
        assert_int_equal((int)kb_json_num(kb_json_get(th, "up")), 1);
        assert_int_equal((int)kb_json_num(kb_json_get(th, "down")), 2);
        assert_true(kb_json_num(kb_json_get(kb_json_get(v, "latency_ms"), "p95")) >=
                    kb_json_num(kb_json_get(kb_json_get(v, "latency_ms"), "p50")));
        assert_int_equal(kb_json_count(kb_json_get(v, "per_day")), 1);
        assert_int_equal(kb_json_count(kb_json_get(v, "top_unanswered")), 2);
        assert_true(kb_json_count(kb_json_get(v, "top_documents")) >= 1);
        assert_true(kb_json_count(kb_json_get(v, "top_questions")) == 5);
        kb_json_free(v);
        v = call(port, "GET", "/api/stats?from=2000-01-01&to=2000-12-31&collection=default", true, NULL, 200, true);
        assert_int_equal((int)kb_json_num(kb_json_get(v, "questions")), 0);
        kb_json_free(v);
        kb_json_free(call(port, "GET", "/api/stats?to=31/12/2000", true, NULL, 400, true));
        kb_json_free(call(port, "GET", "/api/stats?from=2001-01-01&to=2000-01-01", true, NULL, 400, true));
        kb_json_free(call(port, "GET", "/api/stats", false, NULL, 401, true));
    }

    /* exports: a header and five rows; jsonl five lines; one openai line; no client_ip by default */
    text = get_text(port, "/api/logs/export?format=csv", true, 200);
    assert_int_equal(count_lines(text), 6);
    assert_non_null(strstr(text, "id,conversation_id,created_at,channel"));
    free(text);
    text = get_text(port, "/api/logs/export?format=jsonl", true, 200);
    assert_int_equal(count_lines(text), 5);
    assert_non_null(strstr(text, "\"client_ip\":null"));
    assert_non_null(strstr(text, "\"model\":\"\"")); /* no model wrote the extractive answers */
    assert_null(strstr(text, "127.0.0.1"));
    free(text);
    text = get_text(port, "/api/logs/export?format=jsonl&channel=openai", true, 200);
    assert_int_equal(count_lines(text), 1);
    free(text);
    free(get_text(port, "/api/logs/export?format=xml", true, 400));
    free(get_text(port, "/api/logs/export?format=csv", false, 401));

    /* metrics by mode and vote */
    text = get_text(port, "/metrics", true, 200);
    assert_non_null(strstr(text, "kbox_answers_total{mode=\"fallback\"} 2"));
    assert_non_null(strstr(text, "kbox_feedback_total{vote=\"down\"} 2"));
    assert_non_null(strstr(text, "kbox_feedback_total{vote=\"up\"} 1"));
    free(text);

}

static void loop_delete(struct loop_ctx *c)
{
    char body[512], *text;
    int port = c->port;
    /* deleting the widget conversation of ok/follow removes its messages and their feedback */
    {
        struct kb_json *v;
        long long conv = 0;
        text = get_text(port, "/api/logs/export?format=jsonl&channel=widget", true, 200);
        assert_int_equal(sscanf(strstr(text, "\"conversation_id\":"), "\"conversation_id\":%lld", &conv),
                         1);
        free(text);
        snprintf(body, sizeof body, "/api/conversations/%lld", conv);
        kb_json_free(call(port, "DELETE", body, false, NULL, 401, true));
        kb_json_free(call(port, "DELETE", body, true, NULL, 200, true));
        kb_json_free(call(port, "DELETE", body, true, NULL, 404, true));
        feedback(port, c->ok.message_id, 1, NULL, c->ok.secret, 404);
        v = call(port, "GET", "/api/stats", true, NULL, 200, true);
        assert_int_equal((int)kb_json_num(kb_json_get(v, "questions")), 3);
        assert_int_equal((int)kb_json_num(kb_json_get(kb_json_get(v, "thumbs"), "up")), 0);
        kb_json_free(v);
    }
}

static void test_loop(void **state)
{
    static const char *const sets[] = {"server.rate_limit_per_min=0", NULL};
    struct srv s;
    struct loop_ctx c = {0};
    (void)state;
    srv_start(&s, sets);
    c.port = s.k.port;
    loop_ask(&c);
    loop_feedback(&c);
    loop_review(&c);
    loop_stats_exports(&c);
    loop_delete(&c);
    srv_stop(&s);
}

static void test_disabled_ip_and_rate(void **state)
{
    static const char *const off[] = {"log.enabled=false", NULL};
    static const char *const ip[] = {"log.store_ip=true", "server.rate_limit_per_min=6", NULL};
    struct srv s;
    struct answer a;
    struct kb_json *v;
    char *text;
    (void)state;
    srv_start(&s, off);
    ask(s.k.port, "What is the airspeed of an unladen swallow?", "ui", NULL, &a);
    assert_int_equal(a.message_id, 0);
    assert_string_equal(a.secret, "");
    feedback(s.k.port, 1, -1, NULL, "0123456789abcdef0123456789abcdef", 403);
    v = call(s.k.port, "GET", "/api/review", true, NULL, 200, true);
    assert_false(json_true(kb_json_get(v, "enabled")));
    assert_int_equal(kb_json_kind(kb_json_get(v, "enabled")), KB_JSON_BOOL);
    assert_non_null(strstr(kb_json_str(kb_json_get(v, "message")), "logging is off"));
    assert_int_equal(kb_json_count(kb_json_get(v, "items")), 0);
    kb_json_free(v);
    srv_stop(&s);

    srv_start(&s, ip);
    ask(s.k.port, "What is the airspeed of an unladen swallow?", "widget", NULL, &a);
    text = get_text(s.k.port, "/api/logs/export?format=csv", true, 200);
    assert_non_null(strstr(text, "127.0.0.1"));
    free(text);
    /* public feedback shares the per-IP limit of asking: the 6th request of the minute passes,
     * the 7th is refused */
    for (int i = 0; i < 5; i++)
        feedback(s.k.port, a.message_id, 1, NULL, a.secret, 200);
    feedback(s.k.port, a.message_id, 1, NULL, a.secret, 429);
    srv_stop(&s);
}

/* Runs kbox with args after "--data-dir dir"; expects exit code; returns the result (caller frees). */
static void kbox_run(struct run_result *r, const char *dir, const char *const *args, int exit_code)
{
    char *argv[24] = {KBOX_BIN, "--data-dir", (char *)dir, "--set", "log.level=warn"};
    int n = 5;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(run_cmd(r, argv, NULL), 0);
    if (r->exit_code != exit_code)
        fail_msg("kbox %s %s: exit %d, want %d; stdout '%.300s' stderr '%.300s'", args[0], args[1] ? args[1] : "",
                 r->exit_code, exit_code, r->out, r->err);
}

/* Moves the logged message with this question 200 days back (as if asked then) with the SQLite
 * library on the stopped server's file; the purge is what is tested, not the clock. */
static void backdate(const char *dir, const char *question)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    snprintf(path, sizeof path, "%s/kbox.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE messages SET created_at = created_at - 200 * 86400 WHERE question = ?1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, question, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(s);
    /* the automatic purge ran today already (meta log_purged_day); make the next append run it again */
    assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '0' WHERE key = 'log_purged_day'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

/* `kbox logs export|stats|purge` (every one with --json) over a data directory the server logged
 * into; low-confidence answers in the inbox (log.review_below); the retention purge, by hand and the
 * daily one the server runs with the next logged answer. */
static void test_cli(void **state)
{
    static const char *const sets[] = {"log.review_below=1", NULL};
    static const char *const resets[] = {"--set", "server.admin_token=" TOKEN, "--set", "log.level=warn", NULL};
    static const char *const MISS = "What is the airspeed of an unladen swallow?";
    static const char *const KETTLE = "How many days do I have to return a kettle?";
    struct srv s;
    struct answer a;
    struct run_result r;
    struct kb_json *v;
    char out[128];
    int64_t ids[8], total = 0;
    (void)state;
    srv_start(&s, sets);
    ask(s.k.port, MISS, "widget", NULL, &a);
    ask(s.k.port, KETTLE, "api", NULL, &a);
    /* log.review_below=1: the confident answer is in the inbox as low confidence; the fallback is not */
    assert_int_equal(review_ids(s.k.port, "?kind=low_confidence", ids, 8, &total), 1);
    assert_int_equal(ids[0], a.message_id);
    v = call(s.k.port, "GET", "/api/review?kind=low_confidence", true, NULL, 200, true);
    {
        const struct kb_json *it = kb_json_first(kb_json_get(v, "items"));
        char *kinds = kb_json_print(kb_json_get(it, "kinds"));
        assert_string_equal(kinds, "[\"low_confidence\"]");
        assert_true(kb_json_num(kb_json_get(it, "confidence")) < 1);
        free(kinds);
    }
    assert_true(kb_json_num(kb_json_get(v, "low_confidence_below")) == 1);
    kb_json_free(v);
    kb_json_free(call(s.k.port, "GET", "/api/stats?collection=nope", true, NULL, 404, true));
    kb_json_free(call(s.k.port, "GET", "/api/stats?kind=fallback", true, NULL, 400, true));
    running = 0;
    assert_int_equal(kbox_serve_stop(&s.k), 0);

    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--format", "csv", NULL}, 0);
    assert_int_equal(count_lines(r.out), 3);
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--json", "--channel", "widget", NULL}, 0);
    assert_int_equal(count_lines(r.out), 1); /* --json: JSON lines */
    assert_non_null(strstr(r.out, "\"channel\":\"widget\""));
    assert_non_null(strstr(r.out, "\"mode\":\"fallback\""));
    run_result_free(&r);
    snprintf(out, sizeof out, "%s/export.csv", s.dir);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--format", "csv", "--out", out, NULL}, 0);
    run_result_free(&r);
    {
        FILE *f = fopen(out, "r");
        char line[256];
        int n = 0;
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
            n += line[strlen(line) - 1] == '\n';
        fclose(f);
        assert_true(n >= 3); /* the header and two rows (a quoted answer may hold newlines) */
    }
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", "--json", NULL}, 0);
    assert_non_null(strstr(r.out, "\"questions\":2"));
    assert_non_null(strstr(r.out, "\"fallback\":1"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", NULL}, 0);
    assert_non_null(strstr(r.out, "questions 2, answered 1, fallback 1, handed off 0\n"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", "--from", "2000-01-01", "--to", "2000-01-31", "--json", NULL},
             0);
    assert_non_null(strstr(r.out, "\"questions\":0"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--format", "xml", NULL}, 2);
    assert_non_null(strstr(r.err, "format must be csv or jsonl"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", "--from", "yesterday", NULL}, 2);
    assert_non_null(strstr(r.err, "from"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", "--collection", "nope", NULL}, 2);
    assert_non_null(strstr(r.err, "nope"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "stats", "--bogus", "1", NULL}, 1);
    assert_non_null(strstr(r.err, "unknown flag '--bogus'"));
    run_result_free(&r);

    /* retention: nothing is 90 days old; then one message 200 days old goes, by hand */
    kbox_run(&r, s.dir, (const char *const[]){"logs", "purge", "--json", NULL}, 0);
    assert_string_equal(r.out, "{\"deleted\":0}\n");
    run_result_free(&r);
    backdate(s.dir, MISS);
    kbox_run(&r, s.dir, (const char *const[]){"--set", "log.retention_days=0", "logs", "purge", "--json", NULL}, 0);
    assert_string_equal(r.out, "{\"deleted\":0}\n"); /* 0 days: keep forever */
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "purge", NULL}, 0);
    assert_non_null(strstr(r.out, "deleted 1 logged messages"));
    run_result_free(&r);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--json", NULL}, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_null(strstr(r.out, MISS));
    run_result_free(&r);

    /* the daily purge: the server's next logged answer removes the now 200-day-old kettle question */
    backdate(s.dir, KETTLE);
    if (kbox_serve_start(&s.k, s.dir, resets))
        fail_msg("kbox serve did not start again: %s", s.k.printed);
    running = s.k.pid;
    ask(s.k.port, MISS, "ui", NULL, &a);
    ask(s.k.port, "=HYPERLINK(\"http://example.com\")", "widget", NULL, &a); /* a customer's formula */
    running = 0;
    assert_int_equal(kbox_serve_stop(&s.k), 0);
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--json", NULL}, 0);
    assert_int_equal(count_lines(r.out), 2);
    assert_null(strstr(r.out, KETTLE));
    assert_non_null(strstr(r.out, "\"channel\":\"ui\""));
    assert_non_null(strstr(r.out, "\"question\":\"=HYPERLINK(")); /* JSON keeps the text as asked */
    run_result_free(&r);
    /* CSV opened in a spreadsheet must not run it: the cell starts with an apostrophe */
    kbox_run(&r, s.dir, (const char *const[]){"logs", "export", "--format", "csv", NULL}, 0);
    assert_non_null(strstr(r.out, ",\"'=HYPERLINK(\"\"http://example.com\"\")\","));
    run_result_free(&r);
    nftw(s.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A generative answer (answer.model = a GGUF written by `kbox model synth`) is logged with its mode
 * and the model that wrote it (test_loop's extractive answers and fallbacks name none). */
static void test_generative_model(void **state)
{
    struct srv s;
    struct answer a;
    struct run_result r;
    char model[160], set[200], *text;
    const char *sets[] = {set, "answer.max_tokens=24", "answer.context=2048", NULL};
    char dir[] = "/tmp/kbox-log-model-XXXXXX";
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/llama.gguf", dir);
    {
        char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "llama", "--type", "Q8_0", "--seed", "7", "--out", model, NULL};
        assert_int_equal(run_cmd(&r, synth, NULL), 0);
        if (r.exit_code != 0)
            fail_msg("kbox model synth: %s", r.err);
        run_result_free(&r);
    }
    snprintf(set, sizeof set, "answer.model=%s", model);
    srv_start(&s, sets);
    ask(s.k.port, "How many days of annual leave do employees get?", "api", NULL, &a);
    assert_string_equal(a.mode, "generative");
    text = get_text(s.k.port, "/api/logs/export?format=jsonl", true, 200);
    {
        char want[200];
        snprintf(want, sizeof want, "\"model\":\"%s\"", model);
        assert_int_equal(count_lines(text), 1);
        assert_non_null(strstr(text, "\"mode\":\"generative\""));
        assert_non_null(strstr(text, want));
    }
    free(text);
    srv_stop(&s);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_loop, teardown),
        cmocka_unit_test_teardown(test_disabled_ip_and_rate, teardown),
        cmocka_unit_test_teardown(test_cli, teardown),
        cmocka_unit_test_teardown(test_generative_model, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
