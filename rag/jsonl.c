/* rag/jsonl.c: reads the evaluation files (JSON lines, ../shared/eval/README.md) with cJSON, the only
 * cJSON includer in rag/. Each line becomes an eval_row with owned strings. Tests: tests/rag/. */
#include "rag/eval.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *jsonl_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        return kb_xstrdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char num[32];
        snprintf(num, sizeof num, "%.0f", v->valuedouble);
        return kb_xstrdup(num);
    }
    return kb_xstrdup("");
}

static void jsonl_list(const cJSON *o, const char *key, char ***out, int *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *it;
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return;
    *out = kb_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof **out);
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it))
            (*out)[(*n)++] = kb_xstrdup(it->valuestring);
        else if (cJSON_IsNumber(it)) {
            char num[32];
            snprintf(num, sizeof num, "%.0f", it->valuedouble);
            (*out)[(*n)++] = kb_xstrdup(num);
        }
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
        const char *end = NULL;
        cJSON *o;
        lineno++;
        if (len == 0 || line[0] == '\n')
            continue;
        o = cJSON_ParseWithOpts(line, &end, 0);
        if (!o || !cJSON_IsObject(o)) {
            rc = kb_error_set(err, KB_EJSON, "%s:%d: not a JSON object", path, lineno);
            cJSON_Delete(o);
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
        cJSON_Delete(o);
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
