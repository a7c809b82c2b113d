/* ingest/doc.c: the document builder every parser writes through, and the document's lifetime.
 *
 * Parsers hand raw text to doc_add*(); this file normalises it (norm.c), copies it into the
 * document's arena (capped by ingest.max_parse_bytes) and appends a block with its location.
 * Tables come in row by row (doc_table_*), becoming "Header: value, ..." records, or FAQ blocks
 * when the header has question and answer columns. doc_finish() runs once at the end: it merges
 * "Q: ..." / "A: ..." paragraph pairs into FAQ blocks, joins all block texts with "\n" into
 * doc->text and records each block's byte range in it; a document without a title takes a filing
 * cover page's registrant (doc_cover_title), else its first heading. Invariant after doc_finish(): n_blocks > 0
 * and every block's text is non-empty NFC. doc_add_paged() also keeps where later pages start in a
 * block's text: each raw offset is moved to the normalised text by normalising the prefix before it
 * (norm.c only folds locally, so that prefix is a prefix of the result, give or take one space).
 * Tests: tests/ingest/test_text.c, test_office.c, test_pdf_pages.c. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ctx_check_time(struct ingest_ctx *c)
{
    if (kb_now_s() > c->deadline_s)
        return kb_error_set(c->err, KB_ETIMEOUT, "cannot parse '%s': took longer than ingest.max_parse_seconds (%lld s)",
                            c->name, (long long)c->cfg->ingest_max_parse_seconds);
    return 0;
}

struct ingest_doc *doc_new(const char *name, size_t arena_cap_bytes)
{
    struct ingest_doc *d = kb_xcalloc(1, sizeof *d);
    kb_arena_init(&d->arena, 64 * 1024, arena_cap_bytes);
    d->name = kb_arena_strdup(&d->arena, name ? name : "(memory)");
    return d;
}

void ingest_doc_free(struct ingest_doc *doc)
{
    if (!doc)
        return;
    free(doc->blocks);
    free(doc->text);
    free(doc->chunks);
    kb_arena_release(&doc->arena);
    free(doc);
}

static int doc_cap_error(struct ingest_ctx *c)
{
    return kb_error_set(c->err, KB_ETOOBIG, "cannot parse '%s': its text passes ingest.max_parse_bytes", c->name);
}

char *doc_strndup(struct ingest_ctx *c, const char *s, size_t n)
{
    char *p = kb_arena_strndup(&c->doc->arena, s, n);
    if (!p)
        doc_cap_error(c);
    return p;
}

static struct ingest_block *doc_push(struct ingest_ctx *c)
{
    struct ingest_doc *d = c->doc;
    if (d->n_blocks == d->blocks_cap) {
        size_t ncap = d->blocks_cap ? d->blocks_cap * 2 : 64;
        if (ncap * sizeof(struct ingest_block) > c->max_parse_bytes) {
            doc_cap_error(c);
            return NULL;
        }
        struct ingest_block *nb = kb_try_realloc(d->blocks, ncap, sizeof *nb);
        if (!nb) {
            kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name);
            return NULL;
        }
        d->blocks = nb;
        d->blocks_cap = ncap;
    }
    struct ingest_block *b = &d->blocks[d->n_blocks++];
    memset(b, 0, sizeof *b);
    return b;
}

/* Normalises into a fresh arena string; *out NULL when it normalises to nothing. */
static int doc_norm(struct ingest_ctx *c, const char *s, size_t n, bool keep_lines, char **out, size_t *len)
{
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    int rc = norm_text(&b, s, n, keep_lines);
    *out = NULL;
    *len = 0;
    if (rc) {
        rc = rc == KB_ENOMEM ? kb_error_set(c->err, rc, "cannot parse '%s': out of memory", c->name) : doc_cap_error(c);
    } else if (b.len > 0) {
        *out = doc_strndup(c, b.data, b.len);
        *len = b.len;
        if (!*out)
            rc = KB_ETOOBIG;
    }
    kb_buf_release(&b);
    return rc;
}

int doc_add(struct ingest_ctx *c, enum ingest_block_kind kind, int level, const char *text, size_t n,
            const struct ingest_loc *loc)
{
    char *t;
    size_t len;
    int rc = doc_norm(c, text, n, kind == INGEST_BLOCK_CODE, &t, &len);
    if (rc || !t)
        return rc;
    struct ingest_block *b = doc_push(c);
    if (!b)
        return c->err ? c->err->code : KB_ENOMEM;
    b->kind = kind;
    b->level = level;
    b->text = t;
    b->text_bytes = len;
    if (loc)
        b->loc = *loc;
    return 0;
}

/* Byte offset in the normalised text t (len bytes) of the character at raw offset raw of s: the
 * normalised prefix s[0..raw) ends there, or one space before it (norm folds locally: a whitespace
 * run becomes at most one space, so the prefix normalises to a prefix of t). */
static size_t doc_norm_offset(struct ingest_ctx *c, const char *s, size_t raw, const char *t, size_t len)
{
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    size_t off = norm_text(&b, s, raw, false) ? len : b.len;
    kb_buf_release(&b);
    if (off < len && t[off] == ' ')
        off++;
    return KB_MIN(off, len);
}

int doc_add_paged(struct ingest_ctx *c, enum ingest_block_kind kind, int level, const char *text, size_t n,
                  const struct ingest_loc *loc, const struct ingest_page_mark *marks, size_t n_marks)
{
    size_t before = c->doc->n_blocks;
    int rc = doc_add(c, kind, level, text, n, loc);
    if (rc || n_marks == 0 || c->doc->n_blocks == before)
        goto out;
    struct ingest_block *b = &c->doc->blocks[c->doc->n_blocks - 1];
    struct ingest_page_mark *m = kb_arena_alloc(&c->doc->arena, n_marks * sizeof *m);
    if (!m) {
        rc = doc_cap_error(c);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_marks; i++) {
        size_t off = doc_norm_offset(c, text, KB_MIN(marks[i].off, n), b->text, b->text_bytes);
        if (off == 0 || off >= b->text_bytes)
            continue; /* a page change before any or after all of the text moves nothing */
        if (k && m[k - 1].off >= off)
            k--; /* two changes at one place: the later page wins */
        m[k++] = (struct ingest_page_mark){off, marks[i].page};
    }
    b->page_marks = k ? m : NULL;
    b->n_page_marks = k;
out:
    return rc;
}

int doc_add_faq(struct ingest_ctx *c, const char *q, size_t qn, const char *a, size_t an,
                const struct ingest_loc *loc)
{
    char *qt, *at;
    size_t ql, al;
    int rc = doc_norm(c, q, qn, false, &qt, &ql);
    rc = rc ? rc : doc_norm(c, a, an, false, &at, &al);
    if (rc || !qt)
        return rc;
    if (!at) /* a question without an answer is just a paragraph */
        return doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, qt, ql, loc);
    struct ingest_block *b = doc_push(c);
    if (!b)
        return c->err ? c->err->code : KB_ENOMEM;
    b->kind = INGEST_BLOCK_FAQ;
    b->text = qt;
    b->text_bytes = ql;
    b->answer = at;
    if (loc)
        b->loc = *loc;
    return 0;
}

/* ---- tables -------------------------------------------------------------------------------------- */

static bool doc_name_in(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return true;
    return false;
}

int doc_table_begin(struct ingest_ctx *c, struct doc_table *t, const char *const *cells, const size_t *lens,
                    size_t n_cells)
{
    static const char *const qn[] = {"question", "q", "questions", "问题", "问", "提问"};
    static const char *const an[] = {"answer", "a", "answers", "答案", "答", "回答"};
    memset(t, 0, sizeof *t);
    t->q_col = t->a_col = -1;
    t->id = ++c->n_tables;
    if (n_cells == 0)
        return 0;
    t->head = kb_xcalloc(n_cells, sizeof *t->head);
    t->n_head = n_cells;
    struct kb_buf line;
    kb_buf_init(&line, c->max_parse_bytes);
    int rc = 0;
    bool any = false;
    for (size_t i = 0; i < n_cells && !rc; i++) {
        struct kb_buf b;
        kb_buf_init(&b, c->max_parse_bytes);
        rc = norm_text(&b, cells[i], lens[i], false);
        t->head[i] = kb_buf_take(&b);
        if (t->head[i][0]) {
            any = true;
            if (t->q_col < 0 && doc_name_in(t->head[i], qn, KB_ARRAY_LEN(qn)))
                t->q_col = (int)i;
            else if (t->a_col < 0 && doc_name_in(t->head[i], an, KB_ARRAY_LEN(an)))
                t->a_col = (int)i;
        }
        rc = rc ? rc : kb_buf_printf(&line, "%s%s", i ? " | " : "", t->head[i]);
    }
    if (!rc && any) {
        t->header_line = doc_strndup(c, line.data, line.len);
        if (!t->header_line)
            rc = KB_ETOOBIG;
    }
    if (!any)
        t->q_col = t->a_col = -1;
    kb_buf_release(&line);
    return rc ? (c->err && c->err->code ? c->err->code : doc_cap_error(c)) : 0;
}

int doc_table_row(struct ingest_ctx *c, struct doc_table *t, const char *const *cells, const size_t *lens,
                  size_t n_cells, const struct ingest_loc *loc)
{
    if (t->q_col >= 0 && t->a_col >= 0) {
        size_t q = (size_t)t->q_col, a = (size_t)t->a_col;
        if (q < n_cells && a < n_cells)
            return doc_add_faq(c, cells[q], lens[q], cells[a], lens[a], loc);
    }
    struct kb_buf row, cell;
    kb_buf_init(&row, c->max_parse_bytes);
    kb_buf_init(&cell, c->max_parse_bytes);
    int rc = 0;
    bool first = true;
    for (size_t i = 0; i < n_cells && !rc; i++) {
        kb_buf_reset(&cell);
        rc = norm_text(&cell, cells[i], lens[i], false);
        if (rc)
            break;
        if (t->header_line) {
            if (cell.len == 0)
                continue;
            const char *h = i < t->n_head ? t->head[i] : "";
            rc = *h ? kb_buf_printf(&row, "%s%s: %s", first ? "" : ", ", h, cell.data)
                    : kb_buf_printf(&row, "%s%s", first ? "" : ", ", cell.data);
        } else {
            rc = kb_buf_printf(&row, "%s%s", first ? "" : " | ", cell.len ? cell.data : "");
        }
        first = false;
    }
    if (!rc && row.len > 0) {
        size_t before = c->doc->n_blocks;
        rc = doc_add(c, INGEST_BLOCK_TABLE_ROW, 0, row.data, row.len, loc);
        if (!rc && c->doc->n_blocks > before) {
            struct ingest_block *b = &c->doc->blocks[c->doc->n_blocks - 1];
            b->header = t->header_line;
            b->table = t->id;
        }
    } else if (rc) {
        rc = doc_cap_error(c);
    }
    kb_buf_release(&row);
    kb_buf_release(&cell);
    return rc;
}

void doc_table_release(struct doc_table *t)
{
    for (size_t i = 0; i < t->n_head; i++)
        free(t->head[i]);
    free(t->head);
    memset(t, 0, sizeof *t);
}

/* ---- Q/A markers and finishing --------------------------------------------------------------------- */

static size_t doc_marker(const char *s, size_t n, const char *const *words, size_t n_words)
{
    for (size_t i = 0; i < n_words; i++) {
        size_t wl = strlen(words[i]);
        if (n < wl || strncasecmp(s, words[i], wl) != 0)
            continue;
        size_t k = wl;
        if (k < n && s[k] == ':')
            k++;
        else if (k + 3 <= n && memcmp(s + k, "\xEF\xBC\x9A", 3) == 0) /* full-width colon */
            k += 3;
        else
            continue;
        while (k < n && s[k] == ' ')
            k++;
        return k < n ? k : 0;
    }
    return 0;
}

size_t doc_q_marker(const char *s, size_t n)
{
    static const char *const w[] = {"Q", "Question", "问题", "问"};
    return doc_marker(s, n, w, KB_ARRAY_LEN(w));
}

size_t doc_a_marker(const char *s, size_t n)
{
    static const char *const w[] = {"A", "Answer", "答案", "回答", "答"};
    return doc_marker(s, n, w, KB_ARRAY_LEN(w));
}

static bool doc_is_prose(const struct ingest_block *b)
{
    return b->kind == INGEST_BLOCK_PARAGRAPH || b->kind == INGEST_BLOCK_LIST_ITEM;
}

/* Merges "Q: ..." followed by "A: ..." (and the answer's continuation paragraphs) into FAQ blocks. */
static int doc_pair_faq(struct ingest_ctx *c)
{
    struct ingest_doc *d = c->doc;
    size_t w = 0;
    int rc = 0;
    for (size_t i = 0; i < d->n_blocks && !rc;) {
        struct ingest_block b = d->blocks[i];
        size_t qm = doc_is_prose(&b) ? doc_q_marker(b.text, b.text_bytes) : 0;
        size_t am = qm && i + 1 < d->n_blocks && doc_is_prose(&d->blocks[i + 1])
                        ? doc_a_marker(d->blocks[i + 1].text, d->blocks[i + 1].text_bytes)
                        : 0;
        if (!am) {
            d->blocks[w++] = b;
            i++;
            continue;
        }
        struct kb_buf ans;
        kb_buf_init(&ans, c->max_parse_bytes);
        rc = kb_buf_puts(&ans, d->blocks[i + 1].text + am);
        size_t j = i + 2;
        while (!rc && j < d->n_blocks && doc_is_prose(&d->blocks[j]) &&
               !doc_q_marker(d->blocks[j].text, d->blocks[j].text_bytes)) {
            rc = kb_buf_printf(&ans, "\n%s", d->blocks[j].text);
            j++;
        }
        if (!rc) {
            b.kind = INGEST_BLOCK_FAQ;
            b.level = 0;
            b.text += qm;
            b.text_bytes -= qm;
            b.answer = doc_strndup(c, ans.data, ans.len);
            rc = b.answer ? 0 : KB_ETOOBIG;
        }
        kb_buf_release(&ans);
        d->blocks[w++] = b;
        i = j;
    }
    d->n_blocks = w;
    return rc;
}

/* The block text after a case-insensitive prefix, or NULL. */
static const char *doc_after_prefix(const struct ingest_block *b, const char *prefix)
{
    size_t n = strlen(prefix);
    return b->text_bytes >= n && strncasecmp(b->text, prefix, n) == 0 ? b->text + n : NULL;
}

/* A filing's cover page names the filer on the line above "(Exact name of registrant as specified
 * in its charter)", under "FORM 10-Q" and its period or report date; its first heading is only
 * "UNITED STATES SECURITIES AND EXCHANGE COMMISSION", the same for every filing, which as the title
 * (and so every chunk's document context) would leave a knowledge base of several companies'
 * filings unable to tell them apart. Title: "BEST BUY CO., INC. Form 10-Q, quarterly period ended
 * July 29, 2023"; the form and the period when found. Only the first 40 blocks are read. */
static int doc_cover_title(struct ingest_ctx *c)
{
    struct ingest_doc *d = c->doc;
    size_t lim = KB_MIN(d->n_blocks, (size_t)40), reg = SIZE_MAX;
    for (size_t i = 1; i < lim && reg == SIZE_MAX; i++)
        if (doc_after_prefix(&d->blocks[i], "(Exact name of registrant") && d->blocks[i - 1].text_bytes <= 120)
            reg = i - 1;
    if (reg == SIZE_MAX)
        return 0;
    struct kb_buf t;
    const char *form = NULL, *when = NULL;
    size_t when_len = 0;
    int rc;
    for (size_t i = 0; i < reg; i++) {
        const struct ingest_block *b = &d->blocks[i];
        const char *v;
        if (!form && (v = doc_after_prefix(b, "FORM ")) && b->text_bytes <= 16 && !strchr(v, ' '))
            form = v;
        else if (!when && (v = doc_after_prefix(b, "For the ")) && (strncasecmp(v, "quarterly period ended ", 23) == 0 ||
                                                                   strncasecmp(v, "fiscal year ended ", 18) == 0))
            when = v, when_len = b->text_bytes - (size_t)(v - b->text);
        else if (!when && doc_after_prefix(b, "Date of Report") && (v = strstr(b->text, "): ")) != NULL) {
            when = v + 3;
            when_len = strcspn(when, "(");
            while (when_len > 0 && when[when_len - 1] == ' ')
                when_len--;
        }
    }
    kb_buf_init(&t, 512);
    rc = kb_buf_append(&t, d->blocks[reg].text, d->blocks[reg].text_bytes);
    if (!rc && form)
        rc = kb_buf_printf(&t, " Form %s", form);
    if (!rc && when && when_len > 0)
        rc = kb_buf_printf(&t, ", %.*s", (int)when_len, when);
    if (!rc && !(d->title = doc_strndup(c, t.data, t.len)))
        rc = KB_ETOOBIG;
    kb_buf_release(&t);
    return rc;
}

int doc_finish(struct ingest_ctx *c)
{
    struct ingest_doc *d = c->doc;
    int rc = doc_pair_faq(c);
    if (rc)
        return rc;
    if (d->n_blocks == 0)
        return kb_error_set(c->err, KB_EEMPTY, "cannot ingest '%s': no text found", c->name);
    if (!d->title && (rc = doc_cover_title(c)) != 0)
        return doc_cap_error(c);
    struct kb_buf t;
    kb_buf_init(&t, c->max_parse_bytes);
    for (size_t i = 0; i < d->n_blocks && !rc; i++) {
        struct ingest_block *b = &d->blocks[i];
        if (i)
            rc = kb_buf_putc(&t, '\n');
        b->off_start = t.len;
        rc = rc ? rc : kb_buf_append(&t, b->text, b->text_bytes);
        if (!rc && b->answer)
            rc = kb_buf_printf(&t, "\n%s", b->answer);
        b->off_end = t.len;
        if (!d->title && b->kind == INGEST_BLOCK_HEADING)
            d->title = b->text;
    }
    if (rc) {
        kb_buf_release(&t);
        return doc_cap_error(c);
    }
    d->text_bytes = t.len;
    d->text = kb_buf_take(&t);
    return 0;
}

/* ---- names --------------------------------------------------------------------------------------- */

const char *ingest_format_name(enum ingest_format f)
{
    static const char *const names[] = {"unknown", "text", "markdown", "html", "csv", "docx",
                                        "xlsx",    "pptx", "pdf",      "epub", "image"};
    return (size_t)f < KB_ARRAY_LEN(names) ? names[f] : "unknown";
}

const char *ingest_block_kind_name(enum ingest_block_kind k)
{
    static const char *const names[] = {"heading", "paragraph", "list_item", "table_row", "code", "faq"};
    return (size_t)k < KB_ARRAY_LEN(names) ? names[k] : "unknown";
}

const char *ingest_chunk_kind_name(enum ingest_chunk_kind k)
{
    static const char *const names[] = {"prose", "table", "faq", "code"};
    return (size_t)k < KB_ARRAY_LEN(names) ? names[k] : "unknown";
}
