/* tests/cli/test_cli.c: runs the real kbox binary and checks exit codes (0 ok, 1 usage, 2 bad input,
 * 3 internal), that errors go to stderr naming what was wrong, and the --json outputs. */
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

struct cli_case {
    const char *args[8];  /* after argv[0] */
    const char *env;      /* one NAME=VALUE or NULL */
    int exit_code;
    const char *out_has;  /* substring of stdout or NULL */
    const char *err_has;  /* substring of stderr or NULL */
};

static void run_case(const struct cli_case *c, size_t idx, const char *cfg_path)
{
    char *argv[12] = {KBOX_BIN};
    char *env[2] = {(char *)c->env, NULL};
    struct run_result r;
    int n = 1;
    for (int i = 0; c->args[i]; i++)
        argv[n++] = strcmp(c->args[i], "@CFG") ? (char *)c->args[i] : (char *)cfg_path;
    argv[n] = NULL;
    assert_int_equal(run_cmd(&r, argv, env), 0);
    if (r.exit_code != c->exit_code || (c->out_has && !strstr(r.out, c->out_has)) ||
        (c->err_has && !strstr(r.err, c->err_has)))
        fail_msg("case %zu (%s): exit %d, stdout '%.300s', stderr '%.300s'", idx, c->args[0], r.exit_code,
                 r.out, r.err);
    run_result_free(&r);
}

static void test_exit_codes(void **state)
{
    (void)state;
    char *bad_cfg = run_tmpfile("{\"answer\": {\"modle\": \"x.gguf\"}}\n", ".json");
    static const struct cli_case cases[] = {
        {{"help"}, NULL, 0, "exit codes: 0 ok, 1 usage, 2 bad input, 3 internal error", NULL},
        {{NULL}, NULL, 1, "usage: kbox", NULL},
        {{"frobnicate"}, NULL, 1, NULL, "unknown command 'frobnicate'"},
        {{"version"}, NULL, 0, "cpu features:", NULL},
        {{"version", "--json"}, NULL, 0, "\"cpu_features\":[", NULL},
        {{"--json", "version"}, NULL, 0, "\"build_type\":", NULL},
        {{"version", "extra"}, NULL, 1, NULL, "takes no arguments"},
        {{"config", "show"}, NULL, 0, "server.port", NULL},
        {{"config", "show", "--json"}, NULL, 0, "\"server.port\":{\"value\":8080,\"source\":\"default\"}", NULL},
        {{"config"}, NULL, 1, NULL, "usage: kbox config show"},
        {{"--config", "@CFG", "config", "show"}, NULL, 2, NULL, ":1: unknown config key 'answer.modle'"},
        {{"--config", "/nonexistent.json", "config", "show"}, NULL, 2, NULL, "/nonexistent.json"},
        {{"--set", "server.port=99999", "config", "show"}, NULL, 2, NULL, "'server.port': got 99999"},
        {{"--set", "server.port", "config", "show"}, NULL, 1, NULL, "--set takes KEY=VALUE"},
        {{"config", "show", "--config"}, NULL, 1, NULL, "--config needs a value"},
        {{"config", "show"}, "KBOX_SERVER_PORT=abc", 2, NULL, "KBOX_SERVER_PORT"},
        {{"config", "show"}, "KBOX_SERVER_PORT=9999", 0, "env:KBOX_SERVER_PORT", NULL},
        {{"--data-dir", "/tmp/kb-x", "config", "show"}, NULL, 0, "\"/tmp/kb-x\"    # flag", NULL},
        {{"config", "template"}, NULL, 0, "\"answer\": {", NULL},
        {{"help", "config"}, NULL, 0, "usage: kbox config", NULL},
        {{"help", "model"}, NULL, 0, "bench FILE [-t N] [-p 512] [-n 128]", NULL},
        {{"help", "search"}, NULL, 0, "--mode M", NULL},
        /* internal error: the data directory cannot be created */
        {{"--data-dir", "/proc/kbox-cannot-exist", "docs"}, NULL, 3, NULL, "cannot create '/proc/kbox-cannot-exist'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], i, bad_cfg);
    unlink(bad_cfg);
    free(bad_cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_exit_codes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
