/* tests/cli/test_model_list.c: `kbox model list` on a folder holding a synthetic model written by
 * `kbox model synth` and a broken file: the model is described, the broken file is listed with its
 * error, and a missing folder is a bad-input error (exit 2). */
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

static void test_model_list(void **state)
{
    (void)state;
    char dir[] = "/tmp/kbox-models-XXXXXX", model[96], broken[96], cmd[128];
    struct run_result r;
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    snprintf(broken, sizeof broken, "%s/broken.gguf", dir);
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "qwen2", "--type", "Q4_0", "--out", model, NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    FILE *f = fopen(broken, "w");
    fputs("not a model", f);
    fclose(f);

    char *list[] = {KBOX_BIN, "model", "list", dir, "--json", NULL};
    assert_int_equal(run_cmd(&r, list, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"file\":\"tiny.gguf\",\"arch\":\"qwen2\""));
    assert_non_null(strstr(r.out, "\"fits_in_ram\":true"));
    assert_non_null(strstr(r.out, "\"file\":\"broken.gguf\",\"error\":"));
    assert_non_null(strstr(r.out, "not a GGUF file"));
    run_result_free(&r);

    char *text[] = {KBOX_BIN, "model", "list", dir, NULL};
    assert_int_equal(run_cmd(&r, text, NULL), 0);
    assert_non_null(strstr(r.out, "qwen2"));
    assert_non_null(strstr(r.out, "unusable"));
    run_result_free(&r);

    char *missing[] = {KBOX_BIN, "model", "list", "/nonexistent-models", NULL};
    assert_int_equal(run_cmd(&r, missing, NULL), 0);
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "/nonexistent-models"));
    run_result_free(&r);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_model_list)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
