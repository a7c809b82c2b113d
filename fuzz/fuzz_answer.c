/* fuzz/fuzz_answer.c: the extractive answerer on arbitrary passage text, as any ingested document can
 * hold it (rag/answer.c's sentence choice, FAQ-pair split and question match, table roles and rows,
 * and rag/span.c's fragments). Input: question, a NUL byte, then the passage; the passage is also
 * given as a FAQ chunk ("Q: question\nA: passage") and as a table chunk under a header line. Each run
 * must return 0 (nothing here fails on bad text), never crash or leak, and when question and
 * passage are valid UTF-8 the answer must be too (spans never cut a character). */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "rag/rag_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void fuzz_answer(const struct config *cfg, const char *q, const char *text, bool valid)
{
    struct rag_passage p[2] = {
        {.chunk_id = 1, .document = "a.md", .heading_path = "A > B", .text = text, .score = 1},
        {.chunk_id = 2, .document = "b.md", .heading_path = "", .text = "Product | Price\nAurora | 2400 EUR",
         .score = 0.5},
    };
    struct rag_answer a;
    struct kb_error err = {0};
    if (rag_answer_extractive(cfg, q, p, 2, NULL, NULL, &a, &err) != 0)
        abort();
    if (!a.answer || (valid && !kb_utf8_valid(a.answer, strlen(a.answer))))
        abort();
    rag_answer_release(&a);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const unsigned char *nul = memchr(data, 0, size);
    struct config cfg;
    char *q, *text, *faq, *table;
    size_t qn, tn;
    bool valid;
    if (!nul || size > 1 << 16)
        return 0;
    qn = (size_t)(nul - data);
    tn = size - qn - 1;
    q = kb_xstrndup((const char *)data, qn);
    text = kb_xstrndup((const char *)nul + 1, tn);
    if (strlen(q) != qn || strlen(text) != tn) { /* more NULs: not a C string */
        free(q);
        free(text);
        return 0;
    }
    valid = kb_utf8_valid(q, qn) && kb_utf8_valid(text, tn);
    faq = kb_xmalloc(qn + tn + 8);
    memcpy(faq, "Q: ", 3);
    memcpy(faq + 3, q, qn);
    memcpy(faq + 3 + qn, "\nA: ", 4);
    memcpy(faq + 7 + qn, text, tn + 1);
    table = kb_xmalloc(tn + 16);
    memcpy(table, "Name | Value\n", 13);
    memcpy(table + 13, text, tn + 1);
    config_init(&cfg);
    cfg.answer_min_confidence = 0;
    for (int span = 0; span < 2; span++) {
        cfg.answer_extractive_span = span;
        fuzz_answer(&cfg, q, text, valid);
        fuzz_answer(&cfg, q, faq, valid);
        fuzz_answer(&cfg, q, table, valid);
    }
    config_release(&cfg);
    free(table);
    free(faq);
    free(text);
    free(q);
    return 0;
}
