/* tests/text/test_text.c: the text layer as tables: sentences (English, Chinese, abbreviations,
 * decimals, closers, line breaks, mixed scripts), query terms and stop words, articles, the token cap,
 * Traditional -> Simplified folding of code points and text, English plurals (text_stem_plural), English
 * stems (text_stem_english, Snowball's Porter2, also from several threads at once), and invalid UTF-8 (no crash, no
 * terminator). The tokenizer's folding table stays in tests/index/test_fts_tok.c, which drives the
 * same function through index_tokenize. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "text/text.h"

/* The sentences of `in` as "s1|s2|..." (trimmed spans). */
static const char *sentences_of(char *buf, size_t cap, const char *in)
{
    struct text_span sp[32];
    int n = text_split_sentences(in, strlen(in), sp, 32);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t k = sp[i].end - sp[i].start;
        assert_true(sp[i].end > sp[i].start && sp[i].end <= strlen(in));
        assert_true(len + k + 2 < cap);
        if (i)
            buf[len++] = '|';
        memcpy(buf + len, in + sp[i].start, k);
        len += k;
        buf[len] = '\0';
    }
    return buf;
}

static void test_sentences_table(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"One. Two! Three? Four", "One.|Two!|Three?|Four"},
        {"A clause; another clause.", "A clause;|another clause."},
        {"Pi is 3.14 today. Yes.", "Pi is 3.14 today.|Yes."},
        {"Ask Dr. Smith, e.g. now. Done.", "Ask Dr. Smith, e.g. now.|Done."},
        {"J. Smith wrote it. See fig. 3 here.", "J. Smith wrote it.|See fig. 3 here."},
        {"We sell tea etc. Then coffee.", "We sell tea etc.|Then coffee."},
        {"He said \"stop.\" Then left.", "He said \"stop.\"|Then left."},
        {"(See above.) Next.", "(See above.)|Next."},
        {"No space.After dot", "No space.After dot"},
        {"line one\nline two.\nthree", "line one|line two.|three"},
        {"end.\nnext", "end.|next"},
        {"  padded.   next  ", "padded.|next"},
        {"你好。我很好！你呢？好；", "你好。|我很好！|你呢？|好；"},
        {"他说：“走吧。”然后走了。", "他说：“走吧。”|然后走了。"},
        {"等等……然后呢", "等等……|然后呢"},
        {"半角｡句号", "半角｡|句号"},
        {"Mixed 中文。English here. 再见", "Mixed 中文。|English here.|再见"},
        {"bad \xff\xfe bytes. ok", "bad \xff\xfe bytes.|ok"},
        {"\xe3\x80 cut", "\xe3\x80 cut"},
        {"trailing dot.", "trailing dot."},
    };
    char buf[512];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = sentences_of(buf, sizeof buf, cases[i].in);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu: '%s' gave '%s', want '%s'", i, cases[i].in, got, cases[i].out);
    }
}

/* The simple rule of the evidence step: marks followed at once by white space, 。！？；, line breaks. */
static void test_sentences_simple(void **state)
{
    static const struct {
        const char *in;
        size_t ends[6]; /* successive sentence ends, 0-terminated */
    } cases[] = {
        {"Ask Dr. Smith.", {7, 14}},
        {"He said \"stop.\" Then.", {21}},
        {"a; b", {2, 4}},
        {"x.\ny", {2, 3, 4}},
        {"你好。”好", {9, 15}},
        {"等等……好", {15}},
        {"end.", {4}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].in;
        size_t n = strlen(s), start = 0;
        for (int k = 0; cases[i].ends[k]; k++) {
            size_t e = text_sentence_end_simple(s, n, start);
            if (e != cases[i].ends[k])
                fail_msg("case %zu sentence %d: end %zu, want %zu", i, k, e, cases[i].ends[k]);
            start = e;
        }
        assert_int_equal(start, n);
    }
}

static void test_sentence_end_offsets(void **state)
{
    const char *s = "Hi there. Bye.";
    size_t n = strlen(s);
    (void)state;
    assert_int_equal(text_sentence_end(s, n, 0), 9);
    assert_int_equal(text_sentence_end(s, n, 9), n);
    /* the abbreviation rule looks back across the start offset: "x J. y" from offset 2 */
    assert_int_equal(text_sentence_end("x J. y", 6, 2), 6);
    assert_int_equal(text_sentence_end("abc", 3, 3), 3);
    /* the cap: no more spans than asked for */
    {
        struct text_span sp[2];
        assert_int_equal(text_split_sentences("a. b. c. d.", 11, sp, 2), 2);
    }
}

/* Records the longest token and counts them. */
static int longest(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    int *m = ud;
    (void)tok;
    (void)cjk;
    assert_true(start >= 0 && end > start && n > 0);
    m[0] = n > m[0] ? n : m[0];
    m[1]++;
    return 0;
}

static void test_long_word_is_cut(void **state)
{
    char w[300];
    int m[2] = {0, 0};
    (void)state;
    memset(w, 'x', sizeof w - 1);
    w[sizeof w - 1] = '\0';
    text_tokenize(w, strlen(w), false, longest, m);
    assert_int_equal(m[0], TEXT_TOKEN_MAX_BYTES);
    assert_int_equal(m[1], 1);
}

static void test_terms_and_stop_words(void **state)
{
    static const struct {
        const char *in;
        const char *terms; /* "term" or "term*" for a stop word, '|' separated */
        int n_cjk, n_content;
    } cases[] = {
        {"How do I get a refund?", "how*|do*|i*|get|a*|refund", 0, 2},
        {"the THE The", "the*", 0, 0},
        {"退款 政策 退款", "退款|政策", 2, 2},
        {"What is 退款政策", "what*|is*|退款|款政|政策", 3, 3},
        {"Café cafe", "cafe", 0, 1},
        {"", "", 0, 0},
    };
    static struct text_terms q;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[512] = "";
        size_t len = 0;
        text_query_terms(cases[i].in, strlen(cases[i].in), &q);
        for (int k = 0; k < q.n; k++) {
            assert_int_equal(q.len[k], (int)strlen(q.term[k]));
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%s%s", k ? "|" : "", q.term[k],
                                    q.stop[k] ? "*" : "");
        }
        if (strcmp(got, cases[i].terms) != 0)
            fail_msg("case %zu: '%s' gave '%s', want '%s'", i, cases[i].in, got, cases[i].terms);
        assert_int_equal(q.n_cjk, cases[i].n_cjk);
        assert_int_equal(q.n_content, cases[i].n_content);
    }
}

static void test_terms_cap(void **state)
{
    static struct text_terms q;
    char text[2048];
    size_t len = 0;
    (void)state;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "w%d ", i);
    text_query_terms(text, len, &q);
    assert_int_equal(q.n, TEXT_MAX_TERMS);
    assert_string_equal(q.term[TEXT_MAX_TERMS - 1], "w63");
}

static void test_word_lists(void **state)
{
    static const struct {
        const char *w;
        bool stop, article, weak;
    } cases[] = {
        {"the", true, true, false},     {"an", true, true, false},     {"a", true, true, false},
        {"and", true, false, false},    {"then", true, false, false},  {"refund", false, false, false},
        {"The", false, false, false},   {"", false, false, false},     {"these", false, false, true},
        {"th", false, false, false},    {"many", false, false, true},  {"get", false, false, true},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].w);
        if (text_is_stop_word(cases[i].w, n) != cases[i].stop || text_is_article(cases[i].w, n) != cases[i].article ||
            text_is_weak_word(cases[i].w, n) != cases[i].weak)
            fail_msg("case %zu: '%s'", i, cases[i].w);
    }
}

/* CJK stop characters: one function character only; a pair, a content character, a partial or empty
 * sequence are not. */
static void test_cjk_stop_char(void **state)
{
    (void)state;
    assert_true(text_is_cjk_stop_char("的", strlen("的")));
    assert_true(text_is_cjk_stop_char("什", strlen("什")));
    assert_false(text_is_cjk_stop_char("城", strlen("城")));
    assert_false(text_is_cjk_stop_char("的的", strlen("的的")));
    assert_false(text_is_cjk_stop_char("的", 2)); /* cut inside the character */
    assert_false(text_is_cjk_stop_char("", 0));
    assert_false(text_is_cjk_stop_char("a", 1));
}

/* Every prefix of a mixed, partly invalid text splits and tokenizes without reading past its end. */
/* Traditional -> Simplified folding (OpenCC's t2s characters, built into t2s_table.h): single code
 * points, characters it leaves alone, and in-place folding of mixed text with invalid bytes. */
static void test_fold_han(void **state)
{
    static const struct {
        uint32_t in, out;
    } cps[] = {
        {0x8AAA, 0x8BF4}, /* 說 -> 说 */
        {0x81FA, 0x53F0}, /* 臺 -> 台 */
        {0x9AD4, 0x4F53}, /* 體 -> 体 */
        {0x8BF4, 0x8BF4}, /* 说 is already Simplified */
        {0x4E2D, 0x4E2D}, /* 中 is the same in both */
        {'a', 'a'},       /* not Han */
        {0x30AB, 0x30AB}, /* カ */
        {0x1F600, 0x1F600},
    };
    static const struct {
        const char *in, *out;
    } strs[] = {
        {"", ""},
        {"abc", "abc"},
        {"臺灣電腦 and 说话", "台湾电脑 and 说话"},
        {"\xff說\xe8", "\xff说\xe8"}, /* invalid bytes are kept */
        {"長城在哪裡？", "长城在哪里？"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++)
        if (text_fold_han(cps[i].in) != cps[i].out)
            fail_msg("U+%04X folded to U+%04X, want U+%04X", (unsigned)cps[i].in, (unsigned)text_fold_han(cps[i].in),
                     (unsigned)cps[i].out);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        char buf[64];
        size_t n = strlen(strs[i].in);
        memcpy(buf, strs[i].in, n + 1);
        n = text_fold_han_inplace(buf, n);
        buf[n] = '\0';
        if (strcmp(buf, strs[i].out) != 0)
            fail_msg("case %zu: '%s' folded to '%s', want '%s'", i, strs[i].in, buf, strs[i].out);
    }
    /* finding a folded term in original text: the bytes of the original that match */
    assert_int_equal(text_match_folded("說話很快", strlen("說話很快"), "说话", strlen("说话")), strlen("說話"));
    assert_int_equal(text_match_folded("说话", strlen("说话"), "说话", strlen("说话")), strlen("说话"));
    assert_int_equal(text_match_folded("說", strlen("說"), "说话", strlen("说话")), 0); /* text ends first */
    assert_int_equal(text_match_folded("說謊", strlen("說謊"), "说话", strlen("说话")), 0);
    assert_int_equal(text_match_folded("abc", 3, "ab", 2), 2);
    assert_int_equal(text_match_folded("abc", 3, "", 0), 0);
    assert_int_equal(text_match_folded("\xe8", 1, "说", strlen("说")), 0); /* a cut character */
}

/* Harman's S-stemmer: each rule, its exceptions, short words, stop words, non-letters, and that the
 * output stems to itself. */
static void test_stem_plural(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"margins", "margin"}, {"policies", "policy"}, {"houses", "house"}, {"acquisitions", "acquisition"},
        {"aies", "aies"},      {"movies", "movy"},    {"zombies", "zomby"}, {"goes", "goes"},
        {"shoes", "shoes"},    {"trees", "trees"},     {"virus", "virus"},  {"glass", "glass"},
        {"bus", "bus"},        {"its", "its"},         {"this", "this"},    {"1990s", "1990s"},
        {"covid", "covid"},    {"fy2022s", "fy2022s"}, {"s", "s"},          {"", ""},
        {"geographies", "geography"}, {"classes", "classe"},
    };
    (void)state;
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        char t[64], again[64];
        size_t n = strlen(cases[i].in), m;
        memcpy(t, cases[i].in, n);
        m = text_stem_plural(t, n);
        t[m] = '\0';
        if (strcmp(t, cases[i].out) != 0)
            fail_msg("'%s' -> '%s', want '%s'", cases[i].in, t, cases[i].out);
        memcpy(again, t, m + 1);
        assert_int_equal(text_stem_plural(again, m), m);
        assert_string_equal(again, t);
    }
}

/* Snowball's English stemmer: inflections and derivations meet at one stem, and the guards of the
 * plural rule hold (short words, stop words, digits, non-ASCII pass through unchanged). */
static const struct {
    const char *in, *out;
} stem_cases[] = {
    {"connected", "connect"}, {"connection", "connect"}, {"connecting", "connect"}, {"improving", "improv"},
    {"improved", "improv"},   {"margins", "margin"},     {"policies", "polici"},    {"policy", "polici"},
    {"runs", "run"},          {"its", "its"},            {"this", "this"},          {"which", "which"},
    {"1990s", "1990s"},       {"fy2022", "fy2022"},      {"caf\xc3\xa9s", "caf\xc3\xa9s"}, {"", ""},
};

static void stem_check_all(void)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(stem_cases); i++) {
        char t[64];
        size_t n = strlen(stem_cases[i].in), m;
        memcpy(t, stem_cases[i].in, n);
        m = text_stem_english(t, n);
        t[m] = '\0';
        if (strcmp(t, stem_cases[i].out) != 0)
            fail_msg("'%s' -> '%s', want '%s'", stem_cases[i].in, t, stem_cases[i].out);
    }
}

static void *stem_thread(void *arg)
{
    (void)arg;
    for (int r = 0; r < 200; r++)
        stem_check_all();
    return NULL;
}

static void test_stem_english(void **state)
{
    pthread_t th[4];
    (void)state;
    stem_check_all();
    /* a stemmer per thread: four threads stemming at once all get the same answers */
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stem_thread, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
}

static void test_invalid_utf8_prefixes(void **state)
{
    static const char text[] = "Dr. 中文。\xff\xc3( x.\xe2\x80\xa6 \xf0\x9f\x98\x80 end; \xe3\x80\x82\xe3";
    struct text_span sp[64];
    static struct text_terms q;
    (void)state;
    for (size_t n = 0; n < sizeof text - 1; n++) {
        char *copy = test_malloc(n ? n : 1);
        memcpy(copy, text, n);
        int k = text_split_sentences(copy, n, sp, 64);
        for (int i = 0; i < k; i++)
            assert_true(sp[i].start < sp[i].end && sp[i].end <= n);
        for (size_t s = 0; s < n;) {
            size_t e = text_sentence_end(copy, n, s);
            assert_true(e > s && e <= n);
            assert_true(text_sentence_end_simple(copy, n, s) > s && text_sentence_end_simple(copy, n, s) <= n);
            s = e;
        }
        text_query_terms(copy, n, &q);
        test_free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences_table),    cmocka_unit_test(test_sentences_simple),
        cmocka_unit_test(test_sentence_end_offsets),
        cmocka_unit_test(test_long_word_is_cut),
        cmocka_unit_test(test_terms_and_stop_words), cmocka_unit_test(test_terms_cap),
        cmocka_unit_test(test_word_lists),
        cmocka_unit_test(test_cjk_stop_char),         cmocka_unit_test(test_invalid_utf8_prefixes),
        cmocka_unit_test(test_fold_han),
        cmocka_unit_test(test_stem_plural),
        cmocka_unit_test(test_stem_english),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
