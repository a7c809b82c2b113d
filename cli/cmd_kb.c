/* cli/cmd_kb.c: the knowledge-base commands: `kbox docs`, `kbox search` and `kbox ask`, plus the
 * storing half of `kbox ingest` (cli_ingest_store). Each opens the knowledge base in data.dir
 * through rag/, does one thing, and prints text or, with --json, one JSON object written with
 * base's struct jw. Documents, search hits and answers are rendered by rag (rag/render.c), so
 * `kbox docs|search|ask --json` print the objects of GET /api/documents, POST /api/search and
 * POST /api/ask.
 * Tests: tests/cli/test_json_same.c, tests/cli/test_cli.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rag/rag.h"

static int kb_open(struct cli *c, struct rag **r)
{
    struct kb_error err = {0};
    int rc = rag_open(r, &c->cfg, &err);
    return rc ? cli_fail(rc, &err) : 0;
}

/* Parses "--collection NAME" into an id (0 = all / default). */
static int kb_collection(struct rag *r, const char *name, int64_t *id)
{
    struct kb_error err = {0};
    int rc;
    *id = 0;
    if (!name)
        return 0;
    rc = rag_collection_find(r, name, id, &err);
    return rc ? cli_fail(rc, &err) : 0;
}

/* Ends a --json output object and its line. */
static void json_end(struct jw *w)
{
    jw_end_obj(w);
    kb_buf_putc(w->b, '\n');
}

int cmd_docs(struct cli *c)
{
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct rag_document *d = NULL;
    struct kb_buf out;
    int n = 0, rc;
    if (c->argc >= 1 && strcmp(c->argv[0], "rm") == 0) {
        int64_t id;
        if (c->argc != 2 || kb_parse_i64(c->argv[1], &id))
            return cli_usage("docs", "usage: kbox docs rm ID");
        if ((rc = kb_open(c, &r)))
            return rc;
        rc = rag_document_delete(r, id, &err);
        rag_close(r);
        if (rc)
            return cli_fail(rc, &err);
        printf(c->json ? "{\"deleted\":%lld}\n" : "deleted document %lld\n", (long long)id);
        return 0;
    }
    if (c->argc != 0)
        return cli_usage("docs", "usage: kbox docs [rm ID]");
    if ((rc = kb_open(c, &r)))
        return rc;
    rc = rag_documents_list(r, 0, &d, &n, &err);
    rag_close(r);
    if (rc)
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (c->json) {
        struct jw w;
        jw_init(&w, &out);
        jw_obj(&w, NULL);
        jw_arr(&w, "documents");
        for (int i = 0; i < n; i++)
            rag_document_json(&w, NULL, &d[i]); /* the objects GET /api/documents lists */
        jw_end_arr(&w);
        json_end(&w);
    } else {
        for (int i = 0; i < n; i++)
            kb_buf_printf(&out, "%5lld  %-8s %5lld chunks  %s%s%s\n", (long long)d[i].id, d[i].status,
                          (long long)d[i].n_chunks, d[i].name, d[i].error[0] ? "  error: " : "", d[i].error);
        if (n == 0)
            kb_buf_puts(&out, "no documents; add some with `kbox ingest PATH`\n");
    }
    rc = cli_print(&out);
    kb_buf_release(&out);
    rag_documents_free(d, n);
    return rc;
}

int cmd_search(struct cli *c)
{
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct rag_search_opts o = {0};
    struct rag_hit *h = NULL;
    const char *coll = NULL;
    struct kb_buf out;
    double t0, took_ms;
    int n = 0, rc;
    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        int64_t v;
        if (!strcmp(a, "--top-k") && i + 1 < c->argc) {
            if (kb_parse_i64(c->argv[++i], &v) || v < 1 || v > 1000)
                return cli_usage("search", "--top-k takes a number from 1 to 1000");
            o.top_k = (int)v;
        } else if (!strcmp(a, "--collection") && i + 1 < c->argc) {
            coll = c->argv[++i];
        } else if (!strcmp(a, "--mode") && i + 1 < c->argc) {
            const char *m = c->argv[++i];
            if (!strcmp(m, "bm25"))
                o.mode = RAG_SEARCH_BM25;
            else if (!strcmp(m, "vector"))
                o.mode = RAG_SEARCH_VECTOR;
            else if (!strcmp(m, "hybrid"))
                o.mode = RAG_SEARCH_HYBRID;
            else
                return cli_usage("search", "--mode takes bm25, vector or hybrid");
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_usage("search", "unknown flag '%s'", a);
        } else if (!o.query) {
            o.query = a;
        } else {
            return cli_usage("search", "one query, in quotes");
        }
    }
    if (!o.query)
        return cli_usage("search", "usage: kbox search \"QUERY\" [--top-k N] [--collection C] [--mode M]");
    if ((rc = kb_open(c, &r)))
        return rc;
    if ((rc = kb_collection(r, coll, &o.collection_id))) {
        rag_close(r);
        return rc;
    }
    t0 = kb_now_s();
    rc = rag_search(r, &o, &h, &n, &err);
    took_ms = (kb_now_s() - t0) * 1000.0;
    rag_close(r);
    if (rc)
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (c->json) {
        /* the object POST /api/search returns */
        struct jw w;
        jw_init(&w, &out);
        jw_obj(&w, NULL);
        rag_hits_json(&w, h, n);
        jw_num(&w, "took_ms", took_ms);
        json_end(&w);
    } else {
        for (int i = 0; i < n; i++)
            kb_buf_printf(&out, "%d. %s%s%s%s  (fused %.4f, bm25 %.3f, vector %.3f)\n   %.200s%s\n", i + 1,
                          h[i].document, h[i].heading_path[0] ? " > " : "", h[i].heading_path,
                          h[i].page_start ? " (page)" : "", h[i].fused, h[i].bm25, h[i].vector, h[i].text,
                          strlen(h[i].text) > 200 ? "..." : "");
        if (n == 0)
            kb_buf_puts(&out, "no hits\n");
    }
    rc = cli_print(&out);
    kb_buf_release(&out);
    rag_hits_free(h, n);
    return rc;
}

int cmd_ask(struct cli *c)
{
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct rag_ask_opts o = {0};
    struct rag_answer a;
    const char *coll = NULL;
    char *prompt = NULL;
    struct kb_buf out;
    int rc;
    for (int i = 0; i < c->argc; i++) {
        const char *s = c->argv[i];
        if (!strcmp(s, "--collection") && i + 1 < c->argc)
            coll = c->argv[++i];
        else if (!strcmp(s, "--show-prompt"))
            o.show_prompt = true;
        else if (s[0] == '-' && s[1] == '-')
            return cli_usage("ask", "unknown flag '%s'", s);
        else if (!o.question)
            o.question = s;
        else
            return cli_usage("ask", "one question, in quotes");
    }
    if (!o.question)
        return cli_usage("ask", "usage: kbox ask \"QUESTION\" [--collection C] [--show-prompt]");
    if ((rc = kb_open(c, &r)))
        return rc;
    if ((rc = kb_collection(r, coll, &o.collection_id))) {
        rag_close(r);
        return rc;
    }
    rc = rag_ask(r, &o, NULL, NULL, &a, &prompt, &err);
    rag_close(r);
    if (rc)
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (c->json) {
        /* the object POST /api/ask returns (no conversation here), plus the prompt when asked */
        struct jw w;
        jw_init(&w, &out);
        jw_obj(&w, NULL);
        rag_answer_json(&w, &a, NULL);
        if (prompt)
            jw_str(&w, "prompt", prompt);
        json_end(&w);
    } else {
        if (prompt)
            kb_buf_printf(&out, "--- prompt ---\n%s\n--- answer ---\n", prompt);
        kb_buf_printf(&out, "%s\n", a.answer);
        for (int i = 0; i < a.n_citations; i++) {
            const struct rag_citation *ct = &a.citations[i];
            kb_buf_printf(&out, "[%d] %s%s%s", ct->n, ct->document, ct->heading_path[0] ? " > " : "",
                          ct->heading_path);
            if (ct->page)
                kb_buf_printf(&out, ", page %d", ct->page);
            kb_buf_putc(&out, '\n');
        }
    }
    rc = cli_print(&out);
    kb_buf_release(&out);
    free(prompt);
    rag_answer_release(&a);
    return rc;
}

struct ingest_view {
    struct cli *c;
    double t0; /* kb_now_s() at the start */
};

static void ingest_progress(void *ud, const struct rag_ingest_progress *p)
{
    struct ingest_view *view = ud;
    struct cli *c = view->c;
    if (c->json) {
        struct kb_buf b;
        kb_buf_init(&b, 0);
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w, NULL);
        jw_str(&w, "path", p->path ? p->path : "");
        jw_str(&w, "status", p->status ? "failed" : p->skipped ? "unchanged" : "indexed");
        jw_str(&w, "error", p->error ? p->error : "");
        jw_int(&w, "files_done", p->files_done);
        jw_int(&w, "files_total", p->files_total);
        jw_int(&w, "chunks", p->chunks_done);
        json_end(&w);
        fputs(b.data, stdout);
        fflush(stdout);
        kb_buf_release(&b);
        return;
    }
    if (p->status)
        fprintf(stderr, "kbox: %s\n", p->error);
    if (isatty(2)) {
        double dt = kb_now_s() - view->t0, rate = dt > 0 ? p->bytes_done / 1e6 / dt : 0;
        double eta = rate > 0 ? (p->bytes_total - p->bytes_done) / 1e6 / rate : 0;
        int width = 24, fill = p->files_total ? width * p->files_done / p->files_total : width;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] %d/%d files  %lld chunks  %.1f MB/s  ETA %.0f s   ", bar, p->files_done,
                p->files_total, (long long)p->chunks_done, rate, eta);
    }
    else if (!p->status)
        printf("%s %s\n", p->skipped ? "unchanged" : "indexed  ", p->path);
}

/* `kbox ingest PATH... [--prune] [--collection C]`: stores documents (cmd_ingest.c hands over here
 * when --dry-run is absent). */
int cli_ingest_store(struct cli *c, const char *const *paths, int n_paths, bool prune, const char *collection)
{
    struct rag *r = NULL;
    struct kb_error err = {0};
    int64_t coll = 0;
    double t0 = kb_now_s();
    int rc;
    if ((rc = kb_open(c, &r)))
        return rc;
    if ((rc = kb_collection(r, collection, &coll))) {
        rag_close(r);
        return rc;
    }
    struct ingest_view view = {c, kb_now_s()};
    rc = rag_ingest_paths(r, coll, paths, n_paths, prune, ingest_progress, &view, &err);
    rag_close(r);
    if (isatty(2) && !c->json)
        fprintf(stderr, "\ndone in %.1f s\n", kb_now_s() - t0);
    return rc ? cli_fail(rc, &err) : 0;
}
