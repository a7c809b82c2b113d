/* cli/cmd_faq.c: `kbox faq`, the FAQ editor's curated answers from the command line, through rag/
 * (rag/curated.c) like GET/POST /api/faq:
 *   kbox faq list [--collection C] [--search TEXT] [--page N]
 *   kbox faq add --question Q --answer A [--similar S]... [--collection C]
 *   kbox faq import FILE [--collection C] [--format csv|xlsx]
 *   kbox faq export [--format csv|xlsx] [--out FILE] [--collection C]
 *   kbox faq rm ID
 * With --json each prints one object: list {"faq":[entry...],"total","page","page_size"} (the
 * entries as GET /api/faq renders them, rag_curated_json), add {"faq":entry}, import
 * {"imported":n}, export {"exported":path,"bytes":n} (with --out; --json without it is a usage
 * error rather than the CSV under a --json flag), rm {"deleted":id}. Errors go
 * to stderr as "kbox: ..." with exit code 2 for bad input ("row 3: answer is empty").
 * Tests: tests/cli/test_faq_cli.c. */
#include "cli/cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"

#define FAQ_CLI_MAX_SIMILAR 50
#define FAQ_CLI_MAX_FILE (64 << 20)

/* Flags shared by the subcommands. */
struct faq_args {
    const char *collection, *search, *question, *answer, *format, *out, *file;
    const char *similar[FAQ_CLI_MAX_SIMILAR];
    int n_similar;
    int64_t page, id;
};

/* The flags that take one string value. */
static const struct {
    const char *name;
    size_t off; /* offsetof the string in struct faq_args */
} faq_flags[] = {
    {"--collection", offsetof(struct faq_args, collection)}, {"--search", offsetof(struct faq_args, search)},
    {"--question", offsetof(struct faq_args, question)},     {"--answer", offsetof(struct faq_args, answer)},
    {"--format", offsetof(struct faq_args, format)},         {"--out", offsetof(struct faq_args, out)},
};

static int faq_parse(struct cli *c, struct faq_args *a, const char *sub)
{
    memset(a, 0, sizeof *a);
    a->page = 1;
    for (int i = 1; i < c->argc; i++) {
        const char *f = c->argv[i];
        const char *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;
        const char **slot = NULL;
        for (size_t k = 0; k < KB_ARRAY_LEN(faq_flags) && !slot; k++)
            if (!strcmp(f, faq_flags[k].name))
                slot = (const char **)((char *)a + faq_flags[k].off);
        if (slot && v) {
            *slot = v;
        } else if (slot || ((!strcmp(f, "--similar") || !strcmp(f, "--page")) && !v)) {
            return cli_usage("faq", "%s needs a value", f);
        } else if (!strcmp(f, "--similar") && v) {
            if (a->n_similar >= FAQ_CLI_MAX_SIMILAR)
                return cli_usage("faq", "at most %d --similar questions", FAQ_CLI_MAX_SIMILAR);
            a->similar[a->n_similar++] = v;
        } else if (!strcmp(f, "--page") && v) {
            if (kb_parse_i64(v, &a->page) || a->page < 1 || a->page > 1000000)
                return cli_usage("faq", "--page takes a number from 1");
        } else if (f[0] == '-' && f[1] == '-') {
            return cli_usage("faq", "unknown flag '%s' for faq %s", f, sub);
        } else if (!strcmp(sub, "rm") && !a->id) {
            if (kb_parse_i64(f, &a->id) || a->id <= 0)
                return cli_usage("faq", "faq rm takes the id of a curated answer");
            continue;
        } else if (!strcmp(sub, "import") && !a->file) {
            a->file = f;
            continue;
        } else {
            return cli_usage("faq", "unexpected argument '%s' for faq %s", f, sub);
        }
        i++; /* the flag's value */
    }
    return 0;
}

static char *faq_slurp(const char *path, size_t *n, struct kb_error *err)
{
    FILE *fp = fopen(path, "rb");
    struct kb_buf b;
    char chunk[65536];
    size_t got;
    int rc = 0;
    *n = 0;
    if (!fp) {
        kb_error_set(err, KB_ENOENT, "cannot open '%s'", path);
        return NULL;
    }
    kb_buf_init(&b, FAQ_CLI_MAX_FILE);
    while (!rc && (got = fread(chunk, 1, sizeof chunk, fp)) > 0)
        rc = kb_buf_append(&b, chunk, got);
    if (!rc && ferror(fp))
        rc = kb_error_set(err, KB_EIO, "cannot read '%s'", path);
    else if (rc)
        rc = kb_error_set(err, rc, "'%s' is larger than %d MiB", path, FAQ_CLI_MAX_FILE >> 20);
    fclose(fp);
    if (rc) {
        kb_buf_release(&b);
        return NULL;
    }
    *n = b.len;
    return b.data ? kb_buf_take(&b) : kb_xstrdup("");
}

static int faq_list(struct cli *c, struct rag *r, int64_t coll, const struct faq_args *a, struct kb_buf *out,
                    struct kb_error *err)
{
    struct rag_curated *e = NULL;
    int64_t total = 0;
    int n = 0, rc = rag_curated_list(r, coll, a->search, (int)a->page, 50, &e, &n, &total, err);
    if (rc)
        return rc;
    if (c->json) {
        struct jw w;
        jw_init(&w, out);
        jw_obj(&w, NULL);
        jw_arr(&w, "faq");
        for (int i = 0; i < n; i++)
            rag_curated_json(&w, NULL, &e[i]);
        jw_end_arr(&w);
        jw_int(&w, "total", total);
        jw_int(&w, "page", a->page);
        jw_int(&w, "page_size", 50);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
    } else {
        for (int i = 0; i < n; i++)
            kb_buf_printf(out, "%5lld  v%-3d %5lld uses  %s\n        %s%s\n", (long long)e[i].id, e[i].version,
                          (long long)e[i].uses, e[i].question, e[i].answer,
                          e[i].n_similar ? "  (+ similar questions)" : "");
        if (n == 0)
            kb_buf_puts(out, "no curated answers; add one with `kbox faq add --question Q --answer A`\n");
        else
            kb_buf_printf(out, "%d of %lld shown (page %lld)\n", n, (long long)total, (long long)a->page);
    }
    rag_curated_free(e, n);
    return 0;
}

static int faq_add(struct cli *c, struct rag *r, int64_t coll, const struct faq_args *a, struct kb_buf *out,
                   struct kb_error *err)
{
    struct rag_curated_input in = {.collection_id = coll, .question = a->question, .answer = a->answer,
                                   .similar = a->similar, .n_similar = a->n_similar};
    struct rag_curated e;
    int64_t id = 0;
    int rc = rag_curated_add(r, &in, &id, err);
    rc = rc ? rc : rag_curated_get(r, id, &e, err);
    if (rc)
        return rc;
    if (c->json) {
        struct jw w;
        jw_init(&w, out);
        jw_obj(&w, NULL);
        rag_curated_json(&w, "faq", &e);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
    } else {
        kb_buf_printf(out, "added curated answer %lld\n", (long long)id);
    }
    rag_curated_release(&e);
    return 0;
}

static int faq_import(struct cli *c, struct rag *r, int64_t coll, const struct faq_args *a, struct kb_buf *out,
                      struct kb_error *err)
{
    size_t n = 0;
    int imported = 0, rc;
    char *data = faq_slurp(a->file, &n, err);
    if (!data)
        return err->code;
    rc = rag_curated_import(r, coll, data, n, a->format, &imported, err);
    free(data);
    if (!rc)
        kb_buf_printf(out, c->json ? "{\"imported\":%d}\n" : "imported %d curated answers\n", imported);
    return rc;
}

static int faq_export(struct cli *c, struct rag *r, int64_t coll, const struct faq_args *a, struct kb_buf *out,
                      struct kb_error *err)
{
    struct kb_buf file;
    int rc;
    kb_buf_init(&file, 0);
    rc = rag_curated_export(r, coll, a->format ? a->format : "csv", &file, err);
    if (!rc && a->out) {
        FILE *fp = fopen(a->out, "wb");
        if (!fp || (file.len && fwrite(file.data, 1, file.len, fp) != file.len))
            rc = kb_error_set(err, KB_EIO, "cannot write '%s'", a->out);
        if (fp && fclose(fp) != 0 && !rc)
            rc = kb_error_set(err, KB_EIO, "cannot write '%s'", a->out);
        if (!rc && c->json) {
            struct jw w;
            jw_init(&w, out);
            jw_obj(&w, NULL);
            jw_str(&w, "exported", a->out);
            jw_int(&w, "bytes", (int64_t)file.len);
            jw_end_obj(&w);
            kb_buf_putc(out, '\n');
        } else if (!rc) {
            kb_buf_printf(out, "wrote %zu bytes to %s\n", file.len, a->out);
        }
    } else if (!rc && a->format && !strcmp(a->format, "xlsx")) {
        rc = kb_error_set(err, KB_EINVAL, "an XLSX export needs --out FILE");
    } else if (!rc) {
        rc = kb_buf_append(out, file.data ? file.data : "", file.len); /* the CSV itself */
    }
    kb_buf_release(&file);
    return rc;
}

int cmd_faq(struct cli *c)
{
    static const char usage[] = "usage: kbox faq list|add|import|export|rm ... (kbox help faq)";
    struct faq_args a;
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct kb_buf out;
    const char *sub = c->argc >= 1 ? c->argv[0] : "";
    int64_t coll = 0;
    int rc;
    if (strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "import") && strcmp(sub, "export") &&
        strcmp(sub, "rm"))
        return cli_usage("faq", "%s", usage);
    if ((rc = faq_parse(c, &a, sub)))
        return rc;
    if (!strcmp(sub, "add") && (!a.question || !a.answer))
        return cli_usage("faq", "faq add needs --question Q and --answer A");
    if (!strcmp(sub, "import") && !a.file)
        return cli_usage("faq", "faq import needs the FILE to import");
    if (!strcmp(sub, "rm") && !a.id)
        return cli_usage("faq", "faq rm needs the ID of a curated answer");
    if (!strcmp(sub, "export") && c->json && !a.out) /* the CSV itself would be printed, not JSON */
        return cli_usage("faq", "faq export --json reports on a file: add --out FILE (kbox faq list --json prints the "
                                "entries as JSON)");
    if ((rc = rag_open(&r, &c->cfg, &err)))
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (a.collection)
        rc = rag_collection_find(r, a.collection, &coll, &err);
    if (!rc && !strcmp(sub, "list"))
        rc = faq_list(c, r, coll, &a, &out, &err);
    else if (!rc && !strcmp(sub, "add"))
        rc = faq_add(c, r, coll, &a, &out, &err);
    else if (!rc && !strcmp(sub, "import"))
        rc = faq_import(c, r, coll, &a, &out, &err);
    else if (!rc && !strcmp(sub, "export"))
        rc = faq_export(c, r, coll, &a, &out, &err);
    else if (!rc && !strcmp(sub, "rm") && !(rc = rag_curated_delete(r, a.id, &err)))
        kb_buf_printf(&out, c->json ? "{\"deleted\":%lld}\n" : "deleted curated answer %lld\n", (long long)a.id);
    rag_close(r);
    rc = rc ? cli_fail(rc, &err) : cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
