/* ingest/parse_markdown.c: Markdown (CommonMark's common subset plus GFM tables) into blocks.
 *
 * One pass over lines with a small state machine: fenced code (``` or ~~~) and code indented by 4+
 * columns after a blank line become CODE blocks,
 * ATX (#) and setext (=== / ---) headings become HEADING blocks, "-", "*", "+", "1." and "1)"
 * lines become LIST_ITEM blocks (depth from indentation, continuation lines appended), a line with
 * pipes followed by a delimiter row starts a table whose rows become TABLE_ROW blocks with the header,
 * ">" quote markers are dropped, and everything else joins into paragraphs split by blank lines.
 * Inline markup is removed (emphasis, code spans, links and images keep their text, HTML tags go),
 * never the words. Q:/A: paragraphs pair up in doc_finish(). Tests: tests/ingest/test_text.c. */
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

int parse_markdown(struct ingest_ctx *c, const char *s, size_t n)
{
    struct kb_buf para;
    kb_buf_init(&para, c->max_parse_bytes);
    struct doc_table table = {0};
    enum md_state st = MD_NONE;
    int rc = 0, no = 0, para_line = 0, list_level = 0;
    const char *fence = NULL; /* fence characters while inside fenced code */
    size_t fence_len = 0;
    int fence_line = 0;
    struct kb_buf code;
    kb_buf_init(&code, c->max_parse_bytes);

#define MD_FLUSH()                                                                                         \
    do {                                                                                                   \
        if (!rc && para.len && st == MD_PARA)                                                              \
            rc = md_add(c, INGEST_BLOCK_PARAGRAPH, 0, para.data, para.len, para_line);                     \
        else if (!rc && para.len && st == MD_LIST)                                                         \
            rc = md_add(c, INGEST_BLOCK_LIST_ITEM, list_level, para.data, para.len, para_line);            \
        if (st == MD_TABLE)                                                                                \
            doc_table_release(&table);                                                                     \
        kb_buf_reset(&para);                                                                               \
        st = MD_NONE;                                                                                      \
    } while (0)

    size_t pos = 0;
    while (pos < n && !rc) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - s) : n;
        const char *line = s + pos;
        size_t len = end - pos;
        if (len && line[len - 1] == '\r')
            len--;
        no++;
        pos = nl ? end + 1 : n;
        if ((no & 1023) == 0 && (rc = ctx_check_time(c)))
            break;

        size_t ind = md_indent(line, len);
        size_t ws = md_skip_ws(line, len);
        const char *t = line + ws;
        size_t tl = len - ws;

        if (fence) {
            if (tl >= fence_len && strncmp(t, fence, fence_len) == 0 && md_only(t, tl, fence[0], fence_len)) {
                struct ingest_loc loc = {.line = fence_line};
                rc = code.len ? doc_add(c, INGEST_BLOCK_CODE, 0, code.data, code.len, &loc) : 0;
                kb_buf_reset(&code);
                fence = NULL;
            } else {
                rc = kb_buf_append(&code, line, len);
                rc = rc ? rc : kb_buf_putc(&code, '\n');
            }
            continue;
        }
        /* Block quotes: drop the markers and parse the rest as usual. */
        while (tl > 0 && t[0] == '>') {
            t++, tl--;
            size_t k = md_skip_ws(t, tl);
            t += k, tl -= k;
        }
        if (tl == 0) {
            MD_FLUSH();
            continue;
        }
        /* Indented code: 4+ columns after a blank line, outside lists; runs to the next line that
         * is neither blank nor indented. */
        if (st == MD_NONE && ind >= 4 && line[0] != '>') {
            int code_line = no;
            kb_buf_reset(&code);
            size_t p2 = pos;
            const char *ln = line;
            size_t ll = len;
            for (;;) {
                size_t skip = 0, col = 0;
                while (skip < ll && col < 4 && (ln[skip] == ' ' || ln[skip] == '\t'))
                    col += ln[skip++] == '\t' ? 4 - col % 4 : 1;
                rc = rc ? rc : kb_buf_append(&code, ln + skip, ll - skip);
                rc = rc ? rc : kb_buf_putc(&code, '\n');
                if (p2 >= n || rc)
                    break;
                const char *nl3 = memchr(s + p2, '\n', n - p2);
                size_t e3 = nl3 ? (size_t)(nl3 - s) : n;
                const char *nx = s + p2;
                size_t nxl = e3 - p2;
                if (nxl && nx[nxl - 1] == '\r')
                    nxl--;
                bool blank = md_skip_ws(nx, nxl) == nxl;
                if (!blank && md_indent(nx, nxl) < 4)
                    break;
                ln = nx, ll = nxl;
                no++;
                p2 = nl3 ? e3 + 1 : n;
            }
            pos = p2;
            struct ingest_loc loc = {.line = code_line};
            if (!rc && code.len)
                rc = doc_add(c, INGEST_BLOCK_CODE, 0, code.data, code.len, &loc);
            kb_buf_reset(&code);
            continue;
        }
        if (ind < 4 && tl >= 3 && (strncmp(t, "```", 3) == 0 || strncmp(t, "~~~", 3) == 0)) {
            MD_FLUSH();
            fence = t[0] == '`' ? "```" : "~~~";
            fence_len = 3;
            fence_line = no + 1;
            continue;
        }
        if (ind < 4 && t[0] == '#') {
            size_t h = 0;
            while (h < tl && t[h] == '#')
                h++;
            if (h <= 6 && (h == tl || t[h] == ' ' || t[h] == '\t')) {
                MD_FLUSH();
                size_t e = tl;
                while (e > h && (t[e - 1] == '#' || t[e - 1] == ' ' || t[e - 1] == '\t'))
                    e--;
                rc = md_add(c, INGEST_BLOCK_HEADING, (int)h, t + h, e > h ? e - h : 0, no);
                continue;
            }
        }
        if (st == MD_PARA && (md_only(t, tl, '=', 1) || md_only(t, tl, '-', 1))) {
            rc = md_add(c, INGEST_BLOCK_HEADING, t[0] == '=' ? 1 : 2, para.data, para.len, para_line);
            kb_buf_reset(&para);
            st = MD_NONE;
            continue;
        }
        if (md_only(t, tl, '-', 3) || md_only(t, tl, '*', 3) || md_only(t, tl, '_', 3)) {
            MD_FLUSH();
            continue;
        }
        if (st == MD_TABLE) {
            if (memchr(t, '|', tl)) {
                rc = md_table_line(c, &table, t, tl, no, false);
                continue;
            }
            MD_FLUSH();
        }
        if (memchr(t, '|', tl) && pos < n) {
            const char *nl2 = memchr(s + pos, '\n', n - pos);
            size_t e2 = nl2 ? (size_t)(nl2 - s) : n;
            if (md_delim_row(s + pos, e2 - pos)) {
                MD_FLUSH();
                rc = md_table_line(c, &table, t, tl, no, true);
                st = MD_TABLE;
                no++;
                pos = nl2 ? e2 + 1 : n;
                continue;
            }
        }
        size_t lm = md_list_marker(t, tl);
        if (lm) {
            MD_FLUSH();
            st = MD_LIST;
            list_level = (int)(ind / 2) + 1;
            para_line = no;
            rc = kb_buf_append(&para, t + lm, tl - lm);
            continue;
        }
        if (st == MD_LIST && ind >= 2) { /* continuation of the list item */
            rc = kb_buf_putc(&para, '\n');
            rc = rc ? rc : kb_buf_append(&para, t, tl);
            continue;
        }
        /* Q:/A: lines start their own paragraph so they can pair up. */
        if (st != MD_NONE && (doc_q_marker(t, tl) || doc_a_marker(t, tl)))
            MD_FLUSH();
        if (st == MD_LIST)
            MD_FLUSH();
        if (st == MD_NONE) {
            st = MD_PARA;
            para_line = no;
        } else {
            rc = kb_buf_putc(&para, '\n');
        }
        rc = rc ? rc : kb_buf_append(&para, t, tl);
    }
    if (!rc && fence && code.len) {
        struct ingest_loc loc = {.line = fence_line};
        rc = doc_add(c, INGEST_BLOCK_CODE, 0, code.data, code.len, &loc);
    }
    MD_FLUSH();
#undef MD_FLUSH
    if (st == MD_TABLE)
        doc_table_release(&table);
    if (table.head)
        doc_table_release(&table);
    kb_buf_release(&para);
    kb_buf_release(&code);
    if (rc && (!c->err || c->err->code == 0))
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    return rc;
}
