/* tests/index/test_store_log.c: the conversation log's store (index/store_log.c) on a real SQLite
 * file: the statistics' top questions and top unanswered (the threshold walk over the totals)
 * against a brute-force count of the same random messages for several date ranges and
 * collections; the rollups after the retention purge and after deleting a conversation (its
 * feedback and votes go too); feedback only with the conversation's secret; the review state. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idx_test.h"

#define N_MSG 3000
#define N_Q 40
#define DAYS 20

struct msg {
    int q, coll, day;
    bool fb;
};

static struct msg msgs[N_MSG];

/* Logs m in the conversation of secret (created when new); *mid gets the message id. */
static void append(struct index_store *st, const struct msg *m, int64_t now, const char *secret, int64_t *mid)
{
    struct index_log_exchange x = {0};
    struct kb_error err = {0};
    char q[32];
    snprintf(q, sizeof q, "question %d", m->q);
    assert_int_equal(index_log_next_id(st, mid, &err), 0);
    x.message_id = *mid;
    x.secret = secret;
    x.channel = "api";
    x.collection_id = m->coll;
    x.question = q;
    x.qnorm = q;
    x.answer = "a";
    x.mode = m->fb ? "fallback" : "extractive";
    x.fallback = m->fb;
    x.confidence = m->fb ? 0 : 0.9;
    x.latency_ms = 5 + m->q;
    x.citations = m->fb ? "[]" : "[{\"n\":1,\"document_id\":3,\"chunk_id\":9,\"document\":\"d.md\",\"page\":0}]";
    x.created_at = now - (int64_t)m->day * 86400;
    if (index_log_append(st, &x, 1, 0, &err))
        fail_msg("append: %s", err.msg);
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* The ten largest per-question counts of messages in days [d_lo, d_hi] ago and collection coll. */
static int brute_top(int d_lo, int d_hi, int coll, bool fb_only, int64_t *out)
{
    int64_t c[N_Q] = {0};
    int n = 0;
    for (int i = 0; i < N_MSG; i++)
        if (msgs[i].day >= d_lo && msgs[i].day <= d_hi && (!coll || msgs[i].coll == coll) && (!fb_only || msgs[i].fb))
            c[msgs[i].q]++;
    qsort(c, N_Q, sizeof c[0], cmp_desc);
    while (n < INDEX_LOG_TOP && c[n] > 0) {
        out[n] = c[n];
        n++;
    }
    return n;
}

static void test_top_questions_exact(void **state)
{
    char dir[] = "/tmp/kbox-store-log-XXXXXX", secret[33];
    struct index_store *st;
    struct kb_error err = {0};
    int64_t now = ((int64_t)time(NULL) / 86400) * 86400 + 43200, mid;
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(idx_open(&st, dir, NULL, &err), 0);
    srand(7);
    for (int i = 0; i < N_MSG; i++) {
        /* skewed questions whose popularity changes over time, so all-time totals mislead ranges */
        int a = rand() % N_Q, b = rand() % N_Q;
        msgs[i].day = rand() % DAYS;
        msgs[i].q = msgs[i].day < DAYS / 2 ? a * b / N_Q : N_Q - 1 - a * b / N_Q;
        msgs[i].coll = 1 + rand() % 3;
        msgs[i].fb = rand() % 5 == 0;
        snprintf(secret, sizeof secret, "%032x", i + 1);
        append(st, &msgs[i], now, secret, &mid);
    }
    static const int ranges[][2] = {{0, DAYS - 1}, {0, 0}, {0, 4}, {5, 14}, {DAYS / 2, DAYS - 1}, {3, 3}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (int coll = 0; coll <= 3; coll++)
            for (int fb = 0; fb <= 1; fb++) {
                struct index_log_stats s;
                struct kb_arena a;
                int64_t want[INDEX_LOG_TOP];
                int n = brute_top(ranges[r][0], ranges[r][1], coll, fb, want);
                int64_t from = now - (int64_t)ranges[r][1] * 86400, to = now - (int64_t)ranges[r][0] * 86400 + 1;
                kb_arena_init(&a, 0, 0);
                assert_int_equal(index_log_stats(st, from, to, coll, &a, &s, &err), 0);
                const struct index_log_count *got = fb ? s.unanswered : s.top;
                int n_got = fb ? s.n_unanswered : s.n_top;
                if (n_got != n)
                    fail_msg("range %zu coll %d fb %d: %d entries, want %d", r, coll, fb, n_got, n);
                for (int i = 0; i < n; i++)
                    if (got[i].n != want[i])
                        fail_msg("range %zu coll %d fb %d: entry %d has %lld, want %lld", r, coll, fb, i,
                                 (long long)got[i].n, (long long)want[i]);
                kb_arena_release(&a);
            }
    index_store_close(st);
    idx_rm_rf(dir);
}

static int first_id(void *ud, const struct index_log_row *r)
{
    int64_t *id = ud;
    if (!*id)
        *id = r->id;
    return 0;
}

static void test_purge_delete_feedback(void **state)
{
    char dir[] = "/tmp/kbox-store-log-XXXXXX";
    const char *s1 = "11111111111111111111111111111111", *s2 = "22222222222222222222222222222222",
               *s3 = "33333333333333333333333333333333";
    struct index_store *st;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_log_stats s;
    int64_t now = (int64_t)time(NULL), m_old, m_new, m_new2, m_other;
    struct msg old = {1, 1, 100, true}, fresh = {2, 1, 0, false}, other = {3, 2, 0, true};
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(idx_open(&st, dir, NULL, &err), 0);
    append(st, &old, now, s1, &m_old);
    append(st, &fresh, now, s2, &m_new);
    append(st, &fresh, now, s2, &m_new2); /* the same conversation */
    append(st, &other, now, s3, &m_other);
    /* feedback needs the conversation's secret */
    assert_int_equal(index_log_feedback(st, m_new, s1, 1, "", &err), KB_ENOENT);
    assert_int_equal(index_log_feedback(st, m_new, s2, 1, "good", &err), 0);
    assert_int_equal(index_log_feedback(st, m_new2, s2, -1, "", &err), 0);
    assert_int_equal(index_log_feedback(st, m_new2, s2, 1, "changed my mind", &err), 0); /* replaces */
    assert_int_equal(index_log_feedback(st, m_old, s1, -1, "", &err), 0);
    assert_int_equal(index_log_feedback(st, m_other, s3, -1, "", &err), 0);
    kb_arena_init(&a, 0, 0);
    assert_int_equal(index_log_stats(st, 0, 0, 0, &a, &s, &err), 0);
    assert_int_equal(s.n_questions, 4);
    assert_int_equal(s.n_up, 2);
    assert_int_equal(s.n_down, 2);
    /* retention: the 100-day-old message and its feedback go, the rollups follow */
    int64_t n_del = 0;
    assert_int_equal(index_log_purge(st, now - 90 * 86400, &n_del, &err), 0);
    assert_int_equal(n_del, 1);
    assert_int_equal(index_log_stats(st, 0, 0, 0, &a, &s, &err), 0);
    assert_int_equal(s.n_questions, 3);
    assert_int_equal(s.n_down, 1);
    assert_int_equal(s.n_unanswered, 1);
    assert_int_equal(index_log_feedback(st, m_old, s1, 1, "", &err), KB_ENOENT);
    /* deleting a conversation deletes its messages, feedback and their counts */
    assert_int_equal(index_log_stats(st, 0, 0, 1, &a, &s, &err), 0);
    assert_int_equal(s.n_questions, 2);
    int64_t conv = 0;
    {
        /* review: only the fallback of collection 2 (the thumbs-down on m_new2 became a thumbs-up) */
        struct index_log_filter f = {.low_confidence = 0.5};
        int64_t total = -1, first = 0;
        assert_int_equal(index_log_review(st, &f, first_id, &first, &total, &err), 0);
        assert_int_equal(total, 1);
        assert_int_equal(first, m_other);
    }
    assert_int_equal(index_log_review_set(st, m_other, "dismissed", &err), 0);
    assert_int_equal(index_log_review_set(st, m_other, "archived", &err), KB_EINVAL);
    assert_int_equal(index_log_review_set(st, 99999, "resolved", &err), KB_ENOENT);
    /* the conversation of m_new: conversation ids are given in order, the purged one was 1 */
    conv = 2;
    assert_int_equal(index_log_conversation_delete(st, conv, &err), 0);
    assert_int_equal(index_log_conversation_delete(st, conv, &err), KB_ENOENT);
    assert_int_equal(index_log_stats(st, 0, 0, 1, &a, &s, &err), 0);
    assert_int_equal(s.n_questions, 0);
    assert_int_equal(s.n_up, 0);
    assert_int_equal(s.n_top, 0);
    assert_int_equal(index_log_stats(st, 0, 0, 0, &a, &s, &err), 0);
    assert_int_equal(s.n_questions, 1);
    assert_int_equal(s.n_down, 1);
    assert_int_equal(s.n_docs, 0); /* the remaining message fell back: no citations counted */
    kb_arena_release(&a);
    index_store_close(st);
    idx_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_questions_exact),
        cmocka_unit_test(test_purge_delete_feedback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
