/* cli/cmd_logs.c: `kbox logs`, the conversation log from the command line (rag/log.c does the work,
 * the same functions as GET /api/logs/export and GET /api/stats):
 *   kbox logs export [--format csv|jsonl] [--from D] [--to D] [--collection C] [--channel X] [--out F]
 *        the logged messages, oldest first, to stdout or F (default jsonl; --json means jsonl)
 *   kbox logs stats [--from D] [--to D] [--collection C] [--json]   the analytics of /api/stats
 *   kbox logs purge [--json]     deletes messages older than log.retention_days now
 * Dates are YYYY-MM-DD (UTC; --to includes its day) or unix seconds. Tests: tests/web/test_log.c
 * (test_cli: over a data directory `kbox serve` logged into). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KBOX_HAVE_RAG
#include "rag/rag.h"

struct logs_args {
    const char *format, *from, *to, *collection, *channel, *out;
};

static int logs_flags(struct cli *c, struct logs_args *a, bool export)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < c->argc; i++) {
        const char *f = c->argv[i], *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;
        const char **slot = strcmp(f, "--from") == 0 ? &a->from
                          : strcmp(f, "--to") == 0 ? &a->to
                          : strcmp(f, "--collection") == 0 ? &a->collection
                          : export && strcmp(f, "--format") == 0 ? &a->format
                          : export && strcmp(f, "--channel") == 0 ? &a->channel
                          : export && strcmp(f, "--out") == 0 ? &a->out
                          : NULL;
        if (!slot)
            return cli_usage("logs", "unknown flag '%s'", f);
        if (!v)
            return cli_usage("logs", "%s needs a value", f);
        *slot = v;
        i++;
    }
    return 0;
}

static int logs_query(struct rag *r, const struct logs_args *a, struct rag_log_query *q, struct kb_error *err)
{
    int rc;
    memset(q, 0, sizeof *q);
    q->channel = a->channel;
    if ((rc = rag_log_parse_date("--from", a->from, false, &q->from, err)) ||
        (rc = rag_log_parse_date("--to", a->to, true, &q->to, err)))
        return rc;
    if (a->collection && (rc = rag_collection_find(r, a->collection, &q->collection_id, err)))
        return rc;
    return rag_log_query_check(q, err);
}

static int logs_write(void *ud, const char *p, size_t n)
{
    return fwrite(p, 1, n, (FILE *)ud) == n ? 0 : KB_EIO;
}

static int logs_export(struct cli *c, struct rag *r, const struct logs_args *a, struct kb_error *err)
{
    struct rag_log_query q;
    FILE *f = stdout;
    int rc = logs_query(r, a, &q, err);
    if (rc)
        return rc;
    if (a->out && !(f = fopen(a->out, "w")))
        return kb_error_set(err, KB_EIO, "cannot write '%s'", a->out);
    rc = rag_log_export(r, &q, a->format ? a->format : "jsonl", logs_write, f, err);
    if (rc == KB_EIO && !err->msg[0])
        rc = kb_error_set(err, KB_EIO, "cannot write the export");
    if (f != stdout && fclose(f) != 0 && rc == 0)
        rc = kb_error_set(err, KB_EIO, "cannot write '%s'", a->out);
    (void)c;
    return rc;
}

/* Human text of the stats object: the headline numbers, then the JSON for the lists. */
static int logs_stats(struct cli *c, struct rag *r, const struct logs_args *a, struct kb_error *err)
{
    struct rag_log_query q;
    struct kb_buf out;
    struct jw w;
    int rc = logs_query(r, a, &q, err);
    if (rc)
        return rc;
    kb_buf_init(&out, 0);
    jw_init(&w, &out);
    jw_obj(&w, NULL);
    rc = rag_log_stats_json(r, &q, &w, err);
    jw_end_obj(&w);
    kb_buf_putc(&out, '\n');
    if (rc == 0 && c->json) {
        rc = cli_print(&out) ? KB_EIO : 0;
    } else if (rc == 0) {
        struct kb_json *v = NULL;
        if ((rc = kb_json_parse(&v, out.data, out.len, NULL, err)) == 0) {
            printf("questions %.0f, answered %.0f, fallback %.0f, handed off %.0f\n",
                   kb_json_num(kb_json_get(v, "questions")), kb_json_num(kb_json_get(v, "answered")),
                   kb_json_num(kb_json_get(v, "fallback")), kb_json_num(kb_json_get(v, "handed_off")));
            printf("thumbs up %.0f, down %.0f; latency p50 %.1f ms, p95 %.1f ms\n",
                   kb_json_num(kb_json_get(kb_json_get(v, "thumbs"), "up")),
                   kb_json_num(kb_json_get(kb_json_get(v, "thumbs"), "down")),
                   kb_json_num(kb_json_get(kb_json_get(v, "latency_ms"), "p50")),
                   kb_json_num(kb_json_get(kb_json_get(v, "latency_ms"), "p95")));
            printf("(kbox logs stats --json for the daily counts and top lists)\n");
        }
        kb_json_free(v);
    }
    kb_buf_release(&out);
    return rc;
}

int cmd_logs(struct cli *c)
{
    struct kb_error err = {0};
    struct logs_args a;
    struct rag *r = NULL;
    const char *sub = c->argc ? c->argv[0] : "";
    bool export = strcmp(sub, "export") == 0;
    int rc;
    if (!export && strcmp(sub, "stats") != 0 && strcmp(sub, "purge") != 0)
        return cli_usage("logs", "usage: kbox logs export|stats|purge [flags]");
    if ((rc = logs_flags(c, &a, export)))
        return rc;
    if (export && !a.format && c->json)
        a.format = "jsonl";
    if ((rc = rag_open(&r, &c->cfg, &err)))
        return cli_fail(rc, &err);
    if (export) {
        rc = logs_export(c, r, &a, &err);
    } else if (strcmp(sub, "stats") == 0) {
        rc = logs_stats(c, r, &a, &err);
    } else {
        int64_t n = 0;
        rc = rag_log_purge(r, &n, &err);
        if (rc == 0)
            printf(c->json ? "{\"deleted\":%lld}\n" : "deleted %lld logged messages\n", (long long)n);
    }
    rag_close(r);
    return rc ? cli_fail(rc, &err) : 0;
}
#else
int cmd_logs(struct cli *c)
{
    (void)c;
    return cli_not_built("logs");
}
#endif
