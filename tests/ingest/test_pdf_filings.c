/* tests/ingest/test_pdf_filings.c: real SEC filings (financebench_en/raw_pdfs in the shared eval
 * data, found at <source>/../shared or /work/shared; the test skips when neither has them) parsed and
 * chunked with the default settings. Their page furniture, read from the files themselves:
 * - BESTBUY_2024Q2_10Q: "Table of Contents" (a link back to the contents) on top of every page
 *   after the first, and the page number under the last line of text, wherever the text ends;
 * - AMCOR_2023Q2_10Q: the page number under the last line of text (mid-page on short pages);
 * - AMCOR_2023Q4_EARNINGS: the page number at the bottom edge;
 * - FOOTLOCKER_2022_8K_dated_2022-08-19: exhibits numbered from 1 again, under the text.
 * Titles: the Info dictionary's Title where it names the filing (AMCOR earnings, FOOTLOCKER), else
 * the cover page's registrant, form and period (BESTBUY's Title is an accession number; AMCOR's
 * 10-Q has none; their first heading is "UNITED STATES SECURITIES AND EXCHANGE COMMISSION").
 * No chunk may hold a line that is only a number near the page it sits on, a page number glued to the end of a paragraph
 * on the page it sits on (the chunk's page map says which), or the running header; the body text
 * around them must still be there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "index/index.h"

static struct config cfg;
static char dir[1024];

static int setup(void **state)
{
    (void)state;
    config_init(&cfg);
    const char *cands[] = {KBOX_SHARED_DIR "/eval/financebench_en/raw_pdfs",
                           "/work/shared/eval/financebench_en/raw_pdfs"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !dir[0]; i++) {
        char probe[1200];
        snprintf(probe, sizeof probe, "%s/BESTBUY_2024Q2_10Q.pdf", cands[i]);
        if (access(probe, R_OK) == 0)
            snprintf(dir, sizeof dir, "%s", cands[i]);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

static bool is_number_line(const char *s, size_t n)
{
    if (n == 0 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Checks every chunk of the filing `name` (without .pdf); header (nullable) must not occur; body
 * must. */
static void check_filing(const char *name, int n_pages, const char *title, const char *header, const char *body)
{
    if (!dir[0])
        skip();
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.pdf", dir, name);
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, path, &rc, &err);
    if (!d)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(d->n_pages, n_pages);
    assert_non_null(d->title);
    if (strcmp(d->title, title) != 0)
        fail_msg("%s: title '%s', want '%s'", name, d->title, title);
    assert_int_equal(ingest_chunk(&cfg, d, &err), 0);
    bool found = false;
    for (size_t i = 0; i < d->n_chunks; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        if (header && strstr(c->text, header))
            fail_msg("%s: running header '%s' in chunk %zu: %.200s", name, header, i, c->text);
        found |= strstr(c->text, body) != NULL;
        for (const char *l = c->text; *l;) {
            const char *e = strchr(l, '\n');
            size_t n = e ? (size_t)(e - l) : strlen(l);
            int at = index_page_at(c->page_first, c->page_map, (size_t)(l - c->text));
            if (is_number_line(l, n) && labs(strtol(l, NULL, 10) - at) <= 5) /* not "32" (an exhibit) */
                fail_msg("%s: page number line '%.*s' in chunk %zu (page %d)", name, (int)n, l, i, at);
            /* "... end of the text. 12" where 12 is the page this text sits on */
            size_t k = n;
            while (k > 0 && l[k - 1] >= '0' && l[k - 1] <= '9')
                k--;
            if (k < n && k >= 2 && l[k - 1] == ' ' && strchr(".;", l[k - 2]) && n - k <= 3) {
                int page = index_page_at(c->page_first, c->page_map, (size_t)(l + n - 1 - c->text));
                if (strtol(l + k, NULL, 10) == page)
                    fail_msg("%s: page number %d glued to text in chunk %zu: ...%.*s", name, page, i,
                             (int)KB_MIN(n, 60), l + n - KB_MIN(n, 60));
            }
            l += n + (e != NULL);
        }
    }
    if (!found)
        fail_msg("%s: body text '%s' is missing", name, body);
    ingest_doc_free(d);
}

static void test_bestbuy_10q(void **state)
{
    (void)state;
    check_filing("BESTBUY_2024Q2_10Q", 30, "BEST BUY CO., INC. Form 10-Q, quarterly period ended July 29, 2023", "Table of Contents", "Condensed Consolidated Statements of Cash Flows");
}

static void test_amcor_10q(void **state)
{
    (void)state;
    check_filing("AMCOR_2023Q2_10Q", 57, "AMCOR PLC Form 10-Q, Quarterly Period Ended December 31, 2022", NULL, "Restructuring and Other Related Activities");
}

static void test_amcor_earnings(void **state)
{
    (void)state;
    check_filing("AMCOR_2023Q4_EARNINGS", 14, "Amcor 4Q 2023 Exhibit 99.1 - June 30, 2023", NULL, "Adjusted Free Cash Flow");
}

static void test_footlocker_8k(void **state)
{
    (void)state;
    check_filing("FOOTLOCKER_2022_8K_dated_2022-08-19", 31, "Form 8-K for Foot Locker INC filed 08/18/2022", NULL, "Executive Chairman");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bestbuy_10q),
        cmocka_unit_test(test_amcor_10q),
        cmocka_unit_test(test_amcor_earnings),
        cmocka_unit_test(test_footlocker_8k),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
