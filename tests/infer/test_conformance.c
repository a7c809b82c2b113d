/* tests/infer/test_conformance.c: kbox's engine against llama.cpp's own outputs in
 * ../shared/conformance (see its README).
 *
 * For every dense case: open NAME.gguf through the public API, evaluate the 16 input ids in ONE
 * batch with logits for every position, compare all rows with NAME.logits.f32
 * (max|ours - ref| / max|ref|), check the argmax per row, then continue greedily one token at a
 * time from the same session and compare with greedy_ids. F32 cases must match to 1e-4 with equal
 * argmax everywhere and identical greedy ids; quantized cases (activation quantization makes rare
 * int8 rounding flips) to 3e-2, argmax on >= 15 of 16 rows, and greedy ids equal up to the first
 * step whose recorded top-1 margin is below 0.05. The KV cache is F32 as in the reference run; one
 * more pass with the default F16 cache must stay within llama.cpp's own F16 distance scale.
 * stories260K (a real trained model) also checks 64 greedy ids. The double-precision reference
 * forward (ref_forward.c) is checked on every F32 case as well, so it is itself anchored to
 * llama.cpp. bert_f32: pooled and per-token embeddings against llama.cpp's. Skips cleanly when
 * ../shared is absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/gguf.h"
#include "infer/infer.h"
#include "ref_forward.h"

#ifndef KBOX_SHARED_DIR
#define KBOX_SHARED_DIR "../shared"
#endif

struct ccase {
    const char *name;
    const char *gguf; /* relative to KBOX_SHARED_DIR */
    bool f32;
    int n_prompt;     /* rows in the logits file */
    bool moe;         /* mixture of experts (issue 7) */
};

static const struct ccase cases[] = {
    {"llama_f32", "conformance/llama_f32.gguf", true, 16, false},
    {"llama_q8_0", "conformance/llama_q8_0.gguf", false, 16, false},
    {"llama_q4_k_m", "conformance/llama_q4_k_m.gguf", false, 16, false},
    {"llama_q6_k", "conformance/llama_q6_k.gguf", false, 16, false},
    {"qwen2_f32", "conformance/qwen2_f32.gguf", true, 16, false},
    {"stories260K", "models/stories260K.gguf", true, 5, false},
#define MOE(name, f32) {#name, "conformance/" #name ".gguf", f32, 16, true}
    MOE(qwen3moe_f32, true), MOE(qwen3moe_q8_0, false), MOE(qwen3moe_q4_k_m, false),
    MOE(qwen3moe_q6_k, false), MOE(qwen3moe_k256_q4_k_m, false), MOE(qwen3moe_k256_q6_k, false),
    MOE(qwen2moe_f32, true),
    MOE(deepseek2_lite_f32, true), MOE(deepseek2_lite_q8_0, false),
    MOE(deepseek2_lite_q4_k_m, false), MOE(deepseek2_lite_q6_k, false),
    MOE(deepseek2_lite_k256_q4_k_m, false), MOE(deepseek2_lite_k256_q6_k, false),
    MOE(deepseek2_v3_f32, true), MOE(deepseek2_v3_q8_0, false), MOE(deepseek2_v3_q4_k_m, false),
    MOE(deepseek2_v3_q6_k, false),
#undef MOE
};

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = 0;
            if (n)
                *n = (size_t)len;
        }
    }
    fclose(f);
    return buf;
}

/* Reads the JSON number array under "key" (flat, no nesting) into out; returns the count. */
static int json_nums(const char *json, const char *key, double *out, int max)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *s = strstr(json, pat);
    int n = 0;
    if (!s || !(s = strchr(s + strlen(pat), '[')))
        return -1;
    s++;
    for (;;) {
        while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t' || *s == ',')
            s++;
        if (*s == ']' || *s == 0 || n == max)
            break;
        char *end;
        out[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = end;
    }
    return n;
}

static bool shared_present(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/conformance/README.md", KBOX_SHARED_DIR);
    FILE *f = fopen(p, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static double rel_diff(const float *a, const float *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - ref[i]));
        mr = fmax(mr, fabs((double)ref[i]));
    }
    return md / mr;
}

static void run_case(const struct ccase *c, bool kv_f32)
{
    char path[512], jpath[512], lpath[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_model_info info;
    double ids_d[64], greedy_d[64], margin[64];
    int32_t ids[64];
    size_t lbytes = 0;
    snprintf(path, sizeof path, "%s/%s", KBOX_SHARED_DIR, c->gguf);
    snprintf(jpath, sizeof jpath, "%s/conformance/%s.tokens.json", KBOX_SHARED_DIR, c->name);
    snprintf(lpath, sizeof lpath, "%s/conformance/%s.logits.f32", KBOX_SHARED_DIR, c->name);
    char *json = slurp(jpath, NULL);
    float *ref = (float *)slurp(lpath, &lbytes);
    assert_non_null(json);
    assert_non_null(ref);
    int n_ids = json_nums(json, "input_ids", ids_d, 64);
    int n_greedy = json_nums(json, "greedy_ids", greedy_d, 64);
    int n_margin = json_nums(json, "greedy_top1_margin", margin, 64);
    assert_int_equal(n_ids, c->n_prompt);
    assert_true(n_greedy > 0 && n_margin == n_greedy);
    for (int i = 0; i < n_ids; i++)
        ids[i] = (int32_t)ids_d[i];

    int rc = infer_model_open(&m, path, &err);
    if (rc)
        fail_msg("%s: %s", c->name, err.msg);
    infer_model_get_info(m, &info);
    int V = info.n_vocab;
    assert_int_equal(lbytes, (size_t)n_ids * V * sizeof(float));
    struct infer_session_params sp;
    infer_session_params_default(&sp);
    sp.n_ctx = 128;
    sp.n_threads = kv_f32 ? 1 : 2; /* the reference ran 1 thread; the F16 pass also covers the pool */
    sp.kv_f32 = kv_f32;
    assert_int_equal(infer_session_new(&s, m, &sp, &err), 0);
    float *lg = malloc((size_t)n_ids * V * sizeof *lg);
    assert_int_equal(infer_eval(s, ids, n_ids, lg, true, &err), 0);
    double rd = rel_diff(lg, ref, (size_t)n_ids * V);
    int am_ok = 0;
    for (int t = 0; t < n_ids; t++)
        am_ok += argmax(lg + (size_t)t * V, V) == argmax(ref + (size_t)t * V, V);
    /* greedy continuation, one token at a time */
    int g_equal = 0, g_first_bad = -1, fragile = n_greedy;
    for (int i = 0; i < n_greedy; i++)
        if (margin[i] < 0.05 && fragile == n_greedy)
            fragile = i;
    float *last = malloc((size_t)V * sizeof *last);
    memcpy(last, lg + (size_t)(n_ids - 1) * V, (size_t)V * sizeof *last);
    for (int i = 0; i < n_greedy; i++) {
        int32_t tok = argmax(last, V);
        if (tok == (int32_t)greedy_d[i] && g_first_bad < 0)
            g_equal++;
        else if (g_first_bad < 0)
            g_first_bad = i;
        tok = (int32_t)greedy_d[i]; /* keep following the reference's path */
        if (i + 1 < n_greedy)
            assert_int_equal(infer_eval(s, &tok, 1, last, false, &err), 0);
    }
    printf("[ conf     ] %-14s kv %s  max rel diff %.3g  argmax %d/%d  greedy %d/%d%s\n",
           c->name, kv_f32 ? "f32" : "f16", rd, am_ok, n_ids, g_equal, n_greedy,
           fragile < n_greedy ? " (fragile step present)" : "");
    if (kv_f32 && c->f32) {
        assert_true(rd <= 1e-4);
        assert_int_equal(am_ok, n_ids);
        assert_int_equal(g_equal, n_greedy);
    } else if (kv_f32) {
        assert_true(rd <= 3e-2);
        assert_true(am_ok >= n_ids - 1);
        assert_true(g_equal >= KB_MIN(fragile, n_greedy));
    } else {
        /* F16 cache: llama.cpp itself moves 0.09-0.23 % (F32) and up to 62 % (quantized). */
        assert_true(rd <= (c->f32 ? 1e-2 : 0.7));
    }
    free(last);
    free(lg);
    infer_session_free(s);
    infer_model_close(m);
    free(json);
    free(ref);
}

static void test_conformance_f32_kv(void **state)
{
    (void)state;
    if (!shared_present())
        skip();
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
        run_case(&cases[i], true);
}

static void test_conformance_f16_kv(void **state)
{
    (void)state;
    if (!shared_present())
        skip();
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
        run_case(&cases[i], false);
}

/* The double-precision reference forward agrees with llama.cpp on every F32 case. */
static void test_reference_forward_vs_llamacpp(void **state)
{
    (void)state;
    if (!shared_present())
        skip();
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        const struct ccase *c = &cases[i];
        char path[512], jpath[512], lpath[512], msg[128];
        struct kb_error err = {0};
        struct gguf_file *f = NULL;
        double ids_d[64], *lg = NULL;
        int32_t ids[64];
        int V = 0;
        size_t lbytes;
        if (!c->f32)
            continue;
        snprintf(path, sizeof path, "%s/%s", KBOX_SHARED_DIR, c->gguf);
        snprintf(jpath, sizeof jpath, "%s/conformance/%s.tokens.json", KBOX_SHARED_DIR, c->name);
        snprintf(lpath, sizeof lpath, "%s/conformance/%s.logits.f32", KBOX_SHARED_DIR, c->name);
        char *json = slurp(jpath, NULL);
        float *ref = (float *)slurp(lpath, &lbytes);
        int n = json_nums(json, "input_ids", ids_d, 64);
        for (int t = 0; t < n; t++)
            ids[t] = (int32_t)ids_d[t];
        assert_int_equal(gguf_open(&f, path, &err), 0);
        assert_int_equal(ref_forward(f, ids, n, &lg, &V, msg, sizeof msg), 0);
        double md = 0, mr = 0;
        for (size_t k = 0; k < (size_t)n * V; k++) {
            md = fmax(md, fabs(lg[k] - ref[k]));
            mr = fmax(mr, fabs((double)ref[k]));
        }
        printf("[ ref      ] %-14s reference forward vs llama.cpp: max rel diff %.3g\n", c->name,
               md / mr);
        assert_true(md / mr <= 1e-5);
        free(lg);
        gguf_close(f);
        free(json);
        free(ref);
    }
}

/* bert_f32: pooled (mean) and per-token embeddings of 3 sequences against llama.cpp's. */
static void test_bert_embeddings(void **state)
{
    (void)state;
    char path[512], jpath[512], epath[512], tpath[512];
    struct kb_error err = {0};
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_model_info in;
    struct infer_session_params sp;
    size_t eb = 0, tb = 0;
    if (!shared_present())
        skip();
    snprintf(path, sizeof path, "%s/conformance/bert_f32.gguf", KBOX_SHARED_DIR);
    snprintf(jpath, sizeof jpath, "%s/conformance/bert_f32.tokens.json", KBOX_SHARED_DIR);
    snprintf(epath, sizeof epath, "%s/conformance/bert_f32.embd.f32", KBOX_SHARED_DIR);
    snprintf(tpath, sizeof tpath, "%s/conformance/bert_f32.token_embd.f32", KBOX_SHARED_DIR);
    char *json = slurp(jpath, NULL);
    float *ref = (float *)slurp(epath, &eb), *ref_tok = (float *)slurp(tpath, &tb);
    assert_non_null(json);
    if (infer_model_open(&m, path, &err))
        fail_msg("bert: %s", err.msg);
    infer_model_get_info(m, &in);
    assert_true(in.encoder);
    int E = in.n_embd;
    assert_int_equal(eb, 3 * (size_t)E * sizeof(float));
    infer_session_params_default(&sp);
    sp.n_threads = 1;
    assert_int_equal(infer_session_new(&s, m, &sp, &err), 0);
    int32_t one = 5;
    assert_int_equal(infer_eval(s, &one, 1, NULL, false, &err), KB_EINVAL); /* no logits */
    /* "sequences": [[...], [...], [...]] */
    const char *p = strstr(json, "\"sequences\"");
    assert_non_null(p);
    p = strchr(p, '[') + 1;
    float *pooled = malloc((size_t)E * sizeof *pooled), *tok = malloc(64 * (size_t)E * sizeof *tok);
    double md = 0, mr = 0, tmd = 0, tmr = 0;
    size_t row = 0;
    for (int q = 0; q < 3; q++) {
        int32_t ids[64];
        int n = 0;
        p = strchr(p, '[') + 1;
        while (*p != ']') {
            char *end;
            long v = strtol(p, &end, 10);
            if (end != p)
                ids[n++] = (int32_t)v;
            p = end == p ? p + 1 : end;
        }
        assert_int_equal(infer_embed(s, ids, n, pooled, tok, false, &err), 0);
        for (int i = 0; i < E; i++) {
            md = fmax(md, fabs(pooled[i] - ref[(size_t)q * E + i]));
            mr = fmax(mr, fabs(ref[(size_t)q * E + i]));
        }
        assert_true((row + n) * E * sizeof(float) <= tb);
        for (size_t i = 0; i < (size_t)n * E; i++) {
            tmd = fmax(tmd, fabs(tok[i] - ref_tok[row * E + i]));
            tmr = fmax(tmr, fabs(ref_tok[row * E + i]));
        }
        row += (size_t)n;
    }
    printf("[ conf     ] bert_f32       pooled max rel diff %.3g, per-token %.3g\n", md / mr,
           tmd / tmr);
    assert_true(md / mr <= 1e-4);
    assert_true(tmd / tmr <= 3e-4); /* single rows meet F16 GELU-table rounding flips */
    free(pooled);
    free(tok);
    infer_session_free(s);
    infer_model_close(m);
    free(json);
    free(ref);
    free(ref_tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_forward_vs_llamacpp),
        cmocka_unit_test(test_conformance_f32_kv),
        cmocka_unit_test(test_conformance_f16_kv),
        cmocka_unit_test(test_bert_embeddings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
