/* tests/infer/test_model_cli.c: `kbox model` the way a person runs it. The done-when check of the
 * engine: `kbox model run stories260K.gguf -p "Once upon a time" -n 64 --temp 0` prints llama.cpp's
 * greedy_text exactly (skipped without ../shared); plus info, logits against infer_eval's numbers,
 * synth, bench --json (--ctx, stream_gb_s, tg_bw_fraction, tg_cpu_per_wall), bench --profile on a synth MoE file
 * (every phase and pool field present and consistent), synth --type MXFP4 through info and run, a
 * gpt-oss MXFP4 file through info (--json window fields) and run --chat, and usage errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/run.h"
#include "base/json.h"

#ifndef KBOX_SHARED_DIR
#define KBOX_SHARED_DIR "../shared"
#endif

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (fread(buf, 1, (size_t)len, f) == (size_t)len) {
            buf[len] = 0;
            if (n)
                *n = (size_t)len;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Decodes the JSON string value of "key" (escapes \n \" \\ \uXXXX for ASCII) into a new string. */
static char *json_str(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *s = strstr(json, pat);
    if (!s)
        return NULL;
    s += strlen(pat);
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s && *s != '"') {
        if (*s == '\\') {
            s++;
            if (*s == 'n') *o++ = '\n';
            else if (*s == 't') *o++ = '\t';
            else if (*s == 'u') {
                *o++ = (char)strtol((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
                s += 4;
            } else *o++ = *s;
            s++;
        } else
            *o++ = *s++;
    }
    *o = 0;
    return out;
}

static void test_stories_greedy_text(void **state)
{
    (void)state;
    char model[512], jpath[512];
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", KBOX_SHARED_DIR);
    snprintf(jpath, sizeof jpath, "%s/conformance/stories260K.tokens.json", KBOX_SHARED_DIR);
    char *json = slurp(jpath, NULL);
    if (!json || access(model, R_OK) != 0) {
        free(json);
        skip();
    }
    char *want = json_str(json, "greedy_text");
    assert_non_null(want);
    const char *env_scalar[] = {"KBOX_FORCE_SCALAR=1", NULL};
    for (int pass = 0; pass < 2; pass++) {
        char *argv[] = {KBOX_BIN, "model", "run", model, "-p", "Once upon a time", "-n", "64",
                        "--temp", "0", NULL};
        struct run_result r;
        assert_int_equal(run_cmd(&r, argv, pass ? (char *const *)env_scalar : NULL), 0);
        assert_int_equal(r.exit_code, 0);
        /* the prompt, then the generation, then one newline */
        size_t n = strlen(want);
        if (strncmp(r.out, want, n) != 0 || strcmp(r.out + n, "\n") != 0)
            fail_msg("pass %d: got\n%s\nwant\n%s", pass, r.out, want);
        run_result_free(&r);
    }
    free(want);
    free(json);
}

/* The number after "\"key\":" in a one-line JSON object; NAN when the key is missing. */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* kbox model bench --json on a tiny synth file: --ctx is echoed, the generation ran, and the
 * read-bandwidth bound measured in the same run is a positive finite GB/s with a positive
 * fraction (no timing thresholds: the machine is shared). A bad --ctx is a usage error. */
static void bench_json(char *gguf)
{
    struct run_result r;
    char *bench[] = {KBOX_BIN, "model", "bench", gguf, "-t", "2", "-p", "8", "-n", "4", "-r", "1", "--ctx",
                     "16", "--stream-mib", "8", "--json", NULL};
    assert_int_equal(run_cmd(&r, bench, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal((int)json_num(r.out, "ctx"), 16);
    assert_int_equal((int)json_num(r.out, "threads"), 2);
    assert_non_null(strstr(r.out, "\"load\":\"mmap\"")); /* the default */
    double tg = json_num(r.out, "tg_tok_s"), gbs = json_num(r.out, "stream_gb_s");
    double frac = json_num(r.out, "tg_bw_fraction"), act = json_num(r.out, "active_bytes");
    assert_true(isfinite(tg) && tg > 0);
    assert_true(isfinite(gbs) && gbs > 0 && gbs < 1e5);
    assert_true(isfinite(act) && act > 0);
    /* the fraction is what its definition says (to the printed precision) */
    assert_true(isfinite(frac) && frac > 0);
    assert_true(fabs(frac - tg * act / 1e9 / gbs) <= 1e-3 + 1e-2 * frac);
    /* CPU per wall second of the generation: something ran, and two threads cannot use more than
     * two cores (a little slack for the clocks' granularity on a 4-token run) */
    double cpw = json_num(r.out, "tg_cpu_per_wall");
    assert_true(isfinite(cpw) && cpw > 0 && cpw <= 2.5);
    run_result_free(&r);
    char *copy[] = {KBOX_BIN, "model", "bench", gguf, "-p", "4", "-n", "2", "-r", "1", "--stream-mib", "0",
                    "--load", "copy", "--json", NULL};
    assert_int_equal(run_cmd(&r, copy, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"load\":\"copy\""));
    assert_true(json_num(r.out, "tg_tok_s") > 0);
    run_result_free(&r);
    char *badload[] = {KBOX_BIN, "model", "bench", gguf, "--load", "ram", NULL};
    assert_int_equal(run_cmd(&r, badload, NULL), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "--load"));
    run_result_free(&r);
    char *bad[] = {KBOX_BIN, "model", "bench", gguf, "--ctx", "-1", NULL};
    assert_int_equal(run_cmd(&r, bad, NULL), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "--ctx"));
    run_result_free(&r);
}

/* A number member of a parsed object; fails the test when it is missing or not a finite number. */
static double jnum(const struct kb_json *o, const char *key)
{
    const struct kb_json *v = kb_json_get(o, key);
    if (kb_json_kind(v) != KB_JSON_NUMBER || !isfinite(kb_json_num(v)))
        fail_msg("profile: '%s' missing or not a number", key);
    return kb_json_num(v);
}

/* kbox model bench --profile --json on a small deepseek2 file (MLA, a leading dense block, routed
 * and shared experts) at 1 and 2 threads: one step per generated token; every phase present and
 * >= 0, the MoE phases and the expert thread times > 0 (the file has experts), the phases sum to
 * the step (it is a lap clock); at 2 threads hand-offs happen, each thread's busy time is within
 * the step and the caller's barrier wait is within its own idle time. Without --profile there is
 * no "profile" member. No timing thresholds: the machine is shared. */
static void test_bench_profile(void **state)
{
    (void)state;
    char gguf[128];
    snprintf(gguf, sizeof gguf, "/tmp/kbox-test-prof-%d.gguf", (int)getpid());
    struct run_result r;
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "deepseek2", "--type", "Q8_0", "--layers", "3",
                     "--dense-lead", "1", "--experts", "8", "--experts-used", "2", "--shared-experts", "1",
                     "--out", gguf, NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    static const char *const phases[] = {"norm", "attn_proj", "attn", "router", "experts", "ffn_dense",
                                         "output"};
    for (int nt = 1; nt <= 2; nt++) {
        char t[4];
        snprintf(t, sizeof t, "%d", nt);
        char *bench[] = {KBOX_BIN, "model", "bench", gguf, "-t", t, "-p", "4", "-n", "6", "-r", "1",
                         "--stream-mib", "0", "--profile", "--json", NULL};
        assert_int_equal(run_cmd(&r, bench, NULL), 0);
        assert_int_equal(r.exit_code, 0);
        struct kb_json *root = NULL;
        assert_int_equal(kb_json_parse(&root, r.out, strlen(r.out), NULL, NULL), 0);
        const struct kb_json *p = kb_json_get(root, "profile");
        assert_int_equal(kb_json_kind(p), KB_JSON_OBJECT);
        assert_int_equal((int)jnum(p, "steps"), 6);
        double step = jnum(p, "step_ms"), sum = 0;
        assert_true(step > 0);
        const struct kb_json *ph = kb_json_get(p, "phase_ms");
        for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
            double v = jnum(ph, phases[i]);
            assert_true(v >= 0);
            sum += v;
        }
        assert_true(fabs(sum - step) <= 1e-3 * step + 1e-3);
        assert_true(jnum(ph, "router") > 0 && jnum(ph, "experts") > 0 && jnum(ph, "attn") > 0);
        assert_true(jnum(ph, "ffn_dense") > 0 && jnum(ph, "output") > 0);
        assert_true(jnum(p, "routed_expert_thread_ms") > 0 && jnum(p, "shared_expert_thread_ms") > 0);
        double handoffs = jnum(p, "handoffs_per_step"), wait = jnum(p, "barrier_wait_ms");
        const struct kb_json *th = kb_json_get(p, "threads");
        int n = 0;
        for (const struct kb_json *x = kb_json_first(th); x; x = kb_json_next(x), n++) {
            assert_int_equal((int)jnum(x, "ith"), n);
            double busy = jnum(x, "busy_ms"), idle = jnum(x, "idle_ms");
            assert_true(busy >= 0 && busy <= step * 1.001 + 1e-3);
            assert_true(fabs(busy + idle - step) <= 1e-3 * step + 1e-3);
            if (n == 0)
                assert_true(wait <= idle * 1.001 + 1e-3);
        }
        assert_int_equal(n, nt);
        if (nt == 1) {
            assert_true(handoffs == 0 && wait == 0); /* a 1-thread pool runs everything inline */
        } else {
            assert_true(handoffs > 0);
            assert_true(wait >= 0);
        }
        kb_json_free(root);
        run_result_free(&r);
    }
    char *plain[] = {KBOX_BIN, "model", "bench", gguf, "-p", "4", "-n", "2", "-r", "1", "--stream-mib", "0",
                     "--json", NULL};
    assert_int_equal(run_cmd(&r, plain, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_null(strstr(r.out, "\"profile\""));
    run_result_free(&r);
    unlink(gguf);
}

static void test_info_logits_synth(void **state)
{
    (void)state;
    char gguf[128], out[128];
    snprintf(gguf, sizeof gguf, "/tmp/kbox-test-cli-%d.gguf", (int)getpid());
    snprintf(out, sizeof out, "/tmp/kbox-test-cli-%d.f32", (int)getpid());
    struct run_result r;
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "qwen3", "--type", "Q8_0", "--layers",
                     "1", "--dim", "64", "--heads", "2", "--kv-heads", "1", "--ff", "128",
                     "--out", gguf, NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    char *info[] = {KBOX_BIN, "model", "info", gguf, "--json", NULL};
    assert_int_equal(run_cmd(&r, info, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"arch\":\"qwen3\""));
    assert_non_null(strstr(r.out, "\"n_layer\":1"));
    assert_non_null(strstr(r.out, "\"Q8_0\":"));
    run_result_free(&r);
    char *lg[] = {KBOX_BIN, "model", "logits", gguf, "--tokens", "1,2,3", "--out", out, NULL};
    assert_int_equal(run_cmd(&r, lg, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    size_t n = 0;
    char *f = slurp(out, &n);
    assert_non_null(f);
    assert_int_equal(n, 3 * 320 * sizeof(float)); /* synth's default vocabulary is 320 */
    free(f);
    /* usage and input errors */
    char *bad1[] = {KBOX_BIN, "model", "run", gguf, NULL};
    assert_int_equal(run_cmd(&r, bad1, NULL), 0);
    assert_int_equal(r.exit_code, 1);
    run_result_free(&r);
    char *bad2[] = {KBOX_BIN, "model", "info", "/nonexistent.gguf", NULL};
    assert_int_equal(run_cmd(&r, bad2, NULL), 0);
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "kbox:"));
    run_result_free(&r);
    char *bad3[] = {KBOX_BIN, "model", "logits", gguf, "--tokens", "1,99999", "--out", out, NULL};
    assert_int_equal(run_cmd(&r, bad3, NULL), 0);
    assert_int_equal(r.exit_code, 2);
    run_result_free(&r);
    bench_json(gguf);
    unlink(gguf);
    unlink(out);
}

/* kbox model embed: 128 numbers for the tiny bert, unit length with --normalize. */
static void test_embed(void **state)
{
    (void)state;
    char model[512];
    snprintf(model, sizeof model, "%s/conformance/bert_f32.gguf", KBOX_SHARED_DIR);
    if (access(model, R_OK) != 0)
        skip();
    char *argv[] = {KBOX_BIN, "model", "embed", model, "-p", "the cat sat", "--normalize", NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    char *p = r.out, *end;
    int n = 0;
    double ss = 0;
    for (;;) {
        double v = strtod(p, &end);
        if (end == p)
            break;
        ss += v * v;
        n++;
        p = end;
    }
    assert_int_equal(n, 128);
    assert_true(ss > 0.999 && ss < 1.001);
    run_result_free(&r);
}

/* --type MXFP4 end to end: synth writes MXFP4 experts (and Q8_0 elsewhere), info --json counts
 * them, run generates from them; a gpt-oss file is written but refused by info with a clear error. */
static void test_synth_mxfp4(void **state)
{
    (void)state;
    char gguf[128];
    snprintf(gguf, sizeof gguf, "/tmp/kbox-test-cli-mx-%d.gguf", (int)getpid());
    struct run_result r;
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "qwen3moe", "--type", "MXFP4", "--layers", "1",
                     "--out", gguf, NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    char *info[] = {KBOX_BIN, "model", "info", gguf, "--json", NULL};
    assert_int_equal(run_cmd(&r, info, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"MXFP4\":3")); /* gate, up and down experts of the one layer */
    assert_non_null(strstr(r.out, "\"Q8_0\":"));
    run_result_free(&r);
    char *run[] = {KBOX_BIN, "model", "run", gguf, "-p", "hello", "-n", "4", "--temp", "0", NULL};
    assert_int_equal(run_cmd(&r, run, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.err, "generated 4 tokens"));
    run_result_free(&r);
    char *oss[] = {KBOX_BIN, "model", "synth", "--arch", "gpt-oss", "--type", "MXFP4", "--swa", "64", "--out", gguf,
                   NULL};
    assert_int_equal(run_cmd(&r, oss, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    /* gpt-oss: info tells its window; run generates with the harmony template's tokens */
    assert_int_equal(run_cmd(&r, info, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"arch\":\"gpt-oss\""));
    assert_non_null(strstr(r.out, "\"n_swa\":64,\"n_swa_layers\":1,")); /* synth's default: 2 layers */
    assert_non_null(strstr(r.out, "\"MXFP4\":6"));
    run_result_free(&r);
    char *oss_run[] = {KBOX_BIN, "model", "run", gguf, "-p", "hello", "--chat", "-n", "4", "--temp", "0", NULL};
    assert_int_equal(run_cmd(&r, oss_run, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.err, "generated 4 tokens"));
    run_result_free(&r);
    unlink(gguf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_greedy_text),
        cmocka_unit_test(test_info_logits_synth),
        cmocka_unit_test(test_synth_mxfp4),
        cmocka_unit_test(test_bench_profile),
        cmocka_unit_test(test_embed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
