/* infer/model.h (internal to infer/): the loaded model, the session, and struct arch_ops, shared
 * by model.c, session.c, layers*.c, arch_*.c and generate.c.
 *
 * A model is immutable after model.c builds it: its architecture's ops (chosen once by name),
 * hyperparameters read from the GGUF metadata and one struct model_w view per tensor, pointing into
 * the read-only mapping. A session holds everything a forward pass writes: the KV cache and
 * fixed-size scratch buffers, all allocated in session.c; the forward pass (m->ops: layers.c and
 * arch_*.c, declared in layers.h) only reads the model and writes the session. Calls go one way:
 * model.c/session.c -> m->ops -> arch_*.c -> layers*.c. Tests: tests/infer/test_model.c, test_conformance.c, test_ref_forward.c. */
#ifndef KB_INFER_MODEL_H
#define KB_INFER_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/gguf.h"
#include "infer/infer.h"
#include "infer/matmul.h"

/* A weight tensor in the mapping: rows of ne[0] values of `type`, row_bytes apart. data NULL when
 * the tensor is absent (optional tensors only). */
struct model_w {
    const void *data;  /* borrowed from the mapping */
    int type;          /* enum ggml_type */
    int64_t ne[4];     /* ne[0] = row length; ne[1] = rows; ne[2] = experts (3-D) */
    size_t row_bytes;  /* bytes per row */
};

struct model_hparams {
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv;
    int head_dim;   /* n_embd_head_k */
    int head_dim_v; /* n_embd_head_v */
    int n_ff;
    int n_rot;      /* rope dimensions (<= head_dim) */
    bool rope_neox;
    float rope_base, rope_freq_scale;
    float rms_eps;
    float kq_scale; /* 1/sqrt(head_dim); deepseek2: mscale^2/sqrt(nope + rope) */
    /* YaRN (deepseek2): theta mixes interpolation and extrapolation by pair index */
    bool yarn;
    float yarn_corr[2];  /* ramp from pair yarn_corr[0] (extrapolated) to [1] (interpolated) */
    float rope_mscale;   /* multiplies cos/sin */
    /* mixture of experts */
    int n_expert, n_expert_used;
    int n_ff_exp, n_ff_shexp; /* expert and shared-expert FFN widths (shared: all shared experts) */
    int n_layer_dense_lead;   /* leading layers with a dense FFN (deepseek2) */
    int gating;               /* enum moe_gating */
    bool expert_norm;
    float expert_scale;
    int n_group, n_group_used;
    /* multi-head latent attention (deepseek2) */
    int q_lora_rank;  /* 0: plain attn_q */
    int kv_lora_rank; /* latent width cached per position */
    int n_nope;       /* non-rotary part of a query/key head */
    /* DeepSeek Sparse Attention (deepseek32, arch_deepseek32.c): lightning-indexer heads, their
     * key size (cached per position after the MLA row) and the positions each query keeps;
     * idx_top_k 0: dense MLA (deepseek2) */
    int idx_n_head, idx_head_dim, idx_top_k;
    /* sliding-window attention (gpt-oss): layer il attends to its last n_swa positions when
     * il % swa_period < swa_period - 1 (llama.cpp's set_swa_pattern); n_swa 0: every layer full */
    int n_swa, swa_period;
    /* gpt-oss's clamped SwiGLU in the experts: min(g, limit) * sigmoid(alpha min(g, limit)) *
     * (clamp(u, -limit, limit) + 1); false: silu(g) * u */
    bool glu_oai;
    float glu_alpha, glu_limit;
    /* qwen3next's Gated DeltaNet layers (arch_qwen3next.c): kernel width, state size (key and
     * value head size), key heads (group count), value heads (time-step rank), value width; layer
     * il is full attention when (il + 1) % full_attn_interval == 0, else recurrent */
    int ssm_d_conv, ssm_d_state, ssm_n_group, ssm_dt_rank, ssm_d_inner, full_attn_interval;
    bool ssm_kv_tiled; /* qwen35moe: value head h reads key head h % groups (qwen3next: h / (Hv / groups)) */
    /* NextN/MTP blocks (glm4moe): layers[n_layer .. n_layer + n_nextn) hold them; the main
     * forward runs layers [0, n_layer) only (block_count = n_layer + n_nextn in the file) */
    int n_nextn;
    /* encoders (bert) */
    float norm_eps;   /* LayerNorm epsilon */
    int pooling;      /* 0 none, 1 mean, 2 cls, 3 last (llama.cpp's pooling_type) */
};

struct model_layer {
    struct model_w attn_norm, wq, wk, wv, wo;
    struct model_w bq, bk, bv, bo;      /* qwen2 biases (F32 vectors), optional */
    struct model_w q_norm, k_norm;      /* qwen3 per-head RMSNorm weights (head_dim) */
    struct model_w ffn_norm, ffn_gate, ffn_up, ffn_down;
    bool moe;                           /* this layer's FFN is a mixture of experts */
    struct model_w gate_inp;            /* (n_expert, n_embd) router, F32 */
    struct model_w exp_probs_b;         /* (n_expert) selection bias, optional */
    struct model_w gate_exps, up_exps;  /* (n_expert, n_ff_exp, n_embd) */
    struct model_w down_exps;           /* (n_expert, n_embd, n_ff_exp) */
    struct model_w gate_inp_shexp;      /* (n_embd) qwen2moe shared-expert gate, optional */
    struct model_w gate_shexp, up_shexp, down_shexp; /* optional shared experts */
    /* deepseek2 MLA */
    struct model_w wq_a, q_a_norm, wq_b; /* q-LoRA (V3), else wq */
    struct model_w wkv_a;               /* (kv_lora_rank + n_rot, n_embd) attn_kv_a_mqa */
    struct model_w kv_a_norm;           /* (kv_lora_rank) */
    struct model_w wk_b;                /* (n_head, kv_lora_rank, n_nope) */
    struct model_w wv_b;                /* (n_head, head_dim_v, kv_lora_rank) */
    /* deepseek32 lightning indexer: q from the q-LoRA latent (idx_n_head * idx_head_dim), one
     * key (idx_head_dim) with a LayerNorm (weight, bias), per-head weights (idx_n_head) */
    struct model_w idx_q_b, idx_k, idx_k_norm, idx_k_norm_b, idx_w;
    /* gpt-oss: per-head attention sink logits (n_head), the router's bias (n_expert) and the
     * experts' biases, one F32 row per expert: (n_expert, n_ff_exp) and (n_expert, n_embd) */
    struct model_w attn_sinks, gate_inp_b, gate_exps_b, up_exps_b, down_exps_b;
    /* qwen3next Gated DeltaNet (recurrent layers): q,k,v projection, output gate z, the conv
     * kernels (d_conv, conv_dim) F32, dt bias and -exp(A_log) per value head, beta/alpha
     * projection, the gated norm's weights (d_state), the output projection */
    bool recurrent;
    struct model_w wqkv, wqkv_gate, ssm_conv1d, ssm_dt, ssm_a, ssm_ba, ssm_norm, ssm_out;
    struct model_w ssm_beta, ssm_alpha; /* qwen35moe: (n_embd, Hv) each instead of ssm_ba */
    /* NextN/MTP block (glm4moe): eh_proj (n_embd, 2 n_embd) over [enorm(embedding) ; hnorm(h)],
     * the shared head's norm and optional own head and embedding (absent: the model's) */
    struct model_w eh_proj, enorm, hnorm, sh_norm, sh_head, nx_embd;
    /* bert: post-norm LayerNorms and FFN biases */
    struct model_w attn_out_norm, attn_out_norm_b, out_norm_l, out_norm_l_b, ffn_up_b, ffn_down_b;
};

struct tok_vocab;
struct infer_model;
struct infer_session;

/* Per-position KV cache widths of an architecture, in elements per layer. */
struct arch_kv {
    size_t k_row;    /* cached K row (MLA: the latent + rope key) */
    size_t v_row;    /* cached V row (0: MLA reads its values from the K rows) */
    size_t full_row; /* K + V of the uncompressed attention (for infer_model_info) */
    int att_dim;     /* widest attention row beyond head_dim/head_dim_v (MLA: kv_lora_rank + n_rot) */
};

/* What sets one architecture apart, chosen once by model_load() from general.architecture through
 * model.c's table; model.c and session.c only call through m->ops. Hooks take the model or session
 * they are about; flags feed model.c's common hyperparameter reader. One const instance per
 * supported GGUF name, defined in the arch_*.c file that implements it. */
enum arch_experts {
    ARCH_EXPERTS_NEVER,    /* expert_count > 0 is not supported */
    ARCH_EXPERTS_OPTIONAL, /* dense unless the file has experts (llama: Mixtral) */
    ARCH_EXPERTS_ALWAYS    /* expert_count is required */
};
struct arch_ops {
    const char *name;          /* general.architecture */
    bool ff_optional;          /* feed_forward_length may be absent (qwen3moe: experts only) */
    bool rope_neox;            /* rotary pairs are halves (NEOX), else adjacent (NORM) */
    bool yarn_mscale;          /* YaRN scales cos/sin by ggml's magnitude correction */
    enum arch_experts experts;
    bool ff_exp_is_n_ff;       /* expert FFN width defaults to feed_forward_length (Mixtral) */
    bool expert_norm;          /* renormalise the chosen experts' weights (default) */
    bool qkv_bias, qk_norm;    /* qwen2 Q/K/V biases; qwen3 per-head Q/K RMSNorm */
    bool shexp_gate;           /* qwen2moe: sigmoid gate on the shared experts */
    /* After the common hyperparameters: the architecture's own keys (NULL: none). */
    int (*hparams)(struct infer_model *m, struct kb_error *err);
    /* Binds every tensor (after the vocabulary size is known). */
    int (*bind)(struct infer_model *m, struct kb_error *err);
    /* Decoders: one step (model_decoder_forward) and the attention sublayer it calls per layer,
     * which adds rows t0..n-1 of its output into s->x and writes all n rows to the cache. NULL
     * forward: an encoder (no infer_eval, no KV cache). */
    void (*forward)(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                    bool keep_rows);
    void (*attention)(struct infer_session *s, int il, int n, int pos0, int t0);
    /* infer_embed: runs tok[0..n) from position 0 and returns the n final hidden rows (n, n_embd),
     * in the session's buffers. */
    const float *(*embed)(struct infer_session *s, const int32_t *tok, int n);
    void (*kv_shape)(const struct infer_model *m, struct arch_kv *kv);
    /* Recurrent architectures (qwen3next; NULL for the others): the floats of the per-session
     * recurrent state and of the forward pass's scratch for n_batch tokens and n_threads workers
     * (session.c allocates s->rs, s->rs_snap and s->rs_tmp with them), and the rollback that
     * infer_session_truncate calls to go back to n < n_past (a state cannot be rewound in place). */
    void (*rs_size)(const struct infer_model *m, int n_batch, int n_threads, size_t *state, size_t *scratch);
    void (*rollback)(struct infer_session *s, int n);
};

struct infer_model {
    struct gguf_file *gf;      /* owned; the mapping every model_w points into */
    const struct arch_ops *ops; /* static; the architecture's behaviour */
    char arch_name[32];
    char name[128];
    char tok_model[32];
    char *chat_template;       /* owned copy, "" when absent */
    struct model_hparams hp;
    struct model_w tok_embd;   /* (n_vocab, n_embd) */
    struct model_w out_norm;   /* (n_embd) */
    struct model_w output;     /* (n_vocab, n_embd); == tok_embd when tied */
    struct model_w rope_freqs; /* optional (n_rot/2) F32 frequency divisors (Llama 3.1) */
    struct model_w type_embd, pos_embd, tok_norm, tok_norm_b; /* bert input embeddings */
    uint16_t *gelu_f16;         /* bert: owned 65536-entry table, F16 in -> GELU(x) as F16 */
    bool tied_output;
    struct model_layer *layers; /* n_layer; owned */
    struct tok_vocab *vocab;    /* owned; NULL when the file has no tokenizer */
    int32_t bos, eos, eot;
    uint64_t weight_bytes;
    int64_t n_params;
};

/* Score rows per attention worker: four queries at once in bert's attention (layers.c), a group
 * of up to 16 heads of one token in MLA's (arch_deepseek2.c). */
#define ATT_SCORE_ROWS 16

/* Everything the forward pass writes. Shapes use T = n_batch (tokens per step). */
struct infer_session {
    const struct infer_model *m; /* borrowed */
    struct kern_pool *pool;      /* owned: this session's queue on its (private or shared) workers */
    int n_ctx, n_batch, n_past;
    bool kv_f32;
    void *k_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) F16 or F32 */
    void *v_cache;  /* (n_layer, n_head_kv*head_dim_v, n_ctx) F16 or F32: transposed */
    /* Sliding-window layers keep a ring of swa_cells cells (position p in cell p % swa_cells)
     * instead of n_ctx; kv_cell0[il] is layer il's first cell in both caches (owned, n_layer + 1
     * entries; NULL: il * n_ctx).
     * kv_hi: one past the highest position written since the last reset (what the rings hold). */
    int swa_cells;
    size_t *kv_cell0;
    int kv_hi;
    float *x;       /* (T, n_embd) residual stream */
    float *xn;      /* (T, n_embd) normed input of a sublayer */
    float *q;       /* (T, n_head*head_dim) */
    float *k;       /* (T, n_head_kv*head_dim) */
    float *v;       /* (T, n_head_kv*head_dim_v) */
    float *att;     /* (T, n_head*head_dim_v) attention output before wo */
    float *tmp;     /* (T, n_embd) sublayer output */
    float *ff_g;    /* (T, n_ff) gate, then the gated product */
    float *ff_u;    /* (T, n_ff) up */
    float *scores;  /* (n_threads, ATT_SCORE_ROWS, n_ctx) attention weights per worker */
    float *att_tmp; /* (n_threads, 2 * att_tmp_dim) per worker: widened V row, q in cache type */
    int att_tmp_dim;
    float *rope_cs; /* (T, n_rot) cos/sin pairs of each token's position */
    /* mixture of experts (NULL for dense models) */
    float *r_logits;  /* (T, n_expert) router outputs */
    int32_t *r_ids;   /* (T, n_used) chosen experts */
    float *r_w;       /* (T, n_used) their weights */
    int32_t *e_rows;  /* (n_expert, T) slot index t*n_used+k routed to each expert */
    int *e_count;     /* (n_expert) */
    float *e_x;       /* (T, n_embd) rows gathered for one expert */
    float *e_out;     /* (T * n_used, n_embd) each slot's expert output, summed in slot order */
    float *sh_out;    /* (T, n_embd) shared-expert output */
    /* MLA (deepseek2) */
    float *kv_lat;    /* (T, kv_lora_rank + n_rot) latent + rope key */
    float *q_lat;     /* (T, q_lora_rank) */
    float *q_abs;     /* (T, n_head, kv_lora_rank + n_rot) absorbed queries */
    float *h_in;      /* (T, max(n_nope, kv_lora_rank)) one head's rows gathered */
    float *h_out;     /* (T, max(kv_lora_rank, head_dim_v)) */
    float *o_lat;     /* (T, n_head, kv_lora_rank) attention output in latent space */
    /* deepseek32 (NULL otherwise): each row's additive mask over the positions (T, n_ctx: 0 for
     * the top-k the indexer kept, -inf else), then the indexer's scratch (deepseek32_scratch) */
    float *dsa_bias, *dsa_tmp;
    uint64_t *expert_hits; /* (n_layer, n_expert) selection counts since the session began */
    void *xq;       /* quantized activations for kern_matmul, sized for the widest matmul */
    size_t xq_bytes;
    float *logits;  /* (n_vocab) scratch for generation */
    int32_t *hist;  /* (n_ctx) the token at each cached position */
    /* MTP (models with NextN blocks, unless infer_session_params.no_mtp): the NextN block's KV
     * cache is layer n_layer of k_cache/v_cache; its row at position p is made from the main
     * model's normed hidden state at p and the token at p + 1 (arch_glm4moe.c) */
    bool mtp_on;
    float *mtp_in;     /* (T, 2 n_embd) [enorm(embedding) ; hnorm(h)] */
    float *mtp_h;      /* (T, n_embd) normed hidden rows of the last forward step */
    int mtp_h_pos0, mtp_h_n; /* their positions: [mtp_h_pos0, mtp_h_pos0 + mtp_h_n) */
    int mtp_done_pos;  /* position whose NextN row was last computed by a draft (-1: none) ... */
    int32_t mtp_done_tok; /* ... with this next token */
    float *mtp_logits; /* (n_vocab) the draft's logits */
    struct model_prof *prof; /* NULL: not profiling; owned (infer_session_profile) */
    /* recurrent state (m->ops->rs_size; NULL otherwise): the state after position n_past, a
     * snapshot of it at position rs_snap_pos (-1: none), and the forward pass's scratch */
    float *rs, *rs_snap, *rs_tmp;
    size_t rs_floats;
    int rs_snap_pos;
};

/* Forward-pass timers (infer_session_profile): a lap clock on the calling thread, plus per-thread
 * expert work-item time written by the pool threads (each its own 64-byte line). */
struct model_prof {
    uint64_t t_last;                   /* ns of the previous mark */
    uint64_t n_steps, step_ns;
    uint64_t phase_ns[INFER_PROF_N];
    struct {
        uint64_t routed_ns, shared_ns;
        char pad[48];
    } thr[INFER_PROF_MAX_THREADS];
};
uint64_t model_prof_now(void); /* monotonic ns */
/* Adds the time since the previous mark to phase ph (nothing when not profiling). */
static inline void model_prof_mark(struct infer_session *s, int ph)
{
    if (s->prof) {
        uint64_t now = model_prof_now();
        s->prof->phase_ns[ph] += now - s->prof->t_last;
        s->prof->t_last = now;
    }
}

/* model.c */
int model_load(struct infer_model *m, struct kb_error *err);
/* `<arch>.<key>` as u32 into *out (absent keeps the default; present but bad: KB_ECORRUPT), and as
 * f32 (absent or bad keeps the default). */
int model_hp_u32(const struct infer_model *m, const char *key, int *out, bool required, struct kb_error *err);
void model_hp_f32(const struct infer_model *m, const char *key, float *out);
/* Binds tensor `name` into *w expecting shape ne[0..n_dims); absent: KB_ECORRUPT unless optional. */
int model_bind(const struct infer_model *m, struct model_w *w, const char *name, int n_dims, int64_t ne0,
               int64_t ne1, int64_t ne2, bool optional, struct kb_error *err);
/* A decoder's tensors: token embedding, output norm and head, rope_freqs, and per layer attn_norm,
 * the attention tensors (bind_attention), ffn_norm and the dense or MoE FFN. */
/* The embedding, the output norm and the output matrix (tied to the embedding when absent), and
 * n_layers zeroed layers for the architecture to bind. */
int model_bind_io(struct infer_model *m, int n_layers, struct kb_error *err);
int model_bind_decoder(struct infer_model *m, int (*bind_attention)(struct infer_model *m, int il, struct kb_error *err),
                       struct kb_error *err);
/* The architectures (arch_llama.c, arch_deepseek2.c, arch_bert.c, arch_gptoss.c, arch_glm4moe.c). */
extern const struct arch_ops arch_llama_ops, arch_qwen2_ops, arch_qwen3_ops, arch_qwen2moe_ops,
    arch_qwen3moe_ops, arch_deepseek2_ops, arch_bert_ops, arch_gptoss_ops, arch_glm4moe_ops;
extern const struct arch_ops arch_qwen3next_ops, arch_qwen35moe_ops; /* arch_qwen3next.c */
extern const struct arch_ops arch_deepseek32_ops; /* arch_deepseek32.c */
/* arch_deepseek2.c's MLA pieces that deepseek32 builds on. */
int deepseek2_hparams(struct infer_model *m, struct kb_error *err);
int deepseek2_bind_attention(struct infer_model *m, int il, struct kb_error *err);
void deepseek2_kv_shape(const struct infer_model *m, struct arch_kv *kv);
void deepseek2_attention(struct infer_session *s, int il, int n, int pos0, int t0);
/* arch_deepseek32.c: the floats of s->dsa_tmp for n_batch tokens and n_threads workers; and the
 * lightning indexer of layer il for a step (called by deepseek2_attention once the MLA rows are
 * cached in kl, rows `row` apart): caches the n rows' indexer keys after the MLA part of each row
 * and writes s->dsa_bias for rows t0..n-1. */
size_t deepseek32_scratch(const struct infer_model *m, int n_batch, int n_ctx, int n_threads);
void deepseek32_index(struct infer_session *s, int il, int n, int pos0, int t0, void *kl, size_t row);
/* Whether layer il attends through a sliding window (hp->n_swa > 0 and the pattern says so). */
static inline bool model_layer_swa(const struct model_hparams *hp, int il)
{
    return hp->n_swa > 0 && (hp->swa_period <= 0 || il % hp->swa_period < hp->swa_period - 1);
}
/* Whether layer il is recurrent (qwen3next's Gated DeltaNet: no KV cache, a per-session state). */
static inline bool model_layer_recurrent(const struct model_hparams *hp, int il)
{
    return hp->full_attn_interval > 0 && (il + 1) % hp->full_attn_interval != 0;
}
/* KV cells of layer il in a session of n_ctx positions and n_batch tokens per step: a sliding
 * layer keeps its window plus one step (the step's first query still sees n_swa - 1 older keys
 * while the step's n_batch keys are written), never more than n_ctx; a recurrent layer none. */
int model_kv_cells(const struct model_hparams *hp, int il, int n_ctx, int n_batch);
/* arch_glm4moe.c: the MTP draft for the token after `next`, which is pending at position n_past
 * (its NextN row at n_past - 1 combines the main model's hidden state there with next): the argmax
 * of the NextN block's logits, or -1 when the session has no MTP or no hidden state for n_past - 1. */
int32_t model_mtp_draft(struct infer_session *s, int32_t next);
/* generate.c: the tokenizer built from the file (vocab NULL when it has none). */
int model_vocab_open(struct infer_model *m, struct kb_error *err);
void model_vocab_close(struct infer_model *m);
/* session.c: the largest activation scratch any matmul of the model needs for n_tok rows. */
size_t session_matmul_scratch(const struct infer_model *m, int n_tok);

#endif
