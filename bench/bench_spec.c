/* bench/bench_spec.c: generated tokens/s of grounded answers with and without prompt-lookup
 * speculative decoding (infer_gen_params.draft_max), at temperature 0.
 *
 *   bench_spec MODEL.gguf [-n MAX_TOKENS] [-t THREADS] [-r REPEATS] [-k DRAFT_MAX] [-c N_CTX]
 *              [FILE...]
 *
 * The prompt is what rag/ sends: the model's chat template around a system instruction, numbered
 * passages and a question. Passages are the paragraphs of FILE... (default: samples/en/faq.md and
 * employee-handbook.txt), added in order while the prompt stays within n_ctx - MAX_TOKENS tokens.
 * Each repeat generates the answer plainly, with the adaptive default (draft_max 0) and with every
 * lookup verified (up to -k tokens) on the same session (reset between runs, so all evaluate the
 * same prompt from scratch), interleaved so machine load hits all alike; the best tokens/s of each
 * is printed with the acceptance counts, and the answers must be the same text. Then the cost of
 * verifying: batches of 2, 3, 5 and 1 + k tokens after the prompt, in single steps' worth
 * (generation is memory-bound, so a small batch should cost little more than one step; the
 * kernels' compute for small batches decides how little). Not a test: numbers go to
 * docs/BENCHMARKS.md with the machine and the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/infer.h"

#ifndef KBOX_SAMPLES_DIR
#define KBOX_SAMPLES_DIR "samples/en"
#endif

static const char *const default_files[] = {KBOX_SAMPLES_DIR "/faq.md", KBOX_SAMPLES_DIR "/employee-handbook.txt"};

static const char sys_text[] =
    "You answer questions for a company's knowledge base. Answer only from the numbered passages "
    "the user gives you. After each statement, cite the passages it comes from as [n], using their "
    "numbers. If the passages do not contain the answer, say plainly that the documents do not "
    "contain it, and do not guess. Answer in the same language as the question, briefly.";
static const char question[] = "What is the difference between the Wren and the Osprey kettles, and how long "
                               "is their warranty?";

static int arg_int(const char *s, int lo, int hi, int *out)
{
    int64_t v;
    if (kb_parse_i64(s, &v) != 0 || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int read_file(const char *path, struct kb_buf *out)
{
    FILE *f = fopen(path, "rb");
    char buf[8192];
    size_t n;
    if (!f)
        return -1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        kb_buf_append(out, buf, n);
    fclose(f);
    return 0;
}

/* Renders the grounded prompt with the first n_par paragraphs of text as passages. */
static int render(const struct infer_model *m, const char *text, int n_par, struct kb_buf *out, int *n_used,
                  struct kb_error *err)
{
    struct kb_buf user;
    struct infer_chat_msg msgs[2];
    const char *p = text;
    int k = 0, rc;
    kb_buf_init(&user, 0);
    kb_buf_puts(&user, "Passages:\n");
    while (*p && k < n_par) {
        const char *e = strstr(p, "\n\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            kb_buf_printf(&user, "\n[%d] samples > passage %d\n%.*s\n", k + 1, k + 1, (int)len, p);
            k++;
        }
        p += len;
        while (*p == '\n')
            p++;
    }
    kb_buf_printf(&user, "\nQuestion: %s", question);
    msgs[0] = (struct infer_chat_msg){"system", sys_text};
    msgs[1] = (struct infer_chat_msg){"user", user.data};
    kb_buf_reset(out);
    rc = infer_chat_render(m, msgs, 2, NULL, out, err);
    kb_buf_release(&user);
    *n_used = k;
    return rc;
}

static int on_piece(void *ud, const char *piece, size_t n)
{
    kb_buf_append(ud, piece, n);
    return 0;
}

struct bench_opts {
    const char *model;
    int max_tokens, n_threads, repeats, draft_max, n_ctx;
    const char *files[64];
    int n_files;
};

/* Step outcomes: BENCH_ERR means err says why; BENCH_STOP that a message was printed already. */
enum { BENCH_OK = 0, BENCH_ERR = -1, BENCH_STOP = 1 };

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    *o = (struct bench_opts){.model = argv[1], .max_tokens = 128, .repeats = 3, .draft_max = INFER_DRAFT_MAX,
                             .n_ctx = 2048};
    for (int i = 2; i < argc; i++) {
        int *dst = strcmp(argv[i], "-n") == 0   ? &o->max_tokens
                   : strcmp(argv[i], "-t") == 0 ? &o->n_threads
                   : strcmp(argv[i], "-r") == 0 ? &o->repeats
                   : strcmp(argv[i], "-k") == 0 ? &o->draft_max
                   : strcmp(argv[i], "-c") == 0 ? &o->n_ctx
                                                : NULL;
        if (dst) {
            if (i + 1 >= argc || arg_int(argv[i + 1], 1, 1 << 20, dst) != 0) {
                fprintf(stderr, "bench_spec: bad value for '%s'\n", argv[i]);
                return BENCH_STOP;
            }
            i++;
        } else if (argv[i][0] == '-' || o->n_files == 64) {
            fprintf(stderr, "bench_spec: bad argument '%s'\n", argv[i]);
            return BENCH_STOP;
        } else {
            o->files[o->n_files++] = argv[i];
        }
    }
    if (o->n_files == 0)
        for (size_t i = 0; i < KB_ARRAY_LEN(default_files); i++)
            o->files[o->n_files++] = default_files[i];
    return BENCH_OK;
}

/* Renders the prompt with fewer passages until it and max_tokens fit n_ctx; ids (n_ctx) gets it. */
static int fit_prompt(const struct infer_model *m, const struct bench_opts *o, const char *text, struct kb_buf *prompt,
                      int32_t *ids, int *n_ids, int *n_used, struct kb_error *err)
{
    int n_par = 1 << 20;
    for (;;) {
        if (render(m, text, n_par, prompt, n_used, err) != 0)
            return BENCH_ERR;
        int r = infer_tokenize(m, prompt->data, prompt->len, true, true, ids, o->n_ctx, n_ids, NULL);
        if (r == 0 && *n_ids <= o->n_ctx - o->max_tokens - 1)
            return BENCH_OK;
        if (*n_used == 0) {
            fprintf(stderr, "bench_spec: the question alone does not fit %d tokens\n", o->n_ctx);
            return BENCH_STOP;
        }
        n_par = *n_used - 1;
    }
}

/* Modes: plain (draft_max -1), the adaptive default (0), every lookup verified (-k); each answer
 * must equal the plain one. Prints every run and the best of each. */
static int run_modes(struct infer_session *s, const int32_t *ids, int n_ids, const struct bench_opts *o,
                     struct kb_error *err)
{
    static const char *const mode_name[3] = {"plain", "adaptive", "fixed"};
    double best[3] = {0, 0, 0};
    struct infer_gen_result rs[3];
    struct kb_buf out_plain, out_spec;
    int rc = BENCH_OK;
    kb_buf_init(&out_plain, 0);
    kb_buf_init(&out_spec, 0);
    memset(rs, 0, sizeof rs);
    for (int rep = 0; rep < o->repeats && rc == BENCH_OK; rep++) {
        for (int mode = 0; mode < 3 && rc == BENCH_OK; mode++) {
            struct infer_gen_params gp;
            struct infer_gen_result r;
            struct kb_buf *ob = mode ? &out_spec : &out_plain;
            infer_gen_params_default(&gp);
            gp.sample.temp = 0;
            gp.max_tokens = o->max_tokens;
            gp.draft_max = mode == 0 ? -1 : mode == 1 ? 0 : o->draft_max;
            kb_buf_reset(ob);
            infer_session_reset(s);
            if (infer_generate(s, ids, n_ids, &gp, on_piece, ob, &r, err) != 0) {
                rc = BENCH_ERR;
                break;
            }
            double tps = r.gen_s > 0 ? r.n_gen / r.gen_s : 0;
            printf("  run %d %-8s %3d tokens in %6.2f s = %7.2f tok/s (prompt %.2f s)", rep + 1, mode_name[mode],
                   r.n_gen, r.gen_s, tps, r.prompt_s);
            if (mode)
                printf(", accepted %d of %d drafted in %d verify steps", r.n_accepted, r.n_drafted, r.n_verify);
            printf("\n");
            best[mode] = KB_MAX(best[mode], tps);
            rs[mode] = r;
            if (mode && (out_plain.len != out_spec.len || memcmp(out_plain.data, out_spec.data, out_plain.len))) {
                fprintf(stderr, "bench_spec: the %s answer differs from the plain one\n", mode_name[mode]);
                rc = BENCH_STOP;
            }
        }
    }
    if (rc == BENCH_OK) {
        printf("answer: %.*s%s\n", (int)KB_MIN(out_plain.len, 300), out_plain.data ? out_plain.data : "",
               out_plain.len > 300 ? "..." : "");
        printf("best plain: %.2f tok/s\n", best[0]);
        for (int mode = 1; mode < 3; mode++) {
            const struct infer_gen_result *r = &rs[mode];
            printf("best %-8s: %.2f tok/s = %.2fx plain; acceptance %.0f%% (%d/%d), %.2f tokens per forward pass\n",
                   mode_name[mode], best[mode], best[0] > 0 ? best[mode] / best[0] : 0,
                   r->n_drafted ? 100.0 * r->n_accepted / r->n_drafted : 0.0, r->n_accepted, r->n_drafted,
                   r->n_gen > 0 ? (double)r->n_gen / (r->n_gen - r->n_accepted) : 0.0);
        }
    }
    kb_buf_release(&out_plain);
    kb_buf_release(&out_spec);
    return rc;
}

/* The verifier's cost: a batch of b tokens (logits for every row) after the prompt, in single
 * steps' worth, for b = 2, 3, 5 and 1 + draft_max. With a per-token acceptance a, a draft of k
 * yields (1 - a^(k+1)) / (1 - a) tokens for c(k+1) steps. lg holds max(1 + draft_max, 5) rows. */
static int verify_cost(struct infer_session *s, const int32_t *ids, int n_ids, const struct bench_opts *o, float *lg,
                       struct kb_error *err)
{
    int sizes[4] = {2, 3, 5, 1 + o->draft_max};
    double t_single = 1e9;
    infer_session_reset(s);
    if (infer_eval(s, ids, n_ids, NULL, false, err) != 0)
        return BENCH_ERR;
    for (int rep = 0; rep < o->repeats; rep++) {
        for (int i = 0; i < 4; i++) {
            double t0 = kb_now_s();
            if (infer_eval(s, ids + i, 1, lg, false, err) != 0)
                return BENCH_ERR;
            t_single = KB_MIN(t_single, kb_now_s() - t0);
        }
        infer_session_truncate(s, n_ids);
    }
    printf("after %d prompt tokens: one step %.1f ms;", n_ids, t_single * 1e3);
    for (int k = 0; k < 4; k++) {
        double t_batch = 1e9;
        if (sizes[k] > o->n_ctx - n_ids)
            continue;
        for (int rep = 0; rep < 4 * o->repeats; rep++) { /* as many samples as the single step */
            double t0 = kb_now_s();
            if (infer_eval(s, ids, sizes[k], lg, true, err) != 0)
                return BENCH_ERR;
            t_batch = KB_MIN(t_batch, kb_now_s() - t0);
            infer_session_truncate(s, n_ids);
        }
        printf(" batch of %d %.1f ms = %.2f steps;", sizes[k], t_batch * 1e3, t_batch / t_single);
    }
    printf("\n");
    return BENCH_OK;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    struct infer_model_info in;
    struct kb_buf text, prompt;
    int32_t *ids = NULL;
    float *lg = NULL;
    int n_ids = 0, n_used = 0, rc = BENCH_STOP;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_spec MODEL.gguf [-n MAX_TOKENS] [-t THREADS] [-r N] [-k DRAFT_MAX] "
                        "[-c N_CTX] [FILE...]\n");
        return 1;
    }
    if (parse_args(argc, argv, &o) != BENCH_OK)
        return 1;
    kb_buf_init(&text, 0);
    kb_buf_init(&prompt, 0);
    for (int i = 0; i < o.n_files; i++) {
        if (read_file(o.files[i], &text) != 0) {
            fprintf(stderr, "bench_spec: cannot read '%s'\n", o.files[i]);
            goto out;
        }
        kb_buf_puts(&text, "\n\n");
    }
    rc = BENCH_ERR;
    if (infer_model_open(&m, o.model, &err) != 0)
        goto out;
    infer_model_get_info(m, &in);
    o.n_ctx = KB_MIN(o.n_ctx, in.n_ctx_train);
    if (o.max_tokens >= o.n_ctx / 2) {
        fprintf(stderr, "bench_spec: -n %d leaves no room for passages in %d tokens\n", o.max_tokens, o.n_ctx);
        rc = BENCH_STOP;
        goto out;
    }
    ids = kb_xcalloc((size_t)o.n_ctx, sizeof *ids);
    if ((rc = fit_prompt(m, &o, text.data, &prompt, ids, &n_ids, &n_used, &err)) != BENCH_OK)
        goto out;
    infer_session_params_default(&sp);
    sp.n_ctx = o.n_ctx;
    sp.n_threads = o.n_threads;
    rc = BENCH_ERR;
    if (infer_session_new(&s, m, &sp, &err) != 0)
        goto out;
    printf("model %s (%s, %.2f GB of weights read per token), %d threads\n", o.model, in.arch,
           in.active_bytes / 1e9, o.n_threads);
    printf("prompt: %d tokens (%d passages), answers of up to %d tokens, draft_max %d\n", n_ids, n_used,
           o.max_tokens, o.draft_max);
    lg = kb_xmalloc((size_t)KB_MAX(1 + o.draft_max, 5) * (size_t)in.n_vocab * sizeof *lg);
    if ((rc = run_modes(s, ids, n_ids, &o, &err)) == BENCH_OK)
        rc = verify_cost(s, ids, n_ids, &o, lg, &err);
out:
    if (rc == BENCH_ERR)
        fprintf(stderr, "bench_spec: %s\n", err.msg);
    free(lg);
    free(ids);
    kb_buf_release(&text);
    kb_buf_release(&prompt);
    infer_session_free(s);
    infer_model_close(m);
    return rc == BENCH_OK ? 0 : 1;
}
