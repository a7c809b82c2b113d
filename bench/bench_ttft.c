/* bench/bench_ttft.c: time to first token of a long grounded prompt, and what the shared-prefix KV
 * reuse of rag/generate.c saves.
 *
 * usage: bench_ttft MODEL [-t THREADS (2)] [-p PROMPT_TOKENS (2000)] [--prefix P (150)]
 *                   [-b N_BATCH (512)] [-r REPS (3)] [--profile] [--json] [--load mmap|copy]
 * A grounded answer's prompt is a system instruction and persona (the same for every request,
 * about P tokens), the retrieved passages and the question (different per request). Token ids are
 * random (as llama-bench's pp, so a MoE routes to all its experts); tokenizing, retrieval and
 * sampling are not timed (tokenizing 2,000 tokens takes well under a millisecond next to the
 * prompt evaluation). Three cases, medians over REPS after one warm-up, each until the first
 * token's logits are out (that is when the first token can be sampled and streamed):
 *   cold   - empty cache: all PROMPT_TOKENS evaluated (what llama.cpp's pp2048 measures);
 *   prefix - the session holds the previous request (same first P tokens, other passages): the
 *            cache is cut to the P shared tokens (infer_session_truncate, as rag/generate.c does)
 *            and PROMPT_TOKENS - P are evaluated;
 *   repeat - the same prompt again: cut to PROMPT_TOKENS - 1, one token evaluated.
 * The session is made as rag/generate.c makes its answer sessions (n_ctx = prompt + 256, the given
 * n_batch, one shared pool of THREADS). --profile: one more cold prompt with the session's phase
 * timers on (infer_session_profile: seconds per phase of the whole prompt, and each thread's busy
 * seconds), not in the medians. Prints text, or one JSON object with --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/json.h"
#include "infer/infer.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int arg_int(const char *name, const char *v, int lo, int hi, int *out)
{
    int64_t x;
    if (!v || kb_parse_i64(v, &x) != 0 || x < lo || x > hi) {
        fprintf(stderr, "bench_ttft: %s needs a number in [%d, %d]\n", name, lo, hi);
        return 1;
    }
    *out = (int)x;
    return 0;
}

struct ttft_opts {
    const char *model;
    int n_threads, n_prompt, n_prefix, n_batch, reps;
    bool json, profile;
};

struct ttft_result {
    double cold_s, prefix_s, repeat_s; /* medians over reps */
    struct infer_profile prof;         /* --profile: one more cold prompt with timers on */
};

/* Reads the flags after MODEL; prints what is wrong and returns 1 on a bad one. */
static int ttft_parse(int argc, char **argv, struct ttft_opts *o)
{
    int bad = 0;
    *o = (struct ttft_opts){.model = argv[1], .n_threads = 2, .n_prompt = 2000, .n_prefix = 150, .n_batch = 512, .reps = 3};
    for (int i = 2; i < argc && !bad; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-t") == 0)
            bad = arg_int(a, v, 1, 256, &o->n_threads), i++;
        else if (strcmp(a, "-p") == 0)
            bad = arg_int(a, v, 2, 1 << 16, &o->n_prompt), i++;
        else if (strcmp(a, "--prefix") == 0)
            bad = arg_int(a, v, 0, 1 << 16, &o->n_prefix), i++;
        else if (strcmp(a, "-b") == 0)
            bad = arg_int(a, v, 1, 1 << 16, &o->n_batch), i++;
        else if (strcmp(a, "-r") == 0)
            bad = arg_int(a, v, 1, 100, &o->reps), i++;
        else if (strcmp(a, "--json") == 0)
            o->json = true;
        else if (strcmp(a, "--profile") == 0)
            o->profile = true;
        else if (strcmp(a, "--load") == 0 && v && (!strcmp(v, "mmap") || !strcmp(v, "copy")))
            infer_set_load_copy(strcmp(v, "copy") == 0), i++; /* answer.load */
        else
            fprintf(stderr, "bench_ttft: unknown argument '%s'\n", a), bad = 1;
    }
    if (!bad && o->n_prefix >= o->n_prompt) {
        fprintf(stderr, "bench_ttft: --prefix must be below -p\n");
        bad = 1;
    }
    return bad;
}

/* Two requests: the same first n_prefix tokens, different passages after them (xorshift ids). */
static void ttft_prompts(int32_t *a, int32_t *b, int n_prompt, int n_prefix, int n_vocab)
{
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n_prompt; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        a[i] = (int32_t)(r % (uint64_t)n_vocab);
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        b[i] = i < n_prefix ? a[i] : (int32_t)(r % (uint64_t)n_vocab);
    }
}

/* The three cases REPS times after one warm-up, then the optional profiled cold prompt. */
static int ttft_measure(const struct ttft_opts *o, struct infer_session *s, const int32_t *a, const int32_t *b,
                        float *lg, struct ttft_result *res, struct kb_error *err)
{
    int rc = 0;
    double *t_cold = kb_xcalloc((size_t)o->reps, sizeof(double)), *t_pre = kb_xcalloc((size_t)o->reps, sizeof(double));
    double *t_rep = kb_xcalloc((size_t)o->reps, sizeof(double));
    for (int rep = 0; rep <= o->reps && !rc; rep++) { /* rep 0 warms up (page cache, first touches) */
        infer_session_reset(s);
        double t0 = kb_now_s();
        if ((rc = infer_eval(s, a, o->n_prompt, lg, false, err)))
            break;
        double cold = kb_now_s() - t0;
        infer_session_truncate(s, o->n_prefix); /* request b after request a */
        t0 = kb_now_s();
        if ((rc = infer_eval(s, b + o->n_prefix, o->n_prompt - o->n_prefix, lg, false, err)))
            break;
        double pre = kb_now_s() - t0;
        infer_session_truncate(s, o->n_prompt - 1); /* b again */
        t0 = kb_now_s();
        if ((rc = infer_eval(s, b + o->n_prompt - 1, 1, lg, false, err)))
            break;
        double again = kb_now_s() - t0;
        if (rep > 0) {
            t_cold[rep - 1] = cold;
            t_pre[rep - 1] = pre;
            t_rep[rep - 1] = again;
        }
    }
    if (!rc) {
        res->cold_s = median(t_cold, o->reps);
        res->prefix_s = median(t_pre, o->reps);
        res->repeat_s = median(t_rep, o->reps);
    }
    if (!rc && o->profile) { /* the cold prompt once more, timers on */
        infer_session_reset(s);
        infer_session_profile(s, true);
        rc = infer_eval(s, a, o->n_prompt, lg, false, err);
        infer_session_profile_get(s, &res->prof);
        infer_session_profile(s, false);
    }
    free(t_cold);
    free(t_pre);
    free(t_rep);
    return rc;
}

static void ttft_print_json(const struct ttft_opts *o, const struct ttft_result *res)
{
    const struct infer_profile *prof = &res->prof;
    double mc = res->cold_s, mp = res->prefix_s;
    struct kb_buf out;
    struct jw w;
    kb_buf_init(&out, 0);
    jw_init(&w, &out);
    jw_obj(&w, NULL);
    jw_str(&w, "model", o->model);
    jw_int(&w, "threads", o->n_threads);
    jw_int(&w, "prompt_tokens", o->n_prompt);
    jw_int(&w, "prefix_tokens", o->n_prefix);
    jw_int(&w, "n_batch", o->n_batch);
    jw_int(&w, "reps", o->reps);
    jw_num(&w, "ttft_cold_s", mc);
    jw_num(&w, "pp_tok_s", o->n_prompt / mc);
    jw_num(&w, "ttft_prefix_reuse_s", mp);
    jw_num(&w, "ttft_repeat_s", res->repeat_s);
    jw_num(&w, "prefix_saving_fraction", mc > 0 ? 1.0 - mp / mc : 0);
    if (o->profile) {
        jw_obj(&w, "profile");
        jw_num(&w, "prompt_s", prof->step_s);
        jw_int(&w, "steps", (int64_t)prof->n_steps);
        jw_int(&w, "handoffs", (int64_t)prof->n_jobs);
        jw_obj(&w, "phase_s");
        for (int ph = 0; ph < INFER_PROF_N; ph++)
            jw_num(&w, infer_prof_phase_name(ph), prof->phase_s[ph]);
        jw_end_obj(&w);
        jw_arr(&w, "busy_s");
        for (int t = 0; t < prof->n_threads && t < INFER_PROF_MAX_THREADS; t++)
            jw_num(&w, NULL, prof->busy_s[t]);
        jw_end_arr(&w);
        jw_num(&w, "barrier_wait_s", prof->barrier_wait_s);
        jw_end_obj(&w);
    }
    jw_end_obj(&w);
    printf("%.*s\n", (int)out.len, out.data);
    kb_buf_release(&out);
}

static void ttft_print_text(const struct ttft_opts *o, const struct ttft_result *res)
{
    const struct infer_profile *prof = &res->prof;
    double mc = res->cold_s, mp = res->prefix_s;
    printf("model %s, %d threads, prompt %d tokens (shared prefix %d), batch %d, medians of %d\n", o->model,
           o->n_threads, o->n_prompt, o->n_prefix, o->n_batch, o->reps);
    printf("ttft cold          %8.3f s  (%.1f prompt tok/s)\n", mc, o->n_prompt / mc);
    printf("ttft prefix reuse  %8.3f s  (%.1f%% saved)\n", mp, 100.0 * (1.0 - mp / mc));
    printf("ttft repeat        %8.3f s\n", res->repeat_s);
    if (o->profile) {
        printf("profile of one cold prompt: %.3f s in %llu steps, %llu hand-offs\n", prof->step_s,
               (unsigned long long)prof->n_steps, (unsigned long long)prof->n_jobs);
        for (int ph = 0; ph < INFER_PROF_N; ph++)
            printf("  %-10s %8.3f s  %5.1f%%\n", infer_prof_phase_name(ph), prof->phase_s[ph],
                   prof->step_s > 0 ? 100.0 * prof->phase_s[ph] / prof->step_s : 0);
        for (int t = 0; t < prof->n_threads && t < INFER_PROF_MAX_THREADS; t++)
            printf("  thread %d busy %.3f s\n", t, prof->busy_s[t]);
        printf("  barrier wait %.3f s\n", prof->barrier_wait_s);
    }
}

int main(int argc, char **argv)
{
    struct ttft_opts o;
    struct ttft_result res = {0};
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_pool *pool = NULL;
    struct infer_session *s = NULL;
    struct infer_model_info in;
    struct infer_session_params sp;
    int32_t *a = NULL, *b = NULL;
    float *lg = NULL;
    int rc = 1;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ttft MODEL [-t T] [-p N] [--prefix P] [-b B] [-r R] [--profile] [--json] [--load mmap|copy]\n");
        return 1;
    }
    if (ttft_parse(argc, argv, &o))
        return 1;
    if (infer_model_open(&m, o.model, &err) || infer_pool_new(&pool, o.n_threads, &err))
        goto fail;
    infer_model_get_info(m, &in);
    infer_session_params_default(&sp);
    sp.n_ctx = o.n_prompt + 256;
    sp.n_batch = o.n_batch;
    sp.pool = pool;
    if (infer_session_new(&s, m, &sp, &err))
        goto fail;
    a = kb_xmalloc((size_t)o.n_prompt * sizeof *a);
    b = kb_xmalloc((size_t)o.n_prompt * sizeof *b);
    lg = kb_xmalloc((size_t)in.n_vocab * sizeof *lg);
    ttft_prompts(a, b, o.n_prompt, o.n_prefix, in.n_vocab);
    if (ttft_measure(&o, s, a, b, lg, &res, &err))
        goto fail;
    if (o.json)
        ttft_print_json(&o, &res);
    else
        ttft_print_text(&o, &res);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_ttft: %s\n", err.msg);
out:
    free(a);
    free(b);
    free(lg);
    infer_session_free(s);
    infer_pool_free(pool);
    infer_model_close(m);
    return rc;
}
