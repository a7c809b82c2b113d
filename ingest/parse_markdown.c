/* ingest/parse_markdown.c: Markdown (CommonMark's common subset plus GFM tables) into blocks.
 *
 * One pass over lines with a small state machine: fenced code (``` or ~~~) and code indented by 4+
 * columns after a blank line become CODE blocks,
 * ATX (#) and setext (=== / ---) headings become HEADING blocks, "-", "*", "+", "1." and "1)"
 * lines become LIST_ITEM blocks (depth from indentation, continuation lines appended), a line with
 * pipes followed by a delimiter row starts a table whose rows become TABLE_ROW blocks with the header,
 * ">" quote markers are dropped, and everything else joins into paragraphs split by blank lines.
 * Inline markup is removed (emphasis, code spans, links and images keep their text, HTML tags go),
 * never the words. Q:/A: paragraphs pair up in doc_finish(). The state between lines lives in
 * struct md_parser; md_line() tries the rules in order (fence, quote markers, blank, indented code,
 * heading or fence or break, table, list, paragraph). Tests: tests/ingest/test_text.c. */
#define _GNU_SOURCE /* memmem */
#include "ingest/ingest_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Appends s[0..n) without inline Markdown markup. */
static int md_inline(struct kb_buf *out, const char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        char ch = s[i];
        if (ch == '\\' && i + 1 < n && ispunct((unsigned char)s[i + 1])) {
            rc = kb_buf_putc(out, s[i + 1]);
            i += 2;
        } else if (ch == '`') {
            i++;
        } else if (ch == '*' || ch == '_') {
            size_t j = i;
            while (j < n && s[j] == ch)
                j++;
            bool left_space = i == 0 || isspace((unsigned char)s[i - 1]);
            bool right_space = j >= n || isspace((unsigned char)s[j]);
            bool intraword = ch == '_' && i > 0 && j < n && isalnum((unsigned char)s[i - 1]) &&
                             isalnum((unsigned char)s[j]);
            if ((left_space && right_space) || intraword || j - i > 3)
                rc = kb_buf_append(out, s + i, j - i);
            i = j;
        } else if ((ch == '[' || (ch == '!' && i + 1 < n && s[i + 1] == '['))) {
            size_t o = ch == '!' ? i + 2 : i + 1;
            const char *close = memchr(s + o, ']', n - o);
            if (close && (size_t)(close - s) + 1 < n && (close[1] == '(' || close[1] == '[')) {
                char want = close[1] == '(' ? ')' : ']';
                size_t after = (size_t)(close - s) + 2;
                const char *end = memchr(s + after, want, n - after);
                if (end) {
                    rc = md_inline(out, s + o, (size_t)(close - s) - o);
                    i = (size_t)(end - s) + 1;
                    continue;
                }
            }
            rc = kb_buf_putc(out, ch);
            i++;
        } else if (ch == '<' && i + 1 < n && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!')) {
            const char *end = memchr(s + i, '>', n - i);
            if (!end) {
                rc = kb_buf_putc(out, ch);
                i++;
                continue;
            }
            size_t len = (size_t)(end - s) - i - 1;
            const char *in = s + i + 1;
            bool space = memchr(in, ' ', len) != NULL;
            if (!space && (memmem(in, len, "://", 3) || memchr(in, '@', len)))
                rc = kb_buf_append(out, in, len); /* autolink */
            i = (size_t)(end - s) + 1;
        } else {
            rc = kb_buf_putc(out, ch);
            i++;
        }
    }
    return rc;
}

static int md_add(struct ingest_ctx *c, enum ingest_block_kind kind, int level, const char *s, size_t n, int line)
{
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    int rc = md_inline(&b, s, n);
    struct ingest_loc loc = {.line = line};
    if (!rc && b.len)
        rc = doc_add(c, kind, level, b.data, b.len, &loc);
    else if (rc)
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    kb_buf_release(&b);
    return rc;
}

static size_t md_indent(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            w++;
        else if (s[i] == '\t')
            w += 4 - (w % 4);
        else
            break;
    }
    return w;
}

static size_t md_skip_ws(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* Bytes of a list marker and its space at s (already past indentation), or 0. */
static size_t md_list_marker(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (s[1] == ' ' || s[1] == '\t'))
        return 2;
    size_t i = 0;
    while (i < n && i < 9 && isdigit((unsigned char)s[i]))
        i++;
    if (i > 0 && i + 1 < n && (s[i] == '.' || s[i] == ')') && (s[i + 1] == ' ' || s[i + 1] == '\t'))
        return i + 2;
    return 0;
}

static bool md_only(const char *s, size_t n, char ch, size_t min)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ch)
            k++;
        else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return k >= min;
}

/* A GFM delimiter row: cells of -, : and spaces separated by |, at least one '-'. */
static bool md_delim_row(const char *s, size_t n)
{
    bool dash = false, pipe = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dash = true;
        else if (s[i] == '|')
            pipe = true;
        else if (s[i] != ':' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return dash && pipe;
}

#define MD_MAX_CELLS 256

/* Splits a table line into cells (inline markup removed later by doc_table_row's caller). */
static size_t md_cells(const char *s, size_t n, const char **cells, size_t *lens)
{
    size_t i = md_skip_ws(s, n);
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (i < n && s[i] == '|')
        i++;
    if (n > i && s[n - 1] == '|' && (n < 2 || s[n - 2] != '\\'))
        n--;
    size_t k = 0, start = i;
    for (; i <= n && k < MD_MAX_CELLS; i++) {
        if (i == n || (s[i] == '|' && (i == 0 || s[i - 1] != '\\'))) {
            cells[k] = s + start;
            lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

/* Adds a table row after removing inline markup from every cell. */
static int md_table_line(struct ingest_ctx *c, struct doc_table *t, const char *s, size_t n, int line, bool header)
{
    const char *raw[MD_MAX_CELLS];
    size_t rlen[MD_MAX_CELLS];
    size_t k = md_cells(s, n, raw, rlen);
    struct kb_buf b[MD_MAX_CELLS];
    const char *cells[MD_MAX_CELLS];
    size_t lens[MD_MAX_CELLS];
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        kb_buf_init(&b[i], c->max_parse_bytes);
        rc = rc ? rc : md_inline(&b[i], raw[i], rlen[i]);
        cells[i] = b[i].data ? b[i].data : "";
        lens[i] = b[i].len;
    }
    struct ingest_loc loc = {.line = line};
    if (!rc)
        rc = header ? doc_table_begin(c, t, cells, lens, k) : doc_table_row(c, t, cells, lens, k, &loc);
    for (size_t i = 0; i < k; i++)
        kb_buf_release(&b[i]);
    return rc;
}

enum md_state { MD_NONE, MD_PARA, MD_LIST, MD_TABLE };

/* The state machine between lines. */
struct md_parser {
    struct ingest_ctx *c;
    const char *s;          /* the whole text */
    size_t n;               /* its bytes */
    size_t pos;             /* start of the next line */
    int no;                 /* 1-based number of the current line */
    int rc;                 /* first error; the line loop stops at it */
    enum md_state st;
    struct kb_buf para;     /* text of the open paragraph or list item */
    int para_line;          /* its first line */
    int list_level;         /* MD_LIST: 1 + indentation / 2 */
    struct doc_table table; /* the open table (MD_TABLE) */
    const char *fence;      /* fence characters while inside fenced code, else NULL */
    size_t fence_len;
    int fence_line;         /* first line of the fenced code */
    struct kb_buf code;     /* code being collected */
};

/* The line at pos: its start, its bytes without the '\n' (a '\r' stays), and the next line's pos. */
static const char *md_line_at(const char *s, size_t n, size_t pos, size_t *len, size_t *next)
{
    const char *nl = memchr(s + pos, '\n', n - pos);
    size_t end = nl ? (size_t)(nl - s) : n;
    *len = end - pos;
    *next = nl ? end + 1 : n;
    return s + pos;
}

/* Ends the open paragraph, list item or table. */
static void md_flush(struct md_parser *p)
{
    if (!p->rc && p->para.len && p->st == MD_PARA)
        p->rc = md_add(p->c, INGEST_BLOCK_PARAGRAPH, 0, p->para.data, p->para.len, p->para_line);
    else if (!p->rc && p->para.len && p->st == MD_LIST)
        p->rc = md_add(p->c, INGEST_BLOCK_LIST_ITEM, p->list_level, p->para.data, p->para.len, p->para_line);
    if (p->st == MD_TABLE)
        doc_table_release(&p->table);
    kb_buf_reset(&p->para);
    p->st = MD_NONE;
}

/* A line inside fenced code: the closing fence ends the CODE block, anything else is code. */
static void md_in_fence(struct md_parser *p, const char *line, size_t len, const char *t, size_t tl)
{
    if (tl >= p->fence_len && strncmp(t, p->fence, p->fence_len) == 0 && md_only(t, tl, p->fence[0], p->fence_len)) {
        struct ingest_loc loc = {.line = p->fence_line};
        p->rc = p->code.len ? doc_add(p->c, INGEST_BLOCK_CODE, 0, p->code.data, p->code.len, &loc) : 0;
        kb_buf_reset(&p->code);
        p->fence = NULL;
    } else {
        p->rc = kb_buf_append(&p->code, line, len);
        p->rc = p->rc ? p->rc : kb_buf_putc(&p->code, '\n');
    }
}

/* Indented code: 4+ columns after a blank line, outside lists; runs to the next line that is
 * neither blank nor indented. Consumes its lines. */
static void md_indented_code(struct md_parser *p, const char *line, size_t len)
{
    int code_line = p->no;
    size_t p2 = p->pos;
    const char *ln = line;
    size_t ll = len;
    kb_buf_reset(&p->code);
    for (;;) {
        size_t skip = 0, col = 0, nxl, next;
        const char *nx;
        while (skip < ll && col < 4 && (ln[skip] == ' ' || ln[skip] == '\t'))
            col += ln[skip++] == '\t' ? 4 - col % 4 : 1;
        p->rc = p->rc ? p->rc : kb_buf_append(&p->code, ln + skip, ll - skip);
        p->rc = p->rc ? p->rc : kb_buf_putc(&p->code, '\n');
        if (p2 >= p->n || p->rc)
            break;
        nx = md_line_at(p->s, p->n, p2, &nxl, &next);
        if (nxl && nx[nxl - 1] == '\r')
            nxl--;
        bool blank = md_skip_ws(nx, nxl) == nxl;
        if (!blank && md_indent(nx, nxl) < 4)
            break;
        ln = nx, ll = nxl;
        p->no++;
        p2 = next;
    }
    p->pos = p2;
    struct ingest_loc loc = {.line = code_line};
    if (!p->rc && p->code.len)
        p->rc = doc_add(p->c, INGEST_BLOCK_CODE, 0, p->code.data, p->code.len, &loc);
    kb_buf_reset(&p->code);
}

/* An opening fence, an ATX or setext heading, or a thematic break. True when the line was one. */
static bool md_heading_or_fence(struct md_parser *p, size_t ind, const char *t, size_t tl)
{
    if (ind < 4 && tl >= 3 && (strncmp(t, "```", 3) == 0 || strncmp(t, "~~~", 3) == 0)) {
        md_flush(p);
        p->fence = t[0] == '`' ? "```" : "~~~";
        p->fence_len = 3;
        p->fence_line = p->no + 1;
        return true;
    }
    if (ind < 4 && t[0] == '#') {
        size_t h = 0;
        while (h < tl && t[h] == '#')
            h++;
        if (h <= 6 && (h == tl || t[h] == ' ' || t[h] == '\t')) {
            md_flush(p);
            size_t e = tl;
            while (e > h && (t[e - 1] == '#' || t[e - 1] == ' ' || t[e - 1] == '\t'))
                e--;
            p->rc = md_add(p->c, INGEST_BLOCK_HEADING, (int)h, t + h, e > h ? e - h : 0, p->no);
            return true;
        }
    }
    if (p->st == MD_PARA && (md_only(t, tl, '=', 1) || md_only(t, tl, '-', 1))) {
        p->rc = md_add(p->c, INGEST_BLOCK_HEADING, t[0] == '=' ? 1 : 2, p->para.data, p->para.len, p->para_line);
        kb_buf_reset(&p->para);
        p->st = MD_NONE;
        return true;
    }
    if (md_only(t, tl, '-', 3) || md_only(t, tl, '*', 3) || md_only(t, tl, '_', 3)) {
        md_flush(p);
        return true;
    }
    return false;
}

/* A row of the open table, or a header line followed by a delimiter row (which is consumed).
 * True when the line was one; a line without pipes ends the open table. */
static bool md_table(struct md_parser *p, const char *t, size_t tl)
{
    if (p->st == MD_TABLE) {
        if (memchr(t, '|', tl)) {
            p->rc = md_table_line(p->c, &p->table, t, tl, p->no, false);
            return true;
        }
        md_flush(p);
    }
    if (memchr(t, '|', tl) && p->pos < p->n) {
        size_t dl, next;
        const char *delim = md_line_at(p->s, p->n, p->pos, &dl, &next);
        if (md_delim_row(delim, dl)) {
            md_flush(p);
            p->rc = md_table_line(p->c, &p->table, t, tl, p->no, true);
            p->st = MD_TABLE;
            p->no++;
            p->pos = next;
            return true;
        }
    }
    return false;
}

/* A list item's first line or its continuation. True when the line was one. */
static bool md_list(struct md_parser *p, size_t ind, const char *t, size_t tl)
{
    size_t lm = md_list_marker(t, tl);
    if (lm) {
        md_flush(p);
        p->st = MD_LIST;
        p->list_level = (int)(ind / 2) + 1;
        p->para_line = p->no;
        p->rc = kb_buf_append(&p->para, t + lm, tl - lm);
        return true;
    }
    if (p->st == MD_LIST && ind >= 2) { /* continuation of the list item */
        p->rc = kb_buf_putc(&p->para, '\n');
        p->rc = p->rc ? p->rc : kb_buf_append(&p->para, t, tl);
        return true;
    }
    return false;
}

/* Paragraph text: starts a paragraph or joins the open one. */
static void md_paragraph(struct md_parser *p, const char *t, size_t tl)
{
    /* Q:/A: lines start their own paragraph so they can pair up. */
    if (p->st != MD_NONE && (doc_q_marker(t, tl) || doc_a_marker(t, tl)))
        md_flush(p);
    if (p->st == MD_LIST)
        md_flush(p);
    if (p->st == MD_NONE) {
        p->st = MD_PARA;
        p->para_line = p->no;
    } else {
        p->rc = kb_buf_putc(&p->para, '\n');
    }
    p->rc = p->rc ? p->rc : kb_buf_append(&p->para, t, tl);
}

/* One line (without its '\n' and '\r'), by the first rule that takes it. */
static void md_line(struct md_parser *p, const char *line, size_t len)
{
    size_t ind = md_indent(line, len);
    size_t ws = md_skip_ws(line, len);
    const char *t = line + ws;
    size_t tl = len - ws;

    if (p->fence) {
        md_in_fence(p, line, len, t, tl);
        return;
    }
    /* Block quotes: drop the markers and parse the rest as usual. */
    while (tl > 0 && t[0] == '>') {
        t++, tl--;
        size_t k = md_skip_ws(t, tl);
        t += k, tl -= k;
    }
    if (tl == 0)
        md_flush(p);
    else if (p->st == MD_NONE && ind >= 4 && line[0] != '>')
        md_indented_code(p, line, len);
    else if (!md_heading_or_fence(p, ind, t, tl) && !md_table(p, t, tl) && !md_list(p, ind, t, tl))
        md_paragraph(p, t, tl);
}

int parse_markdown(struct ingest_ctx *c, const char *s, size_t n)
{
    struct md_parser p = {.c = c, .s = s, .n = n};
    int rc;
    kb_buf_init(&p.para, c->max_parse_bytes);
    kb_buf_init(&p.code, c->max_parse_bytes);
    while (p.pos < n && !p.rc) {
        size_t len;
        const char *line = md_line_at(s, n, p.pos, &len, &p.pos);
        if (len && line[len - 1] == '\r')
            len--;
        p.no++;
        if ((p.no & 1023) == 0 && (p.rc = ctx_check_time(c)))
            break;
        md_line(&p, line, len);
    }
    if (!p.rc && p.fence && p.code.len) {
        struct ingest_loc loc = {.line = p.fence_line};
        p.rc = doc_add(c, INGEST_BLOCK_CODE, 0, p.code.data, p.code.len, &loc);
    }
    md_flush(&p);
    if (p.st == MD_TABLE)
        doc_table_release(&p.table);
    if (p.table.head)
        doc_table_release(&p.table);
    kb_buf_release(&p.para);
    kb_buf_release(&p.code);
    rc = p.rc;
    if (rc && (!c->err || c->err->code == 0))
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    return rc;
}
