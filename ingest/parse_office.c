/* ingest/parse_office.c: DOCX, XLSX and PPTX (Office Open XML) into blocks.
 *
 * Each format is a zip (zip.c, zip-bomb capped) of XML parts (xml.c, no entity expansion) read in a
 * fixed order; the package-level trees live in a scratch arena freed at the end, each sheet's or
 * slide's trees in an arena freed when it is done:
 * - DOCX: word/styles.xml maps style ids to heading levels ("heading N", "Title", outlineLvl) and
 *   list styles; word/document.xml's body gives paragraphs (w:t text, tabs, breaks; deleted text and
 *   field codes skipped), list items (w:numPr, level w:ilvl + 1) and tables (w:tbl, first row is the
 *   header), in document order; a "Title" paragraph before any heading is the document title, kept
 *   as a paragraph.
 * - XLSX: xl/workbook.xml lists sheets in order; their parts come from the workbook rels; strings
 *   from xl/sharedStrings.xml (phonetic runs skipped). Each sheet is a level-1 heading, its first
 *   non-empty row the header, every later row a record with loc.sheet and loc.row (the sheet's row
 *   number). Question/answer headers make FAQ blocks (doc.c).
 * - PPTX: slides in ppt/presentation.xml order (sldIdLst via rels); the title placeholder is a
 *   level-1 heading ("Slide N" when missing), except a first title slide's centred title (ctrTitle),
 *   which is the deck's title, kept as a paragraph; other shapes' paragraphs and tables follow, then
 *   the speaker notes (notesSlide via the slide's rels) as paragraphs; all with loc.slide.
 * Tests: tests/ingest/test_office.c. */
#include "ingest/ingest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFFICE_MAX_COLS 1024

struct office {
    struct ingest_ctx *c;
    struct zipf *z;
    struct kb_arena scratch; /* trees and strings of the parts read so far */
    bool named;              /* a heading or the title was added: no later paragraph is the title */
};

static int office_open(struct office *o, struct ingest_ctx *c, const char *data, size_t n)
{
    o->c = c;
    o->named = false;
    kb_arena_init(&o->scratch, 256 * 1024, c->max_parse_bytes);
    return zipf_open(c, data, n, &o->z);
}

static void office_close(struct office *o)
{
    zipf_close(o->z);
    kb_arena_release(&o->scratch);
}

/* Reads and parses one XML part into arena a (o->scratch when NULL). optional: a missing part gives
 * *root NULL and 0. */
static int office_part_in(struct office *o, struct kb_arena *a, const char *entry, bool optional,
                          struct xml_node **root)
{
    char *buf;
    size_t n;
    *root = NULL;
    if (optional && !zipf_has(o->z, entry))
        return 0;
    int rc = zipf_read(o->c, o->z, entry, &buf, &n);
    if (rc)
        return rc;
    rc = xml_parse(o->c, a ? a : &o->scratch, buf, n, false, root);
    free(buf);
    if (rc && o->c->err)
        kb_error_prefix(o->c->err, "part '%s': ", entry);
    return rc;
}

static int office_part(struct office *o, const char *entry, bool optional, struct xml_node **root)
{
    return office_part_in(o, NULL, entry, optional, root);
}

/* Resolves a relationship target against the directory of the part that owns the rels. */
static void office_resolve(const char *base_dir, const char *target, char *out, size_t out_bytes)
{
    char tmp[1024];
    if (target[0] == '/')
        snprintf(tmp, sizeof tmp, "%s", target + 1);
    else
        snprintf(tmp, sizeof tmp, "%s%s", base_dir, target);
    /* Collapse "dir/../" segments. */
    char *segs[64];
    size_t n = 0;
    for (char *p = tmp; n < 64;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (strcmp(p, "..") == 0) {
            if (n > 0)
                n--;
        } else if (*p && strcmp(p, ".") != 0) {
            segs[n++] = p;
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < out_bytes; i++)
        len += (size_t)snprintf(out + len, out_bytes - len, "%s%s", i ? "/" : "", segs[i]);
}

/* Looks up a relationship by Id (or, with by_type, the first whose Type ends with key). */
static const char *office_rel(const struct xml_node *rels, const char *key, bool by_type)
{
    const struct xml_node *root = xml_child(rels, "Relationships");
    for (const struct xml_node *r = root ? root->child : NULL; r; r = r->next) {
        if (!xml_is(r, "Relationship"))
            continue;
        if (by_type) {
            const char *t = xml_attr(r, "Type");
            size_t tl = t ? strlen(t) : 0, kl = strlen(key);
            if (t && tl >= kl && strcmp(t + tl - kl, key) == 0)
                return xml_attr(r, "Target");
        } else {
            const char *id = xml_attr(r, "Id");
            if (id && strcmp(id, key) == 0)
                return xml_attr(r, "Target");
        }
    }
    return NULL;
}

static int office_oom(struct ingest_ctx *c)
{
    if (c->err && c->err->code)
        return c->err->code;
    return kb_error_set(c->err, KB_ETOOBIG, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
}

/* Adds a heading, or the document's title: a "Title" paragraph or a title slide's title (is_title)
 * while the document has no title and no heading yet names the document. It is then kept as a
 * paragraph and as doc->title, not as a level-1 heading beside the sections, as a text file's
 * title line is (parse_text.c): the sections' paths do not repeat it, and the index keeps it as
 * every chunk's document context (index_doc_context drops a title that is one section heading
 * among others). */
static int office_heading(struct office *o, bool is_title, int level, const char *text, size_t n,
                          const struct ingest_loc *loc)
{
    struct ingest_ctx *c = o->c;
    bool title = is_title && !o->named && !c->doc->title;
    int rc = doc_add(c, title ? INGEST_BLOCK_PARAGRAPH : INGEST_BLOCK_HEADING, title ? 0 : level, text, n, loc);
    if (!rc && title)
        c->doc->title = c->doc->blocks[c->doc->n_blocks - 1].text;
    o->named = true;
    return rc;
}

/* ---- DOCX ------------------------------------------------------------------------------------------ */

struct docx_style {
    const char *id;
    int heading; /* 1..9 or 0 */
    bool list;
    bool title; /* the "Title" style: the document's own title */
};

struct docx {
    struct office o;
    struct docx_style *styles;
    size_t n_styles;
};

static int docx_heading_from_name(const char *name)
{
    if (!name)
        return 0;
    if (strcasecmp(name, "title") == 0)
        return 1;
    if (strncasecmp(name, "heading", 7) == 0) {
        const char *p = name + 7;
        while (*p == ' ')
            p++;
        if (*p >= '1' && *p <= '9' && p[1] == '\0')
            return *p - '0';
    }
    return 0;
}

static void docx_load_styles(struct docx *d, const struct xml_node *root)
{
    const struct xml_node *styles = xml_child(root, "styles");
    size_t n = 0;
    for (const struct xml_node *s = styles ? styles->child : NULL; s; s = s->next)
        n += xml_is(s, "style");
    if (n == 0)
        return;
    d->styles = kb_xcalloc(n, sizeof *d->styles);
    for (const struct xml_node *s = styles->child; s; s = s->next) {
        if (!xml_is(s, "style"))
            continue;
        struct docx_style *st = &d->styles[d->n_styles++];
        st->id = xml_attr(s, "w:styleId");
        const char *name = xml_attr(xml_child(s, "name"), "w:val");
        st->heading = docx_heading_from_name(name);
        st->title = (name && strcasecmp(name, "title") == 0) || (st->id && strcasecmp(st->id, "title") == 0);
        if (!st->heading)
            st->heading = docx_heading_from_name(st->id);
        const struct xml_node *ol = xml_child(xml_child(s, "pPr"), "outlineLvl");
        const char *lv = xml_attr(ol, "w:val");
        if (!st->heading && lv && lv[0] >= '0' && lv[0] <= '8' && lv[1] == '\0')
            st->heading = lv[0] - '0' + 1;
        st->list = name && strncasecmp(name, "list", 4) == 0 && strncasecmp(name, "list paragraph", 14) != 0;
        if (name && strcasecmp(name, "list paragraph") == 0)
            st->list = true;
    }
}

static const struct docx_style *docx_style(const struct docx *d, const char *id)
{
    for (size_t i = 0; id && i < d->n_styles; i++)
        if (d->styles[i].id && strcmp(d->styles[i].id, id) == 0)
            return &d->styles[i];
    return NULL;
}

/* Appends the visible text of a paragraph (or any subtree): w:t, tabs and breaks. */
static int docx_text(const struct xml_node *root, struct kb_buf *b)
{
    const struct xml_node *n = root->child;
    int rc = 0;
    while (n && !rc) {
        bool descend = true;
        if (xml_is(n, "t")) {
            rc = xml_text(n, b);
            descend = false;
        } else if (xml_is(n, "tab")) {
            rc = kb_buf_putc(b, ' ');
        } else if (xml_is(n, "br") || xml_is(n, "cr")) {
            rc = kb_buf_putc(b, '\n');
        } else if (xml_is(n, "p") && b->len) {
            rc = kb_buf_putc(b, '\n');
        } else if (xml_is(n, "del") || xml_is(n, "instrText") || xml_is(n, "pPr") || xml_is(n, "rPr")) {
            descend = false;
        }
        if (descend && n->child) {
            n = n->child;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
    return rc;
}

static int docx_para(struct docx *d, const struct xml_node *p)
{
    struct ingest_ctx *c = d->o.c;
    const struct xml_node *ppr = xml_child(p, "pPr");
    const struct docx_style *st = docx_style(d, xml_attr(xml_child(ppr, "pStyle"), "w:val"));
    const char *lv = xml_attr(xml_child(ppr, "outlineLvl"), "w:val");
    const struct xml_node *num = xml_child(ppr, "numPr");
    enum ingest_block_kind kind = INGEST_BLOCK_PARAGRAPH;
    int level = 0;
    if (st && st->heading) {
        kind = INGEST_BLOCK_HEADING;
        level = st->heading;
    } else if (lv && lv[0] >= '0' && lv[0] <= '8' && lv[1] == '\0') {
        kind = INGEST_BLOCK_HEADING;
        level = lv[0] - '0' + 1;
    } else if (num || (st && st->list)) {
        kind = INGEST_BLOCK_LIST_ITEM;
        const char *il = xml_attr(xml_child(num, "ilvl"), "w:val");
        level = il && il[0] >= '0' && il[0] <= '9' ? il[0] - '0' + 1 : 1;
    }
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    int rc = docx_text(p, &b);
    if (!rc && b.len && kind == INGEST_BLOCK_HEADING)
        rc = office_heading(&d->o, st && st->title, level, b.data, b.len, NULL);
    else if (!rc && b.len)
        rc = doc_add(c, kind, level, b.data, b.len, NULL);
    else if (rc)
        rc = office_oom(c);
    kb_buf_release(&b);
    return rc;
}

static int docx_table(struct docx *d, const struct xml_node *tbl)
{
    struct ingest_ctx *c = d->o.c;
    struct doc_table t = {0};
    bool begun = false;
    int rc = 0;
    struct kb_buf *cellbuf = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cellbuf);
    const char **cells = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cells);
    size_t *lens = kb_xcalloc(OFFICE_MAX_COLS, sizeof *lens);
    for (const struct xml_node *tr = tbl->child; tr && !rc; tr = tr->next) {
        if (!xml_is(tr, "tr"))
            continue;
        size_t k = 0;
        for (const struct xml_node *tc = tr->child; tc && k < OFFICE_MAX_COLS && !rc; tc = tc->next) {
            if (!xml_is(tc, "tc"))
                continue;
            kb_buf_init(&cellbuf[k], c->max_parse_bytes);
            rc = docx_text(tc, &cellbuf[k]);
            cells[k] = cellbuf[k].data ? cellbuf[k].data : "";
            lens[k] = cellbuf[k].len;
            k++;
        }
        if (!rc && k) {
            rc = begun ? doc_table_row(c, &t, cells, lens, k, NULL) : doc_table_begin(c, &t, cells, lens, k);
            begun = true;
        } else if (rc) {
            rc = office_oom(c);
        }
        for (size_t i = 0; i < k; i++)
            kb_buf_release(&cellbuf[i]);
    }
    if (!rc && begun && t.header_line &&
        (c->doc->n_blocks == 0 || c->doc->blocks[c->doc->n_blocks - 1].table != t.id))
        rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, t.header_line, strlen(t.header_line), NULL);
    doc_table_release(&t);
    free(cellbuf);
    free(cells);
    free(lens);
    return rc;
}

static int docx_body(struct docx *d, const struct xml_node *body, int depth)
{
    int rc = 0;
    for (const struct xml_node *k = body->child; k && !rc; k = k->next) {
        if (xml_is(k, "p"))
            rc = docx_para(d, k);
        else if (xml_is(k, "tbl"))
            rc = docx_table(d, k);
        else if ((xml_is(k, "sdt") || xml_is(k, "sdtContent") || xml_is(k, "customXml")) && depth < 16)
            rc = docx_body(d, k, depth + 1);
    }
    return rc;
}

int parse_docx(struct ingest_ctx *c, const char *data, size_t n)
{
    struct docx d = {0};
    struct xml_node *styles = NULL, *doc = NULL;
    int rc = office_open(&d.o, c, data, n);
    rc = rc ? rc : office_part(&d.o, "word/styles.xml", true, &styles);
    if (!rc && styles)
        docx_load_styles(&d, styles);
    rc = rc ? rc : office_part(&d.o, "word/document.xml", false, &doc);
    if (!rc) {
        const struct xml_node *body = xml_find(doc, "body");
        if (!body)
            rc = kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': word/document.xml has no body", c->name);
        else
            rc = docx_body(&d, body, 0);
    }
    free(d.styles);
    office_close(&d.o);
    return rc;
}

/* ---- XLSX ------------------------------------------------------------------------------------------ */

struct xlsx {
    struct office o;
    const char **shared; /* shared strings; scratch arena */
    size_t n_shared;
};

static int xlsx_load_shared(struct xlsx *x, const struct xml_node *root)
{
    const struct xml_node *sst = xml_child(root, "sst");
    size_t n = 0;
    for (const struct xml_node *si = sst ? sst->child : NULL; si; si = si->next)
        n += xml_is(si, "si");
    if (n == 0)
        return 0;
    x->shared = kb_arena_alloc(&x->o.scratch, n * sizeof *x->shared);
    if (!x->shared)
        return office_oom(x->o.c);
    struct kb_buf b;
    kb_buf_init(&b, x->o.c->max_parse_bytes);
    int rc = 0;
    for (const struct xml_node *si = sst->child; si && !rc; si = si->next) {
        if (!xml_is(si, "si"))
            continue;
        kb_buf_reset(&b);
        rc = sheet_si_text(si, &b);
        const char *s = rc ? NULL : kb_arena_strndup(&x->o.scratch, b.data ? b.data : "", b.len);
        if (!s)
            rc = office_oom(x->o.c);
        x->shared[x->n_shared++] = s;
    }
    kb_buf_release(&b);
    return rc;
}

/* Column index (0-based) from a cell reference like "BC12"; -1 when absent. */
static int xlsx_col(const char *ref)
{
    if (!ref)
        return -1;
    long col = 0;
    int k = 0;
    for (; ref[k] >= 'A' && ref[k] <= 'Z' && k < 4; k++)
        col = col * 26 + (ref[k] - 'A' + 1);
    return k ? (int)(col - 1) : -1;
}

static int xlsx_sheet(struct xlsx *x, const struct xml_node *root, const char *sheet_name)
{
    struct ingest_ctx *c = x->o.c;
    const struct xml_node *data = xml_find(root, "sheetData");
    struct kb_buf *cellbuf = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cellbuf);
    const char **cells = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cells);
    size_t *lens = kb_xcalloc(OFFICE_MAX_COLS, sizeof *lens);
    for (size_t i = 0; i < OFFICE_MAX_COLS; i++)
        kb_buf_init(&cellbuf[i], c->max_parse_bytes);
    struct doc_table t = {0};
    bool begun = false;
    int rc = 0, row_no = 0;
    for (const struct xml_node *r = data ? data->child : NULL; r && !rc; r = r->next) {
        if (!xml_is(r, "row"))
            continue;
        int64_t rn;
        const char *ra = xml_attr(r, "r");
        row_no = ra && kb_parse_i64(ra, &rn) == 0 && rn > 0 && rn < INT32_MAX ? (int)rn : row_no + 1;
        size_t ncols = 0, next = 0;
        for (size_t i = 0; i < OFFICE_MAX_COLS; i++)
            kb_buf_reset(&cellbuf[i]);
        for (const struct xml_node *cel = r->child; cel && !rc; cel = cel->next) {
            if (!xml_is(cel, "c"))
                continue;
            int col = xlsx_col(xml_attr(cel, "r"));
            size_t ci = col >= 0 ? (size_t)col : next;
            next = ci + 1;
            if (ci >= OFFICE_MAX_COLS)
                continue;
            const char *type = xml_attr(cel, "t");
            struct kb_buf *b = &cellbuf[ci];
            if (type && strcmp(type, "inlineStr") == 0) {
                rc = xml_text(xml_child(cel, "is"), b);
            } else {
                struct kb_buf v;
                kb_buf_init(&v, c->max_parse_bytes);
                rc = xml_text(xml_child(cel, "v"), &v);
                const char *vs = v.data ? v.data : "";
                if (!rc && type && strcmp(type, "s") == 0) {
                    int64_t si;
                    if (kb_parse_i64(vs, &si) == 0 && si >= 0 && (uint64_t)si < x->n_shared)
                        rc = kb_buf_puts(b, x->shared[si]);
                } else if (!rc && type && strcmp(type, "b") == 0) {
                    rc = kb_buf_puts(b, strcmp(vs, "1") == 0 ? "TRUE" : "FALSE");
                } else if (!rc) {
                    rc = kb_buf_append(b, vs, v.len);
                }
                kb_buf_release(&v);
            }
            if (b->len && ci + 1 > ncols)
                ncols = ci + 1;
        }
        if (rc) {
            rc = office_oom(c);
            break;
        }
        if (ncols == 0)
            continue;
        for (size_t i = 0; i < ncols; i++) {
            cells[i] = cellbuf[i].data ? cellbuf[i].data : "";
            lens[i] = cellbuf[i].len;
        }
        struct ingest_loc loc = {.sheet = sheet_name, .row = row_no};
        if (!begun) {
            rc = doc_table_begin(c, &t, cells, lens, ncols);
            begun = true;
        } else {
            rc = doc_table_row(c, &t, cells, lens, ncols, &loc);
        }
        if (!rc && (row_no & 1023) == 0)
            rc = ctx_check_time(c);
    }
    if (!rc && begun && t.header_line &&
        (c->doc->n_blocks == 0 || c->doc->blocks[c->doc->n_blocks - 1].table != t.id)) {
        struct ingest_loc loc = {.sheet = sheet_name, .row = 1};
        rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, t.header_line, strlen(t.header_line), &loc);
    }
    doc_table_release(&t);
    for (size_t i = 0; i < OFFICE_MAX_COLS; i++)
        kb_buf_release(&cellbuf[i]);
    free(cellbuf);
    free(cells);
    free(lens);
    return rc;
}

int parse_xlsx(struct ingest_ctx *c, const char *data, size_t n)
{
    struct xlsx x = {0};
    struct xml_node *wb = NULL, *rels = NULL, *sst = NULL;
    int rc = office_open(&x.o, c, data, n);
    rc = rc ? rc : office_part(&x.o, "xl/workbook.xml", false, &wb);
    rc = rc ? rc : office_part(&x.o, "xl/_rels/workbook.xml.rels", false, &rels);
    rc = rc ? rc : office_part(&x.o, "xl/sharedStrings.xml", true, &sst);
    if (!rc && sst)
        rc = xlsx_load_shared(&x, sst);
    const struct xml_node *sheets = rc ? NULL : xml_find(wb, "sheets");
    for (const struct xml_node *s = sheets ? sheets->child : NULL; s && !rc; s = s->next) {
        if (!xml_is(s, "sheet"))
            continue;
        const char *name = xml_attr(s, "name");
        const char *rid = xml_attr(s, "r:id");
        const char *target = rid ? office_rel(rels, rid, false) : NULL;
        if (!target)
            continue;
        char part[1024];
        office_resolve("xl/", target, part, sizeof part);
        struct xml_node *sheet;
        struct kb_arena part_arena; /* one sheet's tree at a time */
        kb_arena_init(&part_arena, 256 * 1024, c->max_parse_bytes);
        rc = office_part_in(&x.o, &part_arena, part, false, &sheet);
        if (rc) {
            kb_arena_release(&part_arena);
            break;
        }
        const char *sname = doc_strndup(c, name ? name : "", name ? strlen(name) : 0);
        if (!sname) {
            rc = office_oom(c);
            break;
        }
        c->doc->n_pages++;
        struct ingest_loc loc = {.sheet = sname};
        if (*sname)
            rc = doc_add(c, INGEST_BLOCK_HEADING, 1, sname, strlen(sname), &loc);
        rc = rc ? rc : xlsx_sheet(&x, sheet, sname);
        kb_arena_release(&part_arena);
        rc = rc ? rc : ctx_check_time(c);
    }
    office_close(&x.o);
    return rc;
}

/* ---- PPTX ------------------------------------------------------------------------------------------ */

/* Text of one a:p paragraph: a:t runs, a:br line breaks. */
static int pptx_para_text(const struct xml_node *p, struct kb_buf *b)
{
    int rc = 0;
    for (const struct xml_node *k = p->child; k && !rc; k = k->next) {
        if (xml_is(k, "r") || xml_is(k, "fld"))
            rc = xml_text(xml_child(k, "t"), b);
        else if (xml_is(k, "br"))
            rc = kb_buf_putc(b, '\n');
    }
    return rc;
}

static const char *pptx_ph_type(const struct xml_node *sp)
{
    const struct xml_node *nv = xml_child(sp, "nvSpPr");
    const struct xml_node *ph = xml_child(xml_child(nv, "nvPr"), "ph");
    if (!ph)
        return NULL;
    const char *t = xml_attr(ph, "type");
    return t ? t : "body";
}

static int pptx_txbody(struct ingest_ctx *c, const struct xml_node *tx, int slide)
{
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    int rc = 0;
    for (const struct xml_node *p = tx ? tx->child : NULL; p && !rc; p = p->next) {
        if (!xml_is(p, "p"))
            continue;
        kb_buf_reset(&b);
        rc = pptx_para_text(p, &b);
        if (rc) {
            rc = office_oom(c);
            break;
        }
        const struct xml_node *ppr = xml_child(p, "pPr");
        const char *lvl = xml_attr(ppr, "lvl");
        bool bullet = xml_child(ppr, "buChar") || xml_child(ppr, "buAutoNum") || lvl;
        struct ingest_loc loc = {.slide = slide};
        if (b.len)
            rc = doc_add(c, bullet ? INGEST_BLOCK_LIST_ITEM : INGEST_BLOCK_PARAGRAPH,
                         bullet ? (lvl && lvl[0] >= '0' && lvl[0] <= '8' ? lvl[0] - '0' + 1 : 1) : 0, b.data, b.len,
                         &loc);
    }
    kb_buf_release(&b);
    return rc;
}

static int pptx_table(struct ingest_ctx *c, const struct xml_node *tbl, int slide)
{
    struct doc_table t = {0};
    bool begun = false;
    int rc = 0;
    struct kb_buf *cellbuf = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cellbuf);
    const char **cells = kb_xcalloc(OFFICE_MAX_COLS, sizeof *cells);
    size_t *lens = kb_xcalloc(OFFICE_MAX_COLS, sizeof *lens);
    for (const struct xml_node *tr = tbl->child; tr && !rc; tr = tr->next) {
        if (!xml_is(tr, "tr"))
            continue;
        size_t k = 0;
        for (const struct xml_node *tc = tr->child; tc && k < OFFICE_MAX_COLS && !rc; tc = tc->next) {
            if (!xml_is(tc, "tc"))
                continue;
            kb_buf_init(&cellbuf[k], c->max_parse_bytes);
            const struct xml_node *tx = xml_child(tc, "txBody");
            for (const struct xml_node *p = tx ? tx->child : NULL; p && !rc; p = p->next)
                if (xml_is(p, "p")) {
                    if (cellbuf[k].len)
                        rc = kb_buf_putc(&cellbuf[k], ' ');
                    rc = rc ? rc : pptx_para_text(p, &cellbuf[k]);
                }
            cells[k] = cellbuf[k].data ? cellbuf[k].data : "";
            lens[k] = cellbuf[k].len;
            k++;
        }
        struct ingest_loc loc = {.slide = slide};
        if (!rc && k) {
            rc = begun ? doc_table_row(c, &t, cells, lens, k, &loc) : doc_table_begin(c, &t, cells, lens, k);
            begun = true;
        } else if (rc) {
            rc = office_oom(c);
        }
        for (size_t i = 0; i < k; i++)
            kb_buf_release(&cellbuf[i]);
    }
    doc_table_release(&t);
    free(cellbuf);
    free(cells);
    free(lens);
    return rc;
}

/* Walks a shape tree (p:spTree or a group) in document order. body_only: notes slides. */
static int pptx_shapes(struct ingest_ctx *c, const struct xml_node *tree, int slide, bool notes, int depth)
{
    int rc = 0;
    for (const struct xml_node *sp = tree ? tree->child : NULL; sp && !rc; sp = sp->next) {
        if (xml_is(sp, "sp")) {
            const char *ph = pptx_ph_type(sp);
            if (ph && (strcmp(ph, "title") == 0 || strcmp(ph, "ctrTitle") == 0 || strcmp(ph, "sldNum") == 0 ||
                       strcmp(ph, "dt") == 0 || strcmp(ph, "ftr") == 0 || strcmp(ph, "hdr") == 0 ||
                       strcmp(ph, "sldImg") == 0))
                continue; /* titles are emitted first; the rest is furniture */
            if (notes && !(ph && strcmp(ph, "body") == 0))
                continue;
            rc = pptx_txbody(c, xml_child(sp, "txBody"), slide);
        } else if (xml_is(sp, "grpSp") && depth < 16) {
            rc = pptx_shapes(c, sp, slide, notes, depth + 1);
        } else if (xml_is(sp, "graphicFrame") && !notes) {
            const struct xml_node *tbl = xml_find(sp, "tbl");
            if (tbl)
                rc = pptx_table(c, tbl, slide);
        }
    }
    return rc;
}

static const struct xml_node *pptx_find_title(const struct xml_node *tree)
{
    for (const struct xml_node *sp = tree ? tree->child : NULL; sp; sp = sp->next) {
        const char *ph = xml_is(sp, "sp") ? pptx_ph_type(sp) : NULL;
        if (ph && (strcmp(ph, "title") == 0 || strcmp(ph, "ctrTitle") == 0))
            return sp;
    }
    return NULL;
}

static int pptx_slide(struct office *o, const char *part, int slide)
{
    struct ingest_ctx *c = o->c;
    struct xml_node *root, *rels = NULL, *notes = NULL;
    struct kb_arena a; /* this slide's trees, freed when it is done */
    kb_arena_init(&a, 256 * 1024, c->max_parse_bytes);
    int rc = office_part_in(o, &a, part, false, &root);
    if (rc) {
        kb_arena_release(&a);
        return rc;
    }
    const struct xml_node *tree = xml_find(root, "spTree");
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    const struct xml_node *title = pptx_find_title(tree);
    const struct xml_node *tx = title ? xml_child(title, "txBody") : NULL;
    for (const struct xml_node *p = tx ? tx->child : NULL; p && !rc; p = p->next)
        if (xml_is(p, "p")) {
            if (b.len)
                rc = kb_buf_putc(&b, ' ');
            rc = rc ? rc : pptx_para_text(p, &b);
        }
    /* a first slide laid out as a title slide (its title placeholder is the centred title) names the
     * deck */
    const char *ph = title && b.len ? pptx_ph_type(title) : NULL;
    bool deck_title = ph && strcmp(ph, "ctrTitle") == 0;
    if (!rc && b.len == 0)
        rc = kb_buf_printf(&b, "Slide %d", slide);
    struct ingest_loc loc = {.slide = slide};
    rc = rc ? office_oom(c) : office_heading(o, deck_title, 1, b.data, b.len, &loc);
    kb_buf_release(&b);
    rc = rc ? rc : pptx_shapes(c, tree, slide, false, 0);

    /* Speaker notes: ppt/slides/_rels/slideN.xml.rels -> notesSlide. */
    char rels_part[1100], dir[1024];
    const char *slash = strrchr(part, '/');
    size_t dl = slash ? (size_t)(slash - part) + 1 : 0;
    snprintf(dir, sizeof dir, "%.*s", (int)dl, part);
    snprintf(rels_part, sizeof rels_part, "%s_rels/%s.rels", dir, part + dl);
    rc = rc ? rc : office_part_in(o, &a, rels_part, true, &rels);
    const char *nt = !rc && rels ? office_rel(rels, "/notesSlide", true) : NULL;
    if (nt) {
        char np[1024];
        office_resolve(dir, nt, np, sizeof np);
        rc = office_part_in(o, &a, np, true, &notes);
        if (!rc && notes)
            rc = pptx_shapes(c, xml_find(notes, "spTree"), slide, true, 0);
    }
    kb_arena_release(&a);
    return rc;
}

int parse_pptx(struct ingest_ctx *c, const char *data, size_t n)
{
    struct office o;
    struct xml_node *pres = NULL, *rels = NULL;
    int rc = office_open(&o, c, data, n);
    rc = rc ? rc : office_part(&o, "ppt/presentation.xml", false, &pres);
    rc = rc ? rc : office_part(&o, "ppt/_rels/presentation.xml.rels", false, &rels);
    const struct xml_node *lst = rc ? NULL : xml_find(pres, "sldIdLst");
    int slide = 0;
    for (const struct xml_node *s = lst ? lst->child : NULL; s && !rc; s = s->next) {
        if (!xml_is(s, "sldId"))
            continue;
        const char *rid = xml_attr(s, "r:id");
        const char *target = rid ? office_rel(rels, rid, false) : NULL;
        if (!target)
            continue;
        char part[1024];
        office_resolve("ppt/", target, part, sizeof part);
        slide++;
        c->doc->n_pages = slide;
        rc = pptx_slide(&o, part, slide);
        rc = rc ? rc : ctx_check_time(c);
    }
    office_close(&o);
    return rc;
}
