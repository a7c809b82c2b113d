/* tests/infer/ref_forward.h: a straight-line double-precision reference forward pass of every
 * architecture kbox runs (llama/mixtral, qwen2, qwen3, qwen2moe, qwen3moe, deepseek2 with MLA in
 * its decompressed form, YaRN and group routing), written independently of infer/ from the maths:
 * weights dequantized to double with the scalar reference kernels, every sum in double, no KV
 * cache (full causal attention over the sequence), no batching. The engine must match it on
 * synthetic models of every architecture and type. Used by test_ref_forward.c and
 * test_conformance.c. */
#ifndef KB_TESTS_REF_FORWARD_H
#define KB_TESTS_REF_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/gguf.h"

/* When true, each matmul first rounds its activation row to the weight type's vec_dot_type, as
 * llama.cpp (and kbox) do; the remaining difference is summation order. Default false. */
extern bool ref_emulate_act;

/* Computes logits (n x n_vocab, row t after tokens[0..t]) for tokens[0..n) of the model in f.
 * Returns 0, or -1 with a message in msg for what it does not handle. *n_vocab_out gets the vocab
 * size; logits is allocated (caller frees). */
int ref_forward(const struct gguf_file *f, const int32_t *tokens, int n, double **logits,
                int *n_vocab_out, char *msg, size_t msg_bytes);

#endif
