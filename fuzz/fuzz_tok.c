/* fuzz/fuzz_tok.c: the tokenizers on arbitrary bytes. Three small vocabularies built once from
 * tok_spec (SentencePiece with byte fallback, byte-level BPE with merges and a control token,
 * WordPiece) encode the input with every flag combination and every pre-tokenizer, decode it back
 * and stream it; byte-level BPE must give the input back exactly when it is valid UTF-8 (and
 * no special token text occurs in it). Any crash, sanitizer report or assertion is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/tok.h"

static struct tok_vocab *spm, *bpe[9], *wpm;

static const char *const bpe_pres[9] = {"default",     "gpt-2",        "llama-bpe",
                                        "qwen2",       "deepseek-llm", "deepseek-coder",
                                        "deepseek-v3", "falcon",       "starcoder"};

static void build(void)
{
    static char bytes[256][7];
    static const char *spm_t[300];
    static float spm_s[300];
    static int32_t spm_ty[300];
    struct tok_spec s;
    int n = 0;
    spm_t[n] = "<unk>", spm_ty[n++] = 2;
    spm_t[n] = "<s>", spm_ty[n++] = 3;
    spm_t[n] = "</s>", spm_ty[n++] = 3;
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char *p = bytes[b];
        p[0] = '<', p[1] = '0', p[2] = 'x', p[3] = hex[b >> 4], p[4] = hex[b & 15], p[5] = '>', p[6] = 0;
        spm_t[n] = p, spm_ty[n++] = 6;
    }
    static const char *const words[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "a", "e"};
    for (size_t i = 0; i < KB_ARRAY_LEN(words); i++)
        spm_t[n] = words[i], spm_s[n] = -(float)i, spm_ty[n++] = 1;
    tok_spec_init(&s);
    s.model = "llama";
    s.n_tokens = n;
    s.texts = spm_t;
    s.scores = spm_s;
    s.types = spm_ty;
    if (tok_vocab_new_spec(&spm, &s, NULL) != 0)
        abort();

    /* byte-level BPE: the 256 byte characters, a few merges, a control token */
    static char bchars[256][4];
    static const char *bpe_t[300];
    static int32_t bpe_ty[300];
    static const char *const merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n", "\xc4\xa0 \xc4\xa0"};
    n = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE) ? (uint32_t)b : 0;
        if (!cp) {
            int k = 0;
            for (int c = 0; c < b; c++)
                k += !((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE));
            cp = 256 + (uint32_t)k;
        }
        int len = kb_utf8_encode(cp, bchars[b]);
        bchars[b][len] = 0;
        bpe_t[n] = bchars[b], bpe_ty[n++] = 1;
    }
    static const char *const more[] = {"\xc4\xa0t", "he", "\xc4\xa0the", "in", "\xc4\xa0\xc4\xa0"};
    for (size_t i = 0; i < KB_ARRAY_LEN(more); i++)
        bpe_t[n] = more[i], bpe_ty[n++] = 1;
    bpe_t[n] = "<|end|>", bpe_ty[n++] = 3;
    for (int p = 0; p < 9; p++) {
        tok_spec_init(&s);
        s.model = "gpt2";
        s.pre = bpe_pres[p];
        s.n_tokens = n;
        s.texts = bpe_t;
        s.types = bpe_ty;
        s.n_merges = (int32_t)KB_ARRAY_LEN(merges);
        s.merges = merges;
        s.ids[TOK_BOS] = s.ids[TOK_EOS] = n - 1;
        if (tok_vocab_new_spec(&bpe[p], &s, NULL) != 0)
            abort();
    }

    static const char *const wt[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xe2\x96\x81the", "\xe2\x96\x81\x61", "b", "c"};
    static const int32_t wty[] = {3, 3, 3, 3, 1, 1, 1, 1};
    tok_spec_init(&s);
    s.model = "bert";
    s.n_tokens = 8;
    s.texts = wt;
    s.types = wty;
    s.ids[TOK_BOS] = 2, s.ids[TOK_SEP] = 3, s.ids[TOK_UNK] = 1, s.ids[TOK_PAD] = 0;
    if (tok_vocab_new_spec(&wpm, &s, NULL) != 0)
        abort();
}

static void run(const struct tok_vocab *v, const uint8_t *data, size_t size, unsigned flags, bool roundtrip)
{
    int32_t *ids = NULL;
    size_t n = 0;
    struct kb_buf b;
    if (tok_encode_alloc(v, (const char *)data, size, flags, &ids, &n, NULL) != 0)
        return;
    kb_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tok_n_tokens(v))
            abort();
    if (tok_decode(v, ids, n, TOK_RENDER_SPECIAL, &b) != 0)
        abort();
    if (roundtrip) {
        /* raw pieces (no clean-up of spaces) must give the input back */
        kb_buf_reset(&b);
        for (size_t i = 0; i < n; i++) {
            const char *p;
            size_t len = tok_piece(v, ids[i], true, &p);
            kb_buf_append(&b, p, len);
        }
        if (b.len != size || (size && memcmp(b.data, data, size) != 0))
            abort();
    }
    struct tok_stream st;
    char out[64];
    size_t total = 0;
    if (tok_stream_max_bytes(v) > sizeof out)
        abort();
    tok_stream_init(&st, v, TOK_RENDER_SPECIAL);
    for (size_t i = 0; i < n; i++)
        total += tok_stream_feed(&st, ids[i], out, sizeof out);
    total += tok_stream_flush(&st, out, sizeof out);
    (void)total;
    kb_buf_release(&b);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!spm)
        build();
    if (size > 4096)
        return 0;
    bool valid = kb_utf8_valid((const char *)data, size) && !memchr(data, '<', size);
    for (unsigned flags = 0; flags < 4; flags++) {
        run(spm, data, size, flags, false);
        run(wpm, data, size, flags, false);
    }
    for (int p = 0; p < 9; p++)
        run(bpe[p], data, size, p == 0 ? TOK_PARSE_SPECIAL : 0, valid);
    return 0;
}
