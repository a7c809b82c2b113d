/* infer/session.c: sessions (KV cache + scratch allocated once, a queue on a private or shared pool), batched evaluation and
 * opening/closing models.
 *
 * infer_session_new() sizes every buffer from the model's hyperparameters, n_ctx and n_batch and
 * allocates it once (overflow-checked: the sizes come from the file); infer_eval() splits its
 * tokens into steps of at most n_batch and runs the architecture's forward pass (m->ops) on each,
 * which only writes these buffers; the cache's shape also comes from m->ops. Invariants: 0 <= n_past <= n_ctx; the KV cache holds valid rows for
 * positions [0, n_past), except that sliding-window layers (gpt-oss) keep a ring of their window
 * plus one step (kv_cell0, swa_cells; infer_session_truncate re-evaluates a prefix the ring lost),
 * and recurrent layers (qwen3next) keep no cache but a state in s->rs (m->ops->rs_size; truncation
 * goes through m->ops->rollback). A session is used by one thread at a time; the model it borrows is
 * read-only. Profiling (infer_session_profile): s->prof holds lap timers that the forward pass marks
 * with model_prof_mark() (model.h) and the pool's per-thread counters; allocated when turned on,
 * never inside a forward pass. Tests: tests/infer/test_model.c, test_conformance.c,
 * test_model_cli.c (bench --profile). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/layers.h"

void infer_session_params_default(struct infer_session_params *p)
{
    memset(p, 0, sizeof *p);
}

size_t session_matmul_scratch(const struct infer_model *m, int n_tok)
{
    const struct model_hparams *hp = &m->hp;
    size_t best = kern_matmul_scratch_bytes(m->output.type, hp->n_embd, n_tok);
    for (int il = 0; il < hp->n_layer + hp->n_nextn; il++) {
        const struct model_layer *L = &m->layers[il];
        const struct model_w *ws[] = {&L->eh_proj, &L->sh_head, &L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up,
                                      &L->ffn_down, &L->gate_inp, &L->gate_exps, &L->up_exps,
                                      &L->down_exps, &L->gate_shexp, &L->up_shexp, &L->down_shexp,
                                      &L->wq_a, &L->wq_b, &L->wkv_a, &L->wk_b, &L->wv_b};
        for (size_t i = 0; i < KB_ARRAY_LEN(ws); i++) {
            if (!ws[i]->data)
                continue;
            size_t b = kern_matmul_scratch_bytes(ws[i]->type, ws[i]->ne[0], n_tok);
            if (b > best)
                best = b;
        }
    }
    return best;
}

/* Element counts of every buffer, shared by the estimate and the allocation. */
struct sizes {
    size_t kv_k, kv_v, x, q, k, v, att, ff, scores, rope, logits;
    size_t r_logits, r_slots, e_rows, e_out, kv_lat, q_lat, q_abs, h, o_lat, hits, mtp;
};

static void sizes_of(const struct infer_model *m, int n_ctx, int T, int n_threads, struct sizes *z)
{
    const struct model_hparams *hp = &m->hp;
    struct arch_kv kv;
    memset(z, 0, sizeof *z);
    bool mla = hp->kv_lora_rank > 0;
    size_t C = (size_t)hp->kv_lora_rank, R = (size_t)hp->n_rot;
    m->ops->kv_shape(m, &kv);
    size_t cells = 0;
    for (int il = 0; il < hp->n_layer + hp->n_nextn; il++) /* NextN blocks: after the main layers */
        cells += (size_t)model_kv_cells(hp, il, n_ctx, T);
    z->mtp = hp->n_nextn > 0 ? (size_t)T * hp->n_embd : 0;
    z->kv_k = cells * kv.k_row;
    z->kv_v = cells * kv.v_row;
    if (!m->ops->forward) /* encoders keep no cache */
        z->kv_k = z->kv_v = 0;
    z->x = (size_t)T * hp->n_embd;
    z->q = (size_t)T * hp->n_head * hp->head_dim;
    z->k = (size_t)T * hp->n_head_kv * hp->head_dim;
    z->v = (size_t)T * hp->n_head_kv * hp->head_dim_v;
    z->att = (size_t)T * hp->n_head * hp->head_dim_v;
    z->ff = (size_t)T * KB_MAX(hp->n_ff, KB_MAX(hp->n_ff_exp, hp->n_ff_shexp));
    if (hp->n_expert > 0) {
        z->r_logits = (size_t)T * hp->n_expert;
        z->r_slots = (size_t)T * hp->n_expert_used;
        z->e_rows = (size_t)T * hp->n_expert;
        z->e_out = KB_MAX(z->r_slots * hp->n_embd, moe_gen_scratch_floats(hp));
        z->hits = (size_t)(hp->n_layer + hp->n_nextn) * hp->n_expert;
    }
    if (mla) {
        z->kv_lat = (size_t)T * (C + R);
        z->q_lat = (size_t)T * KB_MAX(hp->q_lora_rank, 1);
        z->q_abs = (size_t)T * hp->n_head * (C + R);
        z->h = (size_t)T * KB_MAX(C, (size_t)KB_MAX(hp->n_nope, hp->head_dim_v));
        z->o_lat = (size_t)T * hp->n_head * C;
    }
    z->scores = (size_t)n_threads * ATT_SCORE_ROWS * n_ctx;
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
    uint64_t f = 3 * z.x + z.q + z.k + z.v + z.att + 2 * z.ff + z.scores + z.rope + z.logits +
                 z.r_logits + 2 * z.r_slots + z.e_rows + z.e_out + 2 * z.x + z.kv_lat + z.q_lat +
                 z.q_abs + 2 * z.h + z.o_lat + 2 * z.hits + 3 * z.mtp;
    if (m->ops->rs_size) {
        size_t st = 0, sc = 0;
        m->ops->rs_size(m, n_batch, 2, &st, &sc);
        f += 2 * st + sc;
    }
    if (m->hp.idx_top_k > 0) /* deepseek32's top-k masks and indexer scratch */
        f += (uint64_t)n_batch * n_ctx + deepseek32_scratch(m, n_batch, n_ctx, 2);
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
    free(s->att_tmp);
    free(s->rope_cs);
    free(s->xq);
    free(s->logits);
    free(s->hist);
    free(s->kv_cell0);
    free(s->r_logits);
    free(s->r_ids);
    free(s->r_w);
    free(s->e_rows);
    free(s->e_count);
    free(s->e_x);
    free(s->e_out);
    free(s->sh_out);
    free(s->kv_lat);
    free(s->q_lat);
    free(s->q_abs);
    free(s->h_in);
    free(s->h_out);
    free(s->o_lat);
    free(s->expert_hits);
    free(s->mtp_in);
    free(s->mtp_h);
    free(s->mtp_logits);
    free(s->prof);
    free(s->rs);
    free(s->rs_snap);
    free(s->rs_tmp);
    free(s->dsa_bias);
    free(s->dsa_tmp);
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
    rc = p->pool ? kern_pool_new_on(&s->pool, p->pool, err) : kern_pool_new(&s->pool, p->n_threads, err);
    if (rc)
        goto out_free;
    sizes_of(m, s->n_ctx, s->n_batch, kern_pool_n_threads(s->pool), &z);
    el = s->kv_f32 ? 4 : 2;
    s->k_cache = kb_try_malloc(KB_MAX(z.kv_k, 1), el);
    s->v_cache = kb_try_malloc(KB_MAX(z.kv_v, 1), el);
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
    {
        const struct model_hparams *hp = &m->hp;
        struct arch_kv kv;
        m->ops->kv_shape(m, &kv);
        int d = KB_MAX(KB_MAX(hp->head_dim, hp->head_dim_v), kv.att_dim);
        /* also holds one row of attention weights, a V row in F16 while the cache is written, and
         * (2 x att_tmp_dim floats) ATT_SCORE_ROWS + 1 rows of d values (MLA's head groups) */
        s->att_tmp_dim = KB_MAX(KB_MAX(KB_MAX(d, s->n_ctx), hp->n_head_kv * hp->head_dim_v),
                                ((ATT_SCORE_ROWS + 1) * d + 1) / 2);
        s->att_tmp = kb_try_malloc((size_t)kern_pool_n_threads(s->pool) * 2,
                                   (size_t)s->att_tmp_dim * sizeof(float));
    }
    s->rope_cs = kb_try_malloc(z.rope, sizeof(float));
    s->logits = kb_try_malloc(z.logits, sizeof(float));
    s->hist = kb_try_malloc((size_t)s->n_ctx, sizeof(int32_t));
    if ((m->hp.n_swa > 0 || m->ops->rs_size) && m->ops->forward) { /* rings, recurrent layers: first cells */
        if (m->hp.n_swa > 0)
            s->swa_cells = KB_MIN(s->n_ctx, m->hp.n_swa + s->n_batch - 1);
        s->kv_cell0 = kb_xcalloc((size_t)m->hp.n_layer + 1, sizeof *s->kv_cell0);
        for (int il = 0; il < m->hp.n_layer; il++)
            s->kv_cell0[il + 1] = s->kv_cell0[il] + (size_t)model_kv_cells(&m->hp, il, s->n_ctx, s->n_batch);
    }
    bool rs_ok = true;
    s->rs_snap_pos = -1;
    if (m->ops->rs_size) { /* recurrent layers: state, its snapshot, scratch (arch_qwen3next.c) */
        size_t st = 0, sc = 0;
        m->ops->rs_size(m, s->n_batch, kern_pool_n_threads(s->pool), &st, &sc);
        s->rs_floats = st;
        s->rs = kb_try_calloc(KB_MAX(st, 1), sizeof(float));
        s->rs_snap = kb_try_malloc(KB_MAX(st, 1), sizeof(float));
        s->rs_tmp = kb_try_malloc(KB_MAX(sc, 1), sizeof(float));
        rs_ok = s->rs && s->rs_snap && s->rs_tmp;
    }
    if (m->hp.idx_top_k > 0 && m->ops->forward) { /* deepseek32: top-k masks, indexer scratch */
        s->dsa_bias = kb_try_malloc((size_t)s->n_batch * (size_t)s->n_ctx, sizeof(float));
        s->dsa_tmp = kb_try_malloc(deepseek32_scratch(m, s->n_batch, s->n_ctx, kern_pool_n_threads(s->pool)),
                                   sizeof(float));
        rs_ok = rs_ok && s->dsa_bias && s->dsa_tmp;
    }
    s->xq_bytes = session_matmul_scratch(m, s->n_batch);
    s->xq = kb_try_malloc(s->xq_bytes ? s->xq_bytes : 1, 1);
    bool moe_ok = true, mla_ok = true;
    if (z.r_logits) {
        s->r_logits = kb_try_malloc(z.r_logits, sizeof(float));
        s->r_ids = kb_try_malloc(z.r_slots, sizeof(int32_t));
        s->r_w = kb_try_malloc(z.r_slots, sizeof(float));
        s->e_rows = kb_try_malloc(z.e_rows, sizeof(int32_t));
        s->e_count = kb_try_calloc((size_t)m->hp.n_expert, sizeof(int));
        s->e_x = kb_try_malloc(z.x, sizeof(float));
        s->e_out = kb_try_malloc(z.e_out, sizeof(float));
        s->sh_out = kb_try_malloc(z.x, sizeof(float));
        s->expert_hits = kb_try_calloc(z.hits, sizeof(uint64_t));
        moe_ok = s->r_logits && s->r_ids && s->r_w && s->e_rows && s->e_count && s->e_x &&
                 s->e_out && s->sh_out && s->expert_hits;
    }
    if (z.kv_lat) {
        s->kv_lat = kb_try_malloc(z.kv_lat, sizeof(float));
        s->q_lat = kb_try_malloc(z.q_lat, sizeof(float));
        s->q_abs = kb_try_malloc(z.q_abs, sizeof(float));
        s->h_in = kb_try_malloc(z.h, sizeof(float));
        s->h_out = kb_try_malloc(z.h, sizeof(float));
        s->o_lat = kb_try_malloc(z.o_lat, sizeof(float));
        mla_ok = s->kv_lat && s->q_lat && s->q_abs && s->h_in && s->h_out && s->o_lat;
    }
    s->mtp_done_pos = -1;
    if (z.mtp && !p->no_mtp) {
        s->mtp_in = kb_try_malloc(2 * z.mtp, sizeof(float));
        s->mtp_h = kb_try_malloc(z.mtp, sizeof(float));
        s->mtp_logits = kb_try_malloc(z.logits, sizeof(float));
        s->mtp_on = s->mtp_in && s->mtp_h && s->mtp_logits;
        if (!s->mtp_on)
            moe_ok = false;
    }
    if (!s->k_cache || !s->v_cache || !s->x || !s->xn || !s->tmp || !s->q || !s->k || !s->v ||
        !s->att || !s->ff_g || !s->ff_u || !s->scores || !s->att_tmp || !s->rope_cs || !s->logits || !s->hist ||
        !s->xq || !moe_ok || !mla_ok || !rs_ok) {
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
void infer_session_reset(struct infer_session *s)
{
    s->n_past = 0;
    s->kv_hi = 0;
}

void infer_session_truncate(struct infer_session *s, int n)
{
    /* rows at positions >= n stay in memory but are dead: attention reads [0, n_past) only, and
     * the next eval overwrites them (K/V rows, MLA latent + rope key rows and hist alike) */
    n = KB_MAX(0, KB_MIN(n, s->n_past));
    if (s->m->ops->rollback && n < s->n_past) { /* recurrent state: the architecture rewinds it */
        s->m->ops->rollback(s, n);
        return;
    }
    s->n_past = n;
    /* A sliding layer's ring holds positions [kv_hi - swa_cells, kv_hi): going back further than
     * that lost window keys the next token at n needs, so the kept prefix is evaluated again
     * from the tokens in hist (valid ids: this cannot fail). Rolling back one step's drafts never
     * gets here (swa_cells = n_swa + n_batch - 1). */
    if (s->swa_cells > 0 && n > 0 && KB_MAX(0, n - s->m->hp.n_swa + 1) < s->kv_hi - s->swa_cells) {
        struct kb_error err = {0};
        s->n_past = 0;
        s->kv_hi = 0;
        (void)infer_eval(s, s->hist, n, NULL, false, &err);
    }
}

const int32_t *infer_session_tokens(const struct infer_session *s, int *n_out)
{
    *n_out = s->n_past;
    return s->hist;
}

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
    if (!s->m->ops->forward)
        return kb_error_set(err, KB_EINVAL, "eval: '%s' is an encoder; use infer_embed",
                            s->m->arch_name);
    for (int done = 0; done < n;) {
        int step = KB_MIN(s->n_batch, n - done);
        bool last_step = done + step == n;
        float *lg = NULL;
        if (logits && all_logits)
            lg = logits + (size_t)done * hp->n_vocab;
        else if (logits && last_step)
            lg = logits;
        uint64_t t0 = s->prof ? model_prof_now() : 0;
        if (s->prof)
            s->prof->t_last = t0;
        s->m->ops->forward(s, tokens + done, step, lg, all_logits, false);
        if (s->prof) {
            model_prof_mark(s, INFER_PROF_NORM); /* what the pass left unmarked */
            s->prof->n_steps++;
            s->prof->step_ns += s->prof->t_last - t0;
        }
        memmove(s->hist + s->n_past, tokens + done, (size_t)step * sizeof(int32_t)); /* may be hist itself */
        s->n_past += step;
        s->kv_hi = KB_MAX(s->kv_hi, s->n_past);
        done += step;
    }
    return 0;
}

uint64_t model_prof_now(void)
{
    return (uint64_t)(kb_now_s() * 1e9);
}

void infer_session_profile(struct infer_session *s, bool on)
{
    if (on) {
        if (!s->prof)
            s->prof = kb_xmalloc(sizeof *s->prof);
        memset(s->prof, 0, sizeof *s->prof);
    } else {
        free(s->prof);
        s->prof = NULL;
    }
    kern_pool_prof(s->pool, on);
}

void infer_session_profile_get(const struct infer_session *s, struct infer_profile *out)
{
    struct kern_pool_prof pp;
    memset(out, 0, sizeof *out);
    if (!s->prof)
        return;
    const struct model_prof *p = s->prof;
    out->n_steps = p->n_steps;
    out->step_s = p->step_ns * 1e-9;
    for (int i = 0; i < INFER_PROF_N; i++)
        out->phase_s[i] = p->phase_ns[i] * 1e-9;
    for (int i = 0; i < INFER_PROF_MAX_THREADS; i++) {
        out->routed_thr_s += p->thr[i].routed_ns * 1e-9;
        out->shared_thr_s += p->thr[i].shared_ns * 1e-9;
    }
    kern_pool_prof_read(s->pool, &pp);
    out->n_threads = kern_pool_n_threads(s->pool);
    out->n_jobs = pp.jobs;
    for (int i = 0; i < pp.n_threads && i < INFER_PROF_MAX_THREADS; i++) {
        out->busy_s[i] = pp.busy_ns[i] * 1e-9;
        out->items[i] = (double)pp.items[i];
    }
    out->barrier_wait_s = pp.wait_ns[0] * 1e-9;
}

const char *infer_prof_phase_name(int phase)
{
    static const char *const names[INFER_PROF_N] = {"norm", "attn_proj", "attn", "router",
                                                    "experts", "ffn_dense", "output"};
    return phase >= 0 && phase < INFER_PROF_N ? names[phase] : "?";
}

int infer_session_expert_stats(const struct infer_session *s, uint64_t *counts, size_t max_counts,
                               struct kb_error *err)
{
    const struct model_hparams *hp = &s->m->hp;
    size_t n = (size_t)hp->n_layer * hp->n_expert;
    if (!s->expert_hits)
        return kb_error_set(err, KB_EINVAL, "expert stats: the model has no experts");
    if (max_counts < n)
        return kb_error_set(err, KB_EINVAL, "expert stats: need room for %zu counts", n);
    memcpy(counts, s->expert_hits, n * sizeof *counts);
    return 0;
}

int infer_embed(struct infer_session *s, const int32_t *tokens, int n, float *pooled, float *per_token,
                bool normalize, struct kb_error *err)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int e = hp->n_embd;
    const float *h;
    if (n <= 0)
        return kb_error_set(err, KB_EINVAL, "embed: no tokens");
    if (n > s->n_batch)
        return kb_error_set(err, KB_ETOOBIG, "embed: %d tokens, at most %d per sequence", n,
                            s->n_batch);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return kb_error_set(err, KB_EINVAL, "embed: token id %d is outside the vocabulary (%d)",
                                (int)tokens[i], hp->n_vocab);
    if (m->pos_embd.data && n > m->pos_embd.ne[1]) /* learned positions (bert) */
        return kb_error_set(err, KB_ETOOBIG, "embed: %d tokens, the model has %lld positions", n,
                            (long long)m->pos_embd.ne[1]);
    s->n_past = 0;
    s->kv_hi = 0;
    h = m->ops->embed(s, tokens, n); /* an embedding keeps no context: n_past stays 0 */
    if (per_token)
        memcpy(per_token, h, (size_t)n * e * sizeof *per_token);
    if (!pooled)
        return 0;
    if (hp->pooling == 2 || hp->pooling == 3) {
        memcpy(pooled, h + (size_t)(hp->pooling == 2 ? 0 : n - 1) * e, (size_t)e * sizeof *pooled);
    } else {
        for (int i = 0; i < e; i++) {
            double acc = 0.0;
            for (int t = 0; t < n; t++)
                acc += h[(size_t)t * e + i];
            pooled[i] = (float)(acc / n);
        }
    }
    if (normalize) {
        double ss = 0.0;
        for (int i = 0; i < e; i++)
            ss += (double)pooled[i] * pooled[i];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int i = 0; i < e; i++)
            pooled[i] *= inv;
    }
    return 0;
}
