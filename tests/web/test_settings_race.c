/* tests/web/test_settings_race.c: the settings page against questions, concurrently, over real HTTP.
 *
 * One server (web_server_start over a real rag with the English handbook ingested) on 127.0.0.1.
 * Writer threads PUT /api/settings (answer.max_sentences, server.public_ask, server.cors_origins,
 * widget.title) while reader threads POST /api/ask, GET /api/widget and GET /api/settings, each a
 * bounded number of times. Every response must be well-formed: a status the request allows (an ask
 * is 200, or 401 while public_ask is off), a balanced JSON object with the keys of its kind. Then
 * one last write, and the settings must read back as written: over HTTP, in settings.json, and after
 * the knowledge base is opened again. Under TSan (ctest label tsan, ./dev.sh test --tsan) any data
 * race between a settings change and a request's reads fails the run (halt_on_error=1). */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "config/config.h"
#include "rag/rag.h"
#include "web/web.h"

#include "http.h"

#define TOKEN "race-admin-token-0123456789abcdef"
#define RACE_WRITERS 2
#define RACE_READERS 3
#define RACE_WRITES 32 /* per writer */
#define RACE_READS 48  /* per reader */

static const char *const admin[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json", NULL};
static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

struct race {
    char dir[256];
    struct config cfg;
    struct rag *rag;
    struct web_server *srv;
    int port;
};

struct race_thread {
    struct race *x;
    int id;
    int n_bad;          /* responses that were not well-formed */
    char first_bad[512]; /* what the first one was */
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void set(struct config *cfg, const char *k, const char *v)
{
    struct kb_error err = {0};
    if (config_set(cfg, k, v, CONFIG_SRC_FLAG, &err))
        fail_msg("config_set %s=%s: %s", k, v, err.msg);
}

/* A balanced JSON object: braces and brackets match outside strings, strings close, and nothing
 * but whitespace follows the object. Enough to catch a torn or truncated response. */
static bool json_object_ok(const char *s)
{
    char stack[64];
    int depth = 0;
    bool in_str = false;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
        s++;
    if (*s != '{')
        return false;
    for (; *s; s++) {
        if (in_str) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_str = false;
            else if ((unsigned char)*s < 0x20)
                return false;
            continue;
        }
        if (*s == '"') {
            in_str = true;
        } else if (*s == '{' || *s == '[') {
            if (depth == (int)sizeof stack)
                return false;
            stack[depth++] = *s == '{' ? '}' : ']';
        } else if (*s == '}' || *s == ']') {
            if (depth == 0 || stack[--depth] != *s)
                return false;
            if (depth == 0)
                break;
        }
    }
    if (!*s || depth)
        return false;
    for (s++; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t')
            return false;
    return true;
}

/* Records a response that is not what its request allows. */
static void bad(struct race_thread *t, const char *what, const struct http_resp *r)
{
    if (!t->n_bad++)
        snprintf(t->first_bad, sizeof t->first_bad, "%s: status %d, body %.300s", what, r->status,
                 r->body ? r->body : "(none)");
}

static void check(struct race_thread *t, const char *what, const struct http_resp *r, bool status_ok,
                  const char *key)
{
    if (!status_ok || !r->body || !json_object_ok(r->body) || !strstr(r->body, key))
        bad(t, what, r);
}

static void *race_writer(void *p)
{
    struct race_thread *t = p;
    for (int i = 0; i < RACE_WRITES; i++) {
        char body[512];
        struct http_resp r = {0};
        int n = snprintf(body, sizeof body,
                         "{\"answer.max_sentences\": %d, \"server.public_ask\": %s,"
                         " \"server.cors_origins\": \"https://w%d-%d.example\", \"widget.title\": \"Writer %d step %d\"}",
                         1 + (i + t->id) % 5, (i + t->id) % 3 ? "true" : "false", t->id, i, t->id, i);
        if (http_req(t->x->port, "PUT", "/api/settings", admin, body, (size_t)n, &r) != 0) {
            bad(t, "PUT /api/settings (no response)", &r);
            continue;
        }
        check(t, "PUT /api/settings", &r, r.status == 200, "\"answer.max_sentences\":");
        http_resp_free(&r);
    }
    return NULL;
}

static void *race_reader(void *p)
{
    static const char q[] = "{\"question\":\"How many days of paid annual leave do employees get?\"}";
    struct race_thread *t = p;
    for (int i = 0; i < RACE_READS; i++) {
        struct http_resp r = {0};
        switch (i % 3) {
        case 0:
            if (http_req(t->x->port, "POST", "/api/ask", json_hdr, q, sizeof q - 1, &r) != 0) {
                bad(t, "POST /api/ask (no response)", &r);
                continue;
            }
            /* public while server.public_ask is on; otherwise the token is required */
            check(t, "POST /api/ask", &r, r.status == 200 || r.status == 401,
                  r.status == 200 ? "\"answer\":\"" : "\"EAUTH\"");
            break;
        case 1:
            if (http_req(t->x->port, "GET", "/api/widget", NULL, NULL, 0, &r) != 0) {
                bad(t, "GET /api/widget (no response)", &r);
                continue;
            }
            check(t, "GET /api/widget", &r, r.status == 200 || r.status == 401,
                  r.status == 200 ? "\"title\":\"" : "\"EAUTH\"");
            break;
        default:
            if (http_req(t->x->port, "GET", "/api/settings", admin, NULL, 0, &r) != 0) {
                bad(t, "GET /api/settings (no response)", &r);
                continue;
            }
            check(t, "GET /api/settings", &r, r.status == 200, "\"server.public_ask\":");
            break;
        }
        http_resp_free(&r);
    }
    return NULL;
}

/* Sends a request and asserts its status and that the body holds every string of want (NULL-ended). */
static void expect(const struct race *x, const char *method, const char *path, const char *const *hdrs,
                   const char *body, int status, const char *const *want)
{
    struct http_resp r = {0};
    assert_int_equal(http_req(x->port, method, path, hdrs, body, body ? strlen(body) : 0, &r), 0);
    if (r.status != status)
        fail_msg("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body);
    for (int i = 0; want[i]; i++)
        if (!strstr(r.body, want[i]))
            fail_msg("%s %s: body %s lacks %s", method, path, r.body, want[i]);
    http_resp_free(&r);
}

static void race_open(struct race *x)
{
    struct kb_error err = {0};
    if (rag_open(&x->rag, &x->cfg, &err))
        fail_msg("rag_open: %s", err.msg);
}

static void test_settings_race(void **state)
{
    struct race x = {0};
    struct web_opts o = {.host = NULL, .port = -1, .n_threads = 4, .access_log = false};
    struct race_thread th[RACE_WRITERS + RACE_READERS];
    pthread_t tid[RACE_WRITERS + RACE_READERS];
    struct kb_error err = {0};
    const char *paths[1] = {KBOX_SOURCE_DIR "/samples/en/employee-handbook.txt"};
    static const char last[] = "{\"answer.max_sentences\": 2, \"server.public_ask\": true,"
                               " \"server.cors_origins\": \"https://last.example\", \"widget.title\": \"Last\"}";
    static const char *const last_read[] = {"\"answer.max_sentences\":2", "\"server.public_ask\":true",
                                            "\"server.cors_origins\":\"https://last.example\"",
                                            "\"widget.title\":\"Last\"", NULL};
    static const char *const last_title[] = {"\"title\":\"Last\"", NULL};
    (void)state;

    snprintf(x.dir, sizeof x.dir, "/tmp/kbox-race-test-XXXXXX");
    if (!mkdtemp(x.dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    config_init(&x.cfg);
    set(&x.cfg, "data.dir", x.dir);
    set(&x.cfg, "server.port", "0");
    set(&x.cfg, "server.admin_token", TOKEN);
    set(&x.cfg, "server.rate_limit_per_min", "100000");
    set(&x.cfg, "server.public_ask", "true");
    set(&x.cfg, "ingest.workers", "1");
    set(&x.cfg, "log.level", "warn");
    race_open(&x);
    assert_int_equal(rag_ingest_paths(x.rag, 0, paths, 1, false, NULL, NULL, &err), 0);
    if (web_server_start(&x.srv, x.rag, &o, &err))
        fail_msg("web_server_start: %s", err.msg);
    x.port = web_server_port(x.srv);

    for (int i = 0; i < RACE_WRITERS + RACE_READERS; i++) {
        th[i] = (struct race_thread){.x = &x, .id = i};
        assert_int_equal(pthread_create(&tid[i], NULL, i < RACE_WRITERS ? race_writer : race_reader, &th[i]), 0);
    }
    for (int i = 0; i < RACE_WRITERS + RACE_READERS; i++) {
        pthread_join(tid[i], NULL);
        if (th[i].n_bad)
            fail_msg("thread %d: %d bad responses; first: %s", i, th[i].n_bad, th[i].first_bad);
    }

    /* the last write wins, everywhere */
    expect(&x, "PUT", "/api/settings", admin, last, 200, last_read);
    expect(&x, "GET", "/api/settings", admin, NULL, 200, last_read);
    expect(&x, "GET", "/api/widget", NULL, NULL, 200, last_title);
    web_server_stop(x.srv);
    rag_close(x.rag);
    {
        /* settings.json holds the last values... */
        struct config saved;
        char path[512];
        snprintf(path, sizeof path, "%s/settings.json", x.dir);
        config_init(&saved);
        assert_int_equal(config_load_file(&saved, path, &err), 0);
        assert_int_equal(saved.answer_max_sentences, 2);
        assert_true(saved.server_public_ask);
        assert_string_equal(saved.server_cors_origins, "https://last.example");
        assert_string_equal(saved.widget_title, "Last");
        config_release(&saved);
    }
    /* ...and the next open applies them over the start-up config */
    set(&x.cfg, "server.public_ask", "false");
    race_open(&x);
    if (web_server_start(&x.srv, x.rag, &o, &err))
        fail_msg("web_server_start: %s", err.msg);
    x.port = web_server_port(x.srv);
    expect(&x, "GET", "/api/settings", admin, NULL, 200, last_read);
    web_server_stop(x.srv);
    rag_close(x.rag);
    config_release(&x.cfg);
    nftw(x.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_settings_race)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
