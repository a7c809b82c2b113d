/* infer/model.c: opening a model: the GGUF mapping, the architecture, hyperparameters and tensor
 * views, validation, and the memory estimate.
 *
 * Flow: gguf_open() maps and validates the file; model_load() picks the architecture's ops ONCE
 * from general.architecture through arch_table (the only place an architecture is named), reads
 * the common `<arch>.*` metadata with the same defaults llama.cpp uses (rope base 10000, head_dim =
 * n_embd/n_head, rope dims = head_dim, vocab size from the token list), steered by the ops' flags,
 * then the architecture's own keys (ops->hparams), then binds every tensor by its llama.cpp name
 * (ops->bind; decoders through model_bind_decoder here), checking its type is supported and its
 * shape is exactly what the hyperparameters imply, so the forward pass can trust every view.
 * Nothing is copied: a model_w points into the read-only mapping. Tests: tests/infer/test_model.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "infer/model.h"
#include "infer/moe.h"
#include "infer/synth.h"

/* The one place an architecture is chosen: general.architecture -> its ops. */
static const struct arch_ops *const arch_table[] = {&arch_llama_ops,    &arch_qwen2_ops,     &arch_qwen3_ops,
                                                    &arch_qwen2moe_ops, &arch_qwen3moe_ops, &arch_deepseek2_ops,
                                                    &arch_bert_ops,     &arch_gptoss_ops,
                                                    &arch_qwen3next_ops, &arch_qwen35moe_ops, &arch_glm4moe_ops,
                                                    &arch_deepseek32_ops};

/* `<arch>.<key>` as u32 into *out; absent keeps the default, present but bad is an error. */
int model_hp_u32(const struct infer_model *m, const char *key, int *out, bool required, struct kb_error *err)
{
    char full[128];
    uint32_t v;
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    if (gguf_get_u32(m->gf, full, &v)) {
        if (v > (1u << 30))
            return kb_error_set(err, KB_ECORRUPT, "model: %s = %u is out of range", full, v);
        *out = (int)v;
        return 0;
    }
    if (gguf_find_kv(m->gf, full))
        return kb_error_set(err, KB_ECORRUPT, "model: %s is not an unsigned integer", full);
    if (required)
        return kb_error_set(err, KB_ECORRUPT, "model: missing metadata key %s", full);
    return 0;
}

void model_hp_f32(const struct infer_model *m, const char *key, float *out)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    (void)gguf_get_f32(m->gf, full, out);
}

static void copy_str(const struct gguf_file *f, const char *key, char *dst, size_t dst_bytes)
{
    const char *s;
    size_t n;
    dst[0] = 0;
    if (gguf_get_str(f, key, &s, &n)) {
        if (n >= dst_bytes)
            n = dst_bytes - 1;
        memcpy(dst, s, n);
        dst[n] = 0;
    }
}

/* Binds tensor `name` expecting shape ne[0..n_dims) (ne[i] > 0). Absent: error unless optional. */
int model_bind(const struct infer_model *m, struct model_w *w, const char *name, int n_dims, int64_t ne0,
               int64_t ne1, int64_t ne2, bool optional, struct kb_error *err)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->gf, name);
    int64_t want[4] = {ne0, ne1, ne2, 1};
    memset(w, 0, sizeof *w);
    if (!t) {
        if (optional)
            return 0;
        return kb_error_set(err, KB_ECORRUPT, "model: missing tensor '%s'", name);
    }
    if (!ggml_type_supported(t->type))
        return kb_error_set(err, KB_EFORMAT, "model: tensor '%s' has unsupported type %d", name,
                            t->type);
    for (int i = 0; i < 4; i++) {
        int64_t e = i < n_dims ? want[i] : 1;
        if (t->ne[i] != e)
            return kb_error_set(err, KB_ECORRUPT,
                                "model: tensor '%s' has shape [%lld,%lld,%lld], expected "
                                "[%lld,%lld,%lld]",
                                name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                                (long long)want[0], (long long)(n_dims > 1 ? want[1] : 1),
                                (long long)(n_dims > 2 ? want[2] : 1));
    }
    w->row_bytes = ggml_row_bytes(t->type, t->ne[0]);
    if (w->row_bytes == 0)
        return kb_error_set(err, KB_ECORRUPT, "model: tensor '%s': row of %lld is not a whole "
                            "number of %s blocks", name, (long long)t->ne[0],
                            ggml_type_info(t->type)->name);
    /* 1-D vectors (norms, biases) are read as floats directly: keep them F32. */
    if (n_dims == 1 && t->type != GGML_TYPE_F32)
        return kb_error_set(err, KB_EFORMAT, "model: vector '%s' must be F32", name);
    w->data = t->data;
    w->type = t->type;
    memcpy(w->ne, t->ne, sizeof w->ne);
    return 0;
}

/* ffn_norm and the dense or MoE FFN of layer il. */
static int bind_ffn(struct infer_model *m, int il, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    struct model_layer *L = &m->layers[il];
    int64_t e = hp->n_embd, E = hp->n_expert;
    char nm[96];
    int rc = 0;
#define B(field, suffix, nd, a, b, c, opt)                                                         \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);                                          \
        if ((rc = model_bind(m, &L->field, nm, nd, a, b, c, opt, err)) != 0)                       \
            return rc;                                                                             \
    } while (0)
    B(ffn_norm, "ffn_norm.weight", 1, e, 1, 1, false);
    L->moe = hp->n_expert > 0 && il >= hp->n_layer_dense_lead;
    if (!L->moe) {
        B(ffn_gate, "ffn_gate.weight", 2, e, hp->n_ff, 1, false);
        B(ffn_up, "ffn_up.weight", 2, e, hp->n_ff, 1, false);
        B(ffn_down, "ffn_down.weight", 2, hp->n_ff, e, 1, false);
        return 0;
    }
    B(gate_inp, "ffn_gate_inp.weight", 2, e, E, 1, false);
    B(exp_probs_b, "exp_probs_b.bias", 1, E, 1, 1, true);
    B(gate_exps, "ffn_gate_exps.weight", 3, e, hp->n_ff_exp, E, false);
    B(up_exps, "ffn_up_exps.weight", 3, e, hp->n_ff_exp, E, false);
    B(down_exps, "ffn_down_exps.weight", 3, hp->n_ff_exp, e, E, false);
    if (hp->n_ff_shexp > 0) {
        B(gate_shexp, "ffn_gate_shexp.weight", 2, e, hp->n_ff_shexp, 1, false);
        B(up_shexp, "ffn_up_shexp.weight", 2, e, hp->n_ff_shexp, 1, false);
        B(down_shexp, "ffn_down_shexp.weight", 2, hp->n_ff_shexp, e, 1, false);
    }
    if (m->ops->shexp_gate)
        B(gate_inp_shexp, "ffn_gate_inp_shexp.weight", 1, e, 1, 1, false);
#undef B
    return rc;
}

int model_bind_io(struct infer_model *m, int n_layers, struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    int rc;
    if ((rc = model_bind(m, &m->tok_embd, "token_embd.weight", 2, hp->n_embd, hp->n_vocab, 1, false, err)) ||
        (rc = model_bind(m, &m->out_norm, "output_norm.weight", 1, hp->n_embd, 1, 1, false, err)) ||
        (rc = model_bind(m, &m->output, "output.weight", 2, hp->n_embd, hp->n_vocab, 1, true, err)))
        return rc;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    m->layers = kb_xcalloc((size_t)n_layers, sizeof *m->layers);
    return 0;
}

int model_bind_decoder(struct infer_model *m, int (*bind_attention)(struct infer_model *m, int il, struct kb_error *err),
                       struct kb_error *err)
{
    const struct model_hparams *hp = &m->hp;
    char nm[96];
    int rc;
    if ((rc = model_bind_io(m, hp->n_layer, err)) ||
        (rc = model_bind(m, &m->rope_freqs, "rope_freqs.weight", 1, hp->n_rot / 2, 1, 1, true, err)))
        return rc;
    for (int il = 0; il < hp->n_layer; il++) {
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", il);
        if ((rc = model_bind(m, &m->layers[il].attn_norm, nm, 1, hp->n_embd, 1, 1, false, err)) ||
            (rc = bind_attention(m, il, err)) || (rc = bind_ffn(m, il, err)))
            return rc;
    }
    return 0;
}

/* Mixture-of-experts and MLA hyperparameters, with llama.cpp's per-architecture defaults. */
static int load_moe_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc, n_shared = 0, n_group_used = 0, gating = 0;
    if ((rc = model_hp_u32(m, "expert_count", &hp->n_expert, false, err)) ||
        (rc = model_hp_u32(m, "expert_used_count", &hp->n_expert_used, false, err)))
        return rc;
    if (m->ops->experts == ARCH_EXPERTS_ALWAYS && hp->n_expert == 0)
        return kb_error_set(err, KB_ECORRUPT, "model: %s without expert_count", m->arch_name);
    if (m->ops->experts == ARCH_EXPERTS_NEVER && hp->n_expert > 0)
        return kb_error_set(err, KB_EFORMAT, "model: %s with experts is not supported",
                            m->arch_name);
    if (hp->n_expert == 0)
        return 0;
    if (hp->n_expert > MOE_MAX_EXPERTS || hp->n_expert_used <= 0 ||
        hp->n_expert_used > hp->n_expert || hp->n_expert_used > MOE_MAX_USED)
        return kb_error_set(err, KB_ECORRUPT, "model: %d experts with %d used per token",
                            hp->n_expert, hp->n_expert_used);
    hp->n_ff_exp = m->ops->ff_exp_is_n_ff ? hp->n_ff : 0;
    if ((rc = model_hp_u32(m, "expert_feed_forward_length", &hp->n_ff_exp, false, err)) ||
        (rc = model_hp_u32(m, "expert_shared_feed_forward_length", &hp->n_ff_shexp, false, err)) ||
        (rc = model_hp_u32(m, "expert_shared_count", &n_shared, false, err)) ||
        (rc = model_hp_u32(m, "leading_dense_block_count", &hp->n_layer_dense_lead, false, err)) ||
        (rc = model_hp_u32(m, "expert_gating_func", &gating, false, err)) ||
        (rc = model_hp_u32(m, "expert_group_count", &hp->n_group, false, err)) ||
        (rc = model_hp_u32(m, "expert_group_used_count", &n_group_used, false, err)))
        return rc;
    if (hp->n_ff_exp == 0)
        hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
    (void)n_shared; /* read (and checked) for every architecture; deepseek2's hparams hook uses it */
    hp->n_group_used = n_group_used;
    hp->gating = gating == 0 ? MOE_GATING_SOFTMAX : gating;
    if (hp->gating != MOE_GATING_SOFTMAX && hp->gating != MOE_GATING_SIGMOID && hp->gating != MOE_GATING_SOFTMAX_WEIGHT)
        return kb_error_set(err, KB_EFORMAT, "model: expert gating function %d is not supported",
                            gating);
    hp->expert_norm = m->ops->expert_norm;
    hp->expert_scale = 0.0f;
    if (hp->n_group > 1 && (hp->n_expert % hp->n_group != 0 || hp->n_group_used < 1 ||
                            hp->n_group_used > hp->n_group ||
                            hp->n_expert_used > hp->n_group_used * (hp->n_expert / hp->n_group) ||
                            hp->n_expert / hp->n_group < 2))
        return kb_error_set(err, KB_ECORRUPT, "model: bad expert groups (%d of %d)",
                            hp->n_group_used, hp->n_group);
    if (hp->n_ff_exp <= 0 || hp->n_layer_dense_lead < 0 || hp->n_layer_dense_lead > hp->n_layer)
        return kb_error_set(err, KB_ECORRUPT, "model: bad expert dimensions");
    return 0;
}

static int load_hparams(struct infer_model *m, struct kb_error *err)
{
    struct model_hparams *hp = &m->hp;
    int rc;
    memset(hp, 0, sizeof *hp);
    hp->n_ctx_train = 2048;
    if ((rc = model_hp_u32(m, "context_length", &hp->n_ctx_train, false, err)) ||
        (rc = model_hp_u32(m, "embedding_length", &hp->n_embd, true, err)) ||
        (rc = model_hp_u32(m, "block_count", &hp->n_layer, true, err)) ||
        (rc = model_hp_u32(m, "feed_forward_length", &hp->n_ff, !m->ops->ff_optional, err)) ||
        (rc = model_hp_u32(m, "attention.head_count", &hp->n_head, true, err)))
        return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = model_hp_u32(m, "attention.head_count_kv", &hp->n_head_kv, false, err)))
        return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ff < 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_layer > 4096)
        return kb_error_set(err, KB_ECORRUPT, "model: inconsistent dimensions (embd %d, layers %d, "
                            "heads %d/%d, ff %d)", hp->n_embd, hp->n_layer, hp->n_head,
                            hp->n_head_kv, hp->n_ff);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = model_hp_u32(m, "attention.key_length", &hp->head_dim, false, err)))
        return rc;
    hp->head_dim_v = hp->head_dim;
    if ((rc = model_hp_u32(m, "attention.value_length", &hp->head_dim_v, false, err)))
        return rc;
    hp->n_rot = hp->head_dim;
    if ((rc = model_hp_u32(m, "rope.dimension_count", &hp->n_rot, false, err)))
        return rc;
    if (hp->head_dim <= 0 || hp->head_dim_v <= 0 || hp->n_rot <= 0 || hp->n_rot > hp->head_dim ||
        hp->n_rot % 2 != 0)
        return kb_error_set(err, KB_ECORRUPT, "model: bad head/rope dimensions (%d, %d, rot %d)",
                            hp->head_dim, hp->head_dim_v, hp->n_rot);
    hp->rms_eps = 1e-5f;
    model_hp_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps);
    hp->rope_base = 10000.0f;
    model_hp_f32(m, "rope.freq_base", &hp->rope_base);
    hp->rope_freq_scale = 1.0f;
    hp->rope_mscale = 1.0f;
    {
        char full[128];
        const char *s;
        size_t n = 0;
        float factor = 0.0f;
        int n_ctx_orig = hp->n_ctx_train;
        snprintf(full, sizeof full, "%s.rope.scaling.type", m->arch_name);
        if (!gguf_get_str(m->gf, full, &s, &n))
            s = "none", n = 4;
        hp->yarn = n == 4 && memcmp(s, "yarn", 4) == 0;
        if (!hp->yarn && !(n == 6 && memcmp(s, "linear", 6) == 0) && !(n == 4 && memcmp(s, "none", 4) == 0))
            return kb_error_set(err, KB_EFORMAT, "model: rope scaling '%.*s' is not supported",
                                (int)KB_MIN(n, 32), s);
        model_hp_f32(m, "rope.scaling.factor", &factor);
        if (factor == 0.0f) {
            float lin = 0.0f;
            model_hp_f32(m, "rope.scale_linear", &lin);
            factor = lin;
        }
        if (factor > 0.0f)
            hp->rope_freq_scale = 1.0f / factor;
        if ((rc = model_hp_u32(m, "rope.scaling.original_context_length", &n_ctx_orig, false, err)))
            return rc;
        if (hp->yarn) {
            /* ggml_rope_yarn_corr_dims with beta_fast 32, beta_slow 1 */
            double base = hp->rope_base, nd = hp->n_rot;
            double lo = floor(nd * log(n_ctx_orig / (32.0 * 2 * M_PI)) / (2 * log(base)));
            double hi = ceil(nd * log(n_ctx_orig / (1.0 * 2 * M_PI)) / (2 * log(base)));
            hp->yarn_corr[0] = (float)fmax(0.0, lo);
            hp->yarn_corr[1] = (float)fmin(nd - 1, hi);
            if (m->ops->yarn_mscale) /* ggml's own magnitude correction */
                hp->rope_mscale = 1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale);
        }
    }
    if (!(hp->rope_base > 0.0f) || !isfinite(hp->rope_freq_scale) || !(hp->rms_eps > 0.0f))
        return kb_error_set(err, KB_ECORRUPT, "model: bad rope base, scale or rms epsilon");
    hp->rope_neox = m->ops->rope_neox;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->pooling = 3; /* decoders embed with their last token unless the file says otherwise */
    if ((rc = model_hp_u32(m, "pooling_type", &hp->pooling, false, err)))
        return rc;
    if ((rc = load_moe_hparams(m, err)))
        return rc;
    if (m->ops->hparams && (rc = m->ops->hparams(m, err)))
        return rc;
    return 0;
}

static int vocab_size(struct infer_model *m, struct kb_error *err)
{
    enum gguf_vtype t;
    uint64_t n = 0;
    const void *d;
    const struct gguf_tensor *te = gguf_find_tensor(m->gf, "token_embd.weight");
    int v = 0;
    int rc = model_hp_u32(m, "vocab_size", &v, false, err);
    if (rc)
        return rc;
    if (v == 0 && gguf_get_arr(m->gf, "tokenizer.ggml.tokens", &t, &n, &d))
        v = n > (1u << 30) ? 0 : (int)n;
    if (v == 0 && te)
        v = te->ne[1] > (1 << 30) ? 0 : (int)te->ne[1];
    if (v <= 0)
        return kb_error_set(err, KB_ECORRUPT, "model: cannot tell the vocabulary size");
    m->hp.n_vocab = v;
    return 0;
}

static int32_t tok_id(const struct gguf_file *f, const char *key)
{
    uint32_t v;
    return gguf_get_u32(f, key, &v) && v < (1u << 30) ? (int32_t)v : -1;
}

int model_load(struct infer_model *m, struct kb_error *err)
{
    int rc;
    copy_str(m->gf, "general.architecture", m->arch_name, sizeof m->arch_name);
    copy_str(m->gf, "general.name", m->name, sizeof m->name);
    copy_str(m->gf, "tokenizer.ggml.model", m->tok_model, sizeof m->tok_model);
    {
        const char *s;
        size_t n = 0;
        if (!gguf_get_str(m->gf, "tokenizer.chat_template", &s, &n))
            s = "", n = 0;
        m->chat_template = kb_xstrndup(s, n);
    }
    m->ops = NULL;
    for (size_t i = 0; i < KB_ARRAY_LEN(arch_table); i++)
        if (strcmp(m->arch_name, arch_table[i]->name) == 0)
            m->ops = arch_table[i];
    if (!m->ops)
        return kb_error_set(err, KB_EFORMAT, "model: architecture '%s' is not supported",
                            m->arch_name[0] ? m->arch_name : "(none)");
    if ((rc = load_hparams(m, err)) || (rc = vocab_size(m, err)))
        return rc;
    if ((rc = m->ops->bind(m, err)))
        return rc;
    m->bos = tok_id(m->gf, "tokenizer.ggml.bos_token_id");
    m->eos = tok_id(m->gf, "tokenizer.ggml.eos_token_id");
    m->eot = tok_id(m->gf, "tokenizer.ggml.eot_token_id");
    for (int i = 0; i < gguf_n_tensors(m->gf); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(m->gf, i);
        m->weight_bytes += t->n_bytes;
        m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    return 0;
}

const char *infer_type_name(int type)
{
    const struct ggml_type_info *ti = ggml_type_info(type);
    return ti ? ti->name : NULL;
}

void infer_model_get_info(const struct infer_model *m, struct infer_model_info *out)
{
    const struct model_hparams *hp = &m->hp;
    struct arch_kv kv;
    memset(out, 0, sizeof *out);
    out->arch = m->arch_name;
    out->name = m->name;
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->n_embd = hp->n_embd;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->head_dim_v = hp->head_dim_v;
    out->n_ff = hp->n_ff;
    out->n_rot = hp->n_rot;
    out->rope_neox = hp->rope_neox;
    out->rope_freq_base = hp->rope_base;
    out->rope_freq_scale = hp->rope_freq_scale;
    out->rms_eps = hp->rms_eps;
    out->tied_output = m->tied_output;
    out->n_expert = hp->n_expert;
    out->n_expert_used = hp->n_expert_used;
    out->n_ff_exp = hp->n_ff_exp;
    out->n_ff_shexp = hp->n_ff_shexp;
    out->n_layer_dense_lead = hp->n_layer_dense_lead;
    out->kv_lora_rank = hp->kv_lora_rank;
    out->q_lora_rank = hp->q_lora_rank;
    out->idx_n_head = hp->idx_n_head;
    out->idx_head_dim = hp->idx_head_dim;
    out->idx_top_k = hp->idx_top_k;
    m->ops->kv_shape(m, &kv);
    out->n_swa = hp->n_swa;
    out->n_nextn = hp->n_nextn;
    for (int il = 0; il < hp->n_layer; il++)
        out->n_swa_layers += model_layer_swa(hp, il);
    /* a sliding layer's cache is its window whatever the context: it does not grow per token */
    /* ... and a recurrent layer (qwen3next) keeps a fixed-size state instead of a cache */
    int n_grow = hp->n_layer - out->n_swa_layers;
    for (int il = 0; il < hp->n_layer; il++)
        out->n_recurrent_layers += model_layer_recurrent(hp, il);
    n_grow -= out->n_recurrent_layers;
    if (m->ops->rs_size) {
        size_t st = 0, sc = 0;
        m->ops->rs_size(m, 1, 1, &st, &sc);
        out->recurrent_state_bytes = (uint64_t)st * sizeof(float);
    }
    out->kv_bytes_per_token = (uint64_t)n_grow * 2 * (kv.k_row + kv.v_row);
    out->kv_bytes_per_token_full = (uint64_t)n_grow * 2 * kv.full_row;
    out->n_params = m->n_params;
    out->weight_bytes = m->weight_bytes;
    out->file_bytes = gguf_file_bytes(m->gf);
    out->n_tensors = gguf_n_tensors(m->gf);
    for (int i = 0; i < out->n_tensors; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(m->gf, i);
        uint64_t b = t->n_bytes;
        if (strcmp(t->name, "token_embd.weight") == 0 && !m->tied_output)
            b = ggml_row_bytes(t->type, t->ne[0]); /* one row per token (get_rows) */
        else if (t->n_dims == 3 && strstr(t->name, "_exps.") && hp->n_expert > 0)
            b = b / (uint64_t)hp->n_expert * (uint64_t)hp->n_expert_used;
        out->active_bytes += b;
    }
    for (int i = 0; i < out->n_tensors; i++) {
        int t = gguf_tensor_at(m->gf, i)->type;
        if (t >= 0 && t < (int)KB_ARRAY_LEN(out->tensor_type_count))
            out->tensor_type_count[t]++;
    }
    out->encoder = m->ops->forward == NULL;
    out->pooling = hp->pooling;
    out->tok_model = m->tok_model;
    out->chat_template = m->chat_template;
    out->bos = m->bos;
    out->eos = m->eos;
    out->eot = m->eot;
}

int infer_model_open(struct infer_model **out, const char *path, struct kb_error *err)
{
    struct infer_model *m = kb_xcalloc(1, sizeof *m);
    int rc;
    *out = NULL;
    kern_init(false);
    if ((rc = gguf_open(&m->gf, path, err)))
        goto out_close;
    if ((rc = model_load(m, err)) || (rc = model_vocab_open(m, err)))
        goto out_close;
    *out = m;
    return 0;
out_close:
    infer_model_close(m);
    return rc;
}

void infer_set_load_copy(bool copy)
{
    gguf_set_load_copy(copy);
}

bool infer_load_copy(void)
{
    return gguf_load_copy();
}

void infer_model_close(struct infer_model *m)
{
    if (!m)
        return;
    model_vocab_close(m);
    free(m->layers);
    free(m->gelu_f16);
    free(m->chat_template);
    gguf_close(m->gf);
    free(m);
}

int infer_type_from_name(const char *name)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const struct ggml_type_info *ti = ggml_type_info(t);
        if (ti && ti->name && strcasecmp(ti->name, name) == 0)
            return t;
    }
    return -1;
}

void infer_synth_params_default(struct infer_synth_params *p, const char *arch)
{
    struct synth_params sp;
    synth_params_default(&sp, arch);
    memset(p, 0, sizeof *p);
    p->arch = arch;
    p->type = sp.type;
    p->n_layer = sp.n_layer;
    p->n_embd = sp.n_embd;
    p->n_head = sp.n_head;
    p->n_head_kv = sp.n_head_kv;
    p->head_dim = sp.head_dim;
    p->n_ff = sp.n_ff;
    p->n_vocab = sp.n_vocab;
    p->n_ctx = sp.n_ctx;
    p->tied_output = sp.tied_output;
    p->n_expert = sp.n_expert;
    p->n_expert_used = sp.n_expert_used;
    p->n_ff_exp = sp.n_ff_exp;
    p->n_ff_shexp = sp.n_ff_shexp;
    p->seed = sp.seed;
    p->q_lora_rank = sp.q_lora_rank;
    p->kv_lora_rank = sp.kv_lora_rank;
    p->qk_rope_dim = sp.qk_rope_dim;
    p->qk_nope_dim = sp.qk_nope_dim;
    p->v_head_dim = sp.v_head_dim;
    p->n_expert_shared = sp.n_expert_shared;
    p->n_dense_lead = sp.n_dense_lead;
    p->gating_func = sp.gating_func;
    p->expert_weights_scale = sp.expert_weights_scale;
    p->expert_weights_norm = sp.expert_weights_norm;
    p->n_expert_group = sp.n_expert_group;
    p->n_expert_group_used = sp.n_expert_group_used;
    p->yarn_factor = sp.yarn_factor;
    p->yarn_orig_ctx = sp.yarn_orig_ctx;
    p->n_swa = sp.n_swa;
    p->n_nextn = sp.n_nextn;
    p->nextn_agree = sp.nextn_agree;
    p->idx_n_head = sp.idx_n_head;
    p->idx_head_dim = sp.idx_head_dim;
    p->idx_top_k = sp.idx_top_k;
}

int infer_synth_write(const char *path, const struct infer_synth_params *p, struct kb_error *err)
{
    struct synth_params sp;
    synth_params_default(&sp, p->arch ? p->arch : "");
    sp.type = p->type;
    sp.mix_q4_k_m = p->mix_q4_k_m;
    sp.n_layer = p->n_layer;
    sp.n_embd = p->n_embd;
    sp.n_head = p->n_head;
    sp.n_head_kv = p->n_head_kv;
    sp.head_dim = p->head_dim;
    sp.n_ff = p->n_ff;
    sp.n_vocab = p->n_vocab;
    sp.n_ctx = p->n_ctx;
    sp.tied_output = p->tied_output;
    sp.n_expert = p->n_expert;
    sp.n_expert_used = p->n_expert_used;
    sp.n_ff_exp = p->n_ff_exp;
    sp.n_ff_shexp = p->n_ff_shexp;
    sp.seed = p->seed;
    sp.q_lora_rank = p->q_lora_rank;
    sp.kv_lora_rank = p->kv_lora_rank;
    sp.qk_rope_dim = p->qk_rope_dim;
    sp.qk_nope_dim = p->qk_nope_dim;
    sp.v_head_dim = p->v_head_dim;
    sp.n_expert_shared = p->n_expert_shared;
    sp.n_dense_lead = p->n_dense_lead;
    sp.gating_func = p->gating_func;
    sp.expert_weights_scale = p->expert_weights_scale;
    sp.expert_weights_norm = p->expert_weights_norm;
    sp.n_expert_group = p->n_expert_group;
    sp.n_expert_group_used = p->n_expert_group_used;
    sp.yarn_factor = p->yarn_factor;
    sp.yarn_orig_ctx = p->yarn_orig_ctx;
    if (p->n_swa > 0)
        sp.n_swa = p->n_swa;
    sp.n_nextn = p->n_nextn;
    sp.nextn_agree = p->nextn_agree;
    if (p->idx_n_head > 0)
        sp.idx_n_head = p->idx_n_head;
    if (p->idx_head_dim > 0)
        sp.idx_head_dim = p->idx_head_dim;
    if (p->idx_top_k > 0)
        sp.idx_top_k = p->idx_top_k;
    kern_init(false);
    return synth_write(path, &sp, err);
}
