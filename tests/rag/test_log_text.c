/* tests/rag/test_log_text.c: the conversation log's pure helpers (rag/log.c), as tables: the
 * clustering key of a question (rag_log_normalise: case, punctuation, CJK, truncation at whole
 * characters, idempotence) and the dates and filters of log queries (rag_log_parse_date,
 * rag_log_query_check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "rag/rag_int.h"

static void test_normalise(void **state)
{
    static const struct {
        const char *in;
        size_t bytes;
        const char *want;
    } cases[] = {
        {"Return policy?", 64, "return policy"},
        {"  ...return   POLICY?!  ", 64, "return policy"},
        {"E7 error: what now", 64, "e7 error what now"},
        {"电水壶签收后多少天内可以退货？", 64, "电水壶签收后多少天内可以退货"},
        {"退货，多少天？", 64, "退货 多少天"},
        {"Ünïcode stays", 64, "Ünïcode stays"},
        {"\xff\xfe bad bytes", 64, "bad bytes"},
        {"电水壶", 7, "电水"},       /* 6 bytes + NUL fit, the third character would not */
        {"abcdef", 4, "abc"},
        {"", 8, ""},
        {"?!", 8, ""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64], again[64];
        rag_log_normalise(cases[i].in, out, cases[i].bytes);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: '%s' -> '%s', want '%s'", i, cases[i].in, out, cases[i].want);
        rag_log_normalise(out, again, cases[i].bytes);
        assert_string_equal(again, out);
    }
}

static void test_dates_and_filters(void **state)
{
    static const struct {
        const char *v;
        bool end;
        int rc;
        int64_t want;
    } dates[] = {
        {"2026-12-06", false, 0, 1796515200},
        {"2026-12-06", true, 0, 1796515200 + 86400},
        {"1700000000", false, 0, 1700000000},
        {"", false, 0, 0},
        {"06/12/2026", false, KB_EINVAL, 0},
        {"2026-13-01", false, KB_EINVAL, 0},
        {"2026-12-06x", false, KB_EINVAL, 0},
        {"-5", false, KB_EINVAL, 0},
    };
    struct kb_error err = {0};
    (void)state;
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        int64_t got = -1;
        int rc = rag_log_parse_date("from", dates[i].v, dates[i].end, &got, &err);
        if (rc != dates[i].rc || (rc == 0 && got != dates[i].want))
            fail_msg("date %zu '%s': rc %d got %lld", i, dates[i].v, rc, (long long)got);
        if (rc)
            assert_non_null(strstr(err.msg, "from must be a date"));
    }
    struct rag_log_query q = {.channel = "widget", .kind = "thumbs_down", .limit = 20};
    assert_int_equal(rag_log_query_check(&q, &err), 0);
    q.channel = "fax";
    assert_int_equal(rag_log_query_check(&q, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "channel"));
    q.channel = NULL;
    q.kind = "angry";
    assert_int_equal(rag_log_query_check(&q, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "kind"));
    q.kind = NULL;
    q.limit = 201;
    assert_int_equal(rag_log_query_check(&q, &err), KB_EINVAL);
    q.limit = 0;
    q.from = 200;
    q.to = 100;
    assert_int_equal(rag_log_query_check(&q, &err), KB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_dates_and_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
