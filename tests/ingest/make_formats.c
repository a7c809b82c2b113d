/* tests/ingest/make_formats.c: writes samples/formats/<lang>/<name>.{docx,xlsx,pptx,pdf} from the
 * bundled Markdown, HTML and text samples, so every format has the same known facts.
 *
 * Usage: ingest_make_formats SAMPLES_DIR OUT_DIR. Each sample is parsed with kbox's own ingest (so
 * the blocks are the ones the tests expect) and re-emitted:
 * - DOCX: headings as "heading N" styles, paragraphs, numbered list items, tables, FAQ as Q:/A:
 *   paragraphs; a small but complete package (styles, numbering, rels, content types);
 * - PDF: A4 pages, headings in larger type with an outline of the same levels, wrapped body text,
 *   tables as aligned cells when they fit the width (else one record per line), page numbers in the
 *   footer; Chinese text through an Identity-H font with a ToUnicode map;
 * - PPTX: one slide per heading, the heading as title, its text as body paragraphs, FAQ answers also
 *   as speaker notes; a complete minimal package (master, layout, theme);
 * - XLSX: one sheet per table, a "FAQ" sheet (Question/Answer columns) and a "Text" sheet (Section,
 *   Text) for the prose, with inline strings.
 * Deterministic: the same samples give byte-identical zips except for libzip's timestamps. The
 * generated files are committed; tests/ingest/test_samples.c checks them against QUESTIONS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixtures.h"

/* ---- small helpers ------------------------------------------------------------------------------ */

static void xml_esc(struct kb_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': kb_buf_puts(b, "&amp;"); break;
        case '<': kb_buf_puts(b, "&lt;"); break;
        case '>': kb_buf_puts(b, "&gt;"); break;
        case '"': kb_buf_puts(b, "&quot;"); break;
        default: kb_buf_putc(b, s[i]);
        }
    }
}

static void xml_escs(struct kb_buf *b, const char *s)
{
    xml_esc(b, s, strlen(s));
}

/* Splits a "H1: v1, H2: v2" record back into cells given the header "H1 | H2". */
static size_t record_cells(const char *header, const char *rec, char cells[][512], size_t max)
{
    char heads[32][128];
    size_t nh = 0;
    for (const char *p = header; *p && nh < 32;) {
        const char *bar = strstr(p, " | ");
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        snprintf(heads[nh++], sizeof heads[0], "%.*s", (int)len, p);
        p = bar ? bar + 3 : p + len;
    }
    size_t n = KB_MIN(nh, max);
    for (size_t i = 0; i < n; i++)
        cells[i][0] = '\0';
    const char *pos = rec;
    for (size_t i = 0; i < n; i++) {
        char pre[140];
        snprintf(pre, sizeof pre, "%s: ", heads[i]);
        if (strncmp(pos, pre, strlen(pre)) != 0)
            continue;
        const char *v = pos + strlen(pre), *end = v + strlen(v);
        for (size_t j = i + 1; j < n; j++) {
            char nx[140];
            snprintf(nx, sizeof nx, ", %s: ", heads[j]);
            const char *f = strstr(v, nx);
            if (f && f < end)
                end = f;
        }
        snprintf(cells[i], 512, "%.*s", (int)(end - v), v);
        pos = *end ? end + 2 : end;
    }
    return n;
}

static size_t split_header(const char *header, char cells[][512], size_t max)
{
    size_t n = 0;
    for (const char *p = header; *p && n < max;) {
        const char *bar = strstr(p, " | ");
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        snprintf(cells[n++], 512, "%.*s", (int)len, p);
        p = bar ? bar + 3 : p + len;
    }
    return n;
}

struct part {
    char *name, *data;
};

struct pkg {
    struct part parts[256];
    size_t n;
};

static void pkg_add(struct pkg *p, const char *name, struct kb_buf *b)
{
    p->parts[p->n].name = kb_xstrdup(name);
    p->parts[p->n].data = kb_buf_take(b);
    p->n++;
}

static void pkg_adds(struct pkg *p, const char *name, const char *text)
{
    struct kb_buf b;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, text);
    pkg_add(p, name, &b);
}

static void pkg_write(struct pkg *p, const char *path)
{
    const char *names[256], *datas[256];
    for (size_t i = 0; i < p->n; i++)
        names[i] = p->parts[i].name, datas[i] = p->parts[i].data;
    fx_zip(path, names, datas, p->n);
    for (size_t i = 0; i < p->n; i++)
        free(p->parts[i].name), free(p->parts[i].data);
    p->n = 0;
}

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
#define NS_W "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#define NS_R "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define NS_A "http://schemas.openxmlformats.org/drawingml/2006/main"
#define NS_P "http://schemas.openxmlformats.org/presentationml/2006/main"
#define NS_S "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define NS_PR "http://schemas.openxmlformats.org/package/2006/relationships"
#define REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
#define CT_OFF "application/vnd.openxmlformats-officedocument."

/* ---- DOCX --------------------------------------------------------------------------------------- */

static void docx_p(struct kb_buf *b, const char *style, int ilvl, const char *text)
{
    kb_buf_puts(b, "<w:p>");
    if (style || ilvl >= 0) {
        kb_buf_puts(b, "<w:pPr>");
        if (style)
            kb_buf_printf(b, "<w:pStyle w:val=\"%s\"/>", style);
        if (ilvl >= 0)
            kb_buf_printf(b, "<w:numPr><w:ilvl w:val=\"%d\"/><w:numId w:val=\"1\"/></w:numPr>", ilvl);
        kb_buf_puts(b, "</w:pPr>");
    }
    kb_buf_puts(b, "<w:r><w:t xml:space=\"preserve\">");
    xml_escs(b, text);
    kb_buf_puts(b, "</w:t></w:r></w:p>");
}

static void docx_lines(struct kb_buf *b, const char *prefix, const char *text)
{
    const char *p = text;
    bool first = true;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[8192];
        snprintf(line, sizeof line, "%s%.*s", first && prefix ? prefix : "", (int)len, p);
        docx_p(b, NULL, -1, line);
        first = false;
        p = nl ? nl + 1 : p + len;
    }
}

static void write_docx(const struct ingest_doc *d, const char *path)
{
    struct pkg pk = {0};
    struct kb_buf b;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, XML_HEAD "<w:document xmlns:w=\"" NS_W "\" xmlns:r=\"" NS_R "\"><w:body>");
    static char cells[32][512];
    for (size_t i = 0; i < d->n_blocks; i++) {
        const struct ingest_block *k = &d->blocks[i];
        char style[32];
        switch (k->kind) {
        case INGEST_BLOCK_HEADING:
            snprintf(style, sizeof style, "Heading%d", KB_MIN(k->level, 6));
            docx_p(&b, style, -1, k->text);
            break;
        case INGEST_BLOCK_LIST_ITEM:
            docx_p(&b, "ListParagraph", KB_MAX(k->level - 1, 0), k->text);
            break;
        case INGEST_BLOCK_FAQ:
            docx_lines(&b, "Q: ", k->text);
            docx_lines(&b, "A: ", k->answer);
            break;
        case INGEST_BLOCK_TABLE_ROW: {
            kb_buf_puts(&b, "<w:tbl><w:tblPr><w:tblStyle w:val=\"TableGrid\"/><w:tblW w:w=\"0\" w:type=\"auto\"/>"
                            "</w:tblPr>");
            size_t nh = k->header ? split_header(k->header, cells, 32) : 0;
            if (nh) {
                kb_buf_puts(&b, "<w:tr>");
                for (size_t c = 0; c < nh; c++) {
                    kb_buf_puts(&b, "<w:tc>");
                    docx_p(&b, NULL, -1, cells[c]);
                    kb_buf_puts(&b, "</w:tc>");
                }
                kb_buf_puts(&b, "</w:tr>");
            }
            int id = k->table;
            for (; i < d->n_blocks && d->blocks[i].kind == INGEST_BLOCK_TABLE_ROW && d->blocks[i].table == id; i++) {
                size_t nc = k->header ? record_cells(k->header, d->blocks[i].text, cells, 32) : 1;
                if (!k->header)
                    snprintf(cells[0], 512, "%s", d->blocks[i].text);
                kb_buf_puts(&b, "<w:tr>");
                for (size_t c = 0; c < nc; c++) {
                    kb_buf_puts(&b, "<w:tc>");
                    docx_p(&b, NULL, -1, cells[c]);
                    kb_buf_puts(&b, "</w:tc>");
                }
                kb_buf_puts(&b, "</w:tr>");
            }
            i--;
            kb_buf_puts(&b, "</w:tbl>");
            break;
        }
        default:
            docx_lines(&b, NULL, k->text);
        }
    }
    kb_buf_puts(&b, "<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/></w:sectPr></w:body></w:document>");
    pkg_add(&pk, "word/document.xml", &b);

    kb_buf_puts(&b, XML_HEAD "<w:styles xmlns:w=\"" NS_W "\"><w:style w:type=\"paragraph\" w:default=\"1\" "
                             "w:styleId=\"Normal\"><w:name w:val=\"Normal\"/></w:style>");
    static const int sizes[] = {36, 30, 26, 24, 22, 22};
    for (int l = 1; l <= 6; l++)
        kb_buf_printf(&b, "<w:style w:type=\"paragraph\" w:styleId=\"Heading%d\"><w:name w:val=\"heading %d\"/>"
                          "<w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:pPr><w:outlineLvl w:val=\"%d\"/>"
                          "</w:pPr><w:rPr><w:b/><w:sz w:val=\"%d\"/></w:rPr></w:style>",
                      l, l, l - 1, sizes[l - 1]);
    kb_buf_puts(&b, "<w:style w:type=\"paragraph\" w:styleId=\"ListParagraph\"><w:name w:val=\"List Paragraph\"/>"
                    "<w:basedOn w:val=\"Normal\"/></w:style><w:style w:type=\"table\" w:styleId=\"TableGrid\">"
                    "<w:name w:val=\"Table Grid\"/><w:tblPr><w:tblBorders><w:top w:val=\"single\" w:sz=\"4\"/>"
                    "<w:left w:val=\"single\" w:sz=\"4\"/><w:bottom w:val=\"single\" w:sz=\"4\"/><w:right "
                    "w:val=\"single\" w:sz=\"4\"/><w:insideH w:val=\"single\" w:sz=\"4\"/><w:insideV "
                    "w:val=\"single\" w:sz=\"4\"/></w:tblBorders></w:tblPr></w:style></w:styles>");
    pkg_add(&pk, "word/styles.xml", &b);
    pkg_adds(&pk, "word/numbering.xml",
             XML_HEAD "<w:numbering xmlns:w=\"" NS_W "\"><w:abstractNum w:abstractNumId=\"0\"><w:lvl w:ilvl=\"0\">"
                      "<w:numFmt w:val=\"bullet\"/><w:lvlText w:val=\"-\"/></w:lvl><w:lvl w:ilvl=\"1\"><w:numFmt "
                      "w:val=\"bullet\"/><w:lvlText w:val=\"-\"/></w:lvl></w:abstractNum><w:num w:numId=\"1\">"
                      "<w:abstractNumId w:val=\"0\"/></w:num></w:numbering>");
    pkg_adds(&pk, "word/_rels/document.xml.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "styles\" "
                      "Target=\"styles.xml\"/><Relationship Id=\"rId2\" Type=\"" REL "numbering\" "
                      "Target=\"numbering.xml\"/></Relationships>");
    pkg_adds(&pk, "_rels/.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "officeDocument\" "
                      "Target=\"word/document.xml\"/></Relationships>");
    pkg_adds(&pk, "[Content_Types].xml",
             XML_HEAD "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
                      "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package."
                      "relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/>"
                      "<Override PartName=\"/word/document.xml\" ContentType=\"" CT_OFF
                      "wordprocessingml.document.main+xml\"/><Override PartName=\"/word/styles.xml\" "
                      "ContentType=\"" CT_OFF "wordprocessingml.styles+xml\"/><Override "
                      "PartName=\"/word/numbering.xml\" ContentType=\"" CT_OFF
                      "wordprocessingml.numbering+xml\"/></Types>");
    pkg_write(&pk, path);
}

/* ---- XLSX --------------------------------------------------------------------------------------- */

static void xlsx_col(char *out, size_t i)
{
    char tmp[8];
    size_t n = 0;
    i++;
    while (i > 0 && n < sizeof tmp) {
        tmp[n++] = (char)('A' + (i - 1) % 26);
        i = (i - 1) / 26;
    }
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    out[n] = '\0';
}

static void xlsx_row(struct kb_buf *b, int r, char cells[][512], size_t n)
{
    kb_buf_printf(b, "<row r=\"%d\">", r);
    for (size_t c = 0; c < n; c++) {
        char col[8];
        xlsx_col(col, c);
        kb_buf_printf(b, "<c r=\"%s%d\" t=\"inlineStr\"><is><t xml:space=\"preserve\">", col, r);
        xml_escs(b, cells[c]);
        kb_buf_puts(b, "</t></is></c>");
    }
    kb_buf_puts(b, "</row>");
}

static void xlsx_sheet_name(char *out, size_t out_bytes, const char *want, char names[][64], size_t n_names)
{
    char base[64];
    size_t o = 0;
    for (const char *p = want; *p && o < 28; p++)
        if (!strchr("[]:*?/\\", *p))
            base[o++] = *p;
    while (o > 0 && (base[o - 1] & 0xC0) == 0x80) /* never cut a UTF-8 sequence */
        o--;
    if (o > 0 && (unsigned char)base[o - 1] >= 0xC0)
        o--;
    base[o] = '\0';
    snprintf(out, out_bytes, "%s", base[0] ? base : "Sheet");
    for (int k = 2; k < 100; k++) {
        bool clash = false;
        for (size_t i = 0; i < n_names; i++)
            clash |= strcmp(names[i], out) == 0;
        if (!clash)
            break;
        snprintf(out, out_bytes, "%.24s %d", base, k);
    }
}

static void write_xlsx(const struct ingest_doc *d, const char *path)
{
    struct pkg pk = {0};
    static char names[64][64];
    static char cells[32][512];
    size_t n_sheets = 0;
    struct kb_buf sh, faq, text;
    kb_buf_init(&sh, 0);
    kb_buf_init(&faq, 0);
    kb_buf_init(&text, 0);
    int faq_r = 1, text_r = 1;
    const char *stack[10] = {0};
    snprintf(cells[0], 512, "Section");
    snprintf(cells[1], 512, "Question");
    snprintf(cells[2], 512, "Answer");
    xlsx_row(&faq, faq_r++, cells, 3);
    snprintf(cells[1], 512, "Text");
    xlsx_row(&text, text_r++, cells, 2);
    for (size_t i = 0; i < d->n_blocks; i++) {
        const struct ingest_block *k = &d->blocks[i];
        char section[1024] = "";
        for (int l = 1; l <= 9; l++)
            if (stack[l])
                snprintf(section + strlen(section), sizeof section - strlen(section), "%s%s", section[0] ? " > " : "",
                         stack[l]);
        if (k->kind == INGEST_BLOCK_HEADING) {
            int l = KB_MIN(KB_MAX(k->level, 1), 9);
            stack[l] = k->text;
            for (int m = l + 1; m <= 9; m++)
                stack[m] = NULL;
        } else if (k->kind == INGEST_BLOCK_FAQ) {
            snprintf(cells[0], 512, "%s", section);
            snprintf(cells[1], 512, "%s", k->text);
            snprintf(cells[2], 512, "%s", k->answer);
            xlsx_row(&faq, faq_r++, cells, 3);
        } else if (k->kind == INGEST_BLOCK_TABLE_ROW && k->header && n_sheets < 60) {
            char nm[64];
            const char *last = strrchr(section, '>');
            xlsx_sheet_name(nm, sizeof nm, last ? last + 2 : section, names, n_sheets);
            snprintf(names[n_sheets], 64, "%s", nm);
            kb_buf_reset(&sh);
            kb_buf_puts(&sh, XML_HEAD "<worksheet xmlns=\"" NS_S "\"><sheetData>");
            size_t nh = split_header(k->header, cells, 32);
            int r = 1;
            xlsx_row(&sh, r++, cells, nh);
            int id = k->table;
            for (; i < d->n_blocks && d->blocks[i].kind == INGEST_BLOCK_TABLE_ROW && d->blocks[i].table == id; i++) {
                size_t nc = record_cells(k->header, d->blocks[i].text, cells, 32);
                xlsx_row(&sh, r++, cells, nc);
            }
            i--;
            kb_buf_puts(&sh, "</sheetData></worksheet>");
            char part[64];
            snprintf(part, sizeof part, "xl/worksheets/sheet%zu.xml", n_sheets + 1);
            pkg_add(&pk, part, &sh);
            n_sheets++;
        } else {
            snprintf(cells[0], 512, "%s", section);
            snprintf(cells[1], 512, "%s", k->text);
            xlsx_row(&text, text_r++, cells, 2);
        }
    }
    struct kb_buf *extra[2] = {&faq, &text};
    const char *extra_names[2] = {"FAQ", "Text"};
    int extra_rows[2] = {faq_r, text_r};
    for (int e = 0; e < 2; e++) {
        if (extra_rows[e] <= 2) {
            kb_buf_release(extra[e]);
            continue;
        }
        struct kb_buf b;
        kb_buf_init(&b, 0);
        kb_buf_printf(&b, XML_HEAD "<worksheet xmlns=\"" NS_S "\"><sheetData>%s</sheetData></worksheet>",
                      extra[e]->data);
        kb_buf_release(extra[e]);
        char part[64];
        snprintf(part, sizeof part, "xl/worksheets/sheet%zu.xml", n_sheets + 1);
        snprintf(names[n_sheets], 64, "%s", extra_names[e]);
        pkg_add(&pk, part, &b);
        n_sheets++;
    }
    struct kb_buf wb, rels, ct;
    kb_buf_init(&wb, 0);
    kb_buf_init(&rels, 0);
    kb_buf_init(&ct, 0);
    kb_buf_puts(&wb, XML_HEAD "<workbook xmlns=\"" NS_S "\" xmlns:r=\"" NS_R "\"><sheets>");
    kb_buf_puts(&rels, XML_HEAD "<Relationships xmlns=\"" NS_PR "\">");
    kb_buf_puts(&ct, XML_HEAD "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
                              "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package."
                              "relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/>"
                              "<Override PartName=\"/xl/workbook.xml\" ContentType=\"" CT_OFF
                              "spreadsheetml.sheet.main+xml\"/>");
    for (size_t s = 0; s < n_sheets; s++) {
        kb_buf_puts(&wb, "<sheet name=\"");
        xml_escs(&wb, names[s]);
        kb_buf_printf(&wb, "\" sheetId=\"%zu\" r:id=\"rId%zu\"/>", s + 1, s + 1);
        kb_buf_printf(&rels, "<Relationship Id=\"rId%zu\" Type=\"" REL "worksheet\" Target=\"worksheets/sheet%zu.xml\"/>",
                      s + 1, s + 1);
        kb_buf_printf(&ct, "<Override PartName=\"/xl/worksheets/sheet%zu.xml\" ContentType=\"" CT_OFF
                           "spreadsheetml.worksheet+xml\"/>", s + 1);
    }
    kb_buf_puts(&wb, "</sheets></workbook>");
    kb_buf_puts(&rels, "</Relationships>");
    kb_buf_puts(&ct, "</Types>");
    pkg_add(&pk, "xl/workbook.xml", &wb);
    pkg_add(&pk, "xl/_rels/workbook.xml.rels", &rels);
    pkg_add(&pk, "[Content_Types].xml", &ct);
    pkg_adds(&pk, "_rels/.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "officeDocument\" "
                      "Target=\"xl/workbook.xml\"/></Relationships>");
    kb_buf_release(&sh);
    pkg_write(&pk, path);
}

/* ---- PPTX --------------------------------------------------------------------------------------- */

static const char *pptx_theme =
    XML_HEAD "<a:theme xmlns:a=\"" NS_A "\" name=\"kbox\"><a:themeElements><a:clrScheme name=\"kbox\">"
    "<a:dk1><a:srgbClr val=\"000000\"/></a:dk1><a:lt1><a:srgbClr val=\"FFFFFF\"/></a:lt1><a:dk2><a:srgbClr "
    "val=\"1F3864\"/></a:dk2><a:lt2><a:srgbClr val=\"E7E6E6\"/></a:lt2><a:accent1><a:srgbClr val=\"4472C4\"/>"
    "</a:accent1><a:accent2><a:srgbClr val=\"ED7D31\"/></a:accent2><a:accent3><a:srgbClr val=\"A5A5A5\"/>"
    "</a:accent3><a:accent4><a:srgbClr val=\"FFC000\"/></a:accent4><a:accent5><a:srgbClr val=\"5B9BD5\"/>"
    "</a:accent5><a:accent6><a:srgbClr val=\"70AD47\"/></a:accent6><a:hlink><a:srgbClr val=\"0563C1\"/></a:hlink>"
    "<a:folHlink><a:srgbClr val=\"954F72\"/></a:folHlink></a:clrScheme><a:fontScheme name=\"kbox\"><a:majorFont>"
    "<a:latin typeface=\"Arial\"/><a:ea typeface=\"\"/><a:cs typeface=\"\"/></a:majorFont><a:minorFont><a:latin "
    "typeface=\"Arial\"/><a:ea typeface=\"\"/><a:cs typeface=\"\"/></a:minorFont></a:fontScheme><a:fmtScheme "
    "name=\"kbox\"><a:fillStyleLst><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr "
    "val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:fillStyleLst>"
    "<a:lnStyleLst><a:ln w=\"6350\"><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln><a:ln w=\"12700\">"
    "<a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln><a:ln w=\"19050\"><a:solidFill><a:schemeClr "
    "val=\"phClr\"/></a:solidFill></a:ln></a:lnStyleLst><a:effectStyleLst><a:effectStyle><a:effectLst/>"
    "</a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle>"
    "</a:effectStyleLst><a:bgFillStyleLst><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill>"
    "<a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill>"
    "</a:bgFillStyleLst></a:fmtScheme></a:themeElements></a:theme>";

#define PPTX_SPTREE_HEAD                                                                                       \
    "<p:nvGrpSpPr><p:cNvPr id=\"1\" name=\"\"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>"

static void pptx_sp(struct kb_buf *b, int id, const char *ph, int y, int h, const char *const *paras, size_t n)
{
    kb_buf_printf(b, "<p:sp><p:nvSpPr><p:cNvPr id=\"%d\" name=\"Shape %d\"/><p:cNvSpPr><a:spLocks "
                     "noGrp=\"1\"/></p:cNvSpPr><p:nvPr>%s</p:nvPr></p:nvSpPr><p:spPr><a:xfrm><a:off x=\"457200\" "
                     "y=\"%d\"/><a:ext cx=\"8229600\" cy=\"%d\"/></a:xfrm></p:spPr><p:txBody><a:bodyPr><a:normAutofit/>"
                     "</a:bodyPr><a:lstStyle/>",
                  id, id, ph, y, h);
    for (size_t i = 0; i < n; i++) {
        kb_buf_puts(b, "<a:p><a:r><a:rPr lang=\"en-GB\" dirty=\"0\"/><a:t>");
        xml_escs(b, paras[i]);
        kb_buf_puts(b, "</a:t></a:r></a:p>");
    }
    if (n == 0)
        kb_buf_puts(b, "<a:p><a:endParaRPr lang=\"en-GB\"/></a:p>");
    kb_buf_puts(b, "</p:txBody></p:sp>");
}

struct slide {
    const char *title;
    const char *body[256];
    size_t n_body;
    const char *notes[64];
    size_t n_notes;
};

static void write_pptx(const struct ingest_doc *d, const char *path)
{
    static struct slide slides[128];
    size_t n = 0;
    memset(slides, 0, sizeof slides);
    struct kb_arena a;
    kb_arena_init(&a, 65536, 0);
    for (size_t i = 0; i < d->n_blocks; i++) {
        const struct ingest_block *k = &d->blocks[i];
        if (k->kind == INGEST_BLOCK_HEADING || n == 0) {
            if (n == 128)
                break;
            slides[n].title = k->kind == INGEST_BLOCK_HEADING ? k->text : (d->title ? d->title : "Introduction");
            n++;
            if (k->kind == INGEST_BLOCK_HEADING)
                continue;
        }
        struct slide *s = &slides[n - 1];
        if (s->n_body >= 254)
            continue;
        if (k->kind == INGEST_BLOCK_FAQ) {
            char *q = kb_arena_alloc(&a, strlen(k->text) + 4), *ans = kb_arena_alloc(&a, strlen(k->answer) + 4);
            snprintf(q, strlen(k->text) + 4, "Q: %s", k->text);
            snprintf(ans, strlen(k->answer) + 4, "A: %s", k->answer);
            s->body[s->n_body++] = q;
            s->body[s->n_body++] = ans;
            if (s->n_notes < 64)
                s->notes[s->n_notes++] = k->answer; /* the answer again, as the presenter's notes */
        } else if (k->kind == INGEST_BLOCK_TABLE_ROW && k->header &&
                   (i == 0 || d->blocks[i - 1].kind != INGEST_BLOCK_TABLE_ROW || d->blocks[i - 1].table != k->table)) {
            s->body[s->n_body++] = k->header;
            s->body[s->n_body++] = k->text;
        } else {
            s->body[s->n_body++] = k->text;
        }
    }
    struct pkg pk = {0};
    struct kb_buf b, pres, prels, ct;
    kb_buf_init(&b, 0);
    kb_buf_init(&pres, 0);
    kb_buf_init(&prels, 0);
    kb_buf_init(&ct, 0);
    kb_buf_puts(&ct, XML_HEAD "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
                              "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package."
                              "relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/>"
                              "<Override PartName=\"/ppt/presentation.xml\" ContentType=\"" CT_OFF
                              "presentationml.presentation.main+xml\"/><Override PartName=\"/ppt/slideMasters/"
                              "slideMaster1.xml\" ContentType=\"" CT_OFF "presentationml.slideMaster+xml\"/>"
                              "<Override PartName=\"/ppt/slideLayouts/slideLayout1.xml\" ContentType=\"" CT_OFF
                              "presentationml.slideLayout+xml\"/><Override PartName=\"/ppt/theme/theme1.xml\" "
                              "ContentType=\"" CT_OFF "theme+xml\"/>");
    kb_buf_puts(&pres, XML_HEAD "<p:presentation xmlns:a=\"" NS_A "\" xmlns:r=\"" NS_R "\" xmlns:p=\"" NS_P "\">"
                                "<p:sldMasterIdLst><p:sldMasterId id=\"2147483648\" r:id=\"rId1\"/></p:sldMasterIdLst>"
                                "<p:sldIdLst>");
    kb_buf_puts(&prels, XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL
                                 "slideMaster\" Target=\"slideMasters/slideMaster1.xml\"/><Relationship Id=\"rId2\" "
                                 "Type=\"" REL "theme\" Target=\"theme/theme1.xml\"/>");
    for (size_t s = 0; s < n; s++) {
        char part[96];
        kb_buf_reset(&b);
        kb_buf_puts(&b, XML_HEAD "<p:sld xmlns:a=\"" NS_A "\" xmlns:r=\"" NS_R "\" xmlns:p=\"" NS_P "\"><p:cSld>"
                                 "<p:spTree>" PPTX_SPTREE_HEAD);
        pptx_sp(&b, 2, "<p:ph type=\"title\"/>", 274638, 1143000, &slides[s].title, 1);
        pptx_sp(&b, 3, "<p:ph idx=\"1\"/>", 1600200, 4525963, slides[s].body, slides[s].n_body);
        kb_buf_puts(&b, "</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>");
        snprintf(part, sizeof part, "ppt/slides/slide%zu.xml", s + 1);
        pkg_add(&pk, part, &b);
        kb_buf_printf(&b, XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL
                                   "slideLayout\" Target=\"../slideLayouts/slideLayout1.xml\"/>");
        if (slides[s].n_notes)
            kb_buf_printf(&b, "<Relationship Id=\"rId2\" Type=\"" REL "notesSlide\" "
                              "Target=\"../notesSlides/notesSlide%zu.xml\"/>", s + 1);
        kb_buf_puts(&b, "</Relationships>");
        snprintf(part, sizeof part, "ppt/slides/_rels/slide%zu.xml.rels", s + 1);
        pkg_add(&pk, part, &b);
        if (slides[s].n_notes) {
            kb_buf_puts(&b, XML_HEAD "<p:notes xmlns:a=\"" NS_A "\" xmlns:r=\"" NS_R "\" xmlns:p=\"" NS_P "\">"
                                     "<p:cSld><p:spTree>" PPTX_SPTREE_HEAD);
            pptx_sp(&b, 2, "<p:ph type=\"body\" idx=\"1\"/>", 4572000, 4114800, slides[s].notes, slides[s].n_notes);
            kb_buf_puts(&b, "</p:spTree></p:cSld></p:notes>");
            snprintf(part, sizeof part, "ppt/notesSlides/notesSlide%zu.xml", s + 1);
            pkg_add(&pk, part, &b);
            kb_buf_printf(&b, XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL
                                       "slide\" Target=\"../slides/slide%zu.xml\"/></Relationships>", s + 1);
            snprintf(part, sizeof part, "ppt/notesSlides/_rels/notesSlide%zu.xml.rels", s + 1);
            pkg_add(&pk, part, &b);
            kb_buf_printf(&ct, "<Override PartName=\"/ppt/notesSlides/notesSlide%zu.xml\" ContentType=\"" CT_OFF
                               "presentationml.notesSlide+xml\"/>", s + 1);
        }
        kb_buf_printf(&pres, "<p:sldId id=\"%zu\" r:id=\"rId%zu\"/>", 256 + s, s + 10);
        kb_buf_printf(&prels, "<Relationship Id=\"rId%zu\" Type=\"" REL "slide\" Target=\"slides/slide%zu.xml\"/>",
                      s + 10, s + 1);
        kb_buf_printf(&ct, "<Override PartName=\"/ppt/slides/slide%zu.xml\" ContentType=\"" CT_OFF
                           "presentationml.slide+xml\"/>", s + 1);
    }
    kb_buf_puts(&pres, "</p:sldIdLst><p:sldSz cx=\"9144000\" cy=\"6858000\" type=\"screen4x3\"/><p:notesSz "
                       "cx=\"6858000\" cy=\"9144000\"/></p:presentation>");
    kb_buf_puts(&prels, "</Relationships>");
    kb_buf_puts(&ct, "</Types>");
    pkg_add(&pk, "ppt/presentation.xml", &pres);
    pkg_add(&pk, "ppt/_rels/presentation.xml.rels", &prels);
    pkg_add(&pk, "[Content_Types].xml", &ct);
    pkg_adds(&pk, "ppt/theme/theme1.xml", pptx_theme);
    pkg_adds(&pk, "ppt/slideMasters/slideMaster1.xml",
             XML_HEAD "<p:sldMaster xmlns:a=\"" NS_A "\" xmlns:r=\"" NS_R "\" xmlns:p=\"" NS_P "\"><p:cSld><p:spTree>"
                      PPTX_SPTREE_HEAD "</p:spTree></p:cSld><p:clrMap bg1=\"lt1\" tx1=\"dk1\" bg2=\"lt2\" tx2=\"dk2\" "
                      "accent1=\"accent1\" accent2=\"accent2\" accent3=\"accent3\" accent4=\"accent4\" "
                      "accent5=\"accent5\" accent6=\"accent6\" hlink=\"hlink\" folHlink=\"folHlink\"/>"
                      "<p:sldLayoutIdLst><p:sldLayoutId id=\"2147483649\" r:id=\"rId1\"/></p:sldLayoutIdLst>"
                      "</p:sldMaster>");
    pkg_adds(&pk, "ppt/slideMasters/_rels/slideMaster1.xml.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "slideLayout\" "
                      "Target=\"../slideLayouts/slideLayout1.xml\"/><Relationship Id=\"rId2\" Type=\"" REL "theme\" "
                      "Target=\"../theme/theme1.xml\"/></Relationships>");
    pkg_adds(&pk, "ppt/slideLayouts/slideLayout1.xml",
             XML_HEAD "<p:sldLayout xmlns:a=\"" NS_A "\" xmlns:r=\"" NS_R "\" xmlns:p=\"" NS_P "\" type=\"obj\">"
                      "<p:cSld name=\"Title and Content\"><p:spTree>" PPTX_SPTREE_HEAD "</p:spTree></p:cSld>"
                      "<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>");
    pkg_adds(&pk, "ppt/slideLayouts/_rels/slideLayout1.xml.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "slideMaster\" "
                      "Target=\"../slideMasters/slideMaster1.xml\"/></Relationships>");
    pkg_adds(&pk, "_rels/.rels",
             XML_HEAD "<Relationships xmlns=\"" NS_PR "\"><Relationship Id=\"rId1\" Type=\"" REL "officeDocument\" "
                      "Target=\"ppt/presentation.xml\"/></Relationships>");
    kb_buf_release(&b);
    kb_arena_release(&a);
    pkg_write(&pk, path);
}

/* ---- PDF ---------------------------------------------------------------------------------------- */

struct pdfw {
    struct fx_pdf *p;
    int page;
    double y;
    bool cjk;
};

static void pdfw_newpage(struct pdfw *w)
{
    fx_pdf_page(w->p);
    w->page++;
    w->y = 780;
    char num[16];
    snprintf(num, sizeof num, "%d", w->page);
    fx_pdf_text(w->p, 292, 30, 9, num);
}

/* UTF-8 to WinAnsi bytes for Helvetica (the characters the English samples use). */
static void to_winansi(const char *s, size_t n, char *out, size_t out_bytes)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < out_bytes;) {
        uint32_t cp;
        int l = kb_utf8_decode(s + i, n - i, &cp);
        i += l > 0 ? (size_t)l : 1;
        int wa = fx_winansi(cp);
        unsigned char c = wa >= 0 ? (unsigned char)wa : '?';
        out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* Wraps text to the page width and draws it; returns nothing, advances w->y. */
static void pdfw_text(struct pdfw *w, const char *text, double size, double indent)
{
    double width = 451 - indent, lead = size * 1.4;
    size_t n = strlen(text);
    size_t start = 0;
    while (start < n) {
        /* Find the longest prefix that fits: Latin ~0.55 em, CJK 1 em. Break at spaces if any. */
        double wsum = 0;
        size_t i = start, last_break = 0;
        while (i < n) {
            uint32_t cp;
            int l = kb_utf8_decode(text + i, n - i, &cp);
            size_t step = l > 0 ? (size_t)l : 1;
            double cw = (cp >= 0x2E80 ? 1.0 : (w->cjk ? 1.0 : 0.56)) * size;
            if (wsum + cw > width)
                break;
            wsum += cw;
            if (cp == ' ')
                last_break = i;
            else if (cp >= 0x2E80)
                last_break = i + step;
            i += step;
        }
        size_t end = i >= n ? n : (last_break > start ? last_break : i);
        if (w->y < 60)
            pdfw_newpage(w);
        char line[4096];
        if (w->cjk) {
            snprintf(line, sizeof line, "%.*s", (int)(end - start), text + start);
            fx_pdf_cjk(w->p, 72 + indent, w->y, size, line);
        } else {
            to_winansi(text + start, end - start, line, sizeof line);
            fx_pdf_text(w->p, 72 + indent, w->y, size, line);
        }
        w->y -= lead;
        start = end;
        while (start < n && text[start] == ' ')
            start++;
    }
}

static double pdfw_width(const char *s, double size, bool cjk)
{
    double w = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = kb_utf8_decode(s + i, n - i, &cp);
        i += l > 0 ? (size_t)l : 1;
        w += (cp >= 0x2E80 || (cjk && fx_winansi(cp) < 0) ? 1.0 : 0.6) * size;
    }
    return w;
}

/* Draws the table whose first row is block i as aligned cells, one row per line, so the PDF's table
 * detection sees it; blocks of later rows are skipped by the caller (they share the table id).
 * Returns false (nothing drawn) when the columns do not fit the page width. */
static bool pdfw_table(struct pdfw *w, const struct ingest_doc *d, size_t i)
{
    static char cells[64][32][512];
    size_t n_rows = 0, n_cols = split_header(d->blocks[i].header, cells[0], 32);
    n_rows = 1;
    for (size_t j = i; j < d->n_blocks && d->blocks[j].kind == INGEST_BLOCK_TABLE_ROW &&
                       d->blocks[j].table == d->blocks[i].table && n_rows < 64;
         j++)
        if (record_cells(d->blocks[i].header, d->blocks[j].text, cells[n_rows++], 32) != n_cols)
            return false;
    const double size = 9, gap = 14;
    double colw[32] = {0}, total = 0;
    for (size_t c = 0; c < n_cols; c++) {
        for (size_t r = 0; r < n_rows; r++)
            colw[c] = KB_MAX(colw[c], pdfw_width(cells[r][c], size, w->cjk));
        total += colw[c] + gap;
    }
    if (total > 451 + gap)
        return false;
    if (w->y - 13.0 * (double)n_rows < 60)
        pdfw_newpage(w);
    for (size_t r = 0; r < n_rows; r++) {
        double x = 72;
        for (size_t c = 0; c < n_cols; c++) {
            if (cells[r][c][0]) {
                if (w->cjk) {
                    fx_pdf_cjk(w->p, x, w->y, size, cells[r][c]);
                } else {
                    char line[1024];
                    to_winansi(cells[r][c], strlen(cells[r][c]), line, sizeof line);
                    fx_pdf_text(w->p, x, w->y, size, line);
                }
            }
            x += colw[c] + gap;
        }
        w->y -= 13;
    }
    w->y -= 9;
    return true;
}

static void write_pdf(const struct ingest_doc *d, const char *path, bool cjk)
{
    struct pdfw w = {fx_pdf_new(), 0, 0, cjk};
    pdfw_newpage(&w);
    static const double hsize[] = {0, 20, 16, 13.5, 12.5, 12, 12, 12, 12, 12};
    int grid_table = 0; /* table id already drawn as a grid */
    for (size_t i = 0; i < d->n_blocks; i++) {
        const struct ingest_block *k = &d->blocks[i];
        if (k->kind == INGEST_BLOCK_TABLE_ROW && k->table == grid_table)
            continue;
        if (k->kind == INGEST_BLOCK_TABLE_ROW && k->header && (i == 0 || d->blocks[i - 1].table != k->table) &&
            pdfw_table(&w, d, i)) {
            grid_table = k->table;
            continue;
        }
        switch (k->kind) {
        case INGEST_BLOCK_HEADING: {
            int l = KB_MIN(KB_MAX(k->level, 1), 9);
            if (w.y < 140)
                pdfw_newpage(&w);
            w.y -= 8;
            fx_pdf_outline(w.p, k->text, w.page, l);
            pdfw_text(&w, k->text, hsize[l], 0);
            w.y -= 4;
            break;
        }
        case INGEST_BLOCK_FAQ: {
            struct kb_buf q, a;
            kb_buf_init(&q, 0);
            kb_buf_init(&a, 0);
            kb_buf_printf(&q, "Q: %s", k->text);
            kb_buf_printf(&a, "A: %s", k->answer);
            for (char *p = a.data; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            pdfw_text(&w, q.data, 11, 0);
            w.y -= 9;
            pdfw_text(&w, a.data, 11, 0);
            w.y -= 9;
            kb_buf_release(&q);
            kb_buf_release(&a);
            break;
        }
        case INGEST_BLOCK_LIST_ITEM: {
            struct kb_buf t;
            kb_buf_init(&t, 0);
            kb_buf_printf(&t, "- %s", k->text);
            pdfw_text(&w, t.data, 11, 14.0 * KB_MAX(k->level - 1, 0));
            w.y -= 9;
            kb_buf_release(&t);
            break;
        }
        case INGEST_BLOCK_TABLE_ROW:
            if (k->header && (i == 0 || d->blocks[i - 1].table != k->table)) {
                pdfw_text(&w, k->header, 11, 0);
                w.y -= 9;
            }
            pdfw_text(&w, k->text, 11, 0);
            w.y -= 9;
            break;
        default: {
            char *copy = kb_xstrdup(k->text);
            for (char *p = copy; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            pdfw_text(&w, copy, 11, 0);
            free(copy);
            w.y -= 9;
        }
        }
    }
    size_t n;
    char *data = fx_pdf_finish(w.p, false, &n);
    fx_write(path, data, n);
    free(data);
    fx_pdf_free(w.p);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ingest_make_formats SAMPLES_DIR OUT_DIR\n");
        return 1;
    }
    static const char *const langs[] = {"en", "zh"};
    static const char *const files[] = {"employee-handbook.txt", "faq.md", "returns-shipping.html"};
    struct config cfg;
    config_init(&cfg);
    int rc = 0;
    mkdir(argv[2], 0755);
    for (size_t l = 0; l < 2; l++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", argv[2], langs[l]);
        mkdir(dir, 0755);
        for (size_t f = 0; f < 3; f++) {
            char src[1024], out[1100], base[64];
            snprintf(src, sizeof src, "%s/%s/%s", argv[1], langs[l], files[f]);
            snprintf(base, sizeof base, "%.*s", (int)(strrchr(files[f], '.') - files[f]), files[f]);
            struct kb_error err = {0};
            struct ingest_doc *d = NULL;
            if (ingest_parse_file(&cfg, src, &d, &err)) {
                fprintf(stderr, "ingest_make_formats: %s\n", err.msg);
                rc = 1;
                continue;
            }
            snprintf(out, sizeof out, "%s/%s.docx", dir, base);
            write_docx(d, out);
            snprintf(out, sizeof out, "%s/%s.xlsx", dir, base);
            write_xlsx(d, out);
            snprintf(out, sizeof out, "%s/%s.pptx", dir, base);
            write_pptx(d, out);
            snprintf(out, sizeof out, "%s/%s.pdf", dir, base);
            write_pdf(d, out, l == 1);
            printf("wrote %s/%s.{docx,xlsx,pptx,pdf}\n", dir, base);
            ingest_doc_free(d);
        }
    }
    config_release(&cfg);
    return rc;
}
