/* ingest/parse_html.c: HTML into blocks.
 *
 * Bytes are decoded to UTF-8 first (encoding.c): a BOM wins, then a charset declared in a <meta>
 * tag within the first 4 KiB, then UTF-8 validity, then GB18030. libxml2's HTML parser (xml.c)
 * builds the tree; this file walks it with a depth-limited recursion (subtrees deeper than
 * HTML_MAX_DEPTH are read as flat text). Dropped: script, style, nav, noscript, template, svg, head
 * (its <title> becomes the document title). Kept: h1-h6 as headings, block elements as paragraphs,
 * li as list items with their nesting depth, pre as code, tables as rows under their first row as
 * header; inline elements join into the surrounding text. Tests: tests/ingest/test_text.c. */
#include "ingest/ingest_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define HTML_MAX_DEPTH 128

struct hwalk {
    struct ingest_ctx *c;
    struct kb_buf para;
    enum ingest_block_kind kind;
    int level;
    int rc;
};

/* Finds charset=NAME inside a <meta ...> tag in the first 4 KiB; copies NAME into out. */
static bool html_meta_charset(const char *s, size_t n, char *out, size_t out_bytes)
{
    n = KB_MIN(n, (size_t)4096);
    for (size_t i = 0; i + 5 < n; i++) {
        if (s[i] != '<' || strncasecmp(s + i + 1, "meta", 4) != 0)
            continue;
        const char *end = memchr(s + i, '>', n - i);
        size_t tl = end ? (size_t)(end - (s + i)) : n - i;
        for (size_t j = i; j + 8 <= i + tl; j++) {
            if (strncasecmp(s + j, "charset=", 8) != 0)
                continue;
            size_t k = j + 8;
            while (k < i + tl && (s[k] == '"' || s[k] == '\'' || s[k] == ' '))
                k++;
            size_t o = 0;
            while (k < i + tl && o + 1 < out_bytes && (isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == '_'))
                out[o++] = s[k++];
            out[o] = '\0';
            return o > 0;
        }
    }
    return false;
}

static void html_flush(struct hwalk *w)
{
    if (!w->rc && w->para.len)
        w->rc = doc_add(w->c, w->kind, w->kind == INGEST_BLOCK_LIST_ITEM ? w->level : 0, w->para.data, w->para.len, NULL);
    kb_buf_reset(&w->para);
    w->kind = INGEST_BLOCK_PARAGRAPH;
}

static bool html_in(const char *name, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, set[i]) == 0)
            return true;
    return false;
}

static void html_table(struct hwalk *w, const struct xml_node *table)
{
    struct ingest_ctx *c = w->c;
    struct doc_table t = {0};
    bool begun = false;
    /* Rows: direct tr children, or inside thead/tbody/tfoot. */
    for (const struct xml_node *g = table->child; g && !w->rc; g = g->next) {
        const struct xml_node *rows_parent = NULL, *single = NULL;
        if (xml_is(g, "tr"))
            single = g;
        else if (xml_is(g, "thead") || xml_is(g, "tbody") || xml_is(g, "tfoot"))
            rows_parent = g;
        else
            continue;
        for (const struct xml_node *r = single ? single : rows_parent->child; r && !w->rc; r = single ? NULL : r->next) {
            if (!xml_is(r, "tr"))
                continue;
            struct kb_buf cellbuf[64];
            const char *cells[64];
            size_t lens[64], k = 0;
            for (const struct xml_node *td = r->child; td && k < 64; td = td->next) {
                if (!xml_is(td, "td") && !xml_is(td, "th"))
                    continue;
                kb_buf_init(&cellbuf[k], c->max_parse_bytes);
                if (xml_text(td, &cellbuf[k]))
                    w->rc = KB_ETOOBIG;
                cells[k] = cellbuf[k].data ? cellbuf[k].data : "";
                lens[k] = cellbuf[k].len;
                k++;
            }
            if (!w->rc && k > 0) {
                if (!begun) {
                    w->rc = doc_table_begin(c, &t, cells, lens, k);
                    begun = true;
                } else {
                    w->rc = doc_table_row(c, &t, cells, lens, k, NULL);
                }
            }
            for (size_t i = 0; i < k; i++)
                kb_buf_release(&cellbuf[i]);
            if (single)
                break;
        }
    }
    /* A table of one row (header only) still carries text. */
    if (!w->rc && begun && t.header_line && (c->doc->n_blocks == 0 || c->doc->blocks[c->doc->n_blocks - 1].table != t.id))
        w->rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, t.header_line, strlen(t.header_line), NULL);
    doc_table_release(&t);
}

static void html_walk(struct hwalk *w, const struct xml_node *n, int depth, int list_depth)
{
    static const char *const drop[] = {"script", "style", "nav", "noscript", "template", "svg", "head", "iframe",
                                       "object", "canvas", "select", "button"};
    static const char *const block[] = {"p",       "div",    "section", "article", "main",   "blockquote",
                                        "dd",      "dt",     "dl",      "figure",  "figcaption", "address",
                                        "header",  "footer", "aside",   "form",    "fieldset", "details",
                                        "summary", "hr",     "body",    "html",    "center", "caption"};
    for (const struct xml_node *k = n->child; k && !w->rc; k = k->next) {
        if (!k->name) {
            if (kb_buf_puts(&w->para, k->text))
                w->rc = KB_ETOOBIG;
            continue;
        }
        const char *nm = k->name;
        if (html_in(nm, drop, KB_ARRAY_LEN(drop)))
            continue;
        if (depth >= HTML_MAX_DEPTH) {
            if (xml_text(k, &w->para))
                w->rc = KB_ETOOBIG;
            continue;
        }
        if (nm[0] == 'h' && nm[1] >= '1' && nm[1] <= '6' && nm[2] == '\0') {
            html_flush(w);
            struct kb_buf b;
            kb_buf_init(&b, w->c->max_parse_bytes);
            if (xml_text(k, &b))
                w->rc = KB_ETOOBIG;
            if (!w->rc && b.len)
                w->rc = doc_add(w->c, INGEST_BLOCK_HEADING, nm[1] - '0', b.data, b.len, NULL);
            kb_buf_release(&b);
        } else if (strcmp(nm, "br") == 0) {
            if (kb_buf_putc(&w->para, '\n'))
                w->rc = KB_ETOOBIG;
        } else if (strcmp(nm, "pre") == 0) {
            html_flush(w);
            struct kb_buf b;
            kb_buf_init(&b, w->c->max_parse_bytes);
            if (xml_text(k, &b))
                w->rc = KB_ETOOBIG;
            if (!w->rc && b.len)
                w->rc = doc_add(w->c, INGEST_BLOCK_CODE, 0, b.data, b.len, NULL);
            kb_buf_release(&b);
        } else if (strcmp(nm, "table") == 0) {
            html_flush(w);
            html_table(w, k);
        } else if (strcmp(nm, "ul") == 0 || strcmp(nm, "ol") == 0) {
            html_flush(w);
            html_walk(w, k, depth + 1, list_depth + 1);
            html_flush(w);
        } else if (strcmp(nm, "li") == 0) {
            html_flush(w);
            w->kind = INGEST_BLOCK_LIST_ITEM;
            w->level = KB_MAX(list_depth, 1);
            html_walk(w, k, depth + 1, list_depth);
            w->kind = INGEST_BLOCK_LIST_ITEM;
            w->level = KB_MAX(list_depth, 1);
            html_flush(w);
        } else if (html_in(nm, block, KB_ARRAY_LEN(block))) {
            enum ingest_block_kind kind = w->kind;
            int level = w->level;
            if (w->para.len)
                html_flush(w);
            w->kind = kind; /* a <p> inside <li> is still the list item */
            w->level = level;
            html_walk(w, k, depth + 1, list_depth);
            w->kind = kind;
            w->level = level;
            html_flush(w);
            w->kind = kind;
            w->level = level;
        } else {
            html_walk(w, k, depth + 1, list_depth);
        }
    }
}

int parse_html(struct ingest_ctx *c, const char *data, size_t n)
{
    char cs[48];
    const char *charset = html_meta_charset(data, n, cs, sizeof cs) ? cs : NULL;
    struct kb_buf u;
    kb_buf_init(&u, c->max_parse_bytes);
    int rc = enc_to_utf8(c, data, n, charset, &u, NULL);
    struct kb_arena scratch;
    kb_arena_init(&scratch, 256 * 1024, c->max_parse_bytes);
    struct xml_node *root = NULL;
    if (!rc)
        rc = xml_parse(c, &scratch, u.data ? u.data : "", u.len, true, &root);
    if (!rc) {
        struct xml_node *title = xml_find(root, "title");
        if (title) {
            struct kb_buf tb, nb;
            kb_buf_init(&tb, 64 * 1024);
            kb_buf_init(&nb, 64 * 1024);
            if (!xml_text(title, &tb) && tb.len && !norm_text(&nb, tb.data, tb.len, false) && nb.len)
                c->doc->title = doc_strndup(c, nb.data, nb.len);
            kb_buf_release(&tb);
            kb_buf_release(&nb);
        }
        struct hwalk w = {.c = c, .kind = INGEST_BLOCK_PARAGRAPH};
        kb_buf_init(&w.para, c->max_parse_bytes);
        html_walk(&w, root, 0, 0);
        html_flush(&w);
        kb_buf_release(&w.para);
        rc = w.rc;
        if (rc && (!c->err || c->err->code == 0))
            rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    }
    kb_arena_release(&scratch);
    kb_buf_release(&u);
    return rc;
}
