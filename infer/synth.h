/* infer/synth.h (internal to infer/): writes GGUF v3 model files with seeded random weights, for
 * tests and benchmarks ("kbox model synth").
 *
 * A synthetic model has the tensor names, shapes and metadata keys llama.cpp requires for its
 * architecture (so the reference implementation loads it too), a tiny byte-level GPT-2 vocabulary
 * (256 byte tokens in GPT-2's bytes_to_unicode order, a few merges, then control tokens, padded
 * with reserved control tokens up to n_vocab) and a chat template of the architecture's family.
 * Weights are N(0, 1/fan_in) (roughly: a sum of uniforms), norms 1 + N(0, 0.01), biases
 * N(0, 0.25^2) for the qwen q/k/v biases. Each tensor's values depend only on (seed, tensor name),
 * so the same parameters always give the same bytes. 2-D+ weight matrices use `type`; a tensor
 * whose row length is not a multiple of the type's block falls back as llama-quantize does
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16); norms, biases and routers stay F32.
 * With mix_q4_k_m the matrices get the types llama-quantize's Q4_K_M gives them (read from
 * src/llama-quant.cpp at llama.cpp d32676d77): output.weight (or a tied token_embd) Q6_K, attn_v
 * and every ffn_down* Q6_K in the "more bits" layers (the first and last eighth and every third
 * between), with 8 experts attn_v/attn_k Q8_0 and attn_output Q5_K, the rest Q4_K; then the same
 * fallbacks, so a deepseek2 file mixes Q4_K, Q6_K, Q5_0 and Q8_0 as a real Q4_K_M does.
 * type MXFP4 follows llama-quantize's MXFP4_MOE (file type 38): every 3-D matrix (the experts
 * ffn_*_exps, and deepseek2's per-head attn_k_b/attn_v_b) MXFP4, every other matrix (embeddings
 * and output included) Q8_0. A dense architecture would then get no MXFP4 at all, so there (kbox's
 * choice, not llama-quantize's) the FFN matrices ffn_gate/ffn_up/ffn_down are MXFP4 as well.
 * Data is generated and written tensor by tensor (constant memory, so multi-GB files are fine).
 *
 * Supported architectures: llama, qwen2, qwen3, and the MoE ones qwen2moe, qwen3moe, mixtral
 * (llama with experts) and deepseek2 (MLA attention in llama.cpp's current layout: attn_kv_a_mqa,
 * 3-D attn_k_b/attn_v_b; optional q-LoRA; leading dense blocks; shared experts; YaRN keys), and
 * gpt-oss (llama.cpp's openai-moe: q/k/v/o biases, per-head attention sinks, post_attention_norm,
 * biased router and experts, sliding window, YaRN; harmony control tokens and template), and
 * qwen3next (Gated DeltaNet blocks in llama.cpp's attn_qkv/attn_gate layout with F32 conv
 * kernels and negative ssm_a, gated full-attention blocks with partial rotary, routed experts plus
 * a sigmoid-gated shared expert; the DeltaNet widths are derived from the attention shape, see
 * qn_dims_of in synth.c), and qwen35moe (the same with separate ssm_beta/ssm_alpha projections and
 * rope.dimension_sections), and
 * glm4moe (GLM-4.5: q/k/v biases, partial NEOX rope over half of each head, post_attention_norm,
 * leading dense blocks, sigmoid routing with exp_probs_b, normalised weights, shared experts, and
 * n_nextn NextN/MTP blocks blk.N.nextn.{eh_proj,enorm,hnorm,shared_head_norm} after the main ones;
 * qwen-style control tokens and a ChatML template, not GLM's own chat format), and deepseek32 (deepseek2 V3-style with q-LoRA plus the lightning
 * indexer's blk.N.indexer.{attn_q_b,attn_k,k_norm(.bias),proj} and attention.indexer.* keys).
 * Tests: tests/infer/test_synth.c. */
#ifndef KB_INFER_SYNTH_H
#define KB_INFER_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct synth_params {
    const char *arch;   /* "llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "mixtral", "deepseek2", "gpt-oss", "qwen3next", "qwen35moe", "deepseek32"; borrowed */
    int type;           /* enum ggml_type of the weight matrices */
    bool mix_q4_k_m;    /* true (type must be Q4_K): llama-quantize's Q4_K_M mix, see synth_weight_type */
    int n_layer;        /* transformer blocks */
    int n_embd;         /* model width */
    int n_head;         /* query heads */
    int n_head_kv;      /* key/value heads (GQA when < n_head) */
    int head_dim;       /* per-head size; 0 = n_embd / n_head */
    int n_ff;           /* dense FFN width */
    int n_vocab;        /* >= the built-in vocabulary (about 280 tokens); padded with reserved tokens */
    int n_ctx;          /* context_length metadata */
    float rope_base;    /* rope.freq_base */
    float norm_eps;     /* attention.layer_norm_rms_epsilon */
    bool tied_output;   /* true: no output.weight (the token embedding is reused) */
    int n_expert;       /* MoE archs: experts per layer */
    int n_expert_used;  /* MoE archs: experts per token */
    int n_ff_exp;       /* MoE archs: expert FFN width */
    int n_ff_shexp;     /* qwen2moe: shared-expert FFN width */
    uint64_t seed;      /* weight seed */
    /* deepseek2 (MLA + MoE) only; V2-Lite flavour by default, V3/R1 with q_lora_rank > 0,
     * gating_func 2 (sigmoid + exp_probs_b) and expert groups */
    int q_lora_rank;    /* 0: no q-LoRA (attn_q), else attn_q_a/attn_q_a_norm/attn_q_b */
    int kv_lora_rank;   /* compressed KV width */
    int qk_rope_dim;    /* rope part of each q/k head */
    int qk_nope_dim;    /* non-rope part of each q/k head */
    int v_head_dim;     /* value head size */
    int n_expert_shared;/* shared experts (width n_ff_exp each) */
    int n_dense_lead;   /* leading dense blocks (ffn_gate/up/down of n_ff) */
    int gating_func;    /* 1 softmax, 2 sigmoid (writes exp_probs_b) */
    float expert_weights_scale; /* routed-expert output scale */
    bool expert_weights_norm;   /* renormalise the top-k weights */
    int n_expert_group, n_expert_group_used; /* 0: no group routing */
    float yarn_factor;  /* 0: no rope scaling keys; else YaRN with this factor */
    int yarn_orig_ctx;  /* rope.scaling.original_context_length */
    int n_swa;          /* gpt-oss: attention.sliding_window (default 128; also uses the yarn keys) */
    /* glm4moe, deepseek2: NextN/MTP blocks appended after the n_layer main blocks (block_count =
     * n_layer + n_nextn, <arch>.nextn_predict_layers = n_nextn); default 1 for glm4moe, 0 else */
    int n_nextn;
    /* glm4moe, deepseek2: a NextN block "made to agree" (a synthetic check for MTP drafting): NextN block k
     * copies main block k's weights, shared_head_norm copies output_norm, enorm/hnorm are ones
     * and eh_proj = [std(token_embd) I | 0], so the block reruns main block k on the next token's
     * embedding. With one main block this predicts what the main model will (nearly). */
    bool nextn_agree;
    /* deepseek32 (deepseek2 with q-LoRA + DeepSeek Sparse Attention): indexer heads, key length
     * (a power of two >= 64: llama.cpp rotates it by a Walsh-Hadamard matrix of that size; and
     * twice qk_rope_dim, as in V3.2's 128 = 64 + 64: llama.cpp d32676d77 reads the non-rotary
     * half at an offset of its own length, right only for equal halves), top-k */
    int idx_n_head, idx_head_dim, idx_top_k;
};

/* Defaults for arch (small: 2 layers, n_embd 256, 4 q-heads / 2 kv-heads, n_ff 512, vocab 320,
 * F32, qwen ties nothing; rope base 10000 for llama/mixtral, 1e6 for qwen; MoE 8 experts top-2;
 * deepseek2: kv_lora 256, rope 32, nope 64, v 64, 1 shared expert, 1 leading dense block, softmax
 * gating, YaRN factor 40 over 4096). */
void synth_params_default(struct synth_params *p, const char *arch);

/* Checks p (arch known, dims positive and consistent, type supported). 0 or KB_EINVAL/KB_ENOTIMPL. */
int synth_check(const struct synth_params *p, struct kb_error *err);

/* Writes the model to path (replacing it). 0, KB_EINVAL, KB_ENOTIMPL or KB_EIO. */
int synth_write(const char *path, const struct synth_params *p, struct kb_error *err);

/* Token ids of the built-in vocabulary (the same layout for every arch):
 *   0..255    the 256 bytes, as GPT-2 byte-level strings ("Ġ" for space), type NORMAL;
 *   256..279  SYNTH_N_MERGES merged tokens ("Ġt", "he", "Ġthe", ...), type NORMAL;
 *   280..284  control tokens: llama/mixtral: <|begin_of_text|> (BOS), <|end_of_text|> (EOS),
 *             <|start_header_id|>, <|end_header_id|>, <|eot_id|> (EOT);
 *             qwen*: <|endoftext|> (BOS), <|im_start|>, <|im_end|> (EOS, EOT), <think>, </think>;
 *   285..     <|reserved_N|> control tokens up to n_vocab. */
enum { SYNTH_N_MERGES = 24, SYNTH_TOK_SPECIAL0 = 280, SYNTH_N_VOCAB_MIN = 285 };

#endif
