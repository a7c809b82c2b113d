/* tests/web/test_bots.c: bots (issue #16 items 3 and 6) over real HTTP on 127.0.0.1: a real server
 * (web_server_start over a real rag in a fresh data directory, real SQLite and FAISS) driven with raw
 * requests (tests/web/http.c). Two collections ("shop": kettle returns; "hr": holidays) and bots
 * over them:
 * - migration: a schema-5 database (bots table dropped, user_version 5) upgrades in place at open,
 *   its documents kept, with the bot "default" over every collection inheriting every setting; a
 *   schema-8 one (no bot_handoff table) upgrades to 9 keeping its bots, handoff inherited;
 * - management: create/read/list/update/delete and bad input (malformed JSON, bad id, duplicate id,
 *   unknown collection, bad colour/origin/lang/model/strict, a logo over 64 KiB, unknown bot, no token);
 * - answers: a bot answers from its collections only, with its own fallback text; unknown bot 404;
 * - origins: the widget's settings and questions from an origin not in the bot's list are refused
 *   (403 naming the origin and the bot), from a listed one answered with CORS headers; a request
 *   naming no bot from an origin only a bot lists is refused; data-collection widgets keep working;
 * - the public page /b/ID (200 html; 404 when switched off or unknown);
 * - OpenAI: /v1/models lists the bots, /v1/chat/completions takes a bot id as model. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/base.h"
#include "config/config.h"
#include "rag/rag.h"
#include "web/web.h"

#include "http.h"
#include "webfix.h"

#define TOKEN "test-admin-token-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN
#define SHOP_ORIGIN "http://shop.example:8000"
#define EVIL_ORIGIN "http://evil.example"

static const char *const admin[] = {AUTH, NULL};
static const char *const from_shop[] = {"Origin: " SHOP_ORIGIN, "Content-Type: application/json", NULL};
static const char *const from_evil[] = {"Origin: " EVIL_ORIGIN, "Content-Type: application/json", NULL};

/* Writes text into dir/name and ingests it into collection coll (created first). */
static void ingest(struct webfix *f, const char *coll, const char *name, const char *text)
{
    struct kb_error err = {0};
    char path[512];
    const char *paths[1] = {path};
    int64_t id = 0;
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    if (rag_collection_find(f->rag, coll, &id, &err) == KB_ENOENT)
        assert_int_equal(rag_collection_create(f->rag, coll, &id, &err), 0);
    if (rag_ingest_paths(f->rag, id, paths, 1, false, NULL, NULL, &err))
        fail_msg("ingest %s: %s", name, err.msg);
}

static int setup(void **state)
{
    struct webfix *f = webfix_new("bots");
    webfix_set(f, "server.admin_token", TOKEN);
    webfix_set(f, "server.rate_limit_per_min", "100000");
    webfix_set(f, "log.level", "warn");
    webfix_start(f, 2);
    ingest(f, "shop", "returns.md",
           "# Returns\n\nA kettle can be returned within 30 days of delivery for a full refund. "
           "Bring the receipt and the original box to any store.\n");
    ingest(f, "hr", "holidays.md",
           "# Holidays\n\nEvery employee has 25 vacation days per year. Unused vacation days expire at the end "
           "of March of the following year.\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct webfix *f = *state;
    webfix_free(f);
    return 0;
}

static void call_h(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                   int want, struct http_resp *r)
{
    assert_int_equal(http_req(f->port, method, path, hdrs, body, body ? strlen(body) : 0, r), 0);
    if (r->status != want)
        fail_msg("%s %s: status %d, want %d; body: %s", method, path, r->status, want, r->body);
}

static void call(struct webfix *f, const char *method, const char *path, const char *body, int want,
                 struct http_resp *r)
{
    call_h(f, method, path, admin, body, want, r);
}

/* Expects an error status whose body holds code and message text. */
static void expect_error_h(struct webfix *f, const char *method, const char *path, const char *const *hdrs,
                           const char *body, int want, const char *code, const char *msg)
{
    struct http_resp r;
    char pat[64];
    call_h(f, method, path, hdrs, body, want, &r);
    snprintf(pat, sizeof pat, "{\"error\":{\"code\":\"%s\"", code);
    if (!strstr(r.body, pat) || (msg && !strstr(r.body, msg)))
        fail_msg("%s %s: body %s lacks %s / %s", method, path, r.body, pat, msg ? msg : "");
    http_resp_free(&r);
}

static void expect_error(struct webfix *f, const char *method, const char *path, const char *body, int want,
                         const char *code, const char *msg)
{
    expect_error_h(f, method, path, admin, body, want, code, msg);
}

static void create_bots(struct webfix *f)
{
    struct http_resp r;
    call(f, "POST", "/api/bots",
         "{\"id\":\"shop\",\"name\":\"Shop helper\",\"collections\":[\"shop\"],\"greeting\":\"Hello shopper!\","
         "\"color\":\"#aa3300\",\"lang\":\"en\",\"origins\":[\"" SHOP_ORIGIN "\"],"
         "\"fallback\":\"Ask our shop staff, please.\",\"logo\":\"https://cdn.example/logo.png\"}",
         201, &r);
    assert_non_null(strstr(r.body, "\"id\":\"shop\""));
    assert_non_null(strstr(r.body, "\"collections\":[{\"id\":"));
    assert_non_null(strstr(r.body, "\"name\":\"shop\"}]"));
    assert_non_null(strstr(r.body, "\"origins\":[\"" SHOP_ORIGIN "\"]"));
    http_resp_free(&r);
    call(f, "POST", "/api/bots",
         "{\"id\":\"hr\",\"name\":\"HR bot\",\"collections\":[\"hr\"],\"strict\":true,\"model\":\"extractive\","
         "\"public_page\":false}",
         201, &r);
    assert_non_null(strstr(r.body, "\"strict\":true"));
    assert_non_null(strstr(r.body, "\"public_page\":false"));
    http_resp_free(&r);
}

/* ---- migration --------------------------------------------------------------------------------------------- */

static void test_migration(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    sqlite3 *db;
    char path[512];
    /* a fresh store has the default bot: every collection, every setting inherited */
    call(f, "GET", "/api/bots/default", NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"collections\":[]"));
    assert_non_null(strstr(r.body, "\"strict\":\"inherit\""));
    assert_non_null(strstr(r.body, "\"greeting\":\"Hi! Ask me anything about our products and policies.\""));
    http_resp_free(&r);

    /* make it a schema-5 database (before bots and chunks.context), then reopen: it upgrades in place */
    webfix_stop(f);
    snprintf(path, sizeof path, "%s/kbox.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE bots; ALTER TABLE chunks DROP COLUMN context; PRAGMA user_version=5;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    webfix_set(f, "widget.greeting", "Welcome to the old widget");
    webfix_start(f, 2);
    call(f, "GET", "/api/bots", NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"bots\":[{\"id\":\"default\""));
    assert_non_null(strstr(r.body, "\"greeting\":\"Welcome to the old widget\"")); /* today's widget setting */
    http_resp_free(&r);
    call(f, "GET", "/api/documents", NULL, 200, &r); /* nothing stored is lost */
    assert_non_null(strstr(r.body, "returns.md"));
    assert_non_null(strstr(r.body, "holidays.md"));
    http_resp_free(&r);
    /* the default bot answers like kbox did before bots: every collection */
    call(f, "POST", "/api/ask", "{\"question\":\"How many vacation days per year?\",\"bot\":\"default\"}", 200, &r);
    assert_non_null(strstr(r.body, "holidays.md"));
    http_resp_free(&r);
    call(f, "POST", "/v1/chat/completions",
         "{\"model\":\"default\",\"messages\":[{\"role\":\"user\",\"content\":\"Can a kettle be returned?\"}]}", 200,
         &r);
    assert_non_null(strstr(r.body, "returns.md"));
    http_resp_free(&r);

    /* a schema-8 database (no bot_handoff table) upgrades to 9: the bots are kept and inherit the
     * global handoff settings */
    call(f, "POST", "/api/bots", "{\"id\":\"legacy\",\"greeting\":\"Old hello\"}", 201, &r);
    http_resp_free(&r);
    webfix_stop(f);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE bot_handoff; ALTER TABLE chunks DROP COLUMN context;"
                                         " PRAGMA user_version=8;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    webfix_start(f, 2);
    call(f, "GET", "/api/bots/legacy", NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"greeting\":\"Old hello\""));
    assert_non_null(strstr(r.body, "\"handoff\":\"inherit\",\"handoff_keywords\":\"\",\"handoff_after_fallbacks\":\"inherit\","
                                   "\"handoff_on_thumbs_down\":\"inherit\""));
    http_resp_free(&r);
}

/* ---- management and bad input -------------------------------------------------------------------------------- */

static void test_crud(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char *big;
    size_t n;
    create_bots(f);
    call(f, "GET", "/api/bots", NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"id\":\"hr\""));
    assert_non_null(strstr(r.body, "\"id\":\"shop\""));
    http_resp_free(&r);
    /* update: members absent keep their value */
    call(f, "PUT", "/api/bots/shop", "{\"greeting\":\"Hi again!\",\"strict\":false}", 200, &r);
    assert_non_null(strstr(r.body, "\"greeting\":\"Hi again!\""));
    assert_non_null(strstr(r.body, "\"name\":\"Shop helper\""));
    assert_non_null(strstr(r.body, "\"color\":\"#aa3300\""));
    assert_non_null(strstr(r.body, "\"strict\":false"));
    http_resp_free(&r);
    call(f, "PATCH", "/api/bots/shop", "{\"strict\":\"inherit\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"strict\":\"inherit\""));
    http_resp_free(&r);

    /* bad input names what was wrong */
    expect_error(f, "POST", "/api/bots", "{\"id\":", 400, "EJSON", NULL);
    expect_error(f, "POST", "/api/bots", "[1,2]", 400, "EJSON", NULL);
    expect_error(f, "POST", "/api/bots", "{\"id\":\"Bad Id!\"}", 400, "EINVAL", "bot id must be");
    expect_error(f, "POST", "/api/bots", "{\"name\":\"no id\"}", 400, "EINVAL", "bot id must be");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"shop\"}", 409, "ECONFLICT", "already exists");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"collections\":[\"nope\"]}", 404, "ENOENT",
                 "bot collection 'nope' does not exist");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"color\":\"red;}body{x:y\"}", 400, "EINVAL", "bot color");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"origins\":[\"evil.example/path\"]}", 400, "EINVAL",
                 "bot origin 'evil.example/path'");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"lang\":\"fr\"}", 400, "EINVAL", "bot lang");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"model\":\"../x.gguf\"}", 400, "EINVAL", "bot model");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"strict\":\"maybe\"}", 400, "EINVAL", "bot strict");
    expect_error(f, "POST", "/api/bots", "{\"id\":\"x1\",\"logo\":\"javascript:alert(1)\"}", 400, "EINVAL", "bot logo");
    expect_error(f, "PUT", "/api/bots/shop", "{\"id\":\"other\"}", 400, "EINVAL", "cannot change");
    /* a logo over 64 KiB: 413 */
    static const char head[] = "{\"id\":\"x2\",\"logo\":\"data:image/png;base64,";
    const size_t k = sizeof head - 1;
    n = 70 * 1024;
    big = malloc(k + n + 8);
    assert_non_null(big);
    memcpy(big, head, k);
    memset(big + k, 'A', n);
    memcpy(big + k + n, "\"}", 3);
    expect_error(f, "POST", "/api/bots", big, 413, "ETOOBIG", "bot logo is");
    memcpy(big + k + 1000, "\"}", 3); /* a small one is fine */
    call(f, "POST", "/api/bots", big, 201, &r);
    http_resp_free(&r);
    free(big);
    /* unknown bots, no token */
    expect_error(f, "GET", "/api/bots/nope", NULL, 404, "ENOENT", "no bot with id 'nope'");
    expect_error(f, "PUT", "/api/bots/nope", "{}", 404, "ENOENT", "no bot with id 'nope'");
    expect_error(f, "DELETE", "/api/bots/nope", NULL, 404, "ENOENT", NULL);
    expect_error(f, "GET", "/api/bots/a/b", NULL, 404, "ENOENT", NULL);
    expect_error_h(f, "GET", "/api/bots", NULL, NULL, 401, "EAUTH", NULL);
    expect_error_h(f, "POST", "/api/bots", NULL, "{\"id\":\"x3\"}", 401, "EAUTH", NULL);
    /* delete */
    call(f, "DELETE", "/api/bots/x2", NULL, 204, &r);
    http_resp_free(&r);
    expect_error(f, "GET", "/api/bots/x2", NULL, 404, "ENOENT", NULL);
}

/* ---- answers ------------------------------------------------------------------------------------------------------ */

static void test_ask(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    create_bots(f);
    /* the hr bot answers from hr only */
    call(f, "POST", "/api/ask", "{\"question\":\"How many vacation days per year?\",\"bot\":\"hr\"}", 200, &r);
    assert_non_null(strstr(r.body, "25 vacation days"));
    assert_non_null(strstr(r.body, "holidays.md"));
    http_resp_free(&r);
    call(f, "POST", "/api/ask", "{\"question\":\"Can I return a kettle for a refund?\",\"bot\":\"hr\"}", 200, &r);
    assert_null(strstr(r.body, "returns.md"));
    http_resp_free(&r);
    /* the shop bot: its collection, and its own fallback text */
    call(f, "POST", "/api/ask", "{\"question\":\"Can I return a kettle for a refund?\",\"bot\":\"shop\"}", 200, &r);
    assert_non_null(strstr(r.body, "returns.md"));
    assert_null(strstr(r.body, "holidays.md"));
    http_resp_free(&r);
    call(f, "POST", "/api/ask", "{\"question\":\"zebra quantum saxophone\",\"bot\":\"shop\"}", 200, &r);
    assert_non_null(strstr(r.body, "\"answer\":\"Ask our shop staff, please.\""));
    assert_non_null(strstr(r.body, "\"fallback\":true"));
    http_resp_free(&r);
    /* streamed too */
    call(f, "POST", "/api/ask", "{\"question\":\"How many vacation days?\",\"bot\":\"hr\",\"stream\":true}", 200, &r);
    assert_non_null(strstr(r.body, "event: done"));
    assert_non_null(strstr(r.body, "holidays.md"));
    http_resp_free(&r);
    expect_error(f, "POST", "/api/ask", "{\"question\":\"hi\",\"bot\":\"nope\"}", 404, "ENOENT", "no bot with id 'nope'");
    expect_error(f, "POST", "/api/ask", "{\"question\":\"hi\",\"bot\":\"hr\",\"collection\":\"shop\"}", 400, "EINVAL",
                 "not both");
    expect_error(f, "POST", "/api/ask", "{\"question\":\"hi\",\"bot\":7}", 400, "EJSON", NULL);
    /* a bot whose collections were all deleted says so */
    {
        int64_t id = 0;
        struct kb_error err = {0};
        assert_int_equal(rag_collection_find(f->rag, "hr", &id, &err), 0);
        assert_int_equal(rag_collection_delete(f->rag, id, &err), 0);
    }
    expect_error(f, "POST", "/api/ask", "{\"question\":\"vacation days?\",\"bot\":\"hr\"}", 404, "ENOENT",
                 "every collection of bot 'hr' was deleted");
}

/* ---- origins and the widget ------------------------------------------------------------------------------------ */

static void test_origins(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char acao[256];
    static const char *const pre_shop[] = {"Origin: " SHOP_ORIGIN, "Access-Control-Request-Method: POST", NULL};
    create_bots(f);
    /* the widget's settings for the bot, from its own origin: CORS headers and the bot's values */
    call_h(f, "GET", "/api/widget?bot=shop", from_shop, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"bot\":\"shop\""));
    assert_non_null(strstr(r.body, "\"title\":\"Shop helper\""));
    assert_non_null(strstr(r.body, "\"greeting\":\"Hello shopper!\""));
    assert_non_null(strstr(r.body, "\"color\":\"#aa3300\""));
    assert_non_null(strstr(r.body, "\"logo\":\"https://cdn.example/logo.png\""));
    assert_non_null(http_header(&r, "Access-Control-Allow-Origin", acao, sizeof acao));
    assert_string_equal(acao, SHOP_ORIGIN);
    http_resp_free(&r);
    call_h(f, "OPTIONS", "/api/ask", pre_shop, NULL, 204, &r);
    assert_non_null(http_header(&r, "Access-Control-Allow-Origin", acao, sizeof acao));
    http_resp_free(&r);
    call_h(f, "POST", "/api/ask", from_shop,
           "{\"question\":\"Can I return a kettle?\",\"bot\":\"shop\",\"channel\":\"widget\"}", 200, &r);
    assert_non_null(strstr(r.body, "returns.md"));
    http_resp_free(&r);
    /* another origin: refused, naming origin and bot */
    expect_error_h(f, "GET", "/api/widget?bot=shop", from_evil, NULL, 403, "EFORBIDDEN",
                   "origin '" EVIL_ORIGIN "' is not allowed");
    expect_error_h(f, "POST", "/api/ask", from_evil, "{\"question\":\"Can I return a kettle?\",\"bot\":\"shop\"}", 403,
                   "EFORBIDDEN", "origin '" EVIL_ORIGIN "' is not allowed");
    /* the hr bot lists no origin: server.cors_origins (empty) decides, so the shop's site may not use it */
    expect_error_h(f, "POST", "/api/ask", from_shop, "{\"question\":\"vacation days?\",\"bot\":\"hr\"}", 403,
                   "EFORBIDDEN", "not allowed for bot 'hr'");
    /* naming no bot from an origin only a bot lists: the global list decides */
    expect_error_h(f, "POST", "/api/ask", from_shop, "{\"question\":\"vacation days?\"}", 403, "EFORBIDDEN",
                   "server.cors_origins");
    expect_error_h(f, "POST", "/api/search", from_shop, "{\"query\":\"vacation\"}", 403, "EFORBIDDEN", NULL);
    expect_error_h(f, "GET", "/api/widget?bot=nope", from_shop, NULL, 404, "ENOENT", "no bot with id 'nope'");
    /* data-collection widgets keep working on server.cors_origins sites */
    assert_int_equal(rag_setting_set(f->rag, "server.cors_origins", EVIL_ORIGIN, NULL), 0);
    call_h(f, "GET", "/api/widget", from_evil, NULL, 200, &r);
    http_resp_free(&r);
    call_h(f, "POST", "/api/ask", from_evil, "{\"question\":\"Can I return a kettle?\",\"collection\":\"shop\"}", 200,
           &r);
    assert_non_null(strstr(r.body, "returns.md"));
    http_resp_free(&r);
    /* ...and the hr bot, inheriting server.cors_origins, is now usable there while shop is not */
    call_h(f, "POST", "/api/ask", from_evil, "{\"question\":\"vacation days?\",\"bot\":\"hr\"}", 200, &r);
    http_resp_free(&r);
    expect_error_h(f, "POST", "/api/ask", from_evil, "{\"question\":\"kettle?\",\"bot\":\"shop\"}", 403, "EFORBIDDEN",
                   NULL);
}

/* ---- the public page --------------------------------------------------------------------------------------------- */

static void test_page(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    char csp[512];
    create_bots(f);
    call_h(f, "GET", "/b/shop", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "/static/bot.js"));
    assert_non_null(http_header(&r, "Content-Security-Policy", csp, sizeof csp));
    http_resp_free(&r);
    call_h(f, "GET", "/static/bot.js", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "data"));
    http_resp_free(&r);
    expect_error_h(f, "GET", "/b/hr", NULL, NULL, 404, "ENOENT", "has no public page"); /* switched off */
    expect_error_h(f, "GET", "/b/nope", NULL, NULL, 404, "ENOENT", NULL);
    expect_error_h(f, "GET", "/b/", NULL, NULL, 404, "ENOENT", NULL);
    call(f, "PUT", "/api/bots/shop", "{\"public_page\":false}", 200, &r);
    http_resp_free(&r);
    expect_error_h(f, "GET", "/b/shop", NULL, NULL, 404, "ENOENT", NULL);
    call(f, "PUT", "/api/bots/hr", "{\"public_page\":true}", 200, &r);
    http_resp_free(&r);
    call_h(f, "GET", "/b/hr", NULL, NULL, 200, &r);
    http_resp_free(&r);
}

/* ---- OpenAI API ------------------------------------------------------------------------------------------------- */

static void test_openai(void **state)
{
    struct webfix *f = *state;
    struct http_resp r;
    create_bots(f);
    call_h(f, "GET", "/v1/models", NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"id\":\"shop\",\"object\":\"model\""));
    assert_non_null(strstr(r.body, "\"id\":\"hr\""));
    assert_non_null(strstr(r.body, "\"id\":\"default\""));
    assert_non_null(strstr(r.body, "\"id\":\"kbox\""));
    http_resp_free(&r);
    call_h(f, "POST", "/v1/chat/completions", NULL,
           "{\"model\":\"hr\",\"messages\":[{\"role\":\"user\",\"content\":\"How many vacation days per year?\"}]}",
           200, &r);
    assert_non_null(strstr(r.body, "\"model\":\"hr\""));
    assert_non_null(strstr(r.body, "25 vacation days"));
    http_resp_free(&r);
    call_h(f, "POST", "/v1/chat/completions", NULL,
           "{\"model\":\"hr\",\"messages\":[{\"role\":\"user\",\"content\":\"Can I return a kettle?\"}]}", 200, &r);
    assert_null(strstr(r.body, "returns.md"));
    http_resp_free(&r);
    expect_error_h(f, "POST", "/v1/chat/completions", from_evil,
                   "{\"model\":\"shop\",\"messages\":[{\"role\":\"user\",\"content\":\"kettle?\"}]}", 403,
                   "EFORBIDDEN", "origin '" EVIL_ORIGIN "' is not allowed");
    expect_error_h(f, "POST", "/v1/chat/completions", NULL,
                   "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"kettle?\"}]}", 404, "ENOENT",
                   "model 'nope' not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
