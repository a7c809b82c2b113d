/* infer/tok_vocab.c: building a vocabulary from a tok_spec (the plain form tok_gguf.c fills from
 * tokenizer.ggml.* keys, and tests fill by hand) and looking tokens up in it.
 *
 * Data flow of tok_vocab_new_spec(): per-type defaults (tok_special.c) -> token texts copied into one
 * NUL-terminated blob (an empty text gets llama.cpp's "[EMPTY_<id>]" placeholder) with score and
 * attribute -> the text -> id table -> for BPE the merges' blob and (left, right) -> rank table ->
 * the spec's special ids and switches -> special tokens (tok_special.c) -> each token's decoded
 * piece -> the newline token. Lookups (tok_lookup, tok_merge_rank, tok_byte_token) read the two
 * tables: base's struct kb_idtab with FNV-1a keys; duplicates keep their first id or rank.
 *
 * Invariants: a vocabulary is immutable after construction and shared by threads. Sizes come from
 * the file, so allocations use kb_try_* and fail with KB_ENOMEM (the table of texts and the blob
 * are bounded by TOK_MAX_TOKENS tokens of at most 1 MiB each, 4 GiB in all). Tests:
 * tests/infer/test_tok.c. */
#include "infer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lookup ----------------------------------------------------------------------------------------- */

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

/* ---- construction ---------------------------------------------------------------------------------- */

void tok_spec_init(struct tok_spec *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < TOK_N_SPECIAL; i++)
        s->ids[i] = TOK_SPEC_DEFAULT;
    s->add_bos = s->add_eos = s->add_sep = s->add_space_prefix = -1;
    s->lowercase = s->strip_accents = -1;
}

static size_t spec_len(const char *const *s, const uint32_t *lens, int32_t i)
{
    return lens ? lens[i] : strlen(s[i]);
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
            int k = kb_utf8_decode_lenient(t + i, e->len - i, &cp);
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
        uint32_t h = kb_fnv1a32(KB_FNV1A32_INIT, s, e->len);
        if (kb_idtab_add(&v->text_ids, h, id, text_eq, v, s, e->len) != id)
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
    if (!v->merge_blob || !v->merge_off || !v->merge_split || !v->merge_len ||
        kb_idtab_init(&v->merge_ids, (size_t)n))
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

/* tokenizer.ggml.token_type -> TOK_ATTR_*: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte. */
static const uint32_t attr_of_type[] = {0,
                                        TOK_ATTR_NORMAL,
                                        TOK_ATTR_UNKNOWN,
                                        TOK_ATTR_CONTROL,
                                        TOK_ATTR_USER_DEFINED,
                                        TOK_ATTR_UNUSED,
                                        TOK_ATTR_BYTE};

int tok_vocab_new_spec(struct tok_vocab **out, const struct tok_spec *s, struct kb_error *err)
{
    struct tok_vocab *v = NULL;
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
    tok_set_defaults(v, s);
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
        if (s->types) { /* an unknown type gets no attribute */
            int32_t t = s->types[i];
            e->attr = t >= 0 && t < (int32_t)KB_ARRAY_LEN(attr_of_type) ? attr_of_type[t] : 0;
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
    if ((rc = tok_find_specials(v, s, err)) != 0)
        goto out_free;
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
    *out = v;
    return 0;

out_free:
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
