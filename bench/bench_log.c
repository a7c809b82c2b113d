/* bench/bench_log.c: the conversation log's two size and speed targets of issue #15 (not a test):
 *   1. bytes per logged exchange: the growth of kbox.db (after the WAL is checkpointed at close)
 *      over --exchanges exchanges, each with a 60-byte question, a 280-byte answer and three
 *      citations, three exchanges per conversation, through index_log_append (what /api/ask does);
 *   2. the statistics of /api/stats (index_log_stats, the query behind it) over --n synthetic
 *      messages (index_log_synthesize: SQL, spread over --days days, --questions wordings) for the
 *      whole range, the last 30 days and one collection; and the first review page over them.
 * Usage: bench_log [--n 1000000] [--days 90] [--questions 50000] [--runs 15] [--exchanges 5000]
 * (BENCH_LOG_KEEP=1 keeps the synthetic data directory and prints its path.)
 * Prints Markdown for docs/BENCHMARKS.md. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t file_bytes(const char *dir)
{
    char p[4300];
    struct stat sb;
    snprintf(p, sizeof p, "%s/kbox.db", dir);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int open_store(struct index_store **st, const char *dir)
{
    struct index_open_opts o = {.data_dir = dir};
    struct kb_error err = {0};
    int rc = index_store_open(st, &o, &err);
    if (rc)
        fprintf(stderr, "bench_log: %s\n", err.msg);
    return rc;
}

static int bytes_per_exchange(const char *dir, int n)
{
    static const char cit[] =
        "[{\"n\":1,\"document_id\":12,\"chunk_id\":3401,\"document\":\"returns-shipping.html\",\"page\":0},"
        "{\"n\":2,\"document_id\":7,\"chunk_id\":1187,\"document\":\"warranty-terms.pdf\",\"page\":4},"
        "{\"n\":3,\"document_id\":31,\"chunk_id\":9920,\"document\":\"faq.md\",\"page\":0}]";
    struct index_store *st = NULL;
    struct kb_error err = {0};
    char secret[33], q[128];
    int64_t before, after, next = 0;
    if (open_store(&st, dir))
        return 1;
    index_store_close(st);
    before = file_bytes(dir);
    if (open_store(&st, dir) || index_log_next_id(st, &next, &err))
        return 1;
    /* one exchange per append, as a lightly loaded server writes them (a busy one batches) */
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        struct index_log_exchange x = {0};
        snprintf(secret, sizeof secret, "%032x", i / 3 + 1);
        snprintf(q, sizeof q, "How many days do I have to return order %06d of a kettle?", i);
        x.message_id = next++;
        x.secret = secret;
        x.channel = "widget";
        x.question = q;
        x.qnorm = q;
        x.answer = "You can return any product within 45 days of delivery for a full refund, as long as all parts "
                   "are included [1]. Refunds reach your account within 7 working days of the return [2]. The "
                   "warranty covers defects for two years from the date of purchase [3].";
        x.mode = "extractive";
        x.confidence = 0.71;
        x.latency_ms = 12.5;
        x.citations = cit;
        if (index_log_append(st, &x, 1, 0, &err)) {
            fprintf(stderr, "bench_log: %s\n", err.msg);
            return 1;
        }
    }
    double per = (now_ms() - t0) * 1000 / n;
    index_store_close(st);
    after = file_bytes(dir);
    printf("| write time per exchange (one transaction each) | %.0f us |\n", per);
    printf("| logged exchanges (3 citations, 3 per conversation) | %d |\n", n);
    printf("| kbox.db growth | %lld bytes |\n", (long long)(after - before));
    printf("| **bytes per exchange** | **%.0f** (target < 2048) |\n\n", (double)(after - before) / n);
    return 0;
}

struct sink {
    int n;
};

static int count_row(void *ud, const struct index_log_row *r)
{
    (void)r;
    ((struct sink *)ud)->n++;
    return 0;
}

/* Median and p95 of runs of one statistics query. */
static void time_stats(struct index_store *st, const char *what, int64_t from, int64_t to, int64_t coll, int runs)
{
    double t[64];
    struct kb_error err = {0};
    struct index_log_stats s = {0};
    if (runs > 64)
        runs = 64;
    for (int i = 0; i < runs; i++) {
        struct kb_arena a;
        double t0;
        kb_arena_init(&a, 0, 0);
        t0 = now_ms();
        if (index_log_stats(st, from, to, coll, &a, &s, &err))
            fprintf(stderr, "bench_log: %s\n", err.msg);
        t[i] = now_ms() - t0;
        kb_arena_release(&a);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_d);
    printf("| /api/stats %s (%lld questions) | %.1f | %.1f |\n", what, (long long)s.n_questions, t[runs / 2],
           t[(runs * 95) / 100 < runs ? (runs * 95) / 100 : runs - 1]);
}

int main(int argc, char **argv)
{
    int64_t n = 1000000;
    int days = 90, questions = 50000, runs = 15, exchanges = 5000;
    char dir[] = "/tmp/kbox-bench-log-XXXXXX", dir2[] = "/tmp/kbox-bench-logb-XXXXXX", cmd[128];
    struct index_store *st = NULL;
    struct kb_error err = {0};
    double t0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = strtoll(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--days"))
            days = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--questions"))
            questions = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs"))
            runs = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--exchanges"))
            exchanges = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (!mkdtemp(dir) || !mkdtemp(dir2))
        return 1;
    printf("| measure | value |\n|---|---|\n");
    if (bytes_per_exchange(dir2, exchanges))
        return 1;
    if (open_store(&st, dir))
        return 1;
    t0 = now_ms();
    if (index_log_synthesize(st, n, days, questions, &err)) {
        fprintf(stderr, "bench_log: %s\n", err.msg);
        return 1;
    }
    printf("%lld synthetic messages over %d days, %d question wordings: generated in %.1f s; kbox.db %lld MB\n\n",
           (long long)n, days, questions, (now_ms() - t0) / 1000, (long long)(file_bytes(dir) >> 20));
    printf("| query | median ms | p95 ms |\n|---|---|---|\n");
    {
        int64_t now = (int64_t)time(NULL);
        time_stats(st, "all days", 0, 0, 0, runs);
        time_stats(st, "last 30 days", now - 30 * 86400, now, 0, runs);
        time_stats(st, "all days, collection 1", 0, 0, 1, runs);
        struct index_log_filter f = {.low_confidence = 0.5, .limit = 20};
        struct sink k = {0};
        int64_t total = 0;
        double tr = now_ms();
        index_log_review(st, &f, count_row, &k, &total, &err);
        printf("| /api/review first page (%d of %lld items; a scan, not a target) | %.1f | |\n", k.n, (long long)total,
               now_ms() - tr);
    }
    index_store_close(st);
    if (getenv("BENCH_LOG_KEEP")) { /* keep the synthetic database for a look with sqlite3 */
        fprintf(stderr, "bench_log: kept %s\n", dir);
        dir[0] = '\0';
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, dir2);
    return system(cmd) == 0 ? 0 : 1;
}
