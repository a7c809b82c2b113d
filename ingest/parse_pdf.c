/* ingest/parse_pdf.c: PDF and EPUB through MuPDF (the only MuPDF includer), and images.
 *
 * Flow: a private fz_context per parse, whose allocator counts bytes against
 * ingest.max_parse_bytes and frees whatever is left when the context is dropped, opens the bytes in memory;
 * an encrypted document that an empty password does not open is KB_ECORRUPT. Pages are read in order
 * into structured text (MuPDF orders blocks and lines); every line is kept with its page, font size
 * (largest glyph), vertical position and block. Then, over the whole document:
 * - lines in the top or bottom 8% of a page whose text (digits ignored) repeats on at least half of
 *   3+ pages (or both pages of 2) are running headers/footers and are dropped, as are bare page
 *   numbers there, and page numbers anywhere that are the lowest or highest line of their page and
 *   follow the page index with one offset on 3+ pages (filings converted from HTML print them right
 *   under the text);
 * - headings come from the outline (a line on the outline entry's page equal to its title takes the
 *   entry's depth as level) or, with no outline or none of it found on the pages, from font size: short lines at least 15% larger than
 *   the body size (the most common size by characters) get levels by size rank; then lines alone in
 *   their block that are numbered like headings ("2. Brakes", "2.3 Pads", "Chapter 4", "第一章",
 *   "一、") become headings one level per number part, below the size levels, and short lines
 *   alone in their block set in bold (when bold is not the body style) one level below the sizes;
 * - tables: MuPDF puts each row of a ruled or aligned table into one block of side-by-side lines on
 *   one baseline; two or more such consecutive blocks with the same cell count become table rows
 *   (the first is the header);
 * - a heading line right under another of the same level and size (less than half a line between,
 *   the first not ending a sentence) continues it, even from another block: a wrapped title;
 * - the other lines of a block form one paragraph; a line ending in letter + '-' followed by a line
 *   starting in lower case is joined without the hyphen. A body paragraph that ends a page without
 *   ending a sentence continues into the first body line of the next page when that line starts in
 *   lower case (or, after CJK text, with a CJK character: joined without a space; a hyphen at the
 *   page end is dropped as within a page). The block keeps the page it starts on (loc.page) and
 *   gets a page mark (doc_add_paged) at the byte where each later page's text starts, so chunk.c
 *   can give every sentence its page.
 * The time cap is checked between pages. No text at all means no text layer: with ingest.ocr off that
 * is "no text layer; enable ingest.ocr" (KB_EEMPTY; images say so without touching MuPDF); with it on,
 * every page (or the image, opened as a one-page document) is rendered to grey at 200 dpi (at most
 * 40 Mpx) and read by ocr.c, one paragraph block per blank-line-separated run with its page.
 * Title: the Info dictionary's Title when it names the document (pdf_title_ok: not a file name,
 * an accession number or a placeholder), else a filing cover page's registrant, form and period, else
 * the first heading (doc_finish, doc_cover_title).
 * Tests: tests/ingest/test_pdf.c. */
#define _GNU_SOURCE /* memmem */
#include "ingest/ingest_int.h"

#include <math.h>
#include <mupdf/fitz.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* MuPDF's allocator: every block carries a 32-byte header (size, list links) so the bytes in use
 * are counted against the cap and whatever MuPDF still holds when the context is gone (leaks on
 * its error paths) is freed by pdf_mem_release(). */
struct pdf_hdr {
    size_t size;
    struct pdf_hdr *prev, *next;
    size_t pad; /* keeps the payload 16-byte aligned */
};

struct pdf_mem {
    size_t used, cap;
    struct pdf_hdr head; /* circular list of live blocks */
};

static void pdf_link(struct pdf_mem *m, struct pdf_hdr *h)
{
    h->next = m->head.next;
    h->prev = &m->head;
    m->head.next->prev = h;
    m->head.next = h;
}

static void pdf_unlink(struct pdf_hdr *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

static void *pdf_malloc(void *ud, size_t n)
{
    struct pdf_mem *m = ud;
    if (n > m->cap || m->used > m->cap - n)
        return NULL;
    struct pdf_hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    pdf_link(m, h);
    m->used += n;
    return h + 1;
}

static void pdf_free(void *ud, void *q)
{
    struct pdf_mem *m = ud;
    if (!q)
        return;
    struct pdf_hdr *h = (struct pdf_hdr *)q - 1;
    m->used -= h->size;
    pdf_unlink(h);
    free(h);
}

static void *pdf_realloc(void *ud, void *q, size_t n)
{
    struct pdf_mem *m = ud;
    if (!q)
        return pdf_malloc(ud, n);
    if (n == 0) {
        pdf_free(ud, q);
        return NULL;
    }
    struct pdf_hdr *h = (struct pdf_hdr *)q - 1;
    size_t old = h->size;
    if (n > old && (n - old > m->cap || m->used > m->cap - (n - old)))
        return NULL;
    pdf_unlink(h);
    struct pdf_hdr *nh = realloc(h, sizeof *h + n);
    if (!nh) {
        pdf_link(m, h);
        return NULL;
    }
    nh->size = n;
    pdf_link(m, nh);
    m->used = m->used - old + n;
    return nh + 1;
}

static void pdf_mem_init(struct pdf_mem *m, size_t cap)
{
    m->used = 0;
    m->cap = cap;
    m->head.next = m->head.prev = &m->head;
}

static void pdf_mem_release(struct pdf_mem *m)
{
    while (m->head.next != &m->head) {
        struct pdf_hdr *h = m->head.next;
        pdf_unlink(h);
        free(h);
    }
    m->used = 0;
}

static void pdf_quiet(void *user, const char *msg)
{
    (void)user;
    (void)msg;
}

struct pline {
    int page;      /* 1-based */
    int block;     /* running block number across the document */
    float size;    /* largest glyph size, points */
    float y0, y1;  /* vertical position as a fraction of the page height */
    float x0, x1;  /* horizontal extent, points */
    float base;    /* bottom of the line box, points (lines of one table row share it) */
    size_t off, len; /* text in pdf_doc.text */
    int n_chars;
    int heading;   /* level, 0 for body text */
    bool drop;     /* running header/footer */
    bool bold;     /* every visible character in a bold font */
};

struct pdf_doc {
    struct pline *lines;
    size_t n_lines, cap;
    struct kb_buf text;
    int n_pages;
    long n_chars;
};

struct pdf_outline_entry {
    const char *title; /* fz-owned until the outline is dropped */
    int page;          /* 1-based */
    int level;
    bool used;
};

static int pdf_push_line(struct pdf_doc *pd, struct pline *l)
{
    if (pd->n_lines == pd->cap) {
        size_t nc = pd->cap ? pd->cap * 2 : 256;
        struct pline *nl = kb_try_realloc(pd->lines, nc, sizeof *nl);
        if (!nl)
            return KB_ENOMEM;
        pd->lines = nl;
        pd->cap = nc;
    }
    pd->lines[pd->n_lines++] = *l;
    return 0;
}

struct pdf_order {
    int seg, col;
    float y;
    size_t idx;
};

static int pdf_order_cmp(const void *a, const void *b)
{
    const struct pdf_order *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    if (x->y != y->y)
        return x->y < y->y ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool pdf_in_zone(const struct pline *l)
{
    return l->y0 < 0.08f || l->y1 > 0.92f;
}

/* Multi-column pages: lines of one page (lines[first..n_lines)) narrower than 55% of the text width
 * are projected on the x axis; a gap of 10 pt or more with at least 3 such lines on each side, both
 * sides overlapping vertically and averaging 20+ characters a line (prose, not table cells), splits
 * columns (up to 4; pages of more than 2000 lines are left in MuPDF's order). Lines crossing a gap (titles, full-width paragraphs) and header/footer-zone
 * lines cut the page into bands; the page is then read band by band, each band column by column,
 * each column top to bottom, and blocks are renumbered so that no block spans two columns (lines of
 * one column less than half a line apart join one block). */
static int pdf_columns(struct pdf_doc *pd, size_t first, int *block_no)
{
    size_t n = pd->n_lines - first;
    struct pline *ls;
    if (n < 6 || n > 2000) /* the passes below are quadratic in the page's lines */
        return 0;
    ls = pd->lines + first;
    float minx = 1e30f, maxx = -1e30f;
    for (size_t i = 0; i < n; i++)
        if (!pdf_in_zone(&ls[i])) {
            minx = fminf(minx, ls[i].x0);
            maxx = fmaxf(maxx, ls[i].x1);
        }
    float span = maxx - minx;
    if (!(span > 0))
        return 0;
    /* Gaps in the union of the narrow lines' x intervals, swept in x0 order. */
    float gaps[4][2];
    int n_gaps = 0;
    float reach = 0;
    bool started = false;
    for (float from = -1e30f;;) {
        size_t pick = n; /* the narrow line with the smallest x0 after from (ties: largest x1 first) */
        for (size_t i = 0; i < n; i++) {
            const struct pline *l = &ls[i];
            if (pdf_in_zone(l) || l->x1 - l->x0 >= 0.55f * span || !(l->x0 > from)) /* NaN: never */
                continue;
            if (pick == n || l->x0 < ls[pick].x0)
                pick = i;
        }
        if (pick == n)
            break;
        float x0 = ls[pick].x0;
        if (started && x0 - reach >= 10.0f && n_gaps < 4) {
            gaps[n_gaps][0] = reach;
            gaps[n_gaps][1] = x0;
            n_gaps++;
        }
        for (size_t i = 0; i < n; i++) /* every narrow line starting at x0 extends the covered run */
            if (!pdf_in_zone(&ls[i]) && ls[i].x1 - ls[i].x0 < 0.55f * span && ls[i].x0 == x0)
                reach = started ? fmaxf(reach, ls[i].x1) : ls[i].x1, started = true;
        from = x0;
    }
    if (n_gaps == 0)
        return 0;
    /* Evidence per gap: prose on both sides, overlapping vertically. */
    for (int g = 0; g < n_gaps; g++) {
        long nl = 0, nr = 0, cl = 0, cr = 0;
        float ly0 = 2, ly1 = -1, ry0 = 2, ry1 = -1;
        for (size_t i = 0; i < n; i++) {
            const struct pline *l = &ls[i];
            if (pdf_in_zone(l) || l->x1 - l->x0 >= 0.55f * span)
                continue;
            if (l->x1 <= gaps[g][0]) {
                nl++, cl += l->n_chars, ly0 = fminf(ly0, l->y0), ly1 = fmaxf(ly1, l->y1);
            } else if (l->x0 >= gaps[g][1]) {
                nr++, cr += l->n_chars, ry0 = fminf(ry0, l->y0), ry1 = fmaxf(ry1, l->y1);
            }
        }
        if (nl < 3 || nr < 3 || cl < 20 * nl || cr < 20 * nr || fminf(ly1, ry1) <= fmaxf(ly0, ry0))
            return 0;
    }
    struct pdf_order *ord = kb_try_realloc(NULL, n, sizeof *ord);
    struct pline *tmp = kb_try_realloc(NULL, n, sizeof *tmp);
    int rc = ord && tmp ? 0 : KB_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct pline *l = &ls[i];
        int col = 0;
        bool wide = pdf_in_zone(l);
        for (int g = 0; g < n_gaps; g++) {
            if (l->x0 >= gaps[g][1])
                col = g + 1;
            else if (l->x1 > gaps[g][0])
                wide = true;
        }
        ord[i] = (struct pdf_order){.col = wide ? -1 : col, .y = l->y0, .idx = i};
    }
    for (size_t i = 0; i < n && !rc; i++) { /* band: wide lines above, twice, +1 for a wide line */
        int above = 0;
        for (size_t j = 0; j < n; j++)
            if (ord[j].col < 0 && (ord[j].y < ord[i].y || (ord[j].y == ord[i].y && j < i)))
                above++;
        ord[i].seg = 2 * above + (ord[i].col < 0);
    }
    if (!rc) {
        qsort(ord, n, sizeof *ord, pdf_order_cmp);
        int prev_block = -1, prev_col = -2;
        for (size_t i = 0; i < n; i++) {
            tmp[i] = ls[ord[i].idx];
            /* Line by line blocks of one column join when the next line follows within half a line. */
            bool near = i > 0 && ord[i].col >= 0 && tmp[i].y0 - tmp[i - 1].y1 < 0.5f * (tmp[i].y1 - tmp[i].y0);
            if ((tmp[i].block != prev_block && !near) || ord[i].col != prev_col)
                (*block_no)++;
            prev_block = tmp[i].block;
            prev_col = ord[i].col;
            tmp[i].block = *block_no;
        }
        memcpy(ls, tmp, n * sizeof *tmp);
    }
    free(ord);
    free(tmp);
    return rc;
}

/* Reads one page's lines. Runs inside fz_try; returns a KB code for our own failures. */
static int pdf_read_page(fz_context *ctx, fz_stext_page *st, int page_no, struct pdf_doc *pd, int *block_no)
{
    float ph = st->mediabox.y1 - st->mediabox.y0;
    if (ph <= 0)
        ph = 1;
    int rc = 0;
    size_t first = pd->n_lines;
    for (fz_stext_block *b = st->first_block; b && !rc; b = b->next) {
        if (b->type != FZ_STEXT_BLOCK_TEXT)
            continue;
        (*block_no)++;
        for (fz_stext_line *ln = b->u.t.first_line; ln && !rc; ln = ln->next) {
            struct pline l = {.page = page_no, .block = *block_no, .bold = true};
            l.off = pd->text.len;
            for (fz_stext_char *ch = ln->first_char; ch && !rc; ch = ch->next) {
                char enc[4];
                int el = kb_utf8_encode((uint32_t)ch->c, enc);
                rc = kb_buf_append(&pd->text, enc, (size_t)el);
                if (ch->c > ' ') {
                    l.n_chars++;
                    if (l.bold && ch->font && !fz_font_is_bold(ctx, ch->font) &&
                        !strstr(fz_font_name(ctx, ch->font), "Bold"))
                        l.bold = false;
                    if (ch->size > l.size)
                        l.size = ch->size;
                }
            }
            l.len = pd->text.len - l.off;
            l.y0 = (ln->bbox.y0 - st->mediabox.y0) / ph;
            l.y1 = (ln->bbox.y1 - st->mediabox.y0) / ph;
            l.x0 = ln->bbox.x0;
            l.x1 = ln->bbox.x1;
            l.base = ln->bbox.y1;
            if (!rc && l.n_chars > 0) {
                pd->n_chars += l.n_chars;
                rc = pdf_push_line(pd, &l);
            }
        }
    }
    return rc ? rc : pdf_columns(pd, first, block_no);
}

static void pdf_flatten_outline(fz_context *ctx, fz_document *doc, fz_outline *o, int level,
                                struct pdf_outline_entry *out, size_t *n, size_t cap)
{
    for (; o && *n < cap; o = o->next) {
        if (o->title) {
            int pg = fz_page_number_from_location(ctx, doc, o->page);
            out[*n] = (struct pdf_outline_entry){o->title, pg >= 0 ? pg + 1 : 0, KB_MIN(level, 9), false};
            (*n)++;
        }
        if (o->down && level < 9)
            pdf_flatten_outline(ctx, doc, o->down, level + 1, out, n, cap);
    }
}

/* Digits-free, space-free key of a line for header/footer matching. */
static void pdf_key(const char *s, size_t n, char *out, size_t out_bytes)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < out_bytes; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= '0' && ch <= '9') || ch == ' ' || ch == '\t')
            continue;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
}

static bool pdf_is_page_number(const char *s, size_t n)
{
    size_t digits = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= '0' && ch <= '9')
            digits++;
        else if (ch != ' ' && ch != '-' && ch != '/' && ch != '.')
            other++;
    }
    if (digits && !other)
        return true;
    return digits && n < 24 && (strncasecmp(s, "page", 4) == 0 || memmem(s, n, "\xE7\xAC\xAC", 3));
}

struct pdf_pnum {
    size_t line; /* index in pd->lines */
    long offset; /* printed number minus the page index */
    bool vote;   /* already dropped at a page edge: evidence for the numbering only */
};

/* The printed number of a page-number line ("12", "- 12 -", "Page 12 of 40", "第12页"), or -1. */
static long pdf_page_value(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !(s[i] >= '0' && s[i] <= '9'))
        i++;
    long v = -1;
    for (size_t k = 0; i < n && k < 6 && s[i] >= '0' && s[i] <= '9'; i++, k++)
        v = (v < 0 ? 0 : v * 10) + (s[i] - '0');
    return v;
}

static void pdf_pnum_add(const struct pdf_doc *pd, size_t i, struct pdf_pnum *c, size_t *n)
{
    const struct pline *l = &pd->lines[i];
    long v;
    if (l->n_chars > 16 || !pdf_is_page_number(pd->text.data + l->off, l->len) ||
        (v = pdf_page_value(pd->text.data + l->off, l->len)) < 0)
        return;
    c[(*n)++] = (struct pdf_pnum){i, v - l->page, l->drop};
}

/* Page numbers away from the page edges: filings converted from HTML print the number right under
 * the last line of text, wherever that ends. On each page the lowest and the highest line still kept
 * are candidates when they are bare page numbers, and page numbers already dropped at the page edge
 * vote; candidates whose number minus the page index is shared by 3 or more of these (2 in a 2-page
 * document) are the page numbering and are dropped. The shared offset keeps a lone number ending a
 * table or a list. */
static int pdf_drop_page_numbers(struct pdf_doc *pd)
{
    struct pdf_pnum *c = kb_try_realloc(NULL, pd->n_lines + 1, sizeof *c);
    size_t n = 0;
    for (size_t i = 0; i < pd->n_lines && c;) {
        size_t j = i, low = SIZE_MAX, high = SIZE_MAX;
        for (; j < pd->n_lines && pd->lines[j].page == pd->lines[i].page; j++) {
            const struct pline *l = &pd->lines[j];
            if (l->drop) {
                pdf_pnum_add(pd, j, c, &n);
                continue;
            }
            if (low == SIZE_MAX || l->y1 > pd->lines[low].y1)
                low = j;
            if (high == SIZE_MAX || l->y0 < pd->lines[high].y0)
                high = j;
        }
        if (low != SIZE_MAX)
            pdf_pnum_add(pd, low, c, &n);
        if (high != low)
            pdf_pnum_add(pd, high, c, &n);
        i = j;
    }
    for (size_t a = 0; a < n; a++) {
        size_t same = 0;
        for (size_t b = 0; b < n; b++)
            same += c[b].offset == c[a].offset;
        if (!c[a].vote && (same >= 3 || (pd->n_pages == 2 && same == 2)))
            pd->lines[c[a].line].drop = true;
    }
    int rc = c ? 0 : KB_ENOMEM;
    free(c);
    return rc;
}

static void pdf_drop_furniture(struct pdf_doc *pd)
{
    for (size_t i = 0; i < pd->n_lines; i++) {
        struct pline *l = &pd->lines[i];
        bool zone = l->y0 < 0.08f || l->y1 > 0.92f;
        if (zone && pdf_is_page_number(pd->text.data + l->off, l->len))
            l->drop = true;
    }
    if (pd->n_pages < 2)
        return;
    for (size_t i = 0; i < pd->n_lines; i++) {
        struct pline *l = &pd->lines[i];
        if (l->drop || !(l->y0 < 0.08f || l->y1 > 0.92f))
            continue;
        char key[256], k2[256];
        pdf_key(pd->text.data + l->off, l->len, key, sizeof key);
        if (!key[0])
            continue;
        int pages = 0, last_page = 0;
        for (size_t j = 0; j < pd->n_lines; j++) {
            struct pline *m = &pd->lines[j];
            if (m->page == last_page || !(m->y0 < 0.08f || m->y1 > 0.92f))
                continue;
            pdf_key(pd->text.data + m->off, m->len, k2, sizeof k2);
            if (strcmp(key, k2) == 0) {
                pages++;
                last_page = m->page;
            }
        }
        /* 3+ pages: on at least half of them; a 2-page document: on both. */
        if ((pages >= 3 && pages * 2 >= pd->n_pages) || (pd->n_pages == 2 && pages == 2)) {
            for (size_t j = 0; j < pd->n_lines; j++) {
                struct pline *m = &pd->lines[j];
                if (!(m->y0 < 0.08f || m->y1 > 0.92f))
                    continue;
                pdf_key(pd->text.data + m->off, m->len, k2, sizeof k2);
                if (strcmp(key, k2) == 0)
                    m->drop = true;
            }
        }
    }
}

static bool pdf_same_title(const char *a, size_t an, const char *b)
{
    while (an && a[an - 1] == ' ')
        an--;
    while (an && *a == ' ')
        a++, an--;
    while (*b == ' ')
        b++;
    size_t bn = strlen(b);
    while (bn && b[bn - 1] == ' ')
        bn--;
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* Length of a run of CJK numerals (一二三四五六七八九十百零) or ASCII digits at s, 0 when none. */
static size_t pdf_cjk_num(const char *s, size_t n)
{
    static const char *const nums[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "百", "零"};
    size_t i = 0;
    bool more = true;
    while (more && i < n) {
        more = false;
        if (s[i] >= '0' && s[i] <= '9') {
            i++;
            more = true;
        }
        for (size_t k = 0; k < sizeof nums / sizeof nums[0] && !more; k++)
            if (i + 3 <= n && memcmp(s + i, nums[k], 3) == 0) {
                i += 3;
                more = true;
            }
    }
    return i;
}

/* Depth of a numbered-heading line ("2. Brakes" 1, "2.3 Pads" 2, "Chapter 4 ..." 1, "第一章" 1,
 * "第二节" 2, "一、" 1), 0 when the line is not one. Latin titles must start upper case after the
 * number and not end like a sentence, so numbered list items and page numbers do not qualify. */
static int pdf_numbered_depth(const char *s, size_t n)
{
    int depth = 0;
    while (n && (s[n - 1] == ' '))
        n--;
    if (n == 0 || strchr(".:;,-", s[n - 1]))
        return 0;
    if (n > 3 && memcmp(s, "第", 3) == 0) {
        size_t k = pdf_cjk_num(s + 3, n - 3);
        if (k && 3 + k + 3 <= n && memcmp(s + 3 + k, "章", 3) == 0)
            depth = 1;
        else if (k && 3 + k + 3 <= n && memcmp(s + 3 + k, "节", 3) == 0)
            depth = 2;
        return depth;
    }
    size_t k = pdf_cjk_num(s, n);
    if (k && !(s[0] >= '0' && s[0] <= '9') && k + 3 < n && memcmp(s + k, "、", 3) == 0)
        return 1;
    if ((n > 8 && strncasecmp(s, "chapter ", 8) == 0) || (n > 8 && strncasecmp(s, "section ", 8) == 0)) {
        const char *p = s + 8;
        return (*p >= '0' && *p <= '9') || strchr("IVXivx", *p) ? 1 : 0;
    }
    size_t i = 0;
    bool dotted = false;
    while (i < n) {
        size_t d = 0;
        while (i + d < n && s[i + d] >= '0' && s[i + d] <= '9')
            d++;
        if (d == 0 || d > 2)
            break;
        depth++;
        i += d;
        if (i < n && s[i] == '.') {
            dotted = true;
            i++;
        } else {
            break;
        }
    }
    if (depth == 0 || i + 1 >= n || s[i] != ' ' || !(s[i + 1] >= 'A' && s[i + 1] <= 'Z'))
        return 0;
    return depth == 1 && !dotted && i > 2 ? 0 : depth;
}

/* Numbered lines at body size that stand alone in their block become headings below the size
 * levels (n_sizes + depth, at most 6). */
static void pdf_numbered_headings(struct pdf_doc *pd, int n_sizes)
{
    for (size_t i = 0; i < pd->n_lines; i++) {
        struct pline *l = &pd->lines[i];
        bool alone = (i == 0 || pd->lines[i - 1].block != l->block) &&
                     (i + 1 == pd->n_lines || pd->lines[i + 1].block != l->block);
        if (l->drop || l->heading || !alone || l->n_chars > 80)
            continue;
        int depth = pdf_numbered_depth(pd->text.data + l->off, l->len);
        if (depth > 0)
            l->heading = n_sizes + depth > 6 ? 6 : n_sizes + depth;
    }
}

/* Bold lines at most 80 characters, alone in their block and not ending like a sentence, become
 * headings one level below the size levels, unless bold is the body style (a quarter or more of the
 * characters are bold). */
static void pdf_bold_headings(struct pdf_doc *pd, int n_sizes)
{
    long bold = 0, all = 0;
    for (size_t i = 0; i < pd->n_lines; i++) {
        all += pd->lines[i].n_chars;
        bold += pd->lines[i].bold ? pd->lines[i].n_chars : 0;
    }
    for (size_t i = 0; i < pd->n_lines && bold * 4 < all; i++) {
        struct pline *l = &pd->lines[i];
        bool alone = (i == 0 || pd->lines[i - 1].block != l->block) &&
                     (i + 1 == pd->n_lines || pd->lines[i + 1].block != l->block);
        const char *s = pd->text.data + l->off;
        size_t n = l->len;
        while (n && s[n - 1] == ' ')
            n--;
        if (l->drop || l->heading || !l->bold || !alone || l->n_chars > 80 || n == 0 || strchr(".,;-", s[n - 1]))
            continue;
        l->heading = n_sizes + 1 > 6 ? 6 : n_sizes + 1;
    }
}

static void pdf_headings(struct pdf_doc *pd, struct pdf_outline_entry *ol, size_t n_ol)
{
    size_t matched = 0;
    if (n_ol > 0) {
        for (size_t i = 0; i < pd->n_lines; i++) {
            struct pline *l = &pd->lines[i];
            if (l->drop)
                continue;
            for (size_t k = 0; k < n_ol; k++) {
                if (ol[k].used || (ol[k].page && ol[k].page != l->page))
                    continue;
                if (pdf_same_title(pd->text.data + l->off, l->len, ol[k].title)) {
                    l->heading = ol[k].level;
                    ol[k].used = true;
                    matched++;
                    break;
                }
            }
        }
        if (matched > 0)
            return; /* an outline that matches no line (titles differ from the page text): use sizes */
    }
    /* Body size: the size carrying most characters, in half points. */
    long hist[256] = {0};
    for (size_t i = 0; i < pd->n_lines; i++) {
        int b = (int)lrintf(pd->lines[i].size * 2);
        if (!pd->lines[i].drop && b > 0 && b < 256)
            hist[b] += pd->lines[i].n_chars;
    }
    int body = 0;
    for (int b = 1; b < 256; b++)
        if (hist[b] > hist[body])
            body = b;
    if (body == 0) {
        pdf_numbered_headings(pd, 0);
        pdf_bold_headings(pd, 0);
        return;
    }
    /* Distinct heading sizes, largest first: levels 1..4. */
    int sizes[4], n_sizes = 0;
    for (int b = 255; b > 0 && n_sizes < 4; b--) {
        if (b * 100 < body * 115 || hist[b] == 0)
            continue;
        bool is_heading_size = false;
        for (size_t i = 0; i < pd->n_lines && !is_heading_size; i++)
            is_heading_size = (int)lrintf(pd->lines[i].size * 2) == b && pd->lines[i].n_chars <= 120;
        if (is_heading_size)
            sizes[n_sizes++] = b;
    }
    for (size_t i = 0; i < pd->n_lines; i++) {
        struct pline *l = &pd->lines[i];
        int b = (int)lrintf(l->size * 2);
        if (l->drop || l->n_chars > 120)
            continue;
        for (int k = 0; k < n_sizes; k++)
            if (sizes[k] == b)
                l->heading = k + 1;
    }
    pdf_numbered_headings(pd, n_sizes);
    pdf_bold_headings(pd, n_sizes);
}

static bool pdf_ends_hyphen(const struct kb_buf *b)
{
    return b->len >= 2 && b->data[b->len - 1] == '-' &&
           (((unsigned char)b->data[b->len - 2] | 32) >= 'a' && ((unsigned char)b->data[b->len - 2] | 32) <= 'z');
}

/* True when the block whose first line is lines[i] looks like a table row: 2 to 64 lines side by side
 * on one baseline (within 2 pt), left to right without overlap, none a heading or dropped.
 * *end is the index after the block; *n_cells its line count. */
static bool pdf_row_at(const struct pdf_doc *pd, size_t i, size_t *end, size_t *n_cells)
{
    size_t j = i;
    bool row = true;
    while (j < pd->n_lines && pd->lines[j].block == pd->lines[i].block) {
        const struct pline *l = &pd->lines[j];
        if (l->heading || l->drop)
            row = false;
        if (j > i && (fabsf(l->base - pd->lines[j - 1].base) > 2.0f || l->x0 < pd->lines[j - 1].x1))
            row = false;
        j++;
    }
    *end = j;
    *n_cells = j - i;
    return row && j - i >= 2 && j - i <= 64;
}

/* Emits a run of row blocks lines[i..end) (each block one row) as a table; the first row is the
 * header. */
static int pdf_table(struct ingest_ctx *c, const struct pdf_doc *pd, size_t i, size_t end)
{
    struct doc_table t = {0};
    const char *cells[64];
    size_t lens[64];
    int rc = 0;
    bool begun = false;
    while (i < end && !rc) {
        size_t e, k;
        pdf_row_at(pd, i, &e, &k);
        for (size_t q = 0; q < k; q++) {
            cells[q] = pd->text.data + pd->lines[i + q].off;
            lens[q] = pd->lines[i + q].len;
        }
        struct ingest_loc loc = {.page = pd->lines[i].page};
        rc = begun ? doc_table_row(c, &t, cells, lens, k, &loc) : doc_table_begin(c, &t, cells, lens, k);
        begun = true;
        i = e;
    }
    doc_table_release(&t);
    return rc;
}

/* True when text ending a paragraph at a page end and the first line on the next page are one
 * paragraph: the paragraph does not end a sentence (.!?:; or CJK 。！？：) and the line starts in
 * lower case, continues a hyphenated word, or goes on with a CJK character after CJK text (the
 * join then takes no space: norm.c drops a line break between CJK characters). */
static bool pdf_continues(const struct kb_buf *para, const char *s, size_t n)
{
    size_t e = para->len;
    while (e && para->data[e - 1] == ' ')
        e--;
    if (e == 0 || n == 0 || strchr(".!?:;", para->data[e - 1]))
        return false;
    static const char *const stops[] = {"。", "！", "？", "："};
    for (size_t k = 0; k < 4; k++)
        if (e >= 3 && memcmp(para->data + e - 3, stops[k], 3) == 0)
            return false;
    uint32_t first = 0, last = 0;
    size_t k = e - 1; /* start of the last character */
    while (k > 0 && ((unsigned char)para->data[k] & 0xC0) == 0x80)
        k--;
    bool cjk = kb_utf8_decode(para->data + k, e - k, &last) > 0 &&
               kb_utf8_decode(s, n, &first) > 0 && norm_is_cjk_like(last) && norm_is_cjk_like(first) &&
               kb_utf8_is_cjk(first); /* a CJK sentence goes on with a character, not punctuation */
    return (s[0] >= 'a' && s[0] <= 'z') || pdf_ends_hyphen(para) || cjk;
}

/* Adds the paragraph (or heading) collected in para with its page changes, and empties both. */
static int pdf_flush_para(struct ingest_ctx *c, struct kb_buf *para, int head_level, int page,
                          const struct ingest_page_mark *marks, size_t *n_marks)
{
    struct ingest_loc loc = {.page = page};
    int rc = doc_add_paged(c, head_level ? INGEST_BLOCK_HEADING : INGEST_BLOCK_PARAGRAPH, head_level, para->data,
                           para->len, &loc, marks, *n_marks);
    kb_buf_reset(para);
    *n_marks = 0;
    return rc;
}

/* Whether heading line b goes on the heading whose last line is a: a title wrapped over two lines
 * that MuPDF put in separate blocks (centred cover lines: "UNITED STATES" / "SECURITIES AND
 * EXCHANGE COMMISSION"). Same page, same size, b right under a (a gap under half a line), a not
 * ending a sentence or a label, b not numbered like a heading of its own. */
static bool pdf_heading_continues(const struct pdf_doc *pd, const struct pline *a, const struct pline *b)
{
    if (a->page != b->page || fabsf(a->size - b->size) > 0.5f || b->y0 <= (a->y0 + a->y1) / 2)
        return false; /* (line boxes of big type may overlap a little) */
    if (b->y0 - a->y1 > 0.5f * (a->y1 - a->y0))
        return false;
    char last = a->len ? pd->text.data[a->off + a->len - 1] : '.';
    if (strchr(".:;!?", last))
        return false;
    return pdf_numbered_depth(pd->text.data + b->off, b->len) == 0;
}

static int pdf_emit(struct ingest_ctx *c, struct pdf_doc *pd)
{
    struct kb_buf para;
    kb_buf_init(&para, c->max_parse_bytes);
    /* Page changes inside para (raw offsets); a paragraph rarely spans more pages than this, and
     * beyond it the later pages are credited to the last one recorded. */
    struct ingest_page_mark marks[16];
    size_t n_marks = 0;
    int rc = 0, para_page = 0, para_block = -1, head_level = 0, para_last_page = 0;
    const struct pline *prev = NULL; /* the last line put into para */
    for (size_t i = 0; i <= pd->n_lines && !rc; i++) {
        struct pline *l = i < pd->n_lines ? &pd->lines[i] : NULL;
        if (l && l->drop)
            continue;
        bool boundary = !l || l->block != para_block || l->heading != head_level;
        if (boundary && l && para.len && head_level && l->heading == head_level && prev &&
            pdf_heading_continues(pd, prev, l))
            boundary = false; /* a heading wrapped over two blocks */
        if (boundary && l && para.len && !head_level && !l->heading && l->page != para_last_page &&
            pdf_continues(&para, pd->text.data + l->off, l->len))
            boundary = false; /* a paragraph broken at the page end goes on at the top of the next */
        if (boundary && para.len)
            rc = pdf_flush_para(c, &para, head_level, para_page, marks, &n_marks);
        if (!l || rc)
            break;
        /* Tables: two or more consecutive row blocks on one page with the same number of cells. */
        size_t e, k;
        if ((i == 0 || pd->lines[i - 1].block != l->block) && pdf_row_at(pd, i, &e, &k)) {
            size_t run_end = e, rows = 1, e2, k2;
            while (run_end < pd->n_lines && pd->lines[run_end].page == l->page && pdf_row_at(pd, run_end, &e2, &k2) &&
                   k2 == k) {
                run_end = e2;
                rows++;
            }
            if (rows >= 2) {
                if (para.len)
                    rc = pdf_flush_para(c, &para, head_level, para_page, marks, &n_marks);
                rc = rc ? rc : pdf_table(c, pd, i, run_end);
                i = run_end - 1;
                para_block = -1;
                continue;
            }
        }
        if (para.len == 0) {
            para_page = l->page;
            para_block = l->block;
            head_level = l->heading;
        }
        const char *s = pd->text.data + l->off;
        if (para.len && pdf_ends_hyphen(&para) && l->len && s[0] >= 'a' && s[0] <= 'z') {
            para.len--; /* join "hyphen-\nated" */
            para.data[para.len] = '\0';
        } else if (para.len) {
            rc = kb_buf_putc(&para, '\n');
        }
        if (para.len && l->page != para_last_page && n_marks < sizeof marks / sizeof marks[0])
            marks[n_marks++] = (struct ingest_page_mark){para.len, l->page};
        rc = rc ? rc : kb_buf_append(&para, s, l->len);
        para_block = l->block;
        para_last_page = l->page;
        prev = l;
    }
    if (rc && (!c->err || c->err->code == 0))
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    kb_buf_release(&para);
    return rc;
}

static int pdf_no_text(struct ingest_ctx *c)
{
    return kb_error_set(c->err, KB_EEMPTY, "cannot ingest '%s': no text layer; enable ingest.ocr", c->name);
}

/* The MIME type MuPDF needs to open an image as a one-page document. */
static const char *pdf_image_magic(const unsigned char *u, size_t n)
{
    if (n >= 8 && memcmp(u, "\x89PNG", 4) == 0)
        return "image/png";
    if (n >= 3 && u[0] == 0xFF && u[1] == 0xD8)
        return "image/jpeg";
    if (n >= 6 && memcmp(u, "GIF8", 4) == 0)
        return "image/gif";
    return "image/tiff";
}

#define PDF_OCR_DPI 200
#define PDF_OCR_MAX_PIXELS (40 * 1000 * 1000) /* an A4 page at 200 dpi is 3.9 Mpx */

/* OCRs every page of doc into paragraph blocks (split at blank lines) with their page. Runs inside
 * fz_try: MuPDF errors throw; our own errors come back as a KB code. */
static int pdf_ocr_pages(struct ingest_ctx *c, fz_context *ctx, fz_document *doc, int n_pages, long *n_chars)
{
    struct ocr *o = NULL;
    int rc = ocr_open(c, &o);
    struct kb_buf text;
    kb_buf_init(&text, c->max_parse_bytes);
    for (int i = 0; i < n_pages && !rc; i++) {
        fz_page *volatile page = NULL;
        fz_pixmap *volatile pix = NULL;
        fz_try(ctx)
        {
            page = fz_load_page(ctx, doc, i);
            fz_rect r = fz_bound_page(ctx, page);
            double w = (r.x1 - r.x0) / 72.0 * PDF_OCR_DPI, h = (r.y1 - r.y0) / 72.0 * PDF_OCR_DPI;
            double scale = PDF_OCR_DPI / 72.0;
            if (w * h > PDF_OCR_MAX_PIXELS)
                scale *= sqrt(PDF_OCR_MAX_PIXELS / (w * h));
            pix = fz_new_pixmap_from_page(ctx, page, fz_scale((float)scale, (float)scale), fz_device_gray(ctx), 0);
            kb_buf_reset(&text);
            rc = ocr_page(c, o, fz_pixmap_samples(ctx, pix), fz_pixmap_width(ctx, pix), fz_pixmap_height(ctx, pix),
                          fz_pixmap_stride(ctx, pix), (int)lrint(scale * 72.0), &text);
        }
        fz_always(ctx)
        {
            fz_drop_pixmap(ctx, pix);
            fz_drop_page(ctx, page);
        }
        fz_catch(ctx)
        {
            kb_buf_release(&text);
            ocr_close(o);
            fz_rethrow(ctx);
        }
        /* Paragraphs are separated by blank lines in Tesseract's output. */
        const char *s = text.data ? text.data : "";
        while (!rc && *s) {
            const char *gap = strstr(s, "\n\n");
            size_t len = gap ? (size_t)(gap - s) : strlen(s);
            struct ingest_loc loc = {.page = i + 1};
            size_t before = c->doc->n_blocks;
            rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, s, len, &loc);
            if (!rc && c->doc->n_blocks > before)
                *n_chars += (long)c->doc->blocks[c->doc->n_blocks - 1].text_bytes;
            s += len;
            while (*s == '\n')
                s++;
        }
        rc = rc ? rc : ctx_check_time(c);
    }
    kb_buf_release(&text);
    ocr_close(o);
    return rc;
}

/* Whether the Info dictionary's Title names the document: filings and reports exported from HTML
 * or Word often carry one ("Form 8-K for Foot Locker INC filed 05/19/2022") while their first
 * heading is a cover line ("UNITED STATES"); but many carry a file name, an accession number or an
 * application's placeholder instead, which lose to the first heading. */
static bool pdf_title_ok(const char *s, size_t n)
{
    static const char *const ext[] = {".doc", ".docx", ".pdf", ".ppt", ".pptx", ".xls", ".xlsx", ".txt", ".rtf",
                                      ".odt", ".odp", ".ods", ".htm", ".html", ".indd", ".tex", ".dvi", ".ps", ".md"};
    static const char *const placeholder[] = {"untitled", "untitled document", "document", "document1",
                                              "presentation", "powerpoint presentation", "slide 1", "title",
                                              "no title", "anonymous", "microsoft word document"};
    if (n < 3 || n > 300)
        return false;
    size_t letters = 0, digits = 0;
    bool space = false, underscore = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)s[i];
        if ((u | 32) >= 'a' && (u | 32) <= 'z')
            letters++;
        else if (u >= 0xC0) /* a non-ASCII character (CJK, accented letters) */
            letters++;
        else if (u >= '0' && u <= '9')
            digits++;
        space |= u == ' ';
        underscore |= u == '_';
    }
    if (letters < 3 || letters <= digits || (underscore && !space))
        return false;
    for (size_t k = 0; k < KB_ARRAY_LEN(ext); k++) {
        size_t e = strlen(ext[k]);
        if (n > e && strncasecmp(s + n - e, ext[k], e) == 0)
            return false;
    }
    for (size_t k = 0; k < KB_ARRAY_LEN(placeholder); k++)
        if (strlen(placeholder[k]) == n && strncasecmp(s, placeholder[k], n) == 0)
            return false;
    return true;
}

int parse_pdf(struct ingest_ctx *c, const char *data, size_t n, enum ingest_format fmt)
{
    if (fmt == INGEST_FMT_IMAGE && !c->cfg->ingest_ocr)
        return pdf_no_text(c);
    struct pdf_mem mem;
    pdf_mem_init(&mem, c->max_parse_bytes);
    fz_alloc_context alloc = {&mem, pdf_malloc, pdf_realloc, pdf_free};
    fz_context *ctx = fz_new_context(&alloc, NULL, KB_MIN((size_t)FZ_STORE_DEFAULT, c->max_parse_bytes / 4));
    if (!ctx) {
        pdf_mem_release(&mem);
        return kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name);
    }
    fz_set_warning_callback(ctx, pdf_quiet, NULL);
    fz_set_error_callback(ctx, pdf_quiet, NULL);

    struct pdf_doc pd = {0};
    kb_buf_init(&pd.text, c->max_parse_bytes);
    /* Allocated before fz_try: a longjmp must not lose it (locals changed inside the try are
     * indeterminate after a throw unless volatile or address-taken with fz_var). */
    const size_t ol_cap = 4096;
    struct pdf_outline_entry *ol = kb_xcalloc(ol_cap, sizeof *ol);
    size_t n_ol = 0;
    fz_var(n_ol);
    fz_var(pd);
    fz_stream *volatile stm = NULL;
    fz_document *volatile doc = NULL;
    fz_outline *volatile outline = NULL;
    fz_page *volatile page = NULL;
    fz_stext_page *volatile st = NULL;
    volatile int rc = 0;
    const char *what = fmt == INGEST_FMT_EPUB ? "EPUB" : fmt == INGEST_FMT_IMAGE ? "image" : "PDF";
    const char *magic = fmt == INGEST_FMT_EPUB    ? "application/epub+zip"
                        : fmt == INGEST_FMT_IMAGE ? pdf_image_magic((const unsigned char *)data, n)
                                                  : "application/pdf";
    volatile long ocr_chars = 0;
    char info_title[512] = ""; /* the Info dictionary's Title (UTF-8), read in the try */

    fz_try(ctx)
    {
        fz_register_document_handlers(ctx);
        stm = fz_open_memory(ctx, (const unsigned char *)data, n);
        doc = fz_open_document_with_stream(ctx, magic, stm);
        if (fz_needs_password(ctx, doc) && !fz_authenticate_password(ctx, doc, "")) {
            rc = kb_error_set(c->err, KB_ECORRUPT, "cannot ingest '%s': the %s is encrypted (password protected)",
                              c->name, what);
        }
        if (!rc && fmt == INGEST_FMT_EPUB)
            fz_layout_document(ctx, doc, 450, 650, 11);
        if (!rc && fmt == INGEST_FMT_PDF && fz_lookup_metadata(ctx, doc, FZ_META_INFO_TITLE, info_title, sizeof info_title) < 0)
            info_title[0] = '\0';
        int n_pages = rc ? 0 : fz_count_pages(ctx, doc);
        pd.n_pages = n_pages;
        if (!rc) {
            outline = fz_load_outline(ctx, doc);
            pdf_flatten_outline(ctx, doc, outline, 1, ol, &n_ol, ol_cap);
        }
        int block_no = 0;
        fz_stext_options opts = {0};
        for (int i = 0; i < n_pages && !rc && fmt != INGEST_FMT_IMAGE; i++) {
            page = fz_load_page(ctx, doc, i);
            st = fz_new_stext_page_from_page(ctx, page, &opts);
            if (pdf_read_page(ctx, st, i + 1, &pd, &block_no))
                rc = kb_error_set(c->err, KB_ETOOBIG, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
            fz_drop_stext_page(ctx, st);
            st = NULL;
            fz_drop_page(ctx, page);
            page = NULL;
            if (!rc)
                rc = ctx_check_time(c);
        }
        if (!rc && pd.n_chars == 0 && c->cfg->ingest_ocr) {
            long got = 0;
            rc = pdf_ocr_pages(c, ctx, doc, n_pages, &got);
            ocr_chars = got;
        }
    }
    fz_catch(ctx)
    {
        const char *msg = fz_caught_message(ctx);
        bool oom = mem.used + 65536 > mem.cap || (msg && strstr(msg, "malloc"));
        rc = kb_error_set(c->err, oom ? KB_ETOOBIG : KB_ECORRUPT, "cannot ingest '%s': %s (%s)", c->name,
                          oom ? "parsing needs more memory than ingest.max_parse_bytes" : "corrupt or unreadable",
                          msg ? msg : what);
    }
    if (!rc) {
        c->doc->n_pages = pd.n_pages;
        if (ocr_chars > 0) {
            /* blocks came from OCR */
        } else if (pd.n_chars == 0) {
            rc = c->cfg->ingest_ocr ? kb_error_set(c->err, KB_EEMPTY, "cannot ingest '%s': OCR found no text", c->name)
                                    : pdf_no_text(c);
        } else {
            pdf_drop_furniture(&pd);
            if (pdf_drop_page_numbers(&pd))
                rc = kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name);
            if (!rc) {
                pdf_headings(&pd, ol, n_ol);
                rc = pdf_emit(c, &pd);
            }
            /* a title that names the document wins over the first heading (doc_finish); normalised
             * as any text (NFC, white space folded and trimmed) */
            struct kb_buf nt;
            kb_buf_init(&nt, 4 * sizeof info_title);
            if (!rc && !norm_text(&nt, info_title, strnlen(info_title, sizeof info_title - 1), false) &&
                pdf_title_ok(nt.data, nt.len) && !(c->doc->title = doc_strndup(c, nt.data, nt.len)))
                rc = KB_ETOOBIG;
            kb_buf_release(&nt);
        }
    }
    fz_drop_stext_page(ctx, st);
    fz_drop_page(ctx, page);
    fz_drop_outline(ctx, outline);
    fz_drop_document(ctx, doc);
    fz_drop_stream(ctx, stm);
    fz_drop_context(ctx);
    pdf_mem_release(&mem);
    free(ol);
    free(pd.lines);
    kb_buf_release(&pd.text);
    return rc;
}
