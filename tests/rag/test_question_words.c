/* tests/rag/test_question_words.c: question words (rag_question_mask, rag/text.c) and the FAQ path's
 * known bug they fix: "退货需要多长时间？" over the Chinese sample FAQ, which holds a cancellation
 * pair sharing 多长时间 ("下单后多长时间内可以取消订单？") and the 45-day return rule, answered with
 * the cancellation pair (and "多长时间可以退货？" did so in mode faq). On a real knowledge base (the
 * English and Chinese samples, real SQLite store, index IDF, the dictionary segmentation of
 * index.segment_dict when the file is installed): the Chinese and English questions about returns
 * must not take the cancellation answer, the cancellation questions still must, and unrelated
 * questions that share only the question words ("多长时间能到火星？") still get the fallback.
 * test_mask: the mask itself, table-driven, with and without a dictionary. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "rag/rag.h"
#include "rag/rag_int.h"
#include "kb_fixture.h"

static int setup(void **state)
{
    struct fixture *fx = kb_fixture_new("qw");
    const char *paths[2] = {KBOX_SOURCE_DIR "/samples/en", KBOX_SOURCE_DIR "/samples/zh"};
    kb_fixture_open(fx, paths, 2);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    kb_fixture_free(*state);
    return 0;
}

struct mask_case {
    const char *q;
    bool how;
    const char *kept[3];    /* terms that must remain (substrings of the mask) */
    const char *dropped[3]; /* question words that must be gone */
};

static void test_mask(void **state)
{
    static const struct mask_case cases[] = {
        {"退货需要多长时间？", false, {"退货"}, {"多长时间", "需要"}},
        {"送达时间是多久？", false, {"送达时间"}, {"多久"}},
        {"怎么清洗磨豆机的刀盘？", false, {"清洗磨豆机的刀盘"}, {"怎么"}},
        {"How long does a refund take?", true, {"refund", "How"}, {"long"}},
        {"How long does a refund take?", false, {"long", "refund"}, {NULL}},
        {"Is the cable long enough?", true, {"long"}, {NULL}},
        {"How often should I descale?", true, {"descale"}, {"often"}},
    };
    struct fixture *fx = *state;
    const struct config *cfg = rag_config_get(fx->r);
    const struct text_dict *dicts[2] = {NULL, rag_question_dict(fx->r, cfg)};
    rag_config_put(fx->r, cfg);
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char out[256];
            size_t n = rag_question_mask(cases[i].q, strlen(cases[i].q), dicts[d], cases[i].how, out, sizeof out);
            assert_int_equal(n, strlen(cases[i].q)); /* blanked, not removed: offsets stay */
            for (int k = 0; k < 3 && cases[i].kept[k]; k++)
                if (!strstr(out, cases[i].kept[k]))
                    fail_msg("case %zu (dict %d): '%s' lost '%s'", i, d, out, cases[i].kept[k]);
            for (int k = 0; k < 3 && cases[i].dropped[k]; k++)
                if (strstr(out, cases[i].dropped[k]))
                    fail_msg("case %zu (dict %d): '%s' kept '%s'", i, d, out, cases[i].dropped[k]);
        }
    }
    {
        char small[8];
        size_t n = rag_question_mask("退货退货", 12, NULL, false, small, sizeof small);
        assert_int_equal(n, 6); /* cut at a character boundary */
        assert_string_equal(small, "退货");
    }
}

/* Asks q: has (nullable) must be in the answer, lacks (nullable) must not; mode NULL = any. */
static void ask(struct rag *r, const char *q, const char *has, const char *lacks, const char *mode, bool fallback)
{
    struct rag_ask_opts o = {.question = q};
    struct rag_answer a;
    struct kb_error err = {0};
    if (rag_ask(r, &o, NULL, NULL, &a, NULL, &err))
        fail_msg("rag_ask(%s): %s", q, err.msg);
    printf("  %-44s %-10s %.3f %.90s\n", q, a.mode, a.confidence, a.answer);
    if ((has && !strstr(a.answer, has)) || (lacks && strstr(a.answer, lacks)) || (mode && strcmp(a.mode, mode)) ||
        a.fallback != fallback)
        fail_msg("'%s': mode %s, fallback %d: %s", q, a.mode, a.fallback, a.answer);
    rag_answer_release(&a);
}

static void test_specific_terms(void **state)
{
    struct fixture *fx = *state;
    /* the returns questions do not take the cancellation pair (2 小时 / 2 hours) */
    ask(fx->r, "退货需要多长时间？", NULL, "2 小时", NULL, false);
    ask(fx->r, "多长时间可以退货？", "45 天", "2 小时", NULL, false);
    ask(fx->r, "退货要多久？", "45 天", "2 小时", NULL, false);
    ask(fx->r, "How long does it take to return a product?", "45 days", "2 hours", "faq", false);
    ask(fx->r, "How long do I have to return an item?", "45 days", "2 hours", NULL, false);
    /* the cancellation questions still do */
    ask(fx->r, "取消订单需要多长时间？", "2 小时", NULL, "faq", false);
    ask(fx->r, "下单后多久可以取消订单？", "2 小时", NULL, "faq", false);
    ask(fx->r, "How long do I have to cancel an order?", "2 hours", NULL, "faq", false);
    /* sharing only question words is no match: the fallback */
    ask(fx->r, "多长时间能到火星？", NULL, NULL, NULL, true);
    ask(fx->r, "How long does it take to reach Mars?", NULL, NULL, NULL, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_specific_terms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
