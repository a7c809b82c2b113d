/* infer/tok.c: building a vocabulary (from GGUF keys or a tok_spec), cutting special tokens out of
 * text, dispatching fragments to the three algorithms, and decoding ids back to text.
 *
 * Data flow of tok_encode(): text -> fragments (raw text or a special token id; added tokens are
 * always cut out, control tokens only with TOK_PARSE_SPECIAL, longest token text first) -> each
 * raw fragment through tok_spm_encode / tok_bpe_encode / tok_wpm_encode -> ids, with BOS/EOS/SEP
 * around them as the vocabulary says. Every rule follows llama.cpp's llama-vocab.cpp, including
 * its quirks (per-type default special ids, end-of-generation and FIM tokens recognised by their
 * text and forced to CONTROL, phi-3's right-stripping special tokens), because the goal is the
 * reference implementation's ids.
 *
 * Invariants: a vocabulary is immutable after construction; encode allocates its scratch per call
 * (fragments, symbols), decode allocates nothing but what the caller's kb_buf grows. Sizes come
 * from the file, so allocations use kb_try_* and fail with KB_ENOMEM. Tests: tests/infer/test_tok.c. */
#include "infer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/gguf.h"

#define TOK_MAX_TOKENS (1 << 24) /* a sane bound on vocabulary size */

/* ---- hashing --------------------------------------------------------------------------------------- */

/* kb_idtab_eq_fn of the text table: token id's text is s[0..n). */
static bool text_eq(const void *ctx, int32_t id, const void *s, size_t n)
{
    const struct tok_vocab *v = ctx;
    const struct tok_entry *e = &v->tok[id];
    return e->len == n && memcmp(v->blob + e->off, s, n) == 0;
}

int32_t tok_lookup(const struct tok_vocab *v, const char *s, size_t n)
{
    int32_t id = kb_idtab_find(&v->text_ids, kb_fnv1a32(KB_FNV1A32_INIT, s, n), text_eq, v, s, n);
    return id < 0 ? TOK_NULL : id;
}

/* A merge's key: its two sides, hashed as the text "left right" without building it. */
struct merge_key {
    const char *l, *r;
    size_t nl, nr;
};

static uint32_t merge_hash(const struct merge_key *k)
{
    uint32_t h = kb_fnv1a32(KB_FNV1A32_INIT, k->l, k->nl);
    h = kb_fnv1a32(h, " ", 1);
    return kb_fnv1a32(h, k->r, k->nr);
}

/* kb_idtab_eq_fn of the merge table: merge rank is the pair key (key_len unused). */
static bool merge_eq(const void *ctx, int32_t rank, const void *key, size_t unused)
{
    const struct tok_vocab *v = ctx;
    const struct merge_key *k = key;
    const char *m = v->merge_blob + v->merge_off[rank];
    (void)unused;
    return v->merge_split[rank] == k->nl && v->merge_len[rank] == k->nl + 1 + k->nr &&
           memcmp(m, k->l, k->nl) == 0 && memcmp(m + k->nl + 1, k->r, k->nr) == 0;
}

int32_t tok_merge_rank(const struct tok_vocab *v, const char *l, size_t nl, const char *r, size_t nr)
{
    struct merge_key k = {l, r, nl, nr};
    return kb_idtab_find(&v->merge_ids, merge_hash(&k), merge_eq, v, &k, 0);
}

int32_t tok_byte_token(const struct tok_vocab *v, uint8_t b)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    int32_t id;
    if (v->kind == TOK_KIND_BPE) {
        char u[4];
        return tok_lookup(v, u, (size_t)kb_utf8_encode_lenient(tok_byte_to_cp(b), u));
    }
    id = tok_lookup(v, buf, sizeof buf);
    if (id == TOK_NULL)
        id = tok_lookup(v, (const char *)&b, 1);
    return id;
}

void tok_ids_push(struct tok_ids *a, int32_t id)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *p = kb_try_realloc(a->v, cap, sizeof *p);
        if (!p) {
            a->oom = true;
            return;
        }
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = id;
}

/* ---- construction ---------------------------------------------------------------------------------- */

void tok_spec_init(struct tok_spec *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < TOK_N_SPECIAL; i++)
        s->ids[i] = TOK_SPEC_DEFAULT;
    s->add_bos = s->add_eos = s->add_sep = s->add_space_prefix = -1;
    s->lowercase = s->strip_accents = -1;
}

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
    {"qwen2", PRE_QWEN2, 2},
    {"deepseek-r1-qwen", PRE_QWEN2, 2},
    {"kormo", PRE_QWEN2, 2},
    {"f2llmv2", PRE_QWEN2, 2},
    {"stablelm2", PRE_QWEN2, 0},
    {"hunyuan", PRE_QWEN2, 2},
    {"megrez", PRE_QWEN2, 0},
    {"solar-open", PRE_QWEN2, 2},
};

static size_t spec_len(const char *const *s, const uint32_t *lens, int32_t i)
{
    return lens ? lens[i] : strlen(s[i]);
}

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

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static size_t piece_of(const struct tok_vocab *v, int32_t id, char *out)
{
    const struct tok_entry *e = &v->tok[id];
    const char *t = v->blob + e->off;
    size_t n = 0;
    if (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        memcpy(out, t, e->len);
        return e->len;
    }
    if (e->attr & TOK_ATTR_NORMAL) {
        if (v->kind != TOK_KIND_BPE) { /* U+2581 -> ' ' */
            for (size_t i = 0; i < e->len;) {
                if (i + 3 <= e->len && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                    out[n++] = ' ';
                    i += 3;
                } else {
                    out[n++] = t[i++];
                }
            }
            return n;
        }
        for (size_t i = 0; i < e->len;) { /* byte-level: each code point is one byte */
            uint32_t cp;
            int k = tok_utf8_next((const uint8_t *)t + i, e->len - i, &cp);
            int b = tok_cp_to_byte(cp);
            if (b >= 0) {
                out[n++] = (char)b;
            } else {
                memcpy(out + n, t + i, (size_t)k);
                n += (size_t)k;
            }
            i += (size_t)k;
        }
        return n;
    }
    if ((e->attr & TOK_ATTR_BYTE) && e->len == 6 && memcmp(t, "<0x", 3) == 0) {
        int hi = hexval(t[3]), lo = hexval(t[4]);
        if (hi < 0 || lo < 0)
            return 0;
        out[0] = (char)(hi << 4 | lo);
        return 1;
    }
    return 0;
}

static int build_pieces(struct tok_vocab *v)
{
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        total += v->tok[i].len; /* a piece is never longer than its text */
    v->pieces = kb_try_malloc(total + 1, 1);
    v->piece_off = kb_try_malloc((size_t)v->n_tokens + 1, sizeof *v->piece_off);
    if (!v->pieces || !v->piece_off)
        return KB_ENOMEM;
    size_t off = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        v->piece_off[i] = (uint32_t)off;
        size_t n = piece_of(v, i, v->pieces + off);
        off += n;
        v->max_piece_len = KB_MAX(v->max_piece_len, n);
    }
    v->piece_off[v->n_tokens] = (uint32_t)off;
    return 0;
}

static int build_hash(struct tok_vocab *v, struct kb_error *err)
{
    if (kb_idtab_init(&v->text_ids, (size_t)v->n_tokens))
        return kb_error_set(err, KB_ENOMEM, "out of memory for a vocabulary of %d tokens", v->n_tokens);
    int n_dup = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const struct tok_entry *e = &v->tok[id];
        const char *s = v->blob + e->off;
        if (kb_idtab_add(&v->text_ids, kb_fnv1a32(KB_FNV1A32_INIT, s, e->len), id, text_eq, v, s, e->len) != id)
            n_dup++; /* keep the first id */
    }
    if (n_dup)
        kb_warn("tokenizer: %d duplicate token texts; the lowest id wins", n_dup);
    return 0;
}

static int build_merges(struct tok_vocab *v, const struct tok_spec *s, struct kb_error *err)
{
    size_t total = 0;
    int32_t n = s->n_merges;
    for (int32_t i = 0; i < n; i++)
        total += spec_len(s->merges, s->merge_lens, i) + 1;
    if (total > UINT32_MAX)
        return kb_error_set(err, KB_ETOOBIG, "tokenizer: %zu bytes of merges", total);
    v->merge_blob = kb_try_malloc(total + 1, 1);
    v->merge_off = kb_try_malloc((size_t)n + 1, sizeof *v->merge_off);
    v->merge_split = kb_try_malloc((size_t)n + 1, sizeof *v->merge_split);
    v->merge_len = kb_try_malloc((size_t)n + 1, sizeof *v->merge_len);
    if (!v->merge_blob || !v->merge_off || !v->merge_split || !v->merge_len || kb_idtab_init(&v->merge_ids, (size_t)n))
        return kb_error_set(err, KB_ENOMEM, "out of memory for %d merges", n);
    v->n_merges = n;
    size_t off = 0;
    for (int32_t r = 0; r < n; r++) {
        size_t len = spec_len(s->merges, s->merge_lens, r);
        const char *m = s->merges[r];
        const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        memcpy(v->merge_blob + off, m, len);
        v->merge_blob[off + len] = 0;
        v->merge_off[r] = (uint32_t)off;
        v->merge_len[r] = (uint32_t)len;
        v->merge_split[r] = sp ? (uint32_t)(sp - m) : 0;
        off += len + 1;
        if (!sp)
            continue; /* llama.cpp files it under ("", ""), which no lookup can reach */
        struct merge_key k = {m, sp + 1, (size_t)(sp - m), len - (size_t)(sp - m) - 1};
        kb_idtab_add(&v->merge_ids, merge_hash(&k), r, merge_eq, v, &k, 0); /* the first rank wins */
    }
    return 0;
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

static void set_defaults(struct tok_vocab *v, const struct tok_spec *s)
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

int tok_vocab_new_spec(struct tok_vocab **out, const struct tok_spec *s, struct kb_error *err)
{
    struct tok_vocab *v = NULL;
    int32_t *tmp = NULL;
    int rc = 0;
    *out = NULL;
    if (!s->model || s->n_tokens <= 0 || s->n_tokens > TOK_MAX_TOKENS || !s->texts)
        return kb_error_set(err, KB_ECORRUPT, "tokenizer: no tokens (or too many: %d)", s->n_tokens);
    v = kb_xcalloc(1, sizeof *v);
    if (strcmp(s->model, "llama") == 0) {
        v->kind = TOK_KIND_SPM;
    } else if (strcmp(s->model, "gpt2") == 0) {
        v->kind = TOK_KIND_BPE;
    } else if (strcmp(s->model, "bert") == 0) {
        v->kind = TOK_KIND_WPM;
    } else {
        rc = kb_error_set(err, KB_EFORMAT, "tokenizer model '%s' is not supported (llama, gpt2, bert are)",
                          s->model);
        goto out_free;
    }
    set_defaults(v, s);
    v->n_tokens = s->n_tokens;

    /* texts */
    size_t total = 0;
    for (int32_t i = 0; i < s->n_tokens; i++) {
        size_t len = spec_len(s->texts, s->text_lens, i);
        if (len > (1u << 20)) {
            rc = kb_error_set(err, KB_ECORRUPT, "tokenizer: token %d is %zu bytes long", i, len);
            goto out_free;
        }
        total += (len ? len : 24) + 1;
    }
    if (total > UINT32_MAX) {
        rc = kb_error_set(err, KB_ETOOBIG, "tokenizer: %zu bytes of token text", total);
        goto out_free;
    }
    v->blob = kb_try_malloc(total, 1);
    v->tok = kb_try_calloc((size_t)s->n_tokens, sizeof *v->tok);
    v->eog = kb_try_calloc((size_t)s->n_tokens, 1);
    if (!v->blob || !v->tok || !v->eog) {
        rc = kb_error_set(err, KB_ENOMEM, "out of memory for a vocabulary of %d tokens", s->n_tokens);
        goto out_free;
    }
    size_t off = 0;
    for (int32_t i = 0; i < s->n_tokens; i++) {
        size_t len = spec_len(s->texts, s->text_lens, i);
        struct tok_entry *e = &v->tok[i];
        e->off = (uint32_t)off;
        if (len == 0) /* as llama.cpp: an empty token gets a placeholder text */
            len = (size_t)snprintf(v->blob + off, 25, "[EMPTY_%d]", (int)i);
        else
            memcpy(v->blob + off, s->texts[i], len);
        v->blob[off + len] = 0;
        e->len = (uint32_t)len;
        off += len + 1;
        e->score = s->scores ? s->scores[i] : 0.0f;
        e->attr = TOK_ATTR_NORMAL;
        if (s->types) {
            switch (s->types[i]) {
            case 1:
                e->attr = TOK_ATTR_NORMAL;
                break;
            case 2:
                e->attr = TOK_ATTR_UNKNOWN;
                break;
            case 3:
                e->attr = TOK_ATTR_CONTROL;
                break;
            case 4:
                e->attr = TOK_ATTR_USER_DEFINED;
                break;
            case 5:
                e->attr = TOK_ATTR_UNUSED;
                break;
            case 6:
                e->attr = TOK_ATTR_BYTE;
                break;
            default:
                e->attr = 0;
                break;
            }
        }
        v->max_token_len = KB_MAX(v->max_token_len, (int)len);
    }
    if ((rc = build_hash(v, err)) != 0)
        goto out_free;
    if (v->kind == TOK_KIND_BPE && (rc = build_merges(v, s, err)) != 0)
        goto out_free;

    /* special ids from the spec, ignoring out-of-range ones as llama.cpp does */
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        if (v->special[i] >= v->n_tokens)
            v->special[i] = TOK_NULL;
        int32_t id = s->ids[i];
        if (id == TOK_SPEC_DEFAULT)
            continue;
        if (id == TOK_NULL || (id >= 0 && id < v->n_tokens))
            v->special[i] = id;
        else
            kb_warn("tokenizer: special token id %d out of range; keeping the default", (int)id);
    }
    if (s->add_bos >= 0)
        v->add_bos = s->add_bos != 0;
    if (s->add_eos >= 0)
        v->add_eos = s->add_eos != 0;
    if (s->add_sep >= 0)
        v->add_sep = s->add_sep != 0;
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
    if (build_pieces(v) != 0) {
        rc = kb_error_set(err, KB_ENOMEM, "out of memory for token pieces");
        goto out_free;
    }

    /* the newline token */
    v->nl = TOK_NULL;
    if (v->kind == TOK_KIND_SPM) {
        v->nl = tok_byte_token(v, '\n');
    } else if (v->kind == TOK_KIND_WPM) {
        v->nl = v->special[TOK_PAD];
    } else {
        int32_t ids[8];
        size_t n = 0;
        if (tok_encode(v, "\n", 1, 0, ids, 8, &n, NULL) == 0 && n > 0)
            v->nl = ids[0];
    }
    free(tmp);
    *out = v;
    return 0;

out_free:
    free(tmp);
    tok_vocab_free(v);
    return rc;
}

void tok_vocab_free(struct tok_vocab *v)
{
    if (!v)
        return;
    free(v->blob);
    free(v->tok);
    kb_idtab_release(&v->text_ids);
    free(v->merge_blob);
    free(v->merge_off);
    free(v->merge_split);
    free(v->merge_len);
    kb_idtab_release(&v->merge_ids);
    free(v->eog);
    free(v->specials);
    free(v->pieces);
    free(v->piece_off);
    free(v);
}

/* ---- from GGUF ------------------------------------------------------------------------------------- */

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

/* ---- encoding -------------------------------------------------------------------------------------- */

struct frag {
    int32_t tok;  /* >= 0: a special token; TOK_NULL: raw text */
    uint32_t off; /* raw text span */
    uint32_t len;
};
struct frags {
    struct frag *v;
    size_t n, cap;
    bool oom;
};

static void frag_push(struct frags *a, int32_t tok, size_t off, size_t len)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct frag *p = kb_try_realloc(a->v, cap, sizeof *p);
        if (!p) {
            a->oom = true;
            return;
        }
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = (struct frag){tok, (uint32_t)off, (uint32_t)len};
}

static bool is_cspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static const char *find_bytes(const char *h, size_t nh, const char *needle, size_t nn)
{
    if (nn == 0 || nn > nh)
        return NULL;
    const char *end = h + (nh - nn) + 1;
    for (const char *p = h; p < end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p)
            return NULL;
        if (memcmp(p, needle, nn) == 0)
            return p;
    }
    return NULL;
}

/* Cuts special tokens out of text: for each special token (longest first), every raw fragment is
 * split at each of its occurrences. A bitmap of the byte pairs present skips tokens that cannot
 * occur, which keeps vocabularies with thousands of added tokens fast. */
static int partition(const struct tok_vocab *v, const char *text, size_t n, bool parse_special,
                     struct frags *out)
{
    struct frags a = {0}, b = {0};
    uint8_t *pairs = NULL;
    int rc = 0;
    if (n == 0)
        return 0;
    frag_push(&a, TOK_NULL, 0, n);
    if (v->n_specials > 0) {
        pairs = kb_try_calloc(65536 / 8 + 32, 1);
        if (!pairs) {
            rc = KB_ENOMEM;
            goto out;
        }
        uint8_t *singles = pairs + 65536 / 8;
        for (size_t i = 0; i < n; i++) {
            unsigned c0 = (uint8_t)text[i];
            singles[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
            if (i + 1 < n) {
                unsigned p = c0 << 8 | (uint8_t)text[i + 1];
                pairs[p >> 3] |= (uint8_t)(1u << (p & 7));
            }
        }
    }
    for (int32_t k = 0; k < v->n_specials; k++) {
        int32_t id = v->specials[k];
        const struct tok_entry *e = &v->tok[id];
        const char *t = v->blob + e->off;
        if (!parse_special && (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        if (e->len > n)
            continue;
        unsigned c0 = (uint8_t)t[0];
        if (e->len == 1 && !(pairs[65536 / 8 + (c0 >> 3)] & (1u << (c0 & 7))))
            continue;
        if (e->len >= 2) {
            unsigned p = c0 << 8 | (uint8_t)t[1];
            if (!(pairs[p >> 3] & (1u << (p & 7))))
                continue;
        }
        b.n = 0;
        for (size_t f = 0; f < a.n; f++) {
            struct frag fr = a.v[f];
            if (fr.tok != TOK_NULL) {
                frag_push(&b, fr.tok, 0, 0);
                continue;
            }
            size_t pos = fr.off, end = (size_t)fr.off + fr.len;
            const char *m;
            while (pos < end && (m = find_bytes(text + pos, end - pos, t, e->len)) != NULL) {
                size_t at = (size_t)(m - text), left = at - pos;
                if (e->attr & TOK_ATTR_LSTRIP)
                    while (left > 0 && is_cspace(text[pos + left - 1]))
                        left--;
                if (left > 0)
                    frag_push(&b, TOK_NULL, pos, left);
                frag_push(&b, id, 0, 0);
                pos = at + e->len;
                if (e->attr & TOK_ATTR_RSTRIP)
                    while (pos < end && is_cspace(text[pos]))
                        pos++;
            }
            if (pos < end)
                frag_push(&b, TOK_NULL, pos, end - pos);
        }
        struct frags t2 = a;
        a = b;
        b = t2;
        if (a.oom || b.oom) {
            rc = KB_ENOMEM;
            goto out;
        }
    }
out:
    free(pairs);
    free(b.v);
    if (rc)
        free(a.v);
    else
        *out = a;
    return rc;
}

static int encode_ids(const struct tok_vocab *v, const char *text, size_t n, unsigned flags,
                      struct tok_ids *ids)
{
    struct frags fr = {0};
    bool add = (flags & TOK_ADD_SPECIAL) != 0;
    if (n > (1u << 30)) /* fragment offsets are 32-bit; 1 GiB of text is far beyond any context */
        return KB_ETOOBIG;
    int rc = partition(v, text, n, (flags & TOK_PARSE_SPECIAL) != 0, &fr);
    if (rc)
        return rc;
    int32_t bos = v->special[TOK_BOS], eos = v->special[TOK_EOS];
    if (add && bos != TOK_NULL && (v->kind == TOK_KIND_WPM || v->add_bos))
        tok_ids_push(ids, bos);
    bool prev_special = true; /* SentencePiece: a space prefix at the start and after special tokens */
    char *buf = NULL;
    size_t buf_cap = 0;
    for (size_t i = 0; i < fr.n && rc == 0; i++) {
        const struct frag *f = &fr.v[i];
        if (f->tok != TOK_NULL) {
            tok_ids_push(ids, f->tok);
            prev_special = true;
            continue;
        }
        const char *s = text + f->off;
        switch (v->kind) {
        case TOK_KIND_SPM: {
            /* ' ' -> U+2581, plus one leading U+2581 when asked */
            size_t need = (size_t)f->len * 3 + 3;
            if (need > buf_cap) {
                char *p = kb_try_realloc(buf, need, 1);
                if (!p) {
                    rc = KB_ENOMEM;
                    break;
                }
                buf = p;
                buf_cap = need;
            }
            size_t m = 0;
            if (v->add_space_prefix && prev_special) {
                memcpy(buf, "\xe2\x96\x81", 3);
                m = 3;
            }
            for (size_t j = 0; j < f->len; j++) {
                if (s[j] == ' ') {
                    memcpy(buf + m, "\xe2\x96\x81", 3);
                    m += 3;
                } else {
                    buf[m++] = s[j];
                }
            }
            rc = tok_spm_encode(v, buf, m, ids);
            break;
        }
        case TOK_KIND_BPE:
            rc = tok_bpe_encode(v, s, f->len, ids);
            break;
        case TOK_KIND_WPM:
            rc = tok_wpm_encode(v, s, f->len, ids);
            break;
        }
        prev_special = false;
    }
    if (add && v->kind == TOK_KIND_WPM && v->special[TOK_SEP] != TOK_NULL)
        tok_ids_push(ids, v->special[TOK_SEP]);
    else if (add && v->kind != TOK_KIND_WPM && v->add_eos && eos != TOK_NULL)
        tok_ids_push(ids, eos);
    free(buf);
    free(fr.v);
    if (rc == 0 && ids->oom)
        rc = KB_ENOMEM;
    return rc;
}

int tok_encode(const struct tok_vocab *v, const char *text, size_t n, unsigned flags, int32_t *out,
               size_t max_out, size_t *n_out, struct kb_error *err)
{
    struct tok_ids ids = {0};
    int rc = encode_ids(v, text, n, flags, &ids);
    *n_out = 0;
    if (rc) {
        free(ids.v);
        return kb_error_set(err, rc, "cannot tokenize %zu bytes: %s", n, kb_strerror(rc));
    }
    *n_out = ids.n;
    if (ids.n && max_out)
        memcpy(out, ids.v, KB_MIN(ids.n, max_out) * sizeof *out);
    free(ids.v);
    if (*n_out > max_out)
        return kb_error_set(err, KB_ETOOBIG, "%zu tokens do not fit in %zu", *n_out, max_out);
    return 0;
}

int tok_encode_alloc(const struct tok_vocab *v, const char *text, size_t n, unsigned flags, int32_t **out,
                     size_t *n_out, struct kb_error *err)
{
    struct tok_ids ids = {0};
    int rc = encode_ids(v, text, n, flags, &ids);
    *out = NULL;
    *n_out = 0;
    if (rc) {
        free(ids.v);
        return kb_error_set(err, rc, "cannot tokenize %zu bytes: %s", n, kb_strerror(rc));
    }
    *out = ids.v ? ids.v : kb_xmalloc(sizeof(int32_t));
    *n_out = ids.n;
    return 0;
}

/* ---- decoding -------------------------------------------------------------------------------------- */

size_t tok_piece(const struct tok_vocab *v, int32_t id, bool special, const char **s)
{
    *s = "";
    if (id < 0 || id >= v->n_tokens)
        return 0;
    if (!special && (v->tok[id].attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)))
        return 0;
    *s = v->pieces + v->piece_off[id];
    return v->piece_off[id + 1] - v->piece_off[id];
}

/* llama.cpp's clean_up_tokenization: " ?" -> "?" (also ! . ,), " ' " -> "'", " 's" -> "'s" ... */
static size_t clean_spaces(char *t, size_t total)
{
    size_t n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            n--;
        t[n++] = x;
    }
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < total && t[i - 1] == ' ' && t[i + 1] == ' ') {
            n--;
            t[++i] = 0;
        }
        t[n++] = x;
    }
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < total) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm')
                n--;
            else if (i + 2 < total && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e')))
                n--;
        }
        t[n++] = x;
    }
    return n;
}

int tok_decode(const struct tok_vocab *v, const int32_t *ids, size_t n, unsigned flags, struct kb_buf *out)
{
    bool remove_space = v->add_space_prefix;
    size_t start = out->len;
    int rc = 0;
    if ((flags & TOK_REMOVE_SPECIAL) && v->add_bos && n > 0 && ids[0] == v->special[TOK_BOS]) {
        remove_space = false;
        ids++;
        n--;
    }
    if ((flags & TOK_REMOVE_SPECIAL) && v->add_eos && n > 0 && ids[n - 1] == v->special[TOK_EOS])
        n--;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *p;
        size_t len = tok_piece(v, ids[i], (flags & TOK_RENDER_SPECIAL) != 0, &p);
        if (remove_space && len > 0 && p[0] == ' ') {
            p++;
            len--;
        }
        remove_space = false;
        rc = kb_buf_append(out, p, len);
    }
    if (rc == 0 && v->clean_spaces && out->len > start) {
        out->len = start + clean_spaces(out->data + start, out->len - start);
        out->data[out->len] = 0;
    }
    return rc;
}

void tok_stream_init(struct tok_stream *st, const struct tok_vocab *v, unsigned flags)
{
    memset(st, 0, sizeof *st);
    st->v = v;
    st->flags = flags;
}

size_t tok_stream_max_bytes(const struct tok_vocab *v)
{
    return v->max_piece_len + 8;
}

/* Length of the prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t complete_prefix(const uint8_t *s, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        uint8_t b = s[n - back];
        if ((b & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        if (b >= 0xF8)
            need = 1;
        return need > back ? n - back : n;
    }
    return n; /* only continuation bytes: nothing to wait for */
}

size_t tok_stream_feed(struct tok_stream *st, int32_t id, char *out, size_t out_bytes)
{
    const char *p;
    size_t len = tok_piece(st->v, id, (st->flags & TOK_RENDER_SPECIAL) != 0, &p), n;
    KB_ASSERT(out_bytes >= tok_stream_max_bytes(st->v));
    if ((st->flags & TOK_STRIP_LEADING) && !st->started && st->v->add_space_prefix && len > 0 &&
        p[0] == ' ') {
        p++;
        len--;
    }
    if (len > 0 || st->n_pend > 0)
        st->started = true;
    memcpy(out, st->pend, (size_t)st->n_pend);
    memcpy(out + st->n_pend, p, len);
    n = (size_t)st->n_pend + len;
    size_t keep = complete_prefix((const uint8_t *)out, n);
    st->n_pend = (int)(n - keep);
    memcpy(st->pend, out + keep, (size_t)st->n_pend);
    return keep;
}

size_t tok_stream_flush(struct tok_stream *st, char *out, size_t out_bytes)
{
    size_t n = (size_t)st->n_pend;
    KB_ASSERT(out_bytes >= n);
    memcpy(out, st->pend, n);
    st->n_pend = 0;
    return n;
}

/* ---- facts ----------------------------------------------------------------------------------------- */

int32_t tok_n_tokens(const struct tok_vocab *v)
{
    return v->n_tokens;
}

enum tok_kind tok_kind(const struct tok_vocab *v)
{
    return v->kind;
}

const char *tok_model_name(const struct tok_vocab *v)
{
    return v->kind == TOK_KIND_SPM ? "llama" : v->kind == TOK_KIND_BPE ? "gpt2" : "bert";
}

const char *tok_pre_name(const struct tok_vocab *v)
{
    return v->pre_name;
}

int32_t tok_special(const struct tok_vocab *v, enum tok_special which)
{
    return (int)which >= 0 && which < TOK_N_SPECIAL ? v->special[which] : TOK_NULL;
}

int32_t tok_bos(const struct tok_vocab *v)
{
    return v->special[TOK_BOS];
}

int32_t tok_eos(const struct tok_vocab *v)
{
    return v->special[TOK_EOS];
}

int32_t tok_eot(const struct tok_vocab *v)
{
    return v->special[TOK_EOT];
}

int32_t tok_nl(const struct tok_vocab *v)
{
    return v->nl;
}

bool tok_add_bos(const struct tok_vocab *v)
{
    return v->add_bos;
}

bool tok_add_eos(const struct tok_vocab *v)
{
    return v->add_eos;
}

bool tok_is_eog(const struct tok_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n_tokens && v->eog[id];
}

unsigned tok_attr(const struct tok_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n_tokens ? v->tok[id].attr : 0;
}

float tok_score(const struct tok_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n_tokens ? v->tok[id].score : 0.0f;
}

const char *tok_text(const struct tok_vocab *v, int32_t id, size_t *n)
{
    if (id < 0 || id >= v->n_tokens) {
        *n = 0;
        return "";
    }
    *n = v->tok[id].len;
    return v->blob + v->tok[id].off;
}

int32_t tok_find(const struct tok_vocab *v, const char *s, size_t n)
{
    return tok_lookup(v, s, n);
}

int tok_max_token_bytes(const struct tok_vocab *v)
{
    return v->max_token_len;
}
