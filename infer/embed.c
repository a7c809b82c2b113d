/* infer/embed.c: the embedder of infer/embed.h, a thread-safe service around one encoder model.
 *
 * Owns: the model (infer_model_open), one session sized for the model's full context (n_ctx =
 * n_batch = max_tokens, so every allowed sequence is a single forward step and nothing is
 * allocated per call beyond the tokenizer's own buffers), the identity string, and a mutex that
 * serialises use of the session. The encoder itself (bert graph, pooling) is infer_embed() in
 * session.c / arch_bert.c; this file adds what callers need around it: tokenization with the
 * model's specials, truncation that keeps the trailing [SEP], per-text batching and identity.
 *
 * Truncation: add_special puts n_prefix ids before and n_suffix ids after the text (bert:
 * [CLS] ... [SEP]); both are learned once at open by tokenizing the empty string. A text whose ids
 * exceed max_tokens keeps its first max_tokens - n_suffix ids and then the suffix ids, as the
 * Hugging Face tokenizers truncate.
 *
 * Identity: "gguf:<base name>:<bytes>:<sha-16>" where sha-16 is the first 16 hex digits of the
 * SHA-256 of the file's first and last MiB (the header with all metadata, and the tail of the
 * tensor data); hashing a whole large model would cost seconds at every start.
 * Tests: tests/infer/test_bert.c. */
#include "infer/embed.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/infer.h"

#define EMBED_MAX_CTX 8192  /* longest sequence we allocate scratch for, in tokens */
#define EMBED_MAX_SPECIAL 4 /* specials add_special may put around a text */
#define EMBED_HASH_SPAN (1u << 20)

struct infer_embedder {
    struct infer_model *m;   /* owned */
    struct infer_session *s; /* owned; guarded by mu */
    pthread_mutex_t mu;      /* serialises s */
    int dim;                 /* floats per embedding (n_embd) */
    int n_vocab;             /* ids are < n_vocab */
    int max_tokens;          /* sequence length limit = the session's n_batch */
    int n_prefix, n_suffix;  /* specials add_special puts before / after a text */
    int32_t suffix[EMBED_MAX_SPECIAL];
    char id[320];            /* infer_embedder_id() */
};

/* SHA-256 of the first EMBED_HASH_SPAN bytes of path and of the last EMBED_HASH_SPAN bytes after
 * them (the whole file when it is at most twice the span). */
static int file_digest(const char *path, uint64_t size, char hex16[17], struct kb_error *err)
{
    struct kb_sha256 h;
    uint8_t dg[32];
    char full[65];
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kb_error_set(err, KB_ENOENT, "cannot open '%s'", path);
    unsigned char *buf = kb_xmalloc(EMBED_HASH_SPAN);
    uint64_t head = KB_MIN(size, (uint64_t)EMBED_HASH_SPAN);
    uint64_t tail0 = KB_MAX(head, size > EMBED_HASH_SPAN ? size - EMBED_HASH_SPAN : 0);
    kb_sha256_init(&h);
    for (int part = 0; part < 2; part++) {
        uint64_t from = part ? tail0 : 0, len = part ? size - tail0 : head;
        if (len == 0)
            continue;
        if (fseeko(f, (off_t)from, SEEK_SET) != 0 || fread(buf, 1, (size_t)len, f) != (size_t)len) {
            rc = kb_error_set(err, KB_EIO, "cannot read '%s'", path);
            goto out_free;
        }
        kb_sha256_update(&h, buf, (size_t)len);
    }
    kb_sha256_final(&h, dg);
    kb_sha256_hex(dg, full);
    memcpy(hex16, full, 16);
    hex16[16] = '\0';
out_free:
    free(buf);
    fclose(f);
    return rc;
}

static int set_identity(struct infer_embedder *e, const char *path, struct kb_error *err)
{
    struct stat st;
    char hex[17];
    int rc;
    if (stat(path, &st) != 0)
        return kb_error_set(err, KB_ENOENT, "cannot stat '%s'", path);
    if ((rc = file_digest(path, (uint64_t)st.st_size, hex, err)))
        return rc;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(e->id, sizeof e->id, "gguf:%.200s:%llu:%s", base, (unsigned long long)st.st_size, hex);
    return 0;
}

/* Learns which ids add_special wraps a text in, from the empty text. */
static int learn_specials(struct infer_embedder *e, int32_t bos, struct kb_error *err)
{
    int32_t sp[EMBED_MAX_SPECIAL];
    int n = 0;
    int rc = infer_tokenize(e->m, "", 0, true, false, sp, EMBED_MAX_SPECIAL, &n, err);
    if (rc)
        return rc;
    e->n_prefix = n > 0 && bos >= 0 && sp[0] == bos ? 1 : 0;
    e->n_suffix = n - e->n_prefix;
    memcpy(e->suffix, sp + e->n_prefix, (size_t)e->n_suffix * sizeof *sp);
    if (e->n_prefix + e->n_suffix >= e->max_tokens)
        return kb_error_set(err, KB_ECORRUPT, "embed: context of %d tokens holds no text",
                            e->max_tokens);
    return 0;
}

int infer_embedder_open(struct infer_embedder **out, const char *path, int n_threads,
                        struct kb_error *err)
{
    struct infer_embedder *e = kb_xcalloc(1, sizeof *e);
    struct infer_model_info in;
    struct infer_session_params sp;
    int rc;
    *out = NULL;
    if ((rc = infer_model_open(&e->m, path, err)))
        goto out_free;
    infer_model_get_info(e->m, &in);
    if (!in.encoder) {
        rc = kb_error_set(err, KB_EFORMAT, "'%s' is not an embedding model (architecture %s)", path,
                          in.arch);
        goto out_free;
    }
    if (in.pooling != 1 && in.pooling != 2) {
        rc = kb_error_set(err, KB_EFORMAT, "'%s': pooling type %d is not mean (1) or cls (2)", path,
                          in.pooling);
        goto out_free;
    }
    e->dim = in.n_embd;
    e->n_vocab = in.n_vocab;
    e->max_tokens = KB_MIN(in.n_ctx_train > 0 ? in.n_ctx_train : 512, EMBED_MAX_CTX);
    infer_session_params_default(&sp);
    sp.n_ctx = sp.n_batch = e->max_tokens;
    sp.n_threads = n_threads > 0 ? n_threads : 0;
    sp.kv_f32 = true;
    if ((rc = infer_session_new(&e->s, e->m, &sp, err)) || (rc = learn_specials(e, in.bos, err)) ||
        (rc = set_identity(e, path, err)))
        goto out_free;
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return 0;
out_free:
    infer_session_free(e->s);
    infer_model_close(e->m);
    free(e);
    return rc;
}

void infer_embedder_close(struct infer_embedder *e)
{
    if (!e)
        return;
    pthread_mutex_destroy(&e->mu);
    infer_session_free(e->s);
    infer_model_close(e->m);
    free(e);
}

int infer_embedder_dim(const struct infer_embedder *e) { return e->dim; }
int infer_embedder_max_tokens(const struct infer_embedder *e) { return e->max_tokens; }
const char *infer_embedder_id(const struct infer_embedder *e) { return e->id; }

/* Tokenizes text into out[0..max_tokens), truncated to max_tokens with the suffix kept. */
static int tokenize_trunc(const struct infer_embedder *e, const char *text, int32_t *out, int *n_out,
                          struct kb_error *err)
{
    int n = 0;
    int rc = infer_tokenize(e->m, text, strlen(text), true, false, out, e->max_tokens, &n, err);
    if (rc == KB_ETOOBIG) { /* out holds the first max_tokens ids: end it with the suffix */
        kb_error_clear(err);
        memcpy(out + e->max_tokens - e->n_suffix, e->suffix, (size_t)e->n_suffix * sizeof *out);
        n = e->max_tokens;
        rc = 0;
    }
    *n_out = rc ? 0 : n;
    return rc;
}

int infer_embedder_tokenize(const struct infer_embedder *e, const char *text, int32_t *out,
                            int max_out, int *n_out, struct kb_error *err)
{
    int32_t *ids = kb_xmalloc((size_t)e->max_tokens * sizeof *ids);
    int n = 0;
    int rc = tokenize_trunc(e, text, ids, &n, err);
    *n_out = n;
    if (!rc && n > max_out)
        rc = kb_error_set(err, KB_ETOOBIG, "embed: %d tokens do not fit in %d", n, max_out);
    if (!rc)
        memcpy(out, ids, (size_t)n * sizeof *ids);
    free(ids);
    return rc;
}

static int check_ids(const struct infer_embedder *e, const int32_t *ids, int n, struct kb_error *err)
{
    if (n <= 0)
        return kb_error_set(err, KB_EINVAL, "embed: no tokens");
    if (n > e->max_tokens)
        return kb_error_set(err, KB_ETOOBIG, "embed: %d tokens, the model takes at most %d", n,
                            e->max_tokens);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->n_vocab)
            return kb_error_set(err, KB_EINVAL, "embed: token id %d is outside the vocabulary (%d)",
                                (int)ids[i], e->n_vocab);
    return 0;
}

/* One forward under the lock; pooled and normalised by infer_embed(). */
static int embed_locked(struct infer_embedder *e, const int32_t *ids, int n, float *out,
                        bool normalize, struct kb_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = infer_embed(e->s, ids, n, out, NULL, normalize, err);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int infer_embed_tokens(struct infer_embedder *e, const int32_t *ids, int n, float *out,
                       bool normalize, struct kb_error *err)
{
    int rc = check_ids(e, ids, n, err);
    return rc ? rc : embed_locked(e, ids, n, out, normalize, err);
}

int infer_embed_texts(struct infer_embedder *e, const char *const *texts, int n_texts, float *out,
                      bool normalize, struct kb_error *err)
{
    int rc = 0;
    if (n_texts < 0)
        return kb_error_set(err, KB_EINVAL, "embed: %d texts", n_texts);
    int32_t *ids = kb_xmalloc((size_t)e->max_tokens * sizeof *ids);
    /* One sequence per forward step: the encoder attends over a single sequence at a time, and a
     * chunk-sized sequence already fills the matrix kernels' row tiles. */
    for (int i = 0; i < n_texts && !rc; i++) {
        int n = 0;
        if ((rc = tokenize_trunc(e, texts[i], ids, &n, err)) ||
            (rc = check_ids(e, ids, n, err)) ||
            (rc = embed_locked(e, ids, n, out + (size_t)i * e->dim, normalize, err)))
            kb_error_prefix(err, "text %d", i);
    }
    free(ids);
    return rc;
}
