/* tests/ingest/test_text.c: format detection, the text formats (plain text in UTF-8, UTF-16 and
 * GB18030; Markdown; CSV with FAQ columns; HTML with charset, dropped furniture, lists and tables)
 * and the bad-input cases every file can hit: empty, binary garbage named .txt, too large, unknown
 * extension, a name promising a format the content lacks. Fixtures are written to a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct ingest_doc *parse_file(const char *path)
{
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, path, &rc, &err);
    if (!d)
        fail_msg("parse %s failed: %s", path, err.msg);
    return d;
}

static void test_detect(void **state)
{
    (void)state;
    static const struct {
        const char *name, *data;
        size_t n;
        int rc;
        enum ingest_format fmt;
    } cases[] = {
        {"a.pdf", "%PDF-1.4\n", 9, 0, INGEST_FMT_PDF},
        {"a.txt", "%PDF-1.7 named wrong", 20, 0, INGEST_FMT_PDF}, /* content wins over the name */
        {"a.md", "# Title\n", 8, 0, INGEST_FMT_MARKDOWN},
        {"a.markdown", "text", 4, 0, INGEST_FMT_MARKDOWN},
        {"a.htm", "<p>x</p>", 8, 0, INGEST_FMT_HTML},
        {"noext", "<!DOCTYPE html><p>x", 19, 0, INGEST_FMT_HTML},
        {"a.csv", "a,b\n1,2\n", 8, 0, INGEST_FMT_CSV},
        {"a.txt", "hello", 5, 0, INGEST_FMT_TEXT},
        {"README", "hello", 5, 0, INGEST_FMT_TEXT},
        {"a.png", "\x89PNG\r\n\x1a\n....", 12, 0, INGEST_FMT_IMAGE},
        {"photo.jpg", "\xFF\xD8\xFF\xE0", 4, 0, INGEST_FMT_IMAGE},
        {"a.txt", "", 0, KB_EEMPTY, INGEST_FMT_UNKNOWN},
        {"a.doc", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8, KB_EFORMAT, INGEST_FMT_UNKNOWN},
        {"a.pdf", "not a pdf at all", 16, KB_ECORRUPT, INGEST_FMT_UNKNOWN},
        {"a.docx", "plain text", 10, KB_ECORRUPT, INGEST_FMT_UNKNOWN},
        {"a.txt", "\x01\x02\x03\x00\x05garbage\x00\x00", 15, KB_ECORRUPT, INGEST_FMT_UNKNOWN},
        {"a.bin", "\x01\x02\x03\x00\x05garbage\x00\x00", 15, KB_EFORMAT, INGEST_FMT_UNKNOWN},
        {"a.xyz", "some text", 9, KB_EFORMAT, INGEST_FMT_UNKNOWN},
        {"a.zip", "PK\x03\x04garbage", 11, KB_ECORRUPT, INGEST_FMT_UNKNOWN}, /* damaged zip */
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct kb_error err = {0};
        enum ingest_format f = INGEST_FMT_UNKNOWN;
        int rc = ingest_detect(cases[i].data, cases[i].n, cases[i].name, &f, &err);
        if (rc != cases[i].rc || f != cases[i].fmt)
            fail_msg("case %zu (%s): rc %d fmt %s, want rc %d fmt %s (%s)", i, cases[i].name, rc,
                     ingest_format_name(f), cases[i].rc, ingest_format_name(cases[i].fmt), err.msg);
        if (rc)
            assert_non_null(strstr(err.msg, cases[i].name)); /* messages name the file */
    }
}

static void test_plain_text(void **state)
{
    (void)state;
    const char *txt = "ACME HANDBOOK\nVersion 2\n\n"
                      "1. Leave\n\n"
                      "Every employee receives 27 days of paid leave per year. Leave must be booked\n"
                      "two weeks in advance.\n\n"
                      "1.1 Carry over\n\n"
                      "You may carry over 5 days.\n"
                      "- Days expire on 31 March.\n"
                      "- Ask HR for exceptions.\n\n"
                      "Q: Can I sell leave?\nA: No, leave cannot be sold.\n";
    struct ingest_doc *d = parse_file(fx_write_str("hb.txt", txt));
    assert_int_equal(d->format, INGEST_FMT_TEXT);
    assert_string_equal(d->title, "ACME HANDBOOK");
    const struct ingest_block *b = fx_block_with(d, "1. Leave");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "1.1 Carry over");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 3);
    b = fx_block_with(d, "27 days");
    assert_string_equal(b->text, "Every employee receives 27 days of paid leave per year. Leave must be booked two "
                                 "weeks in advance.");
    assert_int_equal(b->loc.line, 6);
    assert_int_equal(b->off_end - b->off_start, b->text_bytes); /* offsets point into doc->text */
    assert_memory_equal(d->text + b->off_start, b->text, b->text_bytes);
    b = fx_block_with(d, "31 March");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    assert_string_equal(b->text, "Days expire on 31 March.");
    b = fx_block_with(d, "sell leave");
    assert_int_equal(b->kind, INGEST_BLOCK_FAQ);
    assert_string_equal(b->answer, "No, leave cannot be sold.");
    /* At the default target these small sections would merge as tiny; a small target keeps them. */
    assert_int_equal(ingest_chunk_with(d, 64, 0.15, NULL), 0);
    const struct ingest_chunk *c = fx_chunk_with(d, "27 days");
    assert_string_equal(c->heading_path, "1. Leave");
    assert_non_null(strstr(c->text, "ACME HANDBOOK")); /* the tiny title preamble joined it */
    c = fx_chunk_with(d, "carry over 5 days");
    assert_string_equal(c->heading_path, "1. Leave > 1.1 Carry over");
    ingest_doc_free(d);

    /* Chinese numbering: 第一章 and 一、 headings */
    d = parse_file(fx_write_str("zh.txt", "员工手册\n\n第一章 总则\n\n本手册适用于全体员工。\n\n一、适用范围\n\n"
                                          "全职员工和兼职员工。\n"));
    b = fx_block_with(d, "第一章 总则");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    b = fx_block_with(d, "一、适用范围");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_string_equal(d->title, "员工手册");
    ingest_doc_free(d);
}

static void test_encodings(void **state)
{
    (void)state;
    /* "退货政策\n顾客可以在四十五天内退货。" in GB18030, UTF-16LE with BOM and UTF-8 with BOM. */
    const char *utf8 = "退货政策\n\n顾客可以在四十五天内退货。\n";
    static const char gb[] = "\xcd\xcb\xbb\xf5\xd5\xfe\xb2\xdf\n\n\xb9\xcb\xbf\xcd\xbf\xc9\xd2\xd4\xd4\xda\xcb"
                             "\xc4\xca\xae\xce\xe5\xcc\xec\xc4\xda\xcd\xcb\xbb\xf5\xa1\xa3\n";
    size_t gbn = sizeof gb - 1;
    char u16[256];
    size_t u16n = 0;
    u16[u16n++] = (char)0xFF;
    u16[u16n++] = (char)0xFE;
    for (size_t i = 0; utf8[i];) {
        uint32_t cp;
        int l = kb_utf8_decode(utf8 + i, strlen(utf8 + i), &cp);
        i += (size_t)l;
        u16[u16n++] = (char)(cp & 0xFF);
        u16[u16n++] = (char)(cp >> 8);
    }
    char bom8[256];
    size_t bom8n = (size_t)snprintf(bom8, sizeof bom8, "\xEF\xBB\xBF%s", utf8);
    const struct {
        const char *name;
        const char *data;
        size_t n;
    } files[] = {{"gb.txt", gb, gbn}, {"u16.txt", u16, u16n}, {"bom8.txt", bom8, bom8n}, {"plain8.txt", utf8, strlen(utf8)}};
    for (size_t i = 0; i < KB_ARRAY_LEN(files); i++) {
        struct ingest_doc *d = parse_file(fx_write(fx_path(files[i].name), files[i].data, files[i].n));
        const struct ingest_block *b = fx_block_with(d, "顾客可以在四十五天内退货。");
        if (!b)
            fail_msg("%s: sentence not decoded (first block '%s')", files[i].name, d->blocks[0].text);
        assert_string_equal(d->title, "退货政策");
        ingest_doc_free(d);
    }
}

static void test_markdown(void **state)
{
    (void)state;
    const char *md = "# Product Guide\n\n"
                     "Intro with **bold**, `code`, a [link](http://x.example) and ![alt text](img.png).\n\n"
                     "## Kettles\n\n"
                     "* Wren holds 1.7 litres\n"
                     "  and boils fast.\n"
                     "  * nested item\n"
                     "1. first step\n\n"
                     "```c\nint main(void)\n{\n    return 0;\n}\n```\n\n"
                     "| Model | Price |\n|:---|---:|\n| HK-210 | £89 |\n| HK-350 | £129 |\n\n"
                     "Setext heading\n--------------\n\n"
                     "> quoted text here\n\n"
                     "    indented code line\n\n      more code\nAfter code.\n";
    struct ingest_doc *d = parse_file(fx_write_str("g.md", md));
    assert_int_equal(d->format, INGEST_FMT_MARKDOWN);
    const struct ingest_block *b = fx_block_with(d, "Intro");
    assert_string_equal(b->text, "Intro with bold, code, a link and alt text.");
    b = fx_block_with(d, "Wren");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    assert_string_equal(b->text, "Wren holds 1.7 litres and boils fast.");
    b = fx_block_with(d, "nested item");
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "return 0;");
    assert_int_equal(b->kind, INGEST_BLOCK_CODE);
    assert_string_equal(b->text, "int main(void)\n{\n    return 0;\n}");
    b = fx_block_with(d, "HK-350");
    assert_int_equal(b->kind, INGEST_BLOCK_TABLE_ROW);
    assert_string_equal(b->text, "Model: HK-350, Price: £129");
    assert_string_equal(b->header, "Model | Price");
    b = fx_block_with(d, "Setext heading");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "quoted text");
    assert_string_equal(b->text, "quoted text here");
    b = fx_block_with(d, "indented code");
    assert_int_equal(b->kind, INGEST_BLOCK_CODE);
    assert_string_equal(b->text, "indented code line\n\n  more code");
    b = fx_block_with(d, "After code.");
    assert_int_equal(b->kind, INGEST_BLOCK_PARAGRAPH);
    const struct ingest_chunk *c = fx_chunk_with(d, "return 0;");
    assert_int_equal(c->kind, INGEST_CHUNK_CODE);
    assert_string_equal(c->heading_path, "Product Guide > Kettles");
    c = fx_chunk_with(d, "quoted text");
    assert_string_equal(c->heading_path, "Product Guide > Setext heading");
    ingest_doc_free(d);
}

static void test_csv(void **state)
{
    (void)state;
    const char *csv = "Model,Name,\"Price, GBP\"\nHK-210,Wren,89\n\"CG-40\",\"Kestrel \"\"the grinder\"\"\",149\n"
                      "HB-1,\"Hub\nwith newline\",39\n";
    struct ingest_doc *d = parse_file(fx_write_str("p.csv", csv));
    assert_int_equal(d->format, INGEST_FMT_CSV);
    assert_int_equal(d->n_blocks, 3);
    assert_string_equal(d->blocks[1].text, "Model: CG-40, Name: Kestrel \"the grinder\", Price, GBP: 149");
    assert_int_equal(d->blocks[1].loc.row, 3);
    assert_int_equal(d->blocks[2].loc.line, 4);
    assert_string_equal(d->blocks[2].text, "Model: HB-1, Name: Hub with newline, Price, GBP: 39");
    assert_int_equal(d->n_chunks, 1);
    assert_int_equal(d->chunks[0].row_first, 2);
    assert_int_equal(d->chunks[0].row_last, 4);
    ingest_doc_free(d);

    /* Question/answer columns make FAQ pairs, in English and Chinese; ; as delimiter. */
    const char *faq = "id;问题;答案\n1;可以退货吗？;可以，45 天内。\n2;运费多少？;满 60 英镑免运费。\n";
    d = parse_file(fx_write_str("faq.csv", faq));
    assert_int_equal(d->n_chunks, 2);
    assert_int_equal(d->chunks[0].kind, INGEST_CHUNK_FAQ);
    assert_string_equal(d->chunks[0].text, "Q: 可以退货吗？\nA: 可以，45 天内。");
    ingest_doc_free(d);
    d = parse_file(fx_write_str("faq2.csv", "Question,Answer\nIs delivery free?,Over £60 yes.\n"));
    assert_int_equal(d->blocks[0].kind, INGEST_BLOCK_FAQ);
    assert_string_equal(d->blocks[0].answer, "Over £60 yes.");
    ingest_doc_free(d);
}

static void test_html(void **state)
{
    (void)state;
    const char *html = "<!DOCTYPE html><html><head><title>Policy Page</title><style>body{color:red}</style>"
                       "<script>var secret = 'SCRIPTTEXT';</script></head><body>"
                       "<nav><ul><li>NAVLINK Home</li></ul></nav>"
                       "<h1>Returns Policy</h1><p>You may return items within <strong>45 days</strong>\n"
                       "of delivery.</p><div>Div text<br>after break</div>"
                       "<h2>Zones</h2><table><thead><tr><th>Zone</th><th>Cost</th></tr></thead>"
                       "<tbody><tr><td>Zone 1</td><td>£4.95</td></tr><tr><td>Zone 4</td><td>£19.00</td></tr></tbody></table>"
                       "<ul><li>First <em>item</em><ul><li>Inner item</li></ul></li></ul>"
                       "<pre>line one\n  line two</pre><noscript>NOSCRIPT</noscript>"
                       "<p>Entity &amp; text &lt;ok&gt; &#20013;&#25991;</p></body></html>";
    struct ingest_doc *d = parse_file(fx_write_str("p.html", html));
    assert_int_equal(d->format, INGEST_FMT_HTML);
    assert_string_equal(d->title, "Policy Page");
    assert_null(strstr(d->text, "SCRIPTTEXT"));
    assert_null(strstr(d->text, "NAVLINK"));
    assert_null(strstr(d->text, "color:red"));
    assert_null(strstr(d->text, "NOSCRIPT"));
    const struct ingest_block *b = fx_block_with(d, "45 days");
    assert_string_equal(b->text, "You may return items within 45 days of delivery.");
    b = fx_block_with(d, "Div text");
    assert_string_equal(b->text, "Div text after break");
    b = fx_block_with(d, "£19.00");
    assert_int_equal(b->kind, INGEST_BLOCK_TABLE_ROW);
    assert_string_equal(b->text, "Zone: Zone 4, Cost: £19.00");
    b = fx_block_with(d, "Inner item");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "First item");
    assert_int_equal(b->level, 1);
    b = fx_block_with(d, "line two");
    assert_int_equal(b->kind, INGEST_BLOCK_CODE);
    assert_string_equal(b->text, "line one\n  line two");
    b = fx_block_with(d, "Entity");
    assert_string_equal(b->text, "Entity & text <ok> 中文");
    const struct ingest_chunk *c = fx_chunk_with(d, "£19.00");
    assert_string_equal(c->heading_path, "Returns Policy > Zones");
    ingest_doc_free(d);
}

static void test_html_charset(void **state)
{
    (void)state;
    /* GBK bytes for 退货 declared by <meta charset=gbk>, and by http-equiv content. */
    const char *a = "<html><head><meta charset=\"gbk\"></head><body><p>\xCD\xCB\xBB\xF5 policy</p></body></html>";
    const char *b = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head>"
                    "<body><p>\xCD\xCB\xBB\xF5 policy</p></body></html>";
    const char *names[] = {"gbk1.html", "gbk2.html"};
    const char *docs[] = {a, b};
    for (int i = 0; i < 2; i++) {
        struct ingest_doc *d = parse_file(fx_write_str(names[i], docs[i]));
        assert_non_null(fx_block_with(d, "退货 policy"));
        ingest_doc_free(d);
    }
    /* A charset outside the alias table goes to iconv by name (Cyrillic in windows-1251); a
     * declaration iconv does not know falls back to detection. */
    struct ingest_doc *c1 = parse_file(fx_write_str("cp1251.html", "<html><head><meta charset=\"windows-1251\">"
                                                                     "</head><body><p>\xcf\xf0\xe8\xe2\xe5\xf2</p></body></html>"));
    assert_non_null(fx_block_with(c1, "Привет"));
    ingest_doc_free(c1);
    c1 = parse_file(fx_write_str("bogus.html", "<meta charset=\"no-such-charset\"><p>plain ok</p>"));
    assert_non_null(fx_block_with(c1, "plain ok"));
    ingest_doc_free(c1);
    /* UTF-16 with a BOM beats no declaration. */
    const char *t = "<p>中文 ok</p>";
    char u16[64];
    size_t n = 0;
    u16[n++] = (char)0xFE, u16[n++] = (char)0xFF;
    for (size_t i = 0; t[i];) {
        uint32_t cp;
        i += (size_t)kb_utf8_decode(t + i, strlen(t + i), &cp);
        u16[n++] = (char)(cp >> 8), u16[n++] = (char)(cp & 0xFF);
    }
    struct ingest_doc *d = parse_file(fx_write(fx_path("u16.html"), u16, n));
    assert_non_null(fx_block_with(d, "中文 ok"));
    ingest_doc_free(d);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    /* empty */
    assert_int_equal(ingest_parse_file(&cfg, fx_write_str("empty.txt", ""), &d, &err), KB_EEMPTY);
    assert_null(d);
    assert_non_null(strstr(err.msg, "empty.txt"));
    /* whitespace only: no text */
    assert_int_equal(ingest_parse_file(&cfg, fx_write_str("blank.md", "  \n\n\t\n"), &d, &err), KB_EEMPTY);
    /* binary garbage named .txt */
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&cfg, fx_write(fx_path("junk.txt"), junk, sizeof junk), &d, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "junk.txt"));
    /* high bytes without NULs: neither UTF-8 nor GB18030 */
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(0x80 | (junk[i] & 0x7F));
    for (size_t i = 0; i < sizeof junk; i += 7)
        junk[i] = 0xFF;
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&cfg, fx_write(fx_path("high.txt"), junk, sizeof junk), &d, &err), KB_ECORRUPT);
    /* too large */
    struct config small;
    config_init(&small);
    assert_int_equal(config_set(&small, "ingest.max_file_bytes", "100", CONFIG_SRC_FLAG, NULL), 0);
    char big[200];
    memset(big, 'a', sizeof big);
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&small, fx_write(fx_path("big.txt"), big, sizeof big), &d, &err), KB_ETOOBIG);
    assert_non_null(strstr(err.msg, "ingest.max_file_bytes"));
    assert_int_equal(ingest_parse_memory(&small, big, sizeof big, "m.txt", INGEST_FMT_UNKNOWN, &d, &err), KB_ETOOBIG);
    config_release(&small);
    /* memory cap: text that decodes past ingest.max_parse_bytes */
    struct config capped;
    config_init(&capped);
    assert_int_equal(config_set(&capped, "ingest.max_parse_bytes", "1048576", CONFIG_SRC_FLAG, NULL), 0);
    size_t bign = 3u << 20;
    char *lots = kb_xmalloc(bign);
    for (size_t i = 0; i < bign; i++)
        lots[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&capped, fx_write(fx_path("lots.txt"), lots, bign), &d, &err), KB_ETOOBIG);
    assert_non_null(strstr(err.msg, "max_parse_bytes"));
    assert_null(d);
    free(lots);
    config_release(&capped);
    /* missing file */
    assert_int_equal(ingest_parse_file(&cfg, fx_path("does-not-exist.txt"), &d, &err), KB_ENOENT);
    /* a directory */
    assert_int_equal(ingest_parse_file(&cfg, "/tmp", &d, &err), KB_EINVAL);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),   cmocka_unit_test(test_plain_text),  cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_markdown), cmocka_unit_test(test_csv),         cmocka_unit_test(test_html),
        cmocka_unit_test(test_html_charset), cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
