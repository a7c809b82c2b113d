/* infer/tok_gguf.c: a vocabulary from a GGUF file's tokenizer.ggml.* keys. It reads tokens, scores,
 * token types, merges, special ids and the add_* and normalizer switches into a tok_spec (borrowing the
 * strings from the mapping, converting the little-endian scores and types into arrays of its own)
 * and hands that to tok_vocab_new_spec (tok_vocab.c).
 *
 * Every count and type is checked against the file before use: a missing or mistyped key is
 * KB_ECORRUPT naming the key, a special id out of range is ignored with a warning (-1 and its u32
 * form mean "none"), and a file with no tokenizer or tokenizer.ggml.model "none" is KB_ENOENT.
 * Tests: tests/infer/test_tok.c (test_gguf_errors, test_gguf_malformed, the ../shared vocabularies). */
#include "infer/tok_int.h"

#include <stdlib.h>
#include <string.h>

#include "infer/gguf.h"

static int gguf_strings(const struct gguf_file *f, const char *key, int32_t n, const char ***texts,
                        uint32_t **lens, struct kb_error *err)
{
    *texts = kb_try_malloc((size_t)n, sizeof **texts);
    *lens = kb_try_malloc((size_t)n, sizeof **lens);
    if (!*texts || !*lens)
        return kb_error_set(err, KB_ENOMEM, "out of memory reading %s", key);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!gguf_arr_str(f, key, (uint64_t)i, &s, &len) || len > UINT32_MAX)
            return kb_error_set(err, KB_ECORRUPT, "%s[%d] is not a string", key, (int)i);
        (*texts)[i] = s;
        (*lens)[i] = (uint32_t)len;
    }
    return 0;
}

static uint32_t rd_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static char *gguf_strdup(const struct gguf_file *f, const char *key)
{
    const char *s;
    size_t n;
    if (!gguf_get_str(f, key, &s, &n))
        return NULL;
    return kb_xstrndup(s, KB_MIN(n, (size_t)4096));
}

int tok_vocab_new(struct tok_vocab **out, const struct gguf_file *f, struct kb_error *err)
{
    static const char *const id_keys[TOK_N_SPECIAL] = {
        "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",     "tokenizer.ggml.eom_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id"};
    struct tok_spec s;
    char *model = NULL, *pre = NULL, *name = NULL;
    const char **texts = NULL, **merges = NULL;
    uint32_t *lens = NULL, *merge_lens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    enum gguf_vtype at;
    uint64_t n;
    const void *data;
    int rc;
    bool b;

    *out = NULL;
    tok_spec_init(&s);
    model = gguf_strdup(f, "tokenizer.ggml.model");
    if (!model || strcmp(model, "none") == 0 || strcmp(model, "no_vocab") == 0) {
        rc = kb_error_set(err, KB_ENOENT, "the file has no tokenizer");
        goto out_free;
    }
    pre = gguf_strdup(f, "tokenizer.ggml.pre");
    name = gguf_strdup(f, "general.name");
    s.model = model;
    s.pre = pre;
    s.name = name;
    if (!gguf_get_arr(f, "tokenizer.ggml.tokens", &at, &n, &data) || at != GGUF_VT_STRING || n == 0 ||
        n > TOK_MAX_TOKENS) {
        rc = kb_error_set(err, KB_ECORRUPT, "tokenizer.ggml.tokens is missing or not a list of strings");
        goto out_free;
    }
    s.n_tokens = (int32_t)n;
    if ((rc = gguf_strings(f, "tokenizer.ggml.tokens", s.n_tokens, &texts, &lens, err)) != 0)
        goto out_free;
    s.texts = texts;
    s.text_lens = lens;
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &at, &n, &data)) {
        if ((at != GGUF_VT_F32 && at != GGUF_VT_I32) || n < (uint64_t)s.n_tokens) {
            rc = kb_error_set(err, KB_ECORRUPT, "tokenizer.ggml.scores has the wrong type or length");
            goto out_free;
        }
        scores = kb_try_malloc((size_t)s.n_tokens, sizeof *scores);
        if (!scores) {
            rc = kb_error_set(err, KB_ENOMEM, "out of memory reading scores");
            goto out_free;
        }
        for (int32_t i = 0; i < s.n_tokens; i++) {
            uint32_t u = rd_u32le((const uint8_t *)data + 4 * (size_t)i);
            if (at == GGUF_VT_F32)
                memcpy(&scores[i], &u, 4);
            else
                scores[i] = (float)(int32_t)u;
        }
        s.scores = scores;
    }
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &at, &n, &data)) {
        if (at != GGUF_VT_I32 || n < (uint64_t)s.n_tokens) {
            rc = kb_error_set(err, KB_ECORRUPT, "tokenizer.ggml.token_type has the wrong type or length");
            goto out_free;
        }
        types = kb_try_malloc((size_t)s.n_tokens, sizeof *types);
        if (!types) {
            rc = kb_error_set(err, KB_ENOMEM, "out of memory reading token types");
            goto out_free;
        }
        for (int32_t i = 0; i < s.n_tokens; i++)
            types[i] = (int32_t)rd_u32le((const uint8_t *)data + 4 * (size_t)i);
        s.types = types;
    }
    if (strcmp(model, "gpt2") == 0) {
        if (!gguf_get_arr(f, "tokenizer.ggml.merges", &at, &n, &data) || at != GGUF_VT_STRING ||
            n > TOK_MAX_TOKENS) {
            rc = kb_error_set(err, KB_ECORRUPT, "tokenizer.ggml.merges is missing or not a list of strings");
            goto out_free;
        }
        s.n_merges = (int32_t)n;
        if (n && (rc = gguf_strings(f, "tokenizer.ggml.merges", s.n_merges, &merges, &merge_lens, err)) != 0)
            goto out_free;
        s.merges = merges;
        s.merge_lens = merge_lens;
    }
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        int64_t id;
        if (gguf_get_i64(f, id_keys[i], &id)) {
            if (id >= 0 && id < s.n_tokens)
                s.ids[i] = (int32_t)id;
            else if (id != -1 && id != 0xFFFFFFFFll) /* -1 as u32 is a common way to say "none" */
                kb_warn("tokenizer: %s = %lld is out of range; ignored", id_keys[i], (long long)id);
        }
    }
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b))
        s.add_bos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b))
        s.add_eos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_sep_token", &b))
        s.add_sep = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b))
        s.add_space_prefix = b;
    if (gguf_get_bool(f, "tokenizer.ggml.normalizer.lowercase", &b))
        s.lowercase = b;
    if (gguf_get_bool(f, "tokenizer.ggml.normalizer.strip_accents", &b))
        s.strip_accents = b;
    rc = tok_vocab_new_spec(out, &s, err);

out_free:
    free(model);
    free(pre);
    free(name);
    free(texts);
    free(lens);
    free(merges);
    free(merge_lens);
    free(scores);
    free(types);
    return rc;
}
