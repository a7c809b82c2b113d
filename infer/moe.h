/* infer/moe.h (internal to infer/): the mixture-of-experts router, as llama.cpp's build_moe_ffn
 * chooses and weights experts.
 *
 * Per token: probs = softmax(logits) or sigmoid(logits); the selection score is probs plus the
 * optional per-expert bias (exp_probs_b: it changes WHICH experts win, never their weights);
 * with expert groups (DeepSeek-V3) each group scores the sum of its two best selection scores and
 * only the n_group_used best groups stay eligible; the n_used best eligible experts are chosen
 * (descending score, ties to the lower id); their weights are probs (not the biased scores),
 * optionally divided by their sum (clamped below at 6.103515625e-5, as ggml does) and multiplied
 * by a scale. gpt-oss (MOE_GATING_SOFTMAX_WEIGHT) chooses by raw logits and softmaxes the chosen
 * ones. moe_route() is the engine's version (float, no allocation); moe_route_ref() its
 * reference twin (double, the plainest loops), for tests. Tests: tests/infer/test_moe.c. */
#ifndef KB_INFER_MOE_H
#define KB_INFER_MOE_H

#include <stdbool.h>
#include <stdint.h>

/* SOFTMAX_WEIGHT (gpt-oss): experts are chosen by their raw logits and the softmax runs over the
 * n_used chosen logits only (llama.cpp's expert_gating_func 3). */
enum moe_gating { MOE_GATING_SOFTMAX = 1, MOE_GATING_SIGMOID = 2, MOE_GATING_SOFTMAX_WEIGHT = 3 };

struct moe_router {
    int n_expert;        /* experts in the layer */
    int n_used;          /* experts chosen per token (<= n_expert, <= MOE_MAX_USED) */
    enum moe_gating gating;
    const float *bias;   /* (n_expert) selection bias or NULL; borrowed */
    int n_group;         /* expert groups (0 or 1: none); n_expert % n_group == 0 */
    int n_group_used;    /* groups kept per token */
    bool norm;           /* divide the chosen weights by their sum */
    float scale;         /* multiply the weights by this; 0 or 1: no scaling */
};

#define MOE_MAX_EXPERTS 1024
#define MOE_MAX_USED 64

/* logits: (n_expert) router outputs for one token. Writes n_used expert ids (best first) and their
 * weights. scratch: 2 * n_expert floats. */
void moe_route(const struct moe_router *r, const float *logits, int32_t *ids, float *w, float *scratch);
/* Reference twin in double precision (allocates; tests only). */
void moe_route_ref(const struct moe_router *r, const float *logits, int32_t *ids, float *w);

#endif
