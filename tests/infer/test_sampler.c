/* tests/infer/test_sampler.c: the sampler's steps as tables (greedy ties, top-k/top-p/min-p sets,
 * temperature frequencies, penalties and their window), seed determinism, and the stop matcher
 * across piece boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/sampler.h"

static struct sampler *mk(int n_vocab, const struct sampler_params *p)
{
    struct sampler *s = NULL;
    struct kb_error err = {0};
    assert_int_equal(sampler_new(&s, n_vocab, p, &err), 0);
    return s;
}

static void test_greedy(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.temp = 0;
    struct sampler *s = mk(5, &p);
    static const struct {
        float l[5];
        int32_t want;
    } cases[] = {
        {{1, 3, 3, 2, 0}, 1},                                      /* ties go to the lowest id */
        {{-5, -4, -9, -4.5f, -4}, 1}, {{NAN, 0, 1, NAN, 0.5f}, 2}, /* NaN never wins */
        {{0, 0, 0, 0, 0}, 0},         {{-INFINITY, -INFINITY, 7, 8, -1}, 3},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
        assert_int_equal(sampler_sample(s, cases[i].l), cases[i].want);
    assert_true(sampler_last_prob(s) == 1.0f);
    sampler_free(s);
}

/* Draws n times from the same logits; counts per token into cnt[0..n_vocab). */
static void draw(struct sampler *s, const float *l, int n, int *cnt)
{
    for (int i = 0; i < n; i++)
        cnt[sampler_sample(s, l)]++;
}

static void test_sets(void **state)
{
    (void)state;
    /* probabilities 0.5, 0.3, 0.2 (and a negligible fourth) */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -100};
    static const struct {
        int top_k;
        float top_p, min_p;
        int allowed[4]; /* which tokens may appear */
        double p0;      /* expected frequency of token 0 */
    } cases[] = {
        {0, 1.0f, 0.0f, {1, 1, 1, 0}, 0.5},
        {1, 1.0f, 0.0f, {1, 0, 0, 0}, 1.0},
        {2, 1.0f, 0.0f, {1, 1, 0, 0}, 0.625},
        {0, 0.5f, 0.0f, {1, 0, 0, 0}, 1.0}, /* 0.5 already reaches top_p */
        {0, 0.7f, 0.0f, {1, 1, 0, 0}, 0.625},
        {0, 1.0f, 0.5f, {1, 1, 0, 0}, 0.625}, /* keep p >= 0.25 */
        {0, 1.0f, 0.7f, {1, 0, 0, 0}, 1.0},
        {3, 0.9f, 0.1f, {1, 1, 1, 0}, 0.5},
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        struct sampler_params p;
        sampler_params_default(&p);
        p.temp = 1.0f;
        p.top_k = cases[c].top_k;
        p.top_p = cases[c].top_p;
        p.min_p = cases[c].min_p;
        p.seed = 42 + c;
        struct sampler *s = mk(4, &p);
        int cnt[4] = {0};
        draw(s, l, 20000, cnt);
        for (int t = 0; t < 4; t++)
            if (!cases[c].allowed[t])
                assert_int_equal(cnt[t], 0);
        double f0 = cnt[0] / 20000.0;
        if (fabs(f0 - cases[c].p0) > 0.02)
            fail_msg("case %zu: token 0 frequency %.3f, want %.3f", c, f0, cases[c].p0);
        sampler_free(s);
    }
}

static void test_temperature(void **state)
{
    (void)state;
    const float l[3] = {1.0f, 0.5f, 0.0f};
    static const float temps[] = {0.5f, 1.0f, 2.0f};
    for (size_t c = 0; c < KB_ARRAY_LEN(temps); c++) {
        struct sampler_params p;
        sampler_params_default(&p);
        p.temp = temps[c];
        p.top_k = 0;
        p.top_p = 1;
        p.min_p = 0;
        p.seed = 7;
        struct sampler *s = mk(3, &p);
        int cnt[3] = {0};
        draw(s, l, 30000, cnt);
        double z = 0;
        for (int t = 0; t < 3; t++)
            z += exp(l[t] / temps[c]);
        for (int t = 0; t < 3; t++) {
            double want = exp(l[t] / temps[c]) / z, got = cnt[t] / 30000.0;
            if (fabs(got - want) > 0.015)
                fail_msg("temp %.1f token %d: %.3f, want %.3f", (double)temps[c], t, got, want);
        }
        sampler_free(s);
    }
}

static void test_seed(void **state)
{
    (void)state;
    float l[50];
    for (int i = 0; i < 50; i++)
        l[i] = sinf((float)i) * 2;
    struct sampler_params p;
    sampler_params_default(&p);
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.temp = 1.5f;
    p.seed = 1234;
    struct sampler *a = mk(50, &p), *b = mk(50, &p);
    p.seed = 1235;
    struct sampler *c = mk(50, &p);
    int32_t ra[200], diff = 0;
    for (int i = 0; i < 200; i++) {
        ra[i] = sampler_sample(a, l);
        assert_int_equal(ra[i], sampler_sample(b, l));
        diff += ra[i] != sampler_sample(c, l);
    }
    assert_true(diff > 50);
    sampler_reset(a); /* reset restarts the stream */
    for (int i = 0; i < 200; i++)
        assert_int_equal(sampler_sample(a, l), ra[i]);
    sampler_free(a);
    sampler_free(b);
    sampler_free(c);
}

static void test_penalties(void **state)
{
    (void)state;
    static const struct {
        float rep, pres, freq;
        int last_n;
        int32_t accept[4];
        int n_accept;
        float l[3];
        int32_t want;
    } cases[] = {
        {1.0f, 0, 0, 64, {0}, 1, {2.0f, 1.9f, -1}, 0},       /* off */
        {2.0f, 0, 0, 64, {0}, 1, {2.0f, 1.9f, -1}, 1},       /* 2.0 / 2 = 1.0 < 1.9 */
        {2.0f, 0, 0, 64, {0, 0, 0}, 3, {2.0f, 1.9f, -1}, 1}, /* applied once, not per occurrence */
        {3.0f, 0, 0, 64, {1}, 1, {-1.0f, -2.0f, -2.5f}, 0},  /* negative: -2 * 3 = -6 */
        {3.0f, 0, 0, 64, {0}, 1, {-1.0f, -2.0f, -2.5f}, 1},  /* -1 * 3 = -3 < -2 */
        {1.0f, 0.5f, 0, 64, {0}, 1, {1.0f, 0.8f, 0}, 1},     /* presence: 0.5 < 0.8 */
        {1.0f, 0, 0.15f, 64, {0, 0}, 2, {1.0f, 0.8f, 0}, 1}, /* frequency: 1 - 0.3 */
        {1.0f, 0, 0.15f, 64, {0}, 1, {1.0f, 0.8f, 0}, 0},    /* 0.85 still wins */
        {2.0f, 0, 0, 2, {0, 1, 1}, 3, {2.0f, 1.9f, -1}, 0},  /* 0 fell out of the window */
        {2.0f, 0, 0, 0, {0}, 1, {2.0f, 1.9f, -1}, 0},        /* no window at all */
        {2.0f, 0, 0, 64, {7, -1}, 2, {2.0f, 1.9f, -1}, 0},   /* out-of-range ids are ignored */
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        struct sampler_params p;
        sampler_params_default(&p);
        p.temp = 0;
        p.repeat_penalty = cases[c].rep;
        p.presence_penalty = cases[c].pres;
        p.frequency_penalty = cases[c].freq;
        p.repeat_last_n = cases[c].last_n;
        struct sampler *s = mk(3, &p);
        for (int i = 0; i < cases[c].n_accept; i++)
            sampler_accept(s, cases[c].accept[i]);
        if (sampler_sample(s, cases[c].l) != cases[c].want)
            fail_msg("penalty case %zu", c);
        sampler_free(s);
    }
}

static void test_bad_params(void **state)
{
    (void)state;
    struct sampler_params p;
    struct sampler *s = NULL;
    struct kb_error err = {0};
    sampler_params_default(&p);
    assert_int_equal(sampler_new(&s, 0, &p, &err), KB_EINVAL);
    p.top_p = NAN;
    assert_int_equal(sampler_new(&s, 10, &p, &err), KB_EINVAL);
    sampler_params_default(&p);
    p.repeat_penalty = 0;
    assert_int_equal(sampler_new(&s, 10, &p, &err), KB_EINVAL);
    assert_null(s);
}

static void test_stop(void **state)
{
    (void)state;
    static const char *const stops[] = {"</s>", "STOP", ""};
    static const struct {
        const char *pieces[6];
        const char *shown; /* everything handed out, flush included */
        bool stopped;
    } cases[] = {
        {{"Hello ", "</", "s> more", NULL}, "Hello ", true},
        {{"ab", "ST", "OX", NULL}, "abSTOX", false},
        {{"x S", "TO", "P", "y", NULL}, "x ", true},
        {{"<", "/", "s", NULL}, "</s", false}, /* partial at the end comes out on flush */
        {{"no stop here", NULL}, "no stop here", false},
        {{"a</s>b</s>", NULL}, "a", true},
        {{"STO", "STOP", NULL}, "STO", true},
    };
    struct stop_matcher *m = NULL;
    struct kb_error err = {0};
    assert_int_equal(stop_matcher_new(&m, stops, 3, 16, &err), 0);
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        char shown[128] = "";
        size_t n_shown = 0;
        bool stopped = false;
        const char *e;
        size_t ne;
        stop_matcher_reset(m);
        for (int i = 0; cases[c].pieces[i] && !stopped; i++) {
            stopped = stop_matcher_feed(m, cases[c].pieces[i], strlen(cases[c].pieces[i]), &e, &ne);
            memcpy(shown + n_shown, e, ne);
            n_shown += ne;
        }
        if (!stopped) {
            stop_matcher_flush(m, &e, &ne);
            memcpy(shown + n_shown, e, ne);
            n_shown += ne;
        }
        shown[n_shown] = 0;
        if (stopped != cases[c].stopped || strcmp(shown, cases[c].shown) != 0)
            fail_msg("stop case %zu: shown '%s' stopped %d", c, shown, stopped);
    }
    stop_matcher_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy), cmocka_unit_test(test_sets),      cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_seed),   cmocka_unit_test(test_penalties), cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
