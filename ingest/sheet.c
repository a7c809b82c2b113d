/* ingest/sheet.c: XLSX as a plain table of text cells, for data exchange rather than documents: the
 * FAQ editor's import and export (rag/curated.c). parse_office.c turns a workbook into blocks for
 * search; this file gives the cells themselves, row by row, so a column's text comes back exactly.
 *
 * Reading: the first sheet of xl/workbook.xml (its r:id resolved through
 * xl/_rels/workbook.xml.rels, "worksheets/sheet1.xml" when that fails), shared strings
 * (xl/sharedStrings.xml: <si> with <t> or rich-text runs <r><t>), inline strings (<is>), numbers
 * and booleans as their text. A cell goes to the column its reference names ("C7"), a row to the
 * position its r attribute names, so empty rows and cells keep their places and a caller's "row N"
 * is the spreadsheet's row N. Bounds: at most INGEST_SHEET_MAX_ROWS rows and INGEST_SHEET_MAX_COLS
 * columns (KB_ETOOBIG), zip entries capped by ingest.max_expanded_bytes (zip.c), malformed parts
 * KB_ECORRUPT.
 * Writing: a minimal workbook of one sheet named "FAQ" whose cells are inline strings (no shared
 * strings part): [Content_Types].xml, _rels/.rels, xl/workbook.xml, xl/_rels/workbook.xml.rels,
 * xl/worksheets/sheet1.xml, deflated by zip.c. Text is XML-escaped; characters XML 1.0 forbids are
 * dropped. Tests: tests/rag/test_curated.c (round trip), fuzz/fuzz_ingest_office.c covers the
 * reader's parts through parse_office.c's same XML and zip glue. */
#include "ingest/ingest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sheet_read {
    struct ingest_ctx c;
    struct ingest_doc dummy;
    struct zipf *z;
    struct kb_arena scratch;
    const char **shared;
    size_t n_shared;
};

static int sheet_part(struct sheet_read *s, const char *entry, bool optional, struct xml_node **root)
{
    char *buf;
    size_t n;
    int rc;
    *root = NULL;
    if (optional && !zipf_has(s->z, entry))
        return 0;
    rc = zipf_read(&s->c, s->z, entry, &buf, &n);
    if (rc)
        return rc;
    rc = xml_parse(&s->c, &s->scratch, buf, n, false, root);
    free(buf);
    return rc;
}

int sheet_si_text(const struct xml_node *si, struct kb_buf *b)
{
    int rc = 0;
    /* direct t, or t inside rich-text runs r; phonetic rPh is skipped */
    for (const struct xml_node *k = si->child; k && !rc; k = k->next) {
        if (xml_is(k, "t"))
            rc = xml_text(k, b);
        else if (xml_is(k, "r"))
            rc = xml_text(xml_child(k, "t"), b);
    }
    return rc;
}

static int sheet_shared(struct sheet_read *s, const struct xml_node *root)
{
    const struct xml_node *sst = xml_child(root, "sst");
    struct kb_buf b;
    size_t n = 0;
    int rc = 0;
    for (const struct xml_node *si = sst ? sst->child : NULL; si; si = si->next)
        n += xml_is(si, "si");
    if (n == 0)
        return 0;
    s->shared = kb_arena_alloc(&s->scratch, n * sizeof *s->shared);
    if (!s->shared)
        return kb_error_set(s->c.err, KB_ETOOBIG, "the workbook's shared strings are too large");
    kb_buf_init(&b, s->c.max_parse_bytes);
    for (const struct xml_node *si = sst->child; si && !rc; si = si->next) {
        if (!xml_is(si, "si"))
            continue;
        kb_buf_reset(&b);
        rc = sheet_si_text(si, &b);
        s->shared[s->n_shared] = rc ? NULL : kb_arena_strndup(&s->scratch, b.data ? b.data : "", b.len);
        if (!s->shared[s->n_shared])
            rc = kb_error_set(s->c.err, KB_ETOOBIG, "the workbook's shared strings are too large");
        s->n_shared++;
    }
    kb_buf_release(&b);
    return rc;
}

/* The sheet part the workbook names first. */
static void sheet_first_part(const struct xml_node *wb, const struct xml_node *rels, char *part, size_t cap)
{
    const struct xml_node *sheet = wb ? xml_find(wb, "sheet") : NULL;
    const char *rid = sheet ? xml_attr(sheet, "r:id") : NULL;
    const struct xml_node *root = rels ? xml_child(rels, "Relationships") : NULL;
    snprintf(part, cap, "xl/worksheets/sheet1.xml");
    for (const struct xml_node *r = root ? root->child : NULL; r && rid; r = r->next) {
        const char *id = xml_is(r, "Relationship") ? xml_attr(r, "Id") : NULL;
        const char *target = id && !strcmp(id, rid) ? xml_attr(r, "Target") : NULL;
        if (target && target[0] == '/')
            snprintf(part, cap, "%s", target + 1);
        else if (target && strncmp(target, "../", 3) != 0)
            snprintf(part, cap, "xl/%s", target);
    }
}

/* 0-based column and 1-based row of a reference like "BC12"; -1 when absent or malformed. */
static void sheet_ref(const char *ref, int *col, int *row)
{
    long c = 0, r = 0;
    int k = 0;
    *col = *row = -1;
    if (!ref)
        return;
    for (; ref[k] >= 'A' && ref[k] <= 'Z' && k < 4; k++)
        c = c * 26 + (ref[k] - 'A' + 1);
    if (k)
        *col = (int)(c - 1);
    for (; ref[k] >= '0' && ref[k] <= '9' && r < 100000000; k++)
        r = r * 10 + (ref[k] - '0');
    if (r > 0)
        *row = (int)r;
}

static int sheet_cell_text(struct sheet_read *s, const struct xml_node *cel, struct kb_buf *b)
{
    const char *type = xml_attr(cel, "t");
    struct kb_buf v;
    int rc;
    if (type && !strcmp(type, "inlineStr"))
        return xml_text(xml_child(cel, "is"), b);
    kb_buf_init(&v, s->c.max_parse_bytes);
    rc = xml_text(xml_child(cel, "v"), &v);
    if (!rc && type && !strcmp(type, "s")) {
        int64_t si;
        if (kb_parse_i64(v.data ? v.data : "", &si) == 0 && si >= 0 && (uint64_t)si < s->n_shared)
            rc = kb_buf_puts(b, s->shared[si]);
    } else if (!rc && type && !strcmp(type, "b")) {
        rc = kb_buf_puts(b, v.data && !strcmp(v.data, "1") ? "TRUE" : "FALSE");
    } else if (!rc) {
        rc = kb_buf_append(b, v.data ? v.data : "", v.len);
    }
    kb_buf_release(&v);
    return rc;
}

/* Grows out to hold row index `row` (0-based), empty rows in between. */
static void sheet_grow(struct ingest_sheet *out, int row, int *cap)
{
    if (row >= *cap) {
        int nc = *cap ? *cap : 64;
        while (nc <= row)
            nc *= 2;
        out->rows = kb_xrealloc(out->rows, (size_t)nc * sizeof *out->rows);
        out->n_cells = kb_xrealloc(out->n_cells, (size_t)nc * sizeof *out->n_cells);
        memset(out->rows + *cap, 0, (size_t)(nc - *cap) * sizeof *out->rows);
        memset(out->n_cells + *cap, 0, (size_t)(nc - *cap) * sizeof *out->n_cells);
        *cap = nc;
    }
    if (row >= out->n_rows)
        out->n_rows = row + 1;
}

static int sheet_rows(struct sheet_read *s, const struct xml_node *root, struct ingest_sheet *out)
{
    const struct xml_node *data = xml_find(root, "sheetData");
    struct kb_buf b;
    int rc = 0, cap = 0, row = -1;
    kb_buf_init(&b, s->c.max_parse_bytes);
    for (const struct xml_node *r = data ? data->child : NULL; r && !rc; r = r->next) {
        int col_next = 0, rrow;
        if (!xml_is(r, "row"))
            continue;
        { /* a row's r is its number alone */
            int64_t rn;
            const char *ra = xml_attr(r, "r");
            row = ra && kb_parse_i64(ra, &rn) == 0 && rn > row + 1 && rn <= INGEST_SHEET_MAX_ROWS ? (int)rn - 1
                                                                                                 : row + 1;
        }
        if (row >= INGEST_SHEET_MAX_ROWS) {
            rc = kb_error_set(s->c.err, KB_ETOOBIG, "the sheet has more than %d rows", INGEST_SHEET_MAX_ROWS);
            break;
        }
        sheet_grow(out, row, &cap);
        for (const struct xml_node *cel = r->child; cel && !rc; cel = cel->next) {
            int col;
            if (!xml_is(cel, "c"))
                continue;
            sheet_ref(xml_attr(cel, "r"), &col, &rrow);
            col = col >= col_next ? col : col_next;
            col_next = col + 1;
            if (col >= INGEST_SHEET_MAX_COLS) {
                rc = kb_error_set(s->c.err, KB_ETOOBIG, "row %d has more than %d columns", row + 1,
                                  INGEST_SHEET_MAX_COLS);
                break;
            }
            kb_buf_reset(&b);
            rc = sheet_cell_text(s, cel, &b);
            if (rc) {
                rc = kb_error_set(s->c.err, KB_ETOOBIG, "row %d: a cell is too large", row + 1);
                break;
            }
            if (b.len == 0)
                continue;
            if (col >= out->n_cells[row]) {
                out->rows[row] = kb_xrealloc(out->rows[row], (size_t)(col + 1) * sizeof(char *));
                for (int k = out->n_cells[row]; k <= col; k++)
                    out->rows[row][k] = NULL;
                out->n_cells[row] = col + 1;
            }
            free(out->rows[row][col]);
            out->rows[row][col] = kb_xstrndup(b.data, b.len);
        }
        for (int k = 0; k < out->n_cells[row]; k++)
            if (!out->rows[row][k])
                out->rows[row][k] = kb_xstrdup("");
    }
    kb_buf_release(&b);
    return rc;
}

int ingest_sheet_read(const struct config *cfg, const void *data, size_t n, struct ingest_sheet **out,
                      struct kb_error *err)
{
    struct sheet_read s = {0};
    struct xml_node *wb = NULL, *rels = NULL, *sst = NULL, *sheet = NULL;
    char part[1024];
    int rc;
    *out = kb_xcalloc(1, sizeof **out);
    s.c.cfg = cfg;
    s.c.doc = &s.dummy;
    s.c.name = "the workbook";
    s.c.deadline_s = kb_now_s() + (double)cfg->ingest_max_parse_seconds;
    s.c.max_expanded_bytes = (size_t)cfg->ingest_max_expanded_bytes;
    s.c.max_parse_bytes = (size_t)cfg->ingest_max_parse_bytes;
    s.c.err = err;
    kb_arena_init(&s.scratch, 256 * 1024, s.c.max_parse_bytes);
    rc = zipf_open(&s.c, data, n, &s.z);
    if (!rc && !zipf_has(s.z, "xl/workbook.xml"))
        rc = kb_error_set(err, KB_EFORMAT, "not an XLSX workbook (no xl/workbook.xml)");
    rc = rc ? rc : sheet_part(&s, "xl/workbook.xml", false, &wb);
    rc = rc ? rc : sheet_part(&s, "xl/_rels/workbook.xml.rels", true, &rels);
    rc = rc ? rc : sheet_part(&s, "xl/sharedStrings.xml", true, &sst);
    if (!rc && sst)
        rc = sheet_shared(&s, sst);
    if (!rc) {
        sheet_first_part(wb, rels, part, sizeof part);
        rc = sheet_part(&s, part, false, &sheet);
    }
    rc = rc ? rc : sheet_rows(&s, sheet, *out);
    zipf_close(s.z);
    kb_arena_release(&s.scratch);
    if (rc) {
        ingest_sheet_free(*out);
        *out = NULL;
    }
    return rc;
}

void ingest_sheet_free(struct ingest_sheet *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_rows; i++) {
        for (int k = 0; s->rows[i] && k < s->n_cells[i]; k++)
            free(s->rows[i][k]);
        free(s->rows[i]);
    }
    free(s->rows);
    free(s->n_cells);
    free(s);
}

/* ---- writing ---------------------------------------------------------------------------------------- */

/* Appends s XML-escaped; characters XML 1.0 does not allow (C0 controls but tab, LF, CR) dropped. */
static int sheet_escape(struct kb_buf *b, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '&')
            rc = kb_buf_puts(b, "&amp;");
        else if (ch == '<')
            rc = kb_buf_puts(b, "&lt;");
        else if (ch == '>')
            rc = kb_buf_puts(b, "&gt;");
        else if (ch == '"')
            rc = kb_buf_puts(b, "&quot;");
        else if (ch >= 0x20 || ch == '\t' || ch == '\n' || ch == '\r')
            rc = kb_buf_putc(b, (char)ch);
    }
    return rc;
}

/* "A", "B", ... "Z", "AA" for 0-based column c. */
static void sheet_col_name(int c, char out[8])
{
    char tmp[8];
    int k = 0, n = 0;
    c++;
    while (c > 0 && k < 7) {
        tmp[k++] = (char)('A' + (c - 1) % 26);
        c = (c - 1) / 26;
    }
    while (k > 0)
        out[n++] = tmp[--k];
    out[n] = '\0';
}

int ingest_sheet_write(const char *const *cells, int n_rows, int n_cols, struct kb_buf *out, struct kb_error *err)
{
    static const char content_types[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
        "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
        "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
        "<Override PartName=\"/xl/workbook.xml\" "
        "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
        "<Override PartName=\"/xl/worksheets/sheet1.xml\" "
        "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
        "</Types>";
    static const char root_rels[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
        "<Relationship Id=\"rId1\" "
        "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
        "Target=\"xl/workbook.xml\"/></Relationships>";
    static const char workbook[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
        "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
        "<sheets><sheet name=\"FAQ\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
    static const char wb_rels[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
        "<Relationship Id=\"rId1\" "
        "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
        "Target=\"worksheets/sheet1.xml\"/></Relationships>";
    struct kb_buf sh;
    int rc;
    kb_buf_init(&sh, 0);
    rc = kb_buf_puts(&sh, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                          "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>");
    for (int r = 0; r < n_rows && !rc; r++) {
        rc = kb_buf_printf(&sh, "<row r=\"%d\">", r + 1);
        for (int c = 0; c < n_cols && !rc; c++) {
            char col[8];
            sheet_col_name(c, col);
            rc = kb_buf_printf(&sh, "<c r=\"%s%d\" t=\"inlineStr\"><is><t xml:space=\"preserve\">", col, r + 1);
            rc = rc ? rc : sheet_escape(&sh, cells[(size_t)r * (size_t)n_cols + (size_t)c]);
            rc = rc ? rc : kb_buf_puts(&sh, "</t></is></c>");
        }
        rc = rc ? rc : kb_buf_puts(&sh, "</row>");
    }
    rc = rc ? rc : kb_buf_puts(&sh, "</sheetData></worksheet>");
    if (rc) {
        rc = kb_error_set(err, rc, "the sheet is too large");
    } else {
        const char *names[] = {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                               "xl/worksheets/sheet1.xml"};
        const char *datas[] = {content_types, root_rels, workbook, wb_rels, sh.data};
        size_t lens[] = {sizeof content_types - 1, sizeof root_rels - 1, sizeof workbook - 1, sizeof wb_rels - 1,
                         sh.len};
        rc = zipf_write(names, datas, lens, 5, out, err);
    }
    kb_buf_release(&sh);
    return rc;
}
