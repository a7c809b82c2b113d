/* tests/rag/test_answer.c: sentence splitting, query terms, the extractive answerer on hand-made
 * passages (FAQ pairs, Chinese, fallback), and the eval metrics (EM/F1 normalisation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/config.h"
#include "rag/eval.h"
#include "rag/rag_int.h"

static void test_sentences(void **state)
{
    (void)state;
    struct text_span s[16];
    const char *t = "Returns are free. Refunds take 7 days!\nShip to Norway? 退货期为 45 天。运费另计；谢谢";
    int n = text_split_sentences(t, strlen(t), s, 16);
    assert_int_equal(n, 6);
    assert_memory_equal(t + s[0].start, "Returns are free.", s[0].end - s[0].start);
    assert_memory_equal(t + s[2].start, "Ship to Norway?", s[2].end - s[2].start);
    assert_memory_equal(t + s[3].start, "退货期为 45 天。", s[3].end - s[3].start);
    assert_memory_equal(t + s[5].start, "谢谢", s[5].end - s[5].start);
}

static void test_terms(void **state)
{
    (void)state;
    struct rag_terms t;
    rag_terms_extract("How many days do I have to return a Kettle?", 44, &t);
    assert_int_equal(t.n, 3); /* days, return, kettle */
    assert_string_equal(t.term[0], "days");
    assert_string_equal(t.term[2], "kettle");
    rag_terms_extract("退货的政策", strlen("退货的政策"), &t);
    assert_int_equal(t.n, 2); /* pairs across the particle 的 name no topic */
    assert_string_equal(t.term[0], "退货");
    assert_string_equal(t.term[1], "政策");
    assert_true(t.cjk[0]);
    rag_terms_extract("Crème brûlée x 7", strlen("Crème brûlée x 7"), &t);
    assert_int_equal(t.n, 3); /* folded like the index; a one-letter word is no term, a digit is */
    assert_string_equal(t.term[0], "creme");
    assert_string_equal(t.term[2], "7");
    assert_true(rag_text_has_term("Our CRÈME is fresh.", strlen("Our CRÈME is fresh."), "creme"));
    assert_true(rag_text_has_term("return the kettles now", 22, "return kettle") == false);
    assert_true(rag_text_has_term("return kettles now", 18, "return kettle"));
    rag_terms_extract("退货期", strlen("退货期"), &t);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.term[0], "退货");
    assert_string_equal(t.term[1], "货期");
    assert_true(rag_text_has_term("The kettle.", 11, "kettle"));
    assert_true(rag_text_has_term("Kettles", 7, "kettle")); /* plain inflections match */
    assert_false(rag_text_has_term("Kettlebell", 10, "kettle"));
    assert_false(rag_text_has_term("teakettle", 9, "kettle"));
}

static void test_extractive(void **state)
{
    (void)state;
    struct config cfg;
    struct rag_answer a;
    struct kb_error err = {0};
    const struct rag_passage p[] = {
        {.chunk_id = 1, .document_id = 10, .document = "faq.md", .heading_path = "FAQ > Orders",
         .text = "Q: Can I cancel an order?\nA: Yes, within 2 hours of ordering.", .score = 1},
        {.chunk_id = 2, .document_id = 11, .document = "policy.html", .heading_path = "Policy > Returns",
         .text = "You may return a kettle within 45 days of delivery. Refunds are paid in 7 working days.",
         .page = 3, .page_end = 4, .score = 0.9},
    };
    config_init(&cfg);
    assert_int_equal(rag_answer_extractive(&cfg, "How many days to return a kettle?", p, 2, NULL, NULL, &a, &err), 0);
    assert_string_equal(a.mode, "extractive");
    assert_false(a.fallback);
    assert_non_null(strstr(a.answer, "45 days"));
    assert_int_equal(a.n_citations, 1);
    assert_string_equal(a.citations[0].document, "policy.html");
    assert_int_equal(a.citations[0].page, 3);
    assert_int_equal(a.citations[0].page_end, 4);
    assert_int_equal(a.citations[0].document_id, 11);
    assert_non_null(strstr(a.answer, "[1]"));
    rag_answer_release(&a);

    /* The FAQ question hands its score to its answer. */
    assert_int_equal(rag_answer_extractive(&cfg, "Can I cancel my order?", p, 2, NULL, NULL, &a, &err), 0);
    assert_non_null(strstr(a.answer, "within 2 hours"));
    assert_null(strstr(a.answer, "Q:"));
    rag_answer_release(&a);

    /* A key word that stands nowhere in the passages: the documents lack the answer. */
    assert_int_equal(rag_answer_extractive(&cfg, "Can I return a milk frother?", p, 2, NULL, NULL, &a, &err), 0);
    assert_true(a.fallback);
    rag_answer_release(&a);

    /* Nothing relevant: the configured fallback, no citations. */
    assert_int_equal(rag_answer_extractive(&cfg, "What is the capital of Peru?", p, 2, NULL, NULL, &a, &err), 0);
    assert_true(a.fallback);
    assert_string_equal(a.answer, cfg.answer_fallback);
    assert_int_equal(a.n_citations, 0);
    rag_answer_release(&a);
    config_release(&cfg);
}

static void test_metrics(void **state)
{
    (void)state;
    assert_true(eval_exact_match("The 45 days.", "45 days") == 1);
    assert_true(eval_exact_match("45 working days", "45 days") == 0);
    assert_true(eval_f1("45 working days", "45 days") > 0.79 && eval_f1("45 working days", "45 days") < 0.81);
    assert_true(eval_exact_match("四十五天。", "四十五天") == 1);
    assert_true(eval_f1("退货期为45天", "45天") > 0.5);
    assert_true(eval_f1("nothing", "45 days") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_extractive),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
