/* tests/infer/test_spec.c: prompt-lookup speculative decoding (infer_generate with draft_max)
 * gives exactly the output of plain decoding.
 *
 * On synthetic models from kbox's own writer (llama Q8_0, qwen2 Q4_K, deepseek2 Q8_0 with its MLA
 * cache) and, when ../shared/models is present, the trained stories260K: for prompts that repeat
 * themselves (so drafts get accepted) and prompts that do not (so drafts get rejected), the text,
 * the number of tokens, the stop reason and the token ids left in the cache are the same with and
 * without speculation; also with a stop string that fires inside a verified batch, a small
 * max_tokens, a second generation continuing the same session, and sampling at temperature 0.8;
 * for every draft length below.
 * Each model must have both accepted and rejected drafts. The synthetic cases run again in a child
 * process on the scalar reference kernels (KBOX_FORCE_SCALAR=1). Also infer_session_truncate().
 * Draft lengths: the adaptive default (0), a fixed 2 (whose acceptance counts are checked) and a
 * fixed INFER_DRAFT_MAX. Underneath: a batch of 9 gives the single steps' logits bit for bit.
 * MTP drafts (NextN blocks, arch_glm4moe.c): glm4moe Q8_0 files join the synthetic set, one with
 * a random NextN block and one whose NextN block is made to agree with its single main block, and
 * a deepseek2 one made to agree (its NextN block has MLA attention); with them every case above
 * also runs MTP drafts combined with prompt lookup, and test_mtp checks one-token drafts: identical
 * text, and acceptance of the agreeing heads >= 50 % and above the random head's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/run.h"
#include "infer/infer.h"

#define STORIES KBOX_SHARED_DIR "/models/stories260K.gguf"

static const char *self_path;

/* One generation's observable output. */
struct gen_obs {
    struct kb_buf text;
    int32_t cache[1024]; /* token ids in the cache afterwards */
    int n_cache;
    struct infer_gen_result res;
};

static int on_piece(void *ud, const char *piece, size_t n)
{
    kb_buf_append(ud, piece, n);
    return 0;
}

struct gen_case {
    const char *prompt;
    int max_tokens;
    float temp;
    bool stop_mid;  /* stop at a string taken from the middle of the plain output */
    bool continued; /* generate twice on the same session */
};

/* Runs one case with draft_max (−1: plain) on a fresh session. stop may be NULL. */
static int run_case(const struct infer_model *m, const struct gen_case *c, int draft_max, const char *stop,
                    struct gen_obs *o, char *why, size_t why_n)
{
    struct kb_error err = {0};
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    struct infer_gen_params gp;
    int32_t ids[512];
    int n = 0, rc;
    memset(o, 0, sizeof *o);
    kb_buf_init(&o->text, 0);
    infer_session_params_default(&sp);
    sp.n_ctx = 1024;
    sp.n_batch = 64;
    sp.n_threads = 2;
    if ((rc = infer_session_new(&s, m, &sp, &err)) ||
        (rc = infer_tokenize(m, c->prompt, strlen(c->prompt), true, false, ids, 512, &n, &err)))
        goto out;
    infer_gen_params_default(&gp);
    gp.sample.temp = c->temp;
    gp.sample.seed = 1234;
    gp.max_tokens = c->max_tokens;
    gp.ignore_eos = true;
    gp.draft_max = draft_max;
    gp.stop = stop ? &stop : NULL;
    gp.n_stop = stop ? 1 : 0;
    if ((rc = infer_generate(s, ids, n, &gp, on_piece, &o->text, &o->res, &err)))
        goto out;
    if (c->continued) {
        struct infer_gen_result r2;
        if ((rc = infer_generate(s, ids, KB_MIN(n, 6), &gp, on_piece, &o->text, &r2, &err)))
            goto out;
        o->res.n_gen += r2.n_gen;
        o->res.n_drafted += r2.n_drafted;
        o->res.n_accepted += r2.n_accepted;
    }
    const int32_t *t = infer_session_tokens(s, &o->n_cache);
    if (o->n_cache > 1024) {
        rc = KB_ETOOBIG;
        goto out;
    }
    memcpy(o->cache, t, (size_t)o->n_cache * sizeof *t);
out:
    if (rc)
        snprintf(why, why_n, "%s", err.msg);
    infer_session_free(s);
    return rc;
}

static const struct gen_case cases[] = {
    /* repeats itself: lookups find the earlier copy */
    {"the cat sat on the mat. the cat sat on the mat. the cat sat on the mat. the cat", 40, 0, false, false},
    {"Returns are accepted within 45 days. Returns are accepted within 45 days of delivery. Returns", 32, 0,
     true, false},
    /* no repetition to speak of: drafts come from one-token matches and mostly fail */
    {"Quick zephyrs blow, vexing daft Jim; 0123456789 !@#", 36, 0, false, false},
    {"abc abd abe abf abg abh abi abj", 5, 0, false, false},
    {"one two three one two three one two", 24, 0, false, true},
    /* sampling: each verified row is sampled as plain decoding would sample it */
    {"the cat sat on the mat. the cat sat on the mat. the cat", 32, 0.8f, false, false},
};

/* Same text, token count, stop reason and cache contents. */
static bool same(const struct gen_obs *a, const struct gen_obs *b)
{
    return a->text.len == b->text.len && (a->text.len == 0 || !memcmp(a->text.data, b->text.data, a->text.len)) &&
           a->res.n_gen == b->res.n_gen && a->res.why == b->res.why && a->n_cache == b->n_cache &&
           !memcmp(a->cache, b->cache, (size_t)a->n_cache * sizeof a->cache[0]);
}

struct totals {
    long drafted, accepted;
};

/* Whether a batch of 1 + INFER_DRAFT_MAX tokens after a prompt gives bit for bit the logits of
 * as many single steps (matmul.c keeps such batches on kernels that sum like the matrix-vector
 * one; the attention, MoE and MLA paths must too). */
static bool batch_exact(const struct infer_model *m)
{
    struct kb_error err = {0};
    struct infer_session *s = NULL;
    struct infer_model_info in;
    int32_t ids[40];
    const int nb = 1 + INFER_DRAFT_MAX;
    bool exact = false;
    infer_model_get_info(m, &in);
    float *a = malloc((size_t)nb * in.n_vocab * sizeof *a), *b = malloc((size_t)nb * in.n_vocab * sizeof *b);
    for (int i = 0; i < 40; i++)
        ids[i] = (i * 37 + 5) % 250 + 1;
    if (infer_session_new(&s, m, NULL, &err) == 0 && infer_eval(s, ids, 30, NULL, false, &err) == 0 &&
        infer_eval(s, ids + 30, nb, a, true, &err) == 0) {
        infer_session_truncate(s, 30);
        exact = true;
        for (int i = 0; i < nb && exact; i++)
            exact = infer_eval(s, ids + 30 + i, 1, b + (size_t)i * in.n_vocab, false, &err) == 0;
        exact = exact && memcmp(a, b, (size_t)nb * in.n_vocab * sizeof *a) == 0;
    }
    infer_session_free(s);
    free(a);
    free(b);
    return exact;
}

/* All cases on one model: returns the number of mismatches (details to stderr). */
static int check_model(const char *path, struct totals *tot)
{
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    int bad = 0;
    char why[256] = "";
    if (infer_model_open(&m, path, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return 1;
    }
    /* what identical output rests on: a verify batch computes each row as a single step would */
    if (!batch_exact(m)) {
        fprintf(stderr, "%s: a batch of %d tokens does not give the logits of single steps bit for bit\n", path,
                1 + INFER_DRAFT_MAX);
        bad++;
    }
    /* the adaptive default, a fixed 2 (its counts are checked) and a fixed INFER_DRAFT_MAX */
    static const int drafts[] = {0, 2, INFER_DRAFT_MAX};
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        const struct gen_case *c = &cases[i];
        struct gen_obs *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        char stop[8] = "";
        int ok = run_case(m, c, -1, NULL, a, why, sizeof why) == 0;
        if (ok && c->stop_mid && a->text.len > 12) {
            /* a 3-byte stop string from the middle of the plain text; plain runs again with it */
            memcpy(stop, a->text.data + a->text.len / 2, 3);
            kb_buf_release(&a->text);
            ok = run_case(m, c, -1, stop, a, why, sizeof why) == 0;
        }
        for (size_t d = 0; d < KB_ARRAY_LEN(drafts) && ok; d++) {
            ok = run_case(m, c, drafts[d], stop[0] ? stop : NULL, b, why, sizeof why) == 0;
            if (ok && !same(a, b)) {
                fprintf(stderr, "%s case %zu, draft_max %d: plain %d tokens (stop %d, cache %d) \"%.*s\"\n  "
                        "speculative %d tokens (stop %d, cache %d) \"%.*s\"\n",
                        path, i, drafts[d], a->res.n_gen, a->res.why, a->n_cache, (int)a->text.len, a->text.data,
                        b->res.n_gen, b->res.why, b->n_cache, (int)b->text.len, b->text.data);
                bad++;
            } else if (ok && (b->res.n_accepted > b->res.n_drafted || (stop[0] && b->res.why != INFER_STOP_STRING) ||
                              (drafts[d] == 0 && c->temp > 0 && b->res.n_drafted))) {
                fprintf(stderr, "%s case %zu, draft_max %d: bad counts: %d of %d accepted, stop %d\n", path, i,
                        drafts[d], b->res.n_accepted, b->res.n_drafted, b->res.why);
                bad++;
            } else if (ok && drafts[d] == 2) {
                tot->drafted += b->res.n_drafted;
                tot->accepted += b->res.n_accepted;
            }
            kb_buf_release(&b->text);
        }
        if (!ok) {
            fprintf(stderr, "%s case %zu: %s\n", path, i, why);
            bad++;
        } else if (a->res.n_drafted != 0) {
            fprintf(stderr, "%s case %zu: plain decoding drafted\n", path, i);
            bad++;
        }
        kb_buf_release(&a->text);
        free(a);
        free(b);
    }
    infer_model_close(m);
    return bad;
}

struct synth_case {
    const char *arch, *type;
    bool agree; /* glm4moe: one main block and a NextN block made to agree with it (synth.h) */
};
static const struct synth_case synths[] = {{"llama", "Q8_0", false},    {"qwen2", "Q4_K", false},
                                           {"deepseek2", "Q8_0", false}, {"glm4moe", "Q8_0", false},
                                           {"glm4moe", "Q8_0", true},    {"deepseek2", "Q8_0", true}};
enum { SYNTH_GLM = 3, SYNTH_GLM_AGREE = 4, SYNTH_DS2_AGREE = 5 };

static void synth_path(const char *dir, size_t i, char *out, size_t n)
{
    snprintf(out, n, "%s/%s_%s%s.gguf", dir, synths[i].arch, synths[i].type, synths[i].agree ? "_agree" : "");
}

/* Every synthetic model: mismatches; the acceptance counts of each go to tots[i]. */
static int check_synths(const char *dir, struct totals *tots)
{
    int bad = 0;
    for (size_t i = 0; i < KB_ARRAY_LEN(synths); i++) {
        char path[512];
        synth_path(dir, i, path, sizeof path);
        bad += check_model(path, &tots[i]);
    }
    return bad;
}

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct kb_error err = {0};
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kbox-spec-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    for (size_t i = 0; i < KB_ARRAY_LEN(synths); i++) {
        struct infer_synth_params sp;
        char path[512];
        infer_synth_params_default(&sp, synths[i].arch);
        sp.type = infer_type_from_name(synths[i].type);
        sp.seed = 11 + i;
        if (synths[i].agree) {
            sp.n_layer = 1;
            sp.n_dense_lead = 0;
            sp.n_nextn = 1;
            sp.nextn_agree = true;
        }
        synth_path(fx->dir, i, path, sizeof path);
        if (infer_synth_write(path, &sp, &err))
            fail_msg("synth %s: %s", path, err.msg);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < KB_ARRAY_LEN(synths); i++) {
        char path[512];
        synth_path(fx->dir, i, path, sizeof path);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void test_truncate(void **state)
{
    struct fixture *fx = *state;
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_model_info in;
    char path[512];
    int32_t ids[12];
    synth_path(fx->dir, 2, path, sizeof path); /* deepseek2: the MLA latent cache */
    assert_int_equal(infer_model_open(&m, path, &err), 0);
    infer_model_get_info(m, &in);
    assert_int_equal(infer_session_new(&s, m, NULL, &err), 0);
    float *want = malloc((size_t)in.n_vocab * sizeof *want), *got = malloc((size_t)in.n_vocab * sizeof *got);
    for (int i = 0; i < 12; i++)
        ids[i] = (i * 37 + 5) % 280;
    /* logits after ids[0..12) from scratch ... */
    assert_int_equal(infer_eval(s, ids, 12, want, false, &err), 0);
    /* ... equal those after evaluating other tokens past 8, cutting back to 8 and going on */
    infer_session_reset(s);
    int32_t junk[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(infer_eval(s, ids, 8, NULL, false, &err), 0);
    assert_int_equal(infer_eval(s, junk, 6, NULL, false, &err), 0);
    infer_session_truncate(s, 8);
    assert_int_equal(infer_session_n_past(s), 8);
    assert_int_equal(infer_eval(s, ids + 8, 4, got, false, &err), 0);
    for (int v = 0; v < in.n_vocab; v++)
        assert_float_equal(got[v], want[v], 1e-5);
    int n;
    const int32_t *t = infer_session_tokens(s, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(t, ids, sizeof ids);
    /* clamped: past n_past and below 0 */
    infer_session_truncate(s, 100);
    assert_int_equal(infer_session_n_past(s), 12);
    infer_session_truncate(s, -3);
    assert_int_equal(infer_session_n_past(s), 0);
    free(want);
    free(got);
    infer_session_free(s);
    infer_model_close(m);
}

static void test_synthetic_identical(void **state)
{
    struct fixture *fx = *state;
    struct totals tots[KB_ARRAY_LEN(synths)];
    memset(tots, 0, sizeof tots);
    assert_int_equal(check_synths(fx->dir, tots), 0);
    for (size_t i = 0; i < KB_ARRAY_LEN(synths); i++) {
        print_message("%s %s%s: %ld of %ld drafted tokens accepted\n", synths[i].arch, synths[i].type,
                      synths[i].agree ? " (NextN made to agree)" : "", tots[i].accepted, tots[i].drafted);
        /* both outcomes happened, so both paths of the verifier ran */
        assert_true(tots[i].accepted > 0);
        assert_true(tots[i].drafted > tots[i].accepted);
    }
}

/* One-token drafts (draft_max 1: the NextN block's prediction, or prompt lookup's when that has
 * done better so far) on the glm4moe files: the text equals plain decoding's, the MTP head
 * drafted, and the head made to agree is accepted far more often than the random one. */
static void test_mtp(void **state)
{
    struct fixture *fx = *state;
    static const struct gen_case c = {"Quick zephyrs blow, vexing daft Jim; 0123456789 !@#", 48, 0, false, false};
    double rate[3] = {0, 0, 0};
    static const int files[3] = {SYNTH_GLM, SYNTH_GLM_AGREE, SYNTH_DS2_AGREE};
    static const char *what[3] = {"glm4moe random", "glm4moe made to agree", "deepseek2 made to agree"};
    for (int j = 0; j < 3; j++) {
        struct kb_error err = {0};
        struct infer_model *m = NULL;
        struct gen_obs *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        char path[512], why[256] = "";
        synth_path(fx->dir, (size_t)files[j], path, sizeof path);
        assert_int_equal(infer_model_open(&m, path, &err), 0);
        if (run_case(m, &c, -1, NULL, a, why, sizeof why) || run_case(m, &c, 1, NULL, b, why, sizeof why))
            fail_msg("%s: %s", path, why);
        assert_true(same(a, b));
        assert_int_equal(a->res.n_drafted, 0);
        assert_true(b->res.n_mtp_drafted > 0);
        assert_true(b->res.n_mtp_drafted <= b->res.n_drafted && b->res.n_mtp_accepted <= b->res.n_accepted &&
                    b->res.n_mtp_accepted <= b->res.n_mtp_drafted);
        rate[j] = (double)b->res.n_mtp_accepted / b->res.n_mtp_drafted;
        print_message("%s MTP head: %d of %d drafts accepted (%d tokens)\n", what[j], b->res.n_mtp_accepted,
                      b->res.n_mtp_drafted, b->res.n_gen);
        kb_buf_release(&a->text);
        kb_buf_release(&b->text);
        free(a);
        free(b);
        infer_model_close(m);
    }
    assert_true(rate[1] >= 0.5 && rate[2] >= 0.5);
    assert_true(rate[1] > rate[0]);
}

static void test_scalar_identical(void **state)
{
    struct fixture *fx = *state;
    char *argv[] = {(char *)self_path, fx->dir, NULL};
    char *env[] = {"KBOX_FORCE_SCALAR=1", "KBOX_SPEC_CHILD=1", NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, env), 0);
    if (r.exit_code != 0)
        fail_msg("scalar run: exit %d\n%s%s", r.exit_code, r.out, r.err);
    assert_non_null(strstr(r.out, "identical"));
    run_result_free(&r);
}

static void test_stories(void **state)
{
    (void)state;
    struct totals tot = {0};
    if (access(STORIES, R_OK) != 0)
        skip();
    assert_int_equal(check_model(STORIES, &tot), 0);
    print_message("stories260K: %ld of %ld drafted tokens accepted\n", tot.accepted, tot.drafted);
    assert_true(tot.accepted > 0);
    assert_true(tot.drafted > tot.accepted);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 2 && getenv("KBOX_SPEC_CHILD")) { /* child: the synthetic cases on scalar kernels */
        struct totals tots[KB_ARRAY_LEN(synths)];
        memset(tots, 0, sizeof tots);
        int bad = check_synths(argv[1], tots);
        for (size_t i = 0; bad == 0 && i < KB_ARRAY_LEN(synths); i++)
            if (tots[i].accepted == 0 || tots[i].drafted <= tots[i].accepted)
                bad++;
        printf(bad ? "%d mismatches\n" : "identical\n", bad);
        return bad ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_synthetic_identical),
        cmocka_unit_test(test_mtp),
        cmocka_unit_test(test_scalar_identical),
        cmocka_unit_test(test_stories),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
