/* tests/ingest/test_cli_ingest.c: the real kbox binary running `kbox ingest --dry-run`, as a person
 * debugging their documents would: JSON output parsed with cJSON (formats, blocks, chunks with heading
 * paths and pages), a bad file reported on stderr while the good ones still come out (exit 2),
 * text output, and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/run.h"
#include "fixtures.h"

static const cJSON *file_entry(const cJSON *root, const char *suffix)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(root, "files"))
    {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
        if (p && kb_str_has_suffix(p, suffix))
            return f;
    }
    return NULL;
}

static const cJSON *chunk_with(const cJSON *file, const char *needle)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(file, "chunks"))
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "text"));
        if (t && strstr(t, needle))
            return c;
    }
    return NULL;
}

static void test_dry_run_json(void **state)
{
    (void)state;
    const char *md = fx_write_str("guide.md", "# Guide\n\n## Returns\n\nReturn any kettle within 45 days of delivery.\n");
    char good[512], bad[512], pdf[512];
    snprintf(good, sizeof good, "%s", md);
    unsigned char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 31 + 7);
    snprintf(bad, sizeof bad, "%s", fx_write(fx_path("junk.txt"), junk, sizeof junk));
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 760, 20, "Price List");
    fx_pdf_text(p, 72, 720, 11, "The Osprey kettle costs 129 pounds.");
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 760, 20, "Warranty");
    fx_pdf_text(p, 72, 720, 11, "Every grinder has a warranty of 24 months.");
    size_t n;
    char *data = fx_pdf_finish(p, false, &n);
    snprintf(pdf, sizeof pdf, "%s", fx_write(fx_path("prices.pdf"), data, n));
    free(data);
    fx_pdf_free(p);

    char *argv[] = {KBOX_BIN, "ingest", "--dry-run", "--json", good, bad, pdf, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    assert_int_equal(r.exit_code, 2);                 /* one file failed */
    assert_non_null(strstr(r.err, "junk.txt"));       /* its error on stderr */
    cJSON *root = cJSON_ParseWithOpts(r.out, NULL, 1);
    if (!root)
        fail_msg("stdout is not JSON: %.300s", r.out);
    const cJSON *f = file_entry(root, "guide.md");
    assert_non_null(f);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "ok")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "format")), "markdown");
    const cJSON *c = chunk_with(f, "45 days");
    assert_non_null(c);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "heading_path")), "Guide > Returns");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(f, "blocks")) == 3);

    f = file_entry(root, "junk.txt");
    assert_non_null(f);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(f, "ok")));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f, "error");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code")), "ECORRUPT");

    f = file_entry(root, "prices.pdf");
    assert_non_null(f);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "format")), "pdf");
    c = chunk_with(f, "24 months");
    assert_non_null(c);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "heading_path")), "Warranty");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "page_first")), 2);
    cJSON_Delete(root);
    run_result_free(&r);
}

static void test_dry_run_text_and_limits(void **state)
{
    (void)state;
    char good[512], big[512];
    snprintf(good, sizeof good, "%s", fx_write_str("faq.csv", "question,answer\nIs delivery free?,Over 60 pounds.\n"));
    char text[300];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    snprintf(big, sizeof big, "%s", fx_write_str("big.txt", text));
    char *argv[] = {KBOX_BIN, "--set", "ingest.max_file_bytes=200", "ingest", "--dry-run", good, big, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.out, "faq.csv: csv"));
    assert_non_null(strstr(r.out, "Q: Is delivery free?"));
    assert_non_null(strstr(r.err, "big.txt"));
    assert_non_null(strstr(r.err, "ingest.max_file_bytes"));
    run_result_free(&r);

    char *argv2[] = {KBOX_BIN, "ingest", "--dry-run", NULL};
    assert_int_equal(run_cmd(&r, argv2, NULL), 0);
    assert_int_equal(r.exit_code, 1); /* usage */
    run_result_free(&r);
    char *argv3[] = {KBOX_BIN, "ingest", "--dry-run", "--bogus", good, NULL};
    assert_int_equal(run_cmd(&r, argv3, NULL), 0);
    assert_int_equal(r.exit_code, 1);
    run_result_free(&r);
    /* all good: exit 0 */
    char *argv4[] = {KBOX_BIN, "ingest", "--dry-run", "--no-blocks", good, NULL};
    assert_int_equal(run_cmd(&r, argv4, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_null(strstr(r.out, "blocks:"));
    run_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_json),
        cmocka_unit_test(test_dry_run_text_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
