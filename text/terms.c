/* text/terms.c: a query's terms: its distinct query-mode tokens (text_tokenize), each flagged as a
 * stop word or not. index/ builds the FTS5 expression and weighs sentence evidence with them; rag/
 * scores answer sentences with them. Fixed-size output, no allocation. Tests: tests/text/test_text.c. */
#include <string.h>

#include "text/text.h"

static int terms_add(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct text_terms *q = ud;
    (void)start;
    (void)end;
    if (q->n >= TEXT_MAX_TERMS)
        return 1;
    memcpy(q->term[q->n], tok, (size_t)n);
    q->term[q->n][n] = '\0';
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->term[i], q->term[q->n]) == 0)
            return 0;
    q->len[q->n] = n;
    q->cjk[q->n] = cjk;
    q->stop[q->n] = !cjk && text_is_stop_word(q->term[q->n], (size_t)n);
    q->n_cjk += cjk;
    q->n_content += !q->stop[q->n];
    q->n++;
    return 0;
}

void text_query_terms(const char *text, size_t n, struct text_terms *out)
{
    out->n = out->n_cjk = out->n_content = 0;
    text_tokenize(text, n, true, terms_add, out);
}
