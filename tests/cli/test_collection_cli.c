/* tests/cli/test_collection_cli.c: `kbox collection list|add|handoff` (cli/cmd_collection.c) as a
 * person runs them: the real kbox binary on a fresh data directory (real SQLite), checked by exit
 * code (0 ok, 1 usage, 2 bad input), stdout (text and --json) and stderr. Cases run in order against
 * one data directory: add and list; a collection's handoff triggers shown inheriting, set (keyword
 * trigger off, fallbacks off, thumbs-down off), kept by a change naming others, bad values named,
 * an unknown collection named, inherited again; a bot over the collection sees its settings only
 * through questions (covered over HTTP by tests/web/test_handoff.c). */
#define _GNU_SOURCE
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

static void test_collection_commands(void **state)
{
    char dir[] = "/tmp/kbox-collcli-XXXXXX", cmd[160], why[1024];
    static const struct run_case cases[] = {
        {{"collection", "list"}, 0, "default", NULL},
        {{"collection", "add", "hr", "--json"}, 0, "{\"id\":2,\"name\":\"hr\"}", NULL},
        {{"collection", "add", "hr"}, 2, NULL, "already exists"},
        {{"collection", "list", "--json"}, 0, "{\"id\":2,\"name\":\"hr\",\"documents\":0}", NULL},
        {{"collection", "handoff", "hr"}, 0, "handoff    on  (handoff.enabled)\nkeywords   human,agent", NULL},
        {{"collection", "handoff", "hr", "--json"}, 0,
         "\"handoff\":\"inherit\",\"handoff_keywords\":\"inherit\",\"handoff_after_fallbacks\":\"inherit\"", NULL},
        {{"collection", "handoff", "hr", "--keywords", "off", "--after-fallbacks", "0", "--on-thumbs-down", "false",
          "--json"},
         0, "\"handoff_keywords\":false,\"handoff_after_fallbacks\":0,\"handoff_on_thumbs_down\":false", NULL},
        {{"collection", "handoff", "hr", "--handoff", "true"}, 0,
         "handoff    on\nkeywords   off\nafter      0 fallbacks in a row (off)\nthumbs     off", NULL},
        {{"collection", "handoff", "hr", "--handoff", "maybe"}, 2, NULL, "collection handoff must be true, false or"},
        {{"collection", "handoff", "hr", "--after-fallbacks", "500"}, 2, NULL,
         "collection handoff_after_fallbacks must be 0 to 100"},
        {{"collection", "handoff", "hr", "--after-fallbacks", "lots"}, 2, NULL,
         "collection handoff_after_fallbacks must be 0 to 100"},
        {{"collection", "handoff", "hr", "--on-thumbs-down", "3"}, 2, NULL, "handoff_on_thumbs_down must be"},
        {{"collection", "handoff", "hr", "--on-thumbs-down"}, 1, NULL, "--on-thumbs-down needs a value"},
        {{"collection", "handoff", "hr", "--bogus", "1"}, 1, NULL, "unknown argument '--bogus'"},
        {{"collection", "handoff", "nope"}, 2, NULL, "no collection named 'nope'"},
        {{"collection", "handoff"}, 1, NULL, "needs the collection's name"},
        /* the bad values changed nothing */
        {{"collection", "handoff", "hr", "--json"}, 0, "\"handoff\":true,\"handoff_keywords\":false", NULL},
        {{"collection", "handoff", "hr", "--keywords", "payroll person", "--json"}, 0,
         "\"keywords\":\"payroll person\",\"keywords_on\":true", NULL},
        {{"collection", "handoff", "hr", "--handoff", "inherit", "--keywords", "inherit", "--after-fallbacks", "inherit",
          "--on-thumbs-down", "inherit"},
         0, "after      2 fallbacks in a row  (handoff.after_fallbacks)", NULL},
        {{"collection", "handoff", "default", "--json"}, 0, "\"handoff\":\"inherit\"", NULL},
        {{"collection", "frob"}, 1, NULL, "usage: kbox collection"},
    };
    (void)state;
    assert_non_null(mkdtemp(dir));
    if (run_cases(KBOX_BIN, dir, cases, sizeof cases / sizeof cases[0], why, sizeof why) >= 0)
        fail_msg("%s", why);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_collection_commands)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
