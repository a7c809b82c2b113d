/* infer/tok.c: encoding text with a vocabulary and decoding ids back to text.
 *
 * Data flow of tok_encode(): text -> fragments (raw text or a special token id; added tokens are
 * always cut out, control tokens only with TOK_PARSE_SPECIAL, longest token text first, with the
 * tokens' lstrip/rstrip whitespace rules) -> each raw fragment through tok_spm_encode /
 * tok_bpe_encode / tok_wpm_encode -> ids, with BOS/EOS/SEP around them as the vocabulary says.
 * Decoding concatenates the pieces tok_vocab.c precomputed (optionally cleaning the spaces around
 * punctuation, as clean_up_tokenization_spaces does); the stream decoder holds back an incomplete
 * UTF-8 sequence. Every rule follows llama.cpp's llama-vocab.cpp, because the goal is the reference
 * implementation's ids. The vocabulary is built in tok_vocab.c, tok_special.c and tok_gguf.c.
 *
 * Invariants: encode allocates its scratch per call (fragments, symbols), decode allocates nothing
 * but what the caller's kb_buf grows; both only read the vocabulary, so threads may share it.
 * Tests: tests/infer/test_tok.c. */
#include "infer/tok_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- id lists -------------------------------------------------------------------------------------- */

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
