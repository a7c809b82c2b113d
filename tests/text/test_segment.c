/* tests/text/test_segment.c: the dictionary segmenter (text/segment.c) with tiny word lists the test
 * writes: maximum-probability cuts worked by hand, characters the list lacks, the known flags, and
 * malformed, missing and empty lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "text/text.h"

static char *write_dict(const char *content)
{
    char *path = kb_xstrdup("/tmp/kbox-dict-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static struct text_dict *open_dict(const char *content)
{
    struct text_dict *d = NULL;
    struct kb_error err = {0};
    char *path = write_dict(content);
    if (text_dict_open(&d, path, &err) != 0)
        fail_msg("open: %s", err.msg);
    unlink(path);
    free(path);
    return d;
}

/* Cuts s and joins the words with '|', marking words the list lacks with '?'. */
static void cut(const struct text_dict *d, const char *s, char *out, size_t out_bytes)
{
    int ends[64];
    bool known[64];
    int n = text_dict_cut(d, s, strlen(s), ends, known, 64), start = 0;
    size_t w = 0;
    for (int i = 0; i < n; i++) {
        int len = ends[i] - start;
        assert_true(w + (size_t)len + 3 < out_bytes);
        if (i)
            out[w++] = '|';
        memcpy(out + w, s + start, (size_t)len);
        w += (size_t)len;
        if (!known[i])
            out[w++] = '?';
        start = ends[i];
    }
    assert_int_equal(start, (int)strlen(s));
    out[w] = '\0';
}

/* Total frequency 1000. 长城 (100) beats 长 x 城 (10 x 10 / 1000 = 0.1 < 100); 哪里 (80) beats
 * 哪 x 里 (5 x 5 / 1000); 在哪 (1) loses to 在 + 哪里 (50 x 80 / 1000 = 4 > 1). */
static const char dict_small[] = "长城 100 ns\n在 50 p\n哪里 80 r\n长 10 a\n城 10 n\n里 5 f\n哪 5 r\n在哪 1 v\n"
                                 "\n北京大学 60 nt\n北京 300 ns\n大学 300 n\n学 69 v\n";

static void test_cuts_by_hand(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"长城在哪里", "长城|在|哪里"},
        {"长城", "长城"},
        {"城长", "城|长"},
        /* 北京大学: 60/1000 = .06 against 北京 x 大学 = .3 x .3 = .09: two words win */
        {"北京大学", "北京|大学"},
        {"长城墙", "长城|墙?"},
        {"墙", "墙?"},
        {"", ""},
    };
    struct text_dict *d = open_dict(dict_small);
    char out[256];
    (void)state;
    assert_int_equal(text_dict_size(d), 12);
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        cut(d, cases[i].in, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("'%s' cut as '%s', want '%s'", cases[i].in, out, cases[i].want);
    }
    text_dict_free(d);
}

/* The frequency decides: raise 北京大学 above .09 of the total and it stays whole. */
static void test_frequency_decides(void **state)
{
    struct text_dict *d = open_dict("北京大学 200\n北京 300\n大学 300\n");
    char out[64];
    (void)state;
    /* total 800: 200/800 = .25 against (300/800)^2 = .14 */
    cut(d, "北京大学", out, sizeof(out));
    assert_string_equal(out, "北京大学");
    text_dict_free(d);
    d = open_dict("北京大学 50\n北京 300\n大学 300\n");
    /* total 650: .077 against .213 */
    cut(d, "北京大学", out, sizeof(out));
    assert_string_equal(out, "北京|大学");
    text_dict_free(d);
}

/* text_dict_has: a word of the list with a frequency above 0, whatever a cut would make of it. */
static void test_has(void **state)
{
    struct text_dict *d = open_dict("北京大学 50\n北京 300\n大学 300\n零词 0\n");
    (void)state;
    assert_true(text_dict_has(d, "北京大学", strlen("北京大学"))); /* a cut gives 北京|大学 */
    assert_true(text_dict_has(d, "北京", strlen("北京")));
    assert_false(text_dict_has(d, "北京大", strlen("北京大")));
    assert_false(text_dict_has(d, "零词", strlen("零词")));
    assert_false(text_dict_has(d, "", 0));
    assert_false(text_dict_has(NULL, "北京", strlen("北京")));
    text_dict_free(d);
}

static void test_bad_lists(void **state)
{
    static const char *const bad[] = {
        "长城 100\n在\n",         /* no frequency */
        "长城 abc\n",             /* not a number */
        "长城 12x\n",             /* trailing garbage in the number */
        "一二三四五六七八九十一二三四五六七 5\n", /* 17 characters */
        "\xff\xfe 3\n",           /* not UTF-8 */
    };
    struct text_dict *d = NULL;
    struct kb_error err = {0};
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(bad); i++) {
        char *path = write_dict(bad[i]);
        assert_int_equal(text_dict_open(&d, path, &err), KB_EINVAL);
        assert_null(d);
        assert_non_null(strstr(err.msg, "line"));
        unlink(path);
        free(path);
    }
    assert_int_equal(text_dict_open(&d, "/nonexistent/kbox/dict.txt", &err), KB_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/kbox/dict.txt"));
    assert_null(d);
    /* an empty list opens; every character is unknown and stands alone */
    d = open_dict("");
    {
        char out[64];
        cut(d, "长城", out, sizeof(out));
        assert_string_equal(out, "长?|城?");
    }
    text_dict_free(d);
    text_dict_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts_by_hand),
        cmocka_unit_test(test_frequency_decides),
        cmocka_unit_test(test_bad_lists),
        cmocka_unit_test(test_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
