/* infer/arch_glm4moe.c: GLM-4.5 / GLM-4.5-Air (llama.cpp's glm4moe), and its NextN/MTP block used
 * as a draft model for speculative decoding.
 *
 * The file holds n_layer + n_nextn blocks (block_count); the last n_nextn are NextN blocks, which
 * the main forward skips, as llama.cpp does. Per main block (model_decoder_forward in layers.c):
 *   xn = rmsnorm(x) * attn_norm
 *   q,k,v = xn Wq + bq, xn Wk + bk, xn Wv + bv; optional per-head Q/K RMSNorm (GLM-4.5 355B)
 *   NEOX rope on the first n_rot values of each head (rope.dimension_count: half the head in
 *     GLM-4.5), attention as arch_llama.c's (model_attention_gqa), scale 1/sqrt(head_dim)
 *   x += att Wo
 *   xn = rmsnorm(x) * post_attention_norm (bound as ffn_norm)
 *   x += dense SwiGLU FFN (the first leading_dense_block_count blocks), else
 *        MoE(xn) + shared experts(xn): sigmoid router probabilities, top-k picked on probability +
 *        exp_probs_b, weights = the picked probabilities, renormalised when expert_weights_norm,
 *        times expert_weights_scale (layers_moe.c, moe.c)
 *   logits = rmsnorm(x) * output_norm  Woutput
 * Defaults as llama.cpp's loader: gating sigmoid when expert_gating_func is absent,
 * expert_weights_norm false and no scale when absent. Files with rope sections (multimodal GLM,
 * llama.cpp's M-RoPE) are refused with an error.
 *
 * MTP (NextN, DeepSeek-V3's multi-token prediction as GLM-4.5 ships it; the maths of llama.cpp's
 * MTP graph): for position p with the main model's hidden state h_p (after output_norm) and the
 * token t_{p+1} that follows it,
 *   x = eh_proj [rmsnorm(embd(t_{p+1})) * enorm ; rmsnorm(h_p) * hnorm]
 *   x = the NextN block (attention over its own KV cache at position p, then its MoE FFN)
 *   logits = rmsnorm(x) * shared_head_norm (else output_norm)  W (shared_head_head, else output)
 * whose argmax drafts t_{p+2}. The row sits in cell p of the block's cache but is rotated for
 * position p + 1, the token's (llama.cpp's MTP batches put it there; only differences of
 * positions matter, so this changes rounding, not maths). The session keeps the NextN block's cache current: each forward
 * step also runs the block over every row whose next token it knows (the previous step's last
 * row with this step's first token, then this step's rows but the last), from the normed hidden
 * rows it keeps in s->mtp_h; model_mtp_draft() runs the pending last row with the sampled token
 * and returns the draft. Stale rows past a rollback are rewritten before any later row reads
 * them (rows are written in position order and attention is causal). Nothing here allocates.
 * Tests: tests/infer/test_glm4moe_conf.c (against llama.cpp's logits), tests/infer/test_spec.c
 * (MTP drafts give the same tokens as plain greedy decoding). */
#include <stdio.h>
#include <string.h>

#include "infer/layers.h"
#include "infer/moe.h"

static int glm4moe_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc, n_shared = 0, gating = 0;
    char full[128];
    bool b;
    if ((rc = model_hp_u32(m, "nextn_predict_layers", &hp->n_nextn, false, err)) ||
        (rc = model_hp_u32(m, "expert_shared_count", &n_shared, false, err)) ||
        (rc = model_hp_u32(m, "expert_gating_func", &gating, false, err)))
        return rc;
    if (hp->n_nextn < 0 || hp->n_nextn >= hp->n_layer)
        return kb_error_set(err, KB_ECORRUPT, "model: glm4moe.nextn_predict_layers = %d of %d blocks",
                            hp->n_nextn, hp->n_layer);
    hp->n_layer -= hp->n_nextn;
    if (hp->n_layer_dense_lead > hp->n_layer)
        return kb_error_set(err, KB_ECORRUPT, "model: %d leading dense blocks of %d", hp->n_layer_dense_lead,
                            hp->n_layer);
    if (gating == 0)
        hp->gating = MOE_GATING_SIGMOID;
    hp->n_ff_shexp = hp->n_ff_exp * n_shared;
    snprintf(full, sizeof full, "%s.expert_weights_norm", m->arch_name);
    hp->expert_norm = gguf_get_bool(m->gf, full, &b) && b;
    model_hp_f32(m, "expert_weights_scale", &hp->expert_scale);
    if (hp->head_dim_v != hp->head_dim)
        return kb_error_set(err, KB_ECORRUPT, "model: glm4moe key and value heads differ (%d, %d)", hp->head_dim,
                            hp->head_dim_v);
    /* multimodal GLM files rotate by sections (llama.cpp's M-RoPE when the first two are set) */
    enum gguf_vtype vt;
    uint64_t n = 0;
    const void *d;
    snprintf(full, sizeof full, "%s.rope.dimension_sections", m->arch_name);
    if (gguf_get_arr(m->gf, full, &vt, &n, &d) && n >= 2 && (vt == GGUF_VT_I32 || vt == GGUF_VT_U32)) {
        int32_t sec[2];
        memcpy(sec, d, sizeof sec);
        if (sec[0] > 0 && sec[1] > 0)
            return kb_error_set(err, KB_EFORMAT, "model: glm4moe with rope sections (M-RoPE) is not supported");
    }
    return 0;
}

/* Block il: attention with biases, post_attention_norm, the dense or MoE FFN, and for a NextN
 * block its own tensors. */
static int glm4moe_bind_layer(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, E = hp->n_expert, F = hp->n_ff_exp, S = hp->n_ff_shexp, hd = hp->head_dim;
    int64_t nq = hp->n_head * hd, nk = hp->n_head_kv * hd;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, c, opt)                                                                 \
    do {                                                                                                   \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                                  \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, c, opt, err)) != 0)                               \
            return rc;                                                                                     \
    } while (0)
    B(attn_norm, "attn_norm.weight", 1, e, 1, 1, false);
    B(wq, "attn_q.weight", 2, e, nq, 1, false);
    B(wk, "attn_k.weight", 2, e, nk, 1, false);
    B(wv, "attn_v.weight", 2, e, nk, 1, false);
    B(wo, "attn_output.weight", 2, nq, e, 1, false);
    B(bq, "attn_q.bias", 1, nq, 1, 1, true);
    B(bk, "attn_k.bias", 1, nk, 1, 1, true);
    B(bv, "attn_v.bias", 1, nk, 1, 1, true);
    B(q_norm, "attn_q_norm.weight", 1, hd, 1, 1, true);
    B(k_norm, "attn_k_norm.weight", 1, hd, 1, 1, true);
    B(ffn_norm, "post_attention_norm.weight", 1, e, 1, 1, false);
    L->moe = il >= hp->n_layer_dense_lead;
    if (!L->moe) {
        B(ffn_gate, "ffn_gate.weight", 2, e, hp->n_ff, 1, false);
        B(ffn_up, "ffn_up.weight", 2, e, hp->n_ff, 1, false);
        B(ffn_down, "ffn_down.weight", 2, hp->n_ff, e, 1, false);
    } else {
        B(gate_inp, "ffn_gate_inp.weight", 2, e, E, 1, false);
        B(exp_probs_b, "exp_probs_b.bias", 1, E, 1, 1, false);
        B(gate_exps, "ffn_gate_exps.weight", 3, e, F, E, false);
        B(up_exps, "ffn_up_exps.weight", 3, e, F, E, false);
        B(down_exps, "ffn_down_exps.weight", 3, F, e, E, false);
        if (S > 0) {
            B(gate_shexp, "ffn_gate_shexp.weight", 2, e, S, 1, false);
            B(up_shexp, "ffn_up_shexp.weight", 2, e, S, 1, false);
            B(down_shexp, "ffn_down_shexp.weight", 2, S, e, 1, false);
        }
    }
#undef B
    return il >= hp->n_layer ? model_bind_nextn(m, il, err) : 0;
}

int model_bind_nextn(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, opt)                                                                    \
    do {                                                                                                   \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                                  \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, 1, opt, err)) != 0)                               \
            return rc;                                                                                     \
    } while (0)
    B(eh_proj, "nextn.eh_proj.weight", 2, 2 * e, e, false);
    B(enorm, "nextn.enorm.weight", 1, e, 1, false);
    B(hnorm, "nextn.hnorm.weight", 1, e, 1, false);
    B(sh_norm, "nextn.shared_head_norm.weight", 1, e, 1, true);
    B(sh_head, "nextn.shared_head_head.weight", 2, e, hp->n_vocab, true);
    B(nx_embd, "nextn.embed_tokens.weight", 2, e, hp->n_vocab, true);
#undef B
    return 0;
}

static int glm4moe_bind(struct infer_model *m, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    int rc;
    if ((rc = model_bind_io(m, hp->n_layer + hp->n_nextn, err)))
        return rc;
    for (int il = 0; il < hp->n_layer + hp->n_nextn; il++)
        if ((rc = glm4moe_bind_layer(m, il, err)))
            return rc;
    return 0;
}

/* The first NextN block over n rows at positions pos0..: row t from the hidden state h[t] and
 * token tok[t]; its cache rows are written; logits (NULL: none) of the last row. */
static void mtp_rows(struct infer_session *s, const float *h, const int32_t *tok, int n, int pos0, float *logits)
{
    const struct infer_model *m = s->m;
    const struct model_hparams *hp = &m->hp;
    int il = hp->n_layer, e = hp->n_embd;
    const struct model_layer *L = &m->layers[il];
    const struct model_w *emb = L->nx_embd.data ? &L->nx_embd : &m->tok_embd;
    for (int t = 0; t < n; t++) {
        float *in = s->mtp_in + (size_t)t * 2 * e, *row = s->tmp + (size_t)t * e;
        kern.dequant[emb->type]((const uint8_t *)emb->data + (size_t)tok[t] * emb->row_bytes, row, e);
        model_rmsnorm(in, row, L->enorm.data, e, hp->rms_eps);
        model_rmsnorm(in + e, h + (size_t)t * e, L->hnorm.data, e, hp->rms_eps);
        model_rope_table(m, pos0 + t + 1, s->rope_cs + (size_t)t * hp->n_rot); /* the token's position */
    }
    model_matmul(s, &L->eh_proj, s->mtp_in, n, s->x);
    m->ops->attention(s, il, n, pos0, logits ? n - 1 : n);
    model_ffn_block(s, il, n, logits ? n - 1 : n);
    if (!logits)
        return;
    const struct model_w *nw = L->sh_norm.data ? &L->sh_norm : &m->out_norm;
    model_rmsnorm(s->xn, s->x + (size_t)(n - 1) * e, nw->data, e, hp->rms_eps);
    model_matmul(s, L->sh_head.data ? &L->sh_head : &m->output, s->xn, 1, logits);
}

/* Whether the session holds the main model's hidden state at position p. */
static bool mtp_has_h(const struct infer_session *s, int p)
{
    return p >= 0 && p >= s->mtp_h_pos0 && p < s->mtp_h_pos0 + s->mtp_h_n;
}

/* arch_ops.forward of models with NextN blocks: the main blocks (model_decoder_forward), then the
 * NextN rows this step makes known (see the file-top comment). */
void model_mtp_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                            bool keep_rows)
{
    const struct model_hparams *hp = &s->m->hp;
    int pos0 = s->n_past, e = hp->n_embd;
    if (!s->mtp_on) {
        model_decoder_forward(s, tok, n, logits, all, keep_rows);
        return;
    }
    /* the previous step's last row, now that its next token is here (unless a draft just did it) */
    if (mtp_has_h(s, pos0 - 1) && !(s->mtp_done_pos == pos0 - 1 && s->mtp_done_tok == tok[0]))
        mtp_rows(s, s->mtp_h + (size_t)(pos0 - 1 - s->mtp_h_pos0) * e, tok, 1, pos0 - 1, NULL);
    s->mtp_done_pos = -1;
    /* keep every row's final state: the NextN block reads them all */
    model_decoder_forward(s, tok, n, logits, all, true);
    for (int t = 0; t < n; t++)
        model_rmsnorm(s->mtp_h + (size_t)t * e, s->x + (size_t)t * e, s->m->out_norm.data, e, hp->rms_eps);
    s->mtp_h_pos0 = pos0;
    s->mtp_h_n = n;
    if (n > 1)
        mtp_rows(s, s->mtp_h, tok + 1, n - 1, pos0, NULL);
}

int32_t model_mtp_draft(struct infer_session *s, int32_t next)
{
    const struct model_hparams *hp = &s->m->hp;
    int p = s->n_past - 1;
    if (!s->mtp_on || hp->n_nextn < 1 || !mtp_has_h(s, p) || next < 0 || next >= hp->n_vocab)
        return -1;
    mtp_rows(s, s->mtp_h + (size_t)(p - s->mtp_h_pos0) * hp->n_embd, &next, 1, p, s->mtp_logits);
    s->mtp_done_pos = p;
    s->mtp_done_tok = next;
    int32_t best = 0;
    for (int i = 1; i < hp->n_vocab; i++)
        if (s->mtp_logits[i] > s->mtp_logits[best])
            best = i;
    return best;
}

const struct arch_ops arch_glm4moe_ops = {
    .name = "glm4moe", .rope_neox = true, .yarn_mscale = true, .experts = ARCH_EXPERTS_ALWAYS,
    .expert_norm = false, .hparams = glm4moe_hparams, .bind = glm4moe_bind, .forward = model_mtp_forward,
    .attention = model_attention_gqa, .embed = model_decoder_embed, .kv_shape = model_kv_shape_gqa,
};
