/* infer/tok_special.c: what a vocabulary decides about its tokens beyond their texts, following
 * llama.cpp's llama-vocab.cpp rule for rule (the goal is the reference implementation's ids):
 *   - per-type defaults (tok_set_defaults): default special ids (SentencePiece 1/2/0, WordPiece
 *     101/102/100, BPE 11), BOS/SEP/space-prefix switches, and for byte-level BPE the pre-tokenizer
 *     and its flags chosen by tokenizer.ggml.pre from the table below;
 *   - special tokens (tok_find_specials): end-of-turn, end-of-generation and FIM tokens recognised
 *     by their text and forced to CONTROL (that changes how text containing them is split), the
 *     "unused" control tokens, gpt-oss's always-rendered ones, the cache of CONTROL/USER_DEFINED/
 *     UNKNOWN ids longest text first (a stable merge sort, so the order is deterministic) that
 *     tok_encode cuts text with, and phi-3's right-stripping special tokens.
 *
 * Data flow: tok_vocab_new_spec (tok_vocab.c) calls tok_set_defaults before it reads the spec's own
 * values and tok_find_specials once the texts and the lookup table are built. Both run during
 * construction only; a finished vocabulary is immutable. Tests: tests/infer/test_tok.c. */
#include "infer/tok_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- per-type defaults and the pre-tokenizer table ---------------------------------------------- */

struct pre_name {
    const char *name;
    enum tok_pre pre;
    uint8_t flags; /* 1: ignore_merges + add_bos, 2: clean_spaces off, 4: no BOS */
};
static const struct pre_name pre_names[] = {
    {"default", PRE_DEFAULT, 0},
    {"llama3", PRE_LLAMA3, 1},
    {"llama-v3", PRE_LLAMA3, 1},
    {"llama-bpe", PRE_LLAMA3, 1},
    {"falcon3", PRE_LLAMA3, 1},
    {"falcon-h1", PRE_LLAMA3, 1},
    {"pixtral", PRE_LLAMA3, 1},
    {"midm-2.0", PRE_LLAMA3, 1},
    {"lfm2", PRE_LLAMA3, 1},
    {"dbrx", PRE_LLAMA3, 0},
    {"smaug-bpe", PRE_LLAMA3, 0},
    {"glm4", PRE_LLAMA3, 4},
    {"chatglm-bpe", PRE_LLAMA3, 4},
    {"deepseek-llm", PRE_DEEPSEEK_LLM, 2},
    {"deepseek-coder", PRE_DEEPSEEK_CODER, 2},
    {"deepseek-v3", PRE_DEEPSEEK3, 2},
    {"hunyuan-dense", PRE_DEEPSEEK3, 2},
    {"joyai-llm", PRE_DEEPSEEK3, 2},
    {"falcon", PRE_FALCON, 0},
    {"gpt-2", PRE_GPT2, 0},
    {"mpt", PRE_GPT2, 0},
    {"olmo", PRE_GPT2, 0},
    {"phi-2", PRE_GPT2, 0},
    {"jina-es", PRE_GPT2, 0},
    {"jina-de", PRE_GPT2, 0},
    {"gigachat", PRE_GPT2, 0},
    {"jina-v2-es", PRE_GPT2, 0},
    {"jina-v2-de", PRE_GPT2, 0},
    {"a.x-4.0", PRE_GPT2, 0},
    {"mellum", PRE_GPT2, 0},
    {"modern-bert", PRE_GPT2, 0},
    {"jais", PRE_GPT2, 0},
    {"exaone4", PRE_GPT2, 0},
    {"trillion", PRE_GPT2, 2},
    {"granite-docling", PRE_GPT2, 2},
    {"starcoder", PRE_STARCODER, 0},
    {"refact", PRE_STARCODER, 0},
    {"command-r", PRE_STARCODER, 2},
    {"smollm", PRE_STARCODER, 2},
    {"codeshell", PRE_STARCODER, 0},
    {"exaone", PRE_STARCODER, 0},
    {"minerva-7b", PRE_STARCODER, 0},
    {"gpt-4o", PRE_GPT4O, 2},
    {"llama4", PRE_GPT4O, 2},
    {"qwen2", PRE_QWEN2, 2},
    {"deepseek-r1-qwen", PRE_QWEN2, 2},
    {"kormo", PRE_QWEN2, 2},
    {"f2llmv2", PRE_QWEN2, 2},
    {"stablelm2", PRE_QWEN2, 0},
    {"hunyuan", PRE_QWEN2, 2},
    {"megrez", PRE_QWEN2, 0},
    {"solar-open", PRE_QWEN2, 2},
};

void tok_set_defaults(struct tok_vocab *v, const struct tok_spec *s)
{
    for (int i = 0; i < TOK_N_SPECIAL; i++)
        v->special[i] = TOK_NULL;
    v->lowercase = s->lowercase != 0;
    v->strip_accents = s->strip_accents < 0 ? v->lowercase : s->strip_accents != 0;
    switch (v->kind) {
    case TOK_KIND_SPM:
        v->special[TOK_BOS] = 1;
        v->special[TOK_EOS] = 2;
        v->special[TOK_UNK] = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
        kb_strlcpy(v->pre_name, "default", sizeof v->pre_name);
        break;
    case TOK_KIND_WPM:
        v->special[TOK_BOS] = 101;
        v->special[TOK_UNK] = 100;
        v->special[TOK_SEP] = 102;
        v->special[TOK_PAD] = 0;
        v->special[TOK_MASK] = 103;
        v->add_bos = v->add_sep = true;
        v->clean_spaces = true;
        kb_strlcpy(v->pre_name, "default", sizeof v->pre_name);
        break;
    case TOK_KIND_BPE: {
        const char *pre = s->pre && s->pre[0] ? s->pre : NULL;
        v->special[TOK_BOS] = v->special[TOK_EOS] = 11;
        v->clean_spaces = true;
        v->pre = PRE_DEFAULT;
        kb_strlcpy(v->pre_name, "default", sizeof v->pre_name);
        if (!pre) {
            kb_warn("tokenizer: no tokenizer.ggml.pre; using the default pre-tokenizer");
            break;
        }
        size_t k = 0;
        while (k < KB_ARRAY_LEN(pre_names) && strcmp(pre_names[k].name, pre) != 0)
            k++;
        if (k == KB_ARRAY_LEN(pre_names)) {
            kb_warn("tokenizer: unknown pre-tokenizer '%s'; using the default one", pre);
            break;
        }
        v->pre = pre_names[k].pre;
        kb_strlcpy(v->pre_name, pre, sizeof v->pre_name);
        if (pre_names[k].flags & 1)
            v->ignore_merges = v->add_bos = true;
        if (pre_names[k].flags & 2)
            v->clean_spaces = false;
        if (pre_names[k].flags & 4)
            v->special[TOK_BOS] = TOK_NULL;
        break;
    }
    }
    if (s->add_space_prefix >= 0)
        v->add_space_prefix = s->add_space_prefix != 0;
}

/* ---- special tokens ------------------------------------------------------------------------------ */

/* The first of names (in their priority order) that is in the vocabulary. llama.cpp takes whichever
 * its hash map yields first; a fixed order keeps the choice deterministic. */
static int32_t find_first(const struct tok_vocab *v, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        int32_t id = tok_lookup(v, names[i], strlen(names[i]));
        if (id != TOK_NULL)
            return id;
    }
    return TOK_NULL;
}

static void force_control(struct tok_vocab *v, int32_t id)
{
    if (id != TOK_NULL)
        v->tok[id].attr |= TOK_ATTR_CONTROL;
}

/* llama.cpp recognises end-of-turn, FIM and end-of-generation tokens by their text and makes them
 * CONTROL; that changes how text containing them is split, so we do the same. */
static void detect_by_text(struct tok_vocab *v)
{
    static const char *const eot_names[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "<|end_of_text|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            "<end_of_utterance>",
                                            NULL};
    static const char *const eom_names[] = {"<|eom_id|>", NULL};
    static const char *const fim_pre[] = {"<|fim_prefix|>",
                                          "<fim-prefix>",
                                          "<fim_prefix>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81"
                                          "begin\xef\xbd\x9c>",
                                          "<PRE>",
                                          "\xe2\x96\x81<PRE>",
                                          "<|code_prefix|>",
                                          "<|prefix|>",
                                          NULL};
    static const char *const fim_suf[] = {"<|fim_suffix|>",
                                          "<fim-suffix>",
                                          "<fim_suffix>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                                          "<SUF>",
                                          "\xe2\x96\x81<SUF>",
                                          "<|code_suffix|>",
                                          "<|suffix|>",
                                          NULL};
    static const char *const fim_mid[] = {"<|fim_middle|>",
                                          "<fim-middle>",
                                          "<fim_middle>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81"
                                          "end\xef\xbd\x9c>",
                                          "<MID>",
                                          "\xe2\x96\x81<MID>",
                                          "<|code_middle|>",
                                          "<|middle|>",
                                          NULL};
    static const char *const fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
    static const char *const fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                          "<REPO>",       "<reponame>",    NULL};
    static const char *const fim_sep[] = {"<|file_sep|>", NULL};
    static const char *const eog_names[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<|return|>",
                                            "<|call|>",
                                            "<|flush|>",
                                            "<|calls|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "</s>",
                                            "<|eom_id|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "[EOS]",
                                            "<|end_of_text|>",
                                            "<end_of_utterance>",
                                            "<eos>",
                                            "<turn|>",
                                            "<|tool_response>",
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            "[e~[",
                                            NULL};
    static const char *const *const fims[] = {fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep};
    int32_t id;

    if (v->special[TOK_EOT] == TOK_NULL && (id = find_first(v, eot_names)) != TOK_NULL) {
        v->special[TOK_EOT] = id;
        force_control(v, id);
    }
    if (v->special[TOK_EOM] == TOK_NULL && (id = find_first(v, eom_names)) != TOK_NULL) {
        v->special[TOK_EOM] = id;
        force_control(v, id);
    }
    for (size_t f = 0; f < KB_ARRAY_LEN(fims); f++) {
        id = find_first(v, fims[f]);
        force_control(v, id);
        if (f >= 3 && id != TOK_NULL) /* pad, repo, file separator end generation */
            v->eog[id] = 1;
    }
    /* control tokens named "unused" are unused */
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if ((v->tok[i].attr & TOK_ATTR_CONTROL) && strstr(v->blob + v->tok[i].off, "unused"))
            v->tok[i].attr |= TOK_ATTR_UNUSED;
    }
    for (int i = 0; eog_names[i]; i++) {
        id = tok_lookup(v, eog_names[i], strlen(eog_names[i]));
        if (id != TOK_NULL) {
            v->eog[id] = 1;
            force_control(v, id);
        }
    }
    /* gpt-oss: these are always rendered */
    static const char *const always[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (int i = 0; always[i]; i++) {
        id = tok_lookup(v, always[i], strlen(always[i]));
        if (id != TOK_NULL)
            v->tok[id].attr = TOK_ATTR_USER_DEFINED;
    }
    for (int s = TOK_EOS; s <= TOK_EOM; s++)
        if (v->special[s] != TOK_NULL)
            v->eog[v->special[s]] = 1;
}

static int cmp_special(const void *a, const void *b, void *ud)
{
    const struct tok_vocab *v = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->tok[x].len != v->tok[y].len)
        return v->tok[x].len > v->tok[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Insertion-free merge sort so the order is stable and deterministic (qsort is neither). */
static void sort_specials(struct tok_vocab *v, int32_t *tmp)
{
    int32_t *a = v->specials, n = v->n_specials;
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = KB_MIN(lo + w, n), hi = KB_MIN(lo + 2 * w, n), i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_special(&a[j], &a[i], v) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

static void contains_lower(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    out[i] = 0;
}

/* phi-3: every special token eats the whitespace after it, except these three. */
static void model_quirks(struct tok_vocab *v, const struct tok_spec *s)
{
    char name[128];
    contains_lower(s->name, name, sizeof name);
    if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (int32_t i = 0; i < v->n_specials; i++)
            v->tok[v->specials[i]].attr |= TOK_ATTR_RSTRIP;
        int32_t id = tok_lookup(v, "</s>", 4);
        if (id != TOK_NULL)
            v->tok[id].attr |= TOK_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t k = 0; k < KB_ARRAY_LEN(keep); k++)
            if ((id = tok_lookup(v, keep[k], strlen(keep[k]))) != TOK_NULL)
                v->tok[id].attr &= ~(uint32_t)TOK_ATTR_RSTRIP;
    }
}

int tok_find_specials(struct tok_vocab *v, const struct tok_spec *s, struct kb_error *err)
{
    int32_t *tmp = NULL;
    int rc = 0;
    detect_by_text(v);
    /* special-token cache, longest text first */
    v->specials = kb_try_malloc((size_t)v->n_tokens, sizeof *v->specials);
    tmp = kb_try_malloc((size_t)v->n_tokens, sizeof *tmp);
    if (!v->specials || !tmp) {
        rc = kb_error_set(err, KB_ENOMEM, "out of memory for special tokens");
        goto out_free;
    }
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tok[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            v->specials[v->n_specials++] = i;
    sort_specials(v, tmp);
    model_quirks(v, s);

out_free:
    free(tmp);
    return rc;
}
