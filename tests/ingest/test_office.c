/* tests/ingest/test_office.c: DOCX, XLSX and PPTX zipped here from XML parts this file writes, with
 * known sentences checked in the right blocks, chunks, heading paths, sheets, rows and slides
 * (English and Chinese); a Title paragraph and a title slide name the document instead of being a
 * section heading; and the hostile cases: a zip bomb past ingest.max_expanded_bytes, billion
 * laughs and external entities in the XML, a damaged and a truncated archive, a zip of something
 * else, a part that is not XML, and the per-file time cap. */
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

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""

static const char *docx_styles =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<w:styles " W_NS ">"
    "<w:style w:type=\"paragraph\" w:styleId=\"Title\"><w:name w:val=\"Title\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"1\"><w:name w:val=\"heading 1\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"ListBullet\"><w:name w:val=\"List Bullet\"/></w:style>"
    "</w:styles>";

static const char *docx_document =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<w:document " W_NS "><w:body>"
    "<w:p><w:pPr><w:pStyle w:val=\"Title\"/></w:pPr><w:r><w:t>Staff Handbook</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:pStyle w:val=\"1\"/></w:pPr><w:r><w:t>Leave</w:t></w:r></w:p>"
    "<w:p><w:r><w:t xml:space=\"preserve\">Employees receive </w:t></w:r><w:r><w:rPr><w:b/></w:rPr>"
    "<w:t>27 days</w:t></w:r><w:r><w:t xml:space=\"preserve\"> of paid leave.</w:t></w:r>"
    "<w:del><w:r><w:delText>DELETED WORDS</w:delText></w:r></w:del></w:p>"
    "<w:p><w:pPr><w:pStyle w:val=\"Heading2\"/></w:pPr><w:r><w:t>Carry over</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"1\"/></w:numPr></w:pPr><w:r><w:t>Up to 5 days "
    "carry over.</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:pStyle w:val=\"ListBullet\"/></w:pPr><w:r><w:t>Days expire on 31 March.</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr><w:r><w:t>Expenses</w:t></w:r></w:p>"
    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Limit</w:t></w:r></w:p></w:tc></w:tr>"
    "<w:tr><w:tc><w:p><w:r><w:t>Hotel</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>£140 per night</w:t></w:r></w:p></w:tc></w:tr>"
    "<w:tr><w:tc><w:p><w:r><w:t>Meals</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>£28 per day</w:t></w:r></w:p></w:tc></w:tr>"
    "</w:tbl>"
    "<w:p><w:r><w:t>中文段落：试用期为</w:t></w:r><w:r><w:t>四个月。</w:t></w:r><w:r><w:tab/><w:t>Tabbed</w:t></w:r></w:p>"
    "<w:sectPr/></w:body></w:document>";

static const char *content_types = "<?xml version=\"1.0\"?><Types "
                                   "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";

static const char *write_docx(const char *name, const char *document)
{
    const char *names[] = {"[Content_Types].xml", "word/document.xml", "word/styles.xml"};
    const char *parts[] = {content_types, document, docx_styles};
    return fx_zip(fx_path(name), names, parts, 3);
}

static void test_docx(void **state)
{
    (void)state;
    struct ingest_doc *d = parse_file(write_docx("h.docx", docx_document));
    assert_int_equal(d->format, INGEST_FMT_DOCX);
    assert_string_equal(d->title, "Staff Handbook");
    /* the Title paragraph names the document: a paragraph, not a heading beside "Leave" */
    assert_int_equal(fx_block_with(d, "Staff Handbook")->kind, INGEST_BLOCK_PARAGRAPH);
    const struct ingest_block *b = fx_block_with(d, "27 days");
    assert_int_equal(b->kind, INGEST_BLOCK_PARAGRAPH);
    assert_string_equal(b->text, "Employees receive 27 days of paid leave.");
    assert_null(strstr(d->text, "DELETED"));
    b = fx_block_with(d, "Leave");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    b = fx_block_with(d, "Carry over");
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "Up to 5 days");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    b = fx_block_with(d, "31 March");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    b = fx_block_with(d, "Expenses");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 2);
    b = fx_block_with(d, "£140");
    assert_int_equal(b->kind, INGEST_BLOCK_TABLE_ROW);
    assert_string_equal(b->text, "Item: Hotel, Limit: £140 per night");
    assert_string_equal(b->header, "Item | Limit");
    b = fx_block_with(d, "中文段落");
    assert_string_equal(b->text, "中文段落：试用期为四个月。 Tabbed");
    assert_int_equal(ingest_chunk_with(d, 64, 0.15, NULL), 0);
    const struct ingest_chunk *c = fx_chunk_with(d, "Limit: £140");
    assert_int_equal(c->kind, INGEST_CHUNK_TABLE);
    assert_string_equal(c->heading_path, "Leave > Expenses");
    for (size_t i = 0; i < d->n_chunks; i++)
        assert_null(strstr(d->chunks[i].heading_path, "Handbook"));
    assert_true(strncmp(c->text, "Item | Limit\n", 13) == 0);
    ingest_doc_free(d);
}

static const char *xlsx_workbook =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
    "<sheet name=\"Products\" sheetId=\"1\" r:id=\"rId1\"/><sheet name=\"常见问题\" sheetId=\"2\" r:id=\"rId2\"/>"
    "</sheets></workbook>";
static const char *xlsx_rels =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
    "Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
    "Target=\"/xl/worksheets/sheet2.xml\"/></Relationships>";
static const char *xlsx_shared =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"7\" uniqueCount=\"7\">"
    "<si><t>Model</t></si><si><t>Name</t></si><si><t>Price</t></si><si><t>Osprey</t></si>"
    "<si><r><t>Kes</t></r><r><t>trel</t></r><rPh><t>PHONETIC</t></rPh></si><si><t>问题</t></si><si><t>答案</t></si>"
    "</sst>";
static const char *xlsx_sheet1 =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c><c r=\"C1\" t=\"s\"><v>2</v></c></row>"
    "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>HK-350</t></is></c><c r=\"B2\" t=\"s\"><v>3</v></c>"
    "<c r=\"C2\"><v>129</v></c></row>"
    "<row r=\"5\"><c r=\"A5\" t=\"inlineStr\"><is><t>CG-40</t></is></c><c r=\"B5\" t=\"s\"><v>4</v></c>"
    "<c r=\"D5\" t=\"b\"><v>1</v></c></row>"
    "</sheetData></worksheet>";
static const char *xlsx_sheet2 =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>5</v></c><c r=\"B1\" t=\"s\"><v>6</v></c></row>"
    "<row r=\"2\"><c r=\"A2\" t=\"str\"><v>可以退货吗？</v></c><c r=\"B2\" t=\"str\"><v>可以，45 天内。</v></c></row>"
    "</sheetData></worksheet>";

static void test_xlsx(void **state)
{
    (void)state;
    const char *names[] = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                           "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"};
    const char *parts[] = {content_types, xlsx_workbook, xlsx_rels, xlsx_shared, xlsx_sheet1, xlsx_sheet2};
    struct ingest_doc *d = parse_file(fx_zip(fx_path("p.xlsx"), names, parts, 6));
    assert_int_equal(d->format, INGEST_FMT_XLSX);
    assert_int_equal(d->n_pages, 2);
    const struct ingest_block *b = fx_block_with(d, "Osprey");
    assert_int_equal(b->kind, INGEST_BLOCK_TABLE_ROW);
    assert_string_equal(b->text, "Model: HK-350, Name: Osprey, Price: 129");
    assert_string_equal(b->loc.sheet, "Products");
    assert_int_equal(b->loc.row, 2);
    b = fx_block_with(d, "Kestrel");
    assert_string_equal(b->text, "Model: CG-40, Name: Kestrel, TRUE");
    assert_int_equal(b->loc.row, 5);
    assert_null(strstr(d->text, "PHONETIC"));
    b = fx_block_with(d, "可以退货吗");
    assert_int_equal(b->kind, INGEST_BLOCK_FAQ);
    assert_string_equal(b->loc.sheet, "常见问题");
    const struct ingest_chunk *c = fx_chunk_with(d, "Osprey");
    assert_int_equal(c->kind, INGEST_CHUNK_TABLE);
    assert_string_equal(c->heading_path, "Products");
    assert_string_equal(c->sheet, "Products");
    assert_int_equal(c->row_first, 2);
    assert_int_equal(c->row_last, 5);
    c = fx_chunk_with(d, "可以退货吗");
    assert_string_equal(c->heading_path, "常见问题");
    assert_string_equal(c->text, "Q: 可以退货吗？\nA: 可以，45 天内。");
    ingest_doc_free(d);
}

#define P_NS                                                                                                   \
    "xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" "                                      \
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" "                        \
    "xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\""

static const char *pptx_pres = "<?xml version=\"1.0\"?><p:presentation " P_NS "><p:sldIdLst>"
                               "<p:sldId id=\"257\" r:id=\"rId3\"/><p:sldId id=\"256\" r:id=\"rId2\"/>"
                               "</p:sldIdLst></p:presentation>";
static const char *pptx_rels =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide\" "
    "Target=\"slides/slide2.xml\"/>"
    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide\" "
    "Target=\"slides/slide1.xml\"/></Relationships>";
#define SP(ph, body)                                                                                           \
    "<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"x\"/><p:cNvSpPr/><p:nvPr>" ph "</p:nvPr></p:nvSpPr>"           \
    "<p:txBody><a:bodyPr/>" body "</p:txBody></p:sp>"
static const char *pptx_slide1 =
    "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>"
    SP("<p:ph type=\"title\"/>", "<a:p><a:r><a:t>Returns overview</a:t></a:r></a:p>")
    SP("<p:ph idx=\"1\"/>", "<a:p><a:pPr lvl=\"0\"><a:buChar char=\"-\"/></a:pPr><a:r><a:t>Return within 45 days</a:t></a:r></a:p>"
       "<a:p><a:r><a:t>Refunds in 7 working days.</a:t></a:r><a:br/><a:r><a:t>Second line</a:t></a:r></a:p>")
    SP("<p:ph type=\"sldNum\"/>", "<a:p><a:r><a:t>SLIDENUMBER</a:t></a:r></a:p>")
    "<p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Zone</a:t></a:r></a:p>"
    "</a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Cost</a:t></a:r></a:p></a:txBody></a:tc></a:tr>"
    "<a:tr><a:tc><a:txBody><a:p><a:r><a:t>Zone 3</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r>"
    "<a:t>£14.00</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
    "</p:spTree></p:cSld></p:sld>";
static const char *pptx_slide1_rels =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId9\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide\" "
    "Target=\"../notesSlides/notesSlide1.xml\"/></Relationships>";
static const char *pptx_notes1 =
    "<?xml version=\"1.0\"?><p:notes " P_NS "><p:cSld><p:spTree>"
    SP("<p:ph type=\"sldImg\"/>", "")
    SP("<p:ph type=\"body\" idx=\"1\"/>", "<a:p><a:r><a:t>Speaker note: mention the store credit bonus.</a:t></a:r></a:p>")
    "</p:spTree></p:cSld></p:notes>";
static const char *pptx_slide2 =
    "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>"
    SP("", "<a:p><a:r><a:t>幻灯片正文：配送时间为两个工作日。</a:t></a:r></a:p>")
    "</p:spTree></p:cSld></p:sld>";

static void test_pptx(void **state)
{
    (void)state;
    const char *names[] = {"[Content_Types].xml", "ppt/presentation.xml", "ppt/_rels/presentation.xml.rels",
                           "ppt/slides/slide1.xml", "ppt/slides/_rels/slide1.xml.rels",
                           "ppt/notesSlides/notesSlide1.xml", "ppt/slides/slide2.xml"};
    const char *parts[] = {content_types, pptx_pres, pptx_rels, pptx_slide1, pptx_slide1_rels, pptx_notes1, pptx_slide2};
    struct ingest_doc *d = parse_file(fx_zip(fx_path("deck.pptx"), names, parts, 7));
    assert_int_equal(d->format, INGEST_FMT_PPTX);
    assert_int_equal(d->n_pages, 2);
    /* sldIdLst order: slide1.xml (rId3) first, then slide2.xml. */
    assert_int_equal(d->blocks[0].kind, INGEST_BLOCK_HEADING);
    assert_string_equal(d->blocks[0].text, "Returns overview");
    assert_int_equal(d->blocks[0].loc.slide, 1);
    const struct ingest_block *b = fx_block_with(d, "45 days");
    assert_int_equal(b->kind, INGEST_BLOCK_LIST_ITEM);
    b = fx_block_with(d, "Second line");
    assert_string_equal(b->text, "Refunds in 7 working days. Second line");
    assert_null(strstr(d->text, "SLIDENUMBER"));
    b = fx_block_with(d, "Speaker note");
    assert_int_equal(b->loc.slide, 1);
    assert_true(b > fx_block_with(d, "£14.00")); /* notes come after the slide body */
    b = fx_block_with(d, "£14.00");
    assert_string_equal(b->text, "Zone: Zone 3, Cost: £14.00");
    b = fx_block_with(d, "幻灯片正文");
    assert_int_equal(b->loc.slide, 2);
    assert_string_equal(fx_block_with(d, "Slide 2")->text, "Slide 2"); /* untitled slide gets a heading */
    const struct ingest_chunk *c = fx_chunk_with(d, "配送时间");
    assert_string_equal(c->heading_path, "Slide 2");
    assert_int_equal(c->slide_first, 2);
    c = fx_chunk_with(d, "Return within 45 days");
    assert_string_equal(c->heading_path, "Returns overview");
    assert_int_equal(c->slide_first, 1);
    ingest_doc_free(d);
}

/* A deck that opens with a title slide (centred title, subtitle): its title names the deck and is no
 * section; the next slide's title is. A later slide with a centred title stays a heading. */
static const char *pptx_title_slide =
    "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>"
    SP("<p:ph type=\"ctrTitle\"/>", "<a:p><a:r><a:t>Acme Sales Kickoff 2026</a:t></a:r></a:p>")
    SP("<p:ph type=\"subTitle\" idx=\"1\"/>", "<a:p><a:r><a:t>Pricing and returns for the spring season</a:t></a:r></a:p>")
    "</p:spTree></p:cSld></p:sld>";
static const char *pptx_returns_slide =
    "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>"
    SP("<p:ph type=\"title\"/>", "<a:p><a:r><a:t>Returns</a:t></a:r></a:p>")
    SP("<p:ph idx=\"1\"/>", "<a:p><a:r><a:t>Customers may return any bike within 45 days.</a:t></a:r></a:p>")
    SP("<p:ph type=\"ctrTitle\"/>", "<a:p><a:r><a:t>Questions</a:t></a:r></a:p>")
    "</p:spTree></p:cSld></p:sld>";

static void test_pptx_title_slide(void **state)
{
    (void)state;
    const char *names[] = {"[Content_Types].xml", "ppt/presentation.xml", "ppt/_rels/presentation.xml.rels",
                           "ppt/slides/slide1.xml", "ppt/slides/slide2.xml"};
    const char *parts[] = {content_types, pptx_pres, pptx_rels, pptx_title_slide, pptx_returns_slide};
    struct ingest_doc *d = parse_file(fx_zip(fx_path("kickoff.pptx"), names, parts, 5));
    assert_string_equal(d->title, "Acme Sales Kickoff 2026");
    const struct ingest_block *b = fx_block_with(d, "Acme Sales Kickoff");
    assert_int_equal(b->kind, INGEST_BLOCK_PARAGRAPH);
    assert_int_equal(b->loc.slide, 1);
    b = fx_block_with(d, "Returns");
    assert_int_equal(b->kind, INGEST_BLOCK_HEADING);
    assert_int_equal(b->level, 1);
    assert_int_equal(b->loc.slide, 2);
    for (size_t i = 0; i < d->n_chunks; i++)
        assert_null(strstr(d->chunks[i].heading_path, "Kickoff"));
    assert_string_equal(fx_chunk_with(d, "45 days")->heading_path, "Returns");
    ingest_doc_free(d);

    /* an empty centred title names nothing: the slide is "Slide 1", a heading, as any untitled one */
    parts[3] = "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>"
               SP("<p:ph type=\"ctrTitle\"/>", "") SP("<p:ph idx=\"1\"/>", "<a:p><a:r><a:t>Welcome</a:t></a:r></a:p>")
               "</p:spTree></p:cSld></p:sld>";
    d = parse_file(fx_zip(fx_path("untitled.pptx"), names, parts, 5));
    assert_int_equal(fx_block_with(d, "Slide 1")->kind, INGEST_BLOCK_HEADING);
    ingest_doc_free(d);
}

static void test_zip_bomb(void **state)
{
    (void)state;
    /* 4 MiB of zeros deflates to a few KiB; the cap is 1 MiB. */
    size_t big = 4u << 20;
    char *zeros = kb_xcalloc(1, big + 1);
    memset(zeros, ' ', big);
    memcpy(zeros, "<?xml version=\"1.0\"?><w:document " W_NS "><w:body>", 70);
    const char *names[] = {"word/document.xml"};
    const char *parts[] = {zeros};
    size_t lens[] = {big};
    const char *path = fx_zip_n(fx_path("bomb.docx"), names, parts, lens, 1);
    free(zeros);
    size_t fsize;
    char *f = fx_read(path, &fsize);
    free(f);
    assert_true(fsize < 64 * 1024);
    struct config c;
    config_init(&c);
    assert_int_equal(config_set(&c, "ingest.max_expanded_bytes", "1048576", CONFIG_SRC_FLAG, NULL), 0);
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    assert_int_equal(ingest_parse_file(&c, path, &d, &err), KB_ETOOBIG);
    assert_null(d);
    assert_non_null(strstr(err.msg, "max_expanded_bytes"));
    assert_non_null(strstr(err.msg, "bomb.docx"));
    config_release(&c);
}

static void test_xml_attacks(void **state)
{
    (void)state;
    const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                         "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
                         "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
                         "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
                         "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
                         "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
                         "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
                         "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
                         "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
                         "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
                         "<w:document " W_NS "><w:body><w:p><w:r><w:t>Safe text &lol9;</w:t></w:r></w:p>"
                         "</w:body></w:document>";
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
                      "<w:document " W_NS "><w:body><w:p><w:r><w:t>Before &xxe; after</w:t></w:r></w:p>"
                      "</w:body></w:document>";
    const char *docs[] = {laughs, xxe};
    for (int i = 0; i < 2; i++) {
        struct kb_error err = {0};
        struct ingest_doc *d = NULL;
        double t0 = kb_now_s();
        int rc = ingest_parse_file(&cfg, write_docx(i ? "xxe.docx" : "lol.docx", docs[i]), &d, &err);
        assert_true(kb_now_s() - t0 < 5.0);
        if (rc == 0) { /* parsed without expanding anything */
            assert_true(d->text_bytes < 1000);
            assert_null(strstr(d->text, "lollol"));
            assert_null(strstr(d->text, "root:"));
            assert_non_null(fx_block_with(d, i ? "Before" : "Safe text"));
        } else {
            assert_int_equal(rc, KB_ECORRUPT);
        }
        ingest_doc_free(d);
    }
}

static void test_broken_archives(void **state)
{
    (void)state;
    const char *path = write_docx("ok.docx", docx_document);
    size_t n;
    char *z = fx_read(path, &n);
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    /* truncated: the central directory is gone */
    assert_int_equal(ingest_parse_file(&cfg, fx_write(fx_path("trunc.docx"), z, n / 2), &d, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "trunc.docx"));
    /* damaged compressed data: the CRC or inflate fails */
    char *bad = kb_xmalloc(n);
    memcpy(bad, z, n);
    for (size_t i = 200; i < 400 && i < n; i++)
        bad[i] ^= 0x5A;
    int rc = ingest_parse_file(&cfg, fx_write(fx_path("damaged.docx"), bad, n), &d, &err);
    assert_true(rc == KB_ECORRUPT || rc == KB_EFORMAT);
    assert_null(d);
    free(bad);
    free(z);
    /* a zip of something else */
    const char *names[] = {"readme.txt"};
    const char *parts[] = {"hello"};
    assert_int_equal(ingest_parse_file(&cfg, fx_zip(fx_path("other.zip"), names, parts, 1), &d, &err), KB_EFORMAT);
    /* a part that is not XML */
    const char *n2[] = {"word/document.xml"};
    const char *p2[] = {"this is not < xml"};
    kb_error_clear(&err);
    assert_int_equal(ingest_parse_file(&cfg, fx_zip(fx_path("notxml.docx"), n2, p2, 1), &d, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "word/document.xml"));
    /* a workbook missing its relationships part */
    const char *n3[] = {"xl/workbook.xml"};
    const char *p3[] = {xlsx_workbook};
    assert_int_equal(ingest_parse_file(&cfg, fx_zip(fx_path("norels.xlsx"), n3, p3, 1), &d, &err), KB_ECORRUPT);
    /* a document with no text */
    const char *p4[] = {"<?xml version=\"1.0\"?><w:document " W_NS "><w:body><w:p/></w:body></w:document>"};
    assert_int_equal(ingest_parse_file(&cfg, fx_zip(fx_path("blank.docx"), n2, p4, 1), &d, &err), KB_EEMPTY);
    assert_null(d);
}

/* Time cap: a small deck whose slide list names one slide part 40000 times takes far longer than
 * ingest.max_parse_seconds = 1 to parse and must stop with KB_ETIMEOUT in about that time. */
static void test_time_cap(void **state)
{
    (void)state;
    const int n = 40000;
    struct kb_buf pres, rels, slide;
    kb_buf_init(&pres, 0);
    kb_buf_init(&rels, 0);
    kb_buf_init(&slide, 0);
    kb_buf_puts(&pres, "<?xml version=\"1.0\"?><p:presentation " P_NS "><p:sldIdLst>");
    for (int i = 0; i < n; i++)
        kb_buf_printf(&pres, "<p:sldId id=\"%d\" r:id=\"rId2\"/>", 256 + i);
    kb_buf_puts(&pres, "</p:sldIdLst></p:presentation>");
    kb_buf_puts(&rels, "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/"
                       "relationships\"><Relationship Id=\"rId2\" Type=\"x/slide\" Target=\"slides/slide1.xml\"/>"
                       "</Relationships>");
    kb_buf_puts(&slide, "<?xml version=\"1.0\"?><p:sld " P_NS "><p:cSld><p:spTree>");
    for (int i = 0; i < 200; i++)
        kb_buf_puts(&slide, SP("", "<a:p><a:r><a:t>Repeated slide text that takes a little while to parse.</a:t>"
                                   "</a:r></a:p>"));
    kb_buf_puts(&slide, "</p:spTree></p:cSld></p:sld>");
    const char *names[] = {"ppt/presentation.xml", "ppt/_rels/presentation.xml.rels", "ppt/slides/slide1.xml"};
    const char *parts[] = {pres.data, rels.data, slide.data};
    const char *path = fx_zip(fx_path("slow.pptx"), names, parts, 3);
    kb_buf_release(&pres);
    kb_buf_release(&rels);
    kb_buf_release(&slide);
    struct config c;
    config_init(&c);
    assert_int_equal(config_set(&c, "ingest.max_parse_seconds", "1", CONFIG_SRC_FLAG, NULL), 0);
    struct kb_error err = {0};
    struct ingest_doc *d = NULL;
    double t0 = kb_now_s();
    assert_int_equal(ingest_parse_file(&c, path, &d, &err), KB_ETIMEOUT);
    double dt = kb_now_s() - t0;
    assert_true(dt < 10.0);
    assert_non_null(strstr(err.msg, "max_parse_seconds"));
    assert_null(d);
    config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docx),     cmocka_unit_test(test_xlsx),        cmocka_unit_test(test_pptx), cmocka_unit_test(test_pptx_title_slide),
        cmocka_unit_test(test_zip_bomb), cmocka_unit_test(test_xml_attacks), cmocka_unit_test(test_broken_archives),
        cmocka_unit_test(test_time_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
