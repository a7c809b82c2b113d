/* cli/cmd_ingest.c: `kbox ingest --dry-run FILE... [--json] [--no-blocks]`.
 *
 * Each file goes through ingest_parse_file() and ingest_chunk() on its own: a bad file prints its
 * error to stderr ("kbox: cannot ingest 'x.pdf': ...") and, with --json, an {"ok":false} entry, while
 * the other files still go through. Output (stdout): per file the detected format, the blocks with
 * their locations and the chunks with heading path, locations and token estimate; --no-blocks omits
 * the blocks. Exit: 0 when every file parsed, else the worst exit code of the failures (2 for bad
 * input). Without --dry-run, `kbox ingest [--prune] [--collection C] PATH...` stores the files (and
 * folders, recursively) through rag/: cli_ingest_store() in cmd_kb.c. Tests: tests/ingest/test_cli_ingest.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

static int ingest_json_loc(struct kb_buf *o, int page_a, int page_b, int slide_a, int slide_b, const char *sheet,
                           int row_a, int row_b, int line_a, int line_b)
{
    int rc = 0;
    if (page_a)
        rc = kb_buf_printf(o, ",\"page_first\":%d,\"page_last\":%d", page_a, page_b);
    if (!rc && slide_a)
        rc = kb_buf_printf(o, ",\"slide_first\":%d,\"slide_last\":%d", slide_a, slide_b);
    if (!rc && sheet) {
        rc = kb_buf_puts(o, ",\"sheet\":");
        rc = rc ? rc : kb_buf_put_json_str(o, sheet, strlen(sheet));
    }
    if (!rc && row_a)
        rc = kb_buf_printf(o, ",\"row_first\":%d,\"row_last\":%d", row_a, row_b);
    if (!rc && line_a)
        rc = kb_buf_printf(o, ",\"line_first\":%d,\"line_last\":%d", line_a, line_b);
    return rc;
}

static int ingest_json_doc(struct kb_buf *o, const char *path, const struct ingest_doc *d, bool blocks)
{
    int rc = kb_buf_puts(o, "{\"path\":");
    rc = rc ? rc : kb_buf_put_json_str(o, path, strlen(path));
    rc = rc ? rc : kb_buf_printf(o, ",\"ok\":true,\"format\":\"%s\",\"n_pages\":%d,\"title\":", ingest_format_name(d->format),
                                 d->n_pages);
    rc = rc ? rc : (d->title ? kb_buf_put_json_str(o, d->title, strlen(d->title)) : kb_buf_puts(o, "null"));
    rc = rc ? rc : kb_buf_printf(o, ",\"n_blocks\":%zu,\"n_chunks\":%zu", d->n_blocks, d->n_chunks);
    if (blocks) {
        rc = rc ? rc : kb_buf_puts(o, ",\"blocks\":[");
        for (size_t i = 0; i < d->n_blocks && !rc; i++) {
            const struct ingest_block *b = &d->blocks[i];
            rc = kb_buf_printf(o, "%s{\"kind\":\"%s\",\"level\":%d,\"text\":", i ? "," : "",
                               ingest_block_kind_name(b->kind), b->level);
            rc = rc ? rc : kb_buf_put_json_str(o, b->text, b->text_bytes);
            if (!rc && b->answer) {
                rc = kb_buf_puts(o, ",\"answer\":");
                rc = rc ? rc : kb_buf_put_json_str(o, b->answer, strlen(b->answer));
            }
            if (!rc && b->header) {
                rc = kb_buf_puts(o, ",\"header\":");
                rc = rc ? rc : kb_buf_put_json_str(o, b->header, strlen(b->header));
            }
            int last = b->n_page_marks ? b->page_marks[b->n_page_marks - 1].page : b->loc.page;
            rc = rc ? rc
                    : ingest_json_loc(o, b->loc.page, last, b->loc.slide, b->loc.slide, b->loc.sheet, b->loc.row,
                                      b->loc.row, b->loc.line, b->loc.line);
            rc = rc ? rc : kb_buf_printf(o, ",\"start\":%zu,\"end\":%zu}", b->off_start, b->off_end);
        }
        rc = rc ? rc : kb_buf_puts(o, "]");
    }
    rc = rc ? rc : kb_buf_puts(o, ",\"chunks\":[");
    for (size_t i = 0; i < d->n_chunks && !rc; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        rc = kb_buf_printf(o, "%s{\"kind\":\"%s\",\"tokens\":%d,\"heading_path\":", i ? "," : "",
                           ingest_chunk_kind_name(c->kind), c->n_tokens);
        rc = rc ? rc : kb_buf_put_json_str(o, c->heading_path, strlen(c->heading_path));
        rc = rc ? rc
                : ingest_json_loc(o, c->page_first, c->page_last, c->slide_first, c->slide_last, c->sheet, c->row_first,
                                  c->row_last, c->line_first, c->line_last);
        if (!rc && c->page_map && c->page_map[0])
            rc = kb_buf_printf(o, ",\"page_map\":\"%s\"", c->page_map);
        rc = rc ? rc : kb_buf_printf(o, ",\"start\":%zu,\"end\":%zu,\"text\":", c->off_start, c->off_end);
        rc = rc ? rc : kb_buf_put_json_str(o, c->text, c->text_bytes);
        rc = rc ? rc : kb_buf_puts(o, "}");
    }
    return rc ? rc : kb_buf_puts(o, "]}");
}

static int ingest_text_loc(struct kb_buf *o, const char *what, int a, int b)
{
    if (!a)
        return 0;
    return a == b ? kb_buf_printf(o, " %s %d", what, a) : kb_buf_printf(o, " %s %d-%d", what, a, b);
}

static int ingest_text_doc(struct kb_buf *o, const char *path, const struct ingest_doc *d, bool blocks)
{
    int rc = kb_buf_printf(o, "== %s: %s, %zu blocks, %zu chunks\n", path, ingest_format_name(d->format), d->n_blocks,
                           d->n_chunks);
    if (blocks) {
        rc = rc ? rc : kb_buf_puts(o, "blocks:\n");
        for (size_t i = 0; i < d->n_blocks && !rc; i++) {
            const struct ingest_block *b = &d->blocks[i];
            rc = kb_buf_printf(o, "  [%zu] %s", i, ingest_block_kind_name(b->kind));
            if (!rc && b->level)
                rc = kb_buf_printf(o, " L%d", b->level);
            rc = rc ? rc : ingest_text_loc(o, "page", b->loc.page, b->loc.page);
            rc = rc ? rc : ingest_text_loc(o, "slide", b->loc.slide, b->loc.slide);
            if (!rc && b->loc.sheet)
                rc = kb_buf_printf(o, " sheet '%s'", b->loc.sheet);
            rc = rc ? rc : ingest_text_loc(o, "row", b->loc.row, b->loc.row);
            rc = rc ? rc : ingest_text_loc(o, "line", b->loc.line, b->loc.line);
            rc = rc ? rc : kb_buf_printf(o, ": %s", b->text);
            if (!rc && b->answer)
                rc = kb_buf_printf(o, " => %s", b->answer);
            rc = rc ? rc : kb_buf_putc(o, '\n');
        }
    }
    rc = rc ? rc : kb_buf_puts(o, "chunks:\n");
    for (size_t i = 0; i < d->n_chunks && !rc; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        rc = kb_buf_printf(o, "  #%zu %s, %d tokens, [%s]", i, ingest_chunk_kind_name(c->kind), c->n_tokens,
                           c->heading_path);
        rc = rc ? rc : ingest_text_loc(o, "page", c->page_first, c->page_last);
        rc = rc ? rc : ingest_text_loc(o, "slide", c->slide_first, c->slide_last);
        if (!rc && c->sheet)
            rc = kb_buf_printf(o, " sheet '%s'", c->sheet);
        rc = rc ? rc : ingest_text_loc(o, "row", c->row_first, c->row_last);
        rc = rc ? rc : ingest_text_loc(o, "line", c->line_first, c->line_last);
        rc = rc ? rc : kb_buf_puts(o, "\n    ");
        for (size_t k = 0; k < c->text_bytes && !rc; k++)
            rc = c->text[k] == '\n' ? kb_buf_puts(o, "\n    ") : kb_buf_putc(o, c->text[k]);
        rc = rc ? rc : kb_buf_putc(o, '\n');
    }
    return rc;
}

int cmd_ingest(struct cli *c)
{
    bool dry = false, blocks = true, prune = false;
    const char *collection = NULL;
    int n_files = 0;
    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (!strcmp(a, "--dry-run"))
            dry = true;
        else if (!strcmp(a, "--prune"))
            prune = true;
        else if (!strcmp(a, "--collection") && i + 1 < c->argc)
            collection = c->argv[++i];
        else if (!strcmp(a, "--no-blocks"))
            blocks = false;
        else if (!strcmp(a, "--json"))
            c->json = true;
        else if (a[0] == '-' && a[1] == '-')
            return cli_usage("ingest", "unknown flag '%s'", a);
        else
            n_files++;
    }
    if (n_files == 0)
        return cli_usage("ingest", "ingest needs at least one file");
    if (!dry) {
        /* Storing goes through rag/ (cli/cmd_kb.c). */
        const char **paths = kb_xcalloc((size_t)c->argc + 1, sizeof *paths);
        int n = 0, rc;
        for (int i = 0; i < c->argc; i++) {
            if (!strcmp(c->argv[i], "--collection"))
                i++;
            else if (strncmp(c->argv[i], "--", 2))
                paths[n++] = c->argv[i];
        }
        rc = cli_ingest_store(c, paths, n, prune, collection);
        free(paths);
        return rc;
    }
    int worst = CLI_EXIT_OK, k = 0;
    if (c->json)
        fputs("{\"files\":[", stdout);
    for (int i = 0; i < c->argc; i++) {
        const char *path = c->argv[i];
        if (!strcmp(path, "--collection")) {
            i++;
            continue;
        }
        if (path[0] == '-' && path[1] == '-')
            continue;
        struct kb_error err = {0};
        struct ingest_doc *doc = NULL;
        struct kb_buf out;
        kb_buf_init(&out, 0);
        int rc = ingest_parse_file(&c->cfg, path, &doc, &err);
        rc = rc ? rc : ingest_chunk(&c->cfg, doc, &err);
        if (rc) {
            int code = cli_fail(rc, &err);
            worst = KB_MAX(worst, code);
            if (c->json) {
                const char *msg = kb_error_msg(&err, rc);
                kb_buf_printf(&out, "%s{\"path\":", k ? "," : "");
                kb_buf_put_json_str(&out, path, strlen(path));
                kb_buf_printf(&out, ",\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":", kb_err_name(rc));
                kb_buf_put_json_str(&out, msg, strlen(msg));
                kb_buf_puts(&out, "}}");
            }
        } else {
            int wr = c->json ? (k ? kb_buf_putc(&out, ',') : 0) : 0;
            wr = wr ? wr : (c->json ? ingest_json_doc(&out, path, doc, blocks) : ingest_text_doc(&out, path, doc, blocks));
            if (wr) {
                fprintf(stderr, "kbox: cannot print '%s': output too large\n", path);
                worst = KB_MAX(worst, CLI_EXIT_INTERNAL);
            }
        }
        k++;
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
            worst = CLI_EXIT_INTERNAL;
        kb_buf_release(&out);
        ingest_doc_free(doc);
    }
    if (c->json)
        fputs("]}\n", stdout);
    if (fflush(stdout) != 0)
        worst = CLI_EXIT_INTERNAL;
    return worst;
}
