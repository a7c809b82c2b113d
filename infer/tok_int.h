/* infer/tok_int.h: what the tok*.c files share: the vocabulary layout (built by tok_vocab.c,
 * tok_special.c and tok_gguf.c), the Unicode tables, the pre-tokenizer programs, the merge loop and
 * a growable id list. Not for use outside the tokenizer files.
 *
 * Layout: every token text lives NUL-terminated in one blob; tok_entry points into it. Lookup text ->
 * id is base's open-addressing id table (struct kb_idtab) over the texts. BPE merges live in a second
 * blob as "left right" strings with an id table keyed on the (left, right) pair, so a rank lookup
 * needs no allocation. Pieces (decoded token bytes, special tokens rendered) are precomputed into a
 * third blob. */
#ifndef KB_INFER_TOK_INT_H
#define KB_INFER_TOK_INT_H

#include "infer/tok.h"

/* ---- Unicode (tok_unicode.c) ----------------------------------------------------------------------- */

/* Coarse general categories, as llama.cpp's codepoint flags. */
enum tok_ucat {
    UCAT_UNDEF = 0,
    UCAT_L = 1,
    UCAT_N = 2,
    UCAT_P = 3,
    UCAT_S = 4,
    UCAT_M = 5,
    UCAT_Z = 6,
    UCAT_C = 7
};
enum tok_ucat tok_ucat(uint32_t cp);
bool tok_is_ws(uint32_t cp);         /* llama.cpp's whitespace set (the Unicode White_Space list) */
uint32_t tok_tolower(uint32_t cp);   /* simple lowercase mapping, cp when none */
uint32_t tok_nfd_first(uint32_t cp); /* first code point of the NFD decomposition */
/* UTF-8 the way llama.cpp reads and writes it: base's kb_utf8_decode_lenient / kb_utf8_encode_lenient. */
/* GPT-2 bytes_to_unicode: byte -> code point (0..323) and back (-1 when cp is not a byte char). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

/* ---- pre-tokenizers (tok_pre.c) ------------------------------------------------------------------- */

enum tok_pre {
    PRE_DEFAULT,
    PRE_GPT2,
    PRE_LLAMA3,
    PRE_QWEN2,
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK_CODER,
    PRE_DEEPSEEK3,
    PRE_FALCON,
    PRE_STARCODER,
    PRE_GPT4O,
    PRE_COUNT
};
/* Splits cps[0..n) into words: writes word lengths (in code points) to lens and returns their count
 * (<= n). scratch must hold 2*n bytes + n uint32. */
size_t tok_pre_split(enum tok_pre pre, const uint32_t *cps, size_t n, uint32_t *lens, uint8_t *cat_scratch,
                     uint32_t *unit_scratch, uint32_t *tmp_lens);

/* ---- ids ----------------------------------------------------------------------------------------- */

struct tok_ids {
    int32_t *v;
    size_t n, cap;
    bool oom; /* an append failed; the list is truncated */
};
void tok_ids_push(struct tok_ids *a, int32_t id);

/* ---- the vocabulary (tok_vocab.c) ---------------------------------------------------------------- */

struct tok_entry {
    uint32_t off;  /* text in blob */
    uint32_t len;  /* text bytes */
    float score;   /* SentencePiece log-probability */
    uint32_t attr; /* TOK_ATTR_* */
};

struct tok_vocab {
    enum tok_kind kind;
    enum tok_pre pre;
    char pre_name[32];
    int32_t n_tokens;
    char *blob;            /* owned: token texts, NUL-terminated */
    struct tok_entry *tok; /* owned: n_tokens */
    struct kb_idtab text_ids; /* owned: token text -> id (FNV-1a of the text) */
    int max_token_len; /* bytes */

    int32_t n_merges;
    char *merge_blob;      /* owned: "left right\0" per merge */
    uint32_t *merge_off;   /* owned: n_merges offsets into merge_blob */
    uint32_t *merge_split; /* owned: byte length of the left part */
    uint32_t *merge_len;   /* owned: total length */
    struct kb_idtab merge_ids; /* owned: (left, right) -> rank (FNV-1a of "left right") */

    int32_t special[TOK_N_SPECIAL];
    int32_t nl;
    bool add_bos, add_eos, add_sep, add_space_prefix;
    bool ignore_merges; /* llama3: a word that is a whole token skips the merges */
    bool clean_spaces;  /* clean_up_tokenization_spaces on decode */
    bool lowercase, strip_accents;
    uint8_t *eog;      /* owned: n_tokens flags */
    int32_t *specials; /* owned: CONTROL|USER_DEFINED|UNKNOWN ids, longest text first */
    int32_t n_specials;

    char *pieces;        /* owned: decoded bytes of every token (special rendered) */
    uint32_t *piece_off; /* owned: n_tokens + 1 */
    size_t max_piece_len;
};

#define TOK_MAX_TOKENS (1 << 24) /* a sane bound on vocabulary size */

int32_t tok_lookup(const struct tok_vocab *v, const char *s, size_t n); /* TOK_NULL when absent */
int32_t tok_merge_rank(const struct tok_vocab *v, const char *l, size_t nl, const char *r, size_t nr);
/* Index of the token for byte b in a byte-fallback vocabulary (<0xXX>, else the 1-byte text). */
int32_t tok_byte_token(const struct tok_vocab *v, uint8_t b);

/* ---- special tokens and per-type defaults (tok_special.c) ------------------------------------------ */

/* Default special ids, switches and (BPE) pre-tokenizer for v->kind and s->pre, before the spec's
 * own values are applied. */
void tok_set_defaults(struct tok_vocab *v, const struct tok_spec *s);
/* Once texts, the text table and the spec's ids are in: tokens recognised by text, the special-id
 * cache (v->specials, longest text first) and model quirks. 0 or KB_ENOMEM (detail in err). */
int tok_find_specials(struct tok_vocab *v, const struct tok_spec *s, struct kb_error *err);

/* ---- tok_merge.c: the merge loop of both BPE flavours ---- */
struct tok_sym {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t off, n;    /* bytes of text; n == 0 once merged away */
};
struct tok_pair {
    double key; /* higher merges first; ties: lower left */
    int32_t left, right;
    uint32_t size; /* bytes of the pair when it was offered (stale when the sides differ) */
};
/* Key of merging the adjacent symbols l and r of text; false when they cannot merge. */
typedef bool (*tok_pair_key_fn)(const struct tok_vocab *v, const char *text, const struct tok_sym *l,
                                const struct tok_sym *r, double *key);
struct tok_merger {
    struct tok_sym *sym;   /* owned: max_syms */
    struct tok_pair *heap; /* owned: 3 x max_syms + 4 */
    size_t n_heap, cap_heap;
};
int tok_merger_init(struct tok_merger *m, size_t max_syms); /* 0 or KB_ENOMEM */
void tok_merger_free(struct tok_merger *m);
/* Splits text (at most max_syms characters) into UTF-8 characters and merges adjacent pairs by key
 * until none is left. Returns the number of initial symbols (0 for empty text); the final symbols
 * are the chain from sym[0] by next. */
size_t tok_merge(struct tok_merger *m, const struct tok_vocab *v, const char *text, size_t n, tok_pair_key_fn key);

/* One raw-text fragment through each algorithm (tok_spm.c, tok_bpe.c, tok_wpm.c). 0 or KB_ENOMEM. */
int tok_spm_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out);
int tok_bpe_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out);
int tok_wpm_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out);

#endif
