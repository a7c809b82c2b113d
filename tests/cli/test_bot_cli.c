/* tests/cli/test_bot_cli.c: `kbox bot list|show|add|set|rm` (cli/cmd_bot.c) as a person runs them:
 * the real kbox binary on a fresh data directory (real SQLite), checked by exit code (0 ok, 1
 * usage, 2 bad input), stdout (text and --json) and stderr. Cases are a table run in order against
 * one data directory: the default bot of a new store, add with settings, set keeping the rest,
 * bad input named (id, collection, strict, colour, origin), the handoff overrides (--handoff,
 * --handoff-keywords, --handoff-after-fallbacks, --handoff-on-thumbs-down: shown, kept, validated,
 * inherited again), rm, and `kbox ask` untouched. */
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

static void test_bot_commands(void **state)
{
    char dir[] = "/tmp/kbox-botcli-XXXXXX", cmd[160], why[1024];
    static const struct run_case cases[] = {
        {{"bot", "list"}, 0, "default ", NULL},
        {{"bot", "show", "default", "--json"}, 0, "\"collections\":[]", NULL},
        {{"bot", "add", "support", "--name", "Support desk", "--collection", "default", "--greeting", "Hello!",
          "--persona", "You are the friendly support desk.", "--strict", "true", "--origin", "https://shop.example",
          "--color", "#aa3300", "--public-page", "off", "--json"},
         0, "\"name\":\"Support desk\"", NULL},
        {{"bot", "show", "support"}, 0, "public page  off", NULL},
        {{"bot", "set", "support", "--lang", "zh", "--json"}, 0, "\"greeting\":\"Hello!\",\"color\":\"#aa3300\",\"lang\":\"zh\"", NULL},
        {{"bot", "show", "support", "--json"}, 0, "\"persona\":\"You are the friendly support desk.\"", NULL},
        {{"bot", "set", "support", "--strict", "inherit", "--no-origins", "--all-collections", "--json"}, 0,
         "\"collections\":[],\"persona\"", NULL},
        {{"bot", "show", "support", "--json"}, 0, "\"strict\":\"inherit\"", NULL},
        {{"bot", "list", "--json"}, 0, "{\"bots\":[{\"id\":\"default\"", NULL},
        {{"bot", "add", "support"}, 2, NULL, "a bot with id 'support' already exists"},
        {{"bot", "add", "Bad!"}, 2, NULL, "bot id must be"},
        {{"bot", "add", "x", "--collection", "nope"}, 2, NULL, "bot collection 'nope' does not exist"},
        {{"bot", "add", "x", "--strict", "maybe"}, 2, NULL, "bot strict must be"},
        {{"bot", "add", "x", "--color", "red"}, 2, NULL, "bot color must be"},
        {{"bot", "add", "x", "--origin", "shop.example"}, 2, NULL, "bot origin 'shop.example'"},
        {{"bot", "add", "x", "--public-page", "maybe"}, 1, NULL, "--public-page takes on or off"},
        {{"bot", "add", "x", "--greeting"}, 1, NULL, "--greeting needs a value"},
        {{"bot", "add", "x", "--bogus", "1"}, 1, NULL, "unknown argument '--bogus'"},
        {{"bot", "set", "nope", "--name", "n"}, 2, NULL, "no bot with id 'nope'"},
        {{"bot", "show", "nope"}, 2, NULL, "no bot with id 'nope'"},
        {{"bot", "show"}, 1, NULL, "needs the bot's ID"},
        /* the bot's own handoff settings: shown, kept by a set naming others, validated, inheritable */
        {{"bot", "set", "support", "--handoff", "false", "--handoff-keywords", "store manager",
          "--handoff-after-fallbacks", "3", "--handoff-on-thumbs-down", "false", "--json"},
         0, "\"handoff\":false,\"handoff_keywords\":\"store manager\",\"handoff_after_fallbacks\":3", NULL},
        {{"bot", "set", "support", "--name", "Support", "--json"}, 0,
         "\"effective_handoff\":{\"enabled\":false,\"keywords\":\"store manager\",\"after_fallbacks\":3", NULL},
        {{"bot", "show", "support"}, 0, "handoff      off\n  keywords   store manager\n  after      3 fallbacks", NULL},
        {{"bot", "set", "support", "--handoff", "inherit", "--handoff-keywords", "", "--handoff-after-fallbacks",
          "inherit"},
         0, "updated bot support", NULL},
        {{"bot", "show", "support"}, 0, "handoff      on  (handoff.enabled)\n  keywords   human,agent", NULL},
        {{"bot", "show", "default"}, 0, "  after      2 fallbacks in a row  (handoff.after_fallbacks)", NULL},
        {{"bot", "set", "support", "--handoff", "sometimes"}, 2, NULL, "bot handoff must be true, false or"},
        {{"bot", "set", "support", "--handoff-after-fallbacks", "500"}, 2, NULL,
         "bot handoff_after_fallbacks must be 0 to 100"},
        {{"bot", "set", "support", "--handoff-after-fallbacks", "lots"}, 2, NULL,
         "bot handoff_after_fallbacks must be 0 to 100"},
        {{"bot", "set", "support", "--handoff-on-thumbs-down"}, 1, NULL, "--handoff-on-thumbs-down needs a value"},
        {{"bot", "show", "support", "--json"}, 0, "\"handoff_on_thumbs_down\":false", NULL},
        {{"bot", "rm", "support", "--json"}, 0, "{\"deleted\":\"support\"}", NULL},
        {{"bot", "rm", "support"}, 2, NULL, "no bot with id 'support'"},
        {{"bot", "frob"}, 1, NULL, "usage: kbox bot"},
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bot_commands)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
