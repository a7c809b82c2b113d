/* rag/jsonl.c: reads the evaluation files (JSON lines, ../shared/eval/README.md) with base's JSON
 * reader (kb_json_*, base/json.h). Each line becomes an eval_row with owned strings; ids given as
 * numbers become their integer text. Tests: tests/cli/test_eval.c. */
#include "rag/eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string value copied, a number as its integer text, NULL for anything else. */
static char *jsonl_text(const struct kb_json *v)
{
    char num[32];
    if (kb_json_kind(v) == KB_JSON_STRING)
        return kb_xstrdup(kb_json_str(v));
    if (kb_json_kind(v) != KB_JSON_NUMBER)
        return NULL;
    snprintf(num, sizeof num, "%.0f", kb_json_num(v));
    return kb_xstrdup(num);
}

static char *jsonl_str(const struct kb_json *o, const char *key)
{
    char *s = jsonl_text(kb_json_get(o, key));
    return s ? s : kb_xstrdup("");
}

static void jsonl_list(const struct kb_json *o, const char *key, char ***out, int *n)
{
    const struct kb_json *arr = kb_json_get(o, key);
    *out = NULL;
    *n = 0;
    if (kb_json_kind(arr) != KB_JSON_ARRAY)
        return;
    *out = kb_xcalloc((size_t)kb_json_count(arr) + 1, sizeof **out);
    for (const struct kb_json *it = kb_json_first(arr); it; it = kb_json_next(it)) {
        char *s = jsonl_text(it);
        if (s)
            (*out)[(*n)++] = s;
    }
}

int eval_read_jsonl(const char *path, struct eval_row **rows, int *n_rows, struct kb_error *err)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0, cap_rows = 0, lineno = 0, rc = 0;
    *rows = NULL;
    *n_rows = 0;
    if (!f)
        return kb_error_set(err, KB_ENOENT, "cannot open '%s': %s", path, strerror(errno));
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        size_t end;
        struct kb_json *o = NULL;
        lineno++;
        if (len == 0 || line[0] == '\n')
            continue;
        /* trailing bytes after the object are tolerated, as they always were */
        if (kb_json_parse(&o, line, strlen(line), &end, NULL) || kb_json_kind(o) != KB_JSON_OBJECT) {
            rc = kb_error_set(err, KB_EJSON, "%s:%d: not a JSON object", path, lineno);
            kb_json_free(o);
            break;
        }
        if (n == cap_rows) {
            cap_rows = cap_rows ? cap_rows * 2 : 256;
            *rows = kb_xrealloc(*rows, (size_t)cap_rows * sizeof **rows);
        }
        struct eval_row *r = &(*rows)[n++];
        memset(r, 0, sizeof *r);
        r->id = jsonl_str(o, "id");
        r->title = jsonl_str(o, "title");
        r->text = jsonl_str(o, "text");
        r->question = jsonl_str(o, "question");
        jsonl_list(o, "gold_ids", &r->gold_ids, &r->n_gold);
        jsonl_list(o, "answers", &r->answers, &r->n_answers);
        kb_json_free(o);
    }
    free(line);
    fclose(f);
    *n_rows = n;
    return rc;
}

void eval_rows_free(struct eval_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        free(rows[i].id);
        free(rows[i].title);
        free(rows[i].text);
        free(rows[i].question);
        for (int j = 0; j < rows[i].n_gold; j++)
            free(rows[i].gold_ids[j]);
        free(rows[i].gold_ids);
        for (int j = 0; j < rows[i].n_answers; j++)
            free(rows[i].answers[j]);
        free(rows[i].answers);
    }
    free(rows);
}
