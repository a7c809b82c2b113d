/* tests/index/test_fts_tok.c: kbox's tokenizer as tables (English folding and diacritics, Chinese
 * bigrams plus unigrams, Traditional folded to Simplified, mixed text, query mode) and the built-in
 * embedder (determinism, dimension, norm, typo robustness, CJK). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "index/index.h"

struct toks {
    char buf[4096];
    size_t len;
};

static int collect(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct toks *t = ud;
    (void)cjk;
    assert_true(start >= 0 && end > start);
    if (t->len)
        t->buf[t->len++] = '|';
    memcpy(t->buf + t->len, tok, (size_t)n);
    t->len += (size_t)n;
    t->buf[t->len] = '\0';
    return 0;
}

static const char *toks_of(struct toks *t, const char *text, bool q)
{
    t->len = 0;
    t->buf[0] = '\0';
    index_tokenize(text, strlen(text), q, collect, t);
    return t->buf;
}

static void test_tokenize_table(void **state)
{
    static const struct {
        const char *in;
        bool query;
        const char *out;
    } cases[] = {
        {"Hello, World!", false, "hello|world"},
        {"Crème Brûlée ÉCOLE naïve", false, "creme|brulee|ecole|naive"},
        {"Straße ﬁle", false, "strasse|file"},
        {"ＡＢＣ１２３", false, "abc123"},
        {"Ünïcödé UNICODE unicode", false, "unicode|unicode|unicode"},
        {"中文分词", false, "中|文|中文|分|文分|词|分词"},
        {"中文分词", true, "中文|文分|分词"},
        {"中", true, "中"},
        {"中 文", true, "中|文"},
        {"Wi-Fi 设置 v2.5", false, "wi|fi|设|置|设置|v2|5"},
        {"Wi-Fi 设置 v2.5", true, "wi|fi|设置|v2|5"},
        {"カタカナ", true, "カタ|タカ|カナ"},
        /* Traditional folds to Simplified (OpenCC's t2s characters): 說話 and 说话 are one token */
        {"說話", false, "说|话|说话"},
        {"說話", true, "说话"},
        {"臺灣的電腦 台湾的电脑", true, "台湾|湾的|的电|电脑|台湾|湾的|的电|电脑"},
        {"乾淨", true, "干净"},
        {"한국어", false, "한|국|한국|어|국어"},
        {"\"*():^-+ AND OR NOT NEAR", true, "and|or|not|near"},
        {"", false, ""},
        {"\xff\xfe bad \xc3", false, "bad"},
    };
    struct toks t;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = toks_of(&t, cases[i].in, cases[i].query);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu '%s': got '%s', want '%s'", i, cases[i].in, got, cases[i].out);
    }
}

static void test_tokenize_long_word(void **state)
{
    char w[300];
    struct toks t;
    (void)state;
    memset(w, 'a', sizeof(w) - 1);
    w[sizeof(w) - 1] = '\0';
    toks_of(&t, w, false);
    assert_int_equal(strlen(t.buf), INDEX_TOKEN_MAX_BYTES);
}

static double cosine(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void test_embed_builtin(void **state)
{
    struct index_embedder *e = NULL, *e2 = NULL;
    struct kb_error err = {0};
    const char *texts[] = {
        "The router's Wi-Fi password can be reset from the admin page.",
        "The router's Wi-Fi password can be reset from the admin page.",
        "Reset the wifi pasword on the routr admin page",
        "Chocolate cake needs flour, sugar and cocoa powder.",
        "如何重置路由器的无线密码",
        "路由器无线密码重置方法",
        "",
    };
    enum { N = 7, D = 512 };
    static float v[N * D], v2[N * D];
    (void)state;
    assert_int_equal(index_embedder_builtin_new(&e, 8, &err), KB_EINVAL);
    assert_int_equal(index_embedder_builtin_new(&e, D, &err), 0);
    assert_int_equal(index_embedder_builtin_new(&e2, D, &err), 0);
    assert_string_equal(e->id, "kbox-hash-v2-d512");
    assert_int_equal(e->dim, D);
    assert_int_equal(e->embed(e->ud, texts, N, v, &err), 0);
    assert_int_equal(e2->embed(e2->ud, texts, N, v2, &err), 0);
    assert_memory_equal(v, v2, sizeof(v)); /* deterministic across instances */
    for (int i = 0; i < N - 1; i++)
        assert_true(fabs(cosine(v + i * D, v + i * D, D) - 1.0) < 1e-4);
    assert_true(cosine(v + 6 * D, v + 6 * D, D) == 0.0); /* empty text: zero vector */
    assert_true(fabs(cosine(v, v + D, D) - 1.0) < 1e-5);
    /* typos still match better than an unrelated text */
    assert_true(cosine(v, v + 2 * D, D) > 0.3);
    assert_true(cosine(v, v + 2 * D, D) > cosine(v + 2 * D, v + 3 * D, D) + 0.2);
    /* Chinese paraphrase closer than English */
    assert_true(cosine(v + 4 * D, v + 5 * D, D) > 0.3);
    assert_true(cosine(v + 4 * D, v + 5 * D, D) > cosine(v + 4 * D, v + 3 * D, D) + 0.2);
    index_embedder_builtin_free(e);
    index_embedder_builtin_free(e2);
    index_embedder_builtin_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_table),
        cmocka_unit_test(test_tokenize_long_word),
        cmocka_unit_test(test_embed_builtin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
