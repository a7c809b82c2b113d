/* infer/infer.h: loads GGUF models and generates or embeds text with them; the public manual of
 * infer/.
 *
 * A model (struct infer_model) is a GGUF file mmap'd read-only plus the hyperparameters, tensor
 * views and tokenizer built from it. It is immutable after open and may be shared by any number of
 * threads and sessions. A session (struct infer_session) owns a KV cache and the activation
 * scratch, allocated once by infer_session_new(), and a work queue on a thread pool (struct
 * infer_pool: its own, or one shared by several sessions); evaluating and generating never
 * allocate. A session is used by one thread at a time.
 *
 * Data flow: messages -> infer_chat_render() (the model's template) -> text -> infer_tokenize()
 * -> token ids -> infer_eval() (batched: the whole batch goes through every weight matrix at once)
 * -> logits, or infer_generate() (eval the prompt, then sample one token at a time, streaming each
 * decoded piece to a callback until a stop condition, optionally splitting <think> reasoning), or
 * infer_embed() -> one pooled vector.
 *
 * Architectures: llama (also Mistral, and Mixtral when the file has experts), qwen2, qwen3 (dense);
 * qwen2moe, qwen3moe and deepseek2 (V2/V2-Lite and V3/R1: multi-head latent attention with a
 * compressed KV cache, YaRN, expert groups) as mixtures of experts, whose prompt batches run one
 * matrix x matrix per chosen expert; bert encoders for embeddings. Results match llama.cpp's
 * within the tolerances of the conformance set. Tests: tests/infer/test_model*.c,
 * test_conformance.c, test_ref_forward.c, test_moe.c. */
#ifndef KB_INFER_INFER_H
#define KB_INFER_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct infer_model;   /* opaque; read-only after open, shared by threads */
struct infer_session; /* opaque; one thread at a time */
struct infer_pool;    /* opaque; worker threads that any number of sessions may share */

/* ---- models ------------------------------------------------------------------------------------ */

/* Opens path (mmap'd read-only), reads the hyperparameters and tensors of its architecture, checks
 * every tensor's shape and type, and builds the tokenizer. *out is NULL on failure (KB_ENOENT,
 * KB_EFORMAT for unsupported architectures or types, KB_ECORRUPT). Caller owns; close with
 * infer_model_close(). */
int infer_model_open(struct infer_model **out, const char *path, struct kb_error *err);
/* How later infer_model_open() calls hold the weights: false (default) mmaps the file read-only;
 * true reads it into private memory (answer.load = copy: faster where the host reclaims page-cache
 * pages, costs the file's size in RAM). Process-wide; set once at start-up. */
void infer_set_load_copy(bool copy);
bool infer_load_copy(void);
void infer_model_close(struct infer_model *m); /* NULL ok */

/* What a model is, for `kbox model info` and for callers sizing their work. Plain data; strings are
 * borrowed and valid until infer_model_close(). */
struct infer_model_info {
    const char *arch;          /* general.architecture, e.g. "llama" */
    const char *name;          /* general.name, or "" */
    int n_vocab;               /* tokens in the vocabulary (= logits per position) */
    int n_ctx_train;           /* context length the model was trained with, in tokens */
    int n_embd;                /* hidden size */
    int n_layer;               /* transformer blocks */
    int n_head;                /* query heads */
    int n_head_kv;             /* key/value heads (GQA when < n_head) */
    int head_dim;              /* values per query/key head */
    int head_dim_v;            /* values per value head */
    int n_ff;                  /* feed-forward width (dense layers) */
    int n_rot;                 /* rotary dimensions per head */
    int rope_neox;             /* 1: NEOX (halves) rotation, 0: NORM (adjacent pairs) */
    float rope_freq_base;      /* rope theta */
    float rope_freq_scale;     /* 1 / linear scaling factor */
    float rms_eps;             /* RMSNorm epsilon */
    bool tied_output;          /* output head shares token_embd */
    int n_expert;              /* routed experts per MoE layer; 0 for dense models */
    int n_expert_used;         /* experts chosen per token */
    int n_ff_exp;              /* expert FFN width */
    int n_ff_shexp;            /* shared-expert FFN width (all shared experts), 0 when none */
    int n_layer_dense_lead;    /* leading layers with a dense FFN */
    int kv_lora_rank;          /* MLA (deepseek2) latent width, 0 otherwise */
    int q_lora_rank;           /* MLA query LoRA rank, 0 when queries are projected directly */
    int idx_n_head, idx_head_dim, idx_top_k; /* deepseek32's lightning indexer (0: dense attention) */
    int n_swa;                 /* sliding-window attention (gpt-oss): window in tokens, 0 none */
    int n_swa_layers;          /* layers that slide (their KV cache is a ring of the window) */
    int n_recurrent_layers;    /* qwen3next/qwen35moe Gated DeltaNet layers: no KV cache */
    uint64_t recurrent_state_bytes; /* their fixed state per session (conv + delta-rule states) */
    int n_nextn;               /* NextN/MTP blocks (glm4moe) after the n_layer main ones, 0 none */
    uint64_t kv_bytes_per_token;      /* F16 KV cache bytes per position, all layers but the
                                       * sliding-window and recurrent ones */
    uint64_t kv_bytes_per_token_full; /* the same for full per-head K and V (= above unless MLA) */
    int64_t n_params;          /* weight values in the file */
    uint64_t weight_bytes;     /* bytes of tensor data (mmap'd, not copied) */
    uint64_t active_bytes;     /* weight bytes read per generated token: everything except the
                                * unchosen experts and all but one token_embd row (the
                                * memory-bandwidth bound of generation is bandwidth / this) */
    uint64_t file_bytes;       /* size of the GGUF file */
    int n_tensors;             /* tensors in the file */
    int tensor_type_count[40]; /* tensors per ggml type id; name them with infer_type_name() */
    bool encoder;              /* embeddings only (bert): infer_embed, no logits */
    int pooling;               /* infer_embed's pooling: 1 mean, 2 first token (CLS), 3 last token */
    const char *tok_model;     /* tokenizer.ggml.model, e.g. "llama", "gpt2", or "" */
    const char *chat_template; /* tokenizer.chat_template (NUL-terminated copy), or "" */
    int32_t bos, eos, eot;     /* special token ids, -1 when absent */
};
void infer_model_get_info(const struct infer_model *m, struct infer_model_info *out);
/* Name of a ggml tensor type id ("Q4_K"), or NULL for one kbox does not know. */
const char *infer_type_name(int type);
/* Bytes a session with n_ctx positions and batches of n_batch tokens allocates (KV cache in F16
 * unless kv_f32, plus scratch), not counting the mmap'd weights. */
uint64_t infer_session_bytes(const struct infer_model *m, int n_ctx, int n_batch, bool kv_f32);

/* ---- tokens -------------------------------------------------------------------------------------- */

/* Tokenizes text[0..n). add_special adds BOS (and whatever the vocabulary adds); parse_special
 * turns special-token texts like "<|im_start|>" into their ids. Writes at most max_out ids to out
 * and the total needed to *n_out; KB_ETOOBIG when max_out was too small (out holds a prefix). */
int infer_tokenize(const struct infer_model *m, const char *text, size_t n, bool add_special,
                   bool parse_special, int32_t *out, int max_out, int *n_out, struct kb_error *err);
/* Appends the text of tokens[0..n) to out, reassembling UTF-8 split across tokens; special tokens
 * are rendered only when render_special. */
int infer_detokenize(const struct infer_model *m, const int32_t *tokens, int n, bool render_special,
                     struct kb_buf *out, struct kb_error *err);
bool infer_token_is_eog(const struct infer_model *m, int32_t token); /* EOS, EOT, im_end... */

/* ---- thread pools ---------------------------------------------------------------------------------- */

/* One set of worker threads for several sessions (n_threads counts the thread that submits work;
 * 0: one per core): N sessions opened on it share n_threads - 1 workers instead of starting N
 * pools. Results are the same as with a private pool. Caller owns; free with infer_pool_free()
 * after every session on it is freed. */
int infer_pool_new(struct infer_pool **out, int n_threads, struct kb_error *err);
void infer_pool_free(struct infer_pool *p); /* NULL ok */
int infer_pool_n_threads(const struct infer_pool *p);

/* Read bandwidth of this machine (infer/stream.c): best of reps read-only passes over a buffer of
 * `bytes` with n_threads workers (0: one per core), in GB/s; checksum (NULL ok) gets the sum read.
 * 0 or KB_EINVAL (threads outside 0..256, bytes < 4096, reps < 1) or the pool's error. */
int infer_stream_read_gbs(int n_threads, size_t bytes, int reps, double *gbs, double *checksum,
                          struct kb_error *err);

/* ---- sessions ------------------------------------------------------------------------------------ */

struct infer_session_params {
    int n_ctx;     /* positions in the KV cache; 0: min(n_ctx_train, 4096) */
    int n_batch;   /* most tokens one forward step takes (longer evals are split); 0: 512 */
    int n_threads; /* worker threads of the session's own pool; 0: one per core; unused with pool */
    struct infer_pool *pool; /* borrowed; valid until the session is freed. NULL: the session starts
                              * its own pool of n_threads; else it runs on this one's threads */
    bool kv_f32;   /* keep the KV cache in F32 instead of F16 (bit-closer to the conformance set) */
    bool no_mtp;   /* models with NextN/MTP blocks (glm4moe): do not run them (no MTP drafts, no
                    * NextN KV cache kept up; the main model's results are the same either way) */
};
void infer_session_params_default(struct infer_session_params *p);

/* Allocates the KV cache and the scratch once, and starts the session's own pool or opens a queue
 * on p->pool (KB_EBUSY when 128 sessions already share it). p NULL = defaults. Caller owns; free
 * with infer_session_free(). The session borrows m, which must outlive it. */
int infer_session_new(struct infer_session **out, const struct infer_model *m,
                      const struct infer_session_params *p, struct kb_error *err);
void infer_session_free(struct infer_session *s); /* NULL ok */
int infer_session_n_ctx(const struct infer_session *s);
int infer_session_n_past(const struct infer_session *s);  /* positions filled in the KV cache */
void infer_session_reset(struct infer_session *s);        /* forget everything: n_past = 0 */
/* Keeps the first n cached positions and forgets the rest (n is clamped to [0, n_past]): the next
 * infer_eval() continues at position n. For rolling back rejected speculative tokens and for
 * reusing a shared prompt prefix. Every cache layout (per-head K/V, deepseek2's MLA latents) is
 * indexed by position, so nothing is recomputed. */
void infer_session_truncate(struct infer_session *s, int n);
/* The token ids at cached positions [0, n_past): borrowed; valid until the next eval, truncate,
 * reset or free. *n_out gets n_past. */
const int32_t *infer_session_tokens(const struct infer_session *s, int *n_out);

/* Evaluates tokens[0..n) at positions n_past.. and advances n_past. When logits is not NULL it gets
 * n x n_vocab floats (all_logits: row t = next-token logits after tokens[0..t]) or n_vocab floats
 * (the last position only). KB_ETOOBIG when the context would overflow (nothing is evaluated),
 * KB_EINVAL for an id outside the vocabulary. Batches of up to n_batch tokens go through each
 * weight matrix at once. No allocation. */
int infer_eval(struct infer_session *s, const int32_t *tokens, int n, float *logits, bool all_logits,
               struct kb_error *err);

/* Expert selection counts since the session was created (not cleared by reset): counts gets
 * n_layer x n_expert values (row il = layer il; dense layers stay 0). KB_EINVAL for a dense model
 * or when max_counts is too small. For `kbox model run --expert-stats` and the UI. */
int infer_session_expert_stats(const struct infer_session *s, uint64_t *counts, size_t max_counts,
                               struct kb_error *err);

/* Per-phase timers of the forward pass (kbox model bench --profile). Phases are wall time on the
 * calling thread, attributed in the order the pass runs them (a lap timer: each phase gets the
 * time since the previous mark, so they add up to step_s). Pool counters are per thread. */
enum infer_prof_phase {
    INFER_PROF_NORM,      /* embedding row, rmsnorms, rope tables, residual adds */
    INFER_PROF_ATTN_PROJ, /* attention projections: q, kv (MLA: kv_a, Wk_b absorb, Wv_b), wo */
    INFER_PROF_ATTN,      /* attention over the cache (MLA generation: with the heads' absorb, decompression) */
    INFER_PROF_ROUTER,    /* MoE router matmul and top-k */
    INFER_PROF_EXPERTS,   /* MoE experts: routed and shared, gate/up and down, weighted sum */
    INFER_PROF_FFN_DENSE, /* dense FFN (deepseek2's leading dense layers, dense models) */
    INFER_PROF_OUTPUT,    /* output norm and projection to the vocabulary */
    INFER_PROF_N
};
#define INFER_PROF_MAX_THREADS 16
struct infer_profile {
    uint64_t n_steps;                 /* forward steps profiled */
    double step_s;                    /* wall seconds in them */
    double phase_s[INFER_PROF_N];     /* wall seconds per phase (caller's clock) */
    double routed_thr_s;              /* thread-seconds in routed-expert work items (one-token path) */
    double shared_thr_s;              /* thread-seconds in shared-expert work items (one-token path) */
    int n_threads;                    /* of the session's pool */
    uint64_t n_jobs;                  /* pool hand-offs (parallel regions) published */
    double busy_s[INFER_PROF_MAX_THREADS]; /* per thread: seconds running the session's work items */
    double items[INFER_PROF_MAX_THREADS];  /* per thread: work items run */
    double barrier_wait_s;            /* caller: seconds waiting at the end of hand-offs for others */
};
/* Starts (on: counters zeroed; allocates once, outside the forward pass) or stops profiling. Off is
 * the default and costs a NULL test per mark and a relaxed load per pool item. */
void infer_session_profile(struct infer_session *s, bool on);
/* The counters since profiling started (all zero when off). */
void infer_session_profile_get(const struct infer_session *s, struct infer_profile *out);
/* "norm", "attn_proj", "attn", "router", "experts", "ffn_dense", "output"; static storage. */
const char *infer_prof_phase_name(int phase);

/* Embeds one sequence tokens[0..n) (n <= n_batch) from scratch: the session's cache is reset. For
 * encoders (bert) the final hidden states, for decoders the output-normed final hidden states;
 * pooled (n_embd floats, NULL: skip) pools them as the model says (mean, first, last), L2-normalised
 * when normalize; per_token (n x n_embd, NULL: skip) gets every row unpooled and unnormalised.
 * KB_ETOOBIG when n > n_batch, KB_EINVAL for a bad id. */
int infer_embed(struct infer_session *s, const int32_t *tokens, int n, float *pooled, float *per_token,
                bool normalize, struct kb_error *err);

/* ---- embedders (infer/embed.c) ---------------------------------------------------------------------
 * A shareable, thread-safe text embedder over an encoder model (bert: BGE, MiniLM, E5): specials
 * added and truncation that keeps them, pooled as the model says. Declared here so callers
 * outside infer/ need only this header; documented in full in infer/embed.h. */
struct infer_embedder; /* opaque; thread-safe (internal mutex) */
int infer_embedder_open(struct infer_embedder **out, const char *path, int n_threads,
                        struct kb_error *err); /* caller owns; infer_embedder_close() */
void infer_embedder_close(struct infer_embedder *e); /* NULL ok */
int infer_embedder_dim(const struct infer_embedder *e);
int infer_embedder_max_tokens(const struct infer_embedder *e);
const char *infer_embedder_id(const struct infer_embedder *e); /* borrowed until close */
int infer_embedder_tokenize(const struct infer_embedder *e, const char *text, int32_t *out,
                            int max_out, int *n_out, struct kb_error *err);
int infer_embed_tokens(struct infer_embedder *e, const int32_t *ids, int n, float *out,
                       bool normalize, struct kb_error *err);
int infer_embed_texts(struct infer_embedder *e, const char *const *texts, int n_texts, float *out,
                      bool normalize, struct kb_error *err);

/* ---- generation ---------------------------------------------------------------------------------- */

struct infer_sample_params {
    float temp;             /* <= 0: greedy (argmax, ties to the lowest id) */
    int top_k;              /* keep the k most likely; 0: off */
    float top_p;            /* nucleus mass; >= 1: off */
    float min_p;            /* drop tokens below min_p * p(top); 0: off */
    float repeat_penalty;   /* divide positive logits (multiply negative) of recent tokens; 1: off */
    int repeat_last_n;      /* how many recent tokens the penalties look at */
    float presence_penalty; /* subtracted once from every recent token's logit; 0: off */
    float frequency_penalty; /* subtracted per occurrence of a recent token; 0: off */
    uint64_t seed;          /* same seed, same model, same prompt: same text */
};

/* Called with each decoded piece as it is generated (UTF-8 split across tokens is held back until
 * complete). Return nonzero to stop. piece is borrowed for the call. */
typedef int (*infer_piece_fn)(void *ud, const char *piece, size_t n);

struct infer_gen_params {
    struct infer_sample_params sample;
    int max_tokens;          /* tokens to generate at most (> 0) */
    const char *const *stop; /* borrowed stop strings (generation ends before them); may be NULL */
    int n_stop;
    bool ignore_eos;         /* keep going past end-of-generation tokens */
    bool split_reasoning;    /* send "<think>...</think>" text to `reasoning`, the rest to piece */
    bool starts_in_reasoning; /* the prompt already opened <think> (infer_chat_opens_think) */
    infer_piece_fn reasoning; /* reasoning text when split_reasoning (NULL: dropped) */
    /* Prompt-lookup speculative decoding: the tokens that followed an earlier occurrence of the
     * last 1..3 tokens (in the cache and what was generated) are drafted and checked in one
     * batched infer_eval; each row is sampled exactly as plain decoding would, so the text is the
     * same with and without it, only faster when drafts are accepted. draft_max: most tokens
     * drafted per step; 0: the default: at temp <= 0, up to INFER_DRAFT_MAX, as many as the
     * acceptance so far and the measured cost of a batch make worthwhile (off when sampling,
     * where drafts are rarely accepted); > 0: every lookup verified, up to that many (at most 64;
     * batches of 16 and more go through panel kernels whose rounding differs from single steps),
     * at any temperature; < 0: off. */
    int draft_max;
};
#define INFER_DRAFT_MAX 8
void infer_gen_params_default(struct infer_gen_params *p);

enum infer_stop { INFER_STOP_MAX_TOKENS, INFER_STOP_EOG, INFER_STOP_STRING, INFER_STOP_CALLBACK,
                  INFER_STOP_CONTEXT };

struct infer_gen_result {
    int n_prompt;        /* prompt tokens evaluated */
    int n_gen;           /* tokens generated */
    enum infer_stop why; /* what ended generation */
    double prompt_s;     /* seconds spent on the prompt */
    double gen_s;        /* seconds spent generating */
    int n_drafted;       /* speculative tokens drafted (and evaluated) */
    int n_accepted;      /* of those, the ones decoding kept */
    int n_verify;        /* batched verification steps (each evaluated 1 + its drafts) */
    int n_mtp_drafted;   /* of n_drafted, first draft tokens that came from the model's MTP head */
    int n_mtp_accepted;  /* of those, the ones decoding kept */
};

/* Evaluates prompt[0..n_prompt) after what the session already holds, then samples up to
 * max_tokens tokens, calling piece for each piece of text. res may be NULL. */
int infer_generate(struct infer_session *s, const int32_t *prompt, int n_prompt,
                   const struct infer_gen_params *p, infer_piece_fn piece, void *ud,
                   struct infer_gen_result *res, struct kb_error *err);

/* ---- chat prompts --------------------------------------------------------------------------------- */

struct infer_chat_msg {
    const char *role;    /* "system", "user" or "assistant"; borrowed */
    const char *content; /* UTF-8, NUL-terminated; borrowed */
};

struct infer_chat_opts {
    bool add_generation_prompt; /* end with the opening of an assistant turn */
    bool enable_thinking;       /* Qwen3: false pre-fills an empty think block; harmony:
                                 * reasoning effort medium, else low */
    const char *family;         /* NULL: detect from the model's template; else "chatml", "llama3",
                                 * "qwen3", "llama2", "mistral", "deepseek2", "deepseek3", "harmony" */
};

/* Appends the chat prompt for msgs[0..n) in the model's template family (detected from
 * tokenizer.chat_template: ChatML/Qwen, Qwen3, Llama 3, Llama 2, Mistral, DeepSeek V2, DeepSeek
 * V3/R1; unknown falls back to ChatML with a warning). No BOS: tokenize the result with
 * add_special and parse_special. o NULL: generation prompt on, thinking off. */
int infer_chat_render(const struct infer_model *m, const struct infer_chat_msg *msgs, int n,
                      const struct infer_chat_opts *o, struct kb_buf *out, struct kb_error *err);
const char *infer_chat_family(const struct infer_model *m); /* static name of the detected family */
/* Whether the rendered generation prompt already opens a <think> block (set
 * infer_gen_params.starts_in_reasoning from it). */
bool infer_chat_opens_think(const struct infer_model *m, const struct infer_chat_opts *o);

/* ---- synthetic models (tests and benchmarks) ------------------------------------------------------ */

/* A GGUF with seeded random weights that llama.cpp loads too; see infer/synth.h for the layout. */
struct infer_synth_params {
    const char *arch;  /* "llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "mixtral", "deepseek2", "gpt-oss",
                        * "glm4moe"; borrowed */
    int type;          /* ggml type id of the weight matrices (infer_type_from_name) */
    bool mix_q4_k_m;   /* type Q4_K with llama-quantize's Q4_K_M per-tensor choices (Q6_K/Q8_0/Q5_K) */
    int n_layer, n_embd, n_head, n_head_kv;
    int head_dim;      /* 0: n_embd / n_head */
    int n_ff;          /* dense FFN width */
    int n_vocab;       /* >= 285 */
    int n_ctx;         /* context_length metadata */
    bool tied_output;  /* no output.weight */
    int n_expert, n_expert_used, n_ff_exp, n_ff_shexp; /* MoE archs */
    uint64_t seed;
    /* deepseek2 only (defaults: V2-Lite flavour): */
    int q_lora_rank;     /* 0: attn_q; > 0: q-LoRA (V3/R1) */
    int kv_lora_rank, qk_rope_dim, qk_nope_dim, v_head_dim;
    int n_expert_shared; /* shared experts of n_ff_exp each */
    int n_dense_lead;    /* leading dense blocks */
    int gating_func;     /* 1 softmax, 2 sigmoid with exp_probs_b */
    float expert_weights_scale;
    bool expert_weights_norm;
    int n_expert_group, n_expert_group_used; /* 0: no group routing */
    float yarn_factor;   /* 0: no rope scaling */
    int yarn_orig_ctx;
    int n_swa;           /* gpt-oss only: sliding window (0: the default, 128) */
    int n_nextn;         /* glm4moe only: NextN/MTP blocks after the main ones (default 1) */
    bool nextn_agree;    /* glm4moe only: NextN blocks made to agree with the main model (synth.h) */
    int idx_n_head, idx_head_dim, idx_top_k; /* deepseek32 only: lightning indexer (0: defaults) */
};
void infer_synth_params_default(struct infer_synth_params *p, const char *arch);
int infer_synth_write(const char *path, const struct infer_synth_params *p, struct kb_error *err);
/* Type id for a name like "Q4_K" or "f16" (case-insensitive), or -1. */
int infer_type_from_name(const char *name);

#endif
