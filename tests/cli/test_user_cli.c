/* tests/cli/test_user_cli.c: `kbox user add|list|passwd|role|rm` and `kbox audit` (cli/cmd_user.c)
 * as an operator runs them: the real kbox binary on a fresh data directory (real SQLite), the
 * password piped on stdin, checked by exit code (0 ok, 1 usage, 2 bad input), stdout (text and
 * --json) and stderr, and the audit entries the changes leave. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/run.h"

/* kbox ARGS with the password line on stdin; returns its exit code. */
static int with_password(const char *dir, const char *password, const char *args)
{
    char cmd[512];
    int st;
    snprintf(cmd, sizeof cmd, "printf '%%s\\n' '%s' | %s --data-dir %s --set log.level=warn %s >/dev/null 2>&1",
             password, KBOX_BIN, dir, args);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_user_commands(void **state)
{
    char dir[] = "/tmp/kbox-usercli-XXXXXX", cmd[160], why[1024];
    static const struct run_case cases[] = {
        {{"user", "list", "--json"}, 0, "\"email\":\"boss@example.com\",\"name\":\"Boss\",\"role\":\"owner\"", NULL},
        {{"user", "role", "ed@example.com", "viewer"}, 0, NULL, NULL},
        {{"user", "list"}, 0, "ed@example.com\tviewer", NULL},
        {{"user", "role", "boss@example.com", "viewer"}, 2, NULL, "is the last owner"},
        {{"user", "role", "ed@example.com", "king"}, 2, NULL, NULL},
        {{"user", "role", "nobody@example.com", "viewer"}, 2, NULL, "nobody@example.com"},
        {{"audit", "--json"}, 0, "\"action\":\"user.role\",\"target\":\"ed@example.com\",\"detail\":\"editor -> viewer\"", NULL},
        {{"audit"}, 0, "user.create", NULL},
        {{"user", "rm", "ed@example.com"}, 0, NULL, NULL},
        {{"user", "list", "--json"}, 0, "{\"users\":[{\"id\":1,", NULL},
        {{"audit", "--limit", "1", "--json"}, 0, "{\"entries\":[{\"id\":", NULL},
    };
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(with_password(dir, "first-owner-pass", "user add boss@example.com --role owner --name Boss"), 0);
    assert_int_equal(with_password(dir, "editor-pass-123", "user add ed@example.com --role editor"), 0);
    assert_int_equal(with_password(dir, "again-pass-123", "user add ed@example.com --role editor"), 2); /* exists */
    assert_int_equal(with_password(dir, "new-pass-4567", "user passwd ed@example.com"), 0);
    if (run_cases(KBOX_BIN, dir, cases, sizeof cases / sizeof cases[0], why, sizeof why) >= 0)
        fail_msg("%s", why);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_user_commands)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
