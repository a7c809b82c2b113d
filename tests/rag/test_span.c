/* tests/rag/test_span.c: answer.extractive_span (rag/span.c): with it on, an extractive answer is
 * the fragment of its sentence that holds the answer -- a number with its unit for how many / how
 * much / when, the part of the clause after the question's terms, a Chinese clause between
 * punctuation -- and the whole sentence when nothing stands out; with it off, the sentence. Cases
 * are (question, passage, fragment) rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/config.h"
#include "rag/rag_int.h"

static const struct {
    const char *question, *text, *span;
} cases[] = {
    {"How many days do I have to return a product?",
     "You can return any product within 45 days of delivery for a full refund.", "45 days [1]"},
    {"What does the Aurora e-bike cost?", "The Aurora e-bike costs 2,400 EUR in Portugal.", "2,400 EUR [1]"},
    {"How many tackles did Kuechly register in 2015?",
     "In 2015 Kuechly registered 118 tackles, 4 sacks and 2 interceptions.", "118 [1]"},
    {"When did Heronbrook open its Leeds warehouse?",
     "Heronbrook opened its Leeds warehouse in May 2014, two years after the company was founded.", "May 2014 [1]"},
    {"How long until I get my refund?", "Refunds reach your account 7 working days after inspection.",
     "7 working days [1]"},
    {"Who founded Heronbrook?", "Heronbrook was founded by Ada Brook, a Leeds engineer, in 2009.", "Ada Brook [1]"},
    {"Why does the kettle beep?", "The kettle beeps because the water has reached the set temperature.",
     "because the water has reached the set temperature [1]"},
    {"鲁迅的原名是什么？", "鲁迅，原名周树人，浙江绍兴人。", "周树人[1]"},
    {"退货期是多少天？", "我们的退货期为收货后 45 天，商品须完好。", "45 天[1]"},
    /* nothing stands out: no clause holds anything the question does not say */
    {"Is the kettle cordless?", "The kettle is cordless.", "The kettle is cordless. [1]"},
};

static void test_span_on(void **state)
{
    (void)state;
    struct config cfg;
    config_init(&cfg);
    cfg.answer_min_confidence = 0.05; /* no embedder: these cases are about the fragment */
    cfg.answer_extractive_span = true;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct rag_passage p = {.chunk_id = 1, .document = "doc.md", .heading_path = "", .text = cases[i].text};
        struct rag_answer a;
        struct kb_error err = {0};
        assert_int_equal(rag_answer_extractive(&cfg, cases[i].question, &p, 1, NULL, NULL, &a, &err), 0);
        if (strcmp(a.answer, cases[i].span))
            fail_msg("'%s': '%s', want '%s'", cases[i].question, a.answer, cases[i].span);
        assert_int_equal(a.n_citations, 1);
        rag_answer_release(&a);
    }
    config_release(&cfg);
}

static void test_span_off(void **state)
{
    (void)state;
    struct config cfg;
    struct rag_passage p = {.chunk_id = 1, .document = "doc.md", .heading_path = "", .text = cases[0].text};
    struct rag_answer a;
    struct kb_error err = {0};
    config_init(&cfg);
    cfg.answer_min_confidence = 0.05;
    cfg.answer_extractive_span = false;
    assert_int_equal(rag_answer_extractive(&cfg, cases[0].question, &p, 1, NULL, NULL, &a, &err), 0);
    assert_string_equal(a.answer, "You can return any product within 45 days of delivery for a full refund. [1]");
    rag_answer_release(&a);
    config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_on),
        cmocka_unit_test(test_span_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
