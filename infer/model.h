/* infer/model.h (internal to infer/): the loaded model and the session, shared by model.c,
 * session.c, arch_*.c and generate.c.
 *
 * A model is immutable after model.c builds it: hyperparameters read from the GGUF metadata of its
 * architecture and one struct model_w view per tensor, pointing into the read-only mapping. A
 * session holds everything a forward pass writes: the KV cache and fixed-size scratch buffers, all
 * allocated in session.c; the forward pass (arch_llama.c) only reads the model and writes the
 * session. Tests: tests/infer/test_model.c, test_conformance.c, test_ref_forward.c. */
#ifndef KB_INFER_MODEL_H
#define KB_INFER_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/gguf.h"
#include "infer/infer.h"
#include "infer/matmul.h"

enum model_arch {
    MODEL_ARCH_LLAMA,     /* also Mistral, and Mixtral when expert_count > 0 */
    MODEL_ARCH_QWEN2,
    MODEL_ARCH_QWEN3,
    MODEL_ARCH_QWEN2MOE,
    MODEL_ARCH_QWEN3MOE,
    MODEL_ARCH_DEEPSEEK2, /* MLA attention; V2/V2-Lite and V3/R1 flavours */
    MODEL_ARCH_BERT,      /* encoder: embeddings only */
    MODEL_ARCH_COUNT
};

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
    /* bert: post-norm LayerNorms and FFN biases */
    struct model_w attn_out_norm, attn_out_norm_b, out_norm_l, out_norm_l_b, ffn_up_b, ffn_down_b;
};

struct tok_vocab;

struct infer_model {
    struct gguf_file *gf;      /* owned; the mapping every model_w points into */
    enum model_arch arch;
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

/* Score rows per attention worker: four queries at once in bert's attention (arch_llama.c). */
#define ATT_SCORE_ROWS 4

/* Everything the forward pass writes. Shapes use T = n_batch (tokens per step). */
struct infer_session {
    const struct infer_model *m; /* borrowed */
    struct kern_pool *pool;      /* owned: this session's queue on its (private or shared) workers */
    int n_ctx, n_batch, n_past;
    bool kv_f32;
    void *k_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) F16 or F32 */
    void *v_cache;  /* (n_layer, n_head_kv*head_dim_v, n_ctx) F16 or F32: transposed */
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
    uint64_t *expert_hits; /* (n_layer, n_expert) selection counts since the session began */
    void *xq;       /* quantized activations for kern_matmul, sized for the widest matmul */
    size_t xq_bytes;
    float *logits;  /* (n_vocab) scratch for generation */
    int32_t *hist;  /* (n_ctx) the token at each cached position */
};

/* model.c */
int model_load(struct infer_model *m, struct kb_error *err);
/* generate.c: the tokenizer built from the file (vocab NULL when it has none). */
int model_vocab_open(struct infer_model *m, struct kb_error *err);
void model_vocab_close(struct infer_model *m);
/* session.c */
size_t session_matmul_scratch(const struct infer_model *m, int n_tok);
/* y(T, n_out) = x(T, n_in) W^T over the session's pool. */
void session_matmul(struct infer_session *s, const struct model_w *w, const float *x, int n_tok,
                    float *y);
/* One attention pass over the cache (arch_llama.c): out[t][h] = softmax(q[t][h] . K[0..pos0+t]
 * * scale) V, split over the pool by (token, head). Strides in elements. */
struct attn_spec {
    const float *q; size_t q_tok, q_head;
    const void *kc; size_t k_pos, k_head; /* cache of this layer, F16 or F32 */
    const void *vc; size_t v_pos, v_head; /* v_trans: v_pos is the stride between dimensions */
    bool v_trans;                         /* V^T rows of positions (dense); else rows per position */
    bool f32;                             /* K/V are F32 (else F16) */
    int n_kv_all;                         /* > 0: every token sees positions [0, n_kv_all)
                                           * (non-causal encoders); 0: causal */
    float *out; size_t o_tok, o_head;
    int dk, dv, n_head, group;            /* group: query heads per kv head */
    float scale;
    int n_tok, pos0;
    int t_first;                          /* only rows t_first..n_tok-1 get an output */
};
void model_attention(struct infer_session *s, const struct attn_spec *a);
/* The cache rows of layer il (each `row` elements) and a copy of n rows into positions pos0.. */
void *model_cache_layer(struct infer_session *s, void *cache, int il, size_t row);
void model_cache_put(struct infer_session *s, void *layer_base, size_t dst_stride, const float *src,
                     size_t src_stride, int width, int n, int pos0);
void model_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
void model_rope_table(const struct infer_model *m, int pos, float *cs);
void model_rope(float *x, const float *cs, int n_rot, bool neox);
void model_ffn_dense(struct infer_session *s, const struct model_w *gate, const struct model_w *up,
                     const struct model_w *down, const float *x, int n, float *out);
/* arch_moe.c: out(T, n_embd) = the layer's MoE FFN of xn (routed experts, expert-grouped over the
 * batch, plus shared experts). */
void moe_ffn(struct infer_session *s, int il, const float *xn, int n, float *out);
/* Scratch floats (in e_out) that moe_ffn's one-token path needs; session.c sizes e_out with it. */
size_t moe_gen_scratch_floats(const struct model_hparams *hp);
/* arch_moe.c: several matrix-vector products in ONE pool dispatch (generation, where one hand-off
 * per small product would dominate): y[r] = W[r] . a for every row of each 2-D w, chunks of rows
 * of all products shared by the threads. a is already in w's vec_dot_type (model_mv_quant). */
#define MODEL_MV_MAX 128
struct model_mv {
    const struct model_w *w;
    const void *a;
    float *y;
};
void model_matvec_multi(struct infer_session *s, const struct model_mv *mv, int n);
/* x (n values) in w_type's vec_dot_type at *buf, which advances by model_mv_quant_bytes(); returns
 * the row (x itself, buffer untouched, when that type is F32). */
size_t model_mv_quant_bytes(int w_type, int64_t n);
const void *model_mv_quant(int w_type, const float *x, int64_t n, uint8_t **buf);
/* arch_deepseek2.c: the MLA attention block of layer il: all n rows go to the cache, rows t0..
 * get their output added into s->x. */
void deepseek2_attention(struct infer_session *s, int il, int n, int pos0, int t0);
/* arch_bert.c: the encoder over tok[0..n) (n <= n_batch, one sequence, non-causal); leaves the
 * final hidden states in s->x (n, n_embd). */
/* arch_bert.c: fills m->gelu_f16 (KB_ENOMEM). */
int bert_init(struct infer_model *m);
void bert_forward(struct infer_session *s, const int32_t *tok, int n);
/* arch_llama.c: one forward step of n <= n_batch tokens at positions n_past..; logits as in
 * infer_eval (NULL: none). Does not advance n_past. keep_rows: every row's final state stays in
 * s->x (embeddings); otherwise the last layer skips rows whose output nobody reads. */
void llama_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all,
                   bool keep_rows);

#endif
