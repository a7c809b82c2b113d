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

int main(int argc, char **argv)
{
    int max_tokens = 128, n_threads = 0, repeats = 3, draft_max = INFER_DRAFT_MAX, n_ctx = 2048, rc = 1;
    const char *files[64];
    int n_files = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_spec MODEL.gguf [-n MAX_TOKENS] [-t THREADS] [-r N] [-k DRAFT_MAX] "
                        "[-c N_CTX] [FILE...]\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        int *dst = strcmp(argv[i], "-n") == 0   ? &max_tokens
                   : strcmp(argv[i], "-t") == 0 ? &n_threads
                   : strcmp(argv[i], "-r") == 0 ? &repeats
                   : strcmp(argv[i], "-k") == 0 ? &draft_max
                   : strcmp(argv[i], "-c") == 0 ? &n_ctx
                                                : NULL;
        if (dst) {
            if (i + 1 >= argc || arg_int(argv[i + 1], 1, 1 << 20, dst) != 0) {
                fprintf(stderr, "bench_spec: bad value for '%s'\n", argv[i]);
                return 1;
            }
            i++;
        } else if (argv[i][0] == '-' || n_files == 64) {
            fprintf(stderr, "bench_spec: bad argument '%s'\n", argv[i]);
            return 1;
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (n_files == 0)
        for (size_t i = 0; i < KB_ARRAY_LEN(default_files); i++)
            files[n_files++] = default_files[i];

    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    struct infer_model_info in;
    struct kb_buf text, prompt, out_plain, out_spec;
    int32_t *ids = NULL;
    float *lg = NULL;
    int n_ids = 0, n_par = 1 << 20, n_used = 0;
    kb_buf_init(&text, 0);
    kb_buf_init(&prompt, 0);
    kb_buf_init(&out_plain, 0);
    kb_buf_init(&out_spec, 0);
    for (int i = 0; i < n_files; i++) {
        if (read_file(files[i], &text) != 0) {
            fprintf(stderr, "bench_spec: cannot read '%s'\n", files[i]);
            goto out;
        }
        kb_buf_puts(&text, "\n\n");
    }
    if (infer_model_open(&m, argv[1], &err) != 0)
        goto fail;
    infer_model_get_info(m, &in);
    n_ctx = KB_MIN(n_ctx, in.n_ctx_train);
    if (max_tokens >= n_ctx / 2) {
        fprintf(stderr, "bench_spec: -n %d leaves no room for passages in %d tokens\n", max_tokens, n_ctx);
        goto out;
    }
    /* fewer passages until the prompt fits */
    ids = kb_xcalloc((size_t)n_ctx, sizeof *ids);
    for (;;) {
        if (render(m, text.data, n_par, &prompt, &n_used, &err) != 0)
            goto fail;
        int r = infer_tokenize(m, prompt.data, prompt.len, true, true, ids, n_ctx, &n_ids, NULL);
        if (r == 0 && n_ids <= n_ctx - max_tokens - 1)
            break;
        if (n_used == 0) {
            fprintf(stderr, "bench_spec: the question alone does not fit %d tokens\n", n_ctx);
            goto out;
        }
        n_par = n_used - 1;
    }
    infer_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.n_threads = n_threads;
    if (infer_session_new(&s, m, &sp, &err) != 0)
        goto fail;
    printf("model %s (%s, %.2f GB of weights read per token), %d threads\n", argv[1], in.arch,
           in.active_bytes / 1e9, n_threads);
    printf("prompt: %d tokens (%d passages), answers of up to %d tokens, draft_max %d\n", n_ids, n_used,
           max_tokens, draft_max);

    /* modes: plain (draft_max -1), the adaptive default (0), every lookup verified (-k) */
    static const char *const mode_name[3] = {"plain", "adaptive", "fixed"};
    double best[3] = {0, 0, 0};
    struct infer_gen_result rs[3];
    memset(rs, 0, sizeof rs);
    for (int rep = 0; rep < repeats; rep++) {
        for (int mode = 0; mode < 3; mode++) {
            struct infer_gen_params gp;
            struct infer_gen_result r;
            struct kb_buf *o = mode ? &out_spec : &out_plain;
            infer_gen_params_default(&gp);
            gp.sample.temp = 0;
            gp.max_tokens = max_tokens;
            gp.draft_max = mode == 0 ? -1 : mode == 1 ? 0 : draft_max;
            kb_buf_reset(o);
            infer_session_reset(s);
            if (infer_generate(s, ids, n_ids, &gp, on_piece, o, &r, &err) != 0)
                goto fail;
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
                goto out;
            }
        }
    }
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

    /* The verifier's cost: a batch of b tokens (logits for every row) after the prompt, in single
     * steps' worth, for b = 2, 3, 5 and 1 + draft_max. With a per-token acceptance a, a draft of k
     * yields (1 - a^(k+1)) / (1 - a) tokens for c(k+1) steps. */
    {
        int sizes[4] = {2, 3, 5, 1 + draft_max}, nb_max = 1 + draft_max;
        double t_single = 1e9;
        lg = kb_xmalloc((size_t)KB_MAX(nb_max, 5) * (size_t)in.n_vocab * sizeof *lg);
        infer_session_reset(s);
        if (infer_eval(s, ids, n_ids, NULL, false, &err) != 0)
            goto fail;
        for (int rep = 0; rep < repeats; rep++) {
            for (int i = 0; i < 4; i++) {
                double t0 = kb_now_s();
                if (infer_eval(s, ids + i, 1, lg, false, &err) != 0)
                    goto fail;
                t_single = KB_MIN(t_single, kb_now_s() - t0);
            }
            infer_session_truncate(s, n_ids);
        }
        printf("after %d prompt tokens: one step %.1f ms;", n_ids, t_single * 1e3);
        for (int k = 0; k < 4; k++) {
            double t_batch = 1e9;
            if (sizes[k] > n_ctx - n_ids)
                continue;
            for (int rep = 0; rep < 4 * repeats; rep++) { /* as many samples as the single step */
                double t0 = kb_now_s();
                if (infer_eval(s, ids, sizes[k], lg, true, &err) != 0)
                    goto fail;
                t_batch = KB_MIN(t_batch, kb_now_s() - t0);
                infer_session_truncate(s, n_ids);
            }
            printf(" batch of %d %.1f ms = %.2f steps;", sizes[k], t_batch * 1e3, t_batch / t_single);
        }
        printf("\n");
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_spec: %s\n", err.msg);
out:
    free(lg);
    free(ids);
    kb_buf_release(&text);
    kb_buf_release(&prompt);
    kb_buf_release(&out_plain);
    kb_buf_release(&out_spec);
    infer_session_free(s);
    infer_model_close(m);
    return rc;
}
