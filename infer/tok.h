/* infer/tok.h (internal to infer/): the tokenizers kbox builds from GGUF metadata.
 *
 * A struct tok_vocab is built once from the tokenizer.ggml.* keys (tok_gguf.c) or from a plain
 * tok_spec in tests (tok_vocab.c, with the special tokens and per-type defaults of tok_special.c)
 * and is immutable afterwards, so any number of threads may encode and decode with it at once.
 * Three algorithms, chosen by tokenizer.ggml.model, each matching llama.cpp id for id:
 *   - "llama": SentencePiece-style BPE over UTF-8 characters ranked by token scores, spaces escaped
 *     as U+2581 with a leading one added, byte fallback through <0xXX> tokens (tok_spm.c);
 *   - "gpt2":  byte-level BPE ranked by tokenizer.ggml.merges, after a pre-tokenizer chosen by
 *     tokenizer.ggml.pre splits the text into words (tok_bpe.c, tok_pre.c);
 *   - "bert":  WordPiece, greedy longest match, word-initial pieces carrying U+2581 (tok_wpm.c).
 * Special and added tokens (CONTROL / USER_DEFINED types) are cut out of the text first: added
 * (USER_DEFINED) tokens always, control tokens only with TOK_PARSE_SPECIAL (tok.c).
 *
 * Decoding: tok_piece() gives the bytes of one token; a piece may end inside a UTF-8 sequence
 * (byte tokens), so streaming output goes through struct tok_stream, which holds back an
 * incomplete sequence until the next piece completes it. Tests: tests/infer/test_tok.c. */
#ifndef KB_INFER_TOK_H
#define KB_INFER_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct gguf_file;
struct tok_vocab; /* opaque; immutable after construction */

enum tok_kind { TOK_KIND_SPM = 1, TOK_KIND_BPE = 2, TOK_KIND_WPM = 3 };

/* Token attributes, bit flags (tokenizer.ggml.token_type 1..6 map to NORMAL, UNKNOWN, CONTROL,
 * USER_DEFINED, UNUSED, BYTE). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7, /* eat whitespace left of the token when it is cut out of text */
    TOK_ATTR_RSTRIP = 1 << 8, /* eat whitespace right of it */
};

/* tok_encode() flags */
#define TOK_ADD_SPECIAL 1u   /* add BOS/EOS/CLS/SEP as the vocabulary says (add_bos_token...) */
#define TOK_PARSE_SPECIAL 2u /* turn control-token texts like "<|im_start|>" into their ids */
/* tok_decode() / tok_stream flags */
#define TOK_REMOVE_SPECIAL 4u /* drop a leading BOS / trailing EOS the vocabulary adds */
#define TOK_RENDER_SPECIAL 8u /* render control tokens as their text (else they decode to "") */
#define TOK_STRIP_LEADING 16u /* tok_stream: drop the leading space of the first piece (SPM) */

#define TOK_NULL (-1)

/* Special ids a spec may set; TOK_SPEC_DEFAULT leaves the vocabulary type's default. */
enum tok_special { TOK_BOS, TOK_EOS, TOK_EOT, TOK_EOM, TOK_UNK, TOK_SEP, TOK_PAD, TOK_MASK, TOK_N_SPECIAL };
#define TOK_SPEC_DEFAULT INT32_MIN

/* A vocabulary as plain arrays (what the GGUF keys hold). All pointers are borrowed for the call. */
struct tok_spec {
    const char *model; /* "llama", "gpt2" or "bert" */
    const char *pre;   /* tokenizer.ggml.pre; NULL or "" = "default" */
    const char *name;  /* general.name, only for llama.cpp's per-model quirks; may be NULL */
    int32_t n_tokens;
    const char *const *texts;  /* n_tokens token texts */
    const uint32_t *text_lens; /* their byte lengths; NULL: NUL-terminated */
    const float *scores;       /* NULL: all 0 */
    const int32_t *types;      /* GGUF token types; NULL: all normal */
    int32_t n_merges;
    const char *const *merges;                       /* "left right", rank = index */
    const uint32_t *merge_lens;                      /* NULL: NUL-terminated */
    int32_t ids[TOK_N_SPECIAL];                      /* TOK_SPEC_DEFAULT or an id (TOK_NULL: none) */
    int add_bos, add_eos, add_sep, add_space_prefix; /* -1: default of the type, else 0/1 */
    int lowercase, strip_accents;                    /* WordPiece normalizer; -1: default (on) */
};
void tok_spec_init(struct tok_spec *s); /* zero + every option at its default */

/* Builds from the tokenizer.ggml.* keys of f (copies everything; f may be closed afterwards).
 * KB_ENOENT when the file has no tokenizer, KB_EFORMAT for an unsupported tokenizer model,
 * KB_ECORRUPT for malformed arrays. Caller owns *out; free with tok_vocab_free(). */
int tok_vocab_new(struct tok_vocab **out, const struct gguf_file *f, struct kb_error *err);
int tok_vocab_new_spec(struct tok_vocab **out, const struct tok_spec *spec, struct kb_error *err);
void tok_vocab_free(struct tok_vocab *v); /* NULL ok */

/* ---- encoding ---------------------------------------------------------------------------------- */

/* Encodes text[0..n) (any bytes; invalid UTF-8 becomes U+FFFD where the algorithm needs code
 * points). Writes at most max_out ids to out and the total needed to *n_out; KB_ETOOBIG when
 * max_out was too small (out then holds a prefix), or for text over 1 GiB. Empty text gives only what
 * TOK_ADD_SPECIAL adds. */
int tok_encode(const struct tok_vocab *v, const char *text, size_t n, unsigned flags, int32_t *out,
               size_t max_out, size_t *n_out, struct kb_error *err);
/* Same, into a new array. Caller owns *ids; free(). */
int tok_encode_alloc(const struct tok_vocab *v, const char *text, size_t n, unsigned flags, int32_t **ids,
                     size_t *n_ids, struct kb_error *err);

/* ---- decoding ---------------------------------------------------------------------------------- */

/* The bytes of token id: byte-level BPE undone, U+2581 turned back into spaces, byte tokens as their
 * byte. Control/unknown tokens give "" unless special. Borrowed; valid until tok_vocab_free().
 * An out-of-range id gives "". */
size_t tok_piece(const struct tok_vocab *v, int32_t id, bool special, const char **s);
/* Appends the text of ids[0..n) to out as llama.cpp's llama_detokenize() does (flags
 * TOK_REMOVE_SPECIAL, TOK_RENDER_SPECIAL): the SentencePiece leading space is dropped unless a
 * removed BOS came first; BPE/WordPiece vocabularies that ask for it get clean_up_tokenization
 * spaces. 0, KB_ETOOBIG or KB_ENOMEM (from out's cap). */
int tok_decode(const struct tok_vocab *v, const int32_t *ids, size_t n, unsigned flags, struct kb_buf *out);

/* Streaming decoder: feed ids one at a time, get text that never ends inside a UTF-8 sequence.
 * Concatenating every feed and the final flush gives the plain concatenation of the pieces. */
struct tok_stream {
    const struct tok_vocab *v; /* borrowed */
    unsigned flags;            /* TOK_RENDER_SPECIAL, TOK_STRIP_LEADING */
    bool started;              /* a piece has been emitted (for TOK_STRIP_LEADING) */
    uint8_t pend[4];           /* bytes of an incomplete UTF-8 sequence held back */
    int n_pend;
};
void tok_stream_init(struct tok_stream *st, const struct tok_vocab *v, unsigned flags);
/* Bytes an out buffer of tok_stream_feed/flush must hold: the longest piece + held-back bytes. */
size_t tok_stream_max_bytes(const struct tok_vocab *v);
/* Decodes id and writes the complete part to out (out_bytes >= tok_stream_max_bytes()). Returns the
 * bytes written (0 when everything was held back). No allocation. */
size_t tok_stream_feed(struct tok_stream *st, int32_t id, char *out, size_t out_bytes);
/* Writes whatever is still held back (an incomplete sequence at the end of generation). */
size_t tok_stream_flush(struct tok_stream *st, char *out, size_t out_bytes);

/* ---- vocabulary facts ---------------------------------------------------------------------------- */

int32_t tok_n_tokens(const struct tok_vocab *v);
enum tok_kind tok_kind(const struct tok_vocab *v);
const char *tok_model_name(const struct tok_vocab *v); /* "llama", "gpt2", "bert"; static */
const char *tok_pre_name(const struct tok_vocab *v);   /* the pre-tokenizer in use, e.g. "llama-bpe" */
int32_t tok_special(const struct tok_vocab *v, enum tok_special which); /* id or TOK_NULL */
int32_t tok_bos(const struct tok_vocab *v);
int32_t tok_eos(const struct tok_vocab *v);
int32_t tok_eot(const struct tok_vocab *v); /* <|eot_id|>, <|im_end|>, ... or TOK_NULL */
int32_t tok_nl(const struct tok_vocab *v);  /* the newline token, or TOK_NULL */
bool tok_add_bos(const struct tok_vocab *v);
bool tok_add_eos(const struct tok_vocab *v);
/* End of generation: EOS, EOT, EOM and the end-of-turn tokens llama.cpp recognises by text. */
bool tok_is_eog(const struct tok_vocab *v, int32_t id);
unsigned tok_attr(const struct tok_vocab *v, int32_t id); /* TOK_ATTR_*; 0 for an out-of-range id */
float tok_score(const struct tok_vocab *v, int32_t id);
/* The raw vocabulary text of id (NUL-terminated; *n its length). Borrowed; "" when out of range. */
const char *tok_text(const struct tok_vocab *v, int32_t id, size_t *n);
int32_t tok_find(const struct tok_vocab *v, const char *s, size_t n); /* exact text -> id or TOK_NULL */
int tok_max_token_bytes(const struct tok_vocab *v);

#endif
