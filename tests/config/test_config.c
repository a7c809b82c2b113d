/* tests/config/test_config.c: config precedence (defaults < file < env < flags), every error path of
 * the file reader and of typed assignment, and that config/kbox.json is exactly the generated
 * template (so it lists every key at its default), key sources and the run-time settings file
 * (config_write_overrides, config_load_overrides). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/run.h"
#include "config/config.h"

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    config_init(&c);
    assert_int_equal(c.server_port, 8080);
    assert_string_equal(c.server_host, "127.0.0.1");
    assert_int_equal(c.index_top_k, 6);
    assert_int_equal(c.ingest_chunk_tokens, 384);
    assert_true(c.ingest_chunk_overlap == 0.15);
    assert_string_equal(c.answer_model, "");
    assert_false(c.ingest_ocr);
    config_release(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct config c;
    struct kb_error err = {0};
    struct kb_buf show;
    char *path = run_tmpfile("// comment\n{\n  \"server\": {\"port\": 9000, \"host\": \"0.0.0.0\"},\n"
                             "  /* block\n comment */\n  \"index\": {\"top_k\": 8,},\n"
                             "  \"answer.max_sentences\": 2\n}\n",
                             ".json");
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, &err), 0);
    assert_int_equal(c.server_port, 9000);
    assert_string_equal(c.server_host, "0.0.0.0");
    assert_int_equal(c.index_top_k, 8);
    assert_int_equal(c.answer_max_sentences, 2);
    setenv("KBOX_SERVER_PORT", "9100", 1);
    setenv("KBOX_INDEX_TOP_K", "9", 1);
    assert_int_equal(config_load_env(&c, &err), 0);
    unsetenv("KBOX_SERVER_PORT");
    unsetenv("KBOX_INDEX_TOP_K");
    assert_int_equal(c.server_port, 9100);
    assert_int_equal(c.index_top_k, 9);
    assert_int_equal(config_set(&c, "server.port", "0", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(c.server_port, 0);
    assert_string_equal(c.server_host, "0.0.0.0"); /* file value kept */

    kb_buf_init(&show, 0);
    assert_int_equal(config_show(&c, false, &show), 0);
    assert_non_null(strstr(show.data, "server.port"));
    assert_non_null(strstr(show.data, "# flag"));
    assert_non_null(strstr(show.data, "# env:KBOX_INDEX_TOP_K"));
    char want[300];
    snprintf(want, sizeof want, "# file:%s:3", path);
    assert_non_null(strstr(show.data, want)); /* server.host came from line 3 */
    assert_non_null(strstr(show.data, "# default"));
    kb_buf_reset(&show);
    assert_int_equal(config_show(&c, true, &show), 0);
    assert_non_null(strstr(show.data, "\"server.port\":{\"value\":0,\"source\":\"flag\"}"));
    kb_buf_release(&show);
    config_release(&c);
    unlink(path);
    free(path);
}

/* Every way a config file can be wrong: the error names the file:line and the key or the problem. */
static void test_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* substring of the message */
    } cases[] = {
        {"{\"server\": {\"prot\": 1}}", ":1: unknown config key 'server.prot'"},
        {"{\n\n\"bogus\": 1}", ":3: unknown config key 'bogus'"},
        {"{\"server\": {\"port\": 70000}}", "'server.port': got 70000; allowed: an integer from 0 to 65535"},
        {"{\"server\": {\"port\": \"80\"}}", "'server.port': got a string"},
        {"{\"server\": {\"port\": 80.5}}", "'server.port': got a number"},
        {"{\"ingest\": {\"ocr\": 1}}", "'ingest.ocr': got a integer; allowed: true or false"},
        {"{\"index\": {\"fusion\": \"max\"}}", "'index.fusion': got \"max\"; allowed: one of rrf weighted"},
        {"{\"log\": {\"level\": null}}", "'log.level': got a null"},
        {"{\"ingest\": {\"chunk_overlap\": 0.9}}", "'ingest.chunk_overlap': got 0.9"},
        {"{\"answer\": {\"fallback\": \"\"}}", "'answer.fallback': got \"\""},
        {"{\"server\": [1]}", "arrays are not config values"},
        {"{\"server\": {\"port\": 1}", "expected ',' or '}'"},
        {"{1: 2}", "expected a key in quotes"},
        {"{\"server\" 1}", "expected ':' after key"},
        {"{\"server\": {\"host\": \"unterminated}}", "unterminated string"},
        {"{} trailing", "unexpected text after the object"},
        {"[]", "the file must hold one JSON object"},
        {"", "the file must hold one JSON object"},
        {"{/* open", "unterminated comment"},
        {"{\"server\": {\"host\": \"a\\q\"}}", "bad escape in string"},
        {"{\"server\": {\"port\": 12abc}}", "bad number"},
        {"{\"server\": {\"port\": }}", "expected a value"},
        {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":1}}}}}}}}}}", "nested too deeply"},
        {"{\"server\": {\"host\": \"\xff\"}}", "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        struct kb_error err = {0};
        char *path = run_tmpfile(cases[i].text, ".json");
        config_init(&c);
        int rc = config_load_file(&c, path, &err);
        if (rc != KB_ECONFIG || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: rc %d msg '%s', want '%s'", i, rc, err.msg, cases[i].want);
        assert_int_equal(c.server_port, 8080); /* nothing half-applied */
        config_release(&c);
        unlink(path);
        free(path);
    }
    /* A valid key before an invalid one is not applied either. */
    struct config c;
    struct kb_error err = {0};
    char *path = run_tmpfile("{\"server\": {\"port\": 1234, \"threads\": -1}}", ".json");
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, &err), KB_ECONFIG);
    assert_int_equal(c.server_port, 8080);
    assert_int_equal(config_load_file(&c, "/nonexistent/kbox.json", &err), KB_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/kbox.json"));
    config_release(&c);
    unlink(path);
    free(path);
}

static void test_set_errors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *want;
    } cases[] = {
        {"server.port", "abc", "'server.port': got \"abc\""},
        {"server.port", "-1", "allowed: an integer from 0 to 65535"},
        {"nope.key", "1", "unknown config key 'nope.key'"},
        {"server.public_ask", "maybe", "allowed: true or false"},
        {"index.mmr_lambda", "2", "allowed: a number from 0 to 1"},
        {"widget.lang", "fr", "allowed: one of en zh"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        struct kb_error err = {0};
        config_init(&c);
        assert_int_equal(config_set(&c, cases[i].key, cases[i].value, CONFIG_SRC_FLAG, &err), KB_ECONFIG);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        config_release(&c);
    }
    struct config c;
    struct kb_error err = {0};
    config_init(&c);
    setenv("KBOX_SERVER_THREADS", "many", 1);
    assert_int_equal(config_load_env(&c, &err), KB_ECONFIG);
    assert_non_null(strstr(err.msg, "KBOX_SERVER_THREADS"));
    unsetenv("KBOX_SERVER_THREADS");
    assert_int_equal(config_set(&c, "server.public_ask", "off", CONFIG_SRC_FLAG, &err), 0);
    assert_false(c.server_public_ask);
    config_release(&c);
}

/* Each key's source, and the run-time settings file: only keys set as settings are written, flat
 * and in key-table order, and config_load_overrides reads them back as settings. */
static void test_overrides(void **state)
{
    (void)state;
    struct config c, back;
    struct kb_error err = {0};
    struct kb_buf out;
    int port = -1, sentences = -1, title = -1;
    for (int i = 0; i < config_n_keys(); i++) {
        port = strcmp(config_key_name(i), "server.port") ? port : i;
        sentences = strcmp(config_key_name(i), "answer.max_sentences") ? sentences : i;
        title = strcmp(config_key_name(i), "widget.title") ? title : i;
    }
    config_init(&c);
    kb_buf_init(&out, 0);
    assert_int_equal(config_write_overrides(&c, &out), 0);
    assert_string_equal(out.data, "{\n\n}\n");
    assert_int_equal(config_set(&c, "server.port", "9000", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&c, "widget.title", "Say \"hi\"", CONFIG_SRC_SETTINGS, &err), 0);
    assert_int_equal(config_set(&c, "answer.max_sentences", "2", CONFIG_SRC_SETTINGS, &err), 0);
    assert_int_equal(config_key_source(&c, port), CONFIG_SRC_FLAG);
    assert_int_equal(config_key_source(&c, sentences), CONFIG_SRC_SETTINGS);
    assert_int_equal(config_key_source(&c, title), CONFIG_SRC_SETTINGS);
    assert_int_equal(config_key_source(&c, -1), CONFIG_SRC_DEFAULT);
    assert_int_equal(config_key_source(&c, config_n_keys()), CONFIG_SRC_DEFAULT);
    kb_buf_reset(&out);
    assert_int_equal(config_write_overrides(&c, &out), 0);
    assert_string_equal(out.data, "{\n  \"answer.max_sentences\": 2,\n  \"widget.title\": \"Say \\\"hi\\\"\"\n}\n");

    char *path = run_tmpfile(out.data, ".json");
    config_init(&back);
    assert_int_equal(config_load_overrides(&back, path, &err), 0);
    assert_int_equal(back.answer_max_sentences, 2);
    assert_string_equal(back.widget_title, "Say \"hi\"");
    assert_int_equal(back.server_port, 8080);
    assert_int_equal(config_key_source(&back, sentences), CONFIG_SRC_SETTINGS);
    assert_int_equal(config_key_source(&back, port), CONFIG_SRC_DEFAULT);
    kb_buf_reset(&out);
    assert_int_equal(config_show(&back, true, &out), 0);
    char want[400];
    snprintf(want, sizeof want, "\"answer.max_sentences\":{\"value\":2,\"source\":\"settings:%s:2\"}", path);
    assert_non_null(strstr(out.data, want));
    config_release(&back);
    unlink(path);
    free(path);
    kb_buf_release(&out);
    config_release(&c);
}

/* The template parses back to the defaults, and config/kbox.json is the template. */
static void test_template(void **state)
{
    (void)state;
    struct kb_buf t;
    struct config c;
    struct kb_error err = {0};
    kb_buf_init(&t, 0);
    assert_int_equal(config_template(&t), 0);
    for (int i = 0; i < config_n_keys(); i++) {
        const char *dot = strchr(config_key_name(i), '.');
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\":", dot + 1);
        assert_non_null(strstr(t.data, quoted));
    }
    char *path = run_tmpfile(t.data, ".json");
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, &err), 0);
    assert_int_equal(c.server_port, 8080);
    config_release(&c);
    unlink(path);
    free(path);

    FILE *f = fopen(KBOX_SOURCE_DIR "/config/kbox.json", "rb");
    assert_non_null(f);
    char *file = calloc(1, t.len + 2);
    size_t n = fread(file, 1, t.len + 1, f);
    fclose(f);
    if (n != t.len || memcmp(file, t.data, t.len) != 0)
        fail_msg("config/kbox.json differs from `kbox config template`; regenerate it");
    free(file);
    kb_buf_release(&t);
}

static int key_index(const char *name)
{
    int found = -1;
    for (int i = 0; i < config_n_keys(); i++)
        found = strcmp(config_key_name(i), name) == 0 ? i : found;
    return found;
}

/* Secret keys never show their value: "***" in text and JSON when set, "" when not, while the
 * struct keeps the real value for the client that needs it; the remote backends' keys are checked. */
static void test_secrets(void **state)
{
    (void)state;
    struct config c;
    struct kb_error err = {0};
    struct kb_buf show;
    config_init(&c);
    assert_string_equal(c.answer_backend, "local");
    assert_string_equal(c.embed_backend, "builtin");
    assert_int_equal(config_set(&c, "answer.api_key", "sk-live-123", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&c, "server.admin_token", "tok-456", CONFIG_SRC_FLAG, &err), 0);
    assert_string_equal(c.answer_api_key, "sk-live-123");
    assert_true(config_key_secret(key_index("answer.api_key")));
    assert_true(config_key_secret(key_index("embed.api_key")));
    assert_false(config_key_secret(key_index("answer.url")));
    kb_buf_init(&show, 0);
    assert_int_equal(config_show(&c, false, &show), 0);
    assert_null(strstr(show.data, "sk-live-123"));
    assert_null(strstr(show.data, "tok-456"));
    assert_non_null(strstr(show.data, "answer.api_key             = \"***\""));
    kb_buf_reset(&show);
    assert_int_equal(config_show(&c, true, &show), 0);
    assert_null(strstr(show.data, "sk-live-123"));
    assert_non_null(strstr(show.data, "\"answer.api_key\":{\"value\":\"***\",\"source\":\"flag\"}"));
    assert_non_null(strstr(show.data, "\"embed.api_key\":{\"value\":\"\",\"source\":\"default\"}"));
    /* The backend choices are checked and named. */
    assert_int_equal(config_set(&c, "answer.backend", "vllm", CONFIG_SRC_FLAG, &err), KB_ECONFIG);
    assert_non_null(strstr(err.msg, "answer.backend"));
    assert_int_equal(config_set(&c, "embed.backend", "openai", CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&c, "answer.on_backend_down", "retry", CONFIG_SRC_FLAG, &err), KB_ECONFIG);
    kb_buf_release(&show);
    config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_file_errors), cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_template),    cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
