/* bench/bench_embed.c: embedding throughput of infer/embed.h, in chunks/s and tokens/s.
 *
 *   bench_embed MODEL.gguf [-n CHUNKS] [-w WORDS_PER_CHUNK] [-t THREADS] [-r REPEATS]
 *
 * Builds CHUNKS deterministic pseudo-English chunks of WORDS_PER_CHUNK words (a fixed word list
 * walked by a linear congruential generator), embeds them all with infer_embed_texts() (normalised,
 * as the knowledge base stores them) after one warm-up chunk, and prints the best of REPEATS
 * runs. Not a test: numbers go to docs/BENCHMARKS.md with the machine and the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/embed.h"

static const char *const words[] = {
    "the",     "index",  "stores",   "every",   "chunk",  "with",   "its",     "vector",
    "and",     "search", "ranks",    "passages", "by",    "meaning", "rather", "than",
    "words",   "a",      "model",    "reads",   "tokens", "through", "layers", "of",
    "attention", "then", "pools",    "them",    "into",   "one",    "embedding", "quickly",
};

static int arg_int(const char *s, int lo, int hi, int *out)
{
    int64_t v;
    if (kb_parse_i64(s, &v) != 0 || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int n_chunks = 64, n_words = 200, n_threads = 0, repeats = 3, rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_embed MODEL.gguf [-n CHUNKS] [-w WORDS] [-t THREADS] [-r N]\n");
        return 1;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        int *dst = strcmp(argv[i], "-n") == 0   ? &n_chunks
                   : strcmp(argv[i], "-w") == 0 ? &n_words
                   : strcmp(argv[i], "-t") == 0 ? &n_threads
                   : strcmp(argv[i], "-r") == 0 ? &repeats
                                                : NULL;
        if (!dst || arg_int(argv[i + 1], 0, 1 << 20, dst) != 0) {
            fprintf(stderr, "bench_embed: bad argument '%s'\n", argv[i]);
            return 1;
        }
    }
    if (n_chunks < 1 || n_words < 1 || repeats < 1) {
        fprintf(stderr, "bench_embed: -n, -w and -r must be positive\n");
        return 1;
    }
    struct kb_error err = {0};
    struct infer_embedder *e = NULL;
    if (infer_embedder_open(&e, argv[1], n_threads, &err) != 0) {
        fprintf(stderr, "bench_embed: %s\n", err.msg);
        return 1;
    }
    char **texts = kb_xcalloc((size_t)n_chunks, sizeof *texts);
    uint32_t lcg = 12345;
    long total_tokens = 0;
    for (int c = 0; c < n_chunks; c++) {
        struct kb_buf b;
        kb_buf_init(&b, 0);
        for (int w = 0; w < n_words; w++) {
            lcg = lcg * 1664525u + 1013904223u;
            kb_buf_printf(&b, "%s%s", w ? " " : "", words[(lcg >> 16) % KB_ARRAY_LEN(words)]);
        }
        texts[c] = kb_buf_take(&b);
        int32_t *ids = kb_xmalloc((size_t)infer_embedder_max_tokens(e) * sizeof *ids);
        int n = 0;
        if (infer_embedder_tokenize(e, texts[c], ids, infer_embedder_max_tokens(e), &n, &err) == 0)
            total_tokens += n;
        free(ids);
    }
    float *out = kb_xmalloc((size_t)n_chunks * infer_embedder_dim(e) * sizeof *out);
    double best = 1e30;
    if ((rc = infer_embed_texts(e, (const char *const *)texts, 1, out, true, &err)) == 0) {
        for (int r = 0; r < repeats && rc == 0; r++) {
            double t0 = kb_now_s();
            rc = infer_embed_texts(e, (const char *const *)texts, n_chunks, out, true, &err);
            double dt = kb_now_s() - t0;
            if (dt < best)
                best = dt;
        }
    }
    if (rc)
        fprintf(stderr, "bench_embed: %s\n", err.msg);
    else
        printf("model %s (dim %d), threads %d: %d chunks of %.1f tokens: %.2f chunks/s, %.0f "
               "tokens/s (best of %d)\n",
               infer_embedder_id(e), infer_embedder_dim(e), n_threads, n_chunks,
               (double)total_tokens / n_chunks, n_chunks / best, total_tokens / best, repeats);
    for (int c = 0; c < n_chunks; c++)
        free(texts[c]);
    free(texts);
    free(out);
    infer_embedder_close(e);
    return rc ? 1 : 0;
}
