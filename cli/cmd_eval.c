/* cli/cmd_eval.c: `kbox eval --corpus corpus.jsonl --questions questions.jsonl [--max N] [--json]`:
 * retrieval (recall@1/5/10, MRR@10) and extractive-answer (EM, F1) quality for BM25, vectors and
 * hybrid, on a temporary knowledge base. Tests: tests/rag/. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#ifdef KBOX_HAVE_RAG
#include "rag/rag.h"
#endif

int cmd_eval(struct cli *c)
{
#ifdef KBOX_HAVE_RAG
    const char *corpus = NULL, *questions = NULL;
    struct rag_eval_scores s[3];
    struct kb_error err = {0};
    double ingest_s = 0;
    int64_t max = 0;
    int rc;
    for (int i = 0; i < c->argc; i++) {
        if (!strcmp(c->argv[i], "--corpus") && i + 1 < c->argc)
            corpus = c->argv[++i];
        else if (!strcmp(c->argv[i], "--questions") && i + 1 < c->argc)
            questions = c->argv[++i];
        else if (!strcmp(c->argv[i], "--max") && i + 1 < c->argc) {
            if (kb_parse_i64(c->argv[++i], &max) || max < 0)
                return cli_usage("eval", "--max takes a number of questions");
        } else
            return cli_usage("eval", "unknown argument '%s'", c->argv[i]);
    }
    if (!corpus || !questions)
        return cli_usage("eval", "usage: kbox eval --corpus corpus.jsonl --questions questions.jsonl");
    rc = rag_eval(&c->cfg, corpus, questions, (int)max, s, &ingest_s, &err);
    if (rc)
        return cli_fail(rc, &err);
    if (c->json) {
        printf("{\"questions\":%d,\"ingest_s\":%.2f", s[0].n_questions, ingest_s);
        for (int m = 0; m < 3; m++)
            printf(",\"%s\":{\"recall@1\":%.4f,\"recall@5\":%.4f,\"recall@10\":%.4f,\"mrr@10\":%.4f,"
                   "\"em\":%.4f,\"f1\":%.4f}",
                   s[m].method, s[m].recall1, s[m].recall5, s[m].recall10, s[m].mrr10, s[m].em, s[m].f1);
        printf("}\n");
    } else {
        printf("%d questions, corpus ingested in %.1f s\n%-8s %8s %8s %8s %8s %8s %8s\n", s[0].n_questions,
               ingest_s, "method", "R@1", "R@5", "R@10", "MRR@10", "EM", "F1");
        for (int m = 0; m < 3; m++)
            printf("%-8s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", s[m].method, s[m].recall1, s[m].recall5,
                   s[m].recall10, s[m].mrr10, s[m].em, s[m].f1);
    }
    return 0;
#else
    (void)c;
    return cli_not_built("eval");
#endif
}
