/* tests/web/test_web_units.c: table-driven unit tests of web/'s pure parts, below the HTTP level:
 * route matching (routes.c), the origin allowlist, constant-time token comparison and the per-IP
 * rate limiter (auth.c), the connection reserve for loopback clients (server.c: web_conn_admit), the
 * JSON decoder (json.c) and the JSON writer (api_common.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "web/web_int.h"

/* The accept policy of issue #22 item 1: below WEB_CONN_LIMIT - WEB_CONN_RESERVE open connections
 * every client is admitted; in the reserve only loopback ones (127/8, ::1, ::ffff:127.x), so a crowd
 * of other addresses cannot lock out the health probe and a local admin. (The HTTP tests can only
 * connect from loopback, so the refusal of other addresses is checked here.) */
static void test_conn_reserve(void **state)
{
    static const struct {
        const char *ip;
        bool loopback;
    } cases[] = {
        {"127.0.0.1", true}, {"127.3.4.5", true},  {"::1", true},          {"::ffff:127.0.0.1", true},
        {"10.0.0.1", false}, {"128.0.0.1", false}, {"2001:db8::1", false}, {"::ffff:10.0.0.1", false},
        {"::2", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss = {0};
        struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&ss;
        const struct sockaddr *sa = (const struct sockaddr *)(const void *)&ss;
        if (strchr(cases[i].ip, ':')) {
            v6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].ip, &v6->sin6_addr), 1);
        } else {
            v4->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].ip, &v4->sin_addr), 1);
        }
        if (web_is_loopback(sa) != cases[i].loopback)
            fail_msg("%s: loopback %d, want %d", cases[i].ip, !cases[i].loopback, cases[i].loopback);
        assert_true(web_conn_admit(0, sa));
        assert_true(web_conn_admit(WEB_CONN_LIMIT - WEB_CONN_RESERVE - 1, sa));
        if (web_conn_admit(WEB_CONN_LIMIT - WEB_CONN_RESERVE, sa) != cases[i].loopback ||
            web_conn_admit(WEB_CONN_LIMIT - 1, sa) != cases[i].loopback)
            fail_msg("%s: in the reserve admitted %d, want %d", cases[i].ip, !cases[i].loopback, cases[i].loopback);
    }
    assert_false(web_conn_admit(WEB_CONN_LIMIT - WEB_CONN_RESERVE, NULL)); /* no address: not loopback */
}

static void test_route_match(void **state)
{
    static const struct {
        const char *method, *path;
        enum web_match want;
        const char *handler_route; /* expected route path when matched */
        int64_t id0;
    } cases[] = {
        {"GET", "/", WEB_MATCH_OK, "/", 0},
        {"HEAD", "/", WEB_MATCH_OK, "/", 0},
        {"GET", "/api/documents", WEB_MATCH_OK, "/api/documents", 0},
        {"POST", "/api/documents", WEB_MATCH_OK, "/api/documents", 0},
        {"GET", "/api/documents/12", WEB_MATCH_OK, "/api/documents/{id}", 12},
        {"GET", "/api/documents/12/file", WEB_MATCH_OK, "/api/documents/{id}/file", 12},
        {"POST", "/api/documents/7/reingest", WEB_MATCH_OK, "/api/documents/{id}/reingest", 7},
        {"GET", "/api/documents/12x", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/api/documents/0", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/api/documents/-3", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/api/documents/99999999999999999999", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/api/documents/12/", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/api/documents/", WEB_MATCH_NO_PATH, NULL, 0},
        {"PUT", "/api/documents/12", WEB_MATCH_NO_METHOD, NULL, 0},
        {"POST", "/api/health", WEB_MATCH_NO_METHOD, NULL, 0},
        {"GET", "/api/healthz", WEB_MATCH_NO_PATH, NULL, 0},
        {"GET", "/static/app.js", WEB_MATCH_OK, "/static/*", 0},
        {"GET", "/static", WEB_MATCH_NO_PATH, NULL, 0},
        {"OPTIONS", "/api/ask", WEB_MATCH_OK, "/api/*", 0},
        {"OPTIONS", "/v1/chat/completions", WEB_MATCH_OK, "/v1/*", 0},
        {"OPTIONS", "/", WEB_MATCH_NO_METHOD, NULL, 0},
        {"OPTIONS", "/nope", WEB_MATCH_NO_PATH, NULL, 0},
        {"PATCH", "/api/collections/5", WEB_MATCH_OK, "/api/collections/{id}", 5},
        {"GET", "/v1/models", WEB_MATCH_OK, "/v1/models", 0},
        {"GET", "/api/models", WEB_MATCH_OK, "/api/models", 0},
        {"PUT", "/api/models", WEB_MATCH_NO_METHOD, NULL, 0},
        {"GET", "/api/jobs", WEB_MATCH_OK, "/api/jobs", 0},
        {"GET", "/api/jobs/4", WEB_MATCH_OK, "/api/jobs/{id}", 4},
        {"BREW", "/api/ask", WEB_MATCH_NO_METHOD, NULL, 0},
    };
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        int64_t ids[2] = {0, 0};
        int n = 0, idx = -1;
        enum web_match m = web_route_find(cases[i].method, cases[i].path, ids, &n, &idx);
        if (m != cases[i].want)
            fail_msg("%s %s: match %d, want %d", cases[i].method, cases[i].path, (int)m, (int)cases[i].want);
        if (m == WEB_MATCH_OK) {
            assert_string_equal(web_route_at(idx)->path, cases[i].handler_route);
            assert_int_equal(ids[0], cases[i].id0);
        }
    }
}

/* Every route has a handler, a name and a sane cap; admin routes are the ones that change things. */
static void test_route_table(void **state)
{
    (void)state;
    for (int i = 0; i < web_n_routes(); i++) {
        const struct web_route *r = web_route_at(i);
        assert_non_null(r->handler);
        assert_non_null(r->name);
        assert_true(r->max_body_bytes >= WEB_BODY_UPLOAD);
        if (!strcmp(r->method, "GET") || !strcmp(r->method, "DELETE") || !strcmp(r->method, "OPTIONS"))
            assert_int_equal(r->max_body_bytes, WEB_BODY_NONE);
        if (!strncmp(r->path, "/api/documents", 14) || !strncmp(r->path, "/api/collections", 16) ||
            !strncmp(r->path, "/api/settings", 13) || !strncmp(r->path, "/api/jobs", 9) ||
            !strcmp(r->path, "/api/models"))
            assert_int_equal(r->auth, WEB_AUTH_ADMIN);
    }
}

static void test_origins(void **state)
{
    static const struct {
        const char *list, *origin;
        bool want;
    } cases[] = {
        {"http://a.example, https://b.example/", "https://b.example", true},
        {"http://a.example, https://b.example/", "http://a.example", true},
        {"http://a.example, https://b.example/", "HTTP://A.EXAMPLE", true},
        {"http://a.example, https://b.example/", "http://a.example.evil", false},
        {"http://a.example, https://b.example/", "http://a.exampl", false},
        {"http://a.example, https://b.example/", "https://a.example", false},
        {"http://a.example", "null", false},
        {"", "http://a.example", false},
        {"*", "http://anything.example", true},
        {" , ,", "http://a.example", false},
        {"http://a.example", "", false},
    };
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
        if (web_origin_listed(cases[i].list, cases[i].origin) != cases[i].want)
            fail_msg("'%s' in '%s' should be %d", cases[i].origin, cases[i].list, cases[i].want);
}

/* The Host check's port rules (web_host_allowed): no port in the Host is 80, no port in an entry is
 * any port, port 0 in an entry is the port listened on, bracketed IPv6, case, spaces, "*". */
static void test_hosts(void **state)
{
    static struct web_ctx ctx;
    static const struct {
        const char *list, *host;
        bool ok;
    } cases[] = {
        {"localhost,127.0.0.1:0", "localhost:1234", true},  {"localhost,127.0.0.1:0", "127.0.0.1:8080", true},
        {"localhost,127.0.0.1:0", "127.0.0.1:8081", false}, {"localhost,127.0.0.1:0", "127.0.0.1", false},
        {"kb.example.com:0", "kb.example.com", false},     {"kb.example.com:80", "kb.example.com", true},
        {" KB.Example.com , x", "kb.example.COM:443", true}, {"kb.example.com", "kb.example.com.evil", false},
        {"kb.example.com", "evil.kb.example.com", false},  {"[::1]:0", "[::1]:8080", true},
        {"[::1]:0", "[::1]", false},                       {"[::1]", "[::1]:9", true},
        {"*", "anything:1", true},                         {"a,*", "b", true},
        {"localhost", "", false},                          {"localhost", NULL, true},
        {"", "localhost", false},                          {"localhost:", "localhost:8080", true},
    };
    (void)state;
    ctx.hosts_port = 8080;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(ctx.allowed_hosts, sizeof ctx.allowed_hosts, "%s", cases[i].list);
        if (web_host_allowed(&ctx, cases[i].host) != cases[i].ok)
            fail_msg("list '%s', Host '%s': want %d", cases[i].list, cases[i].host ? cases[i].host : "(none)",
                     cases[i].ok);
    }
}

static void test_token_equal(void **state)
{
    (void)state;
    assert_true(web_token_equal("secret-token-123", "secret-token-123"));
    assert_false(web_token_equal("secret-token-123", "secret-token-12"));
    assert_false(web_token_equal("secret-token-123", "secret-token-1234"));
    assert_false(web_token_equal("secret-token-123", "Secret-token-123"));
    assert_false(web_token_equal("secret-token-123", ""));
    assert_false(web_token_equal("", ""));
}

static void test_rate(void **state)
{
    static struct web_rate rl; /* large: keep it off the stack */
    char ip[48];
    (void)state;
    web_rate_init(&rl);
    for (int i = 0; i < 3; i++)
        assert_true(web_rate_allow(&rl, "10.0.0.1", 3, 600));
    assert_false(web_rate_allow(&rl, "10.0.0.1", 3, 610));
    assert_true(web_rate_allow(&rl, "10.0.0.2", 3, 610)); /* another client */
    assert_true(web_rate_allow(&rl, "10.0.0.1", 3, 660));  /* next minute */
    assert_true(web_rate_allow(&rl, "10.0.0.1", 0, 660));  /* 0 = no limit */
    /* a flood of addresses keeps memory bounded and never crashes */
    for (int i = 0; i < 20000; i++) {
        snprintf(ip, sizeof ip, "fd00::%x", i);
        web_rate_allow(&rl, ip, 5, 720);
    }
    for (int i = 0; i < 5; i++)
        web_rate_allow(&rl, "10.9.9.9", 5, 720);
    assert_false(web_rate_allow(&rl, "10.9.9.9", 5, 720));
    web_rate_release(&rl);
}

struct dec {
    char *s;
    int64_t n;
    double d;
    bool b;
    char *idname;
    char *text;
    char **strs;
    int n_strs;
};

static const struct kb_jfield dec_fields[] = {
    {.name = "s", .type = KB_J_STR, .off = offsetof(struct dec, s), .required = true},
    {.name = "n", .type = KB_J_INT, .off = offsetof(struct dec, n)},
    {.name = "d", .type = KB_J_DOUBLE, .off = offsetof(struct dec, d)},
    {.name = "b", .type = KB_J_BOOL, .off = offsetof(struct dec, b)},
    {.name = "c", .type = KB_J_IDNAME, .off = offsetof(struct dec, idname)},
    {.name = "t", .type = KB_J_TEXT, .off = offsetof(struct dec, text)},
    {.name = "l",
     .type = KB_J_STRS,
     .off = offsetof(struct dec, strs),
     .count_off = offsetof(struct dec, n_strs),
     .max_items = 3},
    {0},
};

static void test_json_decode(void **state)
{
    static const struct {
        const char *body;
        int want;
        const char *msg_part;
    } cases[] = {
        {"{\"s\":\"x\"}", 0, NULL},
        {"{\"s\":\"x\",\"n\":42,\"d\":0.5,\"b\":true,\"c\":7,\"t\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image\"},"
         "{\"type\":\"text\",\"text\":\"b\"}],\"l\":[\"p\",\"q\"],\"other\":{}}",
         0, NULL},
        {"{}", KB_EJSON, "missing member 's'"},
        {"{\"s\":null}", KB_EJSON, "missing member 's'"},
        {"{\"s\":1}", KB_EJSON, "'s' must be a string"},
        {"{\"s\":\"x\",\"n\":\"3\"}", KB_EJSON, "'n' must be an integer"},
        {"{\"s\":\"x\",\"n\":3.5}", KB_EJSON, "'n' must be an integer"},
        {"{\"s\":\"x\",\"n\":1e400}", KB_EJSON, "'n' must be an integer"},
        {"{\"s\":\"x\",\"b\":1}", KB_EJSON, "'b' must be true or false"},
        {"{\"s\":\"x\",\"c\":[]}", KB_EJSON, "'c' must be a name or an id"},
        {"{\"s\":\"x\",\"t\":5}", KB_EJSON, "'t' must be a string or an array"},
        {"{\"s\":\"x\",\"l\":[\"a\",\"b\",\"c\",\"d\"]}", KB_ETOOBIG, "at most 3"},
        {"{\"s\":\"x\",\"l\":[1]}", KB_EJSON, "only strings"},
        {"{\"s\":\"x\"", KB_EJSON, "malformed JSON at byte"},
        {"{\"s\":\"x\"}}", KB_EJSON, "malformed JSON at byte"},
        {"[]", KB_EJSON, "must be an object"},
        {"\"s\"", KB_EJSON, "must be an object"},
        {"", KB_EJSON, "empty"},
    };
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct dec d;
        struct kb_arena a;
        struct kb_error err = {0};
        int rc;
        memset(&d, 0, sizeof d);
        kb_arena_init(&a, 1024, 1 << 20);
        rc = kb_json_decode(cases[i].body, strlen(cases[i].body), dec_fields, &d, &a, &err);
        if (rc != cases[i].want)
            fail_msg("case %zu '%s': rc %d (%s), want %d", i, cases[i].body, rc, err.msg, cases[i].want);
        if (cases[i].msg_part && !strstr(err.msg, cases[i].msg_part))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].msg_part);
        if (i == 1) {
            assert_string_equal(d.s, "x");
            assert_int_equal(d.n, 42);
            assert_true(d.d == 0.5);
            assert_true(d.b);
            assert_string_equal(d.idname, "7");
            assert_string_equal(d.text, "a\nb");
            assert_int_equal(d.n_strs, 2);
            assert_string_equal(d.strs[1], "q");
        }
        kb_arena_release(&a);
    }
    {
        /* a lone surrogate: cJSON decides; accepted or refused, it must not crash or leak */
        struct dec d;
        struct kb_arena a;
        struct kb_error err = {0};
        const char *body = "{\"s\":\"\\ud800\"}";
        memset(&d, 0, sizeof d);
        kb_arena_init(&a, 1024, 1 << 20);
        (void)kb_json_decode(body, strlen(body), dec_fields, &d, &a, &err);
        kb_arena_release(&a);
    }
}

static void test_json_writer(void **state)
{
    struct kb_buf b;
    struct jw w;
    static const char bad_utf8[] = {'o', 'k', (char)0xff, (char)0xc3, '\0'};
    (void)state;
    kb_buf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_str(&w, "q", "say \"hi\"\n</script><b>");
    jw_str(&w, "bad", bad_utf8);
    jw_arr(&w, "a");
    jw_int(&w, NULL, -5);
    jw_num(&w, NULL, 0.25);
    jw_bool(&w, NULL, false);
    jw_null(&w, NULL);
    jw_end_arr(&w);
    jw_str(&w, "none", NULL);
    jw_end_obj(&w);
    assert_int_equal(w.rc, 0);
    assert_non_null(strstr(b.data, "\"q\":\"say \\\"hi\\\"\\n</script><b>\""));
    assert_non_null(strstr(b.data, "\"a\":[-5,0.25,false,null]"));
    assert_non_null(strstr(b.data, "\"none\":null"));
    assert_true(kb_utf8_valid(b.data, b.len)); /* bad bytes were replaced */
    kb_buf_release(&b);

    kb_buf_init(&b, 0);
    web_error_body(&b, KB_ENOENT, NULL);
    assert_string_equal(b.data, "{\"error\":{\"code\":\"ENOENT\",\"message\":\"not found\",\"type\":\"invalid_request_error\"}}\n");
    kb_buf_release(&b);
}

static void test_assets(void **state)
{
    static const char *const names[] = {"index.html", "app.js", "app.css", "widget.js", "favicon.svg"};
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(names); i++) {
        const struct web_asset *a = web_asset_find(names[i]);
        assert_non_null(a);
        assert_true(a->n_bytes > 100);
        assert_int_equal(a->data[a->n_bytes], 0);
    }
    assert_null(web_asset_find("../web.h"));
    assert_null(web_asset_find(".hidden"));
    assert_null(web_asset_find("a/app.js"));
    assert_null(web_asset_find(""));
    assert_string_equal(web_mime_for("x.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(web_mime_for("x.bin"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_match), cmocka_unit_test(test_conn_reserve), cmocka_unit_test(test_route_table), cmocka_unit_test(test_origins), cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_token_equal), cmocka_unit_test(test_rate),        cmocka_unit_test(test_json_decode),
        cmocka_unit_test(test_json_writer), cmocka_unit_test(test_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
