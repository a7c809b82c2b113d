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
#include "infer/kern.h"

enum model_arch { MODEL_ARCH_LLAMA, MODEL_ARCH_QWEN2, MODEL_ARCH_QWEN3, MODEL_ARCH_COUNT };

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
    float kq_scale; /* 1/sqrt(head_dim) */
    int n_expert, n_expert_used;
};

struct model_layer {
    struct model_w attn_norm, wq, wk, wv, wo;
    struct model_w bq, bk, bv, bo;      /* qwen2 biases (F32 vectors), optional */
    struct model_w q_norm, k_norm;      /* qwen3 per-head RMSNorm weights (head_dim) */
    struct model_w ffn_norm, ffn_gate, ffn_up, ffn_down;
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
    bool tied_output;
    struct model_layer *layers; /* n_layer; owned */
    struct tok_vocab *vocab;    /* owned; NULL when the file has no tokenizer */
    int32_t bos, eos, eot;
    uint64_t weight_bytes;
    int64_t n_params;
};

/* Everything the forward pass writes. Shapes use T = n_batch (tokens per step). */
struct infer_session {
    const struct infer_model *m; /* borrowed */
    struct kern_pool *pool;      /* owned */
    int n_ctx, n_batch, n_past;
    bool kv_f32;
    void *k_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) F16 or F32 */
    void *v_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim_v) F16 or F32 */
    float *x;       /* (T, n_embd) residual stream */
    float *xn;      /* (T, n_embd) normed input of a sublayer */
    float *q;       /* (T, n_head*head_dim) */
    float *k;       /* (T, n_head_kv*head_dim) */
    float *v;       /* (T, n_head_kv*head_dim_v) */
    float *att;     /* (T, n_head*head_dim_v) attention output before wo */
    float *tmp;     /* (T, n_embd) sublayer output */
    float *ff_g;    /* (T, n_ff) gate, then the gated product */
    float *ff_u;    /* (T, n_ff) up */
    float *scores;  /* (n_threads, n_ctx) attention weights per worker */
    float *rope_cs; /* (T, n_rot) cos/sin pairs of each token's position */
    void *xq;       /* quantized activations for kern_matmul, sized for the widest matmul */
    size_t xq_bytes;
    float *logits;  /* (n_vocab) scratch for generation */
    int32_t *hist;  /* (n_ctx) tokens held in the cache, for penalties */
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
/* arch_llama.c: one forward step of n <= n_batch tokens at positions n_past..; logits as in
 * infer_eval (NULL: none). Does not advance n_past. */
void llama_forward(struct infer_session *s, const int32_t *tok, int n, float *logits, bool all);

#endif
