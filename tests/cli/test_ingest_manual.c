/* tests/cli/test_ingest_manual.c: issue 14's PDF case through the real kbox binary. A three-page
 * manual written by the test (tests/ingest/fixtures.c's PDF writer) with numbered section headings
 * at body size ("1. Introduction", "2. Brakes", "2.1 Pads", "3. Tyres"), a running header, "Page N of
 * 3" footers and a paragraph broken across the page 1/2 break:
 * - `kbox ingest --dry-run --json` gives one heading block per section with its page, the broken
 *   paragraph as one block on pages 1-2, chunks with heading paths and page maps, and no header or
 *   footer text anywhere;
 * - after `kbox ingest`, `kbox ask --json` cites the page of the sentence it quotes (page 2 for a
 *   sentence on page 2 of a chunk that starts on page 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/fixtures.h"
#include "../support/run.h"

static const char *manual_pdf(void)
{
    static const struct {
        int page;
        double y;
        const char *text;
    } body[] = {
        {1, 760, "1. Introduction"},
        {1, 730, "This manual covers the Aurora e-bike and its care."},
        {1, 100, "The frame number is stamped under the bottom"},
        {2, 780, "bracket. The battery charger needs four hours for a full charge."},
        {2, 740, "2. Brakes"},
        {2, 710, "Check the hydraulic brakes before every ride."},
        {2, 670, "2.1 Pads"},
        {2, 640, "Replace the brake pads when they are thinner than two millimetres."},
        {3, 760, "3. Tyres"},
        {3, 730, "Keep the tyres at three bar of pressure."},
    };
    struct fx_pdf *p = fx_pdf_new();
    for (int pg = 1; pg <= 3; pg++) {
        char footer[32];
        fx_pdf_page(p);
        fx_pdf_text(p, 72, 815, 9, "Aurora E-Bike Owner Manual");
        snprintf(footer, sizeof footer, "Page %d of 3", pg);
        fx_pdf_text(p, 270, 30, 9, footer);
        for (size_t i = 0; i < sizeof body / sizeof body[0]; i++)
            if (body[i].page == pg)
                fx_pdf_text(p, 72, body[i].y, 11, body[i].text);
    }
    return fx_pdf_save(p, "aurora-manual.pdf");
}

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int num(const cJSON *o, const char *key)
{
    return (int)cJSON_GetNumberValue(item(o, key));
}

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(item(o, key));
    return s ? s : "";
}

/* The first element of o[key] whose text starts with (or, contains) needle. */
static const cJSON *with_text(const cJSON *o, const char *key, const char *needle, bool prefix)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, item(o, key))
    {
        const char *t = str(e, "text");
        if (prefix ? strncmp(t, needle, strlen(needle)) == 0 : strstr(t, needle) != NULL)
            return e;
    }
    fail_msg("no %s with text '%s'", key, needle);
    return NULL;
}

static void test_dry_run_manual(void **state)
{
    (void)state;
    char pdf[512];
    snprintf(pdf, sizeof pdf, "%s", manual_pdf());
    /* small chunks, so that the two-sentence sections stay apart */
    char *argv[] = {KBOX_BIN, "--set", "ingest.chunk_tokens=32", "ingest", "--dry-run", "--json", pdf, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    assert_null(strstr(r.out, "Owner Manual")); /* the running header */
    assert_null(strstr(r.out, "of 3"));         /* the footers */
    cJSON *root = cJSON_ParseWithOpts(r.out, NULL, 1);
    assert_non_null(root);
    const cJSON *f = cJSON_GetArrayItem(item(root, "files"), 0);
    assert_int_equal(num(f, "n_pages"), 3);
    static const struct {
        const char *heading;
        int level, page;
    } heads[] = {{"1. Introduction", 1, 1}, {"2. Brakes", 1, 2}, {"2.1 Pads", 2, 2}, {"3. Tyres", 1, 3}};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const cJSON *b = with_text(f, "blocks", heads[i].heading, true);
        assert_string_equal(str(b, "text"), heads[i].heading);
        assert_string_equal(str(b, "kind"), "heading");
        assert_int_equal(num(b, "level"), heads[i].level);
        assert_int_equal(num(b, "page_first"), heads[i].page);
    }
    /* the paragraph broken at the page end: one block on pages 1-2 */
    const cJSON *b = with_text(f, "blocks", "The frame number", true);
    assert_string_equal(str(b, "text"), "The frame number is stamped under the bottom bracket. The battery charger "
                                        "needs four hours for a full charge.");
    assert_int_equal(num(b, "page_first"), 1);
    assert_int_equal(num(b, "page_last"), 2);
    b = with_text(f, "blocks", "Keep the tyres", true);
    assert_int_equal(num(b, "page_first"), 3);
    /* chunks: the section paths and pages */
    static const struct {
        const char *needle, *path;
        int first, last;
    } chunks[] = {{"frame number", "1. Introduction", 1, 2},
                  {"hydraulic brakes", "2. Brakes", 2, 2},
                  {"brake pads", "2. Brakes > 2.1 Pads", 2, 2},
                  {"three bar", "3. Tyres", 3, 3}};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        const cJSON *c = with_text(f, "chunks", chunks[i].needle, false);
        assert_string_equal(str(c, "heading_path"), chunks[i].path);
        assert_int_equal(num(c, "page_first"), chunks[i].first);
        assert_int_equal(num(c, "page_last"), chunks[i].last);
    }
    /* the chunk over the break says where page 2 starts: at "bracket." */
    const cJSON *c = with_text(f, "chunks", "frame number", false);
    const char *text = str(c, "text"), *map = str(c, "page_map");
    const char *at = strstr(text, "bracket.");
    assert_non_null(at);
    char want[32];
    snprintf(want, sizeof want, "%d:2", (int)(at - text));
    assert_string_equal(map, want);
    cJSON_Delete(root);
    run_result_free(&r);
}

static void test_ask_cites_page(void **state)
{
    (void)state;
    char pdf[512], dir[512];
    snprintf(pdf, sizeof pdf, "%s", manual_pdf());
    snprintf(dir, sizeof dir, "%s", fx_path("data"));
    char *ingest[] = {KBOX_BIN, "--data-dir", dir, "ingest", pdf, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, ingest, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("ingest exit %d: %s", r.exit_code, r.err);
    run_result_free(&r);
    char *ask[] = {KBOX_BIN, "--data-dir", dir, "--json", "ask", "How long does the battery charger need for a full charge?",
                   NULL};
    assert_int_equal(run_cmd(&r, ask, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("ask exit %d: %s", r.exit_code, r.err);
    cJSON *root = cJSON_ParseWithOpts(r.out, NULL, 1);
    assert_non_null(root);
    assert_non_null(strstr(str(root, "answer"), "four hours"));
    const cJSON *c = cJSON_GetArrayItem(item(root, "citations"), 0);
    assert_non_null(c);
    assert_string_equal(str(c, "document"), "aurora-manual.pdf");
    assert_int_equal(num(c, "page"), 2); /* the chunk starts on page 1; the quoted sentence is on page 2 */
    assert_int_equal(num(c, "page_end"), 2);
    cJSON_Delete(root);
    run_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_manual),
        cmocka_unit_test(test_ask_cites_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
