/* infer/embed.h: text embeddings from a GGUF encoder (bert: BGE, MiniLM, E5), as one shareable
 * object for the rest of kbox. To be folded into infer/infer.h; until then this is its own header.
 *
 * An embedder is an opened encoder model (infer_model_open) plus one session whose scratch is
 * allocated once for the model's whole context, a tokenizer prefix/suffix description (which
 * special tokens add_special puts at each end, e.g. [CLS] ... [SEP]) and a stable identity string.
 *
 * Data flow: text -> WordPiece ids with the model's specials -> truncated to the context, keeping
 * the trailing specials -> encoder forward -> pooled as bert.pooling_type says (mean or CLS) ->
 * optionally L2-normalised.
 *
 * Threads: every call may come from any thread; an internal mutex serialises the forward passes
 * (the session's own worker pool parallelises each one), so several ingestion threads can share
 * one embedder. infer_embedder_close() must not race with other calls.
 * Tests: tests/infer/test_bert.c. */
#ifndef KB_INFER_EMBED_H
#define KB_INFER_EMBED_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct infer_embedder; /* opaque; thread-safe (internal mutex) */

/* Opens the GGUF at path, which must be an encoder (general.architecture "bert"); n_threads <= 0
 * means one per core. *out is NULL on failure: KB_ENOENT, KB_EFORMAT (not an embedding model or
 * an unsupported file), KB_ECORRUPT. Caller owns; close with infer_embedder_close(). */
int infer_embedder_open(struct infer_embedder **out, const char *path, int n_threads,
                        struct kb_error *err);
void infer_embedder_close(struct infer_embedder *e); /* NULL ok */

int infer_embedder_dim(const struct infer_embedder *e);        /* floats per embedding */
int infer_embedder_max_tokens(const struct infer_embedder *e); /* longest sequence, specials included */
/* "gguf:<file name>:<file bytes>:<16 hex digits of SHA-256 over the file's first and last MiB>":
 * changes when the model file does. Borrowed; valid until infer_embedder_close(). */
const char *infer_embedder_id(const struct infer_embedder *e);

/* Tokenizes text (NUL-terminated UTF-8) with the model's specials, truncated to max_tokens (the
 * trailing specials are kept). Writes the ids to out and their count to *n_out; KB_ETOOBIG (out
 * untouched, *n_out = the count needed) when max_out is smaller. max_out >= max_tokens always fits. */
int infer_embedder_tokenize(const struct infer_embedder *e, const char *text, int32_t *out,
                            int max_out, int *n_out, struct kb_error *err);

/* Embeds one sequence ids[0..n) exactly as given (no specials added, no truncation): out gets dim
 * floats, pooled, unit length when normalize. KB_EINVAL for n <= 0 or an id outside the
 * vocabulary, KB_ETOOBIG for n > max_tokens. */
int infer_embed_tokens(struct infer_embedder *e, const int32_t *ids, int n, float *out,
                       bool normalize, struct kb_error *err);

/* Embeds n_texts texts (each tokenized as infer_embedder_tokenize does): out gets n_texts x dim
 * floats, row i for texts[i]. An empty text embeds its specials alone. On error out's rows are
 * unspecified and the message names the text's index. */
int infer_embed_texts(struct infer_embedder *e, const char *const *texts, int n_texts, float *out,
                      bool normalize, struct kb_error *err);

#endif
