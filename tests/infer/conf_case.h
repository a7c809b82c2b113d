/* tests/infer/conf_case.h: what the conformance tests of the newer families (qwen3next, glm4moe,
 * deepseek32) share: the prompt ids their llama.cpp logits were recorded for, reading those
 * logits and the committed GGUF from tests/infer/golden/, sessions with the F32 KV cache, evaluating
 * the ids in steps, the comparison with its tolerance (relative to max |logit|, argmax flips), and
 * the CLI cases (synth, info --json, run, a bad synth refused) through tests/support/run.c. */
#ifndef KBOX_TESTS_CONF_CASE_H
#define KBOX_TESTS_CONF_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/infer.h"

#define CONF_VOCAB 320 /* the synthetic files' vocabulary */
#define CONF_MAX 80    /* the longest recorded prompt */

extern const int32_t conf_ids[CONF_MAX];

/* Reads n rows of golden/NAME.SUFFIX (float32 logits) into ref. */
void conf_read_ref(const char *name, const char *suffix, int n, float *ref);
/* Opens golden/NAME.gguf and checks that its architecture is arch. */
struct infer_model *conf_open(const char *name, const char *arch);
/* A session of n_ctx positions and n_batch, F32 or F16 KV cache, NextN blocks off when no_mtp. */
struct infer_session *conf_session(struct infer_model *m, int n_ctx, int n_batch, bool kv_f32, bool no_mtp);
/* Evaluates conf_ids[from..to) step at a time, every position's logits into out (row t at t). */
void conf_eval_steps(struct infer_session *s, float *out, int from, int to, int step);
/* The index of x's largest logit (of CONF_VOCAB). */
int conf_argmax(const float *x);
/* Rows t0..n-1 of got against ref: max |got - ref| / max |ref|, argmax flips into *flips. */
double conf_rel_diff(const float *got, const float *ref, int t0, int n, int *flips);
/* Prints the comparison under tag and fails the test beyond tol or max_flips. */
void conf_compare(const char *tag, const char *name, const char *how, const float *got, const float *ref, int t0,
                  int n, double tol, int max_flips);
/* The CLI on /tmp/kbox-test-TAG-PID.gguf (removed after): `kbox model synth --arch ARCH --type Q8_0`
 * succeeds; `model info FILE --json` succeeds and its stdout holds each of info_has (NULL-terminated);
 * `model run FILE -p hello --chat -n 6 --temp 0` succeeds with "generated 6 tokens" on stderr; and
 * `model synth --arch ARCH BAD_FLAG BAD_VALUE --out FILE` fails with bad_err on stderr. */
void conf_cli(const char *arch, const char *tag, const char *const info_has[], const char *bad_flag,
              const char *bad_value, const char *bad_err);

#endif
