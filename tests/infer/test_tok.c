/* tests/infer/test_tok.c: the tokenizers against the reference implementation's ids.
 *
 * - Unicode tables and the GPT-2 byte mapping;
 * - small hand-made SentencePiece, byte-level BPE and WordPiece vocabularies (no files needed);
 * - every ../shared/vocab/NAME.gguf with NAME.gguf.inp/.out: each string must encode (no BOS, no
 *   special parsing) to exactly the listed ids, and byte-level BPE must decode back byte for byte;
 * - the 98 cases of ../shared/conformance/tokenizer_cases.json (with and without add_special);
 * - stories260K: "Once upon a time" -> 1 403 407 261 378 and the greedy ids decode to greedy_text;
 * - special-token parsing and the streaming decoder (UTF-8 held back across byte tokens).
 * Parts that need ../shared skip cleanly when it is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "infer/gguf.h"
#include "infer/tok.h"
#include "infer/tok_int.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            buf = kb_xrealloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = 0;
    *n = len;
    return buf;
}

static bool shared_present(void)
{
    struct stat st;
    return stat(KBOX_SHARED_DIR "/vocab", &st) == 0;
}

static struct tok_vocab *load_vocab(const char *path)
{
    struct gguf_file *f = NULL;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    int rc = gguf_open(&f, path, &err);
    if (rc != 0)
        fail_msg("cannot open %s: %s", path, err.msg);
    rc = tok_vocab_new(&v, f, &err);
    if (rc != 0)
        fail_msg("cannot build the vocabulary of %s: %s", path, err.msg);
    gguf_close(f);
    return v;
}

static size_t encode(const struct tok_vocab *v, const char *s, size_t n, unsigned flags, int32_t *ids,
                     size_t max)
{
    size_t n_ids = 0;
    struct kb_error err = {0};
    int rc = tok_encode(v, s, n, flags, ids, max, &n_ids, &err);
    if (rc != 0)
        fail_msg("encode failed: %s", err.msg);
    return n_ids;
}

/* ---- Unicode ------------------------------------------------------------------------------------- */

static void test_unicode(void **state)
{
    (void)state;
    assert_int_equal(tok_ucat('a'), UCAT_L);
    assert_int_equal(tok_ucat(0x4E2D), UCAT_L); /* 中 */
    assert_int_equal(tok_ucat('7'), UCAT_N);
    assert_int_equal(tok_ucat(0x2167), UCAT_N); /* Roman numeral eight */
    assert_int_equal(tok_ucat(','), UCAT_P);
    assert_int_equal(tok_ucat(0x3001), UCAT_P); /* 、 */
    assert_int_equal(tok_ucat('$'), UCAT_S);
    assert_int_equal(tok_ucat(0x1F600), UCAT_S); /* 😀 */
    assert_int_equal(tok_ucat(0x0301), UCAT_M);
    assert_int_equal(tok_ucat(' '), UCAT_Z);
    assert_int_equal(tok_ucat('\n'), UCAT_C);
    assert_int_equal(tok_ucat(0x0378), UCAT_UNDEF);
    assert_int_equal(tok_ucat(0x110000), UCAT_UNDEF);
    assert_true(tok_is_ws(0x3000) && tok_is_ws('\t') && !tok_is_ws(0x200B) && !tok_is_ws('x'));
    assert_int_equal(tok_tolower('Q'), 'q');
    assert_int_equal(tok_tolower(0xC9), 0xE9);   /* É */
    assert_int_equal(tok_tolower(0x100), 0x101); /* Ā, a stride-2 run */
    assert_int_equal(tok_tolower(0x101), 0x101);
    assert_int_equal(tok_tolower(0x0410), 0x0430); /* Cyrillic А */
    assert_int_equal(tok_tolower(0x1E9E), 0xDF);   /* ẞ */
    assert_int_equal(tok_nfd_first(0xE9), 'e');
    assert_int_equal(tok_nfd_first(0x1EA5), 'a');    /* ấ */
    assert_int_equal(tok_nfd_first(0xAC00), 0x1100); /* Hangul syllable -> leading jamo */
    assert_int_equal(tok_nfd_first('z'), 'z');
    for (int b = 0; b < 256; b++)
        assert_int_equal(tok_cp_to_byte(tok_byte_to_cp((uint8_t)b)), b);
    assert_int_equal(tok_byte_to_cp(' '), 0x120);  /* Ġ */
    assert_int_equal(tok_byte_to_cp('\n'), 0x10A); /* Ċ */
    assert_int_equal(tok_cp_to_byte(0x3000), -1);
    uint32_t cp;
    assert_int_equal(kb_utf8_decode_lenient("\xe2\x82", 2, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(kb_utf8_decode_lenient("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    /* a surrogate passes the lenient decoder and the lenient encoder writes its bytes back, so a
     * byte-level BPE sees the input's own bytes (the strict encoder would give U+FFFD's) */
    char u[4];
    assert_int_equal(kb_utf8_decode_lenient("\xed\xa0\x80", 3, &cp), 3);
    assert_int_equal(cp, 0xD800);
    assert_int_equal(kb_utf8_encode_lenient(cp, u), 3);
    assert_memory_equal(u, "\xed\xa0\x80", 3);
}

/* ---- hand-made vocabularies ----------------------------------------------------------------------- */

static void test_spm_small(void **state)
{
    (void)state;
    static const char *const texts[] = {"<unk>",
                                        "<s>",
                                        "</s>",
                                        "<0x21>",
                                        "<0xC3>",
                                        "<0xA9>",
                                        "\xe2\x96\x81",
                                        "h",
                                        "e",
                                        "l",
                                        "o",
                                        "\xe2\x96\x81h",
                                        "ll",
                                        "\xe2\x96\x81he",
                                        "llo",
                                        "\xe2\x96\x81hello",
                                        "w",
                                        "\xe2\x96\x81w"};
    static const float scores[] = {0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -2, -3, -3, -4, -4, -5, -2, -3};
    static const int32_t types[] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    struct tok_spec s;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    int32_t ids[32];
    tok_spec_init(&s);
    s.model = "llama";
    s.n_tokens = (int32_t)KB_ARRAY_LEN(texts);
    s.texts = texts;
    s.scores = scores;
    s.types = types;
    assert_int_equal(tok_vocab_new_spec(&v, &s, &err), 0);
    assert_int_equal(tok_kind(v), TOK_KIND_SPM);
    assert_int_equal(tok_bos(v), 1);
    assert_true(tok_add_bos(v));
    /* "hello": ▁he + llo would score -8, but merges go pair by pair by score: ▁h(-3), ll(-3),
     * ▁he(-4), llo(-4), ▁hello(-5) */
    size_t n = encode(v, "hello", 5, TOK_ADD_SPECIAL, ids, 32);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 15);
    /* byte fallback for '!' and 'é' (C3 A9), ' ' escaped */
    n = encode(v, "hello w!\xc3\xa9", 10, 0, ids, 32);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], 15);
    assert_int_equal(ids[1], 17);
    assert_int_equal(ids[2], 3);
    assert_int_equal(ids[3], 4);
    assert_int_equal(ids[4], 5);
    struct kb_buf b;
    kb_buf_init(&b, 0);
    assert_int_equal(tok_decode(v, ids, n, 0, &b), 0);
    assert_string_equal(b.data, "hello w!\xc3\xa9"); /* leading space of ▁hello dropped */
    kb_buf_reset(&b);
    int32_t with_bos[] = {1, 15};
    assert_int_equal(tok_decode(v, with_bos, 2, TOK_REMOVE_SPECIAL, &b), 0);
    assert_string_equal(b.data, " hello"); /* as llama.cpp: a removed BOS keeps the space */
    kb_buf_release(&b);
    /* too small an output buffer */
    size_t need = 0;
    assert_int_equal(tok_encode(v, "hello w", 7, 0, ids, 1, &need, &err), KB_ETOOBIG);
    assert_int_equal(need, 2);
    /* empty text: only what add_special adds */
    assert_int_equal(encode(v, "", 0, 0, ids, 32), 0);
    assert_int_equal(encode(v, "", 0, TOK_ADD_SPECIAL, ids, 32), 1);
    tok_vocab_free(v);
}

static void test_bpe_small(void **state)
{
    (void)state;
    /* byte-level: 'Ġ' is a space; merges: "h e", "l l", "Ġ w", "he ll", "hell o" */
    static const char *const texts[] = {"h",  "e",         "l",    "o",     "\xc4\xa0", "w", "he",
                                        "ll", "\xc4\xa0w", "hell", "hello", "<|end|>",  "!"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1};
    static const char *const merges[] = {"h e", "l l", "\xc4\xa0 w", "he ll", "hell o"};
    struct tok_spec s;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    int32_t ids[32];
    tok_spec_init(&s);
    s.model = "gpt2";
    s.pre = "gpt-2";
    s.n_tokens = (int32_t)KB_ARRAY_LEN(texts);
    s.texts = texts;
    s.types = types;
    s.n_merges = (int32_t)KB_ARRAY_LEN(merges);
    s.merges = merges;
    s.ids[TOK_BOS] = s.ids[TOK_EOS] = 11;
    assert_int_equal(tok_vocab_new_spec(&v, &s, &err), 0);
    size_t n = encode(v, "hello wo!", 9, 0, ids, 32);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 10);
    assert_int_equal(ids[1], 8);
    assert_int_equal(ids[2], 3);
    assert_int_equal(ids[3], 12);
    /* the control token is text unless parse_special */
    n = encode(v, "<|end|>hello", 12, TOK_PARSE_SPECIAL, ids, 32);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 11);
    assert_int_equal(ids[1], 10);
    assert_true(tok_is_eog(v, 11));
    const char *p;
    assert_int_equal(tok_piece(v, 11, false, &p), 0);
    assert_int_equal(tok_piece(v, 11, true, &p), 7);
    assert_int_equal(tok_piece(v, 8, false, &p), 2);
    assert_memory_equal(p, " w", 2);
    tok_vocab_free(v);
    /* unsupported tokenizer models are refused with a message */
    s.model = "t5";
    assert_int_equal(tok_vocab_new_spec(&v, &s, &err), KB_EFORMAT);
    assert_null(v);
    assert_non_null(strstr(err.msg, "t5"));
}

static void test_wpm_small(void **state)
{
    (void)state;
    static const char *const texts[] = {"[PAD]",
                                        "[UNK]",
                                        "[CLS]",
                                        "[SEP]",
                                        "\xe2\x96\x81"
                                        "cafe",
                                        "\xe2\x96\x81"
                                        "un",
                                        "known",
                                        "\xe2\x96\x81"
                                        ",",
                                        "\xe2\x96\x81"
                                        "x"};
    static const int32_t types[] = {3, 3, 3, 3, 1, 1, 1, 1, 1};
    struct tok_spec s;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    int32_t ids[32];
    tok_spec_init(&s);
    s.model = "bert";
    s.n_tokens = (int32_t)KB_ARRAY_LEN(texts);
    s.texts = texts;
    s.types = types;
    s.ids[TOK_BOS] = 2;
    s.ids[TOK_SEP] = 3;
    s.ids[TOK_UNK] = 1;
    s.ids[TOK_PAD] = 0;
    assert_int_equal(tok_vocab_new_spec(&v, &s, &err), 0);
    const char *text = "CAF\xc3\x89, Unknown xy";
    size_t n = encode(v, text, strlen(text), TOK_ADD_SPECIAL, ids, 32);
    assert_int_equal(n, 7);
    int32_t want[] = {2, 4, 7, 5, 6, 1, 3};
    assert_memory_equal(ids, want, sizeof want);
    tok_vocab_free(v);
}

/* ---- shared vocabularies ----------------------------------------------------------------------- */

static const char *const vocab_names[] = {
    "gpt-2",          "llama-spm", "phi-3",     "bert-bge", "deepseek-llm",
    "deepseek-coder", "falcon",    "starcoder", "refact",   "mpt"};

static int check_vocab_file(const char *name, int *n_cases)
{
    char path[512];
    size_t n_inp, n_out;
    int bad = 0;
    snprintf(path, sizeof path, KBOX_SHARED_DIR "/vocab/ggml-vocab-%s.gguf", name);
    struct tok_vocab *v = load_vocab(path);
    snprintf(path, sizeof path, KBOX_SHARED_DIR "/vocab/ggml-vocab-%s.gguf.inp", name);
    char *inp = slurp(path, &n_inp);
    snprintf(path, sizeof path, KBOX_SHARED_DIR "/vocab/ggml-vocab-%s.gguf.out", name);
    char *out = slurp(path, &n_out);
    assert_non_null(inp);
    assert_non_null(out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    for (;;) {
        char *e = strstr(s, sep);
        if (!e)
            break;
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        int32_t want[1024], got[1024];
        size_t n_want = 0;
        for (char *p = line; *p;) {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p)
                break;
            want[n_want++] = (int32_t)x;
            p = end;
        }
        size_t n_got = encode(v, s, (size_t)(e - s), 0, got, 1024);
        if (n_got != n_want || memcmp(got, want, n_got * sizeof *got) != 0) {
            bad++;
            printf("# %s: case %d '%.*s': got %zu ids, want %zu\n#   got ", name, *n_cases,
                   (int)KB_MIN(e - s, 60), s, n_got, n_want);
            for (size_t i = 0; i < n_got && i < 40; i++)
                printf(" %d", got[i]);
            printf("\n#   want");
            for (size_t i = 0; i < n_want && i < 40; i++)
                printf(" %d", want[i]);
            printf("\n");
        } else if (tok_kind(v) == TOK_KIND_BPE) {
            kb_buf_reset(&b);
            assert_int_equal(tok_decode(v, want, n_want, TOK_RENDER_SPECIAL, &b), 0);
            if (b.len != (size_t)(e - s) || memcmp(b.data ? b.data : "", s, b.len) != 0) {
                /* decode applies clean_up_tokenization_spaces; check the raw pieces instead */
                kb_buf_reset(&b);
                for (size_t i = 0; i < n_want; i++) {
                    const char *p;
                    size_t len = tok_piece(v, want[i], true, &p);
                    kb_buf_append(&b, p, len);
                }
                if (b.len != (size_t)(e - s) || memcmp(b.data ? b.data : "", s, b.len) != 0) {
                    bad++;
                    printf("# %s: case %d does not decode back\n", name, *n_cases);
                }
            }
        }
        (*n_cases)++;
        s = e + strlen(sep);
        line = nl + 1;
    }
    kb_buf_release(&b);
    free(inp);
    free(out);
    tok_vocab_free(v);
    return bad;
}

static void test_vocab_files(void **state)
{
    (void)state;
    if (!shared_present())
        skip();
    int bad = 0, n_cases = 0;
    for (size_t i = 0; i < KB_ARRAY_LEN(vocab_names); i++) {
        int before = n_cases;
        int b = check_vocab_file(vocab_names[i], &n_cases);
        printf("# %-15s %d/%d cases\n", vocab_names[i], n_cases - before - b, n_cases - before);
        bad += b;
    }
    /* baichuan has no test strings: it must at least load and round-trip simple text */
    struct tok_vocab *v = load_vocab(KBOX_SHARED_DIR "/vocab/ggml-vocab-baichuan.gguf");
    int32_t ids[64];
    size_t n = encode(v, "Hello world", 11, 0, ids, 64);
    struct kb_buf b;
    kb_buf_init(&b, 0);
    assert_true(n > 0);
    assert_int_equal(tok_decode(v, ids, n, 0, &b), 0);
    assert_string_equal(b.data, "Hello world");
    kb_buf_release(&b);
    tok_vocab_free(v);
    assert_int_equal(bad, 0);
    assert_true(n_cases >= 400);
}

/* ---- tokenizer_cases.json ---------------------------------------------------------------------- */

/* Decodes the JSON string literal starting at the quote *p into out; returns the char after it. */
static const char *json_str(const char *p, struct kb_buf *out)
{
    assert_int_equal(*p, '"');
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') {
            kb_buf_putc(out, *p);
            continue;
        }
        p++;
        switch (*p) {
        case 'n':
            kb_buf_putc(out, '\n');
            break;
        case 't':
            kb_buf_putc(out, '\t');
            break;
        case 'r':
            kb_buf_putc(out, '\r');
            break;
        case 'b':
            kb_buf_putc(out, '\b');
            break;
        case 'f':
            kb_buf_putc(out, '\f');
            break;
        case 'u': {
            char hex[5] = {p[1], p[2], p[3], p[4], 0};
            uint32_t cp = (uint32_t)strtoul(hex, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                char lo[5] = {p[3], p[4], p[5], p[6], 0};
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)strtoul(lo, NULL, 16) - 0xDC00);
                p += 6;
            }
            char u[4];
            kb_buf_append(out, u, (size_t)kb_utf8_encode(cp, u));
            break;
        }
        default:
            kb_buf_putc(out, *p);
            break;
        }
    }
    return p + 1;
}

static void test_conformance_cases(void **state)
{
    (void)state;
    size_t n;
    char *js = slurp(KBOX_SHARED_DIR "/conformance/tokenizer_cases.json", &n);
    if (!js)
        skip();
    struct kb_buf model, text;
    kb_buf_init(&model, 0);
    kb_buf_init(&text, 0);
    struct tok_vocab *v = NULL;
    char cur[256] = "";
    int n_cases = 0, bad = 0;
    for (const char *p = strstr(js, "\"model_file\""); p; p = strstr(p, "\"model_file\"")) {
        kb_buf_reset(&model);
        kb_buf_reset(&text);
        p = json_str(strchr(p + 12, '"'), &model);
        p = json_str(strchr(strstr(p, "\"text\"") + 6, '"'), &text);
        const char *as = strstr(p, "\"add_special\"") + 13;
        bool add = strstr(as, "true") && strstr(as, "true") < strchr(as, ',');
        const char *q = strchr(strstr(p, "\"ids\""), '[') + 1;
        int32_t want[512], got[512];
        size_t n_want = 0;
        while (*q && *q != ']') {
            char *end;
            long x = strtol(q, &end, 10);
            if (end == q) {
                q++;
                continue;
            }
            want[n_want++] = (int32_t)x;
            q = end;
        }
        p = q;
        if (strcmp(cur, model.data) != 0) {
            char path[512];
            tok_vocab_free(v);
            snprintf(path, sizeof path, KBOX_SHARED_DIR "/conformance/%s", model.data);
            v = load_vocab(path);
            kb_strlcpy(cur, model.data, sizeof cur);
        }
        size_t n_got = encode(v, text.data, text.len, add ? TOK_ADD_SPECIAL : 0, got, 512);
        if (n_got != n_want || memcmp(got, want, n_got * sizeof *got) != 0) {
            bad++;
            printf("# %s add_special=%d '%s': got %zu ids, want %zu\n", model.data, add, text.data, n_got,
                   n_want);
        }
        n_cases++;
    }
    printf("# tokenizer_cases.json: %d/%d\n", n_cases - bad, n_cases);
    tok_vocab_free(v);
    kb_buf_release(&model);
    kb_buf_release(&text);
    free(js);
    assert_int_equal(n_cases, 98);
    assert_int_equal(bad, 0);
}

/* ---- stories260K ------------------------------------------------------------------------------- */

static void test_stories(void **state)
{
    (void)state;
    size_t n;
    char *js = slurp(KBOX_SHARED_DIR "/conformance/stories260K.tokens.json", &n);
    struct stat st;
    if (!js || stat(KBOX_SHARED_DIR "/models/stories260K.gguf", &st) != 0) {
        free(js);
        skip();
    }
    struct tok_vocab *v = load_vocab(KBOX_SHARED_DIR "/models/stories260K.gguf");
    int32_t ids[128];
    size_t n_ids = encode(v, "Once upon a time", 16, TOK_ADD_SPECIAL, ids, 128);
    int32_t want[] = {1, 403, 407, 261, 378};
    assert_int_equal(n_ids, 5);
    assert_memory_equal(ids, want, sizeof want);

    /* the prompt (without BOS) and the greedy ids decode to greedy_text */
    const char *g = strchr(strstr(js, "\"greedy_ids\""), '[') + 1;
    while (*g && *g != ']') {
        char *end;
        long x = strtol(g, &end, 10);
        if (end == g) {
            g++;
            continue;
        }
        ids[n_ids++] = (int32_t)x;
        g = end;
    }
    assert_int_equal(n_ids, 5 + 64);
    struct kb_buf want_text, got;
    kb_buf_init(&want_text, 0);
    kb_buf_init(&got, 0);
    json_str(strchr(strstr(js, "\"greedy_text\"") + 13, '"'), &want_text);
    assert_int_equal(tok_decode(v, ids + 1, n_ids - 1, 0, &got), 0);
    assert_string_equal(got.data, want_text.data);

    /* streaming gives the same text: prompt text, then the pieces of the generated ids */
    struct tok_stream ts;
    char buf[256];
    kb_buf_reset(&got);
    kb_buf_puts(&got, "Once upon a time");
    tok_stream_init(&ts, v, 0);
    assert_true(tok_stream_max_bytes(v) <= sizeof buf);
    for (size_t i = 5; i < n_ids; i++)
        kb_buf_append(&got, buf, tok_stream_feed(&ts, ids[i], buf, sizeof buf));
    kb_buf_append(&got, buf, tok_stream_flush(&ts, buf, sizeof buf));
    assert_string_equal(got.data, want_text.data);
    assert_true(tok_is_eog(v, 2));
    assert_int_equal(tok_nl(v), 13);
    kb_buf_release(&want_text);
    kb_buf_release(&got);
    tok_vocab_free(v);
    free(js);
}

/* ---- special tokens and streaming ----------------------------------------------------------------- */

static void test_special_and_stream(void **state)
{
    (void)state;
    if (!shared_present())
        skip();
    struct tok_vocab *v = load_vocab(KBOX_SHARED_DIR "/conformance/qwen2_f32.gguf");
    int32_t ids[256];
    int32_t im_start = tok_find(v, "<|im_start|>", 12), im_end = tok_find(v, "<|im_end|>", 10);
    assert_true(im_start >= 0 && im_end >= 0);
    assert_true(tok_is_eog(v, im_end));
    assert_int_equal(tok_eot(v), im_end);
    const char *t = "<|im_start|>user\nhi<|im_end|>";
    size_t n = encode(v, t, strlen(t), TOK_PARSE_SPECIAL, ids, 256);
    assert_int_equal(ids[0], im_start);
    assert_int_equal(ids[n - 1], im_end);
    n = encode(v, t, strlen(t), 0, ids, 256);
    for (size_t i = 0; i < n; i++)
        assert_true(ids[i] != im_start && ids[i] != im_end);
    struct kb_buf b;
    kb_buf_init(&b, 0);
    assert_int_equal(tok_decode(v, ids, n, 0, &b), 0);
    assert_string_equal(b.data, t);
    tok_vocab_free(v);

    /* byte fallback splits CJK and emoji across tokens: the stream never cuts a character */
    v = load_vocab(KBOX_SHARED_DIR "/vocab/ggml-vocab-llama-spm.gguf");
    t = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80\xf0\x9f\xa6\x99!";
    n = encode(v, t, strlen(t), 0, ids, 256);
    int n_bytes = 0;
    for (size_t i = 0; i < n; i++)
        n_bytes += (tok_attr(v, ids[i]) & TOK_ATTR_BYTE) != 0;
    assert_true(n_bytes >= 4);
    struct tok_stream ts;
    char buf[512];
    kb_buf_reset(&b);
    tok_stream_init(&ts, v, TOK_STRIP_LEADING);
    for (size_t i = 0; i < n; i++) {
        size_t k = tok_stream_feed(&ts, ids[i], buf, sizeof buf);
        assert_true(kb_utf8_valid(buf, k));
        kb_buf_append(&b, buf, k);
    }
    assert_int_equal(tok_stream_flush(&ts, buf, sizeof buf), 0);
    assert_string_equal(b.data, t);
    /* an incomplete sequence at the end comes out on flush */
    tok_stream_init(&ts, v, 0);
    int32_t e6 = tok_find(v, "<0xE6>", 6);
    assert_true(e6 >= 0);
    assert_int_equal(tok_stream_feed(&ts, e6, buf, sizeof buf), 0);
    assert_int_equal(tok_stream_flush(&ts, buf, sizeof buf), 1);
    assert_int_equal((uint8_t)buf[0], 0xE6);
    kb_buf_release(&b);
    tok_vocab_free(v);
}

/* ---- malformed GGUF tokenizer metadata ------------------------------------------------------------ */

/* A GGUF v3 file with no tensors, assembled key by key in a kb_buf. */
struct gw {
    struct kb_buf b;
    uint64_t n_kv;
};

static void gw_u32(struct gw *g, uint32_t v)
{
    kb_buf_append(&g->b, &v, 4); /* the machine is little-endian like the format */
}

static void gw_u64(struct gw *g, uint64_t v)
{
    kb_buf_append(&g->b, &v, 8);
}

static void gw_str(struct gw *g, const char *s)
{
    gw_u64(g, strlen(s));
    kb_buf_append(&g->b, s, strlen(s));
}

static void gw_key(struct gw *g, const char *key, uint32_t type)
{
    gw_str(g, key);
    gw_u32(g, type);
    g->n_kv++;
}

static void gw_kv_str(struct gw *g, const char *key, const char *val)
{
    gw_key(g, key, GGUF_VT_STRING);
    gw_str(g, val);
}

static void gw_kv_strs(struct gw *g, const char *key, const char *const *v, int n)
{
    gw_key(g, key, GGUF_VT_ARRAY);
    gw_u32(g, GGUF_VT_STRING);
    gw_u64(g, (uint64_t)n);
    for (int i = 0; i < n; i++)
        gw_str(g, v[i]);
}

static void gw_kv_arr32(struct gw *g, const char *key, uint32_t type, const void *v, int n)
{
    gw_key(g, key, GGUF_VT_ARRAY);
    gw_u32(g, type);
    gw_u64(g, (uint64_t)n);
    kb_buf_append(&g->b, v, 4 * (size_t)n);
}

static void gw_kv_u32(struct gw *g, const char *key, uint32_t v)
{
    gw_key(g, key, GGUF_VT_U32);
    gw_u32(g, v);
}

/* Builds the file from g's key/values and tries to make a vocabulary of it. */
static int gw_load(struct gw *g, struct tok_vocab **v, struct kb_error *err)
{
    struct kb_buf f;
    struct gguf_file *gf = NULL;
    kb_buf_init(&f, 0);
    kb_buf_append(&f, "GGUF", 4);
    uint32_t ver = 3;
    uint64_t zero = 0;
    kb_buf_append(&f, &ver, 4);
    kb_buf_append(&f, &zero, 8);
    kb_buf_append(&f, &g->n_kv, 8);
    kb_buf_append(&f, g->b.data, g->b.len);
    for (int i = 0; i < 64; i++)
        kb_buf_putc(&f, 0); /* alignment padding */
    int rc = gguf_open_memory(&gf, f.data, f.len, err);
    assert_int_equal(rc, 0);
    rc = tok_vocab_new(v, gf, err);
    gguf_close(gf);
    kb_buf_release(&f);
    kb_buf_release(&g->b);
    return rc;
}

/* gpt-4o's pre-tokenizer (gpt-oss): fragment lengths in code points. The expected splits come from
 * the regex llama.cpp d32676d77 runs for it, evaluated the way llama.cpp does (on the collapsed
 * text: every non-ASCII code point replaced by its category, so "a letter that is not a-z" holds
 * upper-case ASCII and every non-ASCII letter) by a separate regex engine when the cases were made:
 * case-split words, contractions in either case, 3-digit groups, punctuation runs keeping a
 * trailing '/' or newline, whitespace runs. */
static void test_pre_gpt4o(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"Hello World", "5,6"},
        {"HelloWorld's", "5,7"},
        {"HELLOworld", "10"},
        {"helloWORLD", "5,5"},
        {"I'm fine, you're NOT'S here", "3,5,1,7,6,5"},
        {"can't don'T we'LL", "5,6,6"},
        {"12345 6789", "3,2,1,3,1"},
        {"a/b//c\x0a""\x0a""/x", "1,2,2,1,2,2"},
        {"  leading", "1,8"},
        {"trailing   ", "8,3"},
        {"tab\x09""sep\x0a""\x0a""new", "3,4,2,3"},
        {"na\xc3""\xaf""ve caf\xc3""\xa9", "5,5"},
        {"\xc3""\x80""BC d\xc3""\xa9""f", "1,2,4"},
        {"Stra\xc3""\x9f""e", "6"},
        {"\xe6""\x97""\xa5""\xe6""\x9c""\xac""\xe8""\xaa""\x9e""\xe3""\x83""\x86""\xe3""\x82""\xad""\xe3""\x82""\xb9""\xe3""\x83""\x88", "7"},
        {"x = y + z;", "1,2,2,2,2,1"},
        {"path/to/file.txt\x0d""\x0a", "4,3,5,4,2"},
        {"emoji \xf0""\x9f""\x98""\x80"" ok", "5,2,3"},
        {"MixedCASEWords andStuff", "5,9,4,5"},
        {" ?!", "3"},
        {"'s alone", "2,6"},
        {"ABC'S", "5"},
        {"d\xc3""\xa9""j\xc3""\xa0""-vu", "4,3"},
        {"$100.00 (USD)", "1,3,1,2,2,3,1"},
        {"  \x0a""  x", "3,1,2"},
        {"a\xcc""\x81""b", "1,2"},
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        const char *t = cases[c].text;
        size_t n = strlen(t), n_cp = 0;
        uint32_t cps[128], lens[128], units[128], tmp[128];
        uint8_t cats[128];
        for (size_t i = 0; i < n;)
            i += (size_t)kb_utf8_decode_lenient(t + i, n - i, &cps[n_cp++]);
        size_t nf = tok_pre_split(PRE_GPT4O, cps, n_cp, lens, cats, units, tmp);
        char got[256];
        size_t g = 0;
        for (size_t f = 0; f < nf; f++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%u", f ? "," : "", lens[f]);
        if (strcmp(got, cases[c].want) != 0)
            fail_msg("gpt-4o case %zu (%s): fragments %s, want %s", c, t, got, cases[c].want);
    }
}

static void test_gguf_malformed(void **state)
{
    (void)state;
    static const char *const toks[] = {"<unk>", "", "</s>",
                                       "\xe2\x96\x81"
                                       "a",
                                       "a"};
    static const float scores[] = {0, 0, 0, -1, -2};
    static const int32_t types[] = {2, 3, 3, 1, 1};
    static const float bad_types[] = {1, 1, 1, 1, 1};
    struct kb_error err = {0};
    struct tok_vocab *v = NULL;
    struct gw g = {0};
    static const struct {
        const char *model;
        int with_scores; /* 0 none, 1 full, 2 too short */
        int with_types;  /* 0 none, 1 I32, 2 F32 */
        int tokens_as_i32;
        int want;
    } cases[] = {
        {"llama", 1, 1, 0, 0},           {"llama", 0, 0, 0, 0},
        {"t5", 1, 1, 0, KB_EFORMAT},     {"gpt2", 0, 0, 0, KB_ECORRUPT}, /* no merges */
        {"llama", 2, 1, 0, KB_ECORRUPT}, {"llama", 1, 2, 0, KB_ECORRUPT},
        {"llama", 1, 1, 1, KB_ECORRUPT}, {"none", 1, 1, 0, KB_ENOENT},
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        memset(&g, 0, sizeof g);
        kb_buf_init(&g.b, 0);
        gw_kv_str(&g, "tokenizer.ggml.model", cases[c].model);
        if (cases[c].tokens_as_i32)
            gw_kv_arr32(&g, "tokenizer.ggml.tokens", GGUF_VT_I32, types, 5);
        else
            gw_kv_strs(&g, "tokenizer.ggml.tokens", toks, 5);
        if (cases[c].with_scores)
            gw_kv_arr32(&g, "tokenizer.ggml.scores", GGUF_VT_F32, scores, cases[c].with_scores == 1 ? 5 : 3);
        if (cases[c].with_types == 1)
            gw_kv_arr32(&g, "tokenizer.ggml.token_type", GGUF_VT_I32, types, 5);
        else if (cases[c].with_types == 2)
            gw_kv_arr32(&g, "tokenizer.ggml.token_type", GGUF_VT_F32, bad_types, 5);
        gw_kv_u32(&g, "tokenizer.ggml.bos_token_id", 99); /* out of range: ignored */
        int rc = gw_load(&g, &v, &err);
        if (rc != cases[c].want)
            fail_msg("case %zu: rc %d (%s), want %d", c, rc, err.msg, cases[c].want);
        if (rc == 0) {
            size_t n;
            assert_int_equal(tok_bos(v), 1); /* the SentencePiece default */
            assert_string_equal(tok_text(v, 1, &n), "[EMPTY_1]");
            int32_t ids[8];
            assert_int_equal(encode(v, "a", 1, 0, ids, 8), 1);
            assert_int_equal(ids[0], 3);
            tok_vocab_free(v);
        } else {
            assert_null(v);
            assert_true(err.msg[0] != 0);
        }
    }
}

static void test_gguf_errors(void **state)
{
    (void)state;
    /* a model file without tokenizer keys is not a tokenizer: ENOENT */
    struct gguf_file *f = NULL;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    static const uint8_t empty_gguf[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0,
                                         0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(gguf_open_memory(&f, empty_gguf, sizeof empty_gguf, &err), 0);
    assert_int_equal(tok_vocab_new(&v, f, &err), KB_ENOENT);
    assert_null(v);
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicode),     cmocka_unit_test(test_spm_small),
        cmocka_unit_test(test_bpe_small),   cmocka_unit_test(test_wpm_small),
        cmocka_unit_test(test_vocab_files), cmocka_unit_test(test_conformance_cases),
        cmocka_unit_test(test_stories),     cmocka_unit_test(test_special_and_stream),
        cmocka_unit_test(test_gguf_errors), cmocka_unit_test(test_gguf_malformed),
        cmocka_unit_test(test_pre_gpt4o),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
