/* tests/cli/test_faq_cli.c: `kbox faq list|add|import|export|rm` (cli/cmd_faq.c) as a person runs
 * them: the real kbox binary on a fresh data directory, checked by exit code (0 ok, 1 usage, 2 bad
 * input), stdout (text and --json) and stderr, then `kbox ask --json` answering a paraphrase of the
 * added entry with mode "curated". Cases are a table run in order against one data directory. */
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

struct faq_case {
    const char *args[12]; /* after "kbox --data-dir DIR"; "@CSV", "@BAD", "@XLSX" stand for files */
    int exit_code;
    const char *out_has;  /* substring of stdout or NULL */
    const char *err_has;  /* substring of stderr or NULL */
};

static void test_faq_commands(void **state)
{
    char dir[] = "/tmp/kbox-faqcli-XXXXXX", xlsx[128], cmd[160];
    char *csv = run_tmpfile("question,similar_questions,answer\n"
                            "Do you sell gift cards?,Can I buy a voucher?|Gift voucher,\"Yes, from 10 GBP.\"\n",
                            ".csv");
    char *bad = run_tmpfile("question,similar_questions,answer\nA?,,fine\nB?,,\n", ".csv");
    static const struct faq_case cases[] = {
        {{"faq", "list"}, 0, "no curated answers", NULL},
        {{"faq", "add", "--question", "Do you deliver to business addresses?", "--answer",
          "Yes; the courier hands it to your reception.", "--similar", "Can the parcel come to my office?", "--json"},
         0, "\"version\":1", NULL},
        {{"faq", "add", "--question", "", "--answer", "x"}, 2, NULL, "question is empty"},
        {{"faq", "add", "--question", "Why?"}, 1, NULL, "needs --question Q and --answer A"},
        {{"faq", "import", "@BAD"}, 2, NULL, "row 3: answer is empty"},
        {{"faq", "import", "@CSV", "--json"}, 0, "{\"imported\":1}", NULL},
        {{"faq", "import", "/nonexistent.csv"}, 2, NULL, "cannot open '/nonexistent.csv'"},
        {{"faq", "list", "--json"}, 0, "\"total\":2", NULL},
        {{"faq", "list", "--search", "voucher"}, 0, "Do you sell gift cards?", NULL},
        {{"faq", "export"}, 0, "\"Can I buy a voucher?\nGift voucher\"", NULL},
        {{"faq", "export", "--format", "xlsx"}, 2, NULL, "needs --out FILE"},
        {{"faq", "export", "--json"}, 1, NULL, "add --out FILE"},
        {{"faq", "export", "--format", "xlsx", "--out", "@XLSX", "--json"}, 0, "\"exported\":", NULL},
        {{"faq", "import", "@XLSX"}, 0, "imported 2 curated answers", NULL},
        {{"ask", "Will the parcel come to the office?", "--json"}, 0, "\"mode\":\"curated\"", NULL},
        {{"faq", "rm", "1", "--json"}, 0, "{\"deleted\":1}", NULL},
        {{"faq", "rm", "1"}, 2, NULL, "no curated answer with id 1"},
        {{"faq", "rm", "x"}, 1, NULL, "faq rm takes the id"},
        {{"faq", "frob"}, 1, NULL, "usage: kbox faq"},
        {{"faq", "list", "--bogus"}, 1, NULL, "unknown flag '--bogus'"},
        {{"faq", "list", "--collection", "nope"}, 2, NULL, "nope"},
    };
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(xlsx, sizeof xlsx, "%s/export.xlsx", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[20] = {KBOX_BIN, "--data-dir", dir, "--set", "log.level=warn"};
        struct run_result r;
        int n = 5;
        for (int k = 0; cases[i].args[k]; k++) {
            const char *a = cases[i].args[k];
            argv[n++] = !strcmp(a, "@CSV") ? csv : !strcmp(a, "@BAD") ? bad : !strcmp(a, "@XLSX") ? xlsx : (char *)a;
        }
        argv[n] = NULL;
        assert_int_equal(run_cmd(&r, argv, NULL), 0);
        if (r.exit_code != cases[i].exit_code || (cases[i].out_has && !strstr(r.out, cases[i].out_has)) ||
            (cases[i].err_has && !strstr(r.err, cases[i].err_has)))
            fail_msg("case %zu (%s %s): exit %d, stdout '%.400s', stderr '%.300s'", i, cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "", r.exit_code, r.out, r.err);
        run_result_free(&r);
    }
    unlink(csv);
    unlink(bad);
    free(csv);
    free(bad);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_faq_commands)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
