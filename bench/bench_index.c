/* bench/bench_index.c: the index on a synthetic corpus: ingestion chunks/s with the built-in embedder
 * (one index_doc_replace per 10-chunk document), vector index build time (rebuild from SQLite and
 * save), query latency p50/p99 per mode, and peak resident memory.
 *
 * Corpus: words drawn from a Zipf(1.0) vocabulary of 50k pseudo-words (plus 10% Chinese chunks drawn
 * from 3000 Han characters), 120 words per chunk, and a title of 4 such words per document (so every
 * chunk has a document context, a third full-text field); queries are 4 words from the same
 * distribution.
 * Usage: bench_index N_CHUNKS [DATA_DIR [ANN_THRESHOLD]]  (DATA_DIR defaults to a fresh temp dir,
 * removed at exit; ANN_THRESHOLD is the open option ann_threshold, default 200000). Query words are
 * drawn from ranks 200..20200 (content words; the top ranks behave like stop words and would make
 * every query match most chunks). KBOX_BENCH_REUSE=1 skips ingestion of an existing DATA_DIR.
 * Every phase prints wall-clock time and this process's CPU time: on the shared 2-core machine the
 * wall numbers stretch with other people's load, the CPU numbers much less (they still include cache
 * and memory-bandwidth contention). The 1M-chunk run needs about 5 GB of RAM at 512 dimensions (2 GB
 * of vectors in FAISS plus the same again while the index is rebuilt) and about 6 GB of disk. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"

#define VOCAB 50000
#define WORDS_PER_CHUNK 120
#define CHUNKS_PER_DOC 10
#define TITLE_WORDS 4
#define N_QUERIES 300

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double *zipf_cdf;
static int zipf_pick(void)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void word_of(int r, char *out)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "da", "fe", "gi", "ho", "ju"};
    int n = 0;
    out[0] = '\0';
    do {
        n += snprintf(out + n, 8, "%s", syl[r % 16]);
        r /= 16;
    } while (r > 0);
}

static void make_chunk(char *buf, size_t cap, bool zh)
{
    size_t n = 0;
    for (int w = 0; w < WORDS_PER_CHUNK && n + 32 < cap; w++) {
        int r = zipf_pick();
        if (zh) {
            char enc[4];
            int len = kb_utf8_encode(0x4E00 + (uint32_t)(r % 3000), enc);
            memcpy(buf + n, enc, (size_t)len);
            n += (size_t)len;
        } else {
            char word[40];
            word_of(r, word);
            n += (size_t)snprintf(buf + n, cap - n, "%s ", word);
        }
    }
    buf[n] = '\0';
}

static long rss_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key) + 1, NULL, 10);
    fclose(f);
    return v;
}

/* CPU seconds of this process (all threads): on a machine shared with other jobs the wall-clock
 * numbers below stretch with the load; CPU time shows what the work itself costs. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t ann_threshold = 200000;

static int open_store(struct index_store **st, const char *dir, const struct index_embedder *e)
{
    struct index_open_opts o;
    struct kb_error err = {0};
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.embedder = e;
    o.ann_threshold = ann_threshold;
    if (index_store_open(st, &o, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    char dir[4096], vpath[4200];
    int64_t n_chunks;
    double t0, c0, t_ingest, t_build, t_save, c_ingest, c_build, c_save, sum = 0;
    bool tmp = argc < 3;
    static char texts[CHUNKS_PER_DOC][WORDS_PER_CHUNK * 24];
    char title[TITLE_WORDS * 40];
    if (argc < 2 || kb_parse_i64(argv[1], &n_chunks) != 0 || n_chunks < CHUNKS_PER_DOC) {
        fprintf(stderr, "usage: bench_index N_CHUNKS [DATA_DIR]\n");
        return 1;
    }
    if (argc > 3 && kb_parse_i64(argv[3], &ann_threshold) != 0)
        return 1;
    if (tmp) {
        snprintf(dir, sizeof(dir), "/tmp/kbox-bench-XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    } else {
        kb_strlcpy(dir, argv[2], sizeof(dir));
    }
    snprintf(vpath, sizeof(vpath), "%s/vectors.faiss", dir);
    kb_log_set_level(KB_LOG_ERROR);
    zipf_cdf = kb_xmalloc(VOCAB * sizeof(double));
    for (int i = 0; i < VOCAB; i++)
        sum += 1.0 / (i + 1);
    for (int i = 0, acc = 0; i < VOCAB; i++, acc++)
        zipf_cdf[i] = (i ? zipf_cdf[i - 1] : 0) + 1.0 / (i + 1) / sum;
    if (index_embedder_builtin_new(&emb, 512, &err) != 0 || open_store(&st, dir, emb))
        return 1;

    t0 = kb_now_s();
    c0 = cpu_s();
    for (int64_t d = getenv("KBOX_BENCH_REUSE") ? n_chunks : 0; d < n_chunks / CHUNKS_PER_DOC; d++) {
        struct index_doc doc = {0};
        struct index_chunk ch[CHUNKS_PER_DOC];
        char path[64];
        memset(ch, 0, sizeof(ch));
        snprintf(path, sizeof(path), "/synthetic/%lld.txt", (long long)d);
        for (int c = 0; c < CHUNKS_PER_DOC; c++) {
            make_chunk(texts[c], sizeof(texts[c]), d % 10 == 9);
            ch[c].text = texts[c];
            ch[c].n_tokens = WORDS_PER_CHUNK;
        }
        doc.path = path;
        doc.name = path + 11;
        title[0] = '\0';
        for (int w = 0, n = 0; w < TITLE_WORDS; w++) {
            char word[40];
            word_of(zipf_pick(), word);
            n += snprintf(title + n, sizeof(title) - (size_t)n, "%s%s", w ? " " : "", word);
        }
        doc.title = title; /* every chunk's document context */
        if (index_doc_replace(st, &doc, ch, CHUNKS_PER_DOC, NULL, NULL, 0, NULL, &err) != 0) {
            fprintf(stderr, "replace: %s\n", err.msg);
            return 1;
        }
    }
    t_ingest = kb_now_s() - t0;
    c_ingest = cpu_s() - c0;
    t0 = kb_now_s();
    c0 = cpu_s();
    if (index_store_save_vectors(st, &err) != 0)
        fprintf(stderr, "save: %s\n", err.msg);
    t_save = kb_now_s() - t0;
    c_save = cpu_s() - c0;
    index_store_close(st);
    unlink(vpath);
    t0 = kb_now_s();
    c0 = cpu_s();
    if (open_store(&st, dir, emb)) /* rebuilds the FAISS index from SQLite, then saves it */
        return 1;
    t_build = kb_now_s() - t0;
    c_build = cpu_s() - c0;

    printf("chunks %lld  ingest %.1f s = %.0f chunks/s (CPU %.1f s = %.0f chunks/CPU-s)  vector save %.2f s (CPU %.2f)"
           "  rebuild+save on open %.2f s (CPU %.2f)\n",
           (long long)n_chunks, t_ingest, (double)n_chunks / t_ingest, c_ingest, (double)n_chunks / c_ingest, t_save,
           c_save, t_build, c_build);
    for (int m = 0; m < 3; m++) {
        static const char *names[] = {"hybrid", "bm25", "vector"};
        double lat[N_QUERIES], cpu[N_QUERIES];
        struct index_search_opts o;
        memset(&o, 0, sizeof(o));
        o.top_k = 6;
        o.rrf_k = 60;
        o.mode = (enum index_mode)m;
        o.evidence = true;
        rng_state = 12345;
        for (int q = 0; q < N_QUERIES; q++) {
            char query[256];
            size_t n = 0;
            struct kb_arena a;
            struct index_hit *hits;
            int n_hits;
            for (int w = 0; w < 4; w++) {
                char word[40];
                word_of(200 + (int)(rnd() % 20000), word); /* content words, not the top stop-word-like ones */
                n += (size_t)snprintf(query + n, sizeof(query) - n, "%s ", word);
            }
            kb_arena_init(&a, 1 << 16, 0);
            t0 = kb_now_s();
            c0 = cpu_s();
            if (index_search(st, query, &o, &a, &hits, &n_hits, &err) != 0) {
                fprintf(stderr, "search: %s\n", err.msg);
                return 1;
            }
            lat[q] = (kb_now_s() - t0) * 1000;
            cpu[q] = (cpu_s() - c0) * 1000;
            kb_arena_release(&a);
        }
        qsort(lat, N_QUERIES, sizeof(double), cmp_d);
        qsort(cpu, N_QUERIES, sizeof(double), cmp_d);
        printf("query %-6s p50 %.2f ms  p99 %.2f ms  (CPU p50 %.2f ms  p99 %.2f ms)\n", names[m], lat[N_QUERIES / 2],
               lat[N_QUERIES * 99 / 100], cpu[N_QUERIES / 2], cpu[N_QUERIES * 99 / 100]);
    }
    printf("rss %ld kB  peak %ld kB\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
    index_store_close(st);
    index_embedder_builtin_free(emb);
    free(zipf_cdf);
    if (tmp) {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return 0;
}
