/* ingest/parse_csv.c: CSV (RFC 4180, already UTF-8) into table rows or FAQ pairs.
 *
 * The delimiter is the one of , ; TAB that occurs most in the first record outside quotes. Quoted
 * fields may hold delimiters, doubled quotes and line breaks. The first record is the header; each
 * later record becomes a TABLE_ROW "Header: value, ..." (doc_table_row), or a FAQ block when the
 * header names question and answer columns. loc.row is the record number (header = 1) and loc.line
 * the source line where the record starts. Fields are views into a scratch buffer reused per record.
 * Tests: tests/ingest/test_text.c. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

#define CSV_MAX_FIELDS 1024

static char csv_delimiter(const char *s, size_t n)
{
    static const char cand[] = {',', ';', '\t'};
    size_t best = 0;
    char pick = ',';
    for (size_t k = 0; k < sizeof cand; k++) {
        size_t cnt = 0;
        bool q = false;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"')
                q = !q;
            else if (!q && s[i] == '\n')
                break;
            else if (!q && s[i] == cand[k])
                cnt++;
        }
        if (cnt > best) {
            best = cnt;
            pick = cand[k];
        }
    }
    return pick;
}

/* Reads one record starting at *pos into fields (unquoted text in buf). Returns the field count. */
static size_t csv_record(const char *s, size_t n, size_t *pos, char delim, struct kb_buf *buf, size_t *starts,
                         size_t *lens, int *lines, int *rc)
{
    size_t i = *pos, k = 0;
    kb_buf_reset(buf);
    starts[0] = 0;
    bool q = false, at_start = true;
    while (i < n && !*rc) {
        char ch = s[i];
        if (q) {
            if (ch == '"' && i + 1 < n && s[i + 1] == '"') {
                *rc = kb_buf_putc(buf, '"');
                i += 2;
                continue;
            }
            if (ch == '"') {
                q = false;
                i++;
                continue;
            }
            if (ch == '\n')
                (*lines)++;
            *rc = kb_buf_putc(buf, ch);
            i++;
            continue;
        }
        if (ch == '"' && at_start) {
            q = true;
            at_start = false;
            i++;
            continue;
        }
        if (ch == delim || ch == '\n' || ch == '\r') {
            if (k < CSV_MAX_FIELDS) {
                lens[k] = buf->len - starts[k];
                k++;
            }
            *rc = *rc ? *rc : kb_buf_putc(buf, '\0');
            if (k < CSV_MAX_FIELDS)
                starts[k] = buf->len;
            at_start = true;
            i++;
            if (ch == '\r' && i < n && s[i] == '\n')
                i++;
            if (ch != delim) {
                (*lines)++;
                *pos = i;
                return k;
            }
            continue;
        }
        at_start = false;
        *rc = kb_buf_putc(buf, ch);
        i++;
    }
    if (k < CSV_MAX_FIELDS) {
        lens[k] = buf->len - starts[k];
        k++;
    }
    *rc = *rc ? *rc : kb_buf_putc(buf, '\0');
    *pos = n;
    return k;
}

int parse_csv(struct ingest_ctx *c, const char *s, size_t n)
{
    size_t *starts = kb_xmalloc(sizeof(size_t) * (CSV_MAX_FIELDS + 1));
    size_t *lens = kb_xmalloc(sizeof(size_t) * CSV_MAX_FIELDS);
    const char **cells = kb_xmalloc(sizeof(char *) * CSV_MAX_FIELDS);
    struct kb_buf buf;
    kb_buf_init(&buf, c->max_parse_bytes);
    struct doc_table t = {0};
    char delim = csv_delimiter(s, n);
    size_t pos = 0;
    int rc = 0, line = 1, row = 0;
    bool have_header = false;
    while (pos < n && !rc) {
        int start_line = line;
        size_t k = csv_record(s, n, &pos, delim, &buf, starts, lens, &line, &rc);
        if (rc)
            break;
        bool empty = true;
        for (size_t i = 0; i < k && empty; i++)
            empty = lens[i] == 0;
        if (empty)
            continue;
        row++;
        for (size_t i = 0; i < k; i++)
            cells[i] = buf.data + starts[i];
        if (!have_header) {
            rc = doc_table_begin(c, &t, cells, lens, k);
            have_header = true;
        } else {
            struct ingest_loc loc = {.row = row, .line = start_line};
            rc = doc_table_row(c, &t, cells, lens, k, &loc);
        }
        if (!rc && (row & 1023) == 0)
            rc = ctx_check_time(c);
    }
    /* A lone header line is still text: keep it as a paragraph rather than report nothing. */
    if (!rc && row == 1 && t.header_line)
        rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, t.header_line, strlen(t.header_line), NULL);
    if (rc && (!c->err || c->err->code == 0))
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    doc_table_release(&t);
    kb_buf_release(&buf);
    free(starts);
    free(lens);
    free(cells);
    return rc;
}
