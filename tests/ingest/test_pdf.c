/* tests/ingest/test_pdf.c: PDFs written by fixtures.c's small PDF writer, parsed through MuPDF:
 * page numbers, headings from the outline and from font size, running headers/footers and page
 * numbers dropped, hyphenated line ends joined, Chinese text, tables of aligned cells, a filing cover
 * page's registrant as the title; EPUB through MuPDF; and the bad cases:
 * encrypted, truncated, garbage after the header, no text layer (with ingest.ocr off and on), and a
 * PNG image; and OCR of a rendered page (as PNG and as an image-only PDF) when mutool is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/run.h"
#include "fixtures.h"

static struct config cfg;

static int setup(void **state)
{
    (void)state;
    config_init(&cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

/* Three pages: a running header and footer on each, a title on page 1, a section heading per page,
 * a hyphenated paragraph, a Chinese line on page 3. */
static struct fx_pdf *manual(bool outline)
{
    static const char *const sections[] = {"Returns", "Refunds", "Shipping"};
    struct fx_pdf *p = fx_pdf_new();
    for (int pg = 1; pg <= 3; pg++) {
        char buf[128];
        fx_pdf_page(p);
        fx_pdf_text(p, 72, 815, 9, "Heronbrook Staff Manual - Internal");
        snprintf(buf, sizeof buf, "Page %d of 3", pg);
        fx_pdf_text(p, 280, 30, 9, buf);
        if (pg == 1)
            fx_pdf_text(p, 72, 770, 22, "Staff Manual");
        fx_pdf_text(p, 72, 730, 15, sections[pg - 1]);
        snprintf(buf, sizeof buf, "Known sentence on page %d: the %s rules apply to every cus-", pg, sections[pg - 1]);
        fx_pdf_text(p, 72, 700, 11, buf);
        fx_pdf_text(p, 72, 686, 11, "tomer who buys from the online shop. Keep the receipt.");
        if (pg == 3)
            fx_pdf_cjk(p, 72, 650, 11, "中文句子：退货包裹到达仓库的当天就会检验。");
    }
    if (outline) {
        fx_pdf_outline(p, "Staff Manual", 1, 1);
        for (int i = 0; i < 3; i++)
            fx_pdf_outline(p, sections[i], i + 1, 2);
    }
    return p;
}

static const char *write_pdf(const char *name, struct fx_pdf *p, bool encrypted)
{
    size_t n;
    char *data = fx_pdf_finish(p, encrypted, &n);
    const char *path = fx_write(fx_path(name), data, n);
    free(data);
    return path;
}

/* p written to a file called name and parsed; fails the test with the parser's message if it fails. */
static struct ingest_doc *parse_written(const char *name, struct fx_pdf *p)
{
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, write_pdf(name, p, false), &rc, &err);
    if (!d)
        fail_msg("%s: %s", name, err.msg);
    return d;
}

static void check_manual(struct ingest_doc *d)
{
    assert_int_equal(d->format, INGEST_FMT_PDF);
    assert_int_equal(d->n_pages, 3);
    assert_string_equal(d->title, "Staff Manual");
    assert_null(strstr(d->text, "Internal"));    /* running header */
    assert_null(strstr(d->text, "Page 2 of 3")); /* footer page numbers */
    const struct ingest_block *b = fx_block_with(d, "Staff Manual");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    b = fx_block_with(d, "Refunds");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 2);
    assert_int_equal(b->loc.page, 2);
    b = fx_block_with(d, "page 2:");
    assert_string_equal(b->text, "Known sentence on page 2: the Refunds rules apply to every customer who buys from the "
                                 "online shop. Keep the receipt.");
    assert_int_equal(b->loc.page, 2);
    b = fx_block_with(d, "中文句子");
    assert_string_equal(b->text, "中文句子：退货包裹到达仓库的当天就会检验。");
    assert_int_equal(b->loc.page, 3);
    /* With a small target every section is its own chunk with its page and path. */
    assert_int_equal(ingest_chunk_with(d, 32, 0.15, NULL), 0);
    static const char *const sec[] = {"Returns", "Refunds", "Shipping"};
    for (int pg = 1; pg <= 3; pg++) {
        char needle[64], path[64];
        snprintf(needle, sizeof needle, "Known sentence on page %d", pg);
        snprintf(path, sizeof path, "Staff Manual > %s", sec[pg - 1]);
        const struct ingest_chunk *c = fx_chunk_with(d, needle);
        assert_non_null(c);
        assert_string_equal(c->heading_path, path);
        assert_int_equal(c->page_first, pg);
        assert_int_equal(c->page_last, pg);
    }
}

static void test_pdf_outline(void **state)
{
    (void)state;
    struct fx_pdf *p = manual(true);
    struct ingest_doc *d = parse_written("outline.pdf", p);
    check_manual(d);
    ingest_doc_free(d);
    fx_pdf_free(p);
}

static void test_pdf_font_sizes(void **state)
{
    (void)state;
    struct fx_pdf *p = manual(false);
    struct ingest_doc *d = parse_written("sizes.pdf", p);
    check_manual(d);
    ingest_doc_free(d);
    fx_pdf_free(p);
}

/* The Info dictionary's Title names the document when it is one (SEC filings printed from HTML
 * carry "Form 8-K for Foot Locker INC filed 05/19/2022" above a cover page whose first line is
 * "UNITED STATES"); a file name, an accession number or a placeholder loses to the first heading. */
static void test_pdf_info_title(void **state)
{
    (void)state;
    static const struct {
        const char *info, *want;
    } cases[] = {
        {"  Heronbrook Staff Handbook 2024 ", "Heronbrook Staff Handbook 2024"},
        {"Form 8-K for Foot Locker INC filed 05/19/2022", "Form 8-K for Foot Locker INC filed 05/19/2022"},
        {"Microsoft Word - manual_v3.docx", "Staff Manual"},
        {"0000764478-23-000041", "Staff Manual"},
        {"staff_manual_final", "Staff Manual"},
        {"PowerPoint Presentation", "Staff Manual"},
        {"", "Staff Manual"},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct fx_pdf *p = manual(false);
        fx_pdf_set_title(p, cases[i].info);
        struct ingest_doc *d = parse_written("info_title.pdf", p);
        assert_string_equal(d->title, cases[i].want);
        /* the headings themselves are unchanged */
        const struct ingest_block *b = fx_block_with(d, "Staff Manual");
        assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
        assert_int_equal(b->level, 1);
        ingest_doc_free(d);
        fx_pdf_free(p);
    }
}

/* A title wrapped over two centred lines (MuPDF gives each its own block) is one heading, and the
 * document's title; a heading of the same size further down, after body text, is not joined to it,
 * nor are two stacked headings with a full line of space between them. */
static void test_pdf_wrapped_heading(void **state)
{
    (void)state;
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 200, 780, 20, "Heronbrook Bicycle Company");
    fx_pdf_text(p, 240, 756, 20, "Staff Handbook");
    fx_pdf_text(p, 72, 700, 11, "This handbook explains how the shop serves its customers.");
    fx_pdf_text(p, 72, 660, 20, "Returns and");
    fx_pdf_text(p, 72, 636, 20, "Refunds");
    fx_pdf_text(p, 72, 600, 11, "Customers may return a bicycle within thirty days.");
    fx_pdf_text(p, 72, 540, 20, "Shipping");
    fx_pdf_text(p, 72, 480, 20, "Warranty");
    fx_pdf_text(p, 72, 440, 11, "Frames carry a lifetime warranty against defects.");
    struct ingest_doc *d = parse_written("wrapped.pdf", p);
    assert_string_equal(d->title, "Heronbrook Bicycle Company Staff Handbook");
    const struct ingest_block *b = fx_block_with(d, "Heronbrook Bicycle Company");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_string_equal(b->text, "Heronbrook Bicycle Company Staff Handbook");
    b = fx_block_with(d, "Returns and");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_string_equal(b->text, "Returns and Refunds");
    b = fx_block_with(d, "Shipping");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_string_equal(b->text, "Shipping");
    b = fx_block_with(d, "Warranty");
    assert_string_equal(b->text, "Warranty");
    ingest_doc_free(d);
    fx_pdf_free(p);
}

/* A filing's cover page: the title is the registrant (the line above "(Exact name of registrant
 * ...)") with its form and period, not the commission's name every filing starts with; without that
 * line the first heading stays the title. */
static void test_pdf_cover_title(void **state)
{
    (void)state;
    for (int with = 0; with < 2; with++) {
        struct fx_pdf *p = fx_pdf_new();
        fx_pdf_page(p);
        fx_pdf_text(p, 150, 780, 16, "UNITED STATES SECURITIES AND EXCHANGE COMMISSION");
        fx_pdf_text(p, 250, 740, 16, "FORM 10-Q");
        fx_pdf_text(p, 72, 700, 11, "QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT.");
        fx_pdf_text(p, 180, 670, 11, "For the quarterly period ended March 31, 2026");
        fx_pdf_text(p, 220, 630, 16, "GLOBEX CORPORATION");
        fx_pdf_text(p, 170, 610, 9, with ? "(Exact name of registrant as specified in its charter)" : "(Delaware)");
        fx_pdf_text(p, 72, 560, 11, "Net revenue rose to 12 million dollars in the quarter, and the margin held steady.");
        struct ingest_doc *d = parse_written("cover.pdf", p);
        assert_string_equal(d->title, with ? "GLOBEX CORPORATION Form 10-Q, quarterly period ended March 31, 2026"
                                           : "UNITED STATES SECURITIES AND EXCHANGE COMMISSION");
        ingest_doc_free(d);
        fx_pdf_free(p);
    }
}

static void test_pdf_bad(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    struct fx_pdf *p = manual(false);
    /* encrypted with a non-empty user password */
    const char *enc = write_pdf("enc.pdf", p, true);
    assert_int_equal(ingest_parse_file(&cfg, enc, &d, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "encrypted"));
    assert_non_null(strstr(err.msg, "enc.pdf"));
    /* truncated right after the header */
    size_t n;
    char *data = fx_pdf_finish(p, false, &n);
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&cfg, fx_write(fx_path("trunc.pdf"), data, 40), &d, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "trunc.pdf"));
    /* truncated in the middle: MuPDF repairs what it can, or it is a clear error; never a crash */
    int rc = ingest_parse_file(&cfg, fx_write(fx_path("half.pdf"), data, n / 2), &d, &err);
    if (rc == 0) {
        assert_non_null(fx_block_with(d, "Known sentence on page 1"));
        ingest_doc_free(d);
        d = NULL;
    } else {
        assert_true(rc == KB_ECORRUPT || rc == KB_EEMPTY);
    }
    /* garbage after a PDF header */
    char junk[2048];
    memcpy(junk, "%PDF-1.4\n", 9);
    for (size_t i = 9; i < sizeof junk; i++)
        junk[i] = (char)((i * 7919) % 251);
    rc = ingest_parse_file(&cfg, fx_write(fx_path("junk.pdf"), junk, sizeof junk), &d, &err);
    assert_true(rc == KB_ECORRUPT || rc == KB_EEMPTY);
    assert_null(d);
    free(data);
    fx_pdf_free(p);
}

static void test_no_text_layer(void **state)
{
    (void)state;
    /* A page with only a drawn rectangle, as a scan without OCR would look to a text extractor. */
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_page(p);
    const char *path = write_pdf("scan.pdf", p, false);
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    assert_int_equal(ingest_parse_file(&cfg, path, &d, &err), KB_EEMPTY);
    assert_non_null(strstr(err.msg, "no text layer; enable ingest.ocr"));
    assert_null(d);
    struct config ocr;
    config_init(&ocr);
    assert_int_equal(config_set(&ocr, "ingest.ocr", "true", CONFIG_SRC_FLAG, NULL), 0);
    assert_int_equal(ingest_parse_file(&ocr, path, &d, &err), KB_EEMPTY); /* blank pages: OCR finds nothing */
    assert_non_null(strstr(err.msg, "OCR found no text"));
    /* Images have no text layer either. */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    const char *img = fx_write(fx_path("scan.png"), png, sizeof png);
    assert_int_equal(ingest_parse_file(&cfg, img, &d, &err), KB_EEMPTY);
    assert_non_null(strstr(err.msg, "no text layer; enable ingest.ocr"));
    assert_int_equal(ingest_parse_file(&ocr, img, &d, &err), KB_ECORRUPT); /* a PNG header and no image */
    config_release(&ocr);
    fx_pdf_free(p);
}

static void test_epub(void **state)
{
    (void)state;
    const char *names[] = {"mimetype", "META-INF/container.xml", "OEBPS/content.opf", "OEBPS/ch1.xhtml"};
    /* Parenthesised so the concatenated literals read as one element each. */
    const char *parts[] = {
        "application/epub+zip",
        ("<?xml version=\"1.0\"?><container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">"
         "<rootfiles><rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"
         "</rootfiles></container>"),
        ("<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" unique-identifier=\"id\">"
         "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Book</dc:title><dc:identifier id=\"id\">x"
         "</dc:identifier></metadata><manifest><item id=\"c1\" href=\"ch1.xhtml\" media-type=\"application/xhtml+xml\"/>"
         "</manifest><spine><itemref idref=\"c1\"/></spine></package>"),
        ("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>c</title></head><body>"
         "<h1>Chapter One</h1><p>The warranty on every kettle lasts twenty four months.</p></body></html>"),
    };
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, fx_zip(fx_path("b.epub"), names, parts, 4), &rc, &err);
    if (!d)
        fail_msg("%s", err.msg);
    assert_int_equal(d->format, INGEST_FMT_EPUB);
    const struct ingest_block *b = fx_block_with(d, "twenty four months");
    assert_non_null(b);
    assert_int_equal(b->loc.page, 1);
    const struct ingest_chunk *c = fx_chunk_with(d, "twenty four months");
    assert_string_equal(c->heading_path, "Chapter One");
    ingest_doc_free(d);
}

/* A table drawn as aligned cells becomes table rows with the header repeated in its chunk. */
static void test_pdf_table(void **state)
{
    (void)state;
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 780, 16, "Shipping zones");
    fx_pdf_text(p, 72, 750, 11, "Delivery costs depend on the zone of the address, as the table below shows.");
    static const char *const rows[4][3] = {{"Zone", "Destinations", "Cost"},
                                           {"Zone 1", "UK mainland", "4.95 GBP"},
                                           {"Zone 3", "European Union", "14.00 GBP"},
                                           {"Zone 4", "Norway, Iceland", "19.00 GBP"}};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            fx_pdf_text(p, 72 + c * 150, 720 - r * 16, 11, rows[r][c]);
    fx_pdf_text(p, 72, 640, 11, "Express delivery is available in Zone 1 only.");
    struct ingest_doc *d = parse_written("table.pdf", p);
    fx_pdf_free(p);
    const struct ingest_block *b = fx_block_with(d, "14.00 GBP");
    assert_int_equal(b->kind, INGEST_BLOCK_TABLE_ROW);
    assert_string_equal(b->text, "Zone: Zone 3, Destinations: European Union, Cost: 14.00 GBP");
    assert_string_equal(b->header, "Zone | Destinations | Cost");
    assert_int_equal(b->loc.page, 1);
    const struct ingest_chunk *c = fx_chunk_with(d, "19.00 GBP");
    assert_int_equal(c->kind, INGEST_CHUNK_TABLE);
    assert_string_equal(c->heading_path, "Shipping zones");
    /* the short lead-in sentence is the caption on top of the table chunk */
    const char *want = "Delivery costs depend on the zone of the address, as the table below shows.\n"
                       "Zone | Destinations | Cost\n";
    if (strncmp(c->text, want, strlen(want)) != 0)
        fail_msg("table chunk starts '%.120s'", c->text);
    b = fx_block_with(d, "Express delivery");
    assert_int_equal(b->kind, INGEST_BLOCK_PARAGRAPH); /* text after the table is prose again */
    ingest_doc_free(d);
}

/* OCR end to end: a text PDF rendered to PNG by mutool, then wrapped in a PDF with no text layer.
 * Skipped when mutool (Debian mupdf-tools) is not installed. */
static void test_ocr(void **state)
{
    (void)state;
    static const char *const mutool_paths[] = {"/usr/bin/mutool", "/usr/local/bin/mutool"};
    const char *mutool = NULL;
    for (size_t i = 0; i < KB_ARRAY_LEN(mutool_paths) && !mutool; i++) {
        FILE *f = fopen(mutool_paths[i], "rb");
        if (f) {
            fclose(f);
            mutool = mutool_paths[i];
        }
    }
    if (!mutool)
        skip();
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 760, 24, "Returns Policy");
    fx_pdf_text(p, 72, 720, 14, "Customers may return a kettle within 45 days of delivery.");
    fx_pdf_text(p, 72, 700, 14, "Refunds are paid within seven working days.");
    char text_pdf[512], png[512], scan[512];
    snprintf(text_pdf, sizeof text_pdf, "%s", write_pdf("text.pdf", p, false));
    snprintf(png, sizeof png, "%s", fx_path("page.png"));
    snprintf(scan, sizeof scan, "%s", fx_path("scan-ocr.pdf"));
    fx_pdf_free(p);
    char *draw[] = {(char *)mutool, "draw", "-q", "-r", "200", "-o", png, text_pdf, "1", NULL};
    char *conv[] = {(char *)mutool, "convert", "-o", scan, png, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, draw, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    assert_int_equal(run_cmd(&r, conv, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);

    struct config ocr;
    config_init(&ocr);
    assert_int_equal(config_set(&ocr, "ingest.ocr", "true", CONFIG_SRC_FLAG, NULL), 0);
    const char *files[] = {scan, png};
    for (int i = 0; i < 2; i++) {
        struct kb_error err = {0};
        struct ingest_doc *d = NULL;
        assert_int_equal(ingest_parse_file(&cfg, files[i], &d, &err), KB_EEMPTY); /* OCR off */
        assert_non_null(strstr(err.msg, "no text layer; enable ingest.ocr"));
        int rc = ingest_parse_file(&ocr, files[i], &d, &err);
        if (rc == KB_ENOTIMPL) { /* language data missing */
            config_release(&ocr);
            skip();
        }
        if (rc)
            fail_msg("%s: %s", files[i], err.msg);
        const struct ingest_block *b = fx_block_with(d, "45 days");
        if (!b)
            fail_msg("OCR text of %s lacks '45 days': %s", files[i], d->text);
        assert_int_equal(b->loc.page, 1);
        assert_non_null(fx_block_with(d, "Returns Policy"));
        assert_non_null(fx_block_with(d, "seven working days"));
        assert_int_equal(ingest_chunk(&ocr, d, &err), 0);
        assert_int_equal(fx_chunk_with(d, "45 days")->page_first, 1);
        ingest_doc_free(d);
    }
    config_release(&ocr);
}

/* Numbered headings at body size over three pages (no outline, no larger font): "1. Introduction",
 * "2. Brakes", "2.1 Pads", "第三章 保修"; a paragraph broken at the end of page 1 goes on on page 2. */
static void test_pdf_numbered(void **state)
{
    (void)state;
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 760, 11, "1. Introduction");
    fx_pdf_text(p, 72, 730, 11, "Intro sentence one: this manual covers the bicycle and its care.");
    fx_pdf_text(p, 72, 100, 11, "Broken paragraph: the frame number is stamped under the bottom");
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 790, 11, "bracket and on the invoice.");
    fx_pdf_text(p, 72, 760, 11, "2. Brakes");
    fx_pdf_text(p, 72, 730, 11, "Brake sentence: check the brakes before every ride.");
    fx_pdf_text(p, 72, 690, 11, "2.1 Pads");
    fx_pdf_text(p, 72, 660, 11, "Pad sentence: replace worn pads at once.");
    fx_pdf_text(p, 72, 620, 11, "3 / 10");
    fx_pdf_page(p);
    fx_pdf_cjk(p, 72, 760, 11, "第三章 保修");
    fx_pdf_cjk(p, 72, 730, 11, "保修句子：车架保修五年。");
    struct ingest_doc *d = parse_written("numbered.pdf", p);
    const struct ingest_block *b = fx_block_with(d, "1. Introduction");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    assert_int_equal(b->loc.page, 1);
    b = fx_block_with(d, "2.1 Pads");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 2);
    assert_int_equal(b->loc.page, 2);
    b = fx_block_with(d, "第三章");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    assert_int_equal(b->loc.page, 3);
    b = fx_block_with(d, "Brake sentence");
    assert_int_equal(b->kind, INGEST_BLOCK_PARAGRAPH);
    b = fx_block_with(d, "Broken paragraph"); /* one paragraph across the page break, page of its start */
    assert_string_equal(b->text, "Broken paragraph: the frame number is stamped under the bottom bracket and on the "
                                 "invoice.");
    assert_int_equal(b->loc.page, 1);
    assert_int_equal(ingest_chunk_with(d, 16, 0.15, NULL), 0);
    static const char *const needles[] = {"Intro sentence", "Brake sentence", "Pad sentence", "保修句子"};
    static const char *const paths[] = {"1. Introduction", "2. Brakes", "2. Brakes > 2.1 Pads", "第三章 保修"};
    static const int pages[] = {1, 2, 2, 3};
    for (int i = 0; i < 4; i++) {
        const struct ingest_chunk *c = fx_chunk_with(d, needles[i]);
        assert_non_null(c);
        assert_string_equal(c->heading_path, paths[i]);
        assert_int_equal(c->page_first, pages[i]);
    }
    ingest_doc_free(d);
    fx_pdf_free(p);
}

/* Bold headings at body size under a larger title, three pages with a running header and a "- N -"
 * footer: headings get levels below the title and no header/footer/page-number text reaches a chunk. */
static void test_pdf_bold(void **state)
{
    (void)state;
    static const char *const heads[] = {"Safety", "Storage", "Cleaning"};
    struct fx_pdf *p = fx_pdf_new();
    for (int pg = 1; pg <= 3; pg++) {
        char buf[96];
        fx_pdf_page(p);
        fx_pdf_text(p, 72, 815, 9, "ACME Bikes Owner Guide");
        snprintf(buf, sizeof buf, "- %d -", pg);
        fx_pdf_text(p, 290, 30, 9, buf);
        if (pg == 1)
            fx_pdf_text(p, 72, 770, 18, "Bike Guide");
        fx_pdf_bold(p, 72, 730, 11, heads[pg - 1]);
        snprintf(buf, sizeof buf, "Body of section %d: read this before you ride the bike.", pg);
        fx_pdf_text(p, 72, 700, 11, buf);
    }
    struct ingest_doc *d = parse_written("bold.pdf", p);
    const struct ingest_block *b = fx_block_with(d, "Bike Guide");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    for (int pg = 1; pg <= 3; pg++) {
        b = fx_block_with(d, heads[pg - 1]);
        assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
        assert_int_equal(b->level, 2);
        assert_int_equal(b->loc.page, pg);
    }
    assert_int_equal(ingest_chunk_with(d, 16, 0.15, NULL), 0);
    for (size_t i = 0; i < d->n_chunks; i++) {
        assert_null(strstr(d->chunks[i].text, "Owner Guide"));
        assert_null(strstr(d->chunks[i].text, "- 2 -"));
    }
    for (int pg = 1; pg <= 3; pg++) {
        char needle[64], path[64];
        snprintf(needle, sizeof needle, "Body of section %d", pg);
        snprintf(path, sizeof path, "Bike Guide > %s", heads[pg - 1]);
        const struct ingest_chunk *c = fx_chunk_with(d, needle);
        assert_non_null(c);
        assert_string_equal(c->heading_path, path);
        assert_int_equal(c->page_first, pg);
    }
    ingest_doc_free(d);
    fx_pdf_free(p);
}

/* Two columns written row by row (left line, right line, ...) under a full-width title, as some
 * producers do: the text is read down the left column, then down the right one. */
static void test_pdf_columns(void **state)
{
    (void)state;
    struct fx_pdf *p = fx_pdf_new();
    fx_pdf_page(p);
    fx_pdf_text(p, 72, 780, 16, "Two Column Report On Wheel Care");
    static const char *const left[] = {"Left one: spokes need even tension", "left two: so true the wheel",
                                       "left three: twice every season and", "left four: after any hard crash."};
    static const char *const right[] = {"Right one: tyres lose air slowly", "right two: so check the pressure",
                                        "right three: every week with a gauge", "right four: before a long ride."};
    for (int i = 0; i < 4; i++) {
        fx_pdf_text(p, 72, 740 - 14 * i, 10, left[i]);
        fx_pdf_text(p, 320, 740 - 14 * i, 10, right[i]);
    }
    struct ingest_doc *d = parse_written("columns.pdf", p);
    const struct ingest_block *b = fx_block_with(d, "Left one");
    assert_string_equal(b->text, "Left one: spokes need even tension left two: so true the wheel left three: twice "
                                 "every season and left four: after any hard crash.");
    b = fx_block_with(d, "Right one");
    assert_string_equal(b->text, "Right one: tyres lose air slowly right two: so check the pressure right three: "
                                 "every week with a gauge right four: before a long ride.");
    const char *l = strstr(d->text, "Left one"), *r = strstr(d->text, "Right one"), *t = strstr(d->text, "Wheel Care");
    assert_true(t && l && r && t < l && l < r);
    ingest_doc_free(d);
    fx_pdf_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pdf_outline),   cmocka_unit_test(test_pdf_font_sizes), cmocka_unit_test(test_pdf_info_title), cmocka_unit_test(test_pdf_wrapped_heading), cmocka_unit_test(test_pdf_cover_title), cmocka_unit_test(test_pdf_bad),
        cmocka_unit_test(test_no_text_layer), cmocka_unit_test(test_epub),          cmocka_unit_test(test_ocr),
        cmocka_unit_test(test_pdf_table),     cmocka_unit_test(test_pdf_numbered),
        cmocka_unit_test(test_pdf_bold),      cmocka_unit_test(test_pdf_columns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
