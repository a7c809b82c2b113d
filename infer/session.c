/* infer/session.c: sessions (KV cache + scratch + pool, allocated once), batched evaluation and
 * opening/closing models.
 *
 * infer_session_new() sizes every buffer from the model's hyperparameters, n_ctx and n_batch and
 * allocates it once (overflow-checked: the sizes come from the file); infer_eval() splits its
 * tokens into steps of at most n_batch and runs the architecture's forward pass on each, which only
 * writes these buffers. Invariants: 0 <= n_past <= n_ctx; the KV cache holds valid rows for
 * positions [0, n_past). A session is used by one thread at a time; the model it borrows is
 * read-only. Tests: tests/infer/test_model.c, test_conformance.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/model.h"

void infer_session_params_default(struct infer_session_params *p)
{
    memset(p, 0, sizeof *p);
}

size_t session_matmul_scratch(const struct infer_model *m, int n_tok)
{
    const struct model_hparams *hp = &m->hp;
    size_t best = kern_matmul_scratch_bytes(m->output.type, hp->n_embd, n_tok);
    for (int il = 0; il < hp->n_layer; il++) {
        const struct model_layer *L = &m->layers[il];
        const struct model_w *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up,
                                      &L->ffn_down};
        for (size_t i = 0; i < KB_ARRAY_LEN(ws); i++) {
            size_t b = kern_matmul_scratch_bytes(ws[i]->type, ws[i]->ne[0], n_tok);
            if (b > best)
                best = b;
        }
    }
    return best;
}

void session_matmul(struct infer_session *s, const struct model_w *w, const float *x, int n_tok,
                    float *y)
{
    kern_matmul(s->pool, w->type, w->data, w->ne[0], w->ne[1], x, n_tok, y, s->xq);
}

/* Element counts of every buffer, shared by the estimate and the allocation. */
struct sizes {
    size_t kv_k, kv_v, x, q, k, v, att, ff, scores, rope, logits;
};

static void sizes_of(const struct infer_model *m, int n_ctx, int T, int n_threads, struct sizes *z)
{
    const struct model_hparams *hp = &m->hp;
    z->kv_k = (size_t)hp->n_layer * n_ctx * hp->n_head_kv * hp->head_dim;
    z->kv_v = (size_t)hp->n_layer * n_ctx * hp->n_head_kv * hp->head_dim_v;
    z->x = (size_t)T * hp->n_embd;
    z->q = (size_t)T * hp->n_head * hp->head_dim;
    z->k = (size_t)T * hp->n_head_kv * hp->head_dim;
    z->v = (size_t)T * hp->n_head_kv * hp->head_dim_v;
    z->att = (size_t)T * hp->n_head * hp->head_dim_v;
    z->ff = (size_t)T * hp->n_ff;
    z->scores = (size_t)n_threads * n_ctx;
    z->rope = (size_t)T * hp->n_rot;
    z->logits = (size_t)hp->n_vocab;
}

uint64_t infer_session_bytes(const struct infer_model *m, int n_ctx, int n_batch, bool kv_f32)
{
    struct sizes z;
    if (n_ctx <= 0)
        n_ctx = KB_MIN(m->hp.n_ctx_train, 4096);
    if (n_batch <= 0)
        n_batch = 512;
    sizes_of(m, n_ctx, n_batch, 2, &z);
    uint64_t kv = (uint64_t)(z.kv_k + z.kv_v) * (kv_f32 ? 4 : 2);
    uint64_t f = 3 * z.x + z.q + z.k + z.v + z.att + 2 * z.ff + z.scores + z.rope + z.logits;
    return kv + 4 * f + session_matmul_scratch(m, n_batch) + (uint64_t)n_ctx * 4;
}

void infer_session_free(struct infer_session *s)
{
    if (!s)
        return;
    kern_pool_free(s->pool);
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->tmp);
    free(s->ff_g);
    free(s->ff_u);
    free(s->scores);
    free(s->rope_cs);
    free(s->xq);
    free(s->logits);
    free(s->hist);
    free(s);
}

int infer_session_new(struct infer_session **out, const struct infer_model *m,
                      const struct infer_session_params *p, struct kb_error *err)
{
    struct infer_session_params def;
    struct infer_session *s;
    struct sizes z;
    size_t el;
    int rc;
    *out = NULL;
    if (!p) {
        infer_session_params_default(&def);
        p = &def;
    }
    s = kb_xcalloc(1, sizeof *s);
    s->m = m;
    s->n_ctx = p->n_ctx > 0 ? p->n_ctx : KB_MIN(m->hp.n_ctx_train, 4096);
    s->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    s->n_batch = KB_MIN(s->n_batch, s->n_ctx);
    s->kv_f32 = p->kv_f32;
    if (s->n_ctx > (1 << 24)) {
        rc = kb_error_set(err, KB_ETOOBIG, "session: context of %d tokens is too large", s->n_ctx);
        goto out_free;
    }
    if ((rc = kern_pool_new(&s->pool, p->n_threads, err)))
        goto out_free;
    sizes_of(m, s->n_ctx, s->n_batch, kern_pool_n_threads(s->pool), &z);
    el = s->kv_f32 ? 4 : 2;
    s->k_cache = kb_try_malloc(z.kv_k, el);
    s->v_cache = kb_try_malloc(z.kv_v, el);
    s->x = kb_try_malloc(z.x, sizeof(float));
    s->xn = kb_try_malloc(z.x, sizeof(float));
    s->tmp = kb_try_malloc(z.x, sizeof(float));
    s->q = kb_try_malloc(z.q, sizeof(float));
    s->k = kb_try_malloc(z.k, sizeof(float));
    s->v = kb_try_malloc(z.v, sizeof(float));
    s->att = kb_try_malloc(z.att, sizeof(float));
    s->ff_g = kb_try_malloc(z.ff, sizeof(float));
    s->ff_u = kb_try_malloc(z.ff, sizeof(float));
    s->scores = kb_try_malloc(z.scores, sizeof(float));
    s->rope_cs = kb_try_malloc(z.rope, sizeof(float));
    s->logits = kb_try_malloc(z.logits, sizeof(float));
    s->hist = kb_try_malloc((size_t)s->n_ctx, sizeof(int32_t));
    s->xq_bytes = session_matmul_scratch(m, s->n_batch);
    s->xq = kb_try_malloc(s->xq_bytes ? s->xq_bytes : 1, 1);
    if (!s->k_cache || !s->v_cache || !s->x || !s->xn || !s->tmp || !s->q || !s->k || !s->v ||
        !s->att || !s->ff_g || !s->ff_u || !s->scores || !s->rope_cs || !s->logits || !s->hist ||
        !s->xq) {
        rc = kb_error_set(err, KB_ENOMEM, "session: cannot allocate %llu bytes for %d tokens",
                          (unsigned long long)infer_session_bytes(m, s->n_ctx, s->n_batch,
                                                                 s->kv_f32),
                          s->n_ctx);
        goto out_free;
    }
    *out = s;
    return 0;
out_free:
    infer_session_free(s);
    return rc;
}

int infer_session_n_ctx(const struct infer_session *s) { return s->n_ctx; }
int infer_session_n_past(const struct infer_session *s) { return s->n_past; }
void infer_session_reset(struct infer_session *s) { s->n_past = 0; }

int infer_eval(struct infer_session *s, const int32_t *tokens, int n, float *logits, bool all_logits,
               struct kb_error *err)
{
    const struct model_hparams *hp = &s->m->hp;
    if (n <= 0)
        return kb_error_set(err, KB_EINVAL, "eval: no tokens");
    if (n > s->n_ctx - s->n_past)
        return kb_error_set(err, KB_ETOOBIG, "eval: %d tokens do not fit (%d of %d positions used)",
                            n, s->n_past, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return kb_error_set(err, KB_EINVAL, "eval: token id %d is outside the vocabulary (%d)",
                                (int)tokens[i], hp->n_vocab);
    for (int done = 0; done < n;) {
        int step = KB_MIN(s->n_batch, n - done);
        bool last_step = done + step == n;
        float *lg = NULL;
        if (logits && all_logits)
            lg = logits + (size_t)done * hp->n_vocab;
        else if (logits && last_step)
            lg = logits;
        llama_forward(s, tokens + done, step, lg, all_logits);
        memcpy(s->hist + s->n_past, tokens + done, (size_t)step * sizeof(int32_t));
        s->n_past += step;
        done += step;
    }
    return 0;
}
