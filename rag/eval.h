/* rag/eval.h (internal to rag/; rag_eval() itself is in rag.h): retrieval and answer evaluation on the QA sets of
 * ../shared/eval: corpus.jsonl rows become documents (external id = row id), each question is
 * searched with BM25 only, vectors only and hybrid, and scored by recall@1/5/10 and MRR@10 against
 * the gold ids, plus exact match and token F1 of the extractive answer (SQuAD normalisation for
 * English, characters for Chinese). Tests: tests/rag/test_eval.c. */
#ifndef KB_RAG_EVAL_H
#define KB_RAG_EVAL_H

#include "rag/rag.h"

struct eval_row {
    char *id, *title, *text;     /* corpus rows */
    char *question;              /* question rows */
    char **gold_ids;
    int n_gold;
    char **answers;
    int n_answers;
};
int eval_read_jsonl(const char *path, struct eval_row **rows, int *n_rows, struct kb_error *err);
void eval_rows_free(struct eval_row *rows, int n);


/* Answer metrics, exposed for tests. */
double eval_exact_match(const char *prediction, const char *gold);
double eval_f1(const char *prediction, const char *gold);

#endif
