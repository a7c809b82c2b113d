/* tests/infer/test_bert.c: the embedder of infer/embed.h on the bert_f32 conformance model.
 *
 * - pooled vectors of the three reference id sequences against llama.cpp's bert_f32.embd.f32
 *   (mean pooling, not normalised; max|diff| / max|ref| <= 1e-4), and the normalised variant;
 * - text tokenization with [CLS]/[SEP], truncation to the context keeping [SEP], texts == tokens;
 *   the text path against llama.cpp's ids in tokenizer_cases.json;
 * - four threads sharing one embedder get the single-thread vectors bit for bit;
 * - errors: missing file, a decoder model, bad ids, empty and over-long sequences; identity;
 * - `kbox model embed FILE --tokens ... --out F [--json]` writes the same floats.
 * Everything skips cleanly when ../shared is absent. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/run.h"
#include "infer/embed.h"

#define DIM 128

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            buf[len] = '\0';
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

static void shared_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/conformance/%s", KBOX_SHARED_DIR, name);
}

static bool have_bert(void)
{
    char p[512];
    shared_path(p, sizeof p, "bert_f32.gguf");
    return access(p, R_OK) == 0;
}

/* The three "sequences" of bert_f32.tokens.json into ids[3][64], lengths into n[3]. */
static void load_sequences(int32_t ids[3][64], int n[3])
{
    char p[512];
    shared_path(p, sizeof p, "bert_f32.tokens.json");
    char *json = slurp(p, NULL);
    assert_non_null(json);
    const char *s = strstr(json, "\"sequences\"");
    assert_non_null(s);
    s = strchr(s, '[');
    assert_non_null(s);
    s++;
    for (int q = 0; q < 3; q++) {
        s = strchr(s, '[');
        assert_non_null(s);
        s++;
        n[q] = 0;
        while (*s && *s != ']') {
            char *end;
            long v = strtol(s, &end, 10);
            if (end != s) {
                assert_true(n[q] < 64);
                ids[q][n[q]++] = (int32_t)v;
                s = end;
            } else {
                s++;
            }
        }
        assert_true(n[q] >= 2);
    }
    free(json);
}

static struct infer_embedder *open_bert(int n_threads)
{
    char p[512];
    struct kb_error err = {0};
    struct infer_embedder *e = NULL;
    shared_path(p, sizeof p, "bert_f32.gguf");
    if (infer_embedder_open(&e, p, n_threads, &err) != 0)
        fail_msg("open: %s", err.msg);
    return e;
}

static double rel_diff(const float *a, const float *ref, int n)
{
    double md = 0, mr = 0;
    for (int i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - ref[i]));
        mr = fmax(mr, fabs((double)ref[i]));
    }
    return mr > 0 ? md / mr : md;
}

static void test_conformance(void **state)
{
    (void)state;
    if (!have_bert())
        skip();
    int32_t ids[3][64];
    int n[3];
    size_t eb = 0;
    char p[512];
    struct kb_error err = {0};
    load_sequences(ids, n);
    shared_path(p, sizeof p, "bert_f32.embd.f32");
    float *ref = (float *)slurp(p, &eb);
    assert_non_null(ref);
    assert_int_equal(eb, 3 * DIM * sizeof(float));
    struct infer_embedder *e = open_bert(1);
    assert_int_equal(infer_embedder_dim(e), DIM);
    assert_int_equal(infer_embedder_max_tokens(e), 512);
    double worst = 0;
    for (int q = 0; q < 3; q++) {
        float v[DIM], u[DIM];
        assert_int_equal(infer_embed_tokens(e, ids[q], n[q], v, false, &err), 0);
        double d = rel_diff(v, ref + q * DIM, DIM);
        worst = fmax(worst, d);
        /* normalised = the reference over its own length */
        assert_int_equal(infer_embed_tokens(e, ids[q], n[q], u, true, &err), 0);
        double ss = 0, rs = 0;
        for (int i = 0; i < DIM; i++) {
            ss += (double)u[i] * u[i];
            rs += (double)ref[q * DIM + i] * ref[q * DIM + i];
        }
        assert_true(fabs(ss - 1.0) < 1e-5);
        float rn[DIM];
        for (int i = 0; i < DIM; i++)
            rn[i] = (float)(ref[q * DIM + i] / sqrt(rs));
        assert_true(rel_diff(u, rn, DIM) <= 1e-4);
    }
    printf("[ bert     ] embedder pooled max rel diff vs llama.cpp %.3g\n", worst);
    assert_true(worst <= 1e-4);
    infer_embedder_close(e);
    free(ref);
}

static void test_texts(void **state)
{
    (void)state;
    if (!have_bert())
        skip();
    struct kb_error err = {0};
    struct infer_embedder *e = open_bert(2);
    int32_t ids[600];
    int n = 0;
    /* empty text: the specials alone */
    assert_int_equal(infer_embedder_tokenize(e, "", ids, 600, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    /* ordinary text: [CLS] pieces [SEP], all in the vocabulary */
    assert_int_equal(infer_embedder_tokenize(e, "the cat sat on the mat", ids, 600, &n, &err), 0);
    assert_true(n > 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[n - 1], 3);
    for (int i = 1; i < n - 1; i++)
        assert_true(ids[i] > 4 && ids[i] < 400);
    /* max_out too small is an error, not a silent cut */
    assert_int_equal(infer_embedder_tokenize(e, "the cat sat on the mat", ids, 2, &n, &err),
                     KB_ETOOBIG);

    /* a text far longer than the context is cut to 512 ids that still end with [SEP] */
    size_t big = 4000;
    char *longtext = malloc(big * 4 + 1);
    for (size_t i = 0; i < big; i++)
        memcpy(longtext + 4 * i, "cat ", 4);
    longtext[big * 4] = '\0';
    assert_int_equal(infer_embedder_tokenize(e, longtext, ids, 600, &n, &err), 0);
    assert_int_equal(n, 512);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[511], 3);
    assert_int_not_equal(ids[510], 3);

    /* infer_embed_texts == infer_embed_tokens of the same ids, row by row */
    const char *texts[] = {"the cat sat on the mat", "", "a dog", longtext};
    float out[4 * DIM], one[DIM];
    assert_int_equal(infer_embed_texts(e, texts, 4, out, true, &err), 0);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(infer_embedder_tokenize(e, texts[t], ids, 600, &n, &err), 0);
        assert_int_equal(infer_embed_tokens(e, ids, n, one, true, &err), 0);
        assert_memory_equal(one, out + t * DIM, sizeof one);
    }
    /* different texts, different vectors */
    double dot = 0;
    for (int i = 0; i < DIM; i++)
        dot += (double)out[i] * out[2 * DIM + i];
    assert_true(dot < 0.9999);
    assert_int_equal(infer_embed_texts(e, texts, 0, out, true, &err), 0);
    free(longtext);
    infer_embedder_close(e);
}

/* llama.cpp's ids for text with add_special (tokenizer_cases.json, bert_f32 vocabulary), found by
 * the text's JSON spelling; returns the count, 0 when absent. */
static int reference_ids(const char *json, const char *text_json, int32_t *ids, int max)
{
    char key[256];
    snprintf(key, sizeof key, "\"text\": \"%s\"", text_json);
    for (const char *p = strstr(json, "\"bert_f32.gguf\""); p; p = strstr(p + 1, "\"bert_f32.gguf\"")) {
        const char *t = strstr(p, "\"text\""), *a = strstr(p, "\"add_special\"");
        if (!t || !a || strncmp(t, key, strlen(key)) != 0 || strncmp(a, "\"add_special\": true", 19))
            continue;
        const char *q = strchr(strstr(a, "\"ids\""), '[') + 1;
        int n = 0;
        while (*q && *q != ']' && n < max) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q)
                q++;
            else
                ids[n++] = (int32_t)v, q = end;
        }
        return n;
    }
    return 0;
}

/* The embedder's text path equals llama.cpp's tokenizer plus the reference-id embedding. */
static void test_tokenizer_reference(void **state)
{
    (void)state;
    char p[512];
    shared_path(p, sizeof p, "tokenizer_cases.json");
    char *json = slurp(p, NULL);
    if (!have_bert() || !json) {
        free(json);
        skip();
    }
    static const struct {
        const char *text, *json;
    } cases[] = {
        {"The quick brown fox jumps over the lazy dog.",
         "The quick brown fox jumps over the lazy dog."},
        {"  leading spaces,\ttabs\nand\n\nnewlines   ", "  leading spaces,\\ttabs\\nand\\n\\nnewlines   "},
    };
    struct kb_error err = {0};
    struct infer_embedder *e = open_bert(1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t want[128], got[128];
        int n_want = reference_ids(json, cases[c].json, want, 128), n = 0;
        assert_true(n_want > 2);
        assert_int_equal(infer_embedder_tokenize(e, cases[c].text, got, 128, &n, &err), 0);
        assert_int_equal(n, n_want);
        assert_memory_equal(got, want, (size_t)n * sizeof *got);
        float a[DIM], b[DIM];
        assert_int_equal(infer_embed_texts(e, &cases[c].text, 1, a, false, &err), 0);
        assert_int_equal(infer_embed_tokens(e, want, n_want, b, false, &err), 0);
        assert_memory_equal(a, b, sizeof a);
    }
    infer_embedder_close(e);
    free(json);
}

struct worker {
    struct infer_embedder *e;
    const char *const *texts;
    int n_texts;
    const float *expect; /* n_texts x DIM */
    int mismatches;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    float out[4 * DIM];
    struct kb_error err = {0};
    for (int rep = 0; rep < 5; rep++) {
        if (infer_embed_texts(w->e, w->texts, w->n_texts, out, false, &err) != 0) {
            w->failures++;
            continue;
        }
        if (memcmp(out, w->expect, (size_t)w->n_texts * DIM * sizeof *out) != 0)
            w->mismatches++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    if (!have_bert())
        skip();
    struct kb_error err = {0};
    struct infer_embedder *e = open_bert(1);
    const char *texts[] = {"the cat sat", "on the mat", "a dog ran far away", "cat dog cat"};
    float expect[4 * DIM];
    assert_int_equal(infer_embed_texts(e, texts, 4, expect, false, &err), 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.e = e, .texts = texts, .n_texts = 4, .expect = expect};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(w[i].mismatches, 0);
    }
    infer_embedder_close(e);
}

static void test_errors_and_id(void **state)
{
    (void)state;
    if (!have_bert())
        skip();
    struct kb_error err = {0};
    struct infer_embedder *e = (struct infer_embedder *)&err, *e2 = NULL;
    char p[512];
    shared_path(p, sizeof p, "no_such_model.gguf");
    assert_true(infer_embedder_open(&e, p, 1, &err) < 0);
    assert_null(e);
    shared_path(p, sizeof p, "llama_f32.gguf");
    if (access(p, R_OK) == 0) {
        assert_int_equal(infer_embedder_open(&e, p, 1, &err), KB_EFORMAT);
        assert_null(e);
        assert_non_null(strstr(err.msg, "not an embedding model"));
    }
    e = open_bert(1);
    float v[DIM];
    int32_t bad[3] = {2, 400, 3}, neg[3] = {2, -1, 3};
    assert_int_equal(infer_embed_tokens(e, bad, 3, v, false, &err), KB_EINVAL);
    assert_int_equal(infer_embed_tokens(e, neg, 3, v, false, &err), KB_EINVAL);
    assert_int_equal(infer_embed_tokens(e, bad, 0, v, false, &err), KB_EINVAL);
    int32_t *many = calloc(513, sizeof *many);
    for (int i = 0; i < 513; i++)
        many[i] = 5;
    assert_int_equal(infer_embed_tokens(e, many, 513, v, false, &err), KB_ETOOBIG);
    assert_int_equal(infer_embed_tokens(e, many, 512, v, false, &err), 0);
    free(many);

    /* identity: gguf:<name>:<bytes>:<16 hex>, the same for a second open */
    const char *id = infer_embedder_id(e);
    const char *pre = "gguf:bert_f32.gguf:1539488:";
    assert_int_equal(strncmp(id, pre, strlen(pre)), 0);
    assert_int_equal(strlen(id), strlen(pre) + 16);
    assert_int_equal(strspn(id + strlen(pre), "0123456789abcdef"), 16);
    e2 = open_bert(1);
    assert_string_equal(infer_embedder_id(e2), id);
    infer_embedder_close(e2);
    infer_embedder_close(e);
    infer_embedder_close(NULL);
}

/* kbox model embed FILE --tokens ... --out F [--json]: the CLI writes llama.cpp's vector. */
static void test_cli(void **state)
{
    (void)state;
    if (!have_bert())
        skip();
    int32_t ids[3][64];
    int n[3];
    size_t eb = 0, ob = 0;
    char model[512], refp[512], list[512], out[256];
    load_sequences(ids, n);
    shared_path(model, sizeof model, "bert_f32.gguf");
    shared_path(refp, sizeof refp, "bert_f32.embd.f32");
    size_t off = 0;
    for (int i = 0; i < n[1]; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%d", i ? "," : "", (int)ids[1][i]);
    snprintf(out, sizeof out, "/tmp/kbox_test_bert_%d.f32", (int)getpid());
    char *argv[] = {KBOX_BIN, "model", "embed", model, "--tokens", list, "--out", out, NULL};
    struct run_result r;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    if (r.exit_code == 1 && strstr(r.err, "--tokens")) { /* dispatch not wired to this command yet */
        run_result_free(&r);
        skip();
    }
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    float *ref = (float *)slurp(refp, &eb), *got = (float *)slurp(out, &ob);
    assert_non_null(ref);
    assert_non_null(got);
    assert_int_equal(ob, DIM * sizeof(float));
    assert_true(rel_diff(got, ref + DIM, DIM) <= 1e-4);
    unlink(out);

    /* --json: {"dim":128,"embedding":[...]} with the same numbers */
    char *argj[] = {KBOX_BIN, "model", "embed", model, "--tokens", list, "--json", NULL};
    assert_int_equal(run_cmd(&r, argj, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"dim\":128"));
    const char *s = strstr(r.out, "\"embedding\":[");
    assert_non_null(s);
    s += strlen("\"embedding\":[");
    float js[DIM];
    int k = 0;
    while (k < DIM) {
        char *end;
        double v = strtod(s, &end);
        if (end == s)
            break;
        js[k++] = (float)v;
        s = end;
        if (*s == ',')
            s++;
    }
    assert_int_equal(k, DIM);
    assert_true(rel_diff(js, got, DIM) <= 1e-6);
    run_result_free(&r);

    /* --text: [CLS] text [SEP] */
    char *argt[] = {KBOX_BIN, "model", "embed", model, "--text", "the cat sat", "--json", NULL};
    assert_int_equal(run_cmd(&r, argt, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"embedding\":["));
    run_result_free(&r);

    /* a text longer than the context is truncated to it, [SEP] kept */
    char *longtext = malloc(2000 * 4 + 1);
    for (int i = 0; i < 2000; i++)
        memcpy(longtext + 4 * i, "cat ", 4);
    longtext[2000 * 4] = '\0';
    char *argl[] = {KBOX_BIN, "model", "embed", model, "--text", longtext, "--json", NULL};
    assert_int_equal(run_cmd(&r, argl, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"n_tokens\":512,"));
    run_result_free(&r);
    free(longtext);

    /* both inputs, or neither, is a usage error */
    char *arge[] = {KBOX_BIN, "model", "embed", model, "--json", NULL};
    assert_int_equal(run_cmd(&r, arge, NULL), 0);
    assert_int_equal(r.exit_code, 1);
    run_result_free(&r);
    char *argb[] = {KBOX_BIN, "model", "embed", model, "--tokens", "2,999999,3", "--json", NULL};
    assert_int_equal(run_cmd(&r, argb, NULL), 0);
    assert_int_equal(r.exit_code, 2);
    run_result_free(&r);
    free(ref);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_tokenizer_reference),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_errors_and_id),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
