/* infer/sampler.h (internal to infer/): picking the next token from logits, and spotting stop
 * strings in the generated text.
 *
 * A sampler owns scratch sized for the vocabulary, allocated once at sampler_new(); sampling does
 * no allocation. The steps follow llama.cpp's default chain: repetition/frequency/presence penalties
 * over the last repeat_last_n accepted tokens, then (unless greedy) top-k, top-p, min-p (on the
 * untempered distribution), temperature, and a draw from the result with the sampler's own PRNG
 * (xoshiro256**, seeded by splitmix64 from seed), so a seed gives the same tokens every time.
 * Greedy (temp <= 0) is the argmax after penalties, ties to the lowest id.
 *
 * A stop matcher holds back generated text that could still be the start of a stop string, so
 * text handed out never contains (part of) a stop string, even when one spans several pieces.
 * Both objects belong to one thread at a time. Tests: tests/infer/test_sampler.c. */
#ifndef KB_INFER_SAMPLER_H
#define KB_INFER_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct sampler_params {
    float temp;              /* <= 0: greedy */
    int top_k;               /* keep the k most likely; <= 0: off */
    float top_p;             /* nucleus: smallest set with this much probability; >= 1: off */
    float min_p;             /* drop tokens below min_p * p(most likely); <= 0: off */
    float repeat_penalty;    /* logits of recent tokens: positive / penalty, negative * penalty; 1: off */
    float presence_penalty;  /* subtracted once from each recent token's logit; 0: off */
    float frequency_penalty; /* subtracted per occurrence of a recent token; 0: off */
    int repeat_last_n;       /* how many accepted tokens the penalties look at; 0: none */
    uint64_t seed;           /* PRNG seed */
};
/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, repeat_last_n 64, seed 0 */
void sampler_params_default(struct sampler_params *p);

struct sampler; /* opaque; one thread at a time */

/* Allocates scratch for n_vocab logits. KB_EINVAL for a bad n_vocab or parameter. Caller owns *out;
 * free with sampler_free(). */
int sampler_new(struct sampler **out, int n_vocab, const struct sampler_params *p, struct kb_error *err);
void sampler_free(struct sampler *s); /* NULL ok */
/* Forgets the history and restarts the PRNG from the seed. */
void sampler_reset(struct sampler *s);
/* Adds a token to the penalty history (prompt tokens and each sampled token). Ids outside the
 * vocabulary are ignored. */
void sampler_accept(struct sampler *s, int32_t token);
/* Picks the next token from logits[0..n_vocab) (not modified). Does not accept it: call
 * sampler_accept() with the result. No allocation. */
int32_t sampler_sample(struct sampler *s, const float *logits);
/* Probability the last sampler_sample() gave its pick after all steps (1 for greedy). */
float sampler_last_prob(const struct sampler *s);

/* ---- stop strings ---------------------------------------------------------------------------------- */

struct stop_matcher; /* opaque */

/* Copies the n_stop stop strings (empty ones are ignored). Pieces fed later must be at most
 * max_piece_bytes long. Caller owns *out; free with stop_matcher_free(). */
int stop_matcher_new(struct stop_matcher **out, const char *const *stop, int n_stop, size_t max_piece_bytes,
                     struct kb_error *err);
void stop_matcher_free(struct stop_matcher *m); /* NULL ok */
void stop_matcher_reset(struct stop_matcher *m);
/* Feeds a piece of generated text. emit and n_emit get the text that is now safe to show (borrowed;
 * valid until the next call). Returns true when a stop string was completed: *emit then holds the
 * text before it, and everything from the stop string on is dropped. No allocation. */
bool stop_matcher_feed(struct stop_matcher *m, const char *piece, size_t n, const char **emit,
                       size_t *n_emit);
/* At the end of generation: the text still held back (a partial stop string that never completed). */
void stop_matcher_flush(struct stop_matcher *m, const char **emit, size_t *n_emit);

#endif
