/* tests/infer/conf_case.c: see conf_case.h. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/run.h"
#include "conf_case.h"

#define GOLDEN_DIR KBOX_SOURCE_DIR "/tests/infer/golden/"

const int32_t conf_ids[CONF_MAX] = {
    84,  214, 214, 144, 245, 110, 243, 262, 93,  258, 270, 120, 1,   7,   189, 219, 109, 278, 127, 176,
    281, 62,  295, 96,  113, 170, 147, 100, 85,  274, 231, 188, 149, 230, 183, 44,  265, 278, 207, 256,
    13,  110, 259, 48,  157, 178, 203, 256, 37,  86,  259, 192, 17,  110, 159, 32,  125, 54,  179, 12,
    5,   22,  115, 44,  133, 30,  11,  60,  185, 230, 75,  108, 89,  226, 31,  260, 93,  178, 235, 200};

void conf_read_ref(const char *name, const char *suffix, int n, float *ref)
{
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.%s", name, suffix);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("missing %s", path);
    assert_int_equal(fread(ref, sizeof(float), (size_t)n * CONF_VOCAB, f), (size_t)n * CONF_VOCAB);
    fclose(f);
}

struct infer_model *conf_open(const char *name, const char *arch)
{
    char path[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_model_info mi;
    snprintf(path, sizeof path, GOLDEN_DIR "%s.gguf", name);
    if (infer_model_open(&m, path, &err))
        fail_msg("open %s: %s", name, err.msg);
    infer_model_get_info(m, &mi);
    assert_string_equal(mi.arch, arch);
    return m;
}

struct infer_session *conf_session(struct infer_model *m, int n_ctx, int n_batch, bool kv_f32, bool no_mtp)
{
    struct kb_error err = {0};
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    infer_session_params_default(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.kv_f32 = kv_f32;
    sp.no_mtp = no_mtp;
    if (infer_session_new(&s, m, &sp, &err))
        fail_msg("session: %s", err.msg);
    return s;
}

void conf_eval_steps(struct infer_session *s, float *out, int from, int to, int step)
{
    struct kb_error err = {0};
    for (int t = from; t < to; t += step) {
        int k = t + step > to ? to - t : step;
        if (infer_eval(s, conf_ids + t, k, out + (size_t)t * CONF_VOCAB, true, &err))
            fail_msg("eval: %s", err.msg);
    }
}

int conf_argmax(const float *x)
{
    int b = 0;
    for (int i = 1; i < CONF_VOCAB; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

double conf_rel_diff(const float *got, const float *ref, int t0, int n, int *flips)
{
    double md = 0, mr = 0;
    *flips = 0;
    for (int t = t0; t < n; t++) {
        for (int i = 0; i < CONF_VOCAB; i++) {
            md = fmax(md, fabs((double)got[t * CONF_VOCAB + i] - ref[t * CONF_VOCAB + i]));
            mr = fmax(mr, fabs((double)ref[t * CONF_VOCAB + i]));
        }
        *flips += conf_argmax(got + t * CONF_VOCAB) != conf_argmax(ref + t * CONF_VOCAB);
    }
    return md / mr;
}

void conf_compare(const char *tag, const char *name, const char *how, const float *got, const float *ref, int t0,
                  int n, double tol, int max_flips)
{
    int flips;
    double r = conf_rel_diff(got, ref, t0, n, &flips);
    printf("[%s] %-22s %2d ids %-18s max |kbox - llama.cpp| / max |llama.cpp| = %.3g, argmax flips %d/%d\n", tag,
           name, n, how, r, flips, n - t0);
    if (!(r <= tol) || flips > max_flips)
        fail_msg("%s %s: relative difference %.3g, %d argmax flips", name, how, r, flips);
}

void conf_cli(const char *arch, const char *tag, const char *const info_has[], const char *bad_flag,
              const char *bad_value, const char *bad_err)
{
    char gguf[128];
    struct run_result r;
    snprintf(gguf, sizeof gguf, "/tmp/kbox-test-%s-%d.gguf", tag, (int)getpid());
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", (char *)arch, "--type", "Q8_0", "--out", gguf,
                     NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    char *info[] = {KBOX_BIN, "model", "info", gguf, "--json", NULL};
    assert_int_equal(run_cmd(&r, info, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    for (int i = 0; info_has[i]; i++)
        assert_non_null(strstr(r.out, info_has[i]));
    run_result_free(&r);
    char *run[] = {KBOX_BIN, "model", "run", gguf, "-p", "hello", "--chat", "-n", "6", "--temp", "0", NULL};
    assert_int_equal(run_cmd(&r, run, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.err, "generated 6 tokens"));
    run_result_free(&r);
    char *bad[] = {KBOX_BIN, "model", "synth", "--arch", (char *)arch, (char *)bad_flag, (char *)bad_value,
                   "--out", gguf, NULL};
    assert_int_equal(run_cmd(&r, bad, NULL), 0);
    assert_true(r.exit_code != 0);
    assert_non_null(strstr(r.err, bad_err));
    run_result_free(&r);
    unlink(gguf);
}
